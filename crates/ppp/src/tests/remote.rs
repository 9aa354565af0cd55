//! Remote verification (`Lookup::Remote`): a `Link` paired with a `Peer`, with the test as the
//! remote verifier (what a RADIUS server computes), and explicit time steps.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use wire::ppp::control;
use wire::ppp::mschap::FailureMessage;
use wire::ppp::{Protocol, chap, pap};

use super::{Users, drain, events, failure_of, server_config, split, t0};
use crate::{
    Accept, AuthFailure, AuthProtocol, AuthRequest, AuthResponse, AuthTicket, AuthVerdict,
    Authenticator, DownReason, Event, FramedAddress, Link, Lookup, Peer, PeerConfig, Reject, State,
};

const METHODS: [AuthProtocol; 4] = [
    AuthProtocol::MsChapV2,
    AuthProtocol::Chap,
    AuthProtocol::MsChapV1,
    AuthProtocol::Pap,
];

/// Hands every attempt out; addresses come from the test pool of [`Users`].
struct Remote {
    pool: Users,
    lookups: u32,
}

impl Remote {
    fn new() -> Self {
        Self {
            pool: Users::with("nobody", "x"),
            lookups: 0,
        }
    }
}

impl Authenticator for Remote {
    fn lookup(&mut self, _user: &str) -> Lookup {
        self.lookups += 1;
        Lookup::Remote
    }

    fn assign_address(&mut self, user: &str, requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        self.pool.assign_address(user, requested)
    }
}

