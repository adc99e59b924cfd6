//! Time before TLS. A board without a battery-backed clock (Raspberry Pi 4, CM4) starts in
//! 1970, where no certificate is valid yet. The clock step raises the clock to a floor (the
//! initramfs's build time, as systemd raises it to its own), then asks the NTP servers the
//! admin or the network named (`diskless.ntp=`, `ip=`'s ntp field, DHCP option 42) by SNTP,
//! bounded to [`SNTP_BUDGET`] in all: an unreachable server costs that, then the floor stands.
//!
//! [`sntp`] is the packet codec; this module decides (pure) and does the little IO (a UDP
//! socket from std, the clock through [`crate::sys`]).

pub mod handover;
pub mod sntp;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cmdline::ntp::NtpServer;
use crate::sys;

/// Written by `cargo xtask initrd`: the build time in seconds since the epoch.
pub const FLOOR_FILE: &str = "etc/diskless/clock-floor";
/// 2024-01-01T00:00:00Z: no node runs this code before then, whatever the initramfs says.
pub const FLOOR_2024: u64 = 1_704_067_200;
/// How long SNTP may take in all, every server and retry included.
pub const SNTP_BUDGET: Duration = Duration::from_millis(2000);
/// How long one request waits for its reply.
const SNTP_WAIT: Duration = Duration::from_millis(700);

/// The servers to ask, in order: the command line's (`diskless.ntp=`, the admin's own
/// words), then the network's (`ip=`'s ntp field or DHCP option 42); each once.
pub fn servers(given: &[NtpServer], network: &[Ipv4Addr]) -> Vec<NtpServer> {
    let mut all: Vec<NtpServer> = Vec::new();
    for server in given
        .iter()
        .cloned()
        .chain(network.iter().map(|&a| NtpServer::from_ip(a)))
    {
        if !all.contains(&server) {
            all.push(server);
        }
    }
    all
}

/// Where the node's clock came from, for the log and for certificate date errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// Left as the kernel had it (the RTC), already past the floor.
    #[default]
    Rtc,
    /// Raised to the floor; `asked`: NTP servers were given but none answered.
    Floor { asked: bool },
    /// Set from an SNTP reply.
    Sntp { server: SocketAddr, stratum: u8 },
    /// Left before the floor: setting the clock failed.
    Unset,
}

impl Source {
    /// Words for "the node's clock reads X, <this>".
    pub fn describe(&self, floor: u64) -> String {
        const WHERE: &str = "diskless.ntp=, the ip= ntp field or DHCP option 42";
        match self {
            Source::Rtc => format!("from the RTC (no NTP server answered or was given: {WHERE})"),
            Source::Floor { asked } => format!(
                "raised to this initramfs's build time ({}) because {}",
                utc(floor),
                if *asked {
                    "no NTP server answered".to_owned()
                } else {
                    format!("no NTP server was given ({WHERE})")
                }
            ),
            Source::Sntp { server, stratum } => {
                format!("set by SNTP from {server} (stratum {stratum})")
            }
            Source::Unset => "not set: setting the clock failed".to_owned(),
        }
    }
}

/// The clock step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// The clock cannot be earlier than this (seconds since the epoch).
    pub floor: u64,
    pub source: Source,
}

impl Default for Settled {
    fn default() -> Settled {
        Settled {
            floor: FLOOR_2024,
            source: Source::Rtc,
        }
    }
}

/// The floor from the initramfs's `clock-floor` file (else `/init`'s mtime), never before
/// 2024. A file that does not parse counts as missing: the 2024 floor still holds.
pub fn floor(file: Option<&str>, init_mtime: Option<u64>) -> u64 {
    file.and_then(|text| text.trim().parse::<u64>().ok())
        .or(init_mtime)
        .unwrap_or(0)
        .max(FLOOR_2024)
}

/// An SNTP answer is refused when it is before the floor: a server that says the
/// initramfs was built in the future is wrong, or is lying.
pub fn check_sntp(time: Duration, floor: u64) -> Result<(), String> {
    if time.as_secs() < floor {
        return Err(format!(
            "says {}, before this initramfs was built ({}): not used",
            utc(time.as_secs()),
            utc(floor)
        ));
    }
    Ok(())
}

/// The step: raise the clock to the floor, then ask `servers` by SNTP within
/// [`SNTP_BUDGET`]. Never fails the boot: a clock that could not be set is logged, and the
/// TLS errors say what the clock was.
pub fn settle(root: &Path, servers: &[NtpServer]) -> Settled {
    let file = std::fs::read_to_string(root.join(FLOOR_FILE)).ok();
    let init_mtime = std::fs::metadata(root.join("init"))
        .and_then(|m| m.modified())
        .ok()
        .map(secs);
    let floor = floor(file.as_deref(), init_mtime);
    let now = SystemTime::now();
    let mut source = Source::Rtc;
    if secs(now) < floor {
        source = match sys::set_clock(Duration::from_secs(floor)) {
            Ok(()) => {
                log::info!(
                    "clock raised from {} to this initramfs's build time {}",
                    utc(secs(now)),
                    utc(floor)
                );
                Source::Floor { asked: false }
            }
            Err(err) => {
                log::warn!("setting the clock to {}: {err}", utc(floor));
                Source::Unset
            }
        };
    }
    if servers.is_empty() {
        return Settled { floor, source };
    }
    match ask(servers, floor) {
        Some((server, reply)) => match sys::set_clock(reply.unix) {
            Ok(()) => {
                log::info!(
                    "clock set to {} by SNTP from {server} (stratum {})",
                    utc(reply.unix.as_secs()),
                    reply.stratum
                );
                source = Source::Sntp {
                    server,
                    stratum: reply.stratum,
                };
            }
            Err(err) => log::warn!("setting the clock from {server}: {err}"),
        },
        None => {
            log::warn!(
                "no NTP server answered within {} s ({}): the clock stays at {}",
                SNTP_BUDGET.as_secs_f32(),
                servers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                utc(secs(SystemTime::now()))
            );
            if let Source::Floor { .. } = source {
                source = Source::Floor { asked: true };
            }
        }
    }
    Settled { floor, source }
}

