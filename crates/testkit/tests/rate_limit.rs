//! Per-session rate limits end to end, in virtual time: a client offers a constant stream above
//! its limit for ten seconds each way through `server::Server` (ESP, L2TP, PPP, the data
//! plane's policer) and what arrives is within 15 % of the limit; a user without a limit is
//! not slowed; a remote verifier's limits win over users.yaml; `Server::set_rate_limit`
//! changes them in force, and so does a users reload for limits that came from users.yaml.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::num::NonZeroU64;
use std::time::Duration;

use ppp::{AuthProtocol, AuthResponse, AuthVerdict, RateLimit};
use server::Event;
mod common;

use common::{CONNECT_LIMIT, connect, wait_up, world};
use testkit::{ClientId, World, packet};

const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 5);
/// The IPv4 packet size of the streams.
const PACKET: usize = 1000;
/// How long each stream runs.
const RUN: Duration = Duration::from_secs(10);

const USERS: &str = "\
users:
  - name: alice
    password: alice-pass
    rate_limit: { up: 2M, down: 4M }
  - name: bob
    password: bob-pass
";

fn address(w: &World, user: &str) -> Ipv4Addr {
    w.snapshot()
        .sessions
        .iter()
        .find(|s| s.user == user)
        .and_then(|s| s.assigned_ip)
        .expect("the session has an address")
}

/// The limits `status` shows for `user`, in bits per second.
fn shown(w: &World, user: &str) -> (Option<u64>, Option<u64>) {
    let row = w.snapshot().sessions.into_iter().find(|s| s.user == user);
    let row = row.expect("the user's session");
    (row.rate_limit_up_bps, row.rate_limit_down_bps)
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let payload = vec![0x5a; PACKET - 28];
    packet::udp_packet(
        SocketAddrV4::new(src, 40000),
        SocketAddrV4::new(dst, 9),
        &payload,
    )
}

/// `offered` bits per second of UDP from the client to the LAN for [`RUN`]; returns the bits
/// per second the LAN got.
fn upload(w: &mut World, id: ClientId, user: &str, offered: u64) -> u64 {
    let src = address(w, user);
    let p = udp(src, LAN_HOST);
    w.take_lan();
    stream(w, offered, |w| w.send_ip(id, &p).unwrap());
    let got: usize = w
        .take_lan()
        .iter()
        .filter(|p| packet::addresses(p) == Some((src, LAN_HOST)))
        .map(Vec::len)
        .sum();
    got as u64 * 8 / RUN.as_secs()
}

/// `offered` bits per second of UDP from the LAN to the client for [`RUN`]; returns the bits
/// per second the client got.
fn download(w: &mut World, id: ClientId, user: &str, offered: u64) -> u64 {
    let dst = address(w, user);
    let p = udp(LAN_HOST, dst);
    while w.client_mut(id).poll_ip().is_some() {}
    stream(w, offered, |w| w.lan_send(&p));
    let mut got = 0usize;
    while let Some(p) = w.client_mut(id).poll_ip() {
        if packet::addresses(&p) == Some((LAN_HOST, dst)) {
            got += p.len();
        }
    }
    got as u64 * 8 / RUN.as_secs()
}

/// Calls `send` for one packet every `PACKET × 8 / offered` seconds for [`RUN`], then lets the
/// last packets arrive.
fn stream(w: &mut World, offered: u64, mut send: impl FnMut(&mut World)) {
    let gap = Duration::from_nanos(PACKET as u64 * 8 * 1_000_000_000 / offered);
    let end = w.now() + RUN;
    while w.now() < end {
        send(w);
        w.run_for(gap);
    }
    w.run_for(Duration::from_secs(1));
}

fn assert_near(got: u64, limit: u64, what: &str) {
    let ratio = got as f64 / limit as f64;
    println!("{what}: {got} bit/s delivered, limit {limit} ({ratio:.3})");
    assert!(
        (0.85..=1.15).contains(&ratio),
        "{what}: {got} bit/s delivered for a limit of {limit} ({ratio:.3})"
    );
}

