//! Scale and lifecycle tests against a real node process: thousands of concurrent PUT/GETs with
//! content checks, restarts after SIGTERM and SIGKILL, listing 20,000 objects, bucket destroy
//! and recreate, and shutdown with a request in flight. Run in release (`scripts/test.sh`).
mod common;
use common::*;

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Object size for `seed`: log-uniform from 0 to `max` bytes, so most objects are small and
/// some are large (every size class from 1 byte to `max` shows up).
fn size_for(seed: u64, max: usize) -> usize {
    let h = xxhash_rust::xxh64::xxh64(&seed.to_le_bytes(), 7);
    let class = (h % 19) as u32; // 0..=18: up to 2^19 = 512 KiB before the cap
    let span = (1usize << class).min(max + 1);
    ((h >> 8) as usize) % span
}

/// Asserts `r` is a 200 GET of exactly `data` with the matching xxhash2 checksum header.
fn check_get(r: &Resp, data: &[u8], what: &str) {
    assert_eq!(r.status, 200, "GET {what}: {}", r.text());
    assert_eq!(r.body.len(), data.len(), "GET {what}: body length");
    assert!(r.body == data, "GET {what}: body differs from what was PUT");
    assert_eq!(
        r.header("ais-checksum-type"),
        Some("xxhash2"),
        "GET {what}: checksum type"
    );
    assert_eq!(
        r.header("ais-checksum-value"),
        Some(xxhash2(data).as_str()),
        "GET {what}: checksum value"
    );
}

/// Asserts `r` is a 200 PUT reply carrying the xxhash2 of `data`.
fn check_put(r: &Resp, data: &[u8], what: &str) {
    assert_eq!(r.status, 200, "PUT {what}: {}", r.text());
    assert_eq!(
        r.header("ais-checksum-value"),
        Some(xxhash2(data).as_str()),
        "PUT {what}: checksum value"
    );
}

/// GET on a new connection (`Connection: close`); a socket error or a short response panics
/// with what arrived (its head and length, not a 64 MiB dump) and the node's log.
fn get_logged(node: &Node, b: &str, o: &str) -> Resp {
    use std::io::Read;
    let fail =
        |what: String| -> ! { panic!("GET {b}/{o}: {what}\nnode log:\n{}", node.log_text()) };
    let mut s = TcpStream::connect(("127.0.0.1", node.port))
        .unwrap_or_else(|e| fail(format!("connect: {e}")));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let req =
        format!("GET /v1/objects/{b}/{o} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .unwrap_or_else(|e| fail(format!("send: {e}")));
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(raw.len().min(600));
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    if let Err(e) = read {
        fail(format!("{e} after {} bytes; head: {head:?}", raw.len()));
    }
    match parse_response(&raw, false) {
        Some((r, _)) => r,
        None => fail(format!(
            "incomplete response ({} bytes in all); head: {head:?}",
            raw.len()
        )),
    }
}

/// Sets the shared flag if the owning thread panics, so peers waiting on it give up.
struct PanicFlag(Arc<AtomicBool>);
impl Drop for PanicFlag {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// Runs `f(thread_index)` on `n` threads and returns their results, re-raising the first
/// panic with its message.
fn run_threads<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|t| {
            let f = f.clone();
            std::thread::Builder::new()
                .name(format!("client-{t}"))
                .spawn(move || f(t))
                .unwrap()
        })
        .collect();
    let mut out = Vec::new();
    let mut first_panic = None;
    for h in handles {
        match h.join() {
            Ok(v) => out.push(v),
            Err(p) => {
                if first_panic.is_none() {
                    first_panic = Some(p);
                }
            }
        }
    }
    if let Some(p) = first_panic {
        std::panic::resume_unwind(p);
    }
    out
}

/// PUTs `objs` (name, seed, size) into `bucket` from `threads` keep-alive clients.
fn put_all(port: u16, bucket: &str, objs: &Arc<Vec<(String, u64, usize)>>, threads: usize) {
    let (bucket, objs) = (bucket.to_string(), objs.clone());
    run_threads(threads, move |t| {
        let mut c = KeepAlive::new(port);
        for (name, seed, size) in objs.iter().skip(t).step_by(threads) {
            let data = bytes(*seed, *size);
            check_put(&c.put(&bucket, name, &data), &data, name);
        }
        assert_eq!(
            c.connects, 1,
            "client {t}: the node closed a keep-alive connection"
        );
    });
}

