//! The trash and leftovers: moving a bucket's directories aside (`.$deleted`), emptying a
//! mountpath's trash in the background, and the startup tidy that removes work files of dead
//! processes.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{now_ns, Store, StoreError};
use crate::fqn;
use crate::mountpath::MountpathId;

impl Store {
    /// Removes everything in a mountpath's trash (blocking; run it on the blocking pool).
    pub fn empty_trash_blocking(&self, id: MountpathId) -> io::Result<u64> {
        let mps = self.mountpaths();
        let Some(mp) = mps.get(id) else {
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
    pub(super) fn startup_tidy(&self) {
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
}

/// Moves `dir` (on `mp`) into `mp/.$deleted/` under a unique name; returns that name.
pub(super) fn move_aside(mp: &Path, dir: &Path) -> Result<std::path::PathBuf, StoreError> {
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
    std::fs::rename(dir, &dst).map_err(|e| StoreError::io("rename", dir, e))?;
    Ok(dst)
}
