//! Path safety against a running node: a table of hostile object and bucket names (traversal
//! in every encoding, absolute paths, very long names, invalid UTF-8, NUL) sent over the AIS
//! API and S3 path-style for PUT, GET, HEAD and DELETE, and directory symlinks planted inside
//! a mountpath. A sentinel directory next to the mountpaths, and an object of another bucket,
//! are snapshotted before and checked after: no request may read, write or delete outside its
//! bucket's folders, and every refusal carries its status and an error body.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{parse_response, Node, Resp};

const SECRET: &[u8] = b"TOP SECRET sentinel content";

/// Every entry under `dir` (not following symlinks): path → content hash for files, a marker
/// for directories and the target for symlinks.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    fn walk(d: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            if md.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.insert(p, format!("symlink {}", t.display()));
            } else if md.is_dir() {
                out.insert(p.clone(), "dir".into());
                walk(&p, out);
            } else {
                let data = std::fs::read(&p).unwrap();
                out.insert(p, common::xxhash2(&data));
            }
        }
    }
    walk(dir, &mut out);
    out
}

/// Makes the sentinel: `<dir>/sentinel/{secret, sub/file}`, four levels above a bucket's
/// `%ob` folder (`<dir>/mp1/@ais/<bucket>/%ob`), where a `../../../../sentinel` lands.
fn make_sentinel(dir: &Path) -> PathBuf {
    let s = dir.join("sentinel");
    std::fs::create_dir_all(s.join("sub")).unwrap();
    std::fs::write(s.join("secret"), SECRET).unwrap();
    std::fs::write(s.join("sub/file"), b"sentinel sub file").unwrap();
    s
}

/// One request on a new connection; `raw_path` goes on the request line as it is.
fn send(node: &Node, method: &str, raw_path: &str, body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {raw_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw, method == "HEAD")
        .map(|(r, _)| r)
        .unwrap_or_else(|| {
            panic!(
                "{method} {raw_path:.200}: no response: {:?}",
                String::from_utf8_lossy(&raw)
            )
        })
}

/// The two front ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Api {
    Ais,
    S3,
}

impl Api {
    /// The request path for `tail` (`<bucket>/<object>` as it goes on the wire).
    fn path(self, tail: &str) -> String {
        match self {
            Api::Ais => format!("/v1/objects/{tail}"),
            Api::S3 => format!("/s3/{tail}"),
        }
    }
}

/// Checks that `r` is a refusal with one of `statuses` and an error body in `api`'s dialect
/// (a HEAD has none: AIS puts it in `Hdr-Error`, S3 sends the status only).
fn assert_refused(api: Api, method: &str, what: &str, r: &Resp, statuses: &[u16]) {
    assert!(
        statuses.contains(&r.status),
        "{api:?} {method} {what}: status {} (want one of {statuses:?}): {:.300}",
        r.status,
        r.text()
    );
    if r.status == 414 || r.status == 431 {
        // Refused before its head was parsed (so before routing): AIS's JSON error whatever
        // the API, and a HEAD client does not read it.
        if method != "HEAD" {
            assert_eq!(r.json()["status"], r.status, "{what}");
        }
        return;
    }
    match (api, method) {
        // Refused before its head was parsed: the node cannot know it was a HEAD, and the
        // JSON body it sends is not read by a HEAD client.
        (_, "HEAD") if r.status == 414 || r.status == 431 => {}
        (Api::Ais, "HEAD") => {
            let h = r
                .header("hdr-error")
                .unwrap_or_else(|| panic!("{method} {what}: no Hdr-Error"));
            let j: serde_json::Value = serde_json::from_str(h).unwrap();
            assert_eq!(j["status"], r.status, "{what}: {h}");
        }
        (Api::Ais, _) => {
            let j = r.json();
            assert_eq!(j["status"], r.status, "{what}: {j}");
            assert!(
                !j["message"].as_str().unwrap_or("").is_empty(),
                "{what}: {j}"
            );
        }
        (Api::S3, "HEAD") => {}
        (Api::S3, _) => {
            let t = r.text();
            assert!(
                t.contains("<Error>") && t.contains("<Code>"),
                "{api:?} {method} {what}: {t:.300}"
            );
        }
    }
}

