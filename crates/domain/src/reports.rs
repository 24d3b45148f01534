//! Report windows: which instants each report counts, computed from "now" and the request.
//!
//! Everything here is pure, so every window edge is unit-tested without a database. The store
//! turns the windows into range queries over indexed columns and hourly aggregates.

use jiff::Timestamp;
use jiff::civil;
use jiff::tz::TimeZone;
use time::{Duration, OffsetDateTime};

/// Milliseconds in a week: Keyfactor's issuance periods are weeks back from the evaluation date.
pub const WEEK_MS: i64 = 7 * 24 * 3_600_000;
/// Most periods Keyfactor's issuance analytics accepts.
pub const MAX_PERIODS: u32 = 52;

/// Keyfactor's issuance analytics: period `n` (1-based) counts certificates whose notBefore is
/// in `(eval − 7n days, eval − 7(n−1) days]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuancePeriods {
    pub eval_ms: i64,
    pub periods: u32,
}

impl IssuancePeriods {
    /// `periods` must be 1..=52 (checked by the caller, which owns the error wording).
    pub fn new(eval: OffsetDateTime, periods: u32) -> Self {
        Self {
            eval_ms: unix_ms(eval),
            periods,
        }
    }

    /// The whole window, as `(exclusive lower bound, inclusive upper bound)` in unix ms.
    pub fn window_ms(&self) -> (i64, i64) {
        (
            self.eval_ms - i64::from(self.periods) * WEEK_MS,
            self.eval_ms,
        )
    }

    /// The period a notBefore falls in, if any.
    pub fn period_of(&self, not_before_ms: i64) -> Option<u32> {
        let age = self.eval_ms - not_before_ms;
        if age < 0 {
            return None;
        }
        // age in [7(n−1), 7n) weeks ⇔ notBefore in (eval − 7n, eval − 7(n−1)].
        let n = age / WEEK_MS + 1;
        // The left edge of period n is exclusive: age exactly 7n weeks belongs to period n+1.
        u32::try_from(n).ok().filter(|n| *n <= self.periods)
    }
}

/// DigiCert's expiring-orders buckets, in the order the report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiringBucket {
    /// 60 ≤ days ≤ 90.
    Days90,
    /// 30 ≤ days < 60.
    Days60,
    /// 0 < days < 30.
    Days30,
    /// −7 ≤ days ≤ 0: expired in the last 7 days (or expiring today).
    Expired7,
}

impl ExpiringBucket {
    pub const ALL: [ExpiringBucket; 4] = [
        ExpiringBucket::Days90,
        ExpiringBucket::Days60,
        ExpiringBucket::Days30,
        ExpiringBucket::Expired7,
    ];

    /// The `days_expiring` value DigiCert labels the bucket with.
    pub fn days_expiring(self) -> i32 {
        match self {
            ExpiringBucket::Days90 => 90,
            ExpiringBucket::Days60 => 60,
            ExpiringBucket::Days30 => 30,
            ExpiringBucket::Expired7 => -7,
        }
    }

    /// The bucket's days-until-expiry as `[first, last)`.
    fn days(self) -> (i64, i64) {
        match self {
            ExpiringBucket::Days90 => (60, 91),
            ExpiringBucket::Days60 => (30, 60),
            ExpiringBucket::Days30 => (1, 30),
            ExpiringBucket::Expired7 => (-7, 1),
        }
    }
}

/// DigiCert's account time zone: dates in its reports and filters are Mountain Time.
pub fn mountain_time() -> TimeZone {
    // The zone is compiled in (jiff's bundled tzdb), so this cannot fail at run time.
    TimeZone::get("America/Denver").unwrap_or(TimeZone::UTC)
}

/// The bucket windows at `now`, as `[from, until)` unix-ms ranges of notAfter. Days are
/// Mountain Time calendar days: "days until expiry" is the expiry's date minus today's.
pub fn expiring_windows(now: OffsetDateTime) -> [(ExpiringBucket, i64, i64); 4] {
    let tz = mountain_time();
    let today = Timestamp::from_millisecond(unix_ms(now))
        .map(|t| t.to_zoned_datetime(tz.clone()).date())
        .unwrap_or(civil::date(1970, 1, 1));
    let midnight = |days: i64| start_of_day(&tz, today, days);
    ExpiringBucket::ALL.map(|b| {
        let (first, last) = b.days();
        (b, midnight(first), midnight(last))
    })
}

/// Unix ms of the start of `date + days` in `tz` (the first instant of that day, which DST
/// never skips in America/Denver, where clocks change at 02:00).
fn start_of_day(tz: &TimeZone, date: civil::Date, days: i64) -> i64 {
    date.checked_add(jiff::Span::new().days(days))
        .ok()
        .and_then(|d| d.to_zoned_datetime(tz.clone()).ok())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0)
}

