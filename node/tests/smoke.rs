//! Smoke test of the harness: a node starts, stores an object and returns the same bytes.
mod common;
use common::*;

#[test]
fn put_get_roundtrip() {
    // Goal: PUT then GET returns identical bytes and the xxhash2 checksum of the content.
    let node = Node::start(2);
    node.create_bucket("smoke");
    let data = bytes(1, 100_000);
    let r = node.put("smoke", "a/b", &data);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("ais-checksum-value"), Some(xxhash2(&data).as_str()));
    let g = node.get("smoke", "a/b");
    assert_eq!(g.status, 200);
    assert_eq!(g.body, data);
}
