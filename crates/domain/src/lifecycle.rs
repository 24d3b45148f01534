//! A project's lifecycle settings: how DNS-01 records get published (its DNS provider), how
//! long a validated name may be reused, and when certificates renew.
//!
//! The types carry their own checks ([`ValidationSettings::check`], [`RenewalPolicy::check`]),
//! so a setting that is stored is one that can be acted on.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// TSIG algorithms an RFC 2136 update may be signed with (no MD5 or SHA-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TsigAlgorithm {
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    #[serde(rename = "hmac-sha384")]
    HmacSha384,
    #[serde(rename = "hmac-sha512")]
    HmacSha512,
}

/// Who publishes a project's DNS-01 records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "camelCase", deny_unknown_fields)]
pub enum DnsProvider {
    /// A person publishes them and calls validate (the default).
    #[serde(rename = "manual")]
    Manual,
    /// Dynamic DNS update (RFC 2136) signed with TSIG: BIND, Knot, PowerDNS, Windows DNS.
    #[serde(rename = "rfc2136", rename_all = "camelCase")]
    Rfc2136 {
        /// The primary server, `IP:PORT`.
        server: SocketAddr,
        /// The zone updates go to, e.g. `example.com`.
        zone: String,
        tsig_key_name: String,
        tsig_algorithm: TsigAlgorithm,
        /// The shared secret, base64. Never shown back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tsig_secret: Option<String>,
    },
    /// A script named in the server's configuration, called as lego's exec provider is.
    #[serde(rename = "exec")]
    Exec { name: String },
    /// joohoi/acme-dns: `_acme-challenge` is a CNAME to `subdomain` in acme-dns's zone.
    #[serde(rename = "acme-dns", rename_all = "camelCase")]
    AcmeDns {
        url: String,
        username: String,
        /// Never shown back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        subdomain: String,
    },
}

impl DnsProvider {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Rfc2136 { .. } => "rfc2136",
            Self::Exec { .. } => "exec",
            Self::AcmeDns { .. } => "acme-dns",
        }
    }

    /// The same settings without their secrets, for answers and logs.
    pub fn public(&self) -> Self {
        let mut p = self.clone();
        match &mut p {
            Self::Rfc2136 { tsig_secret, .. } => *tsig_secret = None,
            Self::AcmeDns { password, .. } => *password = None,
            Self::Manual | Self::Exec { .. } => {}
        }
        p
    }

    fn check(&self) -> Result<(), String> {
        match self {
            Self::Manual => Ok(()),
            Self::Rfc2136 {
                zone,
                tsig_key_name,
                tsig_secret,
                ..
            } => {
                crate::names::DnsName::parse(zone).map_err(|e| format!("dnsProvider.zone: {e}"))?;
                if tsig_key_name.trim().is_empty() {
                    return Err("dnsProvider.tsigKeyName must not be empty".into());
                }
                let secret = tsig_secret
                    .as_deref()
                    .ok_or("dnsProvider.tsigSecret is required for rfc2136")?;
                use base64::Engine as _;
                match base64::engine::general_purpose::STANDARD.decode(secret.trim()) {
                    Ok(k) if !k.is_empty() => Ok(()),
                    Ok(_) => Err("dnsProvider.tsigSecret is empty".into()),
                    Err(e) => Err(format!("dnsProvider.tsigSecret is not base64: {e}")),
                }
            }
            Self::Exec { name } => {
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(format!(
                        "dnsProvider.name {name:?} must be a script name from the server's configuration (letters, digits, - and _)"
                    ));
                }
                Ok(())
            }
            Self::AcmeDns {
                url,
                username,
                password,
                subdomain,
            } => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!("dnsProvider.url {url:?} must be an http(s) URL"));
                }
                if username.is_empty() || subdomain.is_empty() {
                    return Err("dnsProvider.username and subdomain must not be empty".into());
                }
                if password.as_deref().is_none_or(str::is_empty) {
                    return Err("dnsProvider.password is required for acme-dns".into());
                }
                Ok(())
            }
        }
    }
}

/// How a project's names are validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidationSettings {
    #[serde(default = "manual")]
    pub dns_provider: DnsProvider,
    /// Days a validated name stays valid for new certificates; 0 turns reuse off.
    #[serde(default = "default_reuse_days")]
    pub reuse_days: u32,
    /// How long to wait for every nameserver to serve the records.
    #[serde(default = "default_propagation")]
    pub propagation_timeout_seconds: u32,
}

fn manual() -> DnsProvider {
    DnsProvider::Manual
}
fn default_reuse_days() -> u32 {
    30
}
fn default_propagation() -> u32 {
    120
}

impl Default for ValidationSettings {
    fn default() -> Self {
        Self {
            dns_provider: DnsProvider::Manual,
            reuse_days: default_reuse_days(),
            propagation_timeout_seconds: default_propagation(),
        }
    }
}

impl ValidationSettings {
    /// The most days a validation may be reused: ACME CAs and DigiCert keep domain validation
    /// for at most 398 days.
    pub const MAX_REUSE_DAYS: u32 = 398;

