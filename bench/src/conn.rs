//! One keep-alive client connection on the core's reactor: connect (a blocking std connect,
//! then the socket moves to the ring), send a request head and body, read the whole response
//! body (every byte is received and, when asked, hashed), and the watch a core's watchdog uses
//! to abort a request that takes longer than `-timeout`.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use engine::io::{recv_upto, send_all, send_all_flags, Fd};
use xxhash_rust::xxh64::Xxh64;

use net::framer::{header_slots, Event, FrameError, ResponseFramer};

use crate::http::Checksum;

/// Receive buffer per connection: large GET bodies arrive in few `recv`s.
pub const RECV_BUF_BYTES: usize = 256 * 1024;
/// Bytes of an error response body kept for the error report.
pub const ERROR_SNIPPET_BYTES_MAX: usize = 300;
/// Connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Linux `MSG_MORE`: the body follows the head, so the kernel may coalesce them.
const MSG_MORE: i32 = 0x8000;

/// What a core's watchdog needs to abort a worker's stuck request: a duplicate of the socket
/// (`shutdown(2)` on it fails the ring's pending send or recv) and when the request started.
#[derive(Debug, Default)]
pub struct Watch {
    socket: RefCell<Option<TcpStream>>,
    started: Cell<Option<Instant>>,
    aborted: Cell<bool>,
}

impl Watch {
    /// Shuts the connection down if its request has run longer than `limit`; returns whether
    /// it did.
    pub fn abort_if_older(&self, now: Instant, limit: Duration) -> bool {
        match self.started.get() {
            Some(t) if now.saturating_duration_since(t) > limit && !self.aborted.get() => {
                if let Some(s) = self.socket.borrow().as_ref() {
                    // The socket may already be gone; either way the request ends.
                    let _ = s.shutdown(Shutdown::Both);
                }
                self.aborted.set(true);
                true
            }
            _ => false,
        }
    }
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum ExchangeError {
    Io(io::Error),
    Http(FrameError),
    /// Bytes arrived before the request was answered (after the previous response ended).
    Unexpected(usize),
    /// The watchdog aborted the request after `-timeout`.
    TimedOut,
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Io(e) => write!(f, "{e}"),
            ExchangeError::Http(e) => write!(f, "{e}"),
            ExchangeError::Unexpected(n) => write!(f, "{n} unexpected bytes before the response"),
            ExchangeError::TimedOut => write!(f, "timed out (-timeout)"),
        }
    }
}

/// A complete response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body_bytes: u64,
    pub checksum: Checksum,
    /// XXH64 of the body when hashing was asked for.
    pub body_xxh64: Option<u64>,
    pub keep_alive: bool,
}

/// A connected socket with its receive buffer.
pub struct Conn {
    fd: Fd,
    rbuf: Vec<u8>,
}

/// A PUT body: `len` bytes made of pieces of `source` (see [`body_pieces`]).
pub struct PutBody {
    pub source: Vec<u8>,
    pub len: u64,
}

/// The piece sizes a body of `len` bytes is sent in from a source buffer of `source_len`
/// bytes: first `len % source_len` (if non-zero), then whole buffers. Each piece is the tail
/// (suffix) of the source, so one send covers it.
pub fn body_pieces(len: u64, source_len: usize) -> impl Iterator<Item = usize> {
    assert!(source_len > 0 || len == 0);
    let mut remaining = len;
    std::iter::from_fn(move || {
        if remaining == 0 {
            return None;
        }
        let piece = match remaining % source_len as u64 {
            0 => source_len,
            r => r as usize,
        };
        remaining -= piece as u64;
        Some(piece)
    })
}

/// XXH64 (seed 0) of the body [`body_pieces`] describes.
pub fn body_xxh64(source: &[u8], len: u64) -> u64 {
    let mut h = Xxh64::new(0);
    for piece in body_pieces(len, source.len()) {
        h.update(&source[source.len() - piece..]);
    }
    h.digest()
}

