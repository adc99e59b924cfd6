//! The names the root's udev would give network interfaces, so that the init can give them
//! first: udev cannot rename an interface that is up ("cannot rename ... it is busy"), and the
//! root's own network configuration (ifupdown's `iface ens3`, systemd-networkd's
//! `Name=en*`) must find the boot NIC under its final name. After an initramfs rename the
//! kernel marks the name as assigned by user space, and udev's default `NamePolicy=` keeps it.
//!
//! Pure: [`predictable_name`] turns what sysfs says about a device ([`Facts`]) into the name
//! systemd's `net_id` builtin derives for the default policy `onboard slot path` (naming
//! scheme v252, Debian 12); names pinned with dracut's `ifname=` are read by
//! [`crate::cmdline::ifname`].

/// A PCI function's address, `domain:bus:slot.function` as sysfs names the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciAddress {
    pub domain: u32,
    pub bus: u32,
    pub slot: u32,
    pub function: u32,
}

impl PciAddress {
    /// Parses a sysfs PCI device name such as `0000:00:03.0`.
    pub fn parse(name: &str) -> Option<PciAddress> {
        let (domain, rest) = name.split_once(':')?;
        let (bus, rest) = rest.split_once(':')?;
        let (slot, function) = rest.split_once('.')?;
        let hex = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(s, 16).ok())
                .flatten()
        };
        let function = (!function.is_empty() && function.bytes().all(|b| b.is_ascii_digit()))
            .then(|| function.parse().ok())
            .flatten()?;
        Some(PciAddress {
            domain: hex(domain)?,
            bus: hex(bus)?,
            slot: hex(slot)?,
            function,
        })
    }

    /// `0000:00:03`: how `/sys/bus/pci/slots/<n>/address` names the slot of this function.
    pub fn slot_address(&self) -> String {
        format!("{:04x}:{:02x}:{:02x}", self.domain, self.bus, self.slot)
    }
}

/// What sysfs says about a network device, as far as naming goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `en` for Ethernet (the only type the init brings up).
    pub prefix: &'static str,
    /// The PCI function the interface belongs to (through virtio's bus, if any).
    pub pci: Option<PciAddress>,
    /// The PCI device answers on more than one function (header type bit 7).
    pub multifunction: bool,
    /// Firmware's on-board index: ACPI `acpi_index`, else SMBIOS `index`.
    pub onboard_index: Option<u64>,
    /// The hotplug slot (`/sys/bus/pci/slots/<n>`) whose address is this device's.
    pub hotplug_slot: Option<u32>,
    /// The interface's `dev_port` (several ports on one function).
    pub dev_port: u64,
    /// The interface's `phys_port_name`, when the driver gives one.
    pub phys_port_name: Option<String>,
    /// A devicetree `ethernet<N>` alias that names this device (boards such as the
    /// Raspberry Pi, whose NIC is not on PCI).
    pub devicetree_alias: Option<u32>,
}

/// Firmware indexes above this are rubbish (VMware reports 2^24-1); systemd ignores them.
const ONBOARD_INDEX_MAX: u64 = 16 * 1024 - 1;
use crate::cmdline::ifname::MAX_NAME;

/// The name udev gives with the default policy: onboard (`eno1`, or `end0` from a devicetree
/// alias), else hotplug slot (`ens3`), else PCI path (`enp0s3`). `None` when none applies
/// (the kernel's name then stays, as udev leaves it).
pub fn predictable_name(facts: &Facts) -> Option<String> {
    let candidates = [onboard(facts), slot(facts), path(facts)];
    candidates
        .into_iter()
        .flatten()
        .map(|suffix| format!("{}{suffix}", facts.prefix))
        .find(|name| name.len() <= MAX_NAME)
}

/// `n<phys_port_name>` or `d<dev_port>`: which port of a multi-port function.
fn port_suffix(facts: &Facts) -> String {
    match (&facts.phys_port_name, facts.dev_port) {
        (Some(name), _) if !name.is_empty() => format!("n{name}"),
        (_, port) if port > 0 => format!("d{port}"),
        _ => String::new(),
    }
}

/// `f<function>` when the function is not the first, or the device has several.
fn function_suffix(pci: &PciAddress, multifunction: bool) -> String {
    if pci.function > 0 || multifunction {
        format!("f{}", pci.function)
    } else {
        String::new()
    }
}

fn onboard(facts: &Facts) -> Option<String> {
    if let Some(alias) = facts.devicetree_alias {
        return Some(format!("d{alias}"));
    }
    let index = facts
        .onboard_index
        .filter(|i| (1..=ONBOARD_INDEX_MAX).contains(i))?;
    facts.pci?;
    Some(format!("o{index}{}", port_suffix(facts)))
}

fn domain_prefix(pci: &PciAddress) -> String {
    if pci.domain > 0 {
        format!("P{}", pci.domain)
    } else {
        String::new()
    }
}

