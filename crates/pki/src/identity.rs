//! The IKEv1 identity (RFC 2407 §4.6.2.1) checked against the peer's certificate, and the
//! patterns that say which certificate holders are accepted.
//!
//! With signature authentication the ID payload must name the certificate's holder (RFC 4945
//! §3.1): ID_DER_ASN1_DN must be the subject (names compared as RFC 5280 §7.1 says), ID_FQDN
//! and ID_USER_FQDN must appear in the subjectAltName as dNSName and rfc822Name, and
//! ID_IPV4_ADDR as iPAddress (RFC 4945 §3.1.1-3.1.5).

use std::{net::Ipv4Addr, str::FromStr};

use der::Decode;
use thiserror::Error;
use x509_cert::{
    ext::pkix::{SubjectAltName, name::GeneralName},
    name::Name,
};

use crate::{
    Certificate, text,
    verify::{Role, ext},
};

/// ID_IPV4_ADDR (RFC 2407 §4.6.2.1).
pub const ID_IPV4_ADDR: u8 = 1;
/// ID_FQDN (RFC 2407 §4.6.2.1).
pub const ID_FQDN: u8 = 2;
/// ID_USER_FQDN (RFC 2407 §4.6.2.1).
pub const ID_USER_FQDN: u8 = 3;
/// ID_DER_ASN1_DN (RFC 2407 §4.6.2.1).
pub const ID_DER_ASN1_DN: u8 = 9;

/// An IKEv1 identity, decoded from an ID payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Identity {
    /// ID_IPV4_ADDR.
    Ipv4Addr(Ipv4Addr),
    /// ID_FQDN, e.g. `vpn.example.com`.
    Fqdn(String),
    /// ID_USER_FQDN, e.g. `alice@example.com`.
    UserFqdn(String),
    /// ID_DER_ASN1_DN: a DER-encoded distinguished name.
    DerAsn1Dn(Name),
}

/// Why an identity does not fit, or cannot be read.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityError {
    /// The ID type is not one certificates can prove.
    #[error(
        "ID type {0} cannot be checked against a certificate (supported: IPv4 address, FQDN, user FQDN, DER DN)"
    )]
    UnsupportedType(u8),
    /// The ID data does not decode for its type.
    #[error("ID payload of type {id_type} is malformed: {reason}")]
    Malformed {
        /// The ID type.
        id_type: u8,
        /// What is wrong.
        reason: String,
    },
    /// The identity is not the certificate's subject or in its subjectAltName.
    #[error("the peer says it is {claimed}, but its certificate {subject} names {names}")]
    Mismatch {
        /// The identity in words.
        claimed: String,
        /// The certificate's subject.
        subject: String,
        /// What the certificate does name, for the log.
        names: String,
    },
    /// The certificate is valid but no configured pattern accepts it.
    #[error(
        "certificate {subject} is from a trusted CA but matches none of the accepted identities"
    )]
    NotAccepted {
        /// The certificate's subject.
        subject: String,
    },
}

impl Identity {
    /// Decodes the identification data of an ID payload of type `id_type`.
    pub fn from_payload(id_type: u8, data: &[u8]) -> Result<Self, IdentityError> {
        let bad = |reason: String| IdentityError::Malformed { id_type, reason };
        match id_type {
            ID_IPV4_ADDR => {
                let octets: [u8; 4] = data
                    .try_into()
                    .map_err(|_| bad(format!("{} bytes, not 4", data.len())))?;
                Ok(Self::Ipv4Addr(Ipv4Addr::from(octets)))
            }
            ID_FQDN | ID_USER_FQDN => {
                let s = std::str::from_utf8(data).map_err(|_| bad("not text".into()))?;
                if s.is_empty() || !s.is_ascii() {
                    return Err(bad("empty or not ASCII".into()));
                }
                Ok(if id_type == ID_FQDN {
                    Self::Fqdn(s.to_owned())
                } else {
                    Self::UserFqdn(s.to_owned())
                })
            }
            ID_DER_ASN1_DN => Name::from_der(data)
                .map(Self::DerAsn1Dn)
                .map_err(|e| bad(e.to_string())),
            other => Err(IdentityError::UnsupportedType(other)),
        }
    }

