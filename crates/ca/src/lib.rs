//! The built-in private CA, the "certificate authority" of the design: it only signs. Whether
//! a request deserves a certificate is decided before it gets here (names validated, DNS-01
//! proven); keys at rest are sealed by the caller.
//!
//! The hierarchy is a root and one intermediate, both ECDSA P-256. Leaves are ECDSA P-256,
//! with the requested DNS names as SANs (the first also as CN), a random 128-bit serial,
//! EKU serverAuth, and a configurable lifetime. Once [`BuiltinCa::with_revocation_urls`] is
//! set, every leaf names the CRL ([`crl`]) and the OCSP responder ([`ocsp`]) it can be
//! checked at.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod crl;
pub mod ocsp;

use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use certkeeper_domain::names::DnsName;

/// How long the root is valid.
pub const ROOT_LIFETIME: Duration = Duration::days(20 * 365);
/// How long the intermediate is valid.
pub const INTERMEDIATE_LIFETIME: Duration = Duration::days(10 * 365);
/// The default leaf lifetime.
pub const DEFAULT_LEAF_LIFETIME: Duration = Duration::days(90);
/// Leaves start this much before "now", so clients with a slow clock accept them.
pub(crate) const BACKDATE: Duration = Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("stored CA material is unusable: {0}")]
    Material(String),
    #[error("the system random generator failed")]
    Random,
    #[error("encoding failed: {0}")]
    Encoding(String),
    #[error("a certificate needs at least one name")]
    NoNames,
    #[error(
        "the requested lifetime must be between 1 hour and the intermediate's remaining validity"
    )]
    Lifetime,
}

/// The CA's certificates and keys, as stored (keys as PKCS#8 DER, to be sealed at rest).
pub struct CaMaterial {
    pub root_der: Vec<u8>,
    pub root_key_pkcs8: Zeroizing<Vec<u8>>,
    pub intermediate_der: Vec<u8>,
    pub intermediate_key_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for CaMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaMaterial").finish_non_exhaustive()
    }
}

/// A freshly issued leaf: its DER, its new private key, and the chain (intermediate, root).
pub struct Issued {
    pub der: Vec<u8>,
    pub key_pkcs8: Zeroizing<Vec<u8>>,
    pub chain: Vec<Vec<u8>>,
}

pub(crate) fn random_serial() -> Result<SerialNumber, CaError> {
    // A constant 0x01 prefix, then 128 random bits: the serial is always 17 bytes (RFC 5280
    // allows 20) and positive whatever the random bytes are, so no leading zero is stripped.
    let mut bytes = [0u8; 17];
    bytes[0] = 0x01;
    SystemRandom::new()
        .fill(&mut bytes[1..])
        .map_err(|_| CaError::Random)?;
    Ok(SerialNumber::from_slice(&bytes))
}

fn ca_params(
    common_name: &str,
    organization: &str,
    now: OffsetDateTime,
    lifetime: Duration,
    path_len: Option<u8>,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, organization);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - BACKDATE;
    params.not_after = now + lifetime;
    params.serial_number = Some(random_serial()?);
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// Creates a new root and intermediate for `organization`.
pub fn generate(organization: &str, now: OffsetDateTime) -> Result<CaMaterial, CaError> {
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let root_params = ca_params(
        &format!("{organization} Root CA"),
        organization,
        now,
        ROOT_LIFETIME,
        Some(1),
    )?;
    let root_cert = root_params.self_signed(&root_key)?;
    let root_key_pkcs8 = Zeroizing::new(root_key.serialize_der());
    let root = Issuer::new(root_params, root_key);

    let int_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let int_params = ca_params(
        &format!("{organization} Issuing CA 1"),
        organization,
        now,
        INTERMEDIATE_LIFETIME,
        Some(0),
    )?;
    let int_cert = int_params.signed_by(&int_key, &root)?;
    Ok(CaMaterial {
        root_der: root_cert.der().to_vec(),
        root_key_pkcs8,
        intermediate_der: int_cert.der().to_vec(),
        intermediate_key_pkcs8: Zeroizing::new(int_key.serialize_der()),
    })
}

