//! ACME orders per second with 8 concurrent instant-acme clients, each looping new order →
//! dns-01 challenge (the test publishes the TXT record in pebble-challtestsrv) → finalize →
//! download, against certkeeper (SQLite, every certificate durably stored, `--tls-builtin`)
//! and Debian's pebble (`PEBBLE_VA_NOSLEEP=1`, everything in memory), in the same run.
//! Run with `cargo bench --bench acme_rate`; see docs/benchmarks.md.
//!
//! Environment: `BENCH_SECONDS` (default 10 per CA), `BENCH_CLIENTS` (8), `BENCH_TRACE` (set:
//! print each order's step times).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use certkeeper_testkit::bind::ChallTestSrv;
use certkeeper_testkit::pebble::Pebble;
use instant_acme::{
    Account, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls_pki_types::pem::PemObject as _;
use support::{env_or, serve};

/// instant-acme's HTTP client, but with `TCP_NODELAY`. Its default connector leaves Nagle on,
/// so each POST's body waits for the server's delayed ACK of its head (about 40 ms here):
/// with it, every client spent ~45 ms per request asleep, whichever CA it talked to, and the
/// benchmark measured that instead of the CAs.
fn http_client(root_pem: &std::path::Path) -> Box<dyn instant_acme::HttpClient> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(root_pem).expect("root");
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .wrap_connector(tcp);
    let client: hyper_util::client::legacy::Client<_, instant_acme::BodyWrapper<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    Box::new(client)
}

fn retry() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(10))
        .backoff(1.5)
        .timeout(Duration::from_secs(60))
}

/// One order, start to certificate.
async fn one_order(account: &Account, name: &str, http: &reqwest::Client, management: &str) {
    let trace = std::env::var("BENCH_TRACE").is_ok();
    let t0 = Instant::now();
    let step = |what: &str| {
        if trace {
            eprintln!(
                "{name}: {what} at {:.1} ms",
                t0.elapsed().as_secs_f64() * 1e3
            );
        }
    };
    let ids = [Identifier::Dns(name.to_string())];
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .expect("new order");
    step("ordered");
    {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.expect("authorization");
            let mut challenge = authz.challenge(ChallengeType::Dns01).expect("dns-01");
            let value = challenge.key_authorization().dns_value();
            http.post(format!("{management}/set-txt"))
                .body(format!(
                    "{{\"host\":\"_acme-challenge.{name}.\",\"value\":\"{value}\"}}"
                ))
                .send()
                .await
                .expect("set-txt");
            step("published");
            challenge.set_ready().await.expect("challenge ready");
            step("challenge ready");
        }
    }
    let status = order.poll_ready(&retry()).await.expect("validation");
    assert_eq!(status, OrderStatus::Ready, "{name}");
    step("order ready");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).expect("csr");
    order.finalize_csr(csr.der()).await.expect("finalize");
    step("finalized");
    let pem = order.poll_certificate(&retry()).await.expect("certificate");
    assert!(pem.contains("BEGIN CERTIFICATE"));
    step("certificate");
}

/// Orders completed per second by `clients` accounts looping for `seconds`.
async fn rate(
    label: &str,
    directory: &str,
    root: &std::path::Path,
    clients: usize,
    seconds: u64,
    management: &str,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let http = reqwest::Client::new();
    let mut accounts = Vec::new();
    for _ in 0..clients {
        let (account, _) = Account::builder_with_http(http_client(root))
            .create(
                &NewAccount {
                    contact: &[],
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                directory.to_string(),
                None,
            )
            .await
            .expect("account");
        accounts.push(account);
    }
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = accounts
        .into_iter()
        .enumerate()
        .map(|(c, account)| {
            let (done, http, management, label) = (
                done.clone(),
                http.clone(),
                management.to_string(),
                label.to_string(),
            );
            tokio::spawn(async move {
                let mut i = 0;
                while Instant::now() < until {
                    let name = format!("{label}-{c}-{i}.rate.example.test");
                    one_order(&account, &name, &http, &management).await;
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
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
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seconds: u64 = env_or("BENCH_SECONDS", 10);
    let clients: usize = env_or("BENCH_CLIENTS", 8);
    let dns = ChallTestSrv::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("certkeeper.db").display());
    let root = dir.path().join("root.pem");
    std::fs::write(&root, support::cli(dir.path(), &db, &["ca", "show"])).expect("root");
    let (_server, base) = serve(
        dir.path(),
        &db,
        &[
            "--tls-builtin".into(),
            "--dns-resolver".into(),
            dns.dns.to_string(),
        ],
    );
    let project = support::cli_json(dir.path(), &db, &["project", "list", "--json"])[0]["id"]
        .as_str()
        .expect("the default project")
        .to_string();
    let ck_directory = format!("{base}/acme/{project}/directory");
    let pebble = Pebble::start(dns.dns).await;
    let management = dns.management.to_string();
    // Half of each CA's time first, then the other half, so both see the same machine.
    let half = seconds.div_ceil(2);
    let mut ck = 0.0;
    let mut peb = 0.0;
    for round in 0..2 {
        ck += rate(
            &format!("ck{round}"),
            &ck_directory,
            &root,
            clients,
            half,
            &management,
        )
        .await;
        peb += rate(
            &format!("pb{round}"),
            &pebble.directory,
            &pebble.tls_root,
            clients,
            half,
            &management,
        )
        .await;
    }
    let (ck, peb) = (ck / 2.0, peb / 2.0);
    println!(
        "ACME orders/s, {clients} instant-acme clients, dns-01, {seconds} s each: certkeeper {ck:.1}/s \
         (SQLite, durable), pebble {peb:.1}/s (in memory); ratio {:.2} (goal >= 2)",
        ck / peb
    );
}
