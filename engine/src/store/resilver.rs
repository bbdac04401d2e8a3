//! Resilver (AIS §5): after a change of the mountpath set, move every object that is not on its
//! HRW mountpath to it. `Store::start_resilver` preempts a running resilver, writes the marker
//! `.aisle.markers/resilver` on every data-holding mountpath, registers a `resilver` job and
//! starts one jogger thread per data-holding mountpath (niced, pinned to the CPU of the core
//! that owns the mountpath) that walks `%ob` of every bucket with plain blocking syscalls.
//!
//! Invariants:
//! - Never a moment without a good copy: the data is copied (or hard-linked) to the destination
//!   first; the source is unlinked only after the destination is in place under its own name.
//! - The commit is `renameat2(RENAME_NOREPLACE)`: if the destination exists a PUT won, the
//!   source is stale and is removed; the resilver never replaces a live object.
//! - The commit steps (source check, rename, unlink of the source) run under the object lock
//!   (`Store::try_obj_lock`), as DELETE's unlinks do: a DELETE and a move never interleave, so
//!   a deleted object never resurfaces from a copy made before the DELETE.
//! - A chunked object moves as a unit: chunks first (new names, old ones kept), then a new
//!   manifest and chunk 1 with the LOM; the old manifest and old chunks are removed last. A
//!   crash at any step leaves the old object readable plus orphans for space cleanup.
//! - The resilver never reads object content to verify it; the marker is removed only when a
//!   resilver finishes without being aborted, so an interrupted one resumes at the next start.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::mpu::CUSTOM_UFEST_ID;
use super::{Store, CUSTOM_ORIG_FNTL};
use crate::bmd::BucketProps;
use crate::io::{sys, Fd};
use crate::lom::{Lom, XATTR_LOM};
use crate::mountpath::{Mountpath, MountpathSet};
use crate::ufest::{self, Manifest};
use crate::xact::Xact;
use crate::{fqn, hrw, names};

/// Directory of the node's markers under each mountpath.
pub const MARKER_DIR: &str = ".aisle.markers";
/// The marker of a resilver that has not finished.
pub const MARKER_RESILVER: &str = "resilver";
/// The job kind (AIS's action name).
pub const KIND_RESILVER: &str = "resilver";
/// Test-only: with this set to `1` in the node's environment, the resilver copies data even
/// between directories of one filesystem (to exercise the copy path on plain directories).
pub const TEST_FORCE_COPY_ENV: &str = "AISLE_TEST_RESILVER_COPY";
/// Nice steps a jogger lowers itself by.
const JOGGER_NICE: i32 = 10;

/// The resilver's node-wide state.
#[derive(Default)]
pub(super) struct ResilverState {
    /// The last resilver started (running or ended).
    current: Mutex<Option<Arc<Xact>>>,
    /// The CPU of each core (`None`: not pinned).
    core_cpus: Mutex<Vec<Option<usize>>>,
    /// The marker was found when the store opened.
    interrupted: AtomicBool,
    /// Distinguishes the resilver's work files.
    seq: AtomicU64,
    /// Requests the node has served so far (`Store::set_foreground_probe`): while it grows,
    /// the joggers pace themselves.
    foreground: Mutex<Option<ForegroundProbe>>,
}

/// A count of the foreground requests served so far, readable from any thread.
pub type ForegroundProbe = Arc<dyn Fn() -> u64 + Send + Sync>;

/// How often a jogger looks at the foreground count.
const PACE_CHECK: std::time::Duration = std::time::Duration::from_millis(10);
/// The longest pause after one object.
const PACE_MAX: std::time::Duration = std::time::Duration::from_millis(100);
/// Bytes per second a jogger moves at most while foreground requests are served. Its copies
/// land in the page cache at memory speed; the disk work is the writeback that follows, which
/// competes with the requests, so the pace is by bytes, not by the time a copy took.
const PACE_BYTES_PER_SEC: u64 = 64 << 20;

/// A jogger's pace: while foreground requests are being served, it moves at most
/// `PACE_BYTES_PER_SEC` (and rests at least as long as each object's work took), as AIS
/// throttles its xactions under load; with no foreground traffic it runs flat out.
struct Pace {
    probe: Option<ForegroundProbe>,
    checked: std::time::Instant,
    seen: u64,
    busy: bool,
    /// Pauses taken and their total, for the log.
    pauses: u64,
    paused: std::time::Duration,
}

impl Pace {
    fn new(probe: Option<ForegroundProbe>) -> Pace {
        let seen = probe.as_ref().map_or(0, |p| p());
        Pace {
            probe,
            checked: std::time::Instant::now(),
            seen,
            busy: false,
            pauses: 0,
            paused: std::time::Duration::ZERO,
        }
    }

    /// After an object whose work took `work` and moved `bytes`.
    fn after(&mut self, work: std::time::Duration, bytes: u64) {
        let Some(p) = &self.probe else {
            return;
        };
        if self.checked.elapsed() >= PACE_CHECK {
            let n = p();
            self.busy = n != self.seen;
            self.seen = n;
            self.checked = std::time::Instant::now();
        }
        if self.busy && !work.is_zero() {
            let by_bytes = std::time::Duration::from_micros(
                bytes.saturating_mul(1_000_000) / PACE_BYTES_PER_SEC,
            );
            let d = work.max(by_bytes).min(PACE_MAX);
            std::thread::sleep(d);
            self.pauses += 1;
            self.paused += d;
        }
    }
}

impl ResilverState {
    /// The state at open: notes whether a marker was left on any of `mountpaths`.
    pub(super) fn at_open(mountpaths: &[PathBuf]) -> ResilverState {
        let s = ResilverState::default();
        let found = mountpaths.iter().any(|m| marker_path(m).exists());
        s.interrupted.store(found, Ordering::Relaxed);
        s
    }
}

/// `<mp>/.aisle.markers/resilver`.
pub fn marker_path(mp: &Path) -> PathBuf {
    mp.join(MARKER_DIR).join(MARKER_RESILVER)
}

