//! Import an existing certificate, and create a new one (which shows the DNS records to
//! publish on its page). Both call the same core operations as the projects API; a refused
//! form is shown again with what was typed and the reason.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use certkeeper_core::CoreError;
use certkeeper_core::inventory::ImportRequest;
use certkeeper_core::issuance::CreateRequest;
use certkeeper_domain::certificate::Scope;
use certkeeper_domain::ids::ProjectId;
use serde::Deserialize;

use super::{Chrome, SignedIn, WebError, WebForm, see_other, urlencode};
use crate::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "web/import.html")]
struct ImportPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    existing: Option<i64>,
    projects: Vec<(String, String, bool)>,
    organization: bool,
    body: String,
    chain: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/create.html")]
struct CreatePage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    projects: Vec<(String, String, bool)>,
    organization: bool,
    names: String,
}

async fn project_options(
    state: &AppState,
    signed_in: &SignedIn,
    chosen: Option<&str>,
    chrome: &Chrome,
) -> Result<Vec<(String, String, bool)>, WebError> {
    let projects = state
        .core
        .visible_projects(signed_in.who())
        .await
        .map_err(|e| WebError::core(e, chrome))?;
    Ok(projects
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let id = p.id.to_string();
            let selected = chosen.map_or(i == 0, |c| c == id);
            (id, p.name.clone(), selected)
        })
        .collect())
}

fn parse_project(raw: &str) -> Result<ProjectId, CoreError> {
    raw.trim()
        .parse::<ProjectId>()
        .map_err(|_| CoreError::Invalid("choose a project".into()))
}

fn scope_of(organization: bool) -> Scope {
    if organization {
        Scope::Organization
    } else {
        Scope::Project
    }
}

/// The status a refused form is shown again with.
fn status_for(e: &CoreError) -> StatusCode {
    crate::auth::status_of(e).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(crate) async fn import_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/import");
    let projects = project_options(&state, &signed_in, None, &chrome).await?;
    Ok(ImportPage {
        chrome: Some(chrome),
        notice: None,
        error: None,
        existing: None,
        projects,
        organization: false,
        body: String::new(),
        chain: String::new(),
    }
    .into_response())
}

#[derive(Deserialize)]
pub(crate) struct ImportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    private_key: String,
    #[serde(default)]
    chain: String,
    organization: Option<String>,
}

pub(crate) async fn import(
    State(state): State<AppState>,
    signed_in: SignedIn,
    WebForm(form): WebForm<ImportForm>,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/import");
    signed_in.check_csrf(&form.csrf, &chrome)?;
    let organization = form.organization.is_some();
    let result = match parse_project(&form.project) {
        Ok(project) => {
            state
                .core
                .import_certificate(
                    signed_in.who(),
                    project,
                    ImportRequest {
                        body: form.body.clone(),
                        private_key: form.private_key.clone(),
                        chain: form.chain.clone(),
                        scope: scope_of(organization),
                    },
                )
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(record) => Ok(see_other(&format!(
            "/ui/certificates/{}?notice={}",
            record.id,
            urlencode("Imported.")
        ))),
        Err(e @ CoreError::Store(_)) | Err(e @ CoreError::Internal(_)) => {
            Err(WebError::core(e, &chrome))
        }
        Err(CoreError::Unauthenticated) => Err(WebError::SignIn {
            next: "/ui/import".into(),
        }),
        Err(e) => {
            let status = status_for(&e);
            let existing = match &e {
                CoreError::Conflict { existing, .. } => existing.map(|c| c.0),
                _ => None,
            };
            let projects =
                project_options(&state, &signed_in, Some(&form.project), &chrome).await?;
            // The private key is never echoed back into the page.
            let page = ImportPage {
                chrome: Some(chrome),
                notice: None,
                error: Some(e.to_string()),
                existing,
                projects,
                organization,
                body: form.body,
                chain: form.chain,
            };
            Ok((status, page).into_response())
        }
    }
}

pub(crate) async fn create_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/create");
    let projects = project_options(&state, &signed_in, None, &chrome).await?;
    Ok(CreatePage {
        chrome: Some(chrome),
        notice: None,
        error: None,
        projects,
        organization: false,
        names: String::new(),
    }
    .into_response())
}

#[derive(Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    names: String,
    organization: Option<String>,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    WebForm(form): WebForm<CreateForm>,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/create");
    signed_in.check_csrf(&form.csrf, &chrome)?;
    let organization = form.organization.is_some();
    let mut names = form
        .names
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let result = match (parse_project(&form.project), names.next()) {
        (Err(e), _) => Err(e),
        (Ok(_), None) => Err(CoreError::Invalid("enter at least one domain name".into())),
        (Ok(project), Some(first)) => {
            state
                .core
                .create_certificate(
                    signed_in.who(),
                    project,
                    CreateRequest {
                        domain_name: first,
                        additional_domain_names: names.collect(),
                        scope: scope_of(organization),
                    },
                )
                .await
        }
    };
    match result {
        Ok(record) => Ok(see_other(&format!("/ui/certificates/{}", record.id))),
        Err(e @ CoreError::Store(_)) | Err(e @ CoreError::Internal(_)) => {
            Err(WebError::core(e, &chrome))
        }
        Err(CoreError::Unauthenticated) => Err(WebError::SignIn {
            next: "/ui/create".into(),
        }),
        Err(e) => {
            let status = status_for(&e);
            let projects =
                project_options(&state, &signed_in, Some(&form.project), &chrome).await?;
            Ok((
                status,
                CreatePage {
                    chrome: Some(chrome),
                    notice: None,
                    error: Some(e.to_string()),
                    projects,
                    organization,
                    names: form.names,
                },
            )
                .into_response())
        }
    }
}
