//! End-to-end: logins decided by a remote verifier (`Server::set_remote_auth`), with the test
//! in the place of a RADIUS server: it receives `Event::AuthRequest`, computes what the server
//! would (RFC 2759 §4-§5, RFC 1994 §4.1, RFC 1334 §2.2.1) and answers with
//! `Server::auth_verdict`, against simulated clients that answer every CHAP Challenge they
//! see with a fresh Response.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ppp::{Accept, AuthProtocol, AuthRequest, AuthResponse, AuthTicket, AuthVerdict, Reject};
use server::{Event, SessionId};
use testkit::{ClientEvent, ClientId, Profile, Stage, World, WorldConfig};

const CONNECT_LIMIT: Duration = Duration::from_secs(120);
/// A user the users file does not list: only the remote verifier knows the password.
const USER: &str = "eve@radius";
const PASSWORD: &str = "eve-remote-pass";

#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn world(extra: &str) -> World {
    let mut w = World::new(
        WorldConfig {
            extra_server_yaml: extra.to_owned(),
            ..WorldConfig::default()
        },
        base(),
    )
    .expect("world config is valid");
    w.server_mut().set_remote_auth(true);
    w
}

fn client(w: &mut World, auth: AuthProtocol, password: &str) -> ClientId {
    let mut profile = Profile::windows_10();
    profile.auth_protocols = vec![auth];
    let c = w.add_client(
        profile,
        Ipv4Addr::new(192, 168, 1, 10),
        true,
        USER,
        password,
    );
    w.connect(c).unwrap();
    c
}

fn requests(w: &World) -> Vec<(SessionId, SocketAddr, AuthTicket, AuthRequest)> {
    w.events()
        .iter()
        .filter_map(|e| match e {
            Event::AuthRequest {
                session,
                client,
                ticket,
                request,
            } => Some((*session, *client, *ticket, (**request).clone())),
            _ => None,
        })
        .collect()
}

fn wait_for_request(w: &mut World) -> (SessionId, SocketAddr, AuthTicket, AuthRequest) {
    let asked = w.run_until(|w| !requests(w).is_empty(), CONNECT_LIMIT);
    assert!(asked, "no AuthRequest: {:#?}", w.events());
    requests(w).remove(0)
}

fn refusal(w: &World) -> Option<String> {
    w.events().iter().find_map(|e| match e {
        Event::Refused { message, .. } => Some(message.clone()),
        _ => None,
    })
}

/// What a RADIUS server computes for `request` with the user's `password`.
fn verify(request: &AuthRequest, password: &str) -> AuthVerdict {
    let hash = crypto::mschap::nt_password_hash(password);
    let name = crypto::mschap::user_name_for_hash(&request.name);
    let ok = match &request.response {
        AuthResponse::MsChapV2 {
            challenge,
            peer_challenge,
            nt_response,
            ..
        } => {
            let expected =
                crypto::mschap::generate_nt_response(challenge, peer_challenge, name, &hash);
            if expected == **nt_response {
                let s = crypto::mschap::generate_authenticator_response(
                    &hash,
                    nt_response,
                    peer_challenge,
                    challenge,
                    name,
                );
                let text = crypto::mschap::authenticator_response_string(&s);
                let accept = Accept::new().with_mschapv2_success(text.as_bytes());
                return AuthVerdict::Accept(accept.unwrap());
            }
            false
        }
        AuthResponse::Chap {
            challenge,
            response,
        } => {
            crypto::chap::md5_response(request.identifier, password.as_bytes(), challenge)
                == **response
        }
        AuthResponse::Pap { password: given } => given.as_slice() == password.as_bytes(),
        other => panic!("unexpected {other:?}"),
    };
    if ok {
        AuthVerdict::Accept(Accept::new())
    } else {
        AuthVerdict::Reject(Reject::new())
    }
}

/// MS-CHAPv2, CHAP-MD5 and PAP logins of a user the users file does not know, accepted by
/// the verifier 25 s after the client answered (the server must not challenge again
/// meanwhile: the client would answer anew and, for MS-CHAPv2, reject the Success computed
/// over its first answer, Windows error 778). The verdict's address is the client's.
#[test]
fn deferred_accept_brings_the_client_up_with_the_verdicts_address() {
    for (extra, auth, framed) in [
        ("", AuthProtocol::MsChapV2, Ipv4Addr::new(10, 99, 0, 77)),
        (
            "ppp:\n  auth: [chap]\n",
            AuthProtocol::Chap,
            Ipv4Addr::new(10, 99, 0, 78),
        ),
        (
            "ppp:\n  auth: []\n  pap: true\n",
            AuthProtocol::Pap,
            Ipv4Addr::new(10, 99, 0, 79),
        ),
    ] {
        let mut w = world(extra);
        let c = client(&mut w, auth, PASSWORD);
        let (session, from, ticket, request) = wait_for_request(&mut w);
        assert_eq!((request.method, request.user.as_str()), (auth, USER));
        assert_eq!(from.ip(), std::net::IpAddr::V4(w.config().nat_public_ip));
        w.run_for(Duration::from_secs(25));
        assert_eq!(requests(&w).len(), 1, "{auth}: handed out once");
        assert!(!w.client(c).is_up());
        let AuthVerdict::Accept(accept) = verify(&request, PASSWORD) else {
            panic!("{auth}: the right password");
        };
        let now = w.now();
        let verdict = AuthVerdict::Accept(accept.with_address(framed));
        assert!(w.server_mut().auth_verdict(now, session, ticket, verdict));
        let up = w.run_until(|w| w.client(c).stage() >= Stage::Up, CONNECT_LIMIT);
        assert!(
            up && w.client(c).is_up(),
            "{auth}: {:#?}\n{:#?}",
            w.client(c).events(),
            w.events()
        );
        assert_eq!(w.client(c).assigned_address(), Some(framed), "{auth}");
        assert!(w.events().iter().any(|e| matches!(
            e,
            Event::SessionUp { user, addr, .. } if user == USER && *addr == framed
        )));
        // The users file does not list the user: reloading it must not disconnect them.
        let users = w.config().users_yaml.clone();
        w.reload_users(&users).unwrap();
        // A second verdict for the same login changes nothing.
        let now = w.now();
        let again = AuthVerdict::Reject(Reject::new().final_attempt());
        assert!(!w.server_mut().auth_verdict(now, session, ticket, again));
        w.run_for(Duration::from_secs(5));
        assert!(w.client(c).is_up());
    }
}