/// The window of DigiCert's status-change list, inclusive at both ends, in unix ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusWindow {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// Longest window `minutes`/`seconds` may ask for: seven days.
pub const MAX_RECENT_SECONDS: i64 = 7 * 24 * 3600;

/// Why a status-change window was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("the total time frame cannot exceed seven days (10080 minutes, or 604800 seconds)")]
    TooLong,
    #[error("{0}")]
    Invalid(String),
}

impl StatusWindow {
    /// The last `minutes` + `seconds` up to `now` (both ends included).
    pub fn recent(
        now: OffsetDateTime,
        minutes: Option<i64>,
        seconds: Option<i64>,
    ) -> Result<Self, WindowError> {
        let total = minutes.unwrap_or(0) * 60 + seconds.unwrap_or(0);
        if total > MAX_RECENT_SECONDS {
            return Err(WindowError::TooLong);
        }
        let to_ms = unix_ms(now);
        Ok(Self {
            from_ms: to_ms - total * 1000,
            to_ms,
        })
    }

    /// DigiCert's `filters[status_last_updated]=START...END`: each end `yyyy-MM-dd` or
    /// `yyyy-MM-dd+HH:mm:ss` (a `+` that URL decoding turned into a space is accepted too), in
    /// Mountain Time. A date-only END includes that whole day; a time END includes its second.
    pub fn parse_range(filter: &str) -> Result<Self, WindowError> {
        let (start, end) = filter.split_once("...").ok_or_else(|| {
            WindowError::Invalid(
                "filters[status_last_updated] must be START...END (yyyy-MM-dd or yyyy-MM-dd+HH:mm:ss)"
                    .into(),
            )
        })?;
        let tz = mountain_time();
        let (start_dt, _) = parse_mountain(start.trim(), "start")?;
        let (end_dt, date_only) = parse_mountain(end.trim(), "end")?;
        let at = |dt: civil::DateTime, what: &str| {
            dt.to_zoned_datetime(tz.clone())
                .map(|z| z.timestamp().as_millisecond())
                .map_err(|e| WindowError::Invalid(format!("the {what} date: {e}")))
        };
        let from_ms = at(start_dt, "start")?;
        let to_ms = if date_only {
            let next = end_dt
                .date()
                .checked_add(jiff::Span::new().days(1))
                .map_err(|e| WindowError::Invalid(format!("the end date: {e}")))?;
            at(next.to_datetime(civil::Time::midnight()), "end")? - 1
        } else {
            at(end_dt, "end")? + 999
        };
        if to_ms < from_ms {
            return Err(WindowError::Invalid(
                "filters[status_last_updated]: the start is after the end".into(),
            ));
        }
        Ok(Self { from_ms, to_ms })
    }
}

