//! Group commit for the writes issuance and imports do most.
//!
//! Writes arrive concurrently, but SQLite takes one writer at a time and every transaction
//! pays fixed costs (BEGIN, COMMIT, the WAL append, a hand-off between tasks and sqlx's
//! connection thread). One writer task takes whatever work is waiting (up to [`MAX_BATCH`]
//! items: certificate imports, new orders, validation claims, order completions) and commits it in one
//! transaction, so those costs are paid once per batch instead of once per item; per-project
//! counts are bumped once per batch. Each caller is answered only after the commit, with its
//! own outcome. Audit records and order history are appended with one statement per table per
//! batch ([`crate::appends`]). If the batch transaction fails, every item in it is retried alone, so one bad
//! row cannot fail its neighbours. On PostgreSQL the same batching saves WAL flushes.

use std::collections::BTreeMap;
use std::sync::Arc;

use certkeeper_domain::audit::NewAuditEvent;
use certkeeper_domain::certificate::{CertificateRecord, Scope};
use certkeeper_domain::ids::{ContainerId, OrderId};
use sqlx::AnyPool;
use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::appends::Appends;
use crate::certificates::{InsertOutcome, NewCertificate, bump_counts, insert_one};
use crate::hourly::Deltas;
use crate::orders::{IssuedCertificate, NewOrder, claim_order_on};
use crate::{Backend, Store, StoreError};

/// The most items one transaction takes.
pub const MAX_BATCH: usize = 128;

/// One write, with what it needs. Cloned to retry it alone after a failed batch.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "each write is moved once through the channel; boxing would only add an allocation"
)]
enum Work {
    Import(NewCertificate, NewAuditEvent),
    CreateOrder(NewOrder, NewAuditEvent),
    /// A validation claim: the order, now, and until when.
    ClaimOrder(OrderId, OffsetDateTime, OffsetDateTime),
    CompleteOrder(
        CertificateRecord,
        IssuedCertificate,
        OffsetDateTime,
        NewAuditEvent,
    ),
}

/// What a write produced.
#[derive(Debug)]
enum Done {
    Import(InsertOutcome),
    CreateOrder(CertificateRecord),
    ClaimOrder(bool),
    CompleteOrder(Option<CertificateRecord>),
}

impl Done {
    /// The project and (total, organization) count deltas this write adds.
    fn counts(&self) -> Option<(ContainerId, i64, i64)> {
        let new_record = match self {
            Done::Import(InsertOutcome::Inserted(r)) => r.as_ref(),
            Done::CreateOrder(r) => r,
            _ => return None,
        };
        Some((
            new_record.container_id,
            1,
            i64::from(new_record.scope == Scope::Organization),
        ))
    }
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// The handle the store sends batched writes through.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task. `write_lock` is the SQLite writer lock (`None` on PostgreSQL).
    pub(crate) fn spawn(pool: AnyPool, write_lock: Option<Arc<Mutex<()>>>, sqlite: bool) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, write_lock, sqlite, rx));
        Self { tx }
    }

    async fn submit(&self, work: Work) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { work, reply })
            .await
            .map_err(|_| StoreError::Config("the database writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Config("the database writer dropped a request".into()))?
    }

    pub(crate) async fn insert(
        &self,
        new: NewCertificate,
        audit: NewAuditEvent,
    ) -> Result<InsertOutcome, StoreError> {
        match self.submit(Work::Import(new, audit)).await? {
            Done::Import(o) => Ok(o),
            other => Err(mismatch(&other)),
        }
    }

    pub(crate) async fn create_order(
        &self,
        new: NewOrder,
        audit: NewAuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        match self.submit(Work::CreateOrder(new, audit)).await? {
            Done::CreateOrder(r) => Ok(r),
            other => Err(mismatch(&other)),
        }
    }

    pub(crate) async fn claim_order(
        &self,
        order: OrderId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        match self.submit(Work::ClaimOrder(order, now, until)).await? {
            Done::ClaimOrder(claimed) => Ok(claimed),
            other => Err(mismatch(&other)),
        }
    }

    pub(crate) async fn complete_order(
        &self,
        ordered: CertificateRecord,
        issued: IssuedCertificate,
        at: OffsetDateTime,
        audit: NewAuditEvent,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        match self
            .submit(Work::CompleteOrder(ordered, issued, at, audit))
            .await?
        {
            Done::CompleteOrder(r) => Ok(r),
            other => Err(mismatch(&other)),
        }
    }
}

fn mismatch(done: &Done) -> StoreError {
    StoreError::Corrupt(format!(
        "the database writer answered with the wrong kind of result: {done:?}"
    ))
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
        let (work, replies): (Vec<Work>, Vec<_>) =
            batch.into_iter().map(|j| (j.work, j.reply)).unzip();
        // A lone item needs no fallback copy.
        let retry = (work.len() > 1).then(|| work.clone());
        match commit(&pool, &lock, sqlite, work).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => match retry {
                None => {
                    if let Some(reply) = replies.into_iter().next() {
                        let _ = reply.send(Err(e));
                    }
                }
                Some(items) => {
                    tracing::warn!(error = %e, "batched write failed; retrying each item alone");
                    for (reply, item) in replies.into_iter().zip(items) {
                        let result = commit(&pool, &lock, sqlite, vec![item])
                            .await
                            .map(|mut o| o.remove(0));
                        let _ = reply.send(result);
                    }
                }
            },
        }
    }
}

/// One transaction for all `work`; outcomes in order.
async fn commit(
    pool: &AnyPool,
    lock: &Option<Arc<Mutex<()>>>,
    sqlite: bool,
    work: Vec<Work>,
) -> Result<Vec<Done>, StoreError> {
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
    let mut outcomes = Vec::with_capacity(work.len());
    let mut deltas = Deltas::default();
    let mut appends = Appends::default();
    for item in work {
        let done = match item {
            Work::Import(new, audit) => {
                Done::Import(insert_one(&mut tx, &mut appends, new, audit).await?)
            }
            Work::CreateOrder(new, audit) => {
                Done::CreateOrder(Store::create_order_on(&mut tx, &mut appends, new, audit).await?)
            }
            Work::ClaimOrder(order, now, until) => {
                Done::ClaimOrder(claim_order_on(&mut tx, order, now, until).await?)
            }
            Work::CompleteOrder(ordered, issued, at, audit) => Done::CompleteOrder(
                Store::complete_order_on(&mut tx, &mut appends, &ordered, issued, at, audit)
                    .await?,
            ),
        };
        match &done {
            Done::Import(InsertOutcome::Inserted(r)) => deltas.record(r, 1),
            Done::CompleteOrder(Some(r)) => deltas.record(r, 1),
            _ => {}
        }
        if let Some((container, total, org)) = done.counts() {
            let c = counts.entry(container).or_default();
            c.0 += total;
            c.1 += org;
        }
        outcomes.push(done);
    }
    appends
        .write(
            &mut tx,
            if sqlite {
                Backend::Sqlite
            } else {
                Backend::Postgres
            },
        )
        .await?;
    for (container, (total, org)) in counts {
        bump_counts(&mut tx, container, total, org).await?;
    }
    deltas.apply(&mut tx).await?;
    tx.commit().await?;
    Ok(outcomes)
}
