//! The server's log as an operator reads it: one JSON access line per request with its route
//! template, status and latency, the request id on it and in `x-request-id`, and none of the
//! secrets that passed through (API key, private key, TSIG secret, webhook secret).

use std::process::Stdio;

use serde_json::{Value, json};

use crate::binary::serve_logging;

#[tokio::test]
async fn access_lines_carry_the_request_id_and_no_secret_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let db = format!("sqlite://{}", dir.path().join("ck.db").display());
    let (server, base, before) = serve_logging(
        dir.path(),
        &[
            "--database",
            &db,
            "--allow-private-webhooks",
            "--log-format",
            "json",
            "--log",
            "debug,sqlx=warn,hyper=info,h2=info",
        ],
        Stdio::from(log),
    );
    let find = |prefix: &str| -> String {
        before
            .iter()
            .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.to_string()))
            .unwrap_or_else(|| panic!("{prefix} in {before:?}"))
    };
    let project = find("(projectId ").split(',').next().unwrap().to_string();
    let key = find("store it now): ");
    let http = reqwest::Client::new();
    let certs = format!("{base}/api/v1/projects/{project}/certificates");

    // Secrets pass through: the key on every request, a private key, a TSIG secret, a webhook
    // secret.
    let (_, leaf) = certkeeper_testkit::leaves()[2];
    let r = http
        .post(format!("{certs}/import"))
        .header("X-API-Key", &key)
        .json(&json!({"certificateBody": leaf.cert, "certificatePrivateKey": leaf.key, "certificateChain": leaf.chain, "scopeId": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let tsig = "Y2FuYXJ5LXRzaWctc2VjcmV0LTQyLWNhbmFyeQ==";
    let r = http
        .put(format!("{base}/api/v1/projects/{project}/validation"))
        .header("X-API-Key", &key)
        .json(&json!({"dnsProvider": {"provider": "rfc2136", "server": "127.0.0.1:1", "zone": "example.test",
            "tsigKeyName": "k.", "tsigAlgorithm": "hmac-sha256", "tsigSecret": tsig}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let webhook = "whsec_Y2FuYXJ5LXdlYmhvb2stc2VjcmV0LWNhbmFyeQ==";
    let r = http
        .post(format!("{base}/api/v1/projects/{project}/notifications"))
        .header("X-API-Key", &key)
        .json(&json!({"name": "canary", "events": ["certificate.issued"],
            "channel": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": webhook}}))
        .send()
        .await
        .unwrap();
    let created = r.status();
    let said = r.text().await.unwrap();
    // A request with its own id keeps it.
    let r = http
        .get(&certs)
        .header("X-API-Key", &key)
        .header("x-request-id", "canary-request-7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "canary-request-7");
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    let made = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(made.len(), 36, "a UUID: {made}");
    drop(server);

    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = |id: &str| {
        lines.iter().find(|l| {
            l["span"]["id"] == id && l["fields"]["message"] == "finished processing request"
        })
    };
    let line = access("canary-request-7").unwrap_or_else(|| panic!("no access line in\n{text}"));
    assert_eq!(line["level"], "INFO");
    assert_eq!(
        line["span"]["route"],
        "/api/v1/projects/{projectId}/certificates"
    );
    assert_eq!(line["span"]["method"], "GET");
    assert_eq!(line["fields"]["status"], 200);
    assert!(line["fields"]["latency"].is_string(), "{line}");
    assert!(access(&made).is_some(), "{text}");
    assert!(
        created.is_success(),
        "the rule was refused: {created} {said}"
    );
    for (what, secret) in [
        ("API key", key.as_str()),
        ("private key", leaf.key.lines().nth(1).unwrap()),
        ("TSIG secret", tsig),
        ("webhook secret", webhook),
    ] {
        assert!(!text.contains(secret), "the {what} is in the log");
    }
}
