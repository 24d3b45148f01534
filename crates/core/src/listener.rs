//! certkeeper's own serving certificate, issued by its built-in CA (`serve --tls-builtin`).
//!
//! The leaf is short-lived and kept in memory only: clients trust the CA's root
//! (`certkeeper ca show`), never this leaf, so each start issues a fresh one and a running
//! server renews it at two thirds of its lifetime. No private key of the listener is ever
//! written to disk or to the database.

use certkeeper_ca::LeafName;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::{Core, CoreError};

/// How long the listener's certificate is valid.
pub const LISTENER_LIFETIME: Duration = Duration::days(30);

/// A serving certificate: chain (leaf first, DER), its PKCS#8 key, and when to replace it.
pub struct ListenerCertificate {
    pub chain: Vec<Vec<u8>>,
    pub key_pkcs8: Zeroizing<Vec<u8>>,
    pub renew_at: OffsetDateTime,
}

impl std::fmt::Debug for ListenerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerCertificate")
            .field("renew_at", &self.renew_at)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// Issues the listener's certificate for `names` (DNS names or IP addresses, as given to
    /// `--tls-name`). Not audited and not in any project's inventory: it is the server's own.
    pub fn issue_listener_certificate(
        &self,
        names: &[String],
    ) -> Result<ListenerCertificate, CoreError> {
        let ca = &self.issuance()?.ca;
        let leaf_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(LeafName::Ip(ip)),
                Err(_) if is_host_name(n) => Ok(LeafName::Dns(n.to_ascii_lowercase())),
                Err(_) => Err(CoreError::Invalid(format!(
                    "{n:?} is neither an IP address nor a host name"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let now = self.now();
        let issued = ca
            .issue_names(&leaf_names, now, LISTENER_LIFETIME)
            .map_err(|e| CoreError::Invalid(format!("the built-in CA refused: {e}")))?;
        let mut chain = vec![issued.der];
        chain.extend(issued.chain);
        Ok(ListenerCertificate {
            chain,
            key_pkcs8: issued.key_pkcs8,
            renew_at: now + LISTENER_LIFETIME * 2 / 3,
        })
    }
}

/// Letters, digits and hyphens in dot-separated labels; single labels (`localhost`) allowed.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::is_host_name;

    #[test]
    fn host_names_for_the_listener() {
        for ok in ["localhost", "certkeeper.internal", "a-b.example.test"] {
            assert!(is_host_name(ok), "{ok}");
        }
        for bad in ["", "a..b", "-a", "a b", "*.x.test", "a_b"] {
            assert!(!is_host_name(bad), "{bad}");
        }
    }
}
