//! One core: its reactor thread, listener, connections, bus inbox and mountpath shard.
//!
//! Architecture invariants:
//! - A connection is served start to end by the core that accepted it.
//! - Per-core state (`CoreCtx`) is touched only by its own thread; other cores reach it through
//!   the bus.
//! - A core owns the background work of the mountpaths assigned to it (`MountpathSet::owners`).

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use engine::cache::CoreView;
use engine::io::{self as rio, sys, Fd, Reactor, ReactorConfig};
use engine::mountpath::MountpathId;
use engine::store::Store;
use slab::Slab;

use crate::bus::{Bus, BusMsg};
use crate::ctx::{ConnEntry, CoreCtx, NodeInfo, RECV_BUFS};
use crate::http::{Conn, NextHead};
use crate::stats::CoreRecorder;
use crate::{ais, s3};

pub use crate::config::CONNS_PER_CORE_MAX;
/// Connections over the limit being answered 503 at once per core; past this, one over the
/// limit is closed without an answer (the core keeps serving its others either way).
pub const CONNS_REFUSING_MAX: usize = 256;
/// A connection has at most a few ops in flight at once (a receive, a send or splice pair, a
/// poll): the core's connections stay far inside its reactor's bound on ops in flight.
const _: () = assert!((CONNS_PER_CORE_MAX + CONNS_REFUSING_MAX) * 8 < engine::io::OPS_INFLIGHT_MAX);

/// What a core thread starts with.
pub struct CoreStart {
    pub core: usize,
    /// The CPU to pin the thread to, if pinning.
    pub cpu: Option<usize>,
    pub listen: SocketAddr,
    pub store: Arc<Store>,
    pub node: Arc<NodeInfo>,
    pub bus: Arc<Bus>,
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
    if let Some(cc) = &node.tcp_congestion {
        if let Err(e) = sys::set_congestion(&listener, cc) {
            let _ = ready.send(Err(format!(
                "--tcp-congestion {cc}: {e} (see /proc/sys/net/ipv4/tcp_available_congestion_control \
                 and tcp_allowed_congestion_control)"
            )));
            return;
        }
    }
    let mine: Vec<usize> = store
        .mountpaths()
        .owners(node.cores)
        .iter()
        .enumerate()
        .filter(|(_, &c)| c == core)
        .map(|(i, _)| i)
        .collect();
    let cc = sys::congestion(&listener).unwrap_or_default();
    tracing::info!(core, ?cpu, mountpaths = ?mine, tcp_congestion = %cc, "core started");
    let ctx = Rc::new(CoreCtx {
        core,
        store,
        bus,
        recv_multishot: rio::recv_multi_available(),
        shutting_down: Cell::new(false),
        conns: RefCell::new(Slab::with_capacity(1024)),
        conns_refusing: Cell::new(0),
        put_inflight: Cell::new(0),
        body_bufs: RefCell::new(Vec::new()),
        put_bufs: OnceCell::new(),
        rec: CoreRecorder::new(node.stats[core].clone()),
        view: CoreView::new(node.objects_cached_per_core),
        auth_cache: RefCell::new(crate::auth::TokenCache::default()),
        node,
    });
    let _ = ready.send(Ok(()));
    reactor.block_on(core_main(ctx, listener, mine, shutdown_timeout));
    // How well the S3 PUTs' MD5s filled the lanes (`md5mb`): lane use = lane_blocks / (16 x
    // rounds); scalar blocks are lone streams and partial-block tails.
    let md5 = engine::io::md5mb::stats();
    tracing::info!(
        core,
        md5_flushes = md5.flushes,
        md5_batched = md5.batched,
        md5_immediate = md5.immediate,
        md5_rounds = md5.rounds,
        md5_lane_blocks = md5.lane_blocks,
        md5_scalar_blocks = md5.scalar_blocks,
        "core stopped"
    );
}

