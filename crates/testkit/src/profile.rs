//! Client profiles: what a real client's built-in L2TP/IPsec stack sends, layer by layer.
//!
//! Every value comes from docs/clients.md, whose sections each profile cites. "Unverified" in a
//! doc comment marks a value the sources leave open or that docs/clients.md marks unverified; the
//! profile then picks a plausible one and says so. "Inference" marks a conclusion drawn from
//! sourced facts (both terms as in docs/clients.md#how-to-read). Where the engines' client roles
//! cannot express a behaviour, the profile says that too.

use crypto::cipher::CipherAlg;
use crypto::dh::DhGroup;
use crypto::hash::HashAlg;
use crypto::integ::IntegAlg;
use ike::suite::EncapsulationMode;
use ike::vendor;
use ike::{EspSuite, Lifetime, Phase1Suite};
use ppp::AuthProtocol;

/// The main mode lifetime Windows uses (28800 s = 0x7080, docs/clients.md#windows-xp-ike).
const MM_LIFE_SECS: u64 = 28800;
/// The Quick Mode lifetime of Windows 10 (docs/clients.md#windows-modern-quick-mode); XP's
/// value is unverified (docs/clients.md#windows-xp-quick-mode).
const QM_LIFE_SECS: u64 = 3600;

/// PPP frames a profile sends on its own once LCP is open (not negotiated by the PPP peer role).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PppExtras {
    /// LCP Identification messages (RFC 1570), in order.
    pub identification: Vec<Vec<u8>>,
    /// The options of a CCP Configure-Request (RFC 1962), if the client sends one.
    pub ccp_request: Option<Vec<u8>>,
    /// The options of an IPV6CP Configure-Request (RFC 5072), if the client sends one.
    pub ipv6cp_request: Option<Vec<u8>>,
}

/// How a client behaves at every layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// A short name for logs ("windows-xp-sp2").
    pub name: &'static str,
    /// Main Mode transforms, in the client's order.
    pub ike_proposals: Vec<Phase1Suite>,
    /// Quick Mode (ESP) transforms, in the client's order.
    pub esp_proposals: Vec<EspSuite>,
    /// PFS group for Quick Mode.
    pub pfs: Option<DhGroup>,
    /// Vendor IDs in Main Mode message 1 (the NAT-T VIDs among them pick the dialect).
    pub vendor_ids: Vec<Vec<u8>>,
    /// Send the INITIAL-CONTACT notify in Main Mode message 5.
    pub initial_contact: bool,
    /// The port in the Quick Mode IDci (1701, or 0 = any as iOS sends).
    pub ike_id_port: u16,
    /// The UDP source port of L2TP inside ESP.
    pub l2tp_port: u16,
    /// Compute the inner UDP checksum over our private address (Windows, unverified) instead of
    /// sending 0 (xl2tpd); both in docs/clients.md#inner-udp-checksum.
    pub inner_udp_checksum: bool,
    /// L2TP Host Name AVP.
    pub host_name: String,
    /// L2TP Vendor Name AVP.
    pub vendor_name: String,
    /// L2TP Firmware Revision AVP.
    pub firmware_revision: u16,
    /// L2TP Receive Window Size AVP.
    pub receive_window: u16,
    /// A fixed Assigned Tunnel ID (Windows: attempts since boot; iOS: 1); random when `None`.
    pub tunnel_id: Option<u16>,
    /// A fixed first Assigned Session ID; random when `None`.
    pub session_id: Option<u16>,
    /// Add Microsoft's Correlation ID AVP (vendor 311, type 1, M=0) to the ICRQ.
    pub correlation_id: bool,
    /// Whether our L2TP data messages carry the Length field.
    pub data_length_field: bool,
    /// The LCP MRU we ask for.
    pub mru: u16,
    /// LCP options after MRU and Magic-Number in our first Configure-Request, as raw bytes.
    pub lcp_extra_options: Vec<Vec<u8>>,
    /// Authentication protocols we agree to, preferred first.
    pub auth_protocols: Vec<AuthProtocol>,
    /// Ask IPCP for DNS servers (options 129, 131).
    pub request_dns: bool,
    /// Ask IPCP for WINS servers (options 130, 132).
    pub request_wins: bool,
    /// Frames sent once LCP is open.
    pub ppp_extras: PppExtras,
}

