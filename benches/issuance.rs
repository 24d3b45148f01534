//! Issuance throughput over HTTP with the built-in CA, side by side with cfssl.
//! Run with `cargo bench --bench issuance`; see docs/benchmarks.md.
//!
//! certkeeper: the release server in a child process, `--dns-resolver` pointing at an
//! authoritative DNS server in this process; each client loops create → publish the TXT
//! records → validate, so every certificate is really DNS-validated, signed and durably stored.
//! cfssl (Debian's `golang-cfssl`, if installed): `cfssl serve` on loopback, each client loops
//! `POST /api/v1/cfssl/newcert` (ECDSA P-256 key generation and signing; cfssl stores nothing).
//! Both sides are driven by the same client code at the same concurrency. A third run times
//! creates issued at once through validation reuse (`reuse/cfssl`).
//!
//! Environment: `BENCH_DATABASE` (`sqlite` or a `postgres://` URL of an empty database),
//! `BENCH_CONCURRENCY` (default 8), `BENCH_SECONDS` (default 10), `BENCH_ACME_ORDERS`
//! (default 20; 0 skips the pebble timing).

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certkeeper_testkit::dns::TestDns;
use serde_json::{Value, json};
use support::{Server, admin_key, bench_database, cli_json, env_or, report, serve};

/// Runs `conc` clients for `secs`, each calling `op` in a loop; returns per-op latencies.
async fn drive<F, Fut>(conc: usize, secs: u64, op: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..conc)
        .map(|c| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = c;
                while Instant::now() < deadline {
                    let s = Instant::now();
                    op(i).await;
                    lat.push(s.elapsed());
                    i += conc;
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    (all, start.elapsed())
}

/// A release server on a fresh project: its child process, the project's certificates URL,
/// and an admin key. `extra` are more `serve` flags.
fn start_server(dir: &std::path::Path, db: &str, extra: &[String]) -> (Server, String, String) {
    let pid = cli_json(dir, db, &["project", "create", "--name", "bench", "--json"])["id"]
        .as_str()
        .expect("id")
        .to_string();
    let key = admin_key(dir, db);
    let (server, base) = serve(dir, db, extra);
    (
        server,
        format!("{base}/api/v1/projects/{pid}/certificates"),
        key,
    )
}

async fn certkeeper_side(conc: usize, secs: u64) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = bench_database(dir.path());
    let dns = Arc::new(TestDns::start(&["bench.test"]).await);
    let (_server, certs, key) = start_server(
        dir.path(),
        &db,
        &["--dns-resolver".into(), dns.addr().to_string()],
    );
    let certs = Arc::new(certs);
    let http = reqwest::Client::new();
    let key = Arc::new(key);
    let after = (http.clone(), certs.clone(), key.clone());
    let (lat, elapsed) = drive(conc, secs, move |i| {
        let (http, certs, key, dns) = (http.clone(), certs.clone(), key.clone(), dns.clone());
        async move {
            let body = json!({"domainName": format!("h{i}.bench.test"), "additionalDomainNames": [], "scopeId": 0});
            let r: Value = http.post(certs.as_str()).header("X-API-Key", key.as_str()).json(&body).send().await.expect("create").json().await.expect("json");
            let c = &r["result"];
            for rec in c["dnsRecords"].as_array().expect("records") {
                dns.set_txt(rec["key"].as_str().expect("key"), &[rec["value"].as_str().expect("value")]).await;
            }
            let id = c["id"].as_i64().expect("id");
            let v = http.put(format!("{certs}/{id}/validate")).header("X-API-Key", key.as_str()).send().await.expect("validate");
            assert_eq!(v.status(), 200, "{}", v.text().await.unwrap_or_default());
        }
    })
    .await;
    let rate = report(
        &format!("certkeeper create+DNS-01+validate+issue+store ({conc} clients)"),
        lat,
        elapsed,
    );
    let (http, certs, key) = after;
    floor(conc, secs, &http, &certs, &key).await;
    rate
}

