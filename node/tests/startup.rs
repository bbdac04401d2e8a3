//! Process behaviour at start: bad mountpaths fail fast with a message naming the problem, the
//! embedded default needs no flags, and the core/mountpath assignment is logged and visible.
mod common;
use common::*;
use std::process::Command;

fn run_node(args: &[&str], dir: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aisle-node"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running aisle-node");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn bad_mountpaths_fail_fast_with_a_clear_message() {
    // Goal: a missing mountpath, a file given as mountpath, a read-only filesystem and a
    // duplicated mountpath each stop the node at start (exit 1) with a message naming the path.
    let dir = tempdir("badmp");
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let missing = dir.join("nope");
    let (code, err) = run_node(
        &[
            "--listen",
            &listen,
            "--mountpath",
            missing.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("nope") && err.contains("create it first"),
        "{err}"
    );

    let file = dir.join("file");
    std::fs::write(&file, b"x").unwrap();
    let (code, err) = run_node(
        &["--listen", &listen, "--mountpath", file.to_str().unwrap()],
        &dir,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not a directory"), "{err}");

    let ok = dir.join("ok");
    std::fs::create_dir(&ok).unwrap();
    let (code, err) = run_node(
        &[
            "--listen",
            &listen,
            "--mountpath",
            ok.to_str().unwrap(),
            "--mountpath",
            ok.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("given twice"), "{err}");

    // A read-only filesystem (a small read-only tmpfs; the tests run as root).
    let ro = dir.join("ro");
    std::fs::create_dir(&ro).unwrap();
    let st = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "ro,size=1m",
            "tmpfs",
            ro.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success(), "mounting a read-only tmpfs (needs root)");
    let (code, err) = run_node(
        &["--listen", &listen, "--mountpath", ro.to_str().unwrap()],
        &dir,
    );
    let _ = Command::new("umount").arg(&ro).status();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is not writable") && err.contains("Read-only"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn embedded_default_needs_no_flags_and_logs_the_core_assignment() {
    // Goal: with no mountpath flags the node creates ./aisle-data/mp1..mp4 and serves; the log
    // and /v1/daemon?what=mountpaths show which core owns which mountpath.
    // Steps: run with only --listen (a free port) in an empty directory; PUT/GET; read the
    // assignment; SIGTERM; exit 0.
    let dir = tempdir("default");
    let port = free_port();
    let log = dir.join("node.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisle-node"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--cores",
            "2",
            "--no-pin",
        ])
        .current_dir(&dir)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while try_request(port, "GET", "/v1/health", &[], b"")
        .map(|r| r.status)
        .ok()
        != Some(200)
    {
        assert!(std::time::Instant::now() < deadline, "node not ready");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for i in 1..=4 {
        assert!(
            dir.join(format!("aisle-data/mp{i}")).is_dir(),
            "mp{i} created"
        );
    }
    let r = request(
        port,
        "POST",
        "/v1/buckets/d",
        &[],
        br#"{"action":"create-bck"}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        request(port, "PUT", "/v1/objects/d/x", &[], b"hello").status,
        200
    );
    assert_eq!(
        request(port, "GET", "/v1/objects/d/x", &[], b"").body,
        b"hello"
    );
    let mp = request(port, "GET", "/v1/daemon?what=mountpaths", &[], b"").json();
    let owners = mp["owner_core"].as_object().expect("owner_core map");
    assert_eq!(owners.len(), 4);
    let cores: std::collections::BTreeSet<u64> =
        owners.values().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(
        cores.into_iter().collect::<Vec<_>>(),
        vec![0, 1],
        "both cores own mountpaths"
    );
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("core started")
            && text.contains("mountpaths=[0, 2]")
            && text.contains("mountpaths=[1, 3]"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn idle_and_slow_head_connections_are_closed_after_the_idle_timeout() {
    // Goal: a keep-alive connection idle longer than --idle-timeout-secs, and one whose head
    // arrives too slowly, are closed by the node; a connection in use is not.
    // Steps: node with a 1 s idle timeout; A does one request then waits; B sends half a head;
    // C sends a request every 300 ms; after ~3 s A and B read EOF, C still gets answers.
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let node = Node::start_with_args(1, &["--idle-timeout-secs", "1"]);
    let mut a = KeepAlive::new(node.port);
    assert_eq!(a.request("GET", "/v1/health", &[], b"").status, 200);
    let mut b = connect(node.port);
    b.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut c = KeepAlive::new(node.port);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        assert_eq!(c.request("GET", "/v1/health", &[], b"").status, 200);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(c.connects, 1, "a connection in use was closed");
    let mut buf = [0u8; 16];
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        b.read(&mut buf).unwrap(),
        0,
        "the slow head's connection is closed"
    );
    // A's connection was closed by the node: a request on it fails, the next one reconnects.
    assert!(
        a.try_request("GET", "/v1/health", &[], b"").is_err(),
        "the idle connection is closed"
    );
    assert_eq!(a.request("GET", "/v1/health", &[], b"").status, 200);
    assert_eq!(a.connects, 2);
}

#[test]
fn a_stalled_request_body_is_dropped_after_the_body_timeout() {
    // Goal: a client that stops sending in the middle of a PUT body (buffered and direct
    // paths, and chunked) has its connection closed after --body-timeout-secs, and nothing of
    // that PUT is stored (no object, no work file); a client that sends slowly but keeps
    // sending is not cut off (the timeout is per receive, not per body).
    // Steps: node with a 1 s body timeout and direct PUTs from 64 KiB; three connections send
    // a head and part of the body, then stall; a fourth sends 8 bytes every 400 ms for 3.2 s.
    // After ~3 s the stalled ones read EOF; the slow one gets 200; listing shows only it and
    // the mountpaths hold nothing else.
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let node = Node::start_with_args(1, &["--body-timeout-secs", "1", "--put-direct-min", "64K"]);
    node.create_bucket("b");
    let before = node.snapshot();
    let heads: [&[u8]; 3] = [
        b"PUT /v1/objects/b/small HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n0123456789",
        b"PUT /v1/objects/b/direct HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n0123456789",
        b"PUT /v1/objects/b/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123",
    ];
    let mut stalled: Vec<std::net::TcpStream> = heads
        .iter()
        .map(|h| {
            let mut s = connect(node.port);
            s.write_all(h).unwrap();
            s
        })
        .collect();
    let mut slow = connect(node.port);
    let body = b"abcdefgh".repeat(8);
    write!(
        slow,
        "PUT /v1/objects/b/slow HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let t = Instant::now();
    for piece in body.chunks(8) {
        slow.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    let mut resp = Vec::new();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    while !resp.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = slow.read(&mut buf).unwrap();
        assert!(n > 0, "the slow but steady client was cut off");
        resp.extend_from_slice(&buf[..n]);
    }
    assert!(
        resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    assert!(t.elapsed() >= Duration::from_secs(3));
    for (i, s) in stalled.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let r = s.read(&mut buf);
        assert!(
            matches!(r, Ok(0))
                || r.is_err()
                    && r.as_ref().unwrap_err().kind() == std::io::ErrorKind::ConnectionReset,
            "stalled body {i}: the connection is closed, got {r:?}"
        );
    }
    assert_eq!(node.get("b", "slow").body, body);
    assert_eq!(node.list_names("b"), ["slow"]);
    let after = node.snapshot();
    let added: Vec<&String> = after.iter().filter(|k| !before.contains(k)).collect();
    assert!(
        added.len() == 1 && added[0].contains("/slow ("),
        "only the slow object's file was added (no work file, no other object): {added:?}"
    );
}

#[test]
fn tcp_congestion_is_set_on_served_connections_and_an_unknown_name_stops_the_node() {
    // Goal: with --tcp-congestion NAME the node's side of an accepted connection runs NAME (as
    // `ss -ti` shows an operator), not the host's default; an unknown name stops the node at
    // start with a message naming the flag.
    let avail = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
        .expect("reading tcp_available_congestion_control");
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control").unwrap();
    let host = host.trim();
    // reno is built into every kernel; take another algorithm when reno is the host's default.
    let Some(want) = avail
        .split_whitespace()
        .find(|&c| c != host && (c == "reno" || c == "cubic"))
    else {
        panic!("need a congestion control other than the host's {host} among: {avail}");
    };
    let node = Node::start_with_args(1, &["--tcp-congestion", want]);
    let mut s = connect(node.port);
    use std::io::Write as _;
    s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).expect("health response");
    assert_eq!(r.status, 200);
    let out = Command::new("ss")
        .args(["-tniH", "state", "established"])
        .arg(format!("( sport = :{} )", node.port))
        .output()
        .expect("running ss");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.split_whitespace().any(|w| w == want),
        "node side of the connection should run {want}: {text}"
    );
    assert!(
        !text.split_whitespace().any(|w| w == host),
        "node side still runs the host's {host}: {text}"
    );

    let dir = tempdir("badcc");
    let mp = dir.join("mp");
    std::fs::create_dir(&mp).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let (code, err) = run_node(
        &[
            "--listen",
            &listen,
            "--mountpath",
            mp.to_str().unwrap(),
            "--tcp-congestion",
            "no-such-cc",
        ],
        &dir,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--tcp-congestion no-such-cc"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_node_on_a_taken_address_refuses_to_start() {
    // Goal: the cores listen with SO_REUSEPORT, which the kernel would let a second process of
    // the same user join, splitting the connections between two nodes that each know only
    // their own buckets. A second node on a served address exits with "address in use", and
    // every request still reaches the first node.
    let node = Node::start(1);
    node.create_bucket("mine");
    let dir = tempdir("second");
    let mp = dir.join("mp");
    std::fs::create_dir_all(&mp).unwrap();
    let listen = format!("127.0.0.1:{}", node.port);
    let log = dir.join("second.log");
    let mut second = Command::new(env!("CARGO_BIN_EXE_aisle-node"))
        .args([
            "--listen",
            &listen,
            "--mountpath",
            mp.to_str().unwrap(),
            "--no-pin",
        ])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("running aisle-node");
    // Polled, not waited on: without the check the second node would run until killed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("the second node is running on {listen}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!status.success(), "{err}");
    assert!(err.contains("Address already in use"), "{err}");
    // Nothing of the second node serves: each new connection finds the first node's bucket.
    for i in 0..20 {
        let r = node.req("HEAD", "/v1/buckets/mine", &[], b"");
        assert_eq!(r.status, 200, "request {i}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
