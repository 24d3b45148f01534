//! certkeeper's services, the "registration authority" of the design: each operation's rules
//! (who may do it, what is checked, what is recorded) live here once, whichever API surface
//! the request came through.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod acme;
pub mod acme_server;
pub mod admin;
pub mod auth;
pub mod browse;
mod error;
pub mod inventory;
pub mod issuance;
pub mod keyrotation;
pub mod lifecycle;
pub mod listener;
pub mod masterkey;
pub mod metrics;
mod notification_rules;
pub mod notifications;
mod provider_flow;
pub mod ratelimit;
mod renewal;
pub mod reports;
pub mod revocation;
pub mod scheduler;
pub mod sessions;

use std::sync::Arc;

use certkeeper_domain::Clock;
use certkeeper_domain::sealing::MasterKey;
use certkeeper_store::Store;

pub use auth::{Access, Principal};
pub use error::CoreError;

/// An instant as RFC 3339 text, for audit details and messages.
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Everything a request needs, shared by all surfaces. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Core {
    store: Store,
    clock: Arc<dyn Clock>,
    master_key: Arc<MasterKey>,
    auth_cache: Arc<auth::AuthCache>,
    project_cache: Arc<auth::ProjectCache>,
    auth_failures: Arc<auth::FailureLog>,
    rate_limiter: Arc<ratelimit::RateLimiter>,
    issuance: Option<Arc<issuance::Issuance>>,
    lifecycle_cache: Arc<lifecycle::LifecycleCache>,
    validated_cache: Arc<lifecycle::ValidatedCache>,
    /// Wakes this node's scheduler when work is scheduled for now.
    scheduler_wake: Arc<tokio::sync::Notify>,
    notify: notifications::NotifyConfig,
    acme: Arc<acme_server::AcmeServer>,
    revocation: Arc<revocation::RevocationState>,
    outcomes: Arc<metrics::Outcomes>,
    /// How long a dashboard session lives untouched.
    session_idle: time::Duration,
}

impl Core {
    pub fn new(store: Store, clock: Arc<dyn Clock>, master_key: MasterKey) -> Self {
        let acme = Arc::new(acme_server::AcmeServer::new(&master_key));
        Self {
            store,
            clock,
            master_key: Arc::new(master_key),
            auth_cache: Arc::new(auth::AuthCache::default()),
            project_cache: Arc::new(auth::ProjectCache::default()),
            auth_failures: Arc::default(),
            // Off unless the server sets it (`serve` does, with the documented default).
            rate_limiter: Arc::default(),
            issuance: None,
            lifecycle_cache: Arc::new(lifecycle::LifecycleCache::default()),
            validated_cache: Arc::new(lifecycle::ValidatedCache::default()),
            scheduler_wake: Arc::new(tokio::sync::Notify::new()),
            notify: notifications::NotifyConfig::default(),
            acme,
            revocation: Arc::default(),
            outcomes: Arc::default(),
            session_idle: time::Duration::try_from(sessions::DEFAULT_IDLE_TIMEOUT)
                .unwrap_or(time::Duration::minutes(30)),
        }
    }

    /// Limits each API key to `limit` on this node (see [`ratelimit`]).
    pub fn with_rate_limit(mut self, limit: ratelimit::RateLimit) -> Self {
        self.rate_limiter = Arc::new(ratelimit::RateLimiter::new(limit));
        self
    }

    /// Sets how notifications are sent (SMTP, webhook policy, the API's certificate shape).
    pub fn with_notifications(mut self, notify: notifications::NotifyConfig) -> Self {
        self.notify = notify;
        self
    }

    /// Sets how long a dashboard session may stay idle before it must sign in again.
    pub fn with_session_idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.session_idle = time::Duration::try_from(idle).unwrap_or(self.session_idle);
        self
    }

    /// Enables certificate creation and validation.
    pub fn with_issuance(mut self, issuance: issuance::Issuance) -> Self {
        self.issuance = Some(Arc::new(issuance));
        self
    }

    /// The master key, for loading sealed server material (the built-in CA) at start-up.
    pub fn master_key(&self) -> &MasterKey {
        &self.master_key
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }
}
