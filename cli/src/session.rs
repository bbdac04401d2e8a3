//! Sending requests to an AIS endpoint: one keep-alive [`Client`] per host, redirects followed
//! (an AIS proxy answers object requests with 301/307 to a target), request bodies replayed
//! across redirects, and non-2xx replies turned into [`HttpError`]s carrying AIS's message.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};

use anyhow::{bail, Context};
use net::client::{ais_error_message, parse_http_url, Body, Client, Response};

use crate::api::Request;

/// Most redirects followed for one request.
pub const REDIRECTS_MAX: usize = 5;
/// Most bytes of an error or redirect body read (the rest is dropped with the connection).
const ERROR_BODY_BYTES_MAX: u64 = 64 * 1024;

/// A non-2xx reply. Displays as `<status> <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// HTTP status.
    pub status: u16,
    /// AIS's error message, or the best text available.
    pub message: String,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

/// A seekable source of request bytes (a file, or one part of it).
pub trait ReadSeek: Read + Seek {}

impl<T: Read + Seek> ReadSeek for T {}

/// The data sent with a request, beyond a JSON action message.
pub enum Payload<'a> {
    /// No data (the request's JSON body, if any, is sent).
    None,
    /// A file (or part of one) from its current position, this many bytes; seekable, so
    /// always replayable.
    File(&'a mut dyn ReadSeek, u64),
    /// A stream of unknown length, sent chunked; replayable only if not yet read from.
    Stream(&'a mut dyn Read),
}

/// Connections to the endpoint and to any hosts it redirects to.
pub struct Session {
    main: Client,
    redirected: HashMap<String, Client>,
}

impl Session {
    /// A session for `endpoint` (`http://host:port` or `host:port`). Connects lazily.
    pub fn new(endpoint: &str) -> anyhow::Result<Session> {
        let main = Client::new(endpoint).with_context(|| format!("endpoint {endpoint:?}"))?;
        Ok(Session {
            main,
            redirected: HashMap::new(),
        })
    }

    /// A new session to the same endpoint with its own connections (for another thread).
    pub fn fork(&self) -> anyhow::Result<Session> {
        Session::new(self.main.endpoint())
    }

    /// Sends `req`, following redirects, and returns the response if its status is 2xx;
    /// otherwise an [`HttpError`].
    pub fn send(&mut self, req: &Request, payload: Payload) -> anyhow::Result<Response> {
        check(self.send_follow(req, payload)?)
    }

    fn send_follow(&mut self, req: &Request, mut payload: Payload) -> anyhow::Result<Response> {
        let headers: Vec<(&str, &str)> =
            req.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let file_start = match &mut payload {
            Payload::File(f, _) => Some(f.stream_position().context("file position")?),
            _ => None,
        };
        let mut host: Option<String> = None;
        let mut path = req.path.clone();
        for _ in 0..=REDIRECTS_MAX {
            let client = match &host {
                None => &mut self.main,
                Some(h) => match self.redirected.entry(h.clone()) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(Client::new(h)?),
                },
            };
            let mut stream_bytes = 0u64;
            let resp = match &mut payload {
                Payload::None => {
                    let body = req
                        .json
                        .as_deref()
                        .map_or(Body::Empty, |j| Body::Bytes(j.as_bytes()));
                    client.request(req.method, &path, &headers, body)
                }
                Payload::File(f, len) => {
                    client.request(req.method, &path, &headers, Body::Reader(&mut **f, *len))
                }
                Payload::Stream(r) => {
                    let mut counting = CountingReader {
                        inner: &mut **r,
                        bytes: &mut stream_bytes,
                    };
                    client.request(req.method, &path, &headers, Body::Chunked(&mut counting))
                }
            }
            .with_context(|| {
                format!("{} {}", req.method, endpoint_url(client.endpoint(), &path))
            })?;
            if !matches!(resp.status, 301 | 302 | 307 | 308) {
                return Ok(resp);
            }
            let Some(location) = resp.header("location").map(str::to_owned) else {
                return Ok(resp);
            };
            drain(resp);
            match &mut payload {
                Payload::File(f, _) => {
                    let start = file_start.unwrap_or(0);
                    f.seek(SeekFrom::Start(start))
                        .context("rewind the file for the redirect")?;
                }
                Payload::Stream(_) if stream_bytes > 0 => {
                    bail!("redirected to {location} after the body was sent; a stream cannot be replayed")
                }
                _ => {}
            }
            if location.starts_with('/') {
                path = location;
            } else {
                let url = parse_http_url(&location)
                    .with_context(|| format!("redirect to {location:?}"))?;
                host = (url.host_port != self.main.endpoint()).then_some(url.host_port);
                path = url.path_and_query;
            }
        }
        bail!(
            "{} {}: more than {REDIRECTS_MAX} redirects",
            req.method,
            req.path
        )
    }
}

fn endpoint_url(host_port: &str, path: &str) -> String {
    format!("http://{host_port}{path}")
}

/// Counts the bytes read through it, to know whether a stream was touched.
struct CountingReader<'a> {
    inner: &'a mut dyn Read,
    bytes: &'a mut u64,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.bytes += n as u64;
        Ok(n)
    }
}

/// Reads and drops a small body so the connection can be reused; large ones just close it.
pub fn drain(resp: Response) {
    // An error only costs the connection, which the client replaces.
    let _ = io::copy(&mut resp.take(ERROR_BODY_BYTES_MAX), &mut io::sink());
}

/// Passes 2xx responses through and turns the rest into [`HttpError`].
pub fn check(resp: Response) -> anyhow::Result<Response> {
    if resp.is_success() {
        return Ok(resp);
    }
    let status = resp.status;
    let hdr_error = resp.header("hdr-error").map(str::to_owned);
    let mut body = Vec::new();
    // The message is best effort; a body that fails to arrive leaves the other sources.
    let _ = resp.take(ERROR_BODY_BYTES_MAX).read_to_end(&mut body);
    let message = error_message(status, &body, hdr_error.as_deref());
    Err(HttpError { status, message }.into())
}

/// AIS's JSON `message` from the body or the `Hdr-Error` header (used for HEAD), else the
/// body as text, else the reason phrase.
pub fn error_message(status: u16, body: &[u8], hdr_error: Option<&str>) -> String {
    if let Some(m) = ais_error_message(body) {
        return m;
    }
    if let Some(h) = hdr_error.map(str::trim).filter(|h| !h.is_empty()) {
        return ais_error_message(h.as_bytes()).unwrap_or_else(|| h.to_owned());
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if !text.is_empty() {
        return text.chars().take(500).collect();
    }
    net::response::reason(status).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        // Goal: the message source order is JSON body, Hdr-Error, text body, reason phrase.
        let json = br#"{"message":"ais://b/o does not exist","status":404}"#;
        assert_eq!(error_message(404, json, None), "ais://b/o does not exist");
        let hdr = r#"{"message":"from header","status":404}"#;
        assert_eq!(error_message(404, b"", Some(hdr)), "from header");
        assert_eq!(
            error_message(404, json, Some(hdr)),
            "ais://b/o does not exist"
        );
        assert_eq!(
            error_message(500, b"", Some("plain header")),
            "plain header"
        );
        assert_eq!(
            error_message(502, b"  upstream died\n", None),
            "upstream died"
        );
        assert_eq!(error_message(416, b"", None), "Range Not Satisfiable");
        let e = HttpError {
            status: 409,
            message: "bucket \"ais://b\" already exists".into(),
        };
        assert_eq!(e.to_string(), "409 bucket \"ais://b\" already exists");
    }
}
