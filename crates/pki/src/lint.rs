//! What Windows clients will refuse in the server's own certificate, found before a client fails.
//!
//! A Windows L2TP/IPsec client that cannot accept the server's certificate stops with error 787,
//! "The L2TP connection attempt failed because the security layer could not authenticate the
//! remote computer" (Microsoft KB 2855053,
//! <https://learn.microsoft.com/en-us/troubleshoot/windows-server/networking/l2tp-vpn-fails-with-error-787>).
//! Since Windows Vista the client checks that the certificate's extended key usage includes
//! Server Authentication (the check that the RRAS phone-book key `DisableIKENameEkuCheck` turns
//! off, MS-RRASM §2.2.2.2.35,
//! <https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-rrasm/488a8fef-9d5f-407a-8126-42b416f0636d>)
//! and that the name or address the user typed is in the subject or subjectAltName. Windows
//! refuses RSA keys under 1024 bits (see [`MIN_RSA_BITS`]).

use std::{
    net::Ipv4Addr,
    time::{Duration, SystemTime},
};

use const_oid::db::rfc5280;
use rsa::traits::PublicKeyParts;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, name::GeneralName};

use crate::{
    Certificate, MIN_RSA_BITS, load, text,
    verify::{ANY_EKU, IKE_INTERMEDIATE, Role, ext},
};

/// Warn when the certificate expires within this time.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// Worth doing; clients still connect.
    Advice,
    /// Clients will connect today but not for long, or some clients will fail.
    Warning,
    /// Windows clients will fail.
    Error,
}

/// One problem with the server certificate, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// What is wrong, what the user will see, and what to do.
    pub message: String,
}

const ERROR_787: &str = "Windows clients will fail with error 787 (\"the security layer could not authenticate the remote computer\")";

/// Checks `cert` as the server certificate that clients reach at `names` (host names) and
/// `addrs` (addresses) at time `now`. An empty list means nothing was found.
pub fn server_certificate(
    cert: &Certificate,
    names: &[String],
    addrs: &[Ipv4Addr],
    now: SystemTime,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let subject = text::subject(cert);
    let mut push = |severity, message: String| out.push(Finding { severity, message });

    match load::public_key(cert) {
        Ok(key) if key.n().bits() < MIN_RSA_BITS => push(
            Severity::Error,
            format!(
                "the server certificate {subject} has a {}-bit RSA key; Windows refuses keys under {MIN_RSA_BITS} bits: {ERROR_787}; make a 2048-bit key",
                key.n().bits()
            ),
        ),
        Ok(key) if key.n().bits() < 2048 => push(
            Severity::Advice,
            format!(
                "the server certificate {subject} has a {}-bit RSA key; 2048 bits is the usual minimum today",
                key.n().bits()
            ),
        ),
        Ok(_) => {}
        Err(e) => push(
            Severity::Error,
            format!("the server certificate {subject}: {e}"),
        ),
    }

    let tbs = &cert.tbs_certificate;
    let now_s = text::now_secs(now);
    if text::secs(&tbs.validity.not_after) < now_s {
        push(
            Severity::Error,
            format!(
                "the server certificate {subject} expired on {}: {ERROR_787}",
                text::time(&tbs.validity.not_after)
            ),
        );
    } else if text::secs(&tbs.validity.not_after) < now_s.saturating_add(EXPIRY_WARNING.as_secs()) {
        push(
            Severity::Warning,
            format!(
                "the server certificate {subject} expires on {}; after that {ERROR_787}",
                text::time(&tbs.validity.not_after)
            ),
        );
    }
    if text::secs(&tbs.validity.not_before) > now_s {
        push(
            Severity::Error,
            format!(
                "the server certificate {subject} is not valid before {}: {ERROR_787}",
                text::time(&tbs.validity.not_before)
            ),
        );
    }

    match ext::<ExtendedKeyUsage>(cert, Role::Peer) {
        Ok(Some(eku)) => {
            if !eku.0.contains(&rfc5280::ID_KP_SERVER_AUTH) && !eku.0.contains(&ANY_EKU) {
                push(
                    Severity::Error,
                    format!(
                        "the server certificate {subject} lacks the Server Authentication EKU (1.3.6.1.5.5.7.3.1): {ERROR_787}"
                    ),
                );
            }
            if !eku.0.contains(&IKE_INTERMEDIATE) {
                push(
                    Severity::Advice,
                    format!(
                        "the server certificate {subject} lacks the IP security IKE intermediate EKU (1.3.6.1.5.5.8.2.2), which Microsoft recommends for L2TP/IPsec servers"
                    ),
                );
            }
        }
        Ok(None) => push(
            Severity::Error,
            format!(
                "the server certificate {subject} has no extended key usage; Windows Vista and later want Server Authentication (1.3.6.1.5.5.7.3.1): {ERROR_787}"
            ),
        ),
        Err(e) => push(Severity::Error, e.to_string()),
    }
    if let Ok(Some(ku)) = ext::<KeyUsage>(cert, Role::Peer)
        && !ku.digital_signature()
    {
        push(
            Severity::Error,
            format!(
                "the server certificate {subject} has a keyUsage without digitalSignature, so it cannot sign IKE messages"
            ),
        );
    }

    let sans = crate::identity::sans(cert);
    let cn = tbs
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|a| a.oid == const_oid::db::rfc4519::CN)
        .filter_map(|a| {
            der::asn1::Utf8StringRef::try_from(&a.value)
                .map(|s| s.as_str().to_owned())
                .or_else(|_| {
                    der::asn1::PrintableStringRef::try_from(&a.value).map(|s| s.as_str().to_owned())
                })
                .ok()
        });
    let cns: Vec<String> = cn.collect();
    for n in names {
        let in_san = sans
            .iter()
            .any(|g| matches!(g, GeneralName::DnsName(d) if d.as_str().eq_ignore_ascii_case(n)));
        let in_cn = cns.iter().any(|c| c.eq_ignore_ascii_case(n));
        if !in_san && !in_cn {
            push(
                Severity::Error,
                format!(
                    "the server certificate {subject} does not name {n} (subjectAltName DNS or CN); clients that connect to {n}: {ERROR_787}"
                ),
            );
        } else if !in_san {
            push(
                Severity::Advice,
                format!(
                    "the server certificate {subject} names {n} only in its CN; put it in the subjectAltName too"
                ),
            );
        }
    }
    for a in addrs {
        let in_san = sans
            .iter()
            .any(|g| matches!(g, GeneralName::IpAddress(o) if o.as_bytes() == a.octets()));
        let in_cn = cns.iter().any(|c| c == &a.to_string());
        if !in_san && !in_cn {
            push(
                Severity::Error,
                format!(
                    "the server certificate {subject} does not name the address {a} (subjectAltName IP); clients that connect to {a}: {ERROR_787}"
                ),
            );
        }
    }
    out
}