/// What a name must get.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Every method refused with this status (PUT, GET, HEAD and DELETE alike).
    Refused(u16),
    /// A legal (if odd) name: stored inside the bucket, read back, deleted.
    Inside,
    /// A trailing `/`: refused by the AIS API (as AIS does), an S3 folder marker.
    Marker,
}

fn cases() -> Vec<(String, Expect)> {
    use Expect::*;
    let long_comp = "L".repeat(300);
    let mut v: Vec<(String, Expect)> = vec![
        // Traversal, plain and in every encoding, aimed at the sentinel.
        ("b/../../../../sentinel/secret".into(), Refused(400)),
        (
            "b/..%2f..%2f..%2f..%2fsentinel%2fsecret".into(),
            Refused(400),
        ),
        (
            "b/..%2F..%2F..%2F..%2Fsentinel%2Fsecret".into(),
            Refused(400),
        ),
        (
            "b/%2e%2e/%2e%2e/%2e%2e/%2e%2e/sentinel/secret".into(),
            Refused(400),
        ),
        (
            "b/%2E%2E%2F%2E%2E%2F%2E%2E%2F%2E%2E%2Fsentinel%2Fsecret".into(),
            Refused(400),
        ),
        (
            "b/.%2e/%2e./..%2F%2E%2e/sentinel/secret".into(),
            Refused(400),
        ),
        ("b/sub/../../../../../sentinel/secret".into(), Refused(400)),
        ("b/a/./b".into(), Refused(400)),
        ("b/.".into(), Refused(400)),
        ("b/..".into(), Refused(400)),
        ("b/%2e%2e".into(), Refused(400)),
        // Double encoding decodes once: the name holds a literal '%', which is legal.
        (
            "b/%252e%252e%252f%252e%252e%252fsentinel%252fsecret".into(),
            Inside,
        ),
        // A backslash is an ordinary byte on Linux: `..\x` is one component, inside.
        ("b/..%5c..%5c..%5c..%5csentinel%5csecret".into(), Inside),
        // Absolute paths and empty components.
        ("b//etc/passwd".into(), Refused(400)),
        ("b/%2fetc%2fpasswd".into(), Refused(400)),
        ("b/a//b".into(), Refused(400)),
        ("b/a/".into(), Marker),
        ("b/~/x".into(), Refused(400)),
        // Invalid UTF-8 (a lone byte, an overlong '.', a truncated sequence).
        ("b/%ff".into(), Refused(400)),
        (
            "b/%c0%ae%c0%ae/%c0%ae%c0%ae/sentinel/secret".into(),
            Refused(400),
        ),
        ("b/abc%e2%82".into(), Refused(400)),
        // NUL and control bytes.
        ("b/a%00b".into(), Refused(400)),
        (
            "b/secret%00/../../../../sentinel/secret".into(),
            Refused(400),
        ),
        ("b/%0a".into(), Refused(400)),
        // Bad encodings.
        ("b/%zz".into(), Refused(400)),
        ("b/%".into(), Refused(400)),
        // Hostile bucket names.
        ("..%2f..%2fsentinel/secret".into(), Refused(400)),
        ("%2e%2e/secret".into(), Refused(400)),
        ("../secret".into(), Refused(400)),
        (".%2e/x".into(), Refused(400)),
        ("b%2f..%2f..%2fsentinel/secret".into(), Refused(400)),
        ("%ff/x".into(), Refused(400)),
        ("b%00/x".into(), Refused(400)),
        // Very long: a 300-byte component (stored under a shortened name), a name over
        // the object-name limit, and a request line over its limit.
        (format!("b/{long_comp}"), Inside),
        (format!("b/d/{long_comp}/e"), Inside),
        (
            format!("b/{}", "n".repeat(engine::names::OBJ_NAME_BYTES_MAX + 1)),
            Refused(400),
        ),
        (
            format!("b/{}", "n".repeat(net::head::REQUEST_LINE_BYTES_MAX)),
            Refused(414),
        ),
        // Unicode look-alikes of dots and slashes are ordinary characters.
        ("b/%e2%80%a4%e2%80%a4%e2%88%95sentinel".into(), Inside),
    ];
    v.push(("b/ok-plain-name".into(), Inside));
    v
}

