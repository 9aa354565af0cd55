//! LAC ⇄ LNS in memory, with explicit time, seeded loss, reordering and duplication.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use l2tp::{
    Data, Event, Initiator, Lac, LacConfig, Lns, LnsConfig, Retransmit, Scope, SessionKey,
    TunnelSecret, codes,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use wire::l2tp::{AttrType, AvpRepr, Avps, MessageType, Packet, Sequence};

type Intercept = Box<dyn FnMut(&mut Vec<u8>) -> bool>;

/// A LAC and an LNS joined by a simulated network.
struct Net {
    now: Instant,
    lac: Lac,
    lns: Lns,
    /// The LAC's L2TP UDP source port as the LNS sees it.
    lac_port: u16,
    rng: ChaCha20Rng,
    loss: f64,
    dup: f64,
    max_delay_ms: u64,
    queue: Vec<(Instant, bool, Vec<u8>)>,
    lac_events: Vec<Event>,
    lns_events: Vec<Event>,
    lac_frames: Vec<(SessionKey, Vec<u8>)>,
    lns_frames: Vec<(SessionKey, Vec<u8>)>,
    /// Every datagram each side put on the wire, before loss.
    lac_sent: Vec<Vec<u8>>,
    lns_sent: Vec<Vec<u8>>,
    lns_errors: Vec<l2tp::Error>,
    lac_silent: bool,
    to_lns: Option<Intercept>,
}

fn lns_config() -> LnsConfig {
    LnsConfig {
        host_name: "vpn-server".into(),
        ..LnsConfig::default()
    }
}

fn lac_config() -> LacConfig {
    LacConfig {
        host_name: "RWB-LAPTOP-DELL".into(),
        vendor_name: "Microsoft".into(),
        ..LacConfig::default()
    }
}

/// The test's time origin; later instants are derived from it by explicit steps.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

impl Net {
    fn new(lac: LacConfig, lns: LnsConfig, seed: u8) -> Self {
        Self {
            now: origin(),
            lac: Lac::new(lac, [seed; 32]),
            lns: Lns::new(lns, [seed.wrapping_add(100); 32]),
            lac_port: 1701,
            rng: ChaCha20Rng::from_seed([seed.wrapping_add(200); 32]),
            loss: 0.0,
            dup: 0.0,
            max_delay_ms: 0,
            queue: Vec::new(),
            lac_events: Vec::new(),
            lns_events: Vec::new(),
            lac_frames: Vec::new(),
            lns_frames: Vec::new(),
            lac_sent: Vec::new(),
            lns_sent: Vec::new(),
            lns_errors: Vec::new(),
            lac_silent: false,
            to_lns: None,
        }
    }

    fn send(&mut self, to_lns: bool, bytes: Vec<u8>) {
        if to_lns {
            self.lac_sent.push(bytes.clone());
        } else {
            self.lns_sent.push(bytes.clone());
        }
        let copies = if self.rng.gen_bool(self.loss) {
            0
        } else if self.rng.gen_bool(self.dup) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if self.max_delay_ms == 0 {
                0
            } else {
                self.rng.gen_range(0..=self.max_delay_ms)
            };
            self.queue.push((
                self.now + Duration::from_millis(delay),
                to_lns,
                bytes.clone(),
            ));
        }
    }

    fn pump(&mut self) {
        while let Some(t) = self.lac.poll_transmit() {
            assert_eq!(t.peer_port, 1701, "the LAC talks to the LNS port");
            self.send(true, t.payload);
        }
        while let Some(t) = self.lns.poll_transmit() {
            assert_eq!(
                t.peer_port, self.lac_port,
                "the LNS answers the learned port"
            );
            self.send(false, t.payload);
        }
        while let Some(e) = self.lac.poll_event() {
            self.lac_events.push(e);
        }
        while let Some(e) = self.lns.poll_event() {
            self.lns_events.push(e);
        }
    }

    fn deliver(&mut self, to_lns: bool, mut bytes: Vec<u8>) {
        let now = self.now;
        if to_lns {
            if let Some(f) = self.to_lns.as_mut()
                && !f(&mut bytes)
            {
                return;
            }
            match self.lns.handle_datagram(now, self.lac_port, &bytes) {
                Ok(Some(Data { session, frame })) => {
                    self.lns_frames.push((session, frame.to_vec()))
                }
                Ok(None) => {}
                Err(e) => self.lns_errors.push(e),
            }
        } else if !self.lac_silent
            && let Ok(Some(Data { session, frame })) = self.lac.handle_datagram(now, 1701, &bytes)
        {
            self.lac_frames.push((session, frame.to_vec()));
        }
    }

    /// Advances to the next event (delivery or timer); false when nothing is pending.
    fn step(&mut self, limit: Instant) -> bool {
        self.pump();
        let next = self
            .queue
            .iter()
            .map(|q| q.0)
            .chain(self.lac.poll_timeout().filter(|_| !self.lac_silent))
            .chain(self.lns.poll_timeout())
            .min();
        let Some(next) = next else { return false };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|q| q.0 <= now);
        self.queue = rest;
        for (_, to_lns, bytes) in due {
            self.deliver(to_lns, bytes);
        }
        if !self.lac_silent {
            self.lac.handle_timeout(now);
        }
        self.lns.handle_timeout(now);
        self.pump();
        true
    }

    fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
        self.now = self.now.max(limit);
    }

    fn run_until(&mut self, d: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let limit = self.now + d;
        while !done(self) {
            if !self.step(limit) {
                return done(self);
            }
        }
        true
    }

    fn lns_session_up(&self) -> Option<SessionKey> {
        self.lns_events.iter().find_map(|e| match e {
            Event::SessionUp { key, .. } => Some(*key),
            _ => None,
        })
    }

    fn lac_session_up(&self) -> Option<SessionKey> {
        self.lac_events.iter().find_map(|e| match e {
            Event::SessionUp { key, .. } => Some(*key),
            _ => None,
        })
    }

    /// Brings up a tunnel and one session; returns (LAC key, LNS key).
    fn bring_up(&mut self) -> (SessionKey, SessionKey) {
        let tid = self.lac.connect(self.now, 1701).unwrap();
        assert!(
            self.run_until(Duration::from_secs(120), |n| n
                .lac_events
                .iter()
                .any(|e| matches!(e, Event::TunnelUp { .. }))),
            "tunnel up"
        );
        self.lac.open_session(self.now, tid).unwrap();
        assert!(
            self.run_until(Duration::from_secs(120), |n| n.lac_session_up().is_some()
                && n.lns_session_up().is_some())
        );
        (
            self.lac_session_up().unwrap(),
            self.lns_session_up().unwrap(),
        )
    }

    fn lac_data(&mut self, key: SessionKey, frame: &[u8]) {
        let mut out = Vec::new();
        self.lac.encode_data(key, frame, &mut out).unwrap();
        self.send(true, out);
    }

    fn lns_data(&mut self, key: SessionKey, frame: &[u8]) {
        let mut out = Vec::new();
        let port = self.lns.encode_data(key, frame, &mut out).unwrap();
        assert_eq!(port, self.lac_port);
        self.send(false, out);
    }
}

