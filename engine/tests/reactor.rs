//! Real-kernel tests of the io_uring reactor: ops complete with the right results, dropped ops
//! keep their buffers until the completion, wakes from other threads reach a sleeping core.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use engine::io::{self, Reactor, ReactorConfig};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aisle-reactor-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A listening socket on a free loopback port, and the port.
fn listener(backlog: i32) -> (std::os::fd::OwnedFd, u16) {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let lfd = io::sys::listen_reuseport(addr, backlog).unwrap();
    let port = std::net::TcpListener::from(lfd.try_clone().unwrap())
        .local_addr()
        .unwrap()
        .port();
    (lfd, port)
}

fn run<T: 'static>(f: impl std::future::Future<Output = T> + 'static) -> T {
    let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
    let v = r.block_on(f);
    drop(r);
    v
}

#[test]
fn nop_sleep_and_spawn() {
    // Goal: basic ops complete; a timer waits about as long as asked; spawned tasks run.
    run(async {
        io::nop().await.unwrap();
        let t = Instant::now();
        io::sleep(Duration::from_millis(30)).await;
        assert!(t.elapsed() >= Duration::from_millis(25));
        let h = io::spawn(async { 40 + 2 });
        assert_eq!(h.await, 42);
    });
}

#[test]
fn file_write_read_rename_unlink() {
    // Goal: the file ops round-trip data and metadata changes.
    let dir = tmpdir("file");
    let d2 = dir.clone();
    run(async move {
        let p = d2.join("a/b/c");
        io::mkdir_all(&p, 0o755).await.unwrap();
        let f = p.join("f");
        let fd = io::open(&f, libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, 0o644)
            .await
            .unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (r, _) = io::write_all_at(&fd, data.clone(), 0).await;
        r.unwrap();
        io::fsync(&fd, false).await.unwrap();
        io::sys::fsetxattr(&fd, "user.test", b"v1").unwrap();
        drop(fd);
        let g = p.join("g");
        io::rename(&f, &g).await.unwrap();
        let fd = io::open(&g, libc::O_RDONLY, 0).await.unwrap();
        let mut out = Vec::new();
        loop {
            let (r, b) = io::read_at(&fd, Vec::with_capacity(65536), out.len() as u64).await;
            let n = r.unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&b);
        }
        assert_eq!(out, data);
        let mut x = Vec::new();
        assert!(io::sys::fgetxattr(&fd, "user.test", &mut x).unwrap());
        assert_eq!(x, b"v1");
        assert_eq!(io::sys::fstat(&fd).unwrap().size, 200_000);
        io::unlink(&g, false).await.unwrap();
        assert!(io::open(&g, libc::O_RDONLY, 0).await.is_err());
    });
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn tcp_echo_with_nonblocking_sockets() {
    // Goal: ring recv/send on a non-blocking socket still wait for data (io_uring polls
    // internally) rather than failing with EAGAIN; sendfile and splice move file bytes.
    let (lfd, port) = listener(16);
    let dir = tmpdir("tcp");
    let file = dir.join("blob");
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i % 239) as u8).collect();
    std::fs::write(&file, &blob).unwrap();
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(50)); // server's recv must wait
        s.write_all(b"ping").unwrap();
        let mut got = vec![0u8; 4 + 2 * 300_000];
        s.read_exact(&mut got).unwrap();
        got
    });
    let f2 = file.clone();
    run(async move {
        let listener = io::Fd::from_owned(lfd);
        let conn = io::accept(&listener).await.unwrap();
        io::sys::set_nonblocking(&conn).unwrap();
        io::sys::set_nodelay(&conn).unwrap();
        let (r, buf) = io::recv(&conn, Vec::with_capacity(16)).await;
        assert_eq!(r.unwrap(), 4);
        let (r, _) = io::send_all(&conn, buf, 0).await;
        r.unwrap();
        let file = io::open(&f2, libc::O_RDONLY, 0).await.unwrap();
        // sendfile with POLLOUT fallback
        let mut off = 0u64;
        while off < 300_000 {
            match io::sys::sendfile(&conn, &file, off, 300_000 - off as usize) {
                Ok(n) => off += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    io::poll(&conn, libc::POLLOUT as u32).await.unwrap();
                }
                Err(e) => panic!("{e}"),
            }
        }
        // splice file -> pipe -> socket
        let (pr, pw) = io::sys::pipe(1 << 20).unwrap();
        let mut off = 0u64;
        while off < 300_000 {
            let n = io::splice(&file, off as i64, &pw, -1, (300_000 - off) as u32)
                .await
                .unwrap();
            let mut left = n;
            while left > 0 {
                left -= io::splice(&pr, -1, &conn, -1, left as u32).await.unwrap();
            }
            off += n as u64;
        }
    });
    let got = client.join().unwrap();
    assert_eq!(&got[..4], b"ping");
    assert_eq!(&got[4..300_004], &blob[..]);
    assert_eq!(&got[300_004..], &blob[..]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn dropped_recv_is_cancelled_and_buffer_kept() {
    // Goal: dropping a pending recv future cancels the op; the reactor reaps its completion
    // and frees the buffer afterwards (no op left in flight).
    let (lfd, port) = listener(16);
    let client = std::thread::spawn(move || {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(s);
    });
    let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
    r.block_on(async move {
        let listener = io::Fd::from_owned(lfd);
        let conn = io::accept(&listener).await.unwrap();
        let recv =
            io::spawn(async move { io::recv(&conn, Vec::with_capacity(64)).await.0.is_ok() });
        // The task submits its receive; the peer sends nothing for 300 ms: it is in flight.
        io::yield_now().await;
        assert_eq!(io::ops_inflight(), 1, "the receive is in flight");
        drop(recv); // cancels the task and its op
        io::yield_now().await; // the cancelled task drops its future (nothing reaped yet)
        assert_eq!(
            io::ops_inflight(),
            1,
            "the dropped receive keeps its slot (and buffer) until its completion"
        );
        for _ in 0..100 {
            if io::ops_inflight() == 0 {
                break;
            }
            io::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(io::ops_inflight(), 0, "the cancel's completion was reaped");
    });
    assert_eq!(
        r.ops_inflight(),
        0,
        "the cancelled recv's completion was reaped"
    );
    client.join().unwrap();
}

#[test]
fn blocking_pool_and_remote_wake() {
    // Goal: a job on the blocking pool wakes the sleeping core through its eventfd.
    run(async {
        let t = Instant::now();
        let v = io::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(50));
            7
        })
        .await;
        assert_eq!(v, 7);
        assert!(t.elapsed() >= Duration::from_millis(45));
        let mut hs = Vec::new();
        for i in 0..100 {
            hs.push(io::spawn_blocking(move || i * 2));
        }
        let mut sum = 0;
        for h in hs {
            sum += h.await;
        }
        assert_eq!(sum, 9900);
    });
}

