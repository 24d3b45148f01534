//! Renewals as the rest of certkeeper sees them: the reports that leave renewed certificates
//! out, and the renew job that keeps looking until its successor is issued.

use std::time::Duration;

use certkeeper_core::scheduler::{Scheduler, SchedulerConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::lifecycle::{create, put_validation};
use crate::support::{Db, TestApp, both_databases};

both_databases!(
    reports_leave_renewed_certificates_out,
    a_renewal_that_ends_without_a_certificate_is_opened_again,
);

/// Keyfactor's DuplicationField leaves renewed certificates out of a collection's issuance
/// report; DigiCert's expiring report counts a predecessor only until its successor issues.
async fn reports_leave_renewed_certificates_out(db: Db) {
    let app = TestApp::spawn(db).await;
    let make = |name: &str, dup: i64| json!({"Name": name, "Query": "CN -endswith \"rep.example.test\"", "DuplicationField": dup});
    let mut ids = Vec::new();
    for (name, dup) in [("all", 0), ("latest", 1)] {
        let r = app
            .call(
                Method::POST,
                "/CertificateCollections",
                Some(&app.admin_key),
                Some(make(name, dup)),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["DuplicationField"], dup);
        ids.push(r.body["Id"].as_i64().unwrap());
    }
    app.call(
        Method::POST,
        "/CertificateCollections",
        Some(&app.admin_key),
        Some(make("bad", 9)),
    )
    .await
    .assert_kf_error(400, "DuplicationField");
    let old = create(&app, &["rep.example.test"]).await.ok().clone();
    app.publish(&app.dns, &old).await;
    let id = old["id"].as_i64().unwrap();
    app.call(
        Method::PUT,
        &format!("{}/{id}/validate", app.certs_path(&app.project)),
        Some(&app.admin_key),
        None,
    )
    .await
    .ok();
    assert_eq!(expiring_count(&app).await, 1);
    // Renewed at once (the name's validation is reused).
    let successor = app
        .call(
            Method::POST,
            &format!("{}/{id}/renew", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(successor.ok()["certificateStatus"], "Active");
    assert_eq!(issued_count(&app, ids[0]).await, 2);
    assert_eq!(issued_count(&app, ids[1]).await, 1);
    assert_eq!(
        expiring_count(&app).await,
        1,
        "the predecessor left the expiring report"
    );
    // Deleting the renewed predecessor does not count it out a second time.
    app.call(
        Method::DELETE,
        &format!("{}/{id}", app.certs_path(&app.project)),
        Some(&app.admin_key),
        None,
    )
    .await;
    assert_eq!(expiring_count(&app).await, 1);
}

async fn expiring_count(app: &TestApp) -> i64 {
    let r = app
        .call(
            Method::GET,
            "/services/v2/report/order/expiring",
            Some(&app.admin_key),
            None,
        )
        .await;
    r.body["expiring_orders"][0]["order_count"]
        .as_i64()
        .unwrap()
}

async fn issued_count(app: &TestApp, collection: i64) -> i64 {
    let r = app
        .call(
            Method::GET,
            &format!("/Analytics/Certificates/Issuance?CollectionId={collection}&TotalPeriods=1"),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body[0]["Count"].as_i64().unwrap()
}

/// With the manual provider the renew job opens the successor and keeps looking: once that
/// order ends without a certificate (here: canceled), the next look opens another.
async fn a_renewal_that_ends_without_a_certificate_is_opened_again(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut off = json!({"reuseDays": 0});
    off["dnsProvider"] = json!({"provider": "manual"});
    put_validation(&app, off).await.ok();
    let c = create(&app, &["again.example.test"]).await.ok().clone();
    app.publish(&app.dns, &c).await;
    let id = c["id"].as_i64().unwrap();
    let path = format!("{}/{id}/validate", app.certs_path(&app.project));
    app.call(Method::PUT, &path, Some(&app.admin_key), None)
        .await
        .ok();
    let s = Scheduler::new(
        app.core.clone(),
        SchedulerConfig::new(Duration::from_secs(1)),
    );
    app.clock.set(app.clock_now() + time::Duration::days(61));
    s.tick().await.unwrap();
    let jobs = app
        .call(
            Method::GET,
            "/api/v1/jobs?kind=renew",
            Some(&app.admin_key),
            None,
        )
        .await;
    let jobs = jobs.ok().as_array().unwrap().clone();
    assert_eq!(
        jobs.len(),
        1,
        "the renew job stays while its successor is pending: {jobs:?}"
    );
    let list = app
        .call(
            Method::GET,
            &app.certs_path(&app.project),
            Some(&app.admin_key),
            None,
        )
        .await;
    let first: Vec<i64> = list
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["renewedFromId"] == id)
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(first.len(), 1);
    let del = app
        .call(
            Method::DELETE,
            &format!("{}/{}", app.certs_path(&app.project), first[0]),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(del.ok()["certificateStatus"], "Canceled");
    app.clock.set(app.clock_now() + time::Duration::hours(13));
    s.tick().await.unwrap();
    let list = app
        .call(
            Method::GET,
            &app.certs_path(&app.project),
            Some(&app.admin_key),
            None,
        )
        .await;
    let pending: Vec<&Value> = list
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["renewedFromId"] == id && c["certificateStatus"] == "Pending")
        .collect();
    assert_eq!(pending.len(), 1, "a new successor was opened");
    assert_ne!(pending[0]["id"], first[0]);
}
