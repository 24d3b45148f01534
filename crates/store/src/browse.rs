//! Browsing the inventory for people: filtered, sorted, keyset-paged listings and their
//! capped counts, for the dashboard and the exports it streams.
//!
//! Each sort is a walk over an index in its own order (`certificates_days_left` and its
//! per-project and organization-scoped siblings, or the primary key), started just past the
//! previous page's last row, so a page costs the same at any depth and at any inventory size.
//! A key limited to one project sees its own certificates and the organization-scoped ones:
//! two index walks, merged, rather than one walk filtered by an `OR` no index can serve.

use certkeeper_domain::browse::{BrowseCursor, BrowseFilter, BrowseSort, StatusFilter};
use certkeeper_domain::certificate::CertificateRecord;
use certkeeper_domain::ids::ContainerId;
use certkeeper_domain::order::OrderStatus;
use certkeeper_domain::query::Query;
use sqlx::Row;
use time::OffsetDateTime;

use crate::certificates::record_from_row;
use crate::query_sql::{Bind, bind_all, compile, like_escape};
use crate::time_ms::to_ms;
use crate::{Backend, Store, StoreError};

/// The days-left sort key: notAfter, with not-yet-issued certificates after every issued one.
/// Written exactly as the indexes of migration 0018 are, so the planner matches them.
const DAYS_LEFT: &str = "COALESCE(c.not_after_ms, 9223372036854775807)";
const NOT_ISSUED: i64 = i64::MAX;

/// Counts stop here: "10,000+" is as useful to a person as the exact figure, and counting a
/// million rows per page view is not.
pub const COUNT_CAP: i64 = 10_000;

/// Which certificates a browse may see and which project it is narrowed to, as resolved by
/// the core from the caller's key and filters.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowseScope<'a> {
    /// A key limited to this project sees its own certificates and organization-scoped ones.
    pub visible_to: Option<ContainerId>,
    /// Only this project's own certificates.
    pub container: Option<ContainerId>,
    /// Only certificates in this collection (its query, evaluated at the browse's `now`).
    pub collection: Option<&'a Query>,
}

/// One listed certificate and where the page after it starts.
#[derive(Debug, Clone)]
pub struct BrowseRow {
    pub record: CertificateRecord,
    pub cursor: BrowseCursor,
}

/// Builds one SQL text with numbered placeholders.
struct Sql {
    backend: Backend,
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn new(backend: Backend) -> Self {
        Self {
            backend,
            text: String::new(),
            binds: Vec::new(),
        }
    }

    /// A placeholder for `b`.
    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    fn int(&mut self, n: i64) -> String {
        self.param(Bind::Int(n))
    }

    fn text(&mut self, s: String) -> String {
        self.param(Bind::Text(s))
    }

