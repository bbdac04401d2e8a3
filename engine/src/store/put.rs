//! PUT: `Store::put_begin` places the object and creates its work file; a `PutHandle` takes the
//! body (buffered through the page cache, or O_DIRECT from aligned buffers for large declared
//! sizes), checks client checksums, writes the LOM and renames the work file into place.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Store, StoreError, CUSTOM_ETAG, CUSTOM_ORIG_FNTL, FNTL_NAME_BYTES_MAX};
use crate::bmd::BucketProps;
use crate::cksum::{CksumType, Hasher};
use crate::fqn;
use crate::io::md5mb::{self, Md5};
use crate::io::{self as rio, sys, AlignedBuf, Fd, DIO_ALIGN};
use crate::lom::{Lom, XATTR_LOM};
use crate::mountpath::{DioState, Mountpath, MountpathId};

/// A client-supplied checksum to verify a PUT against.
#[derive(Debug, Clone)]
pub struct ClientChecksum {
    /// The type the client used.
    pub cksum_type: CksumType,
    /// Its value (lowercase hex).
    pub value: String,
}

impl Store {
    /// Starts a PUT: validates names, finds the bucket and the object's HRW mountpath, and
    /// creates the work file. `size` is the body size the client declared (Content-Length):
    /// from `set_put_direct_min` bytes on, the work file is opened with O_DIRECT (unless its
    /// mountpath refuses it) and the body should come in `AlignedBuf`s (`is_direct`).
    pub async fn put_begin(
        self: &Arc<Self>,
        bucket: &str,
        obj: &str,
        size: Option<u64>,
    ) -> Result<PutHandle, StoreError> {
        Store::check_put_name(bucket, obj)?;
        let props = self.bucket(bucket)?;
        let set = self.mountpaths();
        let digest = crate::hrw::obj_digest(bucket, obj);
        let mp = set.place(digest).ok_or(StoreError::NoMountpaths)?.clone();
        let dest = fqn::object_fqn(&mp.path, bucket, obj);
        self.begin_at(
            props,
            set.version(),
            digest,
            mp,
            (bucket, obj),
            dest,
            size,
            Target::Object,
        )
        .await
    }

    /// Checks the names of an object about to be written (a shortened long name must fit its
    /// LOM).
    pub(super) fn check_put_name(bucket: &str, obj: &str) -> Result<(), StoreError> {
        Store::check_names(bucket, obj)?;
        if fqn::is_fntl(obj) && obj.len() > FNTL_NAME_BYTES_MAX {
            return Err(StoreError::NameTooLong(
                bucket.into(),
                obj.into(),
                format!(
                    "{} bytes; names longer than 3072 bytes, or with a component longer than 255 \
                     bytes, are limited to {FNTL_NAME_BYTES_MAX} bytes",
                    obj.len()
                ),
            ));
        }
        Ok(())
    }

