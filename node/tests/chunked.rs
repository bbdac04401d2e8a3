//! Acceptance tests of chunked objects and the native multipart upload (issue 7) against a real
//! node: a 1 GiB chunked PUT spread over 4 mountpaths read back whole and by 200 random ranges;
//! 20-part uploads out of order in parallel (CRC32C combine) and in order (the bucket's xxhash2);
//! duplicate parts, abort, concurrent uploads of one object, overwrite, delete and listing, each
//! checked on disk (`%ch`, `%ut`, `%wk` files); restart mid-upload with and without checkpoints;
//! bad input and on-disk faults (corrupt manifest, missing chunk) answered with errors.
mod common;
use common::*;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::mountpath::MountpathSet;

const MIB: u64 = 1 << 20;

// ------------------------------------------------------------------------------------------
// Deterministic content, addressable at any offset (so 1 GiB never sits in memory).

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fills `buf` with the bytes at `off..` of the stream of `seed`.
fn gen_at(seed: u64, off: u64, buf: &mut [u8]) {
    let mut p = off;
    let mut i = 0;
    while i < buf.len() {
        let word = splitmix(seed ^ (p / 8).wrapping_mul(0x2545_F491_4F6C_DD1D)).to_le_bytes();
        let k = (p % 8) as usize;
        let n = (8 - k).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&word[k..k + n]);
        i += n;
        p += n as u64;
    }
}

fn gen_vec(seed: u64, off: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    gen_at(seed, off, &mut v);
    v
}

/// A small seeded generator for test choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix(self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.range(0, i as u64) as usize;
            v.swap(i, j);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Requests.

