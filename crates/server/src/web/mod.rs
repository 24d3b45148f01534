//! The web dashboard (`/ui/...`): server-rendered pages for people, on the same core
//! operations the APIs call. Pages are askama templates; charts are SVG drawn here; the one
//! stylesheet is embedded in the binary. No script runs and nothing loads from another origin
//! (the Content-Security-Policy says so to the browser as well).
//!
//! - [`session`]: sign-in, sign-out, the signed-in extractor and CSRF checks.
//! - [`overview`]: the tiles, the expiry buckets and issuance charts, recent changes.
//! - [`inventory`]: the filtered, sorted, keyset-paged list and its streamed exports.
//! - [`certificate`]: one certificate's page, downloads, and its actions.
//! - [`forms`]: import and create.
//! - [`collections`]: the collections list and editor.
//! - [`operations`]: jobs, notification rules and their deliveries, ACME accounts.

mod certificate;
mod collections;
mod forms;
mod inventory;
mod operations;
mod overview;
mod session;
mod svg;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use certkeeper_core::CoreError;
use certkeeper_core::sessions::Session;
use time::OffsetDateTime;

use crate::AppState;

pub(crate) use session::SignedIn;

/// Where the dashboard lives.
pub const BASE: &str = "/ui";

/// The page chrome every signed-in page shares: navigation, who is signed in, the CSRF token
/// the sign-out form (and every other form) carries.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    pub nav: Vec<(&'static str, &'static str, bool)>,
    pub key_name: String,
    pub role: String,
    pub project: Option<String>,
    pub csrf: String,
    pub can_write: bool,
}

impl Chrome {
    pub(crate) fn new(session: &Session, here: &str) -> Self {
        let key = &session.principal.key;
        let mut nav = vec![
            ("/ui/", "Overview"),
            ("/ui/inventory", "Inventory"),
            ("/ui/import", "Import"),
            ("/ui/create", "Create"),
            ("/ui/collections", "Collections"),
        ];
        if key.role.is_admin() {
            nav.push(("/ui/jobs", "Jobs"));
        }
        nav.push(("/ui/notifications", "Notifications"));
        nav.push(("/ui/acme", "ACME"));
        Self {
            nav: nav
                .into_iter()
                .map(|(href, label)| (href, label, href == here))
                .collect(),
            key_name: key.name.clone(),
            role: key.role.to_string(),
            project: key.project.map(|p| p.to_string()),
            csrf: session.csrf_token().to_string(),
            can_write: key.role.can_write(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "web/error.html")]
struct ErrorPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    heading: String,
    message: String,
    back: String,
}

/// Why a page could not be shown.
#[derive(Debug)]
pub(crate) enum WebError {
    /// Not signed in (or the session ended): to the sign-in page, then back to `next`.
    SignIn { next: String },
    /// Shown as an error page, in the dashboard's chrome when signed in.
    Page {
        status: StatusCode,
        message: String,
        chrome: Option<Box<Chrome>>,
    },
}

impl WebError {
    pub(crate) fn core(e: CoreError, chrome: &Chrome) -> Self {
        Self::from_core(e, Some(chrome))
    }