    pub fn check(&self) -> Result<(), String> {
        if self.reuse_days > Self::MAX_REUSE_DAYS {
            return Err(format!(
                "reuseDays must be between 0 and {}",
                Self::MAX_REUSE_DAYS
            ));
        }
        if !(1..=3600).contains(&self.propagation_timeout_seconds) {
            return Err("propagationTimeoutSeconds must be between 1 and 3600".into());
        }
        self.dns_provider.check()
    }

    pub fn public(&self) -> Self {
        Self {
            dns_provider: self.dns_provider.public(),
            ..self.clone()
        }
    }

    /// Since when a validation must have happened to be reused at `now`; `None` when reuse is
    /// off.
    pub fn reuse_since(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        (self.reuse_days > 0).then(|| now - Duration::days(i64::from(self.reuse_days)))
    }
}

/// Whether certificates renew by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RenewalMode {
    Auto,
    Off,
}

/// When a project's certificates renew.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenewalPolicy {
    pub mode: RenewalMode,
    /// The fraction of a lifetime after which it renews; default 2/3 (1/2 under 10 days).
    #[serde(default)]
    pub renew_at_fraction: Option<f64>,
    /// Renew this long before notAfter instead (wins over the fraction).
    #[serde(default)]
    pub renew_before_seconds: Option<i64>,
}

impl Default for RenewalPolicy {
    fn default() -> Self {
        Self {
            mode: RenewalMode::Auto,
            renew_at_fraction: None,
            renew_before_seconds: None,
        }
    }
}

impl RenewalPolicy {
    /// Ten years: longer than any certificate lives, and far from `time`'s range limits.
    pub const MAX_RENEW_BEFORE_SECONDS: i64 = 315_360_000;

    pub fn check(&self) -> Result<(), String> {
        if let Some(f) = self.renew_at_fraction
            && !(f > 0.0 && f < 1.0)
        {
            return Err(format!(
                "renewAtFraction must be between 0 and 1 (exclusive), not {f}"
            ));
        }
        if let Some(s) = self.renew_before_seconds
            && !(1..=Self::MAX_RENEW_BEFORE_SECONDS).contains(&s)
        {
            return Err(format!(
                "renewBeforeSeconds must be between 1 and {} (ten years), not {s}",
                Self::MAX_RENEW_BEFORE_SECONDS
            ));
        }
        Ok(())
    }

    /// When a certificate valid `not_before..not_after` is due for renewal; `None` when
    /// renewal is off. Never before `not_before`.
    pub fn renew_at(
        &self,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        if self.mode == RenewalMode::Off {
            return None;
        }
        let lifetime = not_after - not_before;
        let at = match self.renew_before_seconds {
            Some(s) => not_after - Duration::seconds(s),
            None => {
                let fraction = self
                    .renew_at_fraction
                    .unwrap_or(if lifetime < Duration::days(10) {
                        0.5
                    } else {
                        2.0 / 3.0
                    });
                not_before + lifetime * fraction
            }
        };
        Some(at.max(not_before))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn renewal_times() {
        let nb = datetime!(2026-01-01 0:00 UTC);
        let p = RenewalPolicy::default();
        assert_eq!(
            p.renew_at(nb, nb + Duration::days(90)),
            Some(nb + Duration::days(60))
        );
        assert_eq!(
            p.renew_at(nb, nb + Duration::days(6)),
            Some(nb + Duration::days(3))
        );
        let before = RenewalPolicy {
            renew_before_seconds: Some(86400),
            ..p
        };
        assert_eq!(
            before.renew_at(nb, nb + Duration::days(90)),
            Some(nb + Duration::days(89))
        );
        let off = RenewalPolicy {
            mode: RenewalMode::Off,
            ..p
        };
        assert_eq!(off.renew_at(nb, nb + Duration::days(90)), None);
        assert!(
            RenewalPolicy {
                renew_at_fraction: Some(1.5),
                ..p
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn providers_parse_check_and_hide_secrets() {
        let v: ValidationSettings = serde_json::from_str(
            r#"{"dnsProvider": {"provider": "rfc2136", "server": "127.0.0.1:53", "zone": "example.test",
                "tsigKeyName": "k", "tsigAlgorithm": "hmac-sha256", "tsigSecret": "c2VjcmV0"}, "reuseDays": 7}"#,
        )
        .unwrap();
        v.check().unwrap();
        let shown = serde_json::to_value(v.public()).unwrap();
        assert!(shown["dnsProvider"].get("tsigSecret").is_none());
        assert_eq!(shown["dnsProvider"]["provider"], "rfc2136");
        let bad: ValidationSettings = serde_json::from_str(
            r#"{"dnsProvider": {"provider": "rfc2136", "server": "127.0.0.1:53", "zone": "example.test",
                "tsigKeyName": "k", "tsigAlgorithm": "hmac-sha256", "tsigSecret": "%%%"}}"#,
        )
        .unwrap();
        assert!(bad.check().unwrap_err().contains("base64"));
        assert!(
            serde_json::from_str::<ValidationSettings>(r#"{"dnsProvider": {"provider": "x"}}"#)
                .is_err()
        );
        let exec: ValidationSettings =
            serde_json::from_str(r#"{"dnsProvider": {"provider": "exec", "name": "../x"}}"#)
                .unwrap();
        assert!(exec.check().is_err());
        assert_eq!(ValidationSettings::default().reuse_days, 30);
    }
}
