//! PKCS#12 files as `certkeeper import` opens them (p12-keystore, the CLI's reader).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for password in ["", "password"] {
        if let Ok(store) = p12_keystore::KeyStore::from_pkcs12(
            data,
            password,
            p12_keystore::Pkcs12ImportPolicy::Strict,
        ) {
            for (_, entry) in store.entries() {
                if let p12_keystore::KeyStoreEntry::PrivateKeyChain(chain) = entry {
                    let _ = chain.key().as_der().len();
                }
            }
        }
    }
});