    /// Checks that `cert` names this identity.
    pub fn check(&self, cert: &Certificate) -> Result<(), IdentityError> {
        let sans = sans(cert);
        let found = match self {
            // Windows and libreswan send the certificate's subject bytes unchanged (RFC 4945
            // §3.1.5); strongSwan re-encodes a DN its admin wrote as text (PrintableString where
            // the certificate may have UTF8String), so names are compared as RFC 5280 §7.1 says.
            Self::DerAsn1Dn(n) => names_match(&cert.tbs_certificate.subject, n),
            Self::Fqdn(f) => sans.iter().any(
                |g| matches!(g, GeneralName::DnsName(d) if d.as_str().eq_ignore_ascii_case(f)),
            ),
            Self::UserFqdn(u) => sans.iter().any(
                |g| matches!(g, GeneralName::Rfc822Name(r) if r.as_str().eq_ignore_ascii_case(u)),
            ),
            Self::Ipv4Addr(a) => sans
                .iter()
                .any(|g| matches!(g, GeneralName::IpAddress(o) if o.as_bytes() == a.octets())),
        };
        if found {
            Ok(())
        } else {
            Err(IdentityError::Mismatch {
                claimed: self.to_string(),
                subject: text::subject(cert),
                names: describe_sans(&sans),
            })
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ipv4Addr(a) => write!(f, "address {a}"),
            Self::Fqdn(d) => write!(f, "host name {d}"),
            Self::UserFqdn(u) => write!(f, "e-mail {u}"),
            Self::DerAsn1Dn(n) => write!(f, "subject {}", text::name(n)),
        }
    }
}

/// Whether two distinguished names are the same name (RFC 5280 §7.1): the same RDNs in the
/// same order, each with the same attribute types, and values that are equal bytes or, when
/// both are directory strings (UTF8String, PrintableString, IA5String, TeletexString,
/// BMPString), equal after the string preparation RFC 4518 describes, reduced to what
/// certificates hold: leading and trailing spaces dropped, inner runs of spaces made one,
/// case folded.
pub fn names_match(a: &Name, b: &Name) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().zip(b.0.iter()).all(|(x, y)| {
            x.0.len() == y.0.len()
                && x.0.iter().all(|ax| {
                    y.0.iter()
                        .any(|ay| ax.oid == ay.oid && values_match(&ax.value, &ay.value))
                })
        })
}

fn values_match(a: &der::Any, b: &der::Any) -> bool {
    if a == b {
        return true;
    }
    match (directory_string(a), directory_string(b)) {
        (Some(x), Some(y)) => prepared(&x) == prepared(&y),
        _ => false,
    }
}

/// The text of a directory string attribute value; `None` for any other type.
fn directory_string(v: &der::Any) -> Option<String> {
    use der::{Tag, Tagged};
    let bytes = v.value();
    match v.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            std::str::from_utf8(bytes).ok().map(str::to_owned)
        }
        // T.61 in theory; in practice Latin-1 (RFC 5280 §4.1.2.4 deprecates it).
        Tag::TeletexString => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| match c {
                    [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                    _ => 0xFFFD,
                })
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// RFC 4518 §2 reduced: insignificant spaces removed, case folded.
fn prepared(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The subjectAltName entries of `cert` (none when absent or undecodable).
pub fn sans(cert: &Certificate) -> Vec<GeneralName> {
    ext::<SubjectAltName>(cert, Role::Peer)
        .ok()
        .flatten()
        .map(|s| s.0)
        .unwrap_or_default()
}

fn describe_sans(sans: &[GeneralName]) -> String {
    let words: Vec<String> = sans.iter().filter_map(general_name_text).collect();
    if words.is_empty() {
        "no subjectAltName".into()
    } else {
        words.join(", ")
    }
}

/// `DNS:x`, `email:x`, `IP:x` for the name kinds IKE uses.
pub fn general_name_text(g: &GeneralName) -> Option<String> {
    match g {
        GeneralName::DnsName(d) => Some(format!("DNS:{}", d.as_str())),
        GeneralName::Rfc822Name(r) => Some(format!("email:{}", r.as_str())),
        GeneralName::IpAddress(o) => Some(match <[u8; 4]>::try_from(o.as_bytes()) {
            Ok(a) => format!("IP:{}", Ipv4Addr::from(a)),
            Err(_) => format!("IP:{}", text::serial(o.as_bytes())),
        }),
        _ => None,
    }
}

/// Which certificate holders are accepted, beyond "issued by a configured CA".
///
/// Written as text in the configuration:
/// - `*`: any certificate from a configured CA;
/// - a pattern with `=`: the subject as printed in RFC 4514 order (`CN=alice,O=Example`), `*`
///   matching any run of characters, compared without regard to ASCII case (`CN=*,O=Example`);
/// - a pattern with `@`: a subjectAltName e-mail (`*@example.com`);
/// - an IPv4 address: a subjectAltName iPAddress;
/// - anything else: a subjectAltName dNSName (`*.clients.example.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityPattern {
    /// Any certificate from a configured CA.
    Any,
    /// A glob over the subject.
    Subject(String),
    /// A glob over subjectAltName rfc822Name.
    Email(String),
    /// A subjectAltName iPAddress.
    Address(Ipv4Addr),
    /// A glob over subjectAltName dNSName.
    Dns(String),
}

