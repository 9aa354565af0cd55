//! Established-session throughput: `server::DataPlane` on 1, 2 and N threads against the
//! `Server`'s own entry points, for 1400-byte IPv4 packets over AES-128-CBC/HMAC-SHA1-96 and
//! 3DES-CBC/HMAC-SHA1-96 (UDP-encapsulated transport, four clients behind one NAT).
//!
//! `cargo bench -p testkit --bench dataplane` (it lives in testkit because building sessions
//! needs the simulated clients, and `server` may not depend on `testkit`, even for benches).
//!
//! - outbound: TUN packet → PPP → L2TP → ESP, round-robin over the four sessions; every thread
//!   runs for 1 s.
//! - inbound: ESP → L2TP → PPP → TUN. The replay window accepts each packet once, so every run
//!   gets fresh packets sealed by the clients beforehand; each thread takes whole clients
//!   (as SO_REUSEPORT keeps a flow on one socket).
//!
//! Each figure is the best of three runs (the machine is shared). The "Server" line is
//! `Server::handle_tun` / `handle_udp` plus draining `poll_transmit`, on one thread: what a
//! caller without reader threads of its own gets (the data plane runs inside the server, with
//! a copy of each packet in and out).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crypto::cipher::CipherAlg;
use crypto::integ::IntegAlg;
use ike::suite::EncapsulationMode;
use ike::{EspSuite, Lifetime};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use server::{Batch, DataPlane, Inbound, Outbound};
use testkit::{ClientId, Profile, Stage, Transmit as ClientTransmit, World, WorldConfig, packet};

const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 5);
const IP_LEN: usize = 1400;
const CLIENTS: usize = 4;

#[allow(clippy::disallowed_methods)] // A benchmark measures wall-clock time.
fn now() -> Instant {
    Instant::now()
}

fn profile(cipher: CipherAlg) -> Profile {
    let mut p = Profile::windows_10();
    p.esp_proposals = vec![EspSuite {
        cipher,
        integ: IntegAlg::HmacSha1_96,
        pfs: None,
        mode: EncapsulationMode::Transport,
        mode_value: 2,
        lifetime: Lifetime {
            secs: 28800,
            kb: None,
        },
    }];
    p
}

fn world(cipher: CipherAlg) -> World {
    let mut w = World::new(WorldConfig::default(), now()).expect("valid world");
    for (i, user) in ["alice", "bob", "carol", "dave"].iter().enumerate() {
        let id = w.add_client(
            profile(cipher),
            Ipv4Addr::new(192, 168, 1, 10),
            true,
            user,
            &format!("{user}-pass"),
        );
        w.connect(id).expect("connect");
        assert!(
            w.run_until(
                |w| w.client(id).stage() >= Stage::Up,
                Duration::from_secs(120)
            ),
            "client {i} did not come up"
        );
    }
    w.run_for(Duration::from_secs(2));
    w
}

/// One client's sealed datagram as the server receives it.
struct Datagram {
    local: SocketAddr,
    remote: SocketAddr,
    bytes: Vec<u8>,
}

/// `count` fresh 1400-byte packets per client, sealed by the clients.
fn seal_inbound(w: &mut World, count: usize) -> Vec<Vec<Datagram>> {
    (0..CLIENTS)
        .map(|id: ClientId| {
            let me = w.client(id).assigned_address().expect("address");
            let ip = packet::icmp_echo(me, LAN_HOST, false, 1, 1, &[0x5a; IP_LEN - 28]);
            let mut buf = Vec::new();
            (0..count)
                .map(|_| {
                    let t = now();
                    w.client_mut(id).send_ip(t, &ip).expect("send");
                    let Some(ClientTransmit::Udp { local, remote }) =
                        w.client_mut(id).poll_transmit(&mut buf)
                    else {
                        panic!("expected one UDP datagram");
                    };
                    Datagram {
                        local: remote,
                        remote: w.nat_mapping(id, local, remote).expect("NAT mapping"),
                        bytes: buf.clone(),
                    }
                })
                .collect()
        })
        .collect()
}

