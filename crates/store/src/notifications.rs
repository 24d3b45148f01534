//! Notification rules, the marks that make each delivery happen once, the deliveries, and the
//! outbox of lifecycle events.
//!
//! A mark and the delivery (and its job) it causes are written in one transaction, and a mark
//! is a primary key: of two nodes or two runs that reach the same (rule, certificate, event),
//! one inserts the mark and delivers, the other finds it and does nothing.

use certkeeper_domain::ids::{CertificateId, ContainerId};
use certkeeper_domain::job::JobKind;
use certkeeper_domain::query::Query;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::conn::{WriteConn, args};
use crate::jobs::schedule_on;
use crate::query_sql::{bind_all, compile};
use crate::time_ms::{from_ms, to_ms};
use crate::{Store, StoreError};

/// A rule as stored; events, thresholds, channel and watermarks are JSON the core reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRule {
    pub id: i64,
    pub container_id: ContainerId,
    pub name: String,
    pub events: String,
    pub expiring_days: String,
    pub collection_id: Option<i64>,
    pub channel_public: String,
    pub channel_sealed: Vec<u8>,
    pub watermarks: String,
    pub disabled_reason: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The fields of a rule to create or replace.
#[derive(Debug, Clone)]
pub struct RuleFields {
    pub name: String,
    pub events: String,
    pub expiring_days: String,
    pub collection_id: Option<i64>,
    pub channel_public: String,
    pub channel_sealed: Vec<u8>,
    pub watermarks: String,
    pub at: OffsetDateTime,
}

/// An outbox entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    pub id: i64,
    pub container_id: ContainerId,
    pub certificate_id: CertificateId,
    pub event: String,
    pub detail: Option<String>,
    pub at: OffsetDateTime,
}

/// A delivery to enqueue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub rule_id: i64,
    pub message_id: String,
    pub event: String,
    pub body: String,
}

/// Marks to insert, and the delivery to enqueue if any of them is new.
#[derive(Debug, Clone)]
pub struct FanOut {
    pub marks: Vec<(i64, CertificateId, String)>,
    /// `None`: only mark (thresholds passed unseen).
    pub delivery: Option<NewDelivery>,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelivery {
    pub id: i64,
    pub rule_id: i64,
    pub message_id: String,
    pub event: String,
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One delivery attempt's outcome, to record.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub delivery: i64,
    pub state: String,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub at: OffsetDateTime,
}

/// The statement of [`Store::record_attempt`], in the caller's transaction.
pub(crate) async fn record_attempt_on<C: WriteConn>(
    conn: &mut C,
    a: &Attempt,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE notification_deliveries SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4, \
         updated_at_ms = $5 WHERE id = $1",
        args![a.delivery, a.state.as_str(), a.status, &a.error, to_ms(a.at)],
    )
    .await?;
    Ok(())
}

/// Records a lifecycle event in the caller's transaction.
pub(crate) async fn push_event_on<C: WriteConn>(
    conn: &mut C,
    container: ContainerId,
    certificate: CertificateId,
    event: &str,
    detail: Option<&str>,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO lifecycle_events (container_id, certificate_id, event, detail, at_ms) VALUES ($1, $2, $3, $4, $5)",
        args![container.0, certificate.0, event, detail, to_ms(at)],
    )
    .await?;
    Ok(())
}

const RULE_COLUMNS: &str = "id, container_id, name, events, expiring_days, collection_id, channel_public, \
     channel_sealed, watermarks, disabled_reason, created_at_ms, updated_at_ms";

fn rule_from_row(r: &AnyRow) -> Result<StoredRule, StoreError> {
    Ok(StoredRule {
        id: r.try_get("id")?,
        container_id: ContainerId(r.try_get("container_id")?),
        name: r.try_get("name")?,
        events: r.try_get("events")?,
        expiring_days: r.try_get("expiring_days")?,
        collection_id: r.try_get("collection_id")?,
        channel_public: r.try_get("channel_public")?,
        channel_sealed: r.try_get("channel_sealed")?,
        watermarks: r.try_get("watermarks")?,
        disabled_reason: r.try_get("disabled_reason")?,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
        updated_at: from_ms(r.try_get("updated_at_ms")?)?,
    })
}

const DELIVERY_COLUMNS: &str = "id, rule_id, message_id, event, body, state, attempts, last_status, \
     last_error, created_at_ms, updated_at_ms";

fn delivery_from_row(r: &AnyRow) -> Result<StoredDelivery, StoreError> {
    Ok(StoredDelivery {
        id: r.try_get("id")?,
        rule_id: r.try_get("rule_id")?,
        message_id: r.try_get("message_id")?,
        event: r.try_get("event")?,
        body: r.try_get("body")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
        updated_at: from_ms(r.try_get("updated_at_ms")?)?,
    })
}

fn name_taken(e: sqlx::Error, name: &str) -> StoreError {
    if StoreError::is_unique_violation(&e) {
        StoreError::Conflict(format!(
            "a notification rule named {name:?} already exists in this project"
        ))
    } else {
        e.into()
    }
}

