//! RADIUS accounting (RFC 2866, with the RFC 2869 §2.1 Interim-Update): a Start record when a
//! session comes up ([`server::Event::SessionUp`]), an Interim-Update every interval, and a
//! Stop record when it ends ([`server::Event::SessionDown`]), for every session while
//! `radius.accounting` is on: RADIUS logins with Acct-Authentic RADIUS, users.yaml logins
//! with Local (RFC 2866 §5.6).
//!
//! Every record carries Acct-Status-Type (§5.1), Acct-Session-Id (§5.5, from
//! [`AcctSessionIds`]), User-Name (as the Access-Request sent it, or the users.yaml name),
//! Acct-Authentic, Service-Type Framed, Framed-Protocol PPP, NAS-Port-Type Virtual (RFC 2865
//! §5.6, §5.7, §5.41), Framed-IP-Address (§5.8), Calling-Station-Id (the client's public
//! address and port, as in the Access-Request, §5.31), Called-Station-Id (§5.30), every Class
//! of the Access-Accept unchanged and in order (RFC 2865 §5.25: it "SHOULD be sent unmodified
//! by the client to the accounting server") and Event-Timestamp (RFC 2869 §5.3). The RADIUS
//! client adds NAS-Identifier / NAS-IP-Address, Acct-Delay-Time (§5.2) and the
//! Message-Authenticator. Interim-Update and Stop add Acct-Session-Time (§5.7) and the IPv4
//! traffic: Acct-Input-Octets/-Packets (from the client, §5.3, §5.8), Acct-Output-Octets/
//! -Packets (to it, §5.4, §5.9), with Acct-Input/Output-Gigawords for the octets beyond 2^32
//! (RFC 2869 §5.1, §5.2). Stop adds Acct-Terminate-Cause (§5.10), from the server's
//! [`EndCause`]:
//!
//! | [`EndCause`] | Acct-Terminate-Cause |
//! |---|---|
//! | `ClientRequest` (LCP Terminate-Request, CDN, StopCCN from the client) | User-Request (1) |
//! | `LostCarrier` (LCP echoes, dead peer detection, L2TP retransmissions unanswered) | Lost-Carrier (2) |
//! | `LostService` (the IPsec SAs went away first) | Lost-Service (3) |
//! | `IdleTimeout` | Idle-Timeout (4) |
//! | `SessionTimeout` | Session-Timeout (5) |
//! | `AdminReset` (`kick`, Disconnect-Request, user removed or disabled on reload) | Admin-Reset (6) |
//! | `Shutdown` (SIGTERM, SIGINT) | Admin-Reboot (7) |
//! | `Failed` and anything else | NAS-Error (9) |
//!
//! A session whose authentication failed never came up: it has no Start and gets no Stop.
//!
//! The interim interval is the Access-Accept's Acct-Interim-Interval if it has one (RFC 2869
//! §5.16), else `radius.accounting.interim_interval_secs`, never below 60 s; without either
//! no Interim-Update is sent. Updates are kept in one ordered schedule, so a tick touches only
//! the sessions that are due.
//!
//! Around all of them the daemon sends an Accounting-On record when it starts (before any
//! Start) and an Accounting-Off when it stops in order (after the Stops of the sessions it
//! ended): Acct-Status-Type 7 and 8 (RFC 2866 §5.1), so that an accounting server can close
//! the sessions a NAS that crashed never stopped. They carry Acct-Session-Id (the daemon's
//! start time, the prefix of its sessions' IDs) and Event-Timestamp, beside what the RADIUS
//! client adds ([`Accounting::nas_record`]).
//!
//! Records are handed to [`radius::Client`], whose bounded queue retransmits them, fails over
//! and keeps them across an outage; when it is full a record is lost, and that is logged as a
//! warning (at most one line a minute, with the count).

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use radius::attr::{
    AcctAuthentic, AcctStatusType, AcctTerminateCause, FramedProtocol, NasPortType, ServiceType,
};
use radius::{Attribute, Client};
use server::{EndCause, Event, SessionId, SessionTraffic};
use tracing::{debug, warn};

