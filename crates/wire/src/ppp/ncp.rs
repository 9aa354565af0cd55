//! Options of the NCPs that l2tpd-rs only rejects: CCP (RFC 1962 §4; MPPC/MPPE option 18 from
//! RFC 2118 §2.1 and RFC 3078 §2.1) and IPV6CP (RFC 5072 §4).
//!
//! They are decoded so that logs can say what a client asked for (Windows XP asks CCP
//! `<mppe +H -M -S -L -D +C>`, Windows 7 IPV6CP `<addr fe80::…>`).

use super::control::{ConfigOption, RawOption, emit_option, exact};
use crate::Result;

enum_with_unknown! {
    /// A few CCP option types (IANA "PPP Compression Control Protocol Option Types").
    pub enum CcpOptionType(u8) {
        /// Organization Unique Identifier (RFC 1962 §4.1).
        Oui = 0x00,
        /// Microsoft PPC / MPPE (RFC 2118, RFC 3078).
        Mppe = 0x12,
        /// Deflate (RFC 1979).
        Deflate = 0x1a,
    }
}

/// A decoded CCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcpOption<'a> {
    /// MPPC/MPPE supported bits (RFC 3078 §2.1).
    Mppe(u32),
    /// Any other option, kept as data.
    Other {
        /// The option type.
        kind: CcpOptionType,
        /// The data.
        data: &'a [u8],
    },
}

impl<'a> ConfigOption<'a> for CcpOption<'a> {
    fn parse(raw: RawOption<'a>) -> Result<Self> {
        Ok(match CcpOptionType::from(raw.kind) {
            CcpOptionType::Mppe => Self::Mppe(u32::from_be_bytes(exact(raw.data, "ccp.mppe")?)),
            kind => Self::Other {
                kind,
                data: raw.data,
            },
        })
    }

    fn kind(&self) -> u8 {
        match self {
            Self::Mppe(_) => CcpOptionType::Mppe.into(),
            Self::Other { kind, .. } => (*kind).into(),
        }
    }

    fn buffer_len(&self) -> usize {
        2 + match self {
            Self::Mppe(_) => 4,
            Self::Other { data, .. } => data.len(),
        }
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        match self {
            Self::Mppe(bits) => emit_option(buf, self.kind(), &[&bits.to_be_bytes()]),
            Self::Other { data, .. } => emit_option(buf, self.kind(), &[data]),
        }
    }
}

enum_with_unknown! {
    /// IPV6CP option types (RFC 5072 §4).
    pub enum Ipv6cpOptionType(u8) {
        /// Interface-Identifier (RFC 5072 §4.1).
        InterfaceIdentifier = 0x01,
        /// IPv6-Compression-Protocol (RFC 5072 §4.2).
        Ipv6Compression = 0x02,
    }
}

/// A decoded IPV6CP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6cpOption<'a> {
    /// Interface-Identifier (64 bits).
    InterfaceIdentifier([u8; 8]),
    /// Any other option, kept as data.
    Other {
        /// The option type.
        kind: Ipv6cpOptionType,
        /// The data.
        data: &'a [u8],
    },
}

impl<'a> ConfigOption<'a> for Ipv6cpOption<'a> {
    fn parse(raw: RawOption<'a>) -> Result<Self> {
        Ok(match Ipv6cpOptionType::from(raw.kind) {
            Ipv6cpOptionType::InterfaceIdentifier => {
                Self::InterfaceIdentifier(exact(raw.data, "ipv6cp.interface_identifier")?)
            }
            kind => Self::Other {
                kind,
                data: raw.data,
            },
        })
    }

    fn kind(&self) -> u8 {
        match self {
            Self::InterfaceIdentifier(_) => Ipv6cpOptionType::InterfaceIdentifier.into(),
            Self::Other { kind, .. } => (*kind).into(),
        }
    }

    fn buffer_len(&self) -> usize {
        2 + match self {
            Self::InterfaceIdentifier(_) => 8,
            Self::Other { data, .. } => data.len(),
        }
    }

    fn emit(&self, buf: &mut [u8]) -> Result<()> {
        match self {
            Self::InterfaceIdentifier(id) => emit_option(buf, self.kind(), &[id]),
            Self::Other { data, .. } => emit_option(buf, self.kind(), &[data]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ccp_mppe_round_trip() {
        // <mppe +H -M -S -L -D +C>: H = 0x01000000, C = 0x00000001 (RFC 3078 §2.1 bit layout).
        let bytes = [0x12, 0x06, 0x01, 0x00, 0x00, 0x01];
        let opt = CcpOption::parse(RawOption {
            kind: 0x12,
            data: &bytes[2..],
        })
        .unwrap();
        assert_eq!(opt, CcpOption::Mppe(0x0100_0001));
        let mut out = [0u8; 6];
        opt.emit(&mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn ipv6cp_interface_id_round_trip() {
        // Windows 7: <addr fe80::483c:272c:c66a:ebe1>.
        let bytes = [0x01, 0x0a, 0x48, 0x3c, 0x27, 0x2c, 0xc6, 0x6a, 0xeb, 0xe1];
        let opt = Ipv6cpOption::parse(RawOption {
            kind: 1,
            data: &bytes[2..],
        })
        .unwrap();
        assert_eq!(
            opt,
            Ipv6cpOption::InterfaceIdentifier([0x48, 0x3c, 0x27, 0x2c, 0xc6, 0x6a, 0xeb, 0xe1])
        );
        let mut out = [0u8; 10];
        opt.emit(&mut out).unwrap();
        assert_eq!(out, bytes);
        assert!(
            Ipv6cpOption::parse(RawOption {
                kind: 1,
                data: &bytes[2..9]
            })
            .is_err()
        );
    }
}
