//! Orders for created certificates, and their status history.
//!
//! Every status change goes through [`change_status`], which asks the domain's status machine
//! first and then updates only if the stored status is still the one the change starts from,
//! so a change raced by another node cannot apply twice.

use certkeeper_domain::audit::NewAuditEvent;
use certkeeper_domain::certificate::{
    CertificateContent, CertificateRecord, CertificateSummary, CertificateType, DnsChallenge,
    Lineage, OrderView, Scope,
};
use certkeeper_domain::ids::{CertificateId, ContainerId, OrderId, ProjectId, SslCertificateId};
use certkeeper_domain::job::JobKind;
use certkeeper_domain::order::OrderStatus;
use sqlx::Row;
use time::OffsetDateTime;

use crate::appends::Appends;
use crate::conn::{WriteConn, args};
use crate::hourly::Deltas;
use crate::jobs::{schedule_on, unschedule_on};
use crate::lifecycle::record_validated_on;
use crate::notifications::push_event_on;
use crate::time_ms::{from_ms, to_ms};
use crate::{Store, StoreError};

/// A created certificate to store, with its pending order.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub ssl_certificate_id: SslCertificateId,
    pub project_id: ProjectId,
    pub container_id: ContainerId,
    pub scope: Scope,
    /// The names asked for, primary first.
    pub names: Vec<String>,
    pub challenges: Vec<DnsChallenge>,
    /// Which issuer will sign (`builtin`, `acme`).
    pub issuer: String,
    /// The external CA's handle on the order (the ACME order URL).
    pub external_ref: Option<String>,
    pub expires_at: OffsetDateTime,
    pub at: OffsetDateTime,
    /// The certificate this order renews.
    pub renewed_from: Option<CertificateId>,
    /// Schedule the issue job (a DNS provider publishes the records) at this time.
    pub issue_job_at: Option<OffsetDateTime>,
}

/// What issuance produced, to store on the certificate.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub summary: CertificateSummary,
    pub der: Vec<u8>,
    pub chain_pem: String,
    /// `None` when the requester holds the key (an ACME client's CSR).
    pub private_key_sealed: Option<Vec<u8>>,
    /// When the certificate's renewal job is due (`None`: renewal is off).
    pub renew_at: Option<OffsetDateTime>,
    /// The names were proved by DNS-01 for this issuance: remember them for reuse. (`false`
    /// when the issuance itself reused a validation, which must not extend it.)
    pub record_validation: bool,
}

/// An order's bookkeeping, beyond what a record shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    pub id: OrderId,
    pub certificate_id: CertificateId,
    pub status: OrderStatus,
    pub issuer: String,
    pub external_ref: Option<String>,
    pub expires_at: OffsetDateTime,
}

/// Moves an order `from → to` inside `conn`'s transaction, its history entry going to
/// `appends`. `Ok(false)` when the stored status is no longer `from` (someone else moved it
/// first).
pub(crate) async fn change_status<C: WriteConn>(
    conn: &mut C,
    appends: &mut Appends,
    order: OrderId,
    from: OrderStatus,
    to: OrderStatus,
    problem: Option<&str>,
    at: OffsetDateTime,
) -> Result<bool, StoreError> {
    from.transition(to)
        .map_err(|e| StoreError::Conflict(e.to_string()))?;
    let moved = conn
        .execute(
            "UPDATE orders SET status = $1, problem = COALESCE($2, problem), status_changed_at_ms = $3, \
             claimed_until_ms = NULL WHERE id = $4 AND status = $5",
            args![to.as_str(), problem, to_ms(at), order.0, from.as_str()],
        )
        .await?
        == 1;
    if moved {
        appends.history(order, to, to_ms(at));
    }
    Ok(moved)
}

