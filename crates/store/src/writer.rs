//! Group commit for the writes issuance and imports do most.
//!
//! Writes arrive concurrently, but SQLite takes one writer at a time and every transaction
//! pays fixed costs (BEGIN, COMMIT, the WAL append, on a durable store an fsync). One writer
//! takes whatever work is waiting (up to [`MAX_BATCH`] items: certificate imports, new orders,
//! validation claims, order completions) and commits it in one transaction, so those costs are
//! paid once per batch instead of once per item; per-project counts are bumped once per
//! batch. Each caller is answered only after the commit (on durable SQLite, after the WAL
//! fsync that covers it), with its own outcome. Audit records and order history are appended
//! with one statement per table per batch ([`crate::appends`]). If the batch transaction fails,
//! every item in it is retried alone, so one bad row cannot fail its neighbours.
//!
//! On SQLite the writer is a thread owning a rusqlite connection (no hop per statement), with
//! a WAL syncer thread beside it; on PostgreSQL it is a task on pooled connections, where the
//! same batching saves WAL flushes. The statements are the same either way ([`WriteConn`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use certkeeper_domain::audit::NewAuditEvent;
use certkeeper_domain::certificate::{CertificateRecord, Scope};
use certkeeper_domain::ids::{ContainerId, OrderId};
use sqlx::AnyPool;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::appends::Appends;
use crate::certificates::{InsertOutcome, NewCertificate, insert_one};
use crate::conn::{WriteConn, poll_ready, run_now};
use crate::counts::bump_counts;
use crate::hourly::Deltas;
use crate::jobs::{ClaimedJob, JobOutcome, finish_on};
use crate::notifications::{Attempt, record_attempt_on};
use crate::orders::{
    IssuedCertificate, NewOrder, claim_order_on, complete_order_on, create_issued_on,
    create_order_on,
};
use crate::sqlite::{SqliteTx, Synchronous, WriteLock};
use crate::{Backend, StoreError};

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
    /// An order opened and issued at once: the order, the certificate, and the audit records
    /// of its creation and issuance.
    CreateIssued(NewOrder, IssuedCertificate, NewAuditEvent, NewAuditEvent),
    /// A job's outcome under its claim's token.
    FinishJob(ClaimedJob, JobOutcome, OffsetDateTime),
    /// A notification delivery attempt's outcome.
    RecordAttempt(Attempt),
    /// An ACME nonce's single use, with when its record may go.
    UseNonce(String, i64),
    /// An ACME order, authorization or challenge state change.
    Acme(crate::acme::AcmeWrite),
}

/// What a write produced.
#[derive(Debug)]
enum Done {
    Import(InsertOutcome),
    CreateOrder(CertificateRecord),
    ClaimOrder(bool),
    CompleteOrder(Option<CertificateRecord>),
    CreateIssued(CertificateRecord),
    /// Whether the write applied (a finish whose lease was still held).
    Applied(bool),
}

impl Done {
    /// The project and (total, organization) count deltas this write adds.
    fn counts(&self) -> Option<(ContainerId, i64, i64)> {
        let new_record = match self {
            Done::Import(InsertOutcome::Inserted(r)) => r.as_ref(),
            Done::CreateOrder(r) | Done::CreateIssued(r) => r,
            _ => return None,
        };
        Some((
            new_record.container_id,
            1,
            i64::from(new_record.scope == Scope::Organization),
        ))
    }
}

#[allow(
    clippy::large_enum_variant,
    reason = "a job is moved once through the channel; boxing would only add an allocation"
)]
enum Job {
    Write {
        work: Work,
        reply: oneshot::Sender<Result<Done, StoreError>>,
    },
    /// Commit what came before, answer, and stop.
    Stop(oneshot::Sender<()>),
}

type Reply = oneshot::Sender<Result<Done, StoreError>>;

/// The handle the store sends batched writes through.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
    stopped: Arc<Stopped>,
}

/// Set once the writer has drained its queue and closed its connection. The writer's thread
/// or task holds this, never a sender of its own queue, so it also ends when every handle is
/// dropped without a `close`.
#[derive(Debug, Default)]
struct Stopped {
    notify: tokio::sync::Notify,
    done: std::sync::atomic::AtomicBool,
}

impl Stopped {
    fn mark(&self) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

impl Writer {
    /// Starts the PostgreSQL writer: a task on the runtime, batches on pooled connections.
    pub(crate) fn spawn_postgres(pool: AnyPool) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let this = Self::with(tx);
        let stopped = this.stopped.clone();
        tokio::spawn(async move {
            run_postgres(pool, rx).await;
            stopped.mark();
        });
        this
    }

