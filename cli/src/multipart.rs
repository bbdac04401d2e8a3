//! Parallel multipart upload of a local file over AIS's native API: start an upload, send
//! its parts over several connections (each part read from the file at its offset, never the
//! whole file in memory), complete it; on any failure, or Ctrl-C, the upload is aborted.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;

use anyhow::{bail, Context};

use crate::api;
use crate::progress::Progress;
use crate::session::{drain, Payload, Session};

/// Most parts one upload may have (AIS's chunk-count limit).
pub const PARTS_MAX: u32 = 9999;

/// Set by the Ctrl-C handler; part readers fail their next read once it is set.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs (once per process) a Ctrl-C handler that makes a running upload stop and abort.
/// A second Ctrl-C ends the process at once.
fn catch_ctrl_c() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // If a handler cannot be installed, Ctrl-C simply ends the process as it did before;
        // the server then drops the unfinished upload by itself.
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    });
}

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// How a file of `size` bytes is cut into parts of `part_size` (the last one shorter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    size: u64,
    part_size: u64,
}

impl Plan {
    /// A plan, refused when the part size is zero or the file would need more than
    /// [`PARTS_MAX`] parts.
    pub fn new(size: u64, part_size: u64) -> anyhow::Result<Plan> {
        if part_size == 0 {
            bail!("--part-size must be greater than zero");
        }
        let parts = size.div_ceil(part_size);
        if parts > u64::from(PARTS_MAX) {
            bail!(
                "{size} bytes in parts of {} would make {parts} parts, more than AIS's {PARTS_MAX}; \
                 use a larger --part-size (at least {})",
                crate::size::format(part_size),
                size.div_ceil(u64::from(PARTS_MAX))
            );
        }
        Ok(Plan { size, part_size })
    }

    /// Number of parts (at least 1).
    pub fn parts(&self) -> u32 {
        // Plan::new bounds the count by PARTS_MAX.
        u32::try_from(self.size.div_ceil(self.part_size).max(1)).unwrap_or(PARTS_MAX)
    }

    /// Offset and length of part `n` (1-based).
    pub fn range(&self, n: u32) -> (u64, u64) {
        let offset = u64::from(n - 1) * self.part_size;
        (offset, self.part_size.min(self.size - offset))
    }
}

/// `len` bytes of a file from `start`, read with positional reads (so several readers can
/// share one file), counting progress; rewinding (for a redirect) takes the count back.
pub struct PartReader<'a> {
    file: &'a File,
    start: u64,
    len: u64,
    pos: u64,
    progress: &'a Progress,
}

impl<'a> PartReader<'a> {
    /// A reader of `file[start..start + len]`.
    pub fn new(file: &'a File, start: u64, len: u64, progress: &'a Progress) -> PartReader<'a> {
        PartReader {
            file,
            start,
            len,
            pos: 0,
            progress,
        }
    }
}

impl Read for PartReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if interrupted() {
            return Err(io::Error::other("interrupted (Ctrl-C)"));
        }
        let left = self.len.saturating_sub(self.pos);
        let want = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.start + self.pos)?;
        self.pos += n as u64;
        self.progress.add(n as u64);
        Ok(n)
    }
}

impl Seek for PartReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the part"))?;
        if new < self.pos {
            self.progress.sub(self.pos - new);
        } else {
            self.progress.add(new - self.pos);
        }
        self.pos = new;
        Ok(new)
    }
}

/// What to upload, and how.
pub struct Upload<'a> {
    /// The open local file.
    pub file: &'a File,
    /// Its path, for messages.
    pub path: &'a Path,
    /// Destination bucket.
    pub bucket: &'a str,
    /// Destination object.
    pub object: &'a str,
    /// The parts.
    pub plan: Plan,
    /// Parts in flight at once (one connection each).
    pub parallel: usize,
    /// Send each part's xxhash2 for the server to verify.
    pub cksum: bool,
    /// Bytes sent.
    pub progress: &'a Progress,
}

/// A completed upload.
pub struct Done {
    /// Number of parts sent.
    pub parts: u32,
    /// `type:value` of the object's checksum, as the completion reported it.
    pub checksum: Option<String>,
}

/// Runs the whole upload; on failure after it started, aborts it and says so.
pub fn upload(s: &mut Session, u: &Upload) -> anyhow::Result<Done> {
    catch_ctrl_c();
    let what = format!(
        "multipart upload of {} to ais://{}/{}",
        u.path.display(),
        u.bucket,
        u.object
    );
    let id_bytes = s
        .send(&api::mpt_create(u.bucket, u.object), Payload::None)
        .and_then(|r| Ok(r.body_bytes()?))
        .with_context(|| format!("{what}: cannot start it"))?;
    let id = String::from_utf8_lossy(&id_bytes).trim().to_owned();
    if id.is_empty() {
        bail!("{what}: the server answered mpt-upload without an upload id");
    }
    let result = send_parts(s, u, &id).and_then(|()| {
        if interrupted() {
            bail!("interrupted (Ctrl-C)");
        }
        complete(s, u, &id)
    });
    match result {
        Ok(checksum) => Ok(Done {
            parts: u.plan.parts(),
            checksum,
        }),
        Err(e) => {
            // After Ctrl-C, the part that noticed it first is beside the point.
            let e = if interrupted() {
                anyhow::anyhow!("interrupted (Ctrl-C)")
            } else {
                e
            };
            let abort = s
                .send(&api::mpt_abort(u.bucket, u.object, &id), Payload::None)
                .map(drain);
            Err(match abort {
                Ok(()) => e.context(format!("{what} failed; upload {id} aborted")),
                Err(ae) => e.context(format!(
                    "{what} failed, and aborting upload {id} failed too ({ae:#})"
                )),
            })
        }
    }
}