use crate::acct_id::AcctSessionIds;

/// The shortest interim interval (RFC 2869 §5.16: "This value SHOULD NOT be smaller than 60").
pub(crate) const MIN_INTERIM: Duration = Duration::from_secs(60);

/// How often a lost record is logged as a warning.
const LOSS_WARNING_EVERY: Duration = Duration::from_secs(60);

/// What an Access-Accept gave a session, for its accounting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RadiusLogin {
    /// User-Name as the Access-Request sent it.
    pub(crate) user_name: Vec<u8>,
    /// Every Class, in order (RFC 2865 §5.25).
    pub(crate) classes: Vec<Vec<u8>>,
    /// Acct-Interim-Interval, if the Accept had one that is not 0.
    pub(crate) interim: Option<Duration>,
}

impl RadiusLogin {
    /// The facts of an Access-Accept's attributes; `user_name` as sent in its request.
    pub(crate) fn from_accept(user_name: Vec<u8>, attributes: &[Attribute]) -> Self {
        let mut classes = Vec::new();
        let mut interim = None;
        for a in attributes {
            match a {
                Attribute::Class(c) => classes.push(c.clone()),
                Attribute::AcctInterimInterval(s) if *s > 0 => {
                    interim = Some(Duration::from_secs(u64::from(*s)));
                }
                _ => {}
            }
        }
        Self {
            user_name,
            classes,
            interim,
        }
    }
}

/// A session with a Start record.
#[derive(Debug)]
struct Live {
    user_name: Vec<u8>,
    classes: Vec<Vec<u8>>,
    authentic: AcctAuthentic,
    addr: Ipv4Addr,
    client: SocketAddr,
    started: Instant,
    interim: Option<Duration>,
    /// Its entry in the schedule.
    next_interim: Option<Slot>,
}

/// A place in the interim schedule: the time, then a number that makes it unique.
type Slot = (Instant, u64);

/// The accounting state of the daemon: sessions with a Start, their Access-Accept facts and
/// the interim schedule. It only builds records; [`Accounting::submit`] hands them to the
/// RADIUS client.
#[derive(Debug)]
pub(crate) struct Accounting {
    ids: AcctSessionIds,
    /// The daemon's start, as Unix seconds and as an `Instant`: Event-Timestamp is derived
    /// from `now` without another clock read.
    boot_unix: u64,
    boot: Instant,
    called_station: Option<Vec<u8>>,
    /// `radius.accounting.interim_interval_secs`.
    interim: Option<Duration>,
    /// Access-Accept facts of RADIUS logins whose session is not up yet.
    logins: HashMap<SessionId, RadiusLogin>,
    sessions: HashMap<SessionId, Live>,
    schedule: BTreeMap<Slot, SessionId>,
    next_slot: u64,
    /// Records lost since the last warning, and when that was.
    lost: u64,
    last_loss_warning: Option<Instant>,
}

impl Accounting {
    /// Accounting for a daemon that started at `boot_unix` (Unix seconds) = `boot`;
    /// `called_station` is our address for Called-Station-Id; `interim` the configured
    /// interval (raised to 60 s).
    pub(crate) fn new(
        boot_unix: u64,
        boot: Instant,
        called_station: Option<String>,
        interim: Option<Duration>,
    ) -> Self {
        Self {
            ids: AcctSessionIds::new(boot_unix),
            boot_unix,
            boot,
            called_station: called_station.map(String::into_bytes),
            interim: interim.map(|i| i.max(MIN_INTERIM)),
            logins: HashMap::new(),
            sessions: HashMap::new(),
            schedule: BTreeMap::new(),
            next_slot: 0,
            lost: 0,
            last_loss_warning: None,
        }
    }

