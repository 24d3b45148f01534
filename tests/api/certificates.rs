//! The project certificates API: import, list, get, update scope, delete.

use certkeeper_testkit::{self as fx, Leaf};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Db, TestApp, both_databases};

both_databases!(
    imports_every_fixture_with_all_fields,
    imports_traditional_key_encodings,
    refuses_bad_imports,
    refuses_duplicates_naming_the_existing_id,
    refuses_oversized_bodies,
    pages_listings,
    reads_updates_and_deletes,
    shares_organization_certificates,
    keys_are_sealed_at_rest,
    a_sealed_key_moved_to_another_record_does_not_open,
    audits_every_change,
    concurrent_imports_are_all_counted,
);

fn leaf(name: &str) -> Leaf {
    fx::leaves()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, l)| l)
        .expect("fixture")
}

async fn imports_every_fixture_with_all_fields(db: Db) {
    let app = TestApp::spawn(db).await;
    let expected = [
        ("rsa2048", "rsa2048.example.test", "RSA 2048", "Active"),
        ("rsa4096", "rsa4096.example.test", "RSA 4096", "Active"),
        ("p256", "p256.example.test", "ECDSA P-256", "Active"),
        ("p384", "p384.example.test", "ECDSA P-384", "Active"),
        ("ed25519", "ed25519.example.test", "Ed25519", "Active"),
        ("wildcard", "*.wild.example.test", "ECDSA P-256", "Active"),
        (
            "san100",
            "host000.many.example.test",
            "ECDSA P-256",
            "Active",
        ),
        ("idn", "xn--bcher-kva.example.test", "ECDSA P-256", "Active"),
        ("expired", "expired.example.test", "ECDSA P-256", "Expired"),
        (
            "future",
            "future.example.test",
            "ECDSA P-256",
            "NotYetValid",
        ),
    ];
    for (name, domain, pki, status) in expected {
        let r = app.import(leaf(name)).await;
        assert!(
            !r.text.contains("PRIVATE KEY"),
            "{name}: a response must never hold a key"
        );
        let c = r.ok();
        assert_eq!(r.body["messages"], json!(["Certificate imported."]));
        assert_eq!(c["domainName"], domain, "{name}");
        assert_eq!(c["publicKeyInfo"], pki, "{name}");
        assert_eq!(c["certificateStatus"], status, "{name}");
        assert_eq!(c["certificateType"], "Imported");
        assert_eq!(
            c["signatureAlgorithm"], "sha256WithRSAEncryption",
            "issued by the RSA intermediate"
        );
        assert_eq!(
            c["issuer"],
            "O=certkeeper Tests,CN=certkeeper Test Intermediate RSA"
        );
        assert_eq!(c["projectId"], app.project.id.to_string());
        assert_eq!(c["scopeId"], 0);
        assert_eq!(c["scopeOptions"], json!({"Project": 0, "Organization": 1}));
        assert_eq!(c["dnsRecords"], json!([]));
        assert_eq!(c["certificateChallenge"], Value::Null);
        assert!(c["id"].as_i64().unwrap() > 0);
        uuid::Uuid::parse_str(c["sslCertificateId"].as_str().unwrap()).unwrap();
        let serial = c["serialNumber"].as_str().unwrap();
        assert!(
            !serial.is_empty()
                && serial
                    .chars()
                    .all(|ch| ch.is_ascii_digit() || ch.is_ascii_uppercase()),
            "{serial}"
        );
        for field in ["notBefore", "notAfter", "lastModified"] {
            let v = c[field].as_str().unwrap();
            assert!(v.ends_with('Z') && v.len() == 24, "{field} = {v}");
        }
    }
    let r = app
        .call(
            Method::GET,
            &format!("{}/1", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    let c = r.ok();
    assert_eq!(c["notAfter"], "2124-12-31T00:00:00.000Z");
    assert_eq!(c["notBefore"], "2025-01-01T00:00:00.000Z");
    // The wildcard's base name and the 99 other names of san100.
    let list = app
        .call(
            Method::GET,
            &format!("{}?PageSize=100", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await;
    let items = list.ok().as_array().unwrap().clone();
    let wild = items
        .iter()
        .find(|i| i["domainName"] == "*.wild.example.test")
        .unwrap();
    assert_eq!(wild["additionalNames"], "wild.example.test");
    let many = items
        .iter()
        .find(|i| i["domainName"] == "host000.many.example.test")
        .unwrap();
    assert_eq!(
        many["additionalNames"].as_str().unwrap().split(',').count(),
        99
    );
}

async fn imports_traditional_key_encodings(db: Db) {
    let app = TestApp::spawn(db).await;
    for (cert, key) in [
        (fx::RSA2048_CERT, fx::RSA2048_PKCS1_KEY),
        (fx::P256_CERT, fx::P256_SEC1_KEY),
        (fx::P384_CERT, fx::P384_SEC1_KEY),
    ] {
        app.import(Leaf {
            cert,
            key,
            chain: fx::CHAIN,
        })
        .await
        .ok();
    }
    // Certificate and chain in one body; no separate chain.
    let p2 = app.new_project("second").await;
    let body = format!("{}{}", fx::P256_CERT, fx::CHAIN);
    app.import_into(
        &p2,
        &app.admin_key,
        Leaf {
            cert: Box::leak(body.into_boxed_str()),
            key: fx::P256_KEY,
            chain: "",
        },
        0,
    )
    .await
    .ok();
}

async fn refuses_bad_imports(db: Db) {
    let app = TestApp::spawn(db).await;
    let path = format!("{}/import", app.certs_path(&app.project));
    let k = Some(app.admin_key.as_str());
    let base = json!({"certificateBody": fx::P256_CERT, "certificatePrivateKey": fx::P256_KEY, "certificateChain": fx::CHAIN, "scopeId": 0});
    let with = |field: &str, value: Value| {
        let mut b = base.clone();
        b[field] = value;
        b
    };
    let without = |field: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with("certificatePrivateKey", json!(fx::UNRELATED_P256_KEY)),
            "does not match the certificate's public key",
        ),
        (
            with("certificatePrivateKey", json!(fx::RSA2048_KEY)),
            "the certificate has an ECDSA P-256 key, the private key is RSA",
        ),
        (
            with("certificateChain", json!(fx::CHAIN_WRONG_ORDER)),
            "out of order",
        ),
        (with("certificateChain", json!(fx::ROOT)), "does not link"),
        (
            with("certificateBody", json!("not a certificate")),
            "certificateBody",
        ),
        (
            with(
                "certificateBody",
                json!("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            ),
            "not a valid X.509 certificate",
        ),
        (
            with("certificateBody", json!(fx::P256_KEY)),
            "holds no CERTIFICATE block",
        ),
        (
            with("certificateBody", json!("")),
            "certificateBody is empty",
        ),
        (
            with("certificatePrivateKey", json!("")),
            "certificatePrivateKey is empty",
        ),
        (
            with(
                "certificatePrivateKey",
                json!(
                    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----"
                ),
            ),
            "encrypted",
        ),
        (
            with("certificatePrivateKey", json!(fx::P256_CERT)),
            "certificatePrivateKey",
        ),
        (
            with("certificateChain", json!("garbage")),
            "certificateChain",
        ),
        (
            with("scopeId", json!(2)),
            "scopeId must be 0 (Project) or 1 (Organization), got 2",
        ),
        (with("scopeId", json!(-1)), "scopeId must be 0"),
        (with("scopeId", json!("x")), "invalid JSON body"),
        (with("certificateBody", json!(42)), "invalid JSON body"),
        (without("scopeId"), "scopeId is required"),
        (without("certificateBody"), "certificateBody is required"),
        (
            without("certificatePrivateKey"),
            "certificatePrivateKey is required",
        ),
        // An array is not an object (serde would read a struct from it).
        (json!([1, 2]), "must be a JSON object"),
    ];
    for (body, needle) in cases {
        app.call(Method::POST, &path, k, Some(body))
            .await
            .assert_error(400, needle);
    }
    // Not JSON at all, and no body.
    let r = app
        .http
        .post(format!("{}{path}", app.base))
        .header("X-API-Key", &app.admin_key)
        .body("{nope")
        .send()
        .await
        .unwrap();
    crate::support::Resp::read(r)
        .await
        .assert_error(400, "invalid JSON body");
    let r = app
        .http
        .post(format!("{}{path}", app.base))
        .header("X-API-Key", &app.admin_key)
        .send()
        .await
        .unwrap();
    crate::support::Resp::read(r)
        .await
        .assert_error(400, "must be a JSON object");
    // Unknown fields are ignored.
    app.call(
        Method::POST,
        &path,
        k,
        Some(with("somethingElse", json!(true))),
    )
    .await
    .ok();
    // Nothing but that last import was stored.
    let list = app
        .call(Method::GET, &app.certs_path(&app.project), k, None)
        .await;
    assert_eq!(list.body["resultInfo"]["totalCount"], 1);
}

async fn refuses_duplicates_naming_the_existing_id(db: Db) {
    let app = TestApp::spawn(db).await;
    let first = app.import(leaf("p256")).await.ok()["id"].as_i64().unwrap();
    app.import(leaf("p256"))
        .await
        .assert_error(409, &format!("as certificate {first}"));
    // The same certificate in another project is a separate record.
    let other = app.new_project("other").await;
    app.import_into(&other, &app.admin_key, leaf("p256"), 0)
        .await
        .ok();
}

async fn refuses_oversized_bodies(db: Db) {
    let app = TestApp::spawn(db).await;
    let big = "A".repeat(certkeeper_server::BODY_LIMIT + 10);
    let body = json!({"certificateBody": big, "certificatePrivateKey": "", "scopeId": 0});
    app.call(
        Method::POST,
        &format!("{}/import", app.certs_path(&app.project)),
        Some(&app.admin_key),
        Some(body),
    )
    .await
    .assert_error(413, "larger than");
}

async fn pages_listings(db: Db) {
    let app = TestApp::spawn(db).await;
    let names = ["rsa2048", "p256", "p384", "ed25519", "wildcard"];
    let mut ids = Vec::new();
    for n in names {
        ids.push(app.import(leaf(n)).await.ok()["id"].as_i64().unwrap());
    }
    let base = app.certs_path(&app.project);
    let k = Some(app.admin_key.as_str());
    let page = |q: &'static str| {
        let path = format!("{base}{q}");
        let app = &app;
        async move { app.call(Method::GET, &path, k, None).await }
    };
    let r = page("").await;
    assert_eq!(r.ok().as_array().unwrap().len(), 5);
    assert_eq!(
        r.body["resultInfo"],
        json!({"totalCount": 5, "pageIndex": 1, "pageSize": 20, "totalPages": 1, "hasNextPage": false, "hasPreviousPage": false})
    );
    let r = page("?PageIndex=1&PageSize=2").await;
    let got: Vec<i64> = r
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids[0..2]);
    assert_eq!(
        r.body["resultInfo"],
        json!({"totalCount": 5, "pageIndex": 1, "pageSize": 2, "totalPages": 3, "hasNextPage": true, "hasPreviousPage": false})
    );
    let r = page("?pageIndex=3&pageSize=2").await;
    let got: Vec<i64> = r
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids[4..5]);
    assert_eq!(r.body["resultInfo"]["hasNextPage"], false);
    assert_eq!(r.body["resultInfo"]["hasPreviousPage"], true);
    let r = page("?PageIndex=10&PageSize=2").await;
    assert_eq!(r.ok(), &json!([]));
    assert_eq!(
        r.body["resultInfo"],
        json!({"totalCount": 5, "pageIndex": 10, "pageSize": 2, "totalPages": 3, "hasNextPage": false, "hasPreviousPage": true})
    );
    let item = &page("?PageSize=1").await.body["result"][0];
    let keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "id",
        "distributionId",
        "sslCertificateId",
        "domainName",
        "additionalNames",
        "certificateType",
        "certificateStatus",
        "scope",
        "lastModified",
    ] {
        assert!(keys.contains(&k), "list item lacks {k}: {item}");
    }
    assert_eq!(item["scope"], "Project");
    page("?PageSize=0")
        .await
        .assert_error(400, "PageSize must be between 1 and 500");
    page("?PageSize=501")
        .await
        .assert_error(400, "PageSize must be between 1 and 500");
    page("?PageIndex=0")
        .await
        .assert_error(400, "PageIndex must be 1 or more");
    page("?PageIndex=abc")
        .await
        .assert_error(400, "PageIndex must be an integer");
    page("?PageSize=500").await.ok();
}

