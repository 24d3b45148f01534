//! The group-commit writer through the store's public API, on SQLite (the rusqlite writer
//! thread and its WAL syncer) in both durability modes: concurrent inserts share batches, a
//! row that fails its batch is retried alone without failing its neighbours, duplicates are
//! recognised inside one batch, and `close` commits what was queued.

use certkeeper_domain::audit::{Actor, AuditAction, NewAuditEvent};
use certkeeper_domain::certificate::{CertificateSummary, CertificateType, Scope};
use certkeeper_domain::ids::{ContainerId, ProjectId, SslCertificateId};
use certkeeper_store::{InsertOutcome, NewCertificate, Store, StoreOptions, Synchronous};
use time::OffsetDateTime;

/// The instant every record here is written at: time is a parameter, and these tests do not
/// depend on it.
fn at() -> OffsetDateTime {
    time::macros::datetime!(2026-06-01 12:00 UTC)
}

fn audit(project: Option<ProjectId>) -> NewAuditEvent {
    NewAuditEvent {
        at: at(),
        actor: Actor::Cli,
        action: AuditAction::CertificateImport,
        project,
        target: String::new(),
        detail: "{}".into(),
    }
}

fn certificate(project: ProjectId, container: ContainerId, n: usize) -> NewCertificate {
    let now = at();
    NewCertificate {
        ssl_certificate_id: SslCertificateId::new_random(),
        project_id: project,
        container_id: container,
        scope: Scope::Project,
        certificate_type: CertificateType::Imported,
        summary: CertificateSummary {
            domain_name: format!("h{n}.writer.test"),
            additional_names: vec![],
            public_key_info: "ECDSA P-256".into(),
            signature_algorithm: "ecdsa-with-SHA256".into(),
            issuer: "CN=writer test".into(),
            subject: format!("CN=h{n}.writer.test"),
            serial_number: format!("{n:04X}"),
            not_before: now,
            not_after: now + time::Duration::days(90),
            fingerprint_sha256: format!("{n:064x}"),
            common_name: Some(format!("h{n}.writer.test")),
            thumbprint_sha1: format!("{n:040X}"),
        },
        der: vec![0x30, n as u8],
        chain_pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
        private_key_sealed: Some(vec![1, 2, 3]),
        at: now,
    }
}

async fn open(url: &str, sync: Synchronous) -> Store {
    Store::connect_with(
        url,
        StoreOptions {
            sqlite_synchronous: sync,
        },
    )
    .await
    .unwrap()
}

async fn batches_retry_alone(sync: Synchronous) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let store = open(&url, sync).await;
    let project = store
        .create_project(ProjectId::new_random(), "w", at(), |_| audit(None))
        .await
        .unwrap();
    let (pid, container) = (project.id, project.container_id);
    // 40 good rows, one duplicate of row 0, and one into a project that does not exist (its
    // foreign key fails whichever batch it lands in).
    let mut sends = Vec::new();
    for n in 0..40 {
        sends.push(store.insert_certificate(certificate(pid, container, n), audit(Some(pid))));
    }
    sends.push(store.insert_certificate(certificate(pid, container, 0), audit(Some(pid))));
    sends
        .push(store.insert_certificate(certificate(pid, ContainerId(9_999), 99), audit(Some(pid))));
    let outcomes = futures::future::join_all(sends).await;
    let (good, rest) = outcomes.split_at(40);
    let mut ids = Vec::new();
    for o in good {
        match o {
            Ok(InsertOutcome::Inserted(r)) => ids.push(r.id),
            other => panic!("a good row failed: {other:?}"),
        }
    }
    match &rest[0] {
        Ok(InsertOutcome::Duplicate(id)) => assert_eq!(*id, ids[0]),
        // Inserted first in its own batch if it overtook row 0; then row 0 is the duplicate.
        Ok(InsertOutcome::Inserted(_)) => {}
        other => panic!("duplicate: {other:?}"),
    }
    assert!(
        rest[1].is_err(),
        "the row without a project must fail: {:?}",
        rest[1]
    );
    // Everything acknowledged is readable, and stays after a close and reopen.
    store.close().await;
    let store = open(&url, sync).await;
    for id in &ids {
        assert!(
            store.certificate(*id).await.unwrap().is_some(),
            "certificate {id}"
        );
    }
    let page = store.visible_certificates(container, 0, 100).await.unwrap();
    assert_eq!(page.total, 40);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_batches_retry_alone() {
    batches_retry_alone(Synchronous::Full).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_batches_retry_alone() {
    batches_retry_alone(Synchronous::Normal).await;
}
