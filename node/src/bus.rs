//! The cross-core bus: one bounded queue per ordered pair of senders and cores.
//!
//! Senders are the cores plus one control sender (the main thread). A message is an owned value;
//! a full queue is an error returned to the sender (backpressure), never growth. The receiving
//! core has one task waiting in `recv`; a send wakes it through its waker, which reaches a
//! sleeping core through that core's eventfd.

use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use crossbeam::queue::ArrayQueue;
use engine::mountpath::MountpathId;

/// Messages one core sends another.
#[derive(Debug)]
pub enum BusMsg {
    /// Stop accepting, finish in-flight requests, and return.
    Shutdown,
    /// Empty the trash of this mountpath (sent to the mountpath's owner core).
    EmptyTrash { mountpath: MountpathId },
    /// Liveness and latency probe: the receiver answers `Pong` with the same value.
    Ping(u64),
    /// Answer to `Ping`.
    Pong(u64),
}

/// Messages queued per sender→core pair before senders are pushed back.
pub const QUEUE_MSGS_MAX: usize = 256;

/// The bus of a node with `cores` cores.
pub struct Bus {
    cores: usize,
    /// `queues[from * cores + to]`; `from == cores` is the control sender.
    queues: Vec<ArrayQueue<BusMsg>>,
    wakers: Vec<Mutex<Option<Waker>>>,
    /// Where each core's scan starts, so no sender is starved.
    cursor: Vec<AtomicUsize>,
}

impl Bus {
    /// A bus for `cores` cores and one control sender.
    pub fn new(cores: usize) -> Arc<Bus> {
        let queues = (0..(cores + 1) * cores)
            .map(|_| ArrayQueue::new(QUEUE_MSGS_MAX))
            .collect();
        Arc::new(Bus {
            cores,
            queues,
            wakers: (0..cores).map(|_| Mutex::new(None)).collect(),
            cursor: (0..cores).map(|_| AtomicUsize::new(0)).collect(),
        })
    }

    /// The sender index of the control thread.
    pub fn control(&self) -> usize {
        self.cores
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// Queues `msg` from `from` to core `to`; a full queue hands the message back.
    pub fn send(&self, from: usize, to: usize, msg: BusMsg) -> Result<(), BusMsg> {
        assert!(
            from <= self.cores && to < self.cores,
            "bus endpoint out of range"
        );
        self.queues[from * self.cores + to].push(msg)?;
        if let Some(w) = self.wakers[to].lock().expect("bus waker lock").take() {
            w.wake();
        }
        Ok(())
    }

    fn try_recv(&self, me: usize) -> Option<(usize, BusMsg)> {
        let senders = self.cores + 1;
        let start = self.cursor[me].fetch_add(1, Ordering::Relaxed) % senders;
        for i in 0..senders {
            let from = (start + i) % senders;
            if let Some(m) = self.queues[from * self.cores + me].pop() {
                return Some((from, m));
            }
        }
        None
    }

    /// Waits for the next message to core `me`: `(sender, message)`.
    pub async fn recv(&self, me: usize) -> (usize, BusMsg) {
        poll_fn(|cx| {
            if let Some(m) = self.try_recv(me) {
                return Poll::Ready(m);
            }
            *self.wakers[me].lock().expect("bus waker lock") = Some(cx.waker().clone());
            // A send between the first scan and registering the waker found no waker: look again.
            match self.try_recv(me) {
                Some(m) => Poll::Ready(m),
                None => Poll::Pending,
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_pushes_back() {
        // Goal: a full pair queue returns the message to the sender instead of growing.
        let bus = Bus::new(2);
        for _ in 0..QUEUE_MSGS_MAX {
            bus.send(0, 1, BusMsg::Shutdown).unwrap();
        }
        assert!(matches!(
            bus.send(0, 1, BusMsg::EmptyTrash { mountpath: MountpathId::new(3) }),
            Err(BusMsg::EmptyTrash { mountpath }) if mountpath == MountpathId::new(3)
        ));
        // Other pairs are independent.
        bus.send(2, 1, BusMsg::Shutdown).unwrap();
        assert!(bus.try_recv(1).is_some());
    }

    #[test]
    fn messages_cross_threads_and_wake_a_sleeping_core() {
        // Goal: a core sleeping in its ring is woken by a send from another thread.
        let bus = Bus::new(1);
        let b2 = bus.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            b2.send(
                b2.control(),
                0,
                BusMsg::EmptyTrash {
                    mountpath: MountpathId::new(7),
                },
            )
            .unwrap();
        });
        let r = engine::io::Reactor::new(0, &Default::default()).unwrap();
        let (from, msg) = r.block_on(async move { bus.recv(0).await });
        assert_eq!(from, 1);
        assert!(
            matches!(msg, BusMsg::EmptyTrash { mountpath } if mountpath == MountpathId::new(7))
        );
        t.join().unwrap();
    }
}
