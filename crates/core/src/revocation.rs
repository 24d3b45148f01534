//! Revocation for certificates of the built-in CA, and what relying parties check it with:
//! the CRL and the OCSP responder.
//!
//! A revocation is stored at once (see `certkeeper_store::revocation`); it never signs
//! anything in the request. The CRL is signed by the `publish-crl` job, which the revocation
//! makes due within two seconds (a burst of revocations becomes one CRL) and which otherwise
//! looks every minute (so another node's revocation is on
//! the CRL within a minute) and re-signs a day after the last CRL, well before its
//! `nextUpdate` a week out. OCSP answers are signed by a per-node delegated responder and
//! cached per request for a minute, or until this node revokes something.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use certkeeper_ca::ocsp::{self, CertState, OcspResponder};
use certkeeper_domain::audit::{Actor, AuditAction, NewAuditEvent};
use certkeeper_domain::certificate::{CertificateContent, CertificateRecord};
use certkeeper_domain::ids::{CertificateId, ProjectId};
use certkeeper_domain::order::OrderStatus;
use certkeeper_domain::project::Project;
use certkeeper_domain::revocation::RevocationReason;
use certkeeper_store::{NewRevocation, SerialStatus, StoredCrl};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::scheduler::RunResult;
use crate::{Access, Core, CoreError, Principal};

/// How long a CRL is valid (`nextUpdate − thisUpdate`).
pub const CRL_VALIDITY: Duration = Duration::days(7);
/// A CRL older than this is signed again even without new revocations.
pub const CRL_REFRESH: Duration = Duration::days(1);
/// How often the `publish-crl` job looks for revocations made on other nodes.
pub const CRL_CHECK_EVERY: Duration = Duration::minutes(1);
/// How long a node serves the CRL it read before reading it again.
const CRL_CACHE: Duration = Duration::seconds(10);
/// An OCSP answer's validity (`nextUpdate − thisUpdate`).
pub const OCSP_VALIDITY: Duration = Duration::hours(1);
/// How long a node serves a signed OCSP answer before signing a fresh one.
pub const OCSP_CACHE: Duration = Duration::minutes(1);
/// How long a delegated responder certificate lives (replaced at two thirds).
const RESPONDER_LIFETIME: Duration = Duration::days(30);
/// At most this many cached OCSP answers per node; past it the cache starts over.
const OCSP_CACHE_ENTRIES: usize = 100_000;

/// Signed OCSP answers by request CertID, with when each was made.
type OcspCache = HashMap<Vec<u8>, (OffsetDateTime, Arc<Vec<u8>>)>;

/// This node's revocation state: the responder and the two caches.
#[derive(Debug, Default)]
pub(crate) struct RevocationState {
    responder: RwLock<Option<Arc<OcspResponder>>>,
    ocsp: Mutex<OcspCache>,
    crl: RwLock<Option<(OffsetDateTime, Arc<StoredCrl>)>>,
}

impl RevocationState {
    fn forget_answers(&self) {
        if let Ok(mut cache) = self.ocsp.lock() {
            cache.clear();
        }
    }

    fn forget_crl(&self) {
        if let Ok(mut crl) = self.crl.write() {
            *crl = None;
        }
    }
}

