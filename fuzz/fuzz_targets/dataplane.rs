//! `server::DataPlane`, the one data path of every thread, of a server with three sessions up
//! (the `testkit::fuzz::fixtures::DataPlaneFixture`: two clients behind one NAT over UDP 4500
//! and one over raw ESP), fed arbitrary datagrams, raw ESP, TUN packets, time steps and users
//! reloads. What the data plane leaves to the control plane reaches the `Server` as the
//! daemon's readers pass it on: IKE to `handle_udp`, hand-offs to `handle_decrypted` with a
//! copy of the L2TP message, and a wake-up (`notes_pending`) to `handle_timeout`. A `Hold`
//! step holds all of that back, in order, as a busy control plane does, until the next `Hold`
//! delivers it. Invariants:
//! - nothing panics;
//! - a `Tun` range lies inside the buffer and holds an IPv4 packet whose source is the address
//!   of a session of the very peer the packet came from (never another peer's);
//! - `Ike` comes only from UDP and leaves the buffer untouched;
//! - a hand-off keeps the packet's 4-tuple, its L2TP message lies inside the buffer, and
//!   `Moved` names the 4-tuple the peer had, another one;
//! - a TUN packet is sealed only for the peer whose session owns its destination, and
//!   `TooBig` answers with one ICMP error to the packet's sender, for the TUN;
//! - the control plane sends nothing to an address that never sent us anything.
//!
//! The server is rebuilt from the fixture's transcript for every input: it shares replay
//! windows and counters with the data plane, so one reused across inputs would not replay a
//! crash. The input is a `testkit::fuzz::script::Step` script; the seeds are the fixture's
//! clients' traffic (pings, DHCPINFORM, LAN packets, idle time, a NAT rebinding, a rekey).
#![no_main]

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use server::{
    Batch, DataPlane, Event, Handoff, HandoffReason, Inbound, Outbound, Server, Transmit,
};
use testkit::fuzz::fixtures::{DataPlaneFixture, DataPlaneSession, MAX_STEPS, SERVER_IP};
use testkit::fuzz::script::Step;
use wire::FourTuple;

fn fixture() -> &'static DataPlaneFixture {
    static F: OnceLock<DataPlaneFixture> = OnceLock::new();
    F.get_or_init(|| DataPlaneFixture::new().expect("the dataplane fixture's clients come up"))
}

/// Who a packet came from or goes to: a UDP 4-tuple's remote, or a raw ESP peer's address.
#[derive(Debug, Clone, Copy)]
enum Peer {
    Udp(SocketAddr),
    Raw(Ipv4Addr),
}

impl Peer {
    fn owns(&self, s: &DataPlaneSession) -> bool {
        match *self {
            Self::Udp(remote) => s.udp && s.remote == remote,
            Self::Raw(ip) => !s.udp && s.remote.ip() == IpAddr::V4(ip),
        }
    }
}

/// The sessions as the fixture left them, refreshed from the control plane's snapshot when
/// it moved a peer or changed its sessions.
struct Sessions(Vec<DataPlaneSession>);

impl Sessions {
    fn refresh(&mut self, server: &Server, now: Instant) {
        self.0 = server
            .snapshot(now)
            .sessions
            .iter()
            .filter_map(|s| {
                Some(DataPlaneSession {
                    addr: s.assigned_ip?,
                    remote: s.client_public,
                    udp: s.nat,
                })
            })
            .collect();
    }

    /// Whether `addr` is the address of a session of `peer` (looked up again in the control
    /// plane's state before saying no).
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
    let b: [u8; 4] = packet.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// What a reader passes to the control plane.
enum Owed {
    Ike {
        local: SocketAddr,
        remote: SocketAddr,
        data: Vec<u8>,
    },
    Esp {
        local: Ipv4Addr,
        remote: Ipv4Addr,
        data: Vec<u8>,
    },
    Decrypted {
        handoff: Handoff,
        data: Vec<u8>,
    },
    Wake,
}

/// The control plane and what the data plane passed it, as the daemon's owner task sees it.
struct Owner {
    server: Server,
    now: Instant,
    sessions: Sessions,
    heard_from: HashSet<IpAddr>,
    /// Held back by `Hold` (`None`: delivered at once).
    held: Option<VecDeque<Owed>>,
    /// A wake-up is on its way (the daemon queues at most one).
    wake_queued: bool,
    buf: Vec<u8>,
}

impl Owner {
    fn pass(&mut self, owed: Owed) {
        match &mut self.held {
            Some(queue) => queue.push_back(owed),
            None => self.deliver(owed),
        }
    }

