//! A project's lifecycle settings: its DNS provider and validation reuse, and its renewal
//! policy. Provider secrets are sealed under the master key like private keys, and only the
//! settings without them are ever answered or logged.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use certkeeper_dns::Publisher;
use certkeeper_dns::publish::{AcmeDns, Rfc2136, Tsig};
use certkeeper_domain::audit::{Actor, AuditAction, NewAuditEvent};
use certkeeper_domain::ids::{ContainerId, ProjectId};
use certkeeper_domain::lifecycle::{DnsProvider, RenewalPolicy, TsigAlgorithm, ValidationSettings};
use certkeeper_domain::project::Project;
use serde_json::json;

use crate::{Access, Core, CoreError, Principal};

/// How long settings read from the database are trusted on this node. A change made on this
/// node applies at once; one made on another node within this time.
const CACHE_TTL: Duration = Duration::from_secs(10);

/// A project's settings, as the core uses them.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    pub validation: ValidationSettings,
    pub renewal: RenewalPolicy,
}

/// Settings already read, by project.
#[derive(Debug, Default)]
pub(crate) struct LifecycleCache(RwLock<HashMap<ContainerId, (Lifecycle, Instant)>>);

impl LifecycleCache {
    fn get(&self, id: ContainerId) -> Option<Lifecycle> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(&id)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(l, _)| l.clone())
    }

    fn put(&self, id: ContainerId, l: &Lifecycle) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= 10_000 {
            map.clear();
        }
        map.insert(id, (l.clone(), Instant::now()));
    }

    fn forget(&self, id: ContainerId) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// Validations this node has seen, by (project, name): when each was proved. Only positive
/// facts are kept, and a validation only ever moves forward in time, so an entry can be stale
/// (older than the database's) but never wrong; a miss asks the database. Saves the create
/// that reuses a validation its read.
#[derive(Debug, Default)]
pub(crate) struct ValidatedCache(RwLock<HashMap<(ContainerId, String), time::OffsetDateTime>>);

impl ValidatedCache {
    /// The oldest validation of `names` if every one is known here and at or after `since`.
    pub(crate) fn all_since(
        &self,
        container: ContainerId,
        names: &[String],
        since: time::OffsetDateTime,
    ) -> bool {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        !names.is_empty()
            && names.iter().all(|n| {
                map.get(&(container, n.clone()))
                    .is_some_and(|at| *at >= since)
            })
    }

    pub(crate) fn record(
        &self,
        container: ContainerId,
        names: &[String],
        at: time::OffsetDateTime,
    ) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= 100_000 {
            map.clear();
        }
        for n in names {
            let slot = map.entry((container, n.clone())).or_insert(at);
            if *slot < at {
                *slot = at;
            }
        }
    }
}

pub(crate) fn validation_aad(container: ContainerId) -> String {
    format!("certkeeper:validation-settings:{}", container.0)
}

