//! Arbitrary frames and time steps into the client role, `ppp::Peer` (the
//! `testkit::fuzz::fixtures::ppp_peer` fixture, which accepts every protocol): it only runs in
//! tests and the simulated clients, but it parses what an authenticator sends, so it must not
//! panic either.
//!
//! The input is a `testkit::fuzz::script::FrameStep` script (an empty frame only moves time);
//! the seed corpus holds authenticators asking for MS-CHAPv2, CHAP, MS-CHAPv1 and PAP
//! negotiating with this very peer, which replays exactly.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use testkit::fuzz::fixtures::{self, MAX_STEPS};
use testkit::fuzz::script::FrameStep;

fuzz_target!(|data: &[u8]| {
    let (_, steps) = FrameStep::read_input(data);
    let mut now = Instant::now();
    let mut peer = fixtures::ppp_peer(now);
    for s in steps.iter().take(MAX_STEPS) {
        now += Duration::from_millis(u64::from(s.advance_ms));
        let _ = fixtures::ppp_peer_step(&mut peer, now, s.data);
    }
    let _ = (peer.stats(), peer.address());
});
