//! Multi-buffer MD5: many independent MD5 streams hashed side by side in the 16 u32 lanes of an
//! AVX-512 register, and a per-core batcher that gathers the streams of concurrent requests.
//!
//! MD5 is serial within one stream (about 590 MiB/s with the `md-5` crate's assembly on the
//! reference machine, ~106 us of CPU per 64 KiB), but a core serves many PUTs at once. `Md5` is
//! one stream's state (4 x u32, a tail of less than one block, the length). `update_many`
//! advances several states at once: each stream's whole 64-byte blocks go to a lane, lanes whose
//! stream runs out are refilled from the rest, and once the queue is empty and at most
//! `SCALAR_LANES_MAX` lanes are busy their remaining blocks go to the scalar code (the
//! `md5-asm` compression function, the `md-5` crate's own backend). Without AVX-512F (checked at
//! run time) every stream is hashed by the scalar code.
//!
//! `update(&mut state, buf, range)` is the async form used by PUTs: it takes the buffer by value
//! (as the ring ops do) and returns it. Its first poll absorbs the partial blocks into the state
//! and registers the whole blocks in this thread's batch, then returns `Pending`; the first
//! registration of a turn spawns a flush task on the core (`spawn`), which the reactor's FIFO
//! queue runs after the tasks already woken, so it finds the updates of every request that
//! reached its hash in the same turn. It hashes them all with the lanes and wakes the waiters.
//! Invariants: an entry's pointer is into the buffer its future owns, and the future is
//! `!Unpin`, so the buffer neither moves nor is freed while the entry exists (pinned, the future
//! is dropped before its memory goes, and its `Drop` removes the entry; a leaked future keeps
//! the buffer forever); a batch is per thread and the flush runs on that thread only.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomPinned;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use slab::Slab;

/// Bytes of one MD5 block.
pub const BLOCK: usize = 64;
/// Lanes of the AVX-512 kernel.
pub const LANES: usize = 16;
/// Once no stream waits for a lane, this many busy lanes or fewer finish on the scalar code: a
/// 16-lane round costs about as much as this many scalar blocks (`md5mb` bench).
pub const SCALAR_LANES_MAX: usize = 1;
/// Updates with fewer whole-block bytes than this are hashed at once by `update` (the batch
/// would gain less than the task switch costs).
pub const BATCH_MIN_BYTES: usize = 4096;

const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// One MD5 stream: feed it with `update` (scalar, at once), `update_many` or the async `update`
/// function, then `finalize`.
#[derive(Clone, Debug)]
pub struct Md5 {
    h: [u32; 4],
    tail: [u8; BLOCK],
    tail_len: usize,
    len: u64,
    /// Whole blocks of an async update are still to be hashed into `h` (set while the update
    /// is queued; left set if it was dropped queued, which makes the state unusable).
    pending: bool,
}

impl Default for Md5 {
    fn default() -> Self {
        Md5::new()
    }
}

impl Md5 {
    pub fn new() -> Md5 {
        Md5 {
            h: INIT,
            tail: [0; BLOCK],
            tail_len: 0,
            len: 0,
            pending: false,
        }
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check_usable(&self) {
        assert!(
            !self.pending,
            "MD5 state used after its queued update was dropped"
        );
    }

    /// Takes `data` into the stream except its whole blocks after the current tail, which it
    /// returns: the caller must compress them into `h` before the stream is used again.
    fn split<'d>(&mut self, mut data: &'d [u8]) -> &'d [u8] {
        self.check_usable();
        self.len += data.len() as u64;
        if self.tail_len > 0 {
            let take = (BLOCK - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < BLOCK {
                return &[];
            }
            let block = self.tail;
            scalar_compress(&mut self.h, &block);
            self.tail_len = 0;
        }
        let whole = data.len() - data.len() % BLOCK;
        let (mid, rest) = data.split_at(whole);
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
        mid
    }

    /// Feeds `data` with the scalar code.
    pub fn update(&mut self, data: &[u8]) {
        let mid = self.split(data);
        scalar_compress(&mut self.h, mid);
    }

