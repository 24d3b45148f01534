//! Challenges: a POST starts the validation, which runs on its own task; the response waits
//! a moment for it, so a quick validation is answered in the same round trip and a slow one
//! is polled (with Retry-After).

use std::net::SocketAddr;
use std::time::Duration;

use certkeeper_acme::problem::ProblemType;
use certkeeper_dns::{ExpectedTxt, TxtOutcome};
use serde_json::{Value, json};

use super::{AcmeError, Authorization, Challenge, Signed};
use crate::{Core, CoreError};

/// How long a challenge POST waits for its validation before answering `processing`.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);
/// When the `acme-validate` job finishes a validation its node did not (it crashed, or was
/// stopped): well past the slowest validation (an http-01 fetch is cut at 10 s, with
/// redirects and lookups a few of those), so a live node always finishes first.
const RECOVER_AFTER: time::Duration = time::Duration::minutes(2);
/// One http-01 fetch's limit.
const HTTP01_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn problem(kind: ProblemType, detail: impl Into<String>) -> Value {
    json!({"type": kind.urn(), "detail": detail.into(), "status": 400})
}

impl Core {
    /// A client's "respond to this challenge".
    pub async fn acme_challenge(
        &self,
        signed: &Signed,
        authz_id: &str,
        kind: &str,
    ) -> Result<(Authorization, Challenge), AcmeError> {
        let account = signed.account()?;
        let mut authz = self.acme_authz_of(signed, authz_id).await?;
        let index = authz
            .challenges
            .iter()
            .position(|c| c.kind == kind)
            .ok_or_else(|| AcmeError::not_found("no such challenge"))?;
        // POST-as-GET reads; any JSON object (normally `{}`) asks for validation.
        if signed.payload()?.is_none()
            || authz.status_at(self.now()) != "pending"
            || authz.challenges[index].status != "pending"
        {
            let c = authz.challenges[index].clone();
            return Ok((authz, c));
        }
        authz.challenges[index].status = "processing".into();
        let now = self.now();
        let row = authz.to_row(signed.project.container_id, now);
        if !self
            .store
            .start_acme_validation(&row, now + RECOVER_AFTER, now)
            .await?
        {
            let fresh = self.acme_authz_of(signed, authz_id).await?;
            let c = fresh.challenges[index].clone();
            return Ok((fresh, c));
        }
        let key_authorization = certkeeper_acme::key_authorization(
            &authz.challenges[index].token,
            &account.jwk.thumbprint(),
        );
        let core = self.clone();
        let project = signed.project.clone();
        let task_authz = authz.clone();
        let task = tokio::spawn(async move {
            core.run_validation(&project, task_authz, index, key_authorization)
                .await
        });
        let _ = tokio::time::timeout(ANSWER_WITHIN, task).await;
        let fresh = self.acme_authz_of(signed, authz_id).await?;
        let c = fresh.challenges[index].clone();
        Ok((fresh, c))
    }

    /// The authorization `id`, which must be the signer's.
    pub(super) async fn acme_authz_of(
        &self,
        signed: &Signed,
        id: &str,
    ) -> Result<Authorization, AcmeError> {
        let account = signed.account()?;
        let row = self
            .store
            .acme_authz(id)
            .await?
            .filter(|r| r.account_id == account.id)
            .ok_or_else(|| AcmeError::not_found("no such authorization for this account"))?;
        Authorization::try_from(row)
    }

    /// Checks the challenge and records the outcome on the authorization.
    async fn run_validation(
        &self,
        project: &certkeeper_domain::project::Project,
        mut authz: Authorization,
        index: usize,
        key_authorization: String,
    ) {
        let outcome = match authz.challenges[index].kind.as_str() {
            "http-01" => self.check_http01(&authz, &key_authorization).await,
            "dns-01" => self.check_dns01(&authz, &key_authorization).await,
            "tls-alpn-01" => self.check_tlsalpn01(&authz, &key_authorization).await,
            other => Err(problem(
                ProblemType::Malformed,
                format!("unknown challenge {other}"),
            )),
        };
        let now = self.now();
        let challenge = &mut authz.challenges[index];
        match outcome {
            Ok(()) => {
                challenge.status = "valid".into();
                challenge.validated_ms = Some(now.unix_timestamp() * 1000);
                authz.stored_status = "valid".into();
                let reuse_days = match self.lifecycle_of(project).await {
                    Ok(l) => l.validation.reuse_days,
                    Err(_) => 30,
                };
                authz.expires_at = now + time::Duration::days(i64::from(reuse_days.max(1)));
            }
            Err(error) => {
                challenge.status = "invalid".into();
                challenge.error = Some(error);
                authz.stored_status = "invalid".into();
            }
        }
        let row = authz.to_row(project.container_id, now);
        if let Err(e) = self.store.finish_acme_validation(&row).await {
            tracing::error!(authz = %authz.id, error = %e, "recording an ACME validation failed");
        }
    }