/// What a RADIUS server does with a request, for a user whose password is `password`:
/// Accept (with the MS-CHAPv2 authenticator response) if the answer is right, else Reject.
fn verify(request: &AuthRequest, password: &str) -> AuthVerdict {
    let hash = crypto::mschap::nt_password_hash(password);
    let name = crypto::mschap::user_name_for_hash(&request.name);
    match &request.response {
        AuthResponse::MsChapV2 {
            challenge,
            peer_challenge,
            nt_response,
            ..
        } => {
            let expected =
                crypto::mschap::generate_nt_response(challenge, peer_challenge, name, &hash);
            if expected != **nt_response {
                return AuthVerdict::Reject(Reject::new());
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
        AuthResponse::MsChapV1 {
            challenge,
            nt_response,
            ..
        } => {
            let ok = crypto::mschap::v1_nt_response(challenge, &hash) == **nt_response;
            if ok {
                AuthVerdict::Accept(Accept::new())
            } else {
                AuthVerdict::Reject(Reject::new())
            }
        }
        AuthResponse::Chap {
            challenge,
            response,
        } => {
            let expected =
                crypto::chap::md5_response(request.identifier, password.as_bytes(), challenge);
            if expected == **response {
                AuthVerdict::Accept(Accept::new())
            } else {
                AuthVerdict::Reject(Reject::new())
            }
        }
        AuthResponse::Pap { password: given } => {
            if given.as_slice() == password.as_bytes() {
                AuthVerdict::Accept(Accept::new())
            } else {
                AuthVerdict::Reject(Reject::new())
            }
        }
    }
}

struct Pair {
    now: Instant,
    link: Link,
    peer: Peer,
    auth: Remote,
    /// Every frame the link sent, in order.
    from_link: Vec<Vec<u8>>,
    /// Every frame the peer sent, in order.
    from_peer: Vec<Vec<u8>>,
    link_events: Vec<Event>,
}

impl Pair {
    fn new(method: AuthProtocol, password: &str) -> Self {
        Self::with(method, password, |_| {}, |_| {})
    }

    fn with(
        method: AuthProtocol,
        password: &str,
        link_cfg: impl FnOnce(&mut crate::LinkConfig),
        peer_cfg: impl FnOnce(&mut PeerConfig),
    ) -> Self {
        let now = t0();
        let mut cfg = server_config();
        cfg.auth_protocols = vec![method];
        link_cfg(&mut cfg);
        let mut pcfg = PeerConfig::new("User", password);
        pcfg.auth_protocols = vec![method];
        peer_cfg(&mut pcfg);
        let mut p = Self {
            now,
            link: Link::new(&cfg, [31; 32], now),
            peer: Peer::new(&pcfg, [32; 32], now),
            auth: Remote::new(),
            from_link: Vec::new(),
            from_peer: Vec::new(),
            link_events: Vec::new(),
        };
        p.pump();
        p
    }

    /// Moves frames both ways until both sides are quiet.
    fn pump(&mut self) {
        for _ in 0..200 {
            let mut moved = false;
            while let Some(f) = self.link.poll_transmit() {
                moved = true;
                let _ = self.peer.handle_frame(self.now, &f);
                self.from_link.push(f);
            }
            while let Some(f) = self.peer.poll_transmit() {
                moved = true;
                let _ = self.link.handle_frame(self.now, &f, &mut self.auth);
                self.from_peer.push(f);
            }
            self.link_events.extend(events(&mut self.link));
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Runs both sides' timers (and the exchanges they cause) up to `until`.
    fn advance_to(&mut self, until: Instant) {
        loop {
            let next = [self.link.poll_timeout(), self.peer.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .filter(|t| *t <= until);
            let Some(t) = next else {
                break;
            };
            self.now = self.now.max(t);
            self.link.handle_timeout(self.now);
            self.peer.handle_timeout(self.now);
            self.pump();
        }
        self.now = self.now.max(until);
    }

    /// The pending requests handed out so far.
    fn requests(&self) -> Vec<(AuthTicket, AuthRequest)> {
        self.link_events
            .iter()
            .filter_map(|e| match e {
                Event::AuthRequest { ticket, request } => Some((*ticket, (**request).clone())),
                _ => None,
            })
            .collect()
    }

    fn last_request(&self) -> (AuthTicket, AuthRequest) {
        self.requests().pop().expect("an AuthRequest")
    }

    fn resolve(&mut self, ticket: AuthTicket, verdict: AuthVerdict) -> bool {
        let applied = self.link.resolve_auth(self.now, ticket, verdict);
        self.pump();
        applied
    }

    /// The CHAP packets (code, identifier) the link sent since frame `from`.
    fn chap_sent(&self, from: usize) -> Vec<(u8, u8)> {
        self.from_link[from..]
            .iter()
            .map(|f| split(f))
            .filter(|(p, _)| *p == Protocol::Chap)
            .map(|(_, pl)| (pl[0], pl[1]))
            .collect()
    }

    fn failures(&self) -> Vec<AuthFailure> {
        self.link_events
            .iter()
            .filter_map(|e| match e {
                Event::AuthFailed { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }
}

/// The challenge value of the last CHAP Challenge the link sent.
fn last_challenge(p: &Pair) -> Vec<u8> {
    p.from_link
        .iter()
        .rev()
        .find_map(|f| {
            let (proto, pl) = split(f);
            if proto != Protocol::Chap {
                return None;
            }
            match chap::Repr::parse(&control::Packet::new_checked(pl).unwrap())
                .unwrap()
                .body
            {
                chap::Body::Challenge { value, .. } => Some(value.to_vec()),
                _ => None,
            }
        })
        .expect("a Challenge")
}

/// The text of a CHAP Success, or of a PAP Ack/Nak, in `frame`.
fn reply_text(frame: &[u8]) -> Option<(u8, Vec<u8>)> {
    let (proto, pl) = split(frame);
    let packet = control::Packet::new_checked(pl).unwrap();
    match proto {
        Protocol::Chap => match chap::Repr::parse(&packet).unwrap().body {
            chap::Body::Success(m) | chap::Body::Failure(m) => Some((pl[0], m.to_vec())),
            _ => None,
        },
        Protocol::Pap => match pap::Repr::parse(&packet).unwrap().body {
            pap::Body::AuthenticateAck(m) | pap::Body::AuthenticateNak(m) => {
                Some((pl[0], m.to_vec()))
            }
            _ => None,
        },
        _ => None,
    }
}

#[test]
fn remote_accept_reaches_ip_up_with_every_method() {
    for method in METHODS {
        let mut p = Pair::new(method, "clientPass");
        let requests = p.requests();
        assert_eq!(requests.len(), 1, "{method}: handed out once");
        let (ticket, request) = requests[0].clone();
        assert_eq!(request.method, method);
        assert_eq!(
            (request.user.as_str(), &request.name[..]),
            ("User", &b"User"[..])
        );
        // The request carries our challenge, as sent.
        match &request.response {
            AuthResponse::MsChapV2 { challenge, .. } => {
                assert_eq!(challenge[..], last_challenge(&p)[..]);
            }
            AuthResponse::MsChapV1 { challenge, .. } => {
                assert_eq!(challenge[..], last_challenge(&p)[..]);
            }
            AuthResponse::Chap { challenge, .. } => {
                assert_eq!(challenge[..], last_challenge(&p)[..]);
            }
            AuthResponse::Pap { password } => assert_eq!(password.as_slice(), b"clientPass"),
        }
        // Nothing decided yet: no Success, no IPCP, nothing checked locally.
        assert_eq!(p.link.role.auth_checks, 0, "{method}");
        assert!(p.link.user().is_none());
        assert_eq!(p.link.ipcp_state(), State::Initial, "{method}");
        assert!(
            !p.from_link.iter().any(|f| reply_text(f).is_some()),
            "{method}: no answer before the verdict"
        );

        let verdict = verify(&request, "clientPass");
        assert!(matches!(verdict, AuthVerdict::Accept(_)), "{method}");
        assert!(p.resolve(ticket, verdict), "{method}");
        assert_eq!(p.link.ipcp_state(), State::Opened, "{method}");
        assert_eq!(p.peer.ipcp_state(), State::Opened, "{method}");
        // MS-CHAPv2: the peer checked the S= the verifier computed (else 778).
        assert!(!p.peer.is_down(), "{method}");
        assert!(p.link_events.contains(&Event::Authenticated {
            user: "User".into(),
            method
        }));
        assert_eq!(
            p.link.assigned_address(),
            Some(Ipv4Addr::new(192, 168, 1, 10))
        );
        assert_eq!(p.auth.lookups, 1, "{method}: one look-up");
        // A second verdict for the same ticket is stale.
        assert!(!p.resolve(ticket, AuthVerdict::Reject(Reject::new())));
        assert_eq!(p.link.ipcp_state(), State::Opened);
    }
}

#[test]
fn remote_reject_answers_the_peer_with_the_verdicts_code_and_text() {
    for method in METHODS {
        // The peer knows the right password; the verifier refuses anyway.
        let mut p = Pair::new(method, "clientPass");
        let (ticket, _) = p.last_request();
        let from = p.from_link.len();
        let reject = Reject::new()
            .with_error(647)
            .with_message("Account disabled")
            .final_attempt();
        assert!(p.resolve(ticket, AuthVerdict::Reject(reject)));
        let (code, text) = p.from_link[from..]
            .iter()
            .find_map(|f| reply_text(f))
            .expect("a Failure or Nak");
        match method {
            AuthProtocol::MsChapV2 | AuthProtocol::MsChapV1 => {
                assert_eq!(code, 4);
                let f = FailureMessage::parse(&text).unwrap();
                assert_eq!((f.error, f.retry), (647, false), "{method}: R=0");
                assert_eq!(f.message, Some(&b"Account disabled"[..]));
                assert!(text.starts_with(b"E=647 R=0 C="));
            }
            AuthProtocol::Chap => assert_eq!((code, &text[..]), (4, &b"Account disabled"[..])),
            AuthProtocol::Pap => assert_eq!((code, &text[..]), (3, &b"Account disabled"[..])),
        }
        assert_eq!(
            p.failures(),
            [AuthFailure::Rejected { error: 647 }],
            "{method}"
        );
        assert!(p.link_events.contains(&Event::AuthFailed {
            user: "User".into(),
            reason: AuthFailure::Rejected { error: 647 },
            windows_error: 647,
        }));
        p.advance_to(p.now + Duration::from_secs(10));
        assert!(p.link.is_down(), "{method}: no retry allowed");
        assert_eq!(
            p.link_events.last(),
            Some(&Event::Down {
                reason: DownReason::AuthFailed
            })
        );
    }
}

#[test]
fn remote_reject_with_retry_hands_the_next_attempt_out_again() {
    for method in METHODS {
        // The user first types a wrong password, then the right one.
        let mut p = Pair::new(method, "wrong");
        let (first, request) = p.last_request();
        let verdict = verify(&request, "clientPass");
        assert!(matches!(verdict, AuthVerdict::Reject(_)), "{method}");
        p.peer.set_password("clientPass");
        let from = p.from_link.len();
        assert!(p.resolve(first, verdict));
        // MS-CHAP: E=691 R=1 with a new C=; the peer answers it (identifier + 1). CHAP-MD5:
        // Failure and a new Challenge. PAP: Nak, and the peer asks again.
        if matches!(method, AuthProtocol::MsChapV2 | AuthProtocol::MsChapV1) {
            let (_, text) = p.from_link[from..]
                .iter()
                .find_map(|f| failure_of(f))
                .unwrap();
            assert!(text.starts_with(b"E=691 R=1 C="), "{method}");
        }
        if method == AuthProtocol::Chap {
            let sent = p.chap_sent(from);
            assert_eq!(sent.len(), 2, "{method}: Failure, then a new Challenge");
            assert_eq!(sent[0].0, 4);
            assert_eq!((sent[1].0, sent[1].1), (1, sent[0].1.wrapping_add(1)));
        }
        let requests = p.requests();
        assert_eq!(requests.len(), 2, "{method}: the retry is handed out");
        let (second, request) = requests[1].clone();
        assert_ne!(second, first);
        assert_ne!(request.identifier, requests[0].1.identifier, "{method}");
        // The first ticket is spent.
        assert!(!p.resolve(first, AuthVerdict::Accept(Accept::new())));
        assert!(p.resolve(second, verify(&request, "clientPass")));
        assert_eq!(p.peer.ipcp_state(), State::Opened, "{method}");
        assert_eq!(p.failures(), [AuthFailure::Rejected { error: 691 }]);
    }
}

/// The rule that keeps Windows from failing with 778: while a verdict is pending, the
/// Challenge is never sent again. If it were, the peer would answer the repeat with a new
/// Response (a new peer challenge for MS-CHAPv2) and reject the S= computed over its first.
#[test]
fn no_challenge_is_retransmitted_while_a_verdict_is_pending() {
    for method in [
        AuthProtocol::MsChapV2,
        AuthProtocol::Chap,
        AuthProtocol::MsChapV1,
    ] {
        let mut p = Pair::new(method, "clientPass");
        let (ticket, request) = p.last_request();
        let challenges_before = p.chap_sent(0).iter().filter(|(c, _)| *c == 1).count();
        assert_eq!(challenges_before, 1, "{method}");
        let from = p.from_link.len();
        // 29 s: many restart intervals (3 s), just short of the 30 s authentication timeout.
        let t = p.now;
        p.advance_to(t + Duration::from_secs(29));
        assert_eq!(
            p.chap_sent(from),
            [],
            "{method}: nothing sent on CHAP while pending"
        );
        assert_eq!(p.requests().len(), 1, "{method}");
        assert!(!p.link.is_down());
        // The verdict computed over the first Response still satisfies the peer.
        assert!(p.resolve(ticket, verify(&request, "clientPass")));
        assert_eq!(p.peer.ipcp_state(), State::Opened, "{method}");
        assert!(!p.peer.is_down(), "{method}");
    }
}

#[test]
fn repeated_and_stray_responses_are_not_forwarded_again() {
    for method in [AuthProtocol::MsChapV2, AuthProtocol::Chap] {
        let mut p = Pair::new(method, "clientPass");
        let (ticket, request) = p.last_request();
        let response = p
            .from_peer
            .iter()
            .rev()
            .find(|f| split(f).0 == Protocol::Chap)
            .unwrap()
            .clone();
        // The same Response again: absorbed.
        assert_eq!(p.link.handle_frame(p.now, &response, &mut p.auth), None);
        // A Response with another identifier: answers no Challenge of ours; ignored.
        let mut stray = response.clone();
        stray[5] = stray[5].wrapping_add(7);
        assert_eq!(p.link.handle_frame(p.now, &stray, &mut p.auth), None);
        assert!(
            drain(&mut p.link).is_empty(),
            "{method}: no answer to either"
        );
        p.pump();
        assert_eq!(p.requests().len(), 1, "{method}: forwarded once");
        assert_eq!(p.auth.lookups, 1);
        assert!(p.resolve(ticket, verify(&request, "clientPass")));
        assert_eq!(p.peer.ipcp_state(), State::Opened, "{method}");
        // After the verdict, a repeat gets the same Success again (RFC 1994 §4.1).
        let from = p.from_link.len();
        let _ = p.link.handle_frame(p.now, &response, &mut p.auth);
        p.pump();
        assert_eq!(p.chap_sent(from).len(), 1);
        assert_eq!(p.chap_sent(from)[0].0, 3);
    }
}

/// A PAP peer repeats its request with a new Identifier (RFC 1334 §2.2.1): forwarded once,
/// and the Ack goes to the newest Identifier, the one the peer waits for.
#[test]
fn pap_repeats_while_pending_are_answered_once_with_the_newest_identifier() {
    let mut p = Pair::new(AuthProtocol::Pap, "clientPass");
    let (ticket, request) = p.last_request();
    let t = p.now;
    p.advance_to(t + Duration::from_secs(10));
    let sent = p
        .from_peer
        .iter()
        .filter(|f| split(f).0 == Protocol::Pap)
        .count();
    assert!(sent >= 3, "the peer repeated its request ({sent})");
    assert_eq!(p.requests().len(), 1, "forwarded once");
    let newest = p
        .from_peer
        .iter()
        .rev()
        .find(|f| split(f).0 == Protocol::Pap)
        .map(|f| split(f).1[1])
        .unwrap();
    assert_ne!(newest, request.identifier);
    let from = p.from_link.len();
    assert!(p.resolve(ticket, verify(&request, "clientPass")));
    let ack = p.from_link[from..]
        .iter()
        .find(|f| split(f).0 == Protocol::Pap)
        .unwrap();
    assert_eq!(split(ack).1[..2], [2, newest]);
    assert_eq!(p.peer.ipcp_state(), State::Opened);
}

#[test]
fn a_verdict_that_never_comes_ends_the_link() {
    for method in METHODS {
        let mut p = Pair::with(
            method,
            "clientPass",
            |c| c.auth_timeout = Duration::from_secs(20),
            |_| {},
        );
        let (ticket, request) = p.last_request();
        let t = p.now;
        p.advance_to(t + Duration::from_millis(19_900));
        assert!(p.failures().is_empty(), "{method}: still waiting");
        let from = p.from_link.len();
        p.advance_to(t + Duration::from_secs(20));
        assert_eq!(p.failures(), [AuthFailure::NoVerdict], "{method}");
        assert_eq!(
            AuthFailure::NoVerdict.to_string(),
            "the authentication server did not answer"
        );
        let (code, text) = p.from_link[from..]
            .iter()
            .find_map(|f| reply_text(f))
            .expect("a Failure or Nak");
        assert!(code == 4 || code == 3);
        if matches!(method, AuthProtocol::MsChapV2 | AuthProtocol::MsChapV1) {
            assert!(text.starts_with(b"E=691 R=0 C="), "{method}");
        }
        p.advance_to(t + Duration::from_secs(40));
        assert!(p.link.is_down(), "{method}");
        assert_eq!(
            p.link_events.last(),
            Some(&Event::Down {
                reason: DownReason::AuthFailed
            })
        );
        // The verdict arrives after all: ignored, nothing sent, nothing reported.
        let (frames, n_events) = (p.from_link.len(), p.link_events.len());
        assert!(
            !p.resolve(ticket, verify(&request, "clientPass")),
            "{method}"
        );
        assert_eq!((p.from_link.len(), p.link_events.len()), (frames, n_events));
    }
}

#[test]
fn a_verdict_after_the_link_closed_is_ignored() {
    let mut p = Pair::new(AuthProtocol::MsChapV2, "clientPass");
    let (ticket, request) = p.last_request();
    p.link.close(p.now, "administrative");
    p.pump();
    let t = p.now;
    p.advance_to(t + Duration::from_secs(10));
    assert!(p.link.is_down());
    let frames = p.from_link.len();
    assert!(!p.resolve(ticket, verify(&request, "clientPass")));
    assert_eq!(p.from_link.len(), frames);
    assert!(p.link.user().is_none());
    // A ticket that was never issued does nothing on a live link either.
    let mut q = Pair::new(AuthProtocol::Chap, "clientPass");
    let (real, _) = q.last_request();
    let forged = AuthTicket(real.get().wrapping_add(1));
    assert!(!q.resolve(forged, AuthVerdict::Accept(Accept::new())));
    assert!(q.link.user().is_none());
}

#[test]
fn an_mschapv2_accept_without_authenticator_response_is_refused() {
    let mut p = Pair::new(AuthProtocol::MsChapV2, "clientPass");
    let (ticket, _) = p.last_request();
    assert!(p.resolve(ticket, AuthVerdict::Accept(Accept::new())));
    assert_eq!(p.failures(), [AuthFailure::IncompleteAccept]);
    assert!(p.link.user().is_none());
    let (_, text) = p.from_link.iter().find_map(|f| failure_of(f)).unwrap();
    assert!(text.starts_with(b"E=691 R=0 C="));
}

#[test]
fn the_verdicts_address_wins_over_the_pool() {
    let fixed = Ipv4Addr::new(10, 9, 8, 7);
    let cases = [
        (Ipv4Addr::new(10, 9, 8, 7), None, fixed),
        // 255.255.255.254: the NAS chooses (the pool's first address).
        (
            Ipv4Addr::new(255, 255, 255, 254),
            None,
            Ipv4Addr::new(192, 168, 1, 10),
        ),
        // 255.255.255.255: the user chooses; this peer asks for 172.16.0.9.
        (
            Ipv4Addr::BROADCAST,
            Some(Ipv4Addr::new(172, 16, 0, 9)),
            Ipv4Addr::new(172, 16, 0, 9),
        ),
        // ... and one that asks for nothing gets the pool's.
        (Ipv4Addr::BROADCAST, None, Ipv4Addr::new(192, 168, 1, 10)),
    ];
    for (framed, asks, expected) in cases {
        let mut p = Pair::with(
            AuthProtocol::MsChapV2,
            "clientPass",
            |_| {},
            |c| {
                if let Some(a) = asks {
                    c.requested_addr = a;
                }
            },
        );
        let (ticket, request) = p.last_request();
        let AuthVerdict::Accept(accept) = verify(&request, "clientPass") else {
            panic!("accepted");
        };
        assert!(p.resolve(ticket, AuthVerdict::Accept(accept.with_address(framed))));
        assert_eq!(p.link.assigned_address(), Some(expected), "{framed}");
        assert_eq!(p.peer.address(), expected, "{framed}");
        assert_eq!(p.link.ipcp_state(), State::Opened);
    }
    assert_eq!(
        FramedAddress::from(Ipv4Addr::new(255, 255, 255, 254)),
        FramedAddress::NasChoice
    );
}

#[test]
fn a_verdicts_texts_reach_the_peer() {
    // MS-CHAPv2 Success carries the verifier's S= and text; a CHAP-MD5 Success its text.
    let mut p = Pair::new(AuthProtocol::MsChapV2, "clientPass");
    let (ticket, request) = p.last_request();
    let AuthVerdict::Accept(accept) = verify(&request, "clientPass") else {
        panic!("accepted");
    };
    let s = accept.authenticator_response.unwrap();
    let from = p.from_link.len();
    assert!(p.resolve(ticket, AuthVerdict::Accept(accept.with_message("Welcome"))));
    let (code, text) = p.from_link[from..]
        .iter()
        .find_map(|f| reply_text(f))
        .unwrap();
    assert_eq!(code, 3);
    let expected = format!(
        "{} M=Welcome",
        crypto::mschap::authenticator_response_string(&s)
    );
    assert_eq!(text, expected.as_bytes());

    // A verifier's MS-CHAP-Error text gives E=, R= and M=.
    let reject = Reject::new()
        .with_ms_chap_error(b"E=648 R=0 C=00000000000000000000000000000000 V=3 M=Password expired")
        .unwrap();
    assert_eq!(
        (reject.error, reject.retry, reject.message.as_deref()),
        (Some(648), false, Some("Password expired"))
    );
    // Overlong texts are cut to fit a frame.
    let mut q = Pair::new(AuthProtocol::Chap, "clientPass");
    let (ticket, _) = q.last_request();
    let long = "x".repeat(5000);
    assert!(q.resolve(
        ticket,
        AuthVerdict::Reject(Reject::new().with_message(&long))
    ));
    let (_, text) = q.from_link.iter().find_map(|f| failure_of(f)).unwrap();
    assert_eq!(text.len(), 200);
}

#[test]
fn the_attempt_is_redacted_in_debug() {
    let p = Pair::new(AuthProtocol::Pap, "clientPass");
    let (_, request) = p.last_request();
    let shown = format!("{request:?} {:?}", p.link_events);
    assert!(!shown.contains("clientPass"), "{shown}");
    assert!(shown.contains("Pap(<redacted>)"));
    let q = Pair::new(AuthProtocol::MsChapV2, "clientPass");
    let (_, request) = q.last_request();
    let AuthResponse::MsChapV2 { nt_response, .. } = &request.response else {
        panic!("MS-CHAPv2");
    };
    let shown = format!("{request:?}");
    assert!(shown.contains("MsChapV2(<redacted>)"), "{shown}");
    assert!(
        !shown.contains(&format!("{:?}", &nt_response[..])),
        "{shown}"
    );
}

#[test]
fn no_answer_fails_the_attempt_with_r0() {
    for method in METHODS {
        let mut p = Pair::new(method, "clientPass");
        let (ticket, _) = p.last_request();
        let from = p.from_link.len();
        assert!(p.resolve(ticket, AuthVerdict::NoAnswer), "{method}");
        assert_eq!(p.failures(), [AuthFailure::NoVerdict], "{method}");
        assert_eq!(p.link.role.auth_checks, 0, "{method}: nothing checked here");
        let (code, text) = p.from_link[from..]
            .iter()
            .find_map(|f| reply_text(f))
            .expect("a Failure or Nak");
        assert!(code == 4 || code == 3, "{method}");
        if matches!(method, AuthProtocol::MsChapV2 | AuthProtocol::MsChapV1) {
            assert!(text.starts_with(b"E=691 R=0 C="), "{method}");
        }
        assert!(p.link.user().is_none());
    }
}

/// The local fallback's credentials: one user, and the pool of [`Users`].
fn local(password: &str) -> Users {
    Users::with("User", password)
}

#[test]
fn a_pending_attempt_is_checked_locally_on_request() {
    for method in METHODS {
        // The right password in the local store: Success, IPCP up, checked exactly once.
        let mut p = Pair::new(method, "clientPass");
        let (ticket, _) = p.last_request();
        let mut users = local("clientPass");
        assert!(
            p.link.resolve_auth_locally(p.now, ticket, &mut users),
            "{method}"
        );
        p.pump();
        assert_eq!(p.link.role.auth_checks, 1, "{method}");
        assert!(p.link_events.contains(&Event::Authenticated {
            user: "User".into(),
            method
        }));
        // MS-CHAPv2: our own S= over the stored response satisfied the peer (else 778).
        assert!(!p.peer.is_down(), "{method}");
        assert_eq!(p.link.ipcp_state(), State::Opened, "{method}");
        assert_eq!(p.peer.ipcp_state(), State::Opened, "{method}");
        assert!(!p.link.verified_remotely(), "{method}: decided here");
        // The ticket is spent: neither a verdict nor a second check applies.
        assert!(!p.resolve(ticket, AuthVerdict::Reject(Reject::new())));
        assert!(!p.link.resolve_auth_locally(p.now, ticket, &mut users));

        // A wrong password in the local store: the usual local Failure (a retry allowed).
        let mut q = Pair::new(method, "clientPass");
        let (ticket, _) = q.last_request();
        let from = q.from_link.len();
        let mut users = local("otherPass");
        assert!(q.link.resolve_auth_locally(q.now, ticket, &mut users));
        q.pump();
        assert_eq!(q.failures(), [AuthFailure::WrongPassword], "{method}");
        let (code, text) = q.from_link[from..]
            .iter()
            .find_map(|f| reply_text(f))
            .expect("a Failure or Nak");
        assert!(code == 4 || code == 3, "{method}");
        if matches!(method, AuthProtocol::MsChapV2 | AuthProtocol::MsChapV1) {
            assert!(text.starts_with(b"E=691 R=1 C="), "{method}");
        }
        assert!(q.link.user().is_none());
    }
    // A user the local store does not know is refused like any unknown user.
    let mut p = Pair::new(AuthProtocol::MsChapV2, "clientPass");
    let (ticket, _) = p.last_request();
    let mut users = Users::with("Someone", "clientPass");
    assert!(p.link.resolve_auth_locally(p.now, ticket, &mut users));
    p.pump();
    assert_eq!(p.failures(), [AuthFailure::UnknownUser]);
    // A forged ticket does nothing.
    let mut q = Pair::new(AuthProtocol::Chap, "clientPass");
    let (real, _) = q.last_request();
    let forged = AuthTicket(real.get().wrapping_add(1));
    assert!(
        !q.link
            .resolve_auth_locally(q.now, forged, &mut local("clientPass"))
    );
    assert!(q.link.user().is_none());
}

#[test]
fn an_accepts_name_servers_replace_the_configured_ones() {
    let ip = |d| Ipv4Addr::new(10, 0, 0, d);
    let up = |p: &mut Pair| {
        super::peer_events(&mut p.peer)
            .into_iter()
            .find_map(|e| match e {
                Event::IpUp { dns, wins, .. } => Some((dns, wins)),
                _ => None,
            })
            .expect("the peer's IPCP came up")
    };
    let wants_all = |c: &mut PeerConfig| {
        c.request_dns = true;
        c.request_wins = true;
    };
    // Both pairs from the verdict.
    let mut p = Pair::with(AuthProtocol::MsChapV2, "clientPass", |_| {}, wants_all);
    let (ticket, request) = p.last_request();
    let AuthVerdict::Accept(accept) = verify(&request, "clientPass") else {
        panic!("accepted");
    };
    let accept = accept
        .with_dns(Some(ip(53)), Some(ip(54)))
        .with_nbns(Some(ip(137)), None);
    assert!(p.resolve(ticket, AuthVerdict::Accept(accept)));
    assert!(p.link.verified_remotely());
    assert_eq!(
        up(&mut p),
        ([Some(ip(53)), Some(ip(54))], [Some(ip(137)), None]),
        "the verdict's servers; its missing secondary NBNS is not filled in"
    );
    // No name servers in the verdict: the configured DNS (server_config), no WINS.
    let mut q = Pair::with(AuthProtocol::Pap, "clientPass", |_| {}, wants_all);
    let (ticket, request) = q.last_request();
    assert!(q.resolve(ticket, verify(&request, "clientPass")));
    let configured = Some(Ipv4Addr::new(192, 168, 1, 3));
    assert_eq!(up(&mut q), ([configured, configured], [None, None]));
    // Only a primary DNS: it replaces the configured pair (no mixing with ours).
    let mut r = Pair::with(AuthProtocol::Chap, "clientPass", |_| {}, wants_all);
    let (ticket, _) = r.last_request();
    let accept = Accept::new().with_dns(Some(ip(53)), None);
    assert!(r.resolve(ticket, AuthVerdict::Accept(accept)));
    assert_eq!(up(&mut r), ([Some(ip(53)), None], [None, None]));
}
