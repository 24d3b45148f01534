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

/// The dashboard's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(overview::page))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/inventory", get(inventory::page))
        .route("/ui/inventory/export", get(inventory::export))
        .route("/ui/certificates/{id}", get(certificate::page))
        .route("/ui/certificates/{id}/download", get(certificate::download))
        .route(
            "/ui/certificates/{id}/validate",
            post(certificate::validate),
        )
        .route("/ui/certificates/{id}/renew", post(certificate::renew))
        .route("/ui/certificates/{id}/revoke", post(certificate::revoke))
        .route("/ui/import", get(forms::import_page).post(forms::import))
        .route("/ui/create", get(forms::create_page).post(forms::create))
        .route(
            "/ui/collections",
            get(collections::list).post(collections::create),
        )
        .route("/ui/collections/new", get(collections::new_page))
        .route(
            "/ui/collections/{id}",
            get(collections::edit_page).post(collections::update),
        )
        .route("/ui/collections/{id}/delete", post(collections::delete))
        .route("/ui/jobs", get(operations::jobs))
        .route("/ui/notifications", get(operations::notifications))
        .route("/ui/acme", get(operations::acme_accounts))
        .route(
            "/ui/acme/deactivate",
            post(operations::deactivate_acme_account),
        )
        .route("/ui/inventory/bulk", post(certificate::bulk))
        .route("/ui/assets/{*path}", get(asset))
        .layer(axum::middleware::map_response(page_headers))
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
