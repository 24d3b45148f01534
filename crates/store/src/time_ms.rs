//! Instants are stored as unix milliseconds: portable across both databases, and cheap to
//! index and compare.

use time::OffsetDateTime;

use crate::StoreError;

pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_ms(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("instant {ms} ms: {e}")))
}
