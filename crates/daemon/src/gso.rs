//! Grouping a run of sealed datagrams into UDP segmentation offload messages (udp(7)
//! `UDP_SEGMENT`, Linux 4.18).
//!
//! A reader's batch holds, say, 64 ESP datagrams for a handful of clients. Sent one by one,
//! each crosses the kernel's UDP, IP, routing and device layers on its own; grouped by
//! destination into messages of equal-sized datagrams, each message crosses them once and is
//! cut into datagrams at the device (or in the driver, where the NIC segments UDP). This
//! module only plans the grouping; [`crate::datapath`] sends.
//!
//! Order: datagrams to one address keep their order (messages to one address are planned,
//! and sent, in order); datagrams to different addresses may be reordered against each
//! other, which nothing above UDP can tell apart from the network's own timing.

use std::net::SocketAddrV4;

/// One `sendmmsg` call's worth: every message is cut every `segment` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) segment: u16,
    pub(crate) messages: Vec<Message>,
}

/// Datagrams (indices into the run) for one address: all `segment` bytes long but the last,
/// which may be shorter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) to: SocketAddrV4,
    pub(crate) items: Vec<usize>,
    bytes: usize,
}

impl Call {
    /// Whether any message carries more than one datagram (else plain `sendmmsg` serves).
    pub(crate) fn segments_any(&self) -> bool {
        self.messages.iter().any(|m| m.items.len() > 1)
    }
}

/// Plans the run `to[i]` ← datagram of `lens[i]` bytes as calls of messages, in order. Each
/// call takes, from where the last one stopped, every datagram up to the first longer than
/// the call's first (its segment size); a datagram joins the latest message to its address
/// when that message's last datagram is a full segment and the message stays within
/// `max_segments` datagrams and `max_bytes`. An empty datagram is a message of its own.
pub(crate) fn plan(
    to: &[SocketAddrV4],
    lens: &[usize],
    max_segments: usize,
    max_bytes: usize,
) -> Vec<Call> {
    let n = to.len().min(lens.len());
    let mut calls = Vec::new();
    let mut i = 0;
    while let Some(&first) = lens.get(i).filter(|_| i < n) {
        let segment = u16::try_from(first).unwrap_or(u16::MAX);
        let seg = usize::from(segment);
        let mut messages: Vec<Message> = Vec::new();
        while let (Some(&dest), Some(&len)) = (to.get(i), lens.get(i)) {
            if i >= n || len > seg {
                break;
            }
            let open = messages
                .iter_mut()
                .rev()
                .find(|m| m.to == dest)
                .filter(|m| {
                    seg > 0
                        && len > 0
                        && m.items.len() < max_segments
                        && m.bytes + len <= max_bytes
                        && m.items.last().and_then(|&k| lens.get(k)) == Some(&seg)
                });
            match open {
                Some(m) => {
                    m.items.push(i);
                    m.bytes += len;
                }
                None => messages.push(Message {
                    to: dest,
                    items: vec![i],
                    bytes: len,
                }),
            }
            i += 1;
        }
        if messages.is_empty() {
            // Longer than any segment size (no UDP datagram is): alone.
            if let Some(&dest) = to.get(i) {
                messages.push(Message {
                    to: dest,
                    items: vec![i],
                    bytes: first,
                });
            }
            i += 1;
        }
        calls.push(Call { segment, messages });
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(last: u8) -> SocketAddrV4 {
        SocketAddrV4::new([192, 0, 2, last].into(), 4500)
    }

    fn items(call: &Call) -> Vec<(u8, Vec<usize>)> {
        call.messages
            .iter()
            .map(|m| (m.to.ip().octets()[3], m.items.clone()))
            .collect()
    }

    #[test]
    fn interleaved_clients_become_one_message_each_in_their_order() {
        let to = [a(1), a(2), a(1), a(2), a(1), a(3)];
        let calls = plan(&to, &[1480; 6], 64, 65_507);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].segment, 1480);
        assert_eq!(
            items(&calls[0]),
            vec![(1, vec![0, 2, 4]), (2, vec![1, 3]), (3, vec![5])]
        );
        assert!(calls[0].segments_any());
    }

    #[test]
    fn a_short_datagram_ends_its_message_and_a_longer_one_starts_a_call() {
        // To one client: full, full, short, full; then a longer one.
        let to = [a(1); 5];
        let calls = plan(&to, &[1000, 1000, 200, 1000, 1400], 64, 65_507);
        assert_eq!(calls.len(), 2);
        assert_eq!(items(&calls[0]), vec![(1, vec![0, 1, 2]), (1, vec![3])]);
        assert_eq!(
            (calls[1].segment, items(&calls[1])),
            (1400, vec![(1, vec![4])])
        );
        assert!(!calls[1].segments_any());
    }

    #[test]
    fn messages_stay_within_the_segment_and_byte_limits() {
        let to = [a(1); 10];
        let calls = plan(&to, &[100; 10], 4, 65_507);
        assert_eq!(
            items(&calls[0]),
            vec![
                (1, vec![0, 1, 2, 3]),
                (1, vec![4, 5, 6, 7]),
                (1, vec![8, 9])
            ]
        );
        let calls = plan(&to, &[100; 10], 64, 350);
        assert_eq!(
            items(&calls[0]),
            vec![
                (1, vec![0, 1, 2]),
                (1, vec![3, 4, 5]),
                (1, vec![6, 7, 8]),
                (1, vec![9])
            ]
        );
    }

    #[test]
    fn every_datagram_is_planned_once_and_each_address_keeps_its_order() {
        let lens = [1480, 1480, 90, 1480, 0, 1480, 1500, 60, 1500, 1480];
        let to = [a(1), a(2), a(1), a(1), a(2), a(2), a(1), a(1), a(2), a(3)];
        let calls = plan(&to, &lens, 64, 65_507);
        let flat: Vec<usize> = calls
            .iter()
            .flat_map(|c| c.messages.iter().flat_map(|m| m.items.clone()))
            .collect();
        let mut sorted = flat.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..lens.len()).collect::<Vec<_>>());
        for dest in [a(1), a(2), a(3)] {
            let order: Vec<usize> = flat.iter().copied().filter(|&k| to[k] == dest).collect();
            assert!(order.is_sorted(), "{dest}: {order:?}");
        }
        for call in &calls {
            for m in &call.messages {
                let (last, body) = m.items.split_last().unwrap();
                assert!(body.iter().all(|&k| lens[k] == usize::from(call.segment)));
                assert!(lens[*last] <= usize::from(call.segment));
                // An empty datagram never shares a message.
                assert!(m.items.len() == 1 || m.items.iter().all(|&k| lens[k] > 0));
            }
        }
    }

    #[test]
    fn nothing_to_send_plans_nothing() {
        assert!(plan(&[], &[], 64, 65_507).is_empty());
    }
}
