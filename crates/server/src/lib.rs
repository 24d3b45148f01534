//! certkeeper's HTTP faces. Each API surface is one module that translates its vendor's wire
//! shapes (paths, field names, error bodies) to the shared services in `certkeeper-core`, and
//! holds no rules of its own.
//!
//! - [`projects`]: the project certificates API (`/api/v1/projects/{projectId}/certificates`).
//! - [`keyfactor`]: Keyfactor Command's collections and issuance analytics (at the root and
//!   under `/KeyfactorAPI`).
//! - [`digicert`]: DigiCert CertCentral's reports (`/services/v2/...`).
//! - [`acme`]: the ACME server (`/acme/{projectId}/...`).
//! - [`pki`]: the built-in CA's CRL and OCSP responder (`/pki/...`), without an API key.
//! - [`web`]: the dashboard for people (`/ui/...`), signed in with an API key.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod acme;
mod auth;
pub mod digicert;
mod extract;
pub mod keyfactor;
mod listen;
pub mod metrics;
pub mod pki;
pub mod projects;
mod spec;
pub mod tls;
pub mod web;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use certkeeper_core::Core;
use tokio::net::TcpListener;

pub use listen::ConnectionLimits;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

/// The largest request body accepted; larger ones get 413 in the surface's error shape.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub core: Core,
    /// The base every link handed out is built from (`--public-url`, or the listen
    /// address), without a trailing slash. Never the request's Host header.
    pub public_url: String,
    /// How `/metrics` is served.
    pub metrics: metrics::MetricsSettings,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "certkeeper", description = "Self-hosted certificate lifecycle server"),
    modifiers(&SecuritySchemes),
    security(("X-API-Key" = []), ("Bearer" = []), ("Basic" = []), ("X-DC-DEVKEY" = []))
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "X-API-Key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "X-DC-DEVKEY",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-DC-DEVKEY"))),
        );
        components.add_security_scheme(
            "Bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "Basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// The answers every operation of a surface can give whatever its handler does, added (after
/// the surfaces' routes are merged) to each operation that does not declare them itself: 401 (credentials), 414 (request target), 429
/// (rate limit), 413 where a body is taken, and 400 where parameters are parsed. Also the schema of `()` (`TupleUnit`), which
/// utoipa references for the error envelope's always-null `result` but does not emit.
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, schema};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.insert(
            "TupleUnit".into(),
            // Never sent: the error envelope's `result` is always null, which the `null`
            // branch of its `oneOf` alone must match.
            schema::ObjectBuilder::new()
                .schema_type(schema::Type::Object)
                .description(Some("Never sent; `result` is null on errors."))
                .into(),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let error_schema = if path.starts_with(digicert::BASE) {
                "DcErrorBody"
            } else if path.starts_with("/api/") {
                "Envelope"
            } else {
                "KfErrorBody"
            };
            let response = |description: &str| {
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(error_schema)))
                            .build(),
                    )
                    .build()
            };
            for op in [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                let mut common = vec![
                    ("401", "No, unknown, expired or revoked API key"),
                    ("414", "The request target is over 8 KiB"),
                    ("429", "Too many requests for this API key; see Retry-After"),
                ];
                if op.request_body.is_some() {
                    common.push(("413", "The body is over 1 MiB"));
                }
                if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    common.push(("400", "A path or query parameter is not valid (named)"));
                }
                for (status, description) in common {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| response(description).into());
                }
            }
        }
    }
}

/// The router with every route, and the OpenAPI document generated from the same handlers.
pub fn router(state: AppState) -> Router {
    let (api, mut openapi) = all_routes().split_for_parts();
    utoipa::Modify::modify(&CommonResponses, &mut openapi);
    utoipa::Modify::modify(&spec::ClosedVariants, &mut openapi);
    let openapi_json = serde_json::to_value(&openapi).unwrap_or_default();
    let requests = std::sync::Arc::new(metrics::RequestMetrics::default());
    let scrape = Router::new()
        .route("/metrics", get(metrics::scrape))
        .with_state((state.clone(), requests.clone()));
    api.merge(acme::routes())
        .merge(web::routes(&state))
        .merge(pki::routes())
        .merge(scrape)
        .route(
            "/openapi.json",
            get(move || std::future::ready(axum::Json(openapi_json.clone()))),
        )
        .route("/healthz", get(|| std::future::ready("ok")))
        .route("/readyz", get(metrics::ready))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_uri,
        ))
        .layer(axum::middleware::from_fn_with_state(
            requests,
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // A bug that panics in a handler answers 500 (and is logged) instead of dropping the
        // connection with nothing said.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(access_log())
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            tower_http::request_id::MakeRequestUuid,
        ))
        .with_state(state)
}

