//! Feeds arbitrary datagrams and time steps into an LNS whose tunnel and session are already
//! up (brought up with the in-crate LAC), then drains every output. It must never panic, and
//! a data message it accepts must be a slice of the input.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use l2tp::{Lac, LacConfig, Lns, LnsConfig, TunnelSecret};

#[derive(Debug, Arbitrary)]
struct Input {
    secret: bool,
    steps: Vec<Step>,
}

#[derive(Debug, Arbitrary)]
struct Step {
    advance_ms: u16,
    port: bool,
    /// Overwrite the header's tunnel ID with the live tunnel's ID.
    aim: bool,
    datagram: Vec<u8>,
}

fn drain(lac: &mut Lac, lns: &mut Lns, now: Instant) {
    for _ in 0..16 {
        let mut moved = false;
        while let Some(t) = lac.poll_transmit() {
            let _ = lns.handle_datagram(now, 1701, &t.payload);
            moved = true;
        }
        while let Some(t) = lns.poll_transmit() {
            let _ = lac.handle_datagram(now, 1701, &t.payload);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    while lac.poll_event().is_some() {}
    while lns.poll_event().is_some() {}
}

fuzz_target!(|input: Input| {
    let mut now = Instant::now();
    let secret = input.secret.then(|| TunnelSecret::new("fuzz"));
    let mut lns = Lns::new(LnsConfig { secret: secret.clone(), ..LnsConfig::default() }, [1; 32]);
    let mut lac = Lac::new(LacConfig { secret, tunnel_id: Some(7), first_session_id: Some(1), ..LacConfig::default() }, [2; 32]);
    let tid = lac.connect(now, 1701).unwrap();
    drain(&mut lac, &mut lns, now);
    let _ = lac.open_session(now, tid);
    drain(&mut lac, &mut lns, now);
    let live = lns.sessions().first().map(|s| s.key);

    for step in input.steps.iter().take(64) {
        now += Duration::from_millis(u64::from(step.advance_ms));
        lns.handle_timeout(now);
        let mut d = step.datagram.clone();
        if let (true, Some(key)) = (step.aim, live) {
            if d.len() >= 6 {
                let at = if d[0] & 0x40 != 0 { 4 } else { 2 };
                d[at..at + 2].copy_from_slice(&key.tunnel.to_be_bytes());
            }
        }
        let port = if step.port { 1701 } else { 40_000 };
        if let Ok(Some(data)) = lns.handle_datagram(now, port, &d) {
            let range = d.as_ptr_range();
            assert!(range.contains(&data.frame.as_ptr()) || data.frame.is_empty());
        }
        while lns.poll_transmit().is_some() {}
        while lns.poll_event().is_some() {}
        if let Some(key) = live {
            let mut out = Vec::new();
            let _ = lns.encode_data(key, &d, &mut out);
        }
        let _ = lns.sessions();
        // Every timer due at `now` was run: nothing pending may lie at or before it.
        if let Some(t) = lns.poll_timeout() {
            assert!(t > now, "stale timer");
        }
    }
    lns.close_all(now);
    while lns.poll_transmit().is_some() {}
    lns.handle_timeout(now + Duration::from_secs(3600));
    while lns.poll_event().is_some() {}
    assert_eq!(lns.tunnel_count(), 0);
    assert_eq!(lns.poll_timeout(), None, "every tunnel is gone after shutdown");
});