    /// The Accounting-On record (`on`, sent when the daemon starts) or Accounting-Off (when
    /// it stops): RFC 2866 §5.1 Acct-Status-Type 7 and 8, about the NAS rather than a
    /// session. Acct-Session-Id, which §5.5 requires in every Accounting-Request, is the
    /// daemon's start time (what its sessions' IDs begin with); Event-Timestamp tells the
    /// server from when on sessions it still has open for us are over.
    pub(crate) fn nas_record(&self, now: Instant, on: bool) -> Vec<Attribute> {
        let status = if on {
            AcctStatusType::AccountingOn
        } else {
            AcctStatusType::AccountingOff
        };
        vec![
            Attribute::AcctStatusType(status),
            Attribute::AcctSessionId(format!("{:08X}", self.boot_unix).into_bytes()),
            Attribute::EventTimestamp(self.unix_at(now)),
        ]
    }

    /// A RADIUS login of `session` was accepted (and the server applied the verdict).
    pub(crate) fn note_login(&mut self, session: SessionId, login: RadiusLogin) {
        self.logins.insert(session, login);
    }

    /// The record a server event calls for: Start on `SessionUp`, Stop on `SessionDown` of a
    /// session that had a Start.
    pub(crate) fn on_event(&mut self, now: Instant, event: &Event) -> Option<Vec<Attribute>> {
        match event {
            Event::SessionUp {
                session,
                user,
                addr,
                client,
                ..
            } => {
                let login = self.logins.remove(session);
                let (user_name, classes, authentic, granted) = match login {
                    Some(l) => (l.user_name, l.classes, AcctAuthentic::Radius, l.interim),
                    None => (
                        user.clone().into_bytes(),
                        Vec::new(),
                        AcctAuthentic::Local,
                        None,
                    ),
                };
                // RFC 2869 §5.16: the server's interval wins over ours, never below 60 s.
                let interim = granted.map(|i| i.max(MIN_INTERIM)).or(self.interim);
                let next_interim = interim
                    .and_then(|i| now.checked_add(i))
                    .map(|at| self.slot(at));
                let live = Live {
                    user_name,
                    classes,
                    authentic,
                    addr: *addr,
                    client: *client,
                    started: now,
                    interim,
                    next_interim,
                };
                let record = self.record(*session, &live, AcctStatusType::Start, now, None);
                if let Some(slot) = next_interim {
                    self.schedule.insert(slot, *session);
                }
                if let Some(old) = self.sessions.insert(*session, live)
                    && let Some(slot) = old.next_interim
                {
                    self.schedule.remove(&slot);
                }
                Some(record)
            }
            Event::SessionDown {
                session,
                cause,
                traffic,
                ..
            } => {
                self.logins.remove(session);
                let live = self.sessions.remove(session)?;
                if let Some(slot) = live.next_interim {
                    self.schedule.remove(&slot);
                }
                let mut record =
                    self.record(*session, &live, AcctStatusType::Stop, now, Some(*traffic));
                record.push(Attribute::AcctTerminateCause(terminate_cause(*cause)));
                Some(record)
            }
            _ => None,
        }
    }

