//! Unit tests of the data plane against hand-built SAs and tables.

use std::time::Duration;

use rand::SeedableRng;

use super::fragment::fragment;
use super::table::*;
use super::*;
use crate::test_support::{sa, tuple};

fn assert_send_sync<T: Send + Sync + Clone>() {}

/// A fixed origin of virtual time for the whole test binary.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

#[test]
fn handle_is_send_sync_clone() {
    assert_send_sync::<DataPlane>();
}

const KEY: l2tp::SessionKey = l2tp::SessionKey {
    tunnel: 7,
    session: 9,
};
const ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// An IPv4 packet of `len` bytes from `src` to 192.168.100.5 (protocol `proto`).
fn ipv4(src: Ipv4Addr, len: usize, proto: u8, df: bool) -> Vec<u8> {
    let mut ip = vec![0u8; len];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
    if df {
        ip[6] = 0x40;
    }
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&[192, 168, 100, 5]);
    let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut ip[..]);
    p.fill_checksum();
    ip
}

/// What the client sends on `client_sa`: UDP 1701 → 1701, an L2TP data message for `KEY`
/// carrying `ppp` (protocol + payload).
fn client_packet(client_sa: &esp::Sa, ppp: &[u8], rng: &mut rand_chacha::ChaCha20Rng) -> Vec<u8> {
    let mut inner = Vec::new();
    let udp_len = u16::try_from(8 + 6 + 2 + ppp.len()).unwrap();
    for v in [1701u16, 1701, udp_len, 0, 0x0002, KEY.tunnel, KEY.session] {
        inner.extend_from_slice(&v.to_be_bytes());
    }
    inner.extend_from_slice(&[0xff, 0x03]);
    inner.extend_from_slice(ppp);
    let head = client_sa.overhead_before();
    let mut buf = vec![0; client_sa.sealed_len(inner.len())];
    buf[head..head + inner.len()].copy_from_slice(&inner);
    let sealed = client_sa
        .seal(&mut buf, inner.len(), wire::ip::Protocol::Udp, rng)
        .unwrap();
    buf.truncate(sealed.len);
    buf
}

fn ip_frame(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0x00, 0x21];
    f.extend_from_slice(ip);
    f
}

struct Fixture {
    publisher: Publisher,
    plane: DataPlane,
    inbound: Arc<esp::Sa>,
    outbound: Arc<esp::Sa>,
    client: esp::Sa,
    counters: Arc<SessionCounters>,
    activity: Arc<Activity>,
    rng: rand_chacha::ChaCha20Rng,
    policer: Option<Arc<police::Policer>>,
    routes: Arc<[ipnetwork::Ipv4Network]>,
}

fn spec(f: &Fixture, mtu: u16, mss: Option<u16>) -> PeerSpec {
    PeerSpec {
        id: 1,
        tuple: tuple(),
        inbound: vec![(Arc::clone(&f.inbound), true)],
        outbound: Some((Arc::clone(&f.outbound), f.inbound.spi())),
        sessions: vec![SessionSpec {
            key: KEY,
            addr: ADDR,
            framing: l2tp::DataFraming {
                peer_tunnel: 3,
                peer_session: 4,
                peer_port: 1701,
                length_field: true,
            },
            mtu,
            mss,
            counters: Arc::clone(&f.counters),
            policer: f.policer.clone(),
            routes: Arc::clone(&f.routes),
        }],
        activity: Arc::clone(&f.activity),
    }
}

fn fixture(mtu: u16, mss: Option<u16>) -> Fixture {
    let publisher = Publisher::new(4500, SERVER);
    let plane = publisher.handle();
    let mut f = Fixture {
        publisher,
        plane,
        inbound: Arc::new(sa(0x1001, esp::Direction::Inbound, 1)),
        outbound: Arc::new(sa(0x2001, esp::Direction::Outbound, 2)),
        client: sa(0x1001, esp::Direction::Outbound, 1),
        counters: Arc::default(),
        activity: Arc::default(),
        rng: rand_chacha::ChaCha20Rng::from_seed([1; 32]),
        policer: None,
        routes: Arc::new([]),
    };
    let s = spec(&f, mtu, mss);
    f.publisher.publish(vec![(1, Some(s))]);
    f
}

