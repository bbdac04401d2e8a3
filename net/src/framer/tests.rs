//! Tests for the response framer: every framing, pipelined responses fed whole, split at
//! every byte boundary and in random pieces, bad input (an error, never a panic), and the
//! end-of-stream rules.

use super::*;

/// One response as a caller driving the framer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    status: u16,
    /// Names as sent, trimmed values.
    headers: Vec<(String, Vec<u8>)>,
    head_len: usize,
    framing: Framing,
    keep_alive: bool,
    body: Vec<u8>,
    /// `Event::End` was reported (or the close ended an until-close body).
    ended: bool,
}

/// What driving a whole stream produced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    responses: Vec<Seen>,
    error: Option<FrameError>,
    /// Input bytes left unconsumed at the end (a partial head when the stream stopped).
    leftover: usize,
}

/// Drives a framer over `wire` the way a connection would: unconsumed bytes stay at the
/// front of a buffer, `NeedMore` appends the next piece (sizes from `next_piece`), and the end
/// of `wire` is the peer closing.
fn drive(wire: &[u8], head_request: bool, mut next_piece: impl FnMut() -> usize) -> Outcome {
    let mut framer = ResponseFramer::new();
    framer.set_head_request(head_request);
    let mut buf: Vec<u8> = Vec::new();
    let mut received = 0;
    let mut responses: Vec<Seen> = Vec::new();
    // Where an error stops the input depends on the pieces, so it is not compared.
    let fail = |error, responses| Outcome {
        responses,
        error: Some(error),
        leftover: 0,
    };
    loop {
        let mut slots = header_slots();
        let step = match framer.step(&buf, &mut slots) {
            Ok(step) => step,
            Err(e) => return fail(e, responses),
        };
        assert!(step.consumed <= buf.len());
        let consumed = step.consumed;
        let need_more = match step.event {
            Event::NeedMore => true,
            Event::Head(h) => {
                assert_eq!(consumed, h.head_len);
                assert!(!framer.at_head() || h.framing == Framing::Length(0));
                responses.push(Seen {
                    status: h.status,
                    headers: h
                        .headers
                        .iter()
                        .map(|x| (x.name.to_owned(), trim(x.value).to_vec()))
                        .collect(),
                    head_len: h.head_len,
                    framing: h.framing,
                    keep_alive: h.keep_alive,
                    body: Vec::new(),
                    ended: false,
                });
                false
            }
            Event::Body(r) => {
                assert!(!r.is_empty(), "empty body events are never reported");
                assert_eq!(r.end, consumed);
                let last = responses.last_mut().expect("body after a head");
                last.body.extend_from_slice(&buf[r]);
                false
            }
            Event::End => {
                assert!(framer.at_head());
                let last = responses.last_mut().expect("end after a head");
                assert!(!last.ended);
                last.ended = true;
                false
            }
        };
        buf.drain(..consumed);
        if !need_more {
            continue;
        }
        if !framer.at_head() {
            assert!(buf.is_empty(), "NeedMore in a body left input unconsumed");
        }
        if received == wire.len() {
            // The peer closed. Between responses with nothing pending that is the end.
            if framer.at_head() && buf.is_empty() {
                return Outcome {
                    responses,
                    error: None,
                    leftover: 0,
                };
            }
            match framer.at_eof() {
                Ok(()) => {
                    let last = responses.last_mut().expect("a body ended by the close");
                    last.ended = true;
                    assert_eq!(framer.at_eof(), Err(FrameError::ClosedEarly));
                    return Outcome {
                        responses,
                        error: None,
                        leftover: buf.len(),
                    };
                }
                Err(e) => return fail(e, responses),
            }
        }
        let n = next_piece().clamp(1, wire.len() - received);
        buf.extend_from_slice(&wire[received..received + n]);
        received += n;
    }
}

fn whole(wire: &[u8]) -> Outcome {
    drive(wire, false, || usize::MAX)
}

fn bytewise(wire: &[u8]) -> Outcome {
    drive(wire, false, || 1)
}

/// The input split once at `at`: first piece, then the rest.
fn split_at(wire: &[u8], at: usize) -> Outcome {
    let mut first = true;
    drive(wire, false, move || {
        if std::mem::take(&mut first) {
            at
        } else {
            usize::MAX
        }
    })
}

/// A small xorshift generator, so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The parsed head of `raw` (which must be complete and valid).
fn head_of(raw: &str) -> (u16, Framing, bool) {
    let mut slots = header_slots();
    let h = parse_head(raw.as_bytes(), &mut slots, false)
        .expect("valid head")
        .expect("complete head");
    (h.status, h.framing, h.keep_alive)
}

