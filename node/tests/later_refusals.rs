//! Requests for AIS features the node does not have yet (GetBatch, dsort, ETL, a node's own job
//! stats, node logs and stats, archiving, promote, multi-object copy) are refused with 501 and AIS's JSON error
//! naming the feature, change nothing, and keep the connection usable; the requests around them
//! that the node does serve (the Smap through `/v1/reverse/daemon`, PUT on a bucket with another
//! action) keep their answers. These are the calls AIS's Python SDK makes for those features.
mod common;

use common::*;

/// Request headers in a table of cases.
type Headers<'a> = &'a [(&'a str, &'a str)];

/// One case: status, method, path, headers, body, words the error message must contain.
type Case<'a> = (u16, &'a str, &'a str, Headers<'a>, &'a [u8], &'a str);

#[test]
fn features_still_to_come_are_refused_with_501() {
    // Goal: every request of the table gets its status and an AIS JSON error whose message
    // contains the given words; none of them changes anything on disk.
    // Steps: bucket b with object o; snapshot; send each case; check status and message; then
    // the snapshot, bucket list, listing and o's bytes are unchanged.
    let node = Node::start(2);
    node.create_bucket("b");
    assert_eq!(node.put("b", "o", b"original").status, 200);
    let before = node.snapshot();
    let json = [("Content-Type", "application/json")];
    let none: [(&str, &str); 0] = [];
    let moss = br#"{"in":[{"objname":"o"}],"mime":".tar"}"#;
    let cases: Vec<Case> = vec![
        (501, "GET", "/v1/ml/moss/b", &json, moss, "GetBatch"),
        (501, "GET", "/v1/ml/moss", &json, moss, "GetBatch"),
        (501, "POST", "/v1/sort", &json, b"{}", "dsort"),
        (501, "GET", "/v1/sort?uuid=x", &none, b"", "dsort"),
        (501, "GET", "/v1/etl", &none, b"", "ETL"),
        (
            501,
            "GET",
            "/v1/daemon?what=getxstats",
            &json,
            b"{}",
            "job statistics",
        ),
        (
            501,
            "GET",
            "/v1/reverse/daemon?what=log",
            &none,
            b"",
            "node logs",
        ),
        (
            501,
            "GET",
            "/v1/reverse/daemon?what=node_status",
            &none,
            b"",
            "node statistics",
        ),
        (
            501,
            "GET",
            "/v1/daemon?what=node_status",
            &none,
            b"",
            "node statistics",
        ),
        (
            501,
            "PUT",
            "/v1/daemon",
            &json,
            br#"{"action":"start","value":{"kind":"lru"}}"#,
            "\"start\" is not implemented",
        ),
        (
            501,
            "PUT",
            "/v1/daemon",
            &json,
            br#"{"action":"shutdown-node"}"#,
            "shutdown-node",
        ),
        (400, "PUT", "/v1/cluster", &json, b"", "missing action"),
        (400, "PUT", "/v1/cluster", &json, b"{not json", "malformed"),
        (405, "DELETE", "/v1/cluster", &none, b"", "/v1/cluster"),
        (
            501,
            "PUT",
            "/v1/buckets/b",
            &json,
            br#"{"action":"archive","value":{"archname":"a.tar","objnames":["o"]}}"#,
            "\"archive\" is not implemented",
        ),
        (
            501,
            "POST",
            "/v1/objects/b",
            &json,
            br#"{"action":"promote","name":"/tmp","value":{"target":""}}"#,
            "\"promote\" is not implemented",
        ),
        (
            400,
            "POST",
            "/v1/objects/b",
            &json,
            br#"{"action":"x"}"#,
            "missing object name",
        ),
        (
            501,
            "POST",
            "/v1/buckets/b",
            &json,
            br#"{"action":"copy-listrange","name":"b2","value":{"objnames":["o"]}}"#,
            "\"copy-listrange\" is not implemented",
        ),
        (
            501,
            "POST",
            "/v1/buckets/b",
            &json,
            br#"{"action":"etl-bck","value":{}}"#,
            "\"etl-bck\" is not implemented",
        ),
    ];
    for (status, method, path, headers, body, words) in cases {
        let what = format!("{method} {path} {:?}", String::from_utf8_lossy(body));
        let r = node.send(method, path, headers, body);
        assert_eq!(r.status, status, "{what}: status; body {}", r.text());
        let m = r
            .error_message()
            .unwrap_or_else(|| panic!("{what}: no AIS JSON error; body {:?}", r.text()));
        assert!(m.contains(words), "{what}: message {m:?} lacks {words:?}");
    }
    node.wait_snapshot(&before, "refused requests");
    assert_eq!(node.list_names("b"), ["o"]);
    assert_eq!(node.get("b", "o").body, b"original");
}

#[test]
fn served_requests_next_to_the_refused_ones_keep_their_answers() {
    // Goal: the node is its own proxy, so `/v1/reverse/daemon` (the SDK's way to reach one
    // target) serves what `/v1/daemon` serves; what= values AIS does not define stay 400; PUT
    // on a bucket with an action other than archive stays 405.
    // Steps: compare the Smap from both paths; send the other two; check statuses.
    let node = Node::start(1);
    node.create_bucket("b");
    let direct = node.req("GET", "/v1/daemon?what=smap", &[], b"");
    assert_eq!(direct.status, 200, "{}", direct.text());
    let reversed = node.req("GET", "/v1/reverse/daemon?what=smap", &[], b"");
    assert_eq!(reversed.status, 200, "{}", reversed.text());
    let smap = reversed.json();
    assert_eq!(smap, direct.json());
    assert_eq!(smap["tmap"].as_object().map(|m| m.len()), Some(1));
    let r = node.req("GET", "/v1/cluster?what=frob", &[], b"");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = node.req(
        "PUT",
        "/v1/buckets/b",
        &[("Content-Type", "application/json")],
        br#"{"action":"create-bck"}"#,
    );
    assert_eq!(r.status, 405, "{}", r.text());
}
