//! The services' one error type; each API surface maps it to its own wire shape.

use certkeeper_domain::ids::CertificateId;
use certkeeper_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// No credentials, or credentials that match no key.
    #[error("a valid API key is required")]
    Unauthenticated,
    /// The key is valid but may not do this here.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or breaks a rule; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with what is stored.
    #[error("{message}")]
    Conflict {
        message: String,
        existing: Option<CertificateId>,
    },
    /// The key sent more requests than its rate allows; it may try again after `retry_after`.
    #[error("too many requests for this API key; retry after {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: std::time::Duration },
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A failure that is not the caller's doing (key sealing, randomness, ...).
    #[error("{0}")]
    Internal(String),
}

impl CoreError {
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    /// A store error where a uniqueness refusal is the caller's conflict (a name taken), not
    /// a server fault.
    pub(crate) fn conflict_or_store(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(message) => Self::Conflict {
                message,
                existing: None,
            },
            other => other.into(),
        }
    }
}
