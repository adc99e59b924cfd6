use super::*;

use proptest::prelude::*;

pub(super) const MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

pub(super) fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

/// A server reply laid out by hand, field by field, as RFC 2131 figure 1 draws it.
struct ReplyBytes<'a> {
    op: u8,
    xid: u32,
    mac: Mac,
    yiaddr: &'a str,
    siaddr: &'a str,
    sname: &'a [u8],
    file: &'a [u8],
    /// Raw bytes of the options field after the cookie (codes, lengths and END included).
    options: &'a [u8],
}

impl ReplyBytes<'_> {
    fn build(&self) -> Vec<u8> {
        let mut b = vec![0u8; 240];
        b[0] = self.op;
        b[1] = 1;
        b[2] = 6;
        b[4..8].copy_from_slice(&self.xid.to_be_bytes());
        b[10] = 0x80; // broadcast flag echoed, as dnsmasq does
        b[16..20].copy_from_slice(&ip(self.yiaddr).octets());
        b[20..24].copy_from_slice(&ip(self.siaddr).octets());
        b[28..34].copy_from_slice(&self.mac.0);
        b[44..44 + self.sname.len()].copy_from_slice(self.sname);
        b[108..108 + self.file.len()].copy_from_slice(self.file);
        b[236..240].copy_from_slice(&[99, 130, 83, 99]);
        b.extend_from_slice(self.options);
        b
    }
}

/// Laid out like what dnsmasq 2.90 sends for `--dhcp-range=192.168.77.10,192.168.77.99,12h
/// --dhcp-host=52:54:00:12:34:56,192.168.77.50,node7 --domain=cluster.home
/// --dhcp-boot=pxelinux.0,bootsrv,192.168.77.1` with DNS, NTP and root path options: options
/// in dnsmasq's order (53, 54, 51, 58, 59, 1, 28, 3, 6, 15, 12, 42, 17).
const DNSMASQ_OPTIONS: &[u8] = &[
    53, 1, 2, // OFFER
    54, 4, 192, 168, 77, 1, // server id
    51, 4, 0, 0, 0xa8, 0xc0, // 43200 s
    58, 4, 0, 0, 0x54, 0x60, // T1 21600
    59, 4, 0, 0, 0x93, 0xa8, // T2 37800
    1, 4, 255, 255, 255, 0, // netmask
    28, 4, 192, 168, 77, 255, // broadcast
    3, 4, 192, 168, 77, 1, // router
    6, 8, 192, 168, 77, 1, 1, 1, 1, 1, // DNS
    15, 12, b'c', b'l', b'u', b's', b't', b'e', b'r', b'.', b'h', b'o', b'm', b'e', // domain
    12, 5, b'n', b'o', b'd', b'e', b'7', // host name
    42, 4, 192, 168, 77, 1, // NTP
    17, 9, b'/', b's', b'r', b'v', b'/', b'r', b'o', b'o', b't', // root path
    255, 0, 0, 0, // END and padding
];

pub(super) fn dnsmasq_offer() -> Vec<u8> {
    ReplyBytes {
        op: 2,
        xid: 0x1234_abcd,
        mac: MAC,
        yiaddr: "192.168.77.50",
        siaddr: "192.168.77.1",
        sname: b"bootsrv",
        file: b"pxelinux.0",
        options: DNSMASQ_OPTIONS,
    }
    .build()
}

