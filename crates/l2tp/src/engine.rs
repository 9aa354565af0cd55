//! The tunnel and session state machines (RFC 2661 §7) shared by the LNS and the LAC.
//!
//! One [`Endpoint`] holds the tunnels of one peer. Control messages go through the tunnel's
//! reliable [`Channel`] and come out in order, once, into `Endpoint::dispatch`. Data messages
//! bypass all of it: [`Endpoint::handle_datagram`] finds the session and returns a slice of the
//! datagram.

use std::collections::{BTreeMap, VecDeque};
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tracing::{debug, info, warn};
use wire::l2tp::{self as w, AttrType, AvpRepr, MessageType, Packet, ResultCode, Sequence};

use crate::Error;
use crate::channel::{Channel, GaveUp, Received, seq_lt};
use crate::codes::{self, cdn, stopccn};
use crate::config::{DEFAULT_PEER_WINDOW, DataSequencing, Retransmit, TunnelSecret};
use crate::event::{Disconnect, Event, Framing, Initiator, Scope, SessionKey};
use crate::hidden;
use crate::message::{self, Hiding, Message, OutAvp};

/// A datagram to send to the peer's L2TP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The peer's L2TP UDP port, learned per tunnel (Windows 1701; iOS a random port).
    pub peer_port: u16,
    /// The L2TP message.
    pub payload: Vec<u8>,
}

/// A PPP frame received on an established session: a slice of the input datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data<'a> {
    /// The session it belongs to.
    pub session: SessionKey,
    /// The PPP frame (from the address/control field or protocol field on).
    pub frame: &'a [u8],
}

/// The static framing of an established session's data messages (RFC 2661 §5.2): what a
/// fast path needs to frame and check them without the engine, as long as no data sequence
/// numbers are in use (those are engine state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFraming {
    /// The peer's tunnel ID: the Tunnel ID field of data we send.
    pub peer_tunnel: u16,
    /// The peer's session ID: the Session ID field of data we send.
    pub peer_session: u16,
    /// The peer's L2TP UDP port, learned from its control messages.
    pub peer_port: u16,
    /// Whether data messages we send carry the Length field.
    pub length_field: bool,
}

/// Counters: every dropped datagram is counted under its cause.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams that did not parse.
    pub malformed: u64,
    /// Messages for a tunnel this peer does not have.
    pub unknown_tunnel: u64,
    /// Data for a session that does not exist or is not established.
    pub unknown_session: u64,
    /// Messages we cannot process (hidden AVP without a secret).
    pub unsupported: u64,
    /// Protocol violations (missing AVPs, out-of-window or stale messages).
    pub peer_misbehaved: u64,
    /// Requests refused because of a limit.
    pub limit_refused: u64,
    /// Tunnels torn down because the peer left too many of our control messages
    /// unacknowledged (`max_queued_control`).
    pub unacknowledged_teardowns: u64,
    /// Duplicate control messages (acknowledged, not delivered again).
    pub duplicates: u64,
    /// Control messages delivered to the state machines.
    pub control_delivered: u64,
    /// Data messages received on established sessions.
    pub data_in: u64,
    /// Data messages encoded.
    pub data_out: u64,
}

/// A session as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Our tunnel and session IDs.
    pub key: SessionKey,
    /// The peer's tunnel ID.
    pub peer_tunnel: u16,
    /// The peer's session ID.
    pub peer_session: u16,
    /// The peer's L2TP UDP port.
    pub peer_port: u16,
    /// The peer's Host Name AVP.
    pub peer_host_name: String,
    /// The peer's Vendor Name AVP.
    pub vendor: Option<String>,
    /// Whether the session is established (ICCN seen).
    pub established: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Lns,
    Lac,
}

/// Tunnel states, RFC 2661 §7.2 (plus the two teardown states of §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TunnelState {
    Idle,
    WaitCtlReply,
    WaitCtlConn,
    Established,
    /// We sent StopCCN and wait for its acknowledgement.
    Closing,
    /// The peer sent StopCCN: we linger to acknowledge its retransmissions (§5.7).
    Closed,
}

/// Session states, RFC 2661 §7.4 (LNS incoming) and §7.3 (LAC incoming).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionState {
    /// LAC: ICRQ sent.
    WaitReply,
    /// LNS: ICRP sent.
    WaitConnect,
    Established,
}

#[derive(Debug)]
struct Session {
    peer_id: u16,
    state: SessionState,
    framing: Framing,
    sequencing: bool,
    data_ns: u16,
    data_nr: u16,
}

#[derive(Debug)]
struct Tunnel {
    peer_id: u16,
    peer_port: u16,
    state: TunnelState,
    channel: Channel,
    host_name: String,
    vendor: Option<String>,
    sessions: BTreeMap<u16, Session>,
    hello_at: Option<Instant>,
    /// A data message arrived since `hello_at` was last set (RFC 2661 §6.5: any data or
    /// control message from the peer defers the Hello).
    data_heard: bool,
    linger_until: Option<Instant>,
    /// The challenge we sent (RFC 2661 §5.1.1).
    challenge: Option<[u8; 16]>,
    next_call_serial: u32,
    /// ICRQs refused because of the session limit (for rate-limited logging).
    refused_sessions: u64,
}

/// The role-independent configuration.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub(crate) role: Role,
    pub(crate) host_name: String,
    pub(crate) vendor_name: String,
    pub(crate) firmware_revision: u16,
    pub(crate) receive_window: u16,
    pub(crate) hello_interval: Duration,
    pub(crate) retransmit: Retransmit,
    pub(crate) secret: Option<TunnelSecret>,
    pub(crate) max_tunnels: usize,
    pub(crate) max_sessions: usize,
    pub(crate) max_queued: usize,
    pub(crate) data_sequencing: DataSequencing,
    pub(crate) data_length_field: bool,
    pub(crate) hide_avps: bool,
    pub(crate) fixed_tunnel_id: Option<u16>,
    pub(crate) next_session_id: Option<u16>,
    pub(crate) request_sequencing: bool,
}

/// One L2TP endpoint in role `R` ([`crate::role::Lns`] or [`crate::role::Lac`]): the tunnels
/// and sessions it holds with one peer, and the quinn-style driving surface both roles share.
/// The roles differ only in their constructors and the LAC's call-placing methods.
#[derive(Debug)]
pub struct Endpoint<R> {
    cfg: Common,
    rng: ChaCha20Rng,
    /// Boxed: a B-tree node has room for 11 entries, mostly empty here (a peer usually has
    /// one tunnel), and an empty slot of a boxed tunnel costs a pointer, not a `Tunnel`.
    tunnels: BTreeMap<u16, Box<Tunnel>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    role: PhantomData<R>,
}

/// Messages that belong to a session rather than to the tunnel (RFC 2661 §3.2, §4.1).
fn is_session_message(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::Ocrq
            | MessageType::Ocrp
            | MessageType::Occn
            | MessageType::Icrq
            | MessageType::Icrp
            | MessageType::Iccn
            | MessageType::Cdn
            | MessageType::Wen
            | MessageType::Sli
    )
}

impl<R> Endpoint<R> {
    pub(crate) fn with(cfg: Common, rng_seed: [u8; 32]) -> Self {
        Self {
            cfg,
            rng: ChaCha20Rng::from_seed(rng_seed),
            tunnels: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            role: PhantomData,
        }
    }

