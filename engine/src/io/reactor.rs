//! The reactor: one io_uring ring, one op table and one run queue per core thread.
//!
//! Tasks are `async-task` runnables. A wake from the owning thread pushes onto the local queue;
//! a wake from any other thread (the blocking pool, a peer core) pushes onto a lock-free remote
//! queue and writes the core's eventfd, on which the ring always has a read outstanding, so a
//! sleeping core wakes from its own ring. The loop: run ready tasks (bounded batch), move remote
//! runnables over, submit and, only when nothing is runnable, wait for one completion; then reap
//! every completion and wake the op's task.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_task::Runnable;
use crossbeam::queue::SegQueue;
use io_uring::{opcode, squeue, types, IoUring};
use slab::Slab;

use super::bufring::{BufRing, RECV_BGID};

/// `user_data` of the eventfd read that wakes a sleeping core.
const UD_EVENTFD: u64 = u64::MAX - 1;
/// `user_data` of cancel requests, whose completions are ignored.
const UD_CANCEL: u64 = u64::MAX;
/// Runnables polled per loop turn before the ring is looked at again.
const RUN_BATCH_MAX: usize = 128;
/// `IORING_ENTER_GETEVENTS`: runs deferred task work and reaps completions.
const ENTER_GETEVENTS: u32 = 1;

/// Ops one reactor may have in flight: slots in its op table, each a submitted op whose last
/// completion is not yet reaped (or whose future has not yet taken it). Asserted at every
/// push. The bound comes from the op table's sizing: a slot index is the low 32 bits of
/// `user_data`, and must never reach the reserved values (`UD_EVENTFD`, `UD_CANCEL`, whose low
/// halves are `0xffff_fffe` and `0xffff_ffff`) whatever the generation in the high half; 2^20
/// slots (about 48 MiB of table) is far above what the users need (a node core serves at most
/// `CONNS_PER_CORE_MAX` = 16 Ki connections with a few ops each) and far below that limit.
/// Completions beyond the completion queue's size wait in the kernel's overflow list
/// (IORING_FEAT_NODROP), so the ring itself sets no lower bound.
pub const OPS_INFLIGHT_MAX: usize = 1 << 20;
const _: () = assert!((OPS_INFLIGHT_MAX as u64) < (UD_EVENTFD & 0xffff_ffff));
const _: () = assert!((OPS_INFLIGHT_MAX as u64) < (UD_CANCEL & 0xffff_ffff));
/// How long a reactor's teardown waits, in all, for the completions of the ops it cancels.
const TEARDOWN_WAIT_MAX: Duration = Duration::from_secs(10);
/// One wait of the teardown for completions.
const TEARDOWN_WAIT_STEP: Duration = Duration::from_millis(100);

/// A task handle; dropping it cancels the task, `detach()` lets it run on.
pub type JoinHandle<T> = async_task::Task<T>;

/// How to build a core's ring.
#[derive(Clone, Debug)]
pub struct ReactorConfig {
    /// Submission queue entries (the completion queue gets twice as many).
    pub ring_entries: u32,
    /// Use IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN (completions run only when we ask).
    pub defer_taskrun: bool,
    /// Provided buffers for multishot receives (a power of two; 0, the default: none,
    /// receives use the caller's buffers only).
    pub recv_bufs: u16,
    /// Size of each provided receive buffer.
    pub recv_buf_bytes: u32,
}

impl Default for ReactorConfig {
    fn default() -> Self {
        ReactorConfig {
            ring_entries: 1024,
            defer_taskrun: true,
            recv_bufs: 0,
            recv_buf_bytes: 4096,
        }
    }
}

/// State a core shares with other threads: its remote run queue and wake-up eventfd.
pub(crate) struct Shared {
    id: usize,
    remote: SegQueue<Runnable>,
    eventfd: OwnedFd,
    notified: AtomicBool,
}

