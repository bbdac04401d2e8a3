//! The TLS pump: one task per TLS connection, on the core that accepted it, moving bytes
//! between the client's TCP socket (records) and one end of a local socket pair (plaintext)
//! through a `rustls::ServerConnection`. The other end of the pair is served by the core as an
//! ordinary connection, so the HTTP code (and its sendfile/splice bodies, which write into the
//! pair) is the same for HTTP and HTTPS.
//!
//! Invariants:
//! - Four ops at most are in flight (a receive and a send on each side); no op is ever
//!   dropped before it completes except when the whole pump ends, so no received byte is lost.
//! - Bounded buffers: a receive from one side is not started again until what the previous
//!   one produced has been sent to the other side (`IO_BYTES` of plaintext or records at most,
//!   plus rustls's framing), so a slow reader on either side stops the other. An idle
//!   connection's receives wait with `IO_BYTES_IDLE` buffers.
//! - Closing: the server's end of the pair closing sends `close_notify`, half-closes TCP and
//!   lingers (reading and discarding) until the client closes or `LINGER` passes; the client
//!   closing (or `close_notify`) half-closes the pair, so the server sees an ordinary EOF; a TCP
//!   error or a failed handshake (its alert sent) ends both sides.
//! - A plain-HTTP request on the TLS port is answered like Go's `net/http` (AIS):
//!   `400 Bad Request`, "Client sent an HTTP request to an HTTPS server.", then closed.

use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use engine::io::{self as rio, sys, Fd};
use rustls::ServerConnection;

/// Bytes one receive takes from either side while data streams (the last receive filled its
/// buffer).
const IO_BYTES: usize = 64 * 1024;
/// Bytes one receive takes otherwise: an idle connection waits with buffers of this size only
/// (a 4 KiB GET's response or a small request fits).
const IO_BYTES_IDLE: usize = 16 * 1024;
/// How long a pump whose server side closed keeps reading (and discarding) from the client.
const LINGER: Duration = Duration::from_secs(1);
/// Go's answer to plain HTTP on a TLS port (AIS serves HTTPS with Go's `net/http`).
const PLAIN_HTTP_REPLY: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 48\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

type RecvFut = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>)>>>;
type SendFut = Pin<Box<dyn Future<Output = (io::Result<()>, Vec<u8>)>>>;
type SleepFut = Pin<Box<dyn Future<Output = ()>>>;

/// The buffer for the next receive: `IO_BYTES` after a receive that filled its buffer,
/// `IO_BYTES_IDLE` otherwise; the kept one when it has that size.
fn rx_buffer(kept: Option<Vec<u8>>, streaming: bool) -> Vec<u8> {
    let want = if streaming { IO_BYTES } else { IO_BYTES_IDLE };
    match kept {
        Some(b) if b.capacity() == want => b,
        _ => Vec::with_capacity(want),
    }
}

fn recv_op(fd: &Fd, mut buf: Vec<u8>) -> RecvFut {
    let fd = fd.clone();
    buf.clear();
    Box::pin(async move { rio::recv(&fd, buf).await })
}

fn send_op(fd: &Fd, buf: Vec<u8>) -> SendFut {
    let fd = fd.clone();
    Box::pin(async move { rio::send_all(&fd, buf, 0).await })
}

