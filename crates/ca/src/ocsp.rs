//! OCSP (RFC 6960) for the built-in CA: request parsing and responses signed by a delegated
//! responder certificate (EKU `OCSPSigning`, `id-pkix-ocsp-nocheck`), so the intermediate's
//! key signs nothing per request.
//!
//! Responses follow the lightweight profile of RFC 5019: a request nonce is not echoed, so
//! one signed response per certificate can be cached and served to every client until it is
//! refreshed.

use std::borrow::Cow;

use num_bigint::{BigInt, Sign};
use rasn::types::{BitString, Ia5String, Integer, ObjectIdentifier, OctetString};
use rasn_ocsp::{
    BasicOcspResponse, CertStatus, OcspRequest, OcspResponse, ResponderId, ResponseBytes,
    ResponseData, RevokedInfo, SingleResponse,
};
pub use rasn_ocsp::{CertId, OcspResponseStatus};
use rasn_pkix::{AccessDescription, AlgorithmIdentifier, CrlReason, GeneralName};
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SigningKey,
};
use ring::digest;
use time::{Duration, OffsetDateTime};

use crate::{BACKDATE, BuiltinCa, CaError, random_serial};

const SHA1: &[u32] = &[1, 3, 14, 3, 2, 26];
const SHA256: &[u32] = &[2, 16, 840, 1, 101, 3, 4, 2, 1];
const ECDSA_WITH_SHA256: &[u32] = &[1, 2, 840, 10045, 4, 3, 2];
const OCSP_BASIC: &[u32] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 1];
const AD_OCSP: &[u32] = &[1, 3, 6, 1, 5, 5, 7, 48, 1];
const AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
const OCSP_NOCHECK: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];

fn oid(arcs: &'static [u32]) -> ObjectIdentifier {
    ObjectIdentifier::new_unchecked(Cow::Borrowed(arcs))
}

fn encode<T: rasn::Encode>(value: &T) -> Result<Vec<u8>, CaError> {
    rasn::der::encode(value).map_err(|e| CaError::Encoding(e.to_string()))
}

fn generalized(t: OffsetDateTime) -> Result<rasn::types::GeneralizedTime, CaError> {
    chrono::DateTime::from_timestamp(t.unix_timestamp(), 0)
        .map(|d| d.fixed_offset())
        .ok_or_else(|| CaError::Encoding(format!("{t} is out of range")))
}

/// The Authority Information Access extension naming `url` as the OCSP responder.
pub(crate) fn aia_extension(url: &str) -> Result<CustomExtension, CaError> {
    let location = Ia5String::from_iso646_bytes(url.as_bytes())
        .map_err(|e| CaError::Encoding(format!("OCSP URL {url:?}: {e}")))?;
    let aia = vec![AccessDescription {
        access_method: oid(AD_OCSP),
        access_location: GeneralName::Uri(location),
    }];
    Ok(CustomExtension::from_oid_content(
        AUTHORITY_INFO_ACCESS,
        encode(&aia)?,
    ))
}

/// Why a request cannot be answered at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcspError {
    #[error("the OCSP request is not DER: {0}")]
    Malformed(String),
    #[error("the OCSP request asks about no certificate")]
    Empty,
}

/// The certificates a request asks about, as sent (a response repeats each `CertID`).
pub fn parse_request(der: &[u8]) -> Result<Vec<CertId>, OcspError> {
    let request: OcspRequest =
        rasn::der::decode(der).map_err(|e| OcspError::Malformed(e.to_string()))?;
    let ids: Vec<CertId> = request
        .tbs_request
        .request_list
        .into_iter()
        .map(|r| r.req_cert)
        .collect();
    if ids.is_empty() {
        return Err(OcspError::Empty);
    }
    Ok(ids)
}

/// What identifies a request's answer in a cache: its `CertID`s, DER, in order.
pub fn cache_key(ids: &[CertId]) -> Result<Vec<u8>, CaError> {
    let mut key = Vec::new();
    for id in ids {
        key.extend(encode(id)?);
    }
    Ok(key)
}