#[test]
fn decodes_a_dnsmasq_offer() {
    let reply = Reply::decode(&dnsmasq_offer()).expect("decodes");
    let expected = Reply {
        message_type: MessageType::Offer,
        xid: 0x1234_abcd,
        chaddr: MAC,
        yiaddr: ip("192.168.77.50"),
        siaddr: ip("192.168.77.1"),
        giaddr: Ipv4Addr::UNSPECIFIED,
        options: ReplyOptions {
            subnet_mask: Some(ip("255.255.255.0")),
            routers: vec![ip("192.168.77.1")],
            dns: vec![ip("192.168.77.1"), ip("1.1.1.1")],
            hostname: Some("node7".into()),
            domain: Some("cluster.home".into()),
            root_path: Some("/srv/root".into()),
            mtu: None,
            broadcast: Some(ip("192.168.77.255")),
            ntp: vec![ip("192.168.77.1")],
            lease_secs: Some(43200),
            server_id: Some(ip("192.168.77.1")),
            message: None,
            t1: Some(21600),
            t2: Some(37800),
            tftp_server_name: Some("bootsrv".into()),
            boot_file: Some("pxelinux.0".into()),
            search: vec![],
            classless_routes: None,
        },
    };
    assert_eq!(reply, expected);
}

/// Options and fixed fields in various shapes, and the one value each test looks at.
#[test]
fn option_forms() {
    type Check = fn(&Reply) -> String;
    /// Name, sname field, file field, options field, what to look at, what it shows.
    type Case<'a> = (&'a str, &'a [u8], &'a [u8], &'a [u8], Check, &'a str);
    let cases: &[Case<'_>] = &[
        (
            "options 66/67 win over sname/file",
            b"fixed-server",
            b"fixed.file",
            &[
                53, 1, 5, 66, 4, b't', b'f', b't', b'p', 67, 3, b'a', b'.', b'b', 255,
            ],
            |r| format!("{:?} {:?}", r.options.tftp_server_name, r.options.boot_file),
            r#"Some("tftp") Some("a.b")"#,
        ),
        (
            "overload 3: options in file, then sname (RFC 3396 order)",
            &[6, 4, 9, 9, 9, 9, 255],
            &[6, 4, 8, 8, 8, 8, 67, 2, b'f', b'n', 255],
            &[53, 1, 5, 52, 1, 3, 6, 4, 7, 7, 7, 7, 255],
            |r| {
                format!(
                    "{:?} {:?} {:?}",
                    r.options.dns, r.options.boot_file, r.options.tftp_server_name
                )
            },
            r#"[7.7.7.7, 8.8.8.8, 9.9.9.9] Some("fn") None"#,
        ),
        (
            "overload 1: sname is still a name",
            b"srv",
            &[12, 2, b'h', b'1', 255],
            &[53, 1, 5, 52, 1, 1, 255],
            |r| {
                format!(
                    "{:?} {:?} {:?}",
                    r.options.hostname, r.options.tftp_server_name, r.options.boot_file
                )
            },
            r#"Some("h1") Some("srv") None"#,
        ),
        (
            "a long option split in two is concatenated (RFC 3396)",
            b"",
            b"",
            &[53, 1, 5, 3, 4, 10, 0, 0, 1, 0, 3, 4, 10, 0, 0, 2, 255],
            |r| format!("{:?}", r.options.routers),
            "[10.0.0.1, 10.0.0.2]",
        ),
        (
            "pads anywhere, and no END at all",
            b"",
            b"",
            &[0, 0, 53, 1, 5, 0, 26, 2, 0x05, 0xdc],
            |r| format!("{:?} {:?}", r.message_type, r.options.mtu),
            "Ack Some(1500)",
        ),
        (
            "trailing NULs of a text option are dropped; an all-NUL one is absent",
            b"",
            b"",
            &[53, 1, 5, 12, 4, b'n', b'1', 0, 0, 15, 1, 0, 255],
            |r| format!("{:?} {:?}", r.options.hostname, r.options.domain),
            r#"Some("n1") None"#,
        ),
        (
            "unknown options are skipped",
            b"",
            b"",
            &[
                53, 1, 6, 224, 3, 1, 2, 3, 56, 8, b'n', b'o', b' ', b'l', b'e', b'a', b's', b'e',
                255,
            ],
            |r| format!("{:?} {:?}", r.message_type, r.options.message),
            r#"Nak Some("no lease")"#,
        ),
        (
            "option 121 present, even empty",
            b"",
            b"",
            &[53, 1, 5, 121, 0, 255],
            |r| format!("{:?}", r.options.classless_routes),
            "Some([])",
        ),
    ];
    for (name, sname, file, options, check, expected) in cases {
        let bytes = ReplyBytes {
            op: 2,
            xid: 7,
            mac: MAC,
            yiaddr: "10.0.0.9",
            siaddr: "0.0.0.0",
            sname,
            file,
            options,
        }
        .build();
        let reply = Reply::decode(&bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(check(&reply), *expected, "{name}");
    }
}

