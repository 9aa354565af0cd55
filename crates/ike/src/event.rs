//! What the engine tells its owner: established and deleted SAs, and refusals in plain words.

use core::fmt;
use core::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use crypto::Secret;
use crypto::cipher::CipherAlg;
use crypto::integ::IntegAlg;

pub use wire::FourTuple;

use wire::isakmp::NotifyType;

use crate::suite::{EspSuite, Phase1Suite};
use crate::vendor::{NatDialect, VendorInfo};

/// The largest Main Mode SA payload kept for a half-open SA. It is hashed into HASH_I and
/// HASH_R (RFC 2409 §5), so it stays until message 5; a flood must not make that memory
/// attacker-sized. Windows XP's offer is about 300 bytes; this leaves room for about 100
/// transforms.
pub(crate) const MAX_SA_PAYLOAD: usize = 4096;

/// How ESP travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encapsulation {
    /// Plain ESP (IP protocol 50), transport mode.
    Transport,
    /// UDP-encapsulated ESP on port 4500 (RFC 3948), transport mode, negotiated in this dialect.
    UdpTransport(NatDialect),
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Source address.
    pub local: SocketAddr,
    /// Destination address.
    pub remote: SocketAddr,
    /// The whole UDP payload (with the 4-octet non-ESP marker when a port is 4500, RFC 3948 §2.2).
    pub payload: Vec<u8>,
}

/// A Quick Mode result: one ESP SA pair, with the keys for both directions (RFC 2409 §5.5).
#[derive(Debug, Clone)]
pub struct ChildSa {
    /// The peer 4-tuple the SA is bound to.
    pub peer: FourTuple,
    /// Our SPI: we receive with it.
    pub spi_in: u32,
    /// Their SPI: we send with it.
    pub spi_out: u32,
    /// Cipher.
    pub cipher: CipherAlg,
    /// Integrity.
    pub integ: IntegAlg,
    /// Inbound encryption key.
    pub enc_key_in: Secret,
    /// Inbound authentication key.
    pub auth_key_in: Secret,
    /// Outbound encryption key.
    pub enc_key_out: Secret,
    /// Outbound authentication key.
    pub auth_key_out: Secret,
    /// Encapsulation.
    pub encapsulation: Encapsulation,
    /// NAT-OAi: the initiator's original (private) address, if sent.
    pub nat_oa_i: Option<Ipv4Addr>,
    /// NAT-OAr: the responder address the initiator saw, if sent.
    pub nat_oa_r: Option<Ipv4Addr>,
    /// Lifetime in seconds.
    pub lifetime_secs: u64,
    /// Lifetime in kilobytes, if limited.
    pub lifetime_kb: Option<u64>,
    /// The client's address from IDci (ID_IPV4_ADDR), if sent.
    pub client_id: Option<Ipv4Addr>,
    /// The client's port from IDci (0 = any).
    pub client_port: u16,
    /// The suite ([`EspSuite::is_legacy`]: from the legacy profile; logging it is the owner's
    /// choice, as for [`Phase1Info::suite`]).
    pub suite: EspSuite,
}

/// Phase 1 facts for status and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase1Info {
    /// The negotiated suite ("AES256-SHA1-MODP2048"). [`Phase1Suite::is_legacy`] tells whether
    /// it is from the legacy profile; the engine does not log that itself, so the owner can
    /// warn about it once per client with its own rate limit.
    pub suite: Phase1Suite,
    /// What the peer's Vendor IDs said.
    pub vendor: VendorInfo,
    /// The NAT-T dialect in use, if NAT traversal was negotiated.
    pub nat_t: Option<NatDialect>,
    /// Whether a NAT was detected (or forced by the NAT-D trick).
    pub nat_detected: bool,
    /// Lifetime granted in seconds.
    pub lifetime_secs: u64,
    /// How the peer proved who it is.
    pub auth: PeerAuth,
}