fn head_error(raw: &[u8]) -> FrameError {
    let mut slots = header_slots();
    parse_head(raw, &mut slots, false).expect_err("a bad head")
}

/// A pipelined stream covering every framing, and the responses it must produce.
fn pipeline() -> (Vec<u8>, Vec<Seen>) {
    let seen = |status, head: &str, framing, keep_alive, body: &[u8]| Seen {
        status,
        headers: head
            .split("\r\n")
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header line");
                (n.to_owned(), v.trim().as_bytes().to_vec())
            })
            .collect(),
        head_len: head.len(),
        framing,
        keep_alive,
        body: body.to_vec(),
        ended: true,
    };
    let parts: Vec<(&str, &[u8], Seen)> = {
        let h1 = "HTTP/1.1 100 Continue\r\n\r\n";
        let h2 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nAis-Checksum-Type:  xxhash2 \r\n\r\n";
        let h3 = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n";
        let b3: &[u8] = b"3;name=\"v a\"\r\nabc\r\n0A\r\n0123456789\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n";
        let h4 = "HTTP/1.1 204 No Content\r\n\r\n";
        let h5 = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
        let h6 = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
        let h7 =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 99\r\n\r\n";
        let h8 = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n";
        let h9 = "HTTP/1.1 500 Internal Server Error\r\n\r\n";
        vec![
            (h1, b"", seen(100, h1, Framing::Length(0), true, b"")),
            (
                h2,
                b"hello",
                seen(200, h2, Framing::Length(5), true, b"hello"),
            ),
            (
                h3,
                b3,
                seen(404, h3, Framing::Chunked, true, b"abc0123456789"),
            ),
            (h4, b"", seen(204, h4, Framing::Length(0), true, b"")),
            (h5, b"", seen(304, h5, Framing::Length(0), true, b"")),
            (h6, b"", seen(201, h6, Framing::Length(0), true, b"")),
            (h7, b"0\r\n\r\n", seen(200, h7, Framing::Chunked, true, b"")),
            (h8, b"ok", seen(200, h8, Framing::Length(2), true, b"ok")),
            (
                h9,
                b"until\r\n\r\nclose",
                seen(500, h9, Framing::UntilClose, false, b"until\r\n\r\nclose"),
            ),
        ]
    };
    let mut wire = Vec::new();
    let mut want = Vec::new();
    for (head, body, s) in parts {
        wire.extend_from_slice(head.as_bytes());
        wire.extend_from_slice(body);
        want.push(s);
    }
    (wire, want)
}

#[test]
fn content_length_response() {
    // Goal: a typical AIS GET response: status, trimmed header lookup, head length, framing,
    // keep-alive, and a body that stops at its length (the rest is the next response).
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                Content-Length: 4096\r\nAis-Checksum-Type: xxhash2\r\n\
                Ais-Checksum-Value:   0123456789abcdef  \r\n\r\n";
    let mut wire = head.as_bytes().to_vec();
    wire.extend(std::iter::repeat_n(b'x', 4096));
    wire.extend_from_slice(b"HTTP/1.1 2");
    let mut framer = ResponseFramer::new();
    let mut slots = header_slots();
    let step = framer.step(&wire, &mut slots).expect("head");
    let Event::Head(h) = step.event else {
        panic!("not a head: {:?}", step.event)
    };
    assert_eq!(step.consumed, head.len());
    assert_eq!((h.status, h.minor_version, h.reason), (200, 1, "OK"));
    assert_eq!(h.head_len, head.len());
    assert_eq!(h.framing, Framing::Length(4096));
    assert!(h.keep_alive && !h.is_interim());
    assert_eq!(h.headers.len(), 4);
    assert_eq!(
        h.header("ais-checksum-value"),
        Some(&b"0123456789abcdef"[..])
    );
    assert_eq!(h.header("CONTENT-LENGTH"), Some(&b"4096"[..]));
    assert_eq!(h.header("etag"), None);
    assert!(!framer.at_head() && framer.passes_through());
    assert_eq!(framer.recv_limit(), 4096);
    assert_eq!(framer.body_remaining(), Some(4096));
    let rest = &wire[head.len()..];
    let mut slots = header_slots();
    let step = framer.step(&rest[..1000], &mut slots).expect("body");
    assert!(matches!(step.event, Event::Body(ref r) if *r == (0..1000)));
    assert_eq!(step.consumed, 1000);
    assert_eq!(framer.recv_limit(), 3096);
    let mut slots = header_slots();
    let step = framer.step(&rest[1000..], &mut slots).expect("body");
    assert!(matches!(step.event, Event::Body(ref r) if *r == (0..3096)));
    let mut slots = header_slots();
    let step = framer.step(&rest[4096..], &mut slots).expect("end");
    assert!(matches!(step.event, Event::End));
    assert_eq!(step.consumed, 0);
    assert!(framer.at_head());
    let mut slots = header_slots();
    let step = framer
        .step(&rest[4096..], &mut slots)
        .expect("partial head");
    assert!(matches!(step.event, Event::NeedMore));
    assert_eq!(step.consumed, 0);
}

