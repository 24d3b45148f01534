//! PEM output (RFC 7468): what download endpoints and stored chains use.

use base64::Engine;

/// One PEM block with 64-character lines.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Certificates as consecutive `CERTIFICATE` blocks.
pub fn certificates<'a>(ders: impl IntoIterator<Item = &'a [u8]>) -> String {
    ders.into_iter().map(|d| encode("CERTIFICATE", d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn round_trips_through_a_pem_parser() {
        let der =
            CertificateDer::from_pem_slice(certkeeper_testkit::SAN100_CERT.as_bytes()).unwrap();
        let again = encode("CERTIFICATE", der.as_ref());
        assert_eq!(again, certkeeper_testkit::SAN100_CERT.replace("\r\n", "\n"));
    }
}
