//! AIS's native HTTP API: routing of `/v1/objects`, `/v1/buckets`, `/v1/daemon`, `/v1/cluster`,
//! `/v1/health` and the "easy URL" `/ais/<bucket>[/<object>]` to their handlers.
//!
//! Names in the path are percent-decoded and validated by the engine before any path is built,
//! so no request can reach outside the mountpaths (`%2e%2e%2f` decodes to `../` and fails the
//! `..` component rule).

mod access;
mod append;
mod bucket;
pub mod cluster;
mod copy;
mod custom;
mod daemon;
mod gateway;
mod later;
mod lsflags;
mod mountpaths;
mod mpt;
mod object;
pub mod params;
pub mod reply;
mod time;

pub use time::http_date;

use std::borrow::Cow;

use net::head::{Method, RequestHead};
use net::url::{percent_decode_cow, query_value};

use crate::http::Conn;

/// The cluster's UUID in the Smap (`what=smap`): AuthN names it in tokens' cluster ACLs and
/// bucket namespaces.
pub fn cluster_uuid(daemon_id: &str) -> String {
    format!("aisle-{daemon_id}")
}

/// A request being routed.
pub struct Req<'a> {
    pub head: &'a RequestHead,
    /// The verified token's claims when token access control is on (`access::gate`).
    pub claims: Option<std::rc::Rc<crate::auth::Claims>>,
}

impl Req<'_> {
    /// A decoded query parameter (borrowed from the head unless it needed decoding).
    pub fn q(&self, key: &str) -> Option<Cow<'_, str>> {
        query_value(&self.head.query, key)
    }
}

/// Answers a request head that could not be parsed, and closes.
pub async fn send_bad_head(conn: &mut Conn, status: u16, msg: &str) {
    let body = reply::error_body(conn, None, status, msg);
    let mut buf = conn.take_wbuf();
    reply::start(&mut buf, status, false, 1);
    net::response::header(&mut buf, "Content-Type", b"application/json");
    net::response::header_u64(&mut buf, "Content-Length", body.len() as u64);
    net::response::finish(&mut buf);
    buf.extend_from_slice(body.as_bytes());
    let _ = conn.send_buf(buf, false).await;
}

/// Answers a connection accepted over its core's connection limit, before reading anything
/// of it: 503 with AIS's JSON error body, `Retry-After` and `Connection: close`.
pub async fn send_refusal(conn: &mut Conn, msg: &str) {
    let body = reply::error_body(conn, None, 503, msg);
    let mut buf = conn.take_wbuf();
    reply::start(&mut buf, 503, false, 1);
    net::response::header(&mut buf, "Retry-After", RETRY_AFTER_SECS);
    net::response::header(&mut buf, "Content-Type", b"application/json");
    net::response::header_u64(&mut buf, "Content-Length", body.len() as u64);
    net::response::finish(&mut buf);
    buf.extend_from_slice(body.as_bytes());
    let _ = conn.send_buf(buf, false).await;
}

/// `Retry-After` of a 503 for a limit reached (seconds).
pub const RETRY_AFTER_SECS: &[u8] = b"1";

/// Splits `rest` into a decoded bucket and an optional decoded object name (borrowed when the
/// path has no escapes).
fn split_names(rest: &str) -> Result<(Cow<'_, str>, Option<Cow<'_, str>>), String> {
    let (b, o) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let bucket = percent_decode_cow(b).map_err(|e| format!("bad bucket name encoding: {e}"))?;
    let obj = match o {
        Some(o) => {
            Some(percent_decode_cow(o).map_err(|e| format!("bad object name encoding: {e}"))?)
        }
        None => None,
    };
    Ok((bucket, obj))
}

