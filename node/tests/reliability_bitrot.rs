//! Bit rot: with the bucket prop `checksum.validate_warm_get`, a GET verifies the object's
//! content against its LOM checksum before sending any of it; a flipped byte in the object
//! file or a damaged LOM xattr is answered with 500 ("BAD DATA CHECKSUM" / corrupt metadata),
//! never with the bad bytes, and counted in `ais_target_err_cksum_count`.
mod common;
use common::*;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

fn set_validate(node: &Node, b: &str, on: bool) {
    let body =
        format!(r#"{{"action":"set-bprops","value":{{"checksum":{{"validate_warm_get":{on}}}}}}}"#);
    let r = node.req(
        "PATCH",
        &format!("/v1/buckets/{b}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "set-bprops: {}", r.text());
    let h = node.req("HEAD", &format!("/v1/buckets/{b}"), &[], b"");
    let props: serde_json::Value =
        serde_json::from_str(h.header("ais-bucket-props").expect("Ais-Bucket-Props")).unwrap();
    assert_eq!(props["checksum"]["validate_warm_get"], on, "{props}");
}

/// The node-wide sample of `ais_target_err_cksum_count`.
fn cksum_errors(node: &Node) -> u64 {
    let text = node.req("GET", "/metrics", &[], b"").text();
    let key = format!(
        "ais_target_err_cksum_count{{node_id=\"aisle{}\"}} ",
        node.port
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&key).map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no {key} in /metrics:\n{text}"))
}

fn obj_file(node: &Node, b: &str, o: &str) -> PathBuf {
    node.mountpaths[0].join("@ais").join(b).join("%ob").join(o)
}

/// Flips one byte of the object's file in place (same inode, LOM xattr untouched).
fn flip_byte(node: &Node, b: &str, o: &str, at: u64) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(obj_file(node, b, o))
        .unwrap();
    let mut one = [0u8; 1];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut one).unwrap();
    one[0] ^= 0x20;
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&one).unwrap();
    f.sync_all().unwrap();
}

/// Changes one byte inside the object's LOM xattr (through Python's os.setxattr).
fn damage_lom(node: &Node, b: &str, o: &str) {
    let p = obj_file(node, b, o);
    let script = "import os,sys\np=sys.argv[1]\nv=bytearray(os.getxattr(p,'user.ais.lom'))\nv[len(v)//2]^=0x01\nos.setxattr(p,'user.ais.lom',bytes(v))\n";
    let st = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&p)
        .status()
        .expect("python3");
    assert!(st.success(), "damaging the LOM of {p:?}");
}

fn assert_bad(r: &Resp, data: &[u8], want: &str, what: &str) {
    assert_eq!(r.status, 500, "{what}: {}", r.text());
    let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains(want), "{what}: {msg}");
    assert!(
        !r.body
            .windows(64.min(data.len()))
            .any(|w| data.starts_with(w)),
        "{what}: the response carries object bytes"
    );
}

#[test]
fn flipped_byte_is_an_error_with_validate_warm_get_and_counted() {
    // Goal: a damaged object is never served when the bucket validates warm GETs; each
    // detection is counted. Steps: bucket "v" with validate_warm_get, bucket "n" without;
    // PUT a 1 KiB object (its content cached in memory on GET) and a 200 KiB one (sent by
    // zero-copy) in each; flip a byte in every file; GET: "v" answers 500 BAD DATA CHECKSUM
    // (twice: nothing is cached as good), "n" serves the bytes as they are on disk.
    let node = Node::start(1);
    node.create_bucket("v");
    node.create_bucket("n");
    set_validate(&node, "v", true);
    let small = bytes(1, 1024);
    let large = bytes(2, 200 * 1024);
    for b in ["v", "n"] {
        assert_eq!(node.put(b, "small", &small).status, 200);
        assert_eq!(node.put(b, "large", &large).status, 200);
    }
    // Intact objects pass verification.
    assert_eq!(node.get("v", "small").body, small);
    assert_eq!(node.get("v", "large").body, large);
    let before = cksum_errors(&node);
    // Overwrite (new stamp: the verified cache entries are stale) and damage the files.
    for b in ["v", "n"] {
        assert_eq!(node.put(b, "small", &small).status, 200);
        assert_eq!(node.put(b, "large", &large).status, 200);
        flip_byte(&node, b, "small", 500);
        flip_byte(&node, b, "large", 150 * 1024);
    }
    for round in 0..2 {
        let r = node.get("v", "small");
        assert_bad(
            &r,
            &small,
            "BAD DATA CHECKSUM",
            &format!("small, round {round}"),
        );
        let r = node.get("v", "large");
        assert_bad(
            &r,
            &large,
            "BAD DATA CHECKSUM",
            &format!("large, round {round}"),
        );
    }
    assert_eq!(cksum_errors(&node), before + 4);
    // Without the option the node serves what the file holds (the zero-copy trade-off,
    // ARCHITECTURE.md): the damage shows in the bytes, not in the status.
    let r = node.get("n", "large");
    assert_eq!(r.status, 200);
    assert_ne!(r.body, large);
    assert_eq!(r.body.len(), large.len());
    // Turning the option on catches it there too.
    set_validate(&node, "n", true);
    assert_bad(
        &node.get("n", "large"),
        &large,
        "BAD DATA CHECKSUM",
        "n/large",
    );
    // A rewrite with good content is served again.
    assert_eq!(node.put("v", "large", &large).status, 200);
    assert_eq!(node.get("v", "large").body, large);
}

#[test]
fn damaged_lom_is_an_error_and_counted() {
    // Goal: a LOM xattr that fails its own checksum is never trusted: GET answers 500 and
    // counts it as a checksum error, with or without validate_warm_get.
    let node = Node::start(1);
    node.create_bucket("v");
    set_validate(&node, "v", true);
    node.create_bucket("n");
    let data = bytes(3, 100 * 1024);
    for b in ["v", "n"] {
        assert_eq!(node.put(b, "o", &data).status, 200);
        damage_lom(&node, b, "o");
    }
    let before = cksum_errors(&node);
    for b in ["v", "n"] {
        assert_bad(&node.get(b, "o"), &data, "metadata is corrupt", b);
    }
    assert_eq!(cksum_errors(&node), before + 2);
}

#[test]
fn verified_entry_is_not_rehashed_while_current_and_rechecked_after_a_change() {
    // Goal: verification is cached per cache entry (a hot GET does not rehash) and is tied
    // to the entry's generation stamp. Steps: on one keep-alive connection (one core), GET a
    // validated object (verified, cached), damage the file behind the node's back: the same
    // entry is served (documented: files changed behind the node's back are not noticed while
    // an entry is current); overwrite the object through the node (stamp moves) and damage
    // the new file: the next GET verifies again and refuses.
    let node = Node::start(1);
    node.create_bucket("v");
    set_validate(&node, "v", true);
    let data = bytes(4, 300 * 1024);
    assert_eq!(node.put("v", "hot", &data).status, 200);
    let mut c = KeepAlive::new(node.port);
    assert_eq!(c.get("v", "hot").body, data);
    let hits = node.metric_sum("aisle_core_cache_hit_count");
    assert_eq!(c.get("v", "hot").body, data);
    assert!(node.metric_sum("aisle_core_cache_hit_count") > hits);
    assert_eq!(node.put("v", "hot", &data).status, 200);
    flip_byte(&node, "v", "hot", 1);
    assert_bad(
        &c.get("v", "hot"),
        &data,
        "BAD DATA CHECKSUM",
        "after overwrite",
    );
}
