//! Multipart uploads and chunked objects (AIS's "Ufest", shared/AISTORE.md §4): the node-wide
//! table of uploads in progress, parts written as chunk files (`PutHandle::finish_part`),
//! checkpointed partial manifests, completion, abort, the removal of an old version's chunks,
//! and the start-up recovery of completions a crash interrupted. A chunked PUT is an upload
//! whose parts arrive in order from one request body (node/src/object.rs). For S3
//! (node/src/s3/mpu.rs) a part also records its MD5 (in checkpoints and the manifest as
//! `Chunk.md5`/`etag`, as AIS), parts can be copied from a range of an object
//! (`mpu_part_copy`), and `mpu_complete_s3` checks the part list S3's way and gives the
//! object the S3 multipart ETag.
//!
//! Where things are: part 1 at `%ch/<obj>.<id>.0001` on the object's HRW mountpath, part n at
//! `%ch/<obj>.<id>.<nnnn>` on the HRW mountpath of `ufest::chunk_digest(id, n)`; a partial
//! manifest (checkpoint) at `%ut/<obj>.<id>`, the completed one at `%ut/<obj>`.
//!
//! Completion order — every step is a `rename(2)` or a file written whole, so a reader sees the
//! old object or the new one, and a crash leaves a state `recover_completions` finishes:
//! 1. chunk 1 gets the object's LOM (chunked flag, total size, whole-object checksum, and the
//!    hidden custom key `aisle.ufest` = upload id, which ties the LOM to its manifest);
//! 2. the completed manifest is written to `%ut/<obj>.<id>` (the completion's intent record);
//! 3. chunk 1 is renamed over `%ob/<obj>`: the new object is visible (a reader that finds
//!    `%ut/<obj>` of another id falls back to `%ut/<obj>.<id>`);
//! 4. `%ut/<obj>.<id>` is renamed over `%ut/<obj>`;
//! 5. the previous version's chunks 2..N are removed.
//!
//! Completions of one object take turns (`Uploads::completion_turn`): interleaved, two would
//! both replace the same previous version, leaking the first one's chunks, and could leave
//! `%ut/<obj>` describing the version that lost. A PUT's finish takes the same turn, for the
//! same reason (a completion between its read of the old version and its rename would leak).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::copy::COPY_CHUNK;
use super::put::{Target, WriteCondition};
use super::{now_ns, Store, StoreError, CUSTOM_ETAG, CUSTOM_ORIG_FNTL};
use crate::bmd::BucketProps;
use crate::cache::ObjectHandle;
use crate::cksum::{CksumType, Hasher};
use crate::io::{self as rio, sys, Fd};
use crate::lom::{Lom, XATTR_LOM};
use crate::mountpath::{Mountpath, MountpathSet};
use crate::ufest::{self, Chunk, Manifest};
use crate::{fqn, hrw};

/// Uploads in progress on the node at most (each holds its part table in memory).
pub const UPLOADS_OPEN_MAX: usize = 4096;
/// Hidden custom-metadata key of a chunked object's LOM: the id of its manifest.
pub const CUSTOM_UFEST_ID: &str = "aisle.ufest";
/// Part numbers run 1..=this (AIS `MaxChunkCount`).
pub const PART_NUM_MAX: u32 = ufest::CHUNK_COUNT_MAX as u32;

/// The uploads in progress, by upload id.
#[derive(Default)]
pub(super) struct Uploads {
    map: Mutex<HashMap<String, Arc<Mutex<Upload>>>>,
    /// Digests of the objects a completion is running for: one completion of an object at a
    /// time, so two never interleave their steps (each reads the version it replaces).
    completing: Mutex<HashSet<u64>>,
}

/// An object's completion turn, given back when dropped.
pub(super) struct CompletionTurn<'a> {
    set: &'a Mutex<HashSet<u64>>,
    digest: u64,
}

impl Drop for CompletionTurn<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .expect("completing lock")
            .remove(&self.digest);
    }
}

impl Uploads {
    /// Takes the object's completion turn if no completion of it runs (the resilver moves a
    /// chunked object under it, so no completion interleaves with the move).
    pub(super) fn try_completion_turn(&self, digest: u64) -> Option<CompletionTurn<'_>> {
        if !self
            .completing
            .lock()
            .expect("completing lock")
            .insert(digest)
        {
            return None;
        }
        Some(CompletionTurn {
            set: &self.completing,
            digest,
        })
    }

    /// The ids of the uploads in the table (open or completing) and every file they hold:
    /// their parts and their checkpoint. Space cleanup never removes these.
    pub(super) fn held(&self) -> (HashSet<String>, HashSet<PathBuf>) {
        let map = self.map.lock().expect("uploads lock");
        let mut ids = HashSet::with_capacity(map.len());
        let mut files = HashSet::new();
        for (id, up) in map.iter() {
            ids.insert(id.clone());
            let u = up.lock().expect("upload lock");
            files.extend(u.parts.values().map(|p| p.path.clone()));
            files.insert(fqn::ufest_fqn(&u.mp.path, &u.bucket, &u.obj, Some(&u.id)));
        }
        (ids, files)
    }

    /// Waits until no other completion (or PUT finish: `PutHandle::finish`) of the object with
    /// `digest` runs, then takes the turn.
    pub(super) async fn completion_turn(&self, digest: u64) -> CompletionTurn<'_> {
        loop {
            if self
                .completing
                .lock()
                .expect("completing lock")
                .insert(digest)
            {
                return CompletionTurn {
                    set: &self.completing,
                    digest,
                };
            }
            rio::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Completing,
    Aborted,
}

/// The streaming hash of the whole object: possible while parts arrive strictly in order,
/// one at a time.
enum Stream {
    /// The hash of parts 1..n-1; part `n` may take it.
    Next(u16, Hasher),
    /// Part `n` is being written with it.
    Taken(u16),
    /// Parts came out of order, in parallel, or one failed: CRC32C combine at completion.
    Dead,
}

#[derive(Clone)]
struct Part {
    size: u64,
    path: PathBuf,
    crc: u32,
    /// MD5 of the part, when it was written for S3 (`PutHandle::want_md5`): its ETag.
    md5: Option<[u8; 16]>,
    /// When it was stored, unix nanoseconds.
    mtime_ns: i64,
}

pub(super) struct Upload {
    bucket: String,
    obj: String,
    id: String,
    bid: u64,
    created_ns: u64,
    /// The object's mountpath when the upload began: part 1 and the manifests go there.
    mp: Arc<Mountpath>,
    parts: BTreeMap<u16, Part>,
    stream: Stream,
    inflight: u32,
    state: State,
    checkpoint_every: u32,
    since_checkpoint: u32,
    /// Custom metadata the object gets (validated at create).
    custom: Vec<(String, String)>,
}

