//! Counters for `/metrics`, kept per core and gathered on scrape.
//!
//! Each counter has one writer, its core, which updates it with a plain load and store (no
//! read-modify-write, no lock); a scrape on any core reads every core's counters with relaxed
//! loads. Names follow AIS (`ais_target_get_count`, ... labelled by bucket), plus aisle's own
//! per-core and per-mountpath series.
//!
//! Request input never makes a series: a bucket gets per-bucket counters only while it exists
//! in the bucket metadata (keyed by its BID, so a new bucket of the same name starts at zero);
//! a request naming a missing or invalid bucket counts in the node totals only. A core drops
//! the counters of destroyed buckets when it sees the BMD change, and a scrape renders only
//! buckets of the current BMD, so the exposition is proportional to existing buckets ×
//! families. Every label value is escaped per the text exposition format.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use engine::bmd::Bmd;
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

/// S3 operations, counted per request in `aisle_s3_requests_total{op=...}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3Op {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketVersioning,
    PutBucketVersioning,
    ListObjects,
    ListObjectsV2,
    GetObject,
    HeadObject,
    PutObject,
    CopyObject,
    DeleteObject,
    DeleteObjects,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    ListMultipartUploads,
    /// Other multipart requests (e.g. GET of one part, not implemented).
    Multipart,
    /// Anything else (unsupported sub-resources, methods not allowed, bad paths).
    Other,
}

impl S3Op {
    pub const ALL: [S3Op; 24] = [
        S3Op::ListBuckets,
        S3Op::CreateBucket,
        S3Op::HeadBucket,
        S3Op::DeleteBucket,
        S3Op::GetBucketLocation,
        S3Op::GetBucketVersioning,
        S3Op::PutBucketVersioning,
        S3Op::ListObjects,
        S3Op::ListObjectsV2,
        S3Op::GetObject,
        S3Op::HeadObject,
        S3Op::PutObject,
        S3Op::CopyObject,
        S3Op::DeleteObject,
        S3Op::DeleteObjects,
        S3Op::CreateMultipartUpload,
        S3Op::UploadPart,
        S3Op::UploadPartCopy,
        S3Op::CompleteMultipartUpload,
        S3Op::AbortMultipartUpload,
        S3Op::ListParts,
        S3Op::ListMultipartUploads,
        S3Op::Multipart,
        S3Op::Other,
    ];

    /// The `op` label.
    pub fn name(self) -> &'static str {
        match self {
            S3Op::ListBuckets => "ListBuckets",
            S3Op::CreateBucket => "CreateBucket",
            S3Op::HeadBucket => "HeadBucket",
            S3Op::DeleteBucket => "DeleteBucket",
            S3Op::GetBucketLocation => "GetBucketLocation",
            S3Op::GetBucketVersioning => "GetBucketVersioning",
            S3Op::PutBucketVersioning => "PutBucketVersioning",
            S3Op::ListObjects => "ListObjects",
            S3Op::ListObjectsV2 => "ListObjectsV2",
            S3Op::GetObject => "GetObject",
            S3Op::HeadObject => "HeadObject",
            S3Op::PutObject => "PutObject",
            S3Op::CopyObject => "CopyObject",
            S3Op::DeleteObject => "DeleteObject",
            S3Op::DeleteObjects => "DeleteObjects",
            S3Op::CreateMultipartUpload => "CreateMultipartUpload",
            S3Op::UploadPart => "UploadPart",
            S3Op::UploadPartCopy => "UploadPartCopy",
            S3Op::CompleteMultipartUpload => "CompleteMultipartUpload",
            S3Op::AbortMultipartUpload => "AbortMultipartUpload",
            S3Op::ListParts => "ListParts",
            S3Op::ListMultipartUploads => "ListMultipartUploads",
            S3Op::Multipart => "Multipart",
            S3Op::Other => "Other",
        }
    }
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
    /// By bucket name: the BID of the bucket they count and the counters. Only the owning
    /// core inserts (first request for an existing bucket) and removes (bucket destroyed);
    /// scrapes read.
    buckets: Mutex<HashMap<String, (u64, Arc<OpCounters>)>>,
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
    /// Cached objects closed by the core's sweep because their file was deleted or replaced
    /// (copied from the core's `CoreView`).
    pub cache_swept: Counter,
    /// Connections closed because serving a request on them panicked.
    pub conn_panics: Counter,
    /// Requests refused 401 by token access control (no, bad or expired token).
    pub auth_refused: Counter,
    /// Requests refused 403 by token access control (token lacks the permission).
    pub auth_denied: Counter,
    /// Connections accepted over `--conns-per-core-max` and answered 503 (or closed).
    pub conns_refused: Counter,
    /// PUTs answered 503 because their core's in-flight PUT bytes were at the limit.
    pub put_refused: Counter,
    /// S3 requests by operation (index: position in `S3Op::ALL`).
    pub s3_ops: [Counter; S3Op::ALL.len()],
}

