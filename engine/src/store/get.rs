//! Reads and deletes: `open_object` (GET/HEAD: from the core's object cache while current,
//! else open the file on its HRW mountpath, verify the LOM — and for a chunked object its
//! manifest and chunks — and cache it) and `delete_object`.

use std::rc::Rc;
use std::sync::Arc;

use super::{is_disk_error, Store, StoreError};
use crate::cache::{ChunkFile, CoreView, ObjectHandle};
use crate::io::{self as rio, sys, Fd};
use crate::lom::{Lom, XATTR_LOM};
use crate::mountpath::Mountpath;
use crate::ufest::Manifest;
use crate::{fqn, hrw};

impl Store {
    /// Opens an object for GET or HEAD: from the core's cache when still current, else opens
    /// the file, loads and checks its metadata, and caches it.
    pub async fn open_object(
        &self,
        view: &CoreView,
        bucket: &str,
        obj: &str,
    ) -> Result<Rc<ObjectHandle>, StoreError> {
        Store::check_names(bucket, obj)?;
        self.refresh_view(view);
        let bid = view
            .with_bmd(|b| b.buckets.get(bucket).map(|p| p.bid))
            .ok_or_else(|| StoreError::BucketNotFound(bucket.to_string()))?;
        let digest = hrw::obj_digest(bucket, obj);
        let stamp = self.generations.stamp(digest);
        if let Some(h) = view.lookup(digest, bucket, obj, stamp) {
            if h.lom.bid() == bid {
                return Ok(h);
            }
        }
        let mp = view
            .with_mountpaths(|m| m.place(digest).cloned())
            .ok_or(StoreError::NoMountpaths)?;
        // A chunked object is its LOM'd first chunk plus a manifest and more chunks, replaced
        // by a completion in several renames: a fill that sees a mix tries again.
        let mut attempt = 0;
        let h = loop {
            attempt += 1;
            let r = match self
                .open_fill(view, &mp, bucket, obj, bid, digest, stamp, attempt)
                .await
            {
                // Not at its HRW place: it may be misplaced (a resilver has not moved it yet).
                Err(Fill::Fail(StoreError::ObjNotFound(..))) => {
                    self.open_elsewhere(view, &mp, bucket, obj, bid, digest, stamp, attempt)
                        .await
                }
                // Its HRW place fails (EIO, a lost filesystem: the error already woke the
                // health check): a mirror copy elsewhere serves it, as AIS does; with none, the
                // error stands.
                Err(Fill::Fail(StoreError::Io { op, path, err })) if is_disk_error(&err) => {
                    match self
                        .open_elsewhere(view, &mp, bucket, obj, bid, digest, stamp, attempt)
                        .await
                    {
                        Ok(h) => Ok(h),
                        Err(Fill::Fail(StoreError::ObjNotFound(..)))
                        | Err(Fill::Fail(StoreError::Io { .. })) => {
                            Err(Fill::Fail(StoreError::Io { op, path, err }))
                        }
                        Err(e) => Err(e),
                    }
                }
                r => r,
            };
            match r {
                Ok(h) => break h,
                Err(Fill::Again(_)) if attempt < FILL_ATTEMPTS_MAX => {
                    rio::sleep(std::time::Duration::from_millis(attempt as u64)).await;
                }
                Err(Fill::Again(why)) => {
                    return Err(StoreError::MetaCorrupt(bucket.into(), obj.into(), why))
                }
                // A path through a symlink planted in the mountpath is no object.
                Err(Fill::Fail(StoreError::MetaMissing(..) | StoreError::MetaCorrupt(..)))
                    if fqn::crosses_symlink(&fqn::object_fqn(&mp.path, bucket, obj), obj, true) =>
                {
                    return Err(StoreError::ObjNotFound(bucket.into(), obj.into()))
                }
                Err(Fill::Fail(e)) => return Err(e),
            }
        };
        let h = Rc::new(h);
        view.insert(digest, h.clone());
        Ok(h)
    }

