//! A validation its node never finished (it stopped between moving the challenge to
//! `processing` and recording the outcome) is finished by the `acme-validate` job, on any
//! node, once it is due; a validation that did finish leaves no job behind.

use std::time::Duration;

use certkeeper_core::scheduler::{Scheduler, SchedulerConfig};
use serde_json::{Value, json};

use super::Client;
use crate::support::{Db, TestApp, both_databases};

both_databases!(a_validation_its_node_left_is_finished_by_the_job);

async fn acme_jobs(app: &TestApp) -> Vec<Value> {
    app.jobs("acme-validate").await
}

async fn a_validation_its_node_left_is_finished_by_the_job(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut client = Client::new(&app).await;
    client.register().await;

    // A validation that runs to its end removes its recovery job with the outcome.
    client.issue_dns01(&app, "done.example.test", None).await;
    assert_eq!(acme_jobs(&app).await, Vec::<Value>::new());

    let name = "left.example.test";
    let order = client
        .post(
            &client.url("newOrder"),
            Some(&json!({"identifiers": [{"type": "dns", "value": name}]})),
        )
        .await;
    let authz_url = order.body["authorizations"][0]
        .as_str()
        .unwrap()
        .to_string();
    let authz = client.post(&authz_url, None).await;
    client.publish_dns01(&app, name, &authz.body).await;

    // What the database holds when a node stops right after taking the challenge POST: the
    // challenge `processing`, its recovery job, and no task left to validate.
    let store = app.core.store();
    let authz_id = authz_url.rsplit('/').next().unwrap();
    let mut row = store.acme_authz(authz_id).await.unwrap().unwrap();
    let mut challenges: Value = serde_json::from_str(&row.challenges).unwrap();
    for c in challenges.as_array_mut().unwrap() {
        if c["type"] == "dns-01" {
            c["status"] = "processing".into();
        }
    }
    row.challenges = challenges.to_string();
    let now = app.clock_now();
    let recover_at = now + time::Duration::minutes(2);
    assert!(
        store
            .start_acme_validation(&row, recover_at, now)
            .await
            .unwrap()
    );
    let jobs = acme_jobs(&app).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["subject"], authz_id);

    // Another node's scheduler: nothing before the job is due, the validation after.
    let other = Scheduler::new(
        app.core.clone(),
        SchedulerConfig::new(Duration::from_millis(200)),
    );
    other.tick().await.unwrap();
    let still = client.post(&authz_url, None).await;
    assert_eq!(still.body["status"], "pending", "{:?}", still.body);
    app.clock.set(recover_at + time::Duration::seconds(1));
    other.tick().await.unwrap();
    let done = client.post(&authz_url, None).await;
    assert_eq!(done.body["status"], "valid", "{:?}", done.body);
    let ch = done.body["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "dns-01")
        .unwrap()
        .clone();
    assert_eq!(ch["status"], "valid", "{ch:?}");
    assert_eq!(acme_jobs(&app).await, Vec::<Value>::new());
}
