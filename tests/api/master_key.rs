//! The master key: created once, and a wrong or missing one is a clear start-up error.

use certkeeper_core::masterkey::load_or_create;
use certkeeper_store::Store;

use crate::support::{Db, TestDb, both_databases};

both_databases!(wrong_or_missing_master_key_is_refused);

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
