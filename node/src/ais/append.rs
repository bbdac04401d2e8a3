//! Append requests: `PUT /v1/objects/B/O?append_type=append|flush&append_handle=H` (AIS's
//! append, used by the SDK's `ObjectWriter.append_content` and `get_writer().as_file()`).
//! The handle travels in `Ais-Append-Handle`; the session logic is in
//! `engine/src/store/append.rs`, the body loop is the PUT's (`object::receive_body`).

use super::object::{body_failed, client_checksum};
use super::reply;
use super::Req;
use crate::http::Conn;
use crate::object::{self, PutError};

/// Response header carrying the handle for the next append or the flush (AIS `HdrAppendHandle`).
pub const HDR_APPEND_HANDLE: &str = "Ais-Append-Handle";

pub async fn put(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str) -> bool {
    let ty = req.q("append_type").unwrap_or_default().to_string();
    let handle = req.q("append_handle").unwrap_or_default().to_string();
    let flush = match ty.as_str() {
        "append" => false,
        "flush" => true,
        other => {
            let msg = format!(
                "ais://{bucket}/{obj}: invalid operation {other:?} (expecting either \"append\" \
                 or \"flush\") - check \"append_type\" query"
            );
            return reply::error(conn, req.head, 400, &msg, true).await;
        }
    };
    if flush && handle.is_empty() {
        let msg = format!("ais://{bucket}/{obj}: flush needs the append_handle of the last append");
        return reply::error(conn, req.head, 400, &msg, true).await;
    }
    let client = match client_checksum(req, bucket, obj) {
        Ok(c) => c,
        Err(msg) => return reply::error(conn, req.head, 400, &msg, true).await,
    };
    if !flush && client.is_some() {
        let msg = format!(
            "ais://{bucket}/{obj}: a checksum applies to the whole object: send it with the flush"
        );
        return reply::error(conn, req.head, 400, &msg, true).await;
    }
    let custom = match super::custom::from_headers(req) {
        Ok(c) => c,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    if !flush && !custom.is_empty() {
        let msg = format!(
            "ais://{bucket}/{obj}: custom metadata applies to the whole object: send it with the flush"
        );
        return reply::error(conn, req.head, 400, &msg, true).await;
    }
    let store = conn.core.store.clone();
    let node_id = conn.core.node.daemon_id.clone();
    let (mut put, ticket) = match store.append_begin(bucket, obj, &handle, &node_id).await {
        Ok(p) => p,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    if !custom.is_empty() {
        if let Err(e) = engine::store::Store::put_set_custom(&mut put, custom) {
            return reply::store_error(conn, req.head, &e).await;
        }
    }
    conn.outcome.mountpath = Some(put.mountpath_id());
    // On an error the session ends with the request (its work file removed).
    let put = match object::receive_body(conn, put).await {
        Ok((p, _)) => p,
        Err(PutError::Store(e)) => return reply::store_error(conn, req.head, &e).await,
        Err(PutError::Body(e)) => return body_failed(conn, req, bucket, obj, e).await,
    };
    conn.outcome.bytes = put.size();
    if !flush {
        return match store.append_done(put, ticket, &node_id) {
            Ok(h) => {
                let headers: [(&str, &[u8]); 1] = [(HDR_APPEND_HANDLE, h.as_bytes())];
                reply::ok(conn, req.head, 200, None, &headers, b"").await
            }
            Err(e) => reply::store_error(conn, req.head, &e).await,
        };
    }
    let lom = match store.append_flush(put, client).await {
        Ok(l) => l,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    let version = lom.version.clone().unwrap_or_default();
    let headers: [(&str, &[u8]); 3] = [
        ("Ais-Checksum-Type", lom.cksum_type.as_bytes()),
        ("Ais-Checksum-Value", lom.cksum_value.as_bytes()),
        ("Ais-Version", version.as_bytes()),
    ];
    reply::ok(conn, req.head, 200, None, &headers, b"").await
}
