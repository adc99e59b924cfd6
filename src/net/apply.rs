//! Applying the network configuration to the kernel, and handing it to the real system.

use std::net::Ipv4Addr;

use super::Configured;
use super::error::NetError;
use super::handover;
use super::link;
use super::netconf::{self, NetConf};
use crate::ipv4;
use crate::rundir::{NETWORKD_RUNTIME, STATE_DIR, SYSTEMD_RUNTIME_UNITS};
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
/// /run/diskless; with `keep` (the root depends on the network), what keeps the boot NIC
/// configured when the root's network manager takes it over ([`handover`]). A failure is
/// logged: the boot goes on, as the image's own files would have it.
pub fn hand_over(net: &Configured, name: &str, keep: bool) {
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
        ntp: net.ntp.iter().map(ToString::to_string).collect(),
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
    if keep {
        keep_configured(net);
    }
}

/// The runtime files of [`handover`], for systemd-networkd and ifupdown (an image has one or
/// the other; the other's files are never read).
fn keep_configured(net: &Configured) {
    let mac = link::interfaces()
        .into_iter()
        .find(|nic| nic.name == net.iface)
        .and_then(|nic| nic.mac);
    let networkd = format!(
        "{NETWORKD_RUNTIME}/{}",
        handover::networkd_file_name(&net.iface)
    );
    let mut files = vec![(networkd.clone(), handover::networkd_file(net, mac.as_ref()))];
    for unit in handover::IFUPDOWN_UNITS {
        files.push((
            format!(
                "{SYSTEMD_RUNTIME_UNITS}/{unit}.d/{}",
                handover::IFUPDOWN_DROP_IN
            ),
            handover::IFUPDOWN_KEEP.to_owned(),
        ));
    }
    let mut written = true;
    for (path, contents) in files {
        let dir = std::path::Path::new(&path).parent();
        let result = dir
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, contents));
        if let Err(err) = result {
            log::warn!("writing {path}: {err}");
            written = false;
        }
    }
    if written {
        log::info!(
            "{}: kept as configured for the root's network manager: {networkd} and \
             ifupdown's drop-ins (diskless.handover=none leaves it to the image)",
            net.iface
        );
    }
}