impl Shared {
    fn notify(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to an eventfd we own; the result is
            // ignored because a full counter (EAGAIN) still means the core will wake.
            unsafe {
                libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8);
            }
        }
    }

    fn schedule(self: &Arc<Self>, runnable: Runnable) {
        if CURRENT_ID.with(|c| c.get()) == self.id {
            let queued = CURRENT.with(|cur| {
                if let Some(inner) = cur.borrow().as_ref() {
                    inner.local.borrow_mut().push_back(runnable);
                    None
                } else {
                    Some(runnable)
                }
            });
            if let Some(runnable) = queued {
                // The reactor is being torn down: dropping the runnable cancels the task.
                drop(runnable);
            }
        } else {
            self.remote.push(runnable);
            self.notify();
        }
    }
}

/// A `Send` handle to wake a core from another thread (used by the cross-core bus).
#[derive(Clone)]
pub struct RemoteHandle(Arc<Shared>);

impl RemoteHandle {
    /// Wakes the core if it sleeps in its ring; cheap when it is already awake.
    pub fn notify(&self) {
        self.0.notify();
    }
}

pub(crate) enum Slot {
    /// Submitted; the waker of the task that awaits it, once polled.
    Pending(Option<Waker>),
    /// Completed with `(res, flags)`, not yet taken by its future.
    Done(i32, u32),
    /// Its future was dropped: the resources the kernel may still use wait here for the CQE.
    Ignored(#[allow(dead_code)] Box<dyn Any>),
    /// A multishot op: completions queue here until its stream takes them; `finished` once a
    /// CQE without IORING_CQE_F_MORE arrived (the kernel will post no more).
    Multi {
        ready: VecDeque<(i32, u32)>,
        waker: Option<Waker>,
        finished: bool,
        #[allow(dead_code)]
        keep: Box<dyn Any>,
    },
    /// A multishot op whose stream was dropped: completions are discarded (what they hand
    /// over released, per `leftover`) until the last one, then the slot is freed.
    MultiIgnored {
        leftover: Leftover,
        #[allow(dead_code)]
        keep: Box<dyn Any>,
    },
}

/// What a multishot completion hands over that must be released when nobody takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leftover {
    /// A new descriptor in the result (accept).
    Fd,
    /// A provided buffer named in the flags (receive with buffer select).
    Buffer,
}

impl Inner {
    /// Releases what one completion of a multishot op handed over.
    pub(crate) fn release(&self, leftover: Leftover, res: i32, flags: u32) {
        match leftover {
            Leftover::Fd => {
                if res >= 0 {
                    // SAFETY: a descriptor the kernel created for a stream nobody reads.
                    unsafe { libc::close(res) };
                }
            }
            Leftover::Buffer => {
                if let Some(bid) = io_uring::cqueue::buffer_select(flags) {
                    let ring = self
                        .bufring
                        .as_ref()
                        .expect("buffer completion without a ring");
                    ring.publish(bid);
                }
            }
        }
    }
}

pub(crate) struct Entry {
    pub(crate) generation: u32,
    pub(crate) slot: Slot,
}

pub(crate) struct Inner {
    ring: RefCell<IoUring>,
    pub(crate) ops: RefCell<Slab<Entry>>,
    generation: Cell<u32>,
    local: RefCell<VecDeque<Runnable>>,
    shared: Arc<Shared>,
    core: usize,
    eventfd_buf: Box<Cell<u64>>,
    eventfd_armed: Cell<bool>,
    /// Provided receive buffers; declared after `ring` so the ring closes first.
    pub(crate) bufring: Option<BufRing>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Ops still in flight may yet select a buffer: keep the mapping rather than risk a
        // kernel write into memory that is reused (only at teardown with ops left, so bounded).
        if !self.ops.get_mut().is_empty() {
            std::mem::forget(self.bufring.take());
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Inner>>> = const { RefCell::new(None) };
    static CURRENT_ID: Cell<usize> = const { Cell::new(0) };
}

static NEXT_REACTOR_ID: AtomicUsize = AtomicUsize::new(1);

/// Runs `f` with the current thread's reactor; panics off a core thread (a programmer error).
pub(crate) fn with_inner<R>(f: impl FnOnce(&Rc<Inner>) -> R) -> R {
    CURRENT.with(|cur| {
        let cur = cur.borrow();
        let inner = cur.as_ref().expect("io op used outside a reactor thread");
        f(inner)
    })
}

/// The index of the core this thread runs (0 off a core thread).
pub fn core_index() -> usize {
    CURRENT.with(|cur| cur.borrow().as_ref().map(|i| i.core).unwrap_or(0))
}

impl Inner {
    /// Pushes one SQE for a new op slot and returns `(slot index, generation)`.
    pub(crate) fn push_op(&self, sqe: squeue::Entry) -> (usize, u32) {
        self.push_op_with(sqe, Slot::Pending(None))
    }