fn p1(cipher: CipherAlg, hash: HashAlg, group: DhGroup) -> Phase1Suite {
    Phase1Suite {
        cipher,
        hash,
        group,
        lifetime: Lifetime {
            secs: MM_LIFE_SECS,
            kb: None,
        },
    }
}

fn esp(cipher: CipherAlg, integ: IntegAlg, kb: Option<u64>) -> EspSuite {
    EspSuite {
        cipher,
        integ,
        pfs: None,
        // The initiator fills in the mode (transport or UDP-encapsulated transport).
        mode: EncapsulationMode::Transport,
        mode_value: 2,
        lifetime: Lifetime {
            secs: QM_LIFE_SECS,
            kb,
        },
    }
}

/// LCP Protocol-Field-Compression (RFC 1661 §6.5).
const LCP_PCOMP: [u8; 2] = [0x07, 0x02];
/// LCP Address-and-Control-Field-Compression (RFC 1661 §6.6).
const LCP_ACCOMP: [u8; 2] = [0x08, 0x02];
/// LCP Callback (RFC 1570 §2.3) with operation 6, Microsoft CBCP
/// (docs/clients.md#windows-callback).
const LCP_CALLBACK_CBCP: [u8; 3] = [0x0d, 0x03, 0x06];
/// LCP Async-Control-Character-Map 0 (RFC 1662 §7.1), as pppd sends (docs/clients.md#linux,
/// observed).
const LCP_ACCM_ZERO: [u8; 6] = [0x02, 0x06, 0x00, 0x00, 0x00, 0x00];

/// A CCP MPPE/MPPC option (type 18, RFC 3078 §2.1) with the given supported bits.
fn ccp_mppe(bits: u32) -> Vec<u8> {
    let mut v = vec![0x12, 0x06];
    v.extend_from_slice(&bits.to_be_bytes());
    v
}

/// MPPE "H" bit: stateless mode (RFC 3078 §2.1).
const MPPE_H: u32 = 0x0100_0000;
/// MPPC "C" bit: compression (RFC 2118 §2).
const MPPC_C: u32 = 0x0000_0001;

/// The vendor ID strongSwan sends for XAUTH (docs/clients.md#vendor-id-values).
const XAUTH_VID: [u8; 8] = [0x09, 0x00, 0x26, 0x89, 0xdf, 0xd6, 0xb7, 0x12];
/// MD5("MS-Negotiation Discovery Capable"), sent by Windows 7 and later
/// (docs/clients.md#vendor-id-values).
const MS_NEGOTIATION_DISCOVERY_VID: [u8; 16] = [
    0xfb, 0x1d, 0xe3, 0xcd, 0xf3, 0x41, 0xb7, 0xea, 0x16, 0xb7, 0xe5, 0xbe, 0x08, 0x55, 0xf1, 0x20,
];
/// MD5("IKE CGA version 1"), sent by Windows 7 and later (docs/clients.md#vendor-id-values).
const IKE_CGA_V1_VID: [u8; 16] = [
    0xe3, 0xa5, 0x96, 0x6a, 0x76, 0x37, 0x9f, 0xe7, 0x07, 0x22, 0x82, 0x31, 0xe5, 0xce, 0x86, 0x52,
];
/// The VID Windows 10 sends that libreswan names "Windows KEY_MODS"
/// (docs/clients.md#windows-modern-ike).
const KEY_MODS_VID: [u8; 20] = [
    0x01, 0x52, 0x8b, 0xbb, 0xc0, 0x06, 0x96, 0x12, 0x18, 0x49, 0xab, 0x9a, 0x1c, 0x5b, 0x2a, 0x51,
    0x00, 0x00, 0x00, 0x01,
];

