//! Per-user policy end to end: session and idle timeouts from the `ppp:` defaults and from
//! users.yaml, enforced by `server::Server` in virtual time.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use server::Event;
use testkit::{ClientId, Profile, Stage, World, WorldConfig};

const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 5);

/// The test's time origin; the world only moves it forward virtually.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn world(extra_server_yaml: &str, users_yaml: Option<&str>) -> World {
    let mut config = WorldConfig {
        extra_server_yaml: extra_server_yaml.to_owned(),
        ..WorldConfig::default()
    };
    if let Some(u) = users_yaml {
        config.users_yaml = u.to_owned();
    }
    World::new(config, base()).expect("world config is valid")
}

/// Adds and connects `user` (password `<user>-pass`); returns the client and when it came up.
fn connect(w: &mut World, user: &str, last_octet: u8) -> (ClientId, Instant) {
    let id = w.add_client(
        Profile::windows_10(),
        Ipv4Addr::new(192, 168, 1, last_octet),
        true,
        user,
        &format!("{user}-pass"),
    );
    w.connect(id).unwrap();
    let up = w.run_until(|w| w.client(id).is_up(), Duration::from_secs(120));
    assert!(up, "{user} did not come up: {:#?}", w.events());
    (id, w.now())
}

/// The reason the server gave when `user`'s session went down, if it did.
fn down_reason(w: &World, user: &str) -> Option<String> {
    w.events().iter().find_map(|e| match e {
        Event::SessionDown {
            user: Some(u),
            reason,
            ..
        } if u == user => Some(reason.clone()),
        _ => None,
    })
}

/// The reason is the L2TP goodbye's (CDN) ending with ours, as for an administrator's kick.
fn assert_ends(reason: Option<String>, tail: &str) {
    assert!(
        reason.as_deref().is_some_and(|r| r.ends_with(tail)),
        "{reason:?} does not end with {tail:?}"
    );
}

/// The limits `status` shows for `user`.
fn limits(w: &World, user: &str) -> Option<(Option<u64>, Option<u64>)> {
    w.snapshot()
        .sessions
        .iter()
        .find(|s| s.user == user)
        .map(|s| (s.session_timeout_secs, s.idle_timeout_secs))
}

fn run_to(w: &mut World, at: Instant) {
    let d = at.saturating_duration_since(w.now());
    w.run_for(d);
}

#[test]
fn session_timeout_ends_the_session_on_time_and_not_before() {
    let mut w = world("ppp:\n  session_timeout_secs: 120\n", None);
    let (a, up) = connect(&mut w, "alice", 10);
    assert_eq!(limits(&w, "alice"), Some((Some(120), None)));
    // Traffic does not extend a session timeout.
    w.ping(a, LAN_HOST, 1).unwrap();
    run_to(&mut w, up + Duration::from_secs(119));
    assert!(w.client(a).is_up(), "{:#?}", w.events());
    assert_eq!(down_reason(&w, "alice"), None);
    let gone = w.run_until(
        |w| w.client(a).stage() == Stage::Down,
        Duration::from_secs(10),
    );
    assert!(gone, "{:#?}", w.events());
    assert_ends(down_reason(&w, "alice"), ": session timeout (120 s)");
    assert!(w.snapshot().sessions.is_empty(), "{:#?}", w.snapshot());
}

#[test]
fn idle_session_ends_while_a_pinging_one_stays_up() {
    let mut w = world("ppp:\n  idle_timeout_secs: 60\n", None);
    let (a, up) = connect(&mut w, "alice", 10);
    let (b, _) = connect(&mut w, "bob", 11);
    assert_eq!(limits(&w, "alice"), Some((None, Some(60))));
    // Bob pings every 10 s for 3 minutes; alice sends nothing (LCP echoes go on for both).
    for seq in 1..=18u16 {
        w.ping(b, LAN_HOST, seq).unwrap();
        w.run_for(Duration::from_secs(10));
        let since = w.now().saturating_duration_since(up);
        if since < Duration::from_secs(59) {
            assert!(w.client(a).is_up(), "alice ended early at {since:?}");
        }
    }
    assert_eq!(w.client(a).stage(), Stage::Down, "{:#?}", w.events());
    assert_ends(down_reason(&w, "alice"), ": idle for 60 s");
    assert!(w.client(b).is_up(), "{:#?}", w.events());
    assert_eq!(down_reason(&w, "bob"), None);
    assert_eq!(limits(&w, "bob"), Some((None, Some(60))));
}

#[test]
fn users_yaml_overrides_the_default() {
    let users = "\
users:
  - name: alice
    password: alice-pass
    session_timeout_secs: 90
  - name: bob
    password: bob-pass
    session_timeout_secs: 0
  - name: carol
    password: carol-pass
";
    let mut w = world("ppp:\n  session_timeout_secs: 600\n", Some(users));
    let (a, up) = connect(&mut w, "alice", 10);
    let (b, _) = connect(&mut w, "bob", 11);
    let (c, _) = connect(&mut w, "carol", 12);
    assert_eq!(limits(&w, "alice"), Some((Some(90), None)));
    assert_eq!(limits(&w, "bob"), Some((None, None)), "0: no limit");
    assert_eq!(limits(&w, "carol"), Some((Some(600), None)), "the default");
    run_to(&mut w, up + Duration::from_secs(89));
    assert!(w.client(a).is_up());
    w.run_for(Duration::from_secs(10));
    assert_eq!(w.client(a).stage(), Stage::Down, "{:#?}", w.events());
    assert_ends(down_reason(&w, "alice"), ": session timeout (90 s)");
    assert!(w.client(b).is_up() && w.client(c).is_up());
}

/// The session's ID as `status` shows it.
fn session_id(w: &World, user: &str) -> server::SessionId {
    w.snapshot()
        .sessions
        .iter()
        .find(|s| s.user == user)
        .and_then(|s| s.session_id.parse().ok())
        .expect("the session is listed with its ID")
}

#[test]
fn a_shortened_session_timeout_ends_the_session_counted_from_the_change() {
    let mut w = world("ppp:\n  session_timeout_secs: 3600\n", None);
    let (a, up) = connect(&mut w, "alice", 10);
    let (b, _) = connect(&mut w, "bob", 11);
    run_to(&mut w, up + Duration::from_secs(100));
    let id = session_id(&w, "alice");
    let changed_at = w.now();
    assert!(w.server_mut().set_session_limits(
        changed_at,
        id,
        Some(Some(Duration::from_secs(30))),
        None
    ));
    assert_eq!(limits(&w, "alice"), Some((Some(30), None)));
    assert_eq!(limits(&w, "bob"), Some((Some(3600), None)), "only alice");
    run_to(&mut w, changed_at + Duration::from_secs(29));
    assert!(w.client(a).is_up(), "{:#?}", w.events());
    let gone = w.run_until(
        |w| w.client(a).stage() == Stage::Down,
        Duration::from_secs(10),
    );
    assert!(gone, "{:#?}", w.events());
    assert_ends(down_reason(&w, "alice"), ": session timeout (30 s)");
    assert!(w.client(b).is_up());

    // Lifting bob's limit and setting an idle one; a session that is gone is refused.
    let bob = session_id(&w, "bob");
    let now = w.now();
    assert!(w.server_mut().set_session_limits(
        now,
        bob,
        Some(None),
        Some(Some(Duration::from_secs(600)))
    ));
    assert_eq!(limits(&w, "bob"), Some((None, Some(600))));
    assert!(!w.server_mut().set_session_limits(now, id, Some(None), None));
}
