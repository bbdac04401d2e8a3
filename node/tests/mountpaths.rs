//! Mountpath lifecycle over AIS's API: attach, detach, enable, disable, rescan and
//! `what=mountpaths`; bad requests refused with nothing changed; the set and each state kept
//! across restarts in the volume metadata; a mountpath of another node refused.

mod common;

use common::{tempdir, Node};
use serde_json::{json, Value};

fn mp_action(node: &Node, method: &str, action: &str, path: &str, query: &str) -> common::Resp {
    let body = json!({"action": action, "value": path}).to_string();
    node.req(
        method,
        &format!("/v1/daemon/mountpaths{query}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn listing(node: &Node) -> Value {
    let r = node.req("GET", "/v1/daemon?what=mountpaths", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn list_of(v: &Value, key: &str) -> Vec<String> {
    let mut l: Vec<String> = v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .iter()
        .map(|p| p.as_str().expect("path").to_string())
        .collect();
    l.sort();
    l
}

fn s(p: &std::path::Path) -> String {
    std::fs::canonicalize(p)
        .expect("canonical")
        .to_string_lossy()
        .to_string()
}

#[test]
fn attach_disable_enable_detach_with_no_resilver_and_persist_across_restart() {
    // Goal: each action changes the set as AIS's API says, answers 200, shows in
    // what=mountpaths, and the resulting set (with states) is what a restart on the original
    // start-up list comes back with.
    let mut node = Node::start(2);
    let (mp1, mp2) = (s(&node.mountpaths[0]), s(&node.mountpaths[1]));
    let extra = node.dir.join("mp3");
    std::fs::create_dir_all(&extra).expect("mkdir");
    let mp3 = s(&extra);
    node.create_bucket("b");
    for i in 0..50 {
        assert_eq!(
            node.put("b", &format!("o{i}"), format!("v{i}").as_bytes())
                .status,
            200
        );
    }
    let r = mp_action(&node, "PUT", "attach-mp", &mp3, "?dntres=true");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = listing(&node);
    assert_eq!(list_of(&v, "available"), {
        let mut l = vec![mp1.clone(), mp2.clone(), mp3.clone()];
        l.sort();
        l
    });
    assert!(
        std::path::Path::new(&mp3).join(".aisle.vmd").is_file(),
        "the attached mountpath carries the volume metadata"
    );
    // New objects go to the new mountpath too (it is in placement).
    for i in 0..60 {
        assert_eq!(node.put("b", &format!("n{i}"), b"x").status, 200);
    }
    assert!(
        std::fs::read_dir(std::path::Path::new(&mp3).join("@ais/b/%ob"))
            .expect("bucket dir on the attached mountpath")
            .count()
            > 0,
        "some of 60 new objects placed on the third mountpath"
    );
    let r = mp_action(&node, "POST", "disable-mp", &mp2, "?dntres=true");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = listing(&node);
    assert_eq!(list_of(&v, "disabled"), vec![mp2.clone()]);
    assert_eq!(v["state"][&mp2], "disabled");
    // Restart on the original list: the attached mountpath and the disabled state persist.
    let (dir, port) = (node.dir.clone(), node.port);
    let list = node.mountpaths.clone();
    assert_eq!(node.stop(), 0);
    let mut node = Node::start_on(dir, list, port);
    let v = listing(&node);
    let mut avail = vec![mp1.clone(), mp3.clone()];
    avail.sort();
    assert_eq!(list_of(&v, "available"), avail);
    assert_eq!(list_of(&v, "disabled"), vec![mp2.clone()]);
    let r = mp_action(&node, "POST", "enable-mp", &mp2, "?dntres=true");
    assert_eq!(r.status, 200, "{}", r.text());
    // Objects placed before any change are readable again where HRW has them.
    let r = mp_action(&node, "DELETE", "detach-mp", &mp3, "?dntres=true");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = listing(&node);
    let mut avail = vec![mp1.clone(), mp2.clone()];
    avail.sort();
    assert_eq!(list_of(&v, "available"), avail);
    for i in 0..50 {
        let r = node.get("b", &format!("o{i}"));
        assert_eq!(r.status, 200, "o{i}: {}", r.text());
        assert_eq!(r.body, format!("v{i}").as_bytes());
    }
    // A detached mountpath is not attached again from the start-up list at restart.
    let (dir, port) = (node.dir.clone(), node.port);
    let mut list = node.mountpaths.clone();
    list.push(extra.clone());
    assert_eq!(node.stop(), 0);
    let mut node = Node::start_on(dir, list, port);
    let v = listing(&node);
    assert_eq!(list_of(&v, "available"), avail, "{v}");
    // Attaching it again through the API works.
    let r = mp_action(&node, "PUT", "attach-mp", &mp3, "?dntres=true");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(list_of(&listing(&node), "available").len(), 3);
    assert_eq!(node.stop(), 0);
}

#[test]
fn bad_mountpath_requests_are_refused_and_change_nothing() {
    let node = Node::start(2);
    let before = listing(&node);
    let mp1 = s(&node.mountpaths[0]);
    let file = node.dir.join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let nested = node.mountpaths[0].join("inner");
    std::fs::create_dir_all(&nested).expect("mkdir");
    let cases: Vec<(&str, &str, String, &str, u16, &str)> = vec![
        (
            "PUT",
            "attach-mp",
            "/nonexistent/aisle-mp".into(),
            "",
            400,
            "create it first",
        ),
        ("PUT", "attach-mp", s(&file), "", 400, "not a directory"),
        ("PUT", "attach-mp", mp1.clone(), "", 409, "already attached"),
        ("PUT", "attach-mp", s(&nested), "", 400, "nested"),
        ("PUT", "attach-mp", s(&node.dir), "", 400, "nested"),
        (
            "PUT",
            "attach-mp",
            "relative/path".into(),
            "",
            400,
            "absolute",
        ),
        (
            "DELETE",
            "detach-mp",
            "/not/attached".into(),
            "",
            404,
            "not attached",
        ),
        (
            "POST",
            "attach-mp",
            node.dir.join("x").to_string_lossy().to_string(),
            "",
            405,
            "takes",
        ),
        (
            "POST",
            "frobnicate-mp",
            mp1.clone(),
            "",
            400,
            "invalid mountpath action",
        ),
    ];
    for (method, action, path, q, status, needle) in cases {
        let r = mp_action(&node, method, action, &path, q);
        assert_eq!(r.status, status, "{method} {action} {path}: {}", r.text());
        let msg = r.error_message().unwrap_or_default();
        assert!(
            msg.contains(needle),
            "{action} {path}: {msg:?} lacks {needle:?}"
        );
        assert_eq!(listing(&node), before, "{action} {path} changed the set");
    }
    let r = node.req("PUT", "/v1/daemon/mountpaths", &[], b"{not json");
    assert_eq!(r.status, 400);
    // The last enabled mountpath is never detached or disabled.
    let r = mp_action(
        &node,
        "DELETE",
        "detach-mp",
        &s(&node.mountpaths[1]),
        "?dntres=true",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for (method, action) in [("DELETE", "detach-mp"), ("POST", "disable-mp")] {
        let r = mp_action(&node, method, action, &mp1, "?dntres=true");
        assert_eq!(r.status, 409, "{action} of the last: {}", r.text());
        assert!(r
            .error_message()
            .unwrap_or_default()
            .contains("last enabled mountpath"));
    }
    assert_eq!(list_of(&listing(&node), "available"), vec![mp1]);
}

#[test]
fn a_mountpath_of_another_node_is_refused() {
    // Goal: the volume metadata names its node; another node's mountpath is not attached.
    let mut other = Node::start(1);
    let foreign = s(&other.mountpaths[0]);
    assert_eq!(other.stop(), 0);
    let node = Node::start(1);
    let r = mp_action(&node, "PUT", "attach-mp", &foreign, "");
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.error_message()
            .unwrap_or_default()
            .contains("belongs to node"),
        "{}",
        r.text()
    );
    assert_eq!(list_of(&listing(&node), "available").len(), 1);
    let _ = tempdir("unused");
}

#[test]
fn detach_with_resilver_waits_in_waiting_dd() {
    // Goal: a detach that resilvers takes the mountpath out of placement first (waiting_dd),
    // so new objects never land on it.
    let node = Node::start(3);
    let mp3 = s(&node.mountpaths[2]);
    node.create_bucket("b");
    let r = mp_action(&node, "DELETE", "detach-mp", &mp3, "");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = listing(&node);
    let waiting = list_of(&v, "waiting_dd");
    if waiting.is_empty() {
        // The resilver already finished and the detach with it.
        assert_eq!(list_of(&v, "available").len(), 2, "{v}");
    } else {
        assert_eq!(waiting, vec![mp3.clone()]);
        for i in 0..100 {
            assert_eq!(node.put("b", &format!("o{i}"), b"x").status, 200);
        }
        let dir = std::path::Path::new(&mp3).join("@ais/b/%ob");
        let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(n, 0, "no new object is placed on a detaching mountpath");
    }
}
