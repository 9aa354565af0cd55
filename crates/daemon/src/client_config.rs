//! `l2tpd-rs client-config USER --format ...`: a connection for one user, ready to import or
//! follow, made from the server's own configuration (its PSK, its IKE profiles, its PPP
//! authentication protocols and its client routes), so that it always matches what the server
//! accepts.
//!
//! Formats and the public documents their keys come from:
//! - `windows`: a PowerShell script calling `Add-VpnConnection` (`-TunnelType L2tp`, `-L2tpPsk`,
//!   `-AuthenticationMethod MSChapv2`, `-EncryptionLevel Required`, `-RememberCredential`,
//!   `-SplitTunneling`) and `Add-VpnConnectionRoute`, from Microsoft's VpnClient module
//!   reference (<https://learn.microsoft.com/powershell/module/vpnclient/add-vpnconnection>,
//!   <https://learn.microsoft.com/powershell/module/vpnclient/add-vpnconnectionroute>). Strings
//!   are single-quoted with quotes doubled ("about_Quoting_Rules",
//!   <https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_quoting_rules>);
//!   PowerShell also treats the typographic single quotes U+2018..U+201B as quotes, so those
//!   are doubled too. The script starts with a UTF-8 byte order mark, without which Windows
//!   PowerShell 5.1 reads a script in the ANSI code page ("about_Character_Encoding").
//! - `xp`: the New Connection Wizard's steps with the values filled in, not a phonebook
//!   (`.pbk`) entry. The pre-shared key could not be in a phonebook anyway: Windows keeps it
//!   with the connection's credentials, not in the file (the RAS API sets it with
//!   `RasSetCredentials` and `RASCM_PreSharedKey`, "RASCREDENTIALS structure",
//!   <https://learn.microsoft.com/previous-versions/windows/desktop/legacy/aa376730(v=vs.85)>),
//!   so the user types it under IPSec Settings in any case. An entry to import would still save the other
//!   steps, but the public record does not describe one that XP is sure to read as meant.
//!   Checked: the phonebook format in Microsoft's RRAS management protocol specification
//!   ([MS-RRASM] §2.2.2 "File Format for Phonebook", §2.2.2.2 key order and `key=value` lines,
//!   §2.2.2.2.11 `VpnStrategy` (3 = L2TP only), §2.2.2.2.14 `DataEncryption` (256 = require),
//!   §2.2.2.2.58 `AuthRestrictions` (MS-CHAP v2 = bit 10), §2.2.2.2.100 `DEVICE`, §2.2.2.2.108
//!   `PhoneNumber`, <https://learn.microsoft.com/openspecs/windows_protocols/ms-rrasm>), the
//!   `RASENTRY` structure (`dwType` `RASET_Vpn`, `dwVpnStrategy` `VS_L2tpOnly`, `dwfOptions`
//!   `RASEO_RequireMsCHAP2` and `RASEO_RequireDataEncryption`, `dwfOptions2`
//!   `RASEO2_UsePreSharedKey`; these are API fields, not file keys), and phonebooks that public
//!   scripts write for L2TP and PPPoE. What is missing:
//!   1. the file key behind `RASEO2_UsePreSharedKey` ("Use pre-shared key for authentication"):
//!      no document names it; public phonebooks carry an undocumented `IpSecFlags` as 0 or 1 on
//!      L2TP entries, without saying what it means;
//!   2. the MEDIA subsection's values for an L2TP entry (`MEDIA`, `Port`, `Device`): MS-RRASM
//!      requires the subsection but does not give the values for the L2TP miniport, and the
//!      port names in public phonebooks (`VPN2-0` and others) differ from machine to machine;
//!   3. MS-CHAP v2 only on XP: MS-RRASM gives `AuthRestrictions` 512, but phonebooks written by
//!      XP add bit 9 (256, not in the table) together with the undocumented keys `TypicalAuth`
//!      and `CustomAuthKey=-1`, and nothing says which of them XP needs to show "Advanced
//!      (custom settings)" with only MS-CHAP v2 ticked;
//!   4. the `DEVICE` value: MS-RRASM calls the key case-sensitive and spells the VPN device
//!      type `Vpn`, while phonebooks written by Windows hold `vpn`.
//! - `apple`: a configuration profile with a `com.apple.vpn.managed` payload of `VPNType`
//!   `L2TP` (Apple's "Configuration Profile Reference", VPN payload: the `PPP` dictionary's
//!   `AuthName`, `AuthPassword`, `CommRemoteAddress`; the `IPSec` dictionary's
//!   `AuthenticationMethod` `SharedSecret` and `SharedSecret` as data; `IPv4`
//!   `OverridePrimary`).
//! - `linux`: a NetworkManager keyfile for NetworkManager-l2tp
//!   (<https://github.com/nm-l2tp/NetworkManager-l2tp>, whose `nm-l2tp-service.h` names the
//!   `gateway`, `user`, `ipsec-enabled`, `ipsec-psk`, `ipsec-ike`, `ipsec-esp` and `refuse-*`
//!   keys), with values escaped as GLib's key-file format requires (GLib "Key-value file
//!   parser": `\s`, `\n`, `\t`, `\r`, `\\`).
//! - `android`: the steps of the built-in client's "L2TP/IPSec PSK" type with the values filled
//!   in.
//!
//! The PSK and passwords go only to the output; nothing here logs.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::ExitCode;

