//! Nonces that any node can check: `base64url(issued-at ms ‖ 16 random bytes ‖ MAC)`, the MAC
//! keyed by a secret every node derives from the shared master key.
//!
//! Minting needs no storage at all (GET/HEAD newNonce and every response's Replay-Nonce cost
//! nothing). Accepting one needs the store only to make it single-use: a used nonce is
//! recorded until it would have expired anyway, so that table holds at most one row per POST
//! of the last [`NONCE_LIFETIME`] and is swept; it never grows without bound.

use ring::rand::{SecureRandom, SystemRandom};

use crate::{b64, unb64};

/// How long a nonce is accepted after it was minted.
pub const NONCE_LIFETIME_MS: i64 = 30 * 60 * 1000;

const RANDOM_LEN: usize = 16;
const MAC_LEN: usize = 16;
const STAMP_LEN: usize = 8;

/// Why a nonce is refused (all are `badNonce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    #[error("the nonce was not issued by this server")]
    Unknown,
    #[error("the nonce has expired; fetch a new one")]
    Expired,
    #[error("the system random generator failed")]
    Random,
}

/// The nonce secret.
pub struct NonceKey(ring::hmac::Key);

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

impl NonceKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret))
    }

    /// A new nonce minted at `now_ms`.
    pub fn mint(&self, now_ms: i64) -> Result<String, NonceError> {
        let mut raw = [0u8; STAMP_LEN + RANDOM_LEN + MAC_LEN];
        raw[..STAMP_LEN].copy_from_slice(&now_ms.to_be_bytes());
        SystemRandom::new()
            .fill(&mut raw[STAMP_LEN..STAMP_LEN + RANDOM_LEN])
            .map_err(|_| NonceError::Random)?;
        let tag = ring::hmac::sign(&self.0, &raw[..STAMP_LEN + RANDOM_LEN]);
        raw[STAMP_LEN + RANDOM_LEN..].copy_from_slice(&tag.as_ref()[..MAC_LEN]);
        Ok(b64(&raw))
    }

    /// Checks that `nonce` is ours and fresh at `now_ms`; answers when it was minted. Whether it
    /// was already used is the store's question.
    pub fn check(&self, nonce: &str, now_ms: i64) -> Result<i64, NonceError> {
        let raw = unb64(nonce).ok_or(NonceError::Unknown)?;
        if raw.len() != STAMP_LEN + RANDOM_LEN + MAC_LEN {
            return Err(NonceError::Unknown);
        }
        let tag = ring::hmac::sign(&self.0, &raw[..STAMP_LEN + RANDOM_LEN]);
        let matches: bool =
            subtle::ConstantTimeEq::ct_eq(&tag.as_ref()[..MAC_LEN], &raw[STAMP_LEN + RANDOM_LEN..])
                .into();
        if !matches {
            return Err(NonceError::Unknown);
        }
        let mut stamp = [0u8; STAMP_LEN];
        stamp.copy_from_slice(&raw[..STAMP_LEN]);
        let minted = i64::from_be_bytes(stamp);
        // A little slack for nodes whose clocks differ.
        if minted > now_ms + 60_000 || now_ms - minted > NONCE_LIFETIME_MS {
            return Err(NonceError::Expired);
        }
        Ok(minted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_nonces_check_until_they_expire_and_only_under_their_key() {
        let key = NonceKey::new(b"secret");
        let n = key.mint(1_000_000).unwrap();
        assert_eq!(key.check(&n, 1_000_500), Ok(1_000_000));
        assert_ne!(n, key.mint(1_000_000).unwrap(), "random part");
        assert_eq!(
            key.check(&n, 1_000_000 + NONCE_LIFETIME_MS + 1),
            Err(NonceError::Expired)
        );
        assert_eq!(
            NonceKey::new(b"other").check(&n, 1_000_500),
            Err(NonceError::Unknown)
        );
        assert_eq!(key.check("garbage", 1), Err(NonceError::Unknown));
        let mut tampered = unb64(&n).unwrap();
        tampered[0] ^= 1;
        assert_eq!(
            key.check(&b64(&tampered), 1_000_500),
            Err(NonceError::Unknown)
        );
    }
}
