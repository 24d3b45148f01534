//! The report queries. None of them scans the inventory: whole hours come from the hourly
//! aggregates ([`crate::hourly`]), partial hours and saved queries from indexed ranges, and
//! status changes from the `orders` index on `status_changed_at_ms`.

use certkeeper_domain::ids::{CertificateId, ContainerId, OrderId};
use certkeeper_domain::order::OrderStatus;
use certkeeper_domain::query::Query;
use certkeeper_domain::reports::{ExpiringBucket, IssuancePeriods, StatusWindow, WEEK_MS};
use sqlx::Row;

use crate::hourly::{ALL, HOUR_MS, hour_of};
use crate::query_sql::{Bind, bind_all, compile, not_before_bounds};
use crate::{Backend, Store, StoreError};

/// Which certificates a report counts: all projects, or one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportScope {
    All,
    Container(ContainerId),
}

impl ReportScope {
    fn aggregate_key(self) -> i64 {
        match self {
            ReportScope::All => ALL,
            ReportScope::Container(c) => c.0,
        }
    }

    /// The status-change statements' condition on the scope, bound as `$3`
    /// ([`Self::aggregate_key`]). Written per scope rather than as `($3 = 0 OR container_id
    /// = $3)`: a statement must fix its index when it is prepared, and with the `OR` both
    /// databases read every order of the window, then dropped other projects' (a project of
    /// 1M certificates in 10M: 88,000 index entries read for 9,000 orders listed). This way a
    /// project's list reads its own index range (`orders_container_status_changed`).
    fn status_predicate(self) -> &'static str {
        match self {
            // `$3` is `ALL` (0) here: still referenced, so both statements bind the same
            // parameters.
            ReportScope::All => "$3 = 0",
            ReportScope::Container(_) => "container_id = $3",
        }
    }
}

/// One order in the status-change list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub order_id: OrderId,
    pub certificate_id: CertificateId,
    pub status: OrderStatus,
}

/// How the status-change list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChangeOrder {
    /// Newest change first (the default).
    ChangedDesc,
    ChangedAsc,
    OrderIdDesc,
    OrderIdAsc,
}

impl Store {
    /// Whether report statements may be kept prepared. PostgreSQL plans a kept statement for
    /// its values five times, then may switch to one generic plan for every call, and for
    /// these queries the generic plan can be a sequential scan: measured at 10M certificates,
    /// the issuance report's edge-hour query went from ~20 ms to 52 s when it flipped (a
    /// nested loop of every certificate against the 53 edges). Sent unnamed, a statement is
    /// planned for each call's values; the planning costs well under a millisecond. SQLite
    /// has no generic plans, so it keeps them.
    fn keep_report_plans(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// A report statement, planned per call where that matters (see
    /// [`Store::keep_report_plans`]).
    fn report_query<'q>(
        &self,
        sql: impl sqlx::SqlSafeStr,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        sqlx::query(sql).persistent(self.keep_report_plans())
    }

    /// Certificates per issuance period (index 0 = period 1). With a query, only the
    /// certificates it matches (evaluated at the periods' EvalDate).
    pub async fn issuance_counts(
        &self,
        periods: IssuancePeriods,
        scope: ReportScope,
        query: Option<&Query>,
        ignore_renewed: bool,
    ) -> Result<Vec<i64>, StoreError> {
        let mut counts = vec![0i64; periods.periods as usize];
        let (lo, _) = periods.window_ms();
        match query {
            Some(q) => {
                let eval = crate::time_ms::from_ms(periods.eval_ms)?;
                // The window (lo, EvalDate], narrowed by the query's own notBefore bounds.
                let (from, until) = not_before_bounds(q, eval);
                let from = from.map_or(lo + 1, |f| f.max(lo + 1));
                let until = until.map_or(periods.eval_ms + 1, |u| u.min(periods.eval_ms + 1));
                if from >= until {
                    return Ok(counts);
                }
                let cond = compile(q, self.backend, eval, 6);
                let sql = format!(
                    "SELECT ($1 - c.not_before_ms) / $2 AS p, COUNT(*) AS n FROM certificates c \
                     WHERE c.not_before_ms >= $3 AND c.not_before_ms < $4 \
                     AND ($5 = 0 OR c.container_id = $5) AND {}{} GROUP BY 1",
                    cond.sql,
                    // Keyfactor's "ignore renewed certificates": a renewed one is left out.
                    if ignore_renewed {
                        " AND c.renewed_by_id IS NULL"
                    } else {
                        ""
                    }
                );
                let q = self
                    .report_query(sqlx::AssertSqlSafe(sql))
                    .bind(periods.eval_ms)
                    .bind(WEEK_MS)
                    .bind(from)
                    .bind(until)
                    .bind(scope.aggregate_key());
                let rows = bind_all(q, &cond.binds).fetch_all(&self.scan_pool).await?;
                for r in rows {
                    add_period(&mut counts, r.try_get("p")?, r.try_get("n")?);
                }
            }
            None => {
                self.issuance_from_aggregates(periods, scope, &mut counts)
                    .await?
            }
        }
        Ok(counts)
    }

