//! The object store of one node: mountpaths, HRW placement, bucket metadata, and the object
//! operations (PUT, GET/HEAD open, DELETE, list) that the HTTP API calls on any core.
//!
//! Shared by all cores behind an `Arc`. The hot path takes read-only snapshots (`Arc` clones)
//! of the mountpath list and the bucket metadata; changes build a new snapshot and swap it in.
//! Anything that may block for long (directory walks, metadata files) runs on the blocking pool.
//!
//! Invariants:
//! - An object is visible only after its data and LOM are complete: PUT writes a work file in
//!   `%wk`, sets the LOM xattr on it, then renames it over `%ob/<name>`; a reader opens either
//!   the old inode or the new one, never a mix.
//! - An object whose LOM carries another bucket incarnation's BID is never served (defunct).
//! - Every path handed to the kernel is built from validated names under a mountpath.

use std::collections::BinaryHeap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::bmd::{Bmd, BmdError, BucketProps};
pub use crate::cache::ObjectHandle;
use crate::cache::{CoreView, Generations};
use crate::cksum::{CksumType, Hasher};
use crate::io::{self as rio, sys, AlignedBuf, Fd, DIO_ALIGN};
use crate::lom::{Lom, XATTR_LOM};
use crate::names::{self, NameError};
use crate::{fqn, hrw};
use std::rc::Rc;

mod append;
mod atime;
mod custom;
pub use append::{APPENDS_OPEN_MAX, APPEND_IDLE_SECS_MAX};
pub use custom::parse_custom_header;

/// Default and maximum page size of an object listing (AIS's `MaxPageSizeAIS`).
pub const LIST_PAGE_SIZE_MAX: usize = 10_000;
/// Custom-metadata key that keeps the original name of a shortened (fntl) object.
pub const CUSTOM_ORIG_FNTL: &str = "orig_fntl";
/// Longest name of a shortened object: its full name must fit the LOM's custom metadata
/// (`orig_fntl` + separator + name). Names up to 3072 bytes with components of at most 255
/// bytes are stored as they are and are not limited by this.
pub const FNTL_NAME_BYTES_MAX: usize =
    crate::lom::LOM_CUSTOM_BYTES_MAX - CUSTOM_ORIG_FNTL.len() - 1;

/// One mountpath (one disk) of the node.
#[derive(Debug, Clone)]
pub struct Mountpath {
    /// Position in the node's list (stable for the life of the process).
    pub index: usize,
    /// Absolute, clean path.
    pub path: PathBuf,
    /// `hrw::path_digest` of the path string.
    pub digest: u64,
    /// Enabled mountpaths take part in placement.
    pub enabled: bool,
}

/// Errors of store operations; the HTTP layer maps each to one status code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("bucket \"ais://{0}\" does not exist")]
    BucketNotFound(String),
    #[error("bucket \"ais://{0}\" already exists")]
    BucketExists(String),
    #[error("ais://{0}/{1} does not exist")]
    ObjNotFound(String, String),
    #[error("invalid bucket name {0:?}: {1}")]
    BadBucketName(String, NameError),
    #[error("invalid object name in ais://{0}: {1}")]
    BadObjName(String, NameError),
    #[error("BAD DATA CHECKSUM: ais://{bucket}/{obj}: {cksum_type} expected {expected}, computed {computed}")]
    BadChecksum {
        bucket: String,
        obj: String,
        cksum_type: String,
        expected: String,
        computed: String,
    },
    #[error("unsupported checksum type {0:?}")]
    UnsupportedChecksum(String),
    #[error("ais://{0}/{1}: object metadata is missing")]
    MetaMissing(String, String),
    #[error("ais://{0}/{1}: object metadata is corrupt: {2}")]
    MetaCorrupt(String, String, String),
    #[error("ais://{0}/{1}: name conflicts with an existing object or virtual directory")]
    NameConflict(String, String),
    #[error("ais://{0}/{1}: name too long: {2}")]
    NameTooLong(String, String, String),
    #[error("bad bucket properties: {0}")]
    BadProps(String),
    #[error("no mountpaths available")]
    NoMountpaths,
    #[error("ais://{0}/{1}: invalid append handle: {2}")]
    BadAppendHandle(String, String, String),
    #[error("too many appends in progress on this node (at most {0}); flush or wait")]
    AppendsBusy(usize),
    #[error("invalid custom metadata: {0}")]
    BadCustom(String),
    #[error("out of space on {path}: {err}")]
    NoSpace { path: PathBuf, err: io::Error },
    #[error("{op} {path}: {err}")]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
}

