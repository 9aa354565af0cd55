//! [`Traffic`]: what a [`crate::Client`] sent and received, by kind, so a load run can say which
//! datagrams a held session costs (keepalives: LCP Echo, RFC 1661 §5.8; L2TP Hello and its
//! ZLB acknowledgement, RFC 2661 §6.5 and §5.8; IKE Informationals such as DPD, RFC 3706 §5;
//! NAT-keepalives, RFC 3948 §2.3).

use wire::l2tp::{MessageType, Packet};
use wire::ppp::Protocol;
use wire::ppp::control::Code;

/// Datagrams of one direction, by what they carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// PPP LCP Echo-Requests (in L2TP data messages, in ESP).
    pub lcp_echo_request: u64,
    /// PPP LCP Echo-Replies.
    pub lcp_echo_reply: u64,
    /// PPP frames carrying IPv4.
    pub ip: u64,
    /// Other PPP frames (negotiation, authentication, other LCP codes).
    pub other_ppp: u64,
    /// L2TP Hello control messages.
    pub l2tp_hello: u64,
    /// L2TP ZLB acknowledgements (control messages without a body).
    pub l2tp_zlb: u64,
    /// Other L2TP control messages.
    pub other_l2tp_control: u64,
    /// IKE Informational exchanges (DPD R-U-THERE and its ACK, Deletes).
    pub ike_informational: u64,
    /// Other IKE messages (Main Mode, Quick Mode).
    pub other_ike: u64,
    /// NAT-keepalives (one 0xFF octet on UDP 4500).
    pub natt_keepalive: u64,
    /// ESP that did not open or carried something else.
    pub other: u64,
}

impl Counts {
    /// Every counter with its name, in a fixed order.
    pub fn named(&self) -> [(&'static str, u64); 11] {
        [
            ("lcp_echo_request", self.lcp_echo_request),
            ("lcp_echo_reply", self.lcp_echo_reply),
            ("ip", self.ip),
            ("other_ppp", self.other_ppp),
            ("l2tp_hello", self.l2tp_hello),
            ("l2tp_zlb", self.l2tp_zlb),
            ("other_l2tp_control", self.other_l2tp_control),
            ("ike_informational", self.ike_informational),
            ("other_ike", self.other_ike),
            ("natt_keepalive", self.natt_keepalive),
            ("other", self.other),
        ]
    }

    /// The sum of every counter: all datagrams of this direction.
    pub fn total(&self) -> u64 {
        self.named().iter().map(|(_, n)| n).sum()
    }

    /// Adds `other`'s counters to ours.
    pub fn add(&mut self, other: &Self) {
        self.lcp_echo_request += other.lcp_echo_request;
        self.lcp_echo_reply += other.lcp_echo_reply;
        self.ip += other.ip;
        self.other_ppp += other.other_ppp;
        self.l2tp_hello += other.l2tp_hello;
        self.l2tp_zlb += other.l2tp_zlb;
        self.other_l2tp_control += other.other_l2tp_control;
        self.ike_informational += other.ike_informational;
        self.other_ike += other.other_ike;
        self.natt_keepalive += other.natt_keepalive;
        self.other += other.other;
    }

    /// Counts one L2TP message (the inner UDP payload of an ESP packet).
    pub(crate) fn l2tp(&mut self, msg: &[u8]) {
        let Ok(packet) = Packet::new_checked(msg) else {
            self.other += 1;
            return;
        };
        if packet.is_control() {
            // RFC 2661 §3.1: the first AVP of a control message is the Message Type AVP
            // (6-octet AVP header, 2-octet value).
            let body = packet.payload();
            match body.get(6..8) {
                None => self.l2tp_zlb += 1,
                Some(&[hi, lo])
                    if MessageType::from(u16::from_be_bytes([hi, lo])) == MessageType::Hello =>
                {
                    self.l2tp_hello += 1;
                }
                Some(_) => self.other_l2tp_control += 1,
            }
            return;
        }
        self.ppp(packet.payload());
    }

    /// Counts one PPP frame (address and control field optional).
    fn ppp(&mut self, frame: &[u8]) {
        let Ok(f) = wire::ppp::Packet::new_checked(frame) else {
            self.other += 1;
            return;
        };
        match f.protocol() {
            Protocol::Ipv4 => self.ip += 1,
            Protocol::Lcp => match f.payload().first().copied() {
                Some(c) if Code::from(c) == Code::EchoRequest => self.lcp_echo_request += 1,
                Some(c) if Code::from(c) == Code::EchoReply => self.lcp_echo_reply += 1,
                _ => self.other_ppp += 1,
            },
            _ => self.other_ppp += 1,
        }
    }

    /// Counts one IKE message (ISAKMP header first).
    pub(crate) fn ike(&mut self, msg: &[u8]) {
        // RFC 2408 §3.1: the exchange type is octet 18 of the header; 5 is Informational.
        match msg.get(18) {
            Some(5) => self.ike_informational += 1,
            _ => self.other_ike += 1,
        }
    }
}

/// Both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Traffic {
    /// What the client received from the server.
    pub received: Counts,
    /// What the client sent to the server.
    pub sent: Counts,
}

impl Traffic {
    /// Adds `other`'s counters to ours.
    pub fn add(&mut self, other: &Self) {
        self.received.add(&other.received);
        self.sent.add(&other.sent);
    }
}
