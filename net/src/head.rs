//! HTTP/1.1 request head parsing: request line, headers, and the framing facts the server needs
//! (body length, chunked, `Expect: 100-continue`, keep-alive).
//!
//! Built on `httparse`, which does the byte-level tokenising without allocating. On top of it
//! this module applies the RFC 9112 framing rules that stop request smuggling: a request with
//! both `Content-Length` and `Transfer-Encoding` is refused, differing `Content-Length` values are
//! refused, and the only transfer coding accepted is a lone `chunked`.
//!
//! The server calls [`parse_head`] once per request with whatever bytes it has buffered. The
//! only allocations are the owned strings of the returned [`RequestHead`].

use thiserror::Error;

/// Largest request head (request line plus headers plus the blank line) accepted.
pub const HEAD_BYTES_MAX: usize = 16 * 1024;
/// Largest number of header lines accepted in one request head.
pub const HEADERS_MAX: usize = 64;
/// Longest request line (method, target, version and its CRLF) accepted; longer is 414 URI
/// Too Long, answered as soon as this many bytes arrived without a line end. It fits the
/// longest object name (4096 bytes) fully percent-encoded (×3) with the bucket, API prefix and
/// a query of about 1 KiB.
pub const REQUEST_LINE_BYTES_MAX: usize = 13 * 1024;

const _: () = assert!(HEAD_BYTES_MAX >= 1024);
const _: () = assert!(REQUEST_LINE_BYTES_MAX < HEAD_BYTES_MAX);
const _: () = assert!(HEADERS_MAX >= 16);

/// The request method. Method names are case-sensitive (RFC 9110 §9.1), so `get` is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `PUT`
    Put,
    /// `POST`
    Post,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
    /// `OPTIONS`
    Options,
    /// Any other token; the original is in [`RequestHead::method_str`].
    Other,
}

impl Method {
    fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "PUT" => Method::Put,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

/// A parsed request head. Strings are owned so the read buffer can be reused at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, classified.
    pub method: Method,
    /// The method token as sent.
    pub method_str: String,
    /// The raw request-target as sent (origin-form or absolute-form).
    pub target: String,
    /// The raw path part of the target, not percent-decoded. Always starts with `/`.
    pub path: String,
    /// The raw query without the leading `?`; empty when there is none.
    pub query: String,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// Header lines in arrival order: lowercased name, value with surrounding blanks trimmed.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body length from `Content-Length`, if that header was sent.
    pub content_length: Option<u64>,
    /// The body uses `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// HTTP/1.1 request with `Expect: 100-continue`: send `100 Continue` before reading the body.
    pub expect_continue: bool,
    /// The connection may serve another request after this one (RFC 9112 §9.3).
    pub keep_alive: bool,
}

impl RequestHead {
    /// The value of the first header named `name_lowercase` (compared ASCII case-insensitively).
    pub fn header(&self, name_lowercase: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name_lowercase))
            .map(|(_, v)| v.as_slice())
    }

    /// Like [`RequestHead::header`], but only if the value is valid UTF-8.
    pub fn header_str(&self, name_lowercase: &str) -> Option<&str> {
        self.header(name_lowercase)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of the header named `name` (ASCII case-insensitive), in arrival order.
    pub fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// Why a request head was refused. [`HeadError::status`] gives the HTTP status to answer with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeadError {
    /// The head exceeds [`HEAD_BYTES_MAX`].
    #[error("request head larger than {HEAD_BYTES_MAX} bytes")]
    TooLarge,
    /// More than [`HEADERS_MAX`] header lines.
    #[error("more than {HEADERS_MAX} request headers")]
    TooManyHeaders,
    /// The request line exceeds [`REQUEST_LINE_BYTES_MAX`].
    #[error("request line longer than {REQUEST_LINE_BYTES_MAX} bytes")]
    UriTooLong,
    /// The head is not valid HTTP/1.x.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// `Content-Length` is not a decimal number, or is sent with differing values.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// Both `Content-Length` and `Transfer-Encoding` were sent (RFC 9112 §6.1).
    #[error("both Content-Length and Transfer-Encoding present")]
    ConflictingFraming,
    /// A transfer coding other than a single `chunked`.
    #[error("unsupported Transfer-Encoding")]
    UnsupportedTransferEncoding,
}

