//! Applying the network configuration to the kernel, and handing it to the real system.

use std::net::Ipv4Addr;

use super::Configured;
use super::error::NetError;
use super::netconf::{self, NetConf};
use crate::ipv4;
use crate::rundir::STATE_DIR;
use crate::sys;

/// Applies an address, routes and MTU to the interface (up, with carrier:
/// [`super::link::bring_up`]), and gives our own resolver (musl's, inside the initramfs) the
/// DNS servers so images can be fetched by host name.
pub fn apply(net: &Configured) -> Result<(), NetError> {
    let iface = net.iface.as_str();
    let net_err = |what: String| {
        move |source| NetError::Configure {
            iface: iface.to_owned(),
            what,
            source,
        }
    };
    if let Some(mtu) = net.mtu {
        sys::set_mtu(iface, mtu).map_err(net_err(format!("MTU {mtu}")))?;
    }
    sys::set_ipv4_address(iface, net.address, net.netmask()).map_err(net_err(format!(
        "address {}/{}",
        net.address, net.prefix_len
    )))?;
    for route in &net.routes {
        sys::add_route(
            iface,
            route.dest,
            ipv4::prefix_to_netmask(route.prefix_len),
            route.gateway,
        )
        .map_err(net_err(format!(
            "route {}/{}",
            route.dest, route.prefix_len
        )))?;
    }
    if let Some(gateway) = net.gateway {
        sys::add_default_route(iface, gateway)
            .map_err(net_err(format!("default route via {gateway}")))?;
    }
    log::info!(
        "{iface}: {}/{}{} ({})",
        net.address,
        net.prefix_len,
        net.gateway
            .map(|gw| format!(" via {gw}"))
            .unwrap_or_default(),
        net.proto
    );
    if let Some(contents) = netconf::resolv_conf(&net.dns, net.domain.as_deref(), &net.search) {
        std::fs::write("/etc/resolv.conf", contents).map_err(|source| NetError::Configure {
            iface: iface.to_owned(),
            what: "/etc/resolv.conf".to_owned(),
            source,
        })?;
    }
    Ok(())
}

/// `/run/net-<dev>.conf` for the real system (initramfs-tools' format) and a copy in
/// /run/diskless. A failure costs the real system a convenience, not the boot.
pub fn hand_over(net: &Configured, name: &str) {
    let mask = u32::from(net.netmask());
    let conf = NetConf {
        device: &net.iface,
        proto: net.proto,
        address: net.address.to_string(),
        netmask: net.netmask().to_string(),
        broadcast: Ipv4Addr::from(u32::from(net.address) | !mask).to_string(),
        gateway: net
            .gateway
            .map(|gw| gw.to_string())
            .unwrap_or_else(|| "0.0.0.0".to_owned()),
        dns: net.dns.iter().map(ToString::to_string).collect(),
        hostname: name,
        domain: net.domain.as_deref().unwrap_or_default(),
        root_server: net.server.map(|s| s.to_string()).unwrap_or_default(),
        root_path: net.root_path.as_deref().unwrap_or_default(),
        lease_secs: net.lease_secs,
        search: net.search.clone(),
        ntp: net.ntp().map(|a| a.to_string()).collect(),
    };
    let contents = netconf::render(&conf);
    let _ = std::fs::create_dir_all(STATE_DIR);
    for path in [
        format!("/run/net-{}.conf", net.iface),
        format!("{}/net-{}.conf", STATE_DIR, net.iface),
    ] {
        if let Err(err) = std::fs::write(&path, &contents) {
            log::warn!("writing {path}: {err}");
        }
    }
}
