//! Capacity watermarks (AIS's `space` config: `lowwm`, `highwm`, `out_of_space`): a monitor
//! thread reads each data-holding mountpath's `statvfs` every interval and keeps the node's
//! state by the fullest one, as AIS does (`PctMax`): `ok`, `low` (over the low watermark),
//! `high` (over the high one) or `oos` (out of space). Out of space refuses every new PUT
//! (objects, parts, appends, copies) with 507 before a byte is written; reads and DELETEs go
//! on, and PUTs come back once a DELETE brings the fullest mountpath under the mark. A PUT
//! that meets a full disk before the monitor noticed still gets its clean 507 from ENOSPC.
//! The state shows in `what=mountpaths` and `/metrics`.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Store, StoreError};
use crate::io::sys;

/// Least time between two capacity reads by refused PUTs while out of space.
const OOS_RECHECK: Duration = Duration::from_millis(100);

/// The watermarks, in percent of a mountpath's size in use (AIS defaults 75 / 90 / 95).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceConf {
    pub low_wm: u8,
    pub high_wm: u8,
    pub oos: u8,
}

impl Default for SpaceConf {
    fn default() -> Self {
        SpaceConf {
            low_wm: 75,
            high_wm: 90,
            oos: 95,
        }
    }
}

impl SpaceConf {
    /// Checks `low < high < oos ≤ 100` (AIS validates the same order).
    pub fn validate(&self) -> Result<(), String> {
        if self.low_wm == 0
            || self.low_wm >= self.high_wm
            || self.high_wm >= self.oos
            || self.oos > 100
        {
            return Err(format!(
                "watermarks must be 0 < low ({}) < high ({}) < out-of-space ({}) <= 100",
                self.low_wm, self.high_wm, self.oos
            ));
        }
        Ok(())
    }
}

/// One mountpath's capacity as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpCapacity {
    pub path: PathBuf,
    pub total: u64,
    pub avail: u64,
    /// Percent in use, rounded up, as df(1) shows it: in use / (in use + available to
    /// users); 0 on a filesystem that reports no size.
    pub used_pct: u8,
}

/// The node's capacity as last read.
#[derive(Debug, Clone, Default)]
pub struct Capacity {
    pub conf: SpaceConf,
    pub mountpaths: Vec<MpCapacity>,
    /// The fullest mountpath's `used_pct`.
    pub pct_max: u8,
    /// `ok`, `low`, `high` or `oos`.
    pub state: &'static str,
}

#[derive(Default)]
pub(crate) struct CapacityState {
    conf: Mutex<SpaceConf>,
    last: Mutex<Capacity>,
    oos: AtomicBool,
    pct_max: AtomicU8,
    /// When the capacity was last read.
    read_at: Mutex<Option<Instant>>,
}

fn state_of(conf: &SpaceConf, pct: u8) -> &'static str {
    if pct >= conf.oos {
        "oos"
    } else if pct >= conf.high_wm {
        "high"
    } else if pct >= conf.low_wm {
        "low"
    } else {
        "ok"
    }
}

impl Store {
    /// Sets the watermarks (checked) and reads the capacity once.
    pub fn set_space_conf(&self, conf: SpaceConf) -> Result<(), String> {
        conf.validate()?;
        *self.capacity.conf.lock().expect("capacity") = conf;
        self.refresh_capacity();
        Ok(())
    }

