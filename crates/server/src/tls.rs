//! HTTPS on certkeeper's own listener: rustls with a serving certificate that can be swapped
//! while connections are open (a reload from files, or a renewal by the built-in CA), and an
//! accept loop that handshakes each connection on its own task, so one slow client cannot
//! hold up the others.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::{AppState, router};

/// Why a serving certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{0} holds no certificate")]
    NoCertificate(String),
    #[error("the private key is not usable: {0}")]
    Key(String),
    #[error("the private key does not belong to the first certificate")]
    Mismatch,
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The certificate the listener presents: swapped whole, read on every handshake.
#[derive(Debug)]
pub struct ServingCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServingCert {
    pub fn new(first: CertifiedKey) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Arc::new(first)),
        })
    }

    /// Presents `next` from the next handshake on; open connections keep theirs.
    pub fn replace(&self, next: CertifiedKey) {
        match self.current.write() {
            Ok(mut slot) => *slot = Arc::new(next),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(next),
        }
    }

    fn get(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// A chain (leaf first) and its key, checked to belong together.
pub fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, TlsError> {
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| TlsError::Key(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch),
        // The key type cannot be compared (rustls cannot read its public half): let the
        // handshake be the judge rather than refuse a key that may well work.
        Err(_) => Ok(certified),
    }
}

/// Reads a PEM chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn load_pem_files(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| TlsError::Read {
            path: p.display().to_string(),
            reason: e.to_string(),
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Read {
            path: cert.display().to_string(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.display().to_string()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| TlsError::Key(format!("{}: {e}", key.display())))?;
    certified_key(chain, key)
}

/// rustls' server configuration over `cert`, offering HTTP/2 and HTTP/1.1.
pub fn server_config(cert: Arc<ServingCert>) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves HTTPS on `listener` until `shutdown` resolves, then lets open connections finish.
pub async fn serve_tls(
    listener: TcpListener,
    state: AppState,
    config: Arc<ServerConfig>,
    limits: crate::ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::listen::serve_connections(
        listener,
        router(state),
        Some(TlsAcceptor::from(config)),
        limits,
        shutdown,
    )
    .await
}
