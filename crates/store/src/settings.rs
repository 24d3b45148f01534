//! Server-wide settings stored in the database (e.g. the master-key check value).

use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    pub async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<Vec<u8>, _>("value")).transpose()?)
    }

    /// Stores `value` unless the setting exists. Returns whether this call stored it, so that
    /// of several nodes starting together exactly one wins.
    pub async fn put_setting_if_absent(
        &self,
        name: &str,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value.to_vec())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