    /// Starts the SQLite writer: a thread that owns its own connection to `path` and runs each
    /// batch there synchronously. `lock` is the writer lock shared with sqlx's writes.
    pub(crate) fn spawn_sqlite(
        path: &std::path::Path,
        sync: Synchronous,
        lock: WriteLock,
    ) -> Result<Self, StoreError> {
        // Durable mode: the writer's own commits skip SQLite's fsync and the syncer thread
        // makes them durable before anyone is answered (see `run_sqlite`).
        let conn = crate::sqlite::open_writer(path, Synchronous::Normal)?;
        let checkpointer = crate::sqlite::Checkpointer::start(path, sync)?;
        let syncer = match sync {
            Synchronous::Normal => None,
            Synchronous::Full => {
                let wal = crate::sqlite::wal_path(path);
                crate::sqlite::sync_directory_of(&wal)?;
                let (tx, rx) = std::sync::mpsc::channel();
                let thread = std::thread::Builder::new()
                    .name("certkeeper-sqlite-wal-sync".into())
                    .spawn(move || run_syncer(wal, rx))
                    .map_err(|e| StoreError::Config(format!("cannot start the WAL syncer: {e}")))?;
                Some((tx, thread))
            }
        };
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let this = Self::with(tx);
        let stopped = this.stopped.clone();
        std::thread::Builder::new()
            .name("certkeeper-sqlite-writer".into())
            .spawn(move || {
                let (sync_tx, sync_thread) = syncer.unzip();
                run_sqlite(conn, lock, sync_tx, rx);
                // The syncer answers what it still holds once its sender is gone.
                if let Some(t) = sync_thread {
                    let _ = t.join();
                }
                checkpointer.stop();
                stopped.mark();
            })
            .map_err(|e| StoreError::Config(format!("cannot start the SQLite writer: {e}")))?;
        Ok(this)
    }

    fn with(tx: mpsc::Sender<Job>) -> Self {
        Self {
            tx,
            stopped: Arc::default(),
        }
    }

    /// Commits everything already queued, then stops the writer and closes its connection.
    /// Writes submitted afterwards fail with "the database writer has stopped".
    pub(crate) async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        // Registered before the flag is read, so a stop between the two cannot be missed.
        let mut notified = std::pin::pin!(self.stopped.notify.notified());
        notified.as_mut().enable();
        if self.tx.send(Job::Stop(reply)).await.is_ok() {
            let _ = answer.await;
        }
        if !self.stopped.done.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), notified).await;
        }
    }

    async fn submit(&self, work: Work) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Write { work, reply })
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

impl Writer {
    pub(crate) async fn finish_job(
        &self,
        job: ClaimedJob,
        outcome: JobOutcome,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        match self.submit(Work::FinishJob(job, outcome, now)).await? {
            Done::Applied(held) => Ok(held),
            other => Err(mismatch(&other)),
        }
    }

    /// Records an ACME nonce's use; `false` when it was used before. Every signed ACME request
    /// makes one, so they share the batch's commit (one fsync) rather than each paying its own.
    pub(crate) async fn use_nonce(
        &self,
        nonce: String,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        match self.submit(Work::UseNonce(nonce, expires_at_ms)).await? {
            Done::Applied(fresh) => Ok(fresh),
            other => Err(mismatch(&other)),
        }
    }

    /// An ACME state change; whether it applied (a conditional move whose old state held).
    pub(crate) async fn acme_write(
        &self,
        write: crate::acme::AcmeWrite,
    ) -> Result<bool, StoreError> {
        match self.submit(Work::Acme(write)).await? {
            Done::Applied(applied) => Ok(applied),
            other => Err(mismatch(&other)),
        }
    }

    pub(crate) async fn record_attempt(&self, attempt: Attempt) -> Result<(), StoreError> {
        match self.submit(Work::RecordAttempt(attempt)).await? {
            Done::Applied(_) => Ok(()),
            other => Err(mismatch(&other)),
        }
    }

    pub(crate) async fn create_issued(
        &self,
        new: NewOrder,
        issued: IssuedCertificate,
        create_audit: NewAuditEvent,
        issue_audit: NewAuditEvent,
    ) -> Result<CertificateRecord, StoreError> {
        match self
            .submit(Work::CreateIssued(new, issued, create_audit, issue_audit))
            .await?
        {
            Done::CreateIssued(r) => Ok(r),
            other => Err(mismatch(&other)),
        }
    }
}

fn mismatch(done: &Done) -> StoreError {
    StoreError::Corrupt(format!(
        "the database writer answered with the wrong kind of result: {done:?}"
    ))
}

