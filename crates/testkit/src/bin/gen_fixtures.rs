//! Writes the certificate fixtures in `crates/testkit/fixtures/`.
//!
//! Run with `cargo run -p certkeeper-testkit --bin gen-fixtures`. The output is checked in, so
//! the test suite never needs this generator (nor `openssl`, which it calls for RSA keys: rcgen
//! under ring cannot generate RSA keys). Re-running it changes every key and serial.

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
    date_time_ymd,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    std::fs::create_dir_all(&dir)?;
    let w = |name: &str, text: &str| std::fs::write(dir.join(name), text);

    // Three levels: root (P-256) -> intermediate (RSA 2048) -> leaves.
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let root_params = ca_params("certkeeper Test Root");
    let root_cert = root_params.self_signed(&root_key)?;
    let root = Issuer::new(root_params, root_key);

    let int_key = rsa_key(&dir, 2048)?;
    let int_params = ca_params("certkeeper Test Intermediate RSA");
    let int_cert = int_params.signed_by(&int_key, &root)?;
    let intermediate = Issuer::new(int_params, int_key);

    w("root.pem", &root_cert.pem())?;
    w("intermediate.pem", &int_cert.pem())?;
    let chain = format!("{}{}", int_cert.pem(), root_cert.pem());
    w("chain.pem", &chain)?;
    w(
        "chain-wrong-order.pem",
        &format!("{}{}", root_cert.pem(), int_cert.pem()),
    )?;

    let valid = (date_time_ymd(2025, 1, 1), date_time_ymd(2124, 12, 31));
    let leaves: Vec<Leaf> = vec![
        (
            "rsa2048",
            rsa_key(&dir, 2048)?,
            vec!["rsa2048.example.test".into()],
            valid,
        ),
        (
            "rsa4096",
            rsa_key(&dir, 4096)?,
            vec!["rsa4096.example.test".into()],
            valid,
        ),
        (
            "p256",
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            vec!["p256.example.test".into(), "www.p256.example.test".into()],
            valid,
        ),
        (
            "p384",
            KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?,
            vec!["p384.example.test".into()],
            valid,
        ),
        (
            "ed25519",
            KeyPair::generate_for(&PKCS_ED25519)?,
            vec!["ed25519.example.test".into()],
            valid,
        ),
        (
            "wildcard",
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            vec!["*.wild.example.test".into(), "wild.example.test".into()],
            valid,
        ),
        (
            "san100",
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            (0..100)
                .map(|i| format!("host{i:03}.many.example.test"))
                .collect(),
            valid,
        ),
        // "bücher.example.test" as its A-label, as a CA would put it in a certificate.
        (
            "idn",
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            vec!["xn--bcher-kva.example.test".into()],
            valid,
        ),
        (
            "expired",
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            vec!["expired.example.test".into()],
            (date_time_ymd(2019, 1, 1), date_time_ymd(2020, 1, 1)),
        ),
        (
            "future",
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            vec!["future.example.test".into()],
            (date_time_ymd(2120, 1, 1), date_time_ymd(2121, 1, 1)),
        ),
    ];
    for (name, key, sans, (nb, na)) in leaves {
        let mut params = CertificateParams::new(sans.clone())?;
        params
            .distinguished_name
            .push(DnType::CommonName, sans[0].clone());
        params
            .distinguished_name
            .push(DnType::OrganizationName, "certkeeper, Tests");
        params.not_before = nb;
        params.not_after = na;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &intermediate)?;
        w(&format!("{name}.pem"), &cert.pem())?;
        w(&format!("{name}.key"), &key.serialize_pem())?;
    }

    // The same keys in their "traditional" encodings: PKCS#1 for RSA, SEC1 for EC.
    openssl_traditional(&dir, "rsa2048.key", "rsa2048.pkcs1.key")?;
    openssl_traditional(&dir, "p256.key", "p256.sec1.key")?;
    openssl_traditional(&dir, "p384.key", "p384.sec1.key")?;
    // A key that belongs to no fixture certificate.
    w(
        "unrelated-p256.key",
        &KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?.serialize_pem(),
    )?;
    std::fs::remove_file(dir.join("rsa.tmp")).ok();
    println!("wrote fixtures to {}", dir.display());
    Ok(())
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "certkeeper Tests");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = date_time_ymd(2024, 1, 1);
    params.not_after = date_time_ymd(2125, 1, 1);
    params
}

fn rsa_key(dir: &Path, bits: u32) -> Result<KeyPair> {
    let tmp = dir.join("rsa.tmp");
    let status = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
        .arg(format!("rsa_keygen_bits:{bits}"))
        .arg("-out")
        .arg(&tmp)
        .status()?;
    if !status.success() {
        return Err("openssl genpkey failed".into());
    }
    let pem = std::fs::read_to_string(&tmp)?;
    Ok(KeyPair::from_pkcs8_pem_and_sign_algo(
        &pem,
        &PKCS_RSA_SHA256,
    )?)
}

fn openssl_traditional(dir: &Path, from: &str, to: &str) -> Result<()> {
    let status = Command::new("openssl")
        .args(["pkey", "-traditional", "-in"])
        .arg(dir.join(from))
        .arg("-out")
        .arg(dir.join(to))
        .status()?;
    if !status.success() {
        return Err(format!("openssl pkey -traditional {from} failed").into());
    }
    Ok(())
}

/// A leaf to generate: file stem, key, SANs, validity.
type Leaf = (
    &'static str,
    KeyPair,
    Vec<String>,
    (time::OffsetDateTime, time::OffsetDateTime),
);