impl Profile {
    /// Windows XP SP2/SP3 ("MSRASV5.10").
    ///
    /// - IKE: 3DES-SHA1-MODP2048, then 3DES-SHA1-MODP1024, life 28800 s
    ///   (docs/clients.md#windows-xp-ike). VIDs MS NT5 ISAKMPOAKLEY v4, FRAGMENTATION,
    ///   draft-02\n, Vid-Initial-Contact, and no INITIAL-CONTACT notify
    ///   (docs/clients.md#windows-xp-vendor-ids). Draft-02 NAT-T (payload types 130/131,
    ///   encapsulation 61444) follows from the draft-02\n VID (docs/clients.md#windows-xp-nat-t).
    /// - ESP: 3DES with HMAC-SHA1-96, no PFS (docs/clients.md#windows-xp-quick-mode, KB 325158).
    ///   QM life 3600 s and 250000 KB: unverified for XP.
    /// - L2TP: port 1701, SCCRQ with Firmware 0x0500, Vendor "Microsoft", window 8, framing sync,
    ///   bearer 0 (docs/clients.md#windows-l2tp, where the XP values are unverified), and tunnel
    ///   ID = attempts since boot (4 here); session ID 1 and data messages without the Length
    ///   field: unverified.
    /// - PPP: LCP `<mru 1400> <magic> <pcomp> <accomp> <callback CBCP>`
    ///   (docs/clients.md#windows-lcp), Ident "MSRASV5.10" and `MSRAS-0-<HOST>`
    ///   (docs/clients.md#windows-lcp-identification), CCP `<mppe +H -M -S -L -D +C>`
    ///   (docs/clients.md#windows-ccp), MS-CHAPv2 (docs/clients.md#windows-auth), IPCP
    ///   addr+DNS1+WINS1+DNS2+WINS2 (docs/clients.md#windows-ipcp).
    pub fn windows_xp_sp2() -> Self {
        let host = "XPCLIENT".to_owned();
        Self {
            name: "windows-xp-sp2",
            ike_proposals: vec![
                p1(CipherAlg::TripleDes, HashAlg::Sha1, DhGroup::Modp2048),
                p1(CipherAlg::TripleDes, HashAlg::Sha1, DhGroup::Modp1024),
            ],
            esp_proposals: vec![esp(
                CipherAlg::TripleDes,
                IntegAlg::HmacSha1_96,
                Some(250_000),
            )],
            pfs: None,
            vendor_ids: vec![
                vendor::ms_nt5(4),
                vendor::FRAGMENTATION.to_vec(),
                vendor::DRAFT_02N.to_vec(),
                vendor::MS_INITIAL_CONTACT.to_vec(),
            ],
            initial_contact: false,
            ike_id_port: 1701,
            l2tp_port: 1701,
            inner_udp_checksum: true,
            vendor_name: "Microsoft".to_owned(),
            firmware_revision: 0x0500,
            receive_window: 8,
            tunnel_id: Some(4),
            session_id: Some(1),
            correlation_id: false,
            data_length_field: false,
            mru: 1400,
            lcp_extra_options: vec![
                LCP_PCOMP.to_vec(),
                LCP_ACCOMP.to_vec(),
                LCP_CALLBACK_CBCP.to_vec(),
            ],
            auth_protocols: vec![
                AuthProtocol::MsChapV2,
                AuthProtocol::MsChapV1,
                AuthProtocol::Chap,
            ],
            request_dns: true,
            request_wins: true,
            ppp_extras: PppExtras {
                identification: vec![
                    b"MSRASV5.10".to_vec(),
                    format!("MSRAS-0-{host}").into_bytes(),
                ],
                ccp_request: Some(ccp_mppe(MPPE_H | MPPC_C)),
                ipv6cp_request: None,
            },
            host_name: host,
        }
    }