/// The serial a `CertID` names, as the inventory writes it (upper-case hex of its bytes);
/// `None` for a negative one, which no CA here issued.
pub fn serial_hex(id: &CertId) -> Option<String> {
    let (sign, bytes) = BigInt::from(id.serial_number.clone()).to_bytes_be();
    if sign == Sign::Minus {
        return None;
    }
    Some(bytes.iter().map(|b| format!("{b:02X}")).collect())
}

/// A `CertID` for `serial` under the intermediate (SHA-1, as OpenSSL sends): for tests and
/// benchmarks that play the client.
pub fn cert_id_for(ca: &BuiltinCa, serial: &[u8]) -> CertId {
    let hash = |data: &[u8]| {
        OctetString::from(
            digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data)
                .as_ref()
                .to_vec(),
        )
    };
    CertId {
        hash_algorithm: AlgorithmIdentifier {
            algorithm: oid(SHA1),
            parameters: None,
        },
        issuer_name_hash: hash(&ca.intermediate_name_der),
        issuer_key_hash: hash(&ca.intermediate_key_bits),
        serial_number: Integer::from(BigInt::from_bytes_be(Sign::Plus, serial)),
    }
}

/// An OCSP request (DER) for `ids`, unsigned and without a nonce.
pub fn request_der(ids: Vec<CertId>) -> Result<Vec<u8>, CaError> {
    encode(&OcspRequest {
        tbs_request: rasn_ocsp::TbsRequest {
            version: Integer::from(0),
            requestor_name: None,
            request_list: ids
                .into_iter()
                .map(|req_cert| rasn_ocsp::Request {
                    req_cert,
                    single_request_extensions: None,
                })
                .collect(),
            request_extensions: None,
        },
        optional_signature: None,
    })
}

/// What the responder says about one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertState {
    Good,
    Revoked { at: OffsetDateTime, reason_code: u8 },
    Unknown,
}

/// A response carrying only a status (`malformedRequest`, `unauthorized`, `internalError`,
/// `tryLater`): these are never signed.
pub fn status_response(status: OcspResponseStatus) -> Vec<u8> {
    // Two fixed bytes of DER around one enumerated value: cannot fail to encode.
    let code = status as u8;
    vec![0x30, 0x03, 0x0A, 0x01, code]
}

/// The responder: its own key and certificate, issued by the intermediate, and the hashes of
/// the intermediate that a request's `CertID` must carry.
pub struct OcspResponder {
    key: KeyPair,
    cert: rasn_pkix::Certificate,
    cert_der: Vec<u8>,
    /// SHA-1 of the responder's public key: the `ResponderID`.
    key_hash: Vec<u8>,
    /// (name hash, key hash) of the intermediate under SHA-1 and under SHA-256.
    issuer_sha1: (Vec<u8>, Vec<u8>),
    issuer_sha256: (Vec<u8>, Vec<u8>),
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl std::fmt::Debug for OcspResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspResponder")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl BuiltinCa {
    /// Issues a delegated OCSP responder valid from `now` for `lifetime` (shortened to the
    /// intermediate's end). Each node makes its own at start and replaces it before it ends;
    /// it is never stored.
    pub fn ocsp_responder(
        &self,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<OcspResponder, CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "certkeeper OCSP responder");
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
        // id-pkix-ocsp-nocheck: clients do not ask OCSP about the responder itself.
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            OCSP_NOCHECK,
            vec![0x05, 0x00],
        )];
        params.not_before = now - BACKDATE;
        params.not_after = (now + lifetime).min(self.intermediate_not_after);
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        let cert_der = params.signed_by(&key, &self.intermediate)?.der().to_vec();
        let cert: rasn_pkix::Certificate = rasn::der::decode(&cert_der)
            .map_err(|e| CaError::Encoding(format!("responder certificate: {e}")))?;
        let sha1 = |d: &[u8]| {
            digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, d)
                .as_ref()
                .to_vec()
        };
        let sha256 = |d: &[u8]| digest::digest(&digest::SHA256, d).as_ref().to_vec();
        let public = rcgen::PublicKeyData::der_bytes(&key).to_vec();
        Ok(OcspResponder {
            key_hash: sha1(&public),
            key,
            cert,
            cert_der,
            issuer_sha1: (
                sha1(&self.intermediate_name_der),
                sha1(&self.intermediate_key_bits),
            ),
            issuer_sha256: (
                sha256(&self.intermediate_name_der),
                sha256(&self.intermediate_key_bits),
            ),
            not_before: params.not_before,
            not_after: params.not_after,
        })
    }
}

