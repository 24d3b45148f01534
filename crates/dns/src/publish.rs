//! Publishing DNS-01 records without a person: the DNS providers a project can use.
//!
//! - RFC 2136 dynamic update signed with TSIG, sent over TCP to the zone's primary (BIND,
//!   Knot, PowerDNS and Windows DNS all accept it);
//! - a script named in the server's configuration, called as lego's exec provider is
//!   (`COMMAND present|cleanup FQDN VALUE`, FQDN with its final dot);
//! - joohoi/acme-dns, whose `/update` sets the TXT of a subdomain that `_acme-challenge` is a
//!   CNAME to.
//!
//! Each one only publishes and removes; [`crate::Propagation`] decides when the records are
//! visible.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::rdata::TXT;
use hickory_net::proto::rr::rdata::tsig::TsigAlgorithm as HickoryTsig;
use hickory_net::proto::rr::{Name, RData, Record, TSigner};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;

use crate::ExpectedTxt;

/// TTL of published challenge records: short, so a removed record does not linger in caches.
const RECORD_TTL: u32 = 60;
/// How long one update or script may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a provider could not publish or remove a record. The message is shown on the order, so
/// it names what to fix and never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PublishError(pub String);

/// TSIG algorithms accepted for updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tsig {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

/// An RFC 2136 target.
#[derive(Clone)]
pub struct Rfc2136 {
    pub server: SocketAddr,
    pub zone: String,
    pub key_name: String,
    pub algorithm: Tsig,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Rfc2136 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rfc2136")
            .field("server", &self.server)
            .field("zone", &self.zone)
            .field("key_name", &self.key_name)
            .finish_non_exhaustive()
    }
}

/// An acme-dns account.
#[derive(Clone)]
pub struct AcmeDns {
    pub url: String,
    pub username: String,
    pub password: String,
    pub subdomain: String,
}

impl std::fmt::Debug for AcmeDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeDns")
            .field("url", &self.url)
            .field("subdomain", &self.subdomain)
            .finish_non_exhaustive()
    }
}

/// A configured way to publish records.
#[derive(Debug, Clone)]
pub enum Publisher {
    Rfc2136(Rfc2136),
    /// The script's path, from the server's configuration.
    Exec(PathBuf),
    AcmeDns(AcmeDns),
}

fn fqdn(name: &str) -> Result<Name, PublishError> {
    let text = format!("{}.", name.trim_end_matches('.'));
    Name::from_str(&text).map_err(|e| PublishError(format!("{name:?} is not a DNS name: {e}")))
}

impl Publisher {
    /// Publishes `record` (adding to any values already there: a wildcard and its base name
    /// share one record name).
    pub async fn present(&self, record: &ExpectedTxt) -> Result<(), PublishError> {
        match self {
            Self::Rfc2136(u) => u.update(record, true).await,
            Self::Exec(path) => run_script(path, "present", record).await,
            Self::AcmeDns(a) => a.update(record).await,
        }
    }

    /// Removes `record`'s value (and only it).
    pub async fn cleanup(&self, record: &ExpectedTxt) -> Result<(), PublishError> {
        match self {
            Self::Rfc2136(u) => u.update(record, false).await,
            Self::Exec(path) => run_script(path, "cleanup", record).await,
            // acme-dns keeps the two newest values per subdomain and has no delete.
            Self::AcmeDns(_) => Ok(()),
        }
    }

    /// A server that must serve the records before validation, beyond the resolver's view:
    /// the primary an update went to.
    pub fn primary(&self) -> Option<SocketAddr> {
        match self {
            Self::Rfc2136(u) => Some(u.server),
            Self::Exec(_) | Self::AcmeDns(_) => None,
        }
    }
}

