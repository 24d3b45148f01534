//! DigiCert handlers: read the query string, call the core, write DigiCert's shapes.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use certkeeper_core::CoreError;
use certkeeper_core::reports::StatusChangeOrder;
use certkeeper_core::reports::StatusChangeQuery;
use certkeeper_domain::ids::ContainerId;
use certkeeper_domain::reports::{StatusWindow, WindowError};

use super::error::{Caller, DcError};
use super::wire::{DcErrorBody, ExpiringBucket, ExpiringReport, Orders, Page, StatusChanges};
use crate::AppState;

/// DigiCert's largest page.
const MAX_LIMIT: i64 = 1000;

/// The query string's parameters; a repeated one is refused rather than silently picked.
fn params(raw: Option<&str>) -> Result<Vec<(String, String)>, DcError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(DcError::invalid_param(
                &k,
                format!("{k} is given more than once"),
            ));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A non-negative integer parameter at most `max`.
fn int_param(params: &[(String, String)], name: &str, max: i64) -> Result<Option<i64>, DcError> {
    let Some(raw) = get(params, name) else {
        return Ok(None);
    };
    match raw.trim().parse::<i64>() {
        Ok(n) if (0..=max).contains(&n) => Ok(Some(n)),
        _ => Err(DcError::invalid_param(
            name,
            format!("{name} must be an integer from 0 to {max}, got {raw:?}"),
        )),
    }
}

/// Orders expiring in the next 90, 60 and 30 days, and expired in the last 7 (seed 001).
#[utoipa::path(
    get,
    path = "/services/v2/report/order/expiring",
    tag = "DigiCert",
    params(
        ("container_id" = Option<i64>, Query, minimum = 1, description = "Limit to one container (project)"),
        ("include_expiring_certs" = Option<bool>, Query, description = "Also give certificate counts (`count`)"),
    ),
    responses(
        (status = 200, description = "The four buckets: 90, 60, 30, −7", body = ExpiringReport),
        (status = 400, description = "A parameter is not valid", body = DcErrorBody),
        (status = 401, description = "No or unknown API key", body = DcErrorBody),
        (status = 403, description = "access_denied|missing_permission", body = DcErrorBody),
        (status = 404, description = "not_found|container", body = DcErrorBody),
    )
)]
pub(crate) async fn expiring(
    State(state): State<AppState>,
    Caller(who): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<ExpiringReport>, DcError> {
    let params = params(raw.as_deref())?;
    let container = match get(&params, "container_id") {
        None => None,
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n) if n > 0 => Some(ContainerId(n)),
            _ => {
                return Err(DcError::invalid_param(
                    "container_id",
                    format!("container_id must be a positive integer, got {raw:?}"),
                ));
            }
        },
    };
    let include_certs = match get(&params, "include_expiring_certs") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
        Some(v) => {
            return Err(DcError::invalid_param(
                "include_expiring_certs",
                format!("include_expiring_certs must be true or false, got {v:?}"),
            ));
        }
    };
    let buckets = state
        .core
        .expiring_report(&who, container)
        .await
        .map_err(|e| match e {
            // The one thing this report can fail to find is the container it was asked for.
            CoreError::NotFound(m) => DcError::new(StatusCode::NOT_FOUND, "not_found|container", m),
            e => e.into(),
        })?;
    Ok(Json(ExpiringReport {
        expiring_orders: buckets
            .into_iter()
            .map(|(b, n)| ExpiringBucket {
                days_expiring: b.days_expiring(),
                order_count: n,
                // One certificate per order in certkeeper: the counts agree.
                count: include_certs.then_some(n),
            })
            .collect(),
    }))
}

