//! The S3 front end: path-style S3 at `/s3` (and at `/` with `--s3-at-root`), on the same
//! object layer (`crate::object`) and store as the AIS API. An S3 bucket is an ais bucket;
//! objects written through either API are read through the other.
//!
//! Routing by method, path depth (service, bucket, object) and sub-resource query parameters;
//! sub-resources this node does not implement (ACLs, policies, tagging, lifecycle, ...) get
//! `501 NotImplemented` in S3's XML. Multipart uploads are served by `mpu.rs`. Every request is
//! first authenticated (`auth`): with access keys configured a SigV4 signature is required;
//! with none every request is accepted, as AIS does.

pub mod auth;
mod body;
mod bucket;
pub mod error;
pub mod list;
mod mpu;
mod object;
pub mod time;
mod token;
pub mod xml;

use std::borrow::Cow;
use std::cell::Cell;

use engine::lom::Lom;
use engine::store::{ListEntry, CUSTOM_ETAG};
use net::head::{Method, RequestHead};
use net::url::{percent_decode_cow, query_value};

use self::error::S3Error;
use crate::ais::reply;
use crate::http::Conn;
use crate::stats::S3Op;

/// The path prefix of the S3 API.
pub const S3_PREFIX: &str = "/s3";

/// A request being routed.
pub struct Req<'a> {
    pub head: &'a RequestHead,
    /// What authentication found (the PUT body path uses the signature's payload claims).
    pub auth: auth::Auth,
}

impl Req<'_> {
    /// A decoded query parameter.
    pub fn q(&self, key: &str) -> Option<Cow<'_, str>> {
        if self.head.query.is_empty() {
            // The common case (plain GET/PUT), asked a dozen times per request while routing.
            return None;
        }
        query_value(&self.head.query, key)
    }
    /// Whether the query names `key` (with or without a value).
    pub fn has(&self, key: &str) -> bool {
        self.q(key).is_some()
    }
}

/// The part of `path` the S3 front end serves (`""`, `"/b"`, `"/b/key"`), or `None` when the
/// request is for the AIS API. With `at_root`, every path that is not one of the AIS API's
/// (`/v1/...`, `/ais...`, `/metrics`) is S3.
pub fn route(path: &str, at_root: bool) -> Option<&str> {
    if let Some(rest) = path.strip_prefix(S3_PREFIX) {
        if rest.is_empty() || rest.starts_with('/') {
            return Some(rest);
        }
    }
    if !at_root {
        return None;
    }
    let ais = path == "/v1"
        || path.starts_with("/v1/")
        || path == "/ais"
        || path.starts_with("/ais/")
        || path == "/metrics";
    (!ais).then_some(path)
}

thread_local! {
    static REQ_SEQ: Cell<u64> = const { Cell::new(0) };
}

/// A request id for `x-amz-request-id` (core index and a per-core sequence number, in upper
/// case hex), on the stack.
pub struct RequestId {
    buf: [u8; 32],
    len: usize,
}

impl RequestId {
    pub fn next() -> RequestId {
        let n = REQ_SEQ.with(|c| {
            let v = c.get().wrapping_add(1);
            c.set(v);
            v
        });
        let mut id = RequestId {
            buf: [0; 32],
            len: 0,
        };
        id.push_hex(engine::io::core_index() as u64, 1);
        id.push_hex(n, 12);
        id
    }

    /// `v` in upper case hex, zero-padded to at least `width` digits.
    fn push_hex(&mut self, v: u64, width: usize) {
        const D: &[u8; 16] = b"0123456789ABCDEF";
        let digits = ((64 - v.leading_zeros() as usize).div_ceil(4)).max(width);
        for i in 0..digits {
            self.buf[self.len + i] = D[(v >> (4 * (digits - 1 - i))) as usize & 15];
        }
        self.len += digits;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("hex digits")
    }
}

/// A request id for `x-amz-request-id` as a `String` (see [`RequestId`]).
pub fn request_id() -> String {
    RequestId::next().as_str().to_string()
}

/// An object's S3 ETag, unquoted (AIS `LOM.ETag`): the stored `ETag` custom key, else the MD5
/// checksum of an md5 bucket, else `v1-<checksum>-<mtime ns in base 36>`.
pub fn etag_of(lom: &Lom, mtime_ns: i64) -> String {
    etag_cow(lom, mtime_ns).into_owned()
}

