//! The issue job: DNS-01 without a person. For an order in a project with a DNS provider it
//! publishes every record, waits until they are served everywhere, validates and issues
//! (the same validation as `PUT …/validate`), and removes the records whatever the outcome.
//! A failed attempt leaves its reason on the order and is retried by the job rules until the
//! order ends (issued, rejected, canceled, or expired by the sweep).

use std::time::Duration;

use certkeeper_domain::audit::Actor;
use certkeeper_domain::ids::CertificateId;
use certkeeper_domain::notification::Event;
use certkeeper_domain::order::OrderStatus;

use crate::issuance::expected_records;
use crate::scheduler::RunResult;
use crate::{Core, CoreError};

impl Core {
    pub(crate) async fn run_issue_job(&self, id: CertificateId) -> Result<RunResult, CoreError> {
        let Some((record, Some(order))) = self.store.certificate_with_order(id).await? else {
            return Ok(RunResult::Done);
        };
        if order.status != OrderStatus::Pending {
            return Ok(RunResult::Done);
        }
        let project = self.project_of(&record).await?;
        let lifecycle = self.lifecycle_of(&project).await?;
        let Some(publisher) = self.publisher(&lifecycle.validation.dns_provider)? else {
            // The project went back to manual: a person publishes and validates.
            return Ok(RunResult::Done);
        };
        let records = expected_records(&record);
        let attempt = async {
            for r in &records {
                publisher.present(r).await.map_err(|e| e.0)?;
            }
            self.issuance()
                .map_err(|e| e.to_string())?
                .propagation
                .wait(
                    &records,
                    publisher.primary(),
                    Duration::from_secs(u64::from(
                        lifecycle.validation.propagation_timeout_seconds,
                    )),
                )
                .await?;
            self.validate_as(&Actor::System, &project, id)
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        for r in &records {
            if let Err(e) = publisher.cleanup(r).await {
                tracing::warn!(certificate = %id, record = %r.name, error = %e, "removing a DNS-01 record failed");
            }
        }
        match attempt {
            Ok(_) => Ok(RunResult::Done),
            Err(problem) => {
                let still_pending = self
                    .store
                    .note_order_problem(order.id, &problem, self.now())
                    .await?;
                if still_pending {
                    self.push_event(&record, Event::ValidationFailed, Some(&problem))
                        .await;
                    if record.lineage.renewed_from.is_some() {
                        self.push_event(&record, Event::RenewalFailed, Some(&problem))
                            .await;
                    }
                    Ok(RunResult::Failed(problem))
                } else {
                    // Rejected by the CA, canceled or expired meanwhile: nothing to retry.
                    Ok(RunResult::Done)
                }
            }
        }
    }
}
