//! Vendor ID payloads (RFC 2408 §3.16) that change our behaviour: NAT-T (RFC 3947 §3.1 and the
//! draft-02/02\n/03 VIDs), DPD (RFC 3706 §2), FRAGMENTATION and Microsoft's "MS NT5 ISAKMPOAKLEY".
//!
//! Values: docs/clients.md#vendor-id-values (ike-scan, strongSwan and SoftEther, whose header
//! swaps the two draft-02 labels); which VIDs Windows sends: docs/clients.md#windows-xp-vendor-ids
//! and docs/clients.md#windows-modern-ike. The MS NT5 VID is MD5("MS NT5 ISAKMPOAKLEY") followed
//! by a 4-octet version (2 Win2000, 3 XP SP1, 4 XP SP2/2003, 5 Vista, 7 Win7, 9 Win8+), so it is
//! matched as a prefix.

/// RFC 3947 NAT-T: MD5("RFC 3947").
pub const RFC3947: [u8; 16] = [
    0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
];
/// draft-ietf-ipsec-nat-t-ike-03.
pub const DRAFT_03: [u8; 16] = [
    0x7d, 0x94, 0x19, 0xa6, 0x53, 0x10, 0xca, 0x6f, 0x2c, 0x17, 0x9d, 0x92, 0x15, 0x52, 0x9d, 0x56,
];
/// draft-ietf-ipsec-nat-t-ike-02\n (the one Windows XP SP2 sends,
/// docs/clients.md#windows-xp-vendor-ids).
pub const DRAFT_02N: [u8; 16] = [
    0x90, 0xcb, 0x80, 0x91, 0x3e, 0xbb, 0x69, 0x6e, 0x08, 0x63, 0x81, 0xb5, 0xec, 0x42, 0x7b, 0x1f,
];
/// draft-ietf-ipsec-nat-t-ike-02.
pub const DRAFT_02: [u8; 16] = [
    0xcd, 0x60, 0x46, 0x43, 0x35, 0xdf, 0x21, 0xf8, 0x7c, 0xfd, 0xb2, 0xfc, 0x68, 0xb6, 0xa4, 0x48,
];
/// RFC 3706 DPD (the last two octets are version 1.0).
pub const DPD: [u8; 16] = [
    0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
];
/// FRAGMENTATION: MD5("FRAGMENTATION"); Cisco/strongSwan append 4 octets of flags.
pub const FRAGMENTATION: [u8; 16] = [
    0x40, 0x48, 0xb7, 0xd5, 0x6e, 0xbc, 0xe8, 0x85, 0x25, 0xe7, 0xde, 0x7f, 0x00, 0xd6, 0xc2, 0xd3,
];
/// MS NT5 ISAKMPOAKLEY, without its 4-octet version suffix.
pub const MS_NT5: [u8; 16] = [
    0x1e, 0x2b, 0x51, 0x69, 0x05, 0x99, 0x1c, 0x7d, 0x7c, 0x96, 0xfc, 0xbf, 0xb5, 0x87, 0xe4, 0x61,
];
/// Microsoft Vid-Initial-Contact.
pub const MS_INITIAL_CONTACT: [u8; 16] = [
    0x26, 0x24, 0x4d, 0x38, 0xed, 0xdb, 0x61, 0xb3, 0x17, 0x2a, 0x36, 0xe3, 0xd0, 0xcf, 0xb8, 0x19,
];

/// The MS NT5 ISAKMPOAKLEY VID with a version suffix (what Windows sends).
pub fn ms_nt5(version: u32) -> Vec<u8> {
    let mut v = MS_NT5.to_vec();
    v.extend_from_slice(&version.to_be_bytes());
    v
}

/// The NAT traversal dialect a peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NatDialect {
    /// draft-ietf-ipsec-nat-t-ike-02.
    Draft02,
    /// draft-ietf-ipsec-nat-t-ike-02\n (Windows XP SP2 / 2003).
    Draft02N,
    /// draft-ietf-ipsec-nat-t-ike-03.
    Draft03,
    /// RFC 3947.
    Rfc3947,
}

impl NatDialect {
    /// Whether NAT-D/NAT-OA use the draft payload types 130/131 and encapsulation modes
    /// 61443/61444 instead of 20/21 and 3/4.
    pub fn is_draft(self) -> bool {
        self != Self::Rfc3947
    }

    /// The VID that announces this dialect.
    pub fn vendor_id(self) -> [u8; 16] {
        match self {
            Self::Draft02 => DRAFT_02,
            Self::Draft02N => DRAFT_02N,
            Self::Draft03 => DRAFT_03,
            Self::Rfc3947 => RFC3947,
        }
    }

    /// UDP-Encapsulated-Transport mode value (RFC 3947 §5.1; draft: 61444).
    pub fn udp_transport_mode(self) -> u16 {
        if self.is_draft() { 61444 } else { 4 }
    }

    /// UDP-Encapsulated-Tunnel mode value (RFC 3947 §5.1; draft: 61443).
    pub fn udp_tunnel_mode(self) -> u16 {
        if self.is_draft() { 61443 } else { 3 }
    }

