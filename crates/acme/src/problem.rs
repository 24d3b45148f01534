//! ACME error types (RFC 8555 §6.7), as `urn:ietf:params:acme:error:*`.

/// The error types this server reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    AccountDoesNotExist,
    AlreadyReplaced,
    BadCsr,
    BadNonce,
    BadPublicKey,
    BadRevocationReason,
    BadSignatureAlgorithm,
    Connection,
    Dns,
    ExternalAccountRequired,
    IncorrectResponse,
    InvalidContact,
    Malformed,
    OrderNotReady,
    RejectedIdentifier,
    ServerInternal,
    Unauthorized,
    UnsupportedContact,
    UnsupportedIdentifier,
    AlreadyRevoked,
    Tls,
}

impl ProblemType {
    /// The URN clients match on.
    pub fn urn(self) -> &'static str {
        match self {
            Self::AccountDoesNotExist => "urn:ietf:params:acme:error:accountDoesNotExist",
            Self::AlreadyReplaced => "urn:ietf:params:acme:error:alreadyReplaced",
            Self::BadCsr => "urn:ietf:params:acme:error:badCSR",
            Self::BadNonce => "urn:ietf:params:acme:error:badNonce",
            Self::BadPublicKey => "urn:ietf:params:acme:error:badPublicKey",
            Self::BadRevocationReason => "urn:ietf:params:acme:error:badRevocationReason",
            Self::BadSignatureAlgorithm => "urn:ietf:params:acme:error:badSignatureAlgorithm",
            Self::Connection => "urn:ietf:params:acme:error:connection",
            Self::Dns => "urn:ietf:params:acme:error:dns",
            Self::ExternalAccountRequired => "urn:ietf:params:acme:error:externalAccountRequired",
            Self::IncorrectResponse => "urn:ietf:params:acme:error:incorrectResponse",
            Self::InvalidContact => "urn:ietf:params:acme:error:invalidContact",
            Self::Malformed => "urn:ietf:params:acme:error:malformed",
            Self::OrderNotReady => "urn:ietf:params:acme:error:orderNotReady",
            Self::RejectedIdentifier => "urn:ietf:params:acme:error:rejectedIdentifier",
            Self::ServerInternal => "urn:ietf:params:acme:error:serverInternal",
            Self::Unauthorized => "urn:ietf:params:acme:error:unauthorized",
            Self::UnsupportedContact => "urn:ietf:params:acme:error:unsupportedContact",
            Self::UnsupportedIdentifier => "urn:ietf:params:acme:error:unsupportedIdentifier",
            Self::AlreadyRevoked => "urn:ietf:params:acme:error:alreadyRevoked",
            Self::Tls => "urn:ietf:params:acme:error:tls",
        }
    }
}
