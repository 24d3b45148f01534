//! A project's lifecycle settings and its validated names.
//!
//! Settings are stored as the core hands them over: the validation settings twice (without
//! secrets, for reading back; and whole, sealed by the core), the renewal policy as JSON. The
//! store never sees a provider secret in clear.

use certkeeper_domain::ids::ContainerId;
use sqlx::Row;
use time::OffsetDateTime;

use crate::conn::{WriteConn, args};
use crate::time_ms::to_ms;
use crate::{Store, StoreError};

/// A project's stored lifecycle settings; `None` fields were never set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredLifecycle {
    pub validation_public: Option<String>,
    pub validation_sealed: Option<Vec<u8>>,
    pub renewal: Option<String>,
}

/// Records that `names` were proved in `container` at `at`, inside the caller's transaction.
pub(crate) async fn record_validated_on<C: WriteConn>(
    conn: &mut C,
    container: ContainerId,
    names: &[String],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    for name in names {
        conn.execute(
            "INSERT INTO validated_names (container_id, name, validated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (container_id, name) DO UPDATE SET validated_at_ms = excluded.validated_at_ms \
             WHERE validated_names.validated_at_ms < excluded.validated_at_ms",
            args![container.0, name.as_str(), to_ms(at)],
        )
        .await?;
    }
    Ok(())
}

impl Store {
    pub async fn lifecycle(&self, container: ContainerId) -> Result<StoredLifecycle, StoreError> {
        let row = sqlx::query(
            "SELECT validation_public, validation_sealed, renewal FROM project_lifecycle WHERE container_id = $1",
        )
        .bind(container.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(StoredLifecycle::default());
        };
        Ok(StoredLifecycle {
            validation_public: r.try_get("validation_public")?,
            validation_sealed: r.try_get("validation_sealed")?,
            renewal: r.try_get("renewal")?,
        })
    }

    /// Replaces a project's validation settings.
    pub async fn put_validation(
        &self,
        container: ContainerId,
        public: &str,
        sealed: &[u8],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO project_lifecycle (container_id, validation_public, validation_sealed, updated_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (container_id) DO UPDATE SET \
             validation_public = excluded.validation_public, validation_sealed = excluded.validation_sealed, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(container.0)
        .bind(public)
        .bind(sealed.to_vec())
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Replaces a project's renewal policy.
    pub async fn put_renewal(
        &self,
        container: ContainerId,
        renewal: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO project_lifecycle (container_id, renewal, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (container_id) DO UPDATE SET renewal = excluded.renewal, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(container.0)
        .bind(renewal)
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// When every one of `names` was proved in `container` at or after `since`: the oldest of
    /// their validations; `None` if any is missing or older.
    pub async fn validated_since(
        &self,
        container: ContainerId,
        names: &[String],
        since: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let mut distinct: Vec<&str> = names.iter().map(String::as_str).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.is_empty() {
            return Ok(None);
        }
        // One search on the primary key for the few names of a certificate.
        let marks: Vec<String> = (0..distinct.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT COUNT(*) AS n, MIN(validated_at_ms) AS oldest FROM validated_names \
             WHERE container_id = $1 AND validated_at_ms >= $2 AND name IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(container.0)
            .bind(to_ms(since));
        for name in &distinct {
            q = q.bind(*name);
        }
        let row = q.fetch_one(&self.pool).await?;
        let hits: i64 = row.try_get("n")?;
        if usize::try_from(hits).unwrap_or(0) != distinct.len() {
            return Ok(None);
        }
        row.try_get::<Option<i64>, _>("oldest")?
            .map(crate::time_ms::from_ms)
            .transpose()
    }
}
