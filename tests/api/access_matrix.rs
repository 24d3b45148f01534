//! The access matrix, generated from the router: every operation the served OpenAPI document
//! lists (utoipa-axum registers each handler in the router and the document at once) × every
//! kind of caller. A route added later is in the matrix without editing this test; a read
//! route no rule below covers fails it until its rule is written.
//!
//! - No key, a malformed key, a revoked key, an expired key: 401 on every operation, in the
//!   surface's shape, before anything else is looked at.
//! - Reads: each caller gets exactly its documented status (200 or 403).
//! - Writes: no caller without the right ever gets a 2xx (bodies here are minimal, so a
//!   permitted caller may get 400; the flows' own tests cover successful writes).
//! - Another project's certificates: 403 with the same body whether or not the id exists.
//! - A dashboard session (viewer, operator, admin), sent as the browser sends it (its cookie,
//!   no key): 401 on every operation. The API takes keys only, so a page on another site
//!   that makes a signed-in browser post to the API gets nothing done.

use certkeeper_domain::apikey::Role;
use certkeeper_domain::audit::Actor;
use reqwest::Method;
use serde_json::{Value, json};

use crate::dashboard::Visitor;
use crate::support::{Db, Resp, TestApp, both_databases};

both_databases!(
    every_route_by_every_caller,
    every_page_by_every_session,
    protocol_routes_ignore_keys_and_sessions
);

/// The callers of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoKey,
    Malformed,
    Revoked,
    Expired,
    Viewer,
    OperatorOwn,
    OperatorOther,
    CollectionScoped,
    AdminOwnProject,
    Admin,
    SessionViewer,
    SessionOperator,
    SessionAdmin,
}

const CALLERS: [Caller; 13] = [
    Caller::NoKey,
    Caller::Malformed,
    Caller::Revoked,
    Caller::Expired,
    Caller::Viewer,
    Caller::OperatorOwn,
    Caller::OperatorOther,
    Caller::CollectionScoped,
    Caller::AdminOwnProject,
    Caller::Admin,
    Caller::SessionViewer,
    Caller::SessionOperator,
    Caller::SessionAdmin,
];

impl Caller {
    /// Callers the API must refuse with 401 whatever the route.
    fn unauthenticated(self) -> bool {
        matches!(
            self,
            Caller::NoKey
                | Caller::Malformed
                | Caller::Revoked
                | Caller::Expired
                | Caller::SessionViewer
                | Caller::SessionOperator
                | Caller::SessionAdmin
        )
    }
}

/// What a caller sends.
#[derive(Debug, Clone)]
enum Credential {
    None,
    Key(String),
    /// The dashboard's session cookie, as a signed-in browser sends it.
    Session(String),
}

/// Who may use a route, by its documented rule (docs/api.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Any key that reaches the project in the path (not collection-scoped ones).
    Project,
    /// Operator or admin keys that reach the project.
    ProjectWrite,
    /// Admin keys that reach the project (its settings, its ACME accounts).
    ProjectAdmin,
    /// Keys granted private-key export (none of this matrix's callers).
    Export,
    /// Admin keys that reach every project and every collection.
    SystemAdmin,
    /// Reports: every key, each seeing only what it reaches.
    Reports,
    /// DigiCert's reports: every key but collection-scoped ones (those read Keyfactor's).
    DigiCertReports,
}

fn rule(method: &Method, path: &str) -> Option<Rule> {
    let read = method == Method::GET;
    let project = path.starts_with("/api/v1/projects/{projectId}");
    Some(
        if path.starts_with("/api/v1/api-keys") || path == "/api/v1/jobs" {
            Rule::SystemAdmin
        } else if project && path.ends_with("/private-key") {
            Rule::Export
        } else if project
            && (path.ends_with("/validation")
                || path.ends_with("/renewal")
                || path.contains("/acme/accounts/")
                || (!read && path == "/api/v1/projects/{projectId}"))
        {
            Rule::ProjectAdmin
        } else if project {
            if read {
                Rule::Project
            } else {
                Rule::ProjectWrite
            }
        } else if path.starts_with("/services/v2/") && read {
            Rule::DigiCertReports
        } else if path.starts_with("/CertificateCollections")
            || path.starts_with("/KeyfactorAPI/")
            || path.starts_with("/Analytics/")
        {
            if read {
                Rule::Reports
            } else {
                Rule::SystemAdmin
            }
        } else {
            return None;
        },
    )
}

