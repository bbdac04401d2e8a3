//! Sans-I/O HTTP/1.1 response framer: feed it received bytes and it reports the response
//! head, the body data and the end of each response, or that it needs more bytes.
//!
//! This is the one response parser of the workspace: the blocking [`crate::client`] (CLI and
//! tests), `aisle-bench` and the node's test harness all use it. The head is parsed by
//! `httparse` into header slots the caller provides (uninitialised, so declaring them costs
//! nothing); names and values borrow the caller's input, so a head costs no allocation.
//! Bodies are framed by `Content-Length`, by `Transfer-Encoding: chunked` (decoded by
//! [`crate::chunked`]), or by the end of the connection; responses to HEAD and 1xx, 204 and
//! 304 responses have none. Body data is reported as a range of the caller's input and never
//! copied.
//!
//! Driving it: keep unconsumed input at the front of a buffer, call [`ResponseFramer::step`]
//! with it, drop [`Step::consumed`] bytes, and act on the [`Event`]. On [`Event::NeedMore`]
//! append received bytes (everything offered was consumed, except a partial head, which is
//! offered again whole). When the peer closes, call [`ResponseFramer::at_eof`]. After
//! [`Event::End`] the next response (pipelined) starts at the next byte.

use std::mem::MaybeUninit;
use std::ops::Range;

use thiserror::Error;

use crate::chunked::{ChunkedDecoder, ChunkedError};

/// Largest response head accepted, counting the blank line that ends it.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 64 * 1024;
/// Most header lines a response head may have (the size of [`HeaderSlots`]).
pub const RESPONSE_HEADERS_MAX: usize = 128;

/// Header slots for one head parse; make them with [`header_slots`].
pub type HeaderSlots<'b> = [MaybeUninit<httparse::Header<'b>>; RESPONSE_HEADERS_MAX];

/// Fresh header slots. They are uninitialised, so this writes no memory: declare them right
/// where [`ResponseFramer::step`] is called, even on a hot path.
pub fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; RESPONSE_HEADERS_MAX]
}

/// Why a response could not be framed. The framer stays failed: the connection is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Not a valid HTTP/1.x response head (bad status line or header line, too many headers).
    #[error("malformed response head: {0}")]
    BadHead(httparse::Error),
    /// The head has a header the framer cannot accept; the text says which.
    #[error("malformed response head: {0}")]
    BadHeader(&'static str),
    /// The head is longer than [`RESPONSE_HEAD_BYTES_MAX`].
    #[error("response head larger than {RESPONSE_HEAD_BYTES_MAX} bytes")]
    HeadTooLarge,
    /// The chunked body is malformed.
    #[error("malformed response body: {0}")]
    BadChunked(ChunkedError),
    /// The connection ended before the response did.
    #[error("connection closed before the response ended")]
    ClosedEarly,
}

/// How a response body is delimited, once the no-body rules are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (0 for HEAD, 1xx, 204 and 304 responses).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// No length: the body ends when the server closes the connection.
    UntilClose,
}

/// A parsed response head; names and values borrow the input given to
/// [`ResponseFramer::step`].
#[derive(Debug, Clone, Copy)]
pub struct ResponseHead<'h, 'b> {
    /// The status code.
    pub status: u16,
    /// The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor_version: u8,
    /// The reason phrase (may be empty).
    pub reason: &'b str,
    /// Header lines in arrival order, values untrimmed.
    pub headers: &'h [httparse::Header<'b>],
    /// Bytes of the head, including the blank line that ends it.
    pub head_len: usize,
    /// How the body that follows is delimited.
    pub framing: Framing,
    /// The connection may carry another request after this response.
    pub keep_alive: bool,
}

impl<'b> ResponseHead<'_, 'b> {
    /// The first value of header `name` (ASCII case-insensitive), without surrounding blanks.
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| trim(h.value))
    }

    /// An interim (1xx) response other than `101 Switching Protocols`; the final response
    /// follows it.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// What one [`ResponseFramer::step`] found.
