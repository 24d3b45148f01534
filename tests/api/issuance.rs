//! Creating certificates: DNS-01 records, validation against a real DNS server, issuance by
//! the built-in CA, cancellation, expiry and concurrent validation.

use certkeeper_domain::apikey::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Db, Resp, TestApp, both_databases};

both_databases!(
    creates_validates_and_issues,
    names_exactly_the_records_that_fail,
    follows_cname_delegation,
    refuses_bad_requests,
    cancels_pending_orders,
    rejects_expired_orders,
    concurrent_validations_issue_once,
    exports_keys_only_with_the_grant,
    project_settings_are_checked,
    expired_orders_are_swept,
);

async fn create(app: &TestApp, body: Value) -> Resp {
    app.call(
        Method::POST,
        &app.certs_path(&app.project),
        Some(&app.admin_key),
        Some(body),
    )
    .await
}

async fn validate(app: &TestApp, id: i64) -> Resp {
    let path = format!("{}/{id}/validate", app.certs_path(&app.project));
    app.call(Method::PUT, &path, Some(&app.admin_key), None)
        .await
}

/// Publishes every record a created certificate asks for, in the server's DNS.
async fn publish(app: &TestApp, cert: &Value) {
    app.publish(&app.dns, cert).await;
}

async fn creates_validates_and_issues(db: Db) {
    let app = TestApp::spawn(db).await;
    let r = create(&app, json!({"domainName": "*.Example.test", "additionalDomainNames": ["example.test", "www.example.test"], "scopeId": 0})).await;
    let c = r.ok().clone();
    assert_eq!(c["certificateStatus"], "Pending");
    assert_eq!(c["certificateType"], "Issued");
    assert_eq!(c["certificateChallenge"], "dns-01");
    assert_eq!(c["domainName"], "*.example.test");
    assert_eq!(c["additionalNames"], "example.test,www.example.test");
    assert_eq!(c["serialNumber"], Value::Null);
    assert_eq!(c["notAfter"], Value::Null);
    let records = c["dnsRecords"].as_array().unwrap();
    let keys: Vec<&str> = records.iter().map(|r| r["key"].as_str().unwrap()).collect();
    // The wildcard is proved on its base name, next to the base name's own value.
    assert_eq!(
        keys,
        [
            "_acme-challenge.example.test",
            "_acme-challenge.example.test",
            "_acme-challenge.www.example.test"
        ]
    );
    assert!(
        records
            .iter()
            .all(|r| r["value"].as_str().unwrap().len() == 43)
    );
    let id = c["id"].as_i64().unwrap();

    // Nothing published yet: 400, the order stays pending.
    validate(&app, id)
        .await
        .assert_error(400, "no TXT record found");
    let path = format!("{}/{id}", app.certs_path(&app.project));
    assert_eq!(
        app.call(Method::GET, &path, Some(&app.admin_key), None)
            .await
            .ok()["certificateStatus"],
        "Pending"
    );
    let download = format!("{path}/download");
    app.call(Method::GET, &download, Some(&app.admin_key), None)
        .await
        .assert_error(409, "not issued yet");

    publish(&app, &c).await;
    let r = validate(&app, id).await;
    let issued = r.ok().clone();
    assert_eq!(r.body["messages"], json!(["Certificate issued."]));
    assert!(!r.text.contains("PRIVATE KEY"));
    assert_eq!(issued["id"], id);
    assert_eq!(issued["certificateStatus"], "Active");
    assert_eq!(issued["certificateType"], "Issued");
    assert_eq!(issued["publicKeyInfo"], "ECDSA P-256");
    assert_eq!(issued["signatureAlgorithm"], "ecdsa-with-SHA256");
    assert_eq!(issued["issuer"], "O=certkeeper,CN=certkeeper Issuing CA 1");
    assert_eq!(issued["domainName"], "*.example.test");
    assert_eq!(issued["additionalNames"], "example.test,www.example.test");
    let serial = issued["serialNumber"].as_str().unwrap().to_string();
    assert!(serial.len() >= 30, "{serial}");

    // Idempotent.
    assert_eq!(validate(&app, id).await.ok()["serialNumber"], serial);

    // Download: the leaf, then intermediate and root.
    let resp = app
        .http
        .get(format!("{}{download}", app.base))
        .header("X-API-Key", &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-pem-file");
    let pem = resp.text().await.unwrap();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 3);
    assert!(!pem.contains("PRIVATE KEY"));
    assert_eq!(
        pem.split("-----END CERTIFICATE-----")
            .last()
            .unwrap()
            .trim(),
        ""
    );
    assert!(pem.ends_with(&app.core.builtin_root_pem().unwrap()));

    // The stored key is sealed and belongs to the certificate.
    let stored = app
        .core
        .store()
        .certificate_material(certkeeper_domain::ids::CertificateId(id))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.private_key_sealed.is_some());

    // Order history: pending, then issued.
    let history = app.order_history(id).await;
    assert_eq!(history, ["pending", "issued"]);
    let actions: Vec<String> = app
        .core
        .audit_events(5)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(&actions[..2], ["certificate.issue", "certificate.create"]);

    // Imported certificates are not validated.
    let imported = app.import(certkeeper_testkit::leaves()[2].1).await.ok()["id"]
        .as_i64()
        .unwrap();
    validate(&app, imported)
        .await
        .assert_error(400, "was imported");
}

