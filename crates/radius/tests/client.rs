//! The client engine against a minimal in-memory server built from the public codec, with
//! explicit time steps.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use radius::attr::{AcctStatusType, ErrorCause, NasPortType, ServiceType};
use radius::auth::{self, MessageAuthenticator};
use radius::client::{DynAuthClient, Event, Stats, Transmit};
use radius::{
    Attribute, Client, ClientConfig, Code, Error, MsAttribute, Repr, Server, SharedSecret,
};

const T: Duration = radius::client::DEFAULT_TIMEOUT;

/// The test's time origin; later instants are derived from it by explicit steps.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), port)
}

fn server(last: u8, port: u16, secret: &str) -> Server {
    Server {
        address: addr(last, port),
        secret: SharedSecret::new(secret.as_bytes().to_vec()),
    }
}

fn config() -> ClientConfig {
    let mut cfg = ClientConfig::new(
        vec![server(1, 1812, "one"), server(2, 1812, "two")],
        vec![server(1, 1813, "one"), server(2, 1813, "two")],
    );
    cfg.nas_attributes = vec![Attribute::NasIdentifier(b"l2tpd-rs".to_vec())];
    cfg
}

fn client(cfg: ClientConfig) -> Client {
    Client::new(cfg, [7; 32]).unwrap()
}

fn secret_of(dest: SocketAddr) -> SharedSecret {
    SharedSecret::new(if dest.ip() == addr(1, 0).ip() {
        "one"
    } else {
        "two"
    })
}

fn transmits(c: &mut Client) -> Vec<Transmit> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

fn events(c: &mut Client) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// What a server answers: `code` with `attributes`, a Message-Authenticator first if `ma`.
fn answer(req: &Transmit, code: Code, attributes: Vec<Attribute>, ma: bool) -> Vec<u8> {
    let secret = secret_of(req.destination);
    auth::verify_request(&req.payload, &secret, MessageAuthenticator::Required).unwrap();
    let r = Repr::parse_bytes(&req.payload).unwrap();
    let mut all = Vec::new();
    if ma {
        all.push(Attribute::MessageAuthenticator([0; 16]));
    }
    all.extend(attributes);
    let mut p = Repr {
        code,
        identifier: r.identifier,
        authenticator: [0; 16],
        attributes: all,
    }
    .to_vec()
    .unwrap();
    auth::sign_response(&mut p, &r.authenticator, &secret).unwrap();
    p
}

fn access(c: &mut Client, now: Instant) -> radius::RequestId {
    c.send_access_request(
        now,
        vec![
            Attribute::UserName(b"alice".to_vec()),
            Attribute::NasPortType(NasPortType::Virtual),
            Attribute::ServiceType(ServiceType::Framed),
        ],
        Some(b"correct horse"),
    )
    .unwrap()
}

