//! The S3 front end through stock clients and raw requests: boto3 at its default settings
//! (`s3/boto3_test.py`, one case per test), the AWS CLI and s3cmd (`s3/clients_test.py`), and
//! Rust-level checks of what the clients do not show: S3 XML errors, objects shared with the
//! AIS API, malformed aws-chunked bodies refused without storing anything, `/metrics`
//! per S3 operation, and `--s3-at-root`. The interpreter comes from `AISLE_PYTHON` (set by
//! `scripts/test.sh`), else `<workspace>/.venv/bin/python`; a missing one fails the test.
mod common;
use common::*;

use std::path::PathBuf;

use md5::Digest as _;
use std::process::Command;

fn python() -> PathBuf {
    match std::env::var_os("AISLE_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

const HOW_TO_FIX: &str = "run `scripts/test.sh` from the workspace root (it creates .venv and installs \
                          scripts/requirements-test.txt), or set AISLE_PYTHON to a Python that has them";

/// Runs `tests/s3/<script> <url> <case>` against `node`; requires exit 0 and `done`.
fn run_script(node: &Node, script_name: &str, case: &str, done: &str) {
    run_script_env(node, script_name, case, done, &[]);
}

/// `run_script` with extra environment variables.
fn run_script_env(node: &Node, script_name: &str, case: &str, done: &str, env: &[(&str, &str)]) {
    let py = python();
    assert!(
        py.exists(),
        "Python {} not found: {HOW_TO_FIX}",
        py.display()
    );
    let probe = Command::new(&py)
        .args(["-c", "import boto3, awscli, S3; print(boto3.__version__)"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {HOW_TO_FIX}", py.display()));
    assert!(
        probe.status.success(),
        "{} lacks boto3/awscli/s3cmd: {}\n{HOW_TO_FIX}",
        py.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/s3")
        .join(script_name);
    let out = Command::new(&py)
        .arg(&script)
        .arg(node.url())
        .arg(case)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- {script_name} {case} stdout\n{stdout}--- stderr\n{stderr}---");
    assert!(
        out.status.success(),
        "{script_name} {case} failed ({}):\n{stdout}\n{stderr}\nnode log:\n{}",
        out.status,
        node.log_text()
    );
    assert!(
        stdout.contains(done),
        "{script_name} {case} did not finish:\n{stdout}"
    );
}

fn boto3_case(mountpaths: usize, case: &str) {
    let node = Node::start(mountpaths);
    run_script(&node, "boto3_test.py", case, &format!("boto3 {case}: OK"));
}

#[test]
fn boto3_buckets() {
    // Goal: create (twice: BucketAlreadyOwnedByYou), list, head (region header, 404), location,
    // versioning round trip, delete (BucketNotEmpty, NoSuchBucket), 501 for ACL.
    boto3_case(2, "buckets");
}

#[test]
fn boto3_objects() {
    // Goal: put/get/head of small objects with awkward keys, metadata and Content-Type; ETag =
    // MD5; a folder marker beside keys under it; `a` then `a/b` on one mountpath: KeyConflict
    // and `a` intact; ranges (and 416); Content-MD5 checked (BadDigest stores nothing);
    // response-* parameters set GET/HEAD headers without changing what is stored (CR/LF in
    // one: 400 InvalidArgument); delete (204, then NoSuchKey).
    boto3_case(1, "objects");
}

#[test]
fn boto3_big_object() {
    // Goal: a 50 MiB put_object/get_object/range/head/delete (direct-I/O PUT path), byte-exact.
    boto3_case(2, "big");
}

#[test]
fn boto3_listing() {
    // Goal: 2,500+ keys listed exactly once and in order by the V2 and V1 paginators; KeyCount
    // and IsTruncated per page; delimiter with pages of common prefixes only; start-after,
    // marker, prefix; a folder marker listed as a key.
    boto3_case(2, "listing");
}

#[test]
fn boto3_copy() {
    // Goal: copy across buckets keeps data, ETag, metadata and Content-Type; REPLACE takes the
    // request's; self-copy needs REPLACE; missing source NoSuchKey; copy-source-if-match 412;
    // versionId "null" is served and copied, any other is 400 InvalidArgument for GET, HEAD,
    // copy and DELETE, and changes nothing.
    boto3_case(2, "copy");
}

#[test]
fn boto3_multi_delete() {
    // Goal: DeleteObjects lists deleted keys (missing ones too), Quiet lists none, all gone; an
    // entry naming a version other than "null" is an InvalidArgument error and its object stays.
    boto3_case(2, "delete");
}

#[test]
fn boto3_conditional_get() {
    // Goal: If-Match/If-None-Match/If-Modified-Since/If-Unmodified-Since: 412, 304 or the body;
    // PutObject and CompleteMultipartUpload with If-None-Match: * create only (412 over an
    // existing key, nothing changed); PutObject with If-Match replaces only a matching ETag.
    boto3_case(2, "conditional");
}

#[test]
fn boto3_transfer_multipart() {
    // Goal: s3transfer's multipart upload and ranged parallel download of 100 MiB (default
    // TransferConfig), byte-exact, with S3's multipart ETag "md5(part md5s)-13".
    boto3_case(2, "transfer");
}

#[test]
fn boto3_multipart_checksums_and_part_reads() {
    // Goal: multipart uploads with boto3's default request checksums in both of its
    // encodings (aws-chunked + trailing x-amz-checksum-crc32, as over TLS; a header over
    // HTTP) store byte-exact objects with the multipart ETag; upload_part echoes its checksum
    // and a wrong one is BadDigest with no part left; get_object/head_object(PartNumber=N)
    // return part N (206, PartsCount, ContentRange), N past the last is InvalidPartNumber.
    boto3_case(2, "mpu_checksums");
}

/// The access key of the nodes started with credentials, and its secret.
const KEY: &str = "AKIAISLETEST";
const SECRET: &str = "aisle/Secret+Key=1";

/// A node that requires SigV4 with `KEY`/`SECRET` (one more key in a credentials file).
fn signed_node(mountpaths: usize, extra: &[&str]) -> Node {
    let dir = tempdir("s3creds");
    let file = dir.join("credentials");
    std::fs::write(&file, "# test keys\nAKOTHER:other-secret\n").unwrap();
    let kv = format!("{KEY}:{SECRET}");
    let mut args = vec![
        "--s3-access-key",
        kv.as_str(),
        "--s3-credentials",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Node::start_with_args(mountpaths, &args)
}

const CREDS: [(&str, &str); 2] = [("AISLE_S3_KEY", KEY), ("AISLE_S3_SECRET", SECRET)];

#[test]
fn boto3_signed_credentials() {
    // Goal: with keys configured, boto3 with the right key works (put/get/head/list/delete,
    // presigned GET fetched by urllib); a wrong secret → 403 SignatureDoesNotMatch, an unknown
    // key → 403 InvalidAccessKeyId, an expired presigned URL → 403 AccessDenied, a presigned
    // URL used for another key → 403 SignatureDoesNotMatch, a presigned download link's
    // response-content-disposition is answered and signed (changed: 403), unsigned requests → 403
    // AccessDenied; none of the refused requests changed anything.
    let node = signed_node(2, &[]);
    run_script_env(&node, "boto3_test.py", "signed", "boto3 signed: OK", &CREDS);
}

#[test]
fn boto3_checksums() {
    // Goal: on a node with keys (SHA-256-signed bodies), put_object with ChecksumAlgorithm
    // CRC32/SHA1/SHA256 (CRC32C/CRC64NVME too where botocore has awscrt) round-trips: the
    // PUT echoes the checksum, GET/HEAD with ChecksumMode=ENABLED return it and botocore
    // validates the body, without it none is returned; a wrong ChecksumCRC32 is 400 BadDigest
    // with nothing stored and an older object intact; a copy keeps the checksum.
    let node = signed_node(2, &[]);
    run_script_env(
        &node,
        "boto3_test.py",
        "checksums",
        "boto3 checksums: OK",
        &CREDS,
    );
}

#[test]
fn awscli_with_credentials() {
    // Goal: the AWS CLI (which signs) works unchanged against a node requiring SigV4.
    let node = signed_node(2, &[]);
    run_script_env(&node, "clients_test.py", "awscli", "awscli: OK", &CREDS);
}

#[test]
fn s3cmd_with_credentials() {
    // Goal: s3cmd (which signs, SigV4) works unchanged against a node requiring SigV4.
    let node = signed_node(2, &["--s3-at-root"]);
    run_script_env(&node, "clients_test.py", "s3cmd", "s3cmd: OK", &CREDS);
}

#[test]
fn boto3_multipart_flow() {
    // Goal: create (metadata, Content-Type), parts out of order and one replaced, list_parts
    // (paged), complete: the object, its ETag "…-3", ranges across parts; the upload gone after.
    boto3_case(2, "mpu");
}

#[test]
fn boto3_multipart_errors() {
    // Goal: EntityTooSmall, InvalidPart, InvalidPartOrder (nothing stored, the upload goes
    // on); abort: NoSuchUpload for every later use; bad part numbers; NoSuchBucket.
    boto3_case(2, "mpu_errors");
}

#[test]
fn boto3_list_multipart_uploads() {
    // Goal: ListMultipartUploads by key and time, prefix, delimiter, paginated; completed and
    // aborted uploads not listed.
    boto3_case(2, "mpu_list");
}

#[test]
fn boto3_upload_part_copy() {
    // Goal: UploadPartCopy of ranges of a chunked and a monolithic source and of a whole small
    // object; InvalidRange, InvalidArgument, NoSuchKey, PreconditionFailed, NoSuchUpload.
    boto3_case(2, "part_copy");
}

#[test]
fn awscli_cp_ls_sync() {
    // Goal: `aws s3 mb/cp/ls/sync/rm/rb` (v1 CLI) against /s3: a folder tree synced up, listed
    // recursively and by folder, synced down identical; a second sync uploads nothing.
    let node = Node::start(2);
    run_script(&node, "clients_test.py", "awscli", "awscli: OK");
}

#[test]
fn s3cmd_put_get_ls_sync() {
    // Goal: s3cmd (which checks ETag = MD5) put/get/ls/sync/del/rb against a node serving S3
    // at the root (`--s3-at-root`: s3cmd cannot put a path before the bucket).
    let node = Node::start_with_args(2, &["--s3-at-root"]);
    run_script(&node, "clients_test.py", "s3cmd", "s3cmd: OK");
}

/// The `<Code>` of an S3 XML error body.
fn code(r: &Resp) -> String {
    let t = r.text();
    let s = t
        .find("<Code>")
        .map(|i| i + 6)
        .unwrap_or_else(|| panic!("no Code in {t}"));
    let e = t[s..].find("</Code>").unwrap() + s;
    t[s..e].to_string()
}

#[test]
fn s3_errors_are_xml_with_s3_codes() {
    // Goal: errors come as S3 XML with S3's codes and statuses; HEAD gets the status alone.
    let node = Node::start(2);
    let r = node.req("PUT", "/s3/eb", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let cases: [(&str, &str, u16, &str); 8] = [
        ("GET", "/s3/eb/missing", 404, "NoSuchKey"),
        ("GET", "/s3/nob/k", 404, "NoSuchBucket"),
        ("GET", "/s3/nob", 404, "NoSuchBucket"),
        ("PUT", "/s3/eb", 409, "BucketAlreadyOwnedByYou"),
        // A part without its upload (GET/HEAD ?partNumber read one part: s3_multipart.rs).
        ("PUT", "/s3/eb/k?partNumber=1", 501, "NotImplemented"),
        ("GET", "/s3/eb/missing?partNumber=1", 404, "NoSuchKey"),
        ("PATCH", "/s3/eb/k", 405, "MethodNotAllowed"),
        (
            "GET",
            "/s3/eb?list-type=2&max-keys=-1",
            400,
            "InvalidArgument",
        ),
    ];
    for (m, p, status, c) in cases {
        let r = node.req(m, p, &[], b"");
        assert_eq!(r.status, status, "{m} {p}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/xml"), "{m} {p}");
        assert!(r.text().starts_with("<?xml"), "{m} {p}: {}", r.text());
        assert_eq!(code(&r), c, "{m} {p}");
    }
    // A conditional write this node does not evaluate (If-None-Match with an ETag) is refused,
    // not silently turned into an overwrite; nothing stored. (If-None-Match: * and If-Match
    // are served: s3_conditional.rs.)
    let r = node.req("PUT", "/s3/eb/cw", &[("If-None-Match", "\"0123\"")], b"x");
    assert_eq!((r.status, code(&r).as_str()), (501, "NotImplemented"));
    assert_eq!(node.req("HEAD", "/s3/eb/cw", &[], b"").status, 404);
    let r = node.req("HEAD", "/s3/eb/missing", &[], b"");
    assert_eq!(r.status, 404);
    assert!(r.body.is_empty());
    // A key with markup is escaped in the error's Resource.
    let r = node.req("GET", "/s3/eb/%3Cx%3E%26", &[], b"");
    assert_eq!(code(&r), "NoSuchKey");
    assert!(
        r.text().contains("&lt;x&gt;&amp;") || r.text().contains("%3Cx%3E%26"),
        "{}",
        r.text()
    );
    assert!(!r.text().contains("<x>"), "{}", r.text());
}

#[test]
fn s3_and_ais_share_objects() {
    // Goal: an object put through S3 is read through the AIS API and the reverse; an object
    // put natively gets AIS's synthetic ETag through S3; S3's folder marker is refused by
    // the AIS API (trailing '/'), as AIS refuses it.
    let node = Node::start(2);
    node.create_bucket("sh");
    let r = node.req(
        "PUT",
        "/s3/sh/from-s3",
        &[("x-amz-meta-k", "v")],
        b"s3 data",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let want = format!("\"{:x}\"", md5::Md5::digest(b"s3 data"));
    assert_eq!(r.header("etag"), Some(want.as_str()));
    let g = node.get("sh", "from-s3");
    assert_eq!((g.status, g.body.as_slice()), (200, &b"s3 data"[..]));
    assert!(
        g.headers
            .iter()
            .any(|(k, v)| k == "ais-custom-md" && v == "X-Amz-Meta-K=v"),
        "{:?}",
        g.headers
    );
    assert_eq!(node.put("sh", "native", b"native data").status, 200);
    let g = node.req("GET", "/s3/sh/native", &[], b"");
    assert_eq!((g.status, g.body.as_slice()), (200, &b"native data"[..]));
    let etag = g.header("etag").unwrap();
    assert!(
        etag.starts_with("\"v1-") && etag.contains(&xxhash2(b"native data")),
        "{etag}"
    );
    assert_eq!(node.req("PUT", "/s3/sh/folder/", &[], b"").status, 200);
    assert_eq!(node.get("sh", "folder/").status, 400);
    assert_eq!(node.req("GET", "/s3/sh/folder/", &[], b"").status, 200);
}

#[test]
fn malformed_aws_chunked_refused_and_chunked_te_stored() {
    // Goal: a malformed aws-chunked body (a chunk signature in the unsigned framing) gets 400
    // and stores nothing (s3_checksums.rs covers well-formed ones); a Transfer-Encoding:
    // chunked body is stored with the MD5 ETag of its content.
    let node = Node::start(1);
    assert_eq!(node.req("PUT", "/s3/ub", &[], b"").status, 200);
    let framed = b"5;chunk-signature=00\r\nhello\r\n0\r\n\r\n";
    let r = node.req(
        "PUT",
        "/s3/ub/k",
        &[
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-decoded-content-length", "5"),
        ],
        framed,
    );
    assert_eq!(
        (r.status, code(&r).as_str()),
        (400, "InvalidRequest"),
        "{}",
        r.text()
    );
    assert_eq!(node.req("HEAD", "/s3/ub/k", &[], b"").status, 404);
    let raw = b"PUT /s3/ub/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    let (r, _) = raw_request(node.port, raw, false, false);
    assert_eq!(r.status, 200, "{}", r.text());
    let want = format!("\"{:x}\"", md5::Md5::digest(b"abcdefg"));
    assert_eq!(r.header("etag"), Some(want.as_str()));
    let g = node.req("GET", "/s3/ub/chunked", &[], b"");
    assert_eq!(g.body, b"abcdefg");
}

#[test]
fn metrics_count_s3_operations() {
    // Goal: /metrics counts S3 requests by operation.
    let node = Node::start(1);
    node.req("PUT", "/s3/mb", &[], b"");
    for i in 0..3 {
        node.req("PUT", &format!("/s3/mb/k{i}"), &[], b"x");
    }
    node.req("GET", "/s3/mb/k0", &[], b"");
    node.req("GET", "/s3/mb?list-type=2", &[], b"");
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
    assert_eq!(val("CreateBucket"), 1);
    assert_eq!(val("PutObject"), 3);
    assert_eq!(val("GetObject"), 1);
    assert_eq!(val("ListObjectsV2"), 1);
    assert_eq!(val("DeleteObject"), 0);
}

#[test]
fn s3_at_root_only_with_the_flag() {
    // Goal: without --s3-at-root `/b` is not S3 (AIS's 404); with it `/b` is S3 and the AIS
    // API still answers at /v1.
    let node = Node::start(1);
    let r = node.req("PUT", "/rb", &[], b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let node = Node::start_with_args(1, &["--s3-at-root"]);
    assert_eq!(node.req("PUT", "/rb", &[], b"").status, 200);
    assert_eq!(node.req("PUT", "/rb/k", &[], b"root").status, 200);
    assert_eq!(node.get("rb", "k").body, b"root");
    assert_eq!(node.req("GET", "/s3/rb/k", &[], b"").body, b"root");
    assert!(node
        .req("GET", "/", &[], b"")
        .text()
        .contains("<Name>rb</Name>"));
}