    pub(crate) fn from_core(e: CoreError, chrome: Option<&Chrome>) -> Self {
        if matches!(e, CoreError::Unauthenticated) {
            return Self::SignIn {
                next: "/ui/".into(),
            };
        }
        let status = crate::auth::status_of(&e).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match status {
            StatusCode::INTERNAL_SERVER_ERROR => {
                "The server could not do this; the failure is in its log. Try again later.".into()
            }
            _ => e.to_string(),
        };
        Self::Page {
            status,
            message,
            chrome: chrome.cloned().map(Box::new),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>, chrome: &Chrome) -> Self {
        Self::Page {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            chrome: Some(Box::new(chrome.clone())),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn { next } => {
                let to = format!("/ui/login?next={}", urlencode(&next));
                Redirect::to(&to).into_response()
            }
            WebError::Page {
                status,
                message,
                chrome,
            } => {
                let heading = status
                    .canonical_reason()
                    .unwrap_or("Something went wrong")
                    .to_string();
                let page = ErrorPage {
                    chrome: chrome.map(|c| *c),
                    notice: None,
                    heading,
                    message,
                    back: "/ui/".into(),
                };
                let mut response = (status, page).into_response();
                crate::auth::add_retry_after(&mut response);
                response
            }
        }
    }
}

/// Who may use a dashboard route, as docs/api.md ("Web dashboard") describes it. The router
/// and the access matrix test (`tests/api/access_matrix.rs`) are both made from [`table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRule {
    /// Anyone: the sign-in form, the stylesheet, the redirects to the dashboard.
    Public,
    /// A signed-in session of any role reads it (a collection-limited key sees its charts
    /// only: every page but the overview answers it 403).
    Read,
    /// Sessions of operator or admin keys post it (with the session's CSRF token).
    Write,
    /// Sessions of admin keys not limited to a project.
    Admin,
}

type Route = (
    axum::http::Method,
    &'static str,
    PageRule,
    axum::routing::MethodRouter<AppState>,
);

/// Every dashboard route: method, path, who may use it, handler.
fn table() -> Vec<Route> {
    use PageRule::{Admin, Public, Read, Write};
    use axum::http::Method;
    let (g, p) = (Method::GET, Method::POST);
    vec![
        (
            g.clone(),
            "/",
            Public,
            get(|| async { Redirect::to("/ui/") }),
        ),
        (
            g.clone(),
            "/ui",
            Public,
            get(|| async { Redirect::to("/ui/") }),
        ),
        (g.clone(), "/ui/", Read, get(overview::page)),
        (g.clone(), "/ui/login", Public, get(session::login_page)),
        (p.clone(), "/ui/login", Public, post(session::login)),
        (p.clone(), "/ui/logout", Read, post(session::logout)),
        (g.clone(), "/ui/inventory", Read, get(inventory::page)),
        (
            g.clone(),
            "/ui/inventory/export",
            Read,
            get(inventory::export),
        ),
        (
            p.clone(),
            "/ui/inventory/bulk",
            Write,
            post(certificate::bulk),
        ),
        (
            g.clone(),
            "/ui/certificates/{id}",
            Read,
            get(certificate::page),
        ),
        (
            g.clone(),
            "/ui/certificates/{id}/download",
            Read,
            get(certificate::download),
        ),
        (
            p.clone(),
            "/ui/certificates/{id}/validate",
            Write,
            post(certificate::validate),
        ),
        (
            p.clone(),
            "/ui/certificates/{id}/renew",
            Write,
            post(certificate::renew),
        ),
        (
            p.clone(),
            "/ui/certificates/{id}/revoke",
            Write,
            post(certificate::revoke),
        ),
        (g.clone(), "/ui/import", Read, get(forms::import_page)),
        (p.clone(), "/ui/import", Write, post(forms::import)),
        (g.clone(), "/ui/create", Read, get(forms::create_page)),
        (p.clone(), "/ui/create", Write, post(forms::create)),
        (g.clone(), "/ui/collections", Read, get(collections::list)),
        (
            p.clone(),
            "/ui/collections",
            Write,
            post(collections::create),
        ),
        (
            g.clone(),
            "/ui/collections/new",
            Read,
            get(collections::new_page),
        ),
        (
            g.clone(),
            "/ui/collections/{id}",
            Read,
            get(collections::edit_page),
        ),
        (
            p.clone(),
            "/ui/collections/{id}",
            Write,
            post(collections::update),
        ),
        (
            p.clone(),
            "/ui/collections/{id}/delete",
            Write,
            post(collections::delete),
        ),
        (g.clone(), "/ui/jobs", Admin, get(operations::jobs)),
        (
            g.clone(),
            "/ui/notifications",
            Read,
            get(operations::notifications),
        ),
        (g.clone(), "/ui/acme", Read, get(operations::acme_accounts)),
        (
            p.clone(),
            "/ui/acme/deactivate",
            Write,
            post(operations::deactivate_acme_account),
        ),
        (g, "/ui/assets/{*path}", Public, get(asset)),
    ]
}

/// Every dashboard route with its rule (method, path template, rule), as the router has them.
pub fn page_rules() -> Vec<(axum::http::Method, &'static str, PageRule)> {
    table()
        .into_iter()
        .map(|(method, path, rule, _)| (method, path, rule))
        .collect()
}

/// The dashboard's routes. A [`PageRule::Write`] route refuses sessions of keys that cannot
/// write (403) before its form is read, so a viewer learns nothing from how a form is parsed.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    table()
        .into_iter()
        // axum merges the method routers of one path.
        .fold(Router::new(), |router, (_, path, rule, handler)| {
            let handler = match rule {
                PageRule::Write => handler.route_layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    writers_only,
                )),
                PageRule::Public | PageRule::Read | PageRule::Admin => handler,
            };
            router.route(path, handler)
        })
        .layer(axum::middleware::map_response(page_headers))
}

/// Lets through sessions whose key may write (operator, admin); 403 for the others. Which
/// project a write may touch is the core's to decide, as for the API.
async fn writers_only(
    signed_in: SignedIn,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !signed_in.who().key.role.can_write() {
        return WebError::Page {
            status: StatusCode::FORBIDDEN,
            message: "Your API key is read-only: this needs an operator or admin key.".into(),
            chrome: Some(Box::new(signed_in.chrome(""))),
        }
        .into_response();
    }
    next.run(request).await
}

/// What every dashboard response says about itself: nothing cached (pages show live data
/// and a CSRF token), nothing framed, no script, nothing from elsewhere.
async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[derive(rust_embed::Embed)]
#[folder = "assets/"]
struct Assets;

async fn asset(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    let Some(file) = Assets::get(&path) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let kind = match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        file.data.into_owned(),
    )
        .into_response()
}

/// A 404 page for unknown dashboard paths.
pub(crate) fn fallback() -> Response {
    WebError::Page {
        status: StatusCode::NOT_FOUND,
        message: "There is no such page.".into(),
        chrome: None,
    }
    .into_response()
}

/// An error page outside any session (the request was refused before it reached a page).
pub(crate) fn error_page(status: StatusCode, message: String) -> Response {
    WebError::Page {
        status,
        message,
        chrome: None,
    }
    .into_response()
}

/// A 405 page for a dashboard path asked with the wrong method.
pub(crate) fn method_not_allowed() -> Response {
    WebError::Page {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: "This page cannot be asked for that way.".into(),
        chrome: None,
    }
    .into_response()
}

/// An instant as the dashboard shows it: UTC, to the minute.
pub(crate) fn utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// An instant as URLs carry it (RFC 3339, UTC, whole seconds).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub(crate) fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A form body, refused in the dashboard's shape (an HTML page) when it does not parse.
pub(crate) struct WebForm<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for WebForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(Self(v)),
            Err(e) => Err(WebError::Page {
                status: StatusCode::BAD_REQUEST,
                message: format!("The form could not be read: {}", e.body_text()),
                chrome: None,
            }),
        }
    }
}

/// A query string, refused in the dashboard's shape when it does not parse.
pub(crate) struct WebQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for WebQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(e) => Err(WebError::Page {
                status: StatusCode::BAD_REQUEST,
                message: format!("The address could not be read: {}", e.body_text()),
                chrome: None,
            }),
        }
    }
}

/// A redirect after a form (303: the browser follows with GET).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}