fn message_type(bytes: &[u8]) -> Option<MessageType> {
    let p = Packet::new_checked(bytes).ok()?;
    if !p.is_control() {
        return None;
    }
    match AvpRepr::parse(&Avps::new(p.payload()).next()?.ok()?).ok()? {
        AvpRepr::MessageType(t) => Some(t),
        _ => None,
    }
}

fn avps_of(bytes: &[u8]) -> Vec<AvpRepr<'_>> {
    let p = Packet::new_checked(bytes).unwrap();
    Avps::new(&bytes[p.header_len()..p.total_len()])
        .map(|a| AvpRepr::parse(&a.unwrap()).unwrap())
        .collect()
}

/// Appends an AVP to a control message and fixes its Length field.
fn append_avp(bytes: &mut Vec<u8>, avp: &[u8]) {
    bytes.extend_from_slice(avp);
    let len = bytes.len() as u16;
    Packet::new_unchecked(&mut bytes[..]).set_length(len);
}

const PPP_LCP_ECHO: &[u8] = &[
    0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef,
];

#[test]
fn session_up_and_frames_both_ways() {
    let mut net = Net::new(lac_config(), lns_config(), 1);
    let (lac_key, lns_key) = net.bring_up();

    // The SCCRP carries what the LNS must advertise (RFC 2661 §6.2).
    let sccrp = net
        .lns_sent
        .iter()
        .find(|b| message_type(b) == Some(MessageType::Sccrp))
        .unwrap();
    let avps = avps_of(sccrp);
    assert!(avps.contains(&AvpRepr::ProtocolVersion {
        version: 1,
        revision: 0
    }));
    assert!(avps.contains(&AvpRepr::HostName(b"vpn-server")));
    assert!(avps.contains(&AvpRepr::VendorName(b"l2tpd-rs")));
    assert!(avps.contains(&AvpRepr::FramingCapabilities(3)));
    assert!(avps.contains(&AvpRepr::BearerCapabilities(0)));
    assert!(avps.contains(&AvpRepr::FirmwareRevision(0x0100)));
    assert!(avps.contains(&AvpRepr::ReceiveWindowSize(16)));
    assert!(avps.contains(&AvpRepr::AssignedTunnelId(lns_key.tunnel)));

    match &net.lns_events[..] {
        [
            Event::TunnelUp {
                peer_host_name,
                vendor,
                ..
            },
            Event::SessionUp {
                key,
                peer_host_name: h2,
                vendor: v2,
                framing,
                sequencing,
                ..
            },
        ] => {
            assert_eq!(peer_host_name, "RWB-LAPTOP-DELL");
            assert_eq!(vendor.as_deref(), Some("Microsoft"));
            assert_eq!(*key, lns_key);
            assert_eq!(
                (h2.as_str(), v2.as_deref()),
                ("RWB-LAPTOP-DELL", Some("Microsoft"))
            );
            assert!(framing.sync && !framing.async_);
            assert!(!sequencing);
        }
        other => panic!("unexpected LNS events {other:?}"),
    }
    let info = net.lns.sessions();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].key, lns_key);
    assert_eq!(
        (info[0].peer_tunnel, info[0].peer_session),
        (lac_key.tunnel, lac_key.session)
    );
    assert!(info[0].established);
    assert_eq!(info[0].peer_port, 1701);
    // The static framing a fast path may use: the LAC's IDs and port, our Length-field choice.
    assert_eq!(
        net.lns.data_framing(lns_key),
        Some(l2tp::DataFraming {
            peer_tunnel: lac_key.tunnel,
            peer_session: lac_key.session,
            peer_port: 1701,
            length_field: true,
        })
    );
    let unknown = SessionKey {
        tunnel: lns_key.tunnel,
        session: lns_key.session.wrapping_add(1),
    };
    assert_eq!(net.lns.data_framing(unknown), None);

    net.lac_data(lac_key, PPP_LCP_ECHO);
    net.lns_data(lns_key, &PPP_LCP_ECHO[..8]);
    net.run_for(Duration::from_millis(10));
    assert_eq!(net.lns_frames, [(lns_key, PPP_LCP_ECHO.to_vec())]);
    assert_eq!(net.lac_frames, [(lac_key, PPP_LCP_ECHO[..8].to_vec())]);

    // The LNS's data messages carry the Length field (SoftEther's 0x4002); the LAC's, as
    // configured like xl2tpd, do not (0x0002).
    let lns_data = net.lns_sent.last().unwrap();
    assert_eq!(&lns_data[..2], &[0x40, 0x02]);
    let lac_data = net
        .lac_sent
        .iter()
        .rev()
        .find(|b| b[0] & 0x80 == 0)
        .unwrap();
    assert_eq!(&lac_data[..2], &[0x00, 0x02]);
    assert!(net.lns_errors.is_empty(), "{:?}", net.lns_errors);
}

#[test]
fn lossy_reordering_network_converges_without_double_delivery() {
    let (mut retransmitted, mut duplicates) = (0usize, 0u64);
    for seed in 0..8u8 {
        let mut net = Net::new(lac_config(), lns_config(), seed);
        net.loss = 0.10;
        net.dup = 0.05;
        net.max_delay_ms = 300;
        let (lac_key, lns_key) = net.bring_up();
        for i in 0..50u8 {
            net.lac_data(lac_key, &[0xff, 0x03, 0x00, 0x21, i]);
            net.lns_data(lns_key, &[0xff, 0x03, 0x00, 0x21, 0x80 | i]);
        }
        // Two more sessions on the same tunnel, to exercise the control channel further.
        let tid = lac_key.tunnel;
        net.lac.open_session(net.now, tid).unwrap();
        net.lac.open_session(net.now, tid).unwrap();
        assert!(
            net.run_until(Duration::from_secs(200), |n| n
                .lns_events
                .iter()
                .filter(|e| matches!(e, Event::SessionUp { .. }))
                .count()
                == 3
                && n.lac_events
                    .iter()
                    .filter(|e| matches!(e, Event::SessionUp { .. }))
                    .count()
                    == 3),
            "seed {seed}: all sessions up"
        );
        net.run_for(Duration::from_secs(40));

        // Exactly one TunnelUp on each side, and no SessionUp twice.
        for events in [&net.lns_events, &net.lac_events] {
            assert_eq!(
                events
                    .iter()
                    .filter(|e| matches!(e, Event::TunnelUp { .. }))
                    .count(),
                1
            );
            let ups: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    Event::SessionUp { key, .. } => Some(*key),
                    _ => None,
                })
                .collect();
            let unique: BTreeSet<_> = ups.iter().collect();
            assert_eq!(
                ups.len(),
                unique.len(),
                "seed {seed}: a session came up twice"
            );
            assert!(
                !events
                    .iter()
                    .any(|e| matches!(e, Event::TunnelDown { .. } | Event::SessionDown { .. }))
            );
        }
        // Each distinct control message the LAC sent (by Ns) was delivered exactly once.
        let lac_ns: BTreeSet<u16> = net
            .lac_sent
            .iter()
            .filter(|b| message_type(b).is_some())
            .map(|b| Packet::new_checked(&b[..]).unwrap().ns().unwrap())
            .collect();
        assert_eq!(
            net.lns.stats().control_delivered,
            lac_ns.len() as u64,
            "seed {seed}"
        );
        retransmitted += net
            .lac_sent
            .iter()
            .filter(|b| message_type(b).is_some())
            .count()
            - lac_ns.len();
        duplicates += net.lns.stats().duplicates;
        // Data is unreliable: what arrives is intact, from the right session, at most twice
        // (the network duplicates), and most of it arrives.
        let got: Vec<_> = net
            .lns_frames
            .iter()
            .filter(|(k, _)| *k == lns_key)
            .map(|(_, f)| f[4])
            .collect();
        assert!(got.len() >= 35, "seed {seed}: only {} frames", got.len());
        assert!(got.iter().all(|b| *b < 50));
        let got: Vec<_> = net
            .lac_frames
            .iter()
            .filter(|(k, _)| *k == lac_key)
            .map(|(_, f)| f[4])
            .collect();
        assert!(got.len() >= 35, "seed {seed}: only {} frames", got.len());
        assert!(got.iter().all(|b| *b & 0x80 != 0));
        assert_eq!(net.lns.stats().malformed, 0);
    }
    // The network really lost and duplicated control messages along the way.
    assert!(retransmitted > 0, "no retransmission happened");
    assert!(duplicates > 0, "no duplicate reached the LNS");
}