#[derive(Debug, Clone)]
pub enum Event<'h, 'b> {
    /// More input is needed. In a head, nothing was consumed: offer the same bytes again with
    /// more after them. In a body, everything offered was consumed.
    NeedMore,
    /// A response head; `consumed` is its length. Its body (if any) follows.
    Head(ResponseHead<'h, 'b>),
    /// Body data: this range of the input. It ends at `consumed`.
    Body(Range<usize>),
    /// The response is complete; the next byte after `consumed` starts the next response.
    End,
}

/// The result of one [`ResponseFramer::step`].
#[derive(Debug, Clone)]
pub struct Step<'h, 'b> {
    /// Bytes of the input the caller must drop before the next call.
    pub consumed: usize,
    /// What was found.
    pub event: Event<'h, 'b>,
}

#[derive(Debug, Clone)]
enum State {
    /// Waiting for a response head.
    Head,
    /// In a body with this many bytes to go (0: the next step reports the end).
    Length(u64),
    /// In a chunked body.
    Chunked(ChunkedDecoder),
    /// In a body that ends with the connection.
    UntilClose,
    /// A previous step failed; the same error is returned again.
    Failed(FrameError),
}

/// Frames the responses arriving on one connection, one after another.
#[derive(Debug, Clone)]
pub struct ResponseFramer {
    state: State,
    head_request: bool,
}

impl Default for ResponseFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseFramer {
    /// A framer waiting for the first response head, to a request other than HEAD.
    pub fn new() -> Self {
        ResponseFramer {
            state: State::Head,
            head_request: false,
        }
    }

    /// Says whether the request the next heads answer was a HEAD (their bodies are then
    /// empty whatever the headers say). Applies until changed.
    pub fn set_head_request(&mut self, head_request: bool) {
        self.head_request = head_request;
    }

    /// True between responses: the next byte must start a head.
    pub fn at_head(&self) -> bool {
        matches!(self.state, State::Head)
    }

    /// Body bytes in the input are the payload as is (no chunk framing): a caller may receive
    /// up to [`ResponseFramer::recv_limit`] bytes straight into its destination and then
    /// step over them there.
    pub fn passes_through(&self) -> bool {
        matches!(self.state, State::Length(_) | State::UntilClose)
    }

    /// Most bytes a receive may take without reading past the current body: the rest of a
    /// `Content-Length` body, else unlimited.
    pub fn recv_limit(&self) -> usize {
        match self.state {
            State::Length(n) => usize::try_from(n).unwrap_or(usize::MAX),
            _ => usize::MAX,
        }
    }

    /// Bytes left in a `Content-Length` body; `None` for other framings or between bodies.
    pub fn body_remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            _ => None,
        }
    }

    /// Frames from the start of `input`; see the module docs for the calling pattern.
    /// `slots` receive the headers of a head found now; use fresh [`header_slots`].
    pub fn step<'h, 'b>(
        &mut self,
        input: &'b [u8],
        slots: &'h mut [MaybeUninit<httparse::Header<'b>>],
    ) -> Result<Step<'h, 'b>, FrameError> {
        let result = self.step_inner(input, slots);
        if let Err(e) = result {
            self.state = State::Failed(e);
        }
        result
    }

    fn step_inner<'h, 'b>(
        &mut self,
        input: &'b [u8],
        slots: &'h mut [MaybeUninit<httparse::Header<'b>>],
    ) -> Result<Step<'h, 'b>, FrameError> {
        match &mut self.state {
            State::Failed(e) => Err(*e),
            State::Head => {
                let Some(head) = parse_head(input, slots, self.head_request)? else {
                    return Ok(Step {
                        consumed: 0,
                        event: Event::NeedMore,
                    });
                };
                self.state = match head.framing {
                    Framing::Length(n) => State::Length(n),
                    Framing::Chunked => State::Chunked(ChunkedDecoder::new()),
                    Framing::UntilClose => State::UntilClose,
                };
                Ok(Step {
                    consumed: head.head_len,
                    event: Event::Head(head),
                })
            }
            State::Length(0) => {
                self.state = State::Head;
                Ok(Step {
                    consumed: 0,
                    event: Event::End,
                })
            }
            State::Length(remaining) => {
                let n = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                if n == 0 {
                    return Ok(Step {
                        consumed: 0,
                        event: Event::NeedMore,
                    });
                }
                *remaining -= n as u64;
                Ok(Step {
                    consumed: n,
                    event: Event::Body(0..n),
                })
            }
            State::UntilClose => {
                if input.is_empty() {
                    return Ok(Step {
                        consumed: 0,
                        event: Event::NeedMore,
                    });
                }
                Ok(Step {
                    consumed: input.len(),
                    event: Event::Body(0..input.len()),
                })
            }
            State::Chunked(decoder) => {
                let step = decoder.step(input).map_err(FrameError::BadChunked)?;
                let event = if step.done {
                    self.state = State::Head;
                    Event::End
                } else if step.data.is_empty() {
                    Event::NeedMore
                } else {
                    Event::Body(step.data)
                };
                Ok(Step {
                    consumed: step.consumed,
                    event,
                })
            }
        }
    }

    /// The peer closed the connection (after everything received was stepped over). Ends a
    /// body delimited by the close, or one whose last byte has arrived; anything else not
    /// finished is [`FrameError::ClosedEarly`]. Between responses (at a head, nothing pending)
    /// a close is not this framer's business: the caller knows whether it still expects a
    /// response; this returns `ClosedEarly` there too.
    pub fn at_eof(&mut self) -> Result<(), FrameError> {
        match self.state {
            State::UntilClose | State::Length(0) => {
                self.state = State::Head;
                Ok(())
            }
            State::Failed(e) => Err(e),
            _ => {
                self.state = State::Failed(FrameError::ClosedEarly);
                Err(FrameError::ClosedEarly)
            }
        }
    }
}