/// Sets the bucket's `chunks` props (a JSON object), asserting 200.
fn set_chunks(node: &Node, b: &str, chunks: &str) {
    let body = format!(r#"{{"action":"set-bprops","value":{{"chunks":{chunks}}}}}"#);
    let r = node.send(
        "PATCH",
        &format!("/v1/buckets/{b}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "set-bprops chunks {chunks}: {}", r.text());
}

fn opath(b: &str, o: &str) -> String {
    format!("/v1/objects/{b}/{o}")
}

/// Starts an upload; returns its id.
fn mpu_create(port: u16, b: &str, o: &str) -> String {
    let r = request_lenient(
        port,
        "POST",
        &opath(b, o),
        &[("Content-Type", "application/json")],
        br#"{"action":"mpt-upload"}"#,
    );
    assert_eq!(r.status, 200, "mpt-upload {b}/{o}: {}", r.text());
    let id = r.text();
    assert!(
        !id.is_empty() && !id.contains(['/', ' ']),
        "upload id {id:?}"
    );
    id
}

fn mpu_part_raw(port: u16, b: &str, o: &str, id: &str, num: &str, data: &[u8]) -> Resp {
    request_lenient(
        port,
        "PUT",
        &format!("{}?uploadId={id}&partNumber={num}", opath(b, o)),
        &[],
        data,
    )
}

/// Uploads part `num`, asserting 200.
fn mpu_part(port: u16, b: &str, o: &str, id: &str, num: u32, data: &[u8]) {
    let r = mpu_part_raw(port, b, o, id, &num.to_string(), data);
    assert_eq!(r.status, 200, "part {num} of {b}/{o} ({id}): {}", r.text());
}

fn mpu_complete(port: u16, b: &str, o: &str, id: &str, nums: &[u32]) -> Resp {
    let parts: Vec<String> = nums
        .iter()
        .map(|n| format!(r#"{{"part-number":{n},"etag":""}}"#))
        .collect();
    let body = format!(
        r#"{{"action":"mpt-complete","value":[{}]}}"#,
        parts.join(",")
    );
    request_lenient(
        port,
        "POST",
        &format!("{}?uploadId={id}", opath(b, o)),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn mpu_abort(port: u16, b: &str, o: &str, id: &str) -> Resp {
    request_lenient(
        port,
        "DELETE",
        &format!("{}?uploadId={id}", opath(b, o)),
        &[("Content-Type", "application/json")],
        br#"{"action":"mpt-abort"}"#,
    )
}

fn head_chunked(node: &Node, b: &str, o: &str) -> Resp {
    node.send(
        "HEAD",
        &format!("{}?props=size,checksum,chunked", opath(b, o)),
        &[],
        b"",
    )
}

fn range_get(node: &Node, b: &str, o: &str, start: u64, end_incl: u64) -> Resp {
    node.send(
        "GET",
        &opath(b, o),
        &[("Range", &format!("bytes={start}-{end_incl}"))],
        b"",
    )
}

/// Reads a response head from `s`: status, Content-Length, and the body bytes already read.
fn read_head(s: &mut std::net::TcpStream) -> (u16, Option<u64>, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad status line in {head:?}"));
            let len = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<u64>().ok())?
            });
            return (status, len, buf[end + 4..].to_vec());
        }
        let n = s.read(&mut chunk).expect("reading a response head");
        assert!(n > 0, "connection closed before a response head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// PUTs `size` bytes of the stream of `seed` without holding them; returns (status, text,
/// XXH64 of what was sent).
fn put_streamed(port: u16, b: &str, o: &str, seed: u64, size: u64) -> (u16, String, u64) {
    let mut s = connect(port);
    s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n",
        opath(b, o)
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    let mut buf = vec![0u8; MIB as usize];
    let mut off = 0u64;
    while off < size {
        let n = (size - off).min(MIB) as usize;
        gen_at(seed, off, &mut buf[..n]);
        h.update(&buf[..n]);
        s.write_all(&buf[..n]).unwrap();
        off += n as u64;
    }
    let mut rbuf = Vec::new();
    let r = read_response(&mut s, &mut rbuf, false).expect("PUT response");
    (r.status, r.text(), h.digest())
}

/// GETs the whole object streaming; returns (status, bytes received, XXH64 of them).
fn get_streamed(port: u16, b: &str, o: &str) -> (u16, u64, u64) {
    let mut s = connect(port);
    s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n",
        opath(b, o)
    );
    s.write_all(req.as_bytes()).unwrap();
    let (status, len, first) = read_head(&mut s);
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    h.update(&first);
    let mut got = first.len() as u64;
    let mut buf = vec![0u8; MIB as usize];
    loop {
        if len.is_some_and(|l| got >= l) {
            break;
        }
        let n = s.read(&mut buf).expect("reading the GET body");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        got += n as u64;
    }
    (status, got, h.digest())
}

// ------------------------------------------------------------------------------------------
// On-disk views.

fn bucket_sub(mp: &Path, b: &str, sub: &str) -> PathBuf {
    mp.join("@ais").join(b).join(sub)
}

/// Chunk files (`%ch`) of object `o` (a name without '/') on every mountpath, with the
/// mountpath index.
fn chunk_files(node: &Node, b: &str, o: &str) -> Vec<(usize, PathBuf)> {
    let mut out = Vec::new();
    let pfx = format!("{o}.");
    for (i, mp) in node.mountpaths.iter().enumerate() {
        for f in files_under(&bucket_sub(mp, b, "%ch")) {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with(&pfx) {
                out.push((i, f));
            }
        }
    }
    out.sort();
    out
}

/// Manifests (`%ut`: `o` itself and `o.<id>`) of object `o` on every mountpath.
fn ufest_files(node: &Node, b: &str, o: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let pfx = format!("{o}.");
    for mp in &node.mountpaths {
        for f in files_under(&bucket_sub(mp, b, "%ut")) {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if name == o || name.starts_with(&pfx) {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

/// The upload ids that `%ch` files of `o` belong to (`<o>.<id>.<NNNN>`).
fn chunk_ids(node: &Node, b: &str, o: &str) -> BTreeSet<String> {
    chunk_files(node, b, o)
        .iter()
        .map(|(_, f)| {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let rest = &name[o.len() + 1..];
            rest.rsplit_once('.').expect("<id>.<NNNN>").0.to_string()
        })
        .collect()
}

/// Every file under the mountpaths whose path contains `id`.
fn files_of_upload(node: &Node, id: &str) -> Vec<PathBuf> {
    node.files_containing(id)
}

/// Polls (≤ 5 s) until `f` holds; the removal of replaced chunks may trail the reply.
fn eventually(what: &str, mut f: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match f() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn check_body(r: &Resp, want: &[u8], what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    assert_eq!(r.body.len(), want.len(), "{what}: length");
    if r.body != want {
        let at = r.body.iter().zip(want).position(|(a, b)| a != b).unwrap();
        panic!("{what}: content differs from byte {at}");
    }
}

fn crc32c_hex(b: &[u8]) -> String {
    format!("{:08x}", crc32c::crc32c(b))
}

/// Listing entries of bucket `b` with their size and flags.
fn list_entries(node: &Node, b: &str) -> Vec<(String, u64, u64)> {
    let r = node.send(
        "GET",
        &format!("/v1/buckets/{b}"),
        &[("Content-Type", "application/json")],
        br#"{"action":"list","name":"","value":{"props":"name,size"}}"#,
    );
    assert_eq!(r.status, 200, "list {b}: {}", r.text());
    let v = r.json();
    v["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries: {v}"))
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                json_size(&e["size"]),
                e["flags"].as_u64().expect("entry flags"),
            )
        })
        .collect()
}

const ENTRY_IS_CHUNKED: u64 = 1 << 13;

/// A listed size: AIS encodes it as a JSON string (`json:"size,string"`).
fn json_size(v: &serde_json::Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("entry size {v}"))
}

// ------------------------------------------------------------------------------------------

#[test]
fn one_gib_chunked_put_spreads_over_4_mountpaths_and_reads_back_exact() {
    // Goal: a 1 GiB PUT over the bucket's objsize_limit is stored as 16 chunks of 64 MiB, each
    // on its HRW mountpath (spread over the 4), HEAD props=chunked says so, a GET is
    // byte-exact, and 200 random Range GETs (across chunk boundaries, the last byte) equal
    // the source.
    let seed = 0x1_6AB5;
    let size: u64 = 1 << 30;
    let chunk: u64 = 64 * MIB;
    let node = Node::start(4);
    node.create_bucket("big");
    set_chunks(
        &node,
        "big",
        r#"{"objsize_limit":"512MiB","chunk_size":"64MiB"}"#,
    );
    let (status, text, sent) = put_streamed(node.port, "big", "gib", seed, size);
    assert_eq!(status, 200, "1 GiB PUT: {text}");

    // On disk: chunks 2..16 in %ch (chunk 1 became %ob/gib), each 64 MiB, each on the HRW
    // mountpath of (upload id, chunk number).
    let files = chunk_files(&node, "big", "gib");
    assert_eq!(files.len(), 15, "chunk files: {files:#?}");
    let ids = chunk_ids(&node, "big", "gib");
    assert_eq!(ids.len(), 1, "one upload id: {ids:?}");
    let id = ids.iter().next().unwrap().clone();
    let set = MountpathSet::new(&node.mountpaths);
    let mut used = BTreeSet::new();
    let obj_mp = set
        .place(engine::hrw::obj_digest("big", "gib"))
        .unwrap()
        .id
        .index();
    let first = node.mountpaths[obj_mp].join("@ais/big/%ob/gib");
    assert_eq!(std::fs::metadata(&first).unwrap().len(), chunk, "chunk 1");
    used.insert(obj_mp);
    for (i, f) in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let num: u16 = name.rsplit('.').next().unwrap().parse().unwrap();
        assert!((2..=16).contains(&num), "{name}");
        assert_eq!(name, format!("gib.{id}.{num:04}"));
        let want = set
            .place(engine::ufest::chunk_digest(&id, num))
            .unwrap()
            .id
            .index();
        assert_eq!(*i, want, "chunk {num} is not on its HRW mountpath");
        assert_eq!(std::fs::metadata(f).unwrap().len(), chunk, "{name} size");
        used.insert(*i);
    }
    let per_mp: Vec<usize> = (0..4)
        .map(|m| files.iter().filter(|(i, _)| *i == m).count() + usize::from(m == obj_mp))
        .collect();
    println!("chunks per mountpath: {per_mp:?} (upload {id})");
    // All 4 hold chunks unless HRW itself put none of 15 random digests on one (~4 %).
    assert!(used.len() >= 3, "chunks on too few mountpaths: {per_mp:?}");
    assert!(
        ufest_files(&node, "big", "gib")
            .iter()
            .all(|f| f.file_name().unwrap() == "gib"),
        "only the completed manifest remains"
    );

    let h = head_chunked(&node, "big", "gib");
    assert_eq!(h.status, 200, "HEAD: {:?}", h.error_message());
    assert_eq!(h.header("ais-chunks-count"), Some("16"));
    assert_eq!(
        h.header("ais-chunks-max-chunk-size"),
        Some(chunk.to_string().as_str())
    );
    assert_eq!(h.header("ais-size"), Some(size.to_string().as_str()));

    let (status, got, digest) = get_streamed(node.port, "big", "gib");
    assert_eq!(status, 200);
    assert_eq!(got, size, "GET length");
    assert_eq!(digest, sent, "GET content digest differs from the source");

    let entries = list_entries(&node, "big");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].1, size, "listed size");
    assert_ne!(
        entries[0].2 & ENTRY_IS_CHUNKED,
        0,
        "chunked flag: {entries:?}"
    );

    let mut rng = Rng(seed);
    for i in 0..200u64 {
        let (start, len) = match i % 5 {
            // Anywhere.
            0 => {
                let len = rng.range(1, 4 * MIB);
                (rng.range(0, size - len), len)
            }
            // Across a chunk boundary.
            1 | 2 => {
                let k = rng.range(1, 15);
                let len = rng.range(2, 3 * MIB);
                let before = rng.range(1, len - 1);
                (k * chunk - before, len)
            }
            // Ending at the last byte.
            3 => {
                let len = rng.range(1, 2 * MIB);
                (size - len, len)
            }
            // One byte: the first or last of a chunk, or the object's last.
            _ => {
                let k = rng.range(0, 16);
                let at = if k == 16 {
                    size - 1
                } else {
                    k * chunk
                        + if rng.next().is_multiple_of(2) {
                            0
                        } else {
                            chunk - 1
                        }
                };
                (at, 1)
            }
        };
        let r = range_get(&node, "big", "gib", start, start + len - 1);
        assert_eq!(r.status, 206, "range {start}+{len}: {}", r.text());
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {start}-{}/{size}", start + len - 1).as_str())
        );
        let want = gen_vec(seed, start, len as usize);
        check_body(
            &Resp { status: 200, ..r },
            &want,
            &format!("range #{i} {start}+{len}"),
        );
    }
}

