//! Keyfactor: collections CRUD, saved queries, the issuance report's period edges and errors,
//! and a seeded inventory checked against the aggregates.

use certkeeper_domain::apikey::Role;
use reqwest::Method;
use serde_json::json;
use time::Duration;
use time::macros::datetime;

use super::{collection_key, counts, import_dated, issuance};
use crate::support::{Db, TestApp, both_databases};

async fn issuance_period_edges(db: Db) {
    // EvalDate mid-hour (partial edge hours) and exactly on the hour, each on a fresh server.
    for eval in [
        datetime!(2026-02-10 17:45:36 UTC),
        datetime!(2026-02-10 18:00:00 UTC),
    ] {
        let app = TestApp::spawn(db).await;
        app.clock.set(eval);
        let p = &app.project;
        let week = Duration::days(7);
        let life = Duration::days(90);
        for (cn, nb) in [
            ("at-eval.edge.test", eval),
            ("just-inside.edge.test", eval - week + Duration::seconds(1)),
            ("seven-days.edge.test", eval - week),
            ("fourteen-days.edge.test", eval - 2 * week),
            ("mid-third.edge.test", eval - 2 * week - Duration::days(3)),
            ("too-old.edge.test", eval - 3 * week),
            ("future.edge.test", eval + Duration::seconds(1)),
        ] {
            import_dated(&app, p, cn, nb, nb + life).await;
        }
        // Period 1: at-eval, just-inside. Period 2: seven-days. Period 3: fourteen-days,
        // mid-third. Exactly 21 days old is period 4.
        let r = issuance(&app, &app.admin_key, "collectionId=0&TotalPeriods=3").await;
        assert_eq!(counts(&r), vec![2, 1, 2], "eval {eval}");
        let stamp = eval
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        for (i, item) in r.body.as_array().unwrap().iter().enumerate() {
            assert_eq!(item["Period"], json!(i + 1));
            assert_eq!(item["EvalDate"], json!(stamp));
            assert_eq!(item.as_object().unwrap().len(), 3);
        }
        let r = issuance(&app, &app.admin_key, "collectionId=0&TotalPeriods=52").await;
        let c = counts(&r);
        assert_eq!(c.len(), 52);
        assert_eq!(&c[..4], &[2, 1, 2, 1]);
        assert!(c[4..].iter().all(|n| *n == 0));
        // A saved query takes the indexed path: the same edges.
        let created = app
            .call(
                Method::POST,
                "/CertificateCollections",
                Some(&app.admin_key),
                Some(json!({"Name": "edges", "Query": "CN -endswith \"edge.test\" AND CN -ne \"mid-third.edge.test\""})),
            )
            .await;
        assert_eq!(created.status, 200, "{}", created.text);
        let id = created.body["Id"].as_i64().unwrap();
        let r = issuance(
            &app,
            &app.admin_key,
            &format!("collectionId={id}&TotalPeriods=4"),
        )
        .await;
        assert_eq!(counts(&r), vec![2, 1, 1, 1]);
        // Keyfactor's base path, and parameter names in any case.
        let r = app
            .call(
                Method::GET,
                "/KeyfactorAPI/Analytics/Certificates/Issuance?COLLECTIONID=0&totalperiods=3",
                Some(&app.admin_key),
                None,
            )
            .await;
        assert_eq!(counts(&r), vec![2, 1, 2]);
    }
}

async fn issuance_errors(db: Db) {
    let app = TestApp::spawn(db).await;
    let k = &app.admin_key;
    for (q, status, needle) in [
        ("TotalPeriods=3", 400, "collectionId"),
        ("collectionId=0", 400, "TotalPeriods"),
        ("collectionId=0&TotalPeriods=0", 400, "greater than 0"),
        (
            "collectionId=0&TotalPeriods=53",
            400,
            "less than or equal to 52",
        ),
        ("collectionId=0&TotalPeriods=abc", 400, "TotalPeriods"),
        ("collectionId=x&TotalPeriods=3", 400, "collectionId"),
        ("collectionId=-1&TotalPeriods=3", 400, "collectionId"),
        ("collectionId=0&TotalPeriods=2.5", 400, "TotalPeriods"),
        (
            "collectionId=0&collectionId=1&TotalPeriods=3",
            400,
            "more than once",
        ),
        ("collectionId=999&TotalPeriods=3", 404, "collection 999"),
    ] {
        issuance(&app, k, q).await.assert_kf_error(status, needle);
    }
    let r = app
        .call(
            Method::GET,
            "/Analytics/Certificates/Issuance?collectionId=0&TotalPeriods=1",
            None,
            None,
        )
        .await;
    r.assert_kf_error(401, "API key");
    let r = app
        .call(Method::GET, "/KeyfactorAPI/Nope", Some(k), None)
        .await;
    r.assert_kf_error(404, "no such endpoint");
    let r = app
        .call(
            Method::POST,
            "/Analytics/Certificates/Issuance",
            Some(k),
            None,
        )
        .await;
    r.assert_kf_error(405, "method not allowed");
}

