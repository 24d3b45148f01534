//! DigiCert's error shape and the extractor that produces it.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use certkeeper_core::{CoreError, Principal};

use super::wire::{DcErrorBody, DcErrorItem};
use crate::AppState;

/// An error as DigiCert reports it: a status, a machine code and a message.
#[derive(Debug)]
pub struct DcError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl DcError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400 for a query parameter, coded `invalid_param|<name>`.
    pub fn invalid_param(name: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("invalid_param|{name}"),
            message,
        )
    }
}

impl From<CoreError> for DcError {
    fn from(e: CoreError) -> Self {
        let (status, code) = match &e {
            CoreError::Unauthenticated => (StatusCode::UNAUTHORIZED, "invalid_api_key".to_string()),
            CoreError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "access_denied|missing_permission".to_string(),
            ),
            CoreError::NotFound(m) if m.starts_with("container") => {
                (StatusCode::NOT_FOUND, "not_found|container".to_string())
            }
            CoreError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found".to_string()),
            CoreError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request".to_string()),
            CoreError::Conflict { .. } => (StatusCode::CONFLICT, "conflict".to_string()),
            CoreError::Store(_) | CoreError::Internal(_) => {
                tracing::error!(error = %e, "request failed");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "An error occurred while processing your request.",
                );
            }
        };
        Self::new(status, code, e.to_string())
    }
}

impl IntoResponse for DcError {
    fn into_response(self) -> Response {
        let body = DcErrorBody {
            errors: vec![DcErrorItem {
                code: self.code,
                message: self.message,
            }],
        };
        (self.status, Json(body)).into_response()
    }
}

/// The authenticated caller (DigiCert clients send `X-DC-DEVKEY`; every form is accepted).
pub(crate) struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = DcError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = crate::auth::presented_key(&parts.headers).ok_or(CoreError::Unauthenticated)?;
        Ok(Caller(state.core.authenticate(&key).await?))
    }
}
