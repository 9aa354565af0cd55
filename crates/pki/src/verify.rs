//! Validating a peer's certificate chain against configured CAs (RFC 5280 §6.1, reduced to what
//! a remote-access server needs) and CRLs (RFC 5280 §6.3).
//!
//! The peer sends its end-entity certificate and possibly intermediates in CERT payloads (RFC 2408
//! §3.9); [`Verifier::verify`] builds a path from the end entity up to one of the configured CA
//! certificates (the trust anchors) and checks, for every certificate on it:
//!
//! - the issuer's signature: sha1WithRSAEncryption (still issued by old CAs that Windows XP
//!   clients use), sha256/384/512WithRSAEncryption (RFC 4055 §5), PKCS#1 v1.5 (RFC 8017 §8.2);
//! - validity at `now` (RFC 5280 §4.1.2.5);
//! - an RSA key of at least [`MIN_RSA_BITS`];
//! - for issuers: basicConstraints cA and pathLenConstraint (RFC 5280 §4.2.1.9), keyUsage
//!   keyCertSign when keyUsage is present (§4.2.1.3);
//! - for the end entity: keyUsage digitalSignature or nonRepudiation when present (RFC 4945
//!   §5.1.3.2), extendedKeyUsage, when present, one that fits IKE (RFC 4945 §5.1.3.12; Windows
//!   certificates carry clientAuth or serverAuth);
//! - no unrecognised critical extension (RFC 5280 §4.2);
//! - revocation: every configured CRL whose issuer is the certificate's issuer must be signed by
//!   that issuer and be current (thisUpdate ≤ now ≤ nextUpdate); a certificate whose serial number
//!   it lists is refused. A CRL past its nextUpdate refuses every certificate of that issuer
//!   until it is replaced (fail closed).
//!
//! Every refusal is its own [`ChainError`] variant whose message names the certificate and the
//! check in plain words.

use std::time::SystemTime;

use const_oid::{
    AssociatedOid, ObjectIdentifier,
    db::{rfc5280, rfc5912},
};
use der::{Encode, asn1::BitString};
use rsa::{pkcs1v15::Pkcs1v15Sign, traits::PublicKeyParts};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use thiserror::Error;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use crate::{Certificate, Crl, MIN_RSA_BITS, PublicKey, load, text};

/// Longest chain accepted, counting the end entity and intermediates (not the anchor).
pub const MAX_CHAIN: usize = 8;

/// `id-kp-ipsecIKE` (RFC 4945 §5.1.3.12).
pub const ID_KP_IPSEC_IKE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.17");
/// "IP security IKE intermediate", the EKU Microsoft recommends for L2TP/IPsec server
/// certificates (KB 2855053,
/// <https://learn.microsoft.com/en-us/troubleshoot/windows-server/networking/l2tp-vpn-fails-with-error-787>).
pub const IKE_INTERMEDIATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.8.2.2");
/// `anyExtendedKeyUsage` (RFC 5280 §4.2.1.12).
pub const ANY_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");

/// Extended key usages that let a certificate authenticate an IKE peer: serverAuth, clientAuth
/// (what Windows puts in machine certificates), ipsecEndSystem, ipsecUser (RFC 2459 §4.2.1.13),
/// ipsecIKE, IKE intermediate and anyExtendedKeyUsage.
pub const IKE_EKUS: [ObjectIdentifier; 7] = [
    rfc5280::ID_KP_SERVER_AUTH,
    rfc5280::ID_KP_CLIENT_AUTH,
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.5"),
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.7"),
    ID_KP_IPSEC_IKE,
    IKE_INTERMEDIATE,
    ANY_EKU,
];

/// Extensions this verifier understands or may safely ignore when marked critical.
const KNOWN_EXTENSIONS: [ObjectIdentifier; 8] = [
    rfc5280::ID_CE_BASIC_CONSTRAINTS,
    rfc5280::ID_CE_KEY_USAGE,
    rfc5280::ID_CE_EXT_KEY_USAGE,
    rfc5280::ID_CE_SUBJECT_ALT_NAME,
    rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
    rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
    rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS,
    rfc5280::ID_CE_CERTIFICATE_POLICIES,
];

