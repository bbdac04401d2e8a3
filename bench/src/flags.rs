//! Command-line flags: aisloader's names and meanings, Go-style single-dash spelling, size and
//! duration values, and the checks that turn [`Flags`] into a validated [`Config`].
//!
//! aisloader is a Go program, so its users type `-duration 30s` and `-cleanup=false`. clap only
//! knows `--long` flags, so [`normalize_args`] rewrites a leading single `-` into `--` for every
//! long flag name clap knows (and leaves anything else alone). Boolean flags take no value or
//! `=true|false` (as Go's `flag` package does); `-cleanup false` is an error, as in Go.
//!
//! Sizes are integers (or decimals) with an optional unit: `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`,
//! `G`/`GB`/`GiB`, `T`/`TB`/`TiB`, case-insensitive. **Every unit is a power of 1024**, as in
//! aisloader (`cos.ParseSize(..., UnitsIEC)`): `1KB` = `1KiB` = 1024 bytes.
//!
//! Durations are Go's `time.ParseDuration` form: one or more `<number><unit>` terms with units
//! `ns`, `us` (`µs`), `ms`, `s`, `m`, `h` (`1m30s`, `500ms`); `0` means "no limit" (or "off" for
//! `-statsinterval`); a bare number is taken as seconds.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{CommandFactory, Parser, ValueEnum};

/// The run duration used when no bound at all was given (the run must stop by itself).
pub const DURATION_DEFAULT: Duration = Duration::from_secs(10);
/// Largest `-numworkers`.
pub const WORKERS_MAX: usize = 100_000;
/// Largest `-numcores`.
pub const CORES_MAX: usize = 256;

/// Which HTTP API the requests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Api {
    /// AIS native API: `/v1/objects/<bucket>/<name>`, bucket listing and creation.
    Ais,
    /// S3 path-style: `<endpoint path>/<bucket>/<name>`, unsigned requests.
    S3,
    /// Plain HTTP: `<endpoint URL>/<name>` (nginx, any static server with PUT).
    Http,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Ais => "ais",
            Api::S3 => "s3",
            Api::Http => "http",
        }
    }
}

