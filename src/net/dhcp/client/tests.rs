use super::*;
use crate::net::dhcp::lease::LeaseError;

use crate::net::dhcp::packet::ReplyOptions;

const MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A server's reply to the acquisition's current transaction.
fn reply(
    acquisition: &Acquisition,
    message_type: MessageType,
    yiaddr: &str,
    server: &str,
) -> Reply {
    Reply {
        message_type,
        xid: acquisition.xid(),
        chaddr: MAC,
        yiaddr: ip(yiaddr),
        siaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        options: ReplyOptions {
            server_id: Some(ip(server)),
            subnet_mask: Some(ip("255.255.255.0")),
            routers: vec![ip("10.0.2.2")],
            lease_secs: Some(86400),
            ..ReplyOptions::default()
        },
    }
}

fn sent_kind(acquisition: &mut Acquisition, now: Duration) -> Option<ClientKind> {
    acquisition.transmit(now).map(|m| m.kind)
}

#[test]
fn the_first_resend_comes_within_a_second_and_later_ones_back_off_to_8_s() {
    for seed in [0, 1, 0xdead_beef, u64::MAX] {
        let delays: Vec<u64> = (0..8)
            .map(|n| retransmit_delay(n, seed).as_millis() as u64)
            .collect();
        let bounds = [
            (375, 625),
            (750, 1250),
            (1500, 2500),
            (3500, 4500),
            (7500, 8500),
            (7500, 8500),
            (7500, 8500),
            (7500, 8500),
        ];
        for (n, (delay, (low, high))) in delays.iter().zip(bounds).enumerate() {
            assert!(
                (low..=high).contains(delay),
                "seed {seed:#x}, attempt {n}: {delay} ms not in {low}..={high}"
            );
        }
    }
}

#[test]
fn nodes_with_different_seeds_do_not_retransmit_in_lockstep() {
    let schedules: std::collections::HashSet<Vec<Duration>> = (0..50u64)
        .map(|seed| (0..5).map(|n| retransmit_delay(n, seed * 7919)).collect())
        .collect();
    assert!(
        schedules.len() > 45,
        "only {} distinct schedules of 50",
        schedules.len()
    );
    let xids: std::collections::HashSet<u32> = (0..1000u64).map(|seed| xid_for(seed, 0)).collect();
    assert_eq!(xids.len(), 1000);
}

#[test]
fn discover_offer_request_ack() {
    let mut acquisition = Acquisition::new("eth0", MAC, "worker-64e59a", 42);
    let first = acquisition
        .transmit(Duration::ZERO)
        .expect("a DISCOVER at once");
    assert_eq!(
        (first.kind, first.hostname, first.secs),
        (ClientKind::Discover, "worker-64e59a", 0)
    );
    assert!(acquisition.transmit(ms(100)).is_none(), "nothing due yet");
    assert!(acquisition.next_send() < ms(1000));

    let offer = reply(&acquisition, MessageType::Offer, "10.0.2.15", "10.0.2.2");
    assert_eq!(
        acquisition.receive(&offer, ms(120)),
        Outcome::Offered {
            address: ip("10.0.2.15"),
            server_id: ip("10.0.2.2")
        }
    );
    let request = acquisition
        .transmit(ms(120))
        .expect("the REQUEST is due at once");
    assert_eq!(
        request.kind,
        ClientKind::Request {
            requested: ip("10.0.2.15"),
            server_id: ip("10.0.2.2")
        }
    );
    assert_eq!(request.xid, offer.xid, "same transaction");

    // A second server's OFFER arrives late: ignored.
    let late = reply(&acquisition, MessageType::Offer, "10.0.2.99", "10.0.2.3");
    assert!(matches!(
        acquisition.receive(&late, ms(130)),
        Outcome::Ignored(_)
    ));

    let ack = reply(&acquisition, MessageType::Ack, "10.0.2.15", "10.0.2.2");
    let Outcome::Bound(lease) = acquisition.receive(&ack, ms(140)) else {
        panic!("not bound")
    };
    assert_eq!(
        (lease.address, lease.prefix_len, lease.default_gateway()),
        (ip("10.0.2.15"), 24, Some(ip("10.0.2.2")))
    );
    assert_eq!(
        acquisition.counts(),
        Counts {
            discovers: 1,
            requests: 1,
            offers: 1,
            naks: 0
        }
    );
}

