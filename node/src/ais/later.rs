//! AIS endpoints and requests for features this node does not have yet (GetBatch, dsort, ETL,
//! jobs, node logs and stats, archiving, promote), refused in one place, before routing, with
//! 501 and AIS's JSON error naming the feature, instead of a 404/405/400 that reads like a
//! client mistake. Everything else falls through to the regular routes.

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
    ("status", "job status"),
    ("status_all", "job status"),
    ("running_all", "running jobs"),
    ("getxstats", "job statistics"),
    ("qryxstats", "job statistics"),
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
    if matches!(path, "/v1/cluster" | "/v1/daemon" | "/v1/reverse/daemon") {
        return match method {
            Method::Get => {
                let what = req.q("what").unwrap_or_default().to_string();
                let (_, feature) = WHAT_NOT_YET.iter().find(|(w, _)| *w == what)?;
                let m = format!("{feature} (what={what:?}) is not served by this node yet");
                Some(reply::error(conn, req.head, 501, &m, true).await)
            }
            // AIS's PUT on the cluster and on a node carries an action (start/stop a job, set
            // config, shut down, ...): a known one is not implemented here yet (501), an unknown
            // one is a client error (400).
            Method::Put => {
                Some(action_refusal(conn, req, path, super::ADMIN_ACTIONS_NOT_YET, None).await)
            }
            _ => {
                let m = format!(
                    "method {} not allowed on {path} (GET and PUT only)",
                    req.head.method_str
                );
                Some(reply::error(conn, req.head, 405, &m, true).await)
            }
        };
    }
    if method == Method::Put {
        // PUT on a bucket is AIS's "archive objects into a shard" (the only action it takes).
        if let Some(b) = bucket_only(path, "/v1/buckets/") {
            let what = format!("bucket \"ais://{b}\"");
            let other = format!("method PUT not allowed on ais://{b} (but for action \"archive\")");
            return Some(action_refusal(conn, req, &what, &["archive"], Some((405, other))).await);
        }
    }
    if method == Method::Post {
        // POST on `/v1/objects/<bucket>` (no object name) is AIS's promote.
        if let Some(b) = bucket_only(path, "/v1/objects/") {
            let what = format!("ais://{b}");
            let other = format!("missing object name in ais://{b}");
            return Some(action_refusal(conn, req, &what, &["promote"], Some((400, other))).await);
        }
    }
    None
}

/// Reads the action message of `req` and refuses it: 501 for an action of `not_yet` (or for
/// any action when `not_yet` is empty); `otherwise` (status, message) for any other request
/// when given; else 400 for a missing, malformed or unknown action.
async fn action_refusal(
    conn: &mut Conn,
    req: &Req<'_>,
    what: &str,
    not_yet: &[&str],
    otherwise: Option<(u16, String)>,
) -> bool {
    let body = match conn.read_small_body().await {
        Ok(b) => b,
        Err(e) => return super::bucket::body_error(conn, req, e).await,
    };
    let action = match super::parse_action(&body) {
        Ok(Some(m)) => m.action,
        Ok(None) => String::new(),
        Err(m) => match &otherwise {
            Some(_) => String::new(),
            None => return reply::error(conn, req.head, 400, &m, true).await,
        },
    };
    let refused = not_yet.is_empty() || not_yet.contains(&action.as_str());
    if let (false, Some((status, m))) = (refused, &otherwise) {
        return reply::error(conn, req.head, *status, m, true).await;
    }
    if action.is_empty() {
        let m = format!("{what}: missing action");
        return reply::error(conn, req.head, 400, &m, true).await;
    }
    if refused {
        let m = format!("{what}: action {action:?} is not implemented by this node yet");
        return reply::error(conn, req.head, 501, &m, true).await;
    }
    let m = format!(
        "{what}: invalid action {action:?} for {}",
        req.head.method_str
    );
    reply::error(conn, req.head, 400, &m, true).await
}
