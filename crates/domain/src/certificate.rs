//! Certificate records: what certkeeper knows about one certificate it holds.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::ids::{CertificateId, ContainerId, ProjectId, SslCertificateId};

/// Who may see a certificate. The integer values are the wire's `scopeId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Visible in its own project only.
    Project,
    /// Visible (read-only) in every project; changed only by its own project.
    Organization,
}

impl Scope {
    /// Every scope, in `scopeId` order: the wire's `scopeOptions`.
    pub const ALL: [Scope; 2] = [Scope::Project, Scope::Organization];

    pub fn id(self) -> i64 {
        match self {
            Scope::Project => 0,
            Scope::Organization => 1,
        }
    }

    pub fn from_id(id: i64) -> Option<Self> {
        match id {
            0 => Some(Scope::Project),
            1 => Some(Scope::Organization),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scope::Project => "Project",
            Scope::Organization => "Organization",
        }
    }
}

/// How the certificate came into certkeeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateType {
    Imported,
    Issued,
}

impl CertificateType {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateType::Imported => "Imported",
            CertificateType::Issued => "Issued",
        }
    }
}

impl fmt::Display for CertificateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CertificateType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Imported" => Ok(Self::Imported),
            "Issued" => Ok(Self::Issued),
            other => Err(format!("unknown certificate type {other:?}")),
        }
    }
}

/// A certificate's validity at one instant. Derived from its dates when read, never stored,
/// so that it cannot go stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStatus {
    Active,
    Expired,
    NotYetValid,
}

impl CertificateStatus {
    /// The status at `now`: valid on `[not_before, not_after]`, both ends included (RFC 5280).
    pub fn at(now: OffsetDateTime, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Self {
        if now < not_before {
            Self::NotYetValid
        } else if now > not_after {
            Self::Expired
        } else {
            Self::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Expired => "Expired",
            Self::NotYetValid => "NotYetValid",
        }
    }
}

/// The facts read from an X.509 certificate that the inventory shows and queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    /// The first DNS SAN, else the subject CN, else empty.
    pub domain_name: String,
    /// The other SANs (DNS names and IP addresses), in certificate order.
    pub additional_names: Vec<String>,
    /// `RSA 2048`, `ECDSA P-256`, `Ed25519`, ...
    pub public_key_info: String,
    /// OpenSSL's name for the signature algorithm, e.g. `ecdsa-with-SHA256`.
    pub signature_algorithm: String,
    /// Issuer DN, RFC 4514.
    pub issuer: String,
    /// Subject DN, RFC 4514.
    pub subject: String,
    /// Upper-case hex, no leading zero bytes.
    pub serial_number: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Lower-case hex SHA-256 of the DER: how certkeeper recognises the same certificate.
    pub fingerprint_sha256: String,
}

/// A certificate as the inventory holds it (never with its private key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    pub id: CertificateId,
    pub ssl_certificate_id: SslCertificateId,
    pub project_id: ProjectId,
    pub container_id: ContainerId,
    pub scope: Scope,
    pub certificate_type: CertificateType,
    pub summary: CertificateSummary,
    pub created_at: OffsetDateTime,
    pub last_modified: OffsetDateTime,
}

impl CertificateRecord {
    pub fn status_at(&self, now: OffsetDateTime) -> CertificateStatus {
        CertificateStatus::at(now, self.summary.not_before, self.summary.not_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn status_edges_are_inclusive() {
        let nb = datetime!(2025-01-01 0:00 UTC);
        let na = datetime!(2025-02-01 0:00 UTC);
        assert_eq!(CertificateStatus::at(nb, nb, na), CertificateStatus::Active);
        assert_eq!(CertificateStatus::at(na, nb, na), CertificateStatus::Active);
        assert_eq!(
            CertificateStatus::at(nb - time::Duration::SECOND, nb, na),
            CertificateStatus::NotYetValid
        );
        assert_eq!(
            CertificateStatus::at(na + time::Duration::SECOND, nb, na),
            CertificateStatus::Expired
        );
    }

    #[test]
    fn scope_ids_round_trip() {
        for s in Scope::ALL {
            assert_eq!(Scope::from_id(s.id()), Some(s));
        }
        assert_eq!(Scope::from_id(2), None);
        assert_eq!(Scope::from_id(-1), None);
    }
}
