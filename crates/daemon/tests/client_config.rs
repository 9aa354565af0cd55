//! Runs `l2tpd-rs client-config` on a configuration full of awkward values (quotes, `$`, a
//! backtick, `;`, `&`, `<`, `>`, non-ASCII, typographic quotes) and reads each format back
//! with a real parser: Python's plistlib for the `.mobileconfig` (when python3 is missing the
//! test prints a skip line, or fails if `L2TPD_RS_REQUIRE_ROOT_TESTS` is set, as CI does), a
//! GLib key-file reader for the NetworkManager file, and a PowerShell single-quoted-string
//! reader for the script. No full PowerShell parser runs here: PowerShell itself does not
//! install from Debian, and the tree-sitter grammar on crates.io (`tree-sitter-powershell`
//! 0.25) rejects valid parameter names that hold a digit, such as `Add-VpnConnection`'s own
//! `-L2tpPsk` ("Get-X -L2 1" already parses with an ERROR node), so the structural reader
//! checks what the script's safety rests on: every value is one well-formed single-quoted
//! literal. Also the refusals: unknown and disabled users, a hash-only user's
//! password, and no address to dial.
// The shared support module polls a daemon with real time; these tests use only part of it.
#![allow(clippy::disallowed_methods, dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

mod support;

use support::{TempDir, run, text};

const PSK: &str = "p's\"k $x `y; &<b> ‘q’ é ü";
const USER: &str = "o'brien\"$`;&<>é’";
const PASSWORD: &str = "pa'ss\"$w`d;&<>ö ";
const NAME: &str = "Office 'VPN' $HOME `x`; &<>ä";
const SERVER: &str = "vpn.example.com";

/// A configuration listening on a dialable address, with the awkward PSK in a psk_file,
/// client routes and three users (awkward password, hash only, disabled).
struct Setup {
    dir: TempDir,
    config: PathBuf,
}

