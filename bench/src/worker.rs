//! A client core and its workers. A core is a thread (optionally pinned) running its own
//! reactor; each worker is a task owning one keep-alive connection that loops: pick GET or
//! PUT, pick the object, send, read the full response, record. A watchdog task per core
//! aborts requests older than `-timeout`.
//!
//! Stopping: workers check the shared stop flag before each request, so the requests in
//! flight when the run stops complete and are counted. `-maxputs` and `-totalputsize` are
//! enforced by reserving each PUT (count and bytes) in shared counters before sending it: the
//! worker whose reservation passes the limit sets the stop flag instead of sending.

use std::cell::Cell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use engine::io::{Reactor, ReactorConfig};

use crate::api::Target;
use crate::conn::{body_xxh64, Conn, ExchangeError, PutBody, Reply, Watch};
use crate::flags::{Api, Config};
use crate::http::{write_request_head, Checksum, Method, RequestExtras};
use crate::objects::{ObjectSet, SIZE_UNKNOWN};
use crate::rng::Rng;
use crate::stats::{CoreStats, ErrorLog, OpKind};

/// The PUT payload source per worker is at most this big; larger bodies repeat it.
pub const PUT_SOURCE_BYTES_MAX: usize = 1024 * 1024;
/// How often the watchdog looks for stuck requests.
const WATCHDOG_TICK: Duration = Duration::from_millis(100);
/// Pause after a failed connect, so a dead server is not hammered.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// State shared by all cores.
pub struct Shared {
    pub cfg: Config,
    pub target: Target,
    pub objects: ObjectSet,
    pub stop: AtomicBool,
    pub puts_reserved: AtomicU64,
    pub put_bytes_reserved: AtomicU64,
    pub errors: ErrorLog,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Reserves one PUT of `size` bytes against `-maxputs` and `-totalputsize`; false (and
    /// the run stops) once a limit is reached.
    fn reserve_put(&self, size: u64) -> bool {
        let cfg = &self.cfg;
        if cfg.puts_max > 0 && self.puts_reserved.fetch_add(1, Ordering::Relaxed) >= cfg.puts_max {
            self.stop.store(true, Ordering::Relaxed);
            return false;
        }
        if cfg.put_bytes_max > 0
            && self.put_bytes_reserved.fetch_add(size, Ordering::Relaxed) >= cfg.put_bytes_max
        {
            self.stop.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// Which core a thread runs and which workers it hosts.
#[derive(Debug, Clone)]
pub struct CoreSpec {
    pub index: usize,
    pub cpu: Option<usize>,
    pub workers: Vec<usize>,
}

/// Runs one client core to the end of the run.
pub fn run_core(
    spec: CoreSpec,
    shared: Arc<Shared>,
    stats: Arc<Mutex<CoreStats>>,
) -> anyhow::Result<()> {
    if let Some(cpu) = spec.cpu {
        engine::io::sys::pin_to_cpu(cpu)
            .map_err(|e| anyhow::anyhow!("pinning client core {} to CPU {cpu}: {e}", spec.index))?;
    }
    let reactor = Reactor::new(spec.index, &ReactorConfig::default()).map_err(|e| {
        anyhow::anyhow!(
            "creating the io_uring reactor of client core {}: {e}",
            spec.index
        )
    })?;
    reactor.block_on(async move {
        let mut watches = Vec::with_capacity(spec.workers.len());
        let mut tasks = Vec::with_capacity(spec.workers.len());
        for &id in &spec.workers {
            let watch = Rc::new(Watch::default());
            watches.push(watch.clone());
            let worker = Worker::new(id, shared.clone(), stats.clone(), watch);
            tasks.push(engine::io::spawn(worker.run()));
        }
        let done = Rc::new(Cell::new(false));
        let dog = engine::io::spawn(watchdog(watches, shared.cfg.timeout, done.clone()));
        for t in tasks {
            t.await;
        }
        done.set(true);
        dog.await;
    });
    assert_eq!(
        reactor.ops_inflight(),
        0,
        "every op completed before the reactor goes"
    );
    Ok(())
}

async fn watchdog(watches: Vec<Rc<Watch>>, timeout: Duration, done: Rc<Cell<bool>>) {
    while !done.get() {
        engine::io::sleep(WATCHDOG_TICK).await;
        if timeout.is_zero() {
            continue;
        }
        let now = Instant::now();
        for w in &watches {
            w.abort_if_older(now, timeout);
        }
    }
}

/// What one request is.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// GET of an object of this size ([`SIZE_UNKNOWN`] if not known), picked in this epoch
    /// of the unique walk (0: random pick).
    Get {
        size: u64,
        epoch: u64,
    },
    Put {
        size: u64,
    },
}

struct Worker {
    id: usize,
    shared: Arc<Shared>,
    stats: Arc<Mutex<CoreStats>>,
    watch: Rc<Watch>,
    rng: Rng,
    conn: Option<Conn>,
    connects: u64,
    head: Vec<u8>,
    /// Random PUT payload source (empty without PUTs).
    source: Vec<u8>,
    /// Encoded name of the current object.
    name: String,
    /// Encoded object-name prefix of this run's PUTs, ending in `/` (or empty).
    name_prefix: String,
    path: String,
    snippet: Vec<u8>,
    /// The `-token` header every request carries (none without `-token`).
    token_header: Option<(&'static str, String)>,
}

impl Worker {
    fn new(
        id: usize,
        shared: Arc<Shared>,
        stats: Arc<Mutex<CoreStats>>,
        watch: Rc<Watch>,
    ) -> Worker {
        let cfg = &shared.cfg;
        let mut rng = Rng::new(cfg.seed, id as u64);
        let source_len = if cfg.pct_put > 0 {
            usize::try_from(cfg.size_max)
                .unwrap_or(usize::MAX)
                .min(PUT_SOURCE_BYTES_MAX)
        } else {
            0
        };
        let mut source = vec![0u8; source_len];
        rng.fill(&mut source);
        let name_prefix = if cfg.obj_prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", crate::http::encode_name(&cfg.obj_prefix))
        };
        let token_header = cfg.token_header();
        Worker {
            id,
            shared,
            stats,
            watch,
            rng,
            conn: None,
            connects: 0,
            head: Vec::with_capacity(512),
            source,
            name: String::with_capacity(64),
            name_prefix,
            path: String::with_capacity(128),
            snippet: Vec::new(),
            token_header,
        }
    }

    fn stats(&self) -> MutexGuard<'_, CoreStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn run(mut self) {
        while !self.shared.stopping() {
            let op = self.choose_op();
            if self.conn.is_none() && !self.connect(op).await {
                continue;
            }
            let plan = match op {
                OpKind::Get => match self.shared.objects.pick(&mut self.rng, &mut self.name) {
                    Some(p) => Plan::Get {
                        size: p.size,
                        epoch: p.epoch,
                    },
                    // -epochs: all done; this worker's last request has completed.
                    None if self.shared.objects.exhausted() => break,
                    None => continue, // Only with PUTs in the mix: choose_op PUTs next.
                },
                OpKind::Put => {
                    let cfg = &self.shared.cfg;
                    let size = self.rng.between(cfg.size_min, cfg.size_max);
                    if !self.shared.reserve_put(size) {
                        break;
                    }
                    if cfg.put_existing {
                        // Checked at start: the set has objects to overwrite.
                        self.shared.objects.next_existing(&mut self.name);
                    } else {
                        self.name.clear();
                        self.name.push_str(&self.name_prefix);
                        let _ = write!(self.name, "{:016x}", self.rng.next_u64());
                    }
                    Plan::Put { size }
                }
            };
            self.execute(plan).await;
        }
    }

    /// GET or PUT by `-pctput`; a GET needs a known object, so with an empty set it is a PUT.
    fn choose_op(&mut self) -> OpKind {
        let pct = self.shared.cfg.pct_put;
        let put = match pct {
            0 => false,
            100 => true,
            p => self.rng.below(100) < u64::from(p),
        };
        if put || self.shared.objects.len() == 0 {
            OpKind::Put
        } else {
            OpKind::Get
        }
    }

    /// Opens the connection; a failure counts as an error of `op` and pauses briefly.
    async fn connect(&mut self, op: OpKind) -> bool {
        let watch = self.watch.clone();
        match Conn::connect(self.shared.cfg.endpoint.addr, &watch) {
            Ok(c) => {
                if self.connects > 0 {
                    self.stats().reconnects += 1;
                }
                self.connects += 1;
                self.conn = Some(c);
                true
            }
            Err(e) => {
                self.stats().op(op).record_error();
                let addr = self.shared.cfg.endpoint.addr;
                self.shared
                    .errors
                    .report(format_args!("worker {}: connect {addr}: {e}", self.id));
                engine::io::sleep(RECONNECT_PAUSE).await;
                false
            }
        }
    }

    async fn execute(&mut self, plan: Plan) {
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        shared.target.object_path(&self.name, &mut self.path);
        let (method, extras, body, hash) = match plan {
            Plan::Get { .. } => {
                let x = RequestExtras {
                    range: cfg.range,
                    ..Default::default()
                };
                (Method::Get, x, None, cfg.verify_hash && cfg.range.is_none())
            }
            Plan::Put { size } => {
                let xxhash2 = (cfg.verify_hash && cfg.api == Api::Ais)
                    .then(|| body_xxh64(&self.source, size));
                let x = RequestExtras {
                    content_length: Some(size),
                    xxhash2,
                    range: None,
                };
                let body = PutBody {
                    source: std::mem::take(&mut self.source),
                    len: size,
                };
                (Method::Put, x, Some(body), false)
            }
        };
        write_request_head(
            &mut self.head,
            method,
            &self.path,
            &shared.target.host,
            &extras,
        );
        if let Some(creds) = &cfg.s3_creds {
            let now = std::time::SystemTime::now();
            let h =
                crate::http::s3_sign(creds, method.as_str(), &self.path, &shared.target.host, now);
            crate::http::append_headers(&mut self.head, &h);
        }
        if let Some(t) = &self.token_header {
            crate::http::append_headers(&mut self.head, std::slice::from_ref(t));
        }
        let conn = self.conn.as_mut().expect("connected before execute");
        let t0 = Instant::now();
        let (result, head, source) = conn
            .exchange(
                &self.watch,
                std::mem::take(&mut self.head),
                body,
                hash,
                &mut self.snippet,
            )
            .await;
        let latency_us = t0.elapsed().as_micros() as u64;
        self.head = head;
        if let Some(s) = source {
            self.source = s;
        }
        match result {
            Ok(reply) => {
                if !reply.keep_alive {
                    self.conn = None;
                }
                self.judge(plan, method, &reply, latency_us);
            }
            Err(e) => {
                self.conn = None;
                let op = op_of(plan);
                {
                    let mut stats = self.stats();
                    stats.op(op).record_error();
                    if let Some(epoch) = self.counted_epoch(plan) {
                        stats.epoch(epoch).record_error();
                    }
                }
                self.complete(plan);
                let detail = match &e {
                    ExchangeError::TimedOut => format!("timed out after {:?}", cfg.timeout),
                    e => e.to_string(),
                };
                shared
                    .errors
                    .report(format_args!("{} {}: {detail}", method.as_str(), self.path));
            }
        }
    }

    /// The epoch a GET is counted in, with `-epochs`.
    fn counted_epoch(&self, plan: Plan) -> Option<u64> {
        match plan {
            Plan::Get { epoch, .. } if self.shared.cfg.epochs > 0 && epoch > 0 => Some(epoch),
            _ => None,
        }
    }

    /// Tells the walk that a GET of its epoch is over, after its figures were recorded (the
    /// monitor takes an epoch's figures once the walk says all its GETs are over).
    fn complete(&self, plan: Plan) {
        if let Some(epoch) = self.counted_epoch(plan) {
            self.shared.objects.complete(epoch);
        }
    }

    /// Decides whether a complete response is a success and records it.
    fn judge(&mut self, plan: Plan, method: Method, reply: &Reply, latency_us: u64) {
        let cfg = &self.shared.cfg;
        let problem = match plan {
            Plan::Put { .. } => check_status(reply.status, 200..300),
            Plan::Get { size, .. } => {
                let expected = if cfg.range.is_some() {
                    206..207
                } else {
                    200..300
                };
                check_status(reply.status, expected)
                    .or_else(|| check_get_size(cfg.range, size, reply.body_bytes))
                    .or_else(|| check_hash(reply))
            }
        };
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let op = op_of(plan);
        let epoch = self.counted_epoch(plan);
        if let Some(why) = problem {
            stats.op(op).record_error();
            if let Some(e) = epoch {
                stats.epoch(e).record_error();
            }
            drop(stats);
            self.complete(plan);
            let snippet = String::from_utf8_lossy(&self.snippet);
            let sep = if snippet.is_empty() { "" } else { ": " };
            self.shared.errors.report(format_args!(
                "{} {}: {why}{sep}{}",
                method.as_str(),
                self.path,
                snippet.trim()
            ));
            return;
        }
        match plan {
            Plan::Put { size } => {
                stats.put.record_ok(latency_us, size);
                drop(stats);
                if !cfg.put_existing {
                    self.shared.objects.add_put(&self.name, size);
                }
            }
            Plan::Get { .. } => {
                stats.get.record_ok(latency_us, reply.body_bytes);
                if let Some(e) = epoch {
                    stats.epoch(e).record_ok(latency_us, reply.body_bytes);
                }
                if cfg.verify_hash {
                    if reply.body_xxh64.is_some() && matches!(reply.checksum, Checksum::Xxh64(_)) {
                        stats.gets_verified += 1;
                    } else {
                        stats.gets_unverified += 1;
                    }
                }
                drop(stats);
                self.complete(plan);
            }
        }
    }
}

fn op_of(plan: Plan) -> OpKind {
    match plan {
        Plan::Get { .. } => OpKind::Get,
        Plan::Put { .. } => OpKind::Put,
    }
}

fn check_status(status: u16, expected: std::ops::Range<u16>) -> Option<String> {
    (!expected.contains(&status)).then(|| {
        if expected.len() == 1 {
            format!("status {status} (expected {})", expected.start)
        } else {
            format!("status {status}")
        }
    })
}

/// The body length a GET must return, when the object's size is known.
fn check_get_size(range: Option<(u64, u64)>, size: u64, got: u64) -> Option<String> {
    if size == SIZE_UNKNOWN {
        return None;
    }
    let expected = match range {
        None => size,
        Some((off, _)) if off >= size => return None, // the status check caught it
        Some((off, 0)) => size - off,
        Some((off, len)) => len.min(size - off),
    };
    (got != expected).then(|| format!("body of {got} bytes, expected {expected}"))
}

/// With hashing asked for (whole-object GETs and `-verifyhash`), the body must match an
/// announced XXH64; other or absent checksums leave the GET unverified.
fn check_hash(reply: &Reply) -> Option<String> {
    let got = reply.body_xxh64?;
    match reply.checksum {
        Checksum::Xxh64(want) if want != got => Some(format!(
            "checksum mismatch: header xxhash {want:016x}, body {got:016x}"
        )),
        Checksum::BadValue => Some("malformed Ais-Checksum-Value".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(checksum: Checksum, body_xxh64: Option<u64>) -> Reply {
        Reply {
            status: 200,
            body_bytes: 0,
            checksum,
            body_xxh64,
            keep_alive: true,
        }
    }

    #[test]
    fn get_checks() {
        assert_eq!(check_status(200, 200..300), None);
        assert_eq!(check_status(404, 200..300).as_deref(), Some("status 404"));
        assert_eq!(
            check_status(200, 206..207).as_deref(),
            Some("status 200 (expected 206)")
        );
        assert_eq!(check_get_size(None, 10, 10), None);
        assert!(check_get_size(None, 10, 9).is_some());
        assert_eq!(check_get_size(None, SIZE_UNKNOWN, 9), None);
        assert_eq!(check_get_size(Some((4, 0)), 10, 6), None);
        assert_eq!(check_get_size(Some((4, 3)), 10, 3), None);
        assert_eq!(check_get_size(Some((8, 5)), 10, 2), None);
        assert!(check_get_size(Some((8, 5)), 10, 5).is_some());
        assert_eq!(check_hash(&reply(Checksum::Xxh64(5), Some(5))), None);
        assert!(check_hash(&reply(Checksum::Xxh64(5), Some(6))).is_some());
        assert!(check_hash(&reply(Checksum::BadValue, Some(6))).is_some());
        assert_eq!(check_hash(&reply(Checksum::Absent, Some(6))), None);
        assert_eq!(
            check_hash(&reply(Checksum::Xxh64(5), None)),
            None,
            "not hashed: range GET"
        );
    }
}
