//! Unit tests that look inside the responder: its bookkeeping (timers, half-open count, peer
//! index) and choices that the wire alone cannot show.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crypto::Secret;
use crypto::cipher::CipherAlg;
use crypto::dh::DhGroup;
use crypto::hash::HashAlg;
use crypto::integ::IntegAlg;

use super::*;
use crate::initiator::{Initiator, InitiatorConfig};
use crate::suite::{EncapsulationMode, EspSuite, Phase1Suite};
use crate::vendor;

/// The Quick Modes in progress on `sa`.
fn qms(sa: &IkeSa) -> impl Iterator<Item = &quick_mode::Qm> {
    sa.established()
        .ok()
        .into_iter()
        .flat_map(|e| e.qms.values())
}

impl Responder {
    /// The bookkeeping that replaces scans agrees with the tables: one timer entry per IKE SA
    /// and per ESP SA pair, the half-open count, and the peer index both ways.
    fn check_invariants(&self) {
        assert_eq!(self.timers.len(), self.sas.len() + self.children.len());
        for (k, sa) in &self.sas {
            assert_eq!(*k, sa.cookies);
            assert!(sa.timer.is_some());
            assert!(self.peers[&sa.peer].sas.contains(k));
        }
        for (spi, c) in &self.children {
            assert_eq!(c.timer, Some(c.expires));
            assert!(self.peers[&c.peer].children.contains(spi));
        }
        let half_open = self.sas.values().filter(|s| !s.is_established()).count();
        assert_eq!(self.half_open.len(), half_open);
        let (mut sas, mut children) = (0, 0);
        for (p, e) in &self.peers {
            assert!(
                !e.sas.is_empty() || !e.children.is_empty(),
                "empty entry {p}"
            );
            assert!(e.sas.iter().all(|k| self.sas[k].peer == *p));
            assert!(e.children.iter().all(|s| self.children[s].peer == *p));
            sas += e.sas.len();
            children += e.children.len();
        }
        assert_eq!((sas, children), (self.sas.len(), self.children.len()));
        let pending: HashSet<u32> = self
            .sas
            .values()
            .flat_map(|s| qms(s).map(|q| q.spi_in()))
            .collect();
        assert_eq!(pending, self.pending_spis);
        let mut plain: HashMap<IpAddr, HashMap<FourTuple, usize>> = HashMap::new();
        let counted = self.children.values().filter_map(|c| c.plain).chain(
            self.sas
                .values()
                .flat_map(|s| qms(s).filter_map(|q| q.plain)),
        );
        for p in counted {
            *plain
                .entry(p.remote.ip())
                .or_default()
                .entry(p)
                .or_default() += 1;
        }
        assert_eq!(plain, self.plain_esp);
    }
}

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

#[allow(clippy::disallowed_methods)] // The test's time origin.
fn origin() -> Instant {
    Instant::now()
}

fn client_config(ip: Ipv4Addr, vids: Vec<Vec<u8>>) -> InitiatorConfig {
    let life = Lifetime {
        secs: 28800,
        kb: None,
    };
    InitiatorConfig {
        psk: Secret::from_slice(b"vpn"),
        local: addr(ip, 500),
        remote: addr(SERVER, 500),
        ike_proposals: vec![Phase1Suite {
            cipher: CipherAlg::Aes128,
            hash: HashAlg::Sha1,
            group: DhGroup::Ecp256,
            lifetime: life,
        }],
        esp_proposals: vec![EspSuite {
            cipher: CipherAlg::Aes128,
            integ: IntegAlg::HmacSha1_96,
            pfs: None,
            mode: EncapsulationMode::Transport,
            mode_value: 2,
            lifetime: Lifetime {
                secs: 3600,
                kb: None,
            },
        }],
        vendor_ids: vids,
        initial_contact: false,
        l2tp_port: 1701,
        tunnel_mode: false,
        pfs: None,
    }
}

/// A responder and initiators on a loss-free network without NAT.
struct Pair {
    now: Instant,
    resp: Responder,
    clients: Vec<Initiator>,
    events: Vec<Event>,
}

fn strip(local: SocketAddr, remote: SocketAddr, p: Vec<u8>) -> Vec<u8> {
    if local.port() == 4500 || remote.port() == 4500 {
        p.get(4..).unwrap_or_default().to_vec()
    } else {
        p
    }
}

impl Pair {
    fn new(config: ResponderConfig) -> Self {
        Self {
            now: origin(),
            resp: Responder::new(config, [1; 32]),
            clients: Vec::new(),
            events: Vec::new(),
        }
    }

    fn add(&mut self, ip: Ipv4Addr, vids: Vec<Vec<u8>>) -> usize {
        let seed = u8::try_from(self.clients.len() + 10).unwrap();
        self.clients
            .push(Initiator::new(client_config(ip, vids), [seed; 32]));
        self.clients.len() - 1
    }

