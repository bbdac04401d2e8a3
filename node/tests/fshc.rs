//! Filesystem health check (issue 10, "Failing disk"): `fshc-mp` on a healthy mountpath keeps
//! it; a mountpath whose filesystem is gone (its folder replaced by a file, as after a lost
//! disk) is noticed by the I/O errors of ordinary requests, checked, taken out of the set
//! (`faulty`), reported in the log, `/metrics` and `what=mountpaths`, and resilvered away
//! from: mirrored objects keep reading back and get their second copy again on the others.
//! The same for a mountpath on faultfs (a FUSE layer) that starts answering EIO to everything,
//! as a failing disk does.

mod common;
mod faultfs;
mod loopfs;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{bytes, Node};
use serde_json::{json, Value};

fn mp_action(node: &Node, action: &str, path: &str) -> common::Resp {
    let body = json!({"action": action, "value": path}).to_string();
    node.req(
        "POST",
        "/v1/daemon/mountpaths",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn listing(node: &Node) -> Value {
    let r = node.req("GET", "/v1/daemon?what=mountpaths", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn has(v: &Value, key: &str, p: &str) -> bool {
    v[key]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(p)))
}

fn canon(p: &Path) -> String {
    std::fs::canonicalize(p)
        .expect("canonical")
        .to_string_lossy()
        .to_string()
}

/// Polls `check` (None = done) until done; panics with its last answer after a generous
/// deadline (a hang guard, not a timing).
fn eventually(what: &str, mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let Some(why) = check() else { return };
        assert!(Instant::now() < deadline, "{what}: {why}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Files named `obj` below bucket `b`'s object folder on each of `mps`.
fn replicas(mps: &[PathBuf], b: &str, obj: &str) -> usize {
    mps.iter()
        .filter(|m| m.join("@ais").join(b).join("%ob").join(obj).is_file())
        .count()
}

#[test]
fn a_lost_filesystem_is_taken_out_and_resilvered_away_from() {
    // Goal: see the module docs.
    let node = Node::start_with_args(3, &["--fshc-interval", "0"]);
    let mps: Vec<String> = node.mountpaths.iter().map(|p| canon(p)).collect();
    node.create_bucket("m");
    let r = node.req(
        "POST",
        "/v1/buckets/m",
        &[("Content-Type", "application/json")],
        br#"{"action":"make-n-copies","value":2}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let objs: Vec<(String, Vec<u8>)> = (0..60)
        .map(|i| (format!("o{i:03}"), bytes(i, 1000 + i as usize * 37)))
        .collect();
    for (o, d) in &objs {
        assert_eq!(node.put("m", o, d).status, 200);
    }
    let all: Vec<PathBuf> = node.mountpaths.clone();
    eventually("2 replicas of every object", || {
        objs.iter()
            .find(|(o, _)| replicas(&all, "m", o) != 2)
            .map(|(o, _)| format!("{o}: {} replicas", replicas(&all, "m", o)))
    });

    // A healthy mountpath: checked on request, kept.
    let r = mp_action(&node, "fshc-mp", &mps[0]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["verdict"], "healthy", "{}", r.text());
    assert!(has(&listing(&node), "available", &mps[0]));
    let r = mp_action(&node, "fshc-mp", "/no/such/mountpath");
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(node.metric_sum("ais_target_err_fshc_count"), 0);

    // The filesystem of mountpath 2 is lost: its folder is gone, a file sits in its place.
    let victim = node.mountpaths[1].clone();
    std::fs::rename(&victim, victim.with_extension("lost")).expect("move aside");
    std::fs::write(&victim, b"not a directory").expect("file in place");
    // Ordinary traffic meets it: PUTs placed there fail (500), which wakes the check. (A mirror
    // copy still being written there when the folder went may wake it first; then the PUTs
    // already go to the others. Either way an I/O error, counted below, is what woke it.)
    for i in 0..60 {
        let r = node.put("m", &format!("new{i}"), b"fresh");
        assert!(
            r.status == 200 || r.status == 500,
            "{} {}",
            r.status,
            r.text()
        );
    }
    eventually("the lost mountpath taken out", || {
        let l = listing(&node);
        (!has(&l, "disabled", &mps[1]) || has(&l, "available", &mps[1])).then(|| format!("{l}"))
    });
    let l = listing(&node);
    assert_eq!(l["state"][&mps[1]], "faulty", "{l}");
    assert!(has(&l, "available", &mps[0]) && has(&l, "available", &mps[2]));
    faulted_then_served_by_the_others(&node, &objs, &[all[0].clone(), all[2].clone()]);
    // An explicit check of the faulted one is refused: it is not in use.
    let r = mp_action(&node, "fshc-mp", &mps[1]);
    assert_eq!(r.status, 409, "{}", r.text());
}

#[test]
fn a_filesystem_unmounted_underneath_is_taken_out_without_traffic() {
    // Goal: a mountpath whose filesystem is unmounted (lazily, as an operator or a failing
    // disk's udev rule may) leaves its mount point, a folder of the root filesystem, at the
    // same path. No request fails there (writes would just land on the wrong filesystem and
    // be hidden once the disk is back), so the capacity monitor's check that each mountpath is
    // still on its own filesystem is what notices: the mountpath is taken out (`faulty`) with
    // no traffic at all, and objects mirrored onto the other one keep reading back.
    let Some(fs) = loopfs::LoopFs::new("fshcu", 32) else {
        return;
    };
    let lost = std::fs::canonicalize(&fs.mnt).unwrap();
    let dir = common::tempdir("fshcu");
    let other = dir.join("mp0");
    std::fs::create_dir_all(&other).unwrap();
    let other = std::fs::canonicalize(&other).unwrap();
    let node = Node::start_on_with_args(
        dir,
        vec![other.clone(), lost.clone()],
        common::free_port(),
        &["--fshc-interval", "0", "--space-check-interval", "100ms"],
    );
    node.create_bucket("m");
    let r = node.req(
        "POST",
        "/v1/buckets/m",
        &[("Content-Type", "application/json")],
        br#"{"action":"make-n-copies","value":2}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let objs: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("o{i:03}"), bytes(i, 500 + i as usize * 11)))
        .collect();
    for (o, d) in &objs {
        assert_eq!(node.put("m", o, d).status, 200);
    }
    let both = vec![other.clone(), lost.clone()];
    eventually("2 replicas of every object", || {
        objs.iter()
            .find(|(o, _)| replicas(&both, "m", o) != 2)
            .map(|(o, _)| format!("{o}: {} replicas", replicas(&both, "m", o)))
    });
    let st = std::process::Command::new("umount")
        .arg("-l")
        .arg(&lost)
        .status()
        .expect("umount");
    assert!(st.success(), "umount -l: {st}");
    let (o, l) = (canon(&other), canon(&lost));
    eventually("the unmounted mountpath taken out", || {
        let v = listing(&node);
        (v["state"][&l] != "faulty").then(|| format!("{v}"))
    });
    let v = listing(&node);
    assert!(has(&v, "available", &o), "{v}");
    assert!(
        node.log_text().contains("was it unmounted"),
        "the log tells: {}",
        node.log_text()
    );
    for (name, d) in &objs {
        let r = node.get("m", name);
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        assert_eq!(&r.body, d, "{name}");
    }
}

#[test]
fn a_mountpath_returning_eio_is_faulted_and_objects_with_a_copy_stay_readable() {
    // Goal: a failing disk, not a lost one: mountpath 3 is a faultfs mount whose every
    // operation starts answering EIO (its root stays stat-able, as a dying disk's mount point
    // does). Every mirrored object keeps reading back byte-exact throughout (from the copy
    // when the main one fails); I/O errors wake the health check, which takes the mountpath
    // out (`faulty` in `what=mountpaths`, fshc counters in `/metrics`, FAULTED in the log);
    // the resilver gives every object its second copy again on the two healthy mountpaths;
    // new PUTs succeed. Large objects go through O_DIRECT over FUSE.
    let Some(ffs) = faultfs::FaultFs::new("eio") else {
        return;
    };
    let dir = common::tempdir("fshc-eio");
    let plain: Vec<PathBuf> = (0..2)
        .map(|i| {
            let p = dir.join(format!("mp{i}"));
            std::fs::create_dir_all(&p).unwrap();
            std::fs::canonicalize(&p).unwrap()
        })
        .collect();
    let failing = std::fs::canonicalize(&ffs.mnt).unwrap();
    let all = vec![plain[0].clone(), plain[1].clone(), failing.clone()];
    let node = Node::start_on_with_args(
        dir,
        all.clone(),
        common::free_port(),
        &["--fshc-interval", "0"],
    );
    let fl = canon(&failing);
    assert!(
        has(&listing(&node), "available", &fl),
        "the faultfs mountpath is attached (user xattrs, O_DIRECT): {}",
        listing(&node)
    );
    node.create_bucket("m");
    let r = node.req(
        "POST",
        "/v1/buckets/m",
        &[("Content-Type", "application/json")],
        br#"{"action":"make-n-copies","value":2}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Every fourth object is over 1 MiB (stored with O_DIRECT), the rest small.
    let objs: Vec<(String, Vec<u8>)> = (0..60)
        .map(|i| {
            let size = if i % 4 == 0 {
                (1 << 20) + 4096 * i as usize + 123
            } else {
                700 + i as usize * 53
            };
            (format!("o{i:03}"), bytes(i, size))
        })
        .collect();
    for (o, d) in &objs {
        let r = node.put("m", o, d);
        assert_eq!(r.status, 200, "{o}: {}", r.text());
    }
    eventually("2 replicas of every object", || {
        objs.iter()
            .find(|(o, _)| replicas(&all, "m", o) != 2)
            .map(|(o, _)| format!("{o}: {} replicas", replicas(&all, "m", o)))
    });
    let on_failing = objs
        .iter()
        .filter(|(o, _)| replicas(std::slice::from_ref(&failing), "m", o) == 1)
        .count();
    assert!(
        on_failing > 0,
        "some objects have a copy on the faultfs mountpath"
    );
    assert!(node.metric_sum("aisle_core_put_direct_count") >= 15);
    assert_eq!(node.metric_sum("aisle_mountpath_direct_refused"), 0);
    for (o, d) in &objs {
        let r = node.get("m", o);
        assert_eq!(r.status, 200, "{o}: {}", r.text());
        assert_eq!(&r.body, d, "{o}");
    }

    // The disk starts failing.
    ffs.set_failing(true);
    assert!(std::fs::read_dir(&failing).is_err(), "faultfs answers EIO");
    // Reads go on while the node has not noticed yet: every one byte-exact.
    for (o, d) in &objs {
        let r = node.get("m", o);
        assert_eq!(r.status, 200, "{o} while the disk fails: {}", r.text());
        assert_eq!(&r.body, d, "{o} while the disk fails");
    }
    // Writes meet the errors (a PUT placed there fails with 500, or already goes elsewhere).
    for i in 0..60 {
        let r = node.put("m", &format!("new{i}"), b"fresh");
        assert!(
            r.status == 200 || r.status == 500,
            "{} {}",
            r.status,
            r.text()
        );
    }
    eventually("the failing mountpath taken out", || {
        let l = listing(&node);
        (l["state"][&fl] != "faulty").then(|| format!("{l}"))
    });
    let l = listing(&node);
    assert!(
        has(&l, "disabled", &fl) && !has(&l, "available", &fl),
        "{l}"
    );
    assert!(has(&l, "available", &canon(&plain[0])) && has(&l, "available", &canon(&plain[1])));
    faulted_then_served_by_the_others(&node, &objs, &plain);
    drop(node);
}

/// After a mountpath was faulted: the fault is counted and logged; every mirrored object of
/// bucket `m` reads back byte-exact and gets its second copy on `left` (the healthy
/// mountpaths); new PUTs succeed and read back.
fn faulted_then_served_by_the_others(node: &Node, objs: &[(String, Vec<u8>)], left: &[PathBuf]) {
    assert!(node.metric_sum("ais_target_err_fshc_count") >= 1);
    assert_eq!(node.metric_sum("aisle_fshc_faulted_count"), 1);
    assert!(
        node.log_text().contains("FAULTED"),
        "the log tells: {}",
        node.log_text()
    );
    for (o, d) in objs {
        let r = node.get("m", o);
        assert_eq!(r.status, 200, "{o}: {}", r.text());
        assert_eq!(&r.body, d, "{o}");
    }
    eventually("2 replicas on the mountpaths left", || {
        objs.iter()
            .find(|(o, _)| replicas(left, "m", o) != 2)
            .map(|(o, _)| format!("{o}: {} replicas", replicas(left, "m", o)))
    });
    for i in 0..30 {
        let r = node.put("m", &format!("after{i}"), b"after");
        assert_eq!(r.status, 200, "{}", r.text());
        let r = node.get("m", &format!("after{i}"));
        assert_eq!((r.status, &r.body[..]), (200, &b"after"[..]));
    }
}
