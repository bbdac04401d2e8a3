//! S3 conditional writes through raw requests: `If-None-Match: *` (create only if absent) and
//! `If-Match: <ETag>` (replace only that version), on every write path: a plain PutObject, an
//! `aws-chunked` body, a PUT stored as a chunked object, and CompleteMultipartUpload.
//! Concurrent creates, and concurrent replaces of one version, have exactly one winner; a
//! refused write changes nothing. `If-None-Match` with ETags is refused with 501, not ignored.
mod common;
use common::*;

use std::sync::{Arc, Barrier};

/// The `<Code>` of an S3 XML error body.
fn code(r: &Resp) -> String {
    let t = r.text();
    match (t.find("<Code>"), t.find("</Code>")) {
        (Some(a), Some(b)) => t[a + 6..b].to_string(),
        _ => String::new(),
    }
}

fn create_only<'a>() -> [(&'a str, &'a str); 1] {
    [("If-None-Match", "*")]
}

/// 16 threads PUT `path` at once, each its own body (seeded by `seed`) under `header`:
/// asserts exactly one gets 200 and the others 412 PreconditionFailed; returns the winner's
/// body.
fn race(port: u16, path: &str, header: (&str, &str), seed: u64, len: usize) -> Vec<u8> {
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16u64)
        .map(|t| {
            let barrier = barrier.clone();
            let (path, h) = (
                path.to_string(),
                (header.0.to_string(), header.1.to_string()),
            );
            std::thread::spawn(move || {
                let body = bytes(seed + t, len);
                barrier.wait();
                (request(port, "PUT", &path, &[(&h.0, &h.1)], &body), body)
            })
        })
        .collect();
    let results: Vec<(Resp, Vec<u8>)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let mut winners = results.iter().filter(|(r, _)| r.status == 200);
    let winner = winners.next().expect("no PUT won").1.clone();
    assert_eq!(winners.count(), 0, "{path}: more than one PUT won");
    for (r, _) in results.iter().filter(|(r, _)| r.status != 200) {
        assert_eq!(
            (r.status, code(r).as_str()),
            (412, "PreconditionFailed"),
            "{}",
            r.text()
        );
    }
    winner
}

#[test]
fn create_only_puts_of_one_key_have_exactly_one_winner() {
    // Goal: 16 threads PUT the same key at once with If-None-Match: *; exactly one gets 200,
    // the others 412 PreconditionFailed, and the object holds the winner's body. Five keys.
    let node = Node::start(2);
    assert_eq!(node.req("PUT", "/s3/cw", &[], b"").status, 200);
    let port = node.port;
    for round in 0..5 {
        let key = format!("race-{round}");
        let path = format!("/s3/cw/{key}");
        let winner = race(port, &path, ("If-None-Match", "*"), round * 100, 64 * 1024);
        let g = node.req("GET", &path, &[], b"");
        assert_eq!(g.status, 200);
        assert!(
            g.body == winner,
            "{key}: the stored body is not the winner's"
        );
    }
    // Without the condition a PUT still replaces the object.
    let r = node.req("PUT", "/s3/cw/race-0", &[], b"plain");
    assert_eq!(r.status, 200);
    assert_eq!(node.req("GET", "/s3/cw/race-0", &[], b"").body, b"plain");
}

