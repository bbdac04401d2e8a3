//! Token access control on the AIS API (node flags `--auth-secret*`/`--auth-pubkey`): the
//! gate every AIS request passes before routing (token required → 401, permission the
//! method and path need → 403), and the later checks of actions named in request bodies.
//! Which request needs which AIS access bit follows AIS's proxy (`ais/proxy.go`,
//! `ais/prxclu.go`); `/v1/health` and `/metrics` stay open.

use std::borrow::Cow;
use std::rc::Rc;

use net::head::{Method, RequestHead};
use net::url::query_value;

use super::{reply, split_names, Req};
use crate::auth::{ace, Claims};
use crate::http::Conn;

/// What a request needs, as far as its method, path and query tell.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Need<'a> {
    /// Open to all (health, metrics).
    Open,
    /// A valid token; the handler checks what its action needs (body-named actions) or
    /// answers an error.
    Token,
    /// These bits on the cluster.
    Cluster(u64),
    /// These bits on the bucket.
    /// (The name borrowed from the request path unless it needed decoding.)
    Bucket(Cow<'a, str>, u64),
}

/// The permission of an object request.
fn object_need<'a>(head: &RequestHead, bucket: Cow<'a, str>) -> Need<'a> {
    let bits = match head.method {
        Method::Get => ace::GET,
        Method::Head => ace::OBJ_HEAD,
        Method::Put => {
            if query_value(&head.query, "object_to").is_some_and(|t| !t.is_empty()) {
                // A copy: reading here; the destination's PUT is checked by the handler.
                ace::GET
            } else if query_value(&head.query, "append_type").is_some() {
                ace::APPEND
            } else {
                ace::PUT
            }
        }
        // AIS: aborting a multipart upload needs read-write access.
        Method::Delete if query_value(&head.query, "uploadId").is_some() => ace::ACCESS_RW,
        Method::Delete => ace::OBJ_DELETE,
        Method::Patch => ace::OBJ_UPDATE,
        _ => return Need::Token,
    };
    Need::Bucket(bucket, bits)
}

/// The permission of a bucket request (`bucket` `None`: all buckets).
fn bucket_need<'a>(head: &RequestHead, bucket: Option<Cow<'a, str>>) -> Need<'a> {
    match (head.method, bucket) {
        (Method::Get, None) => Need::Cluster(ace::LIST_BUCKETS),
        (_, None) => Need::Cluster(ace::ADMIN),
        (Method::Get, Some(b)) => Need::Bucket(b, ace::OBJ_LIST),
        (Method::Head, Some(b)) => Need::Bucket(b, ace::BCK_HEAD),
        (Method::Patch, Some(b)) => Need::Bucket(b, ace::PATCH),
        // Create / make-n-copies / destroy: by the action in the body (bucket.rs).
        _ => Need::Token,
    }
}

/// What `head` needs.
pub(crate) fn need(head: &RequestHead) -> Need<'_> {
    let path = head.path.as_str();
    if path == "/v1/health" || path == "/metrics" {
        return Need::Open;
    }
    if let Some(rest) = path.strip_prefix("/v1/objects/") {
        return match split_names(rest) {
            Ok((b, Some(_))) => object_need(head, b),
            _ => Need::Token,
        };
    }
    if path == "/v1/buckets" || path == "/v1/buckets/" || path == "/ais" || path == "/ais/" {
        return bucket_need(head, None);
    }
    if let Some(rest) = path.strip_prefix("/v1/buckets/") {
        return match split_names(rest) {
            Ok((b, None)) => bucket_need(head, Some(b)),
            Ok((b, Some(o))) if o.is_empty() => bucket_need(head, Some(b)),
            _ => Need::Token,
        };
    }
    if let Some(rest) = path.strip_prefix("/ais/") {
        return match split_names(rest) {
            Ok((b, Some(o))) if !o.is_empty() => object_need(head, b),
            Ok((b, _)) => bucket_need(head, Some(b)),
            Err(_) => Need::Token,
        };
    }
    if path == "/v1/daemon"
        || path == "/v1/cluster"
        || path == "/v1/reverse/daemon"
        || super::mountpaths::is_mountpaths_path(path)
        || path.starts_with("/v1/")
    {
        // Node and cluster: reading shows the cluster, anything else administers it (AIS:
        // `httpcluget`/`_dae` GET → AceShowCluster, PUT/POST/DELETE → AceAdmin). The rest
        // of `/v1/` (jobs of features to come, ETL, dsort...) is administration too.
        return if matches!(head.method, Method::Get | Method::Head) {
            Need::Cluster(ace::SHOW_CLUSTER)
        } else {
            Need::Cluster(ace::ADMIN)
        };
    }
    Need::Token
}