#[test]
fn empty_table_drops_esp_and_passes_ike_on() {
    let publisher = Publisher::new(4500, SERVER);
    let dp = publisher.handle();
    let t = tuple();
    let mut esp = vec![0, 0, 1, 0, 0, 0, 0, 1, 0xaa, 0xbb];
    assert_eq!(
        dp.inbound_udp(t0(), t.local, t.remote, &mut esp),
        Inbound::Drop
    );
    let mut ike = vec![0u8; 4 + 28];
    let before = ike.clone();
    assert_eq!(
        dp.inbound_udp(t0(), t.local, t.remote, &mut ike),
        Inbound::Ike
    );
    assert_eq!(ike, before, "IKE is left untouched");
    let port500: SocketAddr = "198.51.100.1:500".parse().unwrap();
    assert_eq!(
        dp.inbound_udp(t0(), port500, t.remote, &mut esp),
        Inbound::Ike
    );
    assert_eq!(
        dp.inbound_udp(t0(), t.local, t.remote, &mut [0xff]),
        Inbound::Drop
    );
    let mut batch = Batch::new();
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
    assert_eq!(
        dp.outbound(t0(), &[0x60, 0, 0, 0], &mut batch, &mut rng),
        Outbound::Drop
    );
    let ip = ipv4(Ipv4Addr::new(192, 168, 100, 5), 20, 17, false);
    let mut back = ip.clone();
    back[12..16].copy_from_slice(&[192, 168, 100, 5]);
    back[16..20].copy_from_slice(&ADDR.octets());
    assert_eq!(
        dp.outbound(t0(), &back, &mut batch, &mut rng),
        Outbound::Drop
    );
    assert!(batch.is_empty());
    let s = dp.stats();
    assert_eq!((s.esp_dropped, s.ike, s.no_session), (1, 2, 1));
}

#[test]
fn established_ipv4_goes_to_the_tun_and_control_to_the_owner() {
    let mut f = fixture(1400, None);
    let t = tuple();
    let ip = ipv4(ADDR, 60, 17, false);
    let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
    let Inbound::Tun(r) = f.plane.inbound_udp(t0(), t.local, t.remote, &mut p) else {
        panic!("IPv4 from the session's address goes to the TUN");
    };
    assert_eq!(&p[r], &ip[..]);
    assert_eq!(f.counters.inbound.get(), (1, 60));
    assert!(f.activity.take(), "a sign of life was noted");
    // LCP Echo-Request: the control plane's.
    let mut lcp = client_packet(&f.client, &[0xc0, 0x21, 9, 1, 0, 8, 0, 0, 0, 0], &mut f.rng);
    let Inbound::ToOwner(h) = f.plane.inbound_udp(t0(), t.local, t.remote, &mut lcp) else {
        panic!("LCP goes to the control plane");
    };
    assert_eq!(h.reason, HandoffReason::Control);
    assert_eq!(&lcp[h.l2tp.clone()][..2], &[0x00, 0x02], "the L2TP message");
    // Spoofed source: dropped and counted.
    let spoof = ipv4(Ipv4Addr::new(10, 99, 0, 3), 40, 17, false);
    let mut p = client_packet(&f.client, &ip_frame(&spoof), &mut f.rng);
    assert_eq!(
        f.plane.inbound_udp(t0(), t.local, t.remote, &mut p),
        Inbound::Drop
    );
    assert_eq!(f.plane.stats().spoofed, 1);
    // A replay of an accepted packet.
    let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
    let copy = p.clone();
    assert!(matches!(
        f.plane.inbound_udp(t0(), t.local, t.remote, &mut p),
        Inbound::Tun(_)
    ));
    let mut replay = copy;
    assert_eq!(
        f.plane.inbound_udp(t0(), t.local, t.remote, &mut replay),
        Inbound::Drop
    );
}