    /// Windows 10/11 ("MSRASV5.20").
    ///
    /// - IKE: AES256-SHA1-ECP384, AES128-SHA1-ECP256, then AES/3DES with MODP2048/MODP1024
    ///   (docs/clients.md#windows-modern-ike; the order of the MODP fallbacks is unverified).
    ///   VIDs in Windows 7's order, MS NT5 v9, RFC 3947, draft-02\n, FRAGMENTATION,
    ///   MS-Negotiation Discovery Capable, Vid-Initial-Contact, IKE CGA version 1, then Windows
    ///   10's KEY_MODS `01528bbb…01` (docs/clients.md#windows-modern-ike, values in
    ///   docs/clients.md#vendor-id-values). RFC 3947 NAT-T
    ///   (docs/clients.md#windows-modern-nat-t). Windows 7's variable-length attribute 16384 is
    ///   not sent: [`Phase1Suite`] cannot carry it (the `ike` crate's suite tests parse it).
    /// - ESP: AES256, AES128, then 3DES, all HMAC-SHA1-96 (unverified); QM life 3600 s
    ///   (docs/clients.md#windows-modern-quick-mode).
    /// - L2TP: port 1701, SCCRQ with Firmware 0x0a00, Vendor "Microsoft", window 8
    ///   (docs/clients.md#windows-l2tp); tunnel ID 7 and session ID 1 as a Windows 7 client used
    ///   (same section); the Microsoft Correlation ID AVP in the ICRQ (MS-L2TPIE §2.2.1.1).
    /// - PPP: as XP, but Ident "MSRASV5.20", `MSRAS-0-<HOST>` and a 16-byte binary Ident
    ///   (docs/clients.md#windows-lcp-identification), CCP `<mppe +H -M -S -L -D -C>`
    ///   (docs/clients.md#windows-ccp), and an IPV6CP Configure-Request
    ///   (docs/clients.md#windows-ipcp).
    pub fn windows_10() -> Self {
        let host = "WIN10-PC".to_owned();
        Self {
            name: "windows-10",
            ike_proposals: vec![
                p1(CipherAlg::Aes256, HashAlg::Sha1, DhGroup::Ecp384),
                p1(CipherAlg::Aes128, HashAlg::Sha1, DhGroup::Ecp256),
                p1(CipherAlg::Aes256, HashAlg::Sha1, DhGroup::Modp2048),
                p1(CipherAlg::Aes128, HashAlg::Sha1, DhGroup::Modp2048),
                p1(CipherAlg::TripleDes, HashAlg::Sha1, DhGroup::Modp2048),
                p1(CipherAlg::TripleDes, HashAlg::Sha1, DhGroup::Modp1024),
            ],
            esp_proposals: vec![
                esp(CipherAlg::Aes256, IntegAlg::HmacSha1_96, None),
                esp(CipherAlg::Aes128, IntegAlg::HmacSha1_96, None),
                esp(CipherAlg::TripleDes, IntegAlg::HmacSha1_96, None),
            ],
            pfs: None,
            vendor_ids: vec![
                vendor::ms_nt5(9),
                vendor::RFC3947.to_vec(),
                vendor::DRAFT_02N.to_vec(),
                vendor::FRAGMENTATION.to_vec(),
                MS_NEGOTIATION_DISCOVERY_VID.to_vec(),
                vendor::MS_INITIAL_CONTACT.to_vec(),
                IKE_CGA_V1_VID.to_vec(),
                KEY_MODS_VID.to_vec(),
            ],
            initial_contact: false,
            ike_id_port: 1701,
            l2tp_port: 1701,
            inner_udp_checksum: true,
            vendor_name: "Microsoft".to_owned(),
            firmware_revision: 0x0a00,
            receive_window: 8,
            tunnel_id: Some(7),
            session_id: Some(1),
            correlation_id: true,
            data_length_field: false,
            mru: 1400,
            lcp_extra_options: vec![
                LCP_PCOMP.to_vec(),
                LCP_ACCOMP.to_vec(),
                LCP_CALLBACK_CBCP.to_vec(),
            ],
            auth_protocols: vec![AuthProtocol::MsChapV2, AuthProtocol::Chap],
            request_dns: true,
            request_wins: true,
            ppp_extras: PppExtras {
                identification: vec![
                    b"MSRASV5.20".to_vec(),
                    format!("MSRAS-0-{host}").into_bytes(),
                    // Win7+ sends a third, 16-octet binary Ident
                    // (docs/clients.md#windows-lcp-identification); its content is unknown.
                    vec![
                        0x3a, 0x51, 0x0c, 0x7e, 0x91, 0x22, 0x4b, 0x08, 0xa6, 0x1d, 0xf0, 0x55,
                        0x2e, 0x84, 0x6b, 0x19,
                    ],
                ],
                ccp_request: Some(ccp_mppe(MPPE_H)),
                // Interface-Identifier option (RFC 5072 §4.1); Windows 7 sends one
                // (docs/clients.md#windows-ipcp).
                ipv6cp_request: Some(vec![
                    0x01, 0x0a, 0x48, 0x3c, 0x27, 0x2c, 0xc6, 0x6a, 0xeb, 0xe1,
                ]),
            },
            host_name: host,
        }
    }