/// A part's claim on its upload while its PUT runs; dropping it unrecorded releases the claim.
pub(super) struct PartSlot {
    up: Arc<Mutex<Upload>>,
    num: u16,
    done: bool,
}

impl Drop for PartSlot {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut up = self.up.lock().expect("upload lock");
        up.inflight -= 1;
        if matches!(up.stream, Stream::Taken(n) if n == self.num) {
            up.stream = Stream::Dead;
        }
    }
}

/// What a stored part reports.
#[derive(Debug, Clone)]
pub struct PartDone {
    pub num: u16,
    pub size: u64,
    /// CRC32C of the part, 8 lowercase hex digits.
    pub crc32c: String,
    /// MD5 of the part, 32 lowercase hex digits, when asked for (`PutHandle::want_md5`); the
    /// part's S3 ETag is this, quoted.
    pub md5: Option<String>,
}

/// A stored part of an upload in progress (`Store::mpu_list_parts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub num: u16,
    pub size: u64,
    /// The part's S3 ETag, quoted MD5 (`None` for a part written without its MD5).
    pub etag: Option<String>,
    /// When the part's file was last written, unix nanoseconds.
    pub mtime_ns: i64,
}

/// An upload in progress (`Store::mpu_list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub obj: String,
    pub id: String,
    /// When it was created, unix nanoseconds.
    pub initiated_ns: u64,
}

/// One entry of an S3 completion's part list.
#[derive(Debug, Clone)]
pub struct S3Part {
    pub num: u32,
    /// The ETag the client got for the part (quoted or not).
    pub etag: String,
}

/// Why S3 refuses a completion's part list (S3 error codes; S3 only, the native API keeps
/// AIS's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartListError {
    /// A listed part was not uploaded, or its ETag differs (`InvalidPart`).
    InvalidPart,
    /// Part numbers not strictly ascending (`InvalidPartOrder`).
    InvalidPartOrder,
    /// A part other than the last is smaller than `S3_PART_SIZE_MIN` (`EntityTooSmall`).
    EntityTooSmall,
    /// The list leaves out uploaded parts or has gaps: chunks are numbered 1..N on disk, so
    /// a partial completion is not possible (AIS answers it with 501 too).
    Partial,
}

/// The smallest S3 part but the last (S3's 5 MiB).
pub const S3_PART_SIZE_MIN: u64 = 5 << 20;

