//! What is SQLite's own: its connection settings, and the writer thread that owns the one
//! connection the hot writes go through.
//!
//! sqlx runs each SQLite connection on a worker thread of its own and hands every statement
//! to it over a channel and back: one futex wake and one park per statement, which on a small
//! machine costs more than the statement. The group-commit writer ([`crate::writer`]) instead
//! hands a whole batch to this thread, which runs it synchronously through rusqlite (cached
//! prepared statements, no hop between them) inside one `BEGIN IMMEDIATE` transaction, with one
//! fsync at its commit. Reads and the rarer writes stay on sqlx's pool; the two share the
//! in-process writer lock so they never meet SQLite's busy handler.

use std::path::Path;
use std::sync::Arc;

use rusqlite::types::Value;

use crate::StoreError;
use crate::conn::{Arg, WriteConn};

/// How SQLite makes commits durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `synchronous=FULL`: every commit is fsynced before it is acknowledged, so it survives a
    /// power loss or an OS crash. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: commits survive a process crash but the last ones may roll back
    /// after a power loss. An explicit opt-in for disposable data.
    Normal,
}

impl Synchronous {
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Full => "full",
            Synchronous::Normal => "normal",
        }
    }
}

impl std::str::FromStr for Synchronous {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Synchronous::Full),
            "normal" => Ok(Synchronous::Normal),
            other => Err(format!(
                "unknown SQLite synchronous mode {other:?}: expected full or normal"
            )),
        }
    }
}

/// Whether a connection maps the database file into memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mmap {
    /// Up to SQLite's 2 GiB cap: report queries that visit many rows read pages in place
    /// instead of one read(2) each, about twice as fast.
    Scans,
    /// None: in WAL mode a connection drops its whole mapping (munmap, a TLB shootdown on
    /// every core, then page faults again) at the start of each read after any commit, which
    /// under a write load cost point reads and the writer more than the mapping saves.
    Off,
}

/// The settings every SQLite connection of a store starts with, sqlx's and the writer's.
pub(crate) fn pragmas(sync: Synchronous, mmap: Mmap) -> String {
    let mmap = match mmap {
        Mmap::Scans => 2_147_418_112,
        Mmap::Off => 0,
    };
    format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; \
         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -65536; PRAGMA mmap_size = {mmap}",
        sync.as_str().to_ascii_uppercase()
    )
}

/// sqlx's SQLite pools: `connections` connections, each started with [`pragmas`].
pub(crate) fn pool_options(
    sync: Synchronous,
    mmap: Mmap,
    connections: u32,
) -> sqlx::any::AnyPoolOptions {
    sqlx::any::AnyPoolOptions::new()
        .max_connections(connections)
        .min_connections(1)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(conn, sqlx::AssertSqlSafe(pragmas(sync, mmap))).await?;
                Ok(())
            })
        })
}

/// Opens the writer's own connection to the database file.
pub(crate) fn open_writer(
    path: &Path,
    sync: Synchronous,
) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(&pragmas(sync, Mmap::Off))?;
    // A small page cache for the writer: at the end of every commit SQLite truncates the
    // cache, walking its whole hash table once the cache holds many pages; with the readers'
    // 64 MiB that walk was 8 % of all CPU under an import load (`pcache1TruncateUnsafe`). The
    // writer touches few pages per item and the OS keeps the rest in memory.
    conn.execute_batch("PRAGMA cache_size = -4096")?;
    // Checkpoints run on the checkpointer's thread, not inside the writer's commits; this is
    // only the backstop should that thread fall far behind (SQLite's default is 1000).
    conn.execute_batch(&format!(
        "PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT}"
    ))?;
    // Enough for every statement the writer runs, so none is ever prepared twice.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// SQLite's write-ahead log beside the database file.
pub(crate) fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    std::path::PathBuf::from(name)
}

