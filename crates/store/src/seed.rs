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
use crate::{Backend, Store, StoreError};

const BATCH: i64 = 50_000;

/// Per-row expressions over `n` (the row number), `$1` container, `$2` now (ms), `$5` the
/// run's first row number and `$6` its row count: shared by both databases' generators.
/// `k` = n mod 50 picks the kind of certificate.
///
/// Dates follow the row number, as in a real inventory, where rows are written when their
/// certificates are created or imported: the run's rows cover the two years before now, oldest
/// first (day = 729 − 730·(n − first)/count, a pseudo-random second within it). With dates
/// drawn at random per row instead, every recent row sat on its own heap page, and at 10M
/// certificates PostgreSQL's index-only scans over a recent window spent most of their time
/// switching visibility-map pages (a buffer access per row: 82,000 for the 7-day
/// status-change list), a cost no real inventory pays.
macro_rules! seed_columns {
    ($uuid:literal, $serial:literal, $thumbprint:literal, $fingerprint:literal, $der:literal) => {
        concat!(
            "n, ", $uuid, ", $1, 0, ",
            "CASE WHEN n % 50 < 5 THEN 'Imported' ELSE 'Issued' END, ",
            "'host' || n || '.seed.example', 'www.host' || n || '.seed.example', ",
            // Issued or imported: k >= 10 or k < 5; created and not issued: 5 <= k < 10.
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL WHEN n % 5 = 0 THEN 'RSA 2048' ELSE 'ECDSA P-256' END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL WHEN n % 5 = 0 THEN 'sha256WithRSAEncryption' ELSE 'ecdsa-with-SHA256' END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE 'O=certkeeper Seed,CN=certkeeper Seed CA' END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE 'CN=host' || n || '.seed.example' END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE ", $serial, " END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE ", $fingerprint, " END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE $2 - (729 - ((n - $5) * 730) / $6) * 86400000 - ((n * 7919) % 86400) * 1000 END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE $2 - (729 - ((n - $5) * 730) / $6) * 86400000 - ((n * 7919) % 86400) * 1000 + (90 + (n % 300)) * 86400000 END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE ", $der, " END, ",
            "'', NULL, ",
            // created_at: an hour before notBefore; for created-not-issued rows the same spread.
            "$2 - (729 - ((n - $5) * 730) / $6) * 86400000 - ((n * 7919) % 86400) * 1000 - 3600000, ",
            "$2 - (729 - ((n - $5) * 730) / $6) * 86400000 - ((n * 7919) % 86400) * 1000, ",
            "'host' || n || '.seed.example', ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL ELSE ", $thumbprint, " END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL WHEN n % 5 = 0 THEN 'RSA' ELSE 'ECDSA' END, ",
            "CASE WHEN n % 50 >= 5 AND n % 50 < 10 THEN NULL WHEN n % 5 = 0 THEN 2048 ELSE 256 END"
        )
    };
}

const INSERT_COLUMNS: &str = "INSERT INTO certificates (id, ssl_certificate_id, container_id, scope, certificate_type, \
  domain_name, additional_names, public_key_info, signature_algorithm, issuer, subject, serial_number, \
  fingerprint_sha256, not_before_ms, not_after_ms, certificate_der, chain_pem, private_key_sealed, created_at_ms, \
  last_modified_ms, issued_cn, thumbprint, key_type, key_size) ";

// Identifiers (UUID, serial, thumbprint, fingerprint) begin with the row number, so their
// indexes grow at the right edge instead of taking a random page per row: with random
// identifiers, seeding slowed to half its speed once those indexes outgrew the page cache (a
// few million rows), and the two unique ones cannot be dropped during seeding. The UUIDs are version 8 (custom
// layout) and the rest of each identifier is random (SQLite) or a hash of the row number
// (PostgreSQL: an `md5` of the row number, several times cheaper than text from `random()`).
const SQLITE_ROWS: &str = concat!(
    "WITH RECURSIVE seq(n) AS (SELECT $3 UNION ALL SELECT n + 1 FROM seq WHERE n < $4) SELECT ",
    seed_columns!(
        "printf('%08x-%04x-8', n >> 16, n & 65535) || substr(lower(hex(randomblob(2))), 2) || '-a' || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))",
        "printf('%08X', n) || upper(hex(randomblob(12)))",
        "printf('%08X', n) || upper(hex(randomblob(16)))",
        "printf('%016x', n) || lower(hex(randomblob(24)))",
        "x'00'"
    ),
    " FROM seq"
);

