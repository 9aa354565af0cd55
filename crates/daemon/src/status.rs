//! `l2tpd-rs status`: the sessions of a running daemon, one row each, joined across IKE, ESP,
//! L2TP and PPP.
//!
//! Three views, in the habit of `kubectl get` (`-o wide`), `swanctl --list-sas` and
//! `accel-cmd show sessions`:
//! - [`View::Compact`] (the default): USER, IP, CLIENT, OS, STATE, UPTIME, IN, OUT. A row fits
//!   100 columns (80 for typical values): long fields are cut to a fixed width and end in `…`,
//!   traffic is shown in short units (`12.4M`).
//! - [`View::Wide`] (`--wide`): every field of the snapshot row, untruncated: IKE and ESP
//!   suites, how IKE authenticated the client (AUTH: `psk`, or the certificate subject, the
//!   one column cut to a width), NAT-T dialect, lifetimes, host name and every OS hint, packet
//!   counts.
//! - [`View::Json`] (`--json`): the snapshot as the daemon sent it, plus its `info`.
//!
//! Strings a client chose (user name, L2TP host name and vendor, LCP Identification, which
//! all reach the OS hint) are escaped in both tables ([`escape`]): control characters and
//! invisible layout characters are printed as `\x1b`, `\n`, `\u{202e}`, ..., so a client can
//! neither move the cursor, clear the screen, retitle the terminal, add fake rows nor reorder
//! text. JSON escapes control characters itself.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use server::Snapshot;
use server::snapshot::SessionRow;

use crate::control::{self, DaemonInfo, Request};

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// Short rows that fit a terminal.
    Compact,
    /// Every detail (`--wide`).
    Wide,
    /// The JSON snapshot (`--json`).
    Json,
}

/// Widest user name shown in the compact view.
const USER_WIDTH: usize = 14;
/// Widest OS name shown in the compact view.
const OS_WIDTH: usize = 10;
/// Widest state shown in the compact view.
const STATE_WIDTH: usize = 8;
/// Widest certificate subject shown in the wide view's AUTH column.
const AUTH_WIDTH: usize = 40;

/// What `l2tpd-rs status` was asked for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options<'a> {
    /// The configuration file naming the control socket.
    pub config: Option<&'a Path>,
    /// The control socket.
    pub socket: Option<&'a Path>,
    /// Only the sessions of this user, assigned address or public address.
    pub filter: Option<&'a str>,
    /// Redraw every this many seconds until interrupted.
    pub watch: Option<Duration>,
}

/// `l2tpd-rs status`.
pub(crate) fn main(view: View, opts: &Options<'_>) -> ExitCode {
    let path = match crate::socket_path(opts.config, opts.socket) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("l2tpd-rs: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let Some(every) = opts.watch else {
        return match once(&path, view, opts.filter) {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(msg) => {
                eprintln!("l2tpd-rs: {msg}");
                ExitCode::FAILURE
            }
        };
    };
    // `watch`-style: redraw in place on a terminal; into a pipe or file, one block after the
    // other, each under a `--- YYYY-MM-DD HH:MM:SS UTC` line.
    let terminal = std::io::stdout().is_terminal();
    loop {
        let out = match once(&path, view, opts.filter) {
            Ok(out) => out,
            Err(msg) => {
                eprintln!("l2tpd-rs: {msg}");
                return ExitCode::FAILURE;
            }
        };
        let mut stdout = std::io::stdout().lock();
        let written = if terminal {
            // Home the cursor, clear the screen (ECMA-48 CUP and ED).
            write!(stdout, "\x1b[H\x1b[2J{out}")
        } else {
            writeln!(stdout, "--- {}", utc_stamp(crate::clock::unix_seconds()))
                .and_then(|()| write!(stdout, "{out}"))
        };
        if written.and_then(|()| stdout.flush()).is_err() {
            // The reader went away (`| head`): not an error.
            return ExitCode::SUCCESS;
        }
        drop(stdout);
        std::thread::sleep(every);
    }
}

