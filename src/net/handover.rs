//! What keeps the boot NIC as the initramfs configured it once the root's own network manager
//! starts, for a root that depends on the network: as pure text, which
//! [`super::apply::keep_configured`] writes under /run (it moves into the new root) for the
//! managers the root has.
//!
//! - **systemd-networkd** keeps an interface's foreign addresses and routes by default only
//!   when `/` itself is a network file system, which it judges by statfs: an NFS root under a
//!   tmpfs overlay shows an overlay, so networkd drops the initramfs's address before its own
//!   DHCP client has a lease, and its code, paged in from that root, may then never run to
//!   get one. A runtime `.network` file that sorts before the image's wins the match for the
//!   boot NIC: it keeps the configuration through starts, stops and lease expiry
//!   (`KeepConfiguration=`) and renews the init's lease as the same client (networkd's own
//!   identifier is a DUID, not the MAC the init sent).
//! - **ifupdown** takes its interfaces down when its units stop, at shutdown too: a runtime
//!   drop-in empties their `ExecStop=`.

use std::net::IpAddr;

use super::Configured;
use crate::identity::Mac;

/// The file name in /run/systemd/network: networkd takes the first file, by name across all
/// its directories, whose `[Match]` fits a link, and images number theirs from `10-` on.
pub fn networkd_file_name(iface: &str) -> String {
    format!("00-diskless-{iface}.network")
}

/// The runtime `.network` file for the boot NIC: matched by its name (the init gave it the
/// name the root's udev gives it, and an interface that is up is not renamed) and its MAC,
/// so no other interface that comes to carry the name is taken; configured as the init did.
pub fn networkd_file(net: &Configured, mac: Option<&Mac>) -> String {
    let mut out = String::from(
        "# Written by diskless: the root depends on this interface. Its configuration is kept\n\
         # as the initramfs made it (diskless.handover=none leaves it to the image's files).\n",
    );
    out.push_str(&format!("[Match]\nName={}\n", net.iface));
    if let Some(mac) = mac {
        out.push_str(&format!("MACAddress={mac}\n"));
    }
    if let Some(mtu) = net.mtu {
        out.push_str(&format!("\n[Link]\nMTUBytes={mtu}\n"));
    }
    out.push_str("\n[Network]\n");
    let dhcp = net.proto == "dhcp";
    if dhcp {
        out.push_str("DHCP=ipv4\n");
    } else {
        out.push_str(&format!("Address={}/{}\n", net.address, net.prefix_len));
        if let Some(gateway) = net.gateway {
            out.push_str(&format!("Gateway={gateway}\n"));
        }
    }
    let mut servers: Vec<&IpAddr> = Vec::new();
    for server in &net.dns {
        if !servers.contains(&server) {
            servers.push(server);
            out.push_str(&format!("DNS={server}\n"));
        }
    }
    let domains: Vec<&str> = net
        .domain
        .iter()
        .chain(&net.search)
        .map(String::as_str)
        .filter(|d| is_domain(d))
        .collect();
    if !domains.is_empty() {
        out.push_str(&format!("Domains={}\n", domains.join(" ")));
    }
    // `yes`: the address and routes the init set (foreign to networkd) stay when it starts,
    // the lease's stay when it stops or the lease runs out; `static`: there is no lease.
    let keep = if dhcp { "yes" } else { "static" };
    out.push_str(&format!("KeepConfiguration={keep}\n"));
    if dhcp {
        // The init's client identifier (type 1 + MAC), so the server sees one client renewing
        // its lease; no RELEASE of the address the root runs on.
        out.push_str("\n[DHCPv4]\nClientIdentifier=mac\nSendRelease=no\n");
    }
    // A lease's routes (option 121) come back with the lease, and the init's stay meanwhile.
    for route in net.routes.iter().filter(|_| !dhcp) {
        out.push_str(&format!(
            "\n[Route]\nDestination={}/{}\n",
            route.dest, route.prefix_len
        ));
        if let Some(gateway) = route.gateway {
            out.push_str(&format!("Gateway={gateway}\n"));
        }
    }
    out
}

/// Where a root has systemd-networkd, relative to the root.
pub const NETWORKD_BINARIES: [&str; 2] = [
    "usr/lib/systemd/systemd-networkd",
    "lib/systemd/systemd-networkd",
];

/// Where a root has ifupdown, relative to the root.
pub const IFUPDOWN_BINARIES: [&str; 2] = ["usr/sbin/ifup", "sbin/ifup"];

