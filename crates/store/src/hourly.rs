//! Hourly aggregates behind the reports: certificates per UTC hour of notBefore
//! (`issued_hourly`) and of notAfter (`expiring_hourly`), per project and for all projects
//! (container 0).
//!
//! Every write that adds or removes an issued certificate records its deltas here and applies
//! them in the same transaction, so the aggregates are never out of step with the inventory.
//! Reports then read at most one row per hour of their window instead of one row per
//! certificate; the partial hours at a window's edges are counted from the indexed columns.

use std::collections::BTreeMap;

use certkeeper_domain::certificate::CertificateRecord;
use certkeeper_domain::ids::ContainerId;

use crate::StoreError;
use crate::conn::{WriteConn, args};
use crate::time_ms::to_ms;

pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The container id that stands for "all projects" in the aggregates.
pub(crate) const ALL: i64 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Table {
    Issued,
    Expiring,
}

impl Table {
    fn upsert(self) -> &'static str {
        match self {
            Table::Issued => {
                "INSERT INTO issued_hourly (container_id, hour, n) VALUES ($1, $2, $3) \
                 ON CONFLICT (container_id, hour) DO UPDATE SET n = issued_hourly.n + excluded.n"
            }
            Table::Expiring => {
                "INSERT INTO expiring_hourly (container_id, hour, n) VALUES ($1, $2, $3) \
                 ON CONFLICT (container_id, hour) DO UPDATE SET n = expiring_hourly.n + excluded.n"
            }
        }
    }
}

/// The hour (since the epoch, UTC) an instant falls in.
pub(crate) fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS)
}

/// Deltas gathered over a transaction, applied once in a fixed order (table, container, hour)
/// so that concurrent PostgreSQL transactions lock shared rows in the same order and cannot
/// deadlock.
#[derive(Debug, Default)]
pub(crate) struct Deltas(BTreeMap<(Table, i64, i64), i64>);

impl Deltas {
    /// Counts an issued certificate in (`sign` = 1) or out (`sign` = −1). Records without
    /// validity dates (created, not issued) do not count; a renewed one (its successor issued)
    /// or a revoked one no longer counts among the expiring.
    pub(crate) fn record(&mut self, record: &CertificateRecord, sign: i64) {
        if let Some(s) = record.summary() {
            let revoked = record
                .order()
                .is_some_and(|o| o.status == certkeeper_domain::order::OrderStatus::Revoked);
            if record.lineage.renewed_by.is_some() || revoked {
                for c in [ALL, record.container_id.0] {
                    *self
                        .0
                        .entry((Table::Issued, c, hour_of(to_ms(s.not_before))))
                        .or_default() += sign;
                }
            } else {
                self.add(
                    record.container_id,
                    to_ms(s.not_before),
                    to_ms(s.not_after),
                    sign,
                );
            }
        }
    }

    /// Moves one certificate expiring at `not_after_ms` in or out of the expiring counts only.
    pub(crate) fn expiring(&mut self, container: ContainerId, not_after_ms: i64, sign: i64) {
        for c in [ALL, container.0] {
            *self
                .0
                .entry((Table::Expiring, c, hour_of(not_after_ms)))
                .or_default() += sign;
        }
    }

    pub(crate) fn add(
        &mut self,
        container: ContainerId,
        not_before_ms: i64,
        not_after_ms: i64,
        sign: i64,
    ) {
        for c in [ALL, container.0] {
            *self
                .0
                .entry((Table::Issued, c, hour_of(not_before_ms)))
                .or_default() += sign;
            *self
                .0
                .entry((Table::Expiring, c, hour_of(not_after_ms)))
                .or_default() += sign;
        }
    }

    pub(crate) async fn apply<C: WriteConn>(self, conn: &mut C) -> Result<(), StoreError> {
        for ((table, container, hour), n) in self.0 {
            if n == 0 {
                continue;
            }
            conn.execute(table.upsert(), args![container, hour, n])
                .await?;
        }
        Ok(())
    }
}
