//! `ip=`: every form of the kernel (Documentation/admin-guide/nfs/nfsroot.rst), klibc ipconfig
//! and dracut (dracut.cmdline(7)), including the one pxelinux appends with `SYSAPPEND 1`/`IPAPPEND`
//! (`ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0`).

use crate::identity::Mac;
use crate::ipv4;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How an interface gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoConf {
    /// `off`, `none`, or an empty autoconf field with a client address: static.
    Off,
    /// `dhcp`, `on`, `any`, `bootp`, `both`, `rarp`, `dhcp4`, `single-dhcp` and an empty
    /// autoconf field without a client address: DHCPv4 (we serve BOOTP/RARP requests with DHCP).
    Dhcp,
    /// `dhcp6`: DHCPv6 (recognised; not configured by us yet).
    Dhcp6,
    /// `auto6`, and dracut's `either6` (SLAAC, else DHCPv6) and `link6` (link-local only):
    /// IPv6 autoconfiguration (recognised; left to the kernel).
    Auto6,
    /// `ibft`: firmware table (recognised; not supported).
    Ibft,
}

impl AutoConf {
    /// The autoconf keywords, as the kernel, klibc and dracut spell them (case-sensitive, as
    /// they compare them).
    fn from_keyword(word: &str) -> Option<AutoConf> {
        Some(match word {
            "off" | "none" => AutoConf::Off,
            "dhcp" | "on" | "any" | "bootp" | "both" | "rarp" | "dhcp4" | "single-dhcp" => {
                AutoConf::Dhcp
            }
            "dhcp6" => AutoConf::Dhcp6,
            "auto6" | "either6" | "link6" => AutoConf::Auto6,
            "ibft" => AutoConf::Ibft,
            _ => return None,
        })
    }
}

/// The full positional form:
/// `<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>` followed, klibc style, by
/// `:<dns0>:<dns1>:<ntp>` or, dracut style, by `:<mtu>:<mac>` or `:<dns1>:<dns2>`.
/// Fields may be empty and trailing fields missing. IPv6 addresses go in brackets.
/// Field 8 decides the style: an IP address starts DNS servers, a number is the MTU, an empty
/// field followed by a MAC is dracut's `::<mac>`, else klibc's `:<dns1>:<ntp>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticIp {
    pub client: Option<IpAddr>,
    pub server: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
    /// A dotted netmask (`255.255.255.0`) or a prefix length (`24`), as a prefix length.
    pub prefix_len: Option<u8>,
    pub hostname: Option<String>,
    pub device: Option<String>,
    /// `Off`: use the fields as given; `Dhcp` (and the others): autoconfigure `device`.
    pub autoconf: AutoConf,
    pub dns: Vec<IpAddr>,
    pub ntp: Option<Ipv4Addr>,
    pub mtu: Option<u16>,
    /// dracut's `<macaddr>` field: set this MAC on the device (normalised to
    /// `aa:bb:cc:dd:ee:ff`).
    pub mac: Option<String>,
}

/// One `ip=` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpParam {
    /// `ip=off` / `ip=none`: no network configuration from the initramfs.
    Off,
    /// `ip=dhcp` and friends, on any suitable device (`ip=dhcp6`, `ip=auto6` too).
    Auto(AutoConf),
    /// dracut's `ip=<device>:<autoconf>[:<mtu>[:<mac>]]`; the MAC is normalised to
    /// `aa:bb:cc:dd:ee:ff` (dracut writes it with colons, so it spans six fields).
    Device {
        device: String,
        autoconf: AutoConf,
        mtu: Option<u16>,
        mac: Option<String>,
    },
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

fn fail<T>(field: &'static str, text: &str, reason: &'static str) -> Result<T, IpParseError> {
    Err(IpParseError {
        field,
        text: text.to_owned(),
        reason,
    })
}

