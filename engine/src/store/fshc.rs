//! Filesystem health check (AIS's FSHC, `fs/health/fshc.go`): an I/O error of a kind that may
//! mean a failing disk (EIO, a mountpath gone, a read-only or broken filesystem, ...) wakes a
//! check of that mountpath on a thread of its own: the root is still a directory holding this
//! node's volume metadata (an unmounted filesystem leaves an empty folder, or nothing), a few
//! existing files read back, a few temporary files write, sync and read back. A faulted root,
//! or read/write errors reaching `error_limit` on two passes, takes the mountpath out of the set
//! (`faulty`, persisted in the VMD of the others) and starts a resilver of the rest, which
//! restores mirrored objects' copies from their surviving replicas. One check per mountpath
//! at a time, and at most one per `min_interval` unless asked for (`fshc-mp`).
//!
//! Out of space (ENOSPC, EDQUOT) is not a disk fault here (AIS counts it, then its check may
//! disable a full disk): a full mountpath answers 507 and keeps serving reads.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::{Store, StoreError};
use crate::mountpath::Mountpath;
use crate::vmd::Vmd;

/// Folder of the write test's files, below the mountpath root.
pub const FSHC_DIR: &str = ".aisle.fshc";
/// Size of each test file written (AIS `tmpSize`).
const TEST_FILE_BYTES: usize = 1 << 20;
/// Most existing files read in one pass (AIS `maxNumFiles`).
const READ_FILES_MAX: usize = 100;
/// Files looked at, at most, to pick the ones read.
const READ_CANDIDATES_MAX: usize = 1000;

/// The check's settings (AIS `fshc` config: `test_files`, `error_limit`; AIS runs a
/// mountpath's check at most every 4 minutes).
#[derive(Debug, Clone)]
pub struct FshcConf {
    pub enabled: bool,
    /// Existing files read and temporary files written per pass (AIS minimum 4).
    pub test_files: usize,
    /// Read plus write errors in a pass that fault the mountpath (AIS minimum 2).
    pub error_limit: usize,
    /// Least time between two checks of one mountpath triggered by errors.
    pub min_interval: Duration,
}

impl Default for FshcConf {
    fn default() -> Self {
        FshcConf {
            enabled: true,
            test_files: 4,
            error_limit: 2,
            min_interval: Duration::from_secs(240),
        }
    }
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FshcVerdict {
    /// No read or write error.
    Healthy,
    /// Some errors, under the limit: logged, the mountpath stays.
    Degraded(String),
    /// The root is gone or not ours, or the errors reached the limit: taken out of the set.
    Faulted(String),
}

/// Per-store state of the health checks.
#[derive(Default)]
pub(crate) struct FshcState {
    conf: Mutex<FshcConf>,
    /// Start of the last error-triggered check, per mountpath.
    last: Mutex<HashMap<PathBuf, Instant>>,
    running: Mutex<HashSet<PathBuf>>,
    /// Checks woken by I/O errors (AIS `err.fshc.n`).
    pub(crate) triggered: AtomicU64,
    /// Mountpaths the checks took out of the set.
    pub(crate) faulted: AtomicU64,
    me: OnceLock<Weak<Store>>,
}

impl FshcState {
    /// Marks a check of `path` running; false if one already is.
    fn claim(&self, path: &Path) -> bool {
        self.running
            .lock()
            .expect("fshc")
            .insert(path.to_path_buf())
    }

