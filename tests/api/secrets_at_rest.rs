//! Secrets stay secret at rest: canary secrets go through the API and the dashboard (an
//! imported private key, API keys, a TSIG secret, a webhook secret, a dashboard session), then
//! the whole database is searched for them: the SQLite file with its WAL, or a `pg_dump` of
//! the PostgreSQL database (audit rows included). Logs are checked by `logs.rs`.

use base64::Engine;
use reqwest::Method;
use serde_json::json;

use crate::dashboard::Visitor;
use crate::support::{Db, TestApp, both_databases};

/// Every byte the database holds, as one buffer.
async fn database_bytes(app: &TestApp, db: Db) -> Vec<u8> {
    match db {
        Db::Sqlite => {
            let path = app
                .database_url()
                .strip_prefix("sqlite://")
                .expect("a sqlite:// URL")
                .split('?')
                .next()
                .unwrap_or_default()
                .to_string();
            let mut all = Vec::new();
            for suffix in ["", "-wal", "-journal"] {
                if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                    all.extend(bytes);
                }
            }
            assert!(all.len() > 10_000, "read the database file");
            all
        }
        Db::Postgres => {
            let out = tokio::process::Command::new("pg_dump")
                .args(["--no-owner", "--data-only", "-d", app.database_url()])
                .output()
                .await
                .expect("pg_dump (Debian's postgresql-client)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

async fn no_secret_is_stored_in_plaintext(db: Db) {
    let app = TestApp::spawn(db).await;
    let project = app.project.id;
    let b64 = base64::engine::general_purpose::STANDARD;

    // An imported certificate's private key.
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["canary.example.test".to_string()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "canary.example.test");
    let cert = params.self_signed(&key).expect("cert");
    let key_pem = key.serialize_pem();
    let key_der = key.serialize_der();
    app.call(
        Method::POST,
        &format!("{}/import", app.certs_path(&app.project)),
        Some(&app.admin_key),
        Some(
            json!({"certificateBody": cert.pem(), "certificatePrivateKey": key_pem, "scopeId": 0}),
        ),
    )
    .await
    .ok();
    // API keys: the bootstrap admin's and a new one, used once each.
    let other = app
        .key(certkeeper_domain::apikey::Role::Operator, None)
        .await;
    app.call(
        Method::GET,
        &app.certs_path(&app.project),
        Some(&other),
        None,
    )
    .await
    .ok();
    // A TSIG secret and a webhook secret.
    let tsig_bytes = b"canary-tsig-secret-0123456789abcdef";
    let tsig = b64.encode(tsig_bytes);
    app.call(
        Method::PUT,
        &format!("/api/v1/projects/{project}/validation"),
        Some(&app.admin_key),
        Some(json!({"dnsProvider": {"provider": "rfc2136", "server": "127.0.0.1:1", "zone": "example.test",
            "tsigKeyName": "k.", "tsigAlgorithm": "hmac-sha256", "tsigSecret": tsig}})),
    )
    .await
    .ok();
    let webhook_bytes = b"canary-webhook-secret-0123456789ab";
    let webhook = format!("whsec_{}", b64.encode(webhook_bytes));
    app.call(
        Method::POST,
        &format!("/api/v1/projects/{project}/notifications"),
        Some(&app.admin_key),
        Some(json!({"name": "canary", "events": ["certificate.issued"],
            "channel": {"type": "webhook", "url": "https://hooks.example.test/canary", "secret": webhook}})),
    )
    .await
    .ok();
    // A dashboard session.
    let mut v = Visitor::new(&app);
    v.sign_in(&app.admin_key).await;
    let session = v.session_cookie().expect("session");
    assert_eq!(v.get("/ui/").await.status, 200);

    let dump = database_bytes(&app, db).await;
    // The base64 body of the key's PEM, line by line (any line would give part of it away).
    let pem_lines: Vec<&str> = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .collect();
    let mut canaries: Vec<(&str, Vec<u8>)> = vec![
        ("the private key (DER)", key_der.clone()),
        ("the admin API key", app.admin_key.as_bytes().to_vec()),
        ("another API key", other.as_bytes().to_vec()),
        ("the TSIG secret", tsig.as_bytes().to_vec()),
        ("the TSIG secret's bytes", tsig_bytes.to_vec()),
        ("the webhook secret", webhook.as_bytes().to_vec()),
        ("the webhook secret's bytes", webhook_bytes.to_vec()),
        ("the session secret", session.as_bytes().to_vec()),
    ];
    for l in &pem_lines {
        canaries.push(("a line of the private key's PEM", l.as_bytes().to_vec()));
    }
    for (what, needle) in &canaries {
        assert!(
            !contains(&dump, needle),
            "{what} is in the database in plaintext"
        );
    }
    // The check can see: what is stored in the clear is found.
    assert!(
        contains(&dump, b"canary.example.test"),
        "the search reads the data"
    );
}

both_databases!(no_secret_is_stored_in_plaintext);