    fn deliver(&mut self, owed: Owed) {
        let now = self.now;
        match owed {
            Owed::Ike {
                local,
                remote,
                data,
            } => self.server.handle_udp(now, local, remote, &data),
            Owed::Esp {
                local,
                remote,
                data,
            } => self.server.handle_esp(now, local, remote, &data),
            Owed::Decrypted { handoff, data } => {
                self.server.handle_decrypted(now, &handoff, &data);
            }
            Owed::Wake => {
                self.wake_queued = false;
                self.server.handle_timeout(now);
            }
        }
        self.drain();
    }

    /// Holds from now on, or delivers what was held and stops holding.
    fn toggle_hold(&mut self) {
        match self.held.take() {
            Some(queue) => {
                for owed in queue {
                    self.deliver(owed);
                }
            }
            None => self.held = Some(VecDeque::new()),
        }
    }

    /// The reader's wake-up after a packet: the control plane must look at the data plane's
    /// notes soon.
    fn wake_if_noted(&mut self, dp: &DataPlane) {
        if dp.notes_pending() && !self.wake_queued {
            self.wake_queued = true;
            self.pass(Owed::Wake);
        }
    }

    /// Takes the control plane's outputs and checks where they go.
    fn drain(&mut self) {
        while let Some(t) = self.server.poll_transmit(&mut self.buf) {
            match t {
                Transmit::Udp { remote, .. } => {
                    assert!(
                        self.heard_from.contains(&remote.ip()),
                        "sent to a stranger: {remote}"
                    );
                }
                Transmit::Esp { remote, .. } => {
                    assert!(
                        self.heard_from.contains(&IpAddr::V4(remote)),
                        "sent to a stranger: {remote}"
                    );
                }
                _ => {}
            }
        }
        let mut changed = false;
        while let Some(e) = self.server.poll_event() {
            changed |= matches!(
                e,
                Event::ClientMoved { .. } | Event::SessionUp { .. } | Event::SessionDown { .. }
            );
        }
        if changed {
            self.sessions.refresh(&self.server, self.now);
        }
    }