fn setup(listen: &str, routes: &str) -> Setup {
    let dir = TempDir::new("client-config");
    let config = dir.path("l2tpd.yaml");
    std::fs::write(dir.path("psk"), format!("{PSK}\n")).unwrap();
    std::fs::write(
        &config,
        format!(
            "listen:\n  addresses: [{listen}]\npsk_file: psk\npool:\n  cidr: 10.99.0.0/24\n\
             client_routes: [{routes}]\n"
        ),
    )
    .unwrap();
    let yaml = |s: &str| serde_json::to_string(s).unwrap();
    std::fs::write(
        dir.path("users.yaml"),
        format!(
            "users:\n  - name: {}\n    password: {}\n  - name: bob\n    nt_hash: \
             44EBBA8D5312B8D611474411F56989AE\n  - name: carol\n    password: secret-carol\n    \
             disabled: true\n",
            yaml(USER),
            yaml(PASSWORD)
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(dir.path("psk")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(dir.path("psk"), perms).unwrap();
    Setup { dir, config }
}

fn generate(s: &Setup, user: &str, format: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "client-config",
        user,
        "--format",
        format,
        "--config",
        s.config.to_str().unwrap(),
        "--name",
        NAME,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstderr: {}",
        out.status,
        text(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Reads a PowerShell single-quoted string at the start of `s`: returns its value and the
/// rest. `'` and the typographic single quotes U+2018..U+201B open and close it; two in a row
/// stand for the second one.
fn ps_single_quoted(s: &str) -> (String, &str) {
    let is_quote = |c: char| matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}');
    let mut chars = s.char_indices().peekable();
    let (_, first) = chars.next().expect("empty");
    assert!(is_quote(first), "not a single-quoted string: {s}");
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        if is_quote(c) {
            match chars.peek() {
                Some(&(_, n)) if is_quote(n) => {
                    value.push(n);
                    chars.next();
                }
                _ => return (value, &s[i + c.len_utf8()..]),
            }
        } else {
            value.push(c);
        }
    }
    panic!("unterminated string: {s}");
}

/// The `$Var = '...'` assignments of a script.
fn ps_assignments(script: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = script;
    while let Some(pos) = rest.find("\n$") {
        let line = &rest[pos + 2..];
        let Some((var, value)) = line.split_once(" = ") else {
            rest = &rest[pos + 2..];
            continue;
        };
        if var.chars().all(|c| c.is_ascii_alphanumeric()) && value.starts_with('\'') {
            let (v, after) = ps_single_quoted(value);
            assert!(after.starts_with('\n'), "junk after the string: {after:?}");
            out.insert(var.to_owned(), v);
            rest = after;
        } else {
            rest = &rest[pos + 2..];
        }
    }
    out
}

#[test]
fn windows_script_quotes_every_value_and_adds_the_routes() {
    let s = setup("127.0.0.1, 203.0.113.10", "192.168.1.0/24, 172.16.0.0/12");
    let script = ok(&generate(&s, USER, "windows", &["--with-password"]));
    let script = script
        .strip_prefix('\u{feff}')
        .expect("the script starts with a UTF-8 BOM");
    let vars = ps_assignments(script);
    assert_eq!(vars.get("Name").map(String::as_str), Some(NAME));
    assert_eq!(vars.get("Server").map(String::as_str), Some("203.0.113.10"));
    assert_eq!(vars.get("Psk").map(String::as_str), Some(PSK));
    assert_eq!(vars.get("User").map(String::as_str), Some(USER));
    assert_eq!(vars.get("Password").map(String::as_str), Some(PASSWORD));
    // The values appear nowhere else: everything else refers to the variables.
    assert_eq!(script.matches("$x `y").count(), 1, "{script}");
    let add = script
        .lines()
        .skip_while(|l| !l.starts_with("Add-VpnConnection "))
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    for arg in [
        "-Name $Name",
        "-ServerAddress $Server",
        "-TunnelType L2tp",
        "-L2tpPsk $Psk",
        "-AuthenticationMethod MSChapv2",
        "-EncryptionLevel Required",
        "-RememberCredential",
        "-SplitTunneling",
        "-Force",
        "-PassThru",
    ] {
        assert!(add.contains(arg), "missing {arg} in {add}");
    }
    let routes: Vec<String> = script
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Add-VpnConnectionRoute -ConnectionName $Name -DestinationPrefix ")
        })
        .map(|rest| ps_single_quoted(rest).0)
        .collect();
    assert_eq!(routes, ["192.168.1.0/24", "172.16.0.0/12"]);
    assert!(script.contains("rasdial $Name $User $Password"), "{script}");
    assert!(
        script.contains(
            "AssumeUDPEncapsulationContextOnSendRule value (Microsoft KB 947234) is not needed"
        ),
        "{script}"
    );
}

#[test]
fn windows_script_without_routes_sends_everything_through_the_vpn() {
    let s = setup("203.0.113.10", "");
    let script = ok(&generate(&s, USER, "windows", &[]));
    assert!(!script.contains("-SplitTunneling"), "{script}");
    assert!(!script.contains("Add-VpnConnectionRoute"), "{script}");
    assert!(!script.contains("$Password"), "{script}");
    assert!(!script.contains("ss\"$w"), "password leaked: {script}");
}

/// Parses a GLib key file: `[group]`, `key=value`, `#` comments; unescapes `\s \n \t \r \\`.
fn glib_keyfile(text: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut group = None;
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(g) = line.strip_prefix('[') {
            group = Some(g.strip_suffix(']').expect("group line").to_owned());
            continue;
        }
        let (key, value) = line.split_once('=').expect("key=value");
        let value = value.trim_start_matches(' ').trim_end_matches(' ');
        let mut v = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next().expect("dangling backslash") {
                    's' => v.push(' '),
                    'n' => v.push('\n'),
                    't' => v.push('\t'),
                    'r' => v.push('\r'),
                    '\\' => v.push('\\'),
                    other => panic!("invalid escape \\{other}"),
                }
            } else {
                v.push(c);
            }
        }
        let g = group.clone().expect("key outside a group");
        assert!(
            out.insert((g, key.trim_end().to_owned()), v).is_none(),
            "duplicate key {key}"
        );
    }
    out
}

