//! S3 object requests: PutObject (ETag = MD5 of the body, computed while streaming and kept
//! in the LOM's custom `ETag`; `Content-MD5` checked), GetObject and HeadObject (one range,
//! conditional headers; `?partNumber=N`: part N of a multipart-uploaded object, 206 with
//! `x-amz-mp-parts-count`), DeleteObject, DeleteObjects (`?delete`), CopyObject (metadata
//! directive). Bodies with aws-chunked framing, a signed SHA-256 or an `x-amz-checksum-*` are
//! received through `body` (checked before the object is visible); GET/HEAD with
//! `x-amz-checksum-mode: ENABLED` return the stored checksum. User metadata (`x-amz-meta-*`) and the standard content headers are kept in
//! the object's custom metadata under their canonical header names, as AIS does.

use std::borrow::Cow;
use std::time::Instant;

use base64::Engine as _;
use engine::cksum::CksumType;
use engine::lom::Lom;
use engine::store::{
    ClientChecksum, CopyOutcome, ObjectHandle, StoreError, WriteCondition, CUSTOM_ETAG,
    PART_NUM_MAX,
};
use net::head::RequestHead;
use net::response;

use super::body;
use super::error::{self, S3Error};
use super::time;
use super::xml::{self, Xml};
use super::Req;
use crate::ais::reply;
use crate::http::{BodyError, BodySource, Conn, ReqOutcome};
use crate::object::{self, PutError, PutSpec, ReadRange};
use crate::stats::{Op, Outcome, S3Op};

/// Prefix of user metadata headers, in the canonical form AIS stores (`X-Amz-Meta-`).
const META_PREFIX: &str = "X-Amz-Meta-";
/// Standard headers whose PUT values are kept and returned on GET/HEAD.
const STORED_HEADERS: [&str; 6] = [
    "Content-Type",
    "Cache-Control",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Expires",
];

/// GetObject/HeadObject's `response-*` query parameters and the header each one sets in that
/// response, replacing what the object has stored: presigned download links use them (e.g. a
/// `response-content-disposition` of `attachment; filename=...`). Nothing is stored.
const RESPONSE_OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "Content-Type"),
    ("response-content-language", "Content-Language"),
    ("response-expires", "Expires"),
    ("response-cache-control", "Cache-Control"),
    ("response-content-disposition", "Content-Disposition"),
    ("response-content-encoding", "Content-Encoding"),
];

/// The `response-*` values of a request, by the index of [`RESPONSE_OVERRIDES`].
type Overrides<'r> = [Option<Cow<'r, str>>; RESPONSE_OVERRIDES.len()];

/// The request's `response-*` overrides (none, at no cost, without a query). A value with a
/// control character (CR/LF would split the response head) is `InvalidArgument`.
fn response_overrides<'r>(req: &'r Req<'_>) -> Result<Overrides<'r>, S3Error> {
    let mut out: Overrides<'r> = Default::default();
    if req.head.query.is_empty() {
        return Ok(out);
    }
    for (slot, (param, _)) in out.iter_mut().zip(RESPONSE_OVERRIDES) {
        let Some(v) = req.q(param) else { continue };
        if v.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(S3Error::new(
                400,
                "InvalidArgument",
                format!("{param} must not hold control characters"),
            ));
        }
        *slot = Some(v);
    }
    Ok(out)
}

/// S3's id of an object written without versioning: the only version id this node answers
/// to. It keeps one version of each object, as AIS does (AIS "versioning" numbers the versions
/// it replaces; it keeps none of them).
const NULL_VERSION: &str = "null";

/// A `versionId` other than "null" asks for a version this node does not keep: refused, never
/// answered with (or, for a DELETE, applied to) the current object.
pub(super) fn check_version_id(v: Option<&str>) -> Result<(), S3Error> {
    match v {
        None | Some("") | Some(NULL_VERSION) => Ok(()),
        Some(v) => Err(S3Error::invalid_argument(format!(
            "Invalid version id specified: {v:?} (this node keeps one version of each object, \
             whose id is \"{NULL_VERSION}\")"
        ))),
    }
}

