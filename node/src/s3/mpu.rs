//! S3 multipart upload on the node's chunked-object machinery (engine/src/store/mpu.rs):
//! CreateMultipartUpload (`POST ?uploads`), UploadPart (`PUT ?partNumber&uploadId`; ETag =
//! quoted MD5 of the part), UploadPartCopy (the same with `x-amz-copy-source` and
//! `x-amz-copy-source-range`), CompleteMultipartUpload (`POST ?uploadId`; object ETag
//! `"md5(part md5s)-N"`), AbortMultipartUpload (`DELETE ?uploadId`, 204), ListParts
//! (`GET ?uploadId`) and ListMultipartUploads (`GET /bucket?uploads`), in S3's XML.

use engine::store::{StoreError, CUSTOM_ETAG, PART_NUM_MAX};

use super::body;
use super::error::{self, S3Error};
use super::object::{conditions, content_md5, copy_source, custom_of, Cond};
use super::time;
use super::xml::{self, Xml};
use super::Req;
use crate::http::{Conn, ReqOutcome};
use crate::object::{self, PutError};

/// The most parts or uploads one listing returns (S3's default and maximum).
const LIST_MAX: usize = 1000;
/// The largest part S3 accepts (5 GiB).
const PART_SIZE_MAX: u64 = 5 << 30;

/// `CreateMultipartUpload`: `x-amz-meta-*` and the content headers (`Content-Type`, ...)
/// given here are what the object gets at completion.
pub async fn create(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    let custom = match custom_of(req.head) {
        Ok(c) => c,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let store = conn.core.store.clone();
    match store.mpu_create(b, k, custom).await {
        Ok(id) => {
            let mut x = Xml::new();
            x.root("InitiateMultipartUploadResult")
                .elem("Bucket", b)
                .elem("Key", k)
                .elem("UploadId", &id)
                .close("InitiateMultipartUploadResult");
            super::ok_xml(conn, req.head, x.finish()).await
        }
        Err(e) => error::send(conn, req.head, &S3Error::of_store(&e)).await,
    }
}

/// The `uploadId` of a request (empty = missing: `NoSuchUpload`, as S3 answers).
fn upload_id<'a>(req: &'a Req<'_>) -> std::borrow::Cow<'a, str> {
    req.q("uploadId").unwrap_or_default()
}

fn no_such_upload(b: &str, k: &str, id: &str) -> S3Error {
    S3Error::of_store(&StoreError::UploadNotFound(b.into(), k.into(), id.into()))
}

/// The part number of an UploadPart(Copy): 1..=9999.
fn part_number(req: &Req<'_>) -> Result<u32, S3Error> {
    req.q("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=PART_NUM_MAX).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(format!(
                "Part number must be an integer between 1 and {PART_NUM_MAX}, inclusive"
            ))
        })
}

