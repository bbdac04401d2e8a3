//! The set of objects GETs may target, shared by every worker on every core: names found at
//! start (listing or `-objlist`) plus the objects this run PUT successfully.
//!
//! Names are stored percent-encoded, ready for a request path. The list only grows during a
//! run, so an index once handed out stays valid. With `-uniquegets` a shared shuffled walk
//! hands out every index once per epoch; a new epoch reshuffles everything known by then
//! (objects PUT during an epoch join the next one, as in aisloader).
//!
//! With `-epochs N` the walk stops after N epochs ([`ObjectSet::exhausted`]) and keeps an
//! [`EpochTimes`] per epoch: when its first pick was made and when the last of its GETs
//! completed. Every pick carries its epoch number, so a GET counts in the epoch it was picked
//! in even when it completes after the next epoch started ([`ObjectSet::complete`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use crate::rng::Rng;

/// Size of an object whose size is not known (from `-objlist`).
pub const SIZE_UNKNOWN: u64 = u64::MAX;

#[derive(Debug)]
struct Object {
    /// Percent-encoded name.
    path: Box<str>,
    size: u64,
}

/// One pick: the object's size ([`SIZE_UNKNOWN`] if not known) and the epoch of the unique
/// walk it belongs to (1-based; 0 for random picks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub size: u64,
    pub epoch: u64,
}

/// The timeline of one epoch of a bounded (`-epochs`) walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochTimes {
    /// Objects in the epoch (picks it hands out).
    pub objects: u64,
    /// Its first pick.
    pub start: Instant,
    /// GETs of the epoch completed so far (successful or not).
    pub done: u64,
    /// When its last GET completed.
    pub end: Option<Instant>,
}

#[derive(Debug)]
struct Walk {
    order: Vec<u32>,
    pos: usize,
    rng: Rng,
    epochs: u64,
    /// 0 = unbounded.
    epochs_max: u64,
    /// One entry per started epoch, kept only when bounded.
    log: Vec<EpochTimes>,
}

/// Objects to GET; see the module docs.
#[derive(Debug)]
pub struct ObjectSet {
    objects: RwLock<Vec<Object>>,
    /// Objects known before the run (the rest were PUT by it).
    preexisting: usize,
    walk: Option<Mutex<Walk>>,
    /// `-putexisting`: the next of the preexisting objects to overwrite (mod their count).
    put_cursor: AtomicUsize,
}