#[test]
fn dhcpinform_goes_to_the_owner_even_for_an_established_session() {
    let mut f = fixture(1400, None);
    let t = tuple();
    let mut ip = ipv4(ADDR, 28 + 240, 17, false);
    ip[20..22].copy_from_slice(&68u16.to_be_bytes());
    ip[22..24].copy_from_slice(&67u16.to_be_bytes());
    ip[24..26].copy_from_slice(&248u16.to_be_bytes());
    let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
    let Inbound::ToOwner(h) = f.plane.inbound_udp(t0(), t.local, t.remote, &mut p) else {
        panic!("DHCP from the client goes to the control plane");
    };
    assert_eq!(h.reason, HandoffReason::Dhcp);
    assert_eq!(f.plane.stats().to_tun, 0, "never written to the TUN");
}

#[test]
fn a_verified_packet_from_a_new_port_is_handed_over_as_moved_and_a_forgery_is_dropped() {
    let mut f = fixture(1400, None);
    let t = tuple();
    let new = FourTuple {
        local: t.local,
        remote: "203.0.113.7:40001".parse().unwrap(),
    };
    let ip = ipv4(ADDR, 40, 17, false);
    let mut forged = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
    let n = forged.len();
    forged[n - 1] ^= 1;
    assert_eq!(
        f.plane
            .inbound_udp(t0(), new.local, new.remote, &mut forged),
        Inbound::Drop
    );
    let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
    let Inbound::ToOwner(h) = f.plane.inbound_udp(t0(), new.local, new.remote, &mut p) else {
        panic!("a verified packet from a new 4-tuple goes to the control plane");
    };
    assert_eq!(h.reason, HandoffReason::Moved { from: t });
    // Another local port never qualifies.
    let other: SocketAddr = "198.51.100.1:4501".parse().unwrap();
    let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
    let mut dp = f.plane.clone();
    std::mem::swap(&mut dp, &mut f.plane);
    assert_eq!(
        dp.inbound(
            t0(),
            FourTuple {
                local: other,
                remote: new.remote
            },
            &mut p
        ),
        Inbound::Drop
    );
}

/// After a peer moved to a new NAT mapping, a delayed packet from the old one (an older
/// sequence number the window still admits) must not move it back.
#[test]
fn a_late_packet_from_the_old_mapping_does_not_move_the_peer_back() {
    let mut f = fixture(1400, None);
    let old = tuple();
    let new = FourTuple {
        local: old.local,
        remote: "203.0.113.7:40001".parse().unwrap(),
    };
    let ip = ipv4(ADDR, 40, 17, false);
    let mut late = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
    let mut first = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
    let Inbound::ToOwner(h) = f.plane.inbound_udp(t0(), new.local, new.remote, &mut first) else {
        panic!("the newest packet from a new mapping is handed over");
    };
    assert_eq!(h.reason, HandoffReason::Moved { from: old });
    // The control plane moved the peer and republished.
    f.inbound.rebind(new).unwrap();
    let mut moved = spec(&f, 1400, None);
    moved.tuple = new;
    f.publisher.publish(vec![(1, Some(moved))]);
    let dropped = f.plane.stats().esp_dropped;
    assert_eq!(
        f.plane.inbound_udp(t0(), old.local, old.remote, &mut late),
        Inbound::Drop
    );
    assert_eq!(f.plane.stats().esp_dropped, dropped + 1);
}

/// The client uses a rekeyed SA before the control plane switched to it: the data plane
/// carries the traffic and notes the first use once.
#[test]
fn first_use_of_a_rekeyed_sa_is_carried_and_noted_once() {
    let mut f = fixture(1400, None);
    let new_in = Arc::new(sa(0x1002, esp::Direction::Inbound, 3));
    let client2 = sa(0x1002, esp::Direction::Outbound, 3);
    let mut s = spec(&f, 1400, None);
    s.inbound.push((Arc::clone(&new_in), false));
    f.publisher.publish(vec![(1, Some(s))]);
    let _ = f.publisher.take_notes();
    let t = tuple();
    let ip = ipv4(ADDR, 40, 17, false);
    for _ in 0..3 {
        let mut p = client_packet(&client2, &ip_frame(&ip), &mut f.rng);
        assert!(matches!(
            f.plane.inbound_udp(t0(), t.local, t.remote, &mut p),
            Inbound::Tun(_)
        ));
    }
    assert!(f.plane.notes_pending());
    let notes = f.publisher.take_notes();
    assert_eq!(notes.first_use, vec![(1, 0x1002)]);
    assert!(!f.plane.notes_pending());
}

