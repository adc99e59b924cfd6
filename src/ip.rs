//! `ip=`: every form of the kernel (Documentation/admin-guide/nfs/nfsroot.rst), klibc ipconfig
//! and dracut (dracut.cmdline(7)), including the one pxelinux appends with `SYSAPPEND 1`/`IPAPPEND`
//! (`ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0`).

use std::net::{IpAddr, Ipv4Addr};

/// How an interface gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoConf {
    /// `off`, `none`, or an empty autoconf field with a client address: static.
    Off,
    /// `dhcp`, `on`, `any`, `bootp`, `both`, `rarp`, `dhcp4` and an empty autoconf field
    /// without a client address: DHCPv4 (we serve BOOTP/RARP requests with DHCP).
    Dhcp,
    /// `dhcp6`: DHCPv6 (recognised; not configured by us yet).
    Dhcp6,
    /// `auto6`: IPv6 SLAAC (recognised; left to the kernel).
    Auto6,
    /// `ibft`: firmware table (recognised; not supported).
    Ibft,
}

/// The full positional form:
/// `<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>` followed, klibc style, by
/// `:<dns0>:<dns1>:<ntp>` or, dracut style, by `:<mtu>:<mac>` or `:<dns1>:<dns2>`.
/// Fields may be empty and trailing fields missing. IPv6 addresses go in brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticIp {
    pub client: Option<IpAddr>,
    pub server: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
    /// A dotted netmask (`255.255.255.0`) or a prefix length (`24`), as a prefix length.
    pub prefix_len: Option<u8>,
    pub hostname: Option<String>,
    pub device: Option<String>,
    pub autoconf: AutoConf,
    pub dns: Vec<IpAddr>,
    pub ntp: Option<Ipv4Addr>,
    pub mtu: Option<u16>,
    /// dracut's `<macaddr>` field: set this MAC on the device.
    pub mac: Option<String>,
}

/// One `ip=` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpParam {
    /// `ip=off` / `ip=none`: no network configuration from the initramfs.
    Off,
    /// `ip=dhcp` and friends, on any suitable device (`ip=dhcp6`, `ip=auto6` too).
    Auto(AutoConf),
    /// dracut's `ip=<device>:<autoconf>[:<mtu>[:<mac>]]`.
    Device { device: String, autoconf: AutoConf, mtu: Option<u16>, mac: Option<String> },
    /// The positional form.
    Static(StaticIp),
}

/// Why an `ip=` value cannot be used; the message names the field and its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {text:?}: {reason}")]
pub struct IpParseError {
    pub field: &'static str,
    pub text: String,
    pub reason: &'static str,
}

/// Parses one `ip=` value (without the `ip=`).
pub fn parse(value: &str) -> Result<IpParam, IpParseError> {
    todo!("helper: {value}")
}

/// Converts a prefix length to a dotted IPv4 netmask (24 -> 255.255.255.0).
pub fn prefix_to_netmask(prefix_len: u8) -> Ipv4Addr {
    todo!("helper: {prefix_len}")
}
