//! Counters and latency histograms per op, the periodic table and the final summary (text
//! and JSON), and the error log that prints the first errors in full.
//!
//! Each client core owns one [`CoreStats`] behind a mutex that only its own workers and, once
//! per interval, the reporter take, so it is uncontended on the request path. Latencies are
//! recorded in microseconds into an `hdrhistogram` (3 significant digits); min, max and the
//! average come from exact counters. Only successful requests count towards `count`, bytes
//! and latency; failed ones count in `errors`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Errors printed with their details; later ones are only counted.
pub const ERRORS_SHOWN_MAX: u64 = 5;
/// Largest latency the histogram tracks exactly (1 hour, in µs); larger ones saturate.
const LATENCY_US_MAX: u64 = 3_600_000_000;

/// The benchmarked operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Get,
    Put,
}

impl OpKind {
    pub fn label(self) -> &'static str {
        match self {
            OpKind::Get => "GET",
            OpKind::Put => "PUT",
        }
    }
}

/// Counters over some span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub count: u64,
    pub errors: u64,
    pub bytes: u64,
    pub latency_us_sum: u64,
    /// Meaningful only when `count > 0`.
    pub latency_us_min: u64,
    pub latency_us_max: u64,
}

impl Window {
    fn record_ok(&mut self, latency_us: u64, bytes: u64) {
        if self.count == 0 || latency_us < self.latency_us_min {
            self.latency_us_min = latency_us;
        }
        self.latency_us_max = self.latency_us_max.max(latency_us);
        self.count += 1;
        self.bytes += bytes;
        self.latency_us_sum += latency_us;
    }

    pub fn merge(&mut self, o: &Window) {
        if o.count > 0 {
            if self.count == 0 || o.latency_us_min < self.latency_us_min {
                self.latency_us_min = o.latency_us_min;
            }
            self.latency_us_max = self.latency_us_max.max(o.latency_us_max);
        }
        self.count += o.count;
        self.errors += o.errors;
        self.bytes += o.bytes;
        self.latency_us_sum += o.latency_us_sum;
    }

    pub fn latency_us_avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.latency_us_sum as f64 / self.count as f64
        }
    }
}

