//! `l2tpd-rs status`: one row per session, joining IKE ⇄ ESP ⇄ L2TP ⇄ PPP (DESIGN.md
//! "Visibility"), or the raw JSON snapshot with `--json`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use server::Snapshot;
use server::snapshot::SessionRow;

use crate::control::{self, DaemonInfo, Request};

/// `l2tpd-rs status`.
pub(crate) fn main(json: bool, config: Option<&Path>, socket: Option<&Path>) -> ExitCode {
    let path = match crate::socket_path(config, socket) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("l2tpd-rs: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("l2tpd-rs: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let response = match runtime.block_on(control::query(&path, &Request::Status)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "no l2tpd-rs daemon is listening on {}: is it running? ({e})",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let (Some(snapshot), true) = (response.snapshot, response.ok) else {
        eprintln!(
            "l2tpd-rs: the daemon refused: {}",
            response.error.unwrap_or_default()
        );
        return ExitCode::FAILURE;
    };
    let out = if json {
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
        match value.and_then(|v| serde_json::to_string_pretty(&v)) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("l2tpd-rs: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        render(&snapshot, response.info.as_ref())
    };
    print!("{out}");
    ExitCode::SUCCESS
}

/// The human-readable status.
pub(crate) fn render(s: &Snapshot, info: Option<&DaemonInfo>) -> String {
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
            let _ = writeln!(
                out,
                "data plane: {} worker threads + owner; {} to TUN, {} sealed, {} to the control plane",
                i.workers, f.to_tun, f.sealed, f.to_owner
            );
            if i.owner_busy > 0 {
                let _ = writeln!(
                    out,
                    "  {} packets dropped while the control plane was busy",
                    i.owner_busy
                );
            }
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
    } else {
        let header = [
            "USER",
            "IP",
            "CLIENT",
            "NAT",
            "HOST / OS",
            "IKE",
            "ESP",
            "LIFE IKE/ESP",
            "STATE",
            "CONNECTED",
            "IN",
            "OUT",
        ];
        let rows: Vec<[String; 12]> = s.sessions.iter().map(row).collect();
        table(&mut out, &header, &rows);
    }
    if !s.pending_peers.is_empty() {
        out.push('\n');
        let rows: Vec<[String; 2]> = s
            .pending_peers
            .iter()
            .map(|p| [p.client_public.to_string(), p.state.clone()])
            .collect();
        table(&mut out, &["PEER", "STATE"], &rows);
    }
    out
}

fn row(r: &SessionRow) -> [String; 12] {
    let nat = if r.nat {
        format!("yes, {}", r.nat_t_dialect)
    } else {
        format!("no, {}", r.nat_t_dialect)
    };
    let host = match (r.host_name.is_empty(), r.os_hint.is_empty()) {
        (false, false) => format!("{} / {}", r.host_name, r.os_hint),
        (false, true) => r.host_name.clone(),
        (true, false) => r.os_hint.clone(),
        (true, true) => "-".to_owned(),
    };
    let life = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), duration);
    [
        if r.user.is_empty() {
            "-".to_owned()
        } else {
            r.user.clone()
        },
        r.assigned_ip
            .map_or_else(|| "-".to_owned(), |a| a.to_string()),
        r.client_public.to_string(),
        nat,
        host,
        r.ike_suite.clone(),
        r.esp_suite.clone(),
        format!(
            "{}/{}",
            life(r.ike_lifetime_left_secs),
            life(r.esp_lifetime_left_secs)
        ),
        r.state.clone(),
        duration(r.connected_secs),
        format!("{} ({} pkts)", bytes(r.bytes_in), r.packets_in),
        format!("{} ({} pkts)", bytes(r.bytes_out), r.packets_out),
    ]
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
    }

    #[test]
    fn renders_one_row_per_session() {
        let session = SessionRow {
            user: "alice".into(),
            assigned_ip: Some(Ipv4Addr::new(10, 99, 0, 2)),
            client_public: SocketAddr::from(([198, 51, 100, 7], 4500)),
            nat: true,
            nat_t_dialect: "draft-02\\n".into(),
            host_name: "XPBOX".into(),
            os_hint: "MSRASV5.10".into(),
            ike_suite: "3DES-CBC/HMAC-SHA1/MODP1024".into(),
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
        };
        let snap = Snapshot {
            uptime_secs: 3600,
            sessions: vec![session],
            pending_peers: vec![PeerRow {
                client_public: SocketAddr::from(([203, 0, 113, 1], 500)),
                state: "Main Mode".into(),
            }],
            ..Snapshot::default()
        };
        let text = render(&snap, None);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains("up 1h00m, 1 session, 1 peer negotiating"),
            "{text}"
        );
        let header = lines.iter().position(|l| l.starts_with("USER")).unwrap();
        let row = lines[header + 1];
        for needle in [
            "alice",
            "10.99.0.2",
            "198.51.100.7:4500",
            "yes, draft-02\\n",
            "XPBOX / MSRASV5.10",
            "7h46m/-",
            "1m05s",
            "2.0 KiB (3 pkts)",
            "100 B (1 pkts)",
        ] {
            assert!(row.contains(needle), "{needle:?} missing in {row}");
        }
        // Columns line up: each header starts where its cell starts.
        assert_eq!(lines[header].find("IP"), row.find("10.99.0.2"));
        assert!(text.contains("203.0.113.1:500  Main Mode"), "{text}");

        let empty = render(
            &Snapshot::default(),
            Some(&DaemonInfo {
                version: "0.1.0".into(),
                ..DaemonInfo::default()
            }),
        );
        assert!(empty.contains("no sessions"), "{empty}");
        assert!(empty.contains("TUN none"), "{empty}");
    }
}
