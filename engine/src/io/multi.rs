//! Multishot ops: one SQE, many completions. `AcceptMulti` yields accepted connections and
//! `RecvMulti` received bytes (in provided buffers) until the kernel ends the multishot (an
//! error, end of stream, no free buffer, a full completion queue): then `next` returns `None`
//! and the caller arms a new one if it still wants more.
//!
//! Resource rules as for single-shot ops (STYLE.md §5): the fd is kept in the slot while the
//! kernel may post completions; a dropped stream asks for cancellation, and whatever the kernel
//! still hands over for it (or that was queued unread) is released: accepted fds closed,
//! provided buffers given back to the ring.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::task::Poll;

use io_uring::{opcode, squeue, types};

use super::bufring::RECV_BGID;
use super::fd::Fd;
use super::reactor::{with_inner, Leftover, Slot};

/// The slot of one multishot op, with the completions it queued.
struct MultiStream {
    key: usize,
    generation: u32,
    leftover: Leftover,
}

impl MultiStream {
    fn arm(fd: &Fd, sqe: squeue::Entry, leftover: Leftover) -> MultiStream {
        let slot = Slot::Multi {
            ready: VecDeque::new(),
            waker: None,
            finished: false,
            keep: Box::new(fd.clone()),
        };
        let (key, generation) = with_inner(|inner| inner.push_op_with(sqe, slot));
        MultiStream {
            key,
            generation,
            leftover,
        }
    }

    /// The next completion `(res, flags)`; `None` once the kernel posted its last one.
    async fn next(&mut self) -> Option<(i32, u32)> {
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
                if let Some(c) = ready.pop_front() {
                    return Poll::Ready(Some(c));
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

    /// Whether the kernel posted its last completion and all of them were taken.
    fn is_done(&self) -> bool {
        with_inner(|inner| {
            let ops = inner.ops.borrow();
            match &ops.get(self.key).map(|e| &e.slot) {
                Some(Slot::Multi {
                    ready, finished, ..
                }) => *finished && ready.is_empty(),
                _ => true,
            }
        })
    }

    /// Asks the kernel to stop; completions already posted stay queued for `next`.
    fn cancel(&self) {
        with_inner(|inner| {
            let finished = matches!(
                inner.ops.borrow().get(self.key).map(|e| &e.slot),
                Some(Slot::Multi { finished: true, .. })
            );
            if !finished {
                inner.cancel_op(self.key, self.generation);
            }
        });
    }
}

impl Drop for MultiStream {
    fn drop(&mut self) {
        let (key, generation, leftover) = (self.key, self.generation, self.leftover);
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
            for (res, flags) in ready.drain(..) {
                inner.release(leftover, res, flags);
            }
            if *finished {
                ops.remove(key);
                return;
            }
            let old = std::mem::replace(&mut entry.slot, Slot::Pending(None));
            let Slot::Multi { keep, .. } = old else {
                unreachable!("checked above")
            };
            entry.slot = Slot::MultiIgnored { leftover, keep };
            drop(ops);
            inner.cancel_op(key, generation);
        });
    }
}

/// A stream of accepted connections from one multishot accept SQE.
pub struct AcceptMulti(MultiStream);

impl AcceptMulti {
    /// Arms a multishot accept on `listener`; accepted sockets are close-on-exec.
    pub fn new(listener: &Fd) -> AcceptMulti {
        let sqe = opcode::AcceptMulti::new(types::Fd(listener.raw()))
            .flags(libc::SOCK_CLOEXEC)
            .build();
        AcceptMulti(MultiStream::arm(listener, sqe, Leftover::Fd))
    }

    /// The next accepted connection; `None` when this multishot has ended (arm a new one).
    pub async fn next(&mut self) -> Option<io::Result<Fd>> {
        let (res, _flags) = self.0.next().await?;
        Some(if res < 0 {
            Err(io::Error::from_raw_os_error(-res))
        } else {
            // SAFETY: the kernel created this descriptor for us alone.
            Ok(unsafe { Fd::from_raw(res) })
        })
    }
}

/// Whether this core has provided receive buffers, so `RecvMulti` can be armed.
pub fn recv_multi_available() -> bool {
    with_inner(|inner| inner.bufring.is_some())
}

/// A stream of received bytes from one multishot receive SQE, each completion in a buffer of
/// the core's provided-buffer ring. While it is armed every byte arriving on the socket comes
/// through it, in order; to receive into your own buffer, `cancel` it and drain it first.
pub struct RecvMulti(MultiStream);

/// What one completion of a `RecvMulti` brought.
#[derive(Debug)]
pub enum Received {
    /// `n > 0` bytes were appended to the caller's buffer.
    Data(usize),
    /// The peer closed its side (end of stream; the multishot has ended).
    Eof,
    /// The multishot ended without data: no free buffer (ENOBUFS), cancelled, or a full
    /// completion queue. Nothing was lost; receive by other means or arm again.
    Ended,
}

impl RecvMulti {
    /// Arms a multishot receive on `fd`; needs `recv_multi_available()`.
    pub fn new(fd: &Fd) -> RecvMulti {
        let sqe = opcode::RecvMulti::new(types::Fd(fd.raw()), RECV_BGID).build();
        RecvMulti(MultiStream::arm(fd, sqe, Leftover::Buffer))
    }

    /// Waits for the next completion and appends its bytes to `out` (growing it if needed),
    /// giving the buffer back to the ring at once. `None`: the multishot has ended.
    pub async fn next_into(&mut self, out: &mut Vec<u8>) -> Option<io::Result<Received>> {
        let (res, flags) = self.0.next().await?;
        Some(take(res, flags, out))
    }

    /// Asks the kernel to end the multishot. Bytes already received stay queued: take them
    /// with `next_into` until it returns `None`, then the socket is yours again.
    pub fn cancel(&self) {
        self.0.cancel();
    }

    /// Whether the multishot has ended and every completion was taken.
    pub fn is_done(&self) -> bool {
        self.0.is_done()
    }
}

/// Moves one receive completion's bytes into `out` and recycles its buffer.
fn take(res: i32, flags: u32, out: &mut Vec<u8>) -> io::Result<Received> {
    let bid = io_uring::cqueue::buffer_select(flags);
    with_inner(|inner| {
        if let Some(bid) = bid {
            let ring = inner
                .bufring
                .as_ref()
                .expect("buffer completion without a ring");
            if res > 0 {
                // SAFETY: this completion handed `bid` to us with `res` bytes in it; it goes
                // back to the kernel only below.
                out.extend_from_slice(unsafe { ring.bytes(bid, res as usize) });
            }
            ring.publish(bid);
        }
    });
    match res {
        n if n > 0 => Ok(Received::Data(n as usize)),
        0 => Ok(Received::Eof),
        e if -e == libc::ENOBUFS || -e == libc::ECANCELED => Ok(Received::Ended),
        e => Err(io::Error::from_raw_os_error(-e)),
    }
}