/// How a completion names its parts.
#[derive(Clone, Copy)]
enum PartList<'a> {
    /// The native API: the numbers 1..N in any order (AIS's rules).
    Native(&'a [u32]),
    /// S3: ascending numbers with the ETags the parts got; the object gets the multipart ETag.
    S3(&'a [S3Part]),
}

impl Store {
    /// Starts a multipart upload of `bucket/obj`; returns its id. `custom` is the metadata the
    /// object gets at completion.
    pub async fn mpu_create(
        &self,
        bucket: &str,
        obj: &str,
        custom: Vec<(String, String)>,
    ) -> Result<String, StoreError> {
        Store::check_put_name(bucket, obj)?;
        super::custom::validate(&custom)?;
        let props = self.bucket(bucket)?;
        let (_, mp) = self.place(bucket, obj)?;
        let id = ufest::new_upload_id();
        let up = Upload {
            bucket: bucket.into(),
            obj: obj.into(),
            id: id.clone(),
            bid: props.bid,
            created_ns: now_ns().max(0) as u64,
            mp,
            parts: BTreeMap::new(),
            stream: Stream::Next(1, Hasher::new(props.cksum())),
            inflight: 0,
            state: State::Open,
            checkpoint_every: props.chunks.checkpoint_every,
            since_checkpoint: 0,
            custom,
        };
        let mut map = self.uploads.map.lock().expect("uploads lock");
        if map.len() >= UPLOADS_OPEN_MAX {
            return Err(StoreError::UploadsBusy(UPLOADS_OPEN_MAX));
        }
        map.insert(id.clone(), Arc::new(Mutex::new(up)));
        Ok(id)
    }

    /// The upload `id` of `bucket/obj`: in memory, or restored from its checkpoint (a partial
    /// manifest) after a restart.
    fn upload(&self, bucket: &str, obj: &str, id: &str) -> Result<Arc<Mutex<Upload>>, StoreError> {
        let not_found = || StoreError::UploadNotFound(bucket.into(), obj.into(), id.into());
        if ufest::check_id(id).is_err() {
            return Err(not_found());
        }
        let mut map = self.uploads.map.lock().expect("uploads lock");
        if let Some(up) = map.get(id) {
            let u = up.lock().expect("upload lock");
            if u.bucket != bucket || u.obj != obj {
                return Err(not_found());
            }
            drop(u);
            return Ok(up.clone());
        }
        // Not in memory: a checkpoint written before a restart?
        let props = self.bucket(bucket)?;
        let (_, mp) = self.place(bucket, obj)?;
        let path = fqn::ufest_fqn(&mp.path, bucket, obj, Some(id));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => return Err(StoreError::io("read", &path, e)),
        };
        let m = Manifest::decode(&bytes).map_err(|e| {
            StoreError::MetaCorrupt(
                bucket.into(),
                obj.into(),
                format!("{}: {e}", path.display()),
            )
        })?;
        if m.is_completed() || m.id != id {
            return Err(not_found());
        }
        let set = self.mountpaths();
        let mut parts = BTreeMap::new();
        for c in &m.chunks {
            let path = PathBuf::from(&c.path);
            if !chunk_path_ok(&set, bucket, &path) {
                return Err(StoreError::MetaCorrupt(
                    bucket.into(),
                    obj.into(),
                    format!(
                        "{}: chunk {} outside the bucket's chunk folders",
                        path.display(),
                        c.num
                    ),
                ));
            }
            let crc = u32::from_str_radix(&c.cksum_value, 16).unwrap_or(0);
            parts.insert(
                c.num,
                Part {
                    size: c.size,
                    path,
                    crc,
                    md5: c.md5.as_slice().try_into().ok(),
                    mtime_ns: file_mtime_ns(&c.path),
                },
            );
        }
        if map.len() >= UPLOADS_OPEN_MAX {
            return Err(StoreError::UploadsBusy(UPLOADS_OPEN_MAX));
        }
        let up = Arc::new(Mutex::new(Upload {
            bucket: bucket.into(),
            obj: obj.into(),
            id: id.into(),
            bid: props.bid,
            created_ns: m.created_ns,
            mp,
            parts,
            stream: Stream::Dead,
            inflight: 0,
            state: State::Open,
            checkpoint_every: props.chunks.checkpoint_every,
            since_checkpoint: 0,
            custom: Vec::new(),
        }));
        tracing::info!(
            bucket,
            obj,
            id,
            parts = m.chunks.len(),
            "multipart upload restored from its checkpoint"
        );
        map.insert(id.into(), up.clone());
        Ok(up)
    }

    /// Starts writing part `num` of upload `id`: feed the body like a PUT's, then
    /// `PutHandle::finish_part`. A repeated part number replaces the earlier part.
    pub async fn mpu_part_begin(
        self: &Arc<Self>,
        bucket: &str,
        obj: &str,
        id: &str,
        num: u32,
        size: Option<u64>,
    ) -> Result<super::PutHandle, StoreError> {
        Store::check_names(bucket, obj)?;
        if num == 0 || num > PART_NUM_MAX {
            return Err(StoreError::BadUpload(
                bucket.into(),
                obj.into(),
                format!("invalid part number {num}: must be in [1, {PART_NUM_MAX}]"),
            ));
        }
        let num = num as u16;
        let props = self.bucket(bucket)?;
        let up = self.upload(bucket, obj, id)?;
        let (obj_mp, stream) = {
            let mut u = up.lock().expect("upload lock");
            check_open(&u, props.bid)?;
            u.inflight += 1;
            let stream = match std::mem::replace(&mut u.stream, Stream::Dead) {
                Stream::Next(n, h) if n == num && u.inflight == 1 => {
                    u.stream = Stream::Taken(num);
                    Some(h)
                }
                _ => None,
            };
            (u.mp.clone(), stream)
        };
        let slot = PartSlot {
            up,
            num,
            done: false,
        };
        let set = self.mountpaths();
        let (digest, mp) = if num == 1 {
            (hrw::obj_digest(bucket, obj), obj_mp)
        } else {
            let d = ufest::chunk_digest(id, num);
            (d, set.place(d).ok_or(StoreError::NoMountpaths)?.clone())
        };
        let dest = fqn::chunk_fqn(&mp.path, bucket, obj, id, num);
        let mut h = self
            .begin_at(
                props,
                set.version(),
                digest,
                mp,
                (bucket, obj),
                dest,
                size,
                Target::Chunk(slot),
            )
            .await?;
        h.hasher = stream;
        Ok(h)
    }

    /// S3 UploadPartCopy: writes part `num` of upload `id` of `bucket/obj` from the `len`
    /// bytes at `start` of the opened object `src` (monolithic or chunked, read piece by
    /// piece in `COPY_CHUNK` reads), with its MD5 (the part's ETag). The caller checks the
    /// range against `src.size`.
    #[allow(clippy::too_many_arguments)]
    pub async fn mpu_part_copy(
        self: &Arc<Self>,
        src: &ObjectHandle,
        start: u64,
        len: u64,
        bucket: &str,
        obj: &str,
        id: &str,
        num: u32,
    ) -> Result<PartDone, StoreError> {
        let (src_bucket, src_obj) = (src.bucket.clone(), src.obj.clone());
        if start.checked_add(len).is_none_or(|end| end > src.size) {
            return Err(StoreError::BadUpload(
                bucket.into(),
                obj.into(),
                format!(
                    "copy source range {start}+{len} outside ais://{src_bucket}/{src_obj} of {} \
                     bytes",
                    src.size
                ),
            ));
        }
        let mut part = self.mpu_part_begin(bucket, obj, id, num, None).await?;
        part.want_md5();
        let pieces: Vec<(&Fd, u64)> = if src.chunks.is_empty() {
            vec![(&src.fd, src.size)]
        } else {
            src.chunks.iter().map(|c| (&c.fd, c.size)).collect()
        };
        let mut buf = Vec::with_capacity(COPY_CHUNK.min(len.max(1) as usize));
        // Offset of the current piece in the object; bytes of the range still to copy.
        let (mut base, mut pos, end) = (0u64, start, start + len);
        for (fd, size) in pieces {
            let piece_end = base + size;
            while pos < end && pos < piece_end {
                let want = (end.min(piece_end) - pos).min(COPY_CHUNK as u64) as usize;
                buf.clear();
                buf.reserve(want);
                let (r, b) = rio::read_at(fd, buf, pos - base).await;
                buf = b;
                let n = match r {
                    Ok(0) => {
                        return Err(StoreError::MetaCorrupt(
                            src_bucket,
                            src_obj,
                            format!("a piece ends at {}, its size is {size}", pos - base),
                        ))
                    }
                    Ok(n) => n.min(want),
                    Err(e) => {
                        let p = fqn::object_fqn(&src.mp.path, &src_bucket, &src_obj);
                        return Err(StoreError::io("read", &p, e));
                    }
                };
                buf.truncate(n);
                pos += n as u64;
                let (r, b) = part.write(buf).await;
                buf = b;
                r?;
            }
            base = piece_end;
            if pos >= end {
                break;
            }
        }
        part.finish_part().await
    }

    /// Completes upload `id` with parts `nums` (exactly 1..N, each uploaded): the object
    /// becomes the chunks, atomically replacing any earlier version. Returns its metadata.
    pub async fn mpu_complete(
        self: &Arc<Self>,
        bucket: &str,
        obj: &str,
        id: &str,
        nums: &[u32],
    ) -> Result<Lom, StoreError> {
        self.complete(bucket, obj, id, PartList::Native(nums), None)
            .await
    }

    /// [`Store::mpu_complete`] under a [`WriteCondition`]: if it fails when the completion
    /// commits, nothing changes and the upload stays open.
    pub async fn mpu_complete_if(
        self: &Arc<Self>,
        bucket: &str,
        obj: &str,
        id: &str,
        nums: &[u32],
        condition: WriteCondition,
    ) -> Result<Lom, StoreError> {
        self.complete(bucket, obj, id, PartList::Native(nums), Some(condition))
            .await
    }

    /// Completes upload `id` as S3 does: `parts` in strictly ascending order
    /// (`InvalidPartOrder`), each uploaded with the ETag given (`InvalidPart`), every one but
    /// the last at least `S3_PART_SIZE_MIN` bytes (`EntityTooSmall`), and together exactly the
    /// parts 1..N uploaded. The object's custom `ETag` is the S3 multipart ETag
    /// `md5(md5_1 || ... || md5_N)-N`, unquoted (AIS `ETagS3`). Returns its metadata.
    /// `condition`: as [`Store::mpu_complete_if`].
    pub async fn mpu_complete_s3(
        self: &Arc<Self>,
        bucket: &str,
        obj: &str,
        id: &str,
        parts: &[S3Part],
        condition: Option<WriteCondition>,
    ) -> Result<Lom, StoreError> {
        self.complete(bucket, obj, id, PartList::S3(parts), condition)
            .await
    }

    /// The parts of upload `id` stored so far, by number.
    pub fn mpu_list_parts(
        &self,
        bucket: &str,
        obj: &str,
        id: &str,
    ) -> Result<Vec<PartInfo>, StoreError> {
        Store::check_names(bucket, obj)?;
        let props = self.bucket(bucket)?;
        let up = self.upload(bucket, obj, id)?;
        let u = up.lock().expect("upload lock");
        if u.bid != props.bid || u.state == State::Aborted {
            return Err(StoreError::UploadNotFound(
                bucket.into(),
                obj.into(),
                id.into(),
            ));
        }
        Ok(u.parts
            .iter()
            .map(|(num, p)| PartInfo {
                num: *num,
                size: p.size,
                etag: p.md5.map(|m| format!("\"{}\"", crate::cksum::hex(&m))),
                mtime_ns: p.mtime_ns,
            })
            .collect())
    }

    /// The uploads in progress of objects in `bucket` whose names start with `prefix`, by
    /// object name and then creation time: the node's table, and the uploads a restart left
    /// as checkpoints only (so a client can still find and abort them).
    pub fn mpu_list(&self, bucket: &str, prefix: &str) -> Result<Vec<UploadInfo>, StoreError> {
        let props = self.bucket(bucket)?;
        let ups: Vec<Arc<Mutex<Upload>>> = self
            .uploads
            .map
            .lock()
            .expect("uploads lock")
            .values()
            .cloned()
            .collect();
        let mut out: Vec<UploadInfo> = ups
            .iter()
            .filter_map(|up| {
                let u = up.lock().expect("upload lock");
                (u.bucket == bucket
                    && u.bid == props.bid
                    && u.state != State::Aborted
                    && u.obj.starts_with(prefix))
                .then(|| UploadInfo {
                    obj: u.obj.clone(),
                    id: u.id.clone(),
                    initiated_ns: u.created_ns,
                })
            })
            .collect();
        let known: std::collections::HashSet<String> = self
            .uploads
            .map
            .lock()
            .expect("uploads lock")
            .keys()
            .cloned()
            .collect();
        out.extend(
            self.checkpointed_uploads(bucket, prefix)
                .into_iter()
                .filter(|u| !known.contains(&u.id)),
        );
        out.sort_by(|a, b| {
            (a.obj.as_str(), a.initiated_ns, a.id.as_str()).cmp(&(
                b.obj.as_str(),
                b.initiated_ns,
                b.id.as_str(),
            ))
        });
        Ok(out)
    }

    /// Uploads of `bucket` found as checkpoints (`%ut/<obj>.<id>`, not completed) on the
    /// mountpath `upload` would restore them from, for objects whose names start with `prefix`.
    fn checkpointed_uploads(&self, bucket: &str, prefix: &str) -> Vec<UploadInfo> {
        let set = self.mountpaths();
        let mut out = Vec::new();
        for mp in set.iter() {
            let udir = fqn::ufest_dir(&mp.path, bucket);
            for path in walk_files(&udir) {
                let Some((obj, id)) = path
                    .strip_prefix(&udir)
                    .ok()
                    .and_then(|r| r.to_str())
                    .and_then(|r| r.rsplit_once('.'))
                else {
                    continue;
                };
                if !obj.starts_with(prefix) || ufest::check_id(id).is_err() {
                    continue;
                }
                // Shortened names do not map back; an upload lives on its object's mountpath.
                if fqn::ufest_fqn(&mp.path, bucket, obj, Some(id)) != path
                    || self
                        .place(bucket, obj)
                        .map_or(true, |(_, home)| home.path != mp.path)
                {
                    continue;
                }
                let Ok(m) = std::fs::read(&path)
                    .map_err(|_| ())
                    .and_then(|b| Manifest::decode(&b).map_err(|_| ()))
                else {
                    continue;
                };
                if m.is_completed() || m.id != id {
                    continue;
                }
                out.push(UploadInfo {
                    obj: obj.to_string(),
                    id: id.to_string(),
                    initiated_ns: m.created_ns,
                });
            }
        }
        out
    }

    async fn complete(
        self: &Arc<Self>,
        bucket: &str,
        obj: &str,
        id: &str,
        list: PartList<'_>,
        condition: Option<WriteCondition>,
    ) -> Result<Lom, StoreError> {
        Store::check_names(bucket, obj)?;
        let props = self.bucket(bucket)?;
        let up = self.upload(bucket, obj, id)?;
        let bad = |m: String| StoreError::BadUpload(bucket.into(), obj.into(), m);
        let claimed = {
            let mut u = up.lock().expect("upload lock");
            check_open(&u, props.bid)?;
            if u.inflight > 0 {
                return Err(StoreError::UploadBusy(
                    bucket.into(),
                    obj.into(),
                    format!("upload {id}: {} part(s) still being uploaded", u.inflight),
                ));
            }
            let s3_nums;
            let nums = match list {
                PartList::Native(nums) => nums,
                PartList::S3(parts) => {
                    s3_nums = check_s3_list(&u, parts)?;
                    &s3_nums[..]
                }
            };
            if u.parts.is_empty() || nums.is_empty() {
                return Err(bad(format!(
                    "upload {id}: no chunks (no parts were uploaded or listed)"
                )));
            }
            if nums.len() != u.parts.len() {
                // AIS's words: a completion names every uploaded part, each once.
                let uploaded = |n: u32| u16::try_from(n).is_ok_and(|n| u.parts.contains_key(&n));
                let why = match nums.iter().find(|n| !uploaded(**n)) {
                    Some(n) => format!("part {n} was not uploaded"),
                    None => match u.parts.keys().find(|k| !nums.contains(&(**k as u32))) {
                        Some(k) => format!("part {k} was uploaded but is not listed"),
                        None => "a part is listed twice".to_string(),
                    },
                };
                return Err(bad(format!(
                    "upload {id}: partial completion is not allowed: requested {} parts, have \
                     {} ({why})",
                    nums.len(),
                    u.parts.len()
                )));
            }
            let mut sorted = nums.to_vec();
            sorted.sort_unstable();
            for (i, n) in sorted.iter().enumerate() {
                let want = i as u32 + 1;
                if *n != want {
                    return Err(bad(format!(
                        "upload {id}: parts must be numbered 1..{} with no gap or repeat; \
                         part {want} is missing (got {n})",
                        sorted.len()
                    )));
                }
                if !u.parts.contains_key(&(want as u16)) {
                    return Err(bad(format!("upload {id}: part {want} was not uploaded")));
                }
            }
            u.state = State::Completing;
            let stream = std::mem::replace(&mut u.stream, Stream::Dead);
            Claimed {
                parts: u.parts.values().cloned().collect(),
                stream,
                created_ns: u.created_ns,
                mp: u.mp.clone(),
                custom: u.custom.clone(),
                s3: matches!(list, PartList::S3(_)),
            }
        };
        let turn = self
            .uploads
            .completion_turn(hrw::obj_digest(bucket, obj))
            .await;
        let done = self
            .complete_claimed(bucket, obj, id, &props, claimed, condition.as_ref())
            .await;
        drop(turn);
        match done {
            Ok(lom) => {
                self.uploads.map.lock().expect("uploads lock").remove(id);
                Ok(lom)
            }
            Err(e) => {
                // Nothing became visible: the client may try again.
                up.lock().expect("upload lock").state = State::Open;
                Err(e)
            }
        }
    }

    async fn complete_claimed(
        self: &Arc<Self>,
        bucket: &str,
        obj: &str,
        id: &str,
        props: &BucketProps,
        c: Claimed,
        condition: Option<&WriteCondition>,
    ) -> Result<Lom, StoreError> {
        let total: u64 = c.parts.iter().map(|p| p.size).sum();
        let n = c.parts.len();
        let (cksum_type, cksum_value) = match c.stream {
            Stream::Next(next, h) if next as usize == n + 1 => {
                (props.cksum().as_str().to_string(), h.finish())
            }
            _ => {
                let mut acc = c.parts[0].crc;
                for p in &c.parts[1..] {
                    acc = ufest::crc32c_combine(acc, p.crc, p.size);
                }
                (
                    CksumType::Crc32c.as_str().to_string(),
                    ufest::crc32c_hex(acc),
                )
            }
        };
        let obj_fqn = fqn::object_fqn(&c.mp.path, bucket, obj);
        let old = read_lom(&obj_fqn).filter(|l| l.bid() == props.bid);
        if let Some(c) = condition {
            c.check(&obj_fqn, old.as_ref(), bucket, obj)?;
        }
        let version = match (&old, props.versioning) {
            (Some(o), true) => o
                .version
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(1, |v| v + 1),
            _ => 1,
        };
        let m = Manifest {
            id: id.into(),
            created_ns: c.created_ns,
            flags: ufest::FLAG_COMPLETED,
            chunks: c
                .parts
                .iter()
                .enumerate()
                .map(|(i, p)| Chunk {
                    num: i as u16 + 1,
                    size: p.size,
                    path: if i == 0 {
                        obj_fqn.to_string_lossy().into_owned()
                    } else {
                        p.path.to_string_lossy().into_owned()
                    },
                    cksum_type: CksumType::Crc32c.as_str().into(),
                    cksum_value: ufest::crc32c_hex(p.crc),
                    md5: p.md5.map(|m| m.to_vec()).unwrap_or_default(),
                    etag: p.md5.map(|m| md5_etag(&m)).unwrap_or_default(),
                    ..Default::default()
                })
                .collect(),
        };
        let mut custom = c.custom;
        if c.s3 {
            // AIS keeps an S3 object's ETag unquoted in the custom key `ETag`.
            let etag = m.etag_s3().ok_or_else(|| {
                StoreError::BadUpload(
                    bucket.into(),
                    obj.into(),
                    format!("upload {id}: a part has no MD5 for the S3 ETag"),
                )
            })?;
            custom.retain(|(k, _)| k != CUSTOM_ETAG);
            custom.push((CUSTOM_ETAG.into(), etag.trim_matches('"').to_string()));
        }
        custom.push((CUSTOM_UFEST_ID.into(), id.into()));
        let mut lom = Lom {
            cksum_type,
            cksum_value,
            version: Some(version.to_string()),
            size: total as i64,
            copies: Vec::new(),
            custom,
            lid: props.bid,
            flags: 0,
        };
        lom.set_chunked();
        if fqn::is_fntl(obj) {
            lom.custom.push((CUSTOM_ORIG_FNTL.into(), obj.into()));
            lom.set_fntl();
        }
        let md = lom
            .encode()
            .map_err(|e| StoreError::MetaCorrupt(bucket.into(), obj.into(), e.to_string()))?;
        // 1. Chunk 1 carries the object's LOM.
        let chunk1 = c.parts[0].path.clone();
        let f = std::fs::File::open(&chunk1).map_err(|e| StoreError::io("open", &chunk1, e))?;
        let fd = Fd::from_owned(f.into());
        sys::fsetxattr(&fd, XATTR_LOM, &md).map_err(|e| StoreError::io("setxattr", &chunk1, e))?;
        if props.fsync {
            rio::fsync(&fd, false)
                .await
                .map_err(|e| StoreError::io("fsync", &chunk1, e))?;
        }
        drop(fd);
        // 2. The completed manifest, as the intent record.
        let bytes = m
            .encode()
            .map_err(|e| StoreError::MetaCorrupt(bucket.into(), obj.into(), e.to_string()))?;
        let intent = fqn::ufest_fqn(&c.mp.path, bucket, obj, Some(id));
        write_whole(&c.mp.path, bucket, &intent, &bytes, props.fsync)
            .map_err(|e| StoreError::io("write manifest", &intent, e))?;
        // What the old version leaves behind once replaced (its chunk 1 is `%ob`, replaced).
        let set = self.mountpaths();
        let leftovers = match &old {
            Some(o) if o.is_chunked() => old_chunks(&set, &c.mp.path, bucket, obj, o),
            _ => Vec::new(),
        };
        // 3. Visible.
        let visible = if matches!(condition, Some(WriteCondition::CreateOnly)) {
            create_in_place(&chunk1, &obj_fqn, bucket, obj).await
        } else {
            rename_into_place(&chunk1, &obj_fqn, bucket, obj).await
        };
        if let Err(e) = visible {
            let _ = std::fs::remove_file(&intent);
            return Err(e);
        }
        let digest = hrw::obj_digest(bucket, obj);
        self.atimes.set(digest, now_ns());
        self.generations.bump(digest);
        // A mirrored old version's replicas go now (chunked objects have none: not mirrored).
        let mirrored = self.mirrored(bucket);
        if mirrored || old.as_ref().is_some_and(|o| !o.copies.is_empty()) {
            self.drop_replicas(bucket, obj, &obj_fqn, old.as_ref(), mirrored);
        }
        // 4. and 5.: a failure from here on is finished by the start-up recovery.
        let done = fqn::ufest_fqn(&c.mp.path, bucket, obj, None);
        if let Err(e) = std::fs::rename(&intent, &done) {
            tracing::warn!(bucket, obj, id, "manifest rename {}: {e}", intent.display());
        }
        if props.fsync {
            for p in [&obj_fqn, &done] {
                if let Some(dir) = p.parent() {
                    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
                }
            }
        }
        remove_files(leftovers).await;
        Ok(lom)
    }

    /// Aborts upload `id`: every part it stored and its checkpoint are removed.
    pub async fn mpu_abort(&self, bucket: &str, obj: &str, id: &str) -> Result<(), StoreError> {
        Store::check_names(bucket, obj)?;
        let up = self.upload(bucket, obj, id)?;
        let (parts, mp) = {
            let mut u = up.lock().expect("upload lock");
            if u.state != State::Open {
                return Err(busy(&u));
            }
            u.state = State::Aborted;
            let parts: Vec<PathBuf> = u.parts.values().map(|p| p.path.clone()).collect();
            (parts, u.mp.clone())
        };
        self.uploads.map.lock().expect("uploads lock").remove(id);
        let mut files = parts;
        files.push(fqn::ufest_fqn(&mp.path, bucket, obj, Some(id)));
        remove_files(files).await;
        Ok(())
    }

    /// Uploads in progress (for tests and metrics).
    pub fn uploads_open(&self) -> usize {
        self.uploads.map.lock().expect("uploads lock").len()
    }

    /// After `%ob/<obj>` on `mp` stopped being the chunked object `old` (overwritten by a
    /// monolithic PUT, or deleted): removes its manifest and chunks 2..N.
    pub(super) async fn remove_chunked_leftovers(
        &self,
        mp: &Path,
        bucket: &str,
        obj: &str,
        old: &Lom,
    ) {
        let set = self.mountpaths();
        let mut files = old_chunks(&set, mp, bucket, obj, old);
        let done = fqn::ufest_fqn(mp, bucket, obj, None);
        // The manifest goes too, unless a newer completion replaced it meanwhile.
        if let Ok(m) = std::fs::read(&done)
            .map_err(|_| ())
            .and_then(|b| Manifest::decode(&b).map_err(|_| ()))
        {
            if old
                .custom_get(CUSTOM_UFEST_ID)
                .is_none_or(|want| want == m.id)
            {
                files.push(done);
            }
        }
        remove_files(files).await;
    }

    /// Finishes, at start-up, completions a crash interrupted (an intent record
    /// `%ut/<obj>.<id>` marked completed): see the module comment for the order.
    pub(super) fn recover_completions(&self) {
        let bmd = self.bmd();
        let set = self.mountpaths();
        for mp in set.iter() {
            for bucket in bmd.buckets.keys() {
                let udir = fqn::ufest_dir(&mp.path, bucket);
                for path in walk_files(&udir) {
                    if let Err(e) = self.recover_one(&set, mp, bucket, &path) {
                        tracing::warn!(path = %path.display(), "completion recovery: {e}");
                    }
                }
            }
        }
    }

    fn recover_one(
        &self,
        set: &MountpathSet,
        mp: &Mountpath,
        bucket: &str,
        path: &Path,
    ) -> Result<(), StoreError> {
        let Ok(bytes) = std::fs::read(path) else {
            return Ok(());
        };
        let Ok(m) = Manifest::decode(&bytes) else {
            return Ok(()); // corrupt: left for space cleanup, never trusted
        };
        if !m.is_completed() || m.chunks.is_empty() {
            return Ok(()); // a checkpoint: restored when its upload is next used
        }
        let odir = fqn::obj_dir(&mp.path, bucket);
        let Some(obj) = fqn::obj_name_of(&odir, Path::new(&m.chunks[0].path)) else {
            return Ok(());
        };
        if fqn::ufest_fqn(&mp.path, bucket, &obj, Some(&m.id)) != path {
            return Ok(()); // a completed manifest in its place
        }
        let obj_fqn = fqn::object_fqn(&mp.path, bucket, &obj);
        let done = fqn::ufest_fqn(&mp.path, bucket, &obj, None);
        let chunk1 = fqn::chunk_fqn(&mp.path, bucket, &obj, &m.id, 1);
        let cur = read_lom(&obj_fqn);
        let ours = |l: &Lom| l.custom_get(CUSTOM_UFEST_ID) == Some(m.id.as_str());
        let mut leftovers = Vec::new();
        if chunk1.exists() {
            // Crashed before step 3: the old object (if chunked) is still whole.
            if let Some(o) = cur.as_ref().filter(|l| l.is_chunked() && !ours(l)) {
                leftovers = old_chunks(set, &mp.path, bucket, &obj, o);
            }
            if let Some(dir) = obj_fqn.parent() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::io("mkdir", dir, e))?;
            }
            std::fs::rename(&chunk1, &obj_fqn)
                .map_err(|e| StoreError::io("rename", &obj_fqn, e))?;
        } else if cur.as_ref().is_some_and(ours) {
            // Crashed between steps 3 and 4: `%ut/<obj>` still describes the old version.
            if let Ok(old) = std::fs::read(&done)
                .map_err(|_| ())
                .and_then(|b| Manifest::decode(&b).map_err(|_| ()))
            {
                if old.id != m.id {
                    leftovers = old
                        .chunks
                        .iter()
                        .skip(1)
                        .map(|c| PathBuf::from(&c.path))
                        .filter(|p| chunk_path_ok(set, bucket, p))
                        .collect();
                }
            }
        } else {
            // The object was replaced or deleted since: this upload's chunks are orphans.
            let mut files: Vec<PathBuf> = m
                .chunks
                .iter()
                .skip(1)
                .map(|c| PathBuf::from(&c.path))
                .filter(|p| chunk_path_ok(set, bucket, p))
                .collect();
            files.push(path.to_path_buf());
            for f in files {
                let _ = std::fs::remove_file(f);
            }
            return Ok(());
        }
        std::fs::rename(path, &done).map_err(|e| StoreError::io("rename", &done, e))?;
        for f in leftovers {
            let _ = std::fs::remove_file(f);
        }
        self.generations.bump(hrw::obj_digest(bucket, &obj));
        tracing::info!(
            bucket,
            obj,
            id = m.id,
            "finished a multipart completion interrupted by a crash"
        );
        Ok(())
    }
}