impl OcspResponder {
    /// Whether `id` names a certificate of this CA (by SHA-1 or SHA-256 hashes of the
    /// intermediate). Anything else is answered `unauthorized`.
    pub fn covers(&self, id: &CertId) -> bool {
        let expected = if id.hash_algorithm.algorithm == oid(SHA1) {
            &self.issuer_sha1
        } else if id.hash_algorithm.algorithm == oid(SHA256) {
            &self.issuer_sha256
        } else {
            return false;
        };
        id.issuer_name_hash.as_ref() == expected.0.as_slice()
            && id.issuer_key_hash.as_ref() == expected.1.as_slice()
    }

    /// The responder certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// When a replacement should be made: two thirds into its validity.
    pub fn renew_at(&self) -> OffsetDateTime {
        self.not_before + (self.not_after - self.not_before) * 2 / 3
    }

    /// A signed, successful response for `answers`, produced at `now` and valid until
    /// `next_update`, with the responder certificate attached.
    pub fn respond(
        &self,
        answers: &[(CertId, CertState)],
        now: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>, CaError> {
        let responses = answers
            .iter()
            .map(|(id, state)| {
                Ok(SingleResponse {
                    cert_id: id.clone(),
                    cert_status: match state {
                        CertState::Good => CertStatus::Good,
                        CertState::Unknown => CertStatus::Unknown(()),
                        CertState::Revoked { at, reason_code } => {
                            CertStatus::Revoked(RevokedInfo {
                                revocation_time: generalized(*at)?,
                                revocation_reason: crl_reason(*reason_code),
                            })
                        }
                    },
                    this_update: generalized(now)?,
                    next_update: Some(generalized(next_update)?),
                    single_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, CaError>>()?;
        let data = ResponseData {
            version: Integer::from(0),
            responder_id: ResponderId::ByKey(OctetString::from(self.key_hash.clone())),
            produced_at: generalized(now)?,
            responses,
            response_extensions: None,
        };
        let signature = self.key.sign(&encode(&data)?)?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: AlgorithmIdentifier {
                algorithm: oid(ECDSA_WITH_SHA256),
                parameters: None,
            },
            signature: BitString::from_vec(signature),
            certs: Some(vec![self.cert.clone()]),
        };
        encode(&OcspResponse {
            status: OcspResponseStatus::Successful,
            bytes: Some(ResponseBytes {
                r#type: oid(OCSP_BASIC),
                response: OctetString::from(encode(&basic)?),
            }),
        })
    }
}

fn crl_reason(code: u8) -> Option<CrlReason> {
    Some(match code {
        0 => CrlReason::Unspecified,
        1 => CrlReason::KeyCompromise,
        2 => CrlReason::CaCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        6 => CrlReason::CertificateHold,
        8 => CrlReason::RemoveFromCRL,
        9 => CrlReason::PrivilegeWithdrawn,
        10 => CrlReason::AaCompromise,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
    use x509_parser::prelude::*;

    use super::*;
    use crate::{LeafName, generate};

    fn decode_basic(der: &[u8]) -> BasicOcspResponse {
        let response: OcspResponse = rasn::der::decode(der).unwrap();
        assert_eq!(response.status, OcspResponseStatus::Successful);
        let bytes = response.bytes.unwrap();
        assert_eq!(bytes.r#type, oid(OCSP_BASIC));
        rasn::der::decode(&bytes.response).unwrap()
    }

    #[test]
    fn a_request_round_trips_to_a_signed_answer_for_each_certificate() {
        let now = OffsetDateTime::from_unix_timestamp(1_780_315_200).unwrap();
        let ca = BuiltinCa::load(&generate("Ocsp", now).unwrap()).unwrap();
        let leaf = ca
            .issue_names(
                &[LeafName::Dns("o.example.test".into())],
                now,
                Duration::days(1),
            )
            .unwrap();
        let (_, cert) = X509Certificate::from_der(&leaf.der).unwrap();
        let serial = cert.raw_serial().to_vec();
        let der = request_der(vec![cert_id_for(&ca, &serial), cert_id_for(&ca, &[0x02])]).unwrap();
        let ids = parse_request(&der).unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(
            serial_hex(&ids[0]).unwrap(),
            serial
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        );
        let responder = ca.ocsp_responder(now, Duration::days(30)).unwrap();
        assert!(ids.iter().all(|id| responder.covers(id)));
        let other = BuiltinCa::load(&generate("Other", now).unwrap()).unwrap();
        assert!(!responder.covers(&cert_id_for(&other, &serial)));

        let answer = responder
            .respond(
                &[
                    (
                        ids[0].clone(),
                        CertState::Revoked {
                            at: now,
                            reason_code: 1,
                        },
                    ),
                    (ids[1].clone(), CertState::Unknown),
                ],
                now,
                now + Duration::hours(1),
            )
            .unwrap();
        let basic = decode_basic(&answer);
        let data = &basic.tbs_response_data;
        assert!(matches!(
            &data.responses[0].cert_status,
            CertStatus::Revoked(RevokedInfo {
                revocation_reason: Some(CrlReason::KeyCompromise),
                ..
            })
        ));
        assert!(matches!(
            data.responses[1].cert_status,
            CertStatus::Unknown(())
        ));
        assert_eq!(data.responses[0].cert_id, ids[0]);

        // The signature verifies under the attached responder certificate, which the
        // intermediate issued for OCSP signing.
        let signer = basic.certs.as_ref().unwrap()[0].clone();
        let signer_der = rasn::der::encode(&signer).unwrap();
        assert_eq!(signer_der, responder.certificate_der());
        let (_, signer) = X509Certificate::from_der(&signer_der).unwrap();
        let eku = signer.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.ocsp_signing);
        let chain = ca.chain();
        let (_, inter) = X509Certificate::from_der(&chain[0]).unwrap();
        signer.verify_signature(Some(inter.public_key())).unwrap();
        let signed = rasn::der::encode(data).unwrap();
        UnparsedPublicKey::new(
            &ECDSA_P256_SHA256_ASN1,
            &signer.public_key().subject_public_key.data,
        )
        .verify(&signed, basic.signature.as_raw_slice())
        .unwrap();
    }

    #[test]
    fn garbage_is_malformed_and_status_responses_decode() {
        assert!(matches!(
            parse_request(b"nope"),
            Err(OcspError::Malformed(_))
        ));
        let r: OcspResponse =
            rasn::der::decode(&status_response(OcspResponseStatus::Unauthorized)).unwrap();
        assert_eq!(r.status, OcspResponseStatus::Unauthorized);
        assert!(r.bytes.is_none());
    }

    #[test]
    fn leaves_name_the_crl_and_the_responder_once_urls_are_set() {
        let now = OffsetDateTime::from_unix_timestamp(1_780_315_200).unwrap();
        let ca = BuiltinCa::load(&generate("Urls", now).unwrap())
            .unwrap()
            .with_revocation_urls(crate::RevocationUrls {
                crl: "https://ca.example.test/pki/crl".into(),
                ocsp: "https://ca.example.test/pki/ocsp".into(),
            });
        let names = [certkeeper_domain::names::DnsName::parse("u.example.test").unwrap()];
        let leaf = ca.issue(&names, now, Duration::days(1)).unwrap();
        let (_, cert) = X509Certificate::from_der(&leaf.der).unwrap();
        let mut crl = None;
        let mut ocsp = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::CRLDistributionPoints(points) => {
                    crl = Some(format!("{:?}", points.points[0].distribution_point));
                }
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    ocsp = Some(format!("{:?}", aia.accessdescs[0].access_location));
                }
                _ => {}
            }
        }
        assert!(crl.unwrap().contains("https://ca.example.test/pki/crl"));
        assert!(ocsp.unwrap().contains("https://ca.example.test/pki/ocsp"));
        // The listener's own certificate names neither.
        let own = ca
            .issue_names(&[LeafName::Dns("localhost".into())], now, Duration::days(1))
            .unwrap();
        let (_, own) = X509Certificate::from_der(&own.der).unwrap();
        assert!(own.extensions().iter().all(|e| !matches!(
            e.parsed_extension(),
            ParsedExtension::CRLDistributionPoints(_) | ParsedExtension::AuthorityInfoAccess(_)
        )));
    }
}
