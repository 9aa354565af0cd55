//! Arbitrary IKE datagrams (plain ISAKMP, as the server hands them over after the non-ESP
//! marker) and time steps into the `testkit::fuzz::fixtures::ike_responder` fixture: no panics,
//! bounded state, and nothing sent to an address we never heard from.
//!
//! The input is a `testkit::fuzz::script::Step` script (datagrams to ports other than 500 and
//! 4500 are skipped); the seed corpus holds the testkit clients' whole exchanges with this very
//! responder (Main Mode, Quick Mode, rekeys, Delete, DPD), which replay exactly.
#![no_main]

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use testkit::fuzz::fixtures::{self, MAX_STEPS};
use testkit::fuzz::script::Step;

fuzz_target!(|data: &[u8]| {
    let mut r = fixtures::ike_responder();
    let mut now = Instant::now();
    let mut heard_from: HashSet<IpAddr> = HashSet::new();
    for (i, step) in Step::read_all(data).into_iter().take(MAX_STEPS).enumerate() {
        match step {
            Step::Udp {
                local,
                remote,
                data,
            } if matches!(local.port(), 500 | 4500) => {
                heard_from.insert(remote.ip());
                r.handle_datagram(now, local, remote, data);
            }
            Step::Advance { ms } => {
                now += Duration::from_millis(u64::from(ms));
                r.handle_timeout(now);
            }
            _ => continue,
        }
        while let Some(t) = r.poll_transmit() {
            assert!(
                heard_from.contains(&t.remote.ip()),
                "sent to a stranger: {}",
                t.remote
            );
        }
        while r.poll_event().is_some() {}
        let _ = r.poll_timeout();
        // At most 8 half-open SAs, plus one established SA per datagram at most.
        assert!(r.peers(now).len() <= 8 + i + 1);
    }
});
