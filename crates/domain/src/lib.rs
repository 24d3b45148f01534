//! certkeeper's domain: the types and rules every API surface shares.
//!
//! Nothing here speaks HTTP or SQL. The store persists these types, the core services apply
//! them, and each HTTP surface only translates its wire shapes to and from them.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod apikey;
pub mod audit;
pub mod browse;
pub mod certificate;
pub mod clock;
pub mod collection;
pub mod csv;
pub mod ids;
pub mod issuer;
pub mod job;
pub mod keys;
pub mod lifecycle;
pub mod names;
pub mod notification;
pub mod order;
pub mod pem;
pub mod project;
pub mod query;
pub mod reports;
pub mod revocation;
pub mod sealing;
pub mod x509;

pub use clock::{Clock, FixedClock, SystemClock};