use clap::ValueEnum;
use config::users::Lookup;
use config::{AuthProtocol, Config, Profile};

/// The client the output is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A PowerShell script for Windows 8 and later (Add-VpnConnection).
    Windows,
    /// The Windows XP New Connection Wizard's steps, with the values filled in.
    Xp,
    /// An Apple configuration profile (.mobileconfig) for macOS and iOS/iPadOS.
    Apple,
    /// A NetworkManager keyfile for NetworkManager-l2tp.
    Linux,
    /// The built-in Android client's steps, with the values filled in.
    Android,
}

/// The connection's name when `--name` is not given.
pub(crate) const DEFAULT_NAME: &str = "l2tpd-rs VPN";

/// Exit code for a request that cannot be served as asked (like clap's usage errors).
const USAGE: u8 = 2;

/// What the command line asked for.
pub(crate) struct Request<'a> {
    pub(crate) config: &'a Path,
    pub(crate) user: &'a str,
    pub(crate) format: Format,
    pub(crate) server: Option<&'a str>,
    pub(crate) name: &'a str,
    pub(crate) with_password: bool,
    pub(crate) output: Option<&'a Path>,
}

/// Everything a format needs, as text.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) name: String,
    pub(crate) server: String,
    pub(crate) user: String,
    pub(crate) psk: String,
    pub(crate) password: Option<String>,
    /// Networks the client should route through the tunnel (empty: everything goes through).
    pub(crate) routes: Vec<Route>,
    /// The server accepts the `modern` IKE profile (AES).
    pub(crate) modern: bool,
    /// The server accepts the `legacy` IKE profile (3DES).
    pub(crate) legacy: bool,
    /// The PPP authentication protocols the server offers.
    pub(crate) auth: Vec<AuthProtocol>,
    /// `ike.nat_d_trick` is on.
    pub(crate) nat_d_trick: bool,
}

/// An IPv4 network the client should route through the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) network: Ipv4Addr,
    pub(crate) prefix: u8,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// `l2tpd-rs client-config`.