/// Part `n` (1-based) of the 20-part uploads: sizes differ so that an order mix-up shows.
fn part_data(seed: u64, n: u32) -> Vec<u8> {
    gen_vec(seed + n as u64, 0, 100_000 + 3_001 * n as usize)
}

#[test]
fn multipart_20_parts_out_of_order_in_parallel_and_in_order() {
    // Goal: 20 parts sent shuffled from 4 threads complete into their concatenation in
    // number order with a CRC32C checksum of the whole (the combine of the parts'); the same
    // parts sent in order by one client give the bucket's xxhash2 of the whole.
    let node = Node::start(3);
    node.create_bucket("mpu");
    let port = node.port;
    let seed = 2000;
    let whole: Vec<u8> = (1..=20).flat_map(|n| part_data(seed, n)).collect();

    let id = mpu_create(port, "mpu", "shuffled");
    let mut order: Vec<u32> = (1..=20).collect();
    Rng(7).shuffle(&mut order);
    println!("part order: {order:?}");
    let queue = Arc::new(Mutex::new(order));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (queue, id) = (queue.clone(), id.clone());
            std::thread::spawn(move || loop {
                let Some(n) = queue.lock().unwrap().pop() else {
                    return;
                };
                mpu_part(port, "mpu", "shuffled", &id, n, &part_data(seed, n));
            })
        })
        .collect();
    for t in threads {
        t.join().expect("part thread");
    }
    let r = mpu_complete(port, "mpu", "shuffled", &id, &(1..=20).collect::<Vec<_>>());
    assert_eq!(r.status, 200, "complete: {}", r.text());
    assert_eq!(r.header("ais-checksum-type"), Some("crc32c"));
    assert_eq!(
        r.header("ais-checksum-value"),
        Some(crc32c_hex(&whole).as_str())
    );
    check_body(&node.get("mpu", "shuffled"), &whole, "GET shuffled");
    let h = head_chunked(&node, "mpu", "shuffled");
    assert_eq!(h.status, 200);
    assert_eq!(h.header("ais-checksum-type"), Some("crc32c"));
    assert_eq!(
        h.header("ais-checksum-value"),
        Some(crc32c_hex(&whole).as_str())
    );
    assert_eq!(h.header("ais-chunks-count"), Some("20"));
    assert_eq!(
        h.header("ais-chunks-max-chunk-size"),
        Some((100_000 + 3_001 * 20).to_string().as_str())
    );
    assert!(files_of_upload(&node, &id)
        .iter()
        .all(|f| !f.to_string_lossy().contains("%wk")));

    let id2 = mpu_create(port, "mpu", "ordered");
    for n in 1..=20 {
        mpu_part(port, "mpu", "ordered", &id2, n, &part_data(seed, n));
    }
    let r = mpu_complete(port, "mpu", "ordered", &id2, &(1..=20).collect::<Vec<_>>());
    assert_eq!(r.status, 200, "complete: {}", r.text());
    assert_eq!(r.header("ais-checksum-type"), Some("xxhash2"));
    assert_eq!(
        r.header("ais-checksum-value"),
        Some(xxhash2(&whole).as_str())
    );
    check_body(&node.get("mpu", "ordered"), &whole, "GET ordered");
    let h = head_chunked(&node, "mpu", "ordered");
    assert_eq!(h.header("ais-checksum-type"), Some("xxhash2"));
    assert_eq!(
        h.header("ais-checksum-value"),
        Some(xxhash2(&whole).as_str())
    );

    // Both listed once, with the full size and the chunked flag.
    let entries = list_entries(&node, "mpu");
    assert_eq!(entries.len(), 2, "{entries:?}");
    for (name, size, flags) in &entries {
        assert_eq!(*size, whole.len() as u64, "{name} listed size");
        assert_ne!(flags & ENTRY_IS_CHUNKED, 0, "{name} chunked flag");
    }
}

