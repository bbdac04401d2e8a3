//! The mountpath lifecycle: the set at open (the newest VMD merged with the start-up list) and
//! its changes at run time — attach, enable, disable, detach, rescan — each persisted in the
//! VMD on every writable mountpath before it takes effect, then resilvered.
//!
//! Invariants:
//! - Set changes are serialised (`mp_txn`) and each builds a new `MountpathSet` with the next
//!   version; cores pick it up on their next request (`CoreView::refresh`).
//! - A change is persisted before it is swapped in: if the VMD cannot be written nowhere, the
//!   set stays as it was and the request fails.
//! - Detach and disable first take the mountpath out of placement (`Detaching`/`Disabling`: its
//!   objects are still read and walked), resilver, and only a resilver that ended without
//!   errors or abort finishes them (`settle`); a preempted one leaves that to the next.
//! - The last enabled mountpath is never detached or disabled.
//! - No mountpath is nested in another; a mountpath whose VMD names another node is refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Store, StoreError};
use crate::mountpath::{probe, Mountpath, MountpathId, MountpathSet, MpState};
use crate::vmd::{parse_state, state_word, Vmd, VmdEntry};
use crate::xact::{Xact, XactState};

/// New resilver runs after one that ended with errors, before a detach/disable waits for the
/// operator.
const SETTLE_RETRIES: u32 = 2;

/// What the node remembers about its set besides the set itself.
#[derive(Debug)]
pub(super) struct MpMeta {
    /// The node the mountpaths belong to.
    pub node_id: String,
    /// Version of the last VMD written.
    pub vmd_version: u64,
    /// Paths detached at run time.
    pub detached: Vec<String>,
    /// Next mountpath id (ids are never reused while the process runs).
    pub next_id: usize,
}

/// The outcome of a mountpath request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpChange {
    /// Nothing to do (already in the asked state).
    Unchanged,
    /// Changed; placement is as before (no resilver needed).
    Changed,
    /// Changed placement: a resilver restores it (unless the caller skips it).
    NeedsResilver,
}

fn nested(a: &Path, b: &Path) -> bool {
    a != b && (a.starts_with(b) || b.starts_with(a))
}

