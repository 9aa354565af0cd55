//! How much heap the server keeps per held session.
//!
//! Brings N Windows XP clients (3DES/SHA1/MODP1024, behind one NAT, so ESP is UDP-encapsulated)
//! up through a [`testkit::World`], holds them for 90 s of virtual time, and writes the server's inputs (the world's tap) to a file.
//! Replaying that file into a fresh `server::Server` rebuilds the same N sessions with nothing
//! else alive in the process but the file's bytes (read as one buffer), so a heap profiler sees
//! only the server:
//!
//! ```text
//! cargo build --release -p testkit --example mem-per-session
//! B=target/release/examples/mem-per-session
//! $B record 1000 /tmp/t1000.bin          # runs the world, writes the server's inputs
//! $B record 0 /tmp/t0.bin                # no clients: the server's own baseline
//! valgrind --tool=massif --massif-out-file=/tmp/m0 $B replay /tmp/t0.bin
//! valgrind --tool=massif --massif-out-file=/tmp/m1000 $B replay /tmp/t1000.bin
//! ms_print /tmp/m1000 | less            # the allocation sites at the peak
//! ```
//!
//! Heap per session = (peak of the N run − file size of N − (peak of the 0 run − file size of 0))
//! / N; `replay` prints the file size and the sessions up, and the sizes of the large
//! per-session types.
//!
//! The same file measures the cost of held sessions: `replay FILE SECS` feeds the inputs from
//! SECS of virtual time on (when every session is up and only keepalives remain) through
//! `idle_phase`, so callgrind counts just those:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*idle_phase*' $B replay /tmp/t1000.bin 120
//! ```

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use testkit::fuzz::fixtures::replay;
use testkit::{Profile, Stage, TapKind, TapRecord, World, WorldConfig};

/// How long the sessions are held before the server's inputs are taken.
const HOLD: Duration = Duration::from_secs(90);

/// The NATed clients' private address (each client is on its own private segment).
const PRIVATE: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["record", n, path] => n
            .parse()
            .map_err(|e| format!("N: {e}"))
            .and_then(|n| record(n, path)),
        ["replay", path] => play(path, None),
        ["replay", path, from] => from
            .parse()
            .map_err(|e| format!("SECS: {e}"))
            .and_then(|s| play(path, Some(Duration::from_secs(s)))),
        _ => Err("usage: mem-per-session record N FILE | replay FILE [IDLE_FROM_SECS]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mem-per-session: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config(n: usize) -> WorldConfig {
    WorldConfig {
        // Room for every client: one NAT address, one user, a pool larger than N.
        pool_cidr: "10.96.0.0/16".to_owned(),
        extra_server_yaml: format!(
            "limits:\n  half_open_per_source_ip: {m}\n  key_exchanges_per_source_per_second: {m}\n  \
             peers_per_source_ip: {m}\n  max_peers: {m}\n  sessions_per_user: 0\n",
            m = n.max(64)
        ),
        ..WorldConfig::default()
    }
}

#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn record(n: usize, path: &str) -> Result<(), String> {
    let mut w = World::new(config(n), base()).map_err(|e| e.to_string())?;
    w.set_tap(true);
    let ids: Vec<usize> = (0..n)
        .map(|_| {
            w.add_client(
                Profile::windows_xp_sp2(),
                PRIVATE,
                true,
                "alice",
                "alice-pass",
            )
        })
        .collect();
    // 100 connects per second of virtual time.
    for (i, &id) in ids.iter().enumerate() {
        w.connect(id).map_err(|e| e.to_string())?;
        if i % 10 == 9 {
            w.run_for(Duration::from_millis(100));
        }
    }
    let all = w.run_until(
        |w| ids.iter().all(|&id| w.client(id).stage() >= Stage::Up),
        Duration::from_secs(600),
    );
    // Held for a while: L2TP Hellos, LCP Echoes and DPD have run at least once.
    w.run_for(HOLD);
    let up = ids.iter().filter(|&&id| w.client(id).is_up()).count();
    if !all || up != n {
        return Err(format!("only {up} of {n} clients came up"));
    }
    let parts = w.config().server_parts().map_err(|e| e.to_string())?;
    let tap: Vec<TapRecord> = w
        .take_tap()
        .into_iter()
        .filter(|r| r.kind.is_input())
        .collect();
    // The replay must build the same sessions.
    let (server, end) = replay(&parts, &tap, base());
    let replayed = server.snapshot(end).sessions.len();
    if replayed != n {
        return Err(format!("the replay has {replayed} sessions, not {n}"));
    }
    let mut out = u64::try_from(n).unwrap_or(0).to_be_bytes().to_vec();
    for r in &tap {
        encode(r, &mut out)?;
    }
    std::fs::write(path, &out).map_err(|e| format!("{path}: {e}"))?;
    println!(
        "{n} clients up after {:.1} s of virtual time; {} inputs, {} bytes written to {path}",
        w.elapsed().as_secs_f64(),
        tap.len(),
        out.len()
    );
    Ok(())
}

