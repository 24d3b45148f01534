//! The audit trail: one record for every change, written in the same transaction as the change.

use time::OffsetDateTime;

use crate::ids::ProjectId;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    ProjectCreate,
    ProjectUpdate,
    ApiKeyCreate,
    /// A key was revoked.
    ApiKeyRevoke,
    /// A key was rotated: a successor created with its grants.
    ApiKeyRotate,
    /// A presented credential did not authenticate (recorded under its lookup prefix).
    AuthFailure,
    CertificateImport,
    CertificateUpdateScope,
    CertificateDelete,
    CertificateRevoke,
    CertificateCreate,
    CertificateIssue,
    CertificateReject,
    CertificateCancel,
    PrivateKeyExport,
    CollectionCreate,
    CollectionUpdate,
    CollectionDelete,
    /// A project's lifecycle settings (validation, renewal) changed.
    ProjectSettings,
    /// A certificate was renewed (a new order opened for its names).
    CertificateRenew,
    /// An admin deactivated an ACME account.
    AcmeAccountDeactivate,
    /// Someone signed in to the dashboard with an API key.
    SessionSignIn,
    /// A dashboard session was ended by its user.
    SessionSignOut,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProjectCreate => "project.create",
            Self::ProjectUpdate => "project.update",
            Self::ApiKeyCreate => "apikey.create",
            Self::ApiKeyRevoke => "apikey.revoke",
            Self::ApiKeyRotate => "apikey.rotate",
            Self::AuthFailure => "auth.failure",
            Self::CertificateImport => "certificate.import",
            Self::CertificateUpdateScope => "certificate.update_scope",
            Self::CertificateDelete => "certificate.delete",
            Self::CertificateRevoke => "certificate.revoke",
            Self::CertificateCreate => "certificate.create",
            Self::CertificateIssue => "certificate.issue",
            Self::CertificateReject => "certificate.reject",
            Self::CertificateCancel => "certificate.cancel",
            Self::PrivateKeyExport => "certificate.private_key_export",
            Self::CollectionCreate => "collection.create",
            Self::CollectionUpdate => "collection.update",
            Self::CollectionDelete => "collection.delete",
            Self::ProjectSettings => "project.settings",
            Self::CertificateRenew => "certificate.renew",
            Self::AcmeAccountDeactivate => "acme.account_deactivate",
            Self::SessionSignIn => "session.sign_in",
            Self::SessionSignOut => "session.sign_out",
        }
    }
}

/// Who did it: an API key (by id and name) or a local operator at the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    ApiKey {
        id: i64,
        name: String,
    },
    Cli,
    System,
    /// An ACME client, by its account id.
    AcmeAccount {
        id: String,
    },
}

impl Actor {
    /// The stored form: `apikey:<id>:<name>`, `cli` or `system`.
    pub fn label(&self) -> String {
        match self {
            Actor::ApiKey { id, name } => format!("apikey:{id}:{name}"),
            Actor::Cli => "cli".into(),
            Actor::System => "system".into(),
            Actor::AcmeAccount { id } => format!("acme:{id}"),
        }
    }
}

/// One audit record to write.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub at: OffsetDateTime,
    pub actor: Actor,
    pub action: AuditAction,
    pub project: Option<ProjectId>,
    /// e.g. `certificate:42`.
    pub target: String,
    /// A small JSON object with the facts of the change.
    pub detail: String,
}

/// One audit record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub project: Option<ProjectId>,
    pub target: String,
    pub detail: String,
}