/// How a peer authenticated in Main Mode (RFC 2409 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerAuth {
    /// With the pre-shared key (authentication method 1, RFC 2409 §5.4).
    Psk,
    /// With an RSA signature and an X.509 certificate (method 3, RFC 2409 §5.1) that passed
    /// the configured CAs, CRLs and accepted identities.
    Certificate {
        /// The certificate's subject in words (`CN=alice,O=Example`).
        subject: String,
        /// The configured CA its chain ends at, in words.
        ca: String,
    },
}

impl fmt::Display for PeerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Psk => f.write_str("pre-shared key"),
            Self::Certificate { subject, .. } => write!(f, "certificate {subject}"),
        }
    }
}

/// Which phase 1 check found a wrong pre-shared key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PskSymptom {
    /// Main Mode message 5 decrypted to garbage.
    Mm5Garbage,
    /// HASH_I did not verify.
    HashMismatch,
    /// (initiator side) HASH_R did not verify or MM6 was garbage.
    ResponderHash,
}

/// Why a negotiation was refused. `Display` says it in plain words, with the Windows error the
/// user will see (docs/clients.md#windows-errors: 788 ATTRIB_FAIL, 789 GENERAL_PROCESSING).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefuseReason {
    /// No acceptable Main Mode transform.
    NoIkeProposal {
        /// Every transform offered.
        offered: String,
        /// The configuration switch that would help, if any.
        hint: Option<&'static str>,
    },
    /// The PSK differs (no oracle: decryption garbage and a bad HASH_I mean the same).
    PskMismatch(PskSymptom),
    /// Aggressive Mode (or another exchange) was requested.
    UnsupportedExchange(u8),
    /// No acceptable Quick Mode transform.
    NoEspProposal {
        /// Every transform offered.
        offered: String,
    },
    /// Quick Mode asked for tunnel mode.
    TunnelMode,
    /// Quick Mode asked for plain ESP (transport mode without UDP encapsulation) but the
    /// server cannot receive IP protocol 50 ([`crate::ResponderConfig::raw_esp`] is off).
    PlainEspUnavailable,
    /// Quick Mode asked for plain ESP although NAT was detected: only UDP-encapsulated ESP
    /// (RFC 3948) crosses a NAT.
    PlainEspBehindNat,
    /// Quick Mode asked for plain ESP while another client at the same public address holds
    /// plain-ESP SAs: plain ESP is told apart by address alone.
    PlainEspAddressInUse,
    /// The Main Mode SA payload is larger than any client sends; it would be kept until
    /// message 5 (it is hashed, RFC 2409 §5), so it is refused.
    OfferTooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// The Quick Mode IDs name something other than L2TP (UDP 1701 or any).
    NotL2tp {
        /// Protocol in the ID.
        protocol: u8,
        /// Port in the ID.
        port: u16,
    },
    /// Too many half-open IKE SAs, all past Main Mode message 3 (newer ones would have been
    /// evicted instead).
    HalfOpenLimit,
    /// The peer's Diffie-Hellman public value was invalid.
    BadKeyExchange,
    /// The source address asked for more Diffie-Hellman computations than
    /// [`crate::ResponderConfig::dh_rate_limit`] allows; the message was dropped and its
    /// retransmission will be served later.
    KeyExchangeRateLimited,
    /// A Quick Mode message failed its HASH.
    QuickModeHash,
    /// The peer's nonce is not 8 to 256 octets long (RFC 2409 §5).
    NonceLength {
        /// Its length.
        len: usize,
        /// In Quick Mode message 1 (else Main Mode message 3).
        quick_mode: bool,
    },
    /// The IKE SA already has [`crate::ResponderConfig::max_quick_modes_per_ike_sa`] Quick
    /// Modes in progress.
    TooManyQuickModes,
    /// The IKE SA (or its 4-tuple) already holds the most ESP SA pairs allowed
    /// ([`crate::ResponderConfig::max_child_sas_per_ike_sa`]).
    TooManyChildSas,
    /// The 4-tuple already holds [`crate::ResponderConfig::max_ike_sas_per_peer`] established
    /// IKE SAs.
    TooManyIkeSas,
    /// The peer did not answer.
    Timeout,
    /// The client proposed only certificate (RSA signature) authentication, and no server
    /// certificate is configured ([`crate::ResponderConfig::certificates`] is `None`).
    NoCertificateConfigured {
        /// Every transform offered.
        offered: String,
    },
    /// The client proposed only pre-shared-key authentication, and the server requires
    /// certificates ([`crate::CertificateAuth::allow_psk`] is off).
    PskNotAllowed {
        /// Every transform offered.
        offered: String,
    },
    /// Main Mode message 5 with signatures lacks its ID or SIG payload, or does not decrypt
    /// to payloads.
    CertificateMessageIncomplete(&'static str),
    /// Main Mode message 5 carried no X.509 certificate (CERT encoding 4, RFC 2408 §3.9).
    ClientCertificateMissing {
        /// The encodings of the CERT payloads it did carry (all of them unusable).
        other_encodings: Vec<u8>,
    },
    /// A certificate the client sent does not decode as X.509.
    ClientCertificateMalformed {
        /// The decoder's words.
        reason: String,
    },
    /// The client's chain failed validation against the configured CAs and CRLs.
    ClientCertificateRefused(pki::ChainError),
    /// The owner never told the engine the wall-clock time
    /// ([`crate::Responder::set_wall_clock`]), so certificate validity cannot be checked.
    NoWallClock,
    /// The client's ID payload does not name its certificate (RFC 4945 §3.1), or cannot be
    /// read.
    ClientIdentityMismatch(pki::IdentityError),
    /// The client's certificate is valid but no accepted identity pattern matches it.
    ClientNotAccepted(pki::IdentityError),
    /// SIG_I does not verify with the client certificate's key (RFC 2409 §5.1).
    ClientSignature(pki::ikev1::SignatureError),
    /// (initiator side) The server's certificate, identity or SIG_R was refused.
    ServerCertificate(String),
    /// Our own signature could not be made (the configured key is unusable).
    OwnSignature(pki::ikev1::SignatureError),
}