#[test]
fn access_accept_with_mschapv2_attributes_and_mppe_keys() {
    let now = origin();
    let mut c = client(config());
    let rid = access(&mut c, now);
    let [tx] = &transmits(&mut c)[..] else {
        panic!()
    };
    assert_eq!(tx.destination, addr(1, 1812));
    let req = Repr::parse_bytes(&tx.payload).unwrap();
    assert_eq!(req.code, Code::AccessRequest);
    // Message-Authenticator first, the NAS-Identifier added, the password hidden.
    assert!(matches!(
        req.attributes[0],
        Attribute::MessageAuthenticator(_)
    ));
    assert!(
        req.attributes
            .contains(&Attribute::NasIdentifier(b"l2tpd-rs".to_vec()))
    );
    let Some(Attribute::UserPassword(hidden)) = req
        .attributes
        .iter()
        .find(|a| matches!(a, Attribute::UserPassword(_)))
    else {
        panic!()
    };
    let pw = auth::reveal_password(hidden, &SharedSecret::new("one"), &req.authenticator).unwrap();
    assert_eq!(&*pw, b"correct horse");

    let secret = SharedSecret::new("one");
    let send_key: Vec<u8> = (0..16).collect();
    let recv_key: Vec<u8> = (16..32).collect();
    let enc =
        |k: &[u8], salt| auth::encrypt_mppe_key(k, &secret, &req.authenticator, salt).unwrap();
    let success = b"S=407A5589115FD0D6209F510FE9C04566932CDA56".to_vec();
    let reply = answer(
        tx,
        Code::AccessAccept,
        vec![
            Attribute::FramedIpAddress(Ipv4Addr::new(10, 9, 0, 5)),
            Attribute::Microsoft(MsAttribute::Chap2Success {
                ident: 3,
                message: success.clone(),
            }),
            Attribute::Microsoft(MsAttribute::MppeSendKey {
                salt: [0x80, 1],
                encrypted: enc(&send_key, [0x80, 1]),
            }),
            Attribute::Microsoft(MsAttribute::MppeRecvKey {
                salt: [0x80, 2],
                encrypted: enc(&recv_key, [0x80, 2]),
            }),
        ],
        true,
    );
    c.handle_datagram(now, tx.destination, &reply).unwrap();
    let [Event::AccessResponse(r)] = &events(&mut c)[..] else {
        panic!()
    };
    assert_eq!(r.request, rid);
    assert!(r.is_accept());
    assert_eq!(r.ms_chap2_success(), Some((3, &success[..])));
    assert_eq!(r.ms_chap_error(), None);
    let keys = r.mppe_keys.as_ref().unwrap();
    assert_eq!(&*keys.send, &send_key[..]);
    assert_eq!(&*keys.recv, &recv_key[..]);
    assert_eq!(format!("{keys:?}"), "MppeKeys(<16 + 16 bytes redacted>)");
    assert_eq!(c.poll_timeout(), None);
    // The same answer again is a duplicate: nobody waits for it.
    assert!(matches!(
        c.handle_datagram(now, tx.destination, &reply),
        Err(Error::Unexpected(_))
    ));
    assert_eq!(c.stats().unexpected, 1);
}

#[test]
fn blastradius_a_response_without_message_authenticator_is_refused() {
    let now = origin();
    let mut c = client(config());
    let rid = access(&mut c, now);
    let [tx] = &transmits(&mut c)[..] else {
        panic!()
    };
    // A valid Response Authenticator but no Message-Authenticator (CVE-2024-3596).
    for code in [
        Code::AccessAccept,
        Code::AccessReject,
        Code::AccessChallenge,
    ] {
        let bare = answer(tx, code, vec![], false);
        assert_eq!(
            c.handle_datagram(now, tx.destination, &bare),
            Err(Error::MissingMessageAuthenticator)
        );
    }
    // A Message-Authenticator, but a Response Authenticator from another secret.
    let mut forged = answer(tx, Code::AccessAccept, vec![], true);
    forged[4] ^= 1;
    assert_eq!(
        c.handle_datagram(now, tx.destination, &forged),
        Err(Error::BadAuthenticator)
    );
    // A correct Response Authenticator over a wrong Message-Authenticator.
    let mut p = Repr::parse_bytes(&answer(tx, Code::AccessAccept, vec![], true)).unwrap();
    p.attributes[0] = Attribute::MessageAuthenticator([1; 16]);
    let mut p = p.to_vec().unwrap();
    let ra = Repr::parse_bytes(&tx.payload).unwrap().authenticator;
    let a = auth::response_authenticator(&p, &ra, &SharedSecret::new("one"));
    p[4..20].copy_from_slice(&a);
    assert_eq!(
        c.handle_datagram(now, tx.destination, &p),
        Err(Error::BadMessageAuthenticator)
    );
    assert!(events(&mut c).is_empty());
    let s = c.stats();
    assert_eq!(
        (s.missing_message_authenticator, s.bad_authenticator),
        (3, 2)
    );
    // The request still waits, and a proper answer is taken.
    let good = answer(tx, Code::AccessReject, vec![], true);
    c.handle_datagram(now, tx.destination, &good).unwrap();
    let [Event::AccessResponse(r)] = &events(&mut c)[..] else {
        panic!()
    };
    assert_eq!((r.request, r.code), (rid, Code::AccessReject));
}