/// Parses one response head at the start of `input`; `Ok(None)` when more bytes are needed.
/// `head_request`: the request was a HEAD, so the response has no body.
pub fn parse_head<'h, 'b>(
    input: &'b [u8],
    slots: &'h mut [MaybeUninit<httparse::Header<'b>>],
    head_request: bool,
) -> Result<Option<ResponseHead<'h, 'b>>, FrameError> {
    let mut resp = httparse::Response::new(&mut []);
    let head_len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, input, slots)
    {
        Ok(httparse::Status::Complete(n)) if n > RESPONSE_HEAD_BYTES_MAX => {
            return Err(FrameError::HeadTooLarge)
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() >= RESPONSE_HEAD_BYTES_MAX => {
            return Err(FrameError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(FrameError::BadHead(e)),
    };
    let (Some(status), Some(minor_version)) = (resp.code, resp.version) else {
        unreachable!("httparse completed a head without a status or version")
    };
    let headers: &'h [httparse::Header<'b>] = resp.headers;
    let mut content_length: Option<u64> = None;
    // Whether the final coding of the last Transfer-Encoding line is `chunked`.
    let mut chunked: Option<bool> = None;
    let mut close = false;
    let mut keep_alive_token = false;
    for h in headers {
        let v = trim(h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_decimal(v).ok_or(FrameError::BadHeader("bad Content-Length"))?;
            if content_length.is_some_and(|old| old != n) {
                return Err(FrameError::BadHeader("conflicting Content-Length"));
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = v.rsplit(|&b| b == b',').next().map_or(&b""[..], trim);
            chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in v.split(|&b| b == b',').map(trim) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    // Only `chunked` as the final coding frames a body this framer can hand over as payload
    // (RFC 9112 §6.3); another final coding would pass coded bytes off as the body.
    if chunked == Some(false) {
        return Err(FrameError::BadHeader("unsupported Transfer-Encoding"));
    }
    let no_body = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if no_body {
        Framing::Length(0)
    } else if chunked == Some(true) {
        // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3).
        Framing::Chunked
    } else if let Some(n) = content_length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    let keep_alive =
        !close && framing != Framing::UntilClose && (minor_version >= 1 || keep_alive_token);
    Ok(Some(ResponseHead {
        status,
        minor_version,
        reason: resp.reason.unwrap_or(""),
        headers,
        head_len,
        framing,
        keep_alive,
    }))
}

/// A decimal `Content-Length`: digits only (no sign, no blanks) that fit a `u64`.
fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// `v` without leading and trailing ASCII whitespace.
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

#[cfg(test)]
mod tests;
