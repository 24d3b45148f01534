//! This surface's one error type, and the request extractors that produce it.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use certkeeper_core::{CoreError, Principal};
use certkeeper_domain::ids::{CertificateId, ProjectId};
use serde::de::DeserializeOwned;

use super::wire::ErrorEnvelope;
use crate::AppState;

/// An error as this surface reports it: a status and the envelope with the reason.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<CoreError> for ApiError {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(ErrorEnvelope::error(self.message))).into_response();
        crate::auth::add_retry_after(&mut response);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"certkeeper\""),
            );
        }
        response
    }
}

/// The authenticated caller.
pub(crate) struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller(crate::auth::caller(&parts.headers, state).await?))
    }
}

/// `{projectId}`.
pub(crate) struct ProjectPath(pub ProjectId);

/// `{projectId}` and `{id}`.
pub(crate) struct CertificatePath(pub ProjectId, pub CertificateId);

fn project_id(raw: &str) -> Result<ProjectId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("projectId must be a UUID, got {raw:?}")))
}

fn certificate_id(raw: &str) -> Result<CertificateId, ApiError> {
    match raw.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(CertificateId(n)),
        _ => Err(ApiError::bad_request(format!(
            "id must be a non-negative integer, got {raw:?}"
        ))),
    }
}

impl FromRequestParts<AppState> for ProjectPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        Ok(Self(project_id(&raw)?))
    }
}

impl FromRequestParts<AppState> for CertificatePath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path((p, c)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        Ok(Self(project_id(&p)?, certificate_id(&c)?))
    }
}

/// A JSON body; failures in the envelope shape.
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        crate::extract::json_body(req, state)
            .await
            .map(Body)
            .map_err(|e| ApiError::new(e.status, e.message))
    }
}

/// [`Body`] where an empty body stands for `T::default()`.
pub struct OptionalBody<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        crate::extract::json_body_or_default(req, state)
            .await
            .map(OptionalBody)
            .map_err(|e| ApiError::new(e.status, e.message))
    }
}
