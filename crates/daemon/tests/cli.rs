//! Runs the real `l2tpd-rs` binary: check-config, hash-password, status without a daemon, and
//! `run` on loopback high ports (without TUN for any user; with TUN in a fresh network
//! namespace when root).
// Real processes need real time for their deadlines.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{BIN, TempDir, free_udp_ports, run, text, wait_for_status};

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn shipped_config_passes_check_config() {
    let out = run(&[
        "check-config",
        "--config",
        repo_file("config/l2tpd.yaml").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("3 users (2 enabled)"),
        "{}",
        text(&out.stdout)
    );
    // The example PSK is a warning, with its line.
    assert!(
        text(&out.stderr).contains("l2tpd.yaml:"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("shipped example"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn broken_config_is_reported_with_file_and_line() {
    let dir = TempDir::new("broken");
    let cfg = dir.path("l2tpd.yaml");
    std::fs::write(
        &cfg,
        "psk: a-long-secret\npool:\n  cidr: 10.99.0.0/24\n  colour: blue\n",
    )
    .unwrap();
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:4:", cfg.display())), "{err}");
    assert!(err.contains("unknown field `colour`"), "{err}");

    // Several validation problems at once, each located.
    std::fs::write(
        &cfg,
        "psk: a-long-secret\nlisten:\n  ike_port: 4500\npool:\n  cidr: 10.99.0.0/24\ndns: [1.1.1.1, 1.0.0.1, 8.8.8.8]\n",
    )
    .unwrap();
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    // nat_t_port is defaulted, so the error points at the `listen` section.
    assert!(err.contains(&format!("{}:2: ", cfg.display())), "{err}");
    assert!(err.contains(&format!("{}:6: ", cfg.display())), "{err}");
    assert!(err.contains("2 problems found"), "{err}");
    assert!(
        err.contains("must differ") && err.contains("at most 2"),
        "{err}"
    );

    // A bad users file is located too, and `run` refuses to start with it.
    std::fs::write(&cfg, "psk: a-long-secret\npool:\n  cidr: 10.99.0.0/24\n").unwrap();
    std::fs::write(
        dir.path("users.yaml"),
        "users:\n  - name: a\n    nt_hash: 1234\n",
    )
    .unwrap();
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("users.yaml:2: "),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["run", "--no-tun", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("users.yaml:2: "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hash_password_prints_the_rfc_2759_value() {
    // RFC 2759 §9.2: Password "clientPass" -> NtPasswordHash 44EBBA8D5312B8D611474411F56989AE.
    let out = run(&["hash-password", "clientPass"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "44EBBA8D5312B8D611474411F56989AE");

    let mut child = Command::new(BIN)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"clientPass\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "44EBBA8D5312B8D611474411F56989AE");
}

#[test]
fn status_without_a_daemon_fails_clearly() {
    let dir = TempDir::new("nodaemon");
    let sock = dir.path("none.sock");
    let out = run(&["status", "--socket", sock.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "no l2tpd-rs daemon is listening on {}: is it running?",
            sock.display()
        )),
        "{err}"
    );
}

fn write_config(dir: &TempDir, address: &str, ike: u16, natt: u16, tun: &str) -> PathBuf {
    let cfg = dir.path("l2tpd.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen:\n  addresses: [{address}]\n  ike_port: {ike}\n  nat_t_port: {natt}\n\
             psk: test-pre-shared-key\npool:\n  cidr: 10.99.0.0/24\ntun:\n  name: {tun}\n\
             control_socket: ctl.sock\nlog_level: debug\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path("users.yaml"),
        "users:\n  - name: alice\n    password: pw\n",
    )
    .unwrap();
    cfg
}

fn stop(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "no exit within 3 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_empty_snapshot(json: &str) {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["sessions"], serde_json::json!([]), "{json}");
    assert!(v["uptime_secs"].is_u64(), "{json}");
}

#[test]
fn run_without_tun_answers_status_survives_garbage_and_stops_on_sigterm() {
    let dir = TempDir::new("run");
    let (ike, natt) = free_udp_ports();
    let cfg = write_config(&dir, "127.0.0.1", ike, natt, "l2tpunused0");
    let mut child = Command::new(BIN)
        .args(["run", "--no-tun", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sock = dir.path("ctl.sock");
    assert_empty_snapshot(&wait_for_status(&sock, &mut child));

    // Garbage on both ports does not bring it down.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for port in [ike, natt] {
        for junk in [
            &b""[..],
            b"\x00",
            b"\x00\x00\x00\x00garbage",
            &[0xffu8; 300],
        ] {
            s.send_to(junk, ("127.0.0.1", port)).unwrap();
        }
    }
    // A bad users file is refused and the daemon keeps serving.
    std::fs::write(dir.path("users.yaml"), "users:\n  - name: [\n").unwrap();
    let reload = run(&["status", "--socket", sock.to_str().unwrap()]);
    assert!(reload.status.success(), "{}", text(&reload.stderr));
    assert!(
        text(&reload.stdout).contains("no sessions"),
        "{}",
        text(&reload.stdout)
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    assert_empty_snapshot(&wait_for_status(&sock, &mut child));

    // A second daemon on the same control socket refuses to start.
    let second = run(&["run", "--no-tun", "--config", cfg.to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(1));

    stop(&mut child);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("users file NOT reloaded"), "{log}");
    assert!(log.contains("users.yaml:2"), "{log}");
    assert!(
        !log.contains("test-pre-shared-key"),
        "PSK leaked into the log"
    );
    assert!(!sock.exists(), "control socket left behind");
}

#[test]
fn run_as_root_creates_the_tun_in_a_fresh_namespace() {
    if !nix::unistd::Uid::effective().is_root() {
        println!(
            "skipping run_as_root_creates_the_tun_in_a_fresh_namespace: needs root for TUN and namespaces"
        );
        return;
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        println!(
            "skipping run_as_root_creates_the_tun_in_a_fresh_namespace: util-linux `unshare` not found"
        );
        return;
    }
    let dir = TempDir::new("root");
    let (ike, natt) = free_udp_ports();
    // 0.0.0.0: the namespace's loopback is down, and a wildcard bind needs no address.
    let cfg = write_config(&dir, "0.0.0.0", ike, natt, "l2tptest0");
    let mut child = Command::new("unshare")
        .args(["--net", "--", BIN, "run", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sock = dir.path("ctl.sock");
    assert_empty_snapshot(&wait_for_status(&sock, &mut child));
    let table = run(&["status", "--socket", sock.to_str().unwrap()]);
    assert!(
        text(&table.stdout).contains("TUN l2tptest0"),
        "{}",
        text(&table.stdout)
    );
    stop(&mut child);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("TUN device up"), "{log}");
}
