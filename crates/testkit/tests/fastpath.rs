//! The multi-core fast path (`server::FastPath`) against the owner path.
//!
//! Equivalence tests build two identical worlds from one seed. World A runs every packet through
//! the owner (`Server::handle_udp` / `handle_esp` / `handle_tun`); world B runs the same
//! packets through the fast path, falling back to the owner exactly as the daemon's workers do.
//! Both must produce the same TUN packets byte for byte and the same transmits: same
//! destination, same length, same SPI and sequence number and, after decryption with the keys
//! from the key log, the same plaintext byte for byte (the CBC IVs differ because the fast path
//! draws them from the caller's RNG, not the server's). The status snapshots must be equal.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crypto::Secret;
use crypto::cipher::CipherAlg;
use crypto::integ::IntegAlg;
use ike::suite::EncapsulationMode;
use ike::{EspSuite, Lifetime};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use server::{Event, FastPath, Inbound, Outbound, Transmit};
use testkit::packet;
use testkit::{ClientId, Profile, Stage, Transmit as ClientTransmit, World, WorldConfig};

const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 5);
const PRIVATE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const CONNECT_LIMIT: Duration = Duration::from_secs(120);

#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

/// How a datagram reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Udp {
        local: SocketAddr,
        remote: SocketAddr,
    },
    Esp {
        local: Ipv4Addr,
        remote: Ipv4Addr,
    },
}

/// A datagram a client sent: how the client sent it and how the server sees it.
#[derive(Debug, Clone)]
struct Sent {
    client: ClientTransmit,
    server: Kind,
    bytes: Vec<u8>,
}

fn aes128_win10() -> Profile {
    let mut p = Profile::windows_10();
    p.esp_proposals = vec![EspSuite {
        cipher: CipherAlg::Aes128,
        integ: IntegAlg::HmacSha1_96,
        pfs: None,
        mode: EncapsulationMode::Transport,
        mode_value: 2,
        lifetime: Lifetime {
            secs: 3600,
            kb: None,
        },
    }];
    p
}

/// A world with `clients` (profile, user) connected, all behind the NAT (or none of it).
fn world(seed: u64, nat_d_trick: bool, behind_nat: bool, clients: &[(Profile, &str)]) -> World {
    let config = WorldConfig {
        seed,
        nat_d_trick,
        ..WorldConfig::default()
    };
    let mut w = World::new(config, base()).expect("world config is valid");
    w.server_mut().set_keylog(true);
    for (i, (profile, user)) in clients.iter().enumerate() {
        let private = if behind_nat {
            PRIVATE
        } else {
            Ipv4Addr::new(192, 0, 2, 10 + u8::try_from(i).unwrap())
        };
        let id = w.add_client(
            profile.clone(),
            private,
            behind_nat,
            user,
            &format!("{user}-pass"),
        );
        w.connect(id).unwrap();
        let up = w.run_until(|w| w.client(id).stage() >= Stage::Up, CONNECT_LIMIT);
        assert!(
            up,
            "client {id} did not come up: {:#?}",
            w.client(id).events()
        );
    }
    // Let the last control acknowledgements settle so that nothing is in flight.
    w.run_for(Duration::from_secs(2));
    w
}

fn addr(w: &World, id: ClientId) -> Ipv4Addr {
    w.client(id).assigned_address().expect("assigned address")
}

/// Has client `id` send `ip` and returns what it put on the wire.
fn client_send(w: &mut World, id: ClientId, ip: &[u8]) -> Vec<Sent> {
    let now = w.now();
    w.client_mut(id).send_ip(now, ip).unwrap();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = w.client_mut(id).poll_transmit(&mut buf) {
        let server = match t {
            ClientTransmit::Udp { local, remote } => Kind::Udp {
                local: remote,
                remote: w.nat_mapping(id, local, remote).unwrap_or(local),
            },
            ClientTransmit::Esp { local, remote } => Kind::Esp {
                local: remote,
                remote: local,
            },
            _ => unreachable!("no other client transmit"),
        };
        out.push(Sent {
            client: t,
            server,
            bytes: buf.clone(),
        });
    }
    out
}

fn drain(w: &mut World) -> Vec<(Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = w.server_mut().poll_transmit(&mut buf) {
        out.push((t, buf.clone()));
    }
    out
}

/// The owner path.
fn owner_in(w: &mut World, sent: &Sent) -> Vec<(Transmit, Vec<u8>)> {
    let now = w.now();
    match sent.server {
        Kind::Udp { local, remote } => w.server_mut().handle_udp(now, local, remote, &sent.bytes),
        Kind::Esp { local, remote } => w.server_mut().handle_esp(now, local, remote, &sent.bytes),
    }
    drain(w)
}

