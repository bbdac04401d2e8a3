//! A small blocking HTTP/1.1 client over `std::net::TcpStream`, for the CLI and integration
//! tests.
//!
//! One [`Client`] talks to one endpoint over one keep-alive connection. A [`Response`] owns the
//! connection while its body is read and hands it back to the client once the body has been
//! read to the end; a response dropped early closes it. A reused connection that turns out to
//! be dead is replaced, and the request re-sent, when that is safe: no response byte arrived and
//! the body can be replayed. Redirects are not followed here; the caller sees 3xx responses.
//!
//! With an `Expect: 100-continue` request header the client sends the head, waits briefly for
//! `100 Continue`, and does not send the body if a final status (a redirect, an error) arrives
//! first. The body reader is then untouched and can be sent elsewhere.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;

use crate::framer::{header_slots, Event, FrameError, ResponseFramer};
pub use crate::framer::{RESPONSE_HEADERS_MAX, RESPONSE_HEAD_BYTES_MAX};

mod ais_error;
pub use ais_error::ais_error_message;

/// Default read, write and connect timeout.
pub const TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);
/// How long an `Expect: 100-continue` request waits for an answer before sending the body
/// anyway (RFC 9110 §10.1.1 lets a client stop waiting).
pub const EXPECT_WAIT: Duration = Duration::from_secs(1);
/// Size of the connection read buffer and of body copy buffers.
const IO_BUF_BYTES: usize = 64 * 1024;
/// Request bodies up to this size are written together with the head, in one write.
const SMALL_BODY_BYTES_MAX: usize = 16 * 1024;

const _: () = assert!(RESPONSE_HEAD_BYTES_MAX >= IO_BUF_BYTES);