/// Where relying parties check a leaf's revocation: absolute URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationUrls {
    /// The CRL (DER), named in the CRL Distribution Points extension.
    pub crl: String,
    /// The OCSP responder, named in Authority Information Access.
    pub ocsp: String,
}

/// The CA ready to sign: the intermediate's key and certificate in memory.
pub struct BuiltinCa {
    intermediate: Issuer<'static, KeyPair>,
    intermediate_der: Vec<u8>,
    root_der: Vec<u8>,
    intermediate_not_after: OffsetDateTime,
    /// The intermediate's subject, DER, and its public key's bits: what OCSP CertIDs hash.
    intermediate_name_der: Vec<u8>,
    intermediate_key_bits: Vec<u8>,
    /// Its subject key identifier: a CRL's authority key identifier must repeat it.
    intermediate_ski: Option<Vec<u8>>,
    revocation: Option<RevocationUrls>,
}

impl std::fmt::Debug for BuiltinCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinCa").finish_non_exhaustive()
    }
}

impl BuiltinCa {
    pub fn load(material: &CaMaterial) -> Result<Self, CaError> {
        let key = KeyPair::try_from(material.intermediate_key_pkcs8.as_slice())?;
        let der = CertificateDer::from(material.intermediate_der.clone());
        let issuer = Issuer::from_ca_cert_der(&der, key)?;
        let (_, parsed) = X509Certificate::from_der(&material.intermediate_der)
            .map_err(|e| CaError::Material(format!("intermediate certificate: {e}")))?;
        Ok(Self {
            intermediate: issuer,
            intermediate_der: material.intermediate_der.clone(),
            root_der: material.root_der.clone(),
            intermediate_not_after: parsed.validity().not_after.to_datetime(),
            intermediate_name_der: parsed.tbs_certificate.subject.as_raw().to_vec(),
            intermediate_key_bits: parsed.public_key().subject_public_key.data.to_vec(),
            intermediate_ski: parsed
                .iter_extensions()
                .find_map(|e| match e.parsed_extension() {
                    x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => {
                        Some(k.0.to_vec())
                    }
                    _ => None,
                }),
            revocation: None,
        })
    }

    /// Names `urls` in every leaf issued from now on (not in the listener's own certificate,
    /// which is not in the inventory and so never revoked).
    pub fn with_revocation_urls(mut self, urls: RevocationUrls) -> Self {
        self.revocation = Some(urls);
        self
    }

    pub fn revocation_urls(&self) -> Option<&RevocationUrls> {
        self.revocation.as_ref()
    }