impl Store {
    /// The start set: the newest VMD among `cli`'s paths (probed, canonical) with each
    /// mountpath's recorded state, plus the paths of `cli` it does not know (attached now,
    /// except those detached at run time). A recorded path that fails its probe comes back
    /// `Faulty`. The node id is the VMD's, else `default_id`.
    pub(super) fn initial_set(
        cli: &[PathBuf],
        default_id: &str,
    ) -> Result<(MountpathSet, MpMeta), StoreError> {
        let vmd = Vmd::load_newest(cli);
        let node_id = vmd
            .as_ref()
            .map(|v| v.node_id.clone())
            .unwrap_or_else(|| default_id.to_string());
        let mut list: Vec<Arc<Mountpath>> = Vec::new();
        let add = |list: &mut Vec<Arc<Mountpath>>, p: PathBuf, st: MpState| {
            let m = Mountpath::new(MountpathId::new(list.len()), p).with_state(st);
            list.push(Arc::new(m));
        };
        let detached = vmd.as_ref().map(|v| v.detached.clone()).unwrap_or_default();
        if let Some(v) = &vmd {
            for e in &v.mountpaths {
                let p = PathBuf::from(&e.path);
                let st = parse_state(&e.state).unwrap_or(MpState::Faulty);
                let st = match probe(&p) {
                    Ok(abs) if abs == p => st,
                    Ok(abs) => {
                        tracing::warn!(path = %p.display(), now = %abs.display(), "recorded mountpath resolves elsewhere: faulty");
                        MpState::Faulty
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "recorded mountpath unusable: faulty");
                        MpState::Faulty
                    }
                };
                add(&mut list, p, st);
            }
        }
        for p in cli {
            let s = p.to_string_lossy();
            if list.iter().any(|m| m.path == *p) {
                continue;
            }
            if detached.iter().any(|d| *d == s) {
                tracing::warn!(path = %s, "mountpath was detached at run time: not attached again from the start-up list (attach it through the API)");
                continue;
            }
            add(&mut list, p.clone(), MpState::Enabled);
        }
        for m in &list {
            if m.state == MpState::Faulty {
                continue;
            }
            if let Some(o) = list
                .iter()
                .find(|o| o.state != MpState::Faulty && nested(&m.path, &o.path))
            {
                return Err(StoreError::BadMountpath(format!(
                    "mountpaths {} and {} are nested (one holds the other)",
                    m.path.display(),
                    o.path.display()
                )));
            }
            match Vmd::load(&m.path) {
                Ok(Some(v)) if v.node_id != node_id => {
                    return Err(StoreError::MountpathConflict(format!(
                        "mountpath {} belongs to node {:?}, not {node_id:?}",
                        m.path.display(),
                        v.node_id
                    )))
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "unreadable VMD copy (rewritten)"),
            }
        }
        if !list.iter().any(|m| m.is_enabled()) {
            return Err(StoreError::NoMountpaths);
        }
        let next_id = list.len();
        let meta = MpMeta {
            node_id,
            vmd_version: vmd.map(|v| v.version).unwrap_or(0),
            detached,
            next_id,
        };
        Ok((MountpathSet::from_list(1, list), meta))
    }

    /// The node's id (from the VMD, or the default it was opened with).
    pub fn node_id(&self) -> String {
        self.mp_txn.lock().expect("mp lock").node_id.clone()
    }

    /// Writes the VMD of `set` on every mountpath that is not faulty. Fails only if it could
    /// be written nowhere.
    pub(super) fn persist_vmd(
        &self,
        meta: &mut MpMeta,
        set: &MountpathSet,
    ) -> Result<(), StoreError> {
        let vmd = Vmd {
            version: meta.vmd_version + 1,
            node_id: meta.node_id.clone(),
            mountpaths: set
                .iter()
                .map(|m| VmdEntry {
                    path: m.path.to_string_lossy().to_string(),
                    state: state_word(m.state).to_string(),
                })
                .collect(),
            detached: meta.detached.clone(),
        };
        let mut written = 0;
        let mut last_err = None;
        for m in set.iter().filter(|m| m.state != MpState::Faulty) {
            match vmd.store(&m.path) {
                Ok(()) => written += 1,
                Err(e) => {
                    tracing::warn!(mountpath = %m.path.display(), error = %e, "writing the VMD failed");
                    last_err = Some(StoreError::io("store vmd", &m.path, e));
                }
            }
        }
        if written == 0 {
            return Err(last_err.unwrap_or(StoreError::NoMountpaths));
        }
        meta.vmd_version = vmd.version;
        Ok(())
    }

    /// Persists and swaps in the set of `list`.
    fn commit_set(&self, meta: &mut MpMeta, list: Vec<Arc<Mountpath>>) -> Result<(), StoreError> {
        let next = MountpathSet::from_list(self.mountpaths().version() + 1, list);
        self.persist_vmd(meta, &next)?;
        *self.mountpaths.write().expect("mountpaths lock") = Arc::new(next);
        self.changed();
        Ok(())
    }

    fn find_attached(set: &MountpathSet, path: &Path) -> Result<Arc<Mountpath>, StoreError> {
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        set.by_path(&abs)
            .or_else(|| set.by_path(path))
            .cloned()
            .ok_or_else(|| StoreError::MountpathNotFound(path.display().to_string()))
    }

    /// Attaches the directory at `path` as a new, enabled mountpath. Blocking.
    pub fn attach_mountpath(&self, path: &Path) -> Result<MpChange, StoreError> {
        let mut meta = self.mp_txn.lock().expect("mp lock");
        let abs = probe(path).map_err(|e| StoreError::BadMountpath(e.to_string()))?;
        let set = self.mountpaths();
        if let Some(m) = set.by_path(&abs) {
            return Err(StoreError::MountpathConflict(format!(
                "mountpath {} is already attached ({})",
                abs.display(),
                state_word(m.state)
            )));
        }
        if let Some(o) = set.iter().find(|o| nested(&abs, &o.path)) {
            return Err(StoreError::BadMountpath(format!(
                "{} and mountpath {} are nested (one holds the other)",
                abs.display(),
                o.path.display()
            )));
        }
        match Vmd::load(&abs) {
            Ok(Some(v)) if v.node_id != meta.node_id => {
                return Err(StoreError::MountpathConflict(format!(
                    "{} belongs to node {:?} (its {}), not to this node {:?}",
                    abs.display(),
                    v.node_id,
                    crate::vmd::VMD_FILE,
                    meta.node_id
                )))
            }
            Ok(_) => {}
            Err(e) => {
                return Err(StoreError::BadMountpath(format!(
                    "unreadable volume metadata: {e}"
                )))
            }
        }
        let bmd = self.bmd();
        bmd.store(&abs)
            .map_err(|e| StoreError::io("store bmd", &abs, e))?;
        for b in bmd.buckets.keys() {
            for d in [crate::fqn::obj_dir(&abs, b), crate::fqn::work_dir(&abs, b)] {
                std::fs::create_dir_all(&d).map_err(|e| StoreError::io("mkdir", &d, e))?;
            }
        }
        let m = Mountpath::new(MountpathId::new(meta.next_id), abs.clone());
        let mut list = set.to_list();
        list.push(Arc::new(m));
        let s = abs.to_string_lossy().to_string();
        meta.detached.retain(|d| *d != s);
        self.commit_set(&mut meta, list)?;
        meta.next_id += 1;
        tracing::info!(mountpath = %abs.display(), "mountpath attached");
        Ok(MpChange::NeedsResilver)
    }

    /// Sets the state of the mountpath at `path` to `to` (checks done by the callers).
    fn set_state(&self, meta: &mut MpMeta, id: MountpathId, to: MpState) -> Result<(), StoreError> {
        let list = self
            .mountpaths()
            .iter()
            .map(|m| {
                if m.id == id {
                    Arc::new(m.with_state(to))
                } else {
                    m.clone()
                }
            })
            .collect();
        self.commit_set(meta, list)
    }

    fn refuse_last(set: &MountpathSet, m: &Mountpath, what: &str) -> Result<(), StoreError> {
        if m.is_enabled() && !set.iter().any(|o| o.id != m.id && o.is_enabled()) {
            return Err(StoreError::MountpathConflict(format!(
                "cannot {what} {}: it is the last enabled mountpath",
                m.path.display()
            )));
        }
        Ok(())
    }

    /// Enables a disabled (or faulty, or being detached/disabled) mountpath. Blocking.
    pub fn enable_mountpath(&self, path: &Path) -> Result<MpChange, StoreError> {
        let mut meta = self.mp_txn.lock().expect("mp lock");
        let m = Store::find_attached(&self.mountpaths(), path)?;
        if m.is_enabled() {
            return Ok(MpChange::Unchanged);
        }
        probe(&m.path).map_err(|e| StoreError::BadMountpath(e.to_string()))?;
        // It may have missed bucket changes while faulty.
        self.bmd()
            .store(&m.path)
            .map_err(|e| StoreError::io("store bmd", &m.path, e))?;
        self.set_state(&mut meta, m.id, MpState::Enabled)?;
        tracing::info!(mountpath = %m.path.display(), "mountpath enabled");
        Ok(MpChange::NeedsResilver)
    }

    /// Disables a mountpath: with `resilver`, out of placement now and `Disabled` once a
    /// resilver moved its objects off; without, `Disabled` at once (its objects unread until
    /// it is enabled again). Blocking.
    pub fn disable_mountpath(&self, path: &Path, resilver: bool) -> Result<MpChange, StoreError> {
        let mut meta = self.mp_txn.lock().expect("mp lock");
        let set = self.mountpaths();
        let m = Store::find_attached(&set, path)?;
        let to = if resilver {
            MpState::Disabling
        } else {
            MpState::Disabled
        };
        if m.state == MpState::Disabled || m.state == to {
            return Ok(MpChange::Unchanged);
        }
        Store::refuse_last(&set, &m, "disable")?;
        self.set_state(&mut meta, m.id, to)?;
        tracing::info!(mountpath = %m.path.display(), state = state_word(to), "mountpath disabled");
        Ok(if resilver {
            MpChange::NeedsResilver
        } else {
            MpChange::Changed
        })
    }

    /// Takes a failing mountpath out of the set (the health check's verdict): `faulty`, out of
    /// placement and never read or walked, recorded in the VMD of the others. Never the last
    /// enabled one. Returns whether it changed. Blocking.
    pub fn fault_mountpath(&self, path: &Path) -> Result<bool, StoreError> {
        let mut meta = self.mp_txn.lock().expect("mp lock");
        let set = self.mountpaths();
        let m = Store::find_attached(&set, path)?;
        if m.state == MpState::Faulty {
            return Ok(false);
        }
        Store::refuse_last(&set, &m, "take out")?;
        self.set_state(&mut meta, m.id, MpState::Faulty)?;
        tracing::error!(mountpath = %m.path.display(), "mountpath faulty (taken out by the health check)");
        Ok(true)
    }

    /// Detaches a mountpath: with `resilver`, out of placement now and removed from the set
    /// once a resilver moved its objects off; without, removed at once. Blocking.
    pub fn detach_mountpath(&self, path: &Path, resilver: bool) -> Result<MpChange, StoreError> {
        let mut meta = self.mp_txn.lock().expect("mp lock");
        let set = self.mountpaths();
        let m = Store::find_attached(&set, path)?;
        Store::refuse_last(&set, &m, "detach")?;
        if resilver && m.holds_data() {
            if m.state == MpState::Detaching {
                return Ok(MpChange::Unchanged);
            }
            self.set_state(&mut meta, m.id, MpState::Detaching)?;
            tracing::info!(mountpath = %m.path.display(), "mountpath detaching");
            return Ok(MpChange::NeedsResilver);
        }
        let list = set.iter().filter(|o| o.id != m.id).cloned().collect();
        meta.detached.push(m.path.to_string_lossy().to_string());
        if let Err(e) = self.commit_set(&mut meta, list) {
            meta.detached.pop();
            return Err(e);
        }
        // Its copy of the VMD still names the set it left: it is no longer one of ours to
        // keep current, but it stays this node's (it may be attached again).
        tracing::info!(mountpath = %m.path.display(), "mountpath detached");
        Ok(if m.is_enabled() {
            MpChange::NeedsResilver
        } else {
            MpChange::Changed
        })
    }

    /// Checks an attached mountpath again (directory, writable, user xattrs). Blocking.
    pub fn rescan_mountpath(&self, path: &Path) -> Result<MpChange, StoreError> {
        let m = Store::find_attached(&self.mountpaths(), path)?;
        probe(&m.path).map_err(|e| StoreError::BadMountpath(e.to_string()))?;
        Ok(MpChange::Unchanged)
    }

    /// Finishes pending detaches and disables: `Detaching` mountpaths leave the set,
    /// `Disabling` ones become `Disabled`. Called after a resilver that ended cleanly, with the
    /// set version it started on: if the set changed since, nothing is done (the resilver of
    /// that change settles it).
    pub fn settle_mountpaths(&self, started_on: u64) -> Result<usize, StoreError> {
        let mut meta = self.mp_txn.lock().expect("mp lock");
        let set = self.mountpaths();
        if set.version() != started_on {
            return Ok(0);
        }
        let pending: Vec<Arc<Mountpath>> = set
            .iter()
            .filter(|m| matches!(m.state, MpState::Detaching | MpState::Disabling))
            .cloned()
            .collect();
        if pending.is_empty() {
            return Ok(0);
        }
        let mut list = Vec::new();
        let detached_before = meta.detached.len();
        for m in set.iter() {
            match m.state {
                MpState::Detaching => meta.detached.push(m.path.to_string_lossy().to_string()),
                MpState::Disabling => list.push(Arc::new(m.with_state(MpState::Disabled))),
                _ => list.push(m.clone()),
            }
        }
        if let Err(e) = self.commit_set(&mut meta, list) {
            meta.detached.truncate(detached_before);
            return Err(e);
        }
        for m in &pending {
            tracing::info!(mountpath = %m.path.display(), was = state_word(m.state), "mountpath change finished");
        }
        Ok(pending.len())
    }

    /// Starts a resilver and, once it ends without errors or abort, settles pending detaches
    /// and disables (on a thread of its own). A run that ends with errors is followed by up to
    /// `SETTLE_RETRIES` new ones (the set unchanged); if errors remain, the mountpaths stay
    /// waiting: a file that could not be moved is never dropped with its mountpath.
    pub fn resilver_and_settle(self: &Arc<Self>, why: &str) -> Arc<Xact> {
        let started_on = self.mountpaths().version();
        let x = self.start_resilver(why);
        let (store, job) = (self.clone(), x.clone());
        std::thread::Builder::new()
            .name("resilver-settle".into())
            .spawn(move || {
                let mut job = job;
                let mut retries = 0;
                loop {
                    job.wait(None);
                    if job.state() != XactState::Finished {
                        return; // aborted: whoever preempted it settles
                    }
                    let errors = job.counters.snap().errors;
                    if errors == 0 {
                        break;
                    }
                    // A file may have been left behind: the mountpath cannot go yet. Most
                    // errors are races (a file changed under a walker) that a new pass does
                    // not meet; one that stays keeps the mountpath waiting (nothing lost).
                    if retries == SETTLE_RETRIES || store.mountpaths().version() != started_on {
                        tracing::warn!(
                            job = %job.id,
                            errors,
                            "resilver ended with errors: detaching/disabling mountpaths stay                              waiting (start a resilver to retry)"
                        );
                        return;
                    }
                    retries += 1;
                    job = store.start_resilver(&format!(
                        "retry {retries}/{SETTLE_RETRIES} after {errors} error(s) of {}",
                        job.id
                    ));
                }
                if let Err(e) = store.settle_mountpaths(started_on) {
                    tracing::warn!(error = %e, "finishing detach/disable failed");
                }
            })
            .expect("spawn settle thread");
        x
    }
}