struct Claimed {
    parts: Vec<Part>,
    stream: Stream,
    created_ns: u64,
    mp: Arc<Mountpath>,
    custom: Vec<(String, String)>,
    /// An S3 completion: the object gets the multipart ETag.
    s3: bool,
}

/// Checks an S3 completion's part list against upload `u` (see `Store::mpu_complete_s3`);
/// returns the part numbers.
fn check_s3_list(u: &Upload, parts: &[S3Part]) -> Result<Vec<u32>, StoreError> {
    let err = |kind, m: String| {
        StoreError::PartList(
            kind,
            u.bucket.clone(),
            u.obj.clone(),
            format!("upload {}: {m}", u.id),
        )
    };
    if parts.is_empty() {
        return Err(err(
            PartListError::InvalidPart,
            "the part list is empty".into(),
        ));
    }
    for w in parts.windows(2) {
        if w[1].num <= w[0].num {
            return Err(err(
                PartListError::InvalidPartOrder,
                format!(
                    "the list of parts was not in ascending order: part {} after part {}",
                    w[1].num, w[0].num
                ),
            ));
        }
    }
    let mut stored = Vec::with_capacity(parts.len());
    for p in parts {
        let part = u16::try_from(p.num)
            .ok()
            .and_then(|n| u.parts.get(&n))
            .ok_or_else(|| {
                err(
                    PartListError::InvalidPart,
                    format!("part {} was not uploaded", p.num),
                )
            })?;
        let want = p.etag.trim().trim_matches('"');
        match part.md5 {
            Some(m) if crate::cksum::hex(&m).eq_ignore_ascii_case(want) => {}
            Some(m) => {
                return Err(err(
                    PartListError::InvalidPart,
                    format!(
                        "part {}: ETag {:?} does not match the part's \"{}\"",
                        p.num,
                        p.etag,
                        crate::cksum::hex(&m)
                    ),
                ))
            }
            None => {
                return Err(err(
                    PartListError::InvalidPart,
                    format!(
                        "part {} has no ETag (uploaded through the native API)",
                        p.num
                    ),
                ))
            }
        }
        stored.push(part);
    }
    let last = stored.len() - 1;
    for (i, part) in stored.iter().enumerate() {
        if i < last && part.size < S3_PART_SIZE_MIN {
            return Err(err(
                PartListError::EntityTooSmall,
                format!(
                    "part {} is {} bytes: every part but the last must be at least \
                     {S3_PART_SIZE_MIN} bytes",
                    parts[i].num, part.size
                ),
            ));
        }
    }
    let contiguous = parts.iter().enumerate().all(|(i, p)| p.num == i as u32 + 1);
    if !contiguous || parts.len() != u.parts.len() {
        return Err(err(
            PartListError::Partial,
            format!(
                "partial completion is not supported: the list must name every uploaded part, \
                 numbered 1..N (listed {}, uploaded {})",
                parts.len(),
                u.parts.len()
            ),
        ));
    }
    Ok(parts.iter().map(|p| p.num).collect())
}

