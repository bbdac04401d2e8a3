//! The object store of one node: the mountpath set, HRW placement, bucket metadata, and the
//! object operations (PUT, GET/HEAD open, DELETE, list) that the HTTP API calls on any core.
//! One file per concern: `error` (StoreError), `bucket` (create/destroy/props), `put`
//! (PutHandle, buffered and direct), `get` (open for GET/HEAD, DELETE), `list` (listing walks),
//! `trash` (startup tidy, moving aside and emptying the trash), `copy` (object copy and
//! rename), `lsdir` (non-recursive listing), `mpu` (multipart uploads and chunked objects),
//! `resilver` (moving misplaced objects to their HRW mountpath after a change of the set),
//! `mirror` (n-way mirroring and make-n-copies),
//! `cleanup` (the `cleanup-store` job).
//!
//! Shared by all cores behind an `Arc`. The hot path takes read-only snapshots (`Arc` clones)
//! of the mountpath set and the bucket metadata; changes build a new snapshot and swap it in.
//! Anything that may block for long (directory walks, metadata files) runs on the blocking pool.
//!
//! Invariants:
//! - An object is visible only after its data and LOM are complete: PUT writes a work file in
//!   `%wk`, sets the LOM xattr on it, then renames it over `%ob/<name>`; a reader opens either
//!   the old inode or the new one, never a mix.
//! - An object whose LOM carries another bucket incarnation's BID is never served (defunct).
//! - Every path handed to the kernel is built from validated names under a mountpath.
//! - Placement is `MountpathSet::place` (that is, `hrw::select_by`) for PUT, GET, HEAD and
//!   DELETE alike.

mod append;
mod atime;
mod bucket;
mod capacity;
mod cleanup;
mod copy;
mod custom;
mod error;
mod fshc;
mod get;
mod list;
mod lsdir;
mod mirror;
mod mplife;
mod mpu;
mod put;
mod resilver;
mod trash;
mod verify;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::bmd::{Bmd, BucketProps};
pub use crate::cache::ObjectHandle;
use crate::cache::{CoreView, Generations};
use crate::hrw;
use crate::mountpath::{DioState, Mountpath, MountpathId, MountpathSet};
use crate::names;

pub use append::{APPENDS_OPEN_MAX, APPEND_IDLE_SECS_MAX};
pub use capacity::{Capacity, MpCapacity, SpaceConf};
pub use cleanup::{
    CleanupOpts, CLEANUP_KIND, DONT_CLEANUP_TIME_DEFAULT, FLAG_DRY_RUN, FLAG_KEEP_MISPLACED,
    FLAG_KEEP_UNKNOWN, FLAG_ZERO_SIZE,
};
pub use copy::{CopiedMeta, CopyOutcome, COPY_CHUNK};
pub use custom::{is_internal as is_internal_custom, parse_custom_header};
pub use error::StoreError;
pub use fshc::{is_disk_error, FshcConf, FshcVerdict, FSHC_DIR};
pub use list::{ListEntry, ListPage, ListQuery};
pub use mirror::KIND_MAKE_N_COPIES;
pub use mplife::MpChange;
pub use mpu::{
    PartDone, PartInfo, PartListError, S3Part, UploadInfo, CUSTOM_UFEST_ID, PART_NUM_MAX,
    S3_PART_SIZE_MIN, UPLOADS_OPEN_MAX,
};
pub use put::{ClientChecksum, PutHandle, WriteCondition};
pub use resilver::{marker_path, KIND_RESILVER, MARKER_DIR, MARKER_RESILVER, TEST_FORCE_COPY_ENV};

/// Default and maximum page size of an object listing (AIS's `MaxPageSizeAIS`).
pub const LIST_PAGE_SIZE_MAX: usize = 10_000;
/// Custom-metadata key that keeps the original name of a shortened (fntl) object.
pub const CUSTOM_ORIG_FNTL: &str = "orig_fntl";
/// Custom key of an object's S3 ETag (unquoted; AIS `cmn.ETag`), set by `PutHandle::want_md5`.
pub const CUSTOM_ETAG: &str = "ETag";
/// Longest name of a shortened object: its full name must fit the LOM's custom metadata
/// (`orig_fntl` + separator + name). Names up to 3072 bytes with components of at most 255
/// bytes are stored as they are and are not limited by this.
pub const FNTL_NAME_BYTES_MAX: usize =
    crate::lom::LOM_CUSTOM_BYTES_MAX - CUSTOM_ORIG_FNTL.len() - 1;

