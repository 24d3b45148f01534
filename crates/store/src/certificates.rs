//! Certificates and their per-project counts.

use certkeeper_domain::audit::NewAuditEvent;
use certkeeper_domain::certificate::{
    CertificateContent, CertificateRecord, CertificateSummary, CertificateType, DnsChallenge,
    Lineage, OrderView, Scope,
};
use certkeeper_domain::ids::{CertificateId, ContainerId, OrderId, ProjectId, SslCertificateId};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::appends::Appends;
use crate::conn::{WriteConn, args};
use crate::counts::bump_counts;
use crate::hourly::Deltas;
use crate::orders::OrderState;
use crate::time_ms::{from_ms, to_ms};
use crate::{Backend, Store, StoreError, audit};

/// `SELECT <certificate record columns> FROM certificates c JOIN projects p ... <rest>`; with
/// two arguments, the first is more columns to select.
macro_rules! select_certificates {
    ($rest:literal) => {
        select_certificates!("", $rest)
    };
    ($more:literal, $rest:literal) => {
        concat!(
            "SELECT c.id, c.ssl_certificate_id, c.container_id, p.id AS project_uuid, c.scope, ",
            "c.certificate_type, c.domain_name, c.additional_names, c.public_key_info, ",
            "c.signature_algorithm, c.issuer, c.subject, c.serial_number, c.fingerprint_sha256, ",
            "c.not_before_ms, c.not_after_ms, c.created_at_ms, c.last_modified_ms, c.issued_cn, c.thumbprint, ",
            "o.id AS order_id, o.status AS order_status, o.challenges AS order_challenges, ",
            "o.problem AS order_problem, c.renewed_from_id, c.renewed_by_id, ",
            // A renewed certificate has no renewal ahead, even while the job that renewed it
            // is still finishing (it then ends at its next look).
            "(SELECT j.due_at_ms FROM jobs j WHERE j.kind = 'renew' AND j.subject = CAST(c.id AS TEXT) \
             AND c.renewed_by_id IS NULL) AS renew_after_ms ",
            $more,
            " FROM certificates c JOIN projects p ON p.container_id = c.container_id ",
            "LEFT JOIN orders o ON o.certificate_id = c.id ",
            $rest
        )
    };
}

/// A certificate to store.
#[derive(Debug, Clone)]
pub struct NewCertificate {
    pub ssl_certificate_id: SslCertificateId,
    pub project_id: ProjectId,
    pub container_id: ContainerId,
    pub scope: Scope,
    pub certificate_type: CertificateType,
    pub summary: CertificateSummary,
    pub der: Vec<u8>,
    pub chain_pem: String,
    /// The private key, already sealed under the master key.
    pub private_key_sealed: Option<Vec<u8>>,
    pub at: OffsetDateTime,
}

/// A record with the material that never goes into listings.
#[derive(Debug, Clone)]
pub struct StoredCertificate {
    pub record: CertificateRecord,
    /// `None` until a created certificate is issued.
    pub der: Option<Vec<u8>>,
    pub chain_pem: String,
    pub private_key_sealed: Option<Vec<u8>>,
}

/// One page of a listing, with the total it is a page of.
#[derive(Debug, Clone)]
pub struct CertificatePage {
    pub items: Vec<CertificateRecord>,
    pub total: i64,
}

