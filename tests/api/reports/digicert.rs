//! DigiCert: the expiring report's buckets (Mountain Time, DST) and the status-change list.

use certkeeper_domain::apikey::Role;
use reqwest::Method;
use serde_json::{Value, json};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::import_dated;
use crate::support::{Db, TestApp, both_databases};

async fn expiring_buckets(db: Db) {
    let app = TestApp::spawn(db).await;
    // 2026-03-01 12:00 MST; daylight saving starts 2026-03-08, so later windows are MDT.
    let now = datetime!(2026-03-01 19:00 UTC);
    app.clock.set(now);
    let other = app.new_project("other").await;
    let nb = now - Duration::days(400);
    // notAfter in Mountain Time, and the bucket it must land in.
    let cases: &[(&str, OffsetDateTime, Option<i32>)] = &[
        (
            "d91",
            datetime!(2026-06-01 00:00 UTC) + Duration::hours(6),
            None,
        ), // May 31 18:00 MDT: d=91
        ("d90", datetime!(2026-05-31 05:59:59 UTC), Some(90)), // May 30 23:59:59 MDT
        ("d60", datetime!(2026-04-30 06:00 UTC), Some(90)),    // Apr 30 00:00 MDT
        ("d59", datetime!(2026-04-30 05:59:59 UTC), Some(60)),
        ("d30", datetime!(2026-03-31 06:30 UTC), Some(60)), // Mar 31 00:30 MDT
        ("d29", datetime!(2026-03-31 05:30 UTC), Some(30)), // Mar 30 23:30 MDT
        ("d1", datetime!(2026-03-02 07:00 UTC), Some(30)),  // Mar 2 00:00 MST
        ("d0", datetime!(2026-03-02 06:59:59 UTC), Some(-7)), // today, later
        ("dm7", datetime!(2026-02-22 07:00 UTC), Some(-7)), // Feb 22 00:00 MST
        ("dm8", datetime!(2026-02-22 06:59:59 UTC), None),
    ];
    for (name, na, _) in cases {
        import_dated(&app, &app.project, &format!("{name}.exp.test"), nb, *na).await;
    }
    import_dated(
        &app,
        &other,
        "other.exp.test",
        nb,
        datetime!(2026-03-10 12:00 UTC),
    )
    .await;
    // A created (pending) certificate has no expiry: not counted.
    let created = app
        .call(
            Method::POST,
            &app.certs_path(&app.project),
            Some(&app.admin_key),
            Some(json!({"domainName": "pending.example.test", "scopeId": 0})),
        )
        .await;
    created.ok();
    let want = |container_only: bool| {
        let mut m = std::collections::BTreeMap::from([(90, 0), (60, 0), (30, 0), (-7, 0)]);
        for (_, _, b) in cases {
            if let Some(b) = b {
                *m.get_mut(b).unwrap() += 1;
            }
        }
        if !container_only {
            *m.get_mut(&30).unwrap() += 1;
        }
        json!({"expiring_orders": [
            {"days_expiring": 90, "order_count": m[&90]},
            {"days_expiring": 60, "order_count": m[&60]},
            {"days_expiring": 30, "order_count": m[&30]},
            {"days_expiring": -7, "order_count": m[&-7]},
        ]})
    };
    let get = |q: String, key: String| {
        let app = &app;
        async move {
            app.call(
                Method::GET,
                &format!("/services/v2/report/order/expiring{q}"),
                Some(&key),
                None,
            )
            .await
        }
    };
    let k = app.admin_key.clone();
    let r = get(String::new(), k.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, want(false));
    let r = get(
        format!("?container_id={}", app.project.container_id),
        k.clone(),
    )
    .await;
    assert_eq!(r.body, want(true));
    let r = get("?include_expiring_certs=true".into(), k.clone()).await;
    for item in r.body["expiring_orders"].as_array().unwrap() {
        assert_eq!(item["count"], item["order_count"]);
    }
    get("?container_id=9999".into(), k.clone())
        .await
        .assert_dc_error(404, "not_found|container");
    get("?container_id=abc".into(), k.clone())
        .await
        .assert_dc_error(400, "invalid_param|container_id");
    get("?include_expiring_certs=maybe".into(), k.clone())
        .await
        .assert_dc_error(400, "invalid_param|include_expiring_certs");
    // A key scoped to one project: its own container (also by default), never another's.
    let scoped = app.key(Role::Viewer, Some(&app.project)).await;
    assert_eq!(get(String::new(), scoped.clone()).await.body, want(true));
    get(
        format!("?container_id={}", other.container_id),
        scoped.clone(),
    )
    .await
    .assert_dc_error(403, "access_denied|missing_permission");
    let r = app
        .call(
            Method::GET,
            "/services/v2/report/order/expiring",
            None,
            None,
        )
        .await;
    r.assert_dc_error(401, "invalid_api_key");
    let r = app
        .call(Method::GET, "/services/v2/nope", Some(&k), None)
        .await;
    r.assert_dc_error(404, "not_found|route");
}