/// Mountpath ids with counters of their own (ids grow with each attach; a mountpath past
/// this is counted only in the totals).
pub const MOUNTPATH_IDS_COUNTED: usize = 256;

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
            cache_swept: Counter::default(),
            conn_panics: Counter::default(),
            auth_refused: Counter::default(),
            auth_denied: Counter::default(),
            conns_refused: Counter::default(),
            put_refused: Counter::default(),
            s3_ops: Default::default(),
        }
    }

    /// Counts one S3 request of `op`.
    pub fn count_s3(&self, op: S3Op) {
        self.s3_ops[op as usize].add(1);
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
    /// Bucket name → (BID, counters), a lock-free copy of this core's `stats.buckets`.
    cache: RefCell<HashMap<String, (u64, Arc<OpCounters>)>>,
    /// The BMD version the bucket counters were last checked against.
    bmd_version: Cell<u64>,
}

impl CoreRecorder {
    pub fn new(stats: Arc<CoreStats>) -> CoreRecorder {
        CoreRecorder {
            stats,
            cache: RefCell::new(HashMap::new()),
            bmd_version: Cell::new(u64::MAX),
        }
    }

    /// Forgets the counters of buckets no longer in `bmd` (destroyed, or recreated under a
    /// new BID). Runs once per BMD version this core sees; bucket changes are rare.
    fn prune(&self, bmd: &Bmd) {
        let live = |name: &str, bid: u64| bmd.buckets.get(name).map(|p| p.bid) == Some(bid);
        self.cache.borrow_mut().retain(|n, (bid, _)| live(n, *bid));
        self.stats
            .buckets
            .lock()
            .expect("stats lock")
            .retain(|n, (bid, _)| live(n, *bid));
        self.bmd_version.set(bmd.version);
    }

    fn bucket(&self, bucket: &str, bid: u64) -> Arc<OpCounters> {
        if let Some((b, c)) = self.cache.borrow().get(bucket) {
            if *b == bid {
                return c.clone();
            }
        }
        let c = Arc::new(OpCounters::default());
        self.stats
            .buckets
            .lock()
            .expect("stats lock")
            .insert(bucket.to_string(), (bid, c.clone()));
        self.cache
            .borrow_mut()
            .insert(bucket.to_string(), (bid, c.clone()));
        c
    }

