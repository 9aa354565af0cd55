//! LCP configuration options (RFC 1661 §6; Callback from RFC 1570 §2.3; MRRU and Endpoint
//! Discriminator from RFC 1990 §5.1.1, §5.1.3; CHAP algorithms from RFC 1994 §3, RFC 2433 and
//! RFC 2759 §2).
//!
//! LCP packets themselves are `control::Repr` parsed with `Protocol::Lcp`.

use super::Protocol;
use super::control::{ConfigOption, RawOption, emit_option, exact};
use crate::{Error, Result};

enum_with_unknown! {
    /// LCP option types (IANA "PPP LCP Configuration Option Types").
    pub enum OptionType(u8) {
        /// Vendor-specific (RFC 2153).
        Vendor = 0x00,
        /// Maximum-Receive-Unit (RFC 1661 §6.1).
        Mru = 0x01,
        /// Async-Control-Character-Map (RFC 1662 §7.1).
        Accm = 0x02,
        /// Authentication-Protocol (RFC 1661 §6.2).
        AuthProtocol = 0x03,
        /// Quality-Protocol (RFC 1661 §6.3).
        QualityProtocol = 0x04,
        /// Magic-Number (RFC 1661 §6.4).
        MagicNumber = 0x05,
        /// Protocol-Field-Compression (RFC 1661 §6.5).
        Pfc = 0x07,
        /// Address-and-Control-Field-Compression (RFC 1661 §6.6).
        Acfc = 0x08,
        /// Callback (RFC 1570 §2.3; operation 6 = CBCP).
        Callback = 0x0d,
        /// Multilink MRRU (RFC 1990 §5.1.1).
        Mrru = 0x11,
        /// Multilink Short Sequence Number Header Format (RFC 1990 §5.1.2).
        ShortSequence = 0x12,
        /// Multilink Endpoint Discriminator (RFC 1990 §5.1.3).
        EndpointDiscriminator = 0x13,
        /// Link Discriminator for BACP (RFC 2125 §5.1).
        LinkDiscriminator = 0x17,
    }
}

enum_with_unknown! {
    /// CHAP algorithms carried in the Authentication-Protocol option.
    pub enum ChapAlgorithm(u8) {
        /// CHAP with MD5 (RFC 1994 §3).
        Md5 = 0x05,
        /// MS-CHAP version 1 (RFC 2433 §2).
        MsChapV1 = 0x80,
        /// MS-CHAP version 2 (RFC 2759 §2).
        MsChapV2 = 0x81,
    }
}

/// A decoded LCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcpOption<'a> {
    /// Maximum-Receive-Unit.
    Mru(u16),
    /// Async-Control-Character-Map.
    Accm(u32),
    /// Authentication-Protocol with its protocol-specific data (the CHAP algorithm octet).
    AuthProtocol {
        /// The authentication protocol.
        protocol: Protocol,
        /// Data following the protocol.
        data: &'a [u8],
    },
    /// Quality-Protocol.
    QualityProtocol {
        /// The quality protocol.
        protocol: Protocol,
        /// Data following the protocol.
        data: &'a [u8],
    },
    /// Magic-Number.
    MagicNumber(u32),
    /// Protocol-Field-Compression.
    Pfc,
    /// Address-and-Control-Field-Compression.
    Acfc,
    /// Callback: operation and message.
    Callback {
        /// The operation (6 = CBCP).
        operation: u8,
        /// The message.
        message: &'a [u8],
    },
    /// Multilink MRRU.
    Mrru(u16),
    /// Multilink Endpoint Discriminator.
    EndpointDiscriminator {
        /// The class.
        class: u8,
        /// The address.
        address: &'a [u8],
    },
    /// Any other option, kept as data.
    Other {
        /// The option type.
        kind: OptionType,
        /// The data.
        data: &'a [u8],
    },
}