#[test]
fn replies_for_others_are_ignored() {
    let mut acquisition = Acquisition::new("eth0", MAC, "n", 1);
    acquisition.transmit(Duration::ZERO);
    let mut other_xid = reply(&acquisition, MessageType::Offer, "10.0.2.15", "10.0.2.2");
    other_xid.xid ^= 1;
    let mut other_mac = reply(&acquisition, MessageType::Offer, "10.0.2.15", "10.0.2.2");
    other_mac.chaddr = Mac([2, 0, 0, 0, 0, 1]);
    let ack_too_early = reply(&acquisition, MessageType::Ack, "10.0.2.15", "10.0.2.2");
    let unusable = reply(
        &acquisition,
        MessageType::Offer,
        "255.255.255.255",
        "10.0.2.2",
    );
    let mut no_server_id = reply(&acquisition, MessageType::Offer, "10.0.2.15", "10.0.2.2");
    no_server_id.options.server_id = None;
    for (name, r) in [
        ("other xid", other_xid),
        ("other MAC", other_mac),
        ("ACK while selecting", ack_too_early),
        ("broadcast address offered", unusable),
        ("OFFER without option 54", no_server_id),
    ] {
        assert!(
            matches!(acquisition.receive(&r, ms(10)), Outcome::Ignored(_)),
            "{name}"
        );
    }
    assert_eq!(
        acquisition.last_problem(),
        Some("OFFER of 10.0.2.15 without option 54 (server identifier)"),
        "unusable replies for us are remembered for the timeout error"
    );
    assert!(
        acquisition.transmit(ms(10)).is_none(),
        "still waiting to resend the DISCOVER"
    );
}

#[test]
fn a_nak_from_our_server_starts_over_with_a_new_xid() {
    let mut acquisition = Acquisition::new("eth0", MAC, "n", 7);
    acquisition.transmit(Duration::ZERO);
    let offer = reply(&acquisition, MessageType::Offer, "10.0.2.15", "10.0.2.2");
    acquisition.receive(&offer, ms(50));
    acquisition.transmit(ms(50));
    let old_xid = acquisition.xid();

    let foreign_nak = reply(&acquisition, MessageType::Nak, "0.0.0.0", "10.0.2.3");
    assert!(matches!(
        acquisition.receive(&foreign_nak, ms(60)),
        Outcome::Ignored(_)
    ));

    let mut nak = reply(&acquisition, MessageType::Nak, "0.0.0.0", "10.0.2.2");
    nak.options.message = Some("wrong network".into());
    assert_eq!(
        acquisition.receive(&nak, ms(70)),
        Outcome::Refused {
            server_id: ip("10.0.2.2"),
            message: Some("wrong network".into())
        }
    );
    assert_ne!(acquisition.xid(), old_xid);
    assert!(
        acquisition.transmit(ms(70)).is_none(),
        "no hot loop: the DISCOVER waits a backoff step"
    );
    let due = acquisition.next_send();
    assert!(due > ms(70) && due < ms(70 + 700), "{due:?}");
    assert_eq!(sent_kind(&mut acquisition, due), Some(ClientKind::Discover));
    assert_eq!(acquisition.counts().naks, 1);
}

