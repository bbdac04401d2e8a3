//! Multi-buffer MD5 (`engine::io::md5mb`) against the `md-5` crate: many streams in random
//! pieces, in lanes and on the scalar fallback; the per-core batcher on a real reactor,
//! including updates dropped while queued; and an `#[ignore]`d throughput benchmark.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use engine::io::md5mb::{self, Md5};
use engine::io::{self, Reactor, ReactorConfig};
use md5::Digest as _;
use proptest::prelude::*;

/// Deterministic bytes for stream `seed` (xorshift).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn reference(data: &[u8]) -> [u8; 16] {
    md5::Md5::digest(data).into()
}

/// Feeds `data[i]` to stream `i` in the pieces `cuts[i]` (sorted cut points), one piece of every
/// stream per `update_many` call.
fn feed_many(data: &[Vec<u8>], cuts: &[Vec<usize>]) -> Vec<[u8; 16]> {
    let mut states: Vec<Md5> = data.iter().map(|_| Md5::new()).collect();
    let pieces: Vec<Vec<&[u8]>> = data
        .iter()
        .zip(cuts)
        .map(|(d, c)| {
            let mut at = 0;
            let mut v = Vec::new();
            for &c in c.iter().chain(std::iter::once(&d.len())) {
                v.push(&d[at..c]);
                at = c;
            }
            v
        })
        .collect();
    let rounds = pieces.iter().map(Vec::len).max().unwrap_or(0);
    for r in 0..rounds {
        let mut batch: Vec<(&mut Md5, &[u8])> = states
            .iter_mut()
            .zip(&pieces)
            .filter_map(|(s, p)| p.get(r).map(|piece| (s, *piece)))
            .collect();
        md5mb::update_many(&mut batch);
    }
    states.into_iter().map(Md5::finalize).collect()
}

fn streams() -> impl Strategy<Value = Vec<(u64, usize, Vec<usize>)>> {
    let len = prop_oneof![
        3 => 0usize..300 * 1024,
        1 => prop::sample::select(vec![0usize, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 65536]),
    ];
    prop::collection::vec(
        (
            any::<u64>(),
            len,
            prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        ),
        1..40,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(seed, len, idx)| {
                let mut cuts: Vec<usize> = idx.iter().map(|i| i.index(len + 1)).collect();
                cuts.sort_unstable();
                (seed, len, cuts)
            })
            .collect()
    })
}

fn check_streams(spec: &[(u64, usize, Vec<usize>)]) {
    let data: Vec<Vec<u8>> = spec.iter().map(|(s, l, _)| bytes(*s, *l)).collect();
    let cuts: Vec<Vec<usize>> = spec.iter().map(|(_, _, c)| c.clone()).collect();
    let got = feed_many(&data, &cuts);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(got[i], reference(d), "stream {i} of {} bytes", d.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Lanes (where the CPU has them): equal to `md-5` for every stream, any lengths and splits.
    #[test]
    fn many_streams_match_md5(spec in streams()) {
        md5mb::force_scalar(false);
        check_streams(&spec);
    }

    /// The scalar fallback, forced: the same digests.
    #[test]
    fn many_streams_match_md5_scalar(spec in streams()) {
        md5mb::force_scalar(true);
        check_streams(&spec);
        md5mb::force_scalar(false);
    }
}

/// Goal: the padding edge cases, one stream and many, byte by byte and whole.
#[test]
fn padding_edges() {
    for len in [
        0usize, 1, 55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129,
    ] {
        let d = bytes(len as u64, len);
        let mut s = Md5::new();
        s.update(&d);
        assert_eq!(s.finalize(), reference(&d), "len {len}");
        let mut s = Md5::new();
        for b in &d {
            s.update(std::slice::from_ref(b));
        }
        assert_eq!(s.finalize(), reference(&d), "len {len} bytewise");
    }
    assert_eq!(
        engine::cksum::hex(&Md5::new().finalize()),
        "d41d8cd98f00b204e9800998ecf8427e"
    );
    // 16 streams of equal length: every lane busy every round.
    let spec: Vec<(u64, usize, Vec<usize>)> = (0..16).map(|i| (i, 64 * 1024, vec![])).collect();
    check_streams(&spec);
    let s = md5mb::stats();
    if md5mb::lanes_enabled() {
        assert!(s.rounds >= 1024 && s.lane_blocks >= 16 * 1024, "{s:?}");
    }
}

fn run<T: 'static>(f: impl Future<Output = T> + 'static) -> T {
    let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
    let v = r.block_on(f);
    drop(r);
    v
}

