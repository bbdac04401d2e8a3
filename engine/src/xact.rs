//! Jobs (AIS "xactions"): long work with an id, a kind, an optional bucket, start and end
//! times, a state and counters, that can be listed, waited on and aborted.
//!
//! The registry (`Xacts`) is node-wide and shared by every thread. A job is run by whoever
//! started it (threads of its own, or tasks on the cores); the runner polls `is_aborted` between
//! units of work, bumps the counters as it goes and calls `finish` exactly once. Finished jobs
//! stay listed (the newest `FINISHED_KEPT`) so a client that polls after the end sees the result.
//!
//! Invariants:
//! - A job's state moves only Running → Finished or Running → Aborted, once; its end time is
//!   set with that move and never before.
//! - Ids are unique for the life of the process (a counter in them) and carry no path or name.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Finished or aborted jobs kept for queries, newest first dropped last.
pub const FINISHED_KEPT: usize = 256;

/// Items a job lists (cleanup: the files it removed, or would remove in a dry run), at most.
pub const ITEMS_KEPT: usize = 10_000;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XactState {
    /// Working.
    Running,
    /// Ended on its own (with or without errors: see `err`).
    Finished,
    /// Ended because it was asked to stop, or preempted.
    Aborted,
}

impl XactState {
    /// The word used in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            XactState::Running => "running",
            XactState::Finished => "finished",
            XactState::Aborted => "aborted",
        }
    }
}

/// A job's counters, bumped by its runner (relaxed: read for progress, exact once finished).
#[derive(Debug, Default)]
pub struct XactCounters {
    /// Objects the job did its work on (resilver: main replicas restored to their HRW place).
    pub objs: AtomicU64,
    /// Bytes of those objects.
    pub bytes: AtomicU64,
    /// Objects looked at.
    pub visited: AtomicU64,
    /// Objects skipped because another operation held them.
    pub skipped_busy: AtomicU64,
    /// Objects or files the job failed on (the job goes on; the first error is kept in `err`).
    pub errors: AtomicU64,
    /// Extra copies made (mirroring).
    pub copies_added: AtomicU64,
    /// Files removed (extra copies dropped, cleanup).
    pub removed: AtomicU64,
    /// Bytes of removed files.
    pub removed_bytes: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountersSnap {
    pub objs: u64,
    pub bytes: u64,
    pub visited: u64,
    pub skipped_busy: u64,
    pub errors: u64,
    pub copies_added: u64,
    pub removed: u64,
    pub removed_bytes: u64,
}

impl XactCounters {
    /// Adds one object of `size` bytes to the primary metric.
    pub fn add_obj(&self, size: u64) {
        self.objs.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snap(&self) -> CountersSnap {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CountersSnap {
            objs: l(&self.objs),
            bytes: l(&self.bytes),
            visited: l(&self.visited),
            skipped_busy: l(&self.skipped_busy),
            errors: l(&self.errors),
            copies_added: l(&self.copies_added),
            removed: l(&self.removed),
            removed_bytes: l(&self.removed_bytes),
        }
    }
}

/// One job.
#[derive(Debug)]
pub struct Xact {
    /// Unique id (AIS: the xaction's UUID).
    pub id: String,
    /// The kind (AIS's action name: `resilver`, `make-n-copies`, `cleanup-store`, ...).
    pub kind: String,
    /// The bucket it works on, if one.
    pub bucket: Option<String>,
    /// Start, ns since the epoch.
    pub start_ns: i64,
    /// End, ns since the epoch; 0 while running.
    end_ns: AtomicI64,
    /// Its counters.
    pub counters: XactCounters,
    abort: AtomicBool,
    /// Guarded state, first error and abort reason; `done` is signalled at the end.
    inner: Mutex<Inner>,
    done: Condvar,
}

#[derive(Debug)]
struct Inner {
    state: XactState,
    err: Option<String>,
    abort_why: Option<String>,
    items: Vec<String>,
    items_dropped: u64,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Xact {
    /// Whether the job was asked to stop: runners check it between units of work.
    pub fn is_aborted(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }

    /// Asks the job to stop (it ends `Aborted` when its runner next checks). Returns false if
    /// it had already ended.
    pub fn abort(&self, why: &str) -> bool {
        let mut g = self.inner.lock().expect("xact lock");
        if g.state != XactState::Running {
            return false;
        }
        if g.abort_why.is_none() {
            g.abort_why = Some(why.to_string());
        }
        self.abort.store(true, Ordering::Release);
        true
    }

    /// Records an error without ending the job (counted; the first one is kept).
    pub fn note_error(&self, e: impl std::fmt::Display) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let mut g = self.inner.lock().expect("xact lock");
        if g.err.is_none() {
            g.err = Some(e.to_string());
        }
    }