#[test]
fn pipelined_stream_whole() {
    // Goal: one stream with every framing (1xx, length, chunked with extensions and trailers,
    // 204/304 ignoring their lengths, empty bodies, Transfer-Encoding overriding
    // Content-Length, HTTP/1.0 keep-alive, until-close) gives each response in order.
    let (wire, want) = pipeline();
    let out = whole(&wire);
    assert_eq!(out.error, None);
    assert_eq!(out.responses, want);
    assert_eq!(out.leftover, 0);
    assert!(out.responses[0].status == 100);
}

#[test]
fn pipelined_stream_split_at_every_byte() {
    // Goal: where the input is cut never changes the result: two pieces split at every
    // boundary, single bytes, and random piece sizes all equal the whole-input outcome.
    let (wire, want) = pipeline();
    let expected = Outcome {
        responses: want,
        error: None,
        leftover: 0,
    };
    for at in 0..=wire.len() {
        assert_eq!(split_at(&wire, at), expected, "split at {at}");
    }
    assert_eq!(bytewise(&wire), expected);
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let max = 1 + rng.below(64);
        let out = drive(&wire, false, || 1 + rng.below(max) as usize);
        assert_eq!(out, expected, "seed {seed}");
    }
}

#[test]
fn head_requests_have_no_body() {
    // Goal: the answer to HEAD has no body whatever its Content-Length or Transfer-Encoding
    // says; the next pipelined response starts right after the head.
    let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\nAis-Present: true\r\n\r\n\
                 HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n";
    for pieces in [usize::MAX, 1, 7] {
        let out = drive(wire, true, || pieces);
        assert_eq!(out.error, None);
        assert_eq!(out.responses.len(), 2);
        for r in &out.responses {
            assert_eq!(
                (r.framing, r.body.as_slice(), r.ended),
                (Framing::Length(0), &b""[..], true)
            );
            assert!(r.keep_alive);
        }
        assert_eq!(out.responses[1].status, 404);
    }
}

#[test]
fn interim_responses() {
    // Goal: 1xx heads are interim (101 is not), have no body even with a length, and the
    // final response follows them.
    let mut slots = header_slots();
    let h = parse_head(
        b"HTTP/1.1 103 Early Hints\r\nContent-Length: 4\r\n\r\n",
        &mut slots,
        false,
    )
    .expect("valid")
    .expect("complete");
    assert!(h.is_interim());
    assert_eq!(h.framing, Framing::Length(0));
    let mut slots = header_slots();
    let h = parse_head(
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        &mut slots,
        false,
    )
    .expect("valid")
    .expect("complete");
    assert!(!h.is_interim());
    let out = whole(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Hints\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz");
    let statuses: Vec<u16> = out.responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [100, 103, 200]);
    assert_eq!(out.responses[2].body, b"z");
}

#[test]
fn framing_and_keep_alive() {
    // Goal: framing and connection reuse follow RFC 9112 (moved from aisle-bench's parser).
    assert_eq!(
        head_of("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"),
        (404, Framing::Chunked, true)
    );
    assert_eq!(
        head_of("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n"),
        (200, Framing::Length(3), false)
    );
    assert!(
        !head_of("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 3\r\n\r\n").2
    );
    assert!(!head_of("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n").2);
    assert!(head_of("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\n").2);
    assert_eq!(
        head_of("HTTP/1.1 200 OK\r\n\r\n"),
        (200, Framing::UntilClose, false)
    );
    assert_eq!(
        head_of("HTTP/1.1 204 No Content\r\n\r\n"),
        (204, Framing::Length(0), true)
    );
    assert_eq!(
        head_of("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n").1,
        Framing::Length(0)
    );
    assert_eq!(
        head_of("HTTP/1.1 200 OK\r\nContent-Length: 7\r\ncontent-length:7\r\n\r\n").1,
        Framing::Length(7),
        "repeated equal lengths are one length"
    );
    assert_eq!(
        head_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
            .1,
        Framing::Chunked,
        "the last coding of the last line counts"
    );
    assert_eq!(
        head_of("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n").1,
        Framing::Length(u64::MAX)
    );
}

