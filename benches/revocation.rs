//! Revocation at scale: the built-in CA with `BENCH_REVOKED` (default 100,000) revoked
//! certificates on its CRL. Run with `cargo bench --bench revocation`; see docs/benchmarks.md.
//!
//! 1. **Revoke latency**: `POST …/revoke` one certificate at a time (`BENCH_REVOKES`, default
//!    200), while the server's CRL job re-signs the 100k-entry CRL behind them.
//! 2. **CRL fetches per second** and **OCSP requests per second** (answers cached, as a
//!    relying party population sees them), 8 concurrent clients for `BENCH_SECONDS` (8).
//! 3. **The peer**: OpenSSL's CA tooling, which like Vault rebuilds the CRL on each
//!    revocation (`openssl ca -gencrl` over an index of the same size), and its OCSP responder
//!    (`openssl ocsp -index … -port`), with the same load.
//!
//! `BENCH_DATABASE`: `sqlite` (default) or an empty PostgreSQL database's URL.

// These drive a real server on the wall clock (and set test clocks from it).
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use certkeeper_testkit::bind::ChallTestSrv;
use certkeeper_testkit::net::free_port;
use serde_json::{Value, json};
use support::{Server, admin_key, bench_database, cli, database_kind, env_or, percentile, serve};

const CONCURRENCY: usize = 8;

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Requests per second over `seconds` of `CONCURRENCY` clients sending `request`.
async fn rate<F, Fut>(seconds: u64, request: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let request = Arc::new(request);
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (done, request) = (done.clone(), request.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    request().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let revoked: i64 = env_or("BENCH_REVOKED", 100_000);
    let revokes: usize = env_or("BENCH_REVOKES", 200);
    let seconds: u64 = env_or("BENCH_SECONDS", 8);
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let db = bench_database(d);
    let dns = ChallTestSrv::start().await;
    let (_server, base) = serve(
        d,
        &db,
        &[
            "--dns-resolver".into(),
            dns.dns.to_string(),
            "--job-poll-seconds".into(),
            "1".into(),
        ],
    );
    let key = admin_key(d, &db);
    let project = support::cli_json(d, &db, &["project", "list", "--json"])[0]["id"]
        .as_str()
        .expect("project")
        .to_string();
    let started = Instant::now();
    cli(
        d,
        &db,
        &[
            "dev",
            "seed-revocations",
            "--revocations",
            &revoked.to_string(),
        ],
    );
    println!(
        "seeded {revoked} revocations in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        database_kind(&db)
    );
    let http = reqwest::Client::new();
    let certs = format!("{base}/api/v1/projects/{project}/certificates");

    // One validated name; every later certificate for it is issued at once (reuse).
    let create = || {
        let (http, certs, key) = (http.clone(), certs.clone(), key.clone());
        async move {
            let r: Value = http
                .post(&certs)
                .header("X-API-Key", &key)
                .json(&json!({"domainName": "rev.bench.test", "scopeId": 0}))
                .send()
                .await
                .expect("create")
                .json()
                .await
                .expect("json");
            r["result"].clone()
        }
    };
    let first = create().await;
    for r in first["dnsRecords"].as_array().expect("records") {
        http.post(format!("{}/set-txt", dns.management))
            .json(&json!({"host": format!("{}.", r["key"].as_str().unwrap()), "value": r["value"]}))
            .send()
            .await
            .expect("set-txt");
    }
    let id = first["id"].as_i64().expect("id");
    let v: Value = http
        .put(format!("{certs}/{id}/validate"))
        .header("X-API-Key", &key)
        .send()
        .await
        .expect("validate")
        .json()
        .await
        .expect("json");
    assert_eq!(v["result"]["certificateStatus"], "Active", "{v}");
    let mut ids = vec![id];
    while ids.len() < revokes {
        let c = create().await;
        assert_eq!(c["certificateStatus"], "Active", "{c}");
        ids.push(c["id"].as_i64().expect("id"));
    }

    // What the publish-crl job pays per CRL at this size: signing it in-process.
    let ca = certkeeper_ca::BuiltinCa::load(
        &certkeeper_ca::generate("Bench", time::OffsetDateTime::now_utc()).expect("CA"),
    )
    .expect("CA");
    let entries: Vec<certkeeper_ca::crl::CrlEntry> = (0..revoked)
        .map(|i| certkeeper_ca::crl::CrlEntry {
            serial: certkeeper_ca::crl::serial_from_hex(&format!("02{i:032X}")).expect("hex"),
            revoked_at: time::OffsetDateTime::now_utc(),
            reason_code: 1,
        })
        .collect();
    let started = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let signed = ca
        .sign_crl(1, now, now + time::Duration::days(7), &entries)
        .expect("sign");
    println!(
        "signing a CRL of {revoked} entries: {:.0} ms, {:.1} MB",
        started.elapsed().as_secs_f64() * 1e3,
        signed.len() as f64 / 1e6
    );

    // 1. Revocations, one after another.
    let mut latencies = Vec::with_capacity(ids.len());
    for id in &ids {
        let t = Instant::now();
        let r = http
            .post(format!("{certs}/{id}/revoke"))
            .header("X-API-Key", &key)
            .json(&json!({"reason": "keyCompromise"}))
            .send()
            .await
            .expect("revoke");
        latencies.push(t.elapsed());
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    println!(
        "revoke at {revoked} revoked: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} revocations)",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
        latencies.len()
    );
    // The CRL catches up: wait for one listing the last revocation.
    let started = Instant::now();
    let total = revoked as usize + ids.len();
    let crl_size;
    loop {
        let der = http
            .get(format!("{base}/pki/crl"))
            .send()
            .await
            .expect("crl")
            .bytes()
            .await
            .expect("crl");
        std::fs::write(d.join("crl.der"), &der).expect("write crl");
        let text = openssl(
            d,
            &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"],
        );
        if text.matches("Serial Number:").count() >= total {
            crl_size = der.len();
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the CRL never caught up"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "CRL listing all {total} entries {:.1} s after the last revocation",
        started.elapsed().as_secs_f64()
    );

    // 2. Fetch rates.
    let crl_url = format!("{base}/pki/crl");
    let client = http.clone();
    let crl_rate = rate(seconds, move || {
        let (c, u) = (client.clone(), crl_url.clone());
        async move {
            let body = c
                .get(&u)
                .send()
                .await
                .expect("crl")
                .bytes()
                .await
                .expect("crl");
            assert!(body.len() > 1000);
        }
    })
    .await;
    // OCSP requests for 20 of the certificates, made by openssl.
    std::fs::write(d.join("root.pem"), cli(d, &db, &["ca", "show"])).expect("root");
    let issuer = download_issuer(&http, &certs, &key, ids[0], d).await;
    let mut requests = Vec::new();
    for (i, id) in ids.iter().take(20).enumerate() {
        let leaf = download_leaf(&http, &certs, &key, *id, d, i).await;
        let req = d.join(format!("req{i}.der"));
        openssl(
            d,
            &[
                "ocsp",
                "-issuer",
                &issuer,
                "-cert",
                &leaf,
                "-no_nonce",
                "-reqout",
                req.to_str().unwrap(),
            ],
        );
        requests.push(std::fs::read(&req).expect("request"));
    }
    let requests = Arc::new(requests);
    let ocsp_url = format!("{base}/pki/ocsp");
    let ocsp_rate = {
        let (c, u, reqs) = (http.clone(), ocsp_url.clone(), requests.clone());
        let next = Arc::new(AtomicU64::new(0));
        rate(seconds, move || {
            let (c, u, reqs, next) = (c.clone(), u.clone(), reqs.clone(), next.clone());
            async move {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize % reqs.len();
                let r = c
                    .post(&u)
                    .header("content-type", "application/ocsp-request")
                    .body(reqs[i].clone())
                    .send()
                    .await
                    .expect("ocsp");
                assert_eq!(r.status(), 200);
                r.bytes().await.expect("ocsp");
            }
        })
        .await
    };
    println!(
        "certkeeper: {crl_rate:.0} CRL fetches/s ({:.0} MB/s), {ocsp_rate:.0} OCSP requests/s ({CONCURRENCY} clients, {seconds} s)",
        crl_rate * crl_size as f64 / 1e6
    );

    // 3. The peer: OpenSSL's CA with an index of the same size.
    let peer = openssl_peer(d, revoked as usize, seconds, &http).await;
    println!(
        "openssl ca: revoke + gencrl at {revoked} revoked {:.0} ms (p50 of 5); openssl ocsp responder {:.0} requests/s",
        peer.revoke.as_secs_f64() * 1e3,
        peer.ocsp_rate
    );
    println!(
        "ratios: revoke p99 {:.0}x faster than a CRL rebuild per revocation; OCSP {:.1}x the openssl responder",
        peer.revoke.as_secs_f64() / p99.as_secs_f64(),
        ocsp_rate / peer.ocsp_rate
    );
}

async fn download(http: &reqwest::Client, certs: &str, key: &str, id: i64) -> String {
    let r = http
        .get(format!("{certs}/{id}/download"))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    r.text().await.expect("pem")
}

const END: &str = "-----END CERTIFICATE-----";

async fn download_leaf(
    http: &reqwest::Client,
    certs: &str,
    key: &str,
    id: i64,
    d: &Path,
    i: usize,
) -> String {
    let pem = download(http, certs, key, id).await;
    let leaf = &pem[..pem.find(END).expect("pem") + END.len()];
    let name = format!("leaf{i}.pem");
    std::fs::write(d.join(&name), format!("{leaf}\n")).expect("write");
    name
}

async fn download_issuer(
    http: &reqwest::Client,
    certs: &str,
    key: &str,
    id: i64,
    d: &Path,
) -> String {
    let pem = download(http, certs, key, id).await;
    let rest = &pem[pem.find(END).expect("pem") + END.len()..];
    let issuer = &rest[..rest.find(END).expect("chain") + END.len()];
    std::fs::write(d.join("issuer.pem"), format!("{}\n", issuer.trim_start())).expect("write");
    "issuer.pem".into()
}

struct Peer {
    revoke: Duration,
    ocsp_rate: f64,
}

/// An OpenSSL CA whose index lists `revoked` revoked certificates: one more revocation costs
/// an index line and a CRL rebuild, as Vault's did; its OCSP responder answers from the index.
async fn openssl_peer(d: &Path, revoked: usize, seconds: u64, http: &reqwest::Client) -> Peer {
    let ca = d.join("peer");
    std::fs::create_dir_all(&ca).expect("peer dir");
    openssl(
        &ca,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=Peer CA",
            "-days",
            "3650",
        ],
    );
    openssl(
        &ca,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=leaf.peer.test",
        ],
    );
    openssl(
        &ca,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "0x01AB",
            "-days",
            "30",
            "-out",
            "leaf.pem",
        ],
    );
    let mut index = String::with_capacity(revoked * 80);
    for i in 0..revoked {
        index.push_str(&format!(
            "R\t351231000000Z\t251201000000Z,keyCompromise\t02{i:032X}\tunknown\t/CN=r{i}\n"
        ));
    }
    index.push_str("V\t351231000000Z\t\t01AB\tunknown\t/CN=leaf.peer.test\n");
    std::fs::write(ca.join("index.txt"), &index).expect("index");
    std::fs::write(ca.join("crlnumber"), "01\n").expect("crlnumber");
    std::fs::write(
        ca.join("ca.cnf"),
        "[ca]\ndefault_ca = peer\n[peer]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
         certificate = ca.pem\nprivate_key = ca.key\ndefault_md = sha256\ndefault_crl_days = 7\n",
    )
    .expect("cnf");
    let mut runs = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(ca.join("index.txt"))
            .expect("index");
        use std::io::Write as _;
        writeln!(
            f,
            "R\t351231000000Z\t251202000000Z,keyCompromise\t03{i:032X}\tunknown\t/CN=n{i}"
        )
        .expect("append");
        drop(f);
        openssl(
            &ca,
            &["ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem"],
        );
        runs.push(t.elapsed());
    }
    runs.sort();
    let port = free_port();
    let _responder = Server(
        Command::new("openssl")
            .current_dir(&ca)
            .args([
                "ocsp",
                "-index",
                "index.txt",
                "-port",
                &port.to_string(),
                "-CA",
                "ca.pem",
                "-rsigner",
                "ca.pem",
                "-rkey",
                "ca.key",
                "-nmin",
                "60",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl ocsp responder"),
    );
    openssl(
        &ca,
        &[
            "ocsp",
            "-issuer",
            "ca.pem",
            "-cert",
            "leaf.pem",
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
    );
    let request = std::fs::read(ca.join("req.der")).expect("request");
    let url = format!("http://127.0.0.1:{port}/");
    for _ in 0..100 {
        if http.post(&url).body(request.clone()).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (c, u, r) = (http.clone(), url, request);
    let ocsp_rate = rate(seconds, move || {
        let (c, u, r) = (c.clone(), u.clone(), r.clone());
        async move {
            let resp = c
                .post(&u)
                .header("content-type", "application/ocsp-request")
                .body(r)
                .send()
                .await
                .expect("peer ocsp");
            resp.bytes().await.expect("peer ocsp");
        }
    })
    .await;
    Peer {
        revoke: runs[runs.len() / 2],
        ocsp_rate,
    }
}
