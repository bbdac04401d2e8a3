//! HTTP protocol behaviour and bad input against a real node process: names, buckets, action
//! messages, request framing (truncation, chunked, oversized heads, 100-continue), ranges,
//! keep-alive and pipelining, HEAD v2, client checksums, versions, easy URLs, name conflicts.
//!
//! Every refused request must get a clear status and AIS's JSON error (`message`; for HEAD the
//! JSON is in `Hdr-Error`), and must change nothing on disk: `Node::snapshot` before and
//! `Node::wait_snapshot` after cover new objects, stray work files and anything created
//! outside the mountpaths within the node's directory; an escape marker is also looked for
//! outside it.
mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::path::PathBuf;

use common::*;
use md5::Digest as _;

/// Request headers in a table of cases.
type Headers<'a> = &'a [(&'a str, &'a str)];

/// Asserts that `r` is an AIS error with `status` and a non-empty message; returns the message.
fn assert_error(r: &Resp, status: u16, what: &str) -> String {
    assert_eq!(
        r.status,
        status,
        "{what}: status; headers {:?}; body {}",
        r.headers,
        r.text()
    );
    let m = r.error_message().unwrap_or_else(|| {
        panic!(
            "{what}: no AIS JSON error message; headers {:?}; body {:?}",
            r.headers,
            r.text()
        )
    });
    assert!(!m.is_empty(), "{what}: empty error message");
    m
}

/// A file name that a path-traversal bug would create outside the mountpaths.
fn escape_marker() -> String {
    format!("aisle-escape-marker-{}", std::process::id())
}

/// Asserts the escape marker exists in none of the places a traversal could reach.
fn assert_no_escape(node: &Node) {
    let m = escape_marker();
    let mut places: Vec<PathBuf> = vec![std::env::temp_dir(), PathBuf::from("/"), node.dir.clone()];
    if let Some(p) = node.dir.parent() {
        places.push(p.to_path_buf());
    }
    for mp in &node.mountpaths {
        places.push(mp.clone());
        places.push(mp.join("@ais"));
    }
    for dir in places {
        let p = dir.join(&m);
        assert!(!p.exists(), "a traversal created {}", p.display());
    }
}

