//! The scheduler: every node runs one; together they run each due job once.
//!
//! A tick claims due jobs (and jobs whose holder's lease lapsed) through the store, runs them
//! concurrently, keeps each lease alive while its job runs, and records the outcome under the
//! claim's token. A node that stalls past its lease loses the job: its lease renewal fails,
//! the run is dropped, and whatever it would have written is refused by the token check. The
//! work itself is written so that running it twice is harmless (an order is issued only from
//! `pending`, a renewal only for a certificate not yet renewed), which covers the window
//! between a stall and its discovery.
//!
//! Between ticks the scheduler sleeps until the next due job, at most `poll`, and wakes at
//! once when this node schedules work ([`Core::wake_scheduler`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use certkeeper_domain::job::{JobKind, retry_delay};
use certkeeper_store::{ClaimedJob, JobOutcome};
use rand::Rng as _;
use time::Duration;

use crate::{Core, CoreError};

/// How often the expired-order sweep runs.
pub const EXPIRE_ORDERS_EVERY: Duration = Duration::seconds(60);
/// The most jobs one tick claims.
const BATCH: i64 = 32;

/// How a node schedules.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// This node's name in leases (host and process, unless configured).
    pub node: String,
    /// How long a claim holds a job without renewal.
    pub lease: Duration,
    /// The longest sleep between looks at the jobs table.
    pub poll: StdDuration,
}

impl SchedulerConfig {
    pub fn new(poll: StdDuration) -> Self {
        Self {
            node: format!(
                "{}:{}:{}",
                hostname(),
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
            lease: Duration::seconds(60),
            poll,
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}

/// What a job's run decided.
#[derive(Debug)]
pub(crate) enum RunResult {
    Done,
    RunAgainIn(Duration),
    Failed(String),
}

/// Runs a node's jobs.
#[derive(Debug, Clone)]
pub struct Scheduler {
    core: Core,
    config: Arc<SchedulerConfig>,
}

impl Scheduler {
    pub fn new(core: Core, config: SchedulerConfig) -> Self {
        Self {
            core,
            config: Arc::new(config),
        }
    }

    /// Makes sure the recurring jobs exist (of several nodes starting, one creates them).
    pub async fn install(&self) -> Result<(), CoreError> {
        for kind in [JobKind::ExpireOrders, JobKind::Notify] {
            self.core
                .store
                .ensure_job(kind, "*", self.core.now())
                .await?;
        }
        // The CRL is the built-in CA's: a server without one has nothing to publish.
        if self.core.issuance.is_some() {
            self.core
                .store
                .ensure_job(
                    JobKind::PublishCrl,
                    certkeeper_store::CRL_JOB_SUBJECT,
                    self.core.now(),
                )
                .await?;
        }
        Ok(())
    }

    /// Claims what is due now and runs it to the end; returns how many jobs ran. (Tests and
    /// benchmarks step the scheduler with this; `run` keeps jobs flowing instead.)
    pub async fn tick(&self) -> Result<usize, CoreError> {
        let jobs = self
            .core
            .store
            .claim_jobs(&self.config.node, self.core.now(), self.config.lease, BATCH)
            .await?;
        let n = jobs.len();
        futures::future::join_all(jobs.into_iter().map(|job| self.run_claimed(job))).await;
        Ok(n)
    }

    /// Runs jobs until `shutdown` resolves, then waits for the ones in flight. Jobs run as
    /// tasks of their own, at most [`BATCH`] at a time: a long one (an issue job waiting for
    /// DNS to propagate) holds one slot, not the loop, so deliveries and renewals keep going.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let slots = Arc::new(tokio::sync::Semaphore::new(BATCH as usize));
        let freed = Arc::new(tokio::sync::Notify::new());
        tokio::pin!(shutdown);
        let mut installed = false;
        loop {
            if !installed {
                match self.install().await {
                    Ok(()) => installed = true,
                    Err(e) => {
                        tracing::warn!(error = %e, "installing the recurring jobs failed; retrying on the next round")
                    }
                }
            }
            let free = slots.available_permits();
            let mut claimed = 0;
            if free > 0 {
                match self
                    .core
                    .store
                    .claim_jobs(
                        &self.config.node,
                        self.core.now(),
                        self.config.lease,
                        free as i64,
                    )
                    .await
                {
                    Ok(jobs) => {
                        claimed = jobs.len();
                        for job in jobs {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                return;
                            };
                            let (this, freed) = (self.clone(), freed.clone());
                            tokio::spawn(async move {
                                this.run_claimed(job).await;
                                drop(permit);
                                freed.notify_one();
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "the scheduler could not claim jobs"),
                }
            }
            if free > 0 && claimed == free {
                // Every free slot was filled: more may be due.
                continue;
            }
            let sleep = self.until_next_due().await;
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(sleep) => {}
                () = self.core.scheduler_wake.notified() => {}
                () = freed.notified(), if free == 0 => {}
            }
        }
        // Let the jobs in flight finish (the caller bounds how long); their leases would
        // otherwise have to lapse before another node takes them over.
        let _ = slots.acquire_many(BATCH as u32).await;
    }

    async fn until_next_due(&self) -> StdDuration {
        let poll = self.config.poll;
        match self.core.store.next_job_due().await {
            Ok(Some(due)) => {
                let wait = due - self.core.now();
                if wait <= Duration::ZERO {
                    // Due but not claimed: held by another node, or just failed; look again soon.
                    StdDuration::from_millis(500).min(poll)
                } else {
                    StdDuration::try_from(wait).unwrap_or(poll).min(poll)
                }
            }
            Ok(None) => poll,
            Err(e) => {
                tracing::warn!(error = %e, "the scheduler could not read the next due time");
                poll
            }
        }
    }

    /// Runs one claimed job while keeping its lease, then records the outcome under its token.
    async fn run_claimed(&self, job: ClaimedJob) {
        let work = self.core.run_job(&job);
        tokio::pin!(work);
        let renew_every = StdDuration::try_from(self.config.lease / 3)
            .unwrap_or(StdDuration::from_secs(20))
            .max(StdDuration::from_millis(100));
        let result = loop {
            tokio::select! {
                r = &mut work => break r,
                () = tokio::time::sleep(renew_every) => {
                    match self.core.store.extend_lease(&job, self.config.lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(job = job.id, kind = %job.kind, "lost the lease; another node took the job over");
                            return;
                        }
                        Err(e) => tracing::warn!(job = job.id, error = %e, "renewing a job lease failed"),
                    }
                }
            }
        };
        let now = self.core.now();
        let outcome = match result {
            Ok(RunResult::Done) => JobOutcome::Done,
            Ok(RunResult::RunAgainIn(d)) => JobOutcome::RunAgainAt(now + d),
            Ok(RunResult::Failed(error)) | Err(CoreErrorText(error)) => {
                let jitter: f64 = rand::thread_rng().r#gen();
                tracing::warn!(job = job.id, kind = %job.kind, subject = %job.subject, attempts = job.attempts, %error, "job failed; will retry");
                JobOutcome::Failed {
                    error,
                    retry_at: now + retry_delay(job.attempts, jitter),
                }
            }
        };
        match self.core.store.finish_job(&job, outcome, now).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                job = job.id,
                "the job's lease was taken over; its outcome is dropped"
            ),
            Err(e) => {
                tracing::warn!(job = job.id, error = %e, "recording a job's outcome failed; it will run again after its lease")
            }
        }
    }
}