    /// `push_op` with the slot's initial state (multishot ops start as `Slot::Multi`).
    pub(crate) fn push_op_with(&self, sqe: squeue::Entry, slot: Slot) -> (usize, u32) {
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        let key = {
            let mut ops = self.ops.borrow_mut();
            assert!(
                ops.len() < OPS_INFLIGHT_MAX,
                "ops in flight would pass OPS_INFLIGHT_MAX ({OPS_INFLIGHT_MAX})"
            );
            let key = ops.insert(Entry { generation, slot });
            // A slab fills its vacant keys first: a key is below the number of slots.
            assert!(
                key < OPS_INFLIGHT_MAX,
                "op slot {key} past OPS_INFLIGHT_MAX"
            );
            key
        };
        let user_data = ((generation as u64) << 32) | key as u64;
        self.push_sqe(sqe.user_data(user_data));
        (key, generation)
    }

    /// Asks the kernel to cancel the op in slot `key`; its CQE still arrives.
    pub(crate) fn cancel_op(&self, key: usize, generation: u32) {
        let user_data = ((generation as u64) << 32) | key as u64;
        let sqe = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(UD_CANCEL);
        self.push_sqe(sqe);
    }

    fn push_sqe(&self, sqe: squeue::Entry) {
        let mut ring = self.ring.borrow_mut();
        loop {
            // SAFETY: every SQE's pointers refer to memory owned by its op slot (or by this
            // reactor for the eventfd read) and stay valid until the CQE is reaped.
            if unsafe { ring.submission().push(&sqe) }.is_ok() {
                return;
            }
            // The submission queue is full: hand what we have to the kernel and retry.
            if let Err(e) = ring.submit() {
                assert!(
                    e.raw_os_error() == Some(libc::EBUSY) || e.raw_os_error() == Some(libc::EINTR),
                    "io_uring submit failed: {e}"
                );
            }
        }
    }

    fn arm_eventfd(&self) {
        if self.eventfd_armed.get() {
            return;
        }
        let sqe = opcode::Read::new(
            types::Fd(self.shared.eventfd.as_raw_fd()),
            self.eventfd_buf.as_ptr().cast(),
            8,
        )
        .build()
        .user_data(UD_EVENTFD);
        self.push_sqe(sqe);
        self.eventfd_armed.set(true);
    }

    /// Submits queued SQEs; waits for one completion when `wait` is set.
    fn submit(&self, wait: bool) {
        let mut ring = self.ring.borrow_mut();
        let to_submit = {
            let mut sq = ring.submission();
            sq.sync();
            sq.len() as u32
        };
        let submitter = ring.submitter();
        let min_complete = if wait { 1 } else { 0 };
        // SAFETY: raw io_uring_enter with no extra argument; GETEVENTS runs deferred task work.
        let res = unsafe {
            submitter.enter::<libc::sigset_t>(to_submit, min_complete, ENTER_GETEVENTS, None)
        };
        if let Err(e) = res {
            match e.raw_os_error() {
                Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN) | Some(libc::ETIME) => {}
                _ => panic!("io_uring_enter failed: {e}"),
            }
        }
    }