/// The access-log layer's type: a span per request, one line per response, nothing else.
type AccessLog = TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    fn(&axum::http::Request<axum::body::Body>) -> tracing::Span,
    (),
    tower_http::trace::DefaultOnResponse,
    (),
    (),
    (),
>;

/// One access line per request at `info` (method, route template, status, latency), inside a
/// span carrying the request id (`x-request-id`, made here when the client sent none, and
/// returned), so every line a request logs names it. Headers and bodies are never logged:
/// they carry API keys and private keys.
fn access_log() -> AccessLog {
    fn span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
        let id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let route = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or("unmatched", |p| p.as_str());
        tracing::info_span!("request", id = %id, method = %request.method(), route = %route)
    }
    TraceLayer::new_for_http()
        .make_span_with(span as fn(&axum::http::Request<axum::body::Body>) -> tracing::Span)
        .on_request(())
        .on_response(
            tower_http::trace::DefaultOnResponse::new()
                .level(tracing::Level::INFO)
                .latency_unit(tower_http::LatencyUnit::Micros),
        )
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

/// Every surface's routes, documented.
fn all_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(projects::routes())
        .merge(keyfactor::routes())
        .merge(digicert::routes())
}

/// The generated OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut openapi = all_routes().into_openapi();
    utoipa::Modify::modify(&CommonResponses, &mut openapi);
    utoipa::Modify::modify(&spec::ClosedVariants, &mut openapi);
    openapi
}

/// Which surface a path belongs to, so unknown routes answer in that surface's error shape.
enum Surface {
    Web,
    Acme,
    Projects,
    Keyfactor,
    DigiCert,
}

fn surface_of(uri: &Uri) -> Surface {
    let path = uri.path();
    if path == "/" || path == web::BASE || path.starts_with("/ui/") {
        Surface::Web
    } else if path.starts_with(acme::BASE) {
        Surface::Acme
    } else if path.starts_with(digicert::BASE) {
        Surface::DigiCert
    } else if path.starts_with(keyfactor::BASE)
        || path.starts_with("/Analytics")
        || path.starts_with("/CertificateCollections")
    {
        Surface::Keyfactor
    } else {
        Surface::Projects
    }
}

async fn fallback(State(state): State<AppState>, uri: Uri) -> Response {
    match surface_of(&uri) {
        Surface::Web => web::fallback(),
        Surface::Acme => acme::fallback(&state.core),
        Surface::Projects => projects::fallback().await.into_response(),
        Surface::Keyfactor => keyfactor::fallback().into_response(),
        Surface::DigiCert => digicert::fallback().into_response(),
    }
}

async fn method_not_allowed(State(state): State<AppState>, uri: Uri) -> Response {
    match surface_of(&uri) {
        Surface::Web => web::method_not_allowed(),
        Surface::Acme => acme::fallback(&state.core),
        Surface::Projects => projects::method_not_allowed().await.into_response(),
        Surface::Keyfactor => keyfactor::method_not_allowed().into_response(),
        Surface::DigiCert => digicert::method_not_allowed().into_response(),
    }
}

/// The longest request target (path and query string) served, in bytes. Far above any URL a
/// vendor client builds (a Keyfactor query travels in a body or a saved collection), and small
/// enough that no handler parses a megabyte of query string.
pub const MAX_URI_LEN: usize = 8 * 1024;

/// Refuses a request target over [`MAX_URI_LEN`] with 414, in the surface's error shape.
async fn limit_uri(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let uri = request.uri();
    let len = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if len <= MAX_URI_LEN {
        return next.run(request).await;
    }
    let status = axum::http::StatusCode::URI_TOO_LONG;
    let message = format!("the request URI is {len} bytes; at most {MAX_URI_LEN} are accepted");
    match surface_of(uri) {
        Surface::Web => web::error_page(status, message),
        Surface::Acme => acme::too_long(&state.core, message),
        Surface::Projects => projects::ApiError::new(status, message).into_response(),
        Surface::Keyfactor => keyfactor::KfError::new(status, message).into_response(),
        Surface::DigiCert => {
            digicert::DcError::new(status, "invalid_request|uri_too_long", message).into_response()
        }
    }
}

/// The answer to a request whose handler panicked: a bare 500, the panic in the log.
fn panicked(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    tracing::error!(panic = %what, "request handler panicked");
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; the failure is in the server's log",
    )
        .into_response()
}

/// Serves plain HTTP with the default [`ConnectionLimits`] until `shutdown` resolves, then
/// finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ConnectionLimits::default(), shutdown).await
}

/// [`serve`] with these limits.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listen::serve_connections(listener, router(state), None, limits, shutdown).await
}
