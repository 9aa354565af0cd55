//! `radius.order` end to end: the real `l2tpd-rs run --no-tun` with users.yaml and `radius:`
//! together, testkit's Windows clients (MS-CHAPv2) over real UDP sockets.
//!
//! - `[users, radius]` with a real FreeRADIUS (`freeradius -X`, Debian's package, configured
//!   here as in `radius.rs`): a user users.yaml lists logs in without FreeRADIUS hearing of
//!   them, and with a wrong password is refused without FreeRADIUS hearing of them either; a
//!   user only FreeRADIUS knows logs in with its Framed-IP-Address and its
//!   MS-Primary/Secondary-DNS-Server (RFC 2548) as the IPCP DNS servers.
//! - `[radius, users]` with a RADIUS server that does not answer (a closed port, no
//!   FreeRADIUS needed): once the retries are spent, the login is checked against users.yaml
//!   and the client is up.
//!
//! Without `freeradius` installed the first test says so and returns, unless
//! `L2TPD_RS_REQUIRE_FREERADIUS=1` is set.
// Real processes and sockets need real time.
#![allow(clippy::disallowed_methods)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "support/radius_env.rs"]
mod radius_env;
#[path = "support/sockets.rs"]
mod sockets;
mod support;

use radius_env::{daemon_config_head, freeradius_available, start_daemon, start_freeradius};
use sockets::{CLIENT_PRIVATE, SERVER, Sockets};
use support::{TempDir, free_udp_ports};
use testkit::{Client, ClientConfig, ClientEvent, Profile, Stage};

const PSK: &str = "radius-order-test-psk";
const SECRET: &str = "radius-order-secret-0123456789";
/// In users.yaml only.
const LOCAL_USER: &str = "local-user";
const LOCAL_PASSWORD: &str = "local-user-password";
/// Known to FreeRADIUS only.
const RADIUS_USER: &str = "radius-user";
const RADIUS_PASSWORD: &str = "radius-user-password";
const FRAMED_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 77);
const RADIUS_DNS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 1, 0, 53), Ipv4Addr::new(10, 1, 0, 54)];

/// The FreeRADIUS configuration of this test (see `radius_env::freeradius_config`): one user,
/// and an authentication listener on `port` that knows MS-CHAP only.
fn freeradius_config(dir: &TempDir, port: u16) -> PathBuf {
    let users = format!(
        "{RADIUS_USER}\tCleartext-Password := \"{RADIUS_PASSWORD}\"\n\
         \tFramed-IP-Address = {FRAMED_IP},\n\
         \tMS-Primary-DNS-Server = {},\n\
         \tMS-Secondary-DNS-Server = {},\n\
         \tMessage-Authenticator := 0x00\n",
        RADIUS_DNS[0], RADIUS_DNS[1]
    );
    let site = format!(
        "server l2tpd-test {{\n\
         \tlisten {{\n\t\ttype = auth\n\t\tipaddr = 127.0.0.1\n\t\tport = {port}\n\t}}\n\
         \tauthorize {{\n\t\tfiles\n\t\tmschap\n\t}}\n\
         \tauthenticate {{\n\t\tAuth-Type MS-CHAP {{\n\t\t\tmschap\n\t\t}}\n\t}}\n\
         \tpost-auth {{\n\
         \t\tPost-Auth-Type REJECT {{\n\
         \t\t\tupdate reply {{\n\t\t\t\tMessage-Authenticator := 0x00\n\t\t\t}}\n\
         \t\t}}\n\
         \t}}\n\
         }}\n"
    );
    radius_env::freeradius_config(dir, SECRET, &users, &site)
}

