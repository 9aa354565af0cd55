//! Creates real devices and sockets inside a fresh network namespace (root only; skipped with a
//! printed reason otherwise). Each test runs in its own thread, which `unshare(CLONE_NEWNET)`
//! moves into a new namespace that disappears with the thread.
// `unshare` has no safe wrapper among the crate's dependencies.
#![allow(unsafe_code)]

use std::net::{Ipv4Addr, UdpSocket};

fn in_fresh_netns<F: FnOnce() + Send + 'static>(test: &str, f: F) {
    if !nix::unistd::Uid::effective().is_root() {
        println!("skipping {test}: needs root (CAP_NET_ADMIN) to create a network namespace");
        return;
    }
    std::thread::spawn(move || {
        // SAFETY: `unshare` takes a flag word and touches no memory of ours; CLONE_NEWNET only
        // changes this thread's network namespace.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        );
        tun::set_up("lo").unwrap();
        f();
    })
    .join()
    .unwrap();
}

#[test]
fn tun_is_created_configured_and_carries_packets() {
    in_fresh_netns("tun_is_created_configured_and_carries_packets", || {
        let dev = tun::Tun::create("l2tptest0").unwrap();
        assert_eq!(dev.name(), "l2tptest0");
        tun::set_ipv4_address(
            "l2tptest0",
            Ipv4Addr::new(10, 99, 0, 1),
            Ipv4Addr::new(255, 255, 255, 0),
        )
        .unwrap();
        tun::set_mtu("l2tptest0", 1400).unwrap();
        tun::set_up("l2tptest0").unwrap();
        tun::add_route(Ipv4Addr::new(10, 98, 0, 77), 24, "l2tptest0").unwrap();
        // Adding it again is not an error.
        tun::add_route(Ipv4Addr::new(10, 98, 0, 0), 24, "l2tptest0").unwrap();

        assert_eq!(
            tun::ipv4_address("l2tptest0").unwrap(),
            (Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(255, 255, 255, 0))
        );
        assert_eq!(tun::mtu("l2tptest0").unwrap(), 1400);
        assert!(tun::is_up("l2tptest0").unwrap());
        let routes = std::fs::read_to_string("/proc/thread-self/net/route").unwrap();
        // /proc/net/route: destination 10.98.0.0 is "0000620A" (little-endian hex).
        assert!(
            routes.lines().any(|l| l.starts_with("l2tptest0\t0000620A")),
            "no route for 10.98.0.0/24:\n{routes}"
        );

        // A datagram to a pool address leaves through the TUN as a bare IPv4 packet.
        let sock = UdpSocket::bind("10.99.0.1:0").unwrap();
        sock.send_to(b"to-the-client", "10.99.0.2:1234").unwrap();
        let mut buf = [0u8; 2000];
        let n = read_blocking(&dev, &mut buf);
        let packet = &buf[..n];
        assert_eq!(packet[0] >> 4, 4, "IPv4 without packet-information header");
        assert_eq!(packet[9], 17, "UDP");
        assert_eq!(&packet[16..20], &[10, 99, 0, 2]);
        assert!(packet.ends_with(b"to-the-client"));

        // Writing an IPv4 packet into the TUN delivers it to the local stack.
        let reply = udp_packet(
            [10, 99, 0, 2],
            [10, 99, 0, 1],
            1234,
            sock.local_addr().unwrap().port(),
            b"reply",
        );
        assert_eq!(dev.write(&reply).unwrap(), reply.len());
        sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"reply");
        assert_eq!(from, "10.99.0.2:1234".parse().unwrap());

        assert!(matches!(
            tun::Tun::create("this-name-is-too-long"),
            Err(tun::Error::BadName(_))
        ));
    });
}

