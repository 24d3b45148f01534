//! Configuration: one typed struct, read from a TOML file, then the environment, then flags
//! (each later source wins). Flags and environment variables are declared together on the
//! clap arguments; the file fills what neither set.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use certkeeper_store::{StoreOptions, Synchronous};
use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE: &str = "sqlite://certkeeper.db";
pub const DEFAULT_LEAF_LIFETIME_DAYS: u32 = 90;
pub const DEFAULT_CHALLENGE_TTL_HOURS: u32 = 7 * 24;
/// sqlx logs every PostgreSQL notice (e.g. "relation already exists") at info: keep those quiet.
pub const DEFAULT_LOG: &str = "info,sqlx=warn";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("--log-format {other:?}: expected text or json")),
        }
    }
}
pub const DEFAULT_JOB_POLL_SECONDS: u64 = 30;

/// Parses `--dns-exec NAME=PATH`.
pub fn parse_dns_exec(arg: &str) -> Result<(String, DnsExec), String> {
    let (name, path) = arg
        .split_once('=')
        .ok_or_else(|| format!("--dns-exec takes NAME=PATH, got {arg:?}"))?;
    if name.is_empty() || path.is_empty() {
        return Err(format!("--dns-exec takes NAME=PATH, got {arg:?}"));
    }
    Ok((
        name.to_string(),
        DnsExec {
            command: PathBuf::from(path),
        },
    ))
}

/// `certkeeper.toml`. Unknown keys are an error, so a typo does not silently fall back.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub log: Option<String>,
    /// `text` or `json`.
    pub log_format: Option<String>,
    pub dns_resolver: Option<SocketAddr>,
    pub leaf_lifetime_days: Option<u32>,
    pub challenge_ttl_hours: Option<u32>,
    pub issuer: Option<String>,
    pub acme_directory: Option<String>,
    pub acme_ca_bundle: Option<PathBuf>,
    pub acme_eab_kid: Option<String>,
    pub acme_eab_hmac: Option<String>,
    pub acme_contact: Option<String>,
    /// `full` (default) or `normal`.
    pub sqlite_synchronous: Option<String>,
    /// The longest the scheduler sleeps between looks at the jobs table, in seconds.
    pub job_poll_seconds: Option<u64>,
    /// DNS scripts an `exec` provider may name: `[dns_exec.NAME] command = "PATH"`.
    pub dns_exec: Option<BTreeMap<String, DnsExec>>,
    /// The port authoritative nameservers are asked on when waiting for propagation.
    pub dns_authoritative_port: Option<u16>,
    /// SMTP relay for e-mail notifications: `smtp://host:port` or `smtps://host:port`.
    pub smtp_url: Option<String>,
    /// The From address of notification e-mail.
    pub smtp_from: Option<String>,
    /// Let webhooks reach private, loopback and link-local addresses (off by default).
    pub allow_private_webhooks: Option<bool>,
    /// PEM chain and key for HTTPS on the listener (reloaded on SIGHUP or when they change).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// HTTPS with a certificate from the built-in CA.
    pub tls_builtin: Option<bool>,
    /// The names of the built-in TLS certificate (default: `localhost` and the listen IP).
    pub tls_names: Option<Vec<String>>,
    /// The base URL every link the server hands out is built from.
    pub public_url: Option<String>,
    /// The port the ACME server's http-01 validations connect to (default 80).
    pub acme_http01_port: Option<u16>,
    /// The port the ACME server's tls-alpn-01 validations connect to (default 443).
    pub acme_tlsalpn01_port: Option<u16>,
    /// Serve /metrics without an API key.
    pub metrics_public: Option<bool>,
    /// At most this many per-certificate series on /metrics.
    pub metrics_certificate_limit: Option<i64>,
    /// Minutes a dashboard session may stay idle (default 30).
    pub session_idle_minutes: Option<u32>,
    /// Seconds a client has to send a request's headers (default 30).
    pub header_read_timeout_seconds: Option<u64>,
    /// Connections open at once (default 10000).
    pub max_connections: Option<u64>,
    /// Per-key burst (default 200; 0: no rate limit).
    pub rate_limit_burst: Option<u32>,
    /// Per-key sustained requests per second (default 100; 0: no rate limit).
    pub rate_limit_per_second: Option<u32>,
}

