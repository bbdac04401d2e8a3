//! Space cleanup, the `cleanup-store` job (AIS `space/cleanup.go`, shared/AISTORE.md §5.2):
//! removes what nothing can reach any more — old work files, orphan chunks, manifests of
//! uploads no longer open and of objects gone, leftovers of destroyed buckets and of earlier
//! bucket incarnations, objects with a missing or corrupt LOM, misplaced duplicates whose
//! proper copy is verified at the HRW place, zero-size objects (asked for) and files with
//! names aisle never makes (unless kept) — or, on a dry run, only lists them.
//!
//! How it runs: one thread reads every manifest (a chunk on one mountpath is referenced by a
//! manifest on another, so this pass must see them all first), then one walker thread per
//! data-holding mountpath (enabled or detaching) walks that mountpath's buckets, so the
//! disks are walked in parallel and a slow disk delays only its own walk.
//!
//! Safety rules:
//! - Only files modified at least `Store::dont_cleanup_time` ago are candidates: a work file
//!   of a PUT in progress, a part being written, a fresh completion are young and kept.
//! - The parts and checkpoint of every upload in the uploads table, and the work files of
//!   open append sessions, are never candidates, whatever their age.
//! - Misplaced objects go only when the copy at their HRW place has a valid LOM of the same
//!   bucket incarnation, size and (non-empty) checksum and does not list them as its mirror
//!   copy; never a chunked one (resilver moves those as a unit); never while a resilver runs
//!   or left its marker (`resilver::marker_path`) on any mountpath (unless `force`, AIS's
//!   `--force`); never with `keep_misplaced`.
//!   A file on a non-HRW mountpath whose own LOM lists its FQN in `copies` is a mirror copy
//!   and is kept.
//! - A removal first renames the file into the bucket's `%wk` and checks that the inode
//!   moved is the one that was judged; if a PUT replaced the file in between, the newer file
//!   is linked back (never over an even newer one) and nothing is removed: an acknowledged
//!   PUT is never lost. Object removals hold the object's short lock (busy: skipped, counted).
//! - A destroyed bucket's directory is moved to the trash under the bucket-metadata lock,
//!   after checking again that the bucket does not exist, then deleted.
//! - Symlinks are never followed (a symlink is itself an unknown file), directories of
//!   another filesystem are not entered, nothing outside `<mountpath>/@ais/` is touched (so
//!   the mountpath's `.ais.*`/`.aisle.*` node files, markers and trash are left alone).

use std::collections::{HashMap, HashSet};
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::mpu::CUSTOM_UFEST_ID;
use super::{trash, Store, StoreError, CUSTOM_ORIG_FNTL};
use crate::bmd::Bmd;
use crate::io::sys;
use crate::lom::{Lom, XATTR_LOM};
use crate::mountpath::{Mountpath, MountpathSet};
use crate::ufest::{self, Manifest};
use crate::xact::Xact;
use crate::{fqn, hrw, names};

/// The job's kind (AIS `apc.ActStoreCleanup`).
pub const CLEANUP_KIND: &str = "cleanup-store";
/// Default of `dont_cleanup_time` (AIS `space.dont_cleanup_time`).
pub const DONT_CLEANUP_TIME_DEFAULT: Duration = Duration::from_secs(30 * 60);
/// `xact.ArgsMsg.flags` bit: remove zero-size objects (AIS `xact.FlagZeroSize`).
pub const FLAG_ZERO_SIZE: u32 = 1;
/// `xact.ArgsMsg.flags` bit: keep misplaced objects (AIS `xact.FlagKeepMisplaced`).
pub const FLAG_KEEP_MISPLACED: u32 = 1 << 3;
/// `xact.ArgsMsg.flags` bit, aisle's extension (a bit AIS does not use): list only, remove
/// nothing.
pub const FLAG_DRY_RUN: u32 = 1 << 16;
/// `xact.ArgsMsg.flags` bit, aisle's extension: keep files with unrecognised names (AIS has
/// this as the cluster feature `Keep-Unknown-FQN`).
pub const FLAG_KEEP_UNKNOWN: u32 = 1 << 17;
/// The marker an interrupted resilver leaves, relative to a mountpath.
/// The resilver job's kind.
const RESILVER_KIND: &str = "resilver";

