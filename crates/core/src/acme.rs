//! Issuance through an external ACME CA (RFC 8555): Let's Encrypt, pebble, any compliant CA.
//!
//! The ACME account is created once and its credentials stored sealed under the master key, so
//! every node uses the same account. Creating a certificate opens an ACME order and hands the
//! CA's own DNS-01 values to the user; validating tells the CA to check them, finalizes with a
//! CSR for a key certkeeper generates, and downloads the chain.

use std::path::PathBuf;
use std::time::Duration;

use certkeeper_domain::certificate::DnsChallenge;
use certkeeper_domain::names::DnsName;
use certkeeper_domain::sealing::MasterKey;
use certkeeper_store::Store;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType,
    ExternalAccountKey, Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::CoreError;

/// How to reach the ACME CA.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The directory URL, e.g. `https://acme-v02.api.letsencrypt.org/directory`.
    pub directory: String,
    /// PEM roots to trust for the directory's TLS (for private CAs such as pebble); `None`:
    /// the usual web roots.
    pub ca_bundle: Option<PathBuf>,
    /// External Account Binding: key id and the raw HMAC key.
    pub eab: Option<(String, Vec<u8>)>,
    /// Contact for the account, e.g. `mailto:ops@example.com`.
    pub contact: Option<String>,
}

/// A connected ACME account.
pub struct AcmeIssuer {
    account: Account,
    directory: String,
}

impl std::fmt::Debug for AcmeIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeIssuer")
            .field("directory", &self.directory)
            .finish_non_exhaustive()
    }
}

/// What the CA did with an order on validation.
pub enum AcmeOutcome {
    /// Issued: the chain (leaf first) and the key certkeeper generated for it.
    Issued {
        chain_pem: String,
        key_pkcs8: Zeroizing<Vec<u8>>,
    },
    /// The CA refused; its problem detail.
    Refused(String),
}

/// The CA's suggested renewal window for a certificate (RFC 9773), and when to ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalWindow {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// The CA's `Retry-After`.
    pub ask_again_in: Duration,
}

/// The ARI identifier of a certificate: its AKI keyIdentifier and its serial's DER content
/// bytes. `None` for a certificate without an AKI keyIdentifier (no CA of ARI's issues one).
pub fn certificate_identifier(der: &[u8]) -> Option<CertificateIdentifier<'static>> {
    use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref(),
            _ => None,
        })?;
    Some(
        CertificateIdentifier::new(
            rustls_pki_types::Der::from_slice(aki.0),
            rustls_pki_types::Der::from_slice(cert.tbs_certificate.raw_serial()),
        )
        .into_owned(),
    )
}

/// Whether the CA refused an order because of its `replaces` (RFC 9773 §5): it was already
/// replaced, or the CA does not know or take the field. Such an order is sent again without.
fn about_replaces(e: &instant_acme::Error) -> bool {
    match e {
        instant_acme::Error::Api(problem) => {
            problem
                .r#type
                .as_deref()
                .is_some_and(|t| t.ends_with(":alreadyReplaced"))
                || problem
                    .detail
                    .as_deref()
                    .is_some_and(|d| d.to_ascii_lowercase().contains("replace"))
        }
        instant_acme::Error::Unsupported(_) => true,
        other => other.to_string().to_ascii_lowercase().contains("replaces"),
    }
}

fn acme_error(what: &str, e: instant_acme::Error) -> CoreError {
    CoreError::Internal(format!("ACME {what}: {e}"))
}

/// How to poll the CA: soon at first (a CA that validates at once, like pebble or a CA that
/// already saw the records, answers in milliseconds), then backing off; `Retry-After` from the
/// CA is honoured by instant-acme.
fn retry() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(20))
        .backoff(2.0)
        .timeout(Duration::from_secs(60))
}

/// The settings rows ACME accounts at upstream CAs are kept in, one per directory URL.
pub(crate) const ACCOUNT_SETTING_PREFIX: &str = "acme_account:";

/// What an account's sealed credentials are bound to: their settings row.
pub(crate) fn account_aad(setting: &str) -> String {
    format!("certkeeper:{setting}")
}