/// Whether the first bytes of a connection are a plain HTTP request (Go's check: a TLS record
/// header that reads as the start of one of these methods).
fn looks_like_http(first: &[u8]) -> bool {
    const STARTS: [&[u8]; 5] = [b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO"];
    first.len() >= 5 && STARTS.iter().any(|s| &first[..5] == *s)
}

/// The state of one TLS connection's pump.
struct Pump {
    tls: ServerConnection,
    tcp: Fd,
    app: Fd,
    peer: String,

    /// Receive from the client (records) in flight, and the buffer kept for the next one.
    tcp_rx: Option<RecvFut>,
    tcp_rx_buf: Option<Vec<u8>>,
    /// The last receive from the client filled its buffer: the next one takes `IO_BYTES`.
    tcp_rx_streaming: bool,
    /// Plaintext decrypted and not yet handed to the server; the send in flight and the buffer
    /// kept for the next.
    to_app: Vec<u8>,
    app_tx: Option<SendFut>,
    app_tx_buf: Option<Vec<u8>>,
    /// Receive from the server (plaintext) in flight, and the buffer kept.
    app_rx: Option<RecvFut>,
    app_rx_buf: Option<Vec<u8>>,
    app_rx_streaming: bool,
    /// Records not yet sent to the client; the send in flight and the buffer kept.
    to_tcp: Vec<u8>,
    tcp_tx: Option<SendFut>,
    tcp_tx_buf: Option<Vec<u8>>,
    linger: Option<SleepFut>,

    /// Any byte received from the client yet (the plain-HTTP check looks at the first ones).
    started: bool,
    /// The client will send nothing more (EOF, `close_notify`).
    tcp_eof: bool,
    /// The TCP connection failed (reset, error): nothing more can be done on it.
    tcp_dead: bool,
    /// The pair's write side towards the server was shut (after `tcp_eof`).
    app_shut: bool,
    /// The server will send nothing more.
    app_eof: bool,
    /// The server no longer takes bytes (its end closed): client data is discarded.
    app_gone: bool,
    /// The handshake or a record failed (or plain HTTP came in): after the alert (or answer)
    /// is sent the connection closes.
    failed: bool,
    /// `close_notify` queued.
    close_sent: bool,
    /// TCP write side shut; lingering until the client closes or `linger` fires.
    closing: bool,
    linger_done: bool,
}

impl Pump {
    /// Runs the pump until both sides are finished (or the TCP side failed).
    async fn run(mut self) {
        std::future::poll_fn(|cx| self.poll_step(cx)).await;
    }

    fn finished(&self) -> bool {
        if self.tcp_dead {
            return true;
        }
        self.closing && (self.tcp_eof || self.linger_done)
    }

    /// Starts whatever op the state allows and is not running yet.
    fn start_ops(&mut self) {
        // The server is done (or the connection failed): `close_notify` (sent just below),
        // then a half-close once everything is out.
        if (self.app_eof || self.failed) && !self.close_sent {
            if !self.failed {
                self.tls.send_close_notify();
            }
            self.close_sent = true;
        }
        // Records for the client: everything rustls has queued, one send at a time.
        if self.tcp_tx.is_none() && !self.tcp_dead {
            if !self.failed || self.to_tcp.is_empty() {
                while self.tls.wants_write() {
                    if self.tls.write_tls(&mut self.to_tcp).is_err() {
                        break;
                    }
                }
            }
            if !self.to_tcp.is_empty() {
                let mut buf = self.tcp_tx_buf.take().unwrap_or_default();
                buf.clear();
                std::mem::swap(&mut buf, &mut self.to_tcp);
                self.tcp_tx = Some(send_op(&self.tcp, buf));
            }
        }
        // Plaintext for the server.
        if self.app_tx.is_none() && !self.to_app.is_empty() {
            if self.app_gone {
                self.to_app.clear();
            } else {
                let mut buf = self.app_tx_buf.take().unwrap_or_default();
                buf.clear();
                std::mem::swap(&mut buf, &mut self.to_app);
                self.app_tx = Some(send_op(&self.app, buf));
            }
        }
        // The client is done: the server reads an EOF once it has everything.
        if self.tcp_eof && !self.app_shut && self.to_app.is_empty() && self.app_tx.is_none() {
            sys::shutdown_write(&self.app);
            self.app_shut = true;
        }
        if self.close_sent
            && !self.closing
            && self.tcp_tx.is_none()
            && self.to_tcp.is_empty()
            && !self.tls.wants_write()
        {
            sys::shutdown_write(&self.tcp);
            self.closing = true;
            if self.failed {
                // The server end is not needed any more: it sees EOF and closes.
                sys::shutdown_write(&self.app);
                self.app_shut = true;
                self.app_gone = true;
            }
            self.linger = Some(Box::pin(rio::sleep(LINGER)));
        }
        // Receive from the client once what the last receive produced went to the server.
        if self.tcp_rx.is_none()
            && !self.tcp_eof
            && !self.tcp_dead
            && self.to_app.is_empty()
            && self.app_tx.is_none()
            && (self.tcp_tx.is_none() || !self.tls.is_handshaking())
        {
            let buf = rx_buffer(self.tcp_rx_buf.take(), self.tcp_rx_streaming);
            self.tcp_rx = Some(recv_op(&self.tcp, buf));
        }
        // Receive from the server once the records of the last receive went to the client.
        if self.app_rx.is_none()
            && !self.app_eof
            && !self.failed
            && !self.tcp_dead
            && self.tcp_tx.is_none()
            && self.to_tcp.is_empty()
        {
            let buf = rx_buffer(self.app_rx_buf.take(), self.app_rx_streaming);
            self.app_rx = Some(recv_op(&self.app, buf));
        }
    }

    /// Feeds received records to rustls and collects the plaintext they carry.
    fn on_records(&mut self, data: &[u8]) {
        if !self.started {
            self.started = true;
            if looks_like_http(data) {
                tracing::debug!(peer = %self.peer, "plain HTTP on the TLS port: answered 400");
                self.to_tcp.extend_from_slice(PLAIN_HTTP_REPLY);
                self.failed = true;
                return;
            }
        }
        let mut input = data;
        while !input.is_empty() {
            if let Err(e) = self.tls.read_tls(&mut input) {
                tracing::debug!(peer = %self.peer, "TLS: {e}");
                self.failed = true;
                return;
            }
            if let Err(e) = self.tls.process_new_packets() {
                tracing::debug!(peer = %self.peer, "TLS: {e}");
                self.failed = true;
                return;
            }
            let mut chunk = [0u8; 16 * 1024];
            loop {
                match self.tls.reader().read(&mut chunk) {
                    Ok(0) => {
                        // close_notify: the client sends nothing more.
                        self.tcp_eof = true;
                        break;
                    }
                    Ok(n) => self.to_app.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        self.tcp_eof = true;
                        break;
                    }
                }
            }
        }
    }

    /// One turn: polls every op in flight, handles what completed, starts what may start;
    /// `Ready` once the connection is finished.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.finished() {
                return Poll::Ready(());
            }
            self.start_ops();
            let mut progress = false;

            if let Some(f) = self.tcp_rx.as_mut() {
                if let Poll::Ready((r, buf)) = f.as_mut().poll(cx) {
                    self.tcp_rx = None;
                    progress = true;
                    self.tcp_rx_streaming = r.as_ref().is_ok_and(|n| *n == buf.capacity());
                    match r {
                        Ok(0) => self.tcp_eof = true,
                        Ok(_) if self.closing || self.failed => {} // lingering: discarded
                        Ok(_) => self.on_records(&buf),
                        Err(_) => self.tcp_dead = true,
                    }
                    self.tcp_rx_buf = Some(buf);
                }
            }
            if let Some(f) = self.app_tx.as_mut() {
                if let Poll::Ready((r, buf)) = f.as_mut().poll(cx) {
                    self.app_tx = None;
                    progress = true;
                    if r.is_err() {
                        self.app_gone = true;
                    }
                    self.app_tx_buf = Some(buf);
                }
            }
            if let Some(f) = self.app_rx.as_mut() {
                if let Poll::Ready((r, buf)) = f.as_mut().poll(cx) {
                    self.app_rx = None;
                    progress = true;
                    self.app_rx_streaming = r.as_ref().is_ok_and(|n| *n == buf.capacity());
                    match r {
                        Ok(n) if n > 0 => {
                            if let Err(e) = self.tls.writer().write_all(&buf) {
                                tracing::debug!(peer = %self.peer, "TLS write: {e}");
                                self.failed = true;
                            }
                        }
                        _ => self.app_eof = true,
                    }
                    self.app_rx_buf = Some(buf);
                }
            }
            if let Some(f) = self.tcp_tx.as_mut() {
                if let Poll::Ready((r, buf)) = f.as_mut().poll(cx) {
                    self.tcp_tx = None;
                    progress = true;
                    if r.is_err() {
                        self.tcp_dead = true;
                    }
                    self.tcp_tx_buf = Some(buf);
                }
            }
            if let Some(f) = self.linger.as_mut() {
                if f.as_mut().poll(cx).is_ready() {
                    self.linger = None;
                    self.linger_done = true;
                    progress = true;
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }
}

