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

/// The list; `{}` (no fields at all) when nothing changed, as DigiCert answers. Its serde
/// form is the contract (and the schema); the response body is written by
/// [`StatusChanges::to_json`], which a test holds to the same bytes.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StatusChanges<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<StatusChangeItem>>)]
    pub orders: Option<Orders<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<Page>,
}

impl StatusChanges<'_> {
    /// The JSON body, written by hand into a buffer sized for it. A 7-day list at 10M
    /// certificates holds ~90,000 orders (5.7 MB); through serde, each order's three keys went
    /// through string escaping and map bookkeeping, a sixth of the server's time for the
    /// request (`perf`, docs/benchmarks.md). Every key and status here is a fixed ASCII name
    /// that needs no escaping, and the numbers are integers.
    pub fn to_json(&self) -> Vec<u8> {
        const ORDER_LEN: usize = r#"{"order_id":,"certificate_id":,"status":"canceled"},"#.len();
        let count = self.orders.as_ref().map_or(0, |o| o.0.len());
        // Ids below ten million take at most seven digits each; a larger one costs a growth.
        let mut out = Vec::with_capacity(64 + count * (ORDER_LEN + 14));
        let mut numbers = itoa::Buffer::new();
        out.push(b'{');
        if let Some(Orders(orders)) = &self.orders {
            out.extend_from_slice(br#""orders":["#);
            for (i, c) in orders.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"order_id":"#);
                out.extend_from_slice(numbers.format(c.order_id.0).as_bytes());
                out.extend_from_slice(br#","certificate_id":"#);
                out.extend_from_slice(numbers.format(c.certificate_id.0).as_bytes());
                out.extend_from_slice(br#","status":""#);
                out.extend_from_slice(c.status.as_str().as_bytes());
                out.extend_from_slice(br#""}"#);
            }
            out.push(b']');
        }
        if let Some(page) = &self.page {
            if self.orders.is_some() {
                out.push(b',');
            }
            for (key, value) in [
                (r#""page":{"total":"#, page.total),
                (r#","limit":"#, page.limit),
                (r#","offset":"#, page.offset),
            ] {
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(numbers.format(value).as_bytes());
            }
            out.push(b'}');
        }
        out.push(b'}');
        out
    }
}

#[cfg(test)]
mod tests {
    use certkeeper_domain::ids::{CertificateId, OrderId};
    use certkeeper_domain::order::OrderStatus;

    use super::*;

    fn change(order: i64, certificate: i64, status: OrderStatus) -> StatusChange {
        StatusChange {
            order_id: OrderId(order),
            certificate_id: CertificateId(certificate),
            status,
        }
    }

    /// The hand-written body is byte for byte what serde writes, in every shape.
    #[test]
    fn written_body_is_the_serde_body() {
        let changes: Vec<StatusChange> = OrderStatus::ALL
            .iter()
            .enumerate()
            .map(|(i, s)| change(i as i64 + 1, i64::MAX - i as i64, *s))
            .collect();
        let page = || Page {
            total: 12_345,
            limit: 1000,
            offset: 0,
        };
        let shapes = [
            StatusChanges::default(),
            StatusChanges {
                orders: Some(Orders(&changes)),
                page: None,
            },
            StatusChanges {
                orders: Some(Orders(&changes[..1])),
                page: Some(page()),
            },
            StatusChanges {
                orders: Some(Orders(&[])),
                page: Some(page()),
            },
            StatusChanges {
                orders: None,
                page: Some(page()),
            },
        ];
        for shape in &shapes {
            assert_eq!(
                String::from_utf8(shape.to_json()).unwrap(),
                serde_json::to_string(shape).unwrap()
            );
        }
        assert_eq!(StatusChanges::default().to_json(), b"{}");
    }
}
