//! What is PostgreSQL's own: its pool and session settings. (Its DDL is in
//! `migrations/postgres`; the few statements that differ by backend sit beside their SQLite
//! twins in the module of their tables.)

/// 16 connections, each with JIT off: report queries whose row estimates are loose (a range
/// per period edge) crossed its cost threshold and spent ~80 ms compiling for ~2 ms of work.
/// Everything certkeeper asks is an index search; JIT only pays on big scans.
pub(crate) fn pool_options() -> sqlx::any::AnyPoolOptions {
    sqlx::any::AnyPoolOptions::new()
        .max_connections(16)
        .after_connect(|conn, _| {
            Box::pin(async move {
                use sqlx::Executor as _;
                conn.execute("SET jit = off").await?;
                Ok(())
            })
        })
}

/// The database's clock in Unix milliseconds, as SQL (job leases are timed by it). The
/// statement's own instant, not the transaction's, so a long transaction cannot hand out a
/// lease that is already shorter than it says.
pub(crate) const NOW_MS_SQL: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";
/// Nodes claiming together each take different jobs instead of queueing on the same rows.
pub(crate) const SKIP_LOCKED_SQL: &str = " FOR UPDATE SKIP LOCKED";