impl RefuseReason {
    /// The Windows error the user sees: 789 for Main Mode failures, 788 for Quick Mode ones,
    /// 13801 for an oversized offer (`raserror.h`, and the list in docs/clients.md); `None`
    /// when the client is expected to retry and get through.
    #[must_use]
    pub fn windows_error(&self) -> Option<u32> {
        match self {
            Self::NoIkeProposal { .. }
            | Self::PskMismatch(_)
            | Self::UnsupportedExchange(_)
            | Self::HalfOpenLimit
            | Self::BadKeyExchange
            | Self::TooManyIkeSas
            | Self::Timeout => Some(789),
            Self::NonceLength { quick_mode, .. } => Some(if *quick_mode { 788 } else { 789 }),
            Self::NoEspProposal { .. }
            | Self::TunnelMode
            | Self::PlainEspUnavailable
            | Self::PlainEspBehindNat
            | Self::PlainEspAddressInUse
            | Self::NotL2tp { .. }
            | Self::QuickModeHash
            | Self::TooManyQuickModes
            | Self::TooManyChildSas => Some(788),
            Self::OfferTooLarge { .. } => Some(13801),
            Self::KeyExchangeRateLimited => None,
            Self::NoCertificateConfigured { .. }
            | Self::PskNotAllowed { .. }
            | Self::CertificateMessageIncomplete(_)
            | Self::ClientCertificateMissing { .. }
            | Self::ClientCertificateMalformed { .. }
            | Self::ClientCertificateRefused(_)
            | Self::NoWallClock
            | Self::ClientIdentityMismatch(_)
            | Self::ClientNotAccepted(_)
            | Self::ClientSignature(_)
            | Self::OwnSignature(_) => Some(789),
            Self::ServerCertificate(_) => Some(787),
        }
    }