impl Rfc2136 {
    async fn update(&self, record: &ExpectedTxt, add: bool) -> Result<(), PublishError> {
        let name = fqdn(&record.name)?;
        let zone = fqdn(&self.zone)?;
        if !zone.zone_of(&name) {
            return Err(PublishError(format!(
                "{} is not inside the zone {} this project's rfc2136 provider updates",
                record.name, self.zone
            )));
        }
        let algorithm = match self.algorithm {
            Tsig::HmacSha256 => HickoryTsig::HmacSha256,
            Tsig::HmacSha384 => HickoryTsig::HmacSha384,
            Tsig::HmacSha512 => HickoryTsig::HmacSha512,
        };
        let signer = TSigner::new(self.secret.clone(), algorithm, fqdn(&self.key_name)?, 300)
            .map_err(|e| PublishError(format!("TSIG key {}: {e}", self.key_name)))?;
        let (connect, handle) = TcpClientStream::new(
            self.server,
            None,
            Some(STEP_TIMEOUT),
            TokioRuntimeProvider::default(),
        );
        let stream = connect.await.map_err(|e| {
            PublishError(format!("cannot reach the DNS server {}: {e}", self.server))
        })?;
        let multiplexer = hickory_net::DnsMultiplexer::new(stream, handle)
            .with_timeout(STEP_TIMEOUT)
            .with_signer(signer);
        let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(multiplexer);
        let task = tokio::spawn(background);
        let txt = Record::from_rdata(
            name,
            RECORD_TTL,
            RData::TXT(TXT::new(vec![record.value.clone()])),
        );
        let sent = if add {
            client.append(txt, zone, false).await
        } else {
            client.delete_by_rdata(txt, zone).await
        };
        task.abort();
        let what = if add { "adding" } else { "removing" };
        let response = sent.map_err(|e| {
            PublishError(format!(
                "RFC 2136 update ({what} {}) to {} failed: {e}",
                record.name, self.server
            ))
        })?;
        match response.metadata.response_code {
            ResponseCode::NoError => Ok(()),
            ResponseCode::NotAuth => Err(PublishError(format!(
                "{} refused the TSIG key {:?} (NOTAUTH): check tsigKeyName, tsigAlgorithm and tsigSecret",
                self.server, self.key_name
            ))),
            ResponseCode::Refused => Err(PublishError(format!(
                "{} refused the update of {} (REFUSED): the key may not update this zone",
                self.server, record.name
            ))),
            code => Err(PublishError(format!(
                "{} answered {code} to the update ({what} {})",
                self.server, record.name
            ))),
        }
    }
}

async fn run_script(
    path: &PathBuf,
    action: &str,
    record: &ExpectedTxt,
) -> Result<(), PublishError> {
    let fqdn = format!("{}.", record.name.trim_end_matches('.'));
    let mut command = tokio::process::Command::new(path);
    command
        .arg(action)
        .arg(&fqdn)
        .arg(&record.value)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(STEP_TIMEOUT, command.output())
        .await
        .map_err(|_| {
            PublishError(format!(
                "the DNS script {} did not finish {action} {fqdn} within {}s",
                path.display(),
                STEP_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| PublishError(format!("cannot run the DNS script {}: {e}", path.display())))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr
        .trim()
        .chars()
        .rev()
        .take(300)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(PublishError(format!(
        "the DNS script {} failed on {action} {fqdn} ({}): {tail}",
        path.display(),
        output.status
    )))
}

impl AcmeDns {
    async fn update(&self, record: &ExpectedTxt) -> Result<(), PublishError> {
        let url = format!("{}/update", self.url.trim_end_matches('/'));
        let client = reqwest::Client::builder()
            .timeout(STEP_TIMEOUT)
            .build()
            .map_err(|e| PublishError(format!("HTTP client: {e}")))?;
        let response = client
            .post(&url)
            .header("X-Api-User", &self.username)
            .header("X-Api-Key", &self.password)
            .json(&serde_json::json!({"subdomain": self.subdomain, "txt": record.value}))
            .send()
            .await
            .map_err(|e| PublishError(format!("acme-dns at {url}: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(PublishError(format!(
                "acme-dns at {url} answered {status}: {}",
                body.chars().take(300).collect::<String>()
            )))
        }
    }
}