#[test]
fn multi_queue_tun_spreads_flows_and_takes_writes_on_any_queue() {
    in_fresh_netns(
        "multi_queue_tun_spreads_flows_and_takes_writes_on_any_queue",
        || {
            let queues = tun::Tun::create_multi_queue("l2tpmq0", 3).unwrap();
            assert_eq!(queues.len(), 3);
            assert!(queues.iter().all(|q| q.name() == "l2tpmq0"));
            tun::set_ipv4_address(
                "l2tpmq0",
                Ipv4Addr::new(10, 99, 0, 1),
                Ipv4Addr::new(255, 255, 255, 0),
            )
            .unwrap();
            tun::set_up("l2tpmq0").unwrap();

            // Datagrams of many flows leave through the queues; each arrives exactly once, on
            // some queue.
            let sock = UdpSocket::bind("10.99.0.1:0").unwrap();
            let flows = 24u16;
            for port in 0..flows {
                sock.send_to(&port.to_be_bytes(), ("10.99.0.2", 2000 + port))
                    .unwrap();
            }
            let mut seen = Vec::new();
            let mut per_queue = [0usize; 3];
            let mut buf = [0u8; 2000];
            for _ in 0..200 {
                for (i, q) in queues.iter().enumerate() {
                    while let Ok(n) = q.read(&mut buf) {
                        if n > 28 && buf[0] >> 4 == 4 && buf[9] == 17 {
                            seen.push(u16::from_be_bytes([buf[28], buf[29]]));
                            per_queue[i] += 1;
                        }
                    }
                }
                if seen.len() == usize::from(flows) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..flows).collect::<Vec<_>>(), "each flow once");
            println!("packets per queue: {per_queue:?}");

            // A packet written to the last queue reaches the local stack.
            let reply = udp_packet(
                [10, 99, 0, 2],
                [10, 99, 0, 1],
                1234,
                sock.local_addr().unwrap().port(),
                b"via queue 2",
            );
            assert_eq!(queues[2].write(&reply).unwrap(), reply.len());
            sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
            let (n, _) = sock.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"via queue 2");
        },
    );
}

