//! Arbitrary datagrams and time steps into an IKEv1 responder: no panics, bounded state.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Step {
    Datagram { from_port: u8, to_4500: bool, data: Vec<u8> },
    Advance { secs: u16 },
}

fuzz_target!(|steps: Vec<Step>| {
    let mut cfg = ike::ResponderConfig::new(crypto::Secret::from_slice(b"vpn"));
    cfg.max_half_open = 8;
    let mut r = ike::Responder::new(cfg, [7; 32]);
    let mut now = Instant::now();
    for step in steps.into_iter().take(64) {
        match step {
            Step::Datagram { from_port, to_4500, data } => {
                let local: SocketAddr = if to_4500 { "192.0.2.1:4500" } else { "192.0.2.1:500" }.parse().unwrap();
                let remote = SocketAddr::new("203.0.113.9".parse().unwrap(), 1000 + u16::from(from_port));
                r.handle_datagram(now, local, remote, &data);
            }
            Step::Advance { secs } => {
                now += Duration::from_secs(u64::from(secs));
                r.handle_timeout(now);
            }
        }
        while r.poll_transmit().is_some() {}
        while r.poll_event().is_some() {}
        let _ = r.poll_timeout();
        assert!(r.peers(now).len() <= 8 + 64);
    }
});