/// The fast path, with the owner fallback a worker uses.
fn fast_in(w: &mut World, fp: &FastPath, sent: &Sent) -> (Inbound, Vec<(Transmit, Vec<u8>)>) {
    let mut buf = sent.bytes.clone();
    let verdict = match sent.server {
        Kind::Udp { local, remote } => fp.inbound_udp(local, remote, &mut buf),
        Kind::Esp { local, remote } => fp.inbound_esp(local, remote, &mut buf),
    };
    let now = w.now();
    let mut out = match &verdict {
        Inbound::ToTun(r) => vec![(Transmit::Tun, buf[r.clone()].to_vec())],
        Inbound::ToOwner => {
            assert_eq!(buf, sent.bytes, "ToOwner must leave the datagram untouched");
            return (verdict, owner_in(w, sent));
        }
        Inbound::ToOwnerDecrypted {
            local,
            remote,
            spi,
            src_port,
            l2tp,
        } => {
            w.server_mut().handle_decrypted(
                now,
                *local,
                *remote,
                *spi,
                *src_port,
                &buf[l2tp.clone()],
            );
            Vec::new()
        }
        Inbound::Drop => Vec::new(),
    };
    out.extend(drain(w));
    (verdict, out)
}

fn fast_out(
    w: &mut World,
    fp: &FastPath,
    rng: &mut ChaCha20Rng,
    ip: &[u8],
) -> (Outbound, Vec<(Transmit, Vec<u8>)>) {
    let mut out = Vec::new();
    let verdict = fp.outbound(ip, &mut out, rng);
    let transmits = match verdict {
        Outbound::Udp { local, remote } => vec![(Transmit::Udp { local, remote }, out)],
        Outbound::Esp { local, remote } => vec![(Transmit::Esp { local, remote }, out)],
        Outbound::ToOwner => {
            let now = w.now();
            w.server_mut().handle_tun(now, ip);
            drain(w)
        }
        Outbound::Drop => Vec::new(),
    };
    (verdict, transmits)
}

/// Inbound SAs for the server→client direction built from the key log, by SPI: what the
/// clients hold, so that the test can read what the server sent.
fn client_sas(w: &World) -> HashMap<u32, esp::Sa> {
    let server_ip = w.config().server_ip.to_string();
    let mut sas = HashMap::new();
    for e in w.events() {
        let Event::KeylogLine(line) = e else { continue };
        let Some(rest) = line.strip_prefix("esp_sa: ") else {
            continue;
        };
        let f: Vec<&str> = rest.split(',').map(|s| s.trim_matches('"')).collect();
        if f[1] != server_ip {
            continue;
        }
        let spi = u32::from_str_radix(f[3].trim_start_matches("0x"), 16).unwrap();
        let enc = hex::decode(f[5].trim_start_matches("0x")).unwrap();
        let auth = hex::decode(f[7].trim_start_matches("0x")).unwrap();
        let cipher = match (f[4], enc.len()) {
            ("TripleDES-CBC [RFC2451]", _) => CipherAlg::TripleDes,
            (_, 16) => CipherAlg::Aes128,
            (_, 24) => CipherAlg::Aes192,
            _ => CipherAlg::Aes256,
        };
        let integ = match f[6] {
            "HMAC-MD5-96 [RFC2403]" => IntegAlg::HmacMd5_96,
            "HMAC-SHA-1-96 [RFC2404]" => IntegAlg::HmacSha1_96,
            _ => IntegAlg::HmacSha256_128,
        };
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        let sa = esp::Sa::new(esp::SaParams {
            spi,
            direction: esp::Direction::Inbound,
            cipher,
            enc_key: Secret::new(enc),
            integ,
            auth_key: Secret::new(auth),
            encap: esp::Encap::None,
            peer: esp::FourTuple {
                local: any,
                remote: any,
            },
            lifetime: esp::Lifetime::UNLIMITED,
        })
        .unwrap();
        sas.insert(spi, sa);
    }
    sas
}

/// Decrypts an ESP packet the server sent: (SPI, sequence number, plaintext payload).
fn open(sas: &HashMap<u32, esp::Sa>, esp: &[u8]) -> (u32, u32, Vec<u8>) {
    let spi = u32::from_be_bytes(esp[..4].try_into().unwrap());
    let mut buf = esp.to_vec();
    let opened = sas[&spi].open(&mut buf).expect("the client can open it");
    (spi, opened.seq, buf[opened.payload].to_vec())
}

/// Asserts that two output lists are the same (see the module docs for "same").
fn assert_same(
    what: &str,
    a: &[(Transmit, Vec<u8>)],
    sas_a: &HashMap<u32, esp::Sa>,
    b: &[(Transmit, Vec<u8>)],
    sas_b: &HashMap<u32, esp::Sa>,
) {
    assert_eq!(a.len(), b.len(), "{what}: output count\nA: {a:?}\nB: {b:?}");
    for ((ta, pa), (tb, pb)) in a.iter().zip(b) {
        assert_eq!(ta, tb, "{what}: destination");
        if *ta == Transmit::Tun {
            assert_eq!(pa, pb, "{what}: TUN packet");
        } else {
            assert_eq!(pa.len(), pb.len(), "{what}: ESP length");
            assert_eq!(pa[..8], pb[..8], "{what}: SPI and sequence number");
            let (plain_a, plain_b) = (open(sas_a, pa), open(sas_b, pb));
            assert!(
                plain_a == plain_b,
                "{what}: plaintext differs at byte {:?}",
                plain_a.2.iter().zip(&plain_b.2).position(|(x, y)| x != y)
            );
        }
    }
}

