//! Creating certificates: open an order with DNS-01 challenges, validate them against real
//! DNS, and have the built-in CA sign.
//!
//! Validation is guarded by a claim on the order row (see `Store::claim_order`): of many
//! concurrent validate calls, on one node or several, exactly one checks DNS and issues; the
//! others wait for it and answer with its outcome.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine;
use certkeeper_ca::{BuiltinCa, CaMaterial};
use certkeeper_dns::{Dns01Checker, ExpectedTxt, TxtOutcome};
use certkeeper_domain::audit::{Actor, AuditAction, NewAuditEvent};
use certkeeper_domain::certificate::{CertificateContent, CertificateRecord, DnsChallenge, Scope};
use certkeeper_domain::ids::{CertificateId, ProjectId, SslCertificateId};
use certkeeper_domain::names::{DnsName, parse_names};
use certkeeper_domain::order::OrderStatus;
use certkeeper_domain::project::Project;
use certkeeper_domain::sealing::MasterKey;
use certkeeper_domain::{pem, x509};
use certkeeper_store::{IssuedCertificate, NewOrder, OrderState, Store};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};

pub use certkeeper_domain::issuer::IssuerKind;
use certkeeper_domain::lifecycle::DnsProvider;

use crate::acme::{AcmeIssuer, AcmeOutcome};
use crate::inventory::{key_aad, owned_by, seen_by};
use crate::lifecycle::Lifecycle;
use crate::{Access, Core, CoreError, Principal};

/// How long one validate call may hold an order before others may take over.
const CLAIM: Duration = Duration::seconds(60);
/// How often a waiting validate call looks at the order again.
const WAIT_STEP: StdDuration = StdDuration::from_millis(25);

/// The issuance settings and the parts that do the work.
#[derive(Debug)]
pub struct Issuance {
    /// Where created certificates go unless told otherwise.
    pub default_issuer: IssuerKind,
    /// The ACME account, when one is configured.
    pub acme: Option<AcmeIssuer>,
    pub ca: BuiltinCa,
    pub dns: Dns01Checker,
    /// Lifetime of issued leaves.
    pub leaf_lifetime: Duration,
    /// How long a pending order waits for validation before it is rejected.
    pub challenge_ttl: Duration,
    /// DNS scripts an `exec` provider may name, from the server's configuration.
    pub dns_exec: std::collections::BTreeMap<String, std::path::PathBuf>,
    /// How provider-published records are waited for.
    pub propagation: certkeeper_dns::Propagation,
}

/// The settings row the CA lives in: certificates in clear, keys sealed.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredCa {
    root_der: String,
    intermediate_der: String,
    pub(crate) root_key_sealed: String,
    pub(crate) intermediate_key_sealed: String,
}

pub(crate) const CA_SETTING: &str = "builtin_ca";
pub(crate) const ROOT_AAD: &[u8] = b"certkeeper:builtin-ca:root-key";
pub(crate) const INTERMEDIATE_AAD: &[u8] = b"certkeeper:builtin-ca:intermediate-key";

pub(crate) fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Loads the built-in CA, creating it on first start. Of several nodes starting together one
/// creates it; the others load what it stored.
pub async fn load_or_create_ca(
    store: &Store,
    key: &MasterKey,
    now: OffsetDateTime,
) -> Result<BuiltinCa, CoreError> {
    if store.setting(CA_SETTING).await?.is_none() {
        let m = certkeeper_ca::generate("certkeeper", now).map_err(CoreError::internal)?;
        let stored = StoredCa {
            root_der: b64().encode(&m.root_der),
            intermediate_der: b64().encode(&m.intermediate_der),
            root_key_sealed: b64().encode(
                key.seal(ROOT_AAD, &m.root_key_pkcs8)
                    .map_err(CoreError::internal)?,
            ),
            intermediate_key_sealed: b64().encode(
                key.seal(INTERMEDIATE_AAD, &m.intermediate_key_pkcs8)
                    .map_err(CoreError::internal)?,
            ),
        };
        let text = serde_json::to_vec(&stored).map_err(CoreError::internal)?;
        store.put_setting_if_absent(CA_SETTING, &text).await?;
    }
    let text = store
        .setting(CA_SETTING)
        .await?
        .ok_or_else(|| CoreError::internal("built-in CA vanished"))?;
    let stored: StoredCa = serde_json::from_slice(&text)
        .map_err(|e| CoreError::internal(format!("stored CA: {e}")))?;
    let decode = |s: &str| {
        b64()
            .decode(s)
            .map_err(|e| CoreError::internal(format!("stored CA: {e}")))
    };
    let material = CaMaterial {
        root_der: decode(&stored.root_der)?,
        intermediate_der: decode(&stored.intermediate_der)?,
        root_key_pkcs8: key
            .open(ROOT_AAD, &decode(&stored.root_key_sealed)?)
            .map_err(CoreError::internal)?,
        intermediate_key_pkcs8: key
            .open(INTERMEDIATE_AAD, &decode(&stored.intermediate_key_sealed)?)
            .map_err(CoreError::internal)?,
    };
    BuiltinCa::load(&material).map_err(CoreError::internal)
}

