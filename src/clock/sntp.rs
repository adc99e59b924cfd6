//! SNTP (RFC 4330) as pure data: the 48-byte client request and the checks a reply must
//! pass before its time may set the node's clock. No sockets here ([`super::query`] sends).

use std::time::Duration;

/// An NTP packet without extension fields or authentication.
pub const PACKET_LEN: usize = 48;
/// Seconds from the NTP era 0 epoch (1900-01-01) to the Unix epoch.
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// The request: leap indicator 0, version 4, mode 3 (client); everything else zero but the
/// transmit timestamp, which the server echoes as the reply's originate timestamp (RFC 4330
/// section 5: a client checks that echo to match replies to requests). The transmit field
/// is a nonce, not our clock: a node in 1970 would otherwise send the same one every boot.
pub fn request(nonce: u64) -> [u8; PACKET_LEN] {
    let mut packet = [0u8; PACKET_LEN];
    packet[0] = (4 << 3) | 3;
    packet[40..48].copy_from_slice(&nonce.to_be_bytes());
    packet
}

/// What a valid reply tells: the server's transmit time as Unix time, and its stratum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// Since the Unix epoch.
    pub unix: Duration,
    pub stratum: u8,
}

/// Why a reply is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("{0} bytes, not an NTP packet (at least 48)")]
    Short(usize),
    #[error("mode {0}, not a server reply (4)")]
    Mode(u8),
    #[error("NTP version {0}, not 1 to 4")]
    Version(u8),
    #[error("kiss-o'-death {0:?}: the server refuses to serve us now")]
    KissOfDeath(String),
    #[error("stratum {0}: the server is not synchronised")]
    Stratum(u8),
    #[error("leap indicator 3: the server's clock is not synchronised")]
    Unsynchronised,
    #[error("it does not answer our request (originate timestamp {got:#018x}, sent {sent:#018x})")]
    NotOurs { got: u64, sent: u64 },
    #[error("no transmit time")]
    NoTime,
}

/// Decodes a server's reply to the request carrying `nonce`. Only the transmit timestamp is
/// used (SNTP's simplification: the network delay, milliseconds on a boot LAN, is well
/// under what certificate dates need).
pub fn parse_reply(packet: &[u8], nonce: u64) -> Result<Reply, ReplyError> {
    let Some(fixed) = packet.first_chunk::<PACKET_LEN>() else {
        return Err(ReplyError::Short(packet.len()));
    };
    let [flags, stratum, ..] = *fixed;
    let (leap, version, mode) = (flags >> 6, (flags >> 3) & 7, flags & 7);
    if mode != 4 {
        return Err(ReplyError::Mode(mode));
    }
    if !(1..=4).contains(&version) {
        return Err(ReplyError::Version(version));
    }
    let be64 = |at: usize| {
        let mut bytes = [0u8; 8];
        if let Some(field) = fixed.get(at..at + 8) {
            bytes.copy_from_slice(field);
        }
        u64::from_be_bytes(bytes)
    };
    let originate = be64(24);
    if originate != nonce {
        return Err(ReplyError::NotOurs {
            got: originate,
            sent: nonce,
        });
    }
    if stratum == 0 {
        // The reference identifier holds four ASCII letters (RATE, DENY, RSTR...).
        let code: String = fixed
            .get(12..16)
            .unwrap_or_default()
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
            .collect();
        return Err(ReplyError::KissOfDeath(code));
    }
    if stratum > 15 {
        return Err(ReplyError::Stratum(stratum));
    }
    if leap == 3 {
        return Err(ReplyError::Unsynchronised);
    }
    let transmit = be64(40);
    if transmit == 0 {
        return Err(ReplyError::NoTime);
    }
    Ok(Reply {
        unix: ntp_to_unix(transmit),
        stratum,
    })
}