impl LcpOption<'static> {
    /// The Authentication-Protocol option for CHAP with `algorithm`.
    pub const fn chap(algorithm: ChapAlgorithm) -> Self {
        let data: &'static [u8] = match algorithm {
            ChapAlgorithm::Md5 => &[0x05],
            ChapAlgorithm::MsChapV1 => &[0x80],
            ChapAlgorithm::MsChapV2 => &[0x81],
            ChapAlgorithm::Unknown(_) => &[],
        };
        Self::AuthProtocol {
            protocol: Protocol::Chap,
            data,
        }
    }

    /// The Authentication-Protocol option for PAP.
    pub const fn pap() -> Self {
        Self::AuthProtocol {
            protocol: Protocol::Pap,
            data: &[],
        }
    }
}

impl<'a> ConfigOption<'a> for LcpOption<'a> {
    fn parse(raw: RawOption<'a>) -> Result<Self> {
        let data = raw.data;
        Ok(match OptionType::from(raw.kind) {
            OptionType::Mru => Self::Mru(u16::from_be_bytes(exact(data, "lcp.mru")?)),
            OptionType::Accm => Self::Accm(u32::from_be_bytes(exact(data, "lcp.accm")?)),
            OptionType::AuthProtocol => {
                let (p, data) = data
                    .split_first_chunk::<2>()
                    .ok_or(Error::bad_length("lcp.auth_protocol"))?;
                Self::AuthProtocol {
                    protocol: Protocol::from(u16::from_be_bytes(*p)),
                    data,
                }
            }
            OptionType::QualityProtocol => {
                let (p, data) = data
                    .split_first_chunk::<2>()
                    .ok_or(Error::bad_length("lcp.quality_protocol"))?;
                Self::QualityProtocol {
                    protocol: Protocol::from(u16::from_be_bytes(*p)),
                    data,
                }
            }
            OptionType::MagicNumber => {
                Self::MagicNumber(u32::from_be_bytes(exact(data, "lcp.magic_number")?))
            }
            OptionType::Pfc => {
                exact::<0>(data, "lcp.pfc")?;
                Self::Pfc
            }
            OptionType::Acfc => {
                exact::<0>(data, "lcp.acfc")?;
                Self::Acfc
            }
            OptionType::Callback => {
                let (&operation, message) = data
                    .split_first()
                    .ok_or(Error::bad_length("lcp.callback"))?;
                Self::Callback { operation, message }
            }
            OptionType::Mrru => Self::Mrru(u16::from_be_bytes(exact(data, "lcp.mrru")?)),
            OptionType::EndpointDiscriminator => {
                let (&class, address) = data
                    .split_first()
                    .ok_or(Error::bad_length("lcp.endpoint_discriminator"))?;
                Self::EndpointDiscriminator { class, address }
            }
            kind => Self::Other { kind, data },
        })
    }

    fn kind(&self) -> u8 {
        let kind = match self {
            Self::Mru(_) => OptionType::Mru,
            Self::Accm(_) => OptionType::Accm,
            Self::AuthProtocol { .. } => OptionType::AuthProtocol,
            Self::QualityProtocol { .. } => OptionType::QualityProtocol,
            Self::MagicNumber(_) => OptionType::MagicNumber,
            Self::Pfc => OptionType::Pfc,
            Self::Acfc => OptionType::Acfc,
            Self::Callback { .. } => OptionType::Callback,
            Self::Mrru(_) => OptionType::Mrru,
            Self::EndpointDiscriminator { .. } => OptionType::EndpointDiscriminator,
            Self::Other { kind, .. } => *kind,
        };
        kind.into()
    }

    fn buffer_len(&self) -> usize {
        2 + match self {
            Self::Mru(_) | Self::Mrru(_) => 2,
            Self::Accm(_) | Self::MagicNumber(_) => 4,
            Self::AuthProtocol { data, .. } | Self::QualityProtocol { data, .. } => 2 + data.len(),
            Self::Pfc | Self::Acfc => 0,
            Self::Callback { message: rest, .. }
            | Self::EndpointDiscriminator { address: rest, .. } => 1 + rest.len(),
            Self::Other { data, .. } => data.len(),
        }
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let kind = self.kind();
        match self {
            Self::Mru(v) | Self::Mrru(v) => emit_option(buf, kind, &[&v.to_be_bytes()]),
            Self::Accm(v) | Self::MagicNumber(v) => emit_option(buf, kind, &[&v.to_be_bytes()]),
            Self::AuthProtocol { protocol, data } | Self::QualityProtocol { protocol, data } => {
                emit_option(buf, kind, &[&u16::from(*protocol).to_be_bytes(), data])
            }
            Self::Pfc | Self::Acfc => emit_option(buf, kind, &[]),
            Self::Callback {
                operation: first,
                message: rest,
            }
            | Self::EndpointDiscriminator {
                class: first,
                address: rest,
            } => emit_option(buf, kind, &[&[*first], rest]),
            Self::Other { data, .. } => emit_option(buf, kind, &[data]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::control::OptionIter;

    // The options of a Windows XP client's first LCP Configure-Request.
    const XP_OPTIONS: [u8; 17] = [
        0x01, 0x04, 0x05, 0x78, 0x05, 0x06, 0x74, 0xcd, 0x45, 0xcf, 0x07, 0x02, 0x08, 0x02, 0x0d,
        0x03, 0x06,
    ];

    #[test]
    fn parse() {
        let opts: Vec<LcpOption<'_>> = OptionIter::new(&XP_OPTIONS)
            .map(|r| LcpOption::parse(r.unwrap()).unwrap())
            .collect();
        assert_eq!(
            opts,
            [
                LcpOption::Mru(1400),
                LcpOption::MagicNumber(0x74cd_45cf),
                LcpOption::Pfc,
                LcpOption::Acfc,
                LcpOption::Callback {
                    operation: 6,
                    message: &[]
                },
            ]
        );
    }

    #[test]
    fn emit() {
        let mut out = Vec::new();
        for raw in OptionIter::new(&XP_OPTIONS) {
            let opt = LcpOption::parse(raw.unwrap()).unwrap();
            let mut buf = vec![0u8; opt.buffer_len()];
            opt.emit(&mut buf).unwrap();
            out.extend_from_slice(&buf);
        }
        assert_eq!(out, XP_OPTIONS);
    }

    #[test]
    fn auth_protocol() {
        // Server ConfReq "<auth chap MS-v2>" is c2 23 81 (RFC 2759 §2).
        let opt = LcpOption::chap(ChapAlgorithm::MsChapV2);
        let mut buf = [0u8; 5];
        opt.emit(&mut buf).unwrap();
        assert_eq!(buf, [0x03, 0x05, 0xc2, 0x23, 0x81]);
        let mut pap = [0u8; 4];
        LcpOption::pap().emit(&mut pap).unwrap();
        assert_eq!(pap, [0x03, 0x04, 0xc0, 0x23]);
    }

    #[test]
    fn bad_lengths_are_errors_unknown_types_are_data() {
        let mru3 = RawOption {
            kind: 1,
            data: &[0x05],
        };
        assert!(LcpOption::parse(mru3).is_err());
        let pfc_data = RawOption {
            kind: 7,
            data: &[0],
        };
        assert!(LcpOption::parse(pfc_data).is_err());
        let bacp = RawOption {
            kind: 0x17,
            data: &[0x0b, 0x0a],
        };
        assert_eq!(
            LcpOption::parse(bacp).unwrap(),
            LcpOption::Other {
                kind: OptionType::LinkDiscriminator,
                data: &[0x0b, 0x0a]
            }
        );
        let odd = RawOption {
            kind: 0x42,
            data: &[],
        };
        assert_eq!(
            LcpOption::parse(odd).unwrap(),
            LcpOption::Other {
                kind: OptionType::Unknown(0x42),
                data: &[]
            }
        );
    }
}
