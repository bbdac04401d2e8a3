//! Object requests: PUT (streamed to a work file, checksummed, renamed into place), GET (whole
//! or one range, zero-copy body), HEAD (v1 headers or v2 `props=`), DELETE.

use std::time::Instant;

use engine::cksum::CksumType;
use engine::store::{ClientChecksum, ObjectHandle, StoreError};
use net::head::Method;
use net::response;

use super::reply;
use super::time;
use super::{access, Req};
use crate::auth::ace;
use crate::http::{BodyError, BodySource, Conn, ReqOutcome};
use crate::object::{self, PutError, PutSpec, ReadRange};
use crate::stats::{Op, Outcome};

/// AIS refuses an object name with a trailing '/'; the store takes it as an S3 folder marker,
/// which only the S3 front end makes.
pub(super) fn refuse_marker(bucket: &str, obj: &str) -> Result<(), StoreError> {
    match engine::names::validate_object(obj) {
        Err(e @ engine::names::NameError::TrailingSlash) => {
            Err(StoreError::BadObjName(bucket.into(), e))
        }
        _ => Ok(()),
    }
}

pub async fn handle(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str) -> bool {
    if let Err(e) = refuse_marker(bucket, obj) {
        return reply::store_error(conn, req.head, &e).await;
    }
    let t0 = Instant::now();
    conn.outcome = ReqOutcome::default();
    let (op, keep) = match req.head.method {
        Method::Get => (Op::Get, get(conn, req, bucket, obj).await),
        Method::Head => (Op::Head, head(conn, req, bucket, obj).await),
        Method::Put => (Op::Put, put(conn, req, bucket, obj).await),
        Method::Delete => (Op::Delete, delete(conn, req, bucket, obj).await),
        Method::Post | Method::Patch => return action(conn, req, bucket, obj).await,
        _ => {
            let msg = format!(
                "method {} not allowed on ais://{bucket}/{obj}",
                req.head.method_str
            );
            return reply::error(conn, req.head, 405, &msg, true).await;
        }
    };
    let o = conn.outcome;
    // A request whose client vanished mid-way (status 0) counts as an error of its op.
    let ok = (200..300).contains(&o.status)
        && (keep || !req.head.keep_alive || conn.core.shutting_down());
    let outcome = Outcome {
        op,
        ok,
        bytes: o.bytes,
        ns: t0.elapsed().as_nanos() as u64,
        err_io: o.err_io,
        err_cksum: o.err_cksum,
    };
    conn.core.record(bucket, o.mountpath, &outcome);
    keep
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The attribute headers GET and HEAD share; `atime_ns` is the node-wide access time.
fn attr_headers(buf: &mut Vec<u8>, h: &ObjectHandle, atime_ns: i64) {
    response::header(buf, "Ais-Checksum-Type", h.lom.cksum_type.as_bytes());
    response::header(buf, "Ais-Checksum-Value", h.lom.cksum_value.as_bytes());
    response::header_u64(buf, "Ais-Atime", atime_ns.max(0) as u64);
    if let Some(v) = &h.lom.version {
        response::header(buf, "Ais-Version", v.as_bytes());
    }
    custom_headers(buf, h);
}

/// One `Ais-Custom-Md: k=v` per client key (internal keys hidden).
fn custom_headers(buf: &mut Vec<u8>, h: &ObjectHandle) {
    for (k, v) in h
        .lom
        .custom
        .iter()
        .filter(|(k, _)| super::custom::visible(k))
    {
        response::header(buf, "Ais-Custom-Md", format!("{k}={v}").as_bytes());
    }
}

async fn get(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str) -> bool {
    // Bit rot: with `checksum.validate_warm_get`, bad content is an error, never sent.
    let h = match object::open_for_get(conn, bucket, obj).await {
        Ok(h) => h,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    let range = match object::read_range(h.size, req.head.header("range")) {
        Ok(r) => r,
        Err(object::BadRange) => {
            let raw = req.head.header("range").unwrap_or_default();
            let cr = format!("bytes */{}", h.size);
            let msg = format!(
                "ais://{bucket}/{obj}: invalid or unsatisfiable range {:?} (size {}; one range only)",
                String::from_utf8_lossy(raw),
                h.size
            );
            return reply::error_with(
                conn,
                req.head,
                416,
                &msg,
                true,
                &[("Content-Range", cr.as_bytes())],
            )
            .await;
        }
    };
    let status = if range == ReadRange::Whole { 200 } else { 206 };
    let (start, len) = range.bounds(h.size);
    let keep = req.head.keep_alive && !conn.core.shutting_down();
    let keep = keep && conn.discard_body().await;
    conn.outcome.mountpath = Some(h.mp.id);
    let mut buf = conn.take_wbuf();
    reply::start(&mut buf, status, keep, req.head.minor_version);
    response::header(&mut buf, "Content-Type", b"application/octet-stream");
    response::header_u64(&mut buf, "Content-Length", len);
    response::header(&mut buf, "Accept-Ranges", b"bytes");
    if status == 206 {
        let cr = format!("bytes {}-{}/{}", start, start + len - 1, h.size);
        response::header(&mut buf, "Content-Range", cr.as_bytes());
    }
    attr_headers(&mut buf, &h, conn.core.store.atime_read(&h));
    response::finish(&mut buf);
    let mut pieces = Vec::new();
    let body = BodySource::object(&h, start, len, &mut pieces);
    if let Err(e) = conn.send_head_and_body(buf, body).await {
        tracing::debug!(bucket, obj, "GET: {e}");
        return false;
    }
    conn.outcome.status = status;
    conn.outcome.bytes = len;
    keep
}

/// HEAD v2 properties AIS accepts in `props=`.
const HEAD_V2_PROPS: &[&str] = &[
    "name",
    "size",
    "checksum",
    "atime",
    "version",
    "custom",
    "location",
    "copies",
    "ec",
    "chunked",
    "last-modified",
    "etag",
];

async fn head(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str) -> bool {
    let props: Option<Vec<String>> = req.q("props").map(|p| {
        p.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    if let Some(ps) = &props {
        if let Some(bad) = ps.iter().find(|p| !HEAD_V2_PROPS.contains(&p.as_str())) {
            let msg = format!("ais://{bucket}/{obj}: unknown object property {bad:?} in props=");
            return reply::error(conn, req.head, 400, &msg, true).await;
        }
    }
    let h = match object::open(conn, bucket, obj).await {
        Ok(h) => h,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    let keep = req.head.keep_alive && !conn.core.shutting_down();
    let keep = keep && conn.discard_body().await;
    let location = format!("t[{}]:{}", conn.core.node.daemon_id, h.mp.path.display());
    let mp = h.mp.path.to_string_lossy().to_string();
    conn.outcome.status = 200;
    conn.outcome.mountpath = Some(h.mp.id);
    let mut buf = conn.take_wbuf();
    reply::start(&mut buf, 200, keep, req.head.minor_version);
    response::header_u64(&mut buf, "Content-Length", h.size);
    response::header(&mut buf, "Ais-Present", b"true");
    match &props {
        None => {
            response::header(&mut buf, "Ais-Bucket-Name", bucket.as_bytes());
            response::header(&mut buf, "Ais-Bucket-Provider", b"ais");
            response::header(&mut buf, "Ais-Name", obj.as_bytes());
            response::header(&mut buf, "Ais-Location", location.as_bytes());
            mirror_headers(&mut buf, &conn.core.store, &h, &mp);
            attr_headers(&mut buf, &h, conn.core.store.atime_of(&h));
        }
        Some(ps) => {
            let has = |p: &str| ps.iter().any(|x| x == p);
            if has("name") {
                response::header(&mut buf, "Ais-Name", obj.as_bytes());
            }
            if has("size") {
                response::header_u64(&mut buf, "Ais-Size", h.size);
            }
            if has("checksum") {
                response::header(&mut buf, "Ais-Checksum-Type", h.lom.cksum_type.as_bytes());
                response::header(&mut buf, "Ais-Checksum-Value", h.lom.cksum_value.as_bytes());
            }
            if has("atime") {
                let atime = conn.core.store.atime_of(&h);
                response::header(&mut buf, "Ais-Atime", atime.to_string().as_bytes());
            }
            if has("version") {
                if let Some(v) = &h.lom.version {
                    response::header(&mut buf, "Ais-Version", v.as_bytes());
                }
            }
            if has("custom") {
                custom_headers(&mut buf, &h);
            }
            if has("location") {
                response::header(&mut buf, "Ais-Location", location.as_bytes());
            }
            if has("copies") {
                mirror_headers(&mut buf, &conn.core.store, &h, &mp);
            }
            if has("chunked") && !h.chunks.is_empty() {
                let max = h.chunks.iter().map(|c| c.size).max().unwrap_or(0);
                response::header_u64(&mut buf, "Ais-Chunks-Count", h.chunks.len() as u64);
                response::header_u64(&mut buf, "Ais-Chunks-Max-Chunk-Size", max);
            }
            if has("last-modified") {
                response::header(
                    &mut buf,
                    "Last-Modified",
                    time::http_date(h.mtime_ns).as_bytes(),
                );
            }
            if has("etag") {
                response::header(
                    &mut buf,
                    "ETag",
                    format!("\"{}\"", h.lom.cksum_value).as_bytes(),
                );
            }
        }
    }
    response::finish(&mut buf);
    conn.send_buf(buf, false).await.is_ok() && keep
}

/// The checksum a PUT's client declared (`Ais-Checksum-Type` + `-Value`), if any.
pub(super) fn client_checksum(
    req: &Req<'_>,
    bucket: &str,
    obj: &str,
) -> Result<Option<ClientChecksum>, String> {
    match (
        req.head.header_str("ais-checksum-type"),
        req.head.header_str("ais-checksum-value"),
    ) {
        (Some(t), Some(v)) if !t.is_empty() && !v.is_empty() => match CksumType::parse(t) {
            Some(ct) => Ok(Some(ClientChecksum {
                cksum_type: ct,
                value: v.to_string(),
            })),
            None => Err(format!(
                "ais://{bucket}/{obj}: unsupported checksum type {t:?}"
            )),
        },
        _ => Ok(None),
    }
}

async fn put(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str) -> bool {
    // AIS checks `object_to` first: a copy, not a PUT of the (empty) body.
    if let Some(to) = req.q("object_to").filter(|t| !t.is_empty()) {
        return super::copy::copy(conn, req, bucket, obj, &to).await;
    }
    // As AIS: a multipart part before an append (the SDK's file writer on a part appends).
    if let Some(id) = req.q("uploadId").filter(|t| !t.is_empty()) {
        return super::mpt::put_part(conn, req, bucket, obj, &id).await;
    }
    if req.q("append_type").is_some_and(|t| !t.is_empty()) {
        return super::append::put(conn, req, bucket, obj).await;
    }
    if req.q("partNumber").is_some_and(|t| !t.is_empty()) {
        let msg = format!("ais://{bucket}/{obj}: partNumber without uploadId");
        return reply::error(conn, req.head, 400, &msg, false).await;
    }
    if req.q("append_handle").is_some_and(|h| !h.is_empty()) {
        let msg = format!("ais://{bucket}/{obj}: append_handle without append_type");
        return reply::error(conn, req.head, 400, &msg, true).await;
    }
    let client_cksum = match client_checksum(req, bucket, obj) {
        Ok(c) => c,
        Err(msg) => return reply::error(conn, req.head, 400, &msg, true).await,
    };
    let custom = match super::custom::from_headers(req) {
        Ok(c) => c,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    let spec = PutSpec {
        bucket,
        obj,
        // The declared size picks the write path (direct I/O for large bodies); chunked: unknown.
        declared: req.head.content_length.filter(|_| !req.head.chunked),
        client_cksum,
        custom,
        condition: None,
    };
    let lom = match object::put(conn, spec).await {
        Ok(l) => l,
        Err(PutError::Store(e)) => return reply::store_error(conn, req.head, &e).await,
        Err(PutError::Body(e)) => return body_failed(conn, req, bucket, obj, e).await,
    };
    let atime = now_ns().to_string();
    let version = lom.version.clone().unwrap_or_default();
    let headers: [(&str, &[u8]); 4] = [
        ("Ais-Checksum-Type", lom.cksum_type.as_bytes()),
        ("Ais-Checksum-Value", lom.cksum_value.as_bytes()),
        ("Ais-Atime", atime.as_bytes()),
        ("Ais-Version", version.as_bytes()),
    ];
    reply::ok(conn, req.head, 200, None, &headers, b"").await
}

/// A PUT body could not be read: a malformed chunked body gets 400, a client that went away
/// nothing (the connection closes).
pub(super) async fn body_failed(
    conn: &mut Conn,
    req: &Req<'_>,
    bucket: &str,
    obj: &str,
    e: BodyError,
) -> bool {
    match e {
        BodyError::Malformed(m) => {
            let msg = format!("ais://{bucket}/{obj}: malformed chunked body: {m}");
            reply::error(conn, req.head, 400, &msg, false).await
        }
        e => {
            // The client went away before the body ended: nothing is stored.
            tracing::debug!(bucket, obj, "PUT body incomplete: {e:?}");
            false
        }
    }
}

async fn delete(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str) -> bool {
    if let Some(id) = req.q("uploadId").filter(|t| !t.is_empty()) {
        return super::mpt::abort(conn, req, bucket, obj, &id).await;
    }
    let store = conn.core.store.clone();
    match store.delete_object(bucket, obj).await {
        Ok(()) => reply::ok(conn, req.head, 200, None, &[], b"").await,
        Err(e) => reply::store_error(conn, req.head, &e).await,
    }
}

async fn action(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str) -> bool {
    let body = match conn.read_small_body().await {
        Ok(b) => b,
        Err(e) => return super::bucket::body_error(conn, req, e).await,
    };
    let msg = match super::parse_action(&body) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return reply::error(
                conn,
                req.head,
                400,
                &format!("ais://{bucket}/{obj}: missing action"),
                true,
            )
            .await
        }
        Err(m) => return reply::error(conn, req.head, 400, &m, true).await,
    };
    if req.head.method == Method::Patch {
        // AIS: PATCH on an object sets its custom metadata, whatever the action's name.
        return super::custom::patch(conn, req, bucket, obj, &msg).await;
    }
    // AIS: multipart actions need read-write access, a rename MOVE-OBJECT.
    let bits = match msg.action.as_str() {
        "mpt-upload" | "mpt-complete" => Some(ace::ACCESS_RW),
        "rename-obj" => Some(ace::OBJ_MOVE),
        _ => None,
    };
    if let Some(bits) = bits {
        if let Some(keep) = access::require(conn, req, Some(bucket), bits).await {
            return keep;
        }
    }
    match msg.action.as_str() {
        "mpt-upload" => return super::mpt::create(conn, req, bucket, obj).await,
        "mpt-complete" => return super::mpt::complete(conn, req, bucket, obj, &msg).await,
        _ => {}
    }
    if msg.action == "rename-obj" {
        return super::copy::rename(conn, req, bucket, obj, &msg.name).await;
    }
    if super::ACTIONS_NOT_YET.contains(&msg.action.as_str()) {
        let m = format!(
            "ais://{bucket}/{obj}: action {:?} is not implemented by this node yet",
            msg.action
        );
        return reply::error(conn, req.head, 501, &m, true).await;
    }
    let m = format!("ais://{bucket}/{obj}: invalid action {:?}", msg.action);
    reply::error(conn, req.head, 400, &m, true).await
}

/// `Ais-Mirror-Copies` and `Ais-Mirror-Paths` (AIS `lom.NumCopies`, `lom.MirrorPaths`): the
/// replicas the object's LOM lists and their mountpaths, comma-separated (the SDK's form);
/// the main's mountpath alone when it has no copies.
fn mirror_headers(
    buf: &mut Vec<u8>,
    store: &engine::store::Store,
    h: &ObjectHandle,
    main_mp: &str,
) {
    if h.lom.copies.len() < 2 {
        response::header(buf, "Ais-Mirror-Copies", b"1");
        response::header(buf, "Ais-Mirror-Paths", main_mp.as_bytes());
        return;
    }
    let set = store.mountpaths();
    let paths: Vec<String> = h
        .lom
        .copies
        .iter()
        .filter_map(|c| {
            set.iter()
                .find(|m| std::path::Path::new(c).starts_with(&m.path))
                .map(|m| m.path.to_string_lossy().to_string())
        })
        .collect();
    response::header_u64(buf, "Ais-Mirror-Copies", h.lom.copies.len() as u64);
    response::header(buf, "Ais-Mirror-Paths", paths.join(",").as_bytes());
}