    /// The conditions every branch shares (everything but visibility and the cursor).
    fn filters(
        &mut self,
        filter: &BrowseFilter,
        collection: Option<&Query>,
        sort: BrowseSort,
        now: OffsetDateTime,
    ) -> Vec<String> {
        let mut conds = Vec::new();
        // Ranges on notAfter go through the sort key when it is the key, so they narrow the
        // index walk instead of filtering it.
        let expiry = if matches!(sort, BrowseSort::DaysLeft | BrowseSort::DaysLeftDesc) {
            DAYS_LEFT
        } else {
            "c.not_after_ms"
        };
        // Revoked certificates are few: found through the partial index on revoked orders.
        let revoked = "c.id IN (SELECT r.certificate_id FROM orders r WHERE r.status = 'revoked')";
        let order_is = |status: &str| {
            format!(
                "EXISTS (SELECT 1 FROM orders o WHERE o.certificate_id = c.id AND o.status = '{status}')"
            )
        };
        match filter.status {
            None => {}
            Some(StatusFilter::Active) => {
                let now = self.int(to_ms(now));
                let max = self.int(NOT_ISSUED);
                conds.push(format!(
                    "{DAYS_LEFT} >= {now} AND {DAYS_LEFT} < {max} AND NOT {revoked}"
                ));
            }
            Some(StatusFilter::Expired) => {
                let now = self.int(to_ms(now));
                conds.push(format!("{DAYS_LEFT} < {now} AND NOT {revoked}"));
            }
            Some(StatusFilter::Revoked) => conds.push(revoked.to_string()),
            Some(StatusFilter::Pending) => {
                let max = self.int(NOT_ISSUED);
                conds.push(format!("{DAYS_LEFT} = {max} AND {}", order_is("pending")));
            }
            Some(StatusFilter::Failed) => {
                let max = self.int(NOT_ISSUED);
                conds.push(format!("{DAYS_LEFT} = {max} AND {}", order_is("rejected")));
            }
        }
        if let Some(search) = &filter.search {
            let cn = match self.backend {
                Backend::Sqlite => "c.issued_cn",
                Backend::Postgres => "lower(c.issued_cn)",
            };
            let prefix = self.text(format!("{}%", like_escape(&search.text.to_lowercase())));
            let mut any = vec![format!("{cn} LIKE {prefix} ESCAPE '\\'")];
            if let Some(hex) = &search.hex {
                let serial = self.text(hex.trim_start_matches("00").to_string());
                let hex = self.text(hex.clone());
                any.push(format!("c.serial_number = {serial}"));
                any.push(format!("c.thumbprint = {hex}"));
            }
            conds.push(format!("({})", any.join(" OR ")));
        }
        if let Some(t) = filter.certificate_type {
            let t = self.text(t.as_str().to_string());
            conds.push(format!("c.certificate_type = {t}"));
        }
        if let Some(issuer) = &filter.issuer {
            let issuer = self.text(issuer.clone());
            conds.push(format!("c.issuer = {issuer}"));
        }
        if let Some(from) = filter.expires_from {
            let from = self.int(to_ms(from));
            conds.push(format!("{expiry} >= {from}"));
        }
        if let Some(until) = filter.expires_until {
            let until = self.int(to_ms(until));
            conds.push(format!("{expiry} < {until}"));
        }
        if let Some(from) = filter.issued_from {
            let from = self.int(to_ms(from));
            conds.push(format!("c.not_before_ms >= {from}"));
        }
        if let Some(until) = filter.issued_until {
            let until = self.int(to_ms(until));
            conds.push(format!("c.not_before_ms < {until}"));
        }
        if filter.unrenewed {
            conds.push("c.renewed_by_id IS NULL".into());
        }
        if let Some(q) = collection {
            let cond = compile(q, self.backend, now, self.binds.len() + 1);
            self.binds.extend(cond.binds);
            conds.push(format!("({})", cond.sql));
        }
        conds
    }
}

impl Sql {
    /// The condition that confines a walk to its visibility branch.
    fn visibility(&mut self, branch: Branch) -> Option<String> {
        match branch {
            Branch::All => None,
            Branch::Own(c) => Some(format!("c.container_id = {}", self.int(c.0))),
            Branch::OrganizationNotOf(c) => Some(format!(
                "c.scope = 1 AND c.container_id <> {}",
                self.int(c.0)
            )),
        }
    }
}

/// The sort's key expression, direction and index order.
fn order_of(sort: BrowseSort) -> (&'static str, &'static str, &'static str) {
    match sort {
        BrowseSort::DaysLeft => (DAYS_LEFT, ">", "ASC"),
        BrowseSort::DaysLeftDesc => (DAYS_LEFT, "<", "DESC"),
        BrowseSort::Newest => ("c.id", "<", "DESC"),
        BrowseSort::Oldest => ("c.id", ">", "ASC"),
    }
}

/// The visibility branches a scope needs: each is one index walk.
fn branches(scope: &BrowseScope<'_>) -> Vec<Branch> {
    match (scope.container, scope.visible_to) {
        (Some(c), _) => vec![Branch::Own(c)],
        (None, Some(v)) => vec![Branch::Own(v), Branch::OrganizationNotOf(v)],
        (None, None) => vec![Branch::All],
    }
}

#[derive(Debug, Clone, Copy)]
enum Branch {
    All,
    Own(ContainerId),
    OrganizationNotOf(ContainerId),
}