/// Takes the next batch: a first job, then whatever else is queued, up to [`MAX_BATCH`]. The
/// second value is a stop request met in the queue: the batch before it is committed, then
/// the writer stops.
fn gather(
    first: Job,
    rx: &mut mpsc::Receiver<Job>,
) -> (Vec<(Work, Reply)>, Option<oneshot::Sender<()>>) {
    let mut batch = Vec::new();
    let mut next = Some(first);
    while let Some(job) = next.take() {
        match job {
            Job::Write { work, reply } => batch.push((work, reply)),
            Job::Stop(ack) => return (batch, Some(ack)),
        }
        if batch.len() < MAX_BATCH {
            next = rx.try_recv().ok();
        }
    }
    (batch, None)
}

/// Runs a batch as one transaction (`run`); if that fails, every item again alone, so one bad
/// row cannot fail its neighbours. Each caller's reply comes back with its own outcome.
async fn settle<F, Fut>(
    batch: Vec<(Work, Reply)>,
    mut run: F,
) -> Vec<(Reply, Result<Done, StoreError>)>
where
    F: FnMut(Vec<Work>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Done>, StoreError>>,
{
    let (work, replies): (Vec<Work>, Vec<Reply>) = batch.into_iter().unzip();
    if work.is_empty() {
        return Vec::new();
    }
    // A lone item needs no fallback copy.
    let retry = (work.len() > 1).then(|| work.clone());
    match (run(work).await, retry) {
        (Ok(outcomes), _) => replies
            .into_iter()
            .zip(outcomes.into_iter().map(Ok))
            .collect(),
        // A lone item: its one reply gets the error.
        (Err(e), None) => replies
            .into_iter()
            .next()
            .map(|r| vec![(r, Err(e))])
            .unwrap_or_default(),
        (Err(e), Some(items)) => {
            tracing::warn!(error = %e, "batched write failed; retrying each item alone");
            let mut settled = Vec::with_capacity(items.len());
            for (reply, item) in replies.into_iter().zip(items) {
                settled.push((reply, run(vec![item]).await.map(|mut o| o.remove(0))));
            }
            settled
        }
    }
}

/// The SQLite writer thread's loop. With `sync` set (durable mode), its connection commits
/// without waiting for the disk and hands each committed batch's replies to the WAL syncer,
/// which answers them once an fsync of the WAL has covered them; the writer meanwhile runs
/// the next batch. Claims are answered at once: a claim lost to a power loss leaves an order
/// unclaimed, which is what it was, and any write that depends on it is only acknowledged
/// after an fsync that covers the claim too (the WAL is synced as a prefix).
fn run_sqlite(
    mut conn: rusqlite::Connection,
    lock: WriteLock,
    sync: Option<std::sync::mpsc::Sender<Vec<(Reply, Done)>>>,
    mut rx: mpsc::Receiver<Job>,
) {
    while let Some(first) = rx.blocking_recv() {
        let (batch, stop) = gather(first, &mut rx);
        // Every step of `settle` is synchronous here. Should one ever wait (a bug), the batch's
        // replies are dropped and each caller gets "the database writer dropped a request".
        let settled = poll_ready(settle(batch, |work| {
            std::future::ready((|| {
                let _turn = lock.blocking_lock();
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let outcomes = run_now(commit(&mut SqliteTx(&tx), Backend::Sqlite, work))?;
                tx.commit()?;
                Ok(outcomes)
            })())
        }))
        .unwrap_or_else(|| {
            tracing::error!("a SQLite batch waited for something other than its connection");
            Vec::new()
        });
        let mut durable = Vec::new();
        for (reply, outcome) in settled {
            match (outcome, &sync) {
                (Ok(done), Some(_)) if !matches!(done, Done::ClaimOrder(_)) => {
                    durable.push((reply, done));
                }
                (outcome, _) => {
                    let _ = reply.send(outcome);
                }
            }
        }
        if let (Some(syncer), false) = (&sync, durable.is_empty())
            && let Err(std::sync::mpsc::SendError(lost)) = syncer.send(durable)
        {
            for (reply, _) in lost {
                let _ = reply.send(Err(StoreError::Config("the WAL syncer has stopped".into())));
            }
        }
        if let Some(ack) = stop {
            let _ = ack.send(());
            break;
        }
    }
    // Checkpoints the WAL if this is the last connection; errors only mean it is not.
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the SQLite writer connection");
    }
}