/// Go's `CanonicalMIMEHeaderKey`: each dash-separated word capitalised.
fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut up = true;
    for c in name.chars() {
        if up {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        up = c == '-';
    }
    out
}

/// The custom metadata a PUT (or a REPLACE copy) carries: `x-amz-meta-*` and the standard
/// content headers (without `aws-chunked`, a transfer detail).
pub(super) fn custom_of(head: &RequestHead) -> Result<Vec<(String, String)>, S3Error> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, v) in &head.headers {
        let Ok(v) = std::str::from_utf8(v) else {
            return Err(S3Error::invalid_argument(format!(
                "header {n} is not valid UTF-8"
            )));
        };
        let key = if let Some(rest) = n.strip_prefix("x-amz-meta-") {
            if rest.is_empty() {
                return Err(S3Error::invalid_argument("empty x-amz-meta- name"));
            }
            format!("{META_PREFIX}{}", canonical(rest))
        } else if let Some(std) = STORED_HEADERS.iter().find(|h| h.eq_ignore_ascii_case(n)) {
            if *std == "Content-Encoding" {
                let kept: Vec<&str> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
                    .collect();
                if kept.is_empty() {
                    continue;
                }
                out.push((std.to_string(), kept.join(",")));
                continue;
            }
            std.to_string()
        } else {
            continue;
        };
        match out.iter_mut().find(|(k, _)| *k == key) {
            // A repeated metadata header: S3 joins the values with commas.
            Some(e) => {
                e.1.push(',');
                e.1.push_str(v);
            }
            None => out.push((key, v.to_string())),
        }
    }
    Ok(out)
}

/// The headers GET and HEAD share: ETag (`etag_quoted`), Last-Modified, content headers (a
/// `response-*` override in place of the stored value), user metadata.
fn attr_headers(buf: &mut Vec<u8>, h: &ObjectHandle, etag_quoted: &str, overrides: &Overrides) {
    response::header(buf, "ETag", etag_quoted.as_bytes());
    response::header(
        buf,
        "Last-Modified",
        time::HttpDate::new(h.mtime_ns).as_bytes(),
    );
    let overridden = |name: &str| {
        RESPONSE_OVERRIDES
            .iter()
            .zip(overrides)
            .any(|((_, h), v)| *h == name && v.is_some())
    };
    if !overridden("Content-Type") {
        let ct = h
            .lom
            .custom
            .iter()
            .find(|(k, _)| k == "Content-Type")
            .map(|(_, v)| v.as_bytes())
            .unwrap_or(b"binary/octet-stream");
        response::header(buf, "Content-Type", ct);
    }
    for (k, v) in &h.lom.custom {
        if k.starts_with(META_PREFIX) {
            // Stored canonical (as AIS does); sent lowercase, as S3 does, so clients get back
            // the names they sent (boto3 keeps the case of what it receives).
            response::header(buf, &k.to_ascii_lowercase(), v.as_bytes());
        } else if STORED_HEADERS.contains(&k.as_str()) && k != "Content-Type" && !overridden(k) {
            response::header(buf, k, v.as_bytes());
        }
    }
    for ((_, name), v) in RESPONSE_OVERRIDES.iter().zip(overrides) {
        if let Some(v) = v {
            response::header(buf, name, v.as_bytes());
        }
    }
    response::header(
        buf,
        "x-amz-meta-ais-cksum-type",
        h.lom.cksum_type.as_bytes(),
    );
    response::header(
        buf,
        "x-amz-meta-ais-cksum-val",
        h.lom.cksum_value.as_bytes(),
    );
}

