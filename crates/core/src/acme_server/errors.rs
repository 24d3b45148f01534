//! The ACME server's one error type: an RFC 7807 problem with its ACME type, HTTP status and
//! per-identifier subproblems. Every failure below the face ends up here, mapped once.

use certkeeper_acme::csr::CsrError;
use certkeeper_acme::jws::JwsError;
use certkeeper_acme::problem::ProblemType;
use certkeeper_store::StoreError;

use crate::CoreError;

/// One identifier's own problem inside a compound one (RFC 8555 §6.7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subproblem {
    pub problem: ProblemType,
    pub detail: String,
    /// The DNS name it concerns.
    pub identifier: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct AcmeError {
    pub problem: ProblemType,
    pub detail: String,
    pub status: u16,
    pub subproblems: Vec<Subproblem>,
    /// A `Location` to send with the problem (keyChange's conflict names the key's account).
    pub location: Option<String>,
}

impl AcmeError {
    pub fn new(problem: ProblemType, status: u16, detail: impl Into<String>) -> Self {
        Self {
            problem,
            detail: detail.into(),
            status,
            subproblems: Vec::new(),
            location: None,
        }
    }
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Malformed, 400, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Unauthorized, 403, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Malformed, 404, detail)
    }
    pub fn bad_nonce(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::BadNonce, 400, detail)
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::ServerInternal, 500, detail)
    }
}

impl From<JwsError> for AcmeError {
    fn from(e: JwsError) -> Self {
        let status = if matches!(e, JwsError::Signature) {
            403
        } else {
            400
        };
        let problem = if matches!(e, JwsError::Signature) {
            ProblemType::Unauthorized
        } else {
            e.problem()
        };
        Self::new(problem, status, e.to_string())
    }
}

impl From<CsrError> for AcmeError {
    fn from(e: CsrError) -> Self {
        Self::new(ProblemType::BadCsr, 400, e.to_string())
    }
}

impl From<StoreError> for AcmeError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "ACME request failed in the store");
        Self::internal("the server could not complete this request; try again")
    }
}

impl From<CoreError> for AcmeError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(m) => Self::malformed(m),
            CoreError::NotFound(m) => Self::not_found(m),
            CoreError::Forbidden(m) => Self::unauthorized(m),
            other => {
                tracing::error!(error = %other, "ACME request failed");
                Self::internal("the server could not complete this request; try again")
            }
        }
    }
}
