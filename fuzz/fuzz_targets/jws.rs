//! ACME's flattened JWS bodies: parsing, the protected header, the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(jws) = certkeeper_acme::jws::parse(data) {
        let _ = jws.payload();
        if let Some(payload) = jws.payload().ok().flatten() {
            let _ = certkeeper_acme::jws::eab_kid(&payload);
        }
    }
});
