//! Real-kernel tests of aligned buffers, the registered (fixed) buffer pool and their ring ops:
//! O_DIRECT writes from plain and registered buffers land byte for byte, a pool registered
//! with one ring is never used as fixed on another, receives stop at their bound, and a write
//! or receive dropped in flight returns its pool buffer only after its completion.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use engine::io::{self, AlignedBuf, FixedBufs, Reactor, ReactorConfig, DIO_ALIGN};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aisle-abuf-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run<T: 'static>(f: impl std::future::Future<Output = T> + 'static) -> T {
    let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
    let v = r.block_on(f);
    drop(r);
    v
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Opens `p` for writing with O_DIRECT (the test directory is on a filesystem with direct I/O:
/// ext4 or xfs, or tmpfs on Linux >= 6.6).
async fn open_direct(p: &std::path::Path) -> io::Fd {
    io::open(
        p,
        libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC | libc::O_DIRECT,
        0o644,
    )
    .await
    .unwrap_or_else(|e| panic!("O_DIRECT open of {}: {e}", p.display()))
}

#[test]
fn direct_writes_from_plain_and_registered_buffers() {
    // Goal: whole aligned blocks written with O_DIRECT from a heap buffer (WRITE), from a pool
    // buffer that is not registered (WRITE) and from a registered one (WRITE_FIXED) all land
    // byte for byte at their offsets; a partial last block goes through the page cache once
    // O_DIRECT is cleared on the descriptor.
    let dir = tmpdir("direct");
    let path = dir.join("f");
    let p2 = path.clone();
    let expected = run(async move {
        let fd = open_direct(&p2).await;
        let plain = FixedBufs::new(2, 64 * 1024);
        let fixed = FixedBufs::new(2, 64 * 1024);
        fixed
            .register()
            .expect("registering 128 KiB of fixed buffers");
        assert!(fixed.is_registered() && !plain.is_registered());
        let mut all = Vec::new();
        let mut off = 0u64;
        let bufs = [
            AlignedBuf::new(64 * 1024),
            plain.take().unwrap(),
            fixed.take().unwrap(),
        ];
        for (i, mut b) in bufs.into_iter().enumerate() {
            assert_eq!(b.fixed_index().is_some(), i == 2, "buffer {i}: fixed index");
            let data = pattern(i as u8, b.capacity());
            b.extend_from_slice(&data);
            let len = b.len();
            let (r, b) = io::write_all_aligned_at(&fd, b, 0..len, off).await;
            r.unwrap_or_else(|e| panic!("direct write from buffer {i}: {e}"));
            assert_eq!(b.len(), len, "the op hands the buffer back intact");
            all.extend_from_slice(&data);
            off += len as u64;
        }
        // The last partial block, buffered.
        io::sys::set_direct(&fd, false).unwrap();
        let mut b = fixed.take().unwrap();
        let tail = pattern(9, 1000);
        b.extend_from_slice(&tail);
        let (r, _b) = io::write_all_aligned_at(&fd, b, 0..1000, off).await;
        r.unwrap();
        all.extend_from_slice(&tail);
        all
    });
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_pool_registered_on_one_ring_is_not_fixed_on_another() {
    // Goal: registered buffers belong to one ring. A pool registered with a reactor that is
    // gone names no fixed index on the thread's next reactor (its writes go out as plain
    // WRITE and succeed); registered there, it is fixed again.
    let dir = tmpdir("rings");
    let path = dir.join("f");
    let r1 = Reactor::new(0, &ReactorConfig::default()).unwrap();
    let pool = r1.block_on(async {
        let pool = FixedBufs::new(1, DIO_ALIGN);
        pool.register().unwrap();
        assert!(pool.take().unwrap().fixed_index().is_some());
        pool
    });
    drop(r1);
    let r2 = Reactor::new(0, &ReactorConfig::default()).unwrap();
    let p2 = path.clone();
    r2.block_on(async move {
        assert!(!pool.is_registered(), "registered with the old ring only");
        let mut b = pool.take().unwrap();
        assert_eq!(b.fixed_index(), None);
        b.extend_from_slice(&[5u8; DIO_ALIGN]);
        let fd = open_direct(&p2).await;
        let (r, b) = io::write_all_aligned_at(&fd, b, 0..DIO_ALIGN, 0).await;
        r.unwrap();
        drop(b);
        pool.register().unwrap();
        assert_eq!(pool.take().unwrap().fixed_index(), Some(0));
    });
    drop(r2);
    assert_eq!(std::fs::read(&path).unwrap(), vec![5u8; DIO_ALIGN]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn recv_aligned_honours_its_bound_and_appends() {
    // Goal: a receive into an aligned buffer appends after the data already there and never
    // takes more than `max` bytes, so a body is never read past its end.
    let (a, mut b) = UnixStream::pair().unwrap();
    let sent = pattern(3, 10_000);
    let s2 = sent.clone();
    let writer = std::thread::spawn(move || b.write_all(&s2).unwrap());
    let got = run(async move {
        let fd = io::Fd::from_owned(a.into());
        let mut buf = AlignedBuf::new(16 * 1024);
        buf.extend_from_slice(b"prefix");
        let mut total = 0;
        while total < 10_000 {
            let (r, b) = io::recv_aligned(&fd, buf, 3000).await;
            buf = b;
            let n = r.unwrap();
            assert!(n > 0 && n <= 3000, "recv of {n} bytes with max 3000");
            total += n;
        }
        buf[..].to_vec()
    });
    writer.join().unwrap();
    assert_eq!(&got[..6], b"prefix");
    assert_eq!(&got[6..], &sent[..]);
}

#[test]
fn a_dropped_write_returns_its_pool_buffer_after_the_completion() {
    // Goal: the op owns the buffer until its completion: a write whose future is dropped in
    // flight parks the registered buffer in its slot, and the buffer returns to the pool once
    // the completion is reaped (no op left, all buffers free).
    // Steps: the spawned task submits its write; before the reactor has even handed the SQE to
    // the kernel (no completion can have been reaped), check the op is in flight and the pool
    // is one buffer short; drop the task; check the same again (the buffer is parked in the
    // slot, not returned); then wait for the completion and check both are back.
    let dir = tmpdir("dropped");
    let path = dir.join("f");
    let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
    let p2 = path.clone();
    r.block_on(async move {
        let pool = FixedBufs::new(2, 1 << 20);
        pool.register().unwrap();
        let fd = open_direct(&p2).await;
        let mut b = pool.take().unwrap();
        b.extend_from_slice(&pattern(1, 1 << 20));
        let w = io::spawn(async move {
            let _ = io::write_all_aligned_at(&fd, b, 0..(1 << 20), 0).await;
        });
        // The task submits its write. No completion is reaped while tasks run (the reactor
        // reaps only between batches): the write is in flight and owns its buffer.
        io::yield_now().await;
        assert_eq!(io::ops_inflight(), 1, "the write is in flight");
        assert_eq!(pool.available(), 1, "the buffer is lent to the write");
        // Cancel the task while the write is in flight. The cancelled task runs next in this
        // batch and drops its future, parking the write's resources in its slot; no
        // completion is reaped before we run again.
        drop(w);
        io::yield_now().await;
        assert_eq!(
            io::ops_inflight(),
            1,
            "the dropped write's op waits for its completion"
        );
        assert_eq!(
            pool.available(),
            1,
            "the buffer stays parked in the op slot until the completion"
        );
        for _ in 0..100 {
            if pool.available() == 2 {
                break;
            }
            io::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            pool.available(),
            2,
            "the buffer came back after the completion"
        );
        assert_eq!(io::ops_inflight(), 0, "the completion was reaped");
    });
    assert_eq!(
        r.ops_inflight(),
        0,
        "the dropped write's completion was reaped"
    );
    drop(r);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_dropped_receive_keeps_its_pool_buffer_until_the_completion() {
    // Goal: a receive into a pool buffer whose future is dropped keeps the buffer out of the
    // pool for as long as the kernel may write into it, however long that is, and returns it
    // when the completion comes.
    // Steps: a socket pair on which nothing is ever sent; a task receives into the pool's
    // only buffer; before any completion can be reaped, check the op is in flight and the
    // pool empty; drop the task and check the same (the buffer is parked in the op slot);
    // then wait for the cancel's completion and check the buffer is back and reusable.
    let (a, b) = UnixStream::pair().unwrap();
    let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
    r.block_on(async move {
        let pool = FixedBufs::new(1, 64 * 1024);
        let fd = io::Fd::from_owned(std::os::fd::OwnedFd::from(a));
        let buf = pool.take().unwrap();
        assert!(pool.take().is_none(), "the pool's only buffer is out");
        let rx = io::spawn(async move {
            let _ = io::recv_aligned(&fd, buf, 4096).await;
        });
        io::yield_now().await; // the task submits its receive
        assert_eq!(io::ops_inflight(), 1, "the receive is in flight");
        drop(rx);
        io::yield_now().await; // the cancelled task drops its future (nothing reaped yet)
        assert_eq!(
            io::ops_inflight(),
            1,
            "the dropped receive waits for its completion"
        );
        assert!(pool.take().is_none(), "the buffer is parked in the op slot");
        // The dropped op asked for a cancel: its completion comes and returns the buffer.
        for _ in 0..100 {
            if pool.available() == 1 {
                break;
            }
            io::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            pool.available(),
            1,
            "the buffer came back after the completion"
        );
        assert_eq!(io::ops_inflight(), 0, "the completion was reaped");
        let mut again = pool.take().expect("the buffer is reusable");
        again.extend_from_slice(b"x");
        assert_eq!(again.len(), 1);
    });
    drop(r);
    drop(b);
}