/// Orders whose status changed in a time frame (seed 002).
#[utoipa::path(
    get,
    path = "/services/v2/order/certificate/status-changes",
    tag = "DigiCert",
    params(
        ("minutes" = Option<i64>, Query, minimum = 0, maximum = 10080, description = "Changes in the last n minutes (max 10080)"),
        ("seconds" = Option<i64>, Query, minimum = 0, maximum = 604800, description = "Changes in the last n seconds (max 604800)"),
        ("filters[status_last_updated]" = Option<String>, Query, description = "START...END, yyyy-MM-dd or yyyy-MM-dd+HH:mm:ss, Mountain Time"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "Skip this many orders"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many orders (1 to 1000)"),
        ("sort" = Option<String>, Query, description = "-status_last_updated (default), status_last_updated, order_id, -order_id"),
    ),
    responses(
        (status = 200, description = "The orders, newest change first; {} when none", body = StatusChanges),
        (status = 400, description = "No time frame, a frame over seven days (time_frame_too_long), or a bad parameter", body = DcErrorBody),
        (status = 401, description = "No or unknown API key", body = DcErrorBody),
        (status = 403, description = "access_denied|missing_permission", body = DcErrorBody),
    )
)]
pub(crate) async fn status_changes(
    State(state): State<AppState>,
    Caller(who): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, DcError> {
    let params = params(raw.as_deref())?;
    // Anything over seven days is "too long", however it is spelled.
    let minutes = int_param(&params, "minutes", i64::MAX / 120)?;
    let seconds = int_param(&params, "seconds", i64::MAX / 2)?;
    let range = get(&params, "filters[status_last_updated]");
    let now = state.core.now();
    let window = match (minutes.is_some() || seconds.is_some(), range) {
        (true, Some(_)) => {
            return Err(DcError::new(
                StatusCode::BAD_REQUEST,
                "invalid_filter",
                "use minutes/seconds or filters[status_last_updated], not both",
            ));
        }
        (false, None) => {
            return Err(DcError::new(
                StatusCode::BAD_REQUEST,
                "missing_filter",
                "a time frame is required: minutes, seconds, or filters[status_last_updated]",
            ));
        }
        (true, None) => StatusWindow::recent(now, minutes, seconds),
        (false, Some(r)) => StatusWindow::parse_range(r),
    }
    .map_err(|e| match e {
        WindowError::TooLong => DcError::new(
            StatusCode::BAD_REQUEST,
            "time_frame_too_long",
            "An error occurred while processing your request.",
        ),
        WindowError::Invalid(m) => DcError::new(StatusCode::BAD_REQUEST, "invalid_filter", m),
    })?;
    let offset = int_param(&params, "offset", i64::MAX)?;
    let limit = match get(&params, "limit") {
        None => None,
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Some(n),
            _ => {
                return Err(DcError::invalid_param(
                    "limit",
                    format!("limit must be an integer from 1 to {MAX_LIMIT}, got {raw:?}"),
                ));
            }
        },
    };
    let order = match get(&params, "sort").map(str::trim) {
        None | Some("-status_last_updated") => StatusChangeOrder::ChangedDesc,
        Some("status_last_updated") => StatusChangeOrder::ChangedAsc,
        Some("order_id") => StatusChangeOrder::OrderIdAsc,
        Some("-order_id") => StatusChangeOrder::OrderIdDesc,
        Some(other) => {
            return Err(DcError::invalid_param(
                "sort",
                format!(
                    "cannot sort by {other:?}; use status_last_updated, -status_last_updated, order_id or -order_id"
                ),
            ));
        }
    };
    let paged = offset.is_some() || limit.is_some();
    let page = state
        .core
        .status_changes(
            &who,
            StatusChangeQuery {
                window,
                order,
                offset: offset.unwrap_or(0),
                limit,
                paged,
            },
        )
        .await?;
    let body = if page.changes.is_empty() && page.total.unwrap_or(0) == 0 {
        StatusChanges::default()
    } else {
        StatusChanges {
            orders: Some(Orders(&page.changes)),
            page: page.total.map(|total| Page {
                total,
                limit: limit.unwrap_or(total),
                offset: offset.unwrap_or(0),
            }),
        }
    };
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body.to_json(),
    )
        .into_response())
}

pub(crate) fn fallback() -> DcError {
    DcError::new(
        StatusCode::NOT_FOUND,
        "not_found|route",
        "The endpoint does not exist.",
    )
}

pub(crate) fn method_not_allowed() -> DcError {
    DcError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint; see /openapi.json",
    )
}