/// RFC 3397 section 3's example, and other search lists.
#[test]
fn domain_search_lists() {
    let rfc_example: &[u8] = &[
        3, b'e', b'n', b'g', 5, b'a', b'p', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, //
        9, b'm', b'a', b'r', b'k', b'e', b't', b'i', b'n', b'g', 0xc0, 4,
    ];
    let cases: &[(&[u8], &[&str])] = &[
        (rfc_example, &["eng.apple.com", "marketing.apple.com"]),
        (
            &[
                7, b'c', b'l', b'u', b's', b't', b'e', b'r', 4, b'h', b'o', b'm', b'e', 0,
            ],
            &["cluster.home"],
        ),
        // A pointer to a whole earlier name, then a chain of two pointers.
        (
            &[1, b'a', 1, b'b', 0, 0xc0, 0, 1, b'c', 0xc0, 2],
            &["a.b", "a.b", "c.b"],
        ),
        (&[], &[]),
    ];
    for (data, names) in cases {
        let got = domain_search(data).unwrap_or_else(|err| panic!("{data:?}: {err}"));
        assert_eq!(
            got,
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
            "{data:?}"
        );
    }
}

/// RFC 3442 section 1's examples of destination encodings.
#[test]
fn classless_route_encodings() {
    let gw = [192, 168, 1, 1];
    let cases: &[(&[u8], &str, u8)] = &[
        (&[0], "0.0.0.0", 0),
        (&[8, 10], "10.0.0.0", 8),
        (&[16, 10, 17], "10.17.0.0", 16),
        (&[24, 10, 27, 129], "10.27.129.0", 24),
        (&[25, 10, 229, 0, 128], "10.229.0.128", 25),
        (&[32, 10, 198, 122, 47], "10.198.122.47", 32),
        // Bits past the prefix are not part of the destination.
        (&[9, 10, 255], "10.128.0.0", 9),
    ];
    for (dest, expected, prefix_len) in cases {
        let data = [*dest, &gw[..]].concat();
        let routes = classless_routes(&data).unwrap_or_else(|err| panic!("{dest:?}: {err}"));
        assert_eq!(
            routes,
            vec![Route {
                dest: ip(expected),
                prefix_len: *prefix_len,
                gateway: ip("192.168.1.1")
            }]
        );
    }
    let two = classless_routes(&[0, 10, 0, 0, 1, 16, 172, 16, 0, 0, 0, 0]).expect("two routes");
    assert_eq!(
        two,
        vec![
            Route {
                dest: ip("0.0.0.0"),
                prefix_len: 0,
                gateway: ip("10.0.0.1")
            },
            Route {
                dest: ip("172.16.0.0"),
                prefix_len: 16,
                gateway: ip("0.0.0.0")
            },
        ]
    );
}

