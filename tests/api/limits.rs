//! Request limits, each answered in the surface's own error shape where a surface is known:
//! body size (413), names per order, page size and collection-query length (400), request
//! target length (414); header count and size are refused by the HTTP layer (431).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Db, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_answers_in_its_surface_shape() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let key = app.admin_key.clone();
    let certs = app.certs_path(&app.project);

    // Names per order: 100, the 101st is refused with the count.
    let names: Vec<String> = (0..100).map(|i| format!("n{i}.example.test")).collect();
    let r = app
        .call(
            Method::POST,
            &certs,
            Some(&key),
            Some(
                json!({"domainName": "example.test", "additionalDomainNames": names, "scopeId": 0}),
            ),
        )
        .await;
    r.assert_error(400, "at most 100 names");

    // Page size.
    let r = app
        .call(
            Method::GET,
            &format!("{certs}?PageSize=501"),
            Some(&key),
            None,
        )
        .await;
    r.assert_error(400, "PageSize");

    // A collection query over 4,000 characters, in Keyfactor's shape.
    let long = format!("CN -eq \"{}\"", "a".repeat(4_000));
    let r = app
        .call(
            Method::POST,
            "/CertificateCollections",
            Some(&key),
            Some(json!({"Name": "long", "Query": long})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["ErrorCode"], "0xA0140001");
    assert!(
        r.body["Message"].as_str().unwrap().contains("4000"),
        "{}",
        r.text
    );

    // A body over 1 MiB, in Keyfactor's shape too.
    let big = json!({"Name": "big", "Query": "x".repeat(2 * 1024 * 1024)});
    let r = app
        .call(
            Method::POST,
            "/CertificateCollections",
            Some(&key),
            Some(big),
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.body["ErrorCode"], "0xA0140013");

    // A request target over 8 KiB: 414 in every surface's shape.
    let pad = "q".repeat(9 * 1024);
    let get = |path: String| {
        let app = &app;
        let key = key.clone();
        async move {
            let r = app
                .http
                .get(format!("{}{path}", app.base))
                .header("X-API-Key", key)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (status, ct, r.text().await.unwrap())
        }
    };
    let (s, _, body) = get(format!("{certs}?x={pad}")).await;
    assert_eq!(s, 414);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["success"], false);
    assert!(v["errors"][0].as_str().unwrap().contains("8192"));
    let (s, _, body) = get(format!("/CertificateCollections?x={pad}")).await;
    assert_eq!(s, 414);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["ErrorCode"],
        "0xA0140014"
    );
    let (s, _, body) = get(format!("/services/v2/report/order/expiring?x={pad}")).await;
    assert_eq!(s, 414);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["errors"][0]["code"],
        "invalid_request|uri_too_long"
    );
    let (s, ct, _) = get(format!("/ui/inventory?x={pad}")).await;
    assert_eq!(s, 414);
    assert!(ct.starts_with("text/html"), "{ct}");
    let (s, ct, body) = get(format!("/acme/{}/directory?x={pad}", app.project.id)).await;
    assert_eq!(s, 414);
    assert_eq!(ct, "application/problem+json");
    assert!(
        body.contains("urn:ietf:params:acme:error:malformed"),
        "{body}"
    );

    // Headers: more than 100 fields, or a section over 64 KiB, is 431 before any handler.
    let mut many = app.http.get(format!("{}/healthz", app.base));
    for i in 0..120 {
        many = many.header(format!("x-pad-{i}"), "1");
    }
    assert_eq!(many.send().await.unwrap().status().as_u16(), 431);
    let huge = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-pad", "h".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status().as_u16(), 431);
    // And within the limits all is well.
    let fine = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-pad", "h".repeat(8 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status().as_u16(), 200);
}
