//! IPv4 + UDP framing of DHCP messages: the raw socket sends and receives whole IP packets
//! before the interface has an address.

use super::*;

const IPV4_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;
const PROTO_UDP: u8 = 17;

/// Why a received frame is not a UDP datagram for us.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("{len} bytes is too short for an IPv4 header")]
    TooShort { len: usize },
    #[error("IP version {version}, not 4")]
    NotIpv4 { version: u8 },
    #[error("IPv4 header length {ihl} words is invalid")]
    BadHeaderLength { ihl: u8 },
    #[error("IPv4 total length {total} does not fit the {received} bytes received")]
    BadTotalLength { total: usize, received: usize },
    #[error("IPv4 fragment (a DHCP reply is never fragmented on purpose)")]
    Fragment,
    #[error("IP protocol {protocol}, not UDP (17)")]
    NotUdp { protocol: u8 },
    #[error("IPv4 header checksum mismatch")]
    BadHeaderChecksum,
    #[error("UDP length {udp_len} does not fit the {available} bytes after the IP header")]
    BadUdpLength { udp_len: usize, available: usize },
    #[error("UDP destination port {port}, not {expected}")]
    WrongPort { port: u16, expected: u16 },
    #[error("a {len}-byte payload does not fit one IPv4 datagram")]
    PayloadTooLong { len: usize },
}

/// A UDP datagram taken out of an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

/// The Internet checksum (RFC 1071) over `chunks` as one byte string: the ones' complement of
/// the ones' complement sum of 16-bit big-endian words (odd lengths padded with a zero byte;
/// every chunk but the last has an even length here).
pub(super) fn internet_checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in chunks {
        let mut words = chunk.chunks_exact(2);
        for word in &mut words {
            if let [high, low] = *word {
                sum += u32::from(u16::from_be_bytes([high, low]));
            }
        }
        if let [last] = words.remainder() {
            sum += u32::from(*last) << 8;
        }
        // Fold as we go so the sum cannot overflow, whatever the input size.
        sum = (sum & 0xffff) + (sum >> 16);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop above leaves at most 16 bits.
    !(sum as u16)
}

/// An IPv4 packet carrying `payload` in UDP, for a packet socket (the link layer header is the
/// kernel's). No IP options, TTL 64, not fragmented; the UDP checksum is filled in.
pub fn encode_udp(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> Result<Vec<u8>, FrameError> {
    let too_long = FrameError::PayloadTooLong { len: payload.len() };
    let udp_len = u16::try_from(UDP_HEADER_LEN + payload.len()).map_err(|_| too_long.clone())?;
    let total = u16::try_from(IPV4_HEADER_LEN + usize::from(udp_len)).map_err(|_| too_long)?;
    let mut out = Vec::with_capacity(usize::from(total));
    out.extend_from_slice(&[0x45, 0]); // version 4, 5 words of header; TOS 0
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // identification 0; no flags, offset 0
    out.extend_from_slice(&[64, PROTO_UDP, 0, 0]); // TTL, protocol, checksum (below)
    out.extend_from_slice(&src.0.octets());
    out.extend_from_slice(&dst.0.octets());
    let header_sum = internet_checksum(&[&out]).to_be_bytes();
    // The header's checksum field: bytes 10 and 11 of the 20 just written.
    for (at, byte) in [(10, header_sum[0]), (11, header_sum[1])] {
        if let Some(slot) = out.get_mut(at) {
            *slot = byte;
        }
    }

    let mut udp = [0u8; UDP_HEADER_LEN];
    udp[0..2].copy_from_slice(&src.1.to_be_bytes());
    udp[2..4].copy_from_slice(&dst.1.to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    let pseudo = pseudo_header(src.0, dst.0, udp_len);
    let sum = match internet_checksum(&[&pseudo, &udp, payload]) {
        0 => 0xffff, // 0 means "no checksum" in UDP over IPv4 (RFC 768)
        sum => sum,
    };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    out.extend_from_slice(&udp);
    out.extend_from_slice(payload);
    Ok(out)
}

pub(super) fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, udp_len: u16) -> [u8; 12] {
    let mut pseudo = [0u8; 12];
    pseudo[0..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = PROTO_UDP;
    pseudo[10..12].copy_from_slice(&udp_len.to_be_bytes());
    pseudo
}

/// A client's broadcast from 0.0.0.0:68 to 255.255.255.255:67.
pub fn encode_client_broadcast(message: &[u8]) -> Result<Vec<u8>, FrameError> {
    encode_udp(
        (Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
        (Ipv4Addr::BROADCAST, SERVER_PORT),
        message,
    )
}

/// Takes the UDP datagram for `port` out of an IPv4 packet as a packet socket delivers it.
/// Checks the version, header length and checksum, total length (bytes after it, such as
/// Ethernet padding, are dropped), fragmentation, protocol, UDP length and destination port.
/// The UDP checksum is not checked: packets from the same host (veth, bridges) reach packet
/// sockets before the checksum is computed (checksum offload), and DHCP checks its own xid.
pub fn parse_udp(packet: &[u8], port: u16) -> Result<UdpDatagram<'_>, FrameError> {
    let received = packet.len();
    let Some(ip) = packet.first_chunk::<IPV4_HEADER_LEN>() else {
        return Err(FrameError::TooShort { len: received });
    };
    let version = ip[0] >> 4;
    if version != 4 {
        return Err(FrameError::NotIpv4 { version });
    }
    let ihl = ip[0] & 0x0f;
    let header_len = usize::from(ihl) * 4;
    if ihl < 5 || header_len > received {
        return Err(FrameError::BadHeaderLength { ihl });
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if total < header_len || total > received {
        return Err(FrameError::BadTotalLength { total, received });
    }
    // More-fragments flag or a fragment offset: part of a datagram we would have to reassemble.
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
        return Err(FrameError::Fragment);
    }
    if ip[9] != PROTO_UDP {
        return Err(FrameError::NotUdp { protocol: ip[9] });
    }
    // Both bounds were checked against `received` above.
    let header = packet.get(..header_len).unwrap_or_default();
    if internet_checksum(&[header]) != 0 {
        return Err(FrameError::BadHeaderChecksum);
    }
    let datagram = packet.get(header_len..total).unwrap_or_default();
    let available = datagram.len();
    let Some((udp, _)) = datagram.split_first_chunk::<UDP_HEADER_LEN>() else {
        return Err(FrameError::BadUdpLength {
            udp_len: 0,
            available,
        });
    };
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    let Some(payload) = datagram
        .get(UDP_HEADER_LEN..udp_len)
        .filter(|_| udp_len >= UDP_HEADER_LEN)
    else {
        return Err(FrameError::BadUdpLength { udp_len, available });
    };
    let dst_port = u16::from_be_bytes([udp[2], udp[3]]);
    if dst_port != port {
        return Err(FrameError::WrongPort {
            port: dst_port,
            expected: port,
        });
    }
    Ok(UdpDatagram {
        src: ipv4_at(packet, 12),
        dst: ipv4_at(packet, 16),
        src_port: u16::from_be_bytes([udp[0], udp[1]]),
        dst_port,
        payload,
    })
}

#[cfg(test)]
mod tests;