impl Core {
    /// `POST …/certificates/{id}/revoke`: revokes a certificate the built-in CA issued, or
    /// has the external ACME CA revoke one it issued.
    pub async fn revoke_certificate(
        &self,
        who: &Principal,
        project: ProjectId,
        id: CertificateId,
        reason: RevocationReason,
    ) -> Result<CertificateRecord, CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        let record = self.owned(&project, id).await?;
        Ok(self
            .revoke_record(&who.actor(), &project, &record, reason, "api")
            .await?)
    }

    /// Revokes `record` for `actor` (an API key, or an ACME account or certificate key).
    pub(crate) async fn revoke_record(
        &self,
        actor: &Actor,
        project: &Project,
        record: &CertificateRecord,
        reason: RevocationReason,
        via: &str,
    ) -> Result<CertificateRecord, RevokeError> {
        let conflict = RevokeError::NotRevocable;
        let (summary, order) = match &record.content {
            CertificateContent::Issued(s, o) => (s, o),
            CertificateContent::Imported(_) => {
                return Err(conflict(format!(
                    "certificate {} was imported: certkeeper is not its CA, so it must be revoked where it was issued",
                    record.id
                )));
            }
            CertificateContent::Ordered(_) => {
                return Err(conflict(format!(
                    "certificate {} is not issued; cancel its order with DELETE instead",
                    record.id
                )));
            }
        };
        if order.status == OrderStatus::Revoked {
            return Err(RevokeError::AlreadyRevoked(record.id));
        }
        let state = self
            .store
            .order_of_certificate(record.id)
            .await?
            .ok_or_else(|| {
                CoreError::internal(format!("certificate {} has no order", record.id))
            })?;
        let builtin = state.issuer == crate::issuance::IssuerKind::Builtin.as_str();
        if !builtin {
            // Another CA's certificate: that CA revokes it, through the account that ordered it;
            // certkeeper records the outcome (its own CRL and OCSP never list it).
            let acme = self.issuance()?.acme.as_ref().ok_or_else(|| {
                conflict(format!(
                    "certificate {} was issued by an external ACME CA that this server is no longer configured for",
                    record.id
                ))
            })?;
            let der = self
                .store
                .certificate_material(record.id)
                .await?
                .and_then(|m| m.der)
                .ok_or_else(|| {
                    CoreError::internal(format!("certificate {} has no DER", record.id))
                })?;
            acme.revoke(&der, reason.code()).await.map_err(|e| {
                conflict(format!(
                    "the ACME CA did not revoke certificate {}: {e}",
                    record.id
                ))
            })?;
        }
        let now = self.now();
        let stored = self
            .store
            .revoke(NewRevocation {
                certificate_id: record.id,
                order_id: state.id,
                container_id: record.container_id,
                serial_number: summary.serial_number.clone(),
                reason_code: reason.code(),
                not_after: summary.not_after,
                on_crl: builtin,
                at: now,
                audit: NewAuditEvent {
                    at: now,
                    actor: actor.clone(),
                    action: AuditAction::CertificateRevoke,
                    project: Some(project.id),
                    target: format!("certificate:{}", record.id),
                    detail: json!({
                        "serialNumber": summary.serial_number,
                        "reason": reason.as_str(),
                        "via": via,
                        "ca": if builtin { "builtin" } else { "acme" },
                    })
                    .to_string(),
                },
            })
            .await?;
        if !stored {
            return Err(RevokeError::AlreadyRevoked(record.id));
        }
        self.revocation.forget_answers();
        self.outcomes.add("revocation", "revoked");
        self.wake_scheduler();
        tracing::info!(certificate = %record.id, serial = %summary.serial_number, reason = %reason, "revoked");
        Ok(self.visible(project, record.id).await?)
    }

    /// When and why a certificate was revoked, if it was.
    pub async fn revocation_of(
        &self,
        id: CertificateId,
    ) -> Result<Option<(OffsetDateTime, RevocationReason)>, CoreError> {
        Ok(self.store.revocation_of(id).await?.map(|(at, code)| {
            (
                at,
                RevocationReason::from_code(i64::from(code))
                    .unwrap_or(RevocationReason::Unspecified),
            )
        }))
    }

    /// The current CRL, from this node's cache or the database; signed here only when none
    /// was ever published (a fetch before the first job run).
    pub async fn crl(&self) -> Result<Arc<StoredCrl>, CoreError> {
        let now = self.now();
        if let Ok(cached) = self.revocation.crl.read()
            && let Some((read_at, crl)) = cached.as_ref()
            && now - *read_at < CRL_CACHE
        {
            return Ok(crl.clone());
        }
        let stored = match self.store.crl().await? {
            Some(c) => c,
            None => {
                self.publish_crl_if_stale().await?;
                self.store
                    .crl()
                    .await?
                    .ok_or_else(|| CoreError::internal("no CRL after publishing one"))?
            }
        };
        let stored = Arc::new(stored);
        if let Ok(mut cache) = self.revocation.crl.write() {
            *cache = Some((now, stored.clone()));
        }
        Ok(stored)
    }

    /// Signs and stores a new CRL if revocations were added since the last one or it is older
    /// than [`CRL_REFRESH`]. Returns how many revocations the CRL now stored covers (0 when
    /// another node stored one first: the caller looks again).
    pub async fn publish_crl_if_stale(&self) -> Result<i64, CoreError> {
        let now = self.now();
        let current = self.store.crl_state().await?;
        let count = self.store.revocation_count().await?;
        if let Some(c) = &current
            && c.built_through >= count
            && now - c.this_update < CRL_REFRESH
        {
            return Ok(c.built_through);
        }
        let entries = self
            .store
            .crl_entries(now)
            .await?
            .iter()
            .map(|e| {
                Ok(certkeeper_ca::crl::CrlEntry {
                    serial: certkeeper_ca::crl::serial_from_hex(&e.serial_number).ok_or_else(
                        || CoreError::internal(format!("stored serial {:?}", e.serial_number)),
                    )?,
                    revoked_at: e.revoked_at,
                    reason_code: e.reason_code,
                })
            })
            .collect::<Result<Vec<_>, CoreError>>()?;
        let number = current.as_ref().map_or(1, |c| c.crl_number + 1);
        let next_update = now + CRL_VALIDITY;
        let issuance = self.issuance()?.clone();
        let listed = entries.len();
        // Signing a large CRL takes a while: off the async workers.
        let der = tokio::task::spawn_blocking(move || {
            issuance
                .ca
                .sign_crl(number.unsigned_abs(), now, next_update, &entries)
        })
        .await
        .map_err(CoreError::internal)?
        .map_err(CoreError::internal)?;
        let crl = StoredCrl {
            crl_number: number,
            built_through: count,
            this_update: now,
            next_update,
            der,
        };
        let published = self
            .store
            .put_crl(current.map(|c| c.crl_number), &crl)
            .await?;
        self.revocation.forget_crl();
        if !published {
            return Ok(0);
        }
        tracing::info!(crl_number = number, entries = listed, "published a CRL");
        Ok(count)
    }

    /// The `publish-crl` job. Revocations stored while it signed could not move it (a running
    /// job is left alone), so it looks again soon when there are any.
    pub(crate) async fn run_crl_job(&self) -> Result<RunResult, CoreError> {
        let covered = self.publish_crl_if_stale().await?;
        let behind = self.store.revocation_count().await? > covered;
        Ok(RunResult::RunAgainIn(if behind {
            certkeeper_store::CRL_COALESCE
        } else {
            CRL_CHECK_EVERY
        }))
    }

    /// Answers an OCSP request (DER). Always an OCSP response: a request that cannot be
    /// answered gets the matching unsigned status (`malformedRequest`, `unauthorized`,
    /// `internalError`), as RFC 6960 §2.3 asks, never an HTTP error.
    pub async fn ocsp_response(&self, request: &[u8]) -> Arc<Vec<u8>> {
        use certkeeper_ca::ocsp::OcspResponseStatus as S;
        let ids = match ocsp::parse_request(request) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::debug!(error = %e, "malformed OCSP request");
                return Arc::new(ocsp::status_response(S::MalformedRequest));
            }
        };
        match self.ocsp_answer(&ids).await {
            Ok(Some(der)) => der,
            Ok(None) => Arc::new(ocsp::status_response(S::Unauthorized)),
            Err(e) => {
                tracing::warn!(error = %e, "OCSP answer failed");
                Arc::new(ocsp::status_response(S::InternalError))
            }
        }
    }

    /// The signed answer for `ids`; `None` when one of them is not this CA's.
    async fn ocsp_answer(&self, ids: &[ocsp::CertId]) -> Result<Option<Arc<Vec<u8>>>, CoreError> {
        let now = self.now();
        let responder = self.ocsp_responder(now)?;
        if !ids.iter().all(|id| responder.covers(id)) {
            return Ok(None);
        }
        let key = ocsp::cache_key(ids).map_err(CoreError::internal)?;
        if let Ok(cache) = self.revocation.ocsp.lock()
            && let Some((signed_at, der)) = cache.get(&key)
            && now - *signed_at < OCSP_CACHE
        {
            return Ok(Some(der.clone()));
        }
        let mut answers = Vec::with_capacity(ids.len());
        for id in ids {
            let state = match ocsp::serial_hex(id) {
                None => CertState::Unknown,
                Some(serial) => match self.store.serial_status(&serial).await? {
                    SerialStatus::Issued => CertState::Good,
                    SerialStatus::Revoked { at, reason_code } => {
                        CertState::Revoked { at, reason_code }
                    }
                    SerialStatus::Unknown => CertState::Unknown,
                },
            };
            answers.push((id.clone(), state));
        }
        let der = Arc::new(
            responder
                .respond(&answers, now, now + OCSP_VALIDITY)
                .map_err(CoreError::internal)?,
        );
        if let Ok(mut cache) = self.revocation.ocsp.lock() {
            if cache.len() >= OCSP_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, (now, der.clone()));
        }
        Ok(Some(der))
    }

    /// This node's delegated responder, made on first use and replaced at two thirds of its
    /// life.
    fn ocsp_responder(&self, now: OffsetDateTime) -> Result<Arc<OcspResponder>, CoreError> {
        if let Ok(current) = self.revocation.responder.read()
            && let Some(r) = current.as_ref()
            && now < r.renew_at()
        {
            return Ok(r.clone());
        }
        let fresh = Arc::new(
            self.issuance()?
                .ca
                .ocsp_responder(now, RESPONDER_LIFETIME)
                .map_err(CoreError::internal)?,
        );
        if let Ok(mut slot) = self.revocation.responder.write() {
            *slot = Some(fresh.clone());
        }
        // Answers signed by the old responder stay valid; they simply age out.
        Ok(fresh)
    }
}

/// Why a certificate cannot be revoked; each face words it in its own shape.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("certificate {0} is already revoked")]
    AlreadyRevoked(CertificateId),
    /// Imported, not issued yet, or refused by the external CA.
    #[error("{0}")]
    NotRevocable(String),
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<certkeeper_store::StoreError> for RevokeError {
    fn from(e: certkeeper_store::StoreError) -> Self {
        Self::Core(e.into())
    }
}

impl From<RevokeError> for CoreError {
    fn from(e: RevokeError) -> Self {
        match e {
            RevokeError::Core(e) => e,
            other => CoreError::Conflict {
                message: other.to_string(),
                existing: None,
            },
        }
    }
}