fn icmp(src: Ipv4Addr, dst: Ipv4Addr, reply: bool, seq: u16, ip_len: usize) -> Vec<u8> {
    let data = vec![0x5a; ip_len - 28];
    packet::icmp_echo(src, dst, reply, 0x1234, seq, &data)
}

/// The whole equivalence scenario for one profile and encapsulation.
fn equivalence(profile: Profile, nat_d_trick: bool, behind_nat: bool, expect_udp: bool) {
    let clients = [(profile, "alice")];
    let mut a = world(7, nat_d_trick, behind_nat, &clients);
    let mut b = world(7, nat_d_trick, behind_nat, &clients);
    assert_eq!(a.snapshot(), b.snapshot(), "the two worlds start identical");
    let fp = b.server_mut().fast_path();
    assert_eq!(fp.table_len(), (1, 1), "one SPI and one address published");
    let (sas_a, sas_b) = (client_sas(&a), client_sas(&b));
    let me = addr(&a, 0);
    let other = Ipv4Addr::new(10, 99, 0, 200);

    // Inbound: data of several sizes, a UDP datagram, a spoofed source, a runt IPv4 packet
    // (PPP drops it as malformed: the fast path hands it to the owner decrypted).
    let mut inbound = vec![
        icmp(me, LAN_HOST, false, 1, 1400),
        icmp(me, LAN_HOST, false, 2, 84),
        packet::udp_packet(
            SocketAddrV4::new(me, 5353),
            SocketAddrV4::new(LAN_HOST, 53),
            b"query",
        ),
        icmp(other, LAN_HOST, false, 3, 100),
        vec![0x45, 0, 0, 10, 0, 0, 0, 0, 64, 1],
    ];
    for seq in 4..20 {
        inbound.push(icmp(me, LAN_HOST, false, seq, 60 + usize::from(seq) * 70));
    }
    let mut verdicts = Vec::new();
    let mut client_sock = None;
    for (i, ip) in inbound.iter().enumerate() {
        let sa = client_send(&mut a, 0, ip);
        let sb = client_send(&mut b, 0, ip);
        assert_eq!(sa.len(), 1);
        assert_eq!(sa[0].bytes, sb[0].bytes, "the clients are deterministic");
        assert_eq!(
            matches!(sa[0].server, Kind::Udp { .. }),
            expect_udp,
            "encapsulation"
        );
        if let ClientTransmit::Udp { local, .. } = sa[0].client {
            client_sock = Some(local);
        }
        let out_a = owner_in(&mut a, &sa[0]);
        let (verdict, out_b) = fast_in(&mut b, &fp, &sb[0]);
        assert_same(&format!("inbound #{i}"), &out_a, &sas_a, &out_b, &sas_b);
        verdicts.push(verdict);
    }
    assert!(matches!(verdicts[0], Inbound::ToTun(_)));
    assert_eq!(verdicts[3], Inbound::Drop, "spoofed source");
    assert!(
        matches!(verdicts[4], Inbound::ToOwnerDecrypted { .. }),
        "runt"
    );
    let tun = verdicts
        .iter()
        .filter(|v| matches!(v, Inbound::ToTun(_)))
        .count();
    assert_eq!(tun, inbound.len() - 2);
    assert_eq!(fp.stats().to_tun, tun as u64);

    // Outbound: replies of several sizes, one for an address without a session (the owner
    // counts it), and IPv6 from the kernel.
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let mut outbound = vec![
        icmp(LAN_HOST, me, true, 1, 1400),
        icmp(LAN_HOST, me, true, 2, 84),
        icmp(LAN_HOST, other, true, 3, 84),
    ];
    for seq in 4..20 {
        outbound.push(icmp(LAN_HOST, me, true, seq, 60 + usize::from(seq) * 70));
    }
    for (i, ip) in outbound.iter().enumerate() {
        let now = a.now();
        a.server_mut().handle_tun(now, ip);
        let out_a = drain(&mut a);
        let (verdict, out_b) = fast_out(&mut b, &fp, &mut rng, ip);
        assert_same(&format!("outbound #{i}"), &out_a, &sas_a, &out_b, &sas_b);
        if i == 2 {
            assert_eq!(verdict, Outbound::ToOwner);
        } else {
            assert!(matches!(
                verdict,
                Outbound::Udp { .. } | Outbound::Esp { .. }
            ));
            // The client accepts what the fast path built and gets the very packet.
            for (t, bytes) in &out_b {
                let now = b.now();
                let client = b.client_mut(0);
                match *t {
                    Transmit::Udp { local, .. } => {
                        client.handle_udp(now, client_sock.unwrap(), local, bytes);
                    }
                    Transmit::Esp { local, remote } => client.handle_esp(now, remote, local, bytes),
                    _ => unreachable!(),
                }
            }
            assert_eq!(b.client_mut(0).poll_ip().as_deref(), Some(&ip[..]));
        }
    }
    // IPv6 from the kernel: ignored by both.
    let v6 = [0x60, 0, 0, 0, 0, 0, 0x3a, 0xff];
    let now = a.now();
    a.server_mut().handle_tun(now, &v6);
    assert!(drain(&mut a).is_empty());
    assert_eq!(
        fast_out(&mut b, &fp, &mut rng, &v6),
        (Outbound::Drop, Vec::new())
    );
    assert_eq!(
        a.snapshot(),
        b.snapshot(),
        "status is the same, counters included"
    );
    let s = b.snapshot();
    assert_eq!(s.counters.spoofed, 1);
    assert_eq!(s.counters.no_session, 1);
    assert_eq!(s.sessions[0].packets_in, tun as u64);
    assert_eq!(s.sessions[0].packets_out, outbound.len() as u64 - 1);

    // Control through the fast path: the client hangs up; its LCP Terminate-Request and the
    // L2TP teardown reach the owner decrypted and get the same answers.
    let now = a.now();
    a.client_mut(0).disconnect(now);
    b.client_mut(0).disconnect(now);
    let mut buf = Vec::new();
    let mut rounds = 0;
    let mut decrypted_to_owner = 0;
    loop {
        let mut moved = false;
        let (mut ca, mut cb) = (Vec::new(), Vec::new());
        while let Some(t) = a.client_mut(0).poll_transmit(&mut buf) {
            ca.push((t, buf.clone()));
        }
        while let Some(t) = b.client_mut(0).poll_transmit(&mut buf) {
            cb.push((t, buf.clone()));
        }
        assert_eq!(ca.len(), cb.len());
        for ((t, bytes_a), (_, bytes_b)) in ca.iter().zip(&cb) {
            moved = true;
            let server = match *t {
                ClientTransmit::Udp { local, remote } => Kind::Udp {
                    local: remote,
                    remote: a.nat_mapping(0, local, remote).unwrap_or(local),
                },
                ClientTransmit::Esp { local, remote } => Kind::Esp {
                    local: remote,
                    remote: local,
                },
                _ => unreachable!(),
            };
            let sent_a = Sent {
                client: *t,
                server,
                bytes: bytes_a.clone(),
            };
            let sent_b = Sent {
                client: *t,
                server,
                bytes: bytes_b.clone(),
            };
            let out_a = owner_in(&mut a, &sent_a);
            let (verdict, out_b) = fast_in(&mut b, &fp, &sent_b);
            if matches!(verdict, Inbound::ToOwnerDecrypted { .. }) {
                decrypted_to_owner += 1;
            }
            let ike = out_a.iter().any(|(t, p)| {
                matches!(t, Transmit::Udp { local, .. } if local.port() == 500)
                    || p.starts_with(&[0, 0, 0, 0])
            });
            if !ike {
                assert_same("teardown", &out_a, &sas_a, &out_b, &sas_b);
            }
            for (w, out) in [(&mut a, out_a), (&mut b, out_b)] {
                let now = w.now();
                for (t, p) in out {
                    match t {
                        Transmit::Udp { local, remote } => {
                            let private = match sent_a.client {
                                ClientTransmit::Udp { local, .. } => local,
                                _ => remote,
                            };
                            w.client_mut(0).handle_udp(now, private, local, &p);
                        }
                        Transmit::Esp { local, remote } => {
                            w.client_mut(0).handle_esp(now, remote, local, &p);
                        }
                        _ => {}
                    }
                }
            }
        }
        rounds += 1;
        if !moved || rounds > 20 {
            break;
        }
    }
    assert!(
        decrypted_to_owner >= 1,
        "the LCP Terminate-Request went to the owner decrypted"
    );
    assert_eq!(a.snapshot(), b.snapshot(), "status after the teardown");
    assert!(a.snapshot().sessions.is_empty(), "the session is gone");
    assert_eq!(fp.table_len(), (0, 0), "the session left the table");
}

