//! The error paths of a library client, instant-acme (the ACME client Rust services embed),
//! unchanged, against certkeeper's ACME server: a nonce that went stale between two requests
//! is answered `badNonce` with a fresh one, which the library retries with on its own; an
//! order left past its expiry reads `invalid` and cannot be finalized.

use instant_acme::{Account, Identifier, NewAccount, NewOrder, OrderStatus};

use crate::support::{Db, TestApp, both_databases};

both_databases!(a_stale_nonce_is_retried_and_an_expired_order_is_invalid);

/// instant-acme over plain HTTP (the test server has no TLS; the library's own client is
/// HTTPS only).
fn plain_http() -> Box<dyn instant_acme::HttpClient> {
    let client: hyper_util::client::legacy::Client<_, instant_acme::BodyWrapper<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    Box::new(client)
}

/// How many ACME requests the server answered 400, from its own metrics.
async fn acme_400s(app: &TestApp) -> u64 {
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("certkeeper_http_requests_total")
                && l.contains("route=\"/acme/")
                && l.contains("status=\"400\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

async fn a_stale_nonce_is_retried_and_an_expired_order_is_invalid(db: Db) {
    let app = TestApp::spawn(db).await;
    let directory = format!("{}/acme/{}/directory", app.base, app.project.id);
    let (account, _) = Account::builder_with_http(plain_http())
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            directory,
            None,
        )
        .await
        .expect("account");
    let ids = [Identifier::Dns("stale.example.test".into())];
    let mut order = account.new_order(&NewOrder::new(&ids)).await.unwrap();
    assert_eq!(order.state().status, OrderStatus::Pending);
    let before = acme_400s(&app).await;

    // The nonce the order kept from its last answer is older than nonces live (30 min):
    // refused as badNonce, and the library goes again with the one that answer carried.
    app.clock.set(app.clock_now() + time::Duration::minutes(31));
    let state = order
        .refresh()
        .await
        .expect("refreshed after a badNonce retry");
    assert_eq!(state.status, OrderStatus::Pending);
    assert_eq!(
        acme_400s(&app).await,
        before + 1,
        "one badNonce, then success"
    );

    // Past its expiry (7 days) the order is invalid, and finalizing it is refused.
    app.clock.set(app.clock_now() + time::Duration::days(8));
    let state = order.refresh().await.unwrap();
    assert_eq!(state.status, OrderStatus::Invalid, "{state:?}");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["stale.example.test".into()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).unwrap();
    let refused = order.finalize_csr(csr.der()).await.unwrap_err();
    let text = refused.to_string();
    assert!(text.contains("orderNotReady"), "{text}");
}