async fn reads_updates_and_deletes(db: Db) {
    let app = TestApp::spawn(db).await;
    let id = app.import(leaf("p256")).await.ok()["id"].as_i64().unwrap();
    let path = format!("{}/{id}", app.certs_path(&app.project));
    let k = Some(app.admin_key.as_str());
    let got = app.call(Method::GET, &path, k, None).await;
    assert_eq!(got.ok()["domainName"], "p256.example.test");
    assert_eq!(got.body["resultInfo"], Value::Null);
    let before = got.ok()["lastModified"].as_str().unwrap().to_string();

    app.clock.set(app.clock_now() + time::Duration::minutes(5));
    let up = app
        .call(Method::PUT, &path, k, Some(json!({"scopeId": 1})))
        .await;
    assert_eq!(up.ok()["scopeId"], 1);
    assert_eq!(up.body["messages"], json!(["Certificate updated."]));
    assert_ne!(up.ok()["lastModified"].as_str().unwrap(), before);
    assert_eq!(
        app.call(Method::GET, &path, k, None).await.ok()["scopeId"],
        1
    );

    app.call(Method::PUT, &path, k, Some(json!({"scopeId": 7})))
        .await
        .assert_error(400, "scopeId must be 0");
    app.call(Method::PUT, &path, k, Some(json!({})))
        .await
        .assert_error(400, "scopeId is required");
    app.call(Method::PUT, &path, k, Some(json!({"scopeId": "1"})))
        .await
        .assert_error(400, "invalid JSON body");

    let del = app.call(Method::DELETE, &path, k, None).await;
    assert_eq!(del.ok()["id"], id);
    assert_eq!(del.body["messages"], json!(["Certificate deleted."]));
    app.call(Method::GET, &path, k, None)
        .await
        .assert_error(404, &format!("certificate {id} not found"));
    app.call(Method::DELETE, &path, k, None)
        .await
        .assert_error(404, "not found");
    app.call(Method::PUT, &path, k, Some(json!({"scopeId": 0})))
        .await
        .assert_error(404, "not found");
    let list = app
        .call(Method::GET, &app.certs_path(&app.project), k, None)
        .await;
    assert_eq!(list.body["resultInfo"]["totalCount"], 0);
    // Bad ids.
    let base = app.certs_path(&app.project);
    app.call(Method::GET, &format!("{base}/abc"), k, None)
        .await
        .assert_error(400, "id must be a non-negative integer");
    app.call(Method::GET, &format!("{base}/-4"), k, None)
        .await
        .assert_error(400, "id must be a non-negative integer");
    app.call(Method::GET, &format!("{base}/999999"), k, None)
        .await
        .assert_error(404, "not found");
    app.call(
        Method::GET,
        "/api/v1/projects/not-a-uuid/certificates",
        k,
        None,
    )
    .await
    .assert_error(400, "projectId must be a UUID");
    app.call(
        Method::GET,
        &format!("/api/v1/projects/{}/certificates", uuid::Uuid::new_v4()),
        k,
        None,
    )
    .await
    .assert_error(404, "project");
}

