//! Authentication (which key is this?) and authorization (may it do this here?).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use certkeeper_domain::apikey::{ApiKey, KeyState, LOOKUP_PREFIX_LEN, PresentedToken};
use certkeeper_domain::audit::{Actor, AuditAction, NewAuditEvent};
use certkeeper_domain::ids::{ApiKeyId, ProjectId};
use certkeeper_domain::project::Project;
use certkeeper_store::StoredApiKey;
use serde_json::json;
use time::OffsetDateTime;

use crate::{Core, CoreError};

/// How long a looked-up key is trusted without asking the database again. Bounds how long a
/// key revoked on another node keeps working.
pub const AUTH_CACHE_TTL: time::Duration = time::Duration::seconds(10);
/// How long a project read is trusted (issuer changes on other nodes show within this).
const PROJECT_CACHE_TTL: Duration = Duration::from_secs(10);
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

/// Recently seen keys, by lookup prefix: saves a database round trip per request. Entries
/// age by the injected clock, so a test moves the clock past the TTL instead of sleeping.
#[derive(Debug, Default)]
pub(crate) struct AuthCache(RwLock<HashMap<String, (StoredApiKey, OffsetDateTime)>>);

impl AuthCache {
    fn get(&self, prefix: &str, now: OffsetDateTime) -> Option<StoredApiKey> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(prefix)
            .filter(|(_, at)| now - *at < AUTH_CACHE_TTL && *at <= now)
            .map(|(k, _)| k.clone())
    }

    fn put(&self, prefix: &str, key: StoredApiKey, now: OffsetDateTime) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= AUTH_CACHE_MAX {
            map.clear();
        }
        map.insert(prefix.to_string(), (key, now));
    }

    /// Notes a use written at `at` on the cached entry, so this node does not write it again
    /// within [`LAST_USED_RESOLUTION`].
    fn note_use(&self, prefix: &str, at: OffsetDateTime) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if let Some((k, _)) = map.get_mut(prefix) {
            k.key.last_used_at = Some(at);
        }
    }

    /// Drops a key this node just changed (revoked, rotated), so the change applies here at once.
    pub(crate) fn forget(&self, id: ApiKeyId) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (k, _)| k.key.id != id);
    }
}

/// Why a presented credential failed, for the audit trail only: the caller is told nothing
/// that tells these apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Malformed,
    Unknown,
    WrongSecret,
    Revoked,
    Expired,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::Malformed => "malformed",
            Failure::Unknown => "unknown key",
            Failure::WrongSecret => "wrong secret",
            Failure::Revoked => "revoked",
            Failure::Expired => "expired",
        }
    }
}

/// How often failures with one prefix are written to the audit trail: the first at once, the
/// rest counted and written with the next record, at most one per prefix per minute per node.
/// A client hammering a wrong key cannot turn into a write per request.
const FAILURE_AUDIT_INTERVAL: time::Duration = time::Duration::minutes(1);

/// Failures per prefix since the last audit record of that prefix.
#[derive(Debug, Default)]
pub(crate) struct FailureLog(Mutex<HashMap<String, (OffsetDateTime, u64)>>);

impl FailureLog {
    /// `Some(n)`: write a record now, covering `n` failures not yet written before this one.
    fn record(&self, prefix: &str, now: OffsetDateTime) -> Option<u64> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= AUTH_CACHE_MAX {
            map.retain(|_, (at, _)| now - *at < FAILURE_AUDIT_INTERVAL);
        }
        match map.get_mut(prefix) {
            Some((at, suppressed)) if now - *at < FAILURE_AUDIT_INTERVAL && *at <= now => {
                *suppressed += 1;
                None
            }
            Some((at, suppressed)) => {
                let n = *suppressed;
                *at = now;
                *suppressed = 0;
                Some(n)
            }
            None => {
                map.insert(prefix.to_string(), (now, 0));
                Some(0)
            }
        }
    }
}

/// Projects already read, by id, for [`PROJECT_CACHE_TTL`]. A project's issuer can change: this
/// node drops its entry at once when it changes it; other nodes see the change within the TTL.
/// Only found projects are kept, so one created on another node is seen at once.
#[derive(Debug, Default)]
pub(crate) struct ProjectCache(RwLock<HashMap<ProjectId, (Project, Instant)>>);

