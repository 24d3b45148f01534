//! ACME finalize CSRs (DER).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = certkeeper_acme::csr::parse(data);
});
