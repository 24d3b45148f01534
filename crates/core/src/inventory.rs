//! The certificate inventory: import, list, read, re-scope and delete.

use certkeeper_domain::audit::{AuditAction, NewAuditEvent};
use certkeeper_domain::certificate::{CertificateRecord, CertificateType, Scope};
use certkeeper_domain::ids::{CertificateId, ProjectId, SslCertificateId};
use certkeeper_domain::project::Project;
use certkeeper_domain::{keys, pem, x509};
use certkeeper_store::{InsertOutcome, NewCertificate};
use serde_json::json;
use zeroize::Zeroizing;

use crate::{Access, Core, CoreError, Principal};

/// The largest page a listing returns.
pub const MAX_PAGE_SIZE: i64 = 500;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: i64 = 20;

/// An import as submitted.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub body: String,
    pub private_key: String,
    pub chain: String,
    pub scope: Scope,
}

/// A page request: 1-based index, bounded size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub index: i64,
    pub size: i64,
}

impl PageRequest {
    /// Checks a requested page; `None` takes the default.
    pub fn new(index: Option<i64>, size: Option<i64>) -> Result<Self, CoreError> {
        let index = index.unwrap_or(1);
        let size = size.unwrap_or(DEFAULT_PAGE_SIZE);
        if index < 1 {
            return Err(CoreError::Invalid(format!(
                "PageIndex must be 1 or more (got {index})"
            )));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(CoreError::Invalid(format!(
                "PageSize must be between 1 and {MAX_PAGE_SIZE} (got {size})"
            )));
        }
        Ok(Self { index, size })
    }
}

/// A page of certificates and where it sits in the whole listing.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<CertificateRecord>,
    pub request: PageRequest,
    pub total: i64,
}

impl Page {
    pub fn total_pages(&self) -> i64 {
        (self.total + self.request.size - 1) / self.request.size
    }
}

impl Core {
    pub async fn import_certificate(
        &self,
        who: &Principal,
        project: ProjectId,
        req: ImportRequest,
    ) -> Result<CertificateRecord, CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        let checked = x509::check_import(&req.body, &req.private_key, &req.chain)
            .map_err(|e| CoreError::Invalid(e.to_string()))?;
        let ssl_id = SslCertificateId::new_random();
        let sealed = self
            .master_key
            .seal(key_aad(ssl_id).as_bytes(), checked.key.der())
            .map_err(CoreError::internal)?;
        let now = self.now();
        let new = NewCertificate {
            ssl_certificate_id: ssl_id,
            project_id: project.id,
            container_id: project.container_id,
            scope: req.scope,
            certificate_type: CertificateType::Imported,
            summary: checked.summary,
            der: checked.der,
            chain_pem: pem::certificates(checked.chain.iter().map(Vec::as_slice)),
            private_key_sealed: Some(sealed),
            at: now,
        };
        // The store sets `target` to the new id.
        let audit = NewAuditEvent {
            at: now,
            actor: who.actor(),
            action: AuditAction::CertificateImport,
            project: Some(project.id),
            target: String::new(),
            detail: json!({
                "sslCertificateId": new.ssl_certificate_id.to_string(),
                "domainName": new.summary.domain_name,
                "serialNumber": new.summary.serial_number,
                "scope": new.scope.name(),
            })
            .to_string(),
        };
        let outcome = self.store.insert_certificate(new, audit).await?;
        match outcome {
            InsertOutcome::Inserted(r) => Ok(*r),
            InsertOutcome::Duplicate(existing) => Err(CoreError::Conflict {
                message: format!(
                    "this certificate is already in project {} as certificate {existing}",
                    project.id
                ),
                existing: Some(existing),
            }),
        }
    }

    pub async fn list_certificates(
        &self,
        who: &Principal,
        project: ProjectId,
        page: PageRequest,
    ) -> Result<Page, CoreError> {
        let project = self.authorize_project(who, project, Access::Read).await?;
        let offset = (page.index - 1).saturating_mul(page.size);
        let found = self
            .store
            .visible_certificates(project.container_id, offset, page.size)
            .await?;
        Ok(Page {
            items: found.items,
            request: page,
            total: found.total,
        })
    }

    pub async fn get_certificate(
        &self,
        who: &Principal,
        project: ProjectId,
        id: CertificateId,
    ) -> Result<CertificateRecord, CoreError> {
        let project = self.authorize_project(who, project, Access::Read).await?;
        self.visible(&project, id).await
    }

    pub async fn update_certificate_scope(
        &self,
        who: &Principal,
        project: ProjectId,
        id: CertificateId,
        scope: Scope,
    ) -> Result<CertificateRecord, CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        let before = self.owned(&project, id).await?;
        let now = self.now();
        let actor = who.actor();
        self.store
            .update_certificate_scope(id, scope, now, |r| NewAuditEvent {
                at: now,
                actor,
                action: AuditAction::CertificateUpdateScope,
                project: Some(project.id),
                target: format!("certificate:{}", r.id),
                detail: json!({ "from": before.scope.name(), "to": r.scope.name() }).to_string(),
            })
            .await?
            .ok_or_else(|| not_found(&project, id))
    }

    /// Deletes a certificate (and its key), or cancels a created certificate's pending order.
    pub async fn delete_certificate(
        &self,
        who: &Principal,
        project: ProjectId,
        id: CertificateId,
    ) -> Result<Deleted, CoreError> {
        let project = self.authorize_project(who, project, Access::Write).await?;
        let record = self.owned(&project, id).await?;
        // A created certificate still waiting for validation: DELETE cancels its order and
        // keeps the record (status Canceled) for the order history; a second DELETE removes it.
        if let Some(canceled) = self.cancel_if_pending(who, &project, &record).await? {
            return Ok(Deleted::OrderCanceled(canceled));
        }
        let now = self.now();
        let actor = who.actor();
        self.store
            .delete_certificate(id, |r| NewAuditEvent {
                at: now,
                actor,
                action: AuditAction::CertificateDelete,
                project: Some(project.id),
                target: format!("certificate:{}", r.id),
                detail: json!({
                    "sslCertificateId": r.ssl_certificate_id.to_string(),
                    "domainName": r.domain_name,
                    "serialNumber": r.summary().map(|s| s.serial_number.as_str()),
                })
                .to_string(),
            })
            .await?
            .map(Deleted::Removed)
            .ok_or_else(|| not_found(&project, id))
    }

    /// A certificate the project can see: its own, or an organization-scoped one.
    pub(crate) async fn visible(
        &self,
        project: &Project,
        id: CertificateId,
    ) -> Result<CertificateRecord, CoreError> {
        seen_by(project, id, self.store.certificate(id).await?)
    }

    /// A certificate the project may change: only its own.
    pub(crate) async fn owned(
        &self,
        project: &Project,
        id: CertificateId,
    ) -> Result<CertificateRecord, CoreError> {
        owned_by(
            project,
            seen_by(project, id, self.store.certificate(id).await?)?,
        )
    }
}