#[test]
fn linux_keyfile_round_trips_through_a_keyfile_reader() {
    let s = setup("203.0.113.10", "192.168.1.0/24");
    let file = ok(&generate(&s, USER, "linux", &["--with-password"]));
    let kf = glib_keyfile(&file);
    let get = |g: &str, k: &str| kf.get(&(g.to_owned(), k.to_owned())).map(String::as_str);
    assert_eq!(get("connection", "id"), Some(NAME));
    assert_eq!(get("connection", "type"), Some("vpn"));
    assert_eq!(
        get("vpn", "service-type"),
        Some("org.freedesktop.NetworkManager.l2tp")
    );
    assert_eq!(get("vpn", "gateway"), Some("203.0.113.10"));
    assert_eq!(get("vpn", "user"), Some(USER));
    assert_eq!(get("vpn", "ipsec-enabled"), Some("yes"));
    assert_eq!(
        get("vpn", "ipsec-ike"),
        Some("aes256-sha1-modp2048,aes128-sha1-modp2048,3des-sha1-modp2048,3des-sha1-modp1024")
    );
    assert_eq!(
        get("vpn", "ipsec-esp"),
        Some("aes256-sha1,aes128-sha1,3des-sha1")
    );
    assert_eq!(get("vpn", "refuse-pap"), Some("yes"));
    assert_eq!(get("vpn-secrets", "ipsec-psk"), Some(PSK));
    // The password ends in a space: kept by `\s`.
    assert_eq!(get("vpn-secrets", "password"), Some(PASSWORD));
    assert_eq!(get("vpn", "password-flags"), Some("0"));
    assert_eq!(get("ipv4", "method"), Some("auto"));
    assert_eq!(get("ipv4", "never-default"), Some("true"));
    assert_eq!(get("ipv4", "route1"), Some("192.168.1.0/24"));
    let uuid = get("connection", "uuid").unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(uuid.as_bytes()[14], b'4', "a version 4 UUID: {uuid}");
}

#[test]
fn linux_keyfile_follows_a_legacy_only_server() {
    let s = setup("203.0.113.10", "");
    let mut cfg = std::fs::read_to_string(&s.config).unwrap();
    cfg.push_str("ike:\n  profiles: [legacy]\n");
    std::fs::write(&s.config, cfg).unwrap();
    let kf = glib_keyfile(&ok(&generate(&s, "bob", "linux", &[])));
    let get = |g: &str, k: &str| kf.get(&(g.to_owned(), k.to_owned())).map(String::as_str);
    assert_eq!(
        get("vpn", "ipsec-ike"),
        Some("3des-sha1-modp2048,3des-sha1-modp1024")
    );
    assert_eq!(get("vpn", "ipsec-esp"), Some("3des-sha1"));
    assert_eq!(get("vpn", "password-flags"), Some("2"));
    assert_eq!(get("vpn-secrets", "password"), None);
    assert_eq!(get("ipv4", "never-default"), None);
}

/// Python 3, or `None` after printing why the test is skipped (a failure when CI requires it).
fn python3() -> Option<&'static str> {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("python3");
    }
    assert!(
        std::env::var_os("L2TPD_RS_REQUIRE_ROOT_TESTS").is_none(),
        "L2TPD_RS_REQUIRE_ROOT_TESTS is set but python3 is missing"
    );
    println!("skipping the plistlib check: python3 is missing");
    None
}

const PLIST_DUMP: &str = r#"
import json, plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
v = p["PayloadContent"][0]
print(json.dumps({
    "type": p["PayloadType"], "uuid": p["PayloadUUID"], "name": p["PayloadDisplayName"],
    "vtype": v["PayloadType"], "vuuid": v["PayloadUUID"], "vpn_type": v["VPNType"],
    "user_defined_name": v["UserDefinedName"], "auth_name": v["PPP"]["AuthName"],
    "auth_password": v["PPP"].get("AuthPassword"), "remote": v["PPP"]["CommRemoteAddress"],
    "method": v["IPSec"]["AuthenticationMethod"],
    "secret": v["IPSec"]["SharedSecret"].decode("utf-8"),
    "override_primary": v["IPv4"]["OverridePrimary"],
}))
"#;