/// Goal: concurrent tasks' async updates are batched into one flush and hash right.
#[test]
fn batcher_hashes_concurrent_updates() {
    run(async {
        let before = md5mb::stats();
        let mut handles = Vec::new();
        for i in 0..24u64 {
            handles.push(io::spawn(async move {
                let len = 40_000 + (i as usize) * 7919;
                let data = bytes(i, len);
                let mut st = Md5::new();
                // Uneven pieces, each through the batch (or at once when small).
                let mut at = 0;
                let mut step = 1000 + i as usize * 37;
                while at < len {
                    let end = (at + step).min(len);
                    let buf = data.clone();
                    let back = md5mb::update(&mut st, buf, at..end).await;
                    assert_eq!(back.len(), len);
                    at = end;
                    step = step * 3 + 11;
                }
                assert_eq!(st.finalize(), reference(&data), "stream {i}");
            }));
        }
        for h in handles {
            h.await;
        }
        let s = md5mb::stats();
        let (flushes, batched) = (s.flushes - before.flushes, s.batched - before.batched);
        assert!(batched > 0 && flushes > 0, "{s:?}");
        // 24 tasks started in the same turn: their first big updates share flushes.
        assert!(
            batched >= 2 * flushes,
            "{batched} updates in {flushes} flushes"
        );
        assert_eq!(md5mb::queued(), 0);
    });
}

/// Goal: an update dropped while queued is never hashed (its buffer is freed), the flush hashes
/// the others right, and the abandoned state refuses to finish.
#[test]
fn dropped_update_is_deregistered() {
    run(async {
        let data = bytes(7, 256 * 1024);
        let mut st = Md5::new();
        {
            let mut fut = pin!(md5mb::update(&mut st, data.clone(), 0..data.len()));
            std::future::poll_fn(|cx| {
                assert!(fut.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert_eq!(md5mb::queued(), 1);
        }
        // Dropped (and its buffer freed) before any flush ran.
        assert_eq!(md5mb::queued(), 0);
        let before = md5mb::stats();
        let mut other = Md5::new();
        let back = md5mb::update(&mut other, data.clone(), 0..data.len()).await;
        assert_eq!(back.len(), data.len());
        assert_eq!(other.finalize(), reference(&data));
        let s = md5mb::stats();
        assert_eq!(
            s.batched - before.batched,
            1,
            "only the live update was hashed"
        );
        let abandoned = std::panic::catch_unwind(move || st.finalize());
        assert!(
            abandoned.is_err(),
            "a state whose update was dropped must not finish"
        );

        // Hashed but never polled again: dropping it still removes its entry.
        let mut a = Md5::new();
        let mut b = Md5::new();
        {
            let mut fa = pin!(md5mb::update(&mut a, data.clone(), 0..data.len()));
            std::future::poll_fn(|cx| {
                assert!(fa.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            let back = md5mb::update(&mut b, data.clone(), 0..data.len()).await;
            assert_eq!(back.len(), data.len());
            assert_eq!(
                md5mb::queued(),
                1,
                "a's entry waits, hashed, for its future"
            );
        }
        assert_eq!(md5mb::queued(), 0);
        assert_eq!(b.finalize(), reference(&data));
    });
}

/// Goal: a reactor torn down with a flush queued leaves the thread able to batch again.
#[test]
fn new_reactor_after_teardown_flushes() {
    for round in 0..3u64 {
        run(async move {
            let data = bytes(round, 100_000);
            let mut st = Md5::new();
            let _ = md5mb::update(&mut st, data.clone(), 0..data.len()).await;
            assert_eq!(st.finalize(), reference(&data));
        });
    }
}

/// Throughput of `update_many` for 1..32 concurrent 64 KiB streams against `md-5` (asm), one
/// after the other. `cargo test --release -p engine --test md5mb -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_md5mb() {
    const LEN: usize = 64 * 1024;
    let reps = |k: usize| (2048 / k).max(16);
    for k in [1usize, 2, 3, 4, 8, 16, 32] {
        let data: Vec<Vec<u8>> = (0..k as u64).map(|i| bytes(i, LEN)).collect();
        let n = reps(k);
        // The timed work is the real work: one pass checked against the reference first.
        let mut st: Vec<Md5> = (0..k).map(|_| Md5::new()).collect();
        let mut batch: Vec<(&mut Md5, &[u8])> =
            st.iter_mut().zip(&data).map(|(s, d)| (s, &d[..])).collect();
        md5mb::update_many(&mut batch);
        for (i, s) in st.into_iter().enumerate() {
            assert_eq!(s.finalize(), reference(&data[i]), "stream {i} of {k}");
        }
        let mut best_mb = f64::MAX;
        let mut best_ref = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..n {
                let mut st: Vec<Md5> = (0..k).map(|_| Md5::new()).collect();
                let mut batch: Vec<(&mut Md5, &[u8])> =
                    st.iter_mut().zip(&data).map(|(s, d)| (s, &d[..])).collect();
                md5mb::update_many(&mut batch);
                std::hint::black_box(st.into_iter().map(Md5::finalize).count());
            }
            best_mb = best_mb.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            for _ in 0..n {
                for d in &data {
                    std::hint::black_box(md5::Md5::digest(d));
                }
            }
            best_ref = best_ref.min(t.elapsed().as_secs_f64());
        }
        let bytes = (n * k * LEN) as f64;
        println!(
            "streams {k:>2}: md5mb {:>6.2} GB/s ({:>5.1} us per 64 KiB), md-5 asm {:>5.2} GB/s ({:>5.1} us), {:.1}x",
            bytes / best_mb / 1e9,
            best_mb / (n * k) as f64 * 1e6,
            bytes / best_ref / 1e9,
            best_ref / (n * k) as f64 * 1e6,
            best_ref / best_mb
        );
    }
}
