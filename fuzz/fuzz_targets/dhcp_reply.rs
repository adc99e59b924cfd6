//! Any bytes as a DHCP message: decoding must return, never panic, and a decoded reply must
//! either become a lease or say why not.
#![no_main]

use diskless::net::dhcp::{Lease, packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = packet::raw_options(data);
    let _ = packet::domain_search(data);
    let _ = packet::classless_routes(data);
    if let Ok(reply) = packet::Reply::decode(data) {
        let _ = Lease::from_ack(&reply, reply.siaddr).map(|lease| lease.default_gateway());
    }
});
