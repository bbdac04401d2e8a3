//! The direct-I/O PUT path against a real node process: bodies of every size around the block
//! and threshold boundaries come back byte for byte with the right checksum and file size, the
//! threshold picks the path, overwrites work, a cut body or a bad client checksum leaves
//! nothing, the registered buffer pool falls back to plain buffers when it runs out and gets
//! its buffers back from aborted PUTs, and a mountpath whose filesystem has no direct I/O stays
//! buffered.
//!
//! Which path a PUT took is read from `/metrics` (`aisle_core_put_direct_count`,
//! `aisle_core_put_direct_fixed_count`, `aisle_mountpath_direct_refused`).
mod common;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// The direct-PUT buffer size of the node (`core::PUT_DIRECT_BUF_BYTES`).
const BUF: usize = 256 * KIB;

/// Sum over every sample of metric `name` (all cores, or all mountpaths).
fn metric(node: &Node, name: &str) -> u64 {
    let r = node.req("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    let prefix = format!("{name}{{");
    r.text()
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("bad sample {l:?}"))
        })
        .sum()
}

/// (direct PUTs, of which with a registered buffer).
fn direct_counts(node: &Node) -> (u64, u64) {
    (
        metric(node, "aisle_core_put_direct_count"),
        metric(node, "aisle_core_put_direct_fixed_count"),
    )
}

/// The object's file under whichever mountpath holds it.
fn object_file(node: &Node, b: &str, o: &str) -> PathBuf {
    node.mountpaths
        .iter()
        .map(|m| m.join("@ais").join(b).join("%ob").join(o))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no file for {b}/{o}"))
}

/// Asserts that `b/o` holds exactly `data`: PUT answer checksum, GET bytes and checksum, HEAD
/// size and checksum, and the size of the file on disk.
fn assert_stored(node: &Node, b: &str, o: &str, data: &[u8], put: &Resp) {
    let ck = xxhash2(data);
    let n = data.len();
    assert_eq!(put.status, 200, "PUT {o} ({n} bytes): {}", put.text());
    assert_eq!(
        put.header("ais-checksum-value"),
        Some(ck.as_str()),
        "PUT {o}"
    );
    let g = node.get(b, o);
    assert_eq!(g.status, 200, "GET {o}");
    assert!(
        g.body == data,
        "GET {o}: {} bytes differ from the {n} put",
        g.body.len()
    );
    assert_eq!(g.header("ais-checksum-type"), Some("xxhash2"), "GET {o}");
    assert_eq!(g.header("ais-checksum-value"), Some(ck.as_str()), "GET {o}");
    let h = node.head(b, o);
    assert_eq!(h.status, 200, "HEAD {o}");
    assert_eq!(
        h.header("content-length"),
        Some(n.to_string().as_str()),
        "HEAD {o}"
    );
    assert_eq!(
        h.header("ais-checksum-value"),
        Some(ck.as_str()),
        "HEAD {o}"
    );
    let len = std::fs::metadata(object_file(node, b, o)).unwrap().len();
    assert_eq!(len, n as u64, "{o}: file size on disk");
}