/// aisle-bench: aisloader-style load generator (GET/PUT over keep-alive connections on
/// aisle's io_uring reactor). Flags may be written `-flag v`, `-flag=v`, `--flag v` or
/// `--flag=v`; booleans as `-flag` or `-flag=false`. Sizes: B, KB/KiB, MB/MiB, GB/GiB (all
/// powers of 1024). Durations: 30s, 1m, 1h30m, 500ms; 0 = none.
#[derive(Debug, Clone, Parser)]
#[command(name = "aisle-bench", version)]
pub struct Flags {
    /// Server IP or host name (ignored with --endpoint).
    #[arg(long, default_value = "localhost")]
    pub ip: String,
    /// Server port (ignored with --endpoint).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Endpoint URL instead of -ip/-port, e.g. http://127.0.0.1:8080; with -api http the URL
    /// prefix objects go under (http://127.0.0.1:8081/bench); with -api s3 optionally the S3
    /// path (http://127.0.0.1:8080/s3).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// API: ais (native), s3 (path-style, unsigned), http (plain URL prefix).
    #[arg(long, value_enum, default_value_t = Api::Ais)]
    pub api: Api,
    /// Bucket (ais, s3): a name, or aisloader's URI form ais://name (with -api ais) or
    /// s3://name (with -api s3).
    #[arg(long, default_value = "bench")]
    pub bucket: String,
    /// Read every object of the bucket (or -objlist) exactly once per epoch, in a fresh random
    /// order each epoch, and stop after this many epochs (GET-only; 0 = no epochs bound).
    #[arg(long, default_value_t = 0)]
    pub epochs: u64,
    /// Run time, e.g. 30s, 1m; 0 = no time limit. Default: none when -maxputs or
    /// -totalputsize bounds the run, else 10s.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Total number of workers (one keep-alive connection each), spread over -numcores.
    #[arg(long, default_value_t = 10)]
    pub numworkers: usize,
    /// Client cores: threads, each with its own io_uring reactor.
    #[arg(long, default_value_t = 1)]
    pub numcores: usize,
    /// Pin client core i to the i-th allowed CPU.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub pin: bool,
    /// Percentage of PUTs (0-100); the rest are GETs.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub pctput: u8,
    /// Smallest PUT size.
    #[arg(long, default_value = "1KiB", value_parser = parse_size)]
    pub minsize: u64,
    /// Largest PUT size.
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub maxsize: u64,
    /// Stop after this many bytes were PUT (0 = no limit).
    #[arg(long, default_value = "0", value_parser = parse_size)]
    pub totalputsize: u64,
    /// Stop after this many PUTs (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub maxputs: u64,
    /// Range GET: offset of the first byte read.
    #[arg(long, default_value = "0", value_parser = parse_size)]
    pub readoff: u64,
    /// Range GET: bytes to read (0 = to the end of the object; with -readoff 0, whole GETs).
    #[arg(long, default_value = "0", value_parser = parse_size)]
    pub readlen: u64,
    /// Random seed (0 = derive one from the clock).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Delete the objects this run PUT when it ends.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub cleanup: bool,
    /// Interval of the periodic stats table, e.g. 10s; 0 = off.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub statsinterval: Duration,
    /// Write the final summary as JSON to stdout (human output goes to stderr).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub json: bool,
    /// Check each whole-object GET body against Ais-Checksum-Type/-Value (xxhash, xxhash2);
    /// with -api ais, PUTs also send Ais-Checksum-Type: xxhash2 and its value.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub verifyhash: bool,
    /// GET each object at most once per epoch (a shuffled walk over the object list);
    /// -uniquegets=false picks objects at random.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub uniquegets: bool,
    /// Do not list the bucket at start: GETs only target objects PUT by this run.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub skiplist: bool,
    /// File with object names to GET, one per line (instead of listing the bucket).
    #[arg(long)]
    pub objlist: Option<PathBuf>,
    /// At the end, write the names of the objects this run PUT successfully to this file, one
    /// per line (an -objlist for later runs, e.g. against a server without listing).
    #[arg(long)]
    pub putlist: Option<PathBuf>,
    /// PUTs overwrite the objects that exist at start (from -objlist, or the bucket listing)
    /// instead of creating new names: a cursor shared by all workers walks them in order,
    /// round and round, so with more objects than workers no two PUTs in flight target the
    /// same name. For overwrite benchmarks (seed N objects first, e.g. with -putlist).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub putexisting: bool,
    /// Prefix ("virtual directory") of the names of objects this run PUTs; default: a
    /// random one per run.
    #[arg(long)]
    pub objprefix: Option<String>,
    /// Per-request timeout (a stuck request is aborted and counted as an error).
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// -api s3: sign every request with SigV4 (header signature, UNSIGNED-PAYLOAD bodies)
    /// with this access key id; needs -s3-secret-key.
    #[arg(long = "s3-access-key")]
    pub s3_access_key: Option<String>,
    /// -api s3: the secret of -s3-access-key.
    #[arg(long = "s3-secret-key")]
    pub s3_secret_key: Option<String>,
    /// -api s3: the region in the signature's scope.
    #[arg(long = "s3-region", default_value = "us-east-1")]
    pub s3_region: String,
    /// An AuthN token (JWT) sent with every request: `Authorization: Bearer <token>`
    /// (`X-Amz-Security-Token` when the request is SigV4-signed), for nodes with token
    /// access control on. Default: `AIS_AUTHN_TOKEN` from the environment, as AIS's tools.
    #[arg(long, env = "AIS_AUTHN_TOKEN")]
    pub token: Option<String>,
}

