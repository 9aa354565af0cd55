//! End-to-end: the limits a PSK holder meets before and after logging in — login back-off per
//! user and per source address, sessions per user, peers per source address and in total —
//! through `server::Server` and simulated clients. Each refusal reaches the client as what
//! Windows shows (691 for PPP, no IPsec for the peer limits) and the log as one plain line.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use server::Event;
use testkit::{ClientEvent, ClientId, Profile, Stage, World, WorldConfig};

const CONNECT_LIMIT: Duration = Duration::from_secs(120);

#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn world(extra: &str) -> World {
    World::new(
        WorldConfig {
            extra_server_yaml: extra.to_owned(),
            ..WorldConfig::default()
        },
        base(),
    )
    .expect("world config is valid")
}

/// A client on its own public address (no NAT): `n` picks the address.
fn direct(w: &mut World, n: u8, user: &str, password: &str) -> ClientId {
    w.add_client(
        Profile::windows_10(),
        Ipv4Addr::new(192, 0, 2, 10 + n),
        false,
        user,
        password,
    )
}

/// Connects `id` and runs until it is up or down; returns whether it came up.
fn attempt(w: &mut World, id: ClientId) -> bool {
    w.connect(id).unwrap();
    w.run_until(
        |w| w.client(id).is_up() || w.client(id).stage() == Stage::Down,
        CONNECT_LIMIT,
    );
    w.client(id).is_up()
}

