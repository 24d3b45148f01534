//! HTTP benchmark of the foundation: import throughput, GET-by-id throughput and p99, and list
//! p99 with a large inventory. Run with `cargo bench --bench http`; see docs/benchmarks.md.
//!
//! The server is the release binary in a child process, on loopback; the load generator runs
//! here and shares the machine's cores with it. Environment:
//! - `BENCH_DATABASE`: `sqlite` (default, a temp file) or a `postgres://` URL of an empty database
//! - `BENCH_IMPORTS` (default 20000), `BENCH_CONCURRENCY` (default 16),
//!   `BENCH_GET_SECONDS` (default 10), `BENCH_LIST_ROWS` (default 1000000)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_certkeeper");

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cli(dir: &std::path::Path, db: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .args(["--database", db])
        .current_dir(dir)
        .output()
        .expect("run certkeeper");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn start(dir: &std::path::Path, db: &str) -> (Server, String) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            db,
            "--log",
            "warn",
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start server");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    loop {
        let line = lines.next().expect("listening line").expect("read");
        if let Some(url) = line.strip_prefix("listening on ") {
            return (Server(child), url.to_string());
        }
    }
}

/// `n` distinct ECDSA P-256 leaves from one CA: (cert, key, chain).
fn leaves(n: usize) -> Vec<Value> {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, "bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let chain = ca_cert.pem();
    (0..n)
        .map(|i| {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
            let mut p = CertificateParams::new(vec![format!("host{i}.bench.test")]).expect("params");
            p.not_before = rcgen::date_time_ymd(2025, 1, 1);
            p.not_after = rcgen::date_time_ymd(2027, 1, 1);
            let cert = p.signed_by(&key, &issuer).expect("sign");
            json!({"certificateBody": cert.pem(), "certificatePrivateKey": key.serialize_pem(), "certificateChain": chain, "scopeId": 0})
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut lat: Vec<Duration>, elapsed: Duration) {
    lat.sort();
    println!(
        "{name}: {} requests in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    let imports: usize = env_or("BENCH_IMPORTS", 20_000);
    let conc: usize = env_or("BENCH_CONCURRENCY", 16);
    let get_secs: u64 = env_or("BENCH_GET_SECONDS", 10);
    let list_rows: i64 = env_or("BENCH_LIST_ROWS", 1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = match std::env::var("BENCH_DATABASE").unwrap_or_else(|_| "sqlite".into()) {
        s if s == "sqlite" => format!("sqlite://{}", dir.path().join("bench.db").display()),
        url => url,
    };
    println!(
        "database: {}",
        if db.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );

    let project: Value = serde_json::from_str(&cli(
        dir.path(),
        &db,
        &["project", "create", "--name", "bench", "--json"],
    ))
    .expect("json");
    let key: Value = serde_json::from_str(&cli(
        dir.path(),
        &db,
        &[
            "apikey", "create", "--name", "bench", "--role", "admin", "--json",
        ],
    ))
    .expect("json");
    let key = key["key"].as_str().expect("key").to_string();
    let pid = project["id"].as_str().expect("id").to_string();
    let (_server, base) = start(dir.path(), &db);
    let certs = format!("{base}/api/v1/projects/{pid}/certificates");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(conc)
        .build()
        .expect("client");

    // 1. Import throughput.
    let t = Instant::now();
    let bodies = Arc::new(leaves(imports));
    println!(
        "generated {imports} leaves in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let next = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let tasks: Vec<_> = (0..conc)
        .map(|_| {
            let (http, url, key, bodies, next) = (
                http.clone(),
                format!("{certs}/import"),
                key.clone(),
                bodies.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= bodies.len() {
                        return lat;
                    }
                    let s = Instant::now();
                    let r = http
                        .post(&url)
                        .header("X-API-Key", &key)
                        .json(&bodies[i])
                        .send()
                        .await
                        .expect("import");
                    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
                    r.bytes().await.expect("body");
                    lat.push(s.elapsed());
                }
            })
        })
        .collect();
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.expect("task"));
    }
    report(&format!("import ({conc} clients)"), lat, t.elapsed());

    // 2. GET by id throughput.
    let t = Instant::now();
    let deadline = t + Duration::from_secs(get_secs);
    let tasks: Vec<_> = (0..conc)
        .map(|c| {
            let (http, certs, key) = (http.clone(), certs.clone(), key.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = c;
                while Instant::now() < deadline {
                    let id = 1 + (i * 7919) % imports;
                    i += conc;
                    let s = Instant::now();
                    let r = http
                        .get(format!("{certs}/{id}"))
                        .header("X-API-Key", &key)
                        .send()
                        .await
                        .expect("get");
                    assert_eq!(r.status(), 200);
                    r.bytes().await.expect("body");
                    lat.push(s.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.expect("task"));
    }
    report(&format!("GET by id ({conc} clients)"), lat, t.elapsed());

    // 3. List latency with a large inventory (one client: latency, not throughput).
    if list_rows > 0 {
        let out = cli(
            dir.path(),
            &db,
            &[
                "dev",
                "seed",
                "--certificates",
                &list_rows.to_string(),
                "--project",
                &pid,
            ],
        );
        print!("{out}");
        for (name, query) in [
            ("list first page", "?PageIndex=1&PageSize=20"),
            ("list page 500 (offset 9980)", "?PageIndex=500&PageSize=20"),
            ("list 500 per page", "?PageIndex=3&PageSize=500"),
        ] {
            let mut lat = Vec::new();
            let t = Instant::now();
            for _ in 0..300 {
                let s = Instant::now();
                let r = http
                    .get(format!("{certs}{query}"))
                    .header("X-API-Key", &key)
                    .send()
                    .await
                    .expect("list");
                assert_eq!(r.status(), 200);
                r.bytes().await.expect("body");
                lat.push(s.elapsed());
            }
            report(
                &format!("{name} at {} rows", list_rows as usize + imports),
                lat,
                t.elapsed(),
            );
        }
    }
}