pub(crate) fn main(req: &Request<'_>) -> ExitCode {
    let loaded = match crate::check::load_all(req.config) {
        Ok(l) => l,
        Err(messages) => {
            for m in messages.iter().filter(|m| m.starts_with("error")) {
                eprintln!("{m}");
            }
            eprintln!("l2tpd-rs: fix the configuration first (see `l2tpd-rs check-config`)");
            return ExitCode::FAILURE;
        }
    };
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let (conn, notes) = match connection(&loaded.config, &loaded.users, req) {
        Ok(v) => v,
        Err(Failure { message, code }) => {
            eprintln!("l2tpd-rs: {message}");
            return ExitCode::from(code);
        }
    };
    for n in &notes {
        eprintln!("l2tpd-rs: {n}");
    }
    let text = render(req.format, &conn);
    match write_output(req.output, text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("l2tpd-rs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why no connection could be made, and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

fn usage(message: String) -> Failure {
    Failure {
        message,
        code: USAGE,
    }
}

/// The connection for `req.user`, and notes for the administrator (printed on stderr).
pub(crate) fn connection(
    config: &Config,
    users: &config::users::Users,
    req: &Request<'_>,
) -> Result<(Connection, Vec<String>), Failure> {
    let users_file = config.daemon.users_file.display();
    let (name, password) = match users.lookup(req.user) {
        Lookup::NotFound => {
            return Err(usage(format!(
                "there is no user `{}` in {users_file}",
                req.user
            )));
        }
        Lookup::Disabled => {
            return Err(usage(format!(
                "user `{}` is disabled in {users_file}: enable it first",
                req.user
            )));
        }
        Lookup::Found { name, password, .. } => (name, password),
    };
    let server = match req.server {
        Some(s) if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            return Err(usage(format!(
                "--server {s:?} is not a host name or address (empty, or it has spaces or \
                 control characters)"
            )));
        }
        Some(s) => s.to_owned(),
        None => default_server(&config.server.listen.addresses)
            .ok_or_else(|| {
                usage(format!(
                    "{} listens on no address that clients can dial (only wildcard or \
                     loopback addresses): pass the address or DNS name clients use with \
                     --server HOST",
                    config.path.display()
                ))
            })?
            .to_string(),
    };
    let psk = String::from_utf8(config.server.psk.as_bytes().to_vec()).map_err(|_| Failure {
        message: "the pre-shared key is not UTF-8 text, so no client can type or import it"
            .to_owned(),
        code: 1,
    })?;
    let mut notes = Vec::new();
    let password = if req.with_password {
        match password {
            Some(p) => match std::str::from_utf8(p.as_bytes()) {
                Ok(p) => Some(p.to_owned()),
                Err(_) => {
                    notes.push(format!(
                        "the password of `{name}` is not UTF-8 text: it is left out"
                    ));
                    None
                }
            },
            None => {
                notes.push(format!(
                    "{users_file} holds only an NT hash for `{name}`, not the password: it is \
                     left out, and the user types it when connecting"
                ));
                None
            }
        }
    } else {
        None
    };
    let ike = &config.server.ike;
    let conn = Connection {
        name: req.name.to_owned(),
        server,
        user: name.to_owned(),
        psk,
        password,
        routes: config
            .server
            .client_routes
            .iter()
            .map(|n| Route {
                network: n.network(),
                prefix: n.prefix(),
            })
            .collect(),
        modern: ike.profiles.contains(&Profile::Modern),
        legacy: ike.profiles.contains(&Profile::Legacy),
        auth: config.server.ppp.auth.clone(),
        nat_d_trick: ike.nat_d_trick,
    };
    Ok((conn, notes))
}

/// The first listen address a client could dial: neither the wildcard nor loopback.
fn default_server(addresses: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    addresses
        .iter()
        .copied()
        .find(|a| !a.is_unspecified() && !a.is_loopback())
}

/// Writes to `path` (created mode 0600: the output holds the PSK) or to standard output.
fn write_output(path: Option<&Path>, bytes: &[u8]) -> Result<(), String> {
    match path {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write to standard output: {e}"))
        }
        Some(p) => {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(p)?;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                f.write_all(bytes)?;
                f.sync_all()
            };
            write().map_err(|e| format!("cannot write {}: {e}", p.display()))
        }
    }
}

/// The output for `format`.
pub(crate) fn render(format: Format, c: &Connection) -> String {
    match format {
        Format::Windows => windows(c),
        Format::Xp => xp(c),
        Format::Apple => apple(c, &mut rand::rngs::OsRng),
        Format::Linux => linux(c, &mut rand::rngs::OsRng),
        Format::Android => android(c),
    }
}