/// l2tpd.yaml with `radius.order: order` and users.yaml with the local user.
fn write_daemon_config(
    dir: &TempDir,
    (ike, natt): (u16, u16),
    radius_port: u16,
    order: &str,
) -> PathBuf {
    let cfg = dir.path("l2tpd.yaml");
    std::fs::write(
        &cfg,
        daemon_config_head(ike, natt, PSK)
            + &format!(
                "radius:\n  servers:\n    - address: 127.0.0.1:{radius_port}\n      \
                 secret: {SECRET}\n  timeout_secs: 1\n  retries: 1\n  order: {order}\n"
            ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::write(
        dir.path("users.yaml"),
        format!("users:\n  - name: {LOCAL_USER}\n    password: {LOCAL_PASSWORD}\n"),
    )
    .unwrap();
    cfg
}

/// Connects a Windows 10 client (MS-CHAPv2) and runs it until it is up or refused.
fn connect(ports: (u16, u16), user: &str, password: &str, seed: u8) -> Client {
    let mut profile = Profile::windows_10();
    profile.auth_protocols = vec![ppp::AuthProtocol::MsChapV2];
    profile.request_dns = true;
    let mut c = Client::new(ClientConfig {
        profile,
        local: CLIENT_PRIVATE,
        server: SERVER,
        psk: crypto::Secret::from_slice(PSK.as_bytes()),
        user: user.into(),
        password: password.into(),
        rng_seed: [seed; 32],
    });
    let sockets = Sockets::new(ports.0, ports.1);
    c.connect(Instant::now()).unwrap();
    sockets.pump(&mut c, Duration::from_secs(30), |c| {
        c.is_up()
            || c.stage() == Stage::Down
            || c.events()
                .iter()
                .any(|e| matches!(e, ClientEvent::AuthFailed { .. }))
    });
    c
}

fn dns_given(c: &Client) -> Option<[Option<Ipv4Addr>; 2]> {
    c.events().iter().find_map(|e| match e {
        ClientEvent::IpUp { dns, .. } => Some(*dns),
        _ => None,
    })
}

#[test]
fn users_then_radius_decides_listed_names_locally_and_asks_freeradius_for_the_rest() {
    if !freeradius_available("RADIUS order test") {
        return;
    }
    let dir = TempDir::new("radius-order-users-first");
    let (radius_port, _) = free_udp_ports();
    let raddb = freeradius_config(&dir, radius_port);
    let (_freeradius, radius_log) = start_freeradius(&raddb);
    let mut radius_seen = Vec::new();
    let mut radius_output = || {
        radius_seen.extend(radius_log.try_iter());
        radius_seen.join("\n")
    };
    let ports = free_udp_ports();
    let cfg = write_daemon_config(&dir, ports, radius_port, "[users, radius]");
    let (_daemon, log_path) = start_daemon(&dir, &cfg);
    let daemon_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // In users.yaml: up, decided there.
    let local = connect(ports, LOCAL_USER, LOCAL_PASSWORD, 7);
    assert!(
        local.is_up(),
        "events {:?}\ndaemon log:\n{}",
        local.events(),
        daemon_log()
    );
    assert!(daemon_log().contains("decided_by=\"users.yaml\""));

    // In users.yaml with a wrong password: refused there (691), never handed to FreeRADIUS.
    let wrong = connect(ports, LOCAL_USER, "not-the-password", 8);
    assert!(!wrong.is_up());
    assert!(
        wrong
            .events()
            .iter()
            .any(|e| matches!(e, ClientEvent::AuthFailed { windows_error: 691 })),
        "{:?}",
        wrong.events()
    );
    assert!(
        daemon_log().contains("wrong password (users.yaml)"),
        "{}",
        daemon_log()
    );

    // Known to FreeRADIUS only: up with its address and DNS servers.
    let remote = connect(ports, RADIUS_USER, RADIUS_PASSWORD, 9);
    assert!(
        remote.is_up(),
        "events {:?}\ndaemon log:\n{}\nfreeradius:\n{}",
        remote.events(),
        daemon_log(),
        radius_output()
    );
    assert_eq!(remote.assigned_address(), Some(FRAMED_IP));
    assert_eq!(
        dns_given(&remote),
        Some([Some(RADIUS_DNS[0]), Some(RADIUS_DNS[1])])
    );
    let log = daemon_log();
    assert!(log.contains("decided_by=RADIUS 127.0.0.1"), "{log}");
    let seen = radius_output();
    assert!(
        seen.contains(&format!("User-Name = \"{RADIUS_USER}\"")),
        "{seen}"
    );
    assert!(
        !seen.contains(LOCAL_USER),
        "FreeRADIUS heard of the local user:\n{seen}"
    );
    for secret in [LOCAL_PASSWORD, RADIUS_PASSWORD, SECRET] {
        assert!(!log.contains(secret), "{secret} in the daemon log");
    }
}

#[test]
fn radius_then_users_falls_back_to_users_yaml_when_no_server_answers() {
    let dir = TempDir::new("radius-order-fallback");
    // A closed port: nothing answers there.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let radius_port = closed.local_addr().unwrap().port();
    drop(closed);
    let ports = free_udp_ports();
    let cfg = write_daemon_config(&dir, ports, radius_port, "[radius, users]");
    let (_daemon, log_path) = start_daemon(&dir, &cfg);
    let daemon_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let started = Instant::now();
    let c = connect(ports, LOCAL_USER, LOCAL_PASSWORD, 7);
    assert!(
        c.is_up(),
        "events {:?}\ndaemon log:\n{}",
        c.events(),
        daemon_log()
    );
    // RADIUS was asked first: one try and one retry of 1 s each before the fallback.
    assert!(started.elapsed() >= Duration::from_secs(2));
    let log = daemon_log();
    assert!(
        log.contains("no RADIUS server answered")
            && log.contains("checked against users.yaml instead"),
        "{log}"
    );
    assert!(log.contains("decided_by=\"users.yaml\""), "{log}");
    assert!(!log.contains(LOCAL_PASSWORD) && !log.contains(SECRET));
}