    /// Submits queued SQEs and waits up to `timeout` for one completion.
    fn submit_wait_for(&self, timeout: Duration) {
        let ring = self.ring.borrow();
        let ts = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&ts);
        if let Err(e) = ring.submitter().submit_with_args(1, &args) {
            match e.raw_os_error() {
                Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN) | Some(libc::ETIME) => {}
                _ => panic!("io_uring_enter failed: {e}"),
            }
        }
    }

    /// The ops whose slots still wait for a completion from the kernel (a single-shot op not
    /// yet complete, or a multishot op not yet finished), as `(slot index, generation)`.
    fn awaiting_completion(&self) -> Vec<(usize, u32)> {
        self.ops
            .borrow()
            .iter()
            .filter(|(_, e)| match &e.slot {
                Slot::Pending(_) | Slot::Ignored(_) | Slot::MultiIgnored { .. } => true,
                Slot::Multi { finished, .. } => !finished,
                Slot::Done(..) => false,
            })
            .map(|(k, e)| (k, e.generation))
            .collect()
    }

    /// Drops every queued runnable (cancelling its task: its future is dropped, and ops it
    /// owned park their resources and ask for a cancel), until none is queued.
    fn drop_queued(&self) {
        loop {
            let mut queued: Vec<Runnable> = self.local.borrow_mut().drain(..).collect();
            while let Some(r) = self.shared.remote.pop() {
                queued.push(r);
            }
            if queued.is_empty() {
                return;
            }
            drop(queued);
        }
    }

    /// Reaps every available completion; returns the wakers to call.
    fn reap(&self, wakers: &mut Vec<Waker>) {
        let mut ring = self.ring.borrow_mut();
        let mut ops = self.ops.borrow_mut();
        for cqe in ring.completion() {
            let user_data = cqe.user_data();
            match user_data {
                UD_CANCEL => continue,
                UD_EVENTFD => {
                    self.eventfd_armed.set(false);
                    self.shared.notified.store(false, Ordering::Release);
                    continue;
                }
                _ => {}
            }
            let key = (user_data & 0xffff_ffff) as usize;
            let generation = (user_data >> 32) as u32;
            let entry = ops.get_mut(key).expect("completion for an unknown op slot");
            assert_eq!(
                entry.generation, generation,
                "completion for a recycled op slot"
            );
            match &mut entry.slot {
                Slot::Pending(waker) => {
                    if let Some(w) = waker.take() {
                        wakers.push(w);
                    }
                    entry.slot = Slot::Done(cqe.result(), cqe.flags());
                }
                Slot::Ignored(_) => {
                    ops.remove(key);
                }
                Slot::Multi {
                    ready,
                    waker,
                    finished,
                    ..
                } => {
                    if let Some(bid) = io_uring::cqueue::buffer_select(cqe.flags()) {
                        self.bufring
                            .as_ref()
                            .expect("buffer completion without a ring")
                            .taken(bid);
                    }
                    ready.push_back((cqe.result(), cqe.flags()));
                    if !io_uring::cqueue::more(cqe.flags()) {
                        *finished = true;
                    }
                    if let Some(w) = waker.take() {
                        wakers.push(w);
                    }
                }
                Slot::MultiIgnored { leftover, .. } => {
                    if let Some(bid) = io_uring::cqueue::buffer_select(cqe.flags()) {
                        self.bufring
                            .as_ref()
                            .expect("buffer completion without a ring")
                            .taken(bid);
                    }
                    self.release(*leftover, cqe.result(), cqe.flags());
                    if !io_uring::cqueue::more(cqe.flags()) {
                        ops.remove(key);
                    }
                }
                Slot::Done(..) => panic!("second completion for a single-shot op"),
            }
        }
    }
}

/// One core's reactor. Create it on the thread that will run it.
pub struct Reactor {
    inner: Rc<Inner>,
}

