//! DHCPv4 for early boot: get an address and the boot parameters for one interface.
//!
//! [`packet`] is the pure codec, [`client`] the pure protocol logic (what to send when, which
//! replies to take), and [`sys::PacketSocket`] the one packet socket; [`acquire`] wires them
//! together, and [`acquire_first`] runs it on several interfaces at once.
//!
//! The node's derived name goes out as option 12 in every DISCOVER and REQUEST, so dnsmasq
//! registers it in DNS (a dnsmasq boot server does: the name is set before DHCP). Retransmissions start
//! after ~0.5 s, because the first DISCOVER is often lost while the link comes up (klibc's
//! ipconfig races the link and loses it one boot in two or three), and a failed send is just a lost packet, retried on the
//! same schedule (klibc waits 10 s after one). There is no ARP probe for the address (dracut's
//! arping costs ~2 s), and no renewal: the real system's own client takes over.

pub mod client;
pub mod lease;
pub mod packet;

use std::fmt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::error::NetError;
use super::link;
use crate::identity::Mac;
use crate::sys;
use crate::worker;

pub use client::{Acquisition, Counts, Outcome};
pub use lease::{Lease, LeaseError};
pub use packet::{DecodeError, FrameError, MessageType, Reply, Route};

/// What the client needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub iface: String,
    /// The interface index; 0 looks `iface` up.
    pub ifindex: u32,
    pub mac: Mac,
    /// Sent as option 12 (empty: not sent).
    pub hostname: String,
    /// For the whole acquisition (`rd.net.timeout.dhcp=<s>`).
    pub timeout: Duration,
    /// Seeds the xids and the retransmission jitter; must differ between nodes (see
    /// [`ClientConfig::new`]).
    pub xid_seed: u64,
}

impl ClientConfig {
    /// A configuration whose seed mixes the MAC (unique per node) with the wall clock's
    /// nanoseconds (different on each boot), and whose index is looked up.
    pub fn new(iface: &str, mac: Mac, hostname: &str, timeout: Duration) -> ClientConfig {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        let mut mac_bits = [0u8; 8];
        mac_bits[..6].copy_from_slice(&mac.0);
        ClientConfig {
            iface: iface.to_owned(),
            ifindex: 0,
            mac,
            hostname: hostname.to_owned(),
            timeout,
            xid_seed: u64::from_le_bytes(mac_bits) ^ nanos.rotate_left(29),
        }
    }
}

/// Why [`acquire`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("dhcp: {iface}: host name {hostname:?} is longer than 255 bytes (option 12's limit)")]
    HostnameTooLong { iface: String, hostname: String },
    #[error("dhcp: {iface}: opening a packet socket: {source}")]
    Socket {
        iface: String,
        source: std::io::Error,
    },
    #[error("dhcp: {iface}: receiving: {source}")]
    Receive {
        iface: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Timeout(TimeoutReport),
}

/// What happened before the time ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutReport {
    pub iface: String,
    pub waited: Duration,
    pub counts: Counts,
    pub last_problem: Option<String>,
}

impl fmt::Display for TimeoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Counts {
            discovers,
            requests,
            offers,
            naks,
        } = self.counts;
        let secs = self.waited.as_secs_f64();
        if discovers == 0 {
            write!(
                f,
                "dhcp: nothing could be sent on {} in {secs:.1} s",
                self.iface
            )?;
        } else if offers == 0 {
            write!(
                f,
                "dhcp: no DHCP server answered on {}: {discovers} DISCOVERs sent in {secs:.1} s",
                self.iface
            )?;
        } else {
            write!(
                f,
                "dhcp: no lease on {}: {discovers} DISCOVERs, {offers} OFFERs, {requests} REQUESTs, \
                 {naks} NAKs in {secs:.1} s and no usable ACK",
                self.iface
            )?;
        }
        match &self.last_problem {
            Some(problem) => write!(f, " (last problem: {problem})"),
            None => Ok(()),
        }
    }
}

/// Receive buffer: room for a jumbo frame, so a large reply is never cut short.
const RECEIVE_BUFFER: usize = 9216;

