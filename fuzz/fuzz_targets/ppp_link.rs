//! Arbitrary frames and time steps into a `ppp::Link` authenticator, optionally after a real
//! client brought it to the Network phase. Nothing may panic.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ppp::{Authenticator, Credential, Link, LinkConfig, Lookup, Peer, PeerConfig};

#[derive(Debug, Arbitrary)]
struct Input {
    open_first: bool,
    steps: Vec<(u16, Vec<u8>)>,
}

struct Users;

impl Authenticator for Users {
    fn lookup(&mut self, user: &str) -> Lookup {
        match user {
            "User" => Lookup::Found(Credential::password("clientPass")),
            "off" => Lookup::Disabled,
            _ => Lookup::NotFound,
        }
    }

    fn assign_address(&mut self, _: &str, _: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        Some(Ipv4Addr::new(10, 0, 0, 2))
    }
}

fn origin() -> Instant {
    static T: OnceLock<Instant> = OnceLock::new();
    *T.get_or_init(Instant::now)
}

fuzz_target!(|input: Input| {
    let mut now = origin();
    let cfg = LinkConfig { dns: [Some(Ipv4Addr::new(10, 0, 0, 1)), None], ..LinkConfig::default() };
    let mut link = Link::new(&cfg, [7; 32], now);
    let mut users = Users;
    if input.open_first {
        let mut peer = Peer::new(&PeerConfig::new("User", "clientPass"), [8; 32], now);
        for _ in 0..50 {
            let mut moved = false;
            while let Some(f) = link.poll_transmit() {
                moved = true;
                let _ = peer.handle_frame(now, &f);
            }
            while let Some(f) = peer.poll_transmit() {
                moved = true;
                let _ = link.handle_frame(now, &f, &mut users);
            }
            if !moved {
                break;
            }
        }
    }
    for (ms, frame) in input.steps.iter().take(64) {
        now += Duration::from_millis(u64::from(*ms) * 16);
        if let Some(t) = link.poll_timeout() {
            if t <= now {
                link.handle_timeout(now);
            }
        }
        let _ = link.handle_frame(now, frame, &mut users);
        while link.poll_transmit().is_some() {}
        while link.poll_event().is_some() {}
        let mut out = Vec::new();
        let _ = link.encapsulate_ip(frame, &mut out);
    }
    let _ = link.stats();
});
