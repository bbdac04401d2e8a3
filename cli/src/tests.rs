//! End-to-end tests of the commands against scripted in-process HTTP servers: the exact
//! requests the CLI sends, pagination, redirects (as an AIS proxy issues them), uploads with
//! `Expect: 100-continue`, atomic downloads, and error reporting.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

use clap::Parser;
use net::chunked::ChunkedDecoder;
use net::head::{parse_head, RequestHead};

use super::{run, Cli};

/// One connection on the scripted server.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 8192];
        match self.stream.read(&mut tmp) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    fn head(&mut self) -> Option<RequestHead> {
        loop {
            if let Some((head, len)) = parse_head(&self.buf).expect("valid request head") {
                self.buf.drain(..len);
                return Some(head);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn body(&mut self, head: &RequestHead) -> Vec<u8> {
        if head.chunked {
            let mut dec = ChunkedDecoder::new();
            let mut body = Vec::new();
            loop {
                let step = dec.step(&self.buf).expect("valid chunks");
                body.extend_from_slice(&self.buf[step.data.clone()]);
                self.buf.drain(..step.consumed);
                if step.done {
                    return body;
                }
                if step.data.is_empty() {
                    assert!(self.fill(), "closed inside a chunked body");
                }
            }
        }
        let len = head.content_length.unwrap_or(0) as usize;
        while self.buf.len() < len {
            assert!(self.fill(), "closed inside a body");
        }
        self.buf.drain(..len).collect()
    }

    fn reply(&mut self, status: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        self.stream.write_all(out.as_bytes()).expect("write head");
        self.stream.write_all(body).expect("write body");
    }
}

/// A request as the server saw it.
struct Seen {
    head: RequestHead,
    body: Vec<u8>,
}

/// Serves connections one at a time. The handler answers one request and returns the body it
/// read (if any) and whether to keep the connection open.
fn serve<F>(handler: F) -> (String, mpsc::Receiver<Seen>)
where
    F: Fn(&RequestHead, &mut Conn) -> (Vec<u8>, bool) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut conn = Conn {
                stream,
                buf: Vec::new(),
            };
            while let Some(head) = conn.head() {
                let (body, keep) = handler(&head, &mut conn);
                if tx.send(Seen { head, body }).is_err() {
                    return;
                }
                if !keep {
                    break;
                }
            }
        }
    });
    (url, rx)
}

