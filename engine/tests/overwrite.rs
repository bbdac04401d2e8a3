//! Overwriting PUTs (issue 11): the new object takes the old one's place (exchange, the
//! default, or rename), the old inode loses its last name before the PUT returns, nothing is
//! left in the work directory, the version goes on; and on ext4 the exchange leaves the new
//! data dirty in the page cache where a rename over the old file starts its writeback inside
//! the PUT (`auto_da_alloc`), the cost the exchange removes.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::fqn;
use engine::io::{sys, BlockingPool, Fd, Reactor, ReactorConfig};
use engine::lom::{Lom, XATTR_LOM};
use engine::store::Store;

const B: &str = "b";
const SIZE: usize = 64 * 1024;

struct Env {
    root: PathBuf,
    mps: Vec<PathBuf>,
}

impl Env {
    fn new(tag: &str) -> Env {
        let root = std::env::temp_dir().join(format!("aisle-ow-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mps: Vec<PathBuf> = (1..=2).map(|i| root.join(format!("mp{i}"))).collect();
        for m in &mps {
            std::fs::create_dir_all(m).unwrap();
        }
        BlockingPool::init(2);
        Env { root, mps }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn data(seed: u8) -> Vec<u8> {
    (0..SIZE)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn put(r: &Reactor, s: &Arc<Store>, o: &str, body: Vec<u8>) {
    let (s, o) = (s.clone(), o.to_string());
    r.block_on(async move {
        let mut h = s.put_begin(B, &o, Some(body.len() as u64)).await.unwrap();
        h.write(body).await.0.unwrap();
        h.finish().await.unwrap();
    });
}

fn fqn_of(s: &Store, o: &str) -> PathBuf {
    let (_, mp) = s.place(B, o).unwrap();
    fqn::object_fqn(&mp.path, B, o)
}

fn lom_of(p: &Path) -> Lom {
    let mut buf = Vec::new();
    assert!(
        sys::getxattr(p, XATTR_LOM, &mut buf).unwrap(),
        "no LOM on {p:?}"
    );
    Lom::decode(&buf).unwrap()
}

fn open_store(env: &Env, r: &Reactor, exchange: bool) -> Arc<Store> {
    let s = Arc::new(Store::open(&env.mps).unwrap());
    s.set_overwrite_exchange(exchange);
    r.block_on({
        let s = s.clone();
        async move { s.create_bucket(B, None).await.unwrap() }
    });
    s
}

/// Files in the bucket's work directories of every mountpath.
fn work_files(env: &Env) -> Vec<PathBuf> {
    env.mps
        .iter()
        .flat_map(|m| std::fs::read_dir(fqn::work_dir(m, B)).into_iter().flatten())
        .map(|e| e.unwrap().path())
        .collect()
}

fn overwrite_keeps_the_contract(exchange: bool) {
    let env = Env::new(if exchange { "xchg" } else { "rename" });
    let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
    let s = open_store(&env, &r, exchange);
    for i in 0..20u8 {
        let o = format!("dir/obj{i}");
        put(&r, &s, &o, data(i));
        let p = fqn_of(&s, &o);
        // Hold the old object open: its inode outlives its name, so we can see it lose it.
        let old = File::open(&p).unwrap();
        let old_ino = old.metadata().unwrap().ino();
        assert_eq!(old.metadata().unwrap().nlink(), 1);
        put(&r, &s, &o, data(i + 100));
        assert_eq!(
            std::fs::read(&p).unwrap(),
            data(i + 100),
            "{o}: the new bytes"
        );
        let new = std::fs::metadata(&p).unwrap();
        assert_ne!(new.ino(), old_ino, "{o}: a new inode in place");
        assert_eq!(
            old.metadata().unwrap().nlink(),
            0,
            "{o}: the replaced object has no name left (its blocks go when the last fd closes)"
        );
        let lom = lom_of(&p);
        assert_eq!(lom.size, SIZE as i64);
        assert_eq!(
            lom.version.as_deref(),
            Some("2"),
            "{o}: the version goes on"
        );
    }
    assert_eq!(
        work_files(&env),
        Vec::<PathBuf>::new(),
        "nothing left behind"
    );
}

#[test]
fn overwrite_by_exchange_replaces_the_object_and_unlinks_the_old() {
    overwrite_keeps_the_contract(true);
}

#[test]
fn overwrite_by_rename_replaces_the_object_too() {
    overwrite_keeps_the_contract(false);
}

#[test]
fn overwrite_of_a_name_whose_path_is_a_directory_conflicts_and_harms_nothing() {
    // `a` is a directory (object `a/b` exists): a PUT of `a` is refused, and `a/b` stays.
    let env = Env::new("dir");
    let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
    let s = open_store(&env, &r, true);
    // Names on one mountpath (on different ones, `a` and `a/b` coexist, as in AIS).
    let i = (0..1000)
        .find(|i| {
            let (a, ab) = (fqn_of(&s, &format!("a{i}")), fqn_of(&s, &format!("a{i}/b")));
            a.parent() == ab.parent().and_then(Path::parent)
        })
        .expect("two names on one mountpath");
    let (a, ab) = (format!("a{i}"), format!("a{i}/b"));
    put(&r, &s, &ab, data(1));
    let e = r.block_on({
        let (s, a) = (s.clone(), a.clone());
        async move {
            let mut h = s.put_begin(B, &a, Some(SIZE as u64)).await.unwrap();
            h.write(data(2)).await.0.unwrap();
            h.finish().await.map(|_| ()).unwrap_err()
        }
    });
    assert!(e.to_string().contains(&format!("ais://b/{a}")), "{e}");
    assert_eq!(std::fs::read(fqn_of(&s, &ab)).unwrap(), data(1));
    assert_eq!(work_files(&env), Vec::<PathBuf>::new());
}

/// Whether `p` is on ext4 mounted with `auto_da_alloc` (its default).
fn on_ext4_auto_da_alloc(p: &Path) -> bool {
    let out = std::process::Command::new("findmnt")
        .args(["-n", "-o", "FSTYPE,OPTIONS", "-T"])
        .arg(p)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let t = String::from_utf8_lossy(&o.stdout);
            t.starts_with("ext4") && !t.contains("noauto_da_alloc")
        }
        _ => false,
    }
}

#[test]
fn on_ext4_an_exchange_leaves_the_new_data_to_writeback_where_a_rename_flushes_it() {
    let probe = Env::new("probe");
    if !on_ext4_auto_da_alloc(&probe.root) {
        println!(
            "skipped: {:?} is not on ext4 with auto_da_alloc",
            probe.root
        );
        return;
    }
    drop(probe);
    let pages = (SIZE / 4096) as u64;
    let mut dirty = Vec::new();
    for exchange in [true, false] {
        let env = Env::new(if exchange { "wb-xchg" } else { "wb-rename" });
        let r = Reactor::new(0, &ReactorConfig::default()).unwrap();
        let s = open_store(&env, &r, exchange);
        put(&r, &s, "o", data(1));
        put(&r, &s, "o", data(2));
        let f = Fd::from_owned(File::open(fqn_of(&s, "o")).unwrap().into());
        let st = match sys::cachestat(&f) {
            Ok(st) => st,
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                println!("skipped: no cachestat(2) on this kernel");
                return;
            }
            Err(e) => panic!("cachestat: {e}"),
        };
        println!("exchange={exchange}: {st:?}");
        dirty.push(st.dirty);
    }
    assert_eq!(
        dirty[0], pages,
        "exchange: all {pages} pages of the new object still dirty (writeback left to the flusher)"
    );
    assert!(
        dirty[1] < pages,
        "rename over the old object: ext4 started writeback inside the rename ({} of {pages} dirty)",
        dirty[1]
    );
}
