//! Notification rules: which events of a project (optionally one collection) go where.
//!
//! `certificate.expiring` fires once per certificate for the nearest threshold it crossed
//! ([`nearest_threshold`]); every other event once per certificate. Channels are a signed
//! webhook or an e-mail digest.

use std::fmt;
use std::str::FromStr;

use time::{Duration, OffsetDateTime};

/// What a rule listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    Expiring,
    Issued,
    Renewed,
    RenewalFailed,
    ValidationFailed,
    Revoked,
}

impl Event {
    pub const ALL: [Event; 6] = [
        Self::Expiring,
        Self::Issued,
        Self::Renewed,
        Self::RenewalFailed,
        Self::ValidationFailed,
        Self::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expiring => "certificate.expiring",
            Self::Issued => "certificate.issued",
            Self::Renewed => "certificate.renewed",
            Self::RenewalFailed => "certificate.renewal_failed",
            Self::ValidationFailed => "order.validation_failed",
            Self::Revoked => "certificate.revoked",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Event {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown event {s:?}; expected one of {}",
                    Self::ALL.map(Event::as_str).join(", ")
                )
            })
    }
}

/// Where a rule's messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// A Standard Webhooks receiver; the secret is `whsec_…` (generated when not given).
    Webhook { url: String, secret: String },
    /// An e-mail digest to these addresses.
    Email { to: Vec<String> },
}

/// A rule as the core checks and stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub events: Vec<Event>,
    /// Thresholds in days, descending, distinct; `0` means expired.
    pub expiring_days: Vec<u32>,
    pub collection_id: Option<i64>,
    pub channel: Channel,
}

/// The thresholds a rule uses when none are given.
pub const DEFAULT_EXPIRING_DAYS: [u32; 5] = [30, 14, 7, 1, 0];

impl Rule {
    /// Checks and normalises (thresholds sorted descending, events and thresholds deduped).
    pub fn check(mut self) -> Result<Self, String> {
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err("name must be 1 to 200 characters".into());
        }
        if self.events.is_empty() {
            return Err("events must name at least one event".into());
        }
        self.events.sort();
        self.events.dedup();
        if let Some(d) = self.expiring_days.iter().find(|d| **d > 3650) {
            return Err(format!("expiringDays must be between 0 and 3650, not {d}"));
        }
        self.expiring_days.sort_unstable_by(|a, b| b.cmp(a));
        self.expiring_days.dedup();
        if self.events.contains(&Event::Expiring) && self.expiring_days.is_empty() {
            return Err(
                "expiringDays must list at least one threshold for certificate.expiring".into(),
            );
        }
        match &self.channel {
            Channel::Webhook { url, .. } if url.is_empty() => {
                return Err("channel.url is required for a webhook".into());
            }
            Channel::Email { to } if to.is_empty() => {
                return Err("channel.to must list at least one address".into());
            }
            _ => {}
        }
        Ok(self)
    }

    pub fn wants(&self, event: Event) -> bool {
        self.events.contains(&event)
    }
}

/// The nearest threshold (in days, from `thresholds`) that a certificate expiring at
/// `not_after` has crossed at `now`: the smallest `t` with `not_after - t days <= now`.
pub fn nearest_threshold(
    thresholds: &[u32],
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Option<u32> {
    thresholds
        .iter()
        .copied()
        .filter(|t| not_after - Duration::days(i64::from(*t)) <= now)
        .min()
}

/// Whole days left until `not_after` (negative once expired), rounded up as people count.
pub fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    let secs = (not_after - now).whole_seconds();
    secs.div_euclid(86_400) + i64::from(secs.rem_euclid(86_400) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn thresholds() {
        let now = datetime!(2026-06-01 0:00 UTC);
        let t = DEFAULT_EXPIRING_DAYS;
        assert_eq!(nearest_threshold(&t, now + Duration::days(40), now), None);
        assert_eq!(
            nearest_threshold(&t, now + Duration::days(30), now),
            Some(30)
        );
        assert_eq!(
            nearest_threshold(&t, now + Duration::days(10), now),
            Some(14)
        );
        assert_eq!(
            nearest_threshold(&t, now + Duration::hours(5), now),
            Some(1)
        );
        assert_eq!(
            nearest_threshold(&t, now - Duration::hours(5), now),
            Some(0)
        );
        assert_eq!(days_left(now + Duration::hours(5), now), 1);
        assert_eq!(days_left(now + Duration::days(3), now), 3);
        assert_eq!(days_left(now - Duration::hours(5), now), 0);
    }

    #[test]
    fn rules_are_checked_and_normalised() {
        let r = Rule {
            name: " expiry ".into(),
            events: vec![Event::Issued, Event::Expiring, Event::Issued],
            expiring_days: vec![1, 30, 7, 30],
            collection_id: None,
            channel: Channel::Email {
                to: vec!["ops@example.com".into()],
            },
        }
        .check()
        .unwrap();
        assert_eq!(r.name, "expiry");
        assert_eq!(r.events, [Event::Expiring, Event::Issued]);
        assert_eq!(r.expiring_days, [30, 7, 1]);
        assert!("certificate.nope".parse::<Event>().is_err());
    }
}