async fn core_main(ctx: Rc<CoreCtx>, listener: Fd, mine: Vec<usize>, shutdown_timeout: Duration) {
    // Background work of this core's mountpaths: leftovers from earlier runs.
    for mp in mine {
        empty_trash(&ctx, MountpathId::new(mp));
    }
    let acceptor = rio::spawn(accept_loop(ctx.clone(), listener));
    let sweeper = rio::spawn(sweep_waiting(ctx.clone()));
    let cache_sweeper = rio::spawn(sweep_cache(ctx.clone()));
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
        }
    }
    // Shutdown: stop accepting (dropping the task cancels the accept and closes the listener),
    // wake idle connections so they close, let busy ones finish their request.
    drop(acceptor);
    drop(sweeper);
    drop(cache_sweeper);
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

/// How often a core closes its cached objects that were deleted or replaced (on any core):
/// their files' blocks are freed within about this long of the DELETE or overwrite. A tick
/// with nothing invalidated node-wide costs one atomic load.
const CACHE_SWEEP_TICK: Duration = Duration::from_millis(100);

/// Closes this core's stale cache entries promptly, so deleted and replaced files do not stay
/// open (and their space allocated) until looked up again.
async fn sweep_cache(ctx: Rc<CoreCtx>) {
    loop {
        rio::sleep(CACHE_SWEEP_TICK).await;
        if ctx.store.sweep_view(&ctx.view) > 0 {
            ctx.rec.stats.cache_swept.set(ctx.view.swept_entries.get());
        }
    }
}

fn empty_trash(ctx: &Rc<CoreCtx>, mp: MountpathId) {
    let store = ctx.store.clone();
    let core = ctx.core;
    rio::spawn(async move {
        match rio::spawn_blocking(move || store.empty_trash_blocking(mp)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(core, mountpath = %mp, removed = n, "emptied trash"),
            Err(e) => tracing::warn!(core, mountpath = %mp, "emptying trash failed: {e}"),
        }
    })
    .detach();
}

async fn accept_loop(ctx: Rc<CoreCtx>, listener: Fd) {
    // One multishot accept SQE serves many connections; the kernel ends it on some errors (and
    // when the completion queue overflows), then it is armed again.
    let mut stream: Option<rio::AcceptMulti> = None;
    loop {
        if ctx.conns.borrow().len() >= CONNS_PER_CORE_MAX + CONNS_REFUSING_MAX {
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
        // HTTPS: the connection served from here on is the plaintext end of a socket pair
        // whose other end a TLS pump feeds (`tls::pump`).
        let fd = match &ctx.node.tls {
            None => fd,
            Some(tls) => match start_tls(&ctx, tls, fd, &peer) {
                Some(app) => app,
                None => continue,
            },
        };
        let served = ctx.conns.borrow().len() - ctx.conns_refusing.get();
        if served >= ctx.node.conns_per_core_max {
            refuse_conn(&ctx, fd, peer);
            continue;
        }
        let slot = ctx.conns.borrow_mut().insert(ConnEntry {
            fd: fd.clone(),
            idle: true,
            waiting_since: Some(Instant::now()),
            body_wait_since: None,
        });
        ctx.rec.stats.conns_accepted.add(1);
        let c = ctx.clone();
        rio::spawn(async move {
            let conn = Conn::new(fd, c.clone(), peer.clone(), slot);
            // A panic while serving closes this connection only (its state is dropped, its
            // socket closed); the core and its other connections go on.
            if let Err(msg) = (CatchUnwind(Box::pin(serve(conn)))).await {
                c.rec.stats.conn_panics.add(1);
                tracing::error!(
                    core = c.core,
                    peer,
                    "panic while serving a connection (closed): {msg}"
                );
            }
            c.conns.borrow_mut().remove(slot);
            c.rec.stats.conns_closed.add(1);
        })
        .detach();
    }
}

/// Starts the TLS pump of a new connection on this core; returns the end of its socket pair
/// to serve as the connection (`None`: it could not start, the connection is closed).
fn start_tls(ctx: &Rc<CoreCtx>, tls: &crate::tls::Tls, tcp: Fd, peer: &str) -> Option<Fd> {
    let session = match rustls::ServerConnection::new(tls.config.clone()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(core = ctx.core, peer, "TLS session: {e}");
            return None;
        }
    };
    let (app, pump_end) = match sys::socketpair_stream() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(
                core = ctx.core,
                peer,
                "socketpair for a TLS connection: {e}"
            );
            return None;
        }
    };
    rio::spawn(crate::tls::pump::run(
        tcp,
        pump_end,
        session,
        peer.to_string(),
    ))
    .detach();
    Some(app)
}

