//! Token access control on the S3 front end (when `--auth-secret*`/`--auth-pubkey` is on): a
//! request carries its AuthN token as `Authorization: Bearer` or `X-Amz-Security-Token`, as
//! AIS reads it; the permission each S3 operation needs follows AIS's `ais/prxs3.go`. A request
//! without a token may still pass by a SigV4 signature when S3 access keys are configured.

use net::head::{Method, RequestHead};
use net::url::{percent_decode_cow, query_value};

use super::auth::capitalised;
use super::error::S3Error;
use crate::auth::{ace, extract_token};
use crate::http::Conn;

/// What the gate found: go on with the SigV4 check, or skip it (a Bearer token stands in
/// for the signature in `Authorization`).
#[derive(Debug, PartialEq, Eq)]
pub enum Pass {
    /// Token access control is off, or no token came: the SigV4 check decides.
    Sigv4,
    /// A valid token with the permission came in `Authorization: Bearer`.
    Bearer,
}

/// The permissions of an S3 request: (bucket or `None` for the cluster, bits), all needed.
pub fn needs(head: &RequestHead, rest: &str) -> Vec<(Option<String>, u64)> {
    let rest = rest.trim_start_matches('/');
    let (b, k) = match rest.split_once('/') {
        Some((b, k)) => (b, Some(k).filter(|k| !k.is_empty())),
        None => (rest, None),
    };
    let bucket = percent_decode_cow(b)
        .map(|b| b.into_owned())
        .unwrap_or_default();
    let has = |key: &str| query_value(&head.query, key).is_some();
    if bucket.is_empty() {
        return vec![(None, ace::LIST_BUCKETS)];
    }
    let on = |bits| (Some(bucket.clone()), bits);
    if k.is_none() {
        return vec![match head.method {
            Method::Get if has("location") || has("versioning") => on(ace::BCK_HEAD),
            Method::Get => on(ace::OBJ_LIST),
            Method::Put if has("versioning") => on(ace::PATCH),
            Method::Put => (None, ace::CREATE_BUCKET),
            Method::Delete => on(ace::DESTROY_BUCKET),
            Method::Post => on(ace::OBJ_DELETE),
            _ => on(ace::BCK_HEAD),
        }];
    }
    match head.method {
        Method::Get => vec![on(ace::GET)],
        Method::Head => vec![on(ace::OBJ_HEAD)],
        Method::Put => {
            let mut v = vec![on(ace::PUT)];
            // CopyObject / UploadPartCopy read the source: `GET` on its bucket.
            if let Some(src) = head.header("x-amz-copy-source") {
                let src = String::from_utf8_lossy(src);
                let src = src.trim_start_matches('/');
                let sb = src.split('/').next().unwrap_or_default();
                let sb = percent_decode_cow(sb)
                    .map(|s| s.into_owned())
                    .unwrap_or_default();
                v.push((Some(sb), ace::GET));
            }
            v
        }
        Method::Delete if has("uploadId") => vec![on(ace::ACCESS_RW)],
        Method::Delete => vec![on(ace::OBJ_DELETE)],
        Method::Post => vec![on(ace::ACCESS_RW)],
        _ => vec![on(ace::OBJ_HEAD)],
    }
}

/// The gate: `Ok(pass)` lets the request on; `Err(error)` is the S3 error to answer (403
/// `AccessDenied`: no usable credentials, an invalid token, or missing permission).
pub fn gate(conn: &Conn, head: &RequestHead, rest: &str) -> Result<Pass, S3Error> {
    let Some(verifier) = conn.core.node.auth.clone() else {
        return Ok(Pass::Sigv4);
    };
    let Some(token) = extract_token(head) else {
        if conn.core.node.s3_keys.is_empty() {
            conn.core.rec.stats.auth_refused.add(1);
            return Err(S3Error::new(
                403,
                "AccessDenied",
                "Token required: send an AuthN token as Authorization: Bearer or \
                 X-Amz-Security-Token",
            ));
        }
        return Ok(Pass::Sigv4);
    };
    let claims = conn
        .core
        .auth_cache
        .borrow_mut()
        .claims(&verifier, token)
        .map_err(|e| {
            conn.core.rec.stats.auth_refused.add(1);
            S3Error::new(403, "AccessDenied", capitalised(&e.to_string()))
        })?;
    for (bucket, bits) in needs(head, rest) {
        if let Err(m) = claims.check(&verifier.cluster_id, bucket.as_deref(), bits) {
            conn.core.rec.stats.auth_denied.add(1);
            return Err(S3Error::new(403, "AccessDenied", capitalised(&m)));
        }
    }
    let bearer = head
        .header("authorization")
        .is_some_and(|v| v.starts_with(b"Bearer "));
    Ok(if bearer { Pass::Bearer } else { Pass::Sigv4 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, target: &str, extra: &str) -> RequestHead {
        let raw = format!("{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        net::head::parse_head(raw.as_bytes())
            .expect("parses")
            .expect("complete")
            .0
    }

    #[test]
    fn s3_needs_follow_ais() {
        let b = |n: &str, bits| (Some(n.to_string()), bits);
        let n = |m, t: &str, e: &str| {
            let h = head(m, t, e);
            let rest = h.path.strip_prefix("/s3").unwrap_or(&h.path).to_string();
            needs(&h, &rest)
        };
        assert_eq!(n("GET", "/s3", ""), vec![(None, ace::LIST_BUCKETS)]);
        assert_eq!(n("GET", "/s3/b", ""), vec![b("b", ace::OBJ_LIST)]);
        assert_eq!(
            n("GET", "/s3/b?versioning", ""),
            vec![b("b", ace::BCK_HEAD)]
        );
        assert_eq!(n("PUT", "/s3/b", ""), vec![(None, ace::CREATE_BUCKET)]);
        assert_eq!(n("DELETE", "/s3/b", ""), vec![b("b", ace::DESTROY_BUCKET)]);
        assert_eq!(n("GET", "/s3/b/k/x", ""), vec![b("b", ace::GET)]);
        assert_eq!(n("HEAD", "/s3/b/k", ""), vec![b("b", ace::OBJ_HEAD)]);
        assert_eq!(n("PUT", "/s3/b/k", ""), vec![b("b", ace::PUT)]);
        assert_eq!(
            n("PUT", "/s3/b/k", "x-amz-copy-source: /src/o\r\n"),
            vec![b("b", ace::PUT), b("src", ace::GET)]
        );
        assert_eq!(n("DELETE", "/s3/b/k", ""), vec![b("b", ace::OBJ_DELETE)]);
        assert_eq!(
            n("DELETE", "/s3/b/k?uploadId=1", ""),
            vec![b("b", ace::ACCESS_RW)]
        );
        assert_eq!(
            n("POST", "/s3/b/k?uploads", ""),
            vec![b("b", ace::ACCESS_RW)]
        );
    }
}