/// Which certificate of a chain a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// The peer's own certificate.
    Peer,
    /// An intermediate CA certificate the peer sent.
    Intermediate,
    /// A configured CA certificate.
    Ca,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Peer => "peer certificate",
            Self::Intermediate => "intermediate CA certificate",
            Self::Ca => "CA certificate",
        })
    }
}

/// Why a chain (or a CA certificate given to [`Verifier::new`]) was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainError {
    /// No configured CA (and no intermediate sent) has the issuer's name.
    #[error("{role} {subject} is not issued by any configured CA (its issuer is {issuer})")]
    NotIssuedByConfiguredCa {
        /// Certificate that was being checked.
        role: Role,
        /// Its subject.
        subject: String,
        /// The issuer it names.
        issuer: String,
    },
    /// A certificate with the issuer's name exists, but its key does not verify the signature.
    #[error("the signature on {role} {subject} does not verify with the key of {issuer}")]
    BadSignature {
        /// Certificate that was being checked.
        role: Role,
        /// Its subject.
        subject: String,
        /// The issuer tried.
        issuer: String,
    },
    /// The signature algorithm is not one of the RSA PKCS#1 v1.5 ones supported.
    #[error(
        "{role} {subject} is signed with {algorithm}, which is not supported (RSA with SHA-1/256/384/512 is)"
    )]
    UnsupportedSignature {
        /// Certificate that was being checked.
        role: Role,
        /// Its subject.
        subject: String,
        /// The algorithm OID.
        algorithm: String,
    },
    /// notBefore is after `now`.
    #[error("{role} {subject} is not valid before {not_before} (now is {now}); check the clocks")]
    NotYetValid {
        /// Certificate that was being checked.
        role: Role,
        /// Its subject.
        subject: String,
        /// Its notBefore.
        not_before: String,
        /// The time checked against.
        now: String,
    },
    /// notAfter is before `now`.
    #[error("{role} {subject} expired on {not_after}")]
    Expired {
        /// Certificate that was being checked.
        role: Role,
        /// Its subject.
        subject: String,
        /// Its notAfter.
        not_after: String,
    },
    /// The key is RSA but shorter than [`MIN_RSA_BITS`].
    #[error(
        "{role} {subject} has a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required (Windows refuses smaller keys)"
    )]
    KeyTooSmall {
        /// Certificate that was being checked.
        role: Role,
        /// Its subject.
        subject: String,
        /// Modulus size.
        bits: usize,
    },
    /// The key is not an RSA key (or cannot be read).
    #[error("{role} {subject} does not hold a usable RSA key: {reason}")]
    NotRsa {
        /// Certificate that was being checked.
        role: Role,
        /// Its subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// An issuing certificate is not a CA (basicConstraints cA is absent or false).
    #[error(
        "{role} {subject} is used to issue certificates but is not a CA (basicConstraints cA is not set)"
    )]
    NotCa {
        /// The issuing certificate.
        role: Role,
        /// Its subject.
        subject: String,
    },
    /// An issuing certificate's keyUsage lacks keyCertSign.
    #[error(
        "{role} {subject} has a keyUsage without keyCertSign, so it may not issue certificates"
    )]
    NoCertSign {
        /// The issuing certificate.
        role: Role,
        /// Its subject.
        subject: String,
    },
    /// A CA's pathLenConstraint is exceeded.
    #[error("{role} {subject} allows {allowed} intermediate CA(s) below it, the chain has {found}")]
    PathTooLong {
        /// The constraining certificate.
        role: Role,
        /// Its subject.
        subject: String,
        /// pathLenConstraint.
        allowed: u8,
        /// Intermediates found below it.
        found: usize,
    },
    /// More than [`MAX_CHAIN`] certificates, or the chain loops.
    #[error("the chain from {subject} is longer than {MAX_CHAIN} certificates")]
    ChainTooLong {
        /// The peer's subject.
        subject: String,
    },
    /// The peer certificate's keyUsage allows neither digitalSignature nor nonRepudiation.
    #[error(
        "peer certificate {subject} has a keyUsage without digitalSignature, so it may not sign IKE messages"
    )]
    KeyUsage {
        /// The peer's subject.
        subject: String,
    },
    /// The peer certificate's extendedKeyUsage has no usage that fits IKE.
    #[error(
        "peer certificate {subject} has an extendedKeyUsage ({ekus}) without any usage for IKE (clientAuth, serverAuth, ipsecIKE, IKE intermediate or any)"
    )]
    WrongEku {
        /// The peer's subject.
        subject: String,
        /// The EKUs it has.
        ekus: String,
    },
    /// A critical extension this verifier does not understand (RFC 5280 §4.2).
    #[error("{role} {subject} has a critical extension {oid} that is not supported")]
    UnknownCriticalExtension {
        /// Certificate that was being checked.
        role: Role,
        /// Its subject.
        subject: String,
        /// The extension.
        oid: String,
    },
    /// An extension or field cannot be decoded, or the two signature fields disagree.
    #[error("{role} {subject} is malformed: {reason}")]
    Malformed {
        /// Certificate that was being checked.
        role: Role,
        /// Its subject.
        subject: String,
        /// What is wrong.
        reason: String,
    },
    /// The certificate is on its issuer's CRL.
    #[error("{role} {subject} (serial {serial}) was revoked on {date} by the CRL of {crl_issuer}")]
    Revoked {
        /// Certificate that was being checked.
        role: Role,
        /// Its subject.
        subject: String,
        /// Its serial number in hex.
        serial: String,
        /// revocationDate.
        date: String,
        /// The CRL's issuer.
        crl_issuer: String,
    },
    /// A configured CRL names the issuer but its signature does not verify with the issuer's key.
    #[error(
        "the CRL of {crl_issuer} is not signed by that CA's key; refusing its certificates until the CRL file is fixed"
    )]
    CrlBadSignature {
        /// The CRL's issuer.
        crl_issuer: String,
    },
    /// A configured CRL is past its nextUpdate.
    #[error(
        "the CRL of {crl_issuer} expired on {next_update}; refusing its certificates until a new CRL is installed"
    )]
    CrlExpired {
        /// The CRL's issuer.
        crl_issuer: String,
        /// nextUpdate.
        next_update: String,
    },
    /// A configured CRL's thisUpdate is after `now`.
    #[error("the CRL of {crl_issuer} is not valid before {this_update}; check the clocks")]
    CrlNotYetValid {
        /// The CRL's issuer.
        crl_issuer: String,
        /// thisUpdate.
        this_update: String,
    },
    /// A configured CRL was not issued by any configured CA.
    #[error(
        "the CRL of {crl_issuer} was not issued by any configured CA: add that CA's certificate or remove the CRL"
    )]
    CrlUnknownIssuer {
        /// The CRL's issuer.
        crl_issuer: String,
    },
}

