//! Saved collections (certificate queries). The built-in collection 0 is not stored.

use certkeeper_domain::audit::NewAuditEvent;
use certkeeper_domain::ids::CollectionId;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::time_ms::{from_ms, to_ms};
use crate::{Store, StoreError, audit};

/// A collection as stored: its query is kept as text and parsed again when read, so the
/// parser stays the one authority on what a query means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCollection {
    pub id: CollectionId,
    pub name: String,
    pub description: String,
    pub query: String,
    pub created_at: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    pub duplication_field: i64,
}

/// The fields of a collection to create or replace.
#[derive(Debug, Clone, Copy)]
pub struct CollectionFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub query: &'a str,
    pub duplication_field: i64,
    pub at: OffsetDateTime,
}

fn from_row(r: &AnyRow) -> Result<StoredCollection, StoreError> {
    Ok(StoredCollection {
        id: CollectionId(r.try_get("id")?),
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        query: r.try_get("query")?,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
        last_modified: from_ms(r.try_get("last_modified_ms")?)?,
        duplication_field: r.try_get("duplication_field")?,
    })
}

fn name_taken(e: sqlx::Error, name: &str) -> StoreError {
    if StoreError::is_unique_violation(&e) {
        StoreError::Conflict(format!("a collection named {name:?} already exists"))
    } else {
        e.into()
    }
}

const COLUMNS: &str = "SELECT id, name, description, query, created_at_ms, last_modified_ms, duplication_field FROM collections";

impl Store {
    pub async fn collections(&self) -> Result<Vec<StoredCollection>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{COLUMNS} ORDER BY id")))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn collection(
        &self,
        id: CollectionId,
    ) -> Result<Option<StoredCollection>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE id = $1")))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn create_collection(
        &self,
        fields: CollectionFields<'_>,
        audit_event: impl FnOnce(CollectionId) -> NewAuditEvent,
    ) -> Result<StoredCollection, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO collections (name, description, query, created_at_ms, last_modified_ms, duplication_field) \
             VALUES ($1, $2, $3, $4, $4, $5) RETURNING id",
        )
        .bind(fields.name)
        .bind(fields.description)
        .bind(fields.query)
        .bind(to_ms(fields.at))
        .bind(fields.duplication_field)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| name_taken(e, fields.name))?
        .try_get("id")?;
        audit::insert(&mut tx, &audit_event(CollectionId(id))).await?;
        tx.commit().await?;
        let at = from_ms(to_ms(fields.at))?;
        Ok(StoredCollection {
            id: CollectionId(id),
            name: fields.name.to_string(),
            description: fields.description.to_string(),
            query: fields.query.to_string(),
            created_at: at,
            last_modified: at,
            duplication_field: fields.duplication_field,
        })
    }

    /// Replaces a collection's fields. `None` if it does not exist.
    pub async fn update_collection(
        &self,
        id: CollectionId,
        fields: CollectionFields<'_>,
        audit_event: NewAuditEvent,
    ) -> Result<Option<StoredCollection>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE collections SET name = $1, description = $2, query = $3, last_modified_ms = $4, \
             duplication_field = $6 WHERE id = $5 \
             RETURNING id, name, description, query, created_at_ms, last_modified_ms, duplication_field",
        )
        .bind(fields.name)
        .bind(fields.description)
        .bind(fields.query)
        .bind(to_ms(fields.at))
        .bind(id.0)
        .bind(fields.duplication_field)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| name_taken(e, fields.name))?;
        let Some(row) = row else { return Ok(None) };
        let updated = from_row(&row)?;
        audit::insert(&mut tx, &audit_event).await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    /// Deletes a collection. `false` if it did not exist. A collection granted to API keys is
    /// refused ([`StoreError::Conflict`]): dropping the grant would turn a key limited to
    /// collections into one with system-wide reach.
    pub async fn delete_collection(
        &self,
        id: CollectionId,
        audit_event: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let grants: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM api_key_collections WHERE collection_id = $1")
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
        if grants > 0 {
            return Err(StoreError::Conflict(format!(
                "collection {id} is granted to {grants} API key(s); it cannot be deleted while they hold it"
            )));
        }
        let gone = sqlx::query("DELETE FROM collections WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if gone {
            audit::insert(&mut tx, &audit_event).await?;
            tx.commit().await?;
        }
        Ok(gone)
    }
}