#[test]
fn raw_esp_socket_sends_and_receives() {
    in_fresh_netns("raw_esp_socket_sends_and_receives", || {
        let rx = tun::open_raw_esp(Some(Ipv4Addr::LOCALHOST)).unwrap();
        let tx = tun::open_raw_esp(None).unwrap();
        let esp = [0x00, 0x00, 0x10, 0x01, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd];
        assert_eq!(
            tun::send_esp(&tx, &esp, Ipv4Addr::LOCALHOST).unwrap(),
            esp.len()
        );
        let mut buf = [0u8; 256];
        let mut got = None;
        for _ in 0..200 {
            match tun::recv_esp(&rx, &mut buf) {
                Ok(p) => {
                    got = Some(p);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("{e}"),
            }
        }
        let p = got.expect("no ESP packet arrived");
        assert_eq!(p.source, Ipv4Addr::LOCALHOST);
        assert_eq!(p.destination, Ipv4Addr::LOCALHOST);
        assert_eq!(&buf[p.esp_offset..p.len], &esp);
    });
}

/// A TUN device `name` at 10.99.0.1/24, MTU 1400, without IPv6, up.
fn tun_up(name: &str) -> tun::Tun {
    let dev = tun::Tun::create(name).unwrap();
    tun::set_ipv4_address(
        name,
        Ipv4Addr::new(10, 99, 0, 1),
        Ipv4Addr::new(255, 255, 255, 0),
    )
    .unwrap();
    tun::set_mtu(name, 1400).unwrap();
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
    tun::set_up(name).unwrap();
    dev
}

fn read_blocking(dev: &tun::Tun, buf: &mut [u8]) -> usize {
    for _ in 0..200 {
        match dev.read(buf) {
            Ok(n) => {
                // Skip anything that is not our IPv4 UDP datagram (e.g. IPv6 router solicitations).
                if n > 20 && buf[0] >> 4 == 4 && buf[9] == 17 {
                    return n;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("nothing arrived on the TUN device");
}

/// An IPv4/UDP packet with a valid header checksum and UDP checksum 0.
#[test]
fn a_segmented_write_arrives_as_separate_datagrams() {
    in_fresh_netns("a_segmented_write_arrives_as_separate_datagrams", || {
        let dev = tun_up("l2tpuso0");
        let sock = UdpSocket::bind("10.99.0.1:9000").unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let payloads: Vec<Vec<u8>> = vec![vec![1; 300], vec![2; 300], vec![3; 120]];
        let total: usize = payloads.iter().map(Vec::len).sum();
        // The run's headers: lengths of the whole run, UDP checksum = pseudo-header sum.
        let whole = udp_packet([10, 99, 0, 2], [10, 99, 0, 1], 5000, 9000, &vec![0; total]);
        let mut headers = [0u8; tun::UDP_RUN_HEADERS];
        headers.copy_from_slice(&whole[..28]);
        let ulen = (8 + total) as u32;
        let mut sum: u32 = [[10u8, 99], [0, 2], [10, 99], [0, 1]]
            .iter()
            .map(|w| u32::from(u16::from_be_bytes(*w)))
            .sum::<u32>()
            + 17
            + ulen;
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        headers[26..28].copy_from_slice(&(sum as u16).to_be_bytes());
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        match dev.write_segmented(300, &headers, &refs) {
            Ok(n) => assert_eq!(n, 28 + total),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                println!("skipping: this kernel cannot take segmented TUN writes ({e})");
                return;
            }
            Err(e) => panic!("{e}"),
        }
        let mut buf = [0u8; 2000];
        for want in &payloads {
            let (n, from) = sock.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], want.as_slice());
            assert_eq!(from, "10.99.0.2:5000".parse().unwrap());
        }
        // A plain write after it still works.
        let one = udp_packet([10, 99, 0, 2], [10, 99, 0, 1], 5000, 9000, b"one");
        assert_eq!(dev.write(&one).unwrap(), one.len());
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
    });
}

/// With offloads on, a segmented UDP send routed into the device arrives as one read that
/// says how to cut it; without them, as separate datagrams.
#[test]
fn with_offloads_a_segmented_send_is_read_whole() {
    in_fresh_netns("with_offloads_a_segmented_send_is_read_whole", || {
        let dev = tun_up("l2tptso0");
        let offloads = dev.enable_offloads().unwrap();
        assert!(offloads.tcp);
        let sock = UdpSocket::bind("10.99.0.1:7000").unwrap();
        let mut batch = tun::SendBatch::new(4);
        let payload = vec![0x5a_u8; 1000];
        let slices = [std::io::IoSlice::new(&payload); 3];
        let to = [std::net::SocketAddrV4::new(
            Ipv4Addr::new(10, 99, 0, 2),
            9000,
        )];
        let n = tun::send_segments_from(&sock, &mut batch, 400, &[&slices[..]], None, &to).unwrap();
        assert_eq!(n, 1);
        let mut buf = vec![0u8; 65_535];
        let mut reads = Vec::new();
        for _ in 0..200 {
            match dev.read_offloaded(&mut buf) {
                Ok((n, seg)) if n > 20 && buf[0] == 0x45 && buf[9] == 17 => {
                    reads.push((n, seg));
                    let whole: usize = reads.iter().map(|(n, _)| n).sum();
                    if whole >= 3000 {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("{e}"),
            }
        }
        if offloads.udp {
            // One read: the headers and all 3,000 octets, to be cut every 400.
            assert_eq!(reads, vec![(28 + 3000, tun::Segmentation::Udp(400))]);
        } else {
            println!("this kernel hands over UDP segmented (no TUN_F_USO4)");
            assert_eq!(reads.len(), 8);
            assert!(reads.iter().all(|(_, s)| *s == tun::Segmentation::None));
        }
    });
}

fn udp_packet(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let mut sum: u32 = p
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    p[10..12].copy_from_slice(&csum.to_be_bytes());
    let ulen = (8 + payload.len()) as u16;
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&ulen.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// With offloads on, a TCP stream the kernel sends into the device arrives as segmented
/// packets (TSO) that `wire::ip::gso` cuts into segments the kernel would have sent: valid
/// checksums, consecutive sequence numbers, the bytes written in order.
#[test]
fn with_offloads_a_tcp_stream_is_read_segmented_and_cut_into_valid_segments() {
    use std::io::Write;
    use wire::ip::{Protocol, checksum, gso};

    in_fresh_netns(
        "with_offloads_a_tcp_stream_is_read_segmented_and_cut_into_valid_segments",
        || {
            let dev = tun_up("l2tptcp0");
            assert!(dev.enable_offloads().unwrap().tcp);
            let (local, peer) = (Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2));
            let connecting = std::thread::spawn(move || {
                std::net::TcpStream::connect_timeout(
                    &std::net::SocketAddr::from((peer, 80)),
                    std::time::Duration::from_secs(5),
                )
            });
            let mut buf = vec![0u8; 65_535];
            let next_tcp = |buf: &mut [u8]| -> (usize, tun::Segmentation) {
                for _ in 0..500 {
                    match dev.read_offloaded(buf) {
                        Ok((n, seg)) if n >= 40 && buf[0] == 0x45 && buf[9] == 6 => {
                            return (n, seg);
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(std::time::Duration::from_millis(10));
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                panic!("no TCP packet on the device");
            };
            // The SYN; answer it with a SYN-ACK announcing an MSS of 1000.
            let (n, seg) = next_tcp(&mut buf);
            assert_eq!(seg, tun::Segmentation::None);
            let syn = buf[..n].to_vec();
            let ihl = usize::from(syn[0] & 0x0f) * 4;
            assert_eq!(syn[ihl + 13] & 0x02, 0x02, "SYN");
            let client_port = [syn[ihl], syn[ihl + 1]];
            let client_seq = u32::from_be_bytes(syn[ihl + 4..ihl + 8].try_into().unwrap());
            let server_seq = 7_000_000u32;
            let mut tcp = Vec::new();
            tcp.extend_from_slice(&80u16.to_be_bytes());
            tcp.extend_from_slice(&client_port);
            tcp.extend_from_slice(&server_seq.to_be_bytes());
            tcp.extend_from_slice(&client_seq.wrapping_add(1).to_be_bytes());
            tcp.extend_from_slice(&[6 << 4, 0x12, 0xff, 0xff, 0, 0, 0, 0]);
            tcp.extend_from_slice(&[2, 4, 0x03, 0xe8]); // MSS 1000
            let sum = !checksum::combine(&[
                checksum::pseudo_header(peer, local, Protocol::Tcp, tcp.len() as u16),
                checksum::data(&tcp),
            ]);
            tcp[16..18].copy_from_slice(&sum.to_be_bytes());
            let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
            ip.extend_from_slice(&peer.octets());
            ip.extend_from_slice(&local.octets());
            let total = (ip.len() + tcp.len()) as u16;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            let sum = !checksum::data(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            ip.extend_from_slice(&tcp);
            dev.write(&ip).unwrap();
            let mut stream = connecting.join().unwrap().unwrap();
            // More than the initial congestion window (10 segments): nothing is acknowledged,
            // so the kernel sends that much and waits.
            let data: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
            stream.write_all(&data).unwrap();
            let mut joined = Vec::new();
            let mut segmented_reads = 0;
            let mut piece = vec![0u8; 65_535];
            while joined.len() < 10_000 {
                let (n, seg) = next_tcp(&mut buf);
                let (transport, size) = match seg {
                    tun::Segmentation::Tcp(size) => {
                        segmented_reads += 1;
                        (gso::Transport::Tcp, size)
                    }
                    tun::Segmentation::None => (gso::Transport::Tcp, 1000),
                    other => panic!("{other:?}"),
                };
                gso::split(&buf[..n], transport, size, &mut piece, |p| {
                    let ihl = usize::from(p[0] & 0x0f) * 4;
                    assert_eq!(checksum::data(&p[..ihl]), 0xffff, "IPv4 checksum");
                    let l4 = &p[ihl..];
                    let sum = checksum::combine(&[
                        checksum::pseudo_header(local, peer, Protocol::Tcp, l4.len() as u16),
                        checksum::data(l4),
                    ]);
                    assert_eq!(sum, 0xffff, "TCP checksum");
                    let seq = u32::from_be_bytes(l4[4..8].try_into().unwrap());
                    let payload = &l4[usize::from(l4[12] >> 4) * 4..];
                    if payload.is_empty() {
                        return; // the handshake's ACK
                    }
                    assert!(payload.len() <= 1000);
                    assert_eq!(
                        seq,
                        client_seq.wrapping_add(1).wrapping_add(joined.len() as u32)
                    );
                    joined.extend_from_slice(payload);
                })
                .unwrap();
            }
            assert_eq!(joined, data[..joined.len()]);
            assert!(segmented_reads > 0, "the kernel sent no segmented packet");
        },
    );
}