#[test]
fn outbound_seals_for_the_session_and_publishing_the_same_part_swaps_nothing() {
    let mut f = fixture(1400, None);
    let publishes = f.plane.stats().publishes;
    let s = spec(&f, 1400, None);
    f.publisher.publish(vec![(1, Some(s))]);
    assert_eq!(f.plane.stats().publishes, publishes, "nothing changed");
    let mut back = ipv4(Ipv4Addr::new(192, 168, 100, 5), 100, 17, false);
    back[16..20].copy_from_slice(&ADDR.octets());
    let mut batch = Batch::new();
    assert_eq!(
        f.plane.outbound(t0(), &back, &mut batch, &mut f.rng),
        Outbound::Sealed(1)
    );
    let (t, bytes) = batch.iter().next().unwrap();
    assert_eq!(
        t,
        Transmit::Udp {
            local: tuple().local,
            remote: tuple().remote
        }
    );
    assert_eq!(bytes[..4], 0x2001u32.to_be_bytes());
    assert_eq!(f.counters.outbound.get(), (1, 100));
    // The peer leaves: nothing is sealed for it any more.
    f.publisher.publish(vec![(1, None)]);
    assert_eq!(f.plane.table_len(), (0, 0));
    batch.clear();
    assert_eq!(
        f.plane.outbound(t0(), &back, &mut batch, &mut f.rng),
        Outbound::Drop
    );
}

#[test]
fn too_big_with_df_gets_icmp_and_without_df_is_fragmented() {
    let mut f = fixture(576, None);
    let mut big = ipv4(Ipv4Addr::new(192, 168, 100, 5), 1000, 17, true);
    big[16..20].copy_from_slice(&ADDR.octets());
    let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut big[..]);
    p.fill_checksum();
    let mut batch = Batch::new();
    assert_eq!(
        f.plane.outbound(t0(), &big, &mut batch, &mut f.rng),
        Outbound::TooBig
    );
    let (t, icmp) = batch.iter().next().unwrap();
    assert_eq!(t, Transmit::Tun);
    let v = wire::ip::ipv4::Packet::new_checked(icmp).unwrap();
    assert_eq!(v.dst_addr(), Ipv4Addr::new(192, 168, 100, 5));
    assert_eq!(v.src_addr(), SERVER);
    assert_eq!(v.protocol(), IpProtocol::Icmp);
    assert_eq!(
        &v.payload()[..2],
        &[3, 4],
        "destination unreachable, fragmentation needed"
    );
    assert_eq!(&v.payload()[6..8], &576u16.to_be_bytes(), "next-hop MTU");
    // Without DF: fragments that each fit.
    let mut big = ipv4(Ipv4Addr::new(192, 168, 100, 5), 1000, 17, false);
    big[16..20].copy_from_slice(&ADDR.octets());
    let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut big[..]);
    p.fill_checksum();
    batch.clear();
    assert_eq!(
        f.plane.outbound(t0(), &big, &mut batch, &mut f.rng),
        Outbound::Sealed(2)
    );
    let (packets, bytes) = f.counters.outbound.get();
    assert_eq!(packets, 2);
    assert!(bytes > 1000, "each fragment carries its own header");
    assert_eq!(f.plane.stats().fragmented, 1);
}