async fn names_exactly_the_records_that_fail(db: Db) {
    let app = TestApp::spawn(db).await;
    let c = create(&app, json!({"domainName": "a.example.test", "additionalDomainNames": ["b.example.test", "c.example.test"], "scopeId": 0}))
        .await
        .ok()
        .clone();
    let id = c["id"].as_i64().unwrap();
    let value = |i: usize| c["dnsRecords"][i]["value"].as_str().unwrap().to_string();
    app.dns
        .set_txt("_acme-challenge.a.example.test", &[&value(0)])
        .await;
    app.dns
        .set_txt("_acme-challenge.b.example.test", &["not-the-value"])
        .await;
    let r = validate(&app, id).await;
    r.assert_error(
        400,
        "_acme-challenge.b.example.test (for b.example.test): TXT holds [\"not-the-value\"]",
    );
    let msg = r.body["errors"][0].as_str().unwrap();
    assert!(
        msg.contains("_acme-challenge.c.example.test (for c.example.test): no TXT record found"),
        "{msg}"
    );
    assert!(
        !msg.contains("_acme-challenge.a.example.test"),
        "a is fine: {msg}"
    );
    // Fix DNS, validate again.
    app.dns
        .set_txt("_acme-challenge.b.example.test", &[&value(1)])
        .await;
    app.dns
        .set_txt("_acme-challenge.c.example.test", &[&value(2)])
        .await;
    assert_eq!(validate(&app, id).await.ok()["certificateStatus"], "Active");
}

async fn follows_cname_delegation(db: Db) {
    let app = TestApp::spawn(db).await;
    let c = create(
        &app,
        json!({"domainName": "api.example.test", "additionalDomainNames": [], "scopeId": 1}),
    )
    .await
    .ok()
    .clone();
    app.dns
        .set_cname(
            "_acme-challenge.api.example.test",
            "api.acme.delegated.test",
        )
        .await;
    app.dns
        .set_txt(
            "api.acme.delegated.test",
            &[c["dnsRecords"][0]["value"].as_str().unwrap()],
        )
        .await;
    let r = validate(&app, c["id"].as_i64().unwrap()).await;
    assert_eq!(r.ok()["certificateStatus"], "Active");
    assert_eq!(r.ok()["scopeId"], 1);
}

async fn refuses_bad_requests(db: Db) {
    let app = TestApp::spawn(db).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"domainName": "", "scopeId": 0}), "must not be empty"),
        (
            json!({"domainName": "192.0.2.7", "scopeId": 0}),
            "is an IP address",
        ),
        (
            json!({"domainName": "2001:db8::1", "scopeId": 0}),
            "is an IP address",
        ),
        (
            json!({"domainName": format!("{}.example.test", "a".repeat(64)), "scopeId": 0}),
            "at most 63",
        ),
        (
            json!({"domainName": format!("{}.example.test", vec!["a".repeat(60); 5].join(".")), "scopeId": 0}),
            "at most 253",
        ),
        (
            json!({"domainName": "*.*.example.test", "scopeId": 0}),
            "wildcard",
        ),
        (
            json!({"domainName": "a.example.test", "additionalDomainNames": (0..100).map(|i| format!("h{i}.example.test")).collect::<Vec<_>>(), "scopeId": 0}),
            "at most 100 names, 101 were requested",
        ),
        (
            json!({"domainName": "a.example.test", "additionalDomainNames": ["ok.example.test", "bad_name.example.test"], "scopeId": 0}),
            "bad_name",
        ),
        (
            json!({"additionalDomainNames": [], "scopeId": 0}),
            "domainName is required",
        ),
        (
            json!({"domainName": "a.example.test", "scopeId": 3}),
            "scopeId must be 0",
        ),
        (
            json!({"domainName": "a.example.test"}),
            "scopeId is required",
        ),
        (
            json!({"domainName": "a.example.test", "additionalDomainNames": "b.example.test", "scopeId": 0}),
            "invalid JSON body",
        ),
    ];
    for (body, needle) in cases {
        create(&app, body).await.assert_error(400, needle);
    }
    // IDN names become punycode; 100 names in all is fine.
    let c = create(
        &app,
        json!({"domainName": "bücher.example.test", "scopeId": 0}),
    )
    .await;
    assert_eq!(c.ok()["domainName"], "xn--bcher-kva.example.test");
    let hundred: Vec<String> = (0..99).map(|i| format!("h{i}.example.test")).collect();
    create(
        &app,
        json!({"domainName": "a.example.test", "additionalDomainNames": hundred, "scopeId": 0}),
    )
    .await
    .ok();
    // Keys that cannot write here.
    let other = app.new_project("other").await;
    let limited = app.key(Role::Operator, Some(&other)).await;
    let viewer = app.key(Role::Viewer, None).await;
    let body = json!({"domainName": "a.example.test", "scopeId": 0});
    app.call(
        Method::POST,
        &app.certs_path(&app.project),
        Some(&limited),
        Some(body.clone()),
    )
    .await
    .assert_error(403, "another project");
    app.call(
        Method::POST,
        &app.certs_path(&app.project),
        Some(&viewer),
        Some(body.clone()),
    )
    .await
    .assert_error(403, "read-only");
    app.call(
        Method::POST,
        &app.certs_path(&app.project),
        None,
        Some(body),
    )
    .await
    .assert_error(401, "API key");
}

