//! Revocations by the built-in CA and the CRL signed from them.
//!
//! A revocation is one transaction: the order moves `issued → revoked` (its history entry is
//! what DigiCert's status-change report shows), the revocation row is written, the renewal job
//! is dropped, `certificate.revoked` is raised, the audit entry appended, and the CRL job is
//! made due within [`CRL_COALESCE`]. The CRL itself is signed by that job, never by the revoking request, so a
//! revocation costs the same at 100,000 entries as at one.

use certkeeper_domain::audit::NewAuditEvent;
use certkeeper_domain::ids::{CertificateId, ContainerId, OrderId};
use certkeeper_domain::job::JobKind;
use certkeeper_domain::order::OrderStatus;
use sqlx::Row;
use time::OffsetDateTime;

use crate::appends::Appends;
use crate::hourly::Deltas;
use crate::jobs::{schedule_no_later_on, unschedule_on};
use crate::notifications::push_event_on;
use crate::orders::change_status;
use crate::time_ms::{from_ms, to_ms};
use crate::{Store, StoreError};

/// The subject of the one CRL job (one issuing CA).
pub const CRL_JOB_SUBJECT: &str = "builtin";

/// How long after a revocation the CRL job is due: revocations arriving together are signed
/// into one CRL (each CRL of 100,000 entries is a 5 MB write), and none waits longer.
pub const CRL_COALESCE: time::Duration = time::Duration::seconds(2);

/// A revocation to store.
#[derive(Debug, Clone)]
pub struct NewRevocation {
    pub certificate_id: CertificateId,
    pub order_id: OrderId,
    pub container_id: ContainerId,
    /// Upper-case hex, as the inventory keeps it.
    pub serial_number: String,
    /// The RFC 5280 CRLReason code.
    pub reason_code: u8,
    pub not_after: OffsetDateTime,
    pub at: OffsetDateTime,
    pub audit: NewAuditEvent,
    /// On the built-in CA's CRL and OCSP. `false` for a certificate another CA issued (and
    /// revoked at certkeeper's request): only the inventory records it.
    pub on_crl: bool,
}

/// One entry of the CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial_number: String,
    pub reason_code: u8,
    pub revoked_at: OffsetDateTime,
}

/// What a serial number is to the built-in CA (what OCSP answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialStatus {
    /// Issued by the built-in CA and not revoked.
    Issued,
    Revoked {
        at: OffsetDateTime,
        reason_code: u8,
    },
    /// Never issued here (or issued and deleted from the inventory without revocation).
    Unknown,
}

/// The stored CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCrl {
    pub crl_number: i64,
    /// How many revocations had been stored when it was built ([`Store::revocation_count`]).
    pub built_through: i64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub der: Vec<u8>,
}

/// A stored CRL's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlState {
    pub crl_number: i64,
    pub built_through: i64,
    pub this_update: OffsetDateTime,
}

fn reason(code: i64) -> Result<u8, StoreError> {
    u8::try_from(code).map_err(|_| StoreError::Corrupt(format!("revocation reason {code}")))
}

impl Store {
    /// Revokes an issued certificate (see the module doc). `false` when its order is no
    /// longer `issued` (revoked meanwhile by another request): nothing is written then.
    pub async fn revoke(&self, r: NewRevocation) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut appends = Appends::default();
        if !change_status(
            &mut *tx,
            &mut appends,
            r.order_id,
            OrderStatus::Issued,
            OrderStatus::Revoked,
            None,
            r.at,
        )
        .await?
        {
            return Ok(false);
        }
        if r.on_crl {
            sqlx::query(
                "INSERT INTO revocations (certificate_id, container_id, serial_number, reason_code, \
                 revoked_at_ms, not_after_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(r.certificate_id.0)
            .bind(r.container_id.0)
            .bind(&r.serial_number)
            .bind(i64::from(r.reason_code))
            .bind(to_ms(r.at))
            .bind(to_ms(r.not_after))
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(
            "UPDATE certificates SET last_modified_ms = $1 WHERE id = $2 \
             RETURNING renewed_by_id, not_after_ms",
        )
        .bind(to_ms(r.at))
        .bind(r.certificate_id.0)
        .fetch_one(&mut *tx)
        .await?;
        // A revoked certificate leaves the expiring counts, unless its renewal already took
        // it out.
        let renewed_by: Option<i64> = row.try_get("renewed_by_id")?;
        let not_after: Option<i64> = row.try_get("not_after_ms")?;
        let mut deltas = Deltas::default();
        if let (None, Some(not_after)) = (renewed_by, not_after) {
            deltas.expiring(r.container_id, not_after, -1);
        }
        deltas.apply(&mut *tx).await?;
        unschedule_on(&mut *tx, JobKind::Renew, &r.certificate_id.to_string()).await?;
        if r.on_crl {
            schedule_no_later_on(
                &mut *tx,
                JobKind::PublishCrl,
                CRL_JOB_SUBJECT,
                r.at + CRL_COALESCE,
                r.at,
            )
            .await?;
        }
        let detail = serde_json::json!({ "reasonCode": r.reason_code }).to_string();
        push_event_on(
            &mut *tx,
            r.container_id,
            r.certificate_id,
            "certificate.revoked",
            Some(&detail),
            r.at,
        )
        .await?;
        appends.audit(&r.audit);
        appends.write(&mut *tx, self.backend).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// How many revocations were ever stored. Rows are never deleted, so the count only
    /// grows, and a CRL built from fewer is stale. (A count, not the highest id: on PostgreSQL
    /// ids are taken before commit, so a lower id can become visible after a higher one.)
    pub async fn revocation_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM revocations")
            .fetch_one(&self.pool)
            .await?)
    }

