//! Authentication (which key is this?) and authorization (may it do this here?).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use certkeeper_domain::apikey::{ApiKey, PresentedToken};
use certkeeper_domain::audit::Actor;
use certkeeper_domain::ids::ProjectId;
use certkeeper_domain::project::Project;
use certkeeper_store::StoredApiKey;

use crate::{Core, CoreError};

/// How long a looked-up key is trusted without asking the database again. Bounds how long a
/// key revoked on another node keeps working.
const AUTH_CACHE_TTL: Duration = Duration::from_secs(10);
/// Past this many entries the cache is cleared rather than grown.
const AUTH_CACHE_MAX: usize = 10_000;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key: ApiKey,
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor::ApiKey {
            id: self.key.id.0,
            name: self.key.name.clone(),
        }
    }
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Recently seen keys, by lookup prefix: saves a database round trip per request.
#[derive(Debug, Default)]
pub(crate) struct AuthCache(RwLock<HashMap<String, (StoredApiKey, Instant)>>);

impl AuthCache {
    fn get(&self, prefix: &str) -> Option<StoredApiKey> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(prefix)
            .filter(|(_, at)| at.elapsed() < AUTH_CACHE_TTL)
            .map(|(k, _)| k.clone())
    }

    fn put(&self, prefix: &str, key: StoredApiKey) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= AUTH_CACHE_MAX {
            map.clear();
        }
        map.insert(prefix.to_string(), (key, Instant::now()));
    }
}

/// Projects already read, by id, for [`AUTH_CACHE_TTL`]. A project's issuer can change: this
/// node drops its entry at once when it changes it; other nodes see the change within the TTL.
/// Only found projects are kept, so one created on another node is seen at once.
#[derive(Debug, Default)]
pub(crate) struct ProjectCache(RwLock<HashMap<ProjectId, (Project, Instant)>>);

impl ProjectCache {
    pub(crate) fn get(&self, id: ProjectId) -> Option<Project> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(&id)
            .filter(|(_, at)| at.elapsed() < AUTH_CACHE_TTL)
            .map(|(p, _)| p.clone())
    }

    pub(crate) fn put(&self, project: &Project) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= AUTH_CACHE_MAX {
            map.clear();
        }
        map.insert(project.id, (project.clone(), Instant::now()));
    }

    pub(crate) fn forget(&self, id: ProjectId) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

impl Core {
    /// Finds the key a token belongs to. Unknown, malformed and revoked tokens are all
    /// [`CoreError::Unauthenticated`], with nothing to tell them apart.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, CoreError> {
        let token = PresentedToken::parse(token.trim()).ok_or(CoreError::Unauthenticated)?;
        let stored = self.stored_key(token.lookup_prefix()).await?;
        if stored.revoked || !stored.hash.matches(&token.hash()) {
            return Err(CoreError::Unauthenticated);
        }
        Ok(Principal { key: stored.key })
    }

    /// The key with this lookup prefix, unless revoked: how a dashboard session, which holds
    /// no token, finds its key again on each request.
    pub(crate) async fn principal_by_prefix(&self, prefix: &str) -> Result<Principal, CoreError> {
        let stored = self.stored_key(prefix).await?;
        if stored.revoked {
            return Err(CoreError::Unauthenticated);
        }
        Ok(Principal { key: stored.key })
    }

    async fn stored_key(&self, prefix: &str) -> Result<StoredApiKey, CoreError> {
        if let Some(k) = self.auth_cache.get(prefix) {
            return Ok(k);
        }
        let k = self
            .store
            .api_key_by_prefix(prefix)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        self.auth_cache.put(prefix, k.clone());
        Ok(k)
    }

    /// Checks that `who` may act on project `id` with `need`, and returns the project.
    ///
    /// A key limited to another project gets 403 whether or not `id` exists, so it learns
    /// nothing about other projects; an unlimited key gets 404 for an unknown project.
    pub async fn authorize_project(
        &self,
        who: &Principal,
        id: ProjectId,
        need: Access,
    ) -> Result<Project, CoreError> {
        if !who.key.collections.is_empty() {
            return Err(CoreError::Forbidden(
                "this API key is limited to certificate collections and may read their reports only"
                    .into(),
            ));
        }
        if let Some(own) = who.key.project
            && own != id
        {
            return Err(CoreError::Forbidden(
                "this API key is limited to another project".into(),
            ));
        }
        if need == Access::Write && !who.key.role.can_write() {
            return Err(CoreError::Forbidden(format!(
                "this API key's role ({}) is read-only; changing certificates needs operator or admin",
                who.key.role
            )));
        }
        if let Some(p) = self.project_cache.get(id) {
            return Ok(p);
        }
        let project = self
            .store
            .project(id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("project {id} not found")))?;
        self.project_cache.put(&project);
        Ok(project)
    }
}
