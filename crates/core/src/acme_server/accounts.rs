//! newAccount, account reads and updates, deactivation.

use certkeeper_acme::problem::ProblemType;
use certkeeper_domain::project::Project;
use certkeeper_store::AcmeAccountRow;
use serde::Deserialize;
use serde_json::Value;

use super::{Account, AccountStatus, AcmeError, Links, Signed};
use crate::{Core, CoreError};

/// What an EAB key is sealed under: it cannot be swapped for another record's secret.
pub(crate) fn eab_aad(kid: &str) -> String {
    format!("acme-eab:{kid}")
}

/// A random URL-safe id (128 bits).
pub(crate) fn random_id() -> Result<String, AcmeError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| AcmeError::internal("the system random generator failed"))?;
    Ok(certkeeper_acme::b64(&bytes))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewAccountPayload {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    only_return_existing: bool,
    #[serde(default)]
    external_account_binding: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct UpdatePayload {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    status: Option<String>,
}

/// Contacts must be `mailto:` addresses with one recipient and no header fields.
fn check_contacts(contacts: &[String]) -> Result<(), AcmeError> {
    for c in contacts {
        let Some(address) = c.strip_prefix("mailto:") else {
            return Err(AcmeError::new(
                ProblemType::UnsupportedContact,
                400,
                format!("only mailto: contacts are supported, got {c:?}"),
            ));
        };
        let valid = address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.ends_with('.')
        }) && !address.contains([',', '?', ' ', '<', '>']);
        if !valid {
            return Err(AcmeError::new(
                ProblemType::InvalidContact,
                400,
                format!("{c:?} is not a single e-mail address"),
            ));
        }
    }
    Ok(())
}

impl Core {
    /// newAccount: the account of the signing key, created unless it exists. `true` when it
    /// was created by this request (201), `false` for an existing one (200).
    pub async fn acme_new_account(&self, signed: &Signed) -> Result<(Account, bool), AcmeError> {
        let payload: NewAccountPayload = match signed.payload()? {
            Some(v) => serde_json::from_value(v).map_err(|e| {
                AcmeError::malformed(format!("the newAccount payload does not fit: {e}"))
            })?,
            None => NewAccountPayload::default(),
        };
        let project = &signed.project;
        let thumbprint = signed.jwk.thumbprint();
        if let Some(existing) = self
            .store
            .acme_account_by_key(project.container_id, &thumbprint)
            .await?
        {
            return Ok((existing.try_into()?, false));
        }
        if payload.only_return_existing {
            return Err(AcmeError::new(
                ProblemType::AccountDoesNotExist,
                400,
                "no account exists for this key",
            ));
        }
        let eab_kid = match &payload.external_account_binding {
            Some(eab) => Some(self.check_eab(signed, eab).await?),
            None if self.store.acme_eab_required(project.container_id).await? => {
                return Err(AcmeError::new(
                    ProblemType::ExternalAccountRequired,
                    403,
                    "this directory requires an external account binding; an operator creates \
                     one with `certkeeper acme eab create`",
                ));
            }
            None => None,
        };
        let contacts = payload.contact.unwrap_or_default();
        check_contacts(&contacts)?;
        let row = AcmeAccountRow {
            id: random_id()?,
            container_id: project.container_id,
            thumbprint: thumbprint.clone(),
            jwk: signed.jwk.to_json().to_string(),
            contacts: serde_json::to_string(&contacts).unwrap_or_else(|_| "[]".into()),
            status: AccountStatus::Valid.as_str().into(),
            eab_kid: None,
            created_at: self.now(),
        };
        if let Some(kid) = &eab_kid {
            let mut bound = row.clone();
            bound.eab_kid = Some(kid.clone());
            if self.store.insert_acme_account_with_eab(&bound, kid).await? {
                return Ok((bound.try_into()?, true));
            }
            return match self
                .store
                .acme_account_by_key(project.container_id, &thumbprint)
                .await?
            {
                Some(existing) => Ok((existing.try_into()?, false)),
                None => Err(AcmeError::unauthorized(
                    "this external account binding key was already used",
                )),
            };
        }
        match self.store.insert_acme_account(&row).await? {
            Some(created) => Ok((created.try_into()?, true)),
            // Another request for the same key won the race: answer with its account.
            None => {
                let existing = self
                    .store
                    .acme_account_by_key(project.container_id, &thumbprint)
                    .await?
                    .ok_or_else(|| AcmeError::internal("the account vanished"))?;
                Ok((existing.try_into()?, false))
            }
        }
    }

    /// Checks an external account binding; answers its key id. The key must be this project's
    /// and not yet bound to an account.
    async fn check_eab(&self, signed: &Signed, eab: &Value) -> Result<String, AcmeError> {
        let kid = certkeeper_acme::jws::eab_kid(eab)?;
        let unknown = || AcmeError::unauthorized("the external account binding's key is unknown");
        let key = self
            .store
            .acme_eab_key(&kid)
            .await?
            .filter(|k| k.container_id == signed.project.container_id)
            .ok_or_else(unknown)?;
        if key.bound_account.is_some() {
            return Err(AcmeError::unauthorized(
                "this external account binding key was already used",
            ));
        }
        let hmac = self
            .master_key
            .open(eab_aad(&kid).as_bytes(), &key.hmac_sealed)
            .map_err(|e| AcmeError::internal(format!("unsealing an EAB key: {e}")))?;
        certkeeper_acme::jws::verify_eab(eab, &signed.jws.header.url, &signed.jwk, &hmac).map_err(
            |e| match e {
                certkeeper_acme::jws::JwsError::Signature => {
                    AcmeError::unauthorized("the external account binding's MAC does not verify")
                }
                other => other.into(),
            },
        )
    }