/// Validation reuse: each client's name is validated once (create → DNS → validate), then
/// every create for it is issued in that one request (sign and store durably), as a renewal
/// or a re-issue within `reuseDays` is.
async fn reuse_side(conc: usize, secs: u64) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = bench_database(dir.path());
    let dns = Arc::new(TestDns::start(&["bench.test"]).await);
    let (_server, certs, key) = start_server(
        dir.path(),
        &db,
        &["--dns-resolver".into(), dns.addr().to_string()],
    );
    let http = reqwest::Client::new();
    for c in 0..conc {
        let body = json!({"domainName": format!("r{c}.bench.test"), "scopeId": 0});
        let r: Value = http
            .post(&certs)
            .header("X-API-Key", &key)
            .json(&body)
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let cert = &r["result"];
        for rec in cert["dnsRecords"].as_array().expect("records") {
            dns.set_txt(
                rec["key"].as_str().expect("key"),
                &[rec["value"].as_str().expect("value")],
            )
            .await;
        }
        let id = cert["id"].as_i64().expect("id");
        let v = http
            .put(format!("{certs}/{id}/validate"))
            .header("X-API-Key", &key)
            .send()
            .await
            .expect("validate");
        assert_eq!(v.status(), 200, "{}", v.text().await.unwrap_or_default());
    }
    let (certs, key) = (Arc::new(certs), Arc::new(key));
    let (lat, elapsed) = drive(conc, secs, move |i| {
        let (http, certs, key) = (http.clone(), certs.clone(), key.clone());
        async move {
            let body = json!({"domainName": format!("r{}.bench.test", i % conc), "scopeId": 0});
            let r = http
                .post(certs.as_str())
                .header("X-API-Key", key.as_str())
                .json(&body)
                .send()
                .await
                .expect("create");
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.expect("json");
            assert_eq!(v["result"]["certificateStatus"], "Active", "{v}");
        }
    })
    .await;
    report(
        &format!("certkeeper create issued at once, validation reused ({conc} clients)"),
        lat,
        elapsed,
    )
}

/// The ceiling the HTTP shape alone sets: the same clients, each iteration two GETs of an
/// issued certificate (authentication from cache, one indexed read, the record as JSON), no
/// writes, no DNS, no signing. Issuance needs these two round trips and much more, so it
/// cannot go faster than this on the same machine.
async fn floor(conc: usize, secs: u64, http: &reqwest::Client, certs: &str, key: &str) {
    let one = format!("{certs}/1");
    let (http, one, key) = (http.clone(), Arc::new(one), Arc::new(key.to_string()));
    let (lat, elapsed) = drive(conc, secs, move |_| {
        let (http, one, key) = (http.clone(), one.clone(), key.clone());
        async move {
            for _ in 0..2 {
                let r = http
                    .get(one.as_str())
                    .header("X-API-Key", key.as_str())
                    .send()
                    .await
                    .expect("get");
                assert_eq!(r.status(), 200);
                r.bytes().await.expect("body");
            }
        }
    })
    .await;
    let _ = report(
        &format!("certkeeper two GETs by id per iteration, the HTTP floor ({conc} clients)"),
        lat,
        elapsed,
    );
}

