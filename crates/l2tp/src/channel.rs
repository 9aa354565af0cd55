//! The reliable control channel (RFC 2661 §5.8): Ns/Nr, windows, retransmission, ZLB acks.
//!
//! - Every non-ZLB control message gets the next Ns. At most the peer's Receive Window Size
//!   messages are unacknowledged at once; the rest wait in order.
//! - A received Nr acknowledges every message with a smaller Ns. When the oldest
//!   unacknowledged message times out it is sent again, with the current Nr, and the timeout
//!   doubles up to a cap; after `max_retries` the channel gives up (the tunnel is torn down).
//! - Received messages are delivered in order exactly once. A message ahead of the expected Ns
//!   but inside our window is held until the gap fills; a message behind it is a duplicate,
//!   dropped but acknowledged ("the peer ... must still acknowledge it", §5.8).
//! - A message that must be acknowledged and has nothing to ride on gets a ZLB.
//! - At most `max_queued` messages wait for an acknowledgement, sent or not. A peer that sends
//!   requests but acknowledges nothing (or advertises a window of 0 or 1 and then stalls) would
//!   otherwise make us queue without end; past the bound [`Channel::queue`] refuses and the
//!   owner abandons the channel ([`Channel::abandon`]) and tears the tunnel down.
//!
//! Sequence numbers compare modulo 2^16 (§5.8).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use wire::l2tp::{Packet, Sequence};

use crate::config::Retransmit;
use crate::message::{self, Message};

/// `a < b` in sequence space (RFC 2661 §5.8: "modulo 2**16").
pub(crate) fn seq_lt(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) < 0
}

#[derive(Debug)]
struct Outgoing {
    ns: u16,
    bytes: Vec<u8>,
    sent: bool,
}

/// What receiving one sequenced message did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Messages now deliverable, in order (possibly none when this one was held).
    Deliver(Vec<Message>),
    /// A message we had already delivered.
    Duplicate,
    /// Outside our receive window: dropped, not acknowledged.
    OutOfWindow,
}

/// The channel gave up: a message was retransmitted `max_retries` times without an ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GaveUp;

/// The outgoing queue already holds `max_queued` unacknowledged messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull;

#[derive(Debug)]
pub(crate) struct Channel {
    policy: Retransmit,
    /// Ns of the next message we queue.
    next_ns: u16,
    /// Ns we expect next from the peer: our Nr.
    expected: u16,
    peer_window: u16,
    our_window: u16,
    outgoing: VecDeque<Outgoing>,
    /// The bound on `outgoing`.
    max_queued: usize,
    held: BTreeMap<u16, Message>,
    rto: Duration,
    retries: u32,
    deadline: Option<Instant>,
    need_ack: bool,
    /// Counters for status and tests.
    pub(crate) duplicates: u64,
    pub(crate) retransmits: u64,
    pub(crate) out_of_window: u64,
}

impl Channel {
    pub(crate) fn new(
        policy: Retransmit,
        our_window: u16,
        peer_window: u16,
        max_queued: usize,
    ) -> Self {
        Self {
            policy,
            next_ns: 0,
            expected: 0,
            peer_window: peer_window.max(1),
            our_window: our_window.max(1),
            outgoing: VecDeque::new(),
            max_queued: max_queued.max(1),
            held: BTreeMap::new(),
            rto: policy.initial,
            retries: 0,
            deadline: None,
            need_ack: false,
            duplicates: 0,
            retransmits: 0,
            out_of_window: 0,
        }
    }

    pub(crate) fn set_peer_window(&mut self, w: u16) {
        self.peer_window = w.max(1);
    }

    /// The retransmission deadline.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Nothing of ours is waiting for an ack.
    pub(crate) fn idle(&self) -> bool {
        self.outgoing.is_empty()
    }

    /// Messages queued and not yet acknowledged.
    pub(crate) fn queued(&self) -> usize {
        self.outgoing.len()
    }

    /// Queues a built message (from [`message::build`]); it gets the next Ns. Refused when
    /// `max_queued` messages already wait for an acknowledgement.
    pub(crate) fn queue(&mut self, mut bytes: Vec<u8>) -> Result<(), QueueFull> {
        if self.outgoing.len() >= self.max_queued {
            return Err(QueueFull);
        }
        let ns = self.next_ns;
        self.next_ns = self.next_ns.wrapping_add(1);
        Packet::new_unchecked(&mut bytes[..]).set_ns(ns);
        self.outgoing.push_back(Outgoing {
            ns,
            bytes,
            sent: false,
        });
        Ok(())
    }