/// One status query, rendered.
fn once(path: &Path, view: View, filter: Option<&str>) -> Result<String, String> {
    let response = control::ask(path, &Request::Status)?;
    let mut snapshot = response
        .snapshot
        .ok_or_else(|| "the daemon sent no status".to_owned())?;
    let total = snapshot.sessions.len();
    if let Some(f) = filter {
        keep_matching(&mut snapshot, f);
    }
    if view == View::Json {
        // The snapshot's fields, plus the daemon's own facts under "info".
        let value = serde_json::to_value(&snapshot).map(|mut v| {
            if let (Some(obj), Some(info)) = (v.as_object_mut(), response.info.as_ref()) {
                obj.insert(
                    "info".to_owned(),
                    serde_json::to_value(info).unwrap_or_default(),
                );
            }
            v
        });
        return value
            .and_then(|v| serde_json::to_string_pretty(&v))
            .map(|s| s + "\n")
            .map_err(|e| e.to_string());
    }
    let mut out = render(&snapshot, response.info.as_ref(), view);
    if let Some(f) = filter {
        let _ = writeln!(
            out,
            "({} of {total} session{} match {})",
            snapshot.sessions.len(),
            plural(total),
            escape(f)
        );
    }
    Ok(out)
}

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the Unix epoch (the proleptic Gregorian
/// calendar, days to civil date as in Howard Hinnant's `civil_from_days`).
fn utc_stamp(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Shift the epoch to 0000-03-01 so leap days end each 400-year era's years.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Keeps the sessions (and negotiating peers) that `filter` names: a user (as in the users
/// file, or as the client sent it with its `DOMAIN\\`), an assigned address, or a public
/// address.
pub(crate) fn keep_matching(s: &mut Snapshot, filter: &str) {
    match filter.parse::<IpAddr>() {
        Ok(ip) => {
            s.sessions.retain(|r| {
                r.client_public.ip() == ip || r.assigned_ip.is_some_and(|a| IpAddr::V4(a) == ip)
            });
            s.pending_peers.retain(|p| p.client_public.ip() == ip);
        }
        Err(_) => {
            s.sessions
                .retain(|r| r.user == filter || config::users::strip_domain(&r.user) == filter);
            s.pending_peers.clear();
        }
    }
}

/// The human-readable status, compact or wide.
pub(crate) fn render(s: &Snapshot, info: Option<&DaemonInfo>, view: View) -> String {
    let wide = view == View::Wide;
    let mut out = String::new();
    let _ = write!(out, "l2tpd-rs");
    if let Some(i) = info {
        let _ = write!(out, " {}", i.version);
    }
    let _ = writeln!(
        out,
        ": up {}, {} session{}, {} peer{} negotiating",
        duration(s.uptime_secs),
        s.sessions.len(),
        plural(s.sessions.len()),
        s.pending_peers.len(),
        plural(s.pending_peers.len())
    );
    if let Some(i) = info {
        let _ = writeln!(
            out,
            "listening on {}{}; TUN {}; {} users loaded",
            i.listening.join(", "),
            if i.raw_esp { " + raw ESP" } else { "" },
            i.tun.as_deref().unwrap_or("none"),
            i.users
        );
        if let Some(f) = &i.data_plane {
            if wide {
                let _ = writeln!(
                    out,
                    "data plane: {} worker threads + owner (packets read: owner {}, workers {:?}); {} to TUN, {} sealed, {} to the control plane, {} MSS clamped, {} ICMP too big, {} fragmented, {} over a rate limit",
                    i.workers,
                    i.owner_packets,
                    i.worker_packets,
                    f.to_tun,
                    f.sealed,
                    f.to_owner,
                    f.mss_clamped,
                    f.icmp_too_big,
                    f.fragmented,
                    f.policed
                );
            } else {
                let _ = writeln!(
                    out,
                    "data plane: {} workers + owner; {} to TUN, {} sealed, {} to the control plane",
                    i.workers, f.to_tun, f.sealed, f.to_owner
                );
            }
        }
        if i.owner_busy > 0 {
            let _ = writeln!(
                out,
                "  {} packets dropped while the control plane was busy",
                i.owner_busy
            );
        }
    }
    let c = &s.counters;
    let _ = writeln!(
        out,
        "dropped: {} malformed, {} ESP, {} spoofed, {} without session, {} plaintext L2TP",
        c.malformed, c.esp_dropped, c.spoofed, c.no_session, c.plaintext_l2tp_refused
    );
    out.push('\n');
    if s.sessions.is_empty() {
        out.push_str("no sessions\n");
    } else if wide {
        let header = [
            "USER",
            "IP",
            "CLIENT",
            "NAT",
            "HOST / OS",
            "IKE",
            "AUTH",
            "ESP",
            "LIFE IKE/ESP",
            "STATE",
            "CONNECTED",
            "LIMIT SESSION/IDLE",
            "RATE UP/DOWN",
            "ROUTES",
            "IN",
            "OUT",
        ];
        let rows: Vec<[String; 16]> = s.sessions.iter().map(wide_row).collect();
        table(&mut out, &header, &rows);
    } else {
        let header = ["USER", "IP", "CLIENT", "OS", "STATE", "UPTIME", "IN", "OUT"];
        let rows: Vec<[String; 8]> = s.sessions.iter().map(compact_row).collect();
        table(&mut out, &header, &rows);
    }
    if !s.pending_peers.is_empty() {
        out.push('\n');
        let rows: Vec<[String; 2]> = s
            .pending_peers
            .iter()
            .map(|p| [p.client_public.to_string(), escape(&p.state)])
            .collect();
        table(&mut out, &["PEER", "STATE"], &rows);
    }
    out
}

fn user(r: &SessionRow) -> String {
    if r.user.is_empty() {
        "-".to_owned()
    } else {
        escape(&r.user)
    }
}

fn assigned_ip(r: &SessionRow) -> String {
    r.assigned_ip
        .map_or_else(|| "-".to_owned(), |a| a.to_string())
}

/// The default view's row: everything fits a fixed width.
fn compact_row(r: &SessionRow) -> [String; 8] {
    let state = match r.state.as_str() {
        "authenticating" => "auth".to_owned(),
        other => fit(&escape(other), STATE_WIDTH),
    };
    [
        fit(&user(r), USER_WIDTH),
        assigned_ip(r),
        r.client_public.to_string(),
        fit(&os_short(&r.os_hint), OS_WIDTH),
        state,
        duration(r.connected_secs),
        short_bytes(r.bytes_in),
        short_bytes(r.bytes_out),
    ]
}

/// `--wide`: every field, untruncated (but escaped).
fn wide_row(r: &SessionRow) -> [String; 16] {
    let nat = if r.nat {
        format!("yes, {}", r.nat_t_dialect)
    } else {
        format!("no, {}", r.nat_t_dialect)
    };
    let host = match (r.host_name.is_empty(), r.os_hint.is_empty()) {
        (false, false) => format!("{} / {}", escape(&r.host_name), escape(&r.os_hint)),
        (false, true) => escape(&r.host_name),
        (true, false) => escape(&r.os_hint),
        (true, true) => "-".to_owned(),
    };
    let life = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), duration);
    [
        user(r),
        assigned_ip(r),
        r.client_public.to_string(),
        nat,
        host,
        r.ike_suite.clone(),
        ike_auth(r),
        r.esp_suite.clone(),
        format!(
            "{}/{}",
            life(r.ike_lifetime_left_secs),
            life(r.esp_lifetime_left_secs)
        ),
        escape(&r.state),
        duration(r.connected_secs),
        format!(
            "{}/{}",
            life(r.session_timeout_secs),
            life(r.idle_timeout_secs)
        ),
        rate_limit(r),
        if r.routes.is_empty() {
            "-".to_owned()
        } else {
            escape(&r.routes.join(","))
        },
        traffic(r.bytes_in, r.packets_in, r.policed_in),
        traffic(r.bytes_out, r.packets_out, r.policed_out),
    ]
}