/// PUT with the head and the first `first` body bytes in one write, then the rest in pieces of
/// `piece` bytes (a short pause now and then so the node sees many partial receives).
fn put_dribbled(node: &Node, b: &str, o: &str, data: &[u8], first: usize, piece: usize) -> Resp {
    let mut s = connect(node.port);
    s.set_nodelay(true).unwrap();
    let head = format!(
        "PUT /v1/objects/{b}/{o} HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    let first = first.min(data.len());
    s.write_all(&[head.as_bytes(), &data[..first]].concat())
        .unwrap();
    for (i, c) in data[first..].chunks(piece).enumerate() {
        s.write_all(c).unwrap();
        if i % 16 == 15 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut buf = Vec::new();
    read_response(&mut s, &mut buf, false).unwrap()
}

/// Sizes around the block size, the given threshold and the buffer size, and large ones.
fn sizes(threshold: usize) -> Vec<usize> {
    let mut v = vec![
        0,
        1,
        4095,
        4096,
        4097,
        threshold - 1,
        threshold,
        threshold + 1,
        BUF - 1,
        BUF,
        BUF + 1,
        MIB,
        MIB + 123,
        5 * MIB + 7,
    ];
    v.sort();
    v.dedup();
    v
}

fn direct_puts_of_every_size_round_trip_with(recv: &str) {
    // Goal: with `--put-direct-min 0` every PUT takes the direct path (with a registered
    // buffer), and for sizes 0, 1, 4095, 4096, 4097, a threshold ± 1, the buffer size ± 1,
    // 1 MiB, 1 MiB + 123 and 5 MiB + 7 the stored object is exactly the body: GET bytes,
    // checksums (PUT, GET, HEAD = xxhash64 of the body), size on disk. Bodies sent at once,
    // dribbled in odd pieces, and after `Expect: 100-continue` all work. No work file remains.
    let node = Node::start_with_args(2, &["--put-direct-min", "0", "--recv", recv]);
    node.create_bucket("b");
    let mut puts = 0;
    for (i, n) in sizes(100_000).into_iter().enumerate() {
        let data = bytes(100 + i as u64, n);
        let o = format!("whole-{n}");
        let r = node.put("b", &o, &data);
        assert_stored(&node, "b", &o, &data, &r);
        let o = format!("dribbled-{n}");
        let r = put_dribbled(&node, "b", &o, &data, 5000, 7777);
        assert_stored(&node, "b", &o, &data, &r);
        puts += 2;
    }
    // 100-continue: the node answers 100 before the body comes.
    let data = bytes(7, MIB + 5);
    let mut s = connect(node.port);
    let head = format!(
        "PUT /v1/objects/b/continued HTTP/1.1\r\nHost: h\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let interim = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(interim.status, 100);
    s.write_all(&data).unwrap();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_stored(&node, "b", "continued", &data, &r);
    puts += 1;
    assert_eq!(direct_counts(&node), (puts, puts), "(direct, fixed) PUTs");
    assert!(node.work_files("b").is_empty(), "work files left");
}

#[test]
fn direct_puts_of_every_size_round_trip() {
    direct_puts_of_every_size_round_trip_with("single");
}

#[test]
fn direct_puts_of_every_size_round_trip_multishot_recv() {
    // The multishot receive must hand over to the direct receive without losing or
    // reordering a byte (the head's and the body's first bytes may arrive through it).
    direct_puts_of_every_size_round_trip_with("multishot");
}

#[test]
fn the_threshold_picks_the_path() {
    // Goal: `--put-direct-min` is compared with Content-Length: one byte below it the PUT is
    // buffered, at it and above it direct; a chunked body (size unknown) is buffered whatever
    // its size; `off` keeps every PUT buffered. Every object round-trips either way.
    let t = 256 * KIB;
    let node = Node::start_with_args(2, &["--put-direct-min", "256K"]);
    node.create_bucket("b");
    for (n, direct) in [(t - 1, 0), (t, 1), (t + 1, 2), (4096, 2), (3 * MIB + 1, 3)] {
        let data = bytes(n as u64, n);
        let o = format!("o{n}");
        let r = node.put("b", &o, &data);
        assert_stored(&node, "b", &o, &data, &r);
        assert_eq!(direct_counts(&node).0, direct, "after {n} bytes");
    }
    // Chunked, 2 MiB: buffered.
    let data = bytes(9, 2 * MIB);
    let mut body = Vec::new();
    for c in data.chunks(100_000) {
        body.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        body.extend_from_slice(c);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let r = node.req(
        "PUT",
        "/v1/objects/b/chunked",
        &[("Transfer-Encoding", "chunked")],
        &body,
    );
    assert_stored(&node, "b", "chunked", &data, &r);
    assert_eq!(direct_counts(&node).0, 3, "a chunked PUT is buffered");

    let off = Node::start_with_args(1, &["--put-direct-min", "off"]);
    off.create_bucket("b");
    let data = bytes(5, 5 * MIB + 7);
    let r = off.put("b", "big", &data);
    assert_stored(&off, "b", "big", &data, &r);
    assert_eq!(direct_counts(&off), (0, 0), "direct PUTs are off");
}

#[test]
fn direct_overwrites_replace_the_object() {
    // Goal: overwriting an object through the direct path replaces it whole (a shorter new
    // version leaves nothing of the longer old one), bumps the version, and mixes with
    // buffered overwrites of the same name.
    let node = Node::start_with_args(2, &["--put-direct-min", "64K"]);
    node.create_bucket("b");
    let versions = [
        bytes(1, 3 * MIB + 5),    // direct
        bytes(2, 300_001),        // direct, shorter
        bytes(3, 1000),           // buffered
        bytes(4, 2 * MIB),        // direct, block-aligned size
        bytes(5, BUF * 2 + 4095), // direct
    ];
    for (i, v) in versions.iter().enumerate() {
        let r = node.put("b", "o", v);
        assert_stored(&node, "b", "o", v, &r);
        let want = (i + 1).to_string();
        assert_eq!(r.header("ais-version"), Some(want.as_str()), "version {i}");
    }
    assert_eq!(direct_counts(&node).0, 4);
    assert_eq!(node.list_names("b"), ["o"]);
    assert!(node.work_files("b").is_empty());
}

/// Sends a PUT head and part of its body on a new connection and leaves it open.
fn start_put(node: &Node, b: &str, o: &str, data: &[u8], sent: usize) -> TcpStream {
    let mut s = connect(node.port);
    let head = format!(
        "PUT /v1/objects/{b}/{o} HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    s.write_all(&[head.as_bytes(), &data[..sent]].concat())
        .unwrap();
    s
}

/// Polls (≤ 10 s) until `n` work files of bucket `b` each hold at least `bytes`.
fn wait_work_files(node: &Node, b: &str, n: usize, bytes: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let w = node.work_files(b);
        let big = w
            .iter()
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() >= bytes))
            .count();
        if big >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} work files of at least {bytes} bytes, have {w:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `count` PUTs of 600 KiB at once: each has received and written a whole buffer before
/// any of them completes, so all hold a buffer at the same time. Returns the fixed-buffer
/// PUTs among them.
fn overlapping_puts(node: &Node, b: &str, count: usize, tag: &str) -> u64 {
    let before = direct_counts(node);
    let datas: Vec<Vec<u8>> = (0..count)
        .map(|i| bytes(50 + i as u64, 600 * KIB))
        .collect();
    let mut conns: Vec<TcpStream> = datas
        .iter()
        .enumerate()
        .map(|(i, d)| start_put(node, b, &format!("{tag}-{i}"), d, 300 * KIB))
        .collect();
    // A whole buffer (256 KiB) of each is on disk: every PUT holds its buffer now.
    wait_work_files(node, b, count, BUF as u64);
    for (s, d) in conns.iter_mut().zip(&datas) {
        s.write_all(&d[300 * KIB..]).unwrap();
    }
    for (i, (mut s, d)) in conns.into_iter().zip(&datas).enumerate() {
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf, false).unwrap();
        assert_stored(node, b, &format!("{tag}-{i}"), d, &r);
    }
    let after = direct_counts(node);
    assert_eq!(after.0 - before.0, count as u64, "{tag}: all direct");
    after.1 - before.1
}

#[test]
fn the_buffer_pool_falls_back_and_gets_aborted_puts_buffers_back() {
    // Goal: with 2 registered buffers per core (one core), 3 overlapping PUTs all succeed:
    // two with registered buffers, one with a plain aligned buffer. Cut PUTs (the client
    // closes mid-body, after direct writes happened or before) return their buffers: the
    // same 3 overlapping PUTs afterwards again get exactly 2 registered buffers. With
    // `--no-put-fixed-bufs`, or no pool at all, direct PUTs work without registered buffers.
    let node = Node::start_with_args(
        1,
        &[
            "--cores",
            "1",
            "--put-direct-min",
            "0",
            "--put-direct-bufs",
            "2",
        ],
    );
    node.create_bucket("b");
    assert_eq!(
        overlapping_puts(&node, "b", 3, "first"),
        2,
        "fixed PUTs of 3"
    );
    let before = node.snapshot();
    for (sent, total) in [
        (2 * MIB, 4 * MIB),
        (BUF + 5, BUF * 2),
        (100, 5000),
        (0, 1000),
    ] {
        let data = bytes(sent as u64, total);
        let s = start_put(&node, "b", "cut", &data, sent);
        if sent > BUF {
            wait_work_files(&node, "b", 1, BUF as u64);
        }
        s.shutdown(Shutdown::Write).unwrap();
        let mut s = s;
        let mut rest = Vec::new();
        assert!(
            closed_by_peer(&mut s, &mut rest),
            "cut PUT: connection kept"
        );
        node.wait_snapshot(&before, &format!("cut PUT after {sent} of {total} bytes"));
    }
    assert_eq!(node.head("b", "cut").status, 404);
    assert_eq!(
        overlapping_puts(&node, "b", 3, "second"),
        2,
        "buffers came back"
    );

    let unreg = Node::start_with_args(
        1,
        &[
            "--cores",
            "1",
            "--put-direct-min",
            "0",
            "--no-put-fixed-bufs",
        ],
    );
    unreg.create_bucket("b");
    assert_eq!(overlapping_puts(&unreg, "b", 2, "unreg"), 0);
    let nopool = Node::start_with_args(
        1,
        &[
            "--cores",
            "1",
            "--put-direct-min",
            "0",
            "--put-direct-bufs",
            "0",
        ],
    );
    nopool.create_bucket("b");
    assert_eq!(overlapping_puts(&nopool, "b", 2, "nopool"), 0);
}

#[test]
fn truncated_direct_bodies_store_nothing() {
    // Goal: a direct PUT whose client closes mid-body (after some direct writes, or within the
    // first block) stores nothing, keeps the old object of that name and leaves no work file.
    let node = Node::start_with_args(2, &["--put-direct-min", "0"]);
    node.create_bucket("b");
    let old = bytes(1, MIB + 3);
    assert_eq!(node.put("b", "old", &old).status, 200);
    let before = node.snapshot();
    for (name, sent, total) in [
        ("new", 3 * MIB, 4 * MIB),
        ("old", 3 * MIB, 4 * MIB),
        ("old", 5000, MIB),
        ("small", 10, 100),
    ] {
        let data = bytes(2, total);
        let mut s = start_put(&node, "b", name, &data, sent);
        if sent > BUF {
            wait_work_files(&node, "b", 1, BUF as u64);
        }
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        assert!(closed_by_peer(&mut s, &mut rest), "{name}: connection kept");
        if let Some((r, _)) = parse_response(&rest, false) {
            assert!(
                r.status >= 400,
                "{name}: a cut PUT was answered {}",
                r.status
            );
        }
        node.wait_snapshot(
            &before,
            &format!("cut direct PUT of {name} ({sent}/{total})"),
        );
    }
    assert_eq!(node.head("b", "new").status, 404);
    assert_eq!(node.head("b", "small").status, 404);
    let g = node.get("b", "old");
    assert!(g.status == 200 && g.body == old, "old object changed");
    assert!(node.work_files("b").is_empty());
}

#[test]
fn direct_put_with_a_bad_client_checksum_is_400_and_stores_nothing() {
    // Goal: on the direct path a client checksum is verified like on the buffered one: a match
    // stores the object; a mismatch (same digest as the stored checksum, or another one) gets
    // 400 "BAD DATA CHECKSUM" over an existing name and a new one, and changes nothing.
    let node = Node::start_with_args(2, &["--put-direct-min", "0"]);
    node.create_bucket("b");
    let v1 = bytes(21, MIB + 77);
    let v2 = bytes(22, MIB + 77);
    let md5 = |d: &[u8]| -> String {
        use md5::Digest as _;
        md5::Md5::digest(d)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let put_ck = |o: &str, data: &[u8], t: &str, v: &str| {
        node.send(
            "PUT",
            &format!("/v1/objects/b/{o}"),
            &[("Ais-Checksum-Type", t), ("Ais-Checksum-Value", v)],
            data,
        )
    };
    let r = put_ck("x", &v1, "xxhash2", &xxhash2(&v1));
    assert_stored(&node, "b", "x", &v1, &r);
    let r = put_ck("m", &v1, "md5", &md5(&v1));
    assert_stored(&node, "b", "m", &v1, &r);
    let before = node.snapshot();
    for (o, t, v) in [
        ("x", "xxhash2", xxhash2(&v1)),
        ("new-x", "xxhash2", xxhash2(&v1)),
        ("m", "md5", md5(&v1)),
        ("new-m", "md5", md5(&v1)),
    ] {
        let r = put_ck(o, &v2, t, &v);
        assert_eq!(r.status, 400, "{o}: {}", r.text());
        let msg = r.error_message().unwrap_or_default();
        assert!(msg.contains("BAD DATA CHECKSUM"), "{o}: {msg:?}");
    }
    node.wait_snapshot(&before, "refused direct PUTs");
    for o in ["x", "m"] {
        let g = node.get("b", o);
        assert!(g.body == v1, "{o} changed");
        assert_eq!(g.header("ais-version"), Some("1"));
    }
    assert_eq!(node.head("b", "new-x").status, 404);
    assert_eq!(node.head("b", "new-m").status, 404);
}

/// Unmounts (lazily, so a still-running node does not block it) when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Mounts a fresh ext4 image with `data=journal` at `at`: its files have no direct I/O
/// (statx reports a direct-I/O alignment of 0). Needs root and a loop device.
fn mount_journalled_ext4(dir: &Path, at: &Path) -> Mount {
    let img = dir.join("ext4.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(128 << 20).unwrap();
    drop(f);
    let st = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&img)
        .status()
        .expect("mkfs.ext4");
    assert!(st.success(), "mkfs.ext4 of {}", img.display());
    std::fs::create_dir_all(at).unwrap();
    let st = Command::new("mount")
        .args(["-o", "loop,data=journal"])
        .arg(&img)
        .arg(at)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "mounting a loop ext4 with data=journal (needs root)"
    );
    Mount(at.to_path_buf())
}

#[test]
fn a_mountpath_without_direct_io_stays_buffered() {
    // Goal: when the filesystem of a mountpath has no direct I/O (here ext4 with
    // data=journal), direct PUTs there fall back to buffered writes and still store exact
    // objects; the mountpath is remembered as refusing O_DIRECT (one log line, a gauge),
    // and no direct PUT is counted.
    let dir = tempdir("dio-journal");
    let mp = dir.join("mp1");
    let mount = mount_journalled_ext4(&dir, &mp);
    let mut node = Node::start_on_with_args(
        dir.clone(),
        vec![mp.clone()],
        free_port(),
        &["--put-direct-min", "0"],
    );
    node.create_bucket("b");
    for n in [0, 4097, MIB + 123, 3 * MIB] {
        let data = bytes(n as u64, n);
        let o = format!("o{n}");
        let r = node.put("b", &o, &data);
        assert_stored(&node, "b", &o, &data, &r);
    }
    assert_eq!(direct_counts(&node), (0, 0));
    assert_eq!(metric(&node, "aisle_mountpath_direct_refused"), 1);
    assert!(node.work_files("b").is_empty());
    node.stop();
    let refusals = node.log_text().matches("refuses O_DIRECT").count();
    assert_eq!(refusals, 1, "log:\n{}", node.log_text());
    drop(mount);
}

#[test]
fn bad_direct_put_flags_fail_fast() {
    // Goal: a `--put-direct-min` that is not a size or `off`, and more buffers per core than a
    // ring can register, stop the node at start with a message naming the flag.
    let dir = tempdir("dio-flags");
    let mp = dir.join("mp");
    std::fs::create_dir_all(&mp).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    for (flag, value, want) in [
        ("--put-direct-min", "1.5M", "expected a size like"),
        ("--put-direct-min", "256Q", "expected a size like"),
        (
            "--put-direct-bufs",
            "16385",
            "--put-direct-bufs must be at most 16384",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_aisle-node"))
            .args([
                "--listen",
                &listen,
                "--mountpath",
                mp.to_str().unwrap(),
                flag,
                value,
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} {value} accepted");
        assert!(err.contains(want), "{flag} {value}: {err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