fn input(
    server: &mut server::Server,
    now: Instant,
    kind: TapKind,
    payload: &[u8],
    buf: &mut Vec<u8>,
) {
    match kind {
        TapKind::UdpIn { local, remote } => server.handle_udp(now, local, remote, payload),
        TapKind::EspIn { local, remote } => server.handle_esp(now, local, remote, payload),
        TapKind::TunIn => server.handle_tun(now, payload),
        _ => server.handle_timeout(now),
    }
    while server.poll_transmit(buf).is_some() {}
    while server.poll_event().is_some() {}
}

/// The rest of the file, in a function of its own for callgrind's `--toggle-collect`.
#[inline(never)]
fn idle_phase(
    server: &mut server::Server,
    base: Instant,
    mut rest: &[u8],
    buf: &mut Vec<u8>,
) -> Result<(usize, f64), String> {
    let (mut inputs, mut first, mut last) = (0, None, Duration::ZERO);
    while !rest.is_empty() {
        let (at, kind, payload, tail) = decode(rest).ok_or("truncated file")?;
        rest = tail;
        first.get_or_insert(at);
        last = at;
        inputs += 1;
        input(server, base + at, kind, payload, buf);
    }
    Ok((
        inputs,
        last.saturating_sub(first.unwrap_or(last)).as_secs_f64(),
    ))
}

fn play(path: &str, idle_from: Option<Duration>) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let (n, mut rest) = bytes.split_first_chunk::<8>().ok_or("truncated file")?;
    let n = usize::try_from(u64::from_be_bytes(*n)).map_err(|e| e.to_string())?;
    let parts = config(n).server_parts().map_err(|e| e.to_string())?;
    let base = base();
    let mut server = parts.build(base);
    let mut buf = Vec::with_capacity(2048);
    let idle_from = idle_from.unwrap_or(Duration::MAX);
    while !rest.is_empty() {
        let (at, kind, payload, tail) = decode(rest).ok_or("truncated file")?;
        if at >= idle_from {
            let (inputs, secs) = idle_phase(&mut server, base, rest, &mut buf)?;
            println!("idle phase: {inputs} inputs over {secs:.1} s of virtual time");
            break;
        }
        rest = tail;
        input(&mut server, base + at, kind, payload, &mut buf);
    }
    // No snapshot here: building one would be the heap's peak. `record` checked that the
    // replay brings all N sessions up.
    println!("file {} bytes; {n} sessions replayed", bytes.len());
    println!(
        "size_of: ppp::Link {}, l2tp::Lns {}, esp::Sa {}, server::Server {}",
        size_of::<ppp::Link>(),
        size_of::<l2tp::Lns>(),
        size_of::<esp::Sa>(),
        size_of::<server::Server>(),
    );
    // Keep everything alive to the end, where the heap profiler's peak is.
    drop(server);
    drop(bytes);
    Ok(())
}

// The file: N (8 bytes), then records. A record: time since the start in nanoseconds (8), kind (1), addresses, payload length (4),
// payload. Addresses: UDP 2 × (IPv4 4 + port 2), ESP 2 × IPv4 4, else none.

fn encode(r: &TapRecord, out: &mut Vec<u8>) -> Result<(), String> {
    let v4 = |a: SocketAddr| match a {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(_) => Err("IPv6 address in the tap".to_owned()),
    };
    out.extend_from_slice(
        &u64::try_from(r.at.as_nanos())
            .unwrap_or(u64::MAX)
            .to_be_bytes(),
    );
    match r.kind {
        TapKind::UdpIn { local, remote } => {
            out.push(1);
            for a in [v4(local)?, v4(remote)?] {
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(&a.port().to_be_bytes());
            }
        }
        TapKind::EspIn { local, remote } => {
            out.push(2);
            out.extend_from_slice(&local.octets());
            out.extend_from_slice(&remote.octets());
        }
        TapKind::TunIn => out.push(3),
        _ => out.push(4),
    }
    let len = u32::try_from(r.bytes.len()).map_err(|_| "record too long")?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&r.bytes);
    Ok(())
}

fn decode(b: &[u8]) -> Option<(Duration, TapKind, &[u8], &[u8])> {
    fn take<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
        let (head, tail) = b.split_first_chunk::<N>()?;
        *b = tail;
        Some(*head)
    }
    let mut b = b;
    let at = Duration::from_nanos(u64::from_be_bytes(take(&mut b)?));
    let udp = |b: &mut &[u8]| -> Option<SocketAddr> {
        let ip = Ipv4Addr::from(take::<4>(b)?);
        let port = u16::from_be_bytes(take(b)?);
        Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
    };
    let kind = match take::<1>(&mut b)?[0] {
        1 => TapKind::UdpIn {
            local: udp(&mut b)?,
            remote: udp(&mut b)?,
        },
        2 => TapKind::EspIn {
            local: Ipv4Addr::from(take::<4>(&mut b)?),
            remote: Ipv4Addr::from(take::<4>(&mut b)?),
        },
        3 => TapKind::TunIn,
        _ => TapKind::Timeout,
    };
    let len = usize::try_from(u32::from_be_bytes(take(&mut b)?)).ok()?;
    let (payload, tail) = b.split_at_checked(len)?;
    Some((at, kind, payload, tail))
}