/// Creates a certificate at `at`; returns (certificate id, its result).
async fn create_at(app: &TestApp, name: &str, at: OffsetDateTime) -> (i64, Value) {
    app.clock.set(at);
    let r = app
        .call(
            Method::POST,
            &app.certs_path(&app.project),
            Some(&app.admin_key),
            Some(json!({"domainName": name, "scopeId": 0})),
        )
        .await;
    let result = r.ok().clone();
    (result["id"].as_i64().unwrap(), result)
}

async fn status_changes(db: Db) {
    let app = TestApp::spawn(db).await;
    let k = app.admin_key.clone();
    let t0 = datetime!(2026-03-08 08:00 UTC); // 01:00 MST
    // a: pending at t0, issued at t1 = 01:59:59 MST (08:59:59 UTC).
    let (a, ra) = create_at(&app, "a.example.test", t0).await;
    app.publish(&app.dns, &ra).await;
    let t1 = datetime!(2026-03-08 08:59:59 UTC);
    app.clock.set(t1);
    app.call(
        Method::PUT,
        &format!("{}/{a}/validate", app.certs_path(&app.project)),
        Some(&k),
        None,
    )
    .await
    .ok();
    // b: pending at 03:00:00 MDT (09:00 UTC, just after the spring change), canceled at t3.
    let t2 = datetime!(2026-03-08 09:00 UTC);
    let (b, _) = create_at(&app, "b.example.test", t2).await;
    let t3 = datetime!(2026-03-08 10:00 UTC);
    app.clock.set(t3);
    app.call(
        Method::DELETE,
        &format!("{}/{b}", app.certs_path(&app.project)),
        Some(&k),
        None,
    )
    .await
    .ok();
    let order_of = |cert: i64| {
        let app = &app;
        async move {
            app.core
                .store()
                .order_of_certificate(certkeeper_domain::ids::CertificateId(cert))
                .await
                .unwrap()
                .unwrap()
                .id
                .0
        }
    };
    let (oa, ob) = (order_of(a).await, order_of(b).await);
    let get = |q: &str| {
        let app = &app;
        let k = k.clone();
        let q = q.to_string();
        async move {
            app.call(
                Method::GET,
                &format!("/services/v2/order/certificate/status-changes?{q}"),
                Some(&k),
                None,
            )
            .await
        }
    };
    // Now t3 + 30 min: the last 30 minutes hold nothing; 31 minutes hold b's cancel.
    app.clock.set(t3 + Duration::minutes(30));
    let r = get("minutes=29").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "{}");
    let r = get("minutes=30").await; // exactly at the window's start: included
    assert_eq!(
        r.body,
        json!({"orders": [{"order_id": ob, "certificate_id": b, "status": "canceled"}]})
    );
    let r = get("minutes=90&seconds=1").await; // back to 08:59:59: a's issue too
    assert_eq!(
        r.body,
        json!({"orders": [
            {"order_id": ob, "certificate_id": b, "status": "canceled"},
            {"order_id": oa, "certificate_id": a, "status": "issued"},
        ]})
    );
    // Date ranges in Mountain Time; END inclusive to the second; later changes omitted.
    let r = get("filters[status_last_updated]=2026-03-08+00:00:00...2026-03-08+01:59:59").await;
    assert_eq!(
        r.body,
        json!({"orders": [{"order_id": oa, "certificate_id": a, "status": "issued"}]})
    );
    let r = get("filters[status_last_updated]=2026-03-08+00:00:00...2026-03-08+01:59:58").await;
    assert_eq!(r.text, "{}", "a changed again (issued) after END: omitted");
    let r = get("filters[status_last_updated]=2026-03-08+00:00:00...2026-03-08+03:00:00").await;
    assert_eq!(
        r.body["orders"].as_array().unwrap().len(),
        1,
        "b changed again after 03:00"
    );
    let r = get("filters[status_last_updated]=2026-03-08...2026-03-08").await;
    assert_eq!(r.body["orders"].as_array().unwrap().len(), 2);
    let r = get("filters[status_last_updated]=2026-03-07...2026-03-07").await;
    assert_eq!(r.text, "{}");
    // Paging and sorting, with DigiCert's page object.
    let r = get("minutes=600&limit=1&offset=1").await;
    assert_eq!(
        r.body,
        json!({"orders": [{"order_id": oa, "certificate_id": a, "status": "issued"}],
               "page": {"total": 2, "limit": 1, "offset": 1}})
    );
    let r = get("minutes=600&sort=order_id").await;
    assert_eq!(r.body["orders"][0]["order_id"], json!(oa.min(ob)));
    // Errors.
    get("").await.assert_dc_error(400, "missing_filter");
    let r = get("minutes=10081").await;
    r.assert_dc_error(400, "time_frame_too_long");
    assert_eq!(
        r.body["errors"][0]["message"],
        json!("An error occurred while processing your request.")
    );
    get("minutes=10080&seconds=1")
        .await
        .assert_dc_error(400, "time_frame_too_long");
    get("seconds=604801")
        .await
        .assert_dc_error(400, "time_frame_too_long");
    assert_eq!(get("seconds=604800").await.status, 200);
    get("minutes=-1")
        .await
        .assert_dc_error(400, "invalid_param|minutes");
    get("minutes=ten")
        .await
        .assert_dc_error(400, "invalid_param|minutes");
    get("seconds=1.5")
        .await
        .assert_dc_error(400, "invalid_param|seconds");
    get("minutes=1&filters[status_last_updated]=2026-03-08...2026-03-09")
        .await
        .assert_dc_error(400, "invalid_filter");
    get("filters[status_last_updated]=2026-03-09...2026-03-08")
        .await
        .assert_dc_error(400, "invalid_filter");
    get("filters[status_last_updated]=yesterday")
        .await
        .assert_dc_error(400, "invalid_filter");
    get("minutes=5&limit=0")
        .await
        .assert_dc_error(400, "invalid_param|limit");
    get("minutes=5&limit=1001")
        .await
        .assert_dc_error(400, "invalid_param|limit");
    get("minutes=5&sort=colour")
        .await
        .assert_dc_error(400, "invalid_param|sort");
    // A key scoped to another project sees none of these orders.
    let other = app.new_project("other").await;
    let scoped = app.key(Role::Viewer, Some(&other)).await;
    let r = app
        .call(
            Method::GET,
            "/services/v2/order/certificate/status-changes?minutes=600",
            Some(&scoped),
            None,
        )
        .await;
    assert_eq!(r.text, "{}");
}

