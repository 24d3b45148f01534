//! Operator tasks: projects, API keys, the first-start bootstrap and the audit trail. These run
//! from the CLI (no API key needed: the operator has the database) or for admin keys.

use certkeeper_domain::apikey::{ApiKey, ApiKeySecret, Role};
use certkeeper_domain::audit::{Actor, AuditAction, AuditEvent, NewAuditEvent};
use certkeeper_domain::collection::ALL_CERTIFICATES;
use certkeeper_domain::ids::{CollectionId, ProjectId};
use certkeeper_domain::project::{Project, validate_project_name};
use certkeeper_store::NewApiKey;
use serde_json::json;

use crate::{Core, CoreError};

/// A freshly created key with its secret, shown once.
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: ApiKeySecret,
}

impl Core {
    pub async fn create_project(&self, actor: Actor, name: &str) -> Result<Project, CoreError> {
        let name = validate_project_name(name).map_err(CoreError::Invalid)?;
        let now = self.now();
        self.store
            .create_project(ProjectId::new_random(), name, now, |p| NewAuditEvent {
                at: now,
                actor,
                action: AuditAction::ProjectCreate,
                project: Some(p.id),
                target: format!("project:{}", p.id),
                detail: json!({ "name": p.name, "containerId": p.container_id.0 }).to_string(),
            })
            .await
            .map_err(|e| match e {
                certkeeper_store::StoreError::Conflict(m) => CoreError::Conflict {
                    message: m,
                    existing: None,
                },
                other => other.into(),
            })
    }

    /// Finds a project by UUID or by name.
    pub async fn find_project(&self, id_or_name: &str) -> Result<Project, CoreError> {
        let found = match id_or_name.parse::<ProjectId>() {
            Ok(id) => self.store.project(id).await?,
            Err(_) => self.store.project_by_name(id_or_name).await?,
        };
        found.ok_or_else(|| CoreError::NotFound(format!("project {id_or_name:?} not found")))
    }

    pub async fn create_api_key(
        &self,
        actor: Actor,
        name: &str,
        role: Role,
        project: Option<&Project>,
        allow_key_export: bool,
        collections: &[CollectionId],
    ) -> Result<CreatedApiKey, CoreError> {
        let name = name.trim();
        for &id in collections {
            if id != ALL_CERTIFICATES && self.store.collection(id).await?.is_none() {
                return Err(CoreError::NotFound(format!("collection {id} not found")));
            }
        }
        if name.is_empty() || name.chars().count() > 100 {
            return Err(CoreError::Invalid(
                "API key name must be 1 to 100 characters".into(),
            ));
        }
        let secret = ApiKeySecret::generate()
            .map_err(|_| CoreError::internal("system random generator failed"))?;
        let hash = secret.hash();
        let now = self.now();
        let key = self
            .store
            .create_api_key(
                NewApiKey {
                    name,
                    lookup_prefix: secret.lookup_prefix(),
                    hash: &hash,
                    role,
                    allow_key_export,
                    project,
                    collections,
                    at: now,
                },
                |k| key_audit(now, actor, k),
            )
            .await?;
        Ok(CreatedApiKey { key, secret })
    }

    /// On an empty database, creates the `default` project and an admin key. `None` when keys
    /// already exist (or another node bootstrapped first).
    pub async fn bootstrap(&self) -> Result<Option<(Project, CreatedApiKey)>, CoreError> {
        let secret = ApiKeySecret::generate()
            .map_err(|_| CoreError::internal("system random generator failed"))?;
        let hash = secret.hash();
        let now = self.now();
        let new = NewApiKey {
            name: "bootstrap-admin",
            lookup_prefix: secret.lookup_prefix(),
            hash: &hash,
            role: Role::Admin,
            // Exporting keys is an explicit grant, never a default.
            allow_key_export: false,
            project: None,
            collections: &[],
            at: now,
        };
        let created = self
            .store
            .bootstrap(ProjectId::new_random(), "default", new, |project, key| {
                let mut events = Vec::new();
                if let Some(p) = project {
                    events.push(NewAuditEvent {
                        at: now,
                        actor: Actor::System,
                        action: AuditAction::ProjectCreate,
                        project: Some(p.id),
                        target: format!("project:{}", p.id),
                        detail: json!({ "name": p.name, "containerId": p.container_id.0, "bootstrap": true }).to_string(),
                    });
                }
                events.push(key_audit(now, Actor::System, key));
                events
            })
            .await?;
        Ok(created.map(|(project, key)| (project, CreatedApiKey { key, secret })))
    }

    pub async fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>, CoreError> {
        Ok(self.store.audit_events(limit.clamp(1, 100_000)).await?)
    }
}

fn key_audit(now: time::OffsetDateTime, actor: Actor, k: &ApiKey) -> NewAuditEvent {
    NewAuditEvent {
        at: now,
        actor,
        action: AuditAction::ApiKeyCreate,
        project: k.project,
        target: format!("apikey:{}", k.id),
        detail: json!({
            "name": k.name,
            "role": k.role.as_str(),
            "allowKeyExport": k.allow_key_export,
            "collections": k.collections.iter().map(|c| c.0).collect::<Vec<_>>(),
        })
        .to_string(),
    }
}

impl Core {
    /// Sets or clears (`None`) a project's issuer override. Needs an admin key that reaches
    /// the project; `acme` needs an ACME CA configured on the server.
    pub async fn set_project_issuer(
        &self,
        who: &crate::Principal,
        project: ProjectId,
        issuer: Option<certkeeper_domain::issuer::IssuerKind>,
    ) -> Result<Project, CoreError> {
        let current = self
            .authorize_project(who, project, crate::Access::Write)
            .await?;
        if !who.key.role.is_admin() {
            return Err(CoreError::Forbidden(
                "changing a project's settings needs an admin key".into(),
            ));
        }
        if issuer == Some(certkeeper_domain::issuer::IssuerKind::Acme) && !self.acme_configured() {
            return Err(CoreError::Invalid(
                "this server has no ACME CA configured (start it with --acme-directory)".into(),
            ));
        }
        let now = self.now();
        let audit = NewAuditEvent {
            at: now,
            actor: who.actor(),
            action: AuditAction::ProjectUpdate,
            project: Some(current.id),
            target: format!("project:{}", current.id),
            detail: json!({ "issuer": issuer.map(|i| i.as_str()), "previous": current.issuer.map(|i| i.as_str()) }).to_string(),
        };
        let updated = self
            .store
            .set_project_issuer(project, issuer, audit)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("project {project} not found")))?;
        self.project_cache.forget(project);
        Ok(updated)
    }
}