/// An upload that may take parts or a completion: of the bucket's current incarnation (else
/// it is unknown) and open (else busy).
fn check_open(u: &Upload, bid: u64) -> Result<(), StoreError> {
    if u.bid != bid {
        return Err(StoreError::UploadNotFound(
            u.bucket.clone(),
            u.obj.clone(),
            u.id.clone(),
        ));
    }
    if u.state != State::Open {
        return Err(busy(u));
    }
    Ok(())
}

fn busy(u: &Upload) -> StoreError {
    let what = match u.state {
        State::Open => "open",
        State::Completing => "being completed",
        State::Aborted => "aborted",
    };
    StoreError::UploadBusy(
        u.bucket.clone(),
        u.obj.clone(),
        format!("upload {} is {what}", u.id),
    )
}

impl PartSlot {
    /// Moves a finished part's work file to its chunk path and records it (under the upload's
    /// lock, so the recorded part is the file that stays); checkpoints when due.
    fn record(
        &mut self,
        work: &Path,
        dest: &Path,
        size: u64,
        crc: u32,
        md5: Option<[u8; 16]>,
        stream: Option<Hasher>,
    ) -> Result<(), StoreError> {
        let mut u = self.up.lock().expect("upload lock");
        if u.state != State::Open {
            return Err(busy(&u));
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io("mkdir", dir, e))?;
        }
        std::fs::rename(work, dest).map_err(|e| StoreError::io("rename", dest, e))?;
        let part = Part {
            size,
            path: dest.to_path_buf(),
            crc,
            md5,
            mtime_ns: now_ns(),
        };
        if let Some(old) = u.parts.insert(self.num, part) {
            if old.path != dest {
                let _ = std::fs::remove_file(&old.path);
            }
        }
        u.stream = match (std::mem::replace(&mut u.stream, Stream::Dead), stream) {
            (Stream::Taken(n), Some(h)) if n == self.num => Stream::Next(n + 1, h),
            _ => Stream::Dead,
        };
        u.inflight -= 1;
        self.done = true;
        u.since_checkpoint += 1;
        if u.checkpoint_every > 0 && u.since_checkpoint >= u.checkpoint_every {
            u.since_checkpoint = 0;
            if let Err(e) = checkpoint(&u) {
                // The part is stored and recorded; only a restart would forget it.
                tracing::warn!(bucket = u.bucket, obj = u.obj, id = u.id, "checkpoint: {e}");
            }
        }
        Ok(())
    }
}

