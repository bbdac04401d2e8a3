//! Aligned buffers for O_DIRECT I/O, a per-core pool of them registered with the ring as fixed
//! buffers, and the ring ops that receive into and write from them.
//!
//! `AlignedBuf` is a heap block of fixed capacity (a multiple of `DIO_ALIGN`) whose start is
//! `DIO_ALIGN`-aligned, with a length like a `Vec`'s. Its memory is zeroed at allocation, so every
//! byte is always initialised; the kernel only ever writes received data into it.
//!
//! `FixedBufs` is one allocation cut into equal buffers. Registered with the current core's ring
//! (IORING_REGISTER_BUFFERS), writes from its buffers go out as WRITE_FIXED: the kernel pinned
//! the pages once at registration instead of on every direct I/O. A buffer taken from the pool
//! holds the pool alive and returns to it when dropped, so the memory the kernel pinned is never
//! freed while a buffer of it is in use, and an index is used only by the buffer that owns it.
//!
//! Ownership follows the ops' rule (STYLE §5): an op takes the buffer by value and returns it
//! with the result; a dropped op parks it in its slot until the completion.

use std::alloc::{self, Layout};
use std::cell::{Cell, RefCell};
use std::io;
use std::ops::{Deref, Range};
use std::ptr::NonNull;
use std::rc::Rc;

use io_uring::{opcode, types};

use super::fd::Fd;
use super::op::Op;
use super::reactor;

/// Alignment of buffer addresses, file offsets and lengths of direct I/O. 4096 satisfies every
/// device aisle expects (logical blocks of 512 or 4096 bytes; see kernel-notes/o_direct.md).
pub const DIO_ALIGN: usize = 4096;

/// Most buffers a ring can register (IORING_MAX_REG_BUFFERS), so the most a pool holds.
pub const FIXED_BUFS_MAX: usize = 1 << 14;

/// Where an `AlignedBuf`'s memory comes from and goes back to.
enum Home {
    /// Its own allocation, freed on drop.
    Heap,
    /// Buffer `index` of a pool; goes back to the pool's free list on drop.
    Pool { pool: Rc<Pool>, index: u16 },
}

/// A `DIO_ALIGN`-aligned heap block of fixed capacity with a length; bytes `..len()` are the
/// data.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    cap: usize,
    len: usize,
    home: Home,
}

/// The layout of an aligned block of `bytes` (a non-zero multiple of `DIO_ALIGN`).
fn block_layout(bytes: usize) -> Layout {
    Layout::from_size_align(bytes, DIO_ALIGN).expect("aligned block layout")
}

/// `bytes` rounded up to a multiple of `DIO_ALIGN`, at least one block.
fn round_up(bytes: usize) -> usize {
    bytes.max(1).div_ceil(DIO_ALIGN) * DIO_ALIGN
}

/// Allocates a zeroed block for `layout` (size non-zero).
fn alloc_block(layout: Layout) -> NonNull<u8> {
    // SAFETY: the layout has a non-zero size (callers round up to at least one block).
    let p = unsafe { alloc::alloc_zeroed(layout) };
    NonNull::new(p).unwrap_or_else(|| alloc::handle_alloc_error(layout))
}

impl AlignedBuf {
    /// A new empty buffer of its own, of at least `capacity` bytes (rounded up to a multiple
    /// of `DIO_ALIGN`).
    pub fn new(capacity: usize) -> AlignedBuf {
        let cap = round_up(capacity);
        AlignedBuf {
            ptr: alloc_block(block_layout(cap)),
            cap,
            len: 0,
            home: Home::Heap,
        }
    }

    /// Bytes of data.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no data.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total bytes it can hold (a multiple of `DIO_ALIGN`).
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Room left after the data.
    pub fn spare(&self) -> usize {
        self.cap - self.len
    }

    /// Whether no room is left.
    pub fn is_full(&self) -> bool {
        self.len == self.cap
    }

