//! Reading certificates users import: the body, its chain and its key, checked for real.

use base64::Engine;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use x509_parser::asn1_rs::ToDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use crate::certificate::CertificateSummary;
use crate::keys::{KeyError, PrivateKey};

/// Why an import was refused. Each message names the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("certificateBody is empty")]
    EmptyBody,
    #[error("{field} is not PEM or base64 DER: {reason}")]
    Encoding { field: &'static str, reason: String },
    #[error("{field} holds no CERTIFICATE block")]
    NoCertificate { field: &'static str },
    #[error("{field}: certificate {index} is not a valid X.509 certificate: {reason}")]
    BadCertificate {
        field: &'static str,
        index: usize,
        reason: String,
    },
    #[error(
        "certificateChain is out of order: the issuer of {child} ({issuer}) must come next, found {found}; list the chain from the certificate's issuer up to the root"
    )]
    ChainOrder {
        child: String,
        issuer: String,
        found: String,
    },
    #[error(
        "certificateChain does not link: {child} was issued by {issuer}, which is not in the chain"
    )]
    ChainBroken { child: String, issuer: String },
    #[error(
        "certificateChain does not link: the signature on {child} does not verify with the key of {issuer}"
    )]
    ChainSignature { child: String, issuer: String },
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// A certificate that passed every import check, ready to be stored.
#[derive(Debug)]
pub struct CheckedImport {
    /// The leaf's DER.
    pub der: Vec<u8>,
    /// The chain's DER, leaf's issuer first.
    pub chain: Vec<Vec<u8>>,
    pub key: PrivateKey,
    pub summary: CertificateSummary,
}

/// Parses and checks an import: the key must be the certificate's, and the chain must link
/// (each certificate's issuer is the next one's subject, and its signature verifies with the
/// next one's key). Extra certificates after the first in `body` are taken as the start of
/// the chain. An empty `chain` is allowed (self-signed or directly root-issued certificates).
pub fn check_import(body: &str, key: &str, chain: &str) -> Result<CheckedImport, ImportError> {
    if body.trim().is_empty() {
        return Err(ImportError::EmptyBody);
    }
    let mut ders = read_certificates("certificateBody", body)?;
    let leaf_der = ders.remove(0);
    ders.extend(if chain.trim().is_empty() {
        Vec::new()
    } else {
        read_certificates("certificateChain", chain)?
    });

    let leaf = parse("certificateBody", 0, &leaf_der)?;
    let chain_parsed = ders
        .iter()
        .enumerate()
        .map(|(i, d)| parse("certificateChain", i, d))
        .collect::<Result<Vec<_>, _>>()?;

    let key = PrivateKey::parse(key)?;
    key.check_matches(leaf.public_key())?;

    let mut all = Vec::with_capacity(chain_parsed.len() + 1);
    all.push(&leaf);
    all.extend(chain_parsed.iter());
    for pair in all.windows(2) {
        check_link(pair[0], pair[1], &chain_parsed)?;
    }

    let summary = summarize(&leaf, &leaf_der);
    drop(all);
    drop(chain_parsed);
    drop(leaf);
    Ok(CheckedImport {
        der: leaf_der,
        chain: ders,
        key,
        summary,
    })
}

