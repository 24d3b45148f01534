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
    // An optional body may also be sent as JSON `null`, which is what "no body" is in the
    // document's terms (a nullable request body).
    if bytes.iter().all(u8::is_ascii_whitespace)
        || (empty.is_some() && bytes.trim_ascii() == b"null")
    {
        return match empty {
            Some(default) => Ok(default()),
            None => Err(BodyError {
                status: StatusCode::BAD_REQUEST,
                message: "request body must be a JSON object".into(),
            }),
        };
    }
    // Every body these APIs take is an object; serde would also read a struct from an array
    // (`[null, null]`), which no client means.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(BodyError {
            status: StatusCode::BAD_REQUEST,
            message: "request body must be a JSON object".into(),
        });
    }
    // The path of the field at fault (`reuseDays`, `dnsProvider.server`) leads the message,
    // as serde's own error only gives a line and column.
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let err = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    // JSON Schema counts `5.0` as an integer, and some clients write integers that way. serde
    // does not, so a body that failed is read again with integral numbers made integers; a
    // body that needed none of that keeps its first error. (Off the fast path: only a body
    // that already failed pays for the second parse.)
    if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && integers_made_integral(&mut value)
    {
        return serde_path_to_error::deserialize(value).map_err(body_error);
    }
    Err(body_error(err))
}

fn body_error(e: serde_path_to_error::Error<serde_json::Error>) -> BodyError {
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
}

/// Rewrites every number with no fractional part (`5.0`, `-1e3`) that fits an `i64` as that
/// integer; true when it changed anything. A field of floating type still reads it.
fn integers_made_integral(v: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            // The bounds are exact powers of two, so the cast below cannot saturate.
            Some(f) if f.fract() == 0.0 && f >= -(2f64.powi(63)) && f < 2f64.powi(63) => {
                #[allow(clippy::cast_possible_truncation)]
                let i = f as i64;
                *v = Value::from(i);
                true
            }
            _ => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
            integers_made_integral(item) | changed
        }),
        Value::Object(map) => map.values_mut().fold(false, |changed, item| {
            integers_made_integral(item) | changed
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_numbers_become_integers_and_others_stay() {
        let mut v = serde_json::json!({"a": 5.0, "b": [-1e3, 0.5], "c": "7.0", "d": 3, "e": 1e300});
        assert!(integers_made_integral(&mut v));
        assert_eq!(
            v,
            serde_json::json!({"a": 5, "b": [-1000, 0.5], "c": "7.0", "d": 3, "e": 1e300})
        );
        let mut plain = serde_json::json!({"a": 1, "b": 0.25});
        assert!(!integers_made_integral(&mut plain));
    }
}