    /// When [`Self::handle_timeout`] is next due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.schedule.first_key_value().map(|((at, _), _)| *at)
    }

    /// The Interim-Updates due at `now`; `traffic` gives a session's counters (`None`: it is
    /// gone, and its Stop follows from its `SessionDown`).
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        mut traffic: impl FnMut(SessionId) -> Option<SessionTraffic>,
    ) -> Vec<Vec<Attribute>> {
        let mut records = Vec::new();
        while let Some((&(at, _), &session)) = self.schedule.first_key_value() {
            if at > now {
                break;
            }
            self.schedule.pop_first();
            let Some(live) = self.sessions.get(&session) else {
                continue;
            };
            let Some(counters) = traffic(session) else {
                continue;
            };
            records.push(self.record(
                session,
                live,
                AcctStatusType::InterimUpdate,
                now,
                Some(counters),
            ));
            let Some(interval) = live.interim else {
                continue;
            };
            // Keep the cadence; after a long stall, count from now.
            let mut next = at.checked_add(interval);
            if next.is_none_or(|n| n <= now) {
                next = now.checked_add(interval);
            }
            let slot = next.map(|n| self.slot(n));
            if let Some(live) = self.sessions.get_mut(&session) {
                live.next_interim = slot;
            }
            if let Some(slot) = slot {
                self.schedule.insert(slot, session);
            }
        }
        records
    }

    /// Hands `record` to the RADIUS client; a record the queue cannot take is lost, and
    /// logged as a warning at most once a minute.
    pub(crate) fn submit(&mut self, client: &mut Client, now: Instant, record: Vec<Attribute>) {
        match client.send_accounting_request(now, record) {
            Ok(_) => {}
            Err(e) => {
                self.lost += 1;
                let due = self
                    .last_loss_warning
                    .is_none_or(|t| now.saturating_duration_since(t) >= LOSS_WARNING_EVERY);
                if due {
                    self.last_loss_warning = Some(now);
                    let lost = std::mem::take(&mut self.lost);
                    if e == radius::Error::QueueFull {
                        warn!(
                            lost,
                            queued = client.accounting_queued(),
                            "RADIUS accounting record lost: the queue is full because the \
                             accounting servers have not answered for a while (at most one such \
                             line a minute; `lost` counts the records since the last one)"
                        );
                    } else {
                        warn!(
                            lost,
                            "RADIUS accounting record lost: it could not be queued ({e}) (at \
                             most one such line a minute)"
                        );
                    }
                } else {
                    debug!("RADIUS accounting record lost: {e}");
                }
            }
        }
    }

    fn slot(&mut self, at: Instant) -> Slot {
        self.next_slot = self.next_slot.wrapping_add(1);
        (at, self.next_slot)
    }

    /// Unix seconds at `now`.
    fn unix_at(&self, now: Instant) -> u32 {
        let secs = self
            .boot_unix
            .saturating_add(now.saturating_duration_since(self.boot).as_secs());
        u32::try_from(secs).unwrap_or(u32::MAX)
    }

    fn record(
        &self,
        session: SessionId,
        live: &Live,
        status: AcctStatusType,
        now: Instant,
        traffic: Option<SessionTraffic>,
    ) -> Vec<Attribute> {
        let mut a = vec![
            Attribute::AcctStatusType(status),
            Attribute::AcctSessionId(self.ids.format(session).into_bytes()),
            Attribute::UserName(live.user_name.clone()),
            Attribute::AcctAuthentic(live.authentic),
            Attribute::ServiceType(ServiceType::Framed),
            Attribute::FramedProtocol(FramedProtocol::Ppp),
            Attribute::NasPortType(NasPortType::Virtual),
            Attribute::FramedIpAddress(live.addr),
            Attribute::CallingStationId(live.client.to_string().into_bytes()),
        ];
        if let Some(called) = &self.called_station {
            a.push(Attribute::CalledStationId(called.clone()));
        }
        a.extend(live.classes.iter().cloned().map(Attribute::Class));
        a.push(Attribute::EventTimestamp(self.unix_at(now)));
        if let Some(t) = traffic {
            let secs = now.saturating_duration_since(live.started).as_secs();
            a.push(Attribute::AcctSessionTime(
                u32::try_from(secs).unwrap_or(u32::MAX),
            ));
            let (in_low, in_high) = split_octets(t.bytes_in);
            let (out_low, out_high) = split_octets(t.bytes_out);
            a.extend([
                Attribute::AcctInputOctets(in_low),
                Attribute::AcctInputGigawords(in_high),
                Attribute::AcctOutputOctets(out_low),
                Attribute::AcctOutputGigawords(out_high),
                Attribute::AcctInputPackets(saturate(t.packets_in)),
                Attribute::AcctOutputPackets(saturate(t.packets_out)),
            ]);
        }
        a
    }
}

