//! The OpenAPI document covers every route, and unknown routes answer in the envelope.

use reqwest::Method;

use crate::support::{Db, TestApp};

/// Every route the server answers. Adding a route means adding it here, and the test then
/// fails until the route is also in the generated document.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/projects/{projectId}/certificates"),
    ("post", "/api/v1/projects/{projectId}/certificates"),
    (
        "put",
        "/api/v1/projects/{projectId}/certificates/{id}/validate",
    ),
    (
        "get",
        "/api/v1/projects/{projectId}/certificates/{id}/download",
    ),
    (
        "get",
        "/api/v1/projects/{projectId}/certificates/{id}/private-key",
    ),
    ("post", "/api/v1/projects/{projectId}/certificates/import"),
    ("get", "/api/v1/projects/{projectId}"),
    ("put", "/api/v1/projects/{projectId}"),
    ("get", "/api/v1/projects/{projectId}/certificates/{id}"),
    ("put", "/api/v1/projects/{projectId}/certificates/{id}"),
    ("delete", "/api/v1/projects/{projectId}/certificates/{id}"),
    (
        "post",
        "/api/v1/projects/{projectId}/certificates/{id}/renew",
    ),
    (
        "post",
        "/api/v1/projects/{projectId}/certificates/{id}/revoke",
    ),
    // Lifecycle settings and jobs.
    ("get", "/api/v1/projects/{projectId}/validation"),
    ("put", "/api/v1/projects/{projectId}/validation"),
    ("get", "/api/v1/projects/{projectId}/renewal"),
    ("put", "/api/v1/projects/{projectId}/renewal"),
    ("get", "/api/v1/jobs"),
    // The ACME accounts of a project.
    ("get", "/api/v1/projects/{projectId}/acme/accounts"),
    (
        "post",
        "/api/v1/projects/{projectId}/acme/accounts/{accountId}/deactivate",
    ),
    // API keys.
    ("get", "/api/v1/api-keys"),
    ("post", "/api/v1/api-keys"),
    ("get", "/api/v1/api-keys/{id}"),
    ("post", "/api/v1/api-keys/{id}/revoke"),
    ("post", "/api/v1/api-keys/{id}/rotate"),
    ("get", "/api/v1/projects/{projectId}/notifications"),
    ("post", "/api/v1/projects/{projectId}/notifications"),
    ("get", "/api/v1/projects/{projectId}/notifications/{ruleId}"),
    ("put", "/api/v1/projects/{projectId}/notifications/{ruleId}"),
    (
        "delete",
        "/api/v1/projects/{projectId}/notifications/{ruleId}",
    ),
    (
        "get",
        "/api/v1/projects/{projectId}/notifications/{ruleId}/deliveries",
    ),
    // Keyfactor, at the root and under the base path its clients are configured with.
    ("get", "/Analytics/Certificates/Issuance"),
    ("get", "/CertificateCollections"),
    ("post", "/CertificateCollections"),
    ("put", "/CertificateCollections"),
    ("get", "/CertificateCollections/{id}"),
    ("delete", "/CertificateCollections/{id}"),
    ("get", "/KeyfactorAPI/Analytics/Certificates/Issuance"),
    ("get", "/KeyfactorAPI/CertificateCollections"),
    ("post", "/KeyfactorAPI/CertificateCollections"),
    ("put", "/KeyfactorAPI/CertificateCollections"),
    ("get", "/KeyfactorAPI/CertificateCollections/{id}"),
    ("delete", "/KeyfactorAPI/CertificateCollections/{id}"),
    // DigiCert CertCentral.
    ("get", "/services/v2/report/order/expiring"),
    ("get", "/services/v2/order/certificate/status-changes"),
];

#[tokio::test]
async fn openapi_lists_every_route() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        r.body["openapi"]
    );
    let paths = r.body["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} missing from /openapi.json"
        );
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "a documented route is missing from ROUTES: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    // The same document the library builds.
    let lib = serde_json::to_value(certkeeper_server::openapi()).unwrap();
    assert_eq!(lib["paths"], r.body["paths"]);
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_envelope() {
    let app = TestApp::spawn(Db::Sqlite).await;
    app.call(Method::GET, "/api/v2/projects", Some(&app.admin_key), None)
        .await
        .assert_error(404, "no such endpoint");
    let path = app.certs_path(&app.project);
    app.call(Method::PATCH, &path, Some(&app.admin_key), None)
        .await
        .assert_error(405, "method not allowed");
}
