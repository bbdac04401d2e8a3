//! Object copy (`PUT ?object_to=`) and rename (`rename-obj`) over raw HTTP: data, metadata and
//! versions and custom metadata as AIS sets them, the source untouched by a copy and gone after a rename, error
//! cases refused without harm, and no core serving a stale cached object afterwards.
mod common;
use common::*;

fn copy(node: &Node, b: &str, o: &str, to: &str) -> Resp {
    node.send(
        "PUT",
        &format!("/v1/objects/{b}/{o}?provider=ais&object_to={to}&latest=false&sync=false"),
        &[],
        b"",
    )
}

fn rename(node: &Node, b: &str, o: &str, new_name: &str) -> Resp {
    let body = serde_json::json!({"action": "rename-obj", "name": new_name}).to_string();
    node.send(
        "POST",
        &format!("/v1/objects/{b}/{o}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// `Ais-Checksum-Value`, `Ais-Version` and `Content-Length` of a HEAD (asserting 200).
fn meta(node: &Node, b: &str, o: &str) -> (String, String, String) {
    let r = node.head(b, o);
    assert_eq!(r.status, 200, "HEAD {b}/{o}");
    (
        r.header("ais-checksum-value").unwrap_or("").to_string(),
        r.header("ais-version").unwrap_or("").to_string(),
        r.header("content-length").unwrap_or("").to_string(),
    )
}

fn location(node: &Node, b: &str, o: &str) -> String {
    let r = node.head(b, o);
    assert_eq!(r.status, 200, "HEAD {b}/{o}");
    r.header("ais-location").expect("Ais-Location").to_string()
}

#[test]
fn copy_writes_a_new_object_and_leaves_the_source() {
    // Goal: a copy to another bucket and within the bucket has the source's bytes, size and
    // checksum; version "1" in another bucket, the source's within the same one (AIS's
    // `_copy2fqn`); the source is unchanged. Large objects (several copy chunks) too.
    let node = Node::start(3);
    node.create_bucket("b1");
    node.create_bucket("b2");
    let data = bytes(1, 3 * 1024 * 1024 + 17);
    assert_eq!(node.put("b1", "src", b"first").status, 200);
    let r = node.req(
        "PUT",
        "/v1/objects/b1/src",
        &[("Ais-Custom-Md", "color=blue, shape=round")],
        &data,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let (src_ck, src_ver, src_len) = meta(&node, "b1", "src");
    assert_eq!(src_ver, "2", "versioning is on by default");

    let r = copy(&node, "b1", "src", "ais/@%23/b2/dir/dst");
    assert_eq!(r.status, 200, "copy: {}", r.text());
    let g = node.get("b2", "dir/dst");
    assert_eq!(g.status, 200);
    assert!(g.body == data, "copied bytes differ");
    let (ck, ver, len) = meta(&node, "b2", "dir/dst");
    assert_eq!(
        (ck.as_str(), len.as_str()),
        (src_ck.as_str(), src_len.as_str())
    );
    assert_eq!(ck, xxhash2(&data));
    assert_eq!(ver, "1", "another bucket: initial version");
    // The source's custom metadata comes along (AIS: `dst.SetCustomMD(lom.GetCustomMD())`).
    let custom = |b: &str, o: &str| {
        let r = node.head(b, o);
        let mut v: Vec<String> = r
            .headers
            .iter()
            .filter(|(k, _)| k == "ais-custom-md")
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(custom("b1", "src"), ["color=blue", "shape=round"]);
    assert_eq!(custom("b2", "dir/dst"), custom("b1", "src"));

    // Within the bucket (namespace given as empty: also the global one).
    let r = copy(&node, "b1", "src", "ais//b1/same");
    assert_eq!(r.status, 200, "copy: {}", r.text());
    assert!(node.get("b1", "same").body == data);
    let (_, ver, _) = meta(&node, "b1", "same");
    assert_eq!(ver, src_ver, "same bucket: the source's version");

    // The source is untouched.
    let g = node.get("b1", "src");
    assert_eq!(g.status, 200);
    assert!(g.body == data, "source changed by the copy");
    assert_eq!(meta(&node, "b1", "src"), (src_ck, src_ver, src_len));
    let mut names = node.list_names("b1");
    names.sort();
    assert_eq!(names, ["same", "src"]);
    assert_eq!(node.list_names("b2"), ["dir/dst"]);
    assert!(node.files_containing("%wk").is_empty(), "work files left");
}

#[test]
fn copy_over_an_existing_object_replaces_it_on_every_core() {
    // Goal: copying onto an existing name replaces it, and no core's cache keeps serving the
    // old bytes (each GET on a new connection may land on any core).
    let node = Node::start(2);
    node.create_bucket("b1");
    node.create_bucket("b2");
    assert_eq!(node.put("b1", "src", b"new content").status, 200);
    assert_eq!(node.put("b2", "dst", b"old").status, 200);
    for _ in 0..8 {
        assert_eq!(node.get("b2", "dst").body, b"old");
    }
    let r = copy(&node, "b1", "src", "ais/@%23/b2/dst");
    assert_eq!(r.status, 200, "copy: {}", r.text());
    for _ in 0..8 {
        let g = node.get("b2", "dst");
        assert_eq!(g.status, 200);
        assert_eq!(g.body, b"new content", "stale object served after a copy");
    }
    // Copying again onto identical content changes nothing, and is no error.
    let before = meta(&node, "b2", "dst");
    assert_eq!(copy(&node, "b1", "src", "ais/@%23/b2/dst").status, 200);
    assert_eq!(meta(&node, "b2", "dst"), before);
    // Onto itself: nothing to do.
    assert_eq!(copy(&node, "b1", "src", "ais/@%23/b1/src").status, 200);
    assert_eq!(node.get("b1", "src").body, b"new content");
}

#[test]
fn copy_errors_are_refused_and_harm_nothing() {
    // Goal: destination bucket missing → 404 with AIS's message; source missing → 404; a bad
    // destination spec → 400; the source object is never changed by any of them.
    let node = Node::start(2);
    node.create_bucket("b1");
    let data = bytes(7, 5000);
    assert_eq!(node.put("b1", "src", &data).status, 200);
    let before = meta(&node, "b1", "src");

    let r = copy(&node, "b1", "src", "ais/@%23/nope/dst");
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(
        r.error_message().as_deref(),
        Some("bucket \"ais://nope\" does not exist")
    );

    let r = copy(&node, "b1", "missing", "ais/@%23/b1/dst");
    assert_eq!(r.status, 404, "{}", r.text());

    for bad in [
        "b1%2Fdst",              // not a uname
        "ais/@%23/b1",           // no object name
        "ais/@%23/b1/",          // empty object name
        "aws/@%23/b1/dst",       // a provider this node does not have
        "ais/@uuid%23ns/b1/dst", // another namespace
        "ais/@%23/bad%20name/dst",
        "ais/@%23/b1/a/../x",
    ] {
        let r = copy(&node, "b1", "src", bad);
        assert_eq!(r.status, 400, "object_to={bad}: {}", r.text());
        assert!(
            r.error_message().is_some(),
            "no AIS error body: {}",
            r.text()
        );
    }

    let g = node.get("b1", "src");
    assert_eq!(g.status, 200);
    assert!(g.body == data, "source changed by a failed copy");
    assert_eq!(meta(&node, "b1", "src"), before);
    assert_eq!(node.list_names("b1"), ["src"]);
    assert!(node.files_containing("%wk").is_empty(), "work files left");
}

#[test]
fn rename_moves_the_object_within_the_bucket() {
    // Goal: after a rename the new name has the bytes and metadata (version kept), the old name
    // is gone (404, also from every core's cache); names on the same mountpath and on another
    // one (copy + delete) both work, and so does a rename into a new virtual directory.
    let node = Node::start(4);
    node.create_bucket("b");
    let mut same_mp = 0;
    let mut other_mp = 0;
    for i in 0..24 {
        let (src, dst) = (format!("obj{i}"), format!("dir{i}/sub/renamed{i}"));
        let data = bytes(100 + i, 1000 + i as usize * 131);
        assert_eq!(node.put("b", &src, &data).status, 200);
        assert_eq!(node.put("b", &src, &data).status, 200); // version 2
        for _ in 0..4 {
            assert_eq!(node.get("b", &src).status, 200); // fill caches
        }
        let (ck, ver, len) = meta(&node, "b", &src);
        let loc = location(&node, "b", &src);
        let r = rename(&node, "b", &src, &dst);
        assert_eq!(r.status, 200, "rename {src}: {}", r.text());
        for _ in 0..4 {
            assert_eq!(node.get("b", &src).status, 404, "old name still served");
        }
        let g = node.get("b", &dst);
        assert_eq!(g.status, 200);
        assert!(g.body == data, "renamed bytes differ");
        assert_eq!(meta(&node, "b", &dst), (ck, ver.clone(), len));
        assert_eq!(ver, "2");
        if location(&node, "b", &dst) == loc {
            same_mp += 1;
        } else {
            other_mp += 1;
        }
    }
    assert!(
        same_mp > 0 && other_mp > 0,
        "both paths: {same_mp} same, {other_mp} other"
    );
    let names = node.list_names("b");
    assert_eq!(names.len(), 24);
    assert!(names.iter().all(|n| n.starts_with("dir")), "{names:?}");
    assert!(node.files_containing("%wk").is_empty(), "work files left");
}

#[test]
fn rename_onto_an_existing_name_replaces_it() {
    // Goal: as AIS (copy, then remove the source): an existing destination is overwritten.
    let node = Node::start(2);
    node.create_bucket("b");
    assert_eq!(node.put("b", "a", b"aaa").status, 200);
    assert_eq!(node.put("b", "z", b"zzz").status, 200);
    assert_eq!(node.get("b", "z").body, b"zzz");
    assert_eq!(rename(&node, "b", "a", "z").status, 200);
    assert_eq!(node.get("b", "z").body, b"aaa");
    assert_eq!(node.get("b", "a").status, 404);
    assert_eq!(node.list_names("b"), ["z"]);
}

#[test]
fn rename_errors_are_refused_and_harm_nothing() {
    // Goal: missing source → 404; to itself → 400; empty or invalid new name → 400; a name
    // taken by a virtual directory → 409; the source stays as it was in every case. One
    // mountpath, so that "d" and "d/x" meet on it.
    let node = Node::start(1);
    node.create_bucket("b");
    assert_eq!(node.put("b", "src", b"payload").status, 200);
    assert_eq!(node.put("b", "d/x", b"in a dir").status, 200);
    let before = meta(&node, "b", "src");

    let r = rename(&node, "b", "missing", "new");
    assert_eq!(r.status, 404, "{}", r.text());
    let r = rename(&node, "b", "src", "src");
    assert_eq!(r.status, 400, "{}", r.text());
    for bad in ["", "../x", "a//b", "/abs"] {
        let r = rename(&node, "b", "src", bad);
        assert_eq!(r.status, 400, "name {bad:?}: {}", r.text());
        assert!(r.error_message().is_some());
    }
    let r = rename(&node, "b", "src", "d");
    assert_eq!(r.status, 409, "{}", r.text());
    let r = rename(&node, "nope", "src", "x");
    assert_eq!(r.status, 404, "{}", r.text());

    assert_eq!(node.get("b", "src").body, b"payload");
    assert_eq!(meta(&node, "b", "src"), before);
    assert_eq!(node.get("b", "d/x").body, b"in a dir");
    let mut names = node.list_names("b");
    names.sort();
    assert_eq!(names, ["d/x", "src"]);
}
