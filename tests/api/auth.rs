//! Authentication and authorization on every endpoint.

use base64::Engine as _;
use certkeeper_domain::apikey::Role;
use certkeeper_testkit as fx;
use reqwest::Method;
use serde_json::json;

use crate::support::{Db, Resp, TestApp, both_databases};

both_databases!(
    every_endpoint_needs_a_key,
    every_header_form_works,
    roles_and_project_limits
);

/// Every route of the API, as (method, path, body) for a project and certificate id.
fn endpoints(
    app: &TestApp,
    project: &str,
    id: i64,
) -> Vec<(Method, String, Option<serde_json::Value>)> {
    let base = format!("/api/v1/projects/{project}/certificates");
    let _ = app;
    vec![
        (Method::GET, base.clone(), None),
        (
            Method::POST,
            format!("{base}/import"),
            Some(
                json!({"certificateBody": fx::P256_CERT, "certificatePrivateKey": fx::P256_KEY, "certificateChain": fx::CHAIN, "scopeId": 0}),
            ),
        ),
        (Method::GET, format!("{base}/{id}"), None),
        (
            Method::PUT,
            format!("{base}/{id}"),
            Some(json!({"scopeId": 0})),
        ),
        (Method::DELETE, format!("{base}/{id}"), None),
    ]
}

async fn every_endpoint_needs_a_key(db: Db) {
    let app = TestApp::spawn(db).await;
    let id = app.import(certkeeper_testkit::leaves()[0].1).await.ok()["id"]
        .as_i64()
        .unwrap();
    let project = app.project.id.to_string();
    for (method, path, body) in endpoints(&app, &project, id) {
        let r = app.call(method.clone(), &path, None, body.clone()).await;
        r.assert_error(401, "API key");
        let r = app
            .call(
                method.clone(),
                &path,
                Some("ck_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                body.clone(),
            )
            .await;
        r.assert_error(401, "API key");
        let r = app.call(method, &path, Some("garbage"), body).await;
        r.assert_error(401, "API key");
    }
    let raw = app
        .http
        .get(format!(
            "{}/api/v1/projects/{project}/certificates",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert!(raw.headers().get("www-authenticate").is_some());
}

async fn every_header_form_works(db: Db) {
    let app = TestApp::spawn(db).await;
    let url = format!("{}{}", app.base, app.certs_path(&app.project));
    let key = app.admin_key.clone();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("keyfactor-user:{key}"));
    let requests = [
        app.http.get(&url).header("X-API-Key", &key),
        app.http
            .get(&url)
            .header("Authorization", format!("Bearer {key}")),
        app.http.get(&url).header("X-DC-DEVKEY", &key),
        app.http
            .get(&url)
            .header("Authorization", format!("Basic {basic}")),
    ];
    for req in requests {
        Resp::read(req.send().await.unwrap()).await.ok();
    }
}

async fn roles_and_project_limits(db: Db) {
    let app = TestApp::spawn(db).await;
    let other = app.new_project("other").await;
    let id = app.import(certkeeper_testkit::leaves()[0].1).await.ok()["id"]
        .as_i64()
        .unwrap();
    let main = app.project.id.to_string();

    // A viewer reads but cannot change anything.
    let viewer = app.key(Role::Viewer, None).await;
    for (method, path, body) in endpoints(&app, &main, id) {
        let r = app.call(method.clone(), &path, Some(&viewer), body).await;
        if method == Method::GET {
            r.ok();
        } else {
            r.assert_error(403, "read-only");
        }
    }

    // An operator limited to `other`: 403 on the main project, for every route, and the same
    // 403 for a project that does not exist at all (no hint of what exists).
    let limited = app.key(Role::Operator, Some(&other)).await;
    let missing = uuid::Uuid::new_v4().to_string();
    for project in [&main, &missing] {
        for (method, path, body) in endpoints(&app, project, id) {
            app.call(method, &path, Some(&limited), body)
                .await
                .assert_error(403, "limited to another project");
        }
    }
    // ...and works in its own project.
    let r = app
        .import_into(&other, &limited, certkeeper_testkit::leaves()[2].1, 0)
        .await;
    let own = r.ok()["id"].as_i64().unwrap();
    for (method, path, body) in endpoints(&app, &other.id.to_string(), own) {
        let r = app.call(method.clone(), &path, Some(&limited), body).await;
        if method == Method::POST {
            r.assert_error(409, "already in project");
        } else {
            r.ok();
        }
    }
    // An unlimited key sees 404 for a project that does not exist.
    for (method, path, body) in endpoints(&app, &missing, id) {
        app.call(method, &path, Some(&app.admin_key), body)
            .await
            .assert_error(404, "project");
    }
}
