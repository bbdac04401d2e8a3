//! The SigV4 check's hot-path invariant (ARCHITECTURE.md, `sigv4.rs`): with a warm key cache,
//! checking a header-signed request allocates nothing on the heap (`Verified` shares the
//! access key and region with the cache). Counted with `allocation-counter`, per thread.

use std::time::{Duration, SystemTime};

use net::sigv4::{self, KeyCache, Request};

/// A request's headers as `sigv4::Request` takes them.
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

/// Heap allocations `f` made on this thread (`allocation-counter` is this test binary's
/// global allocator; it counts per thread, so the harness's threads do not count).
fn allocs(f: impl FnOnce()) -> u64 {
    allocation_counter::measure(f).count_total
}

#[test]
fn a_warm_check_allocates_nothing() {
    // Goal: after the first request of a key and day (which derives and caches the signing
    // key and grows the canonical-request buffer), each further check of a header-signed GET
    // allocates nothing, and neither does a refused one (wrong signature).
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let date = sigv4::format_amz_date(now);
    let signed = ["host", "x-amz-content-sha256", "x-amz-date"];
    let heads: Vec<(String, Vec<(&str, String)>)> = (0..50)
        .map(|i| {
            let path = format!("/s3/bucket/dir/obj-{i:05}");
            let mut h = vec![
                ("Host", "127.0.0.1:8080".to_owned()),
                ("x-amz-content-sha256", sigv4::UNSIGNED_PAYLOAD.to_owned()),
                ("x-amz-date", date.clone()),
            ];
            let pairs: Vec<(&str, &[u8])> = h.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
            let req = Request {
                method: "GET",
                raw_path: &path,
                raw_query: "",
                headers: &pairs,
            };
            let s = sigv4::sign_request(
                &req,
                &signed,
                sigv4::UNSIGNED_PAYLOAD,
                "AKID",
                "secret",
                "us-east-1",
                &date,
            )
            .expect("signed");
            h.push(("Authorization", s.authorization));
            h.push(("User-Agent", "test".to_owned()));
            (path, h)
        })
        .collect();
    let requests: Vec<(String, Headers)> = heads
        .iter()
        .map(|(p, h)| {
            (
                p.clone(),
                h.iter().map(|(n, v)| (*n, v.as_bytes())).collect(),
            )
        })
        .collect();
    let mut cache = KeyCache::default();
    let secret_of = |k: &str| (k == "AKID").then_some("secret");
    let check = |i: usize, cache: &mut KeyCache| {
        let (path, headers) = &requests[i];
        let req = Request {
            method: "GET",
            raw_path: path,
            raw_query: "",
            headers,
        };
        sigv4::verify_cached(&req, secret_of, now, cache)
    };
    // Warm-up: the key is derived and the buffer grows.
    check(0, &mut cache).expect("verifies");
    // The counter works here (a vacuous zero would prove nothing).
    assert_eq!(allocs(|| drop(std::hint::black_box(vec![1u8]))), 1);
    for i in 1..requests.len() {
        let mut v = None;
        let used = allocs(|| v = Some(check(i, &mut cache).expect("verifies")));
        assert_eq!(used, 0, "request {i}: {used} allocations for {v:?}");
        assert_eq!(
            v.map(|v| (v.access_key, v.region)),
            Some(("AKID".into(), "us-east-1".into()))
        );
    }
    // A wrong signature: refused without allocating (the error is a unit variant).
    let (path, headers) = &requests[1];
    let req = Request {
        method: "GET",
        raw_path: "/s3/bucket/dir/other",
        raw_query: "",
        headers,
    };
    assert_ne!(path.as_str(), req.raw_path);
    let mut e = None;
    let used = allocs(|| e = sigv4::verify_cached(&req, secret_of, now, &mut cache).err());
    assert_eq!(used, 0, "the refusal allocated");
    assert_eq!(e, Some(sigv4::AuthError::SignatureDoesNotMatch));
}