/// The node's store.
pub struct Store {
    mountpaths: RwLock<Arc<MountpathSet>>,
    /// Serialises mountpath set changes; the node id and what the VMD records besides the set.
    mp_txn: Mutex<mplife::MpMeta>,
    bmd: RwLock<Arc<Bmd>>,
    /// Serialises bucket-metadata transactions (held only on blocking-pool threads).
    bmd_txn: Mutex<()>,
    /// Distinguishes concurrent work files of one object.
    work_seq: AtomicU64,
    /// Bumped whenever the bucket metadata or the mountpaths change (cores refresh snapshots).
    version: AtomicU64,
    /// Per-object invalidation for the cores' object caches.
    generations: Generations,
    /// PUT data goes to the file with pwrite(2) on the core thread (true) or a ring write.
    put_write_direct: AtomicBool,
    /// An overwriting PUT exchanges its work file with the old object and then unlinks the old
    /// one (true, the default), instead of renaming over it (`put.rs`, `replace_into_place`).
    overwrite_exchange: AtomicBool,
    /// PUTs whose declared size is at least this write their work file with O_DIRECT
    /// (`u64::MAX`: never).
    put_direct_min: AtomicU64,
    /// Appends in progress (`append.rs`).
    appends: append::Appends,
    /// Node-wide access times (`atime.rs`).
    atimes: atime::Atimes,
    /// Serialises read-modify-write of an object's custom metadata (`custom.rs`).
    custom_locks: custom::CustomLocks,
    /// Multipart uploads in progress (`mpu.rs`).
    uploads: mpu::Uploads,
    /// The node's jobs (resilver, cleanup, mirroring).
    xacts: crate::xact::Xacts,
    /// Short per-object locks (striped by digest) for the commit steps that must not interleave:
    /// a resilver's move of an object against a DELETE of it.
    obj_locks: ObjLocks,
    /// The resilver's state (`resilver.rs`).
    resilver: resilver::ResilverState,
    /// Space cleanup leaves alone every file modified less than this long ago, ns
    /// (AIS `space.dont_cleanup_time`).
    dont_cleanup_ns: AtomicU64,
    /// Filesystem health checks (`fshc.rs`).
    fshc: fshc::FshcState,
    /// Capacity watermarks (`capacity.rs`).
    capacity: capacity::CapacityState,
}

/// Stripes of the object lock table.
const OBJ_LOCKS: usize = 1024;

/// Striped object locks: held only across a few metadata syscalls, never across I/O of data.
struct ObjLocks(Vec<Mutex<()>>);