fn policed(w: &World, user: &str) -> (u64, u64) {
    let row = w.snapshot().sessions.into_iter().find(|s| s.user == user);
    let row = row.expect("the user's session");
    (row.policed_in, row.policed_out)
}

#[test]
fn a_limited_user_gets_its_rate_each_way_and_an_unlimited_one_all() {
    let mut w = world("", USERS);
    let a = connect(&mut w, "alice", 10, None);
    let b = connect(&mut w, "bob", 11, None);
    wait_up(&mut w, a);
    wait_up(&mut w, b);
    assert_eq!(shown(&w, "alice"), (Some(2_000_000), Some(4_000_000)));
    assert_eq!(shown(&w, "bob"), (None, None));

    let up = upload(&mut w, a, "alice", 6_000_000);
    assert_near(up, 2_000_000, "alice up");
    let down = download(&mut w, a, "alice", 12_000_000);
    assert_near(down, 4_000_000, "alice down");
    let (pin, pout) = policed(&w, "alice");
    assert!(pin > 0 && pout > 0, "drops are counted: {pin} {pout}");

    // Bob has no limit: all of the same streams arrive.
    let up = upload(&mut w, b, "bob", 6_000_000);
    assert_near(up, 6_000_000, "bob up");
    let down = download(&mut w, b, "bob", 12_000_000);
    assert_near(down, 12_000_000, "bob down");
    assert_eq!(policed(&w, "bob"), (0, 0));
    assert!(w.server().data_plane().stats().policed >= pin + pout);
}

#[test]
fn the_ppp_default_applies_and_an_empty_user_entry_lifts_it() {
    let users = "\
users:
  - name: alice
    password: alice-pass
  - name: bob
    password: bob-pass
    rate_limit: {}
";
    let mut w = world("ppp:\n  rate_limit: { down: 1M }\n", users);
    let a = connect(&mut w, "alice", 10, None);
    let b = connect(&mut w, "bob", 11, None);
    wait_up(&mut w, a);
    wait_up(&mut w, b);
    assert_eq!(shown(&w, "alice"), (None, Some(1_000_000)));
    assert_eq!(shown(&w, "bob"), (None, None));
    let down = download(&mut w, a, "alice", 3_000_000);
    assert_near(down, 1_000_000, "alice down");
}

#[test]
fn set_rate_limit_changes_the_limit_in_force() {
    let mut w = world("", USERS);
    let a = connect(&mut w, "alice", 10, None);
    wait_up(&mut w, a);
    let id = w
        .events()
        .iter()
        .find_map(|e| match e {
            Event::SessionUp { session, .. } => Some(*session),
            _ => None,
        })
        .expect("SessionUp");
    let now = w.now();
    let limit = config::RateLimit {
        up: None,
        down: NonZeroU64::new(8_000_000),
    };
    assert!(w.server_mut().set_rate_limit(now, id, Some(limit)));
    assert_eq!(shown(&w, "alice"), (None, Some(8_000_000)));
    let down = download(&mut w, a, "alice", 16_000_000);
    assert_near(down, 8_000_000, "alice down after the change");
    let now = w.now();
    assert!(w.server_mut().set_rate_limit(now, id, None));
    assert_eq!(shown(&w, "alice"), (None, None));
    let up = upload(&mut w, a, "alice", 6_000_000);
    assert_near(up, 6_000_000, "alice up without a limit");
}