/// Makes the directory entry of `file` (the WAL, which SQLite has just created) durable, once,
/// so a power loss cannot lose the file the synced commits are in.
pub(crate) fn sync_directory_of(file: &Path) -> Result<(), StoreError> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::Config(format!("cannot sync directory {}: {e}", dir.display())))
}

/// The WAL size (pages) at which the writer checkpoints inline after all.
const WRITER_AUTOCHECKPOINT: u32 = 20_000;
/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// A thread that copies the WAL back into the database file with `PASSIVE` checkpoints on a
/// connection of its own. With SQLite's automatic checkpoints the writer did that inside a
/// commit every 1000 pages, and every client waited for the copy and its fsyncs; a passive
/// checkpoint runs beside the writer instead, on the other core.
pub(crate) struct Checkpointer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path, sync: Synchronous) -> Result<Self, StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch(&pragmas(sync, Mmap::Off))?;
        conn.execute_batch("PRAGMA cache_size = -1024")?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("certkeeper-sqlite-checkpoint".into())
            .spawn(move || {
                while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::park_timeout(CHECKPOINT_EVERY);
                    let done = conn
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
                    if let Err(e) = done {
                        tracing::warn!(error = %e, "SQLite checkpoint failed; retrying");
                    }
                }
                if let Err((_, e)) = conn.close() {
                    tracing::warn!(error = %e, "closing the SQLite checkpoint connection");
                }
            })
            .map_err(|e| StoreError::Config(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread after its current checkpoint.
    pub(crate) fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// A transaction on the writer's connection.
pub(crate) struct SqliteTx<'c>(pub(crate) &'c rusqlite::Connection);

impl SqliteTx<'_> {
    /// Prepares (from the cache) and binds `$n` placeholders by their number, as sqlx does, so
    /// the same SQL text means the same thing on both drivers even when numbers repeat or come
    /// out of order.
    fn prepared(
        &self,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        for i in 1..=stmt.parameter_count() {
            let n = match stmt.parameter_name(i) {
                Some(name) => name
                    .trim_start_matches(['$', '?'])
                    .parse::<usize>()
                    .map_err(|_| StoreError::Config(format!("parameter {name} in {sql:?}")))?,
                None => i,
            };
            let value = match args.get(n.wrapping_sub(1)) {
                Some(a) => to_value(a),
                None => {
                    return Err(StoreError::Config(format!(
                        "parameter ${n} has no argument in {sql:?}"
                    )));
                }
            };
            stmt.raw_bind_parameter(i, value)?;
        }
        Ok(stmt)
    }
}

fn to_value(a: &Arg) -> Value {
    match a {
        Arg::Int(Some(v)) => Value::Integer(*v),
        Arg::Text(Some(v)) => Value::Text(v.clone()),
        Arg::Blob(Some(v)) => Value::Blob(v.clone()),
        Arg::Int(None) | Arg::Text(None) | Arg::Blob(None) => Value::Null,
    }
}

impl WriteConn for SqliteTx<'_> {
    fn execute(
        &mut self,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let result = self
            .prepared(sql, args)
            .and_then(|mut s| Ok(s.raw_execute()? as u64));
        std::future::ready(result)
    }

    fn fetch_i64(
        &mut self,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send {
        let result = self.prepared(sql, args).and_then(|mut s| {
            let mut rows = s.raw_query();
            let first = match rows.next()? {
                Some(row) => Some(row.get::<_, i64>(0)?),
                None => None,
            };
            // Step to the end so a RETURNING statement's every row is applied.
            while rows.next()?.is_some() {}
            Ok(first)
        });
        std::future::ready(result)
    }
}

/// The in-process writer lock, shared between the writer thread and sqlx's writes.
pub(crate) type WriteLock = Arc<tokio::sync::Mutex<()>>;

/// The database's clock in Unix milliseconds, as SQL (job leases are timed by it).
pub(crate) const NOW_MS_SQL: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
/// SQLite has one writer at a time: a claim needs no row locks.
pub(crate) const SKIP_LOCKED_SQL: &str = "";
