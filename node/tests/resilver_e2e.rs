//! Issue 8 acceptance ("living mountpaths"): attach 2 mountpaths to a node holding 20,000
//! objects (mixed sizes, chunked ones, a bucket mirrored with 2 copies), detach one of the
//! original 4 while that resilver runs (preemption), on loop-mounted ext4 filesystems and on
//! plain directories; then every object reads back byte-exact, sits on its HRW mountpath among
//! the current set, mirrored ones have both replicas listed in their LOMs, no stray file, work
//! file or leftover on the detached mountpath remains, and the job counters add up. GETs run
//! throughout. Also: SIGKILL mid-resilver and restart (it resumes and converges), refused
//! mountpath changes (bad paths, the last mountpath), and a filesystem unmounted mid-resilver.
//! `AISLE_E2E_OBJECTS` scales the object count (default 20000).
mod common;
mod loopfs;
use common::*;
use loopfs::LoopFs;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::hrw::obj_digest;
use engine::lom::{Lom, XATTR_LOM};
use engine::mountpath::MountpathSet;
use engine::store::CUSTOM_UFEST_ID;
use engine::ufest::{chunk_digest, Manifest};
use serde_json::{json, Value};

/// Plain bucket: most objects (1–64 KiB), a few of 1–4 MiB.
const PLAIN: &str = "plain";
/// Mirrored bucket (`mirror.copies` 2): small objects.
const MIRR: &str = "mirr";
/// Chunked bucket: objects over `CHUNK_LIMIT` are stored as `CHUNK_SIZE` chunks.
const CHNK: &str = "chnk";
const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const CHUNK_LIMIT: &str = "1MiB";
const CHUNK_SIZE: usize = 256 * KIB;
/// Size of each loop-mounted filesystem (sparse image).
const LOOP_MIB: u64 = 768;
/// Hang guard for a resilver to settle (not a performance bound).
const SETTLE_MAX: Duration = Duration::from_secs(600);
/// Polls (200 ms apart) with every job ended and a mountpath still waiting before
/// `wait_settled` gives up.
const STUCK_POLLS: u32 = 50;

/// The scenarios run one at a time (each loads the machine with 20,000 objects, loop mounts
/// and resilver threads; run together they would also share the loop devices).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One object of a run: its content is `bytes(seed, size)`.
#[derive(Clone, Debug)]
struct Obj {
    bucket: &'static str,
    name: String,
    size: usize,
    seed: u64,
}

impl Obj {
    fn data(&self) -> Vec<u8> {
        bytes(self.seed, self.size)
    }
    fn chunked(&self) -> bool {
        self.bucket == CHNK
    }
    /// Chunks of a chunked object (chunk 1 is `%ob/<name>`).
    fn nchunks(&self) -> usize {
        self.size.div_ceil(CHUNK_SIZE)
    }
}

