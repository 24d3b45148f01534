//! The project certificates API's wire shapes, field for field as the vendor documents them.

use certkeeper_core::inventory::Page;
use certkeeper_domain::certificate::{CertificateRecord, Scope};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::iso8601::{
    Config, EncodedConfig, Iso8601, TimePrecision,
};
use utoipa::ToSchema;
use uuid::Uuid;

/// `2021-07-26T08:51:51.079Z`: ISO 8601, UTC, milliseconds, as the vendor's examples show.
const WIRE_DATE: EncodedConfig = Config::DEFAULT
    .set_time_precision(TimePrecision::Second {
        decimal_digits: std::num::NonZeroU8::new(3),
    })
    .encode();

pub(crate) fn wire_date(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Iso8601::<WIRE_DATE>)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Every response: the outcome, messages, the result and (for listings) paging.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    pub success: bool,
    pub errors: Vec<String>,
    pub messages: Vec<String>,
    pub result: Option<T>,
    pub result_info: Option<ResultInfo>,
}

impl<T> Envelope<T> {
    pub fn ok(result: T, message: Option<&str>) -> Self {
        Self {
            success: true,
            errors: Vec::new(),
            messages: message.map(str::to_string).into_iter().collect(),
            result: Some(result),
            result_info: None,
        }
    }
}

/// An error response: `success` false, the reason in `errors`.
pub type ErrorEnvelope = Envelope<()>;

impl ErrorEnvelope {
    pub fn error(message: String) -> Self {
        Self {
            success: false,
            errors: vec![message],
            messages: Vec::new(),
            result: None,
            result_info: None,
        }
    }
}

/// Paging of a listing. `pageIndex` is 1-based.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultInfo {
    pub total_count: i64,
    pub page_index: i64,
    pub page_size: i64,
    pub total_pages: i64,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl From<&Page> for ResultInfo {
    fn from(p: &Page) -> Self {
        let total_pages = p.total_pages();
        Self {
            total_count: p.total,
            page_index: p.request.index,
            page_size: p.request.size,
            total_pages,
            has_next_page: p.request.index < total_pages,
            has_previous_page: p.request.index > 1 && total_pages > 0,
        }
    }
}

/// A DNS record to publish to prove control of a name (filled for created certificates).
#[derive(Debug, Serialize, ToSchema)]
pub struct DnsRecord {
    pub key: String,
    pub value: String,
}

/// `scopeOptions`: the scope names and their `scopeId`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ScopeOptions {
    pub project: i64,
    pub organization: i64,
}

/// One certificate, in full.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    pub id: i64,
    pub project_id: Uuid,
    /// 0 = Project, 1 = Organization.
    pub scope_id: i64,
    pub ssl_certificate_id: Uuid,
    pub domain_name: String,
    /// The other subject alternative names, comma-separated.
    pub additional_names: String,
    /// e.g. `ECDSA P-256`, `RSA 2048`; null until a created certificate is issued.
    pub public_key_info: Option<String>,
    /// e.g. `ecdsa-with-SHA256`, `sha256WithRSAEncryption`; null until issued.
    pub signature_algorithm: Option<String>,
    /// Issuer distinguished name (RFC 4514); null until issued.
    pub issuer: Option<String>,
    /// `Imported` or `Issued`.
    pub certificate_type: String,
    /// `Active`, `Expired`, `NotYetValid` (from the dates, at the time of the request), or for a
    /// created certificate not issued yet `Pending`, `Rejected`, `Canceled`.
    pub certificate_status: String,
    /// `dns-01` for created certificates; null for imports.
    pub certificate_challenge: Option<String>,
    /// Upper-case hex; null until issued.
    pub serial_number: Option<String>,
    /// For created certificates: the TXT records to publish (`key` is the record name).
    pub dns_records: Vec<DnsRecord>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub scope_options: ScopeOptions,
    pub last_modified: String,
    /// Why the order's last validation attempt failed (or why it was rejected); null if none.
    pub problem: Option<String>,
    /// The certificate this one renewed.
    pub renewed_from_id: Option<i64>,
    /// The certificate that renewed this one, once issued.
    pub renewed_by_id: Option<i64>,
    /// When this certificate's renewal job is due; null when none is scheduled.
    pub renew_after: Option<String>,
}

/// The certificate object as this API shows it, as JSON: webhook bodies carry exactly this.
pub fn certificate_json(r: &CertificateRecord, now: OffsetDateTime) -> serde_json::Value {
    serde_json::to_value(Certificate::from_record(r, now)).unwrap_or_default()
}

