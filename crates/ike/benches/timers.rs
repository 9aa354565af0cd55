//! What one call costs when the responder holds many IKE SAs: `poll_timeout`, a
//! `handle_timeout` with nothing due, `note_activity`, and one more Main Mode message 1.
//!
//! `cargo bench -p ike --bench timers` prints nanoseconds per call for 1,000, 10,000 and
//! 100,000 half-open SAs (Windows 10 shaped MM1s from distinct 4-tuples, answered with MM2).
//! The cost must not grow with the number of SAs (every timer lives in a deadline structure).
//! Each figure is the best of three runs (the machine is shared).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crypto::Secret;
use crypto::cipher::CipherAlg;
use crypto::dh::DhGroup;
use crypto::hash::HashAlg;
use ike::{
    FourTuple, Initiator, InitiatorConfig, Lifetime, Phase1Suite, Responder, ResponderConfig,
};

#[allow(clippy::disallowed_methods)] // A benchmark measures wall-clock time.
fn clock() -> Instant {
    Instant::now()
}

fn p1(cipher: CipherAlg, group: DhGroup) -> Phase1Suite {
    Phase1Suite {
        cipher,
        hash: HashAlg::Sha1,
        group,
        lifetime: Lifetime {
            secs: 28800,
            kb: None,
        },
    }
}

/// A Windows 10 shaped Main Mode message 1 (six transforms, six Vendor IDs).
fn mm1() -> Vec<u8> {
    let config = InitiatorConfig {
        psk: Secret::from_slice(b"bench"),
        local: "192.0.2.1:500".parse().expect("address"),
        remote: "198.51.100.1:500".parse().expect("address"),
        ike_proposals: vec![
            p1(CipherAlg::Aes256, DhGroup::Ecp384),
            p1(CipherAlg::Aes128, DhGroup::Ecp256),
            p1(CipherAlg::Aes256, DhGroup::Modp2048),
            p1(CipherAlg::Aes128, DhGroup::Modp2048),
            p1(CipherAlg::TripleDes, DhGroup::Modp2048),
            p1(CipherAlg::TripleDes, DhGroup::Modp1024),
        ],
        esp_proposals: Vec::new(),
        vendor_ids: vec![
            ike::vendor::ms_nt5(9),
            ike::vendor::RFC3947.to_vec(),
            ike::vendor::DRAFT_02N.to_vec(),
            ike::vendor::FRAGMENTATION.to_vec(),
            ike::vendor::MS_INITIAL_CONTACT.to_vec(),
            vec![
                0x01, 0x52, 0x8b, 0xbb, 0xc0, 0x06, 0x96, 0x12, 0x18, 0x49, 0xab, 0x9a, 0x1c, 0x5a,
                0x2b, 0x51, 0x00, 0x00, 0x00, 0x01,
            ],
        ],
        initial_contact: false,
        l2tp_port: 1701,
        tunnel_mode: false,
        pfs: None,
    };
    let mut init = Initiator::new(config, [9; 32]);
    init.connect(clock()).expect("MM1");
    init.poll_transmit().expect("MM1").payload
}

fn source(i: u32) -> SocketAddr {
    let b = i.to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, b[1], b[2], b[3])), 500)
}

/// Best of three: nanoseconds per call of `f` over `calls` calls.
fn time(calls: u32, mut f: impl FnMut(u32)) -> f64 {
    (0..3)
        .map(|_| {
            let start = clock();
            for i in 0..calls {
                f(i);
            }
            start.elapsed().as_nanos() as f64 / f64::from(calls)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let template = mm1();
    let local: SocketAddr = "198.51.100.1:500".parse().expect("address");
    println!("half-open SAs | poll_timeout | handle_timeout (idle) | note_activity | one more MM1");
    for n in [1_000u32, 10_000, 100_000] {
        let mut config = ResponderConfig::new(Secret::from_slice(b"bench"));
        config.max_half_open = usize::MAX;
        let t0 = clock();
        let mut resp = Responder::new(config, [3; 32]);
        let mut msg = template.clone();
        for i in 0..n {
            msg[..4].copy_from_slice(&i.to_be_bytes());
            resp.handle_datagram(t0, local, source(i), &msg);
            while resp.poll_transmit().is_some() {}
        }
        let idle = t0 + Duration::from_millis(1);
        let poll = time(1000, |_| {
            std::hint::black_box(resp.poll_timeout());
        });
        let timeout = time(1000, |_| resp.handle_timeout(idle));
        let peer = FourTuple {
            local,
            remote: source(0),
        };
        let activity = time(1000, |_| resp.note_activity(peer, idle));
        let mut fresh = n;
        let more = time(100, |_| {
            fresh += 1;
            msg[..4].copy_from_slice(&fresh.to_be_bytes());
            resp.handle_datagram(idle, local, source(fresh), &msg);
            while resp.poll_transmit().is_some() {}
        });
        println!(
            "{n:>13} | {poll:>9.0} ns | {timeout:>18.0} ns | {activity:>10.0} ns | {more:>9.0} ns"
        );
    }
}
