//! The testkit [`Client`] against a minimal server assembled directly from the engines'
//! responder roles (ike::Responder, esp::Sa, l2tp::Lns, ppp::Link), with no NAT and no loss.
//! It proves the client's own layering (IKE → ESP → L2TP → PPP → IP) independently of
//! `server::Server`: each role paired with its counterpart in memory.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use wire::FourTuple;

use crypto::Secret;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use testkit::{Client, ClientConfig, ClientEvent, Profile, Stage, Transmit, packet};

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const ASSIGNED: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 5);
const DNS: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 53);
const WINS: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 54);
const PSK: &[u8] = b"engine pair psk";

/// The test's time origin; later instants are derived from it by explicit steps.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

struct Auth;

impl ppp::Authenticator for Auth {
    fn lookup(&mut self, user: &str) -> ppp::Lookup {
        if user == "alice" {
            ppp::Lookup::Found(ppp::Credential::password("alice-pass"))
        } else {
            ppp::Lookup::NotFound
        }
    }

    fn assign_address(&mut self, _user: &str, _requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        Some(ASSIGNED)
    }
}

enum Out {
    Udp(SocketAddr, SocketAddr, Vec<u8>),
    Esp(Vec<u8>),
}

/// One peer's worth of server: the engines wired together by hand.
struct MiniServer {
    ike: ike::Responder,
    inbound: Option<esp::Sa>,
    outbound: Option<esp::Sa>,
    lns: l2tp::Lns,
    link: Option<(l2tp::SessionKey, ppp::Link)>,
    rng: ChaCha20Rng,
    out: VecDeque<Out>,
    tun: Vec<Vec<u8>>,
}

impl MiniServer {
    fn new(nat_d_trick: bool) -> Self {
        let mut cfg = ike::ResponderConfig::new(Secret::from_slice(PSK));
        cfg.nat_d_trick = nat_d_trick;
        // This server receives plain ESP (`Out::Esp`).
        cfg.raw_esp = true;
        Self {
            ike: ike::Responder::new(cfg, [9; 32]),
            inbound: None,
            outbound: None,
            lns: l2tp::Lns::new(l2tp::LnsConfig::default(), [8; 32]),
            link: None,
            rng: ChaCha20Rng::from_seed([7; 32]),
            out: VecDeque::new(),
            tun: Vec::new(),
        }
    }

    fn handle_udp(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, payload: &[u8]) {
        if local.port() == 500 {
            self.ike.handle_datagram(now, local, remote, payload);
        } else {
            match wire::natt::Repr::parse(payload).unwrap() {
                wire::natt::Repr::Ike(msg) => self.ike.handle_datagram(now, local, remote, msg),
                wire::natt::Repr::Esp(esp) => self.esp_in(now, esp),
                _ => {}
            }
        }
        self.drive(now);
    }

    fn esp_in(&mut self, now: Instant, esp: &[u8]) {
        let sa = self.inbound.as_ref().expect("ESP before Quick Mode");
        let mut buf = esp.to_vec();
        let opened = sa.open(&mut buf).expect("client ESP opens");
        let dgram = esp::transport::receive(sa, &opened, &buf).expect("L2TP inside");
        let l2tp_msg = buf[dgram.payload.clone()].to_vec();
        if let Some(data) = self
            .lns
            .handle_datagram(now, dgram.src_port, &l2tp_msg)
            .unwrap()
        {
            let (key, link) = self.link.as_mut().expect("a link for the session");
            assert_eq!(*key, data.session);
            if let Some(ip) = link.handle_frame(now, data.frame, &mut Auth) {
                self.tun.push(ip.to_vec());
            }
        }
        self.drive(now);
    }

    fn handle_tun(&mut self, now: Instant, packet: &[u8]) {
        let (key, link) = self.link.as_mut().unwrap();
        let key = *key;
        let mut frame = Vec::new();
        link.encapsulate_ip(packet, &mut frame).unwrap();
        self.send_frame(key, &frame);
        self.drive(now);
    }

    fn send_frame(&mut self, key: l2tp::SessionKey, frame: &[u8]) {
        let mut msg = Vec::new();
        let port = self.lns.encode_data(key, frame, &mut msg).unwrap();
        self.seal(port, &msg);
    }

    fn seal(&mut self, port: u16, msg: &[u8]) {
        let sa = self.outbound.as_ref().unwrap();
        let head = esp::transport::headroom(sa);
        let mut buf = vec![0u8; sa.sealed_len(msg.len() + 8)];
        buf[head..head + msg.len()].copy_from_slice(msg);
        let sealed = esp::transport::seal(sa, &mut buf, msg.len(), port, &mut self.rng).unwrap();
        buf.truncate(sealed.len);
        match sa.encap() {
            esp::Encap::Udp { local, remote } => self.out.push_back(Out::Udp(local, remote, buf)),
            esp::Encap::None => self.out.push_back(Out::Esp(buf)),
        }
    }