/// One configured DNS script.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsExec {
    pub command: PathBuf,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: String,
    pub database: String,
    pub master_key_file: PathBuf,
    pub log: String,
    pub log_format: LogFormat,
    /// Where DNS-01 lookups go; `None`: the system's resolvers.
    pub dns_resolver: Option<SocketAddr>,
    /// Lifetime of certificates the built-in CA issues.
    pub leaf_lifetime_days: u32,
    /// How long a created certificate's order waits for validation.
    pub challenge_ttl_hours: u32,
    /// `builtin` or `acme`: who signs created certificates.
    pub issuer: String,
    pub acme_directory: Option<String>,
    pub acme_ca_bundle: Option<PathBuf>,
    /// External Account Binding key id and base64url HMAC key.
    pub acme_eab_kid: Option<String>,
    pub acme_eab_hmac: Option<String>,
    pub acme_contact: Option<String>,
    /// SQLite's durability: `full` unless `normal` is asked for explicitly.
    pub sqlite_synchronous: Synchronous,
    /// The scheduler's longest sleep.
    pub job_poll_seconds: u64,
    /// DNS scripts by name (file entries, then flags of the same name over them).
    pub dns_exec: BTreeMap<String, PathBuf>,
    pub dns_authoritative_port: u16,
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub allow_private_webhooks: bool,
    pub tls: TlsMode,
    /// Without a trailing slash; `None`: built from the listen address once bound.
    pub public_url: Option<String>,
    pub acme_http01_port: u16,
    pub acme_tlsalpn01_port: u16,
    pub metrics_public: bool,
    pub metrics_certificate_limit: i64,
    /// How long a dashboard session may stay idle; at least one minute.
    pub session_idle_minutes: u32,
    pub header_read_timeout_seconds: u64,
    pub max_connections: usize,
    /// Per API key, per node; zero in either field turns it off.
    pub rate_limit: certkeeper_core::ratelimit::RateLimit,
}

/// How the listener speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP (the default; meant for 127.0.0.1 or behind a TLS-terminating proxy).
    Off,
    /// A certificate and key from files.
    Files { cert: PathBuf, key: PathBuf },
    /// A certificate from the built-in CA for these names (empty: `localhost` and the listen
    /// IP).
    Builtin { names: Vec<String> },
}

impl TlsMode {
    pub fn scheme(&self) -> &'static str {
        match self {
            TlsMode::Off => "http",
            _ => "https",
        }
    }
}

