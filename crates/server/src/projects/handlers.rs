//! Handlers: read the wire request, call the service, write the wire response.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::header;
use axum::response::IntoResponse;
use certkeeper_core::inventory::{Deleted, ImportRequest as CoreImport, PageRequest};
use certkeeper_core::issuance::CreateRequest as CoreCreate;

use super::error::{ApiError, Body, Caller, CertificatePath, ProjectPath};
use certkeeper_domain::issuer::IssuerKind;

use super::wire::{
    self, Certificate, CertificateListItem, CreateRequest, Envelope, ErrorEnvelope, ImportRequest,
    ProjectView, ResultInfo, UpdateProjectRequest, UpdateRequest,
};
use crate::AppState;

type ApiResult<T> = Result<Json<Envelope<T>>, ApiError>;

/// Reads `PageIndex` / `PageSize`, matching names case-insensitively as the vendor's
/// (ASP.NET) model binding does, so `pageIndex` and `pagesize` work too.
fn page_request(query: Option<&str>) -> Result<PageRequest, ApiError> {
    let mut index = None;
    let mut size = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let slot = match k.to_ascii_lowercase().as_str() {
            "pageindex" => &mut index,
            "pagesize" => &mut size,
            _ => continue,
        };
        let n = v
            .trim()
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("{k} must be an integer, got {v:?}")))?;
        *slot = Some(n);
    }
    Ok(PageRequest::new(index, size)?)
}

/// List the certificates of a project: its own and every Organization-scoped one.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectId}/certificates",
    tag = "Certificates",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("PageIndex" = Option<i64>, Query, minimum = 1, description = "1-based page number (default 1); `pageIndex` also accepted"),
        ("PageSize" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Items per page, 1 to 500 (default 20); `pageSize` also accepted"),
    ),
    responses(
        (status = 200, description = "A page of certificates", body = Envelope<Vec<CertificateListItem>>),
        (status = 400, description = "Bad paging parameters", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "The key cannot reach this project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_certificates(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
    RawQuery(query): RawQuery,
) -> ApiResult<Vec<CertificateListItem>> {
    let page_req = page_request(query.as_deref())?;
    let page = state
        .core
        .list_certificates(&who, project, page_req)
        .await?;
    let now = state.core.now();
    let items = page
        .items
        .iter()
        .map(|r| CertificateListItem::from_record(r, now))
        .collect();
    let mut envelope = Envelope::ok(items, None);
    envelope.result_info = Some(ResultInfo::from(&page));
    Ok(Json(envelope))
}

/// Import a certificate with its private key and chain.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{projectId}/certificates/import",
    tag = "Certificates",
    params(("projectId" = uuid::Uuid, Path, description = "The project's id")),
    request_body = ImportRequest,
    responses(
        (status = 200, description = "Imported", body = Envelope<Certificate>),
        (status = 400, description = "Malformed certificate, key or chain, key mismatch, bad scopeId", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "The key cannot write in this project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
        (status = 409, description = "The project already holds this certificate", body = ErrorEnvelope),
        (status = 413, description = "Body over 1 MiB", body = ErrorEnvelope),
    )
)]
pub(crate) async fn import_certificate(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
    Body(body): Body<ImportRequest>,
) -> ApiResult<Certificate> {
    let scope = wire::scope(body.scope_id).map_err(ApiError::bad_request)?;
    let body_text = body
        .certificate_body
        .ok_or_else(|| ApiError::bad_request("certificateBody is required"))?;
    let key = body
        .certificate_private_key
        .ok_or_else(|| ApiError::bad_request("certificatePrivateKey is required"))?;
    let req = CoreImport {
        body: body_text,
        private_key: key,
        chain: body.certificate_chain.unwrap_or_default(),
        scope,
    };
    let record = state.core.import_certificate(&who, project, req).await?;
    Ok(Json(Envelope::ok(
        Certificate::from_record(&record, state.core.now()),
        Some("Certificate imported."),
    )))
}

