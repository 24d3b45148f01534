//! `GET /metrics` (Prometheus text format) and `GET /readyz`. Request counters and latency
//! histograms live in a registry this router owns (prometheus-client: no global recorder, so
//! several servers in one process keep their own); inventory gauges are read at each scrape
//! from the store's aggregates (no inventory scan). The route label is the route template
//! (`/api/v1/projects/{projectId}/certificates/{id}`), never the raw path.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::AppState;

/// How `/metrics` is served (`serve --metrics-public`, `--metrics-certificate-limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Serve `/metrics` without an API key.
    pub public: bool,
    /// At most this many per-certificate expiry series, nearest expiry first.
    pub certificate_limit: i64,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            public: false,
            certificate_limit: 10_000,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The request metrics of one router.
#[derive(Debug, Clone)]
pub(crate) struct RequestMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

/// Middleware: counts each request and times it, by route template.
pub(crate) async fn track(
    State(metrics): State<Arc<RequestMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectStatus {
    project: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectWithin {
    project: String,
    within_days: i64,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CertificateLabels {
    project: String,
    id: i64,
    common_name: String,
    issuer: String,
    serial: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    operation: String,
    outcome: String,
}

/// The core's outcome counts as one counter family, read at the scrape.
#[derive(Debug)]
struct OutcomeCounters(Vec<(&'static str, &'static str, u64)>);

impl prometheus_client::collector::Collector for OutcomeCounters {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric as _;
        let mut metric = encoder.encode_descriptor(
            "outcomes",
            "What operations came to on this node: validation, renewal, delivery, revocation, acme_finalize",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (operation, outcome, n) in &self.0 {
            let labels = OutcomeLabels {
                operation: (*operation).into(),
                outcome: (*outcome).into(),
            };
            prometheus_client::metrics::counter::ConstCounter::new(*n)
                .encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// `GET /metrics`.
pub(crate) async fn scrape(
    State((state, requests)): State<(AppState, Arc<RequestMetrics>)>,
    headers: axum::http::HeaderMap,
) -> Response {
    let who = if state.metrics.public {
        None
    } else {
        match crate::auth::caller(&headers, &state).await {
            Ok(p) => Some(p),
            Err(e) => {
                let status = crate::auth::status_of(&e).unwrap_or(StatusCode::UNAUTHORIZED);
                let mut r = if status == StatusCode::TOO_MANY_REQUESTS {
                    text(status, "too many requests for this API key\n")
                } else {
                    text(status, "an API key is required as a bearer token\n")
                };
                crate::auth::add_retry_after(&mut r);
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"certkeeper\""),
                );
                return r;
            }
        }
    };
    let inventory = match state
        .core
        .inventory_metrics(who.as_ref(), state.metrics.certificate_limit)
        .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "reading metrics failed");
            return text(StatusCode::SERVICE_UNAVAILABLE, "metrics are unavailable\n");
        }
    };
    let mut registry = Registry::with_prefix("certkeeper");
    registry.register(
        "http_requests",
        "HTTP requests answered, by route template and status",
        requests.requests.clone(),
    );
    registry.register(
        "http_request_duration_seconds",
        "HTTP request latency, by route template",
        requests.latency.clone(),
    );
    registry.register(
        "build",
        "The running build",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    registry.register_collector(Box::new(OutcomeCounters(state.core.outcomes())));
    let certificates = Family::<ProjectStatus, Gauge>::default();
    let expiring = Family::<ProjectWithin, Gauge>::default();
    for (project, c) in &inventory.projects {
        for (status, n) in [
            ("total", c.total),
            ("valid", c.valid),
            ("expired", c.expired),
            ("revoked", c.revoked),
        ] {
            certificates
                .get_or_create(&ProjectStatus {
                    project: project.clone(),
                    status: status.into(),
                })
                .set(n);
        }
        for (days, n) in certkeeper_store::EXPIRING_DAYS.iter().zip(c.expiring) {
            expiring
                .get_or_create(&ProjectWithin {
                    project: project.clone(),
                    within_days: *days,
                })
                .set(n);
        }
    }
    registry.register(
        "certificates",
        "Certificates per project: total records, and valid, expired (not renewed) and revoked ones",
        certificates,
    );
    registry.register(
        "certificates_expiring",
        "Valid certificates (not renewed, not revoked) expiring within the given days",
        expiring,
    );
    let expiration = Family::<CertificateLabels, Gauge>::default();
    for (project, c) in &inventory.nearest {
        expiration
            .get_or_create(&CertificateLabels {
                project: project.clone(),
                id: c.id.0,
                common_name: c.common_name.clone(),
                issuer: c.issuer.clone(),
                serial: c.serial_number.clone(),
            })
            .set(c.not_after.unix_timestamp());
    }
    registry.register(
        "certificate_expiration_timestamp_seconds",
        "When each certificate expires (the nearest --metrics-certificate-limit only)",
        expiration,
    );
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &registry) {
        tracing::error!(error = %e, "encoding metrics failed");
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics could not be encoded\n",
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// `GET /readyz`: 200 once the database answers (migrations ran before the listener opened).
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    match state.core.ready().await {
        Ok(()) => text(StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer\n",
            )
        }
    }
}