    /// What goes on a CRL at `now`: every revocation of a certificate not yet expired. (The
    /// caller reads [`Self::revocation_count`] first, so a revocation stored in between makes
    /// the next check build again rather than be missed.)
    pub async fn crl_entries(&self, now: OffsetDateTime) -> Result<Vec<RevokedEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT serial_number, reason_code, revoked_at_ms FROM revocations \
             WHERE not_after_ms >= $1 ORDER BY id",
        )
        .bind(to_ms(now))
        .fetch_all(&self.scan_pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RevokedEntry {
                    serial_number: r.try_get("serial_number")?,
                    reason_code: reason(r.try_get("reason_code")?)?,
                    revoked_at: from_ms(r.try_get("revoked_at_ms")?)?,
                })
            })
            .collect()
    }

    /// The stored CRL's number, coverage and age, without its (megabytes of) DER: what the
    /// job checks every minute.
    pub async fn crl_state(&self) -> Result<Option<CrlState>, StoreError> {
        let row =
            sqlx::query("SELECT crl_number, built_through, this_update_ms FROM crls WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(CrlState {
                crl_number: r.try_get("crl_number")?,
                built_through: r.try_get("built_through")?,
                this_update: from_ms(r.try_get("this_update_ms")?)?,
            })
        })
        .transpose()
    }

    pub async fn crl(&self) -> Result<Option<StoredCrl>, StoreError> {
        let row = sqlx::query(
            "SELECT crl_number, built_through, this_update_ms, next_update_ms, der FROM crls WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredCrl {
                crl_number: r.try_get("crl_number")?,
                built_through: r.try_get("built_through")?,
                this_update: from_ms(r.try_get("this_update_ms")?)?,
                next_update: from_ms(r.try_get("next_update_ms")?)?,
                der: r.try_get("der")?,
            })
        })
        .transpose()
    }

    /// Stores `crl` in place of the one numbered `previous` (`None`: there was none). `false`
    /// when another node stored one first: CRL numbers are never reused.
    pub async fn put_crl(
        &self,
        previous: Option<i64>,
        crl: &StoredCrl,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = match previous {
            None => sqlx::query(
                "INSERT INTO crls (id, crl_number, built_through, this_update_ms, next_update_ms, der) \
                 VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            ),
            Some(_) => sqlx::query(
                "UPDATE crls SET crl_number = $1, built_through = $2, this_update_ms = $3, \
                 next_update_ms = $4, der = $5 WHERE id = 1 AND crl_number = $6",
            ),
        }
        .bind(crl.crl_number)
        .bind(crl.built_through)
        .bind(to_ms(crl.this_update))
        .bind(to_ms(crl.next_update))
        .bind(crl.der.as_slice());
        let n = match previous {
            Some(p) => n.bind(p),
            None => n,
        }
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// What the built-in CA knows of `serial_hex` (upper-case hex).
    pub async fn serial_status(&self, serial_hex: &str) -> Result<SerialStatus, StoreError> {
        let revoked = sqlx::query(
            "SELECT reason_code, revoked_at_ms FROM revocations WHERE serial_number = $1",
        )
        .bind(serial_hex)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(r) = revoked {
            return Ok(SerialStatus::Revoked {
                at: from_ms(r.try_get("revoked_at_ms")?)?,
                reason_code: reason(r.try_get("reason_code")?)?,
            });
        }
        let issued: Option<i64> = sqlx::query_scalar(
            "SELECT c.id FROM certificates c JOIN orders o ON o.certificate_id = c.id \
             WHERE c.serial_number = $1 AND o.issuer = 'builtin' AND o.status = 'issued' LIMIT 1",
        )
        .bind(serial_hex)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match issued {
            Some(_) => SerialStatus::Issued,
            None => SerialStatus::Unknown,
        })
    }

    /// The revocation of a certificate, if it was revoked: when, and the reason code.
    pub async fn revocation_of(
        &self,
        id: CertificateId,
    ) -> Result<Option<(OffsetDateTime, u8)>, StoreError> {
        let row = sqlx::query(
            "SELECT reason_code, revoked_at_ms FROM revocations WHERE certificate_id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                from_ms(r.try_get("revoked_at_ms")?)?,
                reason(r.try_get("reason_code")?)?,
            ))
        })
        .transpose()
    }
}
