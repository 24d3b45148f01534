//! API keys: random 256-bit bearer tokens, stored only as their SHA-256.
//!
//! A token looks like `ck_<43 base64url chars>`. Its first [`LOOKUP_PREFIX_LEN`] characters are
//! stored in clear to find the row; the full token is compared by hash in constant time. Argon2
//! would cost ~25 ms per request here and buys nothing for 256-bit random secrets.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const TOKEN_PREFIX: &str = "ck_";
const TOKEN_LEN: usize = 3 + 43;
/// How many leading characters of a token are stored in clear to look it up.
pub const LOOKUP_PREFIX_LEN: usize = 12;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Read only.
    Viewer,
    /// Read and change certificates.
    Operator,
    /// Everything, including keys and projects.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn can_write(self) -> bool {
        self >= Role::Operator
    }

    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?} (expected admin, operator or viewer)"
            )),
        }
    }
}

/// A token as given to its owner once. Never stored.
pub struct ApiKeySecret(Zeroizing<String>);

impl ApiKeySecret {
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let mut raw = Zeroizing::new([0u8; 32]);
        SystemRandom::new().fill(raw.as_mut())?;
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref());
        Ok(Self(Zeroizing::new(format!("{TOKEN_PREFIX}{body}"))))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn lookup_prefix(&self) -> &str {
        &self.0[..LOOKUP_PREFIX_LEN]
    }

    pub fn hash(&self) -> ApiKeyHash {
        ApiKeyHash::of(&self.0)
    }
}

/// SHA-256 of a token.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyHash(pub [u8; 32]);

impl fmt::Debug for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeyHash(..)")
    }
}

impl ApiKeyHash {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Constant-time comparison with a presented token's hash.
    pub fn matches(&self, other: &ApiKeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// A token presented by a client, checked for shape only.
#[derive(Debug, Clone, Copy)]
pub struct PresentedToken<'a>(&'a str);

impl<'a> PresentedToken<'a> {
    /// `None` when the string cannot be a certkeeper token at all.
    pub fn parse(s: &'a str) -> Option<Self> {
        (s.len() == TOKEN_LEN && s.starts_with(TOKEN_PREFIX) && s.is_ascii()).then_some(Self(s))
    }

    pub fn lookup_prefix(&self) -> &'a str {
        &self.0[..LOOKUP_PREFIX_LEN]
    }

    pub fn hash(&self) -> ApiKeyHash {
        ApiKeyHash::of(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_match() {
        let s = ApiKeySecret::generate().unwrap();
        let p = PresentedToken::parse(s.expose()).unwrap();
        assert_eq!(p.lookup_prefix(), s.lookup_prefix());
        assert!(s.hash().matches(&p.hash()));
        let other = ApiKeySecret::generate().unwrap();
        assert!(!other.hash().matches(&p.hash()));
        assert!(PresentedToken::parse("ck_short").is_none());
    }

    #[test]
    fn roles_order() {
        assert!(Role::Admin.can_write() && Role::Operator.can_write() && !Role::Viewer.can_write());
        assert_eq!("ADMIN".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
    }
}

/// An API key as stored (without its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: crate::ids::ApiKeyId,
    pub name: String,
    /// The token's first [`LOOKUP_PREFIX_LEN`] characters, stored in clear: how a person tells
    /// keys apart, and how the audit trail names a key whose authentication failed.
    pub lookup_prefix: String,
    pub role: Role,
    /// May read private keys back (`GET .../private-key`). Off unless granted at creation.
    pub allow_key_export: bool,
    /// When set, the key reaches this project only.
    pub project: Option<crate::ids::ProjectId>,
    /// Collection-level Read grants (Keyfactor's collection permissions). Empty: the role
    /// applies system-wide. Not empty: the key reads these collections' reports and nothing
    /// else.
    pub collections: Vec<crate::ids::CollectionId>,
    pub created_at: time::OffsetDateTime,
    /// After this instant the key no longer authenticates. `None`: it does not expire.
    pub expires_at: Option<time::OffsetDateTime>,
    /// When it was revoked; a revoked key never authenticates again.
    pub revoked_at: Option<time::OffsetDateTime>,
    /// The last request it authenticated, coarsened to [`LAST_USED_RESOLUTION`] so that
    /// using a key is not a database write per request.
    pub last_used_at: Option<time::OffsetDateTime>,
    /// The key that replaced it when it was rotated.
    pub replaced_by: Option<crate::ids::ApiKeyId>,
}

/// How finely a key's last use is recorded: at most one write per key per node per this.
pub const LAST_USED_RESOLUTION: time::Duration = time::Duration::minutes(1);

/// Whether a key authenticates at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    Expired,
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }
}

impl ApiKey {
    /// Revocation wins over expiry: a revoked key reads as revoked for good.
    pub fn state(&self, now: time::OffsetDateTime) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }

    /// Whether its last use should be written now: never recorded, or recorded longer than
    /// [`LAST_USED_RESOLUTION`] ago.
    pub fn last_use_is_stale(&self, now: time::OffsetDateTime) -> bool {
        self.last_used_at
            .is_none_or(|at| now - at >= LAST_USED_RESOLUTION)
    }
}
