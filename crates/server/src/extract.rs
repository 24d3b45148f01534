//! Surface-neutral request reading. Each surface wraps these to give failures its own error
//! shape, so no extractor rejection ever reaches a client as axum's plain-text default.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) struct BodyError {
    pub status: StatusCode,
    pub message: String,
}

/// Reads a JSON body (whatever its Content-Type says, as lenient vendor servers do), within
/// the body limit. Unknown fields are ignored; wrong types are a 400 naming the field.
pub(crate) async fn json_body<T: DeserializeOwned, S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<T, BodyError> {
    read_json(req, state, None).await
}

/// [`json_body`] where no body at all means `T::default()` (a request whose every field is
/// optional, such as a revocation without a reason).
pub(crate) async fn json_body_or_default<T: DeserializeOwned + Default, S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<T, BodyError> {
    read_json(req, state, Some(T::default)).await
}

async fn read_json<T: DeserializeOwned, S: Send + Sync>(
    req: Request,
    state: &S,
    empty: Option<fn() -> T>,
) -> Result<T, BodyError> {
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("request body is larger than {} bytes", crate::BODY_LIMIT)
        } else {
            format!("cannot read request body: {}", rejection.body_text())
        };
        BodyError { status, message }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return match empty {
            Some(default) => Ok(default()),
            None => Err(BodyError {
                status: StatusCode::BAD_REQUEST,
                message: "request body must be a JSON object".into(),
            }),
        };
    }
    // The path of the field at fault (`reuseDays`, `dnsProvider.server`) leads the message,
    // as serde's own error only gives a line and column.
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        BodyError {
            status: StatusCode::BAD_REQUEST,
            message: if path == "." || path.is_empty() {
                format!("invalid JSON body: {inner}")
            } else {
                format!("invalid JSON body: {path}: {inner}")
            },
        }
    })
}