/// Malformed replies, each with the error that names what is wrong.
#[test]
fn malformed_replies_are_named() {
    let offer = dnsmasq_offer();
    let with_options = |options: &[u8]| {
        ReplyBytes {
            op: 2,
            xid: 1,
            mac: MAC,
            yiaddr: "10.0.0.9",
            siaddr: "0.0.0.0",
            sname: b"",
            file: b"",
            options,
        }
        .build()
    };
    let field = Field::Option;
    let cases: Vec<(&str, Vec<u8>, DecodeError)> = vec![
        ("empty", vec![], DecodeError::TooShort { len: 0 }),
        (
            "cut before the cookie",
            offer[..239].to_vec(),
            DecodeError::TooShort { len: 239 },
        ),
        (
            "BOOTREQUEST",
            [&[1u8][..], &offer[1..]].concat(),
            DecodeError::NotReply { op: 1 },
        ),
        (
            "not Ethernet",
            [&[2u8, 6, 6][..], &offer[3..]].concat(),
            DecodeError::NotEthernet { htype: 6, hlen: 6 },
        ),
        (
            "BOOTP vendor area",
            [&offer[..236], &[0, 0, 0, 0][..], &offer[240..]].concat(),
            DecodeError::BadCookie {
                cookie: [0, 0, 0, 0],
            },
        ),
        (
            "no message type",
            with_options(&[1, 4, 255, 255, 255, 0, 255]),
            DecodeError::NoMessageType,
        ),
        (
            "unknown message type",
            with_options(&[53, 1, 9, 255]),
            DecodeError::UnknownMessageType(9),
        ),
        (
            "option length past the end",
            with_options(&[53, 1, 2, 6, 8, 1, 1, 1, 1]),
            DecodeError::OptionOverrun {
                code: 6,
                area: Area::Options,
            },
        ),
        (
            "length byte missing",
            with_options(&[53, 1, 2, 6]),
            DecodeError::OptionOverrun {
                code: 6,
                area: Area::Options,
            },
        ),
        (
            "two message types",
            with_options(&[53, 1, 2, 53, 1, 5, 255]),
            bad_length(53, 2, "1"),
        ),
        (
            "short netmask",
            with_options(&[53, 1, 2, 1, 3, 255, 255, 255, 255]),
            bad_length(1, 3, "4"),
        ),
        (
            "ragged router list",
            with_options(&[53, 1, 2, 3, 5, 1, 2, 3, 4, 5, 255]),
            bad_length(3, 5, "a non-zero multiple of 4"),
        ),
        (
            "empty DNS list",
            with_options(&[53, 1, 2, 6, 0, 255]),
            bad_length(6, 0, "a non-zero multiple of 4"),
        ),
        (
            "short lease time",
            with_options(&[53, 1, 2, 51, 2, 1, 0, 255]),
            bad_length(51, 2, "4"),
        ),
        (
            "tiny MTU",
            with_options(&[53, 1, 2, 26, 2, 0, 60, 255]),
            DecodeError::BadValue {
                field: field(26),
                reason: "MTU 60 is below the IPv4 minimum of 68".into(),
            },
        ),
        (
            "newline in a host name",
            with_options(&[53, 1, 2, 12, 3, b'a', b'\n', b'b', 255]),
            DecodeError::BadText {
                field: field(12),
                reason: "contains a control character or NUL",
            },
        ),
        (
            "NUL inside a root path",
            with_options(&[53, 1, 2, 17, 3, b'/', 0, b'x', 255]),
            DecodeError::BadText {
                field: field(17),
                reason: "contains a control character or NUL",
            },
        ),
        (
            "Latin-1 domain",
            with_options(&[53, 1, 2, 15, 2, b'a', 0xe9, 255]),
            DecodeError::BadText {
                field: field(15),
                reason: "is not UTF-8 text",
            },
        ),
        (
            "overload 4",
            with_options(&[53, 1, 2, 52, 1, 4, 255]),
            DecodeError::BadValue {
                field: field(52),
                reason: "value 4, expected 1 (file), 2 (sname) or 3 (both)".into(),
            },
        ),
        (
            "search list pointer forwards",
            with_options(&[53, 1, 2, 119, 4, 1, b'a', 0xc0, 0, 255]),
            DecodeError::BadSearchList {
                at: 2,
                reason: "compression pointer does not point backwards",
            },
        ),
        (
            "search list label past the end",
            with_options(&[53, 1, 2, 119, 2, 5, b'a', 255]),
            DecodeError::BadSearchList {
                at: 0,
                reason: "label runs past the end",
            },
        ),
        (
            "route prefix 33",
            with_options(&[53, 1, 2, 121, 5, 33, 1, 2, 3, 4, 255]),
            DecodeError::BadRoute {
                at: 0,
                reason: "prefix length over 32",
            },
        ),
        (
            "route cut short",
            with_options(&[53, 1, 2, 121, 6, 0, 10, 0, 0, 1, 8, 255]),
            DecodeError::BadRoute {
                at: 5,
                reason: "route runs past the end",
            },
        ),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(Reply::decode(&bytes), Err(expected), "{name}");
    }
    // Overload in an overloaded field is refused, since it would make the order ambiguous.
    let mut nested = dnsmasq_offer();
    let at = nested.len() - 4;
    nested.splice(at..at, [52, 1, 1]);
    nested[108..111].copy_from_slice(&[52, 1, 2]);
    assert_eq!(
        Reply::decode(&nested),
        Err(DecodeError::OverloadOutsideOptions { area: Area::File })
    );
}

