//! Incremental decoder for `Content-Encoding: aws-chunked` request bodies (S3 streaming
//! uploads), sans I/O, in the shape of [`crate::chunked`]: feed input, get ranges of it that
//! are object data, never a copy.
//!
//! Three framings, chosen by `x-amz-content-sha256` (see [`crate::sigv4::Payload`]):
//!
//! - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: `<hex>;chunk-signature=<sig>\r\n<data>\r\n` ... then
//!   `0;chunk-signature=<sig>\r\n\r\n`. Each signature is checked, chained from the seed.
//! - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: the same chunks, then after the final chunk
//!   the trailer fields, `x-amz-trailer-signature:<sig>\r\n` and an empty line.
//! - `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: `<hex>\r\n<data>\r\n` ... `0\r\n`, the trailer
//!   fields and an empty line.
//!
//! Trailer names must be the ones the `x-amz-trailer` header declared, each exactly once. A
//! declared `x-amz-checksum-*` trailer is computed over the data as it passes and compared
//! before the final step reports `done`; so is `x-amz-decoded-content-length`. The caller must
//! therefore make the object visible only after a step returns `done`: every failure (bad
//! framing, signature, length or checksum) comes before that.
//!
//! Framing is strict: lines end in CRLF, sizes are 1-16 hex digits, lines and the trailer
//! section have length limits, and no input makes the decoder panic.

use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::amzcksum::{Algo, Checksum, Hasher};
pub use crate::chunked::Step;
use crate::sigv4::{decode_hex, ChunkSigner};

/// Longest chunk-size line accepted, without its CRLF. A signed line is about 90 bytes.
pub const CHUNK_LINE_BYTES_MAX: usize = 256;
/// Most hex digits accepted in a chunk size; 16 digits cannot overflow a `u64`.
pub const CHUNK_SIZE_DIGITS_MAX: usize = 16;
/// Most bytes accepted in the trailer section, CRLFs included.
pub const TRAILER_BYTES_MAX: usize = 4096;

const _: () = assert!(CHUNK_SIZE_DIGITS_MAX as u32 * 4 <= u64::BITS);

/// Why an `aws-chunked` body (or its declaration) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AwsChunkedError {
    /// A chunk-size line longer than [`CHUNK_LINE_BYTES_MAX`].
    #[error("aws-chunked body: chunk-size line longer than {CHUNK_LINE_BYTES_MAX} bytes")]
    LineTooLong,
    /// A trailer section longer than [`TRAILER_BYTES_MAX`].
    #[error("aws-chunked body: trailer section longer than {TRAILER_BYTES_MAX} bytes")]
    TrailerTooLarge,
    /// Bad framing; the text says what.
    #[error("aws-chunked body: {0}")]
    Malformed(&'static str),
    /// A chunk or trailer signature did not match.
    #[error("aws-chunked body: a chunk signature does not match")]
    SignatureDoesNotMatch,
    /// The decoded data is longer or shorter than `x-amz-decoded-content-length`.
    #[error(
        "aws-chunked body: decoded {decoded} bytes, x-amz-decoded-content-length says {declared}"
    )]
    LengthMismatch {
        /// From `x-amz-decoded-content-length`.
        declared: u64,
        /// Decoded so far (at least; decoding stops at the first excess).
        decoded: u64,
    },
    /// A trailer field that `x-amz-trailer` did not declare, or declared twice.
    #[error("aws-chunked body: trailer {0} was not declared in x-amz-trailer or came twice")]
    UndeclaredTrailer(String),
    /// A trailer `x-amz-trailer` declared but the body did not send.
    #[error("aws-chunked body: declared trailer {0} is missing")]
    MissingTrailer(String),
    /// A trailer value that is not a valid checksum of its algorithm.
    #[error("aws-chunked body: trailer {0} has an invalid value")]
    BadTrailerValue(String),
    /// The trailing checksum does not match the data.
    #[error("the {} you specified did not match the calculated checksum", .0.name())]
    BadDigest(Algo),
    /// The `x-amz-trailer` header names something other than one `x-amz-checksum-*`.
    #[error("x-amz-trailer: {0}")]
    BadTrailerHeader(String),
}