#[test]
fn same_tunnel_and_session_ids_on_two_peers_do_not_interfere() {
    // Two Windows-like LACs, both using Assigned Tunnel ID 7 and Session ID 1 (Windows
    // numbers tunnels by attempts since boot), each with its own LNS instance (one per IKE peer).
    let cfg = |name: &str| LacConfig {
        tunnel_id: Some(7),
        first_session_id: Some(1),
        host_name: name.into(),
        ..lac_config()
    };
    let mut a = Net::new(cfg("pc-a"), lns_config(), 10);
    let mut b = Net::new(cfg("pc-b"), lns_config(), 20);
    let (a_lac, a_lns) = a.bring_up();
    let (b_lac, b_lns) = b.bring_up();
    assert_eq!((a_lac.tunnel, a_lac.session), (7, 1));
    assert_eq!((b_lac.tunnel, b_lac.session), (7, 1));
    assert_eq!(a.lns.sessions()[0].peer_host_name, "pc-a");
    assert_eq!(b.lns.sessions()[0].peer_host_name, "pc-b");

    a.lac_data(a_lac, b"\xff\x03\x00\x21AAAA");
    b.lac_data(b_lac, b"\xff\x03\x00\x21BBBB");
    a.lns_data(a_lns, b"\xff\x03\x00\x21aaaa");
    b.lns_data(b_lns, b"\xff\x03\x00\x21bbbb");
    a.run_for(Duration::from_millis(1));
    b.run_for(Duration::from_millis(1));
    assert_eq!(a.lns_frames, [(a_lns, b"\xff\x03\x00\x21AAAA".to_vec())]);
    assert_eq!(b.lns_frames, [(b_lns, b"\xff\x03\x00\x21BBBB".to_vec())]);
    assert_eq!(a.lac_frames, [(a_lac, b"\xff\x03\x00\x21aaaa".to_vec())]);
    assert_eq!(b.lac_frames, [(b_lac, b"\xff\x03\x00\x21bbbb".to_vec())]);

    // B's datagram fed to A's LNS (a mis-routed packet) reaches none of A's sessions.
    let b_datagram = b.lac_sent.last().unwrap().clone();
    let now = a.now;
    assert!(matches!(
        a.lns.handle_datagram(now, 1701, &b_datagram),
        Err(l2tp::Error::UnknownTunnel(_) | l2tp::Error::UnknownSession { .. })
    ));

    // Closing B leaves A untouched.
    b.lac.close_all(b.now);
    b.run_for(Duration::from_secs(5));
    assert!(b.lns.sessions().is_empty());
    assert_eq!(b.lns.tunnel_count(), 0);
    assert_eq!(a.lns.sessions().len(), 1);
    a.lac_data(a_lac, b"\xff\x03\x00\x21again");
    a.run_for(Duration::from_millis(1));
    assert_eq!(a.lns_frames.len(), 2);
}

#[test]
fn silent_peer_is_detected_by_hello_and_torn_down() {
    let mut net = Net::new(lac_config(), lns_config(), 3);
    let (_, lns_key) = net.bring_up();
    let up_at = net.now;
    net.lac_silent = true;
    net.run_for(Duration::from_secs(200));
    let hellos = net
        .lns_sent
        .iter()
        .filter(|b| message_type(b) == Some(MessageType::Hello))
        .count();
    // One Hello and its five retransmissions (RFC 2661 §5.8 defaults).
    assert_eq!(hellos, 6);
    let down = net
        .lns_events
        .iter()
        .find_map(|e| match e {
            Event::TunnelDown { tunnel, reason } => Some((*tunnel, reason.clone())),
            _ => None,
        })
        .expect("tunnel torn down");
    assert_eq!(down.0, lns_key.tunnel);
    assert_eq!(down.1.initiator, Initiator::Local);
    assert!(
        down.1
            .message
            .as_deref()
            .unwrap()
            .contains("5 retransmissions")
    );
    assert!(
        net.lns_events
            .iter()
            .any(|e| matches!(e, Event::SessionDown { key, .. } if *key == lns_key))
    );
    assert_eq!(net.lns.tunnel_count(), 0);
    assert!(net.lns.sessions().is_empty());
    assert_eq!(net.lns.poll_timeout(), None);
    // Hello at 60 s, then 1 + 2 + 4 + 8 + 8 s of retransmissions, then the last 8 s timeout.
    let first_hello = Duration::from_secs(60);
    assert!(net.now - up_at >= first_hello + Duration::from_secs(31));
}

fn hellos_sent(net: &Net) -> usize {
    net.lns_sent
        .iter()
        .filter(|b| message_type(b) == Some(MessageType::Hello))
        .count()
}

