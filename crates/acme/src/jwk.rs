//! Account keys as JWKs (RFC 7517/7518): the three key types ACME clients use, their
//! thumbprints (RFC 7638) and signature checks.

use ring::signature::{self, UnparsedPublicKey};
use serde_json::Value;

use crate::{b64, unb64};

/// Why a JWK is not an acceptable account key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    #[error("the JWK is not a JSON object with a known \"kty\"")]
    Shape,
    #[error("unsupported key: {0}")]
    Unsupported(String),
    #[error("the JWK member {0:?} is missing or not base64url")]
    Member(&'static str),
}

/// A public account key. The base64url members are kept exactly as the client sent them:
/// the thumbprint is computed over them (RFC 7638 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jwk {
    Ec {
        curve: EcCurve,
        x: String,
        y: String,
    },
    Rsa {
        n: String,
        e: String,
    },
    Ed25519 {
        x: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcCurve {
    P256,
    P384,
}

impl EcCurve {
    fn name(self) -> &'static str {
        match self {
            EcCurve::P256 => "P-256",
            EcCurve::P384 => "P-384",
        }
    }

    /// The length of one coordinate, and of `r` and `s`.
    pub fn field_len(self) -> usize {
        match self {
            EcCurve::P256 => 32,
            EcCurve::P384 => 48,
        }
    }
}

fn member<'a>(v: &'a Value, name: &'static str) -> Result<&'a str, JwkError> {
    let text = v
        .get(name)
        .and_then(Value::as_str)
        .ok_or(JwkError::Member(name))?;
    unb64(text).ok_or(JwkError::Member(name))?;
    Ok(text)
}

impl Jwk {
    /// Reads a JWK, keeping only the members that define the key.
    pub fn from_json(v: &Value) -> Result<Self, JwkError> {
        match v.get("kty").and_then(Value::as_str) {
            Some("EC") => {
                let curve = match v.get("crv").and_then(Value::as_str) {
                    Some("P-256") => EcCurve::P256,
                    Some("P-384") => EcCurve::P384,
                    other => {
                        return Err(JwkError::Unsupported(format!("EC curve {other:?}")));
                    }
                };
                let (x, y) = (member(v, "x")?, member(v, "y")?);
                for c in [x, y] {
                    if unb64(c).map(|b| b.len()) != Some(curve.field_len()) {
                        return Err(JwkError::Unsupported(format!(
                            "{} coordinates must be {} bytes",
                            curve.name(),
                            curve.field_len()
                        )));
                    }
                }
                Ok(Jwk::Ec {
                    curve,
                    x: x.into(),
                    y: y.into(),
                })
            }
            Some("RSA") => {
                let (n, e) = (member(v, "n")?, member(v, "e")?);
                let bits = unb64(n).map_or(0, |b| {
                    let lead = b.iter().take_while(|x| **x == 0).count();
                    (b.len() - lead) * 8
                });
                if !(2048..=8192).contains(&bits) {
                    return Err(JwkError::Unsupported(format!(
                        "RSA keys must be 2048 to 8192 bits, got about {bits}"
                    )));
                }
                Ok(Jwk::Rsa {
                    n: n.into(),
                    e: e.into(),
                })
            }
            Some("OKP") => match v.get("crv").and_then(Value::as_str) {
                Some("Ed25519") => {
                    let x = member(v, "x")?;
                    if unb64(x).map(|b| b.len()) != Some(32) {
                        return Err(JwkError::Member("x"));
                    }
                    Ok(Jwk::Ed25519 { x: x.into() })
                }
                other => Err(JwkError::Unsupported(format!("OKP curve {other:?}"))),
            },
            Some(other) => Err(JwkError::Unsupported(format!("kty {other:?}"))),
            None => Err(JwkError::Shape),
        }
    }

    /// The JWK as JSON, for storage and for answering `keyChange`.
    pub fn to_json(&self) -> Value {
        match self {
            Jwk::Ec { curve, x, y } => {
                serde_json::json!({"kty": "EC", "crv": curve.name(), "x": x, "y": y})
            }
            Jwk::Rsa { n, e } => serde_json::json!({"kty": "RSA", "n": n, "e": e}),
            Jwk::Ed25519 { x } => serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
        }
    }