/// Asks each server in turn, round after round, until one gives a usable time or the
/// budget is spent.
fn ask(servers: &[NtpServer], floor: u64) -> Option<(SocketAddr, sntp::Reply)> {
    let started = Instant::now();
    let addresses: Vec<SocketAddr> = servers
        .iter()
        .filter_map(|server| match resolve(server) {
            Ok(addr) => Some(addr),
            Err(err) => {
                log::warn!("NTP server {server}: {err}");
                None
            }
        })
        .collect();
    while !addresses.is_empty() {
        for &addr in &addresses {
            let left = SNTP_BUDGET.checked_sub(started.elapsed())?;
            if left.is_zero() {
                return None;
            }
            match query(addr, left.min(SNTP_WAIT)) {
                Ok(reply) => match check_sntp(reply.unix, floor) {
                    Ok(()) => return Some((addr, reply)),
                    Err(why) => log::warn!("NTP server {addr} {why}"),
                },
                Err(err) => log::debug!("NTP server {addr}: {err}"),
            }
        }
    }
    None
}

fn resolve(server: &NtpServer) -> std::io::Result<SocketAddr> {
    let ip = match server.host.parse::<Ipv4Addr>() {
        Ok(ip) => ip,
        Err(_) => *sys::resolve_ipv4(&server.host)?
            .first()
            .ok_or_else(|| std::io::Error::other("no IPv4 address"))?,
    };
    Ok(SocketAddr::new(IpAddr::V4(ip), server.port))
}

/// One request and its reply (replies to other requests are skipped until `wait` ends).
fn query(server: SocketAddr, wait: Duration) -> std::io::Result<sntp::Reply> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.connect(server)?;
    let nonce = nonce();
    socket.send(&sntp::request(nonce))?;
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        socket.set_read_timeout(Some(left))?;
        let n = socket.recv(&mut buf)?;
        match sntp::parse_reply(buf.get(..n).unwrap_or_default(), nonce) {
            Ok(reply) => return Ok(reply),
            Err(sntp::ReplyError::NotOurs { .. }) => continue,
            Err(err) => return Err(std::io::Error::other(err.to_string())),
        }
    }
}

/// 64 bits an off-path host cannot guess, so cannot forge a reply without: from the kernel's
/// generator without waiting for its pool (the clock step must not stall the boot for
/// entropy; TLS, later, waits if it must).
fn nonce() -> u64 {
    match sys::random_u64_now() {
        Ok(random) => random,
        Err(_) => crate::retry::mix(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::from(d.subsec_nanos()))
                ^ u64::from(std::process::id()),
        ),
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `2024-05-01 12:00:00 UTC` for seconds since the epoch (proleptic Gregorian calendar).
pub fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_comes_first_and_each_server_once() {
        let given = [
            NtpServer::parse("10.0.0.9:1123").unwrap(),
            NtpServer::parse("10.0.0.1").unwrap(),
        ];
        let network = ["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let names: Vec<String> = servers(&given, &network)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["10.0.0.9:1123", "10.0.0.1", "10.0.0.2"]);
        assert!(servers(&[], &[]).is_empty());
    }

    #[test]
    fn the_floor_is_the_build_time_and_never_before_2024() {
        let built = 1_780_000_000;
        let cases = [
            (Some("1780000000\n"), None, built),
            (Some("1780000000"), Some(1_790_000_000), built),
            (None, Some(built), built),
            (Some("garbage"), Some(built), built),
            (Some("0"), None, FLOOR_2024),
            (None, Some(0), FLOOR_2024),
            (None, None, FLOOR_2024),
        ];
        for (file, mtime, expected) in cases {
            assert_eq!(floor(file, mtime), expected, "{file:?} {mtime:?}");
        }
    }

    #[test]
    fn sntp_before_the_floor_is_refused() {
        assert_eq!(
            check_sntp(Duration::from_secs(1_780_000_000), 1_780_000_000),
            Ok(())
        );
        let err = check_sntp(Duration::from_secs(1_000), FLOOR_2024).unwrap_err();
        assert!(
            err.contains("says 1970-01-01 00:16:40 UTC, before"),
            "{err}"
        );
    }

    #[test]
    fn sources_say_where_the_time_came_from() {
        let floor = 1_780_000_000;
        let text = Source::Floor { asked: false }.describe(floor);
        assert!(
            text.starts_with("raised to this initramfs's build time (2026-05-28 20:26:40 UTC)"),
            "{text}"
        );
        assert!(
            text.contains("no NTP server was given (diskless.ntp="),
            "{text}"
        );
        let text = Source::Floor { asked: true }.describe(floor);
        assert!(text.ends_with("no NTP server answered"), "{text}");
        let sntp = Source::Sntp {
            server: "10.0.2.2:12300".parse().unwrap(),
            stratum: 8,
        };
        assert_eq!(
            sntp.describe(floor),
            "set by SNTP from 10.0.2.2:12300 (stratum 8)"
        );
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(FLOOR_2024), "2024-01-01 00:00:00 UTC");
        assert_eq!(utc(1_709_251_199), "2024-02-29 23:59:59 UTC");
        assert_eq!(utc(4_102_444_800), "2100-01-01 00:00:00 UTC");
    }
}
