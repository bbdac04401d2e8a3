//! Appends, custom metadata and access times over raw HTTP: the error cases the SDK cannot
//! send (bad, stale, foreign and path-like append handles; bad custom metadata) and what the
//! node must report the same on every core (`Ais-Atime`).
mod common;
use common::*;

/// An AIS JSON error with `status` whose message contains `needle`.
fn assert_error(r: &Resp, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let j = r.json();
    assert_eq!(j["status"], status, "{j}");
    let msg = j["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
}

/// The `Ais-Custom-Md` values of a response, sorted.
fn custom_md(r: &Resp) -> Vec<String> {
    let mut v: Vec<String> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "ais-custom-md")
        .map(|(_, v)| v.clone())
        .collect();
    v.sort();
    v
}

fn work_files(node: &Node) -> Vec<std::path::PathBuf> {
    node.files_containing("%wk/")
}

fn append(node: &Node, obj: &str, ty: &str, handle: &str, body: &[u8]) -> Resp {
    let path = format!(
        "/v1/objects/b/{obj}?append_type={ty}&append_handle={}",
        handle.replace('|', "%7C").replace('/', "%2F")
    );
    node.req("PUT", &path, &[], body)
}

#[test]
fn append_handles_are_validated_and_bad_ones_change_nothing() {
    // Goal: append accumulates out of sight until the flush; every bad handle (garbage, a path,
    // another node's, another object's, stale, flushed), a bad append_type, a flush without a
    // handle and append_handle alone get 400 and change neither the object nor the work files.
    // Steps: PUT "orig"; start an append, check the object is still "orig"; send each bad
    // request and check the object and the one work file; flush; check the result.
    let node = Node::start(2);
    node.create_bucket("b");
    assert_eq!(node.put("b", "o", b"orig").status, 200);

    let r = append(&node, "o", "append", "", b"-one");
    assert_eq!(r.status, 200, "{}", r.text());
    let h1 = r.header("ais-append-handle").expect("handle").to_string();
    let r = append(&node, "o", "append", &h1, b"-two");
    assert_eq!(r.status, 200, "{}", r.text());
    let h2 = r.header("ais-append-handle").expect("handle").to_string();
    assert_eq!(
        node.get("b", "o").body,
        b"orig",
        "appends are invisible before the flush"
    );
    assert_eq!(work_files(&node).len(), 1, "{:?}", work_files(&node));

    let parts: Vec<&str> = h2.split('|').collect();
    assert_eq!(parts.len(), 4, "{h2}");
    let (sid, token) = (parts[0], parts[1]);
    let bad_handles = [
        "garbage".to_string(),
        format!("{sid}|/etc/passwd|xxhash2|0"),
        format!("{sid}|../../../../tmp/x|xxhash2|0"),
        format!("other-node|{token}|xxhash2|{}", parts[3]),
        format!("{sid}|{token}|md5|{}", parts[3]),
        format!("{sid}|{}|xxhash2|{}", "0".repeat(32), parts[3]),
        h1.clone(), // stale: the append moved on
    ];
    for h in &bad_handles {
        for ty in ["append", "flush"] {
            let r = append(&node, "o", ty, h, b"-bad");
            assert_error(&r, 400, "append handle");
        }
    }
    let r = append(&node, "other", "flush", &h2, b"");
    assert_error(&r, 400, "append handle");
    assert_error(&append(&node, "o", "bogus", &h2, b"x"), 400, "append_type");
    assert_error(&append(&node, "o", "flush", "", b""), 400, "append_handle");
    let r = node.req(
        "PUT",
        &format!("/v1/objects/b/o?append_handle={token}"),
        &[],
        b"x",
    );
    assert_error(&r, 400, "append_handle without append_type");
    assert_eq!(
        node.get("b", "o").body,
        b"orig",
        "bad requests changed the object"
    );
    assert_eq!(node.get("b", "other").status, 404);
    assert_eq!(work_files(&node).len(), 1, "{:?}", work_files(&node));
    assert!(node.files_containing("passwd").is_empty());

    // The session survived every bad request: the newest handle still works.
    let r = append(&node, "o", "flush", &h2, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let got = node.get("b", "o");
    assert_eq!(got.body, b"orig-one-two");
    assert_eq!(
        got.header("ais-checksum-value"),
        Some(xxhash2(b"orig-one-two").as_str())
    );
    assert!(work_files(&node).is_empty(), "{:?}", work_files(&node));
    assert_error(&append(&node, "o", "flush", &h2, b""), 400, "append handle");
}

#[test]
fn failed_flush_removes_the_work_file_and_keeps_the_object() {
    // Goal: a flush whose checksum does not match answers an error, leaves the old object and
    // no work file; a flush with the right checksum (and custom metadata) stores the object.
    let node = Node::start(1);
    node.create_bucket("b");
    assert_eq!(node.put("b", "o", b"old").status, 200);
    let r = append(&node, "o", "append", "", b"abc");
    let h = r.header("ais-append-handle").expect("handle").to_string();
    let bad = [
        ("Ais-Checksum-Type", "xxhash2"),
        ("Ais-Checksum-Value", "0000000000000000"),
    ];
    let path = format!(
        "/v1/objects/b/o?append_type=flush&append_handle={}",
        h.replace('|', "%7C")
    );
    let r = node.req("PUT", &path, &bad, b"");
    assert_error(&r, 400, "BAD DATA CHECKSUM");
    assert_eq!(node.get("b", "o").body, b"old");
    assert!(work_files(&node).is_empty(), "{:?}", work_files(&node));

    let r = append(&node, "o", "append", "", b"xyz");
    let h = r.header("ais-append-handle").expect("handle").to_string();
    let want = xxhash2(b"oldxyz");
    let good = [
        ("Ais-Checksum-Type", "xxhash2"),
        ("Ais-Checksum-Value", want.as_str()),
        ("Ais-Custom-Md", "k=v"),
    ];
    let path = format!(
        "/v1/objects/b/o?append_type=flush&append_handle={}",
        h.replace('|', "%7C")
    );
    let r = node.req("PUT", &path, &good, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let got = node.get("b", "o");
    assert_eq!(got.body, b"oldxyz");
    assert_eq!(custom_md(&got), vec!["k=v".to_string()]);
}

#[test]
fn custom_metadata_is_stored_returned_updated_and_validated() {
    // Goal: Ais-Custom-Md on PUT is stored and returned by HEAD (v1 and props=custom) and GET;
    // PATCH merges, set-new-custom replaces; the internal orig_fntl key is hidden and cannot
    // be set; bad and oversized metadata get 400 and store nothing.
    let node = Node::start(2);
    node.create_bucket("b");
    let md = [("Ais-Custom-Md", "a=1"), ("Ais-Custom-Md", "b=x=y")];
    let r = node.req("PUT", "/v1/objects/b/o", &md, b"data");
    assert_eq!(r.status, 200, "{}", r.text());
    let want = vec!["a=1".to_string(), "b=x=y".to_string()];
    assert_eq!(
        custom_md(&node.req("HEAD", "/v1/objects/b/o", &[], b"")),
        want
    );
    let r = node.req("HEAD", "/v1/objects/b/o?props=custom", &[], b"");
    assert_eq!(custom_md(&r), want);
    assert_eq!(custom_md(&node.get("b", "o")), want);

    let patch = br#"{"action":"","value":{"a":"2","c":"3"}}"#;
    assert_eq!(node.req("PATCH", "/v1/objects/b/o", &[], patch).status, 200);
    let r = node.get("b", "o");
    assert_eq!(custom_md(&r), vec!["a=2", "b=x=y", "c=3"]);
    assert_eq!(r.body, b"data");
    let patch = br#"{"action":"","value":{"z":"9"}}"#;
    let r = node.req("PATCH", "/v1/objects/b/o?set-new-custom=true", &[], patch);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(custom_md(&node.get("b", "o")), vec!["z=9"]);

    for bad in ["noequals", "=v", "orig_fntl=x"] {
        let r = node.req("PUT", "/v1/objects/b/bad", &[("Ais-Custom-Md", bad)], b"x");
        assert_error(&r, 400, "custom metadata");
    }
    let big = format!("k={}", "v".repeat(3000));
    let r = node.req(
        "PUT",
        "/v1/objects/b/bad",
        &[("Ais-Custom-Md", big.as_str())],
        b"x",
    );
    assert_error(&r, 400, "custom metadata");
    assert_eq!(
        node.get("b", "bad").status,
        404,
        "a refused PUT stored something"
    );
    for body in [
        r#"{"action":"","value":{"orig_fntl":"x"}}"#.to_string(),
        format!(r#"{{"action":"","value":{{"k":"{}"}}}}"#, "v".repeat(3000)),
        r#"{"action":"","value":{"k":1}}"#.to_string(),
        r#"{"action":"","value":"k=v"}"#.to_string(),
    ] {
        let r = node.req("PATCH", "/v1/objects/b/o", &[], body.as_bytes());
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    assert_eq!(custom_md(&node.get("b", "o")), vec!["z=9"]);
    let r = node.req(
        "PATCH",
        "/v1/objects/b/missing",
        &[],
        br#"{"value":{"a":"b"}}"#,
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // A long (shortened) name keeps its full name in orig_fntl: never shown, kept by PATCH.
    let long = "n".repeat(300);
    let r = node.req("PUT", &format!("/v1/objects/b/{long}"), &md, b"long");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(custom_md(&node.get("b", &long)), want);
    let patch = br#"{"value":{"q":"1"}}"#;
    let r = node.req(
        "PATCH",
        &format!("/v1/objects/b/{long}?set-new-custom=1"),
        &[],
        patch,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = node.get("b", &long);
    assert_eq!(
        (custom_md(&r), r.body),
        (vec!["q=1".to_string()], b"long".to_vec())
    );

    // A listing that asks for `custom` shows it as AIS does (`[k:v ...]`), internal keys hidden.
    let r = node.req(
        "GET",
        "/v1/buckets/b",
        &[("Content-Type", "application/json")],
        br#"{"action":"list","name":"","value":{"props":"name,custom"}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let entries = v["entries"].as_array().expect("entries");
    let md_of = |pred: &dyn Fn(&str) -> bool| -> Vec<String> {
        entries
            .iter()
            .filter(|e| pred(e["name"].as_str().unwrap_or_default()))
            .map(|e| e["custom-md"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(md_of(&|n| n == "o"), vec!["[z:9]"], "{v}");
    assert_eq!(md_of(&|n| n.starts_with(".x")), vec!["[q:1]"], "{v}");
}

/// The `Ais-Atime` of 16 HEADs, each on its own connection (so both cores answer some).
fn head_atimes(node: &Node, obj: &str) -> Vec<u64> {
    (0..16)
        .map(|_| {
            let r = node.req("HEAD", &format!("/v1/objects/b/{obj}"), &[], b"");
            assert_eq!(r.status, 200);
            r.header("ais-atime")
                .expect("atime")
                .parse()
                .expect("number")
        })
        .collect()
}

#[test]
fn atime_is_one_value_per_node_and_advances_on_get() {
    // Goal: every core reports the same Ais-Atime for an unchanged object, a GET advances it
    // (as AIS updates atime on reads) for every core, and HEAD v2 props=atime agrees.
    // Steps: PUT a 64 KiB object (read from the file, not the in-memory body cache); HEAD 16x
    // on new connections; GET; HEAD 16x again; compare.
    let node = Node::start(2);
    node.create_bucket("b");
    let data = bytes(7, 64 * 1024);
    assert_eq!(node.put("b", "o", &data).status, 200);
    let before = head_atimes(&node, "o");
    assert!(before.iter().all(|a| *a == before[0]), "{before:?}");
    // Let the clock pass the atime's millisecond resolution.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let g = node.get("b", "o");
    assert_eq!(g.body, data);
    let at_get: u64 = g
        .header("ais-atime")
        .expect("atime")
        .parse()
        .expect("number");
    assert!(
        at_get > before[0],
        "GET did not advance atime: {at_get} <= {}",
        before[0]
    );
    let after = head_atimes(&node, "o");
    assert!(
        after.iter().all(|a| *a == at_get),
        "{after:?} vs GET {at_get}"
    );
    let r = node.req("HEAD", "/v1/objects/b/o?props=atime", &[], b"");
    assert_eq!(r.header("ais-atime"), Some(at_get.to_string().as_str()));
}

#[test]
fn s3_get_advances_atime_and_s3_head_does_not() {
    // Goal: a GET through the S3 front end is an access like a native GET (AIS's S3 GET updates
    // atime too), seen by every core; an S3 HEAD is not.
    // Steps: PUT natively; HEAD 16x; S3 HEAD; HEAD 16x (unchanged); S3 GET; HEAD 16x (advanced).
    let node = Node::start(2);
    node.create_bucket("b");
    let data = bytes(11, 64 * 1024);
    assert_eq!(node.put("b", "o", &data).status, 200);
    let before = head_atimes(&node, "o");
    assert!(before.iter().all(|a| *a == before[0]), "{before:?}");
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(node.req("HEAD", "/s3/b/o", &[], b"").status, 200);
    assert_eq!(head_atimes(&node, "o"), before, "an S3 HEAD moved atime");
    let g = node.req("GET", "/s3/b/o", &[], b"");
    assert_eq!(g.status, 200);
    assert_eq!(g.body, data);
    let after = head_atimes(&node, "o");
    assert!(
        after[0] > before[0],
        "S3 GET did not advance atime: {after:?} vs {before:?}"
    );
    assert!(after.iter().all(|a| *a == after[0]), "{after:?}");
}

#[test]
fn open_appends_are_bounded_and_unflushed_ones_vanish_at_restart() {
    // Goal: a node keeps at most APPENDS_OPEN_MAX (1024) append sessions (the next start gets
    // 503, and a flush makes room); appends never flushed leave no work file after a restart
    // (the startup tidy removes work files of dead processes) and never became objects.
    // Steps: start 1024 appends; the 1025th gets 503; flush one, start one more; kill the
    // node; restart it on the same mountpaths; count work files and check the objects.
    let mut node = Node::start(2);
    node.create_bucket("b");
    let mut handles = Vec::new();
    for i in 0..1024 {
        let r = append(&node, &format!("s/{i}"), "append", "", b"x");
        assert_eq!(r.status, 200, "append {i}: {}", r.text());
        handles.push(r.header("ais-append-handle").expect("handle").to_string());
    }
    assert_error(
        &append(&node, "s/extra", "append", "", b"x"),
        503,
        "too many appends",
    );
    assert_eq!(append(&node, "s/0", "flush", &handles[0], b"").status, 200);
    assert_eq!(append(&node, "s/extra", "append", "", b"x").status, 200);
    assert_eq!(work_files(&node).len(), 1024);

    node.kill();
    let node2 = Node::start_on(node.dir.clone(), node.mountpaths.clone(), free_port());
    assert!(work_files(&node2).is_empty(), "{:?}", work_files(&node2));
    assert_eq!(node2.get("b", "s/0").body, b"x");
    assert_eq!(node2.get("b", "s/1").status, 404);
    assert_eq!(node2.get("b", "s/extra").status, 404);
    let r = append(&node2, "s/1", "flush", &handles[1], b"");
    assert_error(&r, 400, "append handle");
}
