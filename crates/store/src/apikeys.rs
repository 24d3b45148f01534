//! API keys: stored as a clear lookup prefix plus the SHA-256 of the whole token.

use certkeeper_domain::apikey::{ApiKey, ApiKeyHash, Role};
use certkeeper_domain::audit::NewAuditEvent;
use certkeeper_domain::ids::{ApiKeyId, CollectionId, ProjectId};
use certkeeper_domain::project::Project;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::time_ms::{from_ms, to_ms};
use crate::{Store, StoreError, audit, projects};

/// A key with what is needed to authenticate it.
#[derive(Debug, Clone)]
pub struct StoredApiKey {
    pub key: ApiKey,
    pub hash: ApiKeyHash,
}

/// `SELECT` of the columns [`key_from_row`] reads, from `api_keys k` joined to `projects p`,
/// followed by the given clauses (a literal, so the SQL text stays static).
macro_rules! select_keys {
    ($($tail:literal)?) => {
        concat!(
            "SELECT k.id, k.name, k.lookup_prefix, k.key_hash, k.role, k.created_at_ms, k.revoked_at_ms, k.allow_key_export, ",
            "k.expires_at_ms, k.last_used_at_ms, k.replaced_by, p.id AS project_uuid ",
            "FROM api_keys k LEFT JOIN projects p ON p.container_id = k.container_id "
            $(, $tail)?
        )
    };
}

/// The fields of a key to create.
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub lookup_prefix: &'a str,
    pub hash: &'a ApiKeyHash,
    pub role: Role,
    pub allow_key_export: bool,
    pub project: Option<&'a Project>,
    /// Collection-level Read grants (collections that exist).
    pub collections: &'a [CollectionId],
    pub at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
}

fn key_from_row(r: &AnyRow) -> Result<StoredApiKey, StoreError> {
    let role: String = r.try_get("role")?;
    let project: Option<String> = r.try_get("project_uuid")?;
    let hash: Vec<u8> = r.try_get("key_hash")?;
    let opt_time = |column: &str| -> Result<Option<OffsetDateTime>, StoreError> {
        r.try_get::<Option<i64>, _>(column)?
            .map(from_ms)
            .transpose()
    };
    Ok(StoredApiKey {
        key: ApiKey {
            id: ApiKeyId(r.try_get("id")?),
            name: r.try_get("name")?,
            lookup_prefix: r.try_get("lookup_prefix")?,
            role: role.parse().map_err(StoreError::Corrupt)?,
            allow_key_export: r.try_get::<i64, _>("allow_key_export")? != 0,
            project: project
                .map(|p| {
                    p.parse::<ProjectId>()
                        .map_err(|e| StoreError::Corrupt(format!("api key project: {e}")))
                })
                .transpose()?,
            collections: Vec::new(),
            created_at: from_ms(r.try_get("created_at_ms")?)?,
            expires_at: opt_time("expires_at_ms")?,
            revoked_at: opt_time("revoked_at_ms")?,
            last_used_at: opt_time("last_used_at_ms")?,
            replaced_by: r.try_get::<Option<i64>, _>("replaced_by")?.map(ApiKeyId),
        },
        hash: ApiKeyHash(
            hash.try_into()
                .map_err(|_| StoreError::Corrupt("api key hash length".into()))?,
        ),
    })
}

