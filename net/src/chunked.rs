//! Incremental decoder for `Transfer-Encoding: chunked` request bodies (RFC 9112 §7.1).
//!
//! The decoder never copies body bytes: each [`ChunkedDecoder::step`] returns the range of the
//! caller's input that is body data, so the caller can write it straight from its read buffer.
//! Framing bytes (size lines, extensions, CRLFs, trailers) are consumed one at a time into a
//! small state machine, which lets input be split anywhere, down to single bytes.
//!
//! Parsing is strict on purpose, since lenient chunk parsing is a classic request-smuggling
//! vector: lines end in CRLF (a bare LF is an error), sizes are 1-16 hex digits, extensions and
//! trailer fields may not hold control characters, and every line has a length limit.

use std::ops::Range;

use thiserror::Error;

/// Longest chunk-size line accepted, counting the size, extensions and the CRLF.
pub const CHUNK_LINE_BYTES_MAX: usize = 1024;
/// Most hex digits accepted in a chunk size; 16 digits cannot overflow a `u64`.
pub const CHUNK_SIZE_DIGITS_MAX: u8 = 16;
/// Most bytes accepted in the trailer section, counting its final empty line.
pub const TRAILER_BYTES_MAX: usize = 16 * 1024;

const _: () = assert!(CHUNK_SIZE_DIGITS_MAX as u32 * 4 <= u64::BITS);

/// Why a chunked body was refused. All of these answer 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ChunkedError {
    /// A chunk-size line had no hex digits.
    #[error("chunked body: missing chunk size")]
    SizeMissing,
    /// A chunk size had more than [`CHUNK_SIZE_DIGITS_MAX`] hex digits.
    #[error("chunked body: chunk size has more than {CHUNK_SIZE_DIGITS_MAX} hex digits")]
    SizeTooLong,
    /// A chunk-size line was longer than [`CHUNK_LINE_BYTES_MAX`].
    #[error("chunked body: chunk-size line longer than {CHUNK_LINE_BYTES_MAX} bytes")]
    LineTooLong,
    /// The trailer section was longer than [`TRAILER_BYTES_MAX`].
    #[error("chunked body: trailer section longer than {TRAILER_BYTES_MAX} bytes")]
    TrailerTooLarge,
    /// An unexpected byte; the text says where.
    #[error("chunked body: {0}")]
    Malformed(&'static str),
}

impl ChunkedError {
    /// The HTTP status code for this error.
    pub fn status(&self) -> u16 {
        400
    }
}

/// The result of one [`ChunkedDecoder::step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the input the caller must drop before the next call.
    pub consumed: usize,
    /// The part of the input that is body data; may be empty. Always ends at `consumed`.
    pub data: Range<usize>,
    /// The terminating chunk and trailers have been read; bytes after `consumed` are not part
    /// of this body.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size.
    Size { value: u64, digits: u8 },
    /// After the size, inside blanks that must lead to `;` or CR.
    SizeBlank { value: u64 },
    /// Inside chunk extensions, which are skipped.
    Extension { value: u64 },
    /// CR of the size line seen; LF must follow.
    SizeLf { value: u64 },
    /// Inside chunk data, with this many bytes to go (never zero).
    Data { remaining: u64 },
    /// Chunk data done; CR must follow.
    DataCr,
    /// CR after chunk data seen; LF must follow.
    DataLf,
    /// At the start of a trailer field line or of the final empty line.
    TrailerStart,
    /// Inside a trailer field line, which is skipped.
    TrailerLine,
    /// CR of a trailer field line seen; LF must follow.
    TrailerLf,
    /// CR of the final empty line seen; LF must follow.
    EndLf,
    /// The body is complete.
    Done,
    /// A previous step failed; the same error is returned again.
    Failed(ChunkedError),
}

