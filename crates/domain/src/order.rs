//! Orders: the request behind a created certificate, and its status machine.
//!
//! `pending` → `issued` | `rejected` | `canceled`; `issued` → `revoked`. Every other move is
//! refused by [`OrderStatus::transition`], so an illegal history cannot be written: callers
//! can only change a status through it.

use std::fmt;
use std::str::FromStr;

/// An order's status, as DigiCert names them on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Waiting for the DNS-01 records and a validate call.
    Pending,
    /// The certificate was issued.
    Issued,
    /// The CA refused, or the challenge expired.
    Rejected,
    /// Withdrawn by the user before issuance.
    Canceled,
    /// Issued, then revoked.
    Revoked,
}

/// A status change that the machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        Self::Pending,
        Self::Issued,
        Self::Rejected,
        Self::Canceled,
        Self::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Issued => "issued",
            Self::Rejected => "rejected",
            Self::Canceled => "canceled",
            Self::Revoked => "revoked",
        }
    }

    /// Whether the machine allows `self → to`.
    pub fn can_become(self, to: OrderStatus) -> bool {
        matches!(
            (self, to),
            (
                Self::Pending,
                Self::Issued | Self::Rejected | Self::Canceled
            ) | (Self::Issued, Self::Revoked)
        )
    }

    /// The checked move to `to`.
    pub fn transition(self, to: OrderStatus) -> Result<OrderStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    /// No further change is possible.
    pub fn is_final(self) -> bool {
        Self::ALL.iter().all(|to| !self.can_become(*to))
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown order status {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn the_whole_machine() {
        let allowed = [
            (Pending, Issued),
            (Pending, Rejected),
            (Pending, Canceled),
            (Issued, Revoked),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.transition(to).is_ok(),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        assert!(Rejected.is_final() && Canceled.is_final() && Revoked.is_final());
        assert!(!Pending.is_final() && !Issued.is_final());
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>(), Ok(s));
        }
    }
}
