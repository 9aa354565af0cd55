//! When to reload users.yaml: [`UsersWatch`] decides from the file's stamps
//! ([`config::files::FileStamp`]: inode, size, modification and change times).
//!
//! A reload reads the file once, checks all of it and hands the server a complete new table
//! only when the whole file is valid; otherwise the old table stays. The rules here make sure
//! a valid file is not missed and a broken one is not applied:
//! - The stamp of the table in use is recorded only after a **successful** reload, and it is
//!   the stamp of the descriptor that was read (taken before reading), so any later write
//!   shows up as a change.
//! - The periodic check acts on a change only once two checks in a row see the same stamp: an
//!   editor or `scp` still writing the file in place is left to finish, and a file caught
//!   half-written (which may even parse, with users missing) is not applied.
//! - A version that failed is not retried (nor its errors logged again) until the file
//!   changes again; the next change is retried even when its modification time is the same as
//!   the failed one's (coarse time stamps, `touch -r`), since size and change time differ.
//! - SIGHUP and `reload-users` on the control socket reload at once, whatever the stamps say.

use config::files::FileStamp;

/// The reload state of users.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsersWatch {
    /// The version the table in use was read from.
    applied: Option<FileStamp>,
    /// The version the last failed reload read (`Some(None)`: the file could not be opened).
    failed: Option<Option<FileStamp>>,
    /// What the previous periodic check saw.
    seen: Option<FileStamp>,
}

impl UsersWatch {
    /// The table in use was read from version `applied` (at start-up).
    pub(crate) fn new(applied: Option<FileStamp>) -> Self {
        Self {
            applied,
            failed: None,
            seen: applied,
        }
    }

    /// The periodic check sees the file as `now` (`None`: it cannot be `stat`ed). Returns
    /// whether to reload it.
    pub(crate) fn poll(&mut self, now: Option<FileStamp>) -> bool {
        let settled = now == self.seen;
        self.seen = now;
        settled && now != self.applied && self.failed != Some(now)
    }

    /// A reload of version `stamp` succeeded and its table is in use.
    pub(crate) fn applied(&mut self, stamp: FileStamp) {
        self.applied = Some(stamp);
        self.failed = None;
    }

    /// A reload of version `stamp` failed (`None`: the file could not be opened); the old
    /// table stays.
    pub(crate) fn failed(&mut self, stamp: Option<FileStamp>) {
        self.failed = Some(stamp);
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// Distinct real stamps: one file rewritten with growing contents.
    fn stamps(n: usize) -> Vec<FileStamp> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("l2tpd-watch-{}-{k}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.yaml");
        let out = (0..n)
            .map(|i| {
                std::fs::write(&path, "x".repeat(i + 1)).unwrap();
                std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).unwrap();
                FileStamp::of_path(&path).unwrap()
            })
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        out
    }

    #[test]
    fn a_change_is_applied_once_it_settles() {
        let s = stamps(3);
        let mut w = UsersWatch::new(Some(s[0]));
        assert!(!w.poll(Some(s[0])), "nothing changed");
        assert!(
            !w.poll(Some(s[1])),
            "just changed: maybe still being written"
        );
        assert!(!w.poll(Some(s[2])), "changed again: still being written");
        assert!(w.poll(Some(s[2])), "two checks agree: reload");
        w.applied(s[2]);
        assert!(!w.poll(Some(s[2])), "applied: nothing to do");
    }

    #[test]
    fn a_failed_version_waits_for_the_next_change_then_is_retried() {
        let s = stamps(3);
        let mut w = UsersWatch::new(Some(s[0]));
        assert!(!w.poll(Some(s[1])));
        assert!(w.poll(Some(s[1])));
        // Half-written: the reload fails and the old table stays.
        w.failed(Some(s[1]));
        for _ in 0..3 {
            assert!(
                !w.poll(Some(s[1])),
                "the same broken version is not retried"
            );
        }
        // The writer finishes (same modification time, other size): retried.
        assert!(!w.poll(Some(s[2])));
        assert!(w.poll(Some(s[2])));
        w.applied(s[2]);
        assert!(!w.poll(Some(s[2])));
    }

    #[test]
    fn a_success_recorded_by_sighup_is_not_reloaded_again() {
        let s = stamps(2);
        let mut w = UsersWatch::new(Some(s[0]));
        // SIGHUP right after the edit, before any periodic check saw it.
        w.applied(s[1]);
        assert!(!w.poll(Some(s[1])));
        assert!(!w.poll(Some(s[1])));
    }

    #[test]
    fn a_missing_file_is_tried_once_then_waits_for_it_to_come_back() {
        let s = stamps(2);
        let mut w = UsersWatch::new(Some(s[0]));
        assert!(!w.poll(None));
        assert!(w.poll(None), "gone for two checks: try (and report) once");
        w.failed(None);
        assert!(!w.poll(None));
        assert!(!w.poll(Some(s[1])));
        assert!(w.poll(Some(s[1])), "back: reload");
    }
}
