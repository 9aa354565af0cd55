//! Dynamic Authorization (RFC 5176) end to end: the real `l2tpd-rs run --no-tun` with
//! `radius.dynamic_authorization`, three testkit clients logged in over real UDP sockets, and
//! FreeRADIUS' `radclient` sending Disconnect-Request and CoA-Request:
//!
//! - a Disconnect-Request naming alice by User-Name ends alice's session only, and
//!   `radclient` sees Disconnect-ACK; one naming bob by Framed-IP-Address ends bob's only;
//! - a request with the wrong secret gets no answer and changes nothing;
//! - a request for a user with no session gets Disconnect-NAK, Error-Cause 503;
//! - a CoA-Request with Session-Timeout 2 gets CoA-ACK, and carol's session ends 2 s later.
//!
//! The logins are PAP, accepted by a stand-in RADIUS server of the test (a socket answering
//! every Access-Request with a signed Access-Accept): the RADIUS authentication itself is
//! tested against FreeRADIUS in `radius.rs`.
//!
//! Without `radclient` installed the test says so and returns, unless
//! `L2TPD_RS_REQUIRE_FREERADIUS=1` is set (CI sets it), in which case it fails.
// Real processes and sockets need real time.
#![allow(clippy::disallowed_methods)]

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[path = "support/radius_env.rs"]
mod radius_env;
#[path = "support/sockets.rs"]
mod sockets;
mod support;

use ppp::AuthProtocol;
use radius::{Attribute, Code, Repr, SharedSecret};
use radius_env::{daemon_config_head, start_daemon, write_secret_file};
use sockets::{CLIENT_PRIVATE, SERVER, Sockets};
use support::{TempDir, free_udp_ports, run, text};
use testkit::{Client, ClientConfig, Profile, Stage};

const PSK: &str = "dynauth-test-psk";
const RADIUS_SECRET: &str = "radius-auth-secret-0123456789";
const DYNAUTH_SECRET: &str = "dynauth-secret-0123456789";
const PASSWORD: &str = "any-password";

/// Whether the test can run; panics when it must but cannot.
fn radclient_available() -> bool {
    let required = std::env::var_os("L2TPD_RS_REQUIRE_FREERADIUS").is_some_and(|v| v == "1");
    let installed = Command::new("radclient")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !installed {
        assert!(
            !required,
            "L2TPD_RS_REQUIRE_FREERADIUS=1 but radclient (package freeradius-utils) is not installed"
        );
        println!("skipping the Dynamic Authorization test: radclient is not installed");
        return false;
    }
    true
}

/// A RADIUS server that accepts every Access-Request (signed, with Message-Authenticator),
/// until `stop` is set.
fn accept_everyone(socket: UdpSocket, stop: Arc<AtomicBool>) {
    let secret = SharedSecret::new(RADIUS_SECRET);
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let Ok(asked) = Repr::parse_bytes(&buf[..n]) else {
            continue;
        };
        let mut accept = Repr {
            code: Code::AccessAccept,
            identifier: asked.identifier,
            authenticator: [0; 16],
            attributes: vec![Attribute::MessageAuthenticator([0; 16])],
        }
        .to_vec()
        .unwrap();
        radius::auth::sign_response(&mut accept, &asked.authenticator, &secret).unwrap();
        let _ = socket.send_to(&accept, from);
    }
}

fn client(user: &str, seed: u8) -> Client {
    let mut profile = Profile::windows_10();
    profile.auth_protocols = vec![AuthProtocol::Pap];
    Client::new(ClientConfig {
        profile,
        local: CLIENT_PRIVATE,
        server: SERVER,
        psk: crypto::Secret::from_slice(PSK.as_bytes()),
        user: user.into(),
        password: PASSWORD.into(),
        rng_seed: [seed; 32],
    })
}