/// What a cleanup does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupOpts {
    /// Only this bucket (it must exist); `None`: every bucket and destroyed buckets' leftovers.
    pub bucket: Option<String>,
    /// Walk and list, remove nothing.
    pub dry_run: bool,
    /// Keep misplaced objects even when their proper copy is verified.
    pub keep_misplaced: bool,
    /// Remove zero-size objects.
    pub rm_zero_size: bool,
    /// Keep files with names aisle never makes.
    pub keep_unknown: bool,
    /// Remove verified misplaced objects even while a resilver runs or was interrupted
    /// (AIS's `Force`, `ais space-cleanup --force`); `keep_misplaced` still wins.
    pub force: bool,
}

impl CleanupOpts {
    /// The options of a start request: its bucket, its `flags` (the `FLAG_*` bits) and
    /// `Force`.
    pub fn from_flags(bucket: Option<String>, flags: u32, force: bool) -> CleanupOpts {
        CleanupOpts {
            bucket,
            force,
            dry_run: flags & FLAG_DRY_RUN != 0,
            keep_misplaced: flags & FLAG_KEEP_MISPLACED != 0,
            rm_zero_size: flags & FLAG_ZERO_SIZE != 0,
            keep_unknown: flags & FLAG_KEEP_UNKNOWN != 0,
        }
    }
}

/// Why a file goes: the first word of the job's item `"<reason> <path>"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    OldWork,
    OrphanChunk,
    PartialManifest,
    OrphanManifest,
    CorruptManifest,
    DestroyedBucket,
    OldIncarnation,
    NoLom,
    CorruptLom,
    Misplaced,
    ZeroSize,
    Unknown,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::OldWork => "old-work",
            Reason::OrphanChunk => "orphan-chunk",
            Reason::PartialManifest => "partial-manifest",
            Reason::OrphanManifest => "orphan-manifest",
            Reason::CorruptManifest => "corrupt-manifest",
            Reason::DestroyedBucket => "destroyed-bucket",
            Reason::OldIncarnation => "old-incarnation",
            Reason::NoLom => "no-lom",
            Reason::CorruptLom => "corrupt-lom",
            Reason::Misplaced => "misplaced",
            Reason::ZeroSize => "zero-size",
            Reason::Unknown => "unknown",
        }
    }
}

/// A manifest the first pass condemned, removed by its mountpath's walker.
struct Doomed {
    bucket: String,
    path: PathBuf,
    reason: Reason,
    md: Metadata,
}

/// What the walkers share.
struct Run<'a> {
    store: &'a Store,
    x: &'a Xact,
    opts: CleanupOpts,
    bmd: Arc<Bmd>,
    set: Arc<MountpathSet>,
    dont: Duration,
    /// Ids of the uploads in the table when the job started.
    open_ids: HashSet<String>,
    /// Files kept whatever their age: referenced by a live or young manifest, held by an
    /// upload in the table or by an append session.
    held: HashSet<PathBuf>,
    /// Why misplaced objects are kept this run (a resilver running or interrupted).
    misplaced_blocked: Option<String>,
}

/// A LOM as read for cleanup.
enum LomRead {
    Ok(Lom),
    Missing,
    Corrupt,
}

impl Store {
    /// Starts a `cleanup-store` job with `opts` (`opts.bucket`, if given, must exist) on its
    /// own threads; returns the job at once. See the module comment for what it removes.
    pub fn start_cleanup(self: &Arc<Self>, opts: CleanupOpts) -> Result<Arc<Xact>, StoreError> {
        if let Some(b) = &opts.bucket {
            names::validate_bucket(b).map_err(|e| StoreError::BadBucketName(b.clone(), e))?;
            self.bucket(b)?;
        }
        let x = self.xacts().begin(CLEANUP_KIND, opts.bucket.as_deref());
        let store = self.clone();
        let xr = x.clone();
        let spawned = std::thread::Builder::new()
            .name("cleanup-store".into())
            .spawn(move || {
                store.run_cleanup(&xr, opts);
                xr.finish(None);
            });
        if let Err(e) = spawned {
            x.finish(Some(format!("cannot start the cleanup thread: {e}")));
            return Err(StoreError::io("spawn", Path::new(CLEANUP_KIND), e));
        }
        Ok(x)
    }