    fn release(&self, path: &Path) {
        self.running.lock().expect("fshc").remove(path);
    }
}

/// The stores that asked for health checks (one in a node; tests may open several).
static STORES: Mutex<Vec<Weak<Store>>> = Mutex::new(Vec::new());

/// Whether an error of this kind may mean a failing disk (AIS `cos.IsIOError`, without out of
/// space).
pub fn is_disk_error(e: &io::Error) -> bool {
    if e.get_ref()
        .is_some_and(|i| i.is::<crate::mountpath::NotOwnFs>())
    {
        return true; // a mountpath whose filesystem went away
    }
    matches!(
        e.raw_os_error(),
        Some(
            libc::EIO
                | libc::ENOTDIR
                | libc::EBUSY
                | libc::ENXIO
                | libc::EBADF
                | libc::EBADFD
                | libc::ENODEV
                | libc::EUCLEAN
                | libc::EROFS
                | libc::ESTALE
                | libc::ECANCELED
        )
    )
}

/// Called where an I/O error on `path` is turned into a `StoreError` (and by the resilver's
/// walkers): wakes the check of the mountpath holding `path`, in every store that enabled
/// them. Cheap when the error is of another kind.
pub(crate) fn report(path: &Path, err: &io::Error) {
    if !is_disk_error(err) {
        return;
    }
    let stores: Vec<Arc<Store>> = {
        let Ok(v) = STORES.lock() else { return };
        v.iter().filter_map(Weak::upgrade).collect()
    };
    for s in stores {
        let set = s.mountpaths();
        let mp = set.iter().find(|m| path.starts_with(&m.path)).cloned();
        if let Some(mp) = mp {
            s.fshc_trigger(&mp, Some(path));
        }
    }
}

impl Store {
    /// Turns the health checks on with `conf` (the node does, at start).
    pub fn enable_fshc(self: &Arc<Self>, conf: FshcConf) {
        *self.fshc.conf.lock().expect("fshc conf") = conf;
        if self.fshc.me.set(Arc::downgrade(self)).is_ok() {
            STORES
                .lock()
                .expect("fshc stores")
                .push(Arc::downgrade(self));
        }
    }

    /// Checks woken by I/O errors so far, and mountpaths faulted by a check.
    pub fn fshc_counts(&self) -> (u64, u64) {
        (
            self.fshc.triggered.load(Ordering::Relaxed),
            self.fshc.faulted.load(Ordering::Relaxed),
        )
    }

    /// Runs the check of the attached mountpath at `path` now (AIS `fshc-mp`) and acts on it.
    /// Blocking.
    pub fn fshc_now(self: &Arc<Self>, path: &Path) -> Result<FshcVerdict, StoreError> {
        let set = self.mountpaths();
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mp = set
            .by_path(&abs)
            .or_else(|| set.by_path(path))
            .cloned()
            .ok_or_else(|| StoreError::MountpathNotFound(path.display().to_string()))?;
        if !mp.holds_data() {
            return Err(StoreError::MountpathConflict(format!(
                "mountpath {} is not in use ({})",
                mp.path.display(),
                crate::vmd::state_word(mp.state)
            )));
        }
        if !self.fshc.claim(&mp.path) {
            return Err(StoreError::MountpathConflict(format!(
                "a health check of {} is already running",
                mp.path.display()
            )));
        }
        let v = self.fshc_check_and_act(&mp, None);
        self.fshc.release(&mp.path);
        Ok(v)
    }

    /// Starts a check of `mp` unless one runs or ran less than `min_interval` ago.
    fn fshc_trigger(&self, mp: &Arc<Mountpath>, fqn: Option<&Path>) {
        let conf = self.fshc.conf.lock().expect("fshc conf").clone();
        let Some(me) = self.fshc.me.get().and_then(Weak::upgrade) else {
            return;
        };
        if !conf.enabled || !mp.holds_data() {
            return;
        }
        let now = Instant::now();
        {
            let mut last = self.fshc.last.lock().expect("fshc");
            if last
                .get(&mp.path)
                .is_some_and(|t| now.duration_since(*t) < conf.min_interval)
            {
                return;
            }
            if !self.fshc.claim(&mp.path) {
                return;
            }
            last.insert(mp.path.clone(), now);
        }
        self.fshc.triggered.fetch_add(1, Ordering::Relaxed);
        tracing::error!(mountpath = %mp.path.display(), file = ?fqn, "I/O error: waking the filesystem health check");
        let (mpc, fqn) = (mp.clone(), fqn.map(Path::to_path_buf));
        let spawned = std::thread::Builder::new()
            .name("fshc".into())
            .spawn(move || {
                me.fshc_check_and_act(&mpc, fqn.as_deref());
                me.fshc.release(&mpc.path);
            });
        if let Err(e) = spawned {
            tracing::warn!("fshc thread: {e}");
            self.fshc.release(&mp.path);
        }
    }