impl Certificate {
    pub fn from_record(r: &CertificateRecord, now: OffsetDateTime) -> Self {
        let summary = r.summary();
        Self {
            id: r.id.0,
            project_id: r.project_id.0,
            scope_id: r.scope.id(),
            ssl_certificate_id: r.ssl_certificate_id.0,
            domain_name: r.domain_name.clone(),
            additional_names: r.additional_names.join(","),
            public_key_info: summary.map(|s| s.public_key_info.clone()),
            signature_algorithm: summary.map(|s| s.signature_algorithm.clone()),
            issuer: summary.map(|s| s.issuer.clone()),
            certificate_type: r.certificate_type.as_str().to_string(),
            certificate_status: r.status_at(now).as_str().to_string(),
            certificate_challenge: r.order().map(|_| "dns-01".to_string()),
            serial_number: summary.map(|s| s.serial_number.clone()),
            dns_records: r
                .order()
                .map(|o| {
                    o.challenges
                        .iter()
                        .map(|c| DnsRecord {
                            key: c.record.clone(),
                            value: c.value.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            not_before: summary.map(|s| wire_date(s.not_before)),
            not_after: summary.map(|s| wire_date(s.not_after)),
            scope_options: ScopeOptions {
                project: Scope::Project.id(),
                organization: Scope::Organization.id(),
            },
            last_modified: wire_date(r.last_modified),
            problem: r.order().and_then(|o| o.problem.clone()),
            renewed_from_id: r.lineage.renewed_from.map(|c| c.0),
            renewed_by_id: r.lineage.renewed_by.map(|c| c.0),
            renew_after: r.lineage.renew_after.map(wire_date),
        }
    }
}

/// One certificate in a listing. `distributionId` is always null: certkeeper has no CDN
/// distributions. `projectId` and `scopeId` are additions, so a client can tell a shared
/// (Organization) certificate from its project's own.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateListItem {
    pub id: i64,
    pub distribution_id: Option<String>,
    pub ssl_certificate_id: Uuid,
    pub domain_name: String,
    pub additional_names: String,
    pub certificate_type: String,
    pub certificate_status: String,
    /// `Project` or `Organization`.
    pub scope: String,
    pub last_modified: String,
    pub project_id: Uuid,
    pub scope_id: i64,
    /// The certificate this one renewed.
    pub renewed_from_id: Option<i64>,
    /// The certificate that renewed this one, once issued.
    pub renewed_by_id: Option<i64>,
    /// When this certificate's renewal job is due; null when none is scheduled.
    pub renew_after: Option<String>,
}

impl CertificateListItem {
    pub fn from_record(r: &CertificateRecord, now: OffsetDateTime) -> Self {
        Self {
            id: r.id.0,
            distribution_id: None,
            ssl_certificate_id: r.ssl_certificate_id.0,
            domain_name: r.domain_name.clone(),
            additional_names: r.additional_names.join(","),
            certificate_type: r.certificate_type.as_str().to_string(),
            certificate_status: r.status_at(now).as_str().to_string(),
            scope: r.scope.name().to_string(),
            last_modified: wire_date(r.last_modified),
            project_id: r.project_id.0,
            scope_id: r.scope.id(),
            renewed_from_id: r.lineage.renewed_from.map(|c| c.0),
            renewed_by_id: r.lineage.renewed_by.map(|c| c.0),
            renew_after: r.lineage.renew_after.map(wire_date),
        }
    }
}

/// `POST .../certificates/import`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportRequest {
    /// The certificate: PEM (one or more blocks; extra blocks start the chain) or base64 DER.
    #[schema(required = true, nullable = false)]
    pub certificate_body: Option<String>,
    /// Its private key: PEM or base64 DER, PKCS#8, PKCS#1 (RSA) or SEC1 (EC). Unencrypted.
    #[schema(required = true, nullable = false)]
    pub certificate_private_key: Option<String>,
    /// The issuing chain, issuer first. May be empty for a self-signed certificate.
    pub certificate_chain: Option<String>,
    /// 0 = Project, 1 = Organization.
    #[schema(required = true, nullable = false, minimum = 0, maximum = 1)]
    pub scope_id: Option<i64>,
}

/// `POST .../certificates`: a certificate to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    /// The primary name (may be a wildcard `*.example.com`; IDN is converted to punycode).
    #[schema(required = true, nullable = false)]
    pub domain_name: Option<String>,
    /// More names; may be empty. At most 100 names in all.
    pub additional_domain_names: Option<Vec<String>>,
    /// 0 = Project, 1 = Organization.
    #[schema(required = true, nullable = false, minimum = 0, maximum = 1)]
    pub scope_id: Option<i64>,
}

/// `PUT .../certificates/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    /// 0 = Project, 1 = Organization.
    #[schema(required = true, nullable = false, minimum = 0, maximum = 1)]
    pub scope_id: Option<i64>,
}

/// Reads a required `scopeId`.
pub(crate) fn scope(scope_id: Option<i64>) -> Result<Scope, String> {
    let id = scope_id.ok_or("scopeId is required (0 = Project, 1 = Organization)")?;
    Scope::from_id(id)
        .ok_or_else(|| format!("scopeId must be 0 (Project) or 1 (Organization), got {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_have_milliseconds_and_z() {
        assert_eq!(
            wire_date(datetime!(2021-07-26 08:51:51.079 UTC)),
            "2021-07-26T08:51:51.079Z"
        );
        assert_eq!(
            wire_date(datetime!(2021-07-26 10:51:51 +2)),
            "2021-07-26T08:51:51.000Z"
        );
    }
}

/// A project, as `GET`/`PUT /api/v1/projects/{projectId}` show it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    pub id: Uuid,
    /// DigiCert's `container_id` for this project.
    pub container_id: i64,
    pub name: String,
    /// This project's issuer override (`builtin` or `acme`); null: the server's default.
    pub issuer: Option<String>,
    /// The issuer created certificates actually go to.
    pub effective_issuer: String,
}

/// `PUT /api/v1/projects/{projectId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProjectRequest {
    /// `builtin`, `acme`, or null to follow the server's default. Required.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<IssuerName>, required = true)]
    pub issuer: Option<Option<String>>,
}

/// An issuer a project can choose.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // only its schema is used: the handler reads the name itself.
pub enum IssuerName {
    Builtin,
    Acme,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}
