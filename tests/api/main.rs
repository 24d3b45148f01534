//! certkeeper's integration tests: the real server over HTTP, on SQLite and PostgreSQL.

mod support;

mod auth;
mod certificates;
mod cli;
mod master_key;
mod openapi;
