//! Full disk: on a small loop-mounted ext4 mountpath, PUTs that do not fit get 507 with an AIS
//! JSON error body and leave nothing partial (no work file, no object, an overwritten object
//! intact); GETs and DELETEs keep working; PUTs succeed again once space is freed.
mod common;
mod loopfs;
use common::*;
use loopfs::*;
use std::time::Duration;

/// A refused PUT removes its work file in the background (`PutHandle`'s drop); it must be
/// gone within a few seconds.
fn no_work_files_soon(node: &Node) {
    let r = eventually(Duration::from_secs(5), || {
        let w = node.work_files("b");
        if w.is_empty() {
            Ok(())
        } else {
            Err(format!("{w:?}"))
        }
    });
    if let Err(e) = r {
        panic!("work files left: {e}");
    }
}

fn assert_507(r: &Resp, what: &str) {
    assert_eq!(r.status, 507, "{what}: {}", r.text());
    let j = r.json();
    assert_eq!(j["status"], 507, "{what}: {j}");
    let msg = j["message"].as_str().unwrap_or_default();
    assert!(msg.contains("out of space"), "{what}: {msg}");
}

/// PUTs `len`-byte objects named `{prefix}{i}` until one gets 507 (asserted within 64);
/// returns how many were stored and the name of the refused one.
fn fill(node: &Node, prefix: &str, len: usize, seed: u64) -> (usize, String) {
    for i in 0..64 {
        let name = format!("{prefix}{i}");
        let r = node.put("b", &name, &bytes(seed + i as u64, len));
        if r.status == 507 {
            assert_507(&r, &name);
            return (i, name);
        }
        assert_eq!(r.status, 200, "PUT {name}: {}", r.text());
    }
    panic!("64 PUTs of {len} bytes never filled the filesystem");
}

#[test]
fn put_on_a_full_mountpath_is_507_and_leaves_nothing_partial() {
    // Goal: ENOSPC is a clean 507; nothing partial stays; reads and deletes go on; freeing
    // space lets PUTs succeed again. Steps: 16 MiB ext4; PUT "keep"; fill with 1 MiB PUTs
    // (direct path) until 507, then with 64 KiB PUTs (buffered path) until 507; check work
    // files, refused names, "keep" and an overwrite of it that does not fit; DELETE some
    // objects and PUT again.
    let Some(fs) = LoopFs::new("full", 16) else {
        return;
    };
    let mp = fs.mnt.join("mp");
    std::fs::create_dir_all(&mp).unwrap();
    let node = Node::start_on(tempdir("full"), vec![mp], free_port());
    node.create_bucket("b");
    let keep = bytes(7, 256 * 1024);
    assert_eq!(node.put("b", "keep", &keep).status, 200);

    let (big, refused_big) = fill(&node, "big", 1 << 20, 100);
    assert!(big > 0, "no 1 MiB object fitted at all");
    let (_, refused_small) = fill(&node, "small", 64 * 1024, 1000);

    no_work_files_soon(&node);
    for name in [&refused_big, &refused_small] {
        assert_eq!(node.get("b", name).status, 404, "{name} must not exist");
    }
    // An overwrite that does not fit leaves the old object as it was.
    assert_507(&node.put("b", "keep", &bytes(8, 4 << 20)), "overwrite keep");
    let r = node.get("b", "keep");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, keep, "keep changed by a refused overwrite");
    no_work_files_soon(&node);
    // Reads and listings work on the full disk.
    assert_eq!(node.get("b", "big0").body, bytes(100, 1 << 20));
    assert!(node.list_names("b").contains(&"big0".to_string()));
    assert!(node.metric_sum("ais_target_err_put_count") >= 3);

    // Free space: DELETE every big object; a 1 MiB PUT then succeeds (within a few seconds:
    // big0 was read, so some core may hold it open until its cache sweep).
    for i in 0..big {
        assert_eq!(node.delete("b", &format!("big{i}")).status, 200);
    }
    let again = bytes(5000, 1 << 20);
    let r = eventually(Duration::from_secs(5), || {
        let r = node.put("b", "again", &again);
        if r.status == 200 {
            Ok(r)
        } else {
            Err(format!("{} {}", r.status, r.text()))
        }
    });
    r.unwrap_or_else(|e| panic!("PUT after freeing space: {e}"));
    assert_eq!(node.get("b", "again").body, again);
    no_work_files_soon(&node);
    assert_eq!(node.req("GET", "/v1/health", &[], b"").status, 200);
    drop(node);
    drop(fs);
}
