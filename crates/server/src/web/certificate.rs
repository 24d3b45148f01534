//! One certificate: every field, its chain, renewal links, history and audit trail, downloads
//! of the certificate and chain (never the private key), and its actions: validate a pending
//! order, renew, revoke. Actions redirect back here with the inventory link they came from,
//! so filters survive them.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use certkeeper_domain::certificate::CertificateContent;
use certkeeper_domain::ids::CertificateId;
use certkeeper_domain::order::OrderStatus;
use certkeeper_domain::revocation::RevocationReason;
use certkeeper_domain::x509;
use serde::Deserialize;

use super::inventory::{days_left, safe_back, short_dn, status_name};
use super::{Chrome, SignedIn, WebError, see_other, urlencode, utc};
use crate::AppState;

/// A certificate id from the path, refused in the dashboard's shape when it is not one.
fn certificate_id(raw: &str, chrome: &Chrome) -> Result<CertificateId, WebError> {
    raw.parse::<i64>()
        .map(CertificateId)
        .map_err(|_| WebError::bad_request(format!("{raw:?} is not a certificate id"), chrome))
}

/// Where the DNS provider's publishing stands.
pub(crate) struct Progress {
    pub state: &'static str,
    pub attempts: u32,
    pub due: String,
    pub last_error: Option<String>,
}

