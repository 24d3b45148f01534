//! The project API's view of its ACME accounts: list, and deactivate (admin). Wire shapes here,
//! rules in the core.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use certkeeper_core::acme_server::{Account, Links};
use certkeeper_domain::ids::ProjectId;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, Caller, ProjectPath};
use super::wire::{Envelope, ErrorEnvelope, wire_date};
use crate::AppState;

type ApiResult<T> = Result<Json<Envelope<T>>, ApiError>;

/// An ACME account of the project.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeAccount {
    pub id: String,
    /// The account URL clients use as their `kid`.
    pub url: String,
    /// `valid` or `deactivated`.
    pub status: String,
    pub contact: Vec<String>,
    /// RFC 7638 thumbprint of the account key.
    pub key_thumbprint: String,
    pub created_at: String,
}

impl AcmeAccount {
    pub fn from_account(a: &Account, links: &Links) -> Self {
        Self {
            url: links.account(&a.id),
            id: a.id.clone(),
            status: a.status.as_str().into(),
            contact: a.contacts.clone(),
            key_thumbprint: a.jwk.thumbprint(),
            created_at: wire_date(a.created_at),
        }
    }
}

/// `{projectId}` and `{accountId}`.
pub(crate) struct AccountPath(ProjectId, String);

impl FromRequestParts<AppState> for AccountPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path((p, a)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let project = p
            .parse()
            .map_err(|_| ApiError::bad_request(format!("projectId must be a UUID, got {p:?}")))?;
        Ok(Self(project, a))
    }
}

/// The project's ACME accounts, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectId}/acme/accounts",
    tag = "ACME",
    params(("projectId" = uuid::Uuid, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The accounts", body = Envelope<Vec<AcmeAccount>>),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "A key of another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_acme_accounts(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
) -> ApiResult<Vec<AcmeAccount>> {
    let accounts = state.core.acme_accounts_of(&who, project).await?;
    let links = Links::new(&state.public_url, project);
    Ok(Json(Envelope::ok(
        accounts
            .iter()
            .map(|a| AcmeAccount::from_account(a, &links))
            .collect(),
        None,
    )))
}

/// Deactivate an ACME account (admin keys): it can no longer sign any request.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{projectId}/acme/accounts/{accountId}/deactivate",
    tag = "ACME",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("accountId" = String, Path, description = "The account's id"),
    ),
    responses(
        (status = 200, description = "The deactivated account", body = Envelope<AcmeAccount>),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or account", body = ErrorEnvelope),
    )
)]
pub(crate) async fn deactivate_acme_account(
    State(state): State<AppState>,
    Caller(who): Caller,
    AccountPath(project, id): AccountPath,
) -> ApiResult<AcmeAccount> {
    let account = state
        .core
        .deactivate_acme_account(&who, project, &id)
        .await?;
    let links = Links::new(&state.public_url, project);
    Ok(Json(Envelope::ok(
        AcmeAccount::from_account(&account, &links),
        Some("ACME account deactivated."),
    )))
}