#[test]
fn data_messages_defer_the_hello() {
    // RFC 2661 §6.5: a Hello goes out once the interval elapsed "since the last data or
    // control message was received". A peer whose only traffic is data messages (an LCP
    // Echo-Reply every 30 s, say) gets no Hello.
    let mut net = Net::new(lac_config(), lns_config(), 11);
    let (lac_key, lns_key) = net.bring_up();
    for _ in 0..20 {
        net.run_for(Duration::from_secs(30));
        net.lac_data(lac_key, b"\xff\x03\xc0\x21\x0a\x01\x00\x08\x00\x00\x00\x00");
    }
    net.run_for(Duration::from_millis(1));
    assert_eq!(net.lns_frames.len(), 20);
    assert_eq!(hellos_sent(&net), 0, "Hello while data flowed");
    // The same signs of life reported by a fast path that carries the data itself.
    for _ in 0..20 {
        net.run_for(Duration::from_secs(30));
        net.lns.note_data(lns_key);
    }
    assert_eq!(hellos_sent(&net), 0, "Hello while a fast path carried data");
    // Then silence: the Hello still finds the dead peer, at most one interval later than
    // right after a message (the data seen within the last interval defers it once).
    // The Hello goes out at the second tick after the last sign of life (60 to 120 s later),
    // and the tunnel is down 31 s after it (1 + 2 + 4 + 8 + 8 s of retransmissions, then
    // the last 8 s timeout): 91 to 151 s after the last sign of life.
    net.lac_silent = true;
    let down = |net: &Net| {
        net.lns_events
            .iter()
            .any(|e| matches!(e, Event::TunnelDown { tunnel, .. } if *tunnel == lns_key.tunnel))
    };
    net.run_for(Duration::from_secs(90));
    assert!(
        !down(&net),
        "down before any Hello could have gone unanswered"
    );
    net.run_for(Duration::from_secs(62));
    assert!(down(&net), "the silent peer was not torn down");
    assert_eq!(hellos_sent(&net), 6, "one Hello and five retransmissions");
    assert_eq!(net.lns.tunnel_count(), 0);
}

#[test]
fn hello_interval_zero_disables_hello_but_not_setup() {
    // `l2tp.hello_interval_secs: 0` means "no Hello". It must not also turn the setup
    // deadline into "now" (which once failed every tunnel at once).
    let lns = LnsConfig {
        hello_interval: Duration::ZERO,
        ..lns_config()
    };
    let mut net = Net::new(lac_config(), lns, 4);
    let (_, lns_key) = net.bring_up();
    net.run_for(Duration::from_secs(600));
    let hellos = net
        .lns_sent
        .iter()
        .filter(|b| message_type(b) == Some(MessageType::Hello))
        .count();
    assert_eq!(hellos, 0);
    assert!(net.lns.sessions().iter().any(|s| s.key == lns_key));
    assert!(
        !net.lns_events
            .iter()
            .any(|e| matches!(e, Event::TunnelDown { .. }))
    );

    // A LAC that goes silent during setup is still given up on (SCCRP retransmissions, or the
    // fixed setup deadline that replaces the Hello interval when Hello is off).
    let lns = LnsConfig {
        hello_interval: Duration::ZERO,
        ..lns_config()
    };
    let mut net = Net::new(lac_config(), lns, 5);
    net.lac.connect(net.now, 1701).unwrap();
    net.pump();
    // The SCCRQ is on its way; the LAC hears nothing after it.
    net.lac_silent = true;
    net.run_for(Duration::from_secs(120));
    assert_eq!(net.lns.tunnel_count(), 0);
}

#[test]
fn stopccn_with_a_wrong_tunnel_id_is_honoured_for_that_peer() {
    let mut net = Net::new(lac_config(), lns_config(), 4);
    let (lac_key, lns_key) = net.bring_up();
    // Windows may put a wrong tunnel ID in StopCCN (xl2tpd CHANGES v1.1.05).
    net.to_lns = Some(Box::new(|b: &mut Vec<u8>| {
        if message_type(b) == Some(MessageType::StopCcn) {
            Packet::new_unchecked(&mut b[..]).set_tunnel_id(0x4242);
        }
        true
    }));
    net.lac
        .close_tunnel(
            net.now,
            lac_key.tunnel,
            codes::stopccn::CLEAR,
            Some("user hung up"),
        )
        .unwrap();
    net.run_for(Duration::from_secs(60));
    let reason = net
        .lns_events
        .iter()
        .find_map(|e| match e {
            Event::TunnelDown { tunnel, reason } if *tunnel == lns_key.tunnel => {
                Some(reason.clone())
            }
            _ => None,
        })
        .expect("TunnelDown");
    assert_eq!(reason.initiator, Initiator::Peer);
    assert_eq!(reason.scope, Scope::Tunnel);
    assert_eq!(reason.result, codes::stopccn::CLEAR);
    assert_eq!(reason.message.as_deref(), Some("user hung up"));
    assert_eq!(
        reason.result_text(),
        "general request to clear the control connection"
    );
    assert!(
        net.lns_events
            .iter()
            .any(|e| matches!(e, Event::SessionDown { key, .. } if *key == lns_key))
    );
    // The LNS acknowledged it (a ZLB), so the LAC stopped retransmitting after one StopCCN.
    assert_eq!(
        net.lac_sent
            .iter()
            .filter(|b| message_type(b) == Some(MessageType::StopCcn))
            .count(),
        1
    );
    assert_eq!(net.lns.tunnel_count(), 0);
    // After lingering, the closed tunnel is gone and nothing is scheduled.
    assert_eq!(net.lns.poll_timeout(), None);
}

#[test]
fn cdn_with_a_wrong_tunnel_id_is_honoured() {
    let mut net = Net::new(lac_config(), lns_config(), 5);
    let (lac_key, lns_key) = net.bring_up();
    net.to_lns = Some(Box::new(|b: &mut Vec<u8>| {
        if message_type(b) == Some(MessageType::Cdn) {
            Packet::new_unchecked(&mut b[..]).set_tunnel_id(0x0bad);
        }
        true
    }));
    net.lac
        .close_session(net.now, lac_key, codes::cdn::ADMINISTRATIVE, None)
        .unwrap();
    net.run_for(Duration::from_secs(5));
    let reason = net
        .lns_events
        .iter()
        .find_map(|e| match e {
            Event::SessionDown { key, reason } if *key == lns_key => Some(reason.clone()),
            _ => None,
        })
        .expect("SessionDown");
    assert_eq!(
        (reason.initiator, reason.scope, reason.result),
        (Initiator::Peer, Scope::Session, 3)
    );
    assert_eq!(
        reason.result_text(),
        "call disconnected for administrative reasons"
    );
    assert!(net.lns.sessions().is_empty());
    assert_eq!(net.lns.tunnel_count(), 1, "the tunnel stays up");
}

/// An unknown IETF AVP (type 0x7777) with the M bit set.
const UNKNOWN_MANDATORY: [u8; 8] = [0x80, 0x08, 0x00, 0x00, 0x77, 0x77, 0x00, 0x01];