#[test]
fn equivalence_xp_3des_nat_t() {
    equivalence(Profile::windows_xp_sp2(), true, true, true);
}

#[test]
fn equivalence_win10_aes128_nat_t() {
    equivalence(aes128_win10(), true, true, true);
}

#[test]
fn equivalence_xp_3des_raw_esp() {
    equivalence(Profile::windows_xp_sp2(), false, false, false);
}

fn sent_to(fp: &FastPath, sent: &Sent, buf: &mut Vec<u8>) -> Inbound {
    buf.clear();
    buf.extend_from_slice(&sent.bytes);
    match sent.server {
        Kind::Udp { local, remote } => fp.inbound_udp(local, remote, buf),
        Kind::Esp { local, remote } => fp.inbound_esp(local, remote, buf),
    }
}

fn deliver_to_client(w: &mut World, id: ClientId, sock: SocketAddr, t: Outbound, bytes: &[u8]) {
    let now = w.now();
    match t {
        Outbound::Udp { local, .. } => w.client_mut(id).handle_udp(now, sock, local, bytes),
        Outbound::Esp { local, remote } => w.client_mut(id).handle_esp(now, remote, local, bytes),
        other => panic!("not a transmit: {other:?}"),
    }
}

fn client_sock(sent: &Sent) -> SocketAddr {
    match sent.client {
        ClientTransmit::Udp { local, .. } => local,
        _ => panic!("expected UDP"),
    }
}

