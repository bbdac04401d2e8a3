//! Per-core caches for the GET/HEAD hot path, kept consistent across cores.
//!
//! - `CoreView`: a core's snapshot of the bucket metadata and mountpaths, refreshed when the
//!   store's version changes (one shared atomic load per request, no lock, no refcount traffic).
//! - `ObjectCache`: a bounded LRU of open objects (fd + verified metadata) per core, so a hot
//!   GET needs no open, xattr read or fstat.
//! - `Generations`: node-wide invalidation counters, one per slot of the object digest space.
//!
//! Read-after-write across cores: a PUT or DELETE bumps its object's slot after the rename or
//! unlink and before it is acknowledged; a cache fill reads the slot *before* opening the file
//! and records it; a lookup serves an entry only if the slot still has the recorded value. So a
//! GET that starts after a PUT/DELETE was acknowledged, on any core, never sees the old object.
//! Destroying or creating a bucket bumps the epoch, which invalidates every entry.
//!
//! Space comes back: a stale entry holds the old file open, so a deleted or replaced file's
//! blocks would stay allocated until that core looked the object up again. Every bump also
//! advances one node-wide `changes` counter; each core checks it on a timer (`sweep_stale`,
//! off the GET path) and, when it moved, closes every entry whose stamp no longer holds.

use std::cell::{Cell, RefCell};
use std::num::NonZeroUsize;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lru::LruCache;

use crate::bmd::Bmd;
use crate::io::Fd;
use crate::lom::Lom;
use crate::mountpath::{Mountpath, MountpathSet};

/// Invalidation slots (8 bytes each); collisions only cause extra refills.
pub const GENERATION_SLOTS: usize = 1 << 18;

/// What a cache entry was filled under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    epoch: u64,
    generation: u64,
}

/// Node-wide invalidation counters.
pub struct Generations {
    slots: Box<[AtomicU64]>,
    epoch: AtomicU64,
    /// Advanced by every `bump` and `bump_all`: "some entry somewhere may be stale".
    changes: AtomicU64,
}

impl Default for Generations {
    fn default() -> Self {
        Generations {
            slots: (0..GENERATION_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            epoch: AtomicU64::new(0),
            changes: AtomicU64::new(0),
        }
    }
}

impl Generations {
    fn slot(&self, digest: u64) -> &AtomicU64 {
        &self.slots[(digest as usize) & (GENERATION_SLOTS - 1)]
    }

    /// The current stamp of an object; read it before opening the file.
    pub fn stamp(&self, digest: u64) -> Stamp {
        Stamp {
            epoch: self.epoch.load(Ordering::Acquire),
            generation: self.slot(digest).load(Ordering::Acquire),
        }
    }

    /// The object changed (after the rename or unlink, before the acknowledgement).
    pub fn bump(&self, digest: u64) {
        self.slot(digest).fetch_add(1, Ordering::AcqRel);
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Everything may have changed (bucket destroyed or created).
    pub fn bump_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// How many invalidations there have been (read it before sweeping).
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }
}

/// One chunk of a chunked object, open for reading.
pub struct ChunkFile {
    pub fd: Fd,
    pub size: u64,
}

/// An object opened for reading: the open file and its verified metadata.
pub struct ObjectHandle {
    /// The open data file.
    pub fd: Fd,
    /// Its metadata.
    pub lom: Lom,
    /// Size in bytes (checked equal to the LOM's).
    pub size: u64,
    /// Access time, unix ns: the file's atime when the entry was filled. Serve
    /// `Store::atime_of` instead: one value for all cores, advanced by GETs.
    pub atime_ns: i64,
    /// The file's atime as this core last saw or set it (lazy persistence, `store/atime.rs`).
    pub atime_fs_ns: Cell<i64>,
    /// The object's HRW digest.
    pub digest: u64,
    /// Modification time, unix ns.
    pub mtime_ns: i64,
    /// The mountpath it lives on.
    pub mp: Arc<Mountpath>,
    /// The whole content of a small object, read when the entry was filled (so a cached GET of
    /// it needs no system call for the data); `None` for larger objects or past the budget.
    pub body: Option<Box<[u8]>>,
    /// A chunked object's chunks in order, all open (the first is `fd` again); empty for a
    /// monolithic object. `size` is their total.
    pub chunks: Vec<ChunkFile>,
    pub(crate) bucket: String,
    pub(crate) obj: String,
    pub(crate) stamp: Stamp,
    /// The content was hashed and matched the LOM's checksum under this entry's stamp
    /// (`Store::verify_content`): a verified entry is not hashed again while it is current.
    pub cksum_verified: Cell<bool>,
}

/// Descriptors an entry holds open.
fn fds_of(h: &ObjectHandle) -> usize {
    h.chunks.len().max(1)
}

/// Objects up to this size keep their content in the cache entry.
pub const BODY_CACHED_BYTES_MAX: u64 = 16 * 1024;
/// Content bytes one core's cache may hold in all.
pub const BODY_CACHE_BYTES_PER_CORE_MAX: usize = 64 << 20;

/// A core's view of the store: snapshots plus the object cache. Not shared between cores.
pub struct CoreView {
    version: Cell<u64>,
    bmd: RefCell<Arc<Bmd>>,
    mountpaths: RefCell<Arc<MountpathSet>>,
    objects: RefCell<LruCache<u64, Rc<ObjectHandle>>>,
    /// Content bytes held by `objects` (bounded by `BODY_CACHE_BYTES_PER_CORE_MAX`).
    body_bytes: Cell<usize>,
    /// Descriptors held by `objects` (a chunked object holds one per chunk), bounded by
    /// `fds_max`.
    fds: Cell<usize>,
    fds_max: usize,
    /// `Generations::changes` when this view was last swept.
    swept: Cell<u64>,
    /// Stale entries closed by sweeps.
    pub swept_entries: Cell<u64>,
    /// Lookups served from the cache.
    pub hits: Cell<u64>,
    /// Lookups that opened the file.
    pub misses: Cell<u64>,
}

impl CoreView {
    /// A view with room for `objects_max` open objects.
    pub fn new(objects_max: usize) -> CoreView {
        CoreView {
            version: Cell::new(u64::MAX),
            bmd: RefCell::new(Arc::new(Bmd::default())),
            mountpaths: RefCell::new(Arc::new(MountpathSet::default())),
            objects: RefCell::new(LruCache::new(
                NonZeroUsize::new(objects_max.max(1)).expect("max(1) > 0"),
            )),
            body_bytes: Cell::new(0),
            fds: Cell::new(0),
            fds_max: objects_max.max(1),
            swept: Cell::new(0),
            swept_entries: Cell::new(0),
            hits: Cell::new(0),
            misses: Cell::new(0),
        }
    }

