//! Issuers: who signs the certificates certkeeper creates.

/// Which CA signs created certificates: the server's default, or a project's override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKind {
    /// certkeeper's own private CA.
    Builtin,
    /// An external ACME CA.
    Acme,
}

impl IssuerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerKind::Builtin => "builtin",
            IssuerKind::Acme => "acme",
        }
    }
}

impl std::str::FromStr for IssuerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "builtin" => Ok(IssuerKind::Builtin),
            "acme" => Ok(IssuerKind::Acme),
            other => Err(format!(
                "unknown issuer {other:?} (expected builtin or acme)"
            )),
        }
    }
}