/// An NTP timestamp (32.32 fixed point since 1900) as time since the Unix epoch. Era 0 ends
/// in 2036: seconds below 1970's offset are read as era 1 (RFC 4330 section 3), so the
/// decoder keeps working after 2036-02-07.
pub fn ntp_to_unix(timestamp: u64) -> Duration {
    let seconds = timestamp >> 32;
    let fraction = timestamp & 0xffff_ffff;
    let unix = if seconds >= NTP_UNIX_OFFSET {
        seconds - NTP_UNIX_OFFSET
    } else {
        seconds + (1 << 32) - NTP_UNIX_OFFSET
    };
    // fraction / 2^32 of a second, in nanoseconds (< 1e9, fits u32).
    let nanos = u32::try_from((fraction * 1_000_000_000) >> 32).unwrap_or(0);
    Duration::new(unix, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server reply to `nonce` with these header fields and transmit timestamp.
    fn reply(flags: u8, stratum: u8, refid: &[u8; 4], nonce: u64, transmit: u64) -> Vec<u8> {
        let mut p = vec![0u8; PACKET_LEN];
        p[0] = flags;
        p[1] = stratum;
        p[12..16].copy_from_slice(refid);
        p[24..32].copy_from_slice(&nonce.to_be_bytes());
        p[40..48].copy_from_slice(&transmit.to_be_bytes());
        p
    }

    const NONCE: u64 = 0x0123_4567_89ab_cdef;
    /// 2026-01-01T00:00:00Z + 0.5 s as an NTP timestamp.
    const T2026: u64 = ((1_767_225_600 + NTP_UNIX_OFFSET) << 32) | 0x8000_0000;

    #[test]
    fn the_request_is_a_version_4_client_packet_carrying_the_nonce() {
        let p = request(NONCE);
        assert_eq!(p[0], 0x23, "RFC 4330: LI 0, VN 4, mode 3");
        assert!(p[1..40].iter().all(|&b| b == 0));
        assert_eq!(&p[40..], &NONCE.to_be_bytes());
    }

    #[test]
    fn replies_table() {
        let ok = |secs: u64, nanos: u32, stratum: u8| {
            Ok(Reply {
                unix: Duration::new(secs, nanos),
                stratum,
            })
        };
        // (what, packet, result)
        let cases: Vec<(&str, Vec<u8>, Result<Reply, ReplyError>)> = vec![
            (
                "chrony, v4",
                reply(0x24, 8, b"LOCL", NONCE, T2026),
                ok(1_767_225_600, 500_000_000, 8),
            ),
            (
                "an SNTPv3 server",
                reply(0x1c, 2, b"GPS\0", NONCE, T2026),
                ok(1_767_225_600, 500_000_000, 2),
            ),
            (
                "leap second pending is fine",
                reply(0x64, 1, b"GPS\0", NONCE, T2026),
                ok(1_767_225_600, 500_000_000, 1),
            ),
            (
                "after era 0 ends (2036)",
                reply(0x24, 3, b"\x7f\0\0\x01", NONCE, 5 << 32),
                ok((1 << 32) + 5 - NTP_UNIX_OFFSET, 0, 3),
            ),
            (
                "a mode 3 packet (our own, echoed)",
                reply(0x23, 0, b"\0\0\0\0", NONCE, T2026),
                Err(ReplyError::Mode(3)),
            ),
            (
                "a broadcast",
                reply(0x25, 2, b"GPS\0", NONCE, T2026),
                Err(ReplyError::Mode(5)),
            ),
            (
                "version 0",
                reply(0x04, 2, b"GPS\0", NONCE, T2026),
                Err(ReplyError::Version(0)),
            ),
            (
                "kiss-o'-death",
                reply(0x24, 0, b"RATE", NONCE, T2026),
                Err(ReplyError::KissOfDeath("RATE".into())),
            ),
            (
                "stratum 16",
                reply(0x24, 16, b"\0\0\0\0", NONCE, T2026),
                Err(ReplyError::Stratum(16)),
            ),
            (
                "unsynchronised",
                reply(0xe4, 3, b"\0\0\0\0", NONCE, T2026),
                Err(ReplyError::Unsynchronised),
            ),
            (
                "someone else's answer",
                reply(0x24, 2, b"GPS\0", 7, T2026),
                Err(ReplyError::NotOurs {
                    got: 7,
                    sent: NONCE,
                }),
            ),
            (
                "no transmit time",
                reply(0x24, 2, b"GPS\0", NONCE, 0),
                Err(ReplyError::NoTime),
            ),
            ("short", vec![0x24; 47], Err(ReplyError::Short(47))),
            ("empty", vec![], Err(ReplyError::Short(0))),
        ];
        for (what, packet, expected) in cases {
            assert_eq!(parse_reply(&packet, NONCE), expected, "{what}");
        }
    }

    #[test]
    fn extension_fields_after_the_header_are_ignored() {
        let mut p = reply(0x24, 2, b"GPS\0", NONCE, T2026);
        p.extend_from_slice(&[0xff; 20]);
        assert_eq!(
            parse_reply(&p, NONCE).map(|r| r.unix.as_secs()),
            Ok(1_767_225_600)
        );
    }

    #[test]
    fn fractions_convert_to_nanoseconds() {
        assert_eq!(ntp_to_unix(NTP_UNIX_OFFSET << 32), Duration::ZERO);
        assert_eq!(
            ntp_to_unix((NTP_UNIX_OFFSET << 32) | 0xffff_ffff),
            Duration::new(0, 999_999_999)
        );
        assert_eq!(
            ntp_to_unix(((NTP_UNIX_OFFSET + 1) << 32) | 0x4000_0000),
            Duration::new(1, 250_000_000)
        );
    }
}