#[test]
fn datagrams_from_elsewhere_and_garbage_are_dropped() {
    let now = origin();
    let mut c = client(config());
    access(&mut c, now);
    let [tx] = &transmits(&mut c)[..] else {
        panic!()
    };
    let good = answer(tx, Code::AccessAccept, vec![], true);
    // Another host, and the right host from another port.
    assert_eq!(
        c.handle_datagram(now, addr(9, 1812), &good),
        Err(Error::UnknownServer)
    );
    assert_eq!(
        c.handle_datagram(now, addr(1, 1813), &good),
        Err(Error::UnknownServer)
    );
    // The other server of the list never got this request.
    assert!(matches!(
        c.handle_datagram(now, addr(2, 1812), &good),
        Err(Error::Unexpected(_))
    ));
    assert!(matches!(
        c.handle_datagram(now, tx.destination, &good[..10]),
        Err(Error::Malformed(_))
    ));
    // Codes a NAS never accepts.
    let mut req = good.clone();
    req[0] = 1;
    assert!(matches!(
        c.handle_datagram(now, tx.destination, &req),
        Err(Error::Unexpected(_))
    ));
    // A broken attribute chain (an attribute of Length 1) under a valid header is refused.
    let mut broken = good.clone();
    broken.extend_from_slice(&[18, 1]);
    broken[3] += 2;
    let ra = Repr::parse_bytes(&tx.payload).unwrap().authenticator;
    let a = auth::response_authenticator(&broken, &ra, &SharedSecret::new("one"));
    broken[4..20].copy_from_slice(&a);
    assert!(matches!(
        c.handle_datagram(now, tx.destination, &broken),
        Err(Error::Malformed(_))
    ));
    let s = c.stats().clone();
    assert_eq!((s.unknown_server, s.malformed, s.unexpected), (2, 2, 2));
    c.handle_datagram(now, tx.destination, &good).unwrap();
}

#[test]
fn retransmit_then_fail_over_then_fail() {
    let t0 = origin();
    let mut c = client(config());
    let rid = access(&mut c, t0);
    let first = transmits(&mut c).remove(0);
    assert_eq!(c.poll_timeout(), Some(t0 + T));
    // Early and spurious timeouts do nothing.
    c.handle_timeout(t0 + T / 2);
    assert!(transmits(&mut c).is_empty());
    // Two retransmissions, byte for byte (RFC 5080 §2.2.1).
    for k in 1..=2u32 {
        c.handle_timeout(t0 + T * k);
        assert_eq!(transmits(&mut c), vec![first.clone()]);
    }
    // Then the next server, with a new authenticator and the password under its secret.
    c.handle_timeout(t0 + T * 3);
    let [second] = &transmits(&mut c)[..] else {
        panic!()
    };
    assert_eq!(second.destination, addr(2, 1812));
    let r1 = Repr::parse_bytes(&first.payload).unwrap();
    let r2 = Repr::parse_bytes(&second.payload).unwrap();
    assert_ne!(r1.authenticator, r2.authenticator);
    let hidden = r2
        .find(|a| match a {
            Attribute::UserPassword(h) => Some(h.clone()),
            _ => None,
        })
        .unwrap();
    let pw = auth::reveal_password(&hidden, &SharedSecret::new("two"), &r2.authenticator).unwrap();
    assert_eq!(&*pw, b"correct horse");
    assert_eq!(
        events(&mut c),
        vec![Event::ServerDown {
            address: addr(1, 1812)
        }]
    );
    // A late answer from the first server is dropped: the request moved on.
    let late = answer(&first, Code::AccessAccept, vec![], true);
    assert!(matches!(
        c.handle_datagram(t0 + T * 3, first.destination, &late),
        Err(Error::Unexpected(_))
    ));
    for k in 4..=5u32 {
        c.handle_timeout(t0 + T * k);
        assert_eq!(transmits(&mut c).len(), 1);
    }
    c.handle_timeout(t0 + T * 6);
    assert!(transmits(&mut c).is_empty());
    assert_eq!(
        events(&mut c),
        vec![
            Event::ServerDown {
                address: addr(2, 1812)
            },
            Event::AccessFailed {
                request: rid,
                error: Error::NoResponse
            }
        ]
    );
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.stats().access_failed, 1);
    assert_eq!(c.stats().retransmits, 4);
}

