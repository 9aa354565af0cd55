//! The data plane (`server::DataPlane`) as a daemon runs it: on several threads at once, beside
//! the control plane (`server::Server`), which gets what the data plane hands over through
//! `Server::handle_decrypted` and IKE through `Server::handle_udp`.
//!
//! Clients come from `testkit::World`. Once they are up, a test captures what a client sends
//! (as the server would receive it behind the NAT), feeds it to the data plane from as many
//! threads as the scenario needs, and gives what the server sends back to the clients, whose
//! own SAs open it (or refuse it).

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use wire::FourTuple;

use crypto::cipher::CipherAlg;
use crypto::integ::IntegAlg;
use ike::suite::EncapsulationMode;
use ike::{EspSuite, Lifetime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use server::{Batch, DataPlane, Event, HandoffReason, Inbound, Outbound, Transmit};
use testkit::packet;
use testkit::{
    ClientId, Direction, Profile, Stage, Transmit as ClientTransmit, World, WorldConfig,
};

const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 5);
const PRIVATE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const CONNECT_LIMIT: Duration = Duration::from_secs(120);
/// How long a test waits for another thread before it gives up (wall clock; generous for
/// a loaded machine, never reached when things work).
const PATIENCE: Duration = Duration::from_secs(120);

#[allow(clippy::disallowed_methods)] // The world's time origin; the world moves it virtually.
fn base() -> Instant {
    Instant::now()
}

/// Wall-clock time, only to bound how long a test waits for another thread.
#[allow(clippy::disallowed_methods)]
fn wall() -> Instant {
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

impl Sent {
    /// The client's private socket (where the server's answers arrive).
    fn client_sock(&self) -> SocketAddr {
        match self.client {
            ClientTransmit::Udp { local, .. } => local,
            other => panic!("expected UDP, got {other:?}"),
        }
    }

    /// The 4-tuple the server sees.
    fn tuple(&self) -> FourTuple {
        match self.server {
            Kind::Udp { local, remote } => FourTuple { local, remote },
            Kind::Esp { .. } => panic!("expected UDP"),
        }
    }

    /// The same bytes from another public address and port (a NAT rebinding, or a forgery).
    fn from(&self, remote: SocketAddr) -> Self {
        let mut moved = self.clone();
        let Kind::Udp { local, .. } = self.server else {
            panic!("expected UDP")
        };
        moved.server = Kind::Udp { local, remote };
        moved
    }
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

/// A world with `clients` (profile, user) connected, all behind the NAT with the same private
/// address.
fn world_with(config: WorldConfig, clients: &[(Profile, &str)]) -> World {
    let mut w = World::new(config, base()).expect("world config is valid");
    for (profile, user) in clients {
        let id = w.add_client(
            profile.clone(),
            PRIVATE,
            true,
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

fn world(seed: u64, clients: &[(Profile, &str)]) -> World {
    let config = WorldConfig {
        seed,
        ..WorldConfig::default()
    };
    world_with(config, clients)
}

fn addr(w: &World, id: ClientId) -> Ipv4Addr {
    w.client(id).assigned_address().expect("assigned address")
}

fn nat_t(w: &World) -> SocketAddr {
    SocketAddr::from((w.config().server_ip, 4500))
}

fn icmp(src: Ipv4Addr, dst: Ipv4Addr, reply: bool, seq: u16, ip_len: usize) -> Vec<u8> {
    let data = vec![0x5a; ip_len - 28];
    packet::icmp_echo(src, dst, reply, 0x1234, seq, &data)
}

/// Has client `id` send `ip` and returns what it put on the wire, without delivering it.
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
            other => panic!("unexpected client transmit {other:?}"),
        };
        out.push(Sent {
            client: t,
            server,
            bytes: buf.clone(),
        });
    }
    out
}

/// The one datagram client `id` sends for `ip`.
fn client_send_one(w: &mut World, id: ClientId, ip: &[u8]) -> Sent {
    let mut sent = client_send(w, id, ip);
    assert_eq!(sent.len(), 1, "one datagram per IPv4 packet");
    sent.remove(0)
}

/// A datagram sealed for a client: (ESP sequence number, where it goes, the datagram, the
/// IPv4 packet in it).
type Sealed = (u32, Transmit, Vec<u8>, Vec<u8>);

/// The data plane's verdict on a datagram; `buf` holds it afterwards (decrypted in place).
fn inbound(dp: &DataPlane, sent: &Sent, buf: &mut Vec<u8>) -> Inbound {
    buf.clear();
    buf.extend_from_slice(&sent.bytes);
    match sent.server {
        Kind::Udp { local, remote } => dp.inbound_udp(base(), local, remote, buf),
        Kind::Esp { local, remote } => dp.inbound_esp(base(), local, remote, buf),
    }
}

fn drain(w: &mut World) -> Vec<(Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = w.server_mut().poll_transmit(&mut buf) {
        out.push((t, buf.clone()));
    }
    out
}

fn drain_events(w: &mut World) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(e) = w.server_mut().poll_event() {
        out.push(e);
    }
    out
}

/// What a daemon's reader does with a datagram: the data plane first; IKE and hand-offs go to
/// the server. Returns the verdict and everything that came out (TUN packets included).
fn feed(w: &mut World, dp: &DataPlane, sent: &Sent) -> (Inbound, Vec<(Transmit, Vec<u8>)>) {
    let mut buf = Vec::new();
    let verdict = inbound(dp, sent, &mut buf);
    let now = w.now();
    let mut out = Vec::new();
    match &verdict {
        Inbound::Tun(r) => out.push((Transmit::Tun, buf[r.clone()].to_vec())),
        Inbound::Ike => {
            assert_eq!(buf, sent.bytes, "IKE is left untouched");
            let Kind::Udp { local, remote } = sent.server else {
                panic!("IKE from raw ESP")
            };
            w.server_mut().handle_udp(now, local, remote, &buf);
        }
        Inbound::ToOwner(h) => w
            .server_mut()
            .handle_decrypted(now, h, &buf[h.l2tp.clone()]),
        Inbound::AwaitingQm3 => {
            assert_eq!(buf, sent.bytes, "ESP awaiting its SA is left untouched");
            match sent.server {
                Kind::Udp { local, remote } => w.server_mut().handle_udp(now, local, remote, &buf),
                Kind::Esp { local, remote } => w.server_mut().handle_esp(now, local, remote, &buf),
            }
        }
        Inbound::Drop => {}
    }
    out.extend(drain(w));
    (verdict, out)
}

/// The data plane's verdict on a TUN packet and what it sealed.
fn seal(
    dp: &DataPlane,
    ip: &[u8],
    batch: &mut Batch,
    rng: &mut ChaCha20Rng,
) -> (Outbound, Vec<(Transmit, Vec<u8>)>) {
    batch.clear();
    let v = dp.outbound(base(), ip, batch, rng);
    (v, batch.iter().map(|(t, b)| (t, b.to_vec())).collect())
}

/// Gives a datagram the server sent to client `id` (whose private socket is `sock`).
fn deliver(w: &mut World, id: ClientId, sock: SocketAddr, t: Transmit, bytes: &[u8]) {
    let now = w.now();
    match t {
        Transmit::Udp { local, .. } => w.client_mut(id).handle_udp(now, sock, local, bytes),
        Transmit::Esp { local, remote } => w.client_mut(id).handle_esp(now, remote, local, bytes),
        other => panic!("not for a client: {other:?}"),
    }
}

fn client_ip(w: &mut World, id: ClientId) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while let Some(p) = w.client_mut(id).poll_ip() {
        got.push(p);
    }
    got
}