impl StoreError {
    fn io(op: &'static str, path: &Path, err: io::Error) -> StoreError {
        if err.raw_os_error() == Some(libc::ENOSPC) || err.raw_os_error() == Some(libc::EDQUOT) {
            return StoreError::NoSpace {
                path: path.to_path_buf(),
                err,
            };
        }
        StoreError::Io {
            op,
            path: path.to_path_buf(),
            err,
        }
    }
}

impl From<BmdError> for StoreError {
    fn from(e: BmdError) -> Self {
        match e {
            BmdError::AlreadyExists(b) => StoreError::BucketExists(b),
            BmdError::NotFound(b) => StoreError::BucketNotFound(b),
            BmdError::BadProps(s) => StoreError::BadProps(s),
            BmdError::Io(err) => StoreError::Io {
                op: "bmd",
                path: PathBuf::new(),
                err,
            },
            other => StoreError::BadProps(other.to_string()),
        }
    }
}

/// The node's store.
pub struct Store {
    mountpaths: RwLock<Arc<Vec<Mountpath>>>,
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
    put_write_direct: std::sync::atomic::AtomicBool,
    /// PUTs whose declared size is at least this write their work file with O_DIRECT
    /// (`u64::MAX`: never).
    put_direct_min: AtomicU64,
    /// Per mountpath (by index): whether its filesystem takes O_DIRECT (`DIO_*`).
    dio: Vec<AtomicU8>,
    /// Appends in progress (`append.rs`).
    appends: append::Appends,
    /// Node-wide access times (`atime.rs`).
    atimes: atime::Atimes,
    /// Serialises read-modify-write of an object's custom metadata (`custom.rs`).
    custom_locks: custom::CustomLocks,
}

/// Direct I/O on a mountpath: not tried yet.
const DIO_UNKNOWN: u8 = 0;
/// Direct I/O on a mountpath: works.
const DIO_OK: u8 = 1;
/// Direct I/O on a mountpath: refused by its filesystem (PUTs there stay buffered).
const DIO_REFUSED: u8 = 2;

/// One listed object.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListEntry {
    /// Object name as stored (a shortened name shows as `.x…`, as in AIS).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Checksum value, when requested.
    pub checksum: String,
    /// Version, when requested.
    pub version: String,
    /// Access time, unix ns.
    pub atime_ns: i64,
    /// Mountpath the object lives on, when requested.
    pub location: String,
    /// Custom metadata as AIS lists it (`[k:v k2:v2]`), read with the LOM; empty if none.
    pub custom: String,
}

/// What a listing should return.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only names starting with this.
    pub prefix: String,
    /// Only names strictly greater than this (the continuation token or `start_after`).
    pub after: String,
    /// Page size; 0 means `LIST_PAGE_SIZE_MAX`.
    pub page_size: usize,
    /// Read each object's LOM (checksum, version).
    pub with_lom: bool,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// Entries sorted by name.
    pub entries: Vec<ListEntry>,
    /// The last name when the page is full (more may follow), else empty.
    pub continuation_token: String,
}

