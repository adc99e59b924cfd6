//! An NBD export as the kernel's block device: a TCP connection, the newstyle handshake
//! ([`handshake`], pure) in userspace, then the negotiated socket handed to the nbd driver
//! over netlink (`sys::nbd_connect`), which keeps it after PID 1 execs the real init. The
//! device is read-only whatever the server allows: the image is shared by every node.
//!
//! A hostile or broken server cannot hold PID 1: connecting takes at most 10 s, the whole
//! handshake at most [`HANDSHAKE_TIMEOUT`], and every reply is bounded before it is read.

pub mod handshake;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cmdline::nbd::NbdSpec;
use crate::retry::RetryPolicy;
use crate::sys;
use handshake::{Export, GoReply, HandshakeError};

/// Connecting to the server, per attempt.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole handshake, from the greeting to the last reply.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The device's logical block size: the smallest, which any image and dm-verity's 4 KiB
/// blocks sit on.
const BLOCK_SIZE: u64 = 512;

/// An export attached as a block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// `/dev/nbd<index>`.
    pub device: PathBuf,
    pub export: Export,
    pub server: SocketAddrV4,
}

/// Why an export could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum NbdError {
    #[error("resolving {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("connecting to {addr}: {source}{attempts}")]
    Connect {
        addr: SocketAddr,
        source: io::Error,
        attempts: String,
    },
    #[error("{addr}: the handshake: {source}")]
    Io { addr: SocketAddr, source: io::Error },
    #[error("{addr}: {source}")]
    Handshake {
        addr: SocketAddr,
        source: HandshakeError,
    },
    #[error("{addr}: the export is empty")]
    Empty { addr: SocketAddr },
    #[error(
        "handing the connection to the kernel's nbd driver: {0} (is the nbd module in the \
         initramfs? cargo xtask initrd packs it by default)"
    )]
    Kernel(#[source] io::Error),
}

/// Connects to `spec`'s server (retrying a server that is not up yet under `policy`, until
/// its deadline), negotiates the export and attaches it read-only as `/dev/nbd<n>`.
pub fn attach(spec: &NbdSpec, policy: &RetryPolicy) -> Result<Attached, NbdError> {
    let resolve = |reason: String| NbdError::Resolve {
        host: spec.server.clone(),
        reason,
    };
    let ip = *sys::resolve_ipv4(&spec.server)
        .map_err(|e| resolve(e.to_string()))?
        .first()
        .ok_or_else(|| resolve("no IPv4 address".to_owned()))?;
    let server = SocketAddrV4::new(ip, spec.port);
    let addr = SocketAddr::V4(server);
    let mut stream = connect(addr, policy)?;
    let export = handshake_on(&mut stream, addr, &spec.export, HANDSHAKE_TIMEOUT)?;
    // The kernel reads and waits on the socket from now on: no timeouts of ours on it.
    let untimed = stream
        .set_read_timeout(None)
        .and_then(|()| stream.set_write_timeout(None))
        .and_then(|()| stream.set_nodelay(true));
    untimed.map_err(|source| NbdError::Io { addr, source })?;
    let flags = export.flags | handshake::TRANSMIT_HAS_FLAGS | handshake::TRANSMIT_READ_ONLY;
    let device = sys::NbdDevice {
        size: export.size,
        block_size: BLOCK_SIZE,
        flags: u64::from(flags),
    };
    let index = sys::nbd_connect(&stream, device).map_err(NbdError::Kernel)?;
    // The kernel holds the socket now; this end closes with the stream.
    drop(stream);
    Ok(Attached {
        device: PathBuf::from(format!("/dev/nbd{index}")),
        export,
        server,
    })
}

/// Connects to `addr` once and negotiates `export` within `timeout`, then hangs up: what the
/// server offers, for tests and tools (the boot's own connection is [`attach`]'s).
pub fn probe(addr: SocketAddr, export: &str, timeout: Duration) -> Result<Export, NbdError> {
    let mut stream =
        TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|source| NbdError::Connect {
            addr,
            source,
            attempts: String::new(),
        })?;
    handshake_on(&mut stream, addr, export, timeout)
}

