//! HTTPS on the public listener against a running node: byte-exact PUT/GET of small and large
//! objects (the large ones through the sendfile and splice body paths), keep-alive, plain HTTP
//! and garbage on the TLS port, stalled handshakes, and certificate reload (AIS `load-x509`,
//! SIGHUP, file change, a bad pair keeping the old certificate). Certificates are made at test
//! time with `openssl` (a test CA and leaves it signs).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{read_response, Node, Resp};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A test CA, and leaves it signs, in one folder.
struct Pki {
    dir: PathBuf,
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed for the TLS tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = common::tempdir(tag);
        let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=aisle-test-ca",
        ]);
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        Pki { dir }
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }

    /// Makes leaf `name` (its CN, and `serial`): `<name>.pem` and `<name>.key`.
    fn leaf(&self, name: &str, serial: u32) -> (PathBuf, PathBuf) {
        let p = |f: String| self.dir.join(f).to_str().unwrap().to_string();
        let (key, csr, pem) = (
            p(format!("{name}.key")),
            p(format!("{name}.csr")),
            p(format!("{name}.pem")),
        );
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &p("ca.pem".into()),
            "-CAkey",
            &p("ca.key".into()),
            "-set_serial",
            &serial.to_string(),
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            &p("leaf.ext".into()),
        ]);
        (PathBuf::from(pem), PathBuf::from(key))
    }

    fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(self.path("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        // Every connection does a full handshake, so it sees the certificate in use (a resumed
        // session reports the one it was made with).
        let mut cfg = cfg;
        cfg.resumption = rustls::client::Resumption::disabled();
        Arc::new(cfg)
    }
}

/// The DER of the (first) certificate in a PEM file.
fn der_of(pem: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(pem)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .as_ref()
        .to_vec()
}