    /// Looks for a misplaced object on the data-holding mountpaths other than its HRW one
    /// (`hrw_mp`): the first file there with valid metadata of this bucket incarnation.
    #[allow(clippy::too_many_arguments)]
    async fn open_elsewhere(
        &self,
        view: &CoreView,
        hrw_mp: &Arc<Mountpath>,
        bucket: &str,
        obj: &str,
        bid: u64,
        digest: u64,
        stamp: crate::cache::Stamp,
        attempt: u32,
    ) -> Result<ObjectHandle, Fill> {
        let others: Vec<Arc<Mountpath>> = view.with_mountpaths(|m| {
            m.iter()
                .filter(|x| x.holds_data() && x.id != hrw_mp.id)
                .cloned()
                .collect()
        });
        for mp in &others {
            match self
                .open_fill(view, mp, bucket, obj, bid, digest, stamp, attempt)
                .await
            {
                Ok(h) => return Ok(h),
                Err(Fill::Fail(
                    StoreError::ObjNotFound(..)
                    | StoreError::MetaMissing(..)
                    | StoreError::MetaCorrupt(..),
                )) => continue,
                Err(e) => return Err(e),
            }
        }
        // A resilver may have moved it to its HRW place while we looked elsewhere (a move puts
        // the new file in place before it removes the old one): one more look there finds it.
        self.open_fill(view, hrw_mp, bucket, obj, bid, digest, stamp, attempt)
            .await
    }

    /// Opens the object's file (and chunks) and checks its metadata, for the cache.
    #[allow(clippy::too_many_arguments)]
    async fn open_fill(
        &self,
        view: &CoreView,
        mp: &Arc<Mountpath>,
        bucket: &str,
        obj: &str,
        bid: u64,
        digest: u64,
        stamp: crate::cache::Stamp,
        attempt: u32,
    ) -> Result<ObjectHandle, Fill> {
        let path = fqn::object_fqn(&mp.path, bucket, obj);
        let fd = match rio::open(&path, libc::O_RDONLY, 0).await {
            Ok(fd) => fd,
            Err(e) => {
                return Err(Fill::Fail(StoreError::of_object(
                    "open", &path, bucket, obj, e,
                )))
            }
        };
        let st = sys::fstat(&fd).map_err(|e| StoreError::io("fstat", &path, e))?;
        if !st.is_file {
            // A virtual directory (prefix of other objects), not an object.
            return Err(Fill::Fail(StoreError::ObjNotFound(
                bucket.into(),
                obj.into(),
            )));
        }
        let mut buf = Vec::new();
        let present = sys::fgetxattr(&fd, XATTR_LOM, &mut buf)
            .map_err(|e| StoreError::io("getxattr", &path, e))?;
        if !present {
            return Err(Fill::Fail(StoreError::MetaMissing(
                bucket.into(),
                obj.into(),
            )));
        }
        let lom = Lom::decode(&buf)
            .map_err(|e| StoreError::MetaCorrupt(bucket.into(), obj.into(), e.to_string()))?;
        if lom.bid() != bid {
            // Left over from an earlier incarnation of the bucket: never served.
            return Err(Fill::Fail(StoreError::ObjNotFound(
                bucket.into(),
                obj.into(),
            )));
        }
        if lom.size < 0 || (!lom.is_chunked() && lom.size as u64 != st.size) {
            return Err(Fill::Fail(StoreError::MetaCorrupt(
                bucket.into(),
                obj.into(),
                format!("size {} in metadata, {} on disk", lom.size, st.size),
            )));
        }
        let chunks = if lom.is_chunked() {
            self.open_chunks(mp, bucket, obj, &lom, &fd, st.size, attempt)
                .await?
        } else {
            Vec::new()
        };
        let size = lom.size as u64;
        let body = if chunks.is_empty() && view.body_fits(st.size) {
            let mut b = Vec::with_capacity(st.size as usize);
            while (b.len() as u64) < st.size {
                let (at, want) = (b.len() as u64, st.size as usize - b.len());
                // What the page cache holds is copied at once (cheaper than a ring round
                // trip); a cold read goes through the ring, so the core serves other
                // requests while the disk works instead of blocking in pread(2).
                let n = match sys::pread_append_nowait(&fd, &mut b, at, want) {
                    Ok(Some(n)) => n,
                    Ok(None) => {
                        let (r, nb) = rio::read_at(&fd, b, at).await;
                        b = nb;
                        r.map_err(|e| Fill::Fail(StoreError::io("read", &path, e)))?
                    }
                    Err(e) => return Err(Fill::Fail(StoreError::io("read", &path, e))),
                };
                if n == 0 {
                    break;
                }
            }
            if (b.len() as u64) != st.size {
                return Err(Fill::Fail(StoreError::MetaCorrupt(
                    bucket.into(),
                    obj.into(),
                    "file shorter than its size".into(),
                )));
            }
            Some(b.into_boxed_slice())
        } else {
            None
        };
        Ok(ObjectHandle {
            fd,
            lom,
            body,
            chunks,
            size,
            atime_ns: st.atime_ns,
            atime_fs_ns: std::cell::Cell::new(st.atime_ns),
            digest,
            mtime_ns: st.mtime_ns,
            mp: mp.clone(),
            bucket: bucket.to_string(),
            obj: obj.to_string(),
            stamp,
            cksum_verified: std::cell::Cell::new(false),
        })
    }

