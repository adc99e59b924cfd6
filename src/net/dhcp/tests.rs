use std::net::Ipv4Addr;

use super::*;

use crate::net::dhcp::packet::ReplyOptions;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

fn ack(options: ReplyOptions) -> Reply {
    Reply {
        message_type: MessageType::Ack,
        xid: 1,
        chaddr: Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
        yiaddr: ip("10.0.2.15"),
        siaddr: ip("10.0.2.4"),
        giaddr: Ipv4Addr::UNSPECIFIED,
        options,
    }
}

fn route(dest: &str, prefix_len: u8, gateway: &str) -> Route {
    Route {
        dest: ip(dest),
        prefix_len,
        gateway: ip(gateway),
    }
}

#[test]
fn lease_from_a_full_ack() {
    let options = ReplyOptions {
        subnet_mask: Some(ip("255.255.255.0")),
        routers: vec![ip("10.0.2.2")],
        dns: vec![ip("10.0.2.3")],
        hostname: Some("node7".into()),
        domain: Some("cluster.home".into()),
        root_path: Some("/srv/root".into()),
        mtu: Some(1400),
        broadcast: Some(ip("10.0.2.255")),
        ntp: vec![ip("10.0.2.2")],
        lease_secs: Some(86400),
        server_id: Some(ip("10.0.2.2")),
        message: None,
        t1: Some(43200),
        t2: Some(75600),
        tftp_server_name: Some("boot".into()),
        boot_file: Some("pxelinux.0".into()),
        search: vec!["cluster.home".into()],
        classless_routes: None,
    };
    let lease = Lease::from_ack(&ack(options), ip("10.0.2.2")).expect("lease");
    assert_eq!(
        lease,
        Lease {
            address: ip("10.0.2.15"),
            prefix_len: 24,
            routers: vec![ip("10.0.2.2")],
            classless_routes: vec![],
            dns: vec![ip("10.0.2.3")],
            domain: Some("cluster.home".into()),
            search: vec!["cluster.home".into()],
            hostname: Some("node7".into()),
            server_id: ip("10.0.2.2"),
            next_server: Some(ip("10.0.2.4")),
            tftp_server_name: Some("boot".into()),
            boot_file: Some("pxelinux.0".into()),
            root_path: Some("/srv/root".into()),
            mtu: Some(1400),
            broadcast: Some(ip("10.0.2.255")),
            ntp: vec![ip("10.0.2.2")],
            lease_secs: Some(86400),
            t1: Some(43200),
            t2: Some(75600),
        }
    );
    assert_eq!(lease.netmask(), ip("255.255.255.0"));
}

#[test]
fn default_gateway_and_rfc3442() {
    let with = |routers: &[&str], classless: Option<Vec<Route>>| {
        let options = ReplyOptions {
            routers: routers.iter().map(|r| ip(r)).collect(),
            classless_routes: classless,
            ..ReplyOptions::default()
        };
        Lease::from_ack(&ack(options), ip("10.0.2.2")).expect("lease")
    };
    let cases: Vec<(&str, Lease, Option<&str>, usize)> = vec![
        (
            "option 3 alone",
            with(&["10.0.2.2", "10.0.2.1"], None),
            Some("10.0.2.2"),
            2,
        ),
        ("no router at all", with(&[], None), None, 0),
        (
            "classless default wins, option 3 dropped",
            with(
                &["10.0.2.2"],
                Some(vec![
                    route("10.9.0.0", 16, "10.0.2.254"),
                    route("0.0.0.0", 0, "10.0.2.1"),
                ]),
            ),
            Some("10.0.2.1"),
            0,
        ),
        (
            "option 121 without a default: no default route (option 3 is ignored)",
            with(
                &["10.0.2.2"],
                Some(vec![route("10.9.0.0", 16, "10.0.2.254")]),
            ),
            None,
            0,
        ),
        (
            "an on-link default route has no gateway",
            with(&[], Some(vec![route("0.0.0.0", 0, "0.0.0.0")])),
            None,
            0,
        ),
    ];
    for (name, lease, gateway, routers) in cases {
        assert_eq!(lease.default_gateway(), gateway.map(ip), "{name}");
        assert_eq!(lease.routers.len(), routers, "{name}");
    }
}

