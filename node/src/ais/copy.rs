//! Object copy (`PUT /v1/objects/B/O?object_to=<provider>/<namespace>/<bucket>/<object>`, the
//! SDK's `Object.copy()`) and rename (`POST /v1/objects/B/O` with
//! `{"action":"rename-obj","name":"<new name>"}`), over `engine::store::{copy_object, rename_object}`.
//!
//! The destination of a copy is AIS's "uname" (`cmn.ParseUname`): provider, namespace
//! (`@#` or empty for the global one), bucket and object name joined by `/`; the object name
//! is everything after the third `/`.

use engine::store::CopyOutcome;

use super::reply;
use super::{access, Req};
use crate::auth::ace;
use crate::http::conn::Conn;

/// A parsed `object_to`.
#[derive(Debug, PartialEq, Eq)]
pub struct Uname<'a> {
    pub bucket: &'a str,
    pub obj: &'a str,
}

/// Parses AIS's uname `<provider>/<namespace>/<bucket>/<object>`; only `ais` buckets of the
/// global namespace exist on this node. Names themselves are validated by the store.
pub fn parse_uname(s: &str) -> Result<Uname<'_>, String> {
    let mut parts = s.splitn(4, '/');
    let (provider, ns, bucket, obj) = match (parts.next(), parts.next(), parts.next(), parts.next())
    {
        (Some(p), Some(n), Some(b), Some(o)) => (p, n, b, o),
        _ => {
            return Err(format!(
                "invalid object_to {s:?}: expecting <provider>/<namespace>/<bucket>/<object> \
                 (e.g. \"ais/@#/bucket/object\")"
            ))
        }
    };
    if provider != "ais" {
        return Err(format!(
            "invalid object_to {s:?}: provider {provider:?} is not supported by this node (only ais)"
        ));
    }
    if !ns.is_empty() && ns != "@#" {
        return Err(format!(
            "invalid object_to {s:?}: namespace {ns:?} is not supported by this node (only the global namespace)"
        ));
    }
    if bucket.is_empty() {
        return Err(format!("invalid object_to {s:?}: missing bucket name"));
    }
    if obj.is_empty() {
        return Err(format!(
            "parse-uname {s:?}: missing object name in \"ais://{bucket}\""
        ));
    }
    Ok(Uname { bucket, obj })
}

/// `PUT ?object_to=`: copies `bucket/obj` to the destination; the request body (the SDK sends
/// none) is read and ignored.
pub async fn copy(conn: &mut Conn, req: &Req<'_>, bucket: &str, obj: &str, to: &str) -> bool {
    let dst = match parse_uname(to) {
        Ok(d) => d,
        Err(m) => return reply::error(conn, req.head, 400, &m, true).await,
    };
    if let Err(e) = super::object::refuse_marker(dst.bucket, dst.obj) {
        return reply::store_error(conn, req.head, &e).await;
    }
    if let Some(keep) = access::require(conn, req, Some(dst.bucket), ace::PUT).await {
        return keep;
    }
    if !conn.discard_body().await {
        // A large body (not part of a copy request): refuse rather than read it all.
        let m = format!("ais://{bucket}/{obj}: a copy request (object_to) takes no body");
        return reply::error(conn, req.head, 400, &m, false).await;
    }
    let store = conn.core.store.clone();
    let res = store
        .copy_object(&conn.core.view, bucket, obj, dst.bucket, dst.obj)
        .await;
    match res {
        Ok(out) => {
            if let CopyOutcome::Copied(lom) = &out {
                conn.outcome.bytes = lom.size.max(0) as u64;
            }
            reply::ok(conn, req.head, 200, None, &[], b"").await
        }
        Err(e) => reply::store_error(conn, req.head, &e).await,
    }
}

/// `rename-obj`: renames `bucket/obj` to `new_name` in the same bucket.
pub async fn rename(
    conn: &mut Conn,
    req: &Req<'_>,
    bucket: &str,
    obj: &str,
    new_name: &str,
) -> bool {
    if new_name == obj {
        let m = format!("cannot rename ais://{bucket}/{obj} to self, nothing to do");
        return reply::error(conn, req.head, 400, &m, true).await;
    }
    if let Err(e) = super::object::refuse_marker(bucket, new_name) {
        return reply::store_error(conn, req.head, &e).await;
    }
    let store = conn.core.store.clone();
    match store
        .rename_object(&conn.core.view, bucket, obj, new_name)
        .await
    {
        Ok(()) => reply::ok(conn, req.head, 200, None, &[], b"").await,
        Err(e) => reply::store_error(conn, req.head, &e).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uname_as_the_sdk_sends_it() {
        assert_eq!(
            parse_uname("ais/@#/b2/dir/dst").unwrap(),
            Uname {
                bucket: "b2",
                obj: "dir/dst"
            }
        );
        // An empty namespace is the global one (`cmn.ParseNsUname("")`).
        assert_eq!(parse_uname("ais//b2/x").unwrap().bucket, "b2");
    }

    #[test]
    fn bad_unames_are_refused() {
        for bad in [
            "",
            "b2/dst",
            "ais/@#/b2",
            "ais/@#/b2/",
            "ais/@#//x",
            "aws/@#/b2/x",
            "/@#/b2/x",
            "ais/@uuid#ns/b2/x",
        ] {
            assert!(parse_uname(bad).is_err(), "{bad:?} accepted");
        }
    }
}