    /// Loads a chunked object's manifest and opens its chunks, checking each against the
    /// manifest and the manifest against the LOM. A manifest that fails its checksum or makes
    /// no sense is corrupt (never trusted); one of another upload, or a missing chunk, may be
    /// a completion or delete in progress (`Fill::Again`).
    #[allow(clippy::too_many_arguments)]
    async fn open_chunks(
        &self,
        mp: &Mountpath,
        bucket: &str,
        obj: &str,
        lom: &Lom,
        first: &Fd,
        first_size: u64,
        attempt: u32,
    ) -> Result<Vec<ChunkFile>, Fill> {
        let corrupt =
            |why: String| Fill::Fail(StoreError::MetaCorrupt(bucket.into(), obj.into(), why));
        let want = lom.custom_get(super::CUSTOM_UFEST_ID);
        let mut paths = vec![fqn::ufest_fqn(&mp.path, bucket, obj, None)];
        if let Some(w) = want {
            // Between a completion's steps 3 and 4 the manifest is still its intent record.
            paths.push(fqn::ufest_fqn(&mp.path, bucket, obj, Some(w)));
        }
        let mut found = None;
        let mut why = String::new();
        for p in &paths {
            let bytes = match std::fs::read(p) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    why = format!("chunk manifest {} is missing", p.display());
                    continue;
                }
                Err(e) => return Err(Fill::Fail(StoreError::io("read", p, e))),
            };
            let m = Manifest::decode(&bytes)
                .map_err(|e| corrupt(format!("chunk manifest {}: {e}", p.display())))?;
            if want.is_some_and(|w| w != m.id) {
                why = format!(
                    "chunk manifest {} is of upload {:?}, not {want:?}",
                    p.display(),
                    m.id
                );
                continue;
            }
            found = Some(m);
            break;
        }
        let Some(m) = found else {
            // Missing or another upload's: a completion or a delete may be under way.
            return Err(if attempt < FILL_ATTEMPTS_MAX {
                Fill::Again(why)
            } else {
                corrupt(why)
            });
        };
        if !m.is_completed() {
            return Err(corrupt(format!(
                "chunk manifest of upload {:?} is not completed",
                m.id
            )));
        }
        if m.total_size() != lom.size as u64 {
            return Err(Fill::Again(format!(
                "chunk manifest totals {} bytes, metadata says {}",
                m.total_size(),
                lom.size
            )));
        }
        if m.chunks.first().map(|c| c.size) != Some(first_size) {
            return Err(Fill::Again(format!(
                "chunk 1 is {first_size} bytes, the manifest says {:?}",
                m.chunks.first().map(|c| c.size)
            )));
        }
        let mut files = Vec::with_capacity(m.chunks.len());
        files.push(ChunkFile {
            fd: first.clone(),
            size: first_size,
        });
        let set = self.mountpaths();
        for c in &m.chunks[1..] {
            let p = std::path::PathBuf::from(&c.path);
            if !super::mpu::chunk_path_ok(&set, bucket, &p) {
                return Err(corrupt(format!(
                    "chunk {} path {} is outside the bucket's chunk folders",
                    c.num, c.path
                )));
            }
            let fd = match rio::open(&p, libc::O_RDONLY, 0).await {
                Ok(fd) => fd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Fill::Again(format!(
                        "chunk {} of {} is missing: {}",
                        c.num,
                        m.chunks.len(),
                        p.display()
                    )))
                }
                Err(e) => return Err(Fill::Fail(StoreError::io("open", &p, e))),
            };
            let st = sys::fstat(&fd).map_err(|e| StoreError::io("fstat", &p, e))?;
            if st.size != c.size {
                return Err(corrupt(format!(
                    "chunk {} is {} bytes, the manifest says {}: {}",
                    c.num,
                    st.size,
                    c.size,
                    p.display()
                )));
            }
            files.push(ChunkFile { fd, size: c.size });
        }
        Ok(files)
    }

    /// Deletes an object (a chunked one with its manifest and chunks) wherever it is: on its
    /// HRW mountpath and on every other data-holding one (a misplaced object, mirror copies),
    /// under the object lock so a resilver's move cannot bring a copy back.
    pub async fn delete_object(&self, bucket: &str, obj: &str) -> Result<(), StoreError> {
        Store::check_names(bucket, obj)?;
        let props = self.bucket(bucket)?;
        let (digest, hrw_mp) = self.place(bucket, obj)?;
        let mut mps = vec![hrw_mp.clone()];
        mps.extend(
            self.mountpaths()
                .iter()
                .filter(|m| m.holds_data() && m.id != hrw_mp.id)
                .cloned(),
        );
        let mut chunked = Vec::new();
        let mut found = false;
        let mut hrw_err = None;
        {
            let _g = self.obj_lock(digest);
            for (i, mp) in mps.iter().enumerate() {
                let path = fqn::object_fqn(&mp.path, bucket, obj);
                if fqn::crosses_symlink(&path, obj, true) {
                    // Not an object: a symlink planted in the mountpath, or a path through one.
                    if i == 0 {
                        hrw_err = Some(StoreError::ObjNotFound(bucket.into(), obj.into()));
                    }
                    continue;
                }
                let mut buf = Vec::new();
                let old = match sys::getxattr(&path, XATTR_LOM, &mut buf) {
                    Ok(true) => Lom::decode(&buf)
                        .ok()
                        .filter(|l| l.is_chunked() && l.bid() == props.bid),
                    _ => None,
                };
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        found = true;
                        if let Some(o) = old {
                            chunked.push((mp.clone(), o));
                        }
                    }
                    Err(e) if i == 0 => {
                        hrw_err = Some(StoreError::of_object("unlink", &path, bucket, obj, e))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "delete of a misplaced copy: {e}")
                    }
                }
            }
        }
        self.atimes.forget(digest);
        self.generations.bump(digest);
        if !found {
            return Err(
                hrw_err.unwrap_or_else(|| StoreError::ObjNotFound(bucket.into(), obj.into()))
            );
        }
        for (mp, o) in chunked {
            self.remove_chunked_leftovers(&mp.path, bucket, obj, &o)
                .await;
        }
        Ok(())
    }
}

/// Times a cache fill tries when it sees a chunked object change under it.
const FILL_ATTEMPTS_MAX: u32 = 4;

/// Why a cache fill did not produce a handle.
enum Fill {
    /// What it read was inconsistent, as while a completion or delete runs: try again.
    Again(String),
    Fail(StoreError),
}

impl From<StoreError> for Fill {
    fn from(e: StoreError) -> Self {
        Fill::Fail(e)
    }
}