#[test]
fn error_messages_name_the_option() {
    let cases = [
        (
            bad_length(3, 5, "a non-zero multiple of 4"),
            "option 3 (routers): length 5, expected a non-zero multiple of 4",
        ),
        (
            DecodeError::OptionOverrun {
                code: 6,
                area: Area::File,
            },
            "option 6 (DNS servers) runs past the end of the file field",
        ),
        (
            DecodeError::BadText {
                field: Field::Sname,
                reason: "is not UTF-8 text",
            },
            "the sname field: is not UTF-8 text",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
    }
}

/// Reads the options our encoder wrote, as a server would.
fn options_of(message: &[u8]) -> Vec<(u8, Vec<u8>)> {
    raw_options(message).expect("our own message parses")
}

fn option(options: &[(u8, Vec<u8>)], code: u8) -> Option<&[u8]> {
    options
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, data)| data.as_slice())
}

#[test]
fn encodes_a_discover() {
    let message = ClientMessage {
        kind: ClientKind::Discover,
        xid: 0x1234_abcd,
        secs: 3,
        mac: MAC,
        hostname: "worker-64e59a",
    };
    let bytes = message.encode();
    assert_eq!(
        bytes.len(),
        301,
        "options past the BOOTP minimum need no padding"
    );
    let short = ClientMessage {
        hostname: "",
        ..message.clone()
    }
    .encode();
    assert_eq!(short.len(), 300, "padded to the BOOTP minimum (RFC 1542)");
    let header: &[(&str, std::ops::Range<usize>, &[u8])] = &[
        ("op, htype, hlen, hops", 0..4, &[1, 1, 6, 0]),
        ("xid", 4..8, &[0x12, 0x34, 0xab, 0xcd]),
        ("secs", 8..10, &[0, 3]),
        ("flags: broadcast", 10..12, &[0x80, 0]),
        ("ciaddr, yiaddr, siaddr, giaddr", 12..28, &[0; 16]),
        (
            "chaddr",
            28..44,
            &[
                0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        ),
        ("sname and file", 44..236, &[0; 192]),
        ("magic cookie", 236..240, &[99, 130, 83, 99]),
        ("message type first", 240..243, &[53, 1, 1]),
    ];
    for (name, range, expected) in header {
        assert_eq!(&bytes[range.clone()], *expected, "{name}");
    }
    let options = options_of(&bytes);
    let codes: Vec<u8> = options.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, [53, 61, 57, 55, 12, 60]);
    let expected: &[(u8, &[u8])] = &[
        (61, &[1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
        (57, &[0x05, 0xc0]),
        (
            55,
            &[
                1, 3, 6, 12, 15, 17, 26, 28, 42, 51, 54, 58, 59, 66, 67, 119, 121,
            ],
        ),
        (12, b"worker-64e59a"),
        (60, b"diskless"),
    ];
    for (code, data) in expected {
        assert_eq!(option(&options, *code), Some(*data), "option {code}");
    }
    let end = bytes.iter().rposition(|&b| b == code::END).expect("END");
    assert!(
        bytes[end + 1..].iter().all(|&b| b == 0),
        "only padding after END"
    );
}

#[test]
fn encodes_a_selecting_request() {
    let kind = ClientKind::Request {
        requested: ip("192.168.77.50"),
        server_id: ip("192.168.77.1"),
    };
    let bytes = ClientMessage {
        kind,
        xid: 9,
        secs: 0,
        mac: MAC,
        hostname: "",
    }
    .encode();
    assert_eq!(
        &bytes[12..16],
        &[0; 4],
        "ciaddr stays 0 while selecting (RFC 2131 4.3.2)"
    );
    let options = options_of(&bytes);
    assert_eq!(option(&options, 53), Some(&[3u8][..]));
    assert_eq!(option(&options, 50), Some(&[192u8, 168, 77, 50][..]));
    assert_eq!(option(&options, 54), Some(&[192u8, 168, 77, 1][..]));
    assert_eq!(
        option(&options, 12),
        None,
        "no host name option for an empty name"
    );
}

// ---- properties ------------------------------------------------------------------------------

/// Replaces, inserts or deletes bytes of a valid message.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(at, value, how) in edits {
        if bytes.is_empty() {
            bytes.push(value);
            continue;
        }
        let at = at % bytes.len();
        match how % 4 {
            0 | 1 => bytes[at] = value,
            2 => bytes.insert(at, value),
            _ => {
                bytes.remove(at);
            }
        }
    }
    bytes
}

