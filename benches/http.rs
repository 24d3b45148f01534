//! HTTP benchmark of the foundation: import throughput, GET-by-id throughput and p99, and list
//! p99 with a large inventory. Run with `cargo bench --bench http`; see docs/benchmarks.md.
//!
//! The server is the release binary in a child process, on loopback; the load generator runs
//! here and shares the machine's cores with it. Environment:
//! - `BENCH_DATABASE`: `sqlite` (default, a temp file) or a `postgres://` URL of an empty database
//! - `BENCH_IMPORTS` (default 20000), `BENCH_CONCURRENCY` (default 16),
//!   `BENCH_GET_SECONDS` (default 10), `BENCH_LIST_ROWS` (default 1000000)

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
};
use serde_json::{Value, json};
use support::{admin_key, bench_database, cli, cli_json, database_kind, env_or, report, serve};

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

#[tokio::main]
async fn main() {
    let imports: usize = env_or("BENCH_IMPORTS", 20_000);
    let conc: usize = env_or("BENCH_CONCURRENCY", 16);
    let get_secs: u64 = env_or("BENCH_GET_SECONDS", 10);
    let list_rows: i64 = env_or("BENCH_LIST_ROWS", 1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = bench_database(dir.path());
    println!("database: {}", database_kind(&db));
    let pid = cli_json(
        dir.path(),
        &db,
        &["project", "create", "--name", "bench", "--json"],
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    let key = admin_key(dir.path(), &db);
    let (_server, base) = serve(dir.path(), &db, &[]);
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
    let import_rate = report(&format!("import ({conc} clients)"), lat, t.elapsed());

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
    let get_rate = report(&format!("GET by id ({conc} clients)"), lat, t.elapsed());
    // The summary line runs compare at a glance (imports against reads of the same run).
    println!("import/get: {:.2}", import_rate / get_rate);

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
            let _ = report(
                &format!("{name} at {} rows", list_rows as usize + imports),
                lat,
                t.elapsed(),
            );
        }
    }
}