impl FromStr for IdentityPattern {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(IdentityError::Malformed {
                id_type: 0,
                reason: "empty identity pattern".into(),
            });
        }
        Ok(if s == "*" {
            Self::Any
        } else if s.contains('=') {
            Self::Subject(s.to_owned())
        } else if s.contains('@') {
            Self::Email(s.to_owned())
        } else if let Ok(a) = s.parse::<Ipv4Addr>() {
            Self::Address(a)
        } else {
            Self::Dns(s.to_owned())
        })
    }
}

impl IdentityPattern {
    /// Whether `cert` matches this pattern.
    pub fn matches(&self, cert: &Certificate) -> bool {
        match self {
            Self::Any => true,
            Self::Subject(p) => glob(p, &text::name(&cert.tbs_certificate.subject)),
            Self::Email(p) => sans(cert)
                .iter()
                .any(|g| matches!(g, GeneralName::Rfc822Name(r) if glob(p, r.as_str()))),
            Self::Dns(p) => sans(cert)
                .iter()
                .any(|g| matches!(g, GeneralName::DnsName(d) if glob(p, d.as_str()))),
            Self::Address(a) => sans(cert)
                .iter()
                .any(|g| matches!(g, GeneralName::IpAddress(o) if o.as_bytes() == a.octets())),
        }
    }

    /// `Ok` if any of `patterns` matches `cert`.
    pub fn accept(patterns: &[Self], cert: &Certificate) -> Result<(), IdentityError> {
        if patterns.iter().any(|p| p.matches(cert)) {
            Ok(())
        } else {
            Err(IdentityError::NotAccepted {
                subject: text::subject(cert),
            })
        }
    }
}

/// `*` matches any run of characters; everything else matches itself, ignoring ASCII case.
fn glob(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = s.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Classic two-pointer wildcard match with one backtrack point: linear in practice.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob("*", ""));
        assert!(glob("CN=*,O=Example", "CN=alice,O=Example"));
        assert!(glob("cn=*,o=example", "CN=alice,O=Example"));
        assert!(!glob("CN=*,O=Example", "CN=alice,O=Example Evil"));
        assert!(glob("*@example.com", "bob@example.com"));
        assert!(!glob("*@example.com", "bob@example.com.evil"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
    }

    #[test]
    fn payload_decoding() {
        assert_eq!(
            Identity::from_payload(ID_IPV4_ADDR, &[192, 0, 2, 1]),
            Ok(Identity::Ipv4Addr(Ipv4Addr::new(192, 0, 2, 1)))
        );
        assert!(matches!(
            Identity::from_payload(ID_IPV4_ADDR, &[1, 2, 3]),
            Err(IdentityError::Malformed { .. })
        ));
        assert_eq!(
            Identity::from_payload(ID_FQDN, b"vpn.example.com"),
            Ok(Identity::Fqdn("vpn.example.com".into()))
        );
        assert!(matches!(
            Identity::from_payload(ID_DER_ASN1_DN, b"\x30\x05"),
            Err(IdentityError::Malformed { .. })
        ));
        assert_eq!(
            Identity::from_payload(11, b"x"),
            Err(IdentityError::UnsupportedType(11))
        );
    }

    #[test]
    fn pattern_kinds() {
        assert_eq!("*".parse(), Ok(IdentityPattern::Any));
        assert_eq!("CN=*".parse(), Ok(IdentityPattern::Subject("CN=*".into())));
        assert_eq!(
            "*@x.org".parse(),
            Ok(IdentityPattern::Email("*@x.org".into()))
        );
        assert_eq!(
            "10.0.0.1".parse(),
            Ok(IdentityPattern::Address(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(
            "*.x.org".parse(),
            Ok(IdentityPattern::Dns("*.x.org".into()))
        );
        assert!("".parse::<IdentityPattern>().is_err());
    }
}