/// Octets as Acct-*-Octets (the low 32 bits) and Acct-*-Gigawords ("how many times the
/// Acct-Input-Octets counter has wrapped around 2^32", RFC 2869 §5.1).
fn split_octets(octets: u64) -> (u32, u32) {
    let low = u32::try_from(octets & u64::from(u32::MAX)).unwrap_or(u32::MAX);
    let high = u32::try_from(octets >> 32).unwrap_or(u32::MAX);
    (low, high)
}

/// Packet counts have no Gigawords attribute: they stop at 2^32 - 1.
fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Acct-Terminate-Cause (RFC 2866 §5.10) for why a session ended (see the module table).
pub(crate) fn terminate_cause(cause: EndCause) -> AcctTerminateCause {
    match cause {
        EndCause::ClientRequest => AcctTerminateCause::UserRequest,
        EndCause::LostCarrier => AcctTerminateCause::LostCarrier,
        EndCause::LostService => AcctTerminateCause::LostService,
        EndCause::IdleTimeout => AcctTerminateCause::IdleTimeout,
        EndCause::SessionTimeout => AcctTerminateCause::SessionTimeout,
        EndCause::AdminReset => AcctTerminateCause::AdminReset,
        EndCause::Shutdown => AcctTerminateCause::AdminReboot,
        // `AuthFailed` never reaches a Stop (the session had no Start).
        _ => AcctTerminateCause::NasError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT_UNIX: u64 = 0x6570_A1B2;

    fn t0() -> Instant {
        crate::clock::now()
    }

    fn sid(text: &str) -> SessionId {
        text.parse().unwrap()
    }

    fn up(session: SessionId, user: &str) -> Event {
        Event::SessionUp {
            session,
            user: user.to_owned(),
            addr: Ipv4Addr::new(10, 99, 0, 7),
            client: "198.51.100.4:4500".parse().unwrap(),
            setup: Duration::from_millis(300),
            os_hint: String::new(),
            ike_auth: "psk".into(),
            ike_peer_id: None,
            routes: Vec::new(),
        }
    }

    fn down(session: SessionId, cause: EndCause, traffic: SessionTraffic) -> Event {
        Event::SessionDown {
            session,
            user: Some("alice".to_owned()),
            client: "198.51.100.4:4500".parse().unwrap(),
            reason: "peer terminated the link".to_owned(),
            cause,
            addr: Some(Ipv4Addr::new(10, 99, 0, 7)),
            os_hint: String::new(),
            routes: Vec::new(),
            connected: Duration::from_secs(100),
            traffic,
        }
    }

    fn accounting(start: Instant, interim: Option<Duration>) -> Accounting {
        Accounting::new(BOOT_UNIX, start, Some("192.0.2.1".to_owned()), interim)
    }

    fn find<T>(r: &[Attribute], f: impl Fn(&Attribute) -> Option<T>) -> Vec<T> {
        r.iter().filter_map(f).collect()
    }

    /// Accounting-On and -Off name the NAS, not a session: status 7 and 8, the daemon's
    /// start time as Acct-Session-Id (the prefix of its sessions' IDs), the time.
    #[test]
    fn accounting_on_and_off_records() {
        let start = t0();
        let acct = accounting(start, None);
        let on = acct.nas_record(start, true);
        assert_eq!(
            on,
            vec![
                Attribute::AcctStatusType(AcctStatusType::AccountingOn),
                Attribute::AcctSessionId(b"6570A1B2".to_vec()),
                Attribute::EventTimestamp(0x6570_A1B2),
            ]
        );
        assert_eq!(u32::from(AcctStatusType::AccountingOn), 7);
        let off = acct.nas_record(start + Duration::from_secs(90), false);
        assert_eq!(
            off,
            vec![
                Attribute::AcctStatusType(AcctStatusType::AccountingOff),
                Attribute::AcctSessionId(b"6570A1B2".to_vec()),
                Attribute::EventTimestamp(0x6570_A1B2 + 90),
            ]
        );
        assert_eq!(u32::from(AcctStatusType::AccountingOff), 8);
        // A session's ID begins with the same prefix.
        let id = AcctSessionIds::new(BOOT_UNIX).format(sid("1a-00070003"));
        assert!(id.starts_with("6570A1B2-"), "{id}");
    }

    /// A RADIUS login: Start, Interim-Update and Stop carry the same Acct-Session-Id, the
    /// User-Name as sent, both Classes in order, and the traffic with Gigawords.
    #[test]
    fn start_interim_stop_attributes() {
        let start = t0();
        let mut acct = accounting(start, Some(Duration::from_secs(300)));
        let s = sid("1a-00070003");
        acct.note_login(
            s,
            RadiusLogin::from_accept(
                b"CORP\\alice".to_vec(),
                &[
                    Attribute::Class(b"first".to_vec()),
                    Attribute::SessionTimeout(3600),
                    Attribute::Class(vec![0, 0xff, 1]),
                ],
            ),
        );
        let now = start + Duration::from_secs(5);
        let rec = acct.on_event(now, &up(s, "alice")).unwrap();
        let id = b"6570A1B2-1a-00070003".to_vec();
        assert_eq!(
            rec,
            vec![
                Attribute::AcctStatusType(AcctStatusType::Start),
                Attribute::AcctSessionId(id.clone()),
                Attribute::UserName(b"CORP\\alice".to_vec()),
                Attribute::AcctAuthentic(AcctAuthentic::Radius),
                Attribute::ServiceType(ServiceType::Framed),
                Attribute::FramedProtocol(FramedProtocol::Ppp),
                Attribute::NasPortType(NasPortType::Virtual),
                Attribute::FramedIpAddress(Ipv4Addr::new(10, 99, 0, 7)),
                Attribute::CallingStationId(b"198.51.100.4:4500".to_vec()),
                Attribute::CalledStationId(b"192.0.2.1".to_vec()),
                Attribute::Class(b"first".to_vec()),
                Attribute::Class(vec![0, 0xff, 1]),
                Attribute::EventTimestamp(u32::try_from(BOOT_UNIX + 5).unwrap()),
            ]
        );

        // The interim: 300 s after the Start.
        assert_eq!(acct.poll_timeout(), Some(now + Duration::from_secs(300)));
        let at = now + Duration::from_secs(300);
        let traffic = SessionTraffic {
            bytes_in: (1 << 32) + 10,
            bytes_out: 3 * (1 << 32) - 1,
            packets_in: 5,
            packets_out: u64::from(u32::MAX) + 9,
        };
        let recs = acct.handle_timeout(at, |q| (q == s).then_some(traffic));
        assert_eq!(recs.len(), 1);
        let rec = &recs[0];
        assert_eq!(
            rec[0],
            Attribute::AcctStatusType(AcctStatusType::InterimUpdate)
        );
        assert_eq!(rec[1], Attribute::AcctSessionId(id.clone()));
        let tail: Vec<Attribute> = rec[13..].to_vec();
        assert_eq!(
            tail,
            vec![
                Attribute::AcctSessionTime(300),
                Attribute::AcctInputOctets(10),
                Attribute::AcctInputGigawords(1),
                Attribute::AcctOutputOctets(u32::MAX),
                Attribute::AcctOutputGigawords(2),
                Attribute::AcctInputPackets(5),
                Attribute::AcctOutputPackets(u32::MAX),
            ]
        );
        assert_eq!(
            find(rec, |a| match a {
                Attribute::Class(c) => Some(c.clone()),
                _ => None,
            }),
            [b"first".to_vec(), vec![0, 0xff, 1]]
        );
        assert!(
            find(rec, |a| matches!(a, Attribute::AcctTerminateCause(_))
                .then_some(()))
            .is_empty()
        );

        // The Stop: the final counters and the cause.
        let end = at + Duration::from_secs(20);
        let final_traffic = SessionTraffic {
            bytes_in: 100,
            bytes_out: 200,
            packets_in: 3,
            packets_out: 4,
        };
        let rec = acct
            .on_event(end, &down(s, EndCause::ClientRequest, final_traffic))
            .unwrap();
        assert_eq!(rec[0], Attribute::AcctStatusType(AcctStatusType::Stop));
        assert_eq!(rec[1], Attribute::AcctSessionId(id));
        assert!(rec.contains(&Attribute::AcctSessionTime(320)));
        assert!(rec.contains(&Attribute::AcctInputOctets(100)));
        assert!(rec.contains(&Attribute::AcctOutputOctets(200)));
        assert!(rec.contains(&Attribute::AcctInputGigawords(0)));
        assert!(rec.contains(&Attribute::Class(b"first".to_vec())));
        assert_eq!(
            rec.last(),
            Some(&Attribute::AcctTerminateCause(
                AcctTerminateCause::UserRequest
            ))
        );
        // Nothing is left scheduled, and a second SessionDown gives no second Stop.
        assert_eq!(acct.poll_timeout(), None);
        assert!(
            acct.on_event(end, &down(s, EndCause::ClientRequest, final_traffic))
                .is_none()
        );
    }

    /// users.yaml logins are accounted too, as Local, under their name and without Class.
    #[test]
    fn local_logins_are_accounted_as_local() {
        let start = t0();
        let mut acct = accounting(start, None);
        let s = sid("2-00010001");
        let rec = acct.on_event(start, &up(s, "bob")).unwrap();
        assert!(rec.contains(&Attribute::AcctAuthentic(AcctAuthentic::Local)));
        assert!(rec.contains(&Attribute::UserName(b"bob".to_vec())));
        assert!(!rec.iter().any(|a| matches!(a, Attribute::Class(_))));
        assert_eq!(acct.poll_timeout(), None, "no interval: no interims");
    }

    /// A session that never came up (authentication failed) has no Start and gets no Stop;
    /// its Access-Accept facts, if any, are forgotten.
    #[test]
    fn no_stop_without_a_start() {
        let start = t0();
        let mut acct = accounting(start, None);
        let s = sid("3-00010001");
        acct.note_login(s, RadiusLogin::from_accept(b"x".to_vec(), &[]));
        assert!(
            acct.on_event(
                start,
                &down(s, EndCause::AuthFailed, SessionTraffic::default())
            )
            .is_none()
        );
        assert!(acct.logins.is_empty());
    }

    #[test]
    fn terminate_causes() {
        for (cause, want) in [
            (EndCause::ClientRequest, AcctTerminateCause::UserRequest),
            (EndCause::LostCarrier, AcctTerminateCause::LostCarrier),
            (EndCause::LostService, AcctTerminateCause::LostService),
            (EndCause::IdleTimeout, AcctTerminateCause::IdleTimeout),
            (EndCause::SessionTimeout, AcctTerminateCause::SessionTimeout),
            (EndCause::AdminReset, AcctTerminateCause::AdminReset),
            (EndCause::Shutdown, AcctTerminateCause::AdminReboot),
            (EndCause::Failed, AcctTerminateCause::NasError),
        ] {
            assert_eq!(terminate_cause(cause), want, "{cause}");
            let start = t0();
            let mut acct = accounting(start, None);
            let s = sid("4-00010001");
            acct.on_event(start, &up(s, "carol")).unwrap();
            let rec = acct
                .on_event(start, &down(s, cause, SessionTraffic::default()))
                .unwrap();
            assert_eq!(rec.last(), Some(&Attribute::AcctTerminateCause(want)));
        }
    }

    /// The schedule in virtual time: the Accept's Acct-Interim-Interval wins over the
    /// configuration, nothing goes below 60 s, the cadence holds, and a late tick does not
    /// send a burst.
    #[test]
    fn interim_schedule() {
        let start = t0();
        let secs = Duration::from_secs;
        // Configured 10 s is raised to 60 s.
        let mut acct = accounting(start, Some(secs(10)));
        let a = sid("5-00010001");
        let b = sid("5-00010002");
        let c = sid("5-00010003");
        acct.on_event(start, &up(a, "a")).unwrap();
        // The server asks for 120 s for b, and 30 s (raised to 60) for c.
        acct.note_login(
            b,
            RadiusLogin::from_accept(b"b".to_vec(), &[Attribute::AcctInterimInterval(120)]),
        );
        acct.note_login(
            c,
            RadiusLogin::from_accept(b"c".to_vec(), &[Attribute::AcctInterimInterval(30)]),
        );
        acct.on_event(start + secs(1), &up(b, "b")).unwrap();
        acct.on_event(start + secs(2), &up(c, "c")).unwrap();

        let traffic = |_| Some(SessionTraffic::default());
        let mut sent: Vec<(u64, SessionId)> = Vec::new();
        let mut now = start;
        while now <= start + secs(250) {
            if acct.poll_timeout().is_some_and(|t| t <= now) {
                for r in acct.handle_timeout(now, traffic) {
                    let Some(Attribute::AcctSessionId(id)) = r.get(1) else {
                        panic!("no Acct-Session-Id: {r:?}");
                    };
                    let text = String::from_utf8(id.clone()).unwrap();
                    let s = acct.ids.parse(&text).unwrap();
                    sent.push((now.duration_since(start).as_secs(), s));
                }
            }
            now += secs(1);
        }
        assert_eq!(
            sent,
            [
                (60, a),
                (62, c),
                (120, a),
                (121, b),
                (122, c),
                (180, a),
                (182, c),
                (240, a),
                (241, b),
                (242, c),
            ]
        );

        // A tick long overdue sends one update and counts the next from then.
        let mut acct = accounting(start, Some(secs(60)));
        acct.on_event(start, &up(a, "a")).unwrap();
        let late = start + secs(600);
        assert_eq!(acct.handle_timeout(late, traffic).len(), 1);
        assert_eq!(acct.poll_timeout(), Some(late + secs(60)));

        // A session gone from the server is skipped (its Stop comes from SessionDown).
        assert!(acct.handle_timeout(late + secs(60), |_| None).is_empty());
    }

    /// A full queue loses the record: counted, and warned about at most once a minute.
    #[test]
    fn a_full_queue_loses_records_with_a_rate_limited_warning() {
        let start = t0();
        let server = radius::Server {
            address: "192.0.2.10:1813".parse().unwrap(),
            secret: radius::SharedSecret::new("0123456789abcdef-long"),
        };
        let mut cfg = radius::ClientConfig::new(Vec::new(), vec![server]);
        cfg.accounting_queue = 1;
        let mut client = Client::new(cfg, [1; 32]).unwrap();
        let mut acct = accounting(start, None);
        let record = |n: u8| {
            vec![
                Attribute::AcctStatusType(AcctStatusType::Start),
                Attribute::AcctSessionId(vec![b'0' + n]),
            ]
        };
        acct.submit(&mut client, start, record(1));
        assert_eq!(client.accounting_queued(), 1);
        assert_eq!((acct.lost, acct.last_loss_warning), (0, None));
        // The first loss is warned about at once; the next within the minute only counted.
        acct.submit(&mut client, start, record(2));
        assert_eq!((acct.lost, acct.last_loss_warning), (0, Some(start)));
        acct.submit(&mut client, start + Duration::from_secs(10), record(3));
        assert_eq!((acct.lost, acct.last_loss_warning), (1, Some(start)));
        let later = start + Duration::from_secs(61);
        acct.submit(&mut client, later, record(4));
        assert_eq!((acct.lost, acct.last_loss_warning), (0, Some(later)));
        assert_eq!(client.stats().accounting_refused, 3);
        assert_eq!(client.accounting_queued(), 1);
    }

    #[test]
    fn octets_split_at_two_to_the_32() {
        assert_eq!(split_octets(0), (0, 0));
        assert_eq!(split_octets(u64::from(u32::MAX)), (u32::MAX, 0));
        assert_eq!(split_octets(1 << 32), (0, 1));
        assert_eq!(split_octets((5 << 32) + 7), (7, 5));
        assert_eq!(saturate(u64::MAX), u32::MAX);
    }
}
