//! A project's ACME policy: which names its directory issues for, how long certificates may
//! live, which key types a CSR may carry. Empty lists mean no limit.

use certkeeper_acme::csr::KeyKind;
use certkeeper_domain::names::DnsName;
use certkeeper_domain::project::Project;
use serde::{Deserialize, Serialize};

use crate::{Core, CoreError};

/// The key type names a policy may list.
pub const KEY_TYPES: [&str; 4] = ["ec-p256", "ec-p384", "rsa", "ed25519"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcmePolicy {
    /// A name is allowed when it is one of these or ends with `.` and one of these.
    #[serde(default)]
    pub allowed_suffixes: Vec<String>,
    /// At most this many days (and never more than the server's leaf lifetime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime_days: Option<u32>,
    /// `ec-p256`, `ec-p384`, `rsa`, `ed25519`.
    #[serde(default)]
    pub key_types: Vec<String>,
}

impl AcmePolicy {
    /// Refuses what could never match: bad suffixes, unknown key types, a zero lifetime.
    pub fn check(mut self) -> Result<Self, String> {
        for s in &mut self.allowed_suffixes {
            let name = DnsName::parse(s).map_err(|e| format!("allowedSuffixes: {s:?}: {e}"))?;
            *s = name.to_string();
        }
        for k in &self.key_types {
            if !KEY_TYPES.contains(&k.as_str()) {
                return Err(format!("keyTypes: {k:?} is not one of {KEY_TYPES:?}"));
            }
        }
        if let Some(d) = self.max_lifetime_days
            && !(1..=3650).contains(&d)
        {
            return Err(format!("maxLifetimeDays must be 1 to 3650, got {d}"));
        }
        Ok(self)
    }

    pub fn allows_name(&self, name: &DnsName) -> bool {
        let name = name.as_str();
        self.allowed_suffixes.is_empty()
            || self.allowed_suffixes.iter().any(|s| {
                name == s
                    || name
                        .strip_suffix(s.as_str())
                        .is_some_and(|p| p.ends_with('.'))
            })
    }

    pub fn allows_key(&self, key: KeyKind) -> bool {
        self.key_types.is_empty() || self.key_types.iter().any(|k| k == key.policy_name())
    }
}

impl Core {
    pub async fn acme_policy(&self, project: &Project) -> Result<AcmePolicy, CoreError> {
        match self.store.acme_policy(project.container_id).await? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| CoreError::internal(format!("stored ACME policy: {e}"))),
            None => Ok(AcmePolicy::default()),
        }
    }

    pub async fn set_acme_policy(
        &self,
        project: &Project,
        policy: AcmePolicy,
    ) -> Result<AcmePolicy, CoreError> {
        let policy = policy.check().map_err(CoreError::Invalid)?;
        let text = serde_json::to_string(&policy).map_err(CoreError::internal)?;
        self.store
            .set_acme_policy(project.container_id, &text)
            .await?;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys() {
        let p = AcmePolicy {
            allowed_suffixes: vec!["Example.Test".into()],
            max_lifetime_days: Some(30),
            key_types: vec!["ec-p256".into()],
        }
        .check()
        .unwrap();
        let n = |s: &str| DnsName::parse(s).unwrap();
        assert!(p.allows_name(&n("example.test")) && p.allows_name(&n("a.b.example.test")));
        assert!(!p.allows_name(&n("badexample.test")) && !p.allows_name(&n("other.test")));
        assert!(p.allows_key(KeyKind::EcP256) && !p.allows_key(KeyKind::Rsa { bits: 2048 }));
        assert!(AcmePolicy::default().allows_name(&n("any.test")));
        assert!(
            AcmePolicy {
                key_types: vec!["dsa".into()],
                ..Default::default()
            }
            .check()
            .is_err()
        );
        assert!(
            AcmePolicy {
                max_lifetime_days: Some(0),
                ..Default::default()
            }
            .check()
            .is_err()
        );
    }
}
