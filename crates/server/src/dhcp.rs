//! Answering the DHCPINFORM of remote-access clients with a DHCPACK (RFC 2131 §3.4, §4.3.5).
//!
//! After IPCP the Windows remote-access client sends a DHCPINFORM through the PPP link, from
//! its IPCP address with `ciaddr` set to it, to learn what IPCP cannot carry: the DNS domain
//! name and static routes. Microsoft's Windows 2000 documentation of Routing and Remote Access
//! and DHCP says the remote access client "may use DHCPINFORM packets to obtain Windows Internet
//! Name Service (WINS) and Domain Name System (DNS) addresses, domain name, or other DHCP
//! options" after IPCP, and that RRAS answers them through its DHCP Relay Agent. Without an
//! answer, a client that does not use the remote default gateway gets only a route to the
//! class-based network of its address (TechNet "The Cable Guy", October 2003, "Split Tunneling
//! for Concurrent Access to the Internet and an Intranet"). The routes go in option 121
//! (RFC 3442) and, for Windows, in option 249, which has the same format (MS-DHCPE §2.2.8:
//! "Option Code 249 SHOULD be used instead of or in addition to Option Code 121").
//!
//! The reply follows RFC 2131 §4.3.5: "The server responds to a DHCPINFORM message by sending
//! a DHCPACK message directly to the address given in the 'ciaddr' field of the DHCPINFORM
//! message. The server MUST NOT send a lease expiration time to the client and SHOULD NOT fill
//! in 'yiaddr'." Its fields follow RFC 2131 §4.3.1 Table 3: `xid`, `flags`, `giaddr` and
//! `chaddr` from the request, Server Identifier (54) always, no Parameter Request List, Client
//! Identifier or Maximum Message Size.
//!
//! Which options: RFC 2131 §4.3.1 has the server return the parameters "requested by the
//! client" and "MUST omit any parameters it cannot provide", and Microsoft's server sends none
//! the client did not ask for (KB Q200776: "if a DHCP client has not asked for options, a DHCP
//! server should not send any"). So when the request carries a Parameter Request List (55),
//! only the configured options it lists are sent; without one, all configured options are. The
//! Router option (3) is never sent: on a point-to-point link it means nothing, and RFC 3442 has
//! a client that receives option 121 ignore it anyway.
//!
//! A route list longer than one option (255 octets, about 28 routes) is split into several
//! instances of the option, each holding whole routes: a client that concatenates instances
//! (RFC 3396; Microsoft's long-option encoding, MS-DHCPE §2.2.9) and one that reads each on
//! its own both see every route. The same holds for the DNS server list.

use core::net::Ipv4Addr;

use wire::dhcp::{
    CLIENT_PORT, ClasslessRoute, DhcpOption, MAX_OPTION_LEN, MessageType, Op, OptionCode, Packet,
    Repr, SERVER_PORT,
};
use wire::ip::{Protocol, ipv4, udp};

/// The TTL of the reply: the default recommended by IANA (RFC 1700, "IP Parameters").
pub const REPLY_TTL: u8 = 64;

/// What the server tells a client that sends DHCPINFORM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InformConfig {
    /// The server's address on the tunnel: the Server Identifier (54), the IPv4 source of the
    /// reply, and the router of every route.
    pub server_address: Ipv4Addr,
    /// The Subnet Mask (1) to send, if any.
    pub subnet_mask: Option<Ipv4Addr>,
    /// The routes to send in options 121 and 249 as (network, prefix length), each via
    /// `server_address`. Host bits beyond the prefix are cleared; a prefix length above 32 is
    /// skipped.
    pub routes: Vec<(Ipv4Addr, u8)>,
    /// The Domain Name (15) to send, if any (RFC 2132 §3.17). An empty name or one longer
    /// than 255 octets is not sent.
    pub domain: Option<String>,
    /// The Domain Name Servers (6) to send, in order of preference (RFC 2132 §3.8).
    pub dns: Vec<Ipv4Addr>,
}

