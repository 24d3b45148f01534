//! The ACME face (RFC 8555): routes under `/acme/{projectId}/`, JSON shapes, headers. It
//! decides nothing: each handler checks the request through `Core::acme_verify` and calls one
//! core operation.
//!
//! Every response, errors included, carries a fresh `Replay-Nonce`, `Link: <directory>;
//! rel="index"` and `Cache-Control: no-store`; pending and processing objects carry
//! `Retry-After`. Errors are RFC 7807 problem documents, rendered in one place
//! ([`problem_response`]).

mod wire;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use certkeeper_core::Core;
use certkeeper_core::acme_server::{AcmeError, Links, Signed, Signer};
use certkeeper_domain::ids::ProjectId;

use crate::AppState;

/// How long clients are asked to wait before polling a pending or processing object.
const RETRY_AFTER_SECONDS: &str = "1";

pub(crate) const BASE: &str = "/acme/";

/// Every ACME route: method, path, handler. The router and the access matrix test
/// (`tests/api/access_matrix.rs`) are both made from it. POSTs are authorized by their JWS
/// (an account key, or for revokeCert a certificate key), never by an API key or a session;
/// the GETs are public.
fn table() -> Vec<(
    axum::http::Method,
    &'static str,
    axum::routing::MethodRouter<AppState>,
)> {
    use axum::http::Method;
    let (g, p) = (Method::GET, Method::POST);
    vec![
        (g.clone(), "/acme/{project}/directory", get(directory)),
        (
            g.clone(),
            "/acme/{project}/new-nonce",
            get(new_nonce_get).head(new_nonce_head),
        ),
        (p.clone(), "/acme/{project}/new-account", post(new_account)),
        (p.clone(), "/acme/{project}/account/{id}", post(account)),
        (p.clone(), "/acme/{project}/key-change", post(key_change)),
        (p.clone(), "/acme/{project}/new-order", post(new_order)),
        (p.clone(), "/acme/{project}/order/{id}", post(order)),
        (
            p.clone(),
            "/acme/{project}/order/{id}/finalize",
            post(finalize),
        ),
        (p.clone(), "/acme/{project}/authz/{id}", post(authz)),
        (
            p.clone(),
            "/acme/{project}/chall/{authz}/{kind}",
            post(challenge),
        ),
        (p.clone(), "/acme/{project}/cert/{id}", post(certificate)),
        (g, "/acme/{project}/renewal-info/{id}", get(renewal_info)),
        (p, "/acme/{project}/revoke-cert", post(revoke_cert)),
    ]
}

/// Every ACME route's method and path template, as the router has them.
pub fn route_list() -> Vec<(axum::http::Method, &'static str)> {
    table().into_iter().map(|(m, path, _)| (m, path)).collect()
}

pub(crate) fn routes() -> Router<AppState> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
}

/// A response with the headers every ACME response carries.
fn finish(core: &Core, links: Option<&Links>, mut response: Response) -> Response {
    let headers = response.headers_mut();
    match core.acme_new_nonce() {
        Ok(nonce) => {
            if let Ok(v) = HeaderValue::from_str(&nonce) {
                headers.insert("replay-nonce", v);
            }
        }
        Err(e) => tracing::error!(error = %e, "minting an ACME nonce failed"),
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(links) = links
        && let Ok(v) = HeaderValue::from_str(&format!("<{}>;rel=\"index\"", links.directory()))
    {
        headers.append(header::LINK, v);
    }
    response
}

/// The one place an [`AcmeError`] becomes HTTP.
fn problem_response(core: &Core, links: Option<&Links>, e: &AcmeError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = wire::problem(e);
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(l) = e
        .location
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        response.headers_mut().insert(header::LOCATION, l);
    }
    finish(core, links, response)
}

fn json_response(
    status: StatusCode,
    body: serde_json::Value,
    location: Option<String>,
) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, l);
    }
    response
}

