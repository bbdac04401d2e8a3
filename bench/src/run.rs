//! One benchmark run from start to end: prepare (bucket, object list), start the client
//! cores, watch the clock and print the periodic table, stop, gather the figures, print the
//! summary (table or JSON), clean up, and decide the exit code.
//!
//! With `-json`, stdout carries only the JSON summary; everything for humans goes to stderr.
//!
//! With `-epochs`, the monitor prints each epoch's figures once its last GET completed (in
//! epoch order), taking that epoch's statistics out of every core; epochs still open at the
//! end (the run was stopped early) are reported as incomplete.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::api::{self, Target};
use crate::flags::{Api, Config};
use crate::objects::ObjectSet;
use crate::stats::{self, CoreStats, EpochSummary, ErrorLog, OpKind, OpStats, Summary, Window};
use crate::worker::{run_core, CoreSpec, Shared};

/// How often the monitor looks at the clock and at the cores.
const MONITOR_TICK: Duration = Duration::from_millis(10);

/// Human-readable output: stdout, or stderr when stdout is reserved for JSON.
struct Say {
    json: bool,
}

impl Say {
    fn line(&self, s: &str) {
        if self.json {
            eprintln!("{s}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{s}");
            let _ = out.flush();
        }
    }
}

/// Runs the benchmark; returns the process exit code (0 only without errors).
pub fn run(cfg: Config) -> anyhow::Result<u8> {
    let say = Say { json: cfg.json };
    describe(&cfg, &say);
    // SIGINT/SIGTERM stop the run gracefully (a second one exits at once); the mask must be
    // set before any thread starts so that all of them inherit it.
    engine::io::sys::block_shutdown_signals().context("blocking SIGINT/SIGTERM")?;
    if cfg.api != Api::Http && cfg.pct_put > 0 {
        api::create_bucket(&cfg)?;
    }
    let initial = api::initial_objects(&cfg)?;
    if cfg.obj_list.is_some() || (!cfg.skip_list && cfg.pct_put < 100) {
        say.line(&format!(
            "Found {} existing objects",
            stats::commas(initial.len() as u64)
        ));
    }
    if cfg.pct_put == 0 && initial.is_empty() {
        bail!(
            "nothing to GET: the object list is empty (PUT some first with -pctput, \
             or give -objlist)"
        );
    }
    if cfg.put_existing && initial.is_empty() {
        bail!("nothing to overwrite (-putexisting): no objects at start (give -objlist, or PUT some first)");
    }
    let objects = ObjectSet::new(initial, cfg.unique_gets, cfg.epochs, cfg.seed);
    let shared = Arc::new(Shared {
        target: Target::new(&cfg),
        cfg,
        objects,
        stop: AtomicBool::new(false),
        puts_reserved: AtomicU64::new(0),
        put_bytes_reserved: AtomicU64::new(0),
        errors: ErrorLog::default(),
    });
    start_signal_thread(shared.clone());
    let cfg = &shared.cfg;
    let core_stats: Vec<Arc<Mutex<CoreStats>>> = (0..cfg.cores)
        .map(|_| Arc::new(Mutex::new(CoreStats::default())))
        .collect();
    let cpus = engine::io::sys::allowed_cpus();
    let finished = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut threads = Vec::with_capacity(cfg.cores);
    for index in 0..cfg.cores {
        let spec = CoreSpec {
            index,
            cpu: (cfg.pin && !cpus.is_empty()).then(|| cpus[index % cpus.len()]),
            workers: (index..cfg.workers).step_by(cfg.cores).collect(),
        };
        let (shared, stats, finished) =
            (shared.clone(), core_stats[index].clone(), finished.clone());
        let handle = std::thread::Builder::new()
            .name(format!("bench-core-{index}"))
            .spawn(move || {
                let _done = Finished(finished);
                let r = run_core(spec, shared.clone(), stats);
                if r.is_err() {
                    shared.stop.store(true, Ordering::Relaxed);
                }
                (r, Instant::now())
            })
            .context("spawning a client core thread")?;
        threads.push(handle);
    }
    let mut epochs = EpochReporter::default();
    monitor(&shared, &core_stats, &finished, start, &say, &mut epochs);
    let mut end = start;
    for t in threads {
        let (r, at) = t
            .join()
            .map_err(|_| anyhow::anyhow!("a client core panicked"))?;
        r?;
        end = end.max(at);
    }
    epochs.poll(&shared, &core_stats, &say);
    epochs.finish(&shared, &core_stats, end, &say);
    let mut total = CoreStats::default();
    for s in &core_stats {
        total.merge(&s.lock().unwrap_or_else(PoisonError::into_inner));
    }
    let mut summary = Summary::of(&total, end - start);
    summary.epochs = epochs.done;
    report(cfg, &summary, &say)?;
    if cfg.unique_gets && cfg.pct_put < 100 && cfg.epochs == 0 {
        let epochs = shared.objects.epochs();
        say.line(&format!(
            "Unique GETs: {epochs} epochs over the object list"
        ));
    }
    if let Some(path) = &cfg.put_list {
        write_put_list(&shared, path, &say)?;
    }
    let mut errors = summary.errors();
    if cfg.cleanup {
        errors += cleanup(&shared, &say);
    }
    if errors > 0 {
        eprintln!(
            "aisle-bench: {} errors (the first {} printed above)",
            stats::commas(errors),
            stats::ERRORS_SHOWN_MAX.min(errors)
        );
        return Ok(1);
    }
    Ok(0)
}

