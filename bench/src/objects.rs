//! The set of objects GETs may target, shared by every worker on every core: names found at
//! start (listing or `-objlist`) plus the objects this run PUT successfully.
//!
//! Names are stored percent-encoded, ready for a request path. The list only grows during a
//! run, so an index once handed out stays valid. With `-uniquegets` a shared shuffled walk
//! hands out every index once per epoch; a new epoch reshuffles everything known by then
//! (objects PUT during an epoch join the next one, as in aisloader).

use std::sync::{Mutex, PoisonError, RwLock};

use crate::rng::Rng;

/// Size of an object whose size is not known (from `-objlist`).
pub const SIZE_UNKNOWN: u64 = u64::MAX;

#[derive(Debug)]
struct Object {
    /// Percent-encoded name.
    path: Box<str>,
    size: u64,
}

#[derive(Debug)]
struct Walk {
    order: Vec<u32>,
    pos: usize,
    rng: Rng,
    epochs: u64,
}

/// Objects to GET; see the module docs.
#[derive(Debug)]
pub struct ObjectSet {
    objects: RwLock<Vec<Object>>,
    /// Objects known before the run (the rest were PUT by it).
    preexisting: usize,
    walk: Option<Mutex<Walk>>,
}

impl ObjectSet {
    /// A set starting with `initial` `(name, size)` pairs (names not yet encoded).
    pub fn new(initial: Vec<(String, u64)>, unique: bool, seed: u64) -> ObjectSet {
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
            })
        });
        ObjectSet {
            preexisting: objects.len(),
            objects: RwLock::new(objects),
            walk,
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

    /// Picks an object to GET: copies its encoded name into `path` and returns its size
    /// ([`SIZE_UNKNOWN`] if not known); `None` when the set is empty.
    pub fn pick(&self, rng: &mut Rng, path: &mut String) -> Option<u64> {
        let index = match &self.walk {
            None => {
                let n = self.len();
                if n == 0 {
                    return None;
                }
                rng.below(n as u64) as usize
            }
            Some(walk) => {
                let mut w = walk.lock().unwrap_or_else(PoisonError::into_inner);
                if w.pos == w.order.len() {
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
                }
                w.pos += 1;
                w.order[w.pos - 1] as usize
            }
        };
        let objects = self.objects.read().unwrap_or_else(PoisonError::into_inner);
        let o = &objects[index];
        path.clear();
        path.push_str(&o.path);
        Some(o.size)
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
        let set = ObjectSet::new(initial, true, 1);
        let mut rng = Rng::new(1, 1);
        let mut name = String::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let size = set.pick(&mut rng, &mut name).unwrap();
            assert_eq!(name, format!("o{size}"));
            assert!(seen.insert(name.clone()), "{name} twice in one epoch");
        }
        assert_eq!(set.epochs(), 1);
        set.add_put("new/one", 7);
        set.pick(&mut rng, &mut name).unwrap();
        assert_eq!(
            set.epochs(),
            2,
            "the 51st GET starts epoch 2, which includes new/one"
        );
        assert_eq!(set.put_by_this_run(), ["new/one"]);
    }

    #[test]
    fn random_picks_and_empty_set() {
        let set = ObjectSet::new(Vec::new(), false, 1);
        let mut rng = Rng::new(1, 1);
        let mut name = String::new();
        assert_eq!(set.pick(&mut rng, &mut name), None);
        set.add_put("a", 1);
        assert_eq!(set.pick(&mut rng, &mut name), Some(1));
        assert_eq!(name, "a");
        let uset = ObjectSet::new(vec![("sp ace".into(), SIZE_UNKNOWN)], true, 1);
        assert_eq!(uset.pick(&mut rng, &mut name), Some(SIZE_UNKNOWN));
        assert_eq!(name, "sp%20ace", "names are stored encoded");
        assert!(uset.put_by_this_run().is_empty());
    }
}