/// Times full ACME orders against pebble, one after another: create (certkeeper opens the
/// ACME order) → publish → validate (pebble checks DNS, certkeeper finalizes and downloads).
async fn acme_orders(count: usize) {
    if Command::new("pebble").arg("-version").output().is_err() {
        println!("pebble: not installed (apt-get install pebble); ACME timing skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("acme.db").display());
    let dns = TestDns::start(&["bench.test"]).await;
    let pebble = certkeeper_testkit::pebble::Pebble::start(dns.addr()).await;
    let flags = [
        "--dns-resolver".to_string(),
        dns.addr().to_string(),
        "--issuer".into(),
        "acme".into(),
        "--acme-directory".into(),
        pebble.directory.clone(),
        "--acme-ca-bundle".into(),
        pebble.tls_root.display().to_string(),
    ];
    let (_server, certs, key) = start_server(dir.path(), &db, &flags);
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut lat = Vec::new();
    for i in 0..count {
        let s = Instant::now();
        let body = json!({"domainName": format!("acme{i}.bench.test"), "additionalDomainNames": [], "scopeId": 0});
        let r: Value = http
            .post(&certs)
            .header("X-API-Key", &key)
            .json(&body)
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        for rec in r["result"]["dnsRecords"].as_array().expect("records") {
            dns.set_txt(
                rec["key"].as_str().expect("key"),
                &[rec["value"].as_str().expect("value")],
            )
            .await;
        }
        let id = r["result"]["id"].as_i64().expect("id");
        let v = http
            .put(format!("{certs}/{id}/validate"))
            .header("X-API-Key", &key)
            .send()
            .await
            .expect("validate");
        assert_eq!(v.status(), 200, "{}", v.text().await.unwrap_or_default());
        lat.push(s.elapsed());
    }
    let _ = report(
        "one full ACME order against pebble (sequential)",
        lat,
        start.elapsed(),
    );
}

async fn cfssl_side(conc: usize, secs: u64) -> Option<f64> {
    if Command::new("cfssl").arg("version").output().is_err() {
        println!("cfssl: not installed (apt-get install golang-cfssl); skipped");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::write(
        d.join("ca-csr.json"),
        r#"{"CN": "bench CA", "key": {"algo": "ecdsa", "size": 256}}"#,
    )
    .expect("write");
    std::fs::write(
        d.join("config.json"),
        r#"{"signing": {"default": {"expiry": "2160h"}, "profiles": {"www": {"expiry": "2160h", "usages": ["signing", "digital signature", "server auth"]}}}}"#,
    )
    .expect("write");
    let init = Command::new("sh")
        .arg("-c")
        .arg("cfssl gencert -initca ca-csr.json | cfssljson -bare ca")
        .current_dir(d)
        .output()
        .expect("gencert");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let _server = Server(
        Command::new("cfssl")
            .args([
                "serve",
                "-address",
                "127.0.0.1",
                "-port",
                &port.to_string(),
                "-ca",
                "ca.pem",
                "-ca-key",
                "ca-key.pem",
                "-config",
                "config.json",
            ])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cfssl serve"),
    );
    let url = Arc::new(format!("http://127.0.0.1:{port}/api/v1/cfssl/newcert"));
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (lat, elapsed) = drive(conc, secs, move |i| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let body = json!({"request": {"CN": format!("h{i}.bench.test"), "hosts": [format!("h{i}.bench.test")], "key": {"algo": "ecdsa", "size": 256}}, "profile": "www"});
            let r = http.post(url.as_str()).json(&body).send().await.expect("newcert");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("body");
        }
    })
    .await;
    Some(report(
        &format!("cfssl newcert ({conc} clients)"),
        lat,
        elapsed,
    ))
}

#[tokio::main]
async fn main() {
    let conc: usize = env_or("BENCH_CONCURRENCY", 8);
    let secs: u64 = env_or("BENCH_SECONDS", 10);
    let ours = certkeeper_side(conc, secs).await;
    let reused = reuse_side(conc, secs).await;
    let cfssl = cfssl_side(conc, secs).await;
    let acme: usize = env_or("BENCH_ACME_ORDERS", 20);
    if acme > 0 {
        acme_orders(acme).await;
    }
    if let Some(cfssl) = cfssl {
        println!("reuse/cfssl: {:.2}", reused / cfssl);
        // The last line, so runs compare at a glance: create + validate against cfssl newcert.
        println!("issuance/cfssl: {:.2}", ours / cfssl);
    }
}