/// `radclient` sends `attributes` (one per line) as `command` with `secret`; returns its
/// output and whether it got an answer.
fn radclient(port: u16, command: &str, secret: &str, attributes: &str) -> (String, bool) {
    use std::io::Write;
    let mut child = Command::new("radclient")
        .args(["-x", "-r", "1", "-t", "2"])
        .arg(format!("127.0.0.1:{port}"))
        .arg(command)
        .arg(secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attributes.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let answered = all.contains("Received ");
    (all, answered)
}

/// The users with a session, from `status --json`.
fn users(sock: &Path) -> Vec<String> {
    let out = run(&["status", "--json", "--socket", sock.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut users: Vec<String> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user"].as_str().unwrap().to_owned())
        .collect();
    users.sort();
    users
}

/// The address `user`'s session was given, from `status --json`.
fn assigned_ip(sock: &Path, user: &str) -> String {
    let out = run(&["status", "--json", "--socket", sock.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["user"] == user)
        .and_then(|s| s["assigned_ip"].as_str())
        .unwrap()
        .to_owned()
}

#[test]
fn radclient_disconnects_and_changes_exactly_the_sessions_it_names() {
    if !radclient_available() {
        return;
    }
    let dir = TempDir::new("dynauth");
    let stop = Arc::new(AtomicBool::new(false));
    let auth = UdpSocket::bind("127.0.0.1:0").unwrap();
    let auth_port = auth.local_addr().unwrap().port();
    let auth_thread = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || accept_everyone(auth, stop))
    };
    let (ike_port, natt_port) = free_udp_ports();
    let (dynauth_port, _) = free_udp_ports();
    write_secret_file(&dir.path("dynauth.secret"), DYNAUTH_SECRET);
    let cfg = dir.path("l2tpd.yaml");
    std::fs::write(
        &cfg,
        daemon_config_head(ike_port, natt_port, PSK)
            + &format!(
                "ppp:\n  pap: true\n\
                 radius:\n  servers:\n    - address: 127.0.0.1:{auth_port}\n      \
                 secret: {RADIUS_SECRET}\n  nas_identifier: l2tpd-dynauth-test\n  \
                 dynamic_authorization:\n    listen: 127.0.0.1:{dynauth_port}\n    clients:\n      \
                 - address: 127.0.0.1\n        secret_file: dynauth.secret\n"
            ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::write(dir.path("users.yaml"), "users: []\n").unwrap();
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert!(
        text(&out.stdout).contains(&format!(
            "Disconnect and CoA requests (RFC 5176) are taken on 127.0.0.1:{dynauth_port} from \
             127.0.0.1"
        )),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let (_daemon, log_path) = start_daemon(&dir, &cfg);
    let sock = dir.path("ctl.sock");
    let daemon_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Three sessions, each on its own pair of sockets (three clients behind one NAT).
    let mut clients = Vec::new();
    for (user, seed) in [("alice", 1), ("bob", 2), ("carol", 3)] {
        let sockets = Sockets::new(ike_port, natt_port);
        let mut c = client(user, seed);
        c.connect(Instant::now()).unwrap();
        let up = sockets.pump(&mut c, Duration::from_secs(30), |c| {
            c.is_up() || c.stage() == Stage::Down
        });
        assert!(
            up && c.is_up(),
            "{user} not up: {:?}\n{}",
            c.events(),
            daemon_log()
        );
        clients.push((sockets, c));
    }
    assert_eq!(users(&sock), ["alice", "bob", "carol"]);

    // A wrong secret: no answer, nothing ends.
    let (out, answered) = radclient(
        dynauth_port,
        "disconnect",
        "wrong-secret-0123456",
        "User-Name = alice\n",
    );
    assert!(!answered, "{out}");
    assert_eq!(users(&sock), ["alice", "bob", "carol"]);

    // No such session: Disconnect-NAK with Error-Cause 503.
    let (out, answered) = radclient(
        dynauth_port,
        "disconnect",
        DYNAUTH_SECRET,
        "User-Name = nobody\n",
    );
    assert!(answered, "{out}\n{}", daemon_log());
    assert!(out.contains("Received Disconnect-NAK"), "{out}");
    assert!(out.contains("Session-Context-Not-Found"), "{out}");

    // alice by name: only alice ends, and her client hears the goodbye.
    let (out, answered) = radclient(
        dynauth_port,
        "disconnect",
        DYNAUTH_SECRET,
        &format!(
            "User-Name = alice\nNAS-Identifier = \"l2tpd-dynauth-test\"\nEvent-Timestamp = {}\n",
            std::time::SystemTime::UNIX_EPOCH
                .elapsed()
                .unwrap()
                .as_secs()
        ),
    );
    assert!(
        answered && out.contains("Received Disconnect-ACK"),
        "{out}\n{}",
        daemon_log()
    );
    assert_eq!(users(&sock), ["bob", "carol"]);
    let (sockets, alice) = &mut clients[0];
    let down = sockets.pump(alice, Duration::from_secs(10), |c| c.stage() == Stage::Down);
    assert!(down, "alice's client still {:?}", alice.stage());
    assert!(
        daemon_log().contains("sessions ended at the RADIUS server's request"),
        "{}",
        daemon_log()
    );

    // bob by Framed-IP-Address.
    let bob_ip = assigned_ip(&sock, "bob");
    let (out, answered) = radclient(
        dynauth_port,
        "disconnect",
        DYNAUTH_SECRET,
        &format!("Framed-IP-Address = {bob_ip}\n"),
    );
    assert!(answered && out.contains("Received Disconnect-ACK"), "{out}");
    assert_eq!(users(&sock), ["carol"]);

    // carol gets a 2-second Session-Timeout: CoA-ACK, then her session ends.
    let (out, answered) = radclient(
        dynauth_port,
        "coa",
        DYNAUTH_SECRET,
        "User-Name = carol\nSession-Timeout = 2\n",
    );
    assert!(
        answered && out.contains("Received CoA-ACK"),
        "{out}\n{}",
        daemon_log()
    );
    let changed = Instant::now();
    assert_eq!(users(&sock), ["carol"], "not before the timeout");
    let (sockets, carol) = &mut clients[2];
    let down = sockets.pump(carol, Duration::from_secs(10), |c| c.stage() == Stage::Down);
    assert!(
        down,
        "carol's client still {:?}\n{}",
        carol.stage(),
        daemon_log()
    );
    assert!(changed.elapsed() >= Duration::from_millis(1500));
    assert!(users(&sock).is_empty());
    assert!(
        daemon_log().contains("session timeout (2 s)"),
        "{}",
        daemon_log()
    );
    // A CoA with what we do not support: CoA-NAK, Unsupported-Attribute.
    let (out, _) = radclient(
        dynauth_port,
        "coa",
        DYNAUTH_SECRET,
        "User-Name = carol\nFilter-Id = \"slow\"\n",
    );
    assert!(
        out.contains("Received CoA-NAK") && out.contains("Unsupported-Attribute"),
        "{out}"
    );

    let log = daemon_log();
    assert!(
        !log.contains(DYNAUTH_SECRET) && !log.contains(RADIUS_SECRET),
        "{log}"
    );
    assert!(
        log.contains("Dynamic Authorization request dropped"),
        "{log}"
    );
    stop.store(true, Ordering::Relaxed);
    auth_thread.join().unwrap();
}