impl InformConfig {
    /// A configuration that sends only the Server Identifier.
    pub const fn new(server_address: Ipv4Addr) -> Self {
        Self {
            server_address,
            subnet_mask: None,
            routes: Vec::new(),
            domain: None,
            dns: Vec::new(),
        }
    }
}

/// Answers a DHCPINFORM.
///
/// `request` is the whole IPv4 packet the client sent (IPv4, UDP, DHCP). The answer is the
/// whole IPv4 packet of the DHCPACK, from `cfg.server_address:67` to `ciaddr:68`, with both
/// checksums computed; or `None` when the packet is anything else. Answered are only: a valid
/// unfragmented IPv4 packet (header checksum verified) carrying UDP 68 → 67 (checksum verified
/// unless zero), sent to 255.255.255.255 or to `cfg.server_address`, holding a BOOTREQUEST
/// with DHCP Message Type DHCPINFORM, not relayed (`giaddr` 0), whose `ciaddr` is the IPv4
/// source address and not 0.0.0.0. The caller also checks that the source is the session's
/// own address. A DHCPINFORM unicast to some other DHCP server is left alone.
pub fn answer_inform(request: &[u8], cfg: &InformConfig) -> Option<Vec<u8>> {
    let ip = ipv4::Packet::new_checked(request).ok()?;
    let ip_repr = ipv4::Repr::parse(&ip).ok()?;
    if ip_repr.protocol != Protocol::Udp
        || !(ip_repr.dst_addr == Ipv4Addr::BROADCAST || ip_repr.dst_addr == cfg.server_address)
    {
        return None;
    }
    let pseudo = udp::PseudoHeader {
        src_addr: ip_repr.src_addr,
        dst_addr: ip_repr.dst_addr,
    };
    let datagram = udp::Packet::new_checked(ip.payload()).ok()?;
    let udp_repr = udp::Repr::parse(&datagram, Some(pseudo)).ok()?;
    if (udp_repr.src_port, udp_repr.dst_port) != (CLIENT_PORT, SERVER_PORT) {
        return None;
    }
    let message = Packet::new_checked(datagram.payload()).ok()?;
    let inform = Repr::parse(&message).ok()?;
    // RFC 2131 §4.4.3: the client sends DHCPINFORM with 'ciaddr' set to its address; we
    // reply there, so it must be the address the packet came from.
    if inform.op != Op::Request
        || inform.message_type() != Some(MessageType::Inform)
        || inform.giaddr != Ipv4Addr::UNSPECIFIED
        || inform.ciaddr.is_unspecified()
        || inform.ciaddr != ip_repr.src_addr
    {
        return None;
    }
    ack(&inform, cfg)
}