    fn run_cleanup(&self, x: &Xact, opts: CleanupOpts) {
        let bmd = self.bmd();
        let set = self.mountpaths();
        let buckets: Vec<String> = match &opts.bucket {
            Some(b) => vec![b.clone()],
            None => bmd.buckets.keys().cloned().collect(),
        };
        // The uploads table before the manifests: an upload completing in between is in one
        // or the other.
        let (open_ids, mut held) = self.uploads.held();
        held.extend(self.appends.work_files());
        let misplaced_blocked = if opts.force {
            None
        } else {
            self.resilver_pending(&set)
        };
        if let Some(why) = &misplaced_blocked {
            tracing::info!("space cleanup keeps misplaced objects: {why}");
        }
        let mps: Vec<Arc<Mountpath>> = set.iter().filter(|m| m.holds_data()).cloned().collect();
        let mut run = Run {
            store: self,
            x,
            opts,
            bmd,
            set: set.clone(),
            dont: self.dont_cleanup_time(),
            open_ids,
            held: HashSet::new(),
            misplaced_blocked,
        };
        let mut doomed: HashMap<usize, Vec<Doomed>> = HashMap::new();
        for mp in &mps {
            for b in &buckets {
                if x.is_aborted() {
                    return;
                }
                let list = doomed.entry(mp.id.index()).or_default();
                run.scan_manifests(mp, b, &mut held, list);
            }
        }
        run.held = held;
        let run = &run;
        std::thread::scope(|s| {
            for mp in &mps {
                let mine = doomed.remove(&mp.id.index()).unwrap_or_default();
                let spawned = std::thread::Builder::new()
                    .name(format!("cleanup-mp{}", mp.id.index()))
                    .spawn_scoped(s, move || run.walk_mountpath(mp, mine));
                if let Err(e) = spawned {
                    x.note_error(format!("{}: cannot start a walker: {e}", mp.path.display()));
                }
            }
        });
    }

    /// Why misplaced objects must stay: a resilver running, or one's marker on a mountpath.
    fn resilver_pending(&self, set: &MountpathSet) -> Option<String> {
        if !self
            .xacts()
            .find(Some(RESILVER_KIND), None, true)
            .is_empty()
        {
            return Some("a resilver is running".into());
        }
        set.iter()
            .map(|mp| super::resilver::marker_path(&mp.path))
            .find(|m| std::fs::symlink_metadata(m).is_ok())
            .map(|m| format!("an interrupted resilver left {}", m.display()))
    }
}

