//! Bucket mirroring (AIS n-way mirror): `fix_copies_blocking` makes one object's replicas match
//! its bucket's `mirror` props, the `make-n-copies` job does that for a whole bucket, and PUT,
//! multipart completion and DELETE drop the replicas of the version they replace or delete.
//!
//! Layout (AIS's): the main replica is `%ob/<name>` on the object's HRW mountpath; each extra
//! copy is `%ob/<name>` on another mountpath; every replica carries the same LOM, whose `copies`
//! lists the FQNs of all of them, the main one included (empty when there is only the main).
//! Copies go to the enabled mountpaths best ranked by HRW after the main's, so the choice is
//! deterministic. Chunked objects are not mirrored (AIS does not mirror them either): their
//! LOM lists no copies and any listed ones are removed.
//!
//! Invariants:
//! - A copy becomes visible only by `rename(2)` of a complete work file (`%wk` on the copy's
//!   mountpath) that already carries the LOM: no torn replica is ever visible.
//! - The commit (renames, LOM rewrites, removals) runs under `Store::obj_lock` and only while
//!   the main replica is still the file the copies were made from (device, inode, size,
//!   mtime); checked again after the renames, so a PUT or DELETE that replaced or removed the
//!   main meanwhile wins and the copies just made are removed.
//! - A PUT, a multipart completion or a DELETE removes the replaced or deleted version's copies
//!   before it is acknowledged, so no GET can be answered from a stale copy.
//! - A path read from a LOM's `copies` is acted on only if it is this object's FQN on one of
//!   the set's mountpaths: a corrupt LOM cannot make the store touch any other file.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Store, StoreError, CUSTOM_ORIG_FNTL};
use crate::bmd::MIRROR_COPIES_MAX;
use crate::io::{sys, Fd};
use crate::lom::{Lom, XATTR_LOM};
use crate::mountpath::{Mountpath, MountpathSet};
use crate::xact::Xact;
use crate::{fqn, hrw, names};

/// The job kind of make-n-copies (AIS `apc.ActMakeNCopies`).
pub const KIND_MAKE_N_COPIES: &str = "make-n-copies";

/// What identifies one version of a file: a PUT that replaced it changes this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
}

impl FileId {
    fn of(md: &std::fs::Metadata) -> FileId {
        FileId {
            dev: md.dev(),
            ino: md.ino(),
            size: md.len(),
            mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        }
    }

    /// The identity of the file at `path` now, `None` if there is none.
    fn at(path: &Path) -> Option<FileId> {
        std::fs::symlink_metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| FileId::of(&m))
    }
}

/// The LOM of the file at `path`; `None` if missing, unreadable or corrupt.
fn read_lom(path: &Path) -> Option<Lom> {
    let mut buf = Vec::new();
    match sys::getxattr(path, XATTR_LOM, &mut buf) {
        Ok(true) => Lom::decode(&buf).ok(),
        _ => None,
    }
}

/// Whether two LOMs describe the same content of the same bucket incarnation.
fn same_content(a: &Lom, b: &Lom) -> bool {
    a.lid == b.lid
        && a.size == b.size
        && a.cksum_type == b.cksum_type
        && a.cksum_value == b.cksum_value
        && a.version == b.version
}

/// Whether the LOM at `path` marks that file as a replica (its `copies` lists its own FQN).
fn is_replica(path: &Path, lom: &Lom) -> bool {
    let Some(p) = path.to_str() else {
        return false;
    };
    lom.copies.iter().any(|c| c == p)
}

/// Removes `path`; a missing file is fine. Returns whether a file was removed.
fn remove(path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The enabled mountpaths other than `main`, best HRW rank for `digest` first (ties: the later
/// mountpath first, as `hrw::select_by` prefers it).
fn ranked_others(set: &MountpathSet, digest: u64, main: &Mountpath) -> Vec<Arc<Mountpath>> {
    let mut v: Vec<(u64, usize, Arc<Mountpath>)> = set
        .iter()
        .filter(|m| m.is_enabled() && m.id != main.id)
        .map(|m| (hrw::weight(digest, m.digest), m.id.index(), m.clone()))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse((m.0, m.1)));
    v.into_iter().map(|(_, _, m)| m).collect()
}

/// The mountpath of `set` on which `copy` is the FQN of `bucket/obj`, if any.
fn mountpath_of_copy<'a>(
    set: &'a MountpathSet,
    bucket: &str,
    obj: &str,
    copy: &str,
) -> Option<&'a Arc<Mountpath>> {
    set.iter()
        .find(|m| fqn::object_fqn(&m.path, bucket, obj).to_str() == Some(copy))
}