    /// Creates the work file of a PUT whose destination `dest` is on `mp` (placed by `digest`
    /// under mountpath-set version `set_version`): an object's `%ob` path or a chunk's `%ch`
    /// path, as `target` says.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn begin_at(
        self: &Arc<Self>,
        props: BucketProps,
        set_version: u64,
        digest: u64,
        mp: Arc<Mountpath>,
        (bucket, obj): (&str, &str),
        dest: PathBuf,
        size: Option<u64>,
        target: Target,
    ) -> Result<PutHandle, StoreError> {
        self.check_out_of_space()?;
        let cksum_type = CksumType::parse(&props.cksum_type).unwrap_or(CksumType::Xxhash2);
        let seq = self.work_seq.fetch_add(1, Ordering::Relaxed);
        let tie = format!("{:x}{:x}", rio::core_index(), seq);
        let work = fqn::work_fqn(&mp.path, bucket, digest, &tie);
        let mut direct = size.is_some_and(|s| s >= self.put_direct_min.load(Ordering::Relaxed))
            && mp.dio() != DioState::Refused;
        let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY;
        let fd = if direct {
            match Store::create_work(&mp, bucket, &work, flags | libc::O_DIRECT).await {
                Err(StoreError::Io { err, .. }) if err.raw_os_error() == Some(libc::EINVAL) => {
                    // The filesystem has no direct I/O. The open created the file before it
                    // refused the flag: open it again, buffered (the name is this PUT's own).
                    note_dio(&mp, false, "EINVAL on open");
                    direct = false;
                    match rio::open(&work, libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, 0o644)
                        .await
                    {
                        Ok(fd) => fd,
                        Err(e) => {
                            let _ = rio::unlink(&work, false).await;
                            return Err(StoreError::io("create", &work, e));
                        }
                    }
                }
                other => other?,
            }
        } else {
            Store::create_work(&mp, bucket, &work, flags).await?
        };
        if direct && mp.dio() == DioState::Unknown {
            // First direct PUT on this mountpath: can we meet its alignment?
            match dio_usable(&fd) {
                Ok(()) => note_dio(&mp, true, ""),
                Err(why) => {
                    note_dio(&mp, false, &why);
                    let r = sys::set_direct(&fd, false);
                    if let Err(e) = r {
                        drop(fd);
                        let _ = rio::unlink(&work, false).await;
                        return Err(StoreError::io("fcntl", &work, e));
                    }
                    direct = false;
                }
            }
        }
        let (hasher, crc) = match target {
            Target::Object => (Some(Hasher::new(cksum_type)), None),
            // A chunk always gets its CRC32C; the caller may hand it the upload's streaming
            // hash of the whole object (`set_stream_hasher`).
            Target::Chunk(_) => (None, Some(0)),
        };
        Ok(PutHandle {
            store: self.clone(),
            digest,
            set_version,
            bucket: bucket.to_string(),
            obj: obj.to_string(),
            fqn: dest,
            fntl: fqn::is_fntl(obj),
            work,
            fd: Some(fd),
            hasher,
            crc,
            target,
            cksum_type,
            client_hasher: None,
            size: 0,
            props,
            finished: false,
            direct,
            o_direct: direct,
            custom: Vec::new(),
            copied: None,
            md5: None,
            condition: None,
            mp,
        })
    }

    /// Creates a work file with `flags`, making the bucket's work directory if it is missing.
    async fn create_work(
        mp: &Mountpath,
        bucket: &str,
        work: &Path,
        flags: i32,
    ) -> Result<Fd, StoreError> {
        match rio::open(work, flags, 0o644).await {
            Ok(fd) => Ok(fd),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // The bucket directories are missing on this mountpath (e.g. removed by hand).
                let wdir = fqn::work_dir(&mp.path, bucket);
                rio::mkdir_all(&wdir, 0o755)
                    .await
                    .map_err(|e| StoreError::io("mkdir", &wdir, e))?;
                rio::open(work, flags, 0o644)
                    .await
                    .map_err(|e| StoreError::io("create", work, e))
            }
            Err(e) => Err(StoreError::io("create", work, e)),
        }
    }
}

/// What a PUT's work file becomes.
pub(super) enum Target {
    /// A whole object: LOM, then `rename(2)` over its `%ob` path (`PutHandle::finish`).
    Object,
    /// Chunk `num` of a multipart (or chunked) upload: renamed to its `%ch` path and recorded
    /// in the upload (`PutHandle::finish_part`, `mpu.rs`).
    Chunk(super::mpu::PartSlot),
}

/// What a conditional write (S3 `If-None-Match: *`, `If-Match`) requires of the object it
/// would replace, decided when the write commits, under the object's completion turn (which
/// PUTs, copies and completions of the name take): a write whose condition fails changes
/// nothing.
pub enum WriteCondition {
    /// Only if no object has the name: `ObjExists` otherwise. The commit itself is
    /// `renameat2(RENAME_NOREPLACE)`, so a writer outside the turn cannot be replaced either.
    CreateOnly,
    /// Only if the object exists (`ObjNotFound` otherwise) and the predicate, given its LOM and
    /// its file's mtime in ns, holds (`EtagMismatch` otherwise): the S3 layer compares ETags.
    IfMatch(EtagPredicate),
}

/// Whether an object (its LOM and its file's mtime in ns) is the version a write names.
pub type EtagPredicate = Box<dyn Fn(&Lom, i64) -> bool>;

impl WriteCondition {
    /// Checks the condition against `old`, the LOM at the object's path `fqn` (if any).
    pub(super) fn check(
        &self,
        fqn: &Path,
        old: Option<&Lom>,
        bucket: &str,
        obj: &str,
    ) -> Result<(), StoreError> {
        match self {
            WriteCondition::CreateOnly if old.is_some() || fqn.is_file() => {
                Err(StoreError::ObjExists(bucket.into(), obj.into()))
            }
            WriteCondition::CreateOnly => Ok(()),
            WriteCondition::IfMatch(matches) => match old {
                None => Err(StoreError::ObjNotFound(bucket.into(), obj.into())),
                Some(o) if matches(o, super::mpu::file_mtime_ns(fqn)) => Ok(()),
                Some(_) => Err(StoreError::EtagMismatch(bucket.into(), obj.into())),
            },
        }
    }
}