/// `found` if `project` may see it (its own, or organization-scoped); not found otherwise, so
/// another project's private certificates are not revealed to exist.
pub(crate) fn seen_by(
    project: &Project,
    id: CertificateId,
    found: Option<CertificateRecord>,
) -> Result<CertificateRecord, CoreError> {
    match found {
        Some(c) if c.container_id == project.container_id || c.scope == Scope::Organization => {
            Ok(c)
        }
        _ => Err(not_found(project, id)),
    }
}

/// A visible record, if `project` may also change it (only its own).
pub(crate) fn owned_by(
    project: &Project,
    record: CertificateRecord,
) -> Result<CertificateRecord, CoreError> {
    if record.container_id != project.container_id {
        return Err(CoreError::Forbidden(format!(
            "certificate {} is shared by another project (Organization scope); only its own project can change or delete it",
            record.id
        )));
    }
    Ok(record)
}

impl Core {
    /// A certificate's private key as PEM. Only for keys granted `allow_key_export`, and every
    /// export is audited before the key leaves.
    pub async fn export_private_key(
        &self,
        who: &Principal,
        project: ProjectId,
        id: CertificateId,
    ) -> Result<Zeroizing<String>, CoreError> {
        if !who.key.allow_key_export {
            return Err(CoreError::Forbidden(
                "this API key may not export private keys; create one with `certkeeper apikey create --allow-key-export`".into(),
            ));
        }
        let project = self.authorize_project(who, project, Access::Read).await?;
        let record = self.visible(&project, id).await?;
        let stored = self
            .store
            .certificate_material(id)
            .await?
            .ok_or_else(|| not_found(&project, id))?;
        let sealed = stored
            .private_key_sealed
            .ok_or_else(|| CoreError::Conflict {
                message: match stored.der {
                    // Issued or imported without one: the requester (an ACME client, or
                    // whoever imported it) holds the key.
                    Some(_) => format!(
                        "certkeeper does not hold the private key of certificate {id}; its requester does"
                    ),
                    None => format!(
                        "certificate {id} has no private key yet (status {})",
                        record.status_at(self.now()).as_str()
                    ),
                },
                existing: None,
            })?;
        let der = self
            .master_key
            .open(key_aad(record.ssl_certificate_id).as_bytes(), &sealed)
            .map_err(CoreError::internal)?;
        let now = self.now();
        self.store
            .record_audit(&NewAuditEvent {
                at: now,
                actor: who.actor(),
                action: AuditAction::PrivateKeyExport,
                project: Some(project.id),
                target: format!("certificate:{id}"),
                detail: json!({ "sslCertificateId": record.ssl_certificate_id.to_string() })
                    .to_string(),
            })
            .await?;
        Ok(Zeroizing::new(pem::encode(keys::pem_label(&der), &der)))
    }
}

/// What a DELETE did.
#[derive(Debug, Clone)]
pub enum Deleted {
    /// The certificate and its key are gone; this is what was deleted.
    Removed(CertificateRecord),
    /// A created certificate's pending order was canceled; the record stays.
    OrderCanceled(CertificateRecord),
}

fn not_found(project: &Project, id: CertificateId) -> CoreError {
    CoreError::NotFound(format!(
        "certificate {id} not found in project {}",
        project.id
    ))
}

/// The associated data a certificate's private key is sealed under: binds the ciphertext to
/// its record.
pub(crate) fn key_aad(id: SslCertificateId) -> String {
    format!("certificate:{id}:private-key")
}
