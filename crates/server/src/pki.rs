//! What relying parties fetch without an API key: the built-in CA's CRL and its OCSP
//! responder (RFC 6960 over HTTP: POST with the DER request as body, or GET with it base64
//! in the path). The URLs are the ones every issued certificate names.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;

use crate::AppState;

/// Where the CRL is served, below the public URL.
pub const CRL_PATH: &str = "/pki/crl";
/// Where the OCSP responder listens, below the public URL.
pub const OCSP_PATH: &str = "/pki/ocsp";

/// The revocation URLs leaves issued by this server carry.
pub fn revocation_urls(public_url: &str) -> certkeeper_ca::RevocationUrls {
    certkeeper_ca::RevocationUrls {
        crl: format!("{public_url}{CRL_PATH}"),
        ocsp: format!("{public_url}{OCSP_PATH}"),
    }
}

/// Every revocation route (method, path, handler), public: the router and the access matrix
/// test are both made from it.
fn table() -> Vec<(
    axum::http::Method,
    String,
    axum::routing::MethodRouter<AppState>,
)> {
    use axum::http::Method;
    vec![
        (Method::GET, CRL_PATH.to_string(), get(crl)),
        (Method::POST, OCSP_PATH.to_string(), post(ocsp_post)),
        (
            Method::GET,
            format!("{OCSP_PATH}/{{*request}}"),
            get(ocsp_get),
        ),
    ]
}

/// Every revocation route's method and path template, as the router has them.
pub fn route_list() -> Vec<(axum::http::Method, String)> {
    table().into_iter().map(|(m, path, _)| (m, path)).collect()
}

pub(crate) fn routes() -> Router<AppState> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(&path, handler)
        })
}

/// Clients and proxies may keep a CRL this long: the job publishes within a minute.
const CRL_MAX_AGE: &str = "public, max-age=60";

async fn crl(State(state): State<AppState>) -> Response {
    match state.core.crl().await {
        Ok(crl) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/pkix-crl"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static(CRL_MAX_AGE)),
            ],
            [(
                header::ETAG,
                HeaderValue::from_str(&format!("\"crl-{}\"", crl.crl_number))
                    .unwrap_or_else(|_| HeaderValue::from_static("\"crl\"")),
            )],
            crl.der.clone(),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "serving the CRL failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "60")],
                "the CRL is not available yet; try again shortly\n",
            )
                .into_response()
        }
    }
}

async fn ocsp_post(State(state): State<AppState>, body: Bytes) -> Response {
    ocsp_reply(&state, &body).await
}

/// RFC 6960 Appendix A.1: `GET {url}/{url-encoding of base-64 encoding of the DER}`. The path
/// arrives percent-decoded; some clients use the URL-safe alphabet.
async fn ocsp_get(State(state): State<AppState>, Path(request): Path<String>) -> Response {
    let text = request.trim_end_matches('=');
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
        .unwrap_or_default();
    ocsp_reply(&state, &der).await
}

async fn ocsp_reply(state: &AppState, der: &[u8]) -> Response {
    let answer = state.core.ocsp_response(der).await;
    (
        [
            (header::CONTENT_TYPE, "application/ocsp-response"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        answer.as_ref().clone(),
    )
        .into_response()
}