/// Rewrites Go-style `-flag` / `-flag=v` into `--flag` / `--flag=v` for clap's known long
/// flags. Values and unknown tokens pass through unchanged.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let cmd = Flags::command();
    let longs: Vec<&str> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long())
        .chain(["help", "version"])
        .collect();
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 || a.starts_with("--") || !a.starts_with('-') {
                return a;
            }
            let name = a[1..].split('=').next().unwrap_or("");
            if longs.contains(&name) {
                format!("-{a}")
            } else {
                a
            }
        })
        .collect()
}

/// Parses a size: a number with an optional unit, all units powers of 1024 (see the module
/// docs).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!("size {s:?}: no number"));
    }
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        u => {
            return Err(format!(
                "size {s:?}: unknown unit {u:?} (B, KiB, MiB, GiB, TiB)"
            ))
        }
    };
    if let Ok(n) = num.parse::<u64>() {
        return n
            .checked_mul(mult)
            .ok_or_else(|| format!("size {s:?} overflows"));
    }
    let f: f64 = num
        .parse()
        .map_err(|_| format!("size {s:?}: bad number {num:?}"))?;
    let bytes = f * mult as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("size {s:?} overflows"));
    }
    Ok(bytes.round() as u64)
}

/// Parses a Go-style duration (see the module docs). `0` is a zero duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut rest = t;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {s:?}: missing unit (ns, us, ms, s, m, h)"))?;
        let (num, tail) = rest.split_at(n_end);
        let u_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(u_end);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("duration {s:?}: bad number {num:?}"))?;
        let unit_secs = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => {
                return Err(format!(
                    "duration {s:?}: unknown unit {u:?} (ns, us, ms, s, m, h)"
                ))
            }
        };
        total += Duration::try_from_secs_f64(value * unit_secs)
            .map_err(|_| format!("duration {s:?} out of range"))?;
        rest = next;
    }
    Ok(total)
}

/// Where requests go: the address to connect to, the `Host` header and the path prefix.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Resolved address (the first one the name resolves to).
    pub addr: SocketAddr,
    /// `host:port` for the `Host` header.
    pub host: String,
    /// Path prefix without a trailing `/` ("" for none): `/s3` for S3 via AIS, the URL path
    /// for `-api http`.
    pub path_prefix: String,
}

/// The validated run configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub api: Api,
    pub endpoint: Endpoint,
    /// The bucket name (a `-bucket` URI's scheme removed).
    pub bucket: String,
    /// `-epochs`: 0 = not bounded by epochs.
    pub epochs: u64,
    /// `None` = no time limit.
    pub duration: Option<Duration>,
    pub workers: usize,
    pub cores: usize,
    pub pin: bool,
    pub pct_put: u8,
    pub size_min: u64,
    pub size_max: u64,
    /// 0 = no limit.
    pub put_bytes_max: u64,
    /// 0 = no limit.
    pub puts_max: u64,
    /// `Some((offset, len))` for range GETs (`len` 0 = to the end).
    pub range: Option<(u64, u64)>,
    pub seed: u64,
    pub cleanup: bool,
    /// `None` = no periodic table.
    pub stats_interval: Option<Duration>,
    pub json: bool,
    pub verify_hash: bool,
    pub unique_gets: bool,
    pub skip_list: bool,
    pub obj_list: Option<PathBuf>,
    pub put_list: Option<PathBuf>,
    /// `-putexisting`: PUTs overwrite the objects found at start.
    pub put_existing: bool,
    pub obj_prefix: String,
    pub timeout: Duration,
    /// -api s3 with SigV4: the credentials every request is signed with.
    /// AuthN token sent with every request (`-token`).
    pub token: Option<String>,
    pub s3_creds: Option<crate::http::S3Creds>,
}