fn hostname_strategy() -> impl Strategy<Value = String> {
    "[a-z0-9-]{0,63}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = Reply::decode(&bytes);
        let _ = parse_udp(&bytes, CLIENT_PORT);
        let _ = domain_search(&bytes);
        let _ = classless_routes(&bytes);
    }

    #[test]
    fn random_options_after_a_valid_header_never_panic(
        options in proptest::collection::vec(any::<u8>(), 0..400),
        sname in proptest::collection::vec(any::<u8>(), 0..64),
        file in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let bytes = ReplyBytes { op: 2, xid: 1, mac: MAC, yiaddr: "10.0.0.9", siaddr: "0.0.0.0", sname: &sname, file: &file, options: &options }.build();
        let _ = Reply::decode(&bytes);
    }

    #[test]
    fn mutated_offers_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        let _ = Reply::decode(&mutate(dnsmasq_offer(), &edits));
        let real_ack = fixture(include_str!("../fixtures/dnsmasq-ack.hex"));
        let _ = Reply::decode(&mutate(real_ack, &edits));
        let frame = encode_udp((ip("10.0.0.1"), 67), (Ipv4Addr::BROADCAST, 68), &dnsmasq_offer()).expect("fits");
        let _ = parse_udp(&mutate(frame, &edits), CLIENT_PORT);
    }

    #[test]
    fn encoded_requests_carry_what_was_asked(
        xid in any::<u32>(),
        secs in any::<u16>(),
        mac in any::<[u8; 6]>(),
        hostname in hostname_strategy(),
        requested in any::<[u8; 4]>(),
        server in any::<[u8; 4]>(),
    ) {
        let kind = ClientKind::Request { requested: requested.into(), server_id: server.into() };
        let bytes = ClientMessage { kind, xid, secs, mac: Mac(mac), hostname: &hostname }.encode();
        prop_assert!(bytes.len() >= 300);
        prop_assert_eq!(&bytes[4..8], &xid.to_be_bytes());
        prop_assert_eq!(&bytes[28..34], &mac);
        let options = options_of(&bytes);
        prop_assert_eq!(option(&options, 50), Some(&requested[..]));
        prop_assert_eq!(option(&options, 54), Some(&server[..]));
        prop_assert_eq!(option(&options, 12), (!hostname.is_empty()).then_some(hostname.as_bytes()));
        let frame = encode_client_broadcast(&bytes).expect("fits");
        prop_assert_eq!(parse_udp(&frame, SERVER_PORT).expect("parses").payload, &bytes[..]);
    }

    #[test]
    fn classless_routes_round_trip(routes in proptest::collection::vec((any::<[u8; 4]>(), 0u8..=32, any::<[u8; 4]>()), 0..10)) {
        let mut data = Vec::new();
        let mut expected = Vec::new();
        for (dest, width, gateway) in routes {
            let octets = usize::from(width).div_ceil(8);
            data.push(width);
            data.extend_from_slice(&dest[..octets]);
            data.extend_from_slice(&gateway);
            let mask = u32::MAX.checked_shl(32 - u32::from(width)).unwrap_or(0);
            expected.push(Route { dest: Ipv4Addr::from(u32::from_be_bytes(dest) & mask), prefix_len: width, gateway: gateway.into() });
        }
        prop_assert_eq!(classless_routes(&data), Ok(expected));
    }

    #[test]
    fn uncompressed_search_lists_round_trip(names in proptest::collection::vec("[a-z0-9]{1,20}(\\.[a-z0-9-]{1,20}){0,3}", 0..5)) {
        let mut data = Vec::new();
        for name in &names {
            for label in name.split('.') {
                data.push(label.len() as u8);
                data.extend_from_slice(label.as_bytes());
            }
            data.push(0);
        }
        prop_assert_eq!(domain_search(&data), Ok(names));
    }
}

