//! Configuration of the LNS and of the minimal LAC.

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

/// The Hello interval (RFC 2661 §6.5 leaves it to the implementation; 60 s as xl2tpd's
/// `HELLO_DELAY` in `l2tp.h`, docs/clients.md#classic-servers).
pub const DEFAULT_HELLO_INTERVAL: Duration = Duration::from_secs(60);
/// The first retransmission timeout (RFC 2661 §5.8: "a recommended default value of 1 second").
pub const DEFAULT_RETRANSMIT_INITIAL: Duration = Duration::from_secs(1);
/// The backoff cap (RFC 2661 §5.8: "an upper bound ... of at least 8 seconds" is suggested).
pub const DEFAULT_RETRANSMIT_CAP: Duration = Duration::from_secs(8);
/// Retransmissions before the tunnel is given up (RFC 2661 §5.8: "a recommended default ... of 5").
pub const DEFAULT_MAX_RETRANSMITS: u32 = 5;
/// Control messages that may wait for the peer's acknowledgement in one tunnel, sent or not,
/// before the tunnel is torn down. A working peer acknowledges within one round trip and holds
/// at most its receive window unacknowledged; a peer that keeps sending requests but never
/// acknowledges our answers would otherwise make us queue without bound (RFC 2661 §5.8 sets no
/// limit). Closing every session of a tunnel at once queues one CDN per session, so the bound
/// in force is at least `max_sessions_per_tunnel + 8`.
pub const DEFAULT_MAX_QUEUED_CONTROL: usize = 64;
/// The receive window a peer is assumed to have when it sends no Receive Window Size AVP
/// (RFC 2661 §4.4.3).
pub const DEFAULT_PEER_WINDOW: u16 = 4;

/// Retransmission policy of the reliable control channel (RFC 2661 §5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmit {
    /// The first timeout.
    pub initial: Duration,
    /// The cap of the exponential backoff.
    pub cap: Duration,
    /// Retransmissions of one message before the tunnel is torn down.
    pub max_retries: u32,
}

impl Default for Retransmit {
    fn default() -> Self {
        Self {
            initial: DEFAULT_RETRANSMIT_INITIAL,
            cap: DEFAULT_RETRANSMIT_CAP,
            max_retries: DEFAULT_MAX_RETRANSMITS,
        }
    }
}

impl Retransmit {
    /// The whole time a message is retried before the channel gives up: also how long a
    /// closed tunnel lingers to acknowledge a retransmitted StopCCN (RFC 2661 §5.7).
    pub fn full_cycle(&self) -> Duration {
        let mut t = self.initial;
        let mut total = Duration::ZERO;
        for _ in 0..=self.max_retries {
            total = total.saturating_add(t);
            t = t.saturating_mul(2).min(self.cap);
        }
        total
    }
}

/// When data messages carry Ns/Nr (RFC 2661 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DataSequencing {
    /// Only when the LAC sends Sequencing Required in the ICCN; otherwise the data channel has
    /// no Ns/Nr. Whether Windows ever sends it is unverified (docs/clients.md#classic-servers).
    #[default]
    OnRequest,
    /// Always.
    Always,
}

/// The tunnel secret (RFC 2661 §5.1.1): it is never logged (redacted `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct TunnelSecret(Zeroizing<Vec<u8>>);

impl TunnelSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for TunnelSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TunnelSecret(<redacted>)")
    }
}

/// Configuration of one [`crate::Lns`] (all tunnels of one IKE peer).
#[derive(Debug, Clone)]
pub struct LnsConfig {
    /// Our Host Name AVP.
    pub host_name: String,
    /// Our Vendor Name AVP.
    pub vendor_name: String,
    /// Our Firmware Revision AVP.
    pub firmware_revision: u16,
    /// The Receive Window Size we advertise.
    pub receive_window: u16,
    /// The Hello interval (RFC 2661 §6.5).
    pub hello_interval: Duration,
    /// Retransmission policy (RFC 2661 §5.8).
    pub retransmit: Retransmit,
    /// Tunnel secret: enables tunnel authentication and hidden AVPs (RFC 2661 §4.3, §5.1.1).
    pub secret: Option<TunnelSecret>,
    /// Tunnels this peer may hold at once.
    pub max_tunnels: usize,
    /// Sessions per tunnel, established or being set up.
    pub max_sessions_per_tunnel: usize,
    /// Unacknowledged control messages per tunnel before it is torn down (see
    /// [`DEFAULT_MAX_QUEUED_CONTROL`]; raised to `max_sessions_per_tunnel + 8` if lower).
    pub max_queued_control: usize,
    /// Data-channel sequencing preference.
    pub data_sequencing: DataSequencing,
    /// Whether our data messages carry the Length field (SoftEther sends it, 0x4002; the Linux
    /// kernel does not, 0x0002; both are valid, RFC 2661 §3.1).
    pub data_length_field: bool,
}

impl Default for LnsConfig {
    fn default() -> Self {
        Self {
            host_name: "l2tpd-rs".into(),
            vendor_name: "l2tpd-rs".into(),
            firmware_revision: 0x0100,
            receive_window: 16,
            hello_interval: DEFAULT_HELLO_INTERVAL,
            retransmit: Retransmit::default(),
            secret: None,
            max_tunnels: 8,
            max_sessions_per_tunnel: 16,
            max_queued_control: DEFAULT_MAX_QUEUED_CONTROL,
            data_sequencing: DataSequencing::OnRequest,
            data_length_field: true,
        }
    }
}

/// Configuration of the minimal [`crate::Lac`].
#[derive(Debug, Clone)]
pub struct LacConfig {
    /// Our Host Name AVP.
    pub host_name: String,
    /// Our Vendor Name AVP.
    pub vendor_name: String,
    /// Our Firmware Revision AVP.
    pub firmware_revision: u16,
    /// The Receive Window Size we advertise.
    pub receive_window: u16,
    /// The Hello interval.
    pub hello_interval: Duration,
    /// Retransmission policy.
    pub retransmit: Retransmit,
    /// Tunnel secret: we then send a Challenge and check the LNS's response.
    pub secret: Option<TunnelSecret>,
    /// Hide Host Name and Assigned Session ID AVPs with the secret (RFC 2661 §4.3).
    pub hide_avps: bool,
    /// A fixed Assigned Tunnel ID (Windows counts attempts since boot, iOS always uses 1);
    /// random when `None`.
    pub tunnel_id: Option<u16>,
    /// The first Assigned Session ID; random when `None`.
    pub first_session_id: Option<u16>,
    /// Send Sequencing Required in the ICCN.
    pub request_sequencing: bool,
    /// Whether our data messages carry the Length field.
    pub data_length_field: bool,
}

impl Default for LacConfig {
    fn default() -> Self {
        Self {
            host_name: "lac".into(),
            vendor_name: "l2tpd-rs".into(),
            firmware_revision: 0x0100,
            receive_window: 8,
            hello_interval: DEFAULT_HELLO_INTERVAL,
            retransmit: Retransmit::default(),
            secret: None,
            hide_avps: false,
            tunnel_id: None,
            first_session_id: None,
            request_sequencing: false,
            data_length_field: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_cycle_and_redaction() {
        // 1 + 2 + 4 + 8 + 8 + 8 s.
        assert_eq!(Retransmit::default().full_cycle(), Duration::from_secs(31));
        let s = TunnelSecret::new("hunter2");
        assert_eq!(format!("{s:?}"), "TunnelSecret(<redacted>)");
        let cfg = LnsConfig {
            secret: Some(s),
            ..Default::default()
        };
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
