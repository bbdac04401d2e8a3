//! Property tests of `net::framer`: generated pipelines of valid responses (every framing,
//! chunk extensions and trailers) come out exactly as generated however the bytes are split,
//! and arbitrary bytes give an error or responses, never a panic, the same for every split.

use net::framer::{header_slots, Event, FrameError, Framing, ResponseFramer};
use proptest::prelude::*;

/// One response as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    status: u16,
    framing: Framing,
    keep_alive: bool,
    body: Vec<u8>,
    ended: bool,
}

/// Feeds `wire` in pieces of the sizes in `pieces` (cycled; 0 counts as 1); the end of
/// `wire` is the peer closing. Returns the responses and the error, if any.
fn drive(wire: &[u8], pieces: &[usize]) -> (Vec<Seen>, Option<FrameError>) {
    let mut framer = ResponseFramer::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut received = 0;
    let mut next = pieces.iter().cycle();
    let mut seen: Vec<Seen> = Vec::new();
    loop {
        let mut slots = header_slots();
        let step = match framer.step(&buf, &mut slots) {
            Ok(s) => s,
            Err(e) => return (seen, Some(e)),
        };
        let consumed = step.consumed;
        let mut need_more = false;
        match step.event {
            Event::Head(h) => seen.push(Seen {
                status: h.status,
                framing: h.framing,
                keep_alive: h.keep_alive,
                body: Vec::new(),
                ended: false,
            }),
            Event::Body(r) => seen
                .last_mut()
                .expect("body after head")
                .body
                .extend_from_slice(&buf[r]),
            Event::End => seen.last_mut().expect("end after head").ended = true,
            Event::NeedMore => need_more = true,
        }
        buf.drain(..consumed);
        if !need_more {
            continue;
        }
        if received == wire.len() {
            if framer.at_head() && buf.is_empty() {
                return (seen, None);
            }
            return match framer.at_eof() {
                Ok(()) => {
                    seen.last_mut().expect("a body ended by the close").ended = true;
                    (seen, None)
                }
                Err(e) => (seen, Some(e)),
            };
        }
        let n = next
            .next()
            .copied()
            .unwrap_or(usize::MAX)
            .clamp(1, wire.len() - received);
        buf.extend_from_slice(&wire[received..received + n]);
        received += n;
    }
}

/// How a generated response frames its body.
#[derive(Debug, Clone)]
enum Kind {
    Length,
    /// Chunk sizes, with an extension on every other size line, and trailer count.
    Chunked(Vec<usize>, usize),
    /// A status that has no body, sent with a misleading Content-Length.
    NoBody(u16),
}

fn response() -> impl Strategy<Value = (u16, Kind, Vec<u8>)> {
    let kind = prop_oneof![
        Just(Kind::Length),
        (prop::collection::vec(1usize..40, 0..6), 0usize..3).prop_map(|(c, t)| Kind::Chunked(c, t)),
        prop::sample::select(vec![100u16, 103, 204, 304]).prop_map(Kind::NoBody),
    ];
    (
        prop::sample::select(vec![200u16, 201, 206, 400, 404, 500]),
        kind,
        prop::collection::vec(any::<u8>(), 0..200),
    )
}

/// The wire bytes of one response and what the framer must report for it.
fn encode(status: u16, kind: &Kind, body: &[u8], wire: &mut Vec<u8>) -> Seen {
    match kind {
        Kind::Length => {
            wire.extend_from_slice(
                format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nA: b\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            wire.extend_from_slice(body);
            Seen {
                status,
                framing: Framing::Length(body.len() as u64),
                keep_alive: true,
                body: body.to_vec(),
                ended: true,
            }
        }
        Kind::Chunked(sizes, trailers) => {
            wire.extend_from_slice(
                format!("HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n").as_bytes(),
            );
            let mut rest = body;
            let mut sent = Vec::new();
            for (i, &size) in sizes.iter().enumerate() {
                let n = size.min(rest.len());
                if n == 0 {
                    break;
                }
                let ext = if i % 2 == 0 { ";e=\"1;2\"" } else { "" };
                wire.extend_from_slice(format!("{n:X}{ext}\r\n").as_bytes());
                wire.extend_from_slice(&rest[..n]);
                wire.extend_from_slice(b"\r\n");
                sent.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
            }
            wire.extend_from_slice(b"0\r\n");
            for t in 0..*trailers {
                wire.extend_from_slice(format!("T-{t}: v\r\n").as_bytes());
            }
            wire.extend_from_slice(b"\r\n");
            Seen {
                status,
                framing: Framing::Chunked,
                keep_alive: true,
                body: sent,
                ended: true,
            }
        }
        Kind::NoBody(s) => {
            wire.extend_from_slice(
                format!("HTTP/1.1 {s} X\r\nContent-Length: 9\r\n\r\n").as_bytes(),
            );
            Seen {
                status: *s,
                framing: Framing::Length(0),
                keep_alive: true,
                body: Vec::new(),
                ended: true,
            }
        }
    }
}

proptest! {
    #[test]
    fn generated_pipelines_survive_any_split(
        responses in prop::collection::vec(response(), 1..6),
        pieces in prop::collection::vec(0usize..64, 1..8),
    ) {
        let mut wire = Vec::new();
        let want: Vec<Seen> = responses
            .iter()
            .map(|(status, kind, body)| encode(*status, kind, body, &mut wire))
            .collect();
        prop_assert_eq!(drive(&wire, &[usize::MAX]), (want.clone(), None));
        prop_assert_eq!(drive(&wire, &pieces), (want, None));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_ignore_splits(
        prefix in prop::sample::select(vec![&b""[..], b"HTTP/1.1 ", b"HTTP/1.1 200 OK\r\n"]),
        tail in prop::collection::vec(
            prop_oneof![
                any::<u8>(),
                prop::sample::select(b"\r\n:;0123456789aF \tHTP/.,".to_vec()),
            ],
            0..300,
        ),
        pieces in prop::collection::vec(0usize..32, 1..8),
    ) {
        let mut wire = prefix.to_vec();
        wire.extend_from_slice(&tail);
        let (whole_seen, whole_err) = drive(&wire, &[usize::MAX]);
        let (split_seen, split_err) = drive(&wire, &pieces);
        prop_assert_eq!(&split_seen, &whole_seen);
        prop_assert_eq!(split_err, whole_err);
        for s in &whole_seen {
            if let (Framing::Length(n), true) = (s.framing, s.ended) {
                prop_assert_eq!(s.body.len() as u64, n);
            }
        }
    }
}