/// [`etag_of`], borrowed from the LOM where it can be.
pub fn etag_cow(lom: &Lom, mtime_ns: i64) -> Cow<'_, str> {
    if let Some((_, v)) = lom.custom.iter().find(|(k, _)| k == CUSTOM_ETAG) {
        return Cow::Borrowed(v);
    }
    synthetic_etag(&lom.cksum_type, &lom.cksum_value, mtime_ns)
}

fn synthetic_etag<'a>(cksum_type: &str, cksum_value: &'a str, mtime_ns: i64) -> Cow<'a, str> {
    if cksum_type == "md5" {
        return Cow::Borrowed(cksum_value);
    }
    let mut out = String::with_capacity(cksum_value.len() + 17);
    out.push_str("v1-");
    out.push_str(cksum_value);
    out.push('-');
    push_base36(&mut out, mtime_ns.max(0) as u64);
    Cow::Owned(out)
}

/// The quoted ETag of a listing entry.
pub fn etag_quoted_of_entry(e: &ListEntry) -> String {
    let t = if e.etag.is_empty() {
        synthetic_etag(&e.cksum_type, &e.checksum, e.mtime_ns)
    } else {
        Cow::Borrowed(e.etag.as_str())
    };
    format!("\"{t}\"")
}

/// Appends `v` in lower case base 36.
fn push_base36(out: &mut String, mut v: u64) {
    const D: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    // u64::MAX has 13 base-36 digits.
    let mut digits = [0u8; 13];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = D[(v % 36) as usize];
        v /= 36;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).expect("ascii"));
}

/// Sends a 200 with an XML body.
pub async fn ok_xml(conn: &mut Conn, head: &RequestHead, body: String) -> bool {
    let rid = RequestId::next();
    let headers: [(&str, &[u8]); 1] = [("x-amz-request-id", rid.as_bytes())];
    reply::ok(
        conn,
        head,
        200,
        Some("application/xml"),
        &headers,
        body.as_bytes(),
    )
    .await
}

/// Sends an empty response with `status` and `headers`.
pub async fn ok_empty(
    conn: &mut Conn,
    head: &RequestHead,
    status: u16,
    headers: &[(&str, &[u8])],
) -> bool {
    reply::ok(conn, head, status, None, headers, b"").await
}

/// Sub-resources of a bucket this node does not implement (→ 501).
const BUCKET_SUBRESOURCES_NOT_YET: &[&str] = &[
    "acl",
    "policy",
    "policyStatus",
    "cors",
    "lifecycle",
    "tagging",
    "encryption",
    "object-lock",
    "website",
    "logging",
    "notification",
    "replication",
    "ownershipControls",
    "publicAccessBlock",
    "accelerate",
    "requestPayment",
    "analytics",
    "inventory",
    "metrics",
    "intelligent-tiering",
    "versions",
];

/// Sub-resources of an object this node does not implement (→ 501).
const OBJECT_SUBRESOURCES_NOT_YET: &[&str] = &[
    "acl",
    "tagging",
    "retention",
    "legal-hold",
    "attributes",
    "restore",
    "select",
    "torrent",
];

/// Serves one S3 request; `rest` is the path after the S3 prefix. Returns whether the
/// connection may carry another request.
pub async fn handle(conn: &mut Conn, head: &RequestHead, rest: &str) -> bool {
    let pass = match token::gate(conn, head, rest) {
        Ok(p) => p,
        Err(e) => {
            conn.core.rec.stats.count_s3(S3Op::Other);
            return error::send(conn, head, &e).await;
        }
    };
    let checked = match pass {
        token::Pass::Bearer => Ok(auth::Auth::Open),
        token::Pass::Sigv4 => auth::check(&conn.core.node.s3_keys, head),
    };
    let auth = match checked {
        Ok(a) => a,
        Err(e) => {
            conn.core.rec.stats.count_s3(S3Op::Other);
            return error::send(conn, head, &e).await;
        }
    };
    let req = Req { head, auth };
    let rest = rest.trim_start_matches('/');
    let (b_raw, k_raw) = match rest.split_once('/') {
        Some((b, k)) => (b, Some(k)),
        None => (rest, None),
    };
    let bucket = match percent_decode_cow(b_raw) {
        Ok(b) => b,
        Err(e) => {
            let err = S3Error::new(
                400,
                "InvalidBucketName",
                format!("bad bucket encoding: {e}"),
            );
            conn.core.rec.stats.count_s3(S3Op::Other);
            return error::send(conn, head, &err).await;
        }
    };
    let key = match k_raw.filter(|k| !k.is_empty()).map(percent_decode_cow) {
        None => None,
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            let err = S3Error::invalid_argument(format!("bad key encoding: {e}"));
            conn.core.rec.stats.count_s3(S3Op::Other);
            return error::send(conn, head, &err).await;
        }
    };
    match (bucket.is_empty(), key) {
        (true, _) => service(conn, &req).await,
        (false, None) => bucket_req(conn, &req, &bucket).await,
        (false, Some(k)) => object_req(conn, &req, &bucket, &k).await,
    }
}

