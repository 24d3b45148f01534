//! revokeCert with the hand-made client: by the ordering account, by the certificate's own
//! key, and the refusals (another account, another key, bad reason, twice).

use base64::Engine as _;
use serde_json::{Value, json};

use super::{Client, ari_id, assert_problem, b64};
use crate::support::{Db, TestApp, both_databases};

both_databases!(revoke_cert_by_the_ordering_account_or_the_certificate_key);

/// The DER of the first certificate of a PEM chain.
fn leaf_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

async fn revoke_cert_by_the_ordering_account_or_the_certificate_key(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut owner = Client::new(&app).await;
    owner.register().await;
    let (_, pem) = owner.issue_dns01(&app, "rv1.example.test", None).await;
    let first = leaf_der(&pem.unwrap());
    let revoke = owner.url("revokeCert");

    // A reason a subscriber may not give, and garbage, are refused.
    let bad = owner
        .post(
            &revoke,
            Some(&json!({"certificate": b64(&first), "reason": 2})),
        )
        .await;
    assert_problem(&bad, 400, "badRevocationReason");
    let junk = owner
        .post(&revoke, Some(&json!({"certificate": "AAAA"})))
        .await;
    assert_problem(&junk, 400, "malformed");

    // Another account may not revoke it.
    let mut stranger = Client::new(&app).await;
    stranger.register().await;
    let refused = stranger
        .post(&revoke, Some(&json!({"certificate": b64(&first)})))
        .await;
    assert_problem(&refused, 403, "unauthorized");

    // Its own account may, once.
    let done = owner
        .post(
            &revoke,
            Some(&json!({"certificate": b64(&first), "reason": 4})),
        )
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert!(done.headers.contains_key("replay-nonce"));
    let again = owner
        .post(&revoke, Some(&json!({"certificate": b64(&first)})))
        .await;
    assert_problem(&again, 400, "alreadyRevoked");

    // ARI: a revoked certificate should be replaced now.
    let dir = tempfile::tempdir().unwrap();
    let pem_first = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD.encode(&first)
    );
    let id = ari_id(dir.path(), &pem_first);
    let info: Value = app
        .http
        .get(format!("{}/{id}", owner.url("renewalInfo")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let start = time::OffsetDateTime::parse(
        info["suggestedWindow"]["start"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(start <= app.core.now() + time::Duration::hours(1), "{info}");

    // The certificate's own key revokes without any account.
    let key = rcgen::KeyPair::generate().unwrap();
    let (_, pem) = owner
        .issue_dns01_keyed(&app, "rv2.example.test", None, &key)
        .await;
    let second = leaf_der(&pem.unwrap());
    let holder = Client::with_key(&app, &key.serialize_der()).await;
    let by_key = holder
        .post(
            &revoke,
            Some(&json!({"certificate": b64(&second), "reason": 1})),
        )
        .await;
    assert_eq!(by_key.status, 200, "{:?}", by_key.body);
    // Some other key, without an account, may not.
    let (_, pem) = owner.issue_dns01(&app, "rv3.example.test", None).await;
    let third = leaf_der(&pem.unwrap());
    let other = Client::new(&app).await;
    let refused = other
        .post(&revoke, Some(&json!({"certificate": b64(&third)})))
        .await;
    assert_problem(&refused, 403, "unauthorized");

    let certs = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/projects/{}/certificates", app.project.id),
            Some(&app.admin_key),
            None,
        )
        .await;
    let statuses: Vec<&str> = certs.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["certificateStatus"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["Revoked", "Revoked", "Active"], "{}", certs.text);
}
