//! Every column that holds a value sealed under the master key, walked in batches for a key
//! rotation. The store knows where sealed values live and what binds each to its record; the
//! core knows how to open and seal them.

use sqlx::Row;

use crate::{Store, StoreError};

/// A table with a sealed column. Settings rows (the CA keys, the ACME account) are read and
/// written through [`Store::setting`] and [`Store::replace_setting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedKind {
    /// `certificates.private_key_sealed`, bound to the certificate's `ssl_certificate_id`.
    CertificateKey,
    /// `project_lifecycle.validation_sealed` (DNS provider secrets), bound to the project.
    ValidationSettings,
    /// `notification_rules.channel_sealed` (webhook secrets), bound to the rule (the row's
    /// key); the binding column is the project, which rows of earlier versions were bound to.
    NotificationChannel,
    /// `acme_eab_keys.hmac_sealed`, bound to the key id.
    EabKey,
}

impl SealedKind {
    pub const ALL: [SealedKind; 4] = [
        SealedKind::CertificateKey,
        SealedKind::ValidationSettings,
        SealedKind::NotificationChannel,
        SealedKind::EabKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SealedKind::CertificateKey => "certificate private keys",
            SealedKind::ValidationSettings => "DNS provider settings",
            SealedKind::NotificationChannel => "notification channels",
            SealedKind::EabKey => "ACME EAB keys",
        }
    }

    /// (select after a cursor, compare-and-swap update). Every row's key is read as text so
    /// one cursor type serves integer and text keys; integer keys are ordered as integers.
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            SealedKind::CertificateKey => (
                "SELECT id AS k, ssl_certificate_id AS binding, private_key_sealed AS sealed FROM certificates \
                 WHERE private_key_sealed IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
                "UPDATE certificates SET private_key_sealed = $1 WHERE id = $2 AND private_key_sealed = $3",
            ),
            SealedKind::ValidationSettings => (
                "SELECT container_id AS k, container_id AS binding, validation_sealed AS sealed FROM project_lifecycle \
                 WHERE validation_sealed IS NOT NULL AND container_id > $1 ORDER BY container_id LIMIT $2",
                "UPDATE project_lifecycle SET validation_sealed = $1 WHERE container_id = $2 AND validation_sealed = $3",
            ),
            SealedKind::NotificationChannel => (
                "SELECT id AS k, container_id AS binding, channel_sealed AS sealed FROM notification_rules \
                 WHERE id > $1 ORDER BY id LIMIT $2",
                "UPDATE notification_rules SET channel_sealed = $1 WHERE id = $2 AND channel_sealed = $3",
            ),
            SealedKind::EabKey => (
                "SELECT kid AS k, kid AS binding, hmac_sealed AS sealed FROM acme_eab_keys \
                 WHERE kid > $1 ORDER BY kid LIMIT $2",
                "UPDATE acme_eab_keys SET hmac_sealed = $1 WHERE kid = $2 AND hmac_sealed = $3",
            ),
        }
    }

    fn integer_keys(self) -> bool {
        self != SealedKind::EabKey
    }
}

/// Where a batch starts: after this row key (`None`: from the first row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedCursor {
    Int(i64),
    Text(String),
}

/// One sealed value and what binds it.
#[derive(Debug, Clone)]
pub struct SealedRow {
    pub key: SealedCursor,
    /// The record the value is bound to: an `ssl_certificate_id`, a container id or a kid.
    pub binding: String,
    pub sealed: Vec<u8>,
}

/// A re-sealed value to write, if the row still holds `old`.
#[derive(Debug, Clone)]
pub struct Reseal {
    pub key: SealedCursor,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

fn text_of(r: &sqlx::any::AnyRow, column: &str) -> Result<String, StoreError> {
    match r.try_get::<i64, _>(column) {
        Ok(n) => Ok(n.to_string()),
        Err(_) => Ok(r.try_get::<String, _>(column)?),
    }
}

impl Store {
    /// Up to `limit` sealed values of `kind` after `after`, in key order.
    pub async fn sealed_batch(
        &self,
        kind: SealedKind,
        after: Option<&SealedCursor>,
        limit: i64,
    ) -> Result<Vec<SealedRow>, StoreError> {
        let (select, _) = kind.sql();
        let query = sqlx::query(select);
        let query = match (kind.integer_keys(), after) {
            (true, Some(SealedCursor::Int(n))) => query.bind(*n),
            (true, _) => query.bind(i64::MIN),
            (false, Some(SealedCursor::Text(t))) => query.bind(t.clone()),
            (false, _) => query.bind(String::new()),
        };
        let rows = query.bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let key = if kind.integer_keys() {
                    SealedCursor::Int(r.try_get("k")?)
                } else {
                    SealedCursor::Text(r.try_get("k")?)
                };
                Ok(SealedRow {
                    key,
                    binding: text_of(r, "binding")?,
                    sealed: r.try_get("sealed")?,
                })
            })
            .collect()
    }

    /// Writes re-sealed values of `kind` in one transaction, each only where the row still
    /// holds the value it was re-sealed from (a row changed meanwhile keeps its new value, and
    /// the rotation's next pass sees it). Returns how many rows were written.
    pub async fn reseal(&self, kind: SealedKind, batch: &[Reseal]) -> Result<u64, StoreError> {
        let (_, update) = kind.sql();
        let mut tx = self.begin_write().await?;
        let mut written = 0;
        for r in batch {
            let q = sqlx::query(update).bind(r.new.clone());
            let q = match &r.key {
                SealedCursor::Int(n) => q.bind(*n),
                SealedCursor::Text(t) => q.bind(t.clone()),
            };
            written += q
                .bind(r.old.clone())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Replaces a settings row's value if it still holds `old`; `false` when it did not.
    pub async fn replace_setting(
        &self,
        name: &str,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("UPDATE settings SET value = $1 WHERE name = $2 AND value = $3")
            .bind(new.to_vec())
            .bind(name)
            .bind(old.to_vec())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Settings whose name starts with `prefix` (names only).
    pub async fn setting_names(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM settings WHERE name >= $1 ORDER BY name")
            .bind(prefix)
            .fetch_all(&self.pool)
            .await?;
        let mut names = Vec::new();
        for r in rows {
            let name: String = r.try_get("name")?;
            if !name.starts_with(prefix) {
                break;
            }
            names.push(name);
        }
        Ok(names)
    }

    /// Sets a settings row, and removes others, in one transaction: how a finished key
    /// rotation records the new check value and version and forgets its progress at once.
    pub async fn put_settings(
        &self,
        put: &[(&str, &[u8])],
        delete: &[&str],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (name, value) in put {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(*name)
            .bind(value.to_vec())
            .execute(&mut *tx)
            .await?;
        }
        for name in delete {
            sqlx::query("DELETE FROM settings WHERE name = $1")
                .bind(*name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
}
