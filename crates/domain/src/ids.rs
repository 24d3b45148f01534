//! Typed identifiers, so a project id can never be passed where a certificate id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A project's public id (`projectId` on the wire).
    ProjectId
);
uuid_id!(
    /// A certificate's public UUID (`sslCertificateId` on the wire).
    SslCertificateId
);
int_id!(
    /// A project's integer id, DigiCert's `container_id` / `containerId`.
    ContainerId
);
int_id!(
    /// A certificate's integer id (`id` on the wire).
    CertificateId
);
int_id!(
    /// An API key's row id.
    ApiKeyId
);
int_id!(
    /// An order's id (DigiCert's `order_id`).
    OrderId
);
int_id!(
    /// A certificate collection's id (Keyfactor's `collectionId`); 0 is "All Certificates".
    CollectionId
);