impl Core {
    /// A project's settings, secrets included (for the core's own use only).
    pub(crate) async fn lifecycle_of(&self, project: &Project) -> Result<Lifecycle, CoreError> {
        if let Some(l) = self.lifecycle_cache.get(project.container_id) {
            return Ok(l);
        }
        let stored = self.store.lifecycle(project.container_id).await?;
        let validation = match stored.validation_sealed {
            Some(sealed) => {
                let clear = self
                    .master_key
                    .open(validation_aad(project.container_id).as_bytes(), &sealed)
                    .map_err(CoreError::internal)?;
                serde_json::from_slice(&clear)
                    .map_err(|e| CoreError::internal(format!("stored validation settings: {e}")))?
            }
            None => ValidationSettings::default(),
        };
        let renewal = match stored.renewal {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| CoreError::internal(format!("stored renewal policy: {e}")))?,
            None => RenewalPolicy::default(),
        };
        let l = Lifecycle {
            validation,
            renewal,
        };
        self.lifecycle_cache.put(project.container_id, &l);
        Ok(l)
    }

    /// GET …/validation: the settings without secrets.
    pub async fn validation_settings(
        &self,
        who: &Principal,
        project: ProjectId,
    ) -> Result<ValidationSettings, CoreError> {
        let project = self.authorize_admin(who, project).await?;
        self.validation_settings_of(&project).await
    }

    /// A project's validation settings without secrets (the CLI's view too).
    pub async fn validation_settings_of(
        &self,
        project: &Project,
    ) -> Result<ValidationSettings, CoreError> {
        Ok(self.lifecycle_of(project).await?.validation.public())
    }

    /// PUT …/validation (admin). Secrets must be given again on every change (they are
    /// never shown).
    pub async fn set_validation_settings(
        &self,
        who: &Principal,
        project: ProjectId,
        settings: ValidationSettings,
    ) -> Result<ValidationSettings, CoreError> {
        let project = self.authorize_admin(who, project).await?;
        self.store_validation_settings(who.actor(), &project, settings)
            .await
    }

    /// Stores validation settings on behalf of `actor`. An `exec` name must be configured on
    /// this server when it issues (the CLI, which does not issue, leaves that check to the
    /// server's job, which fails with the same message).
    pub async fn store_validation_settings(
        &self,
        actor: Actor,
        project: &Project,
        settings: ValidationSettings,
    ) -> Result<ValidationSettings, CoreError> {
        settings.check().map_err(CoreError::Invalid)?;
        if let (DnsProvider::Exec { name }, Some(issuance)) =
            (&settings.dns_provider, self.issuance.as_ref())
            && !issuance.dns_exec.contains_key(name)
        {
            return Err(CoreError::Invalid(format!(
                "no DNS script named {name:?} is configured on this server (serve --dns-exec {name}=PATH)"
            )));
        }
        let clear = serde_json::to_vec(&settings).map_err(CoreError::internal)?;
        let sealed = self
            .master_key
            .seal(validation_aad(project.container_id).as_bytes(), &clear)
            .map_err(CoreError::internal)?;
        let public = settings.public();
        let public_text = serde_json::to_string(&public).map_err(CoreError::internal)?;
        let now = self.now();
        self.store
            .put_validation(project.container_id, &public_text, &sealed, now)
            .await?;
        self.lifecycle_cache.forget(project.container_id);
        self.audit_settings(
            actor,
            project,
            "validation",
            serde_json::to_value(&public).unwrap_or_default(),
        )
        .await?;
        Ok(public)
    }

    /// GET …/renewal.
    pub async fn renewal_policy(
        &self,
        who: &Principal,
        project: ProjectId,
    ) -> Result<RenewalPolicy, CoreError> {
        let project = self.authorize_admin(who, project).await?;
        self.renewal_policy_of(&project).await
    }

    pub async fn renewal_policy_of(&self, project: &Project) -> Result<RenewalPolicy, CoreError> {
        Ok(self.lifecycle_of(project).await?.renewal)
    }

    /// PUT …/renewal (admin). Applies to certificates issued from now on; scheduled renewals
    /// keep their time.
    pub async fn set_renewal_policy(
        &self,
        who: &Principal,
        project: ProjectId,
        policy: RenewalPolicy,
    ) -> Result<RenewalPolicy, CoreError> {
        let project = self.authorize_admin(who, project).await?;
        self.store_renewal_policy(who.actor(), &project, policy)
            .await
    }

    pub async fn store_renewal_policy(
        &self,
        actor: Actor,
        project: &Project,
        policy: RenewalPolicy,
    ) -> Result<RenewalPolicy, CoreError> {
        policy.check().map_err(CoreError::Invalid)?;
        let text = serde_json::to_string(&policy).map_err(CoreError::internal)?;
        self.store
            .put_renewal(project.container_id, &text, self.now())
            .await?;
        self.lifecycle_cache.forget(project.container_id);
        self.audit_settings(
            actor,
            project,
            "renewal",
            serde_json::to_value(policy).unwrap_or_default(),
        )
        .await?;
        Ok(policy)
    }

    async fn authorize_admin(
        &self,
        who: &Principal,
        project: ProjectId,
    ) -> Result<Project, CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        if !who.key.role.is_admin() {
            return Err(CoreError::Forbidden(
                "project lifecycle settings need an admin API key".into(),
            ));
        }
        Ok(project)
    }

    async fn audit_settings(
        &self,
        actor: Actor,
        project: &Project,
        what: &str,
        value: serde_json::Value,
    ) -> Result<(), CoreError> {
        let event = NewAuditEvent {
            at: self.now(),
            actor,
            action: AuditAction::ProjectSettings,
            project: Some(project.id),
            target: format!("project:{}", project.id),
            detail: json!({ "settings": what, "value": value }).to_string(),
        };
        self.store.record_audit(&event).await?;
        Ok(())
    }

    /// The publisher for a provider, `None` for `manual`.
    pub(crate) fn publisher(&self, provider: &DnsProvider) -> Result<Option<Publisher>, CoreError> {
        Ok(match provider {
            DnsProvider::Manual => None,
            DnsProvider::Rfc2136 {
                server,
                zone,
                tsig_key_name,
                tsig_algorithm,
                tsig_secret,
            } => {
                let secret = base64::engine::general_purpose::STANDARD
                    .decode(tsig_secret.as_deref().unwrap_or_default().trim())
                    .map_err(|e| CoreError::internal(format!("stored TSIG secret: {e}")))?;
                Some(Publisher::Rfc2136(Rfc2136 {
                    server: *server,
                    zone: zone.clone(),
                    key_name: tsig_key_name.clone(),
                    algorithm: match tsig_algorithm {
                        TsigAlgorithm::HmacSha256 => Tsig::HmacSha256,
                        TsigAlgorithm::HmacSha384 => Tsig::HmacSha384,
                        TsigAlgorithm::HmacSha512 => Tsig::HmacSha512,
                    },
                    secret,
                }))
            }
            DnsProvider::Exec { name } => {
                let path = self.issuance()?.dns_exec.get(name).ok_or_else(|| {
                    CoreError::Invalid(format!(
                        "the DNS script {name:?} is no longer configured on this server"
                    ))
                })?;
                Some(Publisher::Exec(path.clone()))
            }
            DnsProvider::AcmeDns {
                url,
                username,
                password,
                subdomain,
            } => Some(Publisher::AcmeDns(AcmeDns {
                url: url.clone(),
                username: username.clone(),
                password: password.clone().unwrap_or_default(),
                subdomain: subdomain.clone(),
            })),
        })
    }
}