#[test]
fn conditional_writes_on_every_write_path() {
    // Goal: for a plain body, an aws-chunked body and a body the bucket stores as a chunked
    // object: If-None-Match: * creates a missing key and refuses (412, nothing changed) an
    // existing one; If-Match replaces only the version with that ETag (stale: 412; missing
    // key: NoSuchKey; `*`: any); a refused chunked PUT leaves no upload behind. A folder of
    // keys under the name (same mountpath) is a KeyConflict, not a 412; If-None-Match with an
    // ETag (or not UTF-8), or both conditions, are 501 and change nothing. One mountpath, so
    // that `dir` and `dir/inside` share a filesystem.
    let node = Node::start(1);
    assert_eq!(node.req("PUT", "/s3/cp", &[], b"").status, 200);

    // Plain body.
    let r = node.req("PUT", "/s3/cp/plain", &create_only(), b"first");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = node.req("PUT", "/s3/cp/plain", &create_only(), b"second");
    assert_eq!(
        (r.status, code(&r).as_str()),
        (412, "PreconditionFailed"),
        "{}",
        r.text()
    );
    assert_eq!(node.req("GET", "/s3/cp/plain", &[], b"").body, b"first");

    // aws-chunked body (unsigned, with a trailing checksum), as recent SDKs send.
    let aws_chunked = |data: &[u8]| {
        let mut b = format!("{:x}\r\n", data.len()).into_bytes();
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n0\r\n\r\n");
        b
    };
    let dl = |n: usize| n.to_string();
    for (i, (want, data)) in [(200, &b"chunked one"[..]), (412, b"chunked two")]
        .iter()
        .enumerate()
    {
        let len = dl(data.len());
        let h = [
            ("If-None-Match", "*"),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-decoded-content-length", len.as_str()),
        ];
        let r = node.req("PUT", "/s3/cp/awschunked", &h, &aws_chunked(data));
        assert_eq!(r.status, *want, "aws-chunked PUT {i}: {}", r.text());
    }
    assert_eq!(
        node.req("GET", "/s3/cp/awschunked", &[], b"").body,
        b"chunked one"
    );

    // A body the bucket stores as a chunked object (over its objsize_limit).
    let r = node.send(
        "PATCH",
        "/v1/buckets/cp",
        &[("Content-Type", "application/json")],
        br#"{"action":"set-bprops","value":{"chunks":{"objsize_limit":"1MiB","chunk_size":"1MiB"}}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let big1 = bytes(7, 3 << 20);
    let big2 = bytes(8, 3 << 20);
    let r = node.req("PUT", "/s3/cp/big", &create_only(), &big1);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = node.req("PUT", "/s3/cp/big", &create_only(), &big2);
    assert_eq!(
        (r.status, code(&r).as_str()),
        (412, "PreconditionFailed"),
        "{}",
        r.text()
    );
    assert!(
        node.req("GET", "/s3/cp/big", &[], b"").body == big1,
        "the chunked object changed"
    );
    // The refused PUT's upload is gone (aborted), its chunks with it.
    let up = node.req("GET", "/s3/cp?uploads", &[], b"");
    assert_eq!(up.status, 200);
    assert!(!up.text().contains("<Upload>"), "{}", up.text());

    // Keys under the name: the name is a folder here, not an object.
    assert_eq!(node.req("PUT", "/s3/cp/dir/inside", &[], b"x").status, 200);
    let r = node.req("PUT", "/s3/cp/dir", &create_only(), b"y");
    assert_eq!(
        (r.status, code(&r).as_str()),
        (409, "KeyConflict"),
        "{}",
        r.text()
    );

    // Conditions this node does not evaluate on writes: refused, nothing written.
    let both = [("If-Match", "*"), ("If-None-Match", "*")];
    for h in [&[("If-None-Match", "\"abc\"")][..], &both] {
        let r = node.req("PUT", "/s3/cp/cond", h, b"z");
        assert_eq!(
            (r.status, code(&r).as_str()),
            (501, "NotImplemented"),
            "{h:?}: {}",
            r.text()
        );
    }
    assert_eq!(node.req("HEAD", "/s3/cp/cond", &[], b"").status, 404);
    // An If-None-Match that is not UTF-8 is refused too, not dropped.
    let (r, _) = raw_request(
        node.port,
        b"PUT /s3/cp/cond HTTP/1.1\r\nHost: x\r\nIf-None-Match: \xff*\r\nContent-Length: 1\r\n\r\nz",
        false,
        false,
    );
    assert_eq!(
        (r.status, code(&r).as_str()),
        (501, "NotImplemented"),
        "{}",
        r.text()
    );
    assert_eq!(node.req("HEAD", "/s3/cp/cond", &[], b"").status, 404);

    // If-Match: a missing key is NoSuchKey; a stale ETag 412; the current one (or `*`)
    // replaces — on the plain, the aws-chunked and the chunked-object paths.
    let r = node.req("PUT", "/s3/cp/cond", &[("If-Match", "*")], b"z");
    assert_eq!(
        (r.status, code(&r).as_str()),
        (404, "NoSuchKey"),
        "{}",
        r.text()
    );
    assert_eq!(node.req("HEAD", "/s3/cp/cond", &[], b"").status, 404);
    let etag_of = |key: &str| {
        let h = node.req("HEAD", &format!("/s3/cp/{key}"), &[], b"");
        h.header("etag").expect("ETag").to_string()
    };
    let old = etag_of("plain");
    let r = node.req("PUT", "/s3/cp/plain", &[("If-Match", "\"stale\"")], b"no");
    assert_eq!(
        (r.status, code(&r).as_str()),
        (412, "PreconditionFailed"),
        "{}",
        r.text()
    );
    let r = node.req(
        "PUT",
        "/s3/cp/plain",
        &[("If-Match", old.as_str())],
        b"swapped",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = node.req(
        "PUT",
        "/s3/cp/plain",
        &[("If-Match", old.as_str())],
        b"again",
    );
    assert_eq!(
        (r.status, code(&r).as_str()),
        (412, "PreconditionFailed"),
        "{}",
        r.text()
    );
    assert_eq!(node.req("GET", "/s3/cp/plain", &[], b"").body, b"swapped");
    let r = node.req("PUT", "/s3/cp/plain", &[("If-Match", "*")], b"any");
    assert_eq!(r.status, 200, "{}", r.text());
    let old = etag_of("awschunked");
    for (tag, want) in [("\"stale\"", 412), (old.as_str(), 200)] {
        let data = b"chunked three";
        let len = dl(data.len());
        let h = [
            ("If-Match", tag),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-decoded-content-length", len.as_str()),
        ];
        let r = node.req("PUT", "/s3/cp/awschunked", &h, &aws_chunked(data));
        assert_eq!(r.status, want, "aws-chunked If-Match {tag}: {}", r.text());
    }
    assert_eq!(
        node.req("GET", "/s3/cp/awschunked", &[], b"").body,
        b"chunked three"
    );
    let old = etag_of("big");
    let r = node.req("PUT", "/s3/cp/big", &[("If-Match", "\"stale\"")], &big2);
    assert_eq!(
        (r.status, code(&r).as_str()),
        (412, "PreconditionFailed"),
        "{}",
        r.text()
    );
    assert!(
        node.req("GET", "/s3/cp/big", &[], b"").body == big1,
        "the chunked object changed"
    );
    let r = node.req("PUT", "/s3/cp/big", &[("If-Match", old.as_str())], &big2);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        node.req("GET", "/s3/cp/big", &[], b"").body == big2,
        "not replaced"
    );
    let up = node.req("GET", "/s3/cp?uploads", &[], b"");
    assert!(!up.text().contains("<Upload>"), "{}", up.text());
}

#[test]
fn if_match_puts_of_one_version_have_exactly_one_winner() {
    // Goal: 16 threads replace the same version at once (If-Match: its ETag), each with its
    // own body; exactly one gets 200, the others 412, and the object holds the winner's body:
    // a compare-and-swap. Three rounds, each from the previous winner's ETag.
    let node = Node::start(2);
    assert_eq!(node.req("PUT", "/s3/cas", &[], b"").status, 200);
    assert_eq!(node.req("PUT", "/s3/cas/k", &[], b"v0").status, 200);
    let port = node.port;
    for round in 0..3u64 {
        let etag = node
            .req("HEAD", "/s3/cas/k", &[], b"")
            .header("etag")
            .unwrap()
            .to_string();
        let winner = race(
            port,
            "/s3/cas/k",
            ("If-Match", &etag),
            1000 + round * 100,
            32 * 1024,
        );
        assert!(
            node.req("GET", "/s3/cas/k", &[], b"").body == winner,
            "round {round}"
        );
    }
}

/// Starts an upload of `key` in bucket `mc` with one part of `part`: (upload id, completion body).
fn one_part_upload(node: &Node, key: &str, part: &[u8]) -> (String, String) {
    let r = node.req("POST", &format!("/s3/mc/{key}?uploads"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    let id = t[t.find("<UploadId>").unwrap() + 10..t.find("</UploadId>").unwrap()].to_string();
    let r = node.req(
        "PUT",
        &format!("/s3/mc/{key}?partNumber=1&uploadId={id}"),
        &[],
        part,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let etag = r.header("etag").unwrap().to_string();
    let body = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    (id, body)
}

#[test]
fn conditional_multipart_completions() {
    // Goal: CompleteMultipartUpload with If-None-Match: * over an existing key, or with a
    // stale If-Match, is 412 and changes nothing; the upload stays open (its parts listed),
    // so it can be completed again or aborted. With the condition met it completes.
    let node = Node::start(2);
    assert_eq!(node.req("PUT", "/s3/mc", &[], b"").status, 200);
    assert_eq!(
        node.req("PUT", "/s3/mc/taken", &[], b"original").status,
        200
    );
    let part = bytes(3, 1000);
    let complete = |key: &str, id: &str, h: &[(&str, &str)], body: &str| {
        node.req(
            "POST",
            &format!("/s3/mc/{key}?uploadId={id}"),
            h,
            body.as_bytes(),
        )
    };
    let still_open = |key: &str, id: &str| {
        let l = node.req("GET", &format!("/s3/mc/{key}?uploadId={id}"), &[], b"");
        assert_eq!(l.status, 200, "the upload stays open: {}", l.text());
        assert!(
            l.text().contains("<PartNumber>1</PartNumber>"),
            "{}",
            l.text()
        );
    };

    // If-None-Match: * over an existing key: refused, then aborted.
    let (id, body) = one_part_upload(&node, "taken", &part);
    let r = complete("taken", &id, &create_only(), &body);
    assert_eq!(
        (r.status, code(&r).as_str()),
        (412, "PreconditionFailed"),
        "{}",
        r.text()
    );
    assert_eq!(node.req("GET", "/s3/mc/taken", &[], b"").body, b"original");
    still_open("taken", &id);
    assert_eq!(
        node.req("DELETE", &format!("/s3/mc/taken?uploadId={id}"), &[], b"")
            .status,
        204
    );

    // If-None-Match: * over a new key: completes.
    let (id, body) = one_part_upload(&node, "fresh", &part);
    assert_eq!(complete("fresh", &id, &create_only(), &body).status, 200);
    assert_eq!(node.req("GET", "/s3/mc/fresh", &[], b"").body, part);

    // If-Match: a stale ETag is refused (upload open), the current one completes.
    let current = node
        .req("HEAD", "/s3/mc/taken", &[], b"")
        .header("etag")
        .unwrap()
        .to_string();
    let (id, body) = one_part_upload(&node, "taken", &part);
    let r = complete("taken", &id, &[("If-Match", "\"stale\"")], &body);
    assert_eq!(
        (r.status, code(&r).as_str()),
        (412, "PreconditionFailed"),
        "{}",
        r.text()
    );
    assert_eq!(node.req("GET", "/s3/mc/taken", &[], b"").body, b"original");
    still_open("taken", &id);
    let r = complete("taken", &id, &[("If-Match", current.as_str())], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(node.req("GET", "/s3/mc/taken", &[], b"").body, part);
}