    /// The digest. Panics if a queued async update of this state was dropped.
    pub fn finalize(mut self) -> [u8; 16] {
        self.check_usable();
        let bits = self.len.wrapping_mul(8);
        let mut block = [0u8; BLOCK];
        block[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        block[self.tail_len] = 0x80;
        if self.tail_len >= BLOCK - 8 {
            scalar_compress(&mut self.h, &block);
            block = [0u8; BLOCK];
        }
        block[BLOCK - 8..].copy_from_slice(&bits.to_le_bytes());
        scalar_compress(&mut self.h, &block);
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(self.h) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// Compresses the whole blocks of `data` (a multiple of `BLOCK` bytes) into `h`.
fn scalar_compress(h: &mut [u32; 4], data: &[u8]) {
    let (blocks, rest) = data.as_chunks::<BLOCK>();
    debug_assert!(rest.is_empty());
    md5_asm::compress(h, blocks);
}

thread_local! {
    static FORCE_SCALAR: Cell<bool> = const { Cell::new(false) };
    static BATCH: RefCell<Batch> = RefCell::new(Batch::default());
}

/// For tests and benchmarks: hash with the scalar code only on this thread (as on a CPU
/// without AVX-512F).
pub fn force_scalar(on: bool) {
    FORCE_SCALAR.with(|f| f.set(on));
}

/// Whether this thread hashes with the AVX-512 lanes.
pub fn lanes_enabled() -> bool {
    !FORCE_SCALAR.with(|f| f.get()) && std::arch::is_x86_feature_detected!("avx512f")
}

/// One stream's share of a multi-lane run: its chaining value and whole blocks.
struct Job<'a> {
    h: &'a mut [u32; 4],
    data: &'a [u8],
}

/// What a run of `compress_jobs` did, for the statistics.
#[derive(Clone, Copy, Debug, Default)]
struct RunStats {
    /// Kernel rounds (16 lanes each).
    rounds: u64,
    /// Blocks hashed in lanes (at most `LANES * rounds`).
    lane_blocks: u64,
    /// Blocks hashed by the scalar code.
    scalar_blocks: u64,
}

/// A block of zeros for idle lanes.
static ZERO_BLOCK: [u8; BLOCK] = [0; BLOCK];

/// Advances every job's `h` by its blocks.
fn compress_jobs(jobs: &mut [Job<'_>]) -> RunStats {
    let mut st = RunStats::default();
    let busy = jobs.iter().filter(|j| !j.data.is_empty()).count();
    if busy <= SCALAR_LANES_MAX || !lanes_enabled() {
        for j in jobs.iter_mut() {
            scalar_compress(j.h, j.data);
            st.scalar_blocks += (j.data.len() / BLOCK) as u64;
        }
        return st;
    }
    let mut lanes = [[0u32; LANES]; 4];
    // Per lane: the job it hashes (`usize::MAX`: idle), the offset of its next block, the
    // blocks it has left.
    let mut owner = [usize::MAX; LANES];
    let mut off = [0usize; LANES];
    let mut left = [0usize; LANES];
    let mut next = 0;
    loop {
        for l in 0..LANES {
            if owner[l] != usize::MAX {
                continue;
            }
            while next < jobs.len() && jobs[next].data.is_empty() {
                next += 1;
            }
            if next == jobs.len() {
                break;
            }
            owner[l] = next;
            off[l] = 0;
            left[l] = jobs[next].data.len() / BLOCK;
            for (w, v) in lanes.iter_mut().zip(jobs[next].h.iter()) {
                w[l] = *v;
            }
            next += 1;
        }
        let active = owner.iter().filter(|&&o| o != usize::MAX).count();
        if active == 0 {
            return st;
        }
        if active <= SCALAR_LANES_MAX && next == jobs.len() {
            for l in (0..LANES).filter(|&l| owner[l] != usize::MAX) {
                let j = &mut jobs[owner[l]];
                for (v, w) in j.h.iter_mut().zip(lanes.iter()) {
                    *v = w[l];
                }
                scalar_compress(j.h, &j.data[off[l]..]);
                st.scalar_blocks += left[l] as u64;
            }
            return st;
        }
        let n = (0..LANES)
            .filter(|&l| owner[l] != usize::MAX)
            .map(|l| left[l])
            .min()
            .expect("an active lane");
        let mut ptrs = [ZERO_BLOCK.as_ptr(); LANES];
        let mut steps = [0usize; LANES];
        for l in (0..LANES).filter(|&l| owner[l] != usize::MAX) {
            let d = &jobs[owner[l]].data[off[l]..];
            debug_assert!(d.len() >= n * BLOCK);
            ptrs[l] = d.as_ptr();
            steps[l] = BLOCK;
        }
        // SAFETY: AVX-512F was detected (`lanes_enabled`); every busy lane's pointer has at
        // least `n` blocks after it (`left[l] >= n`, the slice checked above), an idle lane's
        // stays on `ZERO_BLOCK` (step 0).
        unsafe { avx512::rounds(&mut lanes, &ptrs, &steps, n) };
        st.rounds += n as u64;
        st.lane_blocks += (n * active) as u64;
        for l in 0..LANES {
            if owner[l] == usize::MAX {
                continue;
            }
            off[l] += n * BLOCK;
            left[l] -= n;
            if left[l] == 0 {
                for (v, w) in jobs[owner[l]].h.iter_mut().zip(lanes.iter()) {
                    *v = w[l];
                }
                owner[l] = usize::MAX;
            }
        }
    }
}

/// Feeds `data` to each stream, as `Md5::update` on each would, hashing the streams' whole
/// blocks side by side in the lanes.
pub fn update_many(streams: &mut [(&mut Md5, &[u8])]) {
    let mut jobs: Vec<Job<'_>> = Vec::with_capacity(streams.len());
    for (s, data) in streams.iter_mut() {
        let mid = s.split(data);
        jobs.push(Job {
            h: &mut s.h,
            data: mid,
        });
    }
    let st = compress_jobs(&mut jobs);
    BATCH.with(|b| b.borrow_mut().stats.add_run(&st));
}

/// Counters of this thread's MD5 hashing (`update_many` and the batcher).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Md5Stats {
    /// Flushes of the batch.
    pub flushes: u64,
    /// Async updates hashed by a flush.
    pub batched: u64,
    /// Async updates hashed at once (small, or no reactor on the thread).
    pub immediate: u64,
    /// 16-lane kernel rounds.
    pub rounds: u64,
    /// Blocks hashed in lanes (lane use = `lane_blocks / (16 * rounds)`).
    pub lane_blocks: u64,
    /// Blocks hashed by the scalar code.
    pub scalar_blocks: u64,
}

impl Md5Stats {
    fn add_run(&mut self, r: &RunStats) {
        self.rounds += r.rounds;
        self.lane_blocks += r.lane_blocks;
        self.scalar_blocks += r.scalar_blocks;
    }
}

/// This thread's counters.
pub fn stats() -> Md5Stats {
    BATCH.with(|b| b.borrow().stats)
}

/// Async updates of this thread in its batch (queued, or hashed and not yet taken by their
/// futures).
pub fn queued() -> usize {
    BATCH.with(|b| b.borrow().entries.len())
}

/// An async update waiting for the flush.
struct Entry {
    h: [u32; 4],
    /// The whole blocks to hash: in the buffer owned by the entry's (pinned) `Update`.
    ptr: *const u8,
    len: usize,
    waker: Option<Waker>,
    done: bool,
}

#[derive(Default)]
struct Batch {
    entries: Slab<Entry>,
    /// The reactor on which a flush task is queued (0: none).
    flush_on: usize,
    stats: Md5Stats,
}

/// Feeds `buf[range]` to `state` through this core's batch; resolves to `buf` once hashed.
/// Panics if `range` is out of `buf`. Dropping the future before it resolves leaves `state`
/// unusable (its later use panics). Off a reactor thread it hashes at once.
pub fn update<B: AsRef<[u8]> + 'static>(
    state: &mut Md5,
    buf: B,
    range: Range<usize>,
) -> Update<'_, B> {
    assert!(
        range.start <= range.end && range.end <= buf.as_ref().len(),
        "MD5 update range {range:?} out of a {}-byte buffer",
        buf.as_ref().len()
    );
    Update {
        state,
        buf: Some(buf),
        range,
        key: None,
        _pin: PhantomPinned,
    }
}

