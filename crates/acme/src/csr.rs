//! Finalize CSRs (RFC 8555 §7.4), read with x509-parser: the signature is checked, the names
//! and public key are taken, and every other request (extensions included) is ignored: the
//! server's policy builds the certificate. (rcgen's CSR import refuses the extensions acme.sh
//! and cert-manager send, so it is not used here.)

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry;
use x509_parser::prelude::FromDer;

/// Why a CSR is refused (all are `badCSR`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    #[error("the CSR is not DER: {0}")]
    Parse(String),
    #[error("the CSR's signature does not verify")]
    Signature,
    #[error("the CSR's public key is not supported: {0}")]
    Key(String),
    #[error("the CSR names something other than DNS names: {0}")]
    Name(String),
}

/// The kinds of subject keys certificates are issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    EcP256,
    EcP384,
    Rsa { bits: usize },
    Ed25519,
}

impl KeyKind {
    /// The name projects' policies use: `ec-p256`, `ec-p384`, `rsa`, `ed25519`.
    pub fn policy_name(self) -> &'static str {
        match self {
            KeyKind::EcP256 => "ec-p256",
            KeyKind::EcP384 => "ec-p384",
            KeyKind::Rsa { .. } => "rsa",
            KeyKind::Ed25519 => "ed25519",
        }
    }
}

/// What a CSR asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrRequest {
    /// The subject CN and every DNS SAN, lowercased, deduplicated, sorted.
    pub names: Vec<String>,
    /// The subject CN, lowercased, when there is one: the name the client calls primary.
    pub common_name: Option<String>,
    /// The subject public key, DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    pub key: KeyKind,
}

/// Reads a CSR.
pub fn parse(der: &[u8]) -> Result<CsrRequest, CsrError> {
    let (_, csr) =
        X509CertificationRequest::from_der(der).map_err(|e| CsrError::Parse(e.to_string()))?;
    csr.verify_signature().map_err(|_| CsrError::Signature)?;
    let info = &csr.certification_request_info;
    let mut names = Vec::new();
    let mut common_name = None;
    for cn in info.subject.iter_common_name() {
        let cn = cn
            .as_str()
            .map_err(|_| CsrError::Name("a common name that is not text".into()))?
            .to_ascii_lowercase();
        common_name.get_or_insert_with(|| cn.clone());
        names.push(cn);
    }
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(d) => names.push(d.to_ascii_lowercase()),
                    other => return Err(CsrError::Name(other.to_string())),
                }
            }
        }
    }
    names.sort();
    names.dedup();
    let spki = &info.subject_pki;
    let alg = &spki.algorithm.algorithm;
    let key = if *alg == oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c == oid_registry::OID_EC_P256 => KeyKind::EcP256,
            Some(c) if c == oid_registry::OID_NIST_EC_P384 => KeyKind::EcP384,
            other => return Err(CsrError::Key(format!("EC curve {other:?}"))),
        }
    } else if *alg == oid_registry::OID_PKCS1_RSAENCRYPTION {
        let bits = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.key_size(),
            _ => return Err(CsrError::Key("an unreadable RSA key".into())),
        };
        if !(2048..=8192).contains(&bits) {
            return Err(CsrError::Key(format!(
                "RSA keys must be 2048 to 8192 bits, got {bits}"
            )));
        }
        KeyKind::Rsa { bits }
    } else if *alg == oid_registry::OID_SIG_ED25519 {
        KeyKind::Ed25519
    } else {
        return Err(CsrError::Key(format!("algorithm {alg}")));
    };
    Ok(CsrRequest {
        names,
        common_name,
        spki_der: spki.raw.to_vec(),
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(names: &[&str], key: &rcgen::KeyPair, extra_ext: bool) -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        if extra_ext {
            // What cert-manager and acme.sh send: key usages, EKUs, basic constraints.
            params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
            params.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 24],
                vec![0x30, 0x03, 0x02, 0x01, 0x05],
            )];
        }
        params.serialize_request(key).unwrap().der().to_vec()
    }

    #[test]
    fn names_key_and_ignored_extensions() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let der = csr(
            &["WWW.example.test", "example.test", "www.example.test"],
            &key,
            true,
        );
        let req = parse(&der).unwrap();
        assert_eq!(req.names, ["example.test", "www.example.test"]);
        assert_eq!(req.common_name.as_deref(), Some("www.example.test"));
        assert_eq!(req.key, KeyKind::EcP256);
        assert_eq!(
            req.spki_der,
            rcgen::PublicKeyData::subject_public_key_info(&key)
        );

        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        assert_eq!(
            parse(&csr(&["a.test"], &p384, false)).unwrap().key,
            KeyKind::EcP384
        );
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert_eq!(
            parse(&csr(&["a.test"], &ed, false)).unwrap().key,
            KeyKind::Ed25519
        );
    }

    #[test]
    fn broken_csrs_are_refused() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut der = csr(&["a.test"], &key, false);
        let last = der.len() - 1;
        der[last] ^= 1;
        assert!(matches!(
            parse(&der),
            Err(CsrError::Signature | CsrError::Parse(_))
        ));
        assert!(matches!(parse(b"nope"), Err(CsrError::Parse(_))));
    }
}
