//! The cost of answering one authentication attempt, by cause: a refused attempt (unknown user,
//! disabled, throttled) must cost what a wrong password costs, so that timing tells nothing
//! about which user names exist. Each sample is one `Link::handle_frame` with the peer's
//! Response (or PAP request), the set-up to that point excluded.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ppp::{AuthProtocol, Authenticator, Credential, Link, LinkConfig, Lookup, Peer, PeerConfig};

struct Table(Lookup);

impl Authenticator for Table {
    fn lookup(&mut self, _user: &str) -> Lookup {
        self.0.clone()
    }

    fn assign_address(&mut self, _user: &str, _requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        Some(Ipv4Addr::new(192, 0, 2, 10))
    }
}

/// A link waiting for the peer's first Response, and that Response (wrong password "wrong").
fn at_response(now: Instant, method: AuthProtocol) -> (Link, Vec<u8>) {
    let cfg = LinkConfig {
        auth_protocols: vec![method],
        ..LinkConfig::default()
    };
    let mut pcfg = PeerConfig::new("User", "wrong");
    pcfg.auth_protocols = vec![method];
    let mut link = Link::new(&cfg, [3; 32], now);
    let mut peer = Peer::new(&pcfg, [4; 32], now);
    let mut table = Table(Lookup::NotFound);
    for _ in 0..100 {
        while let Some(f) = link.poll_transmit() {
            let _ = peer.handle_frame(now, &f);
        }
        while let Some(f) = peer.poll_transmit() {
            // CHAP Response (C2 23, code 2) or PAP Authenticate-Request (C0 23, code 1).
            if matches!(f.get(2..5), Some([0xc2, 0x23, 2] | [0xc0, 0x23, 1])) {
                return (link, f);
            }
            let _ = link.handle_frame(now, &f, &mut table);
        }
    }
    panic!("no response from the peer");
}

fn bench(c: &mut Criterion) {
    #[allow(clippy::disallowed_methods)] // The benchmark's time origin; the engines never read it.
    let now = Instant::now();
    let cases = [
        (
            "wrong password",
            Lookup::Found(Credential::password("clientPass")),
        ),
        ("unknown user", Lookup::NotFound),
        ("disabled user", Lookup::Disabled),
        (
            "throttled",
            Lookup::Throttled {
                retry_after: Duration::from_secs(30),
            },
        ),
    ];
    for method in [
        AuthProtocol::MsChapV2,
        AuthProtocol::MsChapV1,
        AuthProtocol::Chap,
        AuthProtocol::Pap,
    ] {
        let mut group = c.benchmark_group(format!("auth {method}"));
        for (name, lookup) in &cases {
            group.bench_function(*name, |b| {
                b.iter_batched(
                    || (at_response(now, method), Table(lookup.clone())),
                    |((mut link, response), mut table)| {
                        let _ = link.handle_frame(now, &response, &mut table);
                        link
                    },
                    BatchSize::SmallInput,
                );
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
