//! Test certificates, written once by `gen-fixtures` and checked in.
//!
//! Every valid leaf is issued by `intermediate.pem` (RSA 2048), itself issued by `root.pem`
//! (ECDSA P-256); `chain.pem` is intermediate then root. Valid leaves run 2025-01-01 to
//! 2124-12-31, `expired` ended in 2020 and `future` starts in 2120.

macro_rules! fixtures {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(
            #[doc = concat!("`fixtures/", $file, "`")]
            pub const $name: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/", $file));
        )*
    };
}

fixtures! {
    ROOT => "root.pem",
    INTERMEDIATE => "intermediate.pem",
    CHAIN => "chain.pem",
    CHAIN_WRONG_ORDER => "chain-wrong-order.pem",
    RSA2048_CERT => "rsa2048.pem",
    RSA2048_KEY => "rsa2048.key",
    RSA2048_PKCS1_KEY => "rsa2048.pkcs1.key",
    RSA4096_CERT => "rsa4096.pem",
    RSA4096_KEY => "rsa4096.key",
    P256_CERT => "p256.pem",
    P256_KEY => "p256.key",
    P256_SEC1_KEY => "p256.sec1.key",
    P384_CERT => "p384.pem",
    P384_KEY => "p384.key",
    P384_SEC1_KEY => "p384.sec1.key",
    ED25519_CERT => "ed25519.pem",
    ED25519_KEY => "ed25519.key",
    WILDCARD_CERT => "wildcard.pem",
    WILDCARD_KEY => "wildcard.key",
    SAN100_CERT => "san100.pem",
    SAN100_KEY => "san100.key",
    IDN_CERT => "idn.pem",
    IDN_KEY => "idn.key",
    EXPIRED_CERT => "expired.pem",
    EXPIRED_KEY => "expired.key",
    FUTURE_CERT => "future.pem",
    FUTURE_KEY => "future.key",
    UNRELATED_P256_KEY => "unrelated-p256.key",
}

/// A leaf fixture with its key and chain, as a user would paste them into an import.
#[derive(Debug, Clone, Copy)]
pub struct Leaf {
    pub cert: &'static str,
    pub key: &'static str,
    pub chain: &'static str,
}

/// Every valid leaf fixture, by name.
pub fn leaves() -> Vec<(&'static str, Leaf)> {
    let l = |cert, key| Leaf {
        cert,
        key,
        chain: CHAIN,
    };
    vec![
        ("rsa2048", l(RSA2048_CERT, RSA2048_KEY)),
        ("rsa4096", l(RSA4096_CERT, RSA4096_KEY)),
        ("p256", l(P256_CERT, P256_KEY)),
        ("p384", l(P384_CERT, P384_KEY)),
        ("ed25519", l(ED25519_CERT, ED25519_KEY)),
        ("wildcard", l(WILDCARD_CERT, WILDCARD_KEY)),
        ("san100", l(SAN100_CERT, SAN100_KEY)),
        ("idn", l(IDN_CERT, IDN_KEY)),
        ("expired", l(EXPIRED_CERT, EXPIRED_KEY)),
        ("future", l(FUTURE_CERT, FUTURE_KEY)),
    ]
}

#[cfg(feature = "dns")]
pub mod dns;

#[cfg(any(feature = "pebble", feature = "bind"))]
pub mod net;

#[cfg(feature = "pebble")]
pub mod pebble;

#[cfg(feature = "bind")]
pub mod bind;
