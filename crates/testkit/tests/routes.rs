//! Networks behind a client (users.yaml `routes`, RADIUS Framed-Route) end to end: the LAN
//! reaches an address of a client's routed network through `server::Server`, the client may
//! send from that network and no other client may, a second session claiming an overlapping
//! network does not get it, a users reload moves networks between sessions already up, and
//! the network goes with the session.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use ipnetwork::Ipv4Network;
use ppp::{AuthProtocol, AuthResponse, AuthVerdict, FramedRoute};
use server::{Event, KickTarget};
mod common;

use common::{CONNECT_LIMIT, connect, wait_up, world};
use testkit::{ClientId, World, packet};

const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 5);
/// An address of the network behind alice's client.
const BRANCH_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 7);

const USERS: &str = "\
users:
  - name: alice
    password: alice-pass
    routes: [192.168.50.0/24]
  - name: bob
    password: bob-pass
";

fn net(s: &str) -> Ipv4Network {
    s.parse().unwrap()
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    packet::udp_packet(
        SocketAddrV4::new(src, 40000),
        SocketAddrV4::new(dst, 9),
        b"branch office",
    )
}

/// Whether a packet the LAN sends to `dst` reaches client `id`.
fn lan_reaches(w: &mut World, id: ClientId, dst: Ipv4Addr) -> bool {
    while w.client_mut(id).poll_ip().is_some() {}
    w.lan_send(&udp(LAN_HOST, dst));
    w.run_for(Duration::from_millis(200));
    let mut got = false;
    while let Some(p) = w.client_mut(id).poll_ip() {
        got |= packet::addresses(&p) == Some((LAN_HOST, dst));
    }
    got
}

/// Whether a packet client `id` sends from `src` reaches the LAN.
fn reaches_lan(w: &mut World, id: ClientId, src: Ipv4Addr) -> bool {
    w.take_lan();
    w.send_ip(id, &udp(src, LAN_HOST)).unwrap();
    w.run_for(Duration::from_millis(200));
    w.take_lan()
        .iter()
        .any(|p| packet::addresses(p) == Some((src, LAN_HOST)))
}

fn up_routes(w: &World, user: &str) -> Vec<Ipv4Network> {
    w.events()
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::SessionUp {
                user: u, routes, ..
            } if u == user => Some(routes.clone()),
            _ => None,
        })
        .expect("the user's SessionUp")
}

#[test]
fn a_users_yaml_route_carries_the_branch_network_both_ways_while_the_session_is_up() {
    let mut w = world("", USERS);
    let a = connect(&mut w, "alice", 10, None);
    let b = connect(&mut w, "bob", 11, None);
    wait_up(&mut w, a);
    wait_up(&mut w, b);
    assert_eq!(up_routes(&w, "alice"), vec![net("192.168.50.0/24")]);
    assert_eq!(up_routes(&w, "bob"), vec![]);
    assert_eq!(routes_shown(&w, "alice"), ["192.168.50.0/24"]);
    assert!(routes_shown(&w, "bob").is_empty());

    assert!(lan_reaches(&mut w, a, BRANCH_HOST), "to the branch network");
    assert!(!lan_reaches(&mut w, b, BRANCH_HOST));
    assert!(!lan_reaches(&mut w, a, Ipv4Addr::new(192, 168, 51, 7)));
    assert!(
        reaches_lan(&mut w, a, BRANCH_HOST),
        "from the branch network"
    );
    // Bob may not send as the branch network: the anti-spoofing check drops it.
    let spoofed = w.server().data_plane().stats().spoofed;
    assert!(!reaches_lan(&mut w, b, Ipv4Addr::new(192, 168, 50, 8)));
    assert_eq!(w.server().data_plane().stats().spoofed, spoofed + 1);

    // The network goes with alice's session.
    let now = w.now();
    assert_eq!(
        w.server_mut()
            .kick(now, &KickTarget::User("alice".into()))
            .len(),
        1
    );
    wait_down_with(&mut w, "alice", &[net("192.168.50.0/24")]);
    assert!(!lan_reaches(&mut w, b, BRANCH_HOST));
    assert!(!lan_reaches(&mut w, a, BRANCH_HOST));
}

