//! Private keys: parse the encodings users paste (PKCS#8, PKCS#1, SEC1; PEM or base64 DER) and
//! check that a key belongs to a certificate.
//!
//! The check compares public keys, as OpenSSL's `X509_check_private_key` does: the public key is
//! derived from the private key (RSA: its modulus and exponent; EC: scalar times generator;
//! Ed25519: from the seed) and compared with the certificate's SubjectPublicKeyInfo.

use base64::Engine;
use pkcs8::ObjectIdentifier;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::x509::SubjectPublicKeyInfo;
use zeroize::Zeroizing;

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Why a private key was refused. Each message is meant for the user who pasted it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("certificatePrivateKey is empty")]
    Empty,
    #[error("certificatePrivateKey is an encrypted private key; decrypt it before importing")]
    Encrypted,
    #[error(
        "certificatePrivateKey is not a PEM or base64 DER private key (PKCS#8, PKCS#1 or SEC1): {0}"
    )]
    Unreadable(String),
    #[error(
        "certificatePrivateKey uses an unsupported key algorithm ({0}); supported: RSA, ECDSA P-256, ECDSA P-384, Ed25519"
    )]
    UnsupportedAlgorithm(String),
    #[error("certificatePrivateKey is malformed: {0}")]
    Malformed(String),
    #[error("certificatePrivateKey does not match the certificate's public key ({0})")]
    Mismatch(String),
}

/// The elliptic curves certkeeper handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

/// A public key, in a form two encodings of the same key compare equal in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyMaterial {
    /// Big-endian modulus and exponent, without leading zero bytes.
    Rsa {
        modulus: Vec<u8>,
        exponent: Vec<u8>,
    },
    /// The uncompressed SEC1 point.
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
    Ed25519(Vec<u8>),
}

impl PublicKeyMaterial {
    fn kind(&self) -> &'static str {
        match self {
            Self::Rsa { .. } => "RSA",
            Self::Ec {
                curve: Curve::P256, ..
            } => "ECDSA P-256",
            Self::Ec {
                curve: Curve::P384, ..
            } => "ECDSA P-384",
            Self::Ed25519(_) => "Ed25519",
        }
    }

    /// Reads a certificate's SubjectPublicKeyInfo. `None` for algorithms certkeeper cannot
    /// check keys for.
    pub fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Option<Self> {
        let alg = spki.algorithm.algorithm.to_id_string();
        let bits: &[u8] = &spki.subject_public_key.data;
        if alg == OID_RSA.to_string() {
            match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => Some(Self::Rsa {
                    modulus: strip_zeros(rsa.modulus).to_vec(),
                    exponent: strip_zeros(rsa.exponent).to_vec(),
                }),
                _ => None,
            }
        } else if alg == OID_EC.to_string() {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string())?;
            if curve == OID_P256.to_string() {
                let pk = p256::PublicKey::from_sec1_bytes(bits).ok()?;
                Some(Self::Ec {
                    curve: Curve::P256,
                    point: p256_point(&pk),
                })
            } else if curve == OID_P384.to_string() {
                let pk = p384::PublicKey::from_sec1_bytes(bits).ok()?;
                Some(Self::Ec {
                    curve: Curve::P384,
                    point: p384_point(&pk),
                })
            } else {
                None
            }
        } else if alg == OID_ED25519.to_string() {
            Some(Self::Ed25519(bits.to_vec()))
        } else {
            None
        }
    }
}