fn plist(s: &Setup, user: &str, extra: &[&str]) -> Option<serde_json::Value> {
    let python = python3()?;
    let out = s.dir.path("vpn.mobileconfig");
    let mut args = vec!["--server", SERVER, "--output", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let gen_out = generate(s, user, "apple", &args);
    assert!(ok(&gen_out).is_empty(), "--output writes nothing to stdout");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&out).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let parsed = Command::new(python)
        .args(["-c", PLIST_DUMP, out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(parsed.status.success(), "{}", text(&parsed.stderr));
    Some(serde_json::from_slice(&parsed.stdout).unwrap())
}

#[test]
fn apple_profile_round_trips_through_plistlib() {
    let s = setup("0.0.0.0", "");
    let Some(v) = plist(&s, USER, &["--with-password"]) else {
        return;
    };
    assert_eq!(v["type"], "Configuration");
    assert_eq!(v["vtype"], "com.apple.vpn.managed");
    assert_eq!(v["vpn_type"], "L2TP");
    assert_eq!(v["name"], NAME);
    assert_eq!(v["user_defined_name"], NAME);
    assert_eq!(v["auth_name"], USER);
    assert_eq!(v["auth_password"], PASSWORD);
    assert_eq!(v["remote"], SERVER);
    assert_eq!(v["method"], "SharedSecret");
    assert_eq!(v["secret"], PSK);
    assert_eq!(v["override_primary"], 1);
    for key in ["uuid", "vuuid"] {
        let u = v[key].as_str().unwrap();
        assert_eq!(u.len(), 36, "{u}");
        assert_eq!(&u[14..15], "4", "a version 4 UUID: {u}");
        assert!(
            matches!(&u[19..20], "8" | "9" | "A" | "B"),
            "RFC variant: {u}"
        );
    }
    assert_ne!(v["uuid"], v["vuuid"]);
}

#[test]
fn hash_only_user_gets_no_password_and_a_plain_message() {
    let s = setup("203.0.113.10", "10.1.0.0/16");
    let out = generate(&s, "bob", "linux", &["--with-password"]);
    let file = ok(&out);
    assert!(
        text(&out.stderr).contains("only an NT hash for `bob`"),
        "{}",
        text(&out.stderr)
    );
    let kf = glib_keyfile(&file);
    assert!(!kf.contains_key(&("vpn-secrets".to_owned(), "password".to_owned())));
    if let Some(v) = plist(&s, "bob", &["--with-password"]) {
        assert_eq!(v["auth_password"], serde_json::Value::Null);
        assert_eq!(v["auth_name"], "bob");
        // Everything goes through the VPN, even when the server names its networks.
        assert_eq!(v["override_primary"], 1);
    }
}

#[test]
fn xp_and_android_steps_carry_the_values() {
    let s = setup("203.0.113.10", "");
    let xp = ok(&generate(&s, USER, "xp", &["--with-password"]));
    assert!(xp.contains(&format!("  Pre-shared key:  {PSK}\n")), "{xp}");
    assert!(xp.contains(&format!("  User name:       {USER}\n")), "{xp}");
    assert!(
        xp.contains(&format!("  Password:        {PASSWORD}\n")),
        "{xp}"
    );
    assert!(
        xp.contains("Host name or IP address: 203.0.113.10."),
        "{xp}"
    );
    assert!(xp.contains("Type of VPN: L2TP IPSec VPN"), "{xp}");
    assert!(xp.contains("not a phonebook (.pbk) file"), "{xp}");
    assert!(
        xp.contains("never in a phonebook file, so it is\ntyped in step 9"),
        "{xp}"
    );
    assert!(
        xp.contains("IPSec Settings...: tick \"Use pre-shared key"),
        "{xp}"
    );
    let android = ok(&generate(&s, USER, "android", &[]));
    assert!(android.contains("Type: L2TP/IPSec PSK\n"), "{android}");
    assert!(
        android.contains(&format!("IPSec pre-shared key: {PSK}\n")),
        "{android}"
    );
    assert!(
        android.contains(&format!("Username: {USER}\n")),
        "{android}"
    );
    assert!(
        android.contains("Server address: 203.0.113.10\n"),
        "{android}"
    );
    assert!(!android.contains(PASSWORD.trim_end()), "{android}");
}

#[test]
fn unknown_and_disabled_users_are_refused_with_exit_code_2() {
    let s = setup("203.0.113.10", "");
    let out = generate(&s, "mallory", "windows", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no user `mallory`"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let out = generate(&s, "carol", "apple", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`carol` is disabled"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn no_dialable_listen_address_asks_for_server() {
    for listen in ["0.0.0.0", "127.0.0.1, 127.0.0.2"] {
        let s = setup(listen, "");
        let out = generate(&s, USER, "linux", &[]);
        assert_eq!(out.status.code(), Some(2), "{listen}");
        assert!(
            text(&out.stderr).contains("--server HOST"),
            "{}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
    let s = setup("0.0.0.0", "");
    for bad in ["", "vpn.example.com\nRemove-Item x", "two words"] {
        let out = generate(&s, USER, "windows", &["--server", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(out.stdout.is_empty(), "{bad:?}");
    }
    // With --server it works.
    let kf = glib_keyfile(&ok(&generate(&s, USER, "linux", &["--server", SERVER])));
    assert_eq!(
        kf.get(&("vpn".to_owned(), "gateway".to_owned()))
            .map(String::as_str),
        Some(SERVER)
    );
}

#[test]
fn the_psk_never_reaches_stderr() {
    let s = setup("203.0.113.10", "");
    for format in ["windows", "xp", "apple", "linux", "android"] {
        let out = generate(&s, "bob", format, &["--with-password"]);
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("$x `y"), "{format}");
    }
}
