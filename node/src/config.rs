//! Node configuration: command-line flags and the embedded default (no config file needed).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// The embedded default listen address.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:8080";
/// The embedded default data folder (relative to the working directory).
pub const DATA_DIR_DEFAULT: &str = "aisle-data";
/// Mountpath folders created under the default data folder.
pub const DEFAULT_MOUNTPATHS: usize = 4;

/// aisle-node: a thread-per-core io_uring object store serving AIS's native HTTP API.
#[derive(Parser, Debug, Clone)]
#[command(name = "aisle-node", version, about)]
pub struct Flags {
    /// Address to listen on.
    #[arg(long, default_value = LISTEN_DEFAULT)]
    pub listen: SocketAddr,
    /// A mountpath (one per disk); repeat the flag. Default: ./aisle-data/mp1..mp4, created on
    /// first start.
    #[arg(long = "mountpath")]
    pub mountpaths: Vec<PathBuf>,
    /// Number of cores (reactor threads). Default: the CPUs this process may use.
    #[arg(long)]
    pub cores: Option<usize>,
    /// Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`, `node=debug`.
    #[arg(long)]
    pub log_level: Option<String>,
    /// Do not pin core threads to CPUs.
    #[arg(long)]
    pub no_pin: bool,
    /// Seconds a connection may wait for a request head (idle keep-alive, or a head arriving too
    /// slowly) before it is closed.
    #[arg(long, default_value_t = 75)]
    pub idle_timeout_secs: u64,
    /// Seconds a receive of request-body bytes may wait (a client that stops sending in the
    /// middle of a body): then the connection is closed and nothing of that request is stored.
    #[arg(long, default_value_t = 60)]
    pub body_timeout_secs: u64,
    /// Seconds to wait for in-flight requests at shutdown.
    #[arg(long, default_value_t = 10)]
    pub shutdown_timeout_secs: u64,
    /// How GET bodies are sent: `auto` (small ones copied behind the head; larger ones with
    /// sendfile when all in the page cache, else spliced on the ring so a disk read never stalls
    /// the core), or always `copy` (pread into the response buffer, one send), `sendfile`, or
    /// `splice`. For measurements; keep `auto` in production.
    #[arg(long, value_enum, default_value_t = BodyPolicy::Auto)]
    pub get_body: BodyPolicy,
    /// How PUT data reaches the file: `ring` (io_uring write, the default) or `direct` (pwrite
    /// on the core thread as each piece arrives). Measured equal in throughput on ext4
    /// (bench/RESULTS.md), and `direct` can stall the core in dirty-page throttling.
    #[arg(long, value_enum, default_value_t = PutWrite::Ring)]
    pub put_write: PutWrite,
    /// How a PUT replaces an existing object: `exchange` (the default: renameat2
    /// RENAME_EXCHANGE of the work file and the object, then unlink of the old one) or `rename`
    /// (rename over it; on ext4 that starts writeback of the new data inside the rename,
    /// bench/RESULTS.md "Overwrite PUTs"). For measurements; keep `exchange`.
    #[arg(long, value_enum, default_value_t = Overwrite::Exchange)]
    pub overwrite: Overwrite,
    /// How connections receive: `single` (one receive SQE per read, into the connection's own
    /// buffer; the default, measured faster here) or `multishot` (one multishot receive per
    /// connection into the core's ring of provided buffers, kept across requests). See
    /// bench/RESULTS.md "multishot receive".
    #[arg(long, value_enum, default_value_t = RecvMode::Single)]
    pub recv: RecvMode,
    /// TCP congestion control of the node's connections (`TCP_CONGESTION` on each core's
    /// listening socket, which accepted connections inherit), e.g. `cubic`; by default the
    /// host's (`net.ipv4.tcp_congestion_control`). One of the host's
    /// `tcp_available_congestion_control`. With `bbr` TCP paces every segment with a timer,
    /// which halves large GETs over loopback (bench/RESULTS.md, "GET 1 MiB hot").
    #[arg(long, value_name = "NAME")]
    pub tcp_congestion: Option<String>,
    /// Serve the S3 API at `/` as well as at `/s3` (every path that is not the AIS API's:
    /// `/v1/...`, `/ais/...`, `/metrics`). Like AIS's feature `S3-API-via-Root`.
    #[arg(long)]
    pub s3_at_root: bool,
    /// An S3 access key and its secret, `ID:SECRET`; repeat the flag for more. With any key
    /// configured (here, in `--s3-credentials` or in `AISLE_S3_CREDENTIALS`), every S3 request
    /// must carry a valid SigV4 signature (header or presigned URL); with none, every request
    /// is accepted, as AIS does without AuthN.
    #[arg(long = "s3-access-key", value_name = "ID:SECRET")]
    pub s3_access_keys: Vec<String>,
    /// A file of S3 access keys, one `ID:SECRET` a line (blank lines and `#` comments
    /// ignored).
    #[arg(long, value_name = "FILE")]
    pub s3_credentials: Option<PathBuf>,
    /// PUTs whose Content-Length is at least this many bytes bypass the page cache: the body is
    /// received into aligned buffers and written with O_DIRECT (the last partial 4 KiB block
    /// buffered). A size such as `262144`, `256K`, `1M`; `off` disables. Chunked bodies and
    /// mountpaths whose filesystem refuses O_DIRECT stay buffered.
    #[arg(long, default_value = PUT_DIRECT_MIN_DEFAULT, value_parser = parse_size_or_off)]
    pub put_direct_min: SizeOrOff,
    /// Aligned PUT buffers (`PUT_DIRECT_BUF_BYTES` each) kept per core for direct PUTs and
    /// registered with the core's ring (fixed buffers); a PUT finding none free allocates one.
    #[arg(long, default_value_t = PUT_DIRECT_BUFS_DEFAULT)]
    pub put_direct_bufs: usize,
    /// Do not register the direct-PUT buffers with the ring (plain WRITE instead of
    /// WRITE_FIXED; for measurements).
    #[arg(long)]
    pub no_put_fixed_bufs: bool,
    /// `auto`: bodies up to this many bytes are copied behind the head and sent with it.
    #[arg(long, default_value_t = COPY_BYTES_MAX_DEFAULT)]
    pub copy_max: u64,
    /// `auto`, only where the page-cache probe cannot tell (a one-byte `preadv2(RWF_NOWAIT)` at
    /// each end of the range fails with something other than EAGAIN): larger bodies up to this
    /// many bytes go out with sendfile(2); beyond, spliced.
    #[arg(long, default_value_t = SENDFILE_BYTES_MAX_DEFAULT)]
    pub sendfile_max: u64,
    /// Chunked objects: once a piece of a GET body is found cold, keep this many bytes past
    /// the send position (across chunk files) being read into the page cache
    /// (a huge-page mapping of each step of 8 MiB, or the window if smaller, faulted in by
    /// `IORING_OP_MADVISE(MADV_POPULATE_READ)`; `WILLNEED` where that fails), and
    /// probe and send the rest of the body in steps of that size; `off`: each chunk file is
    /// read by the kernel's own per-file readahead only.
    #[arg(long, default_value = CHUNK_READAHEAD_DEFAULT, value_parser = parse_size_or_off)]
    pub chunk_readahead: SizeOrOff,
    /// Space cleanup (`cleanup-store`) leaves alone every file modified less than this long
    /// ago (AIS `space.dont_cleanup_time`): `0`, `90s`, `30m`, `2h`; a bare number is seconds.
    #[arg(long, default_value = DONT_CLEANUP_TIME_DEFAULT, value_parser = parse_duration)]
    pub dont_cleanup_time: std::time::Duration,
    /// Least time between two filesystem health checks of one mountpath woken by I/O errors
    /// (AIS runs them at most every 4 minutes); `0` checks after every such error.
    #[arg(long, default_value = "4m", value_parser = parse_duration)]
    pub fshc_interval: std::time::Duration,
    /// Turn the filesystem health check off (a failing disk then stays in use).
    #[arg(long)]
    pub no_fshc: bool,
    /// Capacity low watermark, percent of a mountpath in use (AIS `space.lowwm`).
    #[arg(long, default_value_t = 75)]
    pub space_low_wm: u8,
    /// Capacity high watermark, percent (AIS `space.highwm`).
    #[arg(long, default_value_t = 90)]
    pub space_high_wm: u8,
    /// Out-of-space watermark, percent (AIS `space.out_of_space`): at or over it on the
    /// fullest mountpath, new PUTs get 507 until space is freed.
    #[arg(long, default_value_t = 95)]
    pub space_oos: u8,
    /// How often the mountpaths' capacity is read (`statvfs`).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub space_check_interval: std::time::Duration,
    /// Connections one core serves at once (at most `CONNS_PER_CORE_MAX`). A connection
    /// accepted over it is answered `503` (AIS JSON error, `Retry-After`, `Connection: close`)
    /// and closed, counted in `aisle_core_conns_refused_count`.
    #[arg(long, default_value_t = CONNS_PER_CORE_MAX)]
    pub conns_per_core_max: usize,
    /// Declared body bytes of PUTs one core receives at once: a PUT arriving while its core's
    /// total is at or over this is answered `503` with `Retry-After` before any of its body is
    /// read (a single PUT of any size is admitted on an idle core). A size like `1G`, `256M`;
    /// `off`: no limit.
    #[arg(long, default_value = PUT_INFLIGHT_BYTES_DEFAULT, value_parser = parse_size_or_off)]
    pub put_inflight_bytes_per_core: SizeOrOff,
    /// Token access control (AIS AuthN JWTs): the HS256 secret tokens are signed with. With a
    /// token key (this, `--auth-secret-file` or `--auth-pubkey`) every AIS API request but
    /// `/v1/health` and `/metrics` needs `Authorization: Bearer <token>` with the permission
    /// it asks for (401 without a valid token, 403 without the permission); with none, every
    /// request is accepted, as AIS with auth off. Prefer the file: a flag shows in `ps`.
    #[arg(long, value_name = "SECRET")]
    pub auth_secret: Option<String>,
    /// A file holding the HS256 token secret (one trailing newline ignored).
    #[arg(long, value_name = "FILE", conflicts_with = "auth_secret")]
    pub auth_secret_file: Option<PathBuf>,
    /// An RSA public key (PEM) that RS256/RS384/RS512 tokens are checked with (AuthN's
    /// `public_key`); may be given with a secret (HS256 tokens then work too).
    #[arg(long, value_name = "PEM_FILE")]
    pub auth_pubkey: Option<PathBuf>,
    /// PEM file with the TLS certificate chain (leaf first). With `--tls-key`, the listener
    /// speaks only HTTPS (AIS `net.http.use_https`); the pair is reloaded without a restart on
    /// `PUT /v1/daemon/load-x509`, on SIGHUP, and when either file's mtime or size changes.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the TLS private key (PKCS#8, PKCS#1 or SEC1) for `--tls-cert`.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How often the TLS certificate and key files are checked for a change (mtime, size),
    /// which reloads them; `0` turns the check off (reload by API or SIGHUP only).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub tls_check_interval: std::time::Duration,
}

