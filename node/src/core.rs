//! One core: its reactor thread, listener, connections, bus inbox and mountpath shard.
//!
//! Architecture invariants:
//! - A connection is served start to end by the core that accepted it.
//! - Per-core state (`CoreCtx`) is touched only by its own thread; other cores reach it through
//!   the bus.
//! - A core owns the background work of the mountpaths assigned to it (`owner_of`).

use std::cell::{Cell, OnceCell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::io::{self as rio, sys, AlignedBuf, Fd, FixedBufs, Reactor, ReactorConfig};
use engine::store::Store;
use slab::Slab;

use crate::api;
use crate::bus::{Bus, BusMsg};
use crate::conn::{Conn, NextHead};
use crate::node::NodeInfo;
use crate::stats::CoreRecorder;
use engine::cache::CoreView;

/// Connections one core serves at once; past this, new connections wait in the backlog.
pub const CONNS_PER_CORE_MAX: usize = 16 * 1024;

/// Which core owns mountpath `index` when there are `cores` cores: round robin, so every
/// core gets a share and the assignment is recomputed from the list alone.
pub fn owner_of(index: usize, cores: usize) -> usize {
    index % cores
}

struct ConnEntry {
    fd: Fd,
    /// Waiting for the first byte of a new request with nothing buffered.
    idle: bool,
    /// Since when the connection waits for (the rest of) a request head; `None` while a
    /// request is being served.
    waiting_since: Option<Instant>,
    /// Since when a receive of request-body bytes waits; `None` when none is pending.
    body_wait_since: Option<Instant>,
}

/// Per-core context shared by the core's tasks.
pub struct CoreCtx {
    pub core: usize,
    pub store: Arc<Store>,
    pub node: Arc<NodeInfo>,
    pub bus: Arc<Bus>,
    /// This core's connections receive through multishot receives (it has provided buffers).
    pub recv_multishot: bool,
    shutting_down: Cell<bool>,
    conns: RefCell<Slab<ConnEntry>>,
    /// Mountpath index → owner core, as last announced.
    owners: RefCell<Arc<Vec<usize>>>,
    /// Reusable PUT body buffers (large allocations are mmap'd: reuse avoids page faults).
    body_bufs: RefCell<Vec<Vec<u8>>>,
    /// Aligned buffers of direct PUTs, registered with this core's ring when possible; made
    /// by the core's first direct PUT (a node that never sees one pins no memory for them).
    put_bufs: OnceCell<Option<FixedBufs>>,
    /// This core's counters.
    pub rec: CoreRecorder,
    /// This core's snapshots of the store and its cache of open objects.
    pub view: CoreView,
}

/// Size of a PUT body buffer (measured: 32 KiB pieces no worse than 128 KiB ones, bench/RESULTS.md). Data goes to the file in pieces of at least
/// `api::object::PUT_WRITE_BYTES_MIN` while still in the CPU cache (bench/RESULTS.md).
pub const BODY_BUF_BYTES: usize = 64 * 1024;
/// Provided receive buffers per core with `--recv multishot` (4 KiB each).
const RECV_BUFS: u16 = 512;
/// Body buffers kept per core.
const BODY_BUFS_KEPT_MAX: usize = 64;
/// Size of a direct PUT's aligned buffer: whole buffers go to the file in one O_DIRECT write.
pub const PUT_DIRECT_BUF_BYTES: usize = 256 * 1024;

impl CoreCtx {
    /// Records a request's outcome in this core's counters; per-bucket counters only if the
    /// bucket exists in this core's (refreshed) BMD snapshot.
    pub fn record(&self, bucket: &str, mountpath: Option<usize>, o: &crate::stats::Outcome) {
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
    pub fn request_empty_trash(&self, mountpaths: &[usize]) {
        let owners = self.owners.borrow().clone();
        for &mp in mountpaths {
            let to = owners.get(mp).copied().unwrap_or(0);
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

    pub fn owners(&self) -> Arc<Vec<usize>> {
        self.owners.borrow().clone()
    }
}

/// What a core thread starts with.
pub struct CoreStart {
    pub core: usize,
    /// The CPU to pin the thread to, if pinning.
    pub cpu: Option<usize>,
    pub listen: SocketAddr,
    pub store: Arc<Store>,
    pub node: Arc<NodeInfo>,
    pub bus: Arc<Bus>,
    /// Mountpath index → owner core.
    pub owners: Arc<Vec<usize>>,
    /// Told once the core listens (or why it cannot).
    pub ready: std::sync::mpsc::Sender<Result<(), String>>,
    pub shutdown_timeout: Duration,
}

/// Runs one core on the current thread until shutdown.
pub fn run_core(start: CoreStart) {
    let CoreStart {
        core,
        cpu,
        listen,
        store,
        node,
        bus,
        owners,
        ready,
        shutdown_timeout,
    } = start;
    if let Some(cpu) = cpu {
        if let Err(e) = sys::pin_to_cpu(cpu) {
            tracing::warn!(core, cpu, "cannot pin core thread: {e}");
        }
    }
    let mut cfg = ReactorConfig {
        defer_taskrun: node.defer_taskrun,
        ..Default::default()
    };
    if node.recv_multishot {
        cfg.recv_bufs = RECV_BUFS;
    }
    let reactor = match Reactor::new(core, &cfg) {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(format!("core {core}: cannot create io_uring: {e}")));
            return;
        }
    };
    let listener = match sys::listen_reuseport(listen, 1024) {
        Ok(fd) => Fd::from_owned(fd),
        Err(e) => {
            let _ = ready.send(Err(format!("cannot listen on {listen}: {e}")));
            return;
        }
    };
    let mine: Vec<usize> = owners
        .iter()
        .enumerate()
        .filter(|(_, &c)| c == core)
        .map(|(i, _)| i)
        .collect();
    tracing::info!(core, ?cpu, mountpaths = ?mine, "core started");
    let ctx = Rc::new(CoreCtx {
        core,
        store,
        bus,
        recv_multishot: rio::recv_multi_available(),
        shutting_down: Cell::new(false),
        conns: RefCell::new(Slab::with_capacity(1024)),
        owners: RefCell::new(owners),
        body_bufs: RefCell::new(Vec::new()),
        put_bufs: OnceCell::new(),
        rec: CoreRecorder::new(node.stats[core].clone()),
        view: CoreView::new(node.objects_cached_per_core),
        node,
    });
    let _ = ready.send(Ok(()));
    reactor.block_on(core_main(ctx, listener, mine, shutdown_timeout));
    tracing::info!(core, "core stopped");
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

async fn core_main(ctx: Rc<CoreCtx>, listener: Fd, mine: Vec<usize>, shutdown_timeout: Duration) {
    // Background work of this core's mountpaths: leftovers from earlier runs.
    for mp in mine {
        empty_trash(&ctx, mp);
    }
    let acceptor = rio::spawn(accept_loop(ctx.clone(), listener));
    let sweeper = rio::spawn(sweep_waiting(ctx.clone()));
    // The control loop: bus messages until shutdown.
    loop {
        let (from, msg) = ctx.bus.recv(ctx.core).await;
        match msg {
            BusMsg::Shutdown => break,
            BusMsg::EmptyTrash { mountpath } => empty_trash(&ctx, mountpath),
            BusMsg::Ping(v) => {
                let _ = ctx
                    .bus
                    .send(ctx.core, from.min(ctx.bus.cores() - 1), BusMsg::Pong(v));
            }
            BusMsg::Pong(_) => {}
            BusMsg::Owners(o) => {
                tracing::info!(core = ctx.core, from, owners = ?o, "mountpath owners changed");
                *ctx.owners.borrow_mut() = o;
            }
        }
    }
    // Shutdown: stop accepting (dropping the task cancels the accept and closes the listener),
    // wake idle connections so they close, let busy ones finish their request.
    drop(acceptor);
    drop(sweeper);
    ctx.shutting_down.set(true);
    for (_, c) in ctx.conns.borrow().iter() {
        if c.idle {
            sys::shutdown_read(&c.fd);
        }
    }
    let deadline = Instant::now() + shutdown_timeout;
    while !ctx.conns.borrow().is_empty() && Instant::now() < deadline {
        rio::sleep(Duration::from_millis(10)).await;
    }
    let left = ctx.conns.borrow().len();
    if left > 0 {
        tracing::warn!(
            core = ctx.core,
            left,
            "shutdown timeout: closing connections with requests in flight"
        );
    }
}

/// Closes connections that have waited for a request head longer than the idle timeout: idle
/// keep-alive connections, and clients that send a head too slowly (their read side is shut
/// down, so the pending recv ends and the connection closes).
async fn sweep_waiting(ctx: Rc<CoreCtx>) {
    let timeout = ctx.node.idle_timeout;
    let body_timeout = ctx.node.body_timeout;
    let tick =
        (timeout.min(body_timeout) / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        rio::sleep(tick).await;
        let now = Instant::now();
        for (_, c) in ctx.conns.borrow().iter() {
            let head_late = c
                .waiting_since
                .is_some_and(|t| now.duration_since(t) >= timeout);
            let body_late = c
                .body_wait_since
                .is_some_and(|t| now.duration_since(t) >= body_timeout);
            if head_late || body_late {
                sys::shutdown_read(&c.fd);
            }
        }
    }
}

fn empty_trash(ctx: &Rc<CoreCtx>, mp: usize) {
    let store = ctx.store.clone();
    let core = ctx.core;
    rio::spawn(async move {
        match rio::spawn_blocking(move || store.empty_trash_blocking(mp)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(core, mountpath = mp, removed = n, "emptied trash"),
            Err(e) => tracing::warn!(core, mountpath = mp, "emptying trash failed: {e}"),
        }
    })
    .detach();
}

async fn accept_loop(ctx: Rc<CoreCtx>, listener: Fd) {
    // One multishot accept SQE serves many connections; the kernel ends it on some errors (and
    // when the completion queue overflows), then it is armed again.
    let mut stream: Option<rio::AcceptMulti> = None;
    loop {
        if ctx.conns.borrow().len() >= CONNS_PER_CORE_MAX {
            // At the limit: stop accepting (connections already accepted but not taken are
            // closed) and let the backlog hold new ones until a connection closes.
            stream = None;
            rio::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let next = stream
            .get_or_insert_with(|| rio::AcceptMulti::new(&listener))
            .next()
            .await;
        let fd = match next {
            Some(Ok(fd)) => fd,
            None => {
                stream = None;
                continue;
            }
            Some(Err(e)) => {
                match e.raw_os_error() {
                    Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS)
                    | Some(libc::ENOMEM) => {
                        tracing::warn!(core = ctx.core, "accept: {e}; backing off");
                        stream = None;
                        rio::sleep(Duration::from_millis(50)).await;
                    }
                    _ => tracing::debug!(core = ctx.core, "accept: {e}"),
                }
                continue;
            }
        };
        let _ = sys::set_nodelay(&fd);
        if let Err(e) = sys::set_nonblocking(&fd) {
            tracing::warn!("set_nonblocking: {e}");
            continue;
        }
        let peer = sys::peer_addr(&fd)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let slot = ctx.conns.borrow_mut().insert(ConnEntry {
            fd: fd.clone(),
            idle: true,
            waiting_since: Some(Instant::now()),
            body_wait_since: None,
        });
        ctx.rec.stats.conns_accepted.add(1);
        let c = ctx.clone();
        rio::spawn(async move {
            let conn = Conn::new(fd, c.clone(), peer, slot);
            serve(conn).await;
            c.conns.borrow_mut().remove(slot);
            c.rec.stats.conns_closed.add(1);
        })
        .detach();
    }
}

/// Serves requests on one connection until it closes.
async fn serve(mut conn: Conn) {
    let mut head = net::head::RequestHead::default();
    loop {
        match conn.next_head(&mut head).await {
            NextHead::Closed => return,
            NextHead::Bad(status, msg) => {
                api::send_bad_head(&mut conn, status, &msg).await;
                conn.linger_close().await;
                return;
            }
            NextHead::Request => {
                let keep = api::handle(&mut conn, &head).await;
                if !keep {
                    if !conn.body_done() || conn.has_buffered() {
                        conn.linger_close().await;
                    }
                    return;
                }
                if conn.core.shutting_down() && !conn.has_buffered() {
                    return;
                }
            }
        }
    }
}