/// The future of `update`.
pub struct Update<'a, B: AsRef<[u8]> + 'static> {
    state: &'a mut Md5,
    /// Owned until the update resolves: a queued entry points into it.
    buf: Option<B>,
    range: Range<usize>,
    /// The batch entry while queued.
    key: Option<usize>,
    /// The entry points into `buf`, which must not move once registered.
    _pin: PhantomPinned,
}

impl<B: AsRef<[u8]> + 'static> Future for Update<'_, B> {
    type Output = B;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<B> {
        // SAFETY: nothing is moved out of the pinned future except `buf`, and only after its
        // entry left the batch (below); the other fields are plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let Some(key) = this.key else {
            let buf = this
                .buf
                .as_ref()
                .expect("MD5 update polled after it resolved");
            let mid = this.state.split(&buf.as_ref()[this.range.clone()]);
            let reactor = super::reactor::current_reactor_id();
            if mid.len() < BATCH_MIN_BYTES || reactor == 0 {
                scalar_compress(&mut this.state.h, mid);
                BATCH.with(|b| b.borrow_mut().stats.immediate += 1);
                return Poll::Ready(this.buf.take().expect("buffer"));
            }
            let spawn = BATCH.with(|b| {
                let mut b = b.borrow_mut();
                this.key = Some(b.entries.insert(Entry {
                    h: this.state.h,
                    ptr: mid.as_ptr(),
                    len: mid.len(),
                    waker: Some(cx.waker().clone()),
                    done: false,
                }));
                let spawn = b.flush_on != reactor;
                b.flush_on = reactor;
                spawn
            });
            this.state.pending = true;
            if spawn {
                super::reactor::spawn(Flush { reactor }).detach();
            }
            return Poll::Pending;
        };
        let h = BATCH.with(|b| {
            let mut b = b.borrow_mut();
            let e = b.entries.get_mut(key).expect("queued MD5 update");
            if e.done {
                Some(b.entries.remove(key).h)
            } else {
                if !e.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    e.waker = Some(cx.waker().clone());
                }
                None
            }
        });
        match h {
            Some(h) => {
                this.key = None;
                this.state.h = h;
                this.state.pending = false;
                Poll::Ready(this.buf.take().expect("buffer"))
            }
            None => Poll::Pending,
        }
    }
}