    /// The root certificate (DER) that relying parties must trust.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// Issues a leaf for `names` (the first is also the subject CN), valid from now for
    /// `lifetime`, with a new P-256 key.
    pub fn issue(
        &self,
        names: &[DnsName],
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<Issued, CaError> {
        let sans = names
            .iter()
            .map(|n| LeafName::Dns(n.to_string()))
            .collect::<Vec<_>>();
        self.issue_leaf(&sans, now, lifetime, true)
    }

    /// [`Self::issue`] for any [`LeafName`]s, addresses included, without revocation URLs:
    /// the listener's own certificate, which lives in memory only.
    pub fn issue_names(
        &self,
        names: &[LeafName],
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<Issued, CaError> {
        self.issue_leaf(names, now, lifetime, false)
    }

    fn issue_leaf(
        &self,
        names: &[LeafName],
        now: OffsetDateTime,
        lifetime: Duration,
        revocable: bool,
    ) -> Result<Issued, CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = self
            .leaf_params(names, now, lifetime, revocable)?
            .signed_by(&key, &self.intermediate)?;
        Ok(Issued {
            der: cert.der().to_vec(),
            key_pkcs8: Zeroizing::new(key.serialize_der()),
            chain: self.chain(),
        })
    }

    /// Issues a leaf for a key the CA never sees (a CSR's subject public key, as DER
    /// SubjectPublicKeyInfo). The certificate is built from `names` and the CA's policy alone:
    /// nothing else the requester asked for is copied.
    pub fn issue_for_key(
        &self,
        names: &[LeafName],
        spki_der: &[u8],
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<IssuedForKey, CaError> {
        let public = rcgen::SubjectPublicKeyInfo::from_der(spki_der)?;
        let cert = self
            .leaf_params(names, now, lifetime, true)?
            .signed_by(&public, &self.intermediate)?;
        Ok(IssuedForKey {
            der: cert.der().to_vec(),
            chain: self.chain(),
        })
    }

    /// The intermediate and the root, leaf-to-root order.
    pub fn chain(&self) -> Vec<Vec<u8>> {
        vec![self.intermediate_der.clone(), self.root_der.clone()]
    }

    /// A leaf's parameters: SANs, CN (the first name), serverAuth, a random serial, the
    /// lifetime checked against the intermediate's, and (`revocable`) the revocation URLs.
    fn leaf_params(
        &self,
        names: &[LeafName],
        now: OffsetDateTime,
        lifetime: Duration,
        revocable: bool,
    ) -> Result<CertificateParams, CaError> {
        let first = names.first().ok_or(CaError::NoNames)?;
        if lifetime < Duration::HOUR || now + lifetime > self.intermediate_not_after {
            return Err(CaError::Lifetime);
        }
        let mut params = CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|n| {
                Ok(match n {
                    LeafName::Dns(d) => SanType::DnsName(d.as_str().try_into()?),
                    LeafName::Ip(ip) => SanType::IpAddress(*ip),
                })
            })
            .collect::<Result<_, rcgen::Error>>()?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, first.to_string());
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = now - BACKDATE;
        params.not_after = now + lifetime;
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        if let Some(urls) = self.revocation.as_ref().filter(|_| revocable) {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![urls.crl.clone()],
            }];
            params.custom_extensions = vec![ocsp::aia_extension(&urls.ocsp)?];
        }
        Ok(params)
    }
}

/// A name a leaf is issued for. Which names are acceptable is the caller's policy (the ACME
/// server takes only checked [`DnsName`]s; the listener's own certificate may be `localhost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafName {
    Dns(String),
    Ip(std::net::IpAddr),
}

impl std::fmt::Display for LeafName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeafName::Dns(d) => f.write_str(d),
            LeafName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A leaf issued for someone else's key: its DER and the chain (intermediate, root).
pub struct IssuedForKey {
    pub der: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rustls_pki_types::{ServerName, UnixTime};

    use super::*;

    fn names(list: &[&str]) -> Vec<DnsName> {
        list.iter().map(|n| DnsName::parse(n).unwrap()).collect()
    }

