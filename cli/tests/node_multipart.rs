//! End-to-end tests of `aisle` against a real `aisle-node`: a large file goes up as a parallel
//! multipart upload and lands chunked, reads back byte-exact with `aisle get`, `aisle object
//! head` shows the chunking, and a failing upload exits non-zero leaving nothing behind.
//!
//! The node binary is taken from `AISLE_NODE_BIN`, else from next to the `aisle` binary under
//! test (build it in the same profile first: `cargo build --release -p cli -p node --bins`).

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use net::client::{Body, Client};

const AISLE: &str = env!("CARGO_BIN_EXE_aisle");

fn node_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("AISLE_NODE_BIN") {
        return PathBuf::from(p);
    }
    let p = Path::new(AISLE).with_file_name("aisle-node");
    assert!(
        p.exists(),
        "{} not found: build the node in the same profile first \
         (cargo build --release -p cli -p node --bins) or set AISLE_NODE_BIN",
        p.display()
    );
    p
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aisle-cli-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// A running node on fresh mountpaths; killed and removed on drop.
struct Node {
    child: Child,
    url: String,
    dir: PathBuf,
    mountpaths: Vec<PathBuf>,
}

impl Node {
    fn start(tag: &str, mountpaths: usize) -> Node {
        let dir = tempdir(tag);
        let mps: Vec<PathBuf> = (1..=mountpaths)
            .map(|i| dir.join(format!("mp{i}")))
            .collect();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut cmd = Command::new(node_binary());
        cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--no-pin"])
            .args(["--cores", "2"]);
        for m in &mps {
            std::fs::create_dir_all(m).expect("mkdir mountpath");
            cmd.arg("--mountpath").arg(m);
        }
        let log = std::fs::File::create(dir.join("node.log")).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn aisle-node");
        let node = Node {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
            mountpaths: mps,
        };
        node.wait_ready();
        node
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut client = Client::new(&self.url).expect("client");
        while Instant::now() < deadline {
            if let Ok(r) = client.request("GET", "/v1/health", &[], Body::Empty) {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "node did not become ready; log:\n{}",
            std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
        );
    }

    /// Status and lowercased headers of a HEAD.
    fn head(&self, path: &str) -> (u16, Vec<(String, String)>) {
        let mut client = Client::new(&self.url).expect("client");
        let r = client
            .request("HEAD", path, &[], Body::Empty)
            .expect("HEAD");
        (r.status, r.headers.clone())
    }

    /// Runs `aisle --endpoint URL args...`.
    fn aisle(&self, args: &[&str]) -> Output {
        Command::new(AISLE)
            .args(["--endpoint", &self.url])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run aisle")
    }

    /// Runs `aisle`, asserting success; returns its stdout.
    fn aisle_ok(&self, args: &[&str]) -> String {
        let out = self.aisle(args);
        assert!(
            out.status.success(),
            "aisle {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Every file under the mountpaths.
    fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        for m in &self.mountpaths {
            walk(m, &mut out);
        }
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Deterministic pseudo-random bytes (xorshift64), so no two parts are alike.
fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn large_put_is_chunked_and_reads_back_exactly() {
    // Goal: a 20 MiB file with --part-size 1MiB --parallel 4 becomes a 20-chunk object
    // (HEAD props=chunked), `aisle get` returns it byte-exact, and `aisle object head` shows
    // size, checksum and the chunking; --no-multipart of a file above the part size stays
    // one monolithic object.
    let node = Node::start("mpu", 4);
    let dir = tempdir("mpu-files");
    node.aisle_ok(&["bucket", "create", "ais://b"]);
    let data = pseudo_random(20 << 20, 0x9e37_79b9_7f4a_7c15);
    let src = dir.join("big.bin");
    std::fs::write(&src, &data).expect("write source");
    let src_arg = src.to_str().expect("utf-8");

    let out = node.aisle_ok(&[
        "put",
        src_arg,
        "ais://b/dir/big.bin",
        "--part-size",
        "1MiB",
        "--parallel",
        "4",
        "--cksum",
    ]);
    assert!(
        out.contains("=> ais://b/dir/big.bin (20971520 bytes, 20 parts of 1MiB, 4 in parallel"),
        "{out}"
    );

    let (status, headers) =
        node.head("/v1/objects/b/dir/big.bin?props=chunked,size,checksum,version");
    assert_eq!(status, 200, "{headers:?}");
    assert_eq!(header(&headers, "ais-chunks-count"), Some("20"));
    assert_eq!(
        header(&headers, "ais-chunks-max-chunk-size"),
        Some("1048576")
    );
    assert_eq!(header(&headers, "ais-size"), Some("20971520"));

    let dest = dir.join("back.bin");
    let out = node.aisle_ok(&["get", "ais://b/dir/big.bin", dest.to_str().expect("utf-8")]);
    assert!(out.ends_with("(20971520 bytes)\n"), "{out}");
    let back = std::fs::read(&dest).expect("read back");
    assert!(back == data, "downloaded bytes differ from the source");

    let out = node.aisle_ok(&["object", "head", "ais://b/dir/big.bin"]);
    for want in [
        "Ais-Size: 20971520\n",
        "Ais-Chunks-Count: 20\n",
        "Ais-Chunks-Max-Chunk-Size: 1048576\n",
        "Ais-Checksum-Type: ",
        "Ais-Checksum-Value: ",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }

    let small = dir.join("three.bin");
    std::fs::write(&small, &data[..3 << 20]).expect("write");
    let out = node.aisle_ok(&[
        "put",
        small.to_str().expect("utf-8"),
        "ais://b/mono",
        "--part-size",
        "1MiB",
        "--no-multipart",
    ]);
    assert!(out.ends_with("=> ais://b/mono (3145728 bytes)\n"), "{out}");
    let out = node.aisle_ok(&["object", "head", "ais://b/mono"]);
    assert!(out.contains("Ais-Size: 3145728\n"), "{out}");
    assert!(!out.contains("Ais-Chunks-Count"), "monolithic: {out}");
    let dest = dir.join("mono.bin");
    node.aisle_ok(&["get", "ais://b/mono", dest.to_str().expect("utf-8")]);
    assert!(std::fs::read(&dest).expect("read") == data[..3 << 20]);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn failed_upload_exits_nonzero_and_leaves_nothing() {
    // Goal: a multipart upload into a missing bucket fails with exit status 1 and a message
    // naming the upload and the server's reason; nothing is written on the mountpaths.
    let node = Node::start("mpu-fail", 2);
    let dir = tempdir("mpu-fail-files");
    let src = dir.join("big.bin");
    std::fs::write(&src, pseudo_random(3 << 20, 7)).expect("write");
    let before = node.files();
    let out = node.aisle(&[
        "put",
        src.to_str().expect("utf-8"),
        "ais://nobucket/o",
        "--part-size",
        "1MiB",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let mut stderr = String::new();
    out.stderr
        .as_slice()
        .read_to_string(&mut stderr)
        .expect("utf-8 stderr");
    assert!(
        stderr.starts_with("Error: multipart upload of ")
            && stderr.contains("to ais://nobucket/o: cannot start it: 404 ")
            && stderr.contains("nobucket"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing reported as uploaded");
    assert_eq!(
        node.files(),
        before,
        "no upload state left on the mountpaths"
    );
    let (status, _) = node.head("/v1/objects/nobucket/o");
    assert_eq!(status, 404);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