/// The handshake on a connected `stream`; an empty export is refused.
fn handshake_on(
    stream: &mut TcpStream,
    addr: SocketAddr,
    export: &str,
    timeout: Duration,
) -> Result<Export, NbdError> {
    let found = negotiate(stream, export, timeout).map_err(|err| match err {
        Negotiation::Io(source) => NbdError::Io { addr, source },
        Negotiation::Protocol(source) => NbdError::Handshake { addr, source },
    })?;
    if found.size == 0 {
        return Err(NbdError::Empty { addr });
    }
    Ok(found)
}

/// Connects, retrying refusals and timeouts (a server still starting, a route not yet up).
fn connect(addr: SocketAddr, policy: &RetryPolicy) -> Result<TcpStream, NbdError> {
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let err = match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(err) => err,
        };
        let delay = policy.delay(attempt);
        let retryable = matches!(
            err.kind(),
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::TimedOut
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable
        );
        if !retryable || started.elapsed() + delay > policy.deadline {
            return Err(NbdError::Connect {
                addr,
                source: err,
                attempts: if attempt > 1 {
                    format!(
                        " ({attempt} attempts in {:.1} s)",
                        started.elapsed().as_secs_f64()
                    )
                } else {
                    String::new()
                },
            });
        }
        log::warn!(
            "connecting to NBD server {addr}: {err}; retrying in {:.1} s",
            delay.as_secs_f64()
        );
        std::thread::sleep(delay);
    }
}

/// Why a negotiation failed: the connection, or what the server said.
enum Negotiation {
    Io(io::Error),
    Protocol(HandshakeError),
}

impl From<io::Error> for Negotiation {
    fn from(err: io::Error) -> Negotiation {
        Negotiation::Io(err)
    }
}

impl From<HandshakeError> for Negotiation {
    fn from(err: HandshakeError) -> Negotiation {
        Negotiation::Protocol(err)
    }
}

/// The handshake's time left, as `read_by` counts it down.
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    timeout: Duration,
}

/// Reads exactly `buf.len()` bytes before the handshake's deadline.
fn read_by(stream: &mut TcpStream, buf: &mut [u8], deadline: Deadline) -> io::Result<()> {
    let left = deadline.at.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(timed_out(deadline.timeout));
    }
    stream.set_read_timeout(Some(left))?;
    stream.read_exact(buf).map_err(|err| match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(deadline.timeout),
        io::ErrorKind::UnexpectedEof => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ),
        _ => err,
    })
}

fn timed_out(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the server did not finish the handshake within {:.1} s",
            timeout.as_secs_f64()
        ),
    )
}

/// The fixed newstyle handshake for `export`: `NBD_OPT_GO`, or `NBD_OPT_EXPORT_NAME` with a
/// server that does not know it.
fn negotiate(
    stream: &mut TcpStream,
    export: &str,
    timeout: Duration,
) -> Result<Export, Negotiation> {
    let deadline = Deadline {
        at: Instant::now() + timeout,
        timeout,
    };
    stream.set_write_timeout(Some(timeout))?;
    let mut greeting = [0u8; handshake::GREETING_LEN];
    read_by(stream, &mut greeting, deadline)?;
    let flags = handshake::parse_greeting(&greeting)?;
    stream.write_all(&handshake::client_flags(flags))?;
    stream.write_all(&handshake::opt_go(export))?;
    let mut found = None;
    for _ in 0..handshake::MAX_REPLIES {
        let mut header = [0u8; handshake::REPLY_HEADER_LEN];
        read_by(stream, &mut header, deadline)?;
        let header = handshake::parse_reply_header(&header, handshake::OPT_GO)?;
        // Bounded by parse_reply_header: at most MAX_REPLY bytes.
        let mut payload = vec![0u8; header.len as usize];
        read_by(stream, &mut payload, deadline)?;
        match handshake::go_reply(header, &payload)? {
            GoReply::Info(info) => found = info.or(found),
            GoReply::Done => return found.ok_or(Negotiation::Protocol(HandshakeError::NoSize)),
            GoReply::Unsupported => return export_name(stream, export, flags, deadline),
        }
    }
    Err(HandshakeError::TooManyReplies.into())
}