pub(crate) async fn insert_key(
    conn: &mut sqlx::AnyConnection,
    new: &NewApiKey<'_>,
) -> Result<ApiKey, StoreError> {
    let row = sqlx::query(
        "INSERT INTO api_keys (name, lookup_prefix, key_hash, role, container_id, created_at_ms, allow_key_export, expires_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(new.name)
    .bind(new.lookup_prefix)
    .bind(new.hash.0.to_vec())
    .bind(new.role.as_str())
    .bind(new.project.map(|p| p.container_id.0))
    .bind(to_ms(new.at))
    .bind(i64::from(new.allow_key_export))
    .bind(new.expires_at.map(to_ms))
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.try_get("id")?;
    for c in new.collections {
        sqlx::query("INSERT INTO api_key_collections (api_key_id, collection_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(c.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(ApiKey {
        id: ApiKeyId(id),
        name: new.name.to_string(),
        lookup_prefix: new.lookup_prefix.to_string(),
        role: new.role,
        allow_key_export: new.allow_key_export,
        project: new.project.map(|p| p.id),
        collections: new.collections.to_vec(),
        created_at: new.at,
        expires_at: new.expires_at,
        revoked_at: None,
        last_used_at: None,
        replaced_by: None,
    })
}

impl Store {
    pub async fn create_api_key(
        &self,
        new: NewApiKey<'_>,
        audit_event: impl FnOnce(&ApiKey) -> NewAuditEvent,
    ) -> Result<ApiKey, StoreError> {
        let mut tx = self.begin_write().await?;
        let key = insert_key(&mut tx, &new).await?;
        audit::insert(&mut tx, &audit_event(&key)).await?;
        tx.commit().await?;
        Ok(key)
    }

    pub async fn api_key_by_prefix(
        &self,
        prefix: &str,
    ) -> Result<Option<StoredApiKey>, StoreError> {
        let row = sqlx::query(select_keys!("WHERE k.lookup_prefix = $1"))
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await?;
        self.with_collections(row.as_ref()).await
    }

    pub async fn api_key(&self, id: ApiKeyId) -> Result<Option<StoredApiKey>, StoreError> {
        let row = sqlx::query(select_keys!("WHERE k.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        self.with_collections(row.as_ref()).await
    }

    async fn with_collections(
        &self,
        row: Option<&AnyRow>,
    ) -> Result<Option<StoredApiKey>, StoreError> {
        let Some(mut key) = row.map(key_from_row).transpose()? else {
            return Ok(None);
        };
        key.key.collections = self.key_collections(key.key.id).await?;
        Ok(Some(key))
    }

    /// Revokes a key (from `at` on it authenticates nowhere). `None` for an unknown key;
    /// revoking a revoked key changes nothing and writes no second audit record.
    pub async fn revoke_api_key(
        &self,
        id: ApiKeyId,
        at: OffsetDateTime,
        audit_event: impl FnOnce(&ApiKey) -> NewAuditEvent,
    ) -> Result<Option<StoredApiKey>, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(to_ms(at))
        .bind(id.0)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if changed {
            let row = sqlx::query(select_keys!("WHERE k.id = $1"))
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
            audit::insert(&mut tx, &audit_event(&key_from_row(&row)?.key)).await?;
        }
        tx.commit().await?;
        self.api_key(id).await
    }

    /// Rotation: creates `new` (the same grants under a new secret) and gives `old` until
    /// `old_until` to be replaced by it, in one transaction. A key already rotated or revoked
    /// is a conflict: each key has at most one successor.
    pub async fn rotate_api_key(
        &self,
        old: ApiKeyId,
        new: NewApiKey<'_>,
        old_until: OffsetDateTime,
        audit_events: impl FnOnce(&ApiKey) -> Vec<NewAuditEvent>,
    ) -> Result<ApiKey, StoreError> {
        let mut tx = self.begin_write().await?;
        let created = insert_key(&mut tx, &new).await?;
        let until = to_ms(old_until);
        let moved = sqlx::query(
            "UPDATE api_keys SET replaced_by = $1, \
             expires_at_ms = CASE WHEN expires_at_ms IS NULL OR expires_at_ms > $2 THEN $2 ELSE expires_at_ms END \
             WHERE id = $3 AND revoked_at_ms IS NULL AND replaced_by IS NULL",
        )
        .bind(created.id.0)
        .bind(until)
        .bind(old.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            drop(tx); // rolls back the new key
            return Err(StoreError::Conflict(format!(
                "API key {old} was already rotated or revoked"
            )));
        }
        for event in audit_events(&created) {
            audit::insert(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Records a key's use at `at`, unless a use within [`LAST_USED_RESOLUTION`] of it is
    /// already recorded (another node may have written it).
    ///
    /// [`LAST_USED_RESOLUTION`]: certkeeper_domain::apikey::LAST_USED_RESOLUTION
    pub async fn touch_api_key(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), StoreError> {
        let at_ms = to_ms(at);
        let stale_before = to_ms(at - certkeeper_domain::apikey::LAST_USED_RESOLUTION);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE api_keys SET last_used_at_ms = $1 WHERE id = $2 \
             AND (last_used_at_ms IS NULL OR last_used_at_ms <= $3)",
        )
        .bind(at_ms)
        .bind(id.0)
        .bind(stale_before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// A key's collection-level grants.
    async fn key_collections(&self, id: ApiKeyId) -> Result<Vec<CollectionId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT collection_id FROM api_key_collections WHERE api_key_id = $1 ORDER BY collection_id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(CollectionId).collect())
    }

    pub async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StoreError> {
        let rows = sqlx::query(select_keys!("ORDER BY k.id"))
            .fetch_all(&self.pool)
            .await?;
        let mut keys = rows
            .iter()
            .map(key_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        for k in &mut keys {
            k.key.collections = self.key_collections(k.key.id).await?;
        }
        Ok(keys)
    }

    /// First start: if no API key exists, creates the `default` project (unless a project
    /// exists) and an admin key, in one transaction guarded by a settings row, so that of
    /// several nodes starting on one empty database exactly one bootstraps. Returns what was
    /// created, or `None` when there was nothing to do.
    pub async fn bootstrap(
        &self,
        project_id: ProjectId,
        project_name: &str,
        key: NewApiKey<'_>,
        audit_events: impl FnOnce(Option<&Project>, &ApiKey) -> Vec<NewAuditEvent>,
    ) -> Result<Option<(Project, ApiKey)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let first = sqlx::query("INSERT INTO settings (name, value) VALUES ('bootstrapped', $1) ON CONFLICT (name) DO NOTHING")
            .bind(to_ms(key.at).to_string().into_bytes())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        let keys: i64 = sqlx::query("SELECT COUNT(*) AS n FROM api_keys")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if !first || keys > 0 {
            tx.commit().await?;
            return Ok(None);
        }
        let existing = sqlx::query("SELECT container_id, id, name, issuer, created_at_ms FROM projects ORDER BY container_id LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let (project, created) = match existing {
            Some(row) => (projects::project_from_row(&row)?, false),
            None => (
                projects::insert_project(&mut tx, project_id, project_name, key.at).await?,
                true,
            ),
        };
        let new = NewApiKey {
            project: None,
            ..key
        };
        let api_key = insert_key(&mut tx, &new).await?;
        for event in audit_events(created.then_some(&project), &api_key) {
            audit::insert(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(Some((project, api_key)))
    }
}