/// Serves one request; returns whether the connection may carry another.
pub async fn handle(conn: &mut Conn, head: &RequestHead) -> bool {
    conn.test_panic_at = None;
    if conn.core.node.test_panic {
        conn.test_panic_at = head
            .header(crate::ctx::TEST_PANIC_HEADER)
            .map(|v| String::from_utf8_lossy(v).into_owned());
        conn.test_panic_point("handle");
    }
    // Token access control before anything else looks at the request.
    let claims = match access::gate(conn, head).await {
        Ok(c) => c,
        Err(keep) => return keep,
    };
    let req = Req { head, claims };
    if let Some(p) = req.q("provider") {
        if !p.is_empty() && p != "ais" {
            let msg = format!("provider {p:?} is not supported by this node (only ais)");
            return reply::error(conn, req.head, 400, &msg, true).await;
        }
    }
    if let Some(ns) = req.q("namespace") {
        if !ns.is_empty() {
            let msg = format!(
                "namespace {ns:?} is not supported by this node (only the global namespace)"
            );
            return reply::error(conn, req.head, 400, &msg, true).await;
        }
    }
    if let Some(keep) = later::refuse(conn, &req).await {
        return keep;
    }
    let path = head.path.as_str();
    // The parameter table: a parameter or header that would change the request's meaning in a
    // way this node does not implement is refused before any handler runs.
    if let Some(target) = params_target(path) {
        if let Some((p, header)) = params::refused(head, target) {
            let msg = params::refusal_message(p, header);
            return reply::error(conn, req.head, 501, &msg, true).await;
        }
    }
    if let Some(rest) = path.strip_prefix("/v1/objects/") {
        if let Some(keep) = gateway::redirect_proxy_leg(conn, &req).await {
            return keep;
        }
        return match split_names(rest) {
            Ok((b, Some(o))) => object::handle(conn, &req, &b, &o).await,
            Ok((b, None)) => {
                let msg = format!("missing object name in ais://{b}");
                reply::error(conn, req.head, 400, &msg, true).await
            }
            Err(m) => reply::error(conn, req.head, 400, &m, true).await,
        };
    }
    if path == "/v1/buckets" || path == "/v1/buckets/" {
        return bucket::handle(conn, &req, None).await;
    }
    if let Some(rest) = path.strip_prefix("/v1/buckets/") {
        return match split_names(rest) {
            Ok((b, None)) => bucket::handle(conn, &req, Some(&b)).await,
            Ok((b, Some(o))) if o.is_empty() => bucket::handle(conn, &req, Some(&b)).await,
            Ok((b, Some(_))) => {
                let msg =
                    format!("invalid bucket path for ais://{b}: extra path after the bucket name");
                reply::error(conn, req.head, 400, &msg, true).await
            }
            Err(m) => reply::error(conn, req.head, 400, &m, true).await,
        };
    }
    if path == "/metrics" {
        return daemon::metrics(conn, &req).await;
    }
    if path == "/v1/health" {
        return daemon::health(conn, &req).await;
    }
    if mountpaths::is_mountpaths_path(path) {
        return mountpaths::handle(conn, &req).await;
    }
    // Job queries (`PUT` start/stop reach `cluster` through the daemon's action handler).
    if path == "/v1/cluster" && req.head.method == Method::Get {
        let what = req.q("what").unwrap_or_default();
        if let Some(w) = cluster::WHATS.iter().find(|w| **w == what) {
            return cluster::get(conn, &req, w).await;
        }
    }
    if let Some(rest) = path.strip_prefix("/v1/daemon/") {
        if rest == daemon::LOAD_X509 {
            return daemon::load_x509(conn, &req, false, None).await;
        }
    }
    if let Some(rest) = path.strip_prefix("/v1/cluster/") {
        if let Some(tail) = rest.strip_prefix(daemon::LOAD_X509) {
            match tail.strip_prefix('/') {
                None if tail.is_empty() => return daemon::load_x509(conn, &req, true, None).await,
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    return daemon::load_x509(conn, &req, true, Some(id)).await
                }
                _ => {}
            }
        }
    }
    // This node is its own proxy: a request "reversed" to a node reaches this one.
    if path == "/v1/daemon" || path == "/v1/cluster" || path == "/v1/reverse/daemon" {
        return daemon::daemon(conn, &req).await;
    }
    if path == "/ais" || path == "/ais/" {
        return bucket::handle(conn, &req, None).await;
    }
    if let Some(rest) = path.strip_prefix("/ais/") {
        return match split_names(rest) {
            Ok((b, Some(o))) if !o.is_empty() => object::handle(conn, &req, &b, &o).await,
            Ok((b, _)) => {
                if req.head.method == Method::Get || req.head.method == Method::Head {
                    bucket::handle(conn, &req, Some(&b)).await
                } else {
                    let msg = format!("missing object name in ais://{b}");
                    reply::error(conn, req.head, 400, &msg, true).await
                }
            }
            Err(m) => reply::error(conn, req.head, 400, &m, true).await,
        };
    }
    let msg = format!("invalid URL path {:?}", req.head.path);
    reply::error(conn, req.head, 404, &msg, true).await
}

