//! HTTP/1.1 client pieces, pure (no I/O): request heads written into a reused buffer, the
//! response head parser (`httparse`), and the body framer that walks a response body chunk by
//! chunk (Content-Length, chunked via `net::chunked`, or until close).

use std::io::Write;

use net::chunked::ChunkedDecoder;

/// Largest response head accepted.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 64 * 1024;
/// Most response header lines accepted.
pub const RESPONSE_HEADERS_MAX: usize = 64;

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Not a valid HTTP/1.x response head.
    BadHead(String),
    /// The head is longer than [`RESPONSE_HEAD_BYTES_MAX`].
    HeadTooLarge,
    /// The chunked body is malformed.
    BadChunked(String),
    /// The server closed the connection before the response was complete.
    ClosedEarly,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::BadHead(why) => write!(f, "malformed response head: {why}"),
            HttpError::HeadTooLarge => {
                write!(
                    f,
                    "response head larger than {RESPONSE_HEAD_BYTES_MAX} bytes"
                )
            }
            HttpError::BadChunked(why) => write!(f, "malformed chunked body: {why}"),
            HttpError::ClosedEarly => write!(f, "connection closed before the response ended"),
        }
    }
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    /// HTTP/1.0 style: the body ends when the server closes the connection.
    UntilClose,
}

/// The object checksum a response announces (`Ais-Checksum-Type` / `-Value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// No checksum headers (or type `none`).
    Absent,
    /// `xxhash` or `xxhash2`: XXH64 with seed 0, 16 hex digits.
    Xxh64(u64),
    /// A type this client cannot check (md5, sha256, ...).
    Unsupported,
    /// An xxhash type whose value is not 16 hex digits.
    BadValue,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Bytes of the head, including the blank line.
    pub head_len: usize,
    pub framing: Framing,
    /// The connection may carry another request after this response.
    pub keep_alive: bool,
    pub checksum: Checksum,
}