    /// Refreshes the snapshots if the store's `version` moved on.
    pub(crate) fn refresh(
        &self,
        version: u64,
        load: impl FnOnce() -> (Arc<Bmd>, Arc<MountpathSet>),
    ) {
        if self.version.get() != version {
            let (b, m) = load();
            *self.bmd.borrow_mut() = b;
            *self.mountpaths.borrow_mut() = m;
            self.version.set(version);
        }
    }

    /// Runs `f` on this view's bucket-metadata snapshot (refresh it first with
    /// `Store::refresh_view`).
    pub fn with_bmd<R>(&self, f: impl FnOnce(&Bmd) -> R) -> R {
        f(&self.bmd.borrow())
    }

    pub(crate) fn with_mountpaths<R>(&self, f: impl FnOnce(&MountpathSet) -> R) -> R {
        f(&self.mountpaths.borrow())
    }

    /// A cached object if it is still current.
    pub(crate) fn lookup(
        &self,
        digest: u64,
        bucket: &str,
        obj: &str,
        now: Stamp,
    ) -> Option<Rc<ObjectHandle>> {
        let mut objects = self.objects.borrow_mut();
        let hit = match objects.get(&digest) {
            Some(e) if e.stamp == now && e.bucket == bucket && e.obj == obj => Some(e.clone()),
            Some(_) => None,
            None => {
                self.misses.set(self.misses.get() + 1);
                return None;
            }
        };
        match hit {
            Some(e) => {
                self.hits.set(self.hits.get() + 1);
                Some(e)
            }
            None => {
                // Stale (or another object with the same digest): drop it, close its fd.
                if let Some(old) = objects.pop(&digest) {
                    self.release(&old);
                }
                self.misses.set(self.misses.get() + 1);
                None
            }
        }
    }

    pub(crate) fn insert(&self, digest: u64, h: Rc<ObjectHandle>) {
        let fds = fds_of(&h);
        if fds > self.fds_max {
            return; // more chunks than the whole cache may hold open: served uncached
        }
        self.body_bytes
            .set(self.body_bytes.get() + h.body.as_ref().map_or(0, |b| b.len()));
        self.fds.set(self.fds.get() + fds);
        let mut objects = self.objects.borrow_mut();
        // `push` hands back what it replaced or evicted.
        if let Some((_, old)) = objects.push(digest, h) {
            self.release(&old);
        }
        while self.fds.get() > self.fds_max {
            match objects.pop_lru() {
                Some((_, old)) => self.release(&old),
                None => break,
            }
        }
    }

    fn release(&self, old: &ObjectHandle) {
        self.body_bytes
            .set(self.body_bytes.get() - old.body.as_ref().map_or(0, |b| b.len()));
        self.fds.set(self.fds.get() - fds_of(old));
    }