impl<B: AsRef<[u8]> + 'static> Drop for Update<'_, B> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // The entry goes before the buffer it points into (dropped after this).
            let _ = BATCH.try_with(|b| b.borrow_mut().entries.try_remove(key));
        }
    }
}

/// The flush task of one reactor's batch.
struct Flush {
    reactor: usize,
}

impl Future for Flush {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        flush();
        Poll::Ready(())
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        // Run or cancelled (a reactor's teardown): the next registration spawns a new one.
        let _ = BATCH.try_with(|b| {
            let mut b = b.borrow_mut();
            if b.flush_on == self.reactor {
                b.flush_on = 0;
            }
        });
    }
}

/// Hashes every queued update of this thread and wakes their tasks.
fn flush() {
    let wakers: Vec<Waker> = BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let b = &mut *b;
        b.flush_on = 0;
        let mut jobs: Vec<Job<'_>> = Vec::with_capacity(b.entries.len());
        for (_, e) in b.entries.iter_mut().filter(|(_, e)| !e.done) {
            // SAFETY: the entry exists, so its `Update` is alive and pinned: the buffer it owns
            // has not moved or been freed, nor lent mutably (`Update::drop` removes the entry
            // first; `buf` is taken out only after the entry left the batch).
            let data = unsafe { std::slice::from_raw_parts(e.ptr, e.len) };
            jobs.push(Job { h: &mut e.h, data });
        }
        let n = jobs.len() as u64;
        let st = compress_jobs(&mut jobs);
        drop(jobs);
        b.stats.add_run(&st);
        b.stats.flushes += 1;
        b.stats.batched += n;
        b.entries
            .iter_mut()
            .filter(|(_, e)| !e.done)
            .filter_map(|(_, e)| {
                e.done = true;
                e.waker.take()
            })
            .collect()
    });
    for w in wakers {
        w.wake();
    }
}

/// The 16-lane kernel.
mod avx512 {
    use std::arch::x86_64::*;

    use super::{BLOCK, LANES};

