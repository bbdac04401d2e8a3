//! Test harness: starts a real `aisle-node` process on temporary mountpaths and a free port,
//! and talks HTTP/1.1 to it over plain std sockets (one request per connection unless a test
//! drives the socket itself). Responses are framed by `net::framer`, the workspace's one
//! response parser.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use net::framer::{header_slots, Event, FrameError, Framing, ResponseFramer};

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
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
        Node::start_fresh(dir, mountpaths, &[])
    }

    /// Starts a node with `n` fresh mountpaths and extra command-line flags.
    pub fn start_with_args(n: usize, args: &[&str]) -> Node {
        let dir = tempdir("node");
        let mountpaths: Vec<PathBuf> = (1..=n).map(|i| dir.join(format!("mp{i}"))).collect();
        for m in &mountpaths {
            std::fs::create_dir_all(m).unwrap();
        }
        Node::start_fresh(dir, mountpaths, args)
    }

    /// Starts a node on a free port. `free_port` can hand two tests running at once the same
    /// port; the node then refuses to start (address in use) and this tries another port.
    fn start_fresh(dir: PathBuf, mountpaths: Vec<PathBuf>, args: &[&str]) -> Node {
        for _ in 0..5 {
            let mut node =
                Node::spawn_with_env(dir.clone(), mountpaths.clone(), free_port(), args, &[]);
            if node.wait_ready_unless_port_taken() {
                return node;
            }
            node.child.take();
        }
        panic!("no free port for a node after 5 tries");
    }

    /// Waits until the node answers (true), or it exited because its port was taken (false);
    /// panics on any other failure.
    fn wait_ready_unless_port_taken(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            // Ready means this node logged that it listens (another process on the port could
            // answer the probe while this one fails) and it answers.
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.contains("aisle-node listening on") {
                if let Ok(r) = try_request(self.port, "GET", "/v1/health", &[], b"") {
                    if r.status == 200 {
                        return true;
                    }
                }
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                if log.contains("Address already in use") {
                    return false;
                }
                panic!("node exited at start ({exited:?}); log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "node did not become ready; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Starts a node on existing mountpaths (e.g. to restart one).
    pub fn start_on(dir: PathBuf, mountpaths: Vec<PathBuf>, port: u16) -> Node {
        Node::start_full(dir, mountpaths, port, &[])
    }

    /// Starts a node on existing mountpaths with extra command-line flags.
    pub fn start_on_with_args(
        dir: PathBuf,
        mountpaths: Vec<PathBuf>,
        port: u16,
        args: &[&str],
    ) -> Node {
        Node::start_full(dir, mountpaths, port, args)
    }

    fn start_full(dir: PathBuf, mountpaths: Vec<PathBuf>, port: u16, args: &[&str]) -> Node {
        Node::start_with_env(dir, mountpaths, port, args, &[])
    }

    /// Starts a node on existing mountpaths with extra flags and environment variables.
    pub fn start_with_env(
        dir: PathBuf,
        mountpaths: Vec<PathBuf>,
        port: u16,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Node {
        let node = Node::spawn_with_env(dir, mountpaths, port, args, env);
        node.wait_ready();
        node
    }

    /// Spawns a node like `start_with_env` without waiting for it to answer (a node on HTTPS
    /// does not answer the plain-HTTP readiness probe; its tests wait their own way).
    pub fn spawn_with_env(
        dir: PathBuf,
        mountpaths: Vec<PathBuf>,
        port: u16,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Node {
        let log = dir.join(format!("node-{}.log", SEQ.fetch_add(1, Ordering::Relaxed)));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aisle-node"));
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--no-pin");
        if !args.contains(&"--cores") {
            cmd.arg("--cores").arg("2");
        }
        for m in &mountpaths {
            cmd.arg("--mountpath").arg(m);
        }
        cmd.args(args);
        cmd.envs(env.iter().copied());
        cmd.env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("spawning aisle-node");
        Node {
            child: Some(child),
            port,
            dir,
            mountpaths,
            log,
        }
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
        panic!(
            "node did not become ready; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGTERM, then waits; returns the exit code.
    pub fn stop(&mut self) -> i32 {
        self.signal_term();
        self.wait_exit()
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

    /// The sum over every sample (all cores, all mountpaths) of counter `name` in `/metrics`;
    /// panics if the node exports no sample of it.
    pub fn metric_sum(&self, name: &str) -> u64 {
        let r = self.req("GET", "/metrics", &[], b"");
        assert_eq!(r.status, 200, "/metrics: {}", r.text());
        let prefix = format!("{name}{{");
        let samples: Vec<u64> = r
            .text()
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(|l| {
                l.rsplit(' ')
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("bad sample {l:?}"))
            })
            .collect();
        assert!(!samples.is_empty(), "no {name} in /metrics:\n{}", r.text());
        samples.iter().sum()
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
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
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
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request on a new connection (`Connection: close`), panicking on socket errors.
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    try_request(port, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.write_all(&request_bytes(port, method, path, headers, body))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD")
        .map(|(r, _)| r)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad response: {:?}", String::from_utf8_lossy(&raw)),
            )
        })
}

/// A whole `Connection: close` request: head (with Content-Length unless the caller frames the
/// body) and body.
fn request_bytes(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    }) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut all = head.into_bytes();
    all.extend_from_slice(body);
    all
}

/// One response being framed from the front of a buffer that grows as bytes arrive.
struct Framed {
    framer: ResponseFramer,
    /// Bytes of the buffer stepped over so far.
    pos: usize,
    resp: Option<Resp>,
    until_close: bool,
}

impl Framed {
    fn new(head_request: bool) -> Framed {
        let mut framer = ResponseFramer::new();
        framer.set_head_request(head_request);
        Framed {
            framer,
            pos: 0,
            resp: None,
            until_close: false,
        }
    }

    /// Steps over `buf[self.pos..]`; true once the response has ended (at `self.pos`).
    fn advance(&mut self, buf: &[u8]) -> Result<bool, FrameError> {
        loop {
            let mut slots = header_slots();
            let step = self.framer.step(&buf[self.pos..], &mut slots)?;
            match step.event {
                Event::Head(h) => {
                    self.until_close = h.framing == Framing::UntilClose;
                    self.resp = Some(Resp {
                        status: h.status,
                        headers: h
                            .headers
                            .iter()
                            .map(|x| {
                                let value = String::from_utf8_lossy(x.value).trim().to_string();
                                (x.name.to_ascii_lowercase(), value)
                            })
                            .collect(),
                        body: Vec::new(),
                    });
                }
                Event::Body(r) => {
                    let at = self.pos;
                    let resp = self.resp.as_mut().expect("a body follows a head");
                    resp.body.extend_from_slice(&buf[at + r.start..at + r.end]);
                }
                Event::End => {
                    self.pos += step.consumed;
                    return Ok(true);
                }
                Event::NeedMore => {
                    self.pos += step.consumed;
                    return Ok(false);
                }
            }
            self.pos += step.consumed;
        }
    }

    /// The peer closed: the response if the close completes it.
    fn at_eof(&mut self) -> Option<Resp> {
        self.framer.at_eof().ok()?;
        self.resp.take()
    }
}

/// Parses one response from the front of `raw`; returns it and the bytes it used. `raw` is all
/// that arrived: a body without length or chunking runs to its end. An interim (1xx) response
/// is returned as one.
pub fn parse_response(raw: &[u8], head_request: bool) -> Option<(Resp, usize)> {
    let mut f = Framed::new(head_request);
    if f.advance(raw).ok()? {
        return Some((f.resp.take()?, f.pos));
    }
    if f.until_close {
        return Some((f.at_eof()?, raw.len()));
    }
    None
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

// ------------------------------------------------------------------------------------------
// Raw-socket and state helpers (added for `http_behaviour.rs`).

/// Read timeout of raw connections: long enough never to fire on a healthy node.
pub const RAW_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A new connection to the node with `RAW_READ_TIMEOUT` set.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect to port {port}: {e}"));
    s.set_read_timeout(Some(RAW_READ_TIMEOUT)).unwrap();
    s
}

/// Reads from `s` into `buf` until one whole response is at the front of `buf`, removes it
/// and returns it. Bytes after it stay in `buf` (pipelined responses).
pub fn read_response<S: Read>(
    s: &mut S,
    buf: &mut Vec<u8>,
    head_request: bool,
) -> std::io::Result<Resp> {
    let mut f = Framed::new(head_request);
    let got = |buf: &[u8]| String::from_utf8_lossy(buf).to_string();
    loop {
        match f.advance(buf) {
            Ok(true) => {
                buf.drain(..f.pos);
                return Ok(f.resp.take().expect("an ended response has a head"));
            }
            Ok(false) => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad response ({e}); got {:?}", got(buf)),
                ))
            }
        }
        let mut chunk = [0u8; 64 * 1024];
        match s.read(&mut chunk) {
            Ok(0) => {
                // Closed: a response without Content-Length ends here.
                if let Some(r) = f.at_eof() {
                    buf.drain(..f.pos);
                    return Ok(r);
                }
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a whole response; got {:?}",
                        got(buf)
                    ),
                ));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("{e} before a whole response; got {:?}", got(buf)),
                ))
            }
        }
    }
}

