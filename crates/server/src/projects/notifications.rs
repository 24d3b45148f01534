//! Notification rules of the project API: `…/notifications[/{ruleId}[/deliveries]]`.

use axum::Json;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use certkeeper_core::notifications::RuleView;
use certkeeper_domain::ids::ProjectId;
use certkeeper_domain::notification::{
    Channel as DomainChannel, DEFAULT_EXPIRING_DAYS, Event, Rule,
};
use certkeeper_store::StoredDelivery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, Body, Caller, ProjectPath};
use super::wire::{Envelope, ErrorEnvelope, wire_date};
use crate::AppState;

type ApiResult<T> = Result<Json<Envelope<T>>, ApiError>;

/// Where messages go.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Channel {
    /// A Standard Webhooks receiver. `secret` (`whsec_` + base64) is generated when omitted
    /// and shown once, in the answer that created it; it is never shown again.
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// An e-mail digest through the server's SMTP relay.
    Email { to: Vec<String> },
}

/// A threshold in days before notAfter (0: expired), at most ten years.
#[derive(ToSchema)]
#[schema(value_type = u32, minimum = 0, maximum = 3650)]
#[allow(dead_code)] // only its schema is used
pub struct ExpiringDay(u32);

/// A rule as sent.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleRequest {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// `certificate.expiring`, `certificate.issued`, `certificate.renewed`,
    /// `certificate.renewal_failed`, `order.validation_failed`, `certificate.revoked`.
    #[schema(schema_with = crate::spec::events)]
    pub events: Vec<String>,
    /// Days before notAfter; `0` means expired. Default `[30, 14, 7, 1, 0]`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<ExpiringDay>>)]
    pub expiring_days: Option<Vec<u32>>,
    /// Only certificates of this collection (Keyfactor collection id).
    #[serde(default)]
    pub collection_id: Option<i64>,
    pub channel: Channel,
}

/// A rule as answered.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleResponse {
    pub id: i64,
    pub project_id: uuid::Uuid,
    pub name: String,
    pub events: Vec<String>,
    pub expiring_days: Vec<u32>,
    pub collection_id: Option<i64>,
    pub channel: Channel,
    /// Why the rule stopped sending (a 410 from its receiver); null while enabled.
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One delivery and its last attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: i64,
    /// The `webhook-id` header, the same on every attempt.
    pub message_id: String,
    pub event: String,
    /// `pending`, `delivered`, `failed` (gave up after 3 days) or `disabled`.
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// At most this many, newest first (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// `{projectId}` and `{ruleId}`.
pub(crate) struct RulePath(pub ProjectId, pub i64);

impl FromRequestParts<AppState> for RulePath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path((p, r)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let project = p
            .parse()
            .map_err(|_| ApiError::bad_request(format!("projectId must be a UUID, got {p:?}")))?;
        let rule = r.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad_request(format!("ruleId must be a positive integer, got {r:?}"))
        })?;
        Ok(Self(project, rule))
    }
}

impl RuleRequest {
    pub fn into_domain(self) -> Result<Rule, ApiError> {
        let events = self
            .events
            .iter()
            .map(|e| e.parse::<Event>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::bad_request(format!("events: {e}")))?;
        Ok(Rule {
            name: self.name,
            events,
            expiring_days: self
                .expiring_days
                .unwrap_or_else(|| DEFAULT_EXPIRING_DAYS.to_vec()),
            collection_id: self.collection_id,
            channel: match self.channel {
                Channel::Webhook { url, secret } => DomainChannel::Webhook {
                    url,
                    secret: secret.unwrap_or_default(),
                },
                Channel::Email { to } => DomainChannel::Email { to },
            },
        })
    }
}

pub fn rule_response(v: RuleView, secret: Option<String>) -> RuleResponse {
    RuleResponse {
        id: v.id,
        project_id: v.project_id.0,
        name: v.rule.name,
        events: v
            .rule
            .events
            .iter()
            .map(|e| e.as_str().to_string())
            .collect(),
        expiring_days: v.rule.expiring_days,
        collection_id: v.rule.collection_id,
        channel: match v.rule.channel {
            DomainChannel::Webhook { url, .. } => Channel::Webhook { url, secret },
            DomainChannel::Email { to } => Channel::Email { to },
        },
        disabled_reason: v.disabled_reason,
        created_at: wire_date(v.created_at),
        updated_at: wire_date(v.updated_at),
    }
}

fn delivery(d: StoredDelivery) -> Delivery {
    Delivery {
        id: d.id,
        message_id: d.message_id,
        event: d.event,
        state: d.state,
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error,
        created_at: wire_date(d.created_at),
        updated_at: wire_date(d.updated_at),
    }
}

