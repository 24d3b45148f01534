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
