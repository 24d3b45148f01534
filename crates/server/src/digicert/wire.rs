//! DigiCert's JSON shapes (snake_case).

use certkeeper_core::reports::StatusChange;
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

/// The orders of the list, written straight from the core's page: an order becomes a
/// [`StatusChangeItem`] only while it is being written, so a list of 90,000 orders is not
/// copied into a second list first.
#[derive(Debug)]
pub struct Orders<'a>(pub &'a [StatusChange]);

impl Serialize for Orders<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|c| StatusChangeItem {
            order_id: c.order_id.0,
            certificate_id: c.certificate_id.0,
            status: c.status.as_str(),
        }))
    }
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
pub struct StatusChanges<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<StatusChangeItem>>)]
    pub orders: Option<Orders<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<Page>,
}