fn check_link(
    child: &X509Certificate<'_>,
    next: &X509Certificate<'_>,
    chain: &[X509Certificate<'_>],
) -> Result<(), ImportError> {
    let child_name = name_of(child);
    if child.issuer().as_raw() != next.subject().as_raw() {
        let issuer = rfc4514(child.issuer());
        return Err(
            if chain
                .iter()
                .any(|c| c.subject().as_raw() == child.issuer().as_raw())
            {
                ImportError::ChainOrder {
                    child: child_name,
                    issuer,
                    found: rfc4514(next.subject()),
                }
            } else {
                ImportError::ChainBroken {
                    child: child_name,
                    issuer,
                }
            },
        );
    }
    child
        .verify_signature(Some(next.public_key()))
        .map_err(|_| ImportError::ChainSignature {
            child: child_name,
            issuer: rfc4514(next.subject()),
        })
}

fn name_of(cert: &X509Certificate<'_>) -> String {
    let dn = rfc4514(cert.subject());
    if dn.is_empty() {
        format!(
            "the certificate with serial {}",
            serial_hex(cert.raw_serial())
        )
    } else {
        format!("'{dn}'")
    }
}

/// The certificates of a PEM text (e.g. an ACME CA's chain), in order, as DER.
pub fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, ImportError> {
    read_certificates("certificate chain", text)
}

/// Reads one or more certificates: PEM blocks, or a single base64-encoded DER.
fn read_certificates(field: &'static str, text: &str) -> Result<Vec<Vec<u8>>, ImportError> {
    let text = text.trim();
    if text.contains("-----BEGIN") {
        let certs = CertificateDer::pem_slice_iter(text.as_bytes())
            .map(|c| c.map(|c| c.as_ref().to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ImportError::Encoding {
                field,
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(ImportError::NoCertificate { field });
        }
        Ok(certs)
    } else {
        let der = base64::engine::general_purpose::STANDARD
            .decode(text.split_whitespace().collect::<String>())
            .map_err(|e| ImportError::Encoding {
                field,
                reason: format!("not PEM, and not base64 ({e})"),
            })?;
        Ok(vec![der])
    }
}

fn parse<'a>(
    field: &'static str,
    index: usize,
    der: &'a [u8],
) -> Result<X509Certificate<'a>, ImportError> {
    let bad = |reason: String| ImportError::BadCertificate {
        field,
        index,
        reason,
    };
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
    if !rest.is_empty() {
        return Err(bad(format!("{} bytes of trailing data", rest.len())));
    }
    Ok(cert)
}

/// Reads the inventory's view of a certificate given as DER.
pub fn summarize_der(der: &[u8]) -> Result<CertificateSummary, ImportError> {
    let cert = parse("certificate", 0, der)?;
    Ok(summarize(&cert, der))
}

/// Reads the inventory's view of a certificate.
pub fn summarize(cert: &X509Certificate<'_>, der: &[u8]) -> CertificateSummary {
    let mut names: Vec<String> = Vec::new();
    let mut first_dns: Option<usize> = None;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for gn in &san.value.general_names {
            match gn {
                GeneralName::DNSName(d) => {
                    first_dns.get_or_insert(names.len());
                    names.push((*d).to_string());
                }
                GeneralName::IPAddress(ip) => {
                    if let Some(ip) = ip_string(ip) {
                        names.push(ip);
                    }
                }
                _ => {}
            }
        }
    }
    let domain_name = match first_dns {
        Some(i) => names.remove(i),
        None => cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string)
            .unwrap_or_default(),
    };
    names.retain(|n| n != &domain_name);
    CertificateSummary {
        domain_name,
        additional_names: names,
        public_key_info: public_key_info(cert),
        signature_algorithm: signature_algorithm(
            &cert.signature_algorithm.algorithm.to_id_string(),
        ),
        issuer: rfc4514(cert.issuer()),
        subject: rfc4514(cert.subject()),
        serial_number: serial_hex(cert.raw_serial()),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        fingerprint_sha256: hex::encode(Sha256::digest(der)),
        common_name: cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string),
        thumbprint_sha1: hex::encode_upper(
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref(),
        ),
    }
}

fn ip_string(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}

/// Upper-case hex of the serial's magnitude, as OpenSSL prints it.
pub fn serial_hex(raw: &[u8]) -> String {
    let first = raw
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex::encode_upper(&raw[first..])
}

fn public_key_info(cert: &X509Certificate<'_>) -> String {
    use crate::keys::{Curve, PublicKeyMaterial};
    let spki = cert.public_key();
    match PublicKeyMaterial::from_spki(spki) {
        Some(PublicKeyMaterial::Rsa { .. }) => {
            format!("RSA {}", spki.parsed().map(|k| k.key_size()).unwrap_or(0))
        }
        Some(PublicKeyMaterial::Ec {
            curve: Curve::P256, ..
        }) => "ECDSA P-256".into(),
        Some(PublicKeyMaterial::Ec {
            curve: Curve::P384, ..
        }) => "ECDSA P-384".into(),
        Some(PublicKeyMaterial::Ed25519(_)) => "Ed25519".into(),
        None => match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.2.840.10045.2.1" => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                match curve.as_deref() {
                    Some("1.3.132.0.35") => "ECDSA P-521".into(),
                    Some(other) => format!("ECDSA {other}"),
                    None => "ECDSA".into(),
                }
            }
            "1.3.101.113" => "Ed448".into(),
            other => other.to_string(),
        },
    }
}

/// OpenSSL's short names for the signature algorithms certificates use.
fn signature_algorithm(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        other => return other.to_string(),
    }
    .to_string()
}