    fn drive(&mut self, now: Instant) {
        while let Some(t) = self.ike.poll_transmit() {
            self.out.push_back(Out::Udp(t.local, t.remote, t.payload));
        }
        while let Some(e) = self.ike.poll_event() {
            if let ike::Event::ChildSaEstablished(c) = e {
                let udp = matches!(c.encapsulation, ike::Encapsulation::UdpTransport(_));
                let (encap, peer) = if udp {
                    (
                        esp::Encap::Udp {
                            local: c.peer.local,
                            remote: c.peer.remote,
                        },
                        c.peer,
                    )
                } else {
                    (
                        esp::Encap::None,
                        FourTuple {
                            local: SocketAddr::new(c.peer.local.ip(), 0),
                            remote: SocketAddr::new(c.peer.remote.ip(), 0),
                        },
                    )
                };
                let p = |spi, direction, enc: &Secret, auth: &Secret| esp::SaParams {
                    spi,
                    direction,
                    cipher: c.cipher,
                    enc_key: enc.clone(),
                    integ: c.integ,
                    auth_key: auth.clone(),
                    encap,
                    peer,
                    lifetime: esp::Lifetime::UNLIMITED,
                };
                self.inbound = Some(
                    esp::Sa::new(p(
                        c.spi_in,
                        esp::Direction::Inbound,
                        &c.enc_key_in,
                        &c.auth_key_in,
                    ))
                    .unwrap(),
                );
                self.outbound = Some(
                    esp::Sa::new(p(
                        c.spi_out,
                        esp::Direction::Outbound,
                        &c.enc_key_out,
                        &c.auth_key_out,
                    ))
                    .unwrap(),
                );
            }
        }
        loop {
            let mut moved = false;
            while let Some(e) = self.lns.poll_event() {
                moved = true;
                if let l2tp::Event::SessionUp { key, .. } = e {
                    let cfg = ppp::LinkConfig {
                        our_addr: GATEWAY,
                        dns: [Some(DNS), None],
                        wins: [Some(WINS), None],
                        ..ppp::LinkConfig::default()
                    };
                    self.link = Some((key, ppp::Link::new(&cfg, [6; 32], now)));
                }
            }
            while let Some(t) = self.lns.poll_transmit() {
                moved = true;
                self.seal(t.peer_port, &t.payload);
            }
            let mut frames = Vec::new();
            if let Some((key, link)) = &mut self.link {
                while let Some(f) = link.poll_transmit() {
                    frames.push((*key, f));
                }
                while link.poll_event().is_some() {}
            }
            for (key, f) in frames {
                moved = true;
                self.send_frame(key, &f);
            }
            if !moved {
                break;
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.ike.handle_timeout(now);
        self.lns.handle_timeout(now);
        if let Some((_, link)) = &mut self.link {
            link.handle_timeout(now);
        }
        self.drive(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.ike.poll_timeout(),
            self.lns.poll_timeout(),
            self.link.as_ref().and_then(|(_, l)| l.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Moves datagrams both ways (no NAT, no loss) and advances time to the next deadline when
/// idle, until `done` or `limit` of virtual time.
fn run(
    now: &mut Instant,
    client: &mut Client,
    server: &mut MiniServer,
    limit: Duration,
    done: impl Fn(&Client, &MiniServer) -> bool,
) -> bool {
    let end = *now + limit;
    let mut buf = Vec::new();
    while *now < end {
        if done(client, server) {
            return true;
        }
        let mut moved = false;
        while let Some(t) = client.poll_transmit(&mut buf) {
            moved = true;
            match t {
                Transmit::Udp { local, remote } => server.handle_udp(*now, remote, local, &buf),
                Transmit::Esp { .. } => server.esp_in(*now, &buf),
                _ => unreachable!(),
            }
        }
        while let Some(o) = server.out.pop_front() {
            moved = true;
            match o {
                Out::Udp(local, remote, payload) => {
                    client.handle_udp(*now, remote, local, &payload)
                }
                Out::Esp(payload) => client.handle_esp(*now, CLIENT, SERVER, &payload),
            }
        }
        if !moved {
            let next = [client.poll_timeout(), server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) => *now = t.max(*now + Duration::from_millis(1)),
                None => return done(client, server),
            }
            client.handle_timeout(*now);
            server.handle_timeout(*now);
        }
    }
    done(client, server)
}

fn client(profile: Profile, password: &str) -> Client {
    Client::new(ClientConfig {
        profile,
        local: CLIENT,
        server: SERVER,
        psk: Secret::from_slice(PSK),
        user: "alice".into(),
        password: password.into(),
        rng_seed: [3; 32],
    })
}

fn connect_and_ping(profile: Profile, nat_d_trick: bool) -> (Client, MiniServer) {
    let mut now = origin();
    let mut c = client(profile, "alice-pass");
    let mut s = MiniServer::new(nat_d_trick);
    c.connect(now).unwrap();
    assert!(
        run(&mut now, &mut c, &mut s, Duration::from_secs(60), |c, _| c
            .is_up()),
        "client did not come up: {:?}",
        c.events()
    );
    assert_eq!(c.assigned_address(), Some(ASSIGNED));
    c.ping(now, LAN_HOST, 1).unwrap();
    assert!(run(
        &mut now,
        &mut c,
        &mut s,
        Duration::from_secs(5),
        |_, s| !s.tun.is_empty()
    ));
    let echo = packet::parse_icmp_echo(&s.tun[0]).unwrap();
    assert_eq!(
        (echo.src, echo.dst, echo.reply, echo.seq),
        (ASSIGNED, LAN_HOST, false, 1)
    );
    let reply = packet::echo_reply_to(&s.tun[0]).unwrap();
    s.handle_tun(now, &reply);
    assert!(run(
        &mut now,
        &mut c,
        &mut s,
        Duration::from_secs(5),
        |c, _| c.received_ip().next().is_some()
    ));
    let got = packet::parse_icmp_echo(&c.poll_ip().unwrap()).unwrap();
    assert_eq!(
        (got.src, got.dst, got.reply, got.seq),
        (LAN_HOST, ASSIGNED, true, 1)
    );
    (c, s)
}

#[test]
fn xp_client_reaches_ipcp_and_pings_through_the_engines() {
    let (c, _) = connect_and_ping(Profile::windows_xp_sp2(), true);
    let e = c.events();
    assert!(e.iter().any(|e| matches!(
        e,
        ClientEvent::Phase1Up { suite, nat_t: Some(ike::NatDialect::Draft02N), nat_detected: true, server_behind_nat: false }
            if suite.contains("3DES")
    )), "{e:?}");
    assert!(
        e.iter()
            .any(|e| matches!(e, ClientEvent::EspUp { udp: true, .. })),
        "{e:?}"
    );
    assert!(e.contains(&ClientEvent::Authenticated), "{e:?}");
    assert!(
        e.iter().any(|e| matches!(
            e,
            ClientEvent::IpUp { addr, server, dns: [Some(DNS), None], wins: [Some(WINS), None] }
                if *addr == ASSIGNED && *server == GATEWAY
        )),
        "{e:?}"
    );
    assert_eq!(
        c.l2tp_session().map(|k| (k.tunnel, k.session)),
        Some((4, 1))
    );
}

#[test]
fn windows_10_client_with_correlation_id_and_ecp384() {
    let (c, _) = connect_and_ping(Profile::windows_10(), true);
    assert!(c.events().iter().any(|e| matches!(
        e,
        ClientEvent::Phase1Up { suite, nat_t: Some(ike::NatDialect::Rfc3947), .. } if suite.contains("384")
    )), "{:?}", c.events());
}

#[test]
fn without_nat_and_without_the_trick_esp_is_plain() {
    let (c, _) = connect_and_ping(Profile::linux_strongswan(), false);
    assert!(
        c.events()
            .iter()
            .any(|e| matches!(e, ClientEvent::EspUp { udp: false, .. })),
        "{:?}",
        c.events()
    );
    assert_eq!(c.ike_peer().local.port(), 500);
}

#[test]
fn wrong_password_fails_with_691() {
    let mut now = origin();
    let mut c = client(Profile::windows_xp_sp2(), "wrong");
    let mut s = MiniServer::new(true);
    c.connect(now).unwrap();
    run(&mut now, &mut c, &mut s, Duration::from_secs(60), |c, _| {
        c.stage() == Stage::Down
    });
    assert!(
        c.events()
            .contains(&ClientEvent::AuthFailed { windows_error: 691 }),
        "{:?}",
        c.events()
    );
    assert!(!c.is_up());
}

#[test]
fn ios_profile_uses_its_random_port() {
    let (c, _) = connect_and_ping(Profile::ios(50431), true);
    assert_eq!(c.l2tp_session().map(|k| k.tunnel), Some(1));
    let _ = IpAddr::V4(CLIENT);
}
