//! Synthetic inventory for benchmarks (`certkeeper dev seed`): rows are generated inside the
//! database in batches, so a million take seconds. Certificates carry realistic dates (notBefore
//! spread over two years, lifetimes of 90 to 390 days), names, key types and thumbprints, but
//! placeholder DER and no key; they are never to be mixed with real data.
//!
//! Of every 50 certificates: 5 are imported; of the others, created ones, 2 are canceled,
//! 2 rejected and 1 still pending (no validity dates), and the rest issued. Every created
//! certificate has its order and status history (`pending`, then its final status), and the
//! hourly report aggregates are brought up to date in the same transaction as each batch.
//! Seeding assumes nothing else writes to the database meanwhile.

use certkeeper_domain::ids::ContainerId;
use sqlx::Row;
use time::OffsetDateTime;

use crate::time_ms::to_ms;
use crate::{Backend, Store, StoreError, certificates};

const BATCH: i64 = 50_000;

/// Per-row expressions over `n` (the row number), `$1` container, `$2` now (ms): shared by
/// both databases' generators. `k` = n mod 50 picks the kind of certificate.
macro_rules! seed_columns {
    ($uuid:literal, $rand_hex16:literal, $rand_hex20:literal, $rand_hex32:literal, $der:literal) => {
        concat!(
            $uuid, ", $1, 0, ",
            "CASE WHEN n % 50 < 5 THEN 'Imported' ELSE 'Issued' END, ",
            "'host' || n || '.seed.example', 'www.host' || n || '.seed.example', ",
            // Issued or imported: k >= 10 or k < 5; created and not issued: 5 <= k < 10.
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL WHEN n % 5 = 0 THEN 'RSA 2048' ELSE 'ECDSA P-256' END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL WHEN n % 5 = 0 THEN 'sha256WithRSAEncryption' ELSE 'ecdsa-with-SHA256' END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE 'O=certkeeper Seed,CN=certkeeper Seed CA' END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE 'CN=host' || n || '.seed.example' END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE ", $rand_hex16, " END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE ", $rand_hex32, " END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE $2 - ((n * 7919) % 730) * 86400000 - (n % 86400) * 1000 END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE $2 - ((n * 7919) % 730) * 86400000 - (n % 86400) * 1000 + (90 + (n % 300)) * 86400000 END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE ", $der, " END, ",
            "'', NULL, ",
            // created_at: an hour before notBefore; for created-not-issued rows the same spread.
            "$2 - ((n * 7919) % 730) * 86400000 - (n % 86400) * 1000 - 3600000, ",
            "$2 - ((n * 7919) % 730) * 86400000 - (n % 86400) * 1000, ",
            "'host' || n || '.seed.example', ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE ", $rand_hex20, " END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL WHEN n % 5 = 0 THEN 'RSA' ELSE 'ECDSA' END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL WHEN n % 5 = 0 THEN 2048 ELSE 256 END"
        )
    };
}

const INSERT_COLUMNS: &str = "INSERT INTO certificates (ssl_certificate_id, container_id, scope, certificate_type, \
  domain_name, additional_names, public_key_info, signature_algorithm, issuer, subject, serial_number, \
  fingerprint_sha256, not_before_ms, not_after_ms, certificate_der, chain_pem, private_key_sealed, created_at_ms, \
  last_modified_ms, issued_cn, thumbprint, key_type, key_size) ";

const SQLITE_ROWS: &str = concat!(
    "WITH RECURSIVE seq(n) AS (SELECT $3 UNION ALL SELECT n + 1 FROM seq WHERE n < $4) SELECT ",
    seed_columns!(
        "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-a' || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))",
        "upper(hex(randomblob(16)))",
        "upper(hex(randomblob(20)))",
        "lower(hex(randomblob(32)))",
        "x'00'"
    ),
    " FROM seq"
);

const POSTGRES_ROWS: &str = concat!(
    "SELECT ",
    seed_columns!(
        "gen_random_uuid()::text",
        "upper(md5(random()::text))",
        "upper(substr(md5(random()::text) || md5(random()::text), 1, 40))",
        "md5(random()::text) || md5(random()::text)",
        "'\\x00'::bytea"
    ),
    " FROM generate_series($3::bigint, $4::bigint) AS n"
);

