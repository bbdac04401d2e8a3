//! Multishot ops: one SQE, many completions. `AcceptMulti` yields accepted connections until
//! the kernel ends the multishot (an error, or a full completion queue): then `next` returns
//! `None` and the caller arms a new one.
//!
//! Resource rules as for single-shot ops (STYLE.md §5): the listener fd is kept in the slot
//! while the kernel may post completions; a dropped stream asks for cancellation, and every fd
//! the kernel still creates for it (or that was queued unread) is closed.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::task::Poll;

use io_uring::{opcode, types};

use super::fd::Fd;
use super::reactor::{with_inner, Slot};

/// A stream of accepted connections from one multishot accept SQE.
pub struct AcceptMulti {
    key: usize,
    generation: u32,
}

impl AcceptMulti {
    /// Arms a multishot accept on `listener`; accepted sockets are close-on-exec.
    pub fn new(listener: &Fd) -> AcceptMulti {
        let sqe = opcode::AcceptMulti::new(types::Fd(listener.raw()))
            .flags(libc::SOCK_CLOEXEC)
            .build();
        let slot = Slot::Multi {
            ready: VecDeque::new(),
            waker: None,
            finished: false,
            keep: Box::new(listener.clone()),
        };
        let (key, generation) = with_inner(|inner| inner.push_op_with(sqe, slot));
        AcceptMulti { key, generation }
    }

    /// The next accepted connection; `None` when this multishot has ended (arm a new one).
    pub async fn next(&mut self) -> Option<io::Result<Fd>> {
        let key = self.key;
        poll_fn(|cx| {
            with_inner(|inner| {
                let mut ops = inner.ops.borrow_mut();
                let entry = ops
                    .get_mut(key)
                    .expect("multishot slot vanished while its stream lives");
                let Slot::Multi {
                    ready,
                    waker,
                    finished,
                    ..
                } = &mut entry.slot
                else {
                    unreachable!("a live stream's slot is multishot")
                };
                if let Some((res, _flags)) = ready.pop_front() {
                    return Poll::Ready(Some(if res < 0 {
                        Err(io::Error::from_raw_os_error(-res))
                    } else {
                        // SAFETY: the kernel created this descriptor for us alone.
                        Ok(unsafe { Fd::from_raw(res) })
                    }));
                }
                if *finished {
                    return Poll::Ready(None);
                }
                *waker = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await
    }
}

impl Drop for AcceptMulti {
    fn drop(&mut self) {
        let (key, generation) = (self.key, self.generation);
        with_inner(|inner| {
            let mut ops = inner.ops.borrow_mut();
            let Some(entry) = ops.get_mut(key) else {
                return;
            };
            let Slot::Multi {
                ready, finished, ..
            } = &mut entry.slot
            else {
                return;
            };
            for (res, _) in ready.drain(..) {
                if res >= 0 {
                    // SAFETY: an accepted descriptor nobody took; we own it.
                    unsafe { libc::close(res) };
                }
            }
            if *finished {
                ops.remove(key);
                return;
            }
            let old = std::mem::replace(&mut entry.slot, Slot::Pending(None));
            let Slot::Multi { keep, .. } = old else {
                unreachable!("checked above")
            };
            entry.slot = Slot::MultiIgnored {
                closes_fds: true,
                keep,
            };
            drop(ops);
            inner.cancel_op(key, generation);
        });
    }
}
