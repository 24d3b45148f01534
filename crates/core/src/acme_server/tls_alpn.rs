//! tls-alpn-01 validation: a TLS connection to the name's address on
//! `serve --acme-tlsalpn01-port`, offering only ALPN `acme-tls/1` with the name as SNI. The
//! certificate the client presents is self-signed by design, so it is not verified as a
//! chain; the handshake's signature is, against the presented key (the peer holds it), and
//! `certkeeper_acme::tls_alpn` checks what it must contain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use certkeeper_acme::problem::ProblemType;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::Value;

use super::objects::Authorization;
use super::validation::problem;
use crate::Core;

/// A connection and handshake's limit.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts any certificate chain (the check is of its contents) but verifies the handshake
/// signatures with the presented key.
#[derive(Debug)]
struct ChallengeCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for ChallengeCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The same raw-key check as for TLS 1.3: ECDSA and RSA-PSS handshakes verify; a
        // TLS 1.2 peer signing with RSA PKCS#1 v1.5 is refused.
        self.verify_tls13_signature(message, cert, dss)
    }

    /// Against the presented key alone: webpki would refuse the certificate itself, whose
    /// acmeIdentifier extension is critical and unknown to it.
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, parsed) = X509Certificate::from_der(cert.as_ref()).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        let spki = rustls_pki_types::SubjectPublicKeyInfoDer::from(parsed.public_key().raw);
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &spki,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Core {
    pub(super) async fn check_tlsalpn01(
        &self,
        authz: &Authorization,
        key_authorization: &str,
    ) -> Result<(), Value> {
        let internal = |e: String| problem(ProblemType::ServerInternal, e);
        let name = &authz.identifier;
        let ip = self.address_of(name).await?;
        let addr = SocketAddr::new(ip, self.acme.config.tlsalpn01_port);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| internal(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChallengeCertificate(provider)))
            .with_no_client_auth();
        config.alpn_protocols = vec![certkeeper_acme::tls_alpn::ALPN.to_vec()];
        let server_name = ServerName::try_from(name.clone())
            .map_err(|e| problem(ProblemType::Malformed, format!("{name}: {e}")))?;
        let handshake = async {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(server_name, tcp)
                .await
        };
        let tls = tokio::time::timeout(TIMEOUT, handshake)
            .await
            .map_err(|_| {
                problem(
                    ProblemType::Connection,
                    format!("the TLS handshake with {addr} timed out"),
                )
            })?
            .map_err(|e| {
                problem(
                    ProblemType::Connection,
                    format!("TLS with {addr} (ALPN acme-tls/1) failed: {e}"),
                )
            })?;
        let (_, session) = tls.get_ref();
        if session.alpn_protocol() != Some(certkeeper_acme::tls_alpn::ALPN) {
            return Err(problem(
                ProblemType::Tls,
                format!("{addr} did not negotiate ALPN acme-tls/1"),
            ));
        }
        let cert = session
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| problem(ProblemType::Tls, format!("{addr} presented no certificate")))?;
        certkeeper_acme::tls_alpn::check_certificate(cert.as_ref(), name, key_authorization)
            .map_err(|e| problem(ProblemType::IncorrectResponse, format!("{addr}: {e}")))
    }
}
