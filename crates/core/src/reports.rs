//! Collections (saved certificate queries) and the reports: Keyfactor's issuance analytics,
//! DigiCert's expiring-orders report and status-change list.
//!
//! Who may read what, as in Keyfactor: a key's role applies system-wide unless the key holds
//! collection-level grants, in which case it reads those collections' reports and nothing
//! else. A key limited to a project sees that project's certificates and orders only. Editing
//! collection definitions needs system-wide Modify: an operator or admin key limited to
//! neither a project nor collections.

use certkeeper_domain::audit::{Actor, AuditAction, NewAuditEvent};
use certkeeper_domain::collection::{ALL_CERTIFICATES, Collection, CollectionDefinition};
use certkeeper_domain::ids::{CollectionId, ContainerId};
use certkeeper_domain::query::Query;
use certkeeper_domain::reports::{
    ExpiringBucket, IssuancePeriods, MAX_PERIODS, StatusWindow, expiring_windows,
};
use certkeeper_store::{CollectionFields, ReportScope, StoredCollection};
pub use certkeeper_store::{StatusChange, StatusChangeOrder};
use serde_json::json;
use time::OffsetDateTime;

use crate::{Core, CoreError, Principal};

/// One issuance period's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodCount {
    pub period: u32,
    pub count: i64,
}

/// The issuance analytics answer: the evaluation instant and one count per period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceReport {
    pub eval_date: OffsetDateTime,
    pub periods: Vec<PeriodCount>,
}

/// A page of the status-change list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChangePage {
    pub changes: Vec<StatusChange>,
    /// How many changes the window holds in all, when paging was asked for.
    pub total: Option<i64>,
}

/// Paging and ordering of the status-change list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChangeQuery {
    pub window: StatusWindow,
    pub order: StatusChangeOrder,
    pub offset: i64,
    pub limit: Option<i64>,
    /// Whether the caller asked for paging (and so gets the total).
    pub paged: bool,
}

fn collection_from_stored(s: StoredCollection) -> Result<Collection, CoreError> {
    let query = Query::parse(&s.query).map_err(|e| {
        CoreError::Internal(format!(
            "stored query of collection {} no longer parses: {e}",
            s.id
        ))
    })?;
    Ok(Collection {
        id: s.id,
        name: s.name,
        description: s.description,
        query: Some(query),
        query_text: s.query,
        created_at: Some(s.created_at),
        last_modified: Some(s.last_modified),
        duplication_field: i32::try_from(s.duplication_field).unwrap_or(0),
    })
}