/// A client-supplied checksum to verify a PUT against.
#[derive(Debug, Clone)]
pub struct ClientChecksum {
    /// The type the client used.
    pub cksum_type: CksumType,
    /// Its value (lowercase hex).
    pub value: String,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Opens the store over `mountpaths` (absolute, existing, writable: the caller checked),
    /// loads the newest bucket metadata and tidies what a previous run left behind.
    pub fn open(mountpaths: &[PathBuf]) -> Result<Store, StoreError> {
        let mps: Vec<Mountpath> = mountpaths
            .iter()
            .enumerate()
            .map(|(index, p)| {
                let s = p.to_string_lossy().to_string();
                Mountpath {
                    index,
                    path: p.clone(),
                    digest: hrw::path_digest(&s),
                    enabled: true,
                }
            })
            .collect();
        if mps.is_empty() {
            return Err(StoreError::NoMountpaths);
        }
        let bmd = Bmd::load_newest(mountpaths)?;
        let store = Store {
            mountpaths: RwLock::new(Arc::new(mps)),
            bmd: RwLock::new(Arc::new(bmd)),
            bmd_txn: Mutex::new(()),
            work_seq: AtomicU64::new(0),
            version: AtomicU64::new(0),
            generations: Generations::default(),
            put_write_direct: std::sync::atomic::AtomicBool::new(false),
            put_direct_min: AtomicU64::new(u64::MAX),
            dio: mountpaths
                .iter()
                .map(|_| AtomicU8::new(DIO_UNKNOWN))
                .collect(),
            appends: append::Appends::default(),
            atimes: atime::Atimes::default(),
            custom_locks: custom::CustomLocks::default(),
        };
        store.startup_tidy();
        Ok(store)
    }