/// Parses one `ip=` value (without the `ip=`).
pub fn parse(value: &str) -> Result<IpParam, IpParseError> {
    if value.is_empty() {
        return fail("ip", value, "empty value (use ip=dhcp or ip=off)");
    }
    let fields = split_fields(value)?;
    if let [word] = fields.as_slice() {
        return match AutoConf::from_keyword(word) {
            Some(AutoConf::Off) => Ok(IpParam::Off),
            Some(autoconf) => Ok(IpParam::Auto(autoconf)),
            // The kernel reads a lone value as the client field of the positional form.
            None if looks_like_address(word) => parse_positional(&fields),
            None => fail(
                "autoconf",
                word,
                "unknown method (off, none, dhcp, on, any, bootp, dhcp6, auto6, ...) \
                 and not a client address",
            ),
        };
    }
    // dracut's `<device>:<autoconf>...`: a server field never holds a keyword.
    if let [device, word, rest @ ..] = fields.as_slice() {
        if let Some(autoconf) = AutoConf::from_keyword(word) {
            if !device.is_empty() && !looks_like_address(device) {
                return parse_device_form(device, autoconf, rest);
            }
        }
    }
    parse_positional(&fields)
}

/// Whether a field is meant as an address (so that a typo in it reports "client").
fn looks_like_address(text: &str) -> bool {
    text.starts_with('[') || text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Splits at `:` outside `[...]`.
fn split_fields(value: &str) -> Result<Vec<&str>, IpParseError> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut in_bracket = false;
    for (i, c) in value.char_indices() {
        match c {
            '[' if !in_bracket => in_bracket = true,
            ']' if in_bracket => in_bracket = false,
            ':' if !in_bracket => {
                fields.push(value.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_bracket {
        return fail("ip", value, "'[' without ']'");
    }
    fields.push(value.get(start..).unwrap_or_default());
    Ok(fields)
}

/// dracut's `<device>:<autoconf>[:<mtu>[:<mac>]]`.
fn parse_device_form(
    device: &str,
    autoconf: AutoConf,
    rest: &[&str],
) -> Result<IpParam, IpParseError> {
    check_device(device)?;
    let rest = trim_trailing_empty(rest);
    let (mtu, mac) = match rest.split_first() {
        None => (None, None),
        Some((mtu, mac_fields)) => {
            let mtu = if mtu.is_empty() {
                None
            } else {
                Some(parse_mtu(mtu)?)
            };
            (mtu, parse_mac_fields(mac_fields)?)
        }
    };
    Ok(IpParam::Device {
        device: device.to_owned(),
        autoconf,
        mtu,
        mac,
    })
}

fn parse_positional(fields: &[&str]) -> Result<IpParam, IpParseError> {
    let field = |k: usize| fields.get(k).copied().unwrap_or_default();
    let client = opt_ip(field(0), "client")?;
    let server = opt_ip(field(1), "server")?;
    let gateway = opt_ip(field(2), "gateway")?;
    let v6 = matches!(client, Some(IpAddr::V6(_))) || matches!(gateway, Some(IpAddr::V6(_)));
    let prefix_len = parse_netmask(field(3), v6)?;
    let hostname = Some(field(4)).filter(|h| !h.is_empty()).map(str::to_owned);
    let device = match field(5) {
        "" => None,
        dev => {
            check_device(dev)?;
            Some(dev.to_owned())
        }
    };
    let autoconf = match field(6) {
        // nfsroot.rst: with a client address the kernel configures it and does no
        // autoconfiguration; without one it autoconfigures.
        "" if client.is_some() => AutoConf::Off,
        "" => AutoConf::Dhcp,
        word => match AutoConf::from_keyword(word) {
            Some(autoconf) => autoconf,
            None => return fail("autoconf", word, "unknown method (off, none, dhcp, ...)"),
        },
    };
    let mut ip = StaticIp {
        client,
        server,
        gateway,
        prefix_len,
        hostname,
        device,
        autoconf,
        dns: Vec::new(),
        ntp: None,
        mtu: None,
        mac: None,
    };
    parse_tail(fields.get(7..).unwrap_or_default(), &mut ip)?;
    Ok(IpParam::Static(ip))
}

/// Fields 8 and on: klibc `dns0:dns1:ntp`, dracut `mtu:mac` or `dns1:dns2`, told apart by
/// what parses.
fn parse_tail(tail: &[&str], ip: &mut StaticIp) -> Result<(), IpParseError> {
    let tail = trim_trailing_empty(tail);
    let Some((&first, rest)) = tail.split_first() else {
        return Ok(());
    };
    if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
        ip.mtu = Some(parse_mtu(first)?);
        ip.mac = parse_mac_fields(rest)?;
        return Ok(());
    }
    if first.is_empty() && is_mac_fields(rest) {
        ip.mac = parse_mac_fields(rest)?;
        return Ok(());
    }
    if !first.is_empty() && !looks_like_address(first) {
        return fail(
            "dns0",
            first,
            "neither an IP address (IPv6 goes in brackets) nor an MTU",
        );
    }
    let dns0 = opt_ip(first, "dns0")?;
    let dns1 = opt_ip(rest.first().copied().unwrap_or_default(), "dns1")?;
    ip.dns = dns0.into_iter().chain(dns1).collect();
    if let Some(&ntp) = rest.get(1) {
        ip.ntp = match opt_ip(ntp, "ntp")? {
            Some(IpAddr::V4(addr)) => Some(addr),
            Some(IpAddr::V6(_)) => return fail("ntp", ntp, "klibc's ntp field is IPv4 only"),
            None => None,
        };
    }
    if let Some(extra) = rest.get(2) {
        return fail("ip", extra, "unexpected field after dns0:dns1:ntp");
    }
    Ok(())
}

fn trim_trailing_empty<'a, 'b>(mut fields: &'b [&'a str]) -> &'b [&'a str] {
    while let Some((last, init)) = fields.split_last() {
        if !last.is_empty() {
            break;
        }
        fields = init;
    }
    fields
}

/// A MAC written as one field (`aa-bb-...`, `aabbccddeeff`) or as six colon-split fields.
fn is_mac_fields(fields: &[&str]) -> bool {
    matches!(parse_mac_fields(fields), Ok(Some(_)))
}

fn parse_mac_fields(fields: &[&str]) -> Result<Option<String>, IpParseError> {
    let text = match fields {
        [] => return Ok(None),
        [one] => (*one).to_owned(),
        _ => fields.join(":"),
    };
    match text.parse::<Mac>() {
        Ok(mac) => Ok(Some(mac.to_string())),
        Err(_) => fail("mac", &text, "not a MAC address (aa:bb:cc:dd:ee:ff)"),
    }
}

fn parse_mtu(text: &str) -> Result<u16, IpParseError> {
    // Digits only: `u16::from_str` would also take "+1500".
    let number = text
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse::<u16>());
    match number {
        // 68: the smallest MTU IPv4 allows (RFC 791); the kernel refuses less.
        Some(Ok(mtu)) if mtu >= 68 => Ok(mtu),
        _ => fail("mtu", text, "not a number from 68 to 65535"),
    }
}