/// Lowercase hex of a digest.
fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bucket names in `GET /v1/buckets` (JSON), asserting 200.
fn bucket_names(node: &Node) -> Vec<String> {
    let r = node.send(
        "GET",
        "/v1/buckets",
        &[("Content-Type", "application/json")],
        br#"{"action":"list"}"#,
    );
    assert_eq!(r.status, 200, "list buckets: {}", r.text());
    let mut names: Vec<String> = r
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|b| b["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    names
}

/// Polls `cond` for up to ~2 s; panics with `why()` if it never holds.
fn wait_for(cond: impl Fn() -> bool, why: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "{}", why());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// PUT of `data` as `b/o` (see `Node::send`).
fn put(node: &Node, b: &str, o: &str, data: &[u8]) -> Resp {
    node.send("PUT", &format!("/v1/objects/{b}/{o}"), &[], data)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn bad_object_names_are_refused_and_change_nothing() {
    // Goal: malformed and escaping object names (dot components, leading/trailing '/', empty
    // components, control bytes, encoded traversal, bad percent-encoding, over 4096 bytes) get
    // 400 with an AIS JSON error on PUT, GET, HEAD and DELETE, and change nothing.
    // Steps: bucket b holds objects "b" and "x"; snapshot; send every bad raw path with every
    // method; then the snapshot, the listing and both objects' bytes are as before, and the
    // escape marker exists nowhere.
    let node = Node::start(2);
    node.create_bucket("b");
    assert_eq!(put(&node, "b", "b", b"orig-b").status, 200);
    assert_eq!(put(&node, "b", "x", b"orig-x").status, 200);
    let before = node.snapshot();
    let m = escape_marker();
    let deep_dots = "%2E%2E/".repeat(12);
    let deep_raw = "..%2f".repeat(12);
    let bad: Vec<String> = vec![
        // dot components
        "a/../b".into(),
        "./x".into(),
        "x/.".into(),
        ".".into(),
        "..".into(),
        "a/./b".into(),
        "a/..".into(),
        // leading '/' (path /v1/objects/b//x), empty name
        "/x".into(),
        "/".into(),
        "".into(),
        // control bytes
        "a%00b".into(),
        "a%01b".into(),
        "a%7fb".into(),
        "a%7Fb".into(),
        "%0a".into(),
        "a%0d%0aX-Injected:%201".into(),
        // percent-encoded traversal
        format!("%2e%2e%2f..%2f{m}"),
        format!("%2E%2E/{m}"),
        format!("%2E%2E%2F{m}"),
        format!("{deep_dots}{m}"),
        format!("{deep_raw}tmp%2f{m}"),
        format!("a/%2e%2e/%2e%2e/%2e%2e/%2e%2e/{m}"),
        format!("a%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f{m}"),
        "%2e/x".into(),
        "x/%2e".into(),
        "a%2f%2e%2e%2fb".into(),
        // invalid percent-encoding, invalid UTF-8
        "a%zz".into(),
        "a%4".into(),
        "a%".into(),
        "%ff".into(),
        "a%C3".into(),
        // trailing '/', empty component
        "x/".into(),
        "a/b/".into(),
        "x%2f".into(),
        "a//b".into(),
        "a%2f%2fb".into(),
        // AIS's reserved "~/" prefix; the node's reserved shortened-name shape
        "~/x".into(),
        "%7E/x".into(),
        format!(".x{}", "0".repeat(64)),
        // over the 4096-byte limit
        "n".repeat(4097),
        format!("{}/{}", "d".repeat(2000), "n".repeat(2200)),
    ];
    for name in &bad {
        let path = format!("/v1/objects/b/{name}");
        let short = &path[..path.len().min(80)];
        for method in ["PUT", "GET", "HEAD", "DELETE"] {
            let body: &[u8] = if method == "PUT" {
                b"must-not-be-stored"
            } else {
                b""
            };
            let r = node.send(method, &path, &[], body);
            assert_error(&r, 400, &format!("{method} {short}"));
            if method == "HEAD" {
                assert!(
                    r.header("hdr-error").is_some(),
                    "HEAD {short}: no Hdr-Error"
                );
            } else {
                assert_eq!(
                    r.header("content-type"),
                    Some("application/json"),
                    "{method} {short}"
                );
            }
        }
    }
    node.wait_snapshot(&before, "bad object names");
    assert_eq!(sorted(node.list_names("b")), ["b", "x"]);
    assert_eq!(node.get("b", "b").body, b"orig-b");
    assert_eq!(node.get("b", "x").body, b"orig-x");
    assert!(
        node.work_files("b").is_empty(),
        "work files left: {:?}",
        node.work_files("b")
    );
    assert_no_escape(&node);
}

#[test]
fn long_object_names_work_and_are_stored_shortened() {
    // Goal: names too long for the filesystem (a component over 255 bytes) are stored under
    // `%ob/.x<sha256 of the full FQN>` and work end to end, up to the 2038 bytes whose full name
    // fits the LOM; longer ones (and everything over 3072 bytes) get a clear 400; names at the
    // boundaries are stored as they are.
    // Steps: PUT each name with its own bytes; GET returns them; HEAD gives the size; the file
    // is where the layout says on exactly one mountpath; the listing shows the stored names;
    // DELETE removes each and nothing is left.
    let node = Node::start(2);
    node.create_bucket("lb");
    let components = |len: usize, part: usize| -> String {
        let mut s = format!("{}/", "c".repeat(part - 1)).repeat(len / part + 1);
        s.truncate(len);
        if s.ends_with('/') {
            s.pop();
            s.push('e');
        }
        assert_eq!(s.len(), len);
        s
    };
    // (name, shortened?)
    let names: Vec<(String, bool)> = vec![
        (format!("d/{}", "b".repeat(255)), false),
        (format!("dir/{}", "L".repeat(300)), true),
        ("s".repeat(300), true),
        (components(3072, 100), false),
        // The longest shortened name: its full name must fit the LOM's custom metadata.
        (format!("d/{}", "m".repeat(2036)), true),
    ];
    // Names that must be shortened but do not fit: refused up front with 400, nothing stored.
    let before = node.snapshot();
    for name in [
        components(3500, 20),
        "n".repeat(4096),
        format!("d/{}", "m".repeat(2037)),
    ] {
        let r = put(&node, "lb", &name, b"too long");
        assert_error(&r, 400, &format!("PUT of a {}-byte name", name.len()));
        let msg = r.error_message().unwrap_or_default();
        assert!(msg.contains("name too long"), "{msg}");
    }
    node.wait_snapshot(&before, "refused long names");
    let mut want_listed = Vec::new();
    // Every name is tried; failures are collected and reported together at the end.
    let mut failed = Vec::new();
    let mut stored = Vec::new();
    for (i, (name, shortened)) in names.iter().enumerate() {
        let data = bytes(100 + i as u64, 1000 + i * 777);
        let r = put(&node, "lb", name, &data);
        if r.status != 200 {
            let msg = r.error_message().unwrap_or_default();
            failed.push(format!(
                "PUT of a {}-byte name: {} {}",
                name.len(),
                r.status,
                &msg[msg.len().saturating_sub(90)..]
            ));
            continue;
        }
        stored.push(name);
        let g = node.get("lb", name);
        assert_eq!(g.status, 200, "GET {} bytes: {}", name.len(), g.text());
        assert!(g.body == data, "GET {} bytes: different bytes", name.len());
        let h = node.head("lb", name);
        assert_eq!(h.status, 200, "HEAD {} bytes", name.len());
        assert_eq!(
            h.header("content-length"),
            Some(data.len().to_string().as_str())
        );
        // Where the file is: `%ob/<name>` or `%ob/.x<sha256(fqn)>`, on one mountpath.
        let mut found = Vec::new();
        for mp in &node.mountpaths {
            let obj_dir = mp.join("@ais").join("lb").join("%ob");
            let full = format!("{}/{}", obj_dir.display(), name);
            let stored = if *shortened {
                format!(".x{}", hex(&sha2::Sha256::digest(full.as_bytes())))
            } else {
                name.clone()
            };
            if obj_dir.join(&stored).is_file() {
                found.push(stored);
            }
        }
        assert_eq!(
            found.len(),
            1,
            "name of {} bytes (shortened: {shortened}) found as {found:?}",
            name.len()
        );
        want_listed.push(found.pop().unwrap());
    }
    assert_eq!(sorted(node.list_names("lb")), sorted(want_listed));
    for name in stored {
        assert_eq!(
            node.delete("lb", name).status,
            200,
            "DELETE {} bytes",
            name.len()
        );
        let g = node.get("lb", name);
        assert_error(&g, 404, "GET after DELETE");
    }
    assert!(node.list_names("lb").is_empty());
    // No object or work file is left (empty virtual directories may stay, as in AIS).
    wait_for(
        || node.files_containing("%ob").is_empty() && node.work_files("lb").is_empty(),
        || {
            format!(
                "files left: {:?} {:?}",
                node.files_containing("%ob"),
                node.work_files("lb")
            )
        },
    );
    assert!(
        failed.is_empty(),
        "long names within the limit failed:\n{}",
        failed.join("\n")
    );
}

#[test]
fn bad_bucket_names_are_refused() {
    // Goal: bucket names outside AIS's rules get 400 on create (and on object and bucket
    // requests naming them), no bucket appears and nothing changes on disk; a 64-byte name,
    // the limit, is fine.
    // Steps: snapshot; POST create-bck, HEAD bucket and PUT object for each bad name; check
    // statuses, messages, the bucket list and the snapshot; then create the 64-byte name.
    let node = Node::start(2);
    let before = node.snapshot();
    let m = escape_marker();
    let bad: Vec<String> = vec![
        "a..b".into(),
        ".hidden".into(),
        "bad%2Fname".into(),
        "a".repeat(65),
        "sp%20ace".into(),
        "..".into(),
        "%2e%2e".into(),
        format!("..%2f..%2f{m}"),
        "caf%C3%A9".into(),
        "a%00b".into(),
        "a%zz".into(),
        "a+b".into(),
    ];
    for b in &bad {
        let r = node.send(
            "POST",
            &format!("/v1/buckets/{b}"),
            &[("Content-Type", "application/json")],
            br#"{"action":"create-bck","name":"","value":null}"#,
        );
        assert_error(&r, 400, &format!("create {b}"));
        let r = node.send("HEAD", &format!("/v1/buckets/{b}"), &[], b"");
        assert_error(&r, 400, &format!("HEAD bucket {b}"));
        let r = node.send("PUT", &format!("/v1/objects/{b}/o"), &[], b"data");
        assert_error(&r, 400, &format!("PUT into {b}"));
    }
    assert!(
        bucket_names(&node).is_empty(),
        "buckets: {:?}",
        bucket_names(&node)
    );
    node.wait_snapshot(&before, "bad bucket names");
    assert_no_escape(&node);
    let max = "a".repeat(64);
    node.create_bucket(&max);
    assert_eq!(bucket_names(&node), [max]);
}

#[test]
fn unknown_bucket_is_404_naming_it() {
    // Goal: every object and bucket request on a bucket that does not exist gets 404 whose
    // message names `ais://<bucket>`, and creates nothing.
    // Steps: with bucket "real" only, send object PUT/GET/HEAD/DELETE, bucket HEAD, list
    // (with and without a body) and destroy for "nosuch"; then the snapshot is unchanged.
    let node = Node::start(2);
    node.create_bucket("real");
    let before = node.snapshot();
    let json = [("Content-Type", "application/json")];
    let cases: Vec<(&str, &str, Headers, &[u8])> = vec![
        ("PUT", "/v1/objects/nosuch/o", &[], b"data"),
        ("GET", "/v1/objects/nosuch/o", &[], b""),
        ("HEAD", "/v1/objects/nosuch/o", &[], b""),
        ("DELETE", "/v1/objects/nosuch/o", &[], b""),
        ("PUT", "/ais/nosuch/o", &[], b"data"),
        ("GET", "/ais/nosuch/o", &[], b""),
        ("HEAD", "/v1/buckets/nosuch", &[], b""),
        (
            "GET",
            "/v1/buckets/nosuch",
            &json,
            br#"{"action":"list","name":"","value":{"props":"name"}}"#,
        ),
        ("GET", "/v1/buckets/nosuch", &[], b""),
        ("GET", "/ais/nosuch", &[], b""),
        (
            "DELETE",
            "/v1/buckets/nosuch",
            &json,
            br#"{"action":"destroy-bck","name":"","value":null}"#,
        ),
    ];
    for (method, path, headers, body) in cases {
        let r = node.send(method, path, headers, body);
        let msg = assert_error(&r, 404, &format!("{method} {path}"));
        assert!(
            msg.contains("ais://nosuch"),
            "{method} {path}: message {msg:?} does not name ais://nosuch"
        );
    }
    node.wait_snapshot(&before, "unknown bucket");
    assert_eq!(bucket_names(&node), ["real"]);
}

#[test]
fn creating_an_existing_bucket_is_409() {
    // Goal: create-bck on an existing bucket gets 409 naming `ais://<bucket>` and leaves the
    // bucket and its objects as they were.
    // Steps: create b, PUT b/o; create b again; check 409 and message; b/o is still there.
    let node = Node::start(2);
    node.create_bucket("b");
    assert_eq!(put(&node, "b", "o", b"keep me").status, 200);
    let before = node.snapshot();
    let r = node.send(
        "POST",
        "/v1/buckets/b",
        &[("Content-Type", "application/json")],
        br#"{"action":"create-bck","name":"","value":null}"#,
    );
    let msg = assert_error(&r, 409, "create existing");
    assert!(
        msg.contains("ais://b"),
        "message {msg:?} does not name ais://b"
    );
    node.wait_snapshot(&before, "create existing bucket");
    assert_eq!(node.get("b", "o").body, b"keep me");
    assert_eq!(bucket_names(&node), ["b"]);
}

#[test]
fn bad_action_messages_and_paths() {
    // Goal: unknown, missing and malformed action messages, unsupported providers, unknown
    // paths and unsupported methods get clear errors (400, 404, 405) and change nothing; POST
    // and PATCH on an object are action messages, so an unknown action there is 400.
    // Steps: bucket b with object o; snapshot; send each case; check status and message; then
    // the snapshot, bucket list, listing and o's bytes are unchanged.
    let node = Node::start(2);
    node.create_bucket("b");
    assert_eq!(put(&node, "b", "o", b"original").status, 200);
    let before = node.snapshot();
    let json = [("Content-Type", "application/json")];
    let none: [(&str, &str); 0] = [];
    let cases: Vec<(u16, &str, &str, Headers, &[u8])> = vec![
        (
            400,
            "POST",
            "/v1/buckets/b",
            &json,
            br#"{"action":"frobnicate"}"#,
        ),
        (400, "POST", "/v1/buckets/b", &json, br#"{"action":"#),
        (400, "POST", "/v1/buckets/b", &json, b"not json at all"),
        (400, "POST", "/v1/buckets/b", &json, br#"{"name":"x"}"#),
        (400, "POST", "/v1/buckets/b", &json, br#"{"action":null}"#),
        (400, "POST", "/v1/buckets/b", &json, br#"{"action":5}"#),
        (400, "POST", "/v1/buckets/b", &json, b"[1,2]"),
        (400, "POST", "/v1/buckets/b", &json, b""),
        (
            400,
            "DELETE",
            "/v1/buckets/b",
            &json,
            br#"{"action":"frobnicate"}"#,
        ),
        (400, "DELETE", "/v1/buckets/b", &none, b""),
        (
            400,
            "GET",
            "/v1/buckets/b",
            &json,
            br#"{"action":"frobnicate"}"#,
        ),
        (
            400,
            "PATCH",
            "/v1/buckets/b",
            &json,
            br#"{"action":"frobnicate"}"#,
        ),
        (
            400,
            "POST",
            "/v1/buckets/newb",
            &json,
            br#"{"action":"frobnicate"}"#,
        ),
        (
            400,
            "POST",
            "/v1/buckets/newb?provider=aws",
            &json,
            br#"{"action":"create-bck"}"#,
        ),
        (
            400,
            "POST",
            "/v1/buckets/newb?provider=gcp",
            &json,
            br#"{"action":"create-bck"}"#,
        ),
        (400, "PUT", "/v1/objects/b/new?provider=aws", &none, b"data"),
        (400, "PUT", "/v1/objects/b/o?provider=aws", &none, b"data"),
        (400, "GET", "/v1/objects/b/o?provider=gcp", &none, b""),
        (400, "HEAD", "/v1/objects/b/o?provider=azure", &none, b""),
        (400, "DELETE", "/v1/objects/b/o?provider=aws", &none, b""),
        (
            400,
            "PATCH",
            "/v1/objects/b/o",
            &json,
            br#"{"action":"frobnicate"}"#,
        ),
        (
            400,
            "POST",
            "/v1/objects/b/o",
            &json,
            br#"{"action":"frobnicate"}"#,
        ),
        (400, "POST", "/v1/objects/b/o", &json, br#"{"action":"#),
        (400, "POST", "/v1/objects/b/o", &json, br#"{"name":"o2"}"#),
        (
            400,
            "PATCH",
            "/v1/objects/b/new",
            &json,
            br#"{"action":"frobnicate"}"#,
        ),
        (404, "GET", "/v1/nothing", &none, b""),
        (404, "PUT", "/v1/nothing", &none, b"data"),
        (404, "GET", "/", &none, b""),
        (404, "GET", "/v2/objects/b/o", &none, b""),
        (405, "OPTIONS", "/v1/objects/b/o", &none, b""),
        (405, "FROB", "/v1/objects/b/o", &none, b""),
        (
            405,
            "PUT",
            "/v1/buckets/b",
            &json,
            br#"{"action":"create-bck"}"#,
        ),
    ];
    for (status, method, path, headers, body) in cases {
        let r = node.send(method, path, headers, body);
        assert_error(
            &r,
            status,
            &format!("{method} {path} {:?}", String::from_utf8_lossy(body)),
        );
    }
    node.wait_snapshot(&before, "bad action messages");
    assert_eq!(bucket_names(&node), ["b"]);
    assert_eq!(node.list_names("b"), ["o"]);
    assert_eq!(node.get("b", "o").body, b"original");
}

fn truncated_bodies_store_nothing_with(recv: &str) {
    // Goal: a PUT whose body ends early (client closes before Content-Length bytes, or in the
    // middle of a chunked body) stores nothing, keeps the old object and leaves no work file.
    // Steps: bucket b with object "old"; snapshot; for each cut request: send head and part of
    // the body, shut down writing, wait for the node to close; then the snapshot is unchanged
    // (polled), HEAD of the new name is 404 and "old" has its old bytes.
    let node = Node::start_with_args(2, &["--recv", recv]);
    node.create_bucket("b");
    let old = bytes(1, 5000);
    assert_eq!(put(&node, "b", "old", &old).status, 200);
    let before = node.snapshot();
    let big = bytes(2, 3 << 20);
    let cut_requests: Vec<(&str, Vec<u8>)> = vec![
        // Content-Length: more than a body buffer sent (the node has written to the work file).
        ("new", [b"PUT /v1/objects/b/new HTTP/1.1\r\nHost: h\r\nContent-Length: 4194304\r\n\r\n".as_slice(), &big].concat()),
        ("old", [b"PUT /v1/objects/b/old HTTP/1.1\r\nHost: h\r\nContent-Length: 4194304\r\n\r\n".as_slice(), &big].concat()),
        ("small", [b"PUT /v1/objects/b/small HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n".as_slice(), &big[..10]].concat()),
        ("nobody", b"PUT /v1/objects/b/nobody HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n".to_vec()),
        // Chunked: cut inside chunk data, inside a size line, and before the last chunk.
        (
            "ch1",
            [b"PUT /v1/objects/b/ch1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n".as_slice(), &big[..30000]]
                .concat(),
        ),
        ("ch2", b"PUT /v1/objects/b/ch2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1".to_vec()),
        ("ch3", b"PUT /v1/objects/b/ch3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec()),
        (
            "old",
            [b"PUT /v1/objects/b/old HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n400000\r\n".as_slice(), &big]
                .concat(),
        ),
    ];
    for (name, req) in &cut_requests {
        let mut s = connect(node.port);
        s.write_all(req).unwrap();
        if req.len() > 2 << 20 {
            // 3 MiB of body sent: the node has started writing a work file; then the cut.
            wait_for(
                || !node.work_files("b").is_empty(),
                || format!("{name}: no work file during a 3 MiB PUT"),
            );
        }
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        assert!(
            closed_by_peer(&mut s, &mut rest),
            "{name}: the node kept the connection open"
        );
        // The node may or may not answer a cut request; if it does, it must not be a success.
        if let Some((r, _)) = parse_response(&rest, false) {
            assert!(
                r.status >= 400,
                "{name}: a cut PUT was answered {}",
                r.status
            );
        }
        node.wait_snapshot(&before, &format!("cut PUT of {name}"));
    }
    for name in ["new", "small", "nobody", "ch1", "ch2", "ch3"] {
        assert_error(&node.head("b", name), 404, &format!("HEAD {name}"));
    }
    let g = node.get("b", "old");
    assert!(
        g.status == 200 && g.body == old,
        "old object changed: {}",
        g.status
    );
    assert!(node.work_files("b").is_empty());
}

#[test]
fn truncated_bodies_store_nothing() {
    truncated_bodies_store_nothing_with("single");
}

#[test]
fn truncated_bodies_store_nothing_multishot_recv() {
    truncated_bodies_store_nothing_with("multishot");
}

fn oversized_and_malformed_request_heads_with(recv: &str) {
    // Goal: the request-head limits and framing rules: a head over 16 KiB or with more than 64
    // header lines gets 431, a malformed request line 400, Content-Length with
    // Transfer-Encoding 400, a transfer coding other than chunked 501; each answer carries
    // AIS's JSON error and the connection closes; no object is stored. 64 header lines is OK.
    // Steps: bucket b; snapshot; send each raw request on its own connection; check status,
    // message and that the node closes; then the snapshot is unchanged.
    let node = Node::start_with_args(2, &["--recv", recv]);
    node.create_bucket("b");
    let before = node.snapshot();

    let big_value = format!(
        "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    let many_big: String = (0..40)
        .map(|i| format!("X-H{i}: {}\r\n", "v".repeat(500)))
        .collect();
    let many_big = format!("GET /v1/health HTTP/1.1\r\nHost: h\r\n{many_big}\r\n");
    let put_big = format!(
        "PUT /v1/objects/b/big-head HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nX-Big: {}\r\n\r\ndata",
        "a".repeat(20 * 1024)
    );
    let n_headers = |n: usize| -> String {
        let hs: String = (1..n).map(|i| format!("X-H{i}: v\r\n")).collect();
        format!("GET /v1/health HTTP/1.1\r\nHost: h\r\n{hs}\r\n")
    };
    let cases: Vec<(u16, String)> = vec![
        (431, big_value),
        (431, many_big),
        (431, put_big),
        (431, n_headers(65)),
        (431, n_headers(200)),
        (400, "GARBAGE\r\n\r\n".into()),
        (400, "NOT A REQUEST\r\n\r\n".into()),
        (400, "GET /v1/health HTTP/1.1 extra\r\nHost: h\r\n\r\n".into()),
        (400, "GET /v1/health\r\nHost: h\r\n\r\n".into()),
        (400, "GET /v1/health HTTP/2.0\r\nHost: h\r\n\r\n".into()),
        (400, "GET /v1/health FTP/1.1\r\nHost: h\r\n\r\n".into()),
        (400, "GET v1/health HTTP/1.1\r\nHost: h\r\n\r\n".into()),
        (400, "GET /v1/objects/b/a\x01b HTTP/1.1\r\nHost: h\r\n\r\n".into()),
        (400, "GET /v1/health HTTP/1.1\r\nBad Header Line\r\n\r\n".into()),
        (400, "GET /v1/health HTTP/1.1\r\nHost: h\r\nHost: h2\r\n\r\n".into()),
        (400, "PUT /v1/objects/b/both HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".into()),
        (400, "PUT /v1/objects/b/both2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello".into()),
        (400, "PUT /v1/objects/b/badlen HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\nhello".into()),
        (400, "PUT /v1/objects/b/badlen HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".into()),
        (400, "PUT /v1/objects/b/badlen HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\nhello".into()),
        (501, "PUT /v1/objects/b/gz HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nhello".into()),
        (501, "PUT /v1/objects/b/gz HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".into()),
        (501, "PUT /v1/objects/b/gz HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into()),
    ];
    for (status, raw) in &cases {
        let what = format!("{:?}", &raw[..raw.len().min(90)]);
        let (r, closed) = raw_request(node.port, raw.as_bytes(), false, true);
        assert_error(&r, *status, &what);
        assert!(
            closed,
            "{what}: the node did not close the connection after {status}"
        );
    }
    // 64 header lines in all is within the limit.
    let (r, _) = raw_request(node.port, n_headers(64).as_bytes(), false, false);
    assert_eq!(r.status, 200, "64 header lines: {}", r.text());
    node.wait_snapshot(&before, "bad request heads");
    assert!(node.list_names("b").is_empty());
}

#[test]
fn oversized_and_malformed_request_heads() {
    oversized_and_malformed_request_heads_with("single");
}

#[test]
fn oversized_and_malformed_request_heads_multishot_recv() {
    oversized_and_malformed_request_heads_with("multishot");
}

#[test]
fn range_requests() {
    // Goal: single byte ranges (closed, suffix, open, clamped) get 206 with the right bytes and
    // Content-Range; multi-range, malformed and unsatisfiable ranges and any range of an empty
    // object get 416 with `Content-Range: bytes */SIZE` and an AIS JSON error.
    // Steps: PUT a 100-byte and an empty object; GET with each Range header; check.
    let node = Node::start(2);
    node.create_bucket("b");
    let data = bytes(7, 100);
    assert_eq!(put(&node, "b", "r", &data).status, 200);
    assert_eq!(put(&node, "b", "empty", b"").status, 200);
    let get_range = |o: &str, range: &str| {
        node.send(
            "GET",
            &format!("/v1/objects/b/{o}"),
            &[("Range", range)],
            b"",
        )
    };
    for (range, start, end) in [
        ("bytes=0-9", 0usize, 9usize),
        ("bytes=-5", 95, 99),
        ("bytes=5-", 5, 99),
        ("bytes=90-1000", 90, 99),
        ("bytes=99-99", 99, 99),
        ("bytes=0-0", 0, 0),
        ("bytes=-1000", 0, 99),
        ("bytes=0-99", 0, 99),
    ] {
        let r = get_range("r", range);
        assert_eq!(r.status, 206, "{range}: {}", r.text());
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {start}-{end}/100").as_str()),
            "{range}"
        );
        assert_eq!(
            r.header("content-length"),
            Some((end - start + 1).to_string().as_str()),
            "{range}"
        );
        assert_eq!(r.header("accept-ranges"), Some("bytes"), "{range}");
        assert!(r.body == data[start..=end], "{range}: wrong bytes");
    }
    for (o, size, range) in [
        ("r", 100, "bytes=0-1,3-4"),
        ("r", 100, "bytes=0-1, 50-"),
        ("r", 100, "bytes=x-y"),
        ("r", 100, "items=0-1"),
        ("r", 100, "bytes=5-3"),
        ("r", 100, "bytes="),
        ("r", 100, "bytes=100-"),
        ("r", 100, "bytes=100-200"),
        ("r", 100, "bytes=-0"),
        ("empty", 0, "bytes=0-0"),
        ("empty", 0, "bytes=0-"),
        ("empty", 0, "bytes=-1"),
        ("empty", 0, "bytes=0-1,3-4"),
    ] {
        let r = get_range(o, range);
        assert_error(&r, 416, &format!("{o} {range}"));
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes */{size}").as_str()),
            "{o} {range}"
        );
    }
    // Without Range the empty object is a normal 200.
    let r = node.get("b", "empty");
    assert_eq!((r.status, r.body.len()), (200, 0));
}

fn keep_alive_and_pipelining_with(recv: &str) {
    // Goal: requests written back to back on one connection are answered in order with the
    // right bodies, error responses keep the connection, and `Connection: close` and HTTP/1.0
    // without keep-alive close it after the response.
    // Steps: one TcpStream: a single write of PUT (with body), GET, HEAD, GET of a missing
    // object, GET; read five responses; then a request with `Connection: close`; then a new
    // connection with an HTTP/1.0 GET.
    let node = Node::start_with_args(2, &["--recv", recv]);
    node.create_bucket("b");
    let data = bytes(3, 70_000);
    let mut batch = format!(
        "PUT /v1/objects/b/p HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        data.len()
    )
    .into_bytes();
    batch.extend_from_slice(&data);
    batch.extend_from_slice(b"GET /v1/objects/b/p HTTP/1.1\r\nHost: h\r\n\r\n");
    batch.extend_from_slice(b"HEAD /v1/objects/b/p HTTP/1.1\r\nHost: h\r\n\r\n");
    batch.extend_from_slice(b"GET /v1/objects/b/missing HTTP/1.1\r\nHost: h\r\n\r\n");
    batch.extend_from_slice(b"GET /v1/objects/b/p HTTP/1.1\r\nHost: h\r\nRange: bytes=0-3\r\n\r\n");
    let mut s = connect(node.port);
    s.write_all(&batch).unwrap();
    let mut buf = Vec::new();
    let put = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(put.status, 200, "pipelined PUT: {}", put.text());
    assert_eq!(
        put.header("ais-checksum-value"),
        Some(xxhash2(&data).as_str())
    );
    assert_ne!(put.header("connection"), Some("close"));
    let get = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(get.status, 200, "pipelined GET");
    assert!(get.body == data, "pipelined GET: wrong bytes");
    let head = read_response(&mut s, &mut buf, true).unwrap();
    assert_eq!(head.status, 200, "pipelined HEAD");
    assert_eq!(
        head.header("content-length"),
        Some(data.len().to_string().as_str())
    );
    let missing = read_response(&mut s, &mut buf, false).unwrap();
    let msg = assert_error(&missing, 404, "pipelined GET of a missing object");
    assert!(msg.contains("ais://b/missing"), "{msg}");
    let ranged = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body, &data[..4]);
    assert!(
        buf.is_empty(),
        "bytes after the fifth response: {:?}",
        String::from_utf8_lossy(&buf)
    );
    // The connection is still usable; `Connection: close` ends it after the response.
    s.write_all(b"GET /v1/objects/b/p HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let last = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(last.status, 200);
    assert!(last.body == data);
    assert_eq!(last.header("connection"), Some("close"));
    assert!(
        closed_by_peer(&mut s, &mut buf),
        "not closed after Connection: close"
    );
    assert!(buf.is_empty());

    // HTTP/1.0 without keep-alive: one response, then the node closes.
    let (r, closed) = raw_request(
        node.port,
        b"GET /v1/objects/b/p HTTP/1.0\r\n\r\n",
        false,
        true,
    );
    assert_eq!(r.status, 200);
    assert!(r.body == data);
    assert!(
        closed,
        "HTTP/1.0 request without keep-alive: connection not closed"
    );
}

#[test]
fn keep_alive_and_pipelining() {
    keep_alive_and_pipelining_with("single");
}

#[test]
fn keep_alive_and_pipelining_multishot_recv() {
    keep_alive_and_pipelining_with("multishot");
}

#[test]
fn http10_keep_alive_is_acknowledged() {
    // Goal: an HTTP/1.0 request with `Connection: keep-alive` is served on a connection that
    // stays open, and the response says `Connection: keep-alive` (an HTTP/1.0 client assumes
    // the connection closes otherwise, RFC 9112 §9.3 / RFC 2068 §19.7.1).
    // Steps: PUT an object; on one connection send two HTTP/1.0 keep-alive GETs one after the
    // other; both answered; the first says keep-alive.
    let node = Node::start(1);
    node.create_bucket("b");
    assert_eq!(put(&node, "b", "o", b"hello").status, 200);
    let mut s = connect(node.port);
    let mut buf = Vec::new();
    s.write_all(b"GET /v1/objects/b/o HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let r1 = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!((r1.status, r1.body.as_slice()), (200, b"hello".as_slice()));
    s.write_all(b"GET /v1/objects/b/o HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let r2 = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!((r2.status, r2.body.as_slice()), (200, b"hello".as_slice()));
    assert!(
        r1.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")),
        "HTTP/1.0 keep-alive response lacks `Connection: keep-alive`: {:?}",
        r1.headers
    );
}

fn chunked_put_with(recv: &str) {
    // Goal: a chunked PUT (several chunks, upper- and lowercase hex sizes, chunk extensions, a
    // trailer) stores exactly the decoded bytes and does not read past its end (a pipelined
    // GET on the same connection works); malformed chunked framing gets 400 with an AIS JSON
    // error and stores nothing.
    // Steps: raw chunked PUT + GET in one write; check both; GET again on a new connection;
    // then malformed bodies, each on its own connection; snapshot unchanged after them.
    let node = Node::start_with_args(2, &["--recv", recv]);
    node.create_bucket("b");
    let big = bytes(9, 20_000);
    let mut data = Vec::new();
    let mut body = Vec::new();
    let mut chunk = |ext: &str, size_hex: &str, part: &[u8]| {
        body.extend_from_slice(format!("{size_hex}{ext}\r\n").as_bytes());
        body.extend_from_slice(part);
        body.extend_from_slice(b"\r\n");
        data.extend_from_slice(part);
    };
    chunk(";ext=1", "5", b"hello");
    chunk(";a=b;c", "1A", b"abcdefghijklmnopqrstuvwxyz");
    chunk("", "4e20", &big);
    chunk(" ;q=\"x\"", "1", b"!");
    body.extend_from_slice(b"0;last=yes\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n");
    let mut batch =
        b"PUT /v1/objects/b/chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    batch.extend_from_slice(&body);
    batch.extend_from_slice(
        b"GET /v1/objects/b/chunked HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let mut s = connect(node.port);
    s.write_all(&batch).unwrap();
    let mut buf = Vec::new();
    let put = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(put.status, 200, "chunked PUT: {}", put.text());
    assert_eq!(
        put.header("ais-checksum-value"),
        Some(xxhash2(&data).as_str())
    );
    let get = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(get.status, 200, "GET after chunked PUT: {}", get.text());
    assert!(get.body == data, "chunked PUT stored other bytes");
    assert!(node.get("b", "chunked").body == data);

    let before = node.snapshot();
    let bad_bodies: Vec<&[u8]> = vec![
        b"zz\r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"3\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n-1\r\n\r\n",
        b"11111111111111111\r\nhello\r\n0\r\n\r\n",
        b"5;ext\x01=1\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nBad\x01Trailer: x\r\n\r\n",
    ];
    for (i, bad) in bad_bodies.iter().enumerate() {
        let mut raw = format!(
            "PUT /v1/objects/b/bad{i} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        raw.extend_from_slice(bad);
        let (r, _) = raw_request(node.port, &raw, false, true);
        assert_error(
            &r,
            400,
            &format!("malformed chunked body {:?}", String::from_utf8_lossy(bad)),
        );
    }
    node.wait_snapshot(&before, "malformed chunked bodies");
    assert_eq!(node.list_names("b"), ["chunked"]);
}

#[test]
fn chunked_put() {
    chunked_put_with("single");
}

#[test]
fn chunked_put_multishot_recv() {
    chunked_put_with("multishot");
}

/// Reads from `s` up to and including the first blank line (an interim response), without
/// sending anything: the node must answer before the body arrives.
fn read_interim(s: &mut std::net::TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 1024];
        let n = s
            .read(&mut chunk)
            .expect("no interim response before the body was sent");
        assert!(
            n > 0,
            "connection closed before an interim response; got {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    buf
}

fn expect_100_continue_with(recv: &str) {
    // Goal: with `Expect: 100-continue` the node sends `100 Continue` before the body is sent
    // and then the final 200; a request it refuses anyway (unknown bucket, bad name) gets the
    // final error at once, without 100 Continue, and the connection closes (the body never
    // comes).
    // Steps: send only the head; read `100 Continue`; send the body; read 200; GET it back.
    // Same with a chunked body. Then heads for an unknown bucket and a bad name.
    let node = Node::start_with_args(2, &["--recv", recv]);
    node.create_bucket("b");
    let data = bytes(11, 50_000);

    let mut s = connect(node.port);
    let head = format!(
        "PUT /v1/objects/b/c HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        data.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = read_interim(&mut s);
    assert_eq!(
        String::from_utf8_lossy(&buf),
        "HTTP/1.1 100 Continue\r\n\r\n"
    );
    buf.clear();
    s.write_all(&data).unwrap();
    let fin = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(fin.status, 200, "{}", fin.text());
    assert!(node.get("b", "c").body == data);

    let mut s = connect(node.port);
    s.write_all(b"PUT /v1/objects/b/c2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n").unwrap();
    let mut buf = read_interim(&mut s);
    assert_eq!(
        String::from_utf8_lossy(&buf),
        "HTTP/1.1 100 Continue\r\n\r\n",
        "chunked"
    );
    buf.clear();
    s.write_all(b"3\r\nabc\r\n0\r\n\r\n").unwrap();
    let fin = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(fin.status, 200, "{}", fin.text());
    assert_eq!(node.get("b", "c2").body, b"abc");

    let before = node.snapshot();
    for (path, status, needle) in [
        ("/v1/objects/nosuch/c", 404, "ais://nosuch"),
        ("/v1/objects/b/a%2f..%2fc", 400, "ais://b"),
    ] {
        let mut s = connect(node.port);
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let r = read_response(&mut s, &mut buf, false).unwrap();
        let msg = assert_error(
            &r,
            status,
            &format!("{path} with Expect (a 100 Continue here is wrong)"),
        );
        assert!(msg.contains(needle), "{path}: {msg}");
        assert!(
            closed_by_peer(&mut s, &mut buf),
            "{path}: connection kept open while the body was never sent"
        );
        assert!(
            buf.is_empty(),
            "{path}: more bytes after the error: {:?}",
            String::from_utf8_lossy(&buf)
        );
    }
    node.wait_snapshot(&before, "refused 100-continue requests");
}

#[test]
fn expect_100_continue() {
    expect_100_continue_with("single");
}

#[test]
fn expect_100_continue_multishot_recv() {
    expect_100_continue_with("multishot");
}

#[test]
fn head_v2_props() {
    // Goal: HEAD with `props=` returns the requested properties (and always Content-Length and
    // Ais-Present) and not the others; an unknown property gets 400 with the error in
    // `Hdr-Error`.
    // Steps: PUT; HEAD ?props=size,checksum; HEAD ?props=version; HEAD with bogus props.
    let node = Node::start(2);
    node.create_bucket("b");
    let data = bytes(5, 1234);
    assert_eq!(put(&node, "b", "o", &data).status, 200);
    let r = node.send("HEAD", "/v1/objects/b/o?props=size,checksum", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1234"));
    assert_eq!(r.header("ais-present"), Some("true"));
    assert_eq!(r.header("ais-size"), Some("1234"));
    assert_eq!(r.header("ais-checksum-type"), Some("xxhash2"));
    assert_eq!(
        r.header("ais-checksum-value"),
        Some(xxhash2(&data).as_str())
    );
    for absent in [
        "ais-version",
        "ais-atime",
        "ais-name",
        "ais-location",
        "ais-bucket-name",
    ] {
        assert!(
            r.header(absent).is_none(),
            "props=size,checksum also sent {absent}"
        );
    }
    let r = node.send("HEAD", "/v1/objects/b/o?props=version,name", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("ais-version"), Some("1"));
    assert_eq!(r.header("ais-name"), Some("o"));
    assert!(r.header("ais-checksum-value").is_none());
    for q in ["props=bogus", "props=size,bogus", "props=size%2Cnope"] {
        let r = node.send("HEAD", &format!("/v1/objects/b/o?{q}"), &[], b"");
        assert_error(&r, 400, q);
        assert!(r.header("hdr-error").is_some(), "{q}: no Hdr-Error");
    }
    // Unknown props on a missing object are still 400 (the request is bad whatever exists).
    let r = node.send("HEAD", "/v1/objects/b/missing?props=bogus", &[], b"");
    assert_error(&r, 400, "bogus props, missing object");
}

fn client_checksums_with(recv: &str) {
    // Goal: a client checksum (`Ais-Checksum-Type` + `-Value`) of type xxhash2, xxhash, md5 or
    // sha256 is verified: a match stores the object (with the bucket's xxhash2 checksum), a
    // mismatch gets 400 "BAD DATA CHECKSUM" and leaves the old object as it was; an unknown
    // type gets 400.
    // Steps: good PUTs of each type; snapshot; bad PUTs over the same names and of new names;
    // snapshot unchanged; GETs return the first bytes with version 1.
    let node = Node::start_with_args(2, &["--recv", recv]);
    node.create_bucket("b");
    let v1 = bytes(21, 30_000);
    let v2 = bytes(22, 30_000);
    let md5_of: fn(&[u8]) -> String = |d| hex(&md5::Md5::digest(d));
    let sha_of: fn(&[u8]) -> String = |d| hex(&sha2::Sha256::digest(d));
    let kinds = [
        ("xxhash2", xxhash2 as fn(&[u8]) -> String),
        ("xxhash", xxhash2),
        ("md5", md5_of),
        ("sha256", sha_of),
    ];
    let put_ck = |o: &str, data: &[u8], t: &str, v: &str| {
        node.send(
            "PUT",
            &format!("/v1/objects/b/{o}"),
            &[("Ais-Checksum-Type", t), ("Ais-Checksum-Value", v)],
            data,
        )
    };
    for (t, f) in &kinds {
        let r = put_ck(t, &v1, t, &f(&v1));
        assert_eq!(r.status, 200, "{t} correct: {}", r.text());
        assert_eq!(
            r.header("ais-checksum-type"),
            Some("xxhash2"),
            "{t}: stored checksum type"
        );
        assert_eq!(
            r.header("ais-checksum-value"),
            Some(xxhash2(&v1).as_str()),
            "{t}"
        );
    }
    let before = node.snapshot();
    for (t, f) in &kinds {
        // v2's bytes with v1's checksum: over the existing object and as a new one.
        for o in [t.to_string(), format!("new-{t}")] {
            let r = put_ck(&o, &v2, t, &f(&v1));
            let msg = assert_error(&r, 400, &format!("{t} mismatch on {o}"));
            assert!(msg.contains("BAD DATA CHECKSUM"), "{t}: message {msg:?}");
        }
    }
    for (t, v) in [("crc99", "00"), ("bogus", "abc")] {
        let r = put_ck("unknown-type", &v1, t, v);
        assert_error(&r, 400, &format!("checksum type {t}"));
    }
    node.wait_snapshot(&before, "bad client checksums");
    for (t, _) in &kinds {
        let g = node.get("b", t);
        assert_eq!(g.status, 200);
        assert!(g.body == v1, "{t}: object changed by a refused PUT");
        assert_eq!(g.header("ais-version"), Some("1"), "{t}");
        assert_error(
            &node.head("b", &format!("new-{t}")),
            404,
            "refused new object",
        );
    }
    assert_error(&node.head("b", "unknown-type"), 404, "unknown-type object");
}

#[test]
fn client_checksums() {
    client_checksums_with("single");
}

#[test]
fn client_checksums_multishot_recv() {
    client_checksums_with("multishot");
}

#[test]
fn overwrite_versions_and_delete() {
    // Goal: overwriting an object with other bytes bumps `Ais-Version` (1, then 2); DELETE
    // removes it, after which GET and HEAD are 404 naming `ais://b/o` and a second DELETE is
    // 404.
    // Steps: PUT, PUT other bytes, GET; DELETE; GET, HEAD, DELETE; the same for a nested name.
    let node = Node::start(2);
    node.create_bucket("b");
    for o in ["o", "dir/sub/o"] {
        let p1 = put(&node, "b", o, b"first");
        assert_eq!(
            (p1.status, p1.header("ais-version")),
            (200, Some("1")),
            "{o}"
        );
        let p2 = put(&node, "b", o, b"second, different");
        assert_eq!(
            (p2.status, p2.header("ais-version")),
            (200, Some("2")),
            "{o}"
        );
        let g = node.get("b", o);
        assert_eq!(g.body, b"second, different");
        assert_eq!(g.header("ais-version"), Some("2"));
        assert_eq!(node.head("b", o).header("ais-version"), Some("2"));
        assert_eq!(node.delete("b", o).status, 200, "{o}");
        let want = format!("ais://b/{o}");
        for (what, r) in [
            ("GET", node.get("b", o)),
            ("HEAD", node.head("b", o)),
            ("DELETE", node.delete("b", o)),
        ] {
            let msg = assert_error(&r, 404, &format!("{what} {o} after DELETE"));
            assert!(
                msg.contains(&want),
                "{what} {o}: message {msg:?} does not name {want}"
            );
        }
    }
    assert!(node.list_names("b").is_empty());
}

#[test]
fn easy_url() {
    // Goal: the easy URL `/ais/<bucket>/<obj>` serves PUT, GET, HEAD and DELETE like
    // `/v1/objects`, and `GET /ais/<bucket>` lists the bucket's objects as JSON.
    // Steps: PUT two objects via /ais; GET each via /ais and /v1; HEAD via /ais; list via
    // /ais/b (and /ais/b/); DELETE one via /ais.
    let node = Node::start(2);
    node.create_bucket("b");
    let data = bytes(31, 4000);
    assert_eq!(node.send("PUT", "/ais/b/dir/one", &[], &data).status, 200);
    assert_eq!(node.send("PUT", "/ais/b/two", &[], b"2").status, 200);
    let g = node.send("GET", "/ais/b/dir/one", &[], b"");
    assert_eq!(g.status, 200);
    assert!(g.body == data);
    assert!(node.get("b", "dir/one").body == data);
    assert_eq!(node.send("GET", "/ais/b/two", &[], b"").body, b"2");
    let h = node.send("HEAD", "/ais/b/dir/one", &[], b"");
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some("4000"));
    for path in ["/ais/b", "/ais/b/"] {
        let l = node.send("GET", path, &[], b"");
        assert_eq!(l.status, 200, "{path}: {}", l.text());
        assert!(
            l.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{path}"
        );
        let names: Vec<String> = l.json()["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: no entries"))
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(sorted(names), ["dir/one", "two"], "{path}");
    }
    assert_eq!(node.send("DELETE", "/ais/b/two", &[], b"").status, 200);
    assert_eq!(node.list_names("b"), ["dir/one"]);
}

#[test]
fn name_conflicts_are_409_and_change_nothing() {
    // Goal: an object name that needs an existing object as a directory (`a` then `a/b`), or
    // names an existing virtual directory (`x/y` then `x`), gets 409 and leaves the existing
    // object and everything else as it was. One mountpath, so both names share a filesystem
    // (for several mountpaths see `name_conflicts_do_not_depend_on_placement`).
    // Steps: PUT a and x/y; snapshot; PUT a/b, a/b/c, x; check 409 and messages; snapshot
    // unchanged; GET a and x/y return their bytes; HEAD a/b and x are 404; DELETE x is 404.
    let node = Node::start(1);
    node.create_bucket("b");
    assert_eq!(put(&node, "b", "a", b"file a").status, 200);
    assert_eq!(put(&node, "b", "x/y", b"file x/y").status, 200);
    let before = node.snapshot();
    for o in ["a/b", "a/b/c", "x"] {
        let r = put(&node, "b", o, b"conflicting");
        let msg = assert_error(&r, 409, &format!("PUT {o}"));
        assert!(msg.contains(&format!("ais://b/{o}")), "PUT {o}: {msg}");
    }
    node.wait_snapshot(&before, "name conflicts");
    assert_eq!(node.get("b", "a").body, b"file a");
    assert_eq!(node.get("b", "x/y").body, b"file x/y");
    assert_error(&node.head("b", "a/b"), 404, "HEAD a/b");
    assert_error(&node.head("b", "x"), 404, "HEAD x (a virtual directory)");
    assert_error(&node.get("b", "x"), 404, "GET x (a virtual directory)");
    assert_error(
        &node.delete("b", "x"),
        404,
        "DELETE x (a virtual directory)",
    );
    assert_eq!(sorted(node.list_names("b")), ["a", "x/y"]);
    assert_eq!(node.get("b", "x/y").body, b"file x/y");
}

#[test]
fn name_conflicts_across_mountpaths_never_corrupt() {
    // Goal: with several mountpaths, `p` then `p/q` (and `r/s` then `r`) either is refused with
    // 409 (both names land on one mountpath: a file is in the way there) or is accepted because
    // HRW put the two names on different disks, as AIS does; either way no object is lost or
    // changed and every accepted object reads back.
    // FIXME: whether such a pair is accepted depends on placement. Refusing it always would need
    // a look at every mountpath per PUT; S3 allows both names, so the better fix is a layout that
    // tolerates them (decide with the chunked-object/layout work).
    // Steps: 4 mountpaths; for 16 name pairs PUT the first, then the second; then GET both.
    let node = Node::start(4);
    node.create_bucket("b");
    let (mut refused, mut accepted) = (0, 0);
    let mut want = Vec::new();
    for i in 0..16 {
        for (first, second) in [
            (format!("p{i}"), format!("p{i}/q")),
            (format!("r{i}/s"), format!("r{i}")),
        ] {
            assert_eq!(
                put(&node, "b", &first, first.as_bytes()).status,
                200,
                "PUT {first}"
            );
            want.push(first.clone());
            let r = put(&node, "b", &second, second.as_bytes());
            match r.status {
                409 => refused += 1,
                200 => {
                    accepted += 1;
                    want.push(second.clone());
                }
                s => panic!("PUT {second} after {first}: unexpected {s}: {}", r.text()),
            }
        }
    }
    assert!(
        refused > 0,
        "no pair landed on one mountpath: the 409 path was not exercised"
    );
    assert!(refused + accepted == 32);
    for name in &want {
        let g = node.get("b", name);
        assert_eq!(g.status, 200, "GET {name}");
        assert_eq!(g.body, name.as_bytes(), "GET {name}: wrong contents");
    }
    assert_eq!(sorted(node.list_names("b")), sorted(want));
}

#[test]
fn nothing_escapes_the_mountpaths_via_the_bucket_path() {
    // Goal: a bucket component that decodes to a traversal (`..%2f`) in object, bucket and
    // easy-URL paths is refused with 400 and creates nothing anywhere.
    // Steps: bucket b; snapshot; PUT/GET/DELETE with traversal bucket names; check; snapshot
    // unchanged and the marker absent.
    let node = Node::start(2);
    node.create_bucket("b");
    let before = node.snapshot();
    let m = escape_marker();
    for path in [
        format!("/v1/objects/..%2f..%2f..%2f{m}/o"),
        format!("/v1/objects/%2e%2e/{m}"),
        format!("/v1/objects/b%2f..%2f..%2f{m}/o"),
        format!("/ais/..%2f..%2f{m}/o"),
        format!("/ais/%2E%2E/{m}"),
    ] {
        for method in ["PUT", "GET", "DELETE"] {
            let r = node.send(method, &path, &[], if method == "PUT" { b"x" } else { b"" });
            assert_error(&r, 400, &format!("{method} {path}"));
        }
    }
    let r = node.send(
        "POST",
        &format!("/v1/buckets/..%2f..%2f{m}"),
        &[("Content-Type", "application/json")],
        br#"{"action":"create-bck"}"#,
    );
    assert_error(&r, 400, "create traversal bucket");
    node.wait_snapshot(&before, "bucket-path traversal");
    assert_no_escape(&node);
}
