//! Responder configuration.

use core::fmt;
use core::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use crypto::Secret;

use crate::suite::Policy;

/// Bounds for lifetimes the initiator proposes (RFC 2407 §4.5). The initiator's value is kept,
/// clamped into `[min_secs, max_secs]` (and at most `max_kb`); when we shorten it we say so with
/// RESPONDER-LIFETIME (RFC 2407 §4.6.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifetimeBounds {
    /// Lower bound in seconds.
    pub min_secs: u64,
    /// Upper bound in seconds.
    pub max_secs: u64,
    /// Upper bound in kilobytes (`None`: unlimited, the initiator's value is kept).
    pub max_kb: Option<u64>,
}

/// A token bucket per source address (see [`ResponderConfig::dh_rate_limit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Tokens a bucket holds: what an address may do at once.
    pub burst: u32,
    /// Tokens a bucket gains per second.
    pub per_second: u32,
    /// Addresses tracked at most; the least recently seen one is forgotten beyond this.
    pub max_addresses: usize,
}

/// Main Mode with RSA signatures (RFC 2409 §5.1, authentication method 3) beside the
/// pre-shared key.
///
/// With this set, proposals with authentication method 3 are accepted; the client chooses PSK
/// or signatures by what it proposes. The owner builds it from files (the engine never reads
/// any) and replaces it when the CRLs are reloaded ([`crate::Responder::set_certificates`]).
#[derive(Clone)]
pub struct CertificateAuth {
    /// Our certificate (first) and the intermediates sent after it, each in DER. Sent as CERT
    /// payloads with encoding 4, X.509 Certificate - Signature (RFC 2408 §3.9).
    pub chain: Vec<Vec<u8>>,
    /// The private key of `chain[0]`.
    pub key: Arc<pki::PrivateKey>,
    /// The CA certificates and CRLs a client's chain must lead to and pass.
    pub verifier: Arc<pki::Verifier>,
    /// Client identities accepted, tried in order. Empty: any certificate the configured CAs
    /// issued (as [`pki::IdentityPattern::Any`]).
    pub accept: Vec<pki::IdentityPattern>,
    /// Whether proposals with pre-shared-key authentication stay acceptable beside
    /// certificates.
    pub allow_psk: bool,
}

impl fmt::Debug for CertificateAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuth")
            .field("chain_len", &self.chain.len())
            .field("key", &"<redacted>")
            .field("accept", &self.accept)
            .field("allow_psk", &self.allow_psk)
            .finish_non_exhaustive()
    }
}

