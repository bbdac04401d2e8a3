//! S3 authentication: with access keys configured, every S3 request must carry a valid SigV4
//! signature (`Authorization` header or presigned URL), checked with `net::sigv4` and one
//! signing-key cache per core; with none configured every request is accepted, as AIS does
//! without AuthN. What the signature says of the body (`Payload`, the chunk signer) goes to
//! the PUT body path (`s3::body`).

use std::cell::RefCell;
use std::time::SystemTime;

use net::head::{RequestHead, HEADERS_MAX};
use net::sigv4::{self, AuthError, KeyCache, Verified};

use super::error::S3Error;
use crate::config::S3Keys;

thread_local! {
    /// This core's derived signing keys (one derivation per key, secret and day).
    static KEYS: RefCell<KeyCache> = RefCell::new(KeyCache::default());
}

/// What authentication found for a request.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No credentials are configured: nothing was checked (the body's claims, such as
    /// `x-amz-content-sha256`, are still verified by the body path).
    Open,
    /// The signature checked out.
    Verified(Verified),
}

impl Auth {
    /// The verified signature, if one was checked.
    pub fn verified(&self) -> Option<&Verified> {
        match self {
            Auth::Open => None,
            Auth::Verified(v) => Some(v),
        }
    }
}

/// Checks `head`'s signature against `keys` (none configured: `Auth::Open`).
pub fn check(keys: &S3Keys, head: &RequestHead) -> Result<Auth, S3Error> {
    if keys.is_empty() {
        return Ok(Auth::Open);
    }
    // The head's headers as `sigv4` takes them: on the stack up to HEADERS_MAX (all that the
    // parser admits), else (a head built otherwise) on the heap.
    let mut slots: [(&str, &[u8]); HEADERS_MAX] = [("", &[]); HEADERS_MAX];
    let owned: Vec<(&str, &[u8])>;
    let headers = if head.headers.len() <= HEADERS_MAX {
        for (slot, (name, value)) in slots.iter_mut().zip(&head.headers) {
            *slot = (name.as_str(), value.as_slice());
        }
        &slots[..head.headers.len()]
    } else {
        owned = head
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        &owned[..]
    };
    let req = sigv4::Request {
        method: &head.method_str,
        raw_path: &head.path,
        raw_query: &head.query,
        headers,
    };
    if header_or_query_v2(head) {
        let e = AuthError::Unsupported("Signature Version 2 (AWSAccessKeyId in the query)".into());
        return Err(of_auth(&e));
    }
    let now = SystemTime::now();
    KEYS.with(|c| {
        let mut cache = c.borrow_mut();
        sigv4::verify_cached(&req, |id| keys.secret(id), now, &mut cache)
    })
    .map(Auth::Verified)
    .map_err(|e| of_auth(&e))
}

/// A SigV2 presigned URL (`AWSAccessKeyId` and `Signature` in the query), which `sigv4` would
/// only see as unsigned.
fn header_or_query_v2(head: &RequestHead) -> bool {
    let has = |name: &str| {
        head.query
            .split('&')
            .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == name)
    };
    head.header("authorization").is_none() && has("AWSAccessKeyId") && has("Signature")
}

/// The S3 error of a refused signature.
pub fn of_auth(e: &AuthError) -> S3Error {
    S3Error::new(e.status(), e.code(), capitalised(&e.to_string()))
}

/// `s` with its first letter upper-cased (S3 messages read as sentences).
pub(super) fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(path: &str, query: &str, headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: net::head::Method::Get,
            method_str: "GET".into(),
            target: format!("{path}?{query}"),
            path: path.into(),
            query: query.into(),
            minor_version: 1,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            content_length: None,
            chunked: false,
            expect_continue: false,
            keep_alive: true,
        }
    }

    #[test]
    fn open_without_keys_and_refused_with_them() {
        // Goal: no keys → every request accepted unchecked; keys → an unsigned request is 403
        // AccessDenied and a header naming an unknown key is 403 InvalidAccessKeyId.
        let h = head("/s3/b/k", "", &[("host", "x")]);
        assert!(matches!(check(&S3Keys::default(), &h), Ok(Auth::Open)));
        let mut keys = S3Keys::default();
        keys.0.insert("AK".into(), "secret".into());
        let e = check(&keys, &h).unwrap_err();
        assert_eq!((e.status, e.code), (403, "AccessDenied"));
        let date = sigv4::format_amz_date(SystemTime::now());
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=NOPE/{}/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={}",
            &date[..8],
            "0".repeat(64)
        );
        let h = head(
            "/s3/b/k",
            "",
            &[
                ("host", "x"),
                ("x-amz-date", &date),
                ("x-amz-content-sha256", sigv4::UNSIGNED_PAYLOAD),
                ("authorization", &auth),
            ],
        );
        let e = check(&keys, &h).unwrap_err();
        assert_eq!((e.status, e.code), (403, "InvalidAccessKeyId"));
        // A SigV2 presigned URL: a clear refusal, not "unsigned".
        let h = head("/s3/b/k", "AWSAccessKeyId=AK&Signature=x%3D&Expires=1", &[]);
        let e = check(&keys, &h).unwrap_err();
        assert_eq!((e.status, e.code), (400, "InvalidRequest"));
    }
}
