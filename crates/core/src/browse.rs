//! What people look at: the inventory across projects, filtered and paged, a certificate's
//! whole story, and the overview's counts. The dashboard is the face that asks; the rules of
//! who sees what are the API's, applied here once.

use certkeeper_domain::audit::AuditEvent;
use certkeeper_domain::browse::{BrowseCursor, BrowseFilter, BrowseSort, MAX_BROWSE_PAGE};
use certkeeper_domain::certificate::CertificateRecord;
use certkeeper_domain::ids::{CertificateId, ContainerId, ProjectId};
use certkeeper_domain::order::OrderStatus;
use certkeeper_domain::project::Project;
use certkeeper_domain::reports::{ExpiringBucket, StatusWindow, expiring_windows};
use certkeeper_store::{
    BrowseRow, BrowseScope, COUNT_CAP, EXPIRING_DAYS, ReportScope, StatusChangeOrder,
};
use time::OffsetDateTime;

use crate::reports::StatusChangeQuery;
use crate::{Access, Core, CoreError, Principal};

/// One page of a browse.
#[derive(Debug, Clone)]
pub struct BrowsePage {
    pub rows: Vec<BrowseRow>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<BrowseCursor>,
    /// How many match, up to [`COUNT_CAP`]; `None` when the page was not counted.
    pub total: Option<MatchCount>,
}

/// A count that stops at [`COUNT_CAP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchCount {
    Exactly(i64),
    MoreThan(i64),
}

impl std::fmt::Display for MatchCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatchCount::Exactly(n) => write!(f, "{n}"),
            MatchCount::MoreThan(n) => write!(f, "more than {n}"),
        }
    }
}

/// A certificate with everything the detail page shows.
#[derive(Debug, Clone)]
pub struct CertificateDetail {
    pub record: CertificateRecord,
    pub project: Project,
    /// The chain as stored (PEM), without the certificate itself.
    pub chain_pem: String,
    pub has_private_key: bool,
    /// The order's status changes, oldest first.
    pub history: Vec<(OrderStatus, OffsetDateTime)>,
    /// Audit records about the certificate, newest first.
    pub audit: Vec<AuditEvent>,
    /// The job publishing its DNS records through the project's provider, while there is one.
    pub issue_job: Option<certkeeper_store::JobRecord>,
}

/// The overview's numbers, for every project the key reaches.
#[derive(Debug, Clone)]
pub struct Overview {
    /// The project the counts are limited to (a key limited to one project).
    pub project: Option<ProjectId>,
    pub total: i64,
    /// Valid, not renewed, not revoked.
    pub valid: i64,
    /// Of `valid`, expiring within each of [`EXPIRING_DAYS`].
    pub expiring: [i64; 4],
    /// Past notAfter, not renewed, not revoked.
    pub expired: i64,
    pub revoked: i64,
    pub failed_orders: i64,
    /// DigiCert's expiring buckets with their notAfter windows (unix ms, `[from, until)`).
    pub buckets: Vec<(ExpiringBucket, i64, i64, i64)>,
    /// The latest status changes of the last week: the certificate, if still there.
    pub recent: Vec<(Option<CertificateRecord>, OrderStatus)>,
}

/// How far back the overview's recent changes reach.
const RECENT_WINDOW_MS: i64 = 7 * 86_400_000;
const RECENT_CHANGES: i64 = 10;
const DETAIL_AUDIT: i64 = 50;
/// Issuers offered by the issuer filter; a private PKI has a handful, a large estate dozens.
const MAX_ISSUERS: i64 = 200;