/// Whether the node closes the connection (EOF or reset) within `RAW_READ_TIMEOUT`. Any bytes
/// that arrive first are appended to `buf`.
pub fn closed_by_peer(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Sends `data` as is on a new connection, reads one response, then reports whether the node
/// closed the connection after it (waits for that only if `wait_close`). A failed write is
/// ignored: the node may answer and close before reading everything.
pub fn raw_request(port: u16, data: &[u8], head_request: bool, wait_close: bool) -> (Resp, bool) {
    let mut s = connect(port);
    let _ = s.write_all(data);
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, head_request).unwrap_or_else(|e| {
        panic!(
            "raw request {:?}: {e}",
            String::from_utf8_lossy(&data[..data.len().min(200)])
        )
    });
    let closed = wait_close && closed_by_peer(&mut s, &mut buf);
    (r, closed)
}

impl Resp {
    /// The AIS error message: `message` of the JSON body, or of the JSON in `Hdr-Error` (HEAD).
    /// `None` if there is no such JSON or it has no string `message`.
    pub fn error_message(&self) -> Option<String> {
        let json: serde_json::Value = match self.header("hdr-error") {
            Some(h) => serde_json::from_str(h).ok()?,
            None => serde_json::from_slice(&self.body).ok()?,
        };
        json.get("message")?.as_str().map(str::to_string)
    }
}