    /// Checks an inbound verdict on `buf` (which held `input`) and passes on what the control
    /// plane takes.
    fn inbound(
        &mut self,
        verdict: Inbound,
        buf: &[u8],
        input: &[u8],
        tuple: FourTuple,
        peer: Peer,
    ) {
        match verdict {
            Inbound::Tun(range) => {
                assert!(
                    range.start <= range.end && range.end <= buf.len(),
                    "Tun outside the buffer"
                );
                let packet = &buf[range];
                let src = ipv4_addr(packet, 12).expect("Tun holds an IPv4 header");
                assert!(
                    self.sessions.check(&self.server, self.now, src, peer),
                    "a packet from {peer:?} with source {src} went to the TUN"
                );
            }
            Inbound::Ike => {
                assert!(matches!(peer, Peer::Udp(_)), "IKE from raw ESP");
                assert_eq!(buf, input, "Ike changed the buffer");
                self.pass(Owed::Ike {
                    local: tuple.local,
                    remote: tuple.remote,
                    data: input.to_vec(),
                });
            }
            Inbound::ToOwner(handoff) => {
                assert_eq!(handoff.tuple, tuple, "a hand-off changed the 4-tuple");
                let l2tp = handoff.l2tp.clone();
                assert!(
                    l2tp.start <= l2tp.end && l2tp.end <= buf.len(),
                    "L2TP outside the buffer"
                );
                if let HandoffReason::Moved { from } = handoff.reason {
                    assert_ne!(from, tuple, "Moved from where it is");
                }
                let data = buf[l2tp].to_vec();
                self.pass(Owed::Decrypted { handoff, data });
            }
            Inbound::AwaitingQm3 => {
                assert_eq!(buf, input, "AwaitingQm3 changed the buffer");
                let data = input.to_vec();
                match (tuple.local, tuple.remote) {
                    (SocketAddr::V4(l), SocketAddr::V4(r)) if matches!(peer, Peer::Raw(_)) => self
                        .pass(Owed::Esp {
                            local: *l.ip(),
                            remote: *r.ip(),
                            data,
                        }),
                    (local, remote) => self.pass(Owed::Ike {
                        local,
                        remote,
                        data,
                    }),
                }
            }
            Inbound::Drop => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let (server, now) = fx.replay(Instant::now());
    let dp = server.data_plane();
    let sessions = Sessions(fx.sessions.clone());
    let heard_from = sessions.0.iter().map(|s| s.remote.ip()).collect();
    let mut owner = Owner {
        server,
        now,
        sessions,
        heard_from,
        held: None,
        wake_queued: false,
        buf: Vec::new(),
    };
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let mut batch = Batch::new();
    for step in Step::read_all(data).into_iter().take(MAX_STEPS) {
        match step {
            Step::Udp {
                local,
                remote,
                data,
            } => {
                owner.heard_from.insert(remote.ip());
                let mut b = data.to_vec();
                let v = dp.inbound_udp(owner.now, local, remote, &mut b);
                let tuple = FourTuple { local, remote };
                owner.inbound(v, &b, data, tuple, Peer::Udp(remote));
            }
            Step::Esp { remote, data } => {
                owner.heard_from.insert(IpAddr::V4(remote));
                let mut b = data.to_vec();
                let v = dp.inbound_esp(owner.now, SERVER_IP, remote, &mut b);
                let tuple = FourTuple {
                    local: SocketAddr::new(IpAddr::V4(SERVER_IP), 0),
                    remote: SocketAddr::new(IpAddr::V4(remote), 0),
                };
                owner.inbound(v, &b, data, tuple, Peer::Raw(remote));
            }
            Step::Tun { data } => {
                batch.clear();
                match dp.outbound(owner.now, data, &mut batch, &mut rng) {
                    Outbound::Sealed(n) => {
                        assert!(
                            n > 0 && batch.len() == n,
                            "{n} sealed, {} in the batch",
                            batch.len()
                        );
                        let dst = ipv4_addr(data, 16).expect("a sealed packet has an IPv4 header");
                        for (t, bytes) in batch.iter() {
                            assert!(!bytes.is_empty(), "an empty ESP packet");
                            let peer = match t {
                                Transmit::Udp { remote, .. } => Peer::Udp(remote),
                                Transmit::Esp { remote, .. } => Peer::Raw(remote),
                                other => panic!("sealed for {other:?}"),
                            };
                            assert!(
                                owner.sessions.check(&owner.server, owner.now, dst, peer),
                                "a packet to {dst} was sealed for {peer:?}"
                            );
                        }
                    }
                    Outbound::TooBig => {
                        let items: Vec<_> = batch.iter().collect();
                        assert_eq!(items.len(), 1, "TooBig adds one ICMP error");
                        let (t, icmp) = items[0];
                        assert_eq!(t, Transmit::Tun, "the ICMP error goes to the TUN");
                        assert_eq!(
                            ipv4_addr(icmp, 16),
                            ipv4_addr(data, 12),
                            "the ICMP error goes to the sender"
                        );
                    }
                    Outbound::Drop => assert!(batch.is_empty(), "a dropped packet in the batch"),
                }
            }
            Step::Advance { ms } => {
                owner.now += Duration::from_millis(u64::from(ms));
                owner.server.handle_timeout(owner.now);
                owner.drain();
            }
            Step::ReloadUsers => {
                owner
                    .server
                    .reload_users(owner.now, fx.parts().users.clone());
                owner.drain();
            }
            Step::Hold => owner.toggle_hold(),
        }
        owner.wake_if_noted(&dp);
    }
});
