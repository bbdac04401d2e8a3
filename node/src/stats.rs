//! Counters for `/metrics`, kept per core and gathered on scrape.
//!
//! Each counter has one writer, its core, which updates it with a plain load and store (no
//! read-modify-write, no lock); a scrape on any core reads every core's counters with relaxed
//! loads. Names follow AIS (`ais_target_get_count`, ... labelled by bucket), plus aisle's own
//! per-core and per-mountpath series.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use engine::mountpath::MountpathId;

use crate::config::BodyPolicy;

/// A single-writer counter.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `v`; only the owning core calls this.
    pub fn add(&self, v: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(v),
            Ordering::Relaxed,
        );
    }
    /// Sets the value; only the owning core calls this.
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The operations counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Get,
    Put,
    Head,
    Delete,
    List,
}

/// Counters of one bucket (or of all buckets, or of one mountpath) on one core.
#[derive(Default)]
pub struct OpCounters {
    pub get_count: Counter,
    pub get_bytes: Counter,
    pub get_ns: Counter,
    pub put_count: Counter,
    pub put_bytes: Counter,
    pub put_ns: Counter,
    pub head_count: Counter,
    pub head_ns: Counter,
    pub del_count: Counter,
    pub lst_count: Counter,
    pub err_get: Counter,
    pub err_put: Counter,
    pub err_head: Counter,
    pub err_del: Counter,
    pub err_lst: Counter,
    pub err_io_get: Counter,
    pub err_io_put: Counter,
    pub err_cksum: Counter,
}

/// What one request did, for the counters.
pub struct Outcome {
    pub op: Op,
    pub ok: bool,
    pub bytes: u64,
    pub ns: u64,
    pub err_io: bool,
    pub err_cksum: bool,
}

impl OpCounters {
    fn record(&self, o: &Outcome) {
        if o.ok {
            match o.op {
                Op::Get => {
                    self.get_count.add(1);
                    self.get_bytes.add(o.bytes);
                    self.get_ns.add(o.ns);
                }
                Op::Put => {
                    self.put_count.add(1);
                    self.put_bytes.add(o.bytes);
                    self.put_ns.add(o.ns);
                }
                Op::Head => {
                    self.head_count.add(1);
                    self.head_ns.add(o.ns);
                }
                Op::Delete => self.del_count.add(1),
                Op::List => self.lst_count.add(1),
            }
            return;
        }
        match o.op {
            Op::Get => {
                self.err_get.add(1);
                if o.err_io {
                    self.err_io_get.add(1);
                }
            }
            Op::Put => {
                self.err_put.add(1);
                if o.err_io {
                    self.err_io_put.add(1);
                }
            }
            Op::Head => self.err_head.add(1),
            Op::Delete => self.err_del.add(1),
            Op::List => self.err_lst.add(1),
        }
        if o.err_cksum {
            self.err_cksum.add(1);
        }
    }
}

/// One core's counters (shared with scrapers through an `Arc`).
pub struct CoreStats {
    pub core: usize,
    pub total: OpCounters,
    /// By mountpath index (GET and PUT only).
    pub mountpaths: Vec<OpCounters>,
    /// By bucket name: the core inserts (first request for a bucket), scrapes read.
    buckets: Mutex<HashMap<String, Arc<OpCounters>>>,
    pub conns_accepted: Counter,
    pub conns_closed: Counter,
    /// PUTs stored through the direct-I/O path.
    pub put_direct: Counter,
    /// Of those, PUTs whose buffer was registered with the ring (WRITE_FIXED).
    pub put_direct_fixed: Counter,
    /// Response-body pieces (a GET body, or one chunk of it) sent by each method.
    pub body_copy: Counter,
    pub body_sendfile: Counter,
    pub body_splice: Counter,
    /// Object opens served from this core's cache of open objects, and those that opened
    /// the file (copied from the core's `CoreView` after each open).
    pub cache_hits: Counter,
    pub cache_misses: Counter,
}