/// A PowerShell single-quoted string literal.
pub(crate) fn ps_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        // ' and the typographic single quotes all end a single-quoted string; doubling one
        // makes it literal.
        if matches!(ch, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(ch);
        }
        out.push(ch);
    }
    out.push('\'');
    out
}

fn windows(c: &Connection) -> String {
    let mut s = String::from("\u{feff}");
    // Only quoted literals carry the values: nothing the user or --server holds can end a
    // comment or a line.
    s.push_str("# An L2TP/IPsec connection for one user.\n");
    let _ = writeln!(
        s,
        "# Generated by `l2tpd-rs client-config` from the server's configuration. It holds \
         the pre-shared key: keep it private and delete it after use."
    );
    s.push_str("# Run in PowerShell on Windows 8 or later:\n");
    s.push_str("#   powershell -ExecutionPolicy Bypass -File FILE.ps1\n");
    s.push_str("$ErrorActionPreference = 'Stop'\n");
    let _ = writeln!(s, "$Name = {}", ps_quote(&c.name));
    let _ = writeln!(s, "$Server = {}", ps_quote(&c.server));
    let _ = writeln!(s, "$Psk = {}", ps_quote(&c.psk));
    let _ = writeln!(s, "$User = {}", ps_quote(&c.user));
    if let Some(p) = &c.password {
        let _ = writeln!(s, "$Password = {}", ps_quote(p));
    }
    s.push_str(
        "# -Force: do not ask about the pre-shared key being stored with the connection.\n\
         # -RememberCredential: keep the user name and password after the first successful\n\
         # connection. -EncryptionLevel Required: IPsec encrypts everything.\n",
    );
    s.push_str(
        "Add-VpnConnection -Name $Name -ServerAddress $Server -TunnelType L2tp -L2tpPsk $Psk `\n  \
         -AuthenticationMethod MSChapv2 -EncryptionLevel Required -RememberCredential",
    );
    if !c.routes.is_empty() {
        s.push_str(" -SplitTunneling");
    }
    s.push_str(" -Force -PassThru\n");
    if !c.routes.is_empty() {
        s.push_str(
            "# Split tunnel: only these networks go through the VPN (the server also sends them\n\
             # in its answer to DHCPINFORM).\n",
        );
        for r in &c.routes {
            let _ = writeln!(
                s,
                "Add-VpnConnectionRoute -ConnectionName $Name -DestinationPrefix {} -PassThru",
                ps_quote(&r.to_string())
            );
        }
    }
    if c.nat_d_trick {
        s.push_str(
            "# No registry change is needed behind NAT: the server's NAT-D handling (ike.nat_d_trick,\n\
             # on) keeps Windows from deciding that the server is behind NAT, so the\n\
             # AssumeUDPEncapsulationContextOnSendRule value (Microsoft KB 947234) is not needed.\n",
        );
    } else {
        s.push_str(
            "# ike.nat_d_trick is off on this server. Only if the server is behind NAT, set this\n\
             # value (Microsoft KB 947234) as administrator and reboot; feature upgrades of\n\
             # Windows 10/11 have been reported to reset it:\n\
             # New-ItemProperty -Path HKLM:\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent `\n\
             #   -Name AssumeUDPEncapsulationContextOnSendRule -PropertyType DWord -Value 2 -Force\n",
        );
    }
    if c.password.is_some() {
        s.push_str(
            "# Connect once with the password (kept afterwards by -RememberCredential). Windows\n\
             # PowerShell 5.1 can mangle a password holding a double quote on its way to rasdial;\n\
             # then connect from the network icon instead.\n\
             rasdial $Name $User $Password\n",
        );
    } else {
        s.push_str(
            "# Connect from the network icon, or: rasdial $Name $User *  (asks for the password)\n",
        );
    }
    s
}

