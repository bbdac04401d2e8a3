//! Access times, one value per object for the whole node: what `Ais-Atime` reports.
//!
//! Each core caches its own `fstat` of an object, so the file's atime alone would differ by the
//! core that answers. Instead a node-wide table holds the current atime of recently used
//! objects: a PUT sets it, a GET advances it (as AIS does on reads), HEAD and GET read it. An
//! object missing from the table (never seen since start, or its slot taken by another object)
//! is seeded from the file's atime by compare-and-swap, so every core agrees on the first value.
//!
//! Slot: one `AtomicU64` = 20-bit tag (high digest bits) | 44-bit atime in milliseconds (until
//! the year 2527). A GET costs a load, a compare and, at most once per millisecond per object,
//! a store. Resolution is a millisecond (reported in ns, as AIS).
//!
//! Persistence is lazy, as in AIS (which flushes atime to the file when its LOM cache evicts):
//! a GET writes the file's atime (`futimens`) only when this core's last write or sight of it is
//! older than `ATIME_PERSIST_NS`, so after a restart an object's atime is at most that stale.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{now_ns, ObjectHandle, Store};
use crate::io::sys;

/// Slots in the table (8 bytes each).
const ATIME_SLOTS: usize = 1 << 18;
const TAG_BITS: u32 = 20;
const MS_BITS: u32 = 64 - TAG_BITS;
const MS_MASK: u64 = (1 << MS_BITS) - 1;
/// A GET writes the file's atime when this core's record of it is older than this.
pub const ATIME_PERSIST_NS: i64 = 3600 * 1_000_000_000;
const _: () = assert!(ATIME_SLOTS.is_power_of_two());

/// The node-wide atime table.
pub(crate) struct Atimes {
    slots: Box<[AtomicU64]>,
}

impl Default for Atimes {
    fn default() -> Self {
        Atimes {
            slots: (0..ATIME_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn tag(digest: u64) -> u64 {
    // Never 0, so an empty slot (0) matches no object.
    (digest >> MS_BITS) | 1
}

fn pack(digest: u64, ns: i64) -> u64 {
    (tag(digest) << MS_BITS) | ((ns.max(0) / 1_000_000) as u64 & MS_MASK)
}

fn unpack(digest: u64, v: u64) -> Option<i64> {
    (v >> MS_BITS == tag(digest)).then(|| (v & MS_MASK) as i64 * 1_000_000)
}

impl Atimes {
    fn slot(&self, digest: u64) -> &AtomicU64 {
        &self.slots[(digest as usize) & (ATIME_SLOTS - 1)]
    }

    /// The object was written (or its atime is known): its atime is `ns` from now on.
    pub(crate) fn set(&self, digest: u64, ns: i64) {
        self.slot(digest).store(pack(digest, ns), Ordering::Release);
    }

    /// The object is gone.
    pub(crate) fn forget(&self, digest: u64) {
        let s = self.slot(digest);
        let cur = s.load(Ordering::Acquire);
        if unpack(digest, cur).is_some() {
            let _ = s.compare_exchange(cur, 0, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// The object's atime; seeds the table with `file_ns` if it holds none for it.
    pub(crate) fn get_or_seed(&self, digest: u64, file_ns: i64) -> i64 {
        let s = self.slot(digest);
        let cur = s.load(Ordering::Acquire);
        if let Some(ns) = unpack(digest, cur) {
            return ns;
        }
        let new = pack(digest, file_ns);
        match s.compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => unpack(digest, new).expect("own tag"),
            // Another core seeded (or a GET touched) it first: theirs is the value, if ours.
            Err(other) => {
                unpack(digest, other).unwrap_or_else(|| unpack(digest, new).expect("own tag"))
            }
        }
    }

    /// A read at `now_ns`: the atime advances to it (never backwards).
    pub(crate) fn touch(&self, digest: u64, now_ns: i64) -> i64 {
        let s = self.slot(digest);
        let new = pack(digest, now_ns);
        let cur = s.load(Ordering::Acquire);
        match unpack(digest, cur) {
            Some(_) if cur >= new => {}
            _ => s.store(new, Ordering::Release),
        }
        unpack(digest, new.max(cur)).unwrap_or(now_ns / 1_000_000 * 1_000_000)
    }
}

impl Store {
    /// The object's access time (unix ns), the same on every core.
    pub fn atime_of(&self, h: &ObjectHandle) -> i64 {
        self.atimes.get_or_seed(h.digest, h.atime_ns)
    }

    /// A GET of the object: advances its atime to now, writes it to the file when this core's
    /// record of the file's atime is older than `ATIME_PERSIST_NS`, and returns it.
    pub fn atime_read(&self, h: &ObjectHandle) -> i64 {
        let now = now_ns();
        let atime = self.atimes.touch(h.digest, now);
        if now - h.atime_fs_ns.get() >= ATIME_PERSIST_NS {
            // Best effort: a failure costs only the persistence of an access time.
            if let Err(e) = sys::set_atime(&h.fd, now) {
                tracing::debug!("persisting atime of {}/{}: {e}", h.bucket, h.obj);
            }
            h.atime_fs_ns.set(now);
        }
        atime
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_object_seeded_once_advanced_by_reads() {
        // Goal: the first seed wins for every later reader; a read advances; a foreign
        // object in the same slot never lends its time; forget clears.
        let t = Atimes::default();
        let d = 0xABCD_0000_0000_0005u64;
        let other = d ^ (1u64 << 63); // same slot, another tag
        assert_eq!(t.get_or_seed(d, 5_000_000), 5_000_000);
        assert_eq!(
            t.get_or_seed(d, 9_000_000),
            5_000_000,
            "second seed ignored"
        );
        assert_eq!(t.touch(d, 7_400_000), 7_000_000);
        assert_eq!(t.get_or_seed(d, 1), 7_000_000);
        assert_eq!(t.touch(d, 6_000_000), 7_000_000, "never backwards");
        assert_eq!(
            t.get_or_seed(other, 3_000_000),
            3_000_000,
            "foreign tag not served"
        );
        assert_eq!(
            t.get_or_seed(d, 8_000_000),
            8_000_000,
            "slot lost: seeded again"
        );
        t.forget(d);
        assert_eq!(t.get_or_seed(d, 2_000_000), 2_000_000);
        t.set(d, 1_000_000);
        assert_eq!(t.get_or_seed(d, 4_000_000), 1_000_000);
    }
}
