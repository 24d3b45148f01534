//! Notifications, delivered to independent receivers: webhooks verified by the
//! `standardwebhooks` package, e-mail through an aiosmtpd server.

use std::time::Duration;

use certkeeper_core::scheduler::{Scheduler, SchedulerConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::receivers::{SmtpSink, WebhookReceiver};
use crate::support::{Db, DnsSetup, Resp, TestApp, both_databases};

both_databases!(
    webhooks_are_signed_and_sent_once_per_threshold,
    a_410_disables_the_rule,
    expiring_certificates_arrive_as_one_email_digest,
    rules_are_checked,
    a_sealed_channel_is_bound_to_its_rule,
);

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn rules_path(app: &TestApp) -> String {
    format!("/api/v1/projects/{}/notifications", app.project.id)
}

async fn post_rule(app: &TestApp, body: Value) -> Resp {
    app.call(
        Method::POST,
        &rules_path(app),
        Some(&app.admin_key),
        Some(body),
    )
    .await
}

/// Creates, publishes and validates a certificate for `name`; returns its id.
async fn issue(app: &TestApp, name: &str) -> i64 {
    let c = app
        .call(
            Method::POST,
            &app.certs_path(&app.project),
            Some(&app.admin_key),
            Some(json!({"domainName": name, "scopeId": 0})),
        )
        .await;
    let c = c.ok().clone();
    let id = c["id"].as_i64().unwrap();
    if c["certificateStatus"] != "Active" {
        app.publish(&app.dns, &c).await;
        let v = app
            .call(
                Method::PUT,
                &format!("{}/{id}/validate", app.certs_path(&app.project)),
                Some(&app.admin_key),
                None,
            )
            .await;
        assert_eq!(v.ok()["certificateStatus"], "Active");
    }
    id
}

fn scheduler(app: &TestApp, core: certkeeper_core::Core) -> Scheduler {
    let _ = app;
    Scheduler::new(core, SchedulerConfig::new(Duration::from_secs(1)))
}

/// Ticks until no job is due (notify, then the deliveries it enqueued).
async fn drain(s: &Scheduler) {
    for _ in 0..10 {
        if s.tick().await.unwrap() == 0 {
            return;
        }
    }
}

async fn webhooks_are_signed_and_sent_once_per_threshold(db: Db) {
    let app = TestApp::spawn(db).await;
    let receiver = WebhookReceiver::start(SECRET).await;
    let rule = post_rule(
        &app,
        json!({"name": "ops", "events": ["certificate.issued", "certificate.expiring"],
               "channel": {"type": "webhook", "url": format!("{}/hook", receiver.base), "secret": SECRET}}),
    )
    .await;
    let rule = rule.ok().clone();
    assert_eq!(rule["expiringDays"], json!([30, 14, 7, 1, 0]));
    assert!(rule["channel"].get("secret").is_none(), "{rule}");
    let a = scheduler(&app, app.core.clone());
    let b = scheduler(&app, app.second_node().await);
    a.install().await.unwrap();
    let id = issue(&app, "hook.example.test").await;
    // Two nodes tick together: the event is delivered once.
    tokio::join!(drain(&a), drain(&b));
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["verified"], true, "{got:?}");
    let body: Value = serde_json::from_str(got[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["type"], "certificate.issued");
    assert_eq!(body["data"]["certificate"]["id"], id);
    assert_eq!(body["data"]["certificate"]["certificateStatus"], "Active");
    assert_eq!(body["data"]["projectId"], app.project.id.to_string());
    assert!(body["timestamp"].is_string());
    // 80 days on, 10 days are left: the nearest crossed threshold is 14 (30 is only marked).
    app.clock.set(app.clock_now() + time::Duration::days(80));
    tokio::join!(drain(&a), drain(&b));
    drain(&a).await;
    let got = receiver.received();
    assert_eq!(got.len(), 2, "{got:?}");
    let body: Value = serde_json::from_str(got[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["type"], "certificate.expiring");
    assert_eq!(body["data"]["threshold"], 14);
    assert_eq!(body["data"]["daysLeft"], 10);
    assert_eq!(got[1]["verified"], true);
    // Five days later, threshold 7; then nothing more until the next one.
    app.clock.set(app.clock_now() + time::Duration::days(5));
    drain(&a).await;
    drain(&a).await;
    let got = receiver.received();
    assert_eq!(got.len(), 3, "{got:?}");
    let body: Value = serde_json::from_str(got[2]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["threshold"], 7);
    // The delivery log.
    let log = app
        .call(
            Method::GET,
            &format!("{}/{}/deliveries", rules_path(&app), rule["id"]),
            Some(&app.admin_key),
            None,
        )
        .await;
    let log = log.ok().as_array().unwrap().clone();
    assert_eq!(log.len(), 3);
    assert!(
        log.iter()
            .all(|d| d["state"] == "delivered" && d["attempts"] == 1)
    );
    let ids: Vec<&str> = got.iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert_eq!(log[0]["messageId"], ids[2]);
}

async fn a_410_disables_the_rule(db: Db) {
    let app = TestApp::spawn(db).await;
    let receiver = WebhookReceiver::start(SECRET).await;
    let created = post_rule(
        &app,
        json!({"name": "gone", "events": ["certificate.issued"],
               "channel": {"type": "webhook", "url": format!("{}/gone", receiver.base), "secret": SECRET}}),
    )
    .await;
    let rule = created.ok()["id"].as_i64().unwrap();
    let s = scheduler(&app, app.core.clone());
    s.install().await.unwrap();
    issue(&app, "gone.example.test").await;
    drain(&s).await;
    assert_eq!(receiver.received().len(), 1);
    let shown = app
        .call(
            Method::GET,
            &format!("{}/{rule}", rules_path(&app)),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert!(
        shown.ok()["disabledReason"]
            .as_str()
            .unwrap()
            .contains("410"),
        "{}",
        shown.text
    );
    // A disabled rule sends nothing more.
    issue(&app, "gone2.example.test").await;
    drain(&s).await;
    assert_eq!(receiver.received().len(), 1);
}

async fn expiring_certificates_arrive_as_one_email_digest(db: Db) {
    let smtp = SmtpSink::start().await;
    let app = TestApp::spawn_dns(
        db,
        DnsSetup {
            smtp: Some(smtp.addr),
            ..DnsSetup::default()
        },
    )
    .await;
    post_rule(
        &app,
        json!({"name": "mail", "events": ["certificate.expiring"], "expiringDays": [14],
               "channel": {"type": "email", "to": ["ops@example.test"]}}),
    )
    .await
    .ok();
    let s = scheduler(&app, app.core.clone());
    s.install().await.unwrap();
    issue(&app, "one.example.test").await;
    issue(&app, "two.example.test").await;
    drain(&s).await;
    assert!(smtp.messages().is_empty());
    app.clock.set(app.clock_now() + time::Duration::days(80));
    drain(&s).await;
    drain(&s).await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "one digest per rule and run");
    let m = &messages[0];
    assert!(m.contains("To: ops@example.test"), "{m}");
    assert!(
        m.contains("one.example.test") && m.contains("two.example.test"),
        "{m}"
    );
    assert!(m.contains("text/plain") && m.contains("text/html"), "{m}");
}

async fn rules_are_checked(db: Db) {
    let app = TestApp::spawn(db).await;
    for (body, needle) in [
        (
            json!({"name": "x", "events": [], "channel": {"type": "webhook", "url": "http://127.0.0.1:1/"}}),
            "at least one event",
        ),
        (
            json!({"name": "x", "events": ["certificate.nope"], "channel": {"type": "webhook", "url": "http://127.0.0.1:1/"}}),
            "unknown event",
        ),
        (
            json!({"name": "x", "events": ["certificate.issued"], "channel": {"type": "webhook", "url": "ftp://x/"}}),
            "http",
        ),
        (
            json!({"name": "x", "events": ["certificate.issued"], "channel": {"type": "webhook", "url": "http://127.0.0.1:1/", "secret": "nope"}}),
            "whsec_",
        ),
        (
            json!({"name": "x", "events": ["certificate.issued"], "channel": {"type": "email", "to": ["ops@example.test"]}}),
            "SMTP",
        ),
        (
            json!({"name": "x", "events": ["certificate.expiring"], "expiringDays": [5000], "channel": {"type": "webhook", "url": "http://127.0.0.1:1/"}}),
            "expiringDays",
        ),
        (
            json!({"name": "x", "events": ["certificate.issued"], "collectionId": 999, "channel": {"type": "webhook", "url": "http://127.0.0.1:1/"}}),
            "no such collection",
        ),
        (
            json!({"name": "x", "events": ["certificate.issued"], "channel": {"type": "pager"}}),
            "channel",
        ),
    ] {
        post_rule(&app, body).await.assert_error(400, needle);
    }
    // A generated secret is shown once.
    let made = post_rule(
        &app,
        json!({"name": "gen", "events": ["certificate.issued"], "channel": {"type": "webhook", "url": "http://127.0.0.1:1/"}}),
    )
    .await;
    let made = made.ok().clone();
    assert!(
        made["channel"]["secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    let id = made["id"].as_i64().unwrap();
    let listed = app
        .call(Method::GET, &rules_path(&app), Some(&app.admin_key), None)
        .await;
    assert!(!listed.text.contains("whsec_"), "{}", listed.text);
    post_rule(
        &app,
        json!({"name": "gen", "events": ["certificate.issued"], "channel": {"type": "webhook", "url": "http://127.0.0.1:1/"}}),
    )
    .await
    .assert_error(409, "already exists");
    let path = format!("{}/{id}", rules_path(&app));
    let put = app
        .call(
            Method::PUT,
            &path,
            Some(&app.admin_key),
            Some(json!({"name": "renamed", "events": ["certificate.renewed"], "channel": {"type": "webhook", "url": "http://127.0.0.1:2/"}})),
        )
        .await;
    assert_eq!(put.ok()["name"], "renamed");
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&app.admin_key), None)
            .await
            .status,
        204
    );
    app.call(Method::GET, &path, Some(&app.admin_key), None)
        .await
        .assert_error(404, "not found");
    app.call(
        Method::GET,
        &format!("{}/abc", rules_path(&app)),
        Some(&app.admin_key),
        None,
    )
    .await
    .assert_error(400, "ruleId");
}

/// A rule's sealed channel (its webhook secret) opens only on its own rule: copied onto
/// another rule of the same project it is refused. A channel an earlier version sealed
/// bound to the project still opens, and `rebind_channels` re-seals it bound to its rule.
async fn a_sealed_channel_is_bound_to_its_rule(db: Db) {
    let app = TestApp::spawn(db).await;
    let rule = |name: &str| {
        json!({"name": name, "events": ["certificate.issued"],
            "channel": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET}})
    };
    let a = post_rule(&app, rule("a")).await.ok()["id"]
        .as_i64()
        .unwrap();
    let b = post_rule(&app, rule("b")).await.ok()["id"]
        .as_i64()
        .unwrap();
    // A PUT without a secret keeps the stored one, so it has to open the channel.
    let keep_secret = |name: &str| {
        json!({"name": name, "events": ["certificate.issued"],
            "channel": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}})
    };
    let put = |id: i64, body: Value| {
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                &format!("{}/{id}", rules_path(app)),
                Some(&app.admin_key),
                Some(body),
            )
            .await
        }
    };
    assert_eq!(put(b, keep_secret("b")).await.status, 200);

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(app.database_url()).await.unwrap();
    let sealed_of = |id: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, Vec<u8>>(
                "SELECT channel_sealed FROM notification_rules WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let write = |id: i64, sealed: Vec<u8>| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE notification_rules SET channel_sealed = $1 WHERE id = $2")
                .bind(sealed)
                .bind(id)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    let original_b = sealed_of(b).await;
    write(b, sealed_of(a).await).await;
    let moved = put(b, keep_secret("b")).await;
    assert_eq!(moved.status, 500, "{}", moved.text);
    assert!(!moved.text.contains(SECRET));
    write(b, original_b).await;
    assert_eq!(put(b, keep_secret("b")).await.status, 200);

    // Rule a's channel as an earlier version sealed it: bound to the project.
    let store = certkeeper_store::Store::connect(app.database_url())
        .await
        .unwrap();
    let key = certkeeper_core::masterkey::load_or_create(&store, &app.key_file())
        .await
        .unwrap();
    let clear = key
        .open(
            format!("certkeeper:notification-rule:{a}:channel").as_bytes(),
            &sealed_of(a).await,
        )
        .unwrap();
    let legacy = key
        .seal(
            format!(
                "certkeeper:notification-channel:{}:channel",
                app.project.container_id.0
            )
            .as_bytes(),
            &clear,
        )
        .unwrap();
    write(a, legacy.clone()).await;
    assert_eq!(
        put(a, keep_secret("a")).await.status,
        200,
        "a legacy row opens"
    );
    write(a, legacy).await;
    assert_eq!(app.core.rebind_channels().await.unwrap(), 1);
    assert_eq!(app.core.rebind_channels().await.unwrap(), 0);
    key.open(
        format!("certkeeper:notification-rule:{a}:channel").as_bytes(),
        &sealed_of(a).await,
    )
    .expect("re-sealed bound to rule a");
}
