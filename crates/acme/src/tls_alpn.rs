//! tls-alpn-01 (RFC 8737): what the certificate a client presents must hold. No I/O here;
//! the core makes the TLS connection (ALPN `acme-tls/1`, SNI the name) and hands over the
//! certificate.

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The ALPN protocol a validation offers.
pub const ALPN: &[u8] = b"acme-tls/1";

/// id-pe-acmeIdentifier.
const ACME_IDENTIFIER: &str = "1.3.6.1.5.5.7.1.31";

/// Why a presented certificate does not answer the challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsAlpnError {
    #[error("the presented certificate is not X.509: {0}")]
    Parse(String),
    #[error("the certificate must name exactly {0} as its only subjectAltName")]
    Names(String),
    #[error("the certificate has no critical acmeIdentifier extension")]
    NoIdentifier,
    #[error("the acmeIdentifier does not hold the key authorization's SHA-256")]
    WrongDigest,
}

/// Checks that `der` has `name` as its one DNS SAN and a critical acmeIdentifier holding
/// SHA-256(`key_authorization`).
pub fn check_certificate(
    der: &[u8],
    name: &str,
    key_authorization: &str,
) -> Result<(), TlsAlpnError> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| TlsAlpnError::Parse(e.to_string()))?;
    let mut names = Vec::new();
    let mut identifier = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                names.extend(san.general_names.iter().map(|g| match g {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                }));
            }
            _ if ext.oid.to_id_string() == ACME_IDENTIFIER => {
                identifier = Some((ext.critical, ext.value));
            }
            _ => {}
        }
    }
    if names != [Some(name.to_ascii_lowercase())] {
        return Err(TlsAlpnError::Names(name.into()));
    }
    let Some((true, value)) = identifier else {
        return Err(TlsAlpnError::NoIdentifier);
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
    // The extension's value is a DER OCTET STRING of the 32-byte digest.
    let mut expected = vec![0x04, 0x20];
    expected.extend_from_slice(digest.as_ref());
    if value == expected.as_slice() {
        Ok(())
    } else {
        Err(TlsAlpnError::WrongDigest)
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, CustomExtension, KeyPair};

    use super::*;

    fn presented(names: &[&str], key_auth: &str, critical: bool) -> Vec<u8> {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, key_auth.as_bytes());
        let mut ext = CustomExtension::new_acme_identifier(digest.as_ref());
        ext.set_criticality(critical);
        params.custom_extensions = vec![ext];
        params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .der()
            .to_vec()
    }

    #[test]
    fn only_the_exact_certificate_answers() {
        let ok = presented(&["a.example.test"], "tok.thumb", true);
        assert_eq!(
            check_certificate(&ok, "A.example.test", "tok.thumb"),
            Ok(())
        );
        assert_eq!(
            check_certificate(&ok, "a.example.test", "other.thumb"),
            Err(TlsAlpnError::WrongDigest)
        );
        let two = presented(&["a.example.test", "b.example.test"], "tok.thumb", true);
        assert!(matches!(
            check_certificate(&two, "a.example.test", "tok.thumb"),
            Err(TlsAlpnError::Names(_))
        ));
        let soft = presented(&["a.example.test"], "tok.thumb", false);
        assert_eq!(
            check_certificate(&soft, "a.example.test", "tok.thumb"),
            Err(TlsAlpnError::NoIdentifier)
        );
        assert!(matches!(
            check_certificate(b"junk", "a.example.test", "x"),
            Err(TlsAlpnError::Parse(_))
        ));
    }
}
