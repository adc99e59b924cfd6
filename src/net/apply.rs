//! Applying the network configuration to the kernel, and handing it to the real system.

use std::net::Ipv4Addr;
use std::path::Path;

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

/// For a root that depends on the network, mounted at `root`: the files of [`handover`] for
/// the network managers it has. ifupdown's drop-ins only when systemd is its init
/// (`systemd_init`): /run/systemd/system is how programs tell that systemd runs
/// (sd_booted(3), Debian's init scripts), so it is never made for another init. A failure
/// is logged: the boot goes on, as the image's own files would have it.
pub fn keep_configured(net: &Configured, root: &Path, systemd_init: bool) {
    let has = |paths: &[&str]| paths.iter().any(|p| root.join(p).exists());
    let mut files = Vec::new();
    if has(&handover::NETWORKD_BINARIES) {
        let mac = link::interfaces()
            .into_iter()
            .find(|nic| nic.name == net.iface)
            .and_then(|nic| nic.mac);
        files.push((
            format!(
                "{NETWORKD_RUNTIME}/{}",
                handover::networkd_file_name(&net.iface)
            ),
            handover::networkd_file(net, mac.as_ref()),
        ));
    }
    if systemd_init && has(&handover::IFUPDOWN_BINARIES) {
        for unit in handover::IFUPDOWN_UNITS {
            files.push((
                format!(
                    "{SYSTEMD_RUNTIME_UNITS}/{unit}.d/{}",
                    handover::IFUPDOWN_DROP_IN
                ),
                handover::IFUPDOWN_KEEP.to_owned(),
            ));
        }
    }
    let mut written = Vec::new();
    for (path, contents) in files {
        let result = Path::new(&path)
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, contents));
        match result {
            Ok(()) => written.push(path),
            Err(err) => log::warn!("writing {path}: {err}"),
        }
    }
    if written.is_empty() {
        log::info!(
            "{}: the root has neither systemd-networkd nor ifupdown under systemd: its own \
             files keep the interface",
            net.iface
        );
    } else {
        log::info!(
            "{}: kept as configured for the root's network manager: {} \
             (diskless.handover=none leaves it to the image)",
            net.iface,
            written.join(", ")
        );
    }
}
