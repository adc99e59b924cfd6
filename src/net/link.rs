//! Links: the interfaces sysfs shows, waiting (bounded) for the boot NIC to appear and for
//! carrier, and bringing links up. The one place a link comes up, for static and DHCP
//! configuration alike.

use std::path::Path;
use std::time::{Duration, Instant};

use super::error::NetError;
use super::naming::{self, Facts, PciAddress};
use super::nic::{Nic, pick};
use crate::identity::Mac;
use crate::plan::NicChoice;
use crate::sys;

/// How interfaces are named before they come up: the root's udev names (unless
/// `net.ifnames=0`), and names pinned to MACs (`ifname=`), which win.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Naming {
    pub predictable: bool,
    pub pinned: Vec<(String, Mac)>,
}

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

/// Polls until the chosen interface exists (drivers register NICs asynchronously), giving
/// each NIC that appears its final name first.
pub fn wait_for_interface(
    choice: &NicChoice,
    naming: &Naming,
    timeout: Duration,
) -> Result<Nic, Vec<Nic>> {
    let deadline = Instant::now() + timeout;
    loop {
        let nics = rename(interfaces(), naming);
        if let Some(nic) = pick(choice, &nics) {
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
    naming: &Naming,
    timeout_secs: u32,
    failed_drivers: &[String],
) -> Result<(String, Mac), NetError> {
    let timeout = Duration::from_secs(u64::from(timeout_secs));
    let no_interface = |wanted: String, present: String| NetError::NoInterface {
        wanted,
        secs: timeout_secs,
        present,
        failed_drivers: failed_drivers.to_vec(),
    };
    let nic = wait_for_interface(choice, naming, timeout).map_err(|present| {
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
pub fn bring_up(candidates: &[String], timeout_secs: u32) -> Result<Vec<String>, NetError> {
    if let Err(err) = sys::interface_up("lo") {
        log::warn!("bringing up lo: {err}");
    }
    for iface in candidates {
        sys::interface_up(iface).map_err(|source| NetError::InterfaceUp {
            iface: iface.clone(),
            source,
        })?;
    }
    let with_carrier =
        wait_for_any_carrier(candidates, Duration::from_secs(u64::from(timeout_secs)));
    if with_carrier.is_empty() {
        return Err(NetError::NoCarrier {
            iface: candidates.join(", "),
            secs: timeout_secs,
        });
    }
    Ok(with_carrier)
}

/// Gives the physical Ethernet NICs that still carry a kernel name (`eth0`) their final
/// name; returns the list as it is afterwards. A rename that fails is logged, not fatal: the
/// root's udev names the NIC then, or cannot, as without us.
fn rename(mut nics: Vec<Nic>, naming: &Naming) -> Vec<Nic> {
    const NET_NAME_ENUM: &str = "1";
    for k in 0..nics.len() {
        let Some(nic) = nics.get(k) else { continue };
        if !(nic.ethernet && nic.physical) {
            continue;
        }
        let dir = Path::new(SYS_CLASS_NET).join(&nic.name);
        if read_trimmed(&dir.join("name_assign_type")).as_deref() != Some(NET_NAME_ENUM) {
            continue;
        }
        let pinned = nic.mac.and_then(|mac| {
            naming
                .pinned
                .iter()
                .find(|(_, pinned)| *pinned == mac)
                .map(|(name, _)| name.clone())
        });
        let wanted = match pinned {
            Some(name) => Some((name, "ifname=")),
            None if naming.predictable => naming::predictable_name(&naming_facts(&dir))
                .map(|name| (name, "the name the root's udev gives it")),
            None => None,
        };
        let Some((wanted, why)) = wanted.filter(|(name, _)| *name != nic.name) else {
            continue;
        };
        if nics.iter().any(|other| other.name == wanted) {
            log::warn!(
                "{}: not renamed to {wanted} ({why}): that name is taken",
                nic.name
            );
            continue;
        }
        match sys::rename_interface(&nic.name, &wanted) {
            Ok(()) => {
                log::info!("{} is {wanted} ({why})", nic.name);
                if let Some(nic) = nics.get_mut(k) {
                    nic.name = wanted;
                }
            }
            Err(err) => log::warn!("{}: renaming it to {wanted} ({why}): {err}", nic.name),
        }
    }
    nics
}

/// What sysfs says about the device of the interface at `dir` (`/sys/class/net/<if>`), as
/// systemd's `net_id` reads it.
fn naming_facts(dir: &Path) -> Facts {
    let device = std::fs::canonicalize(dir.join("device")).ok();
    // A virtio NIC's device is `virtioN` on the virtio bus; its parent is the PCI function.
    let device = device.map(|d| {
        if subsystem(&d).as_deref() == Some("virtio") {
            d.parent().map(Path::to_path_buf).unwrap_or(d)
        } else {
            d
        }
    });
    let pci_device = device
        .as_deref()
        .filter(|d| subsystem(d).as_deref() == Some("pci"));
    let pci = pci_device
        .and_then(|d| d.file_name())
        .and_then(|name| name.to_str())
        .and_then(PciAddress::parse);
    let read_number = |path: &Path| read_trimmed(path).and_then(|v| v.parse::<u64>().ok());
    Facts {
        prefix: "en",
        pci,
        multifunction: pci_device.is_some_and(|d| {
            // Header type (config space byte 0x0e), bit 7: more than one function.
            std::fs::read(d.join("config"))
                .ok()
                .and_then(|config| config.get(0x0e).copied())
                .is_some_and(|header| header & 0x80 != 0)
        }),
        onboard_index: pci_device.and_then(|d| {
            read_number(&d.join("acpi_index")).or_else(|| read_number(&d.join("index")))
        }),
        hotplug_slot: pci.and_then(|pci| hotplug_slot(&pci)),
        dev_port: read_number(&dir.join("dev_port")).unwrap_or(0),
        phys_port_name: read_trimmed(&dir.join("phys_port_name")).filter(|n| !n.is_empty()),
        devicetree_alias: device.as_deref().and_then(devicetree_alias),
    }
}

/// The name of the bus a sysfs device sits on (`pci`, `virtio`, `platform`).
fn subsystem(device: &Path) -> Option<String> {
    std::fs::read_link(device.join("subsystem"))
        .ok()?
        .file_name()?
        .to_str()
        .map(str::to_owned)
}

/// The hotplug slot (`/sys/bus/pci/slots/<n>`) holding `pci`.
fn hotplug_slot(pci: &PciAddress) -> Option<u32> {
    let wanted = pci.slot_address();
    std::fs::read_dir("/sys/bus/pci/slots")
        .ok()?
        .filter_map(Result::ok)
        .find(|slot| read_trimmed(&slot.path().join("address")).as_deref() == Some(&wanted))
        .and_then(|slot| slot.file_name().to_str()?.parse().ok())
}

/// `N` of the devicetree alias `ethernetN` that points at `device`'s node.
fn devicetree_alias(device: &Path) -> Option<u32> {
    const BASE: &str = "/sys/firmware/devicetree/base";
    let node = std::fs::canonicalize(device.join("of_node")).ok()?;
    let node = node.strip_prefix(BASE).ok()?;
    std::fs::read_dir(Path::new(BASE).join("aliases"))
        .ok()?
        .filter_map(Result::ok)
        .find_map(|alias| {
            let name = alias.file_name().into_string().ok()?;
            let number = name.strip_prefix("ethernet")?.parse().ok()?;
            let target = std::fs::read(alias.path()).ok()?;
            let target = String::from_utf8_lossy(&target);
            (Path::new(target.trim_end_matches('\0'))
                .strip_prefix("/")
                .ok()?
                == node)
                .then_some(number)
        })
}
