//! Operator tasks: projects, API keys, the first-start bootstrap and the audit trail. These run
//! from the CLI (no API key needed: the operator has the database) or for admin keys.

use certkeeper_domain::apikey::{ApiKey, ApiKeySecret, KeyState, Role};
use certkeeper_domain::audit::{Actor, AuditAction, AuditEvent, NewAuditEvent};
use certkeeper_domain::collection::ALL_CERTIFICATES;
use certkeeper_domain::ids::{ApiKeyId, CollectionId, ProjectId};
use certkeeper_domain::project::{Project, validate_project_name};
use certkeeper_store::NewApiKey;
use serde_json::json;

use crate::{Core, CoreError, Principal};

/// A freshly created key with its secret, shown once.
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: ApiKeySecret,
}

/// What a rotation made: the successor (with its secret) and the old key as it now stands.
pub struct RotatedApiKey {
    pub created: CreatedApiKey,
    pub previous: ApiKey,
}

/// What a new key may do, and until when.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub name: String,
    pub role: Role,
    pub project: Option<Project>,
    pub allow_key_export: bool,
    pub collections: Vec<CollectionId>,
    pub expires_at: Option<time::OffsetDateTime>,
}

/// The longest a rotated key keeps working beside its successor.
pub const MAX_ROTATION_OVERLAP: time::Duration = time::Duration::days(30);

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

    /// Creates a key that does not expire; see [`Core::create_api_key_with`].
    pub async fn create_api_key(
        &self,
        actor: Actor,
        name: &str,
        role: Role,
        project: Option<&Project>,
        allow_key_export: bool,
        collections: &[CollectionId],
    ) -> Result<CreatedApiKey, CoreError> {
        self.create_api_key_with(
            actor,
            &KeySpec {
                name: name.to_string(),
                role,
                project: project.cloned(),
                allow_key_export,
                collections: collections.to_vec(),
                expires_at: None,
            },
        )
        .await
    }

    pub async fn create_api_key_with(
        &self,
        actor: Actor,
        spec: &KeySpec,
    ) -> Result<CreatedApiKey, CoreError> {
        let name = spec.name.trim();
        for &id in &spec.collections {
            if id != ALL_CERTIFICATES && self.store.collection(id).await?.is_none() {
                return Err(CoreError::NotFound(format!("collection {id} not found")));
            }
        }
        if name.is_empty() || name.chars().count() > 100 {
            return Err(CoreError::Invalid(
                "API key name must be 1 to 100 characters".into(),
            ));
        }
        let now = self.now();
        if let Some(at) = spec.expires_at
            && at <= now
        {
            return Err(CoreError::Invalid(
                "an API key's expiry must be in the future".into(),
            ));
        }
        let secret = ApiKeySecret::generate()
            .map_err(|_| CoreError::internal("system random generator failed"))?;
        let hash = secret.hash();
        let key = self
            .store
            .create_api_key(
                NewApiKey {
                    name,
                    lookup_prefix: secret.lookup_prefix(),
                    hash: &hash,
                    role: spec.role,
                    allow_key_export: spec.allow_key_export,
                    project: spec.project.as_ref(),
                    collections: &spec.collections,
                    at: now,
                    expires_at: spec.expires_at,
                },
                |k| key_audit(now, actor, AuditAction::ApiKeyCreate, k, json!({})),
            )
            .await?;
        Ok(CreatedApiKey { key, secret })
    }

    /// An API key made over HTTP: `who` must be allowed to manage keys (checked before the
    /// project is looked up, so a refused caller learns nothing about projects).
    pub async fn create_api_key_as(
        &self,
        who: &Principal,
        project: Option<ProjectId>,
        mut spec: KeySpec,
    ) -> Result<CreatedApiKey, CoreError> {
        require_key_admin(Some(who))?;
        spec.project = match project {
            Some(id) => Some(
                self.store
                    .project(id)
                    .await?
                    .ok_or_else(|| CoreError::NotFound(format!("project {id} not found")))?,
            ),
            None => None,
        };
        self.create_api_key_with(who.actor(), &spec).await
    }

    /// Every key, oldest first (never their secrets). Admin keys that reach every project,
    /// or the CLI.
    pub async fn api_keys(&self, who: Option<&Principal>) -> Result<Vec<ApiKey>, CoreError> {
        require_key_admin(who)?;
        Ok(self
            .store
            .api_keys()
            .await?
            .into_iter()
            .map(|k| k.key)
            .collect())
    }

    pub async fn api_key(
        &self,
        who: Option<&Principal>,
        id: ApiKeyId,
    ) -> Result<ApiKey, CoreError> {
        require_key_admin(who)?;
        self.store
            .api_key(id)
            .await?
            .map(|k| k.key)
            .ok_or_else(|| CoreError::NotFound(format!("API key {id} not found")))
    }

    /// Revokes a key. It stops working on this node at once and on every other node within
    /// [`AUTH_CACHE_TTL`](crate::auth::AUTH_CACHE_TTL) (their caches' lifetime).
    pub async fn revoke_api_key(
        &self,
        who: Option<&Principal>,
        id: ApiKeyId,
    ) -> Result<ApiKey, CoreError> {
        require_key_admin(who)?;
        let now = self.now();
        let actor = who.map_or(Actor::Cli, Principal::actor);
        let key = self
            .store
            .revoke_api_key(id, now, |k| {
                key_audit(now, actor, AuditAction::ApiKeyRevoke, k, json!({}))
            })
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("API key {id} not found")))?;
        self.auth_cache.forget(id);
        Ok(key.key)
    }

    /// Rotation: a new secret with the same grants, the old key kept working for `overlap`
    /// (0: it stops now) so clients can move over. The successor keeps the old key's expiry
    /// unless `expires_at` sets another.
    pub async fn rotate_api_key(
        &self,
        who: Option<&Principal>,
        id: ApiKeyId,
        overlap: time::Duration,
        expires_at: Option<time::OffsetDateTime>,
    ) -> Result<RotatedApiKey, CoreError> {
        require_key_admin(who)?;
        if overlap < time::Duration::ZERO || overlap > MAX_ROTATION_OVERLAP {
            return Err(CoreError::Invalid(format!(
                "the overlap must be 0 to {} seconds",
                MAX_ROTATION_OVERLAP.whole_seconds()
            )));
        }
        let now = self.now();
        let old = self
            .store
            .api_key(id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("API key {id} not found")))?
            .key;
        if old.state(now) != KeyState::Active {
            return Err(CoreError::Conflict {
                message: format!(
                    "API key {id} is {}; only an active key can be rotated",
                    old.state(now).as_str()
                ),
                existing: None,
            });
        }
        let expires_at = expires_at.or(old.expires_at);
        if expires_at.is_some_and(|at| at <= now) {
            return Err(CoreError::Invalid(
                "an API key's expiry must be in the future".into(),
            ));
        }
        let project =
            match old.project {
                Some(p) => Some(self.store.project(p).await?.ok_or_else(|| {
                    CoreError::internal(format!("API key {id}'s project is gone"))
                })?),
                None => None,
            };
        let secret = ApiKeySecret::generate()
            .map_err(|_| CoreError::internal("system random generator failed"))?;
        let hash = secret.hash();
        let actor = who.map_or(Actor::Cli, Principal::actor);
        let old_until = now + overlap;
        let key = self
            .store
            .rotate_api_key(
                id,
                NewApiKey {
                    name: &old.name,
                    lookup_prefix: secret.lookup_prefix(),
                    hash: &hash,
                    role: old.role,
                    allow_key_export: old.allow_key_export,
                    project: project.as_ref(),
                    collections: &old.collections,
                    at: now,
                    expires_at,
                },
                old_until,
                |new| {
                    vec![
                        key_audit(now, actor.clone(), AuditAction::ApiKeyCreate, new, json!({ "replaces": id.0 })),
                        key_audit(
                            now,
                            actor.clone(),
                            AuditAction::ApiKeyRotate,
                            &old,
                            json!({ "replacedBy": new.id.0, "worksUntil": crate::rfc3339(old_until) }),
                        ),
                    ]
                },
            )
            .await
            .map_err(CoreError::conflict_or_store)?;
        self.auth_cache.forget(id);
        let previous = self
            .store
            .api_key(id)
            .await?
            .ok_or_else(|| CoreError::internal(format!("API key {id} vanished while rotated")))?
            .key;
        Ok(RotatedApiKey {
            created: CreatedApiKey { key, secret },
            previous,
        })
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
            expires_at: None,
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
                events.push(key_audit(now, Actor::System, AuditAction::ApiKeyCreate, key, json!({})));
                events
            })
            .await?;
        Ok(created.map(|(project, key)| (project, CreatedApiKey { key, secret })))
    }

    pub async fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>, CoreError> {
        Ok(self.store.audit_events(limit.clamp(1, 100_000)).await?)
    }
}

