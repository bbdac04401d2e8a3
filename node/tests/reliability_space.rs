//! Space comes back: deleting or overwriting objects that every core holds open in its object
//! cache frees their blocks promptly (each core's cache sweep closes stale entries), proven with
//! `statfs` on a small loop-mounted ext4 mountpath and `/proc/<pid>/fd`.
mod common;
mod loopfs;
use common::*;
use loopfs::*;
use std::time::Duration;

const OBJS: usize = 12;
const OBJ_BYTES: usize = 1 << 20;
/// Slack for filesystem metadata (directories, xattr blocks, journal) in free-space checks.
const SLACK: u64 = 2 << 20;

/// Keep-alive connections until both of the node's 2 cores hold at least 2.
fn conns_on_every_core(node: &Node) -> Vec<KeepAlive> {
    let open = |node: &Node, core: usize| -> u64 {
        let text = node.req("GET", "/metrics", &[], b"").text();
        let key = format!(
            "aisle_core_conns_open{{node_id=\"aisle{}\",core=\"{core}\"}} ",
            node.port
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&key).map(|v| v.trim().parse().unwrap()))
            .unwrap_or_else(|| panic!("no {key} in /metrics"))
    };
    let mut conns = Vec::new();
    while conns.len() < 8 || (0..2).any(|c| open(node, c) < 2) {
        assert!(conns.len() < 256, "connections never reached both cores");
        let mut c = KeepAlive::new(node.port);
        assert_eq!(c.request("GET", "/v1/health", &[], b"").status, 200);
        conns.push(c);
    }
    conns
}

/// Starts a node on a fresh loop filesystem, PUTs `OBJS` objects and GETs each through every
/// connection (so every core caches them open). `None` where loop mounts are impossible.
fn filled(tag: &str) -> Option<(Node, Vec<KeepAlive>, u64, LoopFs)> {
    let fs = LoopFs::new(tag, 64)?;
    let mp = fs.mnt.join("mp");
    std::fs::create_dir_all(&mp).unwrap();
    let node = Node::start_on(tempdir(tag), vec![mp], free_port());
    node.create_bucket("b");
    let empty = fs.avail();
    for i in 0..OBJS {
        let r = node.put("b", &format!("o{i}"), &bytes(i as u64, OBJ_BYTES));
        assert_eq!(r.status, 200, "PUT o{i}: {}", r.text());
    }
    assert!(
        fs.avail() + (OBJS * OBJ_BYTES) as u64 <= empty + SLACK,
        "the objects take space: {} free before, {} after",
        empty,
        fs.avail()
    );
    let mut conns = conns_on_every_core(&node);
    for c in conns.iter_mut() {
        for i in 0..OBJS {
            let r = c.get("b", &format!("o{i}"));
            assert_eq!(r.status, 200);
            assert_eq!(r.body, bytes(i as u64, OBJ_BYTES), "o{i}");
        }
    }
    Some((node, conns, empty, fs))
}

fn space_back(node: &Node, fs: &LoopFs, want_free: u64, what: &str) {
    let pid = node.child.as_ref().unwrap().id();
    let r = eventually(Duration::from_secs(5), || {
        let deleted = deleted_open_files(pid, &fs.mnt);
        let free = fs.avail();
        if deleted.is_empty() && free + SLACK >= want_free {
            Ok(())
        } else {
            Err(format!(
                "{} free, want ≥ {} - slack; open deleted files: {deleted:?}",
                free, want_free
            ))
        }
    });
    if let Err(e) = r {
        panic!("{what}: space did not come back within 5 s: {e}");
    }
}

#[test]
fn delete_frees_space_while_every_core_cached_the_objects() {
    // Goal: after DELETEs of objects every core holds open, the blocks are freed and the node
    // holds no deleted file open, within seconds, without further requests for those objects.
    // Steps: 64 MiB ext4 mountpath; PUT 12 × 1 MiB; GET each through ≥ 8 keep-alive
    // connections spread over both cores; DELETE all; poll statfs and /proc/<pid>/fd.
    let Some((node, _conns, empty, fs)) = filled("space-del") else {
        return;
    };
    for i in 0..OBJS {
        assert_eq!(node.delete("b", &format!("o{i}")).status, 200);
    }
    space_back(&node, &fs, empty, "after DELETE");
    assert!(node.metric_sum("aisle_core_cache_swept_count") > 0);
}

#[test]
fn overwrite_frees_the_old_versions_space() {
    // Goal: an overwrite frees the old version's blocks on every core's cache too.
    // Steps: as above, then overwrite each object with a 1 MiB new version (its space is
    // the only one still used) and poll statfs and /proc/<pid>/fd; the new versions read back.
    let Some((node, mut conns, empty, fs)) = filled("space-over") else {
        return;
    };
    for i in 0..OBJS {
        let r = node.put("b", &format!("o{i}"), &bytes(1000 + i as u64, OBJ_BYTES));
        assert_eq!(r.status, 200);
    }
    space_back(
        &node,
        &fs,
        empty - (OBJS * OBJ_BYTES) as u64,
        "after overwrite",
    );
    for c in conns.iter_mut() {
        for i in 0..OBJS {
            assert_eq!(
                c.get("b", &format!("o{i}")).body,
                bytes(1000 + i as u64, OBJ_BYTES)
            );
        }
    }
}
