//! The parameter table against a running node: every row of `node::ais::params` is sent on a
//! real request and its disposition checked (Refused: 501 naming it and nothing changed;
//! Ignored: the same answer as without it; Implemented: not refused). Plus the explicit raw
//! HTTP refusals of issue 12: archpath PUT/GET, etl_name, bucket summary, `/v1/cluster`,
//! `copy-listrange`, promote.

mod common;

use common::{Node, Resp};
use node::ais::params::{Disposition, Param, Scope, Takes, HEADERS, QUERY};

const DATA: &[u8] = b"the original bytes of the object";

fn enc(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query string and headers that carry `p` with `value` (`None` for a bare `?key`).
fn carry(p: &Param, header: bool, value: Option<&str>) -> (String, Vec<(String, String)>) {
    if header {
        (
            String::new(),
            vec![(p.name.to_string(), value.unwrap_or("").to_string())],
        )
    } else {
        match value {
            Some(v) => (format!("?{}={}", enc(p.name), enc(v)), vec![]),
            None => (format!("?{}", enc(p.name)), vec![]),
        }
    }
}

fn send(
    node: &Node,
    method: &str,
    path: &str,
    q: &str,
    h: &[(String, String)],
    body: &[u8],
) -> Resp {
    let hs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    node.req(method, &format!("{path}{q}"), &hs, body)
}

/// The AIS error message of a response (body, or `Hdr-Error` on HEAD).
fn err_message(r: &Resp) -> String {
    let raw = if r.body.is_empty() {
        r.header("hdr-error").unwrap_or_default().to_string()
    } else {
        r.text()
    };
    let v: serde_json::Value =
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("not an AIS JSON error ({e}): {raw}"));
    v["message"].as_str().unwrap_or_default().to_string()
}

fn assert_refused(r: &Resp, name: &str, what: &str) {
    assert_eq!(r.status, 501, "{what}: {} {:?}", r.text(), r.headers);
    let m = err_message(r);
    assert!(
        m.contains(name),
        "{what}: message {m:?} does not name {name}"
    );
}

fn example(p: &Param) -> Option<&'static str> {
    match p.takes {
        Takes::Present => None,
        _ => Some(p.example),
    }
}

fn object_unchanged(node: &Node, what: &str) {
    let r = node.get("pb", "o");
    assert_eq!(r.status, 200, "{what}: object gone: {}", r.text());
    assert_eq!(r.body, DATA, "{what}: object bytes changed");
}

fn check_object(node: &Node, p: &Param, header: bool) {
    let what = format!(
        "object {} {}",
        if header { "header" } else { "query" },
        p.name
    );
    let (q, h) = carry(p, header, example(p));
    let path = "/v1/objects/pb/o";
    match p.disposition {
        Disposition::Refused(_) => {
            let r = send(node, "GET", path, &q, &h, b"");
            assert_refused(&r, p.name, &what);
            assert_ne!(r.body, DATA, "{what}: GET returned the object");
            assert_refused(&send(node, "HEAD", path, &q, &h, b""), p.name, &what);
            let r = send(node, "PUT", path, &q, &h, b"other bytes");
            assert_refused(&r, p.name, &what);
            object_unchanged(node, &what);
            let r = send(node, "PUT", "/v1/objects/pb/new", &q, &h, b"x");
            assert_refused(&r, p.name, &what);
            assert_eq!(
                node.get("pb", "new").status,
                404,
                "{what}: PUT created an object"
            );
            assert_refused(&send(node, "DELETE", path, &q, &h, b""), p.name, &what);
            object_unchanged(node, &what);
            if p.takes == Takes::True {
                // A false value is absent to AIS: the request is served.
                let (q, h) = carry(p, header, Some("false"));
                let r = send(node, "GET", path, &q, &h, b"");
                assert_eq!((r.status, r.body.as_slice()), (200, DATA), "{what}=false");
            }
        }
        Disposition::Ignored(_) => {
            let with = send(node, "GET", path, &q, &h, b"");
            let without = node.get("pb", "o");
            assert_eq!(with.status, without.status, "{what}: {}", with.text());
            assert_eq!(with.body, without.body, "{what}");
            let with = send(node, "HEAD", path, &q, &h, b"");
            let without = node.req("HEAD", path, &[], b"");
            assert_eq!(with.status, without.status, "{what}");
            for k in ["content-length", "ais-checksum-value", "ais-version"] {
                assert_eq!(with.header(k), without.header(k), "{what}: {k}");
            }
            let r = send(node, "PUT", path, &q, &h, DATA);
            assert_eq!(r.status, 200, "{what}: PUT {}", r.text());
            object_unchanged(node, &what);
        }
        Disposition::Implemented => {
            for m in ["GET", "HEAD"] {
                let r = send(node, m, path, &q, &h, b"");
                assert!(
                    (200..300).contains(&r.status),
                    "{what} {m}: {} {}",
                    r.status,
                    r.text()
                );
            }
        }
    }
}