#[test]
fn a_dead_server_is_skipped_then_tried_again() {
    let t0 = origin();
    let mut cfg = config();
    cfg.retries = 0;
    let dead_time = cfg.dead_time;
    let mut c = client(cfg);
    access(&mut c, t0);
    transmits(&mut c);
    c.handle_timeout(t0 + T);
    let [to2] = &transmits(&mut c)[..] else {
        panic!()
    };
    assert_eq!(to2.destination, addr(2, 1812));
    // New requests go straight to the second server while the first is dead.
    let t1 = t0 + T + Duration::from_secs(1);
    access(&mut c, t1);
    assert_eq!(transmits(&mut c)[0].destination, addr(2, 1812));
    // After dead_time the first is preferred again, and it answering revives it.
    let t2 = t0 + T + dead_time;
    access(&mut c, t2);
    let [back] = &transmits(&mut c)[..] else {
        panic!()
    };
    assert_eq!(back.destination, addr(1, 1812));
    events(&mut c);
    let ok = answer(back, Code::AccessAccept, vec![], true);
    c.handle_datagram(t2, back.destination, &ok).unwrap();
    let ev = events(&mut c);
    assert_eq!(
        ev[0],
        Event::ServerUp {
            address: addr(1, 1812)
        }
    );
    assert!(matches!(ev[1], Event::AccessResponse(_)));
}

#[test]
fn identifiers_are_per_server_and_256_at_most() {
    let now = origin();
    let mut cfg = config();
    cfg.auth_servers.truncate(1);
    let mut c = client(cfg);
    let mut ids = std::collections::BTreeSet::new();
    let mut sent = Vec::new();
    for _ in 0..256 {
        access(&mut c, now);
        let tx = transmits(&mut c).remove(0);
        ids.insert(tx.payload[1]);
        sent.push(tx);
    }
    assert_eq!(ids.len(), 256);
    // The 257th waits for an Identifier.
    let waiting = access(&mut c, now);
    assert!(transmits(&mut c).is_empty());
    // One answer frees one: the waiting request goes out with it.
    let ok = answer(&sent[10], Code::AccessAccept, vec![], true);
    c.handle_datagram(now, sent[10].destination, &ok).unwrap();
    let [tx] = &transmits(&mut c)[..] else {
        panic!()
    };
    assert_eq!(tx.payload[1], sent[10].payload[1]);
    // An answer to the old request with that Identifier no longer verifies.
    assert_eq!(
        c.handle_datagram(now, tx.destination, &ok),
        Err(Error::BadAuthenticator)
    );
    let fresh = answer(tx, Code::AccessReject, vec![], true);
    c.handle_datagram(now, tx.destination, &fresh).unwrap();
    let ev = events(&mut c);
    assert!(matches!(&ev[1], Event::AccessResponse(r) if r.request == waiting));
}

fn acct(c: &mut Client, now: Instant, session: &str) -> radius::RequestId {
    c.send_accounting_request(
        now,
        vec![
            Attribute::AcctStatusType(AcctStatusType::Start),
            Attribute::AcctSessionId(session.as_bytes().to_vec()),
            Attribute::UserName(b"alice".to_vec()),
        ],
    )
    .unwrap()
}

