//! Links: the interfaces sysfs shows, waiting (bounded) for the boot NIC to appear and for
//! carrier, and bringing links up. The one place a link comes up, for static and DHCP
//! configuration alike.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Nic, NicChoice};
use crate::error::BootError;
use crate::identity::Mac;
use crate::sys;

const SYS_CLASS_NET: &str = "/sys/class/net";

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The interfaces present now, sorted by index.
pub fn interfaces() -> Vec<Nic> {
    let Ok(entries) = std::fs::read_dir(SYS_CLASS_NET) else {
        return Vec::new();
    };
    let mut nics: Vec<Nic> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let dir = entry.path();
            Some(Nic {
                mac: read_trimmed(&dir.join("address")).and_then(|a| a.parse().ok()),
                ifindex: read_trimmed(&dir.join("ifindex"))
                    .and_then(|i| i.parse().ok())
                    .unwrap_or(u32::MAX),
                ethernet: read_trimmed(&dir.join("type")).as_deref() == Some("1"),
                physical: dir.join("device").exists(),
                name,
            })
        })
        .collect();
    nics.sort_by_key(|nic| nic.ifindex);
    nics
}

/// Polls until the chosen interface exists (drivers register NICs asynchronously).
pub fn wait_for_interface(choice: &NicChoice, timeout: Duration) -> Result<Nic, Vec<Nic>> {
    let deadline = Instant::now() + timeout;
    loop {
        let nics = interfaces();
        if let Some(nic) = choice.pick(&nics) {
            return Ok(nic.clone());
        }
        if Instant::now() >= deadline {
            return Err(nics);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The physical Ethernet NICs present now, by index.
pub fn ethernet_interfaces() -> Vec<String> {
    interfaces()
        .into_iter()
        .filter(|nic| nic.ethernet && nic.physical && nic.mac.is_some())
        .map(|nic| nic.name)
        .collect()
}

/// Polls until at least one of `ifaces` has carrier, then gives a moment for the others
/// (links come up close together) and returns those with carrier; empty after `timeout`.
pub fn wait_for_any_carrier(ifaces: &[String], timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let with_carrier = || -> Vec<String> {
        ifaces
            .iter()
            .filter(|iface| {
                read_trimmed(&Path::new(SYS_CLASS_NET).join(iface).join("carrier")).as_deref()
                    == Some("1")
            })
            .cloned()
            .collect()
    };
    loop {
        let up = with_carrier();
        if up.len() == ifaces.len() {
            return up;
        }
        if !up.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
            return with_carrier();
        }
        if Instant::now() >= deadline {
            return Vec::new();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The boot NIC, waited for up to `timeout_secs` (drivers register NICs asynchronously).
/// `failed_drivers` (module and why) are named when it never appears: the likely cause.
pub fn find_nic(
    choice: &NicChoice,
    timeout_secs: u32,
    failed_drivers: &[String],
) -> Result<(String, Mac), BootError> {
    let timeout = Duration::from_secs(u64::from(timeout_secs));
    let no_interface = |wanted: String, present: String| BootError::NoInterface {
        wanted,
        secs: timeout_secs,
        present,
        failed_drivers: failed_drivers.to_vec(),
    };
    let nic = wait_for_interface(choice, timeout).map_err(|present| {
        let names: Vec<&str> = present.iter().map(|n| n.name.as_str()).collect();
        no_interface(choice.describe(), names.join(", "))
    })?;
    let mac = nic.mac.ok_or_else(|| {
        no_interface(format!("{} with a MAC address", nic.name), nic.name.clone())
    })?;
    log::info!(
        "boot interface {} ({mac}), chosen {}",
        nic.name,
        choice.describe()
    );
    Ok((nic.name, mac))
}

/// Brings `lo` and the candidate NICs up and waits (bounded) for carrier; returns those that
/// have it.
pub fn bring_up(candidates: &[String], timeout_secs: u32) -> Result<Vec<String>, BootError> {
    if let Err(err) = sys::interface_up("lo") {
        log::warn!("bringing up lo: {err}");
    }
    for iface in candidates {
        sys::interface_up(iface).map_err(|source| BootError::InterfaceUp {
            iface: iface.clone(),
            source,
        })?;
    }
    let with_carrier =
        wait_for_any_carrier(candidates, Duration::from_secs(u64::from(timeout_secs)));
    if with_carrier.is_empty() {
        return Err(BootError::NoCarrier {
            iface: candidates.join(", "),
            secs: timeout_secs,
        });
    }
    Ok(with_carrier)
}