#[test]
fn probe_passes_here() {
    // Goal: the startup probe accepts this machine's kernel (CI runs on Linux 6.x).
    let rep = io::probe(64).expect("io_uring usable");
    assert!(rep.memlock_bytes > 0);
}

#[test]
fn cachestat_tells_cached_from_evicted() {
    // Goal: `is_cached` (cachestat(2)) reports a freshly read file as cached and, after its
    // pages are dropped, as not cached; the GET policy relies on it to avoid blocking reads.
    let dir = tmpdir("cachestat");
    let p = dir.join("f");
    std::fs::write(&p, vec![7u8; 256 * 1024]).unwrap();
    let f = std::fs::File::open(&p).unwrap();
    f.sync_all().unwrap();
    let fd = io::Fd::from_owned(std::os::fd::OwnedFd::from(f.try_clone().unwrap()));
    let _ = std::fs::read(&p).unwrap();
    match io::sys::is_cached(&fd, 0, 256 * 1024) {
        None => panic!("cachestat(2) unavailable: this kernel is older than 6.5"),
        Some(c) => assert!(c, "a file just read is cached"),
    }
    // Drops the clean pages (the data is on disk).
    io::sys::drop_cached_pages(&fd).unwrap();
    assert_eq!(
        io::sys::is_cached(&fd, 0, 256 * 1024),
        Some(false),
        "dropped pages are not cached"
    );
    assert_eq!(io::sys::is_cached(&fd, 0, 0), Some(true));
    drop(f);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn multishot_accept_yields_connections_and_a_dropped_stream_leaks_nothing() {
    // Goal: one multishot accept SQE yields many connections; dropping the stream with
    // connections still queued closes them and frees the slot once the kernel is done.
    // Steps: 20 clients connect; take 10 from the stream; drop it; wait; no op in flight, and
    // every client sees its connection closed (a leaked descriptor would keep one open).
    let (lfd, port) = listener(64);
    let mut clients: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
    let taken = r.block_on(async move {
        let listener = io::Fd::from_owned(lfd);
        let mut stream = io::AcceptMulti::new(&listener);
        let mut taken = Vec::new();
        for _ in 0..10 {
            taken.push(
                stream
                    .next()
                    .await
                    .expect("multishot still armed")
                    .expect("accepted"),
            );
        }
        drop(stream); // 10 more are queued or still to come: they must be closed
        io::sleep(Duration::from_millis(50)).await;
        taken.len()
    });
    assert_eq!(taken, 10);
    assert_eq!(
        r.ops_inflight(),
        0,
        "the cancelled multishot's slot was freed"
    );
    drop(r);
    for (i, c) in clients.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        assert_eq!(
            c.read(&mut b).unwrap(),
            0,
            "client {i}: its server side was never closed"
        );
    }
}

