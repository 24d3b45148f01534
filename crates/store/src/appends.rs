//! Rows a write transaction only appends — audit records and order status history — gathered
//! while it runs and written with one statement per table just before it commits.
//!
//! Each statement is a round trip to the database (on SQLite, a hand-off to sqlx's connection
//! thread and back, which on this project's virtualised 2-core machine costs more than the
//! insert itself). A group-commit batch of 64 issuances used to send 256 single-row inserts
//! for these two tables; now it sends two. The rows go in as one JSON array bound as a single
//! parameter, so the SQL text is fixed (one prepared statement per table, whatever the batch
//! size) and every value is still a bound parameter, never SQL text. Nothing reads these
//! tables inside the transaction that writes them, so deferring the inserts to its end
//! changes no result; they still commit or roll back with it.

use certkeeper_domain::audit::NewAuditEvent;
use certkeeper_domain::ids::OrderId;
use certkeeper_domain::order::OrderStatus;
use serde_json::json;

use crate::conn::{WriteConn, args};
use crate::time_ms::to_ms;
use crate::{Backend, StoreError};

/// The inserts, per backend: each reads the rows from a JSON array of arrays (`$1`), element
/// `i` of a row being column `i`, in array order.
const AUDIT_SQLITE: &str = "INSERT INTO audit_log (at_ms, actor, action, project_id, target, detail) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
     json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]') \
     FROM json_each($1) ORDER BY key";
const AUDIT_POSTGRES: &str = "INSERT INTO audit_log (at_ms, actor, action, project_id, target, detail) \
     SELECT (e->>0)::bigint, e->>1, e->>2, e->>3, e->>4, e->>5 \
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, i) ORDER BY i";
const HISTORY_SQLITE: &str = "INSERT INTO order_status_changes (order_id, status, at_ms) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') \
     FROM json_each($1) ORDER BY key";
const HISTORY_POSTGRES: &str = "INSERT INTO order_status_changes (order_id, status, at_ms) \
     SELECT (e->>0)::bigint, e->>1, (e->>2)::bigint \
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, i) ORDER BY i";

/// The append-only rows of one transaction, in the order they were produced.
#[derive(Debug, Default)]
pub(crate) struct Appends {
    audit: Vec<serde_json::Value>,
    history: Vec<serde_json::Value>,
}

impl Appends {
    /// An audit record, its `target` already set.
    pub(crate) fn audit(&mut self, event: &NewAuditEvent) {
        self.audit.push(json!([
            to_ms(event.at),
            event.actor.label(),
            event.action.as_str(),
            event.project.map(|p| p.to_string()),
            event.target,
            event.detail,
        ]));
    }

    /// An order's move to `status` at `at_ms`.
    pub(crate) fn history(&mut self, order: OrderId, status: OrderStatus, at_ms: i64) {
        self.history.push(json!([order.0, status.as_str(), at_ms]));
    }

    /// Writes everything gathered, inside `conn`'s transaction.
    pub(crate) async fn write<C: WriteConn>(
        self,
        conn: &mut C,
        backend: Backend,
    ) -> Result<(), StoreError> {
        let (audit_sql, history_sql) = match backend {
            Backend::Sqlite => (AUDIT_SQLITE, HISTORY_SQLITE),
            Backend::Postgres => (AUDIT_POSTGRES, HISTORY_POSTGRES),
        };
        for (sql, rows) in [(audit_sql, self.audit), (history_sql, self.history)] {
            if rows.is_empty() {
                continue;
            }
            let rows = serde_json::Value::Array(rows).to_string();
            conn.execute(sql, args![rows]).await?;
        }
        Ok(())
    }
}