/// One end of a status_last_updated range, with whether it was a date alone.
fn parse_mountain(s: &str, what: &str) -> Result<(civil::DateTime, bool), WindowError> {
    let bad = || {
        WindowError::Invalid(format!(
            "filters[status_last_updated]: the {what} {s:?} is not yyyy-MM-dd or yyyy-MM-dd+HH:mm:ss"
        ))
    };
    let strict_date = |d: &str| -> Result<civil::Date, WindowError> {
        // yyyy-MM-dd exactly: jiff alone would also take other ISO 8601 forms.
        let b = d.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        d.parse::<civil::Date>().map_err(|_| bad())
    };
    match s.split_once(['+', ' ']) {
        None => Ok((strict_date(s)?.to_datetime(civil::Time::midnight()), true)),
        Some((d, t)) => {
            let date = strict_date(d)?;
            let tb = t.as_bytes();
            if tb.len() != 8 || tb[2] != b':' || tb[5] != b':' {
                return Err(bad());
            }
            let time = t.parse::<civil::Time>().map_err(|_| bad())?;
            Ok((date.to_datetime(time), false))
        }
    }
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// `t` plus whole days, for tests and callers that build windows by hand.
pub fn days_after(t: OffsetDateTime, days: i64) -> OffsetDateTime {
    t + Duration::days(days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ms(t: OffsetDateTime) -> i64 {
        unix_ms(t)
    }

    #[test]
    fn issuance_period_edges() {
        let eval = datetime!(2025-10-16 17:45:36 UTC);
        let p = IssuancePeriods::new(eval, 2);
        assert_eq!(
            p.period_of(ms(eval)),
            Some(1),
            "exactly at EvalDate: period 1"
        );
        assert_eq!(p.period_of(ms(eval) + 1), None, "after EvalDate: none");
        let week_ago = ms(eval) - WEEK_MS;
        assert_eq!(p.period_of(week_ago + 1), Some(1));
        assert_eq!(
            p.period_of(week_ago),
            Some(2),
            "exactly 7 days old: period 2"
        );
        assert_eq!(p.period_of(ms(eval) - 2 * WEEK_MS + 1), Some(2));
        assert_eq!(
            p.period_of(ms(eval) - 2 * WEEK_MS),
            None,
            "beyond the last period"
        );
        assert_eq!(p.window_ms(), (ms(eval) - 2 * WEEK_MS, ms(eval)));
    }

    #[test]
    fn expiring_buckets_use_mountain_days() {
        // 2025-03-05 02:00 UTC is 2025-03-04 19:00 MST: "today" is March 4th in Denver.
        let now = datetime!(2025-03-05 02:00 UTC);
        let w = expiring_windows(now);
        let mst_midnight = |d: time::Date| ms(d.midnight().assume_utc()) + 7 * 3_600_000;
        let mdt_midnight = |d: time::Date| ms(d.midnight().assume_utc()) + 6 * 3_600_000;
        use time::macros::date;
        assert_eq!(w[3].0, ExpiringBucket::Expired7);
        // Today −7 = Feb 25 (MST) .. tomorrow = Mar 5 (MST).
        assert_eq!(w[3].1, mst_midnight(date!(2025 - 02 - 25)));
        assert_eq!(w[3].2, mst_midnight(date!(2025 - 03 - 05)));
        // 0 < d < 30: Mar 5 .. Apr 3; DST starts Mar 9, so Apr 3 starts at 06:00 UTC.
        assert_eq!(w[2].1, mst_midnight(date!(2025 - 03 - 05)));
        assert_eq!(w[2].2, mdt_midnight(date!(2025 - 04 - 03)));
        assert_eq!(w[1].1, mdt_midnight(date!(2025 - 04 - 03)));
        assert_eq!(w[1].2, mdt_midnight(date!(2025 - 05 - 03)));
        assert_eq!(w[0].1, mdt_midnight(date!(2025 - 05 - 03)));
        // d ≤ 90 → until the start of day 91 (June 3).
        assert_eq!(w[0].2, mdt_midnight(date!(2025 - 06 - 03)));
    }

    #[test]
    fn recent_windows() {
        let now = datetime!(2025-01-10 12:00 UTC);
        let w = StatusWindow::recent(now, Some(10), None).unwrap();
        assert_eq!(w.to_ms - w.from_ms, 600_000);
        let w = StatusWindow::recent(now, Some(1), Some(30)).unwrap();
        assert_eq!(w.to_ms - w.from_ms, 90_000);
        assert!(StatusWindow::recent(now, Some(10080), None).is_ok());
        assert!(StatusWindow::recent(now, None, Some(604_800)).is_ok());
        assert_eq!(
            StatusWindow::recent(now, Some(10080), Some(1)),
            Err(WindowError::TooLong)
        );
    }

    #[test]
    fn ranges_are_mountain_time_with_dst() {
        // January: MST (UTC−7).
        let w = StatusWindow::parse_range("2023-01-01...2023-01-07").unwrap();
        assert_eq!(w.from_ms, ms(datetime!(2023-01-01 07:00 UTC)));
        assert_eq!(w.to_ms, ms(datetime!(2023-01-08 07:00 UTC)) - 1);
        // July: MDT (UTC−6); '+' and ' ' both separate date and time.
        let w = StatusWindow::parse_range("2019-08-01+00:00:00...2019-08-07 23:59:59").unwrap();
        assert_eq!(w.from_ms, ms(datetime!(2019-08-01 06:00 UTC)));
        assert_eq!(w.to_ms, ms(datetime!(2019-08-08 05:59:59.999 UTC)));
        // Across the spring change (2025-03-09 02:00 MST → 03:00 MDT).
        let w = StatusWindow::parse_range("2025-03-09...2025-03-09").unwrap();
        assert_eq!(w.from_ms, ms(datetime!(2025-03-09 07:00 UTC)));
        assert_eq!(w.to_ms, ms(datetime!(2025-03-10 06:00 UTC)) - 1);
        for bad in [
            "2023-01-01",
            "2023-1-1...2023-01-07",
            "2023-01-07...2023-01-01",
            "2023-01-01+25:00:00...2023-01-02",
            "x...y",
            "2023-01-01T00:00:00...2023-01-02",
        ] {
            assert!(
                matches!(StatusWindow::parse_range(bad), Err(WindowError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
