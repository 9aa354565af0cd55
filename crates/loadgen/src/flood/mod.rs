//! `l2tpd-load flood`: a paced stream of unsolicited datagrams at the server's IKE and NAT-T
//! ports, from many sources, as an attacker on an ordinary internet line could send it.
//!
//! - `mm1`: Main Mode message 1 in the Windows 10 layout ([`mm1`]); every datagram gets a
//!   fresh initiator cookie at the moment it is sent, so each one asks the responder for a new
//!   half-open IKE SA. On the NAT-T port the message follows the non-ESP marker.
//! - `garbage` ([`garbage`]): random bytes of random length to both ports, and on the NAT-T
//!   port also ESP-looking datagrams under random SPIs.
//!
//! Before the timed phase, a ring of datagrams is built (source address and port, destination
//! port and payload each drawn at random), so that the timed loop only patches cookies, fixes
//! a checksum and calls `sendto`; a [`Pacer`] keeps the rate. With a raw socket the ring holds
//! whole IPv4 packets with forged sources ([`crate::ip`]); with UDP sockets it holds payloads
//! and the socket (source port) to send each from.

pub mod garbage;
pub mod mm1;

use core::net::{Ipv4Addr, SocketAddrV4};
use core::time::Duration;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use ipnetwork::Ipv4Network;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::pacer::Pacer;
use crate::report::{FloodSummary, round};
use crate::send::{self, RawSender, UdpPool};
use crate::sources::SourceSpec;
use crate::{Error, clock, ip};

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Main Mode message 1 in the Windows 10 layout, a fresh initiator cookie each.
    Mm1,
    /// Random bytes, and ESP-looking datagrams with random SPIs on the NAT-T port.
    Garbage,
}

impl Kind {
    /// The name used on the command line and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mm1 => "mm1",
            Self::Garbage => "garbage",
        }
    }
}

/// Which of the server's ports to send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ports {
    /// The IKE port (500, or the port given with `--target`).
    #[value(name = "500", alias = "ike")]
    Ike,
    /// The NAT-T port (4500, or `--nat-t-port`).
    #[value(name = "4500", alias = "nat-t")]
    NatT,
    /// Both, alternating datagram by datagram.
    #[value(name = "both")]
    Both,
}

/// Everything a flood run needs (the command line, resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloodConfig {
    /// The server's address.
    pub target: Ipv4Addr,
    /// The server's IKE port.
    pub ike_port: u16,
    /// The server's NAT-T port.
    pub nat_t_port: u16,
    /// Which ports get datagrams.
    pub ports: Ports,
    /// What the datagrams carry.
    pub kind: Kind,
    /// The source addresses (spoofed) or how many source ports (not spoofed).
    pub sources: SourceSpec,
    /// Where `--sources COUNT` draws addresses from.
    pub source_pool: Ipv4Network,
    /// Datagrams per second.
    pub rate: u64,
    /// How long the timed phase lasts.
    pub duration: Duration,
    /// The pacer's bucket depth.
    pub burst: u64,
    /// The most datagrams pre-built (the ring is reused when the run sends more).
    pub ring: usize,
    /// Forge source addresses through a raw socket (falls back to UDP sockets without the
    /// privilege).
    pub spoof: bool,
    /// The address UDP sockets bind to when not spoofing.
    pub bind: Ipv4Addr,
    /// The seed of every random choice.
    pub seed: [u8; 32],
}

/// One pre-built datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// A whole IPv4 packet (spoofed), or the UDP payload.
    pub bytes: Vec<u8>,
    /// Where it goes.
    pub dst: SocketAddrV4,
    /// The UDP socket to send it from (not spoofed).
    pub socket: usize,
    /// Where in `bytes` the ISAKMP initiator cookie sits, if it gets a fresh one per send.
    pub cookie_at: Option<usize>,
}

