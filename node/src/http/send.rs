//! Response bodies: a `BodySource` (inline bytes, a range of one open file, or ranges of
//! several files — the chunks of a chunked object) and how each piece reaches the socket, by
//! the node's `BodySend` policy for that piece: copied behind the head (one send),
//! `sendfile(2)` when its pages are cached, or spliced through the connection's pipe on the
//! ring when they are not (a cold file never blocks the core). A cold chunked body is read
//! ahead across its chunk files (`ReadAhead`).

use std::io;

use engine::cache::ObjectHandle;
use engine::io::{self as rio, sys, Fd};

use super::conn::{Conn, PIPE_BYTES, WBUF_KEEP_BYTES_MAX};
use crate::config::BodyPolicy;

/// A range of an open file that is (part of) a response body.
#[derive(Clone, Copy)]
pub struct FileRange<'a> {
    /// The open file.
    pub fd: &'a Fd,
    /// Where the range starts in it.
    pub offset: u64,
    /// How many bytes.
    pub len: u64,
    /// The range's bytes when the caller already holds them in memory (the object cache keeps
    /// the content of small objects): sent from there, no system call for the data.
    pub held: Option<&'a [u8]>,
}

/// What a response body is made of.
#[derive(Clone, Copy)]
pub enum BodySource<'a> {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// A range of one file.
    File(FileRange<'a>),
    /// Ranges of several files, sent in order (a chunked object).
    Files(&'a [FileRange<'a>]),
}

/// The pieces of a chunked object's chunks that hold its `len` bytes from `offset`.
fn chunk_ranges(h: &ObjectHandle, offset: u64, len: u64) -> Vec<FileRange<'_>> {
    let (mut at, end) = (0u64, offset + len);
    let mut out = Vec::new();
    for c in &h.chunks {
        let (c_start, c_end) = (at, at + c.size);
        at = c_end;
        if c_end <= offset || c_start >= end || c.size == 0 {
            continue;
        }
        let from = offset.max(c_start);
        let to = end.min(c_end);
        out.push(FileRange {
            fd: &c.fd,
            offset: from - c_start,
            len: to - from,
            held: None,
        });
    }
    out
}

/// Bytes of one readahead request and of one probed-and-sent step of a chunked body: the
/// kernel caps a `WILLNEED` at the larger of the device's readahead and largest request sizes
/// (8 MiB and 4 MiB on the test VM), and a step this size amortises its probe.
pub const CHUNK_READAHEAD_STEP: u64 = 8 << 20;

/// Readahead of a chunked body, ahead of its send: once a step is found cold (`armed`), the
/// `window` bytes past the send position are read into the page cache, across chunk files, in
/// 2 MiB folios: each step is a `MADV_HUGEPAGE` mapping faulted in by
/// `IORING_OP_MADVISE(MADV_POPULATE_READ)` (`IORING_OP_FADVISE(WILLNEED)` where that fails),
/// ops that run in the kernel's io-wq workers (never on the core) and are left to finish on
/// their own; the core only maps and unmaps. A hot body never arms it: no op, no cost.
/// Each chunk file otherwise starts its own readahead window small, and the disk idles at
/// every chunk boundary (bench/RESULTS.md, "Cold chunked reads").
struct ReadAhead<'a> {
    pieces: &'a [FileRange<'a>],
    window: u64,
    armed: bool,
    /// Body offset up to which readahead was asked for.
    advised: u64,
    /// The piece holding `advised`, and the body offset where that piece starts.
    piece: usize,
    piece_at: u64,
}

impl<'a> ReadAhead<'a> {
    fn new(pieces: &'a [FileRange<'a>], window: u64) -> Self {
        ReadAhead {
            pieces,
            window,
            armed: false,
            advised: 0,
            piece: 0,
            piece_at: 0,
        }
    }

    /// Asks for the body's bytes up to `sent + window` not asked for yet (from `sent` on).
    fn pump(&mut self, sent: u64) {
        if !self.armed {
            return;
        }
        let want = sent.saturating_add(self.window);
        self.advised = self.advised.max(sent);
        while self.advised < want {
            let Some(p) = self.pieces.get(self.piece) else {
                return;
            };
            let p_end = self.piece_at + p.len;
            if self.advised >= p_end {
                self.piece += 1;
                self.piece_at = p_end;
                continue;
            }
            let step = (p_end - self.advised)
                .min(want - self.advised)
                .min(CHUNK_READAHEAD_STEP);
            let (fd, off) = (p.fd.clone(), p.offset + (self.advised - self.piece_at));
            rio::spawn(async move {
                // A hint: an error (or a file cut short since it was opened) only means the
                // send reads those bytes itself, and reports what is wrong. Faulting a huge-page
                // mapping in reads 2 MiB folios; WILLNEED (where that fails) reads 4 KiB pages,
                // which cost every later send of them ~40 % more CPU (bench/RESULTS.md).
                let populated = match sys::FileMap::new(&fd, off, step as usize) {
                    Ok(map) => rio::populate_read(map).await.is_ok(),
                    Err(_) => false,
                };
                if !populated {
                    let _ = rio::fadvise(&fd, off, step as u32, libc::POSIX_FADV_WILLNEED).await;
                }
            })
            .detach();
            self.advised += step;
        }
    }
}