/// The units ifupdown stops its interfaces from: `ifup@<iface>` (`allow-hotplug`) and
/// `networking` (`auto`).
pub const IFUPDOWN_UNITS: [&str; 2] = ["ifup@.service", "networking.service"];

/// The drop-in's name in each unit's `.d` directory (the image's own, under another name,
/// merges with it).
pub const IFUPDOWN_DROP_IN: &str = "diskless-network-root.conf";

/// The drop-in: stopping ifupdown (at shutdown too) leaves the interface configured, so the
/// root does not go before the system is done with it.
pub const IFUPDOWN_KEEP: &str = "\
# Written by diskless: the root depends on the boot interface; stopping ifupdown must not
# take it down (diskless.handover=none leaves it to the image's files).
[Service]
ExecStop=
";

/// A domain name as networkd's `Domains=` takes it: the network's text never adds a line or
/// a setting.
fn is_domain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::net::ExtraRoute;

    fn dhcp() -> Configured {
        Configured {
            iface: "ens3".into(),
            proto: "dhcp",
            address: Ipv4Addr::new(10, 0, 2, 15),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
            routes: Vec::new(),
            mtu: None,
            dns: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 2, 3))],
            domain: None,
            search: Vec::new(),
            hostname: None,
            server: None,
            root_path: None,
            dhcp_server: Some(Ipv4Addr::new(10, 0, 2, 2)),
            lease_secs: Some(86400),
            ntp_named: Vec::new(),
            ntp_offered: Vec::new(),
        }
    }

    const HEADER: &str = "# Written by diskless: the root depends on this interface. Its configuration is kept\n\
         # as the initramfs made it (diskless.handover=none leaves it to the image's files).\n";

    #[test]
    fn networkd_files() {
        let mac = Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        let static_net = Configured {
            proto: "static",
            dns: vec![
                IpAddr::V4(Ipv4Addr::new(10, 0, 2, 3)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 2, 3)),
                "fd00::53".parse().expect("v6"),
            ],
            mtu: Some(9000),
            dhcp_server: None,
            lease_secs: None,
            ..dhcp()
        };
        let routed = Configured {
            iface: "enp1s0".into(),
            routes: vec![ExtraRoute {
                dest: Ipv4Addr::new(10, 9, 0, 0),
                prefix_len: 16,
                gateway: Some(Ipv4Addr::new(10, 0, 2, 1)),
            }],
            domain: Some("lab".into()),
            search: vec!["corp".into(), "evil\nDHCP=no".into(), "".into()],
            ..dhcp()
        };
        let cases: Vec<(Configured, Option<&Mac>, String)> = vec![
            (
                dhcp(),
                Some(&mac),
                format!(
                    "{HEADER}[Match]\nName=ens3\nMACAddress=52:54:00:12:34:56\n\n\
                     [Network]\nDHCP=ipv4\nDNS=10.0.2.3\nKeepConfiguration=yes\n\n\
                     [DHCPv4]\nClientIdentifier=mac\nSendRelease=no\n"
                ),
            ),
            (
                static_net,
                None,
                format!(
                    "{HEADER}[Match]\nName=ens3\n\n[Link]\nMTUBytes=9000\n\n\
                     [Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\nDNS=10.0.2.3\n\
                     DNS=fd00::53\nKeepConfiguration=static\n"
                ),
            ),
            // A lease's routes come back with the lease; the network's text is filtered.
            (
                routed.clone(),
                Some(&mac),
                format!(
                    "{HEADER}[Match]\nName=enp1s0\nMACAddress=52:54:00:12:34:56\n\n\
                     [Network]\nDHCP=ipv4\nDNS=10.0.2.3\nDomains=lab corp\n\
                     KeepConfiguration=yes\n\n\
                     [DHCPv4]\nClientIdentifier=mac\nSendRelease=no\n"
                ),
            ),
            (
                Configured {
                    proto: "static",
                    domain: None,
                    search: Vec::new(),
                    ..routed
                },
                None,
                format!(
                    "{HEADER}[Match]\nName=enp1s0\n\n\
                     [Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\nDNS=10.0.2.3\n\
                     KeepConfiguration=static\n\n\
                     [Route]\nDestination=10.9.0.0/16\nGateway=10.0.2.1\n"
                ),
            ),
        ];
        for (net, mac, want) in cases {
            assert_eq!(networkd_file(&net, mac), want, "{}", net.iface);
        }
        assert_eq!(networkd_file_name("ens3"), "00-diskless-ens3.network");
    }
}
