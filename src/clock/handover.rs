//! The NTP servers, handed to the real system's time daemon: a drop-in for
//! systemd-timesyncd and a sources file for chrony, each only when the root has that daemon.
//! Both go to /run (moved into the new root at switch_root), never into the image.

use std::path::Path;

use crate::cmdline::ntp::{self, NtpServer};

/// systemd-timesyncd reads drop-ins from /run as from /etc (timesyncd.conf(5)).
pub const TIMESYNCD_DROPIN: &str = "/run/systemd/timesyncd.conf.d/50-diskless.conf";
/// Debian's chrony.conf has `sourcedir /run/chrony-dhcp`, where its DHCP hooks write.
pub const CHRONY_SOURCES: &str = "/run/chrony-dhcp/diskless.sources";

/// `[Time] NTP=...`. timesyncd takes no port, so servers on another port are left out;
/// `None` when none is left.
pub fn timesyncd_dropin(servers: &[NtpServer]) -> Option<String> {
    let hosts: Vec<&str> = servers
        .iter()
        .filter(|s| s.port == ntp::PORT)
        .map(|s| s.host.as_str())
        .collect();
    (!hosts.is_empty()).then(|| {
        format!(
            "# Written by diskless from the boot's NTP servers.\n[Time]\nNTP={}\n",
            hosts.join(" ")
        )
    })
}

/// One `server` line per server, `iburst` for a quick first sync.
pub fn chrony_sources(servers: &[NtpServer]) -> Option<String> {
    (!servers.is_empty()).then(|| {
        servers
            .iter()
            .map(|s| {
                if s.port == ntp::PORT {
                    format!("server {} iburst\n", s.host)
                } else {
                    format!("server {} port {} iburst\n", s.host, s.port)
                }
            })
            .collect()
    })
}

/// Writes the files for the daemons `root` has. A failure costs the real system a
/// convenience, not the boot: it is logged.
pub fn hand_over(root: &Path, servers: &[NtpServer]) {
    let has = |paths: &[&str]| paths.iter().any(|p| root.join(p).exists());
    let daemons = [
        (
            has(&[
                "usr/lib/systemd/systemd-timesyncd",
                "lib/systemd/systemd-timesyncd",
            ]),
            TIMESYNCD_DROPIN,
            timesyncd_dropin(servers),
        ),
        (
            has(&["usr/sbin/chronyd", "sbin/chronyd"]),
            CHRONY_SOURCES,
            chrony_sources(servers),
        ),
    ];
    for (present, path, contents) in daemons {
        let (true, Some(contents)) = (present, contents) else {
            continue;
        };
        let path = Path::new(path);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, contents));
        match written {
            Ok(()) => log::info!("NTP servers handed to the root in {}", path.display()),
            Err(err) => log::warn!("writing {}: {err}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(list: &[&str]) -> Vec<NtpServer> {
        list.iter().map(|s| NtpServer::parse(s).unwrap()).collect()
    }

    #[test]
    fn daemon_files() {
        let both = servers(&["10.0.2.2", "ntp.lab:12300", "10.0.0.1"]);
        assert_eq!(
            timesyncd_dropin(&both).as_deref(),
            Some(
                "# Written by diskless from the boot's NTP servers.\n[Time]\nNTP=10.0.2.2 10.0.0.1\n"
            )
        );
        assert_eq!(
            chrony_sources(&both).as_deref(),
            Some(
                "server 10.0.2.2 iburst\nserver ntp.lab port 12300 iburst\nserver 10.0.0.1 iburst\n"
            )
        );
        let odd_port = servers(&["10.0.2.2:12300"]);
        assert_eq!(timesyncd_dropin(&odd_port), None);
        assert_eq!(timesyncd_dropin(&[]), None);
        assert_eq!(chrony_sources(&[]), None);
    }
}