/// Builds the IPv4/UDP/DHCPACK packet for a checked DHCPINFORM.
fn ack(inform: &Repr<'_>, cfg: &InformConfig) -> Option<Vec<u8>> {
    let wanted = |code: OptionCode| {
        inform
            .parameter_request_list()
            .is_none_or(|list| list.contains(&u8::from(code)))
    };
    let server_id = cfg.server_address.octets();
    let mask = cfg.subnet_mask.map(|m| m.octets());
    let dns: Vec<u8> = cfg.dns.iter().flat_map(|a| a.octets()).collect();
    let routes = route_chunks(cfg);
    let domain = cfg
        .domain
        .as_deref()
        .map(str::as_bytes)
        .filter(|d| !d.is_empty() && d.len() <= MAX_OPTION_LEN);

    let mut options = vec![
        DhcpOption {
            code: OptionCode::MessageType,
            data: &[0x05], // DHCPACK
        },
        DhcpOption {
            code: OptionCode::ServerIdentifier,
            data: &server_id,
        },
    ];
    if let Some(mask) = &mask
        && wanted(OptionCode::SubnetMask)
    {
        options.push(DhcpOption {
            code: OptionCode::SubnetMask,
            data: mask,
        });
    }
    if wanted(OptionCode::DomainNameServer) {
        // 63 addresses (252 octets) per instance, so no address is split.
        options.extend(dns.chunks(252).map(|data| DhcpOption {
            code: OptionCode::DomainNameServer,
            data,
        }));
    }
    if let Some(data) = domain
        && wanted(OptionCode::DomainName)
    {
        options.push(DhcpOption {
            code: OptionCode::DomainName,
            data,
        });
    }
    for code in [
        OptionCode::ClasslessStaticRoute,
        OptionCode::MsClasslessStaticRoute,
    ] {
        if wanted(code) {
            options.extend(routes.iter().map(|data| DhcpOption { code, data }));
        }
    }

    let reply = Repr {
        op: Op::Reply,
        htype: inform.htype,
        hlen: inform.hlen,
        hops: 0,
        xid: inform.xid,
        secs: 0,
        flags: inform.flags,
        ciaddr: inform.ciaddr,
        yiaddr: Ipv4Addr::UNSPECIFIED,
        siaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: inform.giaddr,
        chaddr: inform.chaddr,
        sname: &[],
        file: &[],
        options,
    };

    let udp_repr = udp::Repr {
        src_port: SERVER_PORT,
        dst_port: CLIENT_PORT,
        payload_len: reply.buffer_len(),
    };
    let ip_repr = ipv4::Repr {
        src_addr: cfg.server_address,
        dst_addr: inform.ciaddr,
        protocol: Protocol::Udp,
        payload_len: udp_repr.buffer_len(),
        ttl: REPLY_TTL,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: false,
    };
    let mut packet = vec![0u8; ip_repr.buffer_len() + udp_repr.buffer_len()];
    let (ip_header, datagram) = packet.split_at_mut_checked(ip_repr.buffer_len())?;
    let (_, message) = datagram.split_at_mut_checked(udp::HEADER_LEN)?;
    reply.emit(message).ok()?;
    let pseudo = udp::PseudoHeader {
        src_addr: ip_repr.src_addr,
        dst_addr: ip_repr.dst_addr,
    };
    udp_repr.emit(datagram, Some(pseudo)).ok()?;
    ip_repr.emit(ip_header).ok()?;
    Some(packet)
}

