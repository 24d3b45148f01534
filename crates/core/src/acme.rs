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
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, ExternalAccountKey,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
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

    /// Opens an order for `names`; returns its URL and the DNS-01 records the CA asks for.
    pub async fn open_order(
        &self,
        names: &[DnsName],
    ) -> Result<(String, Vec<DnsChallenge>), CoreError> {
        let identifiers: Vec<Identifier> = names
            .iter()
            .map(|n| Identifier::Dns(n.to_string()))
            .collect();
        let mut order = self
            .account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|e| acme_error("new order", e))?;
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
