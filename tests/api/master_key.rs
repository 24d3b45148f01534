//! The master key: created once, and a wrong or missing one is a clear start-up error.

use certkeeper_core::masterkey::load_or_create;
use certkeeper_store::Store;

use crate::support::{Db, TestDb, both_databases};

both_databases!(
    wrong_or_missing_master_key_is_refused,
    rotation_re_encrypts_everything_and_resumes
);

/// Every kind of sealed secret, a rotation interrupted after two batches and finished by a
/// second run; afterwards every secret opens under the new key (and only under it), the
/// server starts on it, and a ciphertext from before the rotation no longer opens on its row.
async fn rotation_re_encrypts_everything_and_resumes(db: Db) {
    use base64::Engine as _;
    use certkeeper_core::keyrotation::{RotateOptions, RotationOutcome, rotate, verify};
    use reqwest::Method;
    use serde_json::json;

    let app = crate::support::TestApp::spawn(db).await;
    let project = app.project.id;
    let exporter = app.export_key(certkeeper_domain::apikey::Role::Admin).await;
    let mut ids = Vec::new();
    for (_, leaf) in certkeeper_testkit::leaves().into_iter().take(3) {
        ids.push(app.import(leaf).await.ok()["id"].as_i64().unwrap());
    }
    let tsig = base64::engine::general_purpose::STANDARD.encode(b"rotation-tsig-secret-0123456789");
    app.call(
        Method::PUT,
        &format!("/api/v1/projects/{project}/validation"),
        Some(&app.admin_key),
        Some(json!({"dnsProvider": {"provider": "rfc2136", "server": "127.0.0.1:1", "zone": "example.test",
            "tsigKeyName": "k.", "tsigAlgorithm": "hmac-sha256", "tsigSecret": tsig}})),
    )
    .await
    .ok();
    app.call(
        Method::POST,
        &format!("/api/v1/projects/{project}/notifications"),
        Some(&app.admin_key),
        Some(json!({"name": "hook", "events": ["certificate.issued"],
            "channel": {"type": "webhook", "url": "https://hooks.example.test/x"}})),
    )
    .await
    .ok();
    app.core.create_acme_eab_key(&app.project).await.unwrap();
    let store = app.core.store().clone();
    let key_path = app.key_file();
    let before = store
        .sealed_batch(certkeeper_store::SealedKind::CertificateKey, None, 1)
        .await
        .unwrap()
        .remove(0);

    // Interrupted after two batches of one row: the server refuses to start meanwhile.
    let options = RotateOptions {
        batch_size: 1,
        stop_after_batches: Some(2),
    };
    let first = rotate(&store, &key_path, options).await.unwrap();
    assert_eq!(first, RotationOutcome::Interrupted { batches: 2 });
    let e = load_or_create(&store, &key_path)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("rotation is under way"), "{e}");

    let second = rotate(&store, &key_path, RotateOptions::default())
        .await
        .unwrap();
    let RotationOutcome::Done {
        version,
        resealed,
        already,
        verified,
    } = second
    else {
        panic!("not finished: {second:?}")
    };
    assert_eq!(version, 2);
    assert_eq!(
        already, 2,
        "the first run's two rows are kept, not sealed twice"
    );
    assert_eq!(resealed["certificate private keys"], 1);
    assert_eq!(resealed["DNS provider settings"], 1);
    assert_eq!(resealed["notification channels"], 1);
    assert_eq!(resealed["ACME EAB keys"], 1);
    assert_eq!(resealed["built-in CA keys"], 2);
    assert_eq!(verified, 3 + 1 + 1 + 1 + 2);

    // The new key file opens the database; the retired one does not.
    let new_key = load_or_create(&store, &key_path)
        .await
        .expect("rotated key loads");
    assert_eq!(new_key.version(), 2);
    assert_eq!(verify(&store, &new_key).await.unwrap(), verified);
    let mut retired = key_path.as_os_str().to_owned();
    retired.push(".v1.retired");
    let old_text = std::fs::read_to_string(&retired).unwrap();
    let old_key = certkeeper_domain::sealing::MasterKey::from_hex(&old_text).unwrap();
    assert!(verify(&store, &old_key).await.is_err());

    // A server on the rotated key hands back the same private key it held before.
    let core = certkeeper_core::Core::new(store.clone(), app.clock.clone(), new_key);
    let who = core.authenticate(&exporter).await.unwrap();
    let pem = core
        .export_private_key(&who, project, certkeeper_domain::ids::CertificateId(ids[0]))
        .await
        .unwrap();
    assert!(pem.contains("PRIVATE KEY"));

    // A ciphertext from before the rotation, put back on its own row, does not open.
    let after = store
        .sealed_batch(certkeeper_store::SealedKind::CertificateKey, None, 1)
        .await
        .unwrap()
        .remove(0);
    store
        .reseal(
            certkeeper_store::SealedKind::CertificateKey,
            &[certkeeper_store::Reseal {
                key: after.key.clone(),
                old: after.sealed.clone(),
                new: before.sealed.clone(),
            }],
        )
        .await
        .unwrap();
    let reloaded = load_or_create(&store, &key_path).await.unwrap();
    assert!(verify(&store, &reloaded).await.is_err());

    // A third run starts a rotation to version 3 and stops on the replayed old value.
    let e = rotate(&store, &key_path, RotateOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("opens under neither"), "{e}");
}

async fn wrong_or_missing_master_key_is_refused(db: Db) {
    let tdb = TestDb::new(db).await;
    let store = Store::connect(&tdb.url).await.unwrap();
    let first = tdb.dir.path().join("keys/master.key");
    load_or_create(&store, &first)
        .await
        .expect("created on first start");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&first).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    load_or_create(&store, &first)
        .await
        .expect("the same key opens again");

    let missing = tdb.dir.path().join("elsewhere.key");
    let e = load_or_create(&store, &missing)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not exist, but this database was initialised"),
        "{e}"
    );
    assert!(
        !missing.exists(),
        "no new key is made for an initialised database"
    );

    let other = tdb.dir.path().join("other.key");
    std::fs::write(
        &other,
        certkeeper_domain::sealing::MasterKey::generate()
            .unwrap()
            .to_hex()
            .as_str(),
    )
    .unwrap();
    let e = load_or_create(&store, &other)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is not the one this database was initialised with"),
        "{e}"
    );

    std::fs::write(&other, "not hex").unwrap();
    let e = load_or_create(&store, &other)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("64 hex digits"), "{e}");
    store.close().await;
}
