//! A panic while serving one request closes that connection only: it is logged and counted
//! (`aisle_core_panic_count`), leaves nothing held (the same object can be written and read
//! at once, no work file remains), and the core and the node keep serving. The panic is
//! injected with the test-only trigger: `AISLE_TEST_PANIC=1` in the node's environment at
//! start-up AND a request header `X-Aisle-Test-Panic: <point>`.
mod common;
use common::*;
use std::io::{Read, Write};
use std::time::Duration;

/// Sends one request (`Connection: close`) with a panic header on a fresh connection; returns
/// what came back before the node closed it (asserted closed, not timed out).
fn panicking_request(node: &Node, method: &str, path: &str, point: &str, body: &[u8]) -> Vec<u8> {
    let mut s = connect(node.port);
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Aisle-Test-Panic: {point}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut all = head.into_bytes();
    all.extend_from_slice(body);
    s.write_all(&all).unwrap();
    let mut got = Vec::new();
    let r = s.read_to_end(&mut got);
    assert!(
        r.is_ok()
            || r.as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "{method} {path}: the node did not close the connection: {r:?}"
    );
    got
}

#[test]
fn a_panicking_request_closes_only_its_connection() {
    // Goal: isolation of a panic to its connection. Steps: (1) a node without the opt-in
    // ignores the header; (2) a node with it: a panic at the start of a request, and one in
    // a PUT after its body was received (work file open); each closes the connection with no
    // response, is counted and logged; other connections (both cores) keep working, the
    // object keeps its old content, a new PUT of it succeeds, no work file stays.
    let plain = Node::start(1);
    plain.create_bucket("b");
    let got = panicking_request(&plain, "GET", "/v1/health", "handle", b"");
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(plain.metric_sum("aisle_core_panic_count"), 0);
    drop(plain);

    // The child inherits the environment; this test file has only this test.
    std::env::set_var("AISLE_TEST_PANIC", "1");
    let node = Node::start(1);
    std::env::remove_var("AISLE_TEST_PANIC");
    node.create_bucket("b");
    let v1 = bytes(1, 100 * 1024);
    assert_eq!(node.put("b", "o", &v1).status, 200);
    let mut bystander = KeepAlive::new(node.port);
    assert_eq!(bystander.get("b", "o").body, v1);

    let got = panicking_request(&node, "GET", "/v1/health", "handle", b"");
    assert!(
        got.is_empty(),
        "no response after a panic: {}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(node.metric_sum("aisle_core_panic_count"), 1);

    let v2 = bytes(2, 600 * 1024);
    let got = panicking_request(&node, "PUT", "/v1/objects/b/o", "put-received", &v2);
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert_eq!(node.metric_sum("aisle_core_panic_count"), 2);
    // The dropped PUT removes its work file in the background (as any failed PUT does).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !node.work_files("b").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "work file left by the panicked PUT: {:?}",
            node.work_files("b")
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The bystander's connection and core go on; the object is unchanged; nothing is held.
    assert_eq!(bystander.get("b", "o").body, v1);
    assert_eq!(
        bystander.connects, 1,
        "the bystander's connection was not closed"
    );
    for i in 0..16 {
        assert_eq!(
            node.req("GET", "/v1/health", &[], b"").status,
            200,
            "conn {i}"
        );
    }
    assert_eq!(node.put("b", "o", &v2).status, 200);
    assert_eq!(node.get("b", "o").body, v2);
    let log = std::fs::read_to_string(&node.log).unwrap();
    assert_eq!(
        log.matches("panic while serving a connection").count(),
        2,
        "log:\n{log}"
    );
}
