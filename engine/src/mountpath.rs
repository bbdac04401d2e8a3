//! Mountpaths (one per disk) as a concept of their own: the id, the state, what the node learnt
//! about the filesystem (direct I/O), the startup probe, and the versioned set that places
//! objects by HRW and that the cores snapshot.
//!
//! A `MountpathSet` is immutable once built: a change of the set (attach, detach, enable,
//! disable, a disk found faulty) builds a new set with the next version and the store swaps it
//! in; each core picks it up on its next request (`CoreView::refresh`). Runtime facts that are
//! learnt while serving (direct I/O works or not) live in the shared `Mountpath` behind an
//! `Arc`, so they survive a change of the set.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::hrw;

/// A mountpath's id: its position in the list the node was started with. Stable for the life
/// of the process; never reused for another path while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MountpathId(u32);

impl MountpathId {
    /// The id of the mountpath at `index` of the node's list.
    pub fn new(index: usize) -> MountpathId {
        MountpathId(u32::try_from(index).expect("fewer than 2^32 mountpaths"))
    }

    /// The index for per-mountpath tables (stats, ownership).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for MountpathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mp{}", self.0)
    }
}

/// Whether a mountpath takes part in placement, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpState {
    /// In placement: objects are written to and read from it.
    Enabled,
    /// Taken out by the operator; its data stays, it is not in placement.
    Disabled,
    /// Being detached: out of placement, its data being moved off; removed from the set once
    /// a resilver has moved everything (AIS "waiting_dd").
    Detaching,
    /// Being disabled: as `Detaching`, then `Disabled` (AIS "waiting_dd").
    Disabling,
    /// Taken out after I/O errors (the disk health check).
    Faulty,
}

/// What the node knows about direct I/O on a mountpath's filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DioState {
    /// Not tried yet.
    Unknown,
    /// A direct write worked.
    Works,
    /// The filesystem refused it (PUTs there stay buffered).
    Refused,
}

const DIO_UNKNOWN: u8 = 0;
const DIO_WORKS: u8 = 1;
const DIO_REFUSED: u8 = 2;

/// One mountpath of the node.
#[derive(Debug)]
pub struct Mountpath {
    /// Its id.
    pub id: MountpathId,
    /// Absolute, clean path.
    pub path: PathBuf,
    /// `hrw::path_digest` of the path string: its HRW identity.
    pub digest: u64,
    /// In placement or not.
    pub state: MpState,
    /// The filesystem (`st_dev`) found at `path` when the mountpath was attached or last
    /// enabled; 0 if it could not be read. A file made below the mountpath on another one
    /// (the folder left when its filesystem was unmounted) is refused: `check_fs`.
    pub dev: u64,
    dio: AtomicU8,
}

impl Mountpath {
    /// A mountpath at `path` (absolute and clean: the caller probed it), enabled.
    pub fn new(id: MountpathId, path: PathBuf) -> Mountpath {
        let digest = hrw::path_digest(&path.to_string_lossy());
        let dev = dev_of(&path);
        Mountpath {
            id,
            path,
            digest,
            state: MpState::Enabled,
            dev,
            dio: AtomicU8::new(DIO_UNKNOWN),
        }
    }

    /// The same mountpath in state `state` (what was learnt about direct I/O carries over).
    /// Enabling it takes the filesystem found at its path now as its own: the operator's
    /// enable says that filesystem is the right one.
    pub fn with_state(&self, state: MpState) -> Mountpath {
        let dev = match state {
            MpState::Enabled => dev_of(&self.path),
            _ => self.dev,
        };
        Mountpath {
            id: self.id,
            path: self.path.clone(),
            digest: self.digest,
            state,
            dev,
            dio: AtomicU8::new(self.dio.load(Ordering::Relaxed)),
        }
    }

    /// Checks that `md` (of a file or folder below this mountpath, just made or about to
    /// receive data) is on the mountpath's own filesystem. A filesystem unmounted underneath
    /// the node leaves its mount point, a plain folder of another filesystem, at the same
    /// path: data written there would be hidden (and lost to the node) once the disk is back.
    /// The error (`NotOwnFs`) counts as a disk error: it wakes the health check.
    pub fn check_fs(&self, md: &std::fs::Metadata, what: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        if self.dev == 0 || md.dev() == self.dev {
            return Ok(());
        }
        Err(std::io::Error::other(NotOwnFs {
            what: what.to_path_buf(),
            mountpath: self.path.clone(),
        }))
    }

    /// Whether objects are placed on it.
    pub fn is_enabled(&self) -> bool {
        self.state == MpState::Enabled
    }