/// The pre-built datagrams of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// The datagrams, sent in order and then again from the start.
    pub slots: Vec<Slot>,
    /// Whether `bytes` are whole IPv4 packets with forged sources.
    pub spoofed: bool,
    /// Distinct sources used (addresses when spoofed, sockets otherwise).
    pub sources: usize,
}

/// How a ring is sent.
#[derive(Debug)]
enum Transport {
    Raw(RawSender),
    Udp(UdpPool),
}

/// Builds the ring: `ring_len` datagrams; spoofed ones from `addrs` in turn (each with a random
/// source port from 1024 up), unspoofed ones from `sockets` UDP sockets in turn.
pub fn build_ring(
    cfg: &FloodConfig,
    addrs: Option<&[Ipv4Addr]>,
    sockets: usize,
    ring_len: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Ring, Error> {
    let template = match cfg.kind {
        Kind::Mm1 => Some(mm1::Mm1Template::windows_10()?),
        Kind::Garbage => None,
    };
    let mut slots = Vec::with_capacity(ring_len);
    for i in 0..ring_len {
        let nat_t = match cfg.ports {
            Ports::Ike => false,
            Ports::NatT => true,
            Ports::Both => i % 2 == 1,
        };
        let port = if nat_t { cfg.nat_t_port } else { cfg.ike_port };
        let dst = SocketAddrV4::new(cfg.target, port);
        let (payload, cookie_at) = match &template {
            Some(t) => {
                let (p, at) = t.payload(mm1::fresh_cookie(rng), nat_t);
                (p, Some(at))
            }
            // On the NAT-T port, every other datagram looks like ESP.
            None if nat_t && (i / 2) % 2 == 0 => (garbage::esp_like(rng), None),
            None => (garbage::random_bytes(rng), None),
        };
        let slot = match addrs {
            Some(addrs) => {
                let src_ip = *addrs
                    .get(i % addrs.len().max(1))
                    .ok_or_else(|| Error::Usage("no source addresses".to_owned()))?;
                let src = SocketAddrV4::new(src_ip, rng.gen_range(1024..=u16::MAX));
                Slot {
                    bytes: ip::udp_v4(src, dst, rng.r#gen(), &payload)?,
                    dst,
                    socket: 0,
                    cookie_at: cookie_at.map(|at| at + ip::HEADERS_LEN),
                }
            }
            None => Slot {
                bytes: payload,
                dst,
                socket: i % sockets.max(1),
                cookie_at,
            },
        };
        slots.push(slot);
    }
    let sources = match addrs {
        Some(a) => a.len().min(ring_len),
        None => sockets.min(ring_len),
    };
    Ok(Ring {
        slots,
        spoofed: addrs.is_some(),
        sources,
    })
}

/// How many datagrams the ring holds: the whole run if it is short, else `cfg.ring`.
pub fn ring_len(cfg: &FloodConfig) -> usize {
    let planned = (cfg.duration.as_secs_f64() * cfg.rate as f64).ceil();
    let planned = if planned.is_finite() && planned >= 1.0 {
        planned.min(usize::MAX as f64) as usize
    } else {
        1
    };
    planned.min(cfg.ring.max(1))
}

/// Runs a flood: builds the ring, then sends it at `cfg.rate` until `cfg.duration` has passed
/// or `stop` is set.
pub fn run(cfg: &FloodConfig, stop: &AtomicBool) -> Result<FloodSummary, Error> {
    let mut rng = ChaCha8Rng::from_seed(cfg.seed);
    let mut note = None;
    let transport = if cfg.spoof {
        match RawSender::open() {
            Ok(raw) => Transport::Raw(raw),
            Err(e) if send::is_permission_error(&e) => {
                note = Some(format!(
                    "{e}; sending from UDP sockets instead (no spoofing; needs root or CAP_NET_RAW)"
                ));
                udp_pool(cfg)?
            }
            Err(e) => return Err(e),
        }
    } else {
        udp_pool(cfg)?
    };
    let len = ring_len(cfg);
    let mut ring = match &transport {
        Transport::Raw(_) => {
            let addrs = cfg.sources.addresses(cfg.source_pool, &mut rng)?;
            build_ring(cfg, Some(&addrs), 0, len, &mut rng)?
        }
        Transport::Udp(pool) => build_ring(cfg, None, pool.len(), len, &mut rng)?,
    };

    let mut pacer = Pacer::new(cfg.rate, cfg.burst);
    let mut ports: BTreeMap<u16, u64> = BTreeMap::new();
    let (mut sent, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    let mut first_error = None;
    let mut next = 0usize;
    let mut interrupted = false;
    let start = clock::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let elapsed = clock::now().saturating_duration_since(start);
        if elapsed >= cfg.duration {
            break;
        }
        let n = pacer.grant(elapsed);
        if n == 0 {
            std::thread::sleep(pacer.until_next().min(cfg.duration - elapsed));
            continue;
        }
        for _ in 0..n {
            let Some(slot) = ring.slots.get_mut(next) else {
                break;
            };
            next = (next + 1) % len;
            if let Some(at) = slot.cookie_at {
                let cookie = mm1::fresh_cookie(&mut rng);
                if let Some(msg) = slot.bytes.get_mut(at..) {
                    mm1::set_cookie(msg, cookie);
                }
                if ring.spoofed {
                    ip::refill_udp_checksum(&mut slot.bytes)?;
                }
            }
            let result = match &transport {
                Transport::Raw(raw) => raw.send(&slot.bytes, slot.dst),
                Transport::Udp(pool) => pool.send(slot.socket, &slot.bytes, slot.dst),
            };
            match result {
                Ok(()) => {
                    sent += 1;
                    let payload = if ring.spoofed {
                        slot.bytes.len().saturating_sub(ip::HEADERS_LEN)
                    } else {
                        slot.bytes.len()
                    };
                    bytes += payload as u64;
                    *ports.entry(slot.dst.port()).or_default() += 1;
                }
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
    let secs = clock::now()
        .saturating_duration_since(start)
        .as_secs_f64()
        .max(1e-9);
    if sent == 0 && errors > 0 {
        return Err(Error::NothingSent(first_error.unwrap_or_default()));
    }
    Ok(FloodSummary {
        mode: "flood",
        kind: cfg.kind.name(),
        target: cfg.target.to_string(),
        spoofed: ring.spoofed,
        sources: ring.sources,
        ports,
        rate_asked: cfg.rate,
        rate_achieved: round(sent as f64 / secs, 1),
        packets_sent: sent,
        payload_bytes: bytes,
        errors,
        first_error,
        duration_secs: round(secs, 3),
        interrupted,
        note,
    })
}

fn udp_pool(cfg: &FloodConfig) -> Result<Transport, Error> {
    let want = usize::try_from(cfg.sources.len()).unwrap_or(usize::MAX);
    UdpPool::bind(want, cfg.bind).map(Transport::Udp)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use wire::ip::{ipv4 as wipv4, udp as wudp};
    use wire::isakmp;

    use super::*;
    use crate::sources::DEFAULT_SPOOF_NET;

    fn config(kind: Kind, ports: Ports) -> FloodConfig {
        FloodConfig {
            target: Ipv4Addr::new(198, 51, 100, 1),
            ike_port: 500,
            nat_t_port: 4500,
            ports,
            kind,
            sources: SourceSpec::Count(100),
            source_pool: DEFAULT_SPOOF_NET,
            rate: 1000,
            duration: Duration::from_secs(1),
            burst: 5,
            ring: 4096,
            spoof: true,
            bind: Ipv4Addr::UNSPECIFIED,
            seed: [8; 32],
        }
    }

    fn spoofed_ring(cfg: &FloodConfig) -> Ring {
        let mut rng = ChaCha8Rng::from_seed(cfg.seed);
        let addrs = cfg.sources.addresses(cfg.source_pool, &mut rng).unwrap();
        build_ring(cfg, Some(&addrs), 0, ring_len(cfg), &mut rng).unwrap()
    }

    #[test]
    fn spoofed_mm1_ring_uses_every_source_and_both_ports() {
        let cfg = config(Kind::Mm1, Ports::Both);
        let ring = spoofed_ring(&cfg);
        assert_eq!(ring.slots.len(), 1000);
        assert_eq!(ring.sources, 100);
        let mut srcs = HashSet::new();
        let mut cookies = HashSet::new();
        let mut per_port = BTreeMap::<u16, usize>::new();
        for s in &ring.slots {
            let p = wipv4::Packet::new_checked(&s.bytes[..]).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(p.dst_addr(), cfg.target);
            assert!(DEFAULT_SPOOF_NET.contains(p.src_addr()));
            let u = wudp::Packet::new_checked(p.payload()).unwrap();
            let pseudo = wudp::PseudoHeader {
                src_addr: p.src_addr(),
                dst_addr: p.dst_addr(),
            };
            assert!(u.verify_checksum(pseudo));
            assert!(u.src_port() >= 1024);
            assert_eq!(u.dst_port(), s.dst.port());
            *per_port.entry(u.dst_port()).or_default() += 1;
            srcs.insert(p.src_addr());
            let msg = match wire::natt::Repr::parse(u.payload()) {
                Ok(wire::natt::Repr::Ike(m)) if u.dst_port() == 4500 => m,
                _ if u.dst_port() == 500 => u.payload(),
                other => panic!("unexpected NAT-T payload {other:?}"),
            };
            let m = isakmp::Repr::parse(msg).unwrap();
            let at = s.cookie_at.unwrap();
            assert_eq!(s.bytes[at..at + 8], m.header.initiator_cookie);
            cookies.insert(m.header.initiator_cookie);
        }
        assert_eq!(srcs.len(), 100);
        assert_eq!(cookies.len(), 1000);
        assert_eq!(per_port, BTreeMap::from([(500, 500), (4500, 500)]));
    }

    #[test]
    fn patching_a_cookie_keeps_the_packet_valid() {
        let cfg = config(Kind::Mm1, Ports::NatT);
        let mut ring = spoofed_ring(&cfg);
        let slot = &mut ring.slots[3];
        let at = slot.cookie_at.unwrap();
        mm1::set_cookie(&mut slot.bytes[at..], [0xee; 8]);
        ip::refill_udp_checksum(&mut slot.bytes).unwrap();
        let p = wipv4::Packet::new_checked(&slot.bytes[..]).unwrap();
        let u = wudp::Packet::new_checked(p.payload()).unwrap();
        assert!(u.verify_checksum(wudp::PseudoHeader {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
        }));
        assert_eq!(&u.payload()[..4], &[0; 4]);
        let m = isakmp::Repr::parse(&u.payload()[4..]).unwrap();
        assert_eq!(m.header.initiator_cookie, [0xee; 8]);
    }

    #[test]
    fn garbage_ring_mixes_random_bytes_and_esp_on_nat_t() {
        let mut cfg = config(Kind::Garbage, Ports::Both);
        cfg.rate = 20_000;
        let ring = spoofed_ring(&cfg);
        assert_eq!(ring.slots.len(), 4096, "capped by --ring");
        let (mut esp, mut other_4500, mut on_500) = (0, 0, 0);
        for s in &ring.slots {
            let p = wipv4::Packet::new_checked(&s.bytes[..]).unwrap();
            assert!(p.verify_checksum());
            let u = wudp::Packet::new_checked(p.payload()).unwrap();
            assert!(u.verify_checksum(wudp::PseudoHeader {
                src_addr: p.src_addr(),
                dst_addr: p.dst_addr(),
            }));
            assert!(s.cookie_at.is_none());
            assert!((1..=garbage::MAX_LEN).contains(&u.payload().len()));
            if u.dst_port() == 500 {
                on_500 += 1;
            } else if let Ok(wire::natt::Repr::Esp(_)) = wire::natt::Repr::parse(u.payload()) {
                esp += 1;
            } else {
                other_4500 += 1;
            }
        }
        assert_eq!(on_500, 2048);
        // Half of the NAT-T datagrams are built as ESP; random bytes are ESP-shaped by chance too.
        assert!(
            esp >= 1024 && other_4500 > 0,
            "esp {esp}, other {other_4500}"
        );
    }

    #[test]
    fn unspoofed_ring_holds_payloads_per_socket() {
        let mut cfg = config(Kind::Mm1, Ports::Ike);
        cfg.spoof = false;
        let mut rng = ChaCha8Rng::from_seed(cfg.seed);
        let ring = build_ring(&cfg, None, 7, 20, &mut rng).unwrap();
        assert!(!ring.spoofed);
        assert_eq!(ring.sources, 7);
        assert_eq!(ring.slots[9].socket, 2);
        assert_eq!(ring.slots[0].cookie_at, Some(0));
        isakmp::Repr::parse(&ring.slots[0].bytes).unwrap();
    }

    #[test]
    fn ring_length_follows_the_run() {
        let mut cfg = config(Kind::Garbage, Ports::Both);
        cfg.rate = 3;
        cfg.duration = Duration::from_millis(500);
        assert_eq!(ring_len(&cfg), 2);
        cfg.duration = Duration::ZERO;
        assert_eq!(ring_len(&cfg), 1);
        cfg.rate = 1_000_000;
        cfg.duration = Duration::from_secs(3600);
        assert_eq!(ring_len(&cfg), 4096);
    }

    #[test]
    fn loopback_run_without_spoofing_delivers_fresh_mm1s() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let port = rx.local_addr().unwrap().port();
        let mut cfg = config(Kind::Mm1, Ports::Ike);
        cfg.target = Ipv4Addr::LOCALHOST;
        cfg.ike_port = port;
        cfg.spoof = false;
        cfg.bind = Ipv4Addr::LOCALHOST;
        cfg.sources = SourceSpec::Count(4);
        cfg.rate = 400;
        cfg.duration = Duration::from_millis(250);
        cfg.ring = 4;
        let stop = AtomicBool::new(false);
        let summary = run(&cfg, &stop).unwrap();
        assert!(!summary.spoofed);
        assert_eq!(summary.sources, 4);
        assert_eq!(summary.errors, 0);
        assert!(summary.packets_sent > 4, "the ring (4) is reused");
        assert_eq!(summary.ports.get(&port), Some(&summary.packets_sent));
        let mut cookies = HashSet::new();
        let mut from = HashSet::new();
        let mut buf = [0u8; 2048];
        for _ in 0..summary.packets_sent {
            let (n, addr) = rx.recv_from(&mut buf).unwrap();
            let m = isakmp::Repr::parse(&buf[..n]).unwrap();
            cookies.insert(m.header.initiator_cookie);
            from.insert(addr.port());
        }
        assert_eq!(
            cookies.len() as u64,
            summary.packets_sent,
            "a fresh cookie per datagram"
        );
        assert_eq!(from.len(), 4);
    }

    #[test]
    fn a_set_stop_flag_ends_the_run_at_once() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut cfg = config(Kind::Garbage, Ports::Ike);
        cfg.target = Ipv4Addr::LOCALHOST;
        cfg.ike_port = rx.local_addr().unwrap().port();
        cfg.spoof = false;
        cfg.duration = Duration::from_secs(3600);
        let summary = run(&cfg, &AtomicBool::new(true)).unwrap();
        assert!(summary.interrupted);
        assert_eq!(summary.packets_sent, 0);
    }
}
