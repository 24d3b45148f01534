//! Signing in and out, and what a signed-in request carries.
//!
//! The session cookie is HttpOnly, SameSite=Strict, `Secure` when the server is reached over
//! TLS, and scoped to `/`. Every form carries the session's CSRF token; the sign-in form, which
//! has no session yet, carries a token that must match a cookie set with the form (a
//! double-submit), so another site cannot sign a browser in under its own key.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use certkeeper_core::CoreError;
use certkeeper_core::sessions::{Session, random_token};
use serde::Deserialize;

use super::{Chrome, WebError, see_other};
use crate::AppState;

pub(crate) const SESSION_COOKIE: &str = "ck_session";
const LOGIN_CSRF_COOKIE: &str = "ck_login";

/// A signed-in request: its session and the cookie secret that names it.
pub(crate) struct SignedIn {
    pub session: Session,
    secret: String,
}

impl SignedIn {
    pub(crate) fn chrome(&self, here: &str) -> Chrome {
        Chrome::new(&self.session, here)
    }

    pub(crate) fn who(&self) -> &certkeeper_core::Principal {
        &self.session.principal
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub(crate) fn check_csrf(&self, presented: &str, chrome: &Chrome) -> Result<(), WebError> {
        if self.session.csrf_matches(presented) {
            Ok(())
        } else {
            Err(WebError::Page {
                status: StatusCode::FORBIDDEN,
                message: "This form is out of date or did not come from this dashboard. Reload the page and try again.".into(),
                chrome: Some(Box::new(chrome.clone())),
            })
        }
    }
}

/// A cookie's value from the request.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/ui/", |p| p.as_str())
            .to_string();
        // Only a page someone can come back to: never an action's POST target.
        let next = if parts.method == axum::http::Method::GET {
            next
        } else {
            "/ui/".into()
        };
        let secret = cookie(&parts.headers, SESSION_COOKIE)
            .ok_or(WebError::SignIn { next: next.clone() })?
            .to_string();
        match state.core.session(&secret).await {
            Ok(session) => Ok(Self { session, secret }),
            Err(CoreError::Unauthenticated) => Err(WebError::SignIn { next }),
            Err(e) => Err(WebError::from_core(e, None)),
        }
    }
}

/// A cookie header value with the dashboard's attributes.
pub(crate) fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Template, WebTemplate)]
#[template(path = "web/login.html")]
struct LoginPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    next: String,
    idle_minutes: i64,
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

/// Only paths inside the dashboard are followed after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/ui/".into(),
    }
}

fn login_form(
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
    next: String,
    notice: Option<String>,
) -> Response {
    let csrf = random_token();
    let page = LoginPage {
        chrome: None,
        notice,
        error,
        csrf: csrf.clone(),
        next,
        idle_minutes: state.core.session_idle_timeout().whole_minutes(),
    };
    let mut response = (status, page).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_CSRF_COOKIE, &csrf, Some(3600)),
    );
    response
}

pub(crate) async fn login_page(
    State(state): State<AppState>,
    super::WebQuery(q): super::WebQuery<LoginQuery>,
) -> Response {
    login_form(
        &state,
        StatusCode::OK,
        None,
        safe_next(q.next.as_deref()),
        None,
    )
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    super::WebForm(form): super::WebForm<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    let same = !expected.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            form.csrf.as_bytes(),
        ));
    if !same {
        return login_form(
            &state,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired. Enter the key again.".into()),
            next,
            None,
        );
    }
    match state.core.sign_in(&form.api_key).await {
        Ok((opened, _)) => {
            let mut response = see_other(&next);
            let h = response.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&state, SESSION_COOKIE, &opened.secret, None),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(&state, LOGIN_CSRF_COOKIE, "", Some(0)),
            );
            response
        }
        Err(CoreError::Unauthenticated) => login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("That API key is not valid (unknown, mistyped or revoked).".into()),
            next,
            None,
        ),
        Err(e) => WebError::from_core(e, None).into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    signed_in: SignedIn,
    super::WebForm(form): super::WebForm<CsrfForm>,
) -> Result<Response, WebError> {
    let chrome = signed_in.chrome("");
    signed_in.check_csrf(&form.csrf, &chrome)?;
    state
        .core
        .sign_out(&signed_in.session, &signed_in.secret)
        .await
        .map_err(|e| WebError::core(e, &chrome))?;
    let mut response = login_form(
        &state,
        StatusCode::OK,
        None,
        "/ui/".into(),
        Some("You are signed out. The session has ended on the server.".into()),
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", Some(0)),
    );
    Ok(response)
}