/// The outcome of the conditional headers against an object.
#[derive(Debug, PartialEq, Eq)]
pub enum Cond {
    Proceed,
    NotModified,
    Failed(&'static str),
}

/// Whether the ETag list `hv` (`*`, or comma-separated quoted tags, weak or strong) names `etag`.
fn etag_matches(hv: &str, etag: &str) -> bool {
    hv.split(',').map(str::trim).any(|t| {
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t.trim_matches('"') == etag
    })
}

/// RFC 9110 §13.2.2 order, as S3 applies it: If-Match (else If-Unmodified-Since) fails with
/// 412; If-None-Match (else If-Modified-Since) gives 304. Header names are `prefix` + the
/// standard name (`x-amz-copy-source-` for a copy's source, which answers 412 for both).
pub fn conditions(head: &RequestHead, prefix: &str, etag: &str, mtime_ns: i64) -> Cond {
    let h = |n: &str| prefixed_header(head, prefix, n);
    let mtime_s = mtime_ns.div_euclid(1_000_000_000);
    let if_match = h("if-match");
    if let Some(v) = &if_match {
        if !etag_matches(v, etag) {
            return Cond::Failed("If-Match");
        }
    } else if let Some(t) = h("if-unmodified-since").and_then(time::parse_http_date) {
        if mtime_s > t {
            return Cond::Failed("If-Unmodified-Since");
        }
    }
    let if_none = h("if-none-match");
    if let Some(v) = &if_none {
        if etag_matches(v, etag) {
            return Cond::NotModified;
        }
    } else if let Some(t) = h("if-modified-since").and_then(time::parse_http_date) {
        if mtime_s <= t {
            return Cond::NotModified;
        }
    }
    Cond::Proceed
}

/// The first header named `prefix` + `name` (ASCII case-insensitive), if its value is UTF-8;
/// `RequestHead::header_str` without building the name.
fn prefixed_header<'h>(head: &'h RequestHead, prefix: &str, name: &str) -> Option<&'h str> {
    let (p, n) = (prefix.as_bytes(), name.as_bytes());
    head.headers
        .iter()
        .find(|(h, _)| {
            let h = h.as_bytes();
            h.len() == p.len() + n.len()
                && h[..p.len()].eq_ignore_ascii_case(p)
                && h[p.len()..].eq_ignore_ascii_case(n)
        })
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// Records a GET/HEAD/PUT outcome in the AIS counters too (the same bucket statistics).
fn record(conn: &Conn, bucket: &str, op: Op, t0: Instant, keep: bool, head: &RequestHead) {
    let o = conn.outcome;
    let ok =
        (200..300).contains(&o.status) && (keep || !head.keep_alive || conn.core.shutting_down());
    let outcome = Outcome {
        op,
        ok,
        bytes: o.bytes,
        ns: t0.elapsed().as_nanos() as u64,
        err_io: o.err_io,
        err_cksum: o.err_cksum,
    };
    conn.core.record(bucket, o.mountpath, &outcome);
}

pub async fn get(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    conn.core.rec.stats.count_s3(S3Op::GetObject);
    let t0 = Instant::now();
    conn.outcome = ReqOutcome::default();
    let keep = get_or_head(conn, req, b, k, true).await;
    record(conn, b, Op::Get, t0, keep, req.head);
    keep
}

pub async fn head(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    conn.core.rec.stats.count_s3(S3Op::HeadObject);
    let t0 = Instant::now();
    conn.outcome = ReqOutcome::default();
    let keep = get_or_head(conn, req, b, k, false).await;
    record(conn, b, Op::Head, t0, keep, req.head);
    keep
}

/// `?partNumber=N` of a GET/HEAD: 1..=10000, and not with a Range.
fn part_number(req: &Req<'_>) -> Result<Option<u32>, S3Error> {
    let Some(v) = req.q("partNumber") else {
        return Ok(None);
    };
    let n = v
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=PART_NUM_MAX).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(format!(
                "Part number must be an integer between 1 and {PART_NUM_MAX}, inclusive: {v:?}"
            ))
        })?;
    if req.head.header("range").is_some() {
        return Err(S3Error::new(
            400,
            "InvalidRequest",
            "Cannot specify both Range header and partNumber query parameter",
        ));
    }
    Ok(Some(n))
}

