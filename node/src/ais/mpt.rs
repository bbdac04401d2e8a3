//! Native multipart upload (AIS 4.x, shared/AISTORE.md §4.5): `mpt-upload` (POST; the answer
//! is the upload id as plain text), a part (PUT `?uploadId=&partNumber=` with the raw body),
//! `mpt-complete` (POST `?uploadId=` with the part list) and `mpt-abort` (DELETE `?uploadId=`).
//! The store does the work (engine/src/store/mpu.rs); this file speaks AIS's dialect.

use super::{reply, ActionMsg, Req};
use crate::http::Conn;
use crate::object::{self, PutError};

/// `POST {"action":"mpt-upload"}`: starts an upload; custom metadata (`Ais-Custom-Md`) sent
/// here is what the object gets at completion.
pub async fn create(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str) -> bool {
    let custom = match super::custom::from_headers(req) {
        Ok(c) => c,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    let store = conn.core.store.clone();
    match store.mpu_create(bucket, obj, custom).await {
        Ok(id) => reply::ok(conn, req.head, 200, Some("text/plain"), &[], id.as_bytes()).await,
        Err(e) => reply::store_error(conn, req.head, &e).await,
    }
}

/// `PUT ?uploadId=&partNumber=`: stores one part (a repeated number replaces the earlier part).
pub async fn put_part(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str, id: &str) -> bool {
    let Some(num) = req.q("partNumber").and_then(|n| n.parse::<u32>().ok()) else {
        let msg = format!(
            "ais://{bucket}/{obj}: upload {id}: partNumber must be a number in [1, {}]",
            engine::store::PART_NUM_MAX
        );
        return reply::error(conn, req.head, 400, &msg, false).await;
    };
    let size = match req.head.content_length.filter(|_| !req.head.chunked) {
        Some(n) if n > 0 => n,
        n => {
            let msg = format!(
                "ais://{bucket}/{obj}: upload {id}: put-part invalid size ({}): part {num} needs \
                 a Content-Length greater than zero",
                n.unwrap_or(0)
            );
            return reply::error(conn, req.head, 400, &msg, false).await;
        }
    };
    let client_cksum = match super::object::client_checksum(req, bucket, obj) {
        Ok(c) => c,
        Err(msg) => return reply::error(conn, req.head, 400, &msg, false).await,
    };
    let store = conn.core.store.clone();
    let mut part = match store.mpu_part_begin(bucket, obj, id, num, Some(size)).await {
        Ok(p) => p,
        Err(e) => return reply::store_error(conn, req.head, &e).await,
    };
    if let Some(c) = client_cksum {
        part.expect_checksum(c);
    }
    conn.outcome.mountpath = Some(part.mountpath_id());
    let part = match object::receive_body(conn, part).await {
        Ok((p, _)) => p,
        Err(PutError::Store(e)) => return reply::store_error(conn, req.head, &e).await,
        Err(PutError::Body(e)) => {
            return super::object::body_failed(conn, req, bucket, obj, e).await
        }
    };
    conn.outcome.bytes = part.size();
    match part.finish_part().await {
        Ok(_) => reply::ok(conn, req.head, 200, None, &[], b"").await,
        Err(e) => reply::store_error(conn, req.head, &e).await,
    }
}

/// `POST {"action":"mpt-complete","value":[{"part-number":1,"etag":""},...]} ?uploadId=`.
pub async fn complete(
    conn: &mut Conn,
    req: &Req<'_>,
    bucket: &str,
    obj: &str,
    msg: &ActionMsg,
) -> bool {
    let Some(id) = req.q("uploadId").filter(|s| !s.is_empty()) else {
        let m = format!("ais://{bucket}/{obj}: mpt-complete needs the query parameter uploadId");
        return reply::error(conn, req.head, 400, &m, true).await;
    };
    let nums = match part_numbers(&msg.value) {
        Ok(n) => n,
        Err(why) => {
            let m = format!("ais://{bucket}/{obj}: upload {id}: mpt-complete: {why}");
            return reply::error(conn, req.head, 400, &m, true).await;
        }
    };
    let store = conn.core.store.clone();
    match store.mpu_complete(bucket, obj, &id, &nums).await {
        Ok(lom) => {
            let version = lom.version.clone().unwrap_or_default();
            let headers: [(&str, &[u8]); 3] = [
                ("Ais-Checksum-Type", lom.cksum_type.as_bytes()),
                ("Ais-Checksum-Value", lom.cksum_value.as_bytes()),
                ("Ais-Version", version.as_bytes()),
            ];
            reply::ok(conn, req.head, 200, None, &headers, b"").await
        }
        Err(e) => reply::store_error(conn, req.head, &e).await,
    }
}

/// The part numbers of a completion's `value` (AIS `MptCompletedParts`).
fn part_numbers(v: &serde_json::Value) -> Result<Vec<u32>, String> {
    let arr = v
        .as_array()
        .ok_or("\"value\" must be the list of parts, e.g. [{\"part-number\":1}]")?;
    arr.iter()
        .map(|p| {
            p.get("part-number")
                .and_then(|n| n.as_u64())
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("each part needs a numeric \"part-number\", got {p}"))
        })
        .collect()
}

/// `DELETE ?uploadId=` (body `{"action":"mpt-abort"}`): removes everything of the upload.
pub async fn abort(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str, id: &str) -> bool {
    let body = match conn.read_small_body().await {
        Ok(b) => b,
        Err(e) => return super::bucket::body_error(conn, req, e).await,
    };
    match super::parse_action(&body) {
        Ok(None) => {}
        Ok(Some(m)) if m.action == "mpt-abort" || m.action.is_empty() => {}
        Ok(Some(m)) => {
            let msg = format!(
                "ais://{bucket}/{obj}: DELETE with uploadId takes the action mpt-abort, not {:?}",
                m.action
            );
            return reply::error(conn, req.head, 400, &msg, true).await;
        }
        Err(m) => return reply::error(conn, req.head, 400, &m, true).await,
    }
    let store = conn.core.store.clone();
    match store.mpu_abort(bucket, obj, id).await {
        Ok(()) => reply::ok(conn, req.head, 200, None, &[], b"").await,
        Err(e) => reply::store_error(conn, req.head, &e).await,
    }
}
