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

/// An NTP server to ask, and whether the admin named it (`diskless.ntp=`, `ip=`'s ntp
/// field) or the network only offered it (DHCP option 42, which whoever answers DHCP names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeServer {
    pub server: NtpServer,
    pub named_by_admin: bool,
}

/// The servers to ask, in order: the command line's (`diskless.ntp=`, the admin's own
/// words), then `ip=`'s ntp field, then DHCP option 42's; each once, named by the admin when
/// the admin named it anywhere.
pub fn servers(given: &[NtpServer], named: &[Ipv4Addr], offered: &[Ipv4Addr]) -> Vec<TimeServer> {
    let by_admin = given
        .iter()
        .cloned()
        .chain(named.iter().map(|&a| NtpServer::from_ip(a)))
        .map(|server| (server, true));
    let by_network = offered.iter().map(|&a| (NtpServer::from_ip(a), false));
    let mut all: Vec<TimeServer> = Vec::new();
    for (server, named_by_admin) in by_admin.chain(by_network) {
        if !all.iter().any(|t| t.server == server) {
            all.push(TimeServer {
                server,
                named_by_admin,
            });
        }
    }
    all
}

/// How far a server the admin did not name may set back a clock that already read after
/// the floor: RTCs drift by seconds, not minutes. More would let whoever answers DHCP roll
/// the clock back to re-admit certificates that have expired since the build.
pub const MAX_STEP_BACK: Duration = Duration::from_secs(300);

/// An SNTP answer that would set a plausible clock (`now`, read after the floor) back by
/// more than [`MAX_STEP_BACK`] is refused unless the admin named the server.
pub fn check_step_back(
    answer: Duration,
    now: Duration,
    plausible: bool,
    named_by_admin: bool,
) -> Result<(), String> {
    let back = now.saturating_sub(answer);
    if !plausible || named_by_admin || back <= MAX_STEP_BACK {
        return Ok(());
    }
    Err(format!(
        "says {}, {} s before the node's clock ({}): a server only DHCP offered (option 42) \
         may not set a clock that reads after this initramfs's build back by more than {} s; \
         name it with diskless.ntp= to let it",
        utc(answer.as_secs()),
        back.as_secs(),
        utc(now.as_secs()),
        MAX_STEP_BACK.as_secs()
    ))
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
pub fn settle(root: &Path, servers: &[TimeServer]) -> Settled {
    let file = std::fs::read_to_string(root.join(FLOOR_FILE)).ok();
    let init_mtime = std::fs::metadata(root.join("init"))
        .and_then(|m| m.modified())
        .ok()
        .map(secs);
    let floor = floor(file.as_deref(), init_mtime);
    let now = SystemTime::now();
    let mut source = Source::Rtc;
    // A clock already past the floor is taken as plausible: only the admin's servers may set
    // it far back.
    let plausible = secs(now) >= floor;
    if !plausible {
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
    match ask(servers, floor, plausible) {
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
                    .map(|t| t.server.to_string())
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
/// budget is spent. `plausible`: the clock read after the floor before anyone was asked.
fn ask(servers: &[TimeServer], floor: u64, plausible: bool) -> Option<(SocketAddr, sntp::Reply)> {
    let started = Instant::now();
    let mut addresses: Vec<(SocketAddr, bool)> = servers
        .iter()
        .filter_map(|t| match resolve(&t.server) {
            Ok(addr) => Some((addr, t.named_by_admin)),
            Err(err) => {
                log::warn!("NTP server {}: {err}", t.server);
                None
            }
        })
        .collect();
    while !addresses.is_empty() {
        let mut refused = Vec::new();
        for &(addr, named_by_admin) in &addresses {
            let left = SNTP_BUDGET.checked_sub(started.elapsed())?;
            if left.is_zero() {
                return None;
            }
            let reply = match query(addr, left.min(SNTP_WAIT)) {
                Ok(reply) => reply,
                Err(err) => {
                    log::debug!("NTP server {addr}: {err}");
                    continue;
                }
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let usable = check_sntp(reply.unix, floor)
                .and_then(|()| check_step_back(reply.unix, now, plausible, named_by_admin));
            match usable {
                Ok(()) => return Some((addr, reply)),
                Err(why) => {
                    log::warn!("NTP server {addr} {why}");
                    // It would say the same again.
                    refused.push(addr);
                }
            }
        }
        addresses.retain(|(addr, _)| !refused.contains(addr));
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
        let named = ["10.0.0.3".parse().unwrap()];
        let offered = ["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let got: Vec<(String, bool)> = servers(&given, &named, &offered)
            .iter()
            .map(|t| (t.server.to_string(), t.named_by_admin))
            .collect();
        let want = [
            ("10.0.0.9:1123", true),
            ("10.0.0.1", true),
            ("10.0.0.3", true),
            ("10.0.0.2", false),
        ];
        assert_eq!(got, want.map(|(s, n)| (s.to_owned(), n)));
        assert!(servers(&[], &[], &[]).is_empty());
    }

    /// DHCP's server may not roll a correct clock back; the admin's may, and any server may
    /// raise a clock or correct one that read before the floor.
    #[test]
    fn only_the_admins_servers_set_a_plausible_clock_far_back() {
        let now = Duration::from_secs(1_800_000_000);
        let back = |secs: u64| now - Duration::from_secs(secs);
        let cases = [
            // answer, plausible, named by the admin, accepted
            (back(86_400 * 365), true, false, false),
            (back(301), true, false, false),
            (back(300), true, false, true),
            (back(2), true, false, true),
            (now + Duration::from_secs(3600), true, false, true),
            (back(86_400 * 365), true, true, true),
            (back(86_400 * 365), false, false, true),
        ];
        for (answer, plausible, named, accepted) in cases {
            let got = check_step_back(answer, now, plausible, named);
            assert_eq!(
                got.is_ok(),
                accepted,
                "{answer:?} {plausible} {named}: {got:?}"
            );
        }
        let why = check_step_back(back(86_400), now, true, false).expect_err("refused");
        assert!(
            why.contains("86400 s before") && why.contains("diskless.ntp="),
            "{why}"
        );
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