/// Where part `n` of `h` lies: `(start, len)`. A multipart-uploaded (chunked) object's part N
/// is its chunk N (parts are numbered 1..N on disk); any other object is one part.
fn part_bounds(h: &ObjectHandle, n: u32) -> Result<(u64, u64), S3Error> {
    let count = h.chunks.len().max(1);
    if n as usize > count {
        return Err(S3Error::new(
            416,
            "InvalidPartNumber",
            format!("The requested partnumber is not satisfiable: part {n} of {count}"),
        ));
    }
    if h.chunks.is_empty() {
        return Ok((0, h.size));
    }
    let i = n as usize - 1;
    let start: u64 = h.chunks[..i].iter().map(|c| c.size).sum();
    Ok((start, h.chunks[i].size))
}

async fn get_or_head(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str, body: bool) -> bool {
    let part = match part_number(req) {
        Ok(p) => p,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let overrides = match response_overrides(req) {
        Ok(o) => o,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    if let Err(e) = check_version_id(req.q("versionId").as_deref()) {
        return error::send(conn, req.head, &e).await;
    }
    let opened = if body {
        // Bit rot: with `checksum.validate_warm_get`, bad content is an error, never sent.
        object::open_for_get(conn, b, k).await
    } else {
        object::open(conn, b, k).await
    };
    let h = match opened {
        Ok(h) => h,
        Err(e) => return error::send(conn, req.head, &S3Error::of_store(&e)).await,
    };
    let etag = super::etag_cow(&h.lom, h.mtime_ns);
    match conditions(req.head, "", &etag, h.mtime_ns) {
        Cond::Proceed => {}
        Cond::Failed(which) => {
            return error::send(conn, req.head, &S3Error::precondition_failed(which)).await
        }
        Cond::NotModified => {
            let keep = req.head.keep_alive && !conn.core.shutting_down();
            let keep = keep && conn.discard_body().await;
            conn.outcome.status = 304;
            let mut buf = conn.take_wbuf();
            reply::start(&mut buf, 304, keep, req.head.minor_version);
            let q = format!("\"{etag}\"");
            response::header(&mut buf, "ETag", q.as_bytes());
            let lm = time::HttpDate::new(h.mtime_ns);
            response::header(&mut buf, "Last-Modified", lm.as_bytes());
            response::finish(&mut buf);
            return conn.send_buf(buf, false).await.is_ok() && keep;
        }
    }
    // HEAD honours Range too (S3 answers 206 with the part's length).
    let range = match part.map(|n| part_bounds(&h, n)) {
        // An empty object's one part is all of it; an empty last part is 206 of 0 bytes.
        Some(Ok((_, 0))) if h.size == 0 => Ok(ReadRange::Whole),
        Some(Ok((start, len))) => Ok(ReadRange::Part { start, len }),
        Some(Err(e)) => return error::send(conn, req.head, &e).await,
        None => object::read_range(h.size, req.head.header("range")),
    };
    let range = match range {
        Ok(r) => r,
        Err(object::BadRange) => {
            let cr = format!("bytes */{}", h.size);
            let e = S3Error::new(
                416,
                "InvalidRange",
                format!(
                    "The requested range is not satisfiable: {:?} (size {}; one range only)",
                    String::from_utf8_lossy(req.head.header("range").unwrap_or_default()),
                    h.size
                ),
            );
            return error::send_with(conn, req.head, &e, &[("Content-Range", cr.as_bytes())]).await;
        }
    };
    let status = if range == ReadRange::Whole { 200 } else { 206 };
    let (start, len) = range.bounds(h.size);
    let keep = req.head.keep_alive && !conn.core.shutting_down();
    let keep = keep && conn.discard_body().await;
    conn.outcome.mountpath = Some(h.mp.id);
    if body {
        // A GET is an access, whichever API served it (AIS's S3 GET updates atime too).
        conn.core.store.atime_read(&h);
    }
    let mut buf = conn.take_wbuf();
    reply::start(&mut buf, status, keep, req.head.minor_version);
    response::header_u64(&mut buf, "Content-Length", len);
    response::header(&mut buf, "Accept-Ranges", b"bytes");
    if status == 206 && len > 0 {
        let cr = format!("bytes {}-{}/{}", start, start + len - 1, h.size);
        response::header(&mut buf, "Content-Range", cr.as_bytes());
    }
    if part.is_some() && !h.chunks.is_empty() {
        response::header_u64(&mut buf, "x-amz-mp-parts-count", h.chunks.len() as u64);
    }
    let mut etag_quoted = String::with_capacity(etag.len() + 2);
    etag_quoted.push('"');
    etag_quoted.push_str(&etag);
    etag_quoted.push('"');
    attr_headers(&mut buf, &h, &etag_quoted, &overrides);
    if status == 200 && checksum_mode(req.head) {
        // The whole object's checksum, as stored at PUT (none for a part: S3 sends none).
        if let Some(c) = body::stored_checksum(&h.lom.custom) {
            response::header(&mut buf, c.algo().header_name(), c.to_base64().as_bytes());
            response::header(&mut buf, "x-amz-checksum-type", b"FULL_OBJECT");
        }
    }
    let rid = super::RequestId::next();
    response::header(&mut buf, "x-amz-request-id", rid.as_bytes());
    response::finish(&mut buf);
    if !body {
        conn.outcome.status = status;
        return conn.send_buf(buf, false).await.is_ok() && keep;
    }
    let mut pieces = Vec::new();
    let src = BodySource::object(&h, start, len, &mut pieces);
    if let Err(e) = conn.send_head_and_body(buf, src).await {
        tracing::debug!(bucket = b, key = k, "S3 GET: {e}");
        return false;
    }
    conn.outcome.status = status;
    conn.outcome.bytes = len;
    keep
}

/// `x-amz-checksum-mode: ENABLED`: GET/HEAD return the stored `x-amz-checksum-*`.
fn checksum_mode(head: &RequestHead) -> bool {
    head.header_str("x-amz-checksum-mode")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("ENABLED"))
}

/// `Content-MD5` (base64 of 16 bytes) as a checksum to verify the body against.
pub(super) fn content_md5(head: &RequestHead) -> Result<Option<ClientChecksum>, S3Error> {
    let Some(v) = head.header_str("content-md5") else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .ok()
        .filter(|r| r.len() == 16)
        .ok_or_else(|| {
            S3Error::new(
                400,
                "InvalidDigest",
                "The Content-MD5 you specified was invalid",
            )
        })?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Some(ClientChecksum {
        cksum_type: CksumType::Md5,
        value: hex,
    }))
}