impl CoreStats {
    pub fn new(core: usize, mountpaths: usize) -> CoreStats {
        CoreStats {
            core,
            total: OpCounters::default(),
            mountpaths: (0..mountpaths).map(|_| OpCounters::default()).collect(),
            buckets: Mutex::new(HashMap::new()),
            conns_accepted: Counter::default(),
            conns_closed: Counter::default(),
            put_direct: Counter::default(),
            put_direct_fixed: Counter::default(),
            body_copy: Counter::default(),
            body_sendfile: Counter::default(),
            body_splice: Counter::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
        }
    }

    /// Counts one body piece sent by `method`.
    pub fn count_body_method(&self, method: BodyPolicy) {
        match method {
            BodyPolicy::Copy => self.body_copy.add(1),
            BodyPolicy::Sendfile => self.body_sendfile.add(1),
            // `Auto` never reaches a send: `BodySend::method` resolves it.
            BodyPolicy::Splice | BodyPolicy::Auto => self.body_splice.add(1),
        }
    }
}

/// The owning core's handle: records outcomes, caching bucket counters without locking.
pub struct CoreRecorder {
    pub stats: Arc<CoreStats>,
    cache: RefCell<HashMap<String, Arc<OpCounters>>>,
}

impl CoreRecorder {
    pub fn new(stats: Arc<CoreStats>) -> CoreRecorder {
        CoreRecorder {
            stats,
            cache: RefCell::new(HashMap::new()),
        }
    }

    fn bucket(&self, bucket: &str) -> Arc<OpCounters> {
        if let Some(c) = self.cache.borrow().get(bucket) {
            return c.clone();
        }
        let c = self
            .stats
            .buckets
            .lock()
            .expect("stats lock")
            .entry(bucket.to_string())
            .or_default()
            .clone();
        self.cache
            .borrow_mut()
            .insert(bucket.to_string(), c.clone());
        c
    }

    /// Records one request's outcome against the totals, its bucket and its mountpath.
    pub fn record(&self, bucket: &str, mountpath: Option<MountpathId>, o: &Outcome) {
        self.stats.total.record(o);
        if !bucket.is_empty() {
            self.bucket(bucket).record(o);
        }
        if let Some(m) = mountpath.and_then(|m| self.stats.mountpaths.get(m.index())) {
            m.record(o);
        }
    }
}

/// What a scrape needs to know about the node.
pub struct ScrapeInfo<'a> {
    pub node_id: &'a str,
    pub uptime_ns: u64,
    pub mountpaths: Vec<String>,
    /// By mountpath: its filesystem refused O_DIRECT (direct PUTs fall back to buffered).
    pub direct_refused: Vec<bool>,
}

fn line(out: &mut String, name: &str, labels: &str, v: u64) {
    let _ = writeln!(out, "{name}{{{labels}}} {v}");
}

