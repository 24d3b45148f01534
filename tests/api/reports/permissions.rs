//! The permission matrix: system-wide, collection-level and project-scoped keys on every
//! report endpoint.

use certkeeper_domain::apikey::Role;
use reqwest::Method;
use serde_json::json;
use time::Duration;
use time::macros::datetime;

use super::{collection_key, counts, import_dated, issuance};
use crate::support::{Db, Resp, TestApp, both_databases};

async fn permission_matrix(db: Db) {
    let app = TestApp::spawn(db).await;
    let now = datetime!(2026-05-01 12:00 UTC);
    app.clock.set(now);
    let other = app.new_project("other").await;
    import_dated(
        &app,
        &app.project,
        "mine.perm.test",
        now - Duration::days(1),
        now + Duration::days(40),
    )
    .await;
    import_dated(
        &app,
        &other,
        "theirs.perm.test",
        now - Duration::days(1),
        now + Duration::days(40),
    )
    .await;
    let mk = |name: &str, q: &str| {
        let app = &app;
        let body = json!({"Name": name, "Query": q});
        async move {
            let r = app
                .call(
                    Method::POST,
                    "/CertificateCollections",
                    Some(&app.admin_key),
                    Some(body),
                )
                .await;
            r.body["Id"].as_i64().unwrap()
        }
    };
    let five = mk("perm", "CN -endswith \"perm.test\"").await;
    let six = mk("mine", "CN -eq \"mine.perm.test\"").await;
    let only_five = collection_key(&app, &[five]).await;
    let scoped = app.key(Role::Viewer, Some(&app.project)).await;
    let viewer = app.key(Role::Viewer, None).await;
    let total = |r: Resp| counts(&r).iter().sum::<i64>();
    // System-wide viewer: everything.
    assert_eq!(
        total(issuance(&app, &viewer, "collectionId=0&TotalPeriods=1").await),
        2
    );
    assert_eq!(
        total(issuance(&app, &viewer, &format!("collectionId={six}&TotalPeriods=1")).await),
        1
    );
    // Collection-level Read on `five` only.
    assert_eq!(
        total(
            issuance(
                &app,
                &only_five,
                &format!("collectionId={five}&TotalPeriods=1")
            )
            .await
        ),
        2
    );
    for c in [0, six, 999] {
        issuance(
            &app,
            &only_five,
            &format!("collectionId={c}&TotalPeriods=1"),
        )
        .await
        .assert_kf_error(403, "no Read permission");
    }
    let listed = app
        .call(
            Method::GET,
            "/CertificateCollections",
            Some(&only_five),
            None,
        )
        .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["Id"], json!(five));
    app.call(
        Method::GET,
        "/services/v2/report/order/expiring",
        Some(&only_five),
        None,
    )
    .await
    .assert_dc_error(403, "access_denied|missing_permission");
    app.call(
        Method::GET,
        "/services/v2/order/certificate/status-changes?minutes=5",
        Some(&only_five),
        None,
    )
    .await
    .assert_dc_error(403, "access_denied|missing_permission");
    app.call(
        Method::GET,
        &app.certs_path(&app.project),
        Some(&only_five),
        None,
    )
    .await
    .assert_error(403, "collections");
    // Project-scoped key: its project's certificates only.
    assert_eq!(
        total(issuance(&app, &scoped, "collectionId=0&TotalPeriods=1").await),
        1
    );
    assert_eq!(
        total(
            issuance(
                &app,
                &scoped,
                &format!("collectionId={five}&TotalPeriods=1")
            )
            .await
        ),
        1
    );
    let r = app
        .call(
            Method::GET,
            "/services/v2/report/order/expiring",
            Some(&scoped),
            None,
        )
        .await;
    // Expiring in 40 days: the 31-60 bucket (second in the list).
    assert_eq!(r.body["expiring_orders"][1]["order_count"], json!(1));
}

both_databases!(permission_matrix);
