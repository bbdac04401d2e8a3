//! Property tests of the parsers that see client bytes: request heads, the chunked decoder,
//! `Range` and percent-decoding. No input makes any of them panic; generated valid inputs
//! round-trip (a head's method, path, query and headers; a chunked body however it is split;
//! a range; an encoded path).

use net::chunked::ChunkedDecoder;
use net::head::parse_head;
use net::range::parse_range;
use net::url::{percent_decode, percent_encode_path};
use proptest::prelude::*;

/// Decodes `wire` fed in pieces of the sizes in `pieces` (cycled; 0 counts as 1), as a
/// connection does: unconsumed bytes stay in the buffer. Returns the body, whether it ended,
/// and whether the decoder refused the input.
fn decode(wire: &[u8], pieces: &[usize]) -> (Vec<u8>, bool, bool) {
    let mut d = ChunkedDecoder::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut body = Vec::new();
    let mut fed = 0;
    let mut next = pieces.iter().cycle();
    loop {
        let step = match d.step(&buf) {
            Ok(s) => s,
            Err(_) => return (body, false, true),
        };
        assert!(step.consumed <= buf.len(), "consumed past the input");
        assert!(
            step.data.start <= step.data.end && step.data.end == step.consumed,
            "data {:?} must end at consumed {}",
            step.data,
            step.consumed
        );
        body.extend_from_slice(&buf[step.data.clone()]);
        buf.drain(..step.consumed);
        if step.done {
            return (body, true, false);
        }
        if !step.data.is_empty() {
            continue;
        }
        if fed == wire.len() {
            return (body, false, false);
        }
        let n = (*next.next().unwrap_or(&1)).max(1).min(wire.len() - fed);
        buf.extend_from_slice(&wire[fed..fed + n]);
        fed += n;
    }
}