#[test]
fn acks_that_do_not_match_the_request_are_ignored() {
    let mut acquisition = Acquisition::new("eth0", MAC, "n", 3);
    acquisition.transmit(Duration::ZERO);
    acquisition.receive(
        &reply(&acquisition, MessageType::Offer, "10.0.2.15", "10.0.2.2"),
        ms(5),
    );
    acquisition.transmit(ms(5));
    let other_server = reply(&acquisition, MessageType::Ack, "10.0.2.15", "10.0.2.3");
    let other_address = reply(&acquisition, MessageType::Ack, "10.0.2.16", "10.0.2.2");
    let mut bad_mask = reply(&acquisition, MessageType::Ack, "10.0.2.15", "10.0.2.2");
    bad_mask.options.subnet_mask = Some(ip("255.0.255.0"));
    for r in [other_server, other_address, bad_mask] {
        assert!(
            matches!(acquisition.receive(&r, ms(10)), Outcome::Ignored(_)),
            "{r:?}"
        );
    }
    assert_eq!(
        acquisition.last_problem(),
        Some("ACK from 10.0.2.2 unusable: subnet mask 255.0.255.0 is not contiguous")
    );
    // The ACK without option 54 is taken (the server we asked is known).
    let mut no_id = reply(&acquisition, MessageType::Ack, "10.0.2.15", "10.0.2.2");
    no_id.options.server_id = None;
    let Outcome::Bound(lease) = acquisition.receive(&no_id, ms(20)) else {
        panic!("not bound")
    };
    assert_eq!(lease.server_id, ip("10.0.2.2"));
}

/// A server that never ACKs: after four REQUESTs the client discovers again, and the whole
/// schedule keeps every gap between sends within the backoff bounds.
#[test]
fn unanswered_requests_lead_back_to_discover() {
    let mut acquisition = Acquisition::new("eth0", MAC, "n", 11);
    let mut sent = Vec::new();
    let mut now = Duration::ZERO;
    while now < Duration::from_secs(30) {
        if let Some(kind) = sent_kind(&mut acquisition, now) {
            sent.push((now, kind));
            if kind == ClientKind::Discover && sent.len() == 1 {
                let offer = reply(&acquisition, MessageType::Offer, "10.0.2.15", "10.0.2.2");
                acquisition.receive(&offer, now);
            }
        }
        now += ms(10);
    }
    let kinds: Vec<&str> = sent
        .iter()
        .map(|(_, kind)| match kind {
            ClientKind::Discover => "D",
            ClientKind::Request { .. } => "R",
        })
        .collect();
    assert_eq!(kinds[..6], ["D", "R", "R", "R", "R", "D"]);
    assert!(kinds[6..].iter().all(|k| *k == "D"), "{kinds:?}");
    let counts = acquisition.counts();
    assert_eq!((counts.requests, counts.offers), (4, 1));
    // The secs field counts from the first DISCOVER.
    let secs = acquisition
        .transmit(Duration::from_secs(60))
        .expect("due")
        .secs;
    assert_eq!(secs, 60);
}

#[test]
fn usable_addresses() {
    for good in ["10.0.2.15", "192.168.77.50", "100.64.0.1", "169.254.1.1"] {
        assert_eq!(check_address(ip(good)), Ok(()), "{good}");
    }
    for bad in [
        "0.0.0.0",
        "0.1.2.3",
        "127.0.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
    ] {
        assert_eq!(
            check_address(ip(bad)),
            Err(LeaseError::UnusableAddress(ip(bad))),
            "{bad}"
        );
    }
}

#[test]
fn a_send_that_failed_locally_is_retried_soon_and_not_counted() {
    let mut acquisition = Acquisition::new("eth0", MAC, "n", 5);
    assert_eq!(
        sent_kind(&mut acquisition, Duration::ZERO),
        Some(ClientKind::Discover)
    );
    acquisition.send_failed(Duration::ZERO);
    assert_eq!(acquisition.counts().discovers, 0);
    assert_eq!(
        acquisition.next_send(),
        ms(100),
        "retried after 100 ms, not a backoff step"
    );
    for n in 1..=20 {
        assert_eq!(
            sent_kind(&mut acquisition, ms(100 * n)),
            Some(ClientKind::Discover)
        );
        acquisition.send_failed(ms(100 * n));
    }
    // The link is up: this one leaves, and the backoff starts from its first step.
    assert_eq!(
        sent_kind(&mut acquisition, ms(2100)),
        Some(ClientKind::Discover)
    );
    let gap = acquisition.next_send() - ms(2100);
    assert!(gap >= ms(375) && gap <= ms(625), "{gap:?}");
    assert_eq!(acquisition.counts().discovers, 1);
}
