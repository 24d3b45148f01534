//! Revocation by the built-in CA, seen the way relying parties see it: OpenSSL reads the CRL
//! and asks the OCSP responder, before and after a revocation through the project API. The
//! inventory, DigiCert's status-change report, the audit log and the notification outbox see
//! the same revocation.

use std::path::Path;
use std::process::Command;

use certkeeper_core::scheduler::{Scheduler, SchedulerConfig};
use certkeeper_domain::apikey::Role;
use certkeeper_domain::ids::CertificateId;
use reqwest::Method;
use serde_json::json;

use crate::lifecycle::create;
use crate::support::{Db, TestApp, both_databases};

both_databases!(
    openssl_sees_a_revocation_through_crl_and_ocsp,
    only_what_the_built_in_ca_issued_can_be_revoked,
);

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Creates and validates a certificate for `name`; its id.
async fn issued(app: &TestApp, name: &str) -> i64 {
    let cert = create(app, &[name]).await.ok().clone();
    app.publish(&app.dns, &cert).await;
    let id = cert["id"].as_i64().unwrap();
    let r = app
        .call(
            Method::PUT,
            &format!("{}/{id}/validate", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(r.ok()["certificateStatus"], "Active", "{}", r.text);
    id
}

/// Writes leaf.pem, issuer.pem (the intermediate) and root.pem for `id` into `dir`.
async fn write_pems(app: &TestApp, id: i64, dir: &Path) {
    let stored = app
        .core
        .store()
        .certificate_material(CertificateId(id))
        .await
        .unwrap()
        .unwrap();
    let der = stored.der.unwrap();
    let leaf = certkeeper_domain::pem::certificates([der.as_slice()]);
    std::fs::write(dir.join("leaf.pem"), leaf).unwrap();
    let chain = stored.chain_pem;
    let end = "-----END CERTIFICATE-----";
    let first = &chain[..chain.find(end).unwrap() + end.len()];
    std::fs::write(dir.join("issuer.pem"), format!("{first}\n")).unwrap();
    std::fs::write(dir.join("root.pem"), app.core.builtin_root_pem().unwrap()).unwrap();
}

async fn fetch_crl(app: &TestApp, dir: &Path) -> String {
    let r = app
        .http
        .get(format!("{}/pki/crl", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pkix-crl");
    std::fs::write(dir.join("crl.der"), r.bytes().await.unwrap()).unwrap();
    let (ok, text) = openssl(
        dir,
        &["crl", "-inform", "DER", "-in", "crl.der", "-text", "-noout"],
    );
    assert!(ok, "{text}");
    let (ok, pem) = openssl(
        dir,
        &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"],
    );
    assert!(ok, "{pem}");
    text
}

fn ocsp(dir: &Path, base: &str) -> String {
    let url = format!("{base}/pki/ocsp");
    let (ok, text) = openssl(
        dir,
        &[
            "ocsp",
            "-issuer",
            "issuer.pem",
            "-cert",
            "leaf.pem",
            "-url",
            &url,
            "-CAfile",
            "root.pem",
            "-no_nonce",
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("Response verify OK"), "{text}");
    text
}

async fn openssl_sees_a_revocation_through_crl_and_ocsp(db: Db) {
    let app = TestApp::spawn(db).await;
    let dir = tempfile::tempdir().unwrap();
    let id = issued(&app, "rev.example.test").await;
    write_pems(&app, id, dir.path()).await;

    // The leaf names where to check it.
    let (_, text) = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-text"]);
    assert!(
        text.contains(&format!("URI:{}/pki/crl", app.base)),
        "{text}"
    );
    assert!(
        text.contains(&format!("OCSP - URI:{}/pki/ocsp", app.base)),
        "{text}"
    );

    // Before: an empty CRL (published on first fetch) and OCSP "good".
    let crl = fetch_crl(&app, dir.path()).await;
    assert!(crl.contains("No Revoked Certificates"), "{crl}");
    assert!(crl.contains("Next Update"), "{crl}");
    let verify = [
        "verify",
        "-crl_check",
        "-CRLfile",
        "crl.pem",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "issuer.pem",
        "leaf.pem",
    ];
    let (ok, text) = openssl(dir.path(), &verify);
    assert!(ok && text.contains("leaf.pem: OK"), "{text}");
    let text = ocsp(dir.path(), &app.base);
    assert!(text.contains("leaf.pem: good"), "{text}");

    // A viewer may not revoke; a bad reason is refused before anything happens.
    let path = format!("{}/{id}/revoke", app.certs_path(&app.project));
    let viewer = app.key(Role::Viewer, Some(&app.project)).await;
    app.call(
        Method::POST,
        &path,
        Some(&viewer),
        Some(json!({"reason": "superseded"})),
    )
    .await
    .assert_error(403, "");
    app.call(
        Method::POST,
        &path,
        Some(&app.admin_key),
        Some(json!({"reason": "caCompromise"})),
    )
    .await
    .assert_error(400, "keyCompromise");

    let r = app
        .call(
            Method::POST,
            &path,
            Some(&app.admin_key),
            Some(json!({"reason": "keyCompromise"})),
        )
        .await;
    assert_eq!(r.ok()["certificateStatus"], "Revoked", "{}", r.text);
    app.call(
        Method::POST,
        &path,
        Some(&app.admin_key),
        Some(json!({"reason": "keyCompromise"})),
    )
    .await
    .assert_error(409, "already revoked");
    let got = app
        .call(
            Method::GET,
            &format!("{}/{id}", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(got.ok()["certificateStatus"], "Revoked");

    // OCSP answers from the database at once (this node's cache was dropped).
    let text = ocsp(dir.path(), &app.base);
    assert!(text.contains("leaf.pem: revoked"), "{text}");
    assert!(text.contains("Reason: keyCompromise"), "{text}");

    // The revocation made the CRL job due within two seconds: one scheduler round then signs
    // CRL number 2.
    let scheduler = Scheduler::new(
        app.core.clone(),
        SchedulerConfig::new(std::time::Duration::from_millis(200)),
    );
    app.clock.set(app.clock_now() + time::Duration::seconds(3));
    assert!(scheduler.tick().await.unwrap() >= 1);
    let crl = fetch_crl(&app, dir.path()).await;
    let serial = {
        let (_, s) = openssl(
            dir.path(),
            &["x509", "-in", "leaf.pem", "-noout", "-serial"],
        );
        s.trim().trim_start_matches("serial=").to_string()
    };
    assert!(
        crl.contains(&format!("Serial Number: {serial}")),
        "{serial}\n{crl}"
    );
    assert!(crl.contains("Key Compromise"), "{crl}");
    assert!(
        crl.contains("X509v3 CRL Number: \n                2"),
        "{crl}"
    );
    let (ok, text) = openssl(dir.path(), &verify);
    assert!(!ok && text.contains("certificate revoked"), "{text}");

    // The rest of certkeeper saw it too.
    assert_eq!(
        app.order_history(id).await,
        ["pending", "issued", "revoked"]
    );
    let changes = app
        .call(
            Method::GET,
            "/services/v2/order/certificate/status-changes?minutes=5",
            Some(&app.admin_key),
            None,
        )
        .await;
    assert!(
        changes.body["orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["certificate_id"] == id && o["status"] == "revoked"),
        "{}",
        changes.text
    );
    let expiring = app
        .call(
            Method::GET,
            "/services/v2/report/order/expiring",
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(
        expiring.body["expiring_orders"][0]["order_count"], 0,
        "a revoked certificate is not expiring: {}",
        expiring.text
    );
    let audit = app.core.audit_events(20).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "certificate.revoke" && e.detail.contains("keyCompromise")),
        "{audit:?}"
    );
    let events = app.core.store().pending_events(50).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event == "certificate.revoked" && e.certificate_id.0 == id),
        "{events:?}"
    );
}

async fn only_what_the_built_in_ca_issued_can_be_revoked(db: Db) {
    let app = TestApp::spawn(db).await;
    let (_, leaf) = certkeeper_testkit::leaves()[2];
    let imported = app.import(leaf).await;
    let imported = imported.ok()["id"].as_i64().unwrap();
    let revoke = |id: i64| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                &format!("{}/{id}/revoke", app.certs_path(&app.project)),
                Some(&app.admin_key),
                Some(json!({})),
            )
            .await
        }
    };
    revoke(imported).await.assert_error(409, "imported");
    let pending = create(&app, &["pend.example.test"]).await.ok()["id"]
        .as_i64()
        .unwrap();
    revoke(pending).await.assert_error(409, "not issued");
    revoke(999_999).await.assert_error(404, "");
    // No body at all means "unspecified".
    let id = issued(&app, "plain.example.test").await;
    let r = app
        .call(
            Method::POST,
            &format!("{}/{id}/revoke", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(r.ok()["certificateStatus"], "Revoked", "{}", r.text);
    // Another project's operator cannot reach it.
    let other = app.new_project("other").await;
    let stranger = app.key(Role::Operator, Some(&other)).await;
    let r = app
        .call(
            Method::POST,
            &format!("{}/{id}/revoke", app.certs_path(&other)),
            Some(&stranger),
            None,
        )
        .await;
    assert!(matches!(r.status, 403 | 404), "{}", r.text);
}