/// Per-epoch reporting (`-epochs`): see the module docs.
#[derive(Default)]
struct EpochReporter {
    /// Summaries of the epochs reported so far, in order.
    done: Vec<EpochSummary>,
}

impl EpochReporter {
    /// Takes epoch `epoch`'s statistics out of every core.
    fn take(cores: &[Arc<Mutex<CoreStats>>], epoch: u64) -> OpStats {
        let mut merged = OpStats::default();
        for c in cores {
            let mut c = c.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = c.epochs.remove(&epoch) {
                merged.merge(&s);
            }
        }
        merged
    }

    /// Reports the epochs that ended since the last call, in order.
    fn poll(&mut self, shared: &Shared, cores: &[Arc<Mutex<CoreStats>>], say: &Say) {
        let cfg = &shared.cfg;
        if cfg.epochs == 0 {
            return;
        }
        let times = shared.objects.epoch_times();
        while let Some(t) = times.get(self.done.len()) {
            let Some(end) = t.end else { break };
            let epoch = self.done.len() as u64 + 1;
            let s = Self::take(cores, epoch);
            let e = EpochSummary::of(epoch, true, t.objects, &s, end - t.start);
            say.line(&e.line(cfg.epochs));
            self.done.push(e);
        }
    }

    /// After the cores finished: reports the epochs that started but never ended.
    fn finish(
        &mut self,
        shared: &Shared,
        cores: &[Arc<Mutex<CoreStats>>],
        end: Instant,
        say: &Say,
    ) {
        let cfg = &shared.cfg;
        if cfg.epochs == 0 {
            return;
        }
        for t in shared.objects.epoch_times().iter().skip(self.done.len()) {
            let epoch = self.done.len() as u64 + 1;
            let s = Self::take(cores, epoch);
            let span = t.end.unwrap_or(end).saturating_duration_since(t.start);
            let e = EpochSummary::of(epoch, t.end.is_some(), t.objects, &s, span);
            say.line(&e.line(cfg.epochs));
            self.done.push(e);
        }
    }
}