    fn fshc_check_and_act(self: &Arc<Self>, mp: &Mountpath, fqn: Option<&Path>) -> FshcVerdict {
        let conf = self.fshc.conf.lock().expect("fshc conf").clone();
        let node_id = self.node_id();
        let v = check(mp, fqn, &conf, &node_id);
        match &v {
            FshcVerdict::Healthy => {
                tracing::info!(mountpath = %mp.path.display(), "health check: healthy");
            }
            FshcVerdict::Degraded(why) => {
                tracing::warn!(mountpath = %mp.path.display(), "health check: errors under the limit, kept: {why}");
            }
            FshcVerdict::Faulted(why) => {
                tracing::error!(mountpath = %mp.path.display(), "health check: FAULTED, taking it out: {why}");
                match self.fault_mountpath(&mp.path) {
                    Ok(true) => {
                        self.fshc.faulted.fetch_add(1, Ordering::Relaxed);
                        self.resilver_and_settle(&format!("fshc: {} faulted", mp.path.display()));
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(mountpath = %mp.path.display(), "health check: cannot take it out: {e}");
                    }
                }
            }
        }
        v
    }
}

/// The check itself (blocking): root, then up to two read/write passes.
fn check(mp: &Mountpath, fqn: Option<&Path>, conf: &FshcConf, node_id: &str) -> FshcVerdict {
    let root = &mp.path;
    match std::fs::metadata(root) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return FshcVerdict::Faulted(format!("{} is not a directory", root.display())),
        Err(e) => return FshcVerdict::Faulted(format!("{}: {e}", root.display())),
    }
    if let Err(e) = std::fs::read_dir(root) {
        return FshcVerdict::Faulted(format!("{}: {e}", root.display()));
    }
    // An unmounted filesystem leaves the folder it was mounted on: not ours.
    match Vmd::load(root) {
        Ok(Some(v)) if v.node_id == node_id => {}
        Ok(Some(v)) => {
            return FshcVerdict::Faulted(format!(
                "{} holds the volume metadata of node {:?}",
                root.display(),
                v.node_id
            ))
        }
        Ok(None) => {
            return FshcVerdict::Faulted(format!(
                "{} holds no volume metadata (is its filesystem still mounted?)",
                root.display()
            ))
        }
        Err(e) => return FshcVerdict::Faulted(e),
    }
    // A second pass with more files (AIS doubles them, and allows one more error then).
    let (files, limit) = (conf.test_files.max(1), conf.error_limit.max(1));
    let passes = [
        (files, limit),
        ((files * 2).clamp(files + 2, READ_FILES_MAX), limit + 1),
    ];
    let mut why = String::new();
    for (pass, (files, limit)) in passes.into_iter().enumerate() {
        let (rerrs, werrs, fatal) = read_write(root, fqn, files);
        if let Some(f) = fatal {
            return FshcVerdict::Faulted(f);
        }
        if rerrs.is_empty() && werrs.is_empty() {
            return FshcVerdict::Healthy;
        }
        why = format!(
            "pass {}: {} read error(s) {:?}, {} write error(s) {:?} (limit {limit})",
            pass + 1,
            rerrs.len(),
            rerrs,
            werrs.len(),
            werrs
        );
        if rerrs.len() + werrs.len() < limit {
            return FshcVerdict::Degraded(why);
        }
    }
    FshcVerdict::Faulted(why)
}

/// One pass: the file that failed, `n` existing files, `n` written test files. Returns the
/// read and write errors (of the disk kinds) and a fatal finding (the test folder cannot be
/// made).
fn read_write(
    root: &Path,
    fqn: Option<&Path>,
    n: usize,
) -> (Vec<String>, Vec<String>, Option<String>) {
    let (mut rerrs, mut werrs) = (Vec::new(), Vec::new());
    let note = |v: &mut Vec<String>, p: &Path, e: io::Error| {
        if is_disk_error(&e) {
            v.push(format!("{}: {e}", p.display()));
        }
    };
    if let Some(f) = fqn.filter(|f| f.is_file()) {
        if let Err(e) = read_all(f) {
            note(&mut rerrs, f, e);
        }
    }
    for f in sample_files(root, n) {
        if let Err(e) = read_all(&f) {
            note(&mut rerrs, &f, e);
        }
    }
    let dir = root.join(FSHC_DIR);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        if is_disk_error(&e) {
            return (rerrs, werrs, Some(format!("{}: {e}", dir.display())));
        }
        werrs.push(format!("{}: {e}", dir.display()));
        return (rerrs, werrs, None);
    }
    let data: Vec<u8> = (0..TEST_FILE_BYTES).map(|i| (i * 7 + 13) as u8).collect();
    for i in 0..n {
        let p = dir.join(format!("t{}.{i}", std::process::id()));
        let r = (|| {
            let mut f = std::fs::File::create(&p)?;
            f.write_all(&data)?;
            f.sync_all()?;
            drop(f);
            let back = std::fs::read(&p)?;
            if back != data {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            Ok(())
        })();
        let _ = std::fs::remove_file(&p);
        if let Err(e) = r {
            note(&mut werrs, &p, e);
        }
    }
    let _ = std::fs::remove_dir(&dir);
    (rerrs, werrs, None)
}

