//! The context every handler works in: the node's identity and tuning (`NodeInfo`, shared by
//! all cores) and a core's own state (`CoreCtx`: its store view, connections, buffers,
//! counters, bus). Connections, handlers, the core loop and the node start-up all depend on
//! this module; it depends on none of them.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::cache::CoreView;
use engine::io::{sys, AlignedBuf, Fd, FixedBufs};
use engine::mountpath::MountpathId;
use engine::store::Store;
use slab::Slab;

use crate::bus::{Bus, BusMsg};
use crate::stats::{CoreRecorder, CoreStats};

/// Facts about this node that responses need (identity, address, start time).
pub struct NodeInfo {
    /// Daemon ID, as in AIS's Smap (`t[<id>]` in error bodies).
    pub daemon_id: String,
    /// `http://host:port` clients use to reach this node.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub started: Instant,
    pub started_unix_ns: i64,
    pub cores: usize,
    pub defer_taskrun: bool,
    /// Connections receive with a multishot receive into provided buffers (`--recv`).
    pub recv_multishot: bool,
    /// Every core's counters, for `/metrics`.
    pub stats: Vec<Arc<CoreStats>>,
    /// Open objects each core may cache (each holds a file descriptor).
    pub objects_cached_per_core: usize,
    /// How GET bodies are sent.
    pub body_send: crate::config::BodySend,
    /// A connection waiting this long for a request head is closed.
    pub idle_timeout: Duration,
    /// A connection waiting this long for request-body bytes is closed.
    pub body_timeout: Duration,
    /// Aligned buffers per core for direct PUTs (0: none are kept, and none when direct PUTs
    /// are off).
    pub put_direct_bufs: usize,
    /// Register those buffers with each core's ring (WRITE_FIXED).
    pub put_fixed_bufs: bool,
    /// Test-only panic trigger armed (`AISLE_TEST_PANIC=1` in the environment at start-up):
    /// a request with header `X-Aisle-Test-Panic: <point>` then panics at that point
    /// (`Conn::test_panic_point`). Off unless the operator opts in; for the panic-isolation tests.
    pub test_panic: bool,
    /// Serve the S3 API at `/` as well as at `/s3`.
    pub s3_at_root: bool,
    /// TCP congestion control set on each core's listening socket (`--tcp-congestion`).
    pub tcp_congestion: Option<String>,
    /// S3 access keys and their secrets; empty: S3 requests are not authenticated.
    pub s3_keys: crate::config::S3Keys,
    /// Connections each core serves at once; more are answered 503 and closed.
    pub conns_per_core_max: usize,
    /// Declared PUT body bytes each core receives at once (`None`: no limit).
    pub put_inflight_bytes_per_core: Option<u64>,
    /// Token access control on the AIS API (`--auth-secret*`, `--auth-pubkey`); `None`:
    /// every request is accepted, as AIS with auth off.
    pub auth: Option<Arc<crate::auth::Verifier>>,
    /// HTTPS on the listener (`--tls-cert`/`--tls-key`); `None`: plain HTTP.
    pub tls: Option<Arc<crate::tls::Tls>>,
}

/// Environment variable that arms the test-only panic trigger (`NodeInfo::test_panic`).
pub const TEST_PANIC_ENV: &str = "AISLE_TEST_PANIC";
/// Request header naming the point where an armed node panics.
pub const TEST_PANIC_HEADER: &str = "x-aisle-test-panic";

/// Upper bound of each core's cache of open objects.
pub const OBJECTS_CACHED_PER_CORE_MAX: usize = 64 * 1024;

/// A core's record of one of its connections (for the sweeper and shutdown).
pub(crate) struct ConnEntry {
    pub(crate) fd: Fd,
    /// Waiting for the first byte of a new request with nothing buffered.
    pub(crate) idle: bool,
    /// Since when the connection waits for (the rest of) a request head; `None` while a
    /// request is being served.
    pub(crate) waiting_since: Option<Instant>,
    /// Since when a receive of request-body bytes waits; `None` when none is pending.
    pub(crate) body_wait_since: Option<Instant>,
}