impl<'a> BodySource<'a> {
    /// `len` bytes of an open object from `offset`: a range of its file (or of the content the
    /// cache holds), or, for a chunked object, the pieces of its chunks, kept in `pieces`.
    pub fn object(
        h: &'a ObjectHandle,
        offset: u64,
        len: u64,
        pieces: &'a mut Vec<FileRange<'a>>,
    ) -> BodySource<'a> {
        if !h.chunks.is_empty() {
            *pieces = chunk_ranges(h, offset, len);
            return BodySource::Files(pieces);
        }
        let held = h
            .body
            .as_deref()
            .map(|b| &b[offset as usize..(offset + len) as usize]);
        BodySource::File(FileRange {
            fd: &h.fd,
            offset,
            len,
            held,
        })
    }

    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            BodySource::Empty => 0,
            BodySource::Bytes(b) => b.len() as u64,
            BodySource::File(r) => r.len,
            BodySource::Files(rs) => rs.iter().map(|r| r.len).sum(),
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Conn {
    /// Sends a response head in `buf` followed by `body`: each file piece by the node's
    /// policy for its size and cache state; the head goes out with the first piece.
    pub async fn send_head_and_body(
        &mut self,
        mut buf: Vec<u8>,
        body: BodySource<'_>,
    ) -> io::Result<()> {
        match body {
            BodySource::Empty => self.send_buf(buf, false).await,
            BodySource::Bytes(b) => {
                buf.extend_from_slice(b);
                self.send_copied(buf, false).await
            }
            BodySource::File(r) => self.send_piece(buf, &r, false).await,
            BodySource::Files(rs) => {
                let window = self.core.node.body_send.chunk_readahead;
                if rs.is_empty() {
                    return self.send_buf(buf, false).await;
                }
                if window == 0 {
                    let mut head = Some(buf);
                    for (i, r) in rs.iter().enumerate() {
                        let b = head.take().unwrap_or_else(|| self.take_wbuf());
                        self.send_piece(b, r, i + 1 < rs.len()).await?;
                    }
                    return Ok(());
                }
                // A hot body goes out a piece at a time, as without readahead. Once a piece is
                // found cold, the readahead starts and the rest goes in steps of its request
                // size (at most the window), each by the policy for its own cache state: what
                // was read ahead by sendfile, what is still cold by splice.
                let mut ra = ReadAhead::new(rs, window);
                let step_max = window.min(CHUNK_READAHEAD_STEP);
                let mut head = Some(buf);
                let mut at = 0u64;
                for (i, r) in rs.iter().enumerate() {
                    let mut done = 0u64;
                    while done < r.len {
                        let mut seg = FileRange {
                            fd: r.fd,
                            offset: r.offset + done,
                            len: r.len - done,
                            held: None,
                        };
                        let mut method = self.piece_method(&seg);
                        if !ra.armed && method == BodyPolicy::Splice {
                            ra.armed = true;
                        }
                        if ra.armed && seg.len > step_max {
                            seg.len = step_max;
                            method = self.piece_method(&seg);
                        }
                        ra.pump(at);
                        done += seg.len;
                        let more = done < r.len || i + 1 < rs.len();
                        let b = head.take().unwrap_or_else(|| self.take_wbuf());
                        self.send_piece_by(b, &seg, more, method).await?;
                        at += seg.len;
                    }
                }
                match head {
                    Some(b) => self.send_buf(b, false).await,
                    None => Ok(()),
                }
            }
        }
    }

    /// The policy's method for one file range: by its size and, past `copy_max`, whether the
    /// page cache holds its ends.
    fn piece_method(&self, r: &FileRange<'_>) -> BodyPolicy {
        self.core
            .node
            .body_send
            .method(r.len, || sys::ends_cached(r.fd, r.offset, r.len))
    }

    /// Sends what is in `buf` (a head, or nothing) and then one file range, by the policy.
    /// `more`: another piece follows (MSG_MORE on sends that end with this piece's data).
    async fn send_piece(&mut self, buf: Vec<u8>, r: &FileRange<'_>, more: bool) -> io::Result<()> {
        if r.len == 0 {
            return if buf.is_empty() {
                self.put_wbuf(buf);
                Ok(())
            } else {
                self.send_buf(buf, more).await
            };
        }
        let method = self.piece_method(r);
        self.send_piece_by(buf, r, more, method).await
    }

    /// `send_piece` by a method already chosen (`r` is not empty).
    async fn send_piece_by(
        &mut self,
        mut buf: Vec<u8>,
        r: &FileRange<'_>,
        more: bool,
        method: BodyPolicy,
    ) -> io::Result<()> {
        self.core.rec.stats.count_body_method(method);
        let (file, offset, len) = (r.fd, r.offset, r.len);
        if method == BodyPolicy::Copy {
            let head_len = buf.len();
            if let Some(held) = r.held {
                // Content kept in the cache entry: no system call for the data.
                debug_assert_eq!(held.len() as u64, len);
                buf.extend_from_slice(held);
                return self.send_copied(buf, more).await;
            }
            let mut done = 0u64;
            while done < len {
                let (at, want) = (offset + done, (len - done) as usize);
                // Page-cached bytes are copied at once; a cold read goes through the ring
                // (the core keeps serving others while the disk works).
                let n = match sys::pread_append_nowait(file, &mut buf, at, want) {
                    Ok(Some(n)) => n,
                    Ok(None) => {
                        let (r, b) = rio::read_at_most(file, buf, at, want).await;
                        buf = b;
                        r?
                    }
                    Err(e) => {
                        self.put_wbuf(buf);
                        return Err(e);
                    }
                };
                if n == 0 {
                    self.put_wbuf(buf);
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shorter than its metadata",
                    ));
                }
                done += n as u64;
            }
            debug_assert_eq!(buf.len() - head_len, len as usize);
            return self.send_copied(buf, more).await;
        }
        if buf.is_empty() {
            self.put_wbuf(buf);
        } else {
            self.send_buf(buf, true).await?;
        }
        if method == BodyPolicy::Sendfile {
            return self.sendfile(file, offset, len).await;
        }
        self.splice(file, offset, len).await
    }

    /// Sends a head with its copied body; does not keep a large buffer around afterwards.
    async fn send_copied(&mut self, buf: Vec<u8>, more: bool) -> io::Result<()> {
        let r = self.send_buf(buf, more).await;
        self.shrink_wbuf(WBUF_KEEP_BYTES_MAX);
        r
    }

    async fn sendfile(&mut self, file: &Fd, mut offset: u64, len: u64) -> io::Result<()> {
        let end = offset + len;
        while offset < end {
            let want = (end - offset).min(1 << 30) as usize;
            match sys::sendfile(&self.fd, file, offset, want) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shorter than its metadata",
                    ))
                }
                Ok(n) => offset += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    rio::poll(&self.fd, libc::POLLOUT as u32).await?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn splice(&mut self, file: &Fd, mut offset: u64, len: u64) -> io::Result<()> {
        let (pr, pw, cap) = self.pipe(PIPE_BYTES)?;
        let end = offset + len;
        let res: io::Result<()> = async {
            while offset < end {
                let want = (end - offset).min(cap as u64) as u32;
                let n = rio::splice(file, offset as i64, &pw, -1, want).await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shorter than its metadata",
                    ));
                }
                offset += n as u64;
                let mut left = n;
                while left > 0 {
                    // The socket is non-blocking and io-wq runs splice without polling it: a
                    // full send buffer comes back as EAGAIN, so wait for room on the ring.
                    match rio::splice(&pr, -1, &self.fd, -1, left as u32).await {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(m) => left -= m,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            rio::poll(&self.fd, libc::POLLOUT as u32).await?;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(())
        }
        .await;
        if res.is_err() {
            // The pipe may hold bytes of this body: never reuse it.
            self.drop_pipe();
        }
        res
    }
}