/// The access gate: `Ok(claims)` (`None` with auth off or for an open endpoint) lets the
/// request through; `Err(keep)` means it was answered (401 or 403).
pub(crate) async fn gate(conn: &mut Conn, head: &RequestHead) -> Result<Option<Rc<Claims>>, bool> {
    let Some(verifier) = conn.core.node.auth.clone() else {
        return Ok(None);
    };
    let need = need(head);
    if need == Need::Open {
        return Ok(None);
    }
    let claims = {
        let verdict = match crate::auth::extract_token(head) {
            None => Err(crate::auth::AuthError::NoToken),
            Some(t) => conn.core.auth_cache.borrow_mut().claims(&verifier, t),
        };
        match verdict {
            Ok(c) => c,
            Err(e) => {
                conn.core.rec.stats.auth_refused.add(1);
                let keep = reply::error(conn, head, 401, &e.to_string(), true).await;
                return Err(keep);
            }
        }
    };
    let verdict = match &need {
        Need::Cluster(bits) => claims.check(&verifier.cluster_id, None, *bits),
        Need::Bucket(b, bits) => claims.check(&verifier.cluster_id, Some(b.as_ref()), *bits),
        Need::Open | Need::Token => Ok(()),
    };
    if let Err(m) = verdict {
        conn.core.rec.stats.auth_denied.add(1);
        return Err(reply::error(conn, head, 403, &m, true).await);
    }
    Ok(Some(claims))
}

/// A handler's check of an action's permission: `None` to go on (allowed, or auth off),
/// `Some(keep)` when a 403 was sent.
pub(crate) async fn require(
    conn: &mut Conn,
    req: &Req<'_>,
    bucket: Option<&str>,
    bits: u64,
) -> Option<bool> {
    let verifier = conn.core.node.auth.clone()?;
    let Some(claims) = req.claims.as_ref() else {
        // Auth is on and the gate let the request through without claims: only open
        // endpoints do that, and they have no actions to check.
        return Some(reply::error(conn, req.head, 401, "token required", true).await);
    };
    match claims.check(&verifier.cluster_id, bucket, bits) {
        Ok(()) => None,
        Err(m) => {
            conn.core.rec.stats.auth_denied.add(1);
            Some(reply::error(conn, req.head, 403, &m, true).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, target: &str) -> RequestHead {
        let raw = format!("{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        net::head::parse_head(raw.as_bytes())
            .expect("parses")
            .expect("complete")
            .0
    }

    #[test]
    fn needs_follow_ais() {
        let b = |n: &'static str, bits| Need::Bucket(Cow::Borrowed(n), bits);
        assert_eq!(need(&head("GET", "/v1/health")), Need::Open);
        assert_eq!(need(&head("GET", "/metrics")), Need::Open);
        assert_eq!(need(&head("GET", "/v1/objects/b/o")), b("b", ace::GET));
        assert_eq!(need(&head("GET", "/ais/b/o/p")), b("b", ace::GET));
        assert_eq!(
            need(&head("HEAD", "/v1/objects/b/o")),
            b("b", ace::OBJ_HEAD)
        );
        assert_eq!(need(&head("PUT", "/v1/objects/b/o")), b("b", ace::PUT));
        assert_eq!(
            need(&head("PUT", "/v1/objects/b/o?append_type=append")),
            b("b", ace::APPEND)
        );
        assert_eq!(
            need(&head("PUT", "/v1/objects/b/o?object_to=ais/@%23/c/o")),
            b("b", ace::GET)
        );
        assert_eq!(
            need(&head("DELETE", "/v1/objects/b/o")),
            b("b", ace::OBJ_DELETE)
        );
        assert_eq!(
            need(&head("PATCH", "/v1/objects/b/o")),
            b("b", ace::OBJ_UPDATE)
        );
        assert_eq!(need(&head("POST", "/v1/objects/b/o")), Need::Token);
        assert_eq!(need(&head("GET", "/v1/buckets/b")), b("b", ace::OBJ_LIST));
        assert_eq!(need(&head("GET", "/ais/b")), b("b", ace::OBJ_LIST));
        assert_eq!(need(&head("HEAD", "/v1/buckets/b")), b("b", ace::BCK_HEAD));
        assert_eq!(need(&head("PATCH", "/v1/buckets/b")), b("b", ace::PATCH));
        assert_eq!(need(&head("POST", "/v1/buckets/b")), Need::Token);
        assert_eq!(need(&head("DELETE", "/v1/buckets/b")), Need::Token);
        assert_eq!(
            need(&head("GET", "/v1/buckets")),
            Need::Cluster(ace::LIST_BUCKETS)
        );
        assert_eq!(
            need(&head("POST", "/v1/buckets")),
            Need::Cluster(ace::ADMIN)
        );
        assert_eq!(
            need(&head("GET", "/v1/daemon?what=smap")),
            Need::Cluster(ace::SHOW_CLUSTER)
        );
        assert_eq!(need(&head("PUT", "/v1/cluster")), Need::Cluster(ace::ADMIN));
        assert_eq!(
            need(&head("PUT", "/v1/daemon/mountpaths")),
            Need::Cluster(ace::ADMIN)
        );
        assert_eq!(need(&head("POST", "/v1/etl")), Need::Cluster(ace::ADMIN));
        assert_eq!(need(&head("GET", "/nowhere")), Need::Token);
    }
}