/// RFC 791 §3.2: fragments fit, carry the right offsets and flags and valid checksums,
/// reassemble to the original data, and only "copied" options go past the first.
#[test]
fn fragments_reassemble_and_copy_only_copied_options() {
    // A 24-byte header holding one 4-byte option with the copied flag (type 0x83).
    let mut ip = vec![0u8; 24 + 1000];
    ip[0] = 0x46;
    ip[2..4].copy_from_slice(&1024u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[192, 168, 100, 5]);
    ip[16..20].copy_from_slice(&ADDR.octets());
    ip[20..24].copy_from_slice(&[0x83, 4, 0xaa, 0xbb]);
    for (i, b) in ip[24..].iter_mut().enumerate() {
        *b = u8::try_from(i % 251).unwrap();
    }
    let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut ip[..]);
    p.fill_checksum();
    let mut frags = Vec::new();
    assert!(fragment(&ip, 400, |f| frags.push(f.to_vec())));
    assert_eq!(frags.len(), 3);
    let mut data = vec![0u8; 1000];
    for (i, f) in frags.iter().enumerate() {
        let v = wire::ip::ipv4::Packet::new_checked(&f[..]).unwrap();
        assert!(f.len() <= 400 && v.verify_checksum());
        assert_eq!(v.more_frags(), i + 1 < frags.len());
        assert_eq!(
            v.options(),
            &[0x83, 4, 0xaa, 0xbb],
            "the copied option goes everywhere"
        );
        let at = usize::from(v.frag_offset()) * 8;
        data[at..at + v.payload().len()].copy_from_slice(v.payload());
    }
    assert_eq!(&data[..], &ip[24..]);
    // A non-copied option stays in the first fragment only.
    ip[20] = 0x07;
    let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut ip[..]);
    p.fill_checksum();
    frags.clear();
    assert!(fragment(&ip, 400, |f| frags.push(f.to_vec())));
    let second = wire::ip::ipv4::Packet::new_checked(&frags[1][..]).unwrap();
    assert!(second.options().is_empty());
    // DF set: not ours to cut.
    ip[6] = 0x40;
    assert!(!fragment(&ip, 400, |_| panic!("no fragment for DF")));
}

#[test]
fn mss_is_clamped_both_ways() {
    let mut f = fixture(1400, Some(1360));
    // A SYN from the client with MSS 1460.
    let mut syn = ipv4(ADDR, 44, 6, true);
    syn[32] = 0x60; // data offset 6 words
    syn[33] = 0x02; // SYN
    syn[40..44].copy_from_slice(&[2, 4, 0x05, 0xb4]);
    let t = tuple();
    let mut p = client_packet(&f.client, &ip_frame(&syn), &mut f.rng);
    let Inbound::Tun(r) = f.plane.inbound_udp(t0(), t.local, t.remote, &mut p) else {
        panic!("SYN goes to the TUN");
    };
    assert_eq!(&p[r.start + 42..r.start + 44], &1360u16.to_be_bytes());
    assert_eq!(f.plane.stats().mss_clamped, 1);
    // The SYN-ACK from the LAN host, MSS 1460: sealed with 1360.
    let mut synack = ipv4(Ipv4Addr::new(192, 168, 100, 5), 44, 6, true);
    synack[16..20].copy_from_slice(&ADDR.octets());
    synack[32] = 0x60;
    synack[33] = 0x12; // SYN + ACK
    synack[40..44].copy_from_slice(&[2, 4, 0x05, 0xb4]);
    let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut synack[..]);
    p.fill_checksum();
    let mut batch = Batch::new();
    assert_eq!(
        f.plane.outbound(t0(), &synack, &mut batch, &mut f.rng),
        Outbound::Sealed(1)
    );
    assert_eq!(f.plane.stats().mss_clamped, 2);
    // What the client decrypts carries the clamped MSS.
    let (_, sealed) = batch.iter().next().unwrap();
    let mut esp = sealed.to_vec();
    let client_in = sa(0x2001, esp::Direction::Inbound, 2);
    let opened = client_in.open(&mut esp).unwrap();
    let plain = &esp[opened.payload];
    // inner UDP 8, L2TP data header with length 8 (flags, length, tunnel, session), PPP 4.
    let tcp_mss = 8 + 8 + 4 + 20 + 22;
    assert_eq!(&plain[tcp_mss..tcp_mss + 2], &1360u16.to_be_bytes());
}