/// Path as the LOM keeps it; mountpath paths are UTF-8 (checked at start-up), so this fails
/// only for a programming error, reported as an I/O error.
fn path_str(p: &Path) -> Result<String, StoreError> {
    p.to_str().map(str::to_string).ok_or_else(|| {
        StoreError::io(
            "mirror",
            p,
            io::Error::new(io::ErrorKind::InvalidData, "path is not UTF-8"),
        )
    })
}

/// How many times a mirror fix starts over when another changed the replicas under it.
const FIX_ATTEMPTS: usize = 4;

/// What one attempt of a mirror fix did.
enum Fixed {
    /// Done (or nothing to do, or another operation won).
    Done,
    /// Another fix changed the replicas this one planned with: start over.
    Again,
}

/// A copy written but not yet renamed into place.
struct Pending {
    work: PathBuf,
    dest: PathBuf,
    fd: Fd,
}

impl Store {
    /// Makes the replicas of `bucket/obj` match the bucket's `mirror` props (1 when mirroring
    /// is off, and always 1 for a chunked object), with its main replica at its HRW FQN in
    /// `set`: copies on mountpaths that hold no data in `set` leave the LOM (their files are
    /// removed where still reachable), new copies go to the best-ranked enabled mountpaths
    /// after the main's, copies beyond the count are removed, and every replica ends with the
    /// same LOM listing all of them. With fewer mountpaths than copies, it makes what it can.
    ///
    /// Blocking (file copies): call it off the core threads. `xact` receives the counters
    /// (`copies_added`, `removed`, `removed_bytes`, `objs` when anything changed), never the
    /// error: a copy that fails does not stop the others, and the first error is returned for
    /// the caller to count once. Returns `ObjNotFound` when there is no main replica
    /// (deleted, or misplaced: the resilver's job).
    pub(crate) fn fix_copies_blocking(
        &self,
        set: &MountpathSet,
        bucket: &str,
        obj: &str,
        xact: Option<&Xact>,
    ) -> Result<(), StoreError> {
        // Two fixes of one object may run at once (a PUT's, and the walkers of a resilver or
        // make-n-copies on other mountpaths); their commits are serialised by the object
        // lock, and one that finds the replicas it planned with changed starts over.
        for _ in 0..FIX_ATTEMPTS {
            if let Fixed::Done = self.fix_copies_once(set, bucket, obj, xact)? {
                return Ok(());
            }
        }
        Err(StoreError::Io {
            op: "mirror fix",
            path: PathBuf::from(format!("{bucket}/{obj}")),
            err: io::Error::other(format!(
                "its replicas kept changing during {FIX_ATTEMPTS} attempts"
            )),
        })
    }