fn xp(c: &Connection) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Windows XP (SP2 or SP3): L2TP/IPsec connection \"{}\"",
        c.name
    );
    s.push_str(
        "These are steps to follow, not a phonebook (.pbk) file to import: XP keeps the\n\
         pre-shared key with the connection's credentials, never in a phonebook file, so it is\n\
         typed in step 9 in any case; and the phonebook keys for the other L2TP/IPsec settings\n\
         are not publicly documented well enough to write a file that XP is sure to read right.\n\n",
    );
    let _ = writeln!(s, "  Server:          {}", c.server);
    let _ = writeln!(s, "  Pre-shared key:  {}", c.psk);
    let _ = writeln!(s, "  User name:       {}", c.user);
    match &c.password {
        Some(p) => {
            let _ = writeln!(s, "  Password:        {p}");
        }
        None => s.push_str("  Password:        (the one you were given)\n"),
    }
    s.push('\n');
    let steps = [
        "Start > Control Panel > Network Connections > Create a new connection. Next.".to_owned(),
        "Connect to the network at my workplace. Next.".to_owned(),
        "Virtual Private Network connection. Next.".to_owned(),
        format!("Company Name: {}. Next.", c.name),
        "If asked about a public network: Do not dial the initial connection. Next.".to_owned(),
        format!("Host name or IP address: {}. Next.", c.server),
        "Choose who may use it, Next, Finish. Do not connect yet.".to_owned(),
        "In the Connect dialog click Properties.".to_owned(),
        "Security tab > IPSec Settings...: tick \"Use pre-shared key for authentication\" \
         and type the pre-shared key shown above into Key. OK."
            .to_owned(),
        "Security tab > Advanced (custom settings) > Settings...: tick only \"Microsoft CHAP \
         Version 2 (MS-CHAP v2)\"; Data encryption: Require encryption. OK."
            .to_owned(),
        "Networking tab > Type of VPN: L2TP IPSec VPN. OK.".to_owned(),
        format!("User name: {}, the password, Connect.", c.user),
    ];
    for (i, step) in steps.iter().enumerate() {
        let _ = writeln!(s, "{:>2}. {step}", i + 1);
    }
    if !c.nat_d_trick {
        s.push_str(
            "\nike.nat_d_trick is off on this server: if the server is behind NAT, XP also needs\n\
             HKLM\\SYSTEM\\CurrentControlSet\\Services\\IPSec\\AssumeUDPEncapsulationContextOnSendRule\n\
             (DWORD) = 2 (Microsoft KB 885407) and a reboot.\n",
        );
    }
    s
}

fn android(c: &Connection) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Android: L2TP/IPsec connection \"{}\"", c.name);
    s.push_str(
        "Recent Android versions no longer offer L2TP/IPsec in the built-in VPN client (only\n\
         IKEv2); these steps are for the versions that still list \"L2TP/IPSec PSK\".\n\n",
    );
    s.push_str("1. Settings > Network & internet > VPN > + (Add VPN).\n");
    let _ = writeln!(s, "2. Name: {}", c.name);
    s.push_str("3. Type: L2TP/IPSec PSK\n");
    let _ = writeln!(s, "4. Server address: {}", c.server);
    s.push_str("5. L2TP secret: (leave empty)\n");
    s.push_str("6. IPSec identifier: (leave empty)\n");
    let _ = writeln!(s, "7. IPSec pre-shared key: {}", c.psk);
    let _ = writeln!(s, "8. Username: {}", c.user);
    match &c.password {
        Some(p) => {
            let _ = writeln!(s, "9. Password: {p}");
        }
        None => s.push_str("9. Password: (the one you were given)\n"),
    }
    s.push_str("10. Save, then tap the connection to connect.\n");
    s
}

/// Escapes text for an XML element's content or an attribute value.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry other control characters at all; write them as U+FFFD
            // rather than produce a profile that does not parse.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4), for plist `<data>`.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |v: u32| char::from(ALPHABET[(v & 63) as usize]);
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(sym(v >> 18));
        out.push(sym(v >> 12));
        out.push(if chunk.len() > 1 { sym(v >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(v) } else { '=' });
    }
    out
}