impl Core {
    /// Refuses keys limited to collections: they read their collections' reports only.
    pub(crate) fn require_system_read(&self, who: &Principal) -> Result<(), CoreError> {
        if who.key.collections.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Forbidden(
                "this API key is limited to certificate collections and may read their reports only"
                    .into(),
            ))
        }
    }

    pub(crate) fn require_collection_read(
        &self,
        who: &Principal,
        id: CollectionId,
    ) -> Result<(), CoreError> {
        if who.key.collections.is_empty() || who.key.collections.contains(&id) {
            Ok(())
        } else {
            Err(CoreError::Forbidden(format!(
                "this API key has no Read permission on collection {id}"
            )))
        }
    }

    /// System-wide Modify: operator or admin, limited to neither a project nor collections.
    fn require_system_modify(&self, who: &Principal) -> Result<(), CoreError> {
        if !who.key.role.can_write() {
            return Err(CoreError::Forbidden(format!(
                "this API key's role ({}) is read-only; editing collections needs operator or admin",
                who.key.role
            )));
        }
        if who.key.project.is_some() || !who.key.collections.is_empty() {
            return Err(CoreError::Forbidden(
                "editing collections needs a key with system-wide permissions (not limited to a project or to collections)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Which certificates and orders the key's reports count.
    pub(crate) async fn report_scope(&self, who: &Principal) -> Result<ReportScope, CoreError> {
        match who.key.project {
            None => Ok(ReportScope::All),
            Some(id) => {
                let project = self.store.project(id).await?.ok_or_else(|| {
                    CoreError::Forbidden("this API key's project no longer exists".into())
                })?;
                Ok(ReportScope::Container(project.container_id))
            }
        }
    }

    /// The collections the key may read, the built-in one first.
    pub async fn collections(&self, who: &Principal) -> Result<Vec<Collection>, CoreError> {
        let mut all = vec![Collection::all_certificates()];
        for s in self.store.collections().await? {
            all.push(collection_from_stored(s)?);
        }
        all.retain(|c| self.require_collection_read(who, c.id).is_ok());
        Ok(all)
    }

    pub async fn collection(
        &self,
        who: &Principal,
        id: CollectionId,
    ) -> Result<Collection, CoreError> {
        self.require_collection_read(who, id)?;
        self.find_collection(id).await
    }

    /// Any collection, by id (no permission check: for the CLI and the services here).
    pub async fn find_collection(&self, id: CollectionId) -> Result<Collection, CoreError> {
        if id == ALL_CERTIFICATES {
            return Ok(Collection::all_certificates());
        }
        self.store
            .collection(id)
            .await?
            .map(collection_from_stored)
            .transpose()?
            .ok_or_else(|| CoreError::NotFound(format!("collection {id} not found")))
    }

    /// Saves a new collection (definition checked first: 400 with the query error's position).
    pub async fn create_collection(
        &self,
        who: Option<&Principal>,
        definition: CollectionDefinition,
    ) -> Result<Collection, CoreError> {
        if let Some(p) = who {
            self.require_system_modify(p)?;
        }
        let now = self.now();
        let actor = who.map_or(Actor::Cli, Principal::actor);
        let stored = self
            .store
            .create_collection(
                CollectionFields {
                    name: &definition.name,
                    description: &definition.description,
                    query: &definition.query_text,
                    duplication_field: i64::from(definition.duplication_field),
                    at: now,
                },
                |id| collection_audit(now, actor, AuditAction::CollectionCreate, id, &definition),
            )
            .await
            .map_err(CoreError::conflict_or_store)?;
        collection_from_stored(stored)
    }

    /// Replaces a collection's definition. Collection 0 is built in and cannot change.
    pub async fn update_collection(
        &self,
        who: Option<&Principal>,
        id: CollectionId,
        definition: CollectionDefinition,
    ) -> Result<Collection, CoreError> {
        if let Some(p) = who {
            self.require_system_modify(p)?;
        }
        if id == ALL_CERTIFICATES {
            // Well-formed, but at odds with what collection 0 is: a conflict (409), as
            // for a collection that keys hold grants on.
            return Err(CoreError::Conflict {
                message: "collection 0 (All Certificates) is built in and cannot be changed".into(),
                existing: None,
            });
        }
        let now = self.now();
        let actor = who.map_or(Actor::Cli, Principal::actor);
        let event = collection_audit(now, actor, AuditAction::CollectionUpdate, id, &definition);
        self.store
            .update_collection(
                id,
                CollectionFields {
                    name: &definition.name,
                    description: &definition.description,
                    query: &definition.query_text,
                    duplication_field: i64::from(definition.duplication_field),
                    at: now,
                },
                event,
            )
            .await
            .map_err(CoreError::conflict_or_store)?
            .map(collection_from_stored)
            .transpose()?
            .ok_or_else(|| CoreError::NotFound(format!("collection {id} not found")))
    }

    pub async fn delete_collection(
        &self,
        who: Option<&Principal>,
        id: CollectionId,
    ) -> Result<(), CoreError> {
        if let Some(p) = who {
            self.require_system_modify(p)?;
        }
        if id == ALL_CERTIFICATES {
            // Well-formed, but at odds with what collection 0 is: a conflict (409), as
            // for a collection that keys hold grants on.
            return Err(CoreError::Conflict {
                message: "collection 0 (All Certificates) is built in and cannot be deleted".into(),
                existing: None,
            });
        }
        let actor = who.map_or(Actor::Cli, Principal::actor);
        let event = NewAuditEvent {
            at: self.now(),
            actor,
            action: AuditAction::CollectionDelete,
            project: None,
            target: format!("collection:{id}"),
            detail: "{}".into(),
        };
        if self
            .store
            .delete_collection(id, event)
            .await
            .map_err(CoreError::conflict_or_store)?
        {
            Ok(())
        } else {
            Err(CoreError::NotFound(format!("collection {id} not found")))
        }
    }

    /// Keyfactor's issuance analytics for a collection over `periods` weeks back from now
    /// (whole seconds, as EvalDate shows it).
    pub async fn issuance_report(
        &self,
        who: &Principal,
        collection: CollectionId,
        periods: u32,
    ) -> Result<IssuanceReport, CoreError> {
        if periods == 0 || periods > MAX_PERIODS {
            return Err(CoreError::Invalid(format!(
                "TotalPeriods must be greater than 0 and less than or equal to {MAX_PERIODS}"
            )));
        }
        self.require_collection_read(who, collection)?;
        let collection = self.find_collection(collection).await?;
        let scope = self.report_scope(who).await?;
        let now = self.now();
        let eval_date = now.replace_nanosecond(0).unwrap_or(now);
        let window = IssuancePeriods::new(eval_date, periods);
        let counts = self
            .store
            .issuance_counts(
                window,
                scope,
                collection.query.as_ref(),
                collection.ignores_renewed(),
            )
            .await?;
        Ok(IssuanceReport {
            eval_date,
            periods: counts
                .into_iter()
                .zip(1..)
                .map(|(count, period)| PeriodCount { period, count })
                .collect(),
        })
    }

    /// DigiCert's expiring-orders report, for every project the key reaches or one container.
    pub async fn expiring_report(
        &self,
        who: &Principal,
        container: Option<ContainerId>,
    ) -> Result<Vec<(ExpiringBucket, i64)>, CoreError> {
        self.require_system_read(who)?;
        let scope = self.container_scope(who, container).await?;
        Ok(self
            .store
            .expiring_counts(expiring_windows(self.now()), scope)
            .await?)
    }

    /// DigiCert's status-change list.
    pub async fn status_changes(
        &self,
        who: &Principal,
        query: StatusChangeQuery,
    ) -> Result<StatusChangePage, CoreError> {
        self.require_system_read(who)?;
        let scope = self.report_scope(who).await?;
        let (changes, total) = self
            .store
            .status_changes(
                query.window,
                scope,
                query.order,
                query.offset,
                query.limit,
                query.paged,
            )
            .await?;
        Ok(StatusChangePage { changes, total })
    }

    /// The scope for a report limited (or not) to a container: unknown → not found; another
    /// project than the key's → forbidden.
    async fn container_scope(
        &self,
        who: &Principal,
        container: Option<ContainerId>,
    ) -> Result<ReportScope, CoreError> {
        let own = self.report_scope(who).await?;
        let Some(container) = container else {
            return Ok(own);
        };
        if let ReportScope::Container(mine) = own
            && mine != container
        {
            return Err(CoreError::Forbidden(
                "this API key is limited to another container".into(),
            ));
        }
        if self.store.project_by_container(container).await?.is_none() {
            return Err(CoreError::NotFound(format!(
                "container {container} not found"
            )));
        }
        Ok(ReportScope::Container(container))
    }
}

fn collection_audit(
    at: OffsetDateTime,
    actor: Actor,
    action: AuditAction,
    id: CollectionId,
    d: &CollectionDefinition,
) -> NewAuditEvent {
    NewAuditEvent {
        at,
        actor,
        action,
        project: None,
        target: format!("collection:{id}"),
        detail: json!({ "name": d.name, "description": d.description, "query": d.query_text })
            .to_string(),
    }
}