fn slot(facts: &Facts) -> Option<String> {
    let pci = facts.pci?;
    let slot = facts.hotplug_slot.filter(|s| *s > 0)?;
    Some(format!(
        "{}s{slot}{}{}",
        domain_prefix(&pci),
        function_suffix(&pci, facts.multifunction),
        port_suffix(facts)
    ))
}

fn path(facts: &Facts) -> Option<String> {
    let pci = facts.pci?;
    Some(format!(
        "{}p{}s{}{}{}",
        domain_prefix(&pci),
        pci.bus,
        pci.slot,
        function_suffix(&pci, facts.multifunction),
        port_suffix(facts)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pci(name: &str) -> Option<PciAddress> {
        PciAddress::parse(name)
    }

    fn facts(pci_name: &str) -> Facts {
        Facts {
            prefix: "en",
            pci: pci(pci_name),
            ..Facts::default()
        }
    }

    #[test]
    fn pci_addresses_parse_as_sysfs_names_them() {
        assert_eq!(
            pci("0000:00:03.0"),
            Some(PciAddress {
                domain: 0,
                bus: 0,
                slot: 3,
                function: 0
            })
        );
        assert_eq!(
            pci("0001:3b:1f.7"),
            Some(PciAddress {
                domain: 1,
                bus: 0x3b,
                slot: 0x1f,
                function: 7
            })
        );
        for bad in [
            "",
            "virtio0",
            "0000:00:03",
            "0000:00:03.x",
            "00:03.0",
            "0000:zz:03.0",
        ] {
            assert_eq!(pci(bad), None, "{bad}");
        }
        assert_eq!(
            pci("0000:00:03.0").map(|p| p.slot_address()).as_deref(),
            Some("0000:00:03")
        );
    }

    /// The names udev (systemd 252, Debian 12) gives, one row per rule it applies.
    #[test]
    fn names_follow_the_default_policy_onboard_then_slot_then_path() {
        let cases: Vec<(&str, Facts, Option<&str>)> = vec![
            // QEMU's i440fx: virtio-net in hotplug slot 3.
            (
                "qemu pc, slot 3",
                Facts {
                    hotplug_slot: Some(3),
                    ..facts("0000:00:03.0")
                },
                Some("ens3"),
            ),
            // QEMU's q35 / aarch64 virt: no hotplug slots on the root bus.
            ("no slot", facts("0000:00:01.0"), Some("enp0s1")),
            ("bridge bus", facts("0000:01:00.0"), Some("enp1s0")),
            // Firmware's on-board index wins over slot and path.
            (
                "onboard",
                Facts {
                    onboard_index: Some(1),
                    hotplug_slot: Some(3),
                    ..facts("0000:00:1f.6")
                },
                Some("eno1"),
            ),
            (
                "onboard index 0 is no index",
                Facts {
                    onboard_index: Some(0),
                    ..facts("0000:00:19.0")
                },
                Some("enp0s25"),
            ),
            (
                "rubbish onboard index",
                Facts {
                    onboard_index: Some(16_777_215),
                    ..facts("0000:0b:00.0")
                },
                Some("enp11s0"),
            ),
            (
                "second function",
                Facts {
                    hotplug_slot: Some(2),
                    ..facts("0000:02:00.1")
                },
                Some("ens2f1"),
            ),
            (
                "multi-function device, function 0",
                Facts {
                    multifunction: true,
                    ..facts("0000:02:00.0")
                },
                Some("enp2s0f0"),
            ),
            (
                "port of a multi-port function",
                Facts {
                    dev_port: 1,
                    onboard_index: Some(2),
                    ..facts("0000:04:00.0")
                },
                Some("eno2d1"),
            ),
            (
                "phys_port_name",
                Facts {
                    phys_port_name: Some("p1".into()),
                    ..facts("0000:05:00.0")
                },
                Some("enp5s0np1"),
            ),
            (
                "PCI domain",
                Facts {
                    hotplug_slot: Some(7),
                    ..facts("0002:00:00.0")
                },
                Some("enP2s7"),
            ),
            // Raspberry Pi 4 (bcmgenet) and 5 (macb): a devicetree alias ethernet0.
            (
                "devicetree alias",
                Facts {
                    prefix: "en",
                    devicetree_alias: Some(0),
                    ..Facts::default()
                },
                Some("end0"),
            ),
            // Neither PCI nor an alias: the kernel's name stays.
            (
                "nothing to go by",
                Facts {
                    prefix: "en",
                    ..Facts::default()
                },
                None,
            ),
            // Too long for IFNAMSIZ: the next rule's name.
            (
                "long port name",
                Facts {
                    phys_port_name: Some("p0pf1vf1023".into()),
                    onboard_index: Some(1),
                    ..facts("0000:05:00.0")
                },
                None,
            ),
        ];
        for (why, facts, want) in cases {
            assert_eq!(
                predictable_name(&facts).as_deref(),
                want,
                "{why}: {facts:?}"
            );
        }
    }
}