async fn shares_organization_certificates(db: Db) {
    let app = TestApp::spawn(db).await;
    let other = app.new_project("other").await;
    let k = Some(app.admin_key.as_str());
    let shared = app
        .import_into(&app.project, &app.admin_key, leaf("p256"), 1)
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let private = app
        .import_into(&app.project, &app.admin_key, leaf("p384"), 0)
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let own = app
        .import_into(&other, &app.admin_key, leaf("ed25519"), 0)
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();

    let list = app
        .call(Method::GET, &app.certs_path(&other), k, None)
        .await;
    let ids: Vec<i64> = list
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![shared, own]);
    assert_eq!(list.body["resultInfo"]["totalCount"], 2);
    assert_eq!(list.body["result"][0]["scope"], "Organization");
    assert_eq!(
        list.body["result"][0]["projectId"],
        app.project.id.to_string()
    );

    let in_other = |id: i64| format!("{}/{id}", app.certs_path(&other));
    app.call(Method::GET, &in_other(shared), k, None).await.ok();
    app.call(Method::GET, &in_other(private), k, None)
        .await
        .assert_error(404, "not found");
    app.call(
        Method::PUT,
        &in_other(shared),
        k,
        Some(json!({"scopeId": 0})),
    )
    .await
    .assert_error(403, "only its own project");
    app.call(Method::DELETE, &in_other(shared), k, None)
        .await
        .assert_error(403, "only its own project");
    app.call(Method::DELETE, &in_other(private), k, None)
        .await
        .assert_error(404, "not found");

    // Back to Project scope: no longer visible elsewhere, and the counts follow.
    app.call(
        Method::PUT,
        &format!("{}/{shared}", app.certs_path(&app.project)),
        k,
        Some(json!({"scopeId": 0})),
    )
    .await
    .ok();
    let list = app
        .call(Method::GET, &app.certs_path(&other), k, None)
        .await;
    assert_eq!(list.body["resultInfo"]["totalCount"], 1);
    app.call(Method::GET, &in_other(shared), k, None)
        .await
        .assert_error(404, "not found");
    let main = app
        .call(Method::GET, &app.certs_path(&app.project), k, None)
        .await;
    assert_eq!(main.body["resultInfo"]["totalCount"], 2);
}