/// A distinguished name as RFC 4514 writes it: most specific RDN first, `,` between RDNs,
/// `+` inside a multi-valued RDN, special characters escaped, unknown types as `OID=#hex`.
pub fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let oid = atv.attr_type().to_id_string();
                    let short = match oid.as_str() {
                        "2.5.4.3" => Some("CN"),
                        "2.5.4.6" => Some("C"),
                        "2.5.4.7" => Some("L"),
                        "2.5.4.8" => Some("ST"),
                        "2.5.4.9" => Some("STREET"),
                        "2.5.4.10" => Some("O"),
                        "2.5.4.11" => Some("OU"),
                        "0.9.2342.19200300.100.1.25" => Some("DC"),
                        "0.9.2342.19200300.100.1.1" => Some("UID"),
                        _ => None,
                    };
                    match (short, atv.as_str()) {
                        (Some(s), Ok(v)) => format!("{s}={}", escape_value(v)),
                        _ => format!(
                            "{oid}=#{}",
                            hex::encode(atv.attr_value().to_der_vec().unwrap_or_default())
                        ),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use certkeeper_testkit as fx;

    #[test]
    fn serial_hex_strips_sign_byte() {
        assert_eq!(serial_hex(&[0x00, 0x8f, 0x01]), "8F01");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[0x12]), "12");
    }

    #[test]
    fn escapes_per_rfc4514() {
        assert_eq!(escape_value("certkeeper, Tests"), "certkeeper\\, Tests");
        assert_eq!(escape_value("#x "), "\\#x\\ ");
    }

    #[test]
    fn every_leaf_imports() {
        for (name, leaf) in fx::leaves() {
            let checked = check_import(leaf.cert, leaf.key, leaf.chain)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(checked.chain.len(), 2, "{name}");
        }
    }

    #[test]
    fn traditional_key_encodings_match() {
        check_import(fx::RSA2048_CERT, fx::RSA2048_PKCS1_KEY, fx::CHAIN).unwrap();
        check_import(fx::P256_CERT, fx::P256_SEC1_KEY, fx::CHAIN).unwrap();
        check_import(fx::P384_CERT, fx::P384_SEC1_KEY, fx::CHAIN).unwrap();
    }

    #[test]
    fn summary_fields() {
        let c = check_import(fx::RSA2048_CERT, fx::RSA2048_KEY, fx::CHAIN)
            .unwrap()
            .summary;
        assert_eq!(c.domain_name, "rsa2048.example.test");
        assert_eq!(c.public_key_info, "RSA 2048");
        assert_eq!(c.signature_algorithm, "sha256WithRSAEncryption");
        assert_eq!(
            c.issuer,
            "O=certkeeper Tests,CN=certkeeper Test Intermediate RSA"
        );
        assert_eq!(c.subject, "O=certkeeper\\, Tests,CN=rsa2048.example.test");
        let p = check_import(fx::P384_CERT, fx::P384_KEY, "")
            .unwrap()
            .summary;
        assert_eq!(p.public_key_info, "ECDSA P-384");
        let w = check_import(fx::WILDCARD_CERT, fx::WILDCARD_KEY, "")
            .unwrap()
            .summary;
        assert_eq!(w.domain_name, "*.wild.example.test");
        assert_eq!(w.additional_names, vec!["wild.example.test".to_string()]);
        let s = check_import(fx::SAN100_CERT, fx::SAN100_KEY, "")
            .unwrap()
            .summary;
        assert_eq!(s.additional_names.len(), 99);
        let e = check_import(fx::ED25519_CERT, fx::ED25519_KEY, "")
            .unwrap()
            .summary;
        assert_eq!(e.public_key_info, "Ed25519");
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            check_import(fx::P256_CERT, fx::UNRELATED_P256_KEY, fx::CHAIN),
            Err(ImportError::Key(KeyError::Mismatch(_)))
        ));
        assert!(matches!(
            check_import(fx::P256_CERT, fx::RSA2048_KEY, fx::CHAIN),
            Err(ImportError::Key(KeyError::Mismatch(_)))
        ));
        assert!(matches!(
            check_import(fx::P256_CERT, fx::P256_KEY, fx::CHAIN_WRONG_ORDER),
            Err(ImportError::ChainOrder { .. })
        ));
        assert!(matches!(
            check_import(fx::P256_CERT, fx::P256_KEY, fx::ROOT),
            Err(ImportError::ChainBroken { .. })
        ));
        assert!(matches!(
            check_import("", fx::P256_KEY, ""),
            Err(ImportError::EmptyBody)
        ));
        assert!(matches!(
            check_import(
                "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----",
                fx::P256_KEY,
                ""
            ),
            Err(ImportError::Encoding { .. })
        ));
        assert!(matches!(
            check_import("aGVsbG8=", fx::P256_KEY, ""),
            Err(ImportError::BadCertificate { .. })
        ));
        assert!(matches!(
            check_import(fx::P256_CERT, "", ""),
            Err(ImportError::Key(KeyError::Empty))
        ));
        assert!(matches!(
            check_import(fx::P256_CERT, "-----BEGIN ENCRYPTED PRIVATE KEY-----", ""),
            Err(ImportError::Key(KeyError::Encrypted))
        ));
    }

    #[test]
    fn base64_der_body_is_accepted() {
        let der = CertificateDer::from_pem_slice(fx::P256_CERT.as_bytes()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        check_import(&b64, fx::P256_KEY, fx::CHAIN).unwrap();
    }
}