/// A whole list is read in two halves of its window on PostgreSQL (see
/// `Store::status_entries_in_halves`): orders at the window's start, on both sides of its
/// middle and at its end are each listed once, in every order.
async fn status_changes_across_the_middle(db: Db) {
    let app = TestApp::spawn(db).await;
    let now = datetime!(2026-05-04 12:00 UTC);
    // The window of `seconds=2` is [now - 2 s, now]; its middle is now - 1 s.
    let mut made = Vec::new();
    for (name, ms) in [
        ("start", -2000),
        ("middle", -1000),
        ("past-middle", -999),
        ("end", 0),
    ] {
        let (cert, _) = create_at(
            &app,
            &format!("{name}.example.test"),
            now + Duration::milliseconds(ms),
        )
        .await;
        made.push(cert);
    }
    app.clock.set(now);
    let list = |q: &'static str| {
        let app = &app;
        async move {
            let r = app
                .call(
                    Method::GET,
                    &format!("/services/v2/order/certificate/status-changes?{q}"),
                    Some(&app.admin_key),
                    None,
                )
                .await;
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            r.body["orders"]
                .as_array()
                .unwrap_or_else(|| panic!("{q}: {}", r.text))
                .iter()
                .map(|o| o["certificate_id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    let oldest_first = made.clone();
    let newest_first: Vec<i64> = made.iter().rev().copied().collect();
    assert_eq!(list("seconds=2").await, newest_first);
    assert_eq!(
        list("seconds=2&sort=status_last_updated").await,
        oldest_first
    );
    // Orders are created in that order, so their ids follow it too.
    assert_eq!(list("seconds=2&sort=order_id").await, oldest_first);
    assert_eq!(list("seconds=2&sort=-order_id").await, newest_first);
    assert_eq!(list("seconds=1").await, newest_first[..3].to_vec());
}

both_databases!(
    expiring_buckets,
    status_changes,
    status_changes_across_the_middle
);
