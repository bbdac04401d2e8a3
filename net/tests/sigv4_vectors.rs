//! SigV4 verification against AWS's published S3 examples (GET/PUT object, bucket lifecycle,
//! list objects, presigned URL, streaming uploads with and without a trailer), the generic
//! aws-sig-v4-test-suite vectors that S3's rules sign alike, and refusals of bad requests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use net::awschunked::{AwsChunkedDecoder, AwsChunkedError, Framing};
use net::sigv4::{
    self, canonical_request, format_amz_date, parse_amz_date, parse_http_date, signing_key,
    string_to_sign, verify, AuthError, Payload, Request,
};

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// 2013-05-24T00:00:00Z, the time of every S3 example.
const EXAMPLE_UNIX: u64 = 1_369_353_600;

fn example_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EXAMPLE_UNIX)
}

fn secrets(key: &str) -> Option<String> {
    (key == KEY).then(|| SECRET.to_owned())
}

fn auth(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={KEY}/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders={signed_headers},Signature={signature}"
    )
}

/// Builds header pairs borrowing from owned strings.
fn pairs<'a>(headers: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a [u8])> {
    headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect()
}

fn get_object_headers(signature: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Host", "examplebucket.s3.amazonaws.com".into()),
        ("Range", "bytes=0-9".into()),
        ("x-amz-content-sha256", EMPTY_SHA.into()),
        ("x-amz-date", "20130524T000000Z".into()),
        (
            "Authorization",
            auth("host;range;x-amz-content-sha256;x-amz-date", signature),
        ),
    ]
}

const GET_OBJECT_SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

#[test]
fn aws_example_get_object() {
    // Goal: the canonical request, string to sign and signature of AWS's GET Object example.
    let headers = get_object_headers(GET_OBJECT_SIG);
    let h = pairs(&headers);
    let req = Request {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "",
        headers: &h,
    };
    let canonical = canonical_request(
        &req,
        &["host", "range", "x-amz-content-sha256", "x-amz-date"],
        EMPTY_SHA,
        false,
    )
    .expect("all signed headers present");
    let want = "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
                x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
                x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
                e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(String::from_utf8(canonical.clone()).expect("ascii"), want);
    assert_eq!(
        string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            &canonical
        ),
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
         7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    );
    let v = verify(&req, secrets, example_time()).expect("AWS's example verifies");
    assert_eq!(&*v.access_key, KEY);
    assert_eq!(&*v.region, "us-east-1");
    let mut empty = [0; 32];
    sigv4::decode_hex(EMPTY_SHA, &mut empty).expect("hex");
    assert_eq!(v.payload, Payload::Sha256(empty));
    assert!(v.chunk_signer.is_none());
}