/// A parsed private key: its PKCS#8 or traditional DER, and the public key it implies.
pub struct PrivateKey {
    der: Zeroizing<Vec<u8>>,
    public: PublicKeyMaterial,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public.kind())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Parses a key as pasted by a user: PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`,
    /// `EC PRIVATE KEY`) or the base64 of its DER.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(KeyError::Encrypted);
        }
        let key = if text.contains("-----BEGIN") {
            PrivateKeyDer::from_pem_slice(text.as_bytes())
                .map_err(|e| KeyError::Unreadable(pem_error(e)))?
        } else {
            let der = base64::engine::general_purpose::STANDARD
                .decode(text.split_whitespace().collect::<String>())
                .map_err(|e| KeyError::Unreadable(format!("not PEM, and not base64 ({e})")))?;
            PrivateKeyDer::try_from(der).map_err(|e| KeyError::Unreadable(e.to_string()))?
        };
        let (der, public) = match &key {
            PrivateKeyDer::Pkcs8(k) => (
                k.secret_pkcs8_der(),
                public_from_pkcs8(k.secret_pkcs8_der())?,
            ),
            PrivateKeyDer::Pkcs1(k) => (
                k.secret_pkcs1_der(),
                public_from_pkcs1(k.secret_pkcs1_der())?,
            ),
            PrivateKeyDer::Sec1(k) => (
                k.secret_sec1_der(),
                public_from_sec1(k.secret_sec1_der(), None)?,
            ),
            _ => return Err(KeyError::Unreadable("unknown private key encoding".into())),
        };
        Ok(Self {
            der: Zeroizing::new(der.to_vec()),
            public,
        })
    }

    /// The key's DER, as it was given (PKCS#8, PKCS#1 or SEC1).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn public(&self) -> &PublicKeyMaterial {
        &self.public
    }

    /// Refuses the key unless it is the private half of `spki`.
    pub fn check_matches(&self, spki: &SubjectPublicKeyInfo<'_>) -> Result<(), KeyError> {
        let Some(cert_key) = PublicKeyMaterial::from_spki(spki) else {
            return Err(KeyError::UnsupportedAlgorithm(format!(
                "certificate key algorithm {}",
                spki.algorithm.algorithm.to_id_string()
            )));
        };
        if cert_key == self.public {
            return Ok(());
        }
        let why = if cert_key.kind() != self.public.kind() {
            format!(
                "the certificate has an {} key, the private key is {}",
                cert_key.kind(),
                self.public.kind()
            )
        } else {
            format!("both are {}, but they are different keys", cert_key.kind())
        };
        Err(KeyError::Mismatch(why))
    }
}

/// The PEM label a stored key's DER is written under: `PRIVATE KEY` (PKCS#8),
/// `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1), as it was imported.
pub fn pem_label(der: &[u8]) -> &'static str {
    match PrivateKeyDer::try_from(der) {
        Ok(PrivateKeyDer::Pkcs1(_)) => "RSA PRIVATE KEY",
        Ok(PrivateKeyDer::Sec1(_)) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    }
}

fn pem_error(e: rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found".into()
        }
        other => other.to_string(),
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b
        .iter()
        .position(|&x| x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    &b[first..]
}

fn p256_point(pk: &p256::PublicKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    pk.to_encoded_point(false).as_bytes().to_vec()
}

fn p384_point(pk: &p384::PublicKey) -> Vec<u8> {
    use p384::elliptic_curve::sec1::ToEncodedPoint;
    pk.to_encoded_point(false).as_bytes().to_vec()
}

fn public_from_pkcs1(der: &[u8]) -> Result<PublicKeyMaterial, KeyError> {
    let key = pkcs1::RsaPrivateKey::try_from(der)
        .map_err(|e| KeyError::Malformed(format!("RSA key: {e}")))?;
    Ok(PublicKeyMaterial::Rsa {
        modulus: strip_zeros(key.modulus.as_bytes()).to_vec(),
        exponent: strip_zeros(key.public_exponent.as_bytes()).to_vec(),
    })
}

fn public_from_sec1(
    der: &[u8],
    curve_hint: Option<ObjectIdentifier>,
) -> Result<PublicKeyMaterial, KeyError> {
    let key = sec1::EcPrivateKey::try_from(der)
        .map_err(|e| KeyError::Malformed(format!("EC key: {e}")))?;
    let curve = key
        .parameters
        .and_then(|p| p.named_curve())
        .or(curve_hint)
        .or(match key.private_key.len() {
            32 => Some(OID_P256),
            48 => Some(OID_P384),
            _ => None,
        });
    // The embedded public key, if ring confirms it is the private scalar's: ring derives the
    // point with its fast fixed-base multiplication and refuses a pair that does not match.
    // Only keys without an embedded point take RustCrypto's generic (several times slower)
    // arithmetic below; both give the same point for the same scalar.
    let confirmed = |alg: &'static ring::signature::EcdsaSigningAlgorithm| {
        key.public_key.and_then(|point| {
            ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
                alg,
                key.private_key,
                point,
                &ring::rand::SystemRandom::new(),
            )
            .ok()
            .map(|_| point.to_vec())
        })
    };
    match curve {
        Some(c) if c == OID_P256 => {
            if let Some(point) = confirmed(&ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING) {
                return Ok(PublicKeyMaterial::Ec {
                    curve: Curve::P256,
                    point,
                });
            }
            let sk = p256::SecretKey::from_slice(key.private_key).map_err(|_| {
                KeyError::Malformed("EC P-256 private scalar is out of range".into())
            })?;
            Ok(PublicKeyMaterial::Ec {
                curve: Curve::P256,
                point: p256_point(&sk.public_key()),
            })
        }
        Some(c) if c == OID_P384 => {
            if let Some(point) = confirmed(&ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING) {
                return Ok(PublicKeyMaterial::Ec {
                    curve: Curve::P384,
                    point,
                });
            }
            let sk = p384::SecretKey::from_slice(key.private_key).map_err(|_| {
                KeyError::Malformed("EC P-384 private scalar is out of range".into())
            })?;
            Ok(PublicKeyMaterial::Ec {
                curve: Curve::P384,
                point: p384_point(&sk.public_key()),
            })
        }
        Some(other) => Err(KeyError::UnsupportedAlgorithm(format!(
            "elliptic curve {other}"
        ))),
        None => Err(KeyError::Malformed("EC key names no curve".into())),
    }
}

