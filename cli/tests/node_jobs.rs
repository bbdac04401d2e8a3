//! `aisle`'s job commands against a real `aisle-node`: with no job, `show job` says so and
//! `stop`/`wait`/`start` of what does not exist exit non-zero with the node's 404; a resilver
//! started with `--wait` ends, is listed finished, and `wait job` on it succeeds (ignored until
//! the resilver job is merged).
//!
//! The node binary is taken from `AISLE_NODE_BIN`, else from next to the `aisle` binary under
//! test (build it in the same profile first: `cargo build --release -p cli -p node --bins`).

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

/// A running node on fresh mountpaths; killed and removed on drop.
struct Node {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Node {
    fn start(tag: &str, mountpaths: usize) -> Node {
        let dir = std::env::temp_dir().join(format!("aisle-cli-jobs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut cmd = Command::new(node_binary());
        cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--no-pin"])
            .args(["--cores", "2"]);
        for i in 1..=mountpaths {
            let m = dir.join(format!("mp{i}"));
            std::fs::create_dir_all(&m).expect("mkdir mountpath");
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
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut client = Client::new(&node.url).expect("client");
        loop {
            if let Ok(r) = client.request("GET", "/v1/health", &[], Body::Empty) {
                if r.status == 200 {
                    return node;
                }
            }
            assert!(Instant::now() < deadline, "node did not become ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn aisle(&self, args: &[&str]) -> Output {
        Command::new(AISLE)
            .args(["--endpoint", &self.url])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run aisle")
    }

    fn aisle_ok(&self, args: &[&str]) -> String {
        let out = self.aisle(args);
        assert!(
            out.status.success(),
            "aisle {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs `aisle`, asserting exit status 1; returns its stderr.
    fn aisle_err(&self, args: &[&str]) -> String {
        let out = self.aisle(args);
        assert_eq!(out.status.code(), Some(1), "aisle {args:?} should fail");
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn no_jobs_and_unknown_ones() {
    // Goal: an empty node lists no jobs; commands on a job or bucket that does not exist fail
    // with exit status 1 and the node's message.
    let node = Node::start("none", 1);
    assert_eq!(
        node.aisle_ok(&["show", "job"]),
        "no running jobs (--all to show finished ones)\n"
    );
    assert_eq!(node.aisle_ok(&["show", "job", "--all"]), "no jobs\n");
    let e = node.aisle_err(&["stop", "job", "Nope12345x"]);
    assert!(e.contains("404") && e.contains("not found"), "{e}");
    let e = node.aisle_err(&["wait", "job", "Nope12345x", "--timeout", "5s"]);
    assert!(e.contains("404") && e.contains("not found"), "{e}");
    let e = node.aisle_err(&["show", "job", "Nope12345x"]);
    assert!(e.contains("404"), "{e}");
    let e = node.aisle_err(&["start", "make-n-copies", "ais://nosuch", "--copies", "2"]);
    assert!(e.contains("404") && e.contains("nosuch"), "{e}");
}

#[test]
fn resilver_from_the_cli() {
    // Goal: `start resilver --wait` prints the id and how the job ended; the job is then listed
    // finished by kind and by id, and `wait job` on it succeeds at once.
    let node = Node::start("resilver", 2);
    node.aisle_ok(&["bucket", "create", "ais://r"]);
    let file = node.dir.join("f.bin");
    std::fs::write(&file, vec![7u8; 5000]).expect("file");
    for i in 0..10 {
        let dest = format!("ais://r/o{i}");
        node.aisle_ok(&["put", file.to_str().expect("utf-8"), &dest]);
    }
    let out = node.aisle_ok(&["start", "resilver", "--wait", "--timeout", "2m"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let id = lines[0];
    assert!(
        lines[1].starts_with(&format!("resilver[{id}] finished:")),
        "{out}"
    );
    let table = node.aisle_ok(&["show", "job", "resilver", "--all"]);
    let row = table
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("{id} not listed:\n{table}"));
    assert!(row.ends_with("finished"), "{row}");
    assert!(node.aisle_ok(&["show", "job", id]).contains(id));
    assert!(node.aisle_ok(&["wait", "job", id]).contains("finished"));
    // Nothing is running any more.
    assert_eq!(
        node.aisle_ok(&["show", "job"]),
        "no running jobs (--all to show finished ones)\n"
    );
}
