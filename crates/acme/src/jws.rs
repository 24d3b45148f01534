//! Request bodies: flattened JWS (RFC 7515 §7.2.2) as RFC 8555 §6.2 constrains them.

use serde::Deserialize;
use serde_json::Value;

use crate::jwk::{Jwk, JwkError};
use crate::problem::ProblemType;
use crate::unb64;

/// Why a request body is refused, each with its ACME problem type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("{0}")]
    Malformed(String),
    #[error("unsupported signature algorithm {0:?}; use RS256, ES256, ES384 or EdDSA")]
    Algorithm(String),
    #[error("{0}")]
    BadKey(#[from] JwkError),
    #[error("the JWS signature does not verify")]
    Signature,
}

impl JwsError {
    pub fn problem(&self) -> ProblemType {
        match self {
            JwsError::Malformed(_) | JwsError::Signature => ProblemType::Malformed,
            JwsError::Algorithm(_) => ProblemType::BadSignatureAlgorithm,
            JwsError::BadKey(_) => ProblemType::BadPublicKey,
        }
    }
}

/// The signer's key: embedded (new accounts, revocation by certificate key) or an account URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Jwk(Jwk),
    Kid(String),
}

/// The protected header's members ACME defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    pub alg: String,
    pub nonce: Option<String>,
    pub url: String,
    pub key: KeyRef,
}

/// A parsed, not yet verified, request body.
#[derive(Debug, Clone)]
pub struct Jws {
    protected_b64: String,
    payload_b64: String,
    signature: Vec<u8>,
    pub header: Protected,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Flattened {
    protected: String,
    payload: String,
    signature: String,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    nonce: Option<String>,
    url: Option<String>,
    jwk: Option<Value>,
    kid: Option<String>,
}

const ALGORITHMS: [&str; 4] = ["RS256", "ES256", "ES384", "EdDSA"];

/// Which JWS a body is: they differ in algorithms and in whether a nonce is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A request: account-key algorithms, a nonce.
    Request,
    /// keyChange's inner JWS: account-key algorithms, signed by the new key, no nonce needed.
    KeyChange,
    /// An external account binding: HS256/384/512, no nonce.
    Eab,
}

/// Parses a flattened JWS of `kind`.
fn parse_with(body: &[u8], kind: Kind) -> Result<Jws, JwsError> {
    let hmac = kind == Kind::Eab;
    let malformed = |m: &str| JwsError::Malformed(m.to_string());
    let flat: Flattened = serde_json::from_slice(body).map_err(|e| {
        JwsError::Malformed(format!(
            "the body must be a flattened JWS {{protected, payload, signature}}: {e}"
        ))
    })?;
    let header_bytes =
        unb64(&flat.protected).ok_or_else(|| malformed("protected is not base64url"))?;
    let raw: RawHeader = serde_json::from_slice(&header_bytes)
        .map_err(|e| JwsError::Malformed(format!("the protected header is not JSON: {e}")))?;
    let alg = raw
        .alg
        .ok_or_else(|| malformed("the protected header has no \"alg\""))?;
    let allowed = if hmac {
        ["HS256", "HS384", "HS512"].contains(&alg.as_str())
    } else {
        ALGORITHMS.contains(&alg.as_str())
    };
    if !allowed {
        return Err(JwsError::Algorithm(alg));
    }
    let url = raw
        .url
        .ok_or_else(|| malformed("the protected header has no \"url\""))?;
    let key = match (raw.jwk, raw.kid) {
        (Some(jwk), None) => KeyRef::Jwk(Jwk::from_json(&jwk)?),
        (None, Some(kid)) => KeyRef::Kid(kid),
        _ => {
            return Err(malformed(
                "the protected header needs exactly one of \"jwk\" and \"kid\"",
            ));
        }
    };
    if kind == Kind::Request && raw.nonce.is_none() {
        return Err(JwsError::Malformed(
            "the protected header has no \"nonce\"".into(),
        ));
    }
    let signature =
        unb64(&flat.signature).ok_or_else(|| malformed("signature is not base64url"))?;
    if unb64(&flat.payload).is_none() {
        return Err(malformed("payload is not base64url"));
    }
    Ok(Jws {
        protected_b64: flat.protected,
        payload_b64: flat.payload,
        signature,
        header: Protected {
            alg,
            nonce: raw.nonce,
            url,
            key,
        },
    })
}