/// A random (version 4, RFC 9562 §5.4) UUID in upper case, as Apple's profiles write them.
pub(crate) fn uuid_v4(rng: &mut impl rand::RngCore) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A reverse-DNS identifier component made of the server name's letters and digits.
fn identifier_part(s: &str) -> String {
    let part: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if part.is_empty() {
        "server".to_owned()
    } else {
        part
    }
}

fn apple(c: &Connection, rng: &mut impl rand::RngCore) -> String {
    let x = xml_escape;
    let outer_uuid = uuid_v4(rng);
    let vpn_uuid = uuid_v4(rng);
    let id = format!(
        "l2tpd-rs.{}.{}",
        identifier_part(&c.server),
        identifier_part(&c.user)
    );
    let mut s = String::new();
    s.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n",
    );
    s.push_str("  <key>PayloadContent</key>\n  <array>\n    <dict>\n");
    let _ = writeln!(
        s,
        "      <key>PayloadDescription</key>\n      <string>L2TP/IPsec VPN to {}</string>",
        x(&c.server)
    );
    let _ = writeln!(
        s,
        "      <key>PayloadDisplayName</key>\n      <string>{}</string>",
        x(&c.name)
    );
    let _ = writeln!(
        s,
        "      <key>PayloadIdentifier</key>\n      <string>{}.vpn</string>",
        x(&id)
    );
    s.push_str("      <key>PayloadType</key>\n      <string>com.apple.vpn.managed</string>\n");
    let _ = writeln!(
        s,
        "      <key>PayloadUUID</key>\n      <string>{vpn_uuid}</string>"
    );
    s.push_str("      <key>PayloadVersion</key>\n      <integer>1</integer>\n");
    let _ = writeln!(
        s,
        "      <key>UserDefinedName</key>\n      <string>{}</string>",
        x(&c.name)
    );
    s.push_str("      <key>VPNType</key>\n      <string>L2TP</string>\n");
    s.push_str("      <key>PPP</key>\n      <dict>\n");
    let _ = writeln!(
        s,
        "        <key>AuthName</key>\n        <string>{}</string>",
        x(&c.user)
    );
    if let Some(p) = &c.password {
        let _ = writeln!(
            s,
            "        <key>AuthPassword</key>\n        <string>{}</string>",
            x(p)
        );
    }
    let _ = writeln!(
        s,
        "        <key>CommRemoteAddress</key>\n        <string>{}</string>",
        x(&c.server)
    );
    s.push_str("        <key>TokenCard</key>\n        <false/>\n      </dict>\n");
    s.push_str("      <key>IPSec</key>\n      <dict>\n");
    s.push_str("        <key>AuthenticationMethod</key>\n        <string>SharedSecret</string>\n");
    s.push_str("        <key>LocalIdentifierType</key>\n        <string>KeyID</string>\n");
    let _ = writeln!(
        s,
        "        <key>SharedSecret</key>\n        <data>{}</data>",
        base64(c.psk.as_bytes())
    );
    s.push_str("      </dict>\n");
    // Send all traffic through the VPN: Apple's L2TP client does not learn the server's
    // client_routes (they reach Windows in the answer to DHCPINFORM), so a split tunnel could
    // miss them.
    s.push_str(
        "      <key>IPv4</key>\n      <dict>\n        <key>OverridePrimary</key>\n        \
         <integer>1</integer>\n      </dict>\n",
    );
    s.push_str("    </dict>\n  </array>\n");
    let _ = writeln!(
        s,
        "  <key>PayloadDisplayName</key>\n  <string>{}</string>",
        x(&c.name)
    );
    let _ = writeln!(
        s,
        "  <key>PayloadIdentifier</key>\n  <string>{}</string>",
        x(&id)
    );
    s.push_str("  <key>PayloadRemovalDisallowed</key>\n  <false/>\n");
    s.push_str("  <key>PayloadType</key>\n  <string>Configuration</string>\n");
    let _ = writeln!(
        s,
        "  <key>PayloadUUID</key>\n  <string>{outer_uuid}</string>"
    );
    s.push_str("  <key>PayloadVersion</key>\n  <integer>1</integer>\n</dict>\n</plist>\n");
    s
}