    /// The Notify that RFC 2408 §3.14.1 names for a certificate refusal. Like a PSK mismatch,
    /// a refused Main Mode message 5 is not answered (the SA is dropped); this is for logs and
    /// metrics, and for an owner that wants to tell the client.
    #[must_use]
    pub fn notify(&self) -> Option<NotifyType> {
        Some(match self {
            Self::NoCertificateConfigured { .. } | Self::PskNotAllowed { .. } => {
                NotifyType::NoProposalChosen
            }
            Self::CertificateMessageIncomplete(_) => NotifyType::PayloadMalformed,
            Self::ClientCertificateMissing { other_encodings } if other_encodings.is_empty() => {
                NotifyType::CertificateUnavailable
            }
            Self::ClientCertificateMissing { .. } => NotifyType::CertTypeUnsupported,
            Self::ClientCertificateMalformed { .. } => NotifyType::InvalidCertEncoding,
            Self::ClientCertificateRefused(pki::ChainError::NotIssuedByConfiguredCa { .. }) => {
                NotifyType::InvalidCertAuthority
            }
            Self::ClientCertificateRefused(_) => NotifyType::InvalidCertificate,
            Self::ClientIdentityMismatch(_) => NotifyType::InvalidIdInformation,
            Self::ClientNotAccepted(_) | Self::NoWallClock | Self::OwnSignature(_) => {
                NotifyType::AuthenticationFailed
            }
            Self::ClientSignature(_) => NotifyType::InvalidSignature,
            Self::ServerCertificate(_) => NotifyType::AuthenticationFailed,
            _ => return None,
        })
    }

    /// A short, stable name for counting refusals by cause (a metrics label).
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::NoIkeProposal { .. } => "no_ike_proposal",
            Self::PskMismatch(_) => "psk_mismatch",
            Self::UnsupportedExchange(_) => "unsupported_exchange",
            Self::NoEspProposal { .. } => "no_esp_proposal",
            Self::TunnelMode => "tunnel_mode",
            Self::PlainEspUnavailable | Self::PlainEspBehindNat | Self::PlainEspAddressInUse => {
                "plain_esp"
            }
            Self::OfferTooLarge { .. } => "offer_too_large",
            Self::NotL2tp { .. } => "not_l2tp",
            Self::HalfOpenLimit => "half_open_limit",
            Self::BadKeyExchange => "bad_key_exchange",
            Self::KeyExchangeRateLimited => "key_exchange_rate_limited",
            Self::QuickModeHash => "quick_mode_hash",
            Self::NonceLength { .. } => "nonce_length",
            Self::TooManyQuickModes => "too_many_quick_modes",
            Self::TooManyChildSas => "too_many_child_sas",
            Self::TooManyIkeSas => "too_many_ike_sas",
            Self::Timeout => "timeout",
            Self::NoCertificateConfigured { .. } => "no_certificate_configured",
            Self::PskNotAllowed { .. } => "psk_not_allowed",
            Self::CertificateMessageIncomplete(_) => "certificate_message_incomplete",
            Self::ClientCertificateMissing { .. } => "client_certificate_missing",
            Self::ClientCertificateMalformed { .. } => "client_certificate_malformed",
            Self::ClientCertificateRefused(_) => "client_certificate_refused",
            Self::NoWallClock => "no_wall_clock",
            Self::ClientIdentityMismatch(_) => "client_identity_mismatch",
            Self::ClientNotAccepted(_) => "client_not_accepted",
            Self::ClientSignature(_) => "client_signature",
            Self::ServerCertificate(_) => "server_certificate",
            Self::OwnSignature(_) => "own_signature",
        }
    }
}