/// The WAL syncer thread: takes every batch committed since its last fsync, makes the WAL
/// durable with one `fdatasync`, and answers them all. One fsync thus covers however many
/// batches the writer committed meanwhile, and the writer never waits for the disk.
fn run_syncer(wal: std::path::PathBuf, rx: std::sync::mpsc::Receiver<Vec<(Reply, Done)>>) {
    while let Ok(first) = rx.recv() {
        let mut waiting = first;
        while let Ok(more) = rx.try_recv() {
            waiting.extend(more);
        }
        let synced = std::fs::File::open(&wal).and_then(|f| f.sync_data());
        match synced {
            Ok(()) => {
                for (reply, done) in waiting {
                    let _ = reply.send(Ok(done));
                }
            }
            Err(e) => {
                // The writes are committed but may not be on disk: say so rather than
                // acknowledge them (as PostgreSQL, which stops on a failed WAL flush).
                tracing::error!(error = %e, wal = %wal.display(), "fsync of the SQLite WAL failed");
                for (reply, _) in waiting {
                    let _ = reply.send(Err(StoreError::Config(format!(
                        "the write could not be made durable (fsync of the WAL failed: {e})"
                    ))));
                }
            }
        }
    }
}

/// The PostgreSQL writer task's loop.
async fn run_postgres(pool: AnyPool, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let (batch, stop) = gather(first, &mut rx);
        for (reply, outcome) in settle(batch, |work| commit_postgres(&pool, work)).await {
            let _ = reply.send(outcome);
        }
        if let Some(ack) = stop {
            let _ = ack.send(());
            break;
        }
    }
}

async fn commit_postgres(pool: &AnyPool, work: Vec<Work>) -> Result<Vec<Done>, StoreError> {
    let mut tx = pool.begin().await?;
    let outcomes = commit(&mut *tx, Backend::Postgres, work).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// Every statement of one batch, inside the caller's transaction; outcomes in order.
async fn commit<C: WriteConn>(
    tx: &mut C,
    backend: Backend,
    work: Vec<Work>,
) -> Result<Vec<Done>, StoreError> {
    let mut counts: BTreeMap<ContainerId, (i64, i64)> = BTreeMap::new();
    let mut outcomes = Vec::with_capacity(work.len());
    let mut deltas = Deltas::default();
    let mut appends = Appends::default();
    for item in work {
        let done = match item {
            Work::Import(new, audit) => {
                Done::Import(insert_one(tx, &mut appends, new, audit).await?)
            }
            Work::CreateOrder(new, audit) => {
                Done::CreateOrder(create_order_on(tx, &mut appends, new, audit).await?)
            }
            Work::ClaimOrder(order, now, until) => {
                Done::ClaimOrder(claim_order_on(tx, order, now, until).await?)
            }
            Work::CompleteOrder(ordered, issued, at, audit) => Done::CompleteOrder(
                complete_order_on(tx, &mut appends, &mut deltas, &ordered, issued, at, audit)
                    .await?,
            ),
            Work::Acme(write) => Done::Applied(crate::acme::acme_write_on(tx, &write).await?),
            Work::UseNonce(nonce, expires_at_ms) => Done::Applied(
                tx.execute(
                    "INSERT INTO acme_used_nonces (nonce, expires_at_ms) VALUES ($1, $2) \
                     ON CONFLICT (nonce) DO NOTHING",
                    crate::conn::args![nonce.as_str(), expires_at_ms],
                )
                .await?
                    == 1,
            ),
            Work::FinishJob(job, outcome, now) => {
                Done::Applied(finish_on(tx, &job, &outcome, now).await?)
            }
            Work::RecordAttempt(attempt) => {
                record_attempt_on(tx, &attempt).await?;
                Done::Applied(true)
            }
            Work::CreateIssued(new, issued, create_audit, issue_audit) => Done::CreateIssued(
                create_issued_on(
                    tx,
                    &mut appends,
                    &mut deltas,
                    new,
                    issued,
                    create_audit,
                    issue_audit,
                )
                .await?,
            ),
        };
        match &done {
            Done::Import(InsertOutcome::Inserted(r)) => deltas.record(r, 1),
            Done::CompleteOrder(Some(r)) | Done::CreateIssued(r) => deltas.record(r, 1),
            _ => {}
        }
        if let Some((container, total, org)) = done.counts() {
            let c = counts.entry(container).or_default();
            c.0 += total;
            c.1 += org;
        }
        outcomes.push(done);
    }
    appends.write(tx, backend).await?;
    for (container, (total, org)) in counts {
        bump_counts(tx, container, total, org).await?;
    }
    deltas.apply(tx).await?;
    Ok(outcomes)
}
