//! HTTP/1.1 client pieces, pure (no I/O): request heads written into a reused buffer and the
//! AIS checksum a response head announces. Responses are framed by `net::framer`.

use std::io::Write;

use net::framer::ResponseHead;

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

impl Checksum {
    /// The checksum announced by a response head.
    pub fn of(head: &ResponseHead) -> Checksum {
        checksum_of(
            head.header("ais-checksum-type"),
            head.header("ais-checksum-value"),
        )
    }
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

/// S3 credentials to sign requests with (SigV4).
#[derive(Clone)]
pub struct S3Creds {
    pub access_key: String,
    pub secret: String,
    pub region: String,
}

impl std::fmt::Debug for S3Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Creds")
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The headers that sign a request with SigV4 at `now` (`x-amz-content-sha256:
/// UNSIGNED-PAYLOAD`, `x-amz-date`, `Authorization`), covering `host` and those two.
/// `path_and_query` is as sent (already percent-encoded).
pub fn s3_sign(
    creds: &S3Creds,
    method: &str,
    path_and_query: &str,
    host: &str,
    now: std::time::SystemTime,
) -> [(&'static str, String); 3] {
    use net::sigv4;
    thread_local! {
        /// The last `x-amz-date` formatted, by its second: requests in the same second reuse it.
        static DATE: std::cell::RefCell<(u64, String)> = Default::default();
    }
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let date = DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs || d.1.is_empty() {
            *d = (secs, sigv4::format_amz_date(now));
        }
        d.1.clone()
    });
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let headers: [(&str, &[u8]); 3] = [
        ("host", host.as_bytes()),
        ("x-amz-content-sha256", sigv4::UNSIGNED_PAYLOAD.as_bytes()),
        ("x-amz-date", date.as_bytes()),
    ];
    let req = sigv4::Request {
        method,
        raw_path: path,
        raw_query: query,
        headers: &headers,
    };
    thread_local! {
        /// This client thread's signing keys: one derivation per key and day.
        static KEYS: std::cell::RefCell<sigv4::KeyCache> = Default::default();
    }
    let sig = KEYS
        .with(|keys| {
            sigv4::sign_request_cached(
                &req,
                &["host", "x-amz-content-sha256", "x-amz-date"],
                sigv4::UNSIGNED_PAYLOAD,
                &creds.access_key,
                &creds.secret,
                &creds.region,
                &date,
                &mut keys.borrow_mut(),
            )
        })
        .expect("every signed header is present");
    [
        ("x-amz-content-sha256", sigv4::UNSIGNED_PAYLOAD.to_string()),
        ("x-amz-date", date),
        ("Authorization", sig.authorization),
    ]
}

/// Adds headers to a head written by `write_request_head` (before its blank line).
pub fn append_headers(out: &mut Vec<u8>, headers: &[(&str, String)]) {
    debug_assert!(out.ends_with(b"\r\n\r\n"));
    out.truncate(out.len() - 2);
    for (n, v) in headers {
        for piece in [n.as_bytes(), b": ", v.as_bytes(), b"\r\n"] {
            out.extend_from_slice(piece);
        }
    }
    out.extend_from_slice(b"\r\n");
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
    // The response framing tests that lived here moved to `net::framer` with the parser.
    use super::*;
    use net::framer::{header_slots, parse_head, Framing};

    /// The checksum and a few head facts of `raw`, parsed by the shared framer.
    fn parsed(raw: &str) -> (u16, usize, Framing, bool, Checksum) {
        let mut slots = header_slots();
        let h = parse_head(raw.as_bytes(), &mut slots, false)
            .unwrap()
            .expect("complete head");
        (
            h.status,
            h.head_len,
            h.framing,
            h.keep_alive,
            Checksum::of(&h),
        )
    }

    #[test]
    fn ais_get_head() {
        let head_text = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                         Content-Length: 4096\r\nAis-Checksum-Type: xxhash2\r\n\
                         Ais-Checksum-Value: 0123456789abcdef\r\n\r\n";
        let (status, head_len, framing, keep_alive, checksum) = parsed(&format!("{head_text}BODY"));
        assert_eq!(status, 200);
        assert_eq!(framing, Framing::Length(4096));
        assert!(keep_alive);
        assert_eq!(checksum, Checksum::Xxh64(0x0123_4567_89ab_cdef));
        assert_eq!(head_len, head_text.len(), "the head ends before BODY");
    }

    #[test]
    fn checksum_headers() {
        let ck = |t: &str, v: &str| {
            parsed(&format!("HTTP/1.1 200 OK\r\nAis-Checksum-Type: {t}\r\nAis-Checksum-Value: {v}\r\nContent-Length: 0\r\n\r\n")).4
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
        let h = parsed("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((h.2, h.4), (Framing::Length(0), Checksum::Absent));
    }

    #[test]
    fn s3_signed_heads_verify() {
        // Goal: a head signed by s3_sign passes the node's SigV4 check with the right secret
        // and fails with another.
        let creds = S3Creds {
            access_key: "AK".into(),
            secret: "sk".into(),
            region: "us-east-1".into(),
        };
        let now = std::time::SystemTime::now();
        let signed = s3_sign(&creds, "GET", "/s3/b/o%20x?list-type=2", "h:1", now);
        let mut headers: Vec<(&str, &[u8])> = vec![("Host", b"h:1")];
        headers.extend(signed.iter().map(|(n, v)| (*n, v.as_bytes())));
        let req = net::sigv4::Request {
            method: "GET",
            raw_path: "/s3/b/o%20x",
            raw_query: "list-type=2",
            headers: &headers,
        };
        let ok = net::sigv4::verify(&req, |k| (k == "AK").then_some("sk"), now);
        assert!(ok.is_ok(), "{ok:?}");
        let bad = net::sigv4::verify(&req, |_| Some("other"), now);
        assert_eq!(
            bad.unwrap_err(),
            net::sigv4::AuthError::SignatureDoesNotMatch
        );
        let mut out = Vec::new();
        write_request_head(&mut out, Method::Get, "/o", "h", &RequestExtras::default());
        append_headers(&mut out, &[("x-a", "1".to_string())]);
        assert_eq!(out, b"GET /o HTTP/1.1\r\nHost: h\r\nx-a: 1\r\n\r\n");
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