    /// Whether it holds data that is read and walked: enabled, or being detached/disabled
    /// (out of placement, its objects still read until a resilver moved them off).
    pub fn holds_data(&self) -> bool {
        matches!(
            self.state,
            MpState::Enabled | MpState::Detaching | MpState::Disabling
        )
    }

    /// What is known about direct I/O here.
    pub fn dio(&self) -> DioState {
        match self.dio.load(Ordering::Relaxed) {
            DIO_WORKS => DioState::Works,
            DIO_REFUSED => DioState::Refused,
            _ => DioState::Unknown,
        }
    }

    /// Records the first verdict on direct I/O; later ones are ignored (the first PUT that
    /// found out decides). Returns whether this call decided it.
    pub fn note_dio(&self, works: bool) -> bool {
        let new = if works { DIO_WORKS } else { DIO_REFUSED };
        self.dio
            .compare_exchange(DIO_UNKNOWN, new, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// The filesystem of `p` (0 if it cannot be read).
fn dev_of(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).map_or(0, |m| m.dev())
}

/// A file or folder below a mountpath found on another filesystem than the mountpath's own.
#[derive(Debug)]
pub struct NotOwnFs {
    /// What was checked.
    pub what: PathBuf,
    /// The mountpath.
    pub mountpath: PathBuf,
}

impl fmt::Display for NotOwnFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not on the filesystem of mountpath {} (was it unmounted?)",
            self.what.display(),
            self.mountpath.display()
        )
    }
}

impl std::error::Error for NotOwnFs {}

/// The node's mountpaths at one moment: what placement ranks.
#[derive(Debug, Default)]
pub struct MountpathSet {
    version: u64,
    list: Vec<Arc<Mountpath>>,
}

impl MountpathSet {
    /// The first set of a run, over probed paths; ids follow the order given.
    pub fn new(paths: &[PathBuf]) -> MountpathSet {
        let list = paths
            .iter()
            .enumerate()
            .map(|(i, p)| Arc::new(Mountpath::new(MountpathId::new(i), p.clone())))
            .collect();
        MountpathSet { version: 1, list }
    }

    /// A set of `list` (ids unique, in id order) at `version`.
    pub fn from_list(version: u64, list: Vec<Arc<Mountpath>>) -> MountpathSet {
        MountpathSet { version, list }
    }

    /// The mountpaths as a list (to build the next set from).
    pub fn to_list(&self) -> Vec<Arc<Mountpath>> {
        self.list.clone()
    }

    /// The mountpath at `path` (absolute, clean), whatever its state.
    pub fn by_path(&self, path: &Path) -> Option<&Arc<Mountpath>> {
        self.list.iter().find(|m| m.path == path)
    }

    /// Its position in the set (the core that owns it is `position % cores`).
    pub fn position(&self, id: MountpathId) -> Option<usize> {
        self.list.iter().position(|m| m.id == id)
    }

    /// The core that owns each mountpath's background work, indexed by mountpath id: the
    /// mountpath at position i of the set belongs to core `i % cores` (ids not in the set: 0).
    /// Recomputed from the set alone, so every change re-shards.
    pub fn owners(&self, cores: usize) -> Vec<usize> {
        let len = self
            .list
            .iter()
            .map(|m| m.id.index() + 1)
            .max()
            .unwrap_or(0);
        let mut owners = vec![0; len];
        for (pos, m) in self.list.iter().enumerate() {
            owners[m.id.index()] = pos % cores.max(1);
        }
        owners
    }

    /// Bumped on every change of the set.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every mountpath, in id order, whatever its state.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Mountpath>> {
        self.list.iter()
    }

    /// How many mountpaths the set holds.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the set holds none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The mountpath with `id`.
    pub fn get(&self, id: MountpathId) -> Option<&Arc<Mountpath>> {
        self.list.iter().find(|m| m.id == id)
    }

    /// The HRW mountpath of an object digest among the enabled mountpaths (ties: the later
    /// one, as in AIS). The one placement: `hrw::select_by`.
    pub fn place(&self, obj_digest: u64) -> Option<&Arc<Mountpath>> {
        hrw::select_by(
            obj_digest,
            self.list
                .iter()
                .filter(|m| m.is_enabled())
                .map(|m| (m, m.digest)),
        )
    }
}

/// Why a directory cannot be a mountpath.
#[derive(Debug, thiserror::Error)]
#[error("mountpath {path}: {why}")]
pub struct ProbeError {
    /// The path as given.
    pub path: String,
    /// What is wrong, with the fix.
    pub why: String,
}

