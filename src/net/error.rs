//! What stops the boot in the network step: no NIC, no carrier, no lease, or a
//! configuration the kernel refused. Each names the interface and the key that sets the
//! bound.

use std::io;

/// `; the driver e1000e (Invalid argument) failed to load` for a NIC that never appeared.
fn failed_drivers_note(failed: &[String]) -> String {
    match failed {
        [] => String::new(),
        [one] => format!("; the driver {one} failed to load"),
        many => format!("; these drivers failed to load: {}", many.join(", ")),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(
        "no network interface {wanted} appeared within {secs} s (rd.timeout=; present: {present}){}",
        failed_drivers_note(failed_drivers)
    )]
    NoInterface {
        wanted: String,
        secs: u32,
        present: String,
        /// Drivers that failed to load (name and why): the likely cause.
        failed_drivers: Vec<String>,
    },
    #[error("bringing up {iface}: {source}")]
    InterfaceUp { iface: String, source: io::Error },
    #[error(
        "no carrier on {iface} within {secs} s (rd.net.timeout.carrier=): is the cable plugged in?"
    )]
    NoCarrier { iface: String, secs: u32 },
    /// Each interface's reason, in the order they gave up.
    #[error("{} (rd.net.timeout.dhcp={secs})", failures.join("; "))]
    Dhcp { failures: Vec<String>, secs: u32 },
    #[error("configuring {iface} with {what}: {source}")]
    Configure {
        iface: String,
        what: String,
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_key_to_change() {
        let cases: Vec<(NetError, &str)> = vec![
            (
                NetError::NoCarrier {
                    iface: "eth0".into(),
                    secs: 10,
                },
                "no carrier on eth0 within 10 s (rd.net.timeout.carrier=): is the cable plugged in?",
            ),
            (
                NetError::Dhcp {
                    failures: vec![
                        "dhcp: no DHCP server answered on eth0: 6 DISCOVERs sent in 5.0 s".into(),
                    ],
                    secs: 5,
                },
                "dhcp: no DHCP server answered on eth0: 6 DISCOVERs sent in 5.0 s (rd.net.timeout.dhcp=5)",
            ),
            (
                NetError::NoInterface {
                    wanted: "of type Ethernet".into(),
                    secs: 10,
                    present: "lo".into(),
                    failed_drivers: vec!["e1000e (Invalid argument)".into()],
                },
                "no network interface of type Ethernet appeared within 10 s (rd.timeout=; present: lo); the driver e1000e (Invalid argument) failed to load",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
    }
}