/// A reactor config with the provided-buffer ring the node uses for `--recv multishot`.
fn with_recv_ring() -> ReactorConfig {
    ReactorConfig {
        recv_bufs: 512,
        ..ReactorConfig::default()
    }
}

/// A pattern byte stream: position `i` holds `i * 7 + i / 251` (so reordering shows).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn multishot_recv_delivers_every_byte_in_order_and_returns_its_buffers() {
    // Goal: one multishot receive yields a stream's bytes in order across many completions,
    // each in a provided buffer that goes back to the ring once copied out; end of stream
    // ends the multishot.
    // Steps: a client writes 1 MiB in uneven pieces then closes; the server reads it all
    // through one RecvMulti into a Vec; compare; no buffer is left out, no op in flight.
    let (lfd, port) = listener(16);
    let data = pattern(1 << 20);
    let sent = data.clone();
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut off = 0;
        let mut step = 1;
        while off < sent.len() {
            let n = step.min(sent.len() - off);
            s.write_all(&sent[off..off + n]).unwrap();
            off += n;
            step = (step * 3 + 1) % 70_000 + 1;
        }
    });
    let r = Reactor::new(0, &with_recv_ring()).unwrap();
    let got = r.block_on(async move {
        assert!(io::recv_multi_available());
        let listener = io::Fd::from_owned(lfd);
        let conn = io::accept(&listener).await.unwrap();
        let mut stream = io::RecvMulti::new(&conn);
        let mut got = Vec::new();
        let mut completions = 0;
        loop {
            match stream.next_into(&mut got).await {
                Some(Ok(io::Received::Data(n))) => {
                    assert!(n > 0 && n <= 4096, "a completion fits one provided buffer");
                    completions += 1;
                }
                Some(Ok(io::Received::Eof)) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(stream.next_into(&mut got).await.is_none(), "ended at EOF");
        assert!(completions >= (1 << 20) / 4096, "one buffer per completion");
        got
    });
    client.join().unwrap();
    assert!(got == data, "bytes arrived complete and in order");
    assert_eq!(
        r.recv_buffers_out(),
        0,
        "every provided buffer is back in the ring"
    );
    assert_eq!(r.ops_inflight(), 0);
}

#[test]
fn multishot_recv_out_of_buffers_ends_and_a_plain_recv_goes_on_in_order() {
    // Goal: when the ring runs dry the multishot ends (nothing lost, nothing reordered); the
    // bytes it did receive come first, then a plain receive continues the stream.
    // Steps: a ring of 4 × 64-byte buffers; the client writes 4 KiB at once; the server
    // waits so the kernel fills all buffers, then drains the stream (≤ 256 bytes), sees it
    // end, and reads the rest with plain receives.
    let (lfd, port) = listener(16);
    let data = pattern(4096);
    let sent = data.clone();
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&sent).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    });
    let cfg = ReactorConfig {
        recv_bufs: 4,
        recv_buf_bytes: 64,
        ..ReactorConfig::default()
    };
    let r = Reactor::new(0, &cfg).unwrap();
    let got = r.block_on(async move {
        let listener = io::Fd::from_owned(lfd);
        let conn = io::accept(&listener).await.unwrap();
        let mut stream = io::RecvMulti::new(&conn);
        io::sleep(Duration::from_millis(100)).await; // let it run the ring dry
        let mut got = Vec::new();
        let mut ended = false;
        while let Some(r) = stream.next_into(&mut got).await {
            match r.unwrap() {
                io::Received::Data(n) => assert!(n <= 64),
                io::Received::Ended => ended = true,
                io::Received::Eof => panic!("the client has not closed"),
            }
        }
        assert!(ended, "the multishot ended for want of buffers");
        assert!(
            got.len() <= 4 * 64,
            "at most the ring's bytes: {}",
            got.len()
        );
        drop(stream);
        let mut buf = Vec::with_capacity(8192);
        while got.len() + buf.len() < 4096 {
            let (r, b) = io::recv(&conn, buf).await;
            buf = b;
            assert!(r.unwrap() > 0);
        }
        got.extend_from_slice(&buf);
        got
    });
    client.join().unwrap();
    assert!(got == data, "ring bytes then plain-receive bytes, in order");
    assert_eq!(r.recv_buffers_out(), 0);
    assert_eq!(r.ops_inflight(), 0);
}