/// Counts a core thread as finished when it ends, even by panic.
struct Finished(Arc<AtomicUsize>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

fn start_signal_thread(shared: Arc<Shared>) {
    let spawned = std::thread::Builder::new()
        .name("bench-signals".into())
        .spawn(move || loop {
            let sig = engine::io::sys::wait_for_signal();
            if shared.stop.swap(true, Ordering::Relaxed) {
                eprintln!("aisle-bench: signal {sig} again: exiting now");
                std::process::exit(130);
            }
            eprintln!("aisle-bench: signal {sig}: stopping (again to exit at once)");
        });
    if let Err(e) = spawned {
        eprintln!("aisle-bench: no signal thread ({e}); Ctrl-C will not stop the run");
    }
}

fn describe(cfg: &Config, say: &Say) {
    let e = &cfg.endpoint;
    let mut line = format!(
        "aisle-bench: api {} at http://{}{}",
        cfg.api.name(),
        e.host,
        e.path_prefix
    );
    if cfg.api != Api::Http {
        line += &format!(", bucket {:?}", cfg.bucket);
    }
    line += &format!(", {} workers on {} client cores", cfg.workers, cfg.cores);
    if cfg.pin {
        line += " (pinned)";
    }
    line += &format!(", {}% PUT", cfg.pct_put);
    if cfg.pct_put > 0 && cfg.put_existing {
        line += &format!(
            " of {}..{} overwriting the objects found at start",
            stats::iec(cfg.size_min as f64),
            stats::iec(cfg.size_max as f64),
        );
    } else if cfg.pct_put > 0 {
        line += &format!(
            " of {}..{} under {:?}/",
            stats::iec(cfg.size_min as f64),
            stats::iec(cfg.size_max as f64),
            cfg.obj_prefix
        );
    }
    if let Some((off, len)) = cfg.range {
        line += &format!(", range GETs at {off} of {len} bytes (0 = to the end)");
    }
    line += &match cfg.duration {
        Some(d) => format!(", duration {}", stats::elapsed(d)),
        None => ", no time limit".to_string(),
    };
    if cfg.puts_max > 0 {
        line += &format!(", maxputs {}", cfg.puts_max);
    }
    if cfg.put_bytes_max > 0 {
        line += &format!(", totalputsize {}", stats::iec(cfg.put_bytes_max as f64));
    }
    if cfg.epochs > 0 {
        line += &format!(", {} epochs", cfg.epochs);
    }
    line += &format!(", seed {}", cfg.seed);
    if cfg.verify_hash {
        line += ", verifying checksums";
    }
    say.line(&line);
}

/// Ops shown in tables: the ones this workload can issue.
fn ops_of(cfg: &Config) -> Vec<OpKind> {
    let mut ops = Vec::new();
    if cfg.pct_put < 100 {
        ops.push(OpKind::Get);
    }
    if cfg.pct_put > 0 {
        ops.push(OpKind::Put);
    }
    ops
}

/// Waits for the cores to finish, stopping them at the deadline and printing the periodic
/// table.
fn monitor(
    shared: &Shared,
    cores: &[Arc<Mutex<CoreStats>>],
    finished: &AtomicUsize,
    start: Instant,
    say: &Say,
    epochs: &mut EpochReporter,
) {
    let cfg = &shared.cfg;
    let deadline = cfg.duration.map(|d| start + d);
    let mut next_report = cfg.stats_interval.map(|i| start + i);
    let mut last_report = start;
    let mut header_printed = false;
    let ops = ops_of(cfg);
    while finished.load(Ordering::Acquire) < cores.len() {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            shared.stop.store(true, Ordering::Relaxed);
        }
        if let (Some(at), Some(interval)) = (next_report, cfg.stats_interval) {
            if now >= at {
                if !header_printed {
                    say.line(&stats::table_header());
                    header_printed = true;
                }
                let mut iv = (Window::default(), Window::default());
                let mut cum = (Window::default(), Window::default());
                for c in cores {
                    let mut c = c.lock().unwrap_or_else(PoisonError::into_inner);
                    let (g, p) = c.take_interval();
                    iv.0.merge(&g);
                    iv.1.merge(&p);
                    cum.0.merge(&c.get.total);
                    cum.1.merge(&c.put.total);
                }
                let iv_secs = (now - last_report).as_secs_f64();
                let run_secs = (now - start).as_secs_f64();
                for &op in &ops {
                    let (i, c) = match op {
                        OpKind::Get => (&iv.0, &cum.0),
                        OpKind::Put => (&iv.1, &cum.1),
                    };
                    say.line(&stats::table_line(now - start, op, i, c, iv_secs, run_secs));
                }
                last_report = now;
                next_report = Some(at + interval);
            }
        }
        epochs.poll(shared, cores, say);
        let mut wake = now + MONITOR_TICK;
        if let Some(d) = deadline.filter(|_| !shared.stop.load(Ordering::Relaxed)) {
            wake = wake.min(d);
        }
        if let Some(r) = next_report {
            wake = wake.min(r);
        }
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
}

fn report(cfg: &Config, summary: &Summary, say: &Say) -> anyhow::Result<()> {
    if cfg.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, summary).context("writing the JSON summary")?;
        writeln!(out).context("writing the JSON summary")?;
    } else {
        say.line(&summary.table(&ops_of(cfg)));
    }
    if cfg.verify_hash {
        say.line(&format!(
            "Checksums: {} GETs verified, {} not verifiable (range GETs, or no xxhash checksum in the response)",
            stats::commas(summary.gets_verified),
            stats::commas(summary.gets_unverified)
        ));
    }
    if summary.reconnects > 0 {
        say.line(&format!(
            "Reconnects: {}",
            stats::commas(summary.reconnects)
        ));
    }
    Ok(())
}

/// `-putlist`: the (decoded) names of the objects this run PUT, one per line.
fn write_put_list(shared: &Shared, path: &std::path::Path, say: &Say) -> anyhow::Result<()> {
    let names = shared.objects.put_by_this_run();
    let mut text = String::with_capacity(names.len() * 32);
    for n in &names {
        let name = net::url::percent_decode(n)
            .map_err(|e| anyhow::anyhow!("decoding object name {n:?}: {e:?}"))?;
        text.push_str(&name);
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("writing -putlist {}", path.display()))?;
    say.line(&format!(
        "Put list: {} names written to {}",
        stats::commas(names.len() as u64),
        path.display()
    ));
    Ok(())
}

/// Deletes the objects this run PUT; returns the number of errors.
fn cleanup(shared: &Shared, say: &Say) -> u64 {
    let names = shared.objects.put_by_this_run();
    let t0 = Instant::now();
    let (deleted, errors) =
        api::delete_objects(&shared.cfg, &shared.target, &names, &shared.errors);
    say.line(&format!(
        "Cleanup: deleted {} of {} objects this run PUT in {}, {} errors",
        stats::commas(deleted),
        stats::commas(names.len() as u64),
        stats::elapsed(t0.elapsed()),
        stats::commas(errors)
    ));
    errors
}