    /// Whether `len` more content bytes fit the core's budget.
    pub(crate) fn body_fits(&self, len: u64) -> bool {
        len <= BODY_CACHED_BYTES_MAX
            && self.body_bytes.get() + len as usize <= BODY_CACHE_BYTES_PER_CORE_MAX
    }

    /// Closes every entry whose stamp moved on (its file was deleted or replaced, or its
    /// bucket destroyed), so the old file's blocks are freed; a no-op (one atomic load) when
    /// nothing was invalidated since the last sweep. Returns how many entries it dropped.
    /// A GET still holding an entry keeps its file open until it finishes.
    pub fn sweep_stale(&self, gens: &Generations) -> usize {
        let changes = gens.changes();
        if changes == self.swept.get() {
            return 0;
        }
        // Read before scanning: a bump during the scan advances `changes` again, so the next
        // sweep looks once more.
        self.swept.set(changes);
        let mut objects = self.objects.borrow_mut();
        let stale: Vec<u64> = objects
            .iter()
            .filter(|(&d, e)| gens.stamp(d) != e.stamp)
            .map(|(&d, _)| d)
            .collect();
        for d in &stale {
            if let Some(old) = objects.pop(d) {
                self.release(&old);
            }
        }
        self.swept_entries
            .set(self.swept_entries.get() + stale.len() as u64);
        stale.len()
    }

    /// Number of cached objects.
    pub fn cached(&self) -> usize {
        self.objects.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountpath::MountpathId;
    use std::path::PathBuf;

    fn handle(obj: &str, body: usize, stamp: Stamp) -> Rc<ObjectHandle> {
        let f = std::fs::File::open("/dev/null").expect("open /dev/null");
        Rc::new(ObjectHandle {
            fd: Fd::from_owned(f.into()),
            lom: Lom::default(),
            size: body as u64,
            atime_ns: 0,
            atime_fs_ns: Cell::new(0),
            digest: 0,
            mtime_ns: 0,
            mp: Arc::new(Mountpath::new(MountpathId::new(0), PathBuf::from("/mp"))),
            body: Some(vec![1u8; body].into_boxed_slice()),
            chunks: Vec::new(),
            bucket: "b".into(),
            obj: obj.into(),
            stamp,
            cksum_verified: Cell::new(false),
        })
    }

    #[test]
    fn content_bytes_are_accounted_through_replace_evict_and_stale_drop() {
        // Goal: the per-core content budget counts exactly the bodies the cache holds.
        let g = Generations::default();
        let v = CoreView::new(2);
        let s = g.stamp(1);
        v.insert(1, handle("a", 100, s));
        v.insert(2, handle("b", 200, s));
        assert_eq!(v.body_bytes.get(), 300);
        v.insert(1, handle("a", 50, s)); // replace
        assert_eq!(v.body_bytes.get(), 250);
        v.insert(3, handle("c", 10, s)); // evicts the least recently used ("b")
        assert_eq!(v.body_bytes.get(), 60);
        assert!(v.lookup(2, "b", "b", s).is_none());
        g.bump(1);
        assert!(
            v.lookup(1, "b", "a", g.stamp(1)).is_none(),
            "stale entry dropped"
        );
        assert_eq!(v.body_bytes.get(), 10);
        assert!(v.lookup(3, "b", "c", g.stamp(3)).is_some());
        assert!(v.body_fits(BODY_CACHED_BYTES_MAX));
        assert!(!v.body_fits(BODY_CACHED_BYTES_MAX + 1));
    }

    #[test]
    fn sweep_closes_exactly_the_stale_entries() {
        // Goal: a sweep drops entries whose object changed (and only those), releases their
        // content bytes, and does nothing when nothing was invalidated.
        let g = Generations::default();
        let v = CoreView::new(8);
        for d in 1..=4u64 {
            v.insert(d, handle(&format!("o{d}"), 10, g.stamp(d)));
        }
        assert_eq!(v.sweep_stale(&g), 0, "nothing invalidated yet");
        g.bump(2);
        g.bump(4);
        assert_eq!(v.sweep_stale(&g), 2);
        assert_eq!(v.cached(), 2);
        assert_eq!(v.body_bytes.get(), 20);
        assert!(v.lookup(1, "b", "o1", g.stamp(1)).is_some());
        assert!(v.lookup(3, "b", "o3", g.stamp(3)).is_some());
        assert_eq!(v.sweep_stale(&g), 0, "already swept");
        g.bump_all();
        assert_eq!(v.sweep_stale(&g), 2, "a new epoch makes every entry stale");
        assert_eq!(v.cached(), 0);
        assert_eq!(v.body_bytes.get(), 0);
        assert_eq!(v.swept_entries.get(), 4);
    }
}
