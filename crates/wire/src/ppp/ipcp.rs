//! IPCP configuration options (RFC 1332 §3; DNS and NBNS addresses from RFC 1877 §1).
//!
//! IPCP packets are `control::Repr` parsed with `Protocol::Ipcp`. Windows asks for options 3,
//! 129, 130, 131 and 132.

use core::net::Ipv4Addr;

use super::Protocol;
use super::control::{ConfigOption, RawOption, emit_option, exact};
use crate::{Error, Result};

enum_with_unknown! {
    /// IPCP option types (IANA "PPP IPCP Configuration Option Types").
    pub enum OptionType(u8) {
        /// IP-Addresses, deprecated (RFC 1172).
        IpAddresses = 0x01,
        /// IP-Compression-Protocol (RFC 1332 §3.2).
        IpCompression = 0x02,
        /// IP-Address (RFC 1332 §3.3).
        IpAddress = 0x03,
        /// Mobile-IPv4 (RFC 2290).
        MobileIpv4 = 0x04,
        /// Primary-DNS-Address (RFC 1877 §1.1).
        PrimaryDns = 0x81,
        /// Primary-NBNS-Address (RFC 1877 §1.2).
        PrimaryNbns = 0x82,
        /// Secondary-DNS-Address (RFC 1877 §1.3).
        SecondaryDns = 0x83,
        /// Secondary-NBNS-Address (RFC 1877 §1.4).
        SecondaryNbns = 0x84,
    }
}

/// A decoded IPCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcpOption<'a> {
    /// IP-Compression-Protocol (VJ is 0x002d).
    IpCompression {
        /// The compression protocol.
        protocol: Protocol,
        /// Protocol-specific data.
        data: &'a [u8],
    },
    /// IP-Address.
    IpAddress(Ipv4Addr),
    /// Primary-DNS-Address.
    PrimaryDns(Ipv4Addr),
    /// Primary-NBNS-Address (WINS).
    PrimaryNbns(Ipv4Addr),
    /// Secondary-DNS-Address.
    SecondaryDns(Ipv4Addr),
    /// Secondary-NBNS-Address (WINS).
    SecondaryNbns(Ipv4Addr),
    /// Any other option, kept as data.
    Other {
        /// The option type.
        kind: OptionType,
        /// The data.
        data: &'a [u8],
    },
}

impl IpcpOption<'_> {
    /// The address carried by an address-valued option (3, 129-132).
    pub const fn address(&self) -> Option<Ipv4Addr> {
        match self {
            Self::IpAddress(a)
            | Self::PrimaryDns(a)
            | Self::PrimaryNbns(a)
            | Self::SecondaryDns(a)
            | Self::SecondaryNbns(a) => Some(*a),
            Self::IpCompression { .. } | Self::Other { .. } => None,
        }
    }
}

impl<'a> ConfigOption<'a> for IpcpOption<'a> {
    fn parse(raw: RawOption<'a>) -> Result<Self> {
        let data = raw.data;
        let addr = |at| exact::<4>(data, at).map(Ipv4Addr::from);
        Ok(match OptionType::from(raw.kind) {
            OptionType::IpCompression => {
                let (p, data) = data
                    .split_first_chunk::<2>()
                    .ok_or(Error::bad_length("ipcp.compression"))?;
                Self::IpCompression {
                    protocol: Protocol::from(u16::from_be_bytes(*p)),
                    data,
                }
            }
            OptionType::IpAddress => Self::IpAddress(addr("ipcp.ip_address")?),
            OptionType::PrimaryDns => Self::PrimaryDns(addr("ipcp.primary_dns")?),
            OptionType::PrimaryNbns => Self::PrimaryNbns(addr("ipcp.primary_nbns")?),
            OptionType::SecondaryDns => Self::SecondaryDns(addr("ipcp.secondary_dns")?),
            OptionType::SecondaryNbns => Self::SecondaryNbns(addr("ipcp.secondary_nbns")?),
            kind => Self::Other { kind, data },
        })
    }

    fn kind(&self) -> u8 {
        let kind = match self {
            Self::IpCompression { .. } => OptionType::IpCompression,
            Self::IpAddress(_) => OptionType::IpAddress,
            Self::PrimaryDns(_) => OptionType::PrimaryDns,
            Self::PrimaryNbns(_) => OptionType::PrimaryNbns,
            Self::SecondaryDns(_) => OptionType::SecondaryDns,
            Self::SecondaryNbns(_) => OptionType::SecondaryNbns,
            Self::Other { kind, .. } => *kind,
        };
        kind.into()
    }

    fn buffer_len(&self) -> usize {
        2 + match self {
            Self::IpCompression { data, .. } => 2 + data.len(),
            Self::Other { data, .. } => data.len(),
            _ => 4,
        }
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let kind = self.kind();
        match self {
            Self::IpCompression { protocol, data } => {
                emit_option(buf, kind, &[&u16::from(*protocol).to_be_bytes(), data])
            }
            Self::Other { data, .. } => emit_option(buf, kind, &[data]),
            Self::IpAddress(a)
            | Self::PrimaryDns(a)
            | Self::PrimaryNbns(a)
            | Self::SecondaryDns(a)
            | Self::SecondaryNbns(a) => emit_option(buf, kind, &[&a.octets()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::control::OptionIter;

    // Windows XP's first IPCP request, as pppd logs it: "<addr 0.0.0.0> <ms-dns1 0.0.0.0> <ms-wins 0.0.0.0> <ms-dns2 0.0.0.0>
    // <ms-wins 0.0.0.0>" encoded per RFC 1332 §3.3 / RFC 1877.
    const WINDOWS_IPCP: [u8; 30] = [
        0x03, 0x06, 0, 0, 0, 0, 0x81, 0x06, 0, 0, 0, 0, 0x82, 0x06, 0, 0, 0, 0, 0x83, 0x06, 0, 0,
        0, 0, 0x84, 0x06, 0, 0, 0, 0,
    ];

    #[test]
    fn parse_and_emit() {
        let mut out = Vec::new();
        let mut kinds = Vec::new();
        for raw in OptionIter::new(&WINDOWS_IPCP) {
            let opt = IpcpOption::parse(raw.unwrap()).unwrap();
            assert_eq!(opt.address(), Some(Ipv4Addr::UNSPECIFIED));
            kinds.push(opt.kind());
            let mut buf = vec![0u8; opt.buffer_len()];
            opt.emit(&mut buf).unwrap();
            out.extend_from_slice(&buf);
        }
        assert_eq!(kinds, [3, 129, 130, 131, 132]);
        assert_eq!(out, WINDOWS_IPCP);
    }

    #[test]
    fn vj_and_bad_length() {
        // decoded observation: "<compress VJ 0f 01>".
        let vj = IpcpOption::parse(RawOption {
            kind: 2,
            data: &[0x00, 0x2d, 0x0f, 0x01],
        })
        .unwrap();
        assert_eq!(
            vj,
            IpcpOption::IpCompression {
                protocol: Protocol::VjCompressedTcp,
                data: &[0x0f, 0x01]
            }
        );
        assert!(
            IpcpOption::parse(RawOption {
                kind: 3,
                data: &[10, 0, 0]
            })
            .is_err()
        );
    }
}