/// Two clients behind one NAT with the same private address and ports: nothing of one ever
/// comes out for the other.
#[test]
fn isolation_between_peers_behind_one_nat() {
    let mut w = world(
        11,
        true,
        true,
        &[
            (Profile::windows_xp_sp2(), "alice"),
            (aes128_win10(), "bob"),
        ],
    );
    let fp = w.server_mut().fast_path();
    assert_eq!(fp.table_len(), (2, 2));
    let (a, b) = (addr(&w, 0), addr(&w, 1));
    let mut buf = Vec::new();

    // A's packet from B's 4-tuple: handed to the owner untouched, before any cryptography
    // (so A's replay window is intact); the owner alone decides between a NAT rebinding and a
    // forgery (and refuses this one: the 4-tuple belongs to B).
    let pa = client_send(&mut w, 0, &icmp(a, LAN_HOST, false, 1, 200)).remove(0);
    let pb = client_send(&mut w, 1, &icmp(b, LAN_HOST, false, 1, 200)).remove(0);
    let mut forged = pa.clone();
    forged.server = pb.server;
    assert_ne!(pa.server, pb.server, "the NAT gave them different ports");
    let to_owner = fp.stats().inbound_to_owner;
    assert_eq!(sent_to(&fp, &forged, &mut buf), Inbound::ToOwner);
    assert_eq!(buf, forged.bytes, "handed over untouched");
    assert_eq!(fp.stats().inbound_to_owner, to_owner + 1);
    assert_eq!(fp.stats().esp_dropped, 0);
    // The genuine packets come out with their own sources.
    for (sent, src) in [(&pa, a), (&pb, b)] {
        let Inbound::ToTun(r) = sent_to(&fp, sent, &mut buf) else {
            panic!("not delivered")
        };
        assert_eq!(packet::addresses(&buf[r]), Some((src, LAN_HOST)));
    }
    // A sending with B's address: anti-spoofing.
    let spoof = client_send(&mut w, 0, &icmp(b, LAN_HOST, false, 2, 200)).remove(0);
    assert_eq!(sent_to(&fp, &spoof, &mut buf), Inbound::Drop);

    // Outbound to A goes to A's 4-tuple only; B's client cannot read it, A's can.
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let reply = icmp(LAN_HOST, a, true, 1, 300);
    let mut out = Vec::new();
    let t = fp.outbound(&reply, &mut out, &mut rng);
    let Outbound::Udp { remote, .. } = t else {
        panic!("{t:?}")
    };
    let Kind::Udp {
        remote: a_public, ..
    } = pa.server
    else {
        unreachable!()
    };
    assert_eq!(remote, a_public);
    deliver_to_client(&mut w, 1, client_sock(&pb), t, &out);
    assert_eq!(w.client_mut(1).poll_ip(), None, "B got nothing");
    deliver_to_client(&mut w, 0, client_sock(&pa), t, &out);
    assert_eq!(w.client_mut(0).poll_ip(), Some(reply));

    // The owner, given the forged packet that the fast path handed over, refuses it (a replay
    // of A's packet from B's 4-tuple) and moves nobody.
    let Kind::Udp { local, remote } = forged.server else {
        unreachable!()
    };
    let now = w.now();
    w.server_mut().handle_udp(now, local, remote, &forged.bytes);
    let s = w.snapshot();
    assert_eq!(s.counters.spoofed, 1);
    assert_eq!(s.counters.esp_dropped, 1);
    assert_eq!(
        s.sessions
            .iter()
            .filter(|r| r.client_public == remote)
            .count(),
        1,
        "B's 4-tuple still has only B"
    );
    let row = |user: &str| s.sessions.iter().find(|r| r.user == user).unwrap().clone();
    assert_eq!((row("alice").packets_in, row("alice").packets_out), (1, 1));
    assert_eq!((row("bob").packets_in, row("bob").packets_out), (1, 0));
}

