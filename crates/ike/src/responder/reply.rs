//! Our last reply of an exchange, kept apart from the state machines (as the L2TP control
//! channel keeps reliability apart from the tunnel and session machines).
//!
//! IKEv1 messages are not acknowledged: the initiator resends its last message until the next
//! one arrives, and the responder answers such a retransmission with its own last message
//! again (RFC 2408 §5 leaves it to the implementation; RFC 2409 §5 Main and Quick Mode are
//! lock-step). A [`Reply`] remembers the message it answered (only its fingerprint), our
//! answer, and, for a peer that proved it receives our messages, a timer that resends the
//! answer until the peer's next message shows it arrived. MM2 never gets that timer: MM1's
//! source address is unproven, and a timer would reflect MM2 at a spoofed victim.

use std::time::{Duration, Instant};

use crate::crypt::{Fingerprint, fingerprint};

#[derive(Debug, Clone, Copy)]
struct Retx {
    at: Instant,
    tries: u32,
}

/// How often and how many times a reply is resent on its timer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resend {
    pub(super) interval: Duration,
    pub(super) tries: u32,
}

/// The answer to the last message received.
#[derive(Debug)]
pub(super) struct Reply {
    rx: Fingerprint,
    tx: Vec<u8>,
    retx: Option<Retx>,
}

impl Reply {
    /// Our answer `tx` to `rx`, resent only when `rx` comes again.
    pub(super) fn on_request(rx: &[u8], tx: Vec<u8>) -> Self {
        Self {
            rx: fingerprint(rx),
            tx,
            retx: None,
        }
    }

    /// Our answer `tx` to `rx`, also resent on a timer from `now` until the peer answers.
    pub(super) fn with_timer(rx: &[u8], tx: Vec<u8>, now: Instant, resend: Resend) -> Self {
        Self {
            retx: Some(Retx {
                at: now + resend.interval,
                tries: 0,
            }),
            ..Self::on_request(rx, tx)
        }
    }

    /// Our answer again if `msg` is a retransmission of the message it answered.
    pub(super) fn again(&self, msg: &[u8]) -> Option<&[u8]> {
        (fingerprint(msg) == self.rx).then_some(self.tx.as_slice())
    }

    /// Our answer.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> &[u8] {
        &self.tx
    }

    /// When the timer next fires.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.retx.map(|r| r.at)
    }

    /// The timer's time came: the answer to resend, unless every try is used up (then the
    /// timer stops; the exchange itself expires on its own deadline).
    pub(super) fn on_timeout(&mut self, now: Instant, resend: Resend) -> Option<&[u8]> {
        let r = self.retx.as_mut().filter(|r| r.at <= now)?;
        if r.tries >= resend.tries {
            self.retx = None;
            return None;
        }
        r.tries += 1;
        r.at = now + resend.interval;
        Some(&self.tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // The test's time origin.
    fn answers_retransmissions_and_resends_on_its_timer_a_bounded_number_of_times() {
        let t0 = Instant::now();
        let resend = Resend {
            interval: Duration::from_secs(2),
            tries: 2,
        };
        let mut r = Reply::with_timer(b"mm3", b"mm4".to_vec(), t0, resend);
        assert_eq!(r.again(b"mm3"), Some(&b"mm4"[..]));
        assert_eq!(r.again(b"mm3 "), None);
        assert_eq!(r.deadline(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(r.on_timeout(t0 + Duration::from_secs(1), resend), None);
        let mut sent = 0;
        for s in 2..20 {
            if r.on_timeout(t0 + Duration::from_secs(s), resend).is_some() {
                sent += 1;
            }
        }
        assert_eq!((sent, r.deadline()), (2, None));
        // Without a timer: only on request.
        let r = Reply::on_request(b"mm1", b"mm2".to_vec());
        assert_eq!(r.deadline(), None);
        assert_eq!(r.bytes(), b"mm2");
    }
}
