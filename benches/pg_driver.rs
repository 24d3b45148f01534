//! sqlx's `Any` driver (what the store uses on PostgreSQL) against the typed `Postgres`
//! driver, on the same statements, pool size and concurrency, in one run: point reads by
//! primary key and single-row insert transactions (each its own commit, so its own WAL
//! flush). Decides whether the store should move to the typed driver (docs/architecture.md).
//!
//! `cargo bench --bench pg_driver`; `BENCH_PG` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) is the server, on which a throwaway
//! database is made and dropped; `BENCH_SECONDS` (default 4) per measurement,
//! `BENCH_CONCURRENCY` (default 8).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection;
use support::env_or;

/// Runs `conc` tasks calling `op(task, i)` until `secs` pass; operations per second.
async fn rate<F, Fut>(conc: usize, secs: u64, op: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..conc)
        .map(|t| {
            let (op, done) = (op.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while Instant::now() < until {
                    op(t, i).await;
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

const ROWS: i64 = 10_000;

fn id_for(task: usize, i: u64) -> i64 {
    // A spread of ids without a random number generator: the same sequence for both drivers.
    ((task as u64 * 7919 + i * 104_729) % ROWS as u64) as i64 + 1
}

/// The two measurements for one pool type: the same statements, whichever driver runs them.
macro_rules! measurements {
    ($reads:ident, $writes:ident, $pool:ty, $tag:literal) => {
        async fn $reads(pool: $pool, conc: usize, secs: u64) -> f64 {
            rate(conc, secs, move |t, i| {
                let pool = pool.clone();
                async move {
                    let row: (i64, String) =
                        sqlx::query_as("SELECT id, name FROM bench_rows WHERE id = $1")
                            .bind(id_for(t, i))
                            .fetch_one(&pool)
                            .await
                            .expect("read");
                    assert!(row.0 > 0);
                }
            })
            .await
        }

        async fn $writes(pool: $pool, conc: usize, secs: u64) -> f64 {
            rate(conc, secs, move |t, i| {
                let pool = pool.clone();
                async move {
                    let mut tx = pool.begin().await.expect("begin");
                    sqlx::query("INSERT INTO bench_writes (name, payload) VALUES ($1, $2)")
                        .bind(format!(concat!($tag, "-{}-{}"), t, i))
                        .bind(vec![7u8; 512])
                        .execute(&mut *tx)
                        .await
                        .expect("insert");
                    tx.commit().await.expect("commit");
                }
            })
            .await
        }
    };
}

measurements!(any_reads, any_writes, sqlx::AnyPool, "any");
measurements!(typed_reads, typed_writes, sqlx::PgPool, "typed");

#[tokio::main]
async fn main() {
    sqlx::any::install_default_drivers();
    let server: String = env_or(
        "BENCH_PG",
        "postgres://postgres@127.0.0.1:5432/postgres".to_string(),
    );
    let secs: u64 = env_or("BENCH_SECONDS", 4);
    let conc: usize = env_or("BENCH_CONCURRENCY", 8);
    let name = format!("ck_pg_driver_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&server).await.expect("server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create database");
    let url = match server.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("BENCH_PG needs a database path"),
    };
    {
        let setup = sqlx::PgPool::connect(&url).await.expect("connect");
        sqlx::query("CREATE TABLE bench_rows (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL)")
            .execute(&setup)
            .await
            .expect("table");
        sqlx::query(
            "CREATE TABLE bench_writes (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, payload BYTEA NOT NULL)",
        )
        .execute(&setup)
        .await
        .expect("table");
        sqlx::query(
            "INSERT INTO bench_rows (name) SELECT 'row-' || g FROM generate_series(1, 10000) g",
        )
        .execute(&setup)
        .await
        .expect("seed");
        setup.close().await;
    }
    let any: sqlx::AnyPool = sqlx::pool::PoolOptions::<sqlx::Any>::new()
        .max_connections(conc as u32)
        .connect(&url)
        .await
        .expect("any pool");
    let typed: sqlx::PgPool = sqlx::pool::PoolOptions::<sqlx::Postgres>::new()
        .max_connections(conc as u32)
        .connect(&url)
        .await
        .expect("typed pool");
    // Warm both pools and the table, then alternate so both see the same machine.
    any_reads(any.clone(), conc, 1).await;
    typed_reads(typed.clone(), conc, 1).await;
    let (mut ar, mut tr, mut aw, mut tw) = (0.0, 0.0, 0.0, 0.0);
    for _ in 0..2 {
        ar += any_reads(any.clone(), conc, secs).await;
        tr += typed_reads(typed.clone(), conc, secs).await;
        aw += any_writes(any.clone(), conc, secs).await;
        tw += typed_writes(typed.clone(), conc, secs).await;
    }
    let (ar, tr, aw, tw) = (ar / 2.0, tr / 2.0, aw / 2.0, tw / 2.0);
    println!(
        "point reads ({conc} tasks): Any {ar:.0}/s, typed Postgres {tr:.0}/s, typed/any {:.2}",
        tr / ar
    );
    println!(
        "insert transactions ({conc} tasks): Any {aw:.0}/s, typed Postgres {tw:.0}/s, typed/any {:.2}",
        tw / aw
    );
    any.close().await;
    typed.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop database");
}
