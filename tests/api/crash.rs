//! Crash safety, black-box: the real binary under load from several clients, killed with
//! SIGKILL at a random moment, restarted, and held to a ledger of what each request was told.
//!
//! - every acknowledged import is there whole: certificate, chain, a sealed key that decrypts
//!   (exported back and compared), its audit row;
//! - every acknowledged validate left an issued order: certificate, key, history, audit;
//! - every request whose connection dropped ("unknown") is wholly there or wholly absent;
//! - nothing anywhere is half-written (checked over the whole database in SQL).
//!
//! `CERTKEEPER_KILL_ROUNDS` sets the number of kills (default 5); `scripts/kill-loop.sh` runs
//! the long loop of docs/reliability.md. SIGTERM is tested too: a graceful stop exits 0 and
//! keeps an import acknowledged just before it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use certkeeper_testkit::dns::TestDns;
use rand::Rng;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use sqlx::Row;
use tokio::sync::Mutex;

use crate::support::{Db, TestDb, both_databases};

const BIN: &str = env!("CARGO_BIN_EXE_certkeeper");
const CLIENTS: usize = 4;

both_databases!(
    acknowledged_writes_survive_sigkill,
    sigterm_keeps_acknowledged_writes
);

/// What a request was told.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// 2xx, with the certificate id.
    Ok(i64),
    /// An answer that was not 2xx: nothing was promised.
    Failed,
    /// The connection dropped before an answer: either outcome is allowed, but not half.
    Unknown,
}