/// `UploadPart`: the body is stored as chunk `partNumber` of the upload (a repeated number
/// replaces the earlier part); the answer's ETag is the quoted MD5 of the (decoded) body.
/// Bodies as PutObject takes them: plain, `aws-chunked` (signed or with a trailing
/// checksum), a signed SHA-256, an `x-amz-checksum-*` header; any mismatch leaves no part.
pub async fn upload_part(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    conn.outcome = ReqOutcome::default();
    let id = upload_id(req);
    if id.is_empty() {
        return error::send(conn, req.head, &no_such_upload(b, k, &id)).await;
    }
    let num = match part_number(req) {
        Ok(n) => n,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    // aws-chunked framing, a signed SHA-256 or an x-amz-checksum-*: decoded and verified on
    // the way in, as for PutObject (`body`); a mismatch drops the part's work file.
    let plan = match body::plan(req.head, &req.auth) {
        Ok(p) => p,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let framed = plan.as_ref().is_some_and(|p| p.decoded_len.is_some());
    let declared = req
        .head
        .content_length
        .filter(|_| !req.head.chunked && !framed);
    let claimed = plan.as_ref().and_then(|p| p.decoded_len).or(declared);
    if let Some(n) = claimed.filter(|n| *n > PART_SIZE_MAX) {
        let e = S3Error::new(
            400,
            "EntityTooLarge",
            format!("Your proposed upload exceeds the maximum allowed size: part of {n} bytes, at most {PART_SIZE_MAX}"),
        );
        return error::send(conn, req.head, &e).await;
    }
    let client_cksum = match content_md5(req.head) {
        Ok(c) => c,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let store = conn.core.store.clone();
    // A planned body arrives decoded in pieces of any length: buffered (no declared size).
    let begin_size = if plan.is_some() { None } else { declared };
    let mut part = match store.mpu_part_begin(b, k, &id, num, begin_size).await {
        Ok(p) => p,
        Err(e) => return error::send(conn, req.head, &S3Error::of_store(&e)).await,
    };
    part.want_md5();
    if let Some(c) = client_cksum {
        part.expect_checksum(c);
    }
    conn.outcome.mountpath = Some(part.mountpath_id());
    let mut checksum = None;
    let part = if let Some(mut plan) = plan {
        match body::receive(conn, &mut part, &mut plan).await {
            Ok(c) => checksum = c,
            Err(body::Fail::S3(e)) => {
                drop(part);
                return error::send(conn, req.head, &e).await;
            }
            Err(body::Fail::Put(e)) => {
                drop(part);
                return part_failed(conn, req, b, k, e).await;
            }
        }
        part
    } else {
        match object::receive_body(conn, part).await {
            Ok((p, _)) => p,
            Err(e) => return part_failed(conn, req, b, k, e).await,
        }
    };
    if let Some(n) = declared.filter(|n| *n != part.size()) {
        // A body shorter than its Content-Length: nothing of it is kept.
        tracing::debug!(
            bucket = b,
            key = k,
            "S3 UploadPart: {} of {n} bytes",
            part.size()
        );
        return false;
    }
    conn.outcome.bytes = part.size();
    match part.finish_part().await {
        Ok(done) => {
            let etag = format!("\"{}\"", done.md5.unwrap_or_default());
            let rid = super::request_id();
            let cv = checksum.map(|c| c.to_base64()).unwrap_or_default();
            let mut h: Vec<(&str, &[u8])> = vec![
                ("ETag", etag.as_bytes()),
                ("x-amz-request-id", rid.as_bytes()),
            ];
            if let Some(c) = checksum {
                // The part's verified checksum, echoed as S3 does.
                h.push((c.algo().header_name(), cv.as_bytes()));
            }
            super::ok_empty(conn, req.head, 200, &h).await
        }
        Err(e) => error::send(conn, req.head, &S3Error::of_store(&e)).await,
    }
}

/// An UploadPart whose store or body failed: the part's error, or the connection closed.
async fn part_failed(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str, e: PutError) -> bool {
    match e {
        PutError::Store(e) => error::send(conn, req.head, &S3Error::of_store(&e)).await,
        PutError::Body(e) => match e {
            crate::http::BodyError::Malformed(_) | crate::http::BodyError::TooLarge => {
                error::body_error(conn, req.head, e).await
            }
            e => {
                tracing::debug!(bucket = b, key = k, "S3 UploadPart body incomplete: {e:?}");
                false
            }
        },
    }
}

/// `x-amz-copy-source-range: bytes=first-last` against a source of `size` bytes:
/// `(start, len)`. Malformed is `InvalidArgument`; outside the source `InvalidRange`.
fn copy_range(v: Option<&str>, size: u64) -> Result<(u64, u64), S3Error> {
    let Some(v) = v else {
        return Ok((0, size));
    };
    let bad = || {
        S3Error::invalid_argument(format!(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where \
             first and last are the zero-based offsets of the first and last bytes to copy: {v:?}"
        ))
    };
    let (first, last) = v
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last: u64 = last.trim().parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    if last >= size {
        return Err(S3Error::new(
            416,
            "InvalidRange",
            format!("The requested range is not satisfiable: {v:?} of a source of {size} bytes"),
        ));
    }
    Ok((first, last - first + 1))
}

/// `UploadPartCopy`: the part is a range of an existing object (all of it by default),
/// chunked or not; the source's conditions (`x-amz-copy-source-if-*`) answer 412.
pub async fn upload_part_copy(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    let head = req.head;
    let id = upload_id(req);
    if id.is_empty() {
        return error::send(conn, head, &no_such_upload(b, k, &id)).await;
    }
    let num = match part_number(req) {
        Ok(n) => n,
        Err(e) => return error::send(conn, head, &e).await,
    };
    let (sb, sk) = match copy_source(head.header_str("x-amz-copy-source").unwrap_or("")) {
        Ok(v) => v,
        Err(e) => return error::send(conn, head, &e).await,
    };
    let src = match object::open(conn, &sb, &sk).await {
        Ok(h) => h,
        Err(e) => return error::send(conn, head, &S3Error::of_store(&e)).await,
    };
    let src_etag = super::etag_of(&src.lom, src.mtime_ns);
    if conditions(head, "x-amz-copy-source-", &src_etag, src.mtime_ns) != Cond::Proceed {
        let e = S3Error::precondition_failed("x-amz-copy-source-if-*");
        return error::send(conn, head, &e).await;
    }
    let (start, len) = match copy_range(head.header_str("x-amz-copy-source-range"), src.size) {
        Ok(r) => r,
        Err(e) => return error::send(conn, head, &e).await,
    };
    if len > PART_SIZE_MAX {
        let e = S3Error::invalid_argument(format!(
            "The specified copy source is larger than the maximum allowable size for a copy \
             source: {len} bytes, at most {PART_SIZE_MAX}"
        ));
        return error::send(conn, head, &e).await;
    }
    let store = conn.core.store.clone();
    let done = match store.mpu_part_copy(&src, start, len, b, k, &id, num).await {
        Ok(d) => d,
        Err(e) => return error::send(conn, head, &S3Error::of_store(&e)).await,
    };
    drop(src);
    conn.outcome.bytes = done.size;
    let mut x = Xml::new();
    x.root("CopyPartResult")
        .elem("LastModified", &time::iso8601(now_ns()))
        .elem("ETag", &format!("\"{}\"", done.md5.unwrap_or_default()))
        .close("CopyPartResult");
    super::ok_xml(conn, head, x.finish()).await
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// `CompleteMultipartUpload`: the listed parts become the object (see
/// `Store::mpu_complete_s3` for the checks); the answer carries its ETag.
pub async fn complete(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    let body = match conn.read_small_body().await {
        Ok(b) => b,
        Err(e) => return error::body_error(conn, req.head, e).await,
    };
    let id = upload_id(req);
    if id.is_empty() {
        return error::send(conn, req.head, &no_such_upload(b, k, &id)).await;
    }
    let parts = match xml::parse_complete(&body) {
        Ok(p) => p,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let condition = match super::object::write_condition(req.head) {
        Ok(c) => c,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let store = conn.core.store.clone();
    let lom = match store.mpu_complete_s3(b, k, &id, &parts, condition).await {
        Ok(l) => l,
        Err(e) => return error::send(conn, req.head, &S3Error::of_store(&e)).await,
    };
    let etag = lom
        .custom
        .iter()
        .find(|(k, _)| k == CUSTOM_ETAG)
        .map(|(_, v)| format!("\"{v}\""))
        .unwrap_or_default();
    let mut x = Xml::new();
    x.root("CompleteMultipartUploadResult")
        .elem("Location", &req.head.path)
        .elem("Bucket", b)
        .elem("Key", k)
        .elem("ETag", &etag)
        .close("CompleteMultipartUploadResult");
    super::ok_xml(conn, req.head, x.finish()).await
}

/// `AbortMultipartUpload`: every part and the checkpoint of the upload go; 204.
pub async fn abort(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    let id = upload_id(req);
    if id.is_empty() {
        return error::send(conn, req.head, &no_such_upload(b, k, &id)).await;
    }
    let store = conn.core.store.clone();
    match store.mpu_abort(b, k, &id).await {
        Ok(()) => super::ok_empty(conn, req.head, 204, &[]).await,
        Err(e) => error::send(conn, req.head, &S3Error::of_store(&e)).await,
    }
}

/// A `max-parts`/`max-uploads` value: 0..=1000 (more is cut to 1000, as S3 does).
fn list_max(req: &Req<'_>, name: &str) -> Result<usize, S3Error> {
    match req.q(name) {
        None => Ok(LIST_MAX),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (n as usize).min(LIST_MAX))
            .ok_or_else(|| {
                S3Error::invalid_argument(format!(
                    "Provided {name} not an integer or within integer range: {v:?}"
                ))
            }),
    }
}

fn owner(x: &mut Xml, elem: &str) {
    x.open(elem)
        .elem("ID", "aisle")
        .elem("DisplayName", "aisle")
        .close(elem);
}

/// `ListParts`: the parts stored so far, by number, from `part-number-marker` on, at most
/// `max-parts`.
pub async fn list_parts(conn: &mut Conn, req: &Req<'_>, b: &str, k: &str) -> bool {
    let id = upload_id(req);
    if id.is_empty() {
        return error::send(conn, req.head, &no_such_upload(b, k, &id)).await;
    }
    let max = match list_max(req, "max-parts") {
        Ok(m) => m,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let marker = match req.q("part-number-marker") {
        None => 0,
        Some(v) => match v.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let e = S3Error::invalid_argument(format!(
                    "Provided part-number-marker not an integer or within integer range: {v:?}"
                ));
                return error::send(conn, req.head, &e).await;
            }
        },
    };
    let store = conn.core.store.clone();
    let parts = match store.mpu_list_parts(b, k, &id) {
        Ok(p) => p,
        Err(e) => return error::send(conn, req.head, &S3Error::of_store(&e)).await,
    };
    let after: Vec<_> = parts
        .into_iter()
        .filter(|p| u32::from(p.num) > marker)
        .collect();
    let truncated = after.len() > max;
    let page = &after[..after.len().min(max)];
    let url = req.q("encoding-type").as_deref() == Some("url");
    let key = if url {
        xml::url_encode(k)
    } else {
        k.to_string()
    };
    let mut x = Xml::new();
    x.root("ListPartsResult")
        .elem("Bucket", b)
        .elem("Key", &key)
        .elem("UploadId", &id);
    if url {
        x.elem("EncodingType", "url");
    }
    x.elem("PartNumberMarker", &marker.to_string());
    if let Some(last) = page.last() {
        x.elem("NextPartNumberMarker", &last.num.to_string());
    }
    x.elem("MaxParts", &max.to_string())
        .elem("IsTruncated", if truncated { "true" } else { "false" });
    for p in page {
        x.open("Part")
            .elem("PartNumber", &p.num.to_string())
            .elem("LastModified", &time::iso8601(p.mtime_ns));
        if let Some(e) = &p.etag {
            x.elem("ETag", e);
        }
        x.elem("Size", &p.size.to_string()).close("Part");
    }
    owner(&mut x, "Initiator");
    owner(&mut x, "Owner");
    x.elem("StorageClass", "STANDARD").close("ListPartsResult");
    super::ok_xml(conn, req.head, x.finish()).await
}

/// `ListMultipartUploads`: the uploads in progress in the bucket by key and then initiation
/// time, with `prefix`, `delimiter` (common prefixes), `key-marker`/`upload-id-marker`,
/// `max-uploads` and `encoding-type=url`.
pub async fn list_uploads(conn: &mut Conn, req: &Req<'_>, b: &str) -> bool {
    let max = match list_max(req, "max-uploads") {
        Ok(m) => m,
        Err(e) => return error::send(conn, req.head, &e).await,
    };
    let prefix = req.q("prefix").unwrap_or_default().into_owned();
    let delimiter = req.q("delimiter").unwrap_or_default().into_owned();
    let key_marker = req.q("key-marker").unwrap_or_default().into_owned();
    let id_marker = req.q("upload-id-marker").unwrap_or_default().into_owned();
    let url = req.q("encoding-type").as_deref() == Some("url");
    let enc = |s: &str| {
        if url {
            xml::url_encode(s)
        } else {
            s.to_string()
        }
    };
    let store = conn.core.store.clone();
    let all = match store.mpu_list(b, &prefix) {
        Ok(u) => u,
        Err(e) => return error::send(conn, req.head, &S3Error::of_store(&e)).await,
    };
    // Past the markers: keys after key-marker, or that key's uploads after upload-id-marker.
    let start = if key_marker.is_empty() {
        0
    } else if !id_marker.is_empty() {
        all.iter()
            .position(|u| u.obj == key_marker && u.id == id_marker)
            .map(|i| i + 1)
            .unwrap_or_else(|| all.partition_point(|u| u.obj.as_str() <= key_marker.as_str()))
    } else {
        all.partition_point(|u| u.obj.as_str() <= key_marker.as_str())
    };
    // Uploads and common prefixes, each counting once toward max-uploads.
    enum Item<'a> {
        Upload(&'a engine::store::UploadInfo),
        Prefix(String),
    }
    let mut items: Vec<Item> = Vec::new();
    let mut truncated = false;
    let mut next = (String::new(), String::new());
    for u in &all[start..] {
        let cp = (!delimiter.is_empty())
            .then(|| {
                u.obj[prefix.len()..]
                    .find(delimiter.as_str())
                    .map(|i| u.obj[..prefix.len() + i + delimiter.len()].to_string())
            })
            .flatten();
        if let Some(Item::Prefix(last)) = items.last() {
            if cp.as_deref() == Some(last.as_str()) {
                continue;
            }
        }
        if items.len() == max {
            truncated = true;
            break;
        }
        next = (u.obj.clone(), u.id.clone());
        items.push(match cp {
            Some(p) => Item::Prefix(p),
            None => Item::Upload(u),
        });
    }
    let mut x = Xml::new();
    x.root("ListMultipartUploadsResult")
        .elem("Bucket", b)
        .elem("KeyMarker", &enc(&key_marker))
        .elem("UploadIdMarker", &id_marker);
    if truncated {
        x.elem("NextKeyMarker", &enc(&next.0))
            .elem("NextUploadIdMarker", &next.1);
    }
    x.elem("Prefix", &enc(&prefix));
    if !delimiter.is_empty() {
        x.elem("Delimiter", &enc(&delimiter));
    }
    if url {
        x.elem("EncodingType", "url");
    }
    x.elem("MaxUploads", &max.to_string())
        .elem("IsTruncated", if truncated { "true" } else { "false" });
    for it in &items {
        if let Item::Upload(u) = it {
            x.open("Upload")
                .elem("Key", &enc(&u.obj))
                .elem("UploadId", &u.id);
            owner(&mut x, "Initiator");
            owner(&mut x, "Owner");
            x.elem("StorageClass", "STANDARD")
                .elem("Initiated", &time::iso8601(u.initiated_ns as i64))
                .close("Upload");
        }
    }
    for it in &items {
        if let Item::Prefix(p) = it {
            x.open("CommonPrefixes")
                .elem("Prefix", &enc(p))
                .close("CommonPrefixes");
        }
    }
    x.close("ListMultipartUploadsResult");
    super::ok_xml(conn, req.head, x.finish()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_ranges() {
        // Goal: absent = all; bytes=a-b inclusive; malformed 400; past the end 416.
        assert_eq!(copy_range(None, 10).unwrap(), (0, 10));
        assert_eq!(copy_range(Some("bytes=2-5"), 10).unwrap(), (2, 4));
        assert_eq!(copy_range(Some("bytes=9-9"), 10).unwrap(), (9, 1));
        for bad in ["bytes=5-2", "bytes=-3", "bytes=3-", "2-5", "bytes=a-b"] {
            assert_eq!(copy_range(Some(bad), 10).unwrap_err().status, 400, "{bad}");
        }
        assert_eq!(copy_range(Some("bytes=5-10"), 10).unwrap_err().status, 416);
    }
}