impl HeadError {
    /// The HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge | HeadError::TooManyHeaders => 431,
            HeadError::UriTooLong => 414,
            HeadError::Malformed(_)
            | HeadError::BadContentLength
            | HeadError::ConflictingFraming => 400,
            HeadError::UnsupportedTransferEncoding => 501,
        }
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a head and more bytes are needed, or
/// `Ok(Some((head, len)))` where `len` is the head length in bytes; the body (if any) starts at
/// `buf[len..]`. A head that is still incomplete after [`HEAD_BYTES_MAX`] bytes is `TooLarge`.
pub fn parse_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut head = RequestHead::default();
    Ok(parse_head_into(buf, &mut head)?.map(|n| (head, n)))
}

/// Like [`parse_head`], but fills `head` in place, reusing the capacity of its strings and
/// header entries: a connection that keeps one `RequestHead` parses requests without
/// allocating once its buffers have grown to fit. On `Ok(None)` or an error `head` is
/// unspecified.
pub fn parse_head_into(buf: &[u8], head: &mut RequestHead) -> Result<Option<usize>, HeadError> {
    // Only the first HEAD_BYTES_MAX bytes may hold the head; looking at more would let a client
    // make us rescan an ever-growing buffer.
    let window = &buf[..buf.len().min(HEAD_BYTES_MAX)];
    // The request line must end within REQUEST_LINE_BYTES_MAX (its LF included).
    let line_window = &window[..window.len().min(REQUEST_LINE_BYTES_MAX)];
    if !line_window.contains(&b'\n') && window.len() >= REQUEST_LINE_BYTES_MAX {
        return Err(HeadError::UriTooLong);
    }
    let mut slots = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut slots);
    let head_len = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if window.len() >= HEAD_BYTES_MAX => {
            return Err(HeadError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    assert!(head_len <= window.len());

    let (Some(method_str), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        // httparse fills all three on Complete; treat a miss as a malformed line, not a crash.
        return Err(HeadError::Malformed("incomplete request line".into()));
    };
    if minor_version > 1 {
        return Err(HeadError::Malformed("unsupported HTTP version".into()));
    }
    let (path, query) = split_target(target)?;

    let mut framing = Framing::default();
    let headers = &mut head.headers;
    let mut count = 0;
    for h in req.headers.iter() {
        let value = trim_blanks(h.value);
        framing.observe(h.name, value)?;
        if count == headers.len() {
            headers.push((String::new(), Vec::new()));
        }
        let (name, val) = &mut headers[count];
        name.clear();
        name.push_str(h.name);
        name.make_ascii_lowercase();
        val.clear();
        val.extend_from_slice(value);
        count += 1;
    }
    headers.truncate(count);

    let content_length = framing.content_length;
    let chunked = framing.transfer_encoding;
    if chunked && content_length.is_some() {
        return Err(HeadError::ConflictingFraming);
    }
    if chunked && minor_version == 0 {
        // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
        return Err(HeadError::Malformed(
            "Transfer-Encoding in an HTTP/1.0 request".into(),
        ));
    }
    if framing.host_count > 1 {
        return Err(HeadError::Malformed("more than one Host header".into()));
    }
    let keep_alive = if minor_version >= 1 {
        !framing.connection_close
    } else {
        framing.connection_keep_alive && !framing.connection_close
    };

    head.method = Method::from_token(method_str);
    set(&mut head.method_str, method_str);
    set(&mut head.target, target);
    set(&mut head.path, path);
    set(&mut head.query, query);
    head.minor_version = minor_version;
    head.content_length = content_length;
    head.chunked = chunked;
    // An HTTP/1.0 client does not understand 1xx responses (RFC 9110 §10.1.1).
    head.expect_continue = framing.expect_continue && minor_version >= 1;
    head.keep_alive = keep_alive;
    Ok(Some(head_len))
}

fn set(s: &mut String, v: &str) {
    s.clear();
    s.push_str(v);
}

impl Default for RequestHead {
    fn default() -> Self {
        RequestHead {
            method: Method::Other,
            method_str: String::new(),
            target: String::new(),
            path: String::new(),
            query: String::new(),
            minor_version: 1,
            headers: Vec::new(),
            content_length: None,
            chunked: false,
            expect_continue: false,
            keep_alive: true,
        }
    }
}

/// Splits a request-target into raw path and raw query. Accepts origin-form (`/p?q`) and
/// absolute-form (`http://host/p?q`); everything else (`*`, authority-form) is malformed.
fn split_target(target: &str) -> Result<(&str, &str), HeadError> {
    if !target.is_ascii() {
        return Err(HeadError::Malformed("non-ASCII request target".into()));
    }
    if target.contains('#') {
        return Err(HeadError::Malformed("fragment in request target".into()));
    }
    let path_and_query = if target.starts_with('/') {
        target
    } else if let Some(rest) = strip_prefix_ignore_case(target, "http://")
        .or_else(|| strip_prefix_ignore_case(target, "https://"))
    {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if authority_end == 0 {
            return Err(HeadError::Malformed(
                "absolute-form target without host".into(),
            ));
        }
        &rest[authority_end..]
    } else {
        return Err(HeadError::Malformed(
            "request target must be origin-form or absolute".into(),
        ));
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_and_query, ""),
    };
    // `http://host?q` has an empty path, which means "/" (RFC 9112 §3.2.2).
    let path = if path.is_empty() { "/" } else { path };
    Ok((path, query))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn trim_blanks(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Framing-relevant facts gathered while walking the header lines.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    transfer_encoding: bool,
    expect_continue: bool,
    connection_close: bool,
    connection_keep_alive: bool,
    host_count: u32,
}

impl Framing {
    fn observe(&mut self, name: &str, value: &[u8]) -> Result<(), HeadError> {
        if name.eq_ignore_ascii_case("content-length") {
            // The value may itself be a list ("5, 5"); every element must agree.
            let mut items = 0;
            for item in list_items(value) {
                let n = parse_decimal(item).ok_or(HeadError::BadContentLength)?;
                match self.content_length {
                    Some(prev) if prev != n => return Err(HeadError::BadContentLength),
                    _ => self.content_length = Some(n),
                }
                items += 1;
            }
            if items == 0 {
                return Err(HeadError::BadContentLength);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Across all Transfer-Encoding lines the coding list must be exactly ["chunked"].
            let mut items = 0;
            for item in list_items(value) {
                if self.transfer_encoding || !item.eq_ignore_ascii_case(b"chunked") {
                    return Err(HeadError::UnsupportedTransferEncoding);
                }
                self.transfer_encoding = true;
                items += 1;
            }
            if items == 0 {
                return Err(HeadError::UnsupportedTransferEncoding);
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for item in list_items(value) {
                if item.eq_ignore_ascii_case(b"close") {
                    self.connection_close = true;
                } else if item.eq_ignore_ascii_case(b"keep-alive") {
                    self.connection_keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case(b"100-continue") {
                self.expect_continue = true;
            }
        } else if name.eq_ignore_ascii_case("host") {
            self.host_count += 1;
        }
        Ok(())
    }
}

/// The non-empty elements of a comma-separated header list, blanks trimmed.
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_blanks)
        .filter(|item| !item.is_empty())
}

/// A strict `1*DIGIT`, refusing signs, blanks and overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(raw: &str) -> RequestHead {
        match parse_head(raw.as_bytes()) {
            Ok(Some((head, len))) => {
                assert_eq!(
                    len,
                    raw.find("\r\n\r\n").expect("test head ends with CRLFCRLF") + 4
                );
                head
            }
            other => panic!("expected a complete head for {raw:?}, got {other:?}"),
        }
    }

    fn parse_err(raw: &str) -> HeadError {
        match parse_head(raw.as_bytes()) {
            Err(e) => e,
            other => panic!("expected an error for {raw:?}, got {other:?}"),
        }
    }

    #[test]
    fn simple_get() {
        // Goal: the common case fills every field. Steps: parse a GET with a query and Host.
        let h = parse_ok("GET /v1/objects/b/o%20x?provider=ais HTTP/1.1\r\nHost: a:1\r\n\r\n");
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.method_str, "GET");
        assert_eq!(h.target, "/v1/objects/b/o%20x?provider=ais");
        assert_eq!(h.path, "/v1/objects/b/o%20x");
        assert_eq!(h.query, "provider=ais");
        assert_eq!(h.minor_version, 1);
        assert_eq!(h.header("host"), Some(&b"a:1"[..]));
        assert_eq!(h.header_str("HOST"), Some("a:1"));
        assert_eq!(h.content_length, None);
        assert!(!h.chunked);
        assert!(!h.expect_continue);
        assert!(h.keep_alive);
    }

    #[test]
    fn methods() {
        // Goal: every known method maps, and matching is case-sensitive.
        let cases = [
            ("GET", Method::Get),
            ("HEAD", Method::Head),
            ("PUT", Method::Put),
            ("POST", Method::Post),
            ("DELETE", Method::Delete),
            ("PATCH", Method::Patch),
            ("OPTIONS", Method::Options),
            ("get", Method::Other),
            ("PROPFIND", Method::Other),
        ];
        for (token, method) in cases {
            let h = parse_ok(&format!("{token} / HTTP/1.1\r\n\r\n"));
            assert_eq!(h.method, method, "{token}");
            assert_eq!(h.method_str, token);
        }
    }

    #[test]
    fn incomplete_needs_more() {
        // Goal: every strict prefix of a valid head asks for more bytes.
        let raw = b"PUT /v1/objects/b/o HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        let head_len = raw.len() - 5;
        for cut in 0..head_len {
            assert_eq!(parse_head(&raw[..cut]), Ok(None), "cut at {cut}");
        }
        let (h, len) = parse_head(raw).expect("valid").expect("complete");
        assert_eq!(len, head_len);
        assert_eq!(h.content_length, Some(5));
    }

    #[test]
    fn too_large() {
        // Goal: a head that does not end within HEAD_BYTES_MAX is refused with 431, and a
        // complete head just under the limit is accepted.
        let mut raw = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        raw.resize(HEAD_BYTES_MAX + 10, b'a');
        assert_eq!(parse_head(&raw), Err(HeadError::TooLarge));
        assert_eq!(parse_head(&raw[..HEAD_BYTES_MAX]), Err(HeadError::TooLarge));
        assert_eq!(parse_head(&raw[..HEAD_BYTES_MAX - 1]), Ok(None));
        assert_eq!(HeadError::TooLarge.status(), 431);

        let mut fits = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        fits.resize(HEAD_BYTES_MAX - 4, b'a');
        fits.extend_from_slice(b"\r\n\r\n");
        assert_eq!(fits.len(), HEAD_BYTES_MAX);
        let (_, len) = parse_head(&fits).expect("valid").expect("complete");
        assert_eq!(len, HEAD_BYTES_MAX);
    }

    #[test]
    fn request_line_too_long() {
        // Goal: a request line that does not end within REQUEST_LINE_BYTES_MAX is 414 as soon
        // as that many bytes arrived (complete or not); one that ends exactly at the limit is
        // accepted.
        let line_of = |len: usize| {
            let fixed = "GET / HTTP/1.1\r\n".len();
            format!("GET /{} HTTP/1.1\r\n", "a".repeat(len - fixed))
        };
        let fits = line_of(REQUEST_LINE_BYTES_MAX);
        assert_eq!(fits.len(), REQUEST_LINE_BYTES_MAX);
        let h = parse_ok(&format!("{fits}Host: x\r\n\r\n"));
        assert_eq!(
            h.path.len(),
            REQUEST_LINE_BYTES_MAX - "GET  HTTP/1.1\r\n".len()
        );
        let over = line_of(REQUEST_LINE_BYTES_MAX + 1);
        let e = parse_err(&format!("{over}Host: x\r\n\r\n"));
        assert_eq!(e, HeadError::UriTooLong);
        assert_eq!(e.status(), 414);
        // Incomplete: refused once the limit's worth of bytes came without a line end.
        let partial = &over.as_bytes()[..REQUEST_LINE_BYTES_MAX];
        assert_eq!(parse_head(partial), Err(HeadError::UriTooLong));
        assert_eq!(parse_head(&partial[..REQUEST_LINE_BYTES_MAX - 1]), Ok(None));
    }

    #[test]
    fn too_many_headers() {
        // Goal: HEADERS_MAX lines pass, one more is 431.
        let build = |n: usize| {
            let mut s = String::from("GET / HTTP/1.1\r\n");
            for i in 0..n {
                s.push_str(&format!("X-H{i}: v\r\n"));
            }
            s.push_str("\r\n");
            s
        };
        assert_eq!(parse_ok(&build(HEADERS_MAX)).headers.len(), HEADERS_MAX);
        let e = parse_err(&build(HEADERS_MAX + 1));
        assert_eq!(e, HeadError::TooManyHeaders);
        assert_eq!(e.status(), 431);
    }

    #[test]
    fn headers_lowercased_trimmed_and_repeated() {
        // Goal: names are lowercased, values trimmed, repeats kept in order.
        let h = parse_ok(
            "PUT /o HTTP/1.1\r\nAis-Custom-Md: a=1 \r\nAIS-CUSTOM-MD:b=2\r\nX-Empty:\r\n\r\n",
        );
        let all: Vec<&[u8]> = h.headers_all("ais-custom-md").collect();
        assert_eq!(all, vec![&b"a=1"[..], &b"b=2"[..]]);
        assert_eq!(h.headers[0].0, "ais-custom-md");
        assert_eq!(h.header("x-empty"), Some(&b""[..]));
        assert_eq!(h.header("missing"), None);
    }

    #[test]
    fn non_utf8_header_value() {
        // Goal: obs-text in a value is kept as bytes; header_str declines it.
        let raw = b"GET / HTTP/1.1\r\nX-Bin: \xff\xfe\r\n\r\n";
        let (h, _) = parse_head(raw).expect("valid").expect("complete");
        assert_eq!(h.header("x-bin"), Some(&b"\xff\xfe"[..]));
        assert_eq!(h.header_str("x-bin"), None);
    }

    #[test]
    fn content_length_rules() {
        // Goal: strict decimal, agreeing repeats allowed, anything else 400.
        let cl = |v: &str| format!("PUT /o HTTP/1.1\r\nContent-Length: {v}\r\n\r\n");
        assert_eq!(parse_ok(&cl("0")).content_length, Some(0));
        assert_eq!(
            parse_ok(&cl("18446744073709551615")).content_length,
            Some(u64::MAX)
        );
        assert_eq!(parse_ok(&cl("7, 7")).content_length, Some(7));
        let two = "PUT /o HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(parse_ok(two).content_length, Some(3));
        for bad in [
            "",
            "-1",
            "+1",
            "1.0",
            "0x10",
            "18446744073709551616",
            "3, 4",
            "1 2",
            ",",
        ] {
            let e = parse_err(&cl(bad));
            assert_eq!(e, HeadError::BadContentLength, "{bad:?}");
            assert_eq!(e.status(), 400);
        }
        let differ = "PUT /o HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        assert_eq!(parse_err(differ), HeadError::BadContentLength);
    }

    #[test]
    fn transfer_encoding_rules() {
        // Goal: only a single "chunked" coding is accepted; smuggling shapes are refused.
        let te = |v: &str| format!("PUT /o HTTP/1.1\r\nTransfer-Encoding: {v}\r\n\r\n");
        for ok in ["chunked", "Chunked", " CHUNKED ", "chunked,"] {
            let h = parse_ok(&te(ok));
            assert!(h.chunked, "{ok:?}");
            assert_eq!(h.content_length, None);
        }
        for bad in [
            "gzip",
            "gzip, chunked",
            "chunked, gzip",
            "chunked, chunked",
            "",
            "identity",
        ] {
            let e = parse_err(&te(bad));
            assert_eq!(e, HeadError::UnsupportedTransferEncoding, "{bad:?}");
            assert_eq!(e.status(), 501);
        }
        let twice = "PUT /o HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\
                     Transfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse_err(twice), HeadError::UnsupportedTransferEncoding);
        let both = "PUT /o HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse_err(both), HeadError::ConflictingFraming);
        assert_eq!(HeadError::ConflictingFraming.status(), 400);
        let both_rev = "PUT /o HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(parse_err(both_rev), HeadError::ConflictingFraming);
        let http10 = "PUT /o HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(parse_err(http10), HeadError::Malformed(_)));
    }

    #[test]
    fn keep_alive_rules() {
        // Goal: RFC 9112 §9.3 persistence defaults for 1.1 and 1.0.
        let cases = [
            ("HTTP/1.1", "", true),
            ("HTTP/1.1", "Connection: close\r\n", false),
            ("HTTP/1.1", "Connection: Keep-Alive, Close\r\n", false),
            ("HTTP/1.1", "Connection: upgrade\r\n", true),
            ("HTTP/1.0", "", false),
            ("HTTP/1.0", "Connection: keep-alive\r\n", true),
            ("HTTP/1.0", "Connection: te, KEEP-ALIVE\r\n", true),
            (
                "HTTP/1.0",
                "Connection: keep-alive\r\nConnection: close\r\n",
                false,
            ),
        ];
        for (version, extra, want) in cases {
            let h = parse_ok(&format!("GET / {version}\r\n{extra}\r\n"));
            assert_eq!(h.keep_alive, want, "{version} {extra:?}");
        }
    }

    #[test]
    fn expect_continue() {
        // Goal: 100-continue is seen on 1.1 only; other expectations are ignored.
        let h = parse_ok("PUT /o HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
        assert!(h.expect_continue);
        let h = parse_ok("PUT /o HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(!h.expect_continue);
        let h = parse_ok("PUT /o HTTP/1.1\r\nExpect: something\r\n\r\n");
        assert!(!h.expect_continue);
    }

    #[test]
    fn targets() {
        // Goal: origin-form and absolute-form give the same path/query; other forms are 400.
        let cases = [
            ("/", "/", ""),
            ("/a/b?", "/a/b", ""),
            ("/a?x=1&y", "/a", "x=1&y"),
            ("/a?b?c", "/a", "b?c"),
            (
                "http://h:8080/v1/objects/b/o?provider=ais",
                "/v1/objects/b/o",
                "provider=ais",
            ),
            ("HTTP://h/x", "/x", ""),
            ("https://h", "/", ""),
            ("http://h?q=1", "/", "q=1"),
        ];
        for (target, path, query) in cases {
            let h = parse_ok(&format!("GET {target} HTTP/1.1\r\n\r\n"));
            assert_eq!(h.target, target);
            assert_eq!(h.path, path, "{target}");
            assert_eq!(h.query, query, "{target}");
        }
        for bad in [
            "*",
            "h:80",
            "v1/objects",
            "ftp://h/x",
            "http:///x",
            "/a#frag",
        ] {
            let e = parse_err(&format!("OPTIONS {bad} HTTP/1.1\r\n\r\n"));
            assert!(matches!(e, HeadError::Malformed(_)), "{bad}: {e:?}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn malformed_lines() {
        // Goal: garbage, bad versions and header syntax errors are 400, never a panic.
        let bad: [&[u8]; 9] = [
            b"GET\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.2\r\n\r\n",
            b"GET / FTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
            b"GET / HTTP/1.1\r\nName : v\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ];
        for raw in bad {
            match parse_head(raw) {
                Err(HeadError::Malformed(_)) => {}
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
            }
        }
    }

    #[test]
    fn pipelined_requests() {
        // Goal: the head length lets the caller find the next request in the same buffer.
        let raw = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        let (first, n) = parse_head(raw).expect("valid").expect("complete");
        assert_eq!(first.path, "/a");
        let (second, m) = parse_head(&raw[n..]).expect("valid").expect("complete");
        assert_eq!(second.path, "/b");
        assert_eq!(n + m, raw.len());
    }

    #[test]
    fn random_bytes_never_panic() {
        // Goal: arbitrary input produces a result, not a panic. Steps: xorshift-generated
        // buffers, biased towards HTTP-ish bytes, through parse_head.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"GET /?=&:\r\n HTTP/1.01 chunked,Content-Length\t\xff";
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 80) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|i| alphabet[((state >> (i % 50)) as usize + i * 7) % alphabet.len()])
                .collect();
            let _ = parse_head(&buf);
        }
    }
}

#[cfg(test)]
mod reuse_tests {
    use super::*;

    #[test]
    fn parse_into_reuses_and_matches_parse_head() {
        // Goal: parsing into a reused head gives exactly what a fresh parse gives, including
        // when the previous request had more headers or longer fields.
        let reqs: [&[u8]; 3] = [
            b"PUT /v1/objects/b/a/long/name?provider=ais HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-A: 1\r\nX-B: 2\r\n\r\nabc",
            b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"HEAD /v1/objects/b/o?props=size HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
        ];
        let mut reused = RequestHead::default();
        for _ in 0..2 {
            for r in reqs {
                let n = parse_head_into(r, &mut reused).unwrap().unwrap();
                let (fresh, m) = parse_head(r).unwrap().unwrap();
                assert_eq!(n, m);
                assert_eq!(reused, fresh);
            }
        }
    }
}
