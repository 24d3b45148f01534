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
/// otherwise canceled, rejected or pending by their creation time.
const SEED_ORDERS: &str = "INSERT INTO orders (certificate_id, container_id, status, issuer, challenges, \
  expires_at_ms, created_at_ms, status_changed_at_ms) \
  SELECT id, container_id, \
    CASE WHEN not_before_ms IS NOT NULL THEN 'issued' WHEN (created_at_ms / 1000) % 5 < 2 THEN 'canceled' \
         WHEN (created_at_ms / 1000) % 5 < 4 THEN 'rejected' ELSE 'pending' END, \
    'builtin', '[]', created_at_ms + 604800000, created_at_ms, \
    CASE WHEN not_before_ms IS NOT NULL THEN not_before_ms WHEN (created_at_ms / 1000) % 5 < 4 THEN created_at_ms + 1800000 \
         ELSE created_at_ms END \
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

impl Store {
    /// Adds `count` synthetic certificates (with orders and status histories) to a project.
    pub async fn seed_synthetic_certificates(
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
        if self.backend == Backend::Postgres {
            // VACUUM sets the visibility map, so listings get index-only scans right away
            // (autovacuum would do it later).
            for table in ["certificates", "orders", "order_status_changes"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(report)
    }
}
