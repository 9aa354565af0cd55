//! Arbitrary datagrams on every port, raw ESP, TUN packets and time steps into the whole
//! `server::Server`: no panics, the snapshot stays consistent, and nothing is sent to a peer
//! that never sent us anything.
#![no_main]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Step {
    Udp { port: u8, from: u8, data: Vec<u8> },
    Esp { from: u8, data: Vec<u8> },
    Tun { data: Vec<u8> },
    Advance { secs: u16 },
    ReloadUsers,
}

const CONFIG: &str = "listen:\n  addresses: [192.0.2.1]\n  raw_esp: true\npsk: fuzz-pre-shared-key\n\
pool:\n  cidr: 10.99.0.0/24\nlimits:\n  half_open_ike_sas: 8\n  max_peers: 16\n";
const USERS: &str = "users:\n  - name: alice\n    password: alice-pass\n";

fn setup() -> &'static (config::ServerConfig, config::users::Users) {
    static S: OnceLock<(config::ServerConfig, config::users::Users)> = OnceLock::new();
    S.get_or_init(|| {
        let (file, _) = config::Config::from_yaml_str(CONFIG, Path::new("l2tpd.yaml")).unwrap();
        let users =
            config::users::Users::from_yaml_str(USERS, Path::new("users.yaml"), &file.server.pool)
                .unwrap();
        (file.server, users)
    })
}

fn peer(from: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, from % 8))
}

fuzz_target!(|steps: Vec<Step>| {
    let (config, users) = setup();
    let now0 = Instant::now();
    let mut now = now0;
    let mut s = server::Server::new(config.clone(), users.clone(), [3; 32], now);
    let local = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut heard_from: HashSet<IpAddr> = HashSet::new();
    let mut buf = Vec::new();
    for step in steps.into_iter().take(64) {
        match step {
            Step::Udp { port, from, data } => {
                let dst = match port % 4 {
                    0 => 500,
                    1 => 4500,
                    2 => 1701,
                    _ => 9999,
                };
                let remote = SocketAddr::new(peer(from), 500 + u16::from(from));
                heard_from.insert(remote.ip());
                s.handle_udp(now, SocketAddr::new(local, dst), remote, &data);
            }
            Step::Esp { from, data } => {
                let IpAddr::V4(remote) = peer(from) else { unreachable!() };
                heard_from.insert(IpAddr::V4(remote));
                s.handle_esp(now, Ipv4Addr::new(192, 0, 2, 1), remote, &data);
            }
            Step::Tun { data } => s.handle_tun(now, &data),
            Step::Advance { secs } => {
                now += Duration::from_secs(u64::from(secs));
                s.handle_timeout(now);
            }
            Step::ReloadUsers => s.reload_users(now, users.clone()),
        }
        while let Some(t) = s.poll_transmit(&mut buf) {
            match t {
                server::Transmit::Udp { remote, .. } => {
                    assert!(heard_from.contains(&remote.ip()), "sent to a stranger: {remote}");
                }
                server::Transmit::Esp { remote, .. } => {
                    assert!(heard_from.contains(&IpAddr::V4(remote)), "sent to a stranger");
                }
                _ => {}
            }
        }
        while s.poll_event().is_some() {}
        let _ = s.poll_timeout();
        let snap = s.snapshot(now);
        assert!(snap.sessions.len() + snap.pending_peers.len() <= 64);
    }
});
