//! RADIUS authentication end to end: a real FreeRADIUS (`freeradius -X`, Debian's package) on
//! 127.0.0.1 with a configuration made here, the real `l2tpd-rs run --no-tun` with `radius:`
//! pointing at it, and testkit's Windows XP client (MS-CHAPv2) over real UDP sockets:
//!
//! - the right password: the client is up, with exactly the Framed-IP-Address FreeRADIUS
//!   sent (the server proved it knew the password: MS-CHAP2-Success, RFC 2759 §5);
//! - MS-CHAPv1, CHAP-MD5 and PAP logins (a Windows 10 profile limited to each, one user
//!   each), up with their Framed-IP-Address;
//! - a wrong password: FreeRADIUS rejects, the client sees error 691;
//! - accounting (RFC 2866): FreeRADIUS's `detail` module writes what it receives to a file in
//!   the test's directory; alice's session has a Start, an Interim-Update (FreeRADIUS asks for
//!   one every 60 s with Acct-Interim-Interval, so the test waits about a minute once) and a
//!   Stop with Acct-Terminate-Cause User-Request and non-zero octets both ways, all under one
//!   Acct-Session-Id and each echoing the Class of her Access-Accept; her next session, cut
//!   by the daemon's SIGTERM, still gets its Stop out (Admin-Reboot) before the daemon exits;
//!   the daemon's Accounting-On comes before every Start and its Accounting-Off after the last
//!   Stop.
//!
//! The FreeRADIUS configuration is a copy of /etc/freeradius/3.0 in a temporary directory
//! (the installed one is only read), with its own clients, users entry and site on a free
//! port. FreeRADIUS before 3.2.5 signs an Access-Accept only when told to, hence
//! `Message-Authenticator := 0x00` in the reply (and in the reject's post-auth): our client
//! refuses unsigned answers (BlastRADIUS, CVE-2024-3596).
//!
//! Another test sends a login to a RADIUS server that never answers properly (a socket of the
//! test's, no FreeRADIUS needed; its one answer is an Access-Accept without
//! Message-Authenticator, which is dropped and logged): the request is checked as FreeRADIUS
//! would (Message-Authenticator with the shared secret, the attributes a NAS sends, the same
//! bytes retransmitted), and the client gets 691 once the retries are spent.
//!
//! Without `freeradius` installed the first test says so and returns, unless
//! `L2TPD_RS_REQUIRE_FREERADIUS=1` is set (CI sets it), in which case it fails.
// Real processes and sockets need real time.
#![allow(clippy::disallowed_methods)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "support/radius_env.rs"]
mod radius_env;
#[path = "support/sockets.rs"]
mod sockets;
mod support;

use ppp::AuthProtocol;
use radius_env::{
    daemon_config_head, freeradius_available, start_daemon, start_freeradius, write_secret_file,
};
use sockets::{CLIENT_PRIVATE, SERVER, Sockets};
use support::{TempDir, free_udp_ports};
use testkit::{Client, ClientConfig, ClientEvent, Profile, Stage};

const PSK: &str = "radius-test-psk";
const SECRET: &str = "radius-test-secret-0123456789";
const USER: &str = "alice";
const PASSWORD: &str = "alice-radius-password";
/// Users for the other methods (one each, as each keeps its address while the next connects)
/// and the addresses FreeRADIUS gives them.
const OTHERS: [(&str, AuthProtocol, Ipv4Addr); 3] = [
    (
        "v1-user",
        AuthProtocol::MsChapV1,
        Ipv4Addr::new(10, 99, 0, 78),
    ),
    (
        "chap-user",
        AuthProtocol::Chap,
        Ipv4Addr::new(10, 99, 0, 79),
    ),
    ("pap-user", AuthProtocol::Pap, Ipv4Addr::new(10, 99, 0, 80)),
];
/// The address FreeRADIUS gives alice (outside the pool's first addresses, so it cannot be
/// the pool's choice by chance).
const FRAMED_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 77);
/// The Class FreeRADIUS gives alice, as FreeRADIUS writes it in the detail file.
const CLASS_HEX: &str = "0x6c327470642d636c6173732d3031";