/// The networks `status` shows for `user`'s session.
fn routes_shown(w: &World, user: &str) -> Vec<String> {
    w.snapshot()
        .sessions
        .into_iter()
        .find(|s| s.user == user)
        .expect("the user's session")
        .routes
}

/// Runs until `user`'s session is down, its SessionDown listing `routes`.
fn wait_down_with(w: &mut World, user: &str, routes: &[Ipv4Network]) {
    let down = w.run_until(
        |w| {
            w.events().iter().any(|e| {
                matches!(e, Event::SessionDown { user: Some(u), routes: r, .. }
                    if u == user && r == routes)
            })
        },
        Duration::from_secs(30),
    );
    assert!(down, "{:#?}", w.events());
}

fn routes_changed(w: &World, user: &str) -> Vec<(Vec<Ipv4Network>, Vec<Ipv4Network>)> {
    w.events()
        .iter()
        .filter_map(|e| match e {
            Event::RoutesChanged {
                user: u,
                added,
                removed,
                ..
            } if u == user => Some((added.clone(), removed.clone())),
            _ => None,
        })
        .collect()
}

/// A users reload that changes `routes` moves the networks of the sessions already up: alice's
/// network goes to bob in the same reload (what alice loses is released before bob claims),
/// alice gets a new one, and the data plane follows at once.
#[test]
fn a_users_reload_moves_the_networks_of_sessions_already_up() {
    let mut w = world("", USERS);
    let a = connect(&mut w, "alice", 10, None);
    let b = connect(&mut w, "bob", 11, None);
    wait_up(&mut w, a);
    wait_up(&mut w, b);
    assert!(lan_reaches(&mut w, a, BRANCH_HOST));

    let moved = "\
users:
  - name: alice
    password: alice-pass
    routes: [192.168.60.0/24]
  - name: bob
    password: bob-pass
    routes: [192.168.50.0/24]
";
    w.reload_users(moved).unwrap();
    assert_eq!(
        routes_changed(&w, "alice"),
        vec![(vec![net("192.168.60.0/24")], vec![net("192.168.50.0/24")])]
    );
    assert_eq!(
        routes_changed(&w, "bob"),
        vec![(vec![net("192.168.50.0/24")], vec![])]
    );
    assert!(
        lan_reaches(&mut w, b, BRANCH_HOST),
        "bob holds the branch now"
    );
    assert!(!lan_reaches(&mut w, a, BRANCH_HOST));
    assert!(lan_reaches(&mut w, a, Ipv4Addr::new(192, 168, 60, 7)));
    assert!(reaches_lan(&mut w, b, BRANCH_HOST), "bob may send from it");
    let spoofed = w.server().data_plane().stats().spoofed;
    assert!(
        !reaches_lan(&mut w, a, BRANCH_HOST),
        "alice may not any more"
    );
    assert_eq!(w.server().data_plane().stats().spoofed, spoofed + 1);
    assert_eq!(routes_shown(&w, "alice"), ["192.168.60.0/24"]);
    assert_eq!(routes_shown(&w, "bob"), ["192.168.50.0/24"]);

    // The same file again changes nothing. Without bob, his session ends holding the branch
    // network: it goes with his SessionDown, not with a RoutesChanged.
    w.reload_users(moved).unwrap();
    assert_eq!(routes_changed(&w, "alice").len(), 1);
    assert_eq!(routes_changed(&w, "bob").len(), 1);
    let without_bob = "\
users:
  - name: alice
    password: alice-pass
    routes: [192.168.60.0/24]
";
    w.reload_users(without_bob).unwrap();
    wait_down_with(&mut w, "bob", &[net("192.168.50.0/24")]);
    assert_eq!(routes_changed(&w, "bob").len(), 1);
    assert_eq!(routes_changed(&w, "alice").len(), 1);
}

