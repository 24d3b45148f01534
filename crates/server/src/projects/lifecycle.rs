//! Lifecycle routes of the project API: validation settings (DNS provider, reuse), renewal
//! policy, renewing a certificate, and the jobs list. Wire shapes here, rules in the core.

use axum::Json;
use axum::extract::{RawQuery, State};
use certkeeper_domain::job::{JobKind, JobState};
use certkeeper_domain::lifecycle as domain;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, Body, Caller, CertificatePath, ProjectPath};
use super::wire::{Certificate, Envelope, ErrorEnvelope, wire_date};
use crate::AppState;

type ApiResult<T> = Result<Json<Envelope<T>>, ApiError>;

/// A TSIG algorithm.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum TsigAlgorithm {
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    #[serde(rename = "hmac-sha384")]
    HmacSha384,
    #[serde(rename = "hmac-sha512")]
    HmacSha512,
}

/// Who publishes the DNS-01 records. Secrets (`tsigSecret`, `password`) are accepted on PUT
/// and never returned.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "provider", deny_unknown_fields)]
pub enum DnsProvider {
    /// A person publishes the records and calls validate (the default).
    #[serde(rename = "manual")]
    Manual {},
    /// RFC 2136 dynamic update with TSIG.
    #[serde(rename = "rfc2136", rename_all = "camelCase")]
    Rfc2136 {
        /// `IP:PORT` of the zone's primary.
        #[schema(pattern = r"^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d{1,5}$")]
        server: String,
        #[schema(min_length = 1, max_length = 253)]
        zone: String,
        #[schema(min_length = 1, pattern = r"\S")]
        tsig_key_name: String,
        tsig_algorithm: TsigAlgorithm,
        /// Base64.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tsig_secret: Option<String>,
    },
    /// A script configured on the server (`serve --dns-exec NAME=PATH`), by name.
    #[serde(rename = "exec")]
    Exec {
        #[schema(pattern = r"^[A-Za-z0-9_-]+$")]
        name: String,
    },
    /// joohoi/acme-dns.
    #[serde(rename = "acme-dns", rename_all = "camelCase")]
    AcmeDns {
        #[schema(pattern = r"^https?://")]
        url: String,
        #[schema(min_length = 1)]
        username: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        #[schema(min_length = 1)]
        subdomain: String,
    },
}

/// `PUT/GET …/validation`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidationSettings {
    /// Default `{"provider": "manual"}`.
    #[serde(default)]
    pub dns_provider: Option<DnsProvider>,
    /// Days a validated name is reused (default 30; 0 turns reuse off; at most 398).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 398)]
    pub reuse_days: Option<u32>,
    /// Seconds to wait for every nameserver to serve the records (default 120).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3600)]
    pub propagation_timeout_seconds: Option<u32>,
}

/// `PUT/GET …/renewal`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenewalPolicy {
    /// `auto` or `off`.
    pub mode: RenewalMode,
    /// Renew after this fraction of the lifetime (default 2/3; 1/2 under 10 days).
    #[serde(default)]
    #[schema(exclusive_minimum = 0.0, exclusive_maximum = 1.0)]
    pub renew_at_fraction: Option<f64>,
    /// Renew this many seconds before notAfter instead (at most ten years).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub renew_before_seconds: Option<i64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RenewalMode {
    Auto,
    Off,
}

impl RenewalPolicy {
    pub fn into_domain(self) -> domain::RenewalPolicy {
        domain::RenewalPolicy {
            mode: match self.mode {
                RenewalMode::Auto => domain::RenewalMode::Auto,
                RenewalMode::Off => domain::RenewalMode::Off,
            },
            renew_at_fraction: self.renew_at_fraction,
            renew_before_seconds: self.renew_before_seconds,
        }
    }
}

impl ValidationSettings {
    /// The settings to store, defaults filled in.
    pub fn into_domain(self) -> Result<domain::ValidationSettings, ApiError> {
        let defaults = domain::ValidationSettings::default();
        Ok(domain::ValidationSettings {
            dns_provider: match self.dns_provider {
                Some(p) => p.into_domain()?,
                None => defaults.dns_provider,
            },
            reuse_days: self.reuse_days.unwrap_or(defaults.reuse_days),
            propagation_timeout_seconds: self
                .propagation_timeout_seconds
                .unwrap_or(defaults.propagation_timeout_seconds),
        })
    }
}