fn chunked_wire(body: &[u8], sizes: &[usize], ext: bool, trailer: bool) -> Vec<u8> {
    let mut w = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < body.len() {
        let n = sizes
            .get(i)
            .copied()
            .unwrap_or(1)
            .max(1)
            .min(body.len() - at);
        w.extend_from_slice(format!("{n:x}").as_bytes());
        if ext {
            w.extend_from_slice(b";name=\"v\"");
        }
        w.extend_from_slice(b"\r\n");
        w.extend_from_slice(&body[at..at + n]);
        w.extend_from_slice(b"\r\n");
        at += n;
        i += 1;
    }
    w.extend_from_slice(b"0\r\n");
    if trailer {
        w.extend_from_slice(b"X-Trailer: yes\r\n");
    }
    w.extend_from_slice(b"\r\n");
    w
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn head_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(Some((head, used))) = parse_head(&bytes) {
            prop_assert!(used <= bytes.len());
            prop_assert!(head.path.starts_with('/'));
        }
    }

    #[test]
    fn head_parser_never_panics_on_head_like_text(
        method in "(GET|PUT|HEAD|DELETE|POST|PATCH|[A-Z]{1,8})",
        target in "[ -~]{0,64}",
        lines in proptest::collection::vec("[ -~]{0,40}", 0..8),
        version in "HTTP/1\\.[0-9]|HTTP/[0-9]\\.[0-9]",
    ) {
        let mut raw = format!("{method} {target} {version}\r\n");
        for l in &lines {
            raw.push_str(l);
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        let _ = parse_head(raw.as_bytes());
    }

    #[test]
    fn valid_head_round_trips(
        method in "(GET|PUT|HEAD|DELETE|POST|PATCH)",
        path in "(/[a-zA-Z0-9._~%-]{1,12}){1,4}",
        query in proptest::option::of("[a-z]{1,6}=[a-zA-Z0-9%]{0,8}"),
        headers in proptest::collection::vec(("x-[a-z]{1,10}", "[!-~]([ -~]{0,30}[!-~])?"), 0..10),
    ) {
        let mut raw = format!("{method} {path}");
        if let Some(q) = &query {
            raw.push('?');
            raw.push_str(q);
        }
        raw.push_str(" HTTP/1.1\r\nHost: h\r\n");
        for (k, v) in &headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        let (head, used) = parse_head(raw.as_bytes())
            .expect("a valid head parses")
            .expect("a complete head");
        prop_assert_eq!(used, raw.len());
        prop_assert_eq!(&head.method_str, &method);
        prop_assert_eq!(&head.path, &path);
        prop_assert_eq!(&head.query, &query.clone().unwrap_or_default());
        for (k, v) in &headers {
            prop_assert!(head.headers_all(k).any(|got| got == v.as_bytes()), "{k}");
        }
        // Every prefix is incomplete, never an error or a different head.
        for cut in [0, raw.len() / 2, raw.len() - 1] {
            prop_assert!(matches!(parse_head(&raw.as_bytes()[..cut]), Ok(None)));
        }
    }

    #[test]
    fn chunked_round_trips_however_split(
        body in proptest::collection::vec(any::<u8>(), 0..4096),
        sizes in proptest::collection::vec(1usize..700, 1..16),
        pieces in proptest::collection::vec(0usize..300, 1..8),
        ext in any::<bool>(),
        trailer in any::<bool>(),
    ) {
        let wire = chunked_wire(&body, &sizes, ext, trailer);
        let (got, done, refused) = decode(&wire, &pieces);
        prop_assert!(!refused);
        prop_assert!(done);
        prop_assert_eq!(got, body);
    }

    #[test]
    fn chunked_decoder_never_panics(
        wire in proptest::collection::vec(any::<u8>(), 0..2048),
        pieces in proptest::collection::vec(0usize..64, 1..8),
    ) {
        let (got, _, _) = decode(&wire, &pieces);
        prop_assert!(got.len() <= wire.len());
    }

    #[test]
    fn chunked_decoder_never_panics_on_chunk_like_text(
        parts in proptest::collection::vec("([0-9a-fA-F]{0,20}|[;= \t\"a-z]{0,6}|\r\n|\r|\n|[ -~]{0,8})", 0..24),
        pieces in proptest::collection::vec(0usize..16, 1..4),
    ) {
        let wire: Vec<u8> = parts.concat().into_bytes();
        let _ = decode(&wire, &pieces);
    }

    #[test]
    fn range_parser_never_panics_and_stays_in_bounds(value in "[ -~]{0,40}", size in any::<u64>()) {
        if let Ok((s, e)) = parse_range(&value, size) {
            prop_assert!(s <= e && e < size, "{value:?} size {size}: {s}-{e}");
        }
    }

    #[test]
    fn range_like_values_stay_in_bounds(
        a in proptest::option::of(any::<u64>()),
        b in proptest::option::of(any::<u64>()),
        size in 0u64..1 << 40,
    ) {
        let v = format!(
            "bytes={}-{}",
            a.map(|x| x.to_string()).unwrap_or_default(),
            b.map(|x| x.to_string()).unwrap_or_default()
        );
        if let Ok((s, e)) = parse_range(&v, size) {
            prop_assert!(s <= e && e < size, "{v} size {size}: {s}-{e}");
        }
    }

    #[test]
    fn explicit_range_round_trips(size in 1u64..1 << 40, x in any::<u64>(), y in any::<u64>()) {
        let (s, e) = {
            let (p, q) = (x % size, y % size);
            (p.min(q), p.max(q))
        };
        prop_assert_eq!(parse_range(&format!("bytes={s}-{e}"), size), Ok((s, e)));
    }

    #[test]
    fn percent_decoding_never_panics(s in "([ -~]|%[0-9a-fA-F]{0,2}|\\PC){0,64}") {
        let _ = percent_decode(&s);
    }

    #[test]
    fn percent_encoding_round_trips(s in "\\PC{0,64}") {
        prop_assert_eq!(percent_decode(&percent_encode_path(&s)), Ok(s));
    }
}
