//! `l2tpd-rs`: the L2TP/IPsec remote-access VPN server.

fn main() {
    println!("l2tpd-rs: not yet implemented");
}
