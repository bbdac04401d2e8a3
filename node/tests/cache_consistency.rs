//! Read-after-write consistency of the per-core object caches: a GET that starts after a PUT
//! or DELETE was acknowledged, on any core, sees it.
mod common;
use common::*;

/// Keep-alive connections per test at least (more are opened until both of the node's 2 cores
/// serve some, checked through the per-core counters in /metrics).
const CONNS: usize = 8;

fn metric(node: &Node, name: &str, labels: &str) -> u64 {
    let text = node.req("GET", "/metrics", &[], b"").text();
    let key = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(&key)
                .map(|v| v.trim().parse::<u64>().unwrap())
        })
        .unwrap_or_else(|| panic!("no {key} in /metrics:\n{text}"))
}

#[test]
fn get_after_put_and_delete_sees_the_change_on_every_core() {
    // Goal: caches never serve a stale object or a deleted one across cores.
    // Steps: open 8 keep-alive connections (spread over both cores); for 40 rounds: PUT a new
    // version through one connection (rotating), then GET through every connection and check
    // the bytes and version are the new ones (each GET after the first is a cache hit or a
    // refill on its core). Then DELETE through one and check every connection gets 404, and
    // a re-PUT is seen by all again.
    let node = Node::start(2);
    node.create_bucket("raw");
    // Open connections until both cores hold some: SO_REUSEPORT spreads them by a hash, so a
    // fixed handful can all land on one core.
    let mut conns: Vec<KeepAlive> = Vec::new();
    let per_core = |node: &Node| -> Vec<u64> {
        (0..2)
            .map(|core| {
                metric(
                    node,
                    "aisle_core_conns_open",
                    &format!("node_id=\"aisle{}\",core=\"{core}\"", node.port),
                )
            })
            .collect()
    };
    while conns.len() < CONNS || per_core(&node).iter().any(|&n| n < 2) {
        assert!(
            conns.len() < 256,
            "connections never reached both cores: {:?}",
            per_core(&node)
        );
        let mut c = KeepAlive::new(node.port);
        assert_eq!(c.request("GET", "/v1/health", &[], b"").status, 200);
        conns.push(c);
    }
    let mut version = 0u64;
    let hits_before = node.metric_sum("aisle_core_cache_hit_count");
    for round in 0..40u64 {
        let data = bytes(round, 1000 + (round as usize * 37) % 5000);
        let w = (round as usize) % conns.len();
        let r = conns[w].put("raw", "obj", &data);
        assert_eq!(r.status, 200, "{}", r.text());
        version += 1;
        assert_eq!(r.header("ais-version"), Some(version.to_string().as_str()));
        for (i, c) in conns.iter_mut().enumerate() {
            // Twice: the second GET is served from this core's cache.
            for _ in 0..2 {
                let g = c.get("raw", "obj");
                assert_eq!(g.status, 200, "round {round} conn {i}");
                assert!(g.body == data, "round {round} conn {i}: stale body");
                assert_eq!(
                    g.header("ais-version"),
                    Some(version.to_string().as_str()),
                    "round {round} conn {i}"
                );
            }
        }
    }
    // The caches filled and served: at least every second GET of a round was a hit (a cache
    // that never fills would pass the checks above by always opening the file).
    let hits = node.metric_sum("aisle_core_cache_hit_count") - hits_before;
    let second_gets = 40 * conns.len() as u64;
    assert!(
        hits >= second_gets,
        "{hits} cache hits, expected at least {second_gets}"
    );
    assert_eq!(
        conns[3]
            .request("DELETE", "/v1/objects/raw/obj", &[], b"")
            .status,
        200
    );
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(
            c.get("raw", "obj").status,
            404,
            "conn {i} still sees a deleted object"
        );
    }
    let data = bytes(999, 4321);
    assert_eq!(conns[5].put("raw", "obj", &data).status, 200);
    for c in conns.iter_mut() {
        assert!(c.get("raw", "obj").body == data);
    }
    // Both cores took part (otherwise the test proved nothing about crossing cores).
    for core in 0..2 {
        let gets = metric(
            &node,
            "aisle_core_get_count",
            &format!("node_id=\"aisle{}\",core=\"{core}\"", node.port),
        );
        assert!(gets > 0, "core {core} served no GET");
    }
}

#[test]
fn destroyed_and_recreated_bucket_never_serves_cached_objects() {
    // Goal: a cached object of a destroyed bucket is never served after the bucket is recreated.
    // Steps: PUT, GET twice on 4 connections (cached), destroy, recreate, GET → 404 everywhere.
    let node = Node::start(2);
    node.create_bucket("gone");
    let mut conns: Vec<KeepAlive> = (0..4).map(|_| KeepAlive::new(node.port)).collect();
    assert_eq!(conns[0].put("gone", "x", b"old contents").status, 200);
    for c in conns.iter_mut() {
        assert_eq!(c.get("gone", "x").status, 200);
        assert_eq!(c.get("gone", "x").status, 200);
    }
    let r = node.req(
        "DELETE",
        "/v1/buckets/gone",
        &[],
        br#"{"action":"destroy-bck"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    node.create_bucket("gone");
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(
            c.get("gone", "x").status,
            404,
            "conn {i} served an object of a destroyed bucket"
        );
    }
}