pub async fn put(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    conn.core.rec.stats.count_s3(S3Op::PutObject);
    let t0 = Instant::now();
    conn.outcome = ReqOutcome::default();
    let keep = put_inner(conn, req, b, k).await;
    record(conn, b, Op::Put, t0, keep, req.head);
    keep
}

/// The condition of a PutObject or CompleteMultipartUpload, as S3 has them: `If-None-Match:
/// *` (create only if absent) or `If-Match: <ETags>` (replace only the object with one of
/// these ETags; `*`: any existing object), not both. An `If-None-Match` naming ETags is refused
/// (501): a condition ignored would overwrite what the client meant to protect.
pub(super) fn write_condition(head: &RequestHead) -> Result<Option<WriteCondition>, S3Error> {
    // Lossy: a value that is not UTF-8 never reads as `*`, so it is refused, never dropped.
    let text = |name| {
        head.header(name)
            .map(|v| String::from_utf8_lossy(v).trim().to_owned())
    };
    match (text("if-none-match").as_deref(), text("if-match")) {
        (None, None) => Ok(None),
        (Some("*"), None) => Ok(Some(WriteCondition::CreateOnly)),
        (None, Some(tags)) => Ok(Some(WriteCondition::IfMatch(Box::new(
            move |lom: &Lom, mtime_ns: i64| etag_matches(&tags, &super::etag_cow(lom, mtime_ns)),
        )))),
        (Some(_), Some(_)) => Err(S3Error::not_implemented(
            "If-Match and If-None-Match together on a write",
        )),
        (Some(_), None) => Err(S3Error::not_implemented(
            "If-None-Match on a write other than '*' (create only if absent)",
        )),
    }
}