impl ObjectSet {
    /// A set starting with `initial` `(name, size)` pairs (names not yet encoded). `unique`:
    /// the shuffled walk; `epochs_max` (with `unique`) stops it after that many epochs (0 =
    /// never).
    pub fn new(initial: Vec<(String, u64)>, unique: bool, epochs_max: u64, seed: u64) -> ObjectSet {
        let objects: Vec<Object> = initial
            .into_iter()
            .map(|(name, size)| Object {
                path: crate::http::encode_name(&name).into(),
                size,
            })
            .collect();
        let walk = unique.then(|| {
            Mutex::new(Walk {
                order: Vec::new(),
                pos: 0,
                rng: Rng::new(seed, u64::MAX),
                epochs: 0,
                epochs_max,
                log: Vec::new(),
            })
        });
        ObjectSet {
            preexisting: objects.len(),
            objects: RwLock::new(objects),
            walk,
            put_cursor: AtomicUsize::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.objects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Adds an object this run PUT (`name` already encoded).
    pub fn add_put(&self, path: &str, size: u64) {
        let mut objects = self.objects.write().unwrap_or_else(PoisonError::into_inner);
        assert!(objects.len() < u32::MAX as usize, "object set is full");
        objects.push(Object {
            path: path.into(),
            size,
        });
    }

    /// `-putexisting`: the next object known at start to overwrite, in list order and round
    /// and round (a cursor shared by all workers): copies its encoded name into `path`;
    /// `false` when none was known at start.
    pub fn next_existing(&self, path: &mut String) -> bool {
        if self.preexisting == 0 {
            return false;
        }
        let i = self.put_cursor.fetch_add(1, Ordering::Relaxed) % self.preexisting;
        let objects = self.objects.read().unwrap_or_else(PoisonError::into_inner);
        path.clear();
        path.push_str(&objects[i].path);
        true
    }

    /// Picks an object to GET: copies its encoded name into `path` and returns its size and
    /// epoch; `None` when the set is empty or a bounded walk has done all its epochs.
    pub fn pick(&self, rng: &mut Rng, path: &mut String) -> Option<Pick> {
        let (index, epoch) = match &self.walk {
            None => {
                let n = self.len();
                if n == 0 {
                    return None;
                }
                (rng.below(n as u64) as usize, 0)
            }
            Some(walk) => {
                let mut w = walk.lock().unwrap_or_else(PoisonError::into_inner);
                if w.pos == w.order.len() {
                    if w.epochs_max > 0 && w.epochs >= w.epochs_max {
                        return None;
                    }
                    let n = self.len();
                    if n == 0 {
                        return None;
                    }
                    let Walk { order, rng, .. } = &mut *w;
                    order.clear();
                    order.extend(0..n as u32);
                    rng.shuffle(order);
                    w.pos = 0;
                    w.epochs += 1;
                    if w.epochs_max > 0 {
                        w.log.push(EpochTimes {
                            objects: n as u64,
                            start: Instant::now(),
                            done: 0,
                            end: None,
                        });
                    }
                }
                w.pos += 1;
                (w.order[w.pos - 1] as usize, w.epochs)
            }
        };
        let objects = self.objects.read().unwrap_or_else(PoisonError::into_inner);
        let o = &objects[index];
        path.clear();
        path.push_str(&o.path);
        Some(Pick {
            size: o.size,
            epoch,
        })
    }

    /// A GET picked in `epoch` (of a bounded walk) completed, successfully or not; returns
    /// true when it was the epoch's last one (the epoch's end time is now recorded).
    pub fn complete(&self, epoch: u64) -> bool {
        let Some(walk) = &self.walk else {
            return false;
        };
        let mut w = walk.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(e) = epoch.checked_sub(1).and_then(|i| w.log.get_mut(i as usize)) else {
            return false;
        };
        assert!(
            e.done < e.objects,
            "epoch {epoch} completed more GETs than it has objects"
        );
        e.done += 1;
        if e.done == e.objects {
            e.end = Some(Instant::now());
            return true;
        }
        false
    }

    /// True when a bounded walk has handed out every pick of its last epoch.
    pub fn exhausted(&self) -> bool {
        self.walk.as_ref().is_some_and(|w| {
            let w = w.lock().unwrap_or_else(PoisonError::into_inner);
            w.epochs_max > 0 && w.epochs >= w.epochs_max && w.pos == w.order.len()
        })
    }

    /// The timeline of every epoch started so far (bounded walks only).
    pub fn epoch_times(&self) -> Vec<EpochTimes> {
        self.walk.as_ref().map_or_else(Vec::new, |w| {
            w.lock().unwrap_or_else(PoisonError::into_inner).log.clone()
        })
    }

    /// Epochs started by the unique walk (0 without `-uniquegets`).
    pub fn epochs(&self) -> u64 {
        self.walk.as_ref().map_or(0, |w| {
            w.lock().unwrap_or_else(PoisonError::into_inner).epochs
        })
    }

    /// Encoded names of the objects this run PUT (for `-cleanup`).
    pub fn put_by_this_run(&self) -> Vec<String> {
        let objects = self.objects.read().unwrap_or_else(PoisonError::into_inner);
        objects[self.preexisting..]
            .iter()
            .map(|o| o.path.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_walk_visits_each_object_once_per_epoch() {
        let initial: Vec<(String, u64)> = (0..50).map(|i| (format!("o{i}"), i)).collect();
        let set = ObjectSet::new(initial, true, 0, 1);
        let mut rng = Rng::new(1, 1);
        let mut name = String::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let Pick { size, epoch } = set.pick(&mut rng, &mut name).unwrap();
            assert_eq!(epoch, 1);
            assert_eq!(name, format!("o{size}"));
            assert!(seen.insert(name.clone()), "{name} twice in one epoch");
        }
        assert_eq!(set.epochs(), 1);
        set.add_put("new/one", 7);
        assert_eq!(set.pick(&mut rng, &mut name).unwrap().epoch, 2);
        assert!(!set.exhausted(), "unbounded");
        assert!(set.epoch_times().is_empty(), "no timeline when unbounded");
        assert_eq!(
            set.epochs(),
            2,
            "the 51st GET starts epoch 2, which includes new/one"
        );
        assert_eq!(set.put_by_this_run(), ["new/one"]);
    }

    #[test]
    fn next_existing_cycles_over_the_initial_objects_only() {
        let set = ObjectSet::new(vec![("a".into(), 1), ("b c".into(), 2)], false, 0, 1);
        set.add_put("new", 3);
        let mut name = String::new();
        let got: Vec<String> = (0..5)
            .map(|_| {
                assert!(set.next_existing(&mut name));
                name.clone()
            })
            .collect();
        assert_eq!(got, ["a", "b%20c", "a", "b%20c", "a"]);
        let empty = ObjectSet::new(Vec::new(), false, 0, 1);
        assert!(!empty.next_existing(&mut name));
    }

    #[test]
    fn random_picks_and_empty_set() {
        let set = ObjectSet::new(Vec::new(), false, 0, 1);
        let mut rng = Rng::new(1, 1);
        let mut name = String::new();
        assert_eq!(set.pick(&mut rng, &mut name), None);
        set.add_put("a", 1);
        assert_eq!(
            set.pick(&mut rng, &mut name),
            Some(Pick { size: 1, epoch: 0 })
        );
        assert_eq!(name, "a");
        let uset = ObjectSet::new(vec![("sp ace".into(), SIZE_UNKNOWN)], true, 0, 1);
        assert_eq!(
            uset.pick(&mut rng, &mut name).map(|p| p.size),
            Some(SIZE_UNKNOWN)
        );
        assert_eq!(name, "sp%20ace", "names are stored encoded");
        assert!(uset.put_by_this_run().is_empty());
    }

    /// Walks `set` to the end from `threads` threads at once; returns every (epoch, name)
    /// handed out.
    fn walk_concurrently(set: &ObjectSet, threads: u64) -> Vec<(u64, String)> {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        let mut rng = Rng::new(9, t);
                        let mut name = String::new();
                        let mut got = Vec::new();
                        while let Some(p) = set.pick(&mut rng, &mut name) {
                            got.push((p.epoch, name.clone()));
                        }
                        got
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        })
    }

    #[test]
    fn bounded_walk_hands_out_each_object_once_per_epoch_then_stops() {
        const N: u64 = 997;
        const EPOCHS: u64 = 4;
        let initial: Vec<(String, u64)> = (0..N).map(|i| (format!("o{i}"), i)).collect();
        let set = ObjectSet::new(initial, true, EPOCHS, 5);
        let picks = walk_concurrently(&set, 4);
        assert_eq!(
            picks.len() as u64,
            N * EPOCHS,
            "exactly N x epochs picks in all"
        );
        assert!(set.exhausted());
        let mut rng = Rng::new(1, 1);
        assert_eq!(
            set.pick(&mut rng, &mut String::new()),
            None,
            "stays stopped"
        );
        let mut per_epoch: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
        for (epoch, name) in picks {
            per_epoch.entry(epoch).or_default().push(name);
        }
        assert_eq!(
            per_epoch.keys().copied().collect::<Vec<_>>(),
            (1..=EPOCHS).collect::<Vec<_>>()
        );
        let all: Vec<String> = (0..N).map(|i| format!("o{i}")).collect();
        let mut orders = Vec::new();
        for (epoch, names) in &per_epoch {
            let mut sorted = names.clone();
            sorted.sort();
            let mut want = all.clone();
            want.sort();
            assert_eq!(sorted, want, "epoch {epoch}: every object exactly once");
            orders.push(names.clone());
        }
        // A fresh shuffle per epoch (single-threaded, so the order is the walk's order).
        let one = ObjectSet::new(all.iter().map(|n| (n.clone(), 0)).collect(), true, 2, 5);
        let seq = walk_concurrently(&one, 1);
        let (e1, e2) = seq.split_at(N as usize);
        assert_ne!(e1, e2, "epoch 2 is reshuffled");
        assert!(e1.iter().all(|(e, _)| *e == 1) && e2.iter().all(|(e, _)| *e == 2));
        let times = set.epoch_times();
        assert_eq!(times.len() as u64, EPOCHS);
        assert!(times
            .iter()
            .all(|t| t.objects == N && t.done == 0 && t.end.is_none()));
    }

    #[test]
    fn a_get_counts_in_the_epoch_it_was_picked_in() {
        let initial: Vec<(String, u64)> = (0..3).map(|i| (format!("o{i}"), 1)).collect();
        let set = ObjectSet::new(initial, true, 2, 3);
        let mut rng = Rng::new(1, 1);
        let mut name = String::new();
        let first: Vec<u64> = (0..3)
            .map(|_| set.pick(&mut rng, &mut name).unwrap().epoch)
            .collect();
        assert_eq!(first, [1, 1, 1]);
        // Two of epoch 1 complete; the third is still in flight when epoch 2 starts.
        assert!(!set.complete(1));
        assert!(!set.complete(1));
        assert_eq!(set.pick(&mut rng, &mut name).unwrap().epoch, 2);
        assert!(!set.complete(2));
        let t = set.epoch_times();
        assert_eq!((t[0].done, t[0].end), (2, None), "epoch 1 not over yet");
        assert!(t[1].start >= t[0].start);
        // The late one completes: it ends epoch 1, not epoch 2.
        assert!(set.complete(1), "the last GET of epoch 1 ends it");
        let t = set.epoch_times();
        assert!(t[0].end.is_some());
        assert_eq!((t[1].done, t[1].end), (1, None));
        assert!(!set.exhausted());
        for _ in 0..2 {
            assert_eq!(set.pick(&mut rng, &mut name).unwrap().epoch, 2);
        }
        assert!(set.exhausted());
        assert_eq!(set.pick(&mut rng, &mut name), None);
        assert!(!set.complete(2));
        assert!(set.complete(2));
        assert!(!set.complete(0), "random picks have no epoch");
        assert!(!set.complete(7), "no such epoch");
    }
}
