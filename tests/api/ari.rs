//! Renewal through an ACME CA that offers ARI (RFC 9773). The CA is another certkeeper (the
//! real binary over its built-in TLS), whose ACME server answers `renewalInfo` and honours
//! `replaces`; Debian's pebble (2.4) has neither.
//!
//! The certificate's renewal job asks for the CA's window within the half day, waits as
//! long as the window and `Retry-After` say, renews inside the window, and names the old
//! certificate in `replaces`, so the CA links the two in its own inventory.

use std::time::Duration;

use certkeeper_core::scheduler::{Scheduler, SchedulerConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::acme_clients::AcmeCertkeeper;
use crate::support::{Db, IssuerSetup, TestApp};

/// Publishes a certificate's TXT records where both sides look: this server's DNS (which
/// checks them before telling the CA) and the CA's.
async fn publish_both(app: &TestApp, ca: &AcmeCertkeeper, cert: &Value) {
    app.publish(&app.dns, cert).await;
    for r in cert["dnsRecords"].as_array().unwrap() {
        let host = format!("{}.", r["key"].as_str().unwrap());
        reqwest::Client::new()
            .post(format!("{}/set-txt", ca.dns.management))
            .json(&json!({"host": host, "value": r["value"]}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
}

async fn renew_job(app: &TestApp, id: i64) -> Option<Value> {
    app.jobs("renew")
        .await
        .into_iter()
        .find(|j| j["subject"].as_str() == Some(id.to_string().as_str()))
}

async fn certificate(app: &TestApp, id: i64) -> Value {
    app.call(
        Method::GET,
        &format!("{}/{id}", app.certs_path(&app.project)),
        Some(&app.admin_key),
        None,
    )
    .await
    .ok()
    .clone()
}

/// When a job is due, from the jobs list.
fn due_at(job: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        job["dueAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

async fn issue(app: &TestApp, ca: &AcmeCertkeeper, cert: Value) -> Value {
    publish_both(app, ca, &cert).await;
    let id = cert["id"].as_i64().unwrap();
    let done = app
        .call(
            Method::PUT,
            &format!("{}/{id}/validate", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    let c = done.ok().clone();
    assert_eq!(c["certificateStatus"], "Active", "{c}");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_follows_the_cas_window_and_names_what_it_replaces() {
    let ca = AcmeCertkeeper::start(Db::Sqlite).await;
    let app = TestApp::spawn_with(
        Db::Sqlite,
        IssuerSetup::AcmeAt {
            directory: ca.directory.clone(),
            root: ca.root.clone(),
        },
    )
    .await;
    let created = app
        .call(
            Method::POST,
            &app.certs_path(&app.project),
            Some(&app.admin_key),
            Some(json!({"domainName": "ari.example.test", "scopeId": 0})),
        )
        .await
        .ok()
        .clone();
    let first = issue(&app, &ca, created).await;
    let id = first["id"].as_i64().unwrap();
    let issued_at = app.clock_now();

    // The first look at the CA's window is due within the half day (the lifetime's 2/3 would
    // be two months away).
    let job = renew_job(&app, id).await.expect("a renew job");
    let due = due_at(&job);
    assert!(
        due <= issued_at + time::Duration::hours(12) + time::Duration::seconds(1),
        "{job}"
    );

    // Then: the CA's window (days 70–80 of 90) is far off, so the job waits as the CA's
    // Retry-After (six hours) says, and renews nothing.
    let scheduler = Scheduler::new(
        app.core.clone(),
        SchedulerConfig::new(Duration::from_millis(200)),
    );
    app.clock.set(due + time::Duration::seconds(1));
    scheduler.tick().await.unwrap();
    let job = renew_job(&app, id).await.expect("still a renew job");
    let next = due_at(&job);
    let wait = next - app.clock_now();
    assert!(
        wait > time::Duration::hours(5) && wait <= time::Duration::hours(6),
        "{job}"
    );
    let still = certificate(&app, id).await;
    assert_eq!(still["renewedById"], Value::Null, "{still}");

    // Past the window's end: the job renews now, and the order names the certificate it
    // replaces.
    app.clock.set(issued_at + time::Duration::days(81));
    scheduler.tick().await.unwrap();
    let successor = app
        .call(
            Method::GET,
            &app.certs_path(&app.project),
            Some(&app.admin_key),
            None,
        )
        .await
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["renewedFromId"] == id)
        .map(|c| c["id"].as_i64().unwrap())
        .expect("a successor");
    let successor = certificate(&app, successor).await;
    assert_eq!(successor["certificateStatus"], "Pending", "{successor}");
    let renewed = issue(&app, &ca, successor).await;
    assert_ne!(renewed["serialNumber"], first["serialNumber"]);

    // The CA saw `replaces`: its inventory links the new certificate to the old one.
    let at_ca = ca.inventory().await;
    assert_eq!(at_ca.len(), 2, "{at_ca:?}");
    let (old_at_ca, new_at_ca) = (&at_ca[0], &at_ca[1]);
    assert_eq!(new_at_ca["renewedFromId"], old_at_ca["id"], "{at_ca:?}");
    assert_eq!(old_at_ca["renewedById"], new_at_ca["id"], "{at_ca:?}");
}