impl Store {
    /// One page of certificates matching `filter` in `scope`, in `sort` order, starting after
    /// `after`, at most `limit` rows.
    #[allow(clippy::too_many_arguments)]
    pub async fn browse_certificates(
        &self,
        scope: BrowseScope<'_>,
        filter: &BrowseFilter,
        sort: BrowseSort,
        after: Option<BrowseCursor>,
        limit: i64,
        now: OffsetDateTime,
    ) -> Result<Vec<BrowseRow>, StoreError> {
        let (key, cmp, dir) = order_of(sort);
        let mut sql = Sql::new(self.backend);
        let mut parts = Vec::new();
        for branch in branches(&scope) {
            let mut conds = sql.filters(filter, scope.collection, sort, now);
            conds.extend(sql.visibility(branch));
            if let Some(a) = after {
                if key == "c.id" {
                    let id = sql.int(a.id);
                    conds.push(format!("c.id {cmp} {id}"));
                } else {
                    let (k, id) = (sql.int(a.key), sql.int(a.id));
                    conds.push(format!("({key}, c.id) {cmp} ({k}, {id})"));
                }
            }
            let n = sql.int(limit);
            let wh = if conds.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conds.join(" AND "))
            };
            parts.push(format!(
                "SELECT * FROM (SELECT c.id AS page_id, {key} AS page_key FROM certificates c {wh} \
                 ORDER BY page_key {dir}, c.id {dir} LIMIT {n}) b{}",
                parts.len()
            ));
        }
        let n = sql.int(limit);
        sql.text = format!(
            "{} JOIN (SELECT * FROM ({}) merged ORDER BY page_key {dir}, page_id {dir} LIMIT {n}) page \
             ON page.page_id = c.id ORDER BY page.page_key {dir}, c.id {dir}",
            select_certificates!(", page.page_key", ""),
            parts.join(" UNION ALL ")
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.text)), &sql.binds)
            .fetch_all(&self.scan_pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(BrowseRow {
                    record: record_from_row(r)?,
                    cursor: BrowseCursor {
                        key: r.try_get("page_key")?,
                        id: r.try_get("id")?,
                    },
                })
            })
            .collect()
    }

    /// How many certificates match, counted up to [`COUNT_CAP`] + 1 (more than the cap means
    /// "more than [`COUNT_CAP`]").
    pub async fn count_browse(
        &self,
        scope: BrowseScope<'_>,
        filter: &BrowseFilter,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let mut sql = Sql::new(self.backend);
        let mut total = 0;
        for branch in branches(&scope) {
            sql.binds.clear();
            let mut conds = sql.filters(filter, scope.collection, BrowseSort::DaysLeft, now);
            conds.extend(sql.visibility(branch));
            let wh = if conds.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conds.join(" AND "))
            };
            let cap = sql.int(COUNT_CAP + 1 - total);
            let text = format!(
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM certificates c {wh} LIMIT {cap}) capped"
            );
            let n: i64 = bind_all(sqlx::query(sqlx::AssertSqlSafe(text)), &sql.binds)
                .fetch_one(&self.scan_pool)
                .await?
                .try_get("n")?;
            total += n;
            if total > COUNT_CAP {
                break;
            }
        }
        Ok(total)
    }

    /// The distinct issuer DNs, in order, at most `limit`: a loose scan of the issuer index
    /// (one index probe per issuer, however many certificates each has). With `visible_to`,
    /// only issuers of certificates that project can see.
    pub async fn issuers(
        &self,
        visible_to: Option<ContainerId>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "WITH RECURSIVE i(dn) AS ( \
               SELECT MIN(issuer) FROM certificates \
               UNION ALL \
               SELECT (SELECT MIN(c.issuer) FROM certificates c WHERE c.issuer > i.dn) FROM i \
               WHERE i.dn IS NOT NULL) \
             SELECT dn FROM i WHERE dn IS NOT NULL LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.scan_pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let dn: String = r.try_get("dn")?;
            if let Some(c) = visible_to {
                let seen = sqlx::query(
                    "SELECT 1 AS one FROM certificates WHERE issuer = $1 \
                     AND (container_id = $2 OR scope = 1) LIMIT 1",
                )
                .bind(&dn)
                .bind(c.0)
                .fetch_optional(&self.scan_pool)
                .await?;
                if seen.is_none() {
                    continue;
                }
            }
            out.push(dn);
        }
        Ok(out)
    }

    /// How many orders are in `status` (the partial indexes of migration 0018 serve
    /// `rejected` and `revoked`), in one project or all.
    pub async fn orders_in_status(
        &self,
        status: OrderStatus,
        container: Option<ContainerId>,
    ) -> Result<i64, StoreError> {
        let row = match container {
            None => {
                sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE status = $1")
                    .bind(status.as_str())
                    .fetch_one(&self.pool)
                    .await?
            }
            Some(c) => {
                sqlx::query(
                    "SELECT COUNT(*) AS n FROM orders WHERE status = $1 AND container_id = $2",
                )
                .bind(status.as_str())
                .bind(c.0)
                .fetch_one(&self.pool)
                .await?
            }
        };
        Ok(row.try_get("n")?)
    }
}
