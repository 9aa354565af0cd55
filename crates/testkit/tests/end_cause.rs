//! Why sessions end, as `server::EndCause` (the source of Acct-Terminate-Cause): each way a
//! session can end, in virtual time, gives its cause beside the plain-words reason.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use server::{EndCause, Event, KickTarget};
use testkit::{ClientId, Profile, World, WorldConfig};

/// The test's time origin; the world only moves it forward virtually.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn world(extra_server_yaml: &str) -> World {
    let config = WorldConfig {
        extra_server_yaml: extra_server_yaml.to_owned(),
        ..WorldConfig::default()
    };
    World::new(config, base()).expect("world config is valid")
}

fn connect(w: &mut World, user: &str, last_octet: u8) -> ClientId {
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
    id
}

/// The causes of `user`'s SessionDown events.
fn causes(w: &World, user: &str) -> Vec<EndCause> {
    w.events()
        .iter()
        .filter_map(|e| match e {
            Event::SessionDown {
                user: Some(u),
                cause,
                ..
            } if u == user => Some(*cause),
            _ => None,
        })
        .collect()
}

fn ended_with(w: &mut World, user: &str, want: EndCause, within: Duration) {
    let gone = w.run_until(|w| !causes(w, user).is_empty(), within);
    assert!(gone, "{user}'s session did not end: {:#?}", w.events());
    assert_eq!(causes(w, user), [want], "{:#?}", w.events());
}

#[test]
fn client_hang_up_is_a_client_request() {
    let mut w = world("");
    let a = connect(&mut w, "alice", 10);
    let now = w.now();
    w.client_mut(a).disconnect(now);
    ended_with(
        &mut w,
        "alice",
        EndCause::ClientRequest,
        Duration::from_secs(10),
    );
}

#[test]
fn kick_by_user_address_or_session_is_an_admin_reset() {
    let mut w = world("");
    connect(&mut w, "alice", 10);
    connect(&mut w, "bob", 11);
    connect(&mut w, "carol", 12);
    assert_eq!(w.kick(&KickTarget::User("alice".into())).len(), 1);
    ended_with(
        &mut w,
        "alice",
        EndCause::AdminReset,
        Duration::from_secs(10),
    );
    let bob_ip = w
        .snapshot()
        .sessions
        .iter()
        .find(|s| s.user == "bob")
        .and_then(|s| s.assigned_ip)
        .unwrap();
    assert_eq!(w.kick(&KickTarget::Address(bob_ip.into())).len(), 1);
    ended_with(&mut w, "bob", EndCause::AdminReset, Duration::from_secs(10));
    // By session ID, as a Disconnect-Request names it.
    let carol = w
        .snapshot()
        .sessions
        .iter()
        .find(|s| s.user == "carol")
        .map(|s| s.session_id.parse().unwrap())
        .unwrap();
    assert_eq!(w.kick(&KickTarget::Session(carol)).len(), 1);
    ended_with(
        &mut w,
        "carol",
        EndCause::AdminReset,
        Duration::from_secs(10),
    );
}

#[test]
fn user_removed_on_reload_is_an_admin_reset() {
    let mut w = world("");
    connect(&mut w, "alice", 10);
    let b = connect(&mut w, "bob", 11);
    w.reload_users("users:\n  - name: bob\n    password: bob-pass\n")
        .unwrap();
    ended_with(
        &mut w,
        "alice",
        EndCause::AdminReset,
        Duration::from_secs(10),
    );
    assert!(w.client(b).is_up());
}

#[test]
fn shutdown_is_a_shutdown() {
    let mut w = world("");
    connect(&mut w, "alice", 10);
    let now = w.now();
    w.server_mut().shutdown(now);
    ended_with(&mut w, "alice", EndCause::Shutdown, Duration::from_secs(5));
}

#[test]
fn session_and_idle_timeouts() {
    let mut w = world("ppp:\n  session_timeout_secs: 120\n");
    connect(&mut w, "alice", 10);
    ended_with(
        &mut w,
        "alice",
        EndCause::SessionTimeout,
        Duration::from_secs(130),
    );

    let mut w = world("ppp:\n  idle_timeout_secs: 60\n");
    connect(&mut w, "alice", 10);
    ended_with(
        &mut w,
        "alice",
        EndCause::IdleTimeout,
        Duration::from_secs(90),
    );
}

/// A client that vanishes (every packet lost both ways) is found by LCP echoes, L2TP
/// retransmissions or dead peer detection, whichever comes first: all mean lost carrier.
#[test]
fn vanished_client_is_a_lost_carrier() {
    let mut w = world("");
    connect(&mut w, "alice", 10);
    w.set_drop_filter(Some(Box::new(|_, _| true)));
    ended_with(
        &mut w,
        "alice",
        EndCause::LostCarrier,
        Duration::from_secs(600),
    );
}
