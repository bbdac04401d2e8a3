//! Space cleanup (`cleanup-store`) against a real store on temporary mountpaths: one leftover
//! of every kind planted next to normal objects; the dry run lists exactly the leftovers and
//! removes nothing, the real run removes exactly them, and every normal object reads back.

use std::collections::BTreeSet;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use engine::cache::CoreView;
use engine::io::{self, BlockingPool, Fd, Reactor, ReactorConfig};
use engine::lom::{Lom, XATTR_LOM};
use engine::store::{marker_path, CleanupOpts, Store};
use engine::xact::{Xact, XactState};
use engine::{fqn, ufest};

const B: &str = "b";
const DONT: Duration = Duration::from_secs(3600);

struct Env {
    root: PathBuf,
    mps: Vec<PathBuf>,
}

impl Env {
    fn new(tag: &str) -> Env {
        let root = std::env::temp_dir().join(format!("aisle-cln-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mps: Vec<PathBuf> = (1..=3).map(|i| root.join(format!("mp{i}"))).collect();
        for m in &mps {
            std::fs::create_dir_all(m).unwrap();
        }
        BlockingPool::init(2);
        Env { root, mps }
    }

    fn open(&self) -> Arc<Store> {
        let s = Arc::new(Store::open(&self.mps).unwrap());
        s.set_dont_cleanup_time(DONT);
        s
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn reactor() -> Reactor {
    Reactor::new(0, &ReactorConfig::default()).unwrap()
}

fn data(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn put(r: &Reactor, s: &Arc<Store>, b: &str, o: &str, body: Vec<u8>) -> PathBuf {
    let (s2, b2, o2) = (s.clone(), b.to_string(), o.to_string());
    r.block_on(async move {
        let mut h = s2
            .put_begin(&b2, &o2, Some(body.len() as u64))
            .await
            .unwrap();
        if !body.is_empty() {
            h.write(body).await.0.unwrap();
        }
        h.finish().await.unwrap();
    });
    hrw_fqn(s, b, o)
}

fn hrw_fqn(s: &Store, b: &str, o: &str) -> PathBuf {
    let (_, mp) = s.place(b, o).unwrap();
    fqn::object_fqn(&mp.path, b, o)
}

/// An upload of `parts` parts of 4 KiB; completed when asked. Returns its id.
fn upload(r: &Reactor, s: &Arc<Store>, o: &str, parts: u8, complete: bool) -> String {
    let (s2, o2) = (s.clone(), o.to_string());
    r.block_on(async move {
        let id = s2.mpu_create(B, &o2, vec![]).await.unwrap();
        for n in 1..=parts {
            let mut h = s2
                .mpu_part_begin(B, &o2, &id, n as u32, Some(4096))
                .await
                .unwrap();
            h.write(data(n, 4096)).await.0.unwrap();
            h.finish_part().await.unwrap();
        }
        if complete {
            let nums: Vec<u32> = (1..=parts as u32).collect();
            s2.mpu_complete(B, &o2, &id, &nums).await.unwrap();
        }
        id
    })
}

fn read_back(r: &Reactor, s: &Arc<Store>, o: &str) -> Vec<u8> {
    let (s2, o2) = (s.clone(), o.to_string());
    r.block_on(async move {
        let view = CoreView::new(64);
        let h = s2.open_object(&view, B, &o2).await.unwrap();
        let files: Vec<(Fd, u64)> = if h.chunks.is_empty() {
            vec![(h.fd.clone(), h.size)]
        } else {
            h.chunks.iter().map(|c| (c.fd.clone(), c.size)).collect()
        };
        let mut out = Vec::new();
        for (fd, size) in files {
            let mut off = 0u64;
            while off < size {
                let buf = Vec::with_capacity((size - off) as usize);
                let (n, buf) = io::read_at(&fd, buf, off).await;
                let n = n.unwrap();
                assert!(n > 0, "short object {o2}");
                out.extend_from_slice(&buf);
                off += n as u64;
            }
        }
        out
    })
}

fn lom_of(p: &Path) -> Lom {
    let mut buf = Vec::new();
    assert!(io::sys::getxattr(p, XATTR_LOM, &mut buf).unwrap());
    Lom::decode(&buf).unwrap()
}

fn set_xattr(p: &Path, value: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    io::sys::fsetxattr(&Fd::from_owned(OwnedFd::from(f)), XATTR_LOM, value).unwrap();
}

fn write_file(p: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// Every regular file under `dir` gets an mtime two hours back.
fn age_all(dir: &Path) {
    let old = SystemTime::now() - 2 * DONT;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(e.path())
                    .unwrap();
                f.set_modified(old).unwrap();
            }
        }
    }
}

fn run(s: &Arc<Store>, opts: CleanupOpts) -> Arc<Xact> {
    let x = s.start_cleanup(opts).unwrap();
    assert!(x.wait(Some(Duration::from_secs(120))), "cleanup ended");
    assert_eq!(x.state(), XactState::Finished);
    assert_eq!(x.err(), None, "no errors");
    x
}

fn items(x: &Xact) -> BTreeSet<String> {
    let (v, dropped) = x.items();
    assert_eq!(dropped, 0);
    let set: BTreeSet<String> = v.iter().cloned().collect();
    assert_eq!(set.len(), v.len(), "each item listed once: {v:#?}");
    set
}

fn other_mp<'a>(env: &'a Env, not: &Path) -> &'a PathBuf {
    env.mps.iter().find(|m| !not.starts_with(m)).unwrap()
}

fn mp_of<'a>(env: &'a Env, p: &Path) -> &'a PathBuf {
    env.mps.iter().find(|m| p.starts_with(m)).unwrap()
}