/// Errors from [`Client`] and [`Response`].
#[derive(Debug, Error)]
pub enum ClientError {
    /// The endpoint or URL uses `https://`.
    #[error("https not supported (aisle speaks plain HTTP; use an http:// endpoint)")]
    HttpsNotSupported,
    /// The endpoint or URL could not be understood.
    #[error("bad endpoint {url:?}: {why}")]
    BadEndpoint {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// No address of the endpoint accepted a connection.
    #[error("cannot connect to {addr}: {error}")]
    Connect {
        /// `host:port` as given.
        addr: String,
        /// The last connect error.
        error: io::Error,
    },
    /// The request itself is invalid (bad path, header, or a header the client sets itself).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The server did not answer within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The server's response is not valid HTTP/1.1.
    #[error("malformed response: {0}")]
    MalformedResponse(String),
    /// A [`Body::Reader`] ran dry before its declared length.
    #[error("request body ended after {sent} of {expected} bytes")]
    BodyTooShort {
        /// The declared length.
        expected: u64,
        /// Bytes the reader produced.
        sent: u64,
    },
    /// Reading a [`Body::Reader`] or [`Body::Chunked`] source failed.
    #[error("reading the request body: {0}")]
    BodyRead(io::Error),
    /// Any other I/O error, including a connection closed mid-response.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A request body.
pub enum Body<'a> {
    /// No body (`Content-Length: 0`).
    Empty,
    /// An in-memory body.
    Bytes(&'a [u8]),
    /// A streamed body of exactly this many bytes; extra bytes in the reader are not read.
    Reader(&'a mut dyn Read, u64),
    /// A streamed body of unknown length, sent with `Transfer-Encoding: chunked`.
    Chunked(&'a mut dyn Read),
}

impl Body<'_> {
    /// The body can be sent again after a partial attempt.
    fn replayable(&self) -> bool {
        matches!(self, Body::Empty | Body::Bytes(_))
    }
}

/// A parsed `http://host[:port][/path]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `host:port` (port 80 when none was given), usable for connecting and as `Host`.
    pub host_port: String,
    /// The path and query, starting with `/` (just `/` when the URL has none).
    pub path_and_query: String,
}

/// Splits an absolute `http://` URL. A bare `host:port` (no scheme) is accepted too.
pub fn parse_http_url(url: &str) -> Result<HttpUrl, ClientError> {
    let bad = |why| ClientError::BadEndpoint {
        url: url.to_owned(),
        why,
    };
    let rest = if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        rest
    } else if strip_prefix_ignore_case(url, "https://").is_some() {
        return Err(ClientError::HttpsNotSupported);
    } else if url.contains("://") {
        return Err(bad("only http:// is supported"));
    } else {
        url
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.is_empty() {
        return Err(bad("missing host"));
    }
    if authority.contains('@') {
        return Err(bad("credentials in URLs are not supported"));
    }
    if !authority.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("invalid character in host"));
    }
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => {
            let close = v6.find(']').ok_or_else(|| bad("unclosed '[' in host"))?;
            let after = &v6[close + 1..];
            if !after.is_empty() && !after.starts_with(':') {
                return Err(bad("junk after IPv6 address"));
            }
            !after.is_empty()
        }
        None => match authority.matches(':').count() {
            0 => false,
            1 => true,
            _ => return Err(bad("IPv6 addresses need brackets")),
        },
    };
    let host_port = if has_port {
        let port = authority.rsplit(':').next().unwrap_or("");
        if port.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad("invalid port"));
        }
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let tail = tail.split('#').next().unwrap_or("");
    let path_and_query = if tail.is_empty() {
        "/".to_owned()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_owned()
    };
    Ok(HttpUrl {
        host_port,
        path_and_query,
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A TCP connection, its read buffer and the framer of the responses arriving on it. Unread
/// bytes are `buf[start..end]`.
struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    framer: ResponseFramer,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: vec![0; IO_BUF_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            framer: ResponseFramer::new(),
        }
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        assert!(n <= self.end - self.start);
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes after the unread ones; returns how many (0 at end of stream).
    fn fill(&mut self) -> io::Result<usize> {
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(io::Error::other("read buffer full"));
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// True if the idle connection still looks usable: no stray bytes, not closed by the peer.
    fn is_alive(&self) -> bool {
        if !self.unread().is_empty() || self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let probe = self.stream.peek(&mut [0u8; 1]);
        let restored = self.stream.set_nonblocking(false).is_ok();
        restored && matches!(probe, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    fn apply_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)?;
        self.stream.set_write_timeout(timeout)
    }
}

/// Where a finished [`Response`] returns its connection for the next request.
type ConnSlot = Arc<Mutex<Option<Conn>>>;

fn lock_slot(slot: &ConnSlot) -> std::sync::MutexGuard<'_, Option<Conn>> {
    // The slot holds a plain value; a panic elsewhere cannot leave it half-updated.
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A blocking HTTP/1.1 client for one endpoint, reusing one keep-alive connection.
pub struct Client {
    host_port: String,
    timeout: Option<Duration>,
    idle: ConnSlot,
    user_agent: String,
    /// Reused buffer for request heads.
    head_buf: Vec<u8>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.host_port)
            .finish_non_exhaustive()
    }
}

/// How a failed attempt ended: whether the request may be re-sent on a fresh connection.
struct Failure {
    error: ClientError,
    retry_ok: bool,
}

impl Client {
    /// A client for `http://host:port` (trailing slash allowed) or bare `host:port`.
    /// Does not connect yet.
    pub fn new(endpoint: &str) -> Result<Client, ClientError> {
        let url = parse_http_url(endpoint)?;
        if url.path_and_query != "/" {
            return Err(ClientError::BadEndpoint {
                url: endpoint.to_owned(),
                why: "endpoint must not have a path or query",
            });
        }
        Ok(Client {
            host_port: url.host_port,
            timeout: Some(TIMEOUT_DEFAULT),
            idle: Arc::new(Mutex::new(None)),
            user_agent: format!("aisle/{}", env!("CARGO_PKG_VERSION")),
            head_buf: Vec::with_capacity(1024),
        })
    }

    /// The endpoint's `host:port`.
    pub fn endpoint(&self) -> &str {
        &self.host_port
    }