/// A connection over the core's limit: answered 503 (`ais::send_refusal`) and closed with a
/// lingering close, so the client reads the answer; past `CONNS_REFUSING_MAX` such answers
/// in progress, closed at once. Counted in `aisle_core_conns_refused_count` either way.
fn refuse_conn(ctx: &Rc<CoreCtx>, fd: Fd, peer: String) {
    ctx.rec.stats.conns_refused.add(1);
    if ctx.conns_refusing.get() >= CONNS_REFUSING_MAX {
        return; // `fd` dropped: closed
    }
    let slot = ctx.conns.borrow_mut().insert(ConnEntry {
        fd: fd.clone(),
        idle: true,
        waiting_since: Some(Instant::now()),
        body_wait_since: None,
    });
    ctx.conns_refusing.set(ctx.conns_refusing.get() + 1);
    let c = ctx.clone();
    rio::spawn(async move {
        let mut conn = Conn::new(fd, c.clone(), peer, slot);
        let msg = format!(
            "too many connections: core {} serves at most {} at once; retry later",
            c.core, c.node.conns_per_core_max
        );
        ais::send_refusal(&mut conn, &msg).await;
        conn.linger_close().await;
        c.conns.borrow_mut().remove(slot);
        c.conns_refusing.set(c.conns_refusing.get() - 1);
    })
    .detach();
}

/// A future that turns a panic while polling its inner future into `Err(message)`; the inner
/// future is never polled again after a panic (it is dropped with this).
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        // Unwind safety: after a panic the inner future is only dropped, never polled again,
        // so no broken invariant of its state is observed; core-wide state is behind `RefCell`s
        // whose guards are released by the unwinding.
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(panic_message(p.as_ref()))),
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// Answers a PUT refused for its core's in-flight PUT bytes: 503 with `Retry-After`, in the
/// front end's dialect (S3 `SlowDown`), none of its body read; the connection then closes.
async fn refuse_put(conn: &mut Conn, head: &net::head::RequestHead, s3: bool) {
    let msg = match conn.core.node.put_inflight_bytes_per_core {
        Some(max) => format!(
            "too many PUT bytes in flight on core {} (limit {max}); retry later",
            conn.core.core
        ),
        None => "too many PUT bytes in flight; retry later".to_string(),
    };
    let extra: &[(&str, &[u8])] = &[("Retry-After", ais::RETRY_AFTER_SECS)];
    if s3 {
        let e = s3::error::S3Error::new(503, "SlowDown", msg);
        s3::error::send_full(conn, head, &e, extra, false).await;
    } else {
        ais::reply::error_with(conn, head, 503, &msg, false, extra).await;
    }
}

/// Serves requests on one connection until it closes.
async fn serve(mut conn: Conn) {
    let mut head = net::head::RequestHead::default();
    loop {
        match conn.next_head(&mut head).await {
            NextHead::Closed => return,
            NextHead::Bad(status, msg) => {
                ais::send_bad_head(&mut conn, status, &msg).await;
                conn.linger_close().await;
                return;
            }
            NextHead::Request => {
                let s3_rest = s3::route(&head.path, conn.core.node.s3_at_root);
                // A PUT body counts against the core's in-flight PUT bytes while it is served.
                let has_body = head.chunked || head.content_length.is_some_and(|n| n > 0);
                let _admitted = if head.method == net::head::Method::Put && has_body {
                    let declared = if head.chunked {
                        None
                    } else {
                        head.content_length
                    };
                    match conn.core.admit_put(declared) {
                        Some(a) => Some(a),
                        None => {
                            refuse_put(&mut conn, &head, s3_rest.is_some()).await;
                            conn.linger_close().await;
                            return;
                        }
                    }
                } else {
                    None
                };
                let keep = match s3_rest {
                    Some(rest) => s3::handle(&mut conn, &head, rest).await,
                    None => ais::handle(&mut conn, &head).await,
                };
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