/// Connections one core serves at once: the default and the largest value of
/// `--conns-per-core-max`.
pub const CONNS_PER_CORE_MAX: usize = 16 * 1024;

/// Default of `--put-inflight-bytes-per-core`.
pub const PUT_INFLIGHT_BYTES_DEFAULT: &str = "4G";

/// Default of `--dont-cleanup-time` (AIS's 30 minutes).
pub const DONT_CLEANUP_TIME_DEFAULT: &str = "30m";

/// Parses a duration: a whole number with an optional unit `s`, `m`, `h` or `d` (none:
/// seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim().to_ascii_lowercase();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let bad = || format!("{s:?}: expected a duration like 0, 500ms, 90s, 30m, 2h");
    let mult_ms: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    n.checked_mul(mult_ms)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| format!("{s:?}: too large"))
}

/// Default of `--put-direct-min` (see bench/RESULTS.md).
pub const PUT_DIRECT_MIN_DEFAULT: &str = "256K";
/// Default of `--chunk-readahead` (see bench/RESULTS.md for the measurement behind it).
pub const CHUNK_READAHEAD_DEFAULT: &str = "32M";
/// Default of `--put-direct-bufs`.
pub const PUT_DIRECT_BUFS_DEFAULT: usize = 32;

/// A byte count, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeOrOff(pub Option<u64>);

