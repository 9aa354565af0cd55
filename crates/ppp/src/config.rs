//! Link and peer configuration, with the defaults of RFC 1661 §4.6 and what Windows clients
//! ask for.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use wire::ppp::lcp::{ChapAlgorithm, LcpOption};
use zeroize::Zeroizing;

use crate::fsm::Limits;

/// An authentication protocol the authenticator may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthProtocol {
    /// MS-CHAP version 2 (RFC 2759; CHAP algorithm 0x81).
    MsChapV2,
    /// CHAP with MD5 (RFC 1994; algorithm 5). Needs a cleartext password.
    Chap,
    /// MS-CHAP version 1 (RFC 2433; algorithm 0x80).
    MsChapV1,
    /// PAP (RFC 1334): the password in clear inside the tunnel. Off by default.
    Pap,
}

impl AuthProtocol {
    /// The LCP Authentication-Protocol option that asks for this protocol.
    pub(crate) const fn option(self) -> LcpOption<'static> {
        match self {
            Self::MsChapV2 => LcpOption::chap(ChapAlgorithm::MsChapV2),
            Self::Chap => LcpOption::chap(ChapAlgorithm::Md5),
            Self::MsChapV1 => LcpOption::chap(ChapAlgorithm::MsChapV1),
            Self::Pap => LcpOption::pap(),
        }
    }

    /// Reads the protocol from an Authentication-Protocol option.
    pub(crate) fn from_option(option: &LcpOption<'_>) -> Option<Self> {
        let LcpOption::AuthProtocol { protocol, data } = option else {
            return None;
        };
        match (*protocol, *data) {
            (wire::ppp::Protocol::Pap, []) => Some(Self::Pap),
            (wire::ppp::Protocol::Chap, [alg]) => match ChapAlgorithm::from(*alg) {
                ChapAlgorithm::Md5 => Some(Self::Chap),
                ChapAlgorithm::MsChapV1 => Some(Self::MsChapV1),
                ChapAlgorithm::MsChapV2 => Some(Self::MsChapV2),
                ChapAlgorithm::Unknown(_) => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for AuthProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MsChapV2 => "MS-CHAPv2",
            Self::Chap => "CHAP-MD5",
            Self::MsChapV1 => "MS-CHAPv1",
            Self::Pap => "PAP",
        })
    }
}