impl Reactor {
    /// Builds the ring and the wake-up eventfd for `core`, and installs the reactor as this
    /// thread's current one.
    pub fn new(core: usize, cfg: &ReactorConfig) -> io::Result<Reactor> {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cfg.ring_entries * 2);
        if cfg.defer_taskrun {
            builder.setup_single_issuer().setup_defer_taskrun();
        }
        let ring = builder.build(cfg.ring_entries)?;
        let bufring = if cfg.recv_bufs > 0 {
            let br = BufRing::new(cfg.recv_bufs, cfg.recv_buf_bytes)?;
            // SAFETY: the ring array lives in `br`, which outlives the registration: `Inner`
            // drops the io_uring first, and leaks `br` if ops were still in flight.
            match unsafe {
                ring.submitter().register_buf_ring_with_flags(
                    br.ring_addr(),
                    br.entries(),
                    RECV_BGID,
                    0,
                )
            } {
                Ok(()) => Some(br),
                Err(e) => {
                    tracing::warn!("core {core}: no provided-buffer ring ({e}); receives use per-connection buffers");
                    None
                }
            }
        } else {
            None
        };
        // SAFETY: eventfd returns a new descriptor or -1, checked below.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(io::Error::last_os_error());
        }
        let id = NEXT_REACTOR_ID.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            id,
            remote: SegQueue::new(),
            // SAFETY: efd is a fresh descriptor nobody else owns.
            eventfd: unsafe { OwnedFd::from_raw_fd(efd) },
            notified: AtomicBool::new(false),
        });
        let inner = Rc::new(Inner {
            ring: RefCell::new(ring),
            ops: RefCell::new(Slab::with_capacity(4096)),
            generation: Cell::new(0),
            local: RefCell::new(VecDeque::with_capacity(1024)),
            shared,
            core,
            eventfd_buf: Box::new(Cell::new(0)),
            eventfd_armed: Cell::new(false),
            bufring,
        });
        CURRENT.with(|c| {
            assert!(c.borrow().is_none(), "a thread runs at most one reactor");
            *c.borrow_mut() = Some(inner.clone());
        });
        CURRENT_ID.with(|c| c.set(id));
        Ok(Reactor { inner })
    }

    /// A handle other threads use to wake this core.
    pub fn remote_handle(&self) -> RemoteHandle {
        RemoteHandle(self.inner.shared.clone())
    }

    /// Runs `fut` and every task it spawns until `fut` completes.
    pub fn block_on<T: 'static>(&self, fut: impl Future<Output = T> + 'static) -> T {
        let out: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
        let out2 = out.clone();
        spawn(async move {
            let v = fut.await;
            *out2.borrow_mut() = Some(v);
        })
        .detach();
        let inner = &self.inner;
        let mut wakers = Vec::with_capacity(256);
        loop {
            for _ in 0..RUN_BATCH_MAX {
                let next = inner.local.borrow_mut().pop_front();
                match next {
                    Some(r) => {
                        r.run();
                    }
                    None => break,
                }
            }
            if let Some(v) = out.borrow_mut().take() {
                return v;
            }
            while let Some(r) = inner.shared.remote.pop() {
                inner.local.borrow_mut().push_back(r);
            }
            inner.arm_eventfd();
            let idle = inner.local.borrow().is_empty();
            inner.submit(idle);
            inner.reap(&mut wakers);
            for w in wakers.drain(..) {
                w.wake();
            }
        }
    }

    /// Number of ops submitted and not yet reaped (for tests and teardown checks).
    pub fn ops_inflight(&self) -> usize {
        self.inner.ops.borrow().len()
    }

    /// Provided receive buffers currently handed out by completions (for tests).
    pub fn recv_buffers_out(&self) -> u32 {
        self.inner.bufring.as_ref().map_or(0, |b| b.buffers_out())
    }
}