/// Goal: one leftover of every kind is listed by the dry run and removed by the real run,
/// and nothing else: normal, chunked, mirrored and unverifiable misplaced objects, an open
/// upload's parts and a young work file all stay, and every normal object reads back.
#[test]
fn removes_exactly_the_leftovers() {
    let env = Env::new("all");
    let r = reactor();
    // --- A first run of the node: objects, a chunked object, an upload that dies with it.
    let s = env.open();
    let props = serde_json::json!({"chunks": {"checkpoint_every": 1}});
    r.block_on({
        let s = s.clone();
        async move { s.create_bucket(B, Some(props)).await.unwrap() }
    });
    let mut normal: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..24u8 {
        let name = if i % 3 == 0 {
            format!("dir{i}/sub/obj{i}")
        } else {
            format!("obj{i}")
        };
        let body = data(i, 100 + 997 * i as usize);
        put(&r, &s, B, &name, body.clone());
        normal.push((name, body));
    }
    upload(&r, &s, "chunked", 3, true);
    let mut chunked = Vec::new();
    for n in 1..=3 {
        chunked.extend(data(n, 4096));
    }
    let dead_id = upload(&r, &s, "dead-upload", 2, false);
    let (_, dead_mp) = s.place(B, "dead-upload").unwrap();
    let dead_ckpt = fqn::ufest_fqn(&dead_mp.path, B, "dead-upload", Some(&dead_id));
    assert!(dead_ckpt.exists(), "the dead upload left its checkpoint");
    let dead_parts: Vec<PathBuf> = {
        let m = ufest::Manifest::decode(&std::fs::read(&dead_ckpt).unwrap()).unwrap();
        m.chunks.iter().map(|c| PathBuf::from(&c.path)).collect()
    };
    assert_eq!(dead_parts.len(), 2);
    drop(s);

    // --- The node restarted: the dead upload is in no table; a new one is open.
    let s = env.open();
    let open_id = upload(&r, &s, "open-upload", 2, false);
    let (_, open_mp) = s.place(B, "open-upload").unwrap();
    let open_ckpt = fqn::ufest_fqn(&open_mp.path, B, "open-upload", Some(&open_id));
    let mut kept: Vec<PathBuf> = vec![open_ckpt.clone()];
    for n in 1..=2u16 {
        let d = ufest::chunk_digest(&open_id, n);
        let mp = if n == 1 {
            open_mp.path.clone()
        } else {
            s.mountpaths().place(d).unwrap().path.clone()
        };
        kept.push(fqn::chunk_fqn(&mp, B, "open-upload", &open_id, n));
    }
    for k in &kept {
        assert!(k.exists(), "open upload file {}", k.display());
    }

    let mut expect: BTreeSet<String> = BTreeSet::new();
    let mut gone: Vec<PathBuf> = Vec::new();
    macro_rules! leftover {
        ($reason:expr, $p:expr) => {{
            let p: &Path = $p;
            expect.insert(format!("{} {}", $reason, p.display()));
            gone.push(p.to_path_buf());
        }};
    }
    leftover!("partial-manifest", &dead_ckpt);
    for p in &dead_parts {
        leftover!("orphan-chunk", p);
    }

    let mp1 = &env.mps[0];
    // An old work file.
    let old_work = fqn::work_fqn(mp1, B, 0xfeed, "old");
    write_file(&old_work, b"half a put");
    leftover!("old-work", &old_work);
    // An orphan chunk no manifest knows.
    let ghost = fqn::chunk_fqn(mp1, B, "ghost", &ufest::new_upload_id(), 2);
    write_file(&ghost, &data(9, 2048));
    leftover!("orphan-chunk", &ghost);
    // A destroyed bucket's directory.
    let gone_bucket = fqn::bucket_dir(mp1, "destroyed");
    write_file(
        &fqn::object_fqn(mp1, "destroyed", "x/y"),
        b"of a bucket long gone",
    );
    expect.insert(format!("destroyed-bucket {}", gone_bucket.display()));
    // An object of an earlier incarnation of the bucket.
    let old_inc = put(&r, &s, B, "old-incarnation", data(3, 500));
    let mut l = lom_of(&old_inc);
    l.set_bid(l.bid() ^ 0x77);
    set_xattr(&old_inc, &l.encode().unwrap());
    leftover!("old-incarnation", &old_inc);
    // A misplaced duplicate whose HRW copy is present and equal.
    let dup_hrw = put(&r, &s, B, "dup", data(4, 3000));
    let dup = fqn::object_fqn(other_mp(&env, &dup_hrw), B, "dup");
    write_file(&dup, &data(4, 3000));
    set_xattr(&dup, &lom_of(&dup_hrw).encode().unwrap());
    leftover!("misplaced", &dup);
    normal.push(("dup".into(), data(4, 3000)));
    // A misplaced object whose HRW copy does not exist: kept.
    let lonely_hrw = put(&r, &s, B, "lonely", data(5, 1234));
    let lonely = fqn::object_fqn(other_mp(&env, &lonely_hrw), B, "lonely");
    std::fs::rename(&lonely_hrw, &lonely).unwrap();
    kept.push(lonely.clone());
    // A mirror copy (listed in its own LOM's copies): kept.
    let mir_hrw = put(&r, &s, B, "mirrored", data(6, 777));
    let mir = fqn::object_fqn(other_mp(&env, &mir_hrw), B, "mirrored");
    write_file(&mir, &data(6, 777));
    let mut ml = lom_of(&mir_hrw);
    ml.copies = vec![
        mir_hrw.to_string_lossy().into_owned(),
        mir.to_string_lossy().into_owned(),
    ];
    set_xattr(&mir_hrw, &ml.encode().unwrap());
    set_xattr(&mir, &ml.encode().unwrap());
    kept.push(mir.clone());
    normal.push(("mirrored".into(), data(6, 777)));
    // A zero-size object.
    let zero = put(&r, &s, B, "zero", Vec::new());
    leftover!("zero-size", &zero);
    // Objects with no LOM and with a corrupt one.
    let nolom = fqn::object_fqn(mp1, B, "no-lom");
    write_file(&nolom, b"who am I");
    leftover!("no-lom", &nolom);
    let badlom = fqn::object_fqn(mp1, B, "bad-lom");
    write_file(&badlom, b"scrambled");
    set_xattr(&badlom, b"\x02\x01garbage that is no LOM at all");
    leftover!("corrupt-lom", &badlom);
    // Unknown files: at the bucket level and a badly named chunk.
    let junk = fqn::bucket_dir(mp1, B).join("junk.txt");
    write_file(&junk, b"?");
    leftover!("unknown", &junk);
    let badchunk = fqn::chunk_dir(mp1, B).join("not-a-chunk");
    write_file(&badchunk, b"?");
    leftover!("unknown", &badchunk);

    age_all(&env.root);
    // A young work file (a PUT in progress): kept.
    let young = fqn::work_fqn(&env.mps[1], B, 0xbeef, "young");
    write_file(&young, b"still coming");
    kept.push(young.clone());
    // Nothing outside `@ais` is touched, old or not.
    let node_file = mp1.join(".aisle.node-file");
    write_file(&node_file, b"node");
    age_all(&env.root);
    let young_mtime = SystemTime::now();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&young)
        .unwrap()
        .set_modified(young_mtime)
        .unwrap();
    kept.push(node_file);

    let all = CleanupOpts {
        rm_zero_size: true,
        ..Default::default()
    };
    // --- Dry run: the list, nothing removed.
    let x = run(
        &s,
        CleanupOpts {
            dry_run: true,
            ..all.clone()
        },
    );
    assert_eq!(items(&x), expect, "dry run lists exactly the leftovers");
    for p in gone.iter().chain(&kept) {
        assert!(p.exists(), "dry run removed {}", p.display());
    }
    assert!(gone_bucket.exists());
    let snap = x.counters.snap();
    assert!(snap.visited > 40, "visited {}", snap.visited);
    assert_eq!(snap.removed, expect.len() as u64, "one file per leftover");

    // --- The real run.
    let x = run(&s, all.clone());
    assert_eq!(
        items(&x),
        expect,
        "the real run removes exactly the leftovers"
    );
    for p in &gone {
        assert!(!p.exists(), "left {}", p.display());
    }
    assert!(!gone_bucket.exists());
    for p in &kept {
        assert!(p.exists(), "removed {}", p.display());
    }
    for (name, body) in &normal {
        assert_eq!(&read_back(&r, &s, name), body, "{name} reads back");
    }
    assert_eq!(read_back(&r, &s, "chunked"), chunked);
    assert_eq!(std::fs::read(&lonely).unwrap(), data(5, 1234));
    // The open upload still completes.
    let s2 = s.clone();
    r.block_on(async move {
        s2.mpu_complete(B, "open-upload", &open_id, &[1, 2])
            .await
            .unwrap()
    });
    let mut want = data(1, 4096);
    want.extend(data(2, 4096));
    assert_eq!(read_back(&r, &s, "open-upload"), want);

    // --- A second run finds nothing more.
    let x = run(&s, all);
    assert_eq!(items(&x), BTreeSet::new(), "nothing left to remove");
}