async fn keys_are_sealed_at_rest(db: Db) {
    let app = TestApp::spawn(db).await;
    let id = app.import(leaf("p256")).await.ok()["id"].as_i64().unwrap();
    let stored = app
        .core
        .store()
        .certificate_material(certkeeper_domain::ids::CertificateId(id))
        .await
        .unwrap()
        .unwrap();
    let sealed = stored.private_key_sealed.expect("a sealed key");
    let key = certkeeper_domain::keys::PrivateKey::parse(fx::P256_KEY).unwrap();
    assert!(
        sealed.len() >= key.der().len() + 28,
        "nonce and tag around the ciphertext"
    );
    assert!(
        !sealed
            .windows(16)
            .any(|w| key.der().windows(16).any(|k| k == w)),
        "no run of the key in clear"
    );
    assert!(stored.chain_pem.contains("BEGIN CERTIFICATE"));
}

/// A sealed key is bound to its record (AEAD associated data): copied onto another
/// certificate's row, as an attacker with write access to the database might, it no longer
/// decrypts, and nothing of it is served.
async fn a_sealed_key_moved_to_another_record_does_not_open(db: Db) {
    let app = TestApp::spawn(db).await;
    let a = app.import(leaf("p256")).await.ok()["id"].as_i64().unwrap();
    let b = app.import(leaf("p384")).await.ok()["id"].as_i64().unwrap();
    let exporter = app.export_key(certkeeper_domain::apikey::Role::Admin).await;
    let key_of = |id: i64| format!("{}/{id}/private-key", app.certs_path(&app.project));
    assert_eq!(
        app.call(Method::GET, &key_of(a), Some(&exporter), None)
            .await
            .status,
        200
    );
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(app.database_url()).await.unwrap();
    let moved: Vec<u8> =
        sqlx::query_scalar("SELECT private_key_sealed FROM certificates WHERE id = $1")
            .bind(b)
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query("UPDATE certificates SET private_key_sealed = $1 WHERE id = $2")
        .bind(moved)
        .bind(a)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let r = app
        .call(Method::GET, &key_of(a), Some(&exporter), None)
        .await;
    assert_eq!(r.status, 500, "{}", r.text);
    assert!(!r.text.contains("PRIVATE KEY"), "{}", r.text);
    // The key's own record still opens.
    assert_eq!(
        app.call(Method::GET, &key_of(b), Some(&exporter), None)
            .await
            .status,
        200
    );
}