impl Config {
    /// The `-token` header of a request: `Authorization: Bearer`, or `X-Amz-Security-Token`
    /// when the request is SigV4-signed (its `Authorization` is the signature), as AIS reads it.
    pub fn token_header(&self) -> Option<(&'static str, String)> {
        let t = self.token.as_ref()?;
        Some(if self.s3_creds.is_some() {
            ("X-Amz-Security-Token", t.clone())
        } else {
            ("Authorization", format!("Bearer {t}"))
        })
    }

    /// Validates flags and resolves the endpoint. `entropy` seeds what the user left random
    /// (the seed when `-seed 0`, the default object prefix).
    pub fn from_flags(f: &Flags, entropy: u64) -> anyhow::Result<Config> {
        if f.numworkers == 0 || f.numworkers > WORKERS_MAX {
            bail!(
                "-numworkers must be 1..={WORKERS_MAX} (got {})",
                f.numworkers
            );
        }
        if f.numcores == 0 || f.numcores > CORES_MAX {
            bail!("-numcores must be 1..={CORES_MAX} (got {})", f.numcores);
        }
        if f.minsize > f.maxsize {
            bail!(
                "-minsize ({}) is larger than -maxsize ({})",
                f.minsize,
                f.maxsize
            );
        }
        if f.pctput > 0 && f.maxsize == 0 {
            bail!("-maxsize must be positive when -pctput > 0");
        }
        if f.epochs > 0 {
            if f.pctput > 0 {
                bail!(
                    "-epochs reads every object once per epoch: GET-only, it needs -pctput 0 (got {})",
                    f.pctput
                );
            }
            if !f.uniquegets {
                bail!(
                    "-epochs walks the objects once per epoch: it needs -uniquegets (not =false)"
                );
            }
        }
        let bounded = (f.pctput > 0 && (f.maxputs > 0 || f.totalputsize > 0)) || f.epochs > 0;
        let duration = match f.duration {
            Some(d) if d.is_zero() => {
                if !bounded {
                    bail!(
                        "-duration 0 needs another bound: -epochs, or -maxputs or -totalputsize \
                         with -pctput > 0"
                    );
                }
                None
            }
            Some(d) => Some(d),
            None if bounded => None,
            None => Some(DURATION_DEFAULT),
        };
        let bucket = parse_bucket(f.api, &f.bucket)?;
        let obj_prefix = match &f.objprefix {
            Some(p) => p.trim_matches('/').to_string(),
            None => format!("bench-{:08x}", entropy as u32),
        };
        if f.putlist.is_some() && f.pctput == 0 {
            bail!("-putlist needs PUTs (-pctput > 0)");
        }
        if f.putexisting && f.pctput == 0 {
            bail!("-putexisting needs PUTs (-pctput > 0)");
        }
        if f.putexisting && f.skiplist {
            bail!("-putexisting overwrites the objects found at start: it needs -objlist or a listing, not -skiplist");
        }
        if f.putexisting && f.api == Api::Http && f.objlist.is_none() {
            bail!("-putexisting with -api http needs -objlist (a plain HTTP server is not listed)");
        }
        if f.objlist.is_some() && f.skiplist {
            bail!("-objlist and -skiplist exclude each other");
        }
        let s3_creds = match (&f.s3_access_key, &f.s3_secret_key) {
            (None, None) => None,
            (Some(a), Some(s)) if !a.is_empty() && !s.is_empty() => {
                if f.api != Api::S3 {
                    bail!("-s3-access-key/-s3-secret-key need -api s3");
                }
                Some(crate::http::S3Creds {
                    access_key: a.clone(),
                    secret: s.clone(),
                    region: f.s3_region.clone(),
                })
            }
            _ => bail!("-s3-access-key and -s3-secret-key go together, both non-empty"),
        };
        let token = f.token.clone().filter(|t| !t.is_empty());
        if token.is_some() && f.api == Api::Http {
            bail!("-token needs -api ais or -api s3");
        }
        let endpoint = resolve_endpoint(f)?;
        let range = (f.readoff > 0 || f.readlen > 0).then_some((f.readoff, f.readlen));
        let seed = if f.seed == 0 { entropy | 1 } else { f.seed };
        Ok(Config {
            api: f.api,
            endpoint,
            bucket,
            epochs: f.epochs,
            duration,
            workers: f.numworkers,
            cores: f.numcores.min(f.numworkers),
            pin: f.pin,
            pct_put: f.pctput,
            size_min: f.minsize,
            size_max: f.maxsize,
            put_bytes_max: f.totalputsize,
            puts_max: f.maxputs,
            range,
            seed,
            cleanup: f.cleanup,
            stats_interval: (!f.statsinterval.is_zero()).then_some(f.statsinterval),
            json: f.json,
            verify_hash: f.verifyhash,
            unique_gets: f.uniquegets,
            skip_list: f.skiplist || f.api == Api::Http,
            obj_list: f.objlist.clone(),
            put_list: f.putlist.clone(),
            put_existing: f.putexisting,
            obj_prefix,
            timeout: f.timeout,
            s3_creds,
            token,
        })
    }
}

