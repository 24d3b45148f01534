//! The import parser: certificate, private key and chain (PEM or base64 DER), as the projects
//! API and the dashboard take them. Input: the three fields separated by NUL bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0).map(String::from_utf8_lossy);
    let body = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default();
    let chain = parts.next().unwrap_or_default();
    let _ = certkeeper_domain::x509::check_import(&body, &key, &chain);
    let _ = certkeeper_domain::x509::pem_certificates(&body);
});
