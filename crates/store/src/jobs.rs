//! Background jobs: one row per (kind, subject), claimed with a lease.
//!
//! Due times are on the application's clock (injected, so tests move it); leases are on the
//! database's clock, so nodes whose clocks disagree still agree on who holds a job. Every
//! claim bumps `lease_token`, and every later write about the job names the token it holds:
//! a node that stalled past its lease and lost the job to another cannot finish, fail or
//! extend it (fencing).
//!
//! The scheduler's searches go through two small partial indexes (`jobs_due`, `jobs_lease`),
//! so finding due work never scans the inventory.

use std::sync::LazyLock;

use certkeeper_domain::job::{JobKind, JobState};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::{Duration, OffsetDateTime};

use crate::conn::{WriteConn, args};
use crate::time_ms::{from_ms, to_ms};
use crate::{Backend, Store, StoreError};

/// A job as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: i64,
    pub kind: JobKind,
    pub subject: String,
    pub state: JobState,
    pub due_at: OffsetDateTime,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A job this node holds: what to run and the token that proves the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: JobKind,
    pub subject: String,
    /// Attempts including this one.
    pub attempts: u32,
    pub token: i64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Nothing more to do: the row goes.
    Done,
    /// Run again at this time, as a fresh job (recurring work).
    RunAgainAt(OffsetDateTime),
    /// Failed; try again at `retry_at`.
    Failed {
        error: String,
        retry_at: OffsetDateTime,
    },
}

/// Schedules `kind` on `subject` at `due` inside the caller's transaction. A job already
/// waiting is moved to `due` (and forgets earlier failures); a running one is left alone (its
/// own outcome decides what comes next).
pub(crate) async fn schedule_on<C: WriteConn>(
    conn: &mut C,
    kind: JobKind,
    subject: &str,
    due: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO jobs (kind, subject, state, due_at_ms, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, 'scheduled', $3, $4, $4) ON CONFLICT (kind, subject) DO UPDATE SET \
         due_at_ms = excluded.due_at_ms, state = 'scheduled', attempts = 0, last_error = NULL, \
         updated_at_ms = excluded.updated_at_ms WHERE jobs.state <> 'running'",
        args![kind.as_str(), subject, to_ms(due), to_ms(now)],
    )
    .await?;
    Ok(())
}

/// [`schedule_on`], but a job already waiting keeps its due time when that is sooner: work
/// that keeps arriving (revocations for the CRL) cannot push the job out forever.
pub(crate) async fn schedule_no_later_on<C: WriteConn>(
    conn: &mut C,
    kind: JobKind,
    subject: &str,
    due: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO jobs (kind, subject, state, due_at_ms, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, 'scheduled', $3, $4, $4) ON CONFLICT (kind, subject) DO UPDATE SET \
         due_at_ms = CASE WHEN excluded.due_at_ms < jobs.due_at_ms THEN excluded.due_at_ms \
         ELSE jobs.due_at_ms END, updated_at_ms = excluded.updated_at_ms \
         WHERE jobs.state = 'scheduled'",
        args![kind.as_str(), subject, to_ms(due), to_ms(now)],
    )
    .await?;
    Ok(())
}

/// Drops a waiting job inside the caller's transaction (a running one finishes on its own).
pub(crate) async fn unschedule_on<C: WriteConn>(
    conn: &mut C,
    kind: JobKind,
    subject: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM jobs WHERE kind = $1 AND subject = $2 AND state <> 'running'",
        args![kind.as_str(), subject],
    )
    .await?;
    Ok(())
}

/// The statement of [`Store::finish_job`], fenced by the claim's token, in the caller's
/// transaction.
pub(crate) async fn finish_on<C: WriteConn>(
    conn: &mut C,
    job: &ClaimedJob,
    outcome: &JobOutcome,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = match outcome {
        JobOutcome::Done => {
            conn.execute(
                "DELETE FROM jobs WHERE id = $1 AND lease_token = $2 AND state = 'running'",
                args![job.id, job.token],
            )
            .await?
        }
        JobOutcome::RunAgainAt(at) => {
            conn.execute(
                "UPDATE jobs SET state = 'scheduled', due_at_ms = $3, attempts = 0, last_error = NULL, \
                 lease_owner = NULL, lease_until_ms = NULL, updated_at_ms = $4 \
                 WHERE id = $1 AND lease_token = $2 AND state = 'running'",
                args![job.id, job.token, to_ms(*at), to_ms(now)],
            )
            .await?
        }
        JobOutcome::Failed { error, retry_at } => {
            conn.execute(
                "UPDATE jobs SET state = 'retrying', due_at_ms = $3, last_error = $4, \
                 lease_owner = NULL, lease_until_ms = NULL, updated_at_ms = $5 \
                 WHERE id = $1 AND lease_token = $2 AND state = 'running'",
                args![job.id, job.token, to_ms(*retry_at), error.as_str(), to_ms(now)],
            )
            .await?
        }
    };
    Ok(n == 1)
}

/// The statements whose text differs by backend (the database clock, row locking).
struct ClaimSql {
    due: String,
    lapsed: String,
    extend: String,
}

