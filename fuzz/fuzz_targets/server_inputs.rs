//! Arbitrary datagrams on every port, raw ESP, TUN packets, time steps and users reloads into
//! the whole `server::Server` (one of the two configurations of
//! `testkit::fuzz::fixtures::server_world`, by the first input octet): no panics, state stays
//! within the configured limits, and nothing is sent to a peer that never sent us anything.
//!
//! The input is a `testkit::fuzz::script::Step` script; the seed corpus holds whole recorded
//! connections of the testkit clients, which replay exactly against this server.
#![no_main]

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use testkit::fuzz::fixtures::{self, MAX_STEPS, SERVER_IP};
use testkit::fuzz::script::{Reader, Step};

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let Some(variant) = r.u8() else { return };
    let parts = fixtures::server_parts(variant);
    let limits = parts.config.limits;
    let mut now = Instant::now();
    let mut s = parts.build(now);
    let mut heard_from: HashSet<IpAddr> = HashSet::new();
    let mut buf = Vec::new();
    for _ in 0..MAX_STEPS {
        let Some(step) = Step::read(&mut r) else {
            break;
        };
        match step {
            Step::Udp {
                local,
                remote,
                data,
            } => {
                heard_from.insert(remote.ip());
                s.handle_udp(now, local, remote, data);
            }
            Step::Esp { remote, data } => {
                heard_from.insert(IpAddr::V4(remote));
                s.handle_esp(now, SERVER_IP, remote, data);
            }
            Step::Tun { data } => s.handle_tun(now, data),
            Step::Advance { ms } => {
                now += Duration::from_millis(u64::from(ms));
                s.handle_timeout(now);
            }
            Step::ReloadUsers => s.reload_users(now, parts.users.clone()),
            Step::Hold => {}
        }
        while let Some(t) = s.poll_transmit(&mut buf) {
            match t {
                server::Transmit::Udp { remote, .. } => {
                    assert!(
                        heard_from.contains(&remote.ip()),
                        "sent to a stranger: {remote}"
                    );
                }
                server::Transmit::Esp { remote, .. } => {
                    assert!(
                        heard_from.contains(&IpAddr::V4(remote)),
                        "sent to a stranger: {remote}"
                    );
                }
                _ => {}
            }
        }
        while s.poll_event().is_some() {}
        let _ = s.poll_timeout();
        let snap = s.snapshot(now);
        let peers = limits.max_peers as usize;
        let sessions =
            peers * limits.tunnels_per_peer as usize * limits.sessions_per_tunnel as usize;
        assert!(
            snap.sessions.len() <= sessions,
            "{} sessions",
            snap.sessions.len()
        );
        assert!(
            snap.pending_peers.len() <= peers + limits.half_open_ike_sas as usize,
            "{} pending peers",
            snap.pending_peers.len()
        );
    }
});
