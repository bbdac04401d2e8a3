//! One HTTP/1.1 connection: reading request heads and bodies, writing responses and file bodies.
//!
//! Keep-alive and pipelining: the read buffer may hold several requests; they are served in
//! order, each response fully written before the next head is parsed. A body is never read
//! past its end, so the next request's bytes stay in the buffer or the socket.
//!
//! Response bodies (copied, sendfile, splice) are sent by `send.rs`.

use std::io;
use std::rc::Rc;

use engine::io::{self as rio, sys, AlignedBuf, Fd, Received, RecvMulti};
use engine::mountpath::MountpathId;
use net::chunked::ChunkedDecoder;
use net::head::{parse_head_into, HeadError, RequestHead, HEAD_BYTES_MAX};
use net::response;

use crate::ctx::CoreCtx;

/// Read buffer size: room for a maximal head plus pipelined followers.
const READ_BUF_BYTES: usize = 2 * HEAD_BYTES_MAX;
/// Free room the read buffer needs before taking a provided buffer's bytes (its size).
const READ_ROOM_MIN: usize = 4096;
/// Bodies up to this size are received through the multishot receive (copied out of the
/// provided buffers); larger ones end it and are received straight into the caller's buffer.
const MULTISHOT_BODY_BYTES_MAX: u64 = 16 * 1024;
/// Largest response buffer a connection keeps between requests.
pub(super) const WBUF_KEEP_BYTES_MAX: usize = 64 * 1024;
/// Pipe capacity requested for splicing.
pub(super) const PIPE_BYTES: usize = 1 << 20;
/// Largest control-plane (JSON) request body read into memory.
pub const SMALL_BODY_BYTES_MAX: usize = 1 << 20;
/// Unread body bytes we are willing to drain to keep a connection after an early error.
const DRAIN_BYTES_MAX: u64 = 1 << 20;
/// How long a closing connection waits for the client to stop sending.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);
/// How much a closing connection reads and discards at most.
const LINGER_BYTES_MAX: usize = 16 << 20;

/// How the current request's body is framed and how much of it is left.
#[derive(Debug)]
enum BodyState {
    /// No body, or fully read.
    Done,
    /// `Content-Length` bytes still to read.
    Length(u64),
    /// Chunked, not finished.
    Chunked(ChunkedDecoder),
}

/// Why reading a body failed.
#[derive(Debug)]
pub enum BodyError {
    /// The peer closed or reset before the body ended.
    Truncated,
    /// Chunked framing was malformed.
    Malformed(String),
    /// The body is larger than allowed here.
    TooLarge,
    /// A socket error.
    Io(io::Error),
}

/// A connection being served.
pub struct Conn {
    pub fd: Fd,
    pub core: Rc<CoreCtx>,
    pub peer: String,
    rbuf: Vec<u8>,
    rpos: usize,
    /// Response-head scratch; moved into send ops and back.
    wbuf: Option<Vec<u8>>,
    body: BodyState,
    /// 100-continue requested and not yet answered.
    continue_pending: bool,
    pipe: Option<(Fd, Fd, usize)>,
    /// The armed multishot receive, when the core has provided buffers: every byte arriving
    /// on the socket comes through it while it is armed.
    recv: Option<RecvMulti>,
    /// Decoded chunked-body bytes that did not fit the caller's buffer.
    carry: Vec<u8>,
    /// Index in the core's connection table.
    pub slot: usize,
    /// What the current request did (status sent, bytes moved, error kinds), for the counters.
    pub outcome: ReqOutcome,
    /// Where the current request asked to panic (test-only: `ctx::test_panic_point`); set
    /// only on a node started with the trigger armed.
    pub test_panic_at: Option<String>,
}

/// Filled in while a request is served; read by the statistics afterwards.
#[derive(Default, Debug, Clone, Copy)]
pub struct ReqOutcome {
    pub status: u16,
    pub bytes: u64,
    pub mountpath: Option<MountpathId>,
    pub err_io: bool,
    pub err_cksum: bool,
}