/// Longest bucket name (AIS's `MaxNameLength`).
pub const BUCKET_NAME_MAX: usize = 64;

/// The bucket name of `-bucket`: a plain name, or aisloader's URI form `ais://name` (with
/// `-api ais`) or `s3://name` (with `-api s3`); one trailing `/` is allowed. Names follow
/// AIS's rule: letters, digits, `-`, `_` and `.`, no `..`, at most 64 characters.
pub fn parse_bucket(api: Api, spec: &str) -> anyhow::Result<String> {
    let name = match spec.split_once("://") {
        None => spec,
        Some((scheme, rest)) => {
            let want = match scheme {
                "ais" => Api::Ais,
                "s3" => Api::S3,
                "gs" | "gcp" | "az" | "azure" | "oci" | "ht" => bail!(
                    "-bucket {spec:?}: provider {scheme:?} is not supported by aisle-bench \
                     (use ais://name with -api ais or s3://name with -api s3)"
                ),
                _ => bail!(
                    "-bucket {spec:?}: unknown scheme {scheme:?} (ais://name with -api ais, \
                     s3://name with -api s3, or a plain name)"
                ),
            };
            if want != api {
                bail!(
                    "-bucket {spec:?}: a {scheme}:// bucket needs -api {} (got -api {})",
                    want.name(),
                    api.name()
                );
            }
            rest.strip_suffix('/').unwrap_or(rest)
        }
    };
    if name.is_empty() {
        bail!("-bucket {spec:?}: empty bucket name");
    }
    if name.contains('/') {
        bail!("-bucket {spec:?}: a bucket name has no '/' (object names go in -objlist)");
    }
    if name.len() > BUCKET_NAME_MAX
        || name.contains("..")
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        bail!(
            "-bucket {spec:?}: invalid bucket name {name:?} (letters, digits, '-', '_', '.'; \
             no '..'; at most {BUCKET_NAME_MAX} characters)"
        );
    }
    Ok(name.to_string())
}