/// `Retry-After` on a pending or processing object: as seconds or as an HTTP date, chosen at
/// random (RFC 9110 allows both, pebble sends both), so clients and tests cannot depend on
/// one form.
fn retry_after(mut response: Response, status: &str) -> Response {
    if matches!(status, "pending" | "processing") {
        let value = if rand::random::<bool>() {
            HeaderValue::from_static(RETRY_AFTER_SECONDS)
        } else {
            // Two seconds out: an HTTP date has whole seconds, and the truncation must not
            // make it "now".
            #[allow(clippy::disallowed_methods, reason = "an HTTP date is wall-clock time")]
            let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
            http_date(at)
                .and_then(|d| HeaderValue::from_str(&d).ok())
                .unwrap_or_else(|| HeaderValue::from_static(RETRY_AFTER_SECONDS))
        };
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// An IMF-fixdate (RFC 9110 §5.6.7): `Wed, 02 Dec 2026 20:14:00 GMT`.
fn http_date(at: time::OffsetDateTime) -> Option<String> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.to_offset(time::UtcOffset::UTC).format(&format).ok()
}

/// The project and its links, or a problem for an unknown project.
async fn project_links(
    state: &AppState,
    project: &str,
) -> Result<(certkeeper_domain::project::Project, Links), AcmeError> {
    let id: ProjectId = project.parse().map_err(|_| {
        AcmeError::not_found("no ACME directory here: the project id is not a UUID")
    })?;
    let p = state.core.acme_project(id).await?;
    let links = Links::new(&state.public_url, p.id);
    Ok((p, links))
}

/// Runs a signed request: project, verification, then `op`, rendering errors as problems.
async fn signed<F, Fut>(
    state: &AppState,
    project: &str,
    endpoint: impl FnOnce(&Links) -> String,
    signer: Signer,
    body: &Bytes,
    headers: &HeaderMap,
    op: F,
) -> Response
where
    F: FnOnce(Signed, Links) -> Fut,
    Fut: Future<Output = Result<Response, AcmeError>>,
{
    let core = &state.core;
    let (project, links) = match project_links(state, project).await {
        Ok(p) => p,
        Err(e) => return problem_response(core, None, &e),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/jose+json") {
        let e = AcmeError::malformed("ACME requests must be sent as application/jose+json");
        return problem_response(core, Some(&links), &e);
    }
    let url = endpoint(&links);
    let result = match core.acme_verify(project, &links, &url, body, signer).await {
        Ok(signed) => op(signed, links.clone()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(response) => finish(core, Some(&links), response),
        Err(e) => problem_response(core, Some(&links), &e),
    }
}

async fn directory(State(state): State<AppState>, Path(project): Path<String>) -> Response {
    match project_links(&state, &project).await {
        Ok((project, links)) => {
            let eab_required = match state.core.acme_eab_required(&project).await {
                Ok(r) => r,
                Err(e) => return problem_response(&state.core, Some(&links), &e),
            };
            let r = json_response(StatusCode::OK, wire::directory(&links, eab_required), None);
            // The directory itself is cacheable and needs no nonce.
            let mut r = r;
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=0, no-cache"),
            );
            r
        }
        Err(e) => problem_response(&state.core, None, &e),
    }
}

async fn nonce_response(state: &AppState, project: &str, status: StatusCode) -> Response {
    match project_links(state, project).await {
        Ok((_, links)) => finish(&state.core, Some(&links), status.into_response()),
        Err(e) => problem_response(&state.core, None, &e),
    }
}

async fn new_nonce_head(State(state): State<AppState>, Path(project): Path<String>) -> Response {
    nonce_response(&state, &project, StatusCode::OK).await
}

async fn new_nonce_get(State(state): State<AppState>, Path(project): Path<String>) -> Response {
    nonce_response(&state, &project, StatusCode::NO_CONTENT).await
}

async fn new_account(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let core = state.core.clone();
    signed(
        &state,
        &project,
        |l| l.endpoint("new-account"),
        Signer::EmbeddedKey,
        &body,
        &headers,
        |s, links| async move {
            let (account, created) = core.acme_new_account(&s).await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(
                status,
                wire::account(&account, &links),
                Some(links.account(&account.id)),
            ))
        },
    )
    .await
}

async fn account(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let core = state.core.clone();
    let url_id = id.clone();
    signed(
        &state,
        &project,
        move |l| l.account(&url_id),
        Signer::Account,
        &body,
        &headers,
        |s, links| async move {
            let account = core.acme_update_account(&s, &id).await?;
            Ok(json_response(
                StatusCode::OK,
                wire::account(&account, &links),
                Some(links.account(&account.id)),
            ))
        },
    )
    .await
}

async fn key_change(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let core = state.core.clone();
    signed(
        &state,
        &project,
        |l| l.endpoint("key-change"),
        Signer::Account,
        &body,
        &headers,
        |s, links| async move {
            let url = links.endpoint("key-change");
            let account = core.acme_key_change(&s, &links, &url).await?;
            Ok(json_response(
                StatusCode::OK,
                wire::account(&account, &links),
                Some(links.account(&account.id)),
            ))
        },
    )
    .await
}

async fn revoke_cert(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let core = state.core.clone();
    signed(
        &state,
        &project,
        |l| l.endpoint("revoke-cert"),
        Signer::AccountOrKey,
        &body,
        &headers,
        |s, _links| async move {
            core.acme_revoke_cert(&s).await?;
            Ok(StatusCode::OK.into_response())
        },
    )
    .await
}

