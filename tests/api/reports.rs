//! Reports over HTTP: collections and Keyfactor's issuance analytics, DigiCert's expiring
//! report and status-change list, with every window edge driven by the injected clock, on
//! both databases; and the permission matrix.

use certkeeper_domain::apikey::Role;
use certkeeper_domain::audit::Actor;
use certkeeper_domain::ids::CollectionId;
use certkeeper_domain::project::Project;
use reqwest::Method;
use serde_json::{Value, json};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::support::{Db, Resp, TestApp, both_databases};

/// A self-signed certificate for `cn` valid over `[not_before, not_after]`, imported into
/// `project`. Returns its id.
async fn import_dated(
    app: &TestApp,
    project: &Project,
    cn: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> i64 {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![cn.to_string()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.self_signed(&key).expect("self-signed");
    let r = app
        .call(
            Method::POST,
            &format!("{}/import", app.certs_path(project)),
            Some(&app.admin_key),
            Some(json!({
                "certificateBody": cert.pem(),
                "certificatePrivateKey": key.serialize_pem(),
                "scopeId": 0,
            })),
        )
        .await;
    r.ok()["id"].as_i64().expect("id")
}

/// A key with collection-level Read grants only.
async fn collection_key(app: &TestApp, collections: &[i64]) -> String {
    let ids: Vec<CollectionId> = collections.iter().copied().map(CollectionId).collect();
    app.core
        .create_api_key(Actor::Cli, "collections", Role::Viewer, None, false, &ids)
        .await
        .expect("key")
        .secret
        .expose()
        .to_string()
}

impl Resp {
    /// Asserts Keyfactor's error shape.
    #[track_caller]
    fn assert_kf_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        let obj = self.body.as_object().expect("object");
        assert_eq!(obj.len(), 2, "body: {}", self.text);
        assert!(
            self.body["ErrorCode"]
                .as_str()
                .expect("ErrorCode")
                .starts_with("0x")
        );
        let msg = self.body["Message"].as_str().expect("Message");
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    }

    /// Asserts DigiCert's error shape with its code.
    #[track_caller]
    fn assert_dc_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        let errors = self.body["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "body: {}", self.text);
        assert_eq!(errors[0]["code"], json!(code), "body: {}", self.text);
        assert!(errors[0]["message"].is_string());
    }
}

async fn issuance(app: &TestApp, key: &str, query: &str) -> Resp {
    app.call(
        Method::GET,
        &format!("/Analytics/Certificates/Issuance?{query}"),
        Some(key),
        None,
    )
    .await
}

fn counts(r: &Resp) -> Vec<i64> {
    assert_eq!(r.status, 200, "body: {}", r.text);
    r.body
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["Count"].as_i64().expect("Count"))
        .collect()
}

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
    .assert_kf_error(400, "built in");
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
        .assert_kf_error(400, "built in");
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
    expiring_buckets,
    status_changes,
    permission_matrix,
    seeded_inventory_is_consistent,
);