    /// Linux: strongSwan 5.9 + xl2tpd 1.3 + pppd 2.4 (docs/clients.md#linux, mostly observed).
    ///
    /// - IKE: one transform 3DES-SHA1-MODP1024, life 28800 s; VIDs XAUTH, DPD, FRAGMENTATION
    ///   with Cisco's flags suffix, RFC 3947 and draft-02\n; INITIAL-CONTACT notify in MM5.
    /// - ESP: 3DES + HMAC-SHA1-96, life 3600 s; IDci = private address UDP/1701.
    /// - L2TP: port 1701, Vendor "xelerance.com", Firmware 0x0690, window 4, random tunnel ID,
    ///   inner UDP checksum 0, data without the Length field. (xl2tpd announces framing
    ///   async+sync; the LAC role always sends sync only.)
    /// - PPP: LCP `<mru 1400> <asyncmap 0> <magic>`, MS-CHAPv2, IPCP address + two DNS.
    pub fn linux_strongswan() -> Self {
        let mut fragmentation = vendor::FRAGMENTATION.to_vec();
        fragmentation.extend_from_slice(&[0x80, 0x00, 0x00, 0x00]);
        Self {
            name: "linux-strongswan",
            ike_proposals: vec![p1(CipherAlg::TripleDes, HashAlg::Sha1, DhGroup::Modp1024)],
            esp_proposals: vec![esp(CipherAlg::TripleDes, IntegAlg::HmacSha1_96, None)],
            pfs: None,
            vendor_ids: vec![
                XAUTH_VID.to_vec(),
                vendor::DPD.to_vec(),
                fragmentation,
                vendor::RFC3947.to_vec(),
                vendor::DRAFT_02N.to_vec(),
            ],
            initial_contact: true,
            ike_id_port: 1701,
            l2tp_port: 1701,
            inner_udp_checksum: false,
            host_name: "c1".to_owned(),
            vendor_name: "xelerance.com".to_owned(),
            firmware_revision: 0x0690,
            receive_window: 4,
            tunnel_id: None,
            session_id: None,
            correlation_id: false,
            data_length_field: false,
            mru: 1400,
            lcp_extra_options: vec![LCP_ACCM_ZERO.to_vec()],
            auth_protocols: vec![AuthProtocol::MsChapV2],
            request_dns: true,
            request_wins: false,
            ppp_extras: PppExtras::default(),
        }
    }