/// Copies `from` over `to` the way certificate managers do: a new file renamed into place.
fn replace_file(from: &Path, to: &Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

/// A node serving HTTPS with the certificate and key at `cert`, `key` (the files it watches).
struct TlsNode {
    node: Node,
    client: Arc<ClientConfig>,
}

impl TlsNode {
    fn start(pki: &Pki, cert: &Path, key: &Path, extra: &[&str]) -> TlsNode {
        let dir = common::tempdir("tls-node");
        let mp = dir.join("mp1");
        std::fs::create_dir_all(&mp).unwrap();
        let mut args = vec![
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let node = Node::spawn_with_env(dir, vec![mp], common::free_port(), &args, &[]);
        let n = TlsNode {
            node,
            client: pki.client_config(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = n.try_connect() {
                if let Ok(r) = request(&mut s, "GET", "/v1/health", &[], b"") {
                    if r.status == 200 {
                        return n;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "HTTPS node not ready; log:\n{}",
                n.node.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn try_connect(&self) -> std::io::Result<Tls> {
        tls_connect(self.node.port, &self.client)
    }

    fn connect(&self) -> Tls {
        self.try_connect()
            .unwrap_or_else(|e| panic!("TLS connect: {e}; log:\n{}", self.node.log_text()))
    }

    /// One request on a new TLS connection.
    fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut s = self.connect();
        request(&mut s, method, path, headers, body).unwrap()
    }
}

/// A TLS connection to the node on `port`, its handshake done (so the peer certificate is
/// known).
fn tls_connect(port: u16, client: &Arc<ClientConfig>) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = ClientConnection::new(client.clone(), name).map_err(std::io::Error::other)?;
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// The certificate the server presented on `s`.
fn server_cert(s: &Tls) -> Vec<u8> {
    s.conn.peer_certificates().unwrap()[0].as_ref().to_vec()
}

/// Sends one keep-alive request on `s` and reads its response.
fn request(
    s: &mut Tls,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut all = head.into_bytes();
    all.extend_from_slice(body);
    s.write_all(&all)?;
    s.flush()?;
    let mut buf = Vec::new();
    let r = read_response(s, &mut buf, method == "HEAD")?;
    assert!(buf.is_empty(), "bytes after the response: {buf:?}");
    Ok(r)
}

fn create_bucket(s: &mut Tls, b: &str) {
    let r = request(
        s,
        "POST",
        &format!("/v1/buckets/{b}"),
        &[("Content-Type", "application/json")],
        br#"{"action":"create-bck"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200, "create bucket: {}", r.text());
}

fn metric(n: &TlsNode, name: &str) -> u64 {
    let r = n.req("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    let prefix = format!("{name}{{");
    r.text()
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn https_put_get_small_and_large_byte_exact_through_each_body_path() {
    let pki = Pki::new("tls-rt");
    let (cert, key) = pki.leaf("leaf1", 1001);
    // `auto` (small bodies copied, cached large ones by sendfile) and forced splice: both
    // write the body into the socket pair the TLS pump reads.
    for policy in ["auto", "splice"] {
        let n = TlsNode::start(&pki, &cert, &key, &["--get-body", policy]);
        let mut s = n.connect();
        create_bucket(&mut s, "b");
        let small = common::bytes(1, 4096);
        let large = common::bytes(2, 8 << 20);
        for (name, data) in [("small", &small), ("large", &large)] {
            let r = request(&mut s, "PUT", &format!("/v1/objects/b/{name}"), &[], data).unwrap();
            assert_eq!(r.status, 200, "PUT {name}: {}", r.text());
        }
        for (name, data) in [("small", &small), ("large", &large)] {
            // Once on the keep-alive connection, once on a new one.
            let r = request(&mut s, "GET", &format!("/v1/objects/b/{name}"), &[], b"").unwrap();
            assert_eq!(r.status, 200, "{policy}: GET {name}");
            assert!(r.body == *data, "{policy}: GET {name} differs");
            let r = n.req("GET", &format!("/v1/objects/b/{name}"), &[], b"");
            assert!(
                r.body == *data,
                "{policy}: GET {name} (new connection) differs"
            );
        }
        // A range in the middle of the large object.
        let r = request(
            &mut s,
            "GET",
            "/v1/objects/b/large",
            &[("Range", "bytes=1000000-3000000")],
            b"",
        )
        .unwrap();
        assert_eq!(r.status, 206);
        assert!(r.body == large[1_000_000..=3_000_000]);
        let zero_copy = metric(&n, "aisle_core_body_sendfile_count")
            + metric(&n, "aisle_core_body_splice_count");
        assert!(
            zero_copy >= 3,
            "{policy}: large GETs went through sendfile/splice"
        );
        if policy == "splice" {
            assert!(metric(&n, "aisle_core_body_splice_count") >= 3);
        }
    }
}

#[test]
fn keep_alive_carries_many_requests_on_one_tls_connection() {
    let pki = Pki::new("tls-ka");
    let (cert, key) = pki.leaf("leaf1", 1001);
    let n = TlsNode::start(&pki, &cert, &key, &[]);
    let accepted_before = metric(&n, "aisle_core_conns_accepted_count");
    let mut s = n.connect();
    create_bucket(&mut s, "ka");
    for i in 0..20u64 {
        let data = common::bytes(100 + i, 1000 + 3000 * i as usize);
        let path = format!("/v1/objects/ka/o{i}");
        assert_eq!(
            request(&mut s, "PUT", &path, &[], &data).unwrap().status,
            200
        );
        let h = request(&mut s, "HEAD", &path, &[], b"").unwrap();
        assert_eq!(h.status, 200);
        let g = request(&mut s, "GET", &path, &[], b"").unwrap();
        assert!(g.body == data, "object {i} differs");
    }
    // One connection for all of them (plus the one that reads the metrics).
    let accepted = metric(&n, "aisle_core_conns_accepted_count") - accepted_before;
    assert_eq!(accepted, 2, "61 requests on one TLS connection");
    // The client ends the session: close_notify, and the node closes its side too.
    s.conn.send_close_notify();
    s.conn.complete_io(&mut s.sock).unwrap();
    let mut rest = Vec::new();
    let _ = s.sock.read_to_end(&mut rest);
}

#[test]
fn plain_http_and_garbage_on_the_tls_port_are_refused_and_the_node_keeps_serving() {
    let pki = Pki::new("tls-plain");
    let (cert, key) = pki.leaf("leaf1", 1001);
    let n = TlsNode::start(&pki, &cert, &key, &[]);
    // Plain HTTP: Go's (AIS's) answer, then the connection closes.
    let mut s = TcpStream::connect(("127.0.0.1", n.node.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.0 400 Bad Request\r\n"), "{text}");
    assert!(
        text.ends_with("Client sent an HTTP request to an HTTPS server.\n"),
        "{text}"
    );
    // Bytes that are neither: a TLS alert (record type 21) or a plain close, nothing else.
    let mut s = TcpStream::connect(("127.0.0.1", n.node.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03])
        .unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(got.is_empty() || got[0] == 21, "not an alert: {got:?}");
    // A client that does not trust the node's certificate fails its handshake; the node is fine.
    let other = Pki::new("tls-plain-other");
    assert!(
        tls_connect(n.node.port, &other.client_config()).is_err(),
        "an untrusted certificate was accepted"
    );
    // Served as before.
    assert_eq!(n.req("GET", "/v1/health", &[], b"").status, 200);
    let mut s = n.connect();
    create_bucket(&mut s, "still");
    assert_eq!(
        request(&mut s, "PUT", "/v1/objects/still/o", &[], b"x")
            .unwrap()
            .status,
        200
    );
}

#[test]
fn stalled_handshakes_do_not_block_others_and_are_closed_by_the_idle_timeout() {
    let pki = Pki::new("tls-stall");
    let (cert, key) = pki.leaf("leaf1", 1001);
    let n = TlsNode::start(&pki, &cert, &key, &["--idle-timeout-secs", "2"]);
    // Clients that connect and send nothing, or the first bytes of a ClientHello only.
    let mut stalled = Vec::new();
    for i in 0..40 {
        let mut s = TcpStream::connect(("127.0.0.1", n.node.port)).unwrap();
        if i % 2 == 1 {
            s.write_all(&[22, 3, 1, 0x02, 0x00, 1, 0, 1]).unwrap();
        }
        stalled.push(s);
    }
    // Everyone else is served meanwhile.
    let mut s = n.connect();
    create_bucket(&mut s, "busy");
    for i in 0..10 {
        let data = common::bytes(i, 64 * 1024);
        let path = format!("/v1/objects/busy/o{i}");
        assert_eq!(
            request(&mut s, "PUT", &path, &[], &data).unwrap().status,
            200
        );
        assert!(n.req("GET", &path, &[], b"").body == data);
    }
    // The stalled ones are closed by the node (idle timeout), not left open.
    for mut st in stalled {
        st.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut buf = [0u8; 64];
        match st.read(&mut buf) {
            Ok(0) => {}
            Ok(_) => {
                // An alert may come first; then the close.
                let mut rest = Vec::new();
                let _ = st.read_to_end(&mut rest);
            }
            Err(e) => assert!(
                e.kind() == std::io::ErrorKind::ConnectionReset,
                "a stalled handshake was not closed: {e}"
            ),
        }
    }
    assert_eq!(n.req("GET", "/v1/health", &[], b"").status, 200);
}

#[test]
fn reload_by_api_and_sighup_swaps_the_certificate_for_new_connections_only() {
    let pki = Pki::new("tls-reload");
    let (leaf1, key1) = pki.leaf("leaf1", 1001);
    let (leaf2, key2) = pki.leaf("leaf2", 1002);
    let (leaf3, key3) = pki.leaf("leaf3", 1003);
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    replace_file(&leaf1, &cert);
    replace_file(&key1, &key);
    let n = TlsNode::start(&pki, &cert, &key, &["--tls-check-interval", "0"]);
    let mut old = n.connect();
    assert_eq!(server_cert(&old), der_of(&leaf1));
    create_bucket(&mut old, "r");
    assert_eq!(
        request(&mut old, "PUT", "/v1/objects/r/o", &[], b"v1")
            .unwrap()
            .status,
        200
    );

    // New files, then the AIS API (node path).
    replace_file(&leaf2, &cert);
    replace_file(&key2, &key);
    assert_eq!(
        n.connect().conn.peer_certificates().unwrap()[0].as_ref(),
        der_of(&leaf1),
        "no reload without a trigger"
    );
    let r = n.req("PUT", "/v1/daemon/load-x509", &[], b"");
    assert_eq!(r.status, 200, "load-x509: {}", r.text());
    assert_eq!(server_cert(&n.connect()), der_of(&leaf2));
    // The connection made before keeps working, on the session it has.
    let g = request(&mut old, "GET", "/v1/objects/r/o", &[], b"").unwrap();
    assert_eq!((g.status, g.body.as_slice()), (200, &b"v1"[..]));
    assert_eq!(server_cert(&old), der_of(&leaf1));

    // A bad pair: the leaf's certificate with another leaf's key, then garbage; the current
    // certificate stays and the error names the problem.
    replace_file(&leaf3, &cert); // key is still key2: mismatch
    let r = n.req("PUT", "/v1/daemon/load-x509", &[], b"");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("server.pem"), "{}", r.text());
    assert_eq!(server_cert(&n.connect()), der_of(&leaf2));
    std::fs::write(
        &cert,
        b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let r = n.req("PUT", "/v1/cluster/load-x509", &[], b"");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(server_cert(&n.connect()), der_of(&leaf2));
    std::fs::write(&cert, b"").unwrap();
    assert_eq!(n.req("PUT", "/v1/daemon/load-x509", &[], b"").status, 400);
    assert_eq!(server_cert(&n.connect()), der_of(&leaf2));

    // SIGHUP reloads the good pair.
    replace_file(&leaf3, &cert);
    replace_file(&key3, &key);
    let pid = n.node.child.as_ref().unwrap().id();
    let st = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -HUP {pid}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while server_cert(&n.connect()) != der_of(&leaf3) {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload; log:\n{}",
            n.node.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The cluster path naming this node reloads too; another node id is 404.
    let smap = n.req("GET", "/v1/daemon?what=snode", &[], b"").json();
    let id = smap["daemon_id"].as_str().unwrap().to_string();
    assert_eq!(
        n.req("PUT", &format!("/v1/cluster/load-x509/{id}"), &[], b"")
            .status,
        200
    );
    assert_eq!(
        n.req("PUT", "/v1/cluster/load-x509/nosuchnode", &[], b"")
            .status,
        404
    );
    assert_eq!(n.req("GET", "/v1/daemon/load-x509", &[], b"").status, 405);
    let g = request(&mut old, "GET", "/v1/objects/r/o", &[], b"").unwrap();
    assert_eq!(g.status, 200, "the first connection still works");
}

#[test]
fn a_changed_file_is_reloaded_and_a_bad_one_keeps_the_old_certificate() {
    let pki = Pki::new("tls-watch");
    let (leaf1, key1) = pki.leaf("leaf1", 2001);
    let (leaf2, key2) = pki.leaf("leaf2", 2002);
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    replace_file(&leaf1, &cert);
    replace_file(&key1, &key);
    let n = TlsNode::start(&pki, &cert, &key, &["--tls-check-interval", "1s"]);
    assert_eq!(server_cert(&n.connect()), der_of(&leaf1));
    // A broken certificate file: logged, the old certificate stays.
    std::fs::write(&cert, b"garbage").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !n.node.log_text().contains("TLS certificate not reloaded") {
        assert!(
            Instant::now() < deadline,
            "bad file not noticed; log:\n{}",
            n.node.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server_cert(&n.connect()), der_of(&leaf1));
    // Good files: picked up without any request.
    replace_file(&key2, &key);
    replace_file(&leaf2, &cert);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server_cert(&n.connect()) != der_of(&leaf2) {
        assert!(
            Instant::now() < deadline,
            "changed files not reloaded; log:\n{}",
            n.node.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn load_x509_on_a_plain_http_node_is_refused_as_ais_does() {
    let n = Node::start(1);
    let r = n.req("PUT", "/v1/daemon/load-x509", &[], b"");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("no TLS certificate loaders configured"));
    let r = n.req("PUT", "/v1/cluster/load-x509", &[], b"");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("running plain HTTP"));
}

#[test]
fn an_https_upload_sent_head_first_is_redirected_to_this_node_as_an_ais_proxy_does() {
    // Goal: the AIS Python SDK's two-leg HTTPS upload works. Its first leg is the head alone
    // (`Content-Length: N`, no body, `Connection: close`) and waits for the proxy's 307; the
    // node answers as an AIS proxy would (307 to itself with AIS's `pid`/`utm` marker) instead
    // of waiting for a body that never comes, stores nothing for it, and serves the second leg
    // (with the marker) as an ordinary PUT. An ordinary upload that closes its connection is
    // not redirected.
    let pki = Pki::new("tls-redir");
    let (cert, key) = pki.leaf("leaf1", 1001);
    let n = TlsNode::start(&pki, &cert, &key, &[]);
    let mut s = n.connect();
    create_bucket(&mut s, "b");
    let data = common::bytes(9, 300_000);

    // First leg: the head alone.
    let mut s = n.connect();
    let head = format!(
        "PUT /v1/objects/b/two-legs HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n",
        n.node.port,
        data.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.flush().unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 307, "first leg: {}", r.text());
    let loc = r.header("location").expect("Location").to_string();
    let prefix = format!(
        "https://127.0.0.1:{}/v1/objects/b/two-legs?pid=",
        n.node.port
    );
    assert!(loc.starts_with(&prefix), "Location {loc}");
    assert!(loc.contains("&utm="), "Location {loc}");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest); // closed by the node (a TLS close or a plain EOF)
    assert!(rest.is_empty(), "bytes after the 307: {rest:?}");
    let r = n.req("GET", "/v1/objects/b/two-legs", &[], b"");
    assert_eq!(r.status, 404, "the first leg stored nothing");

    // Second leg: the whole request, to the Location.
    let target = &loc[loc.find("/v1/").unwrap()..];
    let r = n.req("PUT", target, &[("Connection", "close")], &data);
    assert_eq!(r.status, 200, "second leg: {}", r.text());
    let r = n.req("GET", "/v1/objects/b/two-legs", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body == data, "read back differs");

    // An ordinary upload over HTTPS that closes its connection: body right behind the head.
    let r = n.req(
        "PUT",
        "/v1/objects/b/one-leg",
        &[("Connection", "close")],
        &data,
    );
    assert_eq!(r.status, 200, "ordinary upload: {}", r.text());
    let r = n.req("GET", "/v1/objects/b/one-leg", &[], b"");
    assert!(r.status == 200 && r.body == data);
}
