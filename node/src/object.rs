//! The object layer: protocol-neutral object operations that the AIS front end (`ais/`) and
//! the S3 front end (`s3/`) call — storing a request body as an object (buffered, or O_DIRECT
//! from aligned buffers; chunked when the bucket's `chunks` props say so), opening an object
//! for reading (with the bucket's bit-rot check for a GET) and resolving a byte range of it.
//! Errors come back typed; each front end renders them in its own dialect.

use std::rc::Rc;

use engine::cache::ObjectHandle;
use engine::cksum::Hasher;
use engine::io as rio;
use engine::lom::Lom;
use engine::store::{ClientChecksum, PutHandle, Store, StoreError, WriteCondition};
use net::range::parse_range;

use crate::ctx::PUT_DIRECT_BUF_BYTES;
use crate::http::{BodyError, Conn};

/// PUT data goes to the file as soon as this much has arrived (the buffer holds twice that).
pub const PUT_WRITE_BYTES_MIN: usize = 32 * 1024;

/// Why storing a body failed.
#[derive(Debug)]
pub enum PutError {
    /// The store refused or failed (the front end answers with its status).
    Store(StoreError),
    /// The request body could not be read: malformed framing (answer 400) or a client that
    /// went away (no answer). Nothing was stored.
    Body(BodyError),
}

/// How a PUT's body reached its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutPath {
    /// Through the page cache.
    Buffered,
    /// O_DIRECT writes from an aligned buffer.
    Direct,
    /// O_DIRECT writes from a buffer registered with the ring (WRITE_FIXED).
    DirectFixed,
}

/// What a PUT asks for, whatever the dialect.
pub struct PutSpec<'a> {
    pub bucket: &'a str,
    pub obj: &'a str,
    /// The body size the client declared (Content-Length); `None` when chunked.
    pub declared: Option<u64>,
    /// A checksum the client sent to verify the body against.
    pub client_cksum: Option<ClientChecksum>,
    /// Custom metadata the object gets (`k`, `v` pairs; validated by the store).
    pub custom: Vec<(String, String)>,
    /// What the object's present state must be when the write commits (S3 `If-None-Match:
    /// *`, `If-Match`); else an error and nothing changes.
    pub condition: Option<WriteCondition>,
}

/// Stores the request body on `conn` as object `spec.bucket/spec.obj`: work file, body,
/// checksums, LOM, rename into place. Returns the stored metadata. On any error nothing of
/// the PUT remains (the work file is removed).
pub async fn put(conn: &mut Conn, spec: PutSpec<'_>) -> Result<Lom, PutError> {
    put_with(conn, spec, |_| {}).await
}

/// `put`, with `prepare` called on the PUT handle before the body is received (e.g. the S3
/// front end asks for the body's MD5 with `PutHandle::want_md5`).
pub async fn put_with(
    conn: &mut Conn,
    spec: PutSpec<'_>,
    prepare: impl FnOnce(&mut PutHandle),
) -> Result<Lom, PutError> {
    let store = conn.core.store.clone();
    if let Some(size) = spec.declared {
        // A missing bucket or a bad name is answered by `put_begin`, with the right error.
        if let Some(chunks) = store.chunks_of(spec.bucket) {
            if chunks.chunk_put(size) {
                return put_chunked(conn, spec, size, chunks.chunk_size).await;
            }
        }
    }
    let mut put = store
        .put_begin(spec.bucket, spec.obj, spec.declared)
        .await
        .map_err(PutError::Store)?;
    if let Some(c) = spec.client_cksum {
        put.expect_checksum(c);
    }
    if !spec.custom.is_empty() {
        Store::put_set_custom(&mut put, spec.custom).map_err(PutError::Store)?;
    }
    if let Some(c) = spec.condition {
        put.set_condition(c);
    }
    prepare(&mut put);
    conn.outcome.mountpath = Some(put.mountpath_id());
    let (put, path) = receive_body(conn, put).await?;
    conn.test_panic_point("put-received");
    conn.outcome.bytes = put.size();
    let lom = put.finish().await.map_err(PutError::Store)?;
    let stats = &conn.core.rec.stats;
    match path {
        PutPath::Buffered => {}
        PutPath::Direct => stats.put_direct.add(1),
        PutPath::DirectFixed => {
            stats.put_direct.add(1);
            stats.put_direct_fixed.add(1);
        }
    }
    Ok(lom)
}

