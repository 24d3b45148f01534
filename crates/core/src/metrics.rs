//! What the `/metrics` face reads about the inventory: per-project counts and the
//! certificates nearest expiry, from aggregates and an index range (see
//! `certkeeper_store::metrics`), limited to what the scraping key may see.

use std::collections::BTreeMap;
use std::sync::Mutex;

use certkeeper_store::{ExpiringCertificate, ProjectCounts};

use crate::{Core, CoreError, Principal};

/// The inventory's numbers at one scrape.
#[derive(Debug, Clone, Default)]
pub struct InventoryMetrics {
    /// (project name, counts)
    pub projects: Vec<(String, ProjectCounts)>,
    /// (project name, certificate), soonest expiry first.
    pub nearest: Vec<(String, ExpiringCertificate)>,
}

impl Core {
    /// Counts and the `limit` certificates nearest expiry, of every project `who` may read
    /// (`None`: the scrape is public, `serve --metrics-public`).
    pub async fn inventory_metrics(
        &self,
        who: Option<&Principal>,
        limit: i64,
    ) -> Result<InventoryMetrics, CoreError> {
        let now = self.now();
        let names: BTreeMap<i64, (certkeeper_domain::ids::ProjectId, String)> = self
            .store
            .projects()
            .await?
            .into_iter()
            .map(|p| (p.container_id.0, (p.id, p.name)))
            .collect();
        let visible = |container: i64| -> Option<String> {
            let (id, name) = names.get(&container)?;
            match who.and_then(|w| w.key.project) {
                Some(only) if only != *id => None,
                _ => Some(name.clone()),
            }
        };
        let projects = self
            .store
            .project_counts(now)
            .await?
            .into_iter()
            .filter_map(|c| visible(c.container_id.0).map(|n| (n, c)))
            .collect();
        let nearest = self
            .store
            .nearest_expiring(now, limit)
            .await?
            .into_iter()
            .filter_map(|c| visible(c.container_id.0).map(|n| (n, c)))
            .collect();
        Ok(InventoryMetrics { projects, nearest })
    }

    /// `/readyz`: the database answers.
    pub async fn ready(&self) -> Result<(), CoreError> {
        Ok(self.store.ping().await?)
    }
}

/// What an operation came to, counted per node since it started (Prometheus counters: each
/// node is scraped on its own and they are summed there).
#[derive(Debug, Default)]
pub(crate) struct Outcomes(Mutex<BTreeMap<(&'static str, &'static str), u64>>);

impl Outcomes {
    pub(crate) fn add(&self, operation: &'static str, outcome: &'static str) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry((operation, outcome)).or_default() += 1;
        }
    }
}

impl Core {
    /// (operation, outcome, count) of every outcome seen on this node: `validation` (issued,
    /// refused), `renewal` (issued, opened, failed), `delivery` (delivered, failed),
    /// `revocation` (revoked), `acme_finalize` (valid, invalid).
    pub fn outcomes(&self) -> Vec<(&'static str, &'static str, u64)> {
        self.outcomes
            .0
            .lock()
            .map(|c| c.iter().map(|((o, r), n)| (*o, *r, *n)).collect())
            .unwrap_or_default()
    }
}