/// A PUT in progress. Feed the body with `write`, then `finish` (or `finish_part` for a part
/// of a multipart upload); dropping it unfinished removes the work file, so nothing of a
/// failed PUT is ever visible.
pub struct PutHandle {
    pub(super) store: Arc<Store>,
    pub(super) digest: u64,
    /// The mountpath the object goes to (its HRW mountpath when the PUT began).
    pub(super) mp: Arc<Mountpath>,
    /// The version of the mountpath set that placed it.
    pub(super) set_version: u64,
    pub(super) bucket: String,
    pub(super) obj: String,
    /// Where the work file goes: the object's `%ob` path, or the chunk's `%ch` path.
    pub(super) fqn: PathBuf,
    pub(super) fntl: bool,
    pub(super) target: Target,
    /// CRC32C of the body so far (chunks only: the manifest records one per chunk).
    pub(super) crc: Option<u32>,
    pub(super) work: PathBuf,
    pub(super) fd: Option<Fd>,
    pub(super) hasher: Option<Hasher>,
    pub(super) cksum_type: CksumType,
    pub(super) client_hasher: Option<(ClientChecksum, Option<Hasher>)>,
    pub(super) size: u64,
    pub(super) props: BucketProps,
    pub(super) finished: bool,
    /// The work file was opened with O_DIRECT: the body should come in `AlignedBuf`s.
    pub(super) direct: bool,
    /// The descriptor has O_DIRECT now (cleared for the last, partial block).
    pub(super) o_direct: bool,
    /// Custom metadata the object gets (validated by `set_custom`).
    pub(super) custom: Vec<(String, String)>,
    /// Version and custom metadata taken from a copy's source (`copy.rs`), else `None`.
    pub(super) copied: Option<super::copy::CopiedMeta>,
    /// MD5 of the body, computed alongside when asked (`want_md5`) through the core's
    /// multi-buffer batch: stored as the `ETag` custom key, as AIS keeps an S3 object's ETag.
    pub(super) md5: Option<Md5>,
    /// The condition the object's present state must meet at the commit (`set_condition`).
    pub(super) condition: Option<WriteCondition>,
}

/// Records what a direct PUT learnt about mountpath `mp`; logs a refusal once.
fn note_dio(mp: &Mountpath, works: bool, why: &str) {
    if mp.note_dio(works) && !works {
        tracing::warn!(
            mountpath = %mp.path.display(),
            "the filesystem refuses O_DIRECT ({why}): PUTs to this mountpath stay buffered"
        );
    }
}

/// Whether direct I/O on this open file works with `DIO_ALIGN`-aligned buffers, offsets and
/// lengths (`statx` STATX_DIOALIGN); a kernel or filesystem that does not say is trusted, as
/// the open with O_DIRECT succeeded.
fn dio_usable(fd: &Fd) -> Result<(), String> {
    match sys::dio_alignment(fd) {
        Ok(Some((0, _))) | Ok(Some((_, 0))) => Err("statx: no direct I/O for this file".into()),
        Ok(Some((mem, off)))
            if !DIO_ALIGN.is_multiple_of(mem as usize)
                || !DIO_ALIGN.is_multiple_of(off as usize) =>
        {
            Err(format!(
                "statx: direct I/O needs memory aligned to {mem} and offsets to {off} bytes; \
                 aisle aligns to {DIO_ALIGN}"
            ))
        }
        _ => Ok(()),
    }
}

impl PutHandle {
    /// Asks to verify the body against a client checksum (call before `write`).
    pub fn expect_checksum(&mut self, c: ClientChecksum) {
        if c.cksum_type == CksumType::None {
            return;
        }
        let same = c.cksum_type == self.cksum_type
            || (matches!(c.cksum_type, CksumType::Xxhash | CksumType::Xxhash2)
                && matches!(self.cksum_type, CksumType::Xxhash | CksumType::Xxhash2));
        if same && matches!(self.target, Target::Object) {
            // Same digest as the stored checksum: compare at the end without a second hasher.
            // (A chunk's own hasher, if any, hashes the whole object, not this chunk.)
            self.client_hasher = Some((c, None));
        } else {
            let h = Hasher::new(c.cksum_type);
            self.client_hasher = Some((c, Some(h)));
        }
    }