    /// Drop and traffic counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let next = self.transmits.pop_front();
        if next.is_none() {
            // Drained: give back the room a burst took (an endpoint is idle most of the time).
            self.transmits = VecDeque::new();
        }
        next
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let next = self.events.pop_front();
        if next.is_none() {
            self.events = VecDeque::new();
        }
        next
    }

    /// When [`Endpoint::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tunnels
            .values()
            .flat_map(|t| [t.channel.deadline(), t.hello_at, t.linger_until])
            .flatten()
            .min()
    }

    /// Every session, for `status`.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let mut out = Vec::new();
        for (&tid, t) in &self.tunnels {
            for (&sid, s) in &t.sessions {
                out.push(SessionInfo {
                    key: SessionKey {
                        tunnel: tid,
                        session: sid,
                    },
                    peer_tunnel: t.peer_id,
                    peer_session: s.peer_id,
                    peer_port: t.peer_port,
                    peer_host_name: t.host_name.clone(),
                    vendor: t.vendor.clone(),
                    established: s.state == SessionState::Established,
                });
            }
        }
        out
    }

    /// Tunnels that are up or being set up (not those being torn down).
    pub fn tunnel_count(&self) -> usize {
        self.tunnels
            .values()
            .filter(|t| !matches!(t.state, TunnelState::Closing | TunnelState::Closed))
            .count()
    }

    fn count(&mut self, e: &Error) {
        let s = &mut self.stats;
        match e {
            Error::Malformed(_) => s.malformed += 1,
            Error::UnknownTunnel(_) => s.unknown_tunnel += 1,
            Error::UnknownSession { .. } => s.unknown_session += 1,
            Error::Unsupported(_) => s.unsupported += 1,
            Error::PeerMisbehaved(_) => s.peer_misbehaved += 1,
            Error::LimitReached(_) => s.limit_refused += 1,
            Error::ApiMisuse(_) => {}
        }
    }

    // ---- input -------------------------------------------------------------------------

    /// Processes one L2TP datagram (the UDP payload) from the peer's UDP port `peer_port`.
    ///
    /// Control messages are consumed (drain [`Endpoint::poll_transmit`] and
    /// [`Endpoint::poll_event`] afterwards). A data message for an established session returns
    /// its PPP frame as a slice of `payload`. An `Err` means the datagram was dropped; it is
    /// counted in [`Endpoint::stats`] under its cause.
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        peer_port: u16,
        payload: &'a [u8],
    ) -> Result<Option<Data<'a>>, Error> {
        let result = match Packet::new_checked(payload) {
            Err(e) => Err(Error::Malformed(e)),
            Ok(packet) if !packet.is_control() => self.handle_data(&packet),
            Ok(packet) => {
                let r = self.handle_control(now, peer_port, &packet);
                self.flush(now);
                r.map(|()| None)
            }
        };
        if let Err(e) = &result {
            debug!(error = %e, "L2TP datagram dropped");
            self.count(e);
        }
        result
    }

    fn handle_data<'a>(&mut self, packet: &Packet<&'a [u8]>) -> Result<Option<Data<'a>>, Error> {
        let (tid, sid) = (packet.tunnel_id(), packet.session_id());
        let unknown = Error::UnknownSession {
            tunnel: tid,
            session: sid,
        };
        let tunnel = self
            .tunnels
            .get_mut(&tid)
            .ok_or(Error::UnknownTunnel(tid))?;
        if tunnel.state != TunnelState::Established {
            return Err(unknown);
        }
        tunnel.data_heard = true;
        let session = tunnel
            .sessions
            .get_mut(&sid)
            .filter(|s| s.state == SessionState::Established)
            .ok_or(unknown)?;
        if let Some(ns) = packet.ns() {
            // RFC 2661 §5.4: data sequence numbers detect lost and out-of-order packets; a
            // packet older than one already received is dropped.
            if seq_lt(ns, session.data_nr) {
                return Err(Error::PeerMisbehaved("stale data message sequence number"));
            }
            session.data_nr = ns.wrapping_add(1);
        }
        self.stats.data_in += 1;
        Ok(Some(Data {
            session: SessionKey {
                tunnel: tid,
                session: sid,
            },
            frame: packet.payload_slice(),
        }))
    }

    fn handle_control(
        &mut self,
        now: Instant,
        peer_port: u16,
        packet: &Packet<&[u8]>,
    ) -> Result<(), Error> {
        let secret = self.cfg.secret.as_ref().map(TunnelSecret::as_bytes);
        let msg = Message::parse(packet, secret)?;
        let tid = self.route(now, peer_port, &msg)?;
        let hello = self.cfg.hello_interval;
        let Some(tunnel) = self.tunnels.get_mut(&tid) else {
            return Err(Error::UnknownTunnel(tid));
        };
        tunnel.peer_port = peer_port;
        tunnel.channel.on_nr(now, msg.seq.nr);
        if !matches!(tunnel.state, TunnelState::Closing | TunnelState::Closed) {
            tunnel.hello_at = control_timer(now, hello, tunnel.state == TunnelState::Established);
            tunnel.data_heard = false;
        }
        let mut result = Ok(());
        if !msg.is_zlb() {
            match tunnel.channel.on_message(msg) {
                Received::Deliver(list) => {
                    for m in list {
                        self.stats.control_delivered += 1;
                        self.dispatch(now, tid, m);
                    }
                }
                Received::Duplicate => self.stats.duplicates += 1,
                Received::OutOfWindow => {
                    result = Err(Error::PeerMisbehaved(
                        "control message outside the receive window",
                    ));
                }
            }
        }
        if self
            .tunnels
            .get(&tid)
            .is_some_and(|t| t.state == TunnelState::Closing && t.channel.idle())
        {
            debug!(tunnel = tid, "StopCCN acknowledged; tunnel removed");
            self.tunnels.remove(&tid);
        }
        result
    }

    /// Finds the tunnel a control message is for, creating one for an SCCRQ.
    fn route(&mut self, now: Instant, peer_port: u16, msg: &Message) -> Result<u16, Error> {
        if msg.tunnel_id != 0 && self.tunnels.contains_key(&msg.tunnel_id) {
            return Ok(msg.tunnel_id);
        }
        // Windows may send StopCCN or CDN with the wrong tunnel ID (xl2tpd CHANGES, v1.1.05).
        // All tunnels here belong to one peer, so match tolerantly: by the peer's Assigned
        // Tunnel ID (StopCCN) or a session ID (CDN), else the only tunnel there is.
        let matched = match msg.msg_type {
            Some(MessageType::Sccrq) if self.cfg.role == Role::Lns && msg.tunnel_id == 0 => {
                return self.accept_sccrq(now, peer_port, msg);
            }
            Some(MessageType::StopCcn) => {
                msg.u16_avp(AttrType::AssignedTunnelId).and_then(|peer| {
                    self.tunnels
                        .iter()
                        .find(|(_, t)| t.peer_id == peer)
                        .map(|(&id, _)| id)
                })
            }
            Some(MessageType::Cdn) => {
                let peer_sid = msg.u16_avp(AttrType::AssignedSessionId);
                self.tunnels
                    .iter()
                    .find(|(_, t)| {
                        t.sessions.contains_key(&msg.session_id)
                            || t.sessions.values().any(|s| Some(s.peer_id) == peer_sid)
                    })
                    .map(|(&id, _)| id)
            }
            _ => return Err(Error::UnknownTunnel(msg.tunnel_id)),
        };
        let id = matched
            .or_else(|| self.only_tunnel())
            .ok_or(Error::UnknownTunnel(msg.tunnel_id))?;
        info!(
            header_tunnel = msg.tunnel_id,
            tunnel = id,
            message = ?msg.msg_type,
            "StopCCN or CDN with a wrong tunnel ID matched within the peer"
        );
        Ok(id)
    }

    fn only_tunnel(&self) -> Option<u16> {
        let mut it = self.tunnels.keys();
        match (it.next(), it.next()) {
            (Some(&id), None) => Some(id),
            _ => None,
        }
    }

    fn accept_sccrq(&mut self, now: Instant, peer_port: u16, msg: &Message) -> Result<u16, Error> {
        let peer_tid = msg
            .u16_avp(AttrType::AssignedTunnelId)
            .filter(|&t| t != 0)
            .ok_or(Error::PeerMisbehaved("SCCRQ without an Assigned Tunnel ID"))?;
        let existing = self
            .tunnels
            .iter()
            .find(|(_, t)| {
                t.peer_id == peer_tid
                    && !matches!(t.state, TunnelState::Closing | TunnelState::Closed)
            })
            .map(|(&id, t)| (id, t.peer_port));
        match existing {
            // The same tunnel ID from the same port: a retransmitted (or network-duplicated)
            // SCCRQ. The channel acknowledges it as a duplicate.
            Some((id, port)) if port == peer_port => return Ok(id),
            Some((id, _)) => {
                // The same tunnel ID from a new port: the peer restarted (iOS always uses
                // tunnel ID 1 and a random source port). Its old tunnel is gone, so
                // drop ours without a StopCCN, which would hit the new one.
                warn!(
                    tunnel = id,
                    peer_tunnel = peer_tid,
                    "peer reused a tunnel ID from a new port; old tunnel dropped"
                );
                let reason = Scope::Tunnel.reason(
                    Initiator::Peer,
                    stopccn::CLEAR,
                    None,
                    Some("peer started a new tunnel with the same ID".into()),
                );
                self.teardown(id, reason);
                self.tunnels.remove(&id);
            }
            None => {}
        }
        if self.tunnel_count() >= self.cfg.max_tunnels {
            // No state is kept for a refused tunnel: one unreliable StopCCN answers it.
            let reason = Scope::Tunnel.reason(
                Initiator::Local,
                stopccn::GENERAL_ERROR,
                Some(codes::error::NO_RESOURCES),
                Some("tunnel limit reached".into()),
            );
            let mut bytes = stopccn_message(peer_tid, 0, &reason)?;
            let mut p = Packet::new_unchecked(&mut bytes[..]);
            p.set_ns(0);
            p.set_nr(msg.seq.ns.wrapping_add(1));
            self.transmits.push_back(Transmit {
                peer_port,
                payload: bytes,
            });
            return Err(Error::LimitReached("tunnels per peer"));
        }
        let local = self.alloc_tunnel_id();
        let mut tunnel = self.new_tunnel(now, peer_port);
        tunnel.peer_id = peer_tid;
        self.tunnels.insert(local, Box::new(tunnel));
        Ok(local)
    }

    fn new_tunnel(&self, now: Instant, peer_port: u16) -> Tunnel {
        Tunnel {
            peer_id: 0,
            peer_port,
            state: TunnelState::Idle,
            channel: Channel::new(
                self.cfg.retransmit,
                self.cfg.receive_window,
                DEFAULT_PEER_WINDOW,
                self.cfg.max_queued,
            ),
            host_name: String::new(),
            vendor: None,
            sessions: BTreeMap::new(),
            hello_at: control_timer(now, self.cfg.hello_interval, false),
            data_heard: false,
            linger_until: None,
            challenge: None,
            next_call_serial: 1,
            refused_sessions: 0,
        }
    }

    fn alloc_tunnel_id(&mut self) -> u16 {
        if let Some(id) = self
            .cfg
            .fixed_tunnel_id
            .filter(|id| *id != 0 && !self.tunnels.contains_key(id))
        {
            return id;
        }
        loop {
            let id: u16 = self.rng.r#gen();
            if id != 0 && !self.tunnels.contains_key(&id) {
                return id;
            }
        }
    }

    fn alloc_session_id(&mut self, tid: u16) -> u16 {
        let in_use = |id: u16, this: &Self| {
            this.tunnels
                .get(&tid)
                .is_some_and(|t| t.sessions.contains_key(&id))
        };
        if let Some(id) = self.cfg.next_session_id.filter(|id| *id != 0) {
            self.cfg.next_session_id = Some(id.wrapping_add(1).max(1));
            if !in_use(id, self) {
                return id;
            }
        }
        loop {
            let id: u16 = self.rng.r#gen();
            if id != 0 && !in_use(id, self) {
                return id;
            }
        }
    }

    // ---- the state machines ---------------------------------------------------------------

    fn dispatch(&mut self, now: Instant, tid: u16, msg: Message) {
        let Some(mt) = msg.msg_type else { return };
        let Some(state) = self.tunnels.get(&tid).map(|t| t.state) else {
            return;
        };
        if matches!(state, TunnelState::Closing | TunnelState::Closed) {
            if mt == MessageType::StopCcn && state == TunnelState::Closing {
                // Both sides sent StopCCN: linger for the peer's retransmissions.
                self.set_closed(now, tid);
            }
            return;
        }
        // RFC 2661 §4.1: "If the M bit is set on an unrecognized AVP within a message
        // associated with a particular session, the session ... MUST be terminated. If set on
        // an unrecognized AVP within a message associated with only the overall tunnel, the
        // entire tunnel (and all sessions within) MUST be terminated." Result Code 2 with
        // General Error Code 8 (§4.4.2).
        if let Some((vendor, attr)) = msg.unknown_mandatory() {
            let text = format!("unknown mandatory AVP (vendor {vendor}, type {attr}) in {mt:?}");
            warn!(tunnel = tid, "{text}");
            if is_session_message(mt) {
                if mt == MessageType::Cdn {
                    // The session is being cleared anyway.
                } else if mt == MessageType::Icrq || mt == MessageType::Ocrq {
                    let peer_sid = msg.u16_avp(AttrType::AssignedSessionId).unwrap_or(0);
                    self.send_cdn(
                        tid,
                        peer_sid,
                        0,
                        cdn::GENERAL_ERROR,
                        Some(codes::error::UNKNOWN_MANDATORY_AVP),
                        &text,
                    );
                    return;
                } else {
                    if self
                        .tunnels
                        .get(&tid)
                        .is_some_and(|t| t.sessions.contains_key(&msg.session_id))
                    {
                        let reason = Scope::Session.reason(
                            Initiator::Local,
                            cdn::GENERAL_ERROR,
                            Some(codes::error::UNKNOWN_MANDATORY_AVP),
                            Some(text),
                        );
                        self.close_session_inner(tid, msg.session_id, reason);
                    }
                    return;
                }
            } else if mt != MessageType::StopCcn {
                self.stop_tunnel(
                    now,
                    tid,
                    stopccn::GENERAL_ERROR,
                    Some(codes::error::UNKNOWN_MANDATORY_AVP),
                    text,
                );
                return;
            }
        }
        let role = self.cfg.role;
        match (role, mt) {
            (_, MessageType::Hello) => debug!(tunnel = tid, "Hello"),
            (Role::Lns, MessageType::Sccrq) if state == TunnelState::Idle => {
                self.on_sccrq(now, tid, &msg)
            }
            (Role::Lns, MessageType::Scccn) if state == TunnelState::WaitCtlConn => {
                self.on_scccn(now, tid, &msg)
            }
            (Role::Lac, MessageType::Sccrp) if state == TunnelState::WaitCtlReply => {
                self.on_sccrp(now, tid, &msg)
            }
            (_, MessageType::StopCcn) => self.on_stopccn(now, tid, &msg),
            (Role::Lns, MessageType::Icrq) if state == TunnelState::Established => {
                self.on_icrq(tid, &msg)
            }
            (Role::Lns, MessageType::Iccn) if state == TunnelState::Established => {
                self.on_iccn(tid, &msg)
            }
            (Role::Lac, MessageType::Icrp) if state == TunnelState::Established => {
                self.on_icrp(tid, &msg)
            }
            (_, MessageType::Cdn) => self.on_cdn(tid, &msg),
            (Role::Lns, MessageType::Ocrq) => {
                // We are an LNS for remote access: outgoing calls are refused (RFC 2661 §7.5
                // allows CDN in reply to OCRQ), permanent lack of facilities.
                let peer_sid = msg.u16_avp(AttrType::AssignedSessionId).unwrap_or(0);
                info!(tunnel = tid, "outgoing call refused");
                self.send_cdn(
                    tid,
                    peer_sid,
                    0,
                    cdn::NO_FACILITIES_PERMANENT,
                    None,
                    "outgoing calls are not supported",
                );
            }
            (_, MessageType::Wen) => {
                // WAN-Error-Notify (RFC 2661 §6.13): informational.
                info!(
                    tunnel = tid,
                    session = msg.session_id,
                    "WAN-Error-Notify accepted"
                );
            }
            (_, MessageType::Sli) => {
                // Set-Link-Info (RFC 2661 §6.14): the ACCM is irrelevant over L2TP.
                debug!(
                    tunnel = tid,
                    session = msg.session_id,
                    "Set-Link-Info accepted"
                );
            }
            (_, MessageType::Unknown(n)) if msg.type_mandatory => {
                // RFC 2661 §4.4.1: an unknown Message Type with the M bit set clears the tunnel.
                self.stop_tunnel(
                    now,
                    tid,
                    stopccn::GENERAL_ERROR,
                    Some(codes::error::BAD_VALUE),
                    format!("unknown message type {n}"),
                );
            }
            _ => {
                self.stats.peer_misbehaved += 1;
                debug!(tunnel = tid, message = ?mt, state = ?state, "control message not expected here; ignored");
            }
        }
    }

    fn queue(&mut self, tid: u16, session_header: u16, mt: MessageType, avps: &[OutAvp<'_>]) {
        let mut rv = [0u8; 16];
        self.rng.fill(&mut rv);
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        let hiding = self.cfg.secret.as_ref().map(|s| Hiding {
            secret: s.as_bytes(),
            random_vector: rv,
        });
        match message::build(t.peer_id, session_header, mt, avps, hiding.as_ref()) {
            Ok(bytes) => self.queue_built(tid, bytes),
            Err(e) => warn!(error = %e, message = ?mt, "could not build a control message"),
        }
    }

    /// Queues a built control message on the tunnel's channel; a full channel abandons the
    /// tunnel.
    fn queue_built(&mut self, tid: u16, bytes: Vec<u8>) {
        let full = self
            .tunnels
            .get_mut(&tid)
            .is_some_and(|t| t.channel.queue(bytes).is_err());
        if full {
            self.abandon_tunnel(tid);
        }
    }

    /// The peer leaves `max_queued` of our control messages unacknowledged: we stop queueing,
    /// send one unreliable StopCCN (General Error Code 4, insufficient resources), report the
    /// tunnel and its sessions down and forget the tunnel.
    fn abandon_tunnel(&mut self, tid: u16) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        let reason = Scope::Tunnel.reason(
            Initiator::Local,
            stopccn::GENERAL_ERROR,
            Some(codes::error::NO_RESOURCES),
            Some(format!(
                "peer left {} control messages unacknowledged",
                t.channel.queued()
            )),
        );
        match stopccn_message(t.peer_id, tid, &reason) {
            Ok(bytes) => {
                let payload = t.channel.abandon(bytes);
                self.transmits.push_back(Transmit {
                    peer_port: t.peer_port,
                    payload,
                });
            }
            Err(e) => warn!(error = %e, "could not build a StopCCN"),
        }
        warn!(tunnel = tid, reason = %reason, "peer does not acknowledge; tunnel torn down");
        self.stats.unacknowledged_teardowns += 1;
        self.teardown(tid, reason);
        self.tunnels.remove(&tid);
    }

    fn send_cdn(
        &mut self,
        tid: u16,
        peer_sid: u16,
        local_sid: u16,
        result: u16,
        error: Option<u16>,
        text: &str,
    ) {
        let avps = [
            OutAvp::from(AvpRepr::ResultCode(result_code(result, error, text))),
            OutAvp::from(AvpRepr::AssignedSessionId(local_sid)),
        ];
        self.queue(tid, peer_sid, MessageType::Cdn, &avps);
    }

    fn random_challenge(&mut self) -> [u8; 16] {
        let mut c = [0u8; 16];
        self.rng.fill(&mut c);
        c
    }

    fn on_sccrq(&mut self, now: Instant, tid: u16, msg: &Message) {
        self.learn_peer(tid, msg);
        if msg.protocol_version() != Some((1, 0)) {
            self.stop_tunnel(
                now,
                tid,
                stopccn::BAD_VERSION,
                None,
                "only L2TP version 1.0 is supported",
            );
            return;
        }
        let Ok(response) = self.answer_challenge(now, tid, 2, msg) else {
            return;
        };
        let ours = self.cfg.secret.is_some().then(|| self.random_challenge());
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        t.challenge = ours;
        t.state = TunnelState::WaitCtlConn;
        let cfg = self.cfg.clone();
        let framing = w::framing::SYNC | w::framing::ASYNC;
        let avps = start_avps(&cfg, tid, framing, ours.as_ref(), response.as_ref());
        self.queue(tid, 0, MessageType::Sccrp, &avps);
    }

    /// Records the peer's Host Name, Vendor Name and Receive Window Size from its SCCRQ or
    /// SCCRP (RFC 2661 §6.1, §6.2; the window defaults to 4, §4.4.3).
    fn learn_peer(&mut self, tid: u16, msg: &Message) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        t.host_name = msg.text_avp(AttrType::HostName).unwrap_or_default();
        t.vendor = msg.text_avp(AttrType::VendorName);
        t.channel.set_peer_window(
            msg.u16_avp(AttrType::ReceiveWindowSize)
                .unwrap_or(DEFAULT_PEER_WINDOW),
        );
        info!(tunnel = tid, peer_tunnel = t.peer_id, host = %t.host_name, vendor = ?t.vendor, "control connection request or reply");
    }

    /// Our Challenge Response (in a message of `response_type`) to the peer's Challenge AVP,
    /// if it sent one (RFC 2661 §5.1.1). Challenged without a secret, we close the tunnel
    /// (Result Code 4, not authorized) and return `Err`.
    fn answer_challenge(
        &mut self,
        now: Instant,
        tid: u16,
        response_type: u8,
        msg: &Message,
    ) -> Result<Option<[u8; 16]>, ()> {
        match (msg.bytes_avp(AttrType::Challenge), &self.cfg.secret) {
            (None, _) => Ok(None),
            (Some(ch), Some(s)) => Ok(Some(hidden::challenge_response(
                response_type,
                s.as_bytes(),
                ch,
            ))),
            (Some(_), None) => {
                self.stop_tunnel(
                    now,
                    tid,
                    stopccn::NOT_AUTHORIZED,
                    None,
                    "challenged by the peer but no tunnel secret is configured",
                );
                Err(())
            }
        }
    }

    /// Checks the peer's Challenge Response (in a message of `response_type`) to our
    /// challenge, in constant time (RFC 2661 §5.1.1). A wrong or missing one closes the tunnel
    /// (Result Code 4, not authorized) and returns false. Without our challenge it is true.
    fn peer_authenticated(
        &mut self,
        now: Instant,
        tid: u16,
        response_type: u8,
        msg: &Message,
    ) -> bool {
        let Some(ch) = self.tunnels.get(&tid).and_then(|t| t.challenge) else {
            return true;
        };
        let ok = self.cfg.secret.as_ref().is_some_and(|secret| {
            let want = hidden::challenge_response(response_type, secret.as_bytes(), &ch);
            msg.bytes_avp(AttrType::ChallengeResponse)
                .is_some_and(|got| crypto::ct_eq(got, &want))
        });
        if !ok {
            self.stop_tunnel(
                now,
                tid,
                stopccn::NOT_AUTHORIZED,
                None,
                "tunnel authentication failed",
            );
        }
        ok
    }

    fn tunnel_up(&mut self, tid: u16) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        t.state = TunnelState::Established;
        info!(tunnel = tid, peer_tunnel = t.peer_id, host = %t.host_name, "tunnel established");
        self.events.push_back(Event::TunnelUp {
            tunnel: tid,
            peer_tunnel: t.peer_id,
            peer_host_name: t.host_name.clone(),
            vendor: t.vendor.clone(),
        });
    }

    fn on_scccn(&mut self, now: Instant, tid: u16, msg: &Message) {
        if self.peer_authenticated(now, tid, 3, msg) {
            self.tunnel_up(tid);
        }
    }

    fn on_sccrp(&mut self, now: Instant, tid: u16, msg: &Message) {
        let Some(peer_tid) = msg.u16_avp(AttrType::AssignedTunnelId).filter(|&t| t != 0) else {
            self.stop_tunnel(
                now,
                tid,
                stopccn::GENERAL_ERROR,
                Some(codes::error::BAD_VALUE),
                "SCCRP without an Assigned Tunnel ID",
            );
            return;
        };
        if let Some(t) = self.tunnels.get_mut(&tid) {
            t.peer_id = peer_tid;
        }
        self.learn_peer(tid, msg);
        if !self.peer_authenticated(now, tid, 2, msg) {
            return;
        }
        let Ok(response) = self.answer_challenge(now, tid, 3, msg) else {
            return;
        };
        let avps: Vec<OutAvp<'_>> = response
            .iter()
            .map(|r| OutAvp::from(AvpRepr::ChallengeResponse(*r)))
            .collect();
        self.queue(tid, 0, MessageType::Scccn, &avps);
        self.tunnel_up(tid);
    }

    fn on_stopccn(&mut self, now: Instant, tid: u16, msg: &Message) {
        let (result, error, message) = msg.result_code().unwrap_or((0, None, None));
        let reason = Scope::Tunnel.reason(Initiator::Peer, result, error, message);
        info!(tunnel = tid, reason = %reason, "StopCCN received");
        self.teardown(tid, reason);
        self.set_closed(now, tid);
    }

    fn set_closed(&mut self, now: Instant, tid: u16) {
        let linger = self.cfg.retransmit.full_cycle();
        if let Some(t) = self.tunnels.get_mut(&tid) {
            t.state = TunnelState::Closed;
            t.hello_at = None;
            t.linger_until = Some(now + linger);
        }
    }

    fn on_icrq(&mut self, tid: u16, msg: &Message) {
        let Some(peer_sid) = msg.u16_avp(AttrType::AssignedSessionId).filter(|&s| s != 0) else {
            self.stats.peer_misbehaved += 1;
            warn!(tunnel = tid, "ICRQ without an Assigned Session ID; ignored");
            return;
        };
        if let Some((vendor, attr)) = msg
            .avps
            .iter()
            .find(|a| {
                a.vendor_id == w::VENDOR_MICROSOFT && a.attr_type == w::MS_ATTR_CORRELATION_ID
            })
            .map(|a| (a.vendor_id, a.attr_type))
        {
            // MS-L2TPIE §2.2.1.1 Correlation ID (Windows Vista SP1 and later): recognised, ignored.
            debug!(
                tunnel = tid,
                vendor, attr, "Microsoft Correlation ID ignored"
            );
        }
        let max_sessions = self.cfg.max_sessions;
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        if t.sessions.len() >= max_sessions {
            // No session state is created: the refusal is one CDN on the tunnel's channel,
            // whose queue is bounded. Logged on the 1st, 2nd, 4th, 8th, ... refusal.
            t.refused_sessions += 1;
            if t.refused_sessions.is_power_of_two() {
                warn!(
                    tunnel = tid,
                    refused = t.refused_sessions,
                    limit = max_sessions,
                    "session limit reached; ICRQ refused"
                );
            }
            self.stats.limit_refused += 1;
            self.send_cdn(
                tid,
                peer_sid,
                0,
                cdn::NO_FACILITIES_TEMPORARY,
                Some(codes::error::NO_RESOURCES),
                "session limit reached",
            );
            return;
        }
        let local = self.alloc_session_id(tid);
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        t.sessions.insert(
            local,
            Session {
                peer_id: peer_sid,
                state: SessionState::WaitConnect,
                framing: Framing::from_bits(0),
                sequencing: false,
                data_ns: 0,
                data_nr: 0,
            },
        );
        debug!(
            tunnel = tid,
            session = local,
            peer_session = peer_sid,
            "ICRQ"
        );
        self.queue(
            tid,
            peer_sid,
            MessageType::Icrp,
            &[OutAvp::from(AvpRepr::AssignedSessionId(local))],
        );
    }

    fn on_iccn(&mut self, tid: u16, msg: &Message) {
        let framing = Framing::from_bits(
            msg.u32_avp(AttrType::FramingType)
                .unwrap_or(w::framing::SYNC),
        );
        let sequencing = self.cfg.data_sequencing == DataSequencing::Always
            || msg.has(AttrType::SequencingRequired);
        if !self.establish_session(
            tid,
            msg.session_id,
            SessionState::WaitConnect,
            None,
            framing,
            sequencing,
        ) {
            debug!(
                tunnel = tid,
                session = msg.session_id,
                "ICCN for no waiting session; ignored"
            );
        }
    }

    fn on_icrp(&mut self, tid: u16, msg: &Message) {
        let Some(peer_sid) = msg.u16_avp(AttrType::AssignedSessionId).filter(|&s| s != 0) else {
            self.stats.peer_misbehaved += 1;
            return;
        };
        let request = self.cfg.request_sequencing;
        let framing = Framing::from_bits(w::framing::SYNC);
        if !self.establish_session(
            tid,
            msg.session_id,
            SessionState::WaitReply,
            Some(peer_sid),
            framing,
            request,
        ) {
            return;
        }
        let mut avps = vec![
            OutAvp::from(AvpRepr::TxConnectSpeed(100_000_000)),
            OutAvp::from(AvpRepr::FramingType(w::framing::SYNC)),
        ];
        if request {
            avps.push(OutAvp::from(AvpRepr::SequencingRequired));
        }
        self.queue(tid, peer_sid, MessageType::Iccn, &avps);
    }

    /// Moves session `sid`, waiting in state `from`, to Established (RFC 2661 §7.3, §7.4) and
    /// reports `SessionUp`. `peer_sid` is the peer's session ID when it arrives now (ICRP).
    /// Returns false, counting a protocol violation, when no session waits there.
    fn establish_session(
        &mut self,
        tid: u16,
        sid: u16,
        from: SessionState,
        peer_sid: Option<u16>,
        framing: Framing,
        sequencing: bool,
    ) -> bool {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return false;
        };
        let Some(s) = t.sessions.get_mut(&sid).filter(|s| s.state == from) else {
            self.stats.peer_misbehaved += 1;
            return false;
        };
        if let Some(p) = peer_sid {
            s.peer_id = p;
        }
        s.state = SessionState::Established;
        s.framing = framing;
        s.sequencing = sequencing;
        info!(tunnel = tid, session = sid, "session established");
        self.events.push_back(Event::SessionUp {
            key: SessionKey {
                tunnel: tid,
                session: sid,
            },
            peer_session: s.peer_id,
            peer_host_name: t.host_name.clone(),
            vendor: t.vendor.clone(),
            framing,
            sequencing,
        });
        true
    }

    fn on_cdn(&mut self, tid: u16, msg: &Message) {
        let peer_sid = msg.u16_avp(AttrType::AssignedSessionId);
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        let sid = if t.sessions.contains_key(&msg.session_id) {
            Some(msg.session_id)
        } else {
            // Tolerant match by the peer's session ID (xl2tpd CHANGES, v1.1.05).
            t.sessions
                .iter()
                .find(|(_, s)| Some(s.peer_id) == peer_sid)
                .map(|(&id, _)| id)
        };
        let Some(sid) = sid else {
            debug!(
                tunnel = tid,
                session = msg.session_id,
                "CDN for no session; acknowledged"
            );
            return;
        };
        t.sessions.remove(&sid);
        let (result, error, message) = msg.result_code().unwrap_or((0, None, None));
        let reason = Scope::Session.reason(Initiator::Peer, result, error, message);
        info!(tunnel = tid, session = sid, reason = %reason, "CDN received");
        self.events.push_back(Event::SessionDown {
            key: SessionKey {
                tunnel: tid,
                session: sid,
            },
            reason,
        });
    }

    /// Reports every session and the tunnel as down (no message is sent).
    fn teardown(&mut self, tid: u16, reason: Disconnect) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        for (&sid, _) in std::mem::take(&mut t.sessions).iter() {
            self.events.push_back(Event::SessionDown {
                key: SessionKey {
                    tunnel: tid,
                    session: sid,
                },
                reason: reason.clone(),
            });
        }
        self.events.push_back(Event::TunnelDown {
            tunnel: tid,
            reason,
        });
    }

    fn close_session_inner(&mut self, tid: u16, sid: u16, reason: Disconnect) {
        let Some(s) = self
            .tunnels
            .get_mut(&tid)
            .and_then(|t| t.sessions.remove(&sid))
        else {
            return;
        };
        let text = reason.message.clone().unwrap_or_default();
        self.send_cdn(tid, s.peer_id, sid, reason.result, reason.error, &text);
        info!(tunnel = tid, session = sid, reason = %reason, "session closed");
        self.events.push_back(Event::SessionDown {
            key: SessionKey {
                tunnel: tid,
                session: sid,
            },
            reason,
        });
    }

    /// Closes a tunnel on our own initiative: StopCCN with `result`, `error` and `text`, then
    /// `SessionDown` and `TunnelDown` events (RFC 2661 §5.7).
    fn stop_tunnel(
        &mut self,
        now: Instant,
        tid: u16,
        result: u16,
        error: Option<u16>,
        text: impl Into<String>,
    ) {
        let reason = Scope::Tunnel.reason(Initiator::Local, result, error, Some(text.into()));
        self.close_tunnel_inner(now, tid, reason);
    }

    fn close_tunnel_inner(&mut self, now: Instant, tid: u16, reason: Disconnect) {
        let Some((state, peer_tunnel)) = self.tunnels.get(&tid).map(|t| (t.state, t.peer_id))
        else {
            return;
        };
        if matches!(state, TunnelState::Closing | TunnelState::Closed) {
            return;
        }
        match stopccn_message(peer_tunnel, tid, &reason) {
            Ok(bytes) => self.queue_built(tid, bytes),
            Err(e) => warn!(error = %e, "could not build a StopCCN"),
        }
        info!(tunnel = tid, reason = %reason, "tunnel closing");
        self.teardown(tid, reason);
        if let Some(t) = self.tunnels.get_mut(&tid) {
            t.state = TunnelState::Closing;
            t.hello_at = None;
            // If the StopCCN is never acknowledged, the channel gives up and the tunnel goes;
            // the linger deadline bounds it in any case.
            t.linger_until = Some(now + self.cfg.retransmit.full_cycle());
        }
    }

    // ---- output and timers ----------------------------------------------------------------

    fn flush(&mut self, now: Instant) {
        let mut out = Vec::new();
        for t in self.tunnels.values_mut() {
            t.channel.flush(now, t.peer_id, &mut out);
            for payload in out.drain(..) {
                self.transmits.push_back(Transmit {
                    peer_port: t.peer_port,
                    payload,
                });
            }
        }
    }

    /// Runs the timers due at `now` (retransmission, Hello, teardown). Spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<u16> = self.tunnels.keys().copied().collect();
        let mut out = Vec::new();
        for tid in ids {
            let Some(t) = self.tunnels.get_mut(&tid) else {
                continue;
            };
            let retries = self.cfg.retransmit.max_retries;
            match t.channel.on_timeout(now, &mut out) {
                Ok(()) => {
                    for payload in out.drain(..) {
                        self.transmits.push_back(Transmit {
                            peer_port: t.peer_port,
                            payload,
                        });
                    }
                }
                Err(GaveUp) => {
                    let state = t.state;
                    if !matches!(state, TunnelState::Closing | TunnelState::Closed) {
                        // RFC 2661 §5.8: after the retransmission limit the tunnel is cleared.
                        let reason = Scope::Tunnel.reason(
                            Initiator::Local,
                            stopccn::GENERAL_ERROR,
                            None,
                            Some(format!(
                                "peer did not acknowledge after {retries} retransmissions"
                            )),
                        );
                        warn!(tunnel = tid, reason = %reason, "peer not responding");
                        self.teardown(tid, reason);
                    }
                    self.tunnels.remove(&tid);
                    continue;
                }
            }
            if t.linger_until.is_some_and(|d| d <= now) {
                debug!(tunnel = tid, "closed tunnel removed");
                self.tunnels.remove(&tid);
                continue;
            }
            if t.hello_at.is_some_and(|d| d <= now) {
                if t.state == TunnelState::Established {
                    t.hello_at = control_timer(now, self.cfg.hello_interval, true);
                    if core::mem::take(&mut t.data_heard) {
                        // RFC 2661 §6.5: a Hello is due only once the interval elapsed
                        // "since the last data or control message was received"; a data
                        // message came within it, so the peer is there. The timer is not
                        // moved to that message's time (not kept per message): the next
                        // Hello goes out between one and two intervals after the last one.
                    } else if t.channel.idle() {
                        // RFC 2661 §6.5: Hello keeps the control connection alive; its
                        // retransmission limit detects a silent peer.
                        self.queue(tid, 0, MessageType::Hello, &[]);
                    }
                } else {
                    self.stop_tunnel(
                        now,
                        tid,
                        stopccn::GENERAL_ERROR,
                        None,
                        "control connection setup timed out",
                    );
                }
            }
        }
        self.flush(now);
    }

    // ---- API ------------------------------------------------------------------------------

    /// Records that a data message for `key`'s tunnel arrived outside
    /// [`Endpoint::handle_datagram`] (a fast path that carries data messages itself): like
    /// one handled here, it defers the tunnel's next Hello (RFC 2661 §6.5). Unknown or not
    /// established tunnels are ignored.
    pub fn note_data(&mut self, key: SessionKey) {
        if let Some(t) = self.tunnels.get_mut(&key.tunnel)
            && t.state == TunnelState::Established
        {
            t.data_heard = true;
        }
    }

    /// Frames a PPP frame for a session into `out` (cleared first) and returns the peer's
    /// L2TP UDP port to send it to.
    pub fn encode_data(
        &mut self,
        key: SessionKey,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u16, Error> {
        let unknown = Error::UnknownSession {
            tunnel: key.tunnel,
            session: key.session,
        };
        let t = self
            .tunnels
            .get_mut(&key.tunnel)
            .ok_or_else(|| unknown.clone())?;
        if t.state != TunnelState::Established {
            return Err(unknown);
        }
        let s = t
            .sessions
            .get_mut(&key.session)
            .filter(|s| s.state == SessionState::Established)
            .ok_or(unknown)?;
        let sequence = s.sequencing.then(|| {
            let seq = Sequence {
                ns: s.data_ns,
                nr: s.data_nr,
            };
            s.data_ns = s.data_ns.wrapping_add(1);
            seq
        });
        let repr = w::Repr {
            control: false,
            length_present: self.cfg.data_length_field,
            tunnel_id: t.peer_id,
            session_id: s.peer_id,
            sequence,
            offset: None,
            priority: false,
            payload_len: frame.len(),
        };
        out.clear();
        out.resize(repr.buffer_len(), 0);
        repr.emit(out)?;
        out.extend_from_slice(frame);
        self.stats.data_out += 1;
        Ok(t.peer_port)
    }

    /// The framing of `session`'s data messages while it is static (tunnel and session
    /// established, no data sequencing); `None` otherwise. While this is `Some`,
    /// [`Endpoint::handle_datagram`] returns the payload of every unsequenced data message for
    /// the session unchanged and [`Endpoint::encode_data`] builds exactly this header, so a fast
    /// path may do both without the endpoint. It must re-read this after every input.
    pub fn data_framing(&self, key: SessionKey) -> Option<DataFraming> {
        let t = self.tunnels.get(&key.tunnel)?;
        if t.state != TunnelState::Established {
            return None;
        }
        let s = t
            .sessions
            .get(&key.session)
            .filter(|s| s.state == SessionState::Established && !s.sequencing)?;
        Some(DataFraming {
            peer_tunnel: t.peer_id,
            peer_session: s.peer_id,
            peer_port: t.peer_port,
            length_field: self.cfg.data_length_field,
        })
    }

    /// Closes a session with a CDN carrying `result` (see [`codes::cdn`]) and an optional
    /// message. A `SessionDown` event follows.
    pub fn close_session(
        &mut self,
        now: Instant,
        key: SessionKey,
        result: u16,
        message: Option<&str>,
    ) -> Result<(), Error> {
        if !self
            .tunnels
            .get(&key.tunnel)
            .is_some_and(|t| t.sessions.contains_key(&key.session))
        {
            return Err(Error::UnknownSession {
                tunnel: key.tunnel,
                session: key.session,
            });
        }
        let reason =
            Scope::Session.reason(Initiator::Local, result, None, message.map(str::to_owned));
        self.close_session_inner(key.tunnel, key.session, reason);
        self.flush(now);
        Ok(())
    }

    /// Closes one tunnel with a StopCCN carrying `result` (see [`codes::stopccn`]).
    pub fn close_tunnel(
        &mut self,
        now: Instant,
        tid: u16,
        result: u16,
        message: Option<&str>,
    ) -> Result<(), Error> {
        if !self.tunnels.contains_key(&tid) {
            return Err(Error::UnknownTunnel(tid));
        }
        let reason =
            Scope::Tunnel.reason(Initiator::Local, result, None, message.map(str::to_owned));
        self.close_tunnel_inner(now, tid, reason);
        self.flush(now);
        Ok(())
    }

    /// Graceful shutdown: a StopCCN ("requester is being shut down") on every tunnel.
    pub fn close_all(&mut self, now: Instant) {
        let ids: Vec<u16> = self.tunnels.keys().copied().collect();
        for tid in ids {
            self.stop_tunnel(
                now,
                tid,
                stopccn::SHUTTING_DOWN,
                None,
                "server shutting down",
            );
        }
        self.flush(now);
    }
}

