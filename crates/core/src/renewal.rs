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
/// The longest a certificate from an ACME CA goes without its renewal window being asked
/// for: twice a day, so a CA that moves windows earlier (a mass revocation) is heard soon.
pub(crate) const ARI_CHECK_EVERY: time::Duration = time::Duration::hours(12);
/// The shortest wait between two asks, whatever `Retry-After` says.
const ARI_CHECK_AT_LEAST: time::Duration = time::Duration::minutes(1);

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
        let lifecycle = self.lifecycle_of(&project).await?;
        if lifecycle.renewal.mode == RenewalMode::Off {
            return Ok(RunResult::Done);
        }
        if let Some(wait) = self.not_due_yet(&record, &lifecycle.renewal).await? {
            return Ok(RunResult::RunAgainIn(wait));
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

    /// How long until `record` is due for renewal, when its job ran early: a certificate
    /// from an ACME CA that offers ARI (RFC 9773) renews at a point of the CA's suggested
    /// window, asked for at least twice a day and no more often than its `Retry-After`;
    /// without ARI, at the project's fraction of its lifetime. `None`: renew now.
    async fn not_due_yet(
        &self,
        record: &CertificateRecord,
        policy: &certkeeper_domain::lifecycle::RenewalPolicy,
    ) -> Result<Option<time::Duration>, CoreError> {
        let Some(summary) = record.summary() else {
            return Ok(None);
        };
        let now = self.now();
        let by_fraction = policy
            .renew_at(summary.not_before, summary.not_after)
            .map(|due| due - now)
            .filter(|wait| wait.is_positive());
        // Without an ACME issuer configured, no certificate can be one's: no lookups.
        let Some(acme) = self.issuance.as_ref().and_then(|i| i.acme.as_ref()) else {
            return Ok(by_fraction);
        };
        match self.store.certificate_with_order(record.id).await? {
            Some((_, Some(state)))
                if state.issuer == crate::issuance::IssuerKind::Acme.as_str() => {}
            _ => return Ok(by_fraction),
        }
        let Some(der) = self
            .store
            .certificate_material(record.id)
            .await?
            .and_then(|m| m.der)
        else {
            return Ok(by_fraction);
        };
        let window = match acme.renewal_window(&der).await {
            Ok(Some(window)) => window,
            Ok(None) => return Ok(by_fraction),
            Err(e) => {
                // The CA did not answer: ask again within the half day, and renew by the
                // fraction rule meanwhile.
                tracing::warn!(certificate = %record.id, error = %e, "renewal information unavailable");
                return Ok(by_fraction.map(|w| w.min(ARI_CHECK_EVERY)));
            }
        };
        let at = point_in_window(window.start, window.end, record.ssl_certificate_id.0);
        if at <= now {
            return Ok(None);
        }
        let ask_again = time::Duration::try_from(window.ask_again_in)
            .unwrap_or(ARI_CHECK_EVERY)
            .clamp(ARI_CHECK_AT_LEAST, ARI_CHECK_EVERY);
        Ok(Some((at - now).min(ask_again)))
    }
}

/// The point of a renewal window a certificate renews at: uniformly spread over the window
/// across certificates (RFC 9773 §4.2), but the same point for one certificate on every ask,
/// so asking again does not push its renewal later each time.
fn point_in_window(
    start: time::OffsetDateTime,
    end: time::OffsetDateTime,
    id: uuid::Uuid,
) -> time::OffsetDateTime {
    if end <= start {
        return start;
    }
    let (high, _) = id.as_u64_pair();
    // The fraction is in [0, 1); a float's 53 bits are plenty for a window's seconds.
    #[allow(clippy::cast_precision_loss)]
    let fraction = (high >> 11) as f64 / (1u64 << 53) as f64;
    start + (end - start) * fraction
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_certificate_keeps_its_point_and_points_spread_over_the_window() {
        let (start, end) = (
            datetime!(2027-01-01 0:00 UTC),
            datetime!(2027-01-03 0:00 UTC),
        );
        let id = uuid::Uuid::from_u128(0x1234_5678_9abc_def0_0fed_cba9_8765_4321);
        let at = point_in_window(start, end, id);
        assert_eq!(at, point_in_window(start, end, id));
        assert!(start <= at && at < end);
        let mut first_half = 0;
        for i in 0..1000u128 {
            let id =
                uuid::Uuid::from_u128(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
            let at = point_in_window(start, end, id);
            assert!(start <= at && at < end);
            if at < start + (end - start) / 2 {
                first_half += 1;
            }
        }
        assert!((400..600).contains(&first_half), "{first_half}");
        assert_eq!(point_in_window(end, start, id), end);
    }
}