/// A remote verifier's Framed-Route: granted when free, refused (first wins) when another
/// session holds an overlapping network, refused when it names a gateway other than the
/// session's address; a refused network goes to the session once its holder ends.
#[test]
fn framed_routes_are_granted_unless_another_session_holds_the_network() {
    let mut w = world("ppp:\n  auth: [chap]\n", USERS);
    w.server_mut().set_remote_auth(true);
    // alice is checked by the verifier too; it grants her users.yaml's network.
    let a = connect(&mut w, "alice", 10, Some(AuthProtocol::Chap));
    answer(
        &mut w,
        "alice",
        &[FramedRoute {
            network: Ipv4Addr::new(192, 168, 50, 0),
            prefix_len: 24,
            gateway: None,
        }],
    );
    wait_up(&mut w, a);
    assert_eq!(up_routes(&w, "alice"), vec![net("192.168.50.0/24")]);

    let b = connect(&mut w, "bob", 11, Some(AuthProtocol::Chap));
    answer(
        &mut w,
        "bob",
        &[
            // Inside alice's network: refused.
            FramedRoute {
                network: Ipv4Addr::new(192, 168, 50, 128),
                prefix_len: 25,
                gateway: None,
            },
            // A gateway that is not bob's address: refused.
            FramedRoute {
                network: Ipv4Addr::new(172, 17, 0, 0),
                prefix_len: 16,
                gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
            },
            FramedRoute {
                network: Ipv4Addr::new(172, 16, 0, 0),
                prefix_len: 16,
                gateway: None,
            },
        ],
    );
    wait_up(&mut w, b);
    assert_eq!(up_routes(&w, "bob"), vec![net("172.16.0.0/16")]);
    assert!(lan_reaches(&mut w, a, Ipv4Addr::new(192, 168, 50, 200)));
    assert!(!lan_reaches(&mut w, b, Ipv4Addr::new(192, 168, 50, 200)));
    assert!(lan_reaches(&mut w, b, Ipv4Addr::new(172, 16, 9, 9)));
    assert!(!lan_reaches(&mut w, b, Ipv4Addr::new(172, 17, 9, 9)));
    assert!(routes_changed(&w, "bob").is_empty());

    // When alice's session ends, bob gets the network he was refused because she held it
    // (the gateway he named is still not his address).
    let now = w.now();
    assert_eq!(
        w.server_mut()
            .kick(now, &KickTarget::User("alice".into()))
            .len(),
        1
    );
    let handed = w.run_until(
        |w| !routes_changed(w, "bob").is_empty(),
        Duration::from_secs(30),
    );
    assert!(handed, "{:#?}", w.events());
    assert_eq!(
        routes_changed(&w, "bob"),
        vec![(vec![net("192.168.50.128/25")], vec![])]
    );
    let down_at = w
        .events()
        .iter()
        .position(|e| matches!(e, Event::SessionDown { user: Some(u), .. } if u == "alice"));
    let handed_at = w
        .events()
        .iter()
        .position(|e| matches!(e, Event::RoutesChanged { user, .. } if user == "bob"));
    assert!(
        down_at < handed_at,
        "the old holder's SessionDown (its kernel route removed) comes first: {:#?}",
        w.events()
    );
    assert!(lan_reaches(&mut w, b, Ipv4Addr::new(192, 168, 50, 200)));
    assert!(!lan_reaches(&mut w, b, Ipv4Addr::new(192, 168, 50, 7)));
    assert_eq!(
        routes_shown(&w, "bob"),
        ["192.168.50.128/25", "172.16.0.0/16"]
    );
}

/// Answers the pending CHAP login of `user` with an Accept carrying `routes`.
fn answer(w: &mut World, user: &str, routes: &[FramedRoute]) {
    let asked = w.run_until(
        |w| {
            w.events()
                .iter()
                .any(|e| matches!(e, Event::AuthRequest { request, .. } if request.user == user))
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
            } if request.user == user => Some((*session, *ticket, (**request).clone())),
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
    let password = format!("{user}-pass");
    let right = crypto::chap::md5_response(request.identifier, password.as_bytes(), challenge);
    assert_eq!(right, **response);
    let accept = routes
        .iter()
        .fold(ppp::Accept::new(), |a, r| a.with_route(*r));
    let now = w.now();
    assert!(
        w.server_mut()
            .auth_verdict(now, session, ticket, AuthVerdict::Accept(accept))
    );
}
