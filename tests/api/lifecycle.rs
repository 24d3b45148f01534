//! Lifecycle automation against real DNS servers: Debian's BIND takes RFC 2136 updates with
//! TSIG, pebble-challtestsrv serves what an exec script sets. The scheduler runs as it does
//! in `serve`; tests wait for outcomes over HTTP.

use std::time::Duration;

use certkeeper_core::scheduler::{Scheduler, SchedulerConfig};
use certkeeper_domain::apikey::Role;
use certkeeper_testkit::bind::{Bind, ChallTestSrv};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Db, DnsSetup, Resp, TestApp, both_databases};

both_databases!(
    rfc2136_creates_issues_and_cleans_up,
    wrong_tsig_secret_is_a_clear_error_on_the_order,
    exec_provider_publishes_through_a_script,
    validations_are_reused_for_their_names_only,
    renewal_is_scheduled_and_runs,
    renew_now_brings_imported_certificates_under_management,
    settings_are_checked_and_hide_secrets,
    expired_orders_sweep_is_a_job,
    a_stalled_node_loses_its_job_to_another,
    every_job_runs_once_across_two_nodes,
);

/// A server whose validation reads BIND, and a project using BIND's RFC 2136 updates.
async fn with_bind(db: Db) -> (TestApp, Bind) {
    let bind = Bind::start("example.test").await;
    let app = TestApp::spawn_dns(
        db,
        DnsSetup {
            resolver: Some(bind.addr),
            authoritative_port: Some(bind.addr.port()),
            ..DnsSetup::default()
        },
    )
    .await;
    (app, bind)
}

fn rfc2136(bind: &Bind, secret: &str) -> Value {
    json!({"dnsProvider": {"provider": "rfc2136", "server": bind.addr.to_string(), "zone": "example.test",
           "tsigKeyName": bind.key_name, "tsigAlgorithm": "hmac-sha256", "tsigSecret": secret},
           "propagationTimeoutSeconds": 10})
}

pub(crate) async fn put_validation(app: &TestApp, body: Value) -> Resp {
    let path = format!("/api/v1/projects/{}/validation", app.project.id);
    app.call(Method::PUT, &path, Some(&app.admin_key), Some(body))
        .await
}

pub(crate) async fn create(app: &TestApp, names: &[&str]) -> Resp {
    app.call(
        Method::POST,
        &app.certs_path(&app.project),
        Some(&app.admin_key),
        Some(json!({"domainName": names[0], "additionalDomainNames": &names[1..], "scopeId": 0})),
    )
    .await
}

async fn get(app: &TestApp, id: i64) -> Value {
    let path = format!("{}/{id}", app.certs_path(&app.project));
    app.call(Method::GET, &path, Some(&app.admin_key), None)
        .await
        .ok()
        .clone()
}

/// Runs this node's scheduler as `serve` does (fast polling), until the test ends.
fn run_scheduler(app: &TestApp) -> tokio::task::JoinHandle<()> {
    let scheduler = Scheduler::new(
        app.core.clone(),
        SchedulerConfig::new(Duration::from_millis(200)),
    );
    tokio::spawn(scheduler.run(std::future::pending()))
}

/// Polls a certificate until `done` holds (at most 30 s).
async fn wait_for(app: &TestApp, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..150 {
        let c = get(app, id).await;
        if done(&c) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "certificate {id} never became {what}: {}",
        get(app, id).await
    );
}