fn public_from_pkcs8(der: &[u8]) -> Result<PublicKeyMaterial, KeyError> {
    let info = pkcs8::PrivateKeyInfo::try_from(der)
        .map_err(|e| KeyError::Malformed(format!("PKCS#8: {e}")))?;
    let oid = info.algorithm.oid;
    if oid == OID_RSA {
        public_from_pkcs1(info.private_key)
    } else if oid == OID_EC {
        let curve = info
            .algorithm
            .parameters_oid()
            .map_err(|_| KeyError::Malformed("PKCS#8 EC key names no curve".into()))?;
        public_from_sec1(info.private_key, Some(curve))
    } else if oid == OID_ED25519 {
        // The private key is an OCTET STRING holding the 32-byte seed (RFC 8410).
        let seed = match info.private_key {
            [0x04, 0x20, seed @ ..] if seed.len() == 32 => seed,
            _ => {
                return Err(KeyError::Malformed(
                    "Ed25519 key is not a 32-byte seed".into(),
                ));
            }
        };
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| KeyError::Malformed("Ed25519 seed rejected".into()))?;
        use ring::signature::KeyPair;
        Ok(PublicKeyMaterial::Ed25519(
            pair.public_key().as_ref().to_vec(),
        ))
    } else {
        Err(KeyError::UnsupportedAlgorithm(oid.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certkeeper_testkit as fx;

    /// The point ring confirms equals the one RustCrypto derives, and a key whose embedded
    /// public key is not its own still yields its real point (ring refuses the pair).
    #[test]
    fn embedded_points_are_confirmed_not_trusted() {
        for (pem, curve) in [
            (fx::P256_SEC1_KEY, Curve::P256),
            (fx::P384_SEC1_KEY, Curve::P384),
        ] {
            let key = PrivateKey::parse(pem).unwrap();
            let der = match PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap() {
                PrivateKeyDer::Sec1(d) => d.secret_sec1_der().to_vec(),
                other => panic!("fixture is SEC1: {other:?}"),
            };
            let ec = sec1::EcPrivateKey::try_from(der.as_slice()).unwrap();
            let generic = match curve {
                Curve::P256 => p256_point(
                    &p256::SecretKey::from_slice(ec.private_key)
                        .unwrap()
                        .public_key(),
                ),
                Curve::P384 => p384_point(
                    &p384::SecretKey::from_slice(ec.private_key)
                        .unwrap()
                        .public_key(),
                ),
            };
            assert_eq!(
                key.public(),
                &PublicKeyMaterial::Ec {
                    curve,
                    point: generic.clone()
                }
            );
            // The same scalar with another key's point embedded.
            let other = match curve {
                Curve::P256 => fx::UNRELATED_P256_KEY,
                Curve::P384 => fx::P256_SEC1_KEY,
            };
            let wrong_point = match PrivateKey::parse(other).unwrap().public() {
                PublicKeyMaterial::Ec { point, .. } => point.clone(),
                _ => unreachable!(),
            };
            let forged = sec1::EcPrivateKey {
                private_key: ec.private_key,
                parameters: ec.parameters,
                public_key: Some(&wrong_point),
            };
            use sec1::der::Encode as _;
            let forged_der = forged.to_der().unwrap();
            assert_eq!(
                public_from_sec1(&forged_der, None).unwrap(),
                PublicKeyMaterial::Ec {
                    curve,
                    point: generic
                }
            );
        }
    }
}