/// One op's statistics on one core.
#[derive(Debug, Clone)]
pub struct OpStats {
    pub total: Window,
    /// Since the last periodic line.
    pub interval: Window,
    pub histogram: Histogram<u64>,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            total: Window::default(),
            interval: Window::default(),
            histogram: Histogram::new_with_bounds(1, LATENCY_US_MAX, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl OpStats {
    pub fn record_ok(&mut self, latency_us: u64, bytes: u64) {
        self.total.record_ok(latency_us, bytes);
        self.interval.record_ok(latency_us, bytes);
        self.histogram.saturating_record(latency_us.max(1));
    }

    pub fn record_error(&mut self) {
        self.total.errors += 1;
        self.interval.errors += 1;
    }

    pub fn merge(&mut self, o: &OpStats) {
        self.total.merge(&o.total);
        self.interval.merge(&o.interval);
        self.histogram
            .add(&o.histogram)
            .expect("histograms share their bounds");
    }
}

/// Everything one client core records.
#[derive(Debug, Clone, Default)]
pub struct CoreStats {
    pub get: OpStats,
    pub put: OpStats,
    /// Whole-object GETs whose body matched the announced XXH64 (with `-verifyhash`).
    pub gets_verified: u64,
    /// Successful GETs that could not be verified (range GETs, no or unsupported checksum).
    pub gets_unverified: u64,
    /// Connections opened after the first one of each worker.
    pub reconnects: u64,
    /// With `-epochs`: the GETs of each epoch (by the epoch they were picked in) that the
    /// monitor has not taken yet.
    pub epochs: BTreeMap<u64, OpStats>,
}

impl CoreStats {
    pub fn op(&mut self, op: OpKind) -> &mut OpStats {
        match op {
            OpKind::Get => &mut self.get,
            OpKind::Put => &mut self.put,
        }
    }

    pub fn merge(&mut self, o: &CoreStats) {
        self.get.merge(&o.get);
        self.put.merge(&o.put);
        self.gets_verified += o.gets_verified;
        self.gets_unverified += o.gets_unverified;
        self.reconnects += o.reconnects;
        for (&k, e) in &o.epochs {
            self.epoch(k).merge(e);
        }
    }

    /// The statistics of GETs picked in `epoch`.
    pub fn epoch(&mut self, epoch: u64) -> &mut OpStats {
        self.epochs.entry(epoch).or_default()
    }

    /// Returns and resets the interval windows.
    pub fn take_interval(&mut self) -> (Window, Window) {
        (
            std::mem::take(&mut self.get.interval),
            std::mem::take(&mut self.put.interval),
        )
    }
}

/// Prints the first [`ERRORS_SHOWN_MAX`] errors with details to stderr; counts all.
#[derive(Debug, Default)]
pub struct ErrorLog {
    seen: AtomicU64,
}

impl ErrorLog {
    pub fn report(&self, what: std::fmt::Arguments<'_>) {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        if n < ERRORS_SHOWN_MAX {
            eprintln!("error: {what}");
        } else if n == ERRORS_SHOWN_MAX {
            eprintln!("error: (more errors: counted in the summary, not printed)");
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn commas(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in IEC units with two decimals (`25.79MiB`), plain bytes below 1 KiB.
pub fn iec(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024.0 {
        return format!("{}B", bytes.round() as u64);
    }
    let mut v = bytes / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2}{}", UNITS[unit])
}

/// Microseconds as milliseconds with microsecond precision (`1.234ms`).
pub fn ms(us: f64) -> String {
    format!("{:.3}ms", us / 1000.0)
}

/// `72.5s` → `1m12.5s`; used for the Time column and the run duration.
pub fn elapsed(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:.1}s", (secs / 60.0) as u64, secs % 60.0)
    }
}

/// The table header, aisloader's columns.
pub fn table_header() -> String {
    row(
        "Time",
        "OP",
        "Count",
        "Size (Total)",
        "Latency (min, avg, max)",
        "Throughput (Avg)",
        "Errors (Total)",
    )
}

fn row(t: &str, op: &str, count: &str, size: &str, lat: &str, thr: &str, err: &str) -> String {
    // aisloader: "%-10s%-6s%-22s\t%-22s\t%-36s\t%-22s\t%-10s"
    format!("{t:<10}{op:<6}{count:<22}\t{size:<22}\t{lat:<36}\t{thr:<22}\t{err:<10}")
}

/// One periodic line: this interval's figures, the cumulative ones in parentheses.
pub fn table_line(
    at: Duration,
    op: OpKind,
    iv: &Window,
    cum: &Window,
    iv_secs: f64,
    run_secs: f64,
) -> String {
    let lat = if iv.count == 0 {
        "-".to_string()
    } else {
        format!(
            "{} {} {}",
            ms(iv.latency_us_min as f64),
            ms(iv.latency_us_avg()),
            ms(iv.latency_us_max as f64)
        )
    };
    let per_s = |b: u64, s: f64| if s > 0.0 { b as f64 / s } else { 0.0 };
    row(
        &elapsed(at),
        op.label(),
        &format!("{} ({})", commas(iv.count), commas(cum.count)),
        &format!("{} ({})", iec(iv.bytes as f64), iec(cum.bytes as f64)),
        &lat,
        &format!(
            "{}/s ({}/s)",
            iec(per_s(iv.bytes, iv_secs)),
            iec(per_s(cum.bytes, run_secs))
        ),
        &format!("{} ({})", commas(iv.errors), commas(cum.errors)),
    )
}

/// Latency figures of the summary, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub min: u64,
    pub avg: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// One op's final figures (the `-json` object and the summary row).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OpSummary {
    pub count: u64,
    pub errors: u64,
    pub bytes: u64,
    pub req_per_s: f64,
    pub mib_per_s: f64,
    pub latency_us: LatencySummary,
}

impl OpSummary {
    pub fn of(s: &OpStats, run_secs: f64) -> OpSummary {
        let t = &s.total;
        let h = &s.histogram;
        // A quantile is reported as the highest value of its histogram bucket, which may lie
        // above the exact maximum: clamp it.
        let q = |q: f64| {
            if t.count == 0 {
                0
            } else {
                h.value_at_quantile(q).min(t.latency_us_max)
            }
        };
        let rate = |v: f64| if run_secs > 0.0 { v / run_secs } else { 0.0 };
        OpSummary {
            count: t.count,
            errors: t.errors,
            bytes: t.bytes,
            req_per_s: rate(t.count as f64),
            mib_per_s: rate(t.bytes as f64) / (1024.0 * 1024.0),
            latency_us: LatencySummary {
                min: if t.count == 0 { 0 } else { t.latency_us_min },
                avg: t.latency_us_avg(),
                p50: q(0.50),
                p90: q(0.90),
                p99: q(0.99),
                p999: q(0.999),
                max: t.latency_us_max,
            },
        }
    }
}

/// The figures of one epoch (`-epochs`): the GETs picked in it, from its first pick to the
/// completion of its last GET.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct EpochSummary {
    /// 1-based.
    pub epoch: u64,
    /// False when the run stopped (`-duration`, a signal) before all its GETs completed.
    pub complete: bool,
    /// Objects in the epoch.
    pub objects: u64,
    /// Successful GETs.
    pub count: u64,
    pub errors: u64,
    pub bytes: u64,
    pub duration_s: f64,
    /// Successful GETs per second.
    pub objects_per_s: f64,
    pub mib_per_s: f64,
    pub latency_us: LatencySummary,
}