/// Sends every part over `u.parallel` connections; the first failure stops the rest (parts
/// in flight finish or fail) and is returned.
fn send_parts(s: &Session, u: &Upload, id: &str) -> anyhow::Result<()> {
    let parts = u.plan.parts();
    let workers = u.parallel.clamp(1, parts as usize);
    let sessions = (0..workers)
        .map(|_| s.fork())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let next = AtomicU32::new(1);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    thread::scope(|scope| {
        for mut session in sessions {
            let (next, failed, first_error) = (&next, &failed, &first_error);
            scope.spawn(move || {
                let result = (|| -> anyhow::Result<()> {
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        if interrupted() {
                            bail!("interrupted (Ctrl-C)");
                        }
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n > parts {
                            return Ok(());
                        }
                        send_part(&mut session, u, id, n)?;
                    }
                })();
                if let Err(e) = result {
                    failed.store(true, Ordering::Relaxed);
                    let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(e);
                }
            });
        }
    });
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn send_part(s: &mut Session, u: &Upload, id: &str, n: u32) -> anyhow::Result<()> {
    let (offset, len) = u.plan.range(n);
    let context = || {
        format!(
            "part {n} of {} (bytes {offset}-{})",
            u.plan.parts(),
            offset + len - 1
        )
    };
    let digest = if u.cksum {
        Some(xxhash2_range(u.file, offset, len).with_context(context)?)
    } else {
        None
    };
    let mut reader = PartReader::new(u.file, offset, len, u.progress);
    let req = api::put_part(u.bucket, u.object, id, n, digest);
    drain(
        s.send(&req, Payload::File(&mut reader, len))
            .with_context(context)?,
    );
    Ok(())
}

fn complete(s: &mut Session, u: &Upload, id: &str) -> anyhow::Result<Option<String>> {
    let req = api::mpt_complete(u.bucket, u.object, id, u.plan.parts());
    let resp = s
        .send(&req, Payload::None)
        .context("completing the upload")?;
    let checksum = match (
        resp.header("ais-checksum-type"),
        resp.header("ais-checksum-value"),
    ) {
        (Some(t), Some(v)) if !t.is_empty() && !v.is_empty() => Some(format!("{t}:{v}")),
        _ => None,
    };
    drain(resp);
    Ok(checksum)
}

/// XXH64 with seed 0 (AIS's `xxhash2`) over `len` bytes of `file` from `offset`.
pub fn xxhash2_range(file: &File, offset: u64, len: u64) -> anyhow::Result<u64> {
    let mut hasher = xxhash_rust::xxh64::Xxh64::new(0);
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = 0u64;
    while done < len {
        let want = usize::try_from(len - done).map_or(buf.len(), |l| l.min(buf.len()));
        let n = match file.read_at(&mut buf[..want], offset + done) {
            Ok(0) => bail!("the file ended early (it changed during the upload?)"),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("read for the checksum"),
        };
        hasher.update(&buf[..n]);
        done += n as u64;
    }
    Ok(hasher.digest())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn plans_cover_the_file_exactly() {
        // Goal: parts are contiguous, cover every byte, the last one is short; limits hold.
        let p = Plan::new(20 << 20, 1 << 20).expect("plan");
        assert_eq!(p.parts(), 20);
        assert_eq!(p.range(1), (0, 1 << 20));
        assert_eq!(p.range(20), (19 << 20, 1 << 20));
        let p = Plan::new(10, 3).expect("plan");
        assert_eq!(p.parts(), 4);
        let ranges: Vec<_> = (1..=4).map(|n| p.range(n)).collect();
        assert_eq!(ranges, vec![(0, 3), (3, 3), (6, 3), (9, 1)]);
        assert_eq!(Plan::new(9999, 1).expect("at the limit").parts(), 9999);
        let err = Plan::new(10_000, 1).expect_err("too many").to_string();
        assert!(err.contains("10000 parts"), "{err}");
        assert!(Plan::new(5, 0).is_err());
    }

    #[test]
    fn part_reader_reads_its_range_and_rewinds() {
        // Goal: a reader yields exactly its slice of the file; rewinding resets the progress
        // it counted; several readers of one file do not disturb each other.
        let path = std::env::temp_dir().join(format!("aisle-part-{}", std::process::id()));
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 253) as u8).collect();
        File::create(&path)
            .and_then(|mut f| f.write_all(&data))
            .expect("write");
        let f = File::open(&path).expect("open");
        let progress = Progress::new("t", Some(1000), false);
        let mut a = PartReader::new(&f, 100, 300, &progress);
        let mut b = PartReader::new(&f, 900, 100, &progress);
        let mut got_a = vec![0u8; 10];
        a.read_exact(&mut got_a).expect("read a");
        let mut got_b = Vec::new();
        b.read_to_end(&mut got_b).expect("read b");
        assert_eq!(got_b, &data[900..]);
        assert_eq!(progress.bytes(), 110);
        a.seek(SeekFrom::Start(0)).expect("rewind");
        assert_eq!(progress.bytes(), 100);
        let mut all_a = Vec::new();
        a.read_to_end(&mut all_a).expect("read a");
        assert_eq!(all_a, &data[100..400]);
        assert_eq!(progress.bytes(), 400);
        assert_eq!(
            xxhash2_range(&f, 100, 300).expect("hash"),
            xxhash_rust::xxh64::xxh64(&data[100..400], 0)
        );
        assert!(xxhash2_range(&f, 900, 200).is_err(), "past the end");
        std::fs::remove_file(&path).expect("cleanup");
    }
}