/// Stores a body of `size` bytes as a chunked object: a multipart upload whose parts of
/// `chunk_size` bytes are written, in order, as the body arrives (never more than one buffer
/// of it in memory), then completed. On any error the upload is aborted: nothing of it stays.
async fn put_chunked(
    conn: &mut Conn,
    spec: PutSpec<'_>,
    size: u64,
    chunk_size: u64,
) -> Result<Lom, PutError> {
    let store = conn.core.store.clone();
    let (bucket, obj) = (spec.bucket, spec.obj);
    let id = store
        .mpu_create(bucket, obj, spec.custom)
        .await
        .map_err(PutError::Store)?;
    let mut guard = AbortOnDrop {
        store: store.clone(),
        bucket: bucket.to_string(),
        obj: obj.to_string(),
        id: id.clone(),
        armed: true,
    };
    let mut client = spec.client_cksum.map(|c| (Hasher::new(c.cksum_type), c));
    // Direct I/O when every chunk but the last is whole buffers: a chunk boundary is then a
    // buffer boundary, and no read crosses it.
    let direct = chunk_size.is_multiple_of(PUT_DIRECT_BUF_BYTES as u64);
    let mut carry = conn.core.take_body_buf();
    let (mut left, mut num) = (size, 1u32);
    let mut res = Ok(());
    while left > 0 {
        let quota = chunk_size.min(left);
        let part = match store
            .mpu_part_begin(bucket, obj, &id, num, direct.then_some(quota))
            .await
        {
            Ok(p) => p,
            Err(e) => {
                res = Err(PutError::Store(e));
                break;
            }
        };
        if num == 1 {
            conn.outcome.mountpath = Some(part.mountpath_id());
        }
        let r = if part.is_direct() {
            part_direct(conn, part, quota, &mut client).await
        } else {
            part_buffered(conn, part, quota, &mut carry, &mut client).await
        };
        let part = match r {
            Ok(p) => p,
            Err(e) => {
                res = Err(e);
                break;
            }
        };
        if let Err(e) = part.finish_part().await {
            res = Err(PutError::Store(e));
            break;
        }
        left -= quota;
        num += 1;
    }
    conn.core.put_body_buf(carry);
    res?;
    if let Some((h, c)) = client {
        let computed = h.finish();
        if !computed.eq_ignore_ascii_case(&c.value) {
            return Err(PutError::Store(StoreError::BadChecksum {
                bucket: bucket.into(),
                obj: obj.into(),
                cksum_type: c.cksum_type.as_str().into(),
                expected: c.value,
                computed,
            }));
        }
    }
    let nums: Vec<u32> = (1..num).collect();
    let lom = match spec.condition {
        Some(c) => store.mpu_complete_if(bucket, obj, &id, &nums, c).await,
        None => store.mpu_complete(bucket, obj, &id, &nums).await,
    }
    .map_err(PutError::Store)?;
    guard.armed = false;
    conn.outcome.bytes = size;
    Ok(lom)
}

/// Aborts an upload that did not complete (its parts and checkpoint removed).
struct AbortOnDrop {
    store: std::sync::Arc<Store>,
    bucket: String,
    obj: String,
    id: String,
    armed: bool,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let store = self.store.clone();
        let (b, o, id) = (
            std::mem::take(&mut self.bucket),
            std::mem::take(&mut self.obj),
            std::mem::take(&mut self.id),
        );
        rio::spawn(async move {
            if let Err(e) = store.mpu_abort(&b, &o, &id).await {
                tracing::debug!(
                    bucket = b,
                    obj = o,
                    id,
                    "abort of a failed chunked PUT: {e}"
                );
            }
        })
        .detach();
    }
}

/// Receives exactly `quota` body bytes into a buffered part; bytes read past it stay in
/// `carry` for the next part.
async fn part_buffered(
    conn: &mut Conn,
    mut part: PutHandle,
    quota: u64,
    carry: &mut Vec<u8>,
    client: &mut Option<(Hasher, ClientChecksum)>,
) -> Result<PutHandle, PutError> {
    let mut got = 0u64;
    while got < quota {
        if carry.is_empty() {
            match conn.read_body(carry).await {
                Ok(0) => return Err(PutError::Body(BodyError::Truncated)),
                Ok(_) => {}
                Err(e) => return Err(PutError::Body(e)),
            }
        }
        let take = (carry.len() as u64).min(quota - got) as usize;
        if take < carry.len() {
            // The rest belongs to the next part.
            let rest = carry.split_off(take);
            if let Some((h, _)) = client.as_mut() {
                h.update(carry);
            }
            let (r, _) = part.write(std::mem::replace(carry, rest)).await;
            r.map_err(PutError::Store)?;
        } else {
            if let Some((h, _)) = client.as_mut() {
                h.update(carry);
            }
            let (r, b) = part.write(std::mem::take(carry)).await;
            *carry = b;
            carry.clear();
            r.map_err(PutError::Store)?;
        }
        got += take as u64;
    }
    Ok(part)
}

/// Receives exactly `quota` body bytes into a direct part, whole aligned buffers at a time.
async fn part_direct(
    conn: &mut Conn,
    mut part: PutHandle,
    quota: u64,
    client: &mut Option<(Hasher, ClientChecksum)>,
) -> Result<PutHandle, PutError> {
    let mut buf = conn.core.take_aligned_buf();
    let mut got = 0u64;
    loop {
        let (r, b) = conn.read_body_aligned(buf).await;
        buf = b;
        let n = r.map_err(PutError::Body)?;
        let end = got + buf.len() as u64 >= quota;
        if n == 0 && !end {
            return Err(PutError::Body(BodyError::Truncated));
        }
        if buf.is_full() || end {
            if let Some((h, _)) = client.as_mut() {
                h.update(&buf);
            }
            got += buf.len() as u64;
            let (r, b) = part.write_aligned(buf, end).await;
            buf = b;
            r.map_err(PutError::Store)?;
            if end {
                return Ok(part);
            }
        }
    }
}

