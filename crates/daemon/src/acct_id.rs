//! Accounting session IDs (Acct-Session-Id, RFC 2866 §5.5): "a unique Accounting ID to make
//! it easy to match start and stop records". Ours is the daemon's start time (Unix seconds,
//! eight upper-case hex digits) and the server's [`SessionId`], e.g. `6570A1B2-1a-00070003`:
//! unique across restarts, and it names the session again in a Disconnect-Request or
//! CoA-Request (RFC 5176 §3).

use server::SessionId;

/// Makes and reads this daemon's accounting session IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AcctSessionIds {
    /// When this daemon started, in Unix seconds.
    boot: u64,
}

impl AcctSessionIds {
    /// IDs for a daemon that started at `boot` (Unix seconds).
    pub(crate) fn new(boot: u64) -> Self {
        Self { boot }
    }

    /// The Acct-Session-Id of `session`.
    pub(crate) fn format(&self, session: SessionId) -> String {
        format!("{:08X}-{session}", self.boot)
    }

    /// The session an Acct-Session-Id of this daemon names; `None` for anything else,
    /// including an ID from before a restart.
    pub(crate) fn parse(&self, text: &str) -> Option<SessionId> {
        let (boot, session) = text.split_once('-')?;
        if boot.len() < 8 || !boot.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        if u64::from_str_radix(boot, 16).ok()? != self.boot {
            return None;
        }
        session.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_name_only_this_daemons_sessions() {
        let ids = AcctSessionIds::new(0x6570_A1B2);
        let session: SessionId = "1a-00070003".parse().unwrap();
        let text = ids.format(session);
        assert_eq!(text, "6570A1B2-1a-00070003");
        assert_eq!(ids.parse(&text), Some(session));
        // Before a restart, or not ours at all.
        assert_eq!(AcctSessionIds::new(0x6570_A1B3).parse(&text), None);
        for junk in [
            "",
            "6570A1B2",
            "6570A1B2-",
            "6570A1B2-1a",
            "+570A1B2-1a-00070003",
            "x",
        ] {
            assert_eq!(ids.parse(junk), None, "{junk}");
        }
    }
}