/// Checks `--public-url`: an absolute http(s) URL without query or fragment; the trailing
/// slash is dropped so links can be appended.
pub fn parse_public_url(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("public_url {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(format!(
            "public_url must be an http:// or https:// URL without query or fragment, got {url:?}"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// What flags and environment gave (clap already applied flag-over-env): the same settings as
/// the file, each optional.
pub type Overrides = FileConfig;

impl Config {
    pub fn resolve(file: FileConfig, over: Overrides) -> Result<Self, String> {
        let database = over
            .database
            .or(file.database)
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        let master_key_file = over
            .master_key_file
            .or(file.master_key_file)
            .unwrap_or_else(|| default_master_key_file(&database));
        let sqlite_synchronous = match over.sqlite_synchronous.or(file.sqlite_synchronous) {
            Some(s) => s.parse()?,
            None => Synchronous::default(),
        };
        let job_poll_seconds = over
            .job_poll_seconds
            .or(file.job_poll_seconds)
            .unwrap_or(DEFAULT_JOB_POLL_SECONDS);
        if !(1..=3600).contains(&job_poll_seconds) {
            return Err(format!(
                "job_poll_seconds must be between 1 and 3600, got {job_poll_seconds}"
            ));
        }
        let mut dns_exec: BTreeMap<String, PathBuf> = BTreeMap::new();
        for source in [file.dns_exec, over.dns_exec].into_iter().flatten() {
            for (name, e) in source {
                dns_exec.insert(name, e.command);
            }
        }
        let smtp_url = over.smtp_url.or(file.smtp_url);
        let smtp_from = over.smtp_from.or(file.smtp_from);
        if smtp_url.is_some() != smtp_from.is_some() {
            return Err("smtp_url and smtp_from go together".into());
        }
        let tls_builtin = over.tls_builtin.or(file.tls_builtin).unwrap_or(false);
        let tls_names = over.tls_names.or(file.tls_names).unwrap_or_default();
        let names_given = !tls_names.is_empty();
        let tls = match (
            over.tls_cert.or(file.tls_cert),
            over.tls_key.or(file.tls_key),
        ) {
            (Some(_), _) | (_, Some(_)) if tls_builtin => {
                return Err("tls_builtin and tls_cert/tls_key exclude each other".into());
            }
            (Some(cert), Some(key)) => TlsMode::Files { cert, key },
            (None, None) if tls_builtin => TlsMode::Builtin { names: tls_names },
            (None, None) => TlsMode::Off,
            _ => return Err("tls_cert and tls_key go together".into()),
        };
        if names_given && !matches!(tls, TlsMode::Builtin { .. }) {
            return Err("tls_name is for tls_builtin".into());
        }
        let public_url = over
            .public_url
            .or(file.public_url)
            .map(|u| parse_public_url(&u))
            .transpose()?;
        Ok(Self {
            acme_http01_port: over
                .acme_http01_port
                .or(file.acme_http01_port)
                .unwrap_or(80),
            acme_tlsalpn01_port: over
                .acme_tlsalpn01_port
                .or(file.acme_tlsalpn01_port)
                .unwrap_or(443),
            metrics_public: over.metrics_public.or(file.metrics_public).unwrap_or(false),
            metrics_certificate_limit: over
                .metrics_certificate_limit
                .or(file.metrics_certificate_limit)
                .unwrap_or(10_000)
                .max(0),
            session_idle_minutes: over
                .session_idle_minutes
                .or(file.session_idle_minutes)
                .unwrap_or(30)
                .max(1),
            header_read_timeout_seconds: over
                .header_read_timeout_seconds
                .or(file.header_read_timeout_seconds)
                .unwrap_or(30)
                .clamp(1, 3600),
            max_connections: usize::try_from(
                over.max_connections
                    .or(file.max_connections)
                    .unwrap_or(10_000)
                    .clamp(1, 1_000_000),
            )
            .unwrap_or(10_000),
            rate_limit: certkeeper_core::ratelimit::RateLimit {
                burst: over
                    .rate_limit_burst
                    .or(file.rate_limit_burst)
                    .unwrap_or(certkeeper_core::ratelimit::RateLimit::DEFAULT.burst),
                per_second: over
                    .rate_limit_per_second
                    .or(file.rate_limit_per_second)
                    .unwrap_or(certkeeper_core::ratelimit::RateLimit::DEFAULT.per_second),
            },
            tls,
            public_url,
            smtp_url,
            smtp_from,
            allow_private_webhooks: over
                .allow_private_webhooks
                .or(file.allow_private_webhooks)
                .unwrap_or(false),
            job_poll_seconds,
            dns_exec,
            dns_authoritative_port: over
                .dns_authoritative_port
                .or(file.dns_authoritative_port)
                .unwrap_or(53),
            listen: over
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
            database,
            master_key_file,
            log: over
                .log
                .or(file.log)
                .unwrap_or_else(|| DEFAULT_LOG.to_string()),
            log_format: over
                .log_format
                .or(file.log_format)
                .map(|f| f.parse::<LogFormat>())
                .transpose()?
                .unwrap_or_default(),
            dns_resolver: over.dns_resolver.or(file.dns_resolver),
            leaf_lifetime_days: over
                .leaf_lifetime_days
                .or(file.leaf_lifetime_days)
                .unwrap_or(DEFAULT_LEAF_LIFETIME_DAYS),
            challenge_ttl_hours: over
                .challenge_ttl_hours
                .or(file.challenge_ttl_hours)
                .unwrap_or(DEFAULT_CHALLENGE_TTL_HOURS),
            issuer: over
                .issuer
                .or(file.issuer)
                .unwrap_or_else(|| "builtin".to_string()),
            acme_directory: over.acme_directory.or(file.acme_directory),
            acme_ca_bundle: over.acme_ca_bundle.or(file.acme_ca_bundle),
            acme_eab_kid: over.acme_eab_kid.or(file.acme_eab_kid),
            acme_eab_hmac: over.acme_eab_hmac.or(file.acme_eab_hmac),
            acme_contact: over.acme_contact.or(file.acme_contact),
            sqlite_synchronous,
        })
    }

    /// How the store connects.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            sqlite_synchronous: self.sqlite_synchronous,
        }
    }
}

