//! The NICs sysfs shows, and which one boots the node (pure).

use crate::identity::Mac;
use crate::plan::NicChoice;

/// A network interface as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub name: String,
    pub mac: Option<Mac>,
    pub ifindex: u32,
    /// ARPHRD_ETHER (`type` 1).
    pub ethernet: bool,
    /// Backed by a device (`/sys/class/net/<if>/device`), not a bridge, bond or tunnel.
    pub physical: bool,
}

/// The interface `choice` names among those present now.
pub fn pick<'a>(choice: &NicChoice, nics: &'a [Nic]) -> Option<&'a Nic> {
    match choice {
        NicChoice::Mac(mac) => nics.iter().find(|nic| nic.mac.as_ref() == Some(mac)),
        NicChoice::Name(name) => nics.iter().find(|nic| &nic.name == name),
        NicChoice::FirstEthernet => nics
            .iter()
            .filter(|nic| nic.ethernet && nic.physical && nic.mac.is_some())
            .min_by_key(|nic| nic.ifindex),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(name: &str, mac: &str, ifindex: u32, ethernet: bool, physical: bool) -> Nic {
        Nic {
            name: name.into(),
            mac: mac.parse().ok(),
            ifindex,
            ethernet,
            physical,
        }
    }

    #[test]
    fn boot_nic_choice() {
        let nics = [
            nic("lo", "00:00:00:00:00:00", 1, false, false),
            nic("br0", "52:54:00:00:00:09", 2, true, false),
            nic("eth1", "52:54:00:00:00:02", 4, true, true),
            nic("eth0", "52:54:00:00:00:01", 3, true, true),
        ];
        let by_mac = NicChoice::Mac("52:54:00:00:00:02".parse().expect("mac"));
        let cases = [
            (by_mac, Some("eth1")),
            (NicChoice::Name("eth1".into()), Some("eth1")),
            (NicChoice::Name("eth9".into()), None),
            (NicChoice::FirstEthernet, Some("eth0")),
            (
                NicChoice::Mac("aa:bb:cc:dd:ee:ff".parse().expect("mac")),
                None,
            ),
        ];
        for (choice, expected) in cases {
            assert_eq!(
                pick(&choice, &nics).map(|n| n.name.as_str()),
                expected,
                "{choice:?}"
            );
        }
    }
}
