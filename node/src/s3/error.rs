//! S3 errors: the codes and statuses this front end answers with, the mapping from store
//! errors, and the XML error reply (`<Error><Code/><Message/><Resource/><RequestId/></Error>`;
//! HEAD gets the status alone, as S3 sends no body to HEAD).

use engine::store::{PartListError, StoreError};
use net::head::{Method, RequestHead};
use net::response;

use super::xml::Xml;
use crate::ais::reply;
use crate::http::{BodyError, Conn};

/// One S3 error: status, code, message.
#[derive(Debug)]
pub struct S3Error {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl S3Error {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn no_such_bucket(b: &str) -> S3Error {
        S3Error::new(
            404,
            "NoSuchBucket",
            format!("The specified bucket does not exist: {b}"),
        )
    }
    pub fn no_such_key(b: &str, k: &str) -> S3Error {
        S3Error::new(
            404,
            "NoSuchKey",
            format!("The specified key does not exist: {b}/{k}"),
        )
    }
    pub fn invalid_argument(m: impl Into<String>) -> S3Error {
        S3Error::new(400, "InvalidArgument", m)
    }
    pub fn not_implemented(what: &str) -> S3Error {
        S3Error::new(
            501,
            "NotImplemented",
            format!("{what} is not implemented by this node"),
        )
    }
    pub fn malformed_xml(m: impl Into<String>) -> S3Error {
        S3Error::new(400, "MalformedXML", m)
    }
    pub fn precondition_failed(which: &str) -> S3Error {
        S3Error::new(
            412,
            "PreconditionFailed",
            format!("At least one of the pre-conditions you specified did not hold: {which}"),
        )
    }

    /// The S3 error of a store error.
    pub fn of_store(e: &StoreError) -> S3Error {
        let m = e.to_string();
        match e {
            StoreError::BucketNotFound(b) => S3Error::no_such_bucket(b),
            StoreError::ObjNotFound(b, k) => S3Error::no_such_key(b, k),
            StoreError::BucketExists(_) => S3Error::new(
                409,
                "BucketAlreadyOwnedByYou",
                format!("Your previous request to create the named bucket succeeded and you already own it: {m}"),
            ),
            StoreError::NameConflict(..) => S3Error::new(
                409,
                "KeyConflict",
                format!(
                    "{m}: a key and another key under it as a folder (`a` and `a/b`) cannot both \
                     exist in this bucket's file layout"
                ),
            ),
            StoreError::EtagMismatch(..) => S3Error::new(
                412,
                "PreconditionFailed",
                format!("At least one of the pre-conditions you specified did not hold: If-Match ({m})"),
            ),
            StoreError::ObjExists(..) => S3Error::new(
                412,
                "PreconditionFailed",
                format!("At least one of the pre-conditions you specified did not hold: If-None-Match ({m})"),
            ),
            StoreError::BadBucketName(..) => S3Error::new(400, "InvalidBucketName", m),
            StoreError::BadObjName(..) | StoreError::NameTooLong(..) => {
                S3Error::new(400, "KeyTooLongError", m).named_key_error(e)
            }
            StoreError::BadChecksum { .. } => S3Error::new(
                400,
                "BadDigest",
                format!("The Content-MD5 you specified did not match what we received: {m}"),
            ),
            StoreError::BadCustom(_) => S3Error::new(400, "MetadataTooLarge", m),
            StoreError::UnsupportedChecksum(_)
            | StoreError::BadProps(_)
            | StoreError::BadCopies(_)
            | StoreError::BadAppendHandle(..) => S3Error::invalid_argument(m),
            StoreError::NoSpace { .. } => S3Error::new(507, "InsufficientStorage", m),
            StoreError::UploadNotFound(..) => S3Error::new(
                404,
                "NoSuchUpload",
                format!(
                    "The specified upload does not exist. The upload ID may be invalid, or the \
                     upload may have been aborted or completed: {m}"
                ),
            ),
            StoreError::BadUpload(..) => S3Error::new(400, "InvalidPart", m),
            StoreError::PartList(kind, ..) => match kind {
                PartListError::InvalidPart => S3Error::new(
                    400,
                    "InvalidPart",
                    format!(
                        "One or more of the specified parts could not be found, or its ETag \
                         did not match: {m}"
                    ),
                ),
                PartListError::InvalidPartOrder => S3Error::new(
                    400,
                    "InvalidPartOrder",
                    format!("The list of parts was not in ascending order: {m}"),
                ),
                PartListError::EntityTooSmall => S3Error::new(
                    400,
                    "EntityTooSmall",
                    format!(
                        "Your proposed upload is smaller than the minimum allowed object size: {m}"
                    ),
                ),
                PartListError::Partial => S3Error::not_implemented(&m),
            },
            StoreError::UploadBusy(..) => S3Error::new(409, "OperationAborted", m),
            StoreError::NoMountpaths | StoreError::AppendsBusy(_) | StoreError::UploadsBusy(_) => {
                S3Error::new(503, "ServiceUnavailable", m)
            }
            // Mountpath administration is not an S3 operation; mapped for completeness.
            StoreError::BadMountpath(_) => S3Error::invalid_argument(m),
            StoreError::MountpathConflict(_) => S3Error::new(409, "OperationAborted", m),
            StoreError::MountpathNotFound(_) => S3Error::new(404, "NoSuchKey", m),
            StoreError::MetaMissing(..)
            | StoreError::MetaCorrupt(..)
            | StoreError::DataCorrupt { .. }
            | StoreError::Io { .. } => S3Error::new(500, "InternalError", m),
        }
    }