    fn run(&mut self) {
        loop {
            let mut moved = false;
            for c in &mut self.clients {
                while let Some(t) = c.poll_transmit() {
                    moved = true;
                    let m = strip(t.local, t.remote, t.payload);
                    self.resp.handle_datagram(self.now, t.remote, t.local, &m);
                }
            }
            while let Some(t) = self.resp.poll_transmit() {
                moved = true;
                let m = strip(t.local, t.remote, t.payload);
                if let Some(c) = self.clients.iter_mut().find(|c| c.peer().local == t.remote) {
                    c.handle_datagram(self.now, t.remote, t.local, &m);
                }
            }
            while let Some(e) = self.resp.poll_event() {
                self.events.push(e);
            }
            self.resp.check_invariants();
            if !moved {
                break;
            }
        }
    }

    fn connect(&mut self, c: usize) {
        self.clients[c].connect(self.now).unwrap();
        self.run();
        assert!(self.clients[c].is_established(), "{:?}", self.events);
        self.clients[c].start_quick_mode(self.now).unwrap();
        self.run();
    }

    fn tick(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.resp.handle_timeout(self.now);
        self.run();
    }
}

fn dpd_vids() -> Vec<Vec<u8>> {
    vec![vendor::RFC3947.to_vec(), vendor::DPD.to_vec()]
}

/// Connects, rekeys, deletes, disconnects and expires, checking after every step that the
/// timer set, the half-open count and the peer index agree with the SA tables.
#[test]
fn bookkeeping_stays_consistent() {
    let mut config = ResponderConfig::new(Secret::from_slice(b"vpn"));
    config.raw_esp = true;
    let mut p = Pair::new(config);
    let a = p.add(Ipv4Addr::new(192, 0, 2, 10), dpd_vids());
    let b = p.add(Ipv4Addr::new(192, 0, 2, 11), dpd_vids());
    // Without NAT-T: plain ESP.
    let d = p.add(Ipv4Addr::new(192, 0, 2, 13), Vec::new());
    p.connect(a);
    p.connect(b);
    p.connect(d);
    assert_eq!(p.resp.plain_esp.len(), 1);
    assert_eq!((p.resp.sas.len(), p.resp.children.len()), (3, 3));
    // A Quick Mode rekey, then the client deletes the old pair.
    p.clients[a].start_quick_mode(p.now).unwrap();
    p.run();
    let old = p
        .events
        .iter()
        .find_map(|e| match e {
            Event::ChildSaEstablished(c) if c.peer.remote.port() == 4500 => Some(c.spi_out),
            _ => None,
        })
        .unwrap();
    p.clients[a].send_delete(p.now, old).unwrap();
    p.run();
    assert_eq!(p.resp.children.len(), 3);
    // Time passes with DPD answered.
    p.tick(100);
    p.tick(100);
    // The owner disconnects b.
    let peer_b = p.clients[b].peer();
    let peer_b = FourTuple {
        local: peer_b.remote,
        remote: peer_b.local,
    };
    p.resp.delete_peer(p.now, peer_b);
    p.run();
    assert!(
        p.events
            .iter()
            .any(|e| matches!(e, Event::PeerGone { peer } if *peer == peer_b))
    );
    // A half-open SA that never finishes expires.
    let c = p.add(Ipv4Addr::new(192, 0, 2, 12), dpd_vids());
    p.clients[c].connect(p.now).unwrap();
    let mm1 = p.clients[c].poll_transmit().unwrap();
    p.resp
        .handle_datagram(p.now, mm1.remote, mm1.local, &mm1.payload);
    p.resp.check_invariants();
    assert_eq!(p.resp.half_open.len(), 1);
    while p.resp.poll_transmit().is_some() {}
    p.tick(31);
    assert_eq!(p.resp.half_open.len(), 0);
    // Everything left expires in the end, and then no timer remains.
    for _ in 0..300 {
        p.tick(100);
    }
    assert!(
        p.resp.sas.is_empty() && p.resp.children.is_empty(),
        "{:?}",
        p.resp
    );
    assert!(p.resp.peers.is_empty());
    assert!(p.resp.plain_esp.is_empty() && p.resp.pending_spis.is_empty());
    assert_eq!(p.resp.poll_timeout(), None);
}

