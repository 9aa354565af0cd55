//! Dropping root after set-up: `setgroups`, `setresgid`, `setresuid` (credentials(7)). Real,
//! effective and saved IDs all change, no supplementary group is kept, and since
//! `PR_SET_KEEPCAPS` is off the kernel clears every capability on the switch from uid 0.

use nix::unistd::{Gid, Group, Uid, User, setgroups, setresgid, setresuid};

use crate::{Error, Result};

/// Switches the process to `user` and `group` (default: the user's primary group) for good.
/// Fails with [`Error::NotDropped`] if root could be regained afterwards.
pub fn drop_privileges(user: &str, group: Option<&str>) -> Result<()> {
    let u = User::from_name(user)
        .map_err(|e| Error::io(format!("look up user {user}"), e))?
        .ok_or_else(|| Error::UnknownUser(user.to_owned()))?;
    let gid = match group {
        Some(g) => {
            Group::from_name(g)
                .map_err(|e| Error::io(format!("look up group {g}"), e))?
                .ok_or_else(|| Error::UnknownGroup(g.to_owned()))?
                .gid
        }
        None => u.gid,
    };
    setgroups(&[gid]).map_err(|e| Error::io("setgroups", e))?;
    setresgid(gid, gid, gid).map_err(|e| Error::io(format!("setresgid {gid}"), e))?;
    setresuid(u.uid, u.uid, u.uid).map_err(|e| Error::io(format!("setresuid {}", u.uid), e))?;
    if !u.uid.is_root()
        && (nix::unistd::setuid(Uid::from_raw(0)).is_ok()
            || nix::unistd::setgid(Gid::from_raw(0)).is_ok())
    {
        return Err(Error::NotDropped);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_accounts_are_errors() {
        assert!(matches!(
            drop_privileges("no-such-user-l2tpd-test", None),
            Err(Error::UnknownUser(_))
        ));
    }
}