    /// One attempt of `fix_copies_blocking`.
    fn fix_copies_once(
        &self,
        set: &MountpathSet,
        bucket: &str,
        obj: &str,
        xact: Option<&Xact>,
    ) -> Result<Fixed, StoreError> {
        let props = self.bucket(bucket)?;
        let digest = hrw::obj_digest(bucket, obj);
        let main_mp = set.place(digest).ok_or(StoreError::NoMountpaths)?.clone();
        let main = fqn::object_fqn(&main_mp.path, bucket, obj);
        let main_s = path_str(&main)?;
        let src_file = match File::open(&main) {
            Ok(f) => f,
            Err(e) => return Err(StoreError::of_object("open", &main, bucket, obj, e)),
        };
        let md = src_file
            .metadata()
            .map_err(|e| StoreError::io("fstat", &main, e))?;
        if !md.is_file() {
            return Err(StoreError::ObjNotFound(bucket.into(), obj.into()));
        }
        let id0 = FileId::of(&md);
        // The same open file for the xattr calls (a duplicate descriptor).
        let src = Fd::from_owned(
            src_file
                .try_clone()
                .map_err(|e| StoreError::io("dup", &main, e))?
                .into(),
        );
        let lom = {
            let mut buf = Vec::new();
            match sys::fgetxattr(&src, XATTR_LOM, &mut buf) {
                Ok(true) => Lom::decode(&buf).map_err(|e| {
                    StoreError::MetaCorrupt(bucket.into(), obj.into(), e.to_string())
                })?,
                Ok(false) => return Err(StoreError::MetaMissing(bucket.into(), obj.into())),
                Err(e) => return Err(StoreError::io("getxattr", &main, e)),
            }
        };
        if lom.bid() != props.bid {
            return Err(StoreError::ObjNotFound(bucket.into(), obj.into()));
        }
        if !lom.is_chunked() && lom.size as u64 != id0.size {
            return Err(StoreError::MetaCorrupt(
                bucket.into(),
                obj.into(),
                format!("size {} in metadata, {} on disk", lom.size, id0.size),
            ));
        }
        let want = if lom.is_chunked() {
            1
        } else {
            props.mirror.want().min(MIRROR_COPIES_MAX) as usize
        };
        let targets: Vec<(Arc<Mountpath>, PathBuf)> = ranked_others(set, digest, &main_mp)
            .into_iter()
            .take(want - 1)
            .map(|m| {
                let p = fqn::object_fqn(&m.path, bucket, obj);
                (m, p)
            })
            .collect();
        // Keep what is already a good replica; copy the rest.
        let mut keep: Vec<PathBuf> = Vec::new();
        let mut made: Vec<Pending> = Vec::new();
        let mut first_err: Option<StoreError> = None;
        for (mp, dest) in &targets {
            let good = read_lom(dest).is_some_and(|l| {
                same_content(&l, &lom)
                    && FileId::at(dest).is_some_and(|f| f.size == lom.size as u64)
            });
            if good {
                keep.push(dest.clone());
                continue;
            }
            match self.copy_work(
                &src_file,
                mp,
                bucket,
                digest,
                dest,
                lom.size as u64,
                props.fsync,
            ) {
                Ok(p) => made.push(p),
                Err(e) => {
                    tracing::warn!(bucket, obj, "mirror copy to {}: {e}", dest.display());
                    first_err.get_or_insert(e);
                }
            }
        }
        let mut final_copies: Vec<String> = Vec::new();
        if !keep.is_empty() || !made.is_empty() {
            final_copies.push(main_s.clone());
            for (_, dest) in &targets {
                if keep.contains(dest) || made.iter().any(|p| &p.dest == dest) {
                    final_copies.push(path_str(dest)?);
                }
            }
        }
        // Replicas to remove: listed ones not kept (on this set), and unlisted files on the
        // other data-holding mountpaths that are replicas of this object (a crashed commit's).
        let mut extra: Vec<PathBuf> = Vec::new();
        for c in lom.copies.iter().filter(|c| **c != main_s) {
            if final_copies.contains(c) {
                continue;
            }
            if let Some(m) = mountpath_of_copy(set, bucket, obj, c) {
                let p = fqn::object_fqn(&m.path, bucket, obj);
                if !extra.contains(&p) {
                    extra.push(p);
                }
            }
        }
        for m in set.iter().filter(|m| m.holds_data() && m.id != main_mp.id) {
            let p = fqn::object_fqn(&m.path, bucket, obj);
            if extra.contains(&p) || final_copies.iter().any(|c| Path::new(c) == p) {
                continue;
            }
            if read_lom(&p).is_some_and(|l| is_replica(&p, &l) && l.lid == lom.lid) {
                extra.push(p);
            }
        }
        // A kept replica whose LOM lists another set of copies (its sibling moved or was on a
        // detached mountpath) is rewritten too: every replica carries the same list.
        let keep_stale = keep
            .iter()
            .any(|k| read_lom(k).is_none_or(|l| l.copies != final_copies));
        let changed =
            !made.is_empty() || !extra.is_empty() || final_copies != lom.copies || keep_stale;
        if !changed {
            return first_err.map_or(Ok(Fixed::Done), Err);
        }
        let drop_made = |made: &[Pending]| {
            for p in made {
                let _ = remove(&p.work);
            }
        };
        // The commit (the custom-metadata lock too: set-custom rewrites the main's LOM in
        // place, and neither change may be lost).
        let _g = self.obj_lock(digest);
        let _c = self.custom_locks.lock(digest);
        if FileId::at(&main) != Some(id0) {
            drop_made(&made);
            return Ok(Fixed::Done); // replaced or deleted meanwhile: that operation wins
        }
        // The LOM as it is now (custom metadata may have changed in place meanwhile).
        let now = {
            let mut buf = Vec::new();
            match sys::fgetxattr(&src, XATTR_LOM, &mut buf) {
                Ok(true) => Lom::decode(&buf).ok(),
                _ => None,
            }
        };
        let Some(mut now) = now.filter(|n| same_content(n, &lom)) else {
            drop_made(&made);
            return Ok(Fixed::Done);
        };
        // A fix that committed first may have removed or rewritten a replica planned as
        // kept here (all commits hold this lock, so what is checked now stays true).
        if keep
            .iter()
            .any(|k| !read_lom(k).is_some_and(|l| same_content(&l, &lom)))
        {
            drop_made(&made);
            return Ok(Fixed::Again);
        }
        now.copies = final_copies;
        let md = match now.encode() {
            Ok(md) => md,
            Err(e) => {
                drop_made(&made);
                return Err(StoreError::MetaCorrupt(
                    bucket.into(),
                    obj.into(),
                    e.to_string(),
                ));
            }
        };
        let mut placed: Vec<PathBuf> = Vec::new();
        for p in made {
            let r = sys::fsetxattr(&p.fd, XATTR_LOM, &md)
                .map_err(|e| StoreError::io("setxattr", &p.work, e))
                .and_then(|()| {
                    std::fs::rename(&p.work, &p.dest)
                        .map_err(|e| StoreError::io("rename", &p.dest, e))
                });
            match r {
                Ok(()) => placed.push(p.dest),
                Err(e) => {
                    let _ = remove(&p.work);
                    first_err.get_or_insert(e);
                }
            }
        }
        for k in &keep {
            if let Err(e) = set_lom_at(k, &md) {
                first_err.get_or_insert(e);
            }
        }
        // Written through the descriptor of the file the copies were made from: a PUT that
        // renamed a new object over the path since cannot receive this LOM.
        if let Err(e) = sys::fsetxattr(&src, XATTR_LOM, &md) {
            first_err.get_or_insert(StoreError::io("setxattr", &main, e));
        }
        // Cached handles hold the old LOM (its copies list): HEAD must see the new one.
        self.generations.bump(digest);
        match FileId::at(&main) {
            Some(now) if now == id0 => {}
            Some(_) => {
                // A PUT renamed a new version over the main between the check and the renames
                // (a PUT takes no object lock): what was just placed is of the old version
                // and must not stay.
                for p in placed.iter().chain(keep.iter()) {
                    let _ = remove(p);
                }
                return Ok(Fixed::Done);
            }
            None => {
                // The main is gone, yet not by a DELETE (that takes the object lock held
                // here): lost underneath us. The replicas are now the object's only good
                // data: they stay, GET serves them and the next fix restores the main.
                return first_err.map_or(Ok(Fixed::Done), Err);
            }
        }
        let (mut removed, mut removed_bytes) = (0u64, 0u64);
        for p in &extra {
            let size = FileId::at(p).map(|f| f.size).unwrap_or(0);
            match remove(p) {
                Ok(true) => {
                    removed += 1;
                    removed_bytes += size;
                }
                Ok(false) => {}
                Err(e) => {
                    first_err.get_or_insert(StoreError::io("unlink", p, e));
                }
            }
        }
        if let Some(x) = xact {
            let c = &x.counters;
            c.copies_added
                .fetch_add(placed.len() as u64, Ordering::Relaxed);
            c.removed.fetch_add(removed, Ordering::Relaxed);
            c.removed_bytes.fetch_add(removed_bytes, Ordering::Relaxed);
            // make-n-copies' primary metric is objects fixed; a resilver's stays main
            // replicas moved (it counts copies in `copies_added`/`removed` only).
            if x.kind == KIND_MAKE_N_COPIES && (!placed.is_empty() || removed > 0) {
                c.add_obj(lom.size as u64);
            }
        }
        first_err.map_or(Ok(Fixed::Done), Err)
    }