    /// The `acme-validate` job: runs the validation of a challenge left `processing` (its node
    /// stopped before recording the outcome). Nothing to do when it was recorded.
    pub(crate) async fn recover_acme_validation(&self, authz_id: &str) -> Result<(), CoreError> {
        let Some(row) = self.store.acme_authz(authz_id).await? else {
            return Ok(());
        };
        let container = row.container_id;
        let authz = Authorization::try_from(row).map_err(|e| CoreError::internal(e.detail))?;
        let Some(index) = authz
            .challenges
            .iter()
            .position(|c| c.status == "processing")
        else {
            return Ok(());
        };
        if authz.stored_status != "pending" {
            return Ok(());
        }
        let account = self
            .store
            .acme_account(&authz.account_id)
            .await?
            .ok_or_else(|| {
                CoreError::internal(format!("authorization {authz_id} has no account"))
            })?;
        let account =
            super::Account::try_from(account).map_err(|e| CoreError::internal(e.detail))?;
        let project = self
            .store
            .project_by_container(container)
            .await?
            .ok_or_else(|| {
                CoreError::internal(format!("authorization {authz_id} has no project"))
            })?;
        let key_authorization = certkeeper_acme::key_authorization(
            &authz.challenges[index].token,
            &account.jwk.thumbprint(),
        );
        tracing::info!(authz = %authz_id, "finishing an ACME validation its node left");
        self.run_validation(&project, authz, index, key_authorization)
            .await;
        Ok(())
    }

    /// The address a validation of `name` connects to: its first A or AAAA record through
    /// the configured resolver.
    pub(super) async fn address_of(&self, name: &str) -> Result<std::net::IpAddr, Value> {
        let issuance = self
            .issuance()
            .map_err(|e| problem(ProblemType::ServerInternal, e.to_string()))?;
        let ips = issuance
            .dns
            .lookup_ips(name)
            .await
            .map_err(|e| problem(ProblemType::Dns, format!("looking up {name}: {e}")))?;
        ips.first()
            .copied()
            .ok_or_else(|| problem(ProblemType::Dns, format!("{name} has no A or AAAA record")))
    }

    async fn check_http01(&self, authz: &Authorization, expected: &str) -> Result<(), Value> {
        let name = &authz.identifier;
        let ip = self.address_of(name).await?;
        let port = self.acme.config.http01_port;
        let token = authz
            .challenges
            .iter()
            .find(|c| c.kind == "http-01")
            .map(|c| c.token.clone())
            .unwrap_or_default();
        let url = format!("http://{name}:{port}/.well-known/acme-challenge/{token}");
        let client = reqwest::Client::builder()
            .resolve(name, SocketAddr::new(ip, port))
            .timeout(HTTP01_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()
            .map_err(|e| problem(ProblemType::ServerInternal, e.to_string()))?;
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| problem(ProblemType::Connection, format!("fetching {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(problem(
                ProblemType::Unauthorized,
                format!("{url} answered {}", response.status()),
            ));
        }
        let body = response
            .text()
            .await
            .map_err(|e| problem(ProblemType::Connection, format!("reading {url}: {e}")))?;
        if body.trim() == expected {
            Ok(())
        } else {
            Err(problem(
                ProblemType::IncorrectResponse,
                format!("{url} did not answer with the key authorization"),
            ))
        }
    }

    async fn check_dns01(
        &self,
        authz: &Authorization,
        key_authorization: &str,
    ) -> Result<(), Value> {
        let issuance = self
            .issuance()
            .map_err(|e| problem(ProblemType::ServerInternal, e.to_string()))?;
        let record = format!("_acme-challenge.{}", authz.identifier);
        let expected = ExpectedTxt {
            name: record.clone(),
            value: certkeeper_acme::dns01_value(key_authorization),
        };
        match issuance
            .dns
            .check(std::slice::from_ref(&expected))
            .await
            .pop()
        {
            Some(TxtOutcome::Found) => Ok(()),
            Some(TxtOutcome::Missing) => Err(problem(
                ProblemType::Unauthorized,
                format!("no TXT record at {record}"),
            )),
            Some(TxtOutcome::WrongValue { .. }) => Err(problem(
                ProblemType::IncorrectResponse,
                format!("the TXT records at {record} do not hold the expected value"),
            )),
            Some(TxtOutcome::LookupFailed(e)) => Err(problem(
                ProblemType::Dns,
                format!("looking up {record}: {e}"),
            )),
            None => Err(problem(ProblemType::ServerInternal, "no DNS answer")),
        }
    }
}
