//! S3 multipart upload through raw requests: what the stock clients (s3_clients.rs) do not
//! show — the object a completion makes read through the native API as a chunked object,
//! nothing left on disk after an abort, the S3 XML error codes of bad completions (and 501 for
//! a partial one), per-part MD5s surviving a restart through the checkpoint, parts uploaded
//! through the native API refused by an S3 completion, and `/metrics` per multipart operation.
mod common;
use common::*;

use md5::Digest as _;

const MIB: usize = 1 << 20;

/// The text of the first `<tag>` in `xml`, unescaped.
fn xml_value(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let s = xml
        .find(&open)
        .map(|i| i + open.len())
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"));
    let e = xml[s..].find(&format!("</{tag}>")).unwrap() + s;
    xml[s..e]
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `<Code>` of an S3 XML error.
fn code(r: &Resp) -> String {
    xml_value(&r.text(), "Code")
}

fn md5_hex(b: &[u8]) -> String {
    format!("{:x}", md5::Md5::digest(b))
}

/// S3's multipart ETag of `parts`, quoted.
fn mpu_etag(parts: &[&[u8]]) -> String {
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(&md5::Md5::digest(p));
    }
    format!("\"{}-{}\"", md5_hex(&all), parts.len())
}

fn create(node: &Node, b: &str, k: &str, headers: &[(&str, &str)]) -> String {
    let r = node.req("POST", &format!("/s3/{b}/{k}?uploads"), headers, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(xml_value(&r.text(), "Key"), k);
    xml_value(&r.text(), "UploadId")
}

fn upload(node: &Node, b: &str, k: &str, id: &str, n: u32, body: &[u8]) -> String {
    let r = node.req(
        "PUT",
        &format!("/s3/{b}/{k}?partNumber={n}&uploadId={id}"),
        &[],
        body,
    );
    assert_eq!(r.status, 200, "part {n}: {}", r.text());
    let etag = r.header("etag").expect("ETag").to_string();
    assert_eq!(etag, format!("\"{}\"", md5_hex(body)));
    etag
}

/// A completion's list: (part number, ETag).
type PartList<'a> = Vec<(u32, &'a str)>;

fn complete_body(parts: &[(u32, &str)]) -> String {
    let mut s = String::from("<CompleteMultipartUpload>");
    for (n, e) in parts {
        s.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        ));
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

fn complete(node: &Node, b: &str, k: &str, id: &str, parts: &[(u32, &str)]) -> Resp {
    node.req(
        "POST",
        &format!("/s3/{b}/{k}?uploadId={id}"),
        &[],
        complete_body(parts).as_bytes(),
    )
}

#[test]
fn completed_upload_is_a_chunked_object_for_both_apis() {
    // Goal: parts sent out of order become one object: byte-exact through S3 and the native
    // API, HEAD props=chunked shows its chunks, the multipart ETag and the metadata given at
    // create are on it (S3 HEAD and listing), and its parts are spread over the mountpaths.
    let node = Node::start(4);
    assert_eq!(node.req("PUT", "/s3/mb", &[], b"").status, 200);
    let id = create(
        &node,
        "mb",
        "obj",
        &[("x-amz-meta-color", "red"), ("Content-Type", "text/x-m")],
    );
    let parts: Vec<Vec<u8>> = vec![
        bytes(1, 5 * MIB),
        bytes(2, 5 * MIB + 3),
        bytes(3, 6 * MIB),
        bytes(4, 777),
    ];
    let mut etags = vec![String::new(); parts.len()];
    for i in [3usize, 1, 0, 2] {
        etags[i] = upload(&node, "mb", "obj", &id, i as u32 + 1, &parts[i]);
    }
    let list: Vec<(u32, &str)> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as u32 + 1, e.as_str()))
        .collect();
    let r = complete(&node, "mb", "obj", &id, &list);
    assert_eq!(r.status, 200, "{}", r.text());
    let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    let want_etag = mpu_etag(&refs);
    assert_eq!(xml_value(&r.text(), "ETag"), want_etag);
    let whole: Vec<u8> = parts.concat();
    let g = node.get("mb", "obj");
    assert_eq!(g.status, 200);
    assert!(g.body == whole, "native GET differs");
    let g = node.req("GET", "/s3/mb/obj", &[], b"");
    assert!(g.body == whole, "S3 GET differs");
    assert_eq!(g.header("etag"), Some(want_etag.as_str()));
    assert_eq!(g.header("content-type"), Some("text/x-m"));
    assert_eq!(g.header("x-amz-meta-color"), Some("red"));
    let h = node.req("HEAD", "/v1/objects/mb/obj?props=chunked,size", &[], b"");
    assert_eq!(h.status, 200);
    assert_eq!(h.header("ais-chunks-count"), Some("4"));
    assert_eq!(
        h.header("ais-chunks-max-chunk-size"),
        Some((6 * MIB).to_string().as_str())
    );
    let l = node.req("GET", "/s3/mb?list-type=2", &[], b"").text();
    assert_eq!(xml_value(&l, "ETag"), want_etag);
    // Chunks 2..4 live in %ch, placed by HRW over the mountpaths; no work file remains.
    let chunks = node.files_containing("%ch");
    assert_eq!(chunks.len(), 3, "{chunks:?}");
    assert!(node.work_files("mb").is_empty());
}

