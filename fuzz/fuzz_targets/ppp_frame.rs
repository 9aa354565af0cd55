//! PPP frame header plus LCP/IPCP/CCP/IPV6CP packets and their typed options: parse, emit and
//! parse again must agree, and the emitted bytes must equal the canonical input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::ppp::control::{self, ConfigOption, OptionIter, Repr};
use wire::ppp::ipcp::IpcpOption;
use wire::ppp::lcp::LcpOption;
use wire::ppp::ncp::{CcpOption, Ipv6cpOption};
use wire::ppp::{Packet, Protocol};

fn options_round_trip<'a, O: ConfigOption<'a> + PartialEq + core::fmt::Debug>(data: &'a [u8]) {
    for raw in OptionIter::new(data) {
        let Ok(raw) = raw else { return };
        let Ok(option) = O::parse(raw) else { continue };
        let mut buf = vec![0u8; option.buffer_len()];
        option.emit(&mut buf).expect("emit of a parsed option");
        assert_eq!(buf[0], raw.kind);
        assert_eq!(&buf[2..], raw.data, "option round trip");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let header = wire::ppp::Repr::parse(&packet).expect("checked frame parses");
    let mut out = vec![0u8; header.buffer_len()];
    header.emit(&mut out).expect("emit of a parsed header");
    assert_eq!(
        &out[..],
        &data[..header.buffer_len()],
        "frame header round trip"
    );

    let protocol = packet.protocol();
    let payload = &data[header.buffer_len()..];
    let Ok(cp) = control::Packet::new_checked(payload) else {
        return;
    };
    let canonical = &payload[..usize::from(cp.length())];
    for proto in [
        Protocol::Lcp,
        Protocol::Ipcp,
        Protocol::Ccp,
        Protocol::Ipv6cp,
        protocol,
    ] {
        let Ok(repr) = Repr::parse(&cp, proto) else {
            continue;
        };
        assert_eq!(repr.buffer_len(), canonical.len());
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out).expect("emit of a parsed packet");
        assert_eq!(&out[..], canonical, "control packet round trip");
        let again = Repr::parse(&control::Packet::new_checked(&out[..]).unwrap(), proto).unwrap();
        assert_eq!(again, repr);
    }
    let body = cp.data();
    options_round_trip::<LcpOption<'_>>(body);
    options_round_trip::<IpcpOption<'_>>(body);
    options_round_trip::<CcpOption<'_>>(body);
    options_round_trip::<Ipv6cpOption<'_>>(body);
});