async fn collections_crud(db: Db) {
    let app = TestApp::spawn(db).await;
    let k = &app.admin_key;
    let r = app
        .call(Method::GET, "/CertificateCollections", Some(k), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body[0]["Id"], json!(0));
    assert_eq!(r.body[0]["Name"], json!("All Certificates"));
    let r = app
        .call(
            Method::POST,
            "/CertificateCollections",
            Some(k),
            Some(json!({"Name": "weak", "Description": "short keys", "Query": "KeySize -lt \"2048\" OR KeyType -eq \"ed25519\""})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["Id"].as_i64().unwrap();
    assert!(id > 0);
    assert_eq!(r.body["Content"], r.body["Query"]);
    assert_eq!(r.body["Description"], json!("short keys"));
    let got = app
        .call(
            Method::GET,
            &format!("/KeyfactorAPI/CertificateCollections/{id}"),
            Some(k),
            None,
        )
        .await;
    assert_eq!(got.body, r.body);
    // The query is checked on save: position and reason.
    let bad = app
        .call(
            Method::POST,
            "/CertificateCollections",
            Some(k),
            Some(json!({"Name": "bad", "Query": "CN -eq \"a\" AND Colour -eq \"red\""})),
        )
        .await;
    bad.assert_kf_error(400, "position 15");
    bad.assert_kf_error(400, "unknown field");
    for (body, needle) in [
        (json!({"Query": "CN -eq \"a\""}), "Name is required"),
        (json!({"Name": "x"}), "Query is required"),
        (
            json!({"Name": "x", "Query": "KeySize -contains \"2\""}),
            "KeySize is a number",
        ),
        (
            json!({"Name": "x", "Query": "CN -eq \"unterminated"}),
            "unterminated",
        ),
    ] {
        app.call(Method::POST, "/CertificateCollections", Some(k), Some(body))
            .await
            .assert_kf_error(400, needle);
    }
    app.call(
        Method::POST,
        "/CertificateCollections",
        Some(k),
        Some(json!({"Name": "weak", "Query": "CN -eq \"a\""})),
    )
    .await
    .assert_kf_error(409, "already exists");
    // Update (Id in the body), never collection 0.
    let up = app
        .call(
            Method::PUT,
            "/CertificateCollections",
            Some(k),
            Some(json!({"Id": id, "Name": "weak keys", "Query": "KeySize -lt \"3072\""})),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.text);
    assert_eq!(up.body["Name"], json!("weak keys"));
    app.call(
        Method::PUT,
        "/CertificateCollections",
        Some(k),
        Some(json!({"Id": 0, "Name": "all", "Query": "CN -eq \"a\""})),
    )
    .await
    .assert_kf_error(409, "built in");
    app.call(
        Method::PUT,
        "/CertificateCollections",
        Some(k),
        Some(json!({"Id": 4242, "Name": "n", "Query": "CN -eq \"a\""})),
    )
    .await
    .assert_kf_error(404, "not found");
    app.call(
        Method::PUT,
        "/CertificateCollections",
        Some(k),
        Some(json!({"Name": "n", "Query": "CN -eq \"a\""})),
    )
    .await
    .assert_kf_error(400, "Id is required");
    app.call(Method::GET, "/CertificateCollections/abc", Some(k), None)
        .await
        .assert_kf_error(400, "non-negative integer");
    // Editing needs system-wide Modify.
    let viewer = app.key(Role::Viewer, None).await;
    let scoped = app.key(Role::Operator, Some(&app.project)).await;
    for who in [&viewer, &scoped] {
        app.call(
            Method::POST,
            "/CertificateCollections",
            Some(who),
            Some(json!({"Name": "z", "Query": "CN -eq \"a\""})),
        )
        .await
        .assert_kf_error(403, "");
        app.call(
            Method::DELETE,
            &format!("/CertificateCollections/{id}"),
            Some(who),
            None,
        )
        .await
        .assert_kf_error(403, "");
    }
    // A collection granted to a key cannot be deleted; others can.
    let _holder = collection_key(&app, &[id]).await;
    app.call(
        Method::DELETE,
        &format!("/CertificateCollections/{id}"),
        Some(k),
        None,
    )
    .await
    .assert_kf_error(409, "granted");
    let other = app
        .call(
            Method::POST,
            "/CertificateCollections",
            Some(k),
            Some(json!({"Name": "tmp", "Query": "CN -eq \"a\""})),
        )
        .await;
    let other = other.body["Id"].as_i64().unwrap();
    let del = app
        .call(
            Method::DELETE,
            &format!("/CertificateCollections/{other}"),
            Some(k),
            None,
        )
        .await;
    assert_eq!(del.status, 204, "{}", del.text);
    app.call(
        Method::GET,
        &format!("/CertificateCollections/{other}"),
        Some(k),
        None,
    )
    .await
    .assert_kf_error(404, "not found");
    app.call(Method::DELETE, "/CertificateCollections/0", Some(k), None)
        .await
        .assert_kf_error(409, "built in");
}

async fn collection_queries_match(db: Db) {
    let app = TestApp::spawn(db).await;
    let now = datetime!(2026-05-01 12:00 UTC);
    app.clock.set(now);
    let other = app.new_project("other").await;
    let d = Duration::days(1);
    import_dated(
        &app,
        &app.project,
        "api.shop.example",
        now - 2 * d,
        now + 10 * d,
    )
    .await;
    import_dated(
        &app,
        &app.project,
        "www.shop.example",
        now - 3 * d,
        now + 100 * d,
    )
    .await;
    import_dated(&app, &other, "API.blog.example", now - 4 * d, now - d).await;
    app.import(certkeeper_testkit::leaves()[0].1).await.ok(); // RSA 2048, issued 2025
    let cases = [
        ("CN -startswith \"api.\"", 2),
        ("CN -eq \"api.blog.example\"", 1),
        ("SAN -eq \"www.shop.example\"", 1),
        ("SAN -contains \"shop\"", 2),
        ("ExpirationDate -lt \"%TODAY+30%\"", 2),
        ("CertState -eq \"Expired\"", 1),
        ("CertState -eq \"Active\" AND KeyType -eq \"ECDSA\"", 2),
        (&format!("ProjectId -eq \"{}\"", other.id), 1),
        (&format!("ContainerId -eq \"{}\"", other.container_id), 1),
        ("IssuedDate -ge \"%TODAY-3%\"", 2),
        (
            "(CN -endswith \"shop.example\" OR CN -endswith \"blog.example\") AND ExpirationDate -gt \"%TODAY%\"",
            2,
        ),
        ("KeyType -eq \"RSA\" AND KeySize -eq \"2048\"", 0), // issued in 2025: outside 52 weeks? no: see below
    ];
    for (i, (q, want)) in cases.iter().enumerate() {
        let r = app
            .call(
                Method::POST,
                "/CertificateCollections",
                Some(&app.admin_key),
                Some(json!({"Name": format!("q{i}"), "Query": q})),
            )
            .await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        let id = r.body["Id"].as_i64().unwrap();
        let total: i64 = counts(
            &issuance(
                &app,
                &app.admin_key,
                &format!("collectionId={id}&TotalPeriods=1"),
            )
            .await,
        )
        .iter()
        .sum();
        assert_eq!(total, *want, "{q}");
    }
}

/// A seeded inventory, large enough that seeding drops and rebuilds the secondary indexes:
/// they are all back, the hourly aggregates agree with counting the certificates themselves
/// (a saved query takes that path), and no order is left pending past its expiry.
async fn seeded_inventory_is_consistent(db: Db) {
    let app = TestApp::spawn(db).await;
    let store = app.core.store();
    let indexes = store.secondary_index_names().await.expect("indexes");
    assert!(
        indexes.iter().any(|i| i == "certificates_not_before"),
        "{indexes:?}"
    );
    // The indexes seeding keeps up to date are the migrations' own (none renamed away).
    for kept in certkeeper_store::KEPT_WHILE_SEEDING
        .iter()
        .chain(&certkeeper_store::RIGHT_EDGE_INDEXES)
    {
        assert!(indexes.iter().any(|i| i == kept), "{kept} in {indexes:?}");
    }
    let keys = store.seeded_foreign_key_names().await.expect("keys");
    let seeded = store
        .seed_synthetic_certificates(
            app.project.container_id,
            certkeeper_store::REBUILD_INDEXES_FROM,
            app.core.now(),
        )
        .await
        .expect("seed");
    assert_eq!(seeded.certificates, certkeeper_store::REBUILD_INDEXES_FROM);
    assert_eq!(
        store.secondary_index_names().await.expect("indexes"),
        indexes
    );
    // Foreign keys dropped for the load (PostgreSQL) are back, validated.
    assert_eq!(store.seeded_foreign_key_names().await.expect("keys"), keys);
    let r = app
        .call(
            Method::POST,
            "/CertificateCollections",
            Some(&app.admin_key),
            Some(json!({"Name": "every issued", "Query": "IssuedDate -ne NULL"})),
        )
        .await;
    let every = r.body["Id"].as_i64().expect("Id");
    let key = app.admin_key.clone();
    let from_aggregates = counts(&issuance(&app, &key, "collectionId=0&TotalPeriods=52").await);
    let counted =
        counts(&issuance(&app, &key, &format!("collectionId={every}&TotalPeriods=52")).await);
    assert_eq!(from_aggregates, counted);
    assert!(counted.iter().sum::<i64>() > 40_000, "{counted:?}");
    // Pending orders are only those whose challenges are still valid.
    let expired = store
        .expired_pending_orders(app.core.now(), 10)
        .await
        .expect("expired");
    assert!(expired.is_empty(), "{expired:?}");
}

both_databases!(
    issuance_period_edges,
    issuance_errors,
    collections_crud,
    collection_queries_match,
    seeded_inventory_is_consistent,
);
