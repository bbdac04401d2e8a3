//! List-objects flags over raw HTTP (JSON listing): `LsNoRecursion` with and without `LsNoDirs`
//! and with paging (cases from AIS's `ais/test/lso_test.go`), `LsNameOnly`, `LsCached`'s default
//! props, and the flags this node refuses (`LsArchDir`, `LsNBI`, unknown bits → 501;
//! `LsNotCached`, `LsDiff` → 400 as AIS answers for an `ais://` bucket).
mod common;
use common::*;

use std::collections::BTreeSet;

const NO_RECURSION: u64 = 1 << 11;
const NO_DIRS: u64 = 1 << 13;
const NAME_ONLY: u64 = 1 << 4;
const ENTRY_IS_DIR: u64 = 1 << 8;
const ENTRY_IS_CACHED: u64 = 1 << 6;

fn list_raw(node: &Node, b: &str, value: serde_json::Value) -> Resp {
    let body = serde_json::json!({"action": "list", "name": "", "value": value}).to_string();
    node.send(
        "GET",
        &format!("/v1/buckets/{b}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// One page: (entries as JSON, continuation token).
fn page(node: &Node, b: &str, value: serde_json::Value) -> (Vec<serde_json::Value>, String) {
    let r = list_raw(node, b, value.clone());
    assert_eq!(r.status, 200, "list {value}: {}", r.text());
    let v = r.json();
    (
        v["entries"].as_array().cloned().unwrap_or_default(),
        v["continuation_token"].as_str().unwrap_or("").to_string(),
    )
}

/// Every page of a listing with `flags` (as the SDK sends them: a decimal string).
fn all(node: &Node, b: &str, prefix: &str, flags: u64, page_size: u64) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let (entries, next) = page(
            node,
            b,
            serde_json::json!({"prefix": prefix, "flags": flags.to_string(),
                               "pagesize": page_size, "continuation_token": token}),
        );
        out.extend(entries);
        if next.is_empty() {
            return out;
        }
        assert!(next > token, "continuation token did not advance: {next:?}");
        token = next;
    }
}

fn names(entries: &[serde_json::Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

/// Checks AIS's invariants of a non-recursive listing: names sorted and unique, a directory
/// entry (and only it) ends with `/` and carries `EntryIsDir`, every name has the prefix.
fn check_invariants(entries: &[serde_json::Value], prefix: &str) {
    let ns = names(entries);
    for w in ns.windows(2) {
        assert!(w[0] < w[1], "not sorted/unique: {:?} then {:?}", w[0], w[1]);
    }
    for e in entries {
        let n = e["name"].as_str().unwrap();
        let f = e["flags"].as_u64().unwrap_or(0);
        assert!(n.starts_with(prefix), "{n:?} lacks prefix {prefix:?}");
        assert_eq!(n.ends_with('/'), f & ENTRY_IS_DIR != 0, "{n:?} flags {f}");
        if n.ends_with('/') {
            assert!(e.get("size").is_none(), "directory with a size: {e}");
        }
    }
}

fn put_all(node: &Node, b: &str, objs: &[&str]) {
    for (i, o) in objs.iter().enumerate() {
        let r = node.put(b, o, &bytes(i as u64, 20 + i));
        assert_eq!(r.status, 200, "PUT {o}: {}", r.text());
    }
}

#[test]
fn no_recursion_lists_one_level_with_directories() {
    // Goal: AIS's TestLsoNoRecursion and TestLsoNoRecursion_NonExistingAndPartialPrefixes:
    // immediate children plus virtual directories, per prefix; NO_DIRS changes nothing (AIS's
    // target lists directories exactly when NO_RECURSION is set, as AIS's SDK test
    // test_no_recursion_no_dirs expects); a directory present on several mountpaths is listed
    // once.
    let node = Node::start(3);
    node.create_bucket("b");
    put_all(
        &node,
        "b",
        &[
            "img001",
            "vid001",
            "img-test/obj1",
            "img-test/vid1",
            "img-test/pics/obj01",
            "img003",
            "img-test/pics/vid01",
            "alpha/file1",
            "alpha/file2",
            "alpha/beta/x1",
            "alpha/beta/x2",
            "alpha2/top",
            "alphabet/soup",
            "zeta",
        ],
    );
    let cases: &[(&str, &[&str])] = &[
        (
            "",
            &[
                "alpha/",
                "alpha2/",
                "alphabet/",
                "img-test/",
                "img001",
                "img003",
                "vid001",
                "zeta",
            ],
        ),
        (
            "img-test",
            &["img-test/obj1", "img-test/pics/", "img-test/vid1"],
        ),
        (
            "img-test/",
            &["img-test/obj1", "img-test/pics/", "img-test/vid1"],
        ),
        (
            "img-test/pics",
            &["img-test/pics/obj01", "img-test/pics/vid01"],
        ),
        (
            "img-test/pics/",
            &["img-test/pics/obj01", "img-test/pics/vid01"],
        ),
        ("img", &["img-test/", "img001", "img003"]),
        ("alp", &["alpha/", "alpha2/", "alphabet/"]),
        ("alpha/", &["alpha/beta/", "alpha/file1", "alpha/file2"]),
        ("alpha/beta/", &["alpha/beta/x1", "alpha/beta/x2"]),
        ("alpha/b", &["alpha/beta/"]),
        ("does-not-exist/", &[]),
        ("zeta/", &[]),
        ("../../", &[]),
        ("/", &[]),
    ];
    for (prefix, want) in cases {
        for ps in [0, 1, 3] {
            let got = all(&node, "b", prefix, NO_RECURSION, ps);
            check_invariants(&got, prefix);
            assert_eq!(names(&got), *want, "prefix {prefix:?} page size {ps}");
            let got = all(&node, "b", prefix, NO_RECURSION | NO_DIRS, ps);
            assert_eq!(
                names(&got),
                *want,
                "prefix {prefix:?} NO_DIRS page size {ps}"
            );
        }
    }
    // Object entries keep their props (size as a string, cached flag); directories have none.
    let top = all(&node, "b", "", NO_RECURSION, 0);
    let img001 = top.iter().find(|e| e["name"] == "img001").unwrap();
    assert_eq!(img001["size"], "20");
    assert_eq!(img001["flags"].as_u64(), Some(ENTRY_IS_CACHED));
    let dir = top.iter().find(|e| e["name"] == "img-test/").unwrap();
    assert_eq!(dir["flags"].as_u64(), Some(ENTRY_IS_DIR));
    // start_after works on the same names.
    let (entries, _) = page(
        &node,
        "b",
        serde_json::json!({"flags": NO_RECURSION.to_string(), "start_after": "img-test/"}),
    );
    assert_eq!(names(&entries), ["img001", "img003", "vid001", "zeta"]);
    // NO_DIRS alone (recursive): every object, as without it.
    let rec = names(&all(&node, "b", "", 0, 0));
    assert_eq!(rec.len(), 14);
    assert_eq!(names(&all(&node, "b", "", NO_DIRS, 0)), rec);
}

#[test]
fn no_recursion_pages_without_duplicates() {
    // Goal: AIS's TestLsoNoRecursionPagination (more subdirectories than the page size),
    // TestLsoNoRecursion_DirBoundaryVsUnderscoreCollision (page size 1) and
    // TestLsoNoRecursion_PageSizesUpTo1000 (40 dirs + 40 files, many page sizes).
    let node = Node::start(2);
    node.create_bucket("b");
    put_all(
        &node,
        "b",
        &[
            "prefix/d1/file1",
            "prefix/d2/file1",
            "prefix/d3/file1",
            "prefix/d4/file1",
            "prefix/d5/file1",
            "prefix/file1",
            "prefix/file2",
            "p/aaa/bbb/1",
            "p/aaa/bbb/2",
            "p/aaa/bbb_object_name",
            "p/aaa/bbb0",
            "p/aaa/ccc/1",
            "p/aaa/ccc_object",
        ],
    );
    let got = all(&node, "b", "prefix/", NO_RECURSION, 3);
    check_invariants(&got, "prefix/");
    assert_eq!(
        names(&got),
        [
            "prefix/d1/",
            "prefix/d2/",
            "prefix/d3/",
            "prefix/d4/",
            "prefix/d5/",
            "prefix/file1",
            "prefix/file2"
        ]
    );
    let got = all(&node, "b", "p/aaa/", NO_RECURSION, 1);
    check_invariants(&got, "p/aaa/");
    assert_eq!(
        names(&got),
        [
            "p/aaa/bbb/",
            "p/aaa/bbb0",
            "p/aaa/bbb_object_name",
            "p/aaa/ccc/",
            "p/aaa/ccc_object"
        ]
    );

    node.create_bucket("many");
    for i in 0..40 {
        for j in 0..2 {
            assert_eq!(
                node.put("many", &format!("d{i:03}/f{j:02}"), b"x").status,
                200
            );
        }
        assert_eq!(node.put("many", &format!("f{i:03}"), b"y").status, 200);
    }
    for ps in [1, 2, 3, 7, 31, 77, 79, 80, 81, 1000] {
        let got = all(&node, "many", "", NO_RECURSION, ps);
        check_invariants(&got, "");
        let dirs = got
            .iter()
            .filter(|e| e["flags"].as_u64().unwrap_or(0) & ENTRY_IS_DIR != 0)
            .count();
        assert_eq!((got.len(), dirs), (80, 40), "page size {ps}");
        let unique: BTreeSet<String> = names(&got).into_iter().collect();
        assert_eq!(unique.len(), 80, "page size {ps}: duplicates");
    }
}

#[test]
fn name_only_returns_names_without_sizes() {
    // Goal: LsNameOnly lists every name with the cached flag and no size (nor other props),
    // whatever props were asked for; recursive and not.
    let node = Node::start(2);
    node.create_bucket("b");
    put_all(&node, "b", &["a", "d/x", "d/y/z"]);
    for props in ["", "name,size", "name,size,checksum,atime,version,location"] {
        let (entries, _) = page(
            &node,
            "b",
            serde_json::json!({"props": props, "flags": NAME_ONLY.to_string()}),
        );
        assert_eq!(names(&entries), ["a", "d/x", "d/y/z"], "props {props:?}");
        for e in &entries {
            let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["flags", "name"], "props {props:?}: {e}");
            assert_eq!(e["flags"].as_u64(), Some(ENTRY_IS_CACHED));
        }
    }
    let got = all(&node, "b", "d/", NO_RECURSION | NAME_ONLY, 0);
    assert_eq!(names(&got), ["d/x", "d/y/"]);
    assert!(got.iter().all(|e| e.get("size").is_none()), "{got:?}");
    // Without the flag the sizes are there.
    let (entries, _) = page(&node, "b", serde_json::json!({"props": "name,size"}));
    assert!(
        entries.iter().all(|e| e.get("size").is_some()),
        "{entries:?}"
    );
}

#[test]
fn cached_flag_with_no_props_lists_the_default_ais_props() {
    // Goal: AIS's NormalizeNameSizeDflt: LsCached and empty props → name,size,checksum,atime.
    let node = Node::start(1);
    node.create_bucket("b");
    let data = bytes(3, 100);
    assert_eq!(node.put("b", "o", &data).status, 200);
    let (entries, _) = page(&node, "b", serde_json::json!({"flags": "1"}));
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["size"], "100");
    assert_eq!(e["checksum"].as_str(), Some(xxhash2(&data).as_str()));
    assert!(e["atime"].as_str().is_some_and(|a| !a.is_empty()), "{e}");
    // Without LsCached: name and size only.
    let (entries, _) = page(&node, "b", serde_json::json!({"flags": "0"}));
    assert!(entries[0].get("checksum").is_none(), "{}", entries[0]);
}

#[test]
fn flags_the_node_cannot_honour_are_refused() {
    // Goal: no flag is silently ignored when it would change the answer: archives-as-dirs,
    // inventory and unknown bits → 501; not-cached and diff → 400 (AIS's answer for an ais://
    // bucket); a malformed flags value → 400; a missing bucket is still 404 first.
    let node = Node::start(1);
    node.create_bucket("b");
    put_all(&node, "b", &["x"]);
    for (flags, status) in [
        ((1u64 << 3).to_string(), 501),
        ((1u64 << 15).to_string(), 501),
        ((1u64 << 16).to_string(), 501),
        ((1u64 << 40).to_string(), 501),
        ((1u64 << 9).to_string(), 400),
        ((1u64 << 12).to_string(), 400),
        ("zz".to_string(), 400),
        ("-1".to_string(), 400),
    ] {
        let r = list_raw(&node, "b", serde_json::json!({"flags": flags}));
        assert_eq!(r.status, status, "flags {flags}: {}", r.text());
        assert!(
            r.error_message().is_some(),
            "no AIS error body: {}",
            r.text()
        );
    }
    let r = list_raw(
        &node,
        "nope",
        serde_json::json!({"flags": (1u64 << 3).to_string()}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    // Ignorable bits (present/cached, hints, remote-only) list as usual.
    for bit in [0, 1, 2, 5, 6, 7, 8, 10, 14] {
        let (entries, _) = page(
            &node,
            "b",
            serde_json::json!({"flags": (1u64 << bit).to_string()}),
        );
        assert_eq!(names(&entries), ["x"], "bit {bit}");
    }
}
