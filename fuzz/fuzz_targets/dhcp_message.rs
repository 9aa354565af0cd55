//! BOOTP/DHCP messages (RFC 2131 §2, RFC 2132) on arbitrary bytes: parse, emit, parse again to
//! the same `Repr`, byte-exact for canonical messages (no Pad before End, End present, zeros
//! after End up to 300 octets). Classless routes (RFC 3442) re-parse to themselves. (The
//! DHCPINFORM responder has its own target, `dhcp_inform`.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::dhcp::{
    ClasslessRoute, ClasslessRoutes, MIN_MESSAGE_LEN, OPTIONS_OFFSET, OptionCode, Packet, Repr,
};

/// Whether `data` is in the form `Repr::emit` writes (the magic cookie is checked by parse).
fn canonical(data: &[u8]) -> bool {
    let mut at = OPTIONS_OFFSET;
    loop {
        match data.get(at) {
            None | Some(0x00) => return false,
            Some(0xff) => break,
            Some(_) => {
                let Some(&len) = data.get(at + 1) else {
                    return false;
                };
                at += 2 + usize::from(len);
            }
        }
    }
    let end = at + 1;
    data.len() == end.max(MIN_MESSAGE_LEN) && data[end..].iter().all(|&b| b == 0)
}

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = (
        packet.client_hw_addr(),
        packet.broadcast(),
        packet.options(),
    );

    let Ok(repr) = Repr::parse(&packet) else {
        return;
    };
    let _ = (repr.message_type(), repr.parameter_request_list());
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out).unwrap();
    let again = Packet::new_checked(&out[..]).unwrap();
    assert_eq!(Repr::parse(&again).unwrap(), repr);
    if canonical(data) {
        assert_eq!(out, data);
    }

    for opt in &repr.options {
        if !matches!(
            opt.code,
            OptionCode::ClasslessStaticRoute | OptionCode::MsClasslessStaticRoute
        ) {
            continue;
        }
        for route in ClasslessRoutes::new(opt.data) {
            let Ok(route) = route else { break };
            let mut buf = vec![0u8; route.buffer_len()];
            route.emit(&mut buf).unwrap();
            let (back, rest) = ClasslessRoute::parse(&buf).unwrap();
            assert!(rest.is_empty());
            assert_eq!(
                (back.prefix_len, back.router),
                (route.prefix_len, route.router)
            );
            // Emitting clears host bits only.
            let mask = u32::MAX
                .checked_shl(32 - u32::from(route.prefix_len))
                .unwrap_or(0);
            assert_eq!(
                u32::from(back.destination),
                u32::from(route.destination) & mask
            );
        }
    }
});