/// A core error flattened to the text a job records.
#[derive(Debug)]
pub(crate) struct CoreErrorText(pub String);

impl From<CoreError> for CoreErrorText {
    fn from(e: CoreError) -> Self {
        Self(e.to_string())
    }
}

impl Core {
    /// The project a certificate belongs to, for work that starts from the certificate (jobs
    /// carry no key to authorize with).
    pub(crate) async fn project_of(
        &self,
        record: &certkeeper_domain::certificate::CertificateRecord,
    ) -> Result<certkeeper_domain::project::Project, CoreError> {
        self.store
            .project(record.project_id)
            .await?
            .ok_or_else(|| CoreError::internal(format!("certificate {} has no project", record.id)))
    }

    /// Wakes this node's scheduler: work was just scheduled for now.
    pub fn wake_scheduler(&self) {
        self.scheduler_wake.notify_one();
    }

    /// Runs one job's work.
    async fn run_job(&self, job: &ClaimedJob) -> Result<RunResult, CoreErrorText> {
        match job.kind {
            JobKind::ExpireOrders => {
                let n = self.expire_orders().await?;
                if n > 0 {
                    tracing::info!(rejected = n, "expired pending orders");
                }
                Ok(RunResult::RunAgainIn(EXPIRE_ORDERS_EVERY))
            }
            JobKind::Issue => Ok(self.run_issue_job(parse_subject(job)?).await?),
            JobKind::Renew => Ok(self.run_renew_job(parse_subject(job)?).await?),
            JobKind::Notify => Ok(self.run_notify_job().await?),
            JobKind::Deliver => Ok(self.run_deliver_job(parse_subject(job)?.0).await?),
            JobKind::PublishCrl => Ok(self.run_crl_job().await?),
            JobKind::AcmeValidate => {
                self.recover_acme_validation(&job.subject).await?;
                Ok(RunResult::Done)
            }
        }
    }
}

fn parse_subject(job: &ClaimedJob) -> Result<certkeeper_domain::ids::CertificateId, CoreErrorText> {
    job.subject
        .parse::<i64>()
        .map(certkeeper_domain::ids::CertificateId)
        .map_err(|_| {
            CoreErrorText(format!(
                "job {} has a bad subject {:?}",
                job.id, job.subject
            ))
        })
}

impl Core {
    /// `GET /api/v1/jobs`: server-wide, so for admin keys that are not limited to a project.
    pub async fn list_jobs(
        &self,
        who: &crate::Principal,
        state: Option<certkeeper_domain::job::JobState>,
        kind: Option<JobKind>,
        limit: i64,
    ) -> Result<Vec<certkeeper_store::JobRecord>, CoreError> {
        if !who.key.role.is_admin() || who.key.project.is_some() || !who.key.collections.is_empty()
        {
            return Err(CoreError::Forbidden(
                "the jobs list needs an admin API key that is not limited to a project".into(),
            ));
        }
        if !(1..=1000).contains(&limit) {
            return Err(CoreError::Invalid(format!(
                "limit must be between 1 and 1000 (got {limit})"
            )));
        }
        Ok(self.store.list_jobs(state, kind, limit).await?)
    }
}