    /// Forgets the data (keeps the memory).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `data`; panics if it does not fit (callers bound their copies by `spare()`).
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        assert!(data.len() <= self.spare(), "AlignedBuf overflow");
        // SAFETY: the destination range lies within the block (checked above) and cannot
        // overlap `data`, which is borrowed shared while `self` is borrowed mutably.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.ptr.as_ptr().add(self.len),
                data.len(),
            )
        };
        self.len += data.len();
    }

    /// Removes the first `n` bytes of data and moves the rest to the front.
    pub fn consume_front(&mut self, n: usize) {
        assert!(n <= self.len, "consume_front past the data");
        let rest = self.len - n;
        // SAFETY: both ranges lie within the block; `copy` allows overlap.
        unsafe { std::ptr::copy(self.ptr.as_ptr().add(n), self.ptr.as_ptr(), rest) };
        self.len = rest;
    }

    /// Sets the length after the kernel wrote data past the old one. Every byte of the block
    /// is initialised (zeroed at allocation), so any length up to the capacity is sound.
    fn set_len(&mut self, len: usize) {
        assert!(len <= self.cap, "AlignedBuf length past capacity");
        self.len = len;
    }

    /// The registered-buffer index to use with a fixed op on the current core's ring: `Some`
    /// only for a pool buffer whose pool is registered with this very ring.
    pub fn fixed_index(&self) -> Option<u16> {
        match &self.home {
            Home::Pool { pool, index } if pool.registered_here() => Some(*index),
            _ => None,
        }
    }

    /// Whether the buffer belongs to a pool (registered or not).
    pub fn is_pooled(&self) -> bool {
        matches!(self.home, Home::Pool { .. })
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is within the live block, initialised, and not mutably
        // borrowed while `self` is borrowed.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("cap", &self.cap)
            .field("pooled", &self.is_pooled())
            .finish()
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        match &self.home {
            // SAFETY: the block was allocated in `new` with exactly this layout and is freed
            // once, here.
            Home::Heap => unsafe { alloc::dealloc(self.ptr.as_ptr(), block_layout(self.cap)) },
            Home::Pool { pool, index } => pool.free.borrow_mut().push(*index),
        }
    }
}

/// The memory and free list of a `FixedBufs` pool.
struct Pool {
    base: NonNull<u8>,
    layout: Layout,
    buf_bytes: usize,
    free: RefCell<Vec<u16>>,
    /// The reactor whose ring has the buffers registered, if any.
    registered_on: Cell<Option<usize>>,
}

impl Pool {
    fn registered_here(&self) -> bool {
        self.registered_on
            .get()
            .is_some_and(|id| id == reactor::current_reactor_id())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // No buffer is out (each holds the pool): no op uses the memory any more.
        if let Some(id) = self.registered_on.get() {
            reactor::unregister_buffers(id);
        }
        // SAFETY: allocated in `FixedBufs::new` with this layout; freed once. If the ring
        // could not unregister (it is being torn down) it only keeps the pages pinned; no op
        // can name them any more.
        unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) };
    }
}

/// A pool of equal aligned buffers in one allocation, optionally registered with the current
/// core's ring. One per core; `!Send`.
pub struct FixedBufs(Rc<Pool>);

impl FixedBufs {
    /// `count` buffers of `buf_bytes` each (rounded up to a multiple of `DIO_ALIGN`), not yet
    /// registered.
    pub fn new(count: usize, buf_bytes: usize) -> FixedBufs {
        assert!(
            (1..=FIXED_BUFS_MAX).contains(&count),
            "1..={FIXED_BUFS_MAX} buffers"
        );
        let buf_bytes = round_up(buf_bytes);
        let layout = block_layout(count.checked_mul(buf_bytes).expect("pool size"));
        FixedBufs(Rc::new(Pool {
            base: alloc_block(layout),
            layout,
            buf_bytes,
            // Taken from the back: hand out low indices first.
            free: RefCell::new((0..count as u16).rev().collect()),
            registered_on: Cell::new(None),
        }))
    }

