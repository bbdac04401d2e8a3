//! Test harness: starts a real `aisle-node` process on temporary mountpaths and a free port,
//! and talks HTTP/1.1 to it over plain std sockets (one request per connection unless a test
//! drives the socket itself).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty temporary directory unique to this test process and call.
pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "aisle-it-{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running node process.
pub struct Node {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    pub mountpaths: Vec<PathBuf>,
    pub log: PathBuf,
}

impl Node {
    /// Starts a node with `n` fresh mountpaths under a new temporary directory.
    pub fn start(n: usize) -> Node {
        let dir = tempdir("node");
        let mountpaths: Vec<PathBuf> = (1..=n).map(|i| dir.join(format!("mp{i}"))).collect();
        for m in &mountpaths {
            std::fs::create_dir_all(m).unwrap();
        }
        Node::start_on(dir, mountpaths, free_port())
    }

    /// Starts a node on existing mountpaths (e.g. to restart one).
    pub fn start_on(dir: PathBuf, mountpaths: Vec<PathBuf>, port: u16) -> Node {
        let log = dir.join(format!("node-{}.log", SEQ.fetch_add(1, Ordering::Relaxed)));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aisle-node"));
        cmd.arg("--listen").arg(format!("127.0.0.1:{port}")).arg("--cores").arg("2").arg("--no-pin");
        for m in &mountpaths {
            cmd.arg("--mountpath").arg(m);
        }
        cmd.env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("spawning aisle-node");
        let node = Node { child: Some(child), port, dir, mountpaths, log };
        node.wait_ready();
        node
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = try_request(self.port, "GET", "/v1/health", &[], b"") {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("node did not become ready; log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGTERM, then waits; returns the exit code.
    pub fn stop(&mut self) -> i32 {
        let mut child = self.child.take().expect("node running");
        // SAFETY-free: use the kill command rather than libc in tests.
        Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("node did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL (a crash of the process, not of the machine).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request(self.port, method, path, headers, body)
    }

    /// Creates bucket `b`, asserting 200.
    pub fn create_bucket(&self, b: &str) {
        let r = self.req(
            "POST",
            &format!("/v1/buckets/{b}"),
            &[("Content-Type", "application/json")],
            br#"{"action":"create-bck","name":"","value":null}"#,
        );
        assert_eq!(r.status, 200, "create bucket {b}: {}", r.text());
    }

    pub fn put(&self, b: &str, o: &str, data: &[u8]) -> Resp {
        self.req("PUT", &format!("/v1/objects/{b}/{o}"), &[], data)
    }

    pub fn get(&self, b: &str, o: &str) -> Resp {
        self.req("GET", &format!("/v1/objects/{b}/{o}"), &[], b"")
    }

    /// Files under the mountpaths whose path contains `needle` (e.g. "%wk" for work files).
    pub fn files_containing(&self, needle: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for m in &self.mountpaths {
            walk(m, &mut |p| {
                if p.to_string_lossy().contains(needle) {
                    out.push(p.to_path_buf());
                }
            });
        }
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    /// Lowercased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == &name.to_ascii_lowercase()).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request on a new connection (`Connection: close`), panicking on socket errors.
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    try_request(port, method, path, headers, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub fn try_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD").map(|(r, _)| r).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad response: {:?}", String::from_utf8_lossy(&raw)))
    })
}

/// Parses one response from the front of `raw`; returns it and the bytes it used.
pub fn parse_response(raw: &[u8], head_request: bool) -> Option<(Resp, usize)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    for l in lines {
        if l.is_empty() {
            continue;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let cl = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
    let body_len = if head_request || status == 100 || status == 204 || status == 304 { 0 } else { cl.unwrap_or(raw.len() - end) };
    if raw.len() < end + body_len {
        return None;
    }
    Some((Resp { status, headers, body: raw[end..end + body_len].to_vec() }, end + body_len))
}

/// XXH64 (seed 0) as AIS's `xxhash2` checksum value.
pub fn xxhash2(data: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh64::xxh64(data, 0))
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
