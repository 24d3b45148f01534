//! certkeeper's storage authority: every SQL statement lives here.
//!
//! One SQL text serves SQLite and PostgreSQL (`$n` placeholders, `RETURNING`, `ON CONFLICT`);
//! only the DDL differs (`migrations/sqlite`, `migrations/postgres`). Reads and the rarer
//! writes go through sqlx's `Any` driver on both; the hot writes go through the group-commit
//! writer ([`writer`]), which on SQLite runs each batch on a thread of its own through rusqlite
//! ([`sqlite`]) and on PostgreSQL through sqlx, the same statements either way ([`conn`]).
//! Rows are read into private row types and converted to domain types here, so nothing above
//! this crate sees a column name.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod acme;
mod apikeys;
mod appends;
mod audit;
#[macro_use]
mod certificates;
// After `certificates`, whose `select_certificates!` it uses.
mod browse;
mod collections;
mod conn;
mod counts;
mod error;
mod hourly;
mod jobs;
mod lifecycle;
mod metrics;
mod notifications;
mod orders;
mod postgres;
mod projects;
mod query_sql;
mod reports;
mod revocation;
mod sealed;
mod seed;
mod sessions;
mod settings;
mod sqlite;
mod time_ms;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyConnectOptions;

pub use acme::{AcmeAccountRow, AcmeAuthzRow, AcmeEabKeyRow, AcmeOrderRow};
pub use apikeys::{NewApiKey, StoredApiKey};
pub use browse::{BrowseRow, BrowseScope, COUNT_CAP};
pub use certificates::{CertificatePage, InsertOutcome, NewCertificate, StoredCertificate};
pub use collections::{CollectionFields, StoredCollection};
pub use error::StoreError;
pub use jobs::{ClaimedJob, JobOutcome, JobRecord};
pub use lifecycle::StoredLifecycle;
pub use metrics::{EXPIRING_DAYS, ExpiringCertificate, ProjectCounts};
pub use notifications::{
    FanOut, LifecycleEvent, NewDelivery, RuleFields, StoredDelivery, StoredRule,
};
pub use orders::{IssuedCertificate, NewOrder, OrderState};
pub use reports::{ReportScope, StatusChange, StatusChangeOrder};
pub use revocation::{
    CRL_COALESCE, CRL_JOB_SUBJECT, NewRevocation, RevokedEntry, SerialStatus, StoredCrl,
};
pub use sealed::{Reseal, SealedCursor, SealedKind, SealedRow};
pub use seed::{KEPT_WHILE_SEEDING, REBUILD_INDEXES_FROM, RIGHT_EDGE_INDEXES, SeedReport};
pub use sessions::StoredSession;
pub use sqlite::Synchronous;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The handle every service uses to reach the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    /// Point reads and the writes that do not go through the writer. On SQLite its
    /// connections do not map the file (see [`sqlite::Mmap`]).
    pool: AnyPool,
    /// Report queries, which visit many rows: on SQLite memory-mapped connections of their
    /// own; on PostgreSQL the same pool as `pool`.
    scan_pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time; queueing writers here is much faster than letting
    /// them spin in SQLite's busy handler. `None` on PostgreSQL.
    write_lock: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The group-commit writer certificate inserts go through.
    writer: writer::Writer,
}

/// How a store connects, beyond its URL.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOptions {
    /// SQLite's durability mode (ignored on PostgreSQL, whose `synchronous_commit` stays on).
    pub sqlite_synchronous: Synchronous,
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects with the default (durable) options; see [`Store::connect_with`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Connects, creating a SQLite file if it does not exist, and applies pending migrations.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let store_options = options;
        sqlx::any::install_default_drivers();
        let (backend, url) = normalize_url(url)?;
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Config(format!("database URL {url:?}: {e}")))?;
        let pool = Self::pool(backend, &url, &options, store_options, sqlite::Mmap::Off, 6).await?;
        // Reports read through connections of their own that map the file (SQLite); on
        // PostgreSQL the one pool serves both.
        let scan_pool = match backend {
            Backend::Sqlite => {
                Self::pool(
                    backend,
                    &url,
                    &options,
                    store_options,
                    sqlite::Mmap::Scans,
                    4,
                )
                .await?
            }
            Backend::Postgres => pool.clone(),
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator.run(&pool).await?;
        let write_lock =
            (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        let writer = match (&write_lock, sqlite_path(&url)) {
            (Some(lock), Some(path)) => {
                writer::Writer::spawn_sqlite(&path, store_options.sqlite_synchronous, lock.clone())?
            }
            (Some(_), None) => {
                return Err(StoreError::Config(format!(
                    "SQLite needs a database file, not {url:?}"
                )));
            }
            (None, _) => writer::Writer::spawn_postgres(pool.clone()),
        };
        Ok(Self {
            pool,
            scan_pool,
            backend,
            write_lock,
            writer,
        })
    }

    /// A connection pool, with each backend's own settings ([`sqlite`], [`postgres`]): on
    /// SQLite `sqlite_connections` connections with `mmap`.
    async fn pool(
        backend: Backend,
        url: &str,
        options: &AnyConnectOptions,
        store_options: StoreOptions,
        mmap: sqlite::Mmap,
        sqlite_connections: u32,
    ) -> Result<AnyPool, StoreError> {
        let pool_options = match backend {
            Backend::Sqlite => {
                sqlite::pool_options(store_options.sqlite_synchronous, mmap, sqlite_connections)
            }
            Backend::Postgres => postgres::pool_options(),
        };
        pool_options
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Connect(format!("{}: {e}", redact(url))))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Commits every write already handed to the writer, then closes every connection
    /// (waiting for those in use).
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
        self.scan_pool.close().await;
    }

    /// Waits for this process's turn to write (SQLite only; `None` on PostgreSQL), for single
    /// statements that need no transaction of their own.
    async fn writer_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        }
    }

    /// Starts a write transaction. On SQLite it takes the in-process writer lock and begins
    /// `IMMEDIATE`, so a transaction that reads before it writes can never fail half-way with
    /// `SQLITE_BUSY`.
    async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        match &self.write_lock {
            Some(lock) => {
                let guard = lock.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx,
                    _guard: Some(guard),
                })
            }
            None => Ok(WriteTx {
                tx: self.pool.begin().await?,
                _guard: None,
            }),
        }
    }
}

/// A write transaction, holding the SQLite writer lock for as long as it lives.
struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Recognises the backend and makes a SQLite URL create its file on first use.
fn normalize_url(url: &str) -> Result<(Backend, String), StoreError> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let mut url = format!("sqlite:{rest}");
        if !url.contains("mode=") {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("mode=rwc");
        }
        Ok((Backend::Sqlite, url))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((Backend::Postgres, url.to_string()))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL {:?}: expected sqlite://PATH or postgres://...",
            redact(url)
        )))
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The file a SQLite URL points at, if it is one.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            normalize_url("sqlite://a.db").unwrap().1,
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(
            normalize_url("sqlite://a.db?mode=ro").unwrap().1,
            "sqlite://a.db?mode=ro"
        );
        assert_eq!(
            normalize_url("postgres://u@h/d").unwrap().0,
            Backend::Postgres
        );
        assert!(normalize_url("mysql://x").is_err());
        assert_eq!(redact("postgres://u:secret@h/d"), "postgres://u:***@h/d");
        assert_eq!(
            sqlite_path("sqlite://dir/a.db?mode=rwc"),
            Some("dir/a.db".into())
        );
    }
}