async fn method_not_allowed(conn: &mut Conn, req: &Req<'_>, what: &str) -> bool {
    let e = S3Error::new(
        405,
        "MethodNotAllowed",
        format!(
            "The specified method {} is not allowed against this resource ({what})",
            req.head.method_str
        ),
    );
    error::send(conn, req.head, &e).await
}

async fn service(conn: &mut Conn, req: &Req<'_>) -> bool {
    match req.head.method {
        Method::Get => {
            conn.core.rec.stats.count_s3(S3Op::ListBuckets);
            bucket::list_buckets(conn, req).await
        }
        _ => {
            conn.core.rec.stats.count_s3(S3Op::Other);
            method_not_allowed(conn, req, "the service").await
        }
    }
}

async fn bucket_req(conn: &mut Conn, req: &Req<'_>, b: &str) -> bool {
    let m = req.head.method;
    if req.has("uploads") {
        if m == Method::Get {
            conn.core.rec.stats.count_s3(S3Op::ListMultipartUploads);
            return mpu::list_uploads(conn, req, b).await;
        }
        conn.core.rec.stats.count_s3(S3Op::Other);
        return method_not_allowed(conn, req, "a bucket's uploads").await;
    }
    if let Some(sub) = BUCKET_SUBRESOURCES_NOT_YET.iter().find(|s| req.has(s)) {
        conn.core.rec.stats.count_s3(S3Op::Other);
        let e = S3Error::not_implemented(&format!("bucket sub-resource ?{sub}"));
        return error::send(conn, req.head, &e).await;
    }
    let stats = conn.core.rec.stats.clone();
    match m {
        Method::Get if req.has("location") => {
            stats.count_s3(S3Op::GetBucketLocation);
            bucket::location(conn, req, b).await
        }
        Method::Get if req.has("versioning") => {
            stats.count_s3(S3Op::GetBucketVersioning);
            bucket::get_versioning(conn, req, b).await
        }
        Method::Put if req.has("versioning") => {
            stats.count_s3(S3Op::PutBucketVersioning);
            bucket::put_versioning(conn, req, b).await
        }
        Method::Get => {
            let v2 = req.q("list-type").as_deref() == Some("2");
            stats.count_s3(if v2 {
                S3Op::ListObjectsV2
            } else {
                S3Op::ListObjects
            });
            list::list_objects(conn, req, b, v2).await
        }
        Method::Head => {
            stats.count_s3(S3Op::HeadBucket);
            bucket::head(conn, req, b).await
        }
        Method::Put => {
            stats.count_s3(S3Op::CreateBucket);
            bucket::create(conn, req, b).await
        }
        Method::Delete if req.has("delete") => {
            stats.count_s3(S3Op::DeleteObjects);
            object::delete_many(conn, req, b).await
        }
        Method::Delete => {
            stats.count_s3(S3Op::DeleteBucket);
            bucket::delete(conn, req, b).await
        }
        Method::Post if req.has("delete") => {
            stats.count_s3(S3Op::DeleteObjects);
            object::delete_many(conn, req, b).await
        }
        _ => {
            stats.count_s3(S3Op::Other);
            method_not_allowed(conn, req, "a bucket").await
        }
    }
}