/// All fragments or none: when the outbound SA refuses a later fragment (here its hard packet
/// lifetime, RFC 4301 §4.4.2.1, runs out after one), nothing of the datagram is sent.
#[test]
fn a_datagram_is_sent_whole_or_not_at_all() {
    let mut f = fixture(576, None);
    let t = tuple();
    let one_packet = esp::Sa::new(esp::SaParams {
        spi: 0x2002,
        direction: esp::Direction::Outbound,
        cipher: crypto::cipher::CipherAlg::Aes128,
        enc_key: crypto::Secret::from_slice(&[9; 16]),
        integ: crypto::integ::IntegAlg::HmacSha1_96,
        auth_key: crypto::Secret::from_slice(&[9; 20]),
        encap: esp::Encap::Udp {
            local: t.local,
            remote: t.remote,
        },
        peer: t,
        lifetime: esp::Lifetime {
            hard_packets: Some(1),
            ..esp::Lifetime::UNLIMITED
        },
    })
    .unwrap();
    f.outbound = Arc::new(one_packet);
    let s = spec(&f, 576, None);
    f.publisher.publish(vec![(1, Some(s))]);
    let mut big = ipv4(Ipv4Addr::new(192, 168, 100, 5), 1000, 17, false);
    big[16..20].copy_from_slice(&ADDR.octets());
    let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut big[..]);
    p.fill_checksum();
    let mut batch = Batch::new();
    assert_eq!(
        f.plane.outbound(t0(), &big, &mut batch, &mut f.rng),
        Outbound::Drop
    );
    assert!(batch.is_empty(), "no lone first fragment");
}

/// A fragment whose pieces would end past the 13-bit offset field is not cut (RFC 791 §3.1).
#[test]
fn fragment_offsets_never_wrap() {
    let mut ip = ipv4(Ipv4Addr::new(192, 168, 100, 5), 1000, 17, false);
    ip[6..8].copy_from_slice(&0x1ff0u16.to_be_bytes()); // offset 0x1ff0 * 8
    let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut ip[..]);
    p.fill_checksum();
    assert!(!fragment(&ip, 576, |_| panic!(
        "no fragment past the offset field"
    )));
}

/// Publishes the fixture's session again with `limit` (buckets full at `t0()`).
fn limit(f: &mut Fixture, mtu: u16, up: u64, down: u64) {
    let limit = config::RateLimit {
        up: std::num::NonZeroU64::new(up),
        down: std::num::NonZeroU64::new(down),
    };
    f.policer = police::Policer::new(limit, t0()).map(Arc::new);
    let s = spec(f, mtu, None);
    f.publisher.publish(vec![(1, Some(s))]);
}

/// Offers 1000-byte IPv4 packets at `offered` bits per second for `secs` of virtual time,
/// `up` from the client or else to it; returns the bits per second delivered.
fn offer(f: &mut Fixture, up: bool, offered: u64, secs: u64) -> u64 {
    let t = tuple();
    let gap = Duration::from_nanos(1000 * 8 * 1_000_000_000 / offered);
    let mut back = ipv4(Ipv4Addr::new(192, 168, 100, 5), 1000, 17, false);
    back[16..20].copy_from_slice(&ADDR.octets());
    let ip = ipv4(ADDR, 1000, 17, false);
    let (mut at, end) = (t0(), t0() + Duration::from_secs(secs));
    let mut delivered = 0u64;
    let mut batch = Batch::new();
    while at < end {
        if up {
            let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
            if let Inbound::Tun(r) = f.plane.inbound_udp(at, t.local, t.remote, &mut p) {
                delivered += r.len() as u64;
            }
        } else {
            batch.clear();
            if f.plane.outbound(at, &back, &mut batch, &mut f.rng) == Outbound::Sealed(1) {
                delivered += back.len() as u64;
            }
        }
        at += gap;
    }
    delivered * 8 / secs
}

