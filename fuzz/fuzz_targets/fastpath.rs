//! The multi-core data path, `server::FastPath`, of a server with three sessions up (the
//! `testkit::fuzz::fixtures::FastPathFixture`: two clients behind one NAT over UDP 4500 and one
//! over raw ESP), fed arbitrary datagrams, raw ESP, TUN packets, time steps, users reloads and
//! held tables (`Pin`). What the fast path does not take goes to the owner, as a worker hands
//! it over. Invariants:
//! - nothing panics;
//! - a `ToTun` range lies inside the buffer and holds an IPv4 packet whose source is the
//!   address of a session of the very peer the packet came from (never another peer's);
//! - `ToOwner` leaves the buffer untouched, `ToOwnerDecrypted` keeps the packet's addresses and
//!   points inside the buffer;
//! - a TUN packet is sealed only for the peer whose session owns its destination;
//! - the owner sends nothing to an address that never sent us anything.
//!
//! The server is rebuilt from the fixture's transcript for every input: it shares replay
//! windows and counters with the fast path, so one reused across inputs would not replay a
//! crash. The input is a `testkit::fuzz::script::Step` script; the seeds are the fixture's
//! clients' traffic (pings, DHCPINFORM, LAN packets, idle time, a NAT rebinding, a rekey).
#![no_main]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use server::{Event, Inbound, Outbound, Pinned, Server};
use testkit::fuzz::fixtures::{FastPathFixture, FastSession, MAX_STEPS, SERVER_IP};
use testkit::fuzz::script::Step;

fn fixture() -> &'static FastPathFixture {
    static F: OnceLock<FastPathFixture> = OnceLock::new();
    F.get_or_init(|| FastPathFixture::new().expect("the fastpath fixture's clients come up"))
}

/// Who a packet came from or goes to: a UDP 4-tuple's remote, or a raw ESP peer's address.
#[derive(Debug, Clone, Copy)]
enum Peer {
    Udp(SocketAddr),
    Raw(Ipv4Addr),
}

impl Peer {
    fn owns(&self, s: &FastSession) -> bool {
        match *self {
            Self::Udp(remote) => s.udp && s.remote == remote,
            Self::Raw(ip) => !s.udp && s.remote.ip() == IpAddr::V4(ip),
        }
    }
}

/// The sessions as the fixture left them, refreshed from the owner's snapshot when the owner
/// moved a peer or changed its sessions.
struct Sessions(Vec<FastSession>);

impl Sessions {
    fn refresh(&mut self, server: &Server, now: Instant) {
        self.0 = server
            .snapshot(now)
            .sessions
            .iter()
            .filter_map(|s| {
                Some(FastSession {
                    addr: s.assigned_ip?,
                    remote: s.client_public,
                    udp: s.nat,
                })
            })
            .collect();
    }

    /// Whether `addr` is the address of a session of `peer` (looked up again in the owner's
    /// state before saying no).
    fn check(&mut self, server: &Server, now: Instant, addr: Ipv4Addr, peer: Peer) -> bool {
        let owned = |s: &Self| s.0.iter().any(|x| x.addr == addr && peer.owns(x));
        if owned(self) {
            return true;
        }
        self.refresh(server, now);
        owned(self)
    }
}