/// Orders for the batch's created certificates: issued when they have validity dates;
/// otherwise canceled, rejected or pending by their creation time. Only orders whose
/// challenges have not expired yet (`$3` is now) are left pending, as the expiry sweep would
/// otherwise reject them all at the server's next start.
const SEED_ORDERS: &str = "INSERT INTO orders (certificate_id, container_id, status, issuer, challenges, \
  expires_at_ms, created_at_ms, status_changed_at_ms) \
  SELECT id, container_id, \
    CASE WHEN not_before_ms IS NOT NULL THEN 'issued' WHEN (created_at_ms / 1000) % 5 < 2 THEN 'canceled' \
         WHEN (created_at_ms / 1000) % 5 < 4 OR created_at_ms + 604800000 <= $3 THEN 'rejected' ELSE 'pending' END, \
    'builtin', '[]', created_at_ms + 604800000, created_at_ms, \
    CASE WHEN not_before_ms IS NOT NULL THEN not_before_ms WHEN (created_at_ms / 1000) % 5 < 4 THEN created_at_ms + 1800000 \
         WHEN created_at_ms + 604800000 <= $3 THEN created_at_ms + 604800000 ELSE created_at_ms END \
  FROM certificates WHERE id > $1 AND id <= $2 AND certificate_type = 'Issued'";

const SEED_HISTORY: &str = "INSERT INTO order_status_changes (order_id, status, at_ms) \
  SELECT id, 'pending', created_at_ms FROM orders WHERE id > $1 AND id <= $2 \
  UNION ALL SELECT id, status, status_changed_at_ms FROM orders WHERE id > $1 AND id <= $2 AND status <> 'pending'";

/// The batch's certificates added to the hourly aggregates, per project and for all (0).
const SEED_AGGREGATES: [&str; 4] = [
    "INSERT INTO issued_hourly (container_id, hour, n) SELECT container_id, not_before_ms / 3600000, COUNT(*) \
     FROM certificates WHERE id > $1 AND id <= $2 AND not_before_ms IS NOT NULL GROUP BY 1, 2 \
     ON CONFLICT (container_id, hour) DO UPDATE SET n = issued_hourly.n + excluded.n",
    "INSERT INTO issued_hourly (container_id, hour, n) SELECT 0, not_before_ms / 3600000, COUNT(*) \
     FROM certificates WHERE id > $1 AND id <= $2 AND not_before_ms IS NOT NULL GROUP BY 1, 2 \
     ON CONFLICT (container_id, hour) DO UPDATE SET n = issued_hourly.n + excluded.n",
    "INSERT INTO expiring_hourly (container_id, hour, n) SELECT container_id, not_after_ms / 3600000, COUNT(*) \
     FROM certificates WHERE id > $1 AND id <= $2 AND not_after_ms IS NOT NULL GROUP BY 1, 2 \
     ON CONFLICT (container_id, hour) DO UPDATE SET n = expiring_hourly.n + excluded.n",
    "INSERT INTO expiring_hourly (container_id, hour, n) SELECT 0, not_after_ms / 3600000, COUNT(*) \
     FROM certificates WHERE id > $1 AND id <= $2 AND not_after_ms IS NOT NULL GROUP BY 1, 2 \
     ON CONFLICT (container_id, hour) DO UPDATE SET n = expiring_hourly.n + excluded.n",
];

/// What a seeding run wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub certificates: i64,
    pub orders: i64,
    pub status_changes: i64,
}

impl SeedReport {
    pub fn rows(&self) -> i64 {
        self.certificates + self.orders + self.status_changes
    }
}

async fn max_id(conn: &mut sqlx::AnyConnection, table: &str) -> Result<i64, StoreError> {
    let sql = format!("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS m FROM {table}");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_one(conn)
        .await?
        .try_get("m")?)
}

/// From this many certificates on, seeding drops the secondary indexes of the tables it fills
/// and builds them again at the end: one sorted build is several times faster than keeping
/// random-valued indexes (serials, thumbprints) up to date row by row.
pub const REBUILD_INDEXES_FROM: i64 = 100_000;

/// The tables seeding fills.
const SEEDED_TABLES: [&str; 3] = ["certificates", "orders", "order_status_changes"];

/// A secondary index as its migration created it: name and `CREATE INDEX` statement.
struct SavedIndex {
    name: String,
    definition: String,
}