#[test]
fn rate_limits_police_each_direction_to_its_rate() {
    let mut f = fixture(1400, None);
    limit(&mut f, 1400, 2_000_000, 5_000_000);
    // Three times the limit for ten seconds: the rate plus at most the 200 ms burst.
    let up = offer(&mut f, true, 6_000_000, 10);
    assert!((2_000_000..2_100_000).contains(&up), "up {up}");
    let down = offer(&mut f, false, 15_000_000, 10);
    assert!((5_000_000..5_150_000).contains(&down), "down {down}");
    let s = f.plane.stats();
    let (_, out_bytes) = f.counters.outbound.get();
    assert_eq!(
        out_bytes * 8 / 10,
        down,
        "only what was sealed is counted as traffic"
    );
    let policed_in = f.counters.inbound.policed.load(Ordering::Relaxed);
    let policed_out = f.counters.outbound.policed.load(Ordering::Relaxed);
    assert!(
        policed_in > 4_000 && policed_out > 10_000,
        "{policed_in} {policed_out}"
    );
    assert_eq!(s.policed, policed_in + policed_out);
}

#[test]
fn rate_limits_leave_traffic_below_them_and_unlimited_ways_alone() {
    let mut f = fixture(1400, None);
    limit(&mut f, 1400, 0, 5_000_000);
    // Upload is not limited: all of 20 Mbit/s goes through.
    let up = offer(&mut f, true, 20_000_000, 2);
    assert!(up >= 19_900_000, "up {up}");
    // Download below its limit is not touched.
    let down = offer(&mut f, false, 4_000_000, 2);
    assert!(down >= 3_990_000, "down {down}");
    assert_eq!(f.plane.stats().policed, 0);
}

#[test]
fn a_packet_answered_with_icmp_is_not_charged() {
    let mut f = fixture(1000, None);
    limit(&mut f, 1000, 0, 64_000);
    let mut big = ipv4(Ipv4Addr::new(192, 168, 100, 5), 1400, 17, true);
    big[16..20].copy_from_slice(&ADDR.octets());
    let mut batch = Batch::new();
    for _ in 0..100 {
        batch.clear();
        assert_eq!(
            f.plane.outbound(t0(), &big, &mut batch, &mut f.rng),
            Outbound::TooBig
        );
    }
    assert_eq!(f.plane.stats().policed, 0);
}

fn net(s: &str) -> ipnetwork::Ipv4Network {
    s.parse().unwrap()
}

/// A packet from the LAN to `dst`.
fn to(dst: Ipv4Addr) -> Vec<u8> {
    let mut p = ipv4(Ipv4Addr::new(192, 168, 100, 5), 100, 17, false);
    p[12..16].copy_from_slice(&[172, 20, 0, 9]);
    p[16..20].copy_from_slice(&dst.octets());
    let mut v = wire::ip::ipv4::Packet::new_unchecked(&mut p[..]);
    v.fill_checksum();
    p
}

/// The SPI of what `outbound` sealed for `dst`, or `None` when it dropped the packet.
fn sealed_spi(f: &mut Fixture, dst: Ipv4Addr) -> Option<u32> {
    let mut batch = Batch::new();
    match f.plane.outbound(t0(), &to(dst), &mut batch, &mut f.rng) {
        Outbound::Sealed(1) => {
            let (_, bytes) = batch.iter().next()?;
            Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
        }
        _ => None,
    }
}

