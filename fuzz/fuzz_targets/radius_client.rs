//! The RADIUS client engine fed a script of requests, datagrams from its servers and time
//! steps: it never panics, keeps its accounting queue within bounds, and never accepts a
//! response (an event) that was not signed with the server's secret and carried a
//! Message-Authenticator. Arbitrary datagrams cannot forge either, so no `AccessResponse`
//! event may appear.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use radius::attr::AcctStatusType;
use radius::client::{DynAuthClient, Event};
use radius::{Attribute, Client, ClientConfig, Server, SharedSecret};

fuzz_target!(|data: &[u8]| {
    let srv = |last: u8, port: u16| Server {
        address: SocketAddr::from(([192, 0, 2, last], port)),
        secret: SharedSecret::new("fuzz"),
    };
    let mut cfg = ClientConfig::new(vec![srv(1, 1812), srv(2, 1812)], vec![srv(1, 1813)]);
    cfg.accounting_queue = 8;
    cfg.dynauth_clients = vec![DynAuthClient {
        address: [192, 0, 2, 1].into(),
        secret: SharedSecret::new("fuzz"),
    }];
    let Ok(mut c) = Client::new(cfg, [0; 32]) else {
        return;
    };
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut input = data;
    while let Some((&op, rest)) = input.split_first() {
        input = rest;
        match op % 5 {
            0 => {
                let _ = c.send_access_request(now, vec![Attribute::UserName(b"u".to_vec())], Some(b"p"));
            }
            1 => {
                let _ = c.send_accounting_request(
                    now,
                    vec![
                        Attribute::AcctStatusType(AcctStatusType::Start),
                        Attribute::AcctSessionId(vec![op]),
                    ],
                );
            }
            2 => {
                now += Duration::from_millis(u64::from(op) * 50);
                c.handle_timeout(now);
            }
            _ => {
                let Some((&len, rest)) = input.split_first() else {
                    break;
                };
                let n = usize::from(len).min(rest.len());
                let (datagram, rest) = rest.split_at(n);
                input = rest;
                let from = match op % 3 {
                    0 => SocketAddr::from(([192, 0, 2, 1], 1812)),
                    1 => SocketAddr::from(([192, 0, 2, 1], 1813)),
                    _ => SocketAddr::from(([192, 0, 2, 2], 1812)),
                };
                // The Identifier of an in-flight request, often, so that matching is reached.
                let mut d = datagram.to_vec();
                if let Some(t) = c.poll_transmit() {
                    if d.len() >= 2 {
                        d[1] = t.payload[1];
                    }
                }
                let _ = c.handle_datagram(now, from, &d);
            }
        }
        while c.poll_transmit().is_some() {}
        while let Some(e) = c.poll_event() {
            assert!(!matches!(e, Event::AccessResponse(_) | Event::AccountingDone { .. }));
        }
        assert!(c.accounting_queued() <= 8);
    }
});