/// A background job.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: i64,
    /// `expire-orders`, `issue`, `renew`.
    pub kind: String,
    /// What it acts on (a certificate id; `*` for server-wide work).
    pub subject: String,
    /// `scheduled`, `running` or `retrying`.
    pub state: String,
    pub due_at: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The node holding the lease, while running.
    pub lease_owner: Option<String>,
    pub updated_at: String,
}

/// Filters of `GET /api/v1/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// `scheduled`, `running` or `retrying`.
    #[param(schema_with = crate::spec::job_state)]
    pub state: Option<String>,
    /// The job kind (`expire-orders`, `issue`, `renew`, ...).
    #[param(schema_with = crate::spec::job_kind)]
    pub kind: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

impl DnsProvider {
    pub fn into_domain(self) -> Result<domain::DnsProvider, ApiError> {
        let alg = |a| match a {
            TsigAlgorithm::HmacSha256 => domain::TsigAlgorithm::HmacSha256,
            TsigAlgorithm::HmacSha384 => domain::TsigAlgorithm::HmacSha384,
            TsigAlgorithm::HmacSha512 => domain::TsigAlgorithm::HmacSha512,
        };
        Ok(match self {
            DnsProvider::Manual {} => domain::DnsProvider::Manual,
            DnsProvider::Rfc2136 {
                server,
                zone,
                tsig_key_name,
                tsig_algorithm,
                tsig_secret,
            } => domain::DnsProvider::Rfc2136 {
                server: server.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "dnsProvider.server must be IP:PORT (e.g. 192.0.2.53:53), got {server:?}"
                    ))
                })?,
                zone,
                tsig_key_name,
                tsig_algorithm: alg(tsig_algorithm),
                tsig_secret,
            },
            DnsProvider::Exec { name } => domain::DnsProvider::Exec { name },
            DnsProvider::AcmeDns {
                url,
                username,
                password,
                subdomain,
            } => domain::DnsProvider::AcmeDns {
                url,
                username,
                password,
                subdomain,
            },
        })
    }

    fn from_domain(d: domain::DnsProvider) -> Self {
        let alg = |a| match a {
            domain::TsigAlgorithm::HmacSha256 => TsigAlgorithm::HmacSha256,
            domain::TsigAlgorithm::HmacSha384 => TsigAlgorithm::HmacSha384,
            domain::TsigAlgorithm::HmacSha512 => TsigAlgorithm::HmacSha512,
        };
        match d {
            domain::DnsProvider::Manual => Self::Manual {},
            domain::DnsProvider::Rfc2136 {
                server,
                zone,
                tsig_key_name,
                tsig_algorithm,
                tsig_secret,
            } => Self::Rfc2136 {
                server: server.to_string(),
                zone,
                tsig_key_name,
                tsig_algorithm: alg(tsig_algorithm),
                tsig_secret,
            },
            domain::DnsProvider::Exec { name } => Self::Exec { name },
            domain::DnsProvider::AcmeDns {
                url,
                username,
                password,
                subdomain,
            } => Self::AcmeDns {
                url,
                username,
                password,
                subdomain,
            },
        }
    }
}

pub fn validation_view(v: domain::ValidationSettings) -> ValidationSettings {
    ValidationSettings {
        dns_provider: Some(DnsProvider::from_domain(v.dns_provider)),
        reuse_days: Some(v.reuse_days),
        propagation_timeout_seconds: Some(v.propagation_timeout_seconds),
    }
}

pub fn renewal_view(p: domain::RenewalPolicy) -> RenewalPolicy {
    RenewalPolicy {
        mode: match p.mode {
            domain::RenewalMode::Auto => RenewalMode::Auto,
            domain::RenewalMode::Off => RenewalMode::Off,
        },
        renew_at_fraction: p.renew_at_fraction,
        renew_before_seconds: p.renew_before_seconds,
    }
}

