//! The ACME protocol's own pieces, with no I/O and no storage: what a request body must look
//! like and how its signature is checked ([`jws`], [`jwk`]), how nonces are minted and
//! recognised ([`nonce`]), what a finalize CSR asks for ([`csr`]), and the problem types
//! errors are reported with ([`problem`]). The ACME server in `certkeeper-core` decides; the
//! axum face in `certkeeper-server` speaks HTTP.
//!
//! Signatures are checked with ring directly: RS256, ES256, ES384 and EdDSA (Ed25519) are all
//! the algorithms ACME clients use, and a JOSE library would add OpenSSL or JWT-shaped APIs.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod ari;
pub mod csr;
pub mod jwk;
pub mod jws;
pub mod nonce;
pub mod problem;
pub mod tls_alpn;

use base64::Engine as _;

/// base64url without padding, as JOSE and ACME use everywhere.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding (a trailing `=` is tolerated).
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

/// The key authorization of a challenge token (RFC 8555 §8.1): `token.thumbprint`.
pub fn key_authorization(token: &str, thumbprint: &str) -> String {
    format!("{token}.{thumbprint}")
}

/// The TXT value a dns-01 challenge expects: base64url(SHA-256(key authorization)).
pub fn dns01_value(key_authorization: &str) -> String {
    b64(ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes()).as_ref())
}
