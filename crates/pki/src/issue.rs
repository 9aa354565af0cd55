//! Building certificates (RFC 5280 §4) and CRLs (RFC 5280 §5) for `l2tpd-rs pki` and for tests.
//!
//! What Windows wants of an L2TP/IPsec server certificate (Microsoft KB 2855053,
//! <https://learn.microsoft.com/en-us/troubleshoot/windows-server/networking/l2tp-vpn-fails-with-error-787>):
//! the Server Authentication EKU (1.3.6.1.5.5.7.3.1), optionally IP security IKE intermediate
//! (1.3.6.1.5.5.8.2.2), and the name or address the user typed in the subject or the
//! subjectAltName. [`Spec::server`] sets those; [`Spec::client`] sets Client Authentication, which
//! Windows machine certificates carry; [`Spec::ca`] makes a CA that signs certificates and CRLs.
//!
//! Nothing here reads the clock or the OS RNG: times and serial numbers come from the caller.

use std::{net::Ipv4Addr, time::SystemTime};

use const_oid::{ObjectIdentifier, db::rfc5280};
use der::{
    Encode,
    asn1::{BitString, GeneralizedTime, Ia5String, OctetString},
};
use rsa::pkcs1v15::SigningKey;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use signature::{SignatureEncoding, Signer};
use spki::{DynSignatureAlgorithmIdentifier, EncodePublicKey, SubjectPublicKeyInfoOwned};
use thiserror::Error;
use x509_cert::{
    builder::{Builder, CertificateBuilder, Profile},
    crl::{RevokedCert, TbsCertList},
    ext::pkix::{
        AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
        SubjectAltName, SubjectKeyIdentifier, name::GeneralName,
    },
    name::Name,
    serial_number::SerialNumber,
    time::{Time, Validity},
};

use crate::{Certificate, Crl, PrivateKey, PublicKey, verify::IKE_INTERMEDIATE};

/// Why a certificate or CRL could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IssueError {
    /// A name could not be parsed (`CN=...,O=...`).
    #[error("bad name {name:?}: {reason}")]
    Name {
        /// The text given.
        name: String,
        /// Why.
        reason: String,
    },
    /// A host name or e-mail is not ASCII.
    #[error("{0:?} is not an ASCII host name or e-mail")]
    NotAscii(String),
    /// A time is outside what X.509 can encode.
    #[error("time out of range for a certificate")]
    Time,
    /// The builder or encoder failed.
    #[error("cannot build the certificate: {0}")]
    Build(String),
}

/// The digest the issuer signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureDigest {
    /// sha1WithRSAEncryption: only for testing old peers.
    Sha1,
    /// sha256WithRSAEncryption (RFC 4055 §5): the default; Windows XP SP3 verifies it.
    Sha256,
}

/// What to put in a certificate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Subject, e.g. `CN=vpn.example.com`.
    pub subject: Name,
    /// Serial number bytes (big-endian); made positive and minimal when encoded.
    pub serial: Vec<u8>,
    /// notBefore.
    pub not_before: SystemTime,
    /// notAfter.
    pub not_after: SystemTime,
    /// basicConstraints cA (with no path length limit).
    pub ca: bool,
    /// keyUsage bits, or none for no keyUsage extension.
    pub key_usage: Option<flagset::FlagSet<KeyUsages>>,
    /// extendedKeyUsage OIDs (no extension when empty).
    pub ekus: Vec<ObjectIdentifier>,
    /// subjectAltName dNSName entries.
    pub dns: Vec<String>,
    /// subjectAltName iPAddress entries.
    pub ips: Vec<Ipv4Addr>,
    /// subjectAltName rfc822Name entries.
    pub emails: Vec<String>,
    /// How the issuer signs.
    pub digest: SignatureDigest,
}