async fn audits_every_change(db: Db) {
    let app = TestApp::spawn(db).await;
    let id = app.import(leaf("p256")).await.ok()["id"].as_i64().unwrap();
    let path = format!("{}/{id}", app.certs_path(&app.project));
    app.call(
        Method::PUT,
        &path,
        Some(&app.admin_key),
        Some(json!({"scopeId": 1})),
    )
    .await
    .ok();
    app.call(Method::DELETE, &path, Some(&app.admin_key), None)
        .await
        .ok();
    // Refused requests change nothing and record nothing.
    app.import(Leaf {
        key: fx::UNRELATED_P256_KEY,
        ..leaf("p256")
    })
    .await
    .assert_error(400, "does not match");
    let events = app.core.audit_events(10).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        &actions[..3],
        [
            "certificate.delete",
            "certificate.update_scope",
            "certificate.import"
        ]
    );
    for e in &events[..3] {
        assert!(
            e.actor.starts_with("apikey:") && e.actor.ends_with(":test-admin"),
            "{}",
            e.actor
        );
        assert_eq!(e.target, format!("certificate:{id}"));
        assert_eq!(e.project, Some(app.project.id));
    }
    assert!(events[1].detail.contains("\"to\":\"Organization\""));
}

async fn concurrent_imports_are_all_counted(db: Db) {
    let app = TestApp::spawn(db).await;
    let leaves: Vec<Leaf> = fx::leaves().into_iter().map(|(_, l)| l).collect();
    // Every fixture, twice at once: each lands exactly once, the twin gets 409.
    let results =
        futures::future::join_all(leaves.iter().chain(leaves.iter()).map(|l| app.import(*l))).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    let dup = results.iter().filter(|r| r.status == 409).count();
    assert_eq!(
        (ok, dup),
        (leaves.len(), leaves.len()),
        "{:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let list = app
        .call(
            Method::GET,
            &app.certs_path(&app.project),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(list.body["resultInfo"]["totalCount"], leaves.len());
}
