//! The `certificates:` block with the files `l2tpd-rs pki` writes: `check-config` output (the
//! summary, the Windows lint with error 787, refusals with their line), `run` refusing a broken
//! block, and a SIGHUP reload that keeps the previous files when a new one is broken.
// Real processes need real time for their deadlines.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{BIN, TempDir, free_udp_ports, run, text, wait_for_status};

/// Runs `l2tpd-rs pki ARGS --dir DIR/pki`, which must succeed.
fn pki(dir: &TempDir, args: &[&str]) {
    let d = dir.path("pki");
    let mut all: Vec<&str> = vec!["pki"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--dir", d.to_str().unwrap()]);
    let out = run(&all);
    assert!(
        out.status.success(),
        "{all:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `pki ca`, `pki server --name vpn.example.com --ip 192.0.2.10`, `pki crl`, as the shipped
/// configuration's comment says.
fn make_pki(dir: &TempDir) {
    pki(dir, &["ca"]);
    pki(
        dir,
        &["server", "--name", "vpn.example.com", "--ip", "192.0.2.10"],
    );
    pki(dir, &["crl"]);
}

/// l2tpd.yaml on loopback high ports with the certificates block (line 9 on) and `extra`
/// after it, and users.yaml.
fn write_config(dir: &TempDir, certificates: &str) -> PathBuf {
    let (ike, natt) = free_udp_ports();
    let cfg = dir.path("l2tpd.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen:\n  addresses: [127.0.0.1]\n  ike_port: {ike}\n  nat_t_port: {natt}\n\
             psk: test-pre-shared-key\npool:\n  cidr: 10.99.0.0/24\ncontrol_socket: ctl.sock\n\
             certificates:\n  certificate: pki/server.crt\n  key: pki/server.key\n  ca: \
             [pki/ca.crt]\n  crl: [pki/crl.pem]\n{certificates}log_level: debug\nworkers: 1\n"
        ),
    )
    .unwrap();
    set_mode(&cfg, 0o600);
    let users = dir.path("users.yaml");
    std::fs::write(&users, "users:\n  - name: alice\n    password: pw\n").unwrap();
    set_mode(&users, 0o600);
    cfg
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
}

fn check_config(cfg: &Path) -> (bool, String, String) {
    let out = run(&["check-config", "--config", cfg.to_str().unwrap()]);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn check_config_summarises_the_block_and_lints_the_server_certificate() {
    let dir = TempDir::new("cert-check");
    make_pki(&dir);
    let cfg = write_config(&dir, "  names: [vpn.example.com, vpn.other.example]\n");
    let (ok, stdout, stderr) = check_config(&cfg);
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains(
            "certificates: server CN=vpn.example.com (1 in its chain), 1 CA certificate, 1 CRL; \
             client certificates accepted: *; pre-shared-key clients are accepted too"
        ),
        "{stdout}"
    );
    // The name the certificate lacks, and the listen address it does not carry, each with the
    // error Windows shows, on the line of `certificate:`.
    let line = |needle: &str| {
        stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{stderr}"))
            .to_owned()
    };
    let l = line("does not name vpn.other.example");
    assert!(
        l.starts_with("warning: ") && l.contains("l2tpd.yaml:10:"),
        "{l}"
    );
    assert!(l.contains("error 787"), "{l}");
    assert!(line("does not name the address 127.0.0.1").contains("error 787"));
    assert!(
        !stderr.contains("vpn.example.com (subjectAltName"),
        "{stderr}"
    );
}

#[test]
fn check_config_and_run_refuse_a_broken_block_with_its_line() {
    let dir = TempDir::new("cert-broken");
    make_pki(&dir);
    // Another server's key in place of ours.
    let key = dir.path("pki/server.key");
    std::fs::rename(&key, dir.path("pki/first.key")).unwrap();
    std::fs::rename(dir.path("pki/server.crt"), dir.path("pki/first.crt")).unwrap();
    pki(&dir, &["server", "--name", "vpn.example.com"]);
    std::fs::rename(dir.path("pki/first.crt"), dir.path("pki/server.crt")).unwrap();
    let cfg = write_config(&dir, "  accept: [\"CN alice\"]\n");
    let (ok, stdout, stderr) = check_config(&cfg);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("l2tpd.yaml:11: ") && stderr.contains("is not the key of the certificate"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("l2tpd.yaml:14: certificates.accept: `CN alice` is not an identity pattern"),
        "{stderr}"
    );
    assert!(stderr.contains("2 problems found"), "{stderr}");

    let out = Command::new(BIN)
        .args(["run", "--no-tun", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not the key of the certificate"),
        "{}",
        text(&out.stderr)
    );
}

fn wait_for_log(log: &Path, needle: &str, count: usize) {
    let start = Instant::now();
    while std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches(needle)
        .count()
        < count
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{needle:?} never logged {count} time(s):\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, sig).unwrap();
}

#[test]
fn sighup_reloads_the_crl_and_keeps_the_old_files_when_a_new_one_is_broken() {
    use nix::sys::signal::Signal;
    let dir = TempDir::new("cert-reload");
    make_pki(&dir);
    let cfg = write_config(&dir, "");
    let log = dir.path("daemon.log");
    let mut child = Command::new(BIN)
        .args(["run", "--no-tun", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for_status(&dir.path("ctl.sock"), &mut child);

    // A revocation rewrites crl.pem: the reload takes it.
    pki(&dir, &["crl"]);
    signal(&child, Signal::SIGHUP);
    wait_for_log(&log, "certificate files reloaded", 1);

    // A CRL caught half-written: the previous files stay, said once in plain words.
    std::fs::write(dir.path("pki/crl.pem"), "-----BEGIN X509 CRL-----\nAAAA\n").unwrap();
    signal(&child, Signal::SIGHUP);
    wait_for_log(&log, "certificate files NOT reloaded", 1);
    let text_now = std::fs::read_to_string(&log).unwrap();
    assert!(text_now.contains("crl.pem is not a CRL"), "{text_now}");

    // Fixed: taken again.
    pki(&dir, &["crl"]);
    signal(&child, Signal::SIGHUP);
    wait_for_log(&log, "certificate files reloaded", 2);

    signal(&child, Signal::SIGTERM);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let all = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        all.matches("certificate files NOT reloaded").count(),
        1,
        "{all}"
    );
}
