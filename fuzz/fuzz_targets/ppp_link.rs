//! Arbitrary frames and time steps into the `ppp::Link` authenticator of
//! `testkit::fuzz::fixtures` (every protocol, PAP included), optionally after the fixture's
//! client brought it to the Network phase (header bit 0). Nothing may panic, IPv4 flows only
//! for an authenticated user with an address, and an accepted IPv4 packet comes from that
//! address.
//!
//! The input is a `testkit::fuzz::script::FrameStep` script (an empty frame only moves time);
//! the seed corpus holds PPP clients in the manner of the testkit profiles (MS-CHAPv2, CHAP,
//! MS-CHAPv1, PAP) negotiating with this very link, which replays exactly.
#![no_main]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use testkit::fuzz::fixtures::{self, MAX_STEPS};
use testkit::fuzz::script::FrameStep;

fuzz_target!(|data: &[u8]| {
    let (header, steps) = FrameStep::read_input(data);
    let mut now = Instant::now();
    let mut link = fixtures::ppp_link(now);
    if header & 1 != 0 {
        fixtures::ppp_link_open(&mut link, now);
    }
    for s in steps.iter().take(MAX_STEPS) {
        now += Duration::from_millis(u64::from(s.advance_ms));
        let out = fixtures::ppp_link_step(&mut link, now, s.data);
        if link.ip_up() {
            assert!(link.user().is_some(), "IP up without an authenticated user");
        }
        if let Some(ip) = out.ip {
            let src = ip
                .get(12..16)
                .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]));
            assert_eq!(
                src,
                link.assigned_address(),
                "a spoofed packet was accepted"
            );
        }
    }
    let _ = link.stats();
});