    /// Sets the connect, read and write timeout; zero means none.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = (!timeout.is_zero()).then_some(timeout);
        if let Some(conn) = lock_slot(&self.idle).as_ref() {
            // A failure here only means the socket is dead; the next request replaces it.
            let _ = conn.apply_timeout(self.timeout);
        }
    }

    /// Sends one request and reads the response head. The body is read from the returned
    /// [`Response`]; read it to the end to let the connection be reused.
    ///
    /// Always sends `Host`, `User-Agent` (unless given in `headers`) and `Content-Length`, or
    /// `Transfer-Encoding: chunked` for [`Body::Chunked`]. `headers` may not set framing.
    pub fn request(
        &mut self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        mut body: Body,
    ) -> Result<Response, ClientError> {
        validate_request(method, path_and_query, headers)?;
        self.build_head(method, path_and_query, headers, &body);
        let is_head = method.eq_ignore_ascii_case("HEAD");
        let expect_continue = !matches!(body, Body::Empty | Body::Bytes([]))
            && headers.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case("expect") && v.eq_ignore_ascii_case("100-continue")
            });
        let head = std::mem::take(&mut self.head_buf);
        let result = self.send_with_retry(&head, &mut body, expect_continue, is_head);
        self.head_buf = head;
        result
    }

    fn send_with_retry(
        &mut self,
        head: &[u8],
        body: &mut Body,
        expect_continue: bool,
        is_head: bool,
    ) -> Result<Response, ClientError> {
        let (conn, reused) = self.checkout()?;
        match self.exchange(conn, head, body, expect_continue, is_head) {
            Ok(response) => Ok(response),
            // The server may have closed the idle connection just as we reused it.
            Err(Failure { retry_ok: true, .. }) if reused => {
                let conn = self.connect()?;
                self.exchange(conn, head, body, expect_continue, is_head)
                    .map_err(|f| f.error)
            }
            Err(failure) => Err(failure.error),
        }
    }

    /// The idle connection if it is still alive, else a new one; and whether it was reused.
    fn checkout(&mut self) -> Result<(Conn, bool), ClientError> {
        let idle = lock_slot(&self.idle).take();
        match idle {
            Some(conn) if conn.is_alive() => Ok((conn, true)),
            _ => Ok((self.connect()?, false)),
        }
    }

    fn connect(&self) -> Result<Conn, ClientError> {
        let connect_err = |error| ClientError::Connect {
            addr: self.host_port.clone(),
            error,
        };
        let addrs = self.host_port.to_socket_addrs().map_err(connect_err)?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no addresses");
        for addr in addrs {
            let attempt = match self.timeout {
                Some(t) => TcpStream::connect_timeout(&addr, t),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => {
                    stream.set_nodelay(true).map_err(connect_err)?;
                    let conn = Conn::new(stream);
                    conn.apply_timeout(self.timeout).map_err(connect_err)?;
                    return Ok(conn);
                }
                Err(e) => last = e,
            }
        }
        Err(connect_err(last))
    }

    fn build_head(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &Body) {
        let h = &mut self.head_buf;
        h.clear();
        let mut line = |parts: &[&[u8]]| {
            for p in parts {
                h.extend_from_slice(p);
            }
            h.extend_from_slice(b"\r\n");
        };
        line(&[method.as_bytes(), b" ", path.as_bytes(), b" HTTP/1.1"]);
        let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !has("host") {
            line(&[b"Host: ", self.host_port.as_bytes()]);
        }
        if !has("user-agent") {
            line(&[b"User-Agent: ", self.user_agent.as_bytes()]);
        }
        for (name, value) in headers {
            line(&[name.as_bytes(), b": ", value.as_bytes()]);
        }
        match body {
            Body::Empty => line(&[b"Content-Length: 0"]),
            Body::Bytes(b) => line(&[b"Content-Length: ", b.len().to_string().as_bytes()]),
            Body::Reader(_, n) => line(&[b"Content-Length: ", n.to_string().as_bytes()]),
            Body::Chunked(_) => line(&[b"Transfer-Encoding: chunked"]),
        }
        line(&[]);
    }

    /// One attempt: send the request on `conn` and read the response head.
    fn exchange(
        &self,
        mut conn: Conn,
        head: &[u8],
        body: &mut Body,
        expect_continue: bool,
        is_head: bool,
    ) -> Result<Response, Failure> {
        let io_fail = |e: io::Error, retry_ok| Failure {
            error: self.io_error(e),
            retry_ok,
        };
        conn.framer.set_head_request(is_head);
        let small_body = match body {
            Body::Bytes(b) if b.len() <= SMALL_BODY_BYTES_MAX && !expect_continue => Some(*b),
            _ => None,
        };
        if let Some(bytes) = small_body {
            let mut out = Vec::with_capacity(head.len() + bytes.len());
            out.extend_from_slice(head);
            out.extend_from_slice(bytes);
            conn.stream.write_all(&out).map_err(|e| io_fail(e, true))?;
        } else {
            conn.stream.write_all(head).map_err(|e| io_fail(e, true))?;
        }

        if expect_continue {
            match self.await_continue(&mut conn) {
                Ok(None) => {}
                Ok(Some(parsed)) => {
                    // A final answer before the body: the server will not read it, so the
                    // connection cannot carry another request.
                    return Ok(self.response(conn, parsed, false));
                }
                Err(e) => {
                    return Err(Failure {
                        error: e,
                        retry_ok: true,
                    })
                }
            }
        }

        if small_body.is_none() {
            match send_body(&mut conn.stream, body) {
                Ok(()) => {}
                // The connection is mid-body and must not be reused; dropping it closes it.
                Err(SendError::Source(error)) => {
                    return Err(Failure {
                        error,
                        retry_ok: false,
                    })
                }
                Err(SendError::Socket(error)) => {
                    return self.early_answer(conn, error, body.replayable())
                }
            }
        }

        let parsed = loop {
            match read_head(&mut conn) {
                // 1xx answers (a 100 we did not wait for, 103) precede the real one.
                Ok(p) if (100..200).contains(&p.status) => continue,
                Ok(p) => break p,
                Err(e) => {
                    let retry_ok = body.replayable() && conn.unread().is_empty();
                    return Err(Failure {
                        error: self.classify(e),
                        retry_ok,
                    });
                }
            }
        };
        Ok(self.response(conn, parsed, true))
    }

    /// Writing the body failed. The server may have answered early (say, 404 or 413) and
    /// closed; if so its answer is already here and beats a bare "broken pipe".
    fn early_answer(
        &self,
        mut conn: Conn,
        error: io::Error,
        replayable: bool,
    ) -> Result<Response, Failure> {
        let early = conn
            .stream
            .set_read_timeout(Some(EXPECT_WAIT))
            .map_err(ClientError::Io)
            .and_then(|()| read_head(&mut conn));
        // Best effort: a failure here surfaces when the body is read.
        let _ = conn.stream.set_read_timeout(self.timeout);
        match early {
            Ok(parsed) => Ok(self.response(conn, parsed, false)),
            Err(_) => Err(Failure {
                error: self.io_error(error),
                retry_ok: replayable && conn.unread().is_empty(),
            }),
        }
    }

    /// Waits up to [`EXPECT_WAIT`] for `100 Continue`. `Ok(None)`: send the body now.
    /// `Ok(Some(head))`: a final response came first.
    fn await_continue(&self, conn: &mut Conn) -> Result<Option<ParsedHead>, ClientError> {
        conn.stream.set_read_timeout(Some(EXPECT_WAIT))?;
        let first = read_head(conn);
        conn.stream.set_read_timeout(self.timeout)?;
        let mut next = match first {
            Err(e) if is_timeout(&e) && conn.unread().is_empty() => return Ok(None),
            // Part of an answer arrived: wait for the rest with the normal timeout.
            Err(e) if is_timeout(&e) => read_head(conn),
            other => other,
        };
        loop {
            match next {
                Ok(p) if p.status == 100 => return Ok(None),
                Ok(p) if (100..200).contains(&p.status) => next = read_head(conn),
                Ok(p) => return Ok(Some(p)),
                Err(e) => return Err(self.classify(e)),
            }
        }
    }

    fn response(&self, conn: Conn, parsed: ParsedHead, body_sent: bool) -> Response {
        let mut response = Response {
            status: parsed.status,
            headers: parsed.headers,
            conn: Some(conn),
            reusable: body_sent && parsed.keep_alive,
            slot: Arc::clone(&self.idle),
            timeout: self.timeout,
        };
        response.finish_if_complete();
        response
    }

    fn io_error(&self, e: io::Error) -> ClientError {
        self.classify(ClientError::Io(e))
    }
    fn classify(&self, e: ClientError) -> ClientError {
        if is_timeout(&e) {
            ClientError::Timeout(self.timeout.unwrap_or_default())
        } else {
            e
        }
    }
}

