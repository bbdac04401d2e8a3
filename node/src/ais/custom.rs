//! Custom object metadata on the wire: `Ais-Custom-Md: k=v` request headers (one pair per
//! header value, as AIS parses them) and `PATCH /v1/objects/B/O` with `{"value": {k: v}}`
//! (the SDK's `set_custom_props`; `?set-new-custom=true` replaces all client keys).

use engine::store::{parse_custom_header, StoreError};

use super::reply;
use super::{ActionMsg, Req};
use crate::http::Conn;

/// AIS's custom-metadata header.
pub const HDR_CUSTOM_MD: &str = "ais-custom-md";
/// Query flag: replace the object's custom metadata instead of adding to it.
pub const QPARAM_NEW_CUSTOM: &str = "set-new-custom";

/// The custom metadata a request's headers carry (empty if none).
pub fn from_headers(req: &Req<'_>) -> Result<Vec<(String, String)>, StoreError> {
    parse_custom_header(req.head.headers_all(HDR_CUSTOM_MD))
}

/// Whether the client keys a stored custom entry is shown under (internal keys hidden).
pub fn visible(key: &str) -> bool {
    !engine::store::is_internal_custom(key)
}

/// AIS `cos.IsParseBool`.
fn parse_bool(s: &str) -> bool {
    matches!(
        s,
        "1" | "t" | "T" | "true" | "TRUE" | "True" | "y" | "yes" | "on"
    )
}

/// `PATCH /v1/objects/B/O`: sets custom keys of an object (AIS ignores the action name).
pub async fn patch(
    conn: &mut Conn,
    req: &Req<'_>,
    bucket: &str,
    obj: &str,
    msg: &ActionMsg,
) -> bool {
    let Some(map) = msg.value.as_object() else {
        let m = format!(
            "ais://{bucket}/{obj}: set-custom: expecting \"value\" to be an object of strings"
        );
        return reply::error(conn, req.head, 400, &m, true).await;
    };
    let mut kvs = Vec::with_capacity(map.len());
    for (k, v) in map {
        let Some(v) = v.as_str() else {
            let m = format!("ais://{bucket}/{obj}: set-custom: the value of {k:?} is not a string");
            return reply::error(conn, req.head, 400, &m, true).await;
        };
        kvs.push((k.clone(), v.to_string()));
    }
    let replace = req.q(QPARAM_NEW_CUSTOM).is_some_and(|v| parse_bool(&v));
    let store = conn.core.store.clone();
    match store.set_custom(bucket, obj, kvs, replace).await {
        Ok(()) => reply::ok(conn, req.head, 200, None, &[], b"").await,
        Err(e) => reply::store_error(conn, req.head, &e).await,
    }
}
