//! Synthetic inventory for benchmarks (`certkeeper dev seed`): rows are generated inside the
//! database in batches, so a million take seconds. The rows carry realistic dates and names
//! but placeholder DER and no key; they are never to be mixed with real data.

use certkeeper_domain::ids::ContainerId;
use time::OffsetDateTime;

use crate::time_ms::to_ms;
use crate::{Backend, Store, StoreError, certificates};

const BATCH: i64 = 100_000;

const SQLITE_SEED: &str = "\
WITH RECURSIVE seq(n) AS (SELECT $4 UNION ALL SELECT n + 1 FROM seq WHERE n < $5) \
INSERT INTO certificates (ssl_certificate_id, container_id, scope, certificate_type, domain_name, additional_names, \
  public_key_info, signature_algorithm, issuer, subject, serial_number, fingerprint_sha256, not_before_ms, not_after_ms, \
  certificate_der, chain_pem, private_key_sealed, created_at_ms, last_modified_ms) \
SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) \
  || '-a' || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))), \
  $1, 0, 'Imported', 'host' || n || '.seed.example', 'www.host' || n || '.seed.example', 'ECDSA P-256', \
  'ecdsa-with-SHA256', 'O=certkeeper Seed,CN=certkeeper Seed CA', 'CN=host' || n || '.seed.example', \
  upper(hex(randomblob(16))), lower(hex(randomblob(32))), \
  $2 - ((n * 7919) % 730) * 86400000, $2 - ((n * 7919) % 730) * 86400000 + (90 + (n % 300)) * 86400000, \
  x'00', '', NULL, $3, $3 FROM seq";

const POSTGRES_SEED: &str = "\
INSERT INTO certificates (ssl_certificate_id, container_id, scope, certificate_type, domain_name, additional_names, \
  public_key_info, signature_algorithm, issuer, subject, serial_number, fingerprint_sha256, not_before_ms, not_after_ms, \
  certificate_der, chain_pem, private_key_sealed, created_at_ms, last_modified_ms) \
SELECT gen_random_uuid()::text, $1, 0, 'Imported', 'host' || n || '.seed.example', 'www.host' || n || '.seed.example', \
  'ECDSA P-256', 'ecdsa-with-SHA256', 'O=certkeeper Seed,CN=certkeeper Seed CA', 'CN=host' || n || '.seed.example', \
  upper(md5(random()::text)), md5(random()::text) || md5(random()::text), \
  $2 - ((n * 7919) % 730) * 86400000, $2 - ((n * 7919) % 730) * 86400000 + (90 + (n % 300)) * 86400000, \
  '\\x00'::bytea, '', NULL, $3, $3 FROM generate_series($4::bigint, $5::bigint) AS n";

impl Store {
    /// Adds `count` synthetic certificates to a project.
    pub async fn seed_synthetic_certificates(
        &self,
        container: ContainerId,
        count: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => SQLITE_SEED,
            Backend::Postgres => POSTGRES_SEED,
        };
        let now_ms = to_ms(now);
        let base: i64 = sqlx::query_scalar::<_, i64>(
            "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM certificates",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut done = 0;
        while done < count {
            let n = BATCH.min(count - done);
            let first = base + done + 1;
            let mut tx = self.begin_write().await?;
            sqlx::query(sql)
                .bind(container.0)
                .bind(now_ms)
                .bind(now_ms)
                .bind(first)
                .bind(first + n - 1)
                .execute(&mut *tx)
                .await?;
            certificates::bump_counts(&mut tx, container, n, 0).await?;
            tx.commit().await?;
            done += n;
        }
        if self.backend == Backend::Postgres {
            // VACUUM sets the visibility map, so listings get index-only scans right away
            // (autovacuum would do it later).
            sqlx::query("VACUUM ANALYZE certificates")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}