/// A remote verifier's limits (RADIUS Mikrotik-Rate-Limit, WISPr-Bandwidth-Max-*) win over
/// the user's users.yaml entry.
#[test]
fn the_verdicts_rate_limit_wins_over_users_yaml() {
    let mut w = world("ppp:\n  auth: [chap]\n", USERS);
    w.server_mut().set_remote_auth(true);
    let a = connect(&mut w, "alice", 10, Some(AuthProtocol::Chap));
    let asked = w.run_until(
        |w| {
            w.events()
                .iter()
                .any(|e| matches!(e, Event::AuthRequest { .. }))
        },
        CONNECT_LIMIT,
    );
    assert!(asked, "{:#?}", w.events());
    let (session, ticket, request) = w
        .events()
        .iter()
        .find_map(|e| match e {
            Event::AuthRequest {
                session,
                ticket,
                request,
                ..
            } => Some((*session, *ticket, (**request).clone())),
            _ => None,
        })
        .expect("an AuthRequest");
    let AuthResponse::Chap {
        challenge,
        response,
    } = &request.response
    else {
        panic!("CHAP was asked for: {:?}", request.response);
    };
    let right = crypto::chap::md5_response(request.identifier, b"alice-pass", challenge);
    assert_eq!(right, **response);
    let accept = ppp::Accept::new().with_rate_limit(RateLimit {
        up: NonZeroU64::new(1_000_000),
        down: None,
    });
    let now = w.now();
    assert!(
        w.server_mut()
            .auth_verdict(now, session, ticket, AuthVerdict::Accept(accept))
    );
    wait_up(&mut w, a);
    assert_eq!(shown(&w, "alice"), (Some(1_000_000), None));
    let up = upload(&mut w, a, "alice", 3_000_000);
    assert_near(up, 1_000_000, "alice up (the verdict's limit)");
    let down = download(&mut w, a, "alice", 6_000_000);
    assert_near(down, 6_000_000, "alice down (the verdict left it open)");
}

/// A users reload changes the rate limits of sessions up whose limits came from users.yaml
/// (or the `ppp:` default it now falls back to); a limit set by `Server::set_rate_limit` (a
/// CoA-Request) stays.
#[test]
fn a_users_reload_changes_the_limits_of_sessions_up() {
    let mut w = world("ppp:\n  rate_limit: { down: 3M }\n", USERS);
    let a = connect(&mut w, "alice", 10, None);
    let b = connect(&mut w, "bob", 11, None);
    wait_up(&mut w, a);
    wait_up(&mut w, b);
    assert_eq!(shown(&w, "alice"), (Some(2_000_000), Some(4_000_000)));
    assert_eq!(shown(&w, "bob"), (None, Some(3_000_000)));
    let bob_session = w
        .events()
        .iter()
        .find_map(|e| match e {
            Event::SessionUp { session, user, .. } if user == "bob" => Some(*session),
            _ => None,
        })
        .expect("bob's SessionUp");
    let now = w.now();
    let coa = config::RateLimit {
        up: NonZeroU64::new(5_000_000),
        down: None,
    };
    assert!(w.server_mut().set_rate_limit(now, bob_session, Some(coa)));

    // Alice's entry now limits only her download, to 1M; bob's entry gains a limit, but his
    // came from a CoA-Request.
    w.reload_users(
        "users:\n  - name: alice\n    password: alice-pass\n    rate_limit: { down: 1M }\n  \
         - name: bob\n    password: bob-pass\n    rate_limit: { up: 1M }\n",
    )
    .unwrap();
    assert_eq!(shown(&w, "alice"), (None, Some(1_000_000)));
    assert_eq!(shown(&w, "bob"), (Some(5_000_000), None));
    let down = download(&mut w, a, "alice", 3_000_000);
    assert_near(down, 1_000_000, "alice down after the reload");
    let up = upload(&mut w, a, "alice", 6_000_000);
    assert_near(up, 6_000_000, "alice up after the reload lifted it");

    // Alice's entry loses its limit: the `ppp:` default applies again.
    w.reload_users(
        "users:\n  - name: alice\n    password: alice-pass\n  - name: bob\n    password: bob-pass\n",
    )
    .unwrap();
    assert_eq!(shown(&w, "alice"), (None, Some(3_000_000)));
    assert!(
        w.client(a).is_up() && w.client(b).is_up(),
        "nobody was disconnected"
    );
}