    /// A new external account binding key for `project`: its kid and base64url HMAC key, the
    /// latter shown only now (stored sealed).
    pub async fn create_acme_eab_key(
        &self,
        project: &Project,
    ) -> Result<(String, String), CoreError> {
        let kid = random_id().map_err(|e| CoreError::internal(e.detail))?;
        let mut hmac = zeroize::Zeroizing::new([0u8; 32]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), hmac.as_mut())
            .map_err(|_| CoreError::internal("the system random generator failed"))?;
        let sealed = self
            .master_key
            .seal(eab_aad(&kid).as_bytes(), hmac.as_ref())
            .map_err(CoreError::internal)?;
        self.store
            .insert_acme_eab_key(&certkeeper_store::AcmeEabKeyRow {
                kid: kid.clone(),
                container_id: project.container_id,
                hmac_sealed: sealed,
                bound_account: None,
                created_at: self.now(),
            })
            .await?;
        Ok((kid, certkeeper_acme::b64(hmac.as_ref())))
    }

    /// Whether `project`'s newAccount requires an external account binding.
    pub async fn acme_eab_required(&self, project: &Project) -> Result<bool, AcmeError> {
        Ok(self.store.acme_eab_required(project.container_id).await?)
    }

    pub async fn set_acme_eab_required(
        &self,
        project: &Project,
        required: bool,
    ) -> Result<(), CoreError> {
        Ok(self
            .store
            .set_acme_eab_required(project.container_id, required)
            .await?)
    }

    /// The account behind a `kid`, which must be this project's and still valid.
    pub(crate) async fn account_by_url(
        &self,
        project: &Project,
        links: &Links,
        kid: &str,
    ) -> Result<Account, AcmeError> {
        let missing = || {
            AcmeError::new(
                ProblemType::AccountDoesNotExist,
                400,
                "the kid names no account of this directory",
            )
        };
        let id = kid
            .strip_prefix(&links.account(""))
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .ok_or_else(missing)?;
        let row = self.store.acme_account(id).await?.ok_or_else(missing)?;
        if row.container_id != project.container_id {
            return Err(missing());
        }
        let account: Account = row.try_into()?;
        if account.status != AccountStatus::Valid {
            return Err(AcmeError::unauthorized("this account is deactivated"));
        }
        Ok(account)
    }

    /// POST to the account URL: read it (POST-as-GET), change its contacts, or deactivate it.
    pub async fn acme_update_account(
        &self,
        signed: &Signed,
        id: &str,
    ) -> Result<Account, AcmeError> {
        let account = signed.account()?;
        if account.id != id {
            return Err(AcmeError::unauthorized(
                "a request may only touch the signer's own account",
            ));
        }
        let Some(payload) = signed.payload()? else {
            return Ok(account.clone());
        };
        let update: UpdatePayload = serde_json::from_value(payload)
            .map_err(|e| AcmeError::malformed(format!("the account update does not fit: {e}")))?;
        let mut next = account.clone();
        if let Some(contacts) = update.contact {
            check_contacts(&contacts)?;
            next.contacts = contacts;
        }
        match update.status.as_deref() {
            None | Some("valid") => {}
            Some("deactivated") => next.status = AccountStatus::Deactivated,
            Some(other) => {
                return Err(AcmeError::malformed(format!(
                    "an account's status can only be changed to \"deactivated\", not {other:?}"
                )));
            }
        }
        self.write_account(&next).await?;
        Ok(next)
    }

    /// keyChange (RFC 8555 §7.3.5): the account moves to the new key of the inner JWS.
    /// Refused with 409 (and the holder's URL) when another account already has that key.
    pub async fn acme_key_change(
        &self,
        signed: &Signed,
        links: &Links,
        url: &str,
    ) -> Result<Account, AcmeError> {
        let account = signed.account()?;
        let inner = signed
            .payload()?
            .ok_or_else(|| AcmeError::malformed("keyChange needs the inner JWS as its payload"))?;
        let (new_key, account_url, old_key) = certkeeper_acme::jws::verify_key_change(&inner, url)?;
        if account_url != links.account(&account.id) {
            return Err(AcmeError::unauthorized(
                "the keyChange inner payload names another account",
            ));
        }
        if old_key != account.jwk {
            return Err(AcmeError::unauthorized(
                "the keyChange oldKey is not the account's current key",
            ));
        }
        if let Some(holder) = self
            .store
            .acme_account_by_key(account.container_id, &new_key.thumbprint())
            .await?
        {
            let mut e = AcmeError::new(
                ProblemType::Malformed,
                409,
                "the new key already belongs to an account",
            );
            e.location = Some(links.account(&holder.id));
            return Err(e);
        }
        let mut next = account.clone();
        next.jwk = new_key;
        self.write_account(&next).await?;
        Ok(next)
    }

    async fn write_account(&self, account: &Account) -> Result<(), AcmeError> {
        let row = AcmeAccountRow {
            id: account.id.clone(),
            container_id: account.container_id,
            thumbprint: account.jwk.thumbprint(),
            jwk: account.jwk.to_json().to_string(),
            contacts: serde_json::to_string(&account.contacts).unwrap_or_else(|_| "[]".into()),
            status: account.status.as_str().into(),
            eab_kid: None,
            created_at: account.created_at,
        };
        if !self.store.update_acme_account(&row).await? {
            return Err(AcmeError::unauthorized("this account is deactivated"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_contacts;

    #[test]
    fn contacts() {
        assert!(check_contacts(&["mailto:ops@example.test".into()]).is_ok());
        for bad in [
            "tel:+1",
            "mailto:",
            "mailto:a@b",
            "mailto:a@b.test,c@d.test",
            "mailto:a@b.test?subject=x",
        ] {
            assert!(check_contacts(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