fn delay_of(tx: &Transmit) -> u32 {
    Repr::parse_bytes(&tx.payload)
        .unwrap()
        .find(|a| match a {
            Attribute::AcctDelayTime(d) => Some(*d),
            _ => None,
        })
        .unwrap()
}

#[test]
fn accounting_delay_time_changes_the_identifier_and_authenticator() {
    let t0 = origin();
    let mut c = client(config());
    let rid = acct(&mut c, t0, "s-1");
    let first = transmits(&mut c).remove(0);
    assert_eq!(first.destination, addr(1, 1813));
    assert_eq!(delay_of(&first), 0);
    auth::verify_request(
        &first.payload,
        &SharedSecret::new("one"),
        MessageAuthenticator::Required,
    )
    .unwrap();
    c.handle_timeout(t0 + T);
    let second = transmits(&mut c).remove(0);
    assert_eq!(delay_of(&second), 3);
    assert_ne!(second.payload[1], first.payload[1]);
    assert_ne!(second.payload[4..20], first.payload[4..20]);
    auth::verify_request(
        &second.payload,
        &SharedSecret::new("one"),
        MessageAuthenticator::Required,
    )
    .unwrap();
    let r = Repr::parse_bytes(&second.payload).unwrap();
    assert!(
        r.attributes
            .contains(&Attribute::AcctSessionId(b"s-1".to_vec()))
    );
    // An answer to the first transmission comes too late: its Identifier was released.
    let old = answer(&first, Code::AccountingResponse, vec![], false);
    assert!(c.handle_datagram(t0 + T, first.destination, &old).is_err());
    // Accounting-Response without Message-Authenticator is accepted (the default policy).
    let ok = answer(&second, Code::AccountingResponse, vec![], false);
    c.handle_datagram(t0 + T, second.destination, &ok).unwrap();
    assert_eq!(events(&mut c), vec![Event::AccountingDone { request: rid }]);
    assert_eq!(c.accounting_queued(), 0);
}

#[test]
fn a_callers_delay_is_kept_and_a_same_second_retransmission_is_identical() {
    let t0 = origin();
    let mut cfg = config();
    cfg.timeout = Duration::from_millis(300);
    let mut c = client(cfg);
    c.send_accounting_request(
        t0,
        vec![
            Attribute::AcctStatusType(AcctStatusType::Stop),
            Attribute::AcctSessionId(b"s-2".to_vec()),
            Attribute::AcctDelayTime(10),
        ],
    )
    .unwrap();
    let first = transmits(&mut c).remove(0);
    assert_eq!(delay_of(&first), 10);
    c.handle_timeout(t0 + Duration::from_millis(300));
    assert_eq!(transmits(&mut c), vec![first.clone()]);
    c.handle_timeout(t0 + Duration::from_millis(1200));
    assert_eq!(delay_of(&transmits(&mut c)[0]), 11);
}

