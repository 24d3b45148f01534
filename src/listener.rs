//! The listener's TLS: which certificate it presents and how that certificate is kept fresh
//! (`serve --tls-cert/--tls-key`: reloaded on SIGHUP and when the files change;
//! `serve --tls-builtin`: issued by the built-in CA at start, renewed before it expires).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use certkeeper_core::Core;
use certkeeper_server::tls::{ServingCert, certified_key, load_pem_files, server_config};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::TlsMode;

/// How often the certificate files are looked at for changes.
const FILE_POLL: Duration = Duration::from_secs(5);

/// The TLS server configuration for `mode` (`None`: plain HTTP), with the task that keeps
/// its certificate fresh already running.
pub(crate) fn start(
    core: &Core,
    mode: &TlsMode,
    addr: SocketAddr,
) -> Result<Option<Arc<rustls::ServerConfig>>, Box<dyn std::error::Error>> {
    let serving = match mode {
        TlsMode::Off => {
            if !addr.ip().is_loopback() {
                tracing::warn!(
                    %addr,
                    "serving plain HTTP on a non-loopback address: API keys and private keys \
                     cross the network in clear; use --tls-builtin or --tls-cert/--tls-key, or \
                     put a TLS-terminating proxy in front"
                );
            }
            return Ok(None);
        }
        TlsMode::Files { cert, key } => {
            let serving = ServingCert::new(load_pem_files(cert, key)?);
            tokio::spawn(watch_files(serving.clone(), cert.clone(), key.clone()));
            serving
        }
        TlsMode::Builtin { names } => {
            let names = if names.is_empty() {
                default_names(addr)
            } else {
                names.clone()
            };
            let (first, renew_at) = issue(core, &names)?;
            let serving = ServingCert::new(first);
            tokio::spawn(renew_builtin(
                core.clone(),
                serving.clone(),
                names,
                renew_at,
            ));
            serving
        }
    };
    Ok(Some(server_config(serving)?))
}

/// `localhost` and the listen IP (both loopback families when listening on all addresses).
fn default_names(addr: SocketAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    if addr.ip().is_unspecified() {
        names.push("127.0.0.1".into());
        names.push("::1".into());
    } else {
        names.push(addr.ip().to_string());
    }
    names
}

fn issue(
    core: &Core,
    names: &[String],
) -> Result<(rustls::sign::CertifiedKey, time::OffsetDateTime), Box<dyn std::error::Error>> {
    let issued = core.issue_listener_certificate(names)?;
    let chain = issued.chain.into_iter().map(CertificateDer::from).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key_pkcs8.to_vec()));
    Ok((certified_key(chain, key)?, issued.renew_at))
}

/// Re-issues the built-in certificate at `renew_at`, again and again; a failure is retried
/// every minute while the current certificate is still valid.
async fn renew_builtin(
    core: Core,
    serving: Arc<ServingCert>,
    names: Vec<String>,
    mut renew_at: time::OffsetDateTime,
) {
    loop {
        let wait = (renew_at - core.now()).max(time::Duration::ZERO);
        tokio::time::sleep(Duration::from_secs(wait.whole_seconds().unsigned_abs())).await;
        match issue(&core, &names) {
            Ok((next, at)) => {
                serving.replace(next);
                renew_at = at;
                tracing::info!(next_renewal = %at, "renewed the listener's certificate");
            }
            Err(e) => {
                tracing::error!(error = %e, "renewing the listener's certificate failed; retrying in a minute");
                renew_at = core.now() + time::Duration::minutes(1);
            }
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reloads the files on SIGHUP or when either changes. A bad pair is logged and the
/// certificate in use is kept, so a half-written renewal cannot take the listener down.
async fn watch_files(serving: Arc<ServingCert>, cert: PathBuf, key: PathBuf) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = (modified(&cert), modified(&key));
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<()>();
        let forced = tokio::select! {
            () = signalled => true,
            () = tokio::time::sleep(FILE_POLL) => false,
        };
        let now = (modified(&cert), modified(&key));
        if !forced && now == seen {
            continue;
        }
        seen = now;
        match load_pem_files(&cert, &key) {
            Ok(next) => {
                serving.replace(next);
                tracing::info!(cert = %cert.display(), "reloaded the TLS certificate");
            }
            Err(e) => tracing::error!(
                error = %e,
                "the TLS certificate files did not load; still serving the previous certificate"
            ),
        }
    }
}