    /// Reads every data-holding mountpath's capacity now and updates the state (logged when
    /// it changes); a mountpath no longer on its own filesystem wakes its health check.
    /// Blocking (a `stat` and a `statvfs` per mountpath).
    pub fn refresh_capacity(&self) -> Capacity {
        let conf = *self.capacity.conf.lock().expect("capacity");
        let set = self.mountpaths();
        let mut mps = Vec::new();
        for m in set.iter().filter(|m| m.holds_data()) {
            // A filesystem unmounted underneath: its mount point (another filesystem) would
            // get the writes. The health check takes the mountpath out.
            if let Err(e) = std::fs::metadata(&m.path).and_then(|md| m.check_fs(&md, &m.path)) {
                tracing::warn!(mountpath = %m.path.display(), "{e}");
                super::fshc::report(&m.path, &e);
                continue;
            }
            match sys::fs_space(&m.path) {
                Ok((total, used, avail)) => {
                    // As df(1) counts: in use over what users can have (blocks reserved for
                    // root, or held back by the host, count neither way).
                    let base = used.saturating_add(avail);
                    let used_pct = if base == 0 {
                        0
                    } else {
                        (used.saturating_mul(100).div_ceil(base)).min(100) as u8
                    };
                    mps.push(MpCapacity {
                        path: m.path.clone(),
                        total,
                        avail,
                        used_pct,
                    });
                }
                Err(e) => {
                    tracing::warn!(mountpath = %m.path.display(), "statvfs: {e}");
                    super::fshc::report(&m.path, &e);
                }
            }
        }
        let pct_max = mps.iter().map(|m| m.used_pct).max().unwrap_or(0);
        let cap = Capacity {
            conf,
            mountpaths: mps,
            pct_max,
            state: state_of(&conf, pct_max),
        };
        let before = {
            let mut last = self.capacity.last.lock().expect("capacity");
            std::mem::replace(&mut *last, cap.clone()).state
        };
        *self.capacity.read_at.lock().expect("capacity") = Some(Instant::now());
        self.capacity.pct_max.store(pct_max, Ordering::Relaxed);
        self.capacity
            .oos
            .store(cap.state == "oos", Ordering::Relaxed);
        if before != cap.state && !before.is_empty() {
            if cap.state == "oos" || cap.state == "high" {
                tracing::warn!(
                    state = cap.state,
                    pct_max,
                    ?conf,
                    "capacity watermark crossed"
                );
            } else {
                tracing::info!(
                    state = cap.state,
                    pct_max,
                    ?conf,
                    "capacity watermark crossed"
                );
            }
        }
        cap
    }

    /// The capacity as last read.
    pub fn capacity(&self) -> Capacity {
        self.capacity.last.lock().expect("capacity").clone()
    }

    /// Reads the capacity every `interval` on a thread of its own, for as long as the store
    /// lives. Crossing the high watermark (into `high` or `oos`) starts a space cleanup job,
    /// as AIS does (its LRU eviction has no counterpart here: every bucket is the node's own).
    pub fn start_capacity_monitor(self: &Arc<Self>, interval: Duration) {
        let me = Arc::downgrade(self);
        let full = |st: &str| st == "high" || st == "oos";
        let mut was_full = full(self.capacity().state);
        let spawned = std::thread::Builder::new()
            .name("capacity".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                let Some(s) = me.upgrade() else { return };
                let now_full = full(s.refresh_capacity().state);
                if now_full && !was_full {
                    match s.start_cleanup(super::CleanupOpts::default()) {
                        Ok(x) => {
                            tracing::warn!(job = %x.id, "space cleanup started at the high watermark")
                        }
                        Err(e) => tracing::warn!("space cleanup at the high watermark: {e}"),
                    }
                }
                was_full = now_full;
            });
        if let Err(e) = spawned {
            tracing::warn!("capacity monitor thread: {e}");
        }
    }

    /// `NoSpace` when the node is over its out-of-space watermark (the PUT paths ask first).
    pub(super) fn check_out_of_space(&self) -> Result<(), StoreError> {
        if !self.capacity.oos.load(Ordering::Relaxed) {
            return Ok(());
        }
        // While out of space, a refused PUT reads the capacity again (a `statvfs` per
        // mountpath, at most every `OOS_RECHECK`): space freed by DELETEs counts at once, not
        // at the monitor's next turn.
        let stale = self
            .capacity
            .read_at
            .lock()
            .expect("capacity")
            .is_none_or(|t| t.elapsed() >= OOS_RECHECK);
        let cap = if stale {
            self.refresh_capacity()
        } else {
            self.capacity()
        };
        if cap.state != "oos" {
            return Ok(());
        }
        let full = cap
            .mountpaths
            .iter()
            .max_by_key(|m| m.used_pct)
            .map(|m| m.path.clone())
            .unwrap_or_default();
        Err(StoreError::NoSpace {
            path: full,
            err: io::Error::other(format!(
                "{}% used, at or over the out-of-space watermark ({}%)",
                cap.pct_max, cap.conf.oos
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_validation() {
        let c = SpaceConf::default();
        assert!(c.validate().is_ok());
        assert_eq!(
            [0, 74, 75, 89, 90, 94, 95, 100].map(|p| state_of(&c, p)),
            ["ok", "ok", "low", "low", "high", "high", "oos", "oos"]
        );
        for bad in [(80, 70, 95), (75, 90, 90), (75, 90, 101), (0, 90, 95)] {
            let c = SpaceConf {
                low_wm: bad.0,
                high_wm: bad.1,
                oos: bad.2,
            };
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