fn is_timeout(e: &ClientError) -> bool {
    matches!(e, ClientError::Io(io) if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

fn validate_request(method: &str, path: &str, headers: &[(&str, &str)]) -> Result<(), ClientError> {
    let invalid = |what: String| Err(ClientError::InvalidRequest(what));
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return invalid(format!("method {method:?} is not a token"));
    }
    if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
        return invalid(format!(
            "path {path:?} must start with '/' and be percent-encoded"
        ));
    }
    for (name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return invalid(format!("header name {name:?} is not a token"));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return invalid(format!("header {name} has CR, LF or NUL in its value"));
        }
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            return invalid(format!("header {name} is set by the client from the body"));
        }
    }
    Ok(())
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Why a request body could not be sent.
enum SendError {
    /// The body's source failed or ran dry; the server may still be waiting for bytes.
    Source(ClientError),
    /// Writing to the connection failed; the server may have answered already.
    Socket(io::Error),
}

fn send_body(stream: &mut TcpStream, body: &mut Body) -> Result<(), SendError> {
    let source = |e: io::Error| SendError::Source(ClientError::BodyRead(e));
    match body {
        Body::Empty => Ok(()),
        Body::Bytes(bytes) => stream.write_all(bytes).map_err(SendError::Socket),
        Body::Reader(reader, expected) => {
            let expected = *expected;
            let mut buf = vec![0u8; IO_BUF_BYTES];
            let mut sent = 0u64;
            while sent < expected {
                let want = usize::try_from(expected - sent).map_or(buf.len(), |r| r.min(buf.len()));
                let n = match reader.read(&mut buf[..want]) {
                    Ok(0) => {
                        return Err(SendError::Source(ClientError::BodyTooShort {
                            expected,
                            sent,
                        }))
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(source(e)),
                };
                stream.write_all(&buf[..n]).map_err(SendError::Socket)?;
                sent += n as u64;
            }
            Ok(())
        }
        Body::Chunked(reader) => {
            // Room for the size line before the data and the CRLF after it, so each chunk
            // goes out in one write.
            const PREFIX: usize = 18;
            let mut buf = vec![0u8; PREFIX + IO_BUF_BYTES + 2];
            loop {
                let n = match reader.read(&mut buf[PREFIX..PREFIX + IO_BUF_BYTES]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(source(e)),
                };
                if n == 0 {
                    return stream.write_all(b"0\r\n\r\n").map_err(SendError::Socket);
                }
                let size_line = format!("{n:x}\r\n");
                let from = PREFIX - size_line.len();
                buf[from..PREFIX].copy_from_slice(size_line.as_bytes());
                buf[PREFIX + n..PREFIX + n + 2].copy_from_slice(b"\r\n");
                stream
                    .write_all(&buf[from..PREFIX + n + 2])
                    .map_err(SendError::Socket)?;
            }
        }
    }
}

/// The final facts of a response head, owned.
struct ParsedHead {
    status: u16,
    headers: Vec<(String, String)>,
    keep_alive: bool,
}

fn malformed(e: FrameError) -> ClientError {
    ClientError::MalformedResponse(e.to_string())
}

/// Reads and parses one response head from `conn` (consuming it), after the end of the
/// previous (interim or bodiless) response if that is still to be stepped over.
fn read_head(conn: &mut Conn) -> Result<ParsedHead, ClientError> {
    loop {
        let mut slots = header_slots();
        let unread = &conn.buf[conn.start..conn.end];
        let step = conn.framer.step(unread, &mut slots).map_err(malformed)?;
        match step.event {
            Event::Head(h) => {
                let headers = h
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).trim().to_owned();
                        (h.name.to_ascii_lowercase(), value)
                    })
                    .collect();
                let parsed = ParsedHead {
                    status: h.status,
                    headers,
                    keep_alive: h.keep_alive,
                };
                conn.consume(step.consumed);
                return Ok(parsed);
            }
            Event::End => {
                conn.consume(step.consumed);
                continue;
            }
            Event::Body(_) => {
                return Err(ClientError::MalformedResponse(
                    "body bytes where a response head was expected".into(),
                ))
            }
            Event::NeedMore => {}
        }
        match conn.fill() {
            Ok(0) => {
                let error = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a complete response",
                );
                return Err(ClientError::Io(error));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ClientError::Io(e)),
        }
    }
}