    /// Lists one item of the job's result (at most `ITEMS_KEPT`; later ones are only counted).
    pub fn note_item(&self, item: impl Into<String>) {
        let mut g = self.inner.lock().expect("xact lock");
        if g.items.len() < ITEMS_KEPT {
            g.items.push(item.into());
        } else {
            g.items_dropped += 1;
        }
    }

    /// The listed items and how many more were not kept.
    pub fn items(&self) -> (Vec<String>, u64) {
        let g = self.inner.lock().expect("xact lock");
        (g.items.clone(), g.items_dropped)
    }

    /// Ends the job: `Aborted` if it was asked to stop, else `Finished`. `err` is a fatal
    /// error (kept unless an earlier one was). Only the first call counts.
    pub fn finish(&self, err: Option<String>) {
        let mut g = self.inner.lock().expect("xact lock");
        if g.state != XactState::Running {
            return;
        }
        if g.err.is_none() {
            g.err = err;
        }
        g.state = if self.is_aborted() {
            XactState::Aborted
        } else {
            XactState::Finished
        };
        self.end_ns
            .store(now_ns().max(self.start_ns), Ordering::Release);
        drop(g);
        self.done.notify_all();
    }

    /// The state now.
    pub fn state(&self) -> XactState {
        self.inner.lock().expect("xact lock").state
    }

    /// Whether it is still running.
    pub fn is_running(&self) -> bool {
        self.state() == XactState::Running
    }

    /// End time (ns since the epoch), 0 while running.
    pub fn end_ns(&self) -> i64 {
        self.end_ns.load(Ordering::Acquire)
    }

    /// The first error, or the abort reason if it was aborted without one.
    pub fn err(&self) -> Option<String> {
        let g = self.inner.lock().expect("xact lock");
        g.err.clone()
    }

    /// Why it was aborted, if it was asked to stop.
    pub fn abort_reason(&self) -> Option<String> {
        self.inner.lock().expect("xact lock").abort_why.clone()
    }