/// The replay window is the SA's, shared by every thread and the owner: a packet raced on two
/// threads is accepted exactly once, and the owner refuses it afterwards.
#[test]
fn replay_across_threads_is_dropped_once() {
    let mut w = world(13, true, true, &[(aes128_win10(), "alice")]);
    let fp = w.server_mut().fast_path();
    let me = addr(&w, 0);
    let packets: Vec<Sent> = (0..200)
        .map(|i| client_send(&mut w, 0, &icmp(me, LAN_HOST, false, i, 100)).remove(0))
        .collect();
    let packets = Arc::new(packets);
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (fp, packets, barrier) = (fp.clone(), Arc::clone(&packets), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut delivered = Vec::new();
                for (i, p) in packets.iter().enumerate() {
                    barrier.wait();
                    match sent_to(&fp, p, &mut buf) {
                        Inbound::ToTun(_) => delivered.push(i),
                        Inbound::Drop => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
                delivered
            })
        })
        .collect();
    let mut all: Vec<usize> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..200).collect::<Vec<_>>(),
        "each packet exactly once"
    );
    assert_eq!(fp.stats().esp_dropped, 200, "each copy dropped once");
    // The owner shares the window.
    let out = owner_in(&mut w, &packets[5]);
    assert!(out.is_empty(), "the owner drops the replay");
    let s = w.snapshot();
    assert_eq!(s.counters.esp_dropped, 201);
    assert_eq!(s.sessions[0].packets_in, 200);
}

