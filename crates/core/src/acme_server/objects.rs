//! ACME objects as the core hands them to the face: read from store rows, statuses computed
//! at the given instant (an order is `ready` when all its authorizations are valid; a pending
//! authorization past its expiry is `expired`).

use certkeeper_acme::jwk::Jwk;
use certkeeper_domain::ids::{CertificateId, ContainerId};
use certkeeper_store::{AcmeAccountRow, AcmeAuthzRow, AcmeOrderRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::AcmeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Valid,
    Deactivated,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Deactivated => "deactivated",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub container_id: ContainerId,
    pub jwk: Jwk,
    pub contacts: Vec<String>,
    pub status: AccountStatus,
    pub created_at: OffsetDateTime,
}

impl TryFrom<AcmeAccountRow> for Account {
    type Error = AcmeError;
    fn try_from(row: AcmeAccountRow) -> Result<Self, AcmeError> {
        let corrupt =
            |what: &str| AcmeError::internal(format!("stored ACME account {what} is unreadable"));
        let jwk_json: Value = serde_json::from_str(&row.jwk).map_err(|_| corrupt("key"))?;
        Ok(Self {
            jwk: Jwk::from_json(&jwk_json).map_err(|_| corrupt("key"))?,
            contacts: serde_json::from_str(&row.contacts).map_err(|_| corrupt("contacts"))?,
            status: match row.status.as_str() {
                "valid" => AccountStatus::Valid,
                _ => AccountStatus::Deactivated,
            },
            id: row.id,
            container_id: row.container_id,
            created_at: row.created_at,
        })
    }
}

/// `{"type": "dns", "value": "..."}`; a wildcard keeps its `*.` here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// One challenge, as stored in its authorization's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    #[serde(rename = "type")]
    pub kind: String,
    pub token: String,
    /// pending, processing, valid, invalid
    pub status: String,
    /// When it was validated, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated_ms: Option<i64>,
    /// The problem document of a failed validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Authorization {
    pub id: String,
    pub account_id: String,
    /// The name without `*.`.
    pub identifier: String,
    pub wildcard: bool,
    /// As stored; see [`Authorization::status_at`].
    pub stored_status: String,
    pub expires_at: OffsetDateTime,
    pub challenges: Vec<Challenge>,
}

impl Authorization {
    pub fn status_at(&self, now: OffsetDateTime) -> &str {
        if self.stored_status == "pending" && self.expires_at <= now {
            "expired"
        } else {
            &self.stored_status
        }
    }

    pub(crate) fn to_row(
        &self,
        container_id: ContainerId,
        created_at: OffsetDateTime,
    ) -> AcmeAuthzRow {
        AcmeAuthzRow {
            id: self.id.clone(),
            container_id,
            account_id: self.account_id.clone(),
            identifier: self.identifier.clone(),
            wildcard: self.wildcard,
            status: self.stored_status.clone(),
            expires_at: self.expires_at,
            challenges: serde_json::to_string(&self.challenges).unwrap_or_else(|_| "[]".into()),
            created_at,
        }
    }
}

impl TryFrom<AcmeAuthzRow> for Authorization {
    type Error = AcmeError;
    fn try_from(row: AcmeAuthzRow) -> Result<Self, AcmeError> {
        Ok(Self {
            challenges: serde_json::from_str(&row.challenges)
                .map_err(|_| AcmeError::internal("stored ACME challenges are unreadable"))?,
            id: row.id,
            account_id: row.account_id,
            identifier: row.identifier,
            wildcard: row.wildcard,
            stored_status: row.status,
            expires_at: row.expires_at,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: String,
    pub account_id: String,
    /// pending, ready, processing, valid, invalid: computed from the stored status and the
    /// authorizations.
    pub status: String,
    pub identifiers: Vec<Identifier>,
    pub authorizations: Vec<String>,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    pub error: Option<Value>,
    pub certificate_id: Option<CertificateId>,
    /// The ARI certificate identifier this order replaces.
    pub replaces: Option<String>,
}

impl Order {
    /// The order from its row and its authorizations, as it stands at `now`.
    pub(crate) fn from_row(
        row: AcmeOrderRow,
        authzs: &[Authorization],
        now: OffsetDateTime,
    ) -> Result<Self, AcmeError> {
        let corrupt = || AcmeError::internal("stored ACME order is unreadable");
        let status = match row.status.as_str() {
            "pending" if row.expires_at <= now => "invalid",
            "pending" => {
                let statuses: Vec<&str> = authzs.iter().map(|a| a.status_at(now)).collect();
                if statuses.iter().any(|s| *s != "valid" && *s != "pending") {
                    "invalid"
                } else if !statuses.is_empty() && statuses.iter().all(|s| *s == "valid") {
                    "ready"
                } else {
                    "pending"
                }
            }
            other => other,
        }
        .to_string();
        Ok(Self {
            id: row.id,
            account_id: row.account_id,
            status,
            identifiers: serde_json::from_str(&row.identifiers).map_err(|_| corrupt())?,
            authorizations: serde_json::from_str(&row.authorizations).map_err(|_| corrupt())?,
            not_before: row.not_before,
            not_after: row.not_after,
            expires_at: row.expires_at,
            error: row
                .error
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| corrupt())?,
            certificate_id: row.certificate_id,
            replaces: row.replaces,
        })
    }
}
