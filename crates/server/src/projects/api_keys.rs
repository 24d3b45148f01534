//! API keys over HTTP (`/api/v1/api-keys`): create with an expiry, list, revoke, rotate. Admin
//! keys that reach every project only; the rules are in the core, shared with the CLI.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use certkeeper_core::admin::{CreatedApiKey, KeySpec};
use certkeeper_domain::apikey::{ApiKey, Role};
use certkeeper_domain::ids::{ApiKeyId, CollectionId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::error::{ApiError, Body, Caller, OptionalBody};
use super::wire::{Envelope, ErrorEnvelope, wire_date};
use crate::AppState;

type ApiResult<T> = Result<Json<Envelope<T>>, ApiError>;

/// A key as listed: its grants and lifecycle, never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: i64,
    pub name: String,
    /// The token's first 12 characters, stored in clear (failed authentications are audited
    /// under it).
    pub prefix: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
    /// The one project the key reaches; `null` for every project.
    pub project_id: Option<uuid::Uuid>,
    pub allow_key_export: bool,
    /// Collection-level Read grants; empty for none.
    pub collections: Vec<i64>,
    /// `active`, `expired` or `revoked`.
    pub state: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// Coarsened to a minute.
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The key that replaced it when it was rotated.
    pub replaced_by: Option<i64>,
}

impl ApiKeyView {
    pub fn new(k: &ApiKey, now: OffsetDateTime) -> Self {
        Self {
            id: k.id.0,
            name: k.name.clone(),
            prefix: k.lookup_prefix.clone(),
            role: k.role.as_str().into(),
            project_id: k.project.map(|p| p.0),
            allow_key_export: k.allow_key_export,
            collections: k.collections.iter().map(|c| c.0).collect(),
            state: k.state(now).as_str().into(),
            created_at: wire_date(k.created_at),
            expires_at: k.expires_at.map(wire_date),
            last_used_at: k.last_used_at.map(wire_date),
            revoked_at: k.revoked_at.map(wire_date),
            replaced_by: k.replaced_by.map(|r| r.0),
        }
    }
}

/// A new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    #[schema(schema_with = crate::spec::role, example = "viewer")]
    pub role: String,
    /// Limit the key to one project.
    pub project_id: Option<uuid::Uuid>,
    #[serde(default)]
    pub allow_key_export: bool,
    /// Collection-level Read grants.
    #[serde(default)]
    pub collections: Vec<i64>,
    /// RFC 3339; after it the key no longer authenticates. Absent: it does not expire.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// A key just made, with its secret: shown this once, stored only as a hash.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKeyView {
    pub api_key: ApiKeyView,
    pub secret: String,
    /// After a rotation: the old key as it now stands (working until its `expiresAt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<ApiKeyView>,
}

impl CreatedApiKeyView {
    fn new(created: &CreatedApiKey, previous: Option<&ApiKey>, now: OffsetDateTime) -> Self {
        Self {
            api_key: ApiKeyView::new(&created.key, now),
            secret: created.secret.expose().to_string(),
            previous: previous.map(|p| ApiKeyView::new(p, now)),
        }
    }
}

/// How to rotate.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateApiKeyRequest {
    /// How long the old key keeps working beside the new one (default 86400, at most
    /// 2592000; 0 ends it now).
    #[schema(minimum = 0, maximum = 2592000)]
    pub overlap_seconds: Option<i64>,
    /// The new key's expiry (RFC 3339); absent: the old key's.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// The default overlap of a rotation: a day for clients to pick up the new secret.
const DEFAULT_OVERLAP_SECONDS: i64 = 86_400;

fn parse_time(field: &str, v: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    v.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339).map_err(|_| {
            ApiError::bad_request(format!(
                "{field} must be an RFC 3339 date-time such as 2027-01-31T00:00:00Z, got {t:?}"
            ))
        })
    })
    .transpose()
}

/// `{id}` of a key.
pub(crate) struct KeyPath(ApiKeyId);

impl FromRequestParts<AppState> for KeyPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        match raw.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(Self(ApiKeyId(n))),
            _ => Err(ApiError::bad_request(format!(
                "id must be a positive integer, got {raw:?}"
            ))),
        }
    }
}

