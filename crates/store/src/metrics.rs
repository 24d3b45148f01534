//! What a Prometheus scrape reads: per-project counts from the aggregates writes already keep
//! (`certificate_counts`, `expiring_hourly`, `revocations`), and the certificates nearest
//! expiry through the `not_after` index, bounded. Nothing here reads the whole inventory.

use certkeeper_domain::ids::{CertificateId, ContainerId};
use sqlx::Row;
use time::OffsetDateTime;

use crate::hourly::hour_of;
use crate::time_ms::{from_ms, to_ms};
use crate::{Store, StoreError};

/// The expiring windows the gauges report, in days.
pub const EXPIRING_DAYS: [i64; 4] = [30, 14, 7, 1];

/// One project's counts at a scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectCounts {
    pub container_id: ContainerId,
    /// Every record in the inventory (created, imported, issued).
    pub total: i64,
    /// Certificates counted by expiry (issued or imported, not renewed, not revoked) whose
    /// `notAfter` hour is still ahead, and whose is past.
    pub valid: i64,
    pub expired: i64,
    pub revoked: i64,
    /// Of `valid`, how many expire within each of [`EXPIRING_DAYS`].
    pub expiring: [i64; 4],
}

/// One certificate near expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringCertificate {
    pub id: CertificateId,
    pub container_id: ContainerId,
    pub common_name: String,
    pub issuer: String,
    pub serial_number: String,
    pub not_after: OffsetDateTime,
}

impl Store {
    /// Every project's counts at `now` (hour resolution for expiry).
    pub async fn project_counts(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<ProjectCounts>, StoreError> {
        let h = hour_of(to_ms(now));
        let mut by: std::collections::BTreeMap<i64, ProjectCounts> = Default::default();
        fn entry(
            by: &mut std::collections::BTreeMap<i64, ProjectCounts>,
            c: i64,
        ) -> &mut ProjectCounts {
            by.entry(c).or_insert_with(|| ProjectCounts {
                container_id: ContainerId(c),
                total: 0,
                valid: 0,
                expired: 0,
                revoked: 0,
                expiring: [0; 4],
            })
        }
        for r in sqlx::query(
            "SELECT container_id, CAST(SUM(total) AS BIGINT) AS n FROM certificate_counts GROUP BY container_id",
        )
        .fetch_all(&self.scan_pool)
        .await?
        {
            entry(&mut by, r.try_get("container_id")?).total = r.try_get("n")?;
        }
        let rows = sqlx::query(
            "SELECT container_id, \
             CAST(SUM(CASE WHEN hour < $1 THEN n ELSE 0 END) AS BIGINT) AS expired, \
             CAST(SUM(CASE WHEN hour >= $1 THEN n ELSE 0 END) AS BIGINT) AS valid, \
             CAST(SUM(CASE WHEN hour >= $1 AND hour < $2 THEN n ELSE 0 END) AS BIGINT) AS d0, \
             CAST(SUM(CASE WHEN hour >= $1 AND hour < $3 THEN n ELSE 0 END) AS BIGINT) AS d1, \
             CAST(SUM(CASE WHEN hour >= $1 AND hour < $4 THEN n ELSE 0 END) AS BIGINT) AS d2, \
             CAST(SUM(CASE WHEN hour >= $1 AND hour < $5 THEN n ELSE 0 END) AS BIGINT) AS d3 \
             FROM expiring_hourly WHERE container_id <> 0 GROUP BY container_id",
        )
        .bind(h)
        .bind(h + EXPIRING_DAYS[0] * 24)
        .bind(h + EXPIRING_DAYS[1] * 24)
        .bind(h + EXPIRING_DAYS[2] * 24)
        .bind(h + EXPIRING_DAYS[3] * 24)
        .fetch_all(&self.scan_pool)
        .await?;
        for r in rows {
            let p = entry(&mut by, r.try_get("container_id")?);
            p.expired = r.try_get("expired")?;
            p.valid = r.try_get("valid")?;
            p.expiring = [
                r.try_get("d0")?,
                r.try_get("d1")?,
                r.try_get("d2")?,
                r.try_get("d3")?,
            ];
        }
        for r in sqlx::query(
            "SELECT container_id, COUNT(*) AS n FROM revocations WHERE not_after_ms >= $1 GROUP BY container_id",
        )
        .bind(to_ms(now))
        .fetch_all(&self.scan_pool)
        .await?
        {
            entry(&mut by, r.try_get("container_id")?).revoked = r.try_get("n")?;
        }
        Ok(by.into_values().collect())
    }

    /// The `limit` certificates expiring soonest from `now` on that still count (not renewed,
    /// not revoked), through the `not_after` index.
    pub async fn nearest_expiring(
        &self,
        now: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<ExpiringCertificate>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.container_id, COALESCE(c.issued_cn, c.domain_name) AS cn, c.issuer, \
             c.serial_number, c.not_after_ms FROM certificates c \
             LEFT JOIN orders o ON o.certificate_id = c.id \
             WHERE c.not_after_ms >= $1 AND c.renewed_by_id IS NULL \
             AND (o.status IS NULL OR o.status <> 'revoked') \
             ORDER BY c.not_after_ms, c.id LIMIT $2",
        )
        .bind(to_ms(now))
        .bind(limit)
        .fetch_all(&self.scan_pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ExpiringCertificate {
                    id: CertificateId(r.try_get("id")?),
                    container_id: ContainerId(r.try_get("container_id")?),
                    common_name: r.try_get::<Option<String>, _>("cn")?.unwrap_or_default(),
                    issuer: r
                        .try_get::<Option<String>, _>("issuer")?
                        .unwrap_or_default(),
                    serial_number: r
                        .try_get::<Option<String>, _>("serial_number")?
                        .unwrap_or_default(),
                    not_after: from_ms(r.try_get("not_after_ms")?)?,
                })
            })
            .collect()
    }

    /// Whether the database answers (`/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
