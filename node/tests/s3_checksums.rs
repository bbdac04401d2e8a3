//! S3 PUT bodies checked on the way in, by raw requests: `x-amz-checksum-*` headers of every
//! algorithm (stored, returned only with `x-amz-checksum-mode: ENABLED`), `aws-chunked`
//! bodies (unsigned trailer; signed chunks, unchecked without credentials and checked with
//! them), a signed `x-amz-content-sha256` — and every mismatch refused with nothing stored.
//! Also SigV4 with configured keys: unsigned, wrong-secret and unknown-key requests refused.
mod common;
use common::*;

use std::time::SystemTime;

use md5::Digest as _;
use net::amzcksum::{checksum, Algo};
use net::sigv4::{self, ChunkSigner};

/// The `<Code>` of an S3 XML error body.
fn code(r: &Resp) -> String {
    let t = r.text();
    match (t.find("<Code>"), t.find("</Code>")) {
        (Some(s), Some(e)) => t[s + 6..e].to_string(),
        _ => panic!("no Code in {t:?}"),
    }
}

fn md5_etag(data: &[u8]) -> String {
    format!("\"{:x}\"", md5::Md5::digest(data))
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sigv4::hex(&sha2::Sha256::digest(data))
}

/// An `aws-chunked` body in chunks of `chunk` bytes: unsigned (with an optional trailer
/// field) or signed by `signer`.
fn aws_chunked(
    data: &[u8],
    chunk: usize,
    mut signer: Option<&mut ChunkSigner>,
    trailer: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pieces: Vec<&[u8]> = data.chunks(chunk).collect();
    pieces.push(b"");
    for p in pieces {
        out.extend_from_slice(format!("{:x}", p.len()).as_bytes());
        if let Some(s) = signer.as_deref_mut() {
            use sha2::Digest as _;
            let sha: [u8; 32] = sha2::Sha256::digest(p).into();
            out.extend_from_slice(b";chunk-signature=");
            out.extend_from_slice(sigv4::hex(&s.sign_chunk(&sha)).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !p.is_empty() {
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some((n, v)) = trailer {
        out.extend_from_slice(format!("{n}:{v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn assert_absent(node: &Node, b: &str, k: &str) {
    // Through the AIS API, which takes no S3 credentials.
    assert_eq!(node.head(b, k).status, 404, "{b}/{k} was stored");
    assert!(node.work_files(b).is_empty(), "{:?}", node.work_files(b));
}

#[test]
fn checksum_headers_verified_stored_and_returned() {
    // Goal: each x-amz-checksum-* header is verified; the PUT echoes it; GET and HEAD return it
    // only with x-amz-checksum-mode: ENABLED, and not for a range; a wrong one is 400
    // BadDigest with nothing stored (an older object under the key intact); malformed
    // declarations are 400 InvalidRequest.
    let node = Node::start(1);
    assert_eq!(node.req("PUT", "/s3/ck", &[], b"").status, 200);
    let data = bytes(7, 100_000);
    for algo in Algo::ALL {
        let v = checksum(algo, &data).to_base64();
        let path = format!("/s3/ck/{}", algo.name());
        let r = node.req(
            "PUT",
            &path,
            &[
                (algo.header_name(), &v),
                ("x-amz-sdk-checksum-algorithm", algo.name()),
            ],
            &data,
        );
        assert_eq!(r.status, 200, "{algo:?}: {}", r.text());
        assert_eq!(r.header("etag"), Some(md5_etag(&data).as_str()));
        assert_eq!(r.header(algo.header_name()), Some(v.as_str()));
        let mode = [("x-amz-checksum-mode", "ENABLED")];
        let g = node.req("GET", &path, &mode, b"");
        assert_eq!(g.body, data);
        assert_eq!(g.header(algo.header_name()), Some(v.as_str()), "{algo:?}");
        let h = node.req("HEAD", &path, &mode, b"");
        assert_eq!(h.header(algo.header_name()), Some(v.as_str()), "{algo:?}");
        let plain = node.req("GET", &path, &[], b"");
        assert_eq!(plain.header(algo.header_name()), None);
        let ranged = node.req(
            "GET",
            &path,
            &[("x-amz-checksum-mode", "ENABLED"), ("Range", "bytes=0-9")],
            b"",
        );
        assert_eq!(ranged.status, 206);
        assert_eq!(ranged.header(algo.header_name()), None);
    }
    // A wrong value: refused, nothing stored, and an older object under the key intact.
    let wrong = checksum(Algo::Crc32, b"other").to_base64();
    let r = node.req(
        "PUT",
        "/s3/ck/new",
        &[("x-amz-checksum-crc32", &wrong)],
        &data,
    );
    assert_eq!((r.status, code(&r).as_str()), (400, "BadDigest"));
    assert_absent(&node, "ck", "new");
    let r = node.req(
        "PUT",
        "/s3/ck/CRC32",
        &[("x-amz-checksum-crc32", &wrong)],
        b"new",
    );
    assert_eq!((r.status, code(&r).as_str()), (400, "BadDigest"));
    assert_eq!(node.req("GET", "/s3/ck/CRC32", &[], b"").body, data);
    // Malformed declarations.
    let c32 = checksum(Algo::Crc32, &data).to_base64();
    let sha = checksum(Algo::Sha256, &data).to_base64();
    let bad: [&[(&str, &str)]; 5] = [
        &[
            ("x-amz-checksum-crc32", &c32),
            ("x-amz-checksum-sha256", &sha),
        ],
        &[("x-amz-checksum-crc32", "not base64!")],
        &[("x-amz-checksum-crc32", &sha)],
        &[("x-amz-sdk-checksum-algorithm", "CRC32")],
        &[
            ("x-amz-checksum-crc32", &c32),
            ("x-amz-sdk-checksum-algorithm", "SHA256"),
        ],
    ];
    for h in bad {
        let r = node.req("PUT", "/s3/ck/bad", h, &data);
        assert_eq!(
            (r.status, code(&r).as_str()),
            (400, "InvalidRequest"),
            "{h:?}"
        );
        assert_absent(&node, "ck", "bad");
    }
    // The AIS API sees the checksum as custom metadata, the data as it was sent.
    let g = node.get("ck", "SHA256");
    assert_eq!(g.body, data);
}

#[test]
fn aws_chunked_bodies_decoded_and_verified() {
    // Goal: an unsigned-trailer aws-chunked body is stored decoded (ETag = MD5 of the data),
    // its trailing checksum kept and returned; a wrong trailing checksum, a missing
    // x-amz-decoded-content-length, a length that disagrees, a truncated body and bad framing
    // are refused with nothing stored. Without credentials a signed body is decoded, its
    // chunk signatures not checkable.
    let node = Node::start(2);
    assert_eq!(node.req("PUT", "/s3/ac", &[], b"").status, 200);
    let data = bytes(11, 200_000);
    let len = data.len().to_string();
    let crc = checksum(Algo::Crc32c, &data).to_base64();
    let hdrs = |trailer: &'static str, decoded: &str| -> Vec<(&'static str, String)> {
        vec![
            ("Content-Encoding", "aws-chunked".into()),
            (
                "x-amz-content-sha256",
                sigv4::STREAMING_UNSIGNED_TRAILER.into(),
            ),
            ("x-amz-decoded-content-length", decoded.into()),
            ("x-amz-trailer", trailer.into()),
            ("x-amz-sdk-checksum-algorithm", "CRC32C".into()),
        ]
    };
    let put = |k: &str, h: &[(&str, String)], body: &[u8]| {
        let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
        node.req("PUT", &format!("/s3/ac/{k}"), &h, body)
    };
    let good = aws_chunked(&data, 65_536, None, Some(("x-amz-checksum-crc32c", &crc)));
    let r = put("good", &hdrs("x-amz-checksum-crc32c", &len), &good);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag"), Some(md5_etag(&data).as_str()));
    assert_eq!(r.header("x-amz-checksum-crc32c"), Some(crc.as_str()));
    let g = node.req(
        "GET",
        "/s3/ac/good",
        &[("x-amz-checksum-mode", "ENABLED")],
        b"",
    );
    assert_eq!(g.body, data);
    assert_eq!(g.header("x-amz-checksum-crc32c"), Some(crc.as_str()));
    // The stored content-encoding is not aws-chunked (a transfer detail).
    assert_eq!(g.header("content-encoding"), None);

    let wrong = checksum(Algo::Crc32c, b"x").to_base64();
    let bad = aws_chunked(&data, 65_536, None, Some(("x-amz-checksum-crc32c", &wrong)));
    let r = put("bad", &hdrs("x-amz-checksum-crc32c", &len), &bad);
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "BadDigest"),
        "{}",
        r.text()
    );
    assert_absent(&node, "ac", "bad");

    let mut no_len = hdrs("x-amz-checksum-crc32c", &len);
    no_len.retain(|(n, _)| *n != "x-amz-decoded-content-length");
    let r = put("bad", &no_len, &good);
    assert_eq!((r.status, code(&r).as_str()), (411, "MissingContentLength"));
    assert_absent(&node, "ac", "bad");

    let shorter = (data.len() - 1).to_string();
    let r = put("bad", &hdrs("x-amz-checksum-crc32c", &shorter), &good);
    assert_eq!((r.status, code(&r).as_str()), (400, "IncompleteBody"));
    assert_absent(&node, "ac", "bad");

    // Cut before the final chunk: the body ends (Content-Length) mid-stream.
    let r = put(
        "bad",
        &hdrs("x-amz-checksum-crc32c", &len),
        &good[..good.len() / 2],
    );
    assert_eq!((r.status, code(&r).as_str()), (400, "IncompleteBody"));
    assert_absent(&node, "ac", "bad");

    // Unsigned framing with a chunk signature is malformed.
    let mut s = ChunkSigner::new([1; 32], "20260101T000000Z", "x", [2; 32]);
    let signed = aws_chunked(&data, 65_536, Some(&mut s), None);
    let r = put("bad", &hdrs("", &len)[..4], &signed);
    assert_eq!((r.status, code(&r).as_str()), (400, "InvalidRequest"));
    assert_absent(&node, "ac", "bad");

    // No credentials: signed chunks decode (their signatures cannot be checked).
    let h = [
        ("Content-Encoding", "aws-chunked"),
        ("x-amz-content-sha256", sigv4::STREAMING_SIGNED),
        ("x-amz-decoded-content-length", len.as_str()),
    ];
    let r = node.req("PUT", "/s3/ac/signed", &h, &signed);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(node.req("GET", "/s3/ac/signed", &[], b"").body, data);
    // Content-Encoding: aws-chunked without a STREAMING-* payload is refused.
    let r = node.req(
        "PUT",
        "/s3/ac/bad",
        &[("Content-Encoding", "aws-chunked")],
        &good,
    );
    assert_eq!((r.status, code(&r).as_str()), (400, "InvalidRequest"));
    assert_absent(&node, "ac", "bad");
}

#[test]
fn content_sha256_checked_without_credentials() {
    // Goal: a body whose x-amz-content-sha256 does not match is 400 XAmzContentSHA256Mismatch
    // and stores nothing; a matching one is stored; a value that is no hash is 400.
    let node = Node::start(1);
    assert_eq!(node.req("PUT", "/s3/sh", &[], b"").status, 200);
    let r = node.req(
        "PUT",
        "/s3/sh/k",
        &[("x-amz-content-sha256", &sha256_hex(b"other"))],
        b"data",
    );
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "XAmzContentSHA256Mismatch")
    );
    assert_absent(&node, "sh", "k");
    let r = node.req(
        "PUT",
        "/s3/sh/k",
        &[("x-amz-content-sha256", &sha256_hex(b"data"))],
        b"data",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = node.req(
        "PUT",
        "/s3/sh/j",
        &[("x-amz-content-sha256", "nope")],
        b"data",
    );
    assert_eq!((r.status, code(&r).as_str()), (400, "InvalidArgument"));
    assert_absent(&node, "sh", "j");
}

const AK: &str = "AKTESTKEY";
const SK: &str = "test/secret+key";

/// Signs a request to `node` as a client does; returns its headers (with `extra`).
fn signed(
    node: &Node,
    method: &str,
    path_query: &str,
    payload: &str,
    extra: &[(&str, &str)],
    secret: &str,
) -> (Vec<(String, String)>, sigv4::ClientSignature) {
    let date = sigv4::format_amz_date(SystemTime::now());
    let host = format!("127.0.0.1:{}", node.port);
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host),
        ("x-amz-content-sha256".into(), payload.into()),
        ("x-amz-date".into(), date.clone()),
    ];
    for (n, v) in extra {
        headers.push((n.to_ascii_lowercase(), v.to_string()));
    }
    headers.sort();
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let pairs: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    let req = sigv4::Request {
        method,
        raw_path: path,
        raw_query: query,
        headers: &pairs,
    };
    let s = sigv4::sign_request(&req, &names, payload, AK, secret, "us-east-1", &date)
        .expect("headers present");
    headers.retain(|(n, _)| n != "host");
    headers.push(("authorization".into(), s.authorization.clone()));
    (headers, s)
}

fn send(node: &Node, method: &str, pq: &str, h: &[(String, String)], body: &[u8]) -> Resp {
    let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    node.req(method, pq, &h, body)
}

#[test]
fn sigv4_required_with_keys_and_chunk_signatures_checked() {
    // Goal: with --s3-access-key every S3 request needs a valid signature: unsigned → 403
    // AccessDenied, a wrong secret → 403 SignatureDoesNotMatch, an unknown key → 403
    // InvalidAccessKeyId (nothing stored by any); a signed PUT with a wrong body hash → 400;
    // signed aws-chunked bodies stored when every chunk signature holds, refused (403, nothing
    // stored) when one does not. The AIS API is not affected.
    let node = Node::start_with_args(1, &["--s3-access-key", &format!("{AK}:{SK}")]);
    let empty = sigv4::EMPTY_SHA256_HEX;
    let r = node.req("PUT", "/s3/sg", &[], b"");
    assert_eq!((r.status, code(&r).as_str()), (403, "AccessDenied"));
    let (h, _) = signed(&node, "PUT", "/s3/sg", empty, &[], SK);
    assert_eq!(send(&node, "PUT", "/s3/sg", &h, b"").status, 200);
    let (h, _) = signed(&node, "GET", "/s3/sg?list-type=2", empty, &[], SK);
    let r = send(&node, "GET", "/s3/sg?list-type=2", &h, b"");
    assert_eq!(r.status, 200, "{}", r.text());

    let data = bytes(3, 150_000);
    let sha = sha256_hex(&data);
    let (h, _) = signed(&node, "PUT", "/s3/sg/k", &sha, &[], "wrong");
    let r = send(&node, "PUT", "/s3/sg/k", &h, &data);
    assert_eq!(
        (r.status, code(&r).as_str()),
        (403, "SignatureDoesNotMatch")
    );
    assert_absent(&node, "sg", "k");
    let (mut h, _) = signed(&node, "PUT", "/s3/sg/k", &sha, &[], SK);
    for (n, v) in h.iter_mut() {
        if n == "authorization" {
            *v = v.replace(AK, "AKUNKNOWN");
        }
    }
    let r = send(&node, "PUT", "/s3/sg/k", &h, &data);
    assert_eq!((r.status, code(&r).as_str()), (403, "InvalidAccessKeyId"));
    assert_absent(&node, "sg", "k");
    // Signed hash of other data: the signature holds, the body does not.
    let (h, _) = signed(&node, "PUT", "/s3/sg/k", &sha256_hex(b"x"), &[], SK);
    let r = send(&node, "PUT", "/s3/sg/k", &h, &data);
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "XAmzContentSHA256Mismatch")
    );
    assert_absent(&node, "sg", "k");
    let (h, _) = signed(&node, "PUT", "/s3/sg/k", &sha, &[], SK);
    let r = send(&node, "PUT", "/s3/sg/k", &h, &data);
    assert_eq!(r.status, 200, "{}", r.text());
    let (h, _) = signed(&node, "GET", "/s3/sg/k", empty, &[], SK);
    assert_eq!(send(&node, "GET", "/s3/sg/k", &h, b"").body, data);

    // Signed aws-chunked: good chunks stored, a forged one refused.
    let len = data.len().to_string();
    for forge in [false, true] {
        let key = if forge {
            "/s3/sg/forged"
        } else {
            "/s3/sg/chunked"
        };
        let extra = [
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", len.as_str()),
        ];
        let (h, s) = signed(&node, "PUT", key, sigv4::STREAMING_SIGNED, &extra, SK);
        let amz_date = h.iter().find(|(n, _)| n == "x-amz-date").unwrap().1.clone();
        let mut signer = ChunkSigner::new(s.key, &amz_date, &s.scope, s.signature);
        let mut body = aws_chunked(&data, 64 * 1024, Some(&mut signer), None);
        if forge {
            // Flip one data byte of the second chunk: its signature no longer holds.
            let i = body.len() / 2;
            body[i] ^= 1;
        }
        let r = send(&node, "PUT", key, &h, &body);
        if forge {
            assert_eq!(
                (r.status, code(&r).as_str()),
                (403, "SignatureDoesNotMatch"),
                "{}",
                r.text()
            );
            assert_absent(&node, "sg", "forged");
        } else {
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(r.header("etag"), Some(md5_etag(&data).as_str()));
            let (h, _) = signed(&node, "GET", key, empty, &[], SK);
            assert_eq!(send(&node, "GET", key, &h, b"").body, data);
        }
    }
    // A signed request with an unsigned-trailer aws-chunked body: a wrong trailing checksum
    // is refused with nothing stored; the right one is stored and reads back.
    let crc = checksum(Algo::Crc32, &data).to_base64();
    let wrong = checksum(Algo::Crc32, b"x").to_base64();
    for (key, value) in [("/s3/sg/trl-bad", &wrong), ("/s3/sg/trl", &crc)] {
        let extra = [
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", len.as_str()),
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ];
        let (h, _) = signed(
            &node,
            "PUT",
            key,
            sigv4::STREAMING_UNSIGNED_TRAILER,
            &extra,
            SK,
        );
        let body = aws_chunked(&data, 50_000, None, Some(("x-amz-checksum-crc32", value)));
        let r = send(&node, "PUT", key, &h, &body);
        if value == &wrong {
            assert_eq!(
                (r.status, code(&r).as_str()),
                (400, "BadDigest"),
                "{}",
                r.text()
            );
            assert_absent(&node, "sg", "trl-bad");
        } else {
            assert_eq!(r.status, 200, "{}", r.text());
            let (h, _) = signed(
                &node,
                "GET",
                key,
                empty,
                &[("x-amz-checksum-mode", "ENABLED")],
                SK,
            );
            let g = send(&node, "GET", key, &h, b"");
            assert_eq!(g.body, data);
            assert_eq!(g.header("x-amz-checksum-crc32"), Some(crc.as_str()));
        }
    }
    // The AIS API does not take S3 credentials.
    assert_eq!(node.get("sg", "k").body, data);
}