/// List every API key, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    tag = "API keys",
    responses(
        (status = 200, description = "The keys, without secrets", body = Envelope<Vec<ApiKeyView>>),
        (status = 401, description = "No, unknown, expired or revoked API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key that reaches every project", body = ErrorEnvelope),
        (status = 429, description = "Too many requests for this key (Retry-After)", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_api_keys(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Vec<ApiKeyView>> {
    let keys = state.core.api_keys(Some(&who)).await?;
    let now = state.core.now();
    Ok(Json(Envelope::ok(
        keys.iter().map(|k| ApiKeyView::new(k, now)).collect(),
        None,
    )))
}

/// Create an API key; its secret is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    tag = "API keys",
    request_body = CreateApiKeyRequest,
    responses(
        (status = 200, description = "Created; the secret is shown this once", body = Envelope<CreatedApiKeyView>),
        (status = 400, description = "A field is missing or wrong (named), or the expiry is past", body = ErrorEnvelope),
        (status = 401, description = "No, unknown, expired or revoked API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key that reaches every project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or collection", body = ErrorEnvelope),
        (status = 413, description = "The body is over 1 MiB", body = ErrorEnvelope),
        (status = 429, description = "Too many requests for this key (Retry-After)", body = ErrorEnvelope),
    )
)]
pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    Caller(who): Caller,
    Body(body): Body<CreateApiKeyRequest>,
) -> ApiResult<CreatedApiKeyView> {
    let role: Role = body.role.parse().map_err(ApiError::bad_request)?;
    let expires_at = parse_time("expiresAt", body.expires_at.as_deref())?;
    let spec = KeySpec {
        name: body.name,
        role,
        project: None,
        allow_key_export: body.allow_key_export,
        collections: body.collections.into_iter().map(CollectionId).collect(),
        expires_at,
    };
    let project = body.project_id.map(certkeeper_domain::ids::ProjectId);
    let created = state.core.create_api_key_as(&who, project, spec).await?;
    Ok(Json(Envelope::ok(
        CreatedApiKeyView::new(&created, None, state.core.now()),
        Some("API key created; store its secret now, it is not shown again."),
    )))
}

/// One API key.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys/{id}",
    tag = "API keys",
    params(("id" = i64, Path, minimum = 1, description = "The key's id")),
    responses(
        (status = 200, description = "The key, without its secret", body = Envelope<ApiKeyView>),
        (status = 400, description = "id is not a positive integer", body = ErrorEnvelope),
        (status = 401, description = "No, unknown, expired or revoked API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key that reaches every project", body = ErrorEnvelope),
        (status = 404, description = "Unknown key", body = ErrorEnvelope),
        (status = 429, description = "Too many requests for this key (Retry-After)", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_api_key(
    State(state): State<AppState>,
    Caller(who): Caller,
    KeyPath(id): KeyPath,
) -> ApiResult<ApiKeyView> {
    let key = state.core.api_key(Some(&who), id).await?;
    Ok(Json(Envelope::ok(
        ApiKeyView::new(&key, state.core.now()),
        None,
    )))
}

/// Revoke an API key: it stops working on this node at once, on every node within 10 s.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys/{id}/revoke",
    tag = "API keys",
    params(("id" = i64, Path, minimum = 1, description = "The key's id")),
    responses(
        (status = 200, description = "The revoked key (revoking it again changes nothing)", body = Envelope<ApiKeyView>),
        (status = 400, description = "id is not a positive integer", body = ErrorEnvelope),
        (status = 401, description = "No, unknown, expired or revoked API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key that reaches every project", body = ErrorEnvelope),
        (status = 404, description = "Unknown key", body = ErrorEnvelope),
        (status = 429, description = "Too many requests for this key (Retry-After)", body = ErrorEnvelope),
    )
)]
pub(crate) async fn revoke_api_key(
    State(state): State<AppState>,
    Caller(who): Caller,
    KeyPath(id): KeyPath,
) -> ApiResult<ApiKeyView> {
    let key = state.core.revoke_api_key(Some(&who), id).await?;
    Ok(Json(Envelope::ok(
        ApiKeyView::new(&key, state.core.now()),
        Some("API key revoked."),
    )))
}

/// Rotate an API key: a new secret with the same grants; the old one keeps working for the
/// overlap, then expires.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys/{id}/rotate",
    tag = "API keys",
    params(("id" = i64, Path, minimum = 1, description = "The key's id")),
    request_body(content = Option<RotateApiKeyRequest>, description = "Optional; an empty body takes the defaults"),
    responses(
        (status = 200, description = "The new key with its secret (shown this once) and the old key", body = Envelope<CreatedApiKeyView>),
        (status = 400, description = "A field is wrong (named)", body = ErrorEnvelope),
        (status = 401, description = "No, unknown, expired or revoked API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key that reaches every project", body = ErrorEnvelope),
        (status = 404, description = "Unknown key", body = ErrorEnvelope),
        (status = 409, description = "The key was already rotated, or is revoked or expired", body = ErrorEnvelope),
        (status = 413, description = "The body is over 1 MiB", body = ErrorEnvelope),
        (status = 429, description = "Too many requests for this key (Retry-After)", body = ErrorEnvelope),
    )
)]
pub(crate) async fn rotate_api_key(
    State(state): State<AppState>,
    Caller(who): Caller,
    KeyPath(id): KeyPath,
    OptionalBody(body): OptionalBody<RotateApiKeyRequest>,
) -> ApiResult<CreatedApiKeyView> {
    let overlap = time::Duration::seconds(body.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS));
    let expires_at = parse_time("expiresAt", body.expires_at.as_deref())?;
    let rotated = state
        .core
        .rotate_api_key(Some(&who), id, overlap, expires_at)
        .await?;
    Ok(Json(Envelope::ok(
        CreatedApiKeyView::new(&rotated.created, Some(&rotated.previous), state.core.now()),
        Some("API key rotated; store the new secret now, it is not shown again."),
    )))
}