impl AcmeIssuer {
    /// Connects, creating and storing the account on first use.
    pub async fn connect(
        store: &Store,
        key: &MasterKey,
        config: &AcmeConfig,
    ) -> Result<Self, CoreError> {
        let setting = format!("{ACCOUNT_SETTING_PREFIX}{}", config.directory);
        let aad = account_aad(&setting);
        let builder = || match &config.ca_bundle {
            Some(path) => Account::builder_with_root(path).map_err(|e| acme_error("TLS roots", e)),
            None => Account::builder().map_err(|e| acme_error("HTTP client", e)),
        };
        if let Some(sealed) = store.setting(&setting).await? {
            let json = key
                .open(aad.as_bytes(), &sealed)
                .map_err(CoreError::internal)?;
            let creds: AccountCredentials =
                serde_json::from_slice(&json).map_err(CoreError::internal)?;
            let account = builder()?
                .from_credentials(creds)
                .await
                .map_err(|e| acme_error("account", e))?;
            return Ok(Self {
                account,
                directory: config.directory.clone(),
            });
        }
        let contact: Vec<&str> = config.contact.iter().map(String::as_str).collect();
        let eab = config
            .eab
            .as_ref()
            .map(|(kid, hmac)| ExternalAccountKey::new(kid.clone(), hmac));
        let (account, creds) = builder()?
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                config.directory.clone(),
                eab.as_ref(),
            )
            .await
            .map_err(|e| acme_error("account creation", e))?;
        let json = Zeroizing::new(serde_json::to_vec(&creds).map_err(CoreError::internal)?);
        let sealed = key
            .seal(aad.as_bytes(), &json)
            .map_err(CoreError::internal)?;
        if !store.put_setting_if_absent(&setting, &sealed).await? {
            // Another node stored its account first: use that one, so all share one account.
            return Box::pin(Self::connect(store, key, config)).await;
        }
        Ok(Self {
            account,
            directory: config.directory.clone(),
        })
    }

    /// The CA's renewal window for the certificate `der`; `None` when the CA offers no ARI
    /// or the certificate has no identifier for it.
    pub async fn renewal_window(&self, der: &[u8]) -> Result<Option<RenewalWindow>, CoreError> {
        let Some(id) = certificate_identifier(der) else {
            return Ok(None);
        };
        match self.account.renewal_info(&id).await {
            Ok((info, ask_again_in)) => Ok(Some(RenewalWindow {
                start: info.suggested_window.start,
                end: info.suggested_window.end,
                ask_again_in,
            })),
            Err(instant_acme::Error::Unsupported(_)) => Ok(None),
            Err(e) => Err(acme_error("renewal information", e)),
        }
    }

    /// Opens an order for `names`; returns its URL and the DNS-01 records the CA asks for.
    /// `replaces` (a renewal's predecessor, DER) is named in the order when the CA offers ARI;
    /// an order the CA refuses over it (`alreadyReplaced`, or any error about the field) is
    /// sent once more without it, as RFC 9773 §5 asks.
    pub async fn open_order(
        &self,
        names: &[DnsName],
        replaces: Option<&[u8]>,
    ) -> Result<(String, Vec<DnsChallenge>), CoreError> {
        let identifiers: Vec<Identifier> = names
            .iter()
            .map(|n| Identifier::Dns(n.to_string()))
            .collect();
        let replacing = replaces.and_then(certificate_identifier);
        let first = match &replacing {
            Some(id) => NewOrder::new(&identifiers).replaces(id.clone()),
            None => NewOrder::new(&identifiers),
        };
        let mut order = match self.account.new_order(&first).await {
            Ok(order) => order,
            Err(e) if replacing.is_some() && about_replaces(&e) => {
                tracing::info!(error = %e, "the ACME CA refused replaces; ordering without it");
                self.account
                    .new_order(&NewOrder::new(&identifiers))
                    .await
                    .map_err(|e| acme_error("new order", e))?
            }
            Err(e) => return Err(acme_error("new order", e)),
        };
        let mut challenges = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| acme_error("authorization", e))?;
            let name = authz.identifier().to_string();
            let base = name.strip_prefix("*.").unwrap_or(&name).to_string();
            let challenge = authz.challenge(ChallengeType::Dns01).ok_or_else(|| {
                CoreError::Internal(format!("the ACME CA offers no dns-01 challenge for {name}"))
            })?;
            challenges.push(DnsChallenge {
                name,
                record: format!("_acme-challenge.{base}"),
                value: challenge.key_authorization().dns_value(),
            });
        }
        Ok((order.url().to_string(), challenges))
    }

    /// Asks the CA to revoke `der` (its own certificate, signed with this account's key) with
    /// the RFC 5280 reason `code`.
    pub async fn revoke(&self, der: &[u8], code: u8) -> Result<(), CoreError> {
        use instant_acme::RevocationReason as R;
        let reason = match code {
            1 => R::KeyCompromise,
            3 => R::AffiliationChanged,
            4 => R::Superseded,
            5 => R::CessationOfOperation,
            _ => R::Unspecified,
        };
        let certificate = rustls_pki_types::CertificateDer::from(der.to_vec());
        self.account
            .revoke(&instant_acme::RevocationRequest {
                certificate: &certificate,
                reason: Some(reason),
            })
            .await
            .map_err(|e| acme_error("revocation", e))
    }

    /// Tells the CA the records are published, waits for its verdict, and on success
    /// finalizes with a fresh P-256 key and downloads the chain.
    pub async fn finish_order(
        &self,
        url: &str,
        names: &[DnsName],
    ) -> Result<AcmeOutcome, CoreError> {
        let mut order = self
            .account
            .order(url.to_string())
            .await
            .map_err(|e| acme_error("order", e))?;
        {
            let mut authorizations = order.authorizations();
            while let Some(authz) = authorizations.next().await {
                let mut authz = authz.map_err(|e| acme_error("authorization", e))?;
                match authz.status {
                    AuthorizationStatus::Pending => {
                        let mut challenge =
                            authz.challenge(ChallengeType::Dns01).ok_or_else(|| {
                                CoreError::internal("the ACME CA offers no dns-01 challenge")
                            })?;
                        challenge
                            .set_ready()
                            .await
                            .map_err(|e| acme_error("challenge", e))?;
                    }
                    AuthorizationStatus::Valid => {}
                    other => {
                        return Ok(AcmeOutcome::Refused(format!(
                            "authorization for {} is {other:?}",
                            authz.identifier()
                        )));
                    }
                }
            }
        }
        // A CA that refuses marks the order invalid, or attaches a problem to it (which
        // instant-acme reports as an error); either way the challenges' problems say why.
        let status = match order.poll_ready(&retry()).await {
            Ok(status) => status,
            Err(instant_acme::Error::Api(problem)) => {
                let fallback = problem
                    .detail
                    .clone()
                    .unwrap_or_else(|| problem.to_string());
                return Ok(AcmeOutcome::Refused(
                    self.problems(&mut order, fallback).await,
                ));
            }
            Err(e) => return Err(acme_error("waiting for validation", e)),
        };
        if status != OrderStatus::Ready && status != OrderStatus::Valid {
            let fallback = "the ACME CA marked the order invalid".to_string();
            return Ok(AcmeOutcome::Refused(
                self.problems(&mut order, fallback).await,
            ));
        }
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(CoreError::internal)?;
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(ToString::to_string).collect::<Vec<_>>(),
        )
        .map_err(CoreError::internal)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params
            .serialize_request(&key)
            .map_err(CoreError::internal)?;
        if status == OrderStatus::Ready {
            order
                .finalize_csr(csr.der())
                .await
                .map_err(|e| acme_error("finalize", e))?;
        }
        let chain_pem = order
            .poll_certificate(&retry())
            .await
            .map_err(|e| acme_error("certificate download", e))?;
        Ok(AcmeOutcome::Issued {
            chain_pem,
            key_pkcs8: Zeroizing::new(key.serialize_der()),
        })
    }

    /// The problem details of an order's failed challenges, for the user.
    async fn problems(&self, order: &mut instant_acme::Order, fallback: String) -> String {
        let mut out = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(Ok(authz)) = authorizations.next().await {
            for c in &authz.challenges {
                if let Some(p) = &c.error {
                    let detail = p.detail.clone().unwrap_or_else(|| p.to_string());
                    let kind = p.r#type.clone().unwrap_or_default();
                    out.push(format!("{}: {detail} ({kind})", authz.identifier()));
                }
            }
        }
        if out.is_empty() {
            fallback
        } else {
            out.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: &str, detail: &str) -> instant_acme::Error {
        instant_acme::Error::Api(instant_acme::Problem {
            r#type: Some(kind.into()),
            detail: Some(detail.into()),
            status: Some(409),
            subproblems: Vec::new(),
        })
    }

    #[test]
    fn only_refusals_over_replaces_are_sent_again_without_it() {
        assert!(about_replaces(&problem(
            "urn:ietf:params:acme:error:alreadyReplaced",
            "certificate was already replaced"
        )));
        assert!(about_replaces(&problem(
            "urn:ietf:params:acme:error:malformed",
            "unknown certificate in replaces"
        )));
        assert!(about_replaces(&instant_acme::Error::Unsupported("ARI")));
        assert!(!about_replaces(&problem(
            "urn:ietf:params:acme:error:rejectedIdentifier",
            "name not allowed"
        )));
    }
}
