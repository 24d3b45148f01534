//! The HTTP client of a running certkeeper: where it is, the key it presents, the roots it
//! trusts, and how its answers (the projects API's envelope, Keyfactor's and DigiCert's
//! bodies) become results or one-line errors.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Why a command failed: on this machine (exit 1), or refused by the server (exit 2).
#[derive(Debug)]
pub enum RemoteError {
    /// A bad argument, an unreadable file, an unreachable server.
    Local(String),
    /// The server answered, and said no.
    Refused { status: u16, message: String },
}

impl RemoteError {
    pub fn local(message: impl Into<String>) -> Self {
        Self::Local(message.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            RemoteError::Local(_) => 1,
            RemoteError::Refused { .. } => 2,
        }
    }

    /// What to do about it, where there is something to do.
    fn hint(&self) -> Option<&'static str> {
        match self {
            RemoteError::Refused { status: 401, .. } => {
                Some("check the API key (--api-key, CERTKEEPER_API_KEY or `certkeeper login`)")
            }
            RemoteError::Refused { status: 403, .. } => {
                Some("this key's role or grants do not allow it; ask an admin for a key that does")
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteError::Local(m) => f.write_str(m),
            RemoteError::Refused { status, message } => {
                write!(f, "the server refused ({status}): {message}")?;
                if let Some(h) = self.hint() {
                    write!(f, "; {h}")?;
                }
                Ok(())
            }
        }
    }
}

impl RemoteError {
    /// The error as JSON mode prints it on stderr.
    pub fn to_json(&self) -> Value {
        match self {
            RemoteError::Local(m) => serde_json::json!({ "error": m, "kind": "local" }),
            RemoteError::Refused { status, message } => serde_json::json!({
                "error": message, "kind": "refused", "status": status, "hint": self.hint(),
            }),
        }
    }
}

/// A server and the key to present to it.
#[derive(Debug, Clone)]
pub struct Connection {
    pub server: String,
    pub api_key: String,
    pub ca_file: Option<PathBuf>,
}

/// A connected client.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
}

fn load_roots(path: &Path) -> Result<Vec<reqwest::Certificate>, RemoteError> {
    let pem = std::fs::read(path).map_err(|e| {
        RemoteError::local(format!("cannot read --ca-file {}: {e}", path.display()))
    })?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        RemoteError::local(format!(
            "--ca-file {} is not a PEM certificate bundle: {e}",
            path.display()
        ))
    })?;
    if roots.is_empty() {
        return Err(RemoteError::local(format!(
            "--ca-file {} holds no certificate",
            path.display()
        )));
    }
    Ok(roots)
}

impl Client {
    pub fn new(c: &Connection) -> Result<Self, RemoteError> {
        let base = c.server.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(RemoteError::local(format!(
                "--server must be an http:// or https:// URL, not {:?}",
                c.server
            )));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("certkeeper-cli/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &c.ca_file {
            for root in load_roots(path)? {
                builder = builder.add_root_certificate(root);
            }
        }
        let http = builder
            .build()
            .map_err(|e| RemoteError::local(format!("cannot set up HTTPS: {e}")))?;
        Ok(Self {
            base,
            key: c.api_key.clone(),
            http,
        })
    }

    /// Sends a request and returns the body, or the server's refusal in one line.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, String), RemoteError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-API-Key", &self.key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            RemoteError::local(format!(
                "cannot reach the server at {}: {}; check --server (or CERTKEEPER_SERVER) and that certkeeper serve is running",
                self.base,
                error_chain(&e)
            ))
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| RemoteError::local(format!("the server's answer broke off: {e}")))?;
        if status.is_success() {
            Ok((status, text))
        } else {
            Err(RemoteError::Refused {
                status: status.as_u16(),
                message: refusal_message(status, &text),
            })
        }
    }

    /// A JSON answer.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RemoteError> {
        let (_, text) = self.send(method, path, body).await?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| RemoteError::local(format!("the server's answer is not JSON: {e}")))
    }

    /// The `result` of a projects-API envelope.
    pub async fn result(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RemoteError> {
        let mut v = self.json(method, path, body).await?;
        Ok(v.get_mut("result").map(Value::take).unwrap_or(v))
    }
}

/// The reason inside an error body, whichever surface's shape it has.
fn refusal_message(status: StatusCode, text: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        // Projects API: {"errors": [...]}; DigiCert: {"errors": [{"message"}]}; Keyfactor:
        // {"Message": ...}; ACME problems: {"detail"}.
        if let Some(errors) = v.get("errors").and_then(Value::as_array) {
            let parts: Vec<String> = errors
                .iter()
                .filter_map(|e| {
                    e.as_str()
                        .map(str::to_string)
                        .or_else(|| e.get("message").and_then(Value::as_str).map(str::to_string))
                })
                .collect();
            if !parts.is_empty() {
                return parts.join("; ");
            }
        }
        for key in ["Message", "message", "detail"] {
            if let Some(m) = v.get(key).and_then(Value::as_str) {
                return m.to_string();
            }
        }
    }
    status
        .canonical_reason()
        .unwrap_or("unexpected answer")
        .to_string()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_every_surface_shape() {
        let s = StatusCode::BAD_REQUEST;
        assert_eq!(
            refusal_message(s, r#"{"success":false,"errors":["bad pem"]}"#),
            "bad pem"
        );
        assert_eq!(
            refusal_message(s, r#"{"errors":[{"code":"x","message":"nope"}]}"#),
            "nope"
        );
        assert_eq!(refusal_message(s, r#"{"Message":"kf"}"#), "kf");
        assert_eq!(refusal_message(s, "<html>"), "Bad Request");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(RemoteError::local("x").exit_code(), 1);
        let r = RemoteError::Refused {
            status: 401,
            message: "no".into(),
        };
        assert_eq!(r.exit_code(), 2);
        assert!(r.to_string().contains("--api-key"));
    }
}