/// Per-core context shared by the core's tasks.
pub struct CoreCtx {
    pub core: usize,
    pub store: Arc<Store>,
    pub node: Arc<NodeInfo>,
    pub bus: Arc<Bus>,
    /// This core's connections receive through multishot receives (it has provided buffers).
    pub recv_multishot: bool,
    pub(crate) shutting_down: Cell<bool>,
    pub(crate) conns: RefCell<Slab<ConnEntry>>,
    /// Of `conns`, those accepted over the limit and being answered 503 (not served).
    pub(crate) conns_refusing: Cell<usize>,
    /// Declared body bytes of the PUTs this core is receiving (`PutAdmission`).
    pub(crate) put_inflight: Cell<u64>,
    /// Mountpath index → owner core, as last announced.
    /// Reusable PUT body buffers (large allocations are mmap'd: reuse avoids page faults).
    pub(crate) body_bufs: RefCell<Vec<Vec<u8>>>,
    /// Aligned buffers of direct PUTs, registered with this core's ring when possible; made
    /// by the core's first direct PUT (a node that never sees one pins no memory for them).
    pub(crate) put_bufs: OnceCell<Option<FixedBufs>>,
    /// This core's counters.
    pub rec: CoreRecorder,
    /// This core's snapshots of the store and its cache of open objects.
    pub view: CoreView,
    /// Tokens this core has verified (token access control), each until it expires.
    pub auth_cache: RefCell<crate::auth::TokenCache>,
}

/// Size of a PUT body buffer (measured: 32 KiB pieces no worse than 128 KiB ones, bench/RESULTS.md). Data goes to the file in pieces of at least
/// `object::PUT_WRITE_BYTES_MIN` while still in the CPU cache (bench/RESULTS.md).
pub const BODY_BUF_BYTES: usize = 64 * 1024;
/// Provided receive buffers per core with `--recv multishot` (4 KiB each).
pub(crate) const RECV_BUFS: u16 = 512;
/// Body buffers kept per core.
const BODY_BUFS_KEPT_MAX: usize = 64;
/// Size of a direct PUT's aligned buffer: whole buffers go to the file in one O_DIRECT write.
pub const PUT_DIRECT_BUF_BYTES: usize = 256 * 1024;

/// What a PUT of unknown length (chunked) counts against `--put-inflight-bytes-per-core`.
pub const PUT_CHUNKED_RESERVE_BYTES: u64 = 1 << 20;

/// A PUT's share of its core's in-flight PUT bytes, given back when dropped.
pub struct PutAdmission {
    ctx: Rc<CoreCtx>,
    bytes: u64,
}

impl Drop for PutAdmission {
    fn drop(&mut self) {
        let cur = self.ctx.put_inflight.get();
        self.ctx.put_inflight.set(cur.saturating_sub(self.bytes));
    }
}

impl CoreCtx {
    /// Admits a request body of `declared` bytes (`None`: chunked) to this core's in-flight
    /// PUT bytes, or `None` when the core is at or over its limit (the request is to be
    /// refused with 503 before any of its body is read). A PUT is admitted while the total
    /// is under the limit, so a single PUT larger than the limit still goes through on an
    /// otherwise idle core.
    pub fn admit_put(self: &Rc<Self>, declared: Option<u64>) -> Option<PutAdmission> {
        let bytes = declared.unwrap_or(PUT_CHUNKED_RESERVE_BYTES);
        let cur = self.put_inflight.get();
        if let Some(max) = self.node.put_inflight_bytes_per_core {
            if cur >= max {
                self.rec.stats.put_refused.add(1);
                return None;
            }
        }
        self.put_inflight.set(cur.saturating_add(bytes));
        Some(PutAdmission {
            ctx: self.clone(),
            bytes,
        })
    }

    /// Records a request's outcome in this core's counters; per-bucket counters only if the
    /// bucket exists in this core's (refreshed) BMD snapshot.
    pub fn record(&self, bucket: &str, mountpath: Option<MountpathId>, o: &crate::stats::Outcome) {
        self.store.refresh_view(&self.view);
        self.view
            .with_bmd(|bmd| self.rec.record(bmd, bucket, mountpath, o));
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down.get()
    }

