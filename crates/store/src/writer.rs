//! Group commit for certificate inserts.
//!
//! Imports arrive concurrently, but SQLite takes one writer at a time and every transaction
//! pays fixed costs (BEGIN, COMMIT, the WAL append, a hand-off between tasks and sqlx's
//! connection thread). One writer task takes whatever inserts are waiting (up to
//! [`MAX_BATCH`]) and commits them in one transaction, so those costs are paid once per batch
//! instead of once per certificate. Each caller is answered only after the commit, with its own
//! outcome. If the batch transaction fails, every job in it is retried alone, so one bad row
//! cannot fail its neighbours. On PostgreSQL the same batching saves a WAL flush per import.

use std::collections::BTreeMap;
use std::sync::Arc;

use certkeeper_domain::audit::NewAuditEvent;
use certkeeper_domain::certificate::Scope;
use certkeeper_domain::ids::ContainerId;
use sqlx::AnyPool;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::StoreError;
use crate::certificates::{InsertOutcome, NewCertificate, bump_counts, insert_one};

/// The most inserts one transaction takes.
pub const MAX_BATCH: usize = 128;

struct Job {
    new: NewCertificate,
    audit: NewAuditEvent,
    reply: oneshot::Sender<Result<InsertOutcome, StoreError>>,
}

/// The handle the store sends inserts through.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("fingerprint", &self.new.summary.fingerprint_sha256)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer task. `write_lock` is the SQLite writer lock (`None` on PostgreSQL).
    pub(crate) fn spawn(pool: AnyPool, write_lock: Option<Arc<Mutex<()>>>, sqlite: bool) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, write_lock, sqlite, rx));
        Self { tx }
    }

    pub(crate) async fn insert(
        &self,
        new: NewCertificate,
        audit: NewAuditEvent,
    ) -> Result<InsertOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { new, audit, reply })
            .await
            .map_err(|_| StoreError::Config("the certificate writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Config("the certificate writer dropped a request".into()))?
    }
}

async fn run(
    pool: AnyPool,
    lock: Option<Arc<Mutex<()>>>,
    sqlite: bool,
    mut rx: mpsc::Receiver<Job>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if batch.len() == 1 {
            // Alone: no batch to fall back from.
            if let Some(job) = batch.pop() {
                run_alone(&pool, &lock, sqlite, job).await;
            }
            continue;
        }
        let (jobs, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|j| ((j.new, j.audit), j.reply))
            .unzip();
        match commit(&pool, &lock, sqlite, jobs.clone()).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "batched certificate insert failed; retrying each insert alone");
                for (reply, job) in replies.into_iter().zip(jobs) {
                    let result = commit(&pool, &lock, sqlite, vec![job])
                        .await
                        .map(|mut o| o.remove(0));
                    let _ = reply.send(result);
                }
            }
        }
    }
}

async fn run_alone(pool: &AnyPool, lock: &Option<Arc<Mutex<()>>>, sqlite: bool, job: Job) {
    let result = commit(pool, lock, sqlite, vec![(job.new, job.audit)])
        .await
        .map(|mut o| o.remove(0));
    let _ = job.reply.send(result);
}

/// One transaction for all `jobs`; outcomes in job order.
async fn commit(
    pool: &AnyPool,
    lock: &Option<Arc<Mutex<()>>>,
    sqlite: bool,
    jobs: Vec<(NewCertificate, NewAuditEvent)>,
) -> Result<Vec<InsertOutcome>, StoreError> {
    let _guard = match lock {
        Some(l) => Some(l.lock().await),
        None => None,
    };
    let mut tx = if sqlite {
        pool.begin_with("BEGIN IMMEDIATE").await?
    } else {
        pool.begin().await?
    };
    let mut counts: BTreeMap<ContainerId, (i64, i64)> = BTreeMap::new();
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (new, audit) in jobs {
        let outcome = insert_one(&mut tx, new, audit).await?;
        if let InsertOutcome::Inserted(r) = &outcome {
            let c = counts.entry(r.container_id).or_default();
            c.0 += 1;
            c.1 += i64::from(r.scope == Scope::Organization);
        }
        outcomes.push(outcome);
    }
    for (container, (total, org)) in counts {
        bump_counts(&mut tx, container, total, org).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}