    /// Whole hours from `issued_hourly`; the hours holding a period boundary (the edges move
    /// with EvalDate's minute) counted exactly from the certificates' notBefore index.
    async fn issuance_from_aggregates(
        &self,
        periods: IssuancePeriods,
        scope: ReportScope,
        counts: &mut [i64],
    ) -> Result<(), StoreError> {
        let key = scope.aggregate_key();
        // Whole hours, summed per period in the database. An hour holds a period boundary
        // (EvalDate − 7k days) exactly when (EvalDate − its start) mod 7 days < 1 hour; those
        // are left to the exact count below. Any other hour lies inside one period, the one
        // its start falls in.
        let (lo, hi) = periods.window_ms();
        let rows = self
            .report_query(
                "SELECT ($1 - hour * $2) / $3 AS p, CAST(SUM(n) AS BIGINT) AS n FROM issued_hourly \
             WHERE container_id = $4 AND hour >= $5 AND hour <= $6 AND ($1 - hour * $2) % $3 >= $2 \
             GROUP BY 1",
            )
            .bind(periods.eval_ms)
            .bind(HOUR_MS)
            .bind(WEEK_MS)
            .bind(key)
            .bind(hour_of(lo))
            .bind(hour_of(hi))
            .fetch_all(&self.scan_pool)
            .await?;
        for r in rows {
            add_period(counts, r.try_get("p")?, r.try_get("n")?);
        }
        // The edge hours, each an indexed range on notBefore (the hour holding EvalDate ends
        // at it). The ranges are a VALUES list joined to the certificates, the list driving
        // the loop: one index search per range. (Written as OR'd ranges, both planners
        // misjudge 53 ranges without statistics as most of the table and scan it.)
        // Distinct, as periods are much longer than hours.
        let hours: Vec<i64> = (0..=i64::from(periods.periods))
            .map(|k| hour_of(periods.eval_ms - k * WEEK_MS))
            .collect();
        let mut values = Vec::with_capacity(hours.len());
        let mut binds = Vec::with_capacity(2 * hours.len());
        for (i, h) in hours.iter().enumerate() {
            let n = 4 + 2 * i;
            values.push(format!(
                "(CAST(${n} AS BIGINT), CAST(${} AS BIGINT))",
                n + 1
            ));
            binds.push(Bind::Int(h * HOUR_MS));
            binds.push(Bind::Int(((h + 1) * HOUR_MS).min(periods.eval_ms + 1)));
        }
        let sql = format!(
            "WITH edges(lo, hi) AS (VALUES {}) \
             SELECT ($1 - c.not_before_ms) / $2 AS p, COUNT(*) AS n \
             FROM edges CROSS JOIN certificates c \
             WHERE c.not_before_ms >= edges.lo AND c.not_before_ms < edges.hi \
             AND ($3 = 0 OR c.container_id = $3) GROUP BY 1",
            values.join(", ")
        );
        let q = self
            .report_query(sqlx::AssertSqlSafe(sql))
            .bind(periods.eval_ms)
            .bind(WEEK_MS)
            .bind(key);
        for r in bind_all(q, &binds).fetch_all(&self.scan_pool).await? {
            add_period(counts, r.try_get("p")?, r.try_get("n")?);
        }
        Ok(())
    }

