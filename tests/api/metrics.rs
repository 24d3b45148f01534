//! `/metrics` and `/readyz`: Prometheus text from a real server, counts that follow the
//! inventory, route templates (never raw paths) on request metrics, and the key it asks for.

use reqwest::Method;

use crate::lifecycle::create;
use crate::support::{Db, TestApp, both_databases};

both_databases!(metrics_follow_the_inventory_and_name_routes_by_template);

async fn scrape(app: &TestApp, key: Option<&str>) -> (u16, String) {
    let mut req = app.http.get(format!("{}/metrics", app.base));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the one sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn metrics_follow_the_inventory_and_name_routes_by_template(db: Db) {
    let app = TestApp::spawn(db).await;
    let (status, _) = scrape(&app, None).await;
    assert_eq!(status, 401, "a key is required");
    let (status, _) = scrape(&app, Some("ck_not-a-key")).await;
    assert_eq!(status, 401);

    // Two issued certificates (90 days), one revoked, one imported that expired long ago.
    let mut ids = Vec::new();
    for name in ["m1.example.test", "m2.example.test"] {
        let c = create(&app, &[name]).await.ok().clone();
        app.publish(&app.dns, &c).await;
        let id = c["id"].as_i64().unwrap();
        app.call(
            Method::PUT,
            &format!("{}/{id}/validate", app.certs_path(&app.project)),
            Some(&app.admin_key),
            None,
        )
        .await
        .ok();
        ids.push(id);
    }
    app.call(
        Method::POST,
        &format!("{}/{}/revoke", app.certs_path(&app.project), ids[1]),
        Some(&app.admin_key),
        None,
    )
    .await
    .ok();
    let expired = certkeeper_testkit::leaves()
        .into_iter()
        .find(|(n, _)| *n == "expired")
        .unwrap()
        .1;
    app.import(expired).await.ok();

    let viewer = app.key(certkeeper_domain::apikey::Role::Viewer, None).await;
    let (status, text) = scrape(&app, Some(&viewer)).await;
    assert_eq!(status, 200, "{text}");
    let p = &app.project.name;
    assert_eq!(
        sample(
            &text,
            &format!("certkeeper_certificates{{project=\"{p}\",status=\"total\"}}")
        ),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("certkeeper_certificates{{project=\"{p}\",status=\"valid\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("certkeeper_certificates{{project=\"{p}\",status=\"revoked\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("certkeeper_certificates{{project=\"{p}\",status=\"expired\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("certkeeper_certificates_expiring{{project=\"{p}\",within_days=\"30\"}}")
        ),
        0.0
    );
    // The valid one has its expiry series; the revoked one does not.
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("certkeeper_certificate_expiration_timestamp_seconds{"))
        .collect();
    assert_eq!(series.len(), 1, "{text}");
    assert!(
        series[0].contains(&format!("id=\"{}\"", ids[0])),
        "{}",
        series[0]
    );
    assert!(
        series[0].contains("common_name=\"m1.example.test\""),
        "{}",
        series[0]
    );
    // Requests are counted by route template.
    assert!(
        text.contains("route=\"/api/v1/projects/{projectId}/certificates/{id}/validate\""),
        "{text}"
    );
    assert!(
        !text.contains(&format!("/certificates/{}/validate", ids[0])),
        "raw paths leak"
    );
    assert!(text.contains("certkeeper_build_info{version=\""), "{text}");
    assert_eq!(
        sample(
            &text,
            "certkeeper_outcomes_total{operation=\"validation\",outcome=\"issued\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            "certkeeper_outcomes_total{operation=\"revocation\",outcome=\"revoked\"}"
        ),
        1.0
    );
    assert!(text.ends_with("# EOF\n"));

    // A key limited to another project sees none of this project's numbers.
    let other = app.new_project("elsewhere").await;
    let scoped = app
        .key(certkeeper_domain::apikey::Role::Viewer, Some(&other))
        .await;
    let (_, text) = scrape(&app, Some(&scoped)).await;
    assert!(!text.contains(&format!("project=\"{p}\"")), "{text}");

    // Every metric the Grafana dashboard in docs/ queries is one the server serves.
    let (_, text) = scrape(&app, Some(&viewer)).await;
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/grafana/certkeeper-dashboard.json"
    ))
    .unwrap();
    let mut names: Vec<&str> = dashboard
        .match_indices("certkeeper_")
        .map(|(i, _)| {
            let rest = &dashboard[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|n| *n != "certkeeper_")
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "the dashboard queries {name}, which /metrics does not serve"
        );
    }

    let ready = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