impl Store {
    /// Records a lifecycle event outside any other write.
    pub async fn push_event(
        &self,
        container: ContainerId,
        certificate: CertificateId,
        event: &str,
        detail: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        push_event_on(&mut *tx, container, certificate, event, detail, at).await?;
        tx.commit().await
    }

    /// `seal` gives the sealed channel for the new rule's id (a channel is bound to its rule,
    /// whose id the insert makes); `f.channel_sealed` is not used. One transaction.
    pub async fn create_rule(
        &self,
        container: ContainerId,
        f: &RuleFields,
        seal: impl FnOnce(i64) -> Result<Vec<u8>, String>,
    ) -> Result<StoredRule, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO notification_rules (container_id, name, events, expiring_days, collection_id, channel_public, \
             channel_sealed, watermarks, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             RETURNING {RULE_COLUMNS}"
        )))
        .bind(container.0)
        .bind(&f.name)
        .bind(&f.events)
        .bind(&f.expiring_days)
        .bind(f.collection_id)
        .bind(&f.channel_public)
        .bind(Vec::<u8>::new())
        .bind(&f.watermarks)
        .bind(to_ms(f.at))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| name_taken(e, &f.name))?;
        let mut rule = rule_from_row(&row)?;
        rule.channel_sealed = seal(rule.id).map_err(StoreError::Corrupt)?;
        sqlx::query("UPDATE notification_rules SET channel_sealed = $1 WHERE id = $2")
            .bind(rule.channel_sealed.clone())
            .bind(rule.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rule)
    }

    /// Replaces a rule's fields (and re-enables it). `None` if it is not in `container`.
    pub async fn update_rule(
        &self,
        container: ContainerId,
        id: i64,
        f: &RuleFields,
    ) -> Result<Option<StoredRule>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE notification_rules SET name = $3, events = $4, expiring_days = $5, collection_id = $6, \
             channel_public = $7, channel_sealed = $8, watermarks = $9, disabled_reason = NULL, updated_at_ms = $10 \
             WHERE id = $1 AND container_id = $2 RETURNING {RULE_COLUMNS}"
        )))
        .bind(id)
        .bind(container.0)
        .bind(&f.name)
        .bind(&f.events)
        .bind(&f.expiring_days)
        .bind(f.collection_id)
        .bind(&f.channel_public)
        .bind(f.channel_sealed.clone())
        .bind(&f.watermarks)
        .bind(to_ms(f.at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| name_taken(e, &f.name))?;
        let rule = row.as_ref().map(rule_from_row).transpose()?;
        tx.commit().await?;
        Ok(rule)
    }

    /// Deletes a rule with its marks and deliveries. `false` if it is not in `container`.
    pub async fn delete_rule(&self, container: ContainerId, id: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("DELETE FROM notification_rules WHERE id = $1 AND container_id = $2")
                .bind(id)
                .bind(container.0)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        for sql in [
            "DELETE FROM jobs WHERE kind = 'deliver' AND subject IN (SELECT CAST(id AS TEXT) FROM notification_deliveries WHERE rule_id = $1)",
            "DELETE FROM notification_deliveries WHERE rule_id = $1",
            "DELETE FROM notification_marks WHERE rule_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn rule(&self, id: i64) -> Result<Option<StoredRule>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM notification_rules WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rule_from_row).transpose()
    }

    /// A project's rules, or every project's (`None`), in id order.
    pub async fn rules(
        &self,
        container: Option<ContainerId>,
    ) -> Result<Vec<StoredRule>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM notification_rules WHERE ($1 = 0 OR container_id = $1) ORDER BY id"
        )))
        .bind(container.map_or(0, |c| c.0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rule_from_row).collect()
    }

    /// Disables a rule (its receiver answered 410 Gone).
    pub async fn disable_rule(
        &self,
        id: i64,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE notification_rules SET disabled_reason = $2, updated_at_ms = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(reason)
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// The oldest outbox entries.
    pub async fn pending_events(&self, limit: i64) -> Result<Vec<LifecycleEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, container_id, certificate_id, event, detail, at_ms FROM lifecycle_events ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LifecycleEvent {
                    id: r.try_get("id")?,
                    container_id: ContainerId(r.try_get("container_id")?),
                    certificate_id: CertificateId(r.try_get("certificate_id")?),
                    event: r.try_get("event")?,
                    detail: r.try_get("detail")?,
                    at: from_ms(r.try_get("at_ms")?)?,
                })
            })
            .collect()
    }

    /// Certificates of `container` (matching `query` when given) whose notAfter is in
    /// `(from, until]`, not renewed, soonest first: the ones that crossed a threshold since the
    /// last look. An index range on notAfter, however large the inventory.
    pub async fn expiring_between(
        &self,
        container: ContainerId,
        query: Option<&Query>,
        from: OffsetDateTime,
        until: OffsetDateTime,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<(CertificateId, OffsetDateTime)>, StoreError> {
        let cond = query.map(|q| compile(q, self.backend, now, 5));
        let sql = format!(
            // `container_id + 0`: the search must walk the notAfter index over the narrow range
            // (the certificates that crossed a threshold since the last run); SQLite would
            // otherwise pick the project's index and visit every certificate of a big project.
            "SELECT c.id, c.not_after_ms FROM certificates c WHERE c.not_after_ms > $1 AND c.not_after_ms <= $2 \
             AND c.container_id + 0 = $3 AND c.renewed_by_id IS NULL AND c.certificate_der IS NOT NULL{} \
             ORDER BY c.not_after_ms LIMIT $4",
            cond.as_ref()
                .map(|c| format!(" AND {}", c.sql))
                .unwrap_or_default()
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_ms(from))
            .bind(to_ms(until))
            .bind(container.0)
            .bind(limit);
        let q = match &cond {
            Some(c) => bind_all(q, &c.binds),
            None => q,
        };
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    CertificateId(r.try_get("id")?),
                    from_ms(r.try_get("not_after_ms")?)?,
                ))
            })
            .collect()
    }

    /// Whether certificate `id` matches `query` at `now`.
    pub async fn certificate_matches(
        &self,
        id: CertificateId,
        query: &Query,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let cond = compile(query, self.backend, now, 2);
        let sql = format!(
            "SELECT c.id FROM certificates c WHERE c.id = $1 AND {}",
            cond.sql
        );
        let q = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0),
            &cond.binds,
        );
        Ok(q.fetch_optional(&self.pool).await?.is_some())
    }

    /// Whether `mark` was already handled for this rule and certificate.
    pub async fn marked(
        &self,
        rule: i64,
        certificate: CertificateId,
        mark: &str,
    ) -> Result<bool, StoreError> {
        let hit: Option<i64> = sqlx::query_scalar(
            "SELECT rule_id FROM notification_marks WHERE rule_id = $1 AND certificate_id = $2 AND mark = $3",
        )
        .bind(rule)
        .bind(certificate.0)
        .bind(mark)
        .fetch_optional(&self.pool)
        .await?;
        Ok(hit.is_some())
    }

    /// Writes marks, and for each group with a new mark its delivery and delivery job, in one
    /// transaction; also drops the outbox entry handled and moves rule watermarks. Returns the
    /// deliveries enqueued.
    pub async fn fan_out(
        &self,
        groups: Vec<FanOut>,
        handled_event: Option<i64>,
        watermarks: &[(i64, String)],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut enqueued = 0;
        for g in groups {
            let mut fresh = false;
            for (rule, certificate, mark) in &g.marks {
                let done = sqlx::query(
                    "INSERT INTO notification_marks (rule_id, certificate_id, mark, at_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (rule_id, certificate_id, mark) DO NOTHING",
                )
                .bind(rule)
                .bind(certificate.0)
                .bind(mark.as_str())
                .bind(to_ms(now))
                .execute(&mut *tx)
                .await?;
                fresh |= done.rows_affected() == 1;
            }
            let (true, Some(d)) = (fresh, g.delivery) else {
                continue;
            };
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO notification_deliveries (rule_id, message_id, event, body, state, created_at_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, 'pending', $5, $5) RETURNING id",
            )
            .bind(d.rule_id)
            .bind(&d.message_id)
            .bind(&d.event)
            .bind(&d.body)
            .bind(to_ms(now))
            .fetch_one(&mut *tx)
            .await?;
            for (rule, certificate, mark) in &g.marks {
                sqlx::query(
                    "UPDATE notification_marks SET delivery_id = $4 WHERE rule_id = $1 AND certificate_id = $2 AND mark = $3 AND delivery_id IS NULL",
                )
                .bind(rule)
                .bind(certificate.0)
                .bind(mark.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            schedule_on(&mut *tx, JobKind::Deliver, &id.to_string(), now, now).await?;
            enqueued += 1;
        }
        if let Some(e) = handled_event {
            sqlx::query("DELETE FROM lifecycle_events WHERE id = $1")
                .bind(e)
                .execute(&mut *tx)
                .await?;
        }
        for (rule, marks) in watermarks {
            sqlx::query("UPDATE notification_rules SET watermarks = $2 WHERE id = $1")
                .bind(rule)
                .bind(marks.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(enqueued)
    }

    pub async fn delivery(&self, id: i64) -> Result<Option<StoredDelivery>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    /// A rule's deliveries, newest first.
    pub async fn deliveries(
        &self,
        rule: i64,
        limit: i64,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE rule_id = $1 ORDER BY id DESC LIMIT $2"
        )))
        .bind(rule)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Records an attempt's outcome (through the group-commit writer, so concurrent
    /// deliveries share a commit).
    pub async fn record_attempt(
        &self,
        id: i64,
        state: &str,
        status: Option<i64>,
        error: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let attempt = Attempt {
            delivery: id,
            state: state.to_string(),
            status,
            error: error.map(str::to_string),
            at,
        };
        self.writer.record_attempt(attempt).await
    }
}