pub(crate) fn record_from_row(r: &AnyRow) -> Result<CertificateRecord, StoreError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("certificate {what}: {e}"))
    };
    let ssl: String = r.try_get("ssl_certificate_id")?;
    let project: String = r.try_get("project_uuid")?;
    let scope: i64 = r.try_get("scope")?;
    let ctype: String = r.try_get("certificate_type")?;
    let names: String = r.try_get("additional_names")?;
    let domain_name: String = r.try_get("domain_name")?;
    let additional_names: Vec<String> = if names.is_empty() {
        Vec::new()
    } else {
        names.split(',').map(str::to_string).collect()
    };
    let summary = match r.try_get::<Option<i64>, _>("not_before_ms")? {
        None => None,
        Some(not_before) => {
            let need = |col: &str| -> Result<String, StoreError> {
                r.try_get::<Option<String>, _>(col)?
                    .ok_or_else(|| corrupt(col, &"missing on an issued certificate"))
            };
            let not_after: Option<i64> = r.try_get("not_after_ms")?;
            Some(CertificateSummary {
                domain_name: domain_name.clone(),
                additional_names: additional_names.clone(),
                public_key_info: need("public_key_info")?,
                signature_algorithm: need("signature_algorithm")?,
                issuer: need("issuer")?,
                subject: need("subject")?,
                serial_number: need("serial_number")?,
                fingerprint_sha256: need("fingerprint_sha256")?,
                not_before: from_ms(not_before)?,
                not_after: from_ms(not_after.ok_or_else(|| corrupt("not_after", &"missing"))?)?,
                common_name: r.try_get("issued_cn")?,
                thumbprint_sha1: r
                    .try_get::<Option<String>, _>("thumbprint")?
                    .unwrap_or_default(),
            })
        }
    };
    let order = match r.try_get::<Option<i64>, _>("order_id")? {
        None => None,
        Some(id) => {
            let status: String = r.try_get("order_status")?;
            let challenges: String = r.try_get("order_challenges")?;
            Some(OrderView {
                id: OrderId(id),
                status: status
                    .parse()
                    .map_err(|e: String| corrupt("order status", &e))?,
                challenges: serde_json::from_str::<Vec<DnsChallenge>>(&challenges)
                    .map_err(|e| corrupt("order challenges", &e))?,
                problem: r.try_get("order_problem")?,
            })
        }
    };
    let content = match (summary, order) {
        (Some(s), None) => CertificateContent::Imported(s),
        (None, Some(o)) => CertificateContent::Ordered(o),
        (Some(s), Some(o)) => CertificateContent::Issued(s, o),
        (None, None) => return Err(corrupt("content", &"neither a certificate nor an order")),
    };
    Ok(CertificateRecord {
        id: CertificateId(r.try_get("id")?),
        ssl_certificate_id: ssl.parse().map_err(|e| corrupt("uuid", &e))?,
        project_id: project.parse().map_err(|e| corrupt("project", &e))?,
        container_id: ContainerId(r.try_get("container_id")?),
        scope: Scope::from_id(scope).ok_or_else(|| corrupt("scope", &scope))?,
        certificate_type: ctype.parse().map_err(|e: String| corrupt("type", &e))?,
        domain_name,
        additional_names,
        content,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
        last_modified: from_ms(r.try_get("last_modified_ms")?)?,
        lineage: Lineage {
            renewed_from: r
                .try_get::<Option<i64>, _>("renewed_from_id")?
                .map(CertificateId),
            renewed_by: r
                .try_get::<Option<i64>, _>("renewed_by_id")?
                .map(CertificateId),
            renew_after: r
                .try_get::<Option<i64>, _>("renew_after_ms")?
                .map(from_ms)
                .transpose()?,
        },
    })
}

/// Inserts one certificate and its audit record on `conn` (inside the caller's transaction).
/// Returns the outcome and the organization-count delta; counts are bumped by the caller, once
/// per batch.
pub(crate) async fn insert_one<C: WriteConn>(
    conn: &mut C,
    appends: &mut Appends,
    new: NewCertificate,
    mut audit_event: NewAuditEvent,
) -> Result<InsertOutcome, StoreError> {
    let (key_type, key_size) = new.summary.key_type_and_size();
    let s = &new.summary;
    let inserted = conn
        .fetch_i64(
            "INSERT INTO certificates (ssl_certificate_id, container_id, scope, certificate_type, domain_name, \
             additional_names, public_key_info, signature_algorithm, issuer, subject, serial_number, \
             fingerprint_sha256, not_before_ms, not_after_ms, certificate_der, chain_pem, private_key_sealed, \
             created_at_ms, last_modified_ms, issued_cn, thumbprint, key_type, key_size) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18, $19, $20, $21, $22) \
             ON CONFLICT (container_id, fingerprint_sha256) DO NOTHING RETURNING id",
            args![
                new.ssl_certificate_id.to_string(),
                new.container_id.0,
                new.scope.id(),
                new.certificate_type.as_str(),
                &s.domain_name,
                s.additional_names.join(","),
                &s.public_key_info,
                &s.signature_algorithm,
                &s.issuer,
                &s.subject,
                &s.serial_number,
                &s.fingerprint_sha256,
                to_ms(s.not_before),
                to_ms(s.not_after),
                &new.der,
                &new.chain_pem,
                &new.private_key_sealed,
                to_ms(new.at),
                &s.common_name,
                &s.thumbprint_sha1,
                key_type,
                key_size,
            ],
        )
        .await?;
    let Some(id) = inserted else {
        let existing = conn
            .fetch_i64(
                "SELECT id FROM certificates WHERE container_id = $1 AND fingerprint_sha256 = $2",
                args![new.container_id.0, &new.summary.fingerprint_sha256],
            )
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(
                    "a duplicate certificate vanished within its transaction".into(),
                )
            })?;
        return Ok(InsertOutcome::Duplicate(CertificateId(existing)));
    };
    // Everything in the record is known here: no read-back inside the write transaction.
    let at = from_ms(to_ms(new.at))?;
    let record = CertificateRecord {
        id: CertificateId(id),
        ssl_certificate_id: new.ssl_certificate_id,
        project_id: new.project_id,
        container_id: new.container_id,
        scope: new.scope,
        certificate_type: new.certificate_type,
        domain_name: new.summary.domain_name.clone(),
        additional_names: new.summary.additional_names.clone(),
        content: CertificateContent::Imported(new.summary),
        created_at: at,
        last_modified: at,
        lineage: Lineage::default(),
    };
    audit_event.target = format!("certificate:{}", record.id);
    appends.audit(&audit_event);
    Ok(InsertOutcome::Inserted(Box::new(record)))
}

