//! `POST /api/v1/projects/{projectId}/certificates/{id}/revoke`: revocation by the built-in
//! CA. The wire names the RFC 5280 reasons as DigiCert does; the rules are the core's.

use axum::Json;
use axum::extract::State;
use certkeeper_domain::revocation::RevocationReason;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, Caller, CertificatePath, OptionalBody};
use super::wire::{Certificate, Envelope, ErrorEnvelope};
use crate::AppState;

/// Why the certificate is revoked (RFC 5280 §5.3.1). `unspecified` when left out.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    #[schema(schema_with = crate::spec::revocation_reason, example = "keyCompromise")]
    #[serde(default)]
    pub reason: Option<String>,
}

/// Revoke a certificate certkeeper issued. The built-in CA's go on the next CRL (signed
/// within a minute) and OCSP answers `revoked`; one from the external ACME CA is revoked
/// there. Its status becomes `Revoked` and its order's status history (DigiCert's
/// status-change report) records `revoked`.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{projectId}/certificates/{id}/revoke",
    tag = "Certificates",
    params(
        ("projectId" = uuid::Uuid, Path, description = "The project's id"),
        ("id" = i64, Path, minimum = 0, description = "The certificate's id"),
    ),
    request_body(content = Option<RevokeRequest>, description = "Optional. `reason`: unspecified, keyCompromise, superseded, cessationOfOperation or affiliationChanged"),
    responses(
        (status = 200, description = "The revoked certificate (certificateStatus Revoked)", body = Envelope<Certificate>),
        (status = 400, description = "Unknown reason, or a malformed body", body = ErrorEnvelope),
        (status = 401, description = "No or unknown API key", body = ErrorEnvelope),
        (status = 403, description = "Read-only key, or another project's certificate", body = ErrorEnvelope),
        (status = 404, description = "Unknown project or certificate", body = ErrorEnvelope),
        (status = 409, description = "Already revoked, not issued yet, imported, or refused by the external ACME CA that issued it", body = ErrorEnvelope),
    )
)]
pub(crate) async fn revoke_certificate(
    State(state): State<AppState>,
    Caller(who): Caller,
    CertificatePath(project, id): CertificatePath,
    OptionalBody(body): OptionalBody<RevokeRequest>,
) -> Result<Json<Envelope<Certificate>>, ApiError> {
    let reason = match body.reason.as_deref() {
        None => RevocationReason::Unspecified,
        Some(r) => r.parse().map_err(ApiError::bad_request)?,
    };
    let record = state
        .core
        .revoke_certificate(&who, project, id, reason)
        .await?;
    Ok(Json(Envelope::ok(
        Certificate::from_record(&record, state.core.now()),
        Some("Certificate revoked."),
    )))
}