/// How IKE authenticated the client: `psk`, the certificate subject (escaped, cut to
/// [`AUTH_WIDTH`]), or `-` when unknown.
fn ike_auth(r: &SessionRow) -> String {
    match (r.ike_auth.as_str(), &r.ike_peer_id) {
        ("", _) => "-".to_owned(),
        ("cert", Some(subject)) => fit(&escape(subject), AUTH_WIDTH),
        (other, _) => escape(other),
    }
}

/// The rate limits in force, `up/down` in bits per second with SI suffixes (`2M/10M`, `-/512k`),
/// `-` for none.
fn rate_limit(r: &SessionRow) -> String {
    let limit = config::RateLimit {
        up: r.rate_limit_up_bps.and_then(std::num::NonZeroU64::new),
        down: r.rate_limit_down_bps.and_then(std::num::NonZeroU64::new),
    };
    if limit.is_unlimited() {
        "-".to_owned()
    } else {
        limit.to_string()
    }
}

/// One way's traffic, with the packets its rate limit dropped when there are any.
fn traffic(bytes_n: u64, packets: u64, policed: u64) -> String {
    if policed == 0 {
        format!("{} ({packets} pkts)", bytes(bytes_n))
    } else {
        format!("{} ({packets} pkts, {policed} over limit)", bytes(bytes_n))
    }
}

