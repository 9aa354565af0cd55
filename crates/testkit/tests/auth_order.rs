//! End-to-end: users.yaml and a remote verifier used together (`Server::set_auth_order`),
//! with the test in the place of the RADIUS server, and the name servers an Accept gives
//! (RADIUS MS-Primary/Secondary-DNS-Server and -NBNS-Server, RFC 2548, Microsoft vendor 311 types 28-31) reaching the
//! client through IPCP (RFC 1877).
//!
//! - `[users, radius]`: a name users.yaml lists is decided there, finally (a wrong password
//!   or a disabled entry never reaches the verifier); other names go to the verifier.
//! - `[radius, users]`: the verifier decides (a Reject is final); only when no verifier
//!   answers (`AuthVerdict::NoAnswer`) is the client's stored answer checked against
//!   users.yaml.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ppp::{Accept, AuthProtocol, AuthRequest, AuthResponse, AuthTicket, AuthVerdict, Reject};
use server::{AuthOrder, Event, SessionId};
use testkit::{ClientEvent, ClientId, DEFAULT_USERS, Profile, Stage, World, WorldConfig};

const LIMIT: Duration = Duration::from_secs(120);
/// In users.yaml (testkit's default users).
const LOCAL_USER: &str = "alice";
const LOCAL_PASSWORD: &str = "alice-pass";
/// Not in users.yaml: only the verifier knows the password.
const REMOTE_USER: &str = "eve@radius";
const REMOTE_PASSWORD: &str = "eve-remote-pass";

#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn world(order: AuthOrder, users_yaml: &str) -> World {
    let mut w = World::new(
        WorldConfig {
            users_yaml: users_yaml.to_owned(),
            ..WorldConfig::default()
        },
        base(),
    )
    .expect("world config is valid");
    w.server_mut().set_auth_order(order);
    w
}

fn client(w: &mut World, host: u8, user: &str, password: &str) -> ClientId {
    let mut profile = Profile::windows_10();
    profile.auth_protocols = vec![AuthProtocol::MsChapV2];
    profile.request_dns = true;
    profile.request_wins = true;
    let c = w.add_client(
        profile,
        Ipv4Addr::new(192, 168, 1, host),
        true,
        user,
        password,
    );
    w.connect(c).unwrap();
    c
}

