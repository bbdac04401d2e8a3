//! aisle-bench against a real aisle-node: short bounded runs must finish with zero errors and
//! report counts that add up; a run that hits missing objects must report them and exit 1.
//!
//! Steps: build (or find) `aisle-node` next to this test's binary, start it on two temporary
//! mountpaths and a free port, run `aisle-bench` (mixed PUT/GET with -verifyhash, then GET-only
//! over the listing, then PUTs with -cleanup, then GETs of missing names), check each JSON
//! summary, stop the node.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use net::client::{Body, Client};
use serde_json::Value;

/// The `aisle-node` binary of the same profile as this test, built if needed. It lives in
/// another package, so `CARGO_BIN_EXE_*` does not name it: it sits two levels above this test
/// executable (`target/<profile>/deps/against_node-*` → `target/<profile>/aisle-node`).
fn node_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile> directory");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "node", "--bin", "aisle-node"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    // Always ask cargo: a no-op when the binary is fresh, a rebuild when node changed.
    let out = cmd.output().expect("running cargo build for aisle-node");
    assert!(
        out.status.success(),
        "building aisle-node failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = profile_dir.join("aisle-node");
    assert!(bin.exists(), "{} missing after cargo build", bin.display());
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A running node; killed (and its folder removed) on drop.
struct Node {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Node {
    fn start() -> Node {
        Node::start_with("", &[])
    }

    /// A node with extra flags, in its own folder (`tag` tells concurrent tests apart).
    fn start_with(tag: &str, extra: &[&str]) -> Node {
        let dir = std::env::temp_dir().join(format!("aisle-bench-it-{}{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mps = [dir.join("mp1"), dir.join("mp2")];
        for m in &mps {
            std::fs::create_dir_all(m).expect("mountpath dir");
        }
        let port = free_port();
        let log = std::fs::File::create(dir.join("node.log")).expect("log file");
        let child = Command::new(node_binary())
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(["--cores", "2", "--no-pin"])
            .arg("--mountpath")
            .arg(&mps[0])
            .arg("--mountpath")
            .arg(&mps[1])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning aisle-node");
        let node = Node {
            child: Some(child),
            port,
            dir,
        };
        node.wait_ready();
        node
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut c) = Client::new(&self.url()) {
                if let Ok(r) = c.request("GET", "/v1/health", &[], Body::Empty) {
                    if r.status == 200 {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "node not ready; log:\n{}",
            std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
        );
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Names in bucket `b` (JSON listing, following continuation tokens).
    fn metrics(&self) -> String {
        let mut c = Client::new(&self.url()).expect("client");
        let r = c
            .request("GET", "/metrics", &[], Body::Empty)
            .expect("GET /metrics");
        assert_eq!(r.status, 200);
        String::from_utf8(r.body_bytes().expect("metrics body")).expect("UTF-8 metrics")
    }

    fn list(&self, b: &str) -> Vec<String> {
        let mut c = Client::new(&self.url()).expect("client");
        let mut names = Vec::new();
        let mut token = String::new();
        loop {
            let msg = serde_json::json!({"action":"list","value":{"continuation_token": token, "props":"name"}});
            let body = serde_json::to_vec(&msg).expect("json");
            let r = c
                .request(
                    "GET",
                    &format!("/v1/buckets/{b}"),
                    &[("Accept", "application/json")],
                    Body::Bytes(&body),
                )
                .expect("list request");
            assert_eq!(r.status, 200);
            let v: Value =
                serde_json::from_slice(&r.body_bytes().expect("body")).expect("list JSON");
            for e in v["entries"].as_array().into_iter().flatten() {
                names.push(e["name"].as_str().expect("name").to_string());
            }
            token = v["continuation_token"].as_str().unwrap_or("").to_string();
            if token.is_empty() {
                return names;
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs aisle-bench with `args` against `node`; returns its output and the JSON summary.
fn bench(node: &Node, args: &[&str]) -> (Output, Value) {
    let port = node.port.to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_aisle-bench"))
        .args([
            "-ip",
            "127.0.0.1",
            "-port",
            &port,
            "-json",
            "-statsinterval",
            "0",
        ])
        .args(args)
        .output()
        .expect("running aisle-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON summary ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, summary)
}

/// The value of `name{labels}` in a Prometheus text page.
fn metric(text: &str, name: &str, labels: &str) -> u64 {
    let key = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(&key)
                .map(|v| v.trim().parse::<u64>().expect("a counter"))
        })
        .unwrap_or_else(|| panic!("no {key} in /metrics:\n{text}"))
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn assert_clean(out: &Output, summary: &Value) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "aisle-bench failed ({}):\n{stderr}",
        out.status
    );
    assert_eq!(n(&summary["get"]["errors"]), 0, "{stderr}");
    assert_eq!(n(&summary["put"]["errors"]), 0, "{stderr}");
}

#[test]
fn bounded_runs_against_a_node() {
    let node = Node::start();

    // 1. Mixed 50/50, bounded by -maxputs, every GET body verified against its checksum.
    let (out, s) = bench(
        &node,
        &[
            "-maxputs",
            "500",
            "-pctput",
            "50",
            "-duration",
            "5s",
            "-numworkers",
            "8",
            "-minsize",
            "1KiB",
            "-maxsize",
            "64KiB",
            "-verifyhash",
            "-objprefix",
            "it",
            "-numcores",
            "2",
        ],
    );
    assert_clean(&out, &s);
    let (puts, gets) = (n(&s["put"]["count"]), n(&s["get"]["count"]));
    assert!(puts > 0 && gets > 0, "{s}");
    assert!(puts <= 500, "-maxputs 500 but {puts} PUTs");
    if s["duration_s"].as_f64().expect("duration") < 4.5 {
        assert_eq!(puts, 500, "the run ended before 5 s, so by -maxputs");
    }
    assert_eq!(
        n(&s["gets_verified"]),
        gets,
        "every whole GET is verified: {s}"
    );
    let bytes = n(&s["put"]["bytes"]);
    assert!(
        (puts * 1024..=puts * 64 * 1024).contains(&bytes),
        "PUT bytes {bytes} for {puts} PUTs"
    );
    let latency = &s["get"]["latency_us"];
    assert!(
        n(&latency["min"]) <= n(&latency["p50"]) && n(&latency["p50"]) <= n(&latency["max"]),
        "{latency}"
    );
    assert_eq!(
        node.list("bench").len() as u64,
        puts,
        "the bucket holds exactly what was PUT"
    );

    // ---- /metrics check: the node counted exactly what aisle-bench reported ----
    let metrics = node.metrics();
    let bucket = format!("node_id=\"aisle{}\",bucket=\"ais://bench\"", node.port);
    for (name, want) in [
        ("ais_target_put_count", puts),
        ("ais_target_get_count", gets),
        ("ais_target_put_bytes", bytes),
        ("ais_target_get_bytes", n(&s["get"]["bytes"])),
        ("ais_target_err_get_count", 0),
        ("ais_target_err_put_count", 0),
    ] {
        assert_eq!(
            metric(&metrics, name, &bucket),
            want,
            "{name}{{{bucket}}} vs aisle-bench's figure"
        );
    }
    // ---- end of /metrics check ----

    // 2. GET-only over the listing, range GETs and whole GETs.
    let (out, s) = bench(
        &node,
        &[
            "-pctput",
            "0",
            "-duration",
            "1s",
            "-numworkers",
            "4",
            "-verifyhash",
        ],
    );
    assert_clean(&out, &s);
    assert!(n(&s["get"]["count"]) > 0, "{s}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("Found {puts} existing objects"))
    );
    let counted = |name: &str| metric(&node.metrics(), name, &bucket);
    let (gets_before, bytes_before, errs_before) = (
        counted("ais_target_get_count"),
        counted("ais_target_get_bytes"),
        counted("ais_target_err_get_count"),
    );
    let (out, s) = bench(
        &node,
        &[
            "-pctput",
            "0",
            "-duration",
            "1s",
            "-numworkers",
            "2",
            "-readoff",
            "10",
            "-readlen",
            "100",
        ],
    );
    assert_clean(&out, &s);
    let gets = n(&s["get"]["count"]);
    // A run that made no GET would pass every check below.
    assert!(gets > 0, "the range run made no GET: {s}");
    assert_eq!(
        n(&s["get"]["bytes"]),
        gets * 100,
        "every range GET returns 100 bytes"
    );
    // The node served exactly those range GETs, 100 bytes each, and no error.
    assert_eq!(
        counted("ais_target_get_count") - gets_before,
        gets,
        "range GETs counted by the node vs aisle-bench"
    );
    assert_eq!(
        counted("ais_target_get_bytes") - bytes_before,
        gets * 100,
        "range GET bytes counted by the node"
    );
    assert_eq!(counted("ais_target_err_get_count"), errs_before);

    // 3. -cleanup deletes exactly what the run PUT.
    let (out, s) = bench(
        &node,
        &[
            "-pctput",
            "100",
            "-maxputs",
            "50",
            "-cleanup",
            "-skiplist",
            "-maxsize",
            "4KiB",
        ],
    );
    assert_clean(&out, &s);
    assert_eq!(n(&s["put"]["count"]), 50);
    assert!(String::from_utf8_lossy(&out.stderr).contains("deleted 50 of 50"));
    assert_eq!(
        node.list("bench").len() as u64,
        puts,
        "cleanup left the earlier objects alone"
    );

    // 4. Errors are reported, never hidden: GETs of missing objects fail the run.
    let list = node.dir.join("missing.txt");
    std::fs::write(&list, "no/such/object\n").expect("objlist");
    let list = list.to_string_lossy().into_owned();
    let (out, s) = bench(
        &node,
        &[
            "-pctput",
            "0",
            "-duration",
            "1s",
            "-numworkers",
            "1",
            "-objlist",
            &list,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "errors give exit code 1");
    assert!(
        n(&s["get"]["errors"]) > 0 && n(&s["get"]["count"]) == 0,
        "{s}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("status 404"));
}

#[test]
fn s3_runs_signed_with_sigv4() {
    // Goal: with -s3-access-key/-s3-secret-key every S3 request (bucket create, PUT, listing,
    // GET, cleanup DELETE) passes a node that requires SigV4; without them or with a wrong
    // secret the node refuses the requests (the run reports errors, stores nothing).
    let node = Node::start_with("-s3", &["--s3-access-key", "AKBENCH:bench/secret"]);
    let endpoint = format!("{}/s3", node.url());
    let common = [
        "-api",
        "s3",
        "-endpoint",
        endpoint.as_str(),
        "-bucket",
        "sig",
        "-numworkers",
        "4",
        "-minsize",
        "1KiB",
        "-maxsize",
        "16KiB",
        "-objprefix",
        "sg",
    ];
    let signed = [
        "-s3-access-key",
        "AKBENCH",
        "-s3-secret-key",
        "bench/secret",
    ];
    let mut args: Vec<&str> = common.to_vec();
    args.extend_from_slice(&signed);
    args.extend_from_slice(&["-pctput", "50", "-maxputs", "200", "-duration", "5s"]);
    let (out, s) = bench(&node, &args);
    assert_clean(&out, &s);
    let puts = n(&s["put"]["count"]);
    assert!(puts > 0 && n(&s["get"]["count"]) > 0, "{s}");
    // GET-only over the listing (signed ListObjectsV2), then cleanup by signed DELETEs.
    let mut args: Vec<&str> = common.to_vec();
    args.extend_from_slice(&signed);
    args.extend_from_slice(&["-pctput", "0", "-duration", "1s"]);
    let (out, s) = bench(&node, &args);
    assert_clean(&out, &s);
    assert!(n(&s["get"]["count"]) > 0, "{s}");
    // A wrong secret: every request refused, nothing changed.
    let before = node.list("sig");
    assert_eq!(
        before.len() as u64,
        puts,
        "the bucket holds what the signed run PUT"
    );
    let mut args: Vec<&str> = common.to_vec();
    args.extend_from_slice(&["-s3-access-key", "AKBENCH", "-s3-secret-key", "wrong"]);
    args.extend_from_slice(&["-pctput", "100", "-maxputs", "20", "-duration", "2s"]);
    let out = Command::new(env!("CARGO_BIN_EXE_aisle-bench"))
        .args(&args)
        .args(["-json", "-statsinterval", "0"])
        .output()
        .expect("running aisle-bench");
    // The first request (creating the bucket) is refused: the run stops there.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a wrong secret was not refused:\n{stderr}"
    );
    assert!(
        stderr.contains("status 403") && stderr.contains("SignatureDoesNotMatch"),
        "{stderr}"
    );
    assert_eq!(node.list("sig"), before, "a refused run changed the bucket");
}

#[test]
fn epochs_read_every_object_once_per_epoch() {
    // Goal: -epochs N over a listed bucket makes exactly N x objects GETs, one epoch entry per
    // epoch (each with every object once, counted by the node too), then stops by itself;
    // failing GETs are counted in their epoch and the run still ends.
    let node = Node::start_with("-epochs", &[]);
    const OBJECTS: u64 = 300;
    const EPOCHS: u64 = 3;
    // Seed through the URI form of -bucket, writing the names PUT to a -putlist.
    let put_list = node.dir.join("put-list.txt");
    let put_list_arg = put_list.to_string_lossy().into_owned();
    let (out, s) = bench(
        &node,
        &[
            "-putlist",
            &put_list_arg,
            "-bucket",
            "ais://ep",
            "-pctput",
            "100",
            "-maxputs",
            "300",
            "-minsize",
            "4KiB",
            "-maxsize",
            "4KiB",
            "-numworkers",
            "8",
            "-objprefix",
            "e",
        ],
    );
    assert_clean(&out, &s);
    assert_eq!(n(&s["put"]["count"]), OBJECTS);
    let mut listed = node.list("ep");
    listed.sort();
    let mut written: Vec<String> = std::fs::read_to_string(&put_list)
        .expect("the -putlist file")
        .lines()
        .map(String::from)
        .collect();
    written.sort();
    assert_eq!(written, listed, "-putlist holds exactly the names PUT");
    let bucket = format!("node_id=\"aisle{}\",bucket=\"ais://ep\"", node.port);
    let gets_before = metric(&node.metrics(), "ais_target_get_count", &bucket);
    let (out, s) = bench(
        &node,
        &[
            "-bucket",
            "ais://ep",
            "-epochs",
            "3",
            "-numworkers",
            "16",
            "-numcores",
            "2",
            "-verifyhash",
        ],
    );
    assert_clean(&out, &s);
    assert_eq!(n(&s["get"]["count"]), EPOCHS * OBJECTS, "{s}");
    assert_eq!(n(&s["get"]["bytes"]), EPOCHS * OBJECTS * 4096);
    assert_eq!(n(&s["gets_verified"]), EPOCHS * OBJECTS);
    let epochs = s["epochs"].as_array().expect("an epochs array");
    assert_eq!(epochs.len() as u64, EPOCHS, "{s}");
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!(n(&e["epoch"]), i as u64 + 1);
        assert_eq!(e["complete"], true, "{e}");
        assert_eq!(n(&e["objects"]), OBJECTS, "{e}");
        assert_eq!(n(&e["count"]), OBJECTS, "{e}");
        assert_eq!(n(&e["errors"]), 0, "{e}");
        assert_eq!(n(&e["bytes"]), OBJECTS * 4096, "{e}");
        assert!(e["objects_per_s"].as_f64().expect("rate") > 0.0, "{e}");
        let l = &e["latency_us"];
        assert!(
            n(&l["p50"]) <= n(&l["p99"]) && n(&l["p99"]) <= n(&l["max"]),
            "{e}"
        );
    }
    assert_eq!(
        metric(&node.metrics(), "ais_target_get_count", &bucket) - gets_before,
        EPOCHS * OBJECTS,
        "the node served exactly epochs x objects GETs"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for k in 1..=EPOCHS {
        assert!(
            stderr.contains(&format!("Epoch {k}/{EPOCHS}: 300 of 300 objects")),
            "{stderr}"
        );
    }

    // An object list with a missing name: its GET fails once per epoch, the run still ends
    // after the epochs, and the errors show in their epochs and in the exit code.
    let names = node.list("ep");
    let list = node.dir.join("with-missing.txt");
    std::fs::write(
        &list,
        format!("{}\n{}\nno/such/object\n", names[0], names[1]),
    )
    .expect("list");
    let list = list.to_string_lossy().into_owned();
    let (out, s) = bench(
        &node,
        &[
            "-bucket",
            "ep",
            "-objlist",
            &list,
            "-epochs",
            "2",
            "-numworkers",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "errors give exit code 1");
    assert_eq!(
        (n(&s["get"]["count"]), n(&s["get"]["errors"])),
        (4, 2),
        "{s}"
    );
    for e in s["epochs"].as_array().expect("epochs") {
        assert_eq!(
            (n(&e["count"]), n(&e["errors"]), n(&e["objects"])),
            (2, 1, 3),
            "{e}"
        );
        assert_eq!(e["complete"], true);
    }

    // Refused combinations: a clear error, exit code 2, nothing sent.
    for bad in [
        &["-epochs", "1", "-pctput", "10"][..],
        &["-epochs", "1", "-uniquegets=false"][..],
        &["-bucket", "s3://ep"][..],
        &["-bucket", "ais://"][..],
    ] {
        let out = bench_raw(&node, bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("aisle-bench: "), "{bad:?}: {stderr}");
    }
}

/// Runs aisle-bench with `args` against `node` without expecting a JSON summary.
fn bench_raw(node: &Node, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_aisle-bench"))
        .args(["-ip", "127.0.0.1", "-port", &node.port.to_string(), "-json"])
        .args(args)
        .output()
        .expect("running aisle-bench");
    assert!(out.stdout.is_empty(), "no summary for a refused run");
    out
}
