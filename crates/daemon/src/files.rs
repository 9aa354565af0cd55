//! The local files the daemon creates or must keep reading: the key log, the control socket,
//! and users.yaml after the privilege drop.
//!
//! - **Key log** (`run --keylog FILE`): it holds every IKE and ESP key, so it is opened with
//!   `O_NOFOLLOW` (a symbolic link planted at the path is refused, never followed), must be a
//!   regular file that we own with a single link (keys are never appended to a file someone
//!   else controls, or to another name of some other file), and is `fchmod`ed to 0600 through
//!   the open descriptor even when it already existed with wider permissions (open(2), fchmod(2)).
//! - **Control socket**: created mode 0660 directly (the umask is narrowed around bind(2), see
//!   unix(7) "Pathname sockets"), then given `control_socket_group` with `lchown`, which does
//!   not follow links. Whatever is at the path that is not a socket (a file, a directory, a
//!   link) is never deleted: the daemon refuses to start instead. A socket nobody answers on
//!   is a stale one from a crashed daemon and is replaced.
//! - **users.yaml after the privilege drop**: reloads run as the unprivileged account, so at
//!   start-up, right after the drop, the file must still open; otherwise the daemon refuses to
//!   start rather than fail silently at the first edit.
//!
//! The `psk_file` is read once, as root, before the drop, and nothing reads it again; it is not
//! checked after the drop so that it can stay readable by root only.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use tokio::net::{UnixListener, UnixStream};
use tracing::{info, warn};

/// Held while the process umask is narrowed (see [`bind_control`]).
static UMASK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The key log's mode.
const KEYLOG_MODE: u32 = 0o600;

/// The control socket's mode: root (or the daemon's account) and the socket's group.
const CONTROL_SOCKET_MODE: u32 = 0o660;

/// Opens (creating if needed) the key log for appending; see the module docs for the rules.
pub(crate) fn open_keylog(path: &Path) -> anyhow::Result<File> {
    use nix::fcntl::OFlag;
    let shown = path.display();
    // O_NONBLOCK: opening a FIFO planted at the path fails or returns at once instead of
    // blocking start-up; it has no effect on a regular file.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(KEYLOG_MODE)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) {
                anyhow::anyhow!(
                    "the key log {shown} is a symbolic link: keys are never written through a \
                     link; name the file itself"
                )
            } else {
                anyhow::Error::new(e).context(format!("cannot open the key log {shown}"))
            }
        })?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat the key log {shown}"))?;
    if !meta.file_type().is_file() {
        bail!("the key log {shown} is not a regular file");
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        bail!(
            "the key log {shown} belongs to user ID {}, not to this process ({me}): keys are \
             never written into a file someone else controls; remove it or name another file",
            meta.uid()
        );
    }
    if meta.nlink() > 1 {
        bail!(
            "the key log {shown} has {} hard links: keys are never written into a file that has \
             other names; remove it or name another file",
            meta.nlink()
        );
    }
    let mode = meta.mode() & 0o7777;
    if mode != KEYLOG_MODE {
        file.set_permissions(std::fs::Permissions::from_mode(KEYLOG_MODE))
            .with_context(|| format!("cannot chmod the key log {shown} to 0600"))?;
        if mode & 0o077 != 0 {
            warn!(
                file = %shown,
                "the key log was mode {mode:04o} and is now 0600: anyone who opened it before \
                 may still read what it held and what is appended"
            );
        }
    }
    Ok(file)
}

/// Binds the control socket at `path` (mode 0660, group `group` if given).
pub(crate) async fn bind_control(path: &Path, group: Option<&str>) -> anyhow::Result<UnixListener> {
    let shown = path.display();
    let gid = group.map(group_id).transpose()?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                bail!(
                    "another l2tpd-rs is already listening on {shown} (stop it first, or set another control_socket)"
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove the stale socket {shown}"))?;
        }
        Ok(meta) => bail!(
            "{shown} exists and is {}, not a socket: refusing to replace it (remove it yourself, \
             or set another control_socket)",
            describe(meta.file_type())
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {shown}")),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let listener = {
        use nix::sys::stat::{Mode, umask};
        // bind(2) creates the socket with 0777 & ~umask. Set-up makes no other file meanwhile,
        // so narrowing the process umask here is safe. The umask belongs to the process, not
        // the thread: two binds at once (tests run in parallel) would each save the other's
        // narrowed mask, and one would bind under the restored one and leave the narrowed one
        // set for good. The lock keeps each set/bind/restore whole.
        let held = UMASK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = umask(Mode::from_bits_truncate(0o777 & !CONTROL_SOCKET_MODE));
        let bound = UnixListener::bind(path);
        umask(old);
        drop(held);
        bound.with_context(|| format!("cannot bind the control socket {shown}"))?
    };
    if let (Some(gid), Some(name)) = (gid, group) {
        std::os::unix::fs::lchown(path, None, Some(gid))
            .with_context(|| format!("cannot give the control socket {shown} to group {name}"))?;
    }
    info!(socket = %shown, group = group.unwrap_or("(the daemon's)"), "control socket ready");
    Ok(listener)
}