fn put_object_headers() -> Vec<(&'static str, String)> {
    vec![
        ("Host", "examplebucket.s3.amazonaws.com".into()),
        ("Date", "Fri, 24 May 2013 00:00:00 GMT".into()),
        ("x-amz-date", "20130524T000000Z".into()),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY".into()),
        (
            "x-amz-content-sha256",
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072".into(),
        ),
        (
            "Authorization",
            auth(
                "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            ),
        ),
    ]
}

#[test]
fn aws_example_put_object_with_either_path_spelling() {
    // Goal: AWS's PUT Object example ("test$file.text", canonical "/test%24file.text") verifies
    // whether the client sent `$` raw or escaped, and the payload hash is returned for the
    // caller to check against "Welcome to Amazon S3.".
    let headers = put_object_headers();
    let h = pairs(&headers);
    for raw_path in [
        "/test$file.text",
        "/test%24file.text",
        "/test%24file%2Etext",
    ] {
        let req = Request {
            method: "PUT",
            raw_path,
            raw_query: "",
            headers: &h,
        };
        let v = verify(&req, secrets, example_time()).expect(raw_path);
        let Payload::Sha256(sum) = v.payload else {
            panic!("payload {:?}", v.payload)
        };
        assert_eq!(
            sigv4::hex(&sum),
            sigv4::hex(&sha256(b"Welcome to Amazon S3."))
        );
    }
}

#[test]
fn aws_example_bucket_lifecycle_and_list_objects() {
    // Goal: subresource (`?lifecycle` -> `lifecycle=`) and multi-parameter queries, given in
    // any order, canonicalise as AWS's examples say.
    let cases = [
        (
            "lifecycle",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        (
            "max-keys=2&prefix=J",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
        (
            "prefix=J&max-keys=2",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
    ];
    for (query, sig) in cases {
        let headers = vec![
            ("Host", "examplebucket.s3.amazonaws.com".to_owned()),
            ("x-amz-date", "20130524T000000Z".to_owned()),
            ("x-amz-content-sha256", EMPTY_SHA.to_owned()),
            (
                "Authorization",
                auth("host;x-amz-content-sha256;x-amz-date", sig),
            ),
        ];
        let h = pairs(&headers);
        let req = Request {
            method: "GET",
            raw_path: "/",
            raw_query: query,
            headers: &h,
        };
        verify(&req, secrets, example_time()).unwrap_or_else(|e| panic!("{query}: {e}"));
        // And the empty path means "/".
        let req = Request {
            raw_path: "",
            ..req
        };
        verify(&req, secrets, example_time()).unwrap_or_else(|e| panic!("{query}: {e}"));
    }
}

const PRESIGNED_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
    &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
    &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
    &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn aws_example_presigned_url() {
    // Goal: AWS's presigned GET verifies for its 24 hours, is Expired after, NotYetValid well
    // before, and any change to the URL breaks it.
    let headers = vec![("Host", "examplebucket.s3.amazonaws.com".to_owned())];
    let h = pairs(&headers);
    let req = Request {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: PRESIGNED_QUERY,
        headers: &h,
    };
    assert!(sigv4::is_signed(&req));
    for offset in [0, 3600, 86_400] {
        let v = verify(&req, secrets, example_time() + Duration::from_secs(offset))
            .unwrap_or_else(|e| panic!("at +{offset}s: {e}"));
        assert_eq!(&*v.access_key, KEY);
        assert_eq!(v.payload, Payload::Unsigned);
    }
    let late = verify(&req, secrets, example_time() + Duration::from_secs(86_401));
    assert_eq!(late.as_ref().map(|_| ()), Err(&AuthError::Expired));
    let e = late.expect_err("expired");
    assert_eq!((e.code(), e.status()), ("AccessDenied", 403));
    let early = verify(&req, secrets, example_time() - Duration::from_secs(16 * 60));
    assert_eq!(early.map(|_| ()), Err(AuthError::NotYetValid));
    // Tampering: another key, method, extra parameter or host.
    let other_path = Request {
        raw_path: "/test2.txt",
        ..req
    };
    let other_method = Request {
        method: "PUT",
        ..req
    };
    let longer = format!("{PRESIGNED_QUERY}&partNumber=1");
    let extra_param = Request {
        raw_query: &longer,
        ..req
    };
    let other_host = vec![("Host", "evil.example".to_owned())];
    let oh = pairs(&other_host);
    let host = Request {
        headers: &oh,
        ..req
    };
    for r in [other_path, other_method, extra_param, host] {
        assert_eq!(
            verify(&r, secrets, example_time()).map(|_| ()),
            Err(AuthError::SignatureDoesNotMatch),
            "{r:?}"
        );
    }
    // A wrong secret.
    assert_eq!(
        verify(&req, |_| Some("wrong".to_owned()), example_time()).map(|_| ()),
        Err(AuthError::SignatureDoesNotMatch)
    );
}

#[test]
fn presigned_url_limits() {
    // Goal: X-Amz-Expires over seven days, a missing parameter or a bad algorithm is refused
    // before any signature check (400), and an unknown key is InvalidAccessKeyId.
    let headers = vec![("Host", "examplebucket.s3.amazonaws.com".to_owned())];
    let h = pairs(&headers);
    let week_plus = PRESIGNED_QUERY.replace("X-Amz-Expires=86400", "X-Amz-Expires=604801");
    let week = PRESIGNED_QUERY.replace("X-Amz-Expires=86400", "X-Amz-Expires=604800");
    let no_date = PRESIGNED_QUERY.replace("&X-Amz-Date=20130524T000000Z", "");
    let bad_expires = PRESIGNED_QUERY.replace("X-Amz-Expires=86400", "X-Amz-Expires=-1");
    for q in [&week_plus, &no_date, &bad_expires] {
        let req = Request {
            method: "GET",
            raw_path: "/test.txt",
            raw_query: q,
            headers: &h,
        };
        let e = verify(&req, secrets, example_time()).expect_err(q);
        assert!(matches!(e, AuthError::QueryMalformed(_)), "{q}: {e:?}");
        assert_eq!(
            (e.code(), e.status()),
            ("AuthorizationQueryParametersError", 400)
        );
    }
    // Exactly seven days is allowed: the check passes and the signature (made for 86400) fails.
    let req = Request {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: &week,
        headers: &h,
    };
    assert_eq!(
        verify(&req, secrets, example_time()).map(|_| ()),
        Err(AuthError::SignatureDoesNotMatch)
    );
    let v2 = PRESIGNED_QUERY.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256");
    let req = Request {
        raw_query: &v2,
        ..req
    };
    assert!(matches!(
        verify(&req, secrets, example_time()),
        Err(AuthError::Unsupported(_))
    ));
    let req = Request {
        raw_query: PRESIGNED_QUERY,
        ..req
    };
    assert_eq!(
        verify(&req, |_| None::<&str>, example_time()).map(|_| ()),
        Err(AuthError::InvalidAccessKeyId)
    );
}

#[test]
fn header_auth_refusals() {
    // Goal: each way a header-signed request goes wrong gets its own S3 error.
    let check = |headers: &[(&'static str, String)], want: &str, status: u16| {
        let h = pairs(headers);
        let req = Request {
            method: "GET",
            raw_path: "/test.txt",
            raw_query: "",
            headers: &h,
        };
        let e = verify(&req, secrets, example_time()).expect_err(want);
        assert_eq!((e.code(), e.status()), (want, status), "{e:?}");
    };
    let good = get_object_headers(GET_OBJECT_SIG);
    let with = |name: &'static str, value: Option<&str>| {
        let mut h: Vec<_> = good
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
            .cloned()
            .collect();
        if let Some(v) = value {
            h.push((name, v.to_owned()));
        }
        h
    };
    // A changed signed header; a different signature.
    check(
        &with("Range", Some("bytes=0-10")),
        "SignatureDoesNotMatch",
        403,
    );
    let other = "0".repeat(64);
    check(&get_object_headers(&other), "SignatureDoesNotMatch", 403);
    // A signed header missing from the request.
    check(&with("Range", None), "SignatureDoesNotMatch", 403);
    // Missing or bad date; missing or bad payload hash.
    check(
        &with("x-amz-date", None),
        "AuthorizationHeaderMalformed",
        400,
    );
    check(
        &with("x-amz-date", Some("2013-05-24T00:00:00Z")),
        "AuthorizationHeaderMalformed",
        400,
    );
    check(
        &with("x-amz-date", Some("20130525T000000Z")),
        "AuthorizationHeaderMalformed",
        400,
    );
    check(&with("x-amz-content-sha256", None), "InvalidRequest", 400);
    check(
        &with("x-amz-content-sha256", Some("abc")),
        "InvalidArgument",
        400,
    );
    // Malformed Authorization values; Signature Version 2.
    for bad in [
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=x",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=xyz",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/2013052/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=Host, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, Credential=a/20130524/b/s3/aws4_request, SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        check(&with("Authorization", Some(bad)), "AuthorizationHeaderMalformed", 400);
    }
    check(
        &with(
            "Authorization",
            Some("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="),
        ),
        "InvalidRequest",
        400,
    );
    // An x-amz-* header the signature does not cover (in any case); other headers may be
    // added freely.
    check(
        &with("X-Amz-Copy-Source", Some("/other/key")),
        "AccessDenied",
        403,
    );
    let mut extra = good.clone();
    extra.push(("User-Agent", "added after signing".to_owned()));
    // A non-ASCII name across the "x-amz-" prefix boundary is just another header.
    extra.push(("x-amz\u{fc}", "v".to_owned()));
    let h = pairs(&extra);
    let req = Request {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "",
        headers: &h,
    };
    verify(&req, secrets, example_time()).expect("unsigned non-amz headers are fine");
    // A repeated Authorization, x-amz-date or x-amz-content-sha256 header.
    for name in ["Authorization", "x-amz-date", "x-amz-content-sha256"] {
        let mut twice = good.clone();
        let value = good
            .iter()
            .find(|(n, _)| *n == name)
            .expect("present")
            .1
            .clone();
        twice.push((name, value));
        check(&twice, "AuthorizationHeaderMalformed", 400);
    }
    // Both an Authorization header and presigned parameters.
    let h = pairs(&good);
    let req = Request {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: PRESIGNED_QUERY,
        headers: &h,
    };
    assert_eq!(
        verify(&req, secrets, example_time()).map(|_| ()),
        Err(AuthError::Ambiguous)
    );
    // Nothing at all.
    let req = Request {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "prefix=a",
        headers: &[("Host", b"x")],
    };
    assert!(!sigv4::is_signed(&req));
    let e = verify(&req, secrets, example_time()).expect_err("unsigned");
    assert_eq!((e.code(), e.status()), ("AccessDenied", 403));
    assert_eq!(e, AuthError::Missing);
}

#[test]
fn clock_skew_is_fifteen_minutes() {
    // Goal: a correct header signature within 15 minutes of the clock passes, beyond it is
    // RequestTimeTooSkewed (403), in either direction.
    let headers = get_object_headers(GET_OBJECT_SIG);
    let h = pairs(&headers);
    let req = Request {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "",
        headers: &h,
    };
    let fifteen = Duration::from_secs(15 * 60);
    for now in [example_time() + fifteen, example_time() - fifteen] {
        verify(&req, secrets, now).expect("within the skew");
    }
    for now in [
        example_time() + fifteen + Duration::from_secs(1),
        example_time() - fifteen - Duration::from_secs(1),
    ] {
        let e = verify(&req, secrets, now).expect_err("skewed");
        assert_eq!((e.code(), e.status()), ("RequestTimeTooSkewed", 403));
    }
}

#[test]
fn aws_sig_v4_test_suite_vectors() {
    // Goal: the generic test-suite vectors whose canonical forms S3 shares (service
    // "service", secret with '+', date 20150830T123600Z, empty payload): get-vanilla,
    // get-vanilla-query-order-key-case, get-utf8.
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let key = signing_key(secret, "20150830", "us-east-1", "service");
    let headers: [(&str, &[u8]); 2] = [
        ("Host", b"example.amazonaws.com"),
        ("X-Amz-Date", b"20150830T123600Z"),
    ];
    for (path, query, want) in [
        (
            "/",
            "",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "/",
            "Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        (
            "/%E1%88%B4",
            "",
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
        ),
    ] {
        let req = Request {
            method: "GET",
            raw_path: path,
            raw_query: query,
            headers: &headers,
        };
        let canonical =
            canonical_request(&req, &["host", "x-amz-date"], EMPTY_SHA, false).expect("headers");
        let sts = string_to_sign(
            "20150830T123600Z",
            "20150830/us-east-1/service/aws4_request",
            &canonical,
        );
        assert_eq!(
            sigv4::hex(&sigv4::hmac_sha256(&key, sts.as_bytes())),
            want,
            "{path}?{query}"
        );
    }
}

#[test]
fn canonical_form_details() {
    // Goal: header values trimmed and blanks collapsed, repeats joined by ',', names matched
    // in any case; query values with '+', spaces and reserved characters encoded once;
    // a segment's escaped '/' stays escaped.
    let headers: [(&str, &[u8]); 4] = [
        ("X-A", b"  a   b \t c  "),
        ("x-b", b"2"),
        ("X-B", b"3"),
        ("host", b"h"),
    ];
    let req = Request {
        method: "GET",
        raw_path: "/b/a%2Fb/c d+e",
        raw_query: "z=a+b&y=%2a~&x&w=%zz",
        headers: &headers,
    };
    let c = canonical_request(&req, &["host", "x-a", "x-b"], "UNSIGNED-PAYLOAD", false)
        .expect("present");
    assert_eq!(
        String::from_utf8(c).expect("ascii"),
        "GET\n/b/a%2Fb/c%20d%2Be\nw=%25zz&x=&y=%2A~&z=a%20b\nhost:h\nx-a:a b c\nx-b:2,3\n\n\
         host;x-a;x-b\nUNSIGNED-PAYLOAD"
    );
}

#[test]
fn amz_dates_round_trip() {
    // Goal: the date parser and formatter agree with each other and with known instants,
    // including a leap day, and refuse impossible dates.
    assert_eq!(parse_amz_date("20130524T000000Z"), Some(example_time()));
    assert_eq!(
        parse_amz_date("20150830T123600Z"),
        Some(UNIX_EPOCH + Duration::from_secs(1_440_938_160))
    );
    for s in ["20240229T235959Z", "19700101T000000Z", "20991231T120000Z"] {
        let t = parse_amz_date(s).expect(s);
        assert_eq!(format_amz_date(t), s);
    }
    for (http, amz) in [
        ("Fri, 24 May 2013 00:00:00 GMT", "20130524T000000Z"),
        ("Fri, 02 Jan 2026 03:04:05 -0000", "20260102T030405Z"),
        (" Thu, 29 Feb 2024 23:59:59 +0000 ", "20240229T235959Z"),
    ] {
        assert_eq!(parse_http_date(http), parse_amz_date(amz), "{http}");
        assert!(parse_http_date(http).is_some());
    }
    for bad in [
        "Fri, 24 May 2013 00:00:00 UTC",
        "Fri, 24 Mai 2013 00:00:00 GMT",
        "Fri, 30 Feb 2013 00:00:00 GMT",
        "Friday, 24-May-13 00:00:00 GMT",
        "",
    ] {
        assert_eq!(parse_http_date(bad), None, "{bad}");
    }
    for bad in [
        "20230229T000000Z",
        "20131324T000000Z",
        "20130524T240000Z",
        "20130524 000000Z",
        "2013052T0000000Z",
        "20130524T000000",
        "",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

/// The headers of AWS's two streaming examples (sigv4-streaming and sigv4-streaming-trailers).
fn streaming_request_headers(trailer: bool) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("Host", "s3.amazonaws.com".to_owned()),
        ("x-amz-date", "20130524T000000Z".to_owned()),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY".to_owned()),
        ("Content-Encoding", "aws-chunked".to_owned()),
        ("x-amz-decoded-content-length", "66560".to_owned()),
    ];
    if trailer {
        h.push((
            "x-amz-content-sha256",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER".to_owned(),
        ));
        h.push(("x-amz-trailer", "x-amz-checksum-crc32c".to_owned()));
        h.push((
            "Authorization",
            auth(
                "content-encoding;host;x-amz-content-sha256;x-amz-date;\
                 x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
                "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
            ),
        ));
    } else {
        h.push((
            "x-amz-content-sha256",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned(),
        ));
        h.push(("Content-Length", "66824".to_owned()));
        h.push((
            "Authorization",
            auth(
                "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
                 x-amz-decoded-content-length;x-amz-storage-class",
                "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            ),
        ));
    }
    h
}

fn streaming_body(signatures: [&str; 3], trailer: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(format!("10000;chunk-signature={}\r\n", signatures[0]).as_bytes());
    body.extend_from_slice(&[b'a'; 65_536]);
    body.extend_from_slice(format!("\r\n400;chunk-signature={}\r\n", signatures[1]).as_bytes());
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(format!("\r\n0;chunk-signature={}\r\n", signatures[2]).as_bytes());
    body.extend_from_slice(trailer.as_bytes());
    body.extend_from_slice(b"\r\n");
    body
}

const CHUNK_SIGS: [&str; 3] = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];
const TRAILER_CHUNK_SIGS: [&str; 3] = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
];
const TRAILER: &str = "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:\
    d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n";

/// Verifies the head, then decodes `body` in `piece`-byte reads.
fn decode_streaming(trailer: bool, body: &[u8], piece: usize) -> Result<Vec<u8>, AwsChunkedError> {
    let headers = streaming_request_headers(trailer);
    let h = pairs(&headers);
    let req = Request {
        method: "PUT",
        raw_path: "/examplebucket/chunkObject.txt",
        raw_query: "",
        headers: &h,
    };
    let v = verify(&req, secrets, example_time()).expect("the seed signature verifies");
    let signer = v.chunk_signer.expect("signed streaming has a chunk signer");
    let (framing, trailer_header) = if trailer {
        assert_eq!(v.payload, Payload::StreamingSignedTrailer);
        (Framing::SignedTrailer(signer), "x-amz-checksum-crc32c")
    } else {
        assert_eq!(v.payload, Payload::StreamingSigned);
        (Framing::Signed(signer), "")
    };
    let mut dec = AwsChunkedDecoder::new(framing, Some(66_560), trailer_header)?;
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    loop {
        let step = dec.step(&buf)?;
        out.extend_from_slice(&buf[step.data.clone()]);
        buf.drain(..step.consumed);
        if step.done {
            assert!(buf.is_empty());
            assert_eq!(fed, body.len());
            if trailer {
                let c = dec.checksum().expect("declared checksum verified");
                assert_eq!(c.to_base64(), "sOO8/Q==");
            }
            return Ok(out);
        }
        if step.data.is_empty() {
            if fed == body.len() {
                return Err(AwsChunkedError::Malformed("test: body ended early"));
            }
            let n = piece.min(body.len() - fed);
            buf.extend_from_slice(&body[fed..fed + n]);
            fed += n;
        }
    }
}

#[test]
fn aws_example_streaming_upload() {
    // Goal: AWS's chunked-upload example: the seed signature verifies, the three chained
    // chunk signatures verify in any read size, and the body is 66,560 bytes of 'a' in the
    // documented 66,824 encoded bytes.
    let body = streaming_body(CHUNK_SIGS, "");
    assert_eq!(body.len(), 66_824, "the documented Content-Length");
    for piece in [1, 7, 4096, usize::MAX] {
        let out = decode_streaming(false, &body, piece).expect("decodes");
        assert_eq!(out, vec![b'a'; 66_560]);
    }
    // Swap two chunk signatures, or change one data byte: SignatureDoesNotMatch.
    let swapped = streaming_body([CHUNK_SIGS[1], CHUNK_SIGS[0], CHUNK_SIGS[2]], "");
    assert_eq!(
        decode_streaming(false, &swapped, 4096),
        Err(AwsChunkedError::SignatureDoesNotMatch)
    );
    let mut flipped = body.clone();
    flipped[65_712 + 10] ^= 1; // inside the second chunk's data
    let e = decode_streaming(false, &flipped, 4096).expect_err("tampered");
    assert_eq!((e.code(), e.status()), ("SignatureDoesNotMatch", 403));
}

#[test]
fn aws_example_streaming_upload_with_trailer() {
    // Goal: AWS's chunked upload with a signed trailing CRC32C: chunk and trailer signatures
    // verify, the trailing checksum matches the data; a changed checksum or trailer
    // signature is refused before done.
    for piece in [1, 13, usize::MAX] {
        let out = decode_streaming(true, &streaming_body(TRAILER_CHUNK_SIGS, TRAILER), piece)
            .expect("decodes");
        assert_eq!(out, vec![b'a'; 66_560]);
    }
    let wrong_sum = TRAILER.replace("sOO8/Q==", "AAAAAA==");
    assert_eq!(
        decode_streaming(true, &streaming_body(TRAILER_CHUNK_SIGS, &wrong_sum), 4096),
        Err(AwsChunkedError::SignatureDoesNotMatch),
        "the trailer signature covers the checksum"
    );
    let wrong_sig = TRAILER.replace("d81f82fc", "d81f82fd");
    assert_eq!(
        decode_streaming(true, &streaming_body(TRAILER_CHUNK_SIGS, &wrong_sig), 4096),
        Err(AwsChunkedError::SignatureDoesNotMatch)
    );
    let no_sig = "x-amz-checksum-crc32c:sOO8/Q==\r\n";
    assert_eq!(
        decode_streaming(true, &streaming_body(TRAILER_CHUNK_SIGS, no_sig), 4096),
        Err(AwsChunkedError::MissingTrailer(
            "x-amz-trailer-signature".to_owned()
        ))
    );
}

#[test]
fn key_cache_reuses_keys_and_misses_on_a_new_secret() {
    // Goal: verify_cached gives verify's answers; a key is derived once per access key,
    // secret and scope; a changed secret is not served from the cache; the cache is bounded.
    let headers = get_object_headers(GET_OBJECT_SIG);
    let h = pairs(&headers);
    let req = Request {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "",
        headers: &h,
    };
    let mut cache = sigv4::KeyCache::default();
    assert!(cache.is_empty());
    for _ in 0..3 {
        sigv4::verify_cached(&req, secrets, example_time(), &mut cache).expect("verifies");
    }
    assert_eq!(cache.len(), 1);
    assert_eq!(
        sigv4::verify_cached(
            &req,
            |_| Some("other".to_owned()),
            example_time(),
            &mut cache
        )
        .map(|_| ()),
        Err(AuthError::SignatureDoesNotMatch)
    );
    assert_eq!(cache.len(), 2);
    // Many secrets: the cache stays bounded and the right secret still verifies.
    for i in 0..40 {
        let secret = format!("secret-{i}");
        let r = sigv4::verify_cached(&req, |_| Some(secret.clone()), example_time(), &mut cache);
        assert_eq!(r.map(|_| ()), Err(AuthError::SignatureDoesNotMatch));
        assert!(cache.len() <= sigv4::KEY_CACHE_ENTRIES_MAX);
    }
    sigv4::verify_cached(&req, secrets, example_time(), &mut cache).expect("still verifies");
}

mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                any::<char>(),
                Just('%'),
                Just('/'),
                Just('&'),
                Just('='),
                Just(','),
                Just(';'),
                Just(' '),
                Just('+'),
            ],
            0..80,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn verify_never_panics(
            path in text(),
            query in text(),
            auth_tail in text(),
            date in text(),
            sha in text(),
            presign in any::<bool>(),
        ) {
            // Goal: arbitrary paths, queries and header values give an answer, never a panic;
            // nothing made up verifies.
            let authorization = format!("AWS4-HMAC-SHA256 Credential={KEY}/{auth_tail}");
            let query = if presign {
                format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={auth_tail}&{query}")
            } else {
                query
            };
            let mut headers: Vec<(&str, &[u8])> = vec![
                ("host", b"h"),
                ("x-amz-date", date.as_bytes()),
                ("x-amz-content-sha256", sha.as_bytes()),
            ];
            if !presign {
                headers.push(("authorization", authorization.as_bytes()));
            }
            headers.push((&date, b"v"));
            let req = Request {
                method: "GET",
                raw_path: &path,
                raw_query: &query,
                headers: &headers,
            };
            prop_assert!(verify(&req, secrets, example_time()).is_err());
        }
    }
}