impl Store {
    /// Adds `count` synthetic certificates (with orders and status histories) to a project.
    pub async fn seed_synthetic_certificates(
        &self,
        container: ContainerId,
        count: i64,
        now: OffsetDateTime,
    ) -> Result<SeedReport, StoreError> {
        let saved = if count >= REBUILD_INDEXES_FROM {
            self.drop_secondary_indexes().await?
        } else {
            Vec::new()
        };
        let seeded = self.seed_batches(container, count, now).await;
        // The indexes come back even when seeding failed half-way.
        let restored = self.restore_indexes(&saved).await;
        let report = seeded?;
        restored?;
        if self.backend == Backend::Postgres {
            // VACUUM sets the visibility map, so listings get index-only scans right away
            // (autovacuum would do it later); ANALYZE gives the planner the new row counts.
            for table in SEEDED_TABLES {
                sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(report)
    }

    /// The names of the seeded tables' secondary indexes (not those behind primary keys or
    /// unique constraints), sorted.
    pub async fn secondary_index_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .secondary_indexes()
            .await?
            .into_iter()
            .map(|i| i.name)
            .collect();
        names.sort();
        Ok(names)
    }

    async fn secondary_indexes(&self) -> Result<Vec<SavedIndex>, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT name, sql AS definition FROM sqlite_master \
                 WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ($1, $2, $3)"
            }
            Backend::Postgres => {
                "SELECT indexname::text AS name, indexdef AS definition FROM pg_indexes \
                 WHERE schemaname = current_schema() AND tablename IN ($1, $2, $3) \
                 AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            }
        };
        let rows = sqlx::query(sql)
            .bind(SEEDED_TABLES[0])
            .bind(SEEDED_TABLES[1])
            .bind(SEEDED_TABLES[2])
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(SavedIndex {
                    name: row.try_get("name")?,
                    definition: row.try_get("definition")?,
                })
            })
            .collect()
    }

    /// Drops the seeded tables' secondary indexes and returns their definitions.
    async fn drop_secondary_indexes(&self) -> Result<Vec<SavedIndex>, StoreError> {
        let saved = self.secondary_indexes().await?;
        let _turn = self.writer_turn().await;
        for index in &saved {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP INDEX \"{}\"",
                index.name
            )))
            .execute(&self.pool)
            .await?;
        }
        Ok(saved)
    }

    /// Builds the indexes [`Self::drop_secondary_indexes`] dropped, each from its definition.
    async fn restore_indexes(&self, saved: &[SavedIndex]) -> Result<(), StoreError> {
        if saved.is_empty() {
            return Ok(());
        }
        let _turn = self.writer_turn().await;
        let mut conn = self.pool.acquire().await?;
        match self.backend {
            Backend::Postgres => {
                sqlx::query("SET maintenance_work_mem = '512MB'")
                    .execute(&mut *conn)
                    .await?;
            }
            Backend::Sqlite => {
                sqlx::query("PRAGMA cache_size = -262144")
                    .execute(&mut *conn)
                    .await?;
            }
        }
        let mut first_error = None;
        for index in saved {
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(index.definition.as_str()))
                .execute(&mut *conn)
                .await
            {
                tracing::error!(index = %index.name, error = %e, "could not rebuild index");
                first_error.get_or_insert(e);
            }
        }
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA cache_size = -65536")
                .execute(&mut *conn)
                .await?;
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// The seeding itself: batches of generated rows, each in one transaction with its
    /// orders, histories and aggregates.
    async fn seed_batches(
        &self,
        container: ContainerId,
        count: i64,
        now: OffsetDateTime,
    ) -> Result<SeedReport, StoreError> {
        let rows_sql = match self.backend {
            Backend::Sqlite => SQLITE_ROWS,
            Backend::Postgres => POSTGRES_ROWS,
        };
        let insert = format!("{INSERT_COLUMNS}{rows_sql}");
        let now_ms = to_ms(now);
        let mut report = SeedReport::default();
        let mut first_n: i64 = {
            let mut conn = self.pool.acquire().await?;
            max_id(&mut conn, "certificates").await? + 1
        };
        let mut done = 0;
        while done < count {
            let n = BATCH.min(count - done);
            let mut tx = self.begin_write().await?;
            let (cert_before, order_before) = (
                max_id(&mut tx, "certificates").await?,
                max_id(&mut tx, "orders").await?,
            );
            sqlx::query(sqlx::AssertSqlSafe(insert.as_str()))
                .bind(container.0)
                .bind(now_ms)
                .bind(first_n)
                .bind(first_n + n - 1)
                .execute(&mut *tx)
                .await?;
            let cert_after = max_id(&mut tx, "certificates").await?;
            let orders = sqlx::query(SEED_ORDERS)
                .bind(cert_before)
                .bind(cert_after)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let order_after = max_id(&mut tx, "orders").await?;
            let history = sqlx::query(SEED_HISTORY)
                .bind(order_before)
                .bind(order_after)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            for sql in SEED_AGGREGATES {
                sqlx::query(sql)
                    .bind(cert_before)
                    .bind(cert_after)
                    .execute(&mut *tx)
                    .await?;
            }
            certificates::bump_counts(&mut tx, container, n, 0).await?;
            tx.commit().await?;
            report.certificates += n;
            report.orders += orders as i64;
            report.status_changes += history as i64;
            done += n;
            first_n += n;
        }
        Ok(report)
    }
}
