//! Certificate records: what certkeeper knows about one certificate it holds.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::ids::{CertificateId, ContainerId, OrderId, ProjectId, SslCertificateId};
use crate::order::OrderStatus;

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
    /// Created; its order waits for DNS validation.
    Pending,
    /// Created; its order was refused or expired.
    Rejected,
    /// Created; its order was canceled before issuance.
    Canceled,
    /// Issued by certkeeper's CA, then revoked (whatever its dates say).
    Revoked,
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
            Self::Pending => "Pending",
            Self::Rejected => "Rejected",
            Self::Canceled => "Canceled",
            Self::Revoked => "Revoked",
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
    /// The subject's common name, if it has one (Keyfactor's `IssuedCN`).
    pub common_name: Option<String>,
    /// Upper-case hex SHA-1 of the DER (Keyfactor's and DigiCert's `Thumbprint`). Empty for
    /// a certificate stored before thumbprints were kept, until the backfill reaches it.
    pub thumbprint_sha1: String,
}

impl CertificateSummary {
    /// The key's algorithm (`RSA`, `ECDSA`, `Ed25519`, `Ed448`) and size in bits (ECDSA: the
    /// curve's; Ed25519: 256; Ed448: 456), read from [`Self::public_key_info`].
    pub fn key_type_and_size(&self) -> (Option<&str>, Option<i64>) {
        key_type_and_size(&self.public_key_info)
    }
}

/// See [`CertificateSummary::key_type_and_size`].
pub fn key_type_and_size(public_key_info: &str) -> (Option<&str>, Option<i64>) {
    if let Some(bits) = public_key_info.strip_prefix("RSA ") {
        (Some("RSA"), bits.parse().ok())
    } else if let Some(curve) = public_key_info.strip_prefix("ECDSA ") {
        (
            Some("ECDSA"),
            curve.strip_prefix("P-").and_then(|b| b.parse().ok()),
        )
    } else {
        match public_key_info {
            "Ed25519" => (Some("Ed25519"), Some(256)),
            "Ed448" => (Some("Ed448"), Some(456)),
            "" => (None, None),
            other => (Some(other), None),
        }
    }
}

/// A DNS-01 record to publish for one requested name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsChallenge {
    /// The name being proved (may be a wildcard).
    pub name: String,
    /// The TXT record's owner, `_acme-challenge.<base name>`.
    pub record: String,
    /// The TXT value.
    pub value: String,
}

/// The order behind a created certificate, as a record shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    pub id: OrderId,
    pub status: OrderStatus,
    pub challenges: Vec<DnsChallenge>,
    /// Why the order was rejected, if it was.
    pub problem: Option<String>,
}

/// What the record holds besides its names: the certificate, or (for a created one not yet
/// issued) only its order. An issued created certificate has both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateContent {
    /// Imported: the certificate, no order.
    Imported(CertificateSummary),
    /// Created and not issued: the order only.
    Ordered(OrderView),
    /// Created and issued: the certificate and its order.
    Issued(CertificateSummary, OrderView),
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
    /// The primary name (the certificate's first DNS SAN, or the first name asked for).
    pub domain_name: String,
    pub additional_names: Vec<String>,
    pub content: CertificateContent,
    pub created_at: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    pub lineage: Lineage,
}

/// Where a certificate sits in its renewal chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The certificate this one renewed.
    pub renewed_from: Option<CertificateId>,
    /// The certificate that renewed this one, once issued.
    pub renewed_by: Option<CertificateId>,
    /// When this certificate's renewal job is due, if one is scheduled.
    pub renew_after: Option<OffsetDateTime>,
}

impl CertificateRecord {
    /// The certificate's facts, once there is a certificate.
    pub fn summary(&self) -> Option<&CertificateSummary> {
        match &self.content {
            CertificateContent::Imported(s) | CertificateContent::Issued(s, _) => Some(s),
            CertificateContent::Ordered(_) => None,
        }
    }

    pub fn order(&self) -> Option<&OrderView> {
        match &self.content {
            CertificateContent::Ordered(o) | CertificateContent::Issued(_, o) => Some(o),
            CertificateContent::Imported(_) => None,
        }
    }

    pub fn status_at(&self, now: OffsetDateTime) -> CertificateStatus {
        match &self.content {
            CertificateContent::Issued(_, o) if o.status == OrderStatus::Revoked => {
                CertificateStatus::Revoked
            }
            CertificateContent::Imported(s) | CertificateContent::Issued(s, _) => {
                CertificateStatus::at(now, s.not_before, s.not_after)
            }
            CertificateContent::Ordered(o) => match o.status {
                OrderStatus::Rejected => CertificateStatus::Rejected,
                OrderStatus::Canceled => CertificateStatus::Canceled,
                OrderStatus::Pending | OrderStatus::Issued | OrderStatus::Revoked => {
                    CertificateStatus::Pending
                }
            },
        }
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