#[test]
fn duplicate_parts_abort_and_concurrent_uploads() {
    // Goal: a repeated part replaces the earlier one (its file too, also when shorter); abort
    // removes every file of the upload and leaves an existing object as it was; of two uploads
    // of one object the last completion wins and the loser's chunks are gone.
    let node = Node::start(4);
    let port = node.port;
    node.create_bucket("dup");
    set_chunks(&node, "dup", r#"{"checkpoint_every":2}"#);

    // Duplicates.
    let id = mpu_create(port, "dup", "d");
    let (a, b1, b2, c) = (
        gen_vec(1, 0, 70_000),
        gen_vec(2, 0, 90_000),
        gen_vec(3, 0, 30_000),
        gen_vec(4, 0, 50_000),
    );
    mpu_part(port, "dup", "d", &id, 2, &b1);
    mpu_part(port, "dup", "d", &id, 1, &a);
    mpu_part(port, "dup", "d", &id, 3, &c);
    mpu_part(port, "dup", "d", &id, 2, &b2);
    let two: Vec<PathBuf> = chunk_files(&node, "dup", "d")
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| f.to_string_lossy().ends_with(".0002"))
        .collect();
    assert_eq!(two.len(), 1, "part 2 files: {two:?}");
    assert_eq!(
        std::fs::read(&two[0]).unwrap(),
        b2,
        "part 2 holds the last upload"
    );
    let r = mpu_complete(port, "dup", "d", &id, &[1, 2, 3]);
    assert_eq!(r.status, 200, "{}", r.text());
    let want = [a.clone(), b2.clone(), c.clone()].concat();
    check_body(&node.get("dup", "d"), &want, "GET after a duplicate part");
    assert_eq!(node.work_files("dup"), Vec::<PathBuf>::new());

    // Abort: of a new object, then of an upload over an existing one.
    let id = mpu_create(port, "dup", "gone");
    for n in 1..=5 {
        mpu_part(
            port,
            "dup",
            "gone",
            &id,
            n,
            &gen_vec(10 + n as u64, 0, 40_000),
        );
    }
    assert!(
        ufest_files(&node, "dup", "gone").len() == 1,
        "checkpoint_every=2 wrote a partial manifest: {:?}",
        ufest_files(&node, "dup", "gone")
    );
    let r = mpu_abort(port, "dup", "gone", &id);
    assert_eq!(r.status, 200, "abort: {}", r.text());
    eventually("abort leaves nothing", || {
        let left = files_of_upload(&node, &id);
        let wk = node.work_files("dup");
        if left.is_empty() && wk.is_empty() && ufest_files(&node, "dup", "gone").is_empty() {
            Ok(())
        } else {
            Err(format!("left: {left:?}, work files: {wk:?}"))
        }
    });
    assert_eq!(node.get("dup", "gone").status, 404);
    assert_eq!(node.head("dup", "gone").status, 404);
    assert_eq!(
        mpu_part_raw(port, "dup", "gone", &id, "6", b"late").status,
        404
    );
    assert_eq!(mpu_complete(port, "dup", "gone", &id, &[1]).status, 404);
    assert!(!node.list_names("dup").contains(&"gone".to_string()));

    // Abort over the chunked object "d": it stays as it was.
    let id = mpu_create(port, "dup", "d");
    mpu_part(port, "dup", "d", &id, 1, &gen_vec(99, 0, 10_000));
    assert_eq!(mpu_abort(port, "dup", "d", &id).status, 200);
    check_body(&node.get("dup", "d"), &want, "GET after an aborted upload");

    // Two uploads of one object: the last completion wins.
    let x = mpu_create(port, "dup", "race");
    let y = mpu_create(port, "dup", "race");
    assert_ne!(x, y);
    let xs: Vec<Vec<u8>> = (1..=4).map(|n| gen_vec(100 + n, 0, 33_333)).collect();
    let ys: Vec<Vec<u8>> = (1..=3).map(|n| gen_vec(200 + n, 0, 44_444)).collect();
    for n in [1usize, 2, 3] {
        mpu_part(port, "dup", "race", &x, n as u32, &xs[n - 1]);
        mpu_part(port, "dup", "race", &y, n as u32, &ys[n - 1]);
    }
    mpu_part(port, "dup", "race", &x, 4, &xs[3]);
    assert_eq!(
        mpu_complete(port, "dup", "race", &y, &[1, 2, 3]).status,
        200
    );
    check_body(&node.get("dup", "race"), &ys.concat(), "GET after y");
    assert_eq!(
        mpu_complete(port, "dup", "race", &x, &[1, 2, 3, 4]).status,
        200
    );
    check_body(&node.get("dup", "race"), &xs.concat(), "GET after x (last)");
    eventually("the loser's chunks are gone", || {
        let ids = chunk_ids(&node, "dup", "race");
        let ys_left = files_of_upload(&node, &y);
        if ys_left.is_empty() && ids == BTreeSet::from([x.clone()]) {
            Ok(())
        } else {
            Err(format!("ids {ids:?}, files of {y}: {ys_left:?}"))
        }
    });
    let mf = ufest_files(&node, "dup", "race");
    assert_eq!(mf.len(), 1, "one manifest: {mf:?}");
    assert_eq!(mf[0].file_name().unwrap(), "race");
    let h = head_chunked(&node, "dup", "race");
    assert_eq!(h.header("ais-chunks-count"), Some("4"));
}

