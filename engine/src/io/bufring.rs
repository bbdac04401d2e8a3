//! A ring of provided buffers (IORING_REGISTER_PBUF_RING): the kernel picks a buffer from it
//! when a receive completes, so a connection waiting for its next request holds no buffer of
//! its own, and a multishot receive (`multi::RecvMulti`) needs no SQE per request.
//!
//! Ownership: the ring array and the buffers are one anonymous mapping owned by this struct.
//! A buffer belongs to the kernel while its id is published in the ring; a completion hands it
//! to us (`RecvChunk`), and dropping the chunk publishes it again. The mapping must outlive
//! every op that may still select a buffer, so the reactor frees it only after its ring is
//! gone, and leaks it when ops were still in flight at teardown (see `Reactor::drop`).

use std::cell::Cell;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

/// The buffer group id of a core's receive ring (one group per ring).
pub const RECV_BGID: u16 = 0;

/// One core's provided-buffer ring.
pub struct BufRing {
    base: NonNull<u8>,
    map_bytes: usize,
    /// Offset of the first buffer in the mapping (after the ring array, page-aligned).
    bufs_off: usize,
    entries: u16,
    buf_bytes: u32,
    /// Our copy of the tail; published to the kernel with a release store.
    tail: Cell<u16>,
    /// Buffers currently handed to us by completions (for tests).
    out: Cell<u32>,
}

impl BufRing {
    /// Maps `entries` (a power of two ≤ 32768) buffers of `buf_bytes` each, with every buffer
    /// published. Register it with `IORING_REGISTER_PBUF_RING` before use.
    pub fn new(entries: u16, buf_bytes: u32) -> io::Result<BufRing> {
        assert!(entries.is_power_of_two() && entries <= 32768);
        assert!(buf_bytes > 0);
        let page = 4096usize;
        let ring_bytes =
            (entries as usize * std::mem::size_of::<BufRingEntry>()).next_multiple_of(page);
        let map_bytes = ring_bytes + entries as usize * buf_bytes as usize;
        // SAFETY: an anonymous private mapping; the result is checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ring = BufRing {
            base: NonNull::new(p.cast()).expect("mmap returned null"),
            map_bytes,
            bufs_off: ring_bytes,
            entries,
            buf_bytes,
            tail: Cell::new(0),
            out: Cell::new(entries as u32),
        };
        for bid in 0..entries {
            ring.publish(bid);
        }
        Ok(ring)
    }

    /// Address of the ring array, for registration.
    pub fn ring_addr(&self) -> u64 {
        self.base.as_ptr() as u64
    }

    /// Number of ring entries (= buffers).
    pub fn entries(&self) -> u16 {
        self.entries
    }

    /// Buffers handed out by completions and not yet given back.
    pub fn buffers_out(&self) -> u32 {
        self.out.get()
    }

    fn entry_ptr(&self, index: u16) -> *mut BufRingEntry {
        let i = (index & (self.entries - 1)) as usize;
        // SAFETY: i < entries, and the ring array spans entries entries from base.
        unsafe { self.base.as_ptr().cast::<BufRingEntry>().add(i) }
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        assert!(bid < self.entries, "buffer id out of range");
        // SAFETY: bid < entries, so the buffer lies within the mapping.
        unsafe {
            self.base
                .as_ptr()
                .add(self.bufs_off + bid as usize * self.buf_bytes as usize)
        }
    }

    /// Gives buffer `bid` back to the kernel.
    pub fn publish(&self, bid: u16) {
        let tail = self.tail.get();
        let e = self.entry_ptr(tail);
        // SAFETY: the entry at `tail` is not visible to the kernel until the tail moves past
        // it; we are the only writer (one ring per thread).
        unsafe {
            (*e).set_addr(self.buf_ptr(bid) as u64);
            (*e).set_len(self.buf_bytes);
            (*e).set_bid(bid);
        }
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: the tail field overlays the first entry's reserved field, inside the mapping;
        // the kernel reads it with an acquire load, so entries written above are visible.
        unsafe {
            let t =
                BufRingEntry::tail(self.base.as_ptr().cast::<BufRingEntry>()) as *const AtomicU16;
            (*t).store(tail, Ordering::Release);
        }
        self.out.set(self.out.get() - 1);
    }

    /// Marks buffer `bid` as taken by a completion.
    pub(crate) fn taken(&self, bid: u16) {
        assert!(
            bid < self.entries,
            "completion names an unknown buffer {bid}"
        );
        self.out.set(self.out.get() + 1);
    }

    /// The first `len` bytes of buffer `bid`.
    ///
    /// # Safety
    /// `bid` must be a buffer a completion handed to us, not yet published again, and `len`
    /// the byte count that completion reported.
    pub(crate) unsafe fn bytes(&self, bid: u16, len: usize) -> &[u8] {
        assert!(len <= self.buf_bytes as usize);
        // SAFETY: per the contract, the kernel wrote `len` bytes there and no longer touches it.
        unsafe { std::slice::from_raw_parts(self.buf_ptr(bid), len) }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `new`; the reactor drops us only once
        // the kernel can no longer select these buffers.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.map_bytes) };
    }
}