impl fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoIkeProposal { offered, hint } => {
                write!(
                    f,
                    "no acceptable IKE proposal (client offered only {offered}"
                )?;
                if let Some(h) = hint {
                    write!(f, "; {h}")?;
                }
                write!(f, ") -> Windows error 789")
            }
            Self::PskMismatch(s) => {
                let what = match s {
                    PskSymptom::Mm5Garbage => "Main Mode message 5 decrypted to garbage",
                    PskSymptom::HashMismatch => "HASH_I did not verify",
                    PskSymptom::ResponderHash => "HASH_R did not verify",
                };
                write!(f, "PSK mismatch ({what}) -> Windows error 789")
            }
            Self::UnsupportedExchange(x) => write!(
                f,
                "exchange type {x} is not supported (only Main Mode with a pre-shared key) -> Windows error 789"
            ),
            Self::NoEspProposal { offered } => {
                write!(
                    f,
                    "no acceptable Quick Mode (ESP) proposal (client offered only {offered}) -> Windows error 788"
                )
            }
            Self::TunnelMode => {
                write!(
                    f,
                    "Quick Mode asked for tunnel mode; only transport mode is supported for L2TP -> Windows error 788"
                )
            }
            Self::PlainEspUnavailable => write!(
                f,
                "the client asked for plain ESP (IP protocol 50, no UDP encapsulation), which this \
                 server does not receive (raw ESP is off) -> Windows error 788"
            ),
            Self::PlainEspBehindNat => write!(
                f,
                "the client asked for plain ESP although NAT was detected; only UDP-encapsulated \
                 ESP crosses a NAT -> Windows error 788"
            ),
            Self::PlainEspAddressInUse => write!(
                f,
                "another client at this public address already uses plain ESP, which is told \
                 apart by address alone; a second one needs UDP encapsulation -> Windows error 788"
            ),
            Self::OfferTooLarge { len } => write!(
                f,
                "Main Mode SA payload of {len} bytes (over {} bytes: too many proposals) -> Windows error 13801",
                MAX_SA_PAYLOAD
            ),
            Self::NotL2tp { protocol, port } => write!(
                f,
                "Quick Mode IDs name protocol {protocol} port {port}; only L2TP (UDP 1701 or any) is served -> Windows error 788"
            ),
            Self::HalfOpenLimit => write!(
                f,
                "too many half-open IKE negotiations; try again later -> Windows error 789"
            ),
            Self::BadKeyExchange => write!(
                f,
                "invalid Diffie-Hellman public value -> Windows error 789"
            ),
            Self::KeyExchangeRateLimited => write!(
                f,
                "too many key exchanges from this address; the message was dropped and the \
                 client's retransmission will be answered (if it persists -> Windows error 789)"
            ),
            Self::QuickModeHash => write!(f, "Quick Mode HASH did not verify -> Windows error 788"),
            Self::NonceLength { len, quick_mode } => write!(
                f,
                "the client's {} nonce is {len} octets; RFC 2409 §5 requires 8 to 256 -> Windows \
                 error {}",
                if *quick_mode {
                    "Quick Mode"
                } else {
                    "Main Mode"
                },
                if *quick_mode { 788 } else { 789 }
            ),
            Self::TooManyQuickModes => write!(
                f,
                "too many Quick Modes in progress on this IKE SA; the new one was refused -> \
                 Windows error 788"
            ),
            Self::TooManyChildSas => write!(
                f,
                "this client already holds the most ESP SAs allowed; the new Quick Mode was \
                 refused -> Windows error 788"
            ),
            Self::TooManyIkeSas => write!(
                f,
                "this client address and port already hold the most IKE SAs allowed; the new \
                 Main Mode was refused -> Windows error 789"
            ),
            Self::Timeout => write!(
                f,
                "the peer stopped answering during negotiation -> Windows error 789"
            ),
            Self::NoCertificateConfigured { offered } => write!(
                f,
                "the client wants to authenticate with a certificate (it offered only \
                 {offered}), but this server has no certificate configured; configure one or \
                 set the client to use a pre-shared key -> Windows error 789"
            ),
            Self::PskNotAllowed { offered } => write!(
                f,
                "the client offered only pre-shared-key authentication ({offered}), but this \
                 server requires certificates (pre-shared keys are not allowed); set the client \
                 to use a certificate -> Windows error 789"
            ),
            Self::CertificateMessageIncomplete(what) => write!(
                f,
                "Main Mode message 5 with certificate authentication is unusable ({what}) -> \
                 Windows error 789"
            ),
            Self::ClientCertificateMissing { other_encodings } => {
                if other_encodings.is_empty() {
                    write!(
                        f,
                        "the client sent no certificate; it may have none issued by the CA the \
                         server names in its certificate request -> Windows error 789"
                    )
                } else {
                    write!(
                        f,
                        "the client sent certificates only in encodings {other_encodings:?}, \
                         not X.509 (encoding 4) -> Windows error 789"
                    )
                }
            }
            Self::ClientCertificateMalformed { reason } => write!(
                f,
                "a client certificate is not valid X.509: {reason} -> Windows error 789"
            ),
            Self::ClientCertificateRefused(e) => {
                write!(f, "client certificate refused: {e} -> Windows error 789")
            }
            Self::NoWallClock => write!(
                f,
                "certificate checked before the server set the wall-clock time (internal \
                 error) -> Windows error 789"
            ),
            Self::ClientIdentityMismatch(e) => write!(
                f,
                "the client's identity does not match its certificate: {e} -> Windows error 789"
            ),
            Self::ClientNotAccepted(e) => write!(
                f,
                "client refused by the accepted identities: {e} -> Windows error 789"
            ),
            Self::ClientSignature(e) => write!(
                f,
                "client authentication failed: {e} (wrong key for the certificate, or a \
                 tampered message) -> Windows error 789"
            ),
            Self::ServerCertificate(e) => write!(
                f,
                "the server's certificate authentication was refused: {e} -> Windows error 787"
            ),
            Self::OwnSignature(e) => write!(
                f,
                "the server could not sign with its configured key: {e} -> Windows error 789"
            ),
        }
    }
}