    /// Asks for the MD5 of the body as well (call before `write`): `finish` stores its hex in
    /// the custom key `ETag` (AIS's `cmn.ETag`, unquoted), replacing any given one.
    pub fn want_md5(&mut self) {
        if self.md5.is_none() {
            self.md5 = Some(Md5::new());
        }
    }

    /// Writes the object only if `c` holds when the PUT commits; else `finish` fails and
    /// changes nothing (see [`WriteCondition`]).
    pub fn set_condition(&mut self, c: WriteCondition) {
        self.condition = Some(c);
    }

    /// Stores `meta` (from a copy's source: version, custom metadata) instead of a new version
    /// and none (see `copy.rs`).
    pub(super) fn set_copied_meta(&mut self, meta: super::copy::CopiedMeta) {
        self.copied = Some(meta);
    }

    /// The mountpath the object goes to.
    pub fn mountpath_id(&self) -> MountpathId {
        self.mp.id
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the work file was opened for direct I/O: feed the body with `write_aligned`.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Updates the checksums with the next body bytes, all but the MD5 (`hash_md5`).
    fn hash(&mut self, data: &[u8]) {
        if let Some(c) = self.crc.as_mut() {
            *c = crc32c::crc32c_append(*c, data);
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(data);
        }
        if let Some((_, Some(h))) = self.client_hasher.as_mut() {
            h.update(data);
        }
    }

    /// Feeds `buf[..n]` to the MD5 asked for by `want_md5`, if any, and returns the buffer.
    /// The update goes through this core's batch (`md5mb::update`), which hashes the bodies of
    /// every PUT that reached this point in the same reactor turn side by side in the lanes.
    async fn hash_md5<B: AsRef<[u8]> + 'static>(&mut self, buf: B, n: usize) -> B {
        match self.md5.as_mut() {
            Some(m) => md5mb::update(m, buf, 0..n).await,
            None => buf,
        }
    }

    /// Appends body bytes from an aligned buffer and returns it for reuse. Whole
    /// `DIO_ALIGN` blocks go out with direct writes; unless `last`, a partial block at the end
    /// stays in the buffer (moved to its front) for the next call. The `last` call writes the
    /// final partial block through the page cache (O_DIRECT is cleared on the descriptor
    /// first). On a buffered work file everything is written as it comes.
    pub async fn write_aligned(
        &mut self,
        mut buf: AlignedBuf,
        last: bool,
    ) -> (Result<(), StoreError>, AlignedBuf) {
        let n = buf.len();
        let take = if last || !self.o_direct {
            n
        } else {
            n - n % DIO_ALIGN
        };
        self.hash(&buf[..take]);
        buf = self.hash_md5(buf, take).await;
        let fd = self.fd.clone().expect("write after finish");
        let direct_end = if self.o_direct {
            take - take % DIO_ALIGN
        } else {
            0
        };
        if direct_end > 0 {
            // O_DIRECT: file offset, length and memory all on DIO_ALIGN boundaries, always
            // (a misaligned direct write fails with EINVAL, or worse, on some filesystems).
            assert_eq!(
                self.size % DIO_ALIGN as u64,
                0,
                "direct write at an unaligned offset"
            );
            assert_eq!(
                direct_end % DIO_ALIGN,
                0,
                "direct write of an unaligned length"
            );
            assert_eq!(
                buf.as_ptr() as usize % DIO_ALIGN,
                0,
                "direct write from unaligned memory"
            );
            let (r, b) = rio::write_all_aligned_at(&fd, buf, 0..direct_end, self.size).await;
            buf = b;
            if let Err(e) = r {
                return (Err(StoreError::io("write", &self.work, e)), buf);
            }
            self.size += direct_end as u64;
        }
        if take > direct_end {
            if self.o_direct {
                if let Err(e) = sys::set_direct(&fd, false) {
                    return (Err(StoreError::io("fcntl", &self.work, e)), buf);
                }
                self.o_direct = false;
            }
            let (r, b) = rio::write_all_aligned_at(&fd, buf, direct_end..take, self.size).await;
            buf = b;
            if let Err(e) = r {
                return (Err(StoreError::io("write", &self.work, e)), buf);
            }
            self.size += (take - direct_end) as u64;
        }
        buf.consume_front(take);
        (Ok(()), buf)
    }

