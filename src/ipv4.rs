//! IPv4 netmask arithmetic shared by `ip=`, DHCP leases and the routes the init adds.

use std::net::Ipv4Addr;

/// A prefix length as a dotted netmask (24 -> 255.255.255.0); lengths over 32 give
/// 255.255.255.255.
pub fn prefix_to_netmask(prefix_len: u8) -> Ipv4Addr {
    let len = u32::from(prefix_len.min(32));
    Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
}

/// A dotted netmask as a prefix length; `None` when the mask is not ones then zeros
/// (255.0.255.0 has no prefix length).
pub fn netmask_to_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0)
        .then(|| u8::try_from(ones).ok())
        .flatten()
}

/// The prefix an address had before CIDR: what the kernel's ipconfig and DHCP clients
/// assume when no netmask is given.
pub fn classful_prefix(addr: Ipv4Addr) -> u8 {
    match addr.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_netmasks() {
        let cases: &[(u8, &str)] = &[
            (0, "0.0.0.0"),
            (1, "128.0.0.0"),
            (8, "255.0.0.0"),
            (24, "255.255.255.0"),
            (30, "255.255.255.252"),
            (32, "255.255.255.255"),
            (33, "255.255.255.255"),
            (255, "255.255.255.255"),
        ];
        for (len, mask) in cases {
            assert_eq!(prefix_to_netmask(*len).to_string(), *mask, "/{len}");
        }
        for len in 0..=32u8 {
            assert_eq!(netmask_to_prefix(prefix_to_netmask(len)), Some(len));
        }
        for bad in ["255.0.255.0", "0.0.0.1", "255.255.255.253"] {
            let mask: Ipv4Addr = bad.parse().expect("an address");
            assert_eq!(netmask_to_prefix(mask), None, "{bad}");
        }
    }

    #[test]
    fn missing_netmask_is_classful() {
        assert_eq!(classful_prefix(Ipv4Addr::new(10, 1, 2, 3)), 8);
        assert_eq!(classful_prefix(Ipv4Addr::new(172, 16, 0, 1)), 16);
        assert_eq!(classful_prefix(Ipv4Addr::new(192, 168, 0, 4)), 24);
        assert_eq!(classful_prefix(Ipv4Addr::new(224, 0, 0, 1)), 24);
    }
}
