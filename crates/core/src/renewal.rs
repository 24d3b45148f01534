//! Renewal: a new order for the same names through the project's issuer, linked to the
//! certificate it renews. The old record stays until it expires; once its successor is
//! issued it is marked `renewedBy` and needs no renewal of its own.
//!
//! Every issued certificate gets a renewal job when it is stored (see
//! `RenewalPolicy::renew_at`); `POST …/renew` does the same at once, for imported
//! certificates too, which is how an imported certificate comes under management.

use certkeeper_domain::audit::{Actor, AuditAction, NewAuditEvent};
use certkeeper_domain::certificate::CertificateRecord;
use certkeeper_domain::ids::{CertificateId, ProjectId};
use certkeeper_domain::lifecycle::RenewalMode;
use certkeeper_domain::names::{DnsName, parse_names};
use certkeeper_domain::notification::Event;
use certkeeper_domain::project::Project;
use serde_json::json;

use crate::scheduler::RunResult;
use crate::{Access, Core, CoreError, Principal};

/// How often a renewal whose successor is still pending is looked at again.
const RENEWAL_RECHECK: time::Duration = time::Duration::hours(12);

impl Core {
    /// POST …/certificates/{id}/renew: opens (or, with reusable validations, issues) the
    /// successor now. A renewal already pending is answered again instead of opening another.
    pub async fn renew_certificate(
        &self,
        who: &Principal,
        project: ProjectId,
        id: CertificateId,
    ) -> Result<CertificateRecord, CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        let record = self.owned(&project, id).await?;
        self.renew_record(&who.actor(), &project, &record).await
    }

    async fn renew_record(
        &self,
        actor: &Actor,
        project: &Project,
        record: &CertificateRecord,
    ) -> Result<CertificateRecord, CoreError> {
        let Some(summary) = record.summary() else {
            return Err(CoreError::Conflict {
                message: format!(
                    "certificate {} is not issued yet; validate its order instead of renewing it",
                    record.id
                ),
                existing: None,
            });
        };
        if let Some(by) = record.lineage.renewed_by {
            return Err(CoreError::Conflict {
                message: format!(
                    "certificate {} was already renewed by certificate {by}",
                    record.id
                ),
                existing: Some(by),
            });
        }
        if let Some(pending) = self.store.pending_renewal_of(record.id).await? {
            return self.visible(project, pending).await;
        }
        let names: Vec<DnsName> = parse_names(
            std::iter::once(summary.domain_name.as_str())
                .chain(summary.additional_names.iter().map(String::as_str)),
        )
        .map_err(|e| {
            CoreError::Invalid(format!(
                "certificate {} cannot be renewed through DNS-01: {e}",
                record.id
            ))
        })?;
        let successor = self
            .open_order(actor, project, &names, record.scope, Some(record.id))
            .await?;
        let event = NewAuditEvent {
            at: self.now(),
            actor: actor.clone(),
            action: AuditAction::CertificateRenew,
            project: Some(project.id),
            target: format!("certificate:{}", record.id),
            detail: json!({ "renewedBy": successor.id.0 }).to_string(),
        };
        self.store.record_audit(&event).await?;
        Ok(successor)
    }

    /// The renewal job of certificate `id`.
    pub(crate) async fn run_renew_job(&self, id: CertificateId) -> Result<RunResult, CoreError> {
        let Some(record) = self.store.certificate(id).await? else {
            return Ok(RunResult::Done);
        };
        if record.lineage.renewed_by.is_some() {
            return Ok(RunResult::Done);
        }
        let project = self.project_of(&record).await?;
        if self.lifecycle_of(&project).await?.renewal.mode == RenewalMode::Off {
            return Ok(RunResult::Done);
        }
        match self.renew_record(&Actor::System, &project, &record).await {
            Ok(successor) if successor.summary().is_some() => {
                tracing::info!(certificate = %id, successor = %successor.id, "renewed");
                self.outcomes.add("renewal", "issued");
                Ok(RunResult::Done)
            }
            Ok(successor) => {
                // The successor waits for its validation (a provider's job, or a person). This
                // job looks again later: once it is issued the job ends; if its order ends
                // without a certificate (rejected, expired), the next look opens another.
                tracing::info!(certificate = %id, successor = %successor.id, "renewal opened");
                self.outcomes.add("renewal", "opened");
                // Issued meanwhile (a quick provider), while this job still held its claim and
                // so could not be dropped: nothing is left to do.
                if let Some(now) = self.store.certificate(id).await?
                    && now.lineage.renewed_by.is_some()
                {
                    return Ok(RunResult::Done);
                }
                Ok(RunResult::RunAgainIn(RENEWAL_RECHECK))
            }
            Err(e @ (CoreError::Store(_) | CoreError::Internal(_))) => Err(e),
            Err(e) => {
                let why = e.to_string();
                self.push_event(&record, Event::RenewalFailed, Some(&why))
                    .await;
                self.outcomes.add("renewal", "failed");
                Ok(RunResult::Failed(why))
            }
        }
    }
}