const POSTGRES_ROWS: &str = concat!(
    "SELECT ",
    seed_columns!(
        "lpad(to_hex(n >> 16), 8, '0') || '-' || lpad(to_hex(n & 65535), 4, '0') || '-8' || substr(h, 1, 3) || '-a' || substr(h, 4, 3) || '-' || substr(h, 7, 12)",
        "upper(lpad(to_hex(n), 8, '0') || substr(h, 1, 24))",
        "upper(lpad(to_hex(n), 8, '0') || h)",
        "lpad(to_hex(n), 16, '0') || h || substr(h, 1, 16)",
        "'\\x00'::bytea"
    ),
    // One hash per row. OFFSET 0 keeps the planner from inlining it into every expression
    // using it, which computed it once per use.
    " FROM (SELECT n, md5(n::text) AS h FROM generate_series($3::bigint, $4::bigint) AS n OFFSET 0) AS g"
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

/// The status histories of the orders of the batch's certificates (`$1` < id <= `$2`).
const SEED_HISTORY: &str = "INSERT INTO order_status_changes (order_id, status, at_ms) \
  SELECT id, 'pending', created_at_ms FROM orders WHERE certificate_id > $1 AND certificate_id <= $2 \
  UNION ALL SELECT id, status, status_changed_at_ms FROM orders \
  WHERE certificate_id > $1 AND certificate_id <= $2 AND status <> 'pending'";

/// The batch's certificates added to the hourly aggregates, for their project (`$3`) and for
/// all (0): a batch is in one project, so one count per hour serves both rows.
const SEED_AGGREGATES: [&str; 2] = [
    "WITH per AS (SELECT not_before_ms / 3600000 AS hour, COUNT(*) AS n FROM certificates \
     WHERE id > $1 AND id <= $2 AND not_before_ms IS NOT NULL GROUP BY 1) \
     INSERT INTO issued_hourly (container_id, hour, n) \
     SELECT $3, hour, n FROM per UNION ALL SELECT 0, hour, n FROM per WHERE true \
     ON CONFLICT (container_id, hour) DO UPDATE SET n = issued_hourly.n + excluded.n",
    "WITH per AS (SELECT not_after_ms / 3600000 AS hour, COUNT(*) AS n FROM certificates \
     WHERE id > $1 AND id <= $2 AND not_after_ms IS NOT NULL GROUP BY 1) \
     INSERT INTO expiring_hourly (container_id, hour, n) \
     SELECT $3, hour, n FROM per UNION ALL SELECT 0, hour, n FROM per WHERE true \
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
/// whose keys land at random places (dates, names), and builds them again at the end: one
/// sorted build is several times faster than keeping them up to date row by row.
pub const REBUILD_INDEXES_FROM: i64 = 100_000;

/// Secondary indexes that seeding's rows extend at their right edge (keys led by the row's
/// id, by an id, or by an identifier seeding prefixes with the row number). SQLite keeps them
/// up to date while seeding, which costs less than building them again over the whole table.
/// PostgreSQL does too when the run adds to a larger inventory; when the run is at least as
/// large as what is there, it drops and rebuilds them as well: each kept index costs it a
/// B-tree insert and its WAL record per row, and with these kept the rows took 45 % longer
/// to load than the sorted builds took afterwards (0.9M certificates into an empty database:
/// 106–111k rows/s kept, 127–138k rebuilt; docs/benchmarks.md).
pub const RIGHT_EDGE_INDEXES: [&str; 6] = [
    "certificates_container",
    "certificates_listing",
    "certificates_serial",
    "certificates_thumbprint",
    "order_status_changes_order",
    "certificates_organization",
];

/// Secondary indexes always kept while seeding: partial ones seeded rows never enter.
pub const KEPT_WHILE_SEEDING: [&str; 1] = ["certificates_backfill"];

/// The tables seeding fills.
const SEEDED_TABLES: [&str; 3] = ["certificates", "orders", "order_status_changes"];

/// `sql` with the seeded tables' names bound as `$1`, `$2`, `$3`.
fn over_seeded_tables(
    sql: &'static str,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sql)
        .bind(SEEDED_TABLES[0])
        .bind(SEEDED_TABLES[1])
        .bind(SEEDED_TABLES[2])
}

/// A foreign key of a seeded table, as its migration created it.
struct SavedForeignKey {
    table: String,
    name: String,
    /// `FOREIGN KEY (…) REFERENCES …`, as `pg_get_constraintdef` prints it.
    definition: String,
}

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
        let (saved, keys) = if count >= REBUILD_INDEXES_FROM {
            let rebuild_right_edge = self.backend == Backend::Postgres && {
                let mut conn = self.pool.acquire().await?;
                count >= max_id(&mut conn, "certificates").await?
            };
            (
                self.drop_secondary_indexes(rebuild_right_edge).await?,
                self.drop_foreign_keys().await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let started = std::time::Instant::now();
        let seeded = self.seed_batches(container, count, now).await;
        let rows_done = started.elapsed();
        // The indexes and keys come back even when seeding failed half-way.
        let restored = self.restore_indexes(&saved).await;
        let keys_restored = self.restore_foreign_keys(&keys).await;
        let indexes_done = started.elapsed();
        let report = seeded?;
        restored?;
        keys_restored?;
        tracing::info!(
            rows_s = rows_done.as_secs_f64(),
            indexes_s = (indexes_done - rows_done).as_secs_f64(),
            rebuilt = saved.len(),
            "seeded"
        );
        if self.backend == Backend::Postgres {
            // VACUUM sets the visibility map, so listings get index-only scans right away
            // (autovacuum would do it later), and clears the hourly aggregates' dead rows
            // (every batch updates the same hours); ANALYZE gives the planner the new row
            // counts. Without it the issuance report's first plans were 4 times slower.
            // Two tables at a time, one per connection and core: `certificates` (the
            // largest) on one, the rest on the other.
            let vacuum = |tables: &'static [&'static str]| async move {
                for table in tables {
                    sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                        .execute(&self.pool)
                        .await?;
                }
                Ok::<_, StoreError>(())
            };
            let (a, b) = tokio::join!(
                vacuum(&["certificates"]),
                vacuum(&[
                    "orders",
                    "order_status_changes",
                    "issued_hourly",
                    "expiring_hourly"
                ])
            );
            a?;
            b?;
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
        let rows = over_seeded_tables(sql).fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|row| {
                Ok(SavedIndex {
                    name: row.try_get("name")?,
                    definition: row.try_get("definition")?,
                })
            })
            .collect()
    }

    /// The seeded tables' foreign keys, sorted (`table.name`). On SQLite they are part of the
    /// tables' definitions and stay; none are listed there.
    pub async fn seeded_foreign_key_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .seeded_foreign_keys()
            .await?
            .into_iter()
            .map(|k| format!("{}.{}", k.table, k.name))
            .collect();
        names.sort();
        Ok(names)
    }

    async fn seeded_foreign_keys(&self) -> Result<Vec<SavedForeignKey>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(Vec::new());
        }
        let rows = over_seeded_tables(
            "SELECT c.relname::text AS tbl, k.conname::text AS name, \
             pg_get_constraintdef(k.oid) AS definition FROM pg_constraint k \
             JOIN pg_class c ON c.oid = k.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() \
             WHERE k.contype = 'f' AND c.relname IN ($1, $2, $3)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(SavedForeignKey {
                    table: row.try_get("tbl")?,
                    name: row.try_get("name")?,
                    definition: row.try_get("definition")?,
                })
            })
            .collect()
    }

    /// PostgreSQL checks a foreign key row by row with a query of its own (an internal
    /// trigger per inserted row): `perf` put 30 % of seeding's time there. As PostgreSQL's
    /// guide to populating a database advises, seeding drops the seeded tables' foreign keys
    /// and adds them back afterwards, which checks each whole table with one join.
    async fn drop_foreign_keys(&self) -> Result<Vec<SavedForeignKey>, StoreError> {
        let keys = self.seeded_foreign_keys().await?;
        for key in &keys {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE \"{}\" DROP CONSTRAINT \"{}\"",
                key.table, key.name
            )))
            .execute(&self.pool)
            .await?;
        }
        Ok(keys)
    }

    /// Adds back the keys [`Self::drop_foreign_keys`] dropped: first unchecked (so every key
    /// is back and enforced for new rows whatever happens next), then each validated over its
    /// whole table. Goes on past a failure and returns the first error.
    async fn restore_foreign_keys(&self, keys: &[SavedForeignKey]) -> Result<(), StoreError> {
        let mut first_error = None;
        for key in keys {
            let add = format!(
                "ALTER TABLE \"{}\" ADD CONSTRAINT \"{}\" {} NOT VALID",
                key.table, key.name, key.definition
            );
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(add))
                .execute(&self.pool)
                .await
            {
                tracing::error!(key = %key.name, error = %e, "could not add the foreign key back");
                first_error.get_or_insert(e);
            }
        }
        for key in keys {
            let validate = format!(
                "ALTER TABLE \"{}\" VALIDATE CONSTRAINT \"{}\"",
                key.table, key.name
            );
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(validate))
                .execute(&self.pool)
                .await
            {
                tracing::error!(key = %key.name, error = %e, "seeded rows break a foreign key");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Drops the seeded tables' secondary indexes, but those always kept and, unless
    /// `right_edge` is asked, the [`RIGHT_EDGE_INDEXES`]; returns their definitions.
    async fn drop_secondary_indexes(
        &self,
        right_edge: bool,
    ) -> Result<Vec<SavedIndex>, StoreError> {
        let mut saved = self.secondary_indexes().await?;
        saved.retain(|index| {
            let name = index.name.as_str();
            !KEPT_WHILE_SEEDING.contains(&name)
                && (right_edge || !RIGHT_EDGE_INDEXES.contains(&name))
        });
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
    /// PostgreSQL builds two at a time, one per connection and core (`CREATE INDEX` takes a
    /// share lock, which two builds on one table hold together); SQLite has one writer.
    async fn restore_indexes(&self, saved: &[SavedIndex]) -> Result<(), StoreError> {
        let _turn = self.writer_turn().await;
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for (i, index) in saved.iter().enumerate() {
            if self.backend == Backend::Postgres && i % 2 == 1 {
                second.push(index);
            } else {
                first.push(index);
            }
        }
        let (a, b) = tokio::join!(self.build_indexes(&first), self.build_indexes(&second));
        a.and(b)
    }

    /// Builds `indexes` one after the other on one connection, going on past a failure (each
    /// is logged) so that as many as possible come back; returns the first error.
    async fn build_indexes(&self, indexes: &[&SavedIndex]) -> Result<(), StoreError> {
        if indexes.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        let memory = match self.backend {
            Backend::Postgres => "SET maintenance_work_mem = '512MB'",
            Backend::Sqlite => "PRAGMA cache_size = -262144",
        };
        sqlx::query(memory).execute(&mut *conn).await?;
        let mut first_error = None;
        for index in indexes {
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(index.definition.as_str()))
                .execute(&mut *conn)
                .await
            {
                tracing::error!(index = %index.name, error = %e, "could not rebuild index");
                first_error.get_or_insert(e);
            }
        }
        let reset = match self.backend {
            Backend::Postgres => "RESET maintenance_work_mem",
            Backend::Sqlite => "PRAGMA cache_size = -65536",
        };
        sqlx::query(reset).execute(&mut *conn).await?;
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// The seeding itself: batches of generated rows, each in one transaction with its
    /// orders, histories and aggregates. Certificate ids are reserved up front, so each batch
    /// knows its rows by id range and PostgreSQL runs two batches at a time, one per
    /// connection and core. Their aggregate updates touch the same hours, so that last step
    /// (and the commit, which releases its row locks) is taken one batch at a time: no two
    /// batches can deadlock on those rows.
    async fn seed_batches(
        &self,
        container: ContainerId,
        count: i64,
        now: OffsetDateTime,
    ) -> Result<SeedReport, StoreError> {
        let first = self.reserve_certificate_ids(count).await?;
        let batches: Vec<(i64, i64)> = (0..count)
            .step_by(BATCH as usize)
            .map(|done| (first + done, first + (done + BATCH).min(count) - 1))
            .collect();
        let lanes = match self.backend {
            Backend::Postgres => 2,
            Backend::Sqlite => 1,
        };
        let finishing = tokio::sync::Mutex::new(());
        let lane = |k: usize| {
            // Batches k, k + lanes, …; none for a lane beyond the backend's count.
            let mine: Vec<(i64, i64)> = if k < lanes {
                batches.iter().copied().skip(k).step_by(lanes).collect()
            } else {
                Vec::new()
            };
            let finishing = &finishing;
            async move {
                let mut report = SeedReport::default();
                for (from, to) in mine {
                    let r = self
                        .seed_batch(container, (first, count), from, to, to_ms(now), finishing)
                        .await?;
                    report.certificates += r.certificates;
                    report.orders += r.orders;
                    report.status_changes += r.status_changes;
                }
                Ok::<_, StoreError>(report)
            }
        };
        let (a, b) = tokio::join!(lane(0), lane(1));
        let (a, b) = (a?, b?);
        Ok(SeedReport {
            certificates: a.certificates + b.certificates,
            orders: a.orders + b.orders,
            status_changes: a.status_changes + b.status_changes,
        })
    }

    /// Reserves `count` certificate ids and returns the first: above every id used so far,
    /// and on PostgreSQL taken from the id sequence, so later inserts continue after them.
    async fn reserve_certificate_ids(&self, count: i64) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let used = max_id(&mut conn, "certificates").await?;
        match self.backend {
            // AUTOINCREMENT never hands out an id below one inserted explicitly, nor reuses
            // the id of a deleted row (sqlite_sequence remembers the highest).
            Backend::Sqlite => {
                let sequence: Option<i64> = sqlx::query_scalar(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'certificates'",
                )
                .fetch_optional(&mut *conn)
                .await?;
                Ok(used.max(sequence.unwrap_or(0)) + 1)
            }
            Backend::Postgres => {
                let next: i64 = sqlx::query_scalar(
                    "SELECT nextval(pg_get_serial_sequence('certificates', 'id'))",
                )
                .fetch_one(&mut *conn)
                .await?;
                let first = next.max(used + 1);
                sqlx::query("SELECT setval(pg_get_serial_sequence('certificates', 'id'), $1)")
                    .bind(first + count - 1)
                    .execute(&mut *conn)
                    .await?;
                Ok(first)
            }
        }
    }

    /// Certificates `from..=to` of the run `run` (its first row number and row count) with
    /// their orders, histories and aggregates, in one transaction; `finishing` is held for the
    /// aggregates and the commit.
    #[allow(
        clippy::too_many_arguments,
        reason = "one private step of seed_batches"
    )]
    async fn seed_batch(
        &self,
        container: ContainerId,
        run: (i64, i64),
        from: i64,
        to: i64,
        now_ms: i64,
        finishing: &tokio::sync::Mutex<()>,
    ) -> Result<SeedReport, StoreError> {
        let rows_sql = match self.backend {
            Backend::Sqlite => SQLITE_ROWS,
            Backend::Postgres => POSTGRES_ROWS,
        };
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // A batch's commit need not wait for its WAL to reach the disk: the batches run
            // one commit at a time (see `finishing`), so every flush wait stalled the other
            // lane too. A crash loses at most the last batches of synthetic rows; the
            // database stays consistent. This transaction only.
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!("{INSERT_COLUMNS}{rows_sql}")))
            .bind(container.0)
            .bind(now_ms)
            .bind(from)
            .bind(to)
            .bind(run.0)
            .bind(run.1)
            .execute(&mut *tx)
            .await?;
        let orders = sqlx::query(SEED_ORDERS)
            .bind(from - 1)
            .bind(to)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let history = sqlx::query(SEED_HISTORY)
            .bind(from - 1)
            .bind(to)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let _finishing = finishing.lock().await;
        for sql in SEED_AGGREGATES {
            sqlx::query(sql)
                .bind(from - 1)
                .bind(to)
                .bind(container.0)
                .execute(&mut *tx)
                .await?;
        }
        crate::counts::bump_counts(&mut *tx, container, to - from + 1, 0).await?;
        tx.commit().await?;
        Ok(SeedReport {
            certificates: to - from + 1,
            orders: orders as i64,
            status_changes: history as i64,
        })
    }
}