    /// Issued, not revoked certificates (imported ones included) per expiry bucket. Bucket
    /// bounds are whole UTC hours (midnights in a zone with whole-hour offsets), so the hourly
    /// aggregate answers exactly.
    pub async fn expiring_counts(
        &self,
        windows: [(ExpiringBucket, i64, i64); 4],
        scope: ReportScope,
    ) -> Result<Vec<(ExpiringBucket, i64)>, StoreError> {
        debug_assert!(
            windows
                .iter()
                .all(|(_, f, u)| f % HOUR_MS == 0 && u % HOUR_MS == 0)
        );
        let min = windows.iter().map(|w| w.1).min().unwrap_or(0);
        let max = windows.iter().map(|w| w.2).max().unwrap_or(0);
        // Summed per bucket in the database: a few thousand hours in, four rows out.
        let rows = self
            .report_query(
            "SELECT CAST(CASE WHEN hour >= $2 AND hour < $3 THEN 0 WHEN hour >= $4 AND hour < $5 THEN 1 \
             WHEN hour >= $6 AND hour < $7 THEN 2 WHEN hour >= $8 AND hour < $9 THEN 3 ELSE -1 END AS BIGINT) AS b, \
             CAST(SUM(n) AS BIGINT) AS n FROM expiring_hourly \
             WHERE container_id = $1 AND hour >= $10 AND hour < $11 GROUP BY 1",
        )
        .bind(scope.aggregate_key())
        .bind(hour_of(windows[0].1))
        .bind(hour_of(windows[0].2))
        .bind(hour_of(windows[1].1))
        .bind(hour_of(windows[1].2))
        .bind(hour_of(windows[2].1))
        .bind(hour_of(windows[2].2))
        .bind(hour_of(windows[3].1))
        .bind(hour_of(windows[3].2))
        .bind(hour_of(min))
        .bind(hour_of(max))
        .fetch_all(&self.scan_pool)
        .await?;
        let mut out: Vec<(ExpiringBucket, i64)> = windows.iter().map(|w| (w.0, 0)).collect();
        for r in rows {
            let bucket: i64 = r.try_get("b")?;
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|i| out.get_mut(i)) {
                slot.1 += r.try_get::<i64, _>("n")?;
            }
        }
        Ok(out)
    }

    /// Orders whose status last changed inside `window` (so an order that changed again after
    /// the window's end is left out), with their current status; and how many there are in
    /// all when `count_total` is asked.
    pub async fn status_changes(
        &self,
        window: StatusWindow,
        scope: ReportScope,
        order: StatusChangeOrder,
        offset: i64,
        limit: Option<i64>,
        count_total: bool,
    ) -> Result<(Vec<StatusChange>, Option<i64>), StoreError> {
        let order_by = match order {
            StatusChangeOrder::ChangedDesc => "status_changed_at_ms DESC, id DESC",
            StatusChangeOrder::ChangedAsc => "status_changed_at_ms ASC, id ASC",
            StatusChangeOrder::OrderIdDesc => "id DESC",
            StatusChangeOrder::OrderIdAsc => "id ASC",
        };
        // The page is built in the database as one value, the orders' packed entries
        // (`status_entry`, migration 0009 on PostgreSQL, 0012 on SQLite) back to back, and
        // decoded here: drivers hand rows over one at a time, and for thousands of orders
        // that cost several times the query (on SQLite, sqlx's worker thread sends each row
        // through a channel; on PostgreSQL, sending a row costs the server as much as finding
        // it, and sqlx's `Any` layer converts each one again). The aggregate takes the page
        // in the subquery's order, which it is not promised to keep (an ORDER BY inside it
        // would re-sort the whole page), so the order is checked here: one pass when it is
        // already right.
        let aggregate = match self.backend {
            // `group_concat` copies each blob's bytes whole (embedded zero bytes included)
            // and answers text; the cast gives the bytes back as they are.
            Backend::Sqlite => "CAST(group_concat(status_entry, '') AS BLOB)",
            Backend::Postgres => "string_agg(status_entry, ''::bytea)",
        };
        let in_scope = scope.status_predicate();
        let sql = format!(
            "SELECT {aggregate} FROM (SELECT status_entry FROM orders \
             WHERE status_changed_at_ms >= $1 AND status_changed_at_ms <= $2 \
             AND {in_scope} ORDER BY {order_by} LIMIT $4 OFFSET $5) AS page"
        );
        let page = PageQuery {
            sql: &sql,
            scope,
            limit: limit.unwrap_or(i64::MAX),
            offset,
        };
        let mut changes = if self.backend == Backend::Postgres && limit.is_none() && offset == 0 {
            self.status_entries_in_halves(&page, window).await?
        } else {
            self.status_entries(&self.scan_pool, &page, window).await?
        };
        // A stable sort of sorted input is a single pass. On the raw integers: comparing
        // `OffsetDateTime`s (offset-aware) made this pass a tenth of the request.
        changes.sort_by(|a, b| match order {
            StatusChangeOrder::ChangedDesc => (b.at_ms, b.id).cmp(&(a.at_ms, a.id)),
            StatusChangeOrder::ChangedAsc => (a.at_ms, a.id).cmp(&(b.at_ms, b.id)),
            StatusChangeOrder::OrderIdDesc => b.id.cmp(&a.id),
            StatusChangeOrder::OrderIdAsc => a.id.cmp(&b.id),
        });
        let changes = changes
            .into_iter()
            .map(|c| StatusChange {
                order_id: OrderId(c.id),
                certificate_id: CertificateId(c.certificate_id),
                status: c.status,
            })
            .collect();

        let total = if count_total {
            Some(
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM orders WHERE status_changed_at_ms >= $1 \
                     AND status_changed_at_ms <= $2 AND {in_scope}"
                )))
                .persistent(self.keep_report_plans())
                .bind(window.from_ms)
                .bind(window.to_ms)
                .bind(scope.aggregate_key())
                .fetch_one(&self.scan_pool)
                .await?,
            )
        } else {
            None
        };
        Ok((changes, total))
    }

    /// One page of status entries, decoded, from `executor`.
    async fn status_entries<'e>(
        &self,
        executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
        page: &PageQuery<'_>,
        window: StatusWindow,
    ) -> Result<Vec<RawChange>, StoreError> {
        let row = self
            .report_query(sqlx::AssertSqlSafe(page.sql.to_owned()))
            .bind(window.from_ms)
            .bind(window.to_ms)
            .bind(page.scope.aggregate_key())
            .bind(page.limit)
            .bind(page.offset)
            .fetch_one(executor)
            .await?;
        // The aggregate of no rows is NULL.
        decode_status_entries(
            row.try_get::<Option<Vec<u8>>, _>(0)?
                .as_deref()
                .unwrap_or_default(),
        )
    }

    /// A whole list on PostgreSQL as two halves of the window read at once, on two
    /// connections that share one snapshot (`pg_export_snapshot`), so the answer is the one a
    /// single query would give. A backend reads an index on one core: at 10M certificates the
    /// 7-day list (~90,000 orders) was ~20 ms of PostgreSQL's time read whole, ~11 ms per half
    /// read side by side. The second connection is only taken when the pool has one to give
    /// at once (idle, or room to open one within [`SECOND_CONNECTION_WAIT`]); otherwise the
    /// list is read whole on the first, so a request never holds one connection while waiting
    /// for another behind requests doing the same. The halves come back in either order; the
    /// caller's sort puts two sorted runs together in one merge.
    async fn status_entries_in_halves(
        &self,
        page: &PageQuery<'_>,
        window: StatusWindow,
    ) -> Result<Vec<RawChange>, StoreError> {
        const SNAPSHOT_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
        let mut first = self.scan_pool.begin_with(SNAPSHOT_READ).await?;
        // A window of one millisecond has no halves.
        let second = if window.to_ms <= window.from_ms {
            None
        } else if let Some(tx) = self.scan_pool.try_begin_with(SNAPSHOT_READ).await? {
            Some(tx)
        } else if self.scan_pool.size() < self.scan_pool.options().get_max_connections() {
            tokio::time::timeout(
                SECOND_CONNECTION_WAIT,
                self.scan_pool.begin_with(SNAPSHOT_READ),
            )
            .await
            .ok()
            .transpose()?
        } else {
            None
        };
        let Some(mut second) = second else {
            let changes = self.status_entries(&mut *first, page, window).await?;
            first.commit().await?;
            return Ok(changes);
        };
        let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *first)
            .await?;
        // A utility statement takes no parameters; the id is PostgreSQL's own
        // (`00000003-0000001B-1`), checked before it is written into the statement.
        let well_formed = |b: u8| b.is_ascii_hexdigit() || b == b'-';
        if snapshot.is_empty() || !snapshot.bytes().all(well_formed) {
            return Err(StoreError::Corrupt(format!("snapshot id {snapshot:?}")));
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET TRANSACTION SNAPSHOT '{snapshot}'"
        )))
        .execute(&mut *second)
        .await?;
        let mid = window.from_ms + (window.to_ms - window.from_ms) / 2;
        let older = StatusWindow {
            from_ms: window.from_ms,
            to_ms: mid,
        };
        let newer = StatusWindow {
            from_ms: mid + 1,
            to_ms: window.to_ms,
        };
        let (newer, older) = tokio::join!(
            self.status_entries(&mut *first, page, newer),
            self.status_entries(&mut *second, page, older)
        );
        let mut changes = newer?;
        changes.extend(older?);
        first.commit().await?;
        second.commit().await?;
        Ok(changes)
    }
}