#[test]
fn client_signer_makes_aws_example_signature() {
    // Goal: sign_request (the client side, for aisle-bench and tests) yields AWS's GET Object
    // example signature, and what it signs verifies; another secret does not.
    let unsigned = get_object_headers("x");
    let h = pairs(&unsigned[..4]);
    let req = Request {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "",
        headers: &h,
    };
    let s = sigv4::sign_request(
        &req,
        &["host", "range", "x-amz-content-sha256", "x-amz-date"],
        EMPTY_SHA,
        KEY,
        SECRET,
        "us-east-1",
        "20130524T000000Z",
    )
    .expect("all signed headers present");
    assert_eq!(sigv4::hex(&s.signature), GET_OBJECT_SIG);
    assert_eq!(s.scope, "20130524/us-east-1/s3/aws4_request");
    let mut headers = unsigned[..4].to_vec();
    headers.push(("Authorization", s.authorization.clone()));
    let h = pairs(&headers);
    let req = Request { headers: &h, ..req };
    assert!(verify(&req, secrets, example_time()).is_ok());
    let wrong = |_: &str| Some("other".to_owned());
    assert_eq!(
        verify(&req, wrong, example_time()).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
    // A signed header missing from the request: no signature.
    assert!(sigv4::sign_request(
        &req,
        &["host", "x-amz-meta-absent"],
        EMPTY_SHA,
        KEY,
        SECRET,
        "us-east-1",
        "20130524T000000Z"
    )
    .is_none());
}
