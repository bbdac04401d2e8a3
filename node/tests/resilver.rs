//! Resilver and reads of misplaced objects (issue 8) against a real node on plain directories:
//! objects (small, mid-size, chunked, long-named) PUT over fewer mountpaths, the node restarted
//! with more: misplaced objects are read, listed once, deleted without a trace and overwritten
//! before any resilver; then a resilver (started at start-up by the test hook) moves every
//! object to its HRW mountpath — by copy and by rename — while GETs keep reading right bytes; a
//! preempted resilver and one killed by SIGKILL converge to the same end state.
mod common;
use common::*;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::mountpath::MountpathSet;
use engine::{fqn, hrw, ufest};

const B: &str = "rsb";
const AT_START: &str = "AISLE_TEST_RESILVER_AT_START";
const COPY: &str = "AISLE_TEST_RESILVER_COPY";

/// One object of the test set.
#[derive(Clone)]
struct Obj {
    name: String,
    seed: u64,
    size: usize,
    chunked: bool,
}

impl Obj {
    fn data(&self) -> Vec<u8> {
        bytes(self.seed, self.size)
    }
}

/// `n` objects of mixed sizes: every 50th is chunked (80 KiB over a 64 KiB limit, 16 KiB
/// chunks: 5 chunks), every 7th 20000 bytes, the rest 0..3000 bytes; plus two names too long
/// to be stored unshortened.
fn objects(n: usize) -> Vec<Obj> {
    let mut v: Vec<Obj> = (0..n)
        .map(|i| {
            let chunked = i % 50 == 0;
            let size = if chunked {
                80 << 10
            } else if i % 7 == 0 {
                20_000
            } else {
                (i * 37) % 3000
            };
            Obj {
                name: format!("d{}/o{i:05}", i % 16),
                seed: i as u64 + 1,
                size,
                chunked,
            }
        })
        .collect();
    for k in 0..2 {
        v.push(Obj {
            name: format!("long{k}/{}", "n".repeat(300)),
            seed: 10_000 + k,
            size: 1000,
            chunked: false,
        });
    }
    v
}

fn mps_of(dir: &Path, n: usize) -> Vec<PathBuf> {
    (1..=n)
        .map(|i| {
            let p = dir.join(format!("mp{i}"));
            std::fs::create_dir_all(&p).unwrap();
            std::fs::canonicalize(&p).unwrap()
        })
        .collect()
}

