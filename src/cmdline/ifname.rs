//! dracut's `ifname=<name>:<mac>`: a NIC name pinned to a MAC, checked as the kernel checks
//! interface names.

use crate::identity::Mac;

/// Interface names are at most 15 bytes (IFNAMSIZ with its NUL).
pub const MAX_NAME: usize = 15;

/// dracut's `ifname=<name>:<mac>`: the name pinned to a MAC, checked as the kernel checks
/// interface names.
pub fn pinned_name(value: &str) -> Result<(String, Mac), String> {
    let (name, mac) = value
        .split_once(':')
        .ok_or_else(|| "expected <name>:<mac>".to_owned())?;
    check_name(name)?;
    let mac = mac.parse::<Mac>().map_err(|e| e.to_string())?;
    Ok((name.to_owned(), mac))
}

/// What the kernel accepts as an interface name (`dev_valid_name`), and not a name the
/// kernel itself hands out (`eth0`), which could clash with one it gives another NIC.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("{name:?} must be 1 to {MAX_NAME} bytes"));
    }
    if name == "." || name == ".." || name.bytes().any(|b| b == b'/' || b == b':' || b <= b' ') {
        return Err(format!("{name:?} is not a valid interface name"));
    }
    let kernel_style = name
        .strip_prefix("eth")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if kernel_style {
        return Err(format!(
            "{name:?} is a name the kernel gives itself (ethN): pick another, such as lan0"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_names_are_dracuts_ifname() {
        let mac: Mac = "52:54:00:12:34:56".parse().expect("mac");
        assert_eq!(
            pinned_name("lan0:52:54:00:12:34:56"),
            Ok(("lan0".to_owned(), mac))
        );
        assert_eq!(
            pinned_name("bootnet:52-54-00-12-34-56"),
            Ok(("bootnet".to_owned(), mac))
        );
        for (value, why) in [
            ("lan0", "expected <name>:<mac>"),
            (":52:54:00:12:34:56", "1 to 15 bytes"),
            ("averyveryverylongname:52:54:00:12:34:56", "1 to 15 bytes"),
            ("a/b:52:54:00:12:34:56", "not a valid interface name"),
            ("eth0:52:54:00:12:34:56", "the kernel gives itself"),
            ("lan0:52:54:00:12:34", "not a MAC address"),
        ] {
            let err = pinned_name(value).expect_err(value);
            assert!(err.contains(why), "{value}: {err}");
        }
    }
}