impl Store {
    /// Stores a certificate with its audit record (whose `target` is set to the new id). If the
    /// project already holds the same certificate (by SHA-256), nothing is written and the
    /// outcome names the existing id.
    ///
    /// Inserts go through the store's group-commit writer: concurrent imports share one
    /// transaction (see [`crate::writer`]), each still answered only once it is committed.
    pub async fn insert_certificate(
        &self,
        new: NewCertificate,
        audit_event: NewAuditEvent,
    ) -> Result<InsertOutcome, StoreError> {
        self.writer.insert(new, audit_event).await
    }

    pub async fn certificate(
        &self,
        id: CertificateId,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        let row = sqlx::query(select_certificates!("WHERE c.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// A project's own certificate with this serial (upper-case hex, no leading zero bytes).
    pub async fn certificate_by_serial(
        &self,
        container: ContainerId,
        serial_hex: &str,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        let row = sqlx::query(select_certificates!(
            "WHERE c.container_id = $1 AND c.serial_number = $2 ORDER BY c.id LIMIT 1"
        ))
        .bind(container.0)
        .bind(serial_hex)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// The record with its order's bookkeeping (`None` for an imported certificate), in one
    /// query: what validation starts from.
    pub async fn certificate_with_order(
        &self,
        id: CertificateId,
    ) -> Result<Option<(CertificateRecord, Option<OrderState>)>, StoreError> {
        let row = sqlx::query(select_certificates!(
            ", o.issuer AS order_issuer, o.external_ref AS order_external_ref, \
             o.expires_at_ms AS order_expires_at_ms",
            "WHERE c.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let record = record_from_row(&row)?;
        let state = match record.order() {
            None => None,
            Some(order) => Some(OrderState {
                id: order.id,
                certificate_id: record.id,
                status: order.status,
                issuer: row.try_get("order_issuer")?,
                external_ref: row.try_get("order_external_ref")?,
                expires_at: from_ms(row.try_get("order_expires_at_ms")?)?,
            }),
        };
        Ok(Some((record, state)))
    }

    /// The record with its DER, chain and sealed key.
    pub async fn certificate_material(
        &self,
        id: CertificateId,
    ) -> Result<Option<StoredCertificate>, StoreError> {
        let Some(record) = self.certificate(id).await? else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT certificate_der, chain_pem, private_key_sealed FROM certificates WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredCertificate {
            record,
            der: row.try_get("certificate_der")?,
            chain_pem: row.try_get("chain_pem")?,
            private_key_sealed: row.try_get("private_key_sealed")?,
        }))
    }

    /// One page of the certificates visible in a project (its own, and every
    /// organization-scoped one), in id order.
    pub async fn visible_certificates(
        &self,
        container: ContainerId,
        offset: i64,
        limit: i64,
    ) -> Result<CertificatePage, StoreError> {
        let total: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN container_id = $1 THEN total - organization ELSE 0 END), 0) \
             + COALESCE(SUM(organization), 0) AS BIGINT) AS n FROM certificate_counts",
        )
        .bind(container.0)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let items = if offset >= total {
            Vec::new()
        } else {
            // The page's ids come from the covering `certificates_listing` index alone; only
            // the page's rows are then read and joined (skipping OFFSET rows stays in the index).
            let rows = sqlx::query(select_certificates!(
                "JOIN (SELECT id FROM certificates WHERE container_id = $1 OR scope = 1 \
                 ORDER BY id LIMIT $2 OFFSET $3) page ON page.id = c.id ORDER BY c.id"
            ))
            .bind(container.0)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(record_from_row)
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(CertificatePage { items, total })
    }

    /// Changes a certificate's scope. `None` if it does not exist.
    pub async fn update_certificate_scope(
        &self,
        id: CertificateId,
        scope: Scope,
        at: OffsetDateTime,
        audit_event: impl FnOnce(&CertificateRecord) -> NewAuditEvent,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE certificates SET scope = $1, last_modified_ms = $2 WHERE id = $3 AND scope <> $1 RETURNING container_id",
        )
        .bind(scope.id())
        .bind(to_ms(at))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = changed {
            let delta = if scope == Scope::Organization { 1 } else { -1 };
            bump_counts(
                &mut *tx,
                ContainerId(row.try_get("container_id")?),
                0,
                delta,
            )
            .await?;
        } else {
            // Same scope as before: still a modification the user asked for.
            sqlx::query("UPDATE certificates SET last_modified_ms = $1 WHERE id = $2")
                .bind(to_ms(at))
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(select_certificates!("WHERE c.id = $1"))
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(record) = row.as_ref().map(record_from_row).transpose()? else {
            return Ok(None);
        };
        audit::insert(&mut tx, &audit_event(&record)).await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    /// Deletes a certificate; returns what was deleted, `None` if it did not exist.
    pub async fn delete_certificate(
        &self,
        id: CertificateId,
        audit_event: impl FnOnce(&CertificateRecord) -> NewAuditEvent,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(select_certificates!("WHERE c.id = $1"))
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(record) = row.as_ref().map(record_from_row).transpose()? else {
            return Ok(None);
        };
        let deleted = sqlx::query("DELETE FROM certificates WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Ok(None);
        }
        bump_counts(
            &mut *tx,
            record.container_id,
            -1,
            -i64::from(record.scope == Scope::Organization),
        )
        .await?;
        let mut deltas = Deltas::default();
        deltas.record(&record, -1);
        deltas.apply(&mut *tx).await?;
        audit::insert(&mut tx, &audit_event(&record)).await?;
        tx.commit().await?;
        Ok(Some(record))
    }
}

/// The result of [`Store::insert_certificate`].
#[derive(Debug)]
pub enum InsertOutcome {
    /// Boxed: a record is large next to an id.
    Inserted(Box<CertificateRecord>),
    /// The project already holds this certificate, under this id.
    Duplicate(CertificateId),
}

impl Store {
    /// Fills `issued_cn` and `thumbprint` for up to `batch` certificates stored before those
    /// columns existed (read from their DER). Returns how many it looked at; 0 when done. The
    /// server runs it in the background at start, so start-up never waits on the inventory.
    pub async fn backfill_search_columns(&self, batch: i64) -> Result<usize, StoreError> {
        // The partial index `certificates_backfill` holds exactly these rows (migration 0011).
        // SQLite, without statistics, preferred `thumbprint = NULL` through the thumbprint
        // index, which visits every certificate never issued (1 s at 10M, at every start), so
        // it is named there.
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT id, certificate_der FROM certificates INDEXED BY certificates_backfill \
                 WHERE thumbprint IS NULL AND certificate_der IS NOT NULL LIMIT $1"
            }
            Backend::Postgres => {
                "SELECT id, certificate_der FROM certificates \
                 WHERE thumbprint IS NULL AND certificate_der IS NOT NULL LIMIT $1"
            }
        };
        let rows = sqlx::query(sql).bind(batch).fetch_all(&self.pool).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let der: Vec<u8> = r.try_get("certificate_der")?;
            // An unreadable DER gets an empty thumbprint, so it is not tried again.
            let (cn, thumbprint) = match certkeeper_domain::x509::summarize_der(&der) {
                Ok(s) => (s.common_name, s.thumbprint_sha1),
                Err(_) => (None, String::new()),
            };
            sqlx::query("UPDATE certificates SET issued_cn = COALESCE(issued_cn, $1), thumbprint = $2 WHERE id = $3")
                .bind(cn)
                .bind(thumbprint)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }
}
