//! Encryption at rest for private keys: AES-256-GCM under the server's master key.
//!
//! Every sealed value carries its own random 96-bit nonce, and is bound to the record it
//! belongs to through the associated data, so a ciphertext copied onto another row fails to
//! open instead of silently yielding someone else's key.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// The associated data used for the master-key check value.
pub const MASTER_KEY_CHECK_AAD: &[u8] = b"certkeeper:master-key-check";
/// The plaintext of the master-key check value.
pub const MASTER_KEY_CHECK_PLAINTEXT: &[u8] = b"certkeeper master key v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the master key must be 32 bytes written as 64 hex digits")]
    BadMasterKey,
    #[error("the system random generator failed")]
    Random,
    #[error("sealed value is too short to be an AES-GCM ciphertext")]
    Truncated,
    #[error(
        "sealed value does not open under this master key (wrong key, or data moved between records)"
    )]
    WrongKey,
}

/// The 256-bit key every private key at rest is sealed under, with its version.
///
/// The version is part of every value's associated data (from version 2 on; version 1, the
/// first key of every database, seals with the bare record binding, as certkeeper always
/// did), so a value is bound to its record, its kind and the key generation that sealed it.
/// `certkeeper keys rotate` moves a database from one version to the next.
pub struct MasterKey {
    key: LessSafeKey,
    bytes: Zeroizing<[u8; 32]>,
    version: u32,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn generate() -> Result<Self, SealError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| SealError::Random)?;
        Self::from_bytes(*bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, SealError> {
        let bytes = Zeroizing::new(bytes);
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes.as_ref()).map_err(|_| SealError::BadMasterKey)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            bytes,
            version: 1,
        })
    }

    /// The same key as generation `version` (≥ 1) of the database's master key.
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version.max(1);
        self
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// The associated data actually used: the record binding, plus the key version after 1.
    fn bound(&self, aad: &[u8]) -> Vec<u8> {
        let mut out = aad.to_vec();
        if self.version > 1 {
            out.extend_from_slice(format!("|key-version:{}", self.version).as_bytes());
        }
        out
    }

    /// Reads the key file's text form: 64 hex digits, surrounding white space ignored.
    pub fn from_hex(text: &str) -> Result<Self, SealError> {
        let raw = Zeroizing::new(hex::decode(text.trim()).map_err(|_| SealError::BadMasterKey)?);
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| SealError::BadMasterKey)?;
        Self::from_bytes(bytes)
    }

    /// The key file's text form.
    /// A secret for another purpose (`label`), derived so that every node holding this master
    /// key derives the same one and none of them reveals the master key: HMAC-SHA256(key, label).
    pub fn derive(&self, label: &str) -> Zeroizing<Vec<u8>> {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.bytes.as_ref());
        Zeroizing::new(ring::hmac::sign(&key, label.as_bytes()).as_ref().to_vec())
    }

    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.as_ref()))
    }

    /// Encrypts `plaintext`, bound to `aad`. Output: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let mut body = out.split_off(NONCE_LEN);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.bound(aad)),
                &mut body,
            )
            .map_err(|_| SealError::Random)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decrypts what [`MasterKey::seal`] produced with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Truncated);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Truncated)?;
        let mut buf = Zeroizing::new(body.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(self.bound(aad)), buf.as_mut_slice())
            .map_err(|_| SealError::WrongKey)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = MasterKey::generate().unwrap();
        let sealed = k.seal(b"certificate:1", b"secret").unwrap();
        assert_eq!(
            k.open(b"certificate:1", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert_eq!(k.open(b"certificate:2", &sealed), Err(SealError::WrongKey));
        let other = MasterKey::generate().unwrap();
        assert_eq!(
            other.open(b"certificate:1", &sealed),
            Err(SealError::WrongKey)
        );
        assert_eq!(k.open(b"x", &sealed[..10]), Err(SealError::Truncated));
        // Two seals of the same plaintext differ (fresh nonce).
        assert_ne!(sealed, k.seal(b"certificate:1", b"secret").unwrap());
    }

    #[test]
    fn the_key_version_is_bound() {
        let bytes = [7u8; 32];
        let v1 = MasterKey::from_bytes(bytes).unwrap();
        let v2 = MasterKey::from_bytes(bytes).unwrap().with_version(2);
        let sealed = v2.seal(b"certificate:1", b"secret").unwrap();
        assert_eq!(
            v2.open(b"certificate:1", &sealed).unwrap().as_slice(),
            b"secret"
        );
        // The same key bytes under another version do not open it.
        assert_eq!(v1.open(b"certificate:1", &sealed), Err(SealError::WrongKey));
        let old = v1.seal(b"certificate:1", b"secret").unwrap();
        assert_eq!(v2.open(b"certificate:1", &old), Err(SealError::WrongKey));
    }

    #[test]
    fn hex_round_trip() {
        let k = MasterKey::generate().unwrap();
        let again = MasterKey::from_hex(&k.to_hex()).unwrap();
        let sealed = k.seal(b"a", b"b").unwrap();
        assert_eq!(again.open(b"a", &sealed).unwrap().as_slice(), b"b");
        assert!(MasterKey::from_hex("abcd").is_err());
        assert!(MasterKey::from_hex("zz").is_err());
    }
}
