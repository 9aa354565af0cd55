//! IPv4 fragmentation (RFC 791 §2.3, §3.2) for packets larger than a client's MTU that may be
//! fragmented.

/// Cuts an IPv4 packet into fragments of at most `mtu` bytes (RFC 791 §2.3, §3.2): the
/// data is split on 8-byte boundaries, each fragment carries the header with Total Length,
/// More Fragments, Fragment Offset and the checksum set; non-first fragments carry only the
/// options whose "copied" flag is set (RFC 791 §3.1, "Options"). Calls `each` per fragment,
/// in order; returns false (calling nothing) when the packet cannot be cut (malformed, DF
/// set, or an MTU too small for a header and 8 bytes of data).
pub(super) fn fragment(packet: &[u8], mtu: usize, mut each: impl FnMut(&[u8])) -> bool {
    let Ok(ip) = wire::ip::ipv4::Packet::new_checked(packet) else {
        return false;
    };
    if ip.dont_frag() {
        return false;
    }
    let hlen = ip.header_len();
    let total = usize::from(ip.total_len());
    let (Some(header), Some(data)) = (packet.get(..hlen), packet.get(hlen..total)) else {
        return false;
    };
    // Options for the non-first fragments: only those with the copied flag (0x80).
    let mut later_options = Vec::new();
    let mut opts = header.get(wire::ip::ipv4::HEADER_LEN..).unwrap_or_default();
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            0 => break,
            1 => opts = rest,
            _ => {
                let len = usize::from(rest.first().copied().unwrap_or(0));
                let Some(option) = opts.get(..len).filter(|_| len >= 2) else {
                    break;
                };
                if kind & 0x80 != 0 {
                    later_options.extend_from_slice(option);
                }
                opts = opts.get(len..).unwrap_or_default();
            }
        }
    }
    while later_options.len() % 4 != 0 {
        later_options.push(0);
    }
    let later_hlen = wire::ip::ipv4::HEADER_LEN + later_options.len();
    let step = |h: usize| mtu.saturating_sub(h) / 8 * 8;
    if step(hlen) == 0 || step(later_hlen) == 0 {
        return false;
    }
    let base_offset = usize::from(ip.frag_offset());
    // The last fragment's offset must fit the 13-bit field (RFC 791 §3.1); a packet that would
    // end past it is invalid already.
    if base_offset + data.len() / 8 > 0x1fff {
        return false;
    }
    let last_mf = ip.more_frags();
    let mut frag = Vec::with_capacity(mtu);
    let mut done = 0;
    while done < data.len() {
        let first = done == 0;
        let h = if first { hlen } else { later_hlen };
        let take = (data.len() - done).min(step(h));
        let last = done + take == data.len();
        frag.clear();
        if first {
            frag.extend_from_slice(header);
        } else {
            frag.extend_from_slice(header.get(..wire::ip::ipv4::HEADER_LEN).unwrap_or_default());
            frag.extend_from_slice(&later_options);
        }
        frag.extend_from_slice(data.get(done..done + take).unwrap_or_default());
        let offset = u16::try_from(base_offset + done / 8).unwrap_or(u16::MAX);
        let mf = if last { last_mf } else { true };
        let mut p = wire::ip::ipv4::Packet::new_unchecked(&mut frag[..]);
        p.set_version_and_header_len(h);
        p.set_total_len(u16::try_from(h + take).unwrap_or(u16::MAX));
        p.set_fragment(mf, offset);
        p.fill_checksum();
        each(&frag);
        done += take;
    }
    true
}