/// A new inbound SPI differs from every installed pair's and every pending Quick Mode's, of
/// any IKE SA: here the random source is rewound so that B's Quick Mode draws the SPI A's
/// pending one holds.
#[test]
fn inbound_spi_is_unique_across_ike_sas() {
    let mut p = Pair::new(ResponderConfig::new(Secret::from_slice(b"vpn")));
    let a = p.add(Ipv4Addr::new(192, 0, 2, 20), dpd_vids());
    let b = p.add(Ipv4Addr::new(192, 0, 2, 21), dpd_vids());
    for c in [a, b] {
        p.clients[c].connect(p.now).unwrap();
        p.run();
    }
    let rewind = p.resp.rng.clone();
    let qm1 = |p: &mut Pair, c: usize| {
        p.clients[c].start_quick_mode(p.now).unwrap();
        let t = p.clients[c].poll_transmit().unwrap();
        let m = strip(t.local, t.remote, t.payload);
        p.resp.handle_datagram(p.now, t.remote, t.local, &m);
        // Our QM2 is lost: the Quick Mode stays pending.
        assert!(p.resp.poll_transmit().is_some());
    };
    qm1(&mut p, a);
    p.resp.rng = rewind;
    qm1(&mut p, b);
    let pending: Vec<u32> = p
        .resp
        .sas
        .values()
        .flat_map(|s| qms(s).map(|q| q.spi_in()))
        .collect();
    assert_eq!(pending.len(), 2);
    assert_ne!(pending[0], pending[1]);
    p.resp.check_invariants();
}

/// A Windows 10 client: AES/ECP and MODP transforms, RFC 3947 and its Microsoft VIDs.
fn win10_mm1(now: Instant) -> Vec<u8> {
    let suite = |cipher, group| Phase1Suite {
        cipher,
        hash: HashAlg::Sha1,
        group,
        lifetime: Lifetime {
            secs: 28800,
            kb: None,
        },
    };
    let mut cfg = client_config(
        Ipv4Addr::new(192, 0, 2, 30),
        vec![
            vendor::ms_nt5(9),
            vendor::RFC3947.to_vec(),
            vendor::DRAFT_02N.to_vec(),
            vendor::FRAGMENTATION.to_vec(),
            vendor::MS_INITIAL_CONTACT.to_vec(),
            vec![
                0x01, 0x52, 0x8b, 0xbb, 0xc0, 0x06, 0x96, 0x12, 0x18, 0x49, 0xab, 0x9a, 0x1c, 0x5a,
                0x2b, 0x51, 0x00, 0x00, 0x00, 0x01,
            ],
        ],
    );
    cfg.ike_proposals = vec![
        suite(CipherAlg::Aes256, DhGroup::Ecp384),
        suite(CipherAlg::Aes128, DhGroup::Ecp256),
        suite(CipherAlg::Aes256, DhGroup::Modp2048),
        suite(CipherAlg::Aes128, DhGroup::Modp2048),
        suite(CipherAlg::TripleDes, DhGroup::Modp2048),
        suite(CipherAlg::TripleDes, DhGroup::Modp1024),
    ];
    let mut init = Initiator::new(cfg, [31; 32]);
    init.connect(now).unwrap();
    init.poll_transmit().unwrap().payload
}

/// What one half-open SA waiting for MM3 costs, for a Windows 10 MM1 (six transforms, six
/// VIDs): the SA itself (inline, its SAi_b and its MM2) and its entries in the tables. The
/// SA and its own heap are measured (280 bytes inline, 248 of SAi_b, 108 of MM2); the table
/// entries are their key and value sizes plus one hash-table control byte each (hash-table
/// slack and B-tree node overhead are not counted).
#[test]
fn a_half_open_sa_is_small() {
    let mut p = Pair::new(ResponderConfig::new(Secret::from_slice(b"vpn")));
    let mm1 = win10_mm1(p.now);
    p.resp.handle_datagram(
        p.now,
        addr(SERVER, 500),
        addr(Ipv4Addr::new(192, 0, 2, 30), 500),
        &mm1,
    );
    assert!(p.resp.poll_transmit().is_some());
    let sa = p.resp.sas.values().next().unwrap();
    let State::Mm3(state) = &sa.state else {
        panic!("not waiting for MM3")
    };
    let own = size_of::<IkeSa>() + state.heap_len() + sa.reply.bytes().len();
    let tables = (size_of::<Cookies>() + 1) // the SA table key
        + (size_of::<Cookies>() + 1) // the peer index's set
        + (size_of::<(SocketAddr, [u8; 8])>() + 8 + 1) // MM1 retransmission index
        + (size_of::<Cookies>() + 32 + 1) + (8 + size_of::<Cookies>()) // half-open accounting
        + (16 + size_of::<TimerKey>()); // the deadline set
    // A new 4-tuple also gets an index entry, with a set of one (four buckets).
    let new_peer =
        size_of::<FourTuple>() + size_of::<PeerEntry>() + 1 + 4 * (size_of::<Cookies>() + 1);
    assert!(own <= 720, "{own} bytes");
    assert!(
        own + tables + new_peer <= 1200,
        "{} bytes",
        own + tables + new_peer
    );
}
