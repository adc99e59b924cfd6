//! Any text as an `ip=` value: parsing returns, never panics; what parses keeps the limits
//! the kernel has (prefix lengths, MTU, interface names, a normalised MAC); and written back
//! in the positional (or dracut device) form it parses to the same value.
#![no_main]

use std::net::IpAddr;

use diskless::cmdline::ip::{self, AutoConf, IpParam, StaticIp};
use libfuzzer_sys::fuzz_target;

fn keyword(autoconf: AutoConf) -> &'static str {
    match autoconf {
        AutoConf::Off => "off",
        AutoConf::Dhcp => "dhcp",
        AutoConf::Dhcp6 => "dhcp6",
        AutoConf::Auto6 => "auto6",
        AutoConf::Ibft => "ibft",
    }
}

fn addr(ip: Option<IpAddr>) -> String {
    match ip {
        None => String::new(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => format!("[{v6}]"),
    }
}

/// `client:server:gw:prefix:hostname:device:autoconf` and the tail.
fn positional(s: &StaticIp) -> String {
    let mut fields = vec![
        addr(s.client),
        addr(s.server),
        addr(s.gateway),
        s.prefix_len.map(|p| p.to_string()).unwrap_or_default(),
        s.hostname.clone().unwrap_or_default(),
        s.device.clone().unwrap_or_default(),
        keyword(s.autoconf).to_owned(),
    ];
    if let Some(mtu) = s.mtu {
        fields.push(mtu.to_string());
        fields.extend(s.mac.clone());
    } else if let Some(mac) = &s.mac {
        fields.push(String::new());
        fields.push(mac.clone());
    } else {
        fields.push(addr(s.dns.first().copied()));
        fields.push(addr(s.dns.get(1).copied()));
        fields.push(addr(s.ntp.map(IpAddr::V4)));
    }
    fields.join(":")
}

fn check_static(s: &StaticIp) {
    let v6 = matches!(s.client, Some(IpAddr::V6(_))) || matches!(s.gateway, Some(IpAddr::V6(_)));
    if let Some(len) = s.prefix_len {
        assert!(len <= if v6 { 128 } else { 32 }, "{s:?}");
    }
    assert!(s.dns.len() <= 2, "{s:?}");
    assert!(s.mtu.is_none_or(|m| m >= 68), "{s:?}");
    assert!(s.mtu.is_none() || s.dns.is_empty(), "{s:?}");
    check_device(s.device.as_deref());
    check_mac(s.mac.as_deref());
    assert!(s.hostname.as_ref().is_none_or(|h| !h.is_empty()), "{s:?}");
}

fn check_device(device: Option<&str>) {
    if let Some(device) = device {
        assert!(!device.is_empty() && device.len() <= 15, "{device:?}");
        assert!(!device.contains(['/', ':']), "{device:?}");
    }
}

fn check_mac(mac: Option<&str>) {
    if let Some(mac) = mac {
        assert_eq!(mac.len(), 17, "{mac:?}");
        assert!(
            mac.bytes().enumerate().all(|(k, b)| if k % 3 == 2 {
                b == b':'
            } else {
                matches!(b, b'0'..=b'9' | b'a'..=b'f')
            }),
            "{mac:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = match ip::parse(value) {
        Ok(parsed) => parsed,
        Err(error) => {
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    let written = match &parsed {
        IpParam::Off => "off".to_owned(),
        IpParam::Auto(autoconf) => {
            assert_ne!(*autoconf, AutoConf::Off);
            keyword(*autoconf).to_owned()
        }
        IpParam::Device {
            device,
            autoconf,
            mtu,
            mac,
        } => {
            check_device(Some(device));
            check_mac(mac.as_deref());
            assert!(mtu.is_none_or(|m| m >= 68));
            let mut fields = vec![device.clone(), keyword(*autoconf).to_owned()];
            match (mtu, mac) {
                (None, None) => {}
                (mtu, mac) => {
                    fields.push(mtu.map(|m| m.to_string()).unwrap_or_default());
                    fields.extend(mac.clone());
                }
            }
            fields.join(":")
        }
        IpParam::Static(s) => {
            check_static(s);
            positional(s)
        }
    };
    assert_eq!(
        ip::parse(&written),
        Ok(parsed),
        "{value:?} written back as {written:?}"
    );
});