impl AwsChunkedError {
    /// The S3 error code for the XML `<Code>`.
    pub fn code(&self) -> &'static str {
        match self {
            AwsChunkedError::LineTooLong
            | AwsChunkedError::TrailerTooLarge
            | AwsChunkedError::Malformed(_) => "InvalidRequest",
            AwsChunkedError::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            AwsChunkedError::LengthMismatch { .. } => "IncompleteBody",
            AwsChunkedError::UndeclaredTrailer(_) | AwsChunkedError::MissingTrailer(_) => {
                "MalformedTrailerError"
            }
            AwsChunkedError::BadTrailerValue(_) => "InvalidRequest",
            AwsChunkedError::BadDigest(_) => "BadDigest",
            AwsChunkedError::BadTrailerHeader(_) => "InvalidArgument",
        }
    }

    /// The HTTP status code: 403 for a signature, 400 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            AwsChunkedError::SignatureDoesNotMatch => 403,
            _ => 400,
        }
    }
}

/// Which `aws-chunked` framing the body uses.
#[derive(Debug, Clone)]
pub enum Framing {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: signed chunks, no trailer.
    Signed(ChunkSigner),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    SignedTrailer(ChunkSigner),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain chunks and an unsigned trailer.
    UnsignedTrailer,
    /// The signed framings' syntax (`;chunk-signature=`, and with `trailer` a trailer and
    /// `x-amz-trailer-signature`) with the signatures parsed but not checked: for a server
    /// that has no secret to check them with (no credentials configured, every request
    /// accepted). Lengths and trailing checksums are still verified.
    SignedUnverified {
        /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` rather than `...-PAYLOAD`.
        trailer: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Inside a chunk-size line (collected in `line`).
    SizeLine,
    /// CR of the size line seen; LF must follow.
    SizeLf,
    /// Inside chunk data, with this many bytes to go (never zero).
    Data { remaining: u64 },
    /// Chunk data done; CR must follow.
    DataCr,
    /// CR after chunk data seen; LF must follow.
    DataLf,
    /// Inside a trailer line or the final empty line (collected in `line`).
    TrailerLine,
    /// CR of a trailer line seen; LF must follow.
    TrailerLf,
    /// The body is complete and verified.
    Done,
    /// A previous step failed; the same error is returned again.
    Failed(AwsChunkedError),
}

/// Decodes one `aws-chunked` body. Create one per request.
#[derive(Debug, Clone)]
pub struct AwsChunkedDecoder {
    state: State,
    /// Chunk signer, for the two signed framings.
    signer: Option<ChunkSigner>,
    /// True unless the framing is [`Framing::Signed`].
    trailer_allowed: bool,
    /// True for [`Framing::SignedTrailer`] (and its unverified form).
    trailer_signed: bool,
    /// Chunk-size lines carry `;chunk-signature=` (the signed framings).
    signed_syntax: bool,
    /// The current size or trailer line, without CRLF.
    line: Vec<u8>,
    /// SHA-256 of the current chunk's data (signed framings).
    chunk_sha: Sha256,
    /// The signature the current chunk claimed.
    chunk_claimed: [u8; 32],
    /// True after the zero-size chunk.
    last_chunk: bool,
    declared_length: Option<u64>,
    decoded_bytes: u64,
    trailer_bytes: usize,
    /// Names from `x-amz-trailer`, lowercase.
    declared: Vec<String>,
    /// Trailer fields received, names lowercase, values trimmed.
    trailers: Vec<(String, String)>,
    /// SHA-256 of the canonical trailer (`name:value\n` per field), for the trailer signature.
    trailer_sha: Sha256,
    trailer_signature_seen: bool,
    /// Running checksum of the data, for a declared `x-amz-checksum-*` trailer.
    hasher: Option<Hasher>,
    /// The trailing checksum, once verified.
    checksum: Option<Checksum>,
}

impl AwsChunkedDecoder {
    /// A decoder at the start of a body.
    ///
    /// `declared_length` is `x-amz-decoded-content-length` (required by S3 for these bodies;
    /// the caller decides whether a missing one is an error). `trailer_header` is the raw
    /// `x-amz-trailer` value, or `""` if absent: a comma-separated list with at most one name,
    /// an `x-amz-checksum-*` header.
    pub fn new(
        framing: Framing,
        declared_length: Option<u64>,
        trailer_header: &str,
    ) -> Result<AwsChunkedDecoder, AwsChunkedError> {
        let declared: Vec<String> = trailer_header
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        let (signer, trailer_allowed, trailer_signed, signed_syntax) = match framing {
            Framing::Signed(s) => (Some(s), false, false, true),
            Framing::SignedTrailer(s) => (Some(s), true, true, true),
            Framing::UnsignedTrailer => (None, true, false, false),
            Framing::SignedUnverified { trailer } => (None, trailer, trailer, true),
        };
        if !trailer_allowed && !declared.is_empty() {
            return Err(AwsChunkedError::BadTrailerHeader(
                "a trailer needs a *-TRAILER x-amz-content-sha256".to_owned(),
            ));
        }
        if declared.len() > 1 {
            return Err(AwsChunkedError::BadTrailerHeader(
                "at most one trailing checksum".to_owned(),
            ));
        }
        let mut hasher = None;
        for name in &declared {
            let algo = Algo::from_header_name(name).ok_or_else(|| {
                AwsChunkedError::BadTrailerHeader(format!("unsupported trailer {name}"))
            })?;
            hasher = Some(Hasher::new(algo));
        }
        Ok(AwsChunkedDecoder {
            state: State::SizeLine,
            signer,
            trailer_allowed,
            trailer_signed,
            signed_syntax,
            line: Vec::with_capacity(128),
            chunk_sha: Sha256::new(),
            chunk_claimed: [0; 32],
            last_chunk: false,
            declared_length,
            decoded_bytes: 0,
            trailer_bytes: 0,
            declared,
            trailers: Vec::new(),
            trailer_sha: Sha256::new(),
            trailer_signature_seen: false,
            hasher,
            checksum: None,
        })
    }

    /// True once the whole body has been decoded and verified.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Object bytes decoded so far.
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded_bytes
    }

    /// The trailer fields received (lowercase names, trimmed values), without the signature.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// The trailing checksum, verified against the data; `Some` only once done and only if
    /// one was declared.
    pub fn checksum(&self) -> Option<Checksum> {
        self.checksum
    }

    /// Decodes from the start of `input`.
    ///
    /// Returns at the first object data found (as a range of `input`), at the end of the
    /// body, or when `input` is used up; a step with no data that is not done consumed all of
    /// `input`. Once an error is returned, every later call returns it again.
    pub fn step(&mut self, input: &[u8]) -> Result<Step, AwsChunkedError> {
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
                State::Failed(ref e) => return Err(e.clone()),
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
                    let data = &input[pos..pos + n];
                    if self.signer.is_some() {
                        self.chunk_sha.update(data);
                    }
                    if let Some(h) = &mut self.hasher {
                        h.update(data);
                    }
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
                        self.state = State::Failed(e.clone());
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Advances the state machine over one framing byte.
    fn framing_byte(&mut self, byte: u8) -> Result<(), AwsChunkedError> {
        use AwsChunkedError::Malformed;
        if matches!(self.state, State::TrailerLine | State::TrailerLf) {
            self.trailer_bytes += 1;
            if self.trailer_bytes > TRAILER_BYTES_MAX {
                return Err(AwsChunkedError::TrailerTooLarge);
            }
        }
        self.state = match (&self.state, byte) {
            (State::SizeLine, b'\r') => State::SizeLf,
            (State::SizeLine, _) if is_ctl(byte) => {
                return Err(Malformed("control byte in chunk-size line"))
            }
            (State::SizeLine, _) => {
                if self.line.len() >= CHUNK_LINE_BYTES_MAX {
                    return Err(AwsChunkedError::LineTooLong);
                }
                self.line.push(byte);
                State::SizeLine
            }
            (State::SizeLf, b'\n') => self.size_line_done()?,
            (State::SizeLf, _) => return Err(Malformed("CR without LF in chunk-size line")),
            (State::DataCr, b'\r') => {
                self.chunk_done()?;
                State::DataLf
            }
            (State::DataCr, _) => return Err(Malformed("missing CRLF after chunk data")),
            (State::DataLf, b'\n') => State::SizeLine,
            (State::DataLf, _) => return Err(Malformed("missing LF after chunk data")),
            (State::TrailerLine, b'\r') => State::TrailerLf,
            (State::TrailerLine, _) if is_ctl(byte) => {
                return Err(Malformed("control byte in trailer"))
            }
            (State::TrailerLine, _) => {
                self.line.push(byte);
                State::TrailerLine
            }
            (State::TrailerLf, b'\n') => self.trailer_line_done()?,
            (State::TrailerLf, _) => return Err(Malformed("CR without LF in trailer")),
            (State::Data { .. } | State::Done | State::Failed(_), _) => {
                unreachable!("step handles data, done and failed states without framing bytes")
            }
        };
        Ok(())
    }

    /// Parses a complete chunk-size line and returns the next state.
    fn size_line_done(&mut self) -> Result<State, AwsChunkedError> {
        use AwsChunkedError::Malformed;
        let line = std::mem::take(&mut self.line);
        let (size_part, ext) = match line.iter().position(|&b| b == b';') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (&line[..], None),
        };
        if size_part.is_empty() {
            return Err(Malformed("missing chunk size"));
        }
        if size_part.len() > CHUNK_SIZE_DIGITS_MAX {
            return Err(Malformed("chunk size has more than 16 hex digits"));
        }
        let mut size: u64 = 0;
        for &b in size_part {
            let d = hex_value(b).ok_or(Malformed("bad byte in chunk size"))?;
            size = (size << 4) | u64::from(d);
        }
        if self.signed_syntax {
            let sig = ext
                .and_then(|e| e.strip_prefix(b"chunk-signature="))
                .ok_or(Malformed("a signed chunk needs ;chunk-signature=<sig>"))?;
            let sig = std::str::from_utf8(sig).map_err(|_| Malformed("bad chunk signature"))?;
            decode_hex(sig, &mut self.chunk_claimed)
                .ok_or(Malformed("chunk signature must be 64 hex digits"))?;
            self.chunk_sha = Sha256::new();
        } else if ext.is_some() {
            return Err(Malformed("unsigned chunks take no chunk extension"));
        }
        self.line = line;
        self.line.clear();
        let decoded = self.decoded_bytes.checked_add(size);
        match (self.declared_length, decoded) {
            (Some(declared), Some(d)) if d <= declared => {}
            (None, Some(_)) => {}
            (declared, _) => {
                return Err(AwsChunkedError::LengthMismatch {
                    declared: declared.unwrap_or(u64::MAX),
                    decoded: decoded.unwrap_or(u64::MAX),
                })
            }
        }
        self.decoded_bytes = decoded.expect("checked above");
        if size > 0 {
            return Ok(State::Data { remaining: size });
        }
        // The zero-size chunk: its signature covers empty data.
        self.chunk_done()?;
        self.last_chunk = true;
        if let Some(declared) = self.declared_length {
            if declared != self.decoded_bytes {
                return Err(AwsChunkedError::LengthMismatch {
                    declared,
                    decoded: self.decoded_bytes,
                });
            }
        }
        Ok(State::TrailerLine)
    }

    /// Checks the signature of the chunk just read (signed framings).
    fn chunk_done(&mut self) -> Result<(), AwsChunkedError> {
        let Some(signer) = &mut self.signer else {
            return Ok(());
        };
        let sha: [u8; 32] = std::mem::take(&mut self.chunk_sha).finalize().into();
        if signer.verify_chunk(&sha, &self.chunk_claimed) {
            Ok(())
        } else {
            Err(AwsChunkedError::SignatureDoesNotMatch)
        }
    }

    /// Handles a complete trailer line (or the final empty line); returns the next state.
    fn trailer_line_done(&mut self) -> Result<State, AwsChunkedError> {
        use AwsChunkedError::Malformed;
        assert!(self.last_chunk);
        if self.line.is_empty() {
            self.finish()?;
            return Ok(State::Done);
        }
        if !self.trailer_allowed {
            return Err(Malformed("trailer fields in a body without a trailer"));
        }
        if self.trailer_signature_seen {
            return Err(Malformed("a trailer field after the trailer signature"));
        }
        let line = std::mem::take(&mut self.line);
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(Malformed("trailer field without ':'"))?;
        let name = std::str::from_utf8(&line[..colon])
            .map_err(|_| Malformed("trailer name is not ASCII"))?
            .trim()
            .to_ascii_lowercase();
        let value = std::str::from_utf8(&line[colon + 1..])
            .map_err(|_| Malformed("trailer value is not UTF-8"))?
            .trim()
            .to_owned();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Malformed("bad trailer name"));
        }
        if name == "x-amz-trailer-signature" {
            if !self.trailer_signed {
                return Err(AwsChunkedError::UndeclaredTrailer(name));
            }
            let mut claimed = [0; 32];
            decode_hex(&value, &mut claimed)
                .ok_or(Malformed("trailer signature must be 64 hex digits"))?;
            let sha: [u8; 32] = std::mem::take(&mut self.trailer_sha).finalize().into();
            // No signer: the unverified framing (nothing to check with).
            if let Some(signer) = self.signer.as_mut() {
                if !signer.verify_trailer(&sha, &claimed) {
                    return Err(AwsChunkedError::SignatureDoesNotMatch);
                }
            }
            self.trailer_signature_seen = true;
        } else {
            let declared = self.declared.contains(&name);
            let repeated = self.trailers.iter().any(|(n, _)| *n == name);
            if !declared || repeated {
                return Err(AwsChunkedError::UndeclaredTrailer(name));
            }
            self.trailer_sha.update(name.as_bytes());
            self.trailer_sha.update(b":");
            self.trailer_sha.update(value.as_bytes());
            self.trailer_sha.update(b"\n");
            self.trailers.push((name, value));
        }
        self.line = line;
        self.line.clear();
        Ok(State::TrailerLine)
    }

    /// At the final empty line: every declared trailer came, the trailer signature came if
    /// required, and the checksum matches.
    fn finish(&mut self) -> Result<(), AwsChunkedError> {
        if let Some(missing) = self
            .declared
            .iter()
            .find(|d| !self.trailers.iter().any(|(n, _)| n == *d))
        {
            return Err(AwsChunkedError::MissingTrailer(missing.clone()));
        }
        if self.trailer_signed && !self.trailer_signature_seen {
            return Err(AwsChunkedError::MissingTrailer(
                "x-amz-trailer-signature".to_owned(),
            ));
        }
        if let Some(hasher) = self.hasher.take() {
            let algo = hasher.algo();
            let name = algo.header_name();
            let (_, value) = self
                .trailers
                .iter()
                .find(|(n, _)| n == name)
                .expect("declared trailers were checked above");
            let claimed = Checksum::from_base64(algo, value)
                .ok_or_else(|| AwsChunkedError::BadTrailerValue(name.to_owned()))?;
            let actual = hasher.finish();
            if actual != claimed {
                return Err(AwsChunkedError::BadDigest(algo));
            }
            self.checksum = Some(actual);
        }
        Ok(())
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

/// Control bytes other than HTAB (CR is handled before this check).
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}