/// A short OS name from the snapshot's OS hint, which lists (comma-separated) the MS NT5
/// vendor ID version, the LCP Identification strings and the L2TP vendor name: the Windows
/// release if the client sent the MS NT5 vendor ID, else the L2TP vendor (`Apple`, ...), else
/// the first hint. Escaped.
fn os_short(hint: &str) -> String {
    let mut parts = hint.split(", ").filter(|p| !p.is_empty());
    if let Some(v) = parts.clone().find_map(|p| {
        p.strip_prefix("MS NT5 v")?
            .split(' ')
            .next()?
            .parse::<u32>()
            .ok()
    }) {
        return windows_short(v).to_owned();
    }
    if let Some(vendor) = parts.clone().find_map(|p| p.strip_prefix("L2TP vendor ")) {
        return escape(vendor);
    }
    parts.next().map_or_else(|| "-".to_owned(), escape)
}

/// The Windows release behind an MS NT5 ISAKMPOAKLEY vendor ID version, shortened (the
/// version map of ike-scan's `ike-vendor-ids` and Openswan's `programs/pluto/vendor.c`).
fn windows_short(version: u32) -> &'static str {
    match version {
        2 => "Win2000",
        3 => "WinXP SP1",
        4 => "WinXP/2003",
        5 => "Vista",
        6 => "Win2008",
        7 => "Win7",
        8 => "Win2008R2",
        9 => "Win8+",
        10 => "Win2012",
        _ => "Windows",
    }
}

/// Escapes a string a client chose for a terminal. Control characters become `\n`, `\r`,
/// `\t` or `\xNN` (C0 and DEL) or `\u{NN}` (C1, such as the one-byte CSI `\u{9b}`);
/// invisible format characters that reorder or hide text (bidirectional overrides and
/// isolates, zero-width characters, the line and paragraph separators, the byte order mark,
/// tag characters) become `\u{...}`. Everything else, including ordinary non-ASCII letters
/// and the backslash of a Windows `DOMAIN\user` name, is printed as is.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() || is_invisible_format(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Unicode format characters (category Cf) and separators (Zl, Zp) that change the layout or
/// order of the text around them or show nothing.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{61c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    )
}

