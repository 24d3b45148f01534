//! Black-box: the built binary, as a user runs it.

use certkeeper_testkit as fx;
use serde_json::{Value, json};

use std::process::Command;

use crate::binary::{BIN, run, serve};

#[tokio::test]
async fn binary_bootstraps_imports_lists_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let project = run(
        dir.path(),
        &["project", "create", "--name", "web", "--json"],
    );
    assert_eq!(project["name"], "web");
    assert_eq!(project["containerId"], 1);
    let pid = project["id"].as_str().unwrap().to_string();
    let key = run(
        dir.path(),
        &[
            "apikey", "create", "--name", "ops", "--role", "operator", "--json",
        ],
    );
    let key = key["key"].as_str().unwrap().to_string();

    let (_server, base, before) = serve(dir.path(), &[]);
    assert!(before.is_empty(), "keys exist, so no bootstrap: {before:?}");
    assert!(dir.path().join("certkeeper.db").exists() && dir.path().join("master.key").exists());
    let http = reqwest::Client::new();
    let certs = format!("{base}/api/v1/projects/{pid}/certificates");
    let body = json!({"certificateBody": fx::P256_CERT, "certificatePrivateKey": fx::P256_KEY, "certificateChain": fx::CHAIN, "scopeId": 0});
    let r: Value = http
        .post(format!("{certs}/import"))
        .header("X-API-Key", &key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["success"], true, "{r}");
    let id = r["result"]["id"].as_i64().unwrap();
    let list: Value = http
        .get(&certs)
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["resultInfo"]["totalCount"], 1);
    let del = http
        .delete(format!("{certs}/{id}"))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);

    let audit = run(dir.path(), &["audit", "list", "--json"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "certificate.delete",
            "certificate.import",
            "apikey.create",
            "project.create"
        ]
    );
}