/// Get one certificate.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectId}/certificates/{id}",
    tag = "Certificates",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("id" = i64, Path, minimum = 0, description = "The certificate's id"),
    ),
    responses(
        (status = 200, description = "The certificate", body = Envelope<Certificate>),
        (status = 400, description = "Malformed id", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "The key cannot reach this project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or certificate", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_certificate(
    State(state): State<AppState>,
    Caller(who): Caller,
    CertificatePath(project, id): CertificatePath,
) -> ApiResult<Certificate> {
    let record = state.core.get_certificate(&who, project, id).await?;
    Ok(Json(Envelope::ok(
        Certificate::from_record(&record, state.core.now()),
        None,
    )))
}

/// Change a certificate's scope.
#[utoipa::path(
    put,
    path = "/api/v1/projects/{projectId}/certificates/{id}",
    tag = "Certificates",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("id" = i64, Path, minimum = 0, description = "The certificate's id"),
    ),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "Updated", body = Envelope<Certificate>),
        (status = 400, description = "Bad scopeId or id", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Read-only key, or a certificate shared by another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or certificate", body = ErrorEnvelope),
    )
)]
pub(crate) async fn update_certificate(
    State(state): State<AppState>,
    Caller(who): Caller,
    CertificatePath(project, id): CertificatePath,
    Body(body): Body<UpdateRequest>,
) -> ApiResult<Certificate> {
    let scope = wire::scope(body.scope_id).map_err(ApiError::bad_request)?;
    let record = state
        .core
        .update_certificate_scope(&who, project, id, scope)
        .await?;
    Ok(Json(Envelope::ok(
        Certificate::from_record(&record, state.core.now()),
        Some("Certificate updated."),
    )))
}

/// Delete a certificate (and its stored key); for a created certificate still pending, cancel
/// its order (the record stays, status `Canceled`; deleting it again removes it).
#[utoipa::path(
    delete,
    path = "/api/v1/projects/{projectId}/certificates/{id}",
    tag = "Certificates",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("id" = i64, Path, minimum = 0, description = "The certificate's id"),
    ),
    responses(
        (status = 200, description = "Deleted; the result is the deleted certificate", body = Envelope<Certificate>),
        (status = 400, description = "Malformed id", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Read-only key, or a certificate shared by another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or certificate", body = ErrorEnvelope),
    )
)]
pub(crate) async fn delete_certificate(
    State(state): State<AppState>,
    Caller(who): Caller,
    CertificatePath(project, id): CertificatePath,
) -> ApiResult<Certificate> {
    let (record, message) = match state.core.delete_certificate(&who, project, id).await? {
        Deleted::Removed(r) => (r, "Certificate deleted."),
        Deleted::OrderCanceled(r) => (r, "Certificate order canceled."),
    };
    Ok(Json(Envelope::ok(
        Certificate::from_record(&record, state.core.now()),
        Some(message),
    )))
}

/// Create a certificate: opens an order and answers with the DNS-01 records to publish.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{projectId}/certificates",
    tag = "Certificates",
    params(("projectId" = uuid::Uuid, Path, description = "The project's id")),
    request_body = CreateRequest,
    responses(
        (status = 200, description = "Created, status Pending, with `dnsRecords` to publish", body = Envelope<Certificate>),
        (status = 400, description = "Invalid names (IP addresses, bad labels, more than 100 names), bad scopeId", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "The key cannot write in this project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
    )
)]
pub(crate) async fn create_certificate(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
    Body(body): Body<CreateRequest>,
) -> ApiResult<Certificate> {
    let scope = wire::scope(body.scope_id).map_err(ApiError::bad_request)?;
    let domain_name = body
        .domain_name
        .ok_or_else(|| ApiError::bad_request("domainName is required"))?;
    let req = CoreCreate {
        domain_name,
        additional_domain_names: body.additional_domain_names.unwrap_or_default(),
        scope,
    };
    let record = state.core.create_certificate(&who, project, req).await?;
    Ok(Json(Envelope::ok(
        Certificate::from_record(&record, state.core.now()),
        Some("Certificate requested: publish the DNS records, then validate."),
    )))
}

/// Validate a created certificate's DNS-01 records and issue it.
#[utoipa::path(
    put,
    path = "/api/v1/projects/{projectId}/certificates/{id}/validate",
    tag = "Certificates",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("id" = i64, Path, minimum = 0, description = "The certificate's id"),
    ),
    responses(
        (status = 200, description = "Issued (or already issued)", body = Envelope<Certificate>),
        (status = 400, description = "Records missing or wrong (each named); an imported certificate", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Read-only key, or another project's certificate", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or certificate", body = ErrorEnvelope),
        (status = 409, description = "The order was canceled or rejected", body = ErrorEnvelope),
    )
)]
pub(crate) async fn validate_certificate(
    State(state): State<AppState>,
    Caller(who): Caller,
    CertificatePath(project, id): CertificatePath,
) -> ApiResult<Certificate> {
    let record = state.core.validate_certificate(&who, project, id).await?;
    Ok(Json(Envelope::ok(
        Certificate::from_record(&record, state.core.now()),
        Some("Certificate issued."),
    )))
}

