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
    pub revoked: bool,
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
}

fn key_from_row(r: &AnyRow) -> Result<StoredApiKey, StoreError> {
    let role: String = r.try_get("role")?;
    let project: Option<String> = r.try_get("project_uuid")?;
    let hash: Vec<u8> = r.try_get("key_hash")?;
    let revoked: Option<i64> = r.try_get("revoked_at_ms")?;
    Ok(StoredApiKey {
        key: ApiKey {
            id: ApiKeyId(r.try_get("id")?),
            name: r.try_get("name")?,
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
        },
        hash: ApiKeyHash(
            hash.try_into()
                .map_err(|_| StoreError::Corrupt("api key hash length".into()))?,
        ),
        revoked: revoked.is_some(),
    })
}

pub(crate) async fn insert_key(
    conn: &mut sqlx::AnyConnection,
    new: &NewApiKey<'_>,
) -> Result<ApiKey, StoreError> {
    let row = sqlx::query(
        "INSERT INTO api_keys (name, lookup_prefix, key_hash, role, container_id, created_at_ms, allow_key_export) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(new.name)
    .bind(new.lookup_prefix)
    .bind(new.hash.0.to_vec())
    .bind(new.role.as_str())
    .bind(new.project.map(|p| p.container_id.0))
    .bind(to_ms(new.at))
    .bind(i64::from(new.allow_key_export))
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
        role: new.role,
        allow_key_export: new.allow_key_export,
        project: new.project.map(|p| p.id),
        collections: new.collections.to_vec(),
        created_at: new.at,
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
        let row = sqlx::query(
            "SELECT k.id, k.name, k.key_hash, k.role, k.created_at_ms, k.revoked_at_ms, k.allow_key_export, p.id AS project_uuid \
             FROM api_keys k LEFT JOIN projects p ON p.container_id = k.container_id WHERE k.lookup_prefix = $1",
        )
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await?;
        let Some(mut key) = row.as_ref().map(key_from_row).transpose()? else {
            return Ok(None);
        };
        key.key.collections = self.key_collections(key.key.id).await?;
        Ok(Some(key))
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
        let rows = sqlx::query(
            "SELECT k.id, k.name, k.key_hash, k.role, k.created_at_ms, k.revoked_at_ms, k.allow_key_export, p.id AS project_uuid \
             FROM api_keys k LEFT JOIN projects p ON p.container_id = k.container_id ORDER BY k.id",
        )
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