/// Decodes one chunked body. Create one per request.
///
/// Call [`ChunkedDecoder::step`] with the unconsumed input, drop `consumed` bytes, and repeat.
/// When a step returns no data and is not done, it has consumed all of its input: read more.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// Bytes of the current chunk-size line seen so far.
    line_bytes: usize,
    /// Bytes of the trailer section seen so far.
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            line_bytes: 0,
            trailer_bytes: 0,
        }
    }

    /// True once the whole body, trailers included, has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the start of `input`.
    ///
    /// Returns at the first body data found (as a range of `input`), at the end of the body, or
    /// when `input` is used up. Once an error is returned, every later call returns it again.
    pub fn step(&mut self, input: &[u8]) -> Result<Step, ChunkedError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => {
                    return Ok(Step {
                        consumed: pos,
                        data: pos..pos,
                        done: true,
                    })
                }
                State::Failed(e) => return Err(e),
                State::Data { remaining } => {
                    let available = input.len() - pos;
                    if available == 0 {
                        return Ok(Step {
                            consumed: pos,
                            data: pos..pos,
                            done: false,
                        });
                    }
                    let n = usize::try_from(remaining).map_or(available, |r| r.min(available));
                    assert!(n > 0);
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining: left }
                    };
                    return Ok(Step {
                        consumed: pos + n,
                        data: pos..pos + n,
                        done: false,
                    });
                }
                _ => {
                    let Some(&byte) = input.get(pos) else {
                        return Ok(Step {
                            consumed: pos,
                            data: pos..pos,
                            done: false,
                        });
                    };
                    pos += 1;
                    if let Err(e) = self.framing_byte(byte) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Advances the state machine over one framing byte.
    fn framing_byte(&mut self, byte: u8) -> Result<(), ChunkedError> {
        if self.in_size_line() {
            self.line_bytes += 1;
            if self.line_bytes > CHUNK_LINE_BYTES_MAX {
                return Err(ChunkedError::LineTooLong);
            }
        } else if self.in_trailers() {
            self.trailer_bytes += 1;
            if self.trailer_bytes > TRAILER_BYTES_MAX {
                return Err(ChunkedError::TrailerTooLarge);
            }
        }
        if let (State::Size { value, digits }, Some(d)) = (self.state, hex_value(byte)) {
            if digits >= CHUNK_SIZE_DIGITS_MAX {
                return Err(ChunkedError::SizeTooLong);
            }
            self.state = State::Size {
                value: (value << 4) | u64::from(d),
                digits: digits + 1,
            };
            return Ok(());
        }
        self.state = match (self.state, byte) {
            (State::Size { digits: 0, .. }, _) => return Err(ChunkedError::SizeMissing),
            (State::Size { value, .. } | State::SizeBlank { value }, b' ' | b'\t') => {
                State::SizeBlank { value }
            }
            (State::Size { value, .. } | State::SizeBlank { value }, b';') => {
                State::Extension { value }
            }
            (
                State::Size { value, .. } | State::SizeBlank { value } | State::Extension { value },
                b'\r',
            ) => State::SizeLf { value },
            (State::Size { .. } | State::SizeBlank { .. }, _) => {
                return Err(ChunkedError::Malformed("bad byte after chunk size"))
            }
            (State::Extension { .. }, _) if is_forbidden_ctl(byte) => {
                return Err(ChunkedError::Malformed("control byte in chunk extension"))
            }
            (State::Extension { value }, _) => State::Extension { value },
            (State::SizeLf { value }, b'\n') => {
                self.line_bytes = 0;
                if value == 0 {
                    State::TrailerStart
                } else {
                    State::Data { remaining: value }
                }
            }
            (State::SizeLf { .. }, _) => {
                return Err(ChunkedError::Malformed("CR without LF in chunk-size line"))
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataCr, _) => {
                return Err(ChunkedError::Malformed("missing CRLF after chunk data"))
            }
            (State::DataLf, b'\n') => State::Size {
                value: 0,
                digits: 0,
            },
            (State::DataLf, _) => {
                return Err(ChunkedError::Malformed("missing LF after chunk data"))
            }
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerLine, b'\r') => State::TrailerLf,
            (State::TrailerStart | State::TrailerLine, _) if is_forbidden_ctl(byte) => {
                return Err(ChunkedError::Malformed("control byte in trailer"))
            }
            (State::TrailerStart | State::TrailerLine, _) => State::TrailerLine,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::TrailerLf, _) => {
                return Err(ChunkedError::Malformed("CR without LF in trailer"))
            }
            (State::EndLf, b'\n') => State::Done,
            (State::EndLf, _) => return Err(ChunkedError::Malformed("CR without LF at body end")),
            (State::Data { .. } | State::Done | State::Failed(_), _) => {
                unreachable!("step handles data, done and failed states without framing bytes")
            }
        };
        Ok(())
    }

    fn in_size_line(&self) -> bool {
        matches!(
            self.state,
            State::Size { .. }
                | State::SizeBlank { .. }
                | State::Extension { .. }
                | State::SizeLf { .. }
        )
    }

    fn in_trailers(&self) -> bool {
        matches!(
            self.state,
            State::TrailerStart | State::TrailerLine | State::TrailerLf | State::EndLf
        )
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Control bytes other than HTAB, which RFC 9110 allows in no field or extension value. CR is
/// handled by the caller before this check, so here it is a stray CR too.
fn is_forbidden_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What feeding a whole encoded body through the decoder produced.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Outcome {
        body: Vec<u8>,
        /// Bytes of the encoding consumed when done; `None` if not done.
        consumed: Option<usize>,
        error: Option<ChunkedError>,
    }

    /// Feeds `encoded` in pieces whose sizes come from `next_piece`, the way a server would:
    /// keep unconsumed bytes, step, drop `consumed`, read more when a step yields nothing.
    fn feed(encoded: &[u8], mut next_piece: impl FnMut() -> usize) -> Outcome {
        let mut dec = ChunkedDecoder::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut received = 0;
        let mut body = Vec::new();
        loop {
            let step = match dec.step(&buf) {
                Ok(step) => step,
                Err(e) => {
                    return Outcome {
                        body,
                        consumed: None,
                        error: Some(e),
                    }
                }
            };
            assert!(step.consumed <= buf.len());
            assert!(step.data.start <= step.data.end);
            assert!(step.data.is_empty() || step.data.end == step.consumed);
            body.extend_from_slice(&buf[step.data.clone()]);
            buf.drain(..step.consumed);
            if step.done {
                assert!(dec.is_done());
                return Outcome {
                    body,
                    consumed: Some(received - buf.len()),
                    error: None,
                };
            }
            if step.data.is_empty() {
                // The contract: no data and not done means everything was consumed.
                assert!(buf.is_empty(), "step stopped early without data");
                if received == encoded.len() {
                    return Outcome {
                        body,
                        consumed: None,
                        error: None,
                    };
                }
                let n = next_piece().clamp(1, encoded.len() - received);
                buf.extend_from_slice(&encoded[received..received + n]);
                received += n;
            }
        }
    }

    fn feed_whole(encoded: &[u8]) -> Outcome {
        feed(encoded, || usize::MAX)
    }

    fn feed_bytewise(encoded: &[u8]) -> Outcome {
        feed(encoded, || 1)
    }

    /// A line-oriented reference decoder over a complete buffer, written independently of the
    /// state machine. `Ok(None)` means the input ends before the body does.
    fn reference(input: &[u8]) -> Result<Option<(Vec<u8>, usize)>, ()> {
        fn line(input: &[u8], from: usize) -> Option<(&[u8], usize)> {
            let rel = input[from..].windows(2).position(|w| w == b"\r\n")?;
            Some((&input[from..from + rel], from + rel + 2))
        }
        let ctl_free = |s: &[u8]| s.iter().all(|&b| !((b < 0x20 && b != b'\t') || b == 0x7f));
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            let Some((size_line, next)) = line(input, pos) else {
                return Ok(None);
            };
            if size_line.len() + 2 > CHUNK_LINE_BYTES_MAX {
                return Err(());
            }
            let (size_part, ext) = match size_line.iter().position(|&b| b == b';') {
                Some(i) => (&size_line[..i], &size_line[i + 1..]),
                None => (size_line, &b""[..]),
            };
            if !ctl_free(ext) {
                return Err(());
            }
            let hex_len = size_part
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if hex_len == 0 || hex_len > 16 {
                return Err(());
            }
            if !size_part[hex_len..]
                .iter()
                .all(|&b| b == b' ' || b == b'\t')
            {
                return Err(());
            }
            let hex = std::str::from_utf8(&size_part[..hex_len]).map_err(|_| ())?;
            let size = u64::from_str_radix(hex, 16).map_err(|_| ())?;
            pos = next;
            if size == 0 {
                break;
            }
            let size = usize::try_from(size).map_err(|_| ())?;
            if size
                .checked_add(2)
                .is_none_or(|need| input.len() - pos < need)
            {
                return Ok(None);
            }
            body.extend_from_slice(&input[pos..pos + size]);
            if &input[pos + size..pos + size + 2] != b"\r\n" {
                return Err(());
            }
            pos += size + 2;
        }
        let trailer_start = pos;
        loop {
            let Some((field, next)) = line(input, pos) else {
                return Ok(None);
            };
            if next - trailer_start > TRAILER_BYTES_MAX || !ctl_free(field) {
                return Err(());
            }
            pos = next;
            if field.is_empty() {
                return Ok(Some((body, pos)));
            }
        }
    }

    /// Deterministic xorshift64 so failures reproduce from the printed seed.
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

    /// A random valid encoding of a random body, with extensions, leading zeros, mixed-case
    /// hex and trailers.
    fn random_encoding(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
        let mut body = Vec::new();
        let mut enc = Vec::new();
        let chunks = rng.below(6);
        let extensions: [&[u8]; 5] = [b"", b";a=b", b" ; name", b";x=\"q s\"\t;y", b";"];
        for _ in 0..chunks {
            let size = 1 + rng.below(300) as usize;
            let data: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
            let mut hex = format!("{size:x}");
            if rng.below(2) == 0 {
                hex = hex.to_uppercase();
            }
            let zeros = rng.below(4) as usize;
            enc.extend(std::iter::repeat_n(b'0', zeros));
            enc.extend_from_slice(hex.as_bytes());
            enc.extend_from_slice(extensions[rng.below(5) as usize]);
            enc.extend_from_slice(b"\r\n");
            enc.extend_from_slice(&data);
            enc.extend_from_slice(b"\r\n");
            body.extend_from_slice(&data);
        }
        enc.extend_from_slice(b"0");
        enc.extend_from_slice(extensions[rng.below(5) as usize]);
        enc.extend_from_slice(b"\r\n");
        for i in 0..rng.below(3) {
            enc.extend_from_slice(format!("X-Trailer-{i}: v\t{i}\r\n").as_bytes());
        }
        enc.extend_from_slice(b"\r\n");
        (body, enc)
    }

    #[test]
    fn simple_body() {
        // Goal: the textbook example decodes, with body ranges pointing into the input.
        let enc = b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
        let mut dec = ChunkedDecoder::new();
        let s = dec.step(enc).expect("valid");
        assert_eq!(
            s,
            Step {
                consumed: 7,
                data: 3..7,
                done: false
            }
        );
        let out = feed_whole(enc);
        assert_eq!(out.body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(out.consumed, Some(enc.len()));
        assert_eq!(feed_bytewise(enc), out);
    }

    #[test]
    fn empty_body_and_done_is_sticky() {
        // Goal: "0\r\n\r\n" is an empty body; after done, steps consume nothing.
        let mut dec = ChunkedDecoder::new();
        let s = dec.step(b"0\r\n\r\nGET / HTTP/1.1").expect("valid");
        assert_eq!(
            s,
            Step {
                consumed: 5,
                data: 5..5,
                done: true
            }
        );
        let again = dec.step(b"more").expect("done stays done");
        assert_eq!(
            again,
            Step {
                consumed: 0,
                data: 0..0,
                done: true
            }
        );
    }

    #[test]
    fn needs_more_consumes_everything() {
        // Goal: a partial size line is absorbed into state; an empty input consumes nothing.
        let mut dec = ChunkedDecoder::new();
        assert_eq!(
            dec.step(b"").expect("ok"),
            Step {
                consumed: 0,
                data: 0..0,
                done: false
            }
        );
        assert_eq!(
            dec.step(b"1f;ext").expect("ok"),
            Step {
                consumed: 6,
                data: 6..6,
                done: false
            }
        );
        assert_eq!(
            dec.step(b"\r").expect("ok"),
            Step {
                consumed: 1,
                data: 1..1,
                done: false
            }
        );
        assert_eq!(
            dec.step(b"\nab").expect("ok"),
            Step {
                consumed: 3,
                data: 1..3,
                done: false
            }
        );
        assert!(!dec.is_done());
    }

    #[test]
    fn trailers_are_skipped() {
        // Goal: trailer fields are consumed but never reported as data.
        let enc = b"3\r\nabc\r\n0\r\nChecksum: xyz\r\nOther: 1\r\n\r\n";
        let out = feed_bytewise(enc);
        assert_eq!(out.body, b"abc");
        assert_eq!(out.consumed, Some(enc.len()));
    }

    #[test]
    fn size_limits() {
        // Goal: 16 hex digits are fine (even u64::MAX), 17 are not; long lines are refused.
        let mut dec = ChunkedDecoder::new();
        let s = dec.step(b"FFFFFFFFFFFFFFFF\r\nab").expect("16 digits");
        assert_eq!(s.data, 18..20);
        let mut dec = ChunkedDecoder::new();
        assert_eq!(
            dec.step(b"00000000000000001\r\n"),
            Err(ChunkedError::SizeTooLong)
        );
        let mut line = b"1;".to_vec();
        line.resize(CHUNK_LINE_BYTES_MAX - 2, b'x');
        line.extend_from_slice(b"\r\nz\r\n0\r\n\r\n");
        assert_eq!(feed_whole(&line).body, b"z");
        let mut long = b"1;".to_vec();
        long.resize(CHUNK_LINE_BYTES_MAX - 1, b'x');
        long.extend_from_slice(b"\r\nz\r\n0\r\n\r\n");
        assert_eq!(feed_whole(&long).error, Some(ChunkedError::LineTooLong));
        let mut trailer = b"0\r\nX: ".to_vec();
        trailer.resize(TRAILER_BYTES_MAX + 10, b'a');
        assert_eq!(
            feed_whole(&trailer).error,
            Some(ChunkedError::TrailerTooLarge)
        );
    }

    #[test]
    fn malformed_inputs() {
        // Goal: each smuggling-relevant deviation is an error, and errors are sticky.
        let cases: [(&[u8], ChunkedError); 12] = [
            (b"\r\n", ChunkedError::SizeMissing),
            (b";ext\r\n", ChunkedError::SizeMissing),
            (b"-1\r\n", ChunkedError::SizeMissing),
            (
                b"0x5\r\n",
                ChunkedError::Malformed("bad byte after chunk size"),
            ),
            (b"5\n", ChunkedError::Malformed("bad byte after chunk size")),
            (
                b"5 6\r\n",
                ChunkedError::Malformed("bad byte after chunk size"),
            ),
            (
                b"5\r\r",
                ChunkedError::Malformed("CR without LF in chunk-size line"),
            ),
            (
                b"1\r\nab",
                ChunkedError::Malformed("missing CRLF after chunk data"),
            ),
            (
                b"1\r\na\n",
                ChunkedError::Malformed("missing CRLF after chunk data"),
            ),
            (
                b"1;a\x00\r\n",
                ChunkedError::Malformed("control byte in chunk extension"),
            ),
            (
                b"0\r\nX: \x01\r\n",
                ChunkedError::Malformed("control byte in trailer"),
            ),
            (
                b"0\r\n\n",
                ChunkedError::Malformed("control byte in trailer"),
            ),
        ];
        for (enc, want) in cases {
            assert_eq!(
                feed_whole(enc).error,
                Some(want),
                "{:?}",
                String::from_utf8_lossy(enc)
            );
            assert_eq!(feed_bytewise(enc).error, Some(want));
            assert_eq!(want.status(), 400);
        }
        let mut dec = ChunkedDecoder::new();
        assert!(dec.step(b"z").is_err());
        assert!(dec.step(b"0\r\n\r\n").is_err(), "errors are sticky");
    }

    #[test]
    fn truncations_never_finish() {
        // Goal: every strict prefix of a valid encoding is "need more", with a body prefix.
        let mut rng = Rng(7);
        for _ in 0..50 {
            let (body, enc) = random_encoding(&mut rng);
            for cut in 0..enc.len() {
                let out = feed_whole(&enc[..cut]);
                assert_eq!(out.error, None);
                assert_eq!(out.consumed, None);
                assert!(body.starts_with(&out.body));
            }
        }
    }

    #[test]
    fn random_splits_match_reference() {
        // Goal: for valid encodings followed by unrelated bytes, every split pattern gives the
        // reference body and stops exactly at the end of the encoding.
        for seed in 1..=400u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let (body, mut enc) = random_encoding(&mut rng);
            let end = enc.len();
            enc.extend_from_slice(b"PUT /next HTTP/1.1\r\n");
            let want = reference(&enc).expect("valid").expect("complete");
            assert_eq!(
                want,
                (body.clone(), end),
                "reference disagrees with the generator"
            );
            let expected = Outcome {
                body,
                consumed: Some(end),
                error: None,
            };
            assert_eq!(feed_whole(&enc), expected, "seed {seed}");
            assert_eq!(feed_bytewise(&enc), expected, "seed {seed}");
            let mut split_rng = Rng(seed + 1000);
            assert_eq!(
                feed(&enc, || 1 + split_rng.below(40) as usize),
                expected,
                "seed {seed}"
            );
        }
    }

    #[test]
    fn random_corruptions_match_reference() {
        // Goal: flipping bytes of valid encodings never makes the decoder disagree with the
        // reference, whatever the split pattern. Steps: mutate 1-3 bytes (biased to framing
        // characters), decode whole, bytewise and randomly split, compare.
        let interesting = b"0123456789abcdefABCDEF\r\n; \t\x00\x7fxz=\"";
        for seed in 1..=3000u64 {
            let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
            let (_, mut enc) = random_encoding(&mut rng);
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(enc.len() as u64) as usize;
                enc[at] = interesting[rng.below(interesting.len() as u64) as usize];
            }
            let whole = feed_whole(&enc);
            assert_eq!(feed_bytewise(&enc), whole, "seed {seed}");
            let mut split_rng = Rng(seed + 7);
            assert_eq!(
                feed(&enc, || 1 + split_rng.below(17) as usize),
                whole,
                "seed {seed}"
            );
            match reference(&enc) {
                Ok(Some((body, consumed))) => {
                    let ok = Outcome {
                        body,
                        consumed: Some(consumed),
                        error: None,
                    };
                    assert_eq!(whole, ok, "seed {seed} {:?}", String::from_utf8_lossy(&enc));
                }
                Err(()) => assert!(whole.error.is_some(), "seed {seed}: reference refused"),
                // The reference waits for whole lines; the decoder may fail earlier.
                Ok(None) => assert_eq!(whole.consumed, None, "seed {seed}"),
            }
        }
    }
}