/// An event for the owner of the engine.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Main Mode finished.
    Phase1Established {
        /// The peer.
        peer: FourTuple,
        /// Suite, vendor and NAT facts.
        info: Phase1Info,
    },
    /// The phase 1 encryption key, for a Wireshark `ikev1_decryption_table` line. Only sent
    /// when [`crate::ResponderConfig::keylog`] is on.
    Phase1Keys {
        /// The peer.
        peer: FourTuple,
        /// The initiator's cookie.
        cky_i: [u8; 8],
        /// The expanded encryption key (RFC 2409 Appendix B).
        enc_key: Secret,
    },
    /// Quick Mode finished: install this SA pair.
    ChildSaEstablished(Box<ChildSa>),
    /// An ESP SA pair is gone (deleted by either side or expired).
    SaDeleted {
        /// The peer.
        peer: FourTuple,
        /// Our SPI.
        spi_in: u32,
        /// Their SPI.
        spi_out: u32,
    },
    /// Dead peer detection gave up on this 4-tuple (RFC 3706 §5.5): `unanswered` R-U-THEREs
    /// went unanswered over `silent_secs` without anything else from the peer. Every SA of the
    /// peer is removed; [`Event::SaDeleted`] and [`Event::PeerGone`] follow.
    DeadPeer {
        /// The peer.
        peer: FourTuple,
        /// R-U-THERE messages sent without an answer.
        unanswered: u32,
        /// Seconds since the last sign of life.
        silent_secs: u64,
    },
    /// Nothing is left for this 4-tuple.
    PeerGone {
        /// The peer.
        peer: FourTuple,
    },
    /// A negotiation was refused.
    Refused {
        /// The peer.
        peer: FourTuple,
        /// Why, in plain words.
        reason: RefuseReason,
    },
}

/// A status row for one IKE SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSnapshot {
    /// The peer.
    pub peer: FourTuple,
    /// Phase 1 facts, once established.
    pub phase1: Option<Phase1Info>,
    /// Seconds until the IKE SA expires.
    pub ike_expires_in_secs: u64,
    /// (spi_in, spi_out, seconds left) of each ESP SA pair.
    pub children: Vec<(u32, u32, u64)>,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that failed to parse.
    pub malformed: u64,
    /// Datagrams for an unknown IKE SA.
    pub unknown_sa: u64,
    /// Datagrams from a 4-tuple other than the SA's.
    pub wrong_peer: u64,
    /// Duplicates answered with a retransmission.
    pub retransmitted: u64,
    /// Datagrams dropped for any other reason (state, hash, decryption).
    pub dropped: u64,
    /// Half-open IKE SAs given up to make room for a newcomer (the table was at a bound).
    pub half_open_evicted: u64,
    /// Diffie-Hellman computations done (Main Mode message 3, Quick Mode with PFS).
    pub key_exchanges: u64,
    /// Messages that needed a Diffie-Hellman computation but were dropped because their source
    /// address was over [`crate::ResponderConfig::dh_rate_limit`].
    pub dh_rate_limited: u64,
}

