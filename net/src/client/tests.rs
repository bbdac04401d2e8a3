//! Tests for the blocking client: URL parsing, the AIS error extractor, and request/response
//! exchanges against a scripted `std::net` server thread that parses requests with this
//! crate's own head parser and chunked decoder.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use super::*;
use crate::chunked::ChunkedDecoder;
use crate::head::{parse_head, RequestHead};

/// A server-side connection: buffered reads of request heads and bodies.
struct ServerConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl ServerConn {
    /// The next request head, or None when the client closed the connection.
    fn read_head(&mut self) -> Option<RequestHead> {
        loop {
            if let Some((head, len)) = parse_head(&self.buf).expect("client sends valid heads") {
                self.buf.drain(..len);
                return Some(head);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 4096];
        match self.stream.read(&mut tmp) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    fn read_body(&mut self, head: &RequestHead) -> Vec<u8> {
        let mut body = Vec::new();
        if head.chunked {
            let mut dec = ChunkedDecoder::new();
            loop {
                let step = dec.step(&self.buf).expect("client sends valid chunks");
                body.extend_from_slice(&self.buf[step.data.clone()]);
                self.buf.drain(..step.consumed);
                if step.done {
                    return body;
                }
                if step.data.is_empty() {
                    assert!(self.fill(), "client closed inside a chunked body");
                }
            }
        }
        let len = head.content_length.unwrap_or(0) as usize;
        while self.buf.len() < len {
            assert!(self.fill(), "client closed inside a body");
        }
        body.extend(self.buf.drain(..len));
        body
    }

    fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to client");
    }
}

/// What the handler wants done with the connection after a request.
#[derive(PartialEq)]
enum After {
    KeepOpen,
    Close,
}

struct TestServer {
    endpoint: String,
    accepted: Arc<AtomicUsize>,
    /// Every request the server saw, with its body (when the handler read it).
    seen: mpsc::Receiver<(RequestHead, Vec<u8>)>,
}

/// Starts a server that handles connections one at a time with `handler`, which gets the
/// request head and must read the body itself (`conn.read_body`) if it wants it.
fn serve<F>(handler: F) -> TestServer
where
    F: Fn(&RequestHead, &mut ServerConn) -> (Vec<u8>, After) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (tx, seen) = mpsc::channel();
    let counter = Arc::clone(&accepted);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut conn = ServerConn {
                stream,
                buf: Vec::new(),
            };
            while let Some(head) = conn.read_head() {
                let (body, after) = handler(&head, &mut conn);
                if tx.send((head, body)).is_err() {
                    return;
                }
                if after == After::Close {
                    break;
                }
            }
        }
    });
    TestServer {
        endpoint,
        accepted,
        seen,
    }
}

