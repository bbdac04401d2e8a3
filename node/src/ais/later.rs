//! AIS endpoints and requests for features this node does not have yet (GetBatch, dsort, ETL,
//! per-node job stats, node logs and stats, archiving, promote), refused in one place, before
//! routing, with 501 and AIS's JSON error naming the feature, instead of a 404/405/400 that
//! reads like a client mistake. Everything else falls through to the regular routes.

use net::head::Method;

use super::reply;
use super::Req;
use crate::http::Conn;

/// Path prefixes of AIS API families this node does not serve yet, with their names.
const PATHS_NOT_YET: &[(&str, &str)] = &[
    ("/v1/ml", "GetBatch (/v1/ml/moss)"),
    ("/v1/sort", "dsort (/v1/sort)"),
    ("/v1/etl", "ETL (/v1/etl)"),
    ("/v1/download", "the downloader (/v1/download)"),
];

/// `what=` values AIS defines for `/v1/cluster` and `/v1/daemon` that this node does not
/// answer yet, with what they ask for. (Unknown values still get the daemon's 400.)
const WHAT_NOT_YET: &[(&str, &str)] = &[
    ("getxstats", "job statistics"),
    ("log", "node logs"),
    ("node_status", "node statistics"),
    ("node_stats", "node statistics"),
    ("config", "node configuration"),
    ("cluster_config", "cluster configuration"),
    ("backends", "backends"),
    ("software_version", "software version"),
    ("disk", "disk statistics"),
    ("metrics", "metric names"),
    ("remote", "remote clusters"),
    ("smapvote", "Smap votes"),
    ("sysinfo", "system information"),
    ("target_ips", "target IPs"),
    ("ic_bundle", "IC bundles"),
    ("tls_certificate", "TLS certificates"),
];

/// True when `path` is `prefix` or under it.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|r| r.is_empty() || r.starts_with('/'))
}

/// The bucket of `/v1/<family>/<bucket>[/]`, when the path names a bucket and nothing more.
fn bucket_only<'a>(path: &'a str, family: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(family)?;
    let b = rest.strip_suffix('/').unwrap_or(rest);
    (!b.is_empty() && !b.contains('/')).then_some(b)
}

/// Refuses `req` if it asks for a feature still to come; `None` lets the router handle it.
/// Returns whether the connection may carry another request.
pub async fn refuse(conn: &mut Conn, req: &Req<'_>) -> Option<bool> {
    let path = req.head.path.as_str();
    let method = req.head.method;
    if let Some((_, feature)) = PATHS_NOT_YET.iter().find(|(p, _)| under(path, p)) {
        let m = format!("{feature} is not implemented by this node yet");
        return Some(reply::error(conn, req.head, 501, &m, true).await);
    }
    // `what=` queries AIS defines but this node does not answer yet; PUT actions and other
    // methods on these paths are the daemon handler's (`daemon::daemon`).
    if method == Method::Get && matches!(path, "/v1/cluster" | "/v1/daemon" | "/v1/reverse/daemon")
    {
        let what = req.q("what").unwrap_or_default().to_string();
        let (_, feature) = WHAT_NOT_YET.iter().find(|(w, _)| *w == what)?;
        let m = format!("{feature} (what={what:?}) is not served by this node yet");
        return Some(reply::error(conn, req.head, 501, &m, true).await);
    }
    if method == Method::Put {
        // PUT on a bucket is AIS's "archive objects into a shard" (the only action it takes).
        if let Some(b) = bucket_only(path, "/v1/buckets/") {
            let what = format!("bucket \"ais://{b}\"");
            let other = format!("method PUT not allowed on ais://{b} (but for action \"archive\")");
            return Some(action_refusal(conn, req, &what, "archive", (405, other)).await);
        }
    }
    if method == Method::Post {
        // POST on `/v1/objects/<bucket>` (no object name) is AIS's promote.
        if let Some(b) = bucket_only(path, "/v1/objects/") {
            let what = format!("ais://{b}");
            let other = format!("missing object name in ais://{b}");
            return Some(action_refusal(conn, req, &what, "promote", (400, other)).await);
        }
    }
    None
}

/// Reads the action message of `req`: action `not_yet` is refused with 501 (the feature is
/// still to come); any other request gets `otherwise` (status, message), what it got before.
async fn action_refusal(
    conn: &mut Conn,
    req: &Req<'_>,
    what: &str,
    not_yet: &str,
    otherwise: (u16, String),
) -> bool {
    let body = match conn.read_small_body().await {
        Ok(b) => b,
        Err(e) => return super::bucket::body_error(conn, req, e).await,
    };
    match super::parse_action(&body) {
        Ok(Some(m)) if m.action == not_yet => {
            let m = format!("{what}: action {not_yet:?} is not implemented by this node yet");
            reply::error(conn, req.head, 501, &m, true).await
        }
        _ => reply::error(conn, req.head, otherwise.0, &otherwise.1, true).await,
    }
}