impl Conn {
    /// Connects (blocking, bounded by a timeout), sets TCP_NODELAY and O_NONBLOCK, and
    /// registers a duplicate of the socket in `watch`.
    pub fn connect(addr: SocketAddr, watch: &Watch) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        *watch.socket.borrow_mut() = Some(stream.try_clone()?);
        watch.aborted.set(false);
        Ok(Conn {
            fd: Fd::from_owned(stream.into()),
            rbuf: Vec::with_capacity(RECV_BUF_BYTES),
        })
    }

    /// Sends a request and reads the whole response. `head` is returned (for reuse); with a
    /// body, so is its source buffer. `hash` asks for the XXH64 of a 2xx body; the first bytes
    /// of a non-2xx body go into `snippet`.
    pub async fn exchange(
        &mut self,
        watch: &Watch,
        head: Vec<u8>,
        body: Option<PutBody>,
        hash: bool,
        snippet: &mut Vec<u8>,
    ) -> (Result<Reply, ExchangeError>, Vec<u8>, Option<Vec<u8>>) {
        watch.started.set(Some(Instant::now()));
        let (sent, head, source) = self.send_request(head, body).await;
        let result = match sent {
            Ok(()) => self.read_response(hash, snippet).await,
            Err(e) => Err(ExchangeError::Io(e)),
        };
        watch.started.set(None);
        let result = match result {
            Err(_) if watch.aborted.get() => Err(ExchangeError::TimedOut),
            r => r,
        };
        (result, head, source)
    }

    async fn send_request(
        &mut self,
        mut head: Vec<u8>,
        body: Option<PutBody>,
    ) -> (io::Result<()>, Vec<u8>, Option<Vec<u8>>) {
        let Some(PutBody { mut source, len }) = body else {
            let (r, head) = send_all(&self.fd, head, 0).await;
            return (r, head, None);
        };
        let head_len = head.len();
        let mut pieces = body_pieces(len, source.len()).peekable();
        // A small body is copied behind the head: one send instead of two.
        if len <= SMALL_BODY_BYTES_MAX as u64 {
            for piece in pieces {
                head.extend_from_slice(&source[source.len() - piece..]);
            }
            let (r, mut head) = send_all(&self.fd, head, 0).await;
            head.truncate(head_len);
            return (r, head, Some(source));
        }
        let (r, head) = send_all_flags(&self.fd, head, 0, MSG_MORE).await;
        if let Err(e) = r {
            return (Err(e), head, Some(source));
        }
        while let Some(piece) = pieces.next() {
            let flags = if pieces.peek().is_some() { MSG_MORE } else { 0 };
            let start = source.len() - piece;
            let (r, s) = send_all_flags(&self.fd, source, start, flags).await;
            source = s;
            if let Err(e) = r {
                return (Err(e), head, Some(source));
            }
        }
        (Ok(()), head, Some(source))
    }

    async fn read_response(
        &mut self,
        hash: bool,
        snippet: &mut Vec<u8>,
    ) -> Result<Reply, ExchangeError> {
        if !self.rbuf.is_empty() {
            let n = self.rbuf.len();
            self.rbuf.clear();
            return Err(ExchangeError::Unexpected(n));
        }
        snippet.clear();
        let mut framer = ResponseFramer::new();
        // The final (non-interim) head's facts, once it has arrived.
        let mut head: Option<(u16, Checksum)> = None;
        let mut keep_alive = false;
        let mut ok = false;
        let mut hasher: Option<Xxh64> = None;
        let mut body_bytes = 0u64;
        // Bytes of `rbuf` already stepped over.
        let mut pos = 0;
        loop {
            let mut slots = header_slots();
            let step = framer
                .step(&self.rbuf[pos..], &mut slots)
                .map_err(ExchangeError::Http)?;
            match step.event {
                Event::Head(h) => {
                    // An interim response (100 Continue) is skipped.
                    if !h.is_interim() {
                        ok = (200..300).contains(&h.status);
                        hasher = (hash && ok).then(|| Xxh64::new(0));
                        keep_alive = h.keep_alive;
                        head = Some((h.status, Checksum::of(&h)));
                    }
                }
                Event::Body(r) => {
                    let d = &self.rbuf[pos + r.start..pos + r.end];
                    body_bytes += d.len() as u64;
                    if let Some(h) = hasher.as_mut() {
                        h.update(d);
                    }
                    if !ok && snippet.len() < ERROR_SNIPPET_BYTES_MAX {
                        let n = (ERROR_SNIPPET_BYTES_MAX - snippet.len()).min(d.len());
                        snippet.extend_from_slice(&d[..n]);
                    }
                }
                Event::End if head.is_some() => {
                    pos += step.consumed;
                    break;
                }
                Event::End => {}
                Event::NeedMore => {
                    pos += step.consumed;
                    // Keep only unconsumed bytes (a partial head), then receive more; a body
                    // receive stops at the end of a length body.
                    if pos == self.rbuf.len() {
                        self.rbuf.clear();
                    } else {
                        self.rbuf.drain(..pos);
                    }
                    pos = 0;
                    if self.rbuf.len() == self.rbuf.capacity() {
                        self.rbuf.reserve(RECV_BUF_BYTES);
                    }
                    let limit = framer.recv_limit();
                    let (r, buf) = recv_upto(&self.fd, std::mem::take(&mut self.rbuf), limit).await;
                    self.rbuf = buf;
                    match r {
                        Ok(0) => {
                            framer.at_eof().map_err(ExchangeError::Http)?;
                            keep_alive = false;
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => return Err(ExchangeError::Io(e)),
                    }
                    continue;
                }
            }
            pos += step.consumed;
        }
        let (status, checksum) = head.ok_or(ExchangeError::Http(FrameError::ClosedEarly))?;
        // Bytes past the body (a server bug) stay in the buffer and fail the next exchange.
        self.rbuf.drain(..pos);
        Ok(Reply {
            status,
            body_bytes,
            checksum,
            body_xxh64: hasher.map(|h| h.digest()),
            keep_alive,
        })
    }
}

/// Bodies up to this size are copied behind the head and sent with it in one `send`.
pub const SMALL_BODY_BYTES_MAX: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_pieces_cover_the_length() {
        let check = |len: u64, src: usize, expected: &[usize]| {
            let got: Vec<usize> = body_pieces(len, src).collect();
            assert_eq!(got, expected, "len {len} source {src}");
        };
        check(0, 10, &[]);
        check(7, 10, &[7]);
        check(10, 10, &[10]);
        check(25, 10, &[5, 10, 10]);
        check(30, 10, &[10, 10, 10]);
    }

    #[test]
    fn body_hash_matches_the_bytes_sent() {
        let src: Vec<u8> = (0..100u8).collect();
        for len in [0u64, 1, 99, 100, 101, 250] {
            let mut bytes = Vec::new();
            for p in body_pieces(len, src.len()) {
                bytes.extend_from_slice(&src[src.len() - p..]);
            }
            assert_eq!(bytes.len() as u64, len);
            assert_eq!(body_xxh64(&src, len), xxhash_rust::xxh64::xxh64(&bytes, 0));
        }
    }
}