/// A create request as submitted.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub domain_name: String,
    pub additional_domain_names: Vec<String>,
    pub scope: Scope,
}

/// A fresh, unguessable TXT value: 256 random bits, base64url (the shape ACME values have).
fn challenge_value() -> Result<String, CoreError> {
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| CoreError::internal("system random generator failed"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

/// The problem recorded on orders whose challenge expired.
const EXPIRED: &str = "the DNS-01 challenge expired before validation";

impl Core {
    /// Rejects every pending order whose challenge expired, so that the order history (and the
    /// reports reading it) shows the rejection even if nobody calls validate again. Returns how
    /// many were rejected (and forgets expired ACME nonces). `serve` runs this every minute; it is safe on several nodes at once
    /// (a status change applies only to a still pending order).
    pub async fn expire_orders(&self) -> Result<usize, CoreError> {
        // The ACME server's used nonces past their lifetime go with the same sweep.
        self.sweep_acme_nonces().await?;
        let mut done = 0;
        loop {
            let now = self.now();
            let batch = self.store.expired_pending_orders(now, 500).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            for (order, certificate, _container) in &batch {
                let audit = NewAuditEvent {
                    at: now,
                    actor: certkeeper_domain::audit::Actor::System,
                    action: AuditAction::CertificateReject,
                    project: None,
                    target: format!("certificate:{certificate}"),
                    detail: json!({ "orderId": order.0, "problem": EXPIRED }).to_string(),
                };
                if self
                    .store
                    .end_order(*order, OrderStatus::Rejected, Some(EXPIRED), now, audit)
                    .await?
                {
                    done += 1;
                }
            }
            if batch.len() < 500 {
                return Ok(done);
            }
        }
    }

    /// Whether an ACME CA is configured on this server.
    pub fn acme_configured(&self) -> bool {
        self.issuance.as_ref().is_some_and(|i| i.acme.is_some())
    }

    /// The issuer a project's created certificates go to.
    pub fn effective_issuer(&self, project: &Project) -> IssuerKind {
        project
            .issuer
            .or(self.issuance.as_ref().map(|i| i.default_issuer))
            .unwrap_or(IssuerKind::Builtin)
    }

    pub(crate) fn issuance(&self) -> Result<&Arc<Issuance>, CoreError> {
        self.issuance
            .as_ref()
            .ok_or_else(|| CoreError::internal("issuance is not configured on this server"))
    }

    /// Opens an order: checks the names and answers with the DNS-01 records to publish. With
    /// a DNS provider the records are published by a job and the answer is `Pending`; when
    /// every name's validation can be reused, the certificate is issued in this request.
    pub async fn create_certificate(
        &self,
        who: &Principal,
        project: ProjectId,
        req: CreateRequest,
    ) -> Result<CertificateRecord, CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        let requested = std::iter::once(req.domain_name.as_str())
            .chain(req.additional_domain_names.iter().map(String::as_str));
        let names: Vec<DnsName> =
            parse_names(requested).map_err(|e| CoreError::Invalid(e.to_string()))?;
        self.open_order(&who.actor(), &project, &names, req.scope, None)
            .await
    }

    /// Opens an order for `names` in `project` (a create, or a renewal of `renewed_from`).
    pub(crate) async fn open_order(
        &self,
        actor: &Actor,
        project: &Project,
        names: &[DnsName],
        scope: Scope,
        renewed_from: Option<CertificateId>,
    ) -> Result<CertificateRecord, CoreError> {
        let issuance = self.issuance()?;
        let lifecycle = self.lifecycle_of(project).await?;
        let issuer = project.issuer.unwrap_or(issuance.default_issuer);
        let name_texts: Vec<String> = names.iter().map(ToString::to_string).collect();
        // Validation reuse applies to the built-in CA; an ACME CA keeps (and reuses) its own
        // authorizations.
        if issuer == IssuerKind::Builtin
            && let Some(since) = lifecycle.validation.reuse_since(self.now())
            && self
                .names_validated_since(project, &name_texts, since)
                .await?
        {
            return self
                .issue_reused(actor, project, names, scope, renewed_from, &lifecycle)
                .await;
        }
        let (issuer, external_ref, challenges) = match issuer {
            IssuerKind::Builtin => {
                let challenges = names
                    .iter()
                    .map(|n| {
                        Ok(DnsChallenge {
                            name: n.to_string(),
                            record: n.challenge_record(),
                            value: challenge_value()?,
                        })
                    })
                    .collect::<Result<Vec<_>, CoreError>>()?;
                (IssuerKind::Builtin, None, challenges)
            }
            IssuerKind::Acme => {
                let acme = issuance
                    .acme
                    .as_ref()
                    .ok_or_else(|| CoreError::internal("the ACME issuer is not configured"))?;
                let replaces = match renewed_from {
                    Some(old) => self
                        .store
                        .certificate_material(old)
                        .await?
                        .and_then(|m| m.der),
                    None => None,
                };
                let (url, challenges) = acme.open_order(names, replaces.as_deref()).await?;
                (IssuerKind::Acme, Some(url), challenges)
            }
        };
        let automated = lifecycle.validation.dns_provider != DnsProvider::Manual;
        let now = self.now();
        let new = NewOrder {
            ssl_certificate_id: SslCertificateId::new_random(),
            project_id: project.id,
            container_id: project.container_id,
            scope,
            names: name_texts,
            challenges,
            issuer: issuer.as_str().into(),
            external_ref,
            expires_at: now + issuance.challenge_ttl,
            at: now,
            renewed_from,
            issue_job_at: automated.then_some(now),
        };
        let audit = NewAuditEvent {
            at: now,
            actor: actor.clone(),
            action: AuditAction::CertificateCreate,
            project: Some(project.id),
            target: String::new(),
            detail: json!({ "names": new.names, "issuer": new.issuer, "scope": scope.name(), "renewedFrom": renewed_from.map(|c| c.0), "dnsProvider": lifecycle.validation.dns_provider.name() })
                .to_string(),
        };
        let record = self.store.create_order(new, audit).await?;
        if automated {
            self.wake_scheduler();
        }
        Ok(record)
    }

    /// Whether every name was validated in `project` at or after `since`: from this node's
    /// cache when it knows, else from the database (and then remembered).
    async fn names_validated_since(
        &self,
        project: &Project,
        names: &[String],
        since: OffsetDateTime,
    ) -> Result<bool, CoreError> {
        if self
            .validated_cache
            .all_since(project.container_id, names, since)
        {
            return Ok(true);
        }
        match self
            .store
            .validated_since(project.container_id, names, since)
            .await?
        {
            Some(oldest) => {
                self.validated_cache
                    .record(project.container_id, names, oldest);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Issues at once from the built-in CA for names whose validations are reused: one
    /// transaction stores the order (already issued) and the certificate.
    async fn issue_reused(
        &self,
        actor: &Actor,
        project: &Project,
        names: &[DnsName],
        scope: Scope,
        renewed_from: Option<CertificateId>,
        lifecycle: &Lifecycle,
    ) -> Result<CertificateRecord, CoreError> {
        let issuance = self.issuance()?;
        let now = self.now();
        let issued = issuance
            .ca
            .issue(names, now, issuance.leaf_lifetime)
            .map_err(|e| CoreError::Invalid(format!("the built-in CA refused: {e}")))?;
        let ssl_certificate_id = SslCertificateId::new_random();
        let stored = self.sealed_issue(
            ssl_certificate_id,
            issued.der,
            &issued.chain,
            &issued.key_pkcs8,
            lifecycle,
            false,
        )?;
        let new = NewOrder {
            ssl_certificate_id,
            project_id: project.id,
            container_id: project.container_id,
            scope,
            names: names.iter().map(ToString::to_string).collect(),
            challenges: Vec::new(),
            issuer: IssuerKind::Builtin.as_str().into(),
            external_ref: None,
            expires_at: now,
            at: now,
            renewed_from,
            issue_job_at: None,
        };
        let create_audit = NewAuditEvent {
            at: now,
            actor: actor.clone(),
            action: AuditAction::CertificateCreate,
            project: Some(project.id),
            target: String::new(),
            detail: json!({ "names": new.names, "issuer": new.issuer, "scope": scope.name(), "renewedFrom": renewed_from.map(|c| c.0), "reusedValidation": true })
                .to_string(),
        };
        let issue_audit = NewAuditEvent {
            at: now,
            actor: actor.clone(),
            action: AuditAction::CertificateIssue,
            project: Some(project.id),
            target: String::new(),
            detail: json!({ "serialNumber": stored.summary.serial_number, "issuer": "builtin", "reusedValidation": true }).to_string(),
        };
        Ok(self
            .store
            .create_issued(new, stored, create_audit, issue_audit)
            .await?)
    }

    /// An issued certificate ready to store: its facts, its key sealed, and when it renews.
    fn sealed_issue(
        &self,
        ssl_certificate_id: SslCertificateId,
        der: Vec<u8>,
        chain: &[Vec<u8>],
        key_pkcs8: &[u8],
        lifecycle: &Lifecycle,
        record_validation: bool,
    ) -> Result<IssuedCertificate, CoreError> {
        let summary = x509::summarize_der(&der)
            .map_err(|e| CoreError::internal(format!("issued certificate: {e}")))?;
        let sealed = self
            .master_key
            .seal(key_aad(ssl_certificate_id).as_bytes(), key_pkcs8)
            .map_err(CoreError::internal)?;
        let renew_at = lifecycle
            .renewal
            .renew_at(summary.not_before, summary.not_after);
        Ok(IssuedCertificate {
            summary,
            der,
            chain_pem: pem::certificates(chain.iter().map(Vec::as_slice)),
            private_key_sealed: Some(sealed),
            renew_at,
            record_validation,
        })
    }

    /// Checks the order's DNS records and, when all are there, issues the certificate.
    /// Idempotent: an issued order answers with its certificate.
    pub async fn validate_certificate(
        &self,
        who: &Principal,
        project: ProjectId,
        id: CertificateId,
    ) -> Result<CertificateRecord, CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        self.validate_as(&who.actor(), &project, id).await
    }

    /// Validation on behalf of `actor` (a key's holder, or the scheduler), once the project is
    /// authorized; its outcome counted for `/metrics`.
    pub(crate) async fn validate_as(
        &self,
        actor: &Actor,
        project: &Project,
        id: CertificateId,
    ) -> Result<CertificateRecord, CoreError> {
        let result = self.validate_unmetered(actor, project, id).await;
        match &result {
            Ok(r) if r.summary().is_some() => self.outcomes.add("validation", "issued"),
            Ok(_) => {}
            Err(CoreError::Invalid(_) | CoreError::Conflict { .. }) => {
                self.outcomes.add("validation", "refused")
            }
            Err(_) => self.outcomes.add("validation", "error"),
        }
        result
    }

    async fn validate_unmetered(
        &self,
        actor: &Actor,
        project: &Project,
        id: CertificateId,
    ) -> Result<CertificateRecord, CoreError> {
        let project = project.clone();
        // The record and its order's bookkeeping in one query.
        let (record, order) = self.store.certificate_with_order(id).await?.unzip();
        let record = owned_by(&project, seen_by(&project, id, record)?)?;
        let order = order.flatten().ok_or_else(|| {
            CoreError::Invalid(format!(
                "certificate {id} was imported; only created certificates are validated"
            ))
        })?;
        let mut current = Some(record);
        loop {
            // The first round uses the record just read; later rounds (waiting for another
            // caller's outcome) read it again.
            let record = match current.take() {
                Some(r) => r,
                None => self.visible(&project, id).await?,
            };
            let status = record.order().map_or(order.status, |o| o.status);
            match status {
                OrderStatus::Issued | OrderStatus::Revoked => return Ok(record),
                OrderStatus::Canceled => {
                    return Err(CoreError::Conflict {
                        message: format!("order {} of certificate {id} was canceled", order.id),
                        existing: None,
                    });
                }
                OrderStatus::Rejected => {
                    let why = record
                        .order()
                        .and_then(|o| o.problem.clone())
                        .unwrap_or_default();
                    return Err(CoreError::Conflict {
                        message: format!(
                            "order {} of certificate {id} was rejected: {why}",
                            order.id
                        ),
                        existing: None,
                    });
                }
                OrderStatus::Pending => {}
            }
            let now = self.now();
            if now > order.expires_at {
                self.end_order(
                    actor,
                    &project,
                    &record,
                    OrderStatus::Rejected,
                    Some(EXPIRED),
                )
                .await?;
                continue;
            }
            // The TXT lookups only read DNS, so they run while the claim is taken instead of
            // after it; their answers are used only if the claim is won.
            let issuance = self.issuance()?;
            let expected = expected_records(&record);
            let (claimed, outcomes) = tokio::join!(
                self.store.claim_order(order.id, now, now + CLAIM),
                issuance.dns.check(&expected)
            );
            if claimed? {
                let result = self
                    .validate_claimed(actor, &project, record, &order, outcomes)
                    .await;
                if result.is_err() {
                    // Records missing, a CA that failed, a database error: give the order back
                    // so the next validate does not wait for the claim to lapse. (Harmless when
                    // the order has already moved on: claims only matter while pending.)
                    self.store.release_order(order.id).await?;
                }
                return result;
            }
            // Another call is validating this order: wait for its outcome.
            tokio::time::sleep(WAIT_STEP).await;
        }
    }

    /// Validates a claimed order with the TXT lookups' `outcomes` (one per challenge, in
    /// order) and, when every record is there, issues.
    async fn validate_claimed(
        &self,
        actor: &Actor,
        project: &Project,
        record: CertificateRecord,
        state: &OrderState,
        outcomes: Vec<TxtOutcome>,
    ) -> Result<CertificateRecord, CoreError> {
        let issuance = self.issuance()?;
        let CertificateContent::Ordered(order) = &record.content else {
            return Ok(record);
        };
        let failures: Vec<String> = order
            .challenges
            .iter()
            .zip(&outcomes)
            .filter_map(|(c, o)| match o {
                TxtOutcome::Found => None,
                TxtOutcome::Missing => Some(format!(
                    "{} (for {}): no TXT record found",
                    c.record, c.name
                )),
                TxtOutcome::WrongValue { found } => Some(format!(
                    "{} (for {}): TXT holds {found:?}, expected {:?}",
                    c.record, c.name, c.value
                )),
                TxtOutcome::LookupFailed(e) => Some(format!(
                    "{} (for {}): DNS lookup failed: {e}",
                    c.record, c.name
                )),
            })
            .collect();
        if !failures.is_empty() {
            return Err(CoreError::Invalid(format!(
                "DNS-01 validation failed; publish these TXT records and validate again: {}",
                failures.join("; ")
            )));
        }
        let names: Vec<DnsName> = std::iter::once(&record.domain_name)
            .chain(&record.additional_names)
            .map(|n| {
                DnsName::parse(n).map_err(|e| CoreError::internal(format!("stored name: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let now = self.now();
        let issuer: IssuerKind = state.issuer.parse().map_err(CoreError::Internal)?;
        let (der, chain, key_pkcs8) = match issuer {
            IssuerKind::Builtin => match issuance.ca.issue(&names, now, issuance.leaf_lifetime) {
                Ok(i) => (i.der, i.chain, i.key_pkcs8),
                Err(e) => {
                    return self
                        .reject(
                            actor,
                            project,
                            &record,
                            format!("the built-in CA refused: {e}"),
                        )
                        .await;
                }
            },
            IssuerKind::Acme => {
                let acme = issuance
                    .acme
                    .as_ref()
                    .ok_or_else(|| CoreError::internal("the ACME issuer is not configured"))?;
                let url = state
                    .external_ref
                    .as_deref()
                    .ok_or_else(|| CoreError::internal("ACME order without URL"))?;
                match acme.finish_order(url, &names).await? {
                    AcmeOutcome::Issued {
                        chain_pem,
                        key_pkcs8,
                    } => {
                        let mut ders = x509::pem_certificates(&chain_pem).map_err(|e| {
                            CoreError::internal(format!("the ACME CA's chain: {e}"))
                        })?;
                        let leaf = ders.remove(0);
                        (leaf, ders, key_pkcs8)
                    }
                    AcmeOutcome::Refused(problem) => {
                        return self
                            .reject(
                                actor,
                                project,
                                &record,
                                format!("the ACME CA refused: {problem}"),
                            )
                            .await;
                    }
                }
            }
        };
        let lifecycle = self.lifecycle_of(project).await?;
        let mut stored = self.sealed_issue(
            record.ssl_certificate_id,
            der,
            &chain,
            &key_pkcs8,
            &lifecycle,
            true,
        )?;
        if issuer == IssuerKind::Acme {
            // An ACME CA's certificate is first looked at within the half day: it renews in
            // the CA's window (ARI) where the CA offers one, which may come sooner.
            stored.renew_at = stored
                .renew_at
                .map(|due| due.min(now + crate::renewal::ARI_CHECK_EVERY));
        }
        let audit = NewAuditEvent {
            at: now,
            actor: actor.clone(),
            action: AuditAction::CertificateIssue,
            project: Some(project.id),
            target: String::new(),
            detail: json!({ "orderId": order.id.0, "serialNumber": stored.summary.serial_number, "issuer": issuer.as_str() }).to_string(),
        };
        match self
            .store
            .complete_order(&record, stored, now, audit)
            .await?
        {
            Some(r) => {
                let names: Vec<String> = std::iter::once(r.domain_name.clone())
                    .chain(r.additional_names.iter().cloned())
                    .collect();
                self.validated_cache.record(r.container_id, &names, now);
                Ok(r)
            }
            // Canceled meanwhile: report what it is now.
            None => Box::pin(self.validate_as(actor, project, record.id)).await,
        }
    }

    /// Ends a claimed order as rejected, keeping the reason, and answers 409 with it.
    async fn reject(
        &self,
        actor: &Actor,
        project: &Project,
        record: &CertificateRecord,
        problem: String,
    ) -> Result<CertificateRecord, CoreError> {
        self.end_order(
            actor,
            project,
            record,
            OrderStatus::Rejected,
            Some(&problem),
        )
        .await?;
        Err(CoreError::Conflict {
            message: format!("order rejected: {problem}"),
            existing: None,
        })
    }

    async fn end_order(
        &self,
        actor: &Actor,
        project: &Project,
        record: &CertificateRecord,
        to: OrderStatus,
        problem: Option<&str>,
    ) -> Result<bool, CoreError> {
        let Some(order) = record.order() else {
            return Ok(false);
        };
        let now = self.now();
        let audit = NewAuditEvent {
            at: now,
            actor: actor.clone(),
            action: if to == OrderStatus::Canceled {
                AuditAction::CertificateCancel
            } else {
                AuditAction::CertificateReject
            },
            project: Some(project.id),
            target: format!("certificate:{}", record.id),
            detail: json!({ "orderId": order.id.0, "problem": problem }).to_string(),
        };
        Ok(self
            .store
            .end_order(order.id, to, problem, now, audit)
            .await?)
    }

    /// DELETE of a created certificate whose order is pending: the order is canceled and the
    /// record stays (status `Canceled`). `None` when the certificate has no pending order.
    pub(crate) async fn cancel_if_pending(
        &self,
        who: &Principal,
        project: &Project,
        record: &CertificateRecord,
    ) -> Result<Option<CertificateRecord>, CoreError> {
        match record.order() {
            Some(o) if o.status == OrderStatus::Pending => {
                self.end_order(&who.actor(), project, record, OrderStatus::Canceled, None)
                    .await?;
                Ok(Some(self.visible(project, record.id).await?))
            }
            _ => Ok(None),
        }
    }
}

impl Core {
    /// The certificate and its chain as PEM, for imported and issued certificates alike.
    pub async fn download_certificate(
        &self,
        who: &Principal,
        project: ProjectId,
        id: CertificateId,
    ) -> Result<String, CoreError> {
        let project = self.authorize_project(who, project, Access::Read).await?;
        self.visible(&project, id).await?;
        let stored = self
            .store
            .certificate_material(id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("certificate {id} not found")))?;
        let der = stored.der.ok_or_else(|| CoreError::Conflict {
            message: format!(
                "certificate {id} is not issued yet (status {}); validate it first",
                stored.record.status_at(self.now()).as_str()
            ),
            existing: None,
        })?;
        Ok(format!(
            "{}{}",
            pem::encode("CERTIFICATE", &der),
            stored.chain_pem
        ))
    }

    /// The built-in CA's root, PEM: what relying parties must trust.
    pub fn builtin_root_pem(&self) -> Result<String, CoreError> {
        Ok(pem::encode("CERTIFICATE", self.issuance()?.ca.root_der()))
    }
}

/// The TXT records an order's challenges expect (none for a record that is not an order).
pub(crate) fn expected_records(record: &CertificateRecord) -> Vec<ExpectedTxt> {
    match &record.content {
        CertificateContent::Ordered(order) => order
            .challenges
            .iter()
            .map(|c| ExpectedTxt {
                name: c.record.clone(),
                value: c.value.clone(),
            })
            .collect(),
        _ => Vec::new(),
    }
}