/// Parses a request body.
pub fn parse(body: &[u8]) -> Result<Jws, JwsError> {
    parse_with(body, Kind::Request)
}

/// The inner JWS of a keyChange (RFC 8555 §7.3.5), given as the outer request's payload:
/// signed by the new key (`jwk`), checked here. Answers the new key and the inner payload's
/// `account` and `oldKey`, once `url` matches the outer request's.
pub fn verify_key_change(inner: &Value, url: &str) -> Result<(Jwk, String, Jwk), JwsError> {
    let body = serde_json::to_vec(inner).unwrap_or_default();
    let jws = parse_with(&body, Kind::KeyChange)?;
    let KeyRef::Jwk(new_key) = &jws.header.key else {
        return Err(JwsError::Malformed(
            "the keyChange inner JWS must carry the new key as \"jwk\"".into(),
        ));
    };
    if jws.header.url != url {
        return Err(JwsError::Malformed(
            "the keyChange inner JWS must have the outer request's url".into(),
        ));
    }
    jws.verify(new_key)?;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        account: String,
        old_key: Value,
    }
    let payload: Inner = jws.payload_as()?;
    Ok((
        new_key.clone(),
        payload.account,
        Jwk::from_json(&payload.old_key)?,
    ))
}

impl Jws {
    fn signing_input(&self) -> Vec<u8> {
        format!("{}.{}", self.protected_b64, self.payload_b64).into_bytes()
    }

    /// Checks the signature under `key`.
    pub fn verify(&self, key: &Jwk) -> Result<(), JwsError> {
        if key.verify(&self.header.alg, &self.signing_input(), &self.signature) {
            Ok(())
        } else {
            Err(JwsError::Signature)
        }
    }

    /// The payload: `None` for POST-as-GET (an empty payload), else its JSON.
    pub fn payload(&self) -> Result<Option<Value>, JwsError> {
        if self.payload_b64.is_empty() {
            return Ok(None);
        }
        let bytes = unb64(&self.payload_b64).unwrap_or_default();
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| JwsError::Malformed(format!("the payload is not JSON: {e}")))
    }

    /// The payload decoded into `T`; an empty payload is refused.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, JwsError> {
        let value = self
            .payload()?
            .ok_or_else(|| JwsError::Malformed("this request needs a payload".into()))?;
        serde_json::from_value(value)
            .map_err(|e| JwsError::Malformed(format!("the payload does not fit: {e}")))
    }
}

/// The key id an external account binding names, to look its HMAC key up by.
pub fn eab_kid(eab: &Value) -> Result<String, JwsError> {
    let body = serde_json::to_vec(eab).unwrap_or_default();
    match parse_with(&body, Kind::Eab)?.header.key {
        KeyRef::Kid(kid) => Ok(kid),
        KeyRef::Jwk(_) => Err(JwsError::Malformed(
            "the external account binding must name its key with \"kid\"".into(),
        )),
    }
}