/// Removes the control socket when dropped, unless [`Self::keep`] was called: a set-up that
/// fails after binding it leaves no socket behind.
pub(crate) struct UnbindOnError(Option<std::path::PathBuf>);

impl UnbindOnError {
    pub(crate) fn new(path: &Path) -> Self {
        Self(Some(path.to_path_buf()))
    }

    /// Set-up succeeded: the socket stays.
    pub(crate) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for UnbindOnError {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            remove_control_socket(path);
        }
    }
}

/// Removes the control socket on exit, if what is at `path` is still a socket.
pub(crate) fn remove_control_socket(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Checks, after the privilege drop, that `users_file` can still be read (reloads run as the
/// account `user` in group `group`).
pub(crate) fn check_users_file_readable(
    users_file: &Path,
    user: &str,
    group: &str,
) -> anyhow::Result<()> {
    let shown = users_file.display();
    match File::open(users_file).and_then(|mut f| f.read(&mut [0u8; 1])) {
        Ok(_) => Ok(()),
        Err(e) => bail!(
            "after dropping privileges to {user}, the users file {shown} cannot be read ({e}), so \
             reloading it (SIGHUP, edits) would fail: let {user} read it, for example \
             `chgrp {group} {shown} && chmod 640 {shown}` (and make its directory searchable)"
        ),
    }
}

/// The ID of the group named `name`.
pub(crate) fn group_id(name: &str) -> anyhow::Result<u32> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => bail!("group `{name}` does not exist"),
        Err(e) => bail!("cannot look up group `{name}`: {e}"),
    }
}