fn refusals(w: &World) -> Vec<String> {
    w.events()
        .iter()
        .filter_map(|e| match e {
            Event::Refused { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn got_691(w: &World, id: ClientId) -> bool {
    w.client(id)
        .events()
        .contains(&ClientEvent::AuthFailed { windows_error: 691 })
}

/// Three wrong passwords are typos; the fourth starts a back-off during which even the right
/// password is refused unchecked (Windows 691), for that user from any address. After the
/// wait the right password works.
#[test]
fn failed_logins_back_off_per_user_and_recover() {
    let mut w = world("");
    for n in 0..4 {
        let c = direct(&mut w, n, "bob", "guess");
        assert!(!attempt(&mut w, c));
        assert!(got_691(&w, c), "{:?}", w.client(c).events());
    }
    // The right password, from yet another address, during the back-off.
    let c = direct(&mut w, 10, "bob", "bob-pass");
    assert!(!attempt(&mut w, c), "refused while backing off");
    assert!(got_691(&w, c));
    let all = refusals(&w);
    assert!(
        all.iter()
            .any(|m| m.contains("user bob: too many failed logins, retry in") && m.contains("691")),
        "{all:#?}"
    );
    // Another user is not affected.
    let other = direct(&mut w, 11, "carol", "carol-pass");
    assert!(attempt(&mut w, other), "{:?}", w.client(other).events());
    // After the wait, bob's right password works.
    w.run_for(Duration::from_secs(10));
    let c = direct(&mut w, 12, "bob", "bob-pass");
    assert!(attempt(&mut w, c), "{:?}", w.client(c).events());
}

/// Guessing from one address slows down every name tried from it, known or not, so the
/// back-off says nothing about which names exist.
#[test]
fn failed_logins_back_off_per_source_for_unknown_names_too() {
    let mut w = world("");
    // Every client behind the NAT shares its public address.
    let behind = |w: &mut World, n: u8, user: &str, password: &str| {
        w.add_client(
            Profile::windows_10(),
            Ipv4Addr::new(192, 168, 1, 10 + n),
            true,
            user,
            password,
        )
    };
    for (n, user) in ["nobody1", "nobody2", "nobody3", "nobody4"]
        .iter()
        .enumerate()
    {
        let c = behind(&mut w, u8::try_from(n).unwrap(), user, "x");
        assert!(!attempt(&mut w, c));
        assert!(got_691(&w, c), "{user}: {:?}", w.client(c).events());
    }
    let all = refusals(&w);
    assert!(all.iter().any(|m| m.contains("unknown user")), "{all:#?}");
    // alice's right password from the same public address waits too.
    let c = behind(&mut w, 9, "alice", "alice-pass");
    assert!(!attempt(&mut w, c));
    assert!(got_691(&w, c));
    // From another address alice is fine.
    let c = direct(&mut w, 2, "alice", "alice-pass");
    assert!(attempt(&mut w, c), "{:?}", w.client(c).events());
}

#[test]
fn sessions_per_user_is_enforced() {
    let mut w = world("limits:\n  sessions_per_user: 1\n");
    let first = direct(&mut w, 1, "alice", "alice-pass");
    assert!(attempt(&mut w, first));
    let second = direct(&mut w, 2, "alice", "alice-pass");
    assert!(!attempt(&mut w, second));
    assert!(got_691(&w, second));
    let all = refusals(&w);
    assert!(
        all.iter()
            .any(|m| m.contains("user alice: already has 1 session (the user's max_sessions, else limits.sessions_per_user)")),
        "{all:#?}"
    );
    assert!(w.client(first).is_up(), "the first session is untouched");
    assert_eq!(w.snapshot().sessions.len(), 1);
}

/// `max_sessions` in users.yaml replaces `limits.sessions_per_user` for that user: alice
/// (`max_sessions: 1`) gets one session although the global limit is 3; bob (`0`: no limit)
/// gets four; carol keeps the global 3.
#[test]
fn a_users_max_sessions_replaces_the_global_limit() {
    let mut w = World::new(
        WorldConfig {
            extra_server_yaml: "limits:\n  sessions_per_user: 3\n".to_owned(),
            users_yaml:
                "users:\n  - name: alice\n    password: alice-pass\n    max_sessions: 1\n  \
                         - name: bob\n    password: bob-pass\n    max_sessions: 0\n  \
                         - name: carol\n    password: carol-pass\n"
                    .to_owned(),
            ..WorldConfig::default()
        },
        base(),
    )
    .expect("world config is valid");
    let first = direct(&mut w, 1, "alice", "alice-pass");
    assert!(attempt(&mut w, first));
    let second = direct(&mut w, 2, "alice", "alice-pass");
    assert!(!attempt(&mut w, second));
    assert!(got_691(&w, second));
    assert!(
        refusals(&w)
            .iter()
            .any(|m| m.contains("user alice: already has 1 session (the user's max_sessions")),
        "{:#?}",
        refusals(&w)
    );
    for n in 3..7 {
        let c = direct(&mut w, n, "bob", "bob-pass");
        assert!(attempt(&mut w, c), "bob's session from address {n}");
    }
    for n in 7..10 {
        let c = direct(&mut w, n, "carol", "carol-pass");
        assert!(attempt(&mut w, c), "carol's session from address {n}");
    }
    let fourth = direct(&mut w, 10, "carol", "carol-pass");
    assert!(!attempt(&mut w, fourth), "carol is held to the global 3");
    let snap = w.snapshot();
    let count = |u: &str| snap.sessions.iter().filter(|s| s.user == u).count();
    assert_eq!((count("alice"), count("bob"), count("carol")), (1, 4, 3));
}

/// RADIUS Port-Limit (RFC 2865 §5.42) in an Access-Accept caps the user's sessions like
/// `max_sessions`: alice's second login, accepted by the verifier with Port-Limit 1, is refused
/// with 691 and a plain log line; with Port-Limit 2 it succeeds, and 0 means no limit.
#[test]
fn a_verdicts_port_limit_caps_the_users_sessions() {
    let mut w = world("ppp:\n  auth: [chap]\n");
    w.server_mut().set_remote_auth(true);
    let first = remote(&mut w, 1, "alice");
    assert!(remote_attempt(&mut w, first, Some(1)));
    let second = remote(&mut w, 2, "alice");
    assert!(!remote_attempt(&mut w, second, Some(1)));
    assert!(got_691(&w, second), "{:?}", w.client(second).events());
    assert!(
        refusals(&w)
            .iter()
            .any(|m| m.contains("user alice: already has 1 session (the RADIUS Port-Limit)")),
        "{:#?}",
        refusals(&w)
    );
    assert!(w.client(first).is_up(), "the first session is untouched");
    let third = remote(&mut w, 3, "alice");
    assert!(remote_attempt(&mut w, third, Some(2)));
    let fourth = remote(&mut w, 4, "alice");
    assert!(!remote_attempt(&mut w, fourth, Some(2)));
    let fifth = remote(&mut w, 5, "alice");
    assert!(
        remote_attempt(&mut w, fifth, None),
        "no Port-Limit: no limit"
    );
    // Bob's count is his own.
    let bob = remote(&mut w, 6, "bob");
    assert!(remote_attempt(&mut w, bob, Some(1)));
    let snap = w.snapshot();
    let count = |u: &str| snap.sessions.iter().filter(|s| s.user == u).count();
    assert_eq!((count("alice"), count("bob")), (3, 1));
}

/// A CHAP client on its own public address, for logins a remote verifier decides.
fn remote(w: &mut World, n: u8, user: &str) -> ClientId {
    let mut profile = Profile::windows_10();
    profile.auth_protocols = vec![ppp::AuthProtocol::Chap];
    w.add_client(profile, Ipv4Addr::new(192, 0, 2, 10 + n), false, user, "pw")
}

/// Connects `id`, accepts its login (with `port_limit`) as a remote verifier would, and runs
/// until it is up or down; returns whether it came up.
fn remote_attempt(w: &mut World, id: ClientId, port_limit: Option<u32>) -> bool {
    let asked = |w: &World| {
        w.events()
            .iter()
            .filter(|e| matches!(e, Event::AuthRequest { .. }))
            .count()
    };
    let before = asked(w);
    w.connect(id).unwrap();
    assert!(
        w.run_until(|w| asked(w) > before, CONNECT_LIMIT),
        "{:#?}",
        w.events()
    );
    let (session, ticket) = w
        .events()
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::AuthRequest {
                session, ticket, ..
            } => Some((*session, *ticket)),
            _ => None,
        })
        .expect("an AuthRequest");
    let mut accept = ppp::Accept::new();
    if let Some(limit) = port_limit {
        accept = accept.with_port_limit(limit);
    }
    let now = w.now();
    assert!(
        w.server_mut()
            .auth_verdict(now, session, ticket, ppp::AuthVerdict::Accept(accept))
    );
    w.run_until(
        |w| w.client(id).is_up() || w.client(id).stage() == Stage::Down,
        CONNECT_LIMIT,
    );
    w.client(id).is_up()
}

/// `limits.peers_per_source_ip`: a second client behind the same public address gets no
/// IPsec (Windows shows 809); the first one keeps working.
#[test]
fn peers_per_source_ip_is_enforced() {
    let mut w = world("limits:\n  peers_per_source_ip: 1\n");
    let a = w.add_client(
        Profile::windows_10(),
        Ipv4Addr::new(192, 168, 1, 10),
        true,
        "alice",
        "alice-pass",
    );
    assert!(attempt(&mut w, a));
    let b = w.add_client(
        Profile::windows_10(),
        Ipv4Addr::new(192, 168, 1, 11),
        true,
        "bob",
        "bob-pass",
    );
    w.connect(b).unwrap();
    w.run_for(Duration::from_secs(30));
    assert!(!w.client(b).is_up());
    let all = refusals(&w);
    assert!(
        all.iter()
            .any(|m| m.contains("too many clients behind this address")
                && m.contains("limits.peers_per_source_ip")),
        "{all:#?}"
    );
    assert!(w.client(a).is_up());
    assert_eq!(w.snapshot().sessions.len(), 1);
}

#[test]
fn max_peers_is_enforced() {
    let mut w = world("limits:\n  max_peers: 1\n");
    let a = direct(&mut w, 1, "alice", "alice-pass");
    assert!(attempt(&mut w, a));
    let b = direct(&mut w, 2, "bob", "bob-pass");
    w.connect(b).unwrap();
    w.run_for(Duration::from_secs(30));
    assert!(!w.client(b).is_up());
    let all = refusals(&w);
    assert!(
        all.iter()
            .any(|m| m.contains("server full") && m.contains("limits.max_peers")),
        "{all:#?}"
    );
    assert!(w.client(a).is_up());
}

/// A user name chosen by the client cannot forge a log line or drive a terminal: the refusal
/// names it escaped.
#[test]
fn user_names_in_refusals_are_escaped() {
    let mut w = world("");
    let c = direct(
        &mut w,
        1,
        "mallory\n2026-12-02 INFO admin logged in\u{1b}[2J",
        "x",
    );
    assert!(!attempt(&mut w, c));
    let all = refusals(&w);
    let m = all.first().expect("a refusal");
    assert!(!m.contains('\n') && !m.contains('\u{1b}'), "{m:?}");
    assert!(
        m.contains(r"mallory\n2026-12-02 INFO admin logged in\u{1b}[2J"),
        "{m:?}"
    );
}
