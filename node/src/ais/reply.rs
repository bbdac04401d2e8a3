//! Writing responses: status line and common headers, AIS JSON errors (with `Hdr-Error` on
//! HEAD), and the one place that maps store errors to HTTP status codes.

use engine::store::StoreError;
use net::head::{Method, RequestHead};
use net::response;

use crate::http::Conn;

/// The HTTP status of a store error. Each code has this one place to check.
pub fn status_of(e: &StoreError) -> u16 {
    match e {
        StoreError::BucketNotFound(_)
        | StoreError::MountpathNotFound(_)
        | StoreError::ObjNotFound(..)
        | StoreError::UploadNotFound(..) => 404,
        StoreError::BucketExists(_)
        | StoreError::NameConflict(..)
        | StoreError::UploadBusy(..)
        | StoreError::MountpathConflict(_) => 409,
        StoreError::BadBucketName(..)
        | StoreError::BadObjName(..)
        | StoreError::BadChecksum { .. }
        | StoreError::UnsupportedChecksum(_)
        | StoreError::NameTooLong(..)
        | StoreError::BadProps(_)
        | StoreError::BadCopies(_)
        | StoreError::BadAppendHandle(..)
        | StoreError::BadCustom(_)
        | StoreError::BadMountpath(_)
        | StoreError::BadUpload(..) => 400,
        StoreError::PartList(kind, ..) => match kind {
            engine::store::PartListError::Partial => 501,
            _ => 400,
        },
        StoreError::MetaMissing(..)
        | StoreError::MetaCorrupt(..)
        | StoreError::DataCorrupt { .. }
        | StoreError::Io { .. } => 500,
        StoreError::NoMountpaths | StoreError::AppendsBusy(_) | StoreError::UploadsBusy(_) => 503,
        StoreError::NoSpace { .. } => 507,
        StoreError::ObjExists(..) | StoreError::EtagMismatch(..) => 412,
    }
}

/// Escapes a string for a JSON string literal.
pub fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// AIS's error body (`cmn.ErrHTTP`).
pub fn error_body(conn: &Conn, head: Option<&RequestHead>, status: u16, message: &str) -> String {
    let (method, path) = head
        .map(|h| (h.method_str.as_str(), h.path.as_str()))
        .unwrap_or(("", ""));
    format!(
        "{{\"message\":{},\"method\":{},\"url_path\":{},\"remote_addr\":{},\"caller\":\"\",\"node\":{},\"status\":{}}}",
        json_str(message),
        json_str(method),
        json_str(path),
        json_str(&conn.peer),
        json_str(&format!("t[{}]", conn.core.node.daemon_id)),
        status
    )
}

/// Starts a response in `buf`: status line plus `Connection: close` when not keeping alive,
/// or `Connection: keep-alive` when keeping an HTTP/1.0 connection (1.0 closes by default).
pub fn start(buf: &mut Vec<u8>, status: u16, keep: bool, minor_version: u8) {
    debug_assert!(buf.is_empty());
    response::start(buf, status);
    if !keep {
        response::header(buf, "Connection", b"close");
    } else if minor_version == 0 {
        response::header(buf, "Connection", b"keep-alive");
    }
}

/// Sends an error response. HEAD gets no body and the JSON in `Hdr-Error`.
/// Returns whether the connection can serve another request.
pub async fn error(
    conn: &mut Conn,
    head: &RequestHead,
    status: u16,
    message: &str,
    keep: bool,
) -> bool {
    error_with(conn, head, status, message, keep, &[]).await
}

/// `error` with extra headers (e.g. `Content-Range` on 416).
pub async fn error_with(
    conn: &mut Conn,
    head: &RequestHead,
    status: u16,
    message: &str,
    keep: bool,
    extra: &[(&str, &[u8])],
) -> bool {
    let keep = keep && head.keep_alive && !conn.core.shutting_down();
    // A body the client is still sending must be consumed (or the connection closed) before
    // the next request can be read.
    let keep = keep && conn.discard_body().await;
    if status >= 500 {
        tracing::warn!(status, method = %head.method_str, path = %head.path, "{message}");
    } else {
        tracing::debug!(status, method = %head.method_str, path = %head.path, "{message}");
    }
    let body = error_body(conn, Some(head), status, message);
    conn.outcome.status = status;
    let mut buf = conn.take_wbuf();
    start(&mut buf, status, keep, head.minor_version);
    for (k, v) in extra {
        response::header(&mut buf, k, v);
    }
    response::header(&mut buf, "X-Content-Type-Options", b"nosniff");
    if head.method == Method::Head {
        response::header(&mut buf, "Hdr-Error", body.as_bytes());
        response::header_u64(&mut buf, "Content-Length", 0);
        response::finish(&mut buf);
    } else {
        response::header(&mut buf, "Content-Type", b"application/json");
        response::header_u64(&mut buf, "Content-Length", body.len() as u64);
        response::finish(&mut buf);
        buf.extend_from_slice(body.as_bytes());
    }
    conn.send_buf(buf, false).await.is_ok() && keep
}

/// Sends a store error with its status.
pub async fn store_error(conn: &mut Conn, head: &RequestHead, e: &StoreError) -> bool {
    conn.outcome.err_io = matches!(e, StoreError::Io { .. } | StoreError::NoSpace { .. });
    // Damaged content or a damaged LOM count as checksum errors like a bad client checksum.
    conn.outcome.err_cksum = matches!(
        e,
        StoreError::BadChecksum { .. }
            | StoreError::DataCorrupt { .. }
            | StoreError::MetaCorrupt(..)
    );
    error(conn, head, status_of(e), &e.to_string(), true).await
}

/// Sends a complete response with `body` and the given headers.
pub async fn ok(
    conn: &mut Conn,
    head: &RequestHead,
    status: u16,
    content_type: Option<&str>,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> bool {
    let keep = head.keep_alive && !conn.core.shutting_down();
    let keep = keep && conn.discard_body().await;
    conn.outcome.status = status;
    let mut buf = conn.take_wbuf();
    start(&mut buf, status, keep, head.minor_version);
    if let Some(ct) = content_type {
        response::header(&mut buf, "Content-Type", ct.as_bytes());
    }
    for (k, v) in headers {
        response::header(&mut buf, k, v);
    }
    response::header_u64(&mut buf, "Content-Length", body.len() as u64);
    response::finish(&mut buf);
    if head.method != Method::Head {
        buf.extend_from_slice(body);
    }
    conn.send_buf(buf, false).await.is_ok() && keep
}