#[test]
fn routed_networks_go_to_their_session_by_longest_prefix_after_the_exact_address() {
    let mut f = fixture(1400, None);
    f.routes = Arc::new([net("192.168.0.0/16"), net("172.16.4.0/22")]);
    let s = spec(&f, 1400, None);
    // A second peer: address 10.99.0.3, the more specific 192.168.50.0/24 behind it.
    const ADDR2: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 3);
    let mut other = spec(&f, 1400, None);
    other.id = 2;
    other.inbound = vec![(Arc::new(sa(0x1002, esp::Direction::Inbound, 3)), true)];
    other.outbound = Some((Arc::new(sa(0x2002, esp::Direction::Outbound, 4)), 0x1002));
    other.activity = Arc::default();
    other.sessions[0].addr = ADDR2;
    other.sessions[0].counters = Arc::default();
    other.sessions[0].routes = Arc::new([net("192.168.50.0/24")]);
    f.publisher
        .publish(vec![(1, Some(s)), (2, Some(other.clone()))]);

    assert_eq!(sealed_spi(&mut f, ADDR), Some(0x2001), "the exact address");
    assert_eq!(sealed_spi(&mut f, ADDR2), Some(0x2002));
    assert_eq!(
        sealed_spi(&mut f, Ipv4Addr::new(192, 168, 7, 1)),
        Some(0x2001)
    );
    assert_eq!(
        sealed_spi(&mut f, Ipv4Addr::new(192, 168, 50, 7)),
        Some(0x2002),
        "the longer prefix wins"
    );
    assert_eq!(
        sealed_spi(&mut f, Ipv4Addr::new(172, 16, 7, 255)),
        Some(0x2001)
    );
    assert_eq!(sealed_spi(&mut f, Ipv4Addr::new(172, 16, 8, 0)), None);
    assert_eq!(sealed_spi(&mut f, Ipv4Addr::new(10, 99, 0, 4)), None);
    assert_eq!(f.plane.stats().no_session, 2);

    // Peer 2 leaves: its network falls back to the shorter one of peer 1.
    f.publisher.publish(vec![(2, None)]);
    assert_eq!(
        sealed_spi(&mut f, Ipv4Addr::new(192, 168, 50, 7)),
        Some(0x2001)
    );
    // Peer 1's session loses its routes: only its own address is left.
    f.routes = Arc::new([]);
    let s = spec(&f, 1400, None);
    f.publisher.publish(vec![(1, Some(s))]);
    assert_eq!(sealed_spi(&mut f, Ipv4Addr::new(192, 168, 7, 1)), None);
    assert_eq!(sealed_spi(&mut f, ADDR), Some(0x2001));
    assert!(f.plane.shared.routes.load().is_empty());
}

#[test]
fn a_route_handed_from_one_session_to_another_in_one_publish_stays_with_the_new_one() {
    let mut f = fixture(1400, None);
    f.routes = Arc::new([net("192.168.50.0/24")]);
    let s = spec(&f, 1400, None);
    f.publisher.publish(vec![(1, Some(s))]);
    let mut other = spec(&f, 1400, None);
    other.id = 2;
    other.inbound = vec![(Arc::new(sa(0x1002, esp::Direction::Inbound, 3)), true)];
    other.outbound = Some((Arc::new(sa(0x2002, esp::Direction::Outbound, 4)), 0x1002));
    other.sessions[0].addr = Ipv4Addr::new(10, 99, 0, 3);
    // The new holder is published before the old one's removal.
    f.publisher.publish(vec![(2, Some(other)), (1, None)]);
    assert_eq!(
        sealed_spi(&mut f, Ipv4Addr::new(192, 168, 50, 1)),
        Some(0x2002)
    );
}

#[test]
fn a_client_may_send_from_its_routed_networks_and_nowhere_else() {
    let mut f = fixture(1400, None);
    f.routes = Arc::new([net("192.168.50.0/24")]);
    let s = spec(&f, 1400, None);
    f.publisher.publish(vec![(1, Some(s))]);
    let t = tuple();
    for (src, ok) in [
        (ADDR, true),
        (Ipv4Addr::new(192, 168, 50, 9), true),
        (Ipv4Addr::new(192, 168, 50, 255), true),
        (Ipv4Addr::new(192, 168, 51, 1), false),
        (Ipv4Addr::new(10, 99, 0, 3), false),
    ] {
        let ip = ipv4(src, 60, 17, false);
        let mut p = client_packet(&f.client, &ip_frame(&ip), &mut f.rng);
        let got = f.plane.inbound_udp(t0(), t.local, t.remote, &mut p);
        assert_eq!(matches!(got, Inbound::Tun(_)), ok, "{src}: {got:?}");
    }
    assert_eq!(f.plane.stats().spoofed, 2);
    assert_eq!(f.counters.inbound.get().0, 3);
}