fn bucket_exists(node: &Node, b: &str) -> bool {
    node.req("HEAD", &format!("/v1/buckets/{b}"), &[], b"")
        .status
        == 200
}

fn check_bucket(node: &Node, p: &Param, header: bool) {
    let what = format!(
        "bucket {} {}",
        if header { "header" } else { "query" },
        p.name
    );
    let (q, h) = carry(p, header, example(p));
    let path = "/v1/buckets/pb";
    match p.disposition {
        Disposition::Refused(_) => {
            assert_refused(&send(node, "HEAD", path, &q, &h, b""), p.name, &what);
            assert_refused(&send(node, "GET", path, &q, &h, b""), p.name, &what);
            let r = send(node, "DELETE", path, &q, &h, br#"{"action":"destroy-bck"}"#);
            assert_refused(&r, p.name, &what);
            assert!(bucket_exists(node, "pb"), "{what}: bucket destroyed");
            object_unchanged(node, &what);
            let r = send(
                node,
                "POST",
                "/v1/buckets/pbnew",
                &q,
                &h,
                br#"{"action":"create-bck"}"#,
            );
            assert_refused(&r, p.name, &what);
            assert!(!bucket_exists(node, "pbnew"), "{what}: bucket created");
        }
        Disposition::Ignored(_) => {
            let with = send(node, "HEAD", path, &q, &h, b"");
            let without = node.req("HEAD", path, &[], b"");
            assert_eq!(with.status, without.status, "{what}");
            assert_eq!(
                with.header("ais-bucket-props"),
                without.header("ais-bucket-props"),
                "{what}"
            );
            let list = |r: &Resp| {
                let mut v = r.json();
                v["uuid"] = serde_json::Value::Null;
                v
            };
            let with = send(node, "GET", path, &q, &h, b"");
            let without = node.req("GET", path, &[], b"");
            assert_eq!(with.status, 200, "{what}: {}", with.text());
            assert_eq!(list(&with), list(&without), "{what}");
        }
        Disposition::Implemented => {
            for m in ["HEAD", "GET"] {
                let r = send(node, m, path, &q, &h, b"");
                assert!(
                    (200..300).contains(&r.status),
                    "{what} {m}: {} {}",
                    r.status,
                    r.text()
                );
            }
        }
    }
}

#[test]
fn every_table_row_has_its_disposition() {
    // Goal: the table is what the node does: each row sent on real requests gets its
    // disposition, for objects and buckets as its scope says.
    let node = Node::start(2);
    node.create_bucket("pb");
    assert_eq!(node.put("pb", "o", DATA).status, 200);
    let mut rows = 0;
    for (table, header) in [(QUERY, false), (HEADERS, true)] {
        for p in table {
            if matches!(p.scope, Scope::Objects | Scope::Both) {
                check_object(&node, p, header);
            }
            if matches!(p.scope, Scope::Buckets | Scope::Both) {
                check_bucket(&node, p, header);
            }
            rows += 1;
        }
    }
    assert!(rows >= 40, "{rows} rows");
    object_unchanged(&node, "after all rows");
}

#[test]
fn archpath_put_and_get_are_refused() {
    // Goal (issue 12): PUT ?archpath= used to replace the whole shard with one file's bytes and
    // GET ?archpath= to return the whole shard; both must be refused and change nothing.
    let node = Node::start(1);
    node.create_bucket("pb");
    assert_eq!(node.put("pb", "o", DATA).status, 200);
    let r = node.req(
        "PUT",
        "/v1/objects/pb/o?archpath=dir/a.txt",
        &[],
        b"one file",
    );
    assert_refused(&r, "archpath", "PUT archpath");
    object_unchanged(&node, "PUT archpath");
    let r = node.req("GET", "/v1/objects/pb/o?archpath=dir/a.txt", &[], b"");
    assert_refused(&r, "archpath", "GET archpath");
    assert!(!r.body.windows(DATA.len()).any(|w| w == DATA));
    let r = node.req(
        "GET",
        "/v1/objects/pb/o?archregx=a&archmode=prefix",
        &[],
        b"",
    );
    assert_eq!(r.status, 501, "{}", r.text());
    // An empty value is absent, as AIS reads it.
    let r = node.req("GET", "/v1/objects/pb/o?archpath=", &[], b"");
    assert_eq!((r.status, r.body.as_slice()), (200, DATA));
}

#[test]
fn etl_name_is_refused() {
    // Goal (issue 12): GET ?etl_name= must not return the untransformed object as if
    // transformed.
    let node = Node::start(1);
    node.create_bucket("pb");
    assert_eq!(node.put("pb", "o", DATA).status, 200);
    let r = node.req("GET", "/v1/objects/pb/o?etl_name=md5", &[], b"");
    assert_refused(&r, "etl_name", "GET etl_name");
    let r = node.req("PUT", "/v1/objects/pb/o?etl_name=md5", &[], b"x");
    assert_refused(&r, "etl_name", "PUT etl_name");
    object_unchanged(&node, "etl_name");
}

#[test]
fn bucket_summary_is_refused() {
    // Goal: the SDK's bucket info (HEAD with presence and bsumm_remote) expects 202 and a job
    // id; until jobs exist the node says 501, not a plain HEAD's 200.
    let node = Node::start(1);
    node.create_bucket("pb");
    let r = node.req(
        "HEAD",
        "/v1/buckets/pb?provider=ais&presence=0&bsumm_remote=False",
        &[],
        b"",
    );
    assert_refused(&r, "bsumm_remote", "bucket summary");
    let r = node.req("HEAD", "/v1/buckets/pb?provider=ais&presence=0", &[], b"");
    assert_eq!(r.status, 200);
}

#[test]
fn cluster_and_daemon_requests_name_their_path() {
    // Goal: PUT /v1/cluster with a known AIS cluster action is 501 naming it; other methods
    // are 405 naming /v1/cluster (not /v1/daemon); unknown actions 400.
    let node = Node::start(1);
    let r = node.req("PUT", "/v1/cluster", &[], br#"{"action":"rebalance"}"#);
    assert_eq!(r.status, 501, "{}", r.text());
    assert!(err_message(&r).contains("rebalance"), "{}", r.text());
    let r = node.req("PUT", "/v1/cluster", &[], br#"{"action":"no-such"}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = node.req("DELETE", "/v1/cluster", &[], b"");
    assert_eq!(r.status, 405, "{}", r.text());
    let m = err_message(&r);
    assert!(
        m.contains("/v1/cluster") && !m.contains("/v1/daemon"),
        "{m}"
    );
    let r = node.req("DELETE", "/v1/daemon", &[], b"");
    assert_eq!(r.status, 405);
    assert!(err_message(&r).contains("/v1/daemon"));
    let r = node.req("PUT", "/v1/daemon", &[], br#"{"action":"set-config"}"#);
    assert_eq!(r.status, 501, "{}", r.text());
    assert_eq!(
        node.req("GET", "/v1/cluster?what=smap", &[], b"").status,
        200
    );
}

#[test]
fn known_unimplemented_actions_are_501() {
    // Goal: copy-listrange (and the other list/range jobs) are 501, not "invalid action"; the
    // SDK's promote (POST /v1/objects/B) is a 501 naming promote, not "missing object name".
    let node = Node::start(1);
    node.create_bucket("pb");
    for a in ["copy-listrange", "etl-listrange", "archive", "put-copies"] {
        let body = format!(r#"{{"action":"{a}","value":{{"objnames":["o"]}}}}"#);
        let r = node.req("POST", "/v1/buckets/pb", &[], body.as_bytes());
        assert_eq!(r.status, 501, "{a}: {}", r.text());
        assert!(err_message(&r).contains(a));
    }
    let r = node.req(
        "POST",
        "/v1/objects/pb",
        &[],
        br#"{"action":"promote","name":"/tmp/x","value":{"source_path":"/tmp/x"}}"#,
    );
    assert_eq!(r.status, 501, "{}", r.text());
    assert!(err_message(&r).contains("promote"), "{}", r.text());
    let r = node.req("GET", "/v1/objects/pb", &[], b"");
    assert_eq!(r.status, 400, "{}", r.text());
}