#[test]
fn accounting_survives_an_outage_in_order_and_is_bounded() {
    let t0 = origin();
    let mut cfg = config();
    cfg.accounting_queue = 5;
    cfg.retries = 0;
    let mut c = client(cfg);
    let ids: Vec<_> = (0..5)
        .map(|i| acct(&mut c, t0, &format!("s-{i}")))
        .collect();
    assert_eq!(
        c.send_accounting_request(
            t0,
            vec![
                Attribute::AcctStatusType(AcctStatusType::Start),
                Attribute::AcctSessionId(b"x".to_vec())
            ]
        ),
        Err(Error::QueueFull)
    );
    assert_eq!(c.stats().accounting_refused, 1);
    assert_eq!(transmits(&mut c).len(), 5);
    // Both servers stop answering: afterwards only one record probes at a time.
    let mut now = t0;
    for _ in 0..20 {
        now += T;
        c.handle_timeout(now);
        let out = transmits(&mut c);
        assert!(out.len() <= 5);
    }
    let out = {
        now += T;
        c.handle_timeout(now);
        transmits(&mut c)
    };
    assert_eq!(out.len(), 1, "one probe while every server is dead");
    assert_eq!(c.accounting_queued(), 5);
    // The server comes back: the probe is answered, the rest follow, oldest first.
    let probe = &out[0];
    let ok = answer(probe, Code::AccountingResponse, vec![], true);
    c.handle_datagram(now, probe.destination, &ok).unwrap();
    let rest = transmits(&mut c);
    assert_eq!(rest.len(), 4);
    let mut sessions = vec![];
    for tx in [probe].into_iter().chain(&rest) {
        let r = Repr::parse_bytes(&tx.payload).unwrap();
        sessions.push(
            r.find(|a| match a {
                Attribute::AcctSessionId(s) => Some(String::from_utf8(s.clone()).unwrap()),
                _ => None,
            })
            .unwrap(),
        );
        assert!(delay_of(tx) >= 60);
    }
    assert_eq!(sessions, ["s-0", "s-1", "s-2", "s-3", "s-4"]);
    for tx in &rest {
        let ok = answer(tx, Code::AccountingResponse, vec![], false);
        c.handle_datagram(now, tx.destination, &ok).unwrap();
    }
    let done: Vec<_> = events(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            Event::AccountingDone { request } => Some(request),
            _ => None,
        })
        .collect();
    assert_eq!(done, ids);
    assert_eq!(c.accounting_queued(), 0);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn cancel_forgets_a_request() {
    let now = origin();
    let mut c = client(config());
    let rid = access(&mut c, now);
    let tx = transmits(&mut c).remove(0);
    assert!(c.cancel(rid));
    assert!(!c.cancel(rid));
    assert_eq!(c.poll_timeout(), None);
    let ok = answer(&tx, Code::AccessAccept, vec![], true);
    assert!(c.handle_datagram(now, tx.destination, &ok).is_err());
    let a = acct(&mut c, now, "s");
    assert!(c.cancel(a));
    assert_eq!(c.accounting_queued(), 0);
}

#[test]
fn api_misuse_is_refused() {
    let now = origin();
    let mut cfg = config();
    cfg.auth_servers[0].secret = SharedSecret::new("");
    assert!(matches!(
        Client::new(cfg, [0; 32]),
        Err(Error::ApiMisuse(_))
    ));
    let mut c = client(config());
    assert!(matches!(
        c.send_access_request(now, vec![Attribute::MessageAuthenticator([0; 16])], None),
        Err(Error::ApiMisuse(_))
    ));
    assert!(matches!(
        c.send_access_request(now, vec![], Some(&[0; 129])),
        Err(Error::ApiMisuse(_))
    ));
    assert!(matches!(
        c.send_accounting_request(now, vec![Attribute::AcctStatusType(AcctStatusType::Start)]),
        Err(Error::ApiMisuse(_))
    ));
    // Too long for one packet: refused up front.
    assert!(matches!(
        c.send_access_request(now, vec![Attribute::Class(vec![1; 253]); 17], None),
        Err(Error::Malformed(_))
    ));
    let mut none = ClientConfig::new(vec![], vec![]);
    none.timeout = Duration::from_secs(1);
    let mut c = client(none);
    assert!(matches!(
        c.send_access_request(now, vec![], None),
        Err(Error::ApiMisuse(_))
    ));
    assert_eq!(c.stats(), &Stats::default());
}

#[test]
fn seeded_clients_are_deterministic() {
    let now = origin();
    let mut a = client(config());
    let mut b = client(config());
    access(&mut a, now);
    access(&mut b, now);
    assert_eq!(transmits(&mut a), transmits(&mut b));
    let mut other = Client::new(config(), [8; 32]).unwrap();
    access(&mut other, now);
    assert_ne!(
        transmits(&mut other)[0].payload,
        transmits(&mut a)
            .first()
            .map_or(vec![], |t| t.payload.clone())
    );
}