impl Store {
    /// Bench-only: a renewal job for every issued certificate, due at 2/3 of its lifetime, as
    /// issuance schedules them, in one statement (seeded rows skip issuance). Returns how many.
    pub async fn bench_schedule_renewals_for_all(&self) -> Result<u64, StoreError> {
        let _turn = self.writer_turn().await;
        let done = sqlx::query(
            "INSERT INTO jobs (kind, subject, state, due_at_ms, created_at_ms, updated_at_ms) \
             SELECT 'renew', CAST(id AS TEXT), 'scheduled', not_before_ms + (not_after_ms - not_before_ms) * 2 / 3, \
             created_at_ms, created_at_ms FROM certificates \
             WHERE not_before_ms IS NOT NULL AND renewed_by_id IS NULL ON CONFLICT (kind, subject) DO NOTHING",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

impl Store {
    /// Adds `count` synthetic revocations (serials `02…`, which the built-in CA never issues:
    /// its serials start with `01`), valid until `not_after`, for CRL and OCSP benchmarks.
    /// They belong to no inventory record (negative certificate ids), like revocations of
    /// deleted certificates.
    pub async fn seed_revocations(
        &self,
        container: ContainerId,
        count: i64,
        not_after: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        const BATCH: i64 = 1_000;
        let base = -1 - self.revocation_count().await?;
        let mut done = 0;
        while done < count {
            let n = BATCH.min(count - done);
            let mut tx = self.begin_write().await?;
            let mut sql = String::from(
                "INSERT INTO revocations (certificate_id, container_id, serial_number, reason_code, \
                 revoked_at_ms, not_after_ms) VALUES ",
            );
            for i in 0..n {
                let id = base - done - i;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "({id}, {}, '02{:032X}', 1, {}, {})",
                    container.0,
                    -id,
                    crate::time_ms::to_ms(at),
                    crate::time_ms::to_ms(not_after)
                ));
            }
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            done += n;
        }
        Ok(done)
    }
}
