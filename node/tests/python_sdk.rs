//! NVIDIA's Python SDK (`aistore`) as an acceptance test: `sdk/sdk_test.py` drives a real node
//! with the unmodified SDK. The interpreter comes from `AISLE_PYTHON` (set by
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
    run_script("sdk_test.py", "SDK acceptance test: OK");
}

#[test]
fn python_sdk_append_and_custom_metadata() {
    // Goal: the SDK's append (append_content with flush, as_file in 'a' and 'w' modes) and
    // custom metadata (Ais-Custom-Md on PUT, HEAD/GET, set_custom_props merge and replace)
    // behave as against AIS (the asserts live in sdk/sdk_objects.py).
    run_script("sdk_objects.py", "SDK objects test: OK");
}

/// Runs `tests/sdk/<script>` against a fresh two-mountpath node; requires exit 0 and `done`.
fn run_script(script_name: &str, done: &str) {
    // Steps: find the interpreter and check it imports the SDK (else fail with how to fix);
    // start a node with two mountpaths; run the script with the node URL; require exit 0.
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

    let node = Node::start(2);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script_name);
    let out = Command::new(&py)
        .arg(&script)
        .arg(node.url())
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