/// Receives the request body on `conn` into `put` (the direct path when the work file is
/// O_DIRECT); the handle comes back for `finish`. On error the handle is dropped, which
/// removes its work file.
pub async fn receive_body(
    conn: &mut Conn,
    put: PutHandle,
) -> Result<(PutHandle, PutPath), PutError> {
    if put.is_direct() {
        receive_direct(conn, put).await
    } else {
        receive_buffered(conn, put).await
    }
}

/// Receives a body into the core's body buffers and writes it to the buffered work file
/// every `PUT_WRITE_BYTES_MIN`.
async fn receive_buffered(
    conn: &mut Conn,
    mut put: PutHandle,
) -> Result<(PutHandle, PutPath), PutError> {
    let mut buf = conn.core.take_body_buf();
    let res = loop {
        match conn.read_body(&mut buf).await {
            Ok(0) => break Ok(()),
            Ok(_) if buf.len() >= PUT_WRITE_BYTES_MIN => {
                let (r, b) = put.write(buf).await;
                buf = b;
                buf.clear();
                if let Err(e) = r {
                    break Err(PutError::Store(e));
                }
            }
            Ok(_) => {}
            Err(e) => break Err(PutError::Body(e)),
        }
    };
    let res = match res {
        Ok(()) if !buf.is_empty() => {
            let (r, b) = put.write(buf).await;
            buf = b;
            r.map_err(PutError::Store)
        }
        other => other,
    };
    conn.core.put_body_buf(buf);
    res.map(|()| (put, PutPath::Buffered))
}

/// Receives a body into an aligned buffer (registered with the ring when the core's pool has
/// one free) and writes each full buffer to the O_DIRECT work file; the rest, ending with the
/// last partial block (buffered), after the body ends.
async fn receive_direct(
    conn: &mut Conn,
    mut put: PutHandle,
) -> Result<(PutHandle, PutPath), PutError> {
    let mut buf = conn.core.take_aligned_buf();
    let path = if buf.fixed_index().is_some() {
        PutPath::DirectFixed
    } else {
        PutPath::Direct
    };
    loop {
        let (r, b) = conn.read_body_aligned(buf).await;
        buf = b;
        match r {
            Ok(0) => break,
            Ok(_) if buf.is_full() => {
                let (r, b) = put.write_aligned(buf, false).await;
                buf = b;
                r.map_err(PutError::Store)?;
            }
            Ok(_) => {}
            Err(e) => return Err(PutError::Body(e)),
        }
    }
    let (r, _) = put.write_aligned(buf, true).await;
    r.map_err(PutError::Store)?;
    Ok((put, path))
}

/// Opens an object for reading (GET, HEAD, a copy source): from the core's cache while
/// current.
pub async fn open(conn: &Conn, bucket: &str, obj: &str) -> Result<Rc<ObjectHandle>, StoreError> {
    let core = &conn.core;
    let r = core.store.open_object(&core.view, bucket, obj).await;
    core.rec.stats.cache_hits.set(core.view.hits.get());
    core.rec.stats.cache_misses.set(core.view.misses.get());
    r
}

/// Opens an object for a GET: as `open`, then, if its bucket asks for it
/// (`checksum.validate_warm_get`), verifies its content against its checksum (bad content is
/// an error, never sent).
pub async fn open_for_get(
    conn: &Conn,
    bucket: &str,
    obj: &str,
) -> Result<Rc<ObjectHandle>, StoreError> {
    let h = open(conn, bucket, obj).await?;
    let store = conn.core.store.clone();
    store
        .verify_content(&conn.core.view, bucket, obj, &h)
        .await?;
    Ok(h)
}

/// The part of an object a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRange {
    /// All of it (200).
    Whole,
    /// `len` bytes from `start` (206).
    Part { start: u64, len: u64 },
}

impl ReadRange {
    /// `(start, len)` of this range in an object of `size` bytes.
    pub fn bounds(self, size: u64) -> (u64, u64) {
        match self {
            ReadRange::Whole => (0, size),
            ReadRange::Part { start, len } => (start, len),
        }
    }
}

/// A `Range` that is invalid or unsatisfiable for the object (416 with
/// `Content-Range: bytes */size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRange;

/// Resolves a `Range` header value against an object of `size` bytes (one range only).
pub fn read_range(size: u64, header: Option<&[u8]>) -> Result<ReadRange, BadRange> {
    let Some(raw) = header else {
        return Ok(ReadRange::Whole);
    };
    let s = std::str::from_utf8(raw).map_err(|_| BadRange)?;
    let (start, end) = parse_range(s, size).map_err(|_| BadRange)?;
    Ok(ReadRange::Part {
        start,
        len: end - start + 1,
    })
}
