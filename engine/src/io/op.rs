//! `Op<T>`: the future of one submitted io_uring operation and the resources it lends the kernel.
//!
//! `T` holds everything the SQE points at (buffers, paths, timespecs, fd clones). The future
//! returns `T` with the result. If the future is dropped first, `T` moves into the op's slot
//! (`Slot::Ignored`) and is freed only when the completion is reaped; a cancel is requested so
//! that an op that could wait forever (recv, accept, poll) ends promptly.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use io_uring::squeue;

use super::reactor::{with_inner, Slot};

/// The raw completion of an op.
#[derive(Clone, Copy, Debug)]
pub struct Completion {
    /// The CQE result: a count, an fd, or a negated errno.
    pub res: i32,
    /// The CQE flags.
    #[allow(dead_code)] // used by multishot ops (buffer ids, F_MORE)
    pub flags: u32,
}

impl Completion {
    /// The result as `io::Result`, with negative values turned into OS errors.
    pub fn result(self) -> io::Result<u32> {
        if self.res < 0 {
            Err(io::Error::from_raw_os_error(-self.res))
        } else {
            Ok(self.res as u32)
        }
    }
}

/// A submitted op. Await it to get the completion and the resources back.
pub(crate) struct Op<T: 'static> {
    key: usize,
    generation: u32,
    data: Option<T>,
}

impl<T: 'static> Op<T> {
    /// Submits `sqe`, whose pointers must all point into `data` (or into memory that outlives
    /// the op), and takes ownership of `data` until the completion.
    ///
    /// # Safety
    /// Every pointer in `sqe` must stay valid while `data` lives and must not move when `data`
    /// is moved (heap allocations, not inline arrays).
    pub(crate) unsafe fn submit(data: T, sqe: squeue::Entry) -> Op<T> {
        let (key, generation) = with_inner(|inner| inner.push_op(sqe));
        Op {
            key,
            generation,
            data: Some(data),
        }
    }
}

impl<T: 'static + Unpin> Future for Op<T> {
    type Output = (Completion, T);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let key = self.key;
        let done = with_inner(|inner| {
            let mut ops = inner.ops.borrow_mut();
            let entry = ops
                .get_mut(key)
                .expect("op slot vanished while its future lives");
            match &mut entry.slot {
                Slot::Done(res, flags) => {
                    let c = Completion {
                        res: *res,
                        flags: *flags,
                    };
                    ops.remove(key);
                    Some(c)
                }
                Slot::Pending(waker) => {
                    match waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => *waker = Some(cx.waker().clone()),
                    }
                    None
                }
                Slot::Ignored(_) | Slot::Multi { .. } | Slot::MultiIgnored { .. } => {
                    unreachable!("a single-shot future's slot is pending or done")
                }
            }
        });
        match done {
            Some(c) => {
                let data = self.data.take().expect("op polled after completion");
                Poll::Ready((c, data))
            }
            None => Poll::Pending,
        }
    }
}

impl<T: 'static> Drop for Op<T> {
    fn drop(&mut self) {
        let Some(data) = self.data.take() else { return };
        let (key, generation) = (self.key, self.generation);
        with_inner(|inner| {
            let mut ops = inner.ops.borrow_mut();
            let Some(entry) = ops.get_mut(key) else {
                return;
            };
            match entry.slot {
                Slot::Done(..) => {
                    ops.remove(key);
                    drop(data);
                }
                Slot::Pending(_) => {
                    entry.slot = Slot::Ignored(Box::new(data));
                    drop(ops);
                    inner.cancel_op(key, generation);
                }
                Slot::Ignored(_) | Slot::Multi { .. } | Slot::MultiIgnored { .. } => {
                    unreachable!("a single-shot op is dropped once, from pending or done")
                }
            }
        });
    }
}