/// `NBD_OPT_EXPORT_NAME`, the old way: the size and flags come back without a header.
fn export_name(
    stream: &mut TcpStream,
    export: &str,
    flags: u16,
    deadline: Deadline,
) -> Result<Export, Negotiation> {
    stream.write_all(&handshake::opt_export_name(export))?;
    let mut reply = [0u8; handshake::EXPORT_NAME_REPLY_LEN];
    read_by(stream, &mut reply, deadline)?;
    if flags & handshake::FLAG_NO_ZEROES == 0 {
        let mut zeroes = [0u8; handshake::EXPORT_NAME_ZEROES];
        read_by(stream, &mut zeroes, deadline)?;
    }
    Ok(handshake::export_name_reply(&reply))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server on 127.0.0.1 that writes `script` to its first client (after reading what
    /// the client sends, in the background) and then keeps the connection open for `hold`.
    fn server(script: Vec<u8>, hold: Duration) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
        let addr = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let mut reader = conn.try_clone().expect("clone");
            std::thread::spawn(move || {
                let mut sink = [0u8; 256];
                while reader.read(&mut sink).is_ok_and(|n| n > 0) {}
            });
            let _ = conn.write_all(&script);
            std::thread::sleep(hold);
        });
        addr
    }

    fn greeting() -> Vec<u8> {
        let mut g = handshake::NBDMAGIC.to_be_bytes().to_vec();
        g.extend_from_slice(&handshake::IHAVEOPT.to_be_bytes());
        g.extend_from_slice(&3u16.to_be_bytes());
        g
    }

    fn reply(kind: u32, payload: &[u8]) -> Vec<u8> {
        let mut r = handshake::REPLY_MAGIC.to_be_bytes().to_vec();
        r.extend_from_slice(&handshake::OPT_GO.to_be_bytes());
        r.extend_from_slice(&kind.to_be_bytes());
        r.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        r.extend_from_slice(payload);
        r
    }

    const SHORT: Duration = Duration::from_millis(300);

    #[test]
    fn a_server_answering_go_gives_the_export() {
        let mut script = greeting();
        // A block size reply the node skips, then the export, then the ack.
        script.extend(reply(3, &[0, 3, 0, 0, 2, 0, 0, 0, 16, 0, 0, 0, 0x80, 0]));
        script.extend(reply(3, &[0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0x01, 0x43]));
        script.extend(reply(1, &[]));
        let addr = server(script, SHORT);
        let export = probe(addr, "root", SHORT).expect("the export");
        assert_eq!(
            export,
            Export {
                size: 1 << 20,
                flags: 0x143
            }
        );
    }

    #[test]
    fn an_old_server_is_asked_with_export_name() {
        let mut script = greeting();
        script.extend(reply((1 << 31) | 1, &[]));
        script.extend_from_slice(&8192u64.to_be_bytes());
        script.extend_from_slice(&3u16.to_be_bytes());
        let addr = server(script, SHORT);
        assert_eq!(
            probe(addr, "root", SHORT).expect("the export"),
            Export {
                size: 8192,
                flags: 3
            }
        );
    }

    /// A hostile server: a reply announcing 4 GiB, one that never ends, an empty export, a
    /// refusal; each ends the handshake at once, with what happened.
    #[test]
    fn hostile_servers_are_bounded() {
        let huge = {
            let mut s = greeting();
            let mut r = reply(3, &[]);
            r[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
            s.extend(r);
            s
        };
        let stalls = greeting();
        let empty = {
            let mut s = greeting();
            s.extend(reply(3, &[0; 12]));
            s.extend(reply(1, &[]));
            s
        };
        let refused = {
            let mut s = greeting();
            s.extend(reply((1 << 31) | 6, b"Export unknown"));
            s
        };
        let no_size = {
            let mut s = greeting();
            s.extend(reply(1, &[]));
            s
        };
        let cases = [
            (huge, "more than the 4112 a handshake reply may have"),
            (stalls, "did not finish the handshake within 0.3 s"),
            (empty, "the export is empty"),
            (
                refused,
                "refused the export: unknown export (\"Export unknown\")",
            ),
            (no_size, "without the export's size"),
            (
                b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
                "not an NBD server",
            ),
        ];
        for (script, want) in cases {
            let addr = server(script, Duration::from_secs(2));
            let started = Instant::now();
            let err = probe(addr, "root", SHORT).expect_err(want).to_string();
            assert!(err.contains(want), "{err} does not say {want}");
            assert!(err.starts_with(&addr.to_string()), "{err}");
            assert!(started.elapsed() < Duration::from_secs(2), "{want}: {err}");
        }
    }
}