fn read_all(p: &Path) -> io::Result<()> {
    let mut f = std::fs::File::open(p)?;
    let mut buf = vec![0u8; 1 << 16];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// Up to `n` regular files below `root`'s bucket folders, spread over what a bounded walk
/// finds.
fn sample_files(root: &Path, n: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.join(crate::fqn::PROVIDER_DIR)];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for ent in rd.flatten() {
            match ent.file_type() {
                Ok(t) if t.is_dir() => stack.push(ent.path()),
                Ok(t) if t.is_file() => found.push(ent.path()),
                _ => {}
            }
            if found.len() >= READ_CANDIDATES_MAX {
                break;
            }
        }
        if found.len() >= READ_CANDIDATES_MAX {
            break;
        }
    }
    if found.len() <= n {
        return found;
    }
    let step = found.len() / n;
    found.into_iter().step_by(step.max(1)).take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_errors_are_told_from_others() {
        for e in [libc::EIO, libc::ENOTDIR, libc::EROFS, libc::EUCLEAN] {
            assert!(is_disk_error(&io::Error::from_raw_os_error(e)), "{e}");
        }
        for e in [
            libc::ENOENT,
            libc::ENOSPC,
            libc::EDQUOT,
            libc::EACCES,
            libc::EEXIST,
        ] {
            assert!(!is_disk_error(&io::Error::from_raw_os_error(e)), "{e}");
        }
        // A file found on another filesystem than its mountpath's (`Mountpath::check_fs`).
        let mut mp = Mountpath::new(crate::mountpath::MountpathId::new(0), std::env::temp_dir());
        mp.dev = mp.dev.wrapping_add(1);
        let md = std::fs::metadata(std::env::temp_dir()).unwrap();
        let e = mp
            .check_fs(&md, &std::env::temp_dir())
            .expect_err("another");
        assert!(is_disk_error(&e), "{e}");
    }

    #[test]
    fn a_root_without_this_nodes_vmd_is_faulted_and_a_good_one_healthy() {
        let t = std::env::temp_dir().join(format!("aisle-fshc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        std::fs::create_dir_all(&t).unwrap();
        let mp = Mountpath::new(crate::mountpath::MountpathId::new(0), t.clone());
        let conf = FshcConf::default();
        assert!(
            matches!(check(&mp, None, &conf, "n1"), FshcVerdict::Faulted(w) if w.contains("no volume metadata"))
        );
        let vmd = Vmd {
            version: 1,
            node_id: "n1".into(),
            mountpaths: Vec::new(),
            detached: Vec::new(),
        };
        vmd.store(&t).unwrap();
        std::fs::create_dir_all(t.join("@ais/b/%ob")).unwrap();
        std::fs::write(t.join("@ais/b/%ob/o"), b"x").unwrap();
        assert_eq!(check(&mp, None, &conf, "n1"), FshcVerdict::Healthy);
        assert!(!t.join(FSHC_DIR).exists(), "test files removed");
        assert!(
            matches!(check(&mp, None, &conf, "n2"), FshcVerdict::Faulted(w) if w.contains("of node"))
        );
        std::fs::remove_dir_all(&t).unwrap();
        std::fs::write(&t, b"not a directory").unwrap();
        assert!(
            matches!(check(&mp, None, &conf, "n1"), FshcVerdict::Faulted(w) if w.contains("not a directory"))
        );
        std::fs::remove_file(&t).unwrap();
    }
}