    /// iOS (optional profile; docs/clients.md#macos-ios).
    ///
    /// - IKE: VIDs RFC 3947, draft-03, draft-02, draft-02\n and DPD, INITIAL-CONTACT notify in
    ///   Main Mode. Proposals AES256/AES128/3DES with SHA1 and MODP2048/MODP1024 (unverified).
    /// - Quick Mode IDci port 0 (any), L2TP from a random source port `l2tp_port` (50431 in
    ///   the log), tunnel ID 1 every time.
    /// - PPP: MS-CHAPv2, IPCP address and DNS (unverified).
    pub fn ios(l2tp_port: u16) -> Self {
        Self {
            name: "ios",
            ike_proposals: vec![
                p1(CipherAlg::Aes256, HashAlg::Sha1, DhGroup::Modp2048),
                p1(CipherAlg::Aes128, HashAlg::Sha1, DhGroup::Modp2048),
                p1(CipherAlg::TripleDes, HashAlg::Sha1, DhGroup::Modp1024),
            ],
            esp_proposals: vec![
                esp(CipherAlg::Aes256, IntegAlg::HmacSha1_96, None),
                esp(CipherAlg::Aes128, IntegAlg::HmacSha1_96, None),
                esp(CipherAlg::TripleDes, IntegAlg::HmacSha1_96, None),
            ],
            pfs: None,
            vendor_ids: vec![
                vendor::RFC3947.to_vec(),
                vendor::DRAFT_03.to_vec(),
                vendor::DRAFT_02.to_vec(),
                vendor::DRAFT_02N.to_vec(),
                vendor::DPD.to_vec(),
            ],
            initial_contact: true,
            ike_id_port: 0,
            l2tp_port,
            inner_udp_checksum: false,
            host_name: "iPhone".to_owned(),
            vendor_name: "Apple".to_owned(),
            firmware_revision: 0x0100,
            receive_window: 4,
            tunnel_id: Some(1),
            session_id: Some(1),
            correlation_id: false,
            data_length_field: false,
            mru: 1400,
            lcp_extra_options: Vec::new(),
            auth_protocols: vec![AuthProtocol::MsChapV2],
            request_dns: true,
            request_wins: false,
            ppp_extras: PppExtras::default(),
        }
    }

    /// The same profile with another machine name (L2TP Host Name and the `MSRAS-0-<HOST>`
    /// Identification of Windows profiles).
    #[must_use]
    pub fn with_host_name(mut self, host: &str) -> Self {
        let old = format!("MSRAS-0-{}", self.host_name).into_bytes();
        for ident in &mut self.ppp_extras.identification {
            if *ident == old {
                *ident = format!("MSRAS-0-{host}").into_bytes();
            }
        }
        self.host_name = host.to_owned();
        self
    }

    /// The same profile with a fixed L2TP tunnel ID (Windows: attempts since boot).
    #[must_use]
    pub fn with_tunnel_id(mut self, id: u16) -> Self {
        self.tunnel_id = Some(id);
        self
    }