    /// Records one request's outcome against the totals, its mountpath, and its bucket if
    /// `bmd` (the core's current snapshot) has it. A bucket the request merely named (missing,
    /// invalid) gets no counters of its own.
    pub fn record(&self, bmd: &Bmd, bucket: &str, mountpath: Option<MountpathId>, o: &Outcome) {
        self.stats.total.record(o);
        if self.bmd_version.get() != bmd.version {
            self.prune(bmd);
        }
        if let Some(p) = bmd.buckets.get(bucket) {
            self.bucket(bucket, p.bid).record(o);
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
    /// Each mountpath of the set: its id index (what its counters are kept by) and path.
    pub mountpaths: Vec<(usize, String)>,
    /// By position in `mountpaths`: its filesystem refused O_DIRECT (direct PUTs fall back to buffered).
    pub direct_refused: Vec<bool>,
    /// Filesystem health checks woken by I/O errors, and mountpaths they took out.
    pub fshc: (u64, u64),
    /// Capacity and watermarks as last read.
    pub capacity: engine::store::Capacity,
}

fn line(out: &mut String, name: &str, labels: &str, v: u64) {
    let _ = writeln!(out, "{name}{{{labels}}} {v}");
}

/// A label value escaped per the Prometheus text exposition format: backslash, double quote
/// and newline become `\\`, `\"` and `\n`; everything else stays as is.
pub fn escape_label(v: &str) -> Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() + 8);
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The counter families of `OpCounters`, in exposition order.
const OP_FAMILIES: [&str; 18] = [
    "get_count",
    "get_bytes",
    "get_ns_total",
    "put_count",
    "put_bytes",
    "put_ns_total",
    "head_count",
    "head_ns_total",
    "del_count",
    "lst_count",
    "err_get_count",
    "err_put_count",
    "err_head_count",
    "err_del_count",
    "err_lst_count",
    "err_io_get_count",
    "err_io_put_count",
    "err_cksum_count",
];

/// The values of `c`, in `OP_FAMILIES` order.
fn op_values(c: &OpCounters) -> [u64; 18] {
    [
        c.get_count.get(),
        c.get_bytes.get(),
        c.get_ns.get(),
        c.put_count.get(),
        c.put_bytes.get(),
        c.put_ns.get(),
        c.head_count.get(),
        c.head_ns.get(),
        c.del_count.get(),
        c.lst_count.get(),
        c.err_get.get(),
        c.err_put.get(),
        c.err_head.get(),
        c.err_del.get(),
        c.err_lst.get(),
        c.err_io_get.get(),
        c.err_io_put.get(),
        c.err_cksum.get(),
    ]
}

fn add_into(acc: &mut [u64; 18], v: [u64; 18]) {
    for (a, v) in acc.iter_mut().zip(v) {
        *a += v;
    }
}

fn family_index(f: &str) -> usize {
    OP_FAMILIES
        .iter()
        .position(|n| *n == f)
        .expect("a family of OP_FAMILIES")
}

/// Renders every core's counters in Prometheus text format. Per-bucket series only for the
/// buckets of `bmd` (the current bucket metadata) with the BID they were counted under; the
/// work is O(cores × counted buckets + existing buckets × families).
pub fn render(cores: &[Arc<CoreStats>], bmd: &Bmd, info: &ScrapeInfo<'_>) -> String {
    let mut out = String::with_capacity(8192);
    let node = format!("node_id=\"{}\"", escape_label(info.node_id));
    // AIS's series: each family grouped: node total, then one sample per bucket.
    let mut totals = [0u64; 18];
    let mut per_bucket: BTreeMap<String, [u64; 18]> = BTreeMap::new();
    for c in cores {
        add_into(&mut totals, op_values(&c.total));
        let m = c.buckets.lock().expect("stats lock");
        for (name, (bid, counters)) in m.iter() {
            if bmd.buckets.get(name).map(|p| p.bid) != Some(*bid) {
                continue; // destroyed (its core has not pruned it yet)
            }
            let v = op_values(counters);
            match per_bucket.get_mut(name.as_str()) {
                Some(acc) => add_into(acc, v),
                None => {
                    per_bucket.insert(name.clone(), v);
                }
            }
        }
    }
    let bucket_labels: Vec<String> = per_bucket
        .keys()
        .map(|b| format!("{node},bucket=\"{}\"", escape_label(&format!("ais://{b}"))))
        .collect();
    for (i, n) in OP_FAMILIES.iter().enumerate() {
        let name = format!("ais_target_{n}");
        let _ = writeln!(out, "# TYPE {name} counter");
        line(&mut out, &name, &node, totals[i]);
        for (labels, vals) in bucket_labels.iter().zip(per_bucket.values()) {
            line(&mut out, &name, labels, vals[i]);
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
    let _ = writeln!(out, "# TYPE ais_target_err_fshc_count counter");
    line(&mut out, "ais_target_err_fshc_count", &node, info.fshc.0);
    let _ = writeln!(out, "# TYPE aisle_fshc_faulted_count counter");
    line(&mut out, "aisle_fshc_faulted_count", &node, info.fshc.1);
    // Capacity: per mountpath, and the node's state against its watermarks.
    let cap = &info.capacity;
    for (name, f) in [
        ("aisle_mountpath_capacity_bytes", 0),
        ("aisle_mountpath_avail_bytes", 1),
        ("aisle_mountpath_used_pct", 2),
    ] {
        let _ = writeln!(out, "# TYPE {name} gauge");
        for m in &cap.mountpaths {
            let v = [m.total, m.avail, u64::from(m.used_pct)][f];
            let labels = format!(
                "{node},mountpath=\"{}\"",
                escape_label(&m.path.to_string_lossy())
            );
            line(&mut out, name, &labels, v);
        }
    }
    let _ = writeln!(out, "# TYPE aisle_capacity_used_pct_max gauge");
    line(
        &mut out,
        "aisle_capacity_used_pct_max",
        &node,
        u64::from(cap.pct_max),
    );
    let _ = writeln!(out, "# TYPE aisle_capacity_out_of_space gauge");
    line(
        &mut out,
        "aisle_capacity_out_of_space",
        &node,
        u64::from(cap.state == "oos"),
    );
    let _ = writeln!(out, "# TYPE aisle_capacity_high_wm gauge");
    line(
        &mut out,
        "aisle_capacity_high_wm",
        &node,
        u64::from(cap.state == "high" || cap.state == "oos"),
    );
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
        let fi = family_index(f);
        for c in cores {
            let v = op_values(&c.total)[fi];
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
        ("aisle_core_cache_swept_count", |c| c.cache_swept.get()),
        ("aisle_core_panic_count", |c| c.conn_panics.get()),
        ("aisle_core_conns_refused_count", |c| c.conns_refused.get()),
        ("aisle_core_put_refused_count", |c| c.put_refused.get()),
        ("aisle_core_auth_refused_count", |c| c.auth_refused.get()),
        ("aisle_core_auth_denied_count", |c| c.auth_denied.get()),
    ] {
        let _ = writeln!(out, "# TYPE {name} counter");
        for c in cores {
            line(&mut out, name, &format!("{node},core=\"{}\"", c.core), f(c));
        }
    }
    let _ = writeln!(out, "# TYPE aisle_s3_requests_total counter");
    for op in S3Op::ALL {
        let v: u64 = cores.iter().map(|c| c.s3_ops[op as usize].get()).sum();
        line(
            &mut out,
            "aisle_s3_requests_total",
            &format!("{node},op=\"{}\"", op.name()),
            v,
        );
    }
    let mp_fams = [
        "get_count",
        "get_bytes",
        "put_count",
        "put_bytes",
        "err_io_get_count",
        "err_io_put_count",
    ];
    let mp_labels: Vec<String> = info
        .mountpaths
        .iter()
        .map(|(_, mp)| format!("{node},mountpath=\"{}\"", escape_label(mp)))
        .collect();
    for f in mp_fams {
        let name = format!("aisle_mountpath_{f}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let fi = family_index(f);
        for ((id, _), labels) in info.mountpaths.iter().zip(&mp_labels) {
            let v: u64 = cores
                .iter()
                .filter_map(|c| c.mountpaths.get(*id))
                .map(|m| op_values(m)[fi])
                .sum();
            line(&mut out, &name, labels, v);
        }
    }
    let _ = writeln!(out, "# TYPE aisle_mountpath_direct_refused gauge");
    for (i, labels) in mp_labels.iter().enumerate() {
        let v = info.direct_refused.get(i).copied().unwrap_or(false);
        line(&mut out, "aisle_mountpath_direct_refused", labels, v as u64);
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
        let bmd = bmd_with(&[("b1", 1), ("b2", 2)]);
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
            r.record(&bmd, "b1", Some(MountpathId::new(0)), &o);
            r.record(&bmd, "b2", Some(MountpathId::new(0)), &o);
            let e = Outcome {
                op: Op::Put,
                ok: false,
                bytes: 0,
                ns: 1,
                err_io: false,
                err_cksum: true,
            };
            r.record(&bmd, "b1", None, &e);
        }
        let info = ScrapeInfo {
            node_id: "n",
            uptime_ns: 1,
            mountpaths: vec![(0, "/mp".into())],
            direct_refused: vec![false],
            fshc: (0, 0),
            capacity: Default::default(),
        };
        let text = render(&cores, &bmd, &info);
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

    fn bmd_with(buckets: &[(&str, u64)]) -> Bmd {
        let mut b = Bmd::default();
        for (n, bid) in buckets {
            b.buckets
                .insert(n.to_string(), engine::bmd::BucketProps::new(*bid, 0));
        }
        b.version = buckets.len() as u64;
        b
    }

    fn get_ok() -> Outcome {
        Outcome {
            op: Op::Get,
            ok: true,
            bytes: 1,
            ns: 1,
            err_io: false,
            err_cksum: false,
        }
    }

    #[test]
    fn only_existing_buckets_get_series() {
        // Goal: a request naming a bucket the BMD does not have counts in the totals only; a
        // destroyed bucket's counters leave the core's map when it sees the new BMD, and a new
        // bucket of the same name (new BID) starts from zero.
        let core = Arc::new(CoreStats::new(0, 0));
        let r = CoreRecorder::new(core.clone());
        let info = ScrapeInfo {
            node_id: "n",
            uptime_ns: 1,
            mountpaths: vec![],
            direct_refused: vec![],
            fshc: (0, 0),
            capacity: Default::default(),
        };
        let bmd = bmd_with(&[("real", 7)]);
        for i in 0..1000 {
            r.record(&bmd, &format!("missing-{i}"), None, &get_ok());
        }
        r.record(&bmd, "real", None, &get_ok());
        assert_eq!(core.buckets.lock().unwrap().len(), 1);
        let text = render(std::slice::from_ref(&core), &bmd, &info);
        assert!(
            text.contains("ais_target_get_count{node_id=\"n\"} 1001\n"),
            "{text}"
        );
        assert!(text.contains("ais_target_get_count{node_id=\"n\",bucket=\"ais://real\"} 1\n"));
        assert!(!text.contains("missing-"));
        // Destroyed: not rendered even before the core notices.
        let mut gone = bmd_with(&[]);
        gone.version = 5;
        assert!(!render(std::slice::from_ref(&core), &gone, &info).contains("ais://real"));
        // The core notices on its next request and drops the counters.
        r.record(&gone, "other", None, &get_ok());
        assert!(core.buckets.lock().unwrap().is_empty());
        // Recreated under a new BID: starts from zero.
        let mut again = bmd_with(&[("real", 9)]);
        again.version = 6;
        r.record(&again, "real", None, &get_ok());
        let text = render(std::slice::from_ref(&core), &again, &info);
        assert!(text.contains("ais_target_get_count{node_id=\"n\",bucket=\"ais://real\"} 1\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        // Goal: backslash, double quote and newline in a label value are escaped per the text
        // format, in node ids and mountpaths alike; nothing else changes.
        assert_eq!(escape_label("plain/path"), "plain/path");
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        let core = Arc::new(CoreStats::new(0, 1));
        let info = ScrapeInfo {
            node_id: "n\"1",
            uptime_ns: 1,
            mountpaths: vec![(0, "/mp\"}x\n\\".into())],
            direct_refused: vec![false],
            fshc: (0, 0),
            capacity: Default::default(),
        };
        let text = render(&[core], &Bmd::default(), &info);
        assert!(text.contains("node_id=\"n\\\"1\""), "{text}");
        assert!(text.contains("mountpath=\"/mp\\\"}x\\n\\\\\"}"), "{text}");
        assert!(text
            .lines()
            .all(|l| l.starts_with('#') || l.starts_with("ais") || l.starts_with("aisle")));
    }
}
