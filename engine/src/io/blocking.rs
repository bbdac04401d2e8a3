//! The blocking pool: a few plain threads for work that has no io_uring op and may take long
//! (directory walks for listing, bucket metadata files, removing a destroyed bucket's tree).
//!
//! `spawn_blocking` returns a future; the worker stores the result and wakes the task, whose
//! waker moves it onto its core's remote queue and pokes that core's eventfd. The job queue is
//! bounded: when it is full the submitting task yields and retries (backpressure, no growth).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use crossbeam::channel::{self, Receiver, Sender, TrySendError};

type Job = Box<dyn FnOnce() + Send>;

/// Jobs queued before submitters must wait.
const QUEUE_JOBS_MAX: usize = 1024;

/// A fixed set of worker threads.
pub struct BlockingPool {
    tx: Sender<Job>,
}

static POOL: OnceLock<BlockingPool> = OnceLock::new();

impl BlockingPool {
    /// Starts the process-wide pool with `threads` workers (first call wins).
    pub fn init(threads: usize) -> &'static BlockingPool {
        POOL.get_or_init(|| {
            let (tx, rx) = channel::bounded::<Job>(QUEUE_JOBS_MAX);
            for i in 0..threads.max(1) {
                let rx: Receiver<Job> = rx.clone();
                std::thread::Builder::new()
                    .name(format!("aisle-blocking-{i}"))
                    .spawn(move || {
                        while let Ok(job) = rx.recv() {
                            job();
                        }
                    })
                    .expect("spawning a blocking-pool thread");
            }
            BlockingPool { tx }
        })
    }

    fn get() -> &'static BlockingPool {
        BlockingPool::init(2)
    }
}

struct State<R> {
    result: Option<R>,
    waker: Option<Waker>,
}

struct Blocking<R> {
    job: Option<Job>,
    state: Arc<Mutex<State<R>>>,
}

impl<R> Unpin for Blocking<R> {}

impl<R: Send + 'static> Future for Blocking<R> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let mut s = self.state.lock().expect("blocking state lock");
        if let Some(r) = s.result.take() {
            return Poll::Ready(r);
        }
        s.waker = Some(cx.waker().clone());
        drop(s);
        if let Some(job) = self.job.take() {
            match BlockingPool::get().tx.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(job)) => {
                    // Backpressure: keep the job and try again on the next turn.
                    self.job = Some(job);
                    cx.waker().wake_by_ref();
                }
                Err(TrySendError::Disconnected(_)) => unreachable!("the pool lives forever"),
            }
        }
        Poll::Pending
    }
}

/// Runs `f` on the blocking pool and resolves to its result. When the job queue is full the
/// task yields and retries.
pub async fn spawn_blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let state = Arc::new(Mutex::new(State {
        result: None,
        waker: None,
    }));
    let st = state.clone();
    let job: Job = Box::new(move || {
        let r = f();
        let waker = {
            let mut s = st.lock().expect("blocking state lock");
            s.result = Some(r);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    });
    Blocking {
        job: Some(job),
        state,
    }
    .await
}