    /// Registers every buffer with the current core's ring. Fails (and the pool stays usable,
    /// unregistered) e.g. with ENOMEM when RLIMIT_MEMLOCK is too small for the pinned pages, or
    /// EBUSY when the ring already has buffers registered.
    pub fn register(&self) -> io::Result<()> {
        let p = &self.0;
        let count = p.layout.size() / p.buf_bytes;
        let iovecs: Vec<libc::iovec> = (0..count)
            .map(|i| libc::iovec {
                // SAFETY: buffer i lies within the pool's block.
                iov_base: unsafe { p.base.as_ptr().add(i * p.buf_bytes) }.cast(),
                iov_len: p.buf_bytes,
            })
            .collect();
        // SAFETY: the iovecs describe the pool's block, which lives until `Pool::drop`; that
        // drop unregisters them first when it still can, and only buffers that own an index
        // (and so keep the block alive) are ever named by a fixed op.
        let id = unsafe { reactor::register_buffers(&iovecs) }?;
        p.registered_on.set(Some(id));
        Ok(())
    }

    /// Whether the buffers are registered with the current core's ring.
    pub fn is_registered(&self) -> bool {
        self.0.registered_here()
    }

    /// Bytes per buffer.
    pub fn buf_bytes(&self) -> usize {
        self.0.buf_bytes
    }

    /// Buffers not lent out.
    pub fn available(&self) -> usize {
        self.0.free.borrow().len()
    }

    /// Lends an empty buffer; `None` when all are out. It comes back when dropped.
    pub fn take(&self) -> Option<AlignedBuf> {
        let index = self.0.free.borrow_mut().pop()?;
        let p = &self.0;
        Some(AlignedBuf {
            // SAFETY: buffer `index` lies within the pool's block.
            ptr: unsafe {
                NonNull::new_unchecked(p.base.as_ptr().add(index as usize * p.buf_bytes))
            },
            cap: p.buf_bytes,
            len: 0,
            home: Home::Pool {
                pool: p.clone(),
                index,
            },
        })
    }
}

/// Receives at most `max` bytes into `buf`'s spare room (so a request body is never read past
/// its end); returns the count, 0 when the peer closed.
pub async fn recv_aligned(fd: &Fd, buf: AlignedBuf, max: usize) -> (io::Result<usize>, AlignedBuf) {
    let want = buf.spare().min(max).min(u32::MAX as usize);
    assert!(want > 0, "recv into a full buffer");
    // SAFETY: the pointer is into the buffer's heap block, which the op owns until the CQE.
    let ptr = unsafe { buf.ptr.as_ptr().add(buf.len) };
    let sqe = opcode::Recv::new(types::Fd(fd.raw()), ptr, want as u32).build();
    // SAFETY: ptr..ptr+want lies in the spare room of `buf`, whose block does not move when
    // `buf` is moved and stays allocated while the op owns it.
    let (c, (mut buf, _fd)) = unsafe { Op::submit((buf, fd.clone()), sqe) }.await;
    match c.result() {
        Ok(n) => {
            let n = (n as usize).min(want);
            buf.set_len(buf.len + n);
            (Ok(n), buf)
        }
        Err(e) => (Err(e), buf),
    }
}

/// Writes `buf[range]` at `offset` once (may be short). A buffer of a pool registered with this
/// core's ring goes out as WRITE_FIXED, any other as WRITE. On an O_DIRECT descriptor the
/// range start, its length and `offset` must be multiples of the device's alignment.
pub async fn write_aligned_at(
    fd: &Fd,
    buf: AlignedBuf,
    range: Range<usize>,
    offset: u64,
) -> (io::Result<usize>, AlignedBuf) {
    assert!(
        range.start <= range.end && range.end <= buf.len,
        "write range past the data"
    );
    // SAFETY: the range lies within the buffer's initialised data (checked above).
    let ptr = unsafe { buf.ptr.as_ptr().add(range.start) }.cast_const();
    let len = (range.end - range.start).min(u32::MAX as usize) as u32;
    let sqe = match buf.fixed_index() {
        Some(index) => opcode::WriteFixed::new(types::Fd(fd.raw()), ptr, len, index)
            .offset(offset)
            .build(),
        None => opcode::Write::new(types::Fd(fd.raw()), ptr, len)
            .offset(offset)
            .build(),
    };
    // SAFETY: ptr/len lie within `buf`'s block, owned by the op until the CQE; a fixed index
    // names the registered buffer that is this very block (the pool outlives `buf`).
    let (c, (buf, _fd)) = unsafe { Op::submit((buf, fd.clone()), sqe) }.await;
    (c.result().map(|n| n as usize), buf)
}

