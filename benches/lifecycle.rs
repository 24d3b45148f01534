//! The lifecycle's hot paths. Run with `cargo bench --bench lifecycle`; see docs/benchmarks.md.
//!
//! 1. **Scheduler tick at scale.** `certkeeper dev seed` fills the inventory; every issued
//!    certificate gets its renewal job (due at 2/3 of its lifetime, as issuance schedules it)
//!    and the project an expiry rule with thresholds 30/14/7/1/0 days. Each tick then does
//!    what the scheduler and the notify job do to *find and claim* work: claim up to 32 due
//!    jobs, and for each threshold read the certificates whose threshold was crossed since the
//!    previous tick (10 s of scheduler time apart). Finishing the claimed jobs happens between
//!    ticks, outside the timing. Latency per tick: p50/p99.
//! 2. **Webhook deliveries.** Signed deliveries enqueued through the store as the notify job
//!    does, sent by the scheduler (claim, sign, POST, record, finish) to a receiver on
//!    loopback that answers 200. Deliveries per second.
//!
//! Environment: `BENCH_DATABASE` (`sqlite` or a `postgres://` URL of an empty database),
//! `BENCH_CERTIFICATES` (default 1000000), `BENCH_TICKS` (default 300), `BENCH_DELIVERIES`
//! (default 5000).

// These drive a real server on the wall clock (and set test clocks from it).
#![allow(clippy::disallowed_methods)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use certkeeper_core::Core;
use certkeeper_core::scheduler::{Scheduler, SchedulerConfig};
use certkeeper_domain::FixedClock;
use certkeeper_domain::ids::CertificateId;
use certkeeper_domain::notification::{Channel, Event, Rule};
use certkeeper_store::{FanOut, JobOutcome, NewDelivery, Store};
use support::{bench_database, cli, cli_json, database_kind, env_or, report};
use time::OffsetDateTime;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn core_on(db: &str, dir: &std::path::Path, now: OffsetDateTime) -> Core {
    let store = Store::connect(db).await.expect("store");
    let key = certkeeper_core::masterkey::load_or_create(&store, &dir.join("master.key"))
        .await
        .expect("master key");
    Core::new(store, Arc::new(FixedClock::new(now)), key).with_notifications(
        certkeeper_core::notifications::NotifyConfig {
            allow_private_webhooks: true,
            ..Default::default()
        },
    )
}

