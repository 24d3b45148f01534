//! ACME Renewal Information (RFC 9773): certificate identifiers and suggested windows.

use crate::{b64, unb64};

/// `base64url(AKI keyIdentifier) "." base64url(serial)`, the serial as its DER INTEGER
/// content bytes.
pub fn cert_id(authority_key_id: &[u8], serial: &[u8]) -> String {
    format!("{}.{}", b64(authority_key_id), b64(serial))
}

/// The two halves of a certificate identifier; `None` when it is not one.
pub fn parse_cert_id(id: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let (aki, serial) = id.split_once('.')?;
    let (aki, serial) = (unb64(aki)?, unb64(serial)?);
    (!aki.is_empty() && !serial.is_empty()).then_some((aki, serial))
}

/// The suggested renewal window of a certificate valid from `not_before` to `not_after`
/// (Unix seconds): the middle third of the last third of its lifetime. A revoked certificate
/// should be replaced now: its window is the hour before `now`.
pub fn suggested_window(not_before: i64, not_after: i64, revoked: bool, now: i64) -> (i64, i64) {
    if revoked {
        return (now - 3600, now);
    }
    let lifetime = (not_after - not_before).max(0);
    (not_before + lifetime * 7 / 9, not_before + lifetime * 8 / 9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9773_example_identifier() {
        // RFC 9773 §4.1: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4,
        // serial 00:87:65:43:21.
        let aki = [
            0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0,
            0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4,
        ];
        let id = cert_id(&aki, &[0x00, 0x87, 0x65, 0x43, 0x21]);
        assert_eq!(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
        assert_eq!(
            parse_cert_id(&id),
            Some((aki.to_vec(), vec![0x00, 0x87, 0x65, 0x43, 0x21]))
        );
        assert_eq!(parse_cert_id("nodot"), None);
        assert_eq!(parse_cert_id(".AIdlQyE"), None);
    }

    #[test]
    fn windows() {
        // 90 days: renew between day 70 and day 80.
        let day = 86_400;
        assert_eq!(
            suggested_window(0, 90 * day, false, 5),
            (70 * day, 80 * day)
        );
        assert_eq!(
            suggested_window(0, 90 * day, true, 10 * day),
            (10 * day - 3600, 10 * day)
        );
    }
}