/// Parses `off`, or a byte count with an optional binary suffix: `4096`, `64K`/`64KiB`,
/// `1M`/`1MiB`, `2G`/`2GiB` (case-insensitive).
pub fn parse_size_or_off(s: &str) -> Result<SizeOrOff, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "off" {
        return Ok(SizeOrOff(None));
    }
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(digits);
    let mult: u64 = match suffix {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "{s:?}: expected a size like 4096, 256K, 1M, or off"
            ))
        }
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a size like 4096, 256K, 1M, or off"))?;
    n.checked_mul(mult)
        .map(|v| SizeOrOff(Some(v)))
        .ok_or_else(|| format!("{s:?}: too large"))
}

/// How PUT data reaches the file.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutWrite {
    Direct,
    Ring,
}

/// How a PUT replaces an existing object.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    Exchange,
    Rename,
}

/// How connections receive request bytes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvMode {
    Single,
    Multishot,
}

/// How GET bodies reach the socket.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyPolicy {
    Auto,
    Copy,
    Sendfile,
    Splice,
}

/// Default of `--copy-max` (see bench/RESULTS.md for the measurement behind it).
pub const COPY_BYTES_MAX_DEFAULT: u64 = 16 * 1024;
/// Default of `--sendfile-max` (see bench/RESULTS.md).
pub const SENDFILE_BYTES_MAX_DEFAULT: u64 = 256 * 1024;

