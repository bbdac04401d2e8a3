//! S3 conditional writes (`If-None-Match: *`: create only if absent) through raw requests, on
//! every write path: a plain PutObject, an `aws-chunked` body, a PUT stored as a chunked object,
//! and CompleteMultipartUpload. Concurrent creates of one key have exactly one winner, and a
//! refused write changes nothing. `If-Match` and ETag lists are refused with 501, not ignored.
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

#[test]
fn create_only_puts_of_one_key_have_exactly_one_winner() {
    // Goal: 16 threads PUT the same key at once with If-None-Match: *; exactly one gets 200,
    // the others 412 PreconditionFailed, and the object holds the winner's body. Five keys.
    let node = Node::start(2);
    assert_eq!(node.req("PUT", "/s3/cw", &[], b"").status, 200);
    let port = node.port;
    for round in 0..5 {
        let key = format!("race-{round}");
        let barrier = Arc::new(Barrier::new(16));
        let threads: Vec<_> = (0..16u64)
            .map(|t| {
                let (barrier, key) = (barrier.clone(), key.clone());
                std::thread::spawn(move || {
                    let body = bytes(round * 100 + t, 64 * 1024);
                    barrier.wait();
                    let r = request(port, "PUT", &format!("/s3/cw/{key}"), &create_only(), &body);
                    (r, body)
                })
            })
            .collect();
        let results: Vec<(Resp, Vec<u8>)> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<&Vec<u8>> = results
            .iter()
            .filter(|(r, _)| r.status == 200)
            .map(|(_, b)| b)
            .collect();
        assert_eq!(winners.len(), 1, "{key}: {} winners", winners.len());
        for (r, _) in results.iter().filter(|(r, _)| r.status != 200) {
            assert_eq!(
                (r.status, code(r).as_str()),
                (412, "PreconditionFailed"),
                "{}",
                r.text()
            );
        }
        let g = node.req("GET", &format!("/s3/cw/{key}"), &[], b"");
        assert_eq!(g.status, 200);
        assert_eq!(
            &g.body, winners[0],
            "{key}: the stored body is the winner's"
        );
    }
    // Without the condition a PUT still replaces the object.
    let r = node.req("PUT", "/s3/cw/race-0", &[], b"plain");
    assert_eq!(r.status, 200);
    assert_eq!(node.req("GET", "/s3/cw/race-0", &[], b"").body, b"plain");
}

#[test]
fn create_only_on_every_write_path_and_refused_conditions() {
    // Goal: If-None-Match: * creates a missing key and refuses (412, nothing changed) an
    // existing one, for a plain body, an aws-chunked body and a body the bucket stores as a
    // chunked object (the refused chunked PUT leaves no upload behind); a folder of keys
    // under the name (same mountpath) is a KeyConflict, not a 412; If-Match and an ETag list are 501 and
    // change nothing. One mountpath, so that `dir` and `dir/inside` share a filesystem.
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
    for h in [("If-Match", "\"abc\""), ("If-None-Match", "\"abc\"")] {
        let r = node.req("PUT", "/s3/cp/cond", &[h], b"z");
        assert_eq!(
            (r.status, code(&r).as_str()),
            (501, "NotImplemented"),
            "{h:?}: {}",
            r.text()
        );
    }
    assert_eq!(node.req("HEAD", "/s3/cp/cond", &[], b"").status, 404);
}

#[test]
fn create_only_multipart_completion() {
    // Goal: CompleteMultipartUpload with If-None-Match: * over an existing key is 412 and
    // changes nothing, the upload stays open (its parts listed) and can be aborted; over a
    // new key it completes.
    let node = Node::start(2);
    assert_eq!(node.req("PUT", "/s3/mc", &[], b"").status, 200);
    assert_eq!(
        node.req("PUT", "/s3/mc/taken", &[], b"original").status,
        200
    );
    for (key, want) in [("taken", 412), ("fresh", 200)] {
        let r = node.req("POST", &format!("/s3/mc/{key}?uploads"), &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        let t = r.text();
        let id = &t[t.find("<UploadId>").unwrap() + 10..t.find("</UploadId>").unwrap()];
        let part = bytes(3, 1000);
        let r = node.req(
            "PUT",
            &format!("/s3/mc/{key}?partNumber=1&uploadId={id}"),
            &[],
            &part,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let etag = r.header("etag").unwrap().to_string();
        let body = format!(
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
        );
        let r = node.req(
            "POST",
            &format!("/s3/mc/{key}?uploadId={id}"),
            &create_only(),
            body.as_bytes(),
        );
        assert_eq!(r.status, want, "{key}: {}", r.text());
        if want == 412 {
            assert_eq!(code(&r), "PreconditionFailed");
            assert_eq!(node.req("GET", "/s3/mc/taken", &[], b"").body, b"original");
            let l = node.req("GET", &format!("/s3/mc/{key}?uploadId={id}"), &[], b"");
            assert_eq!(l.status, 200, "the upload stays open: {}", l.text());
            assert!(
                l.text().contains("<PartNumber>1</PartNumber>"),
                "{}",
                l.text()
            );
            let a = node.req("DELETE", &format!("/s3/mc/{key}?uploadId={id}"), &[], b"");
            assert_eq!(a.status, 204, "{}", a.text());
        } else {
            assert_eq!(
                node.req("GET", &format!("/s3/mc/{key}"), &[], b"").body,
                part
            );
        }
    }
}
