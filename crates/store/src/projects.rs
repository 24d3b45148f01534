//! Projects.

use certkeeper_domain::audit::NewAuditEvent;
use certkeeper_domain::ids::{ContainerId, ProjectId};
use certkeeper_domain::project::Project;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::time_ms::{from_ms, to_ms};
use crate::{Store, StoreError, audit};

pub(crate) fn project_from_row(r: &AnyRow) -> Result<Project, StoreError> {
    let id: String = r.try_get("id")?;
    Ok(Project {
        id: id
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("project id {id:?}: {e}")))?,
        container_id: ContainerId(r.try_get("container_id")?),
        name: r.try_get("name")?,
        issuer: r
            .try_get::<Option<String>, _>("issuer")?
            .map(|i| i.parse().map_err(StoreError::Corrupt))
            .transpose()?,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
    })
}

pub(crate) async fn insert_project(
    conn: &mut sqlx::AnyConnection,
    id: ProjectId,
    name: &str,
    at: OffsetDateTime,
) -> Result<Project, StoreError> {
    let row = sqlx::query(
        "INSERT INTO projects (id, name, created_at_ms) VALUES ($1, $2, $3) RETURNING container_id, id, name, issuer, created_at_ms",
    )
    .bind(id.to_string())
    .bind(name)
    .bind(to_ms(at))
    .fetch_one(conn)
    .await
    .map_err(|e| {
        if StoreError::is_unique_violation(&e) {
            StoreError::Conflict(format!("a project named {name:?} already exists"))
        } else {
            e.into()
        }
    })?;
    project_from_row(&row)
}

impl Store {
    /// Creates a project; a name already taken is a [`StoreError::Conflict`].
    pub async fn create_project(
        &self,
        id: ProjectId,
        name: &str,
        at: OffsetDateTime,
        audit_event: impl FnOnce(&Project) -> NewAuditEvent,
    ) -> Result<Project, StoreError> {
        let mut tx = self.begin_write().await?;
        let project = insert_project(&mut tx, id, name, at).await?;
        audit::insert(&mut tx, &audit_event(&project)).await?;
        tx.commit().await?;
        Ok(project)
    }

    pub async fn project(&self, id: ProjectId) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query(
            "SELECT container_id, id, name, issuer, created_at_ms FROM projects WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(project_from_row).transpose()
    }

    pub async fn project_by_container(
        &self,
        container: ContainerId,
    ) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query(
            "SELECT container_id, id, name, issuer, created_at_ms FROM projects WHERE container_id = $1",
        )
        .bind(container.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(project_from_row).transpose()
    }

    pub async fn project_by_name(&self, name: &str) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query(
            "SELECT container_id, id, name, issuer, created_at_ms FROM projects WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(project_from_row).transpose()
    }

    pub async fn projects(&self) -> Result<Vec<Project>, StoreError> {
        let rows = sqlx::query(
            "SELECT container_id, id, name, issuer, created_at_ms FROM projects ORDER BY container_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(project_from_row).collect()
    }

    /// Sets (or, with `None`, clears) a project's issuer override.
    pub async fn set_project_issuer(
        &self,
        id: ProjectId,
        issuer: Option<certkeeper_domain::issuer::IssuerKind>,
        audit_event: NewAuditEvent,
    ) -> Result<Option<Project>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE projects SET issuer = $1 WHERE id = $2 RETURNING container_id, id, name, issuer, created_at_ms",
        )
        .bind(issuer.map(|i| i.as_str()))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        audit::insert(&mut tx, &audit_event).await?;
        tx.commit().await?;
        Ok(Some(project_from_row(&row)?))
    }
}