/// Runs `aisle --endpoint URL args...` and returns its stdout, or the error text.
fn aisle(url: &str, args: &[&str]) -> Result<String, String> {
    let argv = ["aisle", "--endpoint", url]
        .into_iter()
        .chain(args.iter().copied());
    let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    run(cli, &mut out).map_err(|e| format!("{e:#}"))?;
    Ok(String::from_utf8(out).expect("utf-8 output"))
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("aisle-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

#[test]
fn bucket_commands() {
    // Goal: create/ls/rm send the SDK's action messages and print their results.
    let (url, seen) = serve(|head, conn| {
        let body = conn.body(head);
        match head.method_str.as_str() {
            "GET" => conn.reply(
                "200 OK",
                &[("Content-Type", "application/json")],
                br#"[{"name":"b1","provider":"ais","namespace":{"uuid":"","name":""}},{"name":"b2","provider":"ais"}]"#,
            ),
            _ => conn.reply("200 OK", &[], b""),
        }
        (body, true)
    });
    assert_eq!(
        aisle(&url, &["bucket", "create", "ais://b1"]).expect("create"),
        "created ais://b1\n"
    );
    let req = seen.recv().expect("seen");
    assert_eq!(
        (req.head.method_str.as_str(), req.head.target.as_str()),
        ("POST", "/v1/buckets/b1?provider=ais")
    );
    assert_eq!(
        req.head.header_str("content-type"),
        Some("application/json")
    );
    let msg: serde_json::Value = serde_json::from_slice(&req.body).expect("json");
    assert_eq!(
        msg,
        serde_json::json!({"action":"create-bck","name":"","value":null})
    );

    assert_eq!(
        aisle(&url, &["bucket", "ls"]).expect("ls"),
        "ais://b1\nais://b2\n"
    );
    let req = seen.recv().expect("seen");
    assert_eq!(
        (req.head.method_str.as_str(), req.head.target.as_str()),
        ("GET", "/v1/buckets?provider=ais")
    );

    assert_eq!(
        aisle(&url, &["bucket", "rm", "b1"]).expect("rm"),
        "destroyed ais://b1\n"
    );
    let req = seen.recv().expect("seen");
    assert_eq!(
        (req.head.method_str.as_str(), req.head.target.as_str()),
        ("DELETE", "/v1/buckets/b1?provider=ais")
    );
    let msg: serde_json::Value = serde_json::from_slice(&req.body).expect("json");
    assert_eq!(msg["action"], "destroy-bck");

    let err = aisle(&url, &["bucket", "create", "ais://b/o"]).expect_err("object refused");
    assert!(err.contains("expected a bucket"), "{err}");
}

#[test]
fn ls_follows_continuation_tokens() {
    // Goal: pages are requested until the token is empty, echoing uuid and token.
    let (url, seen) = serve(|head, conn| {
        let body = conn.body(head);
        let msg: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let reply: &[u8] = match msg["value"]["continuation_token"].as_str() {
            Some("") => br#"{"uuid":"U1","continuation_token":"dir/b","entries":[{"name":"dir/a","size":"1"},{"name":"dir/b","size":"22"}],"flags":0}"#,
            Some("dir/b") => br#"{"uuid":"U1","continuation_token":"","entries":[{"name":"dir/c"}],"flags":0}"#,
            other => panic!("unexpected token {other:?}"),
        };
        conn.reply("200 OK", &[("Content-Type", "application/json")], reply);
        (body, true)
    });
    let out = aisle(&url, &["ls", "ais://b/dir/"]).expect("ls");
    assert_eq!(out, "dir/a\t1\ndir/b\t22\ndir/c\t0\n");
    let first = seen.recv().expect("page 1");
    assert_eq!(first.head.target, "/v1/buckets/b?provider=ais");
    assert_eq!(first.head.header_str("accept"), Some("application/json"));
    let msg: serde_json::Value = serde_json::from_slice(&first.body).expect("json");
    assert_eq!(msg["action"], "list");
    assert_eq!(msg["value"]["prefix"], "dir/");
    assert_eq!(msg["value"]["uuid"], "");
    assert_eq!(msg["value"]["props"], "name,size");
    assert_eq!(msg["value"]["flags"], "0");
    let second = seen.recv().expect("page 2");
    let msg: serde_json::Value = serde_json::from_slice(&second.body).expect("json");
    assert_eq!(msg["value"]["uuid"], "U1");
}

#[test]
fn get_follows_proxy_redirect_and_writes_atomically() {
    // Goal: a 301 from the "proxy" is followed to the "target"; the file appears complete
    // under the object's base name, with no temporary file left; a range is passed on.
    let (target_url, target_seen) = serve(|head, conn| {
        conn.reply(
            "200 OK",
            &[("Ais-Checksum-Type", "xxhash2")],
            b"object bytes",
        );
        (conn.body(head), true)
    });
    let location = format!("{target_url}/v1/objects/b/dir/f%20x.txt?provider=ais&pid=p1&utm=1");
    let (proxy_url, proxy_seen) = serve(move |head, conn| {
        conn.reply(
            "301 Moved Permanently",
            &[("Location", &location)],
            b"<a>moved</a>",
        );
        (conn.body(head), true)
    });
    let dir = temp_dir("get");
    let dest = dir.to_str().expect("utf-8 path");
    let out = aisle(
        &proxy_url,
        &["get", "ais://b/dir/f x.txt", dest, "--range", "bytes=0-99"],
    )
    .expect("get");
    assert!(out.starts_with("GET ais://b/dir/f x.txt => "), "{out}");
    assert_eq!(
        std::fs::read(dir.join("f x.txt")).expect("file"),
        b"object bytes"
    );
    assert_eq!(
        std::fs::read_dir(&dir).expect("ls").count(),
        1,
        "no temporary file left"
    );
    let req = proxy_seen.recv().expect("proxy saw GET");
    assert_eq!(req.head.target, "/v1/objects/b/dir/f%20x.txt?provider=ais");
    let req = target_seen.recv().expect("target saw GET");
    assert_eq!(
        req.head.target,
        "/v1/objects/b/dir/f%20x.txt?provider=ais&pid=p1&utm=1"
    );
    assert_eq!(req.head.header_str("range"), Some("bytes=0-99"));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn put_redirect_resends_body_with_checksum() {
    // Goal: a PUT answered 307 before its body (Expect: 100-continue) is re-sent in full to
    // the target, with the xxhash2 checksum of the file when --cksum is given.
    let (target_url, target_seen) = serve(|head, conn| {
        assert!(head.expect_continue);
        conn.stream
            .write_all(net::response::CONTINUE_100)
            .expect("100");
        let body = conn.body(head);
        conn.reply("200 OK", &[], b"");
        (body, true)
    });
    let location = format!("{target_url}/v1/objects/b/renamed.bin?provider=ais&pid=p&utm=2");
    let (proxy_url, proxy_seen) = serve(move |_head, conn| {
        conn.reply(
            "307 Temporary Redirect",
            &[("Location", &location), ("Connection", "close")],
            b"",
        );
        (Vec::new(), false)
    });
    let dir = temp_dir("put");
    let file = dir.join("local.bin");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).expect("write");
    let file_arg = file.to_str().expect("utf-8 path");
    let out = aisle(&proxy_url, &["put", file_arg, "ais://b", "--cksum"]).expect("put");
    assert!(
        out.ends_with("=> ais://b/local.bin (200000 bytes)\n"),
        "{out}"
    );
    let req = proxy_seen.recv().expect("proxy saw PUT");
    assert_eq!(req.head.target, "/v1/objects/b/local.bin?provider=ais");
    let req = target_seen.recv().expect("target saw PUT");
    assert_eq!(req.body, data);
    assert_eq!(req.head.content_length, Some(data.len() as u64));
    assert_eq!(req.head.header_str("ais-checksum-type"), Some("xxhash2"));
    let want = format!("{:016x}", xxhash_rust::xxh64::xxh64(&data, 0));
    assert_eq!(
        req.head.header_str("ais-checksum-value"),
        Some(want.as_str())
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn errors_carry_status_and_ais_message() {
    // Goal: JSON error bodies and the HEAD-only Hdr-Error header both produce
    // "<status> <message>", and a failed GET creates no file.
    let (url, _seen) = serve(|head, conn| {
        let body = conn.body(head);
        let json = r#"{"message":"ais://b/o does not exist","method":"GET","status":404}"#;
        if head.method_str == "HEAD" {
            conn.stream
                .write_all(
                    format!(
                        "HTTP/1.1 404 Not Found\r\nHdr-Error: {json}\r\nContent-Length: 0\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .expect("write");
        } else {
            conn.reply(
                "404 Not Found",
                &[("Content-Type", "application/json")],
                json.as_bytes(),
            );
        }
        (body, true)
    });
    let err = aisle(&url, &["object", "head", "ais://b/o"]).expect_err("404");
    assert_eq!(err, "404 ais://b/o does not exist");
    let err = aisle(&url, &["object", "rm", "ais://b/o"]).expect_err("404");
    assert_eq!(err, "404 ais://b/o does not exist");
    let dir = temp_dir("get404");
    let dest = dir.join("out.bin");
    let err = aisle(&url, &["get", "ais://b/o", dest.to_str().expect("utf-8")]).expect_err("404");
    assert_eq!(err, "404 ais://b/o does not exist");
    assert_eq!(
        std::fs::read_dir(&dir).expect("ls").count(),
        0,
        "failed GET leaves no file"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn object_head_prints_ais_headers() {
    // Goal: only Ais-* headers and Content-Length are printed, canonically cased.
    let (url, seen) = serve(|head, conn| {
        let body = conn.body(head);
        conn.stream
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\nais-checksum-type: xxhash2\r\n\
                  Ais-Checksum-Value: 0123456789abcdef\r\nDate: today\r\nAis-Present: true\r\n\r\n",
            )
            .expect("write");
        (body, true)
    });
    let out = aisle(&url, &["object", "head", "ais://b/o"]).expect("head");
    assert_eq!(
        out,
        "Content-Length: 42\nAis-Checksum-Type: xxhash2\nAis-Checksum-Value: 0123456789abcdef\nAis-Present: true\n"
    );
    assert_eq!(seen.recv().expect("seen").head.method_str, "HEAD");
}

#[test]
fn argument_errors() {
    // Goal: bad ais:// arguments fail before any connection (the endpoint does not exist).
    let url = "http://127.0.0.1:1";
    assert!(aisle(url, &["get", "s3://b/o"])
        .expect_err("scheme")
        .contains("only ais://"));
    assert!(aisle(url, &["get", "ais://b"])
        .expect_err("no object")
        .contains("object name is required"));
    assert!(aisle(url, &["put", "-", "ais://b"])
        .expect_err("stdin")
        .contains("name the object"));
    assert!(aisle("https://h", &["bucket", "ls"])
        .expect_err("https")
        .contains("https not supported"));
}

/// Like [`serve`], but each connection on its own thread (for parallel uploads); the
/// handler records what it saw itself.
fn serve_concurrent<F>(handler: F) -> String
where
    F: Fn(&RequestHead, &mut Conn) -> bool + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let handler = std::sync::Arc::new(handler);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let handler = handler.clone();
            thread::spawn(move || {
                let mut conn = Conn {
                    stream,
                    buf: Vec::new(),
                };
                while let Some(head) = conn.head() {
                    if !handler(&head, &mut conn) {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// Requests a scripted server saw, recorded before each reply is sent (so all of them are
/// there once the command has returned).
type Log = std::sync::Arc<std::sync::Mutex<Vec<Seen>>>;

fn taken(log: &Log) -> Vec<Seen> {
    std::mem::take(&mut *log.lock().expect("log"))
}

/// A multipart server: mpt-upload answers `UPL-1`; parts are read and stored (part
/// `fail_part` is refused with a 500 before its body); completion and abort answer 200.
fn multipart_server(fail_part: Option<u32>) -> (String, Log) {
    let log = Log::default();
    let log2 = log.clone();
    let url = serve_concurrent(move |head, conn| {
        let target = head.target.clone();
        let part = part_number(&target);
        let record = |body: Vec<u8>| {
            log2.lock().expect("log").push(Seen {
                head: head.clone(),
                body,
            });
        };
        match (head.method_str.as_str(), part) {
            ("PUT", Some(n)) if Some(n) == fail_part => {
                record(Vec::new());
                let json = br#"{"message":"disk on fire","status":500}"#;
                conn.reply(
                    "500 Internal Server Error",
                    &[("Connection", "close")],
                    json,
                );
                false
            }
            ("PUT", Some(_)) => {
                conn.stream
                    .write_all(net::response::CONTINUE_100)
                    .expect("100");
                record(conn.body(head));
                conn.reply("200 OK", &[], b"");
                true
            }
            ("POST", _) if !target.contains("uploadId=") => {
                record(conn.body(head));
                conn.reply("200 OK", &[("Content-Type", "text/plain")], b"UPL-1");
                true
            }
            _ => {
                record(conn.body(head));
                conn.reply(
                    "200 OK",
                    &[
                        ("Ais-Checksum-Type", "xxhash2"),
                        ("Ais-Checksum-Value", "00000000000000aa"),
                    ],
                    b"",
                );
                true
            }
        }
    });
    (url, log)
}

fn part_number(target: &str) -> Option<u32> {
    target
        .split_once("partNumber=")
        .and_then(|(_, n)| n.parse().ok())
}

#[test]
fn large_put_goes_as_parallel_multipart_upload() {
    // Goal: a file larger than --part-size is sent as mpt-upload, every part exactly once
    // with its byte range (the last part short), then mpt-complete listing all parts.
    let (url, seen) = multipart_server(None);
    let dir = temp_dir("mpu-ok");
    let file = dir.join("big.bin");
    let data: Vec<u8> = (0..5 * 1024 + 100u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).expect("write");
    let out = aisle(
        &url,
        &[
            "put",
            file.to_str().expect("utf-8"),
            "ais://b/obj",
            "--part-size",
            "1KiB",
            "--parallel",
            "3",
            "--cksum",
        ],
    )
    .expect("put");
    assert!(
        out.ends_with(
            "=> ais://b/obj (5220 bytes, 6 parts of 1KiB, 3 in parallel, xxhash2:00000000000000aa)\n"
        ),
        "{out}"
    );
    let reqs = taken(&seen);
    assert_eq!(reqs.len(), 8, "create + 6 parts + complete");
    let create = &reqs[0];
    assert_eq!(
        (create.head.method_str.as_str(), create.head.target.as_str()),
        ("POST", "/v1/objects/b/obj?provider=ais")
    );
    let mut parts: Vec<(u32, &Seen)> = reqs
        .iter()
        .filter_map(|r| part_number(&r.head.target).map(|n| (n, r)))
        .collect();
    parts.sort_by_key(|(n, _)| *n);
    assert_eq!(
        parts.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    for (n, r) in &parts {
        let start = (*n as usize - 1) * 1024;
        let end = (start + 1024).min(data.len());
        assert!(
            r.head.target.contains("uploadId=UPL-1&"),
            "{}",
            r.head.target
        );
        assert_eq!(r.body, &data[start..end], "part {n}");
        let want = format!("{:016x}", xxhash_rust::xxh64::xxh64(&data[start..end], 0));
        assert_eq!(r.head.header_str("ais-checksum-value"), Some(want.as_str()));
    }
    let complete = reqs.last().expect("complete");
    assert_eq!(
        (
            complete.head.method_str.as_str(),
            complete.head.target.as_str()
        ),
        ("POST", "/v1/objects/b/obj?provider=ais&uploadId=UPL-1")
    );
    let msg: serde_json::Value = serde_json::from_slice(&complete.body).expect("json");
    assert_eq!(msg["action"], "mpt-complete");
    let listed: Vec<u64> = msg["value"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["part-number"].as_u64().expect("number"))
        .collect();
    assert_eq!(listed, vec![1, 2, 3, 4, 5, 6]);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn failed_part_aborts_the_upload() {
    // Goal: one refused part makes the command fail naming the part and the server's
    // message; the upload is aborted (DELETE ?uploadId with mpt-abort) and never completed.
    let (url, seen) = multipart_server(Some(3));
    let dir = temp_dir("mpu-fail");
    let file = dir.join("big.bin");
    std::fs::write(&file, vec![7u8; 6 * 1024]).expect("write");
    let err = aisle(
        &url,
        &[
            "put",
            file.to_str().expect("utf-8"),
            "ais://b/obj",
            "--part-size",
            "1KiB",
            "--parallel",
            "2",
        ],
    )
    .expect_err("part 3 fails");
    assert!(
        err.contains(
            "failed; upload UPL-1 aborted: part 3 of 6 (bytes 2048-3071): 500 disk on fire"
        ),
        "{err}"
    );
    let reqs = taken(&seen);
    let aborts: Vec<&Seen> = reqs
        .iter()
        .filter(|r| r.head.method_str == "DELETE")
        .collect();
    assert_eq!(aborts.len(), 1);
    assert_eq!(
        aborts[0].head.target,
        "/v1/objects/b/obj?provider=ais&uploadId=UPL-1"
    );
    let msg: serde_json::Value = serde_json::from_slice(&aborts[0].body).expect("json");
    assert_eq!(msg["action"], "mpt-abort");
    assert!(
        !reqs
            .iter()
            .any(|r| r.head.method_str == "POST" && r.head.target.contains("uploadId")),
        "never completed"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn no_multipart_and_small_files_use_one_put() {
    // Goal: --no-multipart, or a file not larger than the part size, is one plain PUT.
    let (url, seen) = multipart_server(None);
    let dir = temp_dir("mpu-single");
    let file = dir.join("f.bin");
    std::fs::write(&file, vec![1u8; 4096]).expect("write");
    let path = file.to_str().expect("utf-8");
    for args in [
        vec![
            "put",
            path,
            "ais://b/o",
            "--part-size",
            "1KiB",
            "--no-multipart",
        ],
        vec!["put", path, "ais://b/o", "--part-size", "4KiB"],
    ] {
        let out = aisle(&url, &args).expect("put");
        assert!(out.ends_with("=> ais://b/o (4096 bytes)\n"), "{out}");
        let reqs = taken(&seen);
        assert_eq!(reqs.len(), 1, "{args:?}");
        assert_eq!(
            (
                reqs[0].head.method_str.as_str(),
                reqs[0].head.target.as_str()
            ),
            ("PUT", "/v1/objects/b/o?provider=ais")
        );
        assert_eq!(reqs[0].body.len(), 4096);
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn part_size_and_parallel_are_validated() {
    // Goal: unusable sizes and parallelism are refused by the argument parser, before any
    // connection; too many parts is refused before the upload starts.
    let url = "http://127.0.0.1:1";
    for (flag, value, want) in [
        ("--part-size", "0", "at least 1KiB"),
        ("--part-size", "12XB", "unknown size unit"),
        ("--parallel", "0", "--parallel"),
    ] {
        let err = aisle(url, &["put", "/dev/null", "ais://b/o", flag, value]).expect_err(value);
        assert!(err.contains(want), "{flag} {value}: {err}");
    }
    let dir = temp_dir("mpu-many");
    let file = dir.join("f.bin");
    std::fs::write(&file, vec![0u8; 10_000 * 1024]).expect("write");
    let err = aisle(
        url,
        &[
            "put",
            file.to_str().expect("utf-8"),
            "ais://b/o",
            "--part-size",
            "1KiB",
        ],
    )
    .expect_err("too many parts");
    assert!(err.contains("more than AIS's 9999"), "{err}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// A scripted node for the job commands: `start` answers `JOBID-00001`; the status of that
/// job reports running for the first `running_polls` polls, then ended (aborted if `aborted`).
fn job_server(running_polls: usize, aborted: bool) -> (String, mpsc::Receiver<Seen>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let polls = std::sync::Arc::new(AtomicUsize::new(0));
    serve(move |head, conn| {
        let body = conn.body(head);
        let msg: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let ended = polls.load(Ordering::SeqCst) >= running_polls;
        let end_time = if ended {
            1_700_000_000_123_000_000i64
        } else {
            0
        };
        let end_str = if ended {
            "2023-11-14T22:13:20.123Z"
        } else {
            "0001-01-01T00:00:00Z"
        };
        let snap = serde_json::json!({
            "id": "JOBID-00001", "kind": "resilver", "start-time": "2023-11-14T22:13:19Z",
            "end-time": end_str, "bck": {"name": "", "provider": ""},
            "stats": {"loc-objs": "3", "loc-bytes": "3072"}, "aborted": aborted && ended,
            "abort-err": if aborted && ended { "stopped by the user" } else { "" }, "err": "",
            "is_idle": ended, "aisle": {"state": if !ended { "running" } else if aborted { "aborted" } else { "finished" }, "visited": "10"}
        });
        let json = [("Content-Type", "application/json")];
        match (head.method_str.as_str(), head.target.as_str()) {
            ("PUT", "/v1/cluster") if msg["action"] == "start" => {
                conn.reply("200 OK", &[], b"JOBID-00001")
            }
            ("PUT", "/v1/cluster") => conn.reply("200 OK", &[], b""),
            ("GET", "/v1/cluster?what=status") => {
                polls.fetch_add(1, Ordering::SeqCst);
                let st = serde_json::json!({"kind": "resilver", "uuid": "JOBID-00001",
                    "err": if aborted && ended { "stopped by the user" } else { "" },
                    "end_time": end_time, "aborted": aborted && ended});
                conn.reply("200 OK", &json, st.to_string().as_bytes())
            }
            ("GET", "/v1/cluster?what=qryxstats") if msg["id"] == "NOPE-0000001" => conn.reply(
                "404 Not Found",
                &json,
                br#"{"message":"xaction \"ID=NOPE-0000001\" not found","status":404}"#,
            ),
            ("GET", "/v1/cluster?what=qryxstats") if msg["id"] == "JOBID-00001" => {
                let mut one = snap.clone();
                one["aisle"]["items"] = serde_json::json!(["/mp1/@ais/c/%wk/put.1", "/mp2/x"]);
                one["aisle"]["items-dropped"] = serde_json::json!("5");
                let v = serde_json::json!({ "t1": [one] });
                conn.reply("200 OK", &json, v.to_string().as_bytes())
            }
            ("GET", "/v1/cluster?what=qryxstats") => {
                let other = serde_json::json!({
                    "id": "OTHERID-02", "kind": "make-n-copies", "start-time": "2023-11-14T22:00:00Z",
                    "end-time": "2023-11-14T22:01:00Z", "bck": {"name": "m", "provider": "ais"},
                    "stats": {"loc-objs": "20", "loc-bytes": "2048"}, "aborted": false,
                    "err": "EIO on /mp2"
                });
                let v = serde_json::json!({"t1": [snap, other]});
                conn.reply("200 OK", &json, v.to_string().as_bytes())
            }
            _ => conn.reply("400 Bad Request", &[], b"unexpected"),
        }
        (body, true)
    })
}

fn seen_json(seen: &mpsc::Receiver<Seen>) -> (String, String, serde_json::Value) {
    let s = seen.recv().expect("seen");
    let v = serde_json::from_slice(&s.body).unwrap_or_default();
    (s.head.method_str.clone(), s.head.target.clone(), v)
}

#[test]
fn start_sends_ais_args_and_prints_the_job_id() {
    // Goal: `start resilver` and `start make-n-copies` send AIS's start action with the
    // ArgsMsg the SDK sends (plus aisle's copies) and print the job id alone.
    let (url, seen) = job_server(0, false);
    assert_eq!(
        aisle(&url, &["start", "resilver"]).expect("start"),
        "JOBID-00001\n"
    );
    let (m, t, v) = seen_json(&seen);
    assert_eq!((m.as_str(), t.as_str()), ("PUT", "/v1/cluster"));
    assert_eq!(v["action"], "start");
    assert_eq!(v["value"]["Kind"], "resilver");
    assert_eq!(v["value"]["Bck"], serde_json::Value::Null);

    aisle(
        &url,
        &["start", "make-n-copies", "ais://m", "--copies", "2"],
    )
    .expect("mirror");
    let (_, _, v) = seen_json(&seen);
    assert_eq!(v["value"]["Kind"], "make-n-copies");
    assert_eq!(v["value"]["Bck"]["name"], "m");
    assert_eq!(v["value"]["Bck"]["provider"], "ais");
    assert_eq!(v["value"]["copies"], 2);

    let e = aisle(&url, &["start", "make-n-copies", "ais://m"]).expect_err("no --copies");
    assert!(e.contains("--copies"), "{e}");
    let e = aisle(
        &url,
        &["start", "make-n-copies", "ais://m/o", "--copies", "2"],
    )
    .expect_err("object");
    assert!(e.contains("expected a bucket"), "{e}");
    let e = aisle(&url, &["start", "resilver", "--timeout", "5s"]).expect_err("needs --wait");
    assert!(e.contains("--wait"), "{e}");
}

#[test]
fn start_wait_polls_status_until_the_end() {
    // Goal: `--wait` polls `what=status` until the job has an end time, then prints the counts.
    let (url, seen) = job_server(2, false);
    let out = aisle(&url, &["start", "resilver", "--wait", "--timeout", "1m"]).expect("wait");
    assert_eq!(
        out,
        "JOBID-00001\nresilver[JOBID-00001] finished: 3 objects, 3KiB\n"
    );
    let targets: Vec<String> = seen.try_iter().map(|s| s.head.target).collect();
    let polls = targets
        .iter()
        .filter(|t| *t == "/v1/cluster?what=status")
        .count();
    assert_eq!(
        polls, 3,
        "two running polls, then the ended one: {targets:?}"
    );
}

#[test]
fn wait_fails_on_abort_and_on_timeout() {
    // Goal: an aborted job and a job that outlives --timeout both end `wait job` with an error.
    let (url, _seen) = job_server(0, true);
    let e = aisle(&url, &["wait", "job", "JOBID-00001"]).expect_err("aborted");
    assert!(
        e.contains("aborted") && e.contains("stopped by the user"),
        "{e}"
    );
    let (url, _seen) = job_server(usize::MAX, false);
    let e =
        aisle(&url, &["wait", "job", "JOBID-00001", "--timeout", "300ms"]).expect_err("timeout");
    assert!(e.contains("timed out"), "{e}");
    let e = aisle(&url, &["wait", "job", "JOBID-00001", "--timeout", "soon"]).expect_err("dur");
    assert!(e.contains("duration"), "{e}");
    let e = aisle(&url, &["wait", "job", "resilver"]).expect_err("kind");
    assert!(e.contains("job kind"), "{e}");
}

#[test]
fn show_job_prints_a_table_and_stop_job_picks_id_or_kind() {
    // Goal: `show job` queries qryxstats (running only unless --all, by kind or id) and prints
    // one row per job with its counters, times and state, errors after the table; `stop job`
    // sends the id or the kind; a 404 is an error with AIS's message.
    let (url, seen) = job_server(0, false);
    let out = aisle(&url, &["show", "job", "--all"]).expect("show");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("ID") && lines[0].ends_with("STATE"),
        "{out}"
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "OTHERID-02",
            "make-n-copies",
            "ais://m",
            "20",
            "2KiB",
            "22:00:00",
            "22:01:00",
            "finished"
        ]
    );
    let cells: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "JOBID-00001",
            "resilver",
            "-",
            "3",
            "3KiB",
            "22:13:19",
            "22:13:20",
            "finished"
        ]
    );
    assert_eq!(lines[3], "OTHERID-02: error: EIO on /mp2");
    let (m, t, v) = seen_json(&seen);
    assert_eq!(
        (m.as_str(), t.as_str()),
        ("GET", "/v1/cluster?what=qryxstats")
    );
    assert_eq!(v["show_active"], false);

    aisle(&url, &["show", "job", "resilver"]).expect("by kind");
    let (_, _, v) = seen_json(&seen);
    assert_eq!(
        (v["kind"].as_str(), v["show_active"].as_bool()),
        (Some("resilver"), Some(true))
    );
    let out = aisle(&url, &["show", "job", "JOBID-00001"]).expect("by id");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[2..],
        ["/mp1/@ais/c/%wk/put.1", "/mp2/x", "... and 5 more"],
        "one job by id: its items follow the table\n{out}"
    );
    let (_, _, v) = seen_json(&seen);
    assert_eq!(
        (v["id"].as_str(), v["kind"].as_str()),
        (Some("JOBID-00001"), Some(""))
    );
    let e = aisle(&url, &["show", "job", "NOPE-0000001"]).expect_err("404");
    assert_eq!(e, "404 xaction \"ID=NOPE-0000001\" not found");
    let _ = seen_json(&seen);

    assert_eq!(
        aisle(&url, &["stop", "job", "JOBID-00001"]).expect("stop"),
        "stopped JOBID-00001\n"
    );
    let (_, _, v) = seen_json(&seen);
    assert_eq!(
        (v["action"].as_str(), v["value"]["ID"].as_str()),
        (Some("stop"), Some("JOBID-00001"))
    );
    aisle(&url, &["stop", "job", "resilver"]).expect("stop kind");
    let (_, _, v) = seen_json(&seen);
    assert_eq!(
        (v["value"]["ID"].as_str(), v["value"]["Kind"].as_str()),
        (Some(""), Some("resilver"))
    );
}

#[test]
fn start_request_carries_cleanup_flags_and_force() {
    // Goal: space cleanup's flags and Force go where AIS's ArgsMsg has them.
    let r =
        crate::job::start_request_with("cleanup-store", Some("b"), None, 1 | 8 | (1 << 16), true);
    let v: serde_json::Value =
        serde_json::from_str(r.json.as_deref().expect("body")).expect("json");
    assert_eq!(v["action"], "start");
    assert_eq!(v["value"]["Kind"], "cleanup-store");
    assert_eq!(v["value"]["flags"], 1 | 8 | (1 << 16));
    assert_eq!(v["value"]["Force"], true);
    assert_eq!(v["value"]["Bck"]["name"], "b");
    let r = crate::job::start_request("resilver", None, None);
    let v: serde_json::Value =
        serde_json::from_str(r.json.as_deref().expect("body")).expect("json");
    assert!(v["value"].get("flags").is_none() && v["value"].get("Force").is_none());
}