    /// Blocks until the job ends or `timeout` passes (`None`: no limit). Returns whether it
    /// ended. Never call it on a core thread.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let g = self.inner.lock().expect("xact lock");
        let running = |i: &mut Inner| i.state == XactState::Running;
        match timeout {
            None => {
                let _g = self.done.wait_while(g, running).expect("xact lock");
                true
            }
            Some(t) => {
                let (g, _) = self
                    .done
                    .wait_timeout_while(g, t, running)
                    .expect("xact lock");
                g.state != XactState::Running
            }
        }
    }
}

/// The node's jobs.
#[derive(Debug, Default)]
pub struct Xacts {
    seq: AtomicU64,
    list: Mutex<Vec<Arc<Xact>>>,
}

/// Characters of a job id (AIS's ids are shortid-like; any unique token does).
const ID_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Xacts {
    /// Registers a new running job and returns it. The caller runs it and calls `finish`.
    pub fn begin(&self, kind: &str, bucket: Option<&str>) -> Arc<Xact> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let start_ns = now_ns();
        // Time-derived prefix (distinct across restarts) + the counter (distinct within one).
        // At least 9 characters, letters, digits and one inner dash: what AIS clients accept as
        // a job UUID (`cos.IsValidUUID`: length >= 9, "alpha-nice").
        let mut v = (start_ns as u64 / 1_000_000) ^ 0x5DEECE66D;
        let mut id = String::with_capacity(16);
        for _ in 0..7 {
            id.push(ID_ALPHABET[(v % 62) as usize] as char);
            v /= 62;
        }
        id.push('-');
        let mut c = n;
        loop {
            id.push(ID_ALPHABET[(c % 62) as usize] as char);
            c /= 62;
            if c == 0 {
                break;
            }
        }
        let x = Arc::new(Xact {
            id,
            kind: kind.to_string(),
            bucket: bucket.map(str::to_string),
            start_ns,
            end_ns: AtomicI64::new(0),
            counters: XactCounters::default(),
            abort: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                state: XactState::Running,
                err: None,
                abort_why: None,
                items: Vec::new(),
                items_dropped: 0,
            }),
            done: Condvar::new(),
        });
        let mut l = self.list.lock().expect("xacts lock");
        l.push(x.clone());
        // Keep every running job and the newest FINISHED_KEPT ended ones.
        let ended = l.iter().filter(|x| !x.is_running()).count();
        if ended > FINISHED_KEPT {
            let mut drop_n = ended - FINISHED_KEPT;
            l.retain(|x| {
                if drop_n > 0 && !x.is_running() {
                    drop_n -= 1;
                    false
                } else {
                    true
                }
            });
        }
        x
    }

    /// The job with `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Xact>> {
        self.list
            .lock()
            .expect("xacts lock")
            .iter()
            .find(|x| x.id == id)
            .cloned()
    }

    /// Jobs matching `kind` and `bucket` (None: any), oldest first; only running ones if asked.
    pub fn find(
        &self,
        kind: Option<&str>,
        bucket: Option<&str>,
        only_running: bool,
    ) -> Vec<Arc<Xact>> {
        self.list
            .lock()
            .expect("xacts lock")
            .iter()
            .filter(|x| kind.is_none_or(|k| x.kind == k))
            .filter(|x| bucket.is_none_or(|b| x.bucket.as_deref() == Some(b)))
            .filter(|x| !only_running || x.is_running())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_ends_once_and_keeps_its_first_error() {
        let xs = Xacts::default();
        let x = xs.begin("resilver", None);
        assert!(x.is_running());
        assert_eq!(x.end_ns(), 0);
        x.counters.add_obj(10);
        x.note_error("disk one failed");
        x.note_error("disk two failed");
        x.finish(None);
        assert_eq!(x.state(), XactState::Finished);
        assert!(x.end_ns() >= x.start_ns);
        assert_eq!(x.err().as_deref(), Some("disk one failed"));
        assert_eq!(x.counters.snap().errors, 2);
        assert_eq!(x.counters.snap().bytes, 10);
        let end = x.end_ns();
        x.finish(Some("late".into()));
        assert_eq!(x.end_ns(), end, "a second finish changes nothing");
        assert!(!x.abort("too late"), "an ended job cannot be aborted");
        assert_eq!(x.state(), XactState::Finished);
    }

    #[test]
    fn abort_is_seen_by_the_runner_and_ends_aborted() {
        let xs = Xacts::default();
        let x = xs.begin("cleanup-store", Some("b"));
        let runner = {
            let x = x.clone();
            std::thread::spawn(move || {
                while !x.is_aborted() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                x.finish(None);
            })
        };
        assert!(!x.wait(Some(Duration::from_millis(20))), "still running");
        assert!(x.abort("stopped by the user"));
        assert!(x.wait(Some(Duration::from_secs(10))));
        runner.join().expect("runner");
        assert_eq!(x.state(), XactState::Aborted);
        assert_eq!(x.abort_reason().as_deref(), Some("stopped by the user"));
    }

    #[test]
    fn ids_are_unique_and_lookups_filter() {
        let xs = Xacts::default();
        let a = xs.begin("resilver", None);
        let b = xs.begin("make-n-copies", Some("b1"));
        let c = xs.begin("make-n-copies", Some("b2"));
        assert_ne!(a.id, b.id);
        assert_ne!(b.id, c.id);
        for x in [&a, &b, &c] {
            assert!(x.id.len() >= 9, "AIS clients want 9+ characters: {}", x.id);
            assert!(x.id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
            assert!(!x.id.starts_with('-') && !x.id.ends_with('-'));
        }
        assert_eq!(
            xs.get(&b.id).map(|x| x.kind.clone()).as_deref(),
            Some("make-n-copies")
        );
        assert_eq!(xs.find(Some("make-n-copies"), None, false).len(), 2);
        assert_eq!(xs.find(None, Some("b2"), false).len(), 1);
        c.finish(None);
        assert_eq!(xs.find(Some("make-n-copies"), None, true).len(), 1);
    }

    #[test]
    fn finished_jobs_are_bounded_running_ones_kept() {
        let xs = Xacts::default();
        let running = xs.begin("resilver", None);
        for _ in 0..FINISHED_KEPT + 10 {
            xs.begin("cleanup-store", None).finish(None);
        }
        xs.begin("cleanup-store", None).finish(None);
        assert!(
            xs.get(&running.id).is_some(),
            "a running job is never dropped"
        );
        assert!(xs.find(None, None, false).len() <= FINISHED_KEPT + 2);
    }
}
