//! The esp layer's error type, and the drop reasons that the counters are keyed by.

/// Why an inbound packet was dropped: the key of the per-SA and global drop counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Shorter than header, IV, one cipher block and ICV, or not a whole number of blocks.
    Truncated,
    /// No SA has this SPI.
    UnknownSpi,
    /// The SPI belongs to an SA bound to another peer 4-tuple.
    WrongPeer,
    /// The sequence number was seen before, is too old for the window, or is zero
    /// (RFC 4303 §3.4.3).
    Replay,
    /// The ICV did not verify (RFC 4303 §3.4.4).
    BadIcv,
    /// The decrypted padding is not 1, 2, 3, ... or Pad Length is too large (RFC 4303 §2.4).
    BadPadding,
    /// The SA has passed its hard lifetime (RFC 4301 §4.4.2.1).
    Expired,
    /// A transport-mode L2TP SA decrypted something other than UDP to port 1701.
    NotL2tp,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [Self; 8] = [
        Self::Truncated,
        Self::UnknownSpi,
        Self::WrongPeer,
        Self::Replay,
        Self::BadIcv,
        Self::BadPadding,
        Self::Expired,
        Self::NotL2tp,
    ];

    pub(crate) const fn index(self) -> usize {
        match self {
            Self::Truncated => 0,
            Self::UnknownSpi => 1,
            Self::WrongPeer => 2,
            Self::Replay => 3,
            Self::BadIcv => 4,
            Self::BadPadding => 5,
            Self::Expired => 6,
            Self::NotL2tp => 7,
        }
    }

    /// A short name for logs and the status output.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::UnknownSpi => "unknown_spi",
            Self::WrongPeer => "wrong_peer",
            Self::Replay => "replay",
            Self::BadIcv => "bad_icv",
            Self::BadPadding => "bad_padding",
            Self::Expired => "expired",
            Self::NotL2tp => "not_l2tp",
        }
    }
}

/// Errors of the esp layer, split by cause. Every peer-caused error maps to a [`DropReason`]
/// ([`Error::drop_reason`]): the reaction is always "drop, count, and maybe log".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The packet is malformed (too short, misaligned ciphertext, bad inner header).
    #[error("malformed ESP packet: {0}")]
    Malformed(#[from] wire::Error),
    /// The packet's SPI is not in the database.
    #[error("unknown SPI {spi:#010x}")]
    UnknownSpi {
        /// The SPI.
        spi: u32,
    },
    /// The SPI exists but is bound to another peer 4-tuple (a second client behind the same NAT
    /// or an attacker).
    #[error("SPI {spi:#010x} belongs to another peer")]
    WrongPeer {
        /// The SPI.
        spi: u32,
    },
    /// Anti-replay rejected the sequence number (RFC 4303 §3.4.3).
    #[error("replayed or too old sequence number {seq}")]
    Replay {
        /// The sequence number.
        seq: u32,
    },
    /// The ICV did not verify.
    #[error("ICV mismatch")]
    BadIcv,
    /// The decrypted trailer is inconsistent (wrong key or tampering behind a valid ICV).
    #[error("bad ESP padding")]
    BadPadding,
    /// The SA's hard lifetime (bytes or packets) is used up; it must be replaced.
    #[error("SA lifetime expired")]
    Expired,
    /// The outbound sequence number would reach 2^32 - 1: the SA must be rekeyed
    /// (RFC 4303 §3.3.3, no wrap without ESN).
    #[error("sequence number space exhausted, rekey needed")]
    SeqExhausted,
    /// Transport-mode L2TP rules: the payload is not UDP.
    #[error("transport payload is protocol {protocol:?}, not UDP")]
    NotUdp {
        /// The Next Header value.
        protocol: wire::ip::Protocol,
    },
    /// Transport-mode L2TP rules: UDP to a port other than 1701.
    #[error("transport UDP to port {port}, not L2TP")]
    NotL2tpPort {
        /// The destination port.
        port: u16,
    },
    /// Transport-mode rules on a non-NAT SA: the inner UDP checksum is wrong.
    #[error("inner UDP checksum mismatch")]
    InnerChecksum,
    /// The caller used the API wrongly (sealing with an inbound SA, a buffer too small, a
    /// duplicate SPI, an IPv6 binding for IPv4 transport).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),
    /// The SA parameters were rejected by the crypto layer (for example a wrong key length).
    #[error("invalid SA parameters: {0}")]
    Crypto(#[from] crypto::Error),
}

impl Error {
    /// The drop counter this error feeds, or `None` for local errors (misuse, exhaustion).
    pub const fn drop_reason(&self) -> Option<DropReason> {
        match self {
            Self::Malformed(_) => Some(DropReason::Truncated),
            Self::UnknownSpi { .. } => Some(DropReason::UnknownSpi),
            Self::WrongPeer { .. } => Some(DropReason::WrongPeer),
            Self::Replay { .. } => Some(DropReason::Replay),
            Self::BadIcv => Some(DropReason::BadIcv),
            Self::BadPadding => Some(DropReason::BadPadding),
            Self::Expired => Some(DropReason::Expired),
            Self::NotUdp { .. } | Self::NotL2tpPort { .. } | Self::InnerChecksum => {
                Some(DropReason::NotL2tp)
            }
            Self::SeqExhausted | Self::ApiMisuse(_) | Self::Crypto(_) => None,
        }
    }
}
