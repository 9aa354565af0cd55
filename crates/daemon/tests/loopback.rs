//! Loopback smoke test of the real binary: `l2tpd-rs run` with a TUN device in a fresh network
//! namespace, on high UDP ports, and a whole client from `testkit` (IKE initiator + LAC + PPP
//! peer with the Windows XP SP2 profile) talking to it over real UDP sockets. The client gets an
//! address by IPCP, pings the server's TUN address (the kernel answers, so the reply crosses TUN
//! → PPP → L2TP → ESP), `l2tpd-rs status --json` shows the session with the right fields,
//! the Prometheus endpoint counts it (checked by `promtool` when installed), a burst of IKE
//! datagrams larger than the owner's channel is read without a drop, the session hooks
//! run with its facts, `status USER|IP` filters, `kick` ends the session (with two workers), and
//! SIGTERM takes the client down gracefully (CDN/StopCCN/Delete) before the daemon exits 0.
//!
//! Needs root (TUN, namespaces). Without root it says so and returns, unless
//! `L2TPD_RS_REQUIRE_ROOT_TESTS=1` is set (CI sets it), in which case it fails.
// Real processes and sockets need real time.
#![allow(clippy::disallowed_methods)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "support/sockets.rs"]
mod sockets;
mod support;

use sockets::{CLIENT_PRIVATE, SERVER, Sockets};
use support::{BIN, TempDir, free_udp_ports, run, text, wait_for_status};
use testkit::{Client, ClientConfig, ClientEvent, Profile, Stage};
const SERVER_TUN_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const PSK: &str = "loopback-smoke-test-psk";
/// The metrics endpoint (the namespace is the test's own: the port is free).
const METRICS: &str = "127.0.0.1:9812";
/// The daemon's TUN device (in the test's own namespace).
const TUN: &str = "l2tpsmoke0";
/// Datagrams of the burst sent while the daemon is stopped: more than the owner's channel holds.
const BURST: u32 = 3_000;

/// Kills the daemon if the test fails half-way.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn write_config(dir: &TempDir, ike: u16, natt: u16, workers: u16) -> PathBuf {
    let cfg = dir.path("l2tpd.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen:\n  addresses: [127.0.0.1]\n  ike_port: {ike}\n  nat_t_port: {natt}\n\
             psk: {PSK}\npool:\n  cidr: 10.99.0.0/24\n  server_address: {SERVER_TUN_ADDR}\n\
             dns: [10.99.0.53]\nwins: [10.99.0.54]\nclient_routes: [192.168.77.0/24]\n\
             client_domain: smoke.example\ntun:\n  name: {TUN}\n\
             control_socket: ctl.sock\nlog_level: debug\nworkers: {workers}\n\
             metrics:\n  listen: {METRICS}\n  per_user: true\n\
             hooks:\n  session_up: [/bin/sh, -c, 'env > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"', sh, {up}]\n\
             \x20 session_down: [/bin/sh, -c, 'env > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"', sh, {down}]\n",
            up = dir.path("up.env").display(),
            down = dir.path("down.env").display(),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path("users.yaml"),
        "users:\n  - name: alice\n    password: alice-password\n    routes: [192.168.50.0/24]\n",
    )
    .unwrap();
    cfg
}

/// The IPv4 routes into `dev` in this thread's network namespace, as `a.b.c.d/len`, from
/// /proc/thread-self/net/route (proc(5): the destination and mask as the kernel holds them,
/// network byte order printed as a native integer). The pool's own route is left out.
fn kernel_routes(dev: &str) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/thread-self/net/route").unwrap();
    let addr = |hex: &str| Ipv4Addr::from(u32::from_str_radix(hex, 16).unwrap().to_ne_bytes());
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.first() == Some(&dev)).then(|| {
                let (net, mask) = (addr(f[1]), addr(f[7]));
                format!("{net}/{}", u32::from(mask).count_ones())
            })
        })
        .filter(|r| !r.starts_with("10.99.0."))
        .collect()
}

fn status(socket: &Path, json: bool) -> Output {
    let mut args = vec!["status", "--socket", socket.to_str().unwrap()];
    if json {
        args.insert(1, "--json");
    }
    run(&args)
}