    /// Gives up reliable delivery: drops every queued message and stamps `last` (a built
    /// message, e.g. a StopCCN) for one unreliable transmission, with the Ns that follows what
    /// the peer has been sent (unsent messages give their numbers back) and our Nr.
    pub(crate) fn abandon(&mut self, mut last: Vec<u8>) -> Vec<u8> {
        let ns = self
            .outgoing
            .iter()
            .find(|o| !o.sent)
            .map_or(self.next_ns, |o| o.ns);
        self.outgoing.clear();
        self.next_ns = ns.wrapping_add(1);
        self.deadline = None;
        self.need_ack = false;
        let mut p = Packet::new_unchecked(&mut last[..]);
        p.set_ns(ns);
        p.set_nr(self.expected);
        last
    }

    /// Processes the peer's Nr: drops acknowledged messages and re-arms the timer.
    pub(crate) fn on_nr(&mut self, now: Instant, nr: u16) {
        // Nr may acknowledge at most what we have sent: ignore anything past `next_ns`.
        if seq_lt(self.next_ns, nr) {
            return;
        }
        let mut acked = false;
        while let Some(front) = self.outgoing.front() {
            if front.sent && seq_lt(front.ns, nr) {
                self.outgoing.pop_front();
                acked = true;
            } else {
                break;
            }
        }
        if acked {
            self.retries = 0;
            self.rto = self.policy.initial;
            self.deadline = self.outgoing.iter().any(|o| o.sent).then(|| now + self.rto);
        }
    }

    /// Processes a received sequenced (non-ZLB) message.
    pub(crate) fn on_message(&mut self, msg: Message) -> Received {
        let ns = msg.seq.ns;
        let ahead = ns.wrapping_sub(self.expected);
        if seq_lt(ns, self.expected) {
            self.duplicates += 1;
            self.need_ack = true;
            return Received::Duplicate;
        }
        if ahead >= self.our_window {
            self.out_of_window += 1;
            return Received::OutOfWindow;
        }
        self.need_ack = true;
        if ahead > 0 {
            if self.held.insert(ns, msg).is_some() {
                self.duplicates += 1;
            }
            return Received::Deliver(Vec::new());
        }
        let mut out = vec![msg];
        self.expected = self.expected.wrapping_add(1);
        while let Some(m) = self.held.remove(&self.expected) {
            out.push(m);
            self.expected = self.expected.wrapping_add(1);
        }
        Received::Deliver(out)
    }

    /// Sends what the window allows, and a ZLB if an ack is owed and nothing carried it.
    pub(crate) fn flush(&mut self, now: Instant, peer_tunnel: u16, out: &mut Vec<Vec<u8>>) {
        let nr = self.expected;
        let window = usize::from(self.peer_window);
        let mut sent_any = false;
        for o in self.outgoing.iter_mut().take(window) {
            if !o.sent {
                o.sent = true;
                Packet::new_unchecked(&mut o.bytes[..]).set_nr(nr);
                out.push(o.bytes.clone());
                sent_any = true;
            }
        }
        if sent_any {
            self.need_ack = false;
            if self.deadline.is_none() {
                self.deadline = Some(now + self.rto);
            }
        }
        if self.need_ack {
            self.need_ack = false;
            let ns = self
                .outgoing
                .iter()
                .find(|o| !o.sent)
                .map_or(self.next_ns, |o| o.ns);
            out.push(message::zlb(peer_tunnel, Sequence { ns, nr }));
        }
    }

    /// Retransmits on timeout (RFC 2661 §5.8), or gives up after `max_retries`.
    pub(crate) fn on_timeout(
        &mut self,
        now: Instant,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), GaveUp> {
        match self.deadline {
            Some(d) if d <= now => {}
            _ => return Ok(()),
        }
        if self.retries >= self.policy.max_retries {
            self.deadline = None;
            return Err(GaveUp);
        }
        self.retries += 1;
        self.rto = self.rto.saturating_mul(2).min(self.policy.cap);
        let nr = self.expected;
        for o in self.outgoing.iter_mut().filter(|o| o.sent) {
            Packet::new_unchecked(&mut o.bytes[..]).set_nr(nr);
            out.push(o.bytes.clone());
            self.retransmits += 1;
        }
        self.need_ack = false;
        self.deadline = Some(now + self.rto);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use wire::l2tp::{AvpRepr, MessageType};

    use super::*;
    use crate::message::OutAvp;

    /// The test's time origin; later instants are derived from it by explicit steps.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn msg(ns: u16) -> Message {
        Message {
            tunnel_id: 1,
            session_id: 0,
            seq: Sequence { ns, nr: 0 },
            msg_type: Some(MessageType::Hello),
            type_mandatory: true,
            avps: Vec::new(),
        }
    }