fn write_marker(mp: &Path) -> io::Result<()> {
    let dir = mp.join(MARKER_DIR);
    std::fs::create_dir_all(&dir)?;
    let f = std::fs::File::create(marker_path(mp))?;
    f.sync_all()?;
    std::fs::File::open(&dir)?.sync_all()
}

fn remove_marker(mp: &Path) -> io::Result<()> {
    match std::fs::remove_file(marker_path(mp)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    std::fs::File::open(mp.join(MARKER_DIR))?.sync_all()
}

impl Store {
    /// Tells the store which CPU each core runs on (index: core), so a jogger runs on the CPU
    /// of the core that owns its mountpath (mountpath at position i: core `i % cores`).
    pub fn set_core_cpus(&self, cpus: Vec<Option<usize>>) {
        *self.resilver.core_cpus.lock().expect("core cpus lock") = cpus;
    }

    /// Gives the resilver a count of the foreground requests served so far: its joggers slow
    /// down while it grows (`Pace`).
    pub fn set_foreground_probe(&self, probe: ForegroundProbe) {
        *self.resilver.foreground.lock().expect("foreground lock") = Some(probe);
    }

    /// Whether a resilver marker was found at open: a resilver was interrupted (crash,
    /// restart, abort) and should be started again.
    pub fn resilver_interrupted(&self) -> bool {
        self.resilver.interrupted.load(Ordering::Relaxed)
    }

    /// The last resilver started, if any.
    pub fn resilver_current(&self) -> Option<Arc<Xact>> {
        self.resilver.current.lock().expect("resilver lock").clone()
    }

    /// Starts a resilver over the current mountpath set: aborts a running one (and waits for
    /// it to end), writes the markers, registers the job and starts the joggers. Blocks while
    /// a preempted resilver winds down: never call it on a core thread.
    pub fn start_resilver(self: &Arc<Self>, why: &str) -> Arc<Xact> {
        let mut cur = self.resilver.current.lock().expect("resilver lock");
        if let Some(old) = cur.take() {
            if old.abort(&format!("preempted: {why}")) {
                tracing::info!(id = %old.id, why, "resilver preempted");
            }
            old.wait(None);
        }
        let set = self.mountpaths();
        for mp in set.iter().filter(|m| m.holds_data()) {
            if let Err(e) = write_marker(&mp.path) {
                tracing::warn!(mountpath = %mp.path.display(), "resilver marker: {e}");
            }
        }
        let x = self.xacts().begin(KIND_RESILVER, None);
        *cur = Some(x.clone());
        drop(cur);
        tracing::info!(id = %x.id, why, "resilver started");
        let cpus = self
            .resilver
            .core_cpus
            .lock()
            .expect("core cpus lock")
            .clone();
        let force_copy = std::env::var(TEST_FORCE_COPY_ENV).is_ok_and(|v| v == "1");
        let store = self.clone();
        let job = x.clone();
        let run = move || {
            let mut joggers = Vec::new();
            for (pos, mp) in set.iter().enumerate().filter(|(_, m)| m.holds_data()) {
                let cpu = if cpus.is_empty() {
                    None
                } else {
                    cpus[pos % cpus.len()]
                };
                let mp_id = mp.id;
                let (store, jg, mp) = (store.clone(), job.clone(), mp.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("resilver-{mp_id}"))
                    .spawn(move || {
                        if let Some(c) = cpu {
                            if let Err(e) = sys::pin_to_cpu(c) {
                                tracing::warn!(cpu = c, "resilver jogger pin: {e}");
                            }
                        }
                        if let Err(e) = sys::nice_thread(JOGGER_NICE) {
                            tracing::warn!("resilver jogger nice: {e}");
                        }
                        let probe = store
                            .resilver
                            .foreground
                            .lock()
                            .expect("foreground lock")
                            .clone();
                        let j = Jogger {
                            store: &store,
                            x: &jg,
                            mp: &mp,
                            force_copy,
                            busy: Default::default(),
                            pace: std::cell::RefCell::new(Pace::new(probe)),
                        };
                        j.run();
                        let p = j.pace.borrow();
                        tracing::info!(mountpath = %mp.path.display(), pauses = p.pauses,
                            paused_ms = p.paused.as_millis() as u64, "resilver jogger paced");
                    });
                match spawned {
                    Ok(t) => joggers.push(t),
                    Err(e) => job.note_error(format!("starting a jogger for {mp_id}: {e}")),
                }
            }
            for t in joggers {
                if t.join().is_err() {
                    job.note_error("a resilver jogger panicked");
                }
            }
            // Chunk files a move made or left and no manifest uses (a move killed before
            // or after its commit): once every object is in place, each is known dead.
            for mp in set.iter().filter(|m| m.holds_data()) {
                if job.is_aborted() {
                    break;
                }
                sweep_chunks(&store, &job, &set, mp);
            }
            if !job.is_aborted() {
                for mp in store.mountpaths().iter() {
                    if let Err(e) = remove_marker(&mp.path) {
                        tracing::warn!(mountpath = %mp.path.display(), "resilver marker: {e}");
                    }
                }
            }
            let c = job.counters.snap();
            tracing::info!(id = %job.id, aborted = job.is_aborted(), objs = c.objs, bytes = c.bytes,
                visited = c.visited, skipped_busy = c.skipped_busy, errors = c.errors, "resilver ended");
            job.finish(None);
        };
        if let Err(e) = std::thread::Builder::new()
            .name("resilver".into())
            .spawn(run)
        {
            x.note_error(format!("starting the resilver: {e}"));
            x.finish(None);
        }
        x
    }
}

/// A file's identity as first seen: a move commits only if the source is still this file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ident {
    ino: u64,
    size: u64,
    mtime_ns: i64,
}

impl Ident {
    fn of(md: &std::fs::Metadata) -> Ident {
        Ident {
            ino: md.ino(),
            size: md.len(),
            mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        }
    }

    fn now(path: &Path) -> Option<Ident> {
        std::fs::symlink_metadata(path).ok().map(|m| Ident::of(&m))
    }
}

