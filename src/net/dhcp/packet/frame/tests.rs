use super::*;
use crate::net::dhcp::packet::tests::{MAC, dnsmasq_offer, ip};

#[test]
fn rfc1071_checksum_example() {
    // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    assert_eq!(
        internet_checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
        !0xddf2
    );
    // An odd length is padded with a zero byte.
    assert_eq!(internet_checksum(&[&[0x01]]), !0x0100);
}

#[test]
fn frames_round_trip_with_valid_checksums() {
    let payload = ClientMessage {
        kind: ClientKind::Discover,
        xid: 1,
        secs: 0,
        mac: MAC,
        hostname: "n",
    }
    .encode();
    let frame = encode_client_broadcast(&payload).expect("fits");
    assert_eq!(frame.len(), 20 + 8 + payload.len());
    assert_eq!(
        &frame[..4],
        &[0x45, 0, 0x01, 0x48],
        "version, IHL, total length 328"
    );
    assert_eq!(internet_checksum(&[&frame[..20]]), 0, "IP header checksum");
    let pseudo = pseudo_header(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 308);
    assert_eq!(
        internet_checksum(&[&pseudo, &frame[20..]]),
        0,
        "UDP checksum"
    );
    let datagram = parse_udp(&frame, SERVER_PORT).expect("parses");
    assert_eq!(
        (
            datagram.src,
            datagram.dst,
            datagram.src_port,
            datagram.dst_port
        ),
        (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 68, 67)
    );
    assert_eq!(datagram.payload, &payload[..]);
    // Ethernet padding after the IP packet is not part of it.
    let padded = [&frame[..], &[0u8; 18][..]].concat();
    assert_eq!(
        parse_udp(&padded, SERVER_PORT).expect("parses").payload,
        &payload[..]
    );
}

#[test]
fn malformed_frames_are_named() {
    let reply = encode_udp(
        (ip("192.168.77.1"), 67),
        (Ipv4Addr::BROADCAST, 68),
        &dnsmasq_offer(),
    )
    .expect("fits");
    assert_eq!(
        parse_udp(&reply, CLIENT_PORT).expect("a reply").payload,
        &dnsmasq_offer()[..]
    );
    let patched = |at: usize, bytes: &[u8], fix_checksum: bool| {
        let mut frame = reply.clone();
        frame[at..at + bytes.len()].copy_from_slice(bytes);
        if fix_checksum {
            frame[10..12].copy_from_slice(&[0, 0]);
            let sum = internet_checksum(&[&frame[..20]]);
            frame[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        frame
    };
    let len = reply.len();
    let cases: Vec<(&str, Vec<u8>, FrameError)> = vec![
        (
            "short",
            reply[..19].to_vec(),
            FrameError::TooShort { len: 19 },
        ),
        (
            "IPv6",
            patched(0, &[0x65], true),
            FrameError::NotIpv4 { version: 6 },
        ),
        (
            "IHL 4",
            patched(0, &[0x44], true),
            FrameError::BadHeaderLength { ihl: 4 },
        ),
        (
            "IHL past the packet",
            [&patched(0, &[0x4f], false)[..20], &[0; 20][..]].concat(),
            FrameError::BadHeaderLength { ihl: 15 },
        ),
        (
            "cut short",
            reply[..len - 1].to_vec(),
            FrameError::BadTotalLength {
                total: len,
                received: len - 1,
            },
        ),
        (
            "more fragments",
            patched(6, &[0x20, 0], true),
            FrameError::Fragment,
        ),
        (
            "fragment offset",
            patched(6, &[0, 0x10], true),
            FrameError::Fragment,
        ),
        (
            "TCP",
            patched(9, &[6], true),
            FrameError::NotUdp { protocol: 6 },
        ),
        (
            "header checksum",
            patched(8, &[1], false),
            FrameError::BadHeaderChecksum,
        ),
        (
            "to the server port",
            patched(22, &[0, 67], true),
            FrameError::WrongPort {
                port: 67,
                expected: 68,
            },
        ),
        (
            "UDP length too long",
            patched(24, &[0xff, 0xff], true),
            FrameError::BadUdpLength {
                udp_len: 0xffff,
                available: len - 20,
            },
        ),
        (
            "UDP length too short",
            patched(24, &[0, 7], true),
            FrameError::BadUdpLength {
                udp_len: 7,
                available: len - 20,
            },
        ),
    ];
    for (name, frame, expected) in cases {
        assert_eq!(parse_udp(&frame, CLIENT_PORT), Err(expected), "{name}");
    }
    // Don't-fragment alone is fine.
    assert!(parse_udp(&patched(6, &[0x40, 0], true), CLIENT_PORT).is_ok());
}