/// Runs one TLS connection's pump: `tcp` is the client's socket, `app` this side of the pair
/// whose other end the core serves. Ends when both sides are finished; dropping it (core
/// shutdown) closes both.
pub async fn run(tcp: Fd, app: Fd, mut tls: ServerConnection, peer: String) {
    // Buffering is bounded by the pump (one receive's worth per direction), so rustls never
    // needs to refuse a write.
    tls.set_buffer_limit(None);
    Pump {
        tls,
        tcp,
        app,
        peer,
        tcp_rx: None,
        tcp_rx_buf: None,
        tcp_rx_streaming: false,
        to_app: Vec::new(),
        app_tx: None,
        app_tx_buf: None,
        app_rx: None,
        app_rx_buf: None,
        app_rx_streaming: false,
        to_tcp: Vec::new(),
        tcp_tx: None,
        tcp_tx_buf: None,
        linger: None,
        started: false,
        tcp_eof: false,
        tcp_dead: false,
        app_shut: false,
        app_eof: false,
        app_gone: false,
        failed: false,
        close_sent: false,
        closing: false,
        linger_done: false,
    }
    .run()
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_starts_are_recognised() {
        assert!(looks_like_http(b"GET /v1/health HTTP/1.1\r\n"));
        assert!(looks_like_http(b"PUT /v1/objects/b/o HTTP/1.1\r\n"));
        assert!(looks_like_http(b"HEAD /x"));
        // A TLS handshake record: content type 22, version 3.x.
        assert!(!looks_like_http(&[22, 3, 1, 0, 200, 1, 0]));
        assert!(!looks_like_http(b"GET"));
    }

    #[test]
    fn plain_http_reply_length_matches_its_body() {
        let text = std::str::from_utf8(PLAIN_HTTP_REPLY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}
