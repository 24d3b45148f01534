//! DNS names a certificate may be requested for, and the DNS-01 records that prove them.
//!
//! The rules are the ones public ACME CAs apply: names are normalised (trimmed, lower-case,
//! no trailing dot, internationalised names converted to their punycode A-label form with
//! UTS #46), must be syntactically valid host names of at least two labels, may be wildcards
//! only as a whole leftmost `*` label, and may not be IP addresses (DNS-01 cannot prove those).

use std::net::IpAddr;

/// The most names one certificate may carry (domainName plus additionalDomainNames).
pub const MAX_NAMES: usize = 100;

/// Why a requested name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("domain name must not be empty")]
    Empty,
    #[error("{0:?} is an IP address; DNS-01 can only prove DNS names")]
    IpAddress(String),
    #[error("{0:?} is not a valid internationalised domain name")]
    Idna(String),
    #[error("{name:?} is {len} characters long; a DNS name may have at most 253")]
    TooLong { name: String, len: usize },
    #[error("{name:?} has a label of {len} characters; a label may have at most 63")]
    LabelTooLong { name: String, len: usize },
    #[error("{0:?} has an empty label")]
    EmptyLabel(String),
    #[error("{0:?}: a wildcard may only be the whole leftmost label, once (as in *.example.com)")]
    BadWildcard(String),
    #[error(
        "{name:?} has an invalid character {ch:?}; labels may hold letters, digits and hyphens"
    )]
    BadCharacter { name: String, ch: char },
    #[error("{0:?}: a label may not start or end with a hyphen")]
    Hyphen(String),
    #[error("{0:?} needs at least two labels (a name under a domain, like host.example.com)")]
    SingleLabel(String),
    #[error("{0:?} ends in an all-numeric label, which is no top-level domain")]
    NumericTld(String),
    #[error("a certificate may carry at most {MAX_NAMES} names, {0} were requested")]
    TooMany(usize),
}

/// A normalised, valid DNS name (possibly a wildcard).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsName(String);

impl DnsName {
    /// Normalises and checks a name as a user typed it.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let trimmed = input.trim().trim_end_matches('.');
        if trimmed.is_empty() {
            return Err(NameError::Empty);
        }
        let unbracketed = trimmed.trim_start_matches('[').trim_end_matches(']');
        if unbracketed.parse::<IpAddr>().is_ok() {
            return Err(NameError::IpAddress(trimmed.to_string()));
        }
        let (wildcard, base) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if base.contains('*') {
            return Err(NameError::BadWildcard(trimmed.to_string()));
        }
        let ascii =
            idna::domain_to_ascii(base).map_err(|_| NameError::Idna(trimmed.to_string()))?;
        let name = if wildcard {
            format!("*.{ascii}")
        } else {
            ascii.clone()
        };
        if name.len() > 253 {
            return Err(NameError::TooLong {
                len: name.len(),
                name,
            });
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        for label in &labels {
            if label.is_empty() {
                return Err(NameError::EmptyLabel(name));
            }
            if label.len() > 63 {
                return Err(NameError::LabelTooLong {
                    len: label.len(),
                    name,
                });
            }
            if let Some(ch) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            {
                return Err(NameError::BadCharacter { name, ch });
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(NameError::Hyphen(name));
            }
        }
        if labels.len() < 2 {
            return Err(NameError::SingleLabel(name));
        }
        if labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(NameError::NumericTld(name));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// The name without its wildcard label: what DNS-01 proves control of.
    pub fn base(&self) -> &str {
        self.0.strip_prefix("*.").unwrap_or(&self.0)
    }

    /// The TXT record that proves this name: `_acme-challenge.<base>` (RFC 8555 §8.4; a
    /// wildcard is proved on its base name).
    pub fn challenge_record(&self) -> String {
        format!("_acme-challenge.{}", self.base())
    }
}

impl std::fmt::Display for DnsName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a certificate request's names: the first is the primary, duplicates (after
/// normalisation) are dropped, at most [`MAX_NAMES`] remain.
pub fn parse_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<DnsName>, NameError> {
    let mut out: Vec<DnsName> = Vec::new();
    let mut requested = 0;
    for raw in names {
        requested += 1;
        let name = DnsName::parse(raw)?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if requested > MAX_NAMES {
        return Err(NameError::TooMany(requested));
    }
    if out.is_empty() {
        return Err(NameError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        DnsName::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .to_string()
    }

    #[test]
    fn normalises() {
        assert_eq!(ok(" Example.COM. "), "example.com");
        assert_eq!(ok("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(ok("*.Bücher.example"), "*.xn--bcher-kva.example");
        assert_eq!(ok("xn--bcher-kva.example"), "xn--bcher-kva.example");
        assert_eq!(ok("a-b.c1.example"), "a-b.c1.example");
    }

    #[test]
    fn refuses() {
        let err = |s: &str| DnsName::parse(s).unwrap_err();
        assert_eq!(err(""), NameError::Empty);
        assert_eq!(err("  "), NameError::Empty);
        assert!(matches!(err("192.0.2.1"), NameError::IpAddress(_)));
        assert!(matches!(err("2001:db8::1"), NameError::IpAddress(_)));
        assert!(matches!(err("[2001:db8::1]"), NameError::IpAddress(_)));
        assert!(matches!(err("*.*.example.com"), NameError::BadWildcard(_)));
        assert!(matches!(err("a*.example.com"), NameError::BadWildcard(_)));
        assert!(matches!(
            err("www.*.example.com"),
            NameError::BadWildcard(_)
        ));
        assert!(matches!(
            err(&format!("{}.example.com", "a".repeat(64))),
            NameError::LabelTooLong { len: 64, .. }
        ));
        let long = format!("{}.example", vec!["a".repeat(60); 5].join("."));
        assert!(matches!(err(&long), NameError::TooLong { .. }));
        assert!(matches!(
            err("a..example.com"),
            NameError::EmptyLabel(_) | NameError::Idna(_)
        ));
        assert!(matches!(
            err("under_score.example.com"),
            NameError::BadCharacter { ch: '_', .. } | NameError::Idna(_)
        ));
        assert!(matches!(
            err("-lead.example.com"),
            NameError::Hyphen(_) | NameError::Idna(_)
        ));
        assert!(matches!(err("localhost"), NameError::SingleLabel(_)));
        assert!(matches!(err("host.123"), NameError::NumericTld(_)));
    }

    #[test]
    fn labels_of_63_and_names_of_253_pass() {
        ok(&format!("{}.example.com", "a".repeat(63)));
        let name = format!(
            "{}.{}.{}.{}.com",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(57)
        );
        assert_eq!(name.len(), 253);
        ok(&name);
    }

    #[test]
    fn challenge_records() {
        assert_eq!(
            DnsName::parse("*.example.com").unwrap().challenge_record(),
            "_acme-challenge.example.com"
        );
        assert_eq!(
            DnsName::parse("www.example.com")
                .unwrap()
                .challenge_record(),
            "_acme-challenge.www.example.com"
        );
    }

    #[test]
    fn name_lists() {
        let names = parse_names(["example.com", "*.example.com", "EXAMPLE.com"]).unwrap();
        assert_eq!(names.len(), 2);
        let many: Vec<String> = (0..101).map(|i| format!("h{i}.example.com")).collect();
        assert_eq!(
            parse_names(many.iter().map(String::as_str)).unwrap_err(),
            NameError::TooMany(101)
        );
        let hundred: Vec<String> = (0..100).map(|i| format!("h{i}.example.com")).collect();
        assert_eq!(
            parse_names(hundred.iter().map(String::as_str))
                .unwrap()
                .len(),
            100
        );
    }
}