/// GETs every object of `objs` from `threads` keep-alive clients and checks its bytes.
fn get_all_verify(port: u16, bucket: &str, objs: &Arc<Vec<(String, u64, usize)>>, threads: usize) {
    let (bucket, objs) = (bucket.to_string(), objs.clone());
    run_threads(threads, move |t| {
        let mut c = KeepAlive::new(port);
        for (name, seed, size) in objs.iter().skip(t).step_by(threads) {
            check_get(&c.get(&bucket, name), &bytes(*seed, *size), name);
        }
    });
}

/// One page of the JSON listing.
struct Page {
    uuid: String,
    token: String,
    /// (name, size); a missing `size` reads as 0 (AIS omits empty fields).
    entries: Vec<(String, u64)>,
}

fn list_page(
    port: u16,
    bucket: &str,
    prefix: &str,
    pagesize: usize,
    uuid: &str,
    token: &str,
) -> Page {
    let body = serde_json::json!({
        "action": "list",
        "name": "",
        "value": {"pagesize": pagesize, "continuation_token": token, "prefix": prefix, "props": "name,size", "uuid": uuid},
    })
    .to_string();
    let r = request(
        port,
        "GET",
        &format!("/v1/buckets/{bucket}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(
        r.status,
        200,
        "list {bucket} prefix {prefix:?} token {token:?}: {}",
        r.text()
    );
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "listing content type"
    );
    let v = r.json();
    let entries = v["entries"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let name = e["name"].as_str().unwrap_or_else(|| panic!("entry without name: {e}")).to_string();
                    let size = match &e["size"] {
                        serde_json::Value::Null => 0,
                        serde_json::Value::String(s) => s.parse().unwrap_or_else(|_| panic!("bad size in {e}")),
                        other => panic!("size must be a JSON string (AIS `json:\"size,string\"`), got {other} in {e}"),
                    };
                    (name, size)
                })
                .collect()
        })
        .unwrap_or_default(); // AIS may send `"entries": null` for an empty page
    Page {
        uuid: v["uuid"].as_str().unwrap_or_default().to_string(),
        token: v["continuation_token"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        entries,
    }
}

/// Lists `bucket` under `prefix` following the continuation token until it is empty; returns
/// the pages. Checks the AIS token rule on the way: a non-empty token is the last name of its
/// page.
fn list_pages(port: u16, bucket: &str, prefix: &str, pagesize: usize) -> Vec<Vec<(String, u64)>> {
    let mut pages = Vec::new();
    let (mut uuid, mut token) = (String::new(), String::new());
    loop {
        let p = list_page(port, bucket, prefix, pagesize, &uuid, &token);
        if !p.token.is_empty() {
            assert_eq!(
                Some(&p.token),
                p.entries.last().map(|e| &e.0),
                "continuation token must be the page's last name"
            );
        }
        assert!(pages.len() < 100_000, "listing does not end");
        if uuid.is_empty() {
            uuid = p.uuid.clone();
        }
        pages.push(p.entries);
        if p.token.is_empty() {
            return pages;
        }
        token = p.token;
    }
}