impl Node {
    pub fn head(&self, b: &str, o: &str) -> Resp {
        self.send("HEAD", &format!("/v1/objects/{b}/{o}"), &[], b"")
    }

    pub fn delete(&self, b: &str, o: &str) -> Resp {
        self.send("DELETE", &format!("/v1/objects/{b}/{o}"), &[], b"")
    }

    /// Object names in bucket `b` (JSON listing, one page), asserting 200.
    pub fn list_names(&self, b: &str) -> Vec<String> {
        let r = self.send(
            "GET",
            &format!("/v1/buckets/{b}"),
            &[("Content-Type", "application/json")],
            br#"{"action":"list","name":"","value":{"props":"name,size"}}"#,
        );
        assert_eq!(r.status, 200, "list {b}: {}", r.text());
        let v = r.json();
        v["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("no entries in listing: {v}"))
            .iter()
            .map(|e| e["name"].as_str().expect("entry name").to_string())
            .collect()
    }

    /// Work files of bucket `b` on every mountpath.
    pub fn work_files(&self, b: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for m in &self.mountpaths {
            walk(&m.join("@ais").join(b).join("%wk"), &mut |p| {
                out.push(p.to_path_buf())
            });
        }
        out
    }

    /// Every file (with inode, size and mtime) and directory under the mountpaths, and every
    /// entry of the node's directory except its logs, sorted: what a request that must change
    /// nothing must leave as it was.
    pub fn snapshot(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in &self.mountpaths {
            walk_all(m, &mut out);
        }
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "log") {
                    continue;
                }
                out.push(p.to_string_lossy().to_string());
            }
        }
        out.sort();
        out
    }

    /// Polls (up to ~2 s) until `snapshot()` equals `want`; panics with the difference if not.
    /// Work files of a refused or abandoned request may take a moment to go.
    pub fn wait_snapshot(&self, want: &[String], what: &str) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let now = self.snapshot();
            if now == want {
                return;
            }
            if Instant::now() > deadline {
                let added: Vec<&String> = now.iter().filter(|p| !want.contains(p)).collect();
                let removed: Vec<&String> = want.iter().filter(|p| !now.contains(p)).collect();
                panic!("{what}: on-disk state changed; added {added:#?}, removed {removed:#?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Appends every file and directory under `dir` (not `dir` itself); a regular file also
/// shows its inode, size and mtime, so a rewrite or a replacement shows as a change.
fn walk_all(dir: &Path, out: &mut Vec<String>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_file() {
            out.push(format!(
                "{} (ino {} size {} mtime {}.{:09})",
                p.display(),
                md.ino(),
                md.size(),
                md.mtime(),
                md.mtime_nsec()
            ));
        } else {
            out.push(p.to_string_lossy().to_string());
        }
        if md.is_dir() {
            walk_all(&p, out);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Keep-alive client, restart and file helpers (added for `scale.rs`).

/// An HTTP/1.1 client that sends every request on one kept-alive connection
/// (`Connection: keep-alive`) and opens a new one only after the node closed the last.
pub struct KeepAlive {
    pub port: u16,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// Connections opened so far: stays 1 while the node keeps the connection alive.
    pub connects: usize,
}

impl KeepAlive {
    pub fn new(port: u16) -> KeepAlive {
        KeepAlive {
            port,
            stream: None,
            buf: Vec::new(),
            connects: 0,
        }
    }

    /// One request, panicking on socket errors.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// One request. Never retried: after an error the client is disconnected and the next
    /// request opens a new connection.
    pub fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Resp> {
        let result = self.send_and_read(method, path, headers, body);
        match &result {
            Ok(r)
                if !r
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close")) => {}
            _ => {
                self.stream = None;
                self.buf.clear();
            }
        }
        result
    }

    fn send_and_read(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Resp> {
        if self.stream.is_none() {
            let s = TcpStream::connect(("127.0.0.1", self.port))?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            self.buf.clear();
            self.connects += 1;
        }
        let port = self.port;
        let s = self.stream.as_mut().expect("connected above");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\n"
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        // One write for small requests: no Nagle/delayed-ACK interplay, no partial heads.
        if body.len() <= 64 * 1024 {
            let mut all = head.into_bytes();
            all.extend_from_slice(body);
            s.write_all(&all)?;
        } else {
            s.write_all(head.as_bytes())?;
            s.write_all(body)?;
        }
        read_response(s, &mut self.buf, method == "HEAD")
    }

    pub fn put(&mut self, b: &str, o: &str, data: &[u8]) -> Resp {
        self.request("PUT", &format!("/v1/objects/{b}/{o}"), &[], data)
    }

    pub fn get(&mut self, b: &str, o: &str) -> Resp {
        self.request("GET", &format!("/v1/objects/{b}/{o}"), &[], b"")
    }
}

impl Node {
    /// Starts the node again on the same directory, mountpaths and port after `stop()` or
    /// `kill()`.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart: the node is still running");
        let fresh = Node::start_on(self.dir.clone(), self.mountpaths.clone(), self.port);
        // Take over the new process; `fresh` must not run its Drop (it would delete `dir`).
        let mut fresh = std::mem::ManuallyDrop::new(fresh);
        self.child = fresh.child.take();
        self.log = std::mem::take(&mut fresh.log);
    }

    /// Sends SIGTERM and returns at once (the process keeps running until it exits by
    /// itself); `wait_exit` then collects its exit code.
    pub fn signal_term(&self) {
        let pid = self.child.as_ref().expect("node running").id();
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(st.success(), "kill -TERM {pid}");
    }

    /// Waits (≤ 30 s) for the process to exit by itself; returns its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        let mut child = self.child.take().expect("node running");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "node did not exit within 30 s; log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The node's log so far (stderr of the current process).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Every regular file under `dir` (recursively); empty if `dir` does not exist.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, &mut |p| out.push(p.to_path_buf()));
    out
}

/// Like `request`, but reads only until the response is complete and ignores a failed write.
/// A node may answer before reading the whole request body (a refused PUT) and close with
/// body bytes unread; its kernel then resets the connection instead of closing it cleanly,
/// which makes `read_to_end` in `request` fail although the whole response arrived.
pub fn request_lenient(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = connect(port);
    let all = request_bytes(port, method, path, headers, body);
    let _ = s.write_all(&all);
    let mut buf = Vec::new();
    read_response(&mut s, &mut buf, method == "HEAD")
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

impl Node {
    /// `req` via `request_lenient`: for requests the node may refuse before reading the body.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request_lenient(self.port, method, path, headers, body)
    }
}