#[test]
fn multishot_recv_cancel_keeps_received_bytes_and_a_dropped_stream_returns_buffers() {
    // Goal: `cancel` ends the multishot but bytes it already took stay readable (in order,
    // then the socket is read directly); dropping a stream with completions still queued
    // gives their buffers back.
    // Steps: the client sends "hello ", pauses, sends "world"; the server takes "hello "
    // through the stream, cancels, drains, then reads "world" with a plain receive. A second
    // connection's stream is dropped with unread data queued.
    let (lfd, port) = listener(16);
    let client = std::thread::spawn(move || {
        let mut a = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut b = TcpStream::connect(("127.0.0.1", port)).unwrap();
        a.write_all(b"hello ").unwrap();
        b.write_all(&pattern(3000)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        a.write_all(b"world").unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    let r = Reactor::new(0, &with_recv_ring()).unwrap();
    let got = r.block_on(async move {
        let listener = io::Fd::from_owned(lfd);
        let a = io::accept(&listener).await.unwrap();
        let b = io::accept(&listener).await.unwrap();
        let mut sa = io::RecvMulti::new(&a);
        let sb = io::RecvMulti::new(&b);
        let mut got = Vec::new();
        while got.len() < 6 {
            match sa.next_into(&mut got).await {
                Some(Ok(io::Received::Data(_))) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        sa.cancel();
        while let Some(r) = sa.next_into(&mut got).await {
            r.unwrap();
        }
        assert!(sa.is_done());
        drop(sa);
        io::sleep(Duration::from_millis(50)).await; // b's bytes are queued in its stream
        drop(sb);
        let mut buf = Vec::with_capacity(64);
        while got.len() + buf.len() < 11 {
            let (r, b2) = io::recv(&a, buf).await;
            buf = b2;
            assert!(r.unwrap() > 0);
        }
        got.extend_from_slice(&buf);
        io::sleep(Duration::from_millis(20)).await;
        got
    });
    client.join().unwrap();
    assert_eq!(got, b"hello world");
    assert_eq!(
        r.recv_buffers_out(),
        0,
        "the dropped stream's buffers went back"
    );
    assert_eq!(r.ops_inflight(), 0);
}

#[test]
fn teardown_cancels_and_reaps_what_tasks_leave_in_flight() {
    // Goal: dropping a reactor whose tasks still wait on ops (a long timer, a receive that
    // would never complete, a dropped receive whose cancel is not yet reaped) cancels them and
    // reaps their completions: the teardown's zero-in-flight assertion holds.
    // Steps: spawn and detach a task sleeping an hour and one receiving on a socket nobody
    // writes to; drop a third in flight; leave block_on with all three in flight; drop the
    // reactor (it would panic if an op were left).
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let (c, d) = std::os::unix::net::UnixStream::pair().unwrap();
    let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
    r.block_on(async move {
        io::spawn(async { io::sleep(Duration::from_secs(3600)).await }).detach();
        let fd = io::Fd::from_owned(std::os::fd::OwnedFd::from(a));
        io::spawn(async move {
            let _ = io::recv(&fd, Vec::with_capacity(64)).await;
        })
        .detach();
        let fd = io::Fd::from_owned(std::os::fd::OwnedFd::from(c));
        let dropped = io::spawn(async move {
            let _ = io::recv(&fd, Vec::with_capacity(64)).await;
        });
        io::yield_now().await;
        drop(dropped);
        assert_eq!(
            io::ops_inflight(),
            3,
            "three ops in flight when block_on returns"
        );
    });
    assert_eq!(r.ops_inflight(), 3);
    drop(r);
    drop((b, d));
}

#[test]
#[should_panic(expected = "ops in flight at reactor teardown")]
fn teardown_asserts_when_a_future_outlives_its_reactor() {
    // Goal: an op whose future is kept alive past its reactor is a leak the teardown reports
    // (its slot can never be freed) instead of ignoring.
    // Steps: poll a timer future once inside the reactor (its op is submitted), carry it out
    // of block_on, forget it (dropping it off the reactor thread is itself refused), drop the
    // reactor: the teardown cancels the timer, reaps its completion, and asserts.
    let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
    let kept = r.block_on(async {
        use std::future::Future;
        let mut fut = Box::pin(io::sleep(Duration::from_secs(3600)));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(io::ops_inflight(), 1);
        Some(fut)
    });
    std::mem::forget(kept);
    drop(r);
}
