//! The cost of signing and of checking a signature, as `aisle-bench -api s3` and the node pay
//! them per request: the client signs with `sign_request_cached`, the node checks with
//! `verify_cached`, both with a warm key cache. Also checks that the cached signer and the
//! plain one (`sign_request`, the reference written straight from AWS's steps) agree.
//!
//! The timing is a benchmark, not a test (`--ignored`, prints, asserts only correctness):
//!
//!   cargo test --release -p net --test sigv4_cost -- --ignored --nocapture

use std::time::{Duration, Instant, SystemTime};

use net::sigv4::{self, KeyCache, Request};

const AK: &str = "AKIDBENCH";
const SECRET: &str = "benchsecret";
const SIGNED: [&str; 3] = ["host", "x-amz-content-sha256", "x-amz-date"];

/// The head aisle-bench sends for an S3 GET, with the headers the node sees.
fn get_head(path: &str, date: &str, authorization: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Host", "127.0.0.1:19400".to_owned()),
        ("User-Agent", "aisle-bench".to_owned()),
        ("x-amz-content-sha256", sigv4::UNSIGNED_PAYLOAD.to_owned()),
        ("x-amz-date", date.to_owned()),
        ("Authorization", authorization.to_owned()),
        ("Accept", "*/*".to_owned()),
        ("X-Path", path.to_owned()),
    ]
}

fn pairs<'a>(headers: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a [u8])> {
    headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect()
}

fn sign(path: &str, query: &str, date: &str, cache: Option<&mut KeyCache>) -> String {
    let head = get_head(path, date, "");
    let headers = pairs(&head[..4]);
    let req = Request {
        method: "GET",
        raw_path: path,
        raw_query: query,
        headers: &headers,
    };
    sign_req(&req, date, cache)
}

/// The Authorization header of `req` (which carries the signed headers) at `date`.
fn sign_req(req: &Request, date: &str, cache: Option<&mut KeyCache>) -> String {
    let s = match cache {
        Some(c) => sigv4::sign_request_cached(
            req,
            &SIGNED,
            sigv4::UNSIGNED_PAYLOAD,
            AK,
            SECRET,
            "us-east-1",
            date,
            c,
        ),
        None => sigv4::sign_request(
            req,
            &SIGNED,
            sigv4::UNSIGNED_PAYLOAD,
            AK,
            SECRET,
            "us-east-1",
            date,
        ),
    };
    s.expect("every signed header is present").authorization
}

#[test]
fn cached_signer_agrees_with_the_reference_and_verifies() {
    // Goal: for paths with escapes and queries, sign_request_cached (reusing one cache over
    // many requests and two days) gives the same Authorization as sign_request, and the
    // result verifies with a warm cache; a changed path then fails.
    let mut client = KeyCache::default();
    let mut node = KeyCache::default();
    let days = [
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_086_400),
    ];
    let cases = [
        ("/s3/b/obj-0001", ""),
        ("/s3/b/a%20b/c%2Bd", ""),
        ("/s3/b/%E2%82%AC/x~y_z.-", "versionId=3&acl"),
        ("/s3/b", "list-type=2&prefix=a%2Fb&max-keys=10"),
        ("/", ""),
    ];
    for now in days {
        let date = sigv4::format_amz_date(now);
        for (path, query) in cases {
            let reference = sign(path, query, &date, None);
            let cached = sign(path, query, &date, Some(&mut client));
            assert_eq!(cached, reference, "{path}?{query}");
            let head = get_head(path, &date, &cached);
            let headers = pairs(&head);
            let req = Request {
                method: "GET",
                raw_path: path,
                raw_query: query,
                headers: &headers,
            };
            sigv4::verify_cached(&req, |k| (k == AK).then_some(SECRET), now, &mut node)
                .unwrap_or_else(|e| panic!("{path}?{query}: {e}"));
            let tampered = Request {
                raw_path: "/s3/b/other",
                ..req
            };
            assert_eq!(
                sigv4::verify_cached(&tampered, |_| Some(SECRET), now, &mut node).unwrap_err(),
                sigv4::AuthError::SignatureDoesNotMatch
            );
        }
    }
    assert_eq!((client.len(), node.len()), (2, 2), "one key per day");
}

#[test]
#[ignore = "benchmark: prints ns per sign and per verify"]
fn sign_and_verify_cost() {
    const N: u32 = 200_000;
    let now = SystemTime::now();
    let date = sigv4::format_amz_date(now);
    let path = "/s3/bench/obj-000123";
    let mut client = KeyCache::default();
    let mut node = KeyCache::default();
    let authorization = sign(path, "", &date, Some(&mut client));
    let head = get_head(path, &date, &authorization);
    let headers = pairs(&head);
    let req = Request {
        method: "GET",
        raw_path: path,
        raw_query: "",
        headers: &headers,
    };
    let best = |f: &mut dyn FnMut()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..N {
                    f();
                }
                t.elapsed().as_nanos() as f64 / f64::from(N)
            })
            .fold(f64::INFINITY, f64::min)
    };
    let verify_ns = best(&mut || {
        let v = sigv4::verify_cached(&req, |k| (k == AK).then_some(SECRET), now, &mut node);
        assert!(v.is_ok());
    });
    let unsigned = Request {
        headers: &headers[..4],
        ..req
    };
    let sign_ns = best(&mut || {
        let a = sign_req(&unsigned, &date, Some(&mut client));
        assert_eq!(a, authorization);
    });
    let sign_plain_ns = best(&mut || {
        let a = sign_req(&unsigned, &date, None);
        assert_eq!(a, authorization);
    });
    println!(
        "verify_cached {verify_ns:.0} ns, sign_request_cached {sign_ns:.0} ns, \
         sign_request {sign_plain_ns:.0} ns (best of 5 × {N})"
    );
}