async fn object_req(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    let stats = conn.core.rec.stats.clone();
    let read = matches!(req.head.method, Method::Get | Method::Head);
    if read && req.has("partNumber") && !req.has("uploadId") && !req.has("uploads") {
        // GetObject / HeadObject of one part of an object (`object.rs`).
        return if req.head.method == Method::Get {
            object::get(conn, req, b, k).await
        } else {
            object::head(conn, req, b, k).await
        };
    }
    if req.has("uploads") || req.has("uploadId") || req.has("partNumber") {
        let copy = req.head.header("x-amz-copy-source").is_some();
        let (op, keep) = match req.head.method {
            Method::Post if req.has("uploads") => (
                S3Op::CreateMultipartUpload,
                mpu::create(conn, req, b, k).await,
            ),
            Method::Post if req.has("uploadId") => (
                S3Op::CompleteMultipartUpload,
                mpu::complete(conn, req, b, k).await,
            ),
            Method::Put if req.has("uploadId") && copy => (
                S3Op::UploadPartCopy,
                mpu::upload_part_copy(conn, req, b, k).await,
            ),
            Method::Put if req.has("uploadId") => {
                (S3Op::UploadPart, mpu::upload_part(conn, req, b, k).await)
            }
            Method::Delete if req.has("uploadId") => (
                S3Op::AbortMultipartUpload,
                mpu::abort(conn, req, b, k).await,
            ),
            Method::Get if req.has("uploadId") => {
                (S3Op::ListParts, mpu::list_parts(conn, req, b, k).await)
            }
            _ => {
                let e = S3Error::not_implemented("this multipart request");
                (S3Op::Multipart, error::send(conn, req.head, &e).await)
            }
        };
        stats.count_s3(op);
        return keep;
    }
    if let Some(sub) = OBJECT_SUBRESOURCES_NOT_YET.iter().find(|s| req.has(s)) {
        stats.count_s3(S3Op::Other);
        let e = S3Error::not_implemented(&format!("object sub-resource ?{sub}"));
        return error::send(conn, req.head, &e).await;
    }
    match req.head.method {
        Method::Get => object::get(conn, req, b, k).await,
        Method::Head => object::head(conn, req, b, k).await,
        Method::Put if req.head.header("x-amz-copy-source").is_some() => {
            stats.count_s3(S3Op::CopyObject);
            object::copy(conn, req, b, k).await
        }
        Method::Put => object::put(conn, req, b, k).await,
        Method::Delete => {
            stats.count_s3(S3Op::DeleteObject);
            object::delete(conn, req, b, k).await
        }
        _ => {
            stats.count_s3(S3Op::Other);
            method_not_allowed(conn, req, "an object").await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        // Goal: /s3 paths are S3's; with at_root every path but the AIS API's is.
        assert_eq!(route("/s3", false), Some(""));
        assert_eq!(route("/s3/b/k", false), Some("/b/k"));
        assert_eq!(route("/s3x", false), None);
        assert_eq!(route("/b/k", false), None);
        assert_eq!(route("/b/k", true), Some("/b/k"));
        assert_eq!(route("/", true), Some("/"));
        assert_eq!(route("/v1/objects/b/o", true), None);
        assert_eq!(route("/ais/b", true), None);
        assert_eq!(route("/metrics", true), None);
    }

    #[test]
    fn etags() {
        // Goal: AIS's ETag rules: stored key, else md5 value, else the synthetic form.
        let mut lom = Lom {
            cksum_type: "xxhash2".into(),
            cksum_value: "abc".into(),
            version: None,
            size: 0,
            copies: vec![],
            custom: vec![],
            lid: 0,
            flags: 0,
        };
        assert_eq!(etag_of(&lom, 36), "v1-abc-10");
        lom.cksum_type = "md5".into();
        assert_eq!(etag_of(&lom, 36), "abc");
        lom.custom.push(("ETag".into(), "d41d".into()));
        assert_eq!(etag_of(&lom, 36), "d41d");
        assert!(matches!(etag_cow(&lom, 36), Cow::Borrowed("d41d")));
        lom.custom.clear();
        lom.cksum_type = "xxhash2".into();
        assert_eq!(etag_of(&lom, 0), "v1-abc-0");
        assert_eq!(etag_of(&lom, i64::MAX), "v1-abc-1y2p0ij32e8e7");
        assert_eq!(etag_of(&lom, -5), "v1-abc-0");
    }

    #[test]
    fn request_ids() {
        // Goal: upper-case hex, core index then a 12-digit sequence, a new one each call.
        let a = RequestId::next();
        let b = RequestId::next();
        assert_ne!(a.as_str(), b.as_str());
        let core = format!("{:X}", engine::io::core_index());
        for id in [&a, &b] {
            assert_eq!(id.as_str().len(), core.len() + 12);
            assert!(id.as_str().starts_with(&core));
            assert!(id
                .as_str()
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        }
        let n = |id: &RequestId| u64::from_str_radix(&id.as_str()[core.len()..], 16).unwrap();
        assert_eq!(n(&b), n(&a) + 1);
        let mut big = RequestId {
            buf: [0; 32],
            len: 0,
        };
        big.push_hex(u64::MAX, 12);
        assert_eq!(big.as_str(), "FFFFFFFFFFFFFFFF");
        let mut small = RequestId {
            buf: [0; 32],
            len: 0,
        };
        small.push_hex(0, 1);
        small.push_hex(0xAB, 12);
        assert_eq!(small.as_str(), "00000000000AB");
    }
}