/// The audit record of a change to key `k`: its grants, plus `extra` facts.
fn key_audit(
    now: time::OffsetDateTime,
    actor: Actor,
    action: AuditAction,
    k: &ApiKey,
    extra: serde_json::Value,
) -> NewAuditEvent {
    let mut detail = json!({
        "name": k.name,
        "role": k.role.as_str(),
        "allowKeyExport": k.allow_key_export,
        "collections": k.collections.iter().map(|c| c.0).collect::<Vec<_>>(),
        "expiresAt": k.expires_at.map(crate::rfc3339),
    });
    if let (Some(d), serde_json::Value::Object(more)) = (detail.as_object_mut(), extra) {
        d.extend(more);
    }
    NewAuditEvent {
        at: now,
        actor,
        action,
        project: k.project,
        target: format!("apikey:{}", k.id),
        detail: detail.to_string(),
    }
}

/// Managing keys needs the CLI (`None`: the operator holds the database) or an admin key that
/// reaches every project and is not limited to collections: a project's admin must not mint
/// keys beyond its project.
fn require_key_admin(who: Option<&Principal>) -> Result<(), CoreError> {
    match who {
        None => Ok(()),
        Some(p)
            if p.key.role.is_admin() && p.key.project.is_none() && p.key.collections.is_empty() =>
        {
            Ok(())
        }
        Some(_) => Err(CoreError::Forbidden(
            "managing API keys needs an admin key that is not limited to a project or collections"
                .into(),
        )),
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