#[test]
fn overwrite_delete_and_listing_of_chunked_objects() {
    // Goal: a chunked object overwritten by a small PUT, or by another chunked PUT, loses its
    // old chunks and manifest; DELETE removes every chunk and the manifest; a listing shows the
    // chunked object once with its full size and the chunked flag.
    let node = Node::start(4);
    node.create_bucket("ow");
    set_chunks(
        &node,
        "ow",
        r#"{"objsize_limit":"1MiB","chunk_size":"256KiB"}"#,
    );
    let big1 = gen_vec(31, 0, (MIB + MIB / 2 + 123) as usize);
    let r = node.put("ow", "o", &big1);
    assert_eq!(r.status, 200, "{}", r.text());
    let ids1 = chunk_ids(&node, "ow", "o");
    assert_eq!(ids1.len(), 1);
    assert_eq!(
        chunk_files(&node, "ow", "o").len(),
        6,
        "7 chunks, first in %ob"
    );
    assert_eq!(
        head_chunked(&node, "ow", "o").header("ais-chunks-count"),
        Some("7")
    );
    check_body(&node.get("ow", "o"), &big1, "GET chunked");
    // Suffix, open-ended and unsatisfiable ranges of a chunked object.
    let n = big1.len();
    for (spec, from) in [
        ("-1000", n - 1000),
        ("1000000-", 1_000_000),
        ("-300000", n - 300_000),
    ] {
        let r = node.send(
            "GET",
            &opath("ow", "o"),
            &[("Range", &format!("bytes={spec}"))],
            b"",
        );
        assert_eq!(r.status, 206, "bytes={spec}: {}", r.text());
        assert!(r.body == big1[from..], "bytes={spec}: wrong body");
    }
    let r = node.send(
        "GET",
        &opath("ow", "o"),
        &[("Range", &format!("bytes={n}-"))],
        b"",
    );
    assert_eq!(r.status, 416, "range past the end: {}", r.text());
    // Just below the limit: monolithic.
    let small = gen_vec(32, 0, (MIB - 1) as usize);
    assert_eq!(node.put("ow", "mono", &small).status, 200);
    assert!(chunk_files(&node, "ow", "mono").is_empty());
    assert_eq!(
        head_chunked(&node, "ow", "mono").header("ais-chunks-count"),
        None
    );

    let entries = list_entries(&node, "ow");
    assert_eq!(
        entries.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        ["mono", "o"],
        "{entries:?}"
    );
    assert_eq!(entries[1].1, big1.len() as u64, "listed size");
    assert_ne!(entries[1].2 & ENTRY_IS_CHUNKED, 0, "chunked flag");
    assert_eq!(
        entries[0].2 & ENTRY_IS_CHUNKED,
        0,
        "monolithic: no chunked flag"
    );

    // By a small PUT.
    let tiny = b"small now".to_vec();
    assert_eq!(node.put("ow", "o", &tiny).status, 200);
    check_body(&node.get("ow", "o"), &tiny, "GET after a small overwrite");
    eventually("old chunks and manifest removed", || {
        let (c, u) = (chunk_files(&node, "ow", "o"), ufest_files(&node, "ow", "o"));
        if c.is_empty() && u.is_empty() {
            Ok(())
        } else {
            Err(format!("chunks {c:?}, manifests {u:?}"))
        }
    });
    assert_eq!(
        head_chunked(&node, "ow", "o").header("ais-chunks-count"),
        None
    );

    // Chunked again, then by another chunked PUT.
    let big2 = gen_vec(33, 0, (2 * MIB) as usize);
    assert_eq!(node.put("ow", "o", &big2).status, 200);
    let ids2 = chunk_ids(&node, "ow", "o");
    assert_eq!(ids2.len(), 1);
    let big3 = gen_vec(34, 0, (MIB + 5) as usize);
    assert_eq!(node.put("ow", "o", &big3).status, 200);
    check_body(&node.get("ow", "o"), &big3, "GET after a chunked overwrite");
    eventually("only the new version's chunks remain", || {
        let ids = chunk_ids(&node, "ow", "o");
        let old = ids2.iter().next().unwrap();
        if ids.len() == 1 && !ids.contains(old) && files_of_upload(&node, old).is_empty() {
            Ok(())
        } else {
            Err(format!("ids {ids:?}"))
        }
    });
    assert_eq!(
        chunk_files(&node, "ow", "o").len(),
        4,
        "5 chunks, first in %ob"
    );
    let mf = ufest_files(&node, "ow", "o");
    assert_eq!(mf.len(), 1, "{mf:?}");
    assert_eq!(mf[0].file_name().unwrap(), "o");

    // DELETE.
    assert_eq!(node.delete("ow", "o").status, 200);
    assert_eq!(node.get("ow", "o").status, 404);
    eventually("DELETE removes every chunk and the manifest", || {
        let (c, u) = (chunk_files(&node, "ow", "o"), ufest_files(&node, "ow", "o"));
        if c.is_empty() && u.is_empty() {
            Ok(())
        } else {
            Err(format!("chunks {c:?}, manifests {u:?}"))
        }
    });
    for mp in &node.mountpaths {
        assert!(!mp.join("@ais/ow/%ob/o").exists());
    }
    assert_eq!(node.list_names("ow"), ["mono"]);
}

