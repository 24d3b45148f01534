//! Issuance through an external ACME CA: Debian's pebble on loopback, validating against the
//! in-process DNS server.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Db, IssuerSetup, TestApp, both_databases};

both_databases!(
    issues_through_pebble,
    a_ca_refusal_rejects_the_order,
    a_project_can_override_the_issuer
);

async fn create_and_publish(
    app: &TestApp,
    names: &[&str],
    dns: &certkeeper_testkit::dns::TestDns,
) -> Value {
    let body = json!({"domainName": names[0], "additionalDomainNames": &names[1..], "scopeId": 0});
    let c = app
        .call(
            Method::POST,
            &app.certs_path(&app.project),
            Some(&app.admin_key),
            Some(body),
        )
        .await
        .ok()
        .clone();
    app.publish(dns, &c).await;
    c
}

async fn issues_through_pebble(db: Db) {
    let app = TestApp::spawn_with(
        db,
        IssuerSetup::Acme {
            separate_ca_dns: false,
        },
    )
    .await;
    let c = create_and_publish(&app, &["www.example.test", "*.example.test"], &app.dns).await;
    assert_eq!(c["certificateStatus"], "Pending");
    assert_eq!(c["dnsRecords"].as_array().unwrap().len(), 2);
    let id = c["id"].as_i64().unwrap();
    // Pebble dates certificates from its own clock; let the server's (fixed) clock catch up.
    app.clock
        .set(time::OffsetDateTime::now_utc() + time::Duration::seconds(5));
    let r = app
        .call(
            Method::PUT,
            &format!("{}/{id}/validate", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    let issued = r.ok();
    assert_eq!(issued["certificateStatus"], "Active");
    assert_eq!(issued["certificateType"], "Issued");
    let names: Vec<&str> = std::iter::once(issued["domainName"].as_str().unwrap())
        .chain(issued["additionalNames"].as_str().unwrap().split(','))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["*.example.test", "www.example.test"]);
    assert!(
        issued["issuer"].as_str().unwrap().contains("Pebble"),
        "{}",
        issued["issuer"]
    );
    // The chain links (the import checks verify every signature): re-import it elsewhere.
    let download = format!("{}{}/{id}/download", app.base, app.certs_path(&app.project));
    let pem = app
        .http
        .get(download)
        .header("X-API-Key", &app.admin_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pem.matches("BEGIN CERTIFICATE").count() >= 2, "{pem}");
    let exporter = app
        .export_key(certkeeper_domain::apikey::Role::Viewer)
        .await;
    let key_path = format!("{}/{id}/private-key", app.certs_path(&app.project));
    let key = app
        .call(Method::GET, &key_path, Some(&exporter), None)
        .await
        .text;
    let other = app.new_project("other").await;
    let body = json!({"certificateBody": pem, "certificatePrivateKey": key, "scopeId": 0});
    app.call(
        Method::POST,
        &format!("{}/import", app.certs_path(&other)),
        Some(&app.admin_key),
        Some(body),
    )
    .await
    .ok();
    // Revoking it asks pebble (through the account that ordered it); certkeeper's own CRL
    // does not list another CA's certificate.
    let revoke = format!("{}/{id}/revoke", app.certs_path(&app.project));
    let r = app
        .call(
            Method::POST,
            &revoke,
            Some(&app.admin_key),
            Some(json!({"reason": "superseded"})),
        )
        .await;
    assert_eq!(r.ok()["certificateStatus"], "Revoked", "{}", r.text);
    app.call(Method::POST, &revoke, Some(&app.admin_key), None)
        .await
        .assert_error(409, "already revoked");
    assert_eq!(app.core.store().revocation_count().await.unwrap(), 0);
}

async fn a_ca_refusal_rejects_the_order(db: Db) {
    let app = TestApp::spawn_with(
        db,
        IssuerSetup::Acme {
            separate_ca_dns: true,
        },
    )
    .await;
    // certkeeper's resolver sees the right record; pebble's DNS serves a wrong one.
    let c = create_and_publish(&app, &["bad.example.test"], &app.dns).await;
    let pebble_dns = app.pebble_dns.as_ref().unwrap();
    pebble_dns
        .set_txt(
            "_acme-challenge.bad.example.test",
            &["not-what-the-ca-asked-for"],
        )
        .await;
    let id = c["id"].as_i64().unwrap();
    let path = format!("{}/{id}/validate", app.certs_path(&app.project));
    let r = app
        .call(Method::PUT, &path, Some(&app.admin_key), None)
        .await;
    r.assert_error(409, "the ACME CA refused");
    let msg = r.body["errors"][0].as_str().unwrap().to_string();
    assert!(
        msg.contains("bad.example.test"),
        "the CA's problem names the identifier: {msg}"
    );
    let record = app
        .call(
            Method::GET,
            &format!("{}/{id}", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(record.ok()["certificateStatus"], "Rejected");
    // The problem stays visible on later calls.
    app.call(Method::PUT, &path, Some(&app.admin_key), None)
        .await
        .assert_error(409, "was rejected: the ACME CA refused");
}

async fn a_project_can_override_the_issuer(db: Db) {
    let app = TestApp::spawn_with(
        db,
        IssuerSetup::Acme {
            separate_ca_dns: false,
        },
    )
    .await;
    let project_path = format!("/api/v1/projects/{}", app.project.id);
    let r = app
        .call(Method::GET, &project_path, Some(&app.admin_key), None)
        .await;
    assert_eq!(r.ok()["issuer"], Value::Null);
    assert_eq!(r.ok()["effectiveIssuer"], "acme");
    let r = app
        .call(
            Method::PUT,
            &project_path,
            Some(&app.admin_key),
            Some(json!({"issuer": "builtin"})),
        )
        .await;
    assert_eq!(r.ok()["issuer"], "builtin");
    assert_eq!(r.ok()["effectiveIssuer"], "builtin");
    // Created certificates now go to the built-in CA.
    let c = create_and_publish(&app, &["own.example.test"], &app.dns).await;
    let id = c["id"].as_i64().unwrap();
    let r = app
        .call(
            Method::PUT,
            &format!("{}/{id}/validate", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(r.ok()["issuer"], "O=certkeeper,CN=certkeeper Issuing CA 1");
    // Back to the server's default.
    let r = app
        .call(
            Method::PUT,
            &project_path,
            Some(&app.admin_key),
            Some(json!({"issuer": null})),
        )
        .await;
    assert_eq!(r.ok()["issuer"], Value::Null);
    assert_eq!(r.ok()["effectiveIssuer"], "acme");
}