fn sums(
    cores: &[Arc<CoreStats>],
    f: impl Fn(&CoreStats) -> Vec<(&'static str, u64)>,
) -> Vec<(&'static str, u64)> {
    let mut acc: Vec<(&'static str, u64)> = Vec::new();
    for c in cores {
        for (i, (n, v)) in f(c).into_iter().enumerate() {
            if acc.len() <= i {
                acc.push((n, 0));
            }
            acc[i].1 += v;
        }
    }
    acc
}

fn op_values(c: &OpCounters) -> Vec<(&'static str, u64)> {
    vec![
        ("get_count", c.get_count.get()),
        ("get_bytes", c.get_bytes.get()),
        ("get_ns_total", c.get_ns.get()),
        ("put_count", c.put_count.get()),
        ("put_bytes", c.put_bytes.get()),
        ("put_ns_total", c.put_ns.get()),
        ("head_count", c.head_count.get()),
        ("head_ns_total", c.head_ns.get()),
        ("del_count", c.del_count.get()),
        ("lst_count", c.lst_count.get()),
        ("err_get_count", c.err_get.get()),
        ("err_put_count", c.err_put.get()),
        ("err_head_count", c.err_head.get()),
        ("err_del_count", c.err_del.get()),
        ("err_lst_count", c.err_lst.get()),
        ("err_io_get_count", c.err_io_get.get()),
        ("err_io_put_count", c.err_io_put.get()),
        ("err_cksum_count", c.err_cksum.get()),
    ]
}

/// Renders every core's counters in Prometheus text format.
pub fn render(cores: &[Arc<CoreStats>], info: &ScrapeInfo<'_>) -> String {
    let mut out = String::with_capacity(8192);
    let node = format!("node_id=\"{}\"", info.node_id);
    // AIS's series: each family grouped: node total, then one sample per bucket.
    let totals = sums(cores, |c| op_values(&c.total));
    let mut names: Vec<String> = Vec::new();
    for c in cores {
        for b in c.buckets.lock().expect("stats lock").keys() {
            if !names.contains(b) {
                names.push(b.clone());
            }
        }
    }
    names.sort();
    let per_bucket: Vec<Vec<(&'static str, u64)>> = names
        .iter()
        .map(|b| {
            sums(cores, |c| {
                let m = c.buckets.lock().expect("stats lock");
                m.get(b)
                    .map(|x| op_values(x))
                    .unwrap_or_else(|| op_values(&OpCounters::default()))
            })
        })
        .collect();
    for (i, (n, v)) in totals.iter().enumerate() {
        let name = format!("ais_target_{n}");
        let _ = writeln!(out, "# TYPE {name} counter");
        line(&mut out, &name, &node, *v);
        for (b, vals) in names.iter().zip(&per_bucket) {
            line(
                &mut out,
                &name,
                &format!("{node},bucket=\"ais://{b}\""),
                vals[i].1,
            );
        }
    }
    #[cfg(feature = "alloc-count")]
    {
        let _ = writeln!(out, "# TYPE aisle_heap_allocs_count counter");
        let n = engine::io::alloc_count::HEAP_ALLOCS.load(std::sync::atomic::Ordering::Relaxed);
        line(&mut out, "aisle_heap_allocs_count", &node, n);
    }
    let _ = writeln!(out, "# TYPE ais_target_uptime gauge");
    line(&mut out, "ais_target_uptime", &node, info.uptime_ns);
    let _ = writeln!(out, "# TYPE ais_target_state_flags gauge");
    line(&mut out, "ais_target_state_flags", &node, 0);
    // aisle's own: per core and per mountpath, each family grouped.
    let core_fams = [
        "get_count",
        "get_bytes",
        "put_count",
        "put_bytes",
        "head_count",
        "del_count",
    ];
    for f in core_fams {
        let name = format!("aisle_core_{f}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for c in cores {
            let v = op_values(&c.total)
                .into_iter()
                .find(|(n, _)| *n == f)
                .map(|(_, v)| v)
                .unwrap_or(0);
            line(&mut out, &name, &format!("{node},core=\"{}\"", c.core), v);
        }
    }
    let _ = writeln!(out, "# TYPE aisle_core_conns_accepted_count counter");
    for c in cores {
        line(
            &mut out,
            "aisle_core_conns_accepted_count",
            &format!("{node},core=\"{}\"", c.core),
            c.conns_accepted.get(),
        );
    }
    let _ = writeln!(out, "# TYPE aisle_core_conns_open gauge");
    for c in cores {
        let open = c.conns_accepted.get().saturating_sub(c.conns_closed.get());
        line(
            &mut out,
            "aisle_core_conns_open",
            &format!("{node},core=\"{}\"", c.core),
            open,
        );
    }
    for (name, f) in [
        (
            "aisle_core_put_direct_count",
            (|c: &CoreStats| c.put_direct.get()) as fn(&CoreStats) -> u64,
        ),
        ("aisle_core_put_direct_fixed_count", |c| {
            c.put_direct_fixed.get()
        }),
        ("aisle_core_body_copy_count", |c| c.body_copy.get()),
        ("aisle_core_body_sendfile_count", |c| c.body_sendfile.get()),
        ("aisle_core_body_splice_count", |c| c.body_splice.get()),
        ("aisle_core_cache_hit_count", |c| c.cache_hits.get()),
        ("aisle_core_cache_miss_count", |c| c.cache_misses.get()),
    ] {
        let _ = writeln!(out, "# TYPE {name} counter");
        for c in cores {
            line(&mut out, name, &format!("{node},core=\"{}\"", c.core), f(c));
        }
    }
    let mp_fams = [
        "get_count",
        "get_bytes",
        "put_count",
        "put_bytes",
        "err_io_get_count",
        "err_io_put_count",
    ];
    for f in mp_fams {
        let name = format!("aisle_mountpath_{f}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (i, mp) in info.mountpaths.iter().enumerate() {
            let v: u64 = cores
                .iter()
                .filter_map(|c| c.mountpaths.get(i))
                .map(|m| {
                    op_values(m)
                        .into_iter()
                        .find(|(n, _)| *n == f)
                        .map(|(_, v)| v)
                        .unwrap_or(0)
                })
                .sum();
            line(&mut out, &name, &format!("{node},mountpath=\"{mp}\""), v);
        }
    }
    let _ = writeln!(out, "# TYPE aisle_mountpath_direct_refused gauge");
    for (i, mp) in info.mountpaths.iter().enumerate() {
        let v = info.direct_refused.get(i).copied().unwrap_or(false);
        line(
            &mut out,
            "aisle_mountpath_direct_refused",
            &format!("{node},mountpath=\"{mp}\""),
            v as u64,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_and_sum_over_cores() {
        // Goal: each metric family appears as one group (Prometheus requires it) and node
        // totals are the sum over cores, with per-bucket samples in the same family.
        let cores: Vec<Arc<CoreStats>> = (0..2).map(|c| Arc::new(CoreStats::new(c, 1))).collect();
        for c in &cores {
            let r = CoreRecorder::new(c.clone());
            let o = Outcome {
                op: Op::Get,
                ok: true,
                bytes: 10,
                ns: 5,
                err_io: false,
                err_cksum: false,
            };
            r.record("b1", Some(MountpathId::new(0)), &o);
            r.record("b2", Some(MountpathId::new(0)), &o);
            let e = Outcome {
                op: Op::Put,
                ok: false,
                bytes: 0,
                ns: 1,
                err_io: false,
                err_cksum: true,
            };
            r.record("b1", None, &e);
        }
        let info = ScrapeInfo {
            node_id: "n",
            uptime_ns: 1,
            mountpaths: vec!["/mp".into()],
            direct_refused: vec![false],
        };
        let text = render(&cores, &info);
        assert!(
            text.contains("ais_target_get_count{node_id=\"n\"} 4\n"),
            "{text}"
        );
        assert!(text.contains("ais_target_get_count{node_id=\"n\",bucket=\"ais://b1\"} 2\n"));
        assert!(text.contains("ais_target_get_bytes{node_id=\"n\",bucket=\"ais://b2\"} 20\n"));
        assert!(text.contains("ais_target_err_cksum_count{node_id=\"n\",bucket=\"ais://b1\"} 2\n"));
        assert!(text.contains("aisle_mountpath_get_count{node_id=\"n\",mountpath=\"/mp\"} 4\n"));
        // Grouping: once a family's samples end, its name never appears again.
        let mut seen: Vec<String> = Vec::new();
        let mut last = String::new();
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split('{').next().unwrap().to_string();
            if name != last {
                assert!(!seen.contains(&name), "family {name} is split");
                seen.push(name.clone());
                last = name;
            }
        }
    }
}