/// The object name of the file at `rel` (its path below `%ob`) with LOM `lom`: a shortened
/// file takes its name from the LOM, a folder marker is its directory's name with a `/`.
/// `None` if no valid object name results.
fn object_name(rel: &str, lom: &Lom) -> Option<String> {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    let name = if names::is_shortened_name(base) && !rel.contains('/') {
        lom.custom_get(CUSTOM_ORIG_FNTL)?.to_string()
    } else if base == fqn::DIR_MARKER {
        let dir = rel.strip_suffix(fqn::DIR_MARKER)?;
        if dir.is_empty() {
            return None;
        }
        dir.to_string()
    } else {
        rel.to_string()
    };
    names::validate_object_or_marker(&name).ok()?;
    Some(name)
}

/// The `copies` of a replica moved from `from` to `to`: `from` becomes `to`, entries not on an
/// enabled mountpath of `set` are dropped, duplicates removed (order kept).
fn rewrite_copies(copies: &[String], from: &Path, to: &Path, set: &MountpathSet) -> Vec<String> {
    let (from, to) = (from.to_string_lossy(), to.to_string_lossy());
    let mut out: Vec<String> = Vec::with_capacity(copies.len());
    for c in copies {
        let c = if *c == from {
            to.to_string()
        } else {
            c.clone()
        };
        let on_enabled = set
            .iter()
            .any(|m| m.is_enabled() && Path::new(&c).starts_with(&m.path));
        if on_enabled && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Whether the file with LOM `lom` at `own` is a mirror copy (its LOM lists its own FQN).
fn is_listed_copy(lom: &Lom, own: &Path) -> bool {
    let own = own.to_string_lossy();
    lom.copies.iter().any(|c| *c == own)
}

fn read_lom_at(path: &Path) -> io::Result<Option<Lom>> {
    let mut buf = Vec::new();
    if !sys::getxattr(path, XATTR_LOM, &mut buf)? {
        return Ok(None);
    }
    Ok(Lom::decode(&buf).ok())
}

fn set_lom(path: &Path, lom: &Lom) -> io::Result<()> {
    let md = lom
        .encode()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    sys::fsetxattr(&Fd::from_owned(f.into()), XATTR_LOM, &md)
}

fn sync_parent(p: &Path) {
    if let Some(dir) = p.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
}

/// Makes the folder of `p` (below mountpath `mp`) and checks it is on `mp`'s own filesystem:
/// a file renamed into it then is too (a rename does not cross filesystems).
fn mkdir_parent(mp: &Mountpath, p: &Path) -> io::Result<()> {
    match p.parent() {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            mp.check_fs(&std::fs::metadata(dir)?, dir)
        }
        None => Ok(()),
    }
}

/// The completed manifest of chunked object `obj` on `mp` whose id is `id` (`%ut/<obj>`, or
/// the intent record `%ut/<obj>.<id>`), with the file it was read from.
fn read_manifest(mp: &Path, bucket: &str, obj: &str, id: &str) -> Option<(Manifest, PathBuf)> {
    for p in [
        fqn::ufest_fqn(mp, bucket, obj, None),
        fqn::ufest_fqn(mp, bucket, obj, Some(id)),
    ] {
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        match Manifest::decode(&bytes) {
            Ok(m) if m.id == id && m.is_completed() && !m.chunks.is_empty() => return Some((m, p)),
            _ => continue,
        }
    }
    None
}

/// Removes the chunk files on `mp` that a resilver move made or left behind: a file named
/// as chunk `num` of upload `id` of an object whose completed manifest (at the object's HRW
/// place, with that same `id`) names another file for `num`, which exists. A move copies
/// chunks to their new places before its commit and removes the old ones after it; a kill on
/// either side leaves files no manifest will ever use. Chunks of other uploads (a multipart
/// upload in progress, a PUT being written) carry another id and are never touched here
/// (space cleanup judges those); so are shortened names, which do not show their upload.
fn sweep_chunks(store: &Store, x: &Xact, set: &MountpathSet, mp: &Mountpath) {
    let Ok(dev) = std::fs::metadata(&mp.path).map(|m| m.dev()) else {
        return; // gone: the walk already noted it
    };
    let bmd = store.bmd();
    for (bucket, props) in bmd.buckets.iter() {
        let cdir = fqn::chunk_dir(&mp.path, bucket);
        super::cleanup::walk(&cdir, dev, x, &mut |p, md| {
            if x.is_aborted() {
                return false;
            }
            if md.is_file() {
                x.counters.visited.fetch_add(1, Ordering::Relaxed);
                sweep_chunk(store, x, set, bucket, props.bid, &cdir, p);
            }
            true
        });
    }
}

/// One file of `sweep_chunks`.
fn sweep_chunk(
    store: &Store,
    x: &Xact,
    set: &MountpathSet,
    bucket: &str,
    bid: u64,
    cdir: &Path,
    p: &Path,
) {
    let Some(rel) = p.strip_prefix(cdir).ok().and_then(|r| r.to_str()) else {
        return;
    };
    let base = rel.rsplit('/').next().unwrap_or(rel);
    if names::is_shortened_name(base) {
        return;
    }
    let mut it = rel.rsplitn(3, '.');
    let (Some(num), Some(id), Some(name)) = (it.next(), it.next(), it.next()) else {
        return;
    };
    let Ok(num) = num.parse::<u16>() else {
        return;
    };
    if num < 2 || ufest::check_id(id).is_err() || names::validate_object_or_marker(name).is_err() {
        return;
    }
    let digest = hrw::obj_digest(bucket, name);
    let Some(main_mp) = set.place(digest) else {
        return;
    };
    // No move or completion of this object runs while the turn is held.
    let Some(_turn) = store.uploads.try_completion_turn(digest) else {
        return; // busy now: the next resilver or space cleanup
    };
    let Some((m, _)) = read_manifest(&main_mp.path, bucket, name, id) else {
        return; // not (yet) a completed object of this upload here
    };
    let ob = fqn::object_fqn(&main_mp.path, bucket, name);
    let ob_is_ours = matches!(read_lom_at(&ob), Ok(Some(l))
        if l.is_chunked() && l.bid() == bid && l.custom_get(CUSTOM_UFEST_ID) == Some(id));
    if !ob_is_ours {
        return;
    }
    let Some(used) = m.chunks.iter().find(|c| c.num == num) else {
        return;
    };
    let used = Path::new(&used.path);
    if used == p || !used.is_file() {
        return; // in use, or the only data of a chunk that is missing: kept
    }
    let size = std::fs::symlink_metadata(p).map(|m| m.len()).unwrap_or(0);
    match std::fs::remove_file(p) {
        Ok(()) => {
            x.counters.removed.fetch_add(1, Ordering::Relaxed);
            x.counters.removed_bytes.fetch_add(size, Ordering::Relaxed);
            tracing::debug!(path = %p.display(), "resilver: unused chunk removed");
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => x.note_error(format!("unlink {}: {e}", p.display())),
    }
}

/// One jogger: the walk of one mountpath.
struct Jogger<'a> {
    store: &'a Arc<Store>,
    x: &'a Xact,
    mp: &'a Arc<Mountpath>,
    force_copy: bool,
    /// Objects found busy (bucket, file, path below `%ob`): tried again after the walk.
    busy: std::cell::RefCell<Vec<(String, PathBuf, String)>>,
    /// Slows the walk while foreground requests are served.
    pace: std::cell::RefCell<Pace>,
}

/// Rounds of retries of busy objects after a jogger's walk (a stripe of the object lock can
/// be held by another object's short commit).
const BUSY_ROUNDS: u32 = 5;

/// Why a move did not happen (counted by the caller).
enum Skip {
    Busy,
    Error(String),
    /// Nothing to do, or a change under it (the next pass sees it).
    Quiet,
}

impl Jogger<'_> {
    fn run(&self) {
        if let Err(e) = std::fs::read_dir(&self.mp.path) {
            // Gone or failing (unmounted, EIO): recorded, the health check woken; the other
            // joggers go on.
            super::fshc::report(&self.mp.path, &e);
            self.x
                .note_error(format!("mountpath {}: {e}", self.mp.path.display()));
            return;
        }
        if matches!(crate::vmd::Vmd::load(&self.mp.path), Ok(None)) {
            // The folder is there but not its filesystem's volume metadata (unmounted?).
            let e = io::Error::from_raw_os_error(libc::ENODEV);
            super::fshc::report(&self.mp.path, &e);
            self.x.note_error(format!(
                "mountpath {}: no volume metadata (is its filesystem mounted?)",
                self.mp.path.display()
            ));
            return;
        }
        let bmd = self.store.bmd();
        for (bucket, props) in &bmd.buckets {
            if self.x.is_aborted() {
                return;
            }
            let root = fqn::obj_dir(&self.mp.path, bucket);
            let mut stack: Vec<(PathBuf, String)> = vec![(root, String::new())];
            while let Some((dir, rel)) = stack.pop() {
                let rd = match std::fs::read_dir(&dir) {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        super::fshc::report(&dir, &e);
                        self.x.note_error(format!("readdir {}: {e}", dir.display()));
                        continue;
                    }
                };
                for ent in rd {
                    if self.x.is_aborted() {
                        return;
                    }
                    let ent = match ent {
                        Ok(e) => e,
                        Err(e) => {
                            self.x.note_error(format!("readdir {}: {e}", dir.display()));
                            break;
                        }
                    };
                    let Some(fname) = ent.file_name().to_str().map(str::to_string) else {
                        continue;
                    };
                    let r = if rel.is_empty() {
                        fname
                    } else {
                        format!("{rel}/{fname}")
                    };
                    match ent.file_type() {
                        Ok(ft) if ft.is_dir() => stack.push((ent.path(), r)),
                        Ok(ft) if ft.is_file() => {
                            self.x.counters.visited.fetch_add(1, Ordering::Relaxed);
                            self.object(bucket, props, &ent.path(), &r);
                        }
                        Ok(_) => {}
                        Err(e) => self
                            .x
                            .note_error(format!("stat {}: {e}", ent.path().display())),
                    }
                }
            }
        }
        for round in 0..BUSY_ROUNDS {
            let busy = std::mem::take(&mut *self.busy.borrow_mut());
            if busy.is_empty() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1 << round));
            let bmd = self.store.bmd();
            for (bucket, path, rel) in busy {
                if self.x.is_aborted() {
                    return;
                }
                if let Some(props) = bmd.buckets.get(&bucket) {
                    self.object(&bucket, props, &path, &rel);
                }
            }
        }
        let left = self.busy.borrow().len() as u64;
        self.x
            .counters
            .skipped_busy
            .fetch_add(left, Ordering::Relaxed);
    }

    /// Looks at one object file and moves it if it is misplaced.
    fn object(&self, bucket: &str, props: &BucketProps, path: &Path, rel: &str) {
        let t0 = std::time::Instant::now();
        // (The job's byte counter: other joggers' moves meanwhile count too, so a jogger may
        // rest a little longer than its own bytes call for.)
        let b0 = self.x.counters.bytes.load(Ordering::Relaxed);
        let r = self.object_inner(bucket, props, path, rel);
        let moved = self
            .x
            .counters
            .bytes
            .load(Ordering::Relaxed)
            .saturating_sub(b0);
        self.pace.borrow_mut().after(t0.elapsed(), moved);
        match r {
            Ok(()) | Err(Skip::Quiet) => {}
            Err(Skip::Busy) => {
                self.busy.borrow_mut().push((
                    bucket.to_string(),
                    path.to_path_buf(),
                    rel.to_string(),
                ));
            }
            Err(Skip::Error(e)) => self.x.note_error(e),
        }
    }

    fn object_inner(
        &self,
        bucket: &str,
        props: &BucketProps,
        path: &Path,
        rel: &str,
    ) -> Result<(), Skip> {
        let err = |op: &str, p: &Path, e: io::Error| {
            super::fshc::report(p, &e);
            Skip::Error(format!("{op} {}: {e}", p.display()))
        };
        let md = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Skip::Quiet),
            Err(e) => return Err(err("stat", path, e)),
        };
        let first = Ident::of(&md);
        let lom = match read_lom_at(path) {
            Ok(Some(l)) => l,
            // Removed or replaced since it was listed (a mirror dropping an extra copy, a
            // DELETE): nothing to move. Only the same file still without metadata is an error.
            Ok(None) if Ident::now(path) != Some(first) => return Err(Skip::Quiet),
            Ok(None) => {
                return Err(Skip::Error(format!(
                    "{}: no valid object metadata",
                    path.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Skip::Quiet),
            Err(e) => return Err(err("getxattr", path, e)),
        };
        if lom.bid() != props.bid {
            return Err(Skip::Quiet); // another incarnation's: space cleanup's business
        }
        let Some(name) = object_name(rel, &lom) else {
            return Err(Skip::Error(format!(
                "{}: not a valid object name",
                path.display()
            )));
        };
        let digest = hrw::obj_digest(bucket, &name);
        let set = self.store.mountpaths();
        let Some(dest_mp) = set.place(digest).cloned() else {
            return Err(Skip::Error("no enabled mountpath".into()));
        };
        let dest = fqn::object_fqn(&dest_mp.path, bucket, &name);
        // Mirroring: once the main replica is in place its copies are made to match the
        // bucket (dropped on mountpaths gone, added up to `mirror.copies`: `mirror.rs`).
        let want_copies = props.mirror.want() > 1 || !lom.copies.is_empty();
        if dest_mp.id == self.mp.id && !lom.is_chunked() {
            if want_copies {
                self.store
                    .fix_copies_blocking(&set, bucket, &name, Some(self.x))
                    .map_err(|e| Skip::Error(e.to_string()))?;
            }
            return Ok(());
        }
        if is_listed_copy(&lom, path) && dest.exists() {
            return Ok(()); // a mirror copy beside its main replica: the mirror's business
        }
        let same_dev =
            !self.force_copy && std::fs::metadata(&dest_mp.path).is_ok_and(|d| d.dev() == md.dev());
        let mv = Move {
            j: self,
            set: &set,
            bucket,
            props,
            name: &name,
            digest,
            src: path,
            first,
            lom: &lom,
            dest_mp: &dest_mp,
            dest: &dest,
            same_dev,
        };
        if dest_mp.id == self.mp.id {
            if dest != path {
                return Err(Skip::Error(format!(
                    "{}: not the file of {name:?}",
                    path.display()
                )));
            }
            mv.chunks_in_place()
        } else if lom.is_chunked() {
            mv.chunked()
        } else {
            mv.regular()?;
            if want_copies {
                self.store
                    .fix_copies_blocking(&set, bucket, &name, Some(self.x))
                    .map_err(|e| Skip::Error(e.to_string()))?;
            }
            Ok(())
        }
    }

    fn work_file(&self, mp: &Path, bucket: &str, digest: u64) -> PathBuf {
        let seq = self.store.resilver.seq.fetch_add(1, Ordering::Relaxed);
        fqn::work_fqn(mp, bucket, digest, &format!("rs{seq:x}"))
    }
}

/// One object's move.
struct Move<'a> {
    j: &'a Jogger<'a>,
    set: &'a MountpathSet,
    bucket: &'a str,
    props: &'a BucketProps,
    name: &'a str,
    digest: u64,
    src: &'a Path,
    first: Ident,
    lom: &'a Lom,
    dest_mp: &'a Arc<Mountpath>,
    dest: &'a Path,
    same_dev: bool,
}

