//! Reports over HTTP: collections and Keyfactor's issuance analytics, DigiCert's expiring
//! report and status-change list, with every window edge driven by the injected clock, on
//! both databases; and the permission matrix.
//!
//! Split by surface: `keyfactor` (collections, issuance analytics, a seeded inventory),
//! `digicert` (expiring report, status changes), `permissions` (the matrix over both).

mod digicert;
mod keyfactor;
mod permissions;

use certkeeper_domain::apikey::Role;
use certkeeper_domain::audit::Actor;
use certkeeper_domain::ids::CollectionId;
use certkeeper_domain::project::Project;
use reqwest::Method;
use serde_json::json;
use time::OffsetDateTime;

use crate::support::{Resp, TestApp};

/// A self-signed certificate for `cn` valid over `[not_before, not_after]`, imported into
/// `project`. Returns its id.
pub(crate) async fn import_dated(
    app: &TestApp,
    project: &Project,
    cn: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> i64 {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![cn.to_string()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.self_signed(&key).expect("self-signed");
    let r = app
        .call(
            Method::POST,
            &format!("{}/import", app.certs_path(project)),
            Some(&app.admin_key),
            Some(json!({
                "certificateBody": cert.pem(),
                "certificatePrivateKey": key.serialize_pem(),
                "scopeId": 0,
            })),
        )
        .await;
    r.ok()["id"].as_i64().expect("id")
}

/// A key with collection-level Read grants only.
pub(crate) async fn collection_key(app: &TestApp, collections: &[i64]) -> String {
    let ids: Vec<CollectionId> = collections.iter().copied().map(CollectionId).collect();
    app.core
        .create_api_key(Actor::Cli, "collections", Role::Viewer, None, false, &ids)
        .await
        .expect("key")
        .secret
        .expose()
        .to_string()
}

impl Resp {
    /// Asserts Keyfactor's error shape.
    #[track_caller]
    pub(crate) fn assert_kf_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        let obj = self.body.as_object().expect("object");
        assert_eq!(obj.len(), 2, "body: {}", self.text);
        assert!(
            self.body["ErrorCode"]
                .as_str()
                .expect("ErrorCode")
                .starts_with("0x")
        );
        let msg = self.body["Message"].as_str().expect("Message");
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    }

    /// Asserts DigiCert's error shape with its code.
    #[track_caller]
    pub(crate) fn assert_dc_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        let errors = self.body["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "body: {}", self.text);
        assert_eq!(errors[0]["code"], json!(code), "body: {}", self.text);
        assert!(errors[0]["message"].is_string());
    }
}

pub(crate) async fn issuance(app: &TestApp, key: &str, query: &str) -> Resp {
    app.call(
        Method::GET,
        &format!("/Analytics/Certificates/Issuance?{query}"),
        Some(key),
        None,
    )
    .await
}

pub(crate) fn counts(r: &Resp) -> Vec<i64> {
    assert_eq!(r.status, 200, "body: {}", r.text);
    r.body
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["Count"].as_i64().expect("Count"))
        .collect()
}
