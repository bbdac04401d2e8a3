//! Capacity watermarks (issue 10, "Full disk"): over the out-of-space watermark a node refuses
//! new PUTs with 507 before the disk is actually full, shows the state in `what=mountpaths` and
//! `/metrics`, keeps serving GETs and DELETEs, and takes PUTs again once space is freed.

mod common;
mod loopfs;
use common::*;
use loopfs::*;
use serde_json::Value;
use std::time::Duration;

fn space(node: &Node) -> Value {
    let r = node.req("GET", "/v1/daemon?what=mountpaths", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn over_the_out_of_space_watermark_puts_get_507_and_come_back_after_deletes() {
    // Goal: see the module docs. 32 MiB ext4 as the only mountpath; watermarks low 20 %, high
    // 35 %, out of space 50 %, capacity read every 50 ms; 1 MiB PUTs until one is refused.
    let Some(fs) = LoopFs::new("wm", 32) else {
        return;
    };
    let mp = fs.mnt.join("mp");
    std::fs::create_dir_all(&mp).unwrap();
    let args = [
        "--space-low-wm",
        "20",
        "--space-high-wm",
        "35",
        "--space-oos",
        "50",
        "--space-check-interval",
        "50ms",
    ];
    let node = Node::start_on_with_args(tempdir("wm"), vec![mp.clone()], free_port(), &args);
    let s = space(&node);
    assert_eq!(s["space"]["out_of_space"], 50, "{s}");
    assert_eq!(s["space"]["state"], "ok", "{s}");
    node.create_bucket("b");

    // Fill. Each PUT waits a little so the monitor (every 50 ms) sees the space in use; the
    // refusal must come from the watermark, well before the filesystem is full.
    let mut stored = Vec::new();
    let refused = loop {
        assert!(
            stored.len() < 64,
            "64 MiB of PUTs never crossed the watermark"
        );
        let name = format!("o{}", stored.len());
        let data = bytes(stored.len() as u64, 1 << 20);
        let r = node.put("b", &name, &data);
        if r.status == 507 {
            break r;
        }
        assert_eq!(r.status, 200, "PUT {name}: {}", r.text());
        stored.push((name, data));
        std::thread::sleep(Duration::from_millis(120));
    };
    let msg = refused.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("out-of-space watermark (50%)"),
        "refused by the watermark, not by ENOSPC: {msg}"
    );
    assert!(
        fs.avail() > 8 << 20,
        "refused with {} bytes still free on the filesystem",
        fs.avail()
    );
    let s = space(&node);
    assert_eq!(s["space"]["state"], "oos", "{s}");
    assert!(s["space"]["pct_max"].as_u64().unwrap() >= 50, "{s}");
    let key = std::fs::canonicalize(&mp)
        .unwrap()
        .to_string_lossy()
        .to_string();
    let used = s["capacity"][&key]["used_pct"].as_u64();
    assert!(used.is_some_and(|u| u >= 50), "{s}");
    assert_eq!(node.metric_sum("aisle_capacity_out_of_space"), 1);
    assert!(node.metric_sum("aisle_mountpath_used_pct") >= 50);
    assert_eq!(node.metric_sum("aisle_capacity_high_wm"), 1);
    assert!(
        node.work_files("b").is_empty(),
        "a refused PUT wrote nothing"
    );
    assert!(
        node.log_text().contains("capacity watermark crossed"),
        "logged"
    );
    // Crossing the high watermark started a space cleanup job (AIS).
    let r = node.send(
        "GET",
        "/v1/cluster?what=qryxstats",
        &[("Content-Type", "application/json")],
        br#"{"Kind":"cleanup-store"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let jobs = r.json();
    let n = jobs.as_object().map_or(0, |m| {
        m.values().filter_map(|v| v.as_array()).map(Vec::len).sum()
    });
    assert!(n >= 1, "no cleanup-store job: {jobs}");
    assert!(
        node.log_text()
            .contains("space cleanup started at the high watermark"),
        "logged"
    );

    // Reads and deletes go on; an overwrite is refused too and leaves the old object.
    for (name, data) in &stored {
        assert_eq!(&node.get("b", name).body, data, "{name}");
    }
    assert_eq!(node.put("b", &stored[0].0, b"new").status, 507);
    assert_eq!(node.get("b", &stored[0].0).body, stored[0].1);

    // Free space: DELETE most objects; PUTs come back once the monitor sees it.
    let keep = 2;
    for (name, _) in &stored[keep..] {
        assert_eq!(node.delete("b", name).status, 200, "{name}");
    }
    let again = bytes(9999, 1 << 20);
    let r = eventually(Duration::from_secs(10), || {
        let r = node.put("b", "again", &again);
        if r.status == 200 {
            Ok(r)
        } else {
            Err(format!("{} {}", r.status, r.text()))
        }
    });
    r.unwrap_or_else(|e| panic!("PUT after freeing space: {e}"));
    assert_eq!(node.get("b", "again").body, again);
    assert_ne!(space(&node)["space"]["state"], "oos");
    assert_eq!(node.metric_sum("aisle_capacity_out_of_space"), 0);
    drop(node);
    drop(fs);
}

#[test]
fn bad_watermarks_are_refused_at_start() {
    // Goal: watermarks out of order stop the node at start (exit 1) with a message naming them.
    let dir = tempdir("wmbad");
    let mp = dir.join("mp");
    std::fs::create_dir_all(&mp).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aisle-node"))
        .args(["--listen", &listen, "--mountpath", mp.to_str().unwrap()])
        .args(["--space-low-wm", "80", "--space-high-wm", "70"])
        .current_dir(&dir)
        .output()
        .expect("running aisle-node");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("low (80) < high (70)"), "{err}");
}