/// What `next_head` produced.
pub enum NextHead {
    /// The head was parsed into the caller's `RequestHead`.
    Request,
    /// Clean end: the peer closed between requests (or shutdown).
    Closed,
    /// A bad head; the caller answers with this status and closes.
    Bad(u16, String),
}

impl Conn {
    pub fn new(fd: Fd, core: Rc<CoreCtx>, peer: String, slot: usize) -> Conn {
        Conn {
            fd,
            core,
            peer,
            rbuf: Vec::with_capacity(READ_BUF_BYTES),
            rpos: 0,
            wbuf: Some(Vec::with_capacity(1024)),
            body: BodyState::Done,
            continue_pending: false,
            pipe: None,
            recv: None,
            carry: Vec::new(),
            slot,
            outcome: ReqOutcome::default(),
            test_panic_at: None,
        }
    }

    /// Panics if the current request asked for a panic at `point` and the node was started
    /// with the trigger armed (`NodeInfo::test_panic`; both are needed, neither alone does
    /// anything). For the panic-isolation tests only.
    pub fn test_panic_point(&self, point: &str) {
        if self.test_panic_at.as_deref() == Some(point) {
            panic!(
                "test panic at {point:?} (armed by {}, asked by {})",
                crate::ctx::TEST_PANIC_ENV,
                crate::ctx::TEST_PANIC_HEADER
            );
        }
    }

