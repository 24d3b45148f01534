//! Report latency over HTTP at a large inventory: Keyfactor's issuance analytics (collection 0
//! and two saved queries, 52 periods), DigiCert's expiring report (all, and one container) and
//! its 7-day status-change list. Run with `cargo bench --bench reports`; see
//! docs/benchmarks.md.
//!
//! `certkeeper dev seed` fills two projects (90% and 10% of the inventory, so one container is
//! not the whole table); the release server then runs in a child process on loopback and one
//! client sends each request `BENCH_REQUESTS` times in a row (after a warm-up), so the figures
//! are latencies, not throughput.
//!
//! Environment: `BENCH_DATABASE` (`sqlite`, the default, or a `postgres://` URL of an empty
//! database), `BENCH_CERTIFICATES` (default 1000000), `BENCH_REQUESTS` (default 500),
//! `BENCH_CASE_SECONDS` (default 30: a case stops measuring after this long).

mod support;

use std::time::{Duration, Instant};

use support::{admin_key, bench_database, cli, cli_json, database_kind, env_or, report, serve};

/// Requests sent before measuring: connection set-up, page cache, prepared statements.
const WARM_UP: usize = 20;

#[tokio::main]
async fn main() {
    let total: i64 = env_or("BENCH_CERTIFICATES", 1_000_000);
    let requests: usize = env_or("BENCH_REQUESTS", 500);
    let budget = Duration::from_secs(env_or("BENCH_CASE_SECONDS", 30));
    let dir = tempfile::tempdir().expect("temp dir");
    let db = bench_database(dir.path());
    println!("database: {}, {total} certificates", database_kind(&db));

    let small = total / 10;
    let container = cli_json(
        dir.path(),
        &db,
        &["project", "create", "--name", "small", "--json"],
    )["containerId"]
        .as_i64()
        .expect("containerId");
    let t = Instant::now();
    // The small project first: each run then goes into a database no larger than itself,
    // which is how seeding is fastest (see `seed::RIGHT_EDGE_INDEXES`).
    for (project, n) in [("small", small), ("big", total - small)] {
        let n = n.to_string();
        print!(
            "{}",
            cli(
                dir.path(),
                &db,
                &["dev", "seed", "--certificates", &n, "--project", project]
            )
        );
    }
    println!("seeding took {:.1} s", t.elapsed().as_secs_f64());
    let collection = |name: &str, query: &str| {
        cli_json(
            dir.path(),
            &db,
            &[
                "collection",
                "create",
                "--name",
                name,
                "--query",
                query,
                "--json",
            ],
        )["id"]
            .as_i64()
            .expect("id")
    };
    // About a hundred certificates by name prefix (the issued_cn index), and a few percent
    // of the inventory by date and key type (the notBefore index, then a filter).
    let by_name = collection("by name", r#"CN -startswith "host12345""#);
    let by_date = collection(
        "recent RSA",
        r#"IssuedDate -ge "%TODAY-30%" AND KeyType -eq "RSA""#,
    );
    let key = admin_key(dir.path(), &db);

    let t = Instant::now();
    let (_server, base) = serve(dir.path(), &db, &[]);
    println!("server start: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    let http = reqwest::Client::new();
    let cases = [
        (
            "issuance, collection 0, 52 periods",
            "/Analytics/Certificates/Issuance?collectionId=0&TotalPeriods=52".to_string(),
        ),
        (
            "issuance, CN prefix collection, 52 periods",
            format!("/Analytics/Certificates/Issuance?collectionId={by_name}&TotalPeriods=52"),
        ),
        (
            "issuance, recent RSA collection, 52 periods",
            format!("/Analytics/Certificates/Issuance?collectionId={by_date}&TotalPeriods=52"),
        ),
        (
            "expiring, all",
            "/services/v2/report/order/expiring".to_string(),
        ),
        (
            "expiring, one container",
            format!("/services/v2/report/order/expiring?container_id={container}"),
        ),
        (
            "status changes, 7 days, all",
            "/services/v2/order/certificate/status-changes?minutes=10080".to_string(),
        ),
        (
            "status changes, 7 days, first 1000 with total",
            "/services/v2/order/certificate/status-changes?minutes=10080&limit=1000".to_string(),
        ),
    ];
    for (name, path) in cases {
        let url = format!("{base}{path}");
        let get = || async {
            let r = http
                .get(&url)
                .header("X-API-Key", &key)
                .send()
                .await
                .expect("request");
            assert_eq!(
                r.status(),
                200,
                "{path}: {}",
                r.text().await.unwrap_or_default()
            );
            r.bytes().await.expect("body").len()
        };
        let warm = Instant::now();
        for _ in 0..WARM_UP {
            if warm.elapsed() > budget / 6 {
                break;
            }
            get().await;
        }
        // A slow case stops at its time budget, with fewer samples (the count is printed).
        let mut lat = Vec::with_capacity(requests);
        let mut size = 0;
        let t = Instant::now();
        while lat.len() < requests && (lat.is_empty() || t.elapsed() < budget) {
            let s = Instant::now();
            size = get().await;
            lat.push(s.elapsed());
        }
        let _ = report(&format!("{name} ({size} bytes)"), lat, t.elapsed());
    }
}
