//! certkeeper's integration tests: the real server over HTTP, on SQLite and PostgreSQL.

// These drive a real server on the wall clock (and set test clocks from it).
#![allow(clippy::disallowed_methods)]

mod support;

mod access_matrix;
mod acme;
mod acme_clients;
mod acme_library;
mod acme_protocol;
mod api_keys;
mod ari;
mod auth;
mod binary;
mod browser;
mod certificates;
mod cli;
mod cli_remote;
mod crash;
mod dashboard;
mod hostile;
mod issuance;
mod lifecycle;
mod limits;
mod logs;
mod master_key;
mod metrics;
mod notifications;
mod openapi;
mod receivers;
mod renewals;
mod reports;
mod revocation;
mod schemathesis;
mod secrets_at_rest;
mod tls;