/// Whether `path` addresses an object or a bucket (the parameter table's scopes); `None` for
/// the node's other endpoints.
fn params_target(path: &str) -> Option<params::Target> {
    if path.starts_with("/v1/objects/") {
        return Some(params::Target::Object);
    }
    if path == "/v1/buckets" || path.starts_with("/v1/buckets/") || path == "/ais" {
        return Some(params::Target::Bucket);
    }
    let rest = path.strip_prefix("/ais/")?;
    match rest.split_once('/') {
        Some((_, o)) if !o.is_empty() => Some(params::Target::Object),
        _ => Some(params::Target::Bucket),
    }
}

/// The `action` of an AIS action message body, with its `name` and `value`.
pub struct ActionMsg {
    pub action: String,
    pub name: String,
    pub value: serde_json::Value,
}

/// Parses an action message (`{"action","name","value"}`); an empty body gives `None`.
pub fn parse_action(body: &[u8]) -> Result<Option<ActionMsg>, String> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("malformed JSON request body: {e}"))?;
    let obj = v
        .as_object()
        .ok_or("malformed JSON request body: expected an object")?;
    let action = match obj.get("action") {
        Some(serde_json::Value::String(s)) => s.clone(),
        None | Some(serde_json::Value::Null) => String::new(),
        Some(_) => return Err("malformed JSON request body: \"action\" must be a string".into()),
    };
    let name = match obj.get("name") {
        Some(serde_json::Value::String(s)) => s.clone(),
        None | Some(serde_json::Value::Null) => String::new(),
        Some(_) => return Err("malformed JSON request body: \"name\" must be a string".into()),
    };
    let value = obj.get("value").cloned().unwrap_or(serde_json::Value::Null);
    Ok(Some(ActionMsg {
        action,
        name,
        value,
    }))
}

/// AIS action names this node knows of but does not implement yet (→ 501, not 400).
pub const ACTIONS_NOT_YET: &[&str] = &[
    "copy-bck",
    "move-bck",
    "ec-encode",
    "summary-bck",
    "evict-remote-bck",
    "delete-listrange",
    "copy-listrange",
    "etl-listrange",
    "etl-bck",
    "create-inventory",
    "destroy-inventory",
    "show-inventory",
    "evict-listrange",
    "prefetch-listrange",
    "promote",
    "blob-download",
    "check-lock",
    "rechunk",
    "reset-bprops",
    "start",
    "stop",
    "archive",
    "put-copies",
    "get-batch",
    "index-shard",
    "summary-shard",
    "download",
    "dsort",
];

/// AIS cluster and node actions (`PUT /v1/cluster`, `PUT /v1/daemon`) this node knows of but
/// does not implement yet (→ 501). `start`/`stop` are served on `/v1/cluster` (`cluster.rs`).
pub const ADMIN_ACTIONS_NOT_YET: &[&str] = &[
    "shutdown",
    "shutdown-node",
    "decommission",
    "decommission-node",
    "start-maintenance",
    "stop-maintenance",
    "rebalance",
    "resilver",
    "set-config",
    "reset-config",
    "reset-stats",
    "rotate-logs",
    "reload-creds",
    "clear-lcache",
    "load-lom-cache",
    "attach",
    "detach",
    "enable-bend",
    "disable-bend",
    "new-primary",
    "start",
    "stop",
    "lru",
    "cleanup-store",
];