/// A configured CA certificate with its decoded key.
#[derive(Debug, Clone)]
struct Anchor {
    cert: Certificate,
    key: PublicKey,
}

/// Validates peer chains against configured CA certificates and CRLs.
#[derive(Debug, Clone)]
pub struct Verifier {
    anchors: Vec<Anchor>,
    crls: Vec<Crl>,
}

/// A chain that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The peer certificate first, then the intermediates used, in order.
    pub chain: Vec<Certificate>,
    /// The configured CA the chain ends at.
    pub anchor: Certificate,
}

impl Verified {
    /// The peer's certificate.
    pub fn end_entity(&self) -> Option<&Certificate> {
        self.chain.first()
    }
}

/// Outcome of checking a signature.
enum SigCheck {
    Ok,
    Bad,
    Unsupported(String),
}

impl Verifier {
    /// A verifier trusting `cas` and applying `crls`.
    ///
    /// Each CA must hold an RSA key of at least [`MIN_RSA_BITS`] and, when it has basicConstraints,
    /// have cA set (old self-signed version 1 roots without extensions are accepted).
    pub fn new(cas: Vec<Certificate>, crls: Vec<Crl>) -> Result<Self, ChainError> {
        let mut anchors = Vec::with_capacity(cas.len());
        for cert in cas {
            let key = rsa_key(&cert, Role::Ca)?;
            if let Some(bc) = ext::<BasicConstraints>(&cert, Role::Ca)?
                && !bc.ca
            {
                return Err(ChainError::NotCa {
                    role: Role::Ca,
                    subject: text::subject(&cert),
                });
            }
            anchors.push(Anchor { cert, key });
        }
        Ok(Self { anchors, crls })
    }

    /// The configured CA certificates.
    pub fn cas(&self) -> impl Iterator<Item = &Certificate> {
        self.anchors.iter().map(|a| &a.cert)
    }

