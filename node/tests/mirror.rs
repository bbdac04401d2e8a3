//! Bucket mirroring against a real node: copies after PUT (each replica's LOM listing all),
//! overwrite and DELETE leaving no stale replica, make-n-copies up and down, bad requests, and
//! GET from a copy when the main replica is gone.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{bytes, Node};
use engine::lom::{Lom, XATTR_LOM};
use engine::mountpath::MountpathSet;
use engine::{fqn, hrw};

/// Every replica of `b/o`: the file at its FQN on each mountpath, with its LOM (None if it has
/// none or it does not decode).
fn replicas(node: &Node, b: &str, o: &str) -> Vec<(PathBuf, Option<Lom>)> {
    let mut out = Vec::new();
    for m in &node.mountpaths {
        let p = fqn::object_fqn(m, b, o);
        if p.is_file() {
            let mut buf = Vec::new();
            let lom = match engine::io::sys::getxattr(&p, XATTR_LOM, &mut buf) {
                Ok(true) => Lom::decode(&buf).ok(),
                _ => None,
            };
            out.push((p, lom));
        }
    }
    out
}

/// The object's main replica path (its HRW FQN over the node's mountpaths).
fn main_fqn(node: &Node, b: &str, o: &str) -> PathBuf {
    let set = MountpathSet::new(&node.mountpaths);
    let mp = set.place(hrw::obj_digest(b, o)).expect("placed");
    fqn::object_fqn(&mp.path, b, o)
}

/// Why `b/o` is not (yet) exactly `n` consistent replicas of `data`, or `None` if it is: the
/// main at its HRW FQN, every replica's bytes equal to `data`, and every LOM the same with
/// `copies` listing exactly the replicas (empty for one).
fn not_mirrored(node: &Node, b: &str, o: &str, data: &[u8], n: usize) -> Option<String> {
    let reps = replicas(node, b, o);
    if reps.len() != n {
        return Some(format!("{} replicas, want {n}", reps.len()));
    }
    let main = main_fqn(node, b, o);
    if !reps.iter().any(|(p, _)| *p == main) {
        return Some(format!("no main replica at {}", main.display()));
    }
    let mut want: Vec<String> = if n > 1 {
        reps.iter()
            .map(|(p, _)| p.to_str().expect("utf8").to_string())
            .collect()
    } else {
        Vec::new()
    };
    want.sort();
    let mut first: Option<&Lom> = None;
    for (p, lom) in &reps {
        let Some(lom) = lom else {
            return Some(format!("{} has no LOM", p.display()));
        };
        let mut got = lom.copies.clone();
        got.sort();
        if got != want {
            return Some(format!("{} lists {got:?}, want {want:?}", p.display()));
        }
        if std::fs::read(p).expect("read replica") != data {
            return Some(format!("{} holds other bytes", p.display()));
        }
        if lom.size as usize != data.len() || lom.cksum_value != common::xxhash2(data) {
            return Some(format!("{} LOM is of other content", p.display()));
        }
        if let Some(f) = first {
            if f.version != lom.version || f.lid != lom.lid {
                return Some(format!("{} LOM differs from the main's", p.display()));
            }
        }
        first = Some(lom);
    }
    None
}