fn requests(w: &World) -> Vec<(SessionId, AuthTicket, AuthRequest)> {
    w.events()
        .iter()
        .filter_map(|e| match e {
            Event::AuthRequest {
                session,
                ticket,
                request,
                ..
            } => Some((*session, *ticket, (**request).clone())),
            _ => None,
        })
        .collect()
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

/// Runs until the client is up or down; true when up.
fn settle(w: &mut World, c: ClientId) -> bool {
    w.run_until(
        |w| w.client(c).is_up() || w.client(c).stage() == Stage::Down,
        LIMIT,
    );
    w.client(c).is_up()
}

/// What a RADIUS server answers for an MS-CHAPv2 `request` with the user's `password`.
fn verify(request: &AuthRequest, password: &str) -> AuthVerdict {
    let AuthResponse::MsChapV2 {
        challenge,
        peer_challenge,
        nt_response,
        ..
    } = &request.response
    else {
        panic!("MS-CHAPv2 expected: {request:?}");
    };
    let hash = crypto::mschap::nt_password_hash(password);
    let name = crypto::mschap::user_name_for_hash(&request.name);
    if crypto::mschap::generate_nt_response(challenge, peer_challenge, name, &hash) != **nt_response
    {
        return AuthVerdict::Reject(Reject::new().final_attempt());
    }
    let s = crypto::mschap::generate_authenticator_response(
        &hash,
        nt_response,
        peer_challenge,
        challenge,
        name,
    );
    let text = crypto::mschap::authenticator_response_string(&s);
    AuthVerdict::Accept(
        Accept::new()
            .with_mschapv2_success(text.as_bytes())
            .unwrap(),
    )
}

/// Waits for the one login handed out and answers it with what `decide` makes of it.
fn answer(w: &mut World, decide: impl FnOnce(&AuthRequest) -> AuthVerdict) {
    let asked = w.run_until(|w| !requests(w).is_empty(), LIMIT);
    assert!(asked, "no AuthRequest: {:#?}", w.events());
    let (session, ticket, request) = requests(w).remove(0);
    let verdict = decide(&request);
    let now = w.now();
    assert!(w.server_mut().auth_verdict(now, session, ticket, verdict));
}

#[test]
fn users_then_radius_decides_listed_names_locally_and_hands_on_the_rest() {
    // A listed user with the right password: up, never handed out.
    let mut w = world(AuthOrder::LocalThenRemote, DEFAULT_USERS);
    let local = client(&mut w, 10, LOCAL_USER, LOCAL_PASSWORD);
    assert!(settle(&mut w, local), "{:#?}", w.events());
    assert!(requests(&w).is_empty(), "decided by users.yaml");

    // An unlisted user: handed to the verifier, which accepts.
    let remote = client(&mut w, 11, REMOTE_USER, REMOTE_PASSWORD);
    answer(&mut w, |r| {
        assert_eq!(r.user, REMOTE_USER);
        verify(r, REMOTE_PASSWORD)
    });
    assert!(settle(&mut w, remote), "{:#?}", w.events());
    assert_eq!(requests(&w).len(), 1);

    // Reloading users.yaml without alice ends her session only: eve's was decided remotely.
    w.reload_users("users:\n  - name: bob\n    password: bob-pass\n")
        .unwrap();
    w.run_for(Duration::from_secs(10));
    assert!(!w.client(local).is_up(), "removed from users.yaml");
    assert!(w.client(remote).is_up(), "not users.yaml's to end");
}

#[test]
fn users_then_radius_never_hands_on_a_failed_local_login() {
    // A wrong password for a listed name, and a disabled entry with its right password:
    // refused by users.yaml, never handed to the verifier (which could accept the name).
    let users = "users:\n  - name: alice\n    password: alice-pass\n  - name: mallory\n    \
                 password: mallory-pass\n    disabled: true\n";
    for (user, password, reason) in [
        (
            LOCAL_USER,
            "not-alices-password",
            "wrong password (users.yaml)",
        ),
        ("mallory", "mallory-pass", "user disabled (users.yaml)"),
    ] {
        let mut w = world(AuthOrder::LocalThenRemote, users);
        let c = client(&mut w, 10, user, password);
        // Windows retries with the same password until the server allows no more.
        w.run_until(|w| w.client(c).stage() == Stage::Down, LIMIT);
        assert!(!w.client(c).is_up());
        assert!(requests(&w).is_empty(), "{user}: handed to the verifier");
        let refused = refusals(&w);
        assert!(
            !refused.is_empty() && refused.iter().all(|m| m.contains(reason)),
            "{user}: {refused:?}"
        );
    }
}

#[test]
fn radius_then_users_falls_back_only_when_no_server_answers() {
    // No answer: alice's stored answer is checked against users.yaml, and she is up.
    let mut w = world(AuthOrder::RemoteThenLocal, DEFAULT_USERS);
    let c = client(&mut w, 10, LOCAL_USER, LOCAL_PASSWORD);
    answer(&mut w, |r| {
        assert_eq!(r.user, LOCAL_USER, "RADIUS is asked first");
        AuthVerdict::NoAnswer
    });
    assert!(settle(&mut w, c), "{:#?}", w.events());
    assert!(w.client(c).assigned_address().is_some());
    // The Success came from our own check: the client verified its S= (else error 778).
    assert!(
        !w.client(c)
            .events()
            .iter()
            .any(|e| matches!(e, ClientEvent::AuthFailed { .. })),
        "{:?}",
        w.client(c).events()
    );

    // A Reject is final: the same user, with the same (locally right) password, is refused.
    let mut w = world(AuthOrder::RemoteThenLocal, DEFAULT_USERS);
    let c = client(&mut w, 10, LOCAL_USER, LOCAL_PASSWORD);
    answer(&mut w, |_| {
        AuthVerdict::Reject(Reject::new().final_attempt())
    });
    assert!(!settle(&mut w, c));
    let refused = refusals(&w);
    assert!(
        refused
            .iter()
            .any(|m| m.contains("rejected by the authentication server")),
        "{refused:?}"
    );

    // No answer, and users.yaml does not know the name: refused as an unknown user.
    let mut w = world(AuthOrder::RemoteThenLocal, DEFAULT_USERS);
    let c = client(&mut w, 10, REMOTE_USER, REMOTE_PASSWORD);
    answer(&mut w, |_| AuthVerdict::NoAnswer);
    w.run_until(|w| !refusals(w).is_empty(), LIMIT);
    assert!(!w.client(c).is_up());
    let refused = refusals(&w);
    assert!(
        refused[0].contains("unknown user (users.yaml)"),
        "{refused:?}"
    );
}

#[test]
fn radius_alone_refuses_when_no_server_answers() {
    let mut w = world(AuthOrder::Remote, DEFAULT_USERS);
    let c = client(&mut w, 10, LOCAL_USER, LOCAL_PASSWORD);
    answer(&mut w, |_| AuthVerdict::NoAnswer);
    assert!(!settle(&mut w, c), "users.yaml is no fallback here");
    let refused = refusals(&w);
    assert!(
        refused[0].contains("the authentication server did not answer"),
        "{refused:?}"
    );
}

#[test]
fn the_accepts_name_servers_reach_the_client() {
    let dns = [Ipv4Addr::new(10, 1, 0, 53), Ipv4Addr::new(10, 1, 0, 54)];
    let nbns = Ipv4Addr::new(10, 1, 0, 137);
    let mut w = world(AuthOrder::Remote, DEFAULT_USERS);
    let configured_dns = w.config().dns.clone();
    assert!(!configured_dns.contains(&dns[0]));
    let c = client(&mut w, 10, REMOTE_USER, REMOTE_PASSWORD);
    answer(&mut w, |r| {
        let AuthVerdict::Accept(a) = verify(r, REMOTE_PASSWORD) else {
            panic!("the right password");
        };
        AuthVerdict::Accept(
            a.with_dns(Some(dns[0]), Some(dns[1]))
                .with_nbns(Some(nbns), None),
        )
    });
    assert!(settle(&mut w, c), "{:#?}", w.events());
    let given = w.client(c).events().iter().find_map(|e| match e {
        ClientEvent::IpUp { dns, wins, .. } => Some((*dns, *wins)),
        _ => None,
    });
    assert_eq!(
        given,
        Some(([Some(dns[0]), Some(dns[1])], [Some(nbns), None])),
        "the verdict's servers, not the configured ones"
    );

    // A local login on the same server gets the configured ones.
    let mut w = world(AuthOrder::LocalThenRemote, DEFAULT_USERS);
    let c = client(&mut w, 10, LOCAL_USER, LOCAL_PASSWORD);
    assert!(settle(&mut w, c));
    let given = w.client(c).events().iter().find_map(|e| match e {
        ClientEvent::IpUp { dns, .. } => Some(*dns),
        _ => None,
    });
    assert_eq!(given.map(|d| d[0]), Some(configured_dns.first().copied()));
}
