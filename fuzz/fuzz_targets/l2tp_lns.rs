//! Feeds arbitrary datagrams and time steps into an LNS whose tunnel and session are already
//! up (the `testkit::fuzz::fixtures::LnsFixture`, with the tunnel secret when the header octet's
//! bit 0 is set), then drains every output. It must never panic, a data message it accepts
//! must be a slice of the input, and no timer may be left overdue.
//!
//! The input is a `testkit::fuzz::script::FrameStep` script (flag bit 0: from UDP port 1701,
//! bit 1: aimed at the live tunnel); the seed corpus holds LACs in the manner of the testkit
//! profiles opening a second tunnel and session on this very LNS, which replays exactly.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use testkit::fuzz::fixtures::{LnsFixture, MAX_STEPS};
use testkit::fuzz::script::FrameStep;

fuzz_target!(|data: &[u8]| {
    let (header, steps) = FrameStep::read_input(data);
    let mut now = Instant::now();
    let mut fx = LnsFixture::new(header & 1 != 0, now);
    for step in steps.iter().take(MAX_STEPS) {
        now += Duration::from_millis(u64::from(step.advance_ms));
        let out = fx.step(now, step);
        assert_ne!(out.data, Some(false), "a data frame outside its datagram");
        let _ = fx.lns.sessions();
        // Every timer due at `now` was run: nothing pending may lie at or before it.
        if let Some(t) = fx.lns.poll_timeout() {
            assert!(t > now, "stale timer");
        }
    }
    fx.lns.close_all(now);
    while fx.lns.poll_transmit().is_some() {}
    fx.lns.handle_timeout(now + Duration::from_secs(3600));
    while fx.lns.poll_event().is_some() {}
    assert_eq!(fx.lns.tunnel_count(), 0);
    assert_eq!(
        fx.lns.poll_timeout(),
        None,
        "every tunnel is gone after shutdown"
    );
});
