//! Ctrl-C during a multipart upload: the `aisle` process, interrupted while a part is in
//! flight, aborts the upload (DELETE `?uploadId=` with mpt-abort), never completes it, and
//! exits 1 saying it was interrupted. The server is scripted so the signal lands mid-part.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use net::head::parse_head;

const AISLE: &str = env!("CARGO_BIN_EXE_aisle");

/// What the server saw: method, target, body.
type Log = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

struct Shared {
    log: Log,
    /// The `aisle` process to interrupt (0 until spawned).
    pid: AtomicU32,
    signalled: AtomicBool,
}

fn read_body(stream: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> Vec<u8> {
    let mut tmp = [0u8; 65536];
    while buf.len() < len {
        match stream.read(&mut tmp) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
    buf.drain(..len.min(buf.len())).collect()
}

fn reply(stream: &mut TcpStream, body: &[u8]) {
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    // The client may have gone; the test's assertions are about what it sent.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn serve_conn(mut stream: TcpStream, shared: &Shared) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        let (head, used) = loop {
            if let Some(parsed) = parse_head(&buf).expect("valid head") {
                break parsed;
            }
            match stream.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        buf.drain(..used);
        let len = usize::try_from(head.content_length.unwrap_or(0)).expect("length");
        let is_part = head.target.contains("partNumber=");
        if is_part && !shared.signalled.swap(true, Ordering::SeqCst) {
            shared.log.lock().expect("log").push((
                head.method_str.clone(),
                head.target.clone(),
                Vec::new(),
            ));
            // The first part: interrupt the client now, then take its body without ever
            // answering, so the part is still in flight when the signal is handled.
            while shared.pid.load(Ordering::SeqCst) == 0 {
                thread::sleep(Duration::from_millis(5));
            }
            let pid = shared.pid.load(Ordering::SeqCst).to_string();
            let status = Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -INT {pid}");
            let _ = stream.write_all(net::response::CONTINUE_100);
            while matches!(stream.read(&mut tmp), Ok(n) if n > 0) {}
            return;
        }
        if head.expect_continue {
            let _ = stream.write_all(net::response::CONTINUE_100);
        }
        let body = read_body(&mut stream, &mut buf, len);
        shared
            .log
            .lock()
            .expect("log")
            .push((head.method_str.clone(), head.target.clone(), body));
        let answer: &[u8] = if head.method_str == "POST" && !head.target.contains("uploadId=") {
            b"UPL-9"
        } else {
            b""
        };
        reply(&mut stream, answer);
    }
}

#[test]
fn ctrl_c_aborts_the_upload() {
    // Goal: SIGINT while a part is being sent ends the command with exit status 1 and
    // "interrupted (Ctrl-C)", after aborting the upload; no completion is ever sent.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shared = Arc::new(Shared {
        log: Log::default(),
        pid: AtomicU32::new(0),
        signalled: AtomicBool::new(false),
    });
    let server_shared = shared.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let shared = server_shared.clone();
            thread::spawn(move || serve_conn(stream, &shared));
        }
    });

    let dir = std::env::temp_dir().join(format!("aisle-cli-intr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("big.bin");
    std::fs::write(&file, vec![3u8; 64 << 20]).expect("write");
    let child = Command::new(AISLE)
        .args(["--endpoint", &url, "put"])
        .arg(&file)
        .args(["ais://b/o", "--part-size", "32MiB", "--parallel", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn aisle");
    shared.pid.store(child.id(), Ordering::SeqCst);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("upload UPL-9 aborted: interrupted (Ctrl-C)"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing reported as uploaded");
    let log = shared.log.lock().expect("log").clone();
    let aborts: Vec<_> = log.iter().filter(|(m, _, _)| m == "DELETE").collect();
    assert_eq!(aborts.len(), 1, "{log:?}");
    assert_eq!(aborts[0].1, "/v1/objects/b/o?provider=ais&uploadId=UPL-9");
    let msg: serde_json::Value = serde_json::from_slice(&aborts[0].2).expect("json");
    assert_eq!(msg["action"], "mpt-abort");
    assert!(
        !log.iter()
            .any(|(m, t, _)| m == "POST" && t.contains("uploadId")),
        "never completed: {log:?}"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
