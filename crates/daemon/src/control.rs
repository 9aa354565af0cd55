//! The Unix control socket: one JSON request line, one JSON response line.
//!
//! Requests: `{"cmd":"status"}`, `{"cmd":"reload-users"}`, `{"cmd":"metrics"}` and
//! `{"cmd":"kick","target":"USER|IP"}`. A response is
//! `{"ok":true,"snapshot":{...},"info":{...}}` (status), `{"ok":true,"kicked":[...]}` (kick)
//! or `{"ok":false,"error":"..."}`. The snapshot is
//! [`server::Snapshot`] as serialised by serde; nothing secret is in it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use server::Snapshot;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// The longest request line accepted.
pub(crate) const MAX_REQUEST: usize = 4096;

/// How long a client may take to send its request or read the answer.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A control request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub(crate) enum Request {
    /// The status snapshot.
    Status,
    /// Reload users.yaml now (as SIGHUP does).
    ReloadUsers,
    /// The Prometheus exposition text (what the metrics endpoint serves).
    Metrics,
    /// End the sessions of a user, or of an assigned or public address.
    Kick {
        /// A user name, or an IPv4 address (assigned by IPCP, or the client's public one).
        target: String,
    },
}

impl Request {
    /// What a `kick` target names: an address if it parses as one, else a user.
    pub(crate) fn kick_target(target: &str) -> server::KickTarget {
        match target.parse::<std::net::IpAddr>() {
            Ok(ip) => server::KickTarget::Address(ip),
            Err(_) => server::KickTarget::User(target.to_owned()),
        }
    }
}

/// Facts about the daemon itself, shown above the status table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DaemonInfo {
    /// The daemon's version.
    pub version: String,
    /// The configuration file.
    pub config: PathBuf,
    /// The TUN device, if one is open.
    pub tun: Option<String>,
    /// The UDP sockets, as `address:port`.
    pub listening: Vec<String>,
    /// Whether the raw ESP socket is open.
    pub raw_esp: bool,
    /// Users loaded.
    pub users: usize,
    /// Data-path worker threads besides the owner task (0: the owner carries everything).
    #[serde(default)]
    pub workers: usize,
    /// Datagrams and TUN packets each worker read (how the kernel spread the flows).
    #[serde(default)]
    pub worker_packets: Vec<u64>,
    /// Datagrams and TUN packets the owner task's own readers took.
    #[serde(default)]
    pub owner_packets: u64,
    /// Packets dropped because the owner task's input channel was full.
    #[serde(default)]
    pub owner_busy: u64,
    /// The data plane's counters.
    #[serde(default)]
    pub data_plane: Option<server::DataPlaneStats>,
}

/// A control response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A human-readable result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The status snapshot (for `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
    /// Daemon facts (for `status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<DaemonInfo>,
    /// The sessions ended (for `kick`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kicked: Option<Vec<server::Kicked>>,
    /// The Prometheus exposition text (for `metrics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
}

impl Response {
    pub(crate) fn error(msg: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(msg.into()),
            ..Self::default()
        }
    }
}

/// Sends `request` to the daemon at `path` and returns its response.
pub(crate) async fn query(path: &Path, request: &Request) -> anyhow::Result<Response> {
    let mut stream = UnixStream::connect(path).await?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    tokio::time::timeout(IO_TIMEOUT, stream.write_all(&line)).await??;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    tokio::time::timeout(IO_TIMEOUT, reader.read_line(&mut answer)).await??;
    Ok(serde_json::from_str(&answer)?)
}

/// [`query`] from synchronous code (the `status` and `kick` commands): the daemon's answer,
/// or a plain-words reason why there is none, ready to print.
pub(crate) fn ask(path: &Path, request: &Request) -> Result<Response, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let response = runtime.block_on(query(path, request)).map_err(|e| {
        format!(
            "no l2tpd-rs daemon is listening on {}: is it running? ({e})",
            path.display()
        )
    })?;
    if response.ok {
        Ok(response)
    } else {
        Err(format!(
            "the daemon refused: {}",
            response.error.unwrap_or_default()
        ))
    }
}

/// Reads one request line from a control client, bounded in size and time.
pub(crate) async fn read_request(stream: &mut UnixStream) -> Result<Request, String> {
    let mut reader = BufReader::new(stream).take(MAX_REQUEST as u64);
    let mut line = String::new();
    match tokio::time::timeout(IO_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => return Err("timed out waiting for the request".to_owned()),
        Ok(Err(e)) => return Err(format!("cannot read the request: {e}")),
        Ok(Ok(_)) => {}
    }
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))
}

/// Writes one response line.
pub(crate) async fn write_response(
    stream: &mut UnixStream,
    response: &Response,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(response).map_err(std::io::Error::other)?;
    line.push(b'\n');
    tokio::time::timeout(IO_TIMEOUT, stream.write_all(&line))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_format() {
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"cmd":"status"}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"reload-users"}"#).unwrap(),
            Request::ReloadUsers
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"rm -rf"}"#).is_err());
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"kick","target":"bob"}"#).unwrap(),
            Request::Kick {
                target: "bob".into()
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"kick"}"#).is_err());
    }

    #[test]
    fn kick_targets_are_addresses_when_they_parse_as_one() {
        use server::KickTarget;
        assert_eq!(
            Request::kick_target("10.99.0.7"),
            KickTarget::Address("10.99.0.7".parse().unwrap())
        );
        assert_eq!(
            Request::kick_target("CORP\\bob"),
            KickTarget::User("CORP\\bob".into())
        );
        assert_eq!(
            Request::kick_target("10.99.0"),
            KickTarget::User("10.99.0".into())
        );
    }

    #[test]
    fn response_round_trips() {
        let r = Response {
            ok: true,
            snapshot: Some(Snapshot::default()),
            ..Response::default()
        };
        let s = serde_json::to_string(&r).unwrap();
        assert!(!s.contains("error"));
        assert_eq!(serde_json::from_str::<Response>(&s).unwrap(), r);
        let e = Response::error("nope");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"ok":false,"error":"nope"}"#
        );
    }
}
