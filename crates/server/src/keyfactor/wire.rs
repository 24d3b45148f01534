//! Keyfactor's JSON shapes (PascalCase).

use certkeeper_core::reports::IssuanceReport;
use certkeeper_domain::collection::Collection;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// Keyfactor's error body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct KfErrorBody {
    pub error_code: String,
    pub message: String,
}

/// One issuance period (seed 000).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct IssuancePeriod {
    /// Weeks back from EvalDate (1 = the last seven days).
    pub period: u32,
    /// The evaluation instant, ISO 8601 UTC, the same in every item.
    #[schema(example = "2025-10-16T17:45:36Z")]
    pub eval_date: String,
    pub count: i64,
}

impl IssuancePeriod {
    pub fn list(report: &IssuanceReport) -> Vec<Self> {
        let eval_date = report.eval_date.format(&Rfc3339).unwrap_or_default();
        report
            .periods
            .iter()
            .map(|p| Self {
                period: p.period,
                eval_date: eval_date.clone(),
                count: p.count,
            })
            .collect()
    }
}

/// A certificate collection, as Keyfactor's `CertificateCollectionResponse` has it. `Content`
/// is Keyfactor's name for the query; `Query` repeats it under the name requests use.
/// The dashboard flags are fixed (certkeeper has no dashboard favourites); DuplicationField
/// is kept and honoured by the issuance report (see docs/api.md).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CollectionResponse {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub query: String,
    pub content: String,
    pub automated: bool,
    pub show_on_dashboard: bool,
    pub favorite: bool,
    pub duplication_field: i32,
}

impl From<&Collection> for CollectionResponse {
    fn from(c: &Collection) -> Self {
        Self {
            id: c.id.0,
            name: c.name.clone(),
            description: c.description.clone(),
            query: c.query_text.clone(),
            content: c.query_text.clone(),
            automated: false,
            show_on_dashboard: false,
            favorite: false,
            duplication_field: c.duplication_field,
        }
    }
}

/// `POST /CertificateCollections` (Keyfactor's `CertificateCollectionCreateRequest`; its
/// other fields are accepted and ignored).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCollectionRequest {
    #[serde(rename = "Name", alias = "name")]
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub name: Option<String>,
    #[serde(rename = "Description", alias = "description", default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    #[serde(rename = "Query", alias = "query", default)]
    /// A query in Keyfactor's language (see docs/api.md); checked when saved.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 4000,
        pattern = r"\S"
    )]
    pub query: Option<String>,
    /// Keyfactor's "ignore renewed certificates by": 0 none (default), 1 CN, 2 DN, 3 UPN.
    #[serde(rename = "DuplicationField", alias = "duplicationField", default)]
    #[schema(minimum = 0, maximum = 3)]
    pub duplication_field: Option<i64>,
}

/// `PUT /CertificateCollections` (Keyfactor's `CertificateCollectionUpdateRequest`: the id in
/// the body).
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateCollectionRequest {
    #[serde(rename = "Id", alias = "id")]
    #[schema(required = true, nullable = false, minimum = 0)]
    pub id: Option<i64>,
    #[serde(rename = "Name", alias = "name")]
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub name: Option<String>,
    #[serde(rename = "Description", alias = "description", default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    #[serde(rename = "Query", alias = "query", default)]
    /// A query in Keyfactor's language (see docs/api.md); checked when saved.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 4000,
        pattern = r"\S"
    )]
    pub query: Option<String>,
    #[serde(rename = "DuplicationField", alias = "duplicationField", default)]
    #[schema(minimum = 0, maximum = 3)]
    pub duplication_field: Option<i64>,
}