fn lan_packets(w: &World) -> Vec<Vec<u8>> {
    (0..CLIENTS)
        .map(|id| {
            let dst = w.client(id).assigned_address().expect("address");
            packet::icmp_echo(LAN_HOST, dst, true, 1, 1, &[0xa5; IP_LEN - 28])
        })
        .collect()
}

struct Figure {
    pps: f64,
}

impl Figure {
    fn new(packets: u64, elapsed: Duration) -> Self {
        Self {
            pps: packets as f64 / elapsed.as_secs_f64(),
        }
    }
}

/// The best of `runs` measurements: on a shared machine the others mostly measure neighbours.
fn best(runs: usize, mut measure: impl FnMut() -> Figure) -> Figure {
    let mut top = measure();
    for _ in 1..runs {
        let f = measure();
        if f.pps > top.pps {
            top = f;
        }
    }
    top
}

fn print(what: &str, f: &Figure, base: f64) {
    println!(
        "  {what:<28} {:>10.0} pkt/s {:>8.1} MB/s {:>9.0} Mbit/s  x{:.2}",
        f.pps,
        f.pps * IP_LEN as f64 / 1e6,
        f.pps * IP_LEN as f64 * 8.0 / 1e6,
        f.pps / base
    );
}

fn server_outbound(w: &mut World, lan: &[Vec<u8>], run: Duration) -> Figure {
    let mut buf = Vec::new();
    let start = now();
    let mut n = 0u64;
    while now() - start < run {
        for _ in 0..64 {
            let t = now();
            let ip = &lan[(n as usize) % lan.len()];
            w.server_mut().handle_tun(t, ip);
            let mut sent = 0;
            while w.server_mut().poll_transmit(&mut buf).is_some() {
                sent += 1;
            }
            assert_eq!(sent, 1, "one datagram per packet");
            n += 1;
        }
    }
    Figure::new(n, now() - start)
}