fn set_chunks(node: &Node) {
    let body = r#"{"action":"set-bprops","value":{"chunks":{"objsize_limit":"64KiB","chunk_size":"16KiB"}}}"#;
    let r = node.send(
        "PATCH",
        &format!("/v1/buckets/{B}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "set-bprops: {}", r.text());
}

fn put_all(node: &Node, objs: &[Obj]) {
    let mut c = KeepAlive::new(node.port);
    for o in objs {
        let r = c.put(B, &o.name, &o.data());
        assert_eq!(r.status, 200, "PUT {}: {}", o.name, r.text());
    }
}

/// Every object reads back byte-exact.
fn check_reads(node: &Node, objs: &[Obj]) {
    let mut c = KeepAlive::new(node.port);
    for o in objs {
        let r = c.get(B, &o.name);
        assert_eq!(r.status, 200, "GET {}: {}", o.name, r.text());
        assert!(r.body == o.data(), "GET {}: wrong bytes", o.name);
    }
}

/// The listing holds every object once and nothing else.
fn check_listing(node: &Node, objs: &[Obj]) {
    let names = node.list_names(B);
    let set: BTreeSet<&String> = names.iter().collect();
    assert_eq!(set.len(), names.len(), "a name listed twice");
    let want: BTreeSet<String> = objs
        .iter()
        .map(|o| {
            if fqn::is_fntl(&o.name) {
                String::new() // shortened: listed under its `.x…` file name
            } else {
                o.name.clone()
            }
        })
        .filter(|n| !n.is_empty())
        .collect();
    let got: BTreeSet<String> = names
        .iter()
        .filter(|n| !n.starts_with(".x"))
        .cloned()
        .collect();
    assert_eq!(got, want, "listed names");
    assert_eq!(
        names.len(),
        objs.len(),
        "one entry per object (shortened ones included)"
    );
}

fn files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
}

/// Every object sits on its HRW mountpath of `mps` and nowhere else; a chunked object's
/// manifest sits beside it and each of its chunks on the HRW mountpath of the chunk; no other
/// object, manifest, chunk or work file, and no resilver marker, is left.
fn check_placement(mps: &[PathBuf], objs: &[Obj]) {
    let set = MountpathSet::new(mps);
    let mut chunks_want = 0;
    for o in objs {
        let want = set.place(hrw::obj_digest(B, &o.name)).expect("enabled").id;
        for m in set.iter() {
            let f = fqn::object_fqn(&m.path, B, &o.name);
            assert_eq!(
                f.exists(),
                m.id == want,
                "{}: file on {} (HRW {want})",
                o.name,
                m.id
            );
            let u = fqn::ufest_fqn(&m.path, B, &o.name, None);
            assert_eq!(
                u.exists(),
                o.chunked && m.id == want,
                "{}: manifest on {}",
                o.name,
                m.id
            );
        }
        if o.chunked {
            chunks_want += 4;
        }
    }
    let mut ob = 0;
    let mut ut = 0;
    let mut ch = 0;
    for m in set.iter() {
        let bdir = m.path.join("@ais").join(B);
        ob += files(&bdir.join("%ob")).len();
        ut += files(&bdir.join("%ut")).len();
        let wk = files(&bdir.join("%wk"));
        assert!(wk.is_empty(), "work files left: {wk:?}");
        for c in files(&bdir.join("%ch")) {
            ch += 1;
            let name = c.file_name().unwrap().to_str().unwrap().to_string();
            let mut parts = name.rsplitn(3, '.');
            let num: u16 = parts.next().unwrap().parse().expect("chunk number");
            let id = parts.next().expect("upload id");
            let at = set.place(ufest::chunk_digest(id, num)).expect("enabled").id;
            assert_eq!(
                at,
                m.id,
                "chunk {} is not on its HRW mountpath",
                c.display()
            );
        }
        assert!(
            !engine::store::marker_path(&m.path).exists(),
            "resilver marker left on {}",
            m.path.display()
        );
    }
    assert_eq!(ob, objs.len(), "object files (no stray copy)");
    assert_eq!(ut, objs.iter().filter(|o| o.chunked).count(), "manifests");
    assert_eq!(ch, chunks_want, "chunk files (no orphan)");
}

/// The log's `resilver ended` lines, once there are at least `n` of them.
fn wait_resilvers(node: &Node, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let lines: Vec<String> = node
            .log_text()
            .lines()
            .filter(|l| l.contains("resilver ended"))
            .map(str::to_string)
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "no resilver end in the log:\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of `key=` in a log line.
fn field(line: &str, key: &str) -> u64 {
    let pat = format!("{key}=");
    let at = line
        .find(&pat)
        .unwrap_or_else(|| panic!("{key} not in {line}"));
    line[at + pat.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("{key} in {line}"))
}

/// The mountpath (index) an object's file is on now.
fn where_is(mps: &[PathBuf], name: &str) -> Vec<usize> {
    mps.iter()
        .enumerate()
        .filter(|(_, m)| fqn::object_fqn(m, B, name).exists())
        .map(|(i, _)| i)
        .collect()
}

fn is_misplaced(mps: &[PathBuf], name: &str) -> bool {
    let set = MountpathSet::new(mps);
    let want = set.place(hrw::obj_digest(B, name)).unwrap().id.index();
    !where_is(mps, name).contains(&want)
}

#[test]
fn misplaced_objects_are_served_then_moved_by_copy() {
    // Goal: 2 → 4 mountpaths. Before any resilver: GET/HEAD of misplaced objects work, the
    // listing shows each object once, DELETE of a misplaced object (plain and chunked) leaves
    // nothing on any mountpath, a PUT over a misplaced object wins. Then a resilver that
    // copies (the test knob forces the copy path on one filesystem) moves everything to its
    // HRW place: all bytes right, no stray file, counters consistent.
    let dir = tempdir("rs-copy");
    let mps = mps_of(&dir, 4);
    let port = free_port();
    let mut node = Node::start_on(dir.clone(), mps[..2].to_vec(), port);
    node.create_bucket(B);
    set_chunks(&node);
    let mut objs = objects(2000);
    put_all(&node, &objs);
    node.stop();

    let mut node = Node::start_on(dir.clone(), mps.clone(), port);
    let misplaced: Vec<usize> = (0..objs.len())
        .filter(|&i| is_misplaced(&mps, &objs[i].name))
        .collect();
    assert!(
        misplaced.len() > objs.len() / 3,
        "about half should be misplaced: {}",
        misplaced.len()
    );
    check_reads(&node, &objs);
    check_listing(&node, &objs);
    let plain = *misplaced.iter().find(|&&i| !objs[i].chunked).unwrap();
    let r = node.head(B, &objs[plain].name);
    assert_eq!(r.status, 200, "HEAD of a misplaced object");

    // DELETE of misplaced objects: one plain, one chunked.
    let chunked = *misplaced.iter().find(|&&i| objs[i].chunked).unwrap();
    let chunked_id = {
        let m = where_is(&mps, &objs[chunked].name)[0];
        let u = fqn::ufest_fqn(&mps[m], B, &objs[chunked].name, None);
        ufest::Manifest::decode(&std::fs::read(u).unwrap())
            .unwrap()
            .id
    };
    for &i in &[plain, chunked] {
        let r = node.delete(B, &objs[i].name);
        assert_eq!(r.status, 200, "DELETE {}: {}", objs[i].name, r.text());
        assert_eq!(node.get(B, &objs[i].name).status, 404);
        assert!(where_is(&mps, &objs[i].name).is_empty());
    }
    for m in &mps {
        let left: Vec<PathBuf> = files_under(m)
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(&chunked_id))
            .collect();
        assert!(left.is_empty(), "chunks of a deleted object left: {left:?}");
    }
    let deleted = [objs[plain].name.clone(), objs[chunked].name.clone()];
    let over_name = misplaced
        .iter()
        .map(|&i| &objs[i])
        .find(|o| !o.chunked && !deleted.contains(&o.name))
        .unwrap()
        .name
        .clone();
    objs.retain(|o| !deleted.contains(&o.name));

    // A PUT over a misplaced object: goes to the HRW place and wins; the old copy is stale.
    let over = objs.iter().position(|o| o.name == over_name).unwrap();
    objs[over].seed += 777;
    let r = node.put(B, &objs[over].name, &objs[over].data());
    assert_eq!(r.status, 200);
    assert_eq!(
        where_is(&mps, &objs[over].name).len(),
        2,
        "new at HRW, stale old"
    );
    check_reads(&node, &objs);
    check_listing(&node, &objs);
    node.stop();

    let node = Node::start_with_env(
        dir.clone(),
        mps.clone(),
        port,
        &[],
        &[(AT_START, "1"), (COPY, "1")],
    );
    let ended = wait_resilvers(&node, 1);
    check_placement(&mps, &objs);
    check_reads(&node, &objs);
    check_listing(&node, &objs);
    let line = &ended[0];
    assert!(line.contains("aborted=false"), "{line}");
    assert_eq!(field(line, "errors"), 0, "{line}");
    assert_eq!(field(line, "skipped_busy"), 0, "{line}");
    // Every misplaced object but the deleted ones and the overwritten one was moved.
    assert_eq!(field(line, "objs"), misplaced.len() as u64 - 3, "{line}");
    assert!(field(line, "visited") >= objs.len() as u64, "{line}");
}

#[test]
fn resilver_by_rename_under_reads() {
    // Goal: 1 → 3 mountpaths on one filesystem: the move is a rename. GETs run throughout the
    // resilver and see no error and no wrong byte; the end state is the HRW placement.
    let dir = tempdir("rs-rename");
    let mps = mps_of(&dir, 3);
    let port = free_port();
    let mut node = Node::start_on(dir.clone(), mps[..1].to_vec(), port);
    node.create_bucket(B);
    set_chunks(&node);
    let objs = objects(1500);
    put_all(&node, &objs);
    node.stop();

    let node = Node::start_with_env(dir.clone(), mps.clone(), port, &[], &[(AT_START, "1")]);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, reads, objs) = (stop.clone(), reads.clone(), objs.clone());
        let port = node.port;
        std::thread::spawn(move || {
            let mut c = KeepAlive::new(port);
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) || i < objs.len() {
                let o = &objs[(i * 7919) % objs.len()];
                let r = c.get(B, &o.name);
                assert_eq!(
                    r.status,
                    200,
                    "GET {} during resilver: {}",
                    o.name,
                    r.text()
                );
                assert!(
                    r.body == o.data(),
                    "GET {} during resilver: wrong bytes",
                    o.name
                );
                reads.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    let ended = wait_resilvers(&node, 1);
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("reader saw no error");
    assert!(reads.load(Ordering::Relaxed) >= objs.len() as u64);
    let line = &ended[0];
    assert_eq!(field(line, "errors"), 0, "{line}");
    check_placement(&mps, &objs);
    check_reads(&node, &objs);
    check_listing(&node, &objs);
}

#[test]
fn preempted_resilver_converges() {
    // Goal: a resilver aborted mid-way by a second start (the hook's value 2 starts the
    // second once the first has moved objects) ends aborted; the second converges.
    let dir = tempdir("rs-preempt");
    let mps = mps_of(&dir, 4);
    let port = free_port();
    let mut node = Node::start_on(dir.clone(), mps[..2].to_vec(), port);
    node.create_bucket(B);
    set_chunks(&node);
    let objs = objects(1000);
    put_all(&node, &objs);
    node.stop();

    let node = Node::start_with_env(
        dir.clone(),
        mps.clone(),
        port,
        &[],
        &[(AT_START, "2"), (COPY, "1")],
    );
    let ended = wait_resilvers(&node, 2);
    assert!(ended[0].contains("aborted=true"), "{}", ended[0]);
    assert!(
        field(&ended[0], "objs") > 0,
        "preempted mid-way: {}",
        ended[0]
    );
    assert!(ended[1].contains("aborted=false"), "{}", ended[1]);
    assert!(node.log_text().contains("resilver preempted"));
    assert_eq!(field(&ended[1], "errors"), 0, "{}", ended[1]);
    check_placement(&mps, &objs);
    check_reads(&node, &objs);
    check_listing(&node, &objs);
}

#[test]
fn killed_resilver_resumes_at_restart() {
    // Goal: SIGKILL while a resilver runs leaves its marker; the next start resumes it without
    // being asked and converges: every object readable and in its HRW place, nothing left over.
    let dir = tempdir("rs-kill");
    let mps = mps_of(&dir, 4);
    let port = free_port();
    let mut node = Node::start_on(dir.clone(), mps[..1].to_vec(), port);
    node.create_bucket(B);
    set_chunks(&node);
    let objs = objects(3000);
    put_all(&node, &objs);
    node.stop();

    let mut node = Node::start_with_env(
        dir.clone(),
        mps.clone(),
        port,
        &[],
        &[(AT_START, "1"), (COPY, "1")],
    );
    // Kill as soon as the first objects have moved.
    let deadline = Instant::now() + Duration::from_secs(120);
    while mps[1..]
        .iter()
        .all(|m| files_under(&m.join("@ais").join(B).join("%ob")).is_empty())
    {
        assert!(Instant::now() < deadline, "the resilver moved nothing");
        std::thread::sleep(Duration::from_millis(1));
    }
    node.kill();
    assert!(
        engine::store::marker_path(&mps[0]).exists(),
        "the resilver had not finished when killed (marker gone): make the data set larger"
    );
    let left = objs.iter().filter(|o| is_misplaced(&mps, &o.name)).count();
    assert!(left > 0, "objects still to move at the kill");

    let node = Node::start_on(dir.clone(), mps.clone(), port);
    let ended = wait_resilvers(&node, 1);
    assert!(node.log_text().contains("a resilver was interrupted"));
    assert_eq!(field(&ended[0], "errors"), 0, "{}", ended[0]);
    check_placement(&mps, &objs);
    check_reads(&node, &objs);
    check_listing(&node, &objs);
}