/// The encoded routes (RFC 3442), split into option values of at most 255 octets at route
/// boundaries.
fn route_chunks(cfg: &InformConfig) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    for &(destination, prefix_len) in &cfg.routes {
        let route = ClasslessRoute {
            destination,
            prefix_len,
            router: cfg.server_address,
        };
        // At most 1 + 4 + 4 octets; a width above 32 fails to emit and is skipped.
        let mut encoded = [0u8; 9];
        if route.emit(&mut encoded).is_err() {
            continue;
        }
        let Some(encoded) = encoded.get(..route.buffer_len()) else {
            continue;
        };
        if current.len() + encoded.len() > MAX_OPTION_LEN {
            chunks.push(core::mem::take(&mut current));
        }
        current.extend_from_slice(encoded);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use wire::dhcp::{CHADDR_LEN, ClasslessRoutes, MAGIC_COOKIE, MIN_MESSAGE_LEN, OPTIONS_OFFSET};

    use super::*;

    /// A Windows-like Parameter Request List: 1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121,
    /// 249, 252, the list the Windows (Vista and later) DHCP client is commonly seen to send.
    /// Not from a citable source: no public capture of the RAS client's own DHCPINFORM was
    /// found.
    const WINDOWS_PRL: [u8; 14] = [
        0x01, 0x03, 0x06, 0x0f, 0x1f, 0x21, 0x2b, 0x2c, 0x2e, 0x2f, 0x77, 0x79, 0xf9, 0xfc,
    ];
    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
    const CHADDR: [u8; 6] = [0x02, 0x00, 0x4c, 0x4f, 0x4f, 0x50];
    const XID: u32 = 0x3903_f326;

    /// A DHCPINFORM as RFC 2131 §3.4 and §4.4.3 have the client build it after IPCP: op
    /// BOOTREQUEST, a fresh xid, ciaddr = the IPCP address, with the client identifier (61),
    /// host name (12), vendor class "MSFT 5.0" (60) and parameter request list (55) of a
    /// Windows client, padded to the 300-octet BOOTP minimum.
    fn windows_inform() -> Vec<u8> {
        let mut chaddr = [0u8; CHADDR_LEN];
        chaddr[..6].copy_from_slice(&CHADDR);
        let client_id = [&[0x01][..], &CHADDR].concat();
        let repr = Repr {
            op: Op::Request,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: XID,
            secs: 0,
            flags: 0,
            ciaddr: CLIENT,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            sname: &[0; 64],
            file: &[0; 128],
            options: vec![
                DhcpOption {
                    code: OptionCode::MessageType,
                    data: &[0x08],
                },
                DhcpOption {
                    code: OptionCode::ClientIdentifier,
                    data: &client_id,
                },
                DhcpOption {
                    code: OptionCode::HostName,
                    data: b"DESKTOP-L2TP",
                },
                DhcpOption {
                    code: OptionCode::VendorClassIdentifier,
                    data: b"MSFT 5.0",
                },
                DhcpOption {
                    code: OptionCode::ParameterRequestList,
                    data: &WINDOWS_PRL,
                },
            ],
        };
        let mut b = vec![0u8; repr.buffer_len().max(MIN_MESSAGE_LEN)];
        repr.emit(&mut b).unwrap();
        assert_eq!(b[OPTIONS_OFFSET - 4..OPTIONS_OFFSET], MAGIC_COOKIE);
        b
    }

    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

    fn config() -> InformConfig {
        InformConfig {
            server_address: SERVER,
            subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            routes: vec![
                (Ipv4Addr::new(192, 168, 10, 0), 24),
                (Ipv4Addr::new(172, 16, 0, 0), 12),
            ],
            domain: Some("corp.example".into()),
            dns: vec![
                Ipv4Addr::new(192, 168, 10, 53),
                Ipv4Addr::new(192, 168, 10, 54),
            ],
        }
    }

    /// Wraps a DHCP message in UDP and IPv4 with both checksums, as the client sends it.
    fn wrap(message: &[u8], src: Ipv4Addr, dst: Ipv4Addr, ports: (u16, u16)) -> Vec<u8> {
        let udp_repr = udp::Repr {
            src_port: ports.0,
            dst_port: ports.1,
            payload_len: message.len(),
        };
        let ip_repr = ipv4::Repr {
            src_addr: src,
            dst_addr: dst,
            protocol: Protocol::Udp,
            payload_len: udp_repr.buffer_len(),
            ttl: 128,
            dscp_ecn: 0,
            ident: 0x1234,
            dont_frag: false,
        };
        let mut packet = vec![0u8; 20 + udp_repr.buffer_len()];
        packet[28..].copy_from_slice(message);
        let pseudo = udp::PseudoHeader {
            src_addr: src,
            dst_addr: dst,
        };
        udp_repr.emit(&mut packet[20..], Some(pseudo)).unwrap();
        ip_repr.emit(&mut packet[..20]).unwrap();
        packet
    }

    fn request(message: &[u8]) -> Vec<u8> {
        wrap(
            message,
            CLIENT,
            Ipv4Addr::BROADCAST,
            (CLIENT_PORT, SERVER_PORT),
        )
    }

    /// Checks the IPv4 and UDP headers of a reply and returns its DHCP message.
    fn open(reply: &[u8]) -> Vec<u8> {
        let ip = ipv4::Packet::new_checked(reply).unwrap();
        let ip_repr = ipv4::Repr::parse(&ip).unwrap();
        assert_eq!(usize::from(ip.total_len()), reply.len());
        assert_eq!(ip_repr.src_addr, SERVER);
        assert_eq!(ip_repr.dst_addr, CLIENT);
        assert_eq!(ip_repr.protocol, Protocol::Udp);
        assert_eq!(ip_repr.ttl, REPLY_TTL);
        let pseudo = udp::PseudoHeader {
            src_addr: SERVER,
            dst_addr: CLIENT,
        };
        let datagram = udp::Packet::new_checked(ip.payload()).unwrap();
        assert_ne!(datagram.checksum(), 0);
        assert!(datagram.verify_checksum(pseudo));
        let udp_repr = udp::Repr::parse(&datagram, Some(pseudo)).unwrap();
        assert_eq!((udp_repr.src_port, udp_repr.dst_port), (67, 68));
        datagram.payload().to_vec()
    }

    fn codes(repr: &Repr<'_>) -> Vec<u8> {
        repr.options.iter().map(|o| u8::from(o.code)).collect()
    }

    #[test]
    fn answers_windows_inform() {
        let reply = answer_inform(&request(&windows_inform()), &config()).unwrap();
        let message = open(&reply);
        // Options 53, 54, 1, 6, 15, 121, 249, then End: longer than the BOOTP minimum.
        let used = OPTIONS_OFFSET + 3 + 6 + 6 + 10 + 14 + 17 + 17;
        assert_eq!(message.len(), used + 1);
        assert!(message.len() > MIN_MESSAGE_LEN);
        let p = Packet::new_checked(&message[..]).unwrap();
        let ack = Repr::parse(&p).unwrap();
        assert_eq!(ack.op, Op::Reply);
        assert_eq!((ack.htype, ack.hlen, ack.hops), (1, 6, 0));
        assert_eq!(ack.xid, XID);
        assert_eq!((ack.secs, ack.flags), (0, 0));
        assert_eq!(ack.ciaddr, CLIENT);
        // RFC 2131 §4.3.5: no 'yiaddr' and no lease time.
        assert_eq!(ack.yiaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(ack.siaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(ack.giaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(&ack.chaddr[..6], &CHADDR);
        assert!(ack.chaddr[6..].iter().all(|&b| b == 0));
        assert!(ack.sname.iter().chain(ack.file).all(|&b| b == 0));
        assert_eq!(ack.message_type(), Some(MessageType::Ack));
        assert_eq!(ack.option(OptionCode::LeaseTime), None);
        // Exactly these options, in this order.
        assert_eq!(codes(&ack), [53, 54, 1, 6, 15, 121, 249]);
        assert_eq!(
            ack.option(OptionCode::ServerIdentifier),
            Some(&[10, 99, 0, 1][..])
        );
        assert_eq!(
            ack.option(OptionCode::SubnetMask),
            Some(&[255, 255, 255, 0][..])
        );
        assert_eq!(
            ack.option(OptionCode::DomainNameServer),
            Some(&[192, 168, 10, 53, 192, 168, 10, 54][..])
        );
        assert_eq!(
            ack.option(OptionCode::DomainName),
            Some(&b"corp.example"[..])
        );
        let routes = [
            24, 192, 168, 10, 10, 99, 0, 1, // 192.168.10.0/24 via 10.99.0.1
            12, 172, 16, 10, 99, 0, 1, // 172.16.0.0/12 via 10.99.0.1
        ];
        assert_eq!(
            ack.option(OptionCode::ClasslessStaticRoute),
            Some(&routes[..])
        );
        assert_eq!(
            ack.option(OptionCode::MsClasslessStaticRoute),
            Some(&routes[..])
        );
        let decoded: Vec<_> = ClasslessRoutes::new(&routes).map(Result::unwrap).collect();
        assert_eq!(decoded[1].destination, Ipv4Addr::new(172, 16, 0, 0));
        assert_eq!(decoded[1].prefix_len, 12);
        assert_eq!(decoded[1].router, SERVER);
        assert_eq!(message[used], 0xff);
    }

    #[test]
    fn answers_inform_to_server_address_and_keeps_flags() {
        let mut message = windows_inform();
        message[10] = 0x80; // broadcast flag
        let packet = wrap(&message, CLIENT, SERVER, (CLIENT_PORT, SERVER_PORT));
        let reply = answer_inform(&packet, &config()).unwrap();
        let message = open(&reply);
        let p = Packet::new_checked(&message[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap().flags, 0x8000);
    }

    /// Replaces the Parameter Request List of the Windows INFORM.
    fn inform_with_prl(prl: Option<&[u8]>) -> Vec<u8> {
        let bytes = windows_inform();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let mut repr = Repr::parse(&p).unwrap();
        repr.options
            .retain(|o| o.code != OptionCode::ParameterRequestList);
        if let Some(data) = prl {
            repr.options.push(DhcpOption {
                code: OptionCode::ParameterRequestList,
                data,
            });
        }
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out).unwrap();
        out
    }

    fn ack_codes(message: &[u8], cfg: &InformConfig) -> Vec<u8> {
        let reply = answer_inform(&request(message), cfg).unwrap();
        let message = open(&reply);
        let p = Packet::new_checked(&message[..]).unwrap();
        codes(&Repr::parse(&p).unwrap())
    }

    #[test]
    fn honours_parameter_request_list() {
        let cfg = config();
        // Windows XP only knows option 249.
        assert_eq!(
            ack_codes(&inform_with_prl(Some(&[15, 249])), &cfg),
            [53, 54, 15, 249]
        );
        // Nothing we can provide: server identifier only.
        assert_eq!(ack_codes(&inform_with_prl(Some(&[44, 46])), &cfg), [53, 54]);
        // No list at all: everything configured.
        assert_eq!(
            ack_codes(&inform_with_prl(None), &cfg),
            [53, 54, 1, 6, 15, 121, 249]
        );
        // Requested but not configured: omitted (RFC 2131 §4.3.1).
        let bare = InformConfig::new(SERVER);
        assert_eq!(ack_codes(&windows_inform(), &bare), [53, 54]);
        let reply = answer_inform(&request(&windows_inform()), &bare).unwrap();
        let message = open(&reply);
        // Padded to the BOOTP minimum with zeros after End.
        assert_eq!(message.len(), MIN_MESSAGE_LEN);
        assert_eq!(message[OPTIONS_OFFSET + 9], 0xff);
        assert!(message[OPTIONS_OFFSET + 10..].iter().all(|&b| b == 0));
        assert_eq!(WINDOWS_PRL.len(), 14);
    }

    #[test]
    fn route_encoding_per_rfc3442() {
        let cfg = InformConfig {
            server_address: SERVER,
            routes: vec![
                (Ipv4Addr::new(0, 0, 0, 0), 0),
                (Ipv4Addr::new(10, 0, 0, 0), 8),
                (Ipv4Addr::new(10, 17, 0, 0), 16),
                (Ipv4Addr::new(10, 27, 129, 0), 24),
                (Ipv4Addr::new(10, 229, 0, 128), 25),
                (Ipv4Addr::new(10, 198, 122, 47), 32),
                // Skipped: not a prefix length.
                (Ipv4Addr::new(10, 0, 0, 0), 33),
            ],
            ..InformConfig::new(SERVER)
        };
        let reply = answer_inform(&request(&windows_inform()), &cfg).unwrap();
        let message = open(&reply);
        let p = Packet::new_checked(&message[..]).unwrap();
        let ack = Repr::parse(&p).unwrap();
        // The descriptors of the RFC 3442 table, each followed by router 10.99.0.1.
        let expected: Vec<u8> = [
            &[0][..],
            &[8, 10],
            &[16, 10, 17],
            &[24, 10, 27, 129],
            &[25, 10, 229, 0, 128],
            &[32, 10, 198, 122, 47],
        ]
        .iter()
        .flat_map(|d| d.iter().copied().chain(SERVER.octets()))
        .collect();
        assert_eq!(
            ack.option(OptionCode::ClasslessStaticRoute),
            Some(&expected[..])
        );
        assert_eq!(
            ack.option(OptionCode::MsClasslessStaticRoute),
            Some(&expected[..])
        );
    }

    #[test]
    fn long_route_list_is_split_at_route_boundaries() {
        // 40 /24 routes of 8 octets: 31 fit in 255 octets (248), 9 go to a second instance.
        let cfg = InformConfig {
            server_address: SERVER,
            routes: (0..40).map(|i| (Ipv4Addr::new(10, 1, i, 0), 24)).collect(),
            ..InformConfig::new(SERVER)
        };
        let reply = answer_inform(&request(&windows_inform()), &cfg).unwrap();
        let message = open(&reply);
        let p = Packet::new_checked(&message[..]).unwrap();
        let ack = Repr::parse(&p).unwrap();
        assert_eq!(codes(&ack), [53, 54, 121, 121, 249, 249]);
        let lens: Vec<_> = ack.options.iter().map(|o| o.data.len()).collect();
        assert_eq!(lens, [1, 4, 248, 72, 248, 72]);
        for opt in &ack.options[2..] {
            assert!(ClasslessRoutes::new(opt.data).all(|r| r.is_ok()));
        }
        let all: Vec<_> = ack.options[2..4]
            .iter()
            .flat_map(|o| ClasslessRoutes::new(o.data).map(Result::unwrap))
            .collect();
        assert_eq!(all.len(), 40);
        assert_eq!(all[39].destination, Ipv4Addr::new(10, 1, 39, 0));
    }

    #[test]
    fn ignores_other_message_types() {
        let cfg = config();
        for t in [1u8, 3, 4, 7] {
            // DISCOVER, REQUEST, DECLINE, RELEASE
            let mut m = windows_inform();
            m[OPTIONS_OFFSET + 2] = t;
            assert_eq!(answer_inform(&request(&m), &cfg), None, "type {t}");
        }
        // No message type at all: plain BOOTP.
        let mut m = windows_inform();
        m[OPTIONS_OFFSET..OPTIONS_OFFSET + 3].fill(0);
        assert_eq!(answer_inform(&request(&m), &cfg), None);
        // A BOOTREPLY carrying DHCPINFORM.
        let mut m = windows_inform();
        m[0] = 2;
        assert_eq!(answer_inform(&request(&m), &cfg), None);
        // Relayed.
        let mut m = windows_inform();
        m[24..28].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(answer_inform(&request(&m), &cfg), None);
    }

    #[test]
    fn ignores_ciaddr_mismatch() {
        let cfg = config();
        let m = windows_inform();
        let other = Ipv4Addr::new(10, 99, 0, 3);
        let packet = wrap(&m, other, Ipv4Addr::BROADCAST, (CLIENT_PORT, SERVER_PORT));
        assert_eq!(answer_inform(&packet, &cfg), None);
        // ciaddr 0.0.0.0 from 0.0.0.0.
        let mut m = windows_inform();
        m[12..16].fill(0);
        let packet = wrap(
            &m,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            (CLIENT_PORT, SERVER_PORT),
        );
        assert_eq!(answer_inform(&packet, &cfg), None);
    }

    #[test]
    fn ignores_wrong_addressing() {
        let cfg = config();
        let m = windows_inform();
        // Wrong ports.
        for ports in [(68, 68), (67, 67), (1234, 67), (68, 1701)] {
            let packet = wrap(&m, CLIENT, Ipv4Addr::BROADCAST, ports);
            assert_eq!(answer_inform(&packet, &cfg), None, "{ports:?}");
        }
        // Unicast to another DHCP server.
        let packet = wrap(
            &m,
            CLIENT,
            Ipv4Addr::new(192, 168, 10, 5),
            (CLIENT_PORT, SERVER_PORT),
        );
        assert_eq!(answer_inform(&packet, &cfg), None);
        // Not UDP.
        let mut packet = request(&m);
        packet[9] = 6;
        packet[10..12].fill(0);
        let mut ip = ipv4::Packet::new_unchecked(&mut packet[..]);
        ip.fill_checksum();
        assert_eq!(answer_inform(&packet, &cfg), None);
    }

    #[test]
    fn ignores_bad_checksums_and_fragments() {
        let cfg = config();
        let good = request(&windows_inform());
        assert!(answer_inform(&good, &cfg).is_some());
        // IPv4 header checksum.
        let mut b = good.clone();
        b[11] ^= 1;
        assert_eq!(answer_inform(&b, &cfg), None);
        // UDP checksum.
        let mut b = good.clone();
        b[27] ^= 1;
        assert_eq!(answer_inform(&b, &cfg), None);
        // UDP checksum zero ("none") is accepted.
        let mut b = good.clone();
        b[26..28].fill(0);
        assert!(answer_inform(&b, &cfg).is_some());
        // More-fragments set.
        let mut b = good.clone();
        b[6] |= 0x20;
        let mut ip = ipv4::Packet::new_unchecked(&mut b[..]);
        ip.fill_checksum();
        assert_eq!(answer_inform(&b, &cfg), None);
    }

    #[test]
    fn malformed_requests_return_none() {
        let cfg = config();
        let good = windows_inform();
        // Zero-length buffer, and truncated IPv4 and UDP headers.
        assert_eq!(answer_inform(&[], &cfg), None);
        let packet = request(&good);
        assert_eq!(answer_inform(&packet[..19], &cfg), None);
        assert_eq!(answer_inform(&packet[..27], &cfg), None);
        assert_eq!(answer_inform(&packet[..packet.len() - 1], &cfg), None);
        // A truncated DHCP header, with consistent IPv4 and UDP lengths.
        assert_eq!(answer_inform(&request(&good[..239]), &cfg), None);
        assert_eq!(answer_inform(&request(&[]), &cfg), None);
        // A bad magic cookie.
        let mut m = good.clone();
        m[239] = 0;
        assert_eq!(answer_inform(&request(&m), &cfg), None);
        // An option running past the end.
        let mut m = good.clone();
        m.truncate(OPTIONS_OFFSET + 3);
        m.extend([0x0c, 0x20, b'x']);
        assert_eq!(answer_inform(&request(&m), &cfg), None);
        // A two-octet message type.
        let mut m = good.clone();
        m[OPTIONS_OFFSET + 1] = 2;
        assert_eq!(answer_inform(&request(&m), &cfg), None);
        // The minimal INFORM (header, cookie, message type, End) is still answered.
        let mut m = good[..OPTIONS_OFFSET].to_vec();
        m.extend([0x35, 0x01, 0x08, 0xff]);
        assert!(answer_inform(&request(&m), &cfg).is_some());
    }

    #[test]
    fn domain_limits() {
        let mut cfg = config();
        cfg.domain = Some(String::new());
        assert_eq!(ack_codes(&windows_inform(), &cfg), [53, 54, 1, 6, 121, 249]);
        cfg.domain = Some("a".repeat(256));
        assert_eq!(ack_codes(&windows_inform(), &cfg), [53, 54, 1, 6, 121, 249]);
        cfg.domain = Some("a".repeat(255));
        assert_eq!(
            ack_codes(&windows_inform(), &cfg),
            [53, 54, 1, 6, 15, 121, 249]
        );
    }

    #[test]
    fn many_dns_servers_are_split() {
        let cfg = InformConfig {
            server_address: SERVER,
            dns: (0..70).map(|i| Ipv4Addr::new(192, 168, 0, i)).collect(),
            ..InformConfig::new(SERVER)
        };
        let reply = answer_inform(&request(&windows_inform()), &cfg).unwrap();
        let message = open(&reply);
        let p = Packet::new_checked(&message[..]).unwrap();
        let ack = Repr::parse(&p).unwrap();
        let lens: Vec<_> = ack
            .options
            .iter()
            .map(|o| (u8::from(o.code), o.data.len()))
            .collect();
        assert_eq!(lens, [(53, 1), (54, 4), (6, 252), (6, 28)]);
    }
}