fn allowed(rule: Rule, caller: Caller) -> bool {
    use Caller::*;
    if caller.unauthenticated() {
        return false;
    }
    match rule {
        Rule::Project => !matches!(caller, OperatorOther | CollectionScoped),
        Rule::ProjectWrite => matches!(caller, OperatorOwn | AdminOwnProject | Admin),
        Rule::ProjectAdmin => matches!(caller, AdminOwnProject | Admin),
        Rule::Export => false,
        Rule::SystemAdmin => caller == Admin,
        Rule::Reports => true,
        Rule::DigiCertReports => caller != CollectionScoped,
    }
}

/// Query parameters a read needs to be answered at all.
fn query_for(path: &str, collection: i64) -> String {
    if path.ends_with("/Analytics/Certificates/Issuance") {
        format!("?collectionId={collection}&TotalPeriods=2")
    } else if path.ends_with("/status-changes") {
        "?minutes=60".into()
    } else {
        String::new()
    }
}

/// A collection and a viewer key granted it alone (reports only): its id and the key.
async fn granted_collection(app: &TestApp) -> (i64, String) {
    let collection = app
        .call(
            Method::POST,
            "/CertificateCollections",
            Some(&app.admin_key),
            Some(json!({"Name": "granted", "Query": "CN -contains \"example\""})),
        )
        .await
        .body["Id"]
        .as_i64()
        .unwrap();
    let key = app
        .core
        .create_api_key(
            Actor::Cli,
            "reports",
            Role::Viewer,
            None,
            false,
            &[certkeeper_domain::ids::CollectionId(collection)],
        )
        .await
        .unwrap();
    (collection, key.secret.expose().to_string())
}