#[test]
fn unknown_mandatory_avp_in_a_tunnel_message_tears_down_the_tunnel() {
    let mut net = Net::new(lac_config(), lns_config(), 6);
    net.to_lns = Some(Box::new(|b: &mut Vec<u8>| {
        if message_type(b) == Some(MessageType::Scccn) {
            append_avp(b, &UNKNOWN_MANDATORY);
        }
        true
    }));
    net.lac.connect(net.now, 1701).unwrap();
    net.run_for(Duration::from_secs(60));
    // RFC 2661 §4.1 and §4.4.2: StopCCN, Result Code 2 (general error), Error Code 8.
    let stop = net
        .lns_sent
        .iter()
        .find(|b| message_type(b) == Some(MessageType::StopCcn))
        .expect("StopCCN sent");
    let rc = avps_of(stop)
        .into_iter()
        .find_map(|a| match a {
            AvpRepr::ResultCode(rc) => Some((rc.result, rc.error)),
            _ => None,
        })
        .unwrap();
    assert_eq!(rc, (2, Some(8)));
    let reason = net
        .lac_events
        .iter()
        .find_map(|e| match e {
            Event::TunnelDown { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .expect("the LAC saw the StopCCN");
    assert_eq!((reason.result, reason.error), (2, Some(8)));
    assert_eq!(
        reason.error_text(),
        Some("shut down because of an unknown AVP with the M bit set")
    );
    assert!(reason.message.as_deref().unwrap().contains("type 30583"));
    assert_eq!(net.lns.tunnel_count(), 0);
}

#[test]
fn unknown_mandatory_avp_in_icrq_refuses_the_session_only() {
    let mut net = Net::new(lac_config(), lns_config(), 7);
    net.to_lns = Some(Box::new(|b: &mut Vec<u8>| {
        if message_type(b) == Some(MessageType::Icrq) {
            append_avp(b, &UNKNOWN_MANDATORY);
        }
        true
    }));
    let tid = net.lac.connect(net.now, 1701).unwrap();
    net.run_for(Duration::from_secs(1));
    let key = net.lac.open_session(net.now, tid).unwrap();
    net.run_for(Duration::from_secs(5));
    let reason = net
        .lac_events
        .iter()
        .find_map(|e| match e {
            Event::SessionDown { key: k, reason } if *k == key => Some(reason.clone()),
            _ => None,
        })
        .expect("CDN");
    assert_eq!(
        (reason.scope, reason.result, reason.error),
        (Scope::Session, 2, Some(8))
    );
    assert_eq!(net.lns.tunnel_count(), 1, "the tunnel survives");
    assert!(net.lns.sessions().is_empty());
    assert!(net.lns_session_up().is_none());
}

#[test]
fn non_mandatory_unknown_and_microsoft_avps_are_ignored() {
    let mut net = Net::new(lac_config(), lns_config(), 8);
    // Vista SP1+ adds the Microsoft Correlation ID (vendor 311, type 1, M=0, length 22) to
    // the ICRQ (MS-L2TPIE §2.2.1.1); plus an unknown vendor AVP with M=0.
    net.to_lns = Some(Box::new(|b: &mut Vec<u8>| {
        if message_type(b) == Some(MessageType::Icrq) {
            let mut corr = vec![0x00, 0x16, 0x01, 0x37, 0x00, 0x01];
            corr.extend_from_slice(&[0x5a; 16]);
            append_avp(b, &corr);
            append_avp(b, &[0x00, 0x07, 0x12, 0x34, 0x00, 0x09, 0xee]);
        }
        true
    }));
    let (_, lns_key) = net.bring_up();
    assert_eq!(net.lns.sessions()[0].key, lns_key);
}

#[test]
fn tunnel_authentication_and_hidden_avps() {
    let secret = || Some(TunnelSecret::new("tunnel-pw"));
    let lac = LacConfig {
        secret: secret(),
        hide_avps: true,
        ..lac_config()
    };
    let lns = LnsConfig {
        secret: secret(),
        ..lns_config()
    };
    let mut net = Net::new(lac, lns, 9);
    net.bring_up();
    // The host name was hidden on the wire and revealed by the LNS.
    let sccrq = net
        .lac_sent
        .iter()
        .find(|b| message_type(b) == Some(MessageType::Sccrq))
        .unwrap();
    assert!(!sccrq.windows(15).any(|w| w == b"RWB-LAPTOP-DELL"));
    assert_eq!(net.lns.sessions()[0].peer_host_name, "RWB-LAPTOP-DELL");
    // Both sides challenged and answered.
    let sccrp = net
        .lns_sent
        .iter()
        .find(|b| message_type(b) == Some(MessageType::Sccrp))
        .unwrap();
    assert!(
        avps_of(sccrp)
            .iter()
            .any(|a| matches!(a, AvpRepr::Challenge(_)))
    );
    assert!(
        avps_of(sccrp)
            .iter()
            .any(|a| matches!(a, AvpRepr::ChallengeResponse(_)))
    );
}

#[test]
fn wrong_tunnel_secret_is_refused() {
    let lac = LacConfig {
        secret: Some(TunnelSecret::new("wrong")),
        ..lac_config()
    };
    let lns = LnsConfig {
        secret: Some(TunnelSecret::new("right")),
        ..lns_config()
    };
    let mut net = Net::new(lac, lns, 11);
    net.lac.connect(net.now, 1701).unwrap();
    net.run_for(Duration::from_secs(60));
    // The LAC finds the SCCRP's response wrong and stops; the LNS sees a StopCCN result 4.
    assert!(
        !net.lac_events
            .iter()
            .any(|e| matches!(e, Event::TunnelUp { .. }))
    );
    let reason = net
        .lns_events
        .iter()
        .find_map(|e| match e {
            Event::TunnelDown { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (reason.initiator, reason.result),
        (Initiator::Peer, codes::stopccn::NOT_AUTHORIZED)
    );
    assert_eq!(net.lns.tunnel_count(), 0);
}

#[test]
fn hidden_avp_without_a_secret_is_dropped_and_counted() {
    let lac = LacConfig {
        secret: Some(TunnelSecret::new("s")),
        hide_avps: true,
        ..lac_config()
    };
    let mut net = Net::new(lac, lns_config(), 12);
    net.lac.connect(net.now, 1701).unwrap();
    net.run_for(Duration::from_secs(2));
    assert!(net.lns.stats().unsupported >= 1);
    assert!(matches!(net.lns_errors[0], l2tp::Error::Unsupported(_)));
    assert_eq!(net.lns.tunnel_count(), 0);
}

#[test]
fn limits_refuse_cleanly() {
    let lns = LnsConfig {
        max_tunnels: 1,
        max_sessions_per_tunnel: 1,
        ..lns_config()
    };
    let mut net = Net::new(lac_config(), lns, 13);
    let (lac_key, _) = net.bring_up();
    // A second session: CDN result 4 (temporary lack of facilities), error 4.
    let second = net.lac.open_session(net.now, lac_key.tunnel).unwrap();
    net.run_for(Duration::from_secs(2));
    let reason = net
        .lac_events
        .iter()
        .find_map(|e| match e {
            Event::SessionDown { key, reason } if *key == second => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (reason.result, reason.error),
        (
            codes::cdn::NO_FACILITIES_TEMPORARY,
            Some(codes::error::NO_RESOURCES)
        )
    );
    assert_eq!(net.lns.stats().limit_refused, 1);
    // A second tunnel: StopCCN, error 4, no state kept.
    let t2 = net.lac.connect(net.now, 1701).unwrap();
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.lns.tunnel_count(), 1);
    assert_eq!(net.lns.stats().limit_refused, 2);
    let reason = net
        .lac_events
        .iter()
        .find_map(|e| match e {
            Event::TunnelDown { tunnel, reason } if *tunnel == t2 => Some(reason.clone()),
            _ => None,
        })
        .expect("the LAC's second tunnel was refused");
    assert_eq!((reason.result, reason.error), (2, Some(4)));
}

#[test]
fn outgoing_calls_are_refused() {
    let mut net = Net::new(lac_config(), lns_config(), 14);
    // Turn the LAC's ICRQ into an OCRQ on the wire.
    net.to_lns = Some(Box::new(|b: &mut Vec<u8>| {
        if message_type(b) == Some(MessageType::Icrq) {
            b[19] = 0x07;
        }
        true
    }));
    let tid = net.lac.connect(net.now, 1701).unwrap();
    net.run_for(Duration::from_secs(1));
    let key = net.lac.open_session(net.now, tid).unwrap();
    net.run_for(Duration::from_secs(2));
    let reason = net
        .lac_events
        .iter()
        .find_map(|e| match e {
            Event::SessionDown { key: k, reason } if *k == key => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(reason.result, codes::cdn::NO_FACILITIES_PERMANENT);
    assert_eq!(
        reason.message.as_deref(),
        Some("outgoing calls are not supported")
    );
    assert!(net.lns.sessions().is_empty());
}

#[test]
fn wan_error_notify_and_set_link_info_are_accepted() {
    let mut net = Net::new(lac_config(), lns_config(), 15);
    let (lac_key, lns_key) = net.bring_up();
    net.lac
        .send_wan_error_notify(
            net.now,
            lac_key,
            wire::l2tp::CallErrors {
                crc_errors: 3,
                ..Default::default()
            },
        )
        .unwrap();
    net.lac
        .send_set_link_info(net.now, lac_key, 0xffff_ffff, 0)
        .unwrap();
    net.run_for(Duration::from_secs(2));
    assert_eq!(
        net.lns.stats().control_delivered,
        6,
        "SCCRQ, SCCCN, ICRQ, ICCN, then WEN and SLI"
    );
    assert_eq!(net.lns.stats().peer_misbehaved, 0);
    assert_eq!(net.lns.sessions()[0].key, lns_key);
    assert!(
        !net.lns_events
            .iter()
            .any(|e| matches!(e, Event::SessionDown { .. }))
    );
}

#[test]
fn graceful_shutdown_sends_stopccn_result_6() {
    let mut net = Net::new(lac_config(), lns_config(), 16);
    let (lac_key, _) = net.bring_up();
    net.lns.close_all(net.now);
    net.run_for(Duration::from_secs(40));
    let reason = net
        .lac_events
        .iter()
        .find_map(|e| match e {
            Event::TunnelDown { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(reason.result, codes::stopccn::SHUTTING_DOWN);
    assert!(
        net.lac_events
            .iter()
            .any(|e| matches!(e, Event::SessionDown { key, .. } if *key == lac_key))
    );
    // The StopCCN was acknowledged, so the LNS forgot the tunnel and has no timers left.
    assert_eq!(net.lns.tunnel_count(), 0);
    assert_eq!(net.lns.poll_timeout(), None);
    assert_eq!(
        net.lns_sent
            .iter()
            .filter(|b| message_type(b) == Some(MessageType::StopCcn))
            .count(),
        1
    );
}

#[test]
fn data_sequencing_on_request_and_offset_field() {
    let lac = LacConfig {
        request_sequencing: true,
        ..lac_config()
    };
    let mut net = Net::new(lac, lns_config(), 17);
    let (lac_key, lns_key) = net.bring_up();
    assert!(net.lns_events.iter().any(|e| matches!(
        e,
        Event::SessionUp {
            sequencing: true,
            ..
        }
    )));
    // Sequenced data is engine state: no static framing for a fast path.
    assert_eq!(net.lns.data_framing(lns_key), None);
    net.lns_data(lns_key, b"\xff\x03\xc0\x21x");
    net.run_for(Duration::from_millis(1));
    let sent = Packet::new_checked(&net.lns_sent.last().unwrap()[..]).unwrap();
    assert!(sent.has_sequence());
    assert_eq!(sent.ns(), Some(0));
    assert_eq!(net.lac_frames.len(), 1);

    // A data message with the O bit and 2 octets of padding, and Ns 5.
    let mut bytes = vec![0x0a, 0x02];
    bytes.extend_from_slice(&lns_key.tunnel.to_be_bytes());
    bytes.extend_from_slice(&lns_key.session.to_be_bytes());
    bytes.extend_from_slice(&[0, 5, 0, 0, 0, 2, 0xee, 0xee, 0xff, 0x03, 0xc0, 0x21, 0x42]);
    let now = net.now;
    let d = net.lns.handle_datagram(now, 1701, &bytes).unwrap().unwrap();
    assert_eq!(d.session, lns_key);
    assert_eq!(d.frame, &[0xff, 0x03, 0xc0, 0x21, 0x42]);
    // The zero-copy contract: the frame is a slice of the input.
    assert!(std::ptr::eq(d.frame.as_ptr(), bytes[14..].as_ptr()));
    // A stale sequence number afterwards is dropped and counted.
    bytes[7] = 3;
    assert!(matches!(
        net.lns.handle_datagram(now, 1701, &bytes),
        Err(l2tp::Error::PeerMisbehaved(_))
    ));
    let _ = lac_key;
}

#[test]
fn ios_style_tunnel_id_reuse_replaces_the_old_tunnel() {
    let cfg = || LacConfig {
        tunnel_id: Some(1),
        ..lac_config()
    };
    let mut net = Net::new(cfg(), lns_config(), 18);
    let (_, old) = net.bring_up();
    // The client restarts: a new LAC with the same tunnel ID, from a new random port.
    net.lac = Lac::new(cfg(), [99; 32]);
    net.lac_port = 51_234;
    net.lac_events.clear();
    net.lns_events.clear();
    net.queue.clear();
    let (_, new) = net.bring_up();
    assert_ne!(old.tunnel, new.tunnel);
    assert!(
        net.lns_events
            .iter()
            .any(|e| matches!(e, Event::TunnelDown { tunnel, .. } if *tunnel == old.tunnel))
    );
    // Replies went to the learned port (asserted in pump); one tunnel remains.
    assert_eq!(net.lns.tunnel_count(), 1);
    assert_eq!(net.lns.sessions()[0].peer_port, 51_234);
}

#[test]
fn retransmission_backoff_is_capped_and_configurable() {
    let lns = LnsConfig {
        retransmit: Retransmit {
            initial: Duration::from_millis(500),
            cap: Duration::from_secs(2),
            max_retries: 3,
        },
        ..lns_config()
    };
    let mut net = Net::new(lac_config(), lns, 19);
    // The LAC's SCCRQ reaches the LNS, but the LAC then goes silent: the SCCRP is retried.
    net.lac.connect(net.now, 1701).unwrap();
    net.lac_silent = true;
    let start = net.now;
    let mut times = Vec::new();
    let limit = start + Duration::from_secs(30);
    while net.step(limit) {
        let n = net
            .lns_sent
            .iter()
            .filter(|b| message_type(b) == Some(MessageType::Sccrp))
            .count();
        if n > times.len() {
            times.push(net.now - start);
        }
    }
    let ms: Vec<u128> = times.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [0, 500, 1500, 3500]);
    assert!(
        net.lns_events
            .iter()
            .any(|e| matches!(e, Event::TunnelDown { .. }))
    );
    assert_eq!(net.lns.tunnel_count(), 0);
}

#[test]
fn malformed_messages_are_dropped_and_counted() {
    let mut net = Net::new(lac_config(), lns_config(), 21);
    let (_, lns_key) = net.bring_up();
    let t = lns_key.tunnel.to_be_bytes();
    let s = lns_key.session.to_be_bytes();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "malformed"),
        (vec![0xc8], "malformed"),
        (
            vec![0xc8, 0x03, 0, 12, t[0], t[1], 0, 0, 0, 0, 0, 0],
            "malformed",
        ),
        (vec![0xc0, 0x02, 0, 8, t[0], t[1], 0, 0], "malformed"),
        (
            vec![0xc8, 0x02, 0, 200, t[0], t[1], 0, 0, 0, 0, 0, 0],
            "malformed",
        ),
        (
            vec![0xc8, 0x02, 0, 11, t[0], t[1], 0, 0, 0, 0, 0, 0],
            "malformed",
        ),
        // An AVP whose length runs past the message.
        (
            vec![
                0xc8, 0x02, 0, 20, t[0], t[1], 0, 0, 0, 9, 0, 9, 0x80, 0x10, 0, 0, 0, 0, 0, 6,
            ],
            "malformed",
        ),
        // An AVP length below its header.
        (
            vec![
                0xc8, 0x02, 0, 20, t[0], t[1], 0, 0, 0, 9, 0, 9, 0x80, 0x02, 0, 0, 0, 0, 0, 6,
            ],
            "malformed",
        ),
        // First AVP is not Message Type.
        (
            vec![
                0xc8, 0x02, 0, 20, t[0], t[1], 0, 0, 0, 9, 0, 9, 0x80, 0x08, 0, 0, 0, 9, 0, 6,
            ],
            "malformed",
        ),
        // A mandatory Assigned Session ID of 1 octet.
        (
            vec![
                0xc8, 0x02, 0, 27, t[0], t[1], 0, 0, 0, 9, 0, 9, 0x80, 0x08, 0, 0, 0, 0, 0, 10,
                0x80, 0x07, 0, 0, 0, 14, 1,
            ],
            "malformed",
        ),
        // Offset larger than the data message.
        (
            vec![0x02, 0x02, t[0], t[1], s[0], s[1], 0x10, 0x00, 0xff],
            "malformed",
        ),
        // Hidden AVP with no secret configured.
        (
            vec![
                0xc8, 0x02, 0, 26, t[0], t[1], 0, 0, 0, 9, 0, 9, 0x80, 0x08, 0, 0, 0, 0, 0, 6,
                0xc0, 0x06, 0, 0, 0, 7,
            ],
            "unsupported",
        ),
        // Control message for a tunnel that does not exist.
        (
            vec![
                0xc8, 0x02, 0, 20, 0x77, 0x77, 0, 0, 0, 9, 0, 9, 0x80, 0x08, 0, 0, 0, 0, 0, 6,
            ],
            "unknown_tunnel",
        ),
        // Data for a session that does not exist.
        (
            vec![0x00, 0x02, t[0], t[1], 0x66, 0x66, 0xff, 0x03],
            "unknown_session",
        ),
        // SCCRQ without an Assigned Tunnel ID.
        (
            vec![
                0xc8, 0x02, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x08, 0, 0, 0, 0, 0, 1,
            ],
            "peer_misbehaved",
        ),
    ];
    let before = net.lns.stats().clone();
    let now = net.now;
    for (bytes, _) in &cases {
        assert!(
            net.lns.handle_datagram(now, 1701, bytes).is_err(),
            "{bytes:02x?} accepted"
        );
    }
    let after = net.lns.stats().clone();
    let count = |k: &str| cases.iter().filter(|(_, c)| *c == k).count() as u64;
    assert_eq!(after.malformed - before.malformed, count("malformed"));
    assert_eq!(after.unsupported - before.unsupported, count("unsupported"));
    assert_eq!(
        after.unknown_tunnel - before.unknown_tunnel,
        count("unknown_tunnel")
    );
    assert_eq!(
        after.unknown_session - before.unknown_session,
        count("unknown_session")
    );
    assert_eq!(
        after.peer_misbehaved - before.peer_misbehaved,
        count("peer_misbehaved")
    );
    // Nothing was sent and the session is still up.
    assert!(net.lns.poll_transmit().is_none());
    assert_eq!(net.lns.sessions().len(), 1);
    let _ = AttrType::HostName;
}

/// A scripted LAC: it speaks to the LNS with hand-built control messages, so a test decides
/// exactly what it acknowledges.
struct Scripted {
    now: Instant,
    lns: Lns,
    /// Our tunnel ID and the LNS's.
    tid: u16,
    lns_tid: u16,
    /// Our next Ns.
    ns: u16,
    /// Sequenced (non-ZLB) messages received from the LNS so far: the Nr that acknowledges all.
    received: u16,
    /// What the LNS sent, in order.
    sent: Vec<Vec<u8>>,
    events: Vec<Event>,
}

/// A control message with the given header fields and AVPs (Message Type first).
fn control_message(tunnel: u16, session: u16, ns: u16, nr: u16, avps: &[AvpRepr<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for a in avps {
        let at = body.len();
        body.resize(at + a.buffer_len(), 0);
        a.emit(a.default_mandatory(), &mut body[at..]).unwrap();
    }
    let header = wire::l2tp::Repr::control(tunnel, session, Sequence { ns, nr }, body.len());
    let mut out = vec![0; header.buffer_len()];
    header.emit(&mut out).unwrap();
    out.extend_from_slice(&body);
    out
}

impl Scripted {
    /// Opens a tunnel (SCCRQ advertising `window`, SCCCN) with an LNS of `config`.
    fn connect(config: LnsConfig, window: u16) -> Self {
        let mut s = Self {
            now: origin(),
            lns: Lns::new(config, [77; 32]),
            tid: 7,
            lns_tid: 0,
            ns: 0,
            received: 0,
            sent: Vec::new(),
            events: Vec::new(),
        };
        let tid = s.tid;
        s.send(
            0,
            0,
            &[
                AvpRepr::MessageType(MessageType::Sccrq),
                AvpRepr::ProtocolVersion {
                    version: 1,
                    revision: 0,
                },
                AvpRepr::FramingCapabilities(3),
                AvpRepr::HostName(b"scripted"),
                AvpRepr::AssignedTunnelId(tid),
                AvpRepr::ReceiveWindowSize(window),
            ],
        )
        .unwrap();
        let sccrp = s.sent.last().unwrap().clone();
        assert_eq!(message_type(&sccrp), Some(MessageType::Sccrp));
        s.lns_tid = avps_of(&sccrp)
            .iter()
            .find_map(|a| match a {
                AvpRepr::AssignedTunnelId(t) => Some(*t),
                _ => None,
            })
            .unwrap();
        let lns_tid = s.lns_tid;
        s.send(lns_tid, 0, &[AvpRepr::MessageType(MessageType::Scccn)])
            .unwrap();
        assert!(s.events.iter().any(|e| matches!(e, Event::TunnelUp { .. })));
        s
    }

    /// Sends one message acknowledging everything received so far.
    fn send(&mut self, tunnel: u16, session: u16, avps: &[AvpRepr<'_>]) -> Result<(), l2tp::Error> {
        let nr = self.received;
        self.send_with_nr(tunnel, session, nr, avps)
    }

    fn send_with_nr(
        &mut self,
        tunnel: u16,
        session: u16,
        nr: u16,
        avps: &[AvpRepr<'_>],
    ) -> Result<(), l2tp::Error> {
        let bytes = control_message(tunnel, session, self.ns, nr, avps);
        self.ns = self.ns.wrapping_add(1);
        let r = self.lns.handle_datagram(self.now, 1701, &bytes).map(|_| ());
        while let Some(t) = self.lns.poll_transmit() {
            if message_type(&t.payload).is_some() {
                self.received = self.received.wrapping_add(1);
            }
            self.sent.push(t.payload);
        }
        while let Some(e) = self.lns.poll_event() {
            self.events.push(e);
        }
        r
    }

    fn icrq(avps_session: u16) -> [AvpRepr<'static>; 3] {
        [
            AvpRepr::MessageType(MessageType::Icrq),
            AvpRepr::AssignedSessionId(avps_session),
            AvpRepr::CallSerialNumber(u32::from(avps_session)),
        ]
    }
}

fn result_code_of(bytes: &[u8]) -> Option<(u16, Option<u16>)> {
    avps_of(bytes).iter().find_map(|a| match a {
        AvpRepr::ResultCode(rc) => Some((rc.result, rc.error)),
        _ => None,
    })
}

#[test]
fn icrq_flood_over_the_session_limit_keeps_no_session_state() {
    let config = LnsConfig {
        max_sessions_per_tunnel: 2,
        ..lns_config()
    };
    let mut lac = Scripted::connect(config, 4);
    let lns_tid = lac.lns_tid;
    for i in 1..=1000u16 {
        let before = lac.sent.len();
        lac.send(lns_tid, 0, &Scripted::icrq(i)).unwrap();
        let answers: Vec<_> = lac.sent[before..]
            .iter()
            .filter(|b| message_type(b).is_some())
            .collect();
        assert_eq!(answers.len(), 1, "ICRQ {i}: one answer");
        if i <= 2 {
            assert_eq!(message_type(answers[0]), Some(MessageType::Icrp));
        } else {
            // RFC 2661 §4.4.2: CDN result 4 (temporary lack of facilities), error 4
            // (insufficient resources).
            assert_eq!(message_type(answers[0]), Some(MessageType::Cdn));
            assert_eq!(
                result_code_of(answers[0]),
                Some((
                    codes::cdn::NO_FACILITIES_TEMPORARY,
                    Some(codes::error::NO_RESOURCES)
                ))
            );
        }
        // Bounded state: never more sessions than the limit.
        assert!(lac.lns.sessions().len() <= 2);
    }
    assert_eq!(lac.lns.sessions().len(), 2);
    assert_eq!(lac.lns.stats().limit_refused, 998);
    assert_eq!(
        lac.lns.tunnel_count(),
        1,
        "an acknowledging peer keeps its tunnel"
    );
    assert!(
        !lac.events
            .iter()
            .any(|e| matches!(e, Event::TunnelDown { .. }))
    );
}

#[test]
fn a_peer_that_never_acknowledges_cannot_grow_our_queue() {
    let config = LnsConfig {
        max_sessions_per_tunnel: 2,
        max_queued_control: 16,
        ..lns_config()
    };
    // Window 1, and from here on the peer acknowledges nothing past the SCCRP.
    let mut lac = Scripted::connect(config, 1);
    let lns_tid = lac.lns_tid;
    let stuck_nr = lac.received;
    let mut refused_after_teardown = 0;
    for i in 1..=1000u16 {
        let before = lac.sent.len();
        match lac.send_with_nr(lns_tid, 0, stuck_nr, &Scripted::icrq(i)) {
            Ok(()) => {}
            Err(l2tp::Error::UnknownTunnel(_)) => {
                refused_after_teardown += 1;
                assert_eq!(
                    lac.sent.len(),
                    before,
                    "nothing is sent for a forgotten tunnel"
                );
            }
            Err(e) => panic!("ICRQ {i}: {e}"),
        }
    }
    // The LNS queued 16 answers (bound 16 >= 2 sessions + 8), then gave up on the 17th.
    let down: Vec<_> = lac
        .events
        .iter()
        .filter_map(|e| match e {
            Event::TunnelDown { tunnel, reason } => Some((*tunnel, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(down.len(), 1);
    let (tunnel, reason) = &down[0];
    assert_eq!(*tunnel, lns_tid);
    assert_eq!(reason.initiator, Initiator::Local);
    assert_eq!(
        (reason.result, reason.error),
        (
            codes::stopccn::GENERAL_ERROR,
            Some(codes::error::NO_RESOURCES)
        )
    );
    assert_eq!(
        reason.message.as_deref(),
        Some("peer left 16 control messages unacknowledged")
    );
    // The two half-open sessions went down with the tunnel.
    let sessions_down = lac
        .events
        .iter()
        .filter(|e| matches!(e, Event::SessionDown { .. }))
        .count();
    assert_eq!(sessions_down, 2);
    // One StopCCN went out, numbered right after what the peer was sent (SCCRP Ns 0 and the
    // first ICRP Ns 1 under a window of 1), carrying the same codes.
    let stop = lac
        .sent
        .iter()
        .find(|b| message_type(b) == Some(MessageType::StopCcn))
        .expect("a StopCCN");
    let p = Packet::new_checked(&stop[..]).unwrap();
    assert_eq!((p.ns(), p.tunnel_id()), (Some(2), lac.tid));
    assert_eq!(
        result_code_of(stop),
        Some((
            codes::stopccn::GENERAL_ERROR,
            Some(codes::error::NO_RESOURCES)
        ))
    );
    // Every ICRQ after the 17th met no state at all.
    assert_eq!(refused_after_teardown, 1000 - 17);
    assert_eq!(lac.lns.tunnel_count(), 0);
    assert!(lac.lns.sessions().is_empty());
    assert_eq!(lac.lns.poll_timeout(), None, "no timer left either");
    assert_eq!(lac.lns.stats().unacknowledged_teardowns, 1);
}