// ---- real dnsmasq replies --------------------------------------------------------------------

/// A fixture made by `fixtures/capture.py` (see there for dnsmasq's options): hex bytes.
fn fixture(hex: &str) -> Vec<u8> {
    hex.split_whitespace()
        .map(|pair| u8::from_str_radix(pair, 16).expect("hex fixture"))
        .collect()
}

#[test]
fn decodes_real_dnsmasq_replies() {
    let offer = Reply::decode(&fixture(include_str!("../fixtures/dnsmasq-offer.hex")))
        .expect("OFFER decodes");
    let ack =
        Reply::decode(&fixture(include_str!("../fixtures/dnsmasq-ack.hex"))).expect("ACK decodes");
    let routes = vec![
        Route {
            dest: ip("10.9.0.0"),
            prefix_len: 16,
            gateway: ip("192.168.77.254"),
        },
        Route {
            dest: ip("0.0.0.0"),
            prefix_len: 0,
            gateway: ip("192.168.77.1"),
        },
    ];
    let expected_options = ReplyOptions {
        subnet_mask: Some(ip("255.255.255.0")),
        routers: vec![ip("192.168.77.1")],
        dns: vec![ip("192.168.77.1")],
        hostname: None,
        domain: Some("cluster.home".into()),
        root_path: Some("/srv/roots/worker".into()),
        mtu: None,
        broadcast: Some(ip("192.168.77.255")),
        ntp: vec![],
        lease_secs: Some(43200),
        server_id: Some(ip("192.168.77.1")),
        message: None,
        t1: Some(21600),
        t2: Some(37800),
        // dnsmasq counts a NUL in options 66 and 67, and leaves sname/file empty when asked
        // for the options.
        tftp_server_name: Some("bootsrv".into()),
        boot_file: Some("pxelinux.0".into()),
        // "lab.cluster.home" is sent as "lab" + a pointer to byte 0.
        search: vec!["cluster.home".into(), "lab.cluster.home".into()],
        classless_routes: Some(routes),
    };
    assert_eq!(
        offer,
        Reply {
            message_type: MessageType::Offer,
            xid: 0x1234_abcd,
            chaddr: MAC,
            yiaddr: ip("192.168.77.50"),
            siaddr: ip("192.168.77.1"),
            giaddr: Ipv4Addr::UNSPECIFIED,
            options: expected_options.clone(),
        }
    );
    // The ACK adds the host name dnsmasq has for us.
    let ack_options = ReplyOptions {
        hostname: Some("node7".into()),
        ..expected_options
    };
    assert_eq!(
        (ack.message_type, ack.xid, ack.yiaddr),
        (MessageType::Ack, 0x1234_abcd, ip("192.168.77.50"))
    );
    assert_eq!(ack.options, ack_options);
}
