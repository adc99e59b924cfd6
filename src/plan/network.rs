//! How the network step configures the node, and on which NIC: the last `ip=` decides, as
//! in the kernel; BOOTIF names the NIC first.

use std::net::{IpAddr, Ipv4Addr};

use super::error::PlanError;
use crate::cmdline::config::BootConfig;
use crate::cmdline::ip::{AutoConf, IpParam, StaticIp};
use crate::identity::Mac;
use crate::ipv4;

/// What the network step will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkPlan {
    Static {
        ip: StaticIp,
        plan: StaticPlan,
    },
    /// DHCPv4 on `device` (else BOOTIF's NIC, else every Ethernet NIC with carrier).
    /// `ip` keeps the fields of a positional `ip=…:dhcp` (its server, host name, device).
    Dhcp {
        device: Option<String>,
        ip: Option<StaticIp>,
    },
}

impl NetworkPlan {
    /// The last `ip=` decides, as in the kernel; none at all means DHCP (every root we boot
    /// needs the network, as with dracut's rd.neednet).
    pub fn from_config(config: &BootConfig) -> Result<NetworkPlan, PlanError> {
        let unsupported = |reason: &'static str| PlanError::UnsupportedIp {
            value: config.ip_given.clone().unwrap_or_default(),
            reason,
        };
        match &config.ip {
            None | Some(IpParam::Auto(AutoConf::Dhcp)) => Ok(NetworkPlan::Dhcp {
                device: None,
                ip: None,
            }),
            Some(IpParam::Device {
                device,
                autoconf: AutoConf::Dhcp,
                ..
            }) => Ok(NetworkPlan::Dhcp {
                device: Some(device.clone()),
                ip: None,
            }),
            Some(IpParam::Static(ip)) if ip.autoconf == AutoConf::Dhcp => Ok(NetworkPlan::Dhcp {
                device: ip.device.clone(),
                ip: Some(ip.clone()),
            }),
            Some(IpParam::Static(ip)) if ip.client.is_some() && ip.autoconf == AutoConf::Off => {
                let plan = StaticPlan::from_ip(ip).map_err(unsupported)?;
                Ok(NetworkPlan::Static {
                    ip: ip.clone(),
                    plan,
                })
            }
            Some(IpParam::Off) => Err(unsupported(
                "the root comes over the network, so the initramfs must configure it: \
                 give ip=dhcp or a static ip=",
            )),
            Some(IpParam::Static(ip)) if ip.autoconf == AutoConf::Off => Err(unsupported(
                "a static ip= needs the client address in its first field",
            )),
            Some(IpParam::Static(StaticIp { autoconf, .. }))
            | Some(IpParam::Auto(autoconf))
            | Some(IpParam::Device { autoconf, .. }) => Err(unsupported(match autoconf {
                AutoConf::Ibft => {
                    "firmware (iBFT) configuration is not read by diskless; \
                                   give ip=dhcp or a static ip="
                }
                _ => {
                    "IPv6 configuration is left to the real system; the initramfs needs \
                      IPv4: give ip=dhcp or a static ip="
                }
            })),
        }
    }

    /// The `ip=` device field, if any.
    pub fn device(&self) -> Option<&str> {
        match self {
            NetworkPlan::Static { ip, .. } => ip.device.as_deref(),
            NetworkPlan::Dhcp { device, .. } => device.as_deref(),
        }
    }

    /// The `ip=` host name field, for `diskless.hostname=dhcp`.
    pub fn given_hostname(&self) -> Option<&str> {
        match self {
            NetworkPlan::Static { ip, .. } | NetworkPlan::Dhcp { ip: Some(ip), .. } => {
                ip.hostname.as_deref()
            }
            NetworkPlan::Dhcp { ip: None, .. } => None,
        }
    }

    /// Which NIC boots the node: BOOTIF's, else the `ip=` device, else the first Ethernet.
    pub fn nic_choice(&self, config: &BootConfig) -> NicChoice {
        match (&config.bootif, self.device()) {
            (Some(mac), _) => NicChoice::Mac(*mac),
            (None, Some(device)) => NicChoice::Name(device.to_owned()),
            (None, None) => NicChoice::FirstEthernet,
        }
    }

    /// Whether DHCP may ask on every Ethernet NIC (nothing named one).
    pub fn dhcp_on_every_nic(&self, choice: &NicChoice) -> bool {
        matches!(self, NetworkPlan::Dhcp { .. }) && *choice == NicChoice::FirstEthernet
    }
}

/// Which interface the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicChoice {
    /// `BOOTIF=`: the NIC that PXE-booted.
    Mac(Mac),
    /// The `ip=` device field.
    Name(String),
    /// Neither: the first physical Ethernet NIC by interface index.
    FirstEthernet,
}

impl NicChoice {
    pub fn describe(&self) -> String {
        match self {
            NicChoice::Mac(mac) => format!("with MAC {mac} (BOOTIF)"),
            NicChoice::Name(name) => format!("{name} (ip= device)"),
            NicChoice::FirstEthernet => "of type Ethernet".to_owned(),
        }
    }
}

