//! Notification channels: how a message leaves certkeeper. Deciding *what* to send (rules,
//! thresholds, once-only delivery) is the core's; this crate signs and sends.

pub mod email;
pub mod webhook;
