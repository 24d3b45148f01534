//! DigiCert's JSON shapes (snake_case).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DcErrorItem {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DcErrorBody {
    pub errors: Vec<DcErrorItem>,
}

/// One bucket of the expiring-orders report (seed 001).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExpiringBucket {
    /// 90, 60, 30, or −7 (expired in the last 7 days).
    pub days_expiring: i32,
    pub order_count: i64,
    /// Certificates in the bucket; only with `include_expiring_certs=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExpiringReport {
    pub expiring_orders: Vec<ExpiringBucket>,
}

/// One order of the status-change list (seed 002). Written only (lists can hold tens of
/// thousands of these, so the status is a static name, not an allocation per order).
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChangeItem {
    pub order_id: i64,
    pub certificate_id: i64,
    /// The order's current status: pending, issued, rejected, canceled, revoked.
    pub status: &'static str,
}

/// DigiCert's paging object.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// The list; `{}` (no fields at all) when nothing changed, as DigiCert answers.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StatusChanges {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<Vec<StatusChangeItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<Page>,
}
