//! Background jobs: what the scheduler runs, and the retry rule every kind shares.
//!
//! A job is one row (kind, subject) with a due time and, while it runs, a lease. The rules
//! here know nothing of the database: which jobs exist, what their states mean, and how long a
//! failed job waits before its next attempt.

use std::fmt;
use std::str::FromStr;

use time::Duration;

/// What a job does. Its subject says to what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Rejects pending orders whose challenge expired (subject `*`; recurs every minute).
    ExpireOrders,
    /// Publishes an order's DNS-01 records through the project's provider, waits for them,
    /// validates, issues and removes them (subject: the certificate id).
    Issue,
    /// Renews an issued certificate (subject: the certificate id).
    Renew,
    /// Matches lifecycle events and crossed expiry thresholds to notification rules and
    /// enqueues deliveries (subject `*`; recurs).
    Notify,
    /// Sends one notification delivery (subject: the delivery id).
    Deliver,
    /// Signs a new CRL when revocations were added or the current one ages.
    PublishCrl,
    /// Finishes an ACME challenge validation that its node did not (subject: the
    /// authorization id). Scheduled with the move to `processing`, due once the validation
    /// should long have ended; a no-op when it did.
    AcmeValidate,
}

impl JobKind {
    pub const ALL: [JobKind; 7] = [
        Self::ExpireOrders,
        Self::Issue,
        Self::Renew,
        Self::Notify,
        Self::Deliver,
        Self::PublishCrl,
        Self::AcmeValidate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExpireOrders => "expire-orders",
            Self::Issue => "issue",
            Self::Renew => "renew",
            Self::Notify => "notify",
            Self::Deliver => "deliver",
            Self::PublishCrl => "publish-crl",
            Self::AcmeValidate => "acme-validate",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown job kind {s:?}; expected one of {}",
                    Self::ALL.map(JobKind::as_str).join(", ")
                )
            })
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for its due time; it has not failed.
    Scheduled,
    /// A node holds its lease and is running it.
    Running,
    /// Its last attempt failed; it runs again at its due time.
    Retrying,
}

impl JobState {
    pub const ALL: [JobState; 3] = [Self::Scheduled, Self::Running, Self::Retrying];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Retrying => "retrying",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown job state {s:?}; expected one of {}",
                    Self::ALL.map(JobState::as_str).join(", ")
                )
            })
    }
}

/// How long a job waits after its `attempts`-th failure (1-based): 1 min, 10 min, 100 min,
/// then every 24 h, each stretched by up to +10 % of itself with `jitter` in `[0, 1)` so that
/// jobs which failed together (a DNS server was down) do not all come back in the same second.
pub fn retry_delay(attempts: u32, jitter: f64) -> Duration {
    let base = match attempts {
        0 | 1 => Duration::minutes(1),
        2 => Duration::minutes(10),
        3 => Duration::minutes(100),
        _ => Duration::hours(24),
    };
    let jitter = jitter.clamp(0.0, 1.0);
    base + base * (0.1 * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in JobKind::ALL {
            assert_eq!(k.as_str().parse::<JobKind>(), Ok(k));
        }
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>(), Ok(s));
        }
        assert!("nope".parse::<JobKind>().unwrap_err().contains("renew"));
    }

    #[test]
    fn backoff_grows_then_stays_daily() {
        assert_eq!(retry_delay(1, 0.0), Duration::minutes(1));
        assert_eq!(retry_delay(2, 0.0), Duration::minutes(10));
        assert_eq!(retry_delay(3, 0.0), Duration::minutes(100));
        assert_eq!(retry_delay(4, 0.0), Duration::hours(24));
        assert_eq!(retry_delay(40, 0.0), Duration::hours(24));
        let stretched = retry_delay(2, 0.999);
        assert!(stretched > Duration::minutes(10) && stretched <= Duration::minutes(11));
    }
}