/// Persists the partial manifest of `u` at `%ut/<obj>.<id>`.
fn checkpoint(u: &Upload) -> Result<(), StoreError> {
    let m = Manifest {
        id: u.id.clone(),
        created_ns: u.created_ns,
        flags: 0,
        chunks: u
            .parts
            .iter()
            .map(|(num, p)| Chunk {
                num: *num,
                size: p.size,
                path: p.path.to_string_lossy().into_owned(),
                cksum_type: CksumType::Crc32c.as_str().into(),
                cksum_value: ufest::crc32c_hex(p.crc),
                md5: p.md5.map(|m| m.to_vec()).unwrap_or_default(),
                etag: p.md5.map(|m| md5_etag(&m)).unwrap_or_default(),
                ..Default::default()
            })
            .collect(),
    };
    let bytes = m
        .encode()
        .map_err(|e| StoreError::MetaCorrupt(u.bucket.clone(), u.obj.clone(), e.to_string()))?;
    let path = fqn::ufest_fqn(&u.mp.path, &u.bucket, &u.obj, Some(&u.id));
    write_whole(&u.mp.path, &u.bucket, &path, &bytes, false)
        .map_err(|e| StoreError::io("write manifest", &path, e))
}

impl super::PutHandle {
    /// Completes a part of a multipart upload: verifies a client checksum, moves the part to
    /// its chunk path and records it (replacing an earlier part of the same number).
    pub async fn finish_part(mut self) -> Result<PartDone, StoreError> {
        if let Some((c, h)) = self.client_hasher.take() {
            let computed = h.map(|h| h.finish()).unwrap_or_default();
            if !computed.eq_ignore_ascii_case(&c.value) {
                return Err(StoreError::BadChecksum {
                    bucket: self.bucket.clone(),
                    obj: self.obj.clone(),
                    cksum_type: c.cksum_type.as_str().into(),
                    expected: c.value,
                    computed,
                });
            }
        }
        let fd = self.fd.take().expect("finish once");
        if self.props.fsync {
            rio::fsync(&fd, false)
                .await
                .map_err(|e| StoreError::io("fsync", &self.work, e))?;
        }
        drop(fd);
        let crc = self.crc.expect("a part has a CRC32C");
        let md5_hex = self.md5.take().map(|h| crate::cksum::hex(&h.finalize()));
        let md5 = md5_hex.as_deref().and_then(unhex16);
        let stream = self.hasher.take();
        let (size, work, dest) = (self.size, self.work.clone(), self.fqn.clone());
        let Target::Chunk(slot) = &mut self.target else {
            panic!("finish_part on an object PUT");
        };
        let num = slot.num;
        if fqn::crosses_symlink(&dest, &self.obj, false) {
            tracing::warn!(path = %dest.display(), "refused: the part's path crosses a symlink in the mountpath");
            return Err(StoreError::NameConflict(
                self.bucket.clone(),
                self.obj.clone(),
            ));
        }
        slot.record(&work, &dest, size, crc, md5, stream)?;
        self.finished = true;
        Ok(PartDone {
            num,
            size,
            crc32c: ufest::crc32c_hex(crc),
            md5: md5_hex,
        })
    }
}