    /// Validates `end_entity` (with `intermediates`, in any order) at time `now`.
    pub fn verify(
        &self,
        end_entity: &Certificate,
        intermediates: &[Certificate],
        now: SystemTime,
    ) -> Result<Verified, ChainError> {
        let mut chain: Vec<Certificate> = vec![end_entity.clone()];
        let mut used = vec![false; intermediates.len()];
        check_common(end_entity, Role::Peer, now)?;
        check_end_entity(end_entity)?;
        let mut current = end_entity.clone();
        let mut role = Role::Peer;
        loop {
            if chain.len() > MAX_CHAIN {
                return Err(ChainError::ChainTooLong {
                    subject: text::subject(end_entity),
                });
            }
            let issuer_name = &current.tbs_certificate.issuer;
            let below = chain.len() - 1;
            let mut bad_signature = None;
            // A configured CA first: the shortest path.
            for anchor in self
                .anchors
                .iter()
                .filter(|a| &a.cert.tbs_certificate.subject == issuer_name)
            {
                match check_signature(&current, &anchor.key) {
                    SigCheck::Ok => {
                        check_common(&anchor.cert, Role::Ca, now)?;
                        check_issuer(&anchor.cert, Role::Ca, below)?;
                        self.check_revocation(&current, role, &anchor.cert, &anchor.key, now)?;
                        return Ok(Verified {
                            chain,
                            anchor: anchor.cert.clone(),
                        });
                    }
                    SigCheck::Bad => bad_signature = Some(text::subject(&anchor.cert)),
                    SigCheck::Unsupported(algorithm) => {
                        return Err(ChainError::UnsupportedSignature {
                            role,
                            subject: text::subject(&current),
                            algorithm,
                        });
                    }
                }
            }
            // Then an intermediate the peer sent.
            let mut next = None;
            for (i, cand) in intermediates.iter().enumerate() {
                if used.get(i).copied().unwrap_or(true)
                    || &cand.tbs_certificate.subject != issuer_name
                {
                    continue;
                }
                let key = rsa_key(cand, Role::Intermediate)?;
                match check_signature(&current, &key) {
                    SigCheck::Ok => {
                        next = Some((i, key));
                        break;
                    }
                    SigCheck::Bad => bad_signature = Some(text::subject(cand)),
                    SigCheck::Unsupported(algorithm) => {
                        return Err(ChainError::UnsupportedSignature {
                            role,
                            subject: text::subject(&current),
                            algorithm,
                        });
                    }
                }
            }
            let Some((i, key)) = next else {
                return Err(match bad_signature {
                    Some(issuer) => ChainError::BadSignature {
                        role,
                        subject: text::subject(&current),
                        issuer,
                    },
                    None => ChainError::NotIssuedByConfiguredCa {
                        role,
                        subject: text::subject(&current),
                        issuer: text::name(issuer_name),
                    },
                });
            };
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
            let Some(issuer) = intermediates.get(i) else {
                return Err(ChainError::ChainTooLong {
                    subject: text::subject(end_entity),
                });
            };
            check_common(issuer, Role::Intermediate, now)?;
            check_issuer(issuer, Role::Intermediate, below)?;
            self.check_revocation(&current, role, issuer, &key, now)?;
            chain.push(issuer.clone());
            current = issuer.clone();
            role = Role::Intermediate;
        }
    }

    /// Checks every configured CRL on its own, as a configuration check would: each must be
    /// issued by a configured CA and signed with its key, and be current at `now` (thisUpdate ≤
    /// now ≤ nextUpdate, RFC 5280 §5.1.2.4, §5.1.2.5). One entry per CRL that fails, in the
    /// order the CRLs were given. A CRL that fails refuses every certificate of its CA in
    /// [`Verifier::verify`].
    pub fn check_crls(&self, now: SystemTime) -> Vec<ChainError> {
        let now_s = text::now_secs(now);
        let mut out = Vec::new();
        for crl in &self.crls {
            let issuer = self
                .anchors
                .iter()
                .find(|a| a.cert.tbs_certificate.subject == crl.tbs_cert_list.issuer);
            let result = match issuer {
                Some(anchor) => check_crl(crl, &anchor.key, now_s).map(|_| ()),
                None => Err(ChainError::CrlUnknownIssuer {
                    crl_issuer: text::name(&crl.tbs_cert_list.issuer),
                }),
            };
            if let Err(e) = result {
                out.push(e);
            }
        }
        out
    }