impl Endpoint<crate::role::Lac> {
    /// Starts a control connection (SCCRQ) to the LNS at UDP port `lns_port`; returns our
    /// tunnel ID. A `TunnelUp` event follows when the SCCRP arrives.
    pub fn connect(&mut self, now: Instant, lns_port: u16) -> Result<u16, Error> {
        if self.tunnel_count() >= self.cfg.max_tunnels {
            return Err(Error::LimitReached("tunnels"));
        }
        let tid = self.alloc_tunnel_id();
        let mut t = self.new_tunnel(now, lns_port);
        t.state = TunnelState::WaitCtlReply;
        let challenge = self.cfg.secret.is_some().then(|| self.random_challenge());
        t.challenge = challenge;
        self.tunnels.insert(tid, Box::new(t));
        let cfg = self.cfg.clone();
        let avps = start_avps(&cfg, tid, w::framing::SYNC, challenge.as_ref(), None);
        self.queue(tid, 0, MessageType::Sccrq, &avps);
        self.flush(now);
        Ok(tid)
    }

    /// Starts an incoming call (ICRQ) on an established tunnel. A `SessionUp` event follows
    /// when the ICRP arrives (we then send the ICCN).
    pub fn open_session(&mut self, now: Instant, tid: u16) -> Result<SessionKey, Error> {
        let t = self.tunnels.get(&tid).ok_or(Error::UnknownTunnel(tid))?;
        if t.state != TunnelState::Established {
            return Err(Error::ApiMisuse("the tunnel is not established"));
        }
        if t.sessions.len() >= self.cfg.max_sessions {
            return Err(Error::LimitReached("sessions per tunnel"));
        }
        let sid = self.alloc_session_id(tid);
        let hide = self.cfg.hide_avps && self.cfg.secret.is_some();
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return Err(Error::UnknownTunnel(tid));
        };
        let serial = t.next_call_serial;
        t.next_call_serial = t.next_call_serial.wrapping_add(1);
        t.sessions.insert(
            sid,
            Session {
                peer_id: 0,
                state: SessionState::WaitReply,
                framing: Framing::from_bits(w::framing::SYNC),
                sequencing: false,
                data_ns: 0,
                data_nr: 0,
            },
        );
        let avps = [
            OutAvp {
                repr: AvpRepr::AssignedSessionId(sid),
                hide,
            },
            OutAvp::from(AvpRepr::CallSerialNumber(serial)),
            OutAvp::from(AvpRepr::BearerType(0)),
        ];
        self.queue(tid, 0, MessageType::Icrq, &avps);
        self.flush(now);
        Ok(SessionKey {
            tunnel: tid,
            session: sid,
        })
    }

    /// Sends WAN-Error-Notify with Call Errors for an established session (RFC 2661 §6.13).
    pub fn send_wan_error_notify(
        &mut self,
        now: Instant,
        key: SessionKey,
        errors: w::CallErrors,
    ) -> Result<(), Error> {
        let peer_sid = self.established_peer_session(key)?;
        self.queue(
            key.tunnel,
            peer_sid,
            MessageType::Wen,
            &[OutAvp::from(AvpRepr::CallErrors(errors))],
        );
        self.flush(now);
        Ok(())
    }

    /// Sends Set-Link-Info with an ACCM for an established session (RFC 2661 §6.14).
    pub fn send_set_link_info(
        &mut self,
        now: Instant,
        key: SessionKey,
        send_accm: u32,
        recv_accm: u32,
    ) -> Result<(), Error> {
        let peer_sid = self.established_peer_session(key)?;
        self.queue(
            key.tunnel,
            peer_sid,
            MessageType::Sli,
            &[OutAvp::from(AvpRepr::Accm {
                send: send_accm,
                recv: recv_accm,
            })],
        );
        self.flush(now);
        Ok(())
    }

    fn established_peer_session(&self, key: SessionKey) -> Result<u16, Error> {
        self.tunnels
            .get(&key.tunnel)
            .filter(|t| t.state == TunnelState::Established)
            .and_then(|t| t.sessions.get(&key.session))
            .filter(|s| s.state == SessionState::Established)
            .map(|s| s.peer_id)
            .ok_or(Error::UnknownSession {
                tunnel: key.tunnel,
                session: key.session,
            })
    }

    /// The LNS's tunnel ID for one of our tunnels (0 until the SCCRP).
    pub fn peer_tunnel_id(&self, tid: u16) -> Option<u16> {
        self.tunnels.get(&tid).map(|t| t.peer_id)
    }
}