/// Escapes a GLib key-file string value: `\\`, `\n`, `\t`, `\r`, and `\s` for a space at
/// either end (which the parser would otherwise strip).
pub(crate) fn keyfile_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let last = s.chars().count().saturating_sub(1);
    for (i, ch) in s.chars().enumerate() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' ' if i == 0 || i == last => out.push_str("\\s"),
            c => out.push(c),
        }
    }
    out
}

/// The IKE (phase 1) and ESP (phase 2) proposals, in strongSwan/libreswan syntax, that the
/// server's profiles accept.
fn proposals(c: &Connection) -> (String, String) {
    let mut ike = Vec::new();
    let mut esp = Vec::new();
    if c.modern {
        ike.extend(["aes256-sha1-modp2048", "aes128-sha1-modp2048"]);
        esp.extend(["aes256-sha1", "aes128-sha1"]);
    }
    if c.legacy {
        ike.extend(["3des-sha1-modp2048", "3des-sha1-modp1024"]);
        esp.push("3des-sha1");
    }
    (ike.join(","), esp.join(","))
}

fn linux(c: &Connection, rng: &mut impl rand::RngCore) -> String {
    let e = keyfile_escape;
    let mut s = String::new();
    s.push_str(
        "# NetworkManager-l2tp connection generated by `l2tpd-rs client-config`. It holds the\n\
         # pre-shared key. Install it as root, mode 0600:\n\
         #   install -m 600 FILE /etc/NetworkManager/system-connections/NAME.nmconnection\n\
         #   nmcli connection reload\n",
    );
    s.push_str("[connection]\n");
    let _ = writeln!(s, "id={}", e(&c.name));
    let _ = writeln!(s, "uuid={}", uuid_v4(rng).to_ascii_lowercase());
    s.push_str("type=vpn\nautoconnect=false\n\n[vpn]\n");
    s.push_str("service-type=org.freedesktop.NetworkManager.l2tp\n");
    let _ = writeln!(s, "gateway={}", e(&c.server));
    let _ = writeln!(s, "user={}", e(&c.user));
    s.push_str("ipsec-enabled=yes\n");
    let (ike, esp) = proposals(c);
    if !ike.is_empty() {
        let _ = writeln!(s, "ipsec-ike={ike}");
        let _ = writeln!(s, "ipsec-esp={esp}");
    }
    s.push_str("ipsec-psk-flags=0\n");
    // 0: stored with the connection; 2: not stored, asked for when connecting.
    let _ = writeln!(
        s,
        "password-flags={}",
        if c.password.is_some() { 0 } else { 2 }
    );
    let offered = |p: AuthProtocol| c.auth.contains(&p);
    s.push_str("refuse-eap=yes\nrefuse-pap=yes\n");
    if !offered(AuthProtocol::Chap) {
        s.push_str("refuse-chap=yes\n");
    }
    if !offered(AuthProtocol::MsChapV1) {
        s.push_str("refuse-mschap=yes\n");
    }
    s.push_str("\n[vpn-secrets]\n");
    let _ = writeln!(s, "ipsec-psk={}", e(&c.psk));
    if let Some(p) = &c.password {
        let _ = writeln!(s, "password={}", e(p));
    }
    s.push_str("\n[ipv4]\nmethod=auto\n");
    if !c.routes.is_empty() {
        // Only the server's networks go through the tunnel.
        s.push_str("never-default=true\n");
        for (i, r) in c.routes.iter().enumerate() {
            let _ = writeln!(s, "route{}={r}", i + 1);
        }
    }
    s.push_str("\n[ipv6]\nmethod=ignore\n");
    s
}