fn concurrent_put_get_thousands_verified_with(recv: &str) {
    // Goal: under concurrency, every acknowledged PUT reads back byte-exact with its checksum.
    // Steps: 8 client threads, each on one keep-alive connection, PUT 400 objects each (sizes
    // 0..200 KiB, deterministic); after each PUT a thread GETs every object its predecessor
    // (thread i-1) has had acknowledged so far, then the rest once they are acknowledged.
    // Every GET body and Ais-Checksum-Value must match; connections must stay open.
    const THREADS: usize = 8;
    const PER_THREAD: usize = 400;
    const SIZE_MAX: usize = 200 * 1024;
    let node = Node::start_with_args(4, &["--recv", recv]);
    node.create_bucket("scale");
    let port = node.port;
    let acked: Arc<Vec<AtomicUsize>> =
        Arc::new((0..THREADS).map(|_| AtomicUsize::new(0)).collect());
    let failed = Arc::new(AtomicBool::new(false));
    let seed = |t: usize, j: usize| (t * 1_000_000 + j) as u64 + 1;
    let size = move |t: usize, j: usize| {
        if j == 0 {
            0
        } else {
            size_for(seed(t, j), SIZE_MAX)
        }
    };
    let name = |t: usize, j: usize| format!("t{t}/o{j:04}");
    let (acked2, failed2) = (acked.clone(), failed.clone());
    let stats = run_threads(THREADS, move |t| {
        let _flag = PanicFlag(failed2.clone());
        let prev = (t + THREADS - 1) % THREADS;
        let mut c = KeepAlive::new(port);
        let (mut next_get, mut put_bytes) = (0usize, 0usize);
        let get_one = |c: &mut KeepAlive, j: usize| {
            let data = bytes(seed(prev, j), size(prev, j));
            check_get(&c.get("scale", &name(prev, j)), &data, &name(prev, j));
        };
        for j in 0..PER_THREAD {
            let data = bytes(seed(t, j), size(t, j));
            put_bytes += data.len();
            check_put(&c.put("scale", &name(t, j), &data), &data, &name(t, j));
            acked2[t].store(j + 1, Ordering::Release);
            while next_get < acked2[prev].load(Ordering::Acquire) {
                get_one(&mut c, next_get);
                next_get += 1;
            }
        }
        while next_get < PER_THREAD {
            if next_get < acked2[prev].load(Ordering::Acquire) {
                get_one(&mut c, next_get);
                next_get += 1;
            } else {
                assert!(
                    !failed2.load(Ordering::SeqCst),
                    "another client thread failed"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(
            c.connects, 1,
            "client {t}: the node closed its keep-alive connection"
        );
        put_bytes
    });
    let total: usize = stats.iter().sum();
    println!(
        "{} objects, {:.1} MiB PUT and read back",
        THREADS * PER_THREAD,
        total as f64 / (1 << 20) as f64
    );
    // Every object once in the listing, with its size.
    let listed: Vec<(String, u64)> = list_pages(port, "scale", "", 1000).concat();
    let mut want: Vec<(String, u64)> = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |j| (name(t, j), size(t, j) as u64)))
        .collect();
    want.sort();
    assert!(
        listed == want,
        "listing after concurrent PUTs: {} entries, want {}",
        listed.len(),
        want.len()
    );
}

#[test]
fn concurrent_put_get_thousands_verified() {
    concurrent_put_get_thousands_verified_with("single");
}

#[test]
fn concurrent_put_get_thousands_verified_multishot_recv() {
    concurrent_put_get_thousands_verified_with("multishot");
}

#[test]
fn restart_after_sigterm_keeps_every_object() {
    // Goal: a clean stop loses nothing that was acknowledged.
    // Steps: PUT 2,000 objects (4 keep-alive clients); SIGTERM, exit code must be 0; start a
    // node on the same mountpaths and port; GET all 2,000 and compare bytes; list them all.
    let mut node = Node::start(3);
    node.create_bucket("rs");
    let objs: Arc<Vec<(String, u64, usize)>> = Arc::new(
        (0..2000u64)
            .map(|i| {
                (
                    format!("d{}/obj-{i:05}", i % 7),
                    50_000 + i,
                    size_for(50_000 + i, 64 * 1024),
                )
            })
            .collect(),
    );
    put_all(node.port, "rs", &objs, 4);
    assert_eq!(
        node.stop(),
        0,
        "exit code after SIGTERM; log:\n{}",
        node.log_text()
    );
    node.restart();
    get_all_verify(node.port, "rs", &objs, 4);
    let listed = list_pages(node.port, "rs", "", 0).concat();
    let mut want: Vec<(String, u64)> = objs
        .iter()
        .map(|(n, _, s)| (n.clone(), *s as u64))
        .collect();
    want.sort();
    assert!(
        listed == want,
        "listing after restart: {} entries, want {}",
        listed.len(),
        want.len()
    );
}

#[test]
fn sigkill_mid_put_stream_keeps_acked_objects_and_tears_none() {
    // Goal: a crash (SIGKILL) in the middle of concurrent PUTs keeps every object whose PUT got
    // a 200, and leaves no torn object: each is either absent (404) or exactly its bytes.
    // Steps: 4 keep-alive clients PUT objects of 0..1 MiB in a loop, counting acknowledged
    // PUTs; once 400 are acknowledged, SIGKILL the node; the clients stop at their first
    // error. Restart on the same mountpaths and port. Every acknowledged object must read back
    // exactly; each client's in-flight object must be 404 or exact; the next (never sent) must
    // be 404; the listing holds exactly those objects; no PUT work file is left behind.
    const CLIENTS: usize = 4;
    let mut node = Node::start(2);
    node.create_bucket("crash");
    let port = node.port;
    let seed = |t: usize, j: usize| (t * 1_000_000 + j) as u64 + 7;
    let size = move |t: usize, j: usize| size_for(seed(t, j), 1 << 20);
    let name = |t: usize, j: usize| format!("c{t}/o{j:06}");
    let total_acked = Arc::new(AtomicUsize::new(0));
    let ta = total_acked.clone();
    let clients = std::thread::spawn(move || {
        run_threads(CLIENTS, move |t| {
            let mut c = KeepAlive::new(port);
            // Stops at the first failure: after the kill, nothing more is sent.
            for j in 0..1_000_000 {
                let data = bytes(seed(t, j), size(t, j));
                match c.try_request(
                    "PUT",
                    &format!("/v1/objects/crash/{}", name(t, j)),
                    &[],
                    &data,
                ) {
                    Ok(r) if r.status == 200 => {
                        assert_eq!(
                            r.header("ais-checksum-value"),
                            Some(xxhash2(&data).as_str()),
                            "PUT {}",
                            name(t, j)
                        );
                        ta.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => panic!(
                        "PUT {} before the kill: {} {}",
                        name(t, j),
                        r.status,
                        r.text()
                    ),
                    Err(_) => return j, // objects 0..j were acknowledged; j was in flight
                }
            }
            panic!("client {t} never saw the kill");
        })
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    while total_acked.load(Ordering::SeqCst) < 400 {
        assert!(!clients.is_finished(), "clients stopped before the kill");
        assert!(
            Instant::now() < deadline,
            "400 PUTs were not acknowledged within 300 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    node.kill();
    let acked: Vec<usize> = clients
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
    println!("acknowledged before SIGKILL, per client: {acked:?}");
    node.restart();
    let mut c = KeepAlive::new(node.port);
    let mut want = Vec::new();
    let mut inflight_stored = 0;
    for (t, &n) in acked.iter().enumerate() {
        for j in 0..n {
            check_get(
                &c.get("crash", &name(t, j)),
                &bytes(seed(t, j), size(t, j)),
                &name(t, j),
            );
            want.push(name(t, j));
        }
        let r = c.get("crash", &name(t, n));
        match r.status {
            404 => {}
            200 => {
                check_get(
                    &r,
                    &bytes(seed(t, n), size(t, n)),
                    &format!("{} (in flight at the kill)", name(t, n)),
                );
                want.push(name(t, n));
                inflight_stored += 1;
            }
            s => panic!(
                "GET {} (in flight at the kill): {s} {}",
                name(t, n),
                r.text()
            ),
        }
        let r = c.get("crash", &name(t, n + 1));
        assert_eq!(
            r.status,
            404,
            "GET {} (never sent): {}",
            name(t, n + 1),
            r.text()
        );
    }
    println!("in-flight PUTs that completed before the kill: {inflight_stored}");
    want.sort();
    let listed: Vec<String> = list_pages(node.port, "crash", "", 0)
        .concat()
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert!(
        listed == want,
        "listing after crash+restart: {} entries, want {}",
        listed.len(),
        want.len()
    );
    let work: Vec<PathBuf> = node
        .mountpaths
        .iter()
        .flat_map(|m| files_under(&m.join("@ais").join("crash").join("%wk")))
        .collect();
    assert!(
        work.is_empty(),
        "work files of the killed process left after restart: {work:?}"
    );
}

#[test]
fn listing_20k_objects_complete_sorted_and_prefix_exact() {
    // Goal: the JSON listing of 20,000 objects is complete and correct: every name exactly
    // once, in order, with its size (a JSON string), and prefix filters are exact.
    // Steps: PUT 20,000 small objects under "a/", "a/b/", "ab/", "b/" and the top level (4
    // keep-alive clients). List with pagesize 1000 following continuation_token: compare with
    // the expected sorted (name, size) list. Repeat for several prefixes, including "a" (which
    // spans "a/", "a/b/" and "ab/") and one that matches nothing. Then pagesize 0 (default
    // 10,000): two full pages, then at most one more, empty, request.
    let node = Node::start(4);
    node.create_bucket("ls");
    let mut objs: Vec<(String, u64, usize)> = Vec::new();
    for (pfx, n) in [
        ("a/", 8000),
        ("a/b/", 4000),
        ("ab/", 4000),
        ("b/", 3000),
        ("", 1000),
    ] {
        for i in 0..n {
            let seed = objs.len() as u64 + 100;
            objs.push((format!("{pfx}{i:05}"), seed, (seed % 97) as usize));
        }
    }
    assert_eq!(objs.len(), 20_000);
    let objs = Arc::new(objs);
    put_all(node.port, "ls", &objs, 4);
    let mut all: Vec<(String, u64)> = objs
        .iter()
        .map(|(n, _, s)| (n.clone(), *s as u64))
        .collect();
    all.sort();

    let pages = list_pages(node.port, "ls", "", 1000);
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert!(
        sizes.iter().all(|&n| n <= 1000),
        "a page exceeds pagesize 1000: {sizes:?}"
    );
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&n| n == 1000),
        "only the last page may be short: {sizes:?}"
    );
    let listed = pages.concat();
    assert_eq!(listed.len(), all.len(), "number of listed entries");
    for (i, (got, want)) in listed.iter().zip(&all).enumerate() {
        assert_eq!(got, want, "entry {i} of the full listing");
    }

    for prefix in ["a/", "a/b/", "ab/", "a", "b/", "0", "00999", "zzz"] {
        let listed = list_pages(node.port, "ls", prefix, 1000).concat();
        let want: Vec<(String, u64)> = all
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .cloned()
            .collect();
        assert_eq!(
            listed.len(),
            want.len(),
            "prefix {prefix:?}: number of entries"
        );
        assert!(
            listed == want,
            "prefix {prefix:?}: listing differs from the expected names and sizes"
        );
    }

    let pages = list_pages(node.port, "ls", "", 0);
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert!(
        sizes == [10_000, 10_000] || sizes == [10_000, 10_000, 0],
        "pagesize 0 must mean pages of 10,000: got {sizes:?}"
    );
    assert!(pages.concat() == all, "pagesize 0: listing differs");
}

#[test]
fn destroy_and_recreate_bucket_starts_empty_and_trash_is_emptied() {
    // Goal: destroying a bucket removes its objects for good: a bucket recreated under the same
    // name is empty, and the destroyed data leaves the mountpaths' `.$deleted` trash.
    // Steps: create "dr", PUT 300 objects (some of 1 MiB); destroy; GET → 404; recreate; GET
    // of an old object → 404, HEAD → 404, listing empty; poll (≤ 5 s) until no file is left in
    // any `<mountpath>/.$deleted`; a new PUT under an old name reads back the new bytes.
    let node = Node::start(3);
    node.create_bucket("dr");
    let objs: Arc<Vec<(String, u64, usize)>> = Arc::new(
        (0..300u64)
            .map(|i| {
                (
                    format!("x/{i:03}"),
                    900 + i,
                    if i % 50 == 0 {
                        1 << 20
                    } else {
                        (i * 37) as usize
                    },
                )
            })
            .collect(),
    );
    put_all(node.port, "dr", &objs, 2);
    let destroy = |what: &str| {
        let r = node.req(
            "DELETE",
            "/v1/buckets/dr",
            &[("Content-Type", "application/json")],
            br#"{"action":"destroy-bck"}"#,
        );
        assert_eq!(r.status, 200, "{what}: {}", r.text());
    };
    destroy("destroy");
    let r = node.get("dr", "x/001");
    assert_eq!(r.status, 404, "GET from a destroyed bucket: {}", r.text());
    assert!(
        r.text().contains("ais://dr"),
        "404 must name the bucket: {}",
        r.text()
    );
    node.create_bucket("dr");
    for o in ["x/000", "x/001", "x/299"] {
        let r = node.get("dr", o);
        assert_eq!(
            r.status,
            404,
            "GET old {o} from the recreated bucket: {}",
            r.text()
        );
        let r = node.req("HEAD", &format!("/v1/objects/dr/{o}"), &[], b"");
        assert_eq!(r.status, 404, "HEAD old {o} from the recreated bucket");
    }
    assert!(
        list_pages(node.port, "dr", "", 0).concat().is_empty(),
        "recreated bucket must list empty"
    );
    let trash_files = || -> Vec<PathBuf> {
        node.mountpaths
            .iter()
            .flat_map(|m| files_under(&m.join(".$deleted")))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !trash_files().is_empty() {
        assert!(
            Instant::now() < deadline,
            "trash not emptied within 5 s: {} files left",
            trash_files().len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let old_data: Vec<PathBuf> = node
        .mountpaths
        .iter()
        .flat_map(|m| files_under(&m.join("@ais").join("dr")))
        .collect();
    assert!(
        old_data.is_empty(),
        "files left in the recreated bucket's directories: {old_data:?}"
    );
    let fresh = bytes(4242, 5000);
    check_put(&node.put("dr", "x/001", &fresh), &fresh, "x/001 (new)");
    check_get(&node.get("dr", "x/001"), &fresh, "x/001 (new)");
    destroy("final destroy");
    let r = node.req(
        "DELETE",
        "/v1/buckets/dr",
        &[("Content-Type", "application/json")],
        br#"{"action":"destroy-bck"}"#,
    );
    assert_eq!(r.status, 404, "destroying a missing bucket: {}", r.text());
}

#[test]
fn sigterm_lets_inflight_put_finish() {
    // Goal: SIGTERM during a large PUT does not cut it: the PUT completes with 200, the node
    // then exits with code 0, and the object is intact after a restart.
    // Steps: send the head of a 64 MiB PUT and stream the body in 1 MiB pieces (paced); after
    // 16 MiB send SIGTERM and wait until the node logs that it is shutting down; send the
    // remaining 48 MiB; read the reply (200, checksum of the whole body); wait for the exit
    // code (0); restart on the same mountpaths and port; GET returns all 64 MiB.
    const SIZE: usize = 64 << 20;
    const PIECE: usize = 1 << 20;
    let mut node = Node::start(2);
    node.create_bucket("sd");
    let data = bytes(64, SIZE);
    let mut s = TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "PUT /v1/objects/sd/big HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {SIZE}\r\nConnection: keep-alive\r\n\r\n",
        node.port
    );
    s.write_all(head.as_bytes()).unwrap();
    for (i, piece) in data.chunks(PIECE).enumerate() {
        if i == 16 {
            node.signal_term();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !node.log_text().contains("shutting down") {
                assert!(
                    Instant::now() < deadline,
                    "the node did not log \"shutting down\" within 10 s of SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        s.write_all(piece)
            .unwrap_or_else(|e| panic!("sending piece {i} of the PUT body after SIGTERM: {e}"));
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false)
        .unwrap_or_else(|e| panic!("reply to the in-flight PUT: {e}"));
    check_put(&r, &data, "big (in flight at SIGTERM)");
    drop(s);
    let code = node.wait_exit();
    assert_eq!(
        code,
        0,
        "exit code after SIGTERM; log:\n{}",
        node.log_text()
    );
    node.restart();
    check_get(&get_logged(&node, "sd", "big"), &data, "big after restart");
}