impl Run<'_> {
    fn young(&self, md: &Metadata) -> bool {
        match md.modified() {
            Ok(t) => match SystemTime::now().duration_since(t) {
                Ok(age) => age < self.dont,
                Err(_) => true, // modified "in the future": not ours to judge
            },
            Err(_) => true,
        }
    }

    fn visited(&self) {
        self.x.counters.visited.fetch_add(1, Ordering::Relaxed);
    }

    fn bid(&self, bucket: &str) -> Option<u64> {
        self.bmd.buckets.get(bucket).map(|p| p.bid)
    }

    /// First pass over `%ut` of `bucket` on `mp`: the chunks of live and young manifests go
    /// into `held`; manifests of uploads no longer open and of objects gone into `doomed`.
    fn scan_manifests(
        &self,
        mp: &Mountpath,
        bucket: &str,
        held: &mut HashSet<PathBuf>,
        doomed: &mut Vec<Doomed>,
    ) {
        let Some(bid) = self.bid(bucket) else {
            return;
        };
        let udir = fqn::ufest_dir(&mp.path, bucket);
        let dev = root_dev(mp);
        walk(&udir, dev, self.x, &mut |path, md| {
            if self.x.is_aborted() {
                return false;
            }
            self.visited();
            let young = self.young(md);
            let mut doom = |reason| {
                doomed.push(Doomed {
                    bucket: bucket.to_string(),
                    path: path.to_path_buf(),
                    reason,
                    md: md.clone(),
                })
            };
            if !md.is_file() {
                if !young && !self.opts.keep_unknown {
                    doom(Reason::Unknown);
                }
                return true;
            }
            let m = std::fs::read(path)
                .ok()
                .and_then(|b| Manifest::decode(&b).ok());
            match m {
                None if young => {}
                None => doom(Reason::CorruptManifest),
                Some(m) => {
                    let live = self.open_ids.contains(&m.id) || ob_is_of(mp, bucket, bid, &m);
                    if live || young {
                        held.extend(m.chunks.iter().map(|c| PathBuf::from(&c.path)));
                    } else if m.is_completed() {
                        doom(Reason::OrphanManifest);
                    } else {
                        doom(Reason::PartialManifest);
                    }
                }
            }
            true
        });
    }

    fn walk_mountpath(&self, mp: &Mountpath, doomed: Vec<Doomed>) {
        for d in doomed {
            if self.x.is_aborted() {
                return;
            }
            self.remove(mp, Some(&d.bucket), &d.path, d.reason, &d.md, None);
        }
        let pdir = mp.path.join(fqn::PROVIDER_DIR);
        let rd = match std::fs::read_dir(&pdir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(e) => {
                self.x.note_error(format!("{}: {e}", pdir.display()));
                return;
            }
        };
        let dev = root_dev(mp);
        for ent in rd {
            if self.x.is_aborted() {
                return;
            }
            let ent = match ent {
                Ok(e) => e,
                Err(e) => {
                    self.x.note_error(format!("{}: {e}", pdir.display()));
                    return;
                }
            };
            let path = ent.path();
            let Ok(md) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let name = ent.file_name().to_string_lossy().into_owned();
            let known = self.bmd.buckets.contains_key(&name);
            match &self.opts.bucket {
                Some(b) if *b == name => self.walk_bucket(mp, &name, dev),
                Some(_) => {}
                None if md.is_dir() && md.dev() == dev && known => self.walk_bucket(mp, &name, dev),
                None if md.is_dir() && md.dev() == dev => self.destroyed_bucket(mp, &name, &path),
                None if md.is_dir() => {} // another filesystem mounted here: not ours
                None => {
                    self.visited();
                    if !self.young(&md) && !self.opts.keep_unknown {
                        self.remove(mp, None, &path, Reason::Unknown, &md, None);
                    }
                }
            }
        }
    }

    fn walk_bucket(&self, mp: &Mountpath, bucket: &str, dev: u64) {
        let bdir = fqn::bucket_dir(&mp.path, bucket);
        let Ok(rd) = std::fs::read_dir(&bdir) else {
            return;
        };
        for ent in rd.flatten() {
            if self.x.is_aborted() {
                return;
            }
            let path = ent.path();
            let name = ent.file_name();
            match name.to_str() {
                Some(fqn::OBJ_DIR) => self.walk_objects(mp, bucket, &path, dev),
                Some(fqn::WORK_DIR) => self.walk_work(mp, bucket, &path, dev),
                Some(fqn::CHUNK_DIR) => self.walk_chunks(mp, bucket, &path, dev),
                Some(fqn::UFEST_DIR) => {} // the first pass judged the manifests
                _ => {
                    walk_or_leaf(&path, dev, self.x, &mut |p, md| {
                        if self.x.is_aborted() {
                            return false;
                        }
                        self.visited();
                        if !self.young(md) && !self.opts.keep_unknown {
                            self.remove(mp, Some(bucket), p, Reason::Unknown, md, None);
                        }
                        true
                    });
                }
            }
        }
    }

    fn walk_work(&self, mp: &Mountpath, bucket: &str, wdir: &Path, dev: u64) {
        walk(wdir, dev, self.x, &mut |p, md| {
            if self.x.is_aborted() {
                return false;
            }
            self.visited();
            if !self.young(md) && !self.held.contains(p) {
                self.remove(mp, Some(bucket), p, Reason::OldWork, md, None);
            }
            true
        });
    }

    fn walk_chunks(&self, mp: &Mountpath, bucket: &str, cdir: &Path, dev: u64) {
        // Uploads opened since the job started hold their parts too.
        let (mut ids, files) = self.store.uploads.held();
        ids.extend(self.open_ids.iter().cloned());
        walk(cdir, dev, self.x, &mut |p, md| {
            if self.x.is_aborted() {
                return false;
            }
            self.visited();
            if self.young(md) || self.held.contains(p) || files.contains(p) {
                return true;
            }
            if !md.is_file() {
                if !self.opts.keep_unknown {
                    self.remove(mp, Some(bucket), p, Reason::Unknown, md, None);
                }
                return true;
            }
            let base = fqn::file_name_bytes(p);
            let reason = match std::str::from_utf8(base).ok().map(chunk_upload_id) {
                // A shortened name does not show its upload: only the manifests can hold it.
                Some(ChunkName::Shortened) => Reason::OrphanChunk,
                Some(ChunkName::Of(id)) if ids.contains(id) => return true,
                Some(ChunkName::Of(_)) => Reason::OrphanChunk,
                Some(ChunkName::Bad) | None => {
                    if self.opts.keep_unknown {
                        return true;
                    }
                    Reason::Unknown
                }
            };
            self.remove(mp, Some(bucket), p, reason, md, None);
            true
        });
    }

    fn walk_objects(&self, mp: &Mountpath, bucket: &str, odir: &Path, dev: u64) {
        let Some(bid) = self.bid(bucket) else {
            return;
        };
        walk(odir, dev, self.x, &mut |p, md| {
            if self.x.is_aborted() {
                return false;
            }
            self.visited();
            if !self.young(md) {
                self.judge_object(mp, bucket, bid, odir, p, md);
            }
            true
        });
    }

    fn judge_object(
        &self,
        mp: &Mountpath,
        bucket: &str,
        bid: u64,
        odir: &Path,
        p: &Path,
        md: &Metadata,
    ) {
        let unknown = || {
            if !self.opts.keep_unknown {
                self.remove(mp, Some(bucket), p, Reason::Unknown, md, None);
            }
        };
        if !md.is_file() {
            return unknown();
        }
        let lom = match read_lom(p) {
            Ok(l) => l,
            Err(e) => {
                self.x
                    .note_error(format!("{}: reading its LOM: {e}", p.display()));
                return;
            }
        };
        let lom = match lom {
            LomRead::Ok(l) => l,
            LomRead::Missing | LomRead::Corrupt => {
                let reason = if matches!(lom, LomRead::Missing) {
                    Reason::NoLom
                } else {
                    Reason::CorruptLom
                };
                let digest = object_name(&mp.path, bucket, odir, p, None)
                    .map(|n| hrw::obj_digest(bucket, &n));
                return self.remove(mp, Some(bucket), p, reason, md, digest);
            }
        };
        let Some(name) = object_name(&mp.path, bucket, odir, p, Some(&lom)) else {
            return unknown();
        };
        let digest = hrw::obj_digest(bucket, &name);
        if lom.bid() != bid {
            return self.remove(
                mp,
                Some(bucket),
                p,
                Reason::OldIncarnation,
                md,
                Some(digest),
            );
        }
        let zero = self.opts.rm_zero_size && lom.size == 0 && md.len() == 0 && !lom.is_chunked();
        let at_hrw = self.set.place(digest).is_none_or(|h| h.id == mp.id);
        if at_hrw {
            if zero {
                self.remove(mp, Some(bucket), p, Reason::ZeroSize, md, Some(digest));
            }
            return;
        }
        let here = p.to_string_lossy();
        if lom.copies.iter().any(|c| *c == here) {
            return; // a mirror copy
        }
        if zero {
            // As AIS: a zero-size object goes wherever it is.
            return self.remove(mp, Some(bucket), p, Reason::ZeroSize, md, Some(digest));
        }
        if self.opts.keep_misplaced || self.misplaced_blocked.is_some() || lom.is_chunked() {
            return;
        }
        if !self.proper_copy_verified(bucket, bid, &name, digest, &lom, &here) {
            return;
        }
        // A resilver started meanwhile may be moving this very object: leave it to it.
        if !self.opts.force
            && !self
                .store
                .xacts()
                .find(Some(RESILVER_KIND), None, true)
                .is_empty()
        {
            return;
        }
        self.remove(mp, Some(bucket), p, Reason::Misplaced, md, Some(digest));
    }

    /// Whether the object's HRW place holds a good copy equal to `lom` that does not count
    /// the file at `here` among its mirror copies.
    fn proper_copy_verified(
        &self,
        bucket: &str,
        bid: u64,
        name: &str,
        digest: u64,
        lom: &Lom,
        here: &str,
    ) -> bool {
        let Some(hrw_mp) = self.set.place(digest) else {
            return false;
        };
        let proper = fqn::object_fqn(&hrw_mp.path, bucket, name);
        let Ok(pmd) = std::fs::symlink_metadata(&proper) else {
            return false;
        };
        let Ok(LomRead::Ok(pl)) = read_lom(&proper) else {
            return false;
        };
        pmd.is_file()
            && pl.bid() == bid
            && !pl.is_chunked()
            && pl.size == lom.size
            && pmd.len() == pl.size as u64
            && !lom.cksum_value.is_empty()
            && lom.cksum_type != "none"
            && pl.cksum_type == lom.cksum_type
            && pl.cksum_value == lom.cksum_value
            && !pl.copies.iter().any(|c| c == here)
    }

    /// The leftovers of a bucket the metadata does not know: removed whole when no file in
    /// them is young.
    fn destroyed_bucket(&self, mp: &Mountpath, name: &str, bdir: &Path) {
        let mut files = 0u64;
        let mut bytes = 0u64;
        let mut young = false;
        walk(bdir, root_dev(mp), self.x, &mut |_, md| {
            self.visited();
            files += 1;
            bytes += md.len();
            young |= self.young(md);
            !self.x.is_aborted()
        });
        if young || self.x.is_aborted() {
            return;
        }
        let item = format!("{} {}", Reason::DestroyedBucket.as_str(), bdir.display());
        if !self.opts.dry_run {
            let moved = {
                let _txn = self.store.bmd_txn.lock().expect("bmd txn lock");
                if self.store.bmd().buckets.contains_key(name) {
                    return; // created again meanwhile: its directory is live
                }
                trash::move_aside(&mp.path, bdir)
            };
            match moved {
                Ok(dst) => {
                    if let Err(e) = std::fs::remove_dir_all(&dst) {
                        self.x.note_error(format!("{item}: {}: {e}", dst.display()));
                    }
                }
                Err(e) => {
                    self.x.note_error(format!("{item}: {e}"));
                    return;
                }
            }
        }
        self.counted(item, files, bytes);
    }

    fn counted(&self, item: String, files: u64, bytes: u64) {
        self.x.note_item(item);
        let c = &self.x.counters;
        c.removed.fetch_add(files, Ordering::Relaxed);
        c.removed_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Removes (or, on a dry run, lists) the file at `p` judged by `md`. An object's removal
    /// (`digest`) holds its short lock and is skipped when busy.
    fn remove(
        &self,
        mp: &Mountpath,
        bucket: Option<&str>,
        p: &Path,
        reason: Reason,
        md: &Metadata,
        digest: Option<u64>,
    ) {
        let item = format!("{} {}", reason.as_str(), p.display());
        if self.opts.dry_run {
            return self.counted(item, 1, md.len());
        }
        let _lock = match digest {
            Some(d) => match self.store.try_obj_lock(d) {
                Some(g) => Some(g),
                None => {
                    self.x.counters.skipped_busy.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            None => None,
        };
        match remove_verified(&mp.path, bucket, p, md) {
            Ok(true) => {
                if let Some(d) = digest {
                    self.store.generations.bump(d);
                }
                self.counted(item, 1, md.len());
            }
            Ok(false) => {} // changed or gone meanwhile: not ours to remove
            Err(e) => self.x.note_error(format!("{item}: {e}")),
        }
    }
}

/// Whether `a` and `b` describe the same unchanged file.
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino() && a.mtime() == b.mtime() && a.len() == b.len()
}

/// Removes the file at `p` if it is still the one `md` describes. In a bucket, it is first
/// renamed into the bucket's `%wk` and checked there, so a file a PUT renamed over `p` in the
/// meantime is never the one removed (it is linked back unless something newer took its
/// place). Returns whether it removed the file.
fn remove_verified(mp: &Path, bucket: Option<&str>, p: &Path, md: &Metadata) -> io::Result<bool> {
    let Some(bucket) = bucket else {
        // Outside any bucket nothing is replaced by rename: check, then unlink.
        return match std::fs::symlink_metadata(p) {
            Ok(now) if same_file(&now, md) => match std::fs::remove_file(p) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            },
            Ok(_) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        };
    };
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let aside = fqn::work_fqn(
        mp,
        bucket,
        hrw::digest(p.as_os_str().as_encoded_bytes()),
        &format!("cln{:x}", SEQ.fetch_add(1, Ordering::Relaxed)),
    );
    if let Err(e) = std::fs::rename(p, &aside) {
        match e.kind() {
            io::ErrorKind::NotFound if !p.exists() => return Ok(false),
            io::ErrorKind::NotFound => {
                // The bucket's %wk is missing: make it and try once more.
                if let Some(d) = aside.parent() {
                    std::fs::create_dir_all(d)?;
                }
                match std::fs::rename(p, &aside) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            _ => return Err(e),
        }
    }
    let moved = std::fs::symlink_metadata(&aside)?;
    if same_file(&moved, md) {
        std::fs::remove_file(&aside)?;
        return Ok(true);
    }
    // Replaced between the look and the move: the newer file goes back where it was.
    match std::fs::hard_link(&aside, p) {
        Ok(()) => std::fs::remove_file(&aside)?,
        // Something newer still is there: ours is superseded.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => std::fs::remove_file(&aside)?,
        Err(_) => std::fs::rename(&aside, p)?,
    }
    Ok(false)
}

/// What a chunk's file name says about its upload.
enum ChunkName<'a> {
    /// `<obj>.<upload id>.<NNNN>`.
    Of(&'a str),
    /// A shortened `.x<sha256>` name.
    Shortened,
    /// Neither (AIS: an invalid chunk encoding).
    Bad,
}

fn chunk_upload_id(base: &str) -> ChunkName<'_> {
    if names::is_shortened_name(base) {
        return ChunkName::Shortened;
    }
    let mut it = base.rsplitn(3, '.');
    let (Some(num), Some(id), Some(obj)) = (it.next(), it.next(), it.next()) else {
        return ChunkName::Bad;
    };
    let num_ok = num.len() == 4
        && num.bytes().all(|b| b.is_ascii_digit())
        && num.parse::<u16>().is_ok_and(|n| n >= 1);
    if obj.is_empty() || !num_ok || ufest::check_id(id).is_err() {
        return ChunkName::Bad;
    }
    ChunkName::Of(id)
}