/// How a GET body of a given size is sent.
#[derive(Clone, Copy, Debug)]
pub struct BodySend {
    pub policy: BodyPolicy,
    pub copy_max: u64,
    pub sendfile_max: u64,
    /// Bytes read ahead of a chunked body's send once it is found cold; 0: none.
    pub chunk_readahead: u64,
}

impl BodySend {
    /// The method for a body of `len` bytes; `cached` tells (if it can) whether all of it is in
    /// the page cache.
    pub fn method(&self, len: u64, cached: impl FnOnce() -> Option<bool>) -> BodyPolicy {
        if self.policy != BodyPolicy::Auto {
            return self.policy;
        }
        if len <= self.copy_max {
            return BodyPolicy::Copy;
        }
        match cached() {
            Some(true) => BodyPolicy::Sendfile,
            Some(false) => BodyPolicy::Splice,
            None if len <= self.sendfile_max => BodyPolicy::Sendfile,
            None => BodyPolicy::Splice,
        }
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub mountpaths: Vec<PathBuf>,
    pub cores: usize,
    pub pin: bool,
    pub shutdown_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub body_timeout_secs: u64,
    pub body_send: BodySend,
    pub put_write: PutWrite,
    pub overwrite: Overwrite,
    pub recv: RecvMode,
    /// TCP congestion control set on the listening sockets; `None`: the host's default.
    pub tcp_congestion: Option<String>,
    /// S3 at `/` too (`--s3-at-root`).
    pub s3_at_root: bool,
    /// S3 access keys and their secrets; empty: S3 requests are not authenticated.
    pub s3_keys: S3Keys,
    /// Direct (O_DIRECT) PUTs from this declared size on; `None`: never.
    pub put_direct_min: Option<u64>,
    /// Aligned PUT buffers per core.
    pub put_direct_bufs: usize,
    /// Register them with the ring.
    pub put_fixed_bufs: bool,
    /// Space cleanup's `dont_cleanup_time`.
    pub dont_cleanup_time: std::time::Duration,
    /// Filesystem health check settings.
    pub fshc: engine::store::FshcConf,
    /// Capacity watermarks.
    pub space: engine::store::SpaceConf,
    /// How often the capacity is read.
    pub space_check_interval: std::time::Duration,
    /// Connections per core served at once.
    pub conns_per_core_max: usize,
    /// In-flight declared PUT body bytes per core; `None` (`off`): no limit.
    pub put_inflight_bytes_per_core: Option<u64>,
    /// Token keys; none: token access control is off.
    pub auth: AuthKeys,
    /// HTTPS on the listener: certificate and key files (`--tls-cert`, `--tls-key`).
    pub tls: Option<TlsFiles>,
    /// How often the TLS files are checked for a change; zero: never.
    pub tls_check_interval: std::time::Duration,
}

/// The keys token access control checks tokens with (`Debug` tells only which are set).
#[derive(Clone, Default)]
pub struct AuthKeys {
    /// HS256 shared secret.
    pub secret: Option<Vec<u8>>,
    /// RSA public key, PEM.
    pub pubkey_pem: Option<Vec<u8>>,
}

impl AuthKeys {
    /// True when token access control is on.
    pub fn is_on(&self) -> bool {
        self.secret.is_some() || self.pubkey_pem.is_some()
    }
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKeys")
            .field("secret", &self.secret.is_some())
            .field("pubkey", &self.pubkey_pem.is_some())
            .finish()
    }
}