async fn cancels_pending_orders(db: Db) {
    let app = TestApp::spawn(db).await;
    let c = create(
        &app,
        json!({"domainName": "gone.example.test", "scopeId": 0}),
    )
    .await
    .ok()
    .clone();
    let id = c["id"].as_i64().unwrap();
    let path = format!("{}/{id}", app.certs_path(&app.project));
    let r = app
        .call(Method::DELETE, &path, Some(&app.admin_key), None)
        .await;
    assert_eq!(r.ok()["certificateStatus"], "Canceled");
    assert_eq!(r.body["messages"], json!(["Certificate order canceled."]));
    publish(&app, &c).await;
    validate(&app, id).await.assert_error(409, "was canceled");
    let history = app.order_history(id).await;
    assert_eq!(history, ["pending", "canceled"]);
    // A second DELETE removes the record.
    let r = app
        .call(Method::DELETE, &path, Some(&app.admin_key), None)
        .await;
    assert_eq!(r.body["messages"], json!(["Certificate deleted."]));
    app.call(Method::GET, &path, Some(&app.admin_key), None)
        .await
        .assert_error(404, "not found");
}

async fn rejects_expired_orders(db: Db) {
    let app = TestApp::spawn(db).await;
    let c = create(
        &app,
        json!({"domainName": "late.example.test", "scopeId": 0}),
    )
    .await
    .ok()
    .clone();
    let id = c["id"].as_i64().unwrap();
    publish(&app, &c).await;
    app.clock
        .set(app.clock_now() + time::Duration::days(7) + time::Duration::seconds(1));
    validate(&app, id)
        .await
        .assert_error(409, "the DNS-01 challenge expired");
    let path = format!("{}/{id}", app.certs_path(&app.project));
    assert_eq!(
        app.call(Method::GET, &path, Some(&app.admin_key), None)
            .await
            .ok()["certificateStatus"],
        "Rejected"
    );
    validate(&app, id).await.assert_error(409, "was rejected");
}