impl ProjectCache {
    pub(crate) fn get(&self, id: ProjectId) -> Option<Project> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(&id)
            .filter(|(_, at)| at.elapsed() < PROJECT_CACHE_TTL)
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
    /// Finds the key a token belongs to. Unknown, malformed, expired and revoked tokens are
    /// all [`CoreError::Unauthenticated`], with nothing to tell them apart; the audit trail
    /// records which it was, under the token's lookup prefix (never the token). A key over
    /// its rate is [`CoreError::RateLimited`].
    pub async fn authenticate(&self, token: &str) -> Result<Principal, CoreError> {
        let presented = token.trim();
        let Some(token) = PresentedToken::parse(presented) else {
            // Only something shaped like a certkeeper token has a prefix worth recording:
            // anything else may be a password or another system's secret.
            let prefix = presented
                .starts_with("ck_")
                .then(|| presented.get(..LOOKUP_PREFIX_LEN))
                .flatten();
            self.audit_failure(prefix, None, Failure::Malformed);
            return Err(CoreError::Unauthenticated);
        };
        let prefix = token.lookup_prefix();
        let stored = match self.stored_key(prefix).await {
            Ok(k) => k,
            Err(CoreError::Unauthenticated) => {
                self.audit_failure(Some(prefix), None, Failure::Unknown);
                return Err(CoreError::Unauthenticated);
            }
            Err(e) => return Err(e),
        };
        if !stored.hash.matches(&token.hash()) {
            self.audit_failure(Some(prefix), Some(&stored.key), Failure::WrongSecret);
            return Err(CoreError::Unauthenticated);
        }
        self.admit(prefix, stored)
    }

    /// The key with this lookup prefix, if it still authenticates: how a dashboard session,
    /// which holds no token, finds its key again on each request.
    pub(crate) async fn principal_by_prefix(&self, prefix: &str) -> Result<Principal, CoreError> {
        let stored = self.stored_key(prefix).await?;
        self.admit(prefix, stored)
    }

    /// The checks after a key is found: still active, within its rate; and its use recorded.
    fn admit(&self, prefix: &str, stored: StoredApiKey) -> Result<Principal, CoreError> {
        let now = self.now();
        match stored.key.state(now) {
            KeyState::Active => {}
            state => {
                let failure = if state == KeyState::Revoked {
                    Failure::Revoked
                } else {
                    Failure::Expired
                };
                self.audit_failure(Some(prefix), Some(&stored.key), failure);
                return Err(CoreError::Unauthenticated);
            }
        }
        self.rate_limiter
            .check(stored.key.id, now)
            .map_err(|retry_after| CoreError::RateLimited { retry_after })?;
        if stored.key.last_use_is_stale(now) {
            self.auth_cache.note_use(prefix, now);
            let store = self.store.clone();
            let id = stored.key.id;
            tokio::spawn(async move {
                if let Err(e) = store.touch_api_key(id, now).await {
                    tracing::warn!(error = %e, key = %id, "could not record the API key's last use");
                }
            });
        }
        Ok(Principal { key: stored.key })
    }

    /// Writes (off the request's path) an audit record of a failed authentication, subject to
    /// [`FAILURE_AUDIT_INTERVAL`].
    fn audit_failure(&self, prefix: Option<&str>, key: Option<&ApiKey>, why: Failure) {
        let now = self.now();
        let label = prefix.unwrap_or("-");
        let Some(suppressed) = self.auth_failures.record(label, now) else {
            return;
        };
        let event = NewAuditEvent {
            at: now,
            actor: Actor::System,
            action: AuditAction::AuthFailure,
            project: key.and_then(|k| k.project),
            target: format!("apikey-prefix:{label}"),
            detail: json!({
                "reason": why.as_str(),
                "keyId": key.map(|k| k.id.0),
                "alsoFailedSinceLastRecord": suppressed,
            })
            .to_string(),
        };
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.record_audit(&event).await {
                tracing::warn!(error = %e, "could not audit a failed authentication");
            }
        });
    }

    async fn stored_key(&self, prefix: &str) -> Result<StoredApiKey, CoreError> {
        let now = self.now();
        if let Some(k) = self.auth_cache.get(prefix, now) {
            return Ok(k);
        }
        let k = self
            .store
            .api_key_by_prefix(prefix)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        self.auth_cache.put(prefix, k.clone(), now);
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
