//! The option negotiation automaton of RFC 1661 §4, shared by LCP and IPCP.
//!
//! The automaton is the state transition table of RFC 1661 §4.1 with the ten states of §4.2,
//! the restart timer and counters of §4.6 (time injected as `now`), and the actions of §4.4.
//! What is protocol-specific (which options to request, how to judge the peer's options) lives
//! behind the [`Negotiator`] trait. Outgoing packets and layer signals (This-Layer-Up/Down/
//! Started/Finished) are queued and drained by the owner, so the automaton never calls out.
//!
//! The optional "restart" actions of the Open event in Stopped, Stopping and Opened ("3r", "5r",
//! "9r") are not taken.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use wire::ppp::Protocol;
use wire::ppp::control::{Options, Repr};

/// The ten automaton states (RFC 1661 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Lower layer down, no Open.
    Initial,
    /// Open issued, lower layer down.
    Starting,
    /// Lower layer up, no Open.
    Closed,
    /// Waiting for the peer after Terminate or a failed negotiation.
    Stopped,
    /// Terminate-Request sent after Close.
    Closing,
    /// Terminate-Request sent after Down-like events.
    Stopping,
    /// Configure-Request sent.
    ReqSent,
    /// Configure-Ack received.
    AckRcvd,
    /// Configure-Ack sent.
    AckSent,
    /// Negotiation done.
    Opened,
}

/// Timer and counter limits (RFC 1661 §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Restart timer ("The default value SHOULD be three seconds").
    pub(crate) restart: Duration,
    /// Max-Terminate (default 2).
    pub(crate) max_terminate: u32,
    /// Max-Configure (default 10).
    pub(crate) max_configure: u32,
    /// Max-Failure (default 5).
    pub(crate) max_failure: u32,
}

/// What the negotiator says about the peer's Configure-Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every option is acceptable: Configure-Ack (RCR+).
    Ack,
    /// Configure-Nak with these option bytes (RCR-).
    Nak(Vec<u8>),
    /// Configure-Reject with these option bytes (RCR-).
    Reject(Vec<u8>),
}