impl Drop for Reactor {
    /// Teardown: cancels every task still queued and every op still in flight, reaps their
    /// completions until none is in flight (a bounded wait), then uninstalls the reactor and
    /// asserts that no op is left: a leftover op is a buffer, path or descriptor the kernel
    /// may still hold, and a leak.
    fn drop(&mut self) {
        let inner = &self.inner;
        if std::thread::panicking() {
            // Unwinding already: no waits, no second panic; the ring's close ends the ops.
            inner.drop_queued();
            CURRENT.with(|c| c.borrow_mut().take());
            CURRENT_ID.with(|c| c.set(0));
            return;
        }
        let deadline = Instant::now() + TEARDOWN_WAIT_MAX;
        let mut cancelled: Vec<(usize, u32)> = Vec::new();
        let mut wakers = Vec::new();
        loop {
            inner.drop_queued();
            let awaiting = inner.awaiting_completion();
            if awaiting.is_empty() || Instant::now() >= deadline {
                break;
            }
            for op in awaiting {
                if !cancelled.contains(&op) {
                    inner.cancel_op(op.0, op.1);
                    cancelled.push(op);
                }
            }
            inner.submit_wait_for(TEARDOWN_WAIT_STEP);
            inner.reap(&mut wakers);
            // A woken task is queued, and dropped (cancelled) on the next turn: its future
            // takes its completed ops out of the table.
            for w in wakers.drain(..) {
                w.wake();
            }
        }
        inner.drop_queued();
        // Uninstall: wakes after this point drop their runnables instead of queueing them.
        CURRENT.with(|c| c.borrow_mut().take());
        CURRENT_ID.with(|c| c.set(0));
        let left = inner.ops.borrow().len();
        assert_eq!(
            left, 0,
            "{left} ops in flight at reactor teardown after cancelling and reaping (futures \
             kept alive past their reactor, or completions that never came)"
        );
    }
}

/// Spawns a task on the current core. Drop the handle to cancel it, or `detach()` it.
pub fn spawn<T: 'static>(fut: impl Future<Output = T> + 'static) -> JoinHandle<T> {
    let shared = with_inner(|i| i.shared.clone());
    let schedule = move |r: Runnable| shared.schedule(r);
    let (runnable, task) = async_task::spawn_local(fut, schedule);
    runnable.schedule();
    task
}

/// Number of ops in flight on this thread's reactor (`Reactor::ops_inflight`, for code that
/// runs inside it, such as tests checking that an op still owns its buffer).
pub fn ops_inflight() -> usize {
    with_inner(|i| i.ops.borrow().len())
}

/// Yields to the other tasks of this core once.
pub async fn yield_now() {
    struct Yield(bool);
    impl Future for Yield {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    Yield(false).await
}

/// The id of this thread's reactor, 0 when there is none. Registered resources (fixed
/// buffers) belong to one ring: ops check this before naming them.
pub(crate) fn current_reactor_id() -> usize {
    CURRENT_ID.with(|c| c.get())
}

/// Registers `bufs` as the current ring's fixed buffers (IORING_REGISTER_BUFFERS); returns
/// the reactor's id.
///
/// # Safety
/// Every iovec must describe memory that stays allocated until the buffers are unregistered
/// or the ring is gone, and a fixed op may name a buffer only while its memory is owned by
/// that op.
pub(crate) unsafe fn register_buffers(bufs: &[libc::iovec]) -> io::Result<usize> {
    with_inner(|inner| {
        let ring = inner.ring.borrow();
        // SAFETY: the caller keeps the memory alive and exclusively lent to fixed ops.
        unsafe { ring.submitter().register_buffers(bufs) }?;
        Ok(current_reactor_id())
    })
}

/// Unregisters the fixed buffers of reactor `id` if it is still this thread's reactor; does
/// nothing during teardown (closing the ring releases them).
pub(crate) fn unregister_buffers(id: usize) {
    if current_reactor_id() != id {
        return;
    }
    let _ = CURRENT.try_with(|cur| {
        let Ok(cur) = cur.try_borrow() else { return };
        if let Some(inner) = cur.as_ref() {
            if let Ok(ring) = inner.ring.try_borrow() {
                let _ = ring.submitter().unregister_buffers();
            }
        }
    });
}
