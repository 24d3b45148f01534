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
        let Some(status) = crate::auth::status_of(&e) else {
            return Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "An error occurred while processing your request.",
            );
        };
        let code = match &e {
            CoreError::Unauthenticated => "invalid_api_key",
            CoreError::Forbidden(_) => "access_denied|missing_permission",
            CoreError::NotFound(_) => "not_found",
            CoreError::Conflict { .. } => "conflict",
            CoreError::RateLimited { .. } => "request_limit_exceeded",
            CoreError::Invalid(_) | CoreError::Store(_) | CoreError::Internal(_) => {
                "invalid_request"
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
        let mut response = (self.status, Json(body)).into_response();
        crate::auth::add_retry_after(&mut response);
        response
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
        Ok(Caller(crate::auth::caller(&parts.headers, state).await?))
    }
}
