//! The ACME server (RFC 8555) in front of the built-in CA: the "registration authority" for
//! ACME clients. The axum face (`certkeeper-server`'s `acme/`) parses HTTP and renders JSON;
//! this module decides: who signed a request, whether its nonce is fresh and unused, what an
//! order needs, whether a challenge passed, and what certificate a finalize gets.
//!
//! Issued certificates land in the project's inventory through the same store operation as
//! any other issuance, so reports, notifications and the audit trail count them.

pub(crate) mod accounts;
mod admin;
mod ari;
mod errors;
mod objects;
mod orders;
mod policy;
mod revoke;
mod tls_alpn;
mod validation;

use std::sync::Arc;

use certkeeper_acme::jwk::Jwk;
use certkeeper_acme::jws::{self, Jws, KeyRef};
use certkeeper_acme::nonce::{NONCE_LIFETIME_MS, NonceKey};
use certkeeper_domain::ids::ProjectId;
use certkeeper_domain::project::Project;
use serde_json::Value;

pub use errors::{AcmeError, Subproblem};
pub use objects::{Account, AccountStatus, Authorization, Challenge, Identifier, Order};
pub use policy::AcmePolicy;

use crate::Core;

/// Where validations connect, as `serve --acme-http01-port` sets it.
#[derive(Debug, Clone)]
pub struct AcmeServerConfig {
    pub http01_port: u16,
    /// `serve --acme-tlsalpn01-port`.
    pub tlsalpn01_port: u16,
}

impl Default for AcmeServerConfig {
    fn default() -> Self {
        Self {
            http01_port: 80,
            tlsalpn01_port: 443,
        }
    }
}

/// The ACME server's own state: the nonce key (derived from the master key, so every node
/// mints and accepts the same nonces) and the validation settings.
#[derive(Debug)]
pub(crate) struct AcmeServer {
    nonces: NonceKey,
    config: AcmeServerConfig,
}

impl AcmeServer {
    pub(crate) fn new(master_key: &certkeeper_domain::sealing::MasterKey) -> Self {
        Self {
            nonces: NonceKey::new(&master_key.derive("certkeeper acme nonces v1")),
            config: AcmeServerConfig::default(),
        }
    }
}

/// The URLs of one project's ACME directory, built from `--public-url` (never the Host
/// header). The face renders with them; the core reads account URLs (`kid`) back.
#[derive(Debug, Clone)]
pub struct Links {
    /// `{public_url}/acme/{projectId}`
    pub base: String,
}

impl Links {
    pub fn new(public_url: &str, project: ProjectId) -> Self {
        Self {
            base: format!("{public_url}/acme/{project}"),
        }
    }
    pub fn directory(&self) -> String {
        format!("{}/directory", self.base)
    }
    pub fn account(&self, id: &str) -> String {
        format!("{}/account/{id}", self.base)
    }
    pub fn order(&self, id: &str) -> String {
        format!("{}/order/{id}", self.base)
    }
    pub fn finalize(&self, id: &str) -> String {
        format!("{}/order/{id}/finalize", self.base)
    }
    pub fn certificate(&self, id: &str) -> String {
        format!("{}/cert/{id}", self.base)
    }
    pub fn authz(&self, id: &str) -> String {
        format!("{}/authz/{id}", self.base)
    }
    pub fn challenge(&self, authz: &str, kind: &str) -> String {
        format!("{}/chall/{authz}/{kind}", self.base)
    }
    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }
}

/// A request whose signature, URL and nonce checked out.
#[derive(Debug)]
pub struct Signed {
    pub project: Project,
    /// The signer's account (`None` for a request signed by an embedded key: newAccount).
    pub account: Option<Account>,
    /// The key that signed.
    pub jwk: Jwk,
    pub jws: Jws,
}

impl Signed {
    pub fn payload(&self) -> Result<Option<Value>, AcmeError> {
        Ok(self.jws.payload()?)
    }

