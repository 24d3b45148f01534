//! The audit trail table. Records are written inside the transaction of the change they
//! describe, so a change and its record land together or not at all.

use certkeeper_domain::audit::{AuditEvent, NewAuditEvent};
use certkeeper_domain::ids::ProjectId;
use sqlx::Row;

use crate::time_ms::{from_ms, to_ms};
use crate::{Store, StoreError};

pub(crate) async fn insert(
    conn: &mut sqlx::AnyConnection,
    event: &NewAuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at_ms, actor, action, project_id, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(to_ms(event.at))
    .bind(event.actor.label())
    .bind(event.action.as_str())
    .bind(event.project.map(|p| p.to_string()))
    .bind(&event.target)
    .bind(&event.detail)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Writes an audit record that goes with no other change (e.g. a key export).
    pub async fn record_audit(&self, event: &NewAuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert(&mut tx, event).await?;
        tx.commit().await
    }

    /// The newest `limit` audit records, newest first.
    pub async fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at_ms, actor, action, project_id, target, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        events_from_rows(&rows)
    }

    /// The newest `limit` audit records about one target (`certificate:42`), newest first.
    pub async fn audit_events_for(
        &self,
        target: &str,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at_ms, actor, action, project_id, target, detail FROM audit_log \
             WHERE target = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(target)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        events_from_rows(&rows)
    }
}

fn events_from_rows(rows: &[sqlx::any::AnyRow]) -> Result<Vec<AuditEvent>, StoreError> {
    rows.iter()
        .map(|r| {
            let project: Option<String> = r.try_get("project_id")?;
            Ok(AuditEvent {
                id: r.try_get("id")?,
                at: from_ms(r.try_get("at_ms")?)?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                project: project
                    .map(|p| {
                        p.parse::<ProjectId>()
                            .map_err(|e| StoreError::Corrupt(format!("audit project id: {e}")))
                    })
                    .transpose()?,
                target: r.try_get("target")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}