/// Polls `done` every 50 ms for up to `limit`; whether it held.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Waits up to 5 s for `path` to exist and hold `needle`; returns its text.
fn wait_for_file(path: &Path, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{} never held {needle:?}: {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP request to the metrics endpoint; the whole response.
fn scrape(path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(METRICS).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Checks the exposition text with Prometheus's own `promtool check metrics`, when it is
/// installed (CI installs it and sets `L2TPD_RS_REQUIRE_PROMTOOL=1`, so there it must run).
fn promtool_check(dir: &TempDir, body: &str) {
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("L2TPD_RS_REQUIRE_PROMTOOL").is_none(),
            "L2TPD_RS_REQUIRE_PROMTOOL is set but promtool is not installed"
        );
        println!("promtool not installed: the metrics text is not checked by it");
        return;
    }
    let file = dir.path("metrics.txt");
    std::fs::write(&file, body).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("promtool check metrics < \"$1\"")
        .arg("sh")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{body}",
        text(&out.stdout),
        text(&out.stderr)
    );
    println!("promtool check metrics: ok {}", text(&out.stdout));
}

#[test]
fn real_binary_serves_a_testkit_client_over_loopback_udp_with_a_tun() {
    smoke(1);
}

/// The same with two data-path worker threads: SO_REUSEPORT sockets, a multi-queue TUN and the
/// data plane on every thread, with the owner still doing IKE, L2TP control, PPP negotiation and `status`.
#[test]
fn real_binary_with_two_workers() {
    smoke(2);
}

fn smoke(workers: u16) {
    if !nix::unistd::Uid::effective().is_root() {
        assert!(
            std::env::var_os("L2TPD_RS_REQUIRE_ROOT_TESTS").is_none(),
            "L2TPD_RS_REQUIRE_ROOT_TESTS is set but the test does not run as root"
        );
        println!("skipping the loopback smoke test: it needs root for TUN and namespaces");
        return;
    }
    // The namespace belongs to this thread only; the daemon (spawned from it) inherits it.
    std::thread::spawn(move || smoke_in_fresh_namespace(workers))
        .join()
        .unwrap();
}

