//! Webhooks signed by the Standard Webhooks specification (standardwebhooks.com): headers
//! `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`, keyed with the secret after its `whsec_` prefix (base64). Receivers
//! verify with any Standard Webhooks library and dedupe on `webhook-id`, which stays the same
//! on every retry.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// The prefix Standard Webhooks secrets carry.
pub const SECRET_PREFIX: &str = "whsec_";
/// How long one delivery attempt may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook secret must be \"whsec_\" followed by base64 (24 to 64 bytes)")]
    BadSecret,
    #[error("webhook url {0:?} must be an absolute http:// or https:// URL")]
    BadUrl(String),
    #[error(
        "webhook url {url:?} resolves to {addr}, a private, loopback or link-local address; \
         the server refuses those unless started with --allow-private-webhooks"
    )]
    Private { url: String, addr: IpAddr },
    #[error("webhook url {url:?}: its host does not resolve: {why}")]
    Unresolvable { url: String, why: String },
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// A new secret: `whsec_` and 32 random bytes, base64.
pub fn generate_secret() -> Result<String, WebhookError> {
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| WebhookError::BadSecret)?;
    Ok(format!("{SECRET_PREFIX}{}", b64().encode(raw)))
}

/// The key bytes of a `whsec_` secret.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, WebhookError> {
    let raw = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or(WebhookError::BadSecret)?;
    let key = b64().decode(raw).map_err(|_| WebhookError::BadSecret)?;
    if (24..=64).contains(&key.len()) {
        Ok(key)
    } else {
        Err(WebhookError::BadSecret)
    }
}

/// `v1,<signature>` of one message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &secret_key(secret)?);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    Ok(format!("v1,{}", b64().encode(ctx.sign().as_ref())))
}

/// Whether an address is one a webhook must not reach by default (SSRF): loopback,
/// private (RFC 1918, ULA), link-local, unspecified, CGNAT, or multicast.
pub fn is_private(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || (a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (a.segments()[0] & 0xfe00) == 0xfc00
                || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Checks a target URL: its scheme, and (unless `allow_private`) that none of the addresses
/// its host resolves to is private. Run when a rule is saved and again before every delivery,
/// since DNS can change in between.
pub async fn check_target(url: &str, allow_private: bool) -> Result<reqwest::Url, WebhookError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| WebhookError::BadUrl(url.into()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(WebhookError::BadUrl(url.into()));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| WebhookError::BadUrl(url.into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| WebhookError::Unresolvable {
                url: url.into(),
                why: e.to_string(),
            })?
            .map(|a| a.ip())
            .collect(),
    };
    if let Some(addr) = addrs.into_iter().find(|a| is_private(*a)) {
        return Err(WebhookError::Private {
            url: url.into(),
            addr,
        });
    }
    Ok(parsed)
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx.
    Delivered(u16),
    /// 410 Gone: the receiver asks never to be called again.
    Gone,
    /// Anything else: retry later.
    Failed { status: Option<u16>, error: String },
}

/// A message ready to send.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub id: &'a str,
    pub timestamp: i64,
    pub body: &'a [u8],
}

/// Sends one signed message.
pub async fn send(
    client: &reqwest::Client,
    url: reqwest::Url,
    secret: &str,
    message: &Message<'_>,
) -> Attempt {
    let signature = match sign(secret, message.id, message.timestamp, message.body) {
        Ok(s) => s,
        Err(e) => {
            return Attempt::Failed {
                status: None,
                error: e.to_string(),
            };
        }
    };
    let response = client
        .post(url)
        .timeout(TIMEOUT)
        .header("content-type", "application/json")
        .header("webhook-id", message.id)
        .header("webhook-timestamp", message.timestamp.to_string())
        .header("webhook-signature", signature)
        .body(message.body.to_vec())
        .send()
        .await;
    match response {
        Ok(r) if r.status().is_success() => Attempt::Delivered(r.status().as_u16()),
        Ok(r) if r.status().as_u16() == 410 => Attempt::Gone,
        Ok(r) => Attempt::Failed {
            status: Some(r.status().as_u16()),
            error: format!("the receiver answered {}", r.status()),
        },
        Err(e) => Attempt::Failed {
            status: None,
            error: format!("cannot reach the receiver: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_specification_example() {
        // The example of the Standard Webhooks specification (and its libraries' tests).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sig = sign(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(generate_secret().unwrap().starts_with("whsec_"));
        assert_eq!(secret_key("nope"), Err(WebhookError::BadSecret));
    }

    #[test]
    fn private_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "fe80::1",
            "100.64.0.1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_private(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "2001:4860:4860::8888"] {
            assert!(!is_private(a.parse().unwrap()), "{a}");
        }
    }
}
