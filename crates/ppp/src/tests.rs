//! Engine tests: a `Link` paired with a `Peer` in memory, and hand-driven exchanges shaped like
//! what a Windows XP client sends (as a pppd debug log of one shows it), with explicit time
//! steps.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use wire::ppp::control::{self, Repr};
use wire::ppp::mschap::{FailureChallenge, FailureMessage, SuccessMessage};
use wire::ppp::{Protocol, chap};

use crate::{
    AuthFailure, AuthProtocol, Authenticator, Credential, DownReason, Event, Link, LinkConfig,
    Lookup, Peer, PeerConfig, State,
};

/// An arbitrary origin for the virtual clock (the engines never read the clock themselves).
#[allow(clippy::disallowed_methods)]
pub(crate) fn t0() -> Instant {
    Instant::now()
}

// RFC 2759 §9.2 (vectors/mschap/rfc2759_mschapv2.json).
const AUTH_CHALLENGE: &str = "5B5D7C7D7B3F2F3E3C2C602132262628";
const PEER_CHALLENGE: &str = "21402324255E262A28295F2B3A337C7E";
const NT_RESPONSE: &str = "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF";
const AUTHENTICATOR_RESPONSE: &str = "S=407A5589115FD0D6209F510FE9C04566932CDA56";

fn h16(s: &str) -> [u8; 16] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// A user table and a tiny pool: 192.168.1.10, .11, ...; reserved addresses per user.
#[derive(Default)]
struct Users {
    users: HashMap<String, Lookup>,
    reserved: HashMap<String, Ipv4Addr>,
    next: u8,
    assigned: Vec<(String, Option<Ipv4Addr>, Ipv4Addr)>,
    exhausted: bool,
}

impl Users {
    fn with(user: &str, password: &str) -> Self {
        let mut u = Self {
            next: 10,
            ..Self::default()
        };
        u.users.insert(
            user.to_owned(),
            Lookup::Found(Credential::password(password)),
        );
        u
    }
}

impl Authenticator for Users {
    fn lookup(&mut self, user: &str) -> Lookup {
        self.users.get(user).cloned().unwrap_or(Lookup::NotFound)
    }

    fn assign_address(&mut self, user: &str, requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        if self.exhausted {
            return None;
        }
        let addr = match self.reserved.get(user) {
            Some(a) => *a,
            None => {
                self.next += 1;
                Ipv4Addr::new(192, 168, 1, self.next - 1)
            }
        };
        self.assigned.push((user.to_owned(), requested, addr));
        Some(addr)
    }
}

fn server_config() -> LinkConfig {
    LinkConfig {
        our_addr: Ipv4Addr::new(192, 168, 1, 1),
        dns: [
            Some(Ipv4Addr::new(192, 168, 1, 3)),
            Some(Ipv4Addr::new(192, 168, 1, 3)),
        ],
        ..LinkConfig::default()
    }
}

/// Splits a frame we sent into (protocol, payload); we always send `FF 03` and two octets.
fn split(frame: &[u8]) -> (Protocol, &[u8]) {
    let p = wire::ppp::Packet::new_checked(frame).unwrap();
    assert!(
        p.has_address_control() && !p.protocol_compressed(),
        "we never compress"
    );
    (p.protocol(), &frame[4..])
}

fn lcp_repr(payload: &[u8], protocol: Protocol) -> Repr<'_> {
    Repr::parse(&control::Packet::new_checked(payload).unwrap(), protocol).unwrap()
}

fn frame(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff, 0x03];
    f.extend_from_slice(&protocol.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn drain(link: &mut Link) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| link.poll_transmit()).collect()
}

fn events(link: &mut Link) -> Vec<Event> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

fn peer_events(peer: &mut Peer) -> Vec<Event> {
    std::iter::from_fn(|| peer.poll_event()).collect()
}

/// Exchanges frames until both sides are quiet. `tap` sees every Link frame first and may
/// change the peer (e.g. its password).
fn pump_with(
    now: Instant,
    link: &mut Link,
    peer: &mut Peer,
    users: &mut Users,
    mut tap: impl FnMut(&[u8], &mut Peer),
) -> Vec<Vec<u8>> {
    let mut from_link = Vec::new();
    for _ in 0..200 {
        let mut moved = false;
        while let Some(f) = link.poll_transmit() {
            moved = true;
            tap(&f, peer);
            let _ = peer.handle_frame(now, &f);
            from_link.push(f);
        }
        while let Some(f) = peer.poll_transmit() {
            moved = true;
            let _ = link.handle_frame(now, &f, users);
        }
        if !moved {
            return from_link;
        }
    }
    panic!("no quiescence");
}

fn pump(now: Instant, link: &mut Link, peer: &mut Peer, users: &mut Users) -> Vec<Vec<u8>> {
    pump_with(now, link, peer, users, |_, _| {})
}

/// A Link and a Peer run to IPCP Opened.
fn opened_pair(method: AuthProtocol) -> (Instant, Link, Peer, Users) {
    let now = t0();
    let mut cfg = server_config();
    cfg.auth_protocols = vec![method];
    let mut pcfg = PeerConfig::new("User", "clientPass");
    pcfg.auth_protocols = vec![method];
    let mut users = Users::with("User", "clientPass");
    let mut link = Link::new(&cfg, [1; 32], now);
    let mut peer = Peer::new(&pcfg, [2; 32], now);
    pump(now, &mut link, &mut peer, &mut users);
    (now, link, peer, users)
}

/// Runs every timer of `link` that is due by `until`.
fn run_timers(link: &mut Link, until: Instant) {
    while let Some(t) = link.poll_timeout().filter(|t| *t <= until) {
        link.handle_timeout(t);
    }
}

fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p
}