    fn hello() -> Vec<u8> {
        message::build(9, 0, MessageType::Hello, &[] as &[OutAvp<'_>], None).unwrap()
    }

    fn seq_of(b: &[u8]) -> (u16, u16) {
        let p = Packet::new_checked(b).unwrap();
        (p.ns().unwrap(), p.nr().unwrap())
    }

    #[test]
    fn sequence_compare_wraps() {
        assert!(seq_lt(1, 2));
        assert!(seq_lt(0xffff, 0));
        assert!(!seq_lt(0, 0xffff));
        assert!(!seq_lt(5, 5));
    }

    #[test]
    fn in_order_reorder_duplicate() {
        let mut c = Channel::new(Retransmit::default(), 4, 4, 64);
        assert_eq!(c.on_message(msg(1)), Received::Deliver(vec![]));
        assert_eq!(c.on_message(msg(2)), Received::Deliver(vec![]));
        assert_eq!(
            c.on_message(msg(0)),
            Received::Deliver(vec![msg(0), msg(1), msg(2)])
        );
        assert_eq!(c.on_message(msg(1)), Received::Duplicate);
        assert_eq!(c.on_message(msg(7)), Received::OutOfWindow);
        assert_eq!(c.duplicates, 1);
        // The ack owed goes out as a ZLB with Nr 3.
        let mut out = Vec::new();
        c.flush(origin(), 9, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(seq_of(&out[0]), (0, 3));
        let _ = AvpRepr::SequencingRequired;
    }

    #[test]
    fn window_retransmit_give_up() {
        let t0 = origin();
        let policy = Retransmit {
            initial: Duration::from_secs(1),
            cap: Duration::from_secs(4),
            max_retries: 3,
        };
        let mut c = Channel::new(policy, 4, 2, 64);
        for _ in 0..3 {
            c.queue(hello()).unwrap();
        }
        let mut out = Vec::new();
        c.flush(t0, 9, &mut out);
        assert_eq!(
            out.len(),
            2,
            "the peer's window of 2 limits what is in flight"
        );
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(1)));
        // Ack of Ns 0 opens the window for Ns 2.
        c.on_nr(t0, 1);
        out.clear();
        c.flush(t0, 9, &mut out);
        assert_eq!(out.iter().map(|b| seq_of(b).0).collect::<Vec<_>>(), [2]);
        // An Nr beyond what we sent is ignored.
        c.on_nr(t0, 9);
        assert!(!c.idle());
        // Timeouts: 1 s, then 2 s, then 4 s (cap), then give up.
        let mut t = t0 + Duration::from_secs(1);
        for expect in [2u64, 4, 4] {
            out.clear();
            c.on_timeout(t, &mut out).unwrap();
            assert_eq!(out.len(), 2);
            assert_eq!(c.deadline(), Some(t + Duration::from_secs(expect)));
            t += Duration::from_secs(expect);
        }
        assert_eq!(c.on_timeout(t, &mut out), Err(GaveUp));
        assert_eq!(c.retransmits, 6);
    }

    #[test]
    fn queue_is_bounded_and_abandon_reuses_unsent_numbers() {
        let t0 = origin();
        // The peer's window is 1: one message in flight, the rest wait unsent.
        let mut c = Channel::new(Retransmit::default(), 4, 1, 3);
        for _ in 0..3 {
            c.queue(hello()).unwrap();
        }
        assert_eq!(c.queue(hello()), Err(QueueFull));
        assert_eq!(c.queued(), 3);
        let mut out = Vec::new();
        c.flush(t0, 9, &mut out);
        assert_eq!(out.len(), 1, "window 1: only Ns 0 went out");
        // An acknowledgement makes room again.
        c.on_nr(t0, 1);
        assert_eq!(c.queued(), 2);
        c.queue(hello()).unwrap();
        assert_eq!(c.queue(hello()), Err(QueueFull));
        // Abandoning: Ns 1 is the first unsent message, so the last message takes Ns 1.
        assert_eq!(c.on_message(msg(0)), Received::Deliver(vec![msg(0)]));
        let last = c.abandon(hello());
        assert_eq!(seq_of(&last), (1, 1));
        assert_eq!(c.queued(), 0);
        assert!(c.idle());
        assert_eq!(c.deadline(), None);
        out.clear();
        c.flush(t0, 9, &mut out);
        assert!(
            out.is_empty(),
            "nothing is retransmitted or acknowledged after abandon"
        );
    }
}