    /// RFC 7638: SHA-256 over the required members in lexicographic order, base64url.
    pub fn thumbprint(&self) -> String {
        let canonical = match self {
            Jwk::Ec { curve, x, y } => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{x}","y":"{y}"}}"#,
                curve.name()
            ),
            Jwk::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            Jwk::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
        };
        b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// The JWS `alg` this key signs with.
    pub fn alg(&self) -> &'static str {
        match self {
            Jwk::Ec {
                curve: EcCurve::P256,
                ..
            } => "ES256",
            Jwk::Ec {
                curve: EcCurve::P384,
                ..
            } => "ES384",
            Jwk::Rsa { .. } => "RS256",
            Jwk::Ed25519 { .. } => "EdDSA",
        }
    }

    /// Whether this is the key of a certificate whose SubjectPublicKeyInfo is `spki_der`
    /// (revokeCert signed by the certificate's own key).
    pub fn matches_spki(&self, spki_der: &[u8]) -> bool {
        use x509_parser::prelude::FromDer;
        use x509_parser::public_key::PublicKey;
        use x509_parser::x509::SubjectPublicKeyInfo;
        let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(spki_der) else {
            return false;
        };
        let decode = |s: &str| unb64(s).unwrap_or_default();
        let unsigned = |b: &[u8]| {
            b.iter()
                .skip_while(|x| **x == 0)
                .copied()
                .collect::<Vec<u8>>()
        };
        match (self, spki.parsed()) {
            (Jwk::Ec { x, y, .. }, Ok(PublicKey::EC(point))) => {
                let mut expected = vec![4u8];
                expected.extend(decode(x));
                expected.extend(decode(y));
                point.data() == expected.as_slice()
            }
            (Jwk::Rsa { n, e }, Ok(PublicKey::RSA(rsa))) => {
                unsigned(rsa.modulus) == unsigned(&decode(n))
                    && unsigned(rsa.exponent) == unsigned(&decode(e))
            }
            (Jwk::Ed25519 { x }, _) => {
                spki.algorithm.algorithm.to_id_string() == "1.3.101.112"
                    && spki.subject_public_key.data.as_ref() == decode(x).as_slice()
            }
            _ => false,
        }
    }

    /// Whether `signature` over `message` verifies under this key with `alg`.
    pub fn verify(&self, alg: &str, message: &[u8], signature: &[u8]) -> bool {
        if alg != self.alg() {
            return false;
        }
        let decode = |s: &str| unb64(s).unwrap_or_default();
        match self {
            Jwk::Ec { curve, x, y } => {
                let mut point = vec![4u8];
                point.extend(decode(x));
                point.extend(decode(y));
                let algorithm = match curve {
                    EcCurve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
                    EcCurve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
                };
                let key = UnparsedPublicKey::new(algorithm, point);
                ec_candidates(signature, curve.field_len())
                    .iter()
                    .any(|sig| key.verify(message, sig).is_ok())
            }
            Jwk::Rsa { n, e } => signature::RsaPublicKeyComponents {
                n: decode(n),
                e: decode(e),
            }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
            .is_ok(),
            Jwk::Ed25519 { x } => UnparsedPublicKey::new(&signature::ED25519, decode(x))
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// The fixed-width `r || s` forms a signature may stand for. A well-formed one is itself.
/// Some clients (Apple's among them) strip leading zero bytes of `r` or `s`; the split is then
/// ambiguous, so every split that fits is tried (at most a handful).
fn ec_candidates(signature: &[u8], n: usize) -> Vec<Vec<u8>> {
    if signature.len() == 2 * n {
        return vec![signature.to_vec()];
    }
    if signature.len() > 2 * n || signature.len() < n {
        return Vec::new();
    }
    let short = 2 * n - signature.len();
    (0..=short)
        .map(|r_missing| {
            let r_len = n - r_missing;
            let (r, s) = signature.split_at(r_len);
            let mut fixed = vec![0u8; 2 * n];
            fixed[n - r.len()..n].copy_from_slice(r);
            fixed[2 * n - s.len()..].copy_from_slice(s);
            fixed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let key = Jwk::from_json(&jwk).unwrap();
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(key.alg(), "RS256");
    }

    #[test]
    fn keys_that_are_refused() {
        for bad in [
            serde_json::json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
            serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            serde_json::json!({"kty": "oct", "k": "AA"}),
            serde_json::json!({"kty": "OKP", "crv": "X25519", "x": "AA"}),
            serde_json::json!("not an object"),
        ] {
            assert!(Jwk::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stripped_zero_bytes_give_every_fitting_split() {
        let sig = vec![1u8; 63];
        let c = ec_candidates(&sig, 32);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|s| s.len() == 64));
        assert_eq!(c[0][32], 0, "s padded");
        assert_eq!(c[1][0], 0, "r padded");
        assert!(ec_candidates(&[0u8; 65], 32).is_empty());
    }
}
