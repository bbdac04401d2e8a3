//! Object requests: PUT (streamed to a work file, checksummed, renamed into place), GET (whole
//! or one range, zero-copy body), HEAD (v1 headers or v2 `props=`), DELETE.

use engine::cksum::CksumType;
use engine::store::{ClientChecksum, ObjectHandle, PutHandle};
use net::head::Method;
use net::range::parse_range;
use net::response;

use std::time::Instant;

use super::reply;
use super::time;
use super::Req;
use crate::conn::ReqOutcome;
use crate::conn::{BodyError, Conn};
use crate::stats::{Op, Outcome};

/// PUT data goes to the file as soon as this much has arrived (the buffer holds twice that).
pub const PUT_WRITE_BYTES_MIN: usize = 32 * 1024;

pub async fn handle(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str) -> bool {
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
    conn.core.rec.record(bucket, o.mountpath, &outcome);
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
    let store = conn.core.store.clone();
    let h = match store.open_object(&conn.core.view, bucket, obj).await {
        Ok(h) => h,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    let (status, start, len) = match req.head.header("range") {
        None => (200, 0, h.size),
        Some(raw) => {
            let parsed = std::str::from_utf8(raw)
                .map_err(|_| ())
                .and_then(|s| parse_range(s, h.size).map_err(|_| ()));
            match parsed {
                Ok((s, e)) => (206, s, e - s + 1),
                Err(()) => {
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
            }
        }
    };
    let keep = req.head.keep_alive && !conn.core.shutting_down();
    let keep = keep && conn.discard_body().await;
    conn.outcome.mountpath = Some(h.mp_index);
    let mut buf = conn.take_wbuf();
    reply::start(&mut buf, status, keep, req.head.minor_version);
    response::header(&mut buf, "Content-Type", b"application/octet-stream");
    response::header_u64(&mut buf, "Content-Length", len);
    response::header(&mut buf, "Accept-Ranges", b"bytes");
    if status == 206 {
        let cr = format!("bytes {}-{}/{}", start, start + len - 1, h.size);
        response::header(&mut buf, "Content-Range", cr.as_bytes());
    }
    attr_headers(&mut buf, &h, store.atime_read(&h));
    response::finish(&mut buf);
    if let Err(e) = conn.send_head_and_file(buf, &h, start, len).await {
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
    let store = conn.core.store.clone();
    let h = match store.open_object(&conn.core.view, bucket, obj).await {
        Ok(h) => h,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    let keep = req.head.keep_alive && !conn.core.shutting_down();
    let keep = keep && conn.discard_body().await;
    let location = format!("t[{}]:{}", conn.core.node.daemon_id, h.mountpath.display());
    let mp = h.mountpath.to_string_lossy().to_string();
    conn.outcome.status = 200;
    conn.outcome.mountpath = Some(h.mp_index);
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
            response::header(&mut buf, "Ais-Mirror-Copies", b"1");
            response::header(&mut buf, "Ais-Mirror-Paths", mp.as_bytes());
            attr_headers(&mut buf, &h, store.atime_of(&h));
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
                let atime = store.atime_of(&h);
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
                response::header(&mut buf, "Ais-Mirror-Copies", b"1");
                response::header(&mut buf, "Ais-Mirror-Paths", mp.as_bytes());
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
    if req.q("append_type").is_some_and(|t| !t.is_empty()) {
        return super::append::put(conn, req, bucket, obj).await;
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
    let store = conn.core.store.clone();
    // The declared size picks the write path (direct I/O for large bodies); chunked: unknown.
    let declared = req.head.content_length.filter(|_| !req.head.chunked);
    let mut put = match store.put_begin(bucket, obj, declared).await {
        Ok(p) => p,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    if let Some(c) = client_cksum {
        put.expect_checksum(c);
    }
    if !custom.is_empty() {
        if let Err(e) = engine::store::Store::put_set_custom(&mut put, custom) {
            return reply::store_error(conn, req.head, &e).await;
        }
    }
    conn.outcome.mountpath = Some(put.mp_index());
    let body = if put.is_direct() {
        put_body_direct(conn, req, bucket, obj, put).await
    } else {
        put_body_buffered(conn, req, bucket, obj, put).await
    };
    let (put, path) = match body {
        Ok(p) => p,
        Err(keep) => return keep,
    };
    conn.outcome.bytes = put.size();
    let lom = match put.finish().await {
        Ok(l) => l,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    let stats = &conn.core.rec.stats;
    match path {
        PutPath::Buffered => {}
        PutPath::Direct => stats.put_direct.add(1),
        PutPath::DirectFixed => {
            stats.put_direct.add(1);
            stats.put_direct_fixed.add(1);
        }
    }
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

/// How a PUT's body reached its file.
pub(super) enum PutPath {
    /// Through the page cache.
    Buffered,
    /// O_DIRECT writes from an aligned buffer.
    Direct,
    /// O_DIRECT writes from a buffer registered with the ring (WRITE_FIXED).
    DirectFixed,
}

/// Receives a PUT body into the core's body buffers and writes it to the buffered work file
/// every `PUT_WRITE_BYTES_MIN`. `Err(keep)` when the request ended here (answered, or the client
/// is gone); the PUT is dropped then, which removes its work file.
pub(super) async fn put_body_buffered(
    conn: &mut Conn,
    req: &Req<'_>,
    bucket: &str,
    obj: &str,
    mut put: PutHandle,
) -> Result<(PutHandle, PutPath), bool> {
    let mut buf = conn.core.take_body_buf();
    loop {
        match conn.read_body(&mut buf).await {
            Ok(0) => break,
            Ok(_) => {
                if buf.len() >= PUT_WRITE_BYTES_MIN {
                    let (r, b) = put.write(buf).await;
                    buf = b;
                    buf.clear();
                    if let Err(e) = r {
                        conn.core.put_body_buf(buf);
                        drop(put);
                        return Err(reply::store_error(conn, req.head, &e).await);
                    }
                }
            }
            Err(e) => {
                conn.core.put_body_buf(buf);
                drop(put);
                return Err(body_failed(conn, req, bucket, obj, e).await);
            }
        }
    }
    if !buf.is_empty() {
        let (r, b) = put.write(buf).await;
        buf = b;
        if let Err(e) = r {
            conn.core.put_body_buf(buf);
            drop(put);
            return Err(reply::store_error(conn, req.head, &e).await);
        }
    }
    conn.core.put_body_buf(buf);
    Ok((put, PutPath::Buffered))
}

/// Receives a PUT body into an aligned buffer (registered with the ring when the core's pool
/// has one free) and writes each full buffer to the O_DIRECT work file; the rest, ending with
/// the last partial block (buffered), after the body ends. See `put_body_buffered`.
async fn put_body_direct(
    conn: &mut Conn,
    req: &Req<'_>,
    bucket: &str,
    obj: &str,
    mut put: PutHandle,
) -> Result<(PutHandle, PutPath), bool> {
    let mut buf = conn.core.take_aligned_buf();
    let path = if buf.fixed_index().is_some() {
        PutPath::DirectFixed
    } else {
        PutPath::Direct
    };
    loop {
        let (r, b) = conn.read_body_aligned(buf).await;
        buf = b;
        match r {
            Ok(0) => break,
            Ok(_) => {
                if buf.is_full() {
                    let (r, b) = put.write_aligned(buf, false).await;
                    buf = b;
                    if let Err(e) = r {
                        drop((put, buf));
                        return Err(reply::store_error(conn, req.head, &e).await);
                    }
                }
            }
            Err(e) => {
                drop((put, buf));
                return Err(body_failed(conn, req, bucket, obj, e).await);
            }
        }
    }
    let (r, b) = put.write_aligned(buf, true).await;
    drop(b);
    if let Err(e) = r {
        drop(put);
        return Err(reply::store_error(conn, req.head, &e).await);
    }
    Ok((put, path))
}

/// A PUT body could not be read: a malformed chunked body gets 400, a client that went away
/// nothing (the connection closes).
async fn body_failed(
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
