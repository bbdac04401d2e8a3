//! Percent-encoding for request paths and query strings (RFC 3986 §2.1).
//!
//! Paths are decoded strictly, because an object name decoded two ways is a correctness bug:
//! a `%` must start a valid escape and the result must be UTF-8. Query strings are decoded
//! leniently in the `application/x-www-form-urlencoded` style (`+` is a space), since a bad
//! query parameter should fail on its value, not on parsing.

use thiserror::Error;

/// Why a path could not be percent-decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UrlError {
    /// A `%` not followed by two hex digits, at this byte offset.
    #[error("bad percent-escape at byte {0}")]
    BadEscape(usize),
    /// The decoded bytes are not UTF-8.
    #[error("percent-decoded path is not valid UTF-8")]
    InvalidUtf8,
}

/// Strictly decodes `%XX` escapes. `+` is left alone: it is not special in paths.
pub fn percent_decode(s: &str) -> Result<String, UrlError> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = escape_at(bytes, i).ok_or(UrlError::BadEscape(i))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::InvalidUtf8)
}

/// Splits a raw query string into decoded `(key, value)` pairs, in order.
///
/// `+` becomes a space and valid `%XX` escapes are decoded; an invalid escape is kept as
/// literal text and invalid UTF-8 is replaced, so this never fails. Empty segments (`a=1&&b`)
/// are skipped, and a segment without `=` has an empty value.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
            (form_decode(key), form_decode(value))
        })
        .collect()
}

/// Like [`percent_decode`], borrowing `s` when it has no escapes (the common case on the
/// request path, which then allocates nothing).
pub fn percent_decode_cow(s: &str) -> Result<std::borrow::Cow<'_, str>, UrlError> {
    if s.contains('%') {
        percent_decode(s).map(std::borrow::Cow::Owned)
    } else {
        Ok(std::borrow::Cow::Borrowed(s))
    }
}

/// The decoded value of the first pair of the raw query `q` whose decoded key is `key`,
/// decoded as [`parse_query`] does; borrowed when it needs no decoding.
pub fn query_value<'a>(q: &'a str, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    for segment in q.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = segment.split_once('=').unwrap_or((segment, ""));
        let key_matches = if k.contains(['%', '+']) {
            form_decode(k) == key
        } else {
            k == key
        };
        if key_matches {
            return Some(if v.contains(['%', '+']) {
                std::borrow::Cow::Owned(form_decode(v))
            } else {
                std::borrow::Cow::Borrowed(v)
            });
        }
    }
    None
}

/// The value of the first pair named `key`.
pub fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Percent-encodes everything except RFC 3986 unreserved characters and `/`, so an object
/// name can go into a request path as is.
pub fn percent_encode_path(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// The byte encoded by the `%XX` escape starting at `bytes[i]`, if it is valid.
fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    let hi = hex_digit(*bytes.get(i + 1)?)?;
    let lo = hex_digit(*bytes.get(i + 2)?)?;
    Some(hi << 4 | lo)
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn form_decode(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match escape_at(bytes, i) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(decoded) => decoded,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_strict() {
        // Goal: valid escapes decode (any hex case), '+' stays, bad escapes name their offset.
        let ok = [
            ("plain/name.txt", "plain/name.txt"),
            ("a%20b", "a b"),
            ("a+b", "a+b"),
            ("%2F%2f", "//"),
            ("%C3%A9t%C3%A9", "été"),
            ("100%25", "100%"),
            ("", ""),
        ];
        for (input, want) in ok {
            assert_eq!(percent_decode(input).as_deref(), Ok(want), "{input}");
        }
        assert_eq!(percent_decode("%"), Err(UrlError::BadEscape(0)));
        assert_eq!(percent_decode("ab%2"), Err(UrlError::BadEscape(2)));
        assert_eq!(percent_decode("a%zz"), Err(UrlError::BadEscape(1)));
        assert_eq!(percent_decode("%+1"), Err(UrlError::BadEscape(0)));
        assert_eq!(percent_decode("%ff"), Err(UrlError::InvalidUtf8));
        assert_eq!(percent_decode("%C3"), Err(UrlError::InvalidUtf8));
    }

    #[test]
    fn query_pairs() {
        // Goal: form decoding, repeated keys in order, and best effort on bad input.
        let pairs = parse_query("provider=ais&prefix=a+b%2Fc&&flag&x=1=2&provider=gcp&bad=%zz%");
        let want = [
            ("provider", "ais"),
            ("prefix", "a b/c"),
            ("flag", ""),
            ("x", "1=2"),
            ("provider", "gcp"),
            ("bad", "%zz%"),
        ];
        let got: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(query_get(&pairs, "provider"), Some("ais"));
        assert_eq!(query_get(&pairs, "flag"), Some(""));
        assert_eq!(query_get(&pairs, "missing"), None);
        assert!(parse_query("").is_empty());
        assert_eq!(parse_query("k=%ff")[0].1, "\u{fffd}");
        assert_eq!(parse_query("%41%=b")[0].0, "A%");
    }

    #[test]
    fn encode_path() {
        // Goal: unreserved and '/' pass, everything else is %XX, and decoding inverts it.
        assert_eq!(percent_encode_path("dir/a-b_c.d~e"), "dir/a-b_c.d~e");
        assert_eq!(percent_encode_path("a b+c?d#e%f"), "a%20b%2Bc%3Fd%23e%25f");
        assert_eq!(percent_encode_path("été"), "%C3%A9t%C3%A9");
        for name in ["x y/z?=&#%+", "日本/語", "\u{7f}\t\n", "a//b/../c"] {
            assert_eq!(
                percent_decode(&percent_encode_path(name)).as_deref(),
                Ok(name)
            );
        }
    }
}

#[cfg(test)]
mod query_value_tests {
    use super::*;

    #[test]
    fn query_value_agrees_with_parse_query() {
        // Goal: the allocation-free lookup finds what parse_query + query_get find.
        for q in [
            "",
            "provider=ais",
            "a=1&provider=ais&b",
            "props=size%2Cchecksum&x=a+b",
            "p%72ovider=gcp",
            "&&k&k=2",
        ] {
            let pairs = parse_query(q);
            for key in ["provider", "props", "x", "k", "a", "missing"] {
                assert_eq!(
                    query_value(q, key).as_deref(),
                    query_get(&pairs, key),
                    "{q} {key}"
                );
            }
        }
    }
}