/// A part's S3 ETag: its MD5 in hex, quoted.
fn md5_etag(md5: &[u8; 16]) -> String {
    format!("\"{}\"", crate::cksum::hex(md5))
}

/// 32 hex digits as 16 bytes.
fn unhex16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The modification time of `path` in unix nanoseconds (0 when it cannot be read).
pub(super) fn file_mtime_ns(path: impl AsRef<Path>) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The LOM at `path`, if there is a valid one.
fn read_lom(path: &Path) -> Option<Lom> {
    let mut buf = Vec::new();
    match sys::getxattr(path, XATTR_LOM, &mut buf) {
        Ok(true) => Lom::decode(&buf).ok(),
        _ => None,
    }
}

/// Chunks 2..N of the chunked object `old` whose manifest is `%ut/<obj>` on `mp` (or the
/// intent record of its id), if the manifest belongs to it.
fn old_chunks(set: &MountpathSet, mp: &Path, bucket: &str, obj: &str, old: &Lom) -> Vec<PathBuf> {
    let want = old.custom_get(CUSTOM_UFEST_ID);
    let mut candidates = vec![fqn::ufest_fqn(mp, bucket, obj, None)];
    if let Some(w) = want {
        candidates.push(fqn::ufest_fqn(mp, bucket, obj, Some(w)));
    }
    for p in candidates {
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        let Ok(m) = Manifest::decode(&bytes) else {
            continue;
        };
        if !m.is_completed() || want.is_some_and(|w| w != m.id) {
            continue;
        }
        return m
            .chunks
            .iter()
            .skip(1)
            .map(|c| PathBuf::from(&c.path))
            .filter(|p| chunk_path_ok(set, bucket, p))
            .collect();
    }
    Vec::new()
}