impl Default for ObjLocks {
    fn default() -> Self {
        ObjLocks((0..OBJ_LOCKS).map(|_| Mutex::new(())).collect())
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Opens the store over `mountpaths` (probed by `mountpath::probe`: absolute, existing,
    /// writable, with user xattrs), loads the newest bucket metadata and tidies what a previous
    /// run left behind.
    pub fn open(mountpaths: &[PathBuf]) -> Result<Store, StoreError> {
        Store::open_as(mountpaths, "aisle")
    }

    /// Opens the store as `open` does, the set being the newest volume metadata (VMD) found
    /// on `mountpaths` merged with them (`mplife.rs`); `node_id` names the node unless the
    /// VMD already does. The VMD is rewritten on every mountpath before anything is served.
    pub fn open_as(mountpaths: &[PathBuf], node_id: &str) -> Result<Store, StoreError> {
        if mountpaths.is_empty() {
            return Err(StoreError::NoMountpaths);
        }
        let (set, mut meta) = Store::initial_set(mountpaths, node_id)?;
        let paths: Vec<PathBuf> = set
            .iter()
            .filter(|m| m.state != crate::mountpath::MpState::Faulty)
            .map(|m| m.path.clone())
            .collect();
        let bmd = Bmd::load_newest(&paths)?;
        for p in &paths {
            if !p.join(crate::bmd::BMD_FILE).exists() && bmd.version > 0 {
                bmd.store(p)
                    .map_err(|e| StoreError::io("store bmd", p, e))?;
            }
        }
        let store = Store {
            mountpaths: RwLock::new(Arc::new(MountpathSet::from_list(0, Vec::new()))),
            mp_txn: Mutex::new(mplife::MpMeta {
                node_id: String::new(),
                vmd_version: 0,
                detached: Vec::new(),
                next_id: 0,
            }),
            bmd: RwLock::new(Arc::new(bmd)),
            bmd_txn: Mutex::new(()),
            work_seq: AtomicU64::new(0),
            version: AtomicU64::new(0),
            generations: Generations::default(),
            put_write_direct: AtomicBool::new(false),
            overwrite_exchange: AtomicBool::new(true),
            put_direct_min: AtomicU64::new(u64::MAX),
            appends: append::Appends::default(),
            atimes: atime::Atimes::default(),
            custom_locks: custom::CustomLocks::default(),
            uploads: mpu::Uploads::default(),
            xacts: crate::xact::Xacts::default(),
            obj_locks: ObjLocks::default(),
            resilver: resilver::ResilverState::at_open(mountpaths),
            dont_cleanup_ns: AtomicU64::new(DONT_CLEANUP_TIME_DEFAULT.as_nanos() as u64),
            fshc: Default::default(),
            capacity: Default::default(),
        };
        store.persist_vmd(&mut meta, &set)?;
        *store.mountpaths.write().expect("mountpaths lock") = Arc::new(set);
        *store.mp_txn.lock().expect("mp lock") = meta;
        store.startup_tidy();
        store.recover_completions();
        Ok(store)
    }

    /// The current mountpath set.
    pub fn mountpaths(&self) -> Arc<MountpathSet> {
        self.mountpaths.read().expect("mountpaths lock").clone()
    }

    /// The current bucket metadata.
    pub fn bmd(&self) -> Arc<Bmd> {
        self.bmd.read().expect("bmd lock").clone()
    }

    /// The props of `bucket`, or `BucketNotFound`.
    pub fn bucket(&self, bucket: &str) -> Result<BucketProps, StoreError> {
        self.bmd
            .read()
            .expect("bmd lock")
            .buckets
            .get(bucket)
            .cloned()
            .ok_or_else(|| StoreError::BucketNotFound(bucket.to_string()))
    }

    /// The `chunks` props of `bucket`, if it exists (read in place: no props copy per PUT).
    pub fn chunks_of(&self, bucket: &str) -> Option<crate::bmd::ChunksConf> {
        self.bmd
            .read()
            .expect("bmd lock")
            .buckets
            .get(bucket)
            .map(|p| p.chunks)
    }

    /// The object's digest and its HRW mountpath among the enabled mountpaths.
    pub fn place(&self, bucket: &str, obj: &str) -> Result<(u64, Arc<Mountpath>), StoreError> {
        let digest = hrw::obj_digest(bucket, obj);
        self.mountpaths()
            .place(digest)
            .map(|mp| (digest, mp.clone()))
            .ok_or(StoreError::NoMountpaths)
    }

    /// Chooses how PUT data reaches the file: a ring write (the default; an io-wq worker does it
    /// on filesystems without non-blocking buffered writes), or `pwrite(2)` on the core thread.
    pub fn set_put_write_direct(&self, direct: bool) {
        self.put_write_direct.store(direct, Ordering::Relaxed);
    }

    /// How a PUT replaces an existing object: `true` (the default) exchanges the work file with
    /// it (`renameat2(RENAME_EXCHANGE)`) and unlinks the old one; `false` renames over it,
    /// which on ext4 (`auto_da_alloc`) starts writeback of the new data inside the rename
    /// (bench/RESULTS.md, "Overwrite PUTs"). For measurements; keep the default.
    pub fn set_overwrite_exchange(&self, exchange: bool) {
        self.overwrite_exchange.store(exchange, Ordering::Relaxed);
    }

    /// PUTs of at least `min` bytes (declared by the client) write their data with O_DIRECT;
    /// `None` turns direct PUTs off.
    pub fn set_put_direct_min(&self, min: Option<u64>) {
        self.put_direct_min
            .store(min.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Whether mountpath `id` was found to refuse O_DIRECT (its PUTs stay buffered).
    pub fn direct_refused(&self, id: MountpathId) -> bool {
        self.mountpaths()
            .get(id)
            .is_some_and(|m| m.dio() == DioState::Refused)
    }

    /// Brings a core's snapshots up to date (one atomic load when nothing changed).
    pub fn refresh_view(&self, view: &CoreView) {
        view.refresh(self.version.load(Ordering::Acquire), || {
            (self.bmd(), self.mountpaths())
        });
    }

    /// Closes a core's cached objects that were deleted or replaced since (see
    /// `CoreView::sweep_stale`); call it on the core's timer, not per request.
    pub fn sweep_view(&self, view: &CoreView) -> usize {
        view.sweep_stale(&self.generations)
    }

    /// The node's jobs.
    pub fn xacts(&self) -> &crate::xact::Xacts {
        &self.xacts
    }

    /// Locks the object with `digest` for a short commit step (blocks while another holds it).
    pub(crate) fn obj_lock(&self, digest: u64) -> std::sync::MutexGuard<'_, ()> {
        self.obj_locks.0[(digest as usize) % OBJ_LOCKS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Locks the object with `digest` if nobody holds it (a job skips busy objects).
    pub(crate) fn try_obj_lock(&self, digest: u64) -> Option<std::sync::MutexGuard<'_, ()>> {
        match self.obj_locks.0[(digest as usize) % OBJ_LOCKS].try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Space cleanup removes only files modified at least `t` ago (AIS
    /// `space.dont_cleanup_time`; default `DONT_CLEANUP_TIME_DEFAULT`).
    pub fn set_dont_cleanup_time(&self, t: std::time::Duration) {
        let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        self.dont_cleanup_ns.store(ns, Ordering::Relaxed);
    }

    /// The current `dont_cleanup_time`.
    pub fn dont_cleanup_time(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.dont_cleanup_ns.load(Ordering::Relaxed))
    }

    fn changed(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    fn check_names(bucket: &str, obj: &str) -> Result<(), StoreError> {
        names::validate_bucket(bucket).map_err(|e| StoreError::BadBucketName(bucket.into(), e))?;
        names::validate_object_or_marker(obj).map_err(|e| StoreError::BadObjName(bucket.into(), e))
    }
}
