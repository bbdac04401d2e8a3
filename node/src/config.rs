//! Node configuration: command-line flags and the embedded default (no config file needed).

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
    /// How connections receive: `single` (one receive SQE per read, into the connection's own
    /// buffer; the default, measured faster here) or `multishot` (one multishot receive per
    /// connection into the core's ring of provided buffers, kept across requests). See
    /// bench/RESULTS.md "multishot receive".
    #[arg(long, value_enum, default_value_t = RecvMode::Single)]
    pub recv: RecvMode,
    /// `auto`: bodies up to this many bytes are copied behind the head and sent with it.
    #[arg(long, default_value_t = COPY_BYTES_MAX_DEFAULT)]
    pub copy_max: u64,
    /// `auto`, only where cachestat(2) is missing (Linux < 6.5): larger bodies up to this many
    /// bytes go out with sendfile(2); beyond, spliced.
    #[arg(long, default_value_t = SENDFILE_BYTES_MAX_DEFAULT)]
    pub sendfile_max: u64,
}

/// How PUT data reaches the file.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutWrite {
    Direct,
    Ring,
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
    pub body_send: BodySend,
    pub put_write: PutWrite,
    pub recv: RecvMode,
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
            let abs = check_mountpath(&p)?;
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
        let body_send = BodySend {
            policy: f.get_body,
            copy_max: f.copy_max,
            sendfile_max: f.sendfile_max,
        };
        Ok(Config {
            listen: f.listen,
            mountpaths,
            cores,
            pin: !f.no_pin,
            shutdown_timeout_secs: f.shutdown_timeout_secs,
            idle_timeout_secs: f.idle_timeout_secs,
            body_send,
            put_write: f.put_write,
            recv: f.recv,
        })
    }
}

/// A mountpath must be an existing, writable directory whose filesystem keeps user xattrs
/// (object metadata lives in `user.ais.lom`). Returns its absolute, canonical path.
fn check_mountpath(p: &PathBuf) -> anyhow::Result<PathBuf> {
    let md = std::fs::metadata(p)
        .map_err(|e| anyhow::anyhow!("mountpath {}: {e} (create it first)", p.display()))?;
    if !md.is_dir() {
        anyhow::bail!("mountpath {} is not a directory", p.display());
    }
    let abs =
        std::fs::canonicalize(p).map_err(|e| anyhow::anyhow!("mountpath {}: {e}", p.display()))?;
    let probe = abs.join(format!(".aisle.probe.{}", std::process::id()));
    std::fs::write(&probe, b"probe")
        .map_err(|e| anyhow::anyhow!("mountpath {} is not writable: {e}", abs.display()))?;
    let xattr = {
        let f = std::fs::File::open(&probe)?;
        let fd = engine::io::Fd::from_owned(f.into());
        engine::io::sys::fsetxattr(&fd, "user.aisle.probe", b"1")
    };
    let _ = std::fs::remove_file(&probe);
    if let Err(e) = xattr {
        anyhow::bail!(
            "mountpath {}: the filesystem does not support user xattrs ({e}); object metadata needs \
             them (use ext4 or xfs, or mount with user_xattr)",
            abs.display()
        );
    }
    Ok(abs)
}
