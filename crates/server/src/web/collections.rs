//! Collections (Keyfactor's saved certificate queries): a list, each linking to the inventory
//! filtered to it, and an editor that points at where a query stops making sense.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use certkeeper_core::CoreError;
use certkeeper_domain::browse::BrowseFilter;
use certkeeper_domain::collection::{CollectionDefinition, CollectionError};
use certkeeper_domain::ids::CollectionId;
use serde::Deserialize;

use super::inventory::link;
use super::session::CsrfForm;
use super::{Chrome, SignedIn, WebError, WebForm, see_other};
use crate::AppState;

pub(crate) struct Item {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub query: String,
    pub inventory: String,
    pub editable: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/collections.html")]
struct ListPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    items: Vec<Item>,
    can_edit: bool,
}

/// Where a query went wrong, to show under it.
pub(crate) struct QueryProblem {
    pub reason: String,
    /// The query up to the error, and from it.
    pub before: String,
    pub after: String,
    /// 1-based character position.
    pub position: usize,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/collection_edit.html")]
struct EditPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    /// `None` for a new collection.
    id: Option<i64>,
    name: String,
    description: String,
    query: String,
    error: Option<String>,
    problem: Option<QueryProblem>,
}

fn parse_id(raw: &str, chrome: &Chrome) -> Result<CollectionId, WebError> {
    raw.parse::<i64>()
        .map(CollectionId)
        .map_err(|_| WebError::bad_request(format!("{raw:?} is not a collection id"), chrome))
}

/// Editing collections needs a system-wide operator or admin key, as on the API.
fn can_edit(signed_in: &SignedIn) -> bool {
    let key = &signed_in.who().key;
    key.role.can_write() && key.project.is_none() && key.collections.is_empty()
}

pub(crate) async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/collections");
    let all = state
        .core
        .collections(signed_in.who())
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let editable = can_edit(&signed_in);
    let items = all
        .into_iter()
        .map(|c| Item {
            id: c.id.0,
            inventory: link(
                &BrowseFilter {
                    collection: c.query.is_some().then_some(c.id),
                    ..BrowseFilter::default()
                },
                None,
            ),
            editable: editable && c.query.is_some(),
            name: c.name,
            description: c.description,
            query: c.query_text,
        })
        .collect();
    Ok(ListPage {
        chrome: Some(chrome),
        notice: None,
        items,
        can_edit: editable,
    }
    .into_response())
}

pub(crate) async fn new_page(signed_in: SignedIn) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/collections");
    Ok(EditPage {
        chrome: Some(chrome),
        notice: None,
        id: None,
        name: String::new(),
        description: String::new(),
        query: String::new(),
        error: None,
        problem: None,
    }
    .into_response())
}

pub(crate) async fn edit_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(raw): Path<String>,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/collections");
    let id = parse_id(&raw, &chrome)?;
    let c = state
        .core
        .collection(signed_in.who(), id)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    Ok(EditPage {
        chrome: Some(chrome),
        notice: None,
        id: Some(c.id.0),
        name: c.name,
        description: c.description,
        query: c.query_text,
        error: None,
        problem: None,
    }
    .into_response())
}

#[derive(Deserialize)]
pub(crate) struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    query: String,
}

async fn save(
    state: AppState,
    signed_in: SignedIn,
    id: Option<CollectionId>,
    form: EditForm,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/collections");
    signed_in.check_csrf(&form.csrf, &chrome)?;
    let refused = |status: StatusCode, error: String, problem: Option<QueryProblem>| {
        (
            status,
            EditPage {
                chrome: Some(chrome.clone()),
                notice: None,
                id: id.map(|c| c.0),
                name: form.name.clone(),
                description: form.description.clone(),
                query: form.query.clone(),
                error: Some(error),
                problem,
            },
        )
            .into_response()
    };
    let definition =
        match CollectionDefinition::new(&form.name, Some(&form.description), &form.query) {
            Ok(d) => d,
            Err(CollectionError::Query(q)) => {
                // Positions count characters of the query as sent.
                let chars: Vec<char> = form.query.chars().collect();
                let at = q.position.min(chars.len());
                let problem = QueryProblem {
                    reason: q.reason.clone(),
                    before: chars[..at].iter().collect(),
                    after: chars[at..].iter().collect(),
                    position: at + 1,
                };
                return Ok(refused(
                    StatusCode::BAD_REQUEST,
                    format!("The query is invalid at character {}: {}", at + 1, q.reason),
                    Some(problem),
                ));
            }
            Err(e) => return Ok(refused(StatusCode::BAD_REQUEST, e.to_string(), None)),
        };
    let who = Some(signed_in.who());
    let result = match id {
        None => state.core.create_collection(who, definition).await,
        Some(id) => state.core.update_collection(who, id, definition).await,
    };
    match result {
        Ok(c) => Ok(see_other(&format!("/ui/collections/{}", c.id.0))),
        Err(e @ (CoreError::Store(_) | CoreError::Internal(_) | CoreError::Unauthenticated)) => {
            Err(WebError::core(e, &chrome))
        }
        Err(e) => {
            let status = crate::auth::status_of(&e).unwrap_or(StatusCode::BAD_REQUEST);
            Ok(refused(status, e.to_string(), None))
        }
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    WebForm(form): WebForm<EditForm>,
) -> Result<Response, WebError> {
    save(state, signed_in, None, form).await
}

pub(crate) async fn update(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(raw): Path<String>,
    WebForm(form): WebForm<EditForm>,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/collections");
    let id = parse_id(&raw, &chrome)?;
    save(state, signed_in, Some(id), form).await
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(raw): Path<String>,
    WebForm(form): WebForm<CsrfForm>,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("/ui/collections");
    signed_in.check_csrf(&form.csrf, &chrome)?;
    let id = parse_id(&raw, &chrome)?;
    state
        .core
        .delete_collection(Some(signed_in.who()), id)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    Ok(see_other("/ui/collections"))
}