    /// Refuses `cert` if a CRL of `issuer` lists it, or if such a CRL cannot be trusted now.
    fn check_revocation(
        &self,
        cert: &Certificate,
        role: Role,
        issuer: &Certificate,
        issuer_key: &PublicKey,
        now: SystemTime,
    ) -> Result<(), ChainError> {
        let now_s = text::now_secs(now);
        for crl in self
            .crls
            .iter()
            .filter(|c| c.tbs_cert_list.issuer == issuer.tbs_certificate.subject)
        {
            let crl_issuer = check_crl(crl, issuer_key, now_s)?;
            let serial = &cert.tbs_certificate.serial_number;
            if let Some(entry) = crl
                .tbs_cert_list
                .revoked_certificates
                .iter()
                .flatten()
                .find(|r| &r.serial_number == serial)
            {
                return Err(ChainError::Revoked {
                    role,
                    subject: text::subject(cert),
                    serial: text::serial(serial.as_bytes()),
                    date: text::time(&entry.revocation_date),
                    crl_issuer,
                });
            }
        }
        Ok(())
    }
}

/// Checks one CRL issued by the CA whose key is `issuer_key`: the signature and thisUpdate ≤
/// now ≤ nextUpdate. Returns the CRL issuer's name for messages.
fn check_crl(crl: &Crl, issuer_key: &PublicKey, now_s: u64) -> Result<String, ChainError> {
    let crl_issuer = text::name(&crl.tbs_cert_list.issuer);
    let tbs = crl
        .tbs_cert_list
        .to_der()
        .map_err(|_| ChainError::CrlBadSignature {
            crl_issuer: crl_issuer.clone(),
        })?;
    if crl.tbs_cert_list.signature != crl.signature_algorithm {
        return Err(ChainError::CrlBadSignature { crl_issuer });
    }
    match verify_signed(&tbs, &crl.signature_algorithm, &crl.signature, issuer_key) {
        SigCheck::Ok => {}
        SigCheck::Bad | SigCheck::Unsupported(_) => {
            return Err(ChainError::CrlBadSignature { crl_issuer });
        }
    }
    if text::secs(&crl.tbs_cert_list.this_update) > now_s {
        return Err(ChainError::CrlNotYetValid {
            crl_issuer,
            this_update: text::time(&crl.tbs_cert_list.this_update),
        });
    }
    if let Some(next) = &crl.tbs_cert_list.next_update
        && text::secs(next) < now_s
    {
        return Err(ChainError::CrlExpired {
            crl_issuer,
            next_update: text::time(next),
        });
    }
    Ok(crl_issuer)
}

/// The RSA key of `cert`, refused if it is not RSA or is too small.
pub(crate) fn rsa_key(cert: &Certificate, role: Role) -> Result<PublicKey, ChainError> {
    let key = load::public_key(cert).map_err(|e| ChainError::NotRsa {
        role,
        subject: text::subject(cert),
        reason: e.to_string(),
    })?;
    let bits = key.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(ChainError::KeyTooSmall {
            role,
            subject: text::subject(cert),
            bits,
        });
    }
    Ok(key)
}

/// Decodes extension `T` of `cert`, if present.
pub(crate) fn ext<'a, T: der::Decode<'a> + AssociatedOid>(
    cert: &'a Certificate,
    role: Role,
) -> Result<Option<T>, ChainError> {
    cert.tbs_certificate
        .get::<T>()
        .map(|o| o.map(|(_, v)| v))
        .map_err(|e| ChainError::Malformed {
            role,
            subject: text::subject(cert),
            reason: format!("extension {}: {e}", T::OID),
        })
}

