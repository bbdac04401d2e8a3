//! NVIDIA's Python SDK against a real node for object copy (`Object.copy()`) and the
//! list-objects flags: `sdk/copy_test.py` holds the asserts. The interpreter is found as in
//! `python_sdk.rs` (`AISLE_PYTHON`, else `<workspace>/.venv/bin/python`); a missing interpreter
//! or SDK fails the test: it never passes without having run.
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

/// Runs `sdk/copy_test.py <url> <part>` against a fresh node with `mountpaths` mountpaths and
/// requires it to finish.
fn run(part: &str, mountpaths: usize) {
    let py = python();
    assert!(
        py.exists(),
        "Python interpreter {} not found: run scripts/test.sh (it creates .venv) or set AISLE_PYTHON",
        py.display()
    );
    let node = Node::start(mountpaths);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/copy_test.py");
    let out = Command::new(&py)
        .arg(&script)
        .arg(node.url())
        .arg(part)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- copy_test.py {part} stdout\n{stdout}--- stderr\n{stderr}---");
    assert!(
        out.status.success(),
        "copy_test.py {part} failed ({}):\n{stdout}\n{stderr}\nnode log:\n{}",
        out.status,
        node.log_text()
    );
    assert!(
        stdout.contains("SDK copy/listing test: OK"),
        "copy_test.py {part} did not finish:\n{stdout}"
    );
}

#[test]
fn sdk_object_copy() {
    // Goal: `Object.copy()` copies (other bucket, same bucket, over an existing object), leaves
    // the source untouched, and raises ErrBckNotFound / ErrObjNotFound changing nothing.
    run("copy", 3);
}

#[test]
fn sdk_list_flags() {
    // Goal: NO_RECURSION (with prefixes, paged, with NO_DIRS), NAME_ONLY and ARCH_DIR (501)
    // through the SDK, as AIS's lso_test.go expects. Three mountpaths: a virtual directory
    // exists on several of them and is listed once.
    run("list", 3);
}