    /// Marks a connection as waiting for a request head (`waiting`), idle if nothing of it has
    /// arrived yet (`idle`).
    pub fn set_waiting(&self, slot: usize, waiting: bool, idle: bool) {
        if let Some(c) = self.conns.borrow_mut().get_mut(slot) {
            c.idle = idle;
            c.waiting_since = match (waiting, c.waiting_since) {
                (false, _) => None,
                (true, Some(t)) => Some(t),
                (true, None) => Some(Instant::now()),
            };
            if idle && self.shutting_down.get() {
                sys::shutdown_read(&c.fd);
            }
        }
    }

    /// Marks the start (`true`) or end of a wait for request-body bytes: a wait longer than
    /// the body timeout has the sweeper shut the connection's read side, so the receive ends,
    /// the request fails as truncated (nothing stored) and the connection closes.
    pub fn set_body_wait(&self, slot: usize, waiting: bool) {
        if let Some(c) = self.conns.borrow_mut().get_mut(slot) {
            c.body_wait_since = waiting.then(Instant::now);
        }
    }

    /// Asks the owner core of each mountpath to empty its trash.
    pub fn request_empty_trash(&self, mountpaths: &[MountpathId]) {
        let owners = self.owners();
        for &mp in mountpaths {
            let to = owners.get(mp.index()).copied().unwrap_or(0);
            if let Err(m) = self
                .bus
                .send(self.core, to, BusMsg::EmptyTrash { mountpath: mp })
            {
                // The owner's queue is full; its startup sweep will empty the trash later.
                tracing::warn!(
                    core = self.core,
                    to,
                    ?m,
                    "bus full: trash emptying deferred"
                );
            }
        }
    }

    pub fn take_body_buf(&self) -> Vec<u8> {
        self.body_bufs
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BODY_BUF_BYTES))
    }

    pub fn put_body_buf(&self, mut buf: Vec<u8>) {
        buf.clear();
        let mut bufs = self.body_bufs.borrow_mut();
        if bufs.len() < BODY_BUFS_KEPT_MAX && buf.capacity() == BODY_BUF_BYTES {
            bufs.push(buf);
        }
    }

    /// An empty aligned buffer for a direct PUT: from the core's pool (registered with the
    /// ring) while it has one free, else a new one; a pool buffer goes back when dropped.
    pub fn take_aligned_buf(&self) -> AlignedBuf {
        self.put_bufs
            .get_or_init(|| put_buf_pool(self.core, &self.node))
            .as_ref()
            .and_then(|p| p.take())
            .unwrap_or_else(|| AlignedBuf::new(PUT_DIRECT_BUF_BYTES))
    }

    /// The owner core of each mountpath (by id), from the current set: recomputed on every
    /// change of the set.
    pub fn owners(&self) -> Vec<usize> {
        self.store.mountpaths().owners(self.node.cores)
    }
}

/// The core's pool of direct-PUT buffers, registered with its ring unless told not to (a
/// failed registration leaves them unregistered: plain WRITE instead of WRITE_FIXED).
fn put_buf_pool(core: usize, node: &NodeInfo) -> Option<FixedBufs> {
    if node.put_direct_bufs == 0 {
        return None;
    }
    let pool = FixedBufs::new(node.put_direct_bufs, PUT_DIRECT_BUF_BYTES);
    if node.put_fixed_bufs {
        if let Err(e) = pool.register() {
            tracing::warn!(
                core,
                bytes = node.put_direct_bufs * PUT_DIRECT_BUF_BYTES,
                memlock_bytes = sys::memlock_limit(),
                "cannot register the direct-PUT buffers with the ring ({e}); direct writes \
                 work without them. Registered buffers count against RLIMIT_MEMLOCK: raise it \
                 (`ulimit -l`, LimitMEMLOCK= in systemd) or lower --put-direct-bufs"
            );
        }
    }
    Some(pool)
}
