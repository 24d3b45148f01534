//! DNS-01 checks against real DNS: are the TXT records a user was asked to publish there?
//!
//! Lookups go to the configured resolver (the system's by default, or one given as
//! `IP:PORT`), over UDP with TCP fallback, with caching disabled so that a user who just
//! fixed a record is not told about the old answer. CNAMEs are followed, as Let's Encrypt
//! does, so `_acme-challenge` may be delegated to another zone.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod propagation;
pub mod publish;

pub use propagation::Propagation;
pub use publish::{PublishError, Publisher};

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

/// A record the user was asked to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTxt {
    /// e.g. `_acme-challenge.example.com`
    pub name: String,
    pub value: String,
}

/// The per-attempt timeout a server uses unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// What DNS said about one expected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtOutcome {
    Found,
    /// No TXT record at that name (NXDOMAIN or no data).
    Missing,
    /// TXT records exist there, none with the expected value.
    WrongValue {
        found: Vec<String>,
    },
    /// The lookup itself failed (timeout, SERVFAIL, ...).
    LookupFailed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DnsSetupError {
    #[error("cannot use the system's DNS configuration: {0}")]
    System(String),
}

/// Checks DNS-01 TXT records.
#[derive(Clone)]
pub struct Dns01Checker {
    resolver: TokioResolver,
}

impl std::fmt::Debug for Dns01Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns01Checker").finish_non_exhaustive()
    }
}

impl Dns01Checker {
    /// Uses the resolvers from the system configuration (`/etc/resolv.conf`); each query
    /// attempt gives up after `timeout`.
    pub fn system(timeout: Duration) -> Result<Self, DnsSetupError> {
        let builder =
            TokioResolver::builder_tokio().map_err(|e| DnsSetupError::System(e.to_string()))?;
        Self::finish(builder, timeout)
    }

    /// Uses one resolver (or authoritative server) at `addr`; each query attempt gives up
    /// after `timeout`.
    pub fn with_server(addr: SocketAddr, timeout: Duration) -> Result<Self, DnsSetupError> {
        let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
        for c in &mut ns.connections {
            c.port = addr.port();
        }
        let config = ResolverConfig::from_parts(None, Vec::new(), vec![ns]);
        Self::finish(
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default()),
            timeout,
        )
    }

    fn finish(
        mut builder: hickory_resolver::ResolverBuilder<TokioRuntimeProvider>,
        timeout: Duration,
    ) -> Result<Self, DnsSetupError> {
        let opts = builder.options_mut();
        // A validate call must see DNS as it is now, not as it was on the last call.
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        opts.timeout = timeout;
        opts.attempts = 2;
        let resolver = builder
            .build()
            .map_err(|e| DnsSetupError::System(e.to_string()))?;
        Ok(Self { resolver })
    }

    /// The resolver underneath, for the other lookups propagation needs.
    pub(crate) fn resolver(&self) -> &TokioResolver {
        &self.resolver
    }

    /// The addresses (A and AAAA) of `name`, through the same resolver: where an http-01 or
    /// tls-alpn-01 validation connects.
    pub async fn lookup_ips(&self, name: &str) -> Result<Vec<std::net::IpAddr>, String> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.lookup_ip(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Looks every record up (concurrently) and says what was found, in input order.
    pub async fn check(&self, expected: &[ExpectedTxt]) -> Vec<TxtOutcome> {
        let lookups = expected.iter().map(|e| self.check_one(e));
        futures::future::join_all(lookups).await
    }

    async fn check_one(&self, expected: &ExpectedTxt) -> TxtOutcome {
        let fqdn = format!("{}.", expected.name.trim_end_matches('.'));
        match self.resolver.txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                let found: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        // A TXT record may be split in several strings; its value is their
                        // concatenation (RFC 7208 §3.3, and how ACME CAs read them).
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|s| String::from_utf8_lossy(s))
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .collect();
                if found.iter().any(|v| v == &expected.value) {
                    TxtOutcome::Found
                } else if found.is_empty() {
                    TxtOutcome::Missing
                } else {
                    TxtOutcome::WrongValue { found }
                }
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => TxtOutcome::Missing,
            Err(e) => TxtOutcome::LookupFailed(e.to_string()),
        }
    }
}