    /// The signing account; requests that need one refuse an embedded key.
    pub fn account(&self) -> Result<&Account, AcmeError> {
        self.account.as_ref().ok_or_else(|| {
            AcmeError::malformed("this request must be signed with an account's key id (kid)")
        })
    }
}

/// Which key a request may be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// `kid`: an existing account.
    Account,
    /// `jwk`: newAccount.
    EmbeddedKey,
    /// Either: revokeCert, signed by an account or by the certificate's own key.
    AccountOrKey,
}

impl Core {
    fn acme(&self) -> &AcmeServer {
        &self.acme
    }

    /// Sets where validations connect.
    pub fn with_acme_server(mut self, config: AcmeServerConfig) -> Self {
        let mut server = AcmeServer::new(&self.master_key);
        server.config = config;
        self.acme = Arc::new(server);
        self
    }

    /// The project behind `/acme/{projectId}`.
    pub async fn acme_project(&self, id: ProjectId) -> Result<Project, AcmeError> {
        if let Some(p) = self.project_cache.get(id) {
            return Ok(p);
        }
        let project = self
            .store
            .project(id)
            .await?
            .ok_or_else(|| AcmeError::not_found("no ACME directory for this project"))?;
        self.project_cache.put(&project);
        Ok(project)
    }

    /// A fresh nonce (no storage: see `certkeeper_acme::nonce`).
    pub fn acme_new_nonce(&self) -> Result<String, AcmeError> {
        self.acme()
            .nonces
            .mint(self.now_ms())
            .map_err(|e| AcmeError::internal(e.to_string()))
    }

    fn now_ms(&self) -> i64 {
        let now = self.now();
        now.unix_timestamp() * 1000 + i64::from(now.millisecond())
    }

    /// Checks a request body: JWS shape, the `url` it was sent to, the signer, the signature,
    /// and last the nonce (consumed only by a request that is otherwise good, so a forged
    /// request cannot burn a client's nonce).
    pub async fn acme_verify(
        &self,
        project: Project,
        links: &Links,
        url: &str,
        body: &[u8],
        signer: Signer,
    ) -> Result<Signed, AcmeError> {
        let jws = jws::parse(body)?;
        if jws.header.url != url {
            return Err(AcmeError::unauthorized(format!(
                "the JWS url {:?} is not the URL this request was sent to ({url})",
                jws.header.url
            )));
        }
        let (account, jwk) = match (&jws.header.key, signer) {
            (KeyRef::Jwk(jwk), Signer::EmbeddedKey | Signer::AccountOrKey) => (None, jwk.clone()),
            (KeyRef::Kid(kid), Signer::Account | Signer::AccountOrKey) => {
                let account = self.account_by_url(&project, links, kid).await?;
                let jwk = account.jwk.clone();
                (Some(account), jwk)
            }
            (KeyRef::Jwk(_), Signer::Account) => {
                return Err(AcmeError::malformed(
                    "this request must be signed with an account's key id (kid), not an embedded jwk",
                ));
            }
            (KeyRef::Kid(_), Signer::EmbeddedKey) => {
                return Err(AcmeError::malformed(
                    "this request must carry its public key (jwk), not a kid",
                ));
            }
        };
        jws.verify(&jwk)?;
        let nonce = jws.header.nonce.as_deref().unwrap_or_default();
        let minted = self
            .acme()
            .nonces
            .check(nonce, self.now_ms())
            .map_err(|e| AcmeError::bad_nonce(e.to_string()))?;
        if !self
            .store
            .use_acme_nonce(nonce, minted + NONCE_LIFETIME_MS)
            .await?
        {
            return Err(AcmeError::bad_nonce("the nonce was already used"));
        }
        Ok(Signed {
            project,
            account,
            jwk,
            jws,
        })
    }

    /// Forgets used nonces past their lifetime (part of the periodic sweep).
    pub(crate) async fn sweep_acme_nonces(&self) -> Result<u64, crate::CoreError> {
        Ok(self.store.sweep_acme_nonces(self.now()).await?)
    }
}