fn ok_with_body(conn: &mut ServerConn, head: &RequestHead) -> Vec<u8> {
    let body = conn.read_body(head);
    conn.write(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
    conn.write(&body);
    body
}

#[test]
fn url_parsing() {
    // Goal: the endpoint forms the CLI accepts, and clear errors for the rest.
    let ok = [
        ("http://127.0.0.1:8080", "127.0.0.1:8080", "/"),
        ("http://127.0.0.1:8080/", "127.0.0.1:8080", "/"),
        (
            "HTTP://host:1/v1/objects/b/o?pid=x",
            "host:1",
            "/v1/objects/b/o?pid=x",
        ),
        ("localhost:51080", "localhost:51080", "/"),
        ("http://host", "host:80", "/"),
        ("http://host?x=1", "host:80", "/?x=1"),
        ("http://[::1]:9000/", "[::1]:9000", "/"),
        ("[::1]", "[::1]:80", "/"),
    ];
    for (url, host_port, path) in ok {
        let parsed = parse_http_url(url).expect(url);
        assert_eq!(parsed.host_port, host_port, "{url}");
        assert_eq!(parsed.path_and_query, path, "{url}");
    }
    for bad in [
        "",
        "http://",
        "ftp://h/x",
        "http://h:x",
        "http://h:99999",
        "h:",
        "::1:80",
        "u@h",
    ] {
        assert!(
            matches!(parse_http_url(bad), Err(ClientError::BadEndpoint { .. })),
            "{bad}"
        );
    }
    let https = Client::new("https://h:443").expect_err("https refused");
    assert!(matches!(https, ClientError::HttpsNotSupported));
    assert!(https.to_string().contains("https not supported"));
    assert!(Client::new("http://h:1/prefix").is_err());
    assert_eq!(Client::new("http://h:1/").expect("ok").endpoint(), "h:1");
}

#[test]
fn error_message_extraction() {
    // Goal: "message" is found at top level whatever its position, escapes are decoded, and
    // non-JSON or message-less bodies give None.
    let full = br#"{"tcode":"ErrBckNotFound","message":"bucket \"ais://b\" does not exist","method":"GET","url_path":"/v1/buckets/b","remote_addr":"1.2.3.4:5","caller":"","node":"t[x]","status":404}"#;
    assert_eq!(
        ais_error_message(full).as_deref(),
        Some(r#"bucket "ais://b" does not exist"#)
    );
    let cases: [(&[u8], Option<&str>); 10] = [
        (br#"{"message":"x"}"#, Some("x")),
        (
            br#" { "status" : 404 , "message" : "a\nb\u00e9\ud83d\ude00\/" } "#,
            Some("a\nbé😀/"),
        ),
        (
            br#"{"nested":{"message":"no"},"arr":[1,"]",{"a":[]}],"message":"yes"}"#,
            Some("yes"),
        ),
        (br#"{"message":null}"#, None),
        (br#"{"status":500}"#, None),
        (br#"{}"#, None),
        (b"not json", None),
        (br#"{"message":"unterminated"#, None),
        (br#"{"message":"bad \q escape"}"#, None),
        (br#"{"a":1 "message":"missing comma"}"#, None),
    ];
    for (body, want) in cases {
        assert_eq!(
            ais_error_message(body).as_deref(),
            want,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert_eq!(
        ais_error_message(format!(r#"{{"x":{deep},"message":"m"}}"#).as_bytes()),
        None
    );
}

#[test]
fn content_length_and_keep_alive_reuse() {
    // Goal: requests carry Host/User-Agent/Content-Length, and three requests share one
    // connection when each body is read to the end.
    let server = serve(|head, conn| (ok_with_body(conn, head), After::KeepOpen));
    let mut client = Client::new(&server.endpoint).expect("client");
    for i in 0..3 {
        let payload = format!("hello {i}");
        let resp = client
            .request(
                "PUT",
                "/v1/objects/b/o%20x?provider=ais",
                &[("X-Test", "1")],
                Body::Bytes(payload.as_bytes()),
            )
            .expect("request");
        assert_eq!(resp.status, 200);
        assert!(resp.is_success());
        assert_eq!(
            resp.header("Content-Length"),
            Some(payload.len().to_string().as_str())
        );
        assert_eq!(resp.body_bytes().expect("body"), payload.as_bytes());
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    let (head, body) = server.seen.recv().expect("seen");
    assert_eq!(head.target, "/v1/objects/b/o%20x?provider=ais");
    assert_eq!(head.header_str("host"), Some(client.endpoint()));
    assert_eq!(
        head.header_str("user-agent"),
        Some(concat!("aisle/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(head.header_str("x-test"), Some("1"));
    assert_eq!(head.content_length, Some(7));
    assert_eq!(body, b"hello 0");
}

#[test]
fn chunked_response_and_large_bodies() {
    // Goal: a chunked response with extensions and trailers decodes, and a large request body
    // (streamed Reader) and a chunked request body arrive intact.
    let server = serve(|head, conn| {
        let body = conn.read_body(head);
        let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for piece in body.chunks(70_000) {
            out.extend_from_slice(format!("{:x};ext=1\r\n", piece.len()).as_bytes());
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
        conn.write(&out);
        (body, After::KeepOpen)
    });
    let mut client = Client::new(&server.endpoint).expect("client");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();

    let mut reader = &data[..];
    let resp = client
        .request(
            "PUT",
            "/o",
            &[],
            Body::Reader(&mut reader, data.len() as u64),
        )
        .expect("reader put");
    let mut echoed = Vec::new();
    assert_eq!(
        resp.copy_body_to(&mut echoed).expect("copy"),
        data.len() as u64
    );
    assert_eq!(echoed, data);

    let mut reader = &data[..1000];
    let resp = client
        .request("PUT", "/o", &[], Body::Chunked(&mut reader))
        .expect("chunked put");
    assert_eq!(resp.body_bytes().expect("body"), &data[..1000]);

    let mut empty: &[u8] = &[];
    let resp = client
        .request("PUT", "/o", &[], Body::Chunked(&mut empty))
        .expect("empty chunked");
    assert_eq!(resp.body_bytes().expect("body"), b"");

    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    let (head, body) = server.seen.recv().expect("seen");
    assert_eq!(head.content_length, Some(data.len() as u64));
    assert_eq!(body, data);
    let (head, _) = server.seen.recv().expect("seen");
    assert!(head.chunked);
    assert_eq!(head.content_length, None);
}

#[test]
fn bodiless_responses_keep_connection() {
    // Goal: HEAD (with a Content-Length), 204 and 304 carry no body and leave the connection
    // reusable.
    let server = serve(|head, conn| {
        conn.read_body(head);
        let reply: &[u8] = match head.path.as_str() {
            "/head" => b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\nAis-Present: true\r\n\r\n",
            "/204" => b"HTTP/1.1 204 No Content\r\n\r\n",
            "/304" => b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        };
        conn.write(reply);
        (Vec::new(), After::KeepOpen)
    });
    let mut client = Client::new(&server.endpoint).expect("client");
    let resp = client
        .request("HEAD", "/head", &[], Body::Empty)
        .expect("head");
    assert_eq!(resp.header("content-length"), Some("12345"));
    assert_eq!(resp.header("ais-present"), Some("true"));
    assert_eq!(resp.body_bytes().expect("no body"), b"");
    for path in ["/204", "/304", "/other"] {
        let resp = client.request("GET", path, &[], Body::Empty).expect(path);
        let want: &[u8] = if path == "/other" { b"ok" } else { b"" };
        assert_eq!(resp.body_bytes().expect("body"), want);
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
}

#[test]
fn connection_close_and_stale_connections_reconnect() {
    // Goal: "Connection: close" and a server that silently drops idle connections both lead
    // to a fresh connection, invisibly to the caller.
    let server = serve(|head, conn| {
        conn.read_body(head);
        if head.path == "/close" {
            conn.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nc");
        } else {
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nk");
        }
        // Drop every connection after its request, the way an idle timeout would.
        (Vec::new(), After::Close)
    });
    let mut client = Client::new(&server.endpoint).expect("client");
    assert_eq!(
        client
            .request("GET", "/close", &[], Body::Empty)
            .expect("1")
            .body_bytes()
            .expect("b"),
        b"c"
    );
    for i in 0..3 {
        let resp = client
            .request("POST", "/x", &[], Body::Bytes(b"{}"))
            .expect("request");
        assert_eq!(resp.body_bytes().expect("body"), b"k", "round {i}");
        // Give the server time to close, so the next request finds a dead idle connection.
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 4);
}

#[test]
fn body_until_close() {
    // Goal: a response without length or chunking is read until the server closes.
    let server = serve(|head, conn| {
        conn.read_body(head);
        conn.write(b"HTTP/1.0 200 OK\r\n\r\nall of it");
        (Vec::new(), After::Close)
    });
    let mut client = Client::new(&server.endpoint).expect("client");
    let resp = client
        .request("GET", "/", &[], Body::Empty)
        .expect("request");
    assert_eq!(resp.body_bytes().expect("body"), b"all of it");
}

#[test]
fn truncated_body_is_an_error() {
    // Goal: a body shorter than its Content-Length, or a chunked body cut off, is an error.
    let server = serve(|head, conn| {
        conn.read_body(head);
        if head.path == "/len" {
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
        } else {
            conn.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc");
        }
        (Vec::new(), After::Close)
    });
    let mut client = Client::new(&server.endpoint).expect("client");
    for path in ["/len", "/chunked"] {
        let resp = client
            .request("GET", path, &[], Body::Empty)
            .expect("head ok");
        let err = resp.body_bytes().expect_err("truncated");
        assert!(
            matches!(&err, ClientError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{err}"
        );
    }
}

#[test]
fn expect_continue_final_answer_keeps_body_unread() {
    // Goal: with Expect: 100-continue, a redirect sent before the body means the body reader
    // is untouched; a 100 Continue lets the body through.
    let server = serve(|head, conn| {
        assert!(head.expect_continue);
        if head.path == "/redirect" {
            conn.write(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://t:1/o\r\nContent-Length: 0\r\n\r\n");
            return (Vec::new(), After::Close);
        }
        conn.write(crate::response::CONTINUE_100);
        (ok_with_body(conn, head), After::KeepOpen)
    });
    let mut client = Client::new(&server.endpoint).expect("client");
    let data = b"payload".to_vec();
    let expect = [("Expect", "100-continue")];

    let mut reader = &data[..];
    let resp = client
        .request(
            "PUT",
            "/redirect",
            &expect,
            Body::Reader(&mut reader, data.len() as u64),
        )
        .expect("redirect");
    assert_eq!(resp.status, 307);
    assert_eq!(resp.header("location"), Some("http://t:1/o"));
    drop(resp);
    assert_eq!(reader.len(), data.len(), "body reader must be untouched");

    let resp = client
        .request(
            "PUT",
            "/store",
            &expect,
            Body::Reader(&mut reader, data.len() as u64),
        )
        .expect("store");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_bytes().expect("body"), data);
}

#[test]
fn reader_shorter_than_declared() {
    // Goal: a Reader body that runs dry is reported, not padded or hung.
    let server = serve(|head, conn| (ok_with_body(conn, head), After::Close));
    let mut client = Client::new(&server.endpoint).expect("client");
    let mut reader: &[u8] = b"abc";
    let err = client
        .request("PUT", "/o", &[], Body::Reader(&mut reader, 10))
        .expect_err("short");
    assert!(
        matches!(
            err,
            ClientError::BodyTooShort {
                expected: 10,
                sent: 3
            }
        ),
        "{err}"
    );
}

#[test]
fn invalid_requests_are_refused_locally() {
    // Goal: bad paths, header injection and client-owned framing headers never hit the wire.
    let mut client = Client::new("127.0.0.1:9").expect("client");
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: [Case; 5] = [
        ("GET", "v1/no-slash", &[]),
        ("GET", "/has space", &[]),
        ("G T", "/", &[]),
        ("GET", "/", &[("X-A", "v\r\nInjected: 1")]),
        ("GET", "/", &[("Content-Length", "5")]),
    ];
    for (method, path, headers) in cases {
        let err = client
            .request(method, path, headers, Body::Empty)
            .expect_err("refused");
        assert!(
            matches!(err, ClientError::InvalidRequest(_)),
            "{method} {path}: {err}"
        );
    }
}

#[test]
fn read_timeout() {
    // Goal: a server that never answers yields Timeout after the configured time.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = listener.local_addr().expect("addr").to_string();
    let holder = thread::spawn(move || {
        listener.accept().map(|(s, _)| {
            thread::sleep(Duration::from_millis(500));
            drop(s);
        })
    });
    let mut client = Client::new(&endpoint).expect("client");
    client.set_timeout(Duration::from_millis(100));
    let err = client
        .request("GET", "/", &[], Body::Empty)
        .expect_err("timeout");
    assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    let _ = holder.join();
}

#[test]
fn connect_refused() {
    // Goal: a closed port gives a Connect error naming the address.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut client = Client::new(&format!("127.0.0.1:{port}")).expect("client");
    let err = client
        .request("GET", "/", &[], Body::Empty)
        .expect_err("refused");
    assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&port.to_string()));
}