/// Checks that `p` can be a mountpath: an existing, writable directory whose filesystem keeps
/// user xattrs (object metadata lives in `user.ais.lom`). Returns its absolute, canonical path.
pub fn probe(p: &Path) -> Result<PathBuf, ProbeError> {
    let err = |why: String| ProbeError {
        path: p.display().to_string(),
        why,
    };
    let md = std::fs::metadata(p).map_err(|e| err(format!("{e} (create it first)")))?;
    if !md.is_dir() {
        return Err(err("is not a directory".into()));
    }
    let abs = std::fs::canonicalize(p).map_err(|e| err(e.to_string()))?;
    let probe = abs.join(format!(".aisle.probe.{}", std::process::id()));
    std::fs::write(&probe, b"probe").map_err(|e| err(format!("is not writable: {e}")))?;
    let xattr = std::fs::File::open(&probe).and_then(|f| {
        let fd = crate::io::Fd::from_owned(f.into());
        crate::io::sys::fsetxattr(&fd, "user.aisle.probe", b"1")
    });
    let _ = std::fs::remove_file(&probe);
    if let Err(e) = xattr {
        return Err(err(format!(
            "the filesystem does not support user xattrs ({e}); object metadata needs them (use \
             ext4 or xfs, or mount with user_xattr)"
        )));
    }
    Ok(abs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn placement_is_hrw_select_over_enabled_mountpaths() {
        // Goal: the set places exactly as `hrw::select` (the function tested against AIS's
        // vectors) over the enabled mountpaths' digests, and never on a disabled one.
        let paths: Vec<PathBuf> = (1..=4)
            .map(|i| PathBuf::from(format!("/ais/mp{i}")))
            .collect();
        let mut set = MountpathSet::new(&paths);
        let digests: Vec<u64> = set.iter().map(|m| m.digest).collect();
        for i in 0..2000u64 {
            let d = hrw::obj_digest("b", &format!("obj-{i}"));
            let want = hrw::select(d, &digests).expect("four mountpaths");
            assert_eq!(set.place(d).expect("enabled").id, MountpathId::new(want));
        }
        Arc::get_mut(&mut set.list[1]).expect("sole owner").state = MpState::Disabled;
        let enabled: Vec<usize> = vec![0, 2, 3];
        let ed: Vec<u64> = enabled.iter().map(|&i| digests[i]).collect();
        for i in 0..2000u64 {
            let d = hrw::obj_digest("b", &format!("obj-{i}"));
            let want = enabled[hrw::select(d, &ed).expect("three")];
            let got = set.place(d).expect("enabled");
            assert_eq!(got.id, MountpathId::new(want));
            assert_ne!(
                got.id,
                MountpathId::new(1),
                "a disabled mountpath is never chosen"
            );
        }
    }

    #[test]
    fn first_dio_verdict_wins() {
        let m = Mountpath::new(MountpathId::new(0), PathBuf::from("/x"));
        assert_eq!(m.dio(), DioState::Unknown);
        assert!(m.note_dio(false));
        assert!(
            !m.note_dio(true),
            "a later verdict does not change the first"
        );
        assert_eq!(m.dio(), DioState::Refused);
    }

    #[test]
    fn probe_refuses_missing_and_non_directories() {
        let e = probe(Path::new("/nonexistent/aisle-probe")).expect_err("missing");
        assert!(e.to_string().contains("create it first"), "{e}");
        let e = probe(Path::new("/proc/self/status")).expect_err("a file");
        assert!(e.to_string().contains("not a directory"), "{e}");
    }

    #[test]
    fn files_on_another_filesystem_are_refused() {
        // Goal: a mountpath remembers its filesystem; a file on another one (what an unmounted
        // disk leaves at the mount point) fails `check_fs` with an error the health check
        // counts as a disk error, and enabling takes the filesystem found now.
        let tmp = std::env::temp_dir();
        let mut m = Mountpath::new(MountpathId::new(0), tmp.clone());
        let here = std::fs::metadata(&tmp).unwrap();
        assert_ne!(m.dev, 0);
        m.check_fs(&here, &tmp).expect("its own filesystem");
        let proc = std::fs::metadata("/proc/self").unwrap();
        assert_ne!(proc.dev(), m.dev, "/proc is another filesystem");
        let e = m
            .check_fs(&proc, Path::new("/proc/self"))
            .expect_err("another");
        assert!(e.to_string().contains("was it unmounted"), "{e}");
        // What the health check's `is_disk_error` recognises.
        assert!(e.get_ref().is_some_and(|i| i.is::<NotOwnFs>()), "{e}");
        m.dev = proc.dev();
        assert_eq!(m.with_state(MpState::Disabled).dev, proc.dev(), "kept");
        assert_eq!(
            m.with_state(MpState::Enabled).dev,
            here.dev(),
            "found again"
        );
    }
}