#[test]
fn partial_heads_need_more() {
    // Goal: every strict prefix of a valid head is "need more", never an error.
    let head = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\nContent-Length: 10\r\n\r\n";
    for cut in 0..head.len() {
        let mut slots = header_slots();
        assert!(
            parse_head(&head[..cut], &mut slots, false)
                .expect("a prefix is not an error")
                .is_none(),
            "cut {cut}"
        );
    }
}

#[test]
fn bad_heads_are_errors() {
    // Goal: malformed heads and unacceptable framing headers are errors with a reason
    // (including those moved from aisle-bench's parser), never a panic or a guess.
    let bad_head = |raw: &[u8]| matches!(head_error(raw), FrameError::BadHead(_));
    assert!(bad_head(b"HTTX/1.1 200 OK\r\n\r\n"));
    assert!(bad_head(b"HTTP/1.1 20 OK\r\n\r\n"));
    assert!(bad_head(b"HTTP/1.1 2000 OK\r\n\r\n"));
    assert!(bad_head(b"HTTP/2 200 OK\r\n\r\n"));
    assert!(bad_head(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"));
    assert!(bad_head(b"HTTP/1.1 200 OK\r\nBad Name: v\r\n\r\n"));
    assert!(bad_head(b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n"));
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..=RESPONSE_HEADERS_MAX {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(
        head_error(&many),
        FrameError::BadHead(httparse::Error::TooManyHeaders)
    );
    for (raw, why) in [
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"[..],
            "bad Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "bad Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "bad Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
            "bad Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
            "bad Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
            "bad Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "conflicting Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "unsupported Transfer-Encoding",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "unsupported Transfer-Encoding",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
            "unsupported Transfer-Encoding",
        ),
    ] {
        assert_eq!(
            head_error(raw),
            FrameError::BadHeader(why),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
    // Too large: a partial head that reached the limit, and a complete one past it.
    let big = format!(
        "HTTP/1.1 200 OK\r\nX: {}",
        "a".repeat(RESPONSE_HEAD_BYTES_MAX)
    );
    assert_eq!(head_error(big.as_bytes()), FrameError::HeadTooLarge);
    let complete = format!("{big}\r\n\r\n");
    assert_eq!(head_error(complete.as_bytes()), FrameError::HeadTooLarge);
    let fits = format!(
        "HTTP/1.1 200 OK\r\nX: {}\r\n\r\n",
        "a".repeat(RESPONSE_HEAD_BYTES_MAX - 24)
    );
    assert_eq!(fits.len(), RESPONSE_HEAD_BYTES_MAX);
    assert_eq!(head_of(&fits).0, 200);
    // The errors read well.
    assert_eq!(
        FrameError::BadHeader("bad Content-Length").to_string(),
        "malformed response head: bad Content-Length"
    );
}

#[test]
fn errors_are_sticky() {
    // Goal: after an error (in a head or a chunked body) every later step and at_eof return
    // it again; the connection's stream is no longer trusted.
    let mut framer = ResponseFramer::new();
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    let mut slots = header_slots();
    let step = framer.step(wire, &mut slots).expect("head");
    let rest = &wire[step.consumed..];
    let mut slots = header_slots();
    let err = framer.step(rest, &mut slots).expect_err("bad chunk size");
    assert_eq!(err, FrameError::BadChunked(ChunkedError::SizeMissing));
    let mut slots = header_slots();
    assert_eq!(
        framer
            .step(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &mut slots)
            .expect_err("sticky"),
        err
    );
    assert_eq!(framer.at_eof(), Err(err));
    assert!(!framer.at_head());
    let out = whole(wire);
    assert_eq!(out.error, Some(err));
    assert_eq!(out.responses.len(), 1);
}

#[test]
fn end_of_stream_rules() {
    // Goal: a close ends an until-close body and nothing else: a short length body, a cut
    // chunked body or a partial head is ClosedEarly; a close between responses is clean.
    let ok = whole(b"HTTP/1.0 200 OK\r\n\r\nall of it");
    assert_eq!(ok.error, None);
    assert_eq!(ok.responses[0].body, b"all of it");
    assert!(ok.responses[0].ended);
    let empty = whole(b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!((empty.error, empty.responses[0].ended), (None, true));
    for wire in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Len",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1",
    ] {
        for out in [whole(wire), bytewise(wire)] {
            assert_eq!(
                out.error,
                Some(FrameError::ClosedEarly),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }
    let clean = whole(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!((clean.error, clean.responses.len()), (None, 1));
    let mut framer = ResponseFramer::new();
    assert_eq!(framer.at_eof(), Err(FrameError::ClosedEarly));
}

#[test]
fn length_bodies_stop_at_their_end() {
    // Goal (moved from aisle-bench's body reader): a length body takes exactly its bytes and
    // leaves the rest; a short one is not done and a close then is ClosedEarly; a body whose
    // last byte arrived may end with the close; no input at all is "need more".
    let out = whole(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, next");
    assert_eq!(out.responses[0].body, b"hello");
    assert!(out.responses[0].ended);
    assert_eq!(
        out.error,
        Some(FrameError::BadHead(httparse::Error::Version)),
        "', next' cannot start a response"
    );
    let out = whole(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(out.responses[0].body, b"abc");
    assert!(!out.responses[0].ended);
    assert_eq!(out.error, Some(FrameError::ClosedEarly));
    let mut slots = header_slots();
    assert!(parse_head(b"", &mut slots, false).expect("empty").is_none());
    for (len, eof_ok) in [(0, true), (1, false)] {
        let mut framer = ResponseFramer::new();
        let mut slots = header_slots();
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
        framer.step(head.as_bytes(), &mut slots).expect("head");
        assert_eq!(framer.recv_limit(), len);
        assert_eq!(framer.at_eof().is_ok(), eof_ok, "length {len}");
    }
}

#[test]
fn pass_through_bodies_can_be_received_in_place() {
    // Goal: for length and until-close bodies a caller may receive straight into its own
    // buffer, bounded by recv_limit, and step over the bytes there; chunked bodies cannot.
    let mut framer = ResponseFramer::new();
    let mut slots = header_slots();
    framer
        .step(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n", &mut slots)
        .expect("head");
    assert!(framer.passes_through());
    let mut dest = [0u8; 4];
    dest.copy_from_slice(b"abcd");
    let limit = framer.recv_limit().min(dest.len());
    let mut slots = header_slots();
    let step = framer.step(&dest[..limit], &mut slots).expect("body");
    assert!(matches!(step.event, Event::Body(ref r) if *r == (0..4)));
    assert_eq!(framer.recv_limit(), 2);
    let mut slots = header_slots();
    framer.step(b"ef", &mut slots).expect("body");
    let mut slots = header_slots();
    assert!(matches!(
        framer.step(b"", &mut slots).expect("end").event,
        Event::End
    ));
    let mut slots = header_slots();
    framer
        .step(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            &mut slots,
        )
        .expect("head");
    assert!(!framer.passes_through());
    assert_eq!(framer.recv_limit(), usize::MAX);
    assert_eq!(framer.body_remaining(), None);
}

#[test]
fn random_and_mutated_input_never_panics_and_ignores_splits() {
    // Goal: for random bytes and for valid streams with 1-4 bytes replaced (biased to bytes
    // that matter in framing), the framer never panics, and whole, bytewise and randomly
    // split feeding agree on every response and error.
    let (valid, _) = pipeline();
    let interesting = b"0123456789aAfF\r\n:; \t,\x00\x7fHTP/.chunkedContent-Length";
    let (mut failed, mut clean) = (0, 0);
    for seed in 1..=1500u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        let wire: Vec<u8> = if seed % 5 == 0 {
            let len = rng.below(200) as usize;
            let mut w = b"HTTP/1.1 ".to_vec();
            w.extend((0..len).map(|_| interesting[rng.below(interesting.len() as u64) as usize]));
            w
        } else {
            let mut w = valid.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(w.len() as u64) as usize;
                w[at] = interesting[rng.below(interesting.len() as u64) as usize];
            }
            w
        };
        let reference = whole(&wire);
        if reference.error.is_some() {
            failed += 1;
        } else {
            clean += 1;
        }
        assert_eq!(bytewise(&wire), reference, "seed {seed}");
        let max = 1 + rng.below(40);
        assert_eq!(
            drive(&wire, false, || 1 + rng.below(max) as usize),
            reference,
            "seed {seed}"
        );
        // Whatever was reported is consistent with its own framing.
        for r in &reference.responses {
            if let (Framing::Length(n), true) = (r.framing, r.ended) {
                assert_eq!(r.body.len() as u64, n, "seed {seed}");
            }
        }
    }
    // Both kinds of outcome were exercised, so the agreement above means something.
    assert!(
        failed > 300 && clean > 300,
        "{failed} failed, {clean} clean"
    );
}