fn dynauth_config() -> ClientConfig {
    let mut cfg = config();
    cfg.dynauth_clients = vec![DynAuthClient {
        address: addr(1, 0).ip(),
        secret: SharedSecret::new("dae"),
    }];
    cfg
}

fn disconnect(secret: &str, with_ma: bool) -> Vec<u8> {
    let mut attributes = vec![
        Attribute::AcctSessionId(b"s-9".to_vec()),
        Attribute::ProxyState(vec![1, 2]),
    ];
    if with_ma {
        attributes.insert(0, Attribute::MessageAuthenticator([0; 16]));
    }
    let mut p = Repr {
        code: Code::DisconnectRequest,
        identifier: 77,
        authenticator: [0; 16],
        attributes,
    }
    .to_vec()
    .unwrap();
    auth::sign_request(&mut p, &SharedSecret::new(secret)).unwrap();
    p
}

#[test]
fn disconnect_request_is_verified_and_answered() {
    let now = origin();
    let mut c = client(dynauth_config());
    let from = addr(1, 40000);
    for with_ma in [false, true] {
        c.handle_datagram(now, from, &disconnect("dae", with_ma))
            .unwrap();
        let [Event::DynamicRequest(d)] = &events(&mut c)[..] else {
            panic!()
        };
        assert_eq!(
            (d.code, d.identifier, d.from),
            (Code::DisconnectRequest, 77, from)
        );
        c.respond(
            d,
            false,
            vec![Attribute::ErrorCause(ErrorCause::SessionContextNotFound)],
        )
        .unwrap();
        let [tx] = &transmits(&mut c)[..] else {
            panic!()
        };
        assert_eq!(tx.destination, from);
        let req_auth = Repr::parse_bytes(&disconnect("dae", with_ma))
            .unwrap()
            .authenticator;
        auth::verify_response(
            &tx.payload,
            &req_auth,
            &SharedSecret::new("dae"),
            MessageAuthenticator::Required,
        )
        .unwrap();
        let r = Repr::parse_bytes(&tx.payload).unwrap();
        assert_eq!((r.code, r.identifier), (Code::DisconnectNak, 77));
        assert!(
            r.attributes
                .contains(&Attribute::ErrorCause(ErrorCause::SessionContextNotFound))
        );
        // Proxy-State echoed (RFC 2865 §5.33).
        assert_eq!(
            r.attributes.last(),
            Some(&Attribute::ProxyState(vec![1, 2]))
        );
    }
    assert_eq!(
        c.handle_datagram(now, from, &disconnect("wrong", false)),
        Err(Error::BadAuthenticator)
    );
    assert_eq!(
        c.handle_datagram(now, addr(3, 40000), &disconnect("dae", false)),
        Err(Error::UnknownServer)
    );
    // A CoA-Request is answered with CoA-ACK.
    let mut coa = Repr::parse_bytes(&disconnect("dae", true)).unwrap();
    coa.code = Code::CoaRequest;
    coa.attributes.push(Attribute::SessionTimeout(600));
    let mut coa = coa.to_vec().unwrap();
    auth::sign_request(&mut coa, &SharedSecret::new("dae")).unwrap();
    c.handle_datagram(now, from, &coa).unwrap();
    let [Event::DynamicRequest(d)] = &events(&mut c)[..] else {
        panic!()
    };
    c.respond(d, true, vec![]).unwrap();
    assert_eq!(transmits(&mut c)[0].payload[0], u8::from(Code::CoaAck));
    assert_eq!(c.stats().dynamic_requests, 3);
}

#[test]
fn secrets_never_show_in_debug() {
    let mut cfg = dynauth_config();
    cfg.auth_servers[0].secret = SharedSecret::new("hunter2-secret");
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("dae\""), "{shown}");
    let c = client(cfg);
    assert!(!format!("{c:?}").contains("hunter2"));
}