#[test]
fn abort_leaves_nothing_behind() {
    // Goal: an aborted upload's parts (buffered and direct-I/O sized), its checkpoint and any
    // work file are gone; every later use of its id is NoSuchUpload; abort answers 204.
    let node = Node::start(2);
    assert_eq!(node.req("PUT", "/s3/ab", &[], b"").status, 200);
    let set = r#"{"action":"set-bprops","value":{"chunks":{"checkpoint_every":1}}}"#;
    let r = node.req(
        "PATCH",
        "/v1/buckets/ab",
        &[("Content-Type", "application/json")],
        set.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id = create(&node, "ab", "k", &[]);
    upload(&node, "ab", "k", &id, 1, &bytes(5, 9 * MIB));
    upload(&node, "ab", "k", &id, 2, &bytes(6, 1000));
    assert!(!node.files_containing("%ch").is_empty());
    assert!(!node.files_containing("%ut").is_empty(), "no checkpoint");
    let r = node.req("DELETE", &format!("/s3/ab/k?uploadId={id}"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        node.files_containing("%ch"),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(
        node.files_containing("%ut"),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(node.work_files("ab").is_empty());
    for (m, p) in [
        ("GET", format!("/s3/ab/k?uploadId={id}")),
        ("DELETE", format!("/s3/ab/k?uploadId={id}")),
        ("PUT", format!("/s3/ab/k?partNumber=1&uploadId={id}")),
    ] {
        let r = node.req(m, &p, &[], b"x");
        assert_eq!(
            (r.status, code(&r).as_str()),
            (404, "NoSuchUpload"),
            "{m} {p}"
        );
    }
    let r = complete(&node, "ab", "k", &id, &[(1, "\"x\"")]);
    assert_eq!((r.status, code(&r).as_str()), (404, "NoSuchUpload"));
    assert_eq!(node.req("HEAD", "/s3/ab/k", &[], b"").status, 404);
    let l = node.req("GET", "/s3/ab?uploads", &[], b"").text();
    assert!(!l.contains("<Upload>"), "{l}");
}

#[test]
fn bad_completions_get_s3_errors_and_change_nothing() {
    // Goal: EntityTooSmall, InvalidPart (wrong ETag, part never uploaded, part uploaded via
    // the native API without an MD5), InvalidPartOrder, MalformedXML, 501 for a partial
    // completion; none of them stores anything, and the upload completes afterwards.
    let node = Node::start(2);
    assert_eq!(node.req("PUT", "/s3/bc", &[], b"").status, 200);
    let id = create(&node, "bc", "k", &[]);
    let small = bytes(7, 100);
    let big = bytes(8, 5 * MIB);
    let e1 = upload(&node, "bc", "k", &id, 1, &small);
    let e2 = upload(&node, "bc", "k", &id, 2, &small);
    let before = node.snapshot();
    let cases: [(PartList, u16, &str); 5] = [
        (vec![(1, &e1), (2, &e2)], 400, "EntityTooSmall"),
        (
            vec![(1, "\"00000000000000000000000000000000\""), (2, &e2)],
            400,
            "InvalidPart",
        ),
        (vec![(1, &e1), (2, &e2), (3, &e2)], 400, "InvalidPart"),
        (vec![(2, &e2), (1, &e1)], 400, "InvalidPartOrder"),
        (vec![(1, &e1)], 501, "NotImplemented"),
    ];
    for (list, status, c) in &cases {
        let r = complete(&node, "bc", "k", &id, list);
        assert_eq!(
            (r.status, code(&r).as_str()),
            (*status, *c),
            "{list:?}: {}",
            r.text()
        );
    }
    for body in [
        "<CompleteMultipartUpload/>",
        "<Complete",
        "<Other><Part/></Other>",
    ] {
        let r = node.req(
            "POST",
            &format!("/s3/bc/k?uploadId={id}"),
            &[],
            body.as_bytes(),
        );
        assert_eq!(
            (r.status, code(&r).as_str()),
            (400, "MalformedXML"),
            "{body}"
        );
    }
    node.wait_snapshot(&before, "refused completions");
    assert_eq!(node.req("HEAD", "/s3/bc/k", &[], b"").status, 404);
    // A part uploaded through the native API has no MD5: an S3 completion refuses it.
    let r = node.req(
        "PUT",
        &format!("/v1/objects/bc/k?uploadId={id}&partNumber=1"),
        &[],
        &big,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = complete(
        &node,
        "bc",
        "k",
        &id,
        &[(1, &format!("\"{}\"", md5_hex(&big))), (2, &e2)],
    );
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "InvalidPart"),
        "{}",
        r.text()
    );
    let e1 = upload(&node, "bc", "k", &id, 1, &big);
    let r = complete(&node, "bc", "k", &id, &[(1, &e1), (2, &e2)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let g = node.req("GET", "/s3/bc/k", &[], b"");
    assert!(g.body == [big.as_slice(), small.as_slice()].concat());
    assert_eq!(g.header("etag"), Some(mpu_etag(&[&big, &small]).as_str()));
    // Part numbers and ids that cannot be.
    let id = create(&node, "bc", "k2", &[]);
    for n in ["0", "10000", "x"] {
        let r = node.req(
            "PUT",
            &format!("/s3/bc/k2?partNumber={n}&uploadId={id}"),
            &[],
            b"x",
        );
        assert_eq!(
            (r.status, code(&r).as_str()),
            (400, "InvalidArgument"),
            "{n}"
        );
    }
    let r = node.req(
        "PUT",
        "/s3/bc/k2?partNumber=1&uploadId=..%2F..%2Fx",
        &[],
        b"x",
    );
    assert_eq!((r.status, code(&r).as_str()), (404, "NoSuchUpload"));
    let r = node.req("POST", "/s3/nob/k?uploads", &[], b"");
    assert_eq!((r.status, code(&r).as_str()), (404, "NoSuchBucket"));
}

#[test]
fn part_md5s_survive_a_restart() {
    // Goal: with checkpoints on, uploads survive a restart: ListMultipartUploads lists them,
    // one is aborted (its parts go), ListParts shows the other's parts with their ETags and
    // its completion gets the right multipart ETag.
    let node = Node::start(2);
    assert_eq!(node.req("PUT", "/s3/rs", &[], b"").status, 200);
    let set = r#"{"action":"set-bprops","value":{"chunks":{"checkpoint_every":1}}}"#;
    let r = node.req(
        "PATCH",
        "/v1/buckets/rs",
        &[("Content-Type", "application/json")],
        set.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id = create(&node, "rs", "k", &[]);
    let p1 = bytes(9, 5 * MIB);
    let p2 = bytes(10, 10);
    let e1 = upload(&node, "rs", "k", &id, 1, &p1);
    let e2 = upload(&node, "rs", "k", &id, 2, &p2);
    let gone = create(&node, "rs", "abandoned", &[]);
    upload(&node, "rs", "abandoned", &gone, 1, &p2);
    let mut node = node;
    assert_eq!(node.stop(), 0);
    let node = Node::start_on(node.dir.clone(), node.mountpaths.clone(), free_port());
    // Both uploads are listed from their checkpoints; the abandoned one can be aborted.
    let l = node.req("GET", "/s3/rs?uploads", &[], b"").text();
    let ids: Vec<String> = l
        .split("<Upload>")
        .skip(1)
        .map(|u| xml_value(u, "UploadId"))
        .collect();
    assert_eq!(ids, [gone.clone(), id.clone()], "{l}");
    let r = node.req(
        "DELETE",
        &format!("/s3/rs/abandoned?uploadId={gone}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(node
        .files_containing("%ch")
        .iter()
        .all(|p| !p.to_string_lossy().contains("abandoned")));
    assert!(!node
        .req("GET", "/s3/rs?uploads", &[], b"")
        .text()
        .contains(&gone));
    let l = node.req("GET", &format!("/s3/rs/k?uploadId={id}"), &[], b"");
    assert_eq!(l.status, 200, "{}", l.text());
    let t = l.text();
    assert_eq!(t.matches("<Part>").count(), 2, "{t}");
    let etags: Vec<String> = t
        .split("<Part>")
        .skip(1)
        .map(|p| xml_value(p, "ETag"))
        .collect();
    assert_eq!(etags, [e1.clone(), e2.clone()], "{t}");
    let r = complete(&node, "rs", "k", &id, &[(1, &e1), (2, &e2)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let g = node.req("GET", "/s3/rs/k", &[], b"");
    assert!(g.body == [p1.as_slice(), p2.as_slice()].concat());
    assert_eq!(g.header("etag"), Some(mpu_etag(&[&p1, &p2]).as_str()));
}

#[test]
fn metrics_count_multipart_operations() {
    // Goal: /metrics counts each S3 multipart operation under its own name.
    let node = Node::start(1);
    node.req("PUT", "/s3/mm", &[], b"");
    node.req("PUT", "/s3/mm/src", &[], b"source");
    let id = create(&node, "mm", "k", &[]);
    upload(&node, "mm", "k", &id, 1, b"abc");
    let r = node.req(
        "PUT",
        &format!("/s3/mm/k?partNumber=1&uploadId={id}"),
        &[("x-amz-copy-source", "/mm/src")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        xml_value(&r.text(), "ETag"),
        format!("\"{}\"", md5_hex(b"source"))
    );
    node.req("GET", &format!("/s3/mm/k?uploadId={id}"), &[], b"");
    node.req("GET", "/s3/mm?uploads", &[], b"");
    let e = format!("\"{}\"", md5_hex(b"source"));
    assert_eq!(complete(&node, "mm", "k", &id, &[(1, &e)]).status, 200);
    let id2 = create(&node, "mm", "k2", &[]);
    node.req("DELETE", &format!("/s3/mm/k2?uploadId={id2}"), &[], b"");
    let m = node.req("GET", "/metrics", &[], b"").text();
    let val = |op: &str| -> u64 {
        let l = m
            .lines()
            .find(|l| {
                l.starts_with("aisle_s3_requests_total{") && l.contains(&format!("op=\"{op}\""))
            })
            .unwrap_or_else(|| panic!("no {op} in /metrics"));
        l.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(val("CreateMultipartUpload"), 2);
    assert_eq!(val("UploadPart"), 1);
    assert_eq!(val("UploadPartCopy"), 1);
    assert_eq!(val("ListParts"), 1);
    assert_eq!(val("ListMultipartUploads"), 1);
    assert_eq!(val("CompleteMultipartUpload"), 1);
    assert_eq!(val("AbortMultipartUpload"), 1);
    assert_eq!(node.req("GET", "/s3/mm/k", &[], b"").body, b"source");
}

/// An unsigned `aws-chunked` body of `data` in `chunk`-byte chunks with one trailer field.
fn aws_chunked_trailer(data: &[u8], chunk: usize, trailer: (&str, &str)) -> Vec<u8> {
    let mut out = Vec::new();
    for p in data.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("0\r\n{}:{}\r\n\r\n", trailer.0, trailer.1).as_bytes());
    out
}

/// The part numbers ListParts shows for an upload.
fn listed_parts(node: &Node, b: &str, k: &str, id: &str) -> Vec<u32> {
    let r = node.req("GET", &format!("/s3/{b}/{k}?uploadId={id}"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    t.split("<PartNumber>")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap()].parse().unwrap())
        .collect()
}

#[test]
fn upload_part_takes_aws_chunked_and_checksummed_bodies() {
    // Goal: UploadPart decodes aws-chunked bodies as PutObject does (what boto3 sends over
    // TLS: STREAMING-UNSIGNED-PAYLOAD-TRAILER with x-amz-checksum-crc32, inside HTTP chunked;
    // and signed chunks on a node without keys): the part's ETag is the MD5 of the decoded
    // bytes and the verified checksum is echoed; a wrong trailing checksum, a wrong
    // x-amz-checksum-* header and a wrong signed SHA-256 are 400 with no part stored (an
    // earlier part of that number kept); the completed object reads back byte-exact.
    use net::amzcksum::{checksum, Algo};
    let node = Node::start(2);
    assert_eq!(node.req("PUT", "/s3/ac", &[], b"").status, 200);
    let id = create(&node, "ac", "k", &[]);
    let p1 = bytes(21, 5 * MIB + 3);
    let p2 = bytes(22, 700_001);
    let url = |n: u32| format!("/s3/ac/k?partNumber={n}&uploadId={id}");
    let trailer_hdrs = |len: usize, algo: Algo| -> Vec<(&'static str, String)> {
        vec![
            ("Content-Encoding", "aws-chunked".into()),
            (
                "x-amz-content-sha256",
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER".into(),
            ),
            ("x-amz-decoded-content-length", len.to_string()),
            ("x-amz-trailer", algo.header_name().into()),
            ("x-amz-sdk-checksum-algorithm", algo.name().into()),
        ]
    };
    let send = |n: u32, h: &[(&str, String)], body: &[u8]| {
        let h: Vec<(&str, &str)> = h.iter().map(|(a, v)| (*a, v.as_str())).collect();
        node.req("PUT", &url(n), &h, body)
    };
    // Part 1: unsigned trailer, CRC32.
    let c1 = checksum(Algo::Crc32, &p1).to_base64();
    let body = aws_chunked_trailer(&p1, 65_536, ("x-amz-checksum-crc32", &c1));
    let r = send(1, &trailer_hdrs(p1.len(), Algo::Crc32), &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let e1 = r.header("etag").unwrap().to_string();
    assert_eq!(e1, format!("\"{}\"", md5_hex(&p1)));
    assert_eq!(r.header("x-amz-checksum-crc32"), Some(c1.as_str()));
    // Part 2 with a wrong trailing checksum: refused, nothing stored.
    let wrong = checksum(Algo::Crc32c, b"other").to_base64();
    let body = aws_chunked_trailer(&p2, 50_000, ("x-amz-checksum-crc32c", &wrong));
    let r = send(2, &trailer_hdrs(p2.len(), Algo::Crc32c), &body);
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "BadDigest"),
        "{}",
        r.text()
    );
    assert_eq!(listed_parts(&node, "ac", "k", &id), [1]);
    // A wrong header checksum (plain body) and a wrong signed SHA-256: refused too.
    let r = node.req(
        "PUT",
        &url(2),
        &[(
            "x-amz-checksum-sha256",
            &checksum(Algo::Sha256, b"x").to_base64(),
        )],
        &p2,
    );
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "BadDigest"),
        "{}",
        r.text()
    );
    let r = node.req(
        "PUT",
        &url(2),
        &[("x-amz-content-sha256", &"0".repeat(64))],
        &p2,
    );
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "XAmzContentSHA256Mismatch"),
        "{}",
        r.text()
    );
    // A wrong re-upload of part 1 leaves the good part 1 in place.
    let body = aws_chunked_trailer(&p1, 65_536, ("x-amz-checksum-crc32", &wrong[..8]));
    let r = send(1, &trailer_hdrs(p1.len(), Algo::Crc32), &body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(listed_parts(&node, "ac", "k", &id), [1]);
    assert!(
        node.work_files("ac").is_empty(),
        "{:?}",
        node.work_files("ac")
    );
    // Part 2: signed chunks on a node without keys (decoded, signatures not checkable), and a
    // right header checksum.
    let mut body = Vec::new();
    for p in p2.chunks(100_000) {
        body.extend_from_slice(
            format!("{:x};chunk-signature={}\r\n", p.len(), "a".repeat(64)).as_bytes(),
        );
        body.extend_from_slice(p);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("0;chunk-signature={}\r\n\r\n", "a".repeat(64)).as_bytes());
    let c2 = checksum(Algo::Sha256, &p2).to_base64();
    let len2 = p2.len().to_string();
    let r = node.req(
        "PUT",
        &url(2),
        &[
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("x-amz-decoded-content-length", &len2),
            ("x-amz-checksum-sha256", &c2),
        ],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let e2 = r.header("etag").unwrap().to_string();
    assert_eq!(e2, format!("\"{}\"", md5_hex(&p2)));
    assert_eq!(r.header("x-amz-checksum-sha256"), Some(c2.as_str()));
    assert_eq!(listed_parts(&node, "ac", "k", &id), [1, 2]);
    let r = complete(&node, "ac", "k", &id, &[(1, &e1), (2, &e2)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(xml_value(&r.text(), "ETag"), mpu_etag(&[&p1, &p2]));
    let g = node.req("GET", "/s3/ac/k", &[], b"");
    assert_eq!(g.status, 200);
    assert!(g.body.len() == p1.len() + p2.len() && g.body[..p1.len()] == p1[..]);
    assert_eq!(&g.body[p1.len()..], &p2[..]);
}

#[test]
fn get_and_head_of_one_part() {
    // Goal: ?partNumber=N of a multipart-uploaded object answers that part's bytes, 206,
    // Content-Range, x-amz-mp-parts-count and the whole object's ETag (GET and HEAD); a part
    // past the last is 416 InvalidPartNumber; 0, 10001 or text is 400; with a Range 400; a
    // non-multipart object is one part (partNumber=1 all of it, 2 is 416); a missing key 404.
    let node = Node::start(2);
    assert_eq!(node.req("PUT", "/s3/gp", &[], b"").status, 200);
    let parts = [
        bytes(31, 5 * MIB),
        bytes(32, 5 * MIB + 17),
        bytes(33, 12_345),
    ];
    let id = create(&node, "gp", "m", &[]);
    let tags: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| upload(&node, "gp", "m", &id, i as u32 + 1, p))
        .collect();
    let list: Vec<(u32, &str)> = tags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as u32 + 1, e.as_str()))
        .collect();
    let r = complete(&node, "gp", "m", &id, &list);
    assert_eq!(r.status, 200, "{}", r.text());
    let etag = mpu_etag(&[&parts[0], &parts[1], &parts[2]]);
    let total: usize = parts.iter().map(Vec::len).sum();
    let mut start = 0;
    for (i, p) in parts.iter().enumerate() {
        let path = format!("/s3/gp/m?partNumber={}", i + 1);
        let cr = format!("bytes {}-{}/{total}", start, start + p.len() - 1);
        let g = node.req("GET", &path, &[], b"");
        assert_eq!(g.status, 206, "part {}: {}", i + 1, g.text());
        assert!(g.body == *p, "part {} bytes differ", i + 1);
        assert_eq!(g.header("content-range"), Some(cr.as_str()));
        assert_eq!(g.header("x-amz-mp-parts-count"), Some("3"));
        assert_eq!(g.header("etag"), Some(etag.as_str()));
        let h = node.req("HEAD", &path, &[], b"");
        assert_eq!(h.status, 206);
        assert_eq!(
            h.header("content-length"),
            Some(p.len().to_string().as_str())
        );
        assert_eq!(h.header("content-range"), Some(cr.as_str()));
        assert_eq!(h.header("x-amz-mp-parts-count"), Some("3"));
        start += p.len();
    }
    for method in ["GET", "HEAD"] {
        let r = node.req(method, "/s3/gp/m?partNumber=4", &[], b"");
        assert_eq!(r.status, 416, "{method}");
        if method == "GET" {
            assert_eq!(code(&r), "InvalidPartNumber");
        }
        for bad in ["0", "10001", "x", ""] {
            let r = node.req(method, &format!("/s3/gp/m?partNumber={bad}"), &[], b"");
            assert_eq!(r.status, 400, "{method} partNumber={bad}");
        }
        let r = node.req(
            method,
            "/s3/gp/m?partNumber=1",
            &[("Range", "bytes=0-9")],
            b"",
        );
        assert_eq!(r.status, 400, "{method} with Range");
        let r = node.req(method, "/s3/gp/none?partNumber=1", &[], b"");
        assert_eq!(r.status, 404, "{method} missing");
    }
    let r = node.req("GET", "/s3/gp/m?partNumber=4", &[], b"");
    assert_eq!(code(&r), "InvalidPartNumber");
    // A plain object is one part.
    let plain = bytes(34, 100_000);
    assert_eq!(node.req("PUT", "/s3/gp/plain", &[], &plain).status, 200);
    let g = node.req("GET", "/s3/gp/plain?partNumber=1", &[], b"");
    assert_eq!(g.status, 206);
    assert!(g.body == plain);
    assert_eq!(g.header("content-range"), Some("bytes 0-99999/100000"));
    assert_eq!(g.header("x-amz-mp-parts-count"), None);
    let r = node.req("GET", "/s3/gp/plain?partNumber=2", &[], b"");
    assert_eq!((r.status, code(&r).as_str()), (416, "InvalidPartNumber"));
    // An empty object: partNumber=1 is all of it (nothing).
    assert_eq!(node.req("PUT", "/s3/gp/empty", &[], b"").status, 200);
    let g = node.req("GET", "/s3/gp/empty?partNumber=1", &[], b"");
    assert_eq!((g.status, g.body.len()), (200, 0));
}
