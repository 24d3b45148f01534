//! ACME Renewal Information (RFC 9773): when a client should renew, and which certificate a
//! new order `replaces` (the successor is linked in the inventory as its renewal).

use certkeeper_acme::problem::ProblemType;
use certkeeper_domain::certificate::CertificateRecord;
use certkeeper_domain::order::OrderStatus;
use certkeeper_domain::project::Project;
use time::OffsetDateTime;

use super::AcmeError;
use crate::Core;

impl Core {
    /// The project's certificate behind an ARI certificate identifier.
    async fn certificate_by_ari_id(
        &self,
        project: &Project,
        cert_id: &str,
    ) -> Result<CertificateRecord, AcmeError> {
        let (_aki, serial) = certkeeper_acme::ari::parse_cert_id(cert_id).ok_or_else(|| {
            AcmeError::malformed("a certificate identifier is base64url(AKI).base64url(serial)")
        })?;
        let hex = certkeeper_domain::x509::serial_hex(&serial);
        self.store
            .certificate_by_serial(project.container_id, &hex)
            .await?
            .filter(|r| r.summary().is_some())
            .ok_or_else(|| AcmeError::not_found("no certificate with this identifier here"))
    }

    /// The suggested renewal window of a certificate: the middle third of the last third of
    /// its lifetime, or now for a revoked one.
    pub async fn acme_renewal_info(
        &self,
        project: &Project,
        cert_id: &str,
    ) -> Result<(OffsetDateTime, OffsetDateTime), AcmeError> {
        let record = self.certificate_by_ari_id(project, cert_id).await?;
        let summary = record
            .summary()
            .ok_or_else(|| AcmeError::not_found("this certificate is not issued"))?;
        let revoked = record
            .order()
            .is_some_and(|o| o.status == OrderStatus::Revoked);
        let now = self.now().unix_timestamp();
        let (start, end) = certkeeper_acme::ari::suggested_window(
            summary.not_before.unix_timestamp(),
            summary.not_after.unix_timestamp(),
            revoked,
            now,
        );
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap_or_else(|_| self.now());
        Ok((at(start), at(end)))
    }

    /// The certificate a new order's `replaces` names; refused when it was already renewed.
    pub(crate) async fn replaced_certificate(
        &self,
        project: &Project,
        cert_id: &str,
    ) -> Result<CertificateRecord, AcmeError> {
        let record = self.certificate_by_ari_id(project, cert_id).await?;
        if record.lineage.renewed_by.is_some() {
            return Err(AcmeError::new(
                ProblemType::AlreadyReplaced,
                409,
                "this certificate was already replaced",
            ));
        }
        Ok(record)
    }
}
