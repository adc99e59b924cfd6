//! The node's network once configured, however it came (static `ip=` or a DHCP lease).

use std::net::{IpAddr, Ipv4Addr};

use super::dhcp;
use crate::cmdline::ip::StaticIp;
use crate::ipv4;
use crate::plan::StaticPlan;

/// A route besides the default one (DHCP option 121).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtraRoute {
    pub dest: Ipv4Addr,
    pub prefix_len: u8,
    /// `None`: on-link.
    pub gateway: Option<Ipv4Addr>,
}

/// The node's network once configured, however it came (static `ip=` or a DHCP lease):
/// what the rest of the boot and the real system need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    pub iface: String,
    /// `dhcp` or `static`, as initramfs-tools' PROTO says.
    pub proto: &'static str,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub routes: Vec<ExtraRoute>,
    pub mtu: Option<u16>,
    pub dns: Vec<IpAddr>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    /// A name the network gave (the `ip=` hostname field or DHCP option 12).
    pub hostname: Option<String>,
    /// The server for roots and shares without one: `ip=`'s server field, DHCP's next-server,
    /// else the DHCP server itself.
    pub server: Option<IpAddr>,
    /// DHCP option 17.
    pub root_path: Option<String>,
    pub dhcp_server: Option<Ipv4Addr>,
    pub lease_secs: Option<u32>,
    /// The NTP server the admin named in `ip=`'s ntp field.
    pub ntp_named: Vec<Ipv4Addr>,
    /// NTP servers DHCP offered (option 42): whoever answers DHCP names them.
    pub ntp_offered: Vec<Ipv4Addr>,
}

impl Configured {
    /// From a static `ip=`.
    pub fn from_static(
        iface: &str,
        ip: &StaticIp,
        plan: &StaticPlan,
        nameservers: &[IpAddr],
    ) -> Configured {
        Configured {
            iface: iface.to_owned(),
            proto: "static",
            address: plan.address,
            prefix_len: plan.prefix_len,
            gateway: plan.gateway,
            routes: Vec::new(),
            mtu: plan.mtu,
            dns: plan.dns.iter().chain(nameservers).copied().collect(),
            domain: None,
            search: Vec::new(),
            hostname: ip.hostname.clone(),
            server: ip.server,
            root_path: None,
            dhcp_server: None,
            lease_secs: None,
            ntp_named: ip.ntp.into_iter().collect(),
            ntp_offered: Vec::new(),
        }
    }

    /// From a DHCP lease; `ip` holds fields of a positional `ip=...:dhcp` that still apply
    /// (its server and host name win over the lease's, as the admin wrote them).
    pub fn from_lease(
        iface: &str,
        lease: &dhcp::Lease,
        ip: Option<&StaticIp>,
        nameservers: &[IpAddr],
    ) -> Configured {
        let routes = lease
            .classless_routes
            .iter()
            .filter(|route| route.prefix_len != 0)
            .map(|route| ExtraRoute {
                dest: route.dest,
                prefix_len: route.prefix_len,
                gateway: Some(route.gateway).filter(|gw| !gw.is_unspecified()),
            })
            .collect();
        let server = ip
            .and_then(|ip| ip.server)
            .or(lease.next_server.map(IpAddr::V4))
            .or(Some(IpAddr::V4(lease.server_id)));
        Configured {
            iface: iface.to_owned(),
            proto: "dhcp",
            address: lease.address,
            prefix_len: lease.prefix_len,
            gateway: lease.default_gateway(),
            routes,
            mtu: lease.mtu,
            dns: lease
                .dns
                .iter()
                .map(|d| IpAddr::V4(*d))
                .chain(nameservers.iter().copied())
                .collect(),
            domain: lease.domain.clone(),
            search: lease.search.clone(),
            hostname: ip
                .and_then(|ip| ip.hostname.clone())
                .or(lease.hostname.clone()),
            server,
            root_path: lease.root_path.clone(),
            dhcp_server: Some(lease.server_id),
            lease_secs: lease.lease_secs,
            ntp_named: ip.and_then(|ip| ip.ntp).into_iter().collect(),
            ntp_offered: lease.ntp.clone(),
        }
    }

    /// Every NTP server the network step learnt of: `ip=`'s ntp field, then DHCP option 42.
    pub fn ntp(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.ntp_named.iter().chain(&self.ntp_offered).copied()
    }

    pub fn netmask(&self) -> Ipv4Addr {
        ipv4::prefix_to_netmask(self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_servers_come_from_the_ip_field_then_dhcp_option_42() {
        let v4 = |s: &str| -> Ipv4Addr { s.parse().unwrap() };
        let static_ip = |text: &str| match crate::cmdline::ip::parse(text).expect("parses") {
            crate::cmdline::ip::IpParam::Static(ip) => ip,
            other => panic!("not static: {other:?}"),
        };
        let ip = static_ip("10.0.2.15:::255.255.255.0::eth0:off:10.0.2.3::10.0.0.123");
        let plan = StaticPlan::from_ip(&ip).expect("plan");
        let net = Configured::from_static("eth0", &ip, &plan, &[]);
        assert_eq!(net.ntp_named, [v4("10.0.0.123")]);
        assert!(net.ntp_offered.is_empty());

        let lease = dhcp::Lease {
            address: v4("10.0.2.15"),
            prefix_len: 24,
            routers: vec![],
            classless_routes: vec![],
            dns: vec![],
            domain: None,
            search: vec![],
            hostname: None,
            server_id: v4("10.0.2.2"),
            next_server: None,
            tftp_server_name: None,
            boot_file: None,
            root_path: None,
            mtu: None,
            broadcast: None,
            ntp: vec![v4("10.0.2.2"), v4("10.0.2.4")],
            lease_secs: None,
            t1: None,
            t2: None,
        };
        let net = Configured::from_lease("eth0", &lease, None, &[]);
        assert!(net.ntp_named.is_empty());
        assert_eq!(net.ntp_offered, [v4("10.0.2.2"), v4("10.0.2.4")]);
        // A positional ip=...:dhcp with an ntp field: the admin's server first.
        let ip = static_ip(":::::eth0:dhcp:::10.0.0.123");
        let net = Configured::from_lease("eth0", &lease, Some(&ip), &[]);
        let all: Vec<Ipv4Addr> = net.ntp().collect();
        assert_eq!(all, [v4("10.0.0.123"), v4("10.0.2.2"), v4("10.0.2.4")]);
        assert_eq!(net.ntp_named, [v4("10.0.0.123")]);
    }

    #[test]
    fn static_plan_from_the_pxelinux_form() {
        let ip = match crate::cmdline::ip::parse("10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0")
            .expect("parses")
        {
            crate::cmdline::ip::IpParam::Static(ip) => ip,
            other => panic!("not static: {other:?}"),
        };
        let plan = StaticPlan::from_ip(&ip).expect("plan");
        assert_eq!(plan.address, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(plan.prefix_len, 24);
        assert_eq!(plan.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(plan.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
    }
}