/// Create a notification rule.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{projectId}/notifications",
    tag = "Notifications",
    params(("projectId" = uuid::Uuid, Path, description = "The project's id")),
    request_body = RuleRequest,
    responses(
        (status = 200, description = "Created; a generated webhook secret is shown this once", body = Envelope<RuleResponse>),
        (status = 400, description = "A field is missing or wrong (named); a private webhook target", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Read-only key, or another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
        (status = 409, description = "A rule of that name exists", body = ErrorEnvelope),
    )
)]
pub(crate) async fn create_rule(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
    Body(body): Body<RuleRequest>,
) -> ApiResult<RuleResponse> {
    let (view, secret) = state
        .core
        .create_rule(&who, project, body.into_domain()?)
        .await?;
    Ok(Json(Envelope::ok(
        rule_response(view, secret),
        Some("Notification rule created."),
    )))
}

/// List a project's notification rules.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectId}/notifications",
    tag = "Notifications",
    params(("projectId" = uuid::Uuid, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The rules (no secrets)", body = Envelope<Vec<RuleResponse>>),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_rules(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
) -> ApiResult<Vec<RuleResponse>> {
    let rules = state.core.list_rules(&who, project).await?;
    Ok(Json(Envelope::ok(
        rules.into_iter().map(|r| rule_response(r, None)).collect(),
        None,
    )))
}

/// One notification rule.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectId}/notifications/{ruleId}",
    tag = "Notifications",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("ruleId" = i64, Path, minimum = 1, description = "The rule's id"),
    ),
    responses(
        (status = 200, description = "The rule (no secret)", body = Envelope<RuleResponse>),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or rule", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_rule(
    State(state): State<AppState>,
    Caller(who): Caller,
    RulePath(project, id): RulePath,
) -> ApiResult<RuleResponse> {
    let view = state.core.get_rule(&who, project, id).await?;
    Ok(Json(Envelope::ok(rule_response(view, None), None)))
}

/// Replace a notification rule (a webhook secret left out is kept). Re-enables a disabled rule.
#[utoipa::path(
    put,
    path = "/api/v1/projects/{projectId}/notifications/{ruleId}",
    tag = "Notifications",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("ruleId" = i64, Path, minimum = 1, description = "The rule's id"),
    ),
    request_body = RuleRequest,
    responses(
        (status = 200, description = "Replaced", body = Envelope<RuleResponse>),
        (status = 400, description = "A field is missing or wrong (named)", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Read-only key, or another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or rule", body = ErrorEnvelope),
        (status = 409, description = "Another rule has that name", body = ErrorEnvelope),
    )
)]
pub(crate) async fn update_rule(
    State(state): State<AppState>,
    Caller(who): Caller,
    RulePath(project, id): RulePath,
    Body(body): Body<RuleRequest>,
) -> ApiResult<RuleResponse> {
    let (view, secret) = state
        .core
        .update_rule(&who, project, id, body.into_domain()?)
        .await?;
    Ok(Json(Envelope::ok(
        rule_response(view, secret),
        Some("Notification rule updated."),
    )))
}

/// Delete a notification rule, its deliveries and its marks.
#[utoipa::path(
    delete,
    path = "/api/v1/projects/{projectId}/notifications/{ruleId}",
    tag = "Notifications",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("ruleId" = i64, Path, minimum = 1, description = "The rule's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Read-only key, or another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or rule", body = ErrorEnvelope),
    )
)]
pub(crate) async fn delete_rule(
    State(state): State<AppState>,
    Caller(who): Caller,
    RulePath(project, id): RulePath,
) -> Result<impl IntoResponse, ApiError> {
    state.core.delete_rule(&who, project, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A rule's delivery log, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectId}/notifications/{ruleId}/deliveries",
    tag = "Notifications",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("ruleId" = i64, Path, minimum = 1, description = "The rule's id"),
        DeliveryQuery,
    ),
    responses(
        (status = 200, description = "The deliveries", body = Envelope<Vec<Delivery>>),
        (status = 400, description = "Bad limit", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or rule", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    Caller(who): Caller,
    RulePath(project, id): RulePath,
    RawQuery(raw): RawQuery,
) -> ApiResult<Vec<Delivery>> {
    let q: DeliveryQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("query: {e}")))?;
    let list = state
        .core
        .rule_deliveries(&who, project, id, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(Envelope::ok(
        list.into_iter().map(delivery).collect(),
        None,
    )))
}
