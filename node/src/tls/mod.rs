//! HTTPS on the public listener: the server configuration (rustls, ring), the certificate that
//! can be swapped while the node runs, and its reloads (AIS `load-x509`, SIGHUP, file change).
//!
//! A TLS connection is terminated by `pump` on the core that accepted it; the core serves the
//! plaintext as an ordinary connection (see `pump.rs`).
//!
//! Invariants:
//! - A handshake takes the certificate current at that moment; connections already set up keep
//!   the session they have (a reload never touches them).
//! - A reload that fails (unreadable file, bad PEM, key not matching the certificate) keeps the
//!   certificate in use and reports why.

pub mod pump;

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

/// What identifies one version of a file for the change check: modification time and size.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let md = std::fs::metadata(path).ok()?;
    Some((md.modified().ok()?, md.len()))
}

/// The certificate handshakes use now; replaced whole by a reload.
pub struct CertCell {
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for CertCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertCell")
    }
}

impl ResolvesServerCert for CertCell {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// The node's TLS state: its server configuration and the files the certificate comes from.
pub struct Tls {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    cell: Arc<CertCell>,
    /// Shared by every connection (session cache, ticketer, the certificate resolver).
    pub config: Arc<ServerConfig>,
    /// The files' stamps when last loaded (or tried), for the change check; a reload is
    /// serialised by this lock.
    seen: Mutex<(Stamp, Stamp)>,
}

/// Reads and checks a certificate chain and its key: both parse, the chain is not empty, the
/// leaf certificate parses and the key is the one its public key belongs to.
fn load_pair(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let cert_path = files.cert.display();
    let key_path = files.key.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("TLS certificate {cert_path}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("TLS certificate {cert_path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "TLS certificate {cert_path}: no CERTIFICATE block found"
        ));
    }
    let key =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| format!("TLS key {key_path}: {e}"))?;
    let ck = CertifiedKey::from_der(certs, key, provider)
        .map_err(|e| format!("TLS certificate {cert_path} with key {key_path}: {e}"))?;
    // `from_der` lets a key whose public half it cannot tell pass; a certificate that does not
    // parse must not.
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => {
            return Err(format!(
                "TLS certificate {cert_path} with key {key_path}: {e}"
            ))
        }
    }
    Ok(ck)
}

impl Tls {
    /// Loads the certificate and key and builds the server configuration (TLS 1.2 and 1.3,
    /// ALPN `http/1.1`, no client certificates).
    pub fn new(files: TlsFiles) -> Result<Tls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let seen = (stamp(&files.cert), stamp(&files.key));
        let ck = load_pair(&files, &provider)?;
        let cell = Arc::new(CertCell {
            current: RwLock::new(Arc::new(ck)),
        });
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(cell.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            files,
            provider,
            cell,
            config: Arc::new(config),
            seen: Mutex::new(seen),
        })
    }

    /// Loads the files again and, if they are good, makes them the certificate new handshakes
    /// use. A bad pair keeps the current one and is returned as the error (and logged).
    pub fn reload(&self, why: &str) -> Result<(), String> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        *seen = (stamp(&self.files.cert), stamp(&self.files.key));
        match load_pair(&self.files, &self.provider) {
            Ok(ck) => {
                *self.cell.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ck);
                tracing::info!(cert = %self.files.cert.display(), why, "TLS certificate reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::error!(
                    why,
                    "TLS certificate not reloaded, the current one stays: {e}"
                );
                Err(e)
            }
        }
    }

    /// Reloads when either file changed (mtime or size) since it was last loaded or tried;
    /// `None` when nothing changed.
    pub fn reload_if_changed(&self) -> Option<Result<(), String>> {
        let now = (stamp(&self.files.cert), stamp(&self.files.key));
        if *self.seen.lock().unwrap_or_else(|e| e.into_inner()) == now {
            return None;
        }
        Some(self.reload("certificate or key file changed"))
    }

    /// Starts the thread that checks the files every `interval` (none if zero).
    pub fn start_watcher(self: &Arc<Self>, interval: Duration) {
        if interval.is_zero() {
            return;
        }
        let me = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("aisle-tls-watch".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                match me.upgrade() {
                    Some(tls) => {
                        let _ = tls.reload_if_changed();
                    }
                    None => return,
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the TLS file watcher (reload by API or SIGHUP): {e}");
        }
    }
}