#[tokio::test]
async fn first_start_creates_a_default_project_and_prints_an_admin_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("certkeeper.toml");
    std::fs::write(
        &config,
        "database = \"sqlite://data/ck.db\"\nlisten = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    // The flag beats the file's listen address; the file's database is used.
    let (_server, base, before) = serve(dir.path(), &["--config", config.to_str().unwrap()]);
    assert!(dir.path().join("data/ck.db").exists() && dir.path().join("data/master.key").exists());
    let key_line = before
        .iter()
        .find(|l| l.starts_with("Admin API key"))
        .expect("key printed");
    let key = key_line.rsplit(' ').next().unwrap();
    assert!(
        before.iter().any(|l| l.starts_with("Use it as: curl")),
        "{before:?}"
    );
    let projects = run(
        dir.path(),
        &[
            "project",
            "list",
            "--json",
            "--database",
            "sqlite://data/ck.db",
        ],
    );
    assert_eq!(projects[0]["name"], "default");
    let pid = projects[0]["id"].as_str().unwrap();
    let r = reqwest::Client::new()
        .get(format!("{base}/api/v1/projects/{pid}/certificates"))
        .header("Authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The lifecycle commands: settings and rules through the CLI match what the API shows, and
/// `serve` runs the scheduler (its recurring jobs appear in `certkeeper jobs list`).
#[tokio::test]
async fn lifecycle_commands_and_the_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["project", "create", "--name", "ops", "--json"]);
    let v = run(
        d,
        &[
            "project",
            "validation",
            "set",
            "--project",
            "ops",
            "--json",
            r#"{"dnsProvider": {"provider": "rfc2136", "server": "127.0.0.1:53", "zone": "example.test", "tsigKeyName": "k", "tsigAlgorithm": "hmac-sha256", "tsigSecret": "c2VjcmV0c2VjcmV0"}, "reuseDays": 7}"#,
        ],
    );
    assert_eq!(v["reuseDays"], 7);
    assert!(v["dnsProvider"].get("tsigSecret").is_none(), "{v}");
    let shown = run(d, &["project", "validation", "show", "--project", "ops"]);
    assert_eq!(shown, v);
    let r = run(
        d,
        &[
            "project",
            "renewal",
            "set",
            "--project",
            "ops",
            "--json",
            r#"{"mode": "auto", "renewBeforeSeconds": 86400}"#,
        ],
    );
    assert_eq!(r["renewBeforeSeconds"], 86400);
    let rule = run(
        d,
        &[
            "project",
            "notifications",
            "create",
            "--project",
            "ops",
            "--json",
            r#"{"name": "hook", "events": ["certificate.issued"], "channel": {"type": "webhook", "url": "https://192.0.2.10/hook"}}"#,
        ],
    );
    assert!(
        rule["channel"]["secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    let listed = run(d, &["project", "notifications", "list", "--project", "ops"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // Bad input is a clear error, not a crash.
    let out = Command::new(BIN)
        .args([
            "project",
            "renewal",
            "set",
            "--project",
            "ops",
            "--json",
            r#"{"mode": "sometimes"}"#,
        ])
        .current_dir(d)
        .env_remove("CERTKEEPER_DATABASE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mode"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // serve installs the recurring jobs.
    let (server, _url, _) = serve(d, &["--job-poll-seconds", "1"]);
    let mut kinds = Vec::new();
    for _ in 0..50 {
        let jobs = run(d, &["jobs", "list", "--json"]);
        kinds = jobs
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["kind"].as_str().unwrap().to_string())
            .collect();
        if kinds.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    kinds.sort();
    assert_eq!(kinds, ["expire-orders", "notify", "publish-crl"]);
    drop(server);
}

/// The API key lifecycle from the CLI: create with an expiry, list, rotate, revoke; the
/// server agrees with each step.
#[tokio::test]
async fn api_key_lifecycle_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let created = run(
        dir.path(),
        &[
            "apikey",
            "create",
            "--name",
            "deploy",
            "--role",
            "operator",
            "--expires-at",
            "2099-01-01T00:00:00Z",
            "--json",
        ],
    );
    let id = created["id"].as_i64().unwrap().to_string();
    let first = created["key"].as_str().unwrap().to_string();
    assert_eq!(created["apiKey"]["expiresAt"], "2099-01-01T00:00:00.000Z");
    assert_eq!(created["apiKey"]["state"], "active");

    let past = Command::new(BIN)
        .args([
            "apikey",
            "create",
            "--name",
            "x",
            "--expires-at",
            "yesterday",
        ])
        .current_dir(dir.path())
        .env_remove("CERTKEEPER_DATABASE")
        .output()
        .unwrap();
    assert!(!past.status.success());
    assert!(String::from_utf8_lossy(&past.stderr).contains("RFC 3339"));

    let rotated = run(
        dir.path(),
        &["apikey", "rotate", &id, "--overlap-seconds", "0", "--json"],
    );
    let second = rotated["key"].as_str().unwrap().to_string();
    assert_eq!(rotated["previous"]["replacedBy"], rotated["id"]);
    assert_eq!(rotated["apiKey"]["role"], "operator");
    assert_eq!(rotated["apiKey"]["expiresAt"], "2099-01-01T00:00:00.000Z");

    let (_server, base, _) = serve(dir.path(), &[]);
    let http = reqwest::Client::new();
    let status = |key: String| {
        let http = http.clone();
        let url = format!("{base}/CertificateCollections");
        async move {
            http.get(url)
                .header("X-API-Key", key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Overlap 0: the old secret stopped at the rotation.
    assert_eq!(status(first.clone()).await, 401);
    assert_eq!(status(second.clone()).await, 200);

    let new_id = rotated["id"].as_i64().unwrap().to_string();
    let revoked = run(dir.path(), &["apikey", "revoke", &new_id, "--json"]);
    assert_eq!(revoked["state"], "revoked");
    let list = run(dir.path(), &["apikey", "list", "--json"]);
    let states: Vec<(i64, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["id"].as_i64().unwrap(),
                k["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        states.contains(&(id.parse().unwrap(), "expired".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&(new_id.parse().unwrap(), "revoked".into())),
        "{states:?}"
    );
    assert!(!list.to_string().contains(&second));
    // The running server drops it within its 10 s cache time: tested by moving the clock in
    // `api_keys::revoked_on_every_node_within_the_cache_time`, not by waiting here.
}