/// The FreeRADIUS configuration of this test (see `radius_env::freeradius_config`): alice and
/// the users of `OTHERS`, an authentication listener on `port`, an accounting one on
/// `acct_port` writing to the test's `detail` file.
fn freeradius_config(dir: &TempDir, port: u16, acct_port: u16) -> PathBuf {
    let mut users = format!(
        "{USER}\tCleartext-Password := \"{PASSWORD}\"\n\
         \tFramed-IP-Address = {FRAMED_IP},\n\
         \tReply-Message = \"Welcome, {USER}\",\n\
         \tClass = {CLASS_HEX},\n\
         \tAcct-Interim-Interval = 60,\n\
         \tMessage-Authenticator := 0x00\n"
    );
    for (user, _, ip) in OTHERS {
        users += &format!(
            "{user}\tCleartext-Password := \"{PASSWORD}\"\n\
             \tFramed-IP-Address = {ip},\n\
             \tMessage-Authenticator := 0x00\n"
        );
    }
    let site = format!(
        "server l2tpd-test {{\n\
         \tlisten {{\n\t\ttype = auth\n\t\tipaddr = 127.0.0.1\n\t\tport = {port}\n\t}}\n\
         \tlisten {{\n\t\ttype = acct\n\t\tipaddr = 127.0.0.1\n\t\tport = {acct_port}\n\t}}\n\
         \taccounting {{\n\t\tl2tpd_detail\n\t}}\n\
         \tauthorize {{\n\t\tfiles\n\t\tmschap\n\t\tchap\n\t\tpap\n\t}}\n\
         \tauthenticate {{\n\
         \t\tAuth-Type PAP {{\n\t\t\tpap\n\t\t}}\n\
         \t\tAuth-Type CHAP {{\n\t\t\tchap\n\t\t}}\n\
         \t\tAuth-Type MS-CHAP {{\n\t\t\tmschap\n\t\t}}\n\
         \t}}\n\
         \tpost-auth {{\n\
         \t\tPost-Auth-Type REJECT {{\n\
         \t\t\tupdate reply {{\n\t\t\t\tMessage-Authenticator := 0x00\n\t\t\t}}\n\
         \t\t}}\n\
         \t}}\n\
         }}\n"
    );
    let raddb = radius_env::freeradius_config(dir, SECRET, &users, &site);
    // Accounting records go to one file of the test's (RFC 2866 attributes, one record per
    // blank-line-separated block).
    std::fs::write(
        raddb.join("mods-enabled/l2tpd_detail"),
        format!(
            "detail l2tpd_detail {{\n\tfilename = {}\n\tescape_filenames = no\n\
             \tpermissions = 0600\n\theader = \"%t\"\n}}\n",
            dir.path("detail").display()
        ),
    )
    .unwrap();
    raddb
}

fn write_daemon_config(
    dir: &TempDir,
    ike: u16,
    natt: u16,
    radius_port: u16,
    acct_port: Option<u16>,
    timeout_secs: u32,
    retries: u32,
) -> PathBuf {
    write_secret_file(&dir.path("radius.secret"), SECRET);
    let cfg = dir.path("l2tpd.yaml");
    std::fs::write(
        &cfg,
        daemon_config_head(ike, natt, PSK)
            + &format!(
                "ppp:\n  pap: true\n\
                 radius:\n  servers:\n    - address: 127.0.0.1:{radius_port}\n      \
                 secret_file: radius.secret\n  timeout_secs: {timeout_secs}\n  \
                 retries: {retries}\n  nas_identifier: l2tpd-radius-test\n{}",
                acct_port.map_or_else(String::new, |p| format!(
                    "  accounting:\n    servers:\n      - address: 127.0.0.1:{p}\n        \
                     secret_file: radius.secret\n"
                ))
            ),
    )
    .unwrap();
    // No users: only RADIUS can let alice in.
    std::fs::write(dir.path("users.yaml"), "users: []\n").unwrap();
    cfg
}

fn client(password: &str, seed: u8) -> Client {
    client_with(Profile::windows_xp_sp2(), USER, password, seed)
}