#[test]
fn netmasks_and_their_absence() {
    let lease_with = |mask: Option<&str>, address: &str| {
        let mut reply = ack(ReplyOptions {
            subnet_mask: mask.map(ip),
            ..ReplyOptions::default()
        });
        reply.yiaddr = ip(address);
        Lease::from_ack(&reply, ip("10.0.0.1"))
    };
    let cases: &[(Option<&str>, &str, Result<u8, LeaseError>)] = &[
        (Some("255.255.255.0"), "10.0.2.15", Ok(24)),
        (Some("255.255.255.255"), "10.0.2.15", Ok(32)),
        (Some("255.255.240.0"), "10.0.2.15", Ok(20)),
        (Some("0.0.0.0"), "10.0.2.15", Ok(0)),
        (
            Some("255.0.255.0"),
            "10.0.2.15",
            Err(LeaseError::NonContiguousMask(ip("255.0.255.0"))),
        ),
        // Without option 1: the classful default, as the kernel's ipconfig does.
        (None, "10.0.2.15", Ok(8)),
        (None, "172.16.0.5", Ok(16)),
        (None, "192.168.77.50", Ok(24)),
    ];
    for (mask, address, expected) in cases {
        assert_eq!(
            lease_with(*mask, address).map(|l| l.prefix_len),
            *expected,
            "{mask:?} {address}"
        );
    }
    let mut nak = ack(ReplyOptions::default());
    nak.message_type = MessageType::Nak;
    assert_eq!(
        Lease::from_ack(&nak, ip("10.0.0.1")),
        Err(LeaseError::NotAck(MessageType::Nak))
    );
}

#[test]
fn timeout_errors_say_what_happened() {
    let report = |counts: Counts, last_problem: Option<&str>| {
        DhcpError::Timeout(TimeoutReport {
            iface: "eth0".into(),
            waited: Duration::from_millis(30_004),
            counts,
            last_problem: last_problem.map(str::to_owned),
        })
        .to_string()
    };
    let cases = [
        (
            report(
                Counts {
                    discovers: 7,
                    ..Counts::default()
                },
                None,
            ),
            "dhcp: no DHCP server answered on eth0: 7 DISCOVERs sent in 30.0 s",
        ),
        (
            report(
                Counts {
                    discovers: 2,
                    ..Counts::default()
                },
                Some("receiving: Network is down (os error 100)"),
            ),
            "dhcp: no DHCP server answered on eth0: 2 DISCOVERs sent in 30.0 s \
             (last problem: receiving: Network is down (os error 100))",
        ),
        (
            report(
                Counts::default(),
                Some("sending failed: Network is down (os error 100)"),
            ),
            "dhcp: nothing could be sent on eth0 in 30.0 s \
             (last problem: sending failed: Network is down (os error 100))",
        ),
        (
            report(
                Counts {
                    discovers: 3,
                    requests: 8,
                    offers: 2,
                    naks: 1,
                },
                Some("ACK of 10.0.0.9 while we asked for 10.0.0.8"),
            ),
            "dhcp: no lease on eth0: 3 DISCOVERs, 2 OFFERs, 8 REQUESTs, 1 NAKs in 30.0 s and no usable ACK \
             (last problem: ACK of 10.0.0.9 while we asked for 10.0.0.8)",
        ),
    ];
    for (got, expected) in cases {
        assert_eq!(got, expected);
    }
}

#[test]
fn seeds_differ_per_node() {
    let a = ClientConfig::new(
        "eth0",
        Mac([0x52, 0x54, 0, 0, 0, 1]),
        "a",
        Duration::from_secs(1),
    );
    let b = ClientConfig::new(
        "eth0",
        Mac([0x52, 0x54, 0, 0, 0, 2]),
        "b",
        Duration::from_secs(1),
    );
    assert_ne!(a.xid_seed, b.xid_seed);
    assert_eq!(a.ifindex, 0, "looked up by name");
}

#[test]
fn overlong_host_names_are_refused_before_any_io() {
    let mut config = ClientConfig::new(
        "eth0",
        Mac([0x52, 0x54, 0, 0, 0, 1]),
        "a",
        Duration::from_secs(1),
    );
    config.hostname = "x".repeat(256);
    assert!(matches!(
        acquire(&config),
        Err(DhcpError::HostnameTooLong { .. })
    ));
}