/// How long a whole status-change list waits for a second connection to be opened before it
/// is read on one: opening one takes a few milliseconds here.
const SECOND_CONNECTION_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// The statement reading one page of status entries, and what it binds besides the window.
struct PageQuery<'a> {
    sql: &'a str,
    scope: ReportScope,
    limit: i64,
    offset: i64,
}

/// A status-change row as the database gave it, before its instant becomes a date.
struct RawChange {
    id: i64,
    certificate_id: i64,
    status: OrderStatus,
    at_ms: i64,
}

/// The bytes a status is packed as in `orders.status_entry` (PostgreSQL migration 0009,
/// SQLite 0012), by position.
const ENTRY_STATUSES: [OrderStatus; 5] = [
    OrderStatus::Pending,
    OrderStatus::Issued,
    OrderStatus::Rejected,
    OrderStatus::Canceled,
    OrderStatus::Revoked,
];

/// One packed entry: order id, certificate id, change time (ms), as big-endian i64s, then
/// the status byte.
const ENTRY_LEN: usize = 25;

/// A page: `status_entry` values back to back.
fn decode_status_entries(page: &[u8]) -> Result<Vec<RawChange>, StoreError> {
    let entries = page.chunks_exact(ENTRY_LEN);
    if !entries.remainder().is_empty() {
        return Err(StoreError::Corrupt(format!(
            "status-change page of {} bytes is not a whole number of entries",
            page.len()
        )));
    }
    let int = |bytes: &[u8]| {
        let mut be = [0u8; 8];
        be.copy_from_slice(bytes);
        i64::from_be_bytes(be)
    };
    entries
        .map(|e| {
            let status = ENTRY_STATUSES
                .get(usize::from(e[24]))
                .copied()
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("order {}: unknown status", int(&e[0..8])))
                })?;
            Ok(RawChange {
                id: int(&e[0..8]),
                certificate_id: int(&e[8..16]),
                status,
                at_ms: int(&e[16..24]),
            })
        })
        .collect()
}

