//! Any bytes as an IPv4 packet from the packet socket, through the same steps as the client.
#![no_main]

use diskless::net::dhcp::packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(datagram) = packet::parse_udp(data, packet::CLIENT_PORT) {
        let _ = packet::Reply::decode(datagram.payload);
    }
});