/// Polls `check` (None = done) until it is done; panics with its last answer after a generous
/// deadline. Eventual states only: nothing here measures time.
fn eventually(what: &str, mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let Some(why) = check() else { return };
        if Instant::now() > deadline {
            panic!("{what}: {why}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn set_props(node: &Node, b: &str, value: &str) -> common::Resp {
    node.req(
        "PATCH",
        &format!("/v1/buckets/{b}"),
        &[("Content-Type", "application/json")],
        format!(r#"{{"action":"set-bprops","value":{value}}}"#).as_bytes(),
    )
}

fn make_n_copies(node: &Node, b: &str, value: &str) -> common::Resp {
    node.req(
        "POST",
        &format!("/v1/buckets/{b}"),
        &[("Content-Type", "application/json")],
        format!(r#"{{"action":"make-n-copies","value":{value}}}"#).as_bytes(),
    )
}

fn mirror_props(node: &Node, b: &str) -> serde_json::Value {
    let r = node.req("HEAD", &format!("/v1/buckets/{b}"), &[], b"");
    assert_eq!(r.status, 200);
    let props: serde_json::Value =
        serde_json::from_str(r.header("Ais-Bucket-Props").expect("props header")).expect("json");
    props["mirror"].clone()
}

fn object(i: usize, gen: u64) -> (String, Vec<u8>) {
    let sizes = [0usize, 1, 100, 4096, 70_000, 300_000];
    let name = if i.is_multiple_of(3) {
        format!("dir{}/obj-{i}", i % 2)
    } else {
        format!("obj-{i}")
    };
    (name, bytes(gen * 1000 + i as u64, sizes[i % sizes.len()]))
}

/// Goal: in a bucket with 2 copies over 3 mountpaths, PUTs get their copy (each replica's LOM
/// lists both), the listing shows each object once, an overwrite leaves no replica of the old
/// bytes by the time it is acknowledged and then gets copies of the new ones, and a DELETE
/// leaves no replica.
#[test]
fn put_overwrite_delete_in_mirrored_bucket() {
    let node = Node::start(3);
    node.create_bucket("m");
    let r = set_props(&node, "m", r#"{"mirror":{"enabled":true,"copies":2}}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        !r.text().is_empty(),
        "enabling mirroring answers the job id"
    );
    let m = mirror_props(&node, "m");
    assert_eq!(
        (m["enabled"].as_bool(), m["copies"].as_u64()),
        (Some(true), Some(2))
    );

    let n = 18;
    let objs: Vec<(String, Vec<u8>)> = (0..n).map(|i| object(i, 1)).collect();
    for (o, d) in &objs {
        assert_eq!(node.put("m", o, d).status, 200);
    }
    for (o, d) in &objs {
        eventually(&format!("copies of {o}"), || {
            not_mirrored(&node, "m", o, d, 2)
        });
        assert_eq!(node.get("m", o).body, *d);
        let h = node.head("m", o);
        assert_eq!(h.header("Ais-Mirror-Copies"), Some("2"), "{o}");
        let paths = h.header("Ais-Mirror-Paths").expect("paths");
        assert_eq!(paths.split(',').count(), 2, "{paths}");
    }
    let mut names = node.list_names("m");
    names.sort();
    let mut want: Vec<String> = objs.iter().map(|(o, _)| o.clone()).collect();
    want.sort();
    assert_eq!(names, want, "each object listed once");

    // A name too long for the filesystem (stored shortened, differently on each mountpath)
    // is mirrored and listed once too.
    let long = format!("long/{}", "x".repeat(300));
    let long_data = bytes(99, 5000);
    assert_eq!(node.put("m", &long, &long_data).status, 200);
    eventually("copies of the long name", || {
        not_mirrored(&node, "m", &long, &long_data, 2)
    });
    assert_eq!(
        node.list_names("m").len(),
        n + 1,
        "the long name listed once"
    );
    assert_eq!(node.delete("m", &long).status, 200);
    assert!(replicas(&node, "m", &long).is_empty());

    // Overwrite half: at the acknowledgement no replica holds the old bytes.
    let new: Vec<(String, Vec<u8>)> = (0..n).step_by(2).map(|i| object(i, 2)).collect();
    for (o, d) in &new {
        assert_eq!(node.put("m", o, d).status, 200);
        for (p, _) in replicas(&node, "m", o) {
            assert_eq!(
                std::fs::read(&p).expect("read"),
                *d,
                "{} holds old bytes after the overwrite was acknowledged",
                p.display()
            );
        }
        assert_eq!(node.get("m", o).body, *d);
    }
    for (o, d) in &new {
        eventually(&format!("copies of new {o}"), || {
            not_mirrored(&node, "m", o, d, 2)
        });
    }

    // Delete a few: no replica left once acknowledged.
    for (o, _) in objs.iter().take(5) {
        assert_eq!(node.delete("m", o).status, 200);
        assert!(replicas(&node, "m", o).is_empty(), "{o} left a replica");
        assert_eq!(node.get("m", o).status, 404);
    }
    eventually("work files gone", || {
        let w = node.work_files("m");
        (!w.is_empty()).then(|| format!("{w:?}"))
    });
    assert_eq!(node.list_names("m").len(), n - 5);
}

/// Goal: make-n-copies 3 gives every object 3 replicas and sets the props; make-n-copies 1
/// removes the extra ones; bad counts and buckets are refused with the right status and
/// change nothing.
#[test]
fn make_n_copies_up_and_down() {
    let node = Node::start(3);
    node.create_bucket("b");
    let objs: Vec<(String, Vec<u8>)> = (0..24).map(|i| object(i, 7)).collect();
    for (o, d) in &objs {
        assert_eq!(node.put("b", o, d).status, 200);
    }
    for (o, d) in &objs {
        assert_eq!(not_mirrored(&node, "b", o, d, 1), None, "{o} before");
    }

    for (value, status) in [
        ("0", 400),
        ("4", 400), // more than the mountpaths
        ("33", 400),
        ("\"x\"", 400),
        ("-1", 400),
        ("null", 400),
    ] {
        let r = make_n_copies(&node, "b", value);
        assert_eq!(r.status, status, "make-n-copies {value}: {}", r.text());
        assert!(r.error_message().is_some(), "AIS error body for {value}");
    }
    assert_eq!(make_n_copies(&node, "nosuch", "2").status, 404);
    let r = set_props(&node, "b", r#"{"mirror":{"enabled":true,"copies":33}}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    let m = mirror_props(&node, "b");
    assert_eq!(
        (m["enabled"].as_bool(), m["copies"].as_u64()),
        (Some(false), Some(1))
    );

    let r = make_n_copies(&node, "b", "3");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().trim().is_empty(), "job id");
    let m = mirror_props(&node, "b");
    assert_eq!(
        (m["enabled"].as_bool(), m["copies"].as_u64()),
        (Some(true), Some(3))
    );
    for (o, d) in &objs {
        eventually(&format!("3 replicas of {o}"), || {
            not_mirrored(&node, "b", o, d, 3)
        });
    }
    let mut names = node.list_names("b");
    names.sort();
    names.dedup();
    assert_eq!(
        node.list_names("b").len(),
        objs.len(),
        "each object listed once"
    );
    assert_eq!(names.len(), objs.len());

    let r = make_n_copies(&node, "b", "\"1\"");
    assert_eq!(r.status, 200, "{}", r.text());
    let m = mirror_props(&node, "b");
    assert_eq!(
        (m["enabled"].as_bool(), m["copies"].as_u64()),
        (Some(false), Some(1))
    );
    for (o, d) in &objs {
        eventually(&format!("1 replica of {o}"), || {
            not_mirrored(&node, "b", o, d, 1)
        });
        assert_eq!(node.get("b", o).body, *d);
    }

    // The props survive a restart.
    let r = make_n_copies(&node, "b", "2");
    assert_eq!(r.status, 200, "{}", r.text());
    for (o, d) in &objs {
        eventually(&format!("2 replicas of {o}"), || {
            not_mirrored(&node, "b", o, d, 2)
        });
    }
    let (dir, mps, port) = (node.dir.clone(), node.mountpaths.clone(), node.port);
    let mut node = node;
    assert_eq!(node.stop(), 0);
    let node = Node::start_on(dir, mps, port);
    let m = mirror_props(&node, "b");
    assert_eq!(
        (m["enabled"].as_bool(), m["copies"].as_u64()),
        (Some(true), Some(2))
    );

    // As AIS: a props change of the count while mirroring is on starts make-n-copies.
    let r = set_props(&node, "b", r#"{"mirror":{"copies":3}}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().trim().is_empty(), "the job id");
    for (o, d) in &objs {
        eventually(&format!("3 replicas of {o} after set-bprops"), || {
            not_mirrored(&node, "b", o, d, 3)
        });
    }
    // Turning mirroring off starts nothing and leaves the replicas (AIS).
    let r = set_props(&node, "b", r#"{"mirror":{"enabled":false}}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().trim().is_empty(), "no job: {}", r.text());
    for (o, d) in &objs {
        assert_eq!(not_mirrored(&node, "b", o, d, 3), None, "{o}");
    }
}

/// Goal: with the main replica's file removed by hand, GET still serves the object from its
/// copy.
#[test]
fn get_from_copy_when_main_is_gone() {
    let node = Node::start(3);
    node.create_bucket("g");
    let r = make_n_copies(&node, "g", "2");
    assert_eq!(r.status, 200, "{}", r.text());
    let data = bytes(5, 50_000);
    assert_eq!(node.put("g", "o", &data).status, 200);
    eventually("copy of o", || not_mirrored(&node, "g", "o", &data, 2));
    std::fs::remove_file(main_fqn(&node, "g", "o")).expect("remove main");
    let r = node.get("g", "o");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, data);
}