fn resolve_endpoint(f: &Flags) -> anyhow::Result<Endpoint> {
    let (host, path_prefix) = match &f.endpoint {
        Some(url) => {
            let u =
                net::client::parse_http_url(url).with_context(|| format!("--endpoint {url}"))?;
            if u.path_and_query.contains('?') {
                bail!("--endpoint {url}: a query string is not allowed");
            }
            (
                u.host_port,
                u.path_and_query.trim_end_matches('/').to_string(),
            )
        }
        None => (format!("{}:{}", f.ip, f.port), String::new()),
    };
    match f.api {
        Api::Ais if !path_prefix.is_empty() => {
            bail!("-api ais: the endpoint must not have a path (got {path_prefix:?})")
        }
        Api::Http if path_prefix.is_empty() && f.endpoint.is_none() => {
            bail!("-api http needs --endpoint http://host:port/prefix (objects go under it)")
        }
        _ => {}
    }
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to no address"))?;
    Ok(Endpoint {
        addr,
        host,
        path_prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Flags, clap::Error> {
        let argv = std::iter::once("aisle-bench")
            .chain(args.iter().copied())
            .map(String::from);
        Flags::try_parse_from(normalize_args(argv))
    }

    fn check_size(input: &str, expected: Option<u64>) {
        assert_eq!(parse_size(input).ok(), expected, "size {input:?}");
    }

    fn check_duration(input: &str, expected_ms: Option<u64>) {
        let got = parse_duration(input).ok().map(|d| d.as_millis() as u64);
        assert_eq!(got, expected_ms, "duration {input:?}");
    }

    #[test]
    fn sizes_are_powers_of_1024() {
        check_size("0", Some(0));
        check_size("17", Some(17));
        check_size("17B", Some(17));
        check_size("4k", Some(4096));
        check_size("4KB", Some(4096));
        check_size("4KiB", Some(4096));
        check_size("4kib", Some(4096));
        check_size("1MB", Some(1 << 20));
        check_size("1MiB", Some(1 << 20));
        check_size("16M", Some(16 << 20));
        check_size("2GiB", Some(2 << 30));
        check_size("1GB", Some(1 << 30));
        check_size("1TiB", Some(1 << 40));
        check_size("1.5KiB", Some(1536));
        check_size(" 8 KiB ", Some(8192));
        check_size("", None);
        check_size("KiB", None);
        check_size("4XB", None);
        check_size("4 K B", None);
        check_size("99999999999999999999", None);
        check_size("20000000TiB", None);
    }

    #[test]
    fn durations_follow_go() {
        check_duration("0", Some(0));
        check_duration("30s", Some(30_000));
        check_duration("1m", Some(60_000));
        check_duration("1m30s", Some(90_000));
        check_duration("1h", Some(3_600_000));
        check_duration("500ms", Some(500));
        check_duration("1.5s", Some(1500));
        check_duration("2500us", Some(2));
        check_duration("15", Some(15_000));
        check_duration("", None);
        check_duration("10x", None);
        check_duration("s", None);
        check_duration("1s2", None);
    }

    #[test]
    fn single_dash_flags_are_accepted() {
        let f = parse(&[
            "-ip",
            "10.0.0.1",
            "-port",
            "9000",
            "-duration",
            "30s",
            "-numworkers",
            "64",
            "-pctput=20",
            "-minsize",
            "4KiB",
            "--maxsize",
            "1MB",
            "-cleanup",
            "-json=true",
            "-uniquegets=false",
            "-readoff",
            "1K",
            "-readlen=2K",
        ])
        .unwrap();
        assert_eq!(f.ip, "10.0.0.1");
        assert_eq!(f.port, 9000);
        assert_eq!(f.duration, Some(Duration::from_secs(30)));
        assert_eq!(f.numworkers, 64);
        assert_eq!(f.pctput, 20);
        assert_eq!(f.minsize, 4096);
        assert_eq!(f.maxsize, 1 << 20);
        assert!(f.cleanup);
        assert!(f.json);
        assert!(!f.uniquegets);
        assert!(!f.verifyhash);
        assert_eq!((f.readoff, f.readlen), (1024, 2048));
    }

    #[test]
    fn defaults_match_aisloader_where_it_has_them() {
        let f = parse(&[]).unwrap();
        assert_eq!(f.ip, "localhost");
        assert_eq!(f.port, 8080);
        assert_eq!(f.numworkers, 10);
        assert_eq!(f.pctput, 0);
        assert!(f.uniquegets);
        assert!(!f.cleanup);
        assert_eq!(f.statsinterval, Duration::from_secs(10));
        assert_eq!(f.bucket, "bench");
        assert_eq!(f.numcores, 1);
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(parse(&["-pctput", "101"]).is_err());
        assert!(
            parse(&["-cleanup", "false"]).is_err(),
            "Go bools take =value only"
        );
        assert!(parse(&["-minsize", "1QB"]).is_err());
        assert!(parse(&["-nosuchflag"]).is_err());
        assert!(parse(&["-api", "ftp"]).is_err());
    }

    #[test]
    fn values_that_look_like_flags_are_not_rewritten() {
        let argv = ["x", "-objprefix", "-bucket", "-5", "-"].map(String::from);
        assert_eq!(
            normalize_args(argv),
            ["x", "--objprefix", "--bucket", "-5", "-"]
        );
    }

    fn config(args: &[&str]) -> anyhow::Result<Config> {
        Config::from_flags(&parse(args).map_err(anyhow::Error::from)?, 0xabcd_1234)
    }

    #[test]
    fn a_run_is_always_bounded() {
        let c = config(&[]).unwrap();
        assert_eq!(c.duration, Some(DURATION_DEFAULT));
        let c = config(&["-pctput", "100", "-maxputs", "10"]).unwrap();
        assert_eq!(c.duration, None);
        let c = config(&["-pctput", "50", "-totalputsize", "1MiB", "-duration", "0"]).unwrap();
        assert_eq!(c.duration, None);
        assert!(config(&["-duration", "0"]).is_err());
        assert!(
            config(&["-duration", "0", "-maxputs", "5"]).is_err(),
            "no PUTs, no bound"
        );
        let c = config(&["-duration", "1m", "-maxputs", "5", "-pctput", "1"]).unwrap();
        assert_eq!(c.duration, Some(Duration::from_secs(60)));
    }

    #[test]
    fn config_checks() {
        assert!(config(&["-minsize", "2MiB", "-maxsize", "1MiB"]).is_err());
        assert!(config(&["-numworkers", "0"]).is_err());
        assert!(
            config(&["-api", "http", "-ip", "127.0.0.1"]).is_err(),
            "http needs a prefix"
        );
        assert!(
            config(&["--endpoint", "http://127.0.0.1:1/x"]).is_err(),
            "ais: no path"
        );
        let c = config(&["-api", "http", "--endpoint", "http://127.0.0.1:8081/bench/"]).unwrap();
        assert_eq!(c.endpoint.path_prefix, "/bench");
        assert_eq!(c.endpoint.host, "127.0.0.1:8081");
        assert!(c.skip_list, "http has no listing");
        let c = config(&["-api", "s3", "--endpoint", "http://127.0.0.1:8080/s3"]).unwrap();
        assert_eq!(c.endpoint.path_prefix, "/s3");
        let c = config(&["-numworkers", "2", "-numcores", "4", "-ip", "127.0.0.1"]).unwrap();
        assert_eq!(c.cores, 2, "no idle cores");
        assert_eq!(c.obj_prefix, "bench-abcd1234");
        assert_eq!(c.seed, 0xabcd_1234 | 1);
        let c = config(&["-objprefix", "/p/q/", "-seed", "7", "-ip", "127.0.0.1"]).unwrap();
        assert_eq!((c.obj_prefix.as_str(), c.seed), ("p/q", 7));
        assert_eq!(c.range, None);
        let c = config(&["-readoff", "10", "-ip", "127.0.0.1"]).unwrap();
        assert_eq!(c.range, Some((10, 0)));
    }

    #[test]
    fn bucket_uris() {
        assert_eq!(parse_bucket(Api::Ais, "bench").unwrap(), "bench");
        assert_eq!(parse_bucket(Api::Ais, "ais://bench").unwrap(), "bench");
        assert_eq!(
            parse_bucket(Api::Ais, "ais://my-bck_1.x/").unwrap(),
            "my-bck_1.x"
        );
        assert_eq!(parse_bucket(Api::S3, "s3://bench").unwrap(), "bench");
        assert_eq!(parse_bucket(Api::S3, "plain").unwrap(), "plain");
        let err = |api, s: &str| parse_bucket(api, s).unwrap_err().to_string();
        let e = err(Api::Ais, "s3://bench");
        assert!(e.contains("needs -api s3"), "{e}");
        let e = err(Api::S3, "ais://bench");
        assert!(e.contains("needs -api ais"), "{e}");
        let e = err(Api::Http, "ais://bench");
        assert!(e.contains("needs -api ais"), "{e}");
        let e = err(Api::Ais, "ftp://bench");
        assert!(e.contains("unknown scheme \"ftp\""), "{e}");
        let e = err(Api::Ais, "gs://bench");
        assert!(e.contains("not supported"), "{e}");
        for empty in ["", "ais://", "ais:///", "s3://"] {
            let api = if empty.starts_with("s3") {
                Api::S3
            } else {
                Api::Ais
            };
            let e = err(api, empty);
            assert!(e.contains("empty bucket name"), "{empty:?}: {e}");
        }
        assert!(err(Api::Ais, "ais://a/b").contains("no '/'"));
        assert!(err(Api::Ais, "a/b").contains("no '/'"));
        assert!(err(Api::Ais, "a..b").contains("invalid bucket name"));
        assert!(err(Api::Ais, "sp ace").contains("invalid bucket name"));
        assert!(err(Api::Ais, &"x".repeat(65)).contains("invalid bucket name"));
        assert!(parse_bucket(Api::Ais, &"x".repeat(64)).is_ok());
        // Through the whole flag path.
        let c = config(&["-bucket", "ais://data", "-ip", "127.0.0.1"]).unwrap();
        assert_eq!(c.bucket, "data");
        let c = config(&["-api", "s3", "-bucket=s3://data", "-ip", "127.0.0.1"]).unwrap();
        assert_eq!(c.bucket, "data");
        assert!(config(&["-bucket", "s3://data", "-ip", "127.0.0.1"]).is_err());
    }

    #[test]
    fn putexisting_needs_puts_and_objects_to_overwrite() {
        let ip = ["-ip", "127.0.0.1"];
        let with = |extra: &[&str]| config(&[&ip[..], extra].concat());
        let c = with(&["-pctput", "100", "-putexisting"]).unwrap();
        assert!(c.put_existing);
        assert!(!with(&["-pctput", "100"]).unwrap().put_existing);
        let e = with(&["-putexisting"]).unwrap_err().to_string();
        assert!(e.contains("-pctput"), "{e}");
        let e = with(&["-pctput", "100", "-putexisting", "-skiplist"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("-skiplist"), "{e}");
        let e = with(&["-pctput", "100", "-putexisting", "-api", "http"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("-objlist"), "{e}");
        let c = with(&[
            "-pctput",
            "100",
            "-putexisting",
            "-api",
            "http",
            "-endpoint",
            "http://127.0.0.1:1/p",
            "-objlist",
            "f",
        ])
        .unwrap();
        assert!(c.put_existing);
    }

    #[test]
    fn epochs_are_get_only_and_bound_the_run() {
        let c = config(&["-epochs", "3", "-ip", "127.0.0.1"]).unwrap();
        assert_eq!((c.epochs, c.duration), (3, None), "epochs bound the run");
        let c = config(&["-epochs", "3", "-duration", "0", "-ip", "127.0.0.1"]).unwrap();
        assert_eq!(c.duration, None);
        let c = config(&["-epochs=2", "-duration", "1m", "-ip", "127.0.0.1"]).unwrap();
        assert_eq!(c.duration, Some(Duration::from_secs(60)), "both bounds");
        assert_eq!(config(&["-ip", "127.0.0.1"]).unwrap().epochs, 0);
        let e = config(&["-epochs", "1", "-pctput", "10", "-ip", "127.0.0.1"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("-pctput 0"), "{e}");
        assert!(
            config(&["-putlist", "x", "-ip", "127.0.0.1"]).is_err(),
            "no PUTs"
        );
        let e = config(&["-epochs", "1", "-uniquegets=false", "-ip", "127.0.0.1"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("-uniquegets"), "{e}");
    }
}
