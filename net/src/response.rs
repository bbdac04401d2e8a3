//! HTTP/1.1 response heads, appended into a caller-owned `Vec<u8>` that is reused across
//! responses, so writing a head does not allocate once the buffer has grown.
//!
//! Use the free functions ([`start`], [`header`], [`header_u64`], [`finish`]) or the same
//! operations chained on a [`ResponseHead`].

/// The interim response to `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The standard reason phrase for `status`, or `""` for codes without one.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// Appends the status line `HTTP/1.1 <status> <reason>\r\n`.
pub fn start(buf: &mut Vec<u8>, status: u16) {
    assert!(
        (100..=999).contains(&status),
        "status {status} is not three digits"
    );
    buf.extend_from_slice(b"HTTP/1.1 ");
    push_u64(buf, u64::from(status));
    buf.push(b' ');
    buf.extend_from_slice(reason(status).as_bytes());
    buf.extend_from_slice(b"\r\n");
}

/// Appends `name: value\r\n`.
///
/// `name` comes from our code, so a name that is not an HTTP token is a bug and panics.
/// `value` may carry user data (object names, custom metadata): CR, LF and NUL in it are
/// written as spaces so a value can never split the response.
pub fn header(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    push_name(buf, name);
    let from = buf.len();
    buf.extend_from_slice(value);
    for b in &mut buf[from..] {
        if matches!(*b, b'\r' | b'\n' | 0) {
            *b = b' ';
        }
    }
    buf.extend_from_slice(b"\r\n");
}

/// Appends `name: <decimal v>\r\n` without allocating.
pub fn header_u64(buf: &mut Vec<u8>, name: &str, v: u64) {
    push_name(buf, name);
    push_u64(buf, v);
    buf.extend_from_slice(b"\r\n");
}

/// Appends the blank line that ends the head.
pub fn finish(buf: &mut Vec<u8>) {
    buf.extend_from_slice(b"\r\n");
}

/// A response head being appended to a buffer; methods chain:
/// `ResponseHead::start(&mut buf, 200).header_u64("Content-Length", 5).finish();`
#[derive(Debug)]
pub struct ResponseHead<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> ResponseHead<'a> {
    /// Appends the status line and returns the builder.
    pub fn start(buf: &'a mut Vec<u8>, status: u16) -> Self {
        start(buf, status);
        ResponseHead { buf }
    }

    /// Appends a header; see [`header`].
    pub fn header(self, name: &str, value: &[u8]) -> Self {
        header(self.buf, name, value);
        self
    }

    /// Appends a decimal header; see [`header_u64`].
    pub fn header_u64(self, name: &str, v: u64) -> Self {
        header_u64(self.buf, name, v);
        self
    }

    /// Ends the head.
    pub fn finish(self) {
        finish(self.buf);
    }
}

fn push_name(buf: &mut Vec<u8>, name: &str) {
    assert!(!name.is_empty(), "empty header name");
    assert!(
        name.bytes().all(is_token_byte),
        "header name {name:?} is not a token"
    );
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b": ");
}

fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES[b as usize]
}

/// Which bytes may appear in a header name (RFC 9110 `tchar`), by byte value: one load per
/// byte instead of a search of the punctuation list (this runs for every header sent).
static TOKEN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let punct = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < punct.len() {
        t[punct[i] as usize] = true;
        i += 1;
    }
    t
};

/// Appends the decimal digits of `v`, formatted on the stack.
fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_head() {
        // Goal: the free functions produce a byte-exact head.
        let mut buf = Vec::new();
        start(&mut buf, 206);
        header(&mut buf, "Content-Range", b"bytes 0-9/100");
        header_u64(&mut buf, "Content-Length", 10);
        finish(&mut buf);
        assert_eq!(
            buf,
            b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\n\
              Content-Length: 10\r\n\r\n"
        );
    }

    #[test]
    fn builder_matches_free_functions() {
        // Goal: the chained form writes the same bytes into a reused buffer.
        let mut buf = b"leftover".to_vec();
        buf.clear();
        ResponseHead::start(&mut buf, 404)
            .header("X-A", b"1")
            .header_u64("X-B", 0)
            .finish();
        assert_eq!(buf, b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\nX-B: 0\r\n\r\n");
    }

    #[test]
    fn numbers() {
        // Goal: edge values format like Display.
        for v in [0, 1, 9, 10, 99, 100, 12345, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            push_u64(&mut buf, v);
            assert_eq!(buf, v.to_string().as_bytes());
        }
    }

    #[test]
    fn unknown_status_and_reasons() {
        // Goal: unknown codes still give a valid status line; CONTINUE_100 is well-formed.
        let mut buf = Vec::new();
        start(&mut buf, 599);
        assert_eq!(buf, b"HTTP/1.1 599 \r\n");
        assert_eq!(reason(416), "Range Not Satisfiable");
        assert_eq!(reason(431), "Request Header Fields Too Large");
        assert!(CONTINUE_100.starts_with(b"HTTP/1.1 100 "));
        assert!(CONTINUE_100.ends_with(b"\r\n\r\n"));
    }

    #[test]
    fn value_cannot_split_response() {
        // Goal: CR/LF/NUL in a value are neutralised.
        let mut buf = Vec::new();
        header(&mut buf, "Ais-Name", b"a\r\nSet-Cookie: x\0");
        assert_eq!(buf, b"Ais-Name: a  Set-Cookie: x \r\n");
    }

    #[test]
    fn token_bytes_are_rfc9110_tchar() {
        // Goal: the lookup table accepts exactly RFC 9110's tchar set, for every byte value.
        for b in 0..=255u8 {
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_token_byte(b), tchar, "byte {b}");
        }
    }

    #[test]
    #[should_panic(expected = "not a token")]
    fn bad_name_panics() {
        header(&mut Vec::new(), "Bad Name", b"v");
    }
}
