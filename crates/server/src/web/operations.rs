//! The lifecycle's moving parts: scheduled jobs with their failures (admins), and notification
//! rules with their delivery log.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use certkeeper_domain::job::JobState;
use certkeeper_domain::notification::Channel;
use serde::Deserialize;

use super::{Chrome, SignedIn, WebError, WebQuery, utc};
use crate::AppState;

const JOBS_SHOWN: i64 = 200;
const DELIVERIES_SHOWN: i64 = 10;

pub(crate) struct JobRow {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub state: &'static str,
    pub due: String,
    pub attempts: u32,
    pub last_error: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/jobs.html")]
struct JobsPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    state: String,
    states: Vec<&'static str>,
    jobs: Vec<JobRow>,
}

#[derive(Deserialize)]
pub(crate) struct JobsQuery {
    state: Option<String>,
}

pub(crate) async fn jobs(
    State(state): State<AppState>,
    signed_in: SignedIn,
    WebQuery(q): WebQuery<JobsQuery>,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/jobs");
    let wanted = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<JobState>()
                .map_err(|e| WebError::bad_request(e, &chrome))?,
        ),
    };
    let jobs = state
        .core
        .list_jobs(signed_in.who(), wanted, None, JOBS_SHOWN)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    Ok(JobsPage {
        chrome: Some(chrome),
        notice: None,
        state: wanted.map(|s| s.as_str().to_string()).unwrap_or_default(),
        states: JobState::ALL.iter().map(|s| s.as_str()).collect(),
        jobs: jobs
            .into_iter()
            .map(|j| JobRow {
                id: j.id,
                kind: j.kind.to_string(),
                subject: j.subject,
                state: j.state.as_str(),
                due: utc(j.due_at),
                attempts: j.attempts,
                last_error: j.last_error.unwrap_or_default(),
            })
            .collect(),
    }
    .into_response())
}

pub(crate) struct RuleRow {
    pub name: String,
    pub project: String,
    pub channel: String,
    pub events: String,
    pub disabled: Option<String>,
    pub deliveries: Vec<(String, String, String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/notifications.html")]
struct NotificationsPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    rules: Vec<RuleRow>,
}

pub(crate) async fn notifications(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/notifications");
    let core = &state.core;
    let who = signed_in.who();
    let projects = core
        .visible_projects(who)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let mut rules = Vec::new();
    for p in &projects {
        let views = core
            .list_rules(who, p.id)
            .await
            .map_err(|e| WebError::core(e, &chrome))?;
        for v in views {
            let deliveries = core
                .rule_deliveries(who, p.id, v.id, DELIVERIES_SHOWN)
                .await
                .map_err(|e| WebError::core(e, &chrome))?;
            rules.push(RuleRow {
                name: v.rule.name.clone(),
                project: p.name.clone(),
                // Webhook URLs can carry tokens: only the host is shown.
                channel: match &v.rule.channel {
                    Channel::Webhook { url, .. } => format!(
                        "webhook to {}",
                        url.split('/').nth(2).unwrap_or("(invalid URL)")
                    ),
                    Channel::Email { to } => format!("e-mail to {}", to.join(", ")),
                },
                events: v
                    .rule
                    .events
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                disabled: v.disabled_reason.clone(),
                deliveries: deliveries
                    .into_iter()
                    .map(|d| {
                        (
                            utc(d.created_at),
                            d.event,
                            d.state,
                            d.last_error.unwrap_or_default(),
                        )
                    })
                    .collect(),
            });
        }
    }
    Ok(NotificationsPage {
        chrome: Some(chrome),
        notice: None,
        rules,
    }
    .into_response())
}

pub(crate) struct AccountRow {
    pub project_id: String,
    pub project: String,
    pub id: String,
    pub contacts: String,
    pub status: &'static str,
    pub created: String,
    pub directory: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/acme.html")]
struct AcmePage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    accounts: Vec<AccountRow>,
    can_deactivate: bool,
}

#[derive(Deserialize)]
pub(crate) struct NoticeQuery {
    notice: Option<String>,
}

/// The ACME accounts of every project the key can see, with their directory URLs.
pub(crate) async fn acme_accounts(
    State(state): State<AppState>,
    signed_in: SignedIn,
    WebQuery(q): WebQuery<NoticeQuery>,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/acme");
    let core = &state.core;
    let who = signed_in.who();
    let projects = core
        .visible_projects(who)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let mut accounts = Vec::new();
    for p in &projects {
        for a in core
            .acme_accounts_of(who, p.id)
            .await
            .map_err(|e| WebError::core(e, &chrome))?
        {
            accounts.push(AccountRow {
                project_id: p.id.to_string(),
                project: p.name.clone(),
                id: a.id.clone(),
                contacts: a.contacts.join(", "),
                status: a.status.as_str(),
                created: utc(a.created_at),
                directory: format!("{}/acme/{}/directory", state.public_url, p.id),
            });
        }
    }
    Ok(AcmePage {
        can_deactivate: who.key.role.is_admin(),
        chrome: Some(chrome),
        notice: q.notice.filter(|n| n.len() <= 200),
        accounts,
    }
    .into_response())
}

#[derive(Deserialize)]
pub(crate) struct DeactivateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    account: String,
}

/// Deactivates an ACME account (admins), as RFC 8555's server-side deactivation.
pub(crate) async fn deactivate_acme_account(
    State(state): State<AppState>,
    signed_in: SignedIn,
    super::WebForm(form): super::WebForm<DeactivateForm>,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/acme");
    signed_in.check_csrf(&form.csrf, &chrome)?;
    let project = form.project.parse().map_err(|_| {
        WebError::bad_request(format!("{:?} is not a project id", form.project), &chrome)
    })?;
    state
        .core
        .deactivate_acme_account(signed_in.who(), project, &form.account)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    Ok(super::see_other(&format!(
        "/ui/acme?notice={}",
        super::urlencode(&format!("Account {} is deactivated.", form.account))
    )))
}
