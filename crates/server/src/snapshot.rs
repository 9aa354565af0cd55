//! The status snapshot: one row per session, joining IKE, ESP, L2TP and PPP (README.md
//! "`status` output"). It is what `l2tpd-rs status` prints; it is serialised as JSON on the
//! control socket. No secret ever appears here.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Everything `status` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// One row per PPP session.
    pub sessions: Vec<SessionRow>,
    /// IKE peers that have no session yet (negotiating, or IPsec up without L2TP).
    pub pending_peers: Vec<PeerRow>,
    /// Global counters.
    pub counters: Counters,
}

/// One session: user, addresses, client, suites, lifetimes and traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    /// The session's ID (`server::SessionId` as text): what `kick` and accounting name it by.
    #[serde(default)]
    pub session_id: String,
    /// The authenticated user name (empty before authentication).
    pub user: String,
    /// The address assigned by IPCP, once IPCP is up.
    pub assigned_ip: Option<Ipv4Addr>,
    /// The client's public (outer) address and UDP port.
    pub client_public: SocketAddr,
    /// Whether the client is behind NAT (ESP runs over UDP 4500).
    pub nat: bool,
    /// The NAT-T dialect: "RFC 3947", "draft-02", "draft-02\\n", "draft-03" or "none".
    pub nat_t_dialect: String,
    /// The L2TP Host Name AVP the client sent.
    pub host_name: String,
    /// An OS hint: MS NT5 vendor ID version, LCP Identification strings, L2TP vendor name.
    pub os_hint: String,
    /// The IKE (phase 1) suite, e.g. "3DES-CBC/HMAC-SHA1/MODP1024".
    pub ike_suite: String,
    /// How the client authenticated in IKE phase 1: "psk" (pre-shared key), "cert" (RSA
    /// signature with an X.509 certificate), or empty when phase 1 is not known.
    #[serde(default)]
    pub ike_auth: String,
    /// The certificate subject a "cert" client proved, e.g. `CN=alice,O=Example` (`None` for
    /// "psk").
    #[serde(default)]
    pub ike_peer_id: Option<String>,
    /// The ESP suite, e.g. "3DES-CBC/HMAC-SHA1-96 UDP-encap transport".
    pub esp_suite: String,
    /// Seconds left on the IKE SA.
    pub ike_lifetime_left_secs: Option<u64>,
    /// Seconds left on the ESP SA.
    pub esp_lifetime_left_secs: Option<u64>,
    /// Our and the client's L2TP tunnel IDs.
    pub l2tp_tunnel: (u16, u16),
    /// Our and the client's L2TP session IDs.
    pub l2tp_session: (u16, u16),
    /// The session's state in words ("negotiating LCP", "authenticating", "up", ...).
    pub state: String,
    /// Seconds since the L2TP session came up.
    pub connected_secs: u64,
    /// Bytes from the client (IP payload after decapsulation).
    pub bytes_in: u64,
    /// Bytes to the client.
    pub bytes_out: u64,
    /// Packets from the client.
    pub packets_in: u64,
    /// Packets to the client.
    pub packets_out: u64,
    /// The session timeout in force, in seconds (`None`: no limit, or IPCP not up yet).
    #[serde(default)]
    pub session_timeout_secs: Option<u64>,
    /// The idle timeout in force, in seconds (`None`: no limit, or IPCP not up yet).
    #[serde(default)]
    pub idle_timeout_secs: Option<u64>,
    /// The upload rate limit in force, in bits per second (`None`: no limit, or IPCP not up).
    #[serde(default)]
    pub rate_limit_up_bps: Option<u64>,
    /// The download rate limit in force, in bits per second.
    #[serde(default)]
    pub rate_limit_down_bps: Option<u64>,
    /// Packets from the client dropped by its upload rate limit.
    #[serde(default)]
    pub policed_in: u64,
    /// Packets to the client dropped by its download rate limit.
    #[serde(default)]
    pub policed_out: u64,
    /// Networks routed to the session (RADIUS Framed-Route, users.yaml `routes`), as
    /// `a.b.c.d/len`.
    #[serde(default)]
    pub routes: Vec<String>,
}

/// An IKE peer without a PPP session yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerRow {
    /// The peer's public address and port.
    pub client_public: SocketAddr,
    /// Where it is in the setup, in words.
    pub state: String,
}

/// Global drop and traffic counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Datagrams that could not be parsed at any layer.
    pub malformed: u64,
    /// ESP packets dropped (bad ICV, replay, unknown SPI, wrong peer).
    pub esp_dropped: u64,
    /// IP packets from a client with a source address that is not its own.
    pub spoofed: u64,
    /// TUN packets for an address with no session.
    pub no_session: u64,
    /// Plain (unprotected) L2TP datagrams refused.
    pub plaintext_l2tp_refused: u64,
}
