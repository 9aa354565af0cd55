//! Loading both files with every problem printed as `file:line: reason` (`check-config`, and
//! the start of `run`).

use std::path::Path;
use std::process::ExitCode;

use config::users::Users;
use config::{Config, Privileges, Warning};

/// Loads the configuration and users; on failure, the messages to print.
pub(crate) fn load_all(config_path: &Path) -> Result<(Config, Vec<Warning>, Users), Vec<String>> {
    let (config, warnings) = Config::load(config_path).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("error: {e}"))
            .collect::<Vec<_>>()
    })?;
    let users = load_users(&config).map_err(|errors| {
        let mut out: Vec<String> = warnings.iter().map(|w| format!("warning: {w}")).collect();
        out.extend(errors);
        out
    })?;
    Ok((config, warnings, users))
}

/// Loads the users file named by `config`.
pub(crate) fn load_users(config: &Config) -> Result<Users, Vec<String>> {
    Users::load(&config.daemon.users_file, &config.server.pool)
        .map_err(|errors| errors.iter().map(|e| format!("error: {e}")).collect())
}

/// `l2tpd-rs check-config`.
pub(crate) fn check_config(config_path: &Path) -> ExitCode {
    let (config, warnings, users) = match load_all(config_path) {
        Ok(v) => v,
        Err(messages) => {
            for m in &messages {
                eprintln!("{m}");
            }
            let n = messages.iter().filter(|m| m.starts_with("error")).count();
            eprintln!("{n} problem{} found", if n == 1 { "" } else { "s" });
            return ExitCode::FAILURE;
        }
    };
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let mut failed = false;
    if let Some(p) = &config.daemon.privileges {
        for msg in check_account(p) {
            eprintln!("error: {}: {msg}", config.path.display());
            failed = true;
        }
    }
    if failed {
        return ExitCode::FAILURE;
    }
    let enabled = users.iter().filter(|u| !u.disabled).count();
    println!(
        "{}: OK ({} warning{}); {}: {} users ({} enabled)",
        config.path.display(),
        warnings.len(),
        if warnings.len() == 1 { "" } else { "s" },
        config.daemon.users_file.display(),
        users.len(),
        enabled
    );
    ExitCode::SUCCESS
}

/// Problems with the `privileges` account (it must exist).
pub(crate) fn check_account(p: &Privileges) -> Vec<String> {
    let mut out = Vec::new();
    match nix::unistd::User::from_name(&p.user) {
        Ok(Some(_)) => {}
        Ok(None) => out.push(format!("privileges.user `{}` does not exist", p.user)),
        Err(e) => out.push(format!("cannot look up privileges.user `{}`: {e}", p.user)),
    }
    if let Some(g) = &p.group {
        match nix::unistd::Group::from_name(g) {
            Ok(Some(_)) => {}
            Ok(None) => out.push(format!("privileges.group `{g}` does not exist")),
            Err(e) => out.push(format!("cannot look up privileges.group `{g}`: {e}")),
        }
    }
    out
}