#[test]
fn pair_reaches_ip_up_with_every_method() {
    for method in [
        AuthProtocol::MsChapV2,
        AuthProtocol::Chap,
        AuthProtocol::MsChapV1,
        AuthProtocol::Pap,
    ] {
        let (_, mut link, mut peer, _) = opened_pair(method);
        assert_eq!(link.lcp_state(), State::Opened, "{method}");
        assert_eq!(link.ipcp_state(), State::Opened, "{method}");
        assert_eq!(peer.ipcp_state(), State::Opened, "{method}");
        let ev = events(&mut link);
        assert!(
            ev.contains(&Event::Authenticated {
                user: "User".into(),
                method
            }),
            "{method}: {ev:?}"
        );
        let up = Event::IpUp {
            peer_addr: Ipv4Addr::new(192, 168, 1, 10),
            our_addr: Ipv4Addr::new(192, 168, 1, 1),
            dns: [
                Some(Ipv4Addr::new(192, 168, 1, 3)),
                Some(Ipv4Addr::new(192, 168, 1, 3)),
            ],
            wins: [None, None],
        };
        assert!(ev.contains(&up), "{method}: {ev:?}");
        assert_eq!(peer.address(), Ipv4Addr::new(192, 168, 1, 10));
        let pev = peer_events(&mut peer);
        assert!(pev.iter().any(|e| matches!(e, Event::IpUp { peer_addr, .. } if *peer_addr == Ipv4Addr::new(192, 168, 1, 10))));
        assert_eq!(link.user(), Some("User"));
    }
}

#[test]
fn data_path_and_anti_spoofing() {
    let (now, mut link, mut peer, mut users) = opened_pair(AuthProtocol::MsChapV2);
    let assigned = link.assigned_address().unwrap();
    let mut out = Vec::new();

    let good = ipv4_packet(assigned, Ipv4Addr::new(8, 8, 8, 8));
    peer.encapsulate_ip(&good, &mut out).unwrap();
    assert_eq!(link.handle_frame(now, &out, &mut users), Some(&good[..]));

    let spoofed = ipv4_packet(Ipv4Addr::new(192, 168, 1, 77), Ipv4Addr::new(8, 8, 8, 8));
    peer.encapsulate_ip(&spoofed, &mut out).unwrap();
    assert_eq!(link.handle_frame(now, &out, &mut users), None);
    assert_eq!(link.stats().spoofed_drops, 1);
    assert_eq!(link.stats().ip_packets_in, 1);

    // Compressed forms (no FF 03, one-octet protocol) are accepted too (RFC 2661 §5.2).
    let mut compressed = vec![0x21];
    compressed.extend_from_slice(&good);
    assert_eq!(
        link.handle_frame(now, &compressed, &mut users),
        Some(&good[..])
    );

    // Downstream.
    let reply = ipv4_packet(Ipv4Addr::new(8, 8, 8, 8), assigned);
    link.encapsulate_ip(&reply, &mut out).unwrap();
    assert_eq!(&out[..4], &[0xff, 0x03, 0x00, 0x21]);
    assert_eq!(peer.handle_frame(now, &out), Some(&reply[..]));
    let big = vec![0x45; 1401];
    assert!(link.encapsulate_ip(&big, &mut out).is_err());
    assert_eq!(link.stats().oversize_drops, 1);
}

#[test]
fn rfc2759_known_answers_through_the_engines() {
    // The Link challenges with the §9.2 AuthenticatorChallenge, the Peer answers with the §9.2
    // PeerChallenge for user "User", password "clientPass".
    let now = t0();
    let mut link = Link::new(&server_config(), [3; 32], now);
    link.role.forced_challenge = Some(h16(AUTH_CHALLENGE));
    let mut peer = Peer::new(&PeerConfig::new("User", "clientPass"), [4; 32], now);
    peer.role.forced_peer_challenge = Some(h16(PEER_CHALLENGE));
    let mut users = Users::with("User", "clientPass");
    let frames = pump(now, &mut link, &mut peer, &mut users);

    assert_eq!(
        hex::encode_upper(peer.role.last_nt_response.unwrap()),
        NT_RESPONSE
    );
    let success = frames
        .iter()
        .map(|f| split(f))
        .find(|(p, pl)| *p == Protocol::Chap && pl[0] == 3)
        .expect("CHAP Success sent");
    let chap::Body::Success(message) =
        chap::Repr::parse(&control::Packet::new_checked(success.1).unwrap())
            .unwrap()
            .body
    else {
        panic!()
    };
    assert_eq!(&message[..42], AUTHENTICATOR_RESPONSE.as_bytes());
    assert_eq!(
        message,
        b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted"
    );
    // The peer verified S= and went on to IPCP.
    assert_eq!(peer.ipcp_state(), State::Opened);
}