    /// Writes a copy's work file on `mp`: data from `src` (`copy_file_range` through
    /// `std::io::copy`), `size` bytes exactly; the LOM is set at the commit.
    #[allow(clippy::too_many_arguments)]
    fn copy_work(
        &self,
        src: &File,
        mp: &Mountpath,
        bucket: &str,
        digest: u64,
        dest: &Path,
        size: u64,
        fsync: bool,
    ) -> Result<Pending, StoreError> {
        let seq = self.work_seq.fetch_add(1, Ordering::Relaxed);
        let work = fqn::work_fqn(&mp.path, bucket, digest, &format!("mc{seq:x}"));
        let open = || {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&work)
        };
        let mut out = match open() {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let wdir = fqn::work_dir(&mp.path, bucket);
                std::fs::create_dir_all(&wdir).map_err(|e| StoreError::io("mkdir", &wdir, e))?;
                open().map_err(|e| StoreError::io("create", &work, e))?
            }
            Err(e) => return Err(StoreError::io("create", &work, e)),
        };
        // Renamed into place later, so the copy stays on the filesystem checked here.
        if let Err(e) = out.metadata().and_then(|m| mp.check_fs(&m, &work)) {
            let _ = remove(&work);
            return Err(StoreError::io("create", &work, e));
        }
        let written = (|| -> io::Result<u64> {
            let mut input = src;
            input.seek(SeekFrom::Start(0))?;
            let n = io::copy(&mut input, &mut out)?;
            if fsync {
                out.sync_all()?;
            }
            Ok(n)
        })();
        let fail = |e: StoreError| {
            let _ = remove(&work);
            e
        };
        match written {
            Ok(n) if n == size => {}
            Ok(n) => {
                return Err(fail(StoreError::io(
                    "copy",
                    &work,
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("copied {n} bytes of {size}"),
                    ),
                )))
            }
            Err(e) => return Err(fail(StoreError::io("copy", &work, e))),
        }
        if let Some(dir) = dest.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                return Err(fail(StoreError::io("mkdir", dir, e)));
            }
        }
        Ok(Pending {
            work,
            dest: dest.to_path_buf(),
            fd: Fd::from_owned(out.into()),
        })
    }

    /// Removes the replicas of a version that a PUT, a multipart completion or a DELETE just
    /// replaced or removed at `main` (before it is acknowledged): those `old`'s LOM lists and,
    /// when `sweep`, any file at the object's FQN on another data-holding mountpath whose LOM
    /// marks it as a replica (one a concurrent copy job placed after `old` was read). A few
    /// metadata operations; the caller may be a core thread.
    pub(super) fn drop_replicas(
        &self,
        bucket: &str,
        obj: &str,
        main: &Path,
        old: Option<&Lom>,
        sweep: bool,
    ) {
        let set = self.mountpaths();
        let main_s = main.to_str().unwrap_or_default();
        let mut done: Vec<PathBuf> = Vec::new();
        if let Some(old) = old {
            for c in old.copies.iter().filter(|c| c.as_str() != main_s) {
                if let Some(m) = mountpath_of_copy(&set, bucket, obj, c) {
                    let p = fqn::object_fqn(&m.path, bucket, obj);
                    if let Err(e) = remove(&p) {
                        tracing::warn!(bucket, obj, "removing replica {}: {e}", p.display());
                    }
                    done.push(p);
                }
            }
        }
        if !sweep {
            return;
        }
        for m in set.iter().filter(|m| m.holds_data()) {
            let p = fqn::object_fqn(&m.path, bucket, obj);
            if p == main || done.contains(&p) {
                continue;
            }
            if read_lom(&p).is_some_and(|l| is_replica(&p, &l)) {
                if let Err(e) = remove(&p) {
                    tracing::warn!(bucket, obj, "removing replica {}: {e}", p.display());
                }
            }
        }
    }

    /// Whether PUT and DELETE in `bucket` must look for replicas beyond the old LOM's list.
    pub(super) fn mirrored(&self, bucket: &str) -> bool {
        self.bmd
            .read()
            .expect("bmd lock")
            .buckets
            .get(bucket)
            .is_some_and(|p| p.mirror.want() > 1)
    }

    /// After a PUT of `bucket/obj` into a mirrored bucket: its copies are made on the blocking
    /// pool (AIS's put-copies), off the request. Call on a core thread.
    pub(super) fn spawn_put_copies(self: &Arc<Self>, bucket: &str, obj: &str) {
        let store = self.clone();
        let (b, o) = (bucket.to_string(), obj.to_string());
        crate::io::spawn(async move {
            crate::io::spawn_blocking(move || {
                let set = store.mountpaths();
                match store.fix_copies_blocking(&set, &b, &o, None) {
                    Ok(()) | Err(StoreError::ObjNotFound(..)) => {}
                    Err(e) => tracing::warn!(bucket = b, obj = o, "put-copies: {e}"),
                }
            })
            .await
        })
        .detach();
    }

    /// Sets `bucket`'s `mirror.copies` to `copies` (and `mirror.enabled` to `copies > 1`),
    /// persisted like any props change, and starts the `make-n-copies` job that gives every
    /// object of the bucket that many replicas (a running one on the bucket is aborted first).
    /// As AIS: 1 ≤ copies ≤ 32 and no more than the enabled mountpaths. Blocking (the props
    /// are written to every mountpath): call it off the core threads.
    pub fn start_make_n_copies(
        self: &Arc<Self>,
        bucket: &str,
        copies: u32,
    ) -> Result<Arc<Xact>, StoreError> {
        names::validate_bucket(bucket).map_err(|e| StoreError::BadBucketName(bucket.into(), e))?;
        self.bucket(bucket)?;
        if !(1..=MIRROR_COPIES_MAX).contains(&copies) {
            return Err(StoreError::BadCopies(format!(
                "{copies}, must be in [1, {MIRROR_COPIES_MAX}] range"
            )));
        }
        let avail = self.mountpaths().iter().filter(|m| m.is_enabled()).count();
        if copies as usize > avail {
            return Err(StoreError::BadCopies(format!(
                "number of copies ({copies}) exceeds the number of mountpaths ({avail})"
            )));
        }
        let patch = serde_json::json!({"mirror": {"enabled": copies > 1, "copies": copies}});
        self.set_bucket_props_blocking(bucket, &patch)?;
        Ok(self.run_make_n_copies(bucket))
    }

    /// Starts the make-n-copies job over `bucket` on a thread of its own (after aborting one
    /// that still runs on it) and returns it.
    pub(super) fn run_make_n_copies(self: &Arc<Self>, bucket: &str) -> Arc<Xact> {
        for x in self
            .xacts()
            .find(Some(KIND_MAKE_N_COPIES), Some(bucket), true)
        {
            x.abort("renewed: another make-n-copies started on the bucket");
        }
        let x = self.xacts().begin(KIND_MAKE_N_COPIES, Some(bucket));
        let (store, job, b) = (self.clone(), x.clone(), bucket.to_string());
        let spawned = std::thread::Builder::new()
            .name("aisle-mnc".into())
            .spawn(move || {
                let err = store
                    .make_n_copies_walk(&job, &b)
                    .err()
                    .map(|e| e.to_string());
                job.finish(err);
            });
        if let Err(e) = spawned {
            x.finish(Some(format!("starting the job's thread: {e}")));
        }
        x
    }

    /// The job's walk: every `%ob` file on every data-holding mountpath whose path is its
    /// object's HRW FQN (a main replica) gets `fix_copies_blocking`; stops between objects
    /// when aborted.
    fn make_n_copies_walk(&self, x: &Xact, bucket: &str) -> Result<(), StoreError> {
        let start = self.mountpaths();
        for mp in start.iter().filter(|m| m.holds_data()) {
            let root = fqn::obj_dir(&mp.path, bucket);
            let mut stack = vec![(root.clone(), String::new())];
            while let Some((dir, rel)) = stack.pop() {
                let rd = match std::fs::read_dir(&dir) {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        x.note_error(StoreError::io("readdir", &dir, e));
                        continue;
                    }
                };
                for ent in rd {
                    if x.is_aborted() {
                        return Ok(());
                    }
                    let Ok(ent) = ent else { continue };
                    let Some(fname) = ent.file_name().to_str().map(str::to_string) else {
                        continue;
                    };
                    let Ok(ft) = ent.file_type() else { continue };
                    let joined = if rel.is_empty() {
                        fname.clone()
                    } else {
                        format!("{rel}/{fname}")
                    };
                    if ft.is_dir() {
                        stack.push((ent.path(), joined));
                        continue;
                    }
                    if !ft.is_file() {
                        continue;
                    }
                    let path = ent.path();
                    let obj = if fname == fqn::DIR_MARKER && !rel.is_empty() {
                        format!("{rel}/")
                    } else if rel.is_empty() && names::is_shortened_name(&fname) {
                        match read_lom(&path)
                            .and_then(|l| l.custom_get(CUSTOM_ORIG_FNTL).map(str::to_string))
                        {
                            Some(o) => o,
                            None => continue,
                        }
                    } else {
                        joined
                    };
                    let set = self.mountpaths();
                    let Some(hrw_mp) = set.place(hrw::obj_digest(bucket, &obj)) else {
                        return Err(StoreError::NoMountpaths);
                    };
                    if fqn::object_fqn(&hrw_mp.path, bucket, &obj) != path {
                        continue; // a copy, or misplaced (the resilver's)
                    }
                    x.counters.visited.fetch_add(1, Ordering::Relaxed);
                    match self.fix_copies_blocking(&set, bucket, &obj, Some(x)) {
                        Ok(()) | Err(StoreError::ObjNotFound(..)) => {}
                        Err(StoreError::BucketNotFound(b)) => {
                            return Err(StoreError::BucketNotFound(b))
                        }
                        Err(e) => x.note_error(e),
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether the listing should skip the file `path` (listed as `name`) on `mp`: it is a mirror
/// copy (its LOM lists its own FQN) and its object's main replica, on the HRW mountpath, is
/// there to be listed. A file on its name's HRW mountpath costs one hash, others a getxattr.
pub(super) fn is_listed_as_main(
    set: &MountpathSet,
    bucket: &str,
    mp: &Mountpath,
    path: &Path,
    name: &str,
) -> bool {
    let on_hrw = |obj: &str| set.place(hrw::obj_digest(bucket, obj)).cloned();
    if !names::is_shortened_name(name) && on_hrw(name).is_some_and(|m| m.id == mp.id) {
        return false;
    }
    let Some(lom) = read_lom(path).filter(|l| is_replica(path, l)) else {
        return false;
    };
    let obj = if names::is_shortened_name(name) {
        match lom.custom_get(CUSTOM_ORIG_FNTL) {
            Some(o) => o.to_string(),
            None => return false,
        }
    } else {
        name.to_string()
    };
    match on_hrw(&obj) {
        Some(m) if m.id != mp.id => FileId::at(&fqn::object_fqn(&m.path, bucket, &obj)).is_some(),
        _ => false,
    }
}

/// Sets the LOM xattr of the file at `path`.
fn set_lom_at(path: &Path, md: &[u8]) -> Result<(), StoreError> {
    let f = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    let fd = Fd::from_owned(f.into());
    sys::fsetxattr(&fd, XATTR_LOM, md).map_err(|e| StoreError::io("setxattr", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountpath::MountpathSet;

    /// Goal: the copy targets are the enabled mountpaths ranked by HRW weight, the main's
    /// excluded, deterministic, and the main itself is the top of the same ranking.
    #[test]
    fn ranking_follows_hrw() {
        let paths: Vec<PathBuf> = (0..5).map(|i| PathBuf::from(format!("/mp{i}"))).collect();
        let set = MountpathSet::new(&paths);
        for n in 0..200u64 {
            let digest = hrw::obj_digest("b", &format!("o{n}"));
            let main = set.place(digest).expect("placed").clone();
            let r = ranked_others(&set, digest, &main);
            assert_eq!(r.len(), 4);
            assert!(r.iter().all(|m| m.id != main.id));
            let w: Vec<u64> = r.iter().map(|m| hrw::weight(digest, m.digest)).collect();
            assert!(w.windows(2).all(|p| p[0] >= p[1]), "{w:?}");
            assert!(w[0] <= hrw::weight(digest, main.digest));
            let again: Vec<_> = ranked_others(&set, digest, &main)
                .iter()
                .map(|m| m.id)
                .collect();
            assert_eq!(again, r.iter().map(|m| m.id).collect::<Vec<_>>());
        }
    }

    /// A store over `n` fresh mountpaths holding bucket `b`, and the root to remove.
    fn store_with_bucket(n: usize, tag: &str) -> (Arc<Store>, Vec<PathBuf>, PathBuf) {
        let root = std::env::temp_dir().join(format!("aisle-mirror-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mps: Vec<PathBuf> = (0..n).map(|i| root.join(format!("mp{i}"))).collect();
        let bmd = crate::bmd::Bmd::default()
            .create("b", None, 1)
            .expect("create");
        for m in &mps {
            std::fs::create_dir_all(fqn::obj_dir(m, "b")).expect("mkdir");
            bmd.store(m).expect("bmd");
        }
        (Arc::new(Store::open(&mps).expect("open")), mps, root)
    }

    /// Writes object `o` by hand as a PUT would leave it: `%ob` on its HRW mountpath with its
    /// LOM (listing `copies`).
    fn put_by_hand(store: &Store, o: &str, data: &[u8], copies: Vec<String>) -> PathBuf {
        let (_, mp) = store.place("b", o).expect("place");
        let p = fqn::object_fqn(&mp.path, "b", o);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data).expect("write");
        let lom = Lom {
            cksum_type: "xxhash2".into(),
            cksum_value: format!("{:016x}", data.len()),
            version: Some("1".into()),
            size: data.len() as i64,
            copies,
            custom: vec![],
            lid: store.bucket("b").expect("b").bid,
            flags: 0,
        };
        set_lom_at(&p, &lom.encode().expect("encode")).expect("setxattr");
        p
    }

    /// The replicas of `o` on `mps` and their LOMs.
    fn replicas_of(mps: &[PathBuf], o: &str) -> Vec<(PathBuf, Lom)> {
        mps.iter()
            .map(|m| fqn::object_fqn(m, "b", o))
            .filter(|p| p.is_file())
            .map(|p| {
                let l = read_lom(&p).expect("replica LOM");
                (p, l)
            })
            .collect()
    }

    /// Goal: make-n-copies 3 over 4 mountpaths gives every object 3 replicas on its 3 best
    /// HRW mountpaths with identical data and LOMs listing all three, the counters add up
    /// (visited, objs, copies added), a stale LOM entry for a path outside the set is dropped
    /// and never touched; make-n-copies 1 removes every extra replica and counts them.
    #[test]
    fn make_n_copies_job_and_counters() {
        let (store, mps, root) = store_with_bucket(4, "mnc");
        let n = 12;
        let outside = root.join("elsewhere").join("o0");
        std::fs::create_dir_all(outside.parent().expect("parent")).expect("mkdir");
        std::fs::write(&outside, b"not ours").expect("write");
        for i in 0..n {
            let o = format!("d{}/o{i}", i % 3);
            let main = fqn::object_fqn(&store.place("b", &o).expect("p").1.path, "b", &o);
            let copies = if i == 0 {
                vec![
                    main.to_str().expect("utf8").to_string(),
                    outside.to_str().expect("utf8").to_string(),
                ]
            } else {
                vec![]
            };
            put_by_hand(&store, &o, &vec![i as u8; 1000 + i], copies);
        }
        assert!(matches!(
            store.start_make_n_copies("b", 5),
            Err(StoreError::BadCopies(_))
        ));
        assert!(matches!(
            store.start_make_n_copies("b", 0),
            Err(StoreError::BadCopies(_))
        ));
        assert!(matches!(
            store.start_make_n_copies("nosuch", 2),
            Err(StoreError::BucketNotFound(_))
        ));
        let x = store.start_make_n_copies("b", 3).expect("start");
        assert!(
            x.wait(Some(std::time::Duration::from_secs(120))),
            "job ended"
        );
        assert_eq!(x.state(), crate::xact::XactState::Finished, "{:?}", x.err());
        let c = x.counters.snap();
        assert_eq!(
            (c.visited, c.objs, c.copies_added, c.errors),
            (n as u64, n as u64, 2 * n as u64, 0)
        );
        assert_eq!(store.bucket("b").expect("b").mirror.want(), 3);
        let set = store.mountpaths();
        for i in 0..n {
            let o = format!("d{}/o{i}", i % 3);
            let reps = replicas_of(&mps, &o);
            assert_eq!(reps.len(), 3, "{o}");
            let digest = hrw::obj_digest("b", &o);
            let main_mp = set.place(digest).expect("placed");
            let mut want: Vec<String> = std::iter::once(main_mp.clone())
                .chain(ranked_others(&set, digest, main_mp).into_iter().take(2))
                .map(|m| {
                    fqn::object_fqn(&m.path, "b", &o)
                        .to_str()
                        .expect("utf8")
                        .to_string()
                })
                .collect();
            want.sort();
            for (p, l) in &reps {
                let mut got = l.copies.clone();
                got.sort();
                assert_eq!(got, want, "{}", p.display());
                assert_eq!(std::fs::read(p).expect("read"), vec![i as u8; 1000 + i]);
                assert!(same_content(l, &reps[0].1));
            }
        }
        assert_eq!(std::fs::read(&outside).expect("untouched"), b"not ours");

        let x = store.start_make_n_copies("b", 1).expect("start");
        assert!(
            x.wait(Some(std::time::Duration::from_secs(120))),
            "job ended"
        );
        let c = x.counters.snap();
        assert_eq!(
            (c.visited, c.removed, c.copies_added, c.errors),
            (n as u64, 2 * n as u64, 0, 0)
        );
        for i in 0..n {
            let o = format!("d{}/o{i}", i % 3);
            let reps = replicas_of(&mps, &o);
            assert_eq!(reps.len(), 1, "{o}");
            assert!(reps[0].1.copies.is_empty());
        }
        // No work file left anywhere.
        for m in &mps {
            let wk = fqn::work_dir(m, "b");
            let left = std::fs::read_dir(&wk).map(|d| d.count()).unwrap_or(0);
            assert_eq!(left, 0, "{}", wk.display());
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    /// Goal: a copy is acted on only when it is the object's FQN on a mountpath of the set.
    #[test]
    fn copy_paths_are_checked() {
        let paths: Vec<PathBuf> = (0..3).map(|i| PathBuf::from(format!("/mp{i}"))).collect();
        let set = MountpathSet::new(&paths);
        let good = fqn::object_fqn(Path::new("/mp2"), "b", "a/o");
        let m = mountpath_of_copy(&set, "b", "a/o", good.to_str().expect("utf8"));
        assert_eq!(m.map(|m| m.id.index()), Some(2));
        for bad in [
            "/etc/passwd",
            "/mp9/@ais/b/%ob/a/o",
            "/mp1/@ais/b/%ob/a/other",
            "/mp1/@ais/c/%ob/a/o",
            "",
        ] {
            assert!(mountpath_of_copy(&set, "b", "a/o", bad).is_none(), "{bad}");
        }
    }

    /// Goal: replicas are recognised by their own FQN in `copies`, and content identity ignores
    /// the copies list and custom metadata but not checksum, size, version or bucket.
    #[test]
    fn replica_and_content_rules() {
        let base = Lom {
            cksum_type: "xxhash2".into(),
            cksum_value: "abc".into(),
            version: Some("1".into()),
            size: 3,
            copies: vec!["/mp0/x".into(), "/mp1/x".into()],
            custom: vec![],
            lid: crate::lom::make_bid(1),
            flags: 0,
        };
        assert!(is_replica(Path::new("/mp1/x"), &base));
        assert!(!is_replica(Path::new("/mp2/x"), &base));
        let mut other = base.clone();
        other.copies.clear();
        other.custom.push(("k".into(), "v".into()));
        assert!(same_content(&base, &other));
        for change in 0..4 {
            let mut o = base.clone();
            match change {
                0 => o.cksum_value = "abd".into(),
                1 => o.size = 4,
                2 => o.version = Some("2".into()),
                _ => o.lid = crate::lom::make_bid(2),
            }
            assert!(!same_content(&base, &o), "change {change}");
        }
    }
}