#[test]
fn hostile_names_stay_inside_their_bucket_over_ais_and_s3() {
    // Goal: every case of the table gets its status with an error body on PUT, GET, HEAD and
    // DELETE over both front ends; legal odd names are stored inside the bucket's `%ob` and
    // read back; the sentinel and another bucket's object are untouched; no file appears
    // outside a bucket's folders.
    let node = Node::start(2);
    let sentinel = make_sentinel(&node.dir);
    node.create_bucket("b");
    node.create_bucket("other");
    assert_eq!(node.put("other", "victim", b"victim data").status, 200);
    let sentinel_before = snapshot(&sentinel);
    let all_before = snapshot(&node.dir);

    let mut inside = 0;
    let mut refused = 0;
    for api in [Api::Ais, Api::S3] {
        for (i, (tail, expect)) in cases().iter().enumerate() {
            let path = api.path(tail);
            let what = format!("case {i} {tail:.120}");
            let expect = match (*expect, api) {
                (Expect::Marker, Api::Ais) => Expect::Refused(400),
                (Expect::Marker, Api::S3) => Expect::Inside,
                (e, _) => e,
            };
            match expect {
                Expect::Marker => unreachable!("resolved above"),
                Expect::Refused(st) => {
                    // S3 answers an invalid bucket name as a missing bucket for reads.
                    let put = send(&node, "PUT", &path, SECRET);
                    assert_refused(api, "PUT", &what, &put, &[st]);
                    for m in ["GET", "HEAD", "DELETE"] {
                        let r = send(&node, m, &path, b"");
                        assert_refused(api, m, &what, &r, &[st, 404]);
                        assert!(
                            !r.body.windows(SECRET.len()).any(|w| w == SECRET),
                            "{what}: secret leaked"
                        );
                    }
                    refused += 4;
                }
                Expect::Inside => {
                    let data = format!("inside {api:?} {i}");
                    let r = send(&node, "PUT", &path, data.as_bytes());
                    assert_eq!(r.status, 200, "{api:?} PUT {what}: {:.300}", r.text());
                    let stored = files_with_content(&node, data.as_bytes());
                    assert_eq!(stored.len(), 1, "{what}: stored as {stored:?}");
                    let under = |mp: &PathBuf| stored[0].starts_with(mp.join("@ais/b/%ob"));
                    assert!(
                        node.mountpaths.iter().any(under),
                        "{what}: stored at {:?}",
                        stored[0]
                    );
                    let r = send(&node, "GET", &path, b"");
                    assert_eq!(
                        (r.status, r.body.as_slice()),
                        (200, data.as_bytes()),
                        "{what}"
                    );
                    assert_eq!(send(&node, "HEAD", &path, b"").status, 200, "{what}");
                    let r = send(&node, "DELETE", &path, b"");
                    assert!(
                        r.status == 200 || r.status == 204,
                        "{api:?} DELETE {what}: {}",
                        r.status
                    );
                    assert_eq!(send(&node, "GET", &path, b"").status, 404, "{what}");
                    inside += 1;
                }
            }
        }
    }
    assert_eq!(snapshot(&sentinel), sentinel_before, "the sentinel changed");
    assert_eq!(node.get("other", "victim").body, b"victim data");
    // Nothing new outside the buckets' folders (the node's own metadata files may change,
    // but no new path appears outside `@ais/<bucket>/`).
    for p in snapshot(&node.dir).keys() {
        if all_before.contains_key(p) {
            continue;
        }
        let in_bucket = node
            .mountpaths
            .iter()
            .any(|mp| p.starts_with(mp.join("@ais/b")) || p.starts_with(mp.join("@ais/other")));
        let node_own = p.extension().is_some_and(|e| e == "log")
            || node
                .mountpaths
                .iter()
                .any(|mp| p.parent() == Some(mp.as_path()));
        assert!(
            in_bucket || node_own,
            "new path outside the buckets: {}",
            p.display()
        );
    }
    eprintln!(
        "path-safety table: {refused} refusals, {inside} stored-inside round trips, 0 escapes"
    );
}

