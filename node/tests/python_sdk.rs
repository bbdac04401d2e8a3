//! NVIDIA's Python SDK (`aistore`) as an acceptance test: the scripts in `sdk/` drive a real
//! node with the unmodified SDK (`sdk_test.py`: the basics; `sdk_objects.py`: append and custom
//! metadata; `copy_test.py`: object copy and the list-objects flags; `sdk_multipart.py`: the native
//! multipart upload; `sdk_jobs.py`: jobs; `sdk_auth.py`: token access control; `sdk_https.py`: over HTTPS). The interpreter comes from `AISLE_PYTHON` (set by
//! `scripts/test.sh`), else `<workspace>/.venv/bin/python`. A missing interpreter or SDK fails
//! the test: it must never pass without having run.
mod common;
use common::*;

use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
    match std::env::var_os("AISLE_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

const HOW_TO_FIX: &str = "run `scripts/test.sh` from the workspace root (it creates .venv and installs \
                          scripts/requirements-test.txt), or set AISLE_PYTHON to a Python that has them";

#[test]
fn python_sdk_acceptance() {
    // Goal: the real `aistore` SDK works against aisle-node: bucket create/exists errors, put,
    // get (whole, range, direct), head, paged listing, deletes with not-found errors, cluster
    // info and readiness, list buckets (the asserts live in sdk/sdk_test.py).
    run_script("sdk_test.py", &[], 2, "SDK acceptance test: OK");
}

#[test]
fn python_sdk_append_and_custom_metadata() {
    // Goal: the SDK's append (append_content with flush, as_file in 'a' and 'w' modes) and
    // custom metadata (Ais-Custom-Md on PUT, HEAD/GET, set_custom_props merge and replace)
    // behave as against AIS (the asserts live in sdk/sdk_objects.py).
    run_script("sdk_objects.py", &[], 2, "SDK objects test: OK");
}

#[test]
fn python_sdk_object_copy() {
    // Goal: `Object.copy()` copies (other bucket, same bucket, over an existing object), leaves
    // the source untouched, and raises ErrBckNotFound / ErrObjNotFound changing nothing.
    run_script("copy_test.py", &["copy"], 3, "SDK copy/listing test: OK");
}

#[test]
fn python_sdk_list_flags() {
    // Goal: NO_RECURSION (with prefixes, paged, with NO_DIRS), NAME_ONLY and ARCH_DIR (501)
    // through the SDK, as AIS's lso_test.go expects. Three mountpaths: a virtual directory
    // exists on several of them and is listed once.
    run_script("copy_test.py", &["list"], 3, "SDK copy/listing test: OK");
}

#[test]
fn python_sdk_multipart_upload() {
    // Goal: `multipart_upload()` create, `add_part(n).put_content()` out of order (a repeated
    // part replaces the earlier one), complete (read back equal, ranges across parts), abort
    // (nothing left), a refused completion with a gap (the asserts live in sdk/sdk_multipart.py).
    run_script("sdk_multipart.py", &[], 3, "SDK multipart test: OK");
}

#[test]
fn python_sdk_token_auth() {
    // Goal: the SDK's token option (`Client(url, token=...)`, sent as `Authorization: Bearer`)
    // against a node with token access control: no token 401, admin token creates and
    // writes, a read-only token on one bucket reads it and is refused (403) writes there and
    // everything on another bucket (the asserts live in sdk/sdk_auth.py).
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use serde_json::json;
    let py = sdk_python();
    let secret = "sdk-auth-test-secret";
    let node = Node::start_with_args(1, &["--auth-secret", secret]);
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mint = |c: serde_json::Value| {
        encode(
            &Header::new(Algorithm::HS256),
            &c,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let admin = mint(json!({"sub": "admin", "exp": exp, "admin": true}));
    let smap = node.req(
        "GET",
        "/v1/daemon?what=smap",
        &[("Authorization", &format!("Bearer {admin}"))],
        b"",
    );
    assert_eq!(smap.status, 200, "{}", smap.text());
    let uuid = smap.json()["uuid"].as_str().unwrap().to_string();
    // AIS AccessRO: GET | HEAD-OBJECT | HEAD-BUCKET | LIST-OBJECTS.
    let ro: u64 = 1 | 2 | (1 << 8) | (1 << 9);
    let reader = mint(json!({"sub": "reader", "exp": exp, "clusters": [],
        "buckets": [{"bck": {"name": "authb", "provider": "ais",
            "namespace": {"uuid": uuid, "name": ""}}, "perm": ro.to_string()}]}));
    run_on(
        &py,
        &node,
        "sdk_auth.py",
        &[&admin, &reader],
        "SDK auth test: OK",
    );
}

#[test]
fn python_sdk_jobs_api() {
    // Goal: the SDK's job calls with no job running: details of a kind parse the empty answer,
    // the status lists are empty, an unknown id is 404, a kind the node cannot run is 501.
    run_script("sdk_jobs.py", &["api"], 1, "SDK jobs api test: OK");
}

#[test]
fn python_sdk_job_models_parse_what_the_node_renders() {
    // Goal: the SDK's models (AggregatedJobSnap, JobSnap, JobStats, JobStatus, WaitResult) read
    // the node's renderings of a finished, an aborted and a running job as AIS's: counters,
    // times, aborted and idle flags, success. The JSON comes from real registry entries through
    // the node's own renderers (`node::ais::cluster`), not from a hand-written sample.
    use engine::xact::Xacts;
    use node::ais::cluster::{snap_json, status_json};
    let xs = Xacts::default();
    let fin = xs.begin("resilver", None);
    fin.counters.add_obj(4096);
    fin.counters.add_obj(100);
    fin.finish(None);
    let ab = xs.begin("make-n-copies", Some("b"));
    assert!(ab.abort("stopped by the user"));
    ab.finish(None);
    let run = xs.begin("cleanup-store", None);
    let all = [&fin, &ab, &run];
    let data = serde_json::json!({
        "snaps": { "t1": all.iter().map(|x| snap_json(x, false)).collect::<Vec<_>>() },
        "status": all.iter().map(|x| status_json(x)).collect::<Vec<_>>(),
        "finished": fin.id, "aborted": ab.id, "running": run.id,
    });
    let dir = tempdir("sdk-jobs");
    let file = dir.join("jobs.json");
    std::fs::write(&file, data.to_string()).expect("write the renderings");
    let path = file.to_str().expect("utf-8 path");
    run_script(
        "sdk_jobs.py",
        &["models", path],
        1,
        "SDK jobs models test: OK",
    );
    run.finish(None);
}

#[test]
fn python_sdk_resilver_job() {
    // Goal: `client.job(job_kind="resilver").start()`, then `client.job(id).wait()` and
    // `.get_details()` work against the node (issue 8's SDK acceptance), objects read back.
    run_script(
        "sdk_jobs.py",
        &["resilver"],
        2,
        "SDK jobs resilver test: OK",
    );
}

/// Runs `tests/sdk/<script> <node url> <args>` against a fresh node with `mountpaths`
/// mountpaths; requires exit 0 and `done` in its output.
fn run_script(script_name: &str, args: &[&str], mountpaths: usize, done: &str) {
    // Steps: find the interpreter and check it imports the SDK (else fail with how to fix);
    // start a node; run the script with the node URL; require exit 0.
    let py = sdk_python();
    let node = Node::start(mountpaths);
    run_on(&py, &node, script_name, args, done);
}

/// The interpreter, checked to import the SDK (else the test fails with how to fix it).
fn sdk_python() -> PathBuf {
    let py = python();
    assert!(
        py.exists(),
        "Python interpreter {} not found: {HOW_TO_FIX}",
        py.display()
    );
    let probe = Command::new(&py)
        .args(["-c", "import aistore.sdk, xxhash; from importlib.metadata import version; print(version('aistore'))"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {HOW_TO_FIX}", py.display()));
    assert!(
        probe.status.success(),
        "{} cannot import the aistore SDK: {}\n{HOW_TO_FIX}",
        py.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    println!(
        "python: {}, aistore {}",
        py.display(),
        String::from_utf8_lossy(&probe.stdout).trim()
    );
    py
}

/// Runs `script_name` with the node's URL and `args`; requires exit 0 and `done` printed.
fn run_on(py: &std::path::Path, node: &Node, script_name: &str, args: &[&str], done: &str) {
    run_url(py, node, &node.url(), script_name, args, done)
}

/// `run_on` with the URL the script is given (e.g. `https://...`).
fn run_url(
    py: &std::path::Path,
    node: &Node,
    url: &str,
    script_name: &str,
    args: &[&str],
    done: &str,
) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script_name);
    let mut cmd = Command::new(py);
    // `requests` lets these variables override a session's own CA (the SDK's `ca_cert`).
    cmd.env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE");
    let out = cmd
        .arg(&script)
        .arg(url)
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- {script_name} stdout\n{stdout}--- {script_name} stderr\n{stderr}---");
    assert!(
        out.status.success(),
        "{script_name} failed ({}):\n{stdout}\n{stderr}\nnode log:\n{}",
        out.status,
        node.log_text()
    );
    assert!(
        stdout.contains(done),
        "{script_name} did not finish:\n{stdout}"
    );
}

#[test]
fn python_sdk_over_https() {
    // Goal: the SDK works against a node serving HTTPS (`--tls-cert/--tls-key`): its two-leg
    // uploads (head alone first, expecting an AIS proxy's 307) for put_content, put_file,
    // append and multipart parts; reads back equal (the asserts live in sdk/sdk_https.py).
    let py = sdk_python();
    let dir = tempdir("sdk-https");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mp = dir.join("mp1");
    std::fs::create_dir_all(&mp).unwrap();
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let node = Node::spawn_with_env(
        dir.clone(),
        vec![mp],
        free_port(),
        &["--tls-cert", c, "--tls-key", k],
        &[],
    );
    let url = format!("https://127.0.0.1:{}", node.port);
    run_url(&py, &node, &url, "sdk_https.py", &[c], "SDK HTTPS test: OK");
}