/// A project's validation settings, without secrets (admin keys only).
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectId}/validation",
    tag = "Lifecycle",
    params(("projectId" = uuid::Uuid, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The settings", body = Envelope<ValidationSettings>),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key, or another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_validation(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
) -> ApiResult<ValidationSettings> {
    let v = state.core.validation_settings(&who, project).await?;
    Ok(Json(Envelope::ok(validation_view(v), None)))
}

/// Replace a project's validation settings (admin keys only). Secrets must be sent on every
/// change; they are sealed at rest and never shown again.
#[utoipa::path(
    put,
    path = "/api/v1/projects/{projectId}/validation",
    tag = "Lifecycle",
    params(("projectId" = uuid::Uuid, Path, description = "The project's id")),
    request_body = ValidationSettings,
    responses(
        (status = 200, description = "Stored; the settings without secrets", body = Envelope<ValidationSettings>),
        (status = 400, description = "A field is missing or wrong (named)", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key, or another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
    )
)]
pub(crate) async fn put_validation(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
    Body(body): Body<ValidationSettings>,
) -> ApiResult<ValidationSettings> {
    let settings = body.into_domain()?;
    let v = state
        .core
        .set_validation_settings(&who, project, settings)
        .await?;
    Ok(Json(Envelope::ok(
        validation_view(v),
        Some("Validation settings stored."),
    )))
}

/// A project's renewal policy (admin keys only).
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectId}/renewal",
    tag = "Lifecycle",
    params(("projectId" = uuid::Uuid, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The policy", body = Envelope<RenewalPolicy>),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key, or another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_renewal(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
) -> ApiResult<RenewalPolicy> {
    let p = state.core.renewal_policy(&who, project).await?;
    Ok(Json(Envelope::ok(renewal_view(p), None)))
}

/// Replace a project's renewal policy (admin keys only). It applies to certificates issued
/// from then on.
#[utoipa::path(
    put,
    path = "/api/v1/projects/{projectId}/renewal",
    tag = "Lifecycle",
    params(("projectId" = uuid::Uuid, Path, description = "The project's id")),
    request_body = RenewalPolicy,
    responses(
        (status = 200, description = "Stored", body = Envelope<RenewalPolicy>),
        (status = 400, description = "A field is wrong (named)", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key, or another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
    )
)]
pub(crate) async fn put_renewal(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
    Body(body): Body<RenewalPolicy>,
) -> ApiResult<RenewalPolicy> {
    let policy = body.into_domain();
    let p = state.core.set_renewal_policy(&who, project, policy).await?;
    Ok(Json(Envelope::ok(
        renewal_view(p),
        Some("Renewal policy stored."),
    )))
}

/// Renew a certificate now: a new order for the same names through the project's issuer
/// (issued at once when every name's validation can be reused). Works for imported
/// certificates too, which brings them under management.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{projectId}/certificates/{id}/renew",
    tag = "Certificates",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("id" = i64, Path, minimum = 0, description = "The certificate's id"),
    ),
    responses(
        (status = 200, description = "The successor (Pending, or Active when issued at once)", body = Envelope<Certificate>),
        (status = 400, description = "Its names cannot be validated by DNS-01", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Read-only key, or another project's certificate", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or certificate", body = ErrorEnvelope),
        (status = 409, description = "Not issued yet, or already renewed", body = ErrorEnvelope),
    )
)]
pub(crate) async fn renew_certificate(
    State(state): State<AppState>,
    Caller(who): Caller,
    CertificatePath(project, id): CertificatePath,
) -> ApiResult<Certificate> {
    let record = state.core.renew_certificate(&who, project, id).await?;
    Ok(Json(Envelope::ok(
        Certificate::from_record(&record, state.core.now()),
        Some("Renewal requested."),
    )))
}

/// Background jobs, soonest due first (admin keys only).
#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    tag = "Lifecycle",
    params(JobQuery),
    responses(
        (status = 200, description = "The jobs", body = Envelope<Vec<Job>>),
        (status = 400, description = "Unknown state or kind", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    Caller(who): Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult<Vec<Job>> {
    let q: JobQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("query: {e}")))?;
    let state_filter = q
        .state
        .as_deref()
        .map(str::parse::<JobState>)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let kind = q
        .kind
        .as_deref()
        .map(str::parse::<JobKind>)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let limit = q.limit.unwrap_or(100);
    let jobs = state
        .core
        .list_jobs(&who, state_filter, kind, limit)
        .await?;
    Ok(Json(Envelope::ok(
        jobs.into_iter()
            .map(|j| Job {
                id: j.id,
                kind: j.kind.as_str().into(),
                subject: j.subject,
                state: j.state.as_str().into(),
                due_at: wire_date(j.due_at),
                attempts: j.attempts,
                last_error: j.last_error,
                lease_owner: j.lease_owner,
                updated_at: wire_date(j.updated_at),
            })
            .collect(),
        None,
    )))
}