fn claim_sql(backend: Backend) -> &'static ClaimSql {
    fn build(now: &str, skip_locked: &str) -> ClaimSql {
        let set = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until_ms = {now} + $2, \
             lease_token = lease_token + 1, attempts = attempts + 1, updated_at_ms = $3 WHERE id IN"
        );
        let returning = "RETURNING id, kind, subject, attempts, lease_token";
        ClaimSql {
            due: format!(
                "{set} (SELECT id FROM jobs WHERE state <> 'running' AND due_at_ms <= $3 \
                 ORDER BY due_at_ms LIMIT $4{skip_locked}) {returning}"
            ),
            lapsed: format!(
                "{set} (SELECT id FROM jobs WHERE state = 'running' AND lease_until_ms < {now} \
                 ORDER BY lease_until_ms LIMIT $4{skip_locked}) {returning}"
            ),
            extend: format!(
                "UPDATE jobs SET lease_until_ms = {now} + $1 WHERE id = $2 AND lease_token = $3 \
                 AND state = 'running'"
            ),
        }
    }
    static SQLITE: LazyLock<ClaimSql> =
        LazyLock::new(|| build(crate::sqlite::NOW_MS_SQL, crate::sqlite::SKIP_LOCKED_SQL));
    static POSTGRES: LazyLock<ClaimSql> = LazyLock::new(|| {
        build(
            crate::postgres::NOW_MS_SQL,
            crate::postgres::SKIP_LOCKED_SQL,
        )
    });
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

fn claimed_from_row(r: &AnyRow) -> Result<ClaimedJob, StoreError> {
    let kind: String = r.try_get("kind")?;
    Ok(ClaimedJob {
        id: r.try_get("id")?,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        subject: r.try_get("subject")?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        token: r.try_get("lease_token")?,
    })
}

fn job_from_row(r: &AnyRow) -> Result<JobRecord, StoreError> {
    let kind: String = r.try_get("kind")?;
    let state: String = r.try_get("state")?;
    Ok(JobRecord {
        id: r.try_get("id")?,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        subject: r.try_get("subject")?,
        state: state.parse().map_err(StoreError::Corrupt)?,
        due_at: from_ms(r.try_get("due_at_ms")?)?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        last_error: r.try_get("last_error")?,
        lease_owner: r.try_get("lease_owner")?,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
        updated_at: from_ms(r.try_get("updated_at_ms")?)?,
    })
}

const JOB_COLUMNS: &str = "id, kind, subject, state, due_at_ms, attempts, last_error, \
                           lease_owner, created_at_ms, updated_at_ms";

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.whole_milliseconds()).unwrap_or(i64::MAX)
}

impl Store {
    /// Schedules `kind` on `subject` at `due` (see [`schedule_on`]).
    pub async fn schedule_job(
        &self,
        kind: JobKind,
        subject: &str,
        due: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        schedule_on(&mut *tx, kind, subject, due, now).await?;
        tx.commit().await
    }

    /// Makes sure a recurring job exists, leaving it alone if it does.
    pub async fn ensure_job(
        &self,
        kind: JobKind,
        subject: &str,
        due: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let _turn = self.writer_turn().await;
        sqlx::query(
            "INSERT INTO jobs (kind, subject, state, due_at_ms, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, 'scheduled', $3, $3, $3) ON CONFLICT (kind, subject) DO NOTHING",
        )
        .bind(kind.as_str())
        .bind(subject)
        .bind(to_ms(due))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Claims up to `limit` jobs for `owner` for `lease` (database time): first those due at
    /// `now`, then those whose holder's lease lapsed. On PostgreSQL nodes claiming together
    /// skip each other's rows; on SQLite claims go through the one writer.
    pub async fn claim_jobs(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let sql = claim_sql(self.backend);
        let mut tx = self.begin_write().await?;
        let mut claimed = Vec::new();
        for text in [&sql.due, &sql.lapsed] {
            let left = limit - claimed.len() as i64;
            if left <= 0 {
                break;
            }
            let rows = sqlx::query(sqlx::AssertSqlSafe(text.as_str()))
                .bind(owner)
                .bind(lease_ms(lease))
                .bind(to_ms(now))
                .bind(left)
                .fetch_all(&mut *tx)
                .await?;
            for r in &rows {
                claimed.push(claimed_from_row(r)?);
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Extends a held lease by `lease` from now (database time). `false` when the lease is no
    /// longer this claim's: the job must stop.
    pub async fn extend_lease(
        &self,
        job: &ClaimedJob,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let _turn = self.writer_turn().await;
        let done = sqlx::query(sqlx::AssertSqlSafe(claim_sql(self.backend).extend.as_str()))
            .bind(lease_ms(lease))
            .bind(job.id)
            .bind(job.token)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records how a run ended, if `job`'s claim still holds the lease. `false` when it does
    /// not (another node took the job over; its outcome wins). Through the group-commit
    /// writer on both databases: the outcomes of concurrent jobs share one commit.
    pub async fn finish_job(
        &self,
        job: &ClaimedJob,
        outcome: JobOutcome,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.writer.finish_job(job.clone(), outcome, now).await
    }

    /// The earliest due time of any waiting job, so the scheduler can sleep until then.
    pub async fn next_job_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let ms: Option<i64> =
            sqlx::query_scalar("SELECT MIN(due_at_ms) FROM jobs WHERE state <> 'running'")
                .fetch_one(&self.pool)
                .await?;
        ms.map(from_ms).transpose()
    }

    /// Jobs, soonest due first, optionally of one state and kind.
    pub async fn list_jobs(
        &self,
        state: Option<JobState>,
        kind: Option<JobKind>,
        limit: i64,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR kind = $2) \
             ORDER BY due_at_ms, id LIMIT $3"
        )))
        .bind(state.map(JobState::as_str))
        .bind(kind.map(JobKind::as_str))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// The job of `kind` on `subject`, if one is scheduled or running.
    pub async fn job(&self, kind: JobKind, subject: &str) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = $1 AND subject = $2"
        )))
        .bind(kind.as_str())
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }
}