    /// The current mountpaths.
    pub fn mountpaths(&self) -> Arc<Vec<Mountpath>> {
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

    /// The HRW mountpath of an object among the enabled mountpaths.
    pub fn place(&self, bucket: &str, obj: &str) -> Result<(u64, Mountpath), StoreError> {
        let digest = hrw::obj_digest(bucket, obj);
        hrw_pick(&self.mountpaths(), digest)
            .map(|mp| (digest, mp.clone()))
            .ok_or(StoreError::NoMountpaths)
    }

    /// Chooses how PUT data reaches the file: a ring write (the default; an io-wq worker does it
    /// on filesystems without non-blocking buffered writes), or `pwrite(2)` on the core thread.
    pub fn set_put_write_direct(&self, direct: bool) {
        self.put_write_direct.store(direct, Ordering::Relaxed);
    }

    /// PUTs of at least `min` bytes (declared by the client) write their data with O_DIRECT;
    /// `None` turns direct PUTs off.
    pub fn set_put_direct_min(&self, min: Option<u64>) {
        self.put_direct_min
            .store(min.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Whether mountpath `index` was found to refuse O_DIRECT (its PUTs stay buffered).
    pub fn direct_refused(&self, index: usize) -> bool {
        self.dio
            .get(index)
            .is_some_and(|s| s.load(Ordering::Relaxed) == DIO_REFUSED)
    }

    /// Records what a direct PUT learnt about mountpath `mp`; logs a refusal once.
    fn note_dio(&self, mp: &Mountpath, ok: bool, why: &str) {
        let Some(state) = self.dio.get(mp.index) else {
            return;
        };
        let new = if ok { DIO_OK } else { DIO_REFUSED };
        if state
            .compare_exchange(DIO_UNKNOWN, new, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
            && !ok
        {
            tracing::warn!(
                mountpath = %mp.path.display(),
                "the filesystem refuses O_DIRECT ({why}): PUTs to this mountpath stay buffered"
            );
        }
    }

    /// Brings a core's snapshots up to date (one atomic load when nothing changed).
    pub fn refresh_view(&self, view: &CoreView) {
        view.refresh(self.version.load(Ordering::Acquire), || {
            (self.bmd(), self.mountpaths())
        });
    }

    fn changed(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    fn check_names(bucket: &str, obj: &str) -> Result<(), StoreError> {
        names::validate_bucket(bucket).map_err(|e| StoreError::BadBucketName(bucket.into(), e))?;
        names::validate_object(obj).map_err(|e| StoreError::BadObjName(bucket.into(), e))
    }

    // ---------------------------------------------------------------- buckets

    /// Creates a bucket: new BID, metadata persisted on every mountpath, directories made.
    /// Leftovers of an earlier bucket of the same name are moved aside first.
    /// Returns the mountpaths whose trash received leftovers (to be emptied in the background).
    pub async fn create_bucket(
        self: &Arc<Self>,
        bucket: &str,
        props: Option<serde_json::Value>,
    ) -> Result<Vec<usize>, StoreError> {
        names::validate_bucket(bucket).map_err(|e| StoreError::BadBucketName(bucket.into(), e))?;
        let this = self.clone();
        let b = bucket.to_string();
        rio::spawn_blocking(move || this.create_bucket_blocking(&b, props.as_ref())).await
    }

    fn create_bucket_blocking(
        &self,
        bucket: &str,
        props: Option<&serde_json::Value>,
    ) -> Result<Vec<usize>, StoreError> {
        let _txn = self.bmd_txn.lock().expect("bmd txn lock");
        let cur = self.bmd();
        let next = cur.create(bucket, props, now_ns())?;
        let mps = self.mountpaths();
        let mut trashed = Vec::new();
        for mp in mps.iter() {
            let bdir = fqn::bucket_dir(&mp.path, bucket);
            if bdir.exists() {
                move_aside(&mp.path, &bdir)?;
                trashed.push(mp.index);
            }
            for d in [
                fqn::obj_dir(&mp.path, bucket),
                fqn::work_dir(&mp.path, bucket),
            ] {
                std::fs::create_dir_all(&d).map_err(|e| StoreError::io("mkdir", &d, e))?;
            }
        }
        self.persist_bmd(&next, &mps)?;
        *self.bmd.write().expect("bmd lock") = Arc::new(next);
        self.generations.bump_all();
        self.changed();
        Ok(trashed)
    }

    /// Destroys a bucket: metadata first (the bucket is gone for every request from then on),
    /// then its directories are moved into each mountpath's trash. Returns the mountpaths whose
    /// trash now needs emptying (their owner cores do that in the background).
    pub async fn destroy_bucket(self: &Arc<Self>, bucket: &str) -> Result<Vec<usize>, StoreError> {
        names::validate_bucket(bucket).map_err(|e| StoreError::BadBucketName(bucket.into(), e))?;
        let this = self.clone();
        let b = bucket.to_string();
        rio::spawn_blocking(move || {
            let _txn = this.bmd_txn.lock().expect("bmd txn lock");
            let cur = this.bmd();
            let next = cur.destroy(&b)?;
            let mps = this.mountpaths();
            this.persist_bmd(&next, &mps)?;
            *this.bmd.write().expect("bmd lock") = Arc::new(next);
            this.generations.bump_all();
            this.changed();
            let mut trashed = Vec::new();
            for mp in mps.iter() {
                let bdir = fqn::bucket_dir(&mp.path, &b);
                if bdir.exists() {
                    move_aside(&mp.path, &bdir)?;
                    trashed.push(mp.index);
                }
            }
            Ok(trashed)
        })
        .await
    }

    /// Changes bucket props (AIS-shaped JSON patch).
    pub async fn set_bucket_props(
        self: &Arc<Self>,
        bucket: &str,
        patch: serde_json::Value,
    ) -> Result<(), StoreError> {
        let this = self.clone();
        let b = bucket.to_string();
        rio::spawn_blocking(move || {
            let _txn = this.bmd_txn.lock().expect("bmd txn lock");
            let next = this.bmd().set_props(&b, &patch)?;
            let mps = this.mountpaths();
            this.persist_bmd(&next, &mps)?;
            *this.bmd.write().expect("bmd lock") = Arc::new(next);
            this.changed();
            Ok(())
        })
        .await
    }

    fn persist_bmd(&self, bmd: &Bmd, mps: &[Mountpath]) -> Result<(), StoreError> {
        for mp in mps {
            bmd.store(&mp.path)
                .map_err(|e| StoreError::io("store bmd", &mp.path, e))?;
        }
        Ok(())
    }

    /// Removes everything in a mountpath's trash (blocking; run it on the blocking pool).
    pub fn empty_trash_blocking(&self, mp_index: usize) -> io::Result<u64> {
        let mps = self.mountpaths();
        let Some(mp) = mps.get(mp_index) else {
            return Ok(0);
        };
        let trash = fqn::deleted_dir(&mp.path);
        let mut removed = 0;
        let rd = match std::fs::read_dir(&trash) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for ent in rd {
            let p = ent?.path();
            let r = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            match r {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// At open: work files of dead processes are removed; bucket directories the metadata does
    /// not know are reported (never deleted).
    fn startup_tidy(&self) {
        let bmd = self.bmd();
        for mp in self.mountpaths().iter() {
            let pdir = mp.path.join(fqn::PROVIDER_DIR);
            let Ok(rd) = std::fs::read_dir(&pdir) else {
                continue;
            };
            for ent in rd.flatten() {
                let name = ent.file_name().to_string_lossy().to_string();
                if !bmd.buckets.contains_key(&name) {
                    // Left alone, never deleted: it may be a bucket whose metadata was lost, or a
                    // destroy interrupted by a crash. Nothing serves it (no BID matches), and a
                    // create of the same name moves it aside first.
                    tracing::warn!(mountpath = %mp.path.display(), bucket = %name, "directory of a bucket the metadata does not know: left untouched");
                    continue;
                }
                let wdir = fqn::work_dir(&mp.path, &name);
                let Ok(wd) = std::fs::read_dir(&wdir) else {
                    continue;
                };
                for w in wd.flatten() {
                    let fname = w.file_name().to_string_lossy().to_string();
                    let stale = match fqn::parse_work_pid(&fname) {
                        Some(pid) => {
                            pid != std::process::id()
                                && !Path::new(&format!("/proc/{pid}")).exists()
                        }
                        None => true,
                    };
                    if stale {
                        let _ = std::fs::remove_file(w.path());
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- objects

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
        let props = self.bucket(bucket)?;
        let cksum_type = CksumType::parse(&props.cksum_type).unwrap_or(CksumType::Xxhash2);
        let (digest, mp) = self.place(bucket, obj)?;
        let seq = self.work_seq.fetch_add(1, Ordering::Relaxed);
        let tie = format!("{:x}{:x}", rio::core_index(), seq);
        let work = fqn::work_fqn(&mp.path, bucket, digest, &tie);
        let mut direct = size.is_some_and(|s| s >= self.put_direct_min.load(Ordering::Relaxed))
            && !self.direct_refused(mp.index);
        let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY;
        let fd = if direct {
            match Store::create_work(&mp, bucket, &work, flags | libc::O_DIRECT).await {
                Err(StoreError::Io { err, .. }) if err.raw_os_error() == Some(libc::EINVAL) => {
                    // The filesystem has no direct I/O. The open created the file before it
                    // refused the flag: open it again, buffered (the name is this PUT's own).
                    self.note_dio(&mp, false, "EINVAL on open");
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
        if direct && self.dio.get(mp.index).map(|s| s.load(Ordering::Relaxed)) == Some(DIO_UNKNOWN)
        {
            // First direct PUT on this mountpath: can we meet its alignment?
            match dio_usable(&fd) {
                Ok(()) => self.note_dio(&mp, true, ""),
                Err(why) => {
                    self.note_dio(&mp, false, &why);
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
        Ok(PutHandle {
            store: self.clone(),
            digest,
            mp_index: mp.index,
            bucket: bucket.to_string(),
            obj: obj.to_string(),
            fqn: fqn::object_fqn(&mp.path, bucket, obj),
            fntl: fqn::is_fntl(obj),
            work,
            fd: Some(fd),
            hasher: Some(Hasher::new(cksum_type)),
            cksum_type,
            client_hasher: None,
            size: 0,
            props,
            finished: false,
            direct,
            o_direct: direct,
            custom: Vec::new(),
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
            .with_mountpaths(|m| hrw_pick(m, digest).cloned())
            .ok_or(StoreError::NoMountpaths)?;
        let path = fqn::object_fqn(&mp.path, bucket, obj);
        let fd = match rio::open(&path, libc::O_RDONLY, 0).await {
            Ok(fd) => fd,
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
                        StoreError::ObjNotFound(bucket.into(), obj.into())
                    }
                    Some(libc::ENAMETOOLONG) => StoreError::NameTooLong(
                        bucket.into(),
                        obj.into(),
                        "the filesystem refused it".into(),
                    ),
                    _ => StoreError::io("open", &path, e),
                })
            }
        };
        let st = sys::fstat(&fd).map_err(|e| StoreError::io("fstat", &path, e))?;
        if !st.is_file {
            // A virtual directory (prefix of other objects), not an object.
            return Err(StoreError::ObjNotFound(bucket.into(), obj.into()));
        }
        let mut buf = Vec::new();
        let present = sys::fgetxattr(&fd, XATTR_LOM, &mut buf)
            .map_err(|e| StoreError::io("getxattr", &path, e))?;
        if !present {
            return Err(StoreError::MetaMissing(bucket.into(), obj.into()));
        }
        let lom = Lom::decode(&buf)
            .map_err(|e| StoreError::MetaCorrupt(bucket.into(), obj.into(), e.to_string()))?;
        if lom.bid() != bid {
            // Left over from an earlier incarnation of the bucket: never served.
            return Err(StoreError::ObjNotFound(bucket.into(), obj.into()));
        }
        if lom.size < 0 || lom.size as u64 != st.size {
            return Err(StoreError::MetaCorrupt(
                bucket.into(),
                obj.into(),
                format!("size {} in metadata, {} on disk", lom.size, st.size),
            ));
        }
        let body = if view.body_fits(st.size) {
            let mut b = Vec::with_capacity(st.size as usize);
            while (b.len() as u64) < st.size {
                let (at, want) = (b.len() as u64, st.size as usize - b.len());
                match sys::pread_append(&fd, &mut b, at, want) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(StoreError::io("read", &path, e)),
                }
            }
            if (b.len() as u64) != st.size {
                return Err(StoreError::MetaCorrupt(
                    bucket.into(),
                    obj.into(),
                    "file shorter than its size".into(),
                ));
            }
            Some(b.into_boxed_slice())
        } else {
            None
        };
        let h = Rc::new(ObjectHandle {
            fd,
            lom,
            body,
            size: st.size,
            atime_ns: st.atime_ns,
            atime_fs_ns: std::cell::Cell::new(st.atime_ns),
            digest,
            mtime_ns: st.mtime_ns,
            mountpath: mp.path,
            mp_index: mp.index,
            bucket: bucket.to_string(),
            obj: obj.to_string(),
            stamp,
        });
        view.insert(digest, h.clone());
        Ok(h)
    }

    /// Deletes an object.
    pub async fn delete_object(&self, bucket: &str, obj: &str) -> Result<(), StoreError> {
        Store::check_names(bucket, obj)?;
        self.bucket(bucket)?;
        let (_, mp) = self.place(bucket, obj)?;
        let path = fqn::object_fqn(&mp.path, bucket, obj);
        let res = rio::unlink(&path, false).await;
        self.atimes.forget(hrw::obj_digest(bucket, obj));
        self.generations.bump(hrw::obj_digest(bucket, obj));
        match res {
            Ok(()) => Ok(()),
            Err(e) => Err(match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::EISDIR) => {
                    StoreError::ObjNotFound(bucket.into(), obj.into())
                }
                Some(libc::ENAMETOOLONG) => StoreError::NameTooLong(
                    bucket.into(),
                    obj.into(),
                    "the filesystem refused it".into(),
                ),
                _ => StoreError::io("unlink", &path, e),
            }),
        }
    }

    /// One page of a bucket listing, sorted by name (walks every mountpath on the blocking
    /// pool; names after `q.after` only, so repeated calls page through any number of objects).
    pub async fn list_objects(
        self: &Arc<Self>,
        bucket: &str,
        q: ListQuery,
    ) -> Result<ListPage, StoreError> {
        names::validate_bucket(bucket).map_err(|e| StoreError::BadBucketName(bucket.into(), e))?;
        self.bucket(bucket)?;
        let mps = self.mountpaths();
        let b = bucket.to_string();
        rio::spawn_blocking(move || list_blocking(&mps, &b, &q)).await
    }
}

/// The enabled mountpath that ranks first for `digest` (ties: the later one, as in AIS).
fn hrw_pick(mps: &[Mountpath], digest: u64) -> Option<&Mountpath> {
    let mut best: Option<(u64, &Mountpath)> = None;
    for mp in mps.iter().filter(|m| m.enabled) {
        let w = hrw::weight(digest, mp.digest);
        if best.is_none_or(|(bw, _)| w >= bw) {
            best = Some((w, mp));
        }
    }
    best.map(|(_, mp)| mp)
}

/// Moves `dir` (on `mp`) into `mp/.$deleted/` under a unique name.
fn move_aside(mp: &Path, dir: &Path) -> Result<(), StoreError> {
    let trash = fqn::deleted_dir(mp);
    std::fs::create_dir_all(&trash).map_err(|e| StoreError::io("mkdir", &trash, e))?;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let base = dir
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let dst = trash.join(format!(
        "{base}.{}.{}",
        now_ns(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::rename(dir, &dst).map_err(|e| StoreError::io("rename", dir, e))
}

/// A PUT in progress. Feed the body with `write`, then `finish`; dropping it unfinished
/// removes the work file, so nothing of a failed PUT is ever visible.
pub struct PutHandle {
    store: Arc<Store>,
    digest: u64,
    mp_index: usize,
    bucket: String,
    obj: String,
    fqn: PathBuf,
    fntl: bool,
    work: PathBuf,
    fd: Option<Fd>,
    hasher: Option<Hasher>,
    cksum_type: CksumType,
    client_hasher: Option<(ClientChecksum, Option<Hasher>)>,
    size: u64,
    props: BucketProps,
    finished: bool,
    /// The work file was opened with O_DIRECT: the body should come in `AlignedBuf`s.
    direct: bool,
    /// The descriptor has O_DIRECT now (cleared for the last, partial block).
    o_direct: bool,
    /// Custom metadata the object gets (validated by `set_custom`).
    custom: Vec<(String, String)>,
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
        if c.cksum_type == self.cksum_type
            || (matches!(c.cksum_type, CksumType::Xxhash | CksumType::Xxhash2)
                && matches!(self.cksum_type, CksumType::Xxhash | CksumType::Xxhash2))
        {
            // Same digest as the stored checksum: compare at the end without a second hasher.
            self.client_hasher = Some((c, None));
        } else {
            let h = Hasher::new(c.cksum_type);
            self.client_hasher = Some((c, Some(h)));
        }
    }

    /// Index of the mountpath the object goes to.
    pub fn mp_index(&self) -> usize {
        self.mp_index
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the work file was opened for direct I/O: feed the body with `write_aligned`.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Updates the checksums with the next body bytes.
    fn hash(&mut self, data: &[u8]) {
        if let Some(h) = self.hasher.as_mut() {
            h.update(data);
        }
        if let Some((_, Some(h))) = self.client_hasher.as_mut() {
            h.update(data);
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
        let fd = self.fd.clone().expect("write after finish");
        let direct_end = if self.o_direct {
            take - take % DIO_ALIGN
        } else {
            0
        };
        if direct_end > 0 {
            debug_assert_eq!(
                self.size % DIO_ALIGN as u64,
                0,
                "direct write off alignment"
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
        let mut version = 1u64;
        if self.props.versioning {
            let mut buf = Vec::new();
            if let Ok(true) = sys::getxattr(&self.fqn, XATTR_LOM, &mut buf) {
                if let Ok(old) = Lom::decode(&buf) {
                    if old.bid() == self.props.bid {
                        if let Some(v) = old.version.as_deref().and_then(|v| v.parse::<u64>().ok())
                        {
                            version = v + 1;
                        }
                    }
                }
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
        self.rename_into_place().await?;
        // Cached copies of the old object on every core are stale from now on.
        self.store.atimes.set(self.digest, now_ns());
        self.store.generations.bump(self.digest);
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
        Ok(lom)
    }

    async fn rename_into_place(&self) -> Result<(), StoreError> {
        let conflict = || StoreError::NameConflict(self.bucket.clone(), self.obj.clone());
        match rio::rename(&self.work, &self.fqn).await {
            Ok(()) => return Ok(()),
            Err(e) => match e.raw_os_error() {
                Some(libc::ENOENT) => {}
                Some(libc::ENOTDIR)
                | Some(libc::EISDIR)
                | Some(libc::ENOTEMPTY)
                | Some(libc::EEXIST) => return Err(conflict()),
                Some(libc::ENAMETOOLONG) => {
                    return Err(StoreError::NameTooLong(
                        self.bucket.clone(),
                        self.obj.clone(),
                        "the filesystem refused it".into(),
                    ))
                }
                _ => return Err(StoreError::io("rename", &self.fqn, e)),
            },
        }
        // The object's virtual directory does not exist yet.
        let dir = self.fqn.parent().expect("an object path has a parent");
        match rio::mkdir_all(dir, 0o755).await {
            Ok(()) => {}
            Err(e)
                if e.raw_os_error() == Some(libc::ENOTDIR)
                    || e.raw_os_error() == Some(libc::EEXIST) =>
            {
                return Err(conflict())
            }
            Err(e) => return Err(StoreError::io("mkdir", dir, e)),
        }
        rio::rename(&self.work, &self.fqn)
            .await
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOTDIR)
                | Some(libc::EISDIR)
                | Some(libc::ENOTEMPTY)
                | Some(libc::EEXIST) => conflict(),
                _ => StoreError::io("rename", &self.fqn, e),
            })
    }
}

impl Drop for PutHandle {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Nothing of an unfinished PUT may remain: remove the work file in the background.
        let work = std::mem::take(&mut self.work);
        self.fd.take();
        rio::spawn(async move {
            let _ = rio::unlink(&work, false).await;
        })
        .detach();
    }
}

/// Walks `%ob` of `bucket` on every mountpath and keeps the `page_size` smallest names after
/// `q.after` that start with `q.prefix`. Directories that cannot hold a matching name are not
/// entered.
fn list_blocking(mps: &[Mountpath], bucket: &str, q: &ListQuery) -> Result<ListPage, StoreError> {
    let page_size = if q.page_size == 0 {
        LIST_PAGE_SIZE_MAX
    } else {
        q.page_size.min(LIST_PAGE_SIZE_MAX)
    };
    let mut heap: BinaryHeap<ListEntry> = BinaryHeap::with_capacity(page_size + 1);
    for mp in mps {
        let root = fqn::obj_dir(&mp.path, bucket);
        let mut stack: Vec<(PathBuf, String)> = vec![(root, String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("readdir", &dir, e)),
            };
            for ent in rd {
                let ent = ent.map_err(|e| StoreError::io("readdir", &dir, e))?;
                let Some(fname) = ent.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let name = if rel.is_empty() {
                    fname
                } else {
                    format!("{rel}/{fname}")
                };
                let ft = ent
                    .file_type()
                    .map_err(|e| StoreError::io("stat", &ent.path(), e))?;
                if ft.is_dir() {
                    let as_prefix = format!("{name}/");
                    // Enter only if some name under it can match the prefix.
                    if as_prefix.starts_with(&q.prefix) || q.prefix.starts_with(&as_prefix) {
                        stack.push((ent.path(), name));
                    }
                    continue;
                }
                if !ft.is_file()
                    || !name.starts_with(&q.prefix)
                    || name.as_str() <= q.after.as_str()
                {
                    continue;
                }
                if heap.len() == page_size && heap.peek().is_some_and(|top| name >= top.name) {
                    continue;
                }
                let path = ent.path();
                let md = match ent.metadata() {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // deleted meanwhile
                    Err(e) => return Err(StoreError::io("stat", &path, e)),
                };
                let mut e = ListEntry {
                    name,
                    size: md.len(),
                    atime_ns: std::os::unix::fs::MetadataExt::atime(&md) * 1_000_000_000
                        + std::os::unix::fs::MetadataExt::atime_nsec(&md),
                    location: mp.path.to_string_lossy().to_string(),
                    ..Default::default()
                };
                if q.with_lom {
                    let mut buf = Vec::new();
                    if let Ok(true) = sys::getxattr(&path, XATTR_LOM, &mut buf) {
                        if let Ok(lom) = Lom::decode(&buf) {
                            e.checksum = lom.cksum_value;
                            e.version = lom.version.clone().unwrap_or_default();
                            e.custom = custom::custom_for_listing(&lom.custom);
                        }
                    }
                }
                heap.push(e);
                if heap.len() > page_size {
                    heap.pop();
                }
            }
        }
    }
    let full = heap.len() == page_size;
    let entries = heap.into_sorted_vec();
    let continuation_token = if full {
        entries.last().map(|e| e.name.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    Ok(ListPage {
        entries,
        continuation_token,
    })
}
