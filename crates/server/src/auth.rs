//! Reading credentials from a request, the ways vendor clients send them: `X-API-Key`,
//! `Authorization: Bearer`, DigiCert's `X-DC-DEVKEY`, or HTTP Basic with the key as the
//! password (Keyfactor clients send Basic).

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use certkeeper_core::{CoreError, Principal};

use crate::AppState;

/// The caller behind a request's credentials; each surface's `Caller` extractor wraps this
/// and renders the error in its own shape.
pub(crate) async fn caller(headers: &HeaderMap, state: &AppState) -> Result<Principal, CoreError> {
    let key = presented_key(headers).ok_or(CoreError::Unauthenticated)?;
    state.core.authenticate(&key).await
}

/// The HTTP status a core error stands for, the same on every surface. `None` for the
/// server's own failures (a database error, a bug): they are logged here, and each surface
/// answers them with a bare 500 that reveals nothing.
pub(crate) fn status_of(e: &CoreError) -> Option<StatusCode> {
    match e {
        CoreError::Unauthenticated => Some(StatusCode::UNAUTHORIZED),
        CoreError::Forbidden(_) => Some(StatusCode::FORBIDDEN),
        CoreError::NotFound(_) => Some(StatusCode::NOT_FOUND),
        CoreError::Invalid(_) => Some(StatusCode::BAD_REQUEST),
        CoreError::Conflict { .. } => Some(StatusCode::CONFLICT),
        CoreError::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
        CoreError::Store(_) | CoreError::Internal(_) => {
            tracing::error!(error = %e, "request failed");
            None
        }
    }
}

/// Adds `Retry-After` to a 429. It is always one second: the rate limiter (GCRA) refuses a
/// request only until the next emission interval, which is at most a second at any whole
/// number of requests per second, and `Retry-After` counts whole seconds.
pub(crate) fn add_retry_after(response: &mut axum::response::Response) {
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
}

/// The API key a request presents, if any.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<String> {
    for name in ["x-api-key", "x-dc-devkey"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            return Some(v.trim().to_string());
        }
    }
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = auth.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(rest.trim().to_string())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_user, password) = text.split_once(':')?;
        Some(password.to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_every_header_form() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert_eq!(presented_key(&h).as_deref(), Some("abc"));
        h.insert(
            "authorization",
            HeaderValue::from_static("Basic dXNlcjpzZWNyZXQ="),
        );
        assert_eq!(presented_key(&h).as_deref(), Some("secret"));
        h.insert("x-dc-devkey", HeaderValue::from_static("dc"));
        assert_eq!(presented_key(&h).as_deref(), Some("dc"));
        h.insert("x-api-key", HeaderValue::from_static("k"));
        assert_eq!(presented_key(&h).as_deref(), Some("k"));
    }
}