/// The AVPs of SCCRQ and SCCRP after the Message Type (RFC 2661 §6.1, §6.2): protocol version
/// 1.0, our framing, no bearer, firmware, Host Name (hidden when the LAC is configured to hide
/// AVPs), Vendor Name, our tunnel ID, our receive window, then our Challenge and our response
/// to the peer's, when there are any.
fn start_avps<'a>(
    cfg: &'a Common,
    tid: u16,
    framing: u32,
    challenge: Option<&'a [u8; 16]>,
    response: Option<&[u8; 16]>,
) -> Vec<OutAvp<'a>> {
    let mut avps = vec![
        OutAvp::from(AvpRepr::ProtocolVersion {
            version: 1,
            revision: 0,
        }),
        OutAvp::from(AvpRepr::FramingCapabilities(framing)),
        OutAvp::from(AvpRepr::BearerCapabilities(0)),
        OutAvp::from(AvpRepr::FirmwareRevision(cfg.firmware_revision)),
        OutAvp {
            repr: AvpRepr::HostName(cfg.host_name.as_bytes()),
            hide: cfg.hide_avps && cfg.secret.is_some(),
        },
        OutAvp::from(AvpRepr::VendorName(cfg.vendor_name.as_bytes())),
        OutAvp::from(AvpRepr::AssignedTunnelId(tid)),
        OutAvp::from(AvpRepr::ReceiveWindowSize(cfg.receive_window)),
    ];
    if let Some(c) = challenge {
        avps.push(OutAvp::from(AvpRepr::Challenge(c)));
    }
    if let Some(r) = response {
        avps.push(OutAvp::from(AvpRepr::ChallengeResponse(*r)));
    }
    avps
}