async fn concurrent_validations_issue_once(db: Db) {
    let app = TestApp::spawn(db).await;
    let c = create(
        &app,
        json!({"domainName": "race.example.test", "scopeId": 0}),
    )
    .await
    .ok()
    .clone();
    let id = c["id"].as_i64().unwrap();
    publish(&app, &c).await;
    let results = futures::future::join_all((0..20).map(|_| validate(&app, id))).await;
    let serials: std::collections::HashSet<String> = results
        .iter()
        .map(|r| r.ok()["serialNumber"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(serials.len(), 1, "one certificate for all callers");
    let history = app.order_history(id).await;
    assert_eq!(history, ["pending", "issued"]);
    let issues = app
        .core
        .audit_events(100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "certificate.issue")
        .count();
    assert_eq!(issues, 1);
}

async fn exports_keys_only_with_the_grant(db: Db) {
    let app = TestApp::spawn(db).await;
    let c = create(
        &app,
        json!({"domainName": "keys.example.test", "scopeId": 0}),
    )
    .await
    .ok()
    .clone();
    let id = c["id"].as_i64().unwrap();
    let path = format!("{}/{id}/private-key", app.certs_path(&app.project));
    let exporter = app.export_key(Role::Viewer).await;
    app.call(Method::GET, &path, Some(&exporter), None)
        .await
        .assert_error(409, "no private key yet");
    publish(&app, &c).await;
    validate(&app, id).await.ok();
    // Admin without the grant: refused.
    app.call(Method::GET, &path, Some(&app.admin_key), None)
        .await
        .assert_error(403, "--allow-key-export");
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .header("X-API-Key", &exporter)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let pem = resp.text().await.unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    // The key is the certificate's: importing both elsewhere passes the key check.
    let download = format!("{}{}/{id}/download", app.base, app.certs_path(&app.project));
    let cert = app
        .http
        .get(download)
        .header("X-API-Key", &exporter)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let other = app.new_project("other").await;
    let body = json!({"certificateBody": cert, "certificatePrivateKey": pem, "scopeId": 0});
    app.call(
        Method::POST,
        &format!("{}/import", app.certs_path(&other)),
        Some(&app.admin_key),
        Some(body),
    )
    .await
    .ok();
    // Imported keys come back in their own encoding.
    let leaf = certkeeper_testkit::Leaf {
        cert: certkeeper_testkit::P256_CERT,
        key: certkeeper_testkit::P256_SEC1_KEY,
        chain: certkeeper_testkit::CHAIN,
    };
    let iid = app.import(leaf).await.ok()["id"].as_i64().unwrap();
    let r = app
        .call(
            Method::GET,
            &format!("{}/{iid}/private-key", app.certs_path(&app.project)),
            Some(&exporter),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text.trim(), certkeeper_testkit::P256_SEC1_KEY.trim());
    let exports = app
        .core
        .audit_events(50)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "certificate.private_key_export")
        .count();
    assert_eq!(exports, 2, "every export is audited");
}

async fn project_settings_are_checked(db: Db) {
    let app = TestApp::spawn(db).await;
    let path = format!("/api/v1/projects/{}", app.project.id);
    let r = app
        .call(Method::GET, &path, Some(&app.admin_key), None)
        .await;
    assert_eq!(r.ok()["name"], "main");
    assert_eq!(r.ok()["effectiveIssuer"], "builtin");
    assert_eq!(r.ok()["containerId"], app.project.container_id.0);
    let k = Some(app.admin_key.as_str());
    app.call(Method::PUT, &path, k, Some(json!({"issuer": "acme"})))
        .await
        .assert_error(400, "no ACME CA configured");
    app.call(Method::PUT, &path, k, Some(json!({"issuer": "digicert"})))
        .await
        .assert_error(400, "unknown issuer");
    app.call(Method::PUT, &path, k, Some(json!({})))
        .await
        .assert_error(400, "issuer is required");
    app.call(Method::PUT, &path, k, Some(json!({"issuer": 3})))
        .await
        .assert_error(400, "invalid JSON body");
    let operator = app.key(Role::Operator, None).await;
    app.call(
        Method::PUT,
        &path,
        Some(&operator),
        Some(json!({"issuer": "builtin"})),
    )
    .await
    .assert_error(403, "admin");
    let viewer = app.key(Role::Viewer, None).await;
    app.call(Method::GET, &path, Some(&viewer), None).await.ok();
    let r = app
        .call(Method::PUT, &path, k, Some(json!({"issuer": "builtin"})))
        .await;
    assert_eq!(r.ok()["issuer"], "builtin");
    let missing = format!("/api/v1/projects/{}", uuid::Uuid::new_v4());
    app.call(Method::GET, &missing, k, None)
        .await
        .assert_error(404, "not found");
    let actions: Vec<String> = app
        .core
        .audit_events(1)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["project.update"]);
}

async fn expired_orders_are_swept(db: Db) {
    let app = TestApp::spawn(db).await;
    let old = create(
        &app,
        json!({"domainName": "old.example.test", "scopeId": 0}),
    )
    .await
    .ok()["id"]
        .as_i64()
        .unwrap();
    app.clock.set(app.clock_now() + time::Duration::days(3));
    let young = create(
        &app,
        json!({"domainName": "young.example.test", "scopeId": 0}),
    )
    .await
    .ok()["id"]
        .as_i64()
        .unwrap();
    // Exactly at the expiry instant the order is still pending; one second later it is not.
    app.clock.set(app.clock_now() + time::Duration::days(4));
    assert_eq!(app.core.expire_orders().await.unwrap(), 0);
    app.clock.set(app.clock_now() + time::Duration::seconds(1));
    assert_eq!(app.core.expire_orders().await.unwrap(), 1);
    assert_eq!(app.core.expire_orders().await.unwrap(), 0, "idempotent");
    let get = |id: i64| format!("{}/{id}", app.certs_path(&app.project));
    assert_eq!(
        app.call(Method::GET, &get(old), Some(&app.admin_key), None)
            .await
            .ok()["certificateStatus"],
        "Rejected"
    );
    assert_eq!(
        app.call(Method::GET, &get(young), Some(&app.admin_key), None)
            .await
            .ok()["certificateStatus"],
        "Pending"
    );
    let history = app.order_history(old).await;
    assert_eq!(history, ["pending", "rejected"]);
    validate(&app, old)
        .await
        .assert_error(409, "expired before validation");
}