pub(crate) struct ChainEntry {
    pub subject: String,
    pub issuer: String,
    pub expires: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/certificate.html")]
struct CertificatePage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    id: i64,
    title: String,
    back: Option<String>,
    fields: Vec<(&'static str, String)>,
    names: Vec<String>,
    status: &'static str,
    days_left: String,
    days_class: &'static str,
    issued: bool,
    revocable: bool,
    can_write: bool,
    pending: bool,
    /// Refresh while a DNS provider is publishing the records.
    refresh: bool,
    /// The provider job's progress.
    provider: Option<Progress>,
    challenges: Vec<(String, String, String)>,
    problem: Option<String>,
    renewed_from: Option<i64>,
    renewed_by: Option<i64>,
    renew_after: Option<String>,
    chain: Vec<ChainEntry>,
    chain_error: Option<String>,
    history: Vec<(String, &'static str)>,
    audit: Vec<(String, String, String)>,
    reasons: Vec<&'static str>,
}

#[derive(Deserialize, Default)]
pub(crate) struct PageQuery {
    back: Option<String>,
    notice: Option<String>,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(raw): Path<String>,
    super::WebQuery(q): super::WebQuery<PageQuery>,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/inventory");
    let id = certificate_id(&raw, &chrome)?;
    let core = &state.core;
    let d = core
        .certificate_detail(signed_in.who(), id)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let now = core.now();
    let r = &d.record;
    let summary = r.summary();
    let (days, class) = days_left(now, summary.map(|s| s.not_after));
    let mut fields = vec![
        ("Project", format!("{} ({})", d.project.name, r.project_id)),
        ("Type", r.certificate_type.as_str().to_string()),
        ("Scope", r.scope.name().to_string()),
    ];
    if let Some(s) = summary {
        fields.extend([
            ("Subject", s.subject.clone()),
            ("Issuer", s.issuer.clone()),
            ("Serial number", s.serial_number.clone()),
            ("SHA-1 thumbprint", s.thumbprint_sha1.clone()),
            ("SHA-256 fingerprint", s.fingerprint_sha256.clone()),
            ("Public key", s.public_key_info.clone()),
            ("Signature algorithm", s.signature_algorithm.clone()),
            ("Not before", utc(s.not_before)),
            ("Not after", utc(s.not_after)),
        ]);
    }
    fields.extend([
        (
            "Private key",
            if d.has_private_key {
                "stored, encrypted; never shown here".to_string()
            } else {
                "not held by certkeeper".to_string()
            },
        ),
        ("Added", utc(r.created_at)),
        ("Last changed", utc(r.last_modified)),
    ]);
    let order = r.order();
    let pending = order.is_some_and(|o| o.status == OrderStatus::Pending);
    let (chain, chain_error) = match x509::pem_certificates(&d.chain_pem) {
        Ok(ders) => (
            ders.iter()
                .filter_map(|der| x509::summarize_der(der).ok())
                .map(|s| ChainEntry {
                    subject: short_dn(&s.subject),
                    issuer: short_dn(&s.issuer),
                    expires: utc(s.not_after),
                })
                .collect(),
            None,
        ),
        Err(e) if !d.chain_pem.trim().is_empty() => (Vec::new(), Some(e.to_string())),
        Err(_) => (Vec::new(), None),
    };
    let back = safe_back(q.back.as_deref());
    let body = CertificatePage {
        notice: q.notice.filter(|n| n.len() <= 200),
        id: r.id.0,
        title: summary
            .and_then(|s| s.common_name.clone())
            .unwrap_or_else(|| r.domain_name.clone()),
        back,
        fields,
        names: std::iter::once(r.domain_name.clone())
            .chain(r.additional_names.iter().cloned())
            .collect(),
        status: status_name(r.status_at(now)),
        days_left: days,
        days_class: class,
        issued: summary.is_some(),
        can_write: chrome.can_write,
        revocable: chrome.can_write
            && matches!(&r.content, CertificateContent::Issued(_, o) if o.status == OrderStatus::Issued),
        pending,
        refresh: pending && d.issue_job.is_some(),
        provider: d.issue_job.as_ref().map(|j| Progress {
            state: j.state.as_str(),
            attempts: j.attempts,
            due: utc(j.due_at),
            last_error: j.last_error.clone(),
        }),
        challenges: order
            .map(|o| {
                o.challenges
                    .iter()
                    .map(|c| (c.name.clone(), c.record.clone(), c.value.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        problem: order.and_then(|o| o.problem.clone()),
        renewed_from: r.lineage.renewed_from.map(|c| c.0),
        renewed_by: r.lineage.renewed_by.map(|c| c.0),
        renew_after: r.lineage.renew_after.map(utc),
        chain,
        chain_error,
        history: d
            .history
            .iter()
            .map(|(s, at)| (utc(*at), s.as_str()))
            .collect(),
        audit: d
            .audit
            .iter()
            .map(|e| (utc(e.at), e.action.clone(), e.actor.clone()))
            .collect(),
        reasons: RevocationReason::ALL.iter().map(|r| r.as_str()).collect(),
        chrome: Some(chrome),
    };
    Ok(body.into_response())
}

#[derive(Deserialize)]
pub(crate) struct DownloadQuery {
    what: Option<String>,
}

/// The certificate, its chain, or both, as PEM files.
pub(crate) async fn download(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(raw): Path<String>,
    super::WebQuery(q): super::WebQuery<DownloadQuery>,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/inventory");
    let id = certificate_id(&raw, &chrome)?;
    let who = signed_in.who();
    let core = &state.core;
    let (_, project) = core
        .reachable_certificate(who, id)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let full = core
        .download_certificate(who, project.id, id)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    // The stored PEM is the certificate followed by its chain.
    let split = full
        .find("-----END CERTIFICATE-----")
        .map_or(full.len(), |i| {
            let end = i + "-----END CERTIFICATE-----".len();
            end + full[end..].len() - full[end..].trim_start_matches(['\r', '\n']).len()
        });
    let (leaf, chain) = full.split_at(split);
    let (body, name) = match q.what.as_deref() {
        None | Some("fullchain") => (full.clone(), "fullchain.pem"),
        Some("certificate") => (leaf.to_string(), "cert.pem"),
        Some("chain") => (chain.to_string(), "chain.pem"),
        Some(other) => {
            return Err(WebError::bad_request(
                format!("what must be certificate, chain or fullchain, not {other:?}"),
                &chrome,
            ));
        }
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}-{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    back: Option<String>,
    reason: Option<String>,
}

/// Back to the certificate's page, carrying the inventory link and a notice.
fn back_to(id: CertificateId, back: Option<&str>, notice: &str) -> Response {
    let mut to = format!("/ui/certificates/{id}?notice={}", urlencode(notice));
    if let Some(b) = safe_back(back) {
        to.push_str(&format!("&back={}", urlencode(&b)));
    }
    see_other(&to)
}

enum Action {
    Validate,
    Renew,
    Revoke,
}

async fn act(
    state: AppState,
    signed_in: SignedIn,
    raw: String,
    form: ActionForm,
    action: Action,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/inventory");
    signed_in.check_csrf(&form.csrf, &chrome)?;
    let id = certificate_id(&raw, &chrome)?;
    let who = signed_in.who();
    let core = &state.core;
    let (_, project) = core
        .reachable_certificate(who, id)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let back = form.back.as_deref();
    match action {
        Action::Validate => {
            let r = core
                .validate_certificate(who, project.id, id)
                .await
                .map_err(|e| WebError::core(e, &chrome))?;
            let notice = if r.summary().is_some() {
                "Validated: the certificate is issued."
            } else {
                "The records are not all visible yet; the order is still pending."
            };
            Ok(back_to(id, back, notice))
        }
        Action::Renew => {
            let r = core
                .renew_certificate(who, project.id, id)
                .await
                .map_err(|e| WebError::core(e, &chrome))?;
            Ok(back_to(
                r.id,
                back,
                "Renewal started: this is the new certificate.",
            ))
        }
        Action::Revoke => {
            let reason = match form.reason.as_deref().filter(|r| !r.is_empty()) {
                None => RevocationReason::Unspecified,
                Some(r) => r
                    .parse::<RevocationReason>()
                    .map_err(|e| WebError::bad_request(e, &chrome))?,
            };
            core.revoke_certificate(who, project.id, id, reason)
                .await
                .map_err(|e| WebError::core(e, &chrome))?;
            Ok(back_to(id, back, "Revoked."))
        }
    }
}

pub(crate) async fn validate(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(raw): Path<String>,
    super::WebForm(form): super::WebForm<ActionForm>,
) -> Result<Response, WebError> {
    act(state, signed_in, raw, form, Action::Validate).await
}

pub(crate) async fn renew(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(raw): Path<String>,
    super::WebForm(form): super::WebForm<ActionForm>,
) -> Result<Response, WebError> {
    act(state, signed_in, raw, form, Action::Renew).await
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(raw): Path<String>,
    super::WebForm(form): super::WebForm<ActionForm>,
) -> Result<Response, WebError> {
    act(state, signed_in, raw, form, Action::Revoke).await
}

/// The most certificates one bulk action takes (one page of the inventory, at its largest).
const BULK_MAX: usize = certkeeper_domain::browse::MAX_BROWSE_PAGE as usize;

/// Renews or revokes the selected certificates, one by one with the same checks as one at a
/// time, and goes back to the filtered inventory with what happened.
pub(crate) async fn bulk(
    State(state): State<AppState>,
    signed_in: SignedIn,
    axum::extract::RawForm(body): axum::extract::RawForm,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/inventory");
    let (mut csrf, mut action, mut back, mut ids) =
        (String::new(), String::new(), None, Vec::new());
    for (k, v) in form_urlencoded::parse(&body) {
        match &*k {
            "csrf" => csrf = v.into_owned(),
            "action" => action = v.into_owned(),
            "back" => back = Some(v.into_owned()),
            "ids" => ids.push(certificate_id(&v, &chrome)?),
            _ => {}
        }
    }
    signed_in.check_csrf(&csrf, &chrome)?;
    if ids.is_empty() {
        return Err(WebError::bad_request(
            "select at least one certificate",
            &chrome,
        ));
    }
    if ids.len() > BULK_MAX {
        return Err(WebError::bad_request(
            format!("select at most {BULK_MAX} certificates at a time"),
            &chrome,
        ));
    }
    let action = match action.as_str() {
        "renew" => Action::Renew,
        "revoke" => Action::Revoke,
        other => {
            return Err(WebError::bad_request(
                format!("action must be renew or revoke, not {other:?}"),
                &chrome,
            ));
        }
    };
    let who = signed_in.who();
    let core = &state.core;
    let (mut done, mut failed) = (0usize, Vec::new());
    for id in ids {
        let result = match core.reachable_certificate(who, id).await {
            Ok((_, project)) => match action {
                Action::Renew => core
                    .renew_certificate(who, project.id, id)
                    .await
                    .map(|_| ()),
                Action::Revoke => core
                    .revoke_certificate(who, project.id, id, RevocationReason::Unspecified)
                    .await
                    .map(|_| ()),
                Action::Validate => Ok(()),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => done += 1,
            Err(
                e
                @ (certkeeper_core::CoreError::Store(_) | certkeeper_core::CoreError::Internal(_)),
            ) => {
                return Err(WebError::core(e, &chrome));
            }
            Err(e) => failed.push(format!("{id}: {e}")),
        }
    }
    let verb = match action {
        Action::Renew => "Renewal started for",
        _ => "Revoked",
    };
    let mut notice = format!(
        "{verb} {done} certificate{}.",
        if done == 1 { "" } else { "s" }
    );
    if !failed.is_empty() {
        notice.push_str(&format!(" Not done: {}", failed.join("; ")));
    }
    let to = safe_back(back.as_deref()).unwrap_or_else(|| "/ui/inventory".into());
    let sep = if to.contains('?') { '&' } else { '?' };
    Ok(see_other(&format!(
        "{to}{sep}notice={}",
        urlencode(&notice)
    )))
}