async fn scheduler_at_scale(dir: &std::path::Path, db: &str, total: i64, ticks: usize) {
    let db = db.to_string();
    println!("database: {}, {total} certificates", database_kind(&db));
    let project = cli_json(dir, &db, &["project", "create", "--name", "big", "--json"]);
    let t = Instant::now();
    print!(
        "{}",
        cli(
            dir,
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
    println!("seeding took {:.1} s", t.elapsed().as_secs_f64());
    let now = OffsetDateTime::now_utc();
    let core = core_on(&db, dir, now).await;
    let t = Instant::now();
    let jobs = core
        .store()
        .bench_schedule_renewals_for_all()
        .await
        .expect("renewal jobs");
    println!(
        "{jobs} renewal jobs scheduled in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let p = core
        .find_project(project["name"].as_str().expect("name"))
        .await
        .expect("project");
    let rule = Rule {
        name: "expiry".into(),
        events: vec![Event::Expiring],
        expiring_days: vec![30, 14, 7, 1, 0],
        collection_id: None,
        channel: Channel::Webhook {
            url: "https://192.0.2.10/hook".into(),
            secret: String::new(),
        },
    }
    .check()
    .expect("rule");
    core.create_rule_in(&p, rule.clone())
        .await
        .expect("create rule");
    let store = core.store().clone();
    let mut watermarks: Vec<OffsetDateTime> = rule.expiring_days.iter().map(|_| now).collect();
    let mut lat = Vec::with_capacity(ticks);
    let (mut claimed, mut crossed) = (0usize, 0usize);
    let mut at = now;
    for _ in 0..ticks {
        at += time::Duration::seconds(10);
        let start = Instant::now();
        let jobs = store
            .claim_jobs("bench", at, time::Duration::seconds(60), 32)
            .await
            .expect("claim");
        for (i, days) in rule.expiring_days.iter().enumerate() {
            let until = at + time::Duration::days(i64::from(*days));
            let hits = store
                .expiring_between(p.container_id, None, watermarks[i], until, at, 1000)
                .await
                .expect("expiring");
            crossed += hits.len();
            watermarks[i] = until;
        }
        lat.push(start.elapsed());
        claimed += jobs.len();
        for j in &jobs {
            store
                .finish_job(j, JobOutcome::Done, at)
                .await
                .expect("finish");
        }
    }
    lat.sort();
    println!(
        "scheduler tick (claim ≤32 due jobs + 5 threshold ranges), {} certificates, {ticks} ticks: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({claimed} jobs claimed, {crossed} threshold crossings found)",
        total,
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3,
    );
    println!(
        "tick/50ms: {:.2}",
        percentile(&lat, 0.99).as_secs_f64() / 0.050
    );
    store.close().await;
}

/// A receiver on loopback that answers every POST with 200, counting them.
async fn receiver() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::routing::post;
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move || {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::future::ready("ok")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), count)
}

async fn deliveries(dir: &std::path::Path, db: &str, n: usize) {
    let db = db.to_string();
    cli_json(
        dir,
        &db,
        &["project", "create", "--name", "hooks", "--json"],
    );
    let now = OffsetDateTime::now_utc();
    let core = core_on(&db, dir, now).await;
    let p = core.find_project("hooks").await.expect("project");
    let (url, received) = receiver().await;
    let rule = Rule {
        name: "bench".into(),
        events: vec![Event::Issued],
        expiring_days: vec![],
        collection_id: None,
        channel: Channel::Webhook {
            url,
            secret: String::new(),
        },
    };
    let (view, _) = core.create_rule_in(&p, rule).await.expect("rule");
    let body = serde_json::json!({"type": "certificate.issued", "data": {"certificate": {"id": 1, "domainName": "bench.example.test"}}}).to_string();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let groups = chunk
            .iter()
            .map(|i| FanOut {
                marks: vec![(
                    view.id,
                    CertificateId(*i as i64 + 1),
                    "certificate.issued".into(),
                )],
                delivery: Some(NewDelivery {
                    rule_id: view.id,
                    message_id: format!("msg_bench_{i}"),
                    event: "certificate.issued".into(),
                    body: body.clone(),
                }),
            })
            .collect();
        core.store()
            .fan_out(groups, None, &[], now)
            .await
            .expect("enqueue");
    }
    let scheduler = Scheduler::new(core.clone(), SchedulerConfig::new(Duration::from_secs(1)));
    let start = Instant::now();
    let mut lat = Vec::new();
    loop {
        let t = Instant::now();
        let ran = scheduler.tick().await.expect("tick");
        if ran == 0 {
            break;
        }
        lat.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    let got = received.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(got, n, "every delivery arrives once");
    report(
        &format!("scheduler ticks delivering {n} signed webhooks (≤32 per tick)"),
        lat,
        elapsed,
    );
    let rate = got as f64 / elapsed.as_secs_f64();
    println!("deliveries/s: {rate:.0}");
    println!("deliveries/1000: {:.2}", rate / 1000.0);
    core.store().close().await;
}

#[tokio::main]
async fn main() {
    let total: i64 = env_or("BENCH_CERTIFICATES", 1_000_000);
    let ticks: usize = env_or("BENCH_TICKS", 300);
    let n: usize = env_or("BENCH_DELIVERIES", 5000);
    // One database (and master key) for both parts: `BENCH_DATABASE` may be one PostgreSQL
    // database.
    let dir = tempfile::tempdir().expect("temp dir");
    let db = bench_database(dir.path());
    if total > 0 {
        scheduler_at_scale(dir.path(), &db, total, ticks).await;
    }
    if n > 0 {
        deliveries(dir.path(), &db, n).await;
    }
}
