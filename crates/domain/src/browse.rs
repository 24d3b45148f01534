//! Browsing the inventory: the filters, sort orders and keyset cursor the dashboard (and any
//! face that lists certificates for people) asks with. Typed here so every face parses a
//! request into the same shape and the store compiles one shape to SQL.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::certificate::CertificateType;
use crate::ids::{CollectionId, ProjectId};

/// The largest page a browse returns.
pub const MAX_BROWSE_PAGE: i64 = 200;

/// A certificate's state as people filter by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusFilter {
    /// Issued or imported, inside its validity, not revoked.
    Active,
    /// Past its notAfter, not revoked.
    Expired,
    Revoked,
    /// Created; waiting for validation.
    Pending,
    /// Created; its order was refused or expired before issuance.
    Failed,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 5] = [
        StatusFilter::Active,
        StatusFilter::Expired,
        StatusFilter::Revoked,
        StatusFilter::Pending,
        StatusFilter::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Active => "active",
            StatusFilter::Expired => "expired",
            StatusFilter::Revoked => "revoked",
            StatusFilter::Pending => "pending",
            StatusFilter::Failed => "failed",
        }
    }
}

impl FromStr for StatusFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown status {s:?} (expected active, expired, revoked, pending or failed)"
                )
            })
    }
}

/// The order a listing comes in. Each is a keyset over an index, so page 1,000 costs what
/// page 1 does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BrowseSort {
    /// Soonest expiry first; certificates without one (not yet issued) last.
    #[default]
    DaysLeft,
    /// Latest expiry first.
    DaysLeftDesc,
    /// Most recently added first.
    Newest,
    /// Oldest first.
    Oldest,
}

impl BrowseSort {
    pub const ALL: [BrowseSort; 4] = [
        BrowseSort::DaysLeft,
        BrowseSort::DaysLeftDesc,
        BrowseSort::Newest,
        BrowseSort::Oldest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BrowseSort::DaysLeft => "days_left",
            BrowseSort::DaysLeftDesc => "-days_left",
            BrowseSort::Newest => "newest",
            BrowseSort::Oldest => "oldest",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            BrowseSort::DaysLeft => "Days left, fewest first",
            BrowseSort::DaysLeftDesc => "Days left, most first",
            BrowseSort::Newest => "Newest first",
            BrowseSort::Oldest => "Oldest first",
        }
    }

    /// Whether the keyset runs backwards (`<` rather than `>`).
    pub fn descending(self) -> bool {
        matches!(self, BrowseSort::DaysLeftDesc | BrowseSort::Newest)
    }
}

impl FromStr for BrowseSort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("unknown sort {s:?} (expected days_left, -days_left, newest or oldest)")
            })
    }
}

/// Where the next page starts: the last row's sort key and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BrowseCursor {
    pub key: i64,
    pub id: i64,
}

impl fmt::Display for BrowseCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.key, self.id)
    }
}

impl FromStr for BrowseCursor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("malformed page cursor {s:?}");
        let (key, id) = s.split_once('_').ok_or_else(bad)?;
        Ok(Self {
            key: key.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// What a search box's text stands for. Serials and thumbprints are matched exactly (hex,
/// separators ignored); names by prefix of the common name, through its index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchTerm {
    /// The text as typed, trimmed.
    pub text: String,
    /// Upper-case hex with `:`, `-` and spaces removed, when the text is hex.
    pub hex: Option<String>,
}

impl SearchTerm {
    /// `None` for empty text.
    pub fn new(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let compact: String = text
            .chars()
            .filter(|c| !matches!(c, ':' | '-' | ' '))
            .collect();
        let hex = (!compact.is_empty() && compact.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| compact.to_ascii_uppercase());
        Some(Self {
            text: text.to_string(),
            hex,
        })
    }
}

/// Every filter a browse can carry; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BrowseFilter {
    pub search: Option<SearchTerm>,
    pub status: Option<StatusFilter>,
    pub certificate_type: Option<CertificateType>,
    /// The issuer DN, exactly (the choices come from the inventory's own issuers).
    pub issuer: Option<String>,
    pub project: Option<ProjectId>,
    pub collection: Option<CollectionId>,
    /// notAfter in `[from, until)`.
    pub expires_from: Option<OffsetDateTime>,
    pub expires_until: Option<OffsetDateTime>,
    /// notBefore in `[from, until)`: when it was issued.
    pub issued_from: Option<OffsetDateTime>,
    pub issued_until: Option<OffsetDateTime>,
    /// Only certificates no renewal has replaced yet: what still needs someone's attention,
    /// as the overview's counts see it.
    pub unrenewed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let c = BrowseCursor { key: -5, id: 42 };
        assert_eq!(c.to_string().parse::<BrowseCursor>(), Ok(c));
        assert!("x_1".parse::<BrowseCursor>().is_err());
        assert!("12".parse::<BrowseCursor>().is_err());
    }

    #[test]
    fn search_terms_recognise_hex() {
        let t = SearchTerm::new(" 0a:1B ").unwrap();
        assert_eq!(t.hex.as_deref(), Some("0A1B"));
        assert_eq!(SearchTerm::new("example.com").unwrap().hex, None);
        assert_eq!(SearchTerm::new("   "), None);
    }

    #[test]
    fn names_parse_back() {
        for s in BrowseSort::ALL {
            assert_eq!(s.as_str().parse::<BrowseSort>(), Ok(s));
        }
        for s in StatusFilter::ALL {
            assert_eq!(s.as_str().parse::<StatusFilter>(), Ok(s));
        }
    }
}
