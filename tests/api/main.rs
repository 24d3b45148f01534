//! certkeeper's integration tests: the real server over HTTP, on SQLite and PostgreSQL.

mod support;

mod acme;
mod acme_clients;
mod acme_protocol;
mod auth;
mod binary;
mod browser;
mod certificates;
mod cli;
mod cli_remote;
mod crash;
mod dashboard;
mod issuance;
mod lifecycle;
mod logs;
mod master_key;
mod metrics;
mod notifications;
mod openapi;
mod receivers;
mod renewals;
mod reports;
mod revocation;
mod tls;