/// Download the certificate followed by its chain, as PEM.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectId}/certificates/{id}/download",
    tag = "Certificates",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("id" = i64, Path, minimum = 0, description = "The certificate's id"),
    ),
    responses(
        (status = 200, description = "PEM: the certificate, then its chain", content_type = "application/x-pem-file", body = String),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "The key cannot reach this project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or certificate", body = ErrorEnvelope),
        (status = 409, description = "Not issued yet", body = ErrorEnvelope),
    )
)]
pub(crate) async fn download_certificate(
    State(state): State<AppState>,
    Caller(who): Caller,
    CertificatePath(project, id): CertificatePath,
) -> Result<axum::response::Response, ApiError> {
    let pem = state.core.download_certificate(&who, project, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"certificate-{id}.pem\""),
            ),
        ],
        pem,
    )
        .into_response())
}

/// Export a certificate's private key, as PEM. Needs a key created with
/// `--allow-key-export`; every export is audited.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectId}/certificates/{id}/private-key",
    tag = "Certificates",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("id" = i64, Path, minimum = 0, description = "The certificate's id"),
    ),
    responses(
        (status = 200, description = "PEM private key (PKCS#8, or as imported)", content_type = "application/x-pem-file", body = String),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "The key has no export grant, or cannot reach this project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or certificate", body = ErrorEnvelope),
        (status = 409, description = "No private key yet (not issued)", body = ErrorEnvelope),
    )
)]
pub(crate) async fn export_private_key(
    State(state): State<AppState>,
    Caller(who): Caller,
    CertificatePath(project, id): CertificatePath,
) -> Result<axum::response::Response, ApiError> {
    let pem = state.core.export_private_key(&who, project, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        pem.to_string(),
    )
        .into_response())
}

fn project_view(state: &AppState, p: &certkeeper_domain::project::Project) -> ProjectView {
    ProjectView {
        id: p.id.0,
        container_id: p.container_id.0,
        name: p.name.clone(),
        issuer: p.issuer.map(|i| i.as_str().to_string()),
        effective_issuer: state.core.effective_issuer(p).as_str().to_string(),
    }
}

/// Read a project's settings.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectId}",
    tag = "Projects",
    params(("projectId" = uuid::Uuid, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The project", body = Envelope<ProjectView>),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "The key cannot reach this project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_project(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
) -> ApiResult<ProjectView> {
    let p = state
        .core
        .authorize_project(&who, project, certkeeper_core::Access::Read)
        .await?;
    Ok(Json(Envelope::ok(project_view(&state, &p), None)))
}

/// Change a project's issuer override (admin keys only).
#[utoipa::path(
    put,
    path = "/api/v1/projects/{projectId}",
    tag = "Projects",
    params(("projectId" = uuid::Uuid, Path, description = "The project's id")),
    request_body = UpdateProjectRequest,
    responses(
        (status = 200, description = "Updated", body = Envelope<ProjectView>),
        (status = 400, description = "Unknown issuer, or acme without an ACME CA configured", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Not an admin key, or another project", body = ErrorEnvelope),
        (status = 404, description = "Unknown project", body = ErrorEnvelope),
    )
)]
pub(crate) async fn update_project(
    State(state): State<AppState>,
    Caller(who): Caller,
    ProjectPath(project): ProjectPath,
    Body(body): Body<UpdateProjectRequest>,
) -> ApiResult<ProjectView> {
    let issuer = match body.issuer {
        None => {
            return Err(ApiError::bad_request(
                "issuer is required: builtin, acme, or null for the server's default",
            ));
        }
        Some(None) => None,
        Some(Some(name)) => Some(name.parse::<IssuerKind>().map_err(ApiError::bad_request)?),
    };
    let p = state.core.set_project_issuer(&who, project, issuer).await?;
    Ok(Json(Envelope::ok(
        project_view(&state, &p),
        Some("Project updated."),
    )))
}

/// Unknown paths answer in the envelope shape too.
pub(crate) async fn fallback() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint; see /openapi.json")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint; see /openapi.json",
    )
}