/// Whether `path` (read from a manifest) is a file under some mountpath's `%ch` folder of
/// `bucket`, with no `.`/`..` component: a manifest never names a file outside.
pub(super) fn chunk_path_ok(set: &MountpathSet, bucket: &str, path: &Path) -> bool {
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return false;
    }
    set.iter().any(|mp| {
        let dir = fqn::chunk_dir(&mp.path, bucket);
        path.starts_with(&dir) && path != dir
    })
}

/// Writes `bytes` to `dest` whole: a work file in the bucket's `%wk` on `mp`, renamed over
/// `dest` (parent folders made as needed).
fn write_whole(mp: &Path, bucket: &str, dest: &Path, bytes: &[u8], fsync: bool) -> io::Result<()> {
    use std::io::Write as _;
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let work = fqn::work_fqn(
        mp,
        bucket,
        hrw::digest(dest.as_os_str().as_encoded_bytes()),
        &format!("m{seq:x}"),
    );
    if let Some(dir) = work.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let res = (|| {
        let mut f = std::fs::File::create(&work)?;
        f.write_all(bytes)?;
        if fsync {
            f.sync_all()?;
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&work, dest)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&work);
    }
    res
}

/// [`rename_into_place`] for a write that may only create the object (S3 `If-None-Match:
/// *`): `renameat2(RENAME_NOREPLACE)`, so whatever took the name meanwhile stays and the
/// write fails with `ObjExists` (`NameConflict` if a directory holds the name: keys under it).
pub(super) async fn create_in_place(
    from: &Path,
    to: &Path,
    bucket: &str,
    obj: &str,
) -> Result<(), StoreError> {
    place(from, to, bucket, obj, true).await
}

/// Renames `from` over the object path `to`, making its virtual directory when missing.
pub(super) async fn rename_into_place(
    from: &Path,
    to: &Path,
    bucket: &str,
    obj: &str,
) -> Result<(), StoreError> {
    place(from, to, bucket, obj, false).await
}

/// Moves `from` to the object path `to` (over what is there, or only if nothing is:
/// `no_replace`), making its virtual directory when missing.
async fn place(
    from: &Path,
    to: &Path,
    bucket: &str,
    obj: &str,
    no_replace: bool,
) -> Result<(), StoreError> {
    // `None`: the directory is missing (make it and try again).
    let err = |e: io::Error| {
        if no_replace && e.raw_os_error() == Some(libc::EEXIST) {
            return Some(if to.is_dir() {
                StoreError::NameConflict(bucket.into(), obj.into())
            } else {
                StoreError::ObjExists(bucket.into(), obj.into())
            });
        }
        StoreError::of_rename(to, bucket, obj, e)
    };
    if fqn::crosses_symlink(to, obj, false) {
        tracing::warn!(path = %to.display(), "refused: the object's path crosses a symlink in the mountpath");
        return Err(StoreError::NameConflict(bucket.into(), obj.into()));
    }
    match rename(from, to, no_replace).await {
        Ok(()) => return Ok(()),
        Err(e) => {
            if let Some(e) = err(e) {
                return Err(e);
            }
        }
    }
    let dir = to.parent().expect("an object path has a parent");
    match rio::mkdir_all(dir, 0o755).await {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(libc::ENOTDIR)
                || e.raw_os_error() == Some(libc::EEXIST) =>
        {
            return Err(StoreError::NameConflict(bucket.into(), obj.into()))
        }
        Err(e) => return Err(StoreError::io("mkdir", dir, e)),
    }
    rename(from, to, no_replace).await.map_err(|e| {
        err(e).unwrap_or_else(|| StoreError::io("rename", to, io::ErrorKind::NotFound.into()))
    })
}

/// `rename(2)`, or with `no_replace` `renameat2(RENAME_NOREPLACE)` (`EEXIST` if `to` exists;
/// where the filesystem lacks the flag, `sys::rename_noreplace`'s link and unlink).
async fn rename(from: &Path, to: &Path, no_replace: bool) -> io::Result<()> {
    if !no_replace {
        return rio::rename(from, to).await;
    }
    match rio::rename_noreplace(from, to).await {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => sys::rename_noreplace(from, to)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => io::Error::from_raw_os_error(libc::EEXIST),
                _ => e,
            }),
        r => r,
    }
}

/// Removes `files` on the blocking pool (a missing one is fine).
async fn remove_files(files: Vec<PathBuf>) {
    if files.is_empty() {
        return;
    }
    rio::spawn_blocking(move || {
        for f in files {
            if let Err(e) = std::fs::remove_file(&f) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %f.display(), "removing a chunk: {e}");
                }
            }
        }
    })
    .await;
}

/// Every file under `dir` (recursively; object names may hold `/`).
fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => out.push(e.path()),
                _ => {}
            }
        }
    }
    out
}
