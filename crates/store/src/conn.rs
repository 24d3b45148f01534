//! One interface for "a connection inside a write transaction", so the statements of the hot
//! writes (imports, orders, claims, completions, their appends and aggregates) are written
//! once and run on either backend:
//!
//! - on PostgreSQL through sqlx ([`sqlx::AnyConnection`]), asynchronously;
//! - on SQLite through rusqlite on the writer thread that owns the connection
//!   ([`crate::sqlite::SqliteTx`]), synchronously: each call has finished before its future
//!   is first polled, so a whole batch runs on that thread without a single hand-off.
//!
//! Statements use `$n` placeholders, which both databases accept; arguments are typed even
//! when null, because PostgreSQL needs a null's type.

use std::future::Future;

use sqlx::Row;

use crate::StoreError;

/// One bound argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_string))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        Arg::Text(v.clone())
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Blob(Some(v.to_vec()))
    }
}
impl From<&Vec<u8>> for Arg {
    fn from(v: &Vec<u8>) -> Self {
        Arg::Blob(Some(v.clone()))
    }
}
impl From<&Option<Vec<u8>>> for Arg {
    fn from(v: &Option<Vec<u8>>) -> Self {
        Arg::Blob(v.clone())
    }
}

/// `args![a, b, ...]`: a statement's arguments, `$1` first.
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        vec![$($crate::conn::Arg::from($v)),*]
    };
}
pub(crate) use args;

/// A connection inside a write transaction, on either backend.
pub(crate) trait WriteConn {
    /// Runs a statement that returns no rows; how many rows it changed.
    fn execute(
        &mut self,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The first column, an integer, of the statement's first row, if it returned one.
    fn fetch_i64(
        &mut self,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
            Arg::Blob(v) => q.bind(v),
        };
    }
    q
}

impl WriteConn for sqlx::AnyConnection {
    async fn execute(&mut self, sql: &'static str, args: Vec<Arg>) -> Result<u64, StoreError> {
        Ok(bind_all(sqlx::query(sql), args)
            .execute(&mut *self)
            .await?
            .rows_affected())
    }

    async fn fetch_i64(
        &mut self,
        sql: &'static str,
        args: Vec<Arg>,
    ) -> Result<Option<i64>, StoreError> {
        match bind_all(sqlx::query(sql), args)
            .fetch_optional(&mut *self)
            .await?
        {
            Some(row) => Ok(Some(row.try_get::<i64, _>(0)?)),
            None => Ok(None),
        }
    }
}

/// Polls a future once, for code whose every await is already complete (a batch of SQLite
/// statements on the writer thread, where every [`WriteConn`] call is synchronous): its value,
/// or `None` if it would wait, which is a bug in this crate, never a reason to block the
/// writer or spin.
pub(crate) fn poll_ready<T>(fut: impl Future<Output = T>) -> Option<T> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// [`poll_ready`] for a fallible batch: a future that would wait becomes an error.
pub(crate) fn run_now<T>(
    fut: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    poll_ready(fut).unwrap_or_else(|| {
        Err(StoreError::Config(
            "a SQLite write waited for something other than its own connection".into(),
        ))
    })
}