/// What the commit found.
enum Commit {
    Moved,
    /// The destination held a live object (a PUT won): the source was stale and is removed.
    Stale,
}

/// An I/O error of a move (a disk-kind one wakes the health check of its mountpath).
fn io_skip(op: &str, p: &Path, e: io::Error) -> Skip {
    super::fshc::report(p, &e);
    Skip::Error(format!("{op} {}: {e}", p.display()))
}

impl Move<'_> {
    /// The moved replica's LOM: `copies` rewritten for the new place.
    fn new_lom(&self) -> Lom {
        let mut l = self.lom.clone();
        if !l.copies.is_empty() {
            l.copies = rewrite_copies(&l.copies, self.src, self.dest, self.set);
        }
        l
    }

    /// Copies `from` to a new work file on `mp` (with `lom` if given), fsynced if the bucket
    /// says so; returns the work file.
    fn copy_to_work(
        &self,
        from: &Path,
        mp: &Mountpath,
        lom: Option<&Lom>,
    ) -> Result<PathBuf, Skip> {
        let work = self.j.work_file(&mp.path, self.bucket, self.digest);
        let res = (|| {
            mkdir_parent(mp, &work)?;
            let mut src = std::fs::File::open(from)?;
            let mut dst = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&work)?;
            mp.check_fs(&dst.metadata()?, &work)?;
            io::copy(&mut src, &mut dst)?;
            if let Some(l) = lom {
                let md = l
                    .encode()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                sys::fsetxattr(&Fd::from_owned(dst.try_clone()?.into()), XATTR_LOM, &md)?;
            }
            if self.props.fsync {
                dst.sync_all()?;
            }
            Ok(())
        })();
        match res {
            Ok(()) => Ok(work),
            Err(e) => {
                let _ = std::fs::remove_file(&work);
                Err(io_skip("copy to", &work, e))
            }
        }
    }

    /// Whether the file at the destination is a live object of this bucket incarnation.
    fn dest_live(&self) -> bool {
        matches!(read_lom_at(self.dest), Ok(Some(l)) if l.bid() == self.props.bid)
    }

    /// Under the object lock: checks the source is the file first seen, renames `from` (the
    /// source itself or a work file) to the destination without replacing a live object, and
    /// unlinks the source. `before` runs first under the lock (a chunked object's manifest).
    fn commit(&self, from: &Path, before: impl FnOnce() -> io::Result<()>) -> Result<Commit, Skip> {
        let Some(_g) = self.j.store.try_obj_lock(self.digest) else {
            return Err(Skip::Busy);
        };
        if Ident::now(self.src) != Some(self.first) {
            return Err(Skip::Quiet); // changed or deleted meanwhile
        }
        before().map_err(|e| io_skip("commit", self.dest, e))?;
        let mut tries = 0;
        let out = loop {
            tries += 1;
            match sys::rename_noreplace(from, self.dest) {
                Ok(()) => break Commit::Moved,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if self.dest_live() || tries > 1 {
                        break Commit::Stale;
                    }
                    // Garbage (no LOM, another incarnation): never served; replace it.
                    let _ = std::fs::remove_file(self.dest);
                }
                Err(e) => return Err(io_skip("rename to", self.dest, e)),
            }
        };
        if from != self.src || matches!(out, Commit::Stale) {
            if let Err(e) = std::fs::remove_file(self.src) {
                if e.kind() != io::ErrorKind::NotFound {
                    self.j
                        .x
                        .note_error(format!("unlink {}: {e}", self.src.display()));
                }
            }
        }
        self.j.store.generations.bump(self.digest);
        Ok(out)
    }

    fn regular(&self) -> Result<(), Skip> {
        let lom = self.new_lom();
        mkdir_parent(self.dest_mp, self.dest).map_err(|e| io_skip("mkdir for", self.dest, e))?;
        let work = if self.same_dev {
            None
        } else {
            Some(self.copy_to_work(self.src, self.dest_mp, Some(&lom))?)
        };
        let from = work.as_deref().unwrap_or(self.src);
        let lom_changed = lom.copies != self.lom.copies;
        let r = self.commit(from, || {
            if work.is_none() && lom_changed {
                set_lom(self.src, &lom)?;
            }
            Ok(())
        });
        let done = match r {
            Ok(c) => c,
            Err(s) => {
                if let Some(w) = &work {
                    let _ = std::fs::remove_file(w);
                }
                return Err(s);
            }
        };
        match done {
            Commit::Moved => self.j.x.counters.add_obj(self.first.size),
            Commit::Stale => {
                if let Some(w) = &work {
                    let _ = std::fs::remove_file(w);
                }
                self.j.x.counters.removed.fetch_add(1, Ordering::Relaxed);
                self.j
                    .x
                    .counters
                    .removed_bytes
                    .fetch_add(self.first.size, Ordering::Relaxed);
            }
        }
        if self.props.fsync {
            sync_parent(self.dest);
            sync_parent(self.src);
        }
        Ok(())
    }

    /// Puts a copy of chunk file `from` at `to` (a hard link on one filesystem, else a copy
    /// through a work file on `to_mp`), replacing a leftover of an earlier attempt.
    fn place_chunk(&self, from: &Path, to: &Path, to_mp: &Mountpath) -> Result<(), Skip> {
        mkdir_parent(to_mp, to).map_err(|e| io_skip("mkdir for", to, e))?;
        let same = !self.j.force_copy
            && match (std::fs::metadata(from), std::fs::metadata(&to_mp.path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev(),
                _ => false,
            };
        let _ = std::fs::remove_file(to);
        if same && std::fs::hard_link(from, to).is_ok() {
            return Ok(());
        }
        let work = self.copy_to_work(from, to_mp, None)?;
        if let Err(e) = std::fs::rename(&work, to) {
            let _ = std::fs::remove_file(&work);
            return Err(io_skip("rename to", to, e));
        }
        if self.props.fsync {
            sync_parent(to);
        }
        Ok(())
    }

    /// Copies the chunks 2..N of manifest `old` that are not on their HRW mountpath to it;
    /// returns the manifest with the new paths and the files made (removed again on error).
    fn relocate_chunks(&self, id: &str, old: &Manifest) -> Result<(Manifest, Vec<PathBuf>), Skip> {
        let mut new = old.clone();
        let mut created: Vec<PathBuf> = Vec::new();
        let fail = |created: &[PathBuf], s: Skip| {
            for p in created {
                let _ = std::fs::remove_file(p);
            }
            Err(s)
        };
        for c in new.chunks.iter_mut().skip(1) {
            let Some(to_mp) = self.set.place(ufest::chunk_digest(id, c.num)).cloned() else {
                return fail(&created, Skip::Error("no enabled mountpath".into()));
            };
            let to = fqn::chunk_fqn(&to_mp.path, self.bucket, self.name, id, c.num);
            let from = PathBuf::from(&c.path);
            if to == from {
                continue;
            }
            if !super::mpu::chunk_path_ok(self.set, self.bucket, &from) {
                let why = format!(
                    "{}: chunk {} path {} is outside the bucket's chunk folders",
                    self.src.display(),
                    c.num,
                    c.path
                );
                return fail(&created, Skip::Error(why));
            }
            if let Err(s) = self.place_chunk(&from, &to, &to_mp) {
                return fail(&created, s);
            }
            created.push(to.clone());
            c.path = to.to_string_lossy().into_owned();
        }
        Ok((new, created))
    }

    /// A chunked object on its HRW mountpath whose chunks may not be on theirs: the misplaced
    /// chunks are copied to their places, the new manifest replaces the old one (under the
    /// object lock), then the old chunk files go.
    fn chunks_in_place(&self) -> Result<(), Skip> {
        let Some(id) = self.lom.custom_get(CUSTOM_UFEST_ID).map(str::to_string) else {
            return Err(Skip::Error(format!(
                "{}: chunked without a manifest id",
                self.src.display()
            )));
        };
        let Some(_turn) = self.j.store.uploads.try_completion_turn(self.digest) else {
            return Err(Skip::Busy);
        };
        let mp = &self.j.mp.path;
        let Some((old, old_file)) = read_manifest(mp, self.bucket, self.name, &id) else {
            return Err(Skip::Error(format!(
                "{}: its chunk manifest is missing or corrupt",
                self.src.display()
            )));
        };
        let (new, created) = self.relocate_chunks(&id, &old)?;
        if created.is_empty() {
            return Ok(());
        }
        let cleanup = || {
            for p in &created {
                let _ = std::fs::remove_file(p);
            }
        };
        let udest = fqn::ufest_fqn(mp, self.bucket, self.name, None);
        let mwork = match self.write_manifest_work(&new) {
            Ok(w) => w,
            Err(s) => {
                cleanup();
                return Err(s);
            }
        };
        let committed = (|| {
            let Some(_g) = self.j.store.try_obj_lock(self.digest) else {
                return Err(Skip::Busy);
            };
            if Ident::now(self.src) != Some(self.first) {
                return Err(Skip::Quiet);
            }
            std::fs::rename(&mwork, &udest).map_err(|e| io_skip("rename to", &udest, e))?;
            self.j.store.generations.bump(self.digest);
            Ok(())
        })();
        if let Err(s) = committed {
            let _ = std::fs::remove_file(&mwork);
            cleanup();
            return Err(s);
        }
        if old_file != udest {
            let _ = std::fs::remove_file(&old_file);
        }
        let keep: Vec<&str> = new.chunks.iter().map(|c| c.path.as_str()).collect();
        for c in old.chunks.iter().skip(1) {
            if !keep.contains(&c.path.as_str()) {
                let _ = std::fs::remove_file(&c.path);
            }
        }
        if self.props.fsync {
            sync_parent(&udest);
        }
        Ok(())
    }

    /// Writes manifest `m` to a new work file on the destination (fsynced if the bucket says
    /// so), making the folders of the manifest and the object.
    fn write_manifest_work(&self, m: &Manifest) -> Result<PathBuf, Skip> {
        let bytes = m
            .encode()
            .map_err(|e| Skip::Error(format!("{}: {e}", self.src.display())))?;
        let mwork = self
            .j
            .work_file(&self.dest_mp.path, self.bucket, self.digest);
        let udest = fqn::ufest_fqn(&self.dest_mp.path, self.bucket, self.name, None);
        let wrote = (|| {
            mkdir_parent(self.dest_mp, &mwork)?;
            mkdir_parent(self.dest_mp, &udest)?;
            mkdir_parent(self.dest_mp, self.dest)?;
            let mut f = std::fs::File::create(&mwork)?;
            io::Write::write_all(&mut f, &bytes)?;
            if self.props.fsync {
                f.sync_all()?;
            }
            Ok(())
        })();
        match wrote {
            Ok(()) => Ok(mwork),
            Err(e) => {
                let _ = std::fs::remove_file(&mwork);
                Err(io_skip("write manifest", &mwork, e))
            }
        }
    }

    fn chunked(&self) -> Result<(), Skip> {
        let Some(id) = self.lom.custom_get(CUSTOM_UFEST_ID).map(str::to_string) else {
            return Err(Skip::Error(format!(
                "{}: chunked without a manifest id",
                self.src.display()
            )));
        };
        let Some(_turn) = self.j.store.uploads.try_completion_turn(self.digest) else {
            return Err(Skip::Busy);
        };
        let src_mp = &self.j.mp.path;
        let Some((old, old_file)) = read_manifest(src_mp, self.bucket, self.name, &id) else {
            return Err(Skip::Error(format!(
                "{}: its chunk manifest is missing or corrupt",
                self.src.display()
            )));
        };
        if self.dest_live() {
            // A newer object is in place: this one is stale.
            return self.remove_stale(&old, &old_file);
        }
        // 1. Chunks 2..N at their HRW places (new names; the old files stay).
        let (mut new, created) = self.relocate_chunks(&id, &old)?;
        new.chunks[0].path = self.dest.to_string_lossy().into_owned();
        let cleanup = |created: &[PathBuf]| {
            for p in created {
                let _ = std::fs::remove_file(p);
            }
        };
        // 2. The new manifest, in a work file on the destination.
        let udest = fqn::ufest_fqn(&self.dest_mp.path, self.bucket, self.name, None);
        let mwork = match self.write_manifest_work(&new) {
            Ok(w) => w,
            Err(s) => {
                cleanup(&created);
                return Err(s);
            }
        };
        // 3. Chunk 1 with the LOM: the source itself (one filesystem) or a copy.
        let lom = self.new_lom();
        let work = if self.same_dev {
            None
        } else {
            match self.copy_to_work(self.src, self.dest_mp, Some(&lom)) {
                Ok(w) => Some(w),
                Err(s) => {
                    let _ = std::fs::remove_file(&mwork);
                    cleanup(&created);
                    return Err(s);
                }
            }
        };
        let from = work.as_deref().unwrap_or(self.src);
        let lom_changed = lom.copies != self.lom.copies;
        // 4. Commit: the manifest into place, then chunk 1 (no replace), then the source goes.
        let r = self.commit(from, || {
            if work.is_none() && lom_changed {
                set_lom(self.src, &lom)?;
            }
            std::fs::rename(&mwork, &udest)
        });
        match r {
            Ok(Commit::Moved) => {
                self.j.x.counters.add_obj(self.lom.size.max(0) as u64);
                // 5. What only the old manifest referenced.
                let keep: Vec<&str> = new.chunks.iter().map(|c| c.path.as_str()).collect();
                let _ = std::fs::remove_file(&old_file);
                for c in old.chunks.iter().skip(1) {
                    if !keep.contains(&c.path.as_str()) {
                        let _ = std::fs::remove_file(&c.path);
                    }
                }
                if self.props.fsync {
                    sync_parent(self.dest);
                    sync_parent(&udest);
                }
                Ok(())
            }
            Ok(Commit::Stale) => {
                // A PUT won the destination: our manifest there is not its; all ours goes.
                if let Some(w) = &work {
                    let _ = std::fs::remove_file(w);
                }
                if !matches!(read_lom_at(self.dest), Ok(Some(l)) if l.custom_get(CUSTOM_UFEST_ID) == Some(id.as_str()))
                {
                    let _ = std::fs::remove_file(&udest);
                }
                cleanup(&created);
                self.remove_stale_files(&old, &old_file);
                Ok(())
            }
            Err(s) => {
                let _ = std::fs::remove_file(&mwork);
                if let Some(w) = &work {
                    let _ = std::fs::remove_file(w);
                }
                cleanup(&created);
                Err(s)
            }
        }
    }

    /// The destination holds a live object: removes the stale chunked source (under the
    /// object lock), then its manifest and the chunks the live object does not use.
    fn remove_stale(&self, old: &Manifest, old_file: &Path) -> Result<(), Skip> {
        {
            let Some(_g) = self.j.store.try_obj_lock(self.digest) else {
                return Err(Skip::Busy);
            };
            if Ident::now(self.src) != Some(self.first) {
                return Err(Skip::Quiet);
            }
            if let Err(e) = std::fs::remove_file(self.src) {
                return Err(io_skip("unlink", self.src, e));
            }
            self.j.store.generations.bump(self.digest);
        }
        self.remove_stale_files(old, old_file);
        Ok(())
    }

    /// Counts the stale source as removed and removes its manifest and every chunk the live
    /// object at the destination does not reference (all of them unless it is chunked and its
    /// manifest readable; if it uses the same id but its manifest cannot be read, none).
    fn remove_stale_files(&self, old: &Manifest, old_file: &Path) {
        self.j.x.counters.removed.fetch_add(1, Ordering::Relaxed);
        self.j
            .x
            .counters
            .removed_bytes
            .fetch_add(self.first.size, Ordering::Relaxed);
        let _ = std::fs::remove_file(old_file);
        let live = read_lom_at(self.dest).ok().flatten();
        let live_id = live
            .as_ref()
            .filter(|l| l.is_chunked())
            .and_then(|l| l.custom_get(CUSTOM_UFEST_ID).map(str::to_string));
        let keep: Vec<String> = match live_id {
            Some(lid) => match read_manifest(&self.dest_mp.path, self.bucket, self.name, &lid) {
                Some((m, _)) => m.chunks.into_iter().map(|c| c.path).collect(),
                None if lid == old.id => return,
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        for c in old.chunks.iter().skip(1) {
            if !keep.contains(&c.path)
                && super::mpu::chunk_path_ok(self.set, self.bucket, Path::new(&c.path))
            {
                let _ = std::fs::remove_file(&c.path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lom_with(custom: Vec<(String, String)>, copies: Vec<String>) -> Lom {
        Lom {
            cksum_type: "xxhash2".into(),
            cksum_value: "0".into(),
            version: Some("1".into()),
            size: 1,
            copies,
            custom,
            lid: crate::lom::make_bid(1),
            flags: 0,
        }
    }

    /// Goal: the object name behind a file: plain, nested, a folder marker, a shortened file
    /// (from its LOM), and nothing for junk.
    #[test]
    fn names_of_files() {
        let plain = lom_with(Vec::new(), Vec::new());
        assert_eq!(object_name("a", &plain).as_deref(), Some("a"));
        assert_eq!(
            object_name("x/y/z.bin", &plain).as_deref(),
            Some("x/y/z.bin")
        );
        let marker = format!("dir/sub/{}", fqn::DIR_MARKER);
        assert_eq!(object_name(&marker, &plain).as_deref(), Some("dir/sub/"));
        assert_eq!(object_name(fqn::DIR_MARKER, &plain), None);
        let long = format!("d/{}", "n".repeat(300));
        let short = format!(".x{}", "a".repeat(64));
        let fntl = lom_with(vec![(CUSTOM_ORIG_FNTL.into(), long.clone())], Vec::new());
        assert_eq!(object_name(&short, &fntl).as_deref(), Some(long.as_str()));
        assert_eq!(
            object_name(&short, &plain),
            None,
            "a shortened file needs its LOM name"
        );
    }

    /// Goal: a moved replica's `copies`: its own entry follows it, entries on mountpaths that
    /// are gone or not enabled are dropped, and nothing is listed twice.
    #[test]
    fn copies_follow_the_move() {
        let paths: Vec<PathBuf> = (1..=3).map(|i| PathBuf::from(format!("/m/{i}"))).collect();
        let set = MountpathSet::new(&paths);
        let copies = vec![
            "/m/1/@ais/b/%ob/o".to_string(),
            "/m/2/@ais/b/%ob/o".to_string(),
            "/gone/@ais/b/%ob/o".to_string(),
        ];
        let got = rewrite_copies(
            &copies,
            Path::new("/m/1/@ais/b/%ob/o"),
            Path::new("/m/3/@ais/b/%ob/o"),
            &set,
        );
        assert_eq!(got, vec!["/m/3/@ais/b/%ob/o", "/m/2/@ais/b/%ob/o"]);
        let got = rewrite_copies(
            &copies,
            Path::new("/m/1/@ais/b/%ob/o"),
            Path::new("/m/2/@ais/b/%ob/o"),
            &set,
        );
        assert_eq!(got, vec!["/m/2/@ais/b/%ob/o"]);
        let lom = lom_with(Vec::new(), copies);
        assert!(is_listed_copy(&lom, Path::new("/m/2/@ais/b/%ob/o")));
        assert!(!is_listed_copy(&lom, Path::new("/m/3/@ais/b/%ob/o")));
    }

    /// Goal: the no-replace rename moves a file to a free name and refuses an existing one,
    /// leaving both files as they were.
    #[test]
    fn rename_noreplace_refuses_an_existing_destination() {
        let dir = std::env::temp_dir().join(format!("aisle-rs-nr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
        std::fs::write(&a, b"A").unwrap();
        std::fs::write(&b, b"B").unwrap();
        let e = sys::rename_noreplace(&a, &b).expect_err("b exists");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&a).unwrap(), b"A");
        assert_eq!(std::fs::read(&b).unwrap(), b"B");
        sys::rename_noreplace(&a, &c).expect("c is free");
        assert!(!a.exists());
        assert_eq!(std::fs::read(&c).unwrap(), b"A");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Goal: markers are written and removed per mountpath, and an open notices one left.
    #[test]
    fn markers_round_trip() {
        let dir = std::env::temp_dir().join(format!("aisle-rs-mk-{}", std::process::id()));
        let mps: Vec<PathBuf> = (1..=2).map(|i| dir.join(format!("mp{i}"))).collect();
        for m in &mps {
            std::fs::create_dir_all(m).unwrap();
        }
        assert!(!ResilverState::at_open(&mps)
            .interrupted
            .load(Ordering::Relaxed));
        write_marker(&mps[1]).unwrap();
        assert!(marker_path(&mps[1]).exists());
        assert!(ResilverState::at_open(&mps)
            .interrupted
            .load(Ordering::Relaxed));
        remove_marker(&mps[1]).unwrap();
        remove_marker(&mps[0]).unwrap();
        assert!(!ResilverState::at_open(&mps)
            .interrupted
            .load(Ordering::Relaxed));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