    /// Moves unread bytes to the front of the read buffer.
    fn compact(&mut self) {
        if self.rpos > 0 {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
    }

    /// Receives more bytes into the read buffer; Ok(0) means the peer closed.
    ///
    /// With provided buffers the multishot receive is armed (once, then it stays armed across
    /// requests); if it ends for want of a free buffer this receive falls back to the
    /// connection's own buffer and the next one arms it again.
    async fn fill(&mut self) -> io::Result<usize> {
        self.compact();
        if self.rbuf.capacity() - self.rbuf.len() < READ_ROOM_MIN {
            self.rbuf.reserve(READ_BUF_BYTES);
        }
        if self.core.recv_multishot {
            let fd = &self.fd;
            let stream = self.recv.get_or_insert_with(|| RecvMulti::new(fd));
            match stream.next_into(&mut self.rbuf).await {
                Some(Ok(Received::Data(n))) => return Ok(n),
                Some(Ok(Received::Eof)) => {
                    self.recv = None;
                    return Ok(0);
                }
                Some(Err(e)) => {
                    self.recv = None;
                    return Err(e);
                }
                Some(Ok(Received::Ended)) | None => self.recv = None,
            }
        }
        let buf = std::mem::take(&mut self.rbuf);
        let (r, buf) = rio::recv(&self.fd, buf).await;
        self.rbuf = buf;
        r
    }

    /// Ends the multishot receive, moving what it already received into the read buffer, so
    /// the socket can be read directly (a large body straight into the caller's buffer).
    async fn disarm_recv(&mut self) {
        let Some(stream) = self.recv.as_mut() else {
            return;
        };
        stream.cancel();
        while let Some(r) = stream.next_into(&mut self.rbuf).await {
            match r {
                Ok(Received::Data(_)) => {}
                // End of stream or an error stays with the socket: a direct receive sees it.
                Ok(Received::Eof) | Ok(Received::Ended) | Err(_) => {}
            }
        }
        self.recv = None;
    }

    /// Whether unread request bytes are buffered (a pipelined request, or a partial head).
    pub fn has_buffered(&self) -> bool {
        self.rpos < self.rbuf.len()
    }

    /// Reads the next request head into `head` (reused from request to request, so parsing
    /// allocates nothing once its buffers fit).
    pub async fn next_head(&mut self, head: &mut RequestHead) -> NextHead {
        loop {
            match parse_head_into(&self.rbuf[self.rpos..], head) {
                Ok(Some(n)) => {
                    self.rpos += n;
                    self.body = if head.chunked {
                        BodyState::Chunked(ChunkedDecoder::new())
                    } else {
                        match head.content_length {
                            Some(0) | None => BodyState::Done,
                            Some(n) => BodyState::Length(n),
                        }
                    };
                    self.continue_pending =
                        head.expect_continue && !matches!(self.body, BodyState::Done);
                    self.core.set_waiting(self.slot, false, false);
                    return NextHead::Request;
                }
                Ok(None) => {}
                Err(e) => return NextHead::Bad(head_status(&e), e.to_string()),
            }
            self.core.set_waiting(self.slot, true, !self.has_buffered());
            if self.core.shutting_down() && !self.has_buffered() {
                return NextHead::Closed;
            }
            let r = self.fill().await;
            self.core.set_waiting(self.slot, true, false);
            match r {
                Ok(0) | Err(_) => return NextHead::Closed,
                Ok(_) => {}
            }
        }
    }

    /// Whether the request body has been read completely.
    pub fn body_done(&self) -> bool {
        matches!(self.body, BodyState::Done) && self.carry.is_empty()
    }

    /// Whether the client waits for `100 Continue` that we have not sent.
    pub fn continue_pending(&self) -> bool {
        self.continue_pending
    }

    /// Sends `100 Continue` if the client asked for it and is still waiting.
    async fn send_continue(&mut self) -> Result<(), BodyError> {
        if !self.continue_pending {
            return Ok(());
        }
        self.continue_pending = false;
        if self.has_buffered() {
            return Ok(()); // the client sent the body anyway
        }
        let (r, _) = rio::send_all(&self.fd, response::CONTINUE_100.to_vec(), 0).await;
        r.map_err(BodyError::Io)
    }

    /// Appends body bytes to `out` (up to its spare capacity); returns the count, 0 at the end.
    pub async fn read_body(&mut self, out: &mut Vec<u8>) -> Result<usize, BodyError> {
        let (r, buf) = self.read_body_into(std::mem::take(out)).await;
        *out = buf;
        r
    }

    /// `read_body` into an aligned buffer (a direct-I/O PUT), handed back with the count.
    pub async fn read_body_aligned(
        &mut self,
        buf: AlignedBuf,
    ) -> (Result<usize, BodyError>, AlignedBuf) {
        self.read_body_into(buf).await
    }

    /// Appends body bytes to `out` (up to its spare room) and hands it back with the count,
    /// 0 at the end. Content-Length bodies are received straight into `out`; bytes that came
    /// with the head, small bodies under a multishot receive, and chunked data are copied.
    async fn read_body_into<B: BodyBuf>(&mut self, mut out: B) -> (Result<usize, BodyError>, B) {
        if let Err(e) = self.send_continue().await {
            return (Err(e), out);
        }
        let spare = out.spare();
        assert!(spare > 0, "read_body into a full buffer");
        loop {
            if !self.carry.is_empty() {
                let n = self.carry.len().min(spare);
                out.extend_from_slice(&self.carry[..n]);
                self.carry.drain(..n);
                return (Ok(n), out);
            }
            match &mut self.body {
                BodyState::Done => return (Ok(0), out),
                BodyState::Length(left) => {
                    let left_now = *left;
                    if self.has_buffered() {
                        let avail = self.rbuf.len() - self.rpos;
                        let n = avail.min(spare).min(left_now as usize);
                        out.extend_from_slice(&self.rbuf[self.rpos..self.rpos + n]);
                        self.rpos += n;
                        self.finish_length(left_now - n as u64);
                        return (Ok(n), out);
                    }
                    if self.recv.is_some() {
                        if left_now <= MULTISHOT_BODY_BYTES_MAX {
                            match self.fill_body().await {
                                Ok(0) => return (Err(BodyError::Truncated), out),
                                Ok(_) => continue,
                                Err(e) => return (Err(BodyError::Io(e)), out),
                            }
                        }
                        self.disarm_recv().await;
                        if self.has_buffered() {
                            continue;
                        }
                    }
                    let max = spare.min(left_now.min(usize::MAX as u64) as usize);
                    self.core.set_body_wait(self.slot, true);
                    let (r, buf) = out.recv_upto(&self.fd, max).await;
                    self.core.set_body_wait(self.slot, false);
                    out = buf;
                    return match r {
                        Ok(0) => (Err(BodyError::Truncated), out),
                        Ok(n) => {
                            self.finish_length(left_now - n as u64);
                            (Ok(n), out)
                        }
                        Err(e) => (Err(BodyError::Io(e)), out),
                    };
                }
                BodyState::Chunked(_) if self.recv.is_some() => {
                    // A chunked body may be large: receive it without the extra copy.
                    self.disarm_recv().await;
                }
                BodyState::Chunked(dec) => {
                    let input = &self.rbuf[self.rpos..];
                    let step = match dec.step(input) {
                        Ok(s) => s,
                        Err(e) => return (Err(BodyError::Malformed(e.to_string())), out),
                    };
                    let data = &input[step.data.clone()];
                    let take = data.len().min(spare);
                    out.extend_from_slice(&data[..take]);
                    // The decoder consumed all of `data`: keep what did not fit for next time.
                    self.carry.extend_from_slice(&data[take..]);
                    self.rpos += step.consumed;
                    if step.done {
                        self.body = BodyState::Done;
                        if take == 0 {
                            continue; // any carry is returned at the top; else the end
                        }
                        return (Ok(take), out);
                    }
                    if take > 0 {
                        return (Ok(take), out);
                    }
                    if step.consumed == 0 {
                        match self.fill_body().await {
                            Ok(0) => return (Err(BodyError::Truncated), out),
                            Ok(_) => {}
                            Err(e) => return (Err(BodyError::Io(e)), out),
                        }
                    }
                }
            }
        }
    }

    /// `fill` while a body is expected: a wait longer than the body timeout closes the
    /// connection (see `CoreCtx::set_body_wait`).
    async fn fill_body(&mut self) -> io::Result<usize> {
        self.core.set_body_wait(self.slot, true);
        let r = self.fill().await;
        self.core.set_body_wait(self.slot, false);
        r
    }

    /// Closes after a final response while the client may still be sending (an unread body, a
    /// refused head): half-close our side, then read and discard what arrives until the client
    /// closes, for at most `LINGER` and `LINGER_BYTES_MAX`. Closing with unread data would send
    /// a reset that can destroy the response before the client reads it (RFC 9112 §9.6).
    pub async fn linger_close(mut self) {
        self.recv = None; // cancelled before the receives below are submitted
        sys::shutdown_write(&self.fd);
        let fd = self.fd.clone();
        let timer = rio::spawn(async move {
            rio::sleep(LINGER).await;
            sys::shutdown_read(&fd);
        });
        let mut total = self.rbuf.len() - self.rpos;
        let mut buf = std::mem::take(&mut self.rbuf);
        while total < LINGER_BYTES_MAX {
            buf.clear();
            let (r, b) = rio::recv(&self.fd, buf).await;
            buf = b;
            match r {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        drop(timer);
    }

    fn finish_length(&mut self, left: u64) {
        self.body = if left == 0 {
            BodyState::Done
        } else {
            BodyState::Length(left)
        };
    }

    /// Reads a whole small body (JSON control messages).
    pub async fn read_small_body(&mut self) -> Result<Vec<u8>, BodyError> {
        if let BodyState::Length(n) = self.body {
            if n > SMALL_BODY_BYTES_MAX as u64 {
                return Err(BodyError::TooLarge);
            }
        }
        let mut all = Vec::new();
        let mut buf = Vec::with_capacity(READ_BUF_BYTES + 1024);
        loop {
            buf.clear();
            let n = self.read_body(&mut buf).await?;
            if n == 0 {
                return Ok(all);
            }
            all.extend_from_slice(&buf);
            if all.len() > SMALL_BODY_BYTES_MAX {
                return Err(BodyError::TooLarge);
            }
        }
    }

    /// After an early error response: can the connection be kept? Drains a small unread body;
    /// a large one, or one the client has not sent yet (100-continue), means closing.
    pub async fn discard_body(&mut self) -> bool {
        if self.body_done() {
            return true;
        }
        if self.continue_pending {
            return false;
        }
        if let BodyState::Length(n) = self.body {
            if n > DRAIN_BYTES_MAX {
                return false;
            }
        }
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut total = 0u64;
        loop {
            buf.clear();
            match self.read_body(&mut buf).await {
                Ok(0) => return true,
                Ok(n) => {
                    total += n as u64;
                    if total > DRAIN_BYTES_MAX {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Takes the response scratch buffer, cleared.
    pub fn take_wbuf(&mut self) -> Vec<u8> {
        let mut b = self.wbuf.take().unwrap_or_default();
        b.clear();
        b
    }

    /// Sends a response head (and any bytes appended to it) and keeps the buffer for reuse.
    /// `more` tells the kernel a body follows (MSG_MORE), so head and body share packets.
    pub async fn send_buf(&mut self, buf: Vec<u8>, more: bool) -> io::Result<()> {
        let flags = if more { libc::MSG_MORE } else { 0 };
        let (r, buf) = rio::send_all_flags(&self.fd, buf, 0, flags).await;
        self.wbuf = Some(buf);
        r
    }

    /// Keeps `buf` as the response scratch buffer.
    pub(super) fn put_wbuf(&mut self, buf: Vec<u8>) {
        self.wbuf = Some(buf);
    }

    /// Replaces the response buffer with a small one when it grew past `max` bytes.
    pub(super) fn shrink_wbuf(&mut self, max: usize) {
        if self.wbuf.as_ref().is_some_and(|b| b.capacity() > max) {
            self.wbuf = Some(Vec::with_capacity(1024));
        }
    }

    /// The connection's pipe for splicing (read end, write end, capacity), made on first use
    /// with room for `bytes` if the kernel allows.
    pub(super) fn pipe(&mut self, bytes: usize) -> io::Result<(Fd, Fd, usize)> {
        if self.pipe.is_none() {
            let (r, w) = sys::pipe(bytes)?;
            let cap = sys::pipe_capacity(&w);
            self.pipe = Some((r, w, cap));
        }
        Ok(self.pipe.clone().expect("pipe was just made"))
    }

    /// Forgets the pipe (it may hold bytes of a body that failed: never reuse it).
    pub(super) fn drop_pipe(&mut self) {
        self.pipe = None;
    }
}

/// A buffer a request body is received into: the `Vec`s of buffered PUTs and control
/// messages, or the aligned buffers of direct-I/O PUTs.
trait BodyBuf: Sized {
    /// Room left after the data.
    fn spare(&self) -> usize;
    /// Appends `data` (at most `spare()` bytes).
    fn extend_from_slice(&mut self, data: &[u8]);
    /// Receives at most `max` bytes from `fd` after the data; hands the buffer back.
    async fn recv_upto(self, fd: &Fd, max: usize) -> (io::Result<usize>, Self);
}

impl BodyBuf for Vec<u8> {
    fn spare(&self) -> usize {
        self.capacity() - self.len()
    }
    fn extend_from_slice(&mut self, data: &[u8]) {
        Vec::extend_from_slice(self, data);
    }
    async fn recv_upto(self, fd: &Fd, max: usize) -> (io::Result<usize>, Self) {
        rio::recv_upto(fd, self, max).await
    }
}

impl BodyBuf for AlignedBuf {
    fn spare(&self) -> usize {
        AlignedBuf::spare(self)
    }
    fn extend_from_slice(&mut self, data: &[u8]) {
        AlignedBuf::extend_from_slice(self, data);
    }
    async fn recv_upto(self, fd: &Fd, max: usize) -> (io::Result<usize>, Self) {
        rio::recv_aligned(fd, self, max).await
    }
}

fn head_status(e: &HeadError) -> u16 {
    e.status()
}