fn ipv4_addr(packet: &[u8], at: usize) -> Option<Ipv4Addr> {
    let b = packet.get(at..at + 4)?;
    Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

/// Checks an inbound verdict and hands the packet to the owner as a worker does.
fn inbound(
    server: &mut Server,
    now: Instant,
    sessions: &mut Sessions,
    verdict: Inbound,
    buf: &[u8],
    input: &[u8],
    (local, remote): (SocketAddr, SocketAddr),
    peer: Peer,
) {
    match verdict {
        Inbound::ToTun(range) => {
            assert!(
                range.start <= range.end && range.end <= buf.len(),
                "ToTun outside the buffer"
            );
            let packet = &buf[range];
            let src = ipv4_addr(packet, 12).expect("ToTun holds an IPv4 header");
            assert!(
                sessions.check(server, now, src, peer),
                "a packet from {peer:?} with source {src} went to the TUN"
            );
        }
        Inbound::ToOwner => {
            assert_eq!(buf, input, "ToOwner changed the buffer");
            match peer {
                Peer::Udp(_) => server.handle_udp(now, local, remote, input),
                Peer::Raw(ip) => server.handle_esp(now, SERVER_IP, ip, input),
            }
        }
        Inbound::ToOwnerDecrypted {
            local: l,
            remote: r,
            spi,
            src_port,
            l2tp,
        } => {
            assert_eq!(
                (l, r),
                (local, remote),
                "ToOwnerDecrypted changed the addresses"
            );
            assert!(
                l2tp.start <= l2tp.end && l2tp.end <= buf.len(),
                "L2TP outside the buffer"
            );
            server.handle_decrypted(now, l, r, spi, src_port, &buf[l2tp]);
        }
        Inbound::Drop => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let (mut server, mut now) = fx.replay(Instant::now());
    let fp = server.fast_path();
    let mut sessions = Sessions(fx.sessions.clone());
    let mut heard_from: HashSet<IpAddr> = sessions.0.iter().map(|s| s.remote.ip()).collect();
    let mut pinned: Option<Pinned> = None;
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for step in Step::read_all(data).into_iter().take(MAX_STEPS) {
        match step {
            Step::Udp {
                local,
                remote,
                data,
            } => {
                heard_from.insert(remote.ip());
                let mut b = data.to_vec();
                let v = match &pinned {
                    Some(p) => p.inbound_udp(local, remote, &mut b),
                    None => fp.inbound_udp(local, remote, &mut b),
                };
                inbound(
                    &mut server,
                    now,
                    &mut sessions,
                    v,
                    &b,
                    data,
                    (local, remote),
                    Peer::Udp(remote),
                );
            }
            Step::Esp { remote, data } => {
                heard_from.insert(IpAddr::V4(remote));
                let mut b = data.to_vec();
                let v = match &pinned {
                    Some(p) => p.inbound_esp(SERVER_IP, remote, &mut b),
                    None => fp.inbound_esp(SERVER_IP, remote, &mut b),
                };
                let tuple = (
                    SocketAddr::new(IpAddr::V4(SERVER_IP), 0),
                    SocketAddr::new(IpAddr::V4(remote), 0),
                );
                inbound(
                    &mut server,
                    now,
                    &mut sessions,
                    v,
                    &b,
                    data,
                    tuple,
                    Peer::Raw(remote),
                );
            }
            Step::Tun { data } => {
                let v = match &pinned {
                    Some(p) => p.outbound(data, &mut out, &mut rng),
                    None => fp.outbound(data, &mut out, &mut rng),
                };
                let peer = match v {
                    Outbound::Udp { remote, .. } => Some(Peer::Udp(remote)),
                    Outbound::Esp { remote, .. } => Some(Peer::Raw(remote)),
                    Outbound::ToOwner => {
                        server.handle_tun(now, data);
                        None
                    }
                    Outbound::Drop => None,
                };
                if let Some(peer) = peer {
                    assert!(!out.is_empty(), "an empty ESP packet");
                    let dst = ipv4_addr(data, 16).expect("a sealed packet has an IPv4 header");
                    assert!(
                        sessions.check(&server, now, dst, peer),
                        "a packet to {dst} was sealed for {peer:?}"
                    );
                }
            }
            Step::Advance { ms } => {
                now += Duration::from_millis(u64::from(ms));
                server.handle_timeout(now);
            }
            Step::ReloadUsers => server.reload_users(now, fx.parts().users.clone()),
            Step::Pin => {
                pinned = if pinned.is_some() {
                    None
                } else {
                    Some(fp.pin())
                }
            }
        }
        while let Some(t) = server.poll_transmit(&mut buf) {
            match t {
                server::Transmit::Udp { remote, .. } => {
                    assert!(
                        heard_from.contains(&remote.ip()),
                        "sent to a stranger: {remote}"
                    );
                }
                server::Transmit::Esp { remote, .. } => {
                    assert!(
                        heard_from.contains(&IpAddr::V4(remote)),
                        "sent to a stranger: {remote}"
                    );
                }
                _ => {}
            }
        }
        let mut changed = false;
        while let Some(e) = server.poll_event() {
            changed |= matches!(
                e,
                Event::ClientMoved { .. } | Event::SessionUp { .. } | Event::SessionDown { .. }
            );
        }
        if changed {
            sessions.refresh(&server, now);
        }
    }
});