#[test]
fn restart_mid_upload_with_and_without_checkpoints() {
    // Goal: with checkpoint_every=2 an upload survives a SIGTERM restart (parts up to the last
    // checkpoint are kept; a part after it is sent again) and completes byte-exact; with
    // checkpoint_every=0 the upload id is unknown (404) after a restart.
    let mut node = Node::start(3);
    let port = node.port;
    node.create_bucket("rs");
    set_chunks(&node, "rs", r#"{"checkpoint_every":2}"#);
    let parts: Vec<Vec<u8>> = (1..=8)
        .map(|n| gen_vec(300 + n, 0, 60_000 + n as usize))
        .collect();
    let id = mpu_create(port, "rs", "up");
    for n in 1..=5 {
        mpu_part(port, "rs", "up", &id, n, &parts[n as usize - 1]);
    }
    node.create_bucket("rs0");
    let id0 = mpu_create(port, "rs0", "up");
    for n in 1..=3 {
        mpu_part(port, "rs0", "up", &id0, n, &parts[n as usize - 1]);
    }

    assert_eq!(node.stop(), 0, "SIGTERM exit");
    node.restart();

    // Part 5 came after the last checkpoint (parts 1-4): sent again with the rest.
    for n in 5..=8 {
        mpu_part(port, "rs", "up", &id, n, &parts[n as usize - 1]);
    }
    let r = mpu_complete(port, "rs", "up", &id, &(1..=8).collect::<Vec<_>>());
    assert_eq!(r.status, 200, "complete after restart: {}", r.text());
    check_body(&node.get("rs", "up"), &parts.concat(), "GET after restart");

    let r = mpu_part_raw(port, "rs0", "up", &id0, "4", &parts[3]);
    assert_eq!(
        r.status,
        404,
        "part of an uncheckpointed upload: {}",
        r.text()
    );
    let r = mpu_complete(port, "rs0", "up", &id0, &[1, 2, 3]);
    assert_eq!(
        r.status,
        404,
        "complete of an uncheckpointed upload: {}",
        r.text()
    );
    assert_eq!(node.get("rs0", "up").status, 404);
}

#[test]
fn bad_parts_and_completions_are_refused_and_change_nothing() {
    // Goal: part number 0 / 10000 / not a number -> 400; unknown upload id -> 404 for part,
    // complete, abort; complete with a missing part, a gap or an unlisted extra part -> 400 and
    // nothing on disk changes (the old object reads back); a part whose body stops short of its
    // Content-Length is not recorded.
    let node = Node::start(2);
    let port = node.port;
    node.create_bucket("bad");
    let old = b"the old object".to_vec();
    assert_eq!(node.put("bad", "k", &old).status, 200);
    let id = mpu_create(port, "bad", "k");
    for (num, want) in [("0", 400), ("10000", 400), ("x", 400), ("-1", 400)] {
        let r = mpu_part_raw(port, "bad", "k", &id, num, b"data");
        assert_eq!(r.status, want, "partNumber={num}: {}", r.text());
        let m = r.error_message().unwrap_or_default();
        assert!(m.contains("bad/k"), "partNumber={num}: message {m:?}");
    }
    // The largest part number is accepted; completing with it alone is a gap.
    let hi = mpu_create(port, "bad", "k");
    mpu_part(port, "bad", "k", &hi, 9999, b"the last part");
    mpu_part(port, "bad", "k", &hi, 1, b"the first part");
    let r = mpu_complete(port, "bad", "k", &hi, &[1, 9999]);
    assert_eq!(r.status, 400, "complete [1, 9999]: {}", r.text());
    assert_eq!(mpu_abort(port, "bad", "k", &hi).status, 200);
    check_body(&node.get("bad", "k"), &old, "after the refused [1, 9999]");
    let unknown = "NoSuchUpload12345";
    let r = mpu_part_raw(port, "bad", "k", unknown, "1", b"data");
    assert_eq!(r.status, 404, "unknown upload id: {}", r.text());
    assert_eq!(mpu_complete(port, "bad", "k", unknown, &[1]).status, 404);
    assert_eq!(mpu_abort(port, "bad", "k", unknown).status, 404);

    let parts: Vec<Vec<u8>> = (1..=3).map(|n| gen_vec(400 + n, 0, 20_000)).collect();
    for n in 1..=3u32 {
        mpu_part(port, "bad", "k", &id, n, &parts[n as usize - 1]);
    }
    let before = node.snapshot();
    for (nums, what) in [
        (vec![1, 2, 3, 4], "a missing part"),
        (vec![1, 3], "a gap"),
        (vec![1, 2], "an unlisted extra part"),
        (vec![1, 2, 2, 3], "a repeated part"),
        (vec![], "no parts"),
    ] {
        let r = mpu_complete(port, "bad", "k", &id, &nums);
        assert_eq!(r.status, 400, "complete with {what}: {}", r.text());
        let m = r.error_message().unwrap_or_default();
        assert!(m.contains("bad/k"), "complete with {what}: message {m:?}");
        node.wait_snapshot(&before, &format!("complete with {what}"));
        check_body(&node.get("bad", "k"), &old, what);
    }

    // A part body that stops short: the client closes after half of it.
    let mut s = connect(port);
    let head = format!(
        "PUT {}?uploadId={id}&partNumber=4 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
        opath("bad", "k")
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&gen_vec(404, 0, 50_000)).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    drop(s);
    // The node may still be noticing the close (409: a part in flight); then it must say 400.
    let deadline = Instant::now() + Duration::from_secs(10);
    let r = loop {
        let r = mpu_complete(port, "bad", "k", &id, &[1, 2, 3, 4]);
        if r.status != 409 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(r.status, 400, "complete with a short part: {}", r.text());
    let m = r.error_message().unwrap_or_default();
    assert!(m.contains("part 4"), "message {m:?}");
    eventually("no work file of the short part", || {
        let wk = node.work_files("bad");
        wk.is_empty().then_some(()).ok_or(format!("{wk:?}"))
    });
    check_body(&node.get("bad", "k"), &old, "after the short part");

    // The upload is still usable.
    let r = mpu_complete(port, "bad", "k", &id, &[1, 2, 3]);
    assert_eq!(r.status, 200, "{}", r.text());
    check_body(&node.get("bad", "k"), &parts.concat(), "after completion");
}

#[test]
fn corrupt_manifest_or_missing_chunk_is_an_error_naming_the_object() {
    // Goal: a chunked object whose manifest has a flipped byte, one of whose chunk files is
    // gone, or one of whose chunk files is shorter than its manifest says, answers GET, Range GET and HEAD with a 5xx whose message names the object — never
    // a 200 with a short or wrong body.
    let node = Node::start(3);
    node.create_bucket("flt");
    set_chunks(
        &node,
        "flt",
        r#"{"objsize_limit":"64KiB","chunk_size":"16KiB"}"#,
    );
    for o in ["corrupt", "holey", "short"] {
        let r = node.put("flt", o, &gen_vec(500, 0, 100_000));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Neither object has been read yet, so the node has nothing of them cached.
    let mf = ufest_files(&node, "flt", "corrupt");
    assert_eq!(mf.len(), 1, "{mf:?}");
    let mut bytes = std::fs::read(&mf[0]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(&mf[0], &bytes).unwrap();

    let chunks = chunk_files(&node, "flt", "holey");
    assert_eq!(chunks.len(), 6, "{chunks:?}");
    std::fs::remove_file(&chunks[chunks.len() / 2].1).unwrap();

    let chunks = chunk_files(&node, "flt", "short");
    assert_eq!(chunks.len(), 6, "{chunks:?}");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&chunks[1].1)
        .unwrap();
    f.set_len(10_000).unwrap();
    drop(f);

    for o in ["corrupt", "holey", "short"] {
        for _ in 0..2 {
            let r = node.get("flt", o);
            assert!(r.status >= 500, "GET {o}: {} {}", r.status, r.body.len());
            let m = r.error_message().unwrap_or_default();
            assert!(m.contains(&format!("flt/{o}")), "GET {o}: message {m:?}");
            let r = range_get(&node, "flt", o, 10, 60_000);
            assert!(r.status >= 500, "Range GET {o}: {}", r.status);
            let h = head_chunked(&node, "flt", o);
            assert!(h.status >= 500, "HEAD {o}: {}", h.status);
            let m = h.error_message().unwrap_or_default();
            assert!(m.contains(&format!("flt/{o}")), "HEAD {o}: message {m:?}");
        }
    }
}

#[test]
fn chunked_put_cut_short_changes_nothing() {
    // Goal: a chunked PUT whose client goes away after a few chunks leaves the old (chunked)
    // object as it was, and none of the cut PUT's chunks, manifests or work files behind.
    let node = Node::start(3);
    let port = node.port;
    node.create_bucket("cut");
    set_chunks(
        &node,
        "cut",
        r#"{"objsize_limit":"64KiB","chunk_size":"16KiB"}"#,
    );
    let old = gen_vec(600, 0, 200_000);
    assert_eq!(node.put("cut", "o", &old).status, 200);
    let ids = chunk_ids(&node, "cut", "o");
    assert_eq!(ids.len(), 1);

    let mut s = connect(port);
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n",
        opath("cut", "o")
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&gen_vec(601, 0, 70_000)).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    drop(s);

    eventually("the cut PUT leaves nothing", || {
        let now = chunk_ids(&node, "cut", "o");
        let (wk, mf) = (node.work_files("cut"), ufest_files(&node, "cut", "o"));
        if now == ids && wk.is_empty() && mf.len() == 1 {
            Ok(())
        } else {
            Err(format!(
                "upload ids {now:?}, work files {wk:?}, manifests {mf:?}"
            ))
        }
    });
    check_body(&node.get("cut", "o"), &old, "GET after a cut chunked PUT");
    assert_eq!(
        chunk_files(&node, "cut", "o").len(),
        12,
        "13 chunks, first in %ob"
    );
}

/// The `Ais-Custom-Md` values of a response, sorted.
fn custom_md(r: &Resp) -> Vec<String> {
    let mut v: Vec<String> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "ais-custom-md")
        .map(|(_, v)| v.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn upload_custom_metadata_reaches_the_object() {
    // Goal: custom metadata sent with mpt-upload is what the completed object carries (HEAD
    // props=custom), next to the data. (After a restart an upload restored from its
    // checkpoint has lost it, as in AIS, whose partial manifest has no room for it either.)
    let node = Node::start(2);
    let port = node.port;
    node.create_bucket("md");
    let r = request_lenient(
        port,
        "POST",
        &opath("md", "o"),
        &[
            ("Content-Type", "application/json"),
            ("Ais-Custom-Md", "color=blue"),
        ],
        br#"{"action":"mpt-upload"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.text();
    mpu_part(port, "md", "o", &id, 2, &gen_vec(701, 0, 5000));
    mpu_part(port, "md", "o", &id, 1, &gen_vec(700, 0, 5000));
    let r = mpu_complete(port, "md", "o", &id, &[1, 2]);
    assert_eq!(r.status, 200, "{}", r.text());
    let h = node.send(
        "HEAD",
        &format!("{}?props=custom", opath("md", "o")),
        &[],
        b"",
    );
    assert_eq!(h.status, 200);
    assert_eq!(custom_md(&h), ["color=blue"], "custom metadata");
    let want = [gen_vec(700, 0, 5000), gen_vec(701, 0, 5000)].concat();
    check_body(&node.get("md", "o"), &want, "GET");
}

#[test]
fn chunks_props_validated_and_shown_by_head_bucket() {
    // Goal: set-bprops chunks values out of AIS's ranges are refused with 400 and change
    // nothing; accepted ones show in HEAD bucket (Ais-Bucket-Props) and take effect.
    let node = Node::start(1);
    node.create_bucket("pp");
    let props = |node: &Node| {
        let r = node.send("HEAD", "/v1/buckets/pp", &[], b"");
        assert_eq!(r.status, 200);
        let v: serde_json::Value =
            serde_json::from_str(r.header("ais-bucket-props").expect("Ais-Bucket-Props")).unwrap();
        v["chunks"].clone()
    };
    let before = props(&node);
    for bad in [
        r#"{"chunk_size":"512"}"#,
        r#"{"chunk_size":"6GiB"}"#,
        r#"{"objsize_limit":"2TiB"}"#,
        r#"{"max_monolithic_size":"1MiB"}"#,
        r#"{"checkpoint_every":"lots"}"#,
    ] {
        let body = format!(r#"{{"action":"set-bprops","value":{{"chunks":{bad}}}}}"#);
        let r = node.send(
            "PATCH",
            "/v1/buckets/pp",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 400, "chunks {bad}: {}", r.text());
        assert!(r.error_message().is_some(), "chunks {bad}: {}", r.text());
        assert_eq!(props(&node), before, "chunks {bad} changed the props");
    }
    set_chunks(
        &node,
        "pp",
        r#"{"objsize_limit":"8KiB","chunk_size":"4KiB","checkpoint_every":3}"#,
    );
    let p = props(&node);
    assert_eq!(p["objsize_limit"], 8192, "{p}");
    assert_eq!(p["chunk_size"], 4096, "{p}");
    assert_eq!(p["checkpoint_every"], 3, "{p}");
    let data = gen_vec(800, 0, 10_000);
    assert_eq!(node.put("pp", "o", &data).status, 200);
    let h = head_chunked(&node, "pp", "o");
    assert_eq!(h.header("ais-chunks-count"), Some("3"));
    assert_eq!(h.header("ais-chunks-max-chunk-size"), Some("4096"));
    check_body(&node.get("pp", "o"), &data, "GET");
}

#[test]
fn concurrent_completions_of_one_object_leave_one_whole_version() {
    // Goal: two uploads of one object completed at the same moment, ten times over: the object
    // is exactly one of them, it has one manifest, and only the winner's chunks remain.
    let node = Node::start(3);
    let port = node.port;
    node.create_bucket("cc");
    for round in 0..20u64 {
        let mut ups = Vec::new();
        for k in 0..2u64 {
            let id = mpu_create(port, "cc", "o");
            let parts: Vec<Vec<u8>> = (0..4)
                .map(|i| gen_vec(round * 100 + k * 10 + i, 0, 9_000 + k as usize))
                .collect();
            for (i, p) in parts.iter().enumerate() {
                mpu_part(port, "cc", "o", &id, i as u32 + 1, p);
            }
            ups.push((id, parts.concat()));
        }
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let threads: Vec<_> = ups
            .iter()
            .map(|(id, _)| {
                let (id, barrier) = (id.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    mpu_complete(port, "cc", "o", &id, &[1, 2, 3, 4])
                })
            })
            .collect();
        for t in threads {
            let r = t.join().unwrap();
            assert_eq!(r.status, 200, "round {round}: {}", r.text());
        }
        let r = node.get("cc", "o");
        assert_eq!(
            r.status,
            200,
            "round {round}: GET after both completions: {}",
            r.text()
        );
        let win = ups
            .iter()
            .position(|(_, d)| *d == r.body)
            .unwrap_or_else(|| panic!("round {round}: the object is neither upload"));
        let (winner, loser) = (&ups[win].0, &ups[1 - win].0);
        eventually(&format!("round {round}: only the winner's chunks"), || {
            let ids = chunk_ids(&node, "cc", "o");
            let lost = files_of_upload(&node, loser);
            if ids == BTreeSet::from([winner.clone()]) && lost.is_empty() {
                Ok(())
            } else {
                Err(format!("ids {ids:?}, loser's files {lost:?}"))
            }
        });
        let mf = ufest_files(&node, "cc", "o");
        assert_eq!(mf.len(), 1, "round {round}: {mf:?}");
        let h = head_chunked(&node, "cc", "o");
        assert_eq!(h.header("ais-chunks-count"), Some("4"));
        assert_eq!(
            h.header("ais-size"),
            Some(r.body.len().to_string().as_str())
        );
    }
}

#[test]
fn monolithic_put_racing_a_completion_leaves_no_chunks_of_a_replaced_version() {
    // Goal: a small (monolithic) PUT and a completion of the same object at the same moment,
    // twenty times over: the object is exactly one of them; once both are answered, no chunk of
    // a version that is not the visible one remains.
    let node = Node::start(3);
    let port = node.port;
    node.create_bucket("pc");
    for round in 0..20u64 {
        let id = mpu_create(port, "pc", "o");
        let parts: Vec<Vec<u8>> = (0..4).map(|i| gen_vec(round * 10 + i, 0, 9_000)).collect();
        for (i, p) in parts.iter().enumerate() {
            mpu_part(port, "pc", "o", &id, i as u32 + 1, p);
        }
        let small = gen_vec(round + 5000, 0, 1000);
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let b2 = barrier.clone();
        let id2 = id.clone();
        let t = std::thread::spawn(move || {
            b2.wait();
            mpu_complete(port, "pc", "o", &id2, &[1, 2, 3, 4])
        });
        barrier.wait();
        let r = request_lenient(port, "PUT", &opath("pc", "o"), &[], &small);
        assert_eq!(r.status, 200, "round {round}: PUT: {}", r.text());
        let c = t.join().unwrap();
        assert_eq!(c.status, 200, "round {round}: complete: {}", c.text());
        let r = node.get("pc", "o");
        assert_eq!(r.status, 200, "round {round}: GET: {}", r.text());
        if r.body == small {
            eventually(
                &format!("round {round}: no chunks under a monolithic object"),
                || {
                    let (c, u) = (chunk_files(&node, "pc", "o"), ufest_files(&node, "pc", "o"));
                    if c.is_empty() && u.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("chunks {c:?}, manifests {u:?}"))
                    }
                },
            );
        } else {
            assert!(r.body == parts.concat(), "round {round}: neither version");
            assert_eq!(chunk_ids(&node, "pc", "o"), BTreeSet::from([id.clone()]));
        }
    }
}

/// Writes back and drops from the page cache every file under the node's mountpaths, so the
/// next read of an object comes from the disk (as after `echo 3 > drop_caches`, unprivileged).
fn drop_page_cache(node: &Node) {
    for mp in &node.mountpaths {
        for f in files_under(mp) {
            let Ok(file) = std::fs::File::open(&f) else {
                continue;
            };
            file.sync_all().unwrap();
            let fd = engine::io::Fd::from_owned(file.into());
            engine::io::sys::drop_cached_pages(&fd)
                .unwrap_or_else(|e| panic!("fadvise DONTNEED {}: {e}", f.display()));
        }
    }
}

#[test]
fn cold_chunked_reads_with_readahead_are_exact_and_faults_still_error_before_the_head() {
    // Goal: with the chunked-body readahead on and a window smaller than a chunk (so a body
    // goes out in several probed steps per chunk, and the readahead runs across chunk files),
    // GETs and Range GETs of a chunked object whose pages were dropped read back byte-exact,
    // cold and then hot; and an object whose chunk is shorter than its manifest says still
    // answers with a 5xx naming it, before any head (the readahead never hides a fault).
    let node = Node::start_with_args(3, &["--chunk-readahead", "40K"]);
    node.create_bucket("cra");
    set_chunks(
        &node,
        "cra",
        r#"{"objsize_limit":"64KiB","chunk_size":"100KiB"}"#,
    );
    let size = 1_000_003usize; // 10 chunks of 100 KiB and a short last one
    let data = gen_vec(700, 0, size);
    assert_eq!(node.put("cra", "o", &data).status, 200);
    assert_eq!(node.put("cra", "short", &data).status, 200);
    assert_eq!(chunk_files(&node, "cra", "o").len(), 9, "chunk 1 is in %ob");

    let splices0 = node.metric_sum("aisle_core_body_splice_count");
    drop_page_cache(&node);
    check_body(&node.get("cra", "o"), &data, "cold GET");
    check_body(&node.get("cra", "o"), &data, "hot GET");
    let mut rng = Rng(71);
    for i in 0..40 {
        if i % 4 == 0 {
            drop_page_cache(&node);
        }
        let start = rng.range(0, size as u64 - 1);
        let end = rng.range(start, (start + 300_000).min(size as u64 - 1));
        let r = range_get(&node, "cra", "o", start, end);
        assert_eq!(r.status, 206, "range {start}-{end}: {}", r.text());
        let want = &data[start as usize..=end as usize];
        assert!(r.body == want, "range {start}-{end}: content differs");
    }
    // The cold path ran (a miss may be caught by the probe's own readahead, never all of them).
    assert!(
        node.metric_sum("aisle_core_body_splice_count") > splices0,
        "no body step was spliced"
    );

    let chunks = chunk_files(&node, "cra", "short");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&chunks[3].1)
        .unwrap();
    f.set_len(50_000).unwrap();
    drop(f);
    drop_page_cache(&node);
    for _ in 0..2 {
        let r = node.get("cra", "short");
        assert!(r.status >= 500, "GET short: {} {}", r.status, r.body.len());
        let m = r.error_message().unwrap_or_default();
        assert!(m.contains("cra/short"), "GET short: message {m:?}");
        let r = range_get(&node, "cra", "short", 90_000, 500_000);
        assert!(r.status >= 500, "Range GET short: {}", r.status);
    }
    check_body(
        &node.get("cra", "o"),
        &data,
        "GET o after the fault in another object",
    );
}