/// Configuration of an authenticator-side [`crate::Link`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Our own IPv4 address, sent in our IPCP Configure-Request.
    pub our_addr: Ipv4Addr,
    /// Primary and secondary DNS (RFC 1877 options 129 and 131); `None` rejects the option.
    pub dns: [Option<Ipv4Addr>; 2],
    /// Primary and secondary WINS/NBNS (options 130 and 132); `None` rejects the option, as
    /// pppd does.
    pub wins: [Option<Ipv4Addr>; 2],
    /// The MRU we ask for, and the cap on the peer's MRU (larger requests are Nak'd down).
    /// 1400 by default: Windows asks 1400 and it fits ESP in a 1500 path.
    pub mru: u16,
    /// Authentication protocols in order of preference. A peer's Configure-Nak moves to the next
    /// acceptable one.
    pub auth_protocols: Vec<AuthProtocol>,
    /// Failed attempts before the link is terminated (the last Failure says `R=0`).
    pub auth_retries: u32,
    /// How long an attempt handed to a remote verifier ([`crate::Lookup::Remote`]) may wait
    /// for its verdict; then the peer gets a Failure with `R=0` and the link ends ("the
    /// authentication server did not answer"). 30 s by default, the longest a RADIUS client
    /// keeps retransmitting one request by default (MRD, RFC 5080 §2.2.1).
    pub auth_timeout: Duration,
    /// The LCP echo timer's interval once LCP is open; zero disables keepalive. An
    /// Echo-Request goes out only at a tick after an interval in which nothing came from the
    /// peer (any valid frame is a sign of life, an Echo-Reply too).
    pub echo_interval: Duration,
    /// Silent intervals in a row (at least one Echo-Request unanswered) after which the peer
    /// is dead: it is dropped `echo_failures` to `echo_failures + 1` intervals after its last
    /// frame (two to three intervals for 1).
    pub echo_failures: u32,
    /// Restart timer (RFC 1661 §4.6: "SHOULD be three seconds").
    pub restart_interval: Duration,
    /// Max-Configure (RFC 1661 §4.6, default 10); also bounds challenge retransmissions.
    pub max_configure: u32,
    /// Max-Terminate (RFC 1661 §4.6, default 2).
    pub max_terminate: u32,
    /// Max-Failure (RFC 1661 §4.6, default 5).
    pub max_failure: u32,
    /// The Name field of our CHAP Challenges.
    pub server_name: String,
    /// The `V=` value of MS-CHAP Failure messages (RFC 2759 §6 says 3; pppd sends 0 and
    /// Windows XP accepts it).
    pub mschap_failure_version: u32,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            our_addr: Ipv4Addr::new(192, 168, 42, 1),
            dns: [None, None],
            wins: [None, None],
            mru: 1400,
            auth_protocols: vec![
                AuthProtocol::MsChapV2,
                AuthProtocol::Chap,
                AuthProtocol::MsChapV1,
            ],
            auth_retries: 3,
            auth_timeout: Duration::from_secs(30),
            echo_interval: Duration::from_secs(30),
            echo_failures: 4,
            restart_interval: Duration::from_secs(3),
            max_configure: 10,
            max_terminate: 2,
            max_failure: 5,
            server_name: String::from("l2tpd-rs"),
            mschap_failure_version: 3,
        }
    }
}

impl LinkConfig {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            restart: self.restart_interval,
            max_terminate: self.max_terminate,
            max_configure: self.max_configure,
            max_failure: self.max_failure,
        }
    }
}

/// Configuration of the minimal client role, [`crate::Peer`].
#[derive(Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// The user name sent in CHAP Responses and PAP requests.
    pub user: String,
    /// The password (zeroized on drop, never printed).
    pub password: Zeroizing<String>,
    /// Authentication protocols we agree to, in order of preference (used in our Nak).
    pub auth_protocols: Vec<AuthProtocol>,
    /// The MRU we ask for.
    pub mru: u16,
    /// Extra raw LCP options for our first Configure-Request (e.g. Windows' PFC, ACFC and
    /// Callback); options the server rejects are dropped from later requests.
    pub extra_lcp_options: Vec<Vec<u8>>,
    /// The address we ask for (0.0.0.0 asks the server to assign one).
    pub requested_addr: Ipv4Addr,
    /// Ask for DNS (129, 131).
    pub request_dns: bool,
    /// Ask for WINS (130, 132).
    pub request_wins: bool,
    /// Restart timer.
    pub restart_interval: Duration,
    /// Max-Configure.
    pub max_configure: u32,
}

impl fmt::Debug for PeerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConfig")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("auth_protocols", &self.auth_protocols)
            .field("mru", &self.mru)
            .field("requested_addr", &self.requested_addr)
            .finish_non_exhaustive()
    }
}

impl PeerConfig {
    /// A client for `user`/`password` that accepts MS-CHAPv2, CHAP and MS-CHAPv1 and asks for an
    /// address and DNS, like a Linux pppd client.
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            user: user.to_owned(),
            password: Zeroizing::new(password.to_owned()),
            auth_protocols: vec![
                AuthProtocol::MsChapV2,
                AuthProtocol::Chap,
                AuthProtocol::MsChapV1,
            ],
            mru: 1400,
            extra_lcp_options: Vec::new(),
            requested_addr: Ipv4Addr::UNSPECIFIED,
            request_dns: true,
            request_wins: false,
            restart_interval: Duration::from_secs(3),
            max_configure: 10,
        }
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            restart: self.restart_interval,
            max_terminate: 2,
            max_configure: self.max_configure,
            max_failure: 5,
        }
    }
}