async fn new_order(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let core = state.core.clone();
    signed(
        &state,
        &project,
        |l| l.endpoint("new-order"),
        Signer::Account,
        &body,
        &headers,
        |s, links| async move {
            let order = core.acme_new_order(&s).await?;
            let r = json_response(
                StatusCode::CREATED,
                wire::order(&order, &links),
                Some(links.order(&order.id)),
            );
            Ok(retry_after(r, &order.status))
        },
    )
    .await
}

async fn order(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let core = state.core.clone();
    let url_id = id.clone();
    signed(
        &state,
        &project,
        move |l| l.order(&url_id),
        Signer::Account,
        &body,
        &headers,
        |s, links| async move {
            let order = core.acme_order_by_id(&s, &id).await?;
            let r = json_response(
                StatusCode::OK,
                wire::order(&order, &links),
                Some(links.order(&order.id)),
            );
            Ok(retry_after(r, &order.status))
        },
    )
    .await
}

async fn finalize(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let core = state.core.clone();
    let url_id = id.clone();
    signed(
        &state,
        &project,
        move |l| l.finalize(&url_id),
        Signer::Account,
        &body,
        &headers,
        |s, links| async move {
            let order = core.acme_finalize(&s, &id).await?;
            let r = json_response(
                StatusCode::OK,
                wire::order(&order, &links),
                Some(links.order(&order.id)),
            );
            Ok(retry_after(r, &order.status))
        },
    )
    .await
}

async fn authz(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let core = state.core.clone();
    let url_id = id.clone();
    signed(
        &state,
        &project,
        move |l| l.authz(&url_id),
        Signer::Account,
        &body,
        &headers,
        |s, links| async move {
            let authz = core.acme_authz(&s, &id).await?;
            let now = core.now();
            let status = authz.status_at(now).to_string();
            let r = json_response(
                StatusCode::OK,
                wire::authorization(&authz, now, &links),
                None,
            );
            Ok(retry_after(r, &status))
        },
    )
    .await
}

async fn challenge(
    State(state): State<AppState>,
    Path((project, authz, kind)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let core = state.core.clone();
    let (url_authz, url_kind) = (authz.clone(), kind.clone());
    signed(
        &state,
        &project,
        move |l| l.challenge(&url_authz, &url_kind),
        Signer::Account,
        &body,
        &headers,
        |s, links| async move {
            let (authz, challenge) = core.acme_challenge(&s, &authz, &kind).await?;
            let mut r = json_response(
                StatusCode::OK,
                wire::challenge(&authz.id, &challenge, &links),
                None,
            );
            if let Ok(v) =
                HeaderValue::from_str(&format!("<{}>;rel=\"up\"", links.authz(&authz.id)))
            {
                r.headers_mut().append(header::LINK, v);
            }
            Ok(retry_after(r, &challenge.status))
        },
    )
    .await
}

async fn certificate(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let core = state.core.clone();
    let url_id = id.clone();
    signed(
        &state,
        &project,
        move |l| l.certificate(&url_id),
        Signer::Account,
        &body,
        &headers,
        |s, _links| async move {
            let pem = core.acme_certificate(&s, &id).await?;
            let mut r = (StatusCode::OK, pem).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pem-certificate-chain"),
            );
            Ok(r)
        },
    )
    .await
}

/// How long clients are asked to wait before asking for renewal information again (RFC 9773
/// suggests hours).
const ARI_RETRY_AFTER_SECONDS: &str = "21600";

/// `GET renewalInfo/{certID}` (RFC 9773): unauthenticated, like the directory.
async fn renewal_info(
    State(state): State<AppState>,
    Path((project, id)): Path<(String, String)>,
) -> Response {
    let core = &state.core;
    let (project, links) = match project_links(&state, &project).await {
        Ok(p) => p,
        Err(e) => return problem_response(core, None, &e),
    };
    match core.acme_renewal_info(&project, &id).await {
        Ok((start, end)) => {
            let mut r = json_response(StatusCode::OK, wire::renewal_info(start, end), None);
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(ARI_RETRY_AFTER_SECONDS),
            );
            finish(core, Some(&links), r)
        }
        Err(e) => problem_response(core, Some(&links), &e),
    }
}

/// Unknown paths under `/acme/`: a problem document.
/// A request target too long to serve, as an ACME problem.
pub(crate) fn too_long(core: &Core, detail: String) -> Response {
    let e = AcmeError {
        status: 414,
        ..AcmeError::malformed(detail)
    };
    problem_response(core, None, &e)
}

pub(crate) fn fallback(core: &Core) -> Response {
    problem_response(core, None, &AcmeError::not_found("no such ACME resource"))
}