async fn put_inner(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    let condition = match write_condition(req.head) {
        Ok(c) => c,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let client_cksum = match content_md5(req.head) {
        Ok(c) => c,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let custom = match custom_of(req.head) {
        Ok(c) => c,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let plan = match body::plan(req.head, &req.auth) {
        Ok(p) => p,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    if let Some(plan) = plan {
        let t = body::Target {
            bucket: b,
            obj: k,
            client_cksum,
            custom,
            condition,
        };
        return put_planned(conn, req, t, plan).await;
    }
    let spec = PutSpec {
        bucket: b,
        obj: k,
        declared: req.head.content_length.filter(|_| !req.head.chunked),
        client_cksum,
        custom,
        condition,
    };
    let lom = match object::put_with(conn, spec, |p| p.want_md5()).await {
        Ok(l) => l,
        Err(PutError::Store(e)) => {
            conn.outcome.err_io = matches!(e, StoreError::Io { .. } | StoreError::NoSpace { .. });
            conn.outcome.err_cksum = matches!(e, StoreError::BadChecksum { .. });
            return error::send(conn, req.head, &S3Error::of_store(&e)).await;
        }
        Err(PutError::Body(e)) => return body_failed(conn, req.head, b, k, e).await,
    };
    let etag = lom
        .custom
        .iter()
        .find(|(k, _)| k == CUSTOM_ETAG)
        .map(|(_, v)| format!("\"{v}\""))
        .unwrap_or_default();
    let rid = super::request_id();
    let h: [(&str, &[u8]); 2] = [
        ("ETag", etag.as_bytes()),
        ("x-amz-request-id", rid.as_bytes()),
    ];
    super::ok_empty(conn, req.head, 200, &h).await
}

/// A PUT whose body is decoded or checked on the way in (`body`): `aws-chunked`, a signed
/// SHA-256, an `x-amz-checksum-*`.
async fn put_planned(
    conn: &mut Conn,
    req: &Req<'_>,
    t: body::Target<'_>,
    plan: body::Plan,
) -> bool {
    let (b, k) = (t.bucket, t.obj);
    let (lom, checksum) = match body::put(conn, t, plan).await {
        Ok(v) => v,
        Err(body::Fail::S3(e)) => return error::send(conn, req.head, &e).await,
        Err(body::Fail::Put(PutError::Store(e))) => {
            conn.outcome.err_io = matches!(e, StoreError::Io { .. } | StoreError::NoSpace { .. });
            conn.outcome.err_cksum = matches!(e, StoreError::BadChecksum { .. });
            return error::send(conn, req.head, &S3Error::of_store(&e)).await;
        }
        Err(body::Fail::Put(PutError::Body(e))) => {
            return body_failed(conn, req.head, b, k, e).await
        }
    };
    let etag = lom
        .custom
        .iter()
        .find(|(k, _)| k == CUSTOM_ETAG)
        .map(|(_, v)| format!("\"{v}\""))
        .unwrap_or_default();
    let rid = super::request_id();
    let cv = checksum.map(|c| c.to_base64()).unwrap_or_default();
    let mut h: Vec<(&str, &[u8])> = vec![
        ("ETag", etag.as_bytes()),
        ("x-amz-request-id", rid.as_bytes()),
    ];
    if let Some(c) = checksum {
        h.push((c.algo().header_name(), cv.as_bytes()));
    }
    super::ok_empty(conn, req.head, 200, &h).await
}

async fn body_failed(conn: &mut Conn, head: &RequestHead, b: &str, k: &str, e: BodyError) -> bool {
    match e {
        BodyError::Malformed(_) | BodyError::TooLarge => error::body_error(conn, head, e).await,
        e => {
            tracing::debug!(bucket = b, key = k, "S3 PUT body incomplete: {e:?}");
            false
        }
    }
}

/// DeleteObject: S3 answers 204 whether or not the key existed.
pub async fn delete(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    let store = conn.core.store.clone();
    let t0 = Instant::now();
    conn.outcome = ReqOutcome::default();
    if let Err(e) = check_version_id(req.q("versionId").as_deref()) {
        let keep = error::send(conn, req.head, &e).await;
        record(conn, b, Op::Delete, t0, keep, req.head);
        return keep;
    }
    let keep = match store.delete_object(b, k).await {
        Ok(()) | Err(StoreError::ObjNotFound(..)) => {
            super::ok_empty(conn, req.head, 204, &[]).await
        }
        Err(e) => error::send(conn, req.head, &S3Error::of_store(&e)).await,
    };
    record(conn, b, Op::Delete, t0, keep, req.head);
    keep
}

/// DeleteObjects (`POST ?delete`): each key deleted (a missing one counts as deleted, as in
/// S3); the reply lists the deleted keys (unless Quiet) and the failures.
pub async fn delete_many(conn: &mut Conn, req: &Req<'_>, b: &str) -> bool {
    let body = match conn.read_small_body().await {
        Ok(b) => b,
        Err(e) => return error::body_error(conn, req.head, e).await,
    };
    if let Ok(Some(c)) = content_md5(req.head) {
        let got: String = {
            use md5::Digest as _;
            md5::Md5::digest(&body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        if got != c.value {
            let e = S3Error::new(
                400,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received",
            );
            return error::send(conn, req.head, &e).await;
        }
    } else if let Err(e) = content_md5(req.head) {
        return error::send(conn, req.head, &e).await;
    }
    let (objects, quiet) = match xml::parse_delete(&body) {
        Ok(v) => v,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let store = conn.core.store.clone();
    if let Err(e) = store.bucket(b) {
        return error::send(conn, req.head, &S3Error::of_store(&e)).await;
    }
    let mut outcomes = Vec::with_capacity(objects.len());
    for o in objects {
        let err = match check_version_id(o.version_id.as_deref()) {
            Err(e) => Some(e),
            Ok(()) => match store.delete_object(b, &o.key).await {
                Ok(()) | Err(StoreError::ObjNotFound(..)) => None,
                Err(e) => Some(S3Error::of_store(&e)),
            },
        };
        outcomes.push((o.key, err));
    }
    super::ok_xml(conn, req.head, xml::delete_result(&outcomes, quiet)).await
}

/// The bucket and key of `x-amz-copy-source` (`[/]bucket/key[?versionId=...]`, URL-encoded;
/// a version other than "null" is refused, see [`check_version_id`]).
pub(super) fn copy_source(v: &str) -> Result<(String, String), S3Error> {
    let (v, version) = match v.split_once("?versionId=") {
        Some((a, version)) => (a, Some(version)),
        None => (v, None),
    };
    check_version_id(version)?;
    let dec = net::url::percent_decode(v)
        .map_err(|e| S3Error::invalid_argument(format!("x-amz-copy-source: {e}")))?;
    let dec = dec.trim_start_matches('/');
    match dec.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_string(), k.to_string())),
        _ => Err(S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )),
    }
}

/// CopyObject: the destination gets the source's data; its metadata is the source's
/// (`x-amz-metadata-directive: COPY`, the default) or the request's (`REPLACE`).
pub async fn copy(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    let head = req.head;
    let (sb, sk) = match copy_source(head.header_str("x-amz-copy-source").unwrap_or("")) {
        Ok(v) => v,
        Err(e) => return error::send(conn, head, &e).await,
    };
    let replace = match head.header_str("x-amz-metadata-directive") {
        None => false,
        Some(d) if d.eq_ignore_ascii_case("COPY") => false,
        Some(d) if d.eq_ignore_ascii_case("REPLACE") => true,
        Some(d) => {
            let e = S3Error::invalid_argument(format!("Unknown metadata directive {d:?}"));
            return error::send(conn, head, &e).await;
        }
    };
    if head.header("x-amz-tagging-directive").is_some() {
        let e = S3Error::not_implemented("x-amz-tagging-directive");
        return error::send(conn, head, &e).await;
    }
    let new_custom = if replace {
        match custom_of(head) {
            Ok(c) => Some(c),
            Err(e) => return error::send(conn, head, &e).await,
        }
    } else {
        None
    };
    // The source's conditions (x-amz-copy-source-if-*), all answered with 412.
    let src = match object::open(conn, &sb, &sk).await {
        Ok(h) => h,
        Err(e) => return error::send(conn, head, &S3Error::of_store(&e)).await,
    };
    let src_etag = super::etag_of(&src.lom, src.mtime_ns);
    if conditions(head, "x-amz-copy-source-", &src_etag, src.mtime_ns) != Cond::Proceed {
        let e = S3Error::precondition_failed("x-amz-copy-source-if-*");
        return error::send(conn, head, &e).await;
    }
    let src_stored_etag = src
        .lom
        .custom
        .iter()
        .find(|(k, _)| k == CUSTOM_ETAG)
        .map(|(_, v)| v.clone());
    let src_checksum = body::stored_checksum(&src.lom.custom);
    drop(src);
    if sb == b && sk == k && !replace {
        let e = S3Error::new(
            400,
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself \
             without changing the object's metadata, storage class, website redirect location \
             or encryption attributes.",
        );
        return error::send(conn, head, &e).await;
    }
    let store = conn.core.store.clone();
    let r: Result<CopyOutcome, StoreError> =
        store.copy_object(&conn.core.view, &sb, &sk, b, k).await;
    if let Err(e) = r {
        return error::send(conn, head, &S3Error::of_store(&e)).await;
    }
    if let Some(mut kvs) = new_custom {
        // Keep the data's ETag and S3 checksum; replace every other client key.
        kvs.retain(|(k, _)| k != CUSTOM_ETAG && !k.starts_with(body::CUSTOM_CHECKSUM_PREFIX));
        if let Some(t) = src_stored_etag {
            kvs.push((CUSTOM_ETAG.to_string(), t));
        }
        if let Some(c) = src_checksum {
            kvs.push((body::custom_key(c.algo()), c.to_base64()));
        }
        if let Err(e) = store.set_custom(b, k, kvs, true).await {
            return error::send(conn, head, &S3Error::of_store(&e)).await;
        }
    }
    let dst = match object::open(conn, b, k).await {
        Ok(h) => h,
        Err(e) => return error::send(conn, head, &S3Error::of_store(&e)).await,
    };
    let mut x = Xml::new();
    x.root("CopyObjectResult")
        .elem("LastModified", &time::iso8601(dst.mtime_ns))
        .elem(
            "ETag",
            &format!("\"{}\"", super::etag_of(&dst.lom, dst.mtime_ns)),
        )
        .close("CopyObjectResult");
    super::ok_xml(conn, head, x.finish()).await
}