/// Adds `n` to the period whose 0-based week index the database computed.
fn add_period(counts: &mut [i64], week_index: i64, n: i64) {
    if let Some(slot) = usize::try_from(week_index)
        .ok()
        .and_then(|i| counts.get_mut(i))
    {
        *slot += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, certificate: i64, at: i64, status: u8) -> Vec<u8> {
        let mut e = Vec::with_capacity(ENTRY_LEN);
        e.extend_from_slice(&id.to_be_bytes());
        e.extend_from_slice(&certificate.to_be_bytes());
        e.extend_from_slice(&at.to_be_bytes());
        e.push(status);
        e
    }

    #[test]
    fn packed_entries_decode_in_order() {
        let mut page = entry(7, 70, 1_700_000_000_123, 1);
        page.extend(entry(3, 30, 1_600_000_000_000, 4));
        let changes = decode_status_entries(&page).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].id, 7);
        assert_eq!(changes[0].certificate_id, 70);
        assert_eq!(changes[0].status, OrderStatus::Issued);
        assert_eq!(changes[0].at_ms, 1_700_000_000_123);
        assert_eq!(changes[1].status, OrderStatus::Revoked);
        assert!(decode_status_entries(&[]).unwrap().is_empty());
    }

    #[test]
    fn every_status_has_its_byte() {
        for (code, status) in ENTRY_STATUSES.iter().enumerate() {
            let page = entry(1, 1, 0, code as u8);
            assert_eq!(decode_status_entries(&page).unwrap()[0].status, *status);
        }
        assert_eq!(ENTRY_STATUSES.len(), OrderStatus::ALL.len());
    }

    #[test]
    fn broken_pages_are_corrupt_not_panics() {
        let page = entry(1, 1, 0, 0xff);
        assert!(matches!(
            decode_status_entries(&page),
            Err(StoreError::Corrupt(_))
        ));
        let page = entry(1, 1, 0, 1);
        assert!(matches!(
            decode_status_entries(&page[..24]),
            Err(StoreError::Corrupt(_))
        ));
    }
}
