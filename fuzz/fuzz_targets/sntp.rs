//! Any bytes as an SNTP reply (what comes back from the network before the clock is set),
//! and as a `diskless.ntp=` value. A reply is accepted only with mode 4, stratum 1-15, our
//! nonce echoed and a transmit time; a server that parses prints back to itself.
#![no_main]

use diskless::clock::sntp;
use diskless::cmdline::ntp::NtpServer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The nonce the packet itself echoes (so the later checks are reached), and another.
    let echoed = data
        .get(24..32)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes);
    for nonce in [echoed, echoed ^ 1] {
        if let Ok(reply) = sntp::parse_reply(data, nonce) {
            assert_eq!(data[0] & 7, 4, "mode");
            assert!((1..=15).contains(&reply.stratum));
            assert_eq!(reply.stratum, data[1]);
            assert_eq!(data.get(24..32), Some(&nonce.to_be_bytes()[..]));
            assert!(reply.unix.subsec_nanos() < 1_000_000_000);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(server) = NtpServer::parse(text) {
            assert_eq!(NtpServer::parse(&server.to_string()), Ok(server));
        }
    }
});