/// `s` cut to at most `max` characters, the last one `…` if anything was cut.
fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn table<const N: usize>(out: &mut String, header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (cell, w) in cells.zip(widths) {
            let _ = write!(s, "{cell:<w$}  ");
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(out, &mut header.iter().copied());
    for r in rows {
        line(out, &mut r.iter().map(String::as_str));
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `3d04h`, `1h02m`, `5m07s`, `42s`.
pub(crate) fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// `512 B`, `1.5 KiB`, `12.0 MiB`, ...
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in UNITS.iter().skip(1) {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// Bytes in at most 5 characters: `512B`, `9.9K`, `12K`, `1023M`, `1.5G`.
pub(crate) fn short_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in UNITS.iter().skip(1) {
        if v < 1023.5 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if v < 9.95 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use server::snapshot::PeerRow;

    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(307), "5m07s");
        assert_eq!(duration(3720), "1h02m");
        assert_eq!(duration(3 * 86_400 + 4 * 3600), "3d04h");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12 * 1024 * 1024), "12.0 MiB");
        assert_eq!(short_bytes(0), "0B");
        assert_eq!(short_bytes(1023), "1023B");
        assert_eq!(short_bytes(1024), "1.0K");
        assert_eq!(short_bytes(1536), "1.5K");
        assert_eq!(short_bytes(12_700), "12K");
        assert_eq!(short_bytes(1024 * 1024 - 1), "1.0M");
        assert_eq!(short_bytes(13 * 1024 * 1024), "13M");
        assert_eq!(short_bytes(u64::MAX), "16E");
        for n in (0..64)
            .map(|b| 1u64 << b)
            .chain([999, 1000, 10_189, 1_048_000])
        {
            for m in [n.saturating_sub(1), n, n.saturating_add(1)] {
                assert!(short_bytes(m).len() <= 5, "{m}: {}", short_bytes(m));
            }
        }
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdefg", 6), "abcde…");
        assert_eq!(fit("ééééééé", 3), "éé…");
    }

    fn xp_session() -> SessionRow {
        SessionRow {
            session_id: "1-00010001".into(),
            user: "alice".into(),
            assigned_ip: Some(Ipv4Addr::new(10, 99, 0, 2)),
            client_public: SocketAddr::from(([198, 51, 100, 7], 4500)),
            nat: true,
            nat_t_dialect: "draft-02\\n".into(),
            host_name: "XPBOX".into(),
            os_hint: "MS NT5 v4 (Windows XP SP2/SP3 or Server 2003), MSRASV5.10, MSRAS-0-XPBOX, \
                      L2TP vendor Microsoft"
                .into(),
            ike_suite: "3DES-CBC/HMAC-SHA1/MODP1024".into(),
            ike_auth: "psk".into(),
            ike_peer_id: None,
            esp_suite: "3DES-CBC/HMAC-SHA1-96 UDP-encap transport".into(),
            ike_lifetime_left_secs: Some(28_000),
            esp_lifetime_left_secs: None,
            l2tp_tunnel: (1, 4),
            l2tp_session: (1, 1),
            state: "up".into(),
            connected_secs: 65,
            bytes_in: 2048,
            bytes_out: 100,
            packets_in: 3,
            packets_out: 1,
            session_timeout_secs: Some(28800),
            idle_timeout_secs: None,
            rate_limit_up_bps: Some(2_000_000),
            rate_limit_down_bps: None,
            policed_in: 0,
            policed_out: 7,
            routes: vec!["192.168.50.0/24".into(), "172.16.0.0/16".into()],
        }
    }

    fn snapshot(sessions: Vec<SessionRow>) -> Snapshot {
        Snapshot {
            uptime_secs: 3600,
            sessions,
            pending_peers: vec![PeerRow {
                client_public: SocketAddr::from(([203, 0, 113, 1], 500)),
                state: "Main Mode".into(),
            }],
            ..Snapshot::default()
        }
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "1970-01-01 00:00:00 UTC");
        // `date -u -d @951782400`: the leap day of a 400-year leap year.
        assert_eq!(utc_stamp(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_stamp(4_107_542_399), "2100-02-28 23:59:59 UTC");
        assert_eq!(utc_stamp(4_107_542_400), "2100-03-01 00:00:00 UTC");
        assert_eq!(utc_stamp(1_796_169_600 + 3_661), "2026-12-02 01:01:01 UTC");
    }

    #[test]
    fn a_filter_keeps_a_users_or_an_addresss_sessions() {
        let bob = SessionRow {
            user: "CORP\\bob".into(),
            assigned_ip: Some(Ipv4Addr::new(10, 99, 0, 3)),
            client_public: SocketAddr::from(([198, 51, 100, 7], 1024)),
            ..xp_session()
        };
        let carol = SessionRow {
            user: "carol".into(),
            assigned_ip: Some(Ipv4Addr::new(10, 99, 0, 4)),
            client_public: SocketAddr::from(([192, 0, 2, 9], 4500)),
            ..xp_session()
        };
        let all = snapshot(vec![xp_session(), bob, carol]);
        let users = |f: &str| {
            let mut s = all.clone();
            keep_matching(&mut s, f);
            let mut u: Vec<String> = s.sessions.iter().map(|r| r.user.clone()).collect();
            u.sort();
            (u, s.pending_peers.len())
        };
        // A user, as in users.yaml or as the client sent it.
        assert_eq!(users("bob"), (vec!["CORP\\bob".to_owned()], 0));
        assert_eq!(users("CORP\\bob"), (vec!["CORP\\bob".to_owned()], 0));
        assert_eq!(users("bo"), (vec![], 0));
        // An assigned address: one session.
        assert_eq!(users("10.99.0.4"), (vec!["carol".to_owned()], 0));
        // A public address: everyone behind that NAT.
        assert_eq!(
            users("198.51.100.7"),
            (vec!["CORP\\bob".to_owned(), "alice".to_owned()], 0)
        );
        // A negotiating peer is matched by its public address.
        assert_eq!(users("203.0.113.1"), (vec![], 1));
    }

    fn session_row<'a>(text: &'a str, header: &str) -> (&'a str, &'a str) {
        let lines: Vec<&str> = text.lines().collect();
        let at = lines.iter().position(|l| l.starts_with(header)).unwrap();
        (lines[at], lines[at + 1])
    }

    #[test]
    fn compact_view_has_one_short_row_per_session() {
        let text = render(&snapshot(vec![xp_session()]), None, View::Compact);
        assert!(
            text.lines()
                .next()
                .unwrap()
                .contains("up 1h00m, 1 session, 1 peer negotiating"),
            "{text}"
        );
        let (header, row) = session_row(&text, "USER");
        assert_eq!(
            header.split_whitespace().collect::<Vec<_>>(),
            ["USER", "IP", "CLIENT", "OS", "STATE", "UPTIME", "IN", "OUT"]
        );
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            [
                "alice",
                "10.99.0.2",
                "198.51.100.7:4500",
                "WinXP/2003",
                "up",
                "1m05s",
                "2.0K",
                "100B"
            ]
        );
        // Columns line up: each header starts where its cell starts.
        assert_eq!(header.find("IP"), row.find("10.99.0.2"));
        assert_eq!(header.find("OS"), row.find("WinXP"));
        assert!(!text.contains("3DES"), "suites are for --wide: {text}");
        assert!(text.contains("203.0.113.1:500  Main Mode"), "{text}");

        let empty = render(
            &Snapshot::default(),
            Some(&DaemonInfo {
                version: "0.1.0".into(),
                ..DaemonInfo::default()
            }),
            View::Compact,
        );
        assert!(empty.contains("no sessions"), "{empty}");
        assert!(empty.contains("TUN none"), "{empty}");
    }

    #[test]
    fn wide_view_has_every_detail() {
        let text = render(&snapshot(vec![xp_session()]), None, View::Wide);
        let (header, row) = session_row(&text, "USER");
        for needle in [
            "alice",
            "10.99.0.2",
            "198.51.100.7:4500",
            "yes, draft-02\\n",
            "XPBOX / MS NT5 v4 (Windows XP SP2/SP3 or Server 2003), MSRASV5.10, MSRAS-0-XPBOX, \
             L2TP vendor Microsoft",
            "3DES-CBC/HMAC-SHA1/MODP1024",
            "3DES-CBC/HMAC-SHA1-96 UDP-encap transport",
            "7h46m/-",
            "1m05s",
            "8h00m/-",
            "2M/-",
            "192.168.50.0/24,172.16.0.0/16",
            "2.0 KiB (3 pkts)",
            "100 B (1 pkts, 7 over limit)",
        ] {
            assert!(row.contains(needle), "{needle:?} missing in {row}");
        }
        assert_eq!(header.find("IP"), row.find("10.99.0.2"));
        assert_eq!(header.find("IKE "), row.find("3DES-CBC/HMAC-SHA1/MODP1024"));
        assert_eq!(header.find("AUTH"), row.find("psk"));
    }

    #[test]
    fn wide_view_shows_the_certificate_subject() {
        let cert = SessionRow {
            ike_auth: "cert".into(),
            ike_peer_id: Some("CN=alice,O=Example".into()),
            ..xp_session()
        };
        let long = SessionRow {
            user: "bob".into(),
            ike_auth: "cert".into(),
            ike_peer_id: Some(format!("CN=bob\u{1b}[2J,OU={},O=Example", "x".repeat(80))),
            ..xp_session()
        };
        let text = render(&snapshot(vec![cert, long]), None, View::Wide);
        let (header, row) = session_row(&text, "USER");
        assert_eq!(header.find("AUTH"), row.find("CN=alice,O=Example"));
        let bob = text
            .lines()
            .find(|l| l.starts_with("bob"))
            .expect("bob's row");
        let shown = bob
            .split("  ")
            .find(|c| c.trim_start().starts_with("CN=bob"))
            .expect("bob's subject");
        assert!(shown.trim().ends_with('…'), "{shown:?}");
        assert_eq!(shown.trim().chars().count(), AUTH_WIDTH, "{shown:?}");
        assert!(shown.contains("CN=bob\\x1b[2J,OU=x"), "{shown:?}");
        assert!(!text.contains('\u{1b}'), "{text}");
        let compact = render(&snapshot(vec![xp_session()]), None, View::Compact);
        assert!(!compact.contains("AUTH"), "AUTH is for --wide: {compact}");
    }

    #[test]
    fn os_short_names() {
        assert_eq!(
            os_short("MS NT5 v9 (Windows 8 or later), MSRASV5.20"),
            "Win8+"
        );
        assert_eq!(os_short("MSRASV5.20, L2TP vendor Microsoft"), "Microsoft");
        assert_eq!(os_short("L2TP vendor Apple"), "Apple");
        assert_eq!(os_short("MSRASV5.10"), "MSRASV5.10");
        assert_eq!(os_short(""), "-");
        assert_eq!(os_short("MS NT5 vX, L2TP vendor \u{1b}[31m"), "\\x1b[31m");
    }

    /// The worst the compact view can get: every field at its widest.
    #[test]
    fn compact_view_fits_100_columns() {
        let long = SessionRow {
            user: "CORP\\a-very-long-user-name-indeed@example.com".into(),
            assigned_ip: Some(Ipv4Addr::new(100, 127, 255, 254)),
            client_public: SocketAddr::from(([255, 255, 255, 254], 65535)),
            host_name: "H".repeat(255),
            os_hint: "L2TP vendor a vendor name that goes on and on and on".into(),
            state: "authenticating".into(),
            connected_secs: 999 * 86_400,
            bytes_in: 1023 * 1024 * 1024 * 1024 + 1,
            bytes_out: u64::MAX,
            ..xp_session()
        };
        let mut other = long.clone();
        other.state = "a state name the server may add one day".into();
        let info = DaemonInfo {
            version: "0.1.0".into(),
            listening: vec!["203.0.113.10:500".into(), "203.0.113.10:4500".into()],
            tun: Some("l2tp0".into()),
            users: 20_000,
            workers: 16,
            data_plane: Some(server::DataPlaneStats::default()),
            owner_busy: 12_345_678,
            ..DaemonInfo::default()
        };
        let mut snap = snapshot(vec![long, other]);
        snap.uptime_secs = 999 * 86_400;
        let text = render(&snap, Some(&info), View::Compact);
        for line in text.lines() {
            assert!(
                line.chars().count() <= 100,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        let (_, row) = session_row(&text, "USER");
        assert!(row.starts_with("CORP\\a-very-l… "), "{row}");
        assert!(row.contains(" auth "), "{row}");
        assert!(text.contains("a state…"), "{text}");
        assert!(row.contains("a vendor …"), "{row}");
        assert!(row.ends_with("1023G  16E"), "{row}");
    }

    #[test]
    fn strings_from_the_wire_are_escaped() {
        let evil = SessionRow {
            user: "bob\u{1b}]0;owned\u{7}".into(),
            host_name: "\u{1b}[2J\nFAKE ROW".into(),
            os_hint: "MSRASV5.20\u{9b}1m, L2TP vendor \u{202e}tfosorciM".into(),
            state: "up\r".into(),
            ..xp_session()
        };
        for view in [View::Compact, View::Wide] {
            let text = render(&snapshot(vec![evil.clone()]), None, view);
            for c in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\r'] {
                assert!(
                    !text.contains(c),
                    "{view:?}: {c:?} reached the terminal: {text:?}"
                );
            }
            assert!(
                !text.contains("\nFAKE ROW"),
                "{view:?}: a newline reached the terminal"
            );
            let (_, row) = session_row(&text, "USER");
            if view == View::Wide {
                assert!(row.starts_with("bob\\x1b]0;owned\\x07 "), "{row}");
                assert!(
                    row.contains("\\x1b[2J\\nFAKE ROW / MSRASV5.20\\u{9b}1m"),
                    "{row}"
                );
                assert!(row.contains("L2TP vendor \\u{202e}tfosorciM"), "{row}");
                assert!(row.contains("up\\r"), "{row}");
            } else {
                assert!(row.starts_with("bob\\x1b]0;own… "), "{row}");
                assert!(row.contains(" \\u{202e}t… "), "{row}");
            }
        }
        // Ordinary text stays readable.
        assert_eq!(escape("CORP\\Jürgen Øster 東京"), "CORP\\Jürgen Øster 東京");
        assert_eq!(escape("a\tb\u{7f}\u{0}"), "a\\tb\\x7f\\x00");
        assert_eq!(
            escape("\u{200b}\u{feff}\u{2028}"),
            "\\u{200b}\\u{feff}\\u{2028}"
        );
    }
}
