//! newOrder (with authorization reuse), order and authorization reads, finalize, download.

use certkeeper_acme::problem::ProblemType;
use certkeeper_ca::LeafName;
use certkeeper_domain::audit::{Actor, AuditAction, NewAuditEvent};
use certkeeper_domain::certificate::Scope;
use certkeeper_domain::ids::SslCertificateId;
use certkeeper_domain::names::DnsName;
use certkeeper_domain::pem;
use certkeeper_store::{AcmeOrderRow, IssuedCertificate, NewOrder};
use serde::Deserialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::accounts::random_id;
use super::{AcmeError, Authorization, Challenge, Identifier, Order, Signed, Subproblem};
use crate::Core;

/// How long a new order (and a new authorization) waits for its client.
const ORDER_LIFETIME: Duration = Duration::days(7);
/// The most identifiers one order may carry.
const MAX_IDENTIFIERS: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOrderPayload {
    identifiers: Vec<Identifier>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    not_before: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    not_after: Option<OffsetDateTime>,
    #[serde(default)]
    replaces: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FinalizePayload {
    csr: String,
}

/// A checked identifier: the name, and whether the order asked for its wildcard.
fn parse_identifier(id: &Identifier) -> Result<(DnsName, bool), Subproblem> {
    let sub = |problem, detail: String| Subproblem {
        problem,
        detail,
        identifier: id.value.clone(),
    };
    if id.kind != "dns" {
        return Err(sub(
            ProblemType::UnsupportedIdentifier,
            format!("only dns identifiers are supported, not {:?}", id.kind),
        ));
    }
    let (name, wildcard) = match id.value.strip_prefix("*.") {
        Some(rest) => (rest, true),
        None => (id.value.as_str(), false),
    };
    DnsName::parse(name).map(|n| (n, wildcard)).map_err(|e| {
        sub(
            ProblemType::RejectedIdentifier,
            format!("{:?}: {e}", id.value),
        )
    })
}

fn challenge(kind: &str) -> Result<Challenge, AcmeError> {
    Ok(Challenge {
        kind: kind.into(),
        token: random_id()? + &random_id()?,
        status: "pending".into(),
        validated_ms: None,
        error: None,
    })
}

impl Core {
    /// newOrder: checks the identifiers, reuses the account's live authorizations, creates
    /// the missing ones.
    pub async fn acme_new_order(&self, signed: &Signed) -> Result<Order, AcmeError> {
        let account = signed.account()?;
        let payload: NewOrderPayload = signed.jws.payload_as()?;
        if payload.identifiers.is_empty() || payload.identifiers.len() > MAX_IDENTIFIERS {
            return Err(AcmeError::malformed(format!(
                "an order needs 1 to {MAX_IDENTIFIERS} identifiers"
            )));
        }
        let policy = self.acme_policy(&signed.project).await?;
        let mut parsed = Vec::new();
        let mut subproblems = Vec::new();
        for id in &payload.identifiers {
            match parse_identifier(id) {
                Ok((name, _)) if !policy.allows_name(&name) => subproblems.push(Subproblem {
                    problem: ProblemType::RejectedIdentifier,
                    detail: format!(
                        "{:?} is not allowed in this project (allowed: {})",
                        id.value,
                        policy.allowed_suffixes.join(", ")
                    ),
                    identifier: id.value.clone(),
                }),
                Ok(p) => parsed.push(p),
                Err(s) => subproblems.push(s),
            }
        }
        if !subproblems.is_empty() {
            let mut e = AcmeError::new(
                subproblems[0].problem,
                400,
                "the order has identifiers this server will not issue for",
            );
            e.subproblems = subproblems;
            return Err(e);
        }
        parsed.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
        parsed.dedup();
        let now = self.now();
        let leaf_lifetime = self.issuance()?.leaf_lifetime;
        if let (Some(nb), Some(na)) = (payload.not_before, payload.not_after)
            && (na <= nb || na - nb > leaf_lifetime)
        {
            return Err(AcmeError::malformed(format!(
                "notAfter must follow notBefore, at most {} days later",
                leaf_lifetime.whole_days()
            )));
        }
        if let Some(replaced) = &payload.replaces {
            self.replaced_certificate(&signed.project, replaced).await?;
        }
        let expires_at = now + ORDER_LIFETIME;
        let mut ids = Vec::new();
        let mut created = Vec::new();
        for (name, wildcard) in &parsed {
            let reused = self
                .store
                .reusable_acme_authz(
                    &account.id,
                    name.as_str(),
                    *wildcard,
                    now + Duration::hours(1),
                )
                .await?;
            match reused {
                Some(row) => ids.push(row.id),
                None => {
                    let mut challenges = vec![challenge("dns-01")?];
                    if !wildcard {
                        challenges.insert(0, challenge("tls-alpn-01")?);
                        challenges.insert(0, challenge("http-01")?);
                    }
                    let authz = Authorization {
                        id: random_id()?,
                        account_id: account.id.clone(),
                        identifier: name.to_string(),
                        wildcard: *wildcard,
                        stored_status: "pending".into(),
                        expires_at,
                        challenges,
                    };
                    ids.push(authz.id.clone());
                    created.push(authz.to_row(signed.project.container_id, now));
                }
            }
        }
        let identifiers: Vec<Identifier> = parsed
            .iter()
            .map(|(n, w)| Identifier {
                kind: "dns".into(),
                value: if *w { format!("*.{n}") } else { n.to_string() },
            })
            .collect();
        let row = AcmeOrderRow {
            id: random_id()?,
            container_id: signed.project.container_id,
            account_id: account.id.clone(),
            status: "pending".into(),
            identifiers: serde_json::to_string(&identifiers).unwrap_or_default(),
            authorizations: serde_json::to_string(&ids).unwrap_or_default(),
            not_before: payload.not_before,
            not_after: payload.not_after,
            expires_at,
            error: None,
            certificate_id: None,
            replaces: payload.replaces,
            created_at: now,
        };
        self.store.insert_acme_order(&row, &created).await?;
        self.acme_order_by_id(signed, &row.id).await
    }

    /// The order `id`, which must be the signer's.
    pub async fn acme_order_by_id(&self, signed: &Signed, id: &str) -> Result<Order, AcmeError> {
        let account = signed.account()?;
        let row = self
            .store
            .acme_order(id)
            .await?
            .filter(|r| r.account_id == account.id)
            .ok_or_else(|| AcmeError::not_found("no such order for this account"))?;
        let ids: Vec<String> = serde_json::from_str(&row.authorizations).unwrap_or_default();
        let authzs = self
            .store
            .acme_authzs(&ids)
            .await?
            .into_iter()
            .map(Authorization::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Order::from_row(row, &authzs, self.now())
    }

    /// The authorization `id`, which must be the signer's. A payload of
    /// `{"status": "deactivated"}` deactivates it.
    pub async fn acme_authz(&self, signed: &Signed, id: &str) -> Result<Authorization, AcmeError> {
        let mut authz = self.acme_authz_of(signed, id).await?;
        if let Some(payload) = signed.payload()? {
            if payload.get("status").and_then(|s| s.as_str()) != Some("deactivated") {
                return Err(AcmeError::malformed(
                    "an authorization can only be changed to {\"status\": \"deactivated\"}",
                ));
            }
            let from = authz.stored_status.clone();
            if from == "pending" || from == "valid" {
                authz.stored_status = "deactivated".into();
                let row = authz.to_row(signed.project.container_id, self.now());
                self.store.update_acme_authz(&row, &from).await?;
            }
        }
        Ok(authz)
    }

    /// finalize: the CSR must name exactly the order's identifiers; the certificate is built
    /// by the built-in CA's policy and stored in the project's inventory.
    pub async fn acme_finalize(&self, signed: &Signed, id: &str) -> Result<Order, AcmeError> {
        let account = signed.account()?;
        let order = self.acme_order_by_id(signed, id).await?;
        if order.status != "ready" {
            return Err(AcmeError::new(
                ProblemType::OrderNotReady,
                403,
                format!("the order is {}, not ready", order.status),
            ));
        }
        let payload: FinalizePayload = signed.jws.payload_as()?;
        let der = certkeeper_acme::unb64(&payload.csr)
            .ok_or_else(|| AcmeError::new(ProblemType::BadCsr, 400, "csr is not base64url"))?;
        let csr = certkeeper_acme::csr::parse(&der)?;
        let policy = self.acme_policy(&signed.project).await?;
        if !policy.allows_key(csr.key) {
            return Err(AcmeError::new(
                ProblemType::BadCsr,
                400,
                format!(
                    "{} keys are not allowed in this project",
                    csr.key.policy_name()
                ),
            ));
        }
        let mut wanted: Vec<String> = order.identifiers.iter().map(|i| i.value.clone()).collect();
        wanted.sort();
        if csr.names != wanted {
            return Err(AcmeError::new(
                ProblemType::BadCsr,
                400,
                format!(
                    "the CSR names {:?}; the order is for {:?}",
                    csr.names, wanted
                ),
            ));
        }
        if !self
            .store
            .move_acme_order(id, "pending", "processing", None, None)
            .await?
        {
            return Err(AcmeError::new(
                ProblemType::OrderNotReady,
                403,
                "the order is already being finalized",
            ));
        }
        match self
            .issue_for_order(signed, &order, &csr, policy.max_lifetime_days)
            .await
        {
            Ok(certificate) => {
                self.store
                    .move_acme_order(id, "processing", "valid", None, Some(certificate))
                    .await?;
                self.outcomes.add("acme_finalize", "valid");
            }
            Err(e) => {
                let problem =
                    json!({"type": e.problem.urn(), "detail": e.detail, "status": e.status});
                self.store
                    .move_acme_order(
                        id,
                        "processing",
                        "invalid",
                        Some(&problem.to_string()),
                        None,
                    )
                    .await?;
                tracing::warn!(account = %account.id, order = %id, error = %e, "ACME finalize failed");
                self.outcomes.add("acme_finalize", "invalid");
            }
        }
        self.acme_order_by_id(signed, id).await
    }

    async fn issue_for_order(
        &self,
        signed: &Signed,
        order: &Order,
        csr: &certkeeper_acme::csr::CsrRequest,
        max_lifetime_days: Option<u32>,
    ) -> Result<certkeeper_domain::ids::CertificateId, AcmeError> {
        let account = signed.account()?;
        let project = &signed.project;
        let issuance = self.issuance()?;
        let now = self.now();
        // The primary name (CN) is the CSR's CN (the client's primary name, which lego and
        // certbot name their files after), else the order's first non-wildcard name.
        let mut names: Vec<String> = order.identifiers.iter().map(|i| i.value.clone()).collect();
        names.sort_by_key(|n| (Some(n) != csr.common_name.as_ref(), n.starts_with("*.")));
        let leaf_names: Vec<LeafName> = names.iter().cloned().map(LeafName::Dns).collect();
        let longest = match max_lifetime_days {
            Some(days) => issuance
                .leaf_lifetime
                .min(time::Duration::days(i64::from(days))),
            None => issuance.leaf_lifetime,
        };
        let lifetime = match (order.not_before, order.not_after) {
            (_, Some(na)) if na > now => (na - now).min(longest),
            _ => longest,
        };
        let issued = issuance
            .ca
            .issue_for_key(&leaf_names, &csr.spki_der, now, lifetime)
            .map_err(|e| {
                AcmeError::new(
                    ProblemType::BadCsr,
                    400,
                    format!("the built-in CA refused: {e}"),
                )
            })?;
        let summary = certkeeper_domain::x509::summarize_der(&issued.der)
            .map_err(|e| AcmeError::internal(format!("issued certificate: {e}")))?;
        // A `replaces` still unrenewed links the successor (checked again: another order may
        // have replaced it since).
        let renewed_from = match &order.replaces {
            Some(id) => self
                .replaced_certificate(project, id)
                .await
                .ok()
                .map(|r| r.id),
            None => None,
        };
        let actor = Actor::AcmeAccount {
            id: account.id.clone(),
        };
        let new = NewOrder {
            ssl_certificate_id: SslCertificateId::new_random(),
            project_id: project.id,
            container_id: project.container_id,
            scope: Scope::Project,
            names: names.clone(),
            challenges: Vec::new(),
            issuer: crate::issuance::IssuerKind::Builtin.as_str().into(),
            external_ref: Some(format!("acme-order:{}", order.id)),
            expires_at: now,
            at: now,
            renewed_from,
            issue_job_at: None,
        };
        let audit = |action, detail: serde_json::Value| NewAuditEvent {
            at: now,
            actor: actor.clone(),
            action,
            project: Some(project.id),
            target: String::new(),
            detail: detail.to_string(),
        };
        let create_audit = audit(
            AuditAction::CertificateCreate,
            json!({"names": names, "issuer": "builtin", "via": "acme", "acmeOrder": order.id}),
        );
        let issue_audit = audit(
            AuditAction::CertificateIssue,
            json!({"serialNumber": summary.serial_number, "issuer": "builtin", "via": "acme", "keyType": csr.key.policy_name()}),
        );
        let stored = IssuedCertificate {
            summary,
            der: issued.der,
            chain_pem: pem::certificates(issued.chain.iter().map(Vec::as_slice)),
            private_key_sealed: None,
            // The ACME client renews its own certificates.
            renew_at: None,
            record_validation: false,
        };
        let record = self
            .store
            .create_issued(new, stored, create_audit, issue_audit)
            .await?;
        Ok(record.id)
    }

    /// The certificate of a valid order: leaf and chain, PEM.
    pub async fn acme_certificate(
        &self,
        signed: &Signed,
        order_id: &str,
    ) -> Result<String, AcmeError> {
        let order = self.acme_order_by_id(signed, order_id).await?;
        let Some(id) = order.certificate_id.filter(|_| order.status == "valid") else {
            return Err(AcmeError::not_found("this order has no certificate"));
        };
        let stored = self.store.certificate_material(id).await?.ok_or_else(|| {
            AcmeError::not_found("the certificate was deleted from the inventory")
        })?;
        let der = stored
            .der
            .ok_or_else(|| AcmeError::internal("the stored certificate has no DER"))?;
        Ok(format!(
            "{}{}",
            pem::encode("CERTIFICATE", &der),
            stored.chain_pem
        ))
    }
}