fn describe(t: std::fs::FileType) -> &'static str {
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_fifo() {
        "a FIFO"
    } else {
        "a device"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory, removed on drop.
    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(tag: &str) -> Self {
            let nanos = std::time::SystemTime::UNIX_EPOCH
                .elapsed()
                .unwrap()
                .subsec_nanos();
            let p = std::env::temp_dir()
                .join(format!("l2tpd-files-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
        fn path(&self, name: &str) -> std::path::PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn keylog_is_created_0600() {
        let dir = Dir::new("keylog-new");
        let path = dir.path("keys.txt");
        let mut f = open_keylog(&path).unwrap();
        std::io::Write::write_all(&mut f, b"line\n").unwrap();
        assert_eq!(mode(&path), 0o600);
        // Appends, does not truncate.
        drop(open_keylog(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"line\n");
    }

    #[test]
    fn keylog_that_existed_readable_becomes_0600() {
        let dir = Dir::new("keylog-0644");
        let path = dir.path("keys.txt");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut f = open_keylog(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        std::io::Write::write_all(&mut f, b"new\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old\nnew\n");
    }

    #[test]
    fn keylog_symlink_is_refused_and_its_target_untouched() {
        let dir = Dir::new("keylog-link");
        let target = dir.path("target.txt");
        std::fs::write(&target, "precious\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path("keys.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open_keylog(&link).unwrap_err().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"precious\n");
        assert_eq!(mode(&target), 0o644, "the target was not chmodded");
        // A dangling link is refused too (O_CREAT would otherwise create its target).
        let dangling = dir.path("dangling.txt");
        std::os::unix::fs::symlink(dir.path("nowhere.txt"), &dangling).unwrap();
        assert!(open_keylog(&dangling).is_err());
        assert!(!dir.path("nowhere.txt").exists());
    }

    #[test]
    fn keylog_must_be_a_regular_file_with_one_link() {
        let dir = Dir::new("keylog-odd");
        let e = open_keylog(&dir.0).unwrap_err();
        assert!(
            format!("{e:#}").contains("cannot open the key log"),
            "{e:#}"
        );
        // A FIFO with no reader: refused at once, start-up does not block.
        let fifo = dir.path("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(open_keylog(&fifo).is_err());
        // A second name of another file.
        let other = dir.path("other.txt");
        std::fs::write(&other, "x").unwrap();
        let alias = dir.path("alias.txt");
        std::fs::hard_link(&other, &alias).unwrap();
        let e = open_keylog(&alias).unwrap_err().to_string();
        assert!(e.contains("hard links"), "{e}");
    }

    #[test]
    fn keylog_owned_by_someone_else_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            println!("skipping: needs root to give a file away");
            return;
        }
        let dir = Dir::new("keylog-owner");
        let path = dir.path("keys.txt");
        std::fs::write(&path, "").unwrap();
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let e = open_keylog(&path).unwrap_err().to_string();
        assert!(e.contains("belongs to user ID 65534"), "{e}");
    }

    #[tokio::test]
    async fn control_socket_is_0660_and_never_replaces_a_non_socket() {
        let dir = Dir::new("ctl");
        let path = dir.path("run/ctl.sock");
        let listener = bind_control(&path, None).await.unwrap();
        assert!(
            std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_socket()
        );
        assert_eq!(mode(&path), 0o660);

        // A live socket: another daemon; a second one refuses.
        let e = bind_control(&path, None).await.unwrap_err().to_string();
        assert!(e.contains("already listening"), "{e}");
        // A stale socket (its daemon is gone) is replaced.
        drop(listener);
        let listener = bind_control(&path, None).await.unwrap();
        drop(listener);
        remove_control_socket(&path);
        assert!(!path.exists());

        // A regular file, a directory or a link at the path: refused and left alone.
        std::fs::write(&path, "not a socket\n").unwrap();
        let e = bind_control(&path, None).await.unwrap_err().to_string();
        assert!(e.contains("is a regular file, not a socket"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"not a socket\n");
        remove_control_socket(&path);
        assert!(path.exists(), "exit never removes a non-socket");
        std::fs::remove_file(&path).unwrap();

        std::fs::create_dir(&path).unwrap();
        let e = bind_control(&path, None).await.unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        std::fs::remove_dir(&path).unwrap();

        let target = dir.path("target");
        std::fs::write(&target, "x").unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let e = bind_control(&path, None).await.unwrap_err().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
        assert!(target.exists());
    }

    #[tokio::test]
    async fn control_socket_group() {
        let dir = Dir::new("ctl-group");
        let path = dir.path("ctl.sock");
        let e = bind_control(&path, Some("no-such-group-l2tpd-test"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        assert!(!path.exists(), "nothing bound for an unknown group");
        if !nix::unistd::geteuid().is_root() {
            println!("skipping the chown part: needs root");
            return;
        }
        // Any group other than ours shows the chown happened.
        let name = ["nogroup", "nobody", "daemon", "bin"]
            .into_iter()
            .find(|n| group_id(n).is_ok_and(|g| g != nix::unistd::getegid().as_raw()))
            .expect("a system group");
        let _listener = bind_control(&path, Some(name)).await.unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.gid(), group_id(name).unwrap());
        assert_eq!(meta.mode() & 0o7777, 0o660);
    }

    /// Binds at once on several threads: each socket still gets 0660, and the process umask
    /// is the one from before.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn control_sockets_bound_at_once_keep_their_mode_and_the_umask() {
        use nix::sys::stat::{Mode, umask};
        let current_umask = || {
            let _held = UMASK
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let m = umask(Mode::from_bits_truncate(0o022));
            umask(m);
            m
        };
        let before = current_umask();
        let dir = std::sync::Arc::new(Dir::new("ctl-parallel"));
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let dir = dir.clone();
                tokio::spawn(async move {
                    for i in 0..50 {
                        let path = dir.path(&format!("{t}-{i}.sock"));
                        let listener = bind_control(&path, None).await.unwrap();
                        assert_eq!(mode(&path), 0o660, "{}", path.display());
                        drop(listener);
                        remove_control_socket(&path);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(current_umask(), before);
    }

    #[test]
    fn users_file_readability() {
        let dir = Dir::new("users-read");
        let path = dir.path("users.yaml");
        std::fs::write(&path, "users: []\n").unwrap();
        check_users_file_readable(&path, "me", "mine").unwrap();
        let e = check_users_file_readable(&dir.path("gone.yaml"), "nobody", "nogroup")
            .unwrap_err()
            .to_string();
        assert!(e.contains("after dropping privileges to nobody"), "{e}");
        assert!(e.contains("chgrp nogroup"), "{e}");
    }
}