fn client_with(profile: Profile, user: &str, password: &str, seed: u8) -> Client {
    Client::new(ClientConfig {
        profile,
        local: CLIENT_PRIVATE,
        server: SERVER,
        psk: crypto::Secret::from_slice(PSK.as_bytes()),
        user: user.into(),
        password: password.into(),
        rng_seed: [seed; 32],
    })
}

#[test]
fn freeradius_decides_logins_and_gives_the_address() {
    if !freeradius_available("RADIUS test") {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = TempDir::new("radius");
    let (radius_port, acct_port) = free_udp_ports();
    let raddb = freeradius_config(&dir, radius_port, acct_port);
    let (_freeradius, radius_log) = start_freeradius(&raddb);
    let radius_output = || radius_log.try_iter().collect::<Vec<_>>().join("\n");

    let (ike_port, natt_port) = free_udp_ports();
    let cfg = write_daemon_config(
        &dir,
        ike_port,
        natt_port,
        radius_port,
        Some(acct_port),
        2,
        1,
    );
    let (mut daemon, log_path) = start_daemon(&dir, &cfg);
    let daemon_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // The right password: up, with FreeRADIUS' Framed-IP-Address.
    let alice_sockets = Sockets::new(ike_port, natt_port);
    let mut alice = client(PASSWORD, 7);
    alice.connect(Instant::now()).unwrap();
    let done = alice_sockets.pump(&mut alice, Duration::from_secs(30), |c| {
        c.is_up() || c.stage() == Stage::Down
    });
    assert!(
        done && alice.is_up(),
        "client not up (stage {:?}); events {:?}\ndaemon log:\n{}\nfreeradius:\n{}",
        alice.stage(),
        alice.events(),
        daemon_log(),
        radius_output()
    );
    assert_eq!(alice.assigned_address(), Some(FRAMED_IP));
    let log = daemon_log();
    assert!(
        log.contains("RADIUS accepted the login") && log.contains(&FRAMED_IP.to_string()),
        "{log}"
    );
    // Traffic both ways for the accounting: a DHCPINFORM, which the server answers.
    let inform = testkit::packet::dhcp_inform(FRAMED_IP, 0x0bad_cafe);
    alice.send_ip(Instant::now(), &inform).unwrap();
    let answered = alice_sockets.pump(&mut alice, Duration::from_secs(5), |c| {
        c.received_ip().next().is_some()
    });
    assert!(answered, "no DHCP answer\ndaemon log:\n{}", daemon_log());

    // The other methods, each checked by FreeRADIUS from the same Cleartext-Password.
    for ((user, method, ip), seed) in OTHERS.into_iter().zip(20..) {
        let sockets = Sockets::new(ike_port, natt_port);
        let mut profile = Profile::windows_10();
        profile.auth_protocols = vec![method];
        let mut c = client_with(profile, user, PASSWORD, seed);
        c.connect(Instant::now()).unwrap();
        let done = sockets.pump(&mut c, Duration::from_secs(30), |c| {
            c.is_up() || c.stage() == Stage::Down
        });
        assert!(
            done && c.is_up(),
            "{method:?}: client not up (stage {:?}); events {:?}\ndaemon log:\n{}\nfreeradius:\n{}",
            c.stage(),
            c.events(),
            daemon_log(),
            radius_output()
        );
        assert_eq!(c.assigned_address(), Some(ip), "{method:?}");
    }

    // A wrong password: FreeRADIUS rejects (MS-CHAP-Error E=691), the client sees 691.
    let sockets = Sockets::new(ike_port, natt_port);
    let mut mallory = client("not-the-password", 9);
    mallory.connect(Instant::now()).unwrap();
    let failed = |c: &Client| {
        c.events()
            .iter()
            .any(|e| matches!(e, ClientEvent::AuthFailed { .. }))
    };
    let done = sockets.pump(&mut mallory, Duration::from_secs(30), |c| {
        failed(c) || c.is_up()
    });
    assert!(
        done && !mallory.is_up(),
        "no failure (stage {:?}); events {:?}\ndaemon log:\n{}\nfreeradius:\n{}",
        mallory.stage(),
        mallory.events(),
        daemon_log(),
        radius_output()
    );
    let errors: Vec<u32> = mallory
        .events()
        .iter()
        .filter_map(|e| match e {
            ClientEvent::AuthFailed { windows_error } => Some(*windows_error),
            _ => None,
        })
        .collect();
    assert_eq!(errors, vec![691], "{:?}", mallory.events());

    // Accounting: Start at once, an Interim-Update 60 s after it (FreeRADIUS's
    // Acct-Interim-Interval), then a Stop when alice hangs up.
    let detail_path = dir.path("detail");
    let alice_records = || {
        detail_records(&std::fs::read_to_string(&detail_path).unwrap_or_default())
            .into_iter()
            .filter(|r| attr(r, "User-Name") == Some("\"alice\""))
            .collect::<Vec<_>>()
    };
    let status = |r: &Vec<(String, String)>| status_of(r);
    let interim_seen = alice_sockets.pump(&mut alice, Duration::from_secs(75), |_| {
        alice_records()
            .iter()
            .any(|r| status(r).as_deref() == Some("Interim-Update"))
    });
    assert!(
        interim_seen && alice.is_up(),
        "no Interim-Update within 75 s; records {:#?}\ndaemon log:\n{}\nfreeradius:\n{}",
        alice_records(),
        daemon_log(),
        radius_output()
    );
    alice.disconnect(Instant::now());
    let _ = alice_sockets.pump(&mut alice, Duration::from_secs(5), |c| {
        c.stage() == Stage::Down
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !alice_records()
        .iter()
        .any(|r| status(r).as_deref() == Some("Stop"))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let records = alice_records();
    let kinds: Vec<String> = records.iter().filter_map(status).collect();
    assert!(
        kinds.first().map(String::as_str) == Some("Start")
            && kinds.iter().any(|k| k == "Interim-Update")
            && kinds.last().map(String::as_str) == Some("Stop"),
        "{kinds:?}: {records:#?}\ndaemon log:\n{}",
        daemon_log()
    );
    let id = attr(&records[0], "Acct-Session-Id").unwrap().to_owned();
    for r in &records {
        assert_eq!(attr(r, "Acct-Session-Id"), Some(id.as_str()), "{r:#?}");
        assert!(
            attr(r, "Class").is_some_and(|c| c.eq_ignore_ascii_case(CLASS_HEX)),
            "Class not echoed: {r:#?}"
        );
        assert_eq!(attr(r, "Acct-Authentic"), Some("RADIUS"), "{r:#?}");
        assert_eq!(attr(r, "NAS-Port-Type"), Some("Virtual"), "{r:#?}");
        assert_eq!(
            attr(r, "Framed-IP-Address"),
            Some(FRAMED_IP.to_string().as_str()),
            "{r:#?}"
        );
        assert!(attr(r, "Event-Timestamp").is_some(), "{r:#?}");
    }
    let stop = records.last().unwrap();
    let number = |name: &str| attr(stop, name).and_then(|v| v.parse::<u64>().ok());
    assert!(
        number("Acct-Input-Octets").is_some_and(|n| n > 0),
        "{stop:#?}"
    );
    assert!(
        number("Acct-Output-Octets").is_some_and(|n| n > 0),
        "{stop:#?}"
    );
    assert!(
        number("Acct-Input-Packets").is_some_and(|n| n > 0),
        "{stop:#?}"
    );
    assert!(
        number("Acct-Session-Time").is_some_and(|n| n >= 60),
        "{stop:#?}"
    );
    assert_eq!(
        attr(stop, "Acct-Terminate-Cause"),
        Some("User-Request"),
        "{stop:#?}"
    );

    // Alice again, then the daemon stops: her new session's Stop leaves before it exits.
    let mut again = client(PASSWORD, 8);
    again.connect(Instant::now()).unwrap();
    let up = alice_sockets.pump(&mut again, Duration::from_secs(30), |c| {
        c.is_up() || c.stage() == Stage::Down
    });
    assert!(up && again.is_up(), "daemon log:\n{}", daemon_log());
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.0.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let exit_by = Instant::now() + Duration::from_secs(5);
    while daemon.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < exit_by, "the daemon did not stop");
        // Answer the goodbyes, as a client would.
        let _ = alice_sockets.pump(&mut again, Duration::from_millis(50), |_| false);
    }
    let records = alice_records();
    let second: Vec<_> = records
        .iter()
        .filter(|r| attr(r, "Acct-Session-Id") != Some(id.as_str()))
        .collect();
    let kinds: Vec<String> = second.iter().filter_map(|r| status_of(r)).collect();
    assert_eq!(
        kinds,
        ["Start", "Stop"],
        "{second:#?}\ndaemon log:\n{}",
        daemon_log()
    );
    assert_eq!(
        attr(second[1], "Acct-Terminate-Cause"),
        Some("Admin-Reboot"),
        "{:#?}",
        second[1]
    );
    // The NAS's own records: Accounting-On before any Start, Accounting-Off after the last
    // Stop, both under the daemon's start time (the prefix of its sessions' IDs).
    let all = detail_records(&std::fs::read_to_string(&detail_path).unwrap_or_default());
    let kinds: Vec<String> = all.iter().filter_map(|r| status_of(r)).collect();
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("Accounting-On"),
        "{kinds:?}: {all:#?}\ndaemon log:\n{}",
        daemon_log()
    );
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("Accounting-Off"),
        "{kinds:?}\ndaemon log:\n{}",
        daemon_log()
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("Accounting-"))
            .count(),
        2,
        "{kinds:?}"
    );
    let boot = id.trim_matches('"').split('-').next().unwrap();
    for r in [&all[0], all.last().unwrap()] {
        assert_eq!(
            attr(r, "Acct-Session-Id"),
            Some(format!("\"{boot}\"").as_str()),
            "{r:#?}"
        );
        assert_eq!(
            attr(r, "NAS-Identifier"),
            Some("\"l2tpd-radius-test\""),
            "{r:#?}"
        );
    }

    let log = daemon_log();
    assert!(log.contains("RADIUS rejected the login"), "{log}");
    // Neither the passwords nor the shared secret reach the log.
    for secret in [PASSWORD, "not-the-password", SECRET] {
        assert!(!log.contains(secret), "{secret} in the daemon log:\n{log}");
    }
    // FreeRADIUS saw what a NAS of ours sends.
    let seen = radius_output();
    for needle in [
        "NAS-Identifier = \"l2tpd-radius-test\"",
        "NAS-Port-Type = Virtual",
        "Service-Type = Framed-User",
        "Framed-Protocol = PPP",
        "Calling-Station-Id = \"127.0.0.1:",
        "Called-Station-Id = \"127.0.0.1\"",
        "MS-CHAP-Challenge",
        "MS-CHAP2-Response",
    ] {
        assert!(
            seen.contains(needle),
            "FreeRADIUS did not see {needle}:\n{seen}"
        );
    }
}