/// Validity, key, critical extensions and signature-field agreement: checks for every certificate.
fn check_common(cert: &Certificate, role: Role, now: SystemTime) -> Result<(), ChainError> {
    let subject = || text::subject(cert);
    let tbs = &cert.tbs_certificate;
    if tbs.signature != cert.signature_algorithm {
        return Err(ChainError::Malformed {
            role,
            subject: subject(),
            reason: "the two signature algorithm fields differ (RFC 5280 §4.1.1.2)".into(),
        });
    }
    let now_s = text::now_secs(now);
    if text::secs(&tbs.validity.not_before) > now_s {
        return Err(ChainError::NotYetValid {
            role,
            subject: subject(),
            not_before: text::time(&tbs.validity.not_before),
            now: text::system_time(now),
        });
    }
    if text::secs(&tbs.validity.not_after) < now_s {
        return Err(ChainError::Expired {
            role,
            subject: subject(),
            not_after: text::time(&tbs.validity.not_after),
        });
    }
    rsa_key(cert, role)?;
    for e in tbs.extensions.iter().flatten() {
        if e.critical && !KNOWN_EXTENSIONS.contains(&e.extn_id) {
            return Err(ChainError::UnknownCriticalExtension {
                role,
                subject: subject(),
                oid: e.extn_id.to_string(),
            });
        }
    }
    Ok(())
}

/// basicConstraints, keyUsage and pathLenConstraint of a certificate that issued another.
fn check_issuer(cert: &Certificate, role: Role, below: usize) -> Result<(), ChainError> {
    match ext::<BasicConstraints>(cert, role)? {
        Some(bc) if bc.ca => {
            if let Some(allowed) = bc.path_len_constraint
                && below > usize::from(allowed)
            {
                return Err(ChainError::PathTooLong {
                    role,
                    subject: text::subject(cert),
                    allowed,
                    found: below,
                });
            }
        }
        // A configured version 1 root has no extensions at all; the admin chose to trust it.
        None if role == Role::Ca && cert.tbs_certificate.extensions.is_none() => {}
        _ => {
            return Err(ChainError::NotCa {
                role,
                subject: text::subject(cert),
            });
        }
    }
    if let Some(ku) = ext::<KeyUsage>(cert, role)?
        && !ku.key_cert_sign()
    {
        return Err(ChainError::NoCertSign {
            role,
            subject: text::subject(cert),
        });
    }
    Ok(())
}

/// keyUsage and extendedKeyUsage of the peer's own certificate.
fn check_end_entity(cert: &Certificate) -> Result<(), ChainError> {
    if let Some(ku) = ext::<KeyUsage>(cert, Role::Peer)?
        && !ku.digital_signature()
        && !ku.non_repudiation()
    {
        return Err(ChainError::KeyUsage {
            subject: text::subject(cert),
        });
    }
    if let Some(eku) = ext::<ExtendedKeyUsage>(cert, Role::Peer)?
        && !eku.0.iter().any(|o| IKE_EKUS.contains(o))
    {
        let ekus = eku
            .0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ChainError::WrongEku {
            subject: text::subject(cert),
            ekus,
        });
    }
    Ok(())
}

/// Checks the issuer's signature on `cert`.
fn check_signature(cert: &Certificate, issuer_key: &PublicKey) -> SigCheck {
    let Ok(tbs) = cert.tbs_certificate.to_der() else {
        return SigCheck::Bad;
    };
    verify_signed(&tbs, &cert.signature_algorithm, &cert.signature, issuer_key)
}

/// Verifies an RSA PKCS#1 v1.5 signature (RFC 8017 §8.2.2) over `tbs`.
fn verify_signed(
    tbs: &[u8],
    alg: &AlgorithmIdentifierOwned,
    sig: &BitString,
    key: &PublicKey,
) -> SigCheck {
    let (scheme, digest) = match alg.oid {
        rfc5912::SHA_1_WITH_RSA_ENCRYPTION => {
            (Pkcs1v15Sign::new::<Sha1>(), Sha1::digest(tbs).to_vec())
        }
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION => {
            (Pkcs1v15Sign::new::<Sha256>(), Sha256::digest(tbs).to_vec())
        }
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION => {
            (Pkcs1v15Sign::new::<Sha384>(), Sha384::digest(tbs).to_vec())
        }
        rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
            (Pkcs1v15Sign::new::<Sha512>(), Sha512::digest(tbs).to_vec())
        }
        other => return SigCheck::Unsupported(other.to_string()),
    };
    let Some(sig) = sig.as_bytes() else {
        return SigCheck::Bad;
    };
    match key.verify(scheme, &digest, sig) {
        Ok(()) => SigCheck::Ok,
        Err(_) => SigCheck::Bad,
    }
}