/// A static IPv4 configuration ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPlan {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mtu: Option<u16>,
    pub dns: Vec<IpAddr>,
}

impl StaticPlan {
    /// From the positional `ip=` form. Without a netmask the classful default applies, as in
    /// the kernel's ipconfig.
    pub fn from_ip(ip: &StaticIp) -> Result<StaticPlan, &'static str> {
        let address = match ip.client {
            Some(IpAddr::V4(addr)) => addr,
            Some(IpAddr::V6(_)) => {
                return Err(
                    "IPv6 client addresses are left to the real system; the initramfs \
                            needs IPv4: give ip=dhcp or a static IPv4 ip=",
                );
            }
            None => return Err("a static ip= needs the client address in its first field"),
        };
        let prefix_len = ip
            .prefix_len
            .unwrap_or_else(|| ipv4::classful_prefix(address));
        let gateway = match ip.gateway {
            Some(IpAddr::V4(gw)) if !gw.is_unspecified() => Some(gw),
            _ => None,
        };
        Ok(StaticPlan {
            address,
            prefix_len,
            gateway,
            mtu: ip.mtu,
            dns: ip.dns.clone(),
        })
    }

    pub fn netmask(&self) -> Ipv4Addr {
        ipv4::prefix_to_netmask(self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline;

    fn config(line: &str) -> BootConfig {
        BootConfig::from_params(&cmdline::parse(line)).expect("config")
    }

    fn network(line: &str) -> Result<NetworkPlan, PlanError> {
        NetworkPlan::from_config(&config(line))
    }

    /// What each `ip=` form makes the network step do; the last `ip=` wins, as in the kernel.
    #[test]
    fn network_plans() {
        let pxelinux =
            "ip=dhcp ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0 BOOTIF=01-52-54-00-12-34-56";
        match network(pxelinux) {
            Ok(NetworkPlan::Static { plan, ip }) => {
                assert_eq!(plan.address.to_string(), "10.0.2.15");
                assert_eq!(
                    ip.server.map(|s| s.to_string()).as_deref(),
                    Some("10.0.2.2")
                );
            }
            other => panic!("pxelinux's appended ip= must win: {other:?}"),
        }
        let dhcp_cases = [
            ("", None),
            ("ip=dhcp", None),
            ("ip=on", None),
            ("ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0 ip=dhcp", None),
            ("ip=eth1:dhcp", Some("eth1")),
            ("ip=::::node1:eth0:dhcp", Some("eth0")),
        ];
        for (line, device) in dhcp_cases {
            match network(line) {
                Ok(NetworkPlan::Dhcp { device: got, .. }) => {
                    assert_eq!(got.as_deref(), device, "{line}")
                }
                other => panic!("{line}: expected DHCP, got {other:?}"),
            }
        }
    }

    /// Refusals show the admin's own `ip=` text and say what to give instead.
    #[test]
    fn unusable_ip_forms_are_refused_in_the_admins_words() {
        let cases = [
            ("ip=off", "ip=off: the root comes over the network"),
            ("ip=none", "ip=none: the root comes over the network"),
            (
                "ip=dhcp6",
                "ip=dhcp6: IPv6 configuration is left to the real system",
            ),
            ("ip=eth0:auto6", "ip=eth0:auto6: IPv6 configuration"),
            ("ip=ibft", "ip=ibft: firmware (iBFT)"),
            (
                "ip=::::node1:eth0:none",
                "ip=::::node1:eth0:none: a static ip= needs the client address",
            ),
            (
                "ip=[fd00::15]:::64::eth0:off",
                "ip=[fd00::15]:::64::eth0:off: IPv6 client addresses",
            ),
        ];
        for (line, want) in cases {
            let err = network(line).expect_err(line).to_string();
            assert!(err.starts_with(want), "{line}: {err}");
        }
    }

    #[test]
    fn the_boot_nic_is_bootif_then_the_ip_device_then_the_first_ethernet() {
        let mac = "52:54:00:12:34:56".parse().expect("mac");
        let cases = [
            (
                "BOOTIF=01-52-54-00-12-34-56 ip=eth1:dhcp",
                NicChoice::Mac(mac),
            ),
            ("ip=eth1:dhcp", NicChoice::Name("eth1".into())),
            (
                "ip=10.0.2.15:::255.255.255.0::eth2:off",
                NicChoice::Name("eth2".into()),
            ),
            ("ip=dhcp", NicChoice::FirstEthernet),
        ];
        for (line, want) in cases {
            let c = config(line);
            let plan = NetworkPlan::from_config(&c).expect(line);
            let choice = plan.nic_choice(&c);
            assert_eq!(choice, want, "{line}");
            assert_eq!(plan.dhcp_on_every_nic(&choice), line == "ip=dhcp", "{line}");
        }
    }
}
