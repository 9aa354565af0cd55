//! Loading both files with every problem printed as `file:line: reason` (`check-config`, the
//! start of `run`, and every users.yaml reload).

use std::path::Path;
use std::process::ExitCode;

use config::files::{FileStamp, FileText};
use config::users::{self, Users, UsersError};
use config::{Config, DaemonConfig, Privileges, Warning};

/// Both files, loaded and checked.
pub(crate) struct Loaded {
    pub(crate) config: Config,
    /// Warnings about both files.
    pub(crate) warnings: Vec<Warning>,
    pub(crate) users: Users,
    /// The version of users.yaml that was read.
    pub(crate) users_stamp: Option<FileStamp>,
}

/// Loads the configuration and users; on failure, the messages to print.
pub(crate) fn load_all(config_path: &Path) -> Result<Loaded, Vec<String>> {
    let (config, mut warnings) =
        Config::load_at(config_path, crate::clock::wall_now()).map_err(|errors| {
            errors
                .iter()
                .map(|e| format!("error: {e}"))
                .collect::<Vec<_>>()
        })?;
    let load = load_users(&config);
    match load.result {
        Ok((users, users_warnings)) => {
            warnings.extend(users_warnings);
            Ok(Loaded {
                config,
                warnings,
                users,
                users_stamp: load.stamp,
            })
        }
        Err(errors) => {
            let mut out: Vec<String> = warnings.iter().map(|w| format!("warning: {w}")).collect();
            out.extend(errors);
            Err(out)
        }
    }
}

/// users.yaml as read for a load or reload.
pub(crate) struct UsersLoad {
    /// The version that was read (`None` if the file could not be opened).
    pub(crate) stamp: Option<FileStamp>,
    /// The complete table and its warnings, or every problem as a printable line.
    pub(crate) result: Result<(Users, Vec<Warning>), Vec<String>>,
}

/// Reads the users file named by `config` once and checks all of it.
pub(crate) fn load_users(config: &Config) -> UsersLoad {
    let path = &config.daemon.users_file;
    let file = match FileText::read(path) {
        Ok(f) => f,
        Err(e) => {
            return UsersLoad {
                stamp: None,
                result: Err(vec![format!("error: {}", UsersError::unreadable(path, &e))]),
            };
        }
    };
    let result = Users::from_yaml_str(&file.text, path, &config.server.pool)
        .map(|users| {
            let warning = users::permission_warning(&file, daemon_gid(&config.daemon));
            (users, warning.into_iter().collect())
        })
        .map_err(|errors| errors.iter().map(|e| format!("error: {e}")).collect());
    UsersLoad {
        stamp: Some(file.stamp),
        result,
    }
}

/// The group the daemon runs as after dropping privileges, if it drops them.
fn daemon_gid(daemon: &DaemonConfig) -> Option<u32> {
    let p = daemon.privileges.as_ref()?;
    match &p.group {
        Some(g) => crate::files::group_id(g).ok(),
        None => nix::unistd::User::from_name(&p.user)
            .ok()
            .flatten()
            .map(|u| u.gid.as_raw()),
    }
}

/// The name of the group the daemon drops to (for messages).
pub(crate) fn daemon_group_name(p: &Privileges) -> String {
    if let Some(g) = &p.group {
        return g.clone();
    }
    nix::unistd::User::from_name(&p.user)
        .ok()
        .flatten()
        .and_then(|u| nix::unistd::Group::from_gid(u.gid).ok().flatten())
        .map_or_else(|| p.user.clone(), |g| g.name)
}

/// `l2tpd-rs check-config`.
pub(crate) fn check_config(config_path: &Path) -> ExitCode {
    let Loaded {
        config,
        warnings,
        users,
        ..
    } = match load_all(config_path) {
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
    for msg in check_accounts(&config.daemon) {
        eprintln!("error: {}: {msg}", config.path.display());
        failed = true;
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
    if let Some(c) = &config.server.certificates {
        print_certificates(&config, c);
    }
    if let Some(r) = &config.daemon.radius {
        let servers = r
            .servers
            .iter()
            .map(|s| s.address.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let line = match crate::remote_auth::auth_order(&r.order) {
            server::AuthOrder::LocalThenRemote => format!(
                "logins are checked by the users file for the names it lists, by RADIUS \
                 ({servers}) for all others (radius.order: [users, radius])"
            ),
            server::AuthOrder::RemoteThenLocal => format!(
                "logins are checked by RADIUS ({servers}), and by the users file only when no \
                 RADIUS server answers (radius.order: [radius, users])"
            ),
            server::AuthOrder::Local => format!(
                "logins are checked by the users file only; RADIUS ({servers}) is not asked \
                 about logins (radius.order: [users])"
            ),
            _ => format!("logins are checked by RADIUS ({servers}), not by the users file"),
        };
        println!("{line}");
        if let Some(d) = &r.dynamic_authorization {
            println!(
                "Disconnect and CoA requests (RFC 5176) are taken on {} from {}",
                d.listen,
                d.clients
                    .iter()
                    .map(|c| c.address.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    ExitCode::SUCCESS
}

/// What `check-config` says about the `certificates:` block: what is in use, and the lint's
/// advice (its warnings and errors are already among the configuration's warnings).
fn print_certificates(config: &Config, c: &config::CertificateConfig) {
    let subject = c
        .server_certificate()
        .map(|cert| cert.tbs_certificate.subject.to_string())
        .unwrap_or_default();
    let accept = c
        .accept
        .iter()
        .map(pattern_text)
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "certificates: server {subject} ({} in its chain), {} CA certificate{}, {} CRL{}; \
         client certificates accepted: {accept}; {}",
        c.chain.len(),
        c.cas.len(),
        if c.cas.len() == 1 { "" } else { "s" },
        c.crls.len(),
        if c.crls.len() == 1 { "" } else { "s" },
        if c.allow_psk {
            "pre-shared-key clients are accepted too"
        } else {
            "pre-shared-key clients are refused (allow_psk: false)"
        }
    );
    let (names, addrs) = c.lint_names();
    let listen: Vec<_> = config
        .server
        .listen
        .addresses
        .iter()
        .filter(|a| !a.is_unspecified())
        .collect();
    if names.is_empty() && addrs.is_empty() && listen.is_empty() {
        println!(
            "certificates: no names to check the server certificate against: list what clients \
             type in certificates.names (a name missing from the certificate means Windows \
             error 787)"
        );
    }
    for f in c.lint(&config.server.listen.addresses, crate::clock::wall_now()) {
        if f.severity < pki::lint::Severity::Warning {
            println!("advice: {}", f.message);
        }
    }
}

/// An accepted-identity pattern as it is written in the configuration.
fn pattern_text(p: &pki::IdentityPattern) -> String {
    match p {
        pki::IdentityPattern::Any => "*".to_owned(),
        pki::IdentityPattern::Subject(s)
        | pki::IdentityPattern::Email(s)
        | pki::IdentityPattern::Dns(s) => s.clone(),
        pki::IdentityPattern::Address(a) => a.to_string(),
        _ => format!("{p:?}"),
    }
}

/// Problems with the accounts the configuration names: the `privileges` user and group and
/// the `control_socket_group` must exist.
pub(crate) fn check_accounts(daemon: &DaemonConfig) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = &daemon.privileges {
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
    }
    if let Some(g) = &daemon.control_socket_group
        && let Err(e) = crate::files::group_id(g)
    {
        out.push(format!("control_socket_group: {e}"));
    }
    out
}