/// Writes all of `buf[range]` at `offset` (see `write_aligned_at`).
pub async fn write_all_aligned_at(
    fd: &Fd,
    mut buf: AlignedBuf,
    range: Range<usize>,
    mut offset: u64,
) -> (io::Result<()>, AlignedBuf) {
    let mut start = range.start;
    while start < range.end {
        let (res, b) = write_aligned_at(fd, buf, start..range.end, offset).await;
        buf = b;
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => {
                start += n;
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_rounds_up_and_memory_is_aligned() {
        for (want, cap) in [
            (0, 4096),
            (1, 4096),
            (4096, 4096),
            (4097, 8192),
            (1 << 20, 1 << 20),
        ] {
            let b = AlignedBuf::new(want);
            assert_eq!(b.capacity(), cap, "capacity for {want}");
            assert_eq!(
                b.ptr.as_ptr() as usize % DIO_ALIGN,
                0,
                "alignment for {want}"
            );
            assert!(b.is_empty() && !b.is_full() && b.spare() == cap);
        }
    }

    #[test]
    fn extend_consume_and_clear() {
        let mut b = AlignedBuf::new(8192);
        b.extend_from_slice(b"hello ");
        b.extend_from_slice(b"world");
        assert_eq!(&b[..], b"hello world");
        b.consume_front(6);
        assert_eq!(&b[..], b"world");
        let big: Vec<u8> = (0..8187u32).map(|i| i as u8).collect();
        b.extend_from_slice(&big);
        assert!(b.is_full());
        assert_eq!(&b[5..], &big[..]);
        b.consume_front(b.len());
        assert!(b.is_empty());
        b.extend_from_slice(b"x");
        b.clear();
        assert_eq!(b.len(), 0);
        assert_eq!(b.capacity(), 8192);
    }

    #[test]
    #[should_panic(expected = "AlignedBuf overflow")]
    fn overflow_panics() {
        let mut b = AlignedBuf::new(4096);
        b.extend_from_slice(&[0u8; 4097]);
    }

    #[test]
    fn pool_lends_aligned_buffers_and_takes_them_back() {
        let pool = FixedBufs::new(3, 5000);
        assert_eq!(pool.buf_bytes(), 8192);
        assert_eq!(pool.available(), 3);
        let a = pool.take().unwrap();
        let mut b = pool.take().unwrap();
        let c = pool.take().unwrap();
        assert!(
            pool.take().is_none(),
            "a fourth buffer from a pool of three"
        );
        let mut addrs: Vec<usize> = [&a, &b, &c]
            .iter()
            .map(|x| x.ptr.as_ptr() as usize)
            .collect();
        addrs.sort();
        for w in addrs.windows(2) {
            assert_eq!(w[1] - w[0], 8192, "buffers do not overlap");
        }
        assert!(addrs.iter().all(|p| p % DIO_ALIGN == 0));
        assert!(a.is_pooled() && a.capacity() == 8192);
        // Not registered (no reactor here): no fixed index.
        assert!(a.fixed_index().is_none() && !pool.is_registered());
        b.extend_from_slice(&[7u8; 100]);
        drop(b);
        assert_eq!(pool.available(), 1);
        let b2 = pool.take().unwrap();
        assert!(b2.is_empty(), "a returned buffer comes back empty");
        drop((a, c, b2));
        assert_eq!(pool.available(), 3);
    }

    #[test]
    fn pool_memory_outlives_the_pool_handle() {
        // A buffer still lent out keeps the memory: dropping the handle first is fine.
        let pool = FixedBufs::new(2, 4096);
        let mut a = pool.take().unwrap();
        drop(pool);
        a.extend_from_slice(&[1u8; 4096]);
        assert!(a.iter().all(|&x| x == 1));
    }
}