fn check_device(name: &str) -> Result<(), IpParseError> {
    // IFNAMSIZ is 16 with the NUL; dev_valid_name() refuses '/', whitespace, "." and "..".
    if name.len() > 15 {
        return fail("device", name, "longer than 15 characters");
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c == '[' || c == ']')
    {
        return fail("device", name, "not a valid interface name");
    }
    Ok(())
}

/// An empty field, dotted IPv4, or IPv6 in brackets.
fn opt_ip(text: &str, field: &'static str) -> Result<Option<IpAddr>, IpParseError> {
    if text.is_empty() {
        return Ok(None);
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return match inner.parse::<Ipv6Addr>() {
            Ok(addr) => Ok(Some(IpAddr::V6(addr))),
            Err(_) => fail(field, text, "not an IPv6 address"),
        };
    }
    match text.parse::<Ipv4Addr>() {
        Ok(addr) => Ok(Some(IpAddr::V4(addr))),
        Err(_) => fail(field, text, "not an IPv4 address (IPv6 goes in brackets)"),
    }
}

fn parse_netmask(text: &str, v6: bool) -> Result<Option<u8>, IpParseError> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.contains('.') {
        let Ok(mask) = text.parse::<Ipv4Addr>() else {
            return fail("netmask", text, "not a dotted netmask or a prefix length");
        };
        return match ipv4::netmask_to_prefix(mask) {
            Some(len) => Ok(Some(len)),
            None => fail("netmask", text, "not a contiguous netmask"),
        };
    }
    let max = if v6 { 128 } else { 32 };
    match text.parse::<u8>() {
        Ok(len) if len <= max && text.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(len)),
        _ if v6 => fail("netmask", text, "not a prefix length from 0 to 128"),
        _ => fail(
            "netmask",
            text,
            "not a dotted netmask or a prefix length from 0 to 32",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    fn empty_static(autoconf: AutoConf) -> StaticIp {
        StaticIp {
            client: None,
            server: None,
            gateway: None,
            prefix_len: None,
            hostname: None,
            device: None,
            autoconf,
            dns: vec![],
            ntp: None,
            mtu: None,
            mac: None,
        }
    }

    #[test]
    fn keyword_forms() {
        let cases: &[(&str, IpParam)] = &[
            ("off", IpParam::Off),
            ("none", IpParam::Off),
            ("dhcp", IpParam::Auto(AutoConf::Dhcp)),
            ("on", IpParam::Auto(AutoConf::Dhcp)),
            ("any", IpParam::Auto(AutoConf::Dhcp)),
            ("bootp", IpParam::Auto(AutoConf::Dhcp)),
            ("both", IpParam::Auto(AutoConf::Dhcp)),
            ("rarp", IpParam::Auto(AutoConf::Dhcp)),
            ("dhcp4", IpParam::Auto(AutoConf::Dhcp)),
            ("single-dhcp", IpParam::Auto(AutoConf::Dhcp)),
            ("dhcp6", IpParam::Auto(AutoConf::Dhcp6)),
            ("auto6", IpParam::Auto(AutoConf::Auto6)),
            ("either6", IpParam::Auto(AutoConf::Auto6)),
            ("link6", IpParam::Auto(AutoConf::Auto6)),
            ("ibft", IpParam::Auto(AutoConf::Ibft)),
        ];
        for (value, want) in cases {
            assert_eq!(parse(value).as_ref(), Ok(want), "ip={value}");
        }
    }

    #[test]
    fn pxelinux_ipappend_is_static() {
        let want = StaticIp {
            client: Some(v4("10.0.2.15")),
            server: Some(v4("10.0.2.2")),
            gateway: Some(v4("10.0.2.2")),
            prefix_len: Some(24),
            ..empty_static(AutoConf::Off)
        };
        assert_eq!(
            parse("10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0"),
            Ok(IpParam::Static(want))
        );
    }

    #[test]
    fn positional_forms() {
        let cases: &[(&str, StaticIp)] = &[
            (
                "192.168.0.4:192.168.0.254:192.168.0.254:255.255.255.0",
                StaticIp {
                    client: Some(v4("192.168.0.4")),
                    server: Some(v4("192.168.0.254")),
                    gateway: Some(v4("192.168.0.254")),
                    prefix_len: Some(24),
                    ..empty_static(AutoConf::Off)
                },
            ),
            (
                "10.0.0.5::10.0.0.1:16:node5:eth0:none",
                StaticIp {
                    client: Some(v4("10.0.0.5")),
                    gateway: Some(v4("10.0.0.1")),
                    prefix_len: Some(16),
                    hostname: Some("node5".into()),
                    device: Some("eth0".into()),
                    ..empty_static(AutoConf::Off)
                },
            ),
            (
                "10.0.0.5:::255.255.255.252::eth1:dhcp",
                StaticIp {
                    client: Some(v4("10.0.0.5")),
                    prefix_len: Some(30),
                    device: Some("eth1".into()),
                    ..empty_static(AutoConf::Dhcp)
                },
            ),
            (
                "::::node9:eth0:",
                StaticIp {
                    hostname: Some("node9".into()),
                    device: Some("eth0".into()),
                    ..empty_static(AutoConf::Dhcp)
                },
            ),
            (
                "10.1.2.3",
                StaticIp {
                    client: Some(v4("10.1.2.3")),
                    ..empty_static(AutoConf::Off)
                },
            ),
            ("::::::", empty_static(AutoConf::Dhcp)),
            (
                // klibc: dns0:dns1:ntp
                "10.0.0.5::10.0.0.1:255.255.255.0:n:eth0:off:10.0.0.53:10.0.0.54:10.0.0.123",
                StaticIp {
                    client: Some(v4("10.0.0.5")),
                    gateway: Some(v4("10.0.0.1")),
                    prefix_len: Some(24),
                    hostname: Some("n".into()),
                    device: Some("eth0".into()),
                    dns: vec![v4("10.0.0.53"), v4("10.0.0.54")],
                    ntp: Some("10.0.0.123".parse().unwrap()),
                    ..empty_static(AutoConf::Off)
                },
            ),
            (
                // klibc with dns0 empty
                "10.0.0.5::::::off::10.0.0.54",
                StaticIp {
                    client: Some(v4("10.0.0.5")),
                    dns: vec![v4("10.0.0.54")],
                    ..empty_static(AutoConf::Off)
                },
            ),
            (
                // dracut: mtu and a MAC that spans six fields
                "10.0.0.5::10.0.0.1:24::eth0:none:9000:52:54:00:12:34:56",
                StaticIp {
                    client: Some(v4("10.0.0.5")),
                    gateway: Some(v4("10.0.0.1")),
                    prefix_len: Some(24),
                    device: Some("eth0".into()),
                    mtu: Some(9000),
                    mac: Some("52:54:00:12:34:56".into()),
                    ..empty_static(AutoConf::Off)
                },
            ),
            (
                // dracut: empty mtu, then the MAC
                "10.0.0.5:::24::eth0:none::52:54:00:12:34:56",
                StaticIp {
                    client: Some(v4("10.0.0.5")),
                    prefix_len: Some(24),
                    device: Some("eth0".into()),
                    mac: Some("52:54:00:12:34:56".into()),
                    ..empty_static(AutoConf::Off)
                },
            ),
            (
                // IPv6 in brackets, prefix length, IPv6 DNS
                "[fd00::2]::[fd00::1]:64:n6:eth0:none:[fd00::53]",
                StaticIp {
                    client: Some(v6("fd00::2")),
                    gateway: Some(v6("fd00::1")),
                    prefix_len: Some(64),
                    hostname: Some("n6".into()),
                    device: Some("eth0".into()),
                    dns: vec![v6("fd00::53")],
                    ..empty_static(AutoConf::Off)
                },
            ),
            (
                "10.0.0.5:::0.0.0.0",
                StaticIp {
                    client: Some(v4("10.0.0.5")),
                    prefix_len: Some(0),
                    ..empty_static(AutoConf::Off)
                },
            ),
            (
                "10.0.0.5:::255.255.255.255::eth0:off:",
                StaticIp {
                    client: Some(v4("10.0.0.5")),
                    prefix_len: Some(32),
                    device: Some("eth0".into()),
                    ..empty_static(AutoConf::Off)
                },
            ),
        ];
        for (value, want) in cases {
            assert_eq!(
                parse(value),
                Ok(IpParam::Static(want.clone())),
                "ip={value}"
            );
        }
    }

    /// `ip=` value, then the device, autoconf, MTU and MAC it gives.
    type DeviceCase = (
        &'static str,
        &'static str,
        AutoConf,
        Option<u16>,
        Option<&'static str>,
    );

    #[test]
    fn dracut_device_forms() {
        let cases: &[DeviceCase] = &[
            ("eth0:dhcp", "eth0", AutoConf::Dhcp, None, None),
            ("enp1s0:dhcp6", "enp1s0", AutoConf::Dhcp6, None, None),
            ("eth0:auto6", "eth0", AutoConf::Auto6, None, None),
            ("eth0:on:1500", "eth0", AutoConf::Dhcp, Some(1500), None),
            (
                "eth0:dhcp:9000:52:54:00:12:34:56",
                "eth0",
                AutoConf::Dhcp,
                Some(9000),
                Some("52:54:00:12:34:56"),
            ),
            (
                "eth0:dhcp::AA-BB-CC-DD-EE-FF",
                "eth0",
                AutoConf::Dhcp,
                None,
                Some("aa:bb:cc:dd:ee:ff"),
            ),
            ("eth1:off", "eth1", AutoConf::Off, None, None),
        ];
        for (value, dev, autoconf, mtu, mac) in cases {
            let want = IpParam::Device {
                device: (*dev).to_owned(),
                autoconf: *autoconf,
                mtu: *mtu,
                mac: mac.map(str::to_owned),
            };
            assert_eq!(parse(value), Ok(want), "ip={value}");
        }
    }

    #[test]
    fn errors_name_the_field_and_text() {
        let cases: &[(&str, &str, &str)] = &[
            ("", "ip", ""),
            ("dchp", "autoconf", "dchp"),
            ("10.0.2.300", "client", "10.0.2.300"),
            (
                "10.0.2.15:10.0.2:10.0.2.2:255.255.255.0",
                "server",
                "10.0.2",
            ),
            ("10.0.2.15::gw:24", "gateway", "gw"),
            ("10.0.2.15:::255.0.255.0", "netmask", "255.0.255.0"),
            ("10.0.2.15:::33", "netmask", "33"),
            ("10.0.2.15:::-1", "netmask", "-1"),
            ("10.0.2.15:::+8", "netmask", "+8"),
            ("[fd00::2]:::129", "netmask", "129"),
            ("[fd00::2:::64", "ip", "[fd00::2:::64"),
            ("[10.0.0.1]", "client", "[10.0.0.1]"),
            ("10.0.0.5::::::dhcpx", "autoconf", "dhcpx"),
            (
                "10.0.0.5:::::averyveryverylongname0:off",
                "device",
                "averyveryverylongname0",
            ),
            ("10.0.0.5:::::a/b:off", "device", "a/b"),
            ("10.0.0.5::::::off:fd00::53", "dns0", "fd00"),
            ("10.0.0.5::::::off:10.0.0.53:dns", "dns1", "dns"),
            ("10.0.0.5::::::off:::[fd00::123]", "ntp", "[fd00::123]"),
            ("10.0.0.5::::::off:1.1.1.1:1.0.0.1:10.0.0.1:x", "ip", "x"),
            ("10.0.0.5::::::off:67", "mtu", "67"),
            ("10.0.0.5::::::off:70000", "mtu", "70000"),
            ("10.0.0.5::::::off:1500:52:54:00", "mac", "52:54:00"),
            ("eth0:dhcp:jumbo", "mtu", "jumbo"),
            ("eth0:dhcp:+1500", "mtu", "+1500"),
            ("eth0:dhcp:1500:zz", "mac", "zz"),
        ];
        for (value, field, text) in cases {
            let err = parse(value).unwrap_err();
            assert_eq!(
                (err.field, err.text.as_str()),
                (*field, *text),
                "ip={value}: {err}"
            );
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn every_prefix_length_reads_back_from_its_netmask() {
        for len in 0..=32u8 {
            let mask = ipv4::prefix_to_netmask(len).to_string();
            assert_eq!(parse_netmask(&mask, false), Ok(Some(len)), "{mask}");
        }
    }

    /// An `ip=` in the positional form made of valid fields (IPv4; empty fields as None),
    /// and the [`StaticIp`] it stands for.
    fn positional() -> impl Strategy<Value = (String, StaticIp)> {
        let addr = || proptest::option::of(any::<[u8; 4]>().prop_map(Ipv4Addr::from));
        let keywords = vec![
            "off", "none", "dhcp", "on", "any", "bootp", "both", "rarp", "dhcp4", "dhcp6", "auto6",
            "either6", "link6", "ibft",
        ];
        (
            (addr(), addr(), addr(), proptest::option::of(0..=32u8)),
            proptest::option::of("[a-z][a-z0-9-]{0,12}"),
            proptest::option::of("(eth|ens|enp)[0-9]{1,3}"),
            proptest::sample::select(keywords),
            (addr(), addr(), addr()),
        )
            .prop_map(
                |((client, server, gateway, prefix), hostname, device, keyword, tail)| {
                    let (dns0, dns1, ntp) = tail;
                    let show = |a: Option<Ipv4Addr>| a.map(|a| a.to_string()).unwrap_or_default();
                    let fields = [
                        show(client),
                        show(server),
                        show(gateway),
                        prefix.map(|p| p.to_string()).unwrap_or_default(),
                        hostname.clone().unwrap_or_default(),
                        device.clone().unwrap_or_default(),
                        keyword.to_owned(),
                        show(dns0),
                        show(dns1),
                        show(ntp),
                    ];
                    let ip = StaticIp {
                        client: client.map(IpAddr::V4),
                        server: server.map(IpAddr::V4),
                        gateway: gateway.map(IpAddr::V4),
                        prefix_len: prefix,
                        hostname,
                        device,
                        autoconf: AutoConf::from_keyword(keyword).expect("a keyword"),
                        dns: dns0.into_iter().chain(dns1).map(IpAddr::V4).collect(),
                        ntp,
                        mtu: None,
                        mac: None,
                    };
                    (fields.join(":"), ip)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Any `ip=` made of valid fields parses back to those fields, however many
        /// trailing fields are left out.
        #[test]
        fn valid_fields_parse_back_to_those_fields((value, want) in positional(), cut in 0..4usize) {
            prop_assert_eq!(parse(&value), Ok(IpParam::Static(want.clone())));
            // Dropping empty trailing fields changes nothing.
            let mut short = value.as_str();
            for _ in 0..cut {
                match short.strip_suffix(':') {
                    Some(rest) => short = rest,
                    None => break,
                }
            }
            prop_assert_eq!(parse(short), Ok(IpParam::Static(want)));
        }

        /// dracut's `<device>:<autoconf>:<mtu>:<mac>` gives back its device, MTU and MAC
        /// (normalised to lowercase with colons).
        #[test]
        fn device_form_fields_parse_back(
            device in "(eth|ens|enp)[0-9]{1,3}",
            keyword in proptest::sample::select(vec!["dhcp", "on", "any", "dhcp6", "auto6"]),
            mtu in proptest::option::of(68..=u16::MAX),
            mac in proptest::option::of(any::<[u8; 6]>()),
            dashes in any::<bool>(),
        ) {
            let mac = mac.map(Mac);
            let mut value = format!("{device}:{keyword}");
            if mtu.is_some() || mac.is_some() {
                value.push_str(&format!(":{}", mtu.map(|m| m.to_string()).unwrap_or_default()));
            }
            if let Some(mac) = mac {
                let text = mac.to_string().to_uppercase();
                value.push(':');
                value.push_str(&if dashes { text.replace(':', "-") } else { text });
            }
            prop_assert_eq!(
                parse(&value),
                Ok(IpParam::Device {
                    device,
                    autoconf: AutoConf::from_keyword(keyword).expect("a keyword"),
                    mtu,
                    mac: mac.map(|m| m.to_string()),
                })
            );
        }

        /// Any text returns, never panics; what parses keeps the kernel's limits.
        #[test]
        fn any_text_returns_within_limits(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    ":", "[", "]", ".", "1", "25", "255", "a", "-", "dhcp", "off", "::", "fd00",
                    "\u{e9}", "",
                ]),
                0..16,
            ),
        ) {
            if let Ok(IpParam::Static(ip)) = parse(&parts.concat()) {
                prop_assert!(ip.prefix_len.is_none_or(|p| p <= 128));
                prop_assert!(ip.mtu.is_none_or(|m| m >= 68));
                prop_assert!(ip.device.as_ref().is_none_or(|d| !d.is_empty() && d.len() <= 15));
            }
        }
    }
}