impl Spec {
    fn base(
        subject: &str,
        serial: Vec<u8>,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Self, IssueError> {
        Ok(Self {
            subject: name(subject)?,
            serial,
            not_before,
            not_after,
            ca: false,
            key_usage: None,
            ekus: Vec::new(),
            dns: Vec::new(),
            ips: Vec::new(),
            emails: Vec::new(),
            digest: SignatureDigest::Sha256,
        })
    }

    /// A CA: basicConstraints cA, keyUsage keyCertSign and cRLSign.
    pub fn ca(
        subject: &str,
        serial: Vec<u8>,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Self, IssueError> {
        let mut s = Self::base(subject, serial, not_before, not_after)?;
        s.ca = true;
        s.key_usage = Some(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        Ok(s)
    }

    /// A VPN server: digitalSignature and keyEncipherment, serverAuth and IKE intermediate, the
    /// names and addresses clients type in the subjectAltName.
    pub fn server(
        subject: &str,
        serial: Vec<u8>,
        not_before: SystemTime,
        not_after: SystemTime,
        dns: Vec<String>,
        ips: Vec<Ipv4Addr>,
    ) -> Result<Self, IssueError> {
        let mut s = Self::base(subject, serial, not_before, not_after)?;
        s.key_usage = Some(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment);
        s.ekus = vec![rfc5280::ID_KP_SERVER_AUTH, IKE_INTERMEDIATE];
        s.dns = dns;
        s.ips = ips;
        Ok(s)
    }

    /// A client machine or user: digitalSignature and keyEncipherment, clientAuth and IKE
    /// intermediate, optional e-mail and host names in the subjectAltName.
    pub fn client(
        subject: &str,
        serial: Vec<u8>,
        not_before: SystemTime,
        not_after: SystemTime,
        emails: Vec<String>,
        dns: Vec<String>,
    ) -> Result<Self, IssueError> {
        let mut s = Self::base(subject, serial, not_before, not_after)?;
        s.key_usage = Some(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment);
        s.ekus = vec![rfc5280::ID_KP_CLIENT_AUTH, IKE_INTERMEDIATE];
        s.emails = emails;
        s.dns = dns;
        Ok(s)
    }
}

/// Parses `CN=x,O=y` into a name.
pub fn name(s: &str) -> Result<Name, IssueError> {
    s.parse().map_err(|e: der::Error| IssueError::Name {
        name: s.to_owned(),
        reason: e.to_string(),
    })
}

fn time(t: SystemTime) -> Result<Time, IssueError> {
    let g = GeneralizedTime::from_system_time(t).map_err(|_| IssueError::Time)?;
    Ok(Time::GeneralTime(g))
}

fn serial(bytes: &[u8]) -> Result<SerialNumber, IssueError> {
    let mut b: Vec<u8> = bytes.iter().copied().take(20).collect();
    match b.first_mut() {
        // Positive (RFC 5280 §4.1.2.2) and with no leading zero byte.
        Some(first) => *first = (*first & 0x7f) | 0x40,
        None => b.push(0x40),
    }
    SerialNumber::new(&b).map_err(|e| IssueError::Build(e.to_string()))
}

fn build_err(e: impl std::fmt::Display) -> IssueError {
    IssueError::Build(e.to_string())
}

/// subjectKeyIdentifier method 1 of RFC 5280 §4.2.1.2: SHA-1 of the subjectPublicKey bits.
fn key_id(spki: &SubjectPublicKeyInfoOwned) -> Result<OctetString, IssueError> {
    OctetString::new(Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()).map_err(build_err)
}

/// Issues a certificate for `subject_key` from `spec`, signed by `issuer_key`; `issuer` is the
/// issuer's certificate, or `None` for a self-signed certificate (then `issuer_key` must be the
/// subject's own key).
pub fn certificate(
    spec: &Spec,
    subject_key: &PublicKey,
    issuer: Option<&Certificate>,
    issuer_key: &PrivateKey,
) -> Result<Certificate, IssueError> {
    match spec.digest {
        SignatureDigest::Sha1 => build::<Sha1>(spec, subject_key, issuer, issuer_key),
        SignatureDigest::Sha256 => build::<Sha256>(spec, subject_key, issuer, issuer_key),
    }
}

fn build<D>(
    spec: &Spec,
    subject_key: &PublicKey,
    issuer: Option<&Certificate>,
    issuer_key: &PrivateKey,
) -> Result<Certificate, IssueError>
where
    D: Digest + const_oid::AssociatedOid,
    SigningKey<D>:
        DynSignatureAlgorithmIdentifier + Signer<rsa::pkcs1v15::Signature> + signature::Keypair,
    <SigningKey<D> as signature::Keypair>::VerifyingKey: EncodePublicKey,
{
    let signer = SigningKey::<D>::new(issuer_key.clone());
    let spki = SubjectPublicKeyInfoOwned::from_key(subject_key.clone()).map_err(build_err)?;
    let validity = Validity {
        not_before: time(spec.not_before)?,
        not_after: time(spec.not_after)?,
    };
    let profile = Profile::Manual {
        issuer: issuer.map(|c| c.tbs_certificate.subject.clone()),
    };
    let ski = key_id(&spki)?;
    let mut b = CertificateBuilder::new(
        profile,
        serial(&spec.serial)?,
        validity,
        spec.subject.clone(),
        spki,
        &signer,
    )
    .map_err(build_err)?;
    b.add_extension(&BasicConstraints {
        ca: spec.ca,
        path_len_constraint: None,
    })
    .map_err(build_err)?;
    if let Some(ku) = spec.key_usage {
        b.add_extension(&KeyUsage(ku)).map_err(build_err)?;
    }
    if !spec.ekus.is_empty() {
        b.add_extension(&ExtendedKeyUsage(spec.ekus.clone()))
            .map_err(build_err)?;
    }
    let mut sans = Vec::new();
    for d in &spec.dns {
        sans.push(GeneralName::DnsName(
            Ia5String::new(d).map_err(|_| IssueError::NotAscii(d.clone()))?,
        ));
    }
    for a in &spec.ips {
        sans.push(GeneralName::IpAddress(
            OctetString::new(a.octets().to_vec()).map_err(build_err)?,
        ));
    }
    for e in &spec.emails {
        sans.push(GeneralName::Rfc822Name(
            Ia5String::new(e).map_err(|_| IssueError::NotAscii(e.clone()))?,
        ));
    }
    if !sans.is_empty() {
        b.add_extension(&SubjectAltName(sans)).map_err(build_err)?;
    }
    b.add_extension(&SubjectKeyIdentifier(ski.clone()))
        .map_err(build_err)?;
    let aki = match issuer {
        Some(c) => key_id(&c.tbs_certificate.subject_public_key_info)?,
        None => ski,
    };
    b.add_extension(&AuthorityKeyIdentifier {
        key_identifier: Some(aki),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    })
    .map_err(build_err)?;
    b.build::<rsa::pkcs1v15::Signature>().map_err(build_err)
}

/// A revoked certificate: its serial number and when it was revoked.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// The certificate's serial number, as encoded in it.
    pub serial: SerialNumber,
    /// revocationDate.
    pub date: SystemTime,
}

/// Issues a version 2 CRL (RFC 5280 §5.1) of `issuer`, signed with sha256WithRSAEncryption.
pub fn crl(
    issuer: &Certificate,
    issuer_key: &PrivateKey,
    this_update: SystemTime,
    next_update: SystemTime,
    revoked: &[Revoked],
) -> Result<Crl, IssueError> {
    let signer = SigningKey::<Sha256>::new(issuer_key.clone());
    let alg = signer.signature_algorithm_identifier().map_err(build_err)?;
    let mut entries = Vec::with_capacity(revoked.len());
    for r in revoked {
        entries.push(RevokedCert {
            serial_number: r.serial.clone(),
            revocation_date: utc(r.date)?,
            crl_entry_extensions: None,
        });
    }
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: alg.clone(),
        issuer: issuer.tbs_certificate.subject.clone(),
        this_update: utc(this_update)?,
        next_update: Some(utc(next_update)?),
        revoked_certificates: if entries.is_empty() {
            None
        } else {
            Some(entries)
        },
        crl_extensions: None,
    };
    let der = tbs.to_der().map_err(build_err)?;
    let sig = signer.try_sign(&der).map_err(build_err)?;
    let signature = BitString::from_bytes(&sig.to_bytes()).map_err(build_err)?;
    Ok(Crl {
        tbs_cert_list: tbs,
        signature_algorithm: alg,
        signature,
    })
}

/// UTCTime through 2049, GeneralizedTime after (RFC 5280 §5.1.2.4).
fn utc(t: SystemTime) -> Result<Time, IssueError> {
    match der::asn1::UtcTime::from_system_time(t) {
        Ok(u) => Ok(Time::UtcTime(u)),
        Err(_) => time(t),
    }
}