async fn every_route_by_every_caller(db: Db) {
    let app = TestApp::spawn(db).await;
    let other = app.core.create_project(Actor::Cli, "other").await.unwrap();
    let cert = app.import(certkeeper_testkit::leaves()[0].1).await.ok()["id"]
        .as_i64()
        .unwrap();
    let make = |role, project: Option<&certkeeper_domain::project::Project>| {
        let app = &app;
        let project = project.cloned();
        async move { app.key(role, project.as_ref()).await }
    };
    let revoked = app
        .core
        .create_api_key(Actor::Cli, "revoked", Role::Admin, None, false, &[])
        .await
        .unwrap();
    app.core.revoke_api_key(None, revoked.key.id).await.unwrap();
    let expired = app
        .core
        .create_api_key_with(
            Actor::Cli,
            &certkeeper_core::admin::KeySpec {
                name: "expiring".into(),
                role: Role::Admin,
                project: None,
                allow_key_export: true,
                collections: vec![],
                expires_at: Some(app.clock_now() + time::Duration::seconds(5)),
            },
        )
        .await
        .unwrap();
    let (collection, scoped) = granted_collection(&app).await;
    let session = |role| {
        let app = &app;
        async move {
            let key = app.key(role, None).await;
            let mut visitor = Visitor::new(app);
            visitor.sign_in(&key).await;
            Credential::Session(visitor.session_cookie().expect("a session cookie"))
        }
    };
    use Credential::Key;
    let key_of = [
        (Caller::NoKey, Credential::None),
        (Caller::Malformed, Key("ck_not-a-real-key".to_string())),
        (Caller::Revoked, Key(revoked.secret.expose().to_string())),
        (Caller::Expired, Key(expired.secret.expose().to_string())),
        (Caller::Viewer, Key(make(Role::Viewer, None).await)),
        (
            Caller::OperatorOwn,
            Key(make(Role::Operator, Some(&app.project)).await),
        ),
        (
            Caller::OperatorOther,
            Key(make(Role::Operator, Some(&other)).await),
        ),
        (Caller::CollectionScoped, Key(scoped.clone())),
        (
            Caller::AdminOwnProject,
            Key(make(Role::Admin, Some(&app.project)).await),
        ),
        (Caller::Admin, Key(app.admin_key.clone())),
        (Caller::SessionViewer, session(Role::Viewer).await),
        (Caller::SessionOperator, session(Role::Operator).await),
        (Caller::SessionAdmin, session(Role::Admin).await),
    ];
    // Past the expired key's end, well inside the sessions' idle time.
    app.clock.set(app.clock_now() + time::Duration::seconds(10));

    let doc = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .body;
    let mut operations: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    assert!(operations.len() >= 45, "{} operations", operations.len());

    let rule_id = app
        .call(
            Method::POST,
            &format!("/api/v1/projects/{}/notifications", app.project.id),
            Some(&app.admin_key),
            Some(json!({"name": "matrix", "events": ["certificate.issued"],
                "channel": {"type": "webhook", "url": "https://hooks.example.test/m"}})),
        )
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    // Reads first and deletions last, so the fixtures outlive the matrix.
    let order = |m: &str| match m {
        "GET" => 0,
        "DELETE" => 2,
        _ => 1,
    };
    operations.sort_by_key(|(m, p)| (order(m), p.clone()));

    let mut failures = Vec::new();
    for (method, template) in &operations {
        let id = if template.contains("api-keys") {
            revoked.key.id.0
        } else if template.contains("CertificateCollections") {
            collection
        } else {
            cert
        };
        let path = template
            .replace("{projectId}", &app.project.id.to_string())
            .replace("{id}", &id.to_string())
            .replace("{ruleId}", &rule_id.to_string())
            .replace("{accountId}", "missing");
        let method: Method = method.parse().unwrap();
        let path = if method == Method::GET {
            format!("{path}{}", query_for(template, collection))
        } else {
            path
        };
        let Some(rule) = rule(&method, template) else {
            failures.push(format!("{method} {template}: no rule; add one"));
            continue;
        };
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        for caller in CALLERS {
            let credential = &key_of.iter().find(|(c, _)| *c == caller).unwrap().1;
            let r = send(&app, method.clone(), &path, credential, body.clone()).await;
            let permitted = allowed(rule, caller);
            let ok = if caller.unauthenticated() {
                r.status == 401 && !r.body.is_null()
            } else if method == Method::GET {
                r.status == if permitted { 200 } else { 403 }
            } else if permitted {
                // A minimal body may be refused, but never for want of rights.
                !matches!(r.status, 401 | 403) && r.status < 500
            } else {
                !(200..300).contains(&r.status) && r.status < 500
            };
            if !ok {
                failures.push(format!(
                    "{method} {template} as {caller:?} ({rule:?}): {} {}",
                    r.status,
                    r.text.chars().take(160).collect::<String>()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Another project's certificate: the same 403 whether or not the id exists.
    let Key(operator_other) = key_of[6].1.clone() else {
        panic!("the operator of another project has a key")
    };
    let certs = app.certs_path(&app.project);
    let a = app
        .call(
            Method::GET,
            &format!("{certs}/{cert}"),
            Some(&operator_other),
            None,
        )
        .await;
    let b = app
        .call(
            Method::GET,
            &format!("{certs}/987654321"),
            Some(&operator_other),
            None,
        )
        .await;
    assert_eq!((a.status, &a.text), (403, &b.text));
    let _: Value = a.body;
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    credential: &Credential,
    body: Option<Value>,
) -> Resp {
    match credential {
        Credential::None => app.call(method, path, None, body).await,
        Credential::Key(key) => app.call(method, path, Some(key), body).await,
        Credential::Session(cookie) => {
            let mut req = app
                .http
                .request(method, format!("{}{path}", app.base))
                .header(reqwest::header::COOKIE, format!("ck_session={cookie}"));
            if let Some(b) = body {
                req = req.json(&b);
            }
            Resp::read(req.send().await.expect("request")).await
        }
    }
}

/// Who signs in to the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    Anonymous,
    Viewer,
    Operator,
    Admin,
    CollectionScoped,
}

/// The dashboard's routes, from the same table the router is built from
/// (`certkeeper_server::web::page_rules`) × every kind of visitor. Reads answer 200 to the
/// roles that may read them and 403 to the others; a write with the session's CSRF token is
/// refused (403) to those without the right and never refused for want of rights to those
/// with it; a write without the token is 403 to everyone; without a session every page sends
/// the visitor to sign in.
async fn every_page_by_every_session(db: Db) {
    use certkeeper_server::web::PageRule;
    let app = TestApp::spawn(db).await;
    let cert = app.import(certkeeper_testkit::leaves()[0].1).await.ok()["id"]
        .as_i64()
        .unwrap();
    let (collection, scoped) = granted_collection(&app).await;
    let mut rules = certkeeper_server::web::page_rules();
    assert!(rules.len() >= 25, "{} routes", rules.len());
    // Signing out ends the session: last.
    rules.sort_by_key(|(_, path, _)| *path == "/ui/logout");
    let mut failures = Vec::new();
    for visit in [
        Visit::Anonymous,
        Visit::Viewer,
        Visit::Operator,
        Visit::Admin,
        Visit::CollectionScoped,
    ] {
        let mut visitor = Visitor::new(&app);
        let key = match visit {
            Visit::Anonymous => None,
            Visit::Viewer => Some(app.key(Role::Viewer, None).await),
            Visit::Operator => Some(app.key(Role::Operator, None).await),
            Visit::Admin => Some(app.key(Role::Admin, None).await),
            Visit::CollectionScoped => Some(scoped.clone()),
        };
        let csrf = match &key {
            Some(k) => {
                visitor.sign_in(k).await;
                visitor.get("/ui/").await.field("csrf")
            }
            None => String::new(),
        };
        for (method, template, rule) in &rules {
            let path = template
                .replace(
                    "{id}",
                    &if template.contains("collections") {
                        collection.to_string()
                    } else {
                        cert.to_string()
                    },
                )
                .replace("{*path}", "app.css");
            let read = *method == Method::GET;
            let page = if read {
                visitor.get(&path).await
            } else {
                visitor.post(&path, &[("csrf", &csrf)]).await
            };
            let signed_in = visit != Visit::Anonymous;
            let ok = match (rule, visit) {
                // The sign-in form without its double-submit token is refused (403).
                (PageRule::Public, _) if !read => page.status < 500,
                (PageRule::Public, _) => page.status < 400,
                (_, Visit::Anonymous) if read => {
                    page.status == 303
                        && page
                            .location
                            .as_deref()
                            .is_some_and(|l| l.starts_with("/ui/login"))
                }
                (_, Visit::Anonymous) => !(200..300).contains(&page.status) && page.status < 500,
                // A collection-limited key reads its charts: the inventory and certificates
                // answer it 403, other pages show no project.
                (PageRule::Read, Visit::CollectionScoped) if read => {
                    page.status
                        == if path.starts_with("/ui/inventory")
                            || path.starts_with("/ui/certificates/")
                        {
                            403
                        } else {
                            200
                        }
                }
                (PageRule::Read, _) if read => page.status == 200,
                (PageRule::Read, _) => page.status < 400, // sign-out
                (PageRule::Write, Visit::Viewer | Visit::CollectionScoped) => page.status == 403,
                (PageRule::Write, _) => !matches!(page.status, 401 | 403) && page.status < 500,
                (PageRule::Admin, Visit::Admin) => page.status == 200,
                (PageRule::Admin, _) => page.status == 403,
            };
            if !ok {
                failures.push(format!(
                    "{method} {template} as {visit:?} ({rule:?}): {} {:?} {}",
                    page.status,
                    page.location,
                    page.body.chars().take(120).collect::<String>()
                ));
            }
            // A write without the session's CSRF token is refused whoever sends it.
            if !read && signed_in && *rule != PageRule::Public && *template != "/ui/logout" {
                let forged = visitor.post(&path, &[]).await;
                if forged.status != 403 {
                    failures.push(format!(
                        "{method} {template} as {visit:?} without CSRF: {}",
                        forged.status
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The ACME and revocation routes (from the tables their routers are built from) × no
/// credentials, an admin API key, an admin's dashboard session. ACME requests are authorized
/// by their JWS alone and the CRL and OCSP are public, so a key or a session changes nothing:
/// every route answers the three alike, and an ACME POST without a valid JWS is a problem
/// document, never a success.
async fn protocol_routes_ignore_keys_and_sessions(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_in(&app.admin_key).await;
    let cookie = format!("ck_session={}", visitor.session_cookie().unwrap());
    let project = app.project.id.to_string();
    let mut routes: Vec<(Method, String)> = certkeeper_server::acme::route_list()
        .into_iter()
        .map(|(m, p)| (m, p.to_string()))
        .collect();
    routes.extend(certkeeper_server::pki::route_list());
    assert!(routes.len() >= 15, "{} routes", routes.len());
    let mut failures = Vec::new();
    for (method, template) in &routes {
        let path = template
            .replace("{project}", &project)
            .replace("{authz}", "missing")
            .replace("{kind}", "dns-01")
            .replace("{id}", "missing")
            .replace("{*request}", "MAMGAQ");
        let mut seen = Vec::new();
        for credential in ["none", "key", "session"] {
            let mut req = app
                .http
                .request(method.clone(), format!("{}{path}", app.base));
            match credential {
                "key" => req = req.header("X-API-Key", &app.admin_key),
                "session" => req = req.header(reqwest::header::COOKIE, &cookie),
                _ => {}
            }
            if *method == Method::POST {
                let content_type = if template.starts_with("/acme/") {
                    "application/jose+json"
                } else {
                    "application/ocsp-request"
                };
                req = req
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body("{}");
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let content_type = r
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if status >= 500 {
                failures.push(format!("{method} {template} with {credential}: {status}"));
            }
            if *method == Method::POST
                && template.starts_with("/acme/")
                && ((200..300).contains(&status) || content_type != "application/problem+json")
            {
                failures.push(format!(
                    "{method} {template} with {credential} and no JWS: {status} {content_type}"
                ));
            }
            seen.push(status);
        }
        if seen.iter().any(|s| *s != seen[0]) {
            failures.push(format!(
                "{method} {template}: none/key/session answered {seen:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