/// A Windows XP shaped exchange, driven by hand.
#[test]
fn windows_xp_shaped_exchange() {
    let now = t0();
    let mut link = Link::new(&server_config(), [5; 32], now);
    link.role.forced_challenge = Some(h16(AUTH_CHALLENGE));
    let mut users = Users::with("User", "clientPass");

    // Our own ConfReq: mru 1400, auth chap MS-v2, magic.
    let ours = drain(&mut link);
    assert_eq!(ours.len(), 1);
    let (proto, our_req) = split(&ours[0]);
    assert_eq!(proto, Protocol::Lcp);
    let Repr::ConfigureRequest { options, .. } = lcp_repr(our_req, Protocol::Lcp) else {
        panic!()
    };
    assert_eq!(
        &options.as_bytes()[..9],
        &[0x01, 0x04, 0x05, 0x78, 0x03, 0x05, 0xc2, 0x23, 0x81]
    );
    let our_req = our_req.to_vec();

    // rcvd [LCP ConfReq id=0x1 <mru 1400> <magic 0x74cd45cf> <pcomp> <accomp> <callback CBCP>]
    let first = hex::decode("0101001501040578050674cd45cf070208020d0306").unwrap();
    assert_eq!(
        link.handle_frame(now, &frame(0xc021, &first), &mut users),
        None
    );
    // sent [LCP ConfRej id=0x1 <callback CBCP>]
    assert_eq!(
        drain(&mut link),
        vec![frame(0xc021, &hex::decode("040100070d0306").unwrap())]
    );

    // rcvd [LCP ConfReq id=0x2 <mru 1400> <magic 0x74cd45cf> <pcomp> <accomp>] -> ConfAck
    let second = hex::decode("0102001201040578050674cd45cf07020802").unwrap();
    let _ = link.handle_frame(now, &frame(0xc021, &second), &mut users);
    let mut ack = second.clone();
    ack[0] = 2;
    assert_eq!(drain(&mut link), vec![frame(0xc021, &ack)]);

    // The client acknowledges our request: LCP opens and the MS-CHAPv2 Challenge goes out.
    let mut client_ack = our_req.clone();
    client_ack[0] = 2;
    let _ = link.handle_frame(now, &frame(0xc021, &client_ack), &mut users);
    assert_eq!(link.lcp_state(), State::Opened);
    assert_eq!(link.peer_mru(), 1400);
    let out = drain(&mut link);
    assert_eq!(out.len(), 1);
    let (proto, challenge) = split(&out[0]);
    assert_eq!(proto, Protocol::Chap);
    let chap::Repr {
        identifier: chap_id,
        body: chap::Body::Challenge { value, name },
    } = chap::Repr::parse(&control::Packet::new_checked(challenge).unwrap()).unwrap()
    else {
        panic!()
    };
    assert_eq!(value, h16(AUTH_CHALLENGE));
    assert_eq!(name, b"l2tpd-rs");

    // Identification "MSRASV5.10" and "MSRAS-0-COMPTECH2" are recorded, never answered.
    for (id, text) in [(3u8, "MSRASV5.10"), (4, "MSRAS-0-COMPTECH2")] {
        let repr = Repr::Identification {
            identifier: id,
            magic: 0x74cd_45cf,
            message: text.as_bytes(),
        };
        let mut buf = vec![0; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        let _ = link.handle_frame(now, &frame(0xc021, &buf), &mut users);
    }
    assert!(drain(&mut link).is_empty());
    assert_eq!(link.identifications(), ["MSRASV5.10", "MSRAS-0-COMPTECH2"]);

    // rcvd [CCP ConfReq id=0x5 <mppe +H -M -S -L -D +C>] -> LCP Protocol-Reject of 0x80fd.
    let ccp = hex::decode("0105000a1206010000 01".replace(' ', "")).unwrap();
    let _ = link.handle_frame(now, &frame(0x80fd, &ccp), &mut users);
    let out = drain(&mut link);
    let (proto, rej) = split(&out[0]);
    assert_eq!(proto, Protocol::Lcp);
    assert_eq!(
        lcp_repr(rej, Protocol::Lcp),
        Repr::ProtocolReject {
            identifier: rej[1],
            protocol: Protocol::Ccp,
            information: &ccp
        }
    );

    // The RFC 2759 §9.2 Response from "User" -> Success with the §9.2 authenticator response.
    let mut value = h16(PEER_CHALLENGE).to_vec();
    value.extend_from_slice(&[0; 8]);
    value.extend_from_slice(&hex::decode(NT_RESPONSE).unwrap());
    value.push(0);
    let resp = chap::Repr {
        identifier: chap_id,
        body: chap::Body::Response {
            value: &value,
            name: b"User",
        },
    };
    let mut buf = vec![0; resp.buffer_len()];
    resp.emit(&mut buf).unwrap();
    let _ = link.handle_frame(now, &frame(0xc223, &buf), &mut users);
    let out = drain(&mut link);
    let (proto, success) = split(&out[0]);
    assert_eq!(proto, Protocol::Chap);
    let chap::Body::Success(message) =
        chap::Repr::parse(&control::Packet::new_checked(success).unwrap())
            .unwrap()
            .body
    else {
        panic!()
    };
    let sm = SuccessMessage::parse(message).unwrap();
    assert_eq!(
        format!("S={}", hex::encode_upper(sm.authenticator_response)),
        AUTHENTICATOR_RESPONSE
    );
    // Then our IPCP ConfReq <addr 192.168.1.1>.
    let (proto, ipcp_req) = split(&out[1]);
    assert_eq!(proto, Protocol::Ipcp);
    assert_eq!(&ipcp_req[4..], &[0x03, 0x06, 192, 168, 1, 1]);
    let ipcp_req = ipcp_req.to_vec();

    // rcvd [IPCP ConfReq id=0x6 <addr 0.0.0.0> <ms-dns1 0.0.0.0> <ms-wins 0.0.0.0> <ms-dns2 0.0.0.0> <ms-wins 0.0.0.0>]
    let req6 =
        hex::decode("0106002203060000000081060000000082060000000083060000000084060000000000")
            .unwrap();
    let req6 = &req6[..34];
    let _ = link.handle_frame(now, &frame(0x8021, req6), &mut users);
    // sent [IPCP ConfRej id=0x6 <ms-wins 0.0.0.0> <ms-wins 0.0.0.0>] (no WINS configured)
    assert_eq!(
        drain(&mut link),
        vec![frame(
            0x8021,
            &hex::decode("04060010820600000000840600000000").unwrap()
        )]
    );
    assert_eq!(
        users.assigned,
        vec![("User".to_owned(), None, Ipv4Addr::new(192, 168, 1, 10))]
    );

    // rcvd [IPCP ConfReq id=0x8 <addr 0.0.0.0> <ms-dns1 0.0.0.0> <ms-dns2 0.0.0.0>]
    let req8 = hex::decode("0108001603060000000081060000000083060000000000").unwrap();
    let _ = link.handle_frame(now, &frame(0x8021, &req8[..22]), &mut users);
    // sent [IPCP ConfNak id=0x8 <addr 192.168.1.10> <ms-dns1 192.168.1.3> <ms-dns2 192.168.1.3>]
    assert_eq!(
        drain(&mut link),
        vec![frame(
            0x8021,
            &hex::decode("030800160306c0a8010a8106c0a801038306c0a80103").unwrap()
        )]
    );

    // rcvd [IPCP ConfReq id=0x9 <addr 192.168.1.10> <ms-dns1 192.168.1.3> <ms-dns2 192.168.1.3>] -> ConfAck
    let req9 = hex::decode("010900160306c0a8010a8106c0a801038306c0a80103").unwrap();
    let _ = link.handle_frame(now, &frame(0x8021, &req9), &mut users);
    let mut ack9 = req9.clone();
    ack9[0] = 2;
    assert_eq!(drain(&mut link), vec![frame(0x8021, &ack9)]);

    // The client acknowledges our IPCP request: IP is up.
    let mut ipcp_ack = ipcp_req;
    ipcp_ack[0] = 2;
    let _ = link.handle_frame(now, &frame(0x8021, &ipcp_ack), &mut users);
    assert_eq!(link.ipcp_state(), State::Opened);
    let ev = events(&mut link);
    assert_eq!(
        ev,
        vec![
            Event::Identification("MSRASV5.10".into()),
            Event::Identification("MSRAS-0-COMPTECH2".into()),
            Event::Authenticated {
                user: "User".into(),
                method: AuthProtocol::MsChapV2
            },
            Event::IpUp {
                peer_addr: Ipv4Addr::new(192, 168, 1, 10),
                our_addr: Ipv4Addr::new(192, 168, 1, 1),
                dns: [
                    Some(Ipv4Addr::new(192, 168, 1, 3)),
                    Some(Ipv4Addr::new(192, 168, 1, 3))
                ],
                wins: [None, None],
            },
        ]
    );
    assert_eq!(link.stats().malformed_drops, 0);
    assert_eq!(link.stats().protocol_rejects, 1);
}

#[test]
fn ipcp_naks_all_five_options_when_wins_is_configured() {
    let now = t0();
    let mut cfg = server_config();
    cfg.wins = [
        Some(Ipv4Addr::new(192, 168, 1, 4)),
        Some(Ipv4Addr::new(192, 168, 1, 5)),
    ];
    let mut pcfg = PeerConfig::new("User", "clientPass");
    pcfg.request_wins = true;
    let mut users = Users::with("User", "clientPass");
    let mut link = Link::new(&cfg, [6; 32], now);
    let mut peer = Peer::new(&pcfg, [7; 32], now);
    let frames = pump(now, &mut link, &mut peer, &mut users);
    // The Nak carries 3, 129, 130, 131, 132 with the pool and configured values.
    let nak = frames
        .iter()
        .map(|f| split(f))
        .find(|(p, pl)| *p == Protocol::Ipcp && pl[0] == 3)
        .expect("IPCP Nak");
    assert_eq!(
        &nak.1[4..],
        hex::decode("0306c0a8010a8106c0a801038206c0a801048306c0a801038406c0a80105").unwrap()
    );
    let ev = events(&mut link);
    assert!(ev.contains(&Event::IpUp {
        peer_addr: Ipv4Addr::new(192, 168, 1, 10),
        our_addr: Ipv4Addr::new(192, 168, 1, 1),
        dns: cfg.dns,
        wins: cfg.wins,
    }));
    let pev = peer_events(&mut peer);
    assert!(pev.contains(&Event::IpUp {
        peer_addr: Ipv4Addr::new(192, 168, 1, 10),
        our_addr: Ipv4Addr::new(192, 168, 1, 1),
        dns: cfg.dns,
        wins: cfg.wins,
    }));
}

#[test]
fn reserved_address_is_the_only_one_accepted() {
    let now = t0();
    let reserved = Ipv4Addr::new(192, 168, 1, 99);
    for (asked, nak_expected) in [(reserved, false), (Ipv4Addr::new(192, 168, 1, 5), true)] {
        let mut users = Users::with("User", "clientPass");
        users.reserved.insert("User".into(), reserved);
        let mut pcfg = PeerConfig::new("User", "clientPass");
        pcfg.requested_addr = asked;
        pcfg.request_dns = false;
        let mut link = Link::new(&server_config(), [8; 32], now);
        let mut peer = Peer::new(&pcfg, [9; 32], now);
        let frames = pump(now, &mut link, &mut peer, &mut users);
        let naks = frames
            .iter()
            .map(|f| split(f))
            .filter(|(p, pl)| *p == Protocol::Ipcp && pl[0] == 3)
            .count();
        assert_eq!(naks > 0, nak_expected, "{asked}");
        assert_eq!(
            users.assigned[0].1,
            Some(asked),
            "the request is passed as a hint"
        );
        assert_eq!(link.assigned_address(), Some(reserved));
        assert_eq!(peer.address(), reserved);
        assert_eq!(link.ipcp_state(), State::Opened);
    }
}

fn failure_of(frame: &[u8]) -> Option<(u8, Vec<u8>)> {
    let (p, pl) = split(frame);
    if p != Protocol::Chap || pl[0] != 4 {
        return None;
    }
    let chap::Repr {
        identifier,
        body: chap::Body::Failure(message),
    } = chap::Repr::parse(&control::Packet::new_checked(pl).unwrap()).unwrap()
    else {
        return None;
    };
    Some((identifier, message.to_vec()))
}

#[test]
fn wrong_password_gets_691_failures_then_terminate() {
    let now = t0();
    let mut link = Link::new(&server_config(), [10; 32], now);
    let mut peer = Peer::new(&PeerConfig::new("User", "wrong"), [11; 32], now);
    let mut users = Users::with("User", "clientPass");
    let frames = pump(now, &mut link, &mut peer, &mut users);
    let failures: Vec<_> = frames.iter().filter_map(|f| failure_of(f)).collect();
    assert_eq!(failures.len(), 3, "auth_retries = 3");
    for (i, (_, text)) in failures.iter().enumerate() {
        let f = FailureMessage::parse(text).unwrap();
        assert_eq!(f.error, 691);
        assert_eq!(f.retry, i < 2, "last Failure says R=0");
        assert!(matches!(f.challenge, Some(FailureChallenge::V2(_))));
        assert_eq!(f.version, Some(3));
        assert_eq!(f.message, Some(&b"Authentication failed"[..]));
        assert!(
            std::str::from_utf8(text)
                .unwrap()
                .starts_with(&format!("E=691 R={} C=", u8::from(i < 2)))
        );
    }
    // The LCP Terminate-Request follows the last Failure.
    let last_failure = frames
        .iter()
        .rposition(|f| failure_of(f).is_some())
        .unwrap();
    let (p, pl) = split(&frames[last_failure + 1]);
    assert_eq!((p, pl[0]), (Protocol::Lcp, 5));
    let ev = events(&mut link);
    let failed: Vec<_> = ev
        .iter()
        .filter(|e| matches!(e, Event::AuthFailed { .. }))
        .collect();
    assert_eq!(failed.len(), 3);
    assert_eq!(
        failed[0],
        &Event::AuthFailed {
            user: "User".into(),
            reason: AuthFailure::WrongPassword,
            windows_error: 691
        }
    );
    assert!(link.ipcp_state() != State::Opened);
    // The peer's Terminate-Ack (or the restart timer) ends the link.
    run_timers(&mut link, now + Duration::from_secs(10));
    assert!(link.is_down());
    let mut all = ev;
    all.extend(events(&mut link));
    assert_eq!(
        all.last(),
        Some(&Event::Down {
            reason: DownReason::AuthFailed
        })
    );
}

#[test]
fn retry_after_failure_with_new_response_succeeds() {
    let now = t0();
    let mut link = Link::new(&server_config(), [12; 32], now);
    let mut peer = Peer::new(&PeerConfig::new("User", "wrong"), [13; 32], now);
    let mut users = Users::with("User", "clientPass");
    // The user retypes the password when the first Failure arrives (RFC 2759 §6 R=1 / C=).
    pump_with(now, &mut link, &mut peer, &mut users, |f, peer| {
        if failure_of(f).is_some() {
            peer.set_password("clientPass");
        }
    });
    let ev = events(&mut link);
    assert!(matches!(
        ev[0],
        Event::AuthFailed {
            reason: AuthFailure::WrongPassword,
            ..
        }
    ));
    assert!(ev.contains(&Event::Authenticated {
        user: "User".into(),
        method: AuthProtocol::MsChapV2
    }));
    assert_eq!(link.ipcp_state(), State::Opened);
}

#[test]
fn disabled_and_unknown_users_get_691() {
    for (lookup, reason) in [
        (Lookup::Disabled, AuthFailure::UserDisabled),
        (Lookup::NotFound, AuthFailure::UnknownUser),
    ] {
        let now = t0();
        let mut users = Users::with("other", "x");
        users.users.insert("User".into(), lookup);
        let mut link = Link::new(&server_config(), [14; 32], now);
        let mut peer = Peer::new(&PeerConfig::new("User", "clientPass"), [15; 32], now);
        let frames = pump(now, &mut link, &mut peer, &mut users);
        let (_, text) = frames.iter().find_map(|f| failure_of(f)).unwrap();
        assert!(text.starts_with(b"E=691 R=1 C="));
        assert!(
            text.ends_with(b" V=3 M=Authentication failed"),
            "same text for every cause"
        );
        let ev = events(&mut link);
        assert!(ev.contains(&Event::AuthFailed {
            user: "User".into(),
            reason,
            windows_error: 691
        }));
        assert!(!ev.iter().any(|e| matches!(e, Event::Authenticated { .. })));
    }
}

/// Runs one authentication of a peer presenting "User" / `password` against `users`, with fixed
/// seeds, to the end; returns what the link sent, its events and how many responses it checked.
fn attempt(
    method: AuthProtocol,
    users: &mut Users,
    password: &str,
) -> (Vec<Vec<u8>>, Vec<Event>, u32) {
    let now = t0();
    let mut cfg = server_config();
    cfg.auth_protocols = vec![method];
    let mut pcfg = PeerConfig::new("User", password);
    pcfg.auth_protocols = vec![method];
    let mut link = Link::new(&cfg, [18; 32], now);
    let mut peer = Peer::new(&pcfg, [19; 32], now);
    let mut frames = pump(now, &mut link, &mut peer, users);
    // Let the restart timers run out: the Terminate-Requests are part of the reply.
    let mut t = now;
    while let Some(next) = link
        .poll_timeout()
        .filter(|d| *d <= now + Duration::from_secs(60))
    {
        t = t.max(next);
        link.handle_timeout(t);
        frames.extend(drain(&mut link));
    }
    let checks = link.role.auth_checks;
    (frames, events(&mut link), checks)
}

fn failure_reasons(ev: &[Event]) -> Vec<AuthFailure> {
    ev.iter()
        .filter_map(|e| match e {
            Event::AuthFailed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn unknown_disabled_and_wrong_password_are_indistinguishable_on_the_wire() {
    // NT hash of "clientPass" (RFC 2759 §9.2 PasswordHash): a CHAP-MD5 refusal without
    // cleartext must look like the others too.
    let hash = h16("44EBBA8D5312B8D611474411F56989AE");
    for method in [
        AuthProtocol::MsChapV2,
        AuthProtocol::MsChapV1,
        AuthProtocol::Chap,
        AuthProtocol::Pap,
    ] {
        let (wrong, wrong_ev, wrong_checks) =
            attempt(method, &mut Users::with("User", "clientPass"), "wrong");
        assert_eq!(
            failure_reasons(&wrong_ev),
            [AuthFailure::WrongPassword; 3],
            "{method}"
        );
        assert_eq!(wrong_checks, 3, "{method}: every attempt is checked");
        let mut cases = vec![
            (Users::with("someone", "else"), AuthFailure::UnknownUser),
            (Users::with("someone", "else"), AuthFailure::UserDisabled),
        ];
        cases[1].0.users.insert("User".into(), Lookup::Disabled);
        if method == AuthProtocol::Chap {
            let mut u = Users::with("someone", "else");
            u.users
                .insert("User".into(), Lookup::Found(Credential::nt_hash(hash)));
            cases.push((u, AuthFailure::CleartextRequired));
        }
        for (mut users, reason) in cases {
            let (frames, ev, checks) = attempt(method, &mut users, "wrong");
            // Same frames, byte for byte: same codes, E=691, R flags, C= challenges (the
            // generator is drawn the same way), V= and M= texts, same Terminate-Request.
            assert_eq!(frames, wrong, "{method}: {reason}");
            assert_eq!(
                checks, wrong_checks,
                "{method}: {reason} costs the same work"
            );
            assert_eq!(failure_reasons(&ev), [reason; 3], "{method}");
            assert!(ev.contains(&Event::Down {
                reason: DownReason::AuthFailed
            }));
        }
    }
}

#[test]
fn throttled_attempt_is_refused_unchecked_with_r0_and_ends_the_link() {
    let retry_after = Duration::from_millis(29_500);
    for method in [
        AuthProtocol::MsChapV2,
        AuthProtocol::MsChapV1,
        AuthProtocol::Chap,
        AuthProtocol::Pap,
    ] {
        let mut users = Users::with("someone", "else");
        users
            .users
            .insert("User".into(), Lookup::Throttled { retry_after });
        // Even the right password is not checked against the user's credential.
        let (frames, ev, checks) = attempt(method, &mut users, "clientPass");
        let reason = AuthFailure::Throttled { retry_after };
        assert_eq!(failure_reasons(&ev), [reason], "{method}: one attempt only");
        assert_eq!(reason.to_string(), "too many failed logins, retry in 30 s");
        assert_eq!(
            checks, 1,
            "{method}: checked against the dummy, like any refusal"
        );
        assert_eq!(
            ev.last(),
            Some(&Event::Down {
                reason: DownReason::AuthFailed
            })
        );
        assert!(!ev.iter().any(|e| matches!(e, Event::Authenticated { .. })));
        // The reply is the 691 family; MS-CHAP says R=0 (RFC 2759 §6), and an LCP
        // Terminate-Request follows the failure.
        let at = frames
            .iter()
            .position(|f| {
                let (p, pl) = split(f);
                matches!((p, pl[0]), (Protocol::Chap, 4) | (Protocol::Pap, 3))
            })
            .expect("a Failure or Authenticate-Nak");
        if matches!(method, AuthProtocol::MsChapV2 | AuthProtocol::MsChapV1) {
            let (_, text) = failure_of(&frames[at]).unwrap();
            let f = FailureMessage::parse(&text).unwrap();
            assert_eq!((f.error, f.retry), (691, false), "{method}");
            assert!(text.starts_with(b"E=691 R=0 C="));
            assert!(text.ends_with(b" M=Authentication failed"));
        }
        let (p, pl) = split(&frames[at + 1]);
        assert_eq!(
            (p, pl[0]),
            (Protocol::Lcp, 5),
            "{method}: Terminate-Request"
        );
    }
}

#[test]
fn chap_md5_needs_cleartext_and_nt_hash_serves_mschap() {
    let now = t0();
    // NT hash of "clientPass" (RFC 2759 §9.2 PasswordHash).
    let hash = h16("44EBBA8D5312B8D611474411F56989AE");
    for (method, ok) in [
        (AuthProtocol::Chap, false),
        (AuthProtocol::MsChapV2, true),
        (AuthProtocol::MsChapV1, true),
        (AuthProtocol::Pap, true),
    ] {
        let mut users = Users {
            next: 10,
            ..Users::default()
        };
        users
            .users
            .insert("User".into(), Lookup::Found(Credential::nt_hash(hash)));
        let mut cfg = server_config();
        cfg.auth_protocols = vec![method];
        let mut pcfg = PeerConfig::new("User", "clientPass");
        pcfg.auth_protocols = vec![method];
        let mut link = Link::new(&cfg, [16; 32], now);
        let mut peer = Peer::new(&pcfg, [17; 32], now);
        pump(now, &mut link, &mut peer, &mut users);
        let ev = events(&mut link);
        if ok {
            assert_eq!(link.ipcp_state(), State::Opened, "{method}");
        } else {
            assert!(ev.contains(&Event::AuthFailed {
                user: "User".into(),
                reason: AuthFailure::CleartextRequired,
                windows_error: 691
            }));
        }
    }
}

#[test]
fn auth_protocol_nak_moves_to_the_next_method() {
    let now = t0();
    let mut pcfg = PeerConfig::new("User", "clientPass");
    pcfg.auth_protocols = vec![AuthProtocol::MsChapV1];
    let mut users = Users::with("User", "clientPass");
    let mut link = Link::new(&server_config(), [18; 32], now);
    let mut peer = Peer::new(&pcfg, [19; 32], now);
    pump(now, &mut link, &mut peer, &mut users);
    assert!(events(&mut link).contains(&Event::Authenticated {
        user: "User".into(),
        method: AuthProtocol::MsChapV1
    }));

    // A peer that only does PAP, while PAP is off: no common protocol, the link goes down.
    let mut pcfg = PeerConfig::new("User", "clientPass");
    pcfg.auth_protocols = vec![AuthProtocol::Pap];
    let mut link = Link::new(&server_config(), [20; 32], now);
    let mut peer = Peer::new(&pcfg, [21; 32], now);
    pump(now, &mut link, &mut peer, &mut users);
    run_timers(&mut link, now + Duration::from_secs(10));
    assert!(events(&mut link).contains(&Event::Down {
        reason: DownReason::NegotiationFailed("no common authentication protocol")
    }));
}

#[test]
fn mru_is_clamped_and_unwanted_lcp_options_rejected() {
    let now = t0();
    let mut users = Users::with("User", "clientPass");
    let mut link = Link::new(&server_config(), [22; 32], now);
    drain(&mut link);
    // <mru 1500> <mrru 1614> <endpoint class 1 "ab"> <17 04 0b 0a> <unknown 0x42>
    let req =
        hex::decode("01010017010405dc1104064e1305016162170 40b0a4202".replace(' ', "")).unwrap();
    let _ = link.handle_frame(now, &frame(0xc021, &req), &mut users);
    let out = drain(&mut link);
    let (_, rej) = split(&out[0]);
    assert_eq!(rej[0], 4, "Configure-Reject first");
    assert_eq!(&rej[4..], &req[8..]);
    let req = hex::decode("01020008010405dc").unwrap();
    let _ = link.handle_frame(now, &frame(0xc021, &req), &mut users);
    let out = drain(&mut link);
    let (_, nak) = split(&out[0]);
    assert_eq!(
        nak,
        hex::decode("030200080104057 8".replace(' ', "")).unwrap()
    );
}

#[test]
fn malformed_frames_are_dropped_and_counted() {
    let (now, mut link, _peer, mut users) = opened_pair(AuthProtocol::MsChapV2);
    let table: &[(&str, &[u8])] = &[
        ("empty frame", &[]),
        ("address without control", &[0xff, 0x05, 0xc0, 0x21]),
        ("protocol truncated", &[0xff, 0x03, 0xc0]),
        ("even protocol", &[0xff, 0x03, 0xc0, 0x20, 1, 1, 0, 4]),
        (
            "LCP header truncated",
            &[0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00],
        ),
        (
            "LCP length zero",
            &[0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x00],
        ),
        (
            "LCP length past the end",
            &[0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x20, 0x01, 0x04],
        ),
        (
            "option length zero",
            &[0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x06, 0x01, 0x00],
        ),
        (
            "option length one",
            &[0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x06, 0x05, 0x01],
        ),
        (
            "option truncated",
            &[
                0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x07, 0x05, 0x06, 0x01,
            ],
        ),
        (
            "option past the end",
            &[
                0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x0a, 0x01, 0x04, 0x05, 0x78, 0x05, 0x06,
            ],
        ),
        (
            "echo without magic",
            &[0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x06, 0, 0],
        ),
        (
            "protocol reject without protocol",
            &[0xff, 0x03, 0xc0, 0x21, 0x08, 0x01, 0x00, 0x05, 0x80],
        ),
        (
            "IPCP option length one",
            &[0xff, 0x03, 0x80, 0x21, 0x01, 0x01, 0x00, 0x06, 0x03, 0x01],
        ),
        (
            "IPCP length past the end",
            &[0xff, 0x03, 0x80, 0x21, 0x01, 0x01, 0x00, 0x0a, 0x03, 0x06],
        ),
        (
            "CHAP value size past the end",
            &[0xff, 0x03, 0xc2, 0x23, 0x02, 0x01, 0x00, 0x06, 0x31, 0x00],
        ),
        (
            "CHAP without value size",
            &[0xff, 0x03, 0xc2, 0x23, 0x02, 0x01, 0x00, 0x04],
        ),
        (
            "PAP peer-id past the end",
            &[0xff, 0x03, 0xc0, 0x23, 0x01, 0x01, 0x00, 0x06, 0x09, 0x41],
        ),
        (
            "IPv4 shorter than a header",
            &[0xff, 0x03, 0x00, 0x21, 0x45, 0x00],
        ),
        (
            "IPv6 version in IPv4",
            &[
                0xff, 0x03, 0x00, 0x21, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 192, 168, 1, 10, 1,
                1, 1, 1,
            ],
        ),
    ];
    for (i, (what, bytes)) in table.iter().enumerate() {
        let before = link.stats().malformed_drops;
        assert_eq!(link.handle_frame(now, bytes, &mut users), None, "{what}");
        assert_eq!(link.stats().malformed_drops, before + 1, "{what} (row {i})");
        assert!(drain(&mut link).is_empty(), "{what}: nothing is answered");
    }
    assert_eq!(link.lcp_state(), State::Opened);
    assert_eq!(link.ipcp_state(), State::Opened);
}

#[test]
fn unknown_protocols_get_protocol_reject_and_unknown_codes_code_reject() {
    let (now, mut link, _peer, mut users) = opened_pair(AuthProtocol::MsChapV2);
    drain(&mut link);
    // IPV6CP ConfReq <addr fe80::483c:272c:c66a:ebe1>, as Windows 7 sends it.
    let ipv6cp = hex::decode("0106000e010a483c272cc66aebe1").unwrap();
    let _ = link.handle_frame(now, &frame(0x8057, &ipv6cp), &mut users);
    let _ = link.handle_frame(now, &frame(0x4221, &[1, 2, 3]), &mut users);
    let out = drain(&mut link);
    let protos: Vec<_> = out
        .iter()
        .map(|f| match lcp_repr(split(f).1, Protocol::Lcp) {
            Repr::ProtocolReject { protocol, .. } => protocol,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(protos, [Protocol::Ipv6cp, Protocol::Unknown(0x4221)]);
    assert_eq!(link.stats().protocol_rejects, 2);
    // An unknown LCP code gets Code-Reject.
    let _ = link.handle_frame(
        now,
        &frame(0xc021, &[0x42, 0x07, 0x00, 0x05, 0x99]),
        &mut users,
    );
    let out = drain(&mut link);
    assert_eq!(split(&out[0]).1[0], 7);
    assert_eq!(&split(&out[0]).1[4..], &[0x42, 0x07, 0x00, 0x05, 0x99]);
}

/// Runs the link's timers up to `until`, the peer answering the Echo-Requests if `answer`;
/// returns the times at which they went out.
fn echo_ticks(
    link: &mut Link,
    peer: &mut Peer,
    users: &mut Users,
    until: Instant,
    answer: bool,
) -> Vec<Instant> {
    let mut sent = Vec::new();
    while let Some(t) = link.poll_timeout().filter(|t| *t <= until) {
        link.handle_timeout(t);
        for f in drain(link) {
            if lcp_repr(split(&f).1, Protocol::Lcp).code() != 9 {
                continue; // the Terminate-Request of a dead link
            }
            sent.push(t);
            if answer {
                let _ = peer.handle_frame(t, &f);
                while let Some(r) = peer.poll_transmit() {
                    let _ = link.handle_frame(t, &r, users);
                }
            }
        }
    }
    sent
}

#[test]
fn echo_keepalive_detects_a_dead_peer() {
    let (now, mut link, mut peer, mut users) = opened_pair(AuthProtocol::MsChapV2);
    drain(&mut link);
    events(&mut link);
    let secs = |n: u64| Duration::from_secs(n);
    // A live peer that only answers: its Echo-Reply shows it is there for the next interval,
    // so a request goes out every other tick (RFC 1661 §5.8 leaves the timing to us). The
    // tick at 30 s follows the negotiation's frames and sends nothing either.
    let sent = echo_ticks(&mut link, &mut peer, &mut users, now + secs(360), true);
    let at: Vec<u64> = sent.iter().map(|t| (*t - now).as_secs()).collect();
    assert_eq!(at, vec![60, 120, 180, 240, 300, 360]);
    assert!(!link.is_down());
    // Now the peer is silent after its reply at 360 s: the tick at 390 s still counts that
    // reply, requests go out at 420, 450 and 480 s, and at 510 s (four silent intervals,
    // 150 s after its last frame, as before requests were skipped) it is dead.
    let sent = echo_ticks(&mut link, &mut peer, &mut users, now + secs(3600), false);
    let at: Vec<u64> = sent.iter().map(|t| (*t - now).as_secs()).collect();
    assert_eq!(at, vec![420, 450, 480]);
    assert!(link.is_down());
    assert_eq!(
        events(&mut link),
        vec![Event::Down {
            reason: DownReason::DeadPeer
        }]
    );
    assert_eq!(link.poll_timeout(), None);
}

#[test]
fn no_echo_request_while_the_peer_is_heard_and_a_silent_one_still_drops() {
    let (now, mut link, mut peer, mut users) = opened_pair(AuthProtocol::MsChapV2);
    drain(&mut link);
    events(&mut link);
    let secs = |n: u64| Duration::from_secs(n);
    let addr = link.assigned_address().unwrap();
    let ip = frame(0x0021, &ipv4_packet(addr, Ipv4Addr::new(10, 9, 9, 9)));
    // The peer sends an IPv4 packet every 20 s for ten minutes: never an Echo-Request.
    let mut t = now;
    let mut sent = Vec::new();
    while t < now + secs(600) {
        t += secs(20);
        sent.extend(echo_ticks(&mut link, &mut peer, &mut users, t, true));
        assert!(link.handle_frame(t, &ip, &mut users).is_some());
    }
    assert!(sent.is_empty(), "Echo-Requests at {sent:?}");
    assert!(!link.is_down());
    // Then silence from 600 s: dropped 120 to 150 s later (four silent ticks of 30 s).
    let sent = echo_ticks(&mut link, &mut peer, &mut users, now + secs(3600), false);
    assert_eq!(sent.len(), 3);
    assert!(link.is_down());
    let down_at = *sent.last().unwrap() + secs(30);
    let silent = down_at - (now + secs(600));
    assert!(
        silent >= secs(120) && silent <= secs(150),
        "dropped {silent:?} after the last frame"
    );
    assert_eq!(
        events(&mut link),
        vec![Event::Down {
            reason: DownReason::DeadPeer
        }]
    );
}

#[test]
fn peer_terminate_and_local_close() {
    let (now, mut link, mut peer, mut users) = opened_pair(AuthProtocol::MsChapV2);
    events(&mut link);
    peer.close(now, "user hung up");
    pump(now, &mut link, &mut peer, &mut users);
    assert!(link.is_down());
    assert_eq!(
        events(&mut link),
        vec![Event::Down {
            reason: DownReason::PeerTerminated
        }]
    );

    let (now, mut link, mut peer, mut users) = opened_pair(AuthProtocol::Chap);
    events(&mut link);
    link.close(now, "admin");
    pump(now, &mut link, &mut peer, &mut users);
    assert!(link.is_down());
    assert_eq!(
        events(&mut link),
        vec![Event::Down {
            reason: DownReason::LocalClose("admin".into())
        }]
    );
    assert!(peer_events(&mut peer).contains(&Event::Down {
        reason: DownReason::PeerTerminated
    }));
}

#[test]
fn silent_peer_exhausts_max_configure() {
    let now = t0();
    let mut link = Link::new(&server_config(), [23; 32], now);
    let mut sent = drain(&mut link).len();
    while let Some(t) = link.poll_timeout() {
        link.handle_timeout(t);
        sent += drain(&mut link).len();
    }
    assert_eq!(sent, 10, "Max-Configure Configure-Requests");
    assert_eq!(
        events(&mut link),
        vec![Event::Down {
            reason: DownReason::NegotiationFailed("LCP did not converge")
        }]
    );
}

#[test]
fn own_magic_number_means_loopback() {
    let now = t0();
    let mut users = Users::with("User", "clientPass");
    let mut link = Link::new(&server_config(), [24; 32], now);
    let out = drain(&mut link);
    let req = split(&out[0]).1.to_vec();
    // Reflect our own request back, as a looped-back line would, until detection.
    for _ in 0..5 {
        let _ = link.handle_frame(now, &frame(0xc021, &req), &mut users);
        drain(&mut link);
    }
    run_timers(&mut link, now + Duration::from_secs(10));
    assert!(events(&mut link).contains(&Event::Down {
        reason: DownReason::LoopDetected
    }));
}

#[test]
fn no_address_takes_the_link_down() {
    let now = t0();
    let mut users = Users::with("User", "clientPass");
    users.exhausted = true;
    let mut link = Link::new(&server_config(), [25; 32], now);
    let mut peer = Peer::new(&PeerConfig::new("User", "clientPass"), [26; 32], now);
    pump(now, &mut link, &mut peer, &mut users);
    run_timers(&mut link, now + Duration::from_secs(10));
    assert!(events(&mut link).contains(&Event::Down {
        reason: DownReason::NoAddress
    }));
}

#[test]
fn secrets_stay_out_of_debug() {
    let c = Credential::password("hunter2");
    assert!(!format!("{c:?}").contains("hunter2"));
    let p = PeerConfig::new("u", "hunter2");
    assert!(!format!("{p:?}").contains("hunter2"));
    let (_, link, peer, _) = opened_pair(AuthProtocol::Pap);
    assert!(!format!("{link:?}").contains("clientPass"));
    assert!(!format!("{peer:?}").contains("clientPass"));
}

#[test]
fn ip_up_and_note_alive_for_a_fast_path() {
    let (_now, mut link, _peer, _users) = opened_pair(AuthProtocol::MsChapV2);
    assert!(link.ip_up(), "IPCP is open and the peer has an address");
    drain(&mut link);
    events(&mut link);
    // The peer never answers Echo-Requests, but a fast path carries its IPv4 frames and says
    // so before every timer: the link stays up, as it would if the frames came through it.
    for _ in 0..10 {
        let t = link.poll_timeout().unwrap();
        link.note_alive();
        link.handle_timeout(t);
        drain(&mut link);
    }
    assert!(!link.is_down() && link.ip_up());
    // Without the signs of life it is dead after the configured failures (one request was
    // already outstanding from the last round).
    let mut rounds = 0;
    while let Some(t) = link.poll_timeout() {
        link.handle_timeout(t);
        rounds += 1;
        assert!(rounds <= 10, "the link never gave up");
    }
    assert_eq!(rounds, 4);
    assert!(link.is_down());
    assert!(!link.ip_up(), "no fast path for a dead link");
}

mod remote;

/// A retransmitted Challenge (RFC 1994 §4.1: the same identifier and value, sent because our
/// Response was late) gets the same Response again, so the server's Success, which answers
/// the first one, carries the authenticator response the peer expects (RFC 2759 §5). A fresh
/// Peer-Challenge for the repeat made the peer refuse the server (error 778) under load.
#[test]
fn a_repeated_challenge_gets_the_same_response_and_the_success_verifies() {
    let now = t0();
    let mut link = Link::new(&server_config(), [7; 32], now);
    let mut peer = Peer::new(&PeerConfig::new("User", "clientPass"), [8; 32], now);
    let mut users = Users::with("User", "clientPass");
    let mut challenges = 0;
    pump_with(now, &mut link, &mut peer, &mut users, |f, peer| {
        let (p, payload) = split(f);
        if p == Protocol::Chap && payload.first() == Some(&1) {
            challenges += 1;
            // The retransmission arrives before the peer's first Response reached us.
            let _ = peer.handle_frame(now, f);
        }
    });
    assert_eq!(challenges, 1);
    assert_eq!(peer.down_reason, None);
    assert_eq!(peer.ipcp_state(), State::Opened);
}
