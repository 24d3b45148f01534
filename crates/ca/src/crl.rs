//! Full CRLs (RFC 5280 §5) signed by the intermediate. No delta CRLs: a CRL of 100,000
//! entries is about 4 MB and is signed once per change, then served from storage.

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevocationReason, RevokedCertParams};
use time::OffsetDateTime;

use crate::{BuiltinCa, CaError};

/// One revoked certificate as the CRL lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlEntry {
    /// The serial number's bytes, big-endian, as in the certificate.
    pub serial: Vec<u8>,
    pub revoked_at: OffsetDateTime,
    /// The RFC 5280 CRLReason code; 0 (unspecified) is left out of the entry, as §5.3.1 asks.
    pub reason_code: u8,
}

fn reason(code: u8) -> Result<Option<RevocationReason>, CaError> {
    Ok(Some(match code {
        0 => return Ok(None),
        1 => RevocationReason::KeyCompromise,
        2 => RevocationReason::CaCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        6 => RevocationReason::CertificateHold,
        8 => RevocationReason::RemoveFromCrl,
        9 => RevocationReason::PrivilegeWithdrawn,
        10 => RevocationReason::AaCompromise,
        other => {
            return Err(CaError::Encoding(format!(
                "{other} is not a CRLReason code"
            )));
        }
    }))
}

impl BuiltinCa {
    /// Signs CRL number `number`, valid from `this_update` until `next_update`.
    pub fn sign_crl(
        &self,
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        entries: &[CrlEntry],
    ) -> Result<Vec<u8>, CaError> {
        let revoked_certs = entries
            .iter()
            .map(|e| {
                Ok(RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from_slice(&e.serial),
                    // X.509 times have whole seconds.
                    revocation_time: e.revoked_at.replace_nanosecond(0).unwrap_or(e.revoked_at),
                    reason_code: reason(e.reason_code)?,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, CaError>>()?;
        let params = CertificateRevocationListParams {
            this_update: this_update.replace_nanosecond(0).unwrap_or(this_update),
            next_update: next_update.replace_nanosecond(0).unwrap_or(next_update),
            crl_number: rcgen::SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: match &self.intermediate_ski {
                Some(ski) => KeyIdMethod::PreSpecified(ski.clone()),
                None => KeyIdMethod::Sha256,
            },
        };
        Ok(params.signed_by(&self.intermediate)?.der().to_vec())
    }
}

/// The bytes of a serial number written as hex (the inventory's upper-case form).
pub fn serial_from_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.is_empty() {
        return None;
    }
    let padded = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex.to_string()
    };
    (0..padded.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(padded.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use ::time::Duration;
    use x509_parser::prelude::*;

    use super::*;
    use crate::generate;

    #[test]
    fn the_crl_lists_each_entry_with_its_reason_under_the_intermediate() {
        let now = OffsetDateTime::from_unix_timestamp(1_780_315_200).unwrap();
        let ca = BuiltinCa::load(&generate("Crl", now).unwrap()).unwrap();
        let entries = vec![
            CrlEntry {
                serial: vec![0x01, 0xAB, 0xCD],
                revoked_at: now,
                reason_code: 1,
            },
            CrlEntry {
                serial: vec![0x01, 0x02],
                revoked_at: now,
                reason_code: 0,
            },
        ];
        let der = ca
            .sign_crl(7, now, now + Duration::days(7), &entries)
            .unwrap();
        let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
        assert_eq!(crl.crl_number().map(|n| n.to_string()), Some("7".into()));
        let chain = ca.chain();
        let (_, inter) = X509Certificate::from_der(&chain[0]).unwrap();
        assert_eq!(crl.issuer(), inter.subject());
        crl.verify_signature(inter.public_key()).unwrap();
        let listed: Vec<(Vec<u8>, Option<u8>)> = crl
            .iter_revoked_certificates()
            .map(|r| (r.raw_serial().to_vec(), r.reason_code().map(|(_, c)| c.0)))
            .collect();
        assert_eq!(
            listed,
            [(vec![0x01, 0xAB, 0xCD], Some(1)), (vec![0x01, 0x02], None)]
        );
        assert!(matches!(
            ca.sign_crl(8, now, now, &[]),
            Err(CaError::Rcgen(_))
        ));
    }

    #[test]
    fn hex_serials_decode() {
        assert_eq!(serial_from_hex("01ABCD"), Some(vec![1, 0xAB, 0xCD]));
        assert_eq!(serial_from_hex("ABC"), Some(vec![0x0A, 0xBC]));
        assert_eq!(serial_from_hex(""), None);
        assert_eq!(serial_from_hex("XY"), None);
    }
}