#[derive(Debug, Default)]
struct Ledger {
    /// How many imports and orders a check has already exported and downloaded: later checks
    /// look those up in the database only, so each restart's check stays short.
    deep_checked: (usize, usize),
    /// Imports by SHA-256 fingerprint, with the key PEM sent.
    imports: Vec<(String, String, Outcome)>,
    /// Creates by name, with the create's outcome and, if it got that far, the validate's.
    orders: Vec<(String, Outcome, Option<Outcome>)>,
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(dir: &std::path::Path, db: &str, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args(args)
        .args(["--database", db, "--log", "error"])
        .current_dir(dir)
        .output()
        .expect("run certkeeper");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// A project named `name` and an admin key (allowed to export keys if `export`), made with
/// the CLI as an operator would: (project id, key).
fn project_and_key(dir: &std::path::Path, db: &str, name: &str, export: bool) -> (String, String) {
    let project = cli(dir, db, &["project", "create", "--name", name, "--json"]);
    let project = project["id"].as_str().expect("id").to_string();
    let mut args = vec![
        "apikey", "create", "--name", name, "--role", "admin", "--json",
    ];
    if export {
        args.push("--allow-key-export");
    }
    let key = cli(dir, db, &args)["key"]
        .as_str()
        .expect("key")
        .to_string();
    (project, key)
}

fn serve(dir: &std::path::Path, db: &str, dns: std::net::SocketAddr) -> Server {
    // Owned by the guard from the start, so a failed read below still stops it.
    let mut server = Server {
        child: Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", db])
            .args(["--dns-resolver", &dns.to_string(), "--log", "warn"])
            // The clients drive as fast as the server goes; the per-key limiter is not under test.
            .args(["--rate-limit-burst", "0"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start certkeeper serve"),
        base: String::new(),
    };
    let stdout = server.child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("serve printed its listening line")
            .expect("line");
        if let Some(url) = line.strip_prefix("listening on ") {
            // Keep reading so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            server.base = url.to_string();
            return server;
        }
    }
}

/// A CA of the test's own, to make as many distinct certificates to import as it needs.
struct Minter {
    issuer: Issuer<'static, KeyPair>,
    chain_pem: String,
}

impl Minter {
    fn new() -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "crash test CA");
        let cert = params.self_signed(&key).expect("CA");
        Self {
            chain_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A fresh leaf: (certificate PEM, key PEM, SHA-256 fingerprint).
    fn leaf(&self, name: &str) -> (String, String, String) {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec![name.to_string()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(90);
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        let serial = fingerprint(cert.der());
        (cert.pem(), key.serialize_pem(), serial)
    }
}

/// The SHA-256 fingerprint as the store keeps it (lower-case hex of the DER's digest).
fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(der))
}

struct Load {
    http: reqwest::Client,
    base: String,
    certs: String,
    key: String,
    dns: Arc<TestDns>,
    minter: Arc<Minter>,
    ledger: Arc<Mutex<Ledger>>,
}

impl Load {
    /// One client's loop: imports and create → publish → validate, alternately, until the
    /// server goes away (or `stop`).
    async fn client(&self, c: usize, round: usize, stop: Arc<AtomicBool>) {
        let mut i = 0;
        while !stop.load(Ordering::SeqCst) {
            let alive = if i % 2 == 0 {
                self.import(&format!("i{round}-{c}-{i}.crash.test")).await
            } else {
                self.order(&format!("o{round}-{c}-{i}.crash.test")).await
            };
            if !alive {
                return;
            }
            i += 1;
        }
    }

    async fn import(&self, name: &str) -> bool {
        let (cert, key, serial) = self.minter.leaf(name);
        let body = json!({"certificateBody": cert, "certificatePrivateKey": key,
            "certificateChain": self.minter.chain_pem, "scopeId": 0});
        let sent = self
            .http
            .post(format!("{}/import", self.certs))
            .header("X-API-Key", &self.key)
            .json(&body)
            .send()
            .await;
        let outcome = answer(sent).await;
        let alive = outcome != Outcome::Unknown;
        self.ledger
            .lock()
            .await
            .imports
            .push((serial, key, outcome));
        alive
    }

    async fn order(&self, name: &str) -> bool {
        let body = json!({"domainName": name, "additionalDomainNames": [], "scopeId": 0});
        let sent = self
            .http
            .post(&self.certs)
            .header("X-API-Key", &self.key)
            .json(&body)
            .send()
            .await;
        let (outcome, created) = match sent {
            Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                Ok(v) => (
                    Outcome::Ok(v["result"]["id"].as_i64().expect("id")),
                    Some(v),
                ),
                Err(_) => (Outcome::Unknown, None),
            },
            other => (answer(other).await, None),
        };
        let Some(created) = created else {
            let alive = outcome != Outcome::Unknown;
            self.ledger
                .lock()
                .await
                .orders
                .push((name.into(), outcome, None));
            return alive;
        };
        for rec in created["result"]["dnsRecords"].as_array().expect("records") {
            self.dns
                .set_txt(
                    rec["key"].as_str().expect("key"),
                    &[rec["value"].as_str().expect("value")],
                )
                .await;
        }
        let id = created["result"]["id"].as_i64().expect("id");
        let sent = self
            .http
            .put(format!("{}/{id}/validate", self.certs))
            .header("X-API-Key", &self.key)
            .send()
            .await;
        let validated = answer(sent).await;
        let alive = validated != Outcome::Unknown;
        self.ledger
            .lock()
            .await
            .orders
            .push((name.into(), outcome, Some(validated)));
        alive
    }
}

async fn answer(sent: reqwest::Result<reqwest::Response>) -> Outcome {
    match sent {
        Ok(r) if r.status().is_success() => match r.json::<Value>().await {
            Ok(v) => Outcome::Ok(v["result"]["id"].as_i64().expect("id in a 2xx answer")),
            Err(_) => Outcome::Unknown,
        },
        Ok(r) => {
            assert!(
                r.status().is_client_error() || r.status() == 503,
                "a request under load got {}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
            Outcome::Failed
        }
        Err(_) => Outcome::Unknown,
    }
}

async fn acknowledged_writes_survive_sigkill(db: Db) {
    let rounds: usize = std::env::var("CERTKEEPER_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let tdb = TestDb::new(db).await;
    let dir = tdb.dir.path();
    let (project, key) = project_and_key(dir, &tdb.url, "crash", true);
    let dns = Arc::new(TestDns::start(&["crash.test"]).await);
    let minter = Arc::new(Minter::new());
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut rng = rand::thread_rng();
    for round in 0..rounds {
        let server = serve(dir, &tdb.url, dns.addr());
        let load = Arc::new(Load {
            http: http.clone(),
            base: server.base.clone(),
            certs: format!("{}/api/v1/projects/{project}/certificates", server.base),
            key: key.clone(),
            dns: dns.clone(),
            minter: minter.clone(),
            ledger: ledger.clone(),
        });
        // Everything acknowledged so far, checked on this fresh start.
        check(&load, &tdb.url).await;
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (load, stop) = (load.clone(), stop.clone());
                tokio::spawn(async move { load.client(c, round, stop).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(200..1000))).await;
        let mut server = server;
        server.child.kill().expect("SIGKILL");
        let _ = server.child.wait();
        for c in clients {
            c.await.expect("client");
        }
        stop.store(true, Ordering::SeqCst);
    }
    let server = serve(dir, &tdb.url, dns.addr());
    let load = Load {
        http,
        base: server.base.clone(),
        certs: format!("{}/api/v1/projects/{project}/certificates", server.base),
        key,
        dns,
        minter,
        ledger: ledger.clone(),
    };
    check(&load, &tdb.url).await;
    let l = ledger.lock().await;
    let ok = |o: &Outcome| matches!(o, Outcome::Ok(_));
    let issued = l
        .orders
        .iter()
        .filter(|(_, _, v)| v.as_ref().is_some_and(ok))
        .count();
    eprintln!(
        "{rounds} kills: {} imports ({} acknowledged), {} orders ({issued} issued)",
        l.imports.len(),
        l.imports.iter().filter(|(_, _, o)| ok(o)).count(),
        l.orders.len()
    );
    assert!(
        l.imports.iter().filter(|(_, _, o)| ok(o)).count() >= rounds && issued >= rounds,
        "the load did too little to test anything"
    );
}

/// The ledger against the restarted server and its database.
async fn check(load: &Load, url: &str) {
    let pool = connect(url).await;
    invariants(&pool).await;
    let mut ledger = load.ledger.lock().await;
    let (deep_imports, deep_orders) = ledger.deep_checked;
    // Imports: by fingerprint, what the database holds.
    let mut by_serial: HashMap<String, i64> = HashMap::new();
    for row in sqlx::query(
        "SELECT id, fingerprint_sha256 FROM certificates WHERE fingerprint_sha256 IS NOT NULL",
    )
    .fetch_all(&pool)
    .await
    .expect("serials")
    {
        by_serial.insert(row.get::<String, _>(1), row.get::<i64, _>(0));
    }
    for (n, (serial, key_pem, outcome)) in ledger.imports.iter().enumerate() {
        match (outcome, by_serial.get(serial)) {
            (Outcome::Ok(id), Some(found)) if n < deep_imports => {
                assert_eq!(id, found, "import {serial} is stored under another id");
            }
            (Outcome::Ok(id), Some(found)) => {
                assert_eq!(id, found, "import {serial} is stored under another id");
                let exported = load.private_key(*id).await;
                assert_eq!(
                    exported.trim(),
                    key_pem.trim(),
                    "the sealed key of certificate {id} does not decrypt to the key imported"
                );
                load.assert_downloadable(*id).await;
            }
            (Outcome::Ok(id), None) => {
                panic!("acknowledged import {serial} (certificate {id}) is lost")
            }
            (Outcome::Failed, Some(id)) => {
                panic!("import {serial} was refused but certificate {id} is stored")
            }
            // Unknown and present: whole (the invariants held); absent: fine.
            _ => {}
        }
    }
    // Orders: by name, what the database holds (one read, not one per order).
    let mut by_name: HashMap<String, (i64, String)> = HashMap::new();
    for row in sqlx::query(
        "SELECT c.domain_name, c.id, o.status FROM certificates c JOIN orders o ON o.certificate_id = c.id",
    )
    .fetch_all(&pool)
    .await
    .expect("orders")
    {
        by_name.insert(row.get::<String, _>(0), (row.get::<i64, _>(1), row.get::<String, _>(2)));
    }
    for (n, (name, created, validated)) in ledger.orders.iter().enumerate() {
        let stored = by_name.get(name).cloned();
        match (created, &stored) {
            (Outcome::Ok(id), Some((found, _))) => assert_eq!(id, found),
            (Outcome::Ok(id), None) => {
                panic!("acknowledged create {name} (certificate {id}) is lost")
            }
            (Outcome::Failed, Some(_)) => panic!("create {name} was refused but is stored"),
            _ => {}
        }
        if let (Some(Outcome::Ok(id)), Some((_, status))) = (validated, &stored) {
            assert_eq!(
                status, "issued",
                "acknowledged validate of {id} is not issued"
            );
            if n < deep_orders {
                continue;
            }
            load.assert_downloadable(*id).await;
            let key = load.private_key(*id).await;
            assert!(key.contains("PRIVATE KEY"), "certificate {id}: {key}");
        }
    }
    ledger.deep_checked = (ledger.imports.len(), ledger.orders.len());
    pool.close().await;
}

impl Load {
    async fn private_key(&self, id: i64) -> String {
        let r = self
            .http
            .get(format!("{}/{id}/private-key", self.certs))
            .header("X-API-Key", &self.key)
            .send()
            .await
            .expect("private key");
        assert_eq!(r.status(), 200, "private key of {id} ({})", self.base);
        r.text().await.expect("body")
    }

    async fn assert_downloadable(&self, id: i64) {
        let r = self
            .http
            .get(format!("{}/{id}/download", self.certs))
            .header("X-API-Key", &self.key)
            .send()
            .await
            .expect("download");
        assert_eq!(r.status(), 200, "download of {id}");
        let pem = r.text().await.expect("body");
        assert!(
            pem.matches("BEGIN CERTIFICATE").count() >= 2,
            "certificate {id} without its chain: {pem}"
        );
    }
}

async fn connect(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .expect("connect to the test database")
}

/// Whole-database rules that a half-written transaction would break. Written so each is
/// linear in the database's size on both engines (audit rows have no index on their target:
/// an uncorrelated `NOT IN` is read once into a hash or a temporary index), because the long
/// loop checks them after every one of its kills.
async fn invariants(pool: &sqlx::AnyPool) {
    let rules = [
        (
            "a certificate without the audit row of its import or create",
            "SELECT count(*) FROM certificates c WHERE 'certificate:' || CAST(c.id AS TEXT) \
             NOT IN (SELECT a.target FROM audit_log a \
                     WHERE a.action IN ('certificate.import', 'certificate.create'))",
        ),
        (
            "an imported certificate without DER, chain or sealed key",
            "SELECT count(*) FROM certificates c WHERE NOT EXISTS (SELECT 1 FROM orders o \
             WHERE o.certificate_id = c.id) AND (c.certificate_der IS NULL OR c.chain_pem = '' \
             OR c.private_key_sealed IS NULL)",
        ),
        (
            "an issued order whose certificate, key, history or audit row is missing",
            "SELECT count(*) FROM orders o JOIN certificates c ON c.id = o.certificate_id \
             WHERE o.status = 'issued' AND (c.certificate_der IS NULL OR c.private_key_sealed IS NULL \
             OR c.not_after_ms IS NULL \
             OR NOT EXISTS (SELECT 1 FROM order_status_changes h WHERE h.order_id = o.id AND h.status = 'issued') \
             OR 'certificate:' || CAST(c.id AS TEXT) NOT IN (SELECT a.target FROM audit_log a \
                                                              WHERE a.action = 'certificate.issue'))",
        ),
        (
            "a pending order with issued material",
            "SELECT count(*) FROM orders o JOIN certificates c ON c.id = o.certificate_id \
             WHERE o.status = 'pending' AND c.certificate_der IS NOT NULL",
        ),
        (
            "an order without its first history entry",
            "SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_status_changes h \
             WHERE h.order_id = o.id AND h.status = 'pending')",
        ),
        (
            "project counts that disagree with the certificates",
            "SELECT count(*) FROM projects p WHERE (SELECT count(*) FROM certificates c \
             WHERE c.container_id = p.container_id) <> (SELECT COALESCE(SUM(total), 0) \
             FROM certificate_counts k WHERE k.container_id = p.container_id)",
        ),
        (
            "hourly issuance aggregates that disagree with the certificates",
            "SELECT count(*) FROM projects p WHERE (SELECT count(*) FROM certificates c \
             WHERE c.container_id = p.container_id AND c.not_before_ms IS NOT NULL) <> \
             (SELECT COALESCE(SUM(n), 0) FROM issued_hourly h WHERE h.container_id = p.container_id)",
        ),
    ];
    for (what, sql) in rules {
        let broken: i64 = sqlx::query(sql)
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .get(0);
        assert_eq!(broken, 0, "{broken} × {what}");
    }
}

async fn sigterm_keeps_acknowledged_writes(db: Db) {
    let tdb = TestDb::new(db).await;
    let dir = tdb.dir.path();
    let (project, key) = project_and_key(dir, &tdb.url, "term", false);
    let dns = TestDns::start(&["term.test"]).await;
    let minter = Minter::new();
    let mut server = serve(dir, &tdb.url, dns.addr());
    let certs = format!("{}/api/v1/projects/{project}/certificates", server.base);
    let http = reqwest::Client::new();
    // Several imports in flight, then SIGTERM the moment the first is acknowledged.
    let sends: Vec<_> = (0..8)
        .map(|i| {
            let (cert, key_pem, _) = minter.leaf(&format!("t{i}.term.test"));
            let body = json!({"certificateBody": cert, "certificatePrivateKey": key_pem,
                "certificateChain": minter.chain_pem, "scopeId": 0});
            http.post(format!("{certs}/import"))
                .header("X-API-Key", &key)
                .json(&body)
                .send()
        })
        .collect();
    let mut pending: futures::stream::FuturesUnordered<_> = sends.into_iter().collect();
    use futures::StreamExt as _;
    let mut acknowledged = Vec::new();
    let first = pending.next().await.expect("one answer");
    if let Outcome::Ok(id) = answer(first).await {
        acknowledged.push(id);
    }
    let pid = server.child.id().to_string();
    let term = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(term.success());
    while let Some(r) = pending.next().await {
        if let Outcome::Ok(id) = answer(r).await {
            acknowledged.push(id);
        }
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().expect("wait");
        (status, server)
    })
    .await
    .expect("join");
    assert!(status.0.success(), "SIGTERM exit: {:?}", status.0);
    assert!(!acknowledged.is_empty(), "no import was acknowledged");
    let server = serve(dir, &tdb.url, dns.addr());
    let certs = format!("{}/api/v1/projects/{project}/certificates", server.base);
    for id in acknowledged {
        let r = http
            .get(format!("{certs}/{id}"))
            .header("X-API-Key", &key)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "acknowledged import {id} after SIGTERM");
    }
    let pool = connect(&tdb.url).await;
    invariants(&pool).await;
    pool.close().await;
}
