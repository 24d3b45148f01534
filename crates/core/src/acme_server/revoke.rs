//! `revokeCert` (RFC 8555 §7.6): signed by the account that ordered the certificate, or by
//! the certificate's own key (`jwk`), which proves possession of it without any account.
//! The revocation itself is the inventory's (`Core::revoke_record`), so the API, the CRL, OCSP
//! and the reports see it the same way.

use certkeeper_acme::problem::ProblemType;
use certkeeper_domain::audit::Actor;
use certkeeper_domain::revocation::RevocationReason;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{AcmeError, Signed};
use crate::Core;
use crate::revocation::RevokeError;

impl Core {
    pub async fn acme_revoke_cert(&self, signed: &Signed) -> Result<(), AcmeError> {
        let payload = signed
            .payload()?
            .ok_or_else(|| AcmeError::malformed("revokeCert needs a payload"))?;
        let der = payload
            .get("certificate")
            .and_then(serde_json::Value::as_str)
            .and_then(certkeeper_acme::unb64)
            .ok_or_else(|| {
                AcmeError::malformed("\"certificate\" must be the certificate's DER, base64url")
            })?;
        let reason = match payload.get("reason") {
            None | Some(serde_json::Value::Null) => RevocationReason::Unspecified,
            Some(v) => v
                .as_i64()
                .and_then(RevocationReason::from_code)
                .ok_or_else(|| {
                    AcmeError::new(
                        ProblemType::BadRevocationReason,
                        400,
                        format!(
                            "reason {v} is not one a subscriber may give; use 0 (unspecified), 1 (keyCompromise), 3 (affiliationChanged), 4 (superseded) or 5 (cessationOfOperation)"
                        ),
                    )
                })?,
        };
        let (_, cert) = X509Certificate::from_der(&der)
            .map_err(|e| AcmeError::malformed(format!("\"certificate\" is not X.509: {e}")))?;
        // The serial and fingerprint as the inventory writes them.
        let summary = certkeeper_domain::x509::summarize_der(&der)
            .map_err(|e| AcmeError::malformed(format!("\"certificate\": {e}")))?;
        let project = &signed.project;
        let unknown = || AcmeError::not_found("this CA issued no such certificate to this project");
        let record = self
            .store
            .certificate_by_serial(project.container_id, &summary.serial_number)
            .await?
            .filter(|r| {
                r.summary()
                    .is_some_and(|s| s.fingerprint_sha256 == summary.fingerprint_sha256)
            })
            .ok_or_else(unknown)?;
        let actor = match &signed.account {
            Some(account) => {
                let state = self.store.order_of_certificate(record.id).await?;
                let order_id = state
                    .and_then(|s| s.external_ref)
                    .and_then(|r| r.strip_prefix("acme-order:").map(str::to_string));
                let owner = match order_id {
                    Some(id) => self.store.acme_order(&id).await?.map(|o| o.account_id),
                    None => None,
                };
                if owner.as_deref() != Some(account.id.as_str()) {
                    return Err(AcmeError::unauthorized(
                        "this account did not order this certificate; sign with the certificate's key instead",
                    ));
                }
                Actor::AcmeAccount {
                    id: account.id.clone(),
                }
            }
            None => {
                if !signed.jwk.matches_spki(cert.public_key().raw) {
                    return Err(AcmeError::unauthorized(
                        "the request is signed neither by an account nor by this certificate's key",
                    ));
                }
                Actor::AcmeAccount {
                    id: format!("certificate-key:{}", signed.jwk.thumbprint()),
                }
            }
        };
        match self
            .revoke_record(&actor, project, &record, reason, "acme")
            .await
        {
            Ok(_) => Ok(()),
            Err(RevokeError::AlreadyRevoked(id)) => Err(AcmeError::new(
                ProblemType::AlreadyRevoked,
                400,
                format!("certificate {id} is already revoked"),
            )),
            Err(RevokeError::NotRevocable(why)) => Err(AcmeError::unauthorized(why)),
            Err(RevokeError::Core(e)) => Err(e.into()),
        }
    }
}