/// Runs DHCP on `config.iface` (which must be up) until a lease is bound or `config.timeout`
/// has passed. The interface is left unconfigured: applying the lease is the caller's step.
pub fn acquire(config: &ClientConfig) -> Result<Lease, DhcpError> {
    let iface = config.iface.as_str();
    if config.hostname.len() > 255 {
        return Err(DhcpError::HostnameTooLong {
            iface: iface.to_owned(),
            hostname: config.hostname.clone(),
        });
    }
    let socket =
        sys::PacketSocket::open(iface, config.ifindex).map_err(|source| DhcpError::Socket {
            iface: iface.to_owned(),
            source,
        })?;
    log::debug!(
        "dhcp: {iface}: packet socket on ifindex {}, MAC {}",
        socket.ifindex(),
        config.mac
    );
    let started = Instant::now();
    let mut acquisition = Acquisition::new(iface, config.mac, &config.hostname, config.xid_seed);
    let mut buf = vec![0u8; RECEIVE_BUFFER];
    // To log a run of failed sends once.
    let mut send_failing = false;
    loop {
        let now = started.elapsed();
        if now >= config.timeout {
            return Err(DhcpError::Timeout(TimeoutReport {
                iface: iface.to_owned(),
                waited: now,
                counts: acquisition.counts(),
                last_problem: acquisition.last_problem().map(str::to_owned),
            }));
        }
        if let Some(message) = acquisition.transmit(now) {
            let (kind, xid) = (message.kind, message.xid);
            let sent = packet::encode_client_broadcast(&message.encode())
                .map_err(std::io::Error::other)
                .and_then(|frame| socket.send_broadcast(&frame));
            send_failing &= sent.is_err();
            match (sent, kind) {
                (Ok(()), packet::ClientKind::Discover) => {
                    log::info!("dhcp: {iface}: DISCOVER sent (xid {xid:#010x})")
                }
                (
                    Ok(()),
                    packet::ClientKind::Request {
                        requested,
                        server_id,
                    },
                ) => {
                    log::info!(
                        "dhcp: {iface}: REQUEST for {requested} sent to {server_id} (xid {xid:#010x})"
                    )
                }
                // Most likely the link is not up yet: try again shortly.
                (Err(err), _) => {
                    if !send_failing {
                        log::debug!("dhcp: {iface}: sending failed: {err} (retrying every 100 ms)");
                    }
                    send_failing = true;
                    acquisition.send_failed(started.elapsed());
                    acquisition.note_problem(format!("sending failed: {err}"));
                }
            }
        }
        let wait = acquisition
            .next_send()
            .min(config.timeout)
            .saturating_sub(started.elapsed());
        let len = match socket.receive(&mut buf, wait) {
            Ok(Some(len)) => len,
            Ok(None) => continue,
            // The kernel reports the link going down (or not yet up) to packet sockets once,
            // as an error on the next receive: the link is not ready, so keep trying.
            Err(err) if err.raw_os_error() == Some(nix::libc::ENETDOWN) => {
                log::debug!("dhcp: {iface}: link down");
                acquisition.note_problem(format!("receiving: {err}"));
                continue;
            }
            Err(source) => {
                return Err(DhcpError::Receive {
                    iface: iface.to_owned(),
                    source,
                });
            }
        };
        // Every IPv4 packet on the interface arrives here: most are simply not for port 68.
        let received = buf.get(..len).unwrap_or_default();
        let Ok(datagram) = packet::parse_udp(received, packet::CLIENT_PORT) else {
            continue;
        };
        let reply = match Reply::decode(datagram.payload) {
            Ok(reply) => reply,
            Err(err) => {
                log::debug!(
                    "dhcp: {iface}: ignoring a reply from {}: {err}",
                    datagram.src
                );
                // Worth reporting at the timeout only if it was an answer to us.
                if datagram.payload.get(4..8) == Some(&acquisition.xid().to_be_bytes()[..]) {
                    let problem = format!("a reply from {} did not decode: {err}", datagram.src);
                    acquisition.note_problem(problem);
                }
                continue;
            }
        };
        match acquisition.receive(&reply, started.elapsed()) {
            Outcome::Ignored(why) => {
                log::debug!("dhcp: {iface}: ignoring a {}: {why}", reply.message_type)
            }
            Outcome::Offered { address, server_id } => {
                log::info!("dhcp: {iface}: OFFER of {address} from {server_id}")
            }
            Outcome::Refused { server_id, message } => log::warn!(
                "dhcp: {iface}: NAK from {server_id}{}: discovering again",
                message.map(|m| format!(" ({m})")).unwrap_or_default()
            ),
            Outcome::Bound(lease) => {
                let length = match lease.lease_secs {
                    Some(u32::MAX) => "with an infinite lease".to_owned(),
                    Some(secs) => format!("for {secs} s"),
                    None => "with no lease time".to_owned(),
                };
                log::info!(
                    "dhcp: {iface}: lease {}/{} from {} {length} (in {} ms)",
                    lease.address,
                    lease.prefix_len,
                    lease.server_id,
                    started.elapsed().as_millis()
                );
                return Ok(*lease);
            }
        }
    }
}

/// DHCP for the boot on every NIC given (up, with carrier), each with its own MAC (`mac` for
/// one sysfs does not show), sending `hostname`; the first lease wins.
pub fn lease(
    up: &[String],
    mac: &Mac,
    hostname: &str,
    timeout_secs: u32,
) -> Result<(String, Lease), NetError> {
    let timeout = Duration::from_secs(u64::from(timeout_secs));
    let nics = link::interfaces();
    let clients = up
        .iter()
        .map(|iface| {
            let iface_mac = nics
                .iter()
                .find(|nic| &nic.name == iface)
                .and_then(|nic| nic.mac)
                .unwrap_or(*mac);
            ClientConfig::new(iface, iface_mac, hostname, timeout)
        })
        .collect();
    acquire_first(clients).map_err(|failures| NetError::Dhcp {
        failures,
        secs: timeout_secs,
    })
}

/// Runs DHCP on every client's interface at once (each up, with carrier); the first lease
/// wins, and the other clients keep trying until their own timeout, then stop. On failure:
/// each interface's reason, in the order they gave up.
pub fn acquire_first(clients: Vec<ClientConfig>) -> Result<(String, Lease), Vec<String>> {
    let (tx, rx) = mpsc::channel();
    let mut failures = Vec::new();
    for client in clients {
        let iface = client.iface.clone();
        let done = tx.clone();
        let (crashed, crashed_iface) = (tx.clone(), iface.clone());
        let spawned = worker::spawn(
            format!("dhcp-{iface}"),
            move || {
                let result = acquire(&client).map_err(|err| err.to_string());
                let _ = done.send((client.iface, result));
            },
            // A bug in one client must not take the boot down, nor go unnoticed.
            move |panic| {
                let why = format!("dhcp: {crashed_iface}: the client crashed: {panic}");
                let _ = crashed.send((crashed_iface, Err(why)));
            },
        );
        if let Err(err) = spawned {
            failures.push(format!("dhcp: {iface}: cannot start its thread: {err}"));
        }
    }
    drop(tx);
    for (iface, result) in rx {
        match result {
            Ok(lease) => return Ok((iface, lease)),
            Err(why) => failures.push(why),
        }
    }
    Err(failures)
}

#[cfg(test)]
mod tests;
