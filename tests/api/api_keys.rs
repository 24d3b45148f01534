//! The API key lifecycle over HTTP: create with an expiry, list, revoke (on every node within
//! the cache time), coarse last use, rotation with an overlap, failed authentications audited
//! by prefix; and the per-key rate limit in every surface's shape. Time moves by the clock.

use certkeeper_core::ratelimit::RateLimit;
use certkeeper_domain::apikey::Role;
use reqwest::Method;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use crate::dashboard::Visitor;
use crate::support::{Db, TestApp, both_databases};

both_databases!(
    created_with_an_expiry_then_expired,
    revoked_on_every_node_within_the_cache_time,
    last_use_is_coarse,
    rotation_keeps_grants_and_overlaps,
    only_unlimited_admins_manage_keys,
    failed_authentications_are_audited_by_prefix,
    rate_limited_in_every_surface_shape
);

const KEYS: &str = "/api/v1/api-keys";

fn at(app: &TestApp, seconds: i64) -> String {
    (app.clock_now() + time::Duration::seconds(seconds))
        .format(&Rfc3339)
        .unwrap()
}

fn advance(app: &TestApp, seconds: i64) {
    app.clock
        .set(app.clock_now() + time::Duration::seconds(seconds));
}

/// Creates a key over HTTP; returns (id, secret, the whole result).
async fn create(app: &TestApp, body: Value) -> (i64, String, Value) {
    let r = app
        .call(Method::POST, KEYS, Some(&app.admin_key), Some(body))
        .await;
    let result = r.ok().clone();
    (
        result["apiKey"]["id"].as_i64().unwrap(),
        result["secret"].as_str().unwrap().to_string(),
        result,
    )
}

async fn works(app: &TestApp, key: &str) -> u16 {
    app.call(Method::GET, &app.certs_path(&app.project), Some(key), None)
        .await
        .status
}

/// The audit records about failed authentications, newest first.
async fn failures(app: &TestApp) -> Vec<(String, Value)> {
    app.core
        .audit_events(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "auth.failure")
        .map(|e| (e.target, serde_json::from_str(&e.detail).unwrap()))
        .collect()
}