/// `master.key` beside the SQLite file; in the working directory for PostgreSQL.
fn default_master_key_file(database: &str) -> PathBuf {
    match certkeeper_store::sqlite_path(database) {
        Some(db) => db.parent().unwrap_or(Path::new("")).join("master.key"),
        None => PathBuf::from("master.key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beat_defaults() {
        let file = FileConfig {
            listen: Some("0.0.0.0:1".into()),
            database: Some("sqlite://data/x.db".into()),
            ..Default::default()
        };
        let c = Config::resolve(
            file,
            Overrides {
                listen: Some("127.0.0.1:2".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:2");
        assert_eq!(c.database, "sqlite://data/x.db");
        assert_eq!(c.master_key_file, PathBuf::from("data/master.key"));
        let d = Config::resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(d.sqlite_synchronous, Synchronous::Full);
        assert_eq!(d.listen, DEFAULT_LISTEN);
        assert_eq!(d.master_key_file, PathBuf::from("master.key"));
        let pg = Config::resolve(
            FileConfig::default(),
            Overrides {
                database: Some("postgres://h/d".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(pg.master_key_file, PathBuf::from("master.key"));
    }

    #[test]
    fn sqlite_synchronous_is_full_unless_normal_is_asked_for() {
        let file = FileConfig {
            sqlite_synchronous: Some("normal".into()),
            ..Default::default()
        };
        let c = Config::resolve(file.clone(), Overrides::default()).unwrap();
        assert_eq!(c.sqlite_synchronous, Synchronous::Normal);
        let over = Overrides {
            sqlite_synchronous: Some("FULL".into()),
            ..Default::default()
        };
        assert_eq!(
            Config::resolve(file, over).unwrap().sqlite_synchronous,
            Synchronous::Full
        );
        let bad = Overrides {
            sqlite_synchronous: Some("off".into()),
            ..Default::default()
        };
        let err = Config::resolve(FileConfig::default(), bad).unwrap_err();
        assert!(err.contains("expected full or normal"), "{err}");
    }

    #[test]
    fn tls_modes_exclude_each_other() {
        let with = |o: Overrides| Config::resolve(FileConfig::default(), o);
        assert_eq!(with(Overrides::default()).unwrap().tls, TlsMode::Off);
        let files = with(Overrides {
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(matches!(files.tls, TlsMode::Files { .. }));
        assert_eq!(files.tls.scheme(), "https");
        assert!(
            with(Overrides {
                tls_cert: Some("c.pem".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            with(Overrides {
                tls_cert: Some("c.pem".into()),
                tls_key: Some("k.pem".into()),
                tls_builtin: Some(true),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            with(Overrides {
                tls_names: Some(vec!["a".into()]),
                ..Default::default()
            })
            .is_err()
        );
        let builtin = with(Overrides {
            tls_builtin: Some(true),
            tls_names: Some(vec!["ck.test".into()]),
            public_url: Some("https://ck.test:8443/".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            builtin.tls,
            TlsMode::Builtin {
                names: vec!["ck.test".into()]
            }
        );
        assert_eq!(builtin.public_url.as_deref(), Some("https://ck.test:8443"));
        for bad in ["ftp://x", "not a url", "https://x/?q=1", "/relative"] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_limit_is_on_by_default_and_zero_turns_it_off() {
        use certkeeper_core::ratelimit::RateLimit;
        let with = |o: Overrides| {
            Config::resolve(FileConfig::default(), o)
                .unwrap()
                .rate_limit
        };
        let default = with(Overrides::default());
        assert_eq!(
            default,
            RateLimit {
                burst: 200,
                per_second: 100
            }
        );
        assert!(default.enabled().is_some());
        let off = with(Overrides {
            rate_limit_burst: Some(0),
            ..Overrides::default()
        });
        assert!(off.enabled().is_none());
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("listn = \"x\"").is_err());
        assert!(toml::from_str::<FileConfig>("listen = \"127.0.0.1:1\"").is_ok());
    }
}