/// Goal: misplaced duplicates stay while a resilver's marker is present (unless forced), and
/// with `keep_misplaced`; a bucket-scoped run leaves other buckets and destroyed ones alone.
#[test]
fn misplaced_kept_when_asked_or_resilver_pending() {
    let env = Env::new("mis");
    let r = reactor();
    let s = env.open();
    for b in [B, "other"] {
        let s = s.clone();
        r.block_on(async move { s.create_bucket(b, None).await.unwrap() });
    }
    let hrw = put(&r, &s, B, "dup", data(1, 2000));
    let dup = fqn::object_fqn(other_mp(&env, &hrw), B, "dup");
    write_file(&dup, &data(1, 2000));
    set_xattr(&dup, &lom_of(&hrw).encode().unwrap());
    let other_nolom = fqn::object_fqn(&env.mps[0], "other", "nolom");
    write_file(&other_nolom, b"x");
    let destroyed = fqn::object_fqn(&env.mps[0], "destroyed", "x");
    write_file(&destroyed, b"x");
    age_all(&env.root);

    let scoped = CleanupOpts {
        bucket: Some(B.into()),
        ..Default::default()
    };
    let x = run(
        &s,
        CleanupOpts {
            keep_misplaced: true,
            ..scoped.clone()
        },
    );
    assert_eq!(items(&x), BTreeSet::new(), "keep_misplaced keeps it");

    let marker = marker_path(mp_of(&env, &hrw));
    write_file(&marker, b"");
    let x = run(&s, scoped.clone());
    assert_eq!(
        items(&x),
        BTreeSet::new(),
        "an interrupted resilver keeps it"
    );
    assert!(dup.exists());
    let x = run(
        &s,
        CleanupOpts {
            force: true,
            ..scoped.clone()
        },
    );
    let want: BTreeSet<String> = [format!("misplaced {}", dup.display())].into();
    assert_eq!(items(&x), want, "force removes it despite the marker");
    assert!(!dup.exists() && hrw.exists());
    std::fs::remove_file(&marker).unwrap();
    assert_eq!(read_back(&r, &s, "dup"), data(1, 2000));

    let x = run(&s, scoped);
    assert_eq!(items(&x), BTreeSet::new(), "nothing more in the bucket");
    assert!(
        other_nolom.exists() && destroyed.exists(),
        "a bucket-scoped run stays in its bucket"
    );
    assert!(s
        .start_cleanup(CleanupOpts {
            bucket: Some("nosuch".into()),
            ..Default::default()
        })
        .is_err());
}

/// Goal: with the default `dont_cleanup_time` nothing freshly written is a candidate.
#[test]
fn young_files_are_never_candidates() {
    let env = Env::new("young");
    let r = reactor();
    let s = env.open();
    r.block_on({
        let s = s.clone();
        async move { s.create_bucket(B, None).await.unwrap() }
    });
    write_file(&fqn::work_fqn(&env.mps[0], B, 1, "w"), b"work");
    write_file(&fqn::object_fqn(&env.mps[0], B, "nolom"), b"x");
    write_file(&fqn::object_fqn(&env.mps[0], "destroyed", "x"), b"x");
    let x = run(&s, CleanupOpts::default());
    assert_eq!(items(&x), BTreeSet::new());
    assert!(x.counters.snap().visited >= 3);
}
