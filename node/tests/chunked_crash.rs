//! Crash safety of chunked objects and multipart uploads (issue 7): seeded rounds of clients
//! doing chunked PUTs (64 KiB chunks), multipart uploads, completions and aborts of objects
//! whose content derives from (name, generation), with readers checking every GET meanwhile;
//! SIGKILL at a random moment, restart, then every object must read back as exactly one
//! acknowledged or in-flight generation (never a mix or a part), no completion intent may be
//! left, and nothing but the clients' objects may be listed. Also: the start-up recovery of
//! each state a completion can be interrupted in, rebuilt by hand on disk.
mod common;
use common::*;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clients writing (each owns its objects, so an object has one writer at a time).
const WRITERS: usize = 3;
/// Objects each writer owns: chunked-or-small PUTs and multipart uploads.
const PUT_OBJS: usize = 3;
const MPU_OBJS: usize = 3;
/// Rounds of a run (at least 10); `AISLE_CRASH_ROUNDS` asks for more.
const ROUNDS: usize = 12;

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix(self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn content_seed(name: &str, gen: u64) -> u64 {
    xxhash_rust::xxh64::xxh64(name.as_bytes(), gen)
}

/// Generation `gen` (>= 1) of object `name`: its bytes. `p*` objects are mostly chunked
/// (256 KiB .. 1.5 MiB, over the 256 KiB limit), sometimes small and monolithic; `m*` objects
/// (multipart) are 1 KiB .. 1 MiB.
fn content(name: &str, gen: u64) -> Vec<u8> {
    let s = content_seed(name, gen);
    let size = if name.starts_with('p') {
        if s.is_multiple_of(4) {
            1 + (s >> 8) % (200 << 10)
        } else {
            (256 << 10) + (s >> 8) % (1280 << 10)
        }
    } else {
        (1 << 10) + (s >> 8) % (1 << 20)
    };
    bytes(s, size as usize)
}

/// The part boundaries of a multipart generation: 1..=8 parts.
fn part_bounds(name: &str, gen: u64, len: usize) -> Vec<(usize, usize)> {
    let s = content_seed(name, gen ^ 0xABCD);
    let n = (1 + s % 8) as usize;
    let n = n.min(len);
    let mut cuts: Vec<usize> = (1..n).map(|i| i * len / n).collect();
    cuts.insert(0, 0);
    cuts.push(len);
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

/// What an object may read back as: generations `lo..=hi` (0 = absent). `lo` is the last one
/// known stored (acknowledged, or read back after a restart); `hi` the newest sent whose
/// outcome is unknown.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    lo: u64,
    hi: u64,
    /// The last generation number handed out.
    last: u64,
}

type Objects = Arc<Mutex<BTreeMap<String, Window>>>;

fn window(objs: &Objects, name: &str) -> Window {
    objs.lock().unwrap()[name]
}

/// Which generation in `lo..=hi` `body` is exactly; None if none.
fn which_gen(name: &str, lo: u64, hi: u64, body: &[u8]) -> Option<u64> {
    (lo.max(1)..=hi).rev().find(|g| content(name, *g) == body)
}

/// Checks a GET of `name` against the generations `lo..=hi`: 404 only if 0 is among them, 200
/// only with the exact bytes of one of them. Returns the generation read (0: absent).
fn check_read(name: &str, lo: u64, hi: u64, r: &Resp) -> Result<u64, String> {
    match r.status {
        404 if lo == 0 => Ok(0),
        200 => which_gen(name, lo, hi, &r.body).ok_or_else(|| {
            format!(
                "{name}: {} bytes that are none of generations {lo}..={hi} (sizes {:?})",
                r.body.len(),
                (lo.max(1)..=hi)
                    .map(|g| content(name, g).len())
                    .collect::<Vec<_>>()
            )
        }),
        s => Err(format!(
            "{name}: GET {s} (may be {lo}..={hi}): {}",
            r.error_message().unwrap_or_else(|| r.text())
        )),
    }
}

/// Completed manifests still at their intent name `%ut/<obj>.<id>` (a completion in progress).
fn completed_intents(node: &Node) -> Vec<std::path::PathBuf> {
    completed_intents_in(node, "ck")
}

fn completed_intents_in(node: &Node, bucket: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for mp in &node.mountpaths {
        for f in files_under(&mp.join("@ais").join(bucket).join("%ut")) {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if !name.contains('.') {
                continue; // a completed manifest in its place
            }
            let Ok(bytes) = std::fs::read(&f) else {
                continue;
            };
            if engine::ufest::Manifest::decode(&bytes).is_ok_and(|m| m.is_completed()) {
                out.push(f);
            }
        }
    }
    out
}

fn opath(o: &str) -> String {
    format!("/v1/objects/ck/{o}")
}

/// One writer's loop until `stop` or the first socket error (the kill). Errors other than
/// the kill's go to `fail`.
fn writer(
    t: usize,
    port: u16,
    objs: Objects,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> Result<(), String> {
    let mut rng = Rng(seed ^ ((t as u64 + 1) * 0x1234_5678));
    let names: Vec<String> = (0..PUT_OBJS)
        .map(|j| format!("p{t}-{j}"))
        .chain((0..MPU_OBJS).map(|j| format!("m{t}-{j}")))
        .collect();
    let io = |e: std::io::Error| format!("io: {e}");
    while !stop.load(Ordering::SeqCst) {
        let name = &names[rng.range(0, names.len() as u64 - 1) as usize];
        let gen = {
            let mut m = objs.lock().unwrap();
            let w = m.get_mut(name).unwrap();
            w.last += 1;
            w.last
        };
        let data = content(name, gen);
        let begin = |objs: &Objects| {
            let mut m = objs.lock().unwrap();
            let w = m.get_mut(name).unwrap();
            w.hi = gen;
        };
        let acked = |objs: &Objects| {
            let mut m = objs.lock().unwrap();
            let w = m.get_mut(name).unwrap();
            w.lo = gen;
        };
        if name.starts_with('p') {
            begin(&objs);
            let r = try_request(port, "PUT", &opath(name), &[], &data).map_err(io)?;
            if r.status != 200 {
                return Err(format!("PUT {name} gen {gen}: {} {}", r.status, r.text()));
            }
            acked(&objs);
            continue;
        }
        // Multipart: create, parts in a shuffled order, then complete (or, 1 in 6, abort).
        let r = try_request(
            port,
            "POST",
            &opath(name),
            &[("Content-Type", "application/json")],
            br#"{"action":"mpt-upload"}"#,
        )
        .map_err(io)?;
        if r.status != 200 {
            return Err(format!("mpt-upload {name}: {} {}", r.status, r.text()));
        }
        let id = r.text();
        let bounds = part_bounds(name, gen, data.len());
        let mut order: Vec<usize> = (0..bounds.len()).collect();
        for i in (1..order.len()).rev() {
            let j = rng.range(0, i as u64) as usize;
            order.swap(i, j);
        }
        for i in order {
            let (a, b) = bounds[i];
            let r = try_request(
                port,
                "PUT",
                &format!("{}?uploadId={id}&partNumber={}", opath(name), i + 1),
                &[],
                &data[a..b],
            )
            .map_err(io)?;
            if r.status != 200 {
                return Err(format!(
                    "part {} of {name}: {} {}",
                    i + 1,
                    r.status,
                    r.text()
                ));
            }
        }
        if rng.next().is_multiple_of(6) {
            let r = try_request(
                port,
                "DELETE",
                &format!("{}?uploadId={id}", opath(name)),
                &[("Content-Type", "application/json")],
                br#"{"action":"mpt-abort"}"#,
            )
            .map_err(io)?;
            if r.status != 200 {
                return Err(format!("abort {name}: {} {}", r.status, r.text()));
            }
            continue;
        }
        let parts: Vec<String> = (1..=bounds.len())
            .map(|n| format!(r#"{{"part-number":{n}}}"#))
            .collect();
        let body = format!(
            r#"{{"action":"mpt-complete","value":[{}]}}"#,
            parts.join(",")
        );
        begin(&objs);
        let r = try_request(
            port,
            "POST",
            &format!("{}?uploadId={id}", opath(name)),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .map_err(io)?;
        if r.status != 200 {
            return Err(format!(
                "complete {name} gen {gen}: {} {}",
                r.status,
                r.text()
            ));
        }
        acked(&objs);
    }
    Ok(())
}

/// A reader checking GETs of random objects while writers run; stops at the first socket
/// error. Every body must be exactly a generation that was possible during the GET.
fn reader(port: u16, objs: Objects, stop: Arc<AtomicBool>, seed: u64) -> Result<u64, String> {
    let names: Vec<String> = objs.lock().unwrap().keys().cloned().collect();
    let mut rng = Rng(seed ^ 0xEEEE);
    let mut reads = 0;
    while !stop.load(Ordering::SeqCst) {
        let name = &names[rng.range(0, names.len() as u64 - 1) as usize];
        let before = window(&objs, name);
        let Ok(r) = try_request(port, "GET", &opath(name), &[], b"") else {
            return Ok(reads);
        };
        let after = window(&objs, name);
        check_read(name, before.lo, after.hi, &r).map_err(|e| format!("during the round: {e}"))?;
        reads += 1;
    }
    Ok(reads)
}

#[test]
fn sigkill_during_chunked_puts_uploads_and_completions_never_exposes_a_partial_object() {
    // Goal: whatever moment a SIGKILL hits (chunked PUT, part upload, checkpoint, completion,
    // abort), after a restart every object reads back as exactly one acknowledged or in-flight
    // generation, every acknowledged one as itself or a later in-flight one; no completion
    // intent (completed `%ut/<obj>.<id>`) is left; only the clients' objects are listed.
    let seed: u64 = std::env::var("AISLE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                % 1_000_000_007
        });
    let rounds = std::env::var("AISLE_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .map_or(ROUNDS, |n| n.max(10));
    println!("chunked crash seed: {seed} (rerun with AISLE_CRASH_SEED={seed}), {rounds} rounds");
    let mut rng = Rng(seed);
    let mut node = Node::start(3);
    let port = node.port;
    node.create_bucket("ck");
    let r = node.send(
        "PATCH",
        "/v1/buckets/ck",
        &[("Content-Type", "application/json")],
        br#"{"action":"set-bprops","value":{"chunks":{"objsize_limit":"256KiB","chunk_size":"64KiB","checkpoint_every":2}}}"#,
    );
    assert_eq!(r.status, 200, "set-bprops: {}", r.text());
    let objs: Objects = Arc::new(Mutex::new(
        (0..WRITERS)
            .flat_map(|t| {
                (0..PUT_OBJS)
                    .map(move |j| format!("p{t}-{j}"))
                    .chain((0..MPU_OBJS).map(move |j| format!("m{t}-{j}")))
            })
            .map(|n| (n, Window::default()))
            .collect(),
    ));
    let mut totals = (0u64, 0u64, 0u64);
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|t| {
                let (objs, stop) = (objs.clone(), stop.clone());
                let s = seed.wrapping_add(round as u64 * 1000);
                std::thread::spawn(move || writer(t, port, objs, stop, s))
            })
            .collect();
        let rd = {
            let (objs, stop) = (objs.clone(), stop.clone());
            let s = seed.wrapping_add(round as u64);
            std::thread::spawn(move || reader(port, objs, stop, s))
        };
        let wait = Duration::from_millis(rng.range(100, 1500));
        let start = Instant::now();
        while start.elapsed() < wait {
            if writers.iter().any(|w| w.is_finished()) {
                break; // a writer failed before the kill: reported below
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        node.kill();
        stop.store(true, Ordering::SeqCst);
        for (t, w) in writers.into_iter().enumerate() {
            match w.join().expect("writer thread") {
                Ok(()) => {}
                Err(e) if e.starts_with("io: ") => {} // the kill
                Err(e) => panic!("round {round} (seed {seed}): writer {t}: {e}"),
            }
        }
        let reads = rd
            .join()
            .expect("reader thread")
            .unwrap_or_else(|e| panic!("round {round} (seed {seed}): reader: {e}"));
        // Completion intents the kill left (the recovery must finish or drop each).
        let intents = completed_intents(&node).len();
        totals.2 += intents as u64;
        node.restart();

        // No completion intent survives the start-up recovery.
        let left = completed_intents(&node);
        assert!(
            left.is_empty(),
            "round {round} (seed {seed}): completion intents left after restart: {left:?}"
        );
        // Every object: exactly one possible generation; it becomes what is known stored.
        let names: Vec<String> = objs.lock().unwrap().keys().cloned().collect();
        let mut present = Vec::new();
        let mut advanced = 0;
        for name in &names {
            let w = window(&objs, name);
            let r = node.get("ck", name);
            let g = check_read(name, w.lo, w.hi, &r)
                .unwrap_or_else(|e| panic!("round {round} (seed {seed}) after restart: {e}"));
            if g > w.lo {
                advanced += 1;
            }
            let mut m = objs.lock().unwrap();
            let e = m.get_mut(name).unwrap();
            e.lo = g;
            e.hi = g;
            if g > 0 {
                present.push((name.clone(), r.body.len() as u64));
            }
        }
        // The listing: the present objects, each once with its size; no orphan as an object.
        let r = node.send(
            "GET",
            "/v1/buckets/ck",
            &[("Content-Type", "application/json")],
            br#"{"action":"list","name":"","value":{"props":"name,size"}}"#,
        );
        assert_eq!(r.status, 200);
        let listed: Vec<(String, u64)> = r.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    // AIS encodes the size as a JSON string.
                    e["size"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| panic!("entry size {e}")),
                )
            })
            .collect();
        assert_eq!(listed, present, "round {round} (seed {seed}): listing");
        let acked: u64 = objs.lock().unwrap().values().map(|w| w.last).sum();
        totals = (acked, totals.1 + reads, totals.2);
        println!(
            "round {round}: killed after {wait:?}; {reads} checked reads; {intents} completion \
             intent(s) at the kill; {advanced} in-flight generation(s) found stored; {} objects \
             present",
            present.len()
        );
    }
    println!(
        "{rounds} rounds: {} generations sent, {} reads checked during the rounds, {} \
         completion intents found at a kill",
        totals.0, totals.1, totals.2
    );
}

/// Completes a 3-part upload of `o` in bucket `rc`; returns its id and content.
fn complete_3(node: &Node, o: &str, seed: u64) -> (String, Vec<u8>) {
    let r = node.send(
        "POST",
        &format!("/v1/objects/rc/{o}"),
        &[("Content-Type", "application/json")],
        br#"{"action":"mpt-upload"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.text();
    let parts: Vec<Vec<u8>> = (0..3).map(|i| bytes(seed + i, 20_000)).collect();
    for (i, p) in parts.iter().enumerate().rev() {
        let r = node.send(
            "PUT",
            &format!("/v1/objects/rc/{o}?uploadId={id}&partNumber={}", i + 1),
            &[],
            p,
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = node.send(
        "POST",
        &format!("/v1/objects/rc/{o}?uploadId={id}"),
        &[("Content-Type", "application/json")],
        br#"{"action":"mpt-complete","value":[{"part-number":1},{"part-number":2},{"part-number":3}]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    (id, parts.concat())
}

#[test]
fn startup_recovery_finishes_or_drops_interrupted_completions() {
    // Goal: the on-disk states a crash can leave inside a completion (shared order in
    // engine/src/store/mpu.rs), rebuilt by hand from completed uploads while the node is down,
    // are settled at start-up: intent written but chunk 1 not yet in place -> the object is
    // the new one; visible but the manifest still at its intent name -> moved into place; the
    // object deleted since -> the intent and the upload's chunks are dropped. In every case no
    // intent is left and the object reads back exactly (or is absent).
    let mut node = Node::start(3);
    node.create_bucket("rc");
    let (ida, a) = complete_3(&node, "a", 10);
    let (idb, b) = complete_3(&node, "b", 20);
    let (idc, _) = complete_3(&node, "c", 30);
    assert_eq!(node.stop(), 0);
    let home = |o: &str| {
        node.mountpaths
            .iter()
            .find(|m| m.join(format!("@ais/rc/%ob/{o}")).exists())
            .unwrap_or_else(|| panic!("no %ob/{o}"))
            .join("@ais/rc")
    };
    let (ha, hb, hc) = (home("a"), home("b"), home("c"));
    // a: after step 2 (intent written, chunk 1 with the LOM not yet renamed into place).
    std::fs::rename(ha.join("%ob/a"), ha.join(format!("%ch/a.{ida}.0001"))).unwrap();
    std::fs::rename(ha.join("%ut/a"), ha.join(format!("%ut/a.{ida}"))).unwrap();
    // b: after step 3 (visible; the manifest still at its intent name).
    std::fs::rename(hb.join("%ut/b"), hb.join(format!("%ut/b.{idb}"))).unwrap();
    // c: the intent of an object that is gone.
    std::fs::rename(hc.join("%ut/c"), hc.join(format!("%ut/c.{idc}"))).unwrap();
    std::fs::remove_file(hc.join("%ob/c")).unwrap();
    assert_eq!(completed_intents_in(&node, "rc").len(), 3);

    node.restart();
    let left = completed_intents_in(&node, "rc");
    assert!(left.is_empty(), "intents left after restart: {left:?}");
    let r = node.get("rc", "a");
    assert_eq!(r.status, 200, "a: {}", r.text());
    assert!(r.body == a, "a: wrong content");
    let r = node.get("rc", "b");
    assert_eq!(r.status, 200, "b: {}", r.text());
    assert!(r.body == b, "b: wrong content");
    assert_eq!(node.get("rc", "c").status, 404);
    assert!(ha.join("%ut/a").exists() && hb.join("%ut/b").exists());
    assert!(!ha.join(format!("%ch/a.{ida}.0001")).exists());
    let c_left = node.files_containing(&idc);
    assert!(c_left.is_empty(), "c's chunks left: {c_left:?}");
    let names: Vec<String> = node.list_names("rc");
    assert_eq!(names, ["a", "b"]);
}
