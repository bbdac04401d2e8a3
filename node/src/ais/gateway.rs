//! The node as its own AIS proxy for HTTPS uploads. Over HTTPS the AIS Python SDK sends every
//! request that carries a body in two legs, as AIS's proxies expect: first the head alone to
//! the proxy (`Content-Length: N`, no body, `Connection: close`), whose 307 names the target;
//! then the whole request to that target (Python's `requests` cannot resend a body across a
//! TLS redirect). A node that waited for the first leg's body would wait for ever.
//!
//! Such a first leg gets what an AIS proxy answers: 307 to the same URL with AIS's redirect
//! marker added (`pid` = this node, `utm` = the time), the connection closed without reading a
//! body. The second leg carries the marker and is served as any PUT.
//!
//! Invariants:
//! - Only an object PUT over HTTPS that declares a body, asks to close the connection, has no
//!   `utm` marker and no `Expect: 100-continue`, and whose body has not begun to arrive
//!   `BODY_GRACE` after its head, is redirected. Plain HTTP is never redirected (its clients
//!   send the body at once; a redirect would make them send it twice).
//! - Nothing is stored for a redirected request: its body, if one was coming after all, is
//!   never read (the client is told where to send it again).

use std::time::Duration;

use engine::io::{self as rio, sys};
use net::head::Method;
use net::response;

use super::reply;
use super::Req;
use crate::http::Conn;

/// How long after its head a body must begin to arrive for the request to be an upload
/// rather than an SDK's proxy leg.
const BODY_GRACE: Duration = Duration::from_millis(50);

/// Whether `req` may be an AIS client's proxy leg (see the module doc), judged on its head.
fn may_be_proxy_leg(conn: &Conn, req: &Req<'_>) -> bool {
    let h = req.head;
    conn.core.node.tls.is_some()
        && h.method == Method::Put
        && h.path.starts_with("/v1/objects/")
        && !h.keep_alive
        && !h.chunked
        && !h.expect_continue
        && h.content_length.is_some_and(|n| n > 0)
        && req.q("utm").is_none()
        && !conn.has_buffered()
}

/// Answers an AIS client's proxy leg with a 307 to this node and returns `Some(false)` (the
/// connection is closed); `None`: not a proxy leg, serve the request.
pub async fn redirect_proxy_leg(conn: &mut Conn, req: &Req<'_>) -> Option<bool> {
    if !may_be_proxy_leg(conn, req) {
        return None;
    }
    rio::sleep(BODY_GRACE).await;
    if conn.has_buffered() || sys::readable_now(&conn.fd).unwrap_or(true) {
        return None; // a body (or the client's close) is coming: an ordinary upload
    }
    let head = req.head;
    let Some(host) = head.header_str("host").filter(|h| valid_host(h)) else {
        let msg = "an HTTPS upload sent as a head alone needs a Host header to be redirected";
        return Some(reply::error(conn, head, 400, msg, false).await);
    };
    let utm = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let sep = if head.query.is_empty() { "" } else { "&" };
    let location = format!(
        "https://{host}{}?{}{sep}pid={}&utm={utm}",
        head.path, head.query, conn.core.node.daemon_id
    );
    tracing::debug!(path = %head.path, %location, "HTTPS proxy leg redirected to this node");
    conn.outcome.status = 307;
    let mut buf = conn.take_wbuf();
    reply::start(&mut buf, 307, false, head.minor_version);
    response::header(&mut buf, "Location", location.as_bytes());
    response::header_u64(&mut buf, "Content-Length", 0);
    response::finish(&mut buf);
    let _ = conn.send_buf(buf, false).await;
    Some(false)
}

/// A Host header value safe to put in a Location: host name or address and an optional port,
/// nothing that could end the header or change the URL's shape.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::valid_host;

    #[test]
    fn host_values() {
        assert!(valid_host("127.0.0.1:8443"));
        assert!(valid_host("node-1.example"));
        assert!(valid_host("[::1]:8443"));
        assert!(!valid_host(""));
        assert!(!valid_host("a/b"));
        assert!(!valid_host("a\r\nSet-Cookie: x"));
        assert!(!valid_host("a@b"));
        assert!(!valid_host("a?b"));
    }
}