    /// The same profile with only these Main Mode transforms.
    #[must_use]
    pub fn with_ike_proposals(mut self, proposals: Vec<Phase1Suite>) -> Self {
        self.ike_proposals = proposals;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xp_matches_its_sources() {
        let p = Profile::windows_xp_sp2();
        let first = p.ike_proposals[0];
        assert_eq!(
            (first.cipher, first.hash, first.group),
            (CipherAlg::TripleDes, HashAlg::Sha1, DhGroup::Modp2048)
        );
        assert_eq!(p.ike_proposals[1].group, DhGroup::Modp1024);
        let mut seen = ike::VendorInfo::default();
        for v in &p.vendor_ids {
            seen.observe(v);
        }
        assert_eq!(seen.nat_t, Some(ike::NatDialect::Draft02N));
        assert_eq!(seen.ms_nt5_version, Some(4));
        assert!(seen.fragmentation && seen.ms_initial_contact && !seen.dpd);
        assert_eq!(p.ppp_extras.identification[0], b"MSRASV5.10");
        assert_eq!(p.ppp_extras.identification[1], b"MSRAS-0-XPCLIENT");
        // <mppe +H -M -S -L -D +C> (docs/clients.md#windows-ccp).
        assert_eq!(
            p.ppp_extras.ccp_request.as_deref(),
            Some(&[0x12, 0x06, 0x01, 0x00, 0x00, 0x01][..])
        );
        assert_eq!(p.lcp_extra_options[2], vec![0x0d, 0x03, 0x06]);
    }

    #[test]
    fn windows_10_and_linux_dialects() {
        let mut w = ike::VendorInfo::default();
        for v in &Profile::windows_10().vendor_ids {
            w.observe(v);
        }
        assert_eq!(w.nat_t, Some(ike::NatDialect::Rfc3947));
        assert_eq!(w.ms_nt5_version, Some(9));
        let mut l = ike::VendorInfo::default();
        for v in &Profile::linux_strongswan().vendor_ids {
            l.observe(v);
        }
        assert_eq!(l.nat_t, Some(ike::NatDialect::Rfc3947));
        assert!(l.dpd && l.fragmentation && l.ms_nt5_version.is_none());
        assert_eq!(
            Profile::windows_10().ike_proposals[0].group,
            DhGroup::Ecp384
        );
    }

    /// Windows 10's VIDs: Windows 7's set in its order, then KEY_MODS, with the values of
    /// docs/clients.md#vendor-id-values (each the MD5 of its name).
    #[test]
    fn windows_10_sends_the_full_microsoft_vid_set() {
        let p = Profile::windows_10();
        let md5 = |s: &str| crypto::hash::digest(HashAlg::Md5, &[s.as_bytes()]);
        assert_eq!(
            hex::encode(MS_NEGOTIATION_DISCOVERY_VID),
            "fb1de3cdf341b7ea16b7e5be0855f120"
        );
        assert_eq!(
            MS_NEGOTIATION_DISCOVERY_VID.to_vec(),
            md5("MS-Negotiation Discovery Capable")
        );
        assert_eq!(
            hex::encode(IKE_CGA_V1_VID),
            "e3a5966a76379fe707228231e5ce8652"
        );
        assert_eq!(IKE_CGA_V1_VID.to_vec(), md5("IKE CGA version 1"));
        assert_eq!(
            hex::encode(KEY_MODS_VID),
            "01528bbbc00696121849ab9a1c5b2a5100000001"
        );
        let want: Vec<Vec<u8>> = vec![
            vendor::ms_nt5(9),
            vendor::RFC3947.to_vec(),
            vendor::DRAFT_02N.to_vec(),
            vendor::FRAGMENTATION.to_vec(),
            MS_NEGOTIATION_DISCOVERY_VID.to_vec(),
            vendor::MS_INITIAL_CONTACT.to_vec(),
            IKE_CGA_V1_VID.to_vec(),
            KEY_MODS_VID.to_vec(),
        ];
        assert_eq!(p.vendor_ids, want);
        let mut seen = ike::VendorInfo::default();
        for v in &p.vendor_ids {
            seen.observe(v);
        }
        assert!(seen.is_microsoft() && seen.ms_initial_contact && !seen.dpd);
        assert_eq!(seen.ms_nt5_version, Some(9));
    }

    #[test]
    fn host_name_rewrites_the_ident() {
        let p = Profile::windows_xp_sp2().with_host_name("OFFICE-7");
        assert_eq!(p.host_name, "OFFICE-7");
        assert_eq!(p.ppp_extras.identification[1], b"MSRAS-0-OFFICE-7");
        assert_eq!(p.ppp_extras.identification[0], b"MSRASV5.10");
    }
}