/// Waits for the off-path audit write of a failure (it is spawned, not awaited).
async fn wait_for_failures(app: &TestApp, n: usize) -> Vec<(String, Value)> {
    for _ in 0..100 {
        let f = failures(app).await;
        if f.len() >= n {
            return f;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "expected {n} auth.failure records, have {:?}",
        failures(app).await
    );
}

async fn created_with_an_expiry_then_expired(db: Db) {
    let app = TestApp::spawn(db).await;
    let project = app.project.id.to_string();
    let (id, secret, result) = create(
        &app,
        json!({"name": "ci", "role": "operator", "projectId": project, "expiresAt": at(&app, 3600)}),
    )
    .await;
    assert_eq!(result["apiKey"]["state"], "active");
    assert_eq!(result["apiKey"]["role"], "operator");
    assert_eq!(result["apiKey"]["projectId"], project.as_str());
    assert_eq!(result["apiKey"]["prefix"], &secret[..12]);
    assert!(result["apiKey"]["expiresAt"].is_string());
    assert_eq!(works(&app, &secret).await, 200);

    // Listed without its secret.
    let list = app
        .call(Method::GET, KEYS, Some(&app.admin_key), None)
        .await;
    assert!(!list.text.contains(&secret));
    let listed = list
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .cloned()
        .unwrap();
    assert_eq!(listed["name"], "ci");

    // A past expiry is refused, naming the field.
    let r = app
        .call(
            Method::POST,
            KEYS,
            Some(&app.admin_key),
            Some(json!({"name": "old", "role": "viewer", "expiresAt": at(&app, -1)})),
        )
        .await;
    r.assert_error(400, "expiry");
    let r = app
        .call(
            Method::POST,
            KEYS,
            Some(&app.admin_key),
            Some(json!({"name": "old", "role": "viewer", "expiresAt": "tomorrow"})),
        )
        .await;
    r.assert_error(400, "expiresAt");

    // An hour later it no longer works, and says nothing about why.
    advance(&app, 3601);
    let r = app
        .call(
            Method::GET,
            &app.certs_path(&app.project),
            Some(&secret),
            None,
        )
        .await;
    r.assert_error(401, "API key");
    let one = app
        .call(
            Method::GET,
            &format!("{KEYS}/{id}"),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(one.ok()["state"], "expired");
    let f = wait_for_failures(&app, 1).await;
    assert_eq!(f[0].0, format!("apikey-prefix:{}", &secret[..12]));
    assert_eq!(f[0].1["reason"], "expired");
    assert_eq!(f[0].1["keyId"], id);
}

async fn revoked_on_every_node_within_the_cache_time(db: Db) {
    let app = TestApp::spawn(db).await;
    let other = app.second_node().await;
    let (id, secret, _) = create(&app, json!({"name": "svc", "role": "viewer"})).await;
    // The other node has seen (and cached) the key.
    other.authenticate(&secret).await.unwrap();
    assert_eq!(works(&app, &secret).await, 200);

    let r = app
        .call(
            Method::POST,
            &format!("{KEYS}/{id}/revoke"),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(r.ok()["state"], "revoked");
    // At once on the node that revoked it.
    assert_eq!(works(&app, &secret).await, 401);
    // Revoking again changes nothing and is not an error.
    let again = app
        .call(
            Method::POST,
            &format!("{KEYS}/{id}/revoke"),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(again.ok()["revokedAt"], r.body["result"]["revokedAt"]);
    let revocations = app
        .core
        .audit_events(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "apikey.revoke" && e.target == format!("apikey:{id}"))
        .count();
    assert_eq!(revocations, 1);

    // The other node within its cache time (10 s), and not after it.
    advance(&app, 11);
    assert!(other.authenticate(&secret).await.is_err());

    // Unknown ids are 404; junk ids 400.
    let r = app
        .call(
            Method::POST,
            &format!("{KEYS}/999999/revoke"),
            Some(&app.admin_key),
            None,
        )
        .await;
    r.assert_error(404, "999999");
    let r = app
        .call(
            Method::POST,
            &format!("{KEYS}/x/revoke"),
            Some(&app.admin_key),
            None,
        )
        .await;
    r.assert_error(400, "positive integer");
}

async fn last_use_is_coarse(db: Db) {
    let app = TestApp::spawn(db).await;
    let (id, secret, created) = create(&app, json!({"name": "svc", "role": "viewer"})).await;
    assert!(created["apiKey"]["lastUsedAt"].is_null());
    let last_used = || async {
        app.core
            .store()
            .api_key(certkeeper_domain::ids::ApiKeyId(id))
            .await
            .unwrap()
            .unwrap()
            .key
            .last_used_at
    };
    let first = app.clock_now();
    assert_eq!(works(&app, &secret).await, 200);
    let mut seen = None;
    for _ in 0..100 {
        seen = last_used().await;
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let seen = seen.expect("last use recorded");
    assert_eq!(seen.unix_timestamp(), first.unix_timestamp());

    // Within the minute: no new write, whatever the number of requests.
    advance(&app, 30);
    for _ in 0..20 {
        assert_eq!(works(&app, &secret).await, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        last_used().await.unwrap().unix_timestamp(),
        first.unix_timestamp()
    );

    // A minute on, the next request records it again.
    advance(&app, 31);
    let later = app.clock_now();
    assert_eq!(works(&app, &secret).await, 200);
    for _ in 0..100 {
        if last_used().await.unwrap().unix_timestamp() == later.unix_timestamp() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the later use was not recorded");
}

async fn rotation_keeps_grants_and_overlaps(db: Db) {
    let app = TestApp::spawn(db).await;
    let project = app.project.id.to_string();
    let (id, old_secret, _) = create(
        &app,
        json!({"name": "deployer", "role": "operator", "projectId": project, "allowKeyExport": true}),
    )
    .await;
    let r = app
        .call(
            Method::POST,
            &format!("{KEYS}/{id}/rotate"),
            Some(&app.admin_key),
            Some(json!({"overlapSeconds": 600})),
        )
        .await;
    let result = r.ok().clone();
    let new_secret = result["secret"].as_str().unwrap().to_string();
    let new_key = &result["apiKey"];
    assert_ne!(new_secret, old_secret);
    for field in ["name", "role", "projectId", "allowKeyExport", "collections"] {
        assert_eq!(
            new_key[field], result["previous"][field],
            "{field} carried over"
        );
    }
    assert_eq!(result["previous"]["replacedBy"], new_key["id"]);
    assert!(result["previous"]["expiresAt"].is_string());

    // Both work during the overlap.
    assert_eq!(works(&app, &old_secret).await, 200);
    assert_eq!(works(&app, &new_secret).await, 200);
    // A key has one successor.
    let again = app
        .call(
            Method::POST,
            &format!("{KEYS}/{id}/rotate"),
            Some(&app.admin_key),
            None,
        )
        .await;
    again.assert_error(409, "already rotated");

    // After the overlap only the new one does.
    advance(&app, 601);
    assert_eq!(works(&app, &old_secret).await, 401);
    assert_eq!(works(&app, &new_secret).await, 200);

    // Out-of-range overlaps are refused.
    let new_id = new_key["id"].as_i64().unwrap();
    let r = app
        .call(
            Method::POST,
            &format!("{KEYS}/{new_id}/rotate"),
            Some(&app.admin_key),
            Some(json!({"overlapSeconds": -5})),
        )
        .await;
    r.assert_error(400, "overlap");
    let audit = app.core.audit_events(50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "apikey.rotate" && e.target == format!("apikey:{id}"))
    );
    let dump = serde_json::to_string(
        &audit
            .iter()
            .map(|e| format!("{} {}", e.target, e.detail))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(!dump.contains(&new_secret) && !dump.contains(&old_secret));
}

async fn only_unlimited_admins_manage_keys(db: Db) {
    let app = TestApp::spawn(db).await;
    let scoped_admin = app.key(Role::Admin, Some(&app.project)).await;
    let operator = app.key(Role::Operator, None).await;
    for key in [&scoped_admin, &operator] {
        let r = app.call(Method::GET, KEYS, Some(key), None).await;
        r.assert_error(403, "admin key");
        let r = app
            .call(
                Method::POST,
                KEYS,
                Some(key),
                Some(json!({"name": "x", "role": "admin"})),
            )
            .await;
        r.assert_error(403, "admin key");
    }
    let r = app.call(Method::GET, KEYS, None, None).await;
    r.assert_error(401, "API key");
    let r = app
        .call(
            Method::POST,
            KEYS,
            Some(&app.admin_key),
            Some(json!({"name": "x", "role": "root"})),
        )
        .await;
    r.assert_error(400, "unknown role");
}

async fn failed_authentications_are_audited_by_prefix(db: Db) {
    let app = TestApp::spawn(db).await;
    let (_, secret, _) = create(&app, json!({"name": "svc", "role": "viewer"})).await;
    // The right prefix with a wrong secret.
    let mut wrong = secret.clone();
    wrong.replace_range(40.., "AAAAAA");
    assert_eq!(works(&app, &wrong).await, 401);
    let f = wait_for_failures(&app, 1).await;
    assert_eq!(f[0].0, format!("apikey-prefix:{}", &secret[..12]));
    assert_eq!(f[0].1["reason"], "wrong secret");

    // A burst of the same failure writes no more records within the minute...
    for _ in 0..20 {
        assert_eq!(works(&app, &wrong).await, 401);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(failures(&app).await.len(), 1);
    // ...and the next record counts them.
    advance(&app, 61);
    assert_eq!(works(&app, &wrong).await, 401);
    let f = wait_for_failures(&app, 2).await;
    assert_eq!(f[0].1["alsoFailedSinceLastRecord"], 20);

    // Something that is not a certkeeper token is recorded without any of it.
    assert_eq!(works(&app, "hunter2-my-password").await, 401);
    let f = wait_for_failures(&app, 3).await;
    assert_eq!(f[0].0, "apikey-prefix:-");
    assert_eq!(f[0].1["reason"], "malformed");
    let everything = serde_json::to_string(&failures(&app).await).unwrap();
    assert!(!everything.contains(&wrong) && !everything.contains("hunter2"));
}

async fn rate_limited_in_every_surface_shape(db: Db) {
    let app = TestApp::spawn_rate_limited(
        db,
        RateLimit {
            burst: 3,
            per_second: 1,
        },
    )
    .await;
    let key = app.key(Role::Admin, None).await;
    let certs = app.certs_path(&app.project);
    for _ in 0..3 {
        assert_eq!(works(&app, &key).await, 200);
    }
    let over = |path: String| {
        let app = &app;
        let key = key.clone();
        async move {
            let r = app
                .http
                .get(format!("{}{path}", app.base))
                .header("X-API-Key", &key)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 429, "{path}");
            assert_eq!(r.headers()["retry-after"], "1", "{path}");
            r.json::<Value>().await.unwrap()
        }
    };
    let body = over(certs.clone()).await;
    assert_eq!(body["success"], false);
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("too many requests")
    );
    let body = over("/CertificateCollections".into()).await;
    assert_eq!(body["ErrorCode"], "0xA0140029");
    let body = over("/services/v2/report/order/expiring".into()).await;
    assert_eq!(body["errors"][0]["code"], "request_limit_exceeded");

    // Another key has its own bucket; this one refills with time.
    assert_eq!(works(&app, &app.admin_key).await, 200);
    advance(&app, 1);
    assert_eq!(works(&app, &key).await, 200);
    assert_eq!(works(&app, &key).await, 429);

    // The dashboard answers with its own page, signed in with a limited key.
    let viewer = app.key(Role::Viewer, None).await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_in(&viewer).await;
    let mut limited = None;
    for _ in 0..5 {
        let page = visitor.get("/ui/inventory").await;
        if page.status == 429 {
            limited = Some(page);
            break;
        }
    }
    let page = limited.expect("the dashboard is limited too");
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.body.contains("Too Many Requests"), "{}", page.body);
}