fn object_count(default: usize) -> usize {
    std::env::var("AISLE_E2E_OBJECTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
        .max(10)
}

/// `n` objects: 0.2 % chunked (1.25–3 MiB), 0.3 % plain of 1–4 MiB, 10 % mirrored (1–16 KiB),
/// the rest plain of 1–64 KiB (log-spread, most under 16 KiB). Objects 0, 1, 2 are one of
/// each rare kind, whatever `n`.
fn objects(n: usize, seed: u64, with_chunked: bool) -> Vec<Obj> {
    (0..n)
        .map(|i| {
            let r = splitmix(seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
            let pick = match i {
                0 => 0,
                1 => 3,
                2 => 10,
                _ => r % 1000,
            };
            let x = (r >> 20) as usize;
            let (bucket, size) = if pick < 2 && with_chunked {
                (CHNK, MIB + MIB / 4 + x % (7 * MIB / 4))
            } else if pick < 5 {
                (PLAIN, MIB + x % (3 * MIB))
            } else if pick < 105 {
                (MIRR, KIB + x % (15 * KIB))
            } else {
                let e = (r >> 8) % 7;
                (PLAIN, KIB + x % ((KIB << e) - KIB + 1))
            };
            Obj {
                bucket,
                name: format!("d{}/o{i:06}", i % 16),
                size,
                seed: r,
            }
        })
        .collect()
}

/// PUTs every object over `threads` kept-alive connections, asserting 200.
fn put_all(port: u16, objs: &Arc<Vec<Obj>>, threads: usize) {
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let objs = objs.clone();
            std::thread::spawn(move || {
                let mut c = KeepAlive::new(port);
                for o in objs.iter().skip(t).step_by(threads) {
                    let r = c.put(o.bucket, &o.name, &o.data());
                    assert_eq!(r.status, 200, "PUT {}/{}: {}", o.bucket, o.name, r.text());
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("PUT thread");
    }
}

fn set_props(node: &Node, bucket: &str, props: &str) {
    let r = node.send(
        "PATCH",
        &format!("/v1/buckets/{bucket}"),
        &[("Content-Type", "application/json")],
        format!(r#"{{"action":"set-bprops","value":{props}}}"#).as_bytes(),
    );
    assert_eq!(r.status, 200, "set-bprops {bucket} {props}: {}", r.text());
}

/// Creates the buckets of a run and sets their props (chunking, mirroring).
fn make_buckets(node: &Node, with_chunked: bool) {
    node.create_bucket(PLAIN);
    node.create_bucket(MIRR);
    set_props(node, MIRR, r#"{"mirror":{"enabled":true,"copies":2}}"#);
    if with_chunked {
        node.create_bucket(CHNK);
        set_props(
            node,
            CHNK,
            &format!(
                r#"{{"chunks":{{"objsize_limit":"{CHUNK_LIMIT}","chunk_size":"{}KiB"}}}}"#,
                CHUNK_SIZE / KIB
            ),
        );
    }
}

// ------------------------------------------------------------------------------------------
// Mountpath and job API (AIS's shapes, AISTORE.md §5.1 and §6).

fn mp_request(node: &Node, method: &str, action: &str, path: &str, query: &str) -> Resp {
    let body = json!({"action": action, "value": path}).to_string();
    node.send(
        method,
        &format!("/v1/daemon/mountpaths{query}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn attach(node: &Node, p: &Path) {
    let r = mp_request(node, "PUT", "attach-mp", &p.to_string_lossy(), "");
    assert_eq!(r.status, 200, "attach {}: {}", p.display(), r.text());
}

fn detach(node: &Node, p: &Path) {
    let r = mp_request(node, "DELETE", "detach-mp", &p.to_string_lossy(), "");
    assert_eq!(r.status, 200, "detach {}: {}", p.display(), r.text());
}

/// `GET /v1/daemon?what=mountpaths`: (available, waiting_dd, disabled), each sorted.
fn mountpaths(node: &Node) -> (Vec<String>, Vec<String>, Vec<String>) {
    let r = node.send("GET", "/v1/daemon?what=mountpaths", &[], b"");
    assert_eq!(r.status, 200, "what=mountpaths: {}", r.text());
    let v = r.json();
    let list = |k: &str| -> Vec<String> {
        let mut l: Vec<String> = v[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().expect("path string").to_string())
                    .collect()
            })
            .unwrap_or_default();
        l.sort();
        l
    };
    (list("available"), list("waiting_dd"), list("disabled"))
}

fn sorted_strings(ps: &[PathBuf]) -> Vec<String> {
    let mut v: Vec<String> = ps.iter().map(|p| p.to_string_lossy().to_string()).collect();
    v.sort();
    v
}

/// Every resilver job the node knows (`qryxstats`, all nodes' snaps flattened), by start.
fn resilver_snaps(node: &Node) -> Vec<Value> {
    let r = node.send(
        "GET",
        "/v1/cluster?what=qryxstats",
        &[("Content-Type", "application/json")],
        br#"{"kind":"resilver"}"#,
    );
    // AIS answers 404 when no job of the kind is known.
    if r.status == 404 {
        return Vec::new();
    }
    assert_eq!(r.status, 200, "qryxstats: {}", r.text());
    let v = r.json();
    let per_node = v
        .as_object()
        .unwrap_or_else(|| panic!("qryxstats is not an object: {v}"));
    let mut out: Vec<Value> = per_node
        .values()
        .flat_map(|snaps| snaps.as_array().cloned().unwrap_or_default())
        .collect();
    for s in &out {
        assert_eq!(s["kind"], "resilver", "snap of another kind: {s}");
    }
    out.sort_by_key(|s| rfc3339_ns(s["start-time"].as_str().unwrap_or("")).unwrap_or(0));
    out
}

/// Unix nanoseconds of an RFC 3339 time; `None` for the zero time (`0001-01-01...`, a job
/// still running), an empty string or a malformed one.
fn rfc3339_ns(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' || s.starts_with("0001-") {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut frac_ns: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        let mut scaled = digits.to_string();
        scaled.truncate(9);
        while scaled.len() < 9 {
            scaled.push('0');
        }
        frac_ns = scaled.parse().ok()?;
    }
    let offset_s: i64 = match b.get(i) {
        Some(b'Z') | Some(b'z') => 0,
        Some(c @ (b'+' | b'-')) => {
            let oh: i64 = s.get(i + 1..i + 3)?.parse().ok()?;
            let om: i64 = s.get(i + 4..i + 6)?.parse().ok()?;
            let o = oh * 3600 + om * 60;
            if *c == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    Some(secs as i128 * 1_000_000_000 + frac_ns)
}

fn start_ns(s: &Value) -> i128 {
    rfc3339_ns(s["start-time"].as_str().unwrap_or(""))
        .unwrap_or_else(|| panic!("job without a start time: {s}"))
}

fn end_ns(s: &Value) -> Option<i128> {
    rfc3339_ns(s["end-time"].as_str().unwrap_or(""))
}

fn aborted(s: &Value) -> bool {
    s["aborted"].as_bool().unwrap_or(false)
}

/// A counter of a snap's `stats` (AIS encodes int64 as strings).
fn stat(s: &Value, key: &str) -> u64 {
    let v = &s["stats"][key];
    v.as_str()
        .and_then(|x| x.parse().ok())
        .or_else(|| v.as_u64())
        .unwrap_or_else(|| panic!("snap without stats.{key}: {s}"))
}

/// Errors a job reports: its `err` text (AIS's one error string) counts as one unless the
/// snap also carries a numeric error counter in `stats` (any key containing "err").
fn job_errors(s: &Value) -> u64 {
    let counted: u64 = s["stats"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.contains("err"))
                .filter_map(|(_, v)| {
                    v.as_str()
                        .and_then(|x| x.parse::<u64>().ok())
                        .or_else(|| v.as_u64())
                })
                .sum()
        })
        .unwrap_or(0);
    let text = s["err"].as_str().is_some_and(|e| !e.is_empty());
    counted.max(u64::from(text))
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

/// Waits until no mountpath is waiting for detach, at least `min_jobs` resilver jobs exist
/// and all of them have ended, the same on two polls in a row; returns the jobs.
fn wait_settled(node: &Node, min_jobs: usize) -> Vec<Value> {
    let deadline = Instant::now() + SETTLE_MAX;
    let (mut quiet_polls, mut stuck_polls) = (0, 0);
    loop {
        let snaps = resilver_snaps(node);
        let (_, waiting, _) = mountpaths(node);
        let settled = waiting.is_empty()
            && snaps.len() >= min_jobs
            && snaps.iter().all(|s| end_ns(s).is_some());
        quiet_polls = if settled { quiet_polls + 1 } else { 0 };
        if quiet_polls >= 2 {
            return snaps;
        }
        // Every job ended yet a mountpath still waits: nothing more will happen (the node
        // retries a failed run at once), so fail now rather than at the hang guard.
        let stuck = !waiting.is_empty()
            && snaps.len() >= min_jobs
            && snaps.iter().all(|s| end_ns(s).is_some());
        stuck_polls = if stuck { stuck_polls + 1 } else { 0 };
        if Instant::now() > deadline || stuck_polls >= STUCK_POLLS {
            panic!(
                "resilver did not settle (hang guard {SETTLE_MAX:?}, or all jobs ended with a \
                 mountpath still waiting): waiting_dd {waiting:?}, jobs \
                 {snaps:#?}\nlog tail:\n{}",
                log_tail(node)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn log_tail(node: &Node) -> String {
    let t = node.log_text();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

// ------------------------------------------------------------------------------------------
// Placement and on-disk checks.

/// The HRW mountpath (index into `set_paths`) of an object among `set_paths`.
fn place(set: &MountpathSet, o: &Obj) -> usize {
    set.place(obj_digest(o.bucket, &o.name))
        .expect("a non-empty set")
        .id
        .index()
}

fn read_lom(p: &Path) -> Result<Lom, String> {
    let mut buf = Vec::new();
    match engine::io::sys::getxattr(p, XATTR_LOM, &mut buf) {
        Ok(true) => Lom::decode(&buf).map_err(|e| format!("{}: bad LOM: {e}", p.display())),
        Ok(false) => Err(format!("{}: no LOM xattr", p.display())),
        Err(e) => Err(format!("{}: getxattr: {e}", p.display())),
    }
}

/// Which of `mps` the path lies under.
fn mp_of(mps: &[PathBuf], p: &Path) -> Option<usize> {
    mps.iter().position(|m| p.starts_with(m))
}

/// What the end-state check found (for the report).
#[derive(Debug, Default)]
struct Layout {
    mains: usize,
    extra_copies: usize,
    chunk_files: usize,
    manifests: usize,
}

/// The end state after a resilver over `set` (the current mountpaths, in node order), with
/// `gone` the detached ones: every object's main replica at its HRW mountpath with a LOM of
/// its size; chunked objects' manifest beside it, completed, each chunk at its recorded path
/// on the chunk's HRW mountpath; mirrored objects with exactly 2 replicas on distinct
/// mountpaths, both listed in both LOMs, the extra one byte-exact; plain objects with no
/// extra copy; and nothing else in any `%ob`, `%ch`, `%ut` (no stray), no file in any `%wk`,
/// no file under the gone mountpaths' buckets. Returns every problem found.
fn check_layout(objs: &[Obj], set: &[PathBuf], gone: &[PathBuf]) -> Result<Layout, Vec<String>> {
    let mset = MountpathSet::new(set);
    let mut problems = Vec::new();
    let mut want_files: BTreeSet<PathBuf> = BTreeSet::new();
    let mut lay = Layout::default();
    for o in objs {
        let home = &set[place(&mset, o)];
        let main = engine::fqn::object_fqn(home, o.bucket, &o.name);
        let lom = match read_lom(&main) {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!(
                    "{}/{}: main replica on its HRW mountpath: {e}",
                    o.bucket, o.name
                ));
                continue;
            }
        };
        want_files.insert(main.clone());
        lay.mains += 1;
        if lom.size != o.size as i64 {
            problems.push(format!(
                "{}: LOM size {} != {}",
                main.display(),
                lom.size,
                o.size
            ));
        }
        let main_s = main.to_string_lossy().to_string();
        if o.bucket == MIRR {
            let copies: BTreeSet<&String> = lom.copies.iter().collect();
            if copies.len() != 2 || !copies.contains(&main_s) {
                problems.push(format!(
                    "{}: LOM copies {:?} (want 2 incl. the main)",
                    main.display(),
                    lom.copies
                ));
                continue;
            }
            for c in &copies {
                let cp = PathBuf::from(c);
                if **c == main_s {
                    continue;
                }
                match mp_of(set, &cp) {
                    Some(i) if set[i] != *home => {}
                    _ => problems.push(format!(
                        "{}: copy {c} not on another current mountpath",
                        main.display()
                    )),
                }
                match read_lom(&cp) {
                    Ok(l) => {
                        let theirs: BTreeSet<&String> = l.copies.iter().collect();
                        if theirs != copies {
                            problems.push(format!(
                                "{c}: LOM copies {:?} differ from the main's {:?}",
                                l.copies, lom.copies
                            ));
                        }
                    }
                    Err(e) => problems.push(format!("copy of {}: {e}", main.display())),
                }
                match std::fs::read(&cp) {
                    Ok(b) if b == o.data() => {}
                    Ok(b) => problems.push(format!("{c}: {} bytes, not the object's", b.len())),
                    Err(e) => problems.push(format!("{c}: {e}")),
                }
                want_files.insert(cp);
                lay.extra_copies += 1;
            }
        } else if lom.copies.iter().any(|c| *c != main_s) {
            problems.push(format!(
                "{}: unexpected copies {:?}",
                main.display(),
                lom.copies
            ));
        }
        if o.chunked() {
            if !lom.is_chunked() {
                problems.push(format!("{}: not chunked", main.display()));
                continue;
            }
            let Some(id) = lom.custom_get(CUSTOM_UFEST_ID).map(str::to_string) else {
                problems.push(format!("{}: no {CUSTOM_UFEST_ID}", main.display()));
                continue;
            };
            let uf = engine::fqn::ufest_fqn(home, o.bucket, &o.name, None);
            let m = match std::fs::read(&uf)
                .map_err(|e| e.to_string())
                .and_then(|b| Manifest::decode(&b).map_err(|e| e.to_string()))
            {
                Ok(m) => m,
                Err(e) => {
                    problems.push(format!("{}: manifest beside the main: {e}", uf.display()));
                    continue;
                }
            };
            want_files.insert(uf.clone());
            lay.manifests += 1;
            if !m.is_completed() || m.id != id || m.chunks.len() != o.nchunks() {
                problems.push(format!(
                    "{}: completed {} id {} (LOM {id}) chunks {} (want {})",
                    uf.display(),
                    m.is_completed(),
                    m.id,
                    m.chunks.len(),
                    o.nchunks()
                ));
            }
            if m.total_size() != o.size as u64 {
                problems.push(format!(
                    "{}: total {} != {}",
                    uf.display(),
                    m.total_size(),
                    o.size
                ));
            }
            for c in m.chunks.iter().filter(|c| c.num >= 2) {
                let at = &set[mset
                    .place(chunk_digest(&id, c.num))
                    .expect("non-empty")
                    .id
                    .index()];
                let want = engine::fqn::chunk_fqn(at, o.bucket, &o.name, &id, c.num);
                if Path::new(&c.path) != want {
                    problems.push(format!(
                        "{}: chunk {} recorded at {} (HRW place {})",
                        uf.display(),
                        c.num,
                        c.path,
                        want.display()
                    ));
                }
                match std::fs::metadata(&c.path) {
                    Ok(md) if md.len() == c.size => {}
                    Ok(md) => {
                        problems.push(format!("{}: {} bytes != {}", c.path, md.len(), c.size))
                    }
                    Err(e) => problems.push(format!("{}: {e}", c.path)),
                }
                want_files.insert(PathBuf::from(&c.path));
                lay.chunk_files += 1;
            }
        }
    }
    // Everything on disk under the buckets must be one of the wanted files.
    for mp in set {
        for f in files_under(&mp.join(engine::fqn::PROVIDER_DIR)) {
            let rel = f.strip_prefix(mp).unwrap().to_string_lossy().to_string();
            if rel.split('/').nth(2) == Some(engine::fqn::WORK_DIR) {
                problems.push(format!("work file left: {}", f.display()));
            } else if !want_files.contains(&f) {
                problems.push(format!("stray file: {}", f.display()));
            }
        }
    }
    for mp in gone {
        for f in files_under(&mp.join(engine::fqn::PROVIDER_DIR)) {
            problems.push(format!("left on a detached mountpath: {}", f.display()));
        }
    }
    if problems.is_empty() {
        Ok(lay)
    } else {
        Err(problems)
    }
}

/// `check_layout`, panicking with the first problems.
fn assert_layout(what: &str, objs: &[Obj], set: &[PathBuf], gone: &[PathBuf]) -> Layout {
    check_layout(objs, set, gone).unwrap_or_else(|p| {
        panic!(
            "{what}: {} problem(s) in the on-disk state, first ones:\n{}",
            p.len(),
            p.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
        )
    })
}

/// GETs every object over 2 connections; panics on any status or byte difference.
fn assert_all_read_back(port: u16, objs: &Arc<Vec<Obj>>, what: &str) {
    let hs: Vec<_> = (0..2)
        .map(|t| {
            let objs = objs.clone();
            std::thread::spawn(move || {
                let mut c = KeepAlive::new(port);
                let mut bad = Vec::new();
                for o in objs.iter().skip(t).step_by(2) {
                    let r = c.get(o.bucket, &o.name);
                    if r.status != 200 {
                        bad.push(format!(
                            "{}/{}: GET {} {}",
                            o.bucket,
                            o.name,
                            r.status,
                            r.text()
                        ));
                    } else if r.body != o.data() {
                        bad.push(format!(
                            "{}/{}: {} bytes that are not the object's {}",
                            o.bucket,
                            o.name,
                            r.body.len(),
                            o.size
                        ));
                    }
                }
                bad
            })
        })
        .collect();
    let bad: Vec<String> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert!(
        bad.is_empty(),
        "{what}: {} object(s) do not read back, first: {:#?}",
        bad.len(),
        &bad[..bad.len().min(20)]
    );
}

/// A background reader: GETs random objects until stopped; any non-200 or wrong byte is an
/// error. With `tolerate_io` a socket error (the node was killed) ends it quietly.
struct Reader {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Result<u64, String>>,
}

impl Reader {
    fn start(port: u16, objs: &Arc<Vec<Obj>>, seed: u64, tolerate_io: bool) -> Reader {
        let stop = Arc::new(AtomicBool::new(false));
        let (objs, st) = (objs.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut c = KeepAlive::new(port);
            let mut x = seed | 1;
            let mut reads = 0u64;
            while !st.load(Ordering::SeqCst) {
                x = splitmix(x);
                let o = &objs[(x % objs.len() as u64) as usize];
                match c.try_request(
                    "GET",
                    &format!("/v1/objects/{}/{}", o.bucket, o.name),
                    &[],
                    b"",
                ) {
                    Ok(r) if r.status == 200 && r.body == o.data() => reads += 1,
                    Ok(r) if r.status == 200 => {
                        return Err(format!(
                            "{}/{}: GET returned {} bytes that are not the object's ({})",
                            o.bucket,
                            o.name,
                            r.body.len(),
                            o.size
                        ))
                    }
                    Ok(r) => {
                        return Err(format!(
                            "{}/{}: GET {}: {}",
                            o.bucket,
                            o.name,
                            r.status,
                            r.text()
                        ))
                    }
                    Err(_) if tolerate_io => return Ok(reads),
                    Err(e) => return Err(format!("{}/{}: GET: {e}", o.bucket, o.name)),
                }
            }
            Ok(reads)
        });
        Reader { stop, handle }
    }

    /// Stops it; panics on an error it saw or with fewer than `min_reads` checked reads;
    /// returns the reads it checked.
    fn finish(self, what: &str, min_reads: u64) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let reads = self
            .handle
            .join()
            .expect("reader thread")
            .unwrap_or_else(|e| panic!("{what}: a GET during the resilver failed: {e}"));
        assert!(
            reads >= min_reads,
            "{what}: the background reader checked {reads} GET(s)"
        );
        reads
    }
}

/// Objects whose main replica must move between two sets (plain and chunked buckets only:
/// a mirrored object's main may be restored from a copy).
fn must_move(objs: &[Obj], from: &[PathBuf], to: &[PathBuf]) -> (u64, u64, u64) {
    let (a, b) = (MountpathSet::new(from), MountpathSet::new(to));
    let (mut n, mut bytes, mut any) = (0, 0, 0);
    for o in objs {
        let moved = from[place(&a, o)] != to[place(&b, o)];
        if moved || o.chunked() {
            any += 1; // may be counted (a chunked object also when only a chunk moves)
        }
        if moved && o.bucket != MIRR {
            n += 1;
            if !o.chunked() {
                bytes += o.size as u64;
            }
        }
    }
    (n, bytes, any)
}

// ------------------------------------------------------------------------------------------
// The rigs.

/// A node on the first 4 of 6 mountpaths (the last 2 are to be attached); loop filesystems
/// are dropped after the node.
struct Rig {
    node: Node,
    all: Vec<PathBuf>,
    _loops: Vec<LoopFs>,
}

fn rig_plain(n_start: usize, n_all: usize) -> Rig {
    let dir = tempdir("e2e");
    let all: Vec<PathBuf> = (1..=n_all)
        .map(|i| {
            let m = dir.join(format!("mp{i}"));
            std::fs::create_dir_all(&m).unwrap();
            std::fs::canonicalize(&m).unwrap()
        })
        .collect();
    let node = Node::start_on(dir, all[..n_start].to_vec(), free_port());
    Rig {
        node,
        all,
        _loops: Vec::new(),
    }
}

fn rig_loop(tag: &str, n_start: usize, n_all: usize) -> Option<Rig> {
    let mut loops = Vec::new();
    for i in 0..n_all {
        loops.push(LoopFs::new(&format!("{tag}{i}"), LOOP_MIB)?);
    }
    let all: Vec<PathBuf> = loops
        .iter()
        .map(|l| std::fs::canonicalize(&l.mnt).unwrap())
        .collect();
    let node = Node::start_on(tempdir("e2e"), all[..n_start].to_vec(), free_port());
    Some(Rig {
        node,
        all,
        _loops: loops,
    })
}

/// Scenario (a)/(b): 4 mountpaths, attach 2, detach one of the first 4 while that resilver
/// runs; everything checked afterwards.
fn attach_detach_scenario(mut rig: Rig, what: &str) {
    let n = object_count(20_000);
    let objs = Arc::new(objects(n, 0xE2E0_0001, true));
    let node = &rig.node;
    make_buckets(node, true);
    let t = Instant::now();
    put_all(node.port, &objs, 3);
    println!("{what}: {n} objects PUT in {:?}", t.elapsed());
    let initial = rig.all[..4].to_vec();
    let detached = rig.all[1].clone();
    let final_set: Vec<PathBuf> = rig
        .all
        .iter()
        .filter(|p| **p != detached)
        .cloned()
        .collect();

    let reader = Reader::start(node.port, &objs, 0xBEEF, false);
    let t = Instant::now();
    attach(node, &rig.all[4]);
    attach(node, &rig.all[5]);
    let before_detach = resilver_snaps(node);
    let t_detach = now_ns();
    detach(node, &detached);
    let snaps = wait_settled(node, 1);
    let took = t.elapsed();
    let reads = reader.finish(what, 1);
    rig.node.mountpaths = final_set.clone();
    let node = &rig.node;

    // The set: the 5 current mountpaths available, nothing waiting or disabled.
    let (avail, waiting, disabled) = mountpaths(node);
    assert_eq!(avail, sorted_strings(&final_set), "available mountpaths");
    assert!(
        waiting.is_empty() && disabled.is_empty(),
        "{waiting:?} {disabled:?}"
    );

    assert_all_read_back(node.port, &objs, what);
    let lay = assert_layout(what, &objs, &final_set, std::slice::from_ref(&detached));

    // Jobs: the last one finished whole; an earlier one either ended before the next began
    // or was aborted (preempted); one began after the detach request.
    let last = snaps.last().expect("a resilver job");
    assert!(!aborted(last), "the last resilver was aborted: {last}");
    for w in snaps.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let ended_before_next = end_ns(a).is_some_and(|e| e <= start_ns(b));
        assert!(
            aborted(a) || ended_before_next,
            "a resilver overlapped the next one without being aborted: {a} then {b}"
        );
    }
    let t_detach_s = t_detach / 1_000_000_000 * 1_000_000_000;
    assert!(
        snaps.iter().any(|s| start_ns(s) >= t_detach_s),
        "no resilver started after the detach: {snaps:#?}"
    );
    let preempted = snaps.iter().filter(|s| aborted(s)).count();
    let running_at_detach = before_detach.iter().filter(|s| end_ns(s).is_none()).count();

    // Counters: at least every plain/chunked object whose HRW mountpath changed was moved
    // (each at most once per job).
    let loc_objs: u64 = snaps.iter().map(|s| stat(s, "loc-objs")).sum();
    let loc_bytes: u64 = snaps.iter().map(|s| stat(s, "loc-bytes")).sum();
    let (need, need_bytes, could) = must_move(&objs, &initial, &final_set);
    assert!(
        loc_objs >= need,
        "loc-objs {loc_objs} < {need} objects whose HRW mountpath changed: {snaps:#?}"
    );
    assert!(
        loc_bytes >= need_bytes,
        "loc-bytes {loc_bytes} < {need_bytes} bytes of moved monolithic objects"
    );
    assert!(
        loc_objs <= could * snaps.len() as u64,
        "loc-objs {loc_objs} > what {snaps_n} job(s) could move ({could} objects)",
        snaps_n = snaps.len()
    );
    println!(
        "{what}: {n} objects; attach 2 + detach 1 settled in {took:?}; {} resilver job(s), {} \
         aborted ({running_at_detach} running at the detach); loc-objs {loc_objs} (>= {need} \
         needed), loc-bytes {loc_bytes}; {reads} GETs checked meanwhile; layout {lay:?}",
        snaps.len(),
        preempted
    );
}

#[test]
fn attach_two_detach_one_during_resilver_on_loop_filesystems() {
    let _one_at_a_time = serial();
    // Goal: on real separate filesystems (6 loop-mounted ext4), attach 2 mountpaths to a
    // 4-mountpath node with 20,000 objects, then detach one of the 4 while the resilver runs;
    // afterwards every object reads back byte-exact and sits on its HRW mountpath among the
    // current 5, mirrored ones have 2 replicas listing each other, nothing stray or left
    // behind, the preempted job is aborted, and loc-objs covers the objects that had to move.
    // GETs during the whole change see no error and no wrong byte.
    let Some(rig) = rig_loop("res", 4, 6) else {
        return;
    };
    attach_detach_scenario(rig, "loop ext4");
}

#[test]
fn attach_two_detach_one_during_resilver_on_plain_directories() {
    let _one_at_a_time = serial();
    // Goal: the same on 6 directories of one filesystem (a move may be a rename).
    attach_detach_scenario(rig_plain(4, 6), "plain dirs");
}

#[test]
fn sigkill_mid_resilver_resumes_at_restart_and_converges() {
    let _one_at_a_time = serial();
    // Goal: a resilver killed (SIGKILL) half-way leaves an interrupted marker; the restarted
    // node (same 6 mountpaths) resumes it by itself and converges to the same end state:
    // every object byte-exact at its HRW place, mirrored ones with both copies, no stray or
    // work file. GETs before the kill and after the restart see no error.
    let mut rig = rig_plain(4, 6);
    let n = object_count(20_000);
    let objs = Arc::new(objects(n, 0xE2E0_0002, true));
    make_buckets(&rig.node, true);
    put_all(rig.node.port, &objs, 3);
    let reader = Reader::start(rig.node.port, &objs, 0xFEED, true);
    attach(&rig.node, &rig.all[4]);
    attach(&rig.node, &rig.all[5]);
    rig.node.mountpaths = rig.all.clone();
    // Kill once the job has moved something (if it ends first, nothing is interrupted and
    // the restart must simply keep the converged state).
    let deadline = Instant::now() + SETTLE_MAX;
    let state_at_kill = loop {
        let snaps = resilver_snaps(&rig.node);
        if snaps
            .iter()
            .any(|s| end_ns(s).is_none() && stat(s, "loc-objs") > 0)
        {
            break "running";
        }
        if !snaps.is_empty() && snaps.iter().all(|s| end_ns(s).is_some()) {
            break "already ended";
        }
        assert!(
            Instant::now() < deadline,
            "no resilver progress: {snaps:#?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    rig.node.kill();
    let reads_before = reader.finish("before the kill", 0);
    let all = rig.all.clone();
    let misplaced = check_layout(&objs, &all, &[]).err().map_or(0, |p| p.len());
    // Plain objects not yet at their HRW place: the kill interrupted the resilver for sure.
    let missing_at_hrw = {
        let set = MountpathSet::new(&all);
        objs.iter()
            .filter(|o| o.bucket == PLAIN)
            .filter(|o| !engine::fqn::object_fqn(&all[place(&set, o)], o.bucket, &o.name).exists())
            .count() as u64
    };

    rig.node.restart();
    let reader = Reader::start(rig.node.port, &objs, 0xF00D, false);
    // Interrupted: a resilver must run by itself (nobody starts one here).
    let snaps = wait_settled(&rig.node, usize::from(missing_at_hrw > 0));
    let reads_after = reader.finish("after the restart", 1);
    if missing_at_hrw > 0 {
        let last = snaps.last().expect("a resumed resilver");
        assert!(!aborted(last), "the resumed resilver was aborted: {last}");
        let loc: u64 = snaps.iter().map(|s| stat(s, "loc-objs")).sum();
        assert!(
            loc >= missing_at_hrw,
            "resumed loc-objs {loc} < {missing_at_hrw} plain objects not yet at their HRW place"
        );
    }
    assert_all_read_back(rig.node.port, &objs, "after the restart");
    let lay = assert_layout("after the restart", &objs, &all, &[]);
    let (avail, waiting, disabled) = mountpaths(&rig.node);
    assert_eq!(avail, sorted_strings(&all));
    assert!(waiting.is_empty() && disabled.is_empty());
    println!(
        "killed with the resilver {state_at_kill}: {misplaced} placement problem(s) at the kill \
         ({missing_at_hrw} plain objects not yet at HRW); after the restart {} job(s); {} + {} \
         GETs checked; layout {lay:?}",
        snaps.len(),
        reads_before,
        reads_after
    );
}

// ------------------------------------------------------------------------------------------
// Faults.

/// Asserts a refused mountpath request: a 4xx with an AIS error message naming `mentions`,
/// and the set as it was.
fn assert_refused(
    node: &Node,
    r: &Resp,
    what: &str,
    mentions: &str,
    before: &(Vec<String>, Vec<String>, Vec<String>),
) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: want a 4xx, got {} {}",
        r.status,
        r.text()
    );
    let msg = r
        .error_message()
        .unwrap_or_else(|| panic!("{what}: no AIS error message: {}", r.text()));
    assert!(
        msg.contains(mentions),
        "{what}: the message does not name {mentions:?}: {msg}"
    );
    assert_eq!(
        &mountpaths(node),
        before,
        "{what}: the mountpath set changed"
    );
    println!("{what}: {} {msg}", r.status);
}

#[test]
fn bad_mountpath_changes_are_refused_and_change_nothing() {
    let _one_at_a_time = serial();
    // Goal: attaching a path that does not exist, is a file, is already attached, is nested
    // in or contains a mountpath, or is on a filesystem without user xattrs (ramfs) is a 4xx
    // naming the path, with the set unchanged and the candidate left untouched; a missing
    // value is a 4xx; detaching or disabling the last (enabled) mountpath is refused; the node
    // keeps serving its objects throughout.
    let node = Node::start(2);
    node.create_bucket("b");
    assert_eq!(node.put("b", "o", b"kept").status, 200);
    let mp1 = std::fs::canonicalize(&node.mountpaths[0]).unwrap();
    let mp2 = std::fs::canonicalize(&node.mountpaths[1]).unwrap();
    let before = mountpaths(&node);
    assert_eq!(before.0, sorted_strings(&[mp1.clone(), mp2.clone()]));

    let missing = node.dir.join("no-such-dir");
    let r = mp_request(&node, "PUT", "attach-mp", &missing.to_string_lossy(), "");
    assert_refused(
        &node,
        &r,
        "attach a missing path",
        &missing.to_string_lossy(),
        &before,
    );

    let file = node.dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let r = mp_request(&node, "PUT", "attach-mp", &file.to_string_lossy(), "");
    assert_refused(&node, &r, "attach a file", &file.to_string_lossy(), &before);

    let r = mp_request(&node, "PUT", "attach-mp", &mp1.to_string_lossy(), "");
    assert_refused(
        &node,
        &r,
        "attach an attached one",
        &mp1.to_string_lossy(),
        &before,
    );

    let nested = mp1.join("nested");
    std::fs::create_dir_all(&nested).unwrap();
    let r = mp_request(&node, "PUT", "attach-mp", &nested.to_string_lossy(), "");
    assert_refused(
        &node,
        &r,
        "attach a nested path",
        &nested.to_string_lossy(),
        &before,
    );
    assert!(
        files_under(&nested).is_empty(),
        "the refused nested dir was written to"
    );

    let parent = std::fs::canonicalize(&node.dir).unwrap();
    let r = mp_request(&node, "PUT", "attach-mp", &parent.to_string_lossy(), "");
    assert_refused(
        &node,
        &r,
        "attach a path containing mountpaths",
        &parent.to_string_lossy(),
        &before,
    );

    let ramfs = node.dir.join("ramfs");
    std::fs::create_dir_all(&ramfs).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "ramfs", "ramfs"])
        .arg(&ramfs)
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        let r = mp_request(&node, "PUT", "attach-mp", &ramfs.to_string_lossy(), "");
        let listing = files_under(&ramfs);
        let _ = std::process::Command::new("umount").arg(&ramfs).status();
        assert_refused(
            &node,
            &r,
            "attach a ramfs (no user xattrs)",
            &ramfs.to_string_lossy(),
            &before,
        );
        assert!(
            listing.is_empty(),
            "the refused ramfs was written to: {listing:?}"
        );
    } else {
        println!("SKIPPED: cannot mount a ramfs here (the no-xattr case)");
    }

    for body in [
        r#"{"action":"attach-mp"}"#,
        r#"{"action":"attach-mp","value":""}"#,
        "{",
    ] {
        let r = node.send(
            "PUT",
            "/v1/daemon/mountpaths",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert!(
            (400..500).contains(&r.status),
            "{body}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            r.error_message().is_some_and(|m| !m.is_empty()),
            "{body}: {}",
            r.text()
        );
        assert_eq!(mountpaths(&node), before, "{body}: the set changed");
    }

    // The last enabled mountpath: disable mp2 (resilvers onto mp1), then mp1 may be neither
    // disabled nor detached.
    let r = mp_request(&node, "POST", "disable-mp", &mp2.to_string_lossy(), "");
    assert_eq!(r.status, 200, "disable mp2: {}", r.text());
    wait_settled(&node, 0);
    let one = mountpaths(&node);
    assert_eq!(
        one.0,
        sorted_strings(std::slice::from_ref(&mp1)),
        "after disabling mp2"
    );
    let r = mp_request(&node, "POST", "disable-mp", &mp1.to_string_lossy(), "");
    assert_refused(
        &node,
        &r,
        "disable the last mountpath",
        &mp1.to_string_lossy(),
        &one,
    );
    let r = mp_request(&node, "DELETE", "detach-mp", &mp1.to_string_lossy(), "");
    assert_refused(
        &node,
        &r,
        "detach the last mountpath",
        &mp1.to_string_lossy(),
        &one,
    );
    let r = node.get("b", "o");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"kept"[..]),
        "{}",
        r.text()
    );

    // A node started on one mountpath: the same refusals.
    let single = Node::start(1);
    let only = std::fs::canonicalize(&single.mountpaths[0]).unwrap();
    let set1 = mountpaths(&single);
    let r = mp_request(
        &single,
        "DELETE",
        "detach-mp",
        &only.to_string_lossy(),
        "?dntres=true",
    );
    assert_refused(
        &single,
        &r,
        "detach the only mountpath",
        &only.to_string_lossy(),
        &set1,
    );
    let r = mp_request(&single, "POST", "disable-mp", &only.to_string_lossy(), "");
    assert_refused(
        &single,
        &r,
        "disable the only mountpath",
        &only.to_string_lossy(),
        &set1,
    );
    single.create_bucket("b");
    assert_eq!(single.put("b", "o", b"still").status, 200);
}

#[test]
fn filesystem_unmounted_mid_resilver_is_an_error_and_loses_no_object_with_a_good_copy() {
    let _one_at_a_time = serial();
    // Goal: a mountpath whose filesystem goes away (lazy umount; its mount point then replaced
    // by a file so that nothing can be written in its place on the root filesystem) while a
    // resilver runs: the node notices (a resilver records an error, or the mountpath leaves
    // the available set), every job ends, the node keeps serving, and every object with a
    // good copy elsewhere (not on that mountpath before, or mirrored with 2 copies) reads back
    // byte-exact; the others read back exactly or fail, never with wrong bytes.
    let Some(rig) = rig_loop("umnt", 3, 4) else {
        return;
    };
    let n = object_count(20_000) / 10;
    let objs = Arc::new(objects(n, 0xE2E0_0003, false));
    let node = &rig.node;
    make_buckets(node, false);
    put_all(node.port, &objs, 3);
    let initial = rig.all[..3].to_vec();
    let iset = MountpathSet::new(&initial);
    // Mirrored objects must have their 2 copies before the fault.
    let deadline = Instant::now() + SETTLE_MAX;
    loop {
        let short = objs
            .iter()
            .filter(|o| o.bucket == MIRR)
            .filter(|o| {
                read_lom(&engine::fqn::object_fqn(
                    &initial[place(&iset, o)],
                    o.bucket,
                    &o.name,
                ))
                .map_or(true, |l| l.copies.len() < 2)
            })
            .count();
        if short == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{short} mirrored objects without 2 copies"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Where each mirrored object's replicas sat before the fault (for the report).
    let before: std::collections::HashMap<String, String> = objs
        .iter()
        .filter(|o| o.bucket == MIRR)
        .map(|o| {
            let main = engine::fqn::object_fqn(&initial[place(&iset, o)], o.bucket, &o.name);
            let l = read_lom(&main).map_or_else(|e| e, |l| format!("{:?}", l.copies));
            (
                o.name.clone(),
                format!("main {}; copies {l}", main.display()),
            )
        })
        .collect();
    let victim = rig.all[2].clone();
    attach(node, &rig.all[3]);
    let ok = |cmd: &mut std::process::Command| {
        let st = cmd.status().expect("spawn");
        assert!(st.success(), "{cmd:?}: {st}");
    };
    ok(std::process::Command::new("umount").arg("-l").arg(&victim));
    // The node keeps writing below the mount point (now a plain directory of the root
    // filesystem): move it aside whole and put a file in its place, so every path below the
    // mountpath fails from now on. A mkdir by the node may recreate it in between: again.
    let mut aside = 0;
    loop {
        let to = victim.with_extension(format!("gone{aside}"));
        std::fs::rename(&victim, &to).expect("move the mount point aside");
        aside += 1;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&victim)
        {
            Ok(mut f) => {
                std::io::Write::write_all(&mut f, b"not a directory").unwrap();
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && aside < 100 => continue,
            Err(e) => panic!("a file in place of the mount point: {e}"),
        }
    }
    // A resilver started now must meet the gone filesystem (if the first one was done).
    let r = node.send(
        "PUT",
        "/v1/cluster",
        &[("Content-Type", "application/json")],
        br#"{"action":"start","value":{"kind":"resilver"}}"#,
    );
    assert_eq!(r.status, 200, "start resilver: {}", r.text());
    let id = r.text().trim().to_string();
    assert!(!id.is_empty(), "start resilver: no job id");
    let snaps = wait_settled(node, 1);
    assert!(
        snaps.iter().any(|s| s["id"] == id.as_str()),
        "the started job {id} is not among {snaps:#?}"
    );
    // AIS's IC status of the job: ended.
    let st = node.send(
        "GET",
        "/v1/cluster?what=status",
        &[("Content-Type", "application/json")],
        json!({ "id": id }).to_string().as_bytes(),
    );
    assert_eq!(st.status, 200, "what=status: {}", st.text());
    let st = st.json();
    assert_eq!(st["uuid"], id.as_str(), "{st}");
    assert!(
        st["end_time"].as_i64().is_some_and(|t| t > 0),
        "not ended: {st}"
    );
    assert_eq!(node.req("GET", "/v1/health", &[], b"").status, 200);
    let errors: u64 = snaps.iter().map(job_errors).sum();
    let (avail, _, _) = mountpaths(node);
    let noticed_out = !avail.contains(&victim.to_string_lossy().to_string());
    assert!(
        errors > 0 || noticed_out,
        "the failed filesystem went unnoticed: jobs {snaps:#?}, available {avail:?}"
    );
    let mut lost = 0;
    let mut checked = 0;
    let mut c = KeepAlive::new(node.port);
    for o in objs.iter() {
        let good_elsewhere = o.bucket == MIRR || initial[place(&iset, o)] != victim;
        let r = c.get(o.bucket, &o.name);
        if r.status == 200 {
            assert!(r.body == o.data(), "{}/{}: wrong bytes", o.bucket, o.name);
        } else {
            if good_elsewhere {
                let now: Vec<String> = rig
                    .all
                    .iter()
                    .filter(|m| **m != victim)
                    .map(|m| {
                        let f = engine::fqn::object_fqn(m, o.bucket, &o.name);
                        match read_lom(&f) {
                            Ok(l) => format!("{}: copies {:?}", f.display(), l.copies),
                            Err(e) => e,
                        }
                    })
                    .collect();
                panic!(
                    "{}/{} had a good copy elsewhere but GET {}: {}\nbefore the fault: {}\n\
                     now: {now:#?}\nnode log:\n{}",
                    o.bucket,
                    o.name,
                    r.status,
                    r.text(),
                    before.get(&o.name).map_or("-", |s| s.as_str()),
                    log_tail(node)
                );
            }
            lost += 1;
        }
        checked += 1;
    }
    println!(
        "lazy umount mid-resilver: {} job(s), {errors} error(s) recorded, victim out of the \
         available set: {noticed_out}; {checked} objects checked, {lost} unreadable (only \
         copy on the gone filesystem)",
        snaps.len()
    );
}

// ------------------------------------------------------------------------------------------
// The checker itself, on today's tree.

#[test]
fn layout_check_accepts_a_settled_node_and_flags_strays_and_work_files() {
    // Goal: the end-state check used above is sound: on a node that never changed its
    // mountpaths (plain and chunked objects, and mirrored ones whose second replica is made
    // here by hand as mirroring lays it out) it finds every object at its HRW place with
    // nothing else on disk; a planted copy on a non-HRW mountpath, a planted work file, a file
    // on a "detached" mountpath and a replica whose LOM forgets the other are each reported.
    let node = Node::start(4);
    let objs = Arc::new(objects(object_count(300), 0xE2E0_0004, true));
    node.create_bucket(PLAIN);
    node.create_bucket(MIRR);
    node.create_bucket(CHNK);
    set_props(
        &node,
        CHNK,
        &format!(
            r#"{{"chunks":{{"objsize_limit":"{CHUNK_LIMIT}","chunk_size":"{}KiB"}}}}"#,
            CHUNK_SIZE / KIB
        ),
    );
    let t = Instant::now();
    put_all(node.port, &objs, 2);
    let put_took = t.elapsed();
    let set: Vec<PathBuf> = node
        .mountpaths
        .iter()
        .map(|m| std::fs::canonicalize(m).unwrap())
        .collect();
    let t = Instant::now();
    assert_all_read_back(node.port, &objs, "settled");
    let get_took = t.elapsed();
    let mset = MountpathSet::new(&set);
    let mirrored = plant_mirror_copies(&objs, &set, &mset);
    let t = Instant::now();
    let lay = assert_layout("settled", &objs, &set, &[]);
    println!(
        "{} objects: PUT {put_took:?}, read back {get_took:?}, layout check {:?}: {lay:?}",
        objs.len(),
        t.elapsed()
    );
    assert_eq!(lay.mains, objs.len());
    assert!(mirrored > 0, "no mirrored object in the sample");
    assert_eq!(lay.extra_copies, mirrored);
    let chunked: Vec<&Obj> = objs.iter().filter(|o| o.chunked()).collect();
    assert!(!chunked.is_empty(), "no chunked object in the sample");
    assert_eq!(lay.manifests, chunked.len());
    assert_eq!(
        lay.chunk_files,
        chunked.iter().map(|o| o.nchunks() - 1).sum::<usize>()
    );

    // A stray: the first plain object's file copied to a mountpath that is not its HRW one.
    let o = objs.iter().find(|o| o.bucket == PLAIN).unwrap();
    let home = place(&mset, o);
    let other = &set[(home + 1) % set.len()];
    let stray = engine::fqn::object_fqn(other, o.bucket, &o.name);
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::copy(
        engine::fqn::object_fqn(&set[home], o.bucket, &o.name),
        &stray,
    )
    .unwrap();
    let work = engine::fqn::work_dir(&set[0], PLAIN).join("put.0.0.0");
    std::fs::create_dir_all(work.parent().unwrap()).unwrap();
    std::fs::write(&work, b"w").unwrap();
    let gone = tempdir("gone");
    let left = engine::fqn::object_fqn(&gone, PLAIN, "left");
    std::fs::create_dir_all(left.parent().unwrap()).unwrap();
    std::fs::write(&left, b"l").unwrap();
    // A mirrored object's extra replica whose LOM lists only itself.
    let m = objs.iter().find(|o| o.bucket == MIRR).unwrap();
    let m_home = place(&mset, m);
    let m_copy = engine::fqn::object_fqn(&set[(m_home + 1) % set.len()], m.bucket, &m.name);
    let mut lom = read_lom(&m_copy).unwrap();
    lom.copies = vec![m_copy.to_string_lossy().to_string()];
    set_loms(&[(m_copy.clone(), lom)]);
    let problems = check_layout(&objs, &set, std::slice::from_ref(&gone)).expect_err("planted");
    let has = |needle: &str, p: &Path| {
        problems
            .iter()
            .any(|x| x.starts_with(needle) && x.contains(&*p.to_string_lossy()))
    };
    assert!(has("stray file", &stray), "{problems:#?}");
    assert!(has("work file left", &work), "{problems:#?}");
    assert!(has("left on a detached mountpath", &left), "{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|x| x.starts_with(&*m_copy.to_string_lossy()) && x.contains("differ")),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 4, "{problems:#?}");
    let _ = std::fs::remove_dir_all(&gone);

    // The RFC 3339 reader used for job times.
    assert_eq!(rfc3339_ns("1970-01-01T00:00:01Z"), Some(1_000_000_000));
    assert_eq!(
        rfc3339_ns("2026-12-03T19:52:09.5+01:00"),
        Some((1_796_327_529 - 3600) * 1_000_000_000 + 500_000_000)
    );
    assert_eq!(rfc3339_ns("0001-01-01T00:00:00Z"), None);
}

/// Writes LOMs (xattr `user.ais.lom`) through Python's `os.setxattr` (no `unsafe` in tests).
fn set_loms(loms: &[(PathBuf, Lom)]) {
    let mut input = String::new();
    for (p, lom) in loms {
        let hex: String = lom
            .encode()
            .expect("encodable LOM")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        input.push_str(&format!("{}\t{hex}\n", p.display()));
    }
    let script = "import os,sys\nfor l in sys.stdin:\n p,h=l.rstrip('\\n').split('\\t')\n os.setxattr(p,'user.ais.lom',bytes.fromhex(h))\n";
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "setting LOMs failed");
}

/// Lays out a second replica of every mirrored object by hand, as mirroring does: the same
/// bytes at `%ob/<name>` on the next mountpath, and on both replicas a LOM whose `copies`
/// lists both FQNs. Returns how many objects got one.
fn plant_mirror_copies(objs: &[Obj], set: &[PathBuf], mset: &MountpathSet) -> usize {
    let mut loms = Vec::new();
    for o in objs.iter().filter(|o| o.bucket == MIRR) {
        let home = place(mset, o);
        let main = engine::fqn::object_fqn(&set[home], o.bucket, &o.name);
        let copy = engine::fqn::object_fqn(&set[(home + 1) % set.len()], o.bucket, &o.name);
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(&main, &copy).unwrap();
        let mut lom = read_lom(&main).unwrap();
        lom.copies = vec![
            main.to_string_lossy().to_string(),
            copy.to_string_lossy().to_string(),
        ];
        loms.push((main, lom.clone()));
        loms.push((copy, lom));
    }
    set_loms(&loms);
    loms.len() / 2
}
