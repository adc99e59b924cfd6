//! `diskless.ntp=<host>[:<port>]` and the NTP servers the network names, as the clock step
//! asks them.

use std::fmt;
use std::net::Ipv4Addr;

/// NTP's well-known UDP port.
pub const PORT: u16 = 123;

/// An NTP server as given: `diskless.ntp=<host>[:<port>]`, `ip=`'s ntp field, option 42.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtpServer {
    /// An IPv4 address or a host name (resolved at boot).
    pub host: String,
    pub port: u16,
}

impl NtpServer {
    /// `<host>[:<port>]`; `[<ipv6>]` is refused (the initramfs configures IPv4 only).
    pub fn parse(value: &str) -> Result<NtpServer, String> {
        if value.starts_with('[') || value.matches(':').count() > 1 {
            return Err(
                "IPv6 NTP servers are left to the real system: give an IPv4 address \
                        or a host name"
                    .to_owned(),
            );
        }
        let (host, port) = match value.split_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| format!("port {port:?} is not a number from 1 to 65535"))?;
                (host, port)
            }
            None => (value, PORT),
        };
        let valid_name = host
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if host.is_empty() || host.len() > 253 || !valid_name {
            return Err(format!("{host:?} is not an IPv4 address or a host name"));
        }
        Ok(NtpServer {
            host: host.to_owned(),
            port,
        })
    }

    pub fn from_ip(addr: Ipv4Addr) -> NtpServer {
        NtpServer {
            host: addr.to_string(),
            port: PORT,
        }
    }
}

impl fmt::Display for NtpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == PORT {
            f.write_str(&self.host)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_server_values() {
        let ok = |host: &str, port: u16| {
            Ok(NtpServer {
                host: host.into(),
                port,
            })
        };
        let cases: [(&str, Result<NtpServer, &str>); 9] = [
            ("10.0.2.2", ok("10.0.2.2", 123)),
            ("10.0.2.2:12300", ok("10.0.2.2", 12300)),
            ("ntp.lab", ok("ntp.lab", 123)),
            ("time-1.boot.lab:1123", ok("time-1.boot.lab", 1123)),
            ("", Err("not an IPv4 address or a host name")),
            ("10.0.2.2:0", Err("not a number from 1 to 65535")),
            ("ntp.lab:ntp", Err("not a number from 1 to 65535")),
            ("[fd00::1]:123", Err("IPv6")),
            ("ntp lab", Err("not an IPv4 address or a host name")),
        ];
        for (value, expected) in cases {
            match (NtpServer::parse(value), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{value}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{value}: {got}"),
                (got, want) => panic!("{value}: {got:?}, expected {want:?}"),
            }
        }
        assert_eq!(
            ok("10.0.2.2", 123).map(|s| s.to_string()),
            Ok("10.0.2.2".into())
        );
        assert_eq!(
            ok("ntp.lab", 12300).map(|s| s.to_string()),
            Ok("ntp.lab:12300".into())
        );
    }
}