    /// Verifies with rustls-webpki, independent of rcgen: chain to the root, serverAuth, names.
    fn verify(
        ca: &BuiltinCa,
        issued: &Issued,
        name: &str,
        at: OffsetDateTime,
    ) -> Result<(), webpki::Error> {
        let root = CertificateDer::from(ca.root_der().to_vec());
        let anchor = webpki::anchor_from_trusted_cert(&root)?;
        let leaf = CertificateDer::from(issued.der.clone());
        let ee = webpki::EndEntityCert::try_from(&leaf)?;
        let inter = [CertificateDer::from(issued.chain[0].clone())];
        let time =
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(at.unix_timestamp() as u64));
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &inter,
            time,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )?;
        ee.verify_is_valid_for_subject_name(&ServerName::try_from(name).expect("name"))
    }

    #[test]
    fn leaves_verify_against_the_root_with_exactly_the_requested_names() {
        let now = OffsetDateTime::from_unix_timestamp(1_780_315_200).unwrap();
        let ca = BuiltinCa::load(&generate("Example Org", now).unwrap()).unwrap();
        let issued = ca
            .issue(
                &names(&["www.example.test", "*.api.example.test", "example.test"]),
                now,
                DEFAULT_LEAF_LIFETIME,
            )
            .unwrap();
        verify(&ca, &issued, "www.example.test", now).unwrap();
        verify(&ca, &issued, "x.api.example.test", now).unwrap();
        verify(&ca, &issued, "example.test", now).unwrap();
        assert!(verify(&ca, &issued, "other.example.test", now).is_err());
        assert!(
            verify(&ca, &issued, "www.example.test", now + Duration::days(91)).is_err(),
            "expired after 90 days"
        );

        let (_, cert) = X509Certificate::from_der(&issued.der).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let got: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "DNSName(www.example.test)",
                "DNSName(*.api.example.test)",
                "DNSName(example.test)"
            ]
        );
        assert_eq!(
            cert.validity().not_after.to_datetime() - cert.validity().not_before.to_datetime(),
            DEFAULT_LEAF_LIFETIME + BACKDATE
        );
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        assert!(!cert.is_ca());
    }

    #[test]
    fn reloaded_material_keeps_signing_under_the_same_root() {
        let now = OffsetDateTime::from_unix_timestamp(1_780_315_200).unwrap();
        let material = generate("Reload", now).unwrap();
        let again = CaMaterial {
            root_der: material.root_der.clone(),
            root_key_pkcs8: material.root_key_pkcs8.clone(),
            intermediate_der: material.intermediate_der.clone(),
            intermediate_key_pkcs8: material.intermediate_key_pkcs8.clone(),
        };
        let ca = BuiltinCa::load(&again).unwrap();
        let issued = ca
            .issue(&names(&["a.example.test"]), now, Duration::days(30))
            .unwrap();
        verify(&ca, &issued, "a.example.test", now).unwrap();
        assert!(matches!(
            ca.issue(&names(&["a.example.test"]), now, Duration::days(4000)),
            Err(CaError::Lifetime)
        ));
        assert!(matches!(
            ca.issue(&[], now, Duration::days(30)),
            Err(CaError::NoNames)
        ));
    }

    #[test]
    fn a_foreign_key_gets_only_the_given_names_including_addresses() {
        let now = OffsetDateTime::from_unix_timestamp(1_780_315_200).unwrap();
        let ca = BuiltinCa::load(&generate("Foreign", now).unwrap()).unwrap();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let names = [
            LeafName::Dns("localhost".into()),
            LeafName::Ip("127.0.0.1".parse().unwrap()),
        ];
        let issued = ca
            .issue_for_key(
                &names,
                &rcgen::PublicKeyData::subject_public_key_info(&key),
                now,
                Duration::days(30),
            )
            .unwrap();
        let (_, cert) = X509Certificate::from_der(&issued.der).unwrap();
        assert_eq!(
            cert.public_key().raw,
            rcgen::PublicKeyData::subject_public_key_info(&key).as_slice()
        );
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let got: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(got, ["DNSName(localhost)", "IPAddress(7f:00:00:01)"]);
        let leaf = CertificateDer::from(issued.der.clone());
        let root = CertificateDer::from(ca.root_der().to_vec());
        let anchor = webpki::anchor_from_trusted_cert(&root).unwrap();
        let ee = webpki::EndEntityCert::try_from(&leaf).unwrap();
        let time =
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.unix_timestamp() as u64));
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[CertificateDer::from(issued.chain[0].clone())],
            time,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .unwrap();
        ee.verify_is_valid_for_subject_name(&ServerName::try_from("127.0.0.1").unwrap())
            .unwrap();
    }

    #[test]
    fn serials_are_unique_over_ten_thousand_issuances() {
        let now = OffsetDateTime::from_unix_timestamp(1_780_315_200).unwrap();
        let ca = BuiltinCa::load(&generate("Serials", now).unwrap()).unwrap();
        let n = names(&["s.example.test"]);
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let issued = ca.issue(&n, now, Duration::days(1)).unwrap();
            let (_, cert) = X509Certificate::from_der(&issued.der).unwrap();
            assert_eq!(cert.raw_serial().len(), 17, "0x01, then 128 random bits");
            assert!(seen.insert(cert.raw_serial().to_vec()), "duplicate serial");
        }
    }
}