/// Parses a response head from the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn parse_response_head(buf: &[u8]) -> Result<Option<ResponseHead>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= RESPONSE_HEAD_BYTES_MAX => {
            return Err(HttpError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::BadHead(e.to_string())),
    };
    if head_len > RESPONSE_HEAD_BYTES_MAX {
        return Err(HttpError::HeadTooLarge);
    }
    let status = resp
        .code
        .expect("a complete response head has a status code");
    let minor = resp
        .version
        .expect("a complete response head has a version");
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut cksum_type: Option<&[u8]> = None;
    let mut cksum_value: Option<&[u8]> = None;
    for h in resp.headers.iter() {
        let v = trim(h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| HttpError::BadHead("bad Content-Length".into()))?;
            if content_length.is_some_and(|old| old != n) {
                return Err(HttpError::BadHead("conflicting Content-Length".into()));
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only `chunked` as the final coding frames the body (RFC 9112 §6.3).
            let last = v.rsplit(|&b| b == b',').next().map(trim).unwrap_or(b"");
            chunked = last.eq_ignore_ascii_case(b"chunked");
            if !chunked {
                return Err(HttpError::BadHead("unsupported Transfer-Encoding".into()));
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in v.split(|&b| b == b',').map(trim) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if h.name.eq_ignore_ascii_case("ais-checksum-type") {
            cksum_type = Some(v);
        } else if h.name.eq_ignore_ascii_case("ais-checksum-value") {
            cksum_value = Some(v);
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = content_length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    let keep_alive = !close && framing != Framing::UntilClose && (minor >= 1 || keep_alive_token);
    Ok(Some(ResponseHead {
        status,
        head_len,
        framing,
        keep_alive,
        checksum: checksum_of(cksum_type, cksum_value),
    }))
}

fn checksum_of(t: Option<&[u8]>, v: Option<&[u8]>) -> Checksum {
    let Some(t) = t else { return Checksum::Absent };
    if t.is_empty() || t.eq_ignore_ascii_case(b"none") {
        return Checksum::Absent;
    }
    if !(t.eq_ignore_ascii_case(b"xxhash") || t.eq_ignore_ascii_case(b"xxhash2")) {
        return Checksum::Unsupported;
    }
    match v {
        Some(v) if v.len() == 16 => std::str::from_utf8(v)
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .map_or(Checksum::BadValue, Checksum::Xxh64),
        _ => Checksum::BadValue,
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// Walks one response body. Feed it the bytes that follow the head, then each `recv`.
#[derive(Debug, Clone)]
pub enum BodyReader {
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl BodyReader {
    pub fn new(framing: Framing) -> BodyReader {
        match framing {
            Framing::Length(n) => BodyReader::Length { remaining: n },
            Framing::Chunked => BodyReader::Chunked(ChunkedDecoder::new()),
            Framing::UntilClose => BodyReader::UntilClose,
        }
    }

    /// The body has been read completely (never true for `UntilClose` before EOF).
    pub fn is_done(&self) -> bool {
        match self {
            BodyReader::Length { remaining } => *remaining == 0,
            BodyReader::Chunked(d) => d.is_done(),
            BodyReader::UntilClose => false,
        }
    }

    /// Most bytes the next `recv` may take without reading past this body (framing bytes of
    /// a chunked body included, so those read with no limit).
    pub fn recv_limit(&self) -> usize {
        match self {
            BodyReader::Length { remaining } => usize::try_from(*remaining).unwrap_or(usize::MAX),
            _ => usize::MAX,
        }
    }

    /// Consumes body bytes from the start of `input`, passing the payload to `sink`; returns
    /// how many input bytes belong to this body. When the body is not done, all of `input` is
    /// consumed.
    pub fn feed(&mut self, input: &[u8], sink: &mut impl FnMut(&[u8])) -> Result<usize, HttpError> {
        match self {
            BodyReader::Length { remaining } => {
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                if n > 0 {
                    sink(&input[..n]);
                }
                *remaining -= n as u64;
                Ok(n)
            }
            BodyReader::UntilClose => {
                if !input.is_empty() {
                    sink(input);
                }
                Ok(input.len())
            }
            BodyReader::Chunked(d) => {
                let mut pos = 0;
                while pos < input.len() && !d.is_done() {
                    let step = d
                        .step(&input[pos..])
                        .map_err(|e| HttpError::BadChunked(e.to_string()))?;
                    if !step.data.is_empty() {
                        sink(&input[pos + step.data.start..pos + step.data.end]);
                    }
                    pos += step.consumed;
                }
                Ok(pos)
            }
        }
    }

    /// The peer closed the connection: fine only for an `UntilClose` body.
    pub fn at_eof(&self) -> Result<(), HttpError> {
        match self {
            BodyReader::UntilClose => Ok(()),
            _ if self.is_done() => Ok(()),
            _ => Err(HttpError::ClosedEarly),
        }
    }
}

/// Percent-encodes an object name for a request path: RFC 3986 unreserved characters and `/`
/// pass, everything else becomes `%XX` (as `net::url::percent_encode_path`).
pub fn encode_name(name: &str) -> String {
    net::url::percent_encode_path(name)
}

/// A request's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
        }
    }
}

/// Extra request headers of one object request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestExtras {
    /// `Content-Length` of the body (PUT); `None` sends no body and no length.
    pub content_length: Option<u64>,
    /// `Range: bytes=off-(off+len-1)`, or `off-` when len is 0.
    pub range: Option<(u64, u64)>,
    /// `Ais-Checksum-Type: xxhash2` with this XXH64 value.
    pub xxhash2: Option<u64>,
}

/// Writes a request head into `out` (cleared first). `path` is already percent-encoded.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: Method,
    path: &str,
    host: &str,
    x: &RequestExtras,
) {
    out.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{} {path} HTTP/1.1\r\nHost: {host}\r\n",
        method.as_str()
    );
    if let Some(n) = x.content_length {
        let _ = write!(
            out,
            "Content-Length: {n}\r\nContent-Type: application/octet-stream\r\n"
        );
    }
    if let Some((off, len)) = x.range {
        if len > 0 {
            let _ = write!(out, "Range: bytes={off}-{}\r\n", off + len - 1);
        } else {
            let _ = write!(out, "Range: bytes={off}-\r\n");
        }
    }
    if let Some(v) = x.xxhash2 {
        let _ = write!(
            out,
            "Ais-Checksum-Type: xxhash2\r\nAis-Checksum-Value: {v:016x}\r\n"
        );
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> ResponseHead {
        parse_response_head(raw.as_bytes())
            .unwrap()
            .expect("complete head")
    }

    /// Feeds `input` to a reader for `framing` in pieces of `step` bytes; returns (payload,
    /// bytes consumed, done).
    fn walk(framing: Framing, input: &[u8], step: usize) -> (Vec<u8>, usize, bool) {
        let mut r = BodyReader::new(framing);
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < input.len() && !r.is_done() {
            let end = (pos + step).min(input.len());
            pos += r
                .feed(&input[pos..end], &mut |d| out.extend_from_slice(d))
                .unwrap();
        }
        (out, pos, r.is_done())
    }

    #[test]
    fn ais_get_head() {
        let head_text = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                         Content-Length: 4096\r\nAis-Checksum-Type: xxhash2\r\n\
                         Ais-Checksum-Value: 0123456789abcdef\r\n\r\n";
        let h = head(&format!("{head_text}BODY"));
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, Framing::Length(4096));
        assert!(h.keep_alive);
        assert_eq!(h.checksum, Checksum::Xxh64(0x0123_4567_89ab_cdef));
        assert_eq!(h.head_len, head_text.len(), "the head ends before BODY");
    }

    #[test]
    fn partial_and_bad_heads() {
        assert_eq!(
            parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(),
            None
        );
        assert_eq!(parse_response_head(b"").unwrap(), None);
        assert!(parse_response_head(b"HTTX/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_response_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        )
        .is_err());
        assert!(
            parse_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").is_err()
        );
        let big = format!(
            "HTTP/1.1 200 OK\r\nX: {}",
            "a".repeat(RESPONSE_HEAD_BYTES_MAX)
        );
        assert_eq!(
            parse_response_head(big.as_bytes()),
            Err(HttpError::HeadTooLarge)
        );
    }

    #[test]
    fn framing_and_keep_alive() {
        let h = head("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, true));
        let h = head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(3), false));
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\n");
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        let h = head("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(0), true));
        let h = head("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(0));
        assert_eq!(h.checksum, Checksum::Absent);
    }

    #[test]
    fn checksum_headers() {
        let ck = |t: &str, v: &str| {
            head(&format!("HTTP/1.1 200 OK\r\nAis-Checksum-Type: {t}\r\nAis-Checksum-Value: {v}\r\nContent-Length: 0\r\n\r\n")).checksum
        };
        assert_eq!(ck("xxhash", "00000000000000ff"), Checksum::Xxh64(255));
        assert_eq!(ck("XXHASH2", "ffffffffffffffff"), Checksum::Xxh64(u64::MAX));
        assert_eq!(ck("none", ""), Checksum::Absent);
        assert_eq!(
            ck("md5", "d41d8cd98f00b204e9800998ecf8427e"),
            Checksum::Unsupported
        );
        assert_eq!(ck("xxhash2", "ff"), Checksum::BadValue);
        assert_eq!(ck("xxhash2", "zzzzzzzzzzzzzzzz"), Checksum::BadValue);
    }

    #[test]
    fn length_body_stops_at_its_end() {
        let (out, used, done) = walk(Framing::Length(5), b"hello, next", 3);
        assert_eq!((out.as_slice(), used, done), (&b"hello"[..], 5, true));
        let (out, used, done) = walk(Framing::Length(10), b"abc", 2);
        assert_eq!((out.as_slice(), used, done), (&b"abc"[..], 3, false));
        assert_eq!(BodyReader::new(Framing::Length(7)).recv_limit(), 7);
        assert_eq!(BodyReader::new(Framing::Length(0)).at_eof(), Ok(()));
        assert_eq!(
            BodyReader::new(Framing::Length(1)).at_eof(),
            Err(HttpError::ClosedEarly)
        );
    }

    #[test]
    fn chunked_body_in_any_split() {
        let wire = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT";
        for step in 1..wire.len() {
            let (out, used, done) = walk(Framing::Chunked, wire, step);
            assert_eq!(out, b"hello world", "step {step}");
            assert_eq!(used, wire.len() - 4, "step {step}");
            assert!(done);
        }
        let mut r = BodyReader::new(Framing::Chunked);
        assert!(r.feed(b"zz\r\n", &mut |_| {}).is_err());
    }

    #[test]
    fn until_close_body() {
        let mut r = BodyReader::new(Framing::UntilClose);
        let mut n = 0;
        assert_eq!(r.feed(b"abc", &mut |d| n += d.len()).unwrap(), 3);
        assert!(!r.is_done());
        assert_eq!(r.at_eof(), Ok(()));
        assert_eq!(n, 3);
    }

    #[test]
    fn request_heads() {
        let mut out = Vec::new();
        write_request_head(
            &mut out,
            Method::Get,
            "/v1/objects/b/p/0a",
            "h:1",
            &RequestExtras::default(),
        );
        assert_eq!(out, b"GET /v1/objects/b/p/0a HTTP/1.1\r\nHost: h:1\r\n\r\n");
        let x = RequestExtras {
            range: Some((10, 5)),
            ..Default::default()
        };
        write_request_head(&mut out, Method::Get, "/o", "h", &x);
        assert_eq!(
            out,
            b"GET /o HTTP/1.1\r\nHost: h\r\nRange: bytes=10-14\r\n\r\n"
        );
        let x = RequestExtras {
            range: Some((10, 0)),
            ..Default::default()
        };
        write_request_head(&mut out, Method::Get, "/o", "h", &x);
        assert!(out.ends_with(b"Range: bytes=10-\r\n\r\n"));
        let x = RequestExtras {
            content_length: Some(3),
            xxhash2: Some(0xab),
            range: None,
        };
        write_request_head(&mut out, Method::Put, "/o", "h", &x);
        let s = String::from_utf8(out.clone()).unwrap();
        assert!(s.starts_with("PUT /o HTTP/1.1\r\n"));
        assert!(s.contains("Content-Length: 3\r\n"));
        assert!(
            s.contains("Ais-Checksum-Type: xxhash2\r\nAis-Checksum-Value: 00000000000000ab\r\n")
        );
        assert!(s.ends_with("\r\n\r\n"));
        assert_eq!(encode_name("a b/c%?"), "a%20b/c%25%3F");
    }
}