async fn rfc2136_creates_issues_and_cleans_up(db: Db) {
    let (app, bind) = with_bind(db).await;
    let shown = put_validation(&app, rfc2136(&bind, &bind.key_secret)).await;
    let v = shown.ok();
    assert_eq!(v["dnsProvider"]["provider"], "rfc2136");
    assert!(v["dnsProvider"].get("tsigSecret").is_none(), "{v}");
    let _jobs = run_scheduler(&app);
    let c = create(&app, &["www.example.test", "api.example.test"]).await;
    let c = c.ok().clone();
    assert_eq!(c["certificateStatus"], "Pending");
    let id = c["id"].as_i64().unwrap();
    let issued = wait_for(&app, id, "Active", |c| c["certificateStatus"] == "Active").await;
    assert!(issued["serialNumber"].is_string());
    // Renewal is scheduled at 2/3 of the 90-day lifetime.
    let renew_after = issued["renewAfter"].as_str().expect("renewAfter");
    let not_before = time::OffsetDateTime::parse(
        issued["notBefore"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let renew_at =
        time::OffsetDateTime::parse(renew_after, &time::format_description::well_known::Rfc3339)
            .unwrap();
    assert_eq!((renew_at - not_before).whole_days(), 60);
    // The records are gone from BIND.
    for name in [
        "_acme-challenge.www.example.test",
        "_acme-challenge.api.example.test",
    ] {
        assert!(
            bind.txt(name).is_empty(),
            "{name} still has {:?}",
            bind.txt(name)
        );
    }
    let pem = app
        .call(
            Method::GET,
            &format!("{}/{id}/download", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(pem.status, 200);
    assert!(pem.text.contains("BEGIN CERTIFICATE"));
}

async fn wrong_tsig_secret_is_a_clear_error_on_the_order(db: Db) {
    let (app, bind) = with_bind(db).await;
    // A valid key of the right length that BIND does not know.
    let wrong = "c2VjcmV0LXRoYXQtYmluZC1kb2VzLW5vdC1rbm93LTAwMDA=";
    put_validation(&app, rfc2136(&bind, wrong)).await.ok();
    let _jobs = run_scheduler(&app);
    let id = create(&app, &["bad.example.test"]).await.ok()["id"]
        .as_i64()
        .unwrap();
    let c = wait_for(&app, id, "marked with a problem", |c| {
        c["problem"].is_string()
    })
    .await;
    assert_eq!(c["certificateStatus"], "Pending");
    let problem = c["problem"].as_str().unwrap();
    assert!(
        problem.contains("TSIG") || problem.contains("NOTAUTH"),
        "unclear problem: {problem}"
    );
    assert!(!problem.contains(wrong), "the secret leaked: {problem}");
    // The job waits to retry, with the error, and is listed.
    let jobs = app
        .call(
            Method::GET,
            "/api/v1/jobs?state=retrying&kind=issue",
            Some(&app.admin_key),
            None,
        )
        .await;
    let list = jobs.ok().as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["subject"], id.to_string());
    assert_eq!(list[0]["attempts"], 1);
    assert!(list[0]["lastError"].as_str().unwrap().contains("TSIG"));
    // Filters are checked.
    app.call(
        Method::GET,
        "/api/v1/jobs?state=bogus",
        Some(&app.admin_key),
        None,
    )
    .await
    .assert_error(400, "unknown job state");
    let viewer = app.key(Role::Viewer, None).await;
    app.call(Method::GET, "/api/v1/jobs", Some(&viewer), None)
        .await
        .assert_error(403, "admin");
}

/// A lego-style exec script that sets and clears TXT records in pebble-challtestsrv.
fn exec_script(dir: &std::path::Path, management: &str) -> std::path::PathBuf {
    let path = dir.join("challtestsrv.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nset -e\ncase \"$1\" in\n  present) curl -sf -X POST -d \"{{\\\"host\\\":\\\"$2\\\",\\\"value\\\":\\\"$3\\\"}}\" {management}/set-txt ;;\n  cleanup) curl -sf -X POST -d \"{{\\\"host\\\":\\\"$2\\\"}}\" {management}/clear-txt ;;\n  *) echo \"unknown action $1\" >&2; exit 2 ;;\nesac\necho \"$1 $2\" >> {log}\n",
            log = dir.join("calls.log").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

async fn exec_provider_publishes_through_a_script(db: Db) {
    let srv = ChallTestSrv::start().await;
    let dir = tempfile::tempdir().unwrap();
    let script = exec_script(dir.path(), &srv.management);
    let app = TestApp::spawn_dns(
        db,
        DnsSetup {
            resolver: Some(srv.dns),
            dns_exec: [("challtest".to_string(), script)].into_iter().collect(),
            ..DnsSetup::default()
        },
    )
    .await;
    // Only names configured on the server are accepted.
    put_validation(
        &app,
        json!({"dnsProvider": {"provider": "exec", "name": "other"}}),
    )
    .await
    .assert_error(400, "no DNS script named \"other\"");
    put_validation(
        &app,
        json!({"dnsProvider": {"provider": "exec", "name": "challtest"}, "propagationTimeoutSeconds": 10}),
    )
    .await
    .ok();
    let _jobs = run_scheduler(&app);
    let id = create(&app, &["exec.example.test"]).await.ok()["id"]
        .as_i64()
        .unwrap();
    wait_for(&app, id, "Active", |c| c["certificateStatus"] == "Active").await;
    // The record is removed after issuance, by the same job: wait for the cleanup call.
    let log = dir.path().join("calls.log");
    let mut calls = String::new();
    for _ in 0..100 {
        calls = std::fs::read_to_string(&log).unwrap_or_default();
        if calls.lines().count() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            "present _acme-challenge.exec.example.test.",
            "cleanup _acme-challenge.exec.example.test."
        ]
    );
}

async fn validations_are_reused_for_their_names_only(db: Db) {
    let (app, bind) = with_bind(db).await;
    put_validation(&app, rfc2136(&bind, &bind.key_secret))
        .await
        .ok();
    let jobs = run_scheduler(&app);
    let first = create(&app, &["reuse.example.test"]).await.ok()["id"]
        .as_i64()
        .unwrap();
    wait_for(&app, first, "Active", |c| {
        c["certificateStatus"] == "Active"
    })
    .await;
    jobs.abort();
    // Same name, within reuseDays: issued in the create request itself, no records.
    let again = create(&app, &["reuse.example.test"]).await;
    let again = again.ok();
    assert_eq!(again["certificateStatus"], "Active", "{again}");
    assert!(again["serialNumber"].is_string());
    assert_eq!(again["dnsRecords"], json!([]));
    // A wildcard needs its own validation, as does any new name.
    for names in [
        &["*.reuse.example.test"][..],
        &["reuse.example.test", "new.example.test"],
    ] {
        let c = create(&app, names).await;
        assert_eq!(c.ok()["certificateStatus"], "Pending", "{names:?}");
    }
    // Past reuseDays the validation is not reused.
    app.clock.set(app.clock_now() + time::Duration::days(31));
    assert_eq!(
        create(&app, &["reuse.example.test"]).await.ok()["certificateStatus"],
        "Pending"
    );
    // reuseDays 0 turns reuse off.
    app.clock.set(app.clock_now() - time::Duration::days(31));
    let mut off = rfc2136(&bind, &bind.key_secret);
    off["reuseDays"] = json!(0);
    put_validation(&app, off).await.ok();
    assert_eq!(
        create(&app, &["reuse.example.test"]).await.ok()["certificateStatus"],
        "Pending"
    );
}

async fn renewal_is_scheduled_and_runs(db: Db) {
    let (app, bind) = with_bind(db).await;
    put_validation(&app, rfc2136(&bind, &bind.key_secret))
        .await
        .ok();
    let _jobs = run_scheduler(&app);
    let old = create(&app, &["renew.example.test"]).await.ok()["id"]
        .as_i64()
        .unwrap();
    let issued = wait_for(&app, old, "Active", |c| c["certificateStatus"] == "Active").await;
    assert!(issued["renewAfter"].is_string());
    // 61 days later the renewal job is due: the validation (30 days) is stale, so the provider
    // publishes again and the successor is issued.
    app.clock.set(app.clock_now() + time::Duration::days(61));
    app.core.wake_scheduler();
    let renewed = wait_for(&app, old, "renewed", |c| c["renewedById"].is_i64()).await;
    let new = renewed["renewedById"].as_i64().unwrap();
    assert_eq!(renewed["renewAfter"], Value::Null);
    let successor = wait_for(&app, new, "Active", |c| c["certificateStatus"] == "Active").await;
    assert_eq!(successor["renewedFromId"], old);
    assert_eq!(successor["domainName"], "renew.example.test");
    assert!(successor["renewAfter"].is_string());
    // The old record stays.
    assert_eq!(get(&app, old).await["certificateStatus"], "Active");
}

async fn renew_now_brings_imported_certificates_under_management(db: Db) {
    let app = TestApp::spawn(db).await;
    let imported = app.import(certkeeper_testkit::leaves()[2].1).await;
    let id = imported.ok()["id"].as_i64().unwrap();
    let path = format!("{}/{id}/renew", app.certs_path(&app.project));
    let r = app
        .call(Method::POST, &path, Some(&app.admin_key), None)
        .await;
    let successor = r.ok().clone();
    assert_eq!(successor["certificateStatus"], "Pending");
    assert_eq!(successor["renewedFromId"], id);
    assert!(!successor["dnsRecords"].as_array().unwrap().is_empty());
    // Asking again answers the same pending renewal.
    let again = app
        .call(Method::POST, &path, Some(&app.admin_key), None)
        .await;
    assert_eq!(again.ok()["id"], successor["id"]);
    // Validated by hand, the successor is issued and the old one marked renewed.
    app.publish(&app.dns, &successor).await;
    let sid = successor["id"].as_i64().unwrap();
    let v = app
        .call(
            Method::PUT,
            &format!("{}/{sid}/validate", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(v.ok()["certificateStatus"], "Active");
    assert_eq!(get(&app, id).await["renewedById"], sid);
    app.call(Method::POST, &path, Some(&app.admin_key), None)
        .await
        .assert_error(409, "already renewed");
    let viewer = app.key(Role::Viewer, None).await;
    app.call(Method::POST, &path, Some(&viewer), None)
        .await
        .assert_error(403, "read-only");
}

async fn settings_are_checked_and_hide_secrets(db: Db) {
    let app = TestApp::spawn(db).await;
    let v = app
        .call(
            Method::GET,
            &format!("/api/v1/projects/{}/validation", app.project.id),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(
        v.ok(),
        &json!({"dnsProvider": {"provider": "manual"}, "reuseDays": 30, "propagationTimeoutSeconds": 120})
    );
    for (body, needle) in [
        (
            json!({"dnsProvider": {"provider": "nope"}}),
            "unknown variant",
        ),
        (
            json!({"dnsProvider": {"provider": "rfc2136", "server": "nowhere", "zone": "example.test", "tsigKeyName": "k", "tsigAlgorithm": "hmac-sha256", "tsigSecret": "c2VjcmV0"}}),
            "IP:PORT",
        ),
        (
            json!({"dnsProvider": {"provider": "rfc2136", "server": "127.0.0.1:53", "zone": "example.test", "tsigKeyName": "k", "tsigAlgorithm": "hmac-md5", "tsigSecret": "c2VjcmV0"}}),
            "unknown variant",
        ),
        (
            json!({"dnsProvider": {"provider": "rfc2136", "server": "127.0.0.1:53", "zone": "example.test", "tsigKeyName": "k", "tsigAlgorithm": "hmac-sha256"}}),
            "tsigSecret is required",
        ),
        (json!({"reuseDays": 1000}), "reuseDays"),
        (json!({"reuseDays": -1}), "reuseDays"),
    ] {
        put_validation(&app, body.clone())
            .await
            .assert_error(400, needle);
    }
    let acme_dns = json!({"dnsProvider": {"provider": "acme-dns", "url": "https://acme-dns.example", "username": "u", "password": "hunter2", "subdomain": "s"}});
    let shown = put_validation(&app, acme_dns).await;
    assert!(!shown.text.contains("hunter2"), "{}", shown.text);
    let renewal = format!("/api/v1/projects/{}/renewal", app.project.id);
    let r = app
        .call(Method::GET, &renewal, Some(&app.admin_key), None)
        .await;
    assert_eq!(r.ok()["mode"], "auto");
    app.call(
        Method::PUT,
        &renewal,
        Some(&app.admin_key),
        Some(json!({"mode": "auto", "renewAtFraction": 1.5})),
    )
    .await
    .assert_error(400, "renewAtFraction");
    let ok = app
        .call(
            Method::PUT,
            &renewal,
            Some(&app.admin_key),
            Some(json!({"mode": "off"})),
        )
        .await;
    assert_eq!(ok.ok()["mode"], "off");
    let operator = app.key(Role::Operator, None).await;
    app.call(Method::GET, &renewal, Some(&operator), None)
        .await
        .assert_error(403, "admin");
}

async fn expired_orders_sweep_is_a_job(db: Db) {
    let app = TestApp::spawn(db).await;
    let id = create(&app, &["sweep.example.test"]).await.ok()["id"]
        .as_i64()
        .unwrap();
    let scheduler = Scheduler::new(
        app.core.clone(),
        SchedulerConfig::new(Duration::from_secs(1)),
    );
    scheduler.install().await.unwrap();
    // Installing twice (a second node starting) keeps one job.
    scheduler.install().await.unwrap();
    let listed = app
        .call(
            Method::GET,
            "/api/v1/jobs?kind=expire-orders",
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(listed.ok().as_array().unwrap().len(), 1);
    app.clock.set(app.clock_now() + time::Duration::days(8));
    // The sweep, the notify job and the CRL's, all recurring.
    assert_eq!(scheduler.tick().await.unwrap(), 3);
    assert_eq!(get(&app, id).await["certificateStatus"], "Rejected");
    // The sweep comes back a minute later, not before.
    assert_eq!(scheduler.tick().await.unwrap(), 0);
    let listed = app
        .call(
            Method::GET,
            "/api/v1/jobs?kind=expire-orders",
            Some(&app.admin_key),
            None,
        )
        .await;
    let due = time::OffsetDateTime::parse(
        listed.ok()[0]["dueAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    // dueAt is shown to the second.
    assert!((59..=60).contains(&(due - app.clock_now()).whole_seconds()));
    app.clock.set(app.clock_now() + time::Duration::seconds(61));
    // The sweep, notify and publish-crl each come back after their minute.
    assert_eq!(scheduler.tick().await.unwrap(), 3);
}

/// Node A claims an issue job whose script hangs, and stalls (its task is dropped without
/// finishing or renewing the lease, as a killed process would). Node B takes the job over once
/// the lease lapses and issues; A's outcome, had it come, is refused by the token.
async fn a_stalled_node_loses_its_job_to_another(db: Db) {
    let srv = ChallTestSrv::start().await;
    let dir = tempfile::tempdir().unwrap();
    let inner = exec_script(dir.path(), &srv.management);
    // The first `present` hangs; later calls go through.
    let script = dir.path().join("hang-once.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ \"$1\" = present ] && [ ! -e {flag} ]; then touch {flag}; sleep 30; fi\nexec {inner} \"$@\"\n",
            flag = dir.path().join("hung").display(),
            inner = inner.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = TestApp::spawn_dns(
        db,
        DnsSetup {
            resolver: Some(srv.dns),
            dns_exec: [("challtest".to_string(), script)].into_iter().collect(),
            ..DnsSetup::default()
        },
    )
    .await;
    put_validation(
        &app,
        json!({"dnsProvider": {"provider": "exec", "name": "challtest"}, "propagationTimeoutSeconds": 10}),
    )
    .await
    .ok();
    let id = create(&app, &["lease.example.test"]).await.ok()["id"]
        .as_i64()
        .unwrap();
    let short = |node: &str| SchedulerConfig {
        node: node.into(),
        lease: time::Duration::seconds(2),
        poll: Duration::from_millis(200),
    };
    let a = Scheduler::new(app.core.clone(), short("node-a"));
    let stalled = tokio::spawn(async move { a.tick().await });
    // Wait until A holds the job and is stuck in the script.
    for _ in 0..100 {
        if dir.path().join("hung").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dir.path().join("hung").exists(), "node A never ran the job");
    stalled.abort();
    let b = Scheduler::new(app.second_node().await, short("node-b"));
    // Before the lease lapses B finds nothing; after, it takes the job and issues.
    assert_eq!(b.tick().await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(b.tick().await.unwrap(), 1);
    assert_eq!(get(&app, id).await["certificateStatus"], "Active");
    let jobs = app
        .call(
            Method::GET,
            "/api/v1/jobs?kind=issue",
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(jobs.ok(), &json!([]));
}

/// Two nodes claim from one jobs table at once, in small batches: every job is claimed by
/// exactly one of them, and an outcome under a stale token is refused.
async fn every_job_runs_once_across_two_nodes(db: Db) {
    use certkeeper_domain::job::JobKind;
    use certkeeper_store::JobOutcome;
    let app = TestApp::spawn(db).await;
    let other = app.second_node().await;
    let now = app.clock_now();
    for n in 0..200 {
        app.core
            .store()
            .schedule_job(JobKind::Renew, &format!("{}", 1_000_000 + n), now, now)
            .await
            .unwrap();
    }
    let drain = |store: certkeeper_store::Store, node: &'static str| async move {
        let mut mine = Vec::new();
        loop {
            let jobs = store
                .claim_jobs(node, now, time::Duration::seconds(60), 7)
                .await
                .unwrap();
            if jobs.is_empty() {
                return mine;
            }
            for j in jobs {
                assert!(store.finish_job(&j, JobOutcome::Done, now).await.unwrap());
                mine.push(j.subject);
            }
        }
    };
    let (a, b) = tokio::join!(
        drain(app.core.store().clone(), "node-a"),
        drain(other.store().clone(), "node-b")
    );
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, 200, "a job ran twice or not at all");
    assert_eq!(all.len(), 200);
    // Fencing: a claim taken over (its lease lapsed) can no longer finish.
    app.core
        .store()
        .schedule_job(JobKind::Renew, "fenced", now, now)
        .await
        .unwrap();
    let first = app
        .core
        .store()
        .claim_jobs("node-a", now, time::Duration::milliseconds(1), 1)
        .await
        .unwrap()
        .remove(0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = other
        .store()
        .claim_jobs("node-b", now, time::Duration::seconds(60), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(first.id, second.id);
    assert!(second.token > first.token);
    assert!(
        !app.core
            .store()
            .extend_lease(&first, time::Duration::seconds(60))
            .await
            .unwrap()
    );
    assert!(
        !app.core
            .store()
            .finish_job(&first, JobOutcome::Done, now)
            .await
            .unwrap()
    );
    assert!(
        other
            .store()
            .finish_job(&second, JobOutcome::Done, now)
            .await
            .unwrap()
    );
}