/// The records of a FreeRADIUS detail file: each a time stamp line, then `\tName = value`
/// lines, then a blank line.
fn detail_records(text: &str) -> Vec<Vec<(String, String)>> {
    text.split("\n\n")
        .map(|block| {
            block
                .lines()
                .filter_map(|l| l.strip_prefix('\t'))
                .filter_map(|l| l.split_once(" = "))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<Vec<_>>()
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// A detail record's Acct-Status-Type.
fn status_of(record: &[(String, String)]) -> Option<String> {
    attr(record, "Acct-Status-Type").map(str::to_owned)
}

/// The value of attribute `name` in a detail record.
fn attr<'a>(record: &'a [(String, String)], name: &str) -> Option<&'a str> {
    record
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_radius_server_that_never_answers_properly_refuses_the_login_with_691() {
    use radius::attr::{FramedProtocol, NasPortType, ServiceType};
    use radius::auth::{self, MessageAuthenticator};
    use radius::{Attribute, Code, MsAttribute, Repr, SharedSecret};

    let dir = TempDir::new("radius-silent");
    // The "server": a socket that reads and never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    silent
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let radius_port = silent.local_addr().unwrap().port();
    let (ike_port, natt_port) = free_udp_ports();
    let cfg = write_daemon_config(&dir, ike_port, natt_port, radius_port, None, 1, 1);
    let (_daemon, log_path) = start_daemon(&dir, &cfg);
    let secret = SharedSecret::new(SECRET);
    let daemon_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let sockets = Sockets::new(ike_port, natt_port);
    let mut alice = client(PASSWORD, 11);
    alice.connect(Instant::now()).unwrap();
    let mut requests: Vec<Vec<u8>> = Vec::new();
    let start = Instant::now();
    let failed = loop {
        // Let the client run a little, then read what reached the silent server.
        let done = sockets.pump(&mut alice, Duration::from_millis(200), |c| {
            c.stage() == Stage::Down || c.is_up()
        });
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = silent.recv_from(&mut buf) {
            let request = buf[..n].to_vec();
            if requests.is_empty() {
                // An Access-Accept with the right Response Authenticator but no
                // Message-Authenticator, as FreeRADIUS before 3.2.5 sends by default: dropped.
                let asked = Repr::parse_bytes(&request).unwrap();
                let mut accept = Repr {
                    code: Code::AccessAccept,
                    identifier: asked.identifier,
                    authenticator: [0; 16],
                    attributes: vec![Attribute::FramedIpAddress(FRAMED_IP)],
                }
                .to_vec()
                .unwrap();
                auth::sign_response(&mut accept, &asked.authenticator, &secret).unwrap();
                silent.send_to(&accept, from).unwrap();
            }
            requests.push(request);
        }
        if done || start.elapsed() > Duration::from_secs(30) {
            break done;
        }
    };
    assert!(
        failed && !alice.is_up(),
        "stage {:?}; events {:?}\ndaemon log:\n{}",
        alice.stage(),
        alice.events(),
        daemon_log()
    );
    assert!(
        alice
            .events()
            .iter()
            .any(|e| matches!(e, ClientEvent::AuthFailed { windows_error: 691 })),
        "{:?}",
        alice.events()
    );
    // One request and its one retransmission (retries: 1), byte for byte (RFC 5080 §2.2.1).
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0], requests[1]);
    auth::verify_request(&requests[0], &secret, MessageAuthenticator::Required).unwrap();
    assert!(
        auth::verify_request(
            &requests[0],
            &SharedSecret::new("another-secret-0123456789"),
            MessageAuthenticator::Required
        )
        .is_err()
    );
    let r = Repr::parse_bytes(&requests[0]).unwrap();
    assert_eq!(r.code, Code::AccessRequest);
    let has = |want: &Attribute| r.attributes.contains(want);
    for want in [
        Attribute::UserName(USER.into()),
        Attribute::NasIdentifier(b"l2tpd-radius-test".to_vec()),
        Attribute::NasPortType(NasPortType::Virtual),
        Attribute::ServiceType(ServiceType::Framed),
        Attribute::FramedProtocol(FramedProtocol::Ppp),
        Attribute::CalledStationId(b"127.0.0.1".to_vec()),
    ] {
        assert!(has(&want), "{want:?} missing: {:?}", r.attributes);
    }
    let calling = r
        .find(|a| match a {
            Attribute::CallingStationId(v) => Some(String::from_utf8_lossy(v).into_owned()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        calling,
        format!("127.0.0.1:{}", sockets.natt.local_addr().unwrap().port()),
        "the client's public address and port"
    );
    let challenge = r
        .find(|a| match a {
            Attribute::Microsoft(MsAttribute::ChapChallenge(c)) => Some(c.len()),
            _ => None,
        })
        .unwrap();
    assert_eq!(challenge, 16, "MS-CHAPv2's authenticator challenge");
    assert!(r.attributes.iter().any(|a| matches!(
        a,
        Attribute::Microsoft(MsAttribute::Chap2Response { flags: 0, .. })
    )));
    assert!(
        !r.attributes
            .iter()
            .any(|a| matches!(a, Attribute::UserPassword(_))),
        "no User-Password for MS-CHAPv2"
    );
    let log = daemon_log();
    assert!(log.contains("the RADIUS server did not answer"), "{log}");
    assert!(
        log.contains("RADIUS answer dropped: it has no Message-Authenticator"),
        "{log}"
    );
    assert!(!log.contains(SECRET) && !log.contains(PASSWORD), "{log}");
}
