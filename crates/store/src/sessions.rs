//! Dashboard sign-in sessions. The table keeps each session's secret only as a SHA-256, and
//! names the API key by its lookup prefix: the core checks the key again on every request.

use sqlx::Row;
use time::OffsetDateTime;

use crate::time_ms::{from_ms, to_ms};
use crate::{Store, StoreError};

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub key_prefix: String,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen: OffsetDateTime,
}

impl Store {
    pub async fn create_session(
        &self,
        id_hash: &str,
        key_prefix: &str,
        csrf_token: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let _turn = self.writer_turn().await;
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, key_prefix, csrf_token, created_at_ms, last_seen_ms) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(id_hash)
        .bind(key_prefix)
        .bind(csrf_token)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn session(&self, id_hash: &str) -> Result<Option<StoredSession>, StoreError> {
        let row = sqlx::query(
            "SELECT key_prefix, csrf_token, created_at_ms, last_seen_ms FROM web_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredSession {
                key_prefix: r.try_get("key_prefix")?,
                csrf_token: r.try_get("csrf_token")?,
                created_at: from_ms(r.try_get("created_at_ms")?)?,
                last_seen: from_ms(r.try_get("last_seen_ms")?)?,
            })
        })
        .transpose()
    }

    /// Records activity on a session.
    pub async fn touch_session(&self, id_hash: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let _turn = self.writer_turn().await;
        sqlx::query("UPDATE web_sessions SET last_seen_ms = $1 WHERE id_hash = $2")
            .bind(to_ms(at))
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a session; whether there was one.
    pub async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let _turn = self.writer_turn().await;
        let done = sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Forgets sessions idle since before `cutoff`; how many.
    pub async fn delete_idle_sessions(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        let _turn = self.writer_turn().await;
        let done = sqlx::query("DELETE FROM web_sessions WHERE last_seen_ms < $1")
            .bind(to_ms(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