/// A Result Code AVP value (RFC 2661 §4.4.2): an Error Code (0 when there is none) is present
/// whenever there is an error message, which may follow only it.
fn result_code(result: u16, error: Option<u16>, text: &str) -> ResultCode<'_> {
    ResultCode {
        result,
        error: error.or_else(|| (!text.is_empty()).then_some(codes::error::NONE)),
        message: (!text.is_empty()).then_some(text.as_bytes()),
    }
}

/// A StopCCN from our tunnel `tid` (0 when we keep no tunnel) to the peer's `peer_tunnel`,
/// carrying `reason` (RFC 2661 §6.4), with placeholder Ns/Nr, never hidden.
fn stopccn_message(peer_tunnel: u16, tid: u16, reason: &Disconnect) -> Result<Vec<u8>, Error> {
    let text = reason.message.as_deref().unwrap_or_default();
    let avps = [
        OutAvp::from(AvpRepr::AssignedTunnelId(tid)),
        OutAvp::from(AvpRepr::ResultCode(result_code(
            reason.result,
            reason.error,
            text,
        ))),
    ];
    message::build(peer_tunnel, 0, MessageType::StopCcn, &avps, None)
}

/// A control connection that is not established after this long is closed, when the Hello
/// interval (which otherwise doubles as the setup timeout) is 0, i.e. Hello is disabled.
const SETUP_TIMEOUT_WITHOUT_HELLO: Duration = Duration::from_secs(60);

/// The next control-connection timer: a Hello after `hello` of silence once established (none
/// when `hello` is 0: Hello disabled, RFC 2661 §6.5 leaves the interval to the implementation),
/// and the setup deadline before that.
fn control_timer(now: Instant, hello: Duration, established: bool) -> Option<Instant> {
    match (established, hello.is_zero()) {
        (true, true) => None,
        (false, true) => now.checked_add(SETUP_TIMEOUT_WITHOUT_HELLO),
        (_, false) => now.checked_add(hello),
    }
}