/// Files under the node's mountpaths whose content is exactly `data` (not following symlinks).
fn files_with_content(node: &Node, data: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for mp in &node.mountpaths {
        for (p, h) in snapshot(mp) {
            if h == common::xxhash2(data) && std::fs::read(&p).is_ok_and(|d| d == data) {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn symlinks_planted_in_a_mountpath_lead_nowhere_outside() {
    // Goal: a directory symlink inside `<mp>/@ais/b/%ob/` pointing at the sentinel outside
    // the mountpath, and a file symlink to the sentinel's secret: GET/HEAD through them read
    // nothing of it, PUT through them writes nothing outside, DELETE through them removes
    // nothing outside — over the AIS API and S3; the sentinel is unchanged afterwards and the
    // node serves its bucket normally.
    let node = Node::start(1);
    let sentinel = make_sentinel(&node.dir);
    node.create_bucket("b");
    assert_eq!(node.put("b", "real", b"real object").status, 200);
    let ob = node.mountpaths[0].join("@ais/b/%ob");
    assert!(
        ob.join("real").is_file(),
        "layout changed: {}",
        ob.display()
    );
    std::os::unix::fs::symlink(&sentinel, ob.join("link")).unwrap();
    std::os::unix::fs::symlink(sentinel.join("secret"), ob.join("filelink")).unwrap();
    std::fs::create_dir_all(ob.join("d")).unwrap();
    std::os::unix::fs::symlink(&sentinel, ob.join("d/deeper")).unwrap();
    let before = snapshot(&sentinel);

    for api in [Api::Ais, Api::S3] {
        for tail in [
            "b/link/secret",
            "b/link/sub/file",
            "b/filelink",
            "b/d/deeper/secret",
        ] {
            let path = api.path(tail);
            for m in ["GET", "HEAD"] {
                let r = send(&node, m, &path, b"");
                assert_ne!(r.status, 200, "{api:?} {m} {tail} read through a symlink");
                assert!(
                    !r.body.windows(SECRET.len()).any(|w| w == SECRET),
                    "{tail}: secret leaked"
                );
                assert_refused(api, m, tail, &r, &[404, 400]);
            }
        }
        for tail in [
            "b/link/secret",
            "b/link/new",
            "b/link/sub/new",
            "b/d/deeper/new",
        ] {
            let r = send(&node, "PUT", &api.path(tail), b"written through a symlink");
            assert_ne!(r.status, 200, "{api:?} PUT {tail} wrote through a symlink");
            assert_refused(api, "PUT", tail, &r, &[400, 409]);
        }
        for tail in ["b/link/secret", "b/link/sub/file", "b/d/deeper/secret"] {
            let r = send(&node, "DELETE", &api.path(tail), b"");
            if api == Api::S3 {
                // S3 answers 204 for a key that is not there (DeleteObject is idempotent):
                // what matters is that nothing outside was removed (the snapshot below).
                assert_eq!(r.status, 204, "S3 DELETE {tail}: {}", r.text());
            } else {
                assert_refused(api, "DELETE", tail, &r, &[404]);
            }
        }
        assert_eq!(snapshot(&sentinel), before, "{api:?}: the sentinel changed");
    }
    // The listing does not walk into the symlinked directories.
    let r = node.req("GET", "/s3/b?list-type=2", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        !r.text().contains("link/secret") && !r.text().contains("deeper/secret"),
        "{}",
        r.text()
    );
    // The bucket works as before.
    assert_eq!(node.get("b", "real").body, b"real object");
    assert_eq!(node.put("b", "after", b"after").status, 200);
    assert_eq!(node.get("b", "after").body, b"after");
    assert_eq!(snapshot(&sentinel), before, "the sentinel changed");
}