    /// A bad name that is not too long is an invalid argument.
    fn named_key_error(self, e: &StoreError) -> S3Error {
        match e {
            StoreError::NameTooLong(..) => self,
            _ => S3Error::invalid_argument(self.message),
        }
    }
}

/// The XML body of an error.
pub fn body(e: &S3Error, resource: &str, request_id: &str) -> String {
    let mut x = Xml::new();
    x.open("Error")
        .elem("Code", e.code)
        .elem("Message", &e.message)
        .elem("Resource", resource)
        .elem("RequestId", request_id)
        .close("Error");
    x.finish()
}

/// Sends `e`; returns whether the connection may carry another request.
pub async fn send(conn: &mut Conn, head: &RequestHead, e: &S3Error) -> bool {
    send_full(conn, head, e, &[], true).await
}

/// `send` with extra headers (e.g. `Content-Range` on 416).
pub async fn send_with(
    conn: &mut Conn,
    head: &RequestHead,
    e: &S3Error,
    extra: &[(&str, &[u8])],
) -> bool {
    send_full(conn, head, e, extra, true).await
}

/// Sends `e`; with `keep` false the connection closes after it (its body state is unknown).
pub async fn send_full(
    conn: &mut Conn,
    head: &RequestHead,
    e: &S3Error,
    extra: &[(&str, &[u8])],
    keep: bool,
) -> bool {
    let keep = keep && head.keep_alive && !conn.core.shutting_down();
    // A body the client is still sending must be consumed (or the connection closed).
    let keep = keep && conn.discard_body().await;
    if e.status >= 500 && e.status != 501 {
        tracing::warn!(status = e.status, method = %head.method_str, path = %head.path, "{}", e.message);
    } else {
        tracing::debug!(status = e.status, method = %head.method_str, path = %head.path, "{}", e.message);
    }
    conn.outcome.status = e.status;
    let rid = super::request_id();
    let body = body(e, &head.path, &rid);
    let mut buf = conn.take_wbuf();
    reply::start(&mut buf, e.status, keep, head.minor_version);
    for (k, v) in extra {
        response::header(&mut buf, k, v);
    }
    response::header(&mut buf, "x-amz-request-id", rid.as_bytes());
    response::header(&mut buf, "Server", b"aisle");
    if head.method == Method::Head {
        response::header_u64(&mut buf, "Content-Length", 0);
        response::finish(&mut buf);
    } else {
        response::header(&mut buf, "Content-Type", b"application/xml");
        response::header_u64(&mut buf, "Content-Length", body.len() as u64);
        response::finish(&mut buf);
        buf.extend_from_slice(body.as_bytes());
    }
    conn.send_buf(buf, false).await.is_ok() && keep
}

/// A request body that could not be read: too large or malformed gets an error (and the
/// connection closes), a client that went away nothing.
pub async fn body_error(conn: &mut Conn, head: &RequestHead, e: BodyError) -> bool {
    let err = match e {
        BodyError::TooLarge => {
            S3Error::new(400, "MaxMessageLengthExceeded", "Your request was too big")
        }
        BodyError::Malformed(m) => S3Error::new(
            400,
            "IncompleteBody",
            format!("malformed request body: {m}"),
        ),
        BodyError::Truncated | BodyError::Io(_) => return false,
    };
    send_full(conn, head, &err, &[], false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_s3_codes() {
        // Goal: each store error an S3 client can cause has S3's code and status.
        let cases = [
            (StoreError::BucketNotFound("b".into()), 404, "NoSuchBucket"),
            (
                StoreError::ObjNotFound("b".into(), "k".into()),
                404,
                "NoSuchKey",
            ),
            (
                StoreError::BucketExists("b".into()),
                409,
                "BucketAlreadyOwnedByYou",
            ),
            (
                StoreError::NameConflict("b".into(), "a/b".into()),
                409,
                "KeyConflict",
            ),
        ];
        for (e, status, code) in cases {
            let s = S3Error::of_store(&e);
            assert_eq!((s.status, s.code), (status, code), "{e}");
        }
    }

    #[test]
    fn error_body_escapes() {
        // Goal: a key with markup in the resource stays one text node.
        let e = S3Error::no_such_key("b", "<x>&");
        let b = body(&e, "/s3/b/<x>&", "r1");
        let v = super::super::xml::flatten(b.as_bytes()).unwrap();
        assert!(v.contains(&("Error/Code".into(), "NoSuchKey".into())));
        assert!(v.contains(&("Error/Resource".into(), "/s3/b/<x>&".into())));
    }
}