impl EpochSummary {
    pub fn of(epoch: u64, complete: bool, objects: u64, s: &OpStats, span: Duration) -> Self {
        let o = OpSummary::of(s, span.as_secs_f64());
        EpochSummary {
            epoch,
            complete,
            objects,
            count: o.count,
            errors: o.errors,
            bytes: o.bytes,
            duration_s: span.as_secs_f64(),
            objects_per_s: o.req_per_s,
            mib_per_s: o.mib_per_s,
            latency_us: o.latency_us,
        }
    }

    /// The line printed when the epoch ends (`of` = the number of epochs asked for).
    pub fn line(&self, of: u64) -> String {
        let l = &self.latency_us;
        let m = |us: f64| format!("{:.3}", us / 1000.0);
        format!(
            "Epoch {}/{of}{}: {} of {} objects in {:.3}s: {:.1} obj/s, {:.2} MiB/s, latency avg {} \
             p50 {} p90 {} p99 {} max {} ms, errors {}",
            self.epoch,
            if self.complete { "" } else { " (incomplete)" },
            commas(self.count),
            commas(self.objects),
            self.duration_s,
            self.objects_per_s,
            self.mib_per_s,
            m(l.avg),
            m(l.p50 as f64),
            m(l.p90 as f64),
            m(l.p99 as f64),
            m(l.max as f64),
            commas(self.errors)
        )
    }
}

/// The final figures of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub get: OpSummary,
    pub put: OpSummary,
    pub duration_s: f64,
    pub gets_verified: u64,
    pub gets_unverified: u64,
    pub reconnects: u64,
    /// With `-epochs`: one entry per epoch started, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub epochs: Vec<EpochSummary>,
}

impl Summary {
    pub fn of(s: &CoreStats, run: Duration) -> Summary {
        let secs = run.as_secs_f64();
        Summary {
            get: OpSummary::of(&s.get, secs),
            put: OpSummary::of(&s.put, secs),
            duration_s: secs,
            gets_verified: s.gets_verified,
            gets_unverified: s.gets_unverified,
            reconnects: s.reconnects,
            epochs: Vec::new(),
        }
    }

    pub fn errors(&self) -> u64 {
        self.get.errors + self.put.errors
    }

