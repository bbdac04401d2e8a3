//! End-to-end test of `aisle space-cleanup` against a real `aisle-node` started with
//! `--dont-cleanup-time 0`: planted leftovers are listed by `--dry-run` and kept, then removed
//! by the real run, and the bucket's objects still read back. Needs the jobs API
//! (`PUT /v1/cluster` start, `what=status|qryxstats`), which lands with the jobs branch.
//!
//! The node binary is taken from `AISLE_NODE_BIN`, else from next to the `aisle` binary under
//! test (build it in the same profile first: `cargo build --release -p cli -p node --bins`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// A running node on two fresh mountpaths; killed and removed on drop.
struct Node {
    child: Child,
    url: String,
    dir: PathBuf,
    mps: Vec<PathBuf>,
}

impl Node {
    fn start() -> Node {
        let dir = std::env::temp_dir().join(format!("aisle-cli-cln-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mps: Vec<PathBuf> = (1..=2).map(|i| dir.join(format!("mp{i}"))).collect();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut cmd = Command::new(node_binary());
        cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--no-pin"])
            .args(["--cores", "1", "--dont-cleanup-time", "0"]);
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
            mps,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut client = Client::new(&node.url).expect("client");
        while Instant::now() < deadline {
            if let Ok(r) = client.request("GET", "/v1/health", &[], Body::Empty) {
                if r.status == 200 {
                    return node;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("node did not become ready");
    }

    fn aisle_ok(&self, args: &[&str]) -> String {
        let out = Command::new(AISLE)
            .args(["--endpoint", &self.url])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run aisle");
        assert!(
            out.status.success(),
            "aisle {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn plant(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b"leftover").unwrap();
}

/// Goal: dry run lists the leftovers and keeps them; the real run removes exactly them.
#[test]
fn space_cleanup_dry_run_then_real() {
    let node = Node::start();
    node.aisle_ok(&["bucket", "create", "ais://b"]);
    let src = node.dir.join("src.bin");
    std::fs::write(&src, vec![7u8; 5000]).unwrap();
    for i in 0..5 {
        node.aisle_ok(&["put", src.to_str().unwrap(), &format!("ais://b/o{i}")]);
    }
    let mp = &node.mps[0];
    let leftovers = [
        mp.join("@ais/b/%wk/put.00000000000000aa.t.1"),
        mp.join("@ais/b/%ob/no-lom"),
        mp.join("@ais/b/junk"),
        mp.join("@ais/destroyed/%ob/x"),
    ];
    for p in &leftovers {
        plant(p);
    }

    let dry = node.aisle_ok(&["space-cleanup", "--dry-run"]);
    for want in [
        format!("would remove old-work {}", leftovers[0].display()),
        format!("would remove no-lom {}", leftovers[1].display()),
        format!("would remove unknown {}", leftovers[2].display()),
        format!(
            "would remove destroyed-bucket {}",
            mp.join("@ais/destroyed").display()
        ),
    ] {
        assert!(dry.contains(&want), "{want:?} not in:\n{dry}");
    }
    assert!(dry.contains("would remove: 4 files"), "{dry}");
    for p in &leftovers {
        assert!(p.exists(), "dry run removed {}", p.display());
    }

    let real = node.aisle_ok(&["space-cleanup"]);
    assert!(real.contains("removed: 4 files"), "{real}");
    for p in &leftovers {
        assert!(!p.exists(), "{} left", p.display());
    }
    let out = node.dir.join("out.bin");
    for i in 0..5 {
        node.aisle_ok(&["get", &format!("ais://b/o{i}"), out.to_str().unwrap()]);
        assert_eq!(std::fs::read(&out).unwrap(), vec![7u8; 5000]);
    }
    let again = node.aisle_ok(&["space-cleanup", "ais://b"]);
    assert!(again.contains("removed: 0 files"), "{again}");
}
