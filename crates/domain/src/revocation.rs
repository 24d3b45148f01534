//! Why a certificate was revoked: the RFC 5280 §5.3.1 reason codes a subscriber may give.
//!
//! The API names them as DigiCert does (`keyCompromise`, ...); ACME's `revokeCert` sends the
//! numeric code. Only the subscriber's reasons are accepted: `cACompromise`, `certificateHold`,
//! `removeFromCRL`, `privilegeWithdrawn` and `aACompromise` are the CA's own business (and
//! Let's Encrypt refuses them the same way), and 7 is unassigned.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 5] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
        }
    }

    /// The CRLReason code (RFC 5280 §5.3.1).
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
        }
    }

    /// The reason for `code`; `None` for codes a subscriber may not use.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| i64::from(r.code()) == code)
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RevocationReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown revocation reason {s:?}; expected one of {}",
                    Self::ALL.map(RevocationReason::as_str).join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for r in RevocationReason::ALL {
            assert_eq!(r.as_str().parse::<RevocationReason>(), Ok(r));
            assert_eq!(RevocationReason::from_code(i64::from(r.code())), Some(r));
        }
        for refused in [2, 6, 7, 8, 9, 10, -1, 11] {
            assert_eq!(RevocationReason::from_code(refused), None, "{refused}");
        }
        assert!(
            "caCompromise"
                .parse::<RevocationReason>()
                .unwrap_err()
                .contains("keyCompromise")
        );
    }
}
