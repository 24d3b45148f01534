//! Keyfactor's error shape, `{"ErrorCode": "0x...", "Message": "..."}`, and the extractors
//! that produce it.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use certkeeper_core::{CoreError, Principal};
use serde::de::DeserializeOwned;

use super::wire::KfErrorBody;
use crate::AppState;

/// An error as Keyfactor reports it. Keyfactor's codes are hexadecimal strings; certkeeper's
/// are one per HTTP status (docs/api.md lists them).
#[derive(Debug)]
pub struct KfError {
    pub status: StatusCode,
    pub message: String,
}

impl KfError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// The `ErrorCode` for a status.
    pub fn code(status: StatusCode) -> &'static str {
        match status.as_u16() {
            400 => "0xA0140001",
            401 => "0xA0140002",
            403 => "0xA0140003",
            404 => "0xA0140004",
            405 => "0xA0140005",
            409 => "0xA0140009",
            413 => "0xA0140013",
            414 => "0xA0140014",
            429 => "0xA0140029",
            _ => "0xA0140000",
        }
    }
}

impl From<CoreError> for KfError {
    fn from(e: CoreError) -> Self {
        match crate::auth::status_of(&e) {
            Some(status) => Self::new(status, e.to_string()),
            None => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; the server log has the details",
            ),
        }
    }
}

impl IntoResponse for KfError {
    fn into_response(self) -> Response {
        let body = KfErrorBody {
            error_code: Self::code(self.status).to_string(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        crate::auth::add_retry_after(&mut response);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"certkeeper\""),
            );
        }
        response
    }
}

/// The authenticated caller.
pub(crate) struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = KfError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller(crate::auth::caller(&parts.headers, state).await?))
    }
}

/// A JSON body; failures in Keyfactor's shape.
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = KfError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        crate::extract::json_body(req, state)
            .await
            .map(Body)
            .map_err(|e| KfError::new(e.status, e.message))
    }
}