/// Whether the `%ob` file on `mp` that manifest `m` names as its chunk 1 is the chunked
/// object of this manifest (its LOM of the bucket's incarnation carries `m`'s id).
fn ob_is_of(mp: &Mountpath, bucket: &str, bid: u64, m: &Manifest) -> bool {
    let Some(first) = m.chunks.first() else {
        return false;
    };
    let ob = Path::new(&first.path);
    if !ob.starts_with(fqn::obj_dir(&mp.path, bucket)) {
        return false;
    }
    matches!(read_lom(ob), Ok(LomRead::Ok(l))
        if l.is_chunked() && l.bid() == bid && l.custom_get(CUSTOM_UFEST_ID) == Some(m.id.as_str()))
}

/// The object a `%ob` file holds, if its path is the one aisle gives that name (folder
/// markers and shortened names included; a shortened one needs its LOM's `orig_fntl`).
fn object_name(
    mp: &Path,
    bucket: &str,
    odir: &Path,
    p: &Path,
    lom: Option<&Lom>,
) -> Option<String> {
    let rel = p.strip_prefix(odir).ok()?.to_str()?;
    let (dir, base) = rel.rsplit_once('/').unwrap_or(("", rel));
    let name = if base == fqn::DIR_MARKER {
        if dir.is_empty() {
            return None;
        }
        format!("{dir}/")
    } else if dir.is_empty() && names::is_shortened_name(base) {
        lom?.custom_get(CUSTOM_ORIG_FNTL)?.to_string()
    } else {
        rel.to_string()
    };
    names::validate_object_or_marker(&name).ok()?;
    (fqn::object_fqn(mp, bucket, &name) == p).then_some(name)
}