fn smoke_in_fresh_namespace(workers: u16) {
    // The client's own log, for a failing run: RUST_LOG=debug cargo test -p daemon --test loopback.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    tun::set_up("lo").unwrap();

    let dir = TempDir::new("loopback");
    let (ike_port, natt_port) = free_udp_ports();
    let cfg = write_config(&dir, ike_port, natt_port, workers);
    let log_path = dir.path("daemon.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut daemon = Daemon(
        Command::new(BIN)
            .args(["run", "--config", cfg.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let sock = dir.path("ctl.sock");
    wait_for_status(&sock, &mut daemon.0);
    let daemon_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // The client: XP SP2 (3DES-SHA1, MODP1024 offered second, draft-02\n NAT-T, MS-CHAPv2).
    let sockets = Sockets::new(ike_port, natt_port);
    let mut client = Client::new(ClientConfig {
        profile: Profile::windows_xp_sp2(),
        local: CLIENT_PRIVATE,
        server: SERVER,
        psk: crypto::Secret::from_slice(PSK.as_bytes()),
        user: "alice".into(),
        password: "alice-password".into(),
        rng_seed: [7; 32],
    });
    let t0 = Instant::now();
    client.connect(t0).unwrap();
    let up = sockets.pump(&mut client, Duration::from_secs(30), |c| {
        c.is_up() || c.stage() == Stage::Down
    });
    assert!(
        up && client.is_up(),
        "client not up (stage {:?}); events {:?}\ndaemon log:\n{}",
        client.stage(),
        client.events(),
        daemon_log()
    );
    println!("connected in {:?}", t0.elapsed());
    // The session-up hook ran with the session's facts in its environment.
    let up_env = wait_for_file(&dir.path("up.env"), "L2TPD_ASSIGNED_IP=");
    assert!(up_env.lines().any(|l| l == "L2TPD_USER=alice"), "{up_env}");
    assert!(
        up_env.lines().any(|l| l == "L2TPD_EVENT=session-up"),
        "{up_env}"
    );
    assert!(up_env.contains("L2TPD_OS_HINT=MS NT5"), "{up_env}");
    assert!(
        up_env.lines().any(|l| l == "L2TPD_ROUTES=192.168.50.0/24"),
        "{up_env}"
    );
    let addr = client.assigned_address().unwrap();

    // alice's users.yaml network is routed into the TUN while she is up; a reload (SIGHUP)
    // that gives her another moves the kernel route with it.
    assert_eq!(kernel_routes(TUN), ["192.168.50.0/24"], "{}", daemon_log());
    std::fs::write(
        dir.path("users.yaml"),
        "users:\n  - name: alice\n    password: alice-password\n    routes: [192.168.60.0/24]\n",
    )
    .unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(daemon.0.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || kernel_routes(TUN)
            == ["192.168.60.0/24"]),
        "routes into {TUN}: {:?}\ndaemon log:\n{}",
        kernel_routes(TUN),
        daemon_log()
    );
    assert!(daemon_log().contains("routes changed by the users file"));
    let ip_up = client
        .events()
        .iter()
        .find_map(|e| match e {
            ClientEvent::IpUp {
                server, dns, wins, ..
            } => Some((*server, *dns, *wins)),
            _ => None,
        })
        .unwrap();
    assert_eq!(ip_up.0, SERVER_TUN_ADDR);
    assert_eq!(ip_up.1[0], Some(Ipv4Addr::new(10, 99, 0, 53)));
    assert_eq!(ip_up.2[0], Some(Ipv4Addr::new(10, 99, 0, 54)));
    assert!(
        client
            .events()
            .iter()
            .any(|e| matches!(e, ClientEvent::EspUp { udp: true, .. })),
        "ESP did not float to UDP: {:?}",
        client.events()
    );

    // Pings to the TUN address: the kernel of this namespace answers through the TUN.
    for seq in 1..=3u16 {
        client.ping(Instant::now(), SERVER_TUN_ADDR, seq).unwrap();
        let got = sockets.pump(&mut client, Duration::from_secs(5), |c| {
            c.received_ip().any(|p| {
                testkit::packet::parse_icmp_echo(p)
                    .is_some_and(|e| e.reply && e.seq == seq && e.src == SERVER_TUN_ADDR)
            })
        });
        assert!(
            got,
            "no echo reply {seq} from {SERVER_TUN_ADDR}\ndaemon log:\n{}",
            daemon_log()
        );
        while client.poll_ip().is_some() {}
    }

    // Windows asks for routes and the domain by DHCPINFORM through the link. With workers it
    // lands on any thread's data plane, which hands it to the owner; the answer comes back
    // sealed, and nothing reaches the TUN (the kernel would not answer it anyway).
    let inform = testkit::packet::dhcp_inform(addr, 0x0bad_cafe);
    client.send_ip(Instant::now(), &inform).unwrap();
    let answered = sockets.pump(&mut client, Duration::from_secs(5), |c| {
        c.received_ip().any(|p| {
            testkit::packet::addresses(p) == Some((SERVER_TUN_ADDR, addr))
                && p.windows(6).any(|w| w == [121, 8, 24, 192, 168, 77])
        })
    });
    assert!(
        answered,
        "no DHCPACK with the route 192.168.77.0/24 (option 121)\ndaemon log:\n{}",
        daemon_log()
    );
    while client.poll_ip().is_some() {}

    // The Prometheus endpoint counts the session, its traffic and the login.
    let metrics = scrape("/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
    let body = metrics.split_once("\r\n\r\n").unwrap().1.to_owned();
    for line in [
        "l2tpd_sessions{state=\"up\",os=\"windows\",suite=\"ESP-3DES-SHA1\"} 1",
        "l2tpd_sessions_started_total 1",
        "l2tpd_ppp_auth_success_total{method=\"mschapv2\"} 1",
        "l2tpd_user_sessions{user=\"alice\"} 1",
        "l2tpd_session_setup_seconds_count 1",
    ] {
        assert!(body.lines().any(|l| l == line), "{line:?} missing:\n{body}");
    }
    let packets_in = body
        .lines()
        .find_map(|l| l.strip_prefix("l2tpd_traffic_packets_total{direction=\"in\"} "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap();
    assert!(packets_in >= 3, "{body}");
    promtool_check(&dir, &body);
    assert!(scrape("/").starts_with("HTTP/1.1 404 "));

    // A burst larger than the owner's IKE channel (1,024 deep), all queued in the socket while
    // the daemon is stopped, is read at the pace the owner takes it: every datagram is read and
    // none is dropped as `owner_busy` (checked with the status below). Readers that went on
    // reading until tokio's budget ran out dropped 1,024 of it.
    let owner_packets = || {
        let out = status(&sock, true);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["info"]["owner_packets"].as_u64().unwrap()
    };
    let read_before = owner_packets();
    let burst = std::net::UdpSocket::bind((SERVER, 0)).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    for i in 0..BURST {
        // An ISAKMP header with zero cookies: refused as soon as it is parsed.
        let mut junk = [0u8; 28];
        junk[..4].copy_from_slice(&i.to_be_bytes());
        burst.send_to(&junk, (SERVER, ike_port)).unwrap();
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || owner_packets()
            >= read_before + u64::from(BURST)),
        "the burst of {BURST} datagrams was not read\ndaemon log:\n{}",
        daemon_log()
    );

    // status --json shows the one session with the joined fields.
    let out = status(&sock, true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = text(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{json}");
    let s = &sessions[0];
    let natt_local = sockets.natt.local_addr().unwrap();
    assert_eq!(s["user"], "alice", "{json}");
    assert_eq!(s["assigned_ip"], addr.to_string(), "{json}");
    assert_eq!(s["client_public"], natt_local.to_string(), "{json}");
    assert_eq!(s["nat"], true, "{json}");
    assert_eq!(s["nat_t_dialect"], "draft-02\\n", "{json}");
    assert_eq!(s["host_name"], "XPCLIENT", "{json}");
    let os = s["os_hint"].as_str().unwrap();
    assert!(os.contains("MS NT5") || os.contains("XP"), "{json}");
    assert!(os.contains("MSRASV5.10"), "{json}");
    assert!(s["ike_suite"].as_str().unwrap().contains("3DES"), "{json}");
    assert_eq!(s["ike_auth"], "psk", "{json}");
    assert!(s["ike_peer_id"].is_null(), "{json}");
    assert!(s["esp_suite"].as_str().unwrap().contains("UDP"), "{json}");
    assert_eq!(s["state"], "up", "{json}");
    assert!(s["ike_lifetime_left_secs"].as_u64().unwrap() > 0, "{json}");
    assert!(s["esp_lifetime_left_secs"].as_u64().unwrap() > 0, "{json}");
    assert!(s["packets_in"].as_u64().unwrap() >= 3, "{json}");
    assert!(s["packets_out"].as_u64().unwrap() >= 3, "{json}");
    assert!(s["bytes_in"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(v["counters"]["spoofed"], 0, "{json}");
    let info = &v["info"];
    let expected_workers = if workers > 1 { u64::from(workers) } else { 0 };
    assert_eq!(info["workers"], expected_workers, "{json}");
    // Echo requests in and replies out went through the data plane (on a worker or on the
    // owner's own share of the sockets and TUN queues), with `workers: 1` too.
    let plane = &info["data_plane"];
    assert!(plane["to_tun"].as_u64().unwrap() >= 3, "{json}");
    assert!(plane["sealed"].as_u64().unwrap() >= 3, "{json}");
    assert!(plane["publishes"].as_u64().unwrap() >= 1, "{json}");
    assert_eq!(info["owner_busy"], 0, "{json}");
    println!("status --json:\n{json}");

    let table = status(&sock, false);
    assert!(table.status.success(), "{}", text(&table.stderr));
    let table = text(&table.stdout);
    assert!(
        table.contains("alice") && table.contains(&addr.to_string()),
        "{table}"
    );
    // The default view fits a terminal; the XP client is named from its MS NT5 vendor ID.
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    assert!(table.contains("WinXP"), "{table}");
    println!("status:\n{table}");
    let wide = run(&["status", "--wide", "--socket", sock.to_str().unwrap()]);
    assert!(wide.status.success(), "{}", text(&wide.stderr));
    let wide = text(&wide.stdout);
    for needle in ["XPCLIENT / MS NT5", "3DES", "UDP-encap", "pkts"] {
        assert!(
            wide.contains(needle),
            "{needle:?} missing in --wide:\n{wide}"
        );
    }
    println!("status --wide:\n{wide}");

    // `status USER|IP` filters; `kick` of nobody ends nothing and says so (exit 1).
    let sock_arg = sock.to_str().unwrap();
    let mine = run(&["status", "alice", "--socket", sock_arg]);
    let mine = text(&mine.stdout);
    assert!(mine.contains(&addr.to_string()), "{mine}");
    assert!(mine.contains("(1 of 1 session match alice)"), "{mine}");
    let other = run(&["status", "192.0.2.250", "--socket", sock_arg]);
    let other = text(&other.stdout);
    assert!(!other.contains(&addr.to_string()), "{other}");
    assert!(
        other.contains("(0 of 1 session match 192.0.2.250)"),
        "{other}"
    );
    // `status --watch 1` into a pipe: a block per second, each under a `--- <time>` line.
    let mut watch = Command::new(BIN)
        .args(["status", "--watch", "1", "alice", "--socket", sock_arg])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let _ = watch.kill();
    let watched = text(&watch.wait_with_output().unwrap().stdout);
    let blocks = watched.lines().filter(|l| l.starts_with("--- ")).count();
    assert!((2..=4).contains(&blocks), "{blocks} blocks:\n{watched}");
    assert_eq!(
        watched.matches("(1 of 1 session match alice)").count(),
        blocks,
        "{watched}"
    );
    let nobody = run(&["kick", "nobody", "--socket", sock_arg]);
    assert!(!nobody.status.success());
    assert!(
        text(&nobody.stdout).starts_with("no session matches nobody"),
        "{}",
        text(&nobody.stdout)
    );
    assert!(client.is_up());
    if workers > 1 {
        // Kicked by its assigned address: the client is told (CDN, StopCCN, Delete).
        let kick = run(&["kick", &addr.to_string(), "--socket", sock_arg]);
        assert!(kick.status.success(), "{}", text(&kick.stderr));
        assert_eq!(
            text(&kick.stdout),
            format!("disconnected alice {addr} from {natt_local}\n")
        );
        let down = sockets.pump(&mut client, Duration::from_secs(5), |c| {
            c.stage() == Stage::Down
        });
        assert!(
            down,
            "kicked, but the client was not told: {:?}",
            client.events()
        );
        let after = status(&sock, true);
        let v: serde_json::Value = serde_json::from_str(&text(&after.stdout)).unwrap();
        assert_eq!(v["sessions"].as_array().unwrap().len(), 0, "{v}");
        // The session-down hook got the address and the traffic.
        let down_env = wait_for_file(&dir.path("down.env"), "L2TPD_PACKETS_OUT=");
        assert!(
            down_env
                .lines()
                .any(|l| l == format!("L2TPD_ASSIGNED_IP={addr}")),
            "{down_env}"
        );
        let packets_in: u64 = down_env
            .lines()
            .find_map(|l| l.strip_prefix("L2TPD_PACKETS_IN="))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(packets_in >= 3, "{down_env}");
    }

    // SIGTERM: CDN, StopCCN and Delete reach the client (unless it was kicked already), then
    // the daemon exits 0.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(daemon.0.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let down = sockets.pump(&mut client, Duration::from_secs(5), |c| {
        c.stage() == Stage::Down
    });
    assert!(
        down,
        "the client was not told about the shutdown: stage {:?}, events {:?}",
        client.stage(),
        client.events()
    );
    let start = Instant::now();
    let exit = loop {
        if let Some(st) = daemon.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no exit within 5 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = daemon_log();
    assert!(exit.success(), "exit status {exit}\n{log}");
    assert!(!sock.exists(), "control socket left behind");
    assert!(!log.contains(PSK), "PSK leaked into the log");
    assert!(
        !log.contains("alice-password"),
        "password leaked into the log"
    );
    assert!(log.contains("IPCP up"), "{log}");
}