#[test]
fn deferred_reject_refuses_the_client_with_the_verdicts_code() {
    for (extra, auth) in [
        ("", AuthProtocol::MsChapV2),
        ("ppp:\n  auth: [chap]\n", AuthProtocol::Chap),
        ("ppp:\n  auth: []\n  pap: true\n", AuthProtocol::Pap),
    ] {
        let mut w = world(extra);
        let c = client(&mut w, auth, "a wrong password");
        let (session, _, ticket, request) = wait_for_request(&mut w);
        let AuthVerdict::Reject(reject) = verify(&request, PASSWORD) else {
            panic!("{auth}: a wrong password");
        };
        let now = w.now();
        let verdict = AuthVerdict::Reject(reject.with_error(648).final_attempt());
        assert!(w.server_mut().auth_verdict(now, session, ticket, verdict));
        w.run_until(|w| w.client(c).stage() == Stage::Down, CONNECT_LIMIT);
        assert!(!w.client(c).is_up());
        let message = refusal(&w).unwrap_or_default();
        assert!(
            message.contains("rejected by the authentication server (error 648)")
                && message.contains("Windows error 648"),
            "{auth}: {message}"
        );
        if auth == AuthProtocol::MsChapV2 {
            assert!(
                w.client(c)
                    .events()
                    .contains(&ClientEvent::AuthFailed { windows_error: 648 }),
                "{:?}",
                w.client(c).events()
            );
        }
        // The server's side of the session goes once its LCP Terminate-Request is answered
        // or runs out (RFC 1661 §4.6: Max-Terminate restart intervals).
        w.run_for(Duration::from_secs(10));
        assert!(
            w.snapshot().sessions.is_empty(),
            "{auth}: {:#?}",
            w.snapshot()
        );
    }
}

#[test]
fn no_verdict_refuses_the_client_and_a_late_one_is_ignored() {
    let mut w = world("");
    let c = client(&mut w, AuthProtocol::MsChapV2, PASSWORD);
    let (session, _, ticket, request) = wait_for_request(&mut w);
    let asked_at = w.now();
    w.run_until(|w| refusal(w).is_some(), Duration::from_secs(40));
    let message = refusal(&w).unwrap_or_default();
    assert!(
        message.contains("the authentication server did not answer"),
        "{message}"
    );
    let waited = w.now().duration_since(asked_at);
    assert!(
        waited >= Duration::from_secs(29) && waited <= Duration::from_secs(31),
        "{waited:?}"
    );
    w.run_until(|w| w.client(c).stage() == Stage::Down, CONNECT_LIMIT);
    assert!(!w.client(c).is_up());
    // The verdict arrives after all: nothing happens.
    let now = w.now();
    let n = w.events().len();
    assert!(
        !w.server_mut()
            .auth_verdict(now, session, ticket, verify(&request, PASSWORD))
    );
    w.run_for(Duration::from_secs(5));
    assert!(!w.client(c).is_up());
    assert!(
        !w.events()[n..]
            .iter()
            .any(|e| matches!(e, Event::SessionUp { .. }))
    );
}

/// The verifier's Session-Timeout and Idle-Timeout (RADIUS, RFC 2865 §5.27, §5.28) win over
/// the `ppp:` defaults, and the session ends at the verifier's session timeout.
#[test]
fn the_verdicts_timeouts_override_the_defaults() {
    let mut w =
        world("ppp:\n  auth: [chap]\n  session_timeout_secs: 600\n  idle_timeout_secs: 900\n");
    let c = client(&mut w, AuthProtocol::Chap, PASSWORD);
    let (session, _, ticket, request) = wait_for_request(&mut w);
    let AuthVerdict::Accept(accept) = verify(&request, PASSWORD) else {
        panic!("the right password");
    };
    let accept = accept
        .with_session_timeout(Duration::from_secs(100))
        .with_idle_timeout(Duration::from_secs(300));
    let now = w.now();
    assert!(
        w.server_mut()
            .auth_verdict(now, session, ticket, AuthVerdict::Accept(accept))
    );
    let up = w.run_until(|w| w.client(c).is_up(), CONNECT_LIMIT);
    assert!(up, "{:#?}", w.events());
    let since = w.now();
    let row = w.snapshot().sessions.first().cloned().expect("a session");
    assert_eq!(
        (row.session_timeout_secs, row.idle_timeout_secs),
        (Some(100), Some(300))
    );
    w.run_for(Duration::from_secs(98));
    assert!(w.client(c).is_up());
    let gone = w.run_until(
        |w| w.client(c).stage() == Stage::Down,
        Duration::from_secs(10),
    );
    assert!(gone, "{:#?}", w.events());
    assert!(w.now().saturating_duration_since(since) >= Duration::from_secs(99));
    assert!(w.events().iter().any(|e| matches!(
        e,
        Event::SessionDown { reason, .. } if reason.ends_with("session timeout (100 s)")
    )));
}
