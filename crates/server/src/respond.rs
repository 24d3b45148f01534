//! Responses whose size is known in advance.

use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `value` as a JSON response, written into a buffer of `capacity` bytes. axum's `Json` starts
/// at 128 bytes and doubles: for a list of several megabytes (DigiCert's status-change list
/// holds ~93,000 orders at 10M certificates) the copies and page faults of that growth were a
/// fifth of the server's time for the request (`perf`). An estimate that falls short only
/// means one more growth.
pub(crate) fn sized_json<T: Serialize>(
    value: &T,
    capacity: usize,
) -> Result<Response, serde_json::Error> {
    let mut body = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut body, value)?;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response())
}