    /// A short name for logs and status.
    pub fn name(self) -> &'static str {
        match self {
            Self::Draft02 => "draft-02",
            Self::Draft02N => "draft-02\\n",
            Self::Draft03 => "draft-03",
            Self::Rfc3947 => "RFC 3947",
        }
    }
}

/// What a peer's Vendor IDs told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorInfo {
    /// The best NAT-T dialect the peer announced (RFC 3947 > draft-03 > draft-02\n > draft-02).
    pub nat_t: Option<NatDialect>,
    /// The peer announced RFC 3706 DPD.
    pub dpd: bool,
    /// The peer announced IKE fragmentation.
    pub fragmentation: bool,
    /// The MS NT5 ISAKMPOAKLEY version (4 = XP SP2/2003), if sent.
    pub ms_nt5_version: Option<u32>,
    /// The peer sent Microsoft's Vid-Initial-Contact.
    pub ms_initial_contact: bool,
}

impl VendorInfo {
    /// Folds one Vendor ID payload into the summary; unknown VIDs are ignored.
    pub fn observe(&mut self, vid: &[u8]) {
        let dialect = match vid {
            v if v == RFC3947 => Some(NatDialect::Rfc3947),
            v if v == DRAFT_03 => Some(NatDialect::Draft03),
            v if v == DRAFT_02N => Some(NatDialect::Draft02N),
            v if v == DRAFT_02 => Some(NatDialect::Draft02),
            _ => None,
        };
        if let Some(d) = dialect {
            self.nat_t = Some(self.nat_t.map_or(d, |old| old.max(d)));
        } else if vid == DPD {
            self.dpd = true;
        } else if vid.starts_with(&FRAGMENTATION) {
            self.fragmentation = true;
        } else if vid == MS_INITIAL_CONTACT {
            self.ms_initial_contact = true;
        } else if let Some(rest) = vid.strip_prefix(&MS_NT5[..]) {
            self.ms_nt5_version = <[u8; 4]>::try_from(rest)
                .ok()
                .map(u32::from_be_bytes)
                .or(Some(0));
        }
    }

    /// "Microsoft" for the NAT-D trick: any of the three Microsoft-associated VIDs, as SoftEther
    /// decides it (docs/clients.md#windows-xp-vendor-ids; FRAGMENTATION is also sent by
    /// strongSwan).
    pub fn is_microsoft(&self) -> bool {
        self.ms_nt5_version.is_some() || self.ms_initial_contact || self.fragmentation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VID values as published (docs/clients.md#vendor-id-values: ike-scan, strongSwan,
    /// SoftEther).
    #[test]
    fn vid_values() {
        assert_eq!(hex::encode(RFC3947), "4a131c81070358455c5728f20e95452f");
        assert_eq!(hex::encode(DRAFT_03), "7d9419a65310ca6f2c179d9215529d56");
        assert_eq!(hex::encode(DRAFT_02N), "90cb80913ebb696e086381b5ec427b1f");
        assert_eq!(hex::encode(DRAFT_02), "cd60464335df21f87cfdb2fc68b6a448");
        assert_eq!(hex::encode(DPD), "afcad71368a1f1c96b8696fc77570100");
        assert_eq!(
            hex::encode(FRAGMENTATION),
            "4048b7d56ebce88525e7de7f00d6c2d3"
        );
        assert_eq!(
            hex::encode(ms_nt5(4)),
            "1e2b516905991c7d7c96fcbfb587e46100000004"
        );
        assert_eq!(
            hex::encode(MS_INITIAL_CONTACT),
            "26244d38eddb61b3172a36e3d0cfb819"
        );
    }

    #[test]
    fn xp_sp2_vid_set() {
        let mut v = VendorInfo::default();
        for vid in [
            ms_nt5(4),
            FRAGMENTATION.to_vec(),
            DRAFT_02N.to_vec(),
            MS_INITIAL_CONTACT.to_vec(),
        ] {
            v.observe(&vid);
        }
        assert_eq!(v.ms_nt5_version, Some(4));
        assert_eq!(v.nat_t, Some(NatDialect::Draft02N));
        assert!(v.fragmentation && v.ms_initial_contact && !v.dpd && v.is_microsoft());
    }

    #[test]
    fn best_dialect_wins_and_strongswan_fragmentation_suffix() {
        let mut v = VendorInfo::default();
        v.observe(&DRAFT_02N);
        v.observe(&RFC3947);
        v.observe(&DRAFT_03);
        v.observe(&hex::decode("4048b7d56ebce88525e7de7f00d6c2d380000000").unwrap());
        v.observe(&DPD);
        assert_eq!(v.nat_t, Some(NatDialect::Rfc3947));
        assert!(v.fragmentation && v.dpd);
        assert_eq!(NatDialect::Draft02N.udp_transport_mode(), 61444);
        assert_eq!(NatDialect::Rfc3947.udp_transport_mode(), 4);
    }
}