fn spi(esp: &[u8]) -> u32 {
    u32::from_be_bytes(esp[..4].try_into().unwrap())
}

fn esp_seq(esp: &[u8]) -> u32 {
    u32::from_be_bytes(esp[4..8].try_into().unwrap())
}

/// Waits until `done` holds, or panics after [`PATIENCE`].
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = wall();
    while !done() {
        assert!(wall() - start < PATIENCE, "gave up waiting for {what}");
        std::thread::yield_now();
    }
}

/// Two clients behind one NAT with the same private address, the same IKE and L2TP ports and
/// the same L2TP tunnel and session IDs, run by two threads at once, each sealing for both:
/// nothing of one ever comes out for the other. A packet of one from the other's 4-tuple is
/// handed over as a rebinding, and the server refuses it (that 4-tuple is the other's).
#[test]
fn isolation_between_peers_behind_one_nat() {
    const K: usize = 120;
    const SPOOFS: usize = 4;
    let mut w = world(
        11,
        &[
            (Profile::windows_xp_sp2().with_tunnel_id(7), "alice"),
            (aes128_win10(), "bob"),
        ],
    );
    let dp = w.server().data_plane();
    assert_eq!(dp.table_len(), (2, 2));
    let addrs = [addr(&w, 0), addr(&w, 1)];
    assert_eq!(w.client(0).l2tp_session(), w.client(1).l2tp_session());
    assert_eq!(w.client(0).config().local, w.client(1).config().local);

    // Each client's packets (a few spoofed with the other's address), as the server sees them.
    let mut mine: Vec<Vec<Sent>> = Vec::new();
    let mut expected_tun: Vec<Vec<Vec<u8>>> = Vec::new();
    for id in 0..2 {
        let (mut list, mut tun) = (Vec::new(), Vec::new());
        for k in 0..K + SPOOFS {
            let spoof = k % (K / SPOOFS + 1) == 3;
            let src = if spoof { addrs[1 - id] } else { addrs[id] };
            let ip = icmp(
                src,
                LAN_HOST,
                false,
                k as u16,
                40 + (k * 37 + id * 11) % 1300,
            );
            if !spoof {
                tun.push(ip.clone());
            }
            list.push(client_send_one(&mut w, id, &ip));
        }
        mine.push(list);
        expected_tun.push(tun);
    }
    let socks = [mine[0][0].client_sock(), mine[1][0].client_sock()];
    let tuples = [mine[0][0].tuple(), mine[1][0].tuple()];
    assert_eq!(socks[0], socks[1], "same private address and port");
    assert_ne!(
        tuples[0], tuples[1],
        "the NAT gave them different public ports"
    );
    assert!(
        mine.iter()
            .all(|l| l.iter().all(|s| s.tuple() == l[0].tuple()))
    );

    // Replies: thread `k % 2` seals reply `k`, the destination alternating, so that both
    // threads seal for both clients.
    let replies: Vec<Vec<u8>> = (0..2 * K)
        .map(|k| {
            let to = (k / 2) % 2;
            icmp(LAN_HOST, addrs[to], true, k as u16, 60 + (k * 53) % 1300)
        })
        .collect();
    let replies = Arc::new(replies);
    let barrier = Arc::new(Barrier::new(2));
    let spoofed_before = dp.stats().spoofed;
    let handles: Vec<_> = mine
        .into_iter()
        .enumerate()
        .map(|(t, mine)| {
            let (dp, replies, barrier) = (dp.clone(), Arc::clone(&replies), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut rng = ChaCha20Rng::from_seed([t as u8; 32]);
                let (mut buf, mut batch) = (Vec::new(), Batch::new());
                let (mut tun, mut sealed, mut dropped) = (Vec::new(), Vec::new(), 0);
                let share: Vec<&Vec<u8>> = replies.iter().skip(t).step_by(2).collect();
                barrier.wait();
                for k in 0..mine.len().max(share.len()) {
                    if let Some(p) = mine.get(k) {
                        match inbound(&dp, p, &mut buf) {
                            Inbound::Tun(r) => tun.push(buf[r].to_vec()),
                            Inbound::Drop => dropped += 1,
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    if let Some(ip) = share.get(k) {
                        let (v, out) = seal(&dp, ip, &mut batch, &mut rng);
                        assert_eq!(v, Outbound::Sealed(1));
                        sealed.push(((*ip).clone(), out));
                    }
                }
                (tun, sealed, dropped)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    // Per destination.
    let mut to: [Vec<Sealed>; 2] = [Vec::new(), Vec::new()];
    for (t, (tun, sealed, dropped)) in results.into_iter().enumerate() {
        assert_eq!(dropped, SPOOFS, "thread {t}: the spoofed packets");
        assert_eq!(
            tun, expected_tun[t],
            "thread {t}: exactly its client's packets"
        );
        for (ip, out) in sealed {
            let dst = addrs
                .iter()
                .position(|a| Some(*a) == packet::addresses(&ip).map(|a| a.1));
            let dst = dst.unwrap();
            assert_eq!(out.len(), 1);
            let (tr, bytes) = out.into_iter().next().unwrap();
            assert_eq!(
                tr,
                Transmit::Udp {
                    local: tuples[dst].local,
                    remote: tuples[dst].remote,
                },
                "sealed for its own client's 4-tuple"
            );
            to[dst].push((esp_seq(&bytes), tr, bytes, ip));
        }
    }
    assert_eq!(dp.stats().spoofed, spoofed_before + 2 * SPOOFS as u64);
    for (dst, list) in to.iter_mut().enumerate() {
        list.sort_by_key(|e| e.0);
        assert_eq!(list.len(), K);
        // The other client cannot open any of it.
        let other = 1 - dst;
        let dropped = w.client(other).stats().esp_dropped;
        for (_, tr, bytes, _) in list.iter() {
            deliver(&mut w, other, socks[other], *tr, bytes);
        }
        assert!(
            client_ip(&mut w, other).is_empty(),
            "client {other} got nothing"
        );
        assert_eq!(w.client(other).stats().esp_dropped, dropped + K as u64);
        // Its own client gets every packet, intact.
        for (_, tr, bytes, _) in list.iter() {
            deliver(&mut w, dst, socks[dst], *tr, bytes);
        }
        let mut got = client_ip(&mut w, dst);
        let mut want: Vec<Vec<u8>> = list.iter().map(|e| e.3.clone()).collect();
        got.sort();
        want.sort();
        assert!(got == want, "client {dst} got exactly its replies");
    }

    // Alice's next packet, from Bob's 4-tuple: it verifies under Alice's SA, so the data plane
    // hands it over as a rebinding; the server refuses it because the 4-tuple is Bob's.
    let _ = drain_events(&mut w);
    let pa = client_send_one(&mut w, 0, &icmp(addrs[0], LAN_HOST, false, 900, 200));
    let forged = pa.from(tuples[1].remote);
    let before = dp.stats();
    let dropped_before = w.snapshot().counters.esp_dropped;
    let (v, out) = feed(&mut w, &dp, &forged);
    let Inbound::ToOwner(h) = v else {
        panic!("{v:?}")
    };
    assert_eq!(h.reason, HandoffReason::Moved { from: tuples[0] });
    assert!(out.is_empty(), "nothing delivered: {out:?}");
    assert_eq!(dp.stats().to_tun, before.to_tun);
    assert!(
        !drain_events(&mut w)
            .iter()
            .any(|e| matches!(e, Event::ClientMoved { .. }))
    );
    let s = w.snapshot();
    assert_eq!(s.counters.esp_dropped, dropped_before + 1);
    let row = |user: &str| s.sessions.iter().find(|r| r.user == user).unwrap().clone();
    assert_eq!(row("alice").client_public, tuples[0].remote);
    assert_eq!(row("bob").client_public, tuples[1].remote);
    for user in ["alice", "bob"] {
        let r = row(user);
        assert_eq!(r.packets_in, K as u64, "{user}");
        assert_eq!(r.packets_out, K as u64, "{user}");
    }
    // Alice's genuine copy of it is now a replay; fresh packets of both flow, each on its own
    // 4-tuple.
    assert_eq!(feed(&mut w, &dp, &pa), (Inbound::Drop, Vec::new()));
    for id in 0..2 {
        let ip = icmp(addrs[id], LAN_HOST, false, 901, 200);
        let p = client_send_one(&mut w, id, &ip);
        assert_eq!(p.tuple(), tuples[id]);
        let (v, out) = feed(&mut w, &dp, &p);
        assert!(matches!(v, Inbound::Tun(_)), "{v:?}");
        assert_eq!(out, vec![(Transmit::Tun, ip)]);
    }
}

/// The replay window is the SA's, shared by every thread and the server: a packet raced on
/// two threads is accepted exactly once, and `Server::handle_udp` refuses it afterwards.
#[test]
fn replay_across_threads_is_accepted_once() {
    const N: usize = 200;
    let mut w = world(13, &[(aes128_win10(), "alice")]);
    let dp = w.server().data_plane();
    let me = addr(&w, 0);
    let packets: Vec<Sent> = (0..N)
        .map(|i| client_send_one(&mut w, 0, &icmp(me, LAN_HOST, false, i as u16, 100)))
        .collect();
    let packets = Arc::new(packets);
    let barrier = Arc::new(Barrier::new(2));
    let dropped_before = dp.stats().esp_dropped;
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (dp, packets, barrier) = (dp.clone(), Arc::clone(&packets), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut delivered = Vec::new();
                for (i, p) in packets.iter().enumerate() {
                    barrier.wait();
                    match inbound(&dp, p, &mut buf) {
                        Inbound::Tun(r) => {
                            assert_eq!(packet::addresses(&buf[r]), Some((me, LAN_HOST)));
                            delivered.push(i);
                        }
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
    assert_eq!(all, (0..N).collect::<Vec<_>>(), "each packet exactly once");
    assert_eq!(
        dp.stats().esp_dropped,
        dropped_before + N as u64,
        "each second copy dropped"
    );
    // The server's own entry point shares the window.
    let Kind::Udp { local, remote } = packets[5].server else {
        unreachable!()
    };
    let now = w.now();
    let before = w.snapshot().counters.esp_dropped;
    w.server_mut()
        .handle_udp(now, local, remote, &packets[5].bytes);
    assert!(drain(&mut w).is_empty(), "the server drops the replay");
    let s = w.snapshot();
    assert_eq!(s.counters.esp_dropped, before + 1);
    assert_eq!(s.sessions[0].packets_in, N as u64);
}

/// Four threads, four clients. Inbound stays in order per client (as SO_REUSEPORT keeps a flow
/// on one socket); outbound goes to every client from every thread, so each outbound SA is
/// used by four threads at once: exact counters, unique gap-free sequence numbers, every
/// packet intact.
#[test]
fn four_threads_exact_counters() {
    const N: usize = 300;
    const M: usize = 300;
    const SPOOFED: usize = 5;
    let users = ["alice", "bob", "carol", "dave"];
    let clients: Vec<(Profile, &str)> = users.iter().map(|u| (aes128_win10(), *u)).collect();
    let mut w = world(17, &clients);
    let dp = w.server().data_plane();
    assert_eq!(dp.table_len(), (4, 4));
    let addrs: Vec<Ipv4Addr> = (0..4).map(|i| addr(&w, i)).collect();
    let before = dp.stats();
    let snap_before = w.snapshot();

    let mut inbound_lists = Vec::new();
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
            list.push(client_send_one(
                &mut w,
                id,
                &icmp(src, LAN_HOST, false, k as u16, len),
            ));
        }
        socks.push(list[0].client_sock());
        inbound_lists.push(list);
    }
    let mut outbound = Vec::new();
    let mut bytes_out = [0u64; 4];
    for k in 0..4 * M {
        // Thread `k % 4` seals item `k`; the destination cycles so that every thread seals for
        // every client.
        let to = (k / 4) % 4;
        let len = 60 + (k * 53) % 1340;
        bytes_out[to] += len as u64;
        outbound.push(icmp(LAN_HOST, addrs[to], true, k as u16, len));
    }
    let outbound = Arc::new(outbound);
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = inbound_lists
        .into_iter()
        .enumerate()
        .map(|(t, mine)| {
            let (dp, outbound, barrier) = (dp.clone(), Arc::clone(&outbound), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut rng = ChaCha20Rng::from_seed([t as u8; 32]);
                let (mut buf, mut batch) = (Vec::new(), Batch::new());
                let (mut tun, mut sent, mut spoofed) = (Vec::new(), Vec::new(), 0);
                let replies: Vec<&Vec<u8>> = outbound.iter().skip(t).step_by(4).collect();
                barrier.wait();
                for k in 0..mine.len().max(replies.len()) {
                    if let Some(p) = mine.get(k) {
                        match inbound(&dp, p, &mut buf) {
                            Inbound::Tun(r) => tun.push(buf[r].to_vec()),
                            Inbound::Drop => spoofed += 1,
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    if let Some(ip) = replies.get(k) {
                        let (v, out) = seal(&dp, ip, &mut batch, &mut rng);
                        assert_eq!(v, Outbound::Sealed(1));
                        sent.push(((*ip).clone(), out));
                    }
                }
                (tun, sent, spoofed)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    // Per client.
    let mut per_client: Vec<Vec<Sealed>> = vec![Vec::new(); 4];
    let mut spoofed = 0;
    for (t, (tun, sent, s)) in results.into_iter().enumerate() {
        spoofed += s;
        assert_eq!(tun.len(), N, "thread {t} delivered its client's packets");
        assert!(
            tun.iter()
                .all(|p| packet::addresses(p).map(|a| a.0) == Some(addrs[t]))
        );
        let reached: HashSet<Ipv4Addr> = sent
            .iter()
            .map(|(ip, _)| packet::addresses(ip).unwrap().1)
            .collect();
        assert_eq!(reached.len(), 4, "thread {t} sealed for every client");
        for (ip, out) in sent {
            let to = addrs
                .iter()
                .position(|a| *a == packet::addresses(&ip).unwrap().1)
                .unwrap();
            assert_eq!(out.len(), 1);
            let (tr, bytes) = out.into_iter().next().unwrap();
            per_client[to].push((esp_seq(&bytes), tr, bytes, ip));
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
            (first..first + M as u32).collect::<Vec<_>>(),
            "client {id}: unique, gap-free sequence numbers"
        );
        for (_, tr, bytes, _) in &list {
            deliver(&mut w, id, socks[id], *tr, bytes);
        }
        let mut got = client_ip(&mut w, id);
        let mut expected: Vec<Vec<u8>> = list.iter().map(|e| e.3.clone()).collect();
        got.sort();
        expected.sort();
        assert_eq!(got.len(), M, "client {id} accepted every packet");
        assert!(got == expected, "client {id} got exactly what was sent");
    }
    let s = w.snapshot();
    assert_eq!(
        s.counters.spoofed,
        snap_before.counters.spoofed + (4 * SPOOFED) as u64
    );
    for (id, user) in users.iter().enumerate() {
        let row = s.sessions.iter().find(|r| r.user == *user).unwrap();
        let old = snap_before
            .sessions
            .iter()
            .find(|r| r.user == *user)
            .unwrap();
        assert_eq!(
            (
                row.packets_in - old.packets_in,
                row.bytes_in - old.bytes_in,
                row.packets_out - old.packets_out,
                row.bytes_out - old.bytes_out
            ),
            (N as u64, bytes_in[id], M as u64, bytes_out[id]),
            "{user}"
        );
    }
    let st = dp.stats();
    assert_eq!(
        (st.to_tun - before.to_tun, st.sealed - before.sealed),
        ((4 * N) as u64, (4 * M) as u64)
    );
    assert_eq!(st.to_owner, before.to_owner, "nothing needed the server");
}

/// A thread keeps running the data plane while the server ends a session: once the server
/// has removed it, nothing of it is delivered either way on that thread (its entries are dead
/// for a thread still holding the table), and the other session's traffic never stops.
#[test]
fn an_ended_session_is_dead_for_a_thread_still_using_the_table() {
    const IN: usize = 400;
    let mut w = world(19, &[(aes128_win10(), "alice"), (aes128_win10(), "bob")]);
    let dp = w.server().data_plane();
    let (a, b) = (addr(&w, 0), addr(&w, 1));
    let alice: Vec<Sent> = (0..IN)
        .map(|k| client_send_one(&mut w, 0, &icmp(a, LAN_HOST, false, k as u16, 300)))
        .collect();
    let bob: Vec<Sent> = (0..IN)
        .map(|k| client_send_one(&mut w, 1, &icmp(b, LAN_HOST, false, k as u16, 300)))
        .collect();
    let removed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let rounds_after = Arc::new(AtomicUsize::new(0));

    #[derive(Debug, Default)]
    struct Seen {
        alice_in_before: usize,
        alice_in_after: usize,
        alice_in_dropped_after: usize,
        alice_out_before: usize,
        alice_out_after: usize,
        bob_in: usize,
        bob_out: usize,
    }
    let handle = {
        let (dp, removed, stop, rounds, rounds_after) = (
            dp.clone(),
            Arc::clone(&removed),
            Arc::clone(&stop),
            Arc::clone(&rounds),
            Arc::clone(&rounds_after),
        );
        std::thread::spawn(move || {
            let mut rng = ChaCha20Rng::from_seed([4; 32]);
            let (mut buf, mut batch) = (Vec::new(), Batch::new());
            let (to_alice, to_bob) = (
                icmp(LAN_HOST, a, true, 1, 300),
                icmp(LAN_HOST, b, true, 1, 300),
            );
            let mut seen = Seen::default();
            let (mut ka, mut kb) = (0, 0);
            loop {
                // Read before the calls: when set, the server removed alice before they began.
                let gone = removed.load(Ordering::Acquire);
                // Alice's first half of inbound packets at once, the rest after her removal.
                if ka < IN && (ka < IN / 2 || gone) {
                    match inbound(&dp, &alice[ka], &mut buf) {
                        Inbound::Tun(_) if gone => seen.alice_in_after += 1,
                        Inbound::Tun(_) => seen.alice_in_before += 1,
                        Inbound::Drop if gone => seen.alice_in_dropped_after += 1,
                        Inbound::Drop => {}
                        other => panic!("alice: unexpected {other:?}"),
                    }
                    ka += 1;
                }
                match seal(&dp, &to_alice, &mut batch, &mut rng).0 {
                    Outbound::Sealed(_) if gone => seen.alice_out_after += 1,
                    Outbound::Sealed(_) => seen.alice_out_before += 1,
                    Outbound::Drop => {}
                    other => panic!("alice: unexpected {other:?}"),
                }
                if kb < IN {
                    let v = inbound(&dp, &bob[kb], &mut buf);
                    assert!(matches!(v, Inbound::Tun(_)), "bob: {v:?}");
                    seen.bob_in += 1;
                    kb += 1;
                }
                let v = seal(&dp, &to_bob, &mut batch, &mut rng).0;
                assert_eq!(v, Outbound::Sealed(1), "bob");
                seen.bob_out += 1;
                rounds.fetch_add(1, Ordering::Release);
                if gone {
                    rounds_after.fetch_add(1, Ordering::Release);
                }
                if stop.load(Ordering::Acquire) && ka == IN {
                    return seen;
                }
            }
        })
    };

    wait_for("the thread to use alice's entries", || {
        rounds.load(Ordering::Acquire) >= 50
    });
    // alice is removed from the users file: the server disconnects her and publishes.
    w.reload_users("users:\n  - name: bob\n    password: bob-pass\n")
        .unwrap();
    removed.store(true, Ordering::Release);
    assert_eq!(dp.table_len(), (1, 1), "only bob is left");
    wait_for("the thread to go on after the removal", || {
        rounds_after.load(Ordering::Acquire) >= IN
    });
    stop.store(true, Ordering::Release);
    let seen = handle.join().unwrap();

    assert!(
        seen.alice_in_before > 0 && seen.alice_out_before > 0,
        "{seen:?}"
    );
    assert_eq!(
        seen.alice_in_after, 0,
        "nothing of alice delivered: {seen:?}"
    );
    assert_eq!(
        seen.alice_out_after, 0,
        "nothing sealed for alice: {seen:?}"
    );
    assert!(seen.alice_in_dropped_after >= IN / 2, "{seen:?}");
    assert_eq!(seen.bob_in, IN, "bob's traffic never stopped: {seen:?}");
    assert!(seen.bob_out >= IN);
    let s = w.snapshot();
    assert_eq!(s.sessions.len(), 1);
    assert_eq!(s.sessions[0].user, "bob");
    assert_eq!(s.sessions[0].packets_in, IN as u64);
}

/// A handle taken before any client exists sees every session set up later; data through the
/// server's own entry point does not republish the table, nor does an IKE datagram that
/// changes nothing.
#[test]
fn sessions_set_up_after_the_handle_are_published() {
    let config = WorldConfig {
        seed: 23,
        ..WorldConfig::default()
    };
    let mut w = World::new(config, base()).expect("world config is valid");
    let dp = w.server().data_plane();
    assert_eq!(dp.table_len(), (0, 0));
    let alice = w.add_client(aes128_win10(), PRIVATE, true, "alice", "alice-pass");
    w.connect(alice).unwrap();
    assert!(w.run_until(|w| w.client(alice).stage() >= Stage::Up, CONNECT_LIMIT));
    w.run_for(Duration::from_secs(2));
    assert_eq!(dp.table_len(), (1, 1), "the new session is in the table");
    let a = addr(&w, alice);

    let ip = icmp(a, LAN_HOST, false, 1, 500);
    let p = client_send_one(&mut w, alice, &ip);
    let mut buf = Vec::new();
    let Inbound::Tun(r) = inbound(&dp, &p, &mut buf) else {
        panic!("not carried by the data plane")
    };
    assert_eq!(buf[r], ip[..]);

    let publishes = dp.stats().publishes;
    let ip = icmp(a, LAN_HOST, false, 2, 500);
    let p = client_send_one(&mut w, alice, &ip);
    let Kind::Udp { local, remote } = p.server else {
        unreachable!()
    };
    let now = w.now();
    w.server_mut().handle_udp(now, local, remote, &p.bytes);
    assert_eq!(drain(&mut w), vec![(Transmit::Tun, ip)]);
    assert_eq!(
        dp.stats().publishes,
        publishes,
        "no new table for plain data"
    );
    let server_ike = SocketAddr::from((w.config().server_ip, 500));
    let from = SocketAddr::from(([203, 0, 113, 99], 500));
    w.server_mut().handle_udp(now, server_ike, from, &[0; 8]);
    assert_eq!(
        dp.stats().publishes,
        publishes,
        "nor for IKE that changed nothing"
    );

    // A second client comes up through the world: published beside the first.
    let bob = w.add_client(aes128_win10(), PRIVATE, true, "bob", "bob-pass");
    w.connect(bob).unwrap();
    assert!(w.run_until(|w| w.client(bob).stage() >= Stage::Up, CONNECT_LIMIT));
    w.run_for(Duration::from_secs(2));
    assert_eq!(dp.table_len(), (2, 2));
    for (id, seq) in [(alice, 3), (bob, 1)] {
        let ip = icmp(addr(&w, id), LAN_HOST, false, seq, 500);
        let p = client_send_one(&mut w, id, &ip);
        let Inbound::Tun(r) = inbound(&dp, &p, &mut buf) else {
            panic!("client {id} not carried by the data plane")
        };
        assert_eq!(buf[r], ip[..]);
    }
    let mut rng = ChaCha20Rng::from_seed([6; 32]);
    let reply = icmp(LAN_HOST, addr(&w, bob), true, 1, 500);
    let (v, _) = seal(&dp, &reply, &mut Batch::new(), &mut rng);
    assert_eq!(v, Outbound::Sealed(1));
    let s = w.snapshot();
    let packets_in = |user: &str| {
        s.sessions
            .iter()
            .find(|r| r.user == user)
            .unwrap()
            .packets_in
    };
    assert_eq!((packets_in("alice"), packets_in("bob")), (3, 1));
}

/// NAT rebinding: the client's NAT forgets its mapping and the next packet comes from a new
/// public port. It verifies under the SA, so the data plane hands it over as `Moved`; the
/// server moves the peer (and delivers the packet); from then on the data plane carries the
/// peer's traffic on its new 4-tuple, both ways.
#[test]
fn nat_rebinding_is_handed_over_then_carried_on_the_new_tuple() {
    let mut w = world(17, &[(aes128_win10(), "alice")]);
    let dp = w.server().data_plane();
    let me = addr(&w, 0);
    let p = client_send_one(&mut w, 0, &icmp(me, LAN_HOST, false, 1, 200));
    let old = p.tuple();
    let sock = p.client_sock();
    assert!(matches!(feed(&mut w, &dp, &p).0, Inbound::Tun(_)));

    let moved = w.remap_nat(0);
    let new_remote = moved
        .iter()
        .find(|(o, _)| *o == old.remote)
        .map(|(_, n)| *n)
        .expect("the NAT-T mapping moved");
    let ip = icmp(me, LAN_HOST, false, 2, 200);
    let p = client_send_one(&mut w, 0, &ip);
    let new = p.tuple();
    assert_eq!(new.remote, new_remote);
    assert_eq!(new.local, old.local);
    let _ = drain_events(&mut w);
    let (v, out) = feed(&mut w, &dp, &p);
    let Inbound::ToOwner(h) = v else {
        panic!("{v:?}")
    };
    assert_eq!(h.reason, HandoffReason::Moved { from: old });
    assert_eq!(out, vec![(Transmit::Tun, ip)], "the server delivered it");
    assert!(drain_events(&mut w).contains(&Event::ClientMoved {
        from: old.remote,
        to: new.remote
    }));
    assert_eq!(w.snapshot().sessions[0].client_public, new.remote);

    // The data plane now carries the peer on its new 4-tuple, both ways.
    let to_owner = dp.stats().to_owner;
    for seq in 3..8 {
        let ip = icmp(me, LAN_HOST, false, seq, 200);
        let p = client_send_one(&mut w, 0, &ip);
        assert_eq!(p.tuple(), new);
        assert_eq!(feed(&mut w, &dp, &p).1, vec![(Transmit::Tun, ip)]);
    }
    assert_eq!(dp.stats().to_owner, to_owner, "no more hand-offs");
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    let reply = icmp(LAN_HOST, me, true, 1, 200);
    let (v, out) = seal(&dp, &reply, &mut Batch::new(), &mut rng);
    assert_eq!(v, Outbound::Sealed(1));
    assert_eq!(
        out[0].0,
        Transmit::Udp {
            local: new.local,
            remote: new.remote
        }
    );
    deliver(&mut w, 0, sock, out[0].0, &out[0].1);
    assert_eq!(client_ip(&mut w, 0), vec![reply]);
    // A packet from the old 4-tuple is not the data plane's to deliver any more.
    let stale = client_send_one(&mut w, 0, &icmp(me, LAN_HOST, false, 9, 200)).from(old.remote);
    let mut buf = Vec::new();
    let v = inbound(&dp, &stale, &mut buf);
    let Inbound::ToOwner(h) = v else {
        panic!("{v:?}")
    };
    assert_eq!(h.reason, HandoffReason::Moved { from: new });
}

/// A rekey where the client sends on the new SA pair before the server ever used it: the data
/// plane carries that traffic at once (every installed inbound SA is published) and notes the
/// first use; once the control plane takes the note, replies follow to the new pair.
#[test]
fn rekey_used_first_by_the_client_is_carried_at_once_and_replies_follow() {
    let mut w = world(29, &[(aes128_win10(), "alice")]);
    let dp = w.server().data_plane();
    let me = addr(&w, 0);
    w.client_mut(0).set_old_sa_grace(None);
    let old = w.client(0).esp_spis().unwrap();
    let now = w.now();
    w.client_mut(0).rekey(now).unwrap();
    w.run_for(Duration::from_secs(1));
    let new = w.client(0).esp_spis().unwrap();
    assert_ne!(new, old);
    assert_eq!(dp.table_len(), (2, 1), "both inbound SAs, one address");
    assert!(!dp.notes_pending());

    // The client moves to the new pair at once; the data plane carries it.
    let ip = icmp(me, LAN_HOST, false, 1, 200);
    let p = client_send_one(&mut w, 0, &ip);
    assert_eq!(spi(&p.bytes), new.1, "the client sends on the new pair");
    let sock = p.client_sock();
    let to_owner = dp.stats().to_owner;
    let mut buf = Vec::new();
    let Inbound::Tun(r) = inbound(&dp, &p, &mut buf) else {
        panic!("the new SA is not carried")
    };
    assert_eq!(buf[r], ip[..]);
    assert_eq!(dp.stats().to_owner, to_owner, "no hand-off");
    assert!(
        dp.notes_pending(),
        "the first use is noted for the control plane"
    );

    // Until the control plane took the note it sends with the old pair (which the client
    // keeps), so nothing is lost.
    let mut rng = ChaCha20Rng::from_seed([10; 32]);
    let mut batch = Batch::new();
    let reply = icmp(LAN_HOST, me, true, 1, 200);
    let (v, out) = seal(&dp, &reply, &mut batch, &mut rng);
    assert_eq!(v, Outbound::Sealed(1));
    assert_eq!(spi(&out[0].1), old.0);
    deliver(&mut w, 0, sock, out[0].0, &out[0].1);
    assert_eq!(client_ip(&mut w, 0), vec![reply]);

    // A daemon wakes the control plane when notes are pending.
    let now = w.now();
    w.server_mut().handle_timeout(now);
    assert!(!dp.notes_pending());
    for seq in 2..6 {
        let reply = icmp(LAN_HOST, me, true, seq, 200);
        let (v, out) = seal(&dp, &reply, &mut batch, &mut rng);
        assert_eq!(v, Outbound::Sealed(1));
        assert_eq!(spi(&out[0].1), new.0, "replies follow to the new pair");
        deliver(&mut w, 0, sock, out[0].0, &out[0].1);
        assert_eq!(client_ip(&mut w, 0), vec![reply]);
        let ip = icmp(me, LAN_HOST, false, seq, 200);
        let p = client_send_one(&mut w, 0, &ip);
        assert_eq!(feed(&mut w, &dp, &p).1, vec![(Transmit::Tun, ip)]);
    }
    assert_eq!(
        dp.stats().to_owner,
        to_owner,
        "no hand-off in the whole switch"
    );
    let s = w.snapshot();
    assert_eq!(s.sessions[0].packets_in, 5);
}

/// ESP with an SPI nobody has is dropped by the data plane and counted; the server sees
/// nothing of it, and the SA whose sequence numbers it copies is not disturbed.
#[test]
fn unknown_spi_is_dropped_by_the_data_plane_and_counted() {
    let mut w = world(31, &[(aes128_win10(), "alice")]);
    let dp = w.server().data_plane();
    let me = addr(&w, 0);
    let ip = icmp(me, LAN_HOST, false, 1, 200);
    let genuine = client_send_one(&mut w, 0, &ip);
    let (_, server_spi) = w.client(0).esp_spis().unwrap();
    let bogus_spi = server_spi ^ 0x5a5a_0001;
    let mut bogus = genuine.clone();
    bogus.bytes[..4].copy_from_slice(&bogus_spi.to_be_bytes());
    let _ = drain_events(&mut w);
    let before = dp.stats();
    let snap = w.snapshot();

    let mut buf = Vec::new();
    assert_eq!(inbound(&dp, &bogus, &mut buf), Inbound::Drop);
    let Kind::Udp { remote, .. } = bogus.server else {
        unreachable!()
    };
    let std::net::IpAddr::V4(remote_ip) = remote.ip() else {
        unreachable!()
    };
    let raw = Sent {
        server: Kind::Esp {
            local: w.config().server_ip,
            remote: remote_ip,
        },
        ..bogus.clone()
    };
    assert_eq!(inbound(&dp, &raw, &mut buf), Inbound::Drop);
    let after = dp.stats();
    assert_eq!(after.esp_dropped, before.esp_dropped + 2);
    assert_eq!(
        (after.to_owner, after.ike, after.malformed, after.to_tun),
        (before.to_owner, before.ike, before.malformed, before.to_tun),
        "nothing else happened"
    );
    // The server's own entry point is the same data plane: dropped and counted once more.
    let Kind::Udp { local, remote } = bogus.server else {
        unreachable!()
    };
    let now = w.now();
    w.server_mut().handle_udp(now, local, remote, &bogus.bytes);
    assert!(drain(&mut w).is_empty());
    assert!(drain_events(&mut w).is_empty());
    assert_eq!(dp.stats().to_owner, before.to_owner);
    let s = w.snapshot();
    assert_eq!(s.counters.esp_dropped, snap.counters.esp_dropped + 3);
    assert_eq!(s.sessions, snap.sessions, "no session changed");
    // The genuine packet with the same sequence number is still accepted.
    assert_eq!(feed(&mut w, &dp, &genuine).1, vec![(Transmit::Tun, ip)]);
}

/// A DHCPINFORM (RFC 2131 §4.3.5) from an established client: the data plane hands it over
/// (it never reaches the TUN), and the server answers with the configured routes and domain,
/// sealed for that client.
#[test]
fn dhcpinform_through_the_data_plane_gets_routes_and_never_reaches_the_tun() {
    use wire::dhcp::{ClasslessRoutes, MessageType, Op, OptionCode, Packet, Repr};
    let config = WorldConfig {
        seed: 41,
        extra_server_yaml: "client_routes: [192.168.100.0/24, 172.16.0.0/12]\n\
                            client_domain: corp.example\n"
            .into(),
        ..WorldConfig::default()
    };
    let mut w = world_with(config, &[(aes128_win10(), "alice")]);
    let dp = w.server().data_plane();
    let me = addr(&w, 0);
    // The first host of the default pool: the server's own address on the links.
    let server_addr = Ipv4Addr::new(10, 99, 0, 1);
    let inform = packet::dhcp_inform(me, 0x5eed_4321);
    let p = client_send_one(&mut w, 0, &inform);
    let before = dp.stats();
    let (v, out) = feed(&mut w, &dp, &p);
    let Inbound::ToOwner(h) = v else {
        panic!("{v:?}")
    };
    assert_eq!(h.reason, HandoffReason::Dhcp);
    assert_eq!(dp.stats().to_tun, before.to_tun, "never written to the TUN");
    assert!(
        out.iter().all(|(t, _)| *t != Transmit::Tun),
        "the INFORM leaked into the TUN: {out:?}"
    );
    // One answer, sealed for the client's 4-tuple.
    assert_eq!(out.len(), 1, "{out:?}");
    let tuple = p.tuple();
    assert_eq!(
        out[0].0,
        Transmit::Udp {
            local: tuple.local,
            remote: tuple.remote
        }
    );
    deliver(&mut w, 0, p.client_sock(), out[0].0, &out[0].1);
    let replies = client_ip(&mut w, 0);
    assert_eq!(replies.len(), 1, "{replies:?}");
    let ip = &replies[0];
    assert_eq!(packet::addresses(ip), Some((server_addr, me)));
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let udp = &ip[ihl..];
    assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), 67);
    assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 68);
    let msg = Packet::new_checked(&udp[8..]).unwrap();
    let ack = Repr::parse(&msg).unwrap();
    assert_eq!(ack.op, Op::Reply);
    assert_eq!(ack.xid, 0x5eed_4321);
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(
        ack.option(OptionCode::DomainName),
        Some(&b"corp.example"[..])
    );
    for code in [
        OptionCode::ClasslessStaticRoute,
        OptionCode::MsClasslessStaticRoute,
    ] {
        let routes: Vec<(Ipv4Addr, u8, Ipv4Addr)> =
            ClasslessRoutes::new(ack.option(code).expect("routes option"))
                .map(|r| {
                    let r = r.unwrap();
                    (r.destination, r.prefix_len, r.router)
                })
                .collect();
        assert_eq!(
            routes,
            vec![
                (Ipv4Addr::new(192, 168, 100, 0), 24, server_addr),
                (Ipv4Addr::new(172, 16, 0, 0), 12, server_addr),
            ],
            "{code:?}"
        );
    }
    // Ordinary traffic of the same client stays on the data plane.
    let ip = icmp(me, LAN_HOST, false, 1, 200);
    let p = client_send_one(&mut w, 0, &ip);
    assert_eq!(feed(&mut w, &dp, &p).1, vec![(Transmit::Tun, ip)]);
}

/// 100,000 ESP datagrams with random SPIs from random sources, on two threads, cost the server
/// nothing: the data plane drops and counts every one, hands nothing over, and an established
/// client's pings (on one thread, as its flow stays on one socket) and the replies to it (on
/// the other) all get through meanwhile.
#[test]
fn random_spi_flood_costs_the_server_nothing() {
    const FLOOD: usize = 100_000;
    const PINGS: usize = 200;
    let mut w = world(37, &[(aes128_win10(), "alice")]);
    let dp = w.server().data_plane();
    let me = addr(&w, 0);
    let (_, ours) = w.client(0).esp_spis().unwrap();
    let local = nat_t(&w);
    let pings: Vec<Vec<u8>> = (0..PINGS)
        .map(|k| icmp(me, LAN_HOST, false, k as u16, 100 + k * 5))
        .collect();
    let sent: Vec<Sent> = pings
        .iter()
        .map(|ip| client_send_one(&mut w, 0, ip))
        .collect();
    let sock = sent[0].client_sock();
    let replies: Vec<Vec<u8>> = (0..PINGS)
        .map(|k| icmp(LAN_HOST, me, true, k as u16, 100 + k * 5))
        .collect();
    let _ = drain_events(&mut w);
    let before = dp.stats();
    let snap = w.snapshot();

    let lanes: [(Vec<Sent>, Vec<Vec<u8>>); 2] = [(sent, Vec::new()), (Vec::new(), replies.clone())];
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = lanes
        .into_iter()
        .enumerate()
        .map(|(t, (pings, replies))| {
            let (dp, barrier) = (dp.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut rng = ChaCha20Rng::from_seed([50 + t as u8; 32]);
                let (mut buf, mut batch) = (Vec::new(), Batch::new());
                let (mut tun, mut sealed, mut flood_dropped) = (Vec::new(), Vec::new(), 0);
                let share = FLOOD / 2;
                let every = share / PINGS;
                barrier.wait();
                for k in 0..share {
                    let spi = loop {
                        let s: u32 = rng.r#gen();
                        // SPI 0 is the non-ESP marker (IKE), not ESP (RFC 3948 §2.2).
                        if s != 0 && s != ours {
                            break s;
                        }
                    };
                    let len = rng.gen_range(16..1400);
                    buf.clear();
                    buf.extend_from_slice(&spi.to_be_bytes());
                    buf.resize(len, 0);
                    rng.fill(&mut buf[4..]);
                    let remote = SocketAddr::from((rng.r#gen::<[u8; 4]>(), rng.r#gen::<u16>()));
                    match dp.inbound_udp(base(), local, remote, &mut buf) {
                        Inbound::Drop => flood_dropped += 1,
                        other => panic!("flood datagram: {other:?}"),
                    }
                    if k % every == 0 {
                        let i = k / every;
                        if let Some(p) = pings.get(i) {
                            match inbound(&dp, p, &mut buf) {
                                Inbound::Tun(r) => tun.push(buf[r].to_vec()),
                                other => panic!("ping {i}: {other:?}"),
                            }
                        }
                        if let Some(ip) = replies.get(i) {
                            let (v, out) = seal(&dp, ip, &mut batch, &mut rng);
                            assert_eq!(v, Outbound::Sealed(1));
                            sealed.extend(out);
                        }
                    }
                }
                (tun, sealed, flood_dropped)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let flood_dropped: usize = results.iter().map(|r| r.2).sum();
    assert_eq!(flood_dropped, FLOOD);
    assert_eq!(
        results[0].0, pings,
        "every ping arrived, intact and in order"
    );
    assert_eq!(results[1].1.len(), PINGS);
    for (t, bytes) in &results[1].1 {
        deliver(&mut w, 0, sock, *t, bytes);
    }
    assert_eq!(client_ip(&mut w, 0), replies, "every reply arrived");

    let after = dp.stats();
    assert_eq!(after.esp_dropped, before.esp_dropped + FLOOD as u64);
    assert_eq!(after.to_owner, before.to_owner, "no hand-offs");
    assert_eq!((after.ike, after.malformed), (before.ike, before.malformed));
    assert_eq!(after.to_tun, before.to_tun + PINGS as u64);
    assert_eq!(after.sealed, before.sealed + PINGS as u64);
    assert_eq!(after.publishes, before.publishes, "the table never changed");
    // The server had nothing to do: no output, no event; its counters show the drops.
    assert!(drain(&mut w).is_empty());
    assert!(drain_events(&mut w).is_empty());
    let s = w.snapshot();
    assert_eq!(
        s.counters.esp_dropped,
        snap.counters.esp_dropped + FLOOD as u64
    );
    assert_eq!(s.counters.malformed, snap.counters.malformed);
    assert_eq!(
        s.sessions[0].packets_in,
        snap.sessions[0].packets_in + PINGS as u64
    );
    assert_eq!(
        s.sessions[0].packets_out,
        snap.sessions[0].packets_out + PINGS as u64
    );
}

/// A client sends its first L2TP message (the SCCRQ, RFC 3193 §4) right behind Quick Mode
/// message 3 (RFC 2409 §5.5). A daemon thread that reads both passes message 3 to the control
/// plane and runs the data plane on the SCCRQ before the SA is installed. The data plane must
/// keep the SCCRQ behind message 3 (`Inbound::AwaitingQm3`, the buffer untouched), not drop
/// it as an unknown SPI: dropped, the client waits a second for its L2TP retransmission on
/// every connect.
#[test]
fn esp_right_behind_quick_mode_3_follows_it_to_the_control_plane() {
    let config = WorldConfig {
        seed: 41,
        ..WorldConfig::default()
    };
    let mut w = World::new(config, base()).unwrap();
    let id = w.add_client(aes128_win10(), PRIVATE, true, "alice", "alice-pass");
    // Hold back the client's second Quick Mode message (message 3) and its first ESP.
    let held: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let quick_modes = Rc::new(RefCell::new(0u32));
    {
        let (held, quick_modes) = (Rc::clone(&held), Rc::clone(&quick_modes));
        w.set_drop_filter(Some(Box::new(move |dir, bytes| {
            if dir != Direction::ToServer(id) || bytes.len() < 24 {
                return false;
            }
            let esp = bytes[..4] != [0, 0, 0, 0];
            let quick_mode = !esp && bytes[22] == 32; // RFC 2408 §3.1 octet 18, RFC 2409 §5.5
            if quick_mode {
                *quick_modes.borrow_mut() += 1;
            }
            let keep =
                (quick_mode && *quick_modes.borrow() == 2) || (esp && held.borrow().len() == 1);
            if keep {
                held.borrow_mut().push(bytes.to_vec());
            }
            keep
        })));
    }
    w.connect(id).unwrap();
    assert!(w.run_until(|_| held.borrow().len() == 2, CONNECT_LIMIT));
    w.set_drop_filter(None);
    let (qm3, sccrq) = {
        let h = held.borrow();
        (h[0].clone(), h[1].clone())
    };
    let local = nat_t(&w);
    let remote = w
        .nat_mapping(id, SocketAddr::from((PRIVATE, 4500)), local)
        .expect("the client floated to 4500");

    let dp = w.server().data_plane();
    let before = dp.stats();
    let mut buf = sccrq.clone();
    assert_eq!(
        dp.inbound_udp(base(), local, remote, &mut buf),
        Inbound::AwaitingQm3
    );
    assert_eq!(buf, sccrq, "left untouched for the control plane");
    let after = dp.stats();
    assert_eq!(after.awaiting_qm3, before.awaiting_qm3 + 1);
    assert_eq!(after.esp_dropped, before.esp_dropped);
    // A stranger's SPI is still dropped.
    let mut bogus = sccrq.clone();
    bogus[0] ^= 0x80;
    assert_eq!(
        dp.inbound_udp(base(), local, remote, &mut bogus),
        Inbound::Drop
    );

    // What the daemon does: message 3, then the ESP, in that order, to the control plane.
    let t0 = w.now();
    w.server_mut().handle_udp(t0, local, remote, &qm3);
    w.server_mut().handle_udp(t0, local, remote, &sccrq);
    assert!(w.run_until(|w| w.client(id).stage() >= Stage::Up, CONNECT_LIMIT));
    let took = w.now() - t0;
    assert!(
        took < Duration::from_secs(1),
        "the SCCRQ was answered without a retransmission: up {took:?} after message 3"
    );
    // Installed: the SPI is the data plane's now, and nothing awaits message 3 any more.
    let mut again = sccrq.clone();
    assert_ne!(
        dp.inbound_udp(base(), local, remote, &mut again),
        Inbound::AwaitingQm3
    );
    assert_eq!(dp.stats().awaiting_qm3, after.awaiting_qm3);
}
