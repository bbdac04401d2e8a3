//! Cross-check with botocore, the signer of boto3 and the AWS CLI: `botocore/sign_cases.py`
//! signs fixed S3 requests (odd keys, queries, subresources, user metadata with blanks, a
//! Date header instead of x-amz-date, presigned GET and PUT, unsigned-trailer aws-chunked
//! bodies) and this test verifies each with `net::sigv4` and decodes the bodies with
//! `net::awschunked`.
//!
//! The interpreter comes from `AISLE_PYTHON` (set by `scripts/test.sh`), else
//! `<workspace>/.venv/bin/python`; it needs botocore (scripts/requirements-test.txt). A missing
//! interpreter or botocore fails the test: it must never pass without having run.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use net::awschunked::{AwsChunkedDecoder, Framing};
use net::sigv4::{verify, AuthError, Payload, Request};
use serde_json::Value;

/// 2026-01-02T03:04:05Z, the instant the script signs at.
const SIGNED_AT_UNIX: u64 = 1_767_323_045;

fn python() -> PathBuf {
    match std::env::var_os("AISLE_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

fn secrets(key: &str) -> Option<String> {
    (key == "AKIDBOTOCORE").then(|| "botocore/secret+key".to_owned())
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("valid base64")
}

#[test]
fn botocore_signed_requests_verify() {
    // Goal: every request botocore signs verifies (and presigned ones expire when they
    // should); a tampered copy of each does not; botocore's aws-chunked bodies decode with
    // their trailing checksum verified.
    let py = python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/botocore/sign_cases.py");
    let out = Command::new(&py).arg(&script).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {}: {e}; run scripts/test.sh (it installs \
                 scripts/requirements-test.txt into .venv) or set AISLE_PYTHON",
            py.display()
        )
    });
    assert!(
        out.status.success(),
        "{} failed (is botocore installed? scripts/requirements-test.txt): {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 12, "all cases came: {}", cases.len());
    let signed_at = UNIX_EPOCH + Duration::from_secs(SIGNED_AT_UNIX);
    let mut decoded_bodies = 0;
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let headers: Vec<(String, String)> = case["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .map(|h| {
                (
                    h[0].as_str().expect("name").to_owned(),
                    h[1].as_str().expect("value").to_owned(),
                )
            })
            .collect();
        let h: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let req = Request {
            method: case["method"].as_str().expect("method"),
            raw_path: case["path"].as_str().expect("path"),
            raw_query: case["query"].as_str().expect("query"),
            headers: &h,
        };
        let expect = case["expect"].as_str().expect("expect");
        for offset in case["offsets"].as_array().expect("offsets") {
            let now: SystemTime =
                signed_at + Duration::from_secs(offset.as_u64().expect("seconds"));
            let result = verify(&req, secrets, now);
            match expect {
                "ok" => {
                    let v = result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
                    assert_eq!(&*v.access_key, "AKIDBOTOCORE", "{name}");
                    check_body(name, case, &headers, &v.payload, &mut decoded_bodies);
                }
                "Expired" => assert_eq!(result.map(|_| ()), Err(AuthError::Expired), "{name}"),
                other => panic!("unknown expectation {other}"),
            }
        }
        // Tampered: another path verifies no more.
        let other_path = format!("{}x", req.raw_path);
        let tampered = Request {
            raw_path: &other_path,
            ..req
        };
        assert_eq!(
            verify(&tampered, secrets, signed_at).map(|_| ()),
            Err(AuthError::SignatureDoesNotMatch),
            "{name}"
        );
    }
    assert_eq!(decoded_bodies, 2, "both aws-chunked bodies were decoded");
}

/// Checks the body against what the signature says about it.
fn check_body(
    name: &str,
    case: &Value,
    headers: &[(String, String)],
    payload: &Payload,
    decoded_bodies: &mut usize,
) {
    use sha2::Digest as _;
    let body = b64(&case["body_b64"]);
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    match payload {
        Payload::Sha256(sum) => {
            let actual: [u8; 32] = sha2::Sha256::digest(&body).into();
            assert_eq!(&actual, sum, "{name}: x-amz-content-sha256 is the body's");
        }
        Payload::Unsigned => assert!(body.is_empty(), "{name}"),
        Payload::StreamingUnsignedTrailer => {
            let declared: u64 = header("x-amz-decoded-content-length")
                .expect("declared length")
                .parse()
                .expect("number");
            let trailer = header("x-amz-trailer").expect("x-amz-trailer");
            let mut dec = AwsChunkedDecoder::new(Framing::UnsignedTrailer, Some(declared), trailer)
                .expect("valid declaration");
            let mut out = Vec::new();
            let mut rest: &[u8] = &body;
            loop {
                let step = dec.step(rest).unwrap_or_else(|e| panic!("{name}: {e}"));
                out.extend_from_slice(&rest[step.data.clone()]);
                rest = &rest[step.consumed..];
                if step.done {
                    break;
                }
                assert!(
                    !step.data.is_empty() || !rest.is_empty() || step.done,
                    "{name}: ends early"
                );
            }
            assert!(rest.is_empty(), "{name}: the whole body is consumed");
            assert_eq!(out, b64(&case["decoded_b64"]), "{name}");
            let c = dec.checksum().expect("trailing checksum verified");
            assert_eq!(c.algo().header_name(), trailer, "{name}");
            *decoded_bodies += 1;
        }
        other => panic!("{name}: unexpected payload {other:?}"),
    }
}
