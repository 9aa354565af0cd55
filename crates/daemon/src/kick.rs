//! `l2tpd-rs kick USER|IP`: end sessions of a running daemon, the way `accel-cmd terminate`
//! and `swanctl --terminate` do.
//!
//! The daemon says goodbye on every layer (PPP LCP Terminate-Request, RFC 1661 §5.5; L2TP CDN
//! and StopCCN, RFC 2661 §5.7; IKE Delete, RFC 2408 §3.15), so the client shows a normal
//! disconnect instead of waiting for a timeout. Exit status: 0 if at least one session ended,
//! 1 if none matched (or the daemon could not be asked).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use server::Kicked;

use crate::control::{self, Request};
use crate::status::escape;

/// `l2tpd-rs kick`.
pub(crate) fn main(target: &str, config: Option<&Path>, socket: Option<&Path>) -> ExitCode {
    if target.trim().is_empty() {
        eprintln!("l2tpd-rs: name a user or an address to kick");
        return ExitCode::FAILURE;
    }
    let path = match crate::socket_path(config, socket) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("l2tpd-rs: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let request = Request::Kick {
        target: target.to_owned(),
    };
    match control::ask(&path, &request) {
        Ok(response) => {
            let kicked = response.kicked.unwrap_or_default();
            print!("{}", report(target, &kicked));
            if kicked.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(msg) => {
            eprintln!("l2tpd-rs: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// What `kick` prints: one line per ended session, or why nothing happened.
pub(crate) fn report(target: &str, kicked: &[Kicked]) -> String {
    let mut out = String::new();
    if kicked.is_empty() {
        let _ = writeln!(
            out,
            "no session matches {} (a user name, an assigned address or a client's public address; see `l2tpd-rs status`)",
            escape(target)
        );
        return out;
    }
    for k in kicked {
        let user = if k.user.is_empty() {
            "-".to_owned()
        } else {
            escape(&k.user)
        };
        let ip = k
            .assigned_ip
            .map_or_else(|| "-".to_owned(), |a| a.to_string());
        let _ = writeln!(out, "disconnected {user} {ip} from {}", k.client_public);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_session_or_says_nothing_matched() {
        let none = report("bob", &[]);
        assert!(none.starts_with("no session matches bob"), "{none}");
        let rows = [
            Kicked {
                user: "bob".into(),
                assigned_ip: Some("10.99.0.3".parse().unwrap()),
                client_public: "203.0.113.5:4500".parse().unwrap(),
            },
            Kicked {
                user: String::new(),
                assigned_ip: None,
                client_public: "203.0.113.5:1024".parse().unwrap(),
            },
        ];
        assert_eq!(
            report("203.0.113.5", &rows),
            "disconnected bob 10.99.0.3 from 203.0.113.5:4500\n\
             disconnected - - from 203.0.113.5:1024\n"
        );
    }

    #[test]
    fn a_user_name_cannot_write_to_the_terminal() {
        let rows = [Kicked {
            user: "evil\x1b[2J".into(),
            assigned_ip: None,
            client_public: "203.0.113.5:4500".parse().unwrap(),
        }];
        let out = report("x\ny", &rows);
        assert!(!out.contains('\x1b'), "{out:?}");
        assert!(report("x\ny", &[]).lines().count() == 1);
    }
}