/// The token keys of the flags, each checked (a secret not empty, a public key an RSA PEM).
fn auth_keys(f: &Flags) -> anyhow::Result<AuthKeys> {
    let secret = match (&f.auth_secret, &f.auth_secret_file) {
        (Some(s), _) => Some(s.as_bytes().to_vec()),
        (None, Some(p)) => {
            let mut b = std::fs::read(p)
                .map_err(|e| anyhow::anyhow!("--auth-secret-file {}: {e}", p.display()))?;
            if b.ends_with(b"\n") {
                b.pop();
                if b.ends_with(b"\r") {
                    b.pop();
                }
            }
            Some(b)
        }
        (None, None) => None,
    };
    if secret.as_ref().is_some_and(|s| s.is_empty()) {
        anyhow::bail!("--auth-secret/--auth-secret-file: the secret is empty");
    }
    let pubkey_pem = match &f.auth_pubkey {
        Some(p) => Some(
            std::fs::read(p).map_err(|e| anyhow::anyhow!("--auth-pubkey {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let keys = AuthKeys { secret, pubkey_pem };
    if keys.is_on() {
        crate::auth::Verifier::new(
            keys.secret.as_deref(),
            keys.pubkey_pem.as_deref(),
            String::new(),
        )
        .map_err(|e| anyhow::anyhow!("--auth-*: {e}"))?;
    }
    Ok(keys)
}

/// The PEM files of the listener's certificate chain and private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Config {
    /// Resolves flags: the embedded default creates its mountpath folders; explicit
    /// mountpaths must exist and be writable directories that support user xattrs.
    pub fn from_flags(f: &Flags) -> anyhow::Result<Config> {
        let explicit = !f.mountpaths.is_empty();
        let raw: Vec<PathBuf> = if explicit {
            f.mountpaths.clone()
        } else {
            (1..=DEFAULT_MOUNTPATHS)
                .map(|i| PathBuf::from(DATA_DIR_DEFAULT).join(format!("mp{i}")))
                .collect()
        };
        let mut mountpaths = Vec::new();
        for p in raw {
            if !explicit {
                std::fs::create_dir_all(&p).map_err(|e| {
                    anyhow::anyhow!("cannot create default mountpath {}: {e}", p.display())
                })?;
            }
            let abs = engine::mountpath::probe(&p)?;
            if mountpaths.contains(&abs) {
                anyhow::bail!("mountpath {} given twice", abs.display());
            }
            mountpaths.push(abs);
        }
        let cpus = engine::io::sys::allowed_cpus().len().max(1);
        let cores = f.cores.unwrap_or(cpus);
        if cores == 0 || cores > 256 {
            anyhow::bail!("--cores must be between 1 and 256 (got {cores})");
        }
        if f.put_direct_bufs > engine::io::FIXED_BUFS_MAX {
            anyhow::bail!(
                "--put-direct-bufs must be at most {} (got {})",
                engine::io::FIXED_BUFS_MAX,
                f.put_direct_bufs
            );
        }
        if f.conns_per_core_max == 0 || f.conns_per_core_max > CONNS_PER_CORE_MAX {
            anyhow::bail!(
                "--conns-per-core-max must be between 1 and {} (got {})",
                CONNS_PER_CORE_MAX,
                f.conns_per_core_max
            );
        }
        if f.put_inflight_bytes_per_core.0 == Some(0) {
            anyhow::bail!("--put-inflight-bytes-per-core must be a positive size or off");
        }
        let s3_keys = s3_keys(f)?;
        let body_send = BodySend {
            policy: f.get_body,
            copy_max: f.copy_max,
            sendfile_max: f.sendfile_max,
            chunk_readahead: f.chunk_readahead.0.unwrap_or(0),
        };
        Ok(Config {
            listen: f.listen,
            mountpaths,
            cores,
            pin: !f.no_pin,
            shutdown_timeout_secs: f.shutdown_timeout_secs,
            idle_timeout_secs: f.idle_timeout_secs,
            body_timeout_secs: f.body_timeout_secs,
            body_send,
            put_write: f.put_write,
            overwrite: f.overwrite,
            recv: f.recv,
            tcp_congestion: f.tcp_congestion.clone(),
            s3_at_root: f.s3_at_root,
            s3_keys,
            put_direct_min: f.put_direct_min.0,
            put_direct_bufs: f.put_direct_bufs,
            put_fixed_bufs: !f.no_put_fixed_bufs,
            dont_cleanup_time: f.dont_cleanup_time,
            space: {
                let c = engine::store::SpaceConf {
                    low_wm: f.space_low_wm,
                    high_wm: f.space_high_wm,
                    oos: f.space_oos,
                };
                c.validate()
                    .map_err(|e| anyhow::anyhow!("--space-*-wm/--space-oos: {e}"))?;
                c
            },
            space_check_interval: f
                .space_check_interval
                .max(std::time::Duration::from_millis(10)),
            fshc: engine::store::FshcConf {
                enabled: !f.no_fshc,
                min_interval: f.fshc_interval,
                ..Default::default()
            },
            conns_per_core_max: f.conns_per_core_max,
            put_inflight_bytes_per_core: f.put_inflight_bytes_per_core.0,
            auth: auth_keys(f)?,
            tls: match (&f.tls_cert, &f.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
            tls_check_interval: f.tls_check_interval,
        })
    }
}

/// Environment variable with S3 access keys, `ID:SECRET` separated by commas (for tests and
/// containers; added to the flags' keys).
pub const S3_CREDENTIALS_ENV: &str = "AISLE_S3_CREDENTIALS";

/// Parses one `ID:SECRET` (the secret may itself contain `:`).
pub fn parse_access_key(s: &str) -> Result<(String, String), String> {
    let s = s.trim();
    match s.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
            if id.chars().any(|c| c.is_whitespace() || c == '/') {
                return Err(format!("S3 access key id {id:?} has a blank or '/'"));
            }
            Ok((id.to_string(), secret.to_string()))
        }
        _ => Err("an S3 access key is ID:SECRET, both non-empty".to_string()),
    }
}

/// The S3 access keys of the flags, the credentials file and the environment. One id given
/// twice with different secrets is an error.
fn s3_keys(f: &Flags) -> anyhow::Result<S3Keys> {
    let mut all: Vec<(String, String)> = Vec::new();
    for k in &f.s3_access_keys {
        all.push(parse_access_key(k).map_err(|e| anyhow::anyhow!("--s3-access-key: {e}"))?);
    }
    if let Some(p) = &f.s3_credentials {
        let text = std::fs::read_to_string(p)
            .map_err(|e| anyhow::anyhow!("--s3-credentials {}: {e}", p.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            all.push(parse_access_key(line).map_err(|e| {
                anyhow::anyhow!("--s3-credentials {} line {}: {e}", p.display(), i + 1)
            })?);
        }
    }
    if let Ok(v) = std::env::var(S3_CREDENTIALS_ENV) {
        for k in v.split(',').filter(|k| !k.trim().is_empty()) {
            all.push(
                parse_access_key(k).map_err(|e| anyhow::anyhow!("{S3_CREDENTIALS_ENV}: {e}"))?,
            );
        }
    }
    let mut keys = HashMap::new();
    for (id, secret) in all {
        if let Some(old) = keys.insert(id.clone(), secret.clone()) {
            if old != secret {
                anyhow::bail!("S3 access key {id} is given twice with different secrets");
            }
        }
    }
    Ok(S3Keys(keys))
}

/// S3 access key ids and their secrets (`Debug` shows the ids only).
#[derive(Clone, Default)]
pub struct S3Keys(pub HashMap<String, String>);

impl S3Keys {
    /// The secret of `id`.
    pub fn secret(&self, id: &str) -> Option<&str> {
        self.0.get(id).map(String::as_str)
    }
    /// True when no key is configured (S3 requests are then not authenticated).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for S3Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_keys_parse() {
        // Goal: ID:SECRET splits at the first ':'; empty parts and blank ids are refused.
        assert_eq!(
            parse_access_key("AK:se:cr/et"),
            Ok(("AK".to_string(), "se:cr/et".to_string()))
        );
        for bad in ["", "AK", "AK:", ":secret", "A K:s"] {
            assert!(parse_access_key(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn durations_parse() {
        // Goal: the units of the duration flags (ms to days); junk refused.
        for (s, secs) in [
            ("0", 0),
            ("45", 45),
            ("90s", 90),
            ("30m", 1800),
            ("2H", 7200),
            ("1d", 86400),
        ] {
            assert_eq!(
                parse_duration(s),
                Ok(std::time::Duration::from_secs(secs)),
                "{s}"
            );
        }
        assert_eq!(
            parse_duration("250ms"),
            Ok(std::time::Duration::from_millis(250))
        );
        for bad in [
            "",
            "m",
            "ms",
            "-1",
            "1.5h",
            "10w",
            "5us",
            "99999999999999999999",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sizes_parse() {
        for (s, want) in [
            ("off", None),
            ("OFF", None),
            ("0", Some(0)),
            ("4096", Some(4096)),
            ("64K", Some(65536)),
            ("64kib", Some(65536)),
            ("256k", Some(262144)),
            ("1M", Some(1 << 20)),
            ("1MiB", Some(1 << 20)),
            ("2G", Some(2 << 30)),
        ] {
            assert_eq!(parse_size_or_off(s), Ok(SizeOrOff(want)), "{s}");
        }
        for bad in ["", "K", "1T", "-1", "1.5M", "abc", "99999999999999999999G"] {
            assert!(parse_size_or_off(bad).is_err(), "{bad:?} accepted");
        }
    }

    fn send(policy: BodyPolicy) -> BodySend {
        BodySend {
            policy,
            copy_max: 16 * 1024,
            sendfile_max: 256 * 1024,
            chunk_readahead: 0,
        }
    }

    #[test]
    fn body_method_auto_copies_small_bodies_without_asking_the_cache() {
        // Goal: under `auto`, a body up to `copy_max` is copied, whatever its cache state,
        // and the cache probe is not even called (it costs system calls).
        let s = send(BodyPolicy::Auto);
        for len in [0, 1, 4096, 16 * 1024] {
            let m = s.method(len, || panic!("cache probed for a {len}-byte body"));
            assert_eq!(m, BodyPolicy::Copy, "{len}");
        }
    }

    #[test]
    fn body_method_auto_past_copy_max_follows_the_cache_then_the_size() {
        // Goal: past `copy_max`, cached → sendfile, not cached → splice, and when the kernel
        // cannot tell, sendfile up to `sendfile_max` and splice beyond; the limits are
        // inclusive and move with their settings.
        let s = send(BodyPolicy::Auto);
        let len = 16 * 1024 + 1;
        assert_eq!(s.method(len, || Some(true)), BodyPolicy::Sendfile);
        assert_eq!(s.method(len, || Some(false)), BodyPolicy::Splice);
        assert_eq!(s.method(len, || None), BodyPolicy::Sendfile);
        assert_eq!(s.method(256 * 1024, || None), BodyPolicy::Sendfile);
        assert_eq!(s.method(256 * 1024 + 1, || None), BodyPolicy::Splice);
        // A large cached body still goes by sendfile, a large cold one by splice.
        assert_eq!(s.method(1 << 30, || Some(true)), BodyPolicy::Sendfile);
        assert_eq!(s.method(1 << 30, || Some(false)), BodyPolicy::Splice);
        // Moved limits move the boundaries.
        let moved = BodySend {
            policy: BodyPolicy::Auto,
            copy_max: 100,
            sendfile_max: 1000,
            chunk_readahead: 0,
        };
        assert_eq!(moved.method(100, || None), BodyPolicy::Copy);
        assert_eq!(moved.method(101, || None), BodyPolicy::Sendfile);
        assert_eq!(moved.method(1000, || None), BodyPolicy::Sendfile);
        assert_eq!(moved.method(1001, || None), BodyPolicy::Splice);
        assert_eq!(moved.method(101, || Some(false)), BodyPolicy::Splice);
        let none = BodySend {
            policy: BodyPolicy::Auto,
            copy_max: 0,
            sendfile_max: 0,
            chunk_readahead: 0,
        };
        assert_eq!(none.method(0, || None), BodyPolicy::Copy);
        assert_eq!(none.method(1, || Some(true)), BodyPolicy::Sendfile);
        assert_eq!(none.method(1, || None), BodyPolicy::Splice);
    }

    #[test]
    fn body_method_forced_policies_ignore_size_and_cache() {
        // Goal: `copy`, `sendfile` and `splice` are used for every body, small or large,
        // cached or not, without probing the cache.
        for p in [BodyPolicy::Copy, BodyPolicy::Sendfile, BodyPolicy::Splice] {
            let s = send(p);
            for len in [0, 1, 16 * 1024, 16 * 1024 + 1, 256 * 1024 + 1, 1 << 30] {
                let m = s.method(len, || panic!("cache probed under {p:?}"));
                assert_eq!(m, p, "{p:?} {len}");
            }
        }
    }
}