/// The protocol-specific half of the automaton.
pub(crate) trait Negotiator {
    /// The option bytes of our next Configure-Request.
    fn request(&mut self) -> Vec<u8>;
    /// Judges the peer's Configure-Request. `nak_allowed` turns false once Max-Failure
    /// Configure-Naks went unanswered by an Ack (RFC 1661 §4.6): Naks should become Rejects.
    fn judge(&mut self, options: Options<'_>, nak_allowed: bool) -> Verdict;
    /// Our request was acknowledged.
    fn acked(&mut self, options: Options<'_>);
    /// The peer suggested other values.
    fn nakked(&mut self, options: Options<'_>);
    /// The peer rejected these options.
    fn rejected(&mut self, options: Options<'_>);
}

/// Layer signals for the owner (RFC 1661 §4.4 tlu, tld, tls, tlf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// This-Layer-Up.
    Up,
    /// This-Layer-Down.
    Down,
    /// This-Layer-Started.
    Started,
    /// This-Layer-Finished.
    Finished,
}

/// The automaton for one protocol.
#[derive(Debug)]
pub(crate) struct Fsm<N> {
    protocol: Protocol,
    state: State,
    limits: Limits,
    restart_count: u32,
    failure_count: u32,
    deadline: Option<Instant>,
    next_id: u8,
    request_id: u8,
    request: Vec<u8>,
    term_data: Vec<u8>,
    pub(crate) neg: N,
    out: VecDeque<Vec<u8>>,
    signals: VecDeque<Signal>,
}

impl<N: Negotiator> Fsm<N> {
    pub(crate) fn new(protocol: Protocol, limits: Limits, neg: N, first_id: u8) -> Self {
        Self {
            protocol,
            state: State::Initial,
            limits,
            restart_count: 0,
            failure_count: 0,
            deadline: None,
            next_id: first_id,
            request_id: 0,
            request: Vec::new(),
            term_data: Vec::new(),
            neg,
            out: VecDeque::new(),
            signals: VecDeque::new(),
        }
    }

    pub(crate) const fn state(&self) -> State {
        self.state
    }

    pub(crate) const fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next control packet to send (without the PPP header).
    pub(crate) fn poll_packet(&mut self) -> Option<Vec<u8>> {
        let next = self.out.pop_front();
        if next.is_none() {
            // Drained: give back the room a negotiation took (an open link is quiet).
            self.out = VecDeque::new();
        }
        next
    }

    pub(crate) fn poll_signal(&mut self) -> Option<Signal> {
        let next = self.signals.pop_front();
        if next.is_none() {
            self.signals = VecDeque::new();
        }
        next
    }

    fn take_id(&mut self) -> u8 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn send(&mut self, repr: &Repr<'_>) {
        let mut buf = vec![0u8; repr.buffer_len()];
        match repr.emit(&mut buf) {
            Ok(()) => self.out.push_back(buf),
            Err(e) => {
                tracing::warn!(protocol = ?self.protocol, error = %e, "control packet not encodable")
            }
        }
    }

    // --- actions (RFC 1661 §4.4) ---

    fn irc_configure(&mut self) {
        self.restart_count = self.limits.max_configure;
    }

    fn irc_terminate(&mut self) {
        self.restart_count = self.limits.max_terminate;
    }

    fn zrc(&mut self, now: Instant) {
        self.restart_count = 0;
        self.deadline = Some(now + self.limits.restart);
    }

    fn scr(&mut self, now: Instant) {
        self.request = self.neg.request();
        self.request_id = self.take_id();
        let request = core::mem::take(&mut self.request);
        if let Ok(options) = Options::parse(&request) {
            self.send(&Repr::ConfigureRequest {
                identifier: self.request_id,
                options,
            });
        }
        self.request = request;
        self.restart_count = self.restart_count.saturating_sub(1);
        self.deadline = Some(now + self.limits.restart);
    }

    fn str(&mut self, now: Instant) {
        let id = self.take_id();
        let data = core::mem::take(&mut self.term_data);
        self.send(&Repr::TerminateRequest {
            identifier: id,
            data: &data,
        });
        self.term_data = data;
        self.restart_count = self.restart_count.saturating_sub(1);
        self.deadline = Some(now + self.limits.restart);
    }

    fn sta(&mut self, identifier: u8) {
        self.send(&Repr::TerminateAck {
            identifier,
            data: &[],
        });
    }

    fn signal(&mut self, s: Signal) {
        self.signals.push_back(s);
    }

    fn set_state(&mut self, state: State) {
        if !matches!(
            state,
            State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
        ) {
            self.deadline = None;
        }
        if state != self.state {
            tracing::trace!(protocol = ?self.protocol, from = ?self.state, to = ?state, "ppp state");
        }
        self.state = state;
    }

    // --- events (RFC 1661 §4.3) ---

    /// Up: the lower layer is ready.
    pub(crate) fn up(&mut self, now: Instant) {
        match self.state {
            State::Initial => self.set_state(State::Closed),
            State::Starting => {
                self.irc_configure();
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            _ => {}
        }
    }

    /// Down: the lower layer is gone.
    pub(crate) fn down(&mut self) {
        match self.state {
            State::Closed | State::Closing => self.set_state(State::Initial),
            State::Stopped => {
                self.signal(Signal::Started);
                self.set_state(State::Starting);
            }
            State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                self.set_state(State::Starting);
            }
            State::Opened => {
                self.signal(Signal::Down);
                self.set_state(State::Starting);
            }
            State::Initial | State::Starting => {}
        }
    }

    /// Open: administrative open.
    pub(crate) fn open(&mut self, now: Instant) {
        match self.state {
            State::Initial => {
                self.signal(Signal::Started);
                self.set_state(State::Starting);
            }
            State::Closed => {
                self.irc_configure();
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            State::Closing => self.set_state(State::Stopping),
            _ => {}
        }
    }

    /// Close: administrative close; `data` goes into the Terminate-Request.
    pub(crate) fn close(&mut self, now: Instant, data: &[u8]) {
        self.term_data = data.to_vec();
        match self.state {
            State::Starting => {
                self.signal(Signal::Finished);
                self.set_state(State::Initial);
            }
            State::Stopped => self.set_state(State::Closed),
            State::Stopping => self.set_state(State::Closing),
            State::ReqSent | State::AckRcvd | State::AckSent => {
                self.irc_terminate();
                self.str(now);
                self.set_state(State::Closing);
            }
            State::Opened => {
                self.signal(Signal::Down);
                self.irc_terminate();
                self.str(now);
                self.set_state(State::Closing);
            }
            State::Initial | State::Closed | State::Closing => {}
        }
    }

    /// The restart timer, if it expired at `now` (TO+ or TO-).
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        self.deadline = None;
        let positive = self.restart_count > 0;
        match (self.state, positive) {
            (State::Closing | State::Stopping, true) => {
                self.str(now);
            }
            (State::ReqSent | State::AckRcvd, true) => {
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            (State::AckSent, true) => self.scr(now),
            (State::Closing, false) => {
                self.signal(Signal::Finished);
                self.set_state(State::Closed);
            }
            (State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent, false) => {
                self.signal(Signal::Finished);
                self.set_state(State::Stopped);
            }
            _ => {}
        }
    }

    /// A received packet of this protocol (codes 1-7; other codes go through `receive_unknown`).
    pub(crate) fn receive(&mut self, now: Instant, repr: &Repr<'_>, raw: &[u8]) {
        match *repr {
            Repr::ConfigureRequest {
                identifier,
                options,
            } => self.rcr(now, identifier, options),
            Repr::ConfigureAck {
                identifier,
                options,
            } => {
                if self.matches_request(identifier) && options.as_bytes() == self.request.as_slice()
                {
                    self.neg.acked(options);
                    self.rca(now);
                } else {
                    tracing::debug!(protocol = ?self.protocol, identifier, "stale or altered Configure-Ack ignored");
                }
            }
            Repr::ConfigureNak {
                identifier,
                options,
            } => {
                if self.matches_request(identifier) {
                    self.neg.nakked(options);
                    self.rcn(now);
                }
            }
            Repr::ConfigureReject {
                identifier,
                options,
            } => {
                if self.matches_request(identifier) {
                    self.neg.rejected(options);
                    self.rcn(now);
                }
            }
            Repr::TerminateRequest { identifier, .. } => self.rtr(now, identifier),
            Repr::TerminateAck { .. } => self.rta(now),
            Repr::CodeReject { rejected, .. } => {
                // RFC 1661 §5.6: a reject of a code we need (Configure-*, Terminate-*) is
                // catastrophic (RXJ-); anything else is permitted (RXJ+).
                let catastrophic = matches!(rejected.first(), Some(1..=6));
                self.rxj(now, catastrophic);
            }
            _ => self.ruc(raw),
        }
    }

    fn matches_request(&self, identifier: u8) -> bool {
        identifier == self.request_id
            && matches!(
                self.state,
                State::ReqSent | State::AckRcvd | State::AckSent | State::Opened
            )
    }

    fn rcr(&mut self, now: Instant, identifier: u8, options: Options<'_>) {
        match self.state {
            State::Closed => {
                self.sta(identifier);
                return;
            }
            State::Closing | State::Stopping | State::Initial | State::Starting => return,
            _ => {}
        }
        let verdict = self
            .neg
            .judge(options, self.failure_count < self.limits.max_failure);
        let good = verdict == Verdict::Ack;
        // Send our own Configure-Request first where the table says "scr, sca/scn".
        match self.state {
            State::Stopped => {
                self.irc_configure();
                self.scr(now);
            }
            State::Opened => {
                self.signal(Signal::Down);
                self.scr(now);
            }
            _ => {}
        }
        match verdict {
            Verdict::Ack => {
                self.failure_count = 0;
                self.send(&Repr::ConfigureAck {
                    identifier,
                    options,
                });
            }
            Verdict::Nak(bytes) => {
                self.failure_count = self.failure_count.saturating_add(1);
                if let Ok(options) = Options::parse(&bytes) {
                    self.send(&Repr::ConfigureNak {
                        identifier,
                        options,
                    });
                }
            }
            Verdict::Reject(bytes) => {
                if let Ok(options) = Options::parse(&bytes) {
                    self.send(&Repr::ConfigureReject {
                        identifier,
                        options,
                    });
                }
            }
        }
        let next = match (self.state, good) {
            (State::Stopped | State::ReqSent | State::AckSent | State::Opened, true) => {
                State::AckSent
            }
            (State::AckRcvd, true) => {
                self.signal(Signal::Up);
                State::Opened
            }
            (State::AckRcvd, false) => State::AckRcvd,
            (_, _) => State::ReqSent,
        };
        self.set_state(next);
    }

    fn rca(&mut self, now: Instant) {
        match self.state {
            State::Closed | State::Stopped => {
                let id = self.take_id();
                self.sta(id);
            }
            State::ReqSent => {
                self.irc_configure();
                self.set_state(State::AckRcvd);
            }
            State::AckRcvd => {
                // Crossed connection (RFC 1661 §4.1 "x").
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            State::AckSent => {
                self.irc_configure();
                self.signal(Signal::Up);
                self.set_state(State::Opened);
            }
            State::Opened => {
                self.signal(Signal::Down);
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            _ => {}
        }
    }

    fn rcn(&mut self, now: Instant) {
        match self.state {
            State::Closed | State::Stopped => {
                let id = self.take_id();
                self.sta(id);
            }
            State::ReqSent => {
                self.irc_configure();
                self.scr(now);
            }
            State::AckRcvd => {
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            State::AckSent => {
                self.irc_configure();
                self.scr(now);
            }
            State::Opened => {
                self.signal(Signal::Down);
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            _ => {}
        }
    }

    fn rtr(&mut self, now: Instant, identifier: u8) {
        match self.state {
            State::Initial | State::Starting => {}
            State::AckRcvd | State::AckSent => {
                self.sta(identifier);
                self.set_state(State::ReqSent);
            }
            State::Opened => {
                self.signal(Signal::Down);
                self.zrc(now);
                self.sta(identifier);
                self.set_state(State::Stopping);
            }
            _ => self.sta(identifier),
        }
    }

    fn rta(&mut self, now: Instant) {
        match self.state {
            State::Closing => {
                self.signal(Signal::Finished);
                self.set_state(State::Closed);
            }
            State::Stopping => {
                self.signal(Signal::Finished);
                self.set_state(State::Stopped);
            }
            State::AckRcvd => self.set_state(State::ReqSent),
            State::Opened => {
                self.signal(Signal::Down);
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            _ => {}
        }
    }

    /// RUC: a code this protocol does not know; answer with Code-Reject (scj).
    pub(crate) fn ruc(&mut self, raw: &[u8]) {
        if matches!(self.state, State::Initial | State::Starting) {
            return;
        }
        let id = self.take_id();
        self.send(&Repr::CodeReject {
            identifier: id,
            rejected: raw,
        });
    }

    /// RXJ+ / RXJ- (RFC 1661 §4.3): the peer rejected a code or protocol of ours.
    pub(crate) fn rxj(&mut self, now: Instant, catastrophic: bool) {
        if !catastrophic {
            if self.state == State::AckRcvd {
                self.set_state(State::ReqSent);
            }
            return;
        }
        match self.state {
            State::Closed | State::Closing => {
                self.signal(Signal::Finished);
                self.set_state(State::Closed);
            }
            State::Stopped | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                self.signal(Signal::Finished);
                self.set_state(State::Stopped);
            }
            State::Opened => {
                self.signal(Signal::Down);
                self.irc_terminate();
                self.str(now);
                self.set_state(State::Stopping);
            }
            State::Initial | State::Starting => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests nothing, accepts everything.
    #[derive(Debug, Default)]
    struct Null {
        acked: u32,
    }

    impl Negotiator for Null {
        fn request(&mut self) -> Vec<u8> {
            Vec::new()
        }
        fn judge(&mut self, _: Options<'_>, _: bool) -> Verdict {
            Verdict::Ack
        }
        fn acked(&mut self, _: Options<'_>) {
            self.acked += 1;
        }
        fn nakked(&mut self, _: Options<'_>) {}
        fn rejected(&mut self, _: Options<'_>) {}
    }

    fn limits() -> Limits {
        Limits {
            restart: Duration::from_secs(3),
            max_terminate: 2,
            max_configure: 10,
            max_failure: 5,
        }
    }

    fn parse(bytes: &[u8]) -> Repr<'_> {
        let p = wire::ppp::control::Packet::new_checked(bytes).unwrap();
        Repr::parse(&p, Protocol::Lcp).unwrap()
    }

    /// Delivers every queued packet of `from` to `to`.
    fn pump(now: Instant, from: &mut Fsm<Null>, to: &mut Fsm<Null>) -> usize {
        let mut n = 0;
        while let Some(p) = from.poll_packet() {
            to.receive(now, &parse(&p), &p);
            n += 1;
        }
        n
    }

    #[test]
    fn two_automata_reach_opened_and_close() {
        let t0 = crate::tests::t0();
        let mut a = Fsm::new(Protocol::Lcp, limits(), Null::default(), 1);
        let mut b = Fsm::new(Protocol::Lcp, limits(), Null::default(), 100);
        for f in [&mut a, &mut b] {
            f.open(t0);
            assert_eq!(f.state(), State::Starting);
            assert_eq!(f.poll_signal(), Some(Signal::Started));
            f.up(t0);
            assert_eq!(f.state(), State::ReqSent);
        }
        while pump(t0, &mut a, &mut b) + pump(t0, &mut b, &mut a) > 0 {}
        assert_eq!((a.state(), b.state()), (State::Opened, State::Opened));
        assert_eq!(a.poll_signal(), Some(Signal::Up));
        assert_eq!(a.deadline(), None);
        a.close(t0, b"bye");
        assert_eq!(a.state(), State::Closing);
        pump(t0, &mut a, &mut b);
        assert_eq!(b.state(), State::Stopping);
        assert_eq!(b.poll_signal(), Some(Signal::Up));
        assert_eq!(b.poll_signal(), Some(Signal::Down));
        pump(t0, &mut b, &mut a);
        assert_eq!(a.state(), State::Closed);
        // b leaves Stopping when its zero restart counter times out.
        b.handle_timeout(t0 + Duration::from_secs(3));
        assert_eq!(b.state(), State::Stopped);
        assert_eq!(b.poll_signal(), Some(Signal::Finished));
    }

    #[test]
    fn restart_counter_gives_up_after_max_configure() {
        let t0 = crate::tests::t0();
        let mut a = Fsm::new(Protocol::Lcp, limits(), Null::default(), 1);
        a.up(t0);
        a.open(t0);
        let mut sent = 0;
        let mut now = t0;
        while a.state() == State::ReqSent {
            while a.poll_packet().is_some() {
                sent += 1;
            }
            now += Duration::from_secs(3);
            a.handle_timeout(now);
        }
        assert_eq!(sent, 10);
        assert_eq!(a.state(), State::Stopped);
        assert_eq!(a.poll_signal(), Some(Signal::Finished));
        // A spurious timeout is a no-op.
        a.handle_timeout(now + Duration::from_secs(100));
        assert_eq!(a.state(), State::Stopped);
    }

    #[test]
    fn stale_ack_is_ignored_and_closed_answers_terminate_ack() {
        let t0 = crate::tests::t0();
        let mut a = Fsm::new(Protocol::Lcp, limits(), Null::default(), 1);
        a.up(t0);
        // Closed: a Configure-Request gets Terminate-Ack (RFC 1661 §4.1 RCR in Closed: sta).
        a.receive(t0, &parse(&[1, 9, 0, 4]), &[1, 9, 0, 4]);
        assert_eq!(a.poll_packet().unwrap(), [6, 9, 0, 4]);
        a.open(t0);
        let req = a.poll_packet().unwrap();
        assert_eq!(req[0], 1);
        let wrong = [2, req[1].wrapping_add(1), 0, 4];
        a.receive(t0, &parse(&wrong), &wrong);
        assert_eq!(a.state(), State::ReqSent);
        assert_eq!(a.neg.acked, 0);
        let right = [2, req[1], 0, 4];
        a.receive(t0, &parse(&right), &right);
        assert_eq!(a.state(), State::AckRcvd);
    }

    #[test]
    fn unknown_code_gets_code_reject() {
        let t0 = crate::tests::t0();
        let mut a = Fsm::new(Protocol::Ipcp, limits(), Null::default(), 1);
        a.up(t0);
        let raw = [0x20, 7, 0, 5, 0xaa];
        let p = wire::ppp::control::Packet::new_checked(&raw[..]).unwrap();
        a.receive(t0, &Repr::parse(&p, Protocol::Ipcp).unwrap(), &raw);
        let rej = a.poll_packet().unwrap();
        assert_eq!(rej[0], 7);
        assert_eq!(&rej[4..], raw);
    }
}