/// An external account binding (RFC 8555 §7.3.4): the inner JWS, its MAC checked with
/// `hmac_key` (the key of [`eab_kid`]). Answers the kid once the MAC verifies, `url` matches
/// and the payload is `account_key`.
pub fn verify_eab(
    eab: &Value,
    url: &str,
    account_key: &Jwk,
    hmac_key: &[u8],
) -> Result<String, JwsError> {
    let kid = eab_kid(eab)?;
    let body = serde_json::to_vec(eab).unwrap_or_default();
    let jws = parse_with(&body, Kind::Eab)?;
    if jws.header.url != url {
        return Err(JwsError::Malformed(
            "the external account binding's url must be the newAccount URL".into(),
        ));
    }
    let algorithm = match jws.header.alg.as_str() {
        "HS256" => ring::hmac::HMAC_SHA256,
        "HS384" => ring::hmac::HMAC_SHA384,
        _ => ring::hmac::HMAC_SHA512,
    };
    ring::hmac::verify(
        &ring::hmac::Key::new(algorithm, hmac_key),
        &jws.signing_input(),
        &jws.signature,
    )
    .map_err(|_| JwsError::Signature)?;
    let inner = jws.payload()?.map(|v| Jwk::from_json(&v)).transpose()?;
    if inner.as_ref() != Some(account_key) {
        return Err(JwsError::Malformed(
            "the external account binding must sign the account's own key".into(),
        ));
    }
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b64;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    fn p256() -> (EcdsaKeyPair, Jwk) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = key.public_key().as_ref();
        let jwk = Jwk::from_json(&serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": b64(&public[1..33]), "y": b64(&public[33..])
        }))
        .unwrap();
        (key, jwk)
    }

    fn sign(key: &EcdsaKeyPair, header: Value, payload: &str) -> Vec<u8> {
        let protected = b64(header.to_string().as_bytes());
        let payload = b64(payload.as_bytes());
        let sig = key
            .sign(
                &SystemRandom::new(),
                format!("{protected}.{payload}").as_bytes(),
            )
            .unwrap();
        serde_json::json!({"protected": protected, "payload": payload, "signature": b64(sig.as_ref())})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_signed_request_verifies_and_a_tampered_one_does_not() {
        let (key, jwk) = p256();
        let body = sign(
            &key,
            serde_json::json!({"alg": "ES256", "nonce": "n", "url": "https://x/acme/new-account", "jwk": jwk.to_json()}),
            r#"{"termsOfServiceAgreed":true}"#,
        );
        let jws = parse(&body).unwrap();
        assert_eq!(jws.header.key, KeyRef::Jwk(jwk.clone()));
        jws.verify(&jwk).unwrap();
        assert_eq!(
            jws.payload().unwrap().unwrap()["termsOfServiceAgreed"],
            true
        );

        let (_, other) = p256();
        assert_eq!(jws.verify(&other), Err(JwsError::Signature));

        let get = sign(
            &key,
            serde_json::json!({"alg": "ES256", "nonce": "n", "url": "u", "kid": "k"}),
            "",
        );
        assert_eq!(parse(&get).unwrap().payload().unwrap(), None, "POST-as-GET");
    }

    #[test]
    fn headers_that_are_refused() {
        let (key, jwk) = p256();
        let cases = [
            (
                serde_json::json!({"alg": "HS256", "nonce": "n", "url": "u", "kid": "k"}),
                ProblemType::BadSignatureAlgorithm,
            ),
            (
                serde_json::json!({"alg": "none", "nonce": "n", "url": "u", "kid": "k"}),
                ProblemType::BadSignatureAlgorithm,
            ),
            (
                serde_json::json!({"alg": "ES256", "url": "u", "kid": "k"}),
                ProblemType::Malformed,
            ),
            (
                serde_json::json!({"alg": "ES256", "nonce": "n", "kid": "k"}),
                ProblemType::Malformed,
            ),
            (
                serde_json::json!({"alg": "ES256", "nonce": "n", "url": "u", "kid": "k", "jwk": jwk.to_json()}),
                ProblemType::Malformed,
            ),
            (
                serde_json::json!({"alg": "ES256", "nonce": "n", "url": "u", "jwk": {"kty": "oct"}}),
                ProblemType::BadPublicKey,
            ),
        ];
        for (header, problem) in cases {
            let err = parse(&sign(&key, header.clone(), "")).unwrap_err();
            assert_eq!(err.problem(), problem, "{header}");
        }
        assert_eq!(parse(b"{}").unwrap_err().problem(), ProblemType::Malformed);
    }

    #[test]
    fn external_account_binding() {
        let (_, jwk) = p256();
        let hmac = b"0123456789abcdef0123456789abcdef".to_vec();
        let protected = b64(
            serde_json::json!({"alg": "HS256", "kid": "kid-1", "url": "https://x/new-account"})
                .to_string()
                .as_bytes(),
        );
        let payload = b64(jwk.to_json().to_string().as_bytes());
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &hmac),
            format!("{protected}.{payload}").as_bytes(),
        );
        let eab = serde_json::json!({"protected": protected, "payload": payload, "signature": b64(tag.as_ref())});
        assert_eq!(eab_kid(&eab).unwrap(), "kid-1");
        let kid = verify_eab(&eab, "https://x/new-account", &jwk, &hmac).unwrap();
        assert_eq!(kid, "kid-1");
        assert!(verify_eab(&eab, "https://x/new-account", &jwk, b"wrong").is_err());
        assert!(verify_eab(&eab, "https://x/other", &jwk, &hmac).is_err());
        let (_, other) = p256();
        assert!(verify_eab(&eab, "https://x/new-account", &other, &hmac).is_err());
    }
}