    /// Appends `buf` to the object; returns the buffer for reuse.
    pub async fn write(&mut self, buf: Vec<u8>) -> (Result<(), StoreError>, Vec<u8>) {
        if self.o_direct {
            // A plain buffer on a direct work file (not how the API feeds it): go buffered.
            let fd = self.fd.as_ref().expect("write after finish");
            if let Err(e) = sys::set_direct(fd, false) {
                return (Err(StoreError::io("fcntl", &self.work, e)), buf);
            }
            self.o_direct = false;
        }
        self.hash(&buf);
        let n = buf.len();
        let buf = self.hash_md5(buf, n).await;
        let fd = self.fd.as_ref().expect("write after finish");
        let n = buf.len() as u64;
        if self.store.put_write_direct.load(Ordering::Relaxed) {
            return match sys::pwrite_all(fd, &buf, self.size) {
                Ok(()) => {
                    self.size += n;
                    (Ok(()), buf)
                }
                Err(e) => (Err(StoreError::io("write", &self.work, e)), buf),
            };
        }
        let (r, buf) = rio::write_all_at(fd, buf, self.size).await;
        match r {
            Ok(()) => {
                self.size += n;
                (Ok(()), buf)
            }
            Err(e) => (Err(StoreError::io("write", &self.work, e)), buf),
        }
    }

    /// Completes the PUT: checks the client checksum, writes the LOM, optionally fsyncs, and
    /// renames the work file into place. Returns the stored metadata.
    pub async fn finish(mut self) -> Result<Lom, StoreError> {
        let value = self.hasher.take().expect("finish once").finish();
        if let Some((c, h)) = self.client_hasher.take() {
            let computed = match h {
                None => value.clone(),
                Some(h) => h.finish(),
            };
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
        let copied = self.copied.take();
        // One finish or multipart completion of an object at a time, from the read of the
        // version it replaces to the removal of that version's chunks: a completion committed
        // between this read and the rename below would leave its chunks and manifest behind.
        let _turn = self.store.uploads.completion_turn(self.digest).await;
        // The object this PUT replaces: its version goes on, and if it is chunked its chunks
        // and manifest go once the new object is in place.
        let old = {
            let mut buf = Vec::new();
            match sys::getxattr(&self.fqn, XATTR_LOM, &mut buf) {
                Ok(true) => Lom::decode(&buf).ok().filter(|o| o.bid() == self.props.bid),
                _ => None,
            }
        };
        if let Some(c) = &self.condition {
            c.check(&self.fqn, old.as_ref(), &self.bucket, &self.obj)?;
        }
        let mut version = 1u64;
        if self.props.versioning && copied.is_none() {
            if let Some(v) = old
                .as_ref()
                .and_then(|o| o.version.as_deref())
                .and_then(|v| v.parse::<u64>().ok())
            {
                version = v + 1;
            }
        }
        let mut lom = Lom {
            cksum_type: self.cksum_type.as_str().to_string(),
            cksum_value: value,
            version: Some(version.to_string()),
            size: self.size as i64,
            copies: Vec::new(),
            custom: std::mem::take(&mut self.custom),
            lid: self.props.bid,
            flags: 0,
        };
        if let Some(c) = copied {
            lom.version = c.version;
            lom.custom = c.custom;
        }
        if let Some(h) = self.md5.take() {
            lom.custom.retain(|(k, _)| k != CUSTOM_ETAG);
            lom.custom
                .push((CUSTOM_ETAG.to_string(), crate::cksum::hex(&h.finalize())));
        }
        if self.fntl {
            lom.custom
                .push((CUSTOM_ORIG_FNTL.to_string(), self.obj.clone()));
            lom.set_fntl();
        }
        let md = lom.encode().map_err(|e| {
            StoreError::MetaCorrupt(self.bucket.clone(), self.obj.clone(), e.to_string())
        })?;
        let fd = self.fd.take().expect("finish once");
        sys::fsetxattr(&fd, XATTR_LOM, &md)
            .map_err(|e| StoreError::io("setxattr", &self.work, e))?;
        if self.props.fsync {
            rio::fsync(&fd, false)
                .await
                .map_err(|e| StoreError::io("fsync", &self.work, e))?;
        }
        drop(fd);
        // Placement at PUT equals placement at GET: while the mountpath set is the one that
        // placed this PUT, its HRW mountpath is still the one the work file is on.
        let set = self.store.mountpaths();
        if set.version() == self.set_version {
            assert_eq!(
                set.place(self.digest).map(|m| m.id),
                Some(self.mp.id),
                "PUT placed ais://{}/{} off its HRW mountpath",
                self.bucket,
                self.obj
            );
        }
        if matches!(self.condition, Some(WriteCondition::CreateOnly)) {
            super::mpu::create_in_place(&self.work, &self.fqn, &self.bucket, &self.obj).await?;
        } else {
            self.replace_into_place(old.is_some()).await?;
        }
        // Cached copies of the old object on every core are stale from now on.
        self.store.atimes.set(self.digest, super::now_ns());
        self.store.generations.bump(self.digest);
        if let Some(o) = old.as_ref().filter(|o| o.is_chunked()) {
            let store = self.store.clone();
            store
                .remove_chunked_leftovers(&self.mp.path, &self.bucket, &self.obj, o)
                .await;
        }
        // Mirroring (`mirror.rs`): the replaced version's replicas go before the
        // acknowledgement (a GET must never find one); the new ones are made off the request.
        let mirrored = self.store.mirrored(&self.bucket);
        if mirrored || old.as_ref().is_some_and(|o| !o.copies.is_empty()) {
            self.store
                .drop_replicas(&self.bucket, &self.obj, &self.fqn, old.as_ref(), mirrored);
        }
        if self.props.fsync {
            if let Some(dir) = self.fqn.parent() {
                let d = rio::open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0)
                    .await
                    .map_err(|e| StoreError::io("open dir", dir, e))?;
                rio::fsync(&d, false)
                    .await
                    .map_err(|e| StoreError::io("fsync dir", dir, e))?;
            }
        }
        self.finished = true;
        if mirrored {
            self.store.spawn_put_copies(&self.bucket, &self.obj);
        }
        Ok(lom)
    }
}