fn plane_outbound(dp: &DataPlane, lan: &[Vec<u8>], threads: usize, run: Duration) -> Figure {
    let stop = Arc::new(AtomicBool::new(false));
    let start = now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (dp, lan, stop) = (dp.clone(), lan.to_vec(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut rng = ChaCha20Rng::from_seed([u8::try_from(t).unwrap_or(0); 32]);
                let mut batch = Batch::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // One clock read per 64 packets, as the daemon's TUN readers do.
                    let at = now();
                    for _ in 0..64 {
                        let ip = &lan[(n as usize + t) % lan.len()];
                        batch.clear();
                        let v = dp.outbound(at, ip, &mut batch, &mut rng);
                        assert_eq!(v, Outbound::Sealed(1));
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    std::thread::sleep(run);
    stop.store(true, Ordering::Relaxed);
    let n: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    Figure::new(n, now() - start)
}

fn server_inbound(w: &mut World, sets: Vec<Vec<Datagram>>) -> Figure {
    let mut buf = Vec::new();
    let total: usize = sets.iter().map(Vec::len).sum();
    // Interleave the clients, as packets arrive on one socket.
    let mut iters: Vec<_> = sets.into_iter().map(Vec::into_iter).collect();
    let mut order = Vec::with_capacity(total);
    while order.len() < total {
        for it in &mut iters {
            if let Some(d) = it.next() {
                order.push(d);
            }
        }
    }
    let start = now();
    let mut tun = 0u64;
    for d in &order {
        let t = now();
        w.server_mut().handle_udp(t, d.local, d.remote, &d.bytes);
        while let Some(x) = w.server_mut().poll_transmit(&mut buf) {
            if x == server::Transmit::Tun {
                tun += 1;
            }
        }
    }
    let f = Figure::new(tun, now() - start);
    assert_eq!(tun, total as u64, "every packet reached the TUN");
    f
}

fn plane_inbound(dp: &DataPlane, sets: Vec<Vec<Datagram>>, threads: usize) -> Figure {
    let mut per_thread: Vec<Vec<Vec<Datagram>>> = (0..threads).map(|_| Vec::new()).collect();
    let total: usize = sets.iter().map(Vec::len).sum();
    for (i, set) in sets.into_iter().enumerate() {
        if let Some(slot) = per_thread.get_mut(i % threads) {
            slot.push(set);
        }
    }
    let barrier = Arc::new(std::sync::Barrier::new(threads + 1));
    let handles: Vec<_> = per_thread
        .into_iter()
        .map(|mine| {
            let (dp, barrier) = (dp.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                // Interleave this thread's clients.
                let mut iters: Vec<_> = mine.into_iter().map(Vec::into_iter).collect();
                let mut order = Vec::new();
                loop {
                    let before = order.len();
                    for it in &mut iters {
                        if let Some(d) = it.next() {
                            order.push(d);
                        }
                    }
                    if order.len() == before {
                        break;
                    }
                }
                barrier.wait();
                let mut tun = 0u64;
                let at = now();
                for d in &mut order {
                    if let Inbound::Tun(_) = dp.inbound_udp(at, d.local, d.remote, &mut d.bytes) {
                        tun += 1;
                    }
                }
                tun
            })
        })
        .collect();
    barrier.wait();
    let start = now();
    let tun: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let f = Figure::new(tun, now() - start);
    assert_eq!(tun, total as u64, "every packet reached the TUN");
    f
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run a tiny smoke
    // version then, so that the harness stays tested without taking minutes.
    let bench = std::env::args().any(|a| a == "--bench");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "dataplane benchmark: {IP_LEN}-byte IPv4 packets, {CLIENTS} sessions, UDP-encapsulated ESP"
    );
    println!(
        "machine: {cores} logical CPUs ({}), shared with other work",
        cpu_model()
    );
    let mut thread_counts = vec![1, 2, cores, 4];
    thread_counts.sort_unstable();
    thread_counts.dedup();
    for (name, cipher, count) in [
        ("AES-128-CBC/HMAC-SHA1-96", CipherAlg::Aes128, 20_000),
        ("3DES-CBC/HMAC-SHA1-96", CipherAlg::TripleDes, 2_000),
    ] {
        let count = if bench { count } else { 16 };
        let run = Duration::from_millis(if bench { 1000 } else { 50 });
        let runs = if bench { 3 } else { 1 };
        let mut w = world(cipher);
        let dp = w.server().data_plane();
        assert_eq!(dp.table_len(), (CLIENTS, CLIENTS));
        let to_owner = dp.stats().to_owner;
        let lan = lan_packets(&w);
        println!("\n{name}");
        println!(" outbound (TUN -> ESP):");
        let server = best(runs, || server_outbound(&mut w, &lan, run));
        print("Server, 1 thread", &server, server.pps);
        for &t in &thread_counts {
            let f = best(runs, || plane_outbound(&dp, &lan, t, run));
            print(&format!("DataPlane, {t} thread(s)"), &f, server.pps);
        }
        println!(" inbound (ESP -> TUN), {count} packets per session per run:");
        let server = best(runs, || {
            let sets = seal_inbound(&mut w, count);
            server_inbound(&mut w, sets)
        });
        print("Server, 1 thread", &server, server.pps);
        for &t in &thread_counts {
            let f = best(runs, || {
                let sets = seal_inbound(&mut w, count);
                plane_inbound(&dp, sets, t)
            });
            print(&format!("DataPlane, {t} thread(s)"), &f, server.pps);
        }
        assert_eq!(
            w.snapshot().counters.esp_dropped,
            0,
            "no packet was dropped"
        );
        assert_eq!(
            dp.stats().to_owner,
            to_owner,
            "nothing was handed to the control plane"
        );
    }
}