pub(crate) fn secs_left(now: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(now).as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every refusal's number is the one its plain-words line names.
    #[test]
    fn windows_error_matches_the_text() {
        let all = [
            RefuseReason::NoIkeProposal {
                offered: "DES".into(),
                hint: Some("set ike.legacy_des"),
            },
            RefuseReason::PskMismatch(PskSymptom::HashMismatch),
            RefuseReason::UnsupportedExchange(4),
            RefuseReason::NoEspProposal {
                offered: "NULL".into(),
            },
            RefuseReason::TunnelMode,
            RefuseReason::PlainEspUnavailable,
            RefuseReason::PlainEspBehindNat,
            RefuseReason::PlainEspAddressInUse,
            RefuseReason::OfferTooLarge { len: 9000 },
            RefuseReason::NotL2tp {
                protocol: 6,
                port: 80,
            },
            RefuseReason::HalfOpenLimit,
            RefuseReason::BadKeyExchange,
            RefuseReason::KeyExchangeRateLimited,
            RefuseReason::QuickModeHash,
            RefuseReason::NonceLength {
                len: 4,
                quick_mode: true,
            },
            RefuseReason::NonceLength {
                len: 4,
                quick_mode: false,
            },
            RefuseReason::TooManyQuickModes,
            RefuseReason::TooManyChildSas,
            RefuseReason::TooManyIkeSas,
            RefuseReason::Timeout,
            RefuseReason::NoCertificateConfigured {
                offered: "3DES-SHA1-MODP2048 with certificates".into(),
            },
            RefuseReason::PskNotAllowed {
                offered: "3DES-SHA1-MODP2048".into(),
            },
            RefuseReason::CertificateMessageIncomplete("no SIG payload"),
            RefuseReason::ClientCertificateMissing {
                other_encodings: Vec::new(),
            },
            RefuseReason::ClientCertificateMalformed {
                reason: "bad DER".into(),
            },
            RefuseReason::ClientCertificateRefused(pki::ChainError::Expired {
                role: pki::verify::Role::Peer,
                subject: "CN=alice".into(),
                not_after: "2026-01-01 00:00:00 UTC".into(),
            }),
            RefuseReason::NoWallClock,
            RefuseReason::ClientIdentityMismatch(pki::IdentityError::UnsupportedType(11)),
            RefuseReason::ClientNotAccepted(pki::IdentityError::NotAccepted {
                subject: "CN=alice".into(),
            }),
            RefuseReason::ClientSignature(pki::ikev1::SignatureError::Bad),
            RefuseReason::ServerCertificate("expired".into()),
            RefuseReason::OwnSignature(pki::ikev1::SignatureError::KeyTooShort(20)),
        ];
        let mut labels = std::collections::HashSet::new();
        for r in &all {
            let text = r.to_string().replace('\n', " ");
            let named = text.rsplit_once("Windows error ").and_then(|(_, n)| {
                n.trim_end_matches(')')
                    .split_whitespace()
                    .next()?
                    .parse::<u32>()
                    .ok()
            });
            assert!(named.is_some(), "no Windows error in {text:?}");
            // A rate-limited key exchange is retried by the client and normally succeeds:
            // the error is only what happens if it persists.
            let expected = if matches!(r, RefuseReason::KeyExchangeRateLimited) {
                None
            } else {
                named
            };
            assert_eq!(r.windows_error(), expected, "{text}");
            assert!(
                r.label()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                r.label()
            );
            labels.insert(r.label());
        }
        // The three plain-ESP refusals share a label; the nonce one is listed twice.
        assert_eq!(labels.len(), all.len() - 3);
    }
}
