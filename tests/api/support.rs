//! The test harness: a real certkeeper server on an ephemeral port against a fresh database,
//! SQLite always, PostgreSQL when `CERTKEEPER_TEST_POSTGRES_URL` is set.

use std::sync::Arc;

use certkeeper_core::Core;
use certkeeper_domain::FixedClock;
use certkeeper_domain::apikey::Role;
use certkeeper_domain::audit::Actor;
use certkeeper_domain::project::Project;
use certkeeper_server::AppState;
use certkeeper_store::Store;
use certkeeper_testkit::Leaf;
use reqwest::Method;
use serde_json::{Value, json};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Generates one test per database for each `async fn name(db: Db)` listed.
macro_rules! both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(crate::support::Db::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if crate::support::postgres_url().is_none() {
                        eprintln!("CERTKEEPER_TEST_POSTGRES_URL is not set: PostgreSQL variant skipped");
                        return;
                    }
                    super::$name(crate::support::Db::Postgres).await
                }
            }
        )*
    };
}
pub(crate) use both_databases;

pub fn postgres_url() -> Option<String> {
    std::env::var("CERTKEEPER_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A fresh, empty database that removes itself when dropped.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_drop: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(db: Db) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match db {
            Db::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("certkeeper.db").display());
                Self {
                    url,
                    dir,
                    pg_drop: None,
                }
            }
            Db::Postgres => {
                let admin = postgres_url().expect("CERTKEEPER_TEST_POSTGRES_URL");
                let name = format!("ck_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::any::install_default_drivers();
                let pool = sqlx::AnyPool::connect(&admin)
                    .await
                    .expect("connect to PostgreSQL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&pool)
                    .await
                    .expect("create database");
                pool.close().await;
                let (base, _) = admin.rsplit_once('/').expect("URL with a database name");
                let url = format!("{base}/{name}");
                Self {
                    url,
                    dir,
                    pg_drop: Some((admin, name)),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_drop.take() {
            // A runtime of its own: Drop cannot await, and the test's runtime may be gone.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    if let Ok(pool) = sqlx::AnyPool::connect(&admin).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&pool)
                        .await;
                        pool.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Who signs a test server's created certificates.
#[derive(Debug, Clone)]
pub enum IssuerSetup {
    Builtin,
    /// A pebble of the server's own. With `separate_ca_dns`, pebble asks another DNS server
    /// than certkeeper does (to make the CA see records certkeeper does not).
    Acme {
        separate_ca_dns: bool,
    },
    /// Another ACME CA, already running: its directory and the root its TLS chains to.
    AcmeAt {
        directory: String,
        root: std::path::PathBuf,
    },
}

/// A running server with a project and an admin key ready.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub core: Core,
    pub clock: Arc<FixedClock>,
    pub admin_key: String,
    pub project: Project,
    /// The authoritative DNS server (zones `example.test`, `delegated.test`) validation uses.
    pub dns: certkeeper_testkit::dns::TestDns,
    /// Keeps the ACME CA (servers spawned with [`IssuerSetup::Acme`]) running as long as the app.
    _pebble: Option<certkeeper_testkit::pebble::Pebble>,
    /// The DNS server pebble asks, when it is not [`TestApp::dns`].
    pub pebble_dns: Option<certkeeper_testkit::dns::TestDns>,
    /// How this server's DNS is set up (for [`TestApp::second_node`]).
    pub dns_setup: DnsSetup,
    /// Keeps the database (and its temp dir) alive as long as the app.
    _db: TestDb,
}

/// Where a test server's DNS-01 lookups go, and which DNS scripts it has.
#[derive(Debug, Clone, Default)]
pub struct DnsSetup {
    /// The resolver validation uses; default: the in-process [`TestApp::dns`].
    pub resolver: Option<std::net::SocketAddr>,
    /// The port authoritative servers are asked on (a loopback BIND's); default 53.
    pub authoritative_port: Option<u16>,
    pub dns_exec: std::collections::BTreeMap<String, std::path::PathBuf>,
    /// An SMTP relay for e-mail notifications.
    pub smtp: Option<std::net::SocketAddr>,
}

/// Notifications as `serve --allow-private-webhooks` sends them (tests deliver to loopback).
fn test_notify(setup: &DnsSetup) -> certkeeper_core::notifications::NotifyConfig {
    certkeeper_core::notifications::NotifyConfig {
        allow_private_webhooks: true,
        mailer: setup.smtp.map(|a| {
            certkeeper_notify::email::Mailer::new(
                &format!("smtp://{a}"),
                "certkeeper@example.test",
                None,
            )
            .expect("mailer")
        }),
        http: reqwest::Client::new(),
        certificate_view: Arc::new(certkeeper_server::projects::wire::certificate_json),
    }
}

/// Issuance by the built-in CA with lookups at `resolver`.
fn builtin_issuance(
    ca: certkeeper_ca::BuiltinCa,
    resolver: std::net::SocketAddr,
    setup: &DnsSetup,
) -> certkeeper_core::issuance::Issuance {
    let dns =
        certkeeper_dns::Dns01Checker::with_server(resolver, std::time::Duration::from_secs(2))
            .expect("DNS checker");
    certkeeper_core::issuance::Issuance {
        default_issuer: certkeeper_core::issuance::IssuerKind::Builtin,
        acme: None,
        ca,
        dns: dns.clone(),
        leaf_lifetime: time::Duration::days(90),
        challenge_ttl: time::Duration::days(7),
        dns_exec: setup.dns_exec.clone(),
        propagation: certkeeper_dns::Propagation {
            resolver: dns,
            authoritative_port: setup.authoritative_port.unwrap_or(53),
            poll: std::time::Duration::from_millis(200),
            query_timeout: std::time::Duration::from_secs(2),
        },
    }
}

/// A response: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl TestApp {
    /// A server issuing with the built-in CA.
    pub async fn spawn(db: Db) -> Self {
        Self::spawn_with(db, IssuerSetup::Builtin).await
    }

    /// A server whose created certificates go to its own pebble.
    pub async fn spawn_with(db: Db, setup: IssuerSetup) -> Self {
        Self::spawn_full(db, setup, DnsSetup::default(), None).await
    }

    /// A server (built-in CA) whose API keys are rate limited.
    pub async fn spawn_rate_limited(db: Db, limit: certkeeper_core::ratelimit::RateLimit) -> Self {
        Self::spawn_full(db, IssuerSetup::Builtin, DnsSetup::default(), Some(limit)).await
    }

    /// A server (built-in CA) whose DNS-01 lookups go to `dns` setup's server instead of the
    /// in-process one, with DNS scripts configured.
    pub async fn spawn_dns(db: Db, dns: DnsSetup) -> Self {
        Self::spawn_full(db, IssuerSetup::Builtin, dns, None).await
    }

    /// Another node on the same database: its own core (caches, scheduler) and issuance
    /// settings, as a second `certkeeper serve` would have.
    pub async fn second_node(&self) -> Core {
        let store = Store::connect(&self._db.url).await.expect("connect store");
        let master_key = certkeeper_core::masterkey::load_or_create(
            &store,
            &self._db.dir.path().join("master.key"),
        )
        .await
        .expect("master key");
        let ca = certkeeper_core::issuance::load_or_create_ca(
            &store,
            &master_key,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .expect("built-in CA")
        .with_revocation_urls(certkeeper_server::pki::revocation_urls(&self.base));
        let resolver = self.dns_setup.resolver.unwrap_or(self.dns.addr());
        let issuance = builtin_issuance(ca, resolver, &self.dns_setup);
        Core::new(store, self.clock.clone(), master_key)
            .with_issuance(issuance)
            .with_notifications(test_notify(&self.dns_setup))
    }

    /// Test servers run without the per-key rate limit unless `rate_limit` sets one: the
    /// suite's flows send bursts no client would, and the limiter has its own tests.
    async fn spawn_full(
        db: Db,
        setup: IssuerSetup,
        dns_setup: DnsSetup,
        rate_limit: Option<certkeeper_core::ratelimit::RateLimit>,
    ) -> Self {
        // Bound first: the CA names its CRL and OCSP URLs under the listener's address.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let db = TestDb::new(db).await;
        let store = Store::connect(&db.url).await.expect("connect store");
        let master_key =
            certkeeper_core::masterkey::load_or_create(&store, &db.dir.path().join("master.key"))
                .await
                .expect("master key");
        let clock = Arc::new(FixedClock::new(time::OffsetDateTime::now_utc()));
        let dns =
            certkeeper_testkit::dns::TestDns::start(&["example.test", "delegated.test"]).await;
        let ca = certkeeper_core::issuance::load_or_create_ca(
            &store,
            &master_key,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .expect("built-in CA")
        .with_revocation_urls(certkeeper_server::pki::revocation_urls(&format!(
            "http://{addr}"
        )));
        let (default_issuer, acme, pebble, pebble_dns) = match setup {
            IssuerSetup::Builtin => (
                certkeeper_core::issuance::IssuerKind::Builtin,
                None,
                None,
                None,
            ),
            IssuerSetup::Acme { separate_ca_dns } => {
                let pebble_dns = if separate_ca_dns {
                    Some(
                        certkeeper_testkit::dns::TestDns::start(&[
                            "example.test",
                            "delegated.test",
                        ])
                        .await,
                    )
                } else {
                    None
                };
                let ca_dns = pebble_dns.as_ref().map_or(dns.addr(), |d| d.addr());
                let pebble = certkeeper_testkit::pebble::Pebble::start(ca_dns).await;
                let config = certkeeper_core::acme::AcmeConfig {
                    directory: pebble.directory.clone(),
                    ca_bundle: Some(pebble.tls_root.clone()),
                    eab: None,
                    contact: None,
                };
                let acme = certkeeper_core::acme::AcmeIssuer::connect(&store, &master_key, &config)
                    .await
                    .expect("ACME account at pebble");
                (
                    certkeeper_core::issuance::IssuerKind::Acme,
                    Some(acme),
                    Some(pebble),
                    pebble_dns,
                )
            }
            IssuerSetup::AcmeAt { directory, root } => {
                let config = certkeeper_core::acme::AcmeConfig {
                    directory,
                    ca_bundle: Some(root),
                    eab: None,
                    contact: None,
                };
                let acme = certkeeper_core::acme::AcmeIssuer::connect(&store, &master_key, &config)
                    .await
                    .expect("ACME account at the CA");
                (
                    certkeeper_core::issuance::IssuerKind::Acme,
                    Some(acme),
                    None,
                    None,
                )
            }
        };
        let resolver = dns_setup.resolver.unwrap_or(dns.addr());
        let issuance = certkeeper_core::issuance::Issuance {
            default_issuer,
            acme,
            ..builtin_issuance(ca, resolver, &dns_setup)
        };
        let mut core = Core::new(store, clock.clone(), master_key)
            .with_issuance(issuance)
            .with_notifications(test_notify(&dns_setup));
        if let Some(limit) = rate_limit {
            core = core.with_rate_limit(limit);
        }
        let project = core
            .create_project(Actor::Cli, "main")
            .await
            .expect("project");
        let admin = core
            .create_api_key(Actor::Cli, "test-admin", Role::Admin, None, false, &[])
            .await
            .expect("key");
        let state = AppState {
            core: core.clone(),
            public_url: format!("http://{addr}"),
            metrics: Default::default(),
        };
        tokio::spawn(certkeeper_server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            core,
            clock,
            admin_key: admin.secret.expose().to_string(),
            project,
            dns,
            _pebble: pebble,
            pebble_dns,
            dns_setup,
            _db: db,
        }
    }

    /// The master key file the server was started with.
    pub fn key_file(&self) -> std::path::PathBuf {
        self._db.dir.path().join("master.key")
    }

    /// The database's URL, for tests that reach under the server (tampering, dumps).
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    pub async fn new_project(&self, name: &str) -> Project {
        self.core
            .create_project(Actor::Cli, name)
            .await
            .expect("project")
    }

    /// Publishes, in `dns`, every TXT record a created certificate (`result` of create) asks for.
    pub async fn publish(&self, dns: &certkeeper_testkit::dns::TestDns, cert: &Value) {
        let mut by_name: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for r in cert["dnsRecords"].as_array().expect("dnsRecords") {
            by_name
                .entry(r["key"].as_str().expect("key").to_string())
                .or_default()
                .push(r["value"].as_str().expect("value").to_string());
        }
        for (name, values) in by_name {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            dns.set_txt(&name, &values).await;
        }
    }

    /// The status history of a created certificate's order, oldest first.
    pub async fn order_history(&self, certificate: i64) -> Vec<String> {
        let store = self.core.store();
        let order = store
            .order_of_certificate(certkeeper_domain::ids::CertificateId(certificate))
            .await
            .expect("order lookup")
            .expect("an order");
        let history = store.order_history(order.id).await.expect("history");
        history
            .iter()
            .map(|(s, _)| s.as_str().to_string())
            .collect()
    }

    /// A new key allowed to export private keys.
    pub async fn export_key(&self, role: Role) -> String {
        let k = self
            .core
            .create_api_key(Actor::Cli, "exporter", role, None, true, &[])
            .await
            .expect("key");
        k.secret.expose().to_string()
    }

    /// A new key's secret.
    pub async fn key(&self, role: Role, project: Option<&Project>) -> String {
        let k = self
            .core
            .create_api_key(Actor::Cli, "test", role, project, false, &[])
            .await
            .expect("key");
        k.secret.expose().to_string()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(k) = key {
            req = req.header("X-API-Key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::read(req.send().await.expect("request")).await
    }

    /// The background jobs of `kind` (`GET /api/v1/jobs?kind=`), soonest due first.
    pub async fn jobs(&self, kind: &str) -> Vec<Value> {
        self.call(
            Method::GET,
            &format!("/api/v1/jobs?kind={kind}"),
            Some(&self.admin_key),
            None,
        )
        .await
        .ok()
        .as_array()
        .expect("a list of jobs")
        .clone()
    }

    pub fn certs_path(&self, project: &Project) -> String {
        format!("/api/v1/projects/{}/certificates", project.id)
    }

    pub async fn import_into(&self, project: &Project, key: &str, leaf: Leaf, scope: i64) -> Resp {
        let body = json!({
            "certificateBody": leaf.cert,
            "certificatePrivateKey": leaf.key,
            "certificateChain": leaf.chain,
            "scopeId": scope,
        });
        self.call(
            Method::POST,
            &format!("{}/import", self.certs_path(project)),
            Some(key),
            Some(body),
        )
        .await
    }

    pub async fn import(&self, leaf: Leaf) -> Resp {
        self.import_into(&self.project, &self.admin_key, leaf, 0)
            .await
    }
}

impl Resp {
    pub async fn read(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self { status, body, text }
    }

    /// Asserts an error in the envelope shape, with `status` and a message containing `needle`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.body["success"], json!(false), "body: {}", self.text);
        assert_eq!(self.body["result"], Value::Null, "body: {}", self.text);
        assert_eq!(self.body["resultInfo"], Value::Null, "body: {}", self.text);
        assert!(self.body["messages"].is_array(), "body: {}", self.text);
        let errors = self.body["errors"].as_array().expect("errors array");
        assert_eq!(errors.len(), 1, "body: {}", self.text);
        let msg = errors[0].as_str().expect("string error");
        assert!(
            msg.contains(needle),
            "error {msg:?} should mention {needle:?}"
        );
    }

    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "body: {}", self.text);
        assert_eq!(self.body["success"], json!(true), "body: {}", self.text);
        assert_eq!(self.body["errors"], json!([]), "body: {}", self.text);
        &self.body["result"]
    }
}

impl TestApp {
    pub fn clock_now(&self) -> time::OffsetDateTime {
        use certkeeper_domain::Clock;
        self.clock.now()
    }
}