fn read_lom(p: &Path) -> io::Result<LomRead> {
    let mut buf = Vec::new();
    if !sys::getxattr(p, XATTR_LOM, &mut buf)? {
        return Ok(LomRead::Missing);
    }
    Ok(match Lom::decode(&buf) {
        Ok(l) => LomRead::Ok(l),
        Err(_) => LomRead::Corrupt,
    })
}

/// The device of a mountpath's root (0 if it cannot be read: then no directory matches and
/// nothing is walked).
fn root_dev(mp: &Mountpath) -> u64 {
    std::fs::symlink_metadata(&mp.path).map_or(0, |m| m.dev())
}

/// `walk` when `p` is a directory; else `f` on `p` itself.
fn walk_or_leaf(p: &Path, dev: u64, x: &Xact, f: &mut dyn FnMut(&Path, &Metadata) -> bool) {
    match std::fs::symlink_metadata(p) {
        Ok(md) if md.is_dir() => walk(p, dev, x, f),
        Ok(md) => {
            f(p, &md);
        }
        Err(_) => {}
    }
}

/// Calls `f` on everything under `dir` that is not a directory (files, symlinks, others),
/// never following a symlink nor entering a directory of another filesystem than `dev`;
/// stops when `f` returns false. Unreadable directories are recorded as the job's errors.
/// Walks the files below `dir` on device `dev` (never into another filesystem), calling `f`
/// with each one's path and metadata until it returns false; unreadable folders are noted on `x`.
pub(super) fn walk(dir: &Path, dev: u64, x: &Xact, f: &mut dyn FnMut(&Path, &Metadata) -> bool) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                x.note_error(format!("{}: {e}", d.display()));
                continue;
            }
        };
        for ent in rd.flatten() {
            let p = ent.path();
            let Ok(md) = std::fs::symlink_metadata(&p) else {
                continue; // gone meanwhile
            };
            if md.is_dir() {
                if md.dev() == dev {
                    stack.push(p);
                }
            } else if !f(&p, &md) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_ais_bits_plus_ours() {
        let o = CleanupOpts::from_flags(
            Some("b".into()),
            FLAG_ZERO_SIZE | FLAG_KEEP_MISPLACED,
            false,
        );
        assert!(o.rm_zero_size && o.keep_misplaced && !o.dry_run && !o.keep_unknown && !o.force);
        assert_eq!(FLAG_KEEP_MISPLACED, 8, "AIS xact.FlagKeepMisplaced");
        let o = CleanupOpts::from_flags(None, FLAG_DRY_RUN | FLAG_KEEP_UNKNOWN, true);
        assert!(o.dry_run && o.keep_unknown && !o.rm_zero_size && !o.keep_misplaced && o.force);
    }

    #[test]
    fn chunk_names_show_their_upload() {
        let id = ufest::new_upload_id();
        let good = format!("a/b.c.{id}.0002");
        assert!(matches!(chunk_upload_id(&good), ChunkName::Of(i) if i == id));
        let sha = format!(".x{}", "0".repeat(64));
        assert!(matches!(chunk_upload_id(&sha), ChunkName::Shortened));
        for bad in [
            "junk".to_string(),
            format!("obj.{id}.2"),
            format!("obj.{id}.0000"),
            format!(".{id}.0001"),
            "obj.x.0001".to_string(),
        ] {
            assert!(matches!(chunk_upload_id(&bad), ChunkName::Bad), "{bad}");
        }
    }
}
