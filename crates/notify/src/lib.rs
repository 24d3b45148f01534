//! Notification channels: how a message leaves certkeeper. Deciding *what* to send (rules,
//! thresholds, once-only delivery) is the core's; this crate signs and sends.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod email;
pub mod webhook;