    /// The human-readable summary table.
    pub fn table(&self, ops: &[OpKind]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<5}{:>12}{:>8}{:>12}{:>12}{:>10}  {:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>10}",
            "OP",
            "Count",
            "Errors",
            "Size",
            "req/s",
            "MiB/s",
            "min",
            "avg",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max (ms)"
        );
        for &op in ops {
            let s = match op {
                OpKind::Get => &self.get,
                OpKind::Put => &self.put,
            };
            let l = &s.latency_us;
            let m = |us: f64| format!("{:.3}", us / 1000.0);
            let _ = writeln!(
                out,
                "{:<5}{:>12}{:>8}{:>12}{:>12}{:>10.2}  {:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>10}",
                op.label(),
                commas(s.count),
                commas(s.errors),
                iec(s.bytes as f64),
                format!("{:.1}", s.req_per_s),
                s.mib_per_s,
                m(l.min as f64),
                m(l.avg),
                m(l.p50 as f64),
                m(l.p90 as f64),
                m(l.p99 as f64),
                m(l.p999 as f64),
                m(l.max as f64),
            );
        }
        let _ = write!(
            out,
            "Actual run duration: {}",
            elapsed(Duration::from_secs_f64(self.duration_s))
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(commas(0), "0");
        assert_eq!(commas(999), "999");
        assert_eq!(commas(1000), "1,000");
        assert_eq!(commas(6_602), "6,602");
        assert_eq!(commas(1_234_567), "1,234,567");
        assert_eq!(iec(512.0), "512B");
        assert_eq!(iec(1024.0), "1.00KiB");
        assert_eq!(iec(27_042_938.0), "25.79MiB");
        assert_eq!(iec(3.0 * 1024.0 * 1024.0 * 1024.0), "3.00GiB");
        assert_eq!(ms(1234.0), "1.234ms");
        assert_eq!(elapsed(Duration::from_millis(10_040)), "10.0s");
        assert_eq!(elapsed(Duration::from_secs(72)), "1m12.0s");
    }

    #[test]
    fn windows_merge_and_summaries_add_up() {
        let mut a = OpStats::default();
        let mut b = OpStats::default();
        for us in [100, 200, 300] {
            a.record_ok(us, 10);
        }
        b.record_ok(50, 10);
        b.record_error();
        a.merge(&b);
        let s = OpSummary::of(&a, 2.0);
        assert_eq!((s.count, s.errors, s.bytes), (4, 1, 40));
        assert_eq!((s.latency_us.min, s.latency_us.max), (50, 300));
        assert_eq!(s.latency_us.avg, 162.5);
        assert_eq!(s.req_per_s, 2.0);
        assert_eq!(s.latency_us.p50, 100);
        assert_eq!(s.latency_us.p999, 300);
        let empty = OpSummary::of(&OpStats::default(), 1.0);
        assert_eq!(
            empty,
            OpSummary {
                ..Default::default()
            }
        );
    }

    #[test]
    fn json_shape() {
        let mut c = CoreStats::default();
        c.get.record_ok(1000, 4096);
        let v = serde_json::to_value(Summary::of(&c, Duration::from_secs(1))).unwrap();
        assert_eq!(v["get"]["count"], 1);
        assert_eq!(v["get"]["bytes"], 4096);
        assert_eq!(v["get"]["latency_us"]["p999"], 1000);
        assert_eq!(v["put"]["errors"], 0);
        assert_eq!(v["duration_s"], 1.0);
        for k in ["min", "avg", "p50", "p90", "p99", "p999", "max"] {
            assert!(v["put"]["latency_us"].get(k).is_some(), "{k}");
        }
        assert!(v.get("epochs").is_none(), "no epochs array without -epochs");
    }

    #[test]
    fn epoch_summaries() {
        let mut a = CoreStats::default();
        let mut b = CoreStats::default();
        a.epoch(1).record_ok(1000, 1 << 20);
        b.epoch(1).record_ok(3000, 1 << 20);
        b.epoch(1).record_error();
        b.epoch(2).record_ok(500, 1 << 20);
        a.merge(&b);
        assert_eq!(a.epochs.len(), 2);
        let e = EpochSummary::of(1, true, 3, &a.epochs[&1], Duration::from_secs(2));
        assert_eq!((e.count, e.errors, e.bytes), (2, 1, 2 << 20));
        assert_eq!((e.objects_per_s, e.mib_per_s), (1.0, 1.0));
        assert_eq!((e.latency_us.avg, e.latency_us.max), (2000.0, 3000));
        let line = e.line(2);
        assert!(
            line.starts_with("Epoch 1/2: 2 of 3 objects in 2.000s: 1.0 obj/s, 1.00 MiB/s"),
            "{line}"
        );
        assert!(line.ends_with("errors 1"), "{line}");
        let mut s = Summary::of(&a, Duration::from_secs(2));
        s.epochs.push(e);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["epochs"][0]["epoch"], 1);
        assert_eq!(v["epochs"][0]["objects_per_s"], 1.0);
        assert_eq!(v["epochs"][0]["latency_us"]["p99"], 3000);
        let inc = EpochSummary::of(2, false, 3, &a.epochs[&2], Duration::from_secs(1));
        assert!(inc.line(2).starts_with("Epoch 2/2 (incomplete): 1 of 3"));
    }

    #[test]
    fn interval_resets_but_total_stays() {
        let mut c = CoreStats::default();
        c.op(OpKind::Put).record_ok(10, 5);
        let (g, p) = c.take_interval();
        assert_eq!((g.count, p.count), (0, 1));
        assert_eq!(c.take_interval().1.count, 0);
        assert_eq!(c.put.total.count, 1);
        let line = table_line(
            Duration::from_secs(10),
            OpKind::Put,
            &p,
            &c.put.total,
            10.0,
            10.0,
        );
        assert!(line.starts_with("10.0s     PUT   1 (1)"), "{line}");
    }
}