    /// Transposes 16 rows of 16 u32 so that `out[j]` holds word `j` of every row (lane `l` =
    /// row `l`).
    #[target_feature(enable = "avx512f")]
    fn transpose(r: &[__m512i; 16]) -> [__m512i; 16] {
        // Pairs of rows interleaved by u32, then by u64: a 4x4 transpose in each 128-bit lane.
        let mut t = [_mm512_setzero_si512(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_si512(); 16];
        for i in 0..4 {
            u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
            u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
            u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
            u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
        }
        // u[4i+m], 128-bit lane k = rows 4i..4i+3 of column 4k+m: gather the 128-bit lanes.
        let mut w = [_mm512_setzero_si512(); 16];
        for m in 0..4 {
            let v0 = _mm512_shuffle_i32x4::<0x44>(u[m], u[4 + m]);
            let v1 = _mm512_shuffle_i32x4::<0xEE>(u[m], u[4 + m]);
            let v2 = _mm512_shuffle_i32x4::<0x44>(u[8 + m], u[12 + m]);
            let v3 = _mm512_shuffle_i32x4::<0xEE>(u[8 + m], u[12 + m]);
            w[m] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
            w[4 + m] = _mm512_shuffle_i32x4::<0xDD>(v0, v2);
            w[8 + m] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
            w[12 + m] = _mm512_shuffle_i32x4::<0xDD>(v1, v3);
        }
        w
    }

    /// `a = b + ((a + f(b, c, d) + w + k) <<< s)`, with `f` as a `vpternlogd` truth table:
    /// 0xCA = F (b ? c : d), 0xE4 = G (d ? b : c), 0x96 = H (b ^ c ^ d), 0x39 = I (c ^ (b | !d)).
    macro_rules! step {
        ($f:literal, $a:ident, $b:ident, $c:ident, $d:ident, $w:expr, $k:literal, $s:literal) => {
            let t = _mm512_add_epi32(
                _mm512_add_epi32($a, $w),
                _mm512_set1_epi32($k as u32 as i32),
            );
            let t = _mm512_add_epi32(t, _mm512_ternarylogic_epi32::<$f>($b, $c, $d));
            $a = _mm512_add_epi32($b, _mm512_rol_epi32::<$s>(t));
        };
    }

    /// Runs `n` rounds: each lane `l` compresses the block at `ptrs[l] + r * steps[l]` into its
    /// state (`h[i][l]` = word `i`), for `r` in `0..n`.
    ///
    /// # Safety
    /// The CPU has AVX-512F, and for every lane `BLOCK` bytes are readable at each of those
    /// addresses.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rounds(
        h: &mut [[u32; LANES]; 4],
        ptrs: &[*const u8; LANES],
        steps: &[usize; LANES],
        n: usize,
    ) {
        // SAFETY: each `h[i]` is 16 u32 = 64 bytes (unaligned loads and stores).
        let (mut a, mut b, mut c, mut d) = unsafe {
            (
                _mm512_loadu_si512(h[0].as_ptr().cast()),
                _mm512_loadu_si512(h[1].as_ptr().cast()),
                _mm512_loadu_si512(h[2].as_ptr().cast()),
                _mm512_loadu_si512(h[3].as_ptr().cast()),
            )
        };
        for r in 0..n {
            let mut rows = [_mm512_setzero_si512(); 16];
            for (l, row) in rows.iter_mut().enumerate() {
                // SAFETY: the caller guarantees `BLOCK` readable bytes at this address.
                *row = unsafe { _mm512_loadu_si512(ptrs[l].add(r * steps[l]).cast()) };
            }
            const _: () = assert!(BLOCK == 64);
            let w = transpose(&rows);
            let (a0, b0, c0, d0) = (a, b, c, d);
            step!(0xCA, a, b, c, d, w[0], 0xd76aa478, 7);
            step!(0xCA, d, a, b, c, w[1], 0xe8c7b756, 12);
            step!(0xCA, c, d, a, b, w[2], 0x242070db, 17);
            step!(0xCA, b, c, d, a, w[3], 0xc1bdceee, 22);
            step!(0xCA, a, b, c, d, w[4], 0xf57c0faf, 7);
            step!(0xCA, d, a, b, c, w[5], 0x4787c62a, 12);
            step!(0xCA, c, d, a, b, w[6], 0xa8304613, 17);
            step!(0xCA, b, c, d, a, w[7], 0xfd469501, 22);
            step!(0xCA, a, b, c, d, w[8], 0x698098d8, 7);
            step!(0xCA, d, a, b, c, w[9], 0x8b44f7af, 12);
            step!(0xCA, c, d, a, b, w[10], 0xffff5bb1, 17);
            step!(0xCA, b, c, d, a, w[11], 0x895cd7be, 22);
            step!(0xCA, a, b, c, d, w[12], 0x6b901122, 7);
            step!(0xCA, d, a, b, c, w[13], 0xfd987193, 12);
            step!(0xCA, c, d, a, b, w[14], 0xa679438e, 17);
            step!(0xCA, b, c, d, a, w[15], 0x49b40821, 22);
            step!(0xE4, a, b, c, d, w[1], 0xf61e2562, 5);
            step!(0xE4, d, a, b, c, w[6], 0xc040b340, 9);
            step!(0xE4, c, d, a, b, w[11], 0x265e5a51, 14);
            step!(0xE4, b, c, d, a, w[0], 0xe9b6c7aa, 20);
            step!(0xE4, a, b, c, d, w[5], 0xd62f105d, 5);
            step!(0xE4, d, a, b, c, w[10], 0x02441453, 9);
            step!(0xE4, c, d, a, b, w[15], 0xd8a1e681, 14);
            step!(0xE4, b, c, d, a, w[4], 0xe7d3fbc8, 20);
            step!(0xE4, a, b, c, d, w[9], 0x21e1cde6, 5);
            step!(0xE4, d, a, b, c, w[14], 0xc33707d6, 9);
            step!(0xE4, c, d, a, b, w[3], 0xf4d50d87, 14);
            step!(0xE4, b, c, d, a, w[8], 0x455a14ed, 20);
            step!(0xE4, a, b, c, d, w[13], 0xa9e3e905, 5);
            step!(0xE4, d, a, b, c, w[2], 0xfcefa3f8, 9);
            step!(0xE4, c, d, a, b, w[7], 0x676f02d9, 14);
            step!(0xE4, b, c, d, a, w[12], 0x8d2a4c8a, 20);
            step!(0x96, a, b, c, d, w[5], 0xfffa3942, 4);
            step!(0x96, d, a, b, c, w[8], 0x8771f681, 11);
            step!(0x96, c, d, a, b, w[11], 0x6d9d6122, 16);
            step!(0x96, b, c, d, a, w[14], 0xfde5380c, 23);
            step!(0x96, a, b, c, d, w[1], 0xa4beea44, 4);
            step!(0x96, d, a, b, c, w[4], 0x4bdecfa9, 11);
            step!(0x96, c, d, a, b, w[7], 0xf6bb4b60, 16);
            step!(0x96, b, c, d, a, w[10], 0xbebfbc70, 23);
            step!(0x96, a, b, c, d, w[13], 0x289b7ec6, 4);
            step!(0x96, d, a, b, c, w[0], 0xeaa127fa, 11);
            step!(0x96, c, d, a, b, w[3], 0xd4ef3085, 16);
            step!(0x96, b, c, d, a, w[6], 0x04881d05, 23);
            step!(0x96, a, b, c, d, w[9], 0xd9d4d039, 4);
            step!(0x96, d, a, b, c, w[12], 0xe6db99e5, 11);
            step!(0x96, c, d, a, b, w[15], 0x1fa27cf8, 16);
            step!(0x96, b, c, d, a, w[2], 0xc4ac5665, 23);
            step!(0x39, a, b, c, d, w[0], 0xf4292244, 6);
            step!(0x39, d, a, b, c, w[7], 0x432aff97, 10);
            step!(0x39, c, d, a, b, w[14], 0xab9423a7, 15);
            step!(0x39, b, c, d, a, w[5], 0xfc93a039, 21);
            step!(0x39, a, b, c, d, w[12], 0x655b59c3, 6);
            step!(0x39, d, a, b, c, w[3], 0x8f0ccc92, 10);
            step!(0x39, c, d, a, b, w[10], 0xffeff47d, 15);
            step!(0x39, b, c, d, a, w[1], 0x85845dd1, 21);
            step!(0x39, a, b, c, d, w[8], 0x6fa87e4f, 6);
            step!(0x39, d, a, b, c, w[15], 0xfe2ce6e0, 10);
            step!(0x39, c, d, a, b, w[6], 0xa3014314, 15);
            step!(0x39, b, c, d, a, w[13], 0x4e0811a1, 21);
            step!(0x39, a, b, c, d, w[4], 0xf7537e82, 6);
            step!(0x39, d, a, b, c, w[11], 0xbd3af235, 10);
            step!(0x39, c, d, a, b, w[2], 0x2ad7d2bb, 15);
            step!(0x39, b, c, d, a, w[9], 0xeb86d391, 21);
            a = _mm512_add_epi32(a, a0);
            b = _mm512_add_epi32(b, b0);
            c = _mm512_add_epi32(c, c0);
            d = _mm512_add_epi32(d, d0);
        }
        // SAFETY: as for the loads.
        unsafe {
            _mm512_storeu_si512(h[0].as_mut_ptr().cast(), a);
            _mm512_storeu_si512(h[1].as_mut_ptr().cast(), b);
            _mm512_storeu_si512(h[2].as_mut_ptr().cast(), c);
            _mm512_storeu_si512(h[3].as_mut_ptr().cast(), d);
        }
    }
}
