//! What a Prometheus scrape costs at a large inventory: `GET /metrics` (counts per project
//! and status, expiring windows, and the 10,000 per-certificate series nearest expiry) over
//! HTTP, one scrape after another. Run with `cargo bench --bench metrics`; see
//! docs/benchmarks.md.
//!
//! Environment: `BENCH_DATABASE` (`sqlite`, the default, or an empty PostgreSQL database's
//! URL), `BENCH_CERTIFICATES` (default 1000000), `BENCH_REQUESTS` (default 50).

mod support;

use std::time::Instant;

use support::{admin_key, bench_database, cli, database_kind, env_or, percentile, serve};

#[tokio::main]
async fn main() {
    let total: i64 = env_or("BENCH_CERTIFICATES", 1_000_000);
    let requests: usize = env_or("BENCH_REQUESTS", 50);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = bench_database(dir.path());
    let t = Instant::now();
    print!(
        "{}",
        cli(
            dir.path(),
            &db,
            &[
                "dev",
                "seed",
                "--certificates",
                &total.to_string(),
                "--project",
                "big"
            ]
        )
    );
    println!(
        "{} certificates seeded in {:.1} s ({})",
        total,
        t.elapsed().as_secs_f64(),
        database_kind(&db)
    );
    let (_server, base) = serve(dir.path(), &db, &[]);
    let key = admin_key(dir.path(), &db);
    let http = reqwest::Client::new();
    let scrape = || async {
        let r = http
            .get(format!("{base}/metrics"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("scrape");
        assert_eq!(r.status(), 200);
        r.text().await.expect("body")
    };
    let body = scrape().await;
    let series = body
        .lines()
        .filter(|l| l.starts_with("certkeeper_certificate_expiration_timestamp_seconds{"))
        .count();
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        scrape().await;
        times.push(t.elapsed());
    }
    times.sort();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!(
        "GET /metrics at {total} certificates ({series} per-certificate series, {:.1} MB): \
         p50 {:.1} ms, p99 {:.1} ms ({requests} scrapes)",
        body.len() as f64 / 1e6,
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
    );
}