/// A response whose head has been read. The body is read through [`Read`],
/// [`Response::body_bytes`] or [`Response::copy_body_to`].
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header lines in arrival order: lowercased name, trimmed value (lossily UTF-8).
    pub headers: Vec<(String, String)>,
    /// The connection until the body has been read (then given back or closed).
    conn: Option<Conn>,
    reusable: bool,
    slot: ConnSlot,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// The first value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in arrival order.
    pub fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True for 2xx statuses.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Reads the whole body into memory.
    pub fn body_bytes(mut self) -> Result<Vec<u8>, ClientError> {
        let hint = match self.conn.as_ref().and_then(|c| c.framer.body_remaining()) {
            Some(n) => usize::try_from(n.min(IO_BUF_BYTES as u64 * 64)).unwrap_or(0),
            None => 0,
        };
        let mut out = Vec::with_capacity(hint);
        self.read_to_end(&mut out).map_err(|e| self.read_error(e))?;
        Ok(out)
    }

    /// Streams the body into `w`; returns the number of bytes written.
    pub fn copy_body_to(mut self, w: &mut dyn Write) -> Result<u64, ClientError> {
        let mut buf = vec![0u8; IO_BUF_BYTES];
        let mut total = 0u64;
        loop {
            let n = match self.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(e)),
            };
            w.write_all(&buf[..n])?;
            total += n as u64;
        }
    }

    fn read_error(&self, e: io::Error) -> ClientError {
        let error = ClientError::Io(e);
        if is_timeout(&error) {
            ClientError::Timeout(self.timeout.unwrap_or_default())
        } else {
            error
        }
    }

    /// The body is complete: give the connection back if it can carry another request.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.reusable && conn.unread().is_empty() && conn.framer.at_head() {
                *lock_slot(&self.slot) = Some(conn);
            }
        }
    }

    /// Finishes at once if the body has no bytes left (a bodiless response, or the last byte
    /// of a length body just read), so the connection goes back even if the caller never
    /// reads the (empty) rest.
    fn finish_if_complete(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if conn.framer.body_remaining() != Some(0) {
            return;
        }
        let mut slots = header_slots();
        let ended = matches!(
            conn.framer.step(&[], &mut slots).map(|s| s.event),
            Ok(Event::End)
        );
        assert!(ended, "a length body with no bytes left ends at once");
        self.finish();
    }

    fn read_body(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(0);
        };
        loop {
            // Offer at most out.len() bytes so any data found fits in `out`.
            let limit = (conn.end - conn.start).min(out.len());
            let mut slots = header_slots();
            let unread = &conn.buf[conn.start..conn.start + limit];
            let step = conn
                .framer
                .step(unread, &mut slots)
                .map_err(frame_io_error)?;
            match step.event {
                Event::Body(r) => {
                    let n = r.len();
                    out[..n].copy_from_slice(&unread[r]);
                    conn.consume(step.consumed);
                    self.finish_if_complete();
                    return Ok(n);
                }
                Event::End => {
                    conn.consume(step.consumed);
                    self.finish();
                    return Ok(0);
                }
                Event::Head(_) => unreachable!("a response's framer is inside its body"),
                Event::NeedMore => conn.consume(step.consumed),
            }
            // Everything buffered was consumed: receive more.
            let n = if conn.framer.passes_through() {
                // The bytes are the payload: receive straight into the caller's buffer.
                let want = out.len().min(conn.framer.recv_limit());
                let n = conn.stream.read(&mut out[..want])?;
                if n > 0 {
                    let mut slots = header_slots();
                    let step = conn
                        .framer
                        .step(&out[..n], &mut slots)
                        .map_err(frame_io_error)?;
                    assert!(matches!(step.event, Event::Body(ref r) if r.len() == n));
                    self.finish_if_complete();
                    return Ok(n);
                }
                n
            } else {
                conn.fill()?
            };
            if n == 0 {
                conn.framer.at_eof().map_err(frame_io_error)?;
                self.finish();
                return Ok(0);
            }
        }
    }
}

fn frame_io_error(e: FrameError) -> io::Error {
    match e {
        FrameError::ClosedEarly => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the end of the response body",
        ),
        e => io::Error::new(io::ErrorKind::InvalidData, e),
    }
}

impl Read for Response {
    /// Reads body bytes; `Ok(0)` at the end of the body. A body cut short is `UnexpectedEof`.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        self.read_body(out)
    }
}

#[cfg(test)]
mod tests;