/// The claim of [`Store::claim_order`] on `conn`: one statement, atomic on its own.
pub(crate) async fn claim_order_on<C: WriteConn>(
    conn: &mut C,
    order: OrderId,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<bool, StoreError> {
    Ok(conn
        .execute(
            "UPDATE orders SET claimed_until_ms = $1 WHERE id = $2 AND status = 'pending' \
             AND (claimed_until_ms IS NULL OR claimed_until_ms < $3)",
            args![to_ms(until), order.0, to_ms(now)],
        )
        .await?
        == 1)
}

/// The statements of [`Store::create_order`], inside the caller's transaction (counts
/// excluded: the writer bumps them once per batch).
pub(crate) async fn create_order_on<C: WriteConn>(
    tx: &mut C,
    appends: &mut Appends,
    new: NewOrder,
    mut audit_event: NewAuditEvent,
) -> Result<CertificateRecord, StoreError> {
    let names = new.names.clone();
    let (primary, rest) = names
        .split_first()
        .ok_or_else(|| StoreError::Conflict("an order needs a name".into()))?;
    let inserted =
        |what: &str| StoreError::Corrupt(format!("an insert into {what} returned no id"));
    let cert_id = tx
        .fetch_i64(
            "INSERT INTO certificates (ssl_certificate_id, container_id, scope, certificate_type, domain_name, \
             additional_names, chain_pem, created_at_ms, last_modified_ms, issued_cn, renewed_from_id) \
             VALUES ($1, $2, $3, $4, $5, $6, '', $7, $7, $5, $8) RETURNING id",
            args![
                new.ssl_certificate_id.to_string(),
                new.container_id.0,
                new.scope.id(),
                CertificateType::Issued.as_str(),
                primary,
                rest.join(","),
                to_ms(new.at),
                new.renewed_from.map(|c| c.0),
            ],
        )
        .await?
        .ok_or_else(|| inserted("certificates"))?;
    let challenges =
        serde_json::to_string(&new.challenges).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let order_id = tx
        .fetch_i64(
            "INSERT INTO orders (certificate_id, container_id, status, issuer, challenges, expires_at_ms, \
             created_at_ms, status_changed_at_ms, external_ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id",
            args![
                cert_id,
                new.container_id.0,
                OrderStatus::Pending.as_str(),
                &new.issuer,
                challenges,
                to_ms(new.expires_at),
                to_ms(new.at),
                &new.external_ref,
            ],
        )
        .await?
        .ok_or_else(|| inserted("orders"))?;
    appends.history(OrderId(order_id), OrderStatus::Pending, to_ms(new.at));
    if let Some(due) = new.issue_job_at {
        schedule_on(tx, JobKind::Issue, &cert_id.to_string(), due, new.at).await?;
    }
    audit_event.target = format!("certificate:{cert_id}");
    appends.audit(&audit_event);
    let at = from_ms(to_ms(new.at))?;
    Ok(CertificateRecord {
        id: CertificateId(cert_id),
        ssl_certificate_id: new.ssl_certificate_id,
        project_id: new.project_id,
        container_id: new.container_id,
        scope: new.scope,
        certificate_type: CertificateType::Issued,
        domain_name: primary.clone(),
        additional_names: rest.to_vec(),
        content: CertificateContent::Ordered(OrderView {
            id: OrderId(order_id),
            status: OrderStatus::Pending,
            challenges: new.challenges,
            problem: None,
        }),
        created_at: at,
        last_modified: at,
        lineage: Lineage {
            renewed_from: new.renewed_from,
            ..Lineage::default()
        },
    })
}

/// The statements of [`Store::complete_order`], inside the caller's transaction.
pub(crate) async fn complete_order_on<C: WriteConn>(
    tx: &mut C,
    appends: &mut Appends,
    deltas: &mut Deltas,
    ordered: &CertificateRecord,
    issued: IssuedCertificate,
    at: OffsetDateTime,
    mut audit_event: NewAuditEvent,
) -> Result<Option<CertificateRecord>, StoreError> {
    let CertificateContent::Ordered(order_view) = &ordered.content else {
        return Ok(None);
    };
    let (order, certificate) = (order_view.id, ordered.id);
    if !change_status(
        tx,
        appends,
        order,
        OrderStatus::Pending,
        OrderStatus::Issued,
        None,
        at,
    )
    .await?
    {
        return Ok(None);
    }
    let s = &issued.summary;
    let (key_type, key_size) = s.key_type_and_size();
    tx.execute(
        "UPDATE certificates SET public_key_info = $1, signature_algorithm = $2, issuer = $3, subject = $4, \
         serial_number = $5, fingerprint_sha256 = $6, not_before_ms = $7, not_after_ms = $8, certificate_der = $9, \
         chain_pem = $10, private_key_sealed = $11, last_modified_ms = $12, issued_cn = $14, thumbprint = $15, \
         key_type = $16, key_size = $17 WHERE id = $13",
        args![
            &s.public_key_info,
            &s.signature_algorithm,
            &s.issuer,
            &s.subject,
            &s.serial_number,
            &s.fingerprint_sha256,
            to_ms(s.not_before),
            to_ms(s.not_after),
            &issued.der,
            &issued.chain_pem,
            &issued.private_key_sealed,
            to_ms(at),
            certificate.0,
            &s.common_name,
            &s.thumbprint_sha1,
            key_type,
            key_size,
        ],
    )
    .await?;
    audit_event.target = format!("certificate:{certificate}");
    appends.audit(&audit_event);
    let subject = certificate.to_string();
    unschedule_on(tx, JobKind::Issue, &subject).await?;
    if let Some(due) = issued.renew_at {
        schedule_on(tx, JobKind::Renew, &subject, due, at).await?;
    }
    if issued.record_validation {
        let names: Vec<String> = std::iter::once(ordered.domain_name.clone())
            .chain(ordered.additional_names.iter().cloned())
            .collect();
        record_validated_on(tx, ordered.container_id, &names, at).await?;
    }
    // The certificate this one renews is now renewed by it, needs no renewal of its own, and
    // leaves the expiring report (DigiCert counts a predecessor until its successor issues).
    if let Some(old) = ordered.lineage.renewed_from {
        let moved = tx
            .execute(
                "UPDATE certificates SET renewed_by_id = $1 WHERE id = $2 AND renewed_by_id IS NULL",
                args![certificate.0, old.0],
            )
            .await?;
        if moved == 1
            && let Some(not_after) = tx
                .fetch_i64(
                    "SELECT not_after_ms FROM certificates WHERE id = $1 AND not_after_ms IS NOT NULL",
                    args![old.0],
                )
                .await?
        {
            deltas.expiring(ordered.container_id, not_after, -1);
        }
        unschedule_on(tx, JobKind::Renew, &old.to_string()).await?;
    }
    push_event_on(
        tx,
        ordered.container_id,
        certificate,
        if ordered.lineage.renewed_from.is_some() {
            "certificate.renewed"
        } else {
            "certificate.issued"
        },
        None,
        at,
    )
    .await?;
    // Everything is known: no read-back inside the write transaction.
    Ok(Some(CertificateRecord {
        content: CertificateContent::Issued(
            issued.summary,
            OrderView {
                status: OrderStatus::Issued,
                ..order_view.clone()
            },
        ),
        last_modified: from_ms(to_ms(at))?,
        lineage: Lineage {
            renew_after: issued.renew_at.map(|t| from_ms(to_ms(t))).transpose()?,
            ..ordered.lineage
        },
        ..ordered.clone()
    }))
}

/// An order opened and issued in one go (every name's validation was reused): the statements
/// of [`create_order_on`] then [`complete_order_on`], inside the caller's transaction.
pub(crate) async fn create_issued_on<C: WriteConn>(
    tx: &mut C,
    appends: &mut Appends,
    deltas: &mut Deltas,
    new: NewOrder,
    issued: IssuedCertificate,
    create_audit: NewAuditEvent,
    issue_audit: NewAuditEvent,
) -> Result<CertificateRecord, StoreError> {
    let at = new.at;
    let ordered = create_order_on(tx, appends, new, create_audit).await?;
    complete_order_on(tx, appends, deltas, &ordered, issued, at, issue_audit)
        .await?
        .ok_or_else(|| StoreError::Corrupt("an order just opened was not pending".into()))
}

impl Store {
    /// Stores a certificate issued at its creation (its names' validations reused), with its
    /// order already `issued`, in one transaction.
    pub async fn create_issued(
        &self,
        new: NewOrder,
        issued: IssuedCertificate,
        create_audit: NewAuditEvent,
        issue_audit: NewAuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        if self.backend == crate::Backend::Sqlite {
            return self
                .writer
                .create_issued(new, issued, create_audit, issue_audit)
                .await;
        }
        let mut tx = self.begin_write().await?;
        let (container, org) = (
            new.container_id,
            i64::from(new.scope == Scope::Organization),
        );
        let mut appends = Appends::default();
        let mut deltas = Deltas::default();
        let record = create_issued_on(
            &mut *tx,
            &mut appends,
            &mut deltas,
            new,
            issued,
            create_audit,
            issue_audit,
        )
        .await?;
        appends.write(&mut *tx, self.backend).await?;
        crate::counts::bump_counts(&mut *tx, container, 1, org).await?;
        deltas.record(&record, 1);
        deltas.apply(&mut *tx).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Stores a created certificate and its order (status `pending`, with its first history
    /// entry), in one transaction: on SQLite through the group-commit writer (one writer at a
    /// time anyway), on PostgreSQL directly, so concurrent requests use concurrent connections.
    pub async fn create_order(
        &self,
        new: NewOrder,
        audit_event: NewAuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        if self.backend == crate::Backend::Sqlite {
            return self.writer.create_order(new, audit_event).await;
        }
        let mut tx = self.begin_write().await?;
        let (container, org) = (
            new.container_id,
            i64::from(new.scope == Scope::Organization),
        );
        let mut appends = Appends::default();
        let record = create_order_on(&mut *tx, &mut appends, new, audit_event).await?;
        appends.write(&mut *tx, self.backend).await?;
        crate::counts::bump_counts(&mut *tx, container, 1, org).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub async fn order_of_certificate(
        &self,
        id: CertificateId,
    ) -> Result<Option<OrderState>, StoreError> {
        let row = sqlx::query("SELECT id, certificate_id, status, issuer, external_ref, expires_at_ms FROM orders WHERE certificate_id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let status: String = r.try_get("status")?;
        Ok(Some(OrderState {
            id: OrderId(r.try_get("id")?),
            certificate_id: CertificateId(r.try_get("certificate_id")?),
            status: status.parse().map_err(StoreError::Corrupt)?,
            issuer: r.try_get("issuer")?,
            external_ref: r.try_get("external_ref")?,
            expires_at: from_ms(r.try_get("expires_at_ms")?)?,
        }))
    }

    /// Takes the right to validate a pending order until `until`, unless another caller holds
    /// an unexpired claim. The database row is the lock, so this holds across nodes. On SQLite
    /// the claim joins the group-commit writer's next batch (a validate's other writes are
    /// batched there too, so it waits for that writer either way); on PostgreSQL it is one
    /// statement of its own.
    pub async fn claim_order(
        &self,
        order: OrderId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if self.backend == crate::Backend::Sqlite {
            return self.writer.claim_order(order, now, until).await;
        }
        let mut conn = self.pool.acquire().await?;
        claim_order_on(&mut *conn, order, now, until).await
    }

    /// Gives a claim back without changing the order (validation failed; the user may retry).
    pub async fn release_order(&self, order: OrderId) -> Result<(), StoreError> {
        let _writer = self.writer_turn().await;
        sqlx::query("UPDATE orders SET claimed_until_ms = NULL WHERE id = $1")
            .bind(order.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a pending order issued and stores its certificate, in one transaction (through the
    /// group-commit writer on SQLite, directly on PostgreSQL). `None` if the order was no longer
    /// pending (nothing is written then).
    pub async fn complete_order(
        &self,
        ordered: &CertificateRecord,
        issued: IssuedCertificate,
        at: OffsetDateTime,
        audit_event: NewAuditEvent,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        if self.backend == crate::Backend::Sqlite {
            return self
                .writer
                .complete_order(ordered.clone(), issued, at, audit_event)
                .await;
        }
        let mut tx = self.begin_write().await?;
        let mut appends = Appends::default();
        let mut deltas = Deltas::default();
        let record = complete_order_on(
            &mut *tx,
            &mut appends,
            &mut deltas,
            ordered,
            issued,
            at,
            audit_event,
        )
        .await?;
        appends.write(&mut *tx, self.backend).await?;
        if let Some(r) = &record {
            deltas.record(r, 1);
        }
        deltas.apply(&mut *tx).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Ends a pending order as `to` (`rejected` with a problem, or `canceled`). `false` if it
    /// was no longer pending.
    pub async fn end_order(
        &self,
        order: OrderId,
        to: OrderStatus,
        problem: Option<&str>,
        at: OffsetDateTime,
        audit_event: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut appends = Appends::default();
        if !change_status(
            &mut *tx,
            &mut appends,
            order,
            OrderStatus::Pending,
            to,
            problem,
            at,
        )
        .await?
        {
            return Ok(false);
        }
        sqlx::query("UPDATE certificates SET last_modified_ms = $1 WHERE id = (SELECT certificate_id FROM orders WHERE id = $2)")
            .bind(to_ms(at))
            .bind(order.0)
            .execute(&mut *tx)
            .await?;
        appends.audit(&audit_event);
        appends.write(&mut *tx, self.backend).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records why an automated attempt on a pending order failed, without changing its
    /// status (the job retries). `false` when it is no longer pending.
    pub async fn note_order_problem(
        &self,
        order: OrderId,
        problem: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE orders SET problem = $1 WHERE id = $2 AND status = 'pending'")
                .bind(problem)
                .bind(order.0)
                .execute(&mut *tx)
                .await?;
        sqlx::query("UPDATE certificates SET last_modified_ms = $1 WHERE id = (SELECT certificate_id FROM orders WHERE id = $2)")
            .bind(to_ms(at))
            .bind(order.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// A pending order that renews `id`, if one is open (so renewing twice opens one order).
    pub async fn pending_renewal_of(
        &self,
        id: CertificateId,
    ) -> Result<Option<CertificateId>, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT c.id FROM certificates c JOIN orders o ON o.certificate_id = c.id \
             WHERE c.renewed_from_id = $1 AND o.status = 'pending' ORDER BY c.id LIMIT 1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.map(CertificateId))
    }

    /// An order's status history, oldest first.
    pub async fn order_history(
        &self,
        order: OrderId,
    ) -> Result<Vec<(OrderStatus, OffsetDateTime)>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, at_ms FROM order_status_changes WHERE order_id = $1 ORDER BY at_ms, id",
        )
        .bind(order.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get("status")?;
                Ok((
                    s.parse().map_err(StoreError::Corrupt)?,
                    from_ms(r.try_get("at_ms")?)?,
                ))
            })
            .collect()
    }

    /// Pending orders whose challenge expired before `now` (at most `limit`, oldest first),
    /// with their project.
    pub async fn expired_pending_orders(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<(OrderId, CertificateId, ContainerId)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, certificate_id, container_id FROM orders WHERE status = 'pending' AND expires_at_ms < $1 \
             ORDER BY expires_at_ms LIMIT $2",
        )
        .bind(to_ms(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    OrderId(r.try_get("id")?),
                    CertificateId(r.try_get("certificate_id")?),
                    ContainerId(r.try_get("container_id")?),
                ))
            })
            .collect()
    }
}