/// Everything the responder needs to know.
#[derive(Debug, Clone)]
pub struct ResponderConfig {
    /// The pre-shared key (redacted in `Debug`).
    pub psk: Secret,
    /// Algorithm policy.
    pub policy: Policy,
    /// The NAT-D trick (docs/clients.md#nat-d-trick): make every client float to UDP 4500 and
    /// never believe the server is behind NAT. Default on.
    pub nat_d_trick: bool,
    /// The local UDP port of NAT-T (RFC 3947 §4: 4500). A peer may float only to this port;
    /// configurable so that tests and unusual deployments can listen elsewhere.
    pub nat_t_port: u16,
    /// Whether plain ESP (IP protocol 50, transport mode without UDP encapsulation) can be
    /// received: the owner has a raw ESP socket. Off (the default), a Quick Mode asking for
    /// it is refused ([`crate::RefuseReason::PlainEspUnavailable`]); on, it is still refused
    /// when NAT was detected, and for a second 4-tuple of an address whose other peer holds
    /// plain-ESP SAs (plain ESP is told apart by address alone).
    pub raw_esp: bool,
    /// Our phase 1 identity (ID_IPV4_ADDR); `None` uses the local address of the exchange.
    pub identity: Option<Ipv4Addr>,
    /// Phase 1 lifetime bounds (default 60..28800 s).
    pub phase1_lifetime: LifetimeBounds,
    /// Phase 2 lifetime bounds (default 300..28800 s, kilobytes unlimited).
    pub phase2_lifetime: LifetimeBounds,
    /// Maximum number of half-open IKE SAs (Main Mode not finished), over all sources.
    /// At this bound a newcomer evicts an entry still waiting for Main Mode message 3 (the
    /// oldest of the source address holding the most half-open entries) instead of being
    /// refused; it is refused only when every entry is past MM3. Default 1000.
    pub max_half_open: usize,
    /// Maximum number of half-open IKE SAs from one source address (clients behind one NAT
    /// share it). At this bound a newcomer evicts that address's oldest entry still waiting
    /// for MM3. Default 16.
    pub max_half_open_per_ip: usize,
    /// Quick Modes an IKE SA may have in progress at once (answered, waiting for message 3).
    /// Over it a new Quick Mode is refused ([`crate::RefuseReason::TooManyQuickModes`]).
    /// Default 4.
    pub max_quick_modes_per_ike_sa: usize,
    /// ESP SA pairs an IKE SA may hold, counting those in progress (a Windows rekey holds two
    /// or three). Over it a new Quick Mode is refused ([`crate::RefuseReason::TooManyChildSas`]);
    /// one 4-tuple may hold at most this times [`ResponderConfig::max_ike_sas_per_peer`],
    /// including pairs whose IKE SA is gone. Default 8.
    pub max_child_sas_per_ike_sa: usize,
    /// Established IKE SAs one 4-tuple may hold (a Main Mode rekey holds two). Over it Main
    /// Mode is refused after authentication ([`crate::RefuseReason::TooManyIkeSas`]).
    /// Default 4.
    pub max_ike_sas_per_peer: usize,
    /// Diffie-Hellman work per source address: each Main Mode message 3 (and each Quick Mode
    /// with PFS) takes a token. Over the limit the message is dropped and counted
    /// ([`crate::Stats::dh_rate_limited`], [`crate::RefuseReason::KeyExchangeRateLimited`]);
    /// the SA stays and the client's retransmission is served once tokens are back. Only a
    /// peer that echoed our responder cookie gets this far. Default: burst 20, 10 per second,
    /// 4096 addresses.
    pub dh_rate_limit: RateLimit,
    /// A half-open IKE SA or Quick Mode is dropped after this long.
    pub half_open_timeout: Duration,
    /// Interval between retransmissions of our last message (SoftEther VPN resends every 2 s:
    /// `IKE_SA_RESEND_INTERVAL` in its `src/Cedar/Proto_IKE.h`).
    /// Only MM4, MM6 and QM2 are resent on this timer: their peer has shown it receives our
    /// messages. MM2 is sent once per MM1 received and never on a timer.
    pub retransmit_interval: Duration,
    /// Retransmissions before giving up.
    pub retransmit_tries: u32,
    /// Dead peer detection (RFC 3706 §5.3): for peers that sent the DPD vendor ID, send
    /// R-U-THERE after this long without any authenticated IKE message or ESP packet from the
    /// peer (see [`crate::Responder::note_activity`]), and again every interval while it stays
    /// silent. `None` disables DPD.
    pub dpd_interval: Option<Duration>,
    /// Unanswered R-U-THEREs after which the peer is declared dead and all its SAs are
    /// removed ([`crate::Event::DeadPeer`], then [`crate::Event::PeerGone`]).
    pub dpd_failures: u32,
    /// Emit [`crate::Event::Phase1Keys`] so that the owner can write a Wireshark key log
    /// (`l2tpd-rs run --keylog`). Off by default: keys leave the engine only when asked.
    pub keylog: bool,
    /// Authentication with certificates (RFC 2409 §5.1). `None` (the default): pre-shared
    /// key only.
    pub certificates: Option<CertificateAuth>,
}

impl ResponderConfig {
    /// Defaults around a pre-shared key.
    pub fn new(psk: Secret) -> Self {
        Self {
            psk,
            policy: Policy::default(),
            nat_d_trick: true,
            nat_t_port: 4500,
            raw_esp: false,
            identity: None,
            phase1_lifetime: LifetimeBounds {
                min_secs: 60,
                max_secs: 28800,
                max_kb: None,
            },
            phase2_lifetime: LifetimeBounds {
                min_secs: 300,
                max_secs: 28800,
                max_kb: None,
            },
            max_half_open: 1000,
            max_half_open_per_ip: 16,
            max_quick_modes_per_ike_sa: 4,
            max_child_sas_per_ike_sa: 8,
            max_ike_sas_per_peer: 4,
            dh_rate_limit: RateLimit {
                burst: 20,
                per_second: 10,
                max_addresses: 4096,
            },
            half_open_timeout: Duration::from_secs(30),
            retransmit_interval: Duration::from_secs(2),
            retransmit_tries: 5,
            dpd_interval: Some(Duration::from_secs(30)),
            dpd_failures: 5,
            keylog: false,
            certificates: None,
        }
    }
}