impl PutHandle {
    /// Puts the finished work file in the object's place. Over an existing object (`over`: its
    /// LOM was read) the two are exchanged atomically (`renameat2(RENAME_EXCHANGE)`), then the
    /// old object, now at the work path, is unlinked: readers see the old object or the new one,
    /// as with a rename, but ext4 does not start writeback of the new data inside the call, which
    /// it does for a rename over an existing file (`auto_da_alloc`: measured 64 KiB written per
    /// 64 KiB overwrite during the PUT, 5x the node CPU; bench/RESULTS.md, "Overwrite PUTs").
    /// Otherwise, or when the exchange fails (the object went meanwhile, or the filesystem has
    /// no exchange), a plain rename.
    async fn replace_into_place(&self, over: bool) -> Result<(), StoreError> {
        let exchange = over
            && self.store.overwrite_exchange.load(Ordering::Relaxed)
            && !fqn::crosses_symlink(&self.fqn, &self.obj, false);
        if exchange && rio::rename_exchange(&self.work, &self.fqn).await.is_ok() {
            match rio::unlink(&self.work, false).await {
                // (Gone already: a cleanup job took it for an old work file, by its mtime.)
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {
                    // A directory took the object's name after its LOM was read (the object
                    // was deleted and `obj/...` written): put it back; the PUT conflicts.
                    return match rio::rename_exchange(&self.work, &self.fqn).await {
                        Ok(()) => Err(StoreError::NameConflict(
                            self.bucket.clone(),
                            self.obj.clone(),
                        )),
                        Err(e) => Err(StoreError::io("rename", &self.fqn, e)),
                    };
                }
                Err(e) => {
                    // The new object is in place; the old one stays as a work file, which the
                    // cleanup job removes.
                    tracing::warn!(work = %self.work.display(), "removing the replaced object: {e}");
                    return Ok(());
                }
            }
        }
        super::mpu::rename_into_place(&self.work, &self.fqn, &self.bucket, &self.obj).await
    }
}

impl Drop for PutHandle {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Nothing of an unfinished PUT may remain: the work file goes before the error is
        // answered (one unlink on the core thread, a metadata operation, so a client that
        // got the error never finds it).
        self.fd.take();
        if let Err(e) = std::fs::remove_file(&self.work) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(work = %self.work.display(), "removing a failed PUT's work file: {e}");
            }
        }
    }
}