/// Four threads, four clients, inbound in order per client (as SO_REUSEPORT spreads flows) and
/// outbound to every client from every thread (so one outbound SA is used by four threads at
/// once): exact counters, unique sequence numbers, every packet intact.
#[test]
fn four_threads_exact_counters() {
    const N: usize = 300;
    const M: usize = 300;
    const SPOOFED: usize = 5;
    let users = ["alice", "bob", "carol", "dave"];
    let clients: Vec<(Profile, &str)> = users.iter().map(|u| (aes128_win10(), *u)).collect();
    let mut w = world(17, true, true, &clients);
    let fp = w.server_mut().fast_path();
    assert_eq!(fp.table_len(), (4, 4));
    let addrs: Vec<Ipv4Addr> = (0..4).map(|i| addr(&w, i)).collect();

    let mut inbound = Vec::new();
    let mut socks = Vec::new();
    let mut bytes_in = [0u64; 4];
    for (id, &me) in addrs.iter().enumerate() {
        let mut list = Vec::new();
        for k in 0..N + SPOOFED {
            let spoof = k % (N / SPOOFED + 1) == 7;
            let src = if spoof { addrs[(id + 1) % 4] } else { me };
            let len = 40 + (k * 37 + id * 11) % 1300;
            if !spoof {
                bytes_in[id] += len as u64;
            }
            let seq = u16::try_from(k).unwrap();
            list.push(client_send(&mut w, id, &icmp(src, LAN_HOST, false, seq, len)).remove(0));
        }
        socks.push(client_sock(&list[0]));
        inbound.push(list);
    }
    assert_eq!(
        inbound.iter().flatten().count(),
        4 * (N + SPOOFED),
        "every packet captured"
    );
    let mut outbound = Vec::new();
    let mut bytes_out = [0u64; 4];
    for k in 0..4 * M {
        // Thread `k % 4` sends item `k`; the destination cycles so that every thread sends to
        // every client.
        let to = (k / 4) % 4;
        let len = 60 + (k * 53) % 1340;
        bytes_out[to] += len as u64;
        outbound.push(icmp(
            LAN_HOST,
            addrs[to],
            true,
            u16::try_from(k).unwrap(),
            len,
        ));
    }
    let outbound = Arc::new(outbound);
    let handles: Vec<_> = inbound
        .into_iter()
        .enumerate()
        .map(|(t, mine)| {
            let (fp, outbound) = (fp.clone(), Arc::clone(&outbound));
            std::thread::spawn(move || {
                let mut rng = ChaCha20Rng::from_seed([u8::try_from(t).unwrap(); 32]);
                let mut buf = Vec::new();
                let mut tun = Vec::new();
                let mut sent = Vec::new();
                let mut spoofed = 0;
                // This thread's share of the replies, interleaved with its inbound packets.
                let replies: Vec<&Vec<u8>> = outbound.iter().skip(t).step_by(4).collect();
                for k in 0..mine.len().max(replies.len()) {
                    if let Some(p) = mine.get(k) {
                        match sent_to(&fp, p, &mut buf) {
                            Inbound::ToTun(r) => tun.push(buf[r].to_vec()),
                            Inbound::Drop => spoofed += 1,
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    if let Some(ip) = replies.get(k) {
                        let mut out = Vec::new();
                        let v = fp.outbound(ip, &mut out, &mut rng);
                        sent.push((ip.to_vec(), v, out));
                    }
                }
                (tun, sent, spoofed)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    // Per client: (sequence number, verdict, ESP packet, the IPv4 packet sealed).
    type Sealed = (u32, Outbound, Vec<u8>, Vec<u8>);
    let mut per_client: Vec<Vec<Sealed>> = vec![Vec::new(); 4];
    let mut spoofed = 0;
    for (t, (tun, sent, s)) in results.into_iter().enumerate() {
        spoofed += s;
        assert_eq!(tun.len(), N, "thread {t} delivered its client's packets");
        assert!(
            tun.iter()
                .all(|p| packet::addresses(p).map(|a| a.0) == Some(addrs[t]))
        );
        let clients_reached: std::collections::HashSet<Ipv4Addr> = sent
            .iter()
            .map(|(ip, _, _)| packet::addresses(ip).unwrap().1)
            .collect();
        assert_eq!(clients_reached.len(), 4, "thread {t} sent to every client");
        for (ip, v, out) in sent {
            let to = addrs
                .iter()
                .position(|a| *a == packet::addresses(&ip).unwrap().1)
                .unwrap();
            let seq = u32::from_be_bytes(out[4..8].try_into().unwrap());
            per_client[to].push((seq, v, out, ip));
        }
    }
    assert_eq!(spoofed, 4 * SPOOFED);
    for (id, mut list) in per_client.into_iter().enumerate() {
        assert_eq!(list.len(), M);
        list.sort_by_key(|e| e.0);
        let first = list[0].0;
        let seqs: Vec<u32> = list.iter().map(|e| e.0).collect();
        assert_eq!(
            seqs,
            (first..first + u32::try_from(M).unwrap()).collect::<Vec<_>>(),
            "client {id}: unique, gap-free sequence numbers"
        );
        let mut expected: Vec<Vec<u8>> = list.iter().map(|e| e.3.clone()).collect();
        for (_, v, out, _) in &list {
            deliver_to_client(&mut w, id, socks[id], *v, out);
        }
        let mut got = Vec::new();
        while let Some(p) = w.client_mut(id).poll_ip() {
            got.push(p);
        }
        got.sort();
        expected.sort();
        assert_eq!(got.len(), M, "client {id} accepted every packet");
        assert!(got == expected, "client {id} got exactly what was sent");
    }
    let s = w.snapshot();
    assert_eq!(s.counters.spoofed, (4 * SPOOFED) as u64);
    for (id, user) in users.iter().enumerate() {
        let row = s.sessions.iter().find(|r| r.user == *user).unwrap();
        assert_eq!(
            (row.packets_in, row.bytes_in, row.packets_out, row.bytes_out),
            (N as u64, bytes_in[id], M as u64, bytes_out[id]),
            "{user}"
        );
    }
    let st = fp.stats();
    assert_eq!((st.to_tun, st.sealed), ((4 * N) as u64, (4 * M) as u64));
}

/// A thread that loaded the table before the owner removed a session must not use the removed
/// entries: their packets go to the owner; the other sessions' entries stay usable.
#[test]
fn stale_table_entries_are_dead() {
    let mut w = world(
        19,
        true,
        true,
        &[(aes128_win10(), "alice"), (aes128_win10(), "bob")],
    );
    let fp = w.server_mut().fast_path();
    let (a, b) = (addr(&w, 0), addr(&w, 1));
    let pinned = fp.pin();
    let publishes = fp.stats().publishes;
    let pa = client_send(&mut w, 0, &icmp(a, LAN_HOST, false, 1, 300)).remove(0);
    let pb = client_send(&mut w, 1, &icmp(b, LAN_HOST, false, 1, 300)).remove(0);

    // alice is removed from the users file: the owner disconnects her and publishes.
    w.reload_users("users:\n  - name: bob\n    password: bob-pass\n")
        .unwrap();
    assert!(
        fp.stats().publishes > publishes,
        "a new table was published"
    );
    assert_eq!(fp.table_len(), (1, 1), "only bob is left");

    // The old table still has alice's entries, but they are dead.
    let mut buf = pa.bytes.clone();
    let Kind::Udp { local, remote } = pa.server else {
        unreachable!()
    };
    assert_eq!(
        pinned.inbound_udp(local, remote, &mut buf),
        Inbound::ToOwner
    );
    assert_eq!(buf, pa.bytes, "untouched for the owner");
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let mut out = Vec::new();
    let to_alice = icmp(LAN_HOST, a, true, 1, 300);
    assert_eq!(
        pinned.outbound(&to_alice, &mut out, &mut rng),
        Outbound::ToOwner
    );
    // The owner gets them and does not deliver them either (the link is closing).
    let now = w.now();
    w.server_mut().handle_tun(now, &to_alice);
    let out_owner = owner_in(&mut w, &pa);
    assert!(
        out_owner.iter().all(|(t, _)| *t != Transmit::Tun),
        "nothing of alice reaches the TUN"
    );
    // bob's entries were kept (same entry, still live) in the old table.
    let mut buf = pb.bytes.clone();
    let Kind::Udp { local, remote } = pb.server else {
        unreachable!()
    };
    assert!(matches!(
        pinned.inbound_udp(local, remote, &mut buf),
        Inbound::ToTun(_)
    ));
    let to_bob = icmp(LAN_HOST, b, true, 1, 300);
    assert!(matches!(
        pinned.outbound(&to_bob, &mut out, &mut rng),
        Outbound::Udp { .. }
    ));
}

/// A handle taken before any client exists: the session that comes up through the owner is
/// published, and established data that still reaches the owner does not rebuild the table.
#[test]
fn sessions_set_up_after_the_handle_are_published() {
    let config = WorldConfig {
        seed: 23,
        ..WorldConfig::default()
    };
    let mut w = World::new(config, base()).expect("world config is valid");
    let fp = w.server_mut().fast_path();
    assert_eq!(fp.table_len(), (0, 0));
    let id = w.add_client(aes128_win10(), PRIVATE, true, "alice", "alice-pass");
    w.connect(id).unwrap();
    assert!(w.run_until(|w| w.client(id).stage() >= Stage::Up, CONNECT_LIMIT));
    w.run_for(Duration::from_secs(2));
    assert_eq!(fp.table_len(), (1, 1), "the new session is in the table");
    let me = addr(&w, id);

    let before = fp.stats();
    let p = client_send(&mut w, id, &icmp(me, LAN_HOST, false, 1, 500)).remove(0);
    let out = owner_in(&mut w, &p);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, Transmit::Tun);
    let after = fp.stats();
    assert_eq!(
        after.publishes, before.publishes,
        "no new table for plain data"
    );
    assert_eq!(
        after.rebuilds, before.rebuilds,
        "not even a rebuild over all peers"
    );
    // An IKE datagram (here a garbage one on port 500) may touch any peer: full rebuild.
    let now = w.now();
    let server_ike = SocketAddr::from((w.config().server_ip, 500));
    let from = SocketAddr::from(([203, 0, 113, 99], 500));
    w.server_mut().handle_udp(now, server_ike, from, &[0; 8]);
    assert_eq!(fp.stats().rebuilds, after.rebuilds + 1);
    assert_eq!(fp.stats().publishes, after.publishes, "but nothing changed");

    let p = client_send(&mut w, id, &icmp(me, LAN_HOST, false, 2, 500)).remove(0);
    let (verdict, out) = fast_in(&mut w, &fp, &p);
    assert!(matches!(verdict, Inbound::ToTun(_)), "{verdict:?}");
    assert_eq!(out.len(), 1);
    assert_eq!(w.snapshot().sessions[0].packets_in, 2);
}

/// NAT rebinding with the fast path on: a valid packet from a new public port is not the
/// fast path's to judge; it goes to the owner untouched, the owner verifies it and moves the
/// peer, and the republished table then carries the peer's traffic on its new 4-tuple.
#[test]
fn nat_rebinding_goes_through_the_owner_then_back_to_the_fast_path() {
    let mut w = world(17, true, true, &[(aes128_win10(), "alice")]);
    let fp = w.server_mut().fast_path();
    let me = addr(&w, 0);
    let mut buf = Vec::new();
    let Kind::Udp { local, remote: old } =
        client_send(&mut w, 0, &icmp(me, LAN_HOST, false, 1, 200))[0].server
    else {
        panic!("expected UDP")
    };
    let moved = SocketAddr::new(old.ip(), old.port().wrapping_add(1000));
    let mut p = client_send(&mut w, 0, &icmp(me, LAN_HOST, false, 2, 200)).remove(0);
    p.server = Kind::Udp {
        local,
        remote: moved,
    };
    assert_eq!(sent_to(&fp, &p, &mut buf), Inbound::ToOwner);
    let now = w.now();
    w.server_mut().handle_udp(now, local, moved, &p.bytes);
    let s = w.snapshot();
    assert_eq!(s.sessions[0].client_public, moved, "{s:#?}");
    // The next packet from the new port stays on the fast path.
    let mut q = client_send(&mut w, 0, &icmp(me, LAN_HOST, false, 3, 200)).remove(0);
    q.server = Kind::Udp {
        local,
        remote: moved,
    };
    let Inbound::ToTun(r) = sent_to(&fp, &q, &mut buf) else {
        panic!("not delivered on the fast path after the move")
    };
    assert_eq!(packet::addresses(&buf[r]), Some((me, LAN_HOST)));
    // And one from the old port is not accepted any more by the fast path.
    let mut stale = client_send(&mut w, 0, &icmp(me, LAN_HOST, false, 4, 200)).remove(0);
    stale.server = Kind::Udp { local, remote: old };
    assert!(!matches!(sent_to(&fp, &stale, &mut buf), Inbound::ToTun(_)));
}