impl Core {
    /// One page of the inventory the key can see, with its filters, in `sort` order.
    pub async fn browse_inventory(
        &self,
        who: &Principal,
        filter: &BrowseFilter,
        sort: BrowseSort,
        after: Option<BrowseCursor>,
        limit: i64,
        count: bool,
    ) -> Result<BrowsePage, CoreError> {
        if !(1..=MAX_BROWSE_PAGE).contains(&limit) {
            return Err(CoreError::Invalid(format!(
                "page size must be between 1 and {MAX_BROWSE_PAGE}"
            )));
        }
        let visible_to = self.own_container(who).await?;
        let container = match filter.project {
            Some(p) => Some(
                self.authorize_project(who, p, Access::Read)
                    .await?
                    .container_id,
            ),
            None => None,
        };
        let collection = match filter.collection {
            Some(id) => {
                self.require_collection_read(who, id)?;
                self.find_collection(id).await?.query
            }
            None => None,
        };
        let scope = BrowseScope {
            visible_to,
            container,
            collection: collection.as_ref(),
        };
        let now = self.now();
        let mut rows = self
            .store
            .browse_certificates(scope, filter, sort, after, limit + 1, now)
            .await?;
        let next = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.cursor)
        } else {
            None
        };
        let total = if count {
            let n = self.store.count_browse(scope, filter, now).await?;
            Some(if n > COUNT_CAP {
                MatchCount::MoreThan(COUNT_CAP)
            } else {
                MatchCount::Exactly(n)
            })
        } else {
            None
        };
        Ok(BrowsePage { rows, next, total })
    }

    /// A certificate the key can see, with its chain, history and audit trail. Never its key.
    pub async fn certificate_detail(
        &self,
        who: &Principal,
        id: CertificateId,
    ) -> Result<CertificateDetail, CoreError> {
        let (record, project) = self.reachable_certificate(who, id).await?;
        let material = self
            .store
            .certificate_material(id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("certificate {id} not found")))?;
        let history = match record.order() {
            Some(o) => self.store.order_history(o.id).await?,
            None => Vec::new(),
        };
        let audit = self
            .store
            .audit_events_for(&format!("certificate:{id}"), DETAIL_AUDIT)
            .await?;
        let issue_job = match record.order() {
            Some(o) if o.status == OrderStatus::Pending => {
                self.store
                    .job(certkeeper_domain::job::JobKind::Issue, &id.to_string())
                    .await?
            }
            _ => None,
        };
        Ok(CertificateDetail {
            issue_job,
            record,
            project,
            chain_pem: material.chain_pem,
            has_private_key: material.private_key_sealed.is_some(),
            history,
            audit,
        })
    }

    /// The certificate and the project the key acts on it through: the key's own project for
    /// a key limited to one (an organization-scoped certificate of another project included),
    /// else the certificate's.
    pub async fn reachable_certificate(
        &self,
        who: &Principal,
        id: CertificateId,
    ) -> Result<(CertificateRecord, Project), CoreError> {
        let record = self
            .store
            .certificate(id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("certificate {id} not found")))?;
        let through = who.key.project.unwrap_or(record.project_id);
        let project = self.authorize_project(who, through, Access::Read).await?;
        let record = crate::inventory::seen_by(&project, id, Some(record))?;
        Ok((record, project))
    }

    /// The overview's tiles, buckets and recent changes.
    pub async fn overview(&self, who: &Principal) -> Result<Overview, CoreError> {
        self.require_system_read(who)?;
        let own = self.own_container(who).await?;
        let now = self.now();
        let mut o = Overview {
            project: who.key.project,
            total: 0,
            valid: 0,
            expiring: [0; EXPIRING_DAYS.len()],
            expired: 0,
            revoked: 0,
            failed_orders: 0,
            buckets: Vec::new(),
            recent: Vec::new(),
        };
        for p in self.store.project_counts(now).await? {
            if own.is_some_and(|c| c != p.container_id) {
                continue;
            }
            o.total += p.total;
            o.valid += p.valid;
            o.expired += p.expired;
            for (sum, n) in o.expiring.iter_mut().zip(p.expiring) {
                *sum += n;
            }
        }
        o.revoked = self
            .store
            .orders_in_status(OrderStatus::Revoked, own)
            .await?;
        o.failed_orders = self
            .store
            .orders_in_status(OrderStatus::Rejected, own)
            .await?;
        let scope = match own {
            Some(c) => ReportScope::Container(c),
            None => ReportScope::All,
        };
        let windows = expiring_windows(now);
        let counts = self.store.expiring_counts(windows, scope).await?;
        for (bucket, from, until) in windows {
            let n = counts
                .iter()
                .find(|(b, _)| *b == bucket)
                .map_or(0, |(_, n)| *n);
            o.buckets.push((bucket, n, from, until));
        }
        let to_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let page = self
            .status_changes(
                who,
                StatusChangeQuery {
                    window: StatusWindow {
                        from_ms: to_ms - RECENT_WINDOW_MS,
                        to_ms,
                    },
                    order: StatusChangeOrder::ChangedDesc,
                    offset: 0,
                    limit: Some(RECENT_CHANGES),
                    paged: false,
                },
            )
            .await?;
        for change in page.changes {
            let record = self.store.certificate(change.certificate_id).await?;
            o.recent.push((record, change.status));
        }
        Ok(o)
    }

    /// The issuers of the certificates the key can see, for the issuer filter's choices.
    pub async fn visible_issuers(&self, who: &Principal) -> Result<Vec<String>, CoreError> {
        let own = self.own_container(who).await?;
        Ok(self.store.issuers(own, MAX_ISSUERS).await?)
    }

    /// The projects the key can see, for pickers.
    pub async fn visible_projects(&self, who: &Principal) -> Result<Vec<Project>, CoreError> {
        if !who.key.collections.is_empty() {
            return Ok(Vec::new());
        }
        let mut all = self.store.projects().await?;
        if let Some(own) = who.key.project {
            all.retain(|p| p.id == own);
        }
        Ok(all)
    }

    /// The container of the project a key is limited to; `None` for an unlimited key.
    /// Collection-limited keys read reports only and are refused here.
    async fn own_container(&self, who: &Principal) -> Result<Option<ContainerId>, CoreError> {
        match who.key.project {
            Some(p) => Ok(Some(
                self.authorize_project(who, p, Access::Read)
                    .await?
                    .container_id,
            )),
            None => {
                self.require_system_read(who)?;
                Ok(None)
            }
        }
    }
}
