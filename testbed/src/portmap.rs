//! The test bed's one portmapper (RFC 1833): a stand-in for rpcbind that keeps one table of
//! registrations and answers from it, for the two clients the test bed has.
//!
//! - ganesha registers NFS and MOUNT (SET at startup, UNSET at shutdown; rpcbind versions 3 and
//!   4, portmap version 2) on a Unix socket, `run/rpcbind.sock` of its own mount namespace
//!   ([`Portmapper::listen_unix`]): the NFS server runs ganesha with a private /run, so that
//!   it registers here rather than with the machine's one rpcbind. ganesha 4.3 refuses to
//!   start with NFSv3 enabled unless that works.
//! - A guest asks for ports with portmap version 2 GETPORT over TCP or UDP on port 111
//!   ([`Portmapper::listen_inet`]): initramfs-tools' klibc `nfsmount` does, and rejects
//!   `mountport=` (`nfsmount: bad option 'mountport'`). It gets the ports ganesha registered.
//!
//! Every other procedure is PROC_UNAVAIL, other programs PROG_UNAVAIL. Not a real rpcbind:
//! that is one per machine, on port 111 of every interface, sharing /run/rpcbind.sock and its
//! lock with the host's, and Debian 12's crashes with `-h 127.0.0.1` (a double free).
//!
//! [`answer`] is the whole protocol, pure; the listeners only move records and datagrams.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddrV4, TcpListener, UdpSocket};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

/// ONC RPC constants (RFC 5531) and the portmapper's (RFC 1833).
pub mod rpc {
    pub const CALL: u32 = 0;
    pub const REPLY: u32 = 1;
    pub const MSG_ACCEPTED: u32 = 0;
    pub const MSG_DENIED: u32 = 1;
    pub const RPC_MISMATCH: u32 = 0;
    pub const AUTH_NONE: u32 = 0;
    pub const SUCCESS: u32 = 0;
    pub const PROG_UNAVAIL: u32 = 1;
    pub const PROG_MISMATCH: u32 = 2;
    pub const PROC_UNAVAIL: u32 = 3;
    pub const GARBAGE_ARGS: u32 = 4;
    /// The portmapper's program number, for portmap v2 and rpcbind v3/v4 alike.
    pub const RPCBPROG: u32 = 100_000;
    pub const PROC_NULL: u32 = 0;
    pub const PROC_SET: u32 = 1;
    pub const PROC_UNSET: u32 = 2;
    /// GETPORT in version 2 (GETADDR in versions 3 and 4, which the stand-in does not serve).
    pub const PROC_GETPORT: u32 = 3;
    /// IP protocol numbers, as portmap v2 names transports.
    pub const IPPROTO_TCP: u32 = 6;
    pub const IPPROTO_UDP: u32 = 17;
    /// The last-fragment bit of a record mark (RFC 5531 section 11).
    pub const LAST_FRAGMENT: u32 = 0x8000_0000;
}

/// The portmapper's well-known port.
pub const PORT: u16 = 111;

/// Records larger than this are not portmapper calls; the connection is dropped.
const MAX_RECORD: usize = 64 * 1024;
/// A connection that sends nothing for this long is closed, so threads do not pile up.
const IDLE: Duration = Duration::from_secs(60);
/// How often the listeners look at the stop flag.
const POLL: Duration = Duration::from_millis(20);

/// One SET that has not been UNSET since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// RPC program: 100003 NFS, 100005 MOUNT.
    pub program: u32,
    pub version: u32,
    /// `tcp`, `tcp6`, `udp`...
    pub netid: String,
    /// The universal address, `h1.h2.h3.h4.p1.p2` (or an IPv6 address and `.p1.p2`).
    pub addr: String,
}

impl Registration {
    /// The port of [`Registration::addr`]: its last two dot-separated numbers, `p1 * 256 + p2`.
    pub fn port(&self) -> Option<u16> {
        let mut parts = self.addr.rsplit('.');
        let low: u8 = parts.next()?.parse().ok()?;
        let high: u8 = parts.next()?.parse().ok()?;
        Some(u16::from(high) << 8 | u16::from(low))
    }
}

/// One GETPORT a client made, and the answer (0: not registered).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Query {
    pub program: u32,
    pub version: u32,
    /// 6 TCP, 17 UDP.
    pub protocol: u32,
    pub port: u16,
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GETPORT program {} version {} protocol {} -> {}",
            self.program, self.version, self.protocol, self.port
        )
    }
}

/// The table and what was asked of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub registrations: Vec<Registration>,
    pub queries: Vec<Query>,
}

impl State {
    /// GETPORT's answer: the port registered for the program, version and transport.
    fn port_of(&self, program: u32, version: u32, protocol: u32) -> u16 {
        let netid = match protocol {
            rpc::IPPROTO_TCP => "tcp",
            rpc::IPPROTO_UDP => "udp",
            _ => return 0,
        };
        self.registrations
            .iter()
            .find(|r| r.program == program && r.version == version && r.netid == netid)
            .and_then(Registration::port)
            .unwrap_or(0)
    }
}

/// The reply to one call, updating `state`; `None` when the bytes are not an RPC call (the
/// connection is then closed, as rpcbind does).
pub fn answer(call: &[u8], state: &mut State) -> Option<Vec<u8>> {
    let mut x = Xdr { buf: call };
    let xid = x.u32()?;
    if x.u32()? != rpc::CALL {
        return None;
    }
    let rpc_version = x.u32()?;
    let program = x.u32()?;
    let version = x.u32()?;
    let procedure = x.u32()?;
    // Credentials and verifier: flavor + body each; anyone may register here.
    for _ in 0..2 {
        x.u32()?;
        x.opaque()?;
    }

    let mut reply = Vec::new();
    let mut put = |v: u32| reply.extend_from_slice(&v.to_be_bytes());
    put(xid);
    put(rpc::REPLY);
    if rpc_version != 2 {
        for v in [rpc::MSG_DENIED, rpc::RPC_MISMATCH, 2, 2] {
            put(v);
        }
        return Some(reply);
    }
    for v in [rpc::MSG_ACCEPTED, rpc::AUTH_NONE, 0] {
        put(v);
    }
    if program != rpc::RPCBPROG {
        put(rpc::PROG_UNAVAIL);
        return Some(reply);
    }
    if !(2..=4).contains(&version) {
        for v in [rpc::PROG_MISMATCH, 2, 4] {
            put(v);
        }
        return Some(reply);
    }
    match procedure {
        rpc::PROC_NULL => put(rpc::SUCCESS),
        rpc::PROC_SET | rpc::PROC_UNSET => {
            let Some(entry) = parse_mapping(&mut x, version) else {
                put(rpc::GARBAGE_ARGS);
                return Some(reply);
            };
            let table = &mut state.registrations;
            if procedure == rpc::PROC_SET {
                table.retain(|r| {
                    (r.program, r.version, &r.netid) != (entry.program, entry.version, &entry.netid)
                });
                table.push(entry);
            } else {
                // UNSET without a netid removes the program version on every transport.
                table.retain(|r| {
                    (r.program, r.version) != (entry.program, entry.version)
                        || (!entry.netid.is_empty() && r.netid != entry.netid)
                });
            }
            put(rpc::SUCCESS);
            put(1); // bool TRUE
        }
        rpc::PROC_GETPORT if version == 2 => {
            let (Some(program), Some(prog_version), Some(protocol)) = (x.u32(), x.u32(), x.u32())
            else {
                put(rpc::GARBAGE_ARGS);
                return Some(reply);
            };
            let port = state.port_of(program, prog_version, protocol);
            state.queries.push(Query {
                program,
                version: prog_version,
                protocol,
                port,
            });
            put(rpc::SUCCESS);
            put(u32::from(port));
        }
        _ => put(rpc::PROC_UNAVAIL),
    }
    Some(reply)
}

/// SET/UNSET arguments: portmap v2's `mapping` or rpcbind v3/v4's `rpcb`.
fn parse_mapping(x: &mut Xdr<'_>, version: u32) -> Option<Registration> {
    let program = x.u32()?;
    let prog_version = x.u32()?;
    if version == 2 {
        let protocol = x.u32()?;
        let port = x.u32()?;
        let netid = match protocol {
            rpc::IPPROTO_TCP => "tcp",
            rpc::IPPROTO_UDP => "udp",
            _ => "",
        };
        return Some(Registration {
            program,
            version: prog_version,
            netid: netid.to_owned(),
            addr: format!("0.0.0.0.{}.{}", port >> 8 & 0xff, port & 0xff),
        });
    }
    let netid = x.string()?;
    let addr = x.string()?;
    let _owner = x.string()?;
    Some(Registration {
        program,
        version: prog_version,
        netid,
        addr,
    })
}

/// XDR decoding of the few types portmapper calls use.
struct Xdr<'a> {
    buf: &'a [u8],
}

impl<'a> Xdr<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.buf.split_first_chunk::<4>()?;
        self.buf = rest;
        Some(u32::from_be_bytes(*head))
    }

    /// Variable-length opaque data, padded to 4 bytes.
    fn opaque(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        let padded = len.checked_add(3)? & !3;
        if self.buf.len() < padded {
            return None;
        }
        let (data, rest) = self.buf.split_at(padded);
        self.buf = rest;
        data.get(..len)
    }

    fn string(&mut self) -> Option<String> {
        Some(String::from_utf8_lossy(self.opaque()?).into_owned())
    }
}

/// One record (all its fragments), `None` at a clean EOF between records.
pub fn read_record(stream: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut record = Vec::new();
    loop {
        let mut mark = [0u8; 4];
        match stream.read_exact(&mut mark) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && record.is_empty() => {
                return Ok(None);
            }
            other => other?,
        }
        let mark = u32::from_be_bytes(mark);
        let len = (mark & !rpc::LAST_FRAGMENT) as usize;
        if record.len() + len > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "RPC record too large",
            ));
        }
        let start = record.len();
        record.resize(start + len, 0);
        stream.read_exact(&mut record[start..])?;
        if mark & rpc::LAST_FRAGMENT != 0 {
            return Ok(Some(record));
        }
    }
}

/// `reply` as one record: the last-fragment mark with its length, then the bytes.
fn frame(reply: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(reply.len() + 4);
    // Replies are far below 2^31 bytes; the length always fits the mark.
    let len = u32::try_from(reply.len()).unwrap_or(0);
    framed.extend_from_slice(&(rpc::LAST_FRAGMENT | len).to_be_bytes());
    framed.extend_from_slice(reply);
    framed
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a connection thread panicked; the table is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running portmapper: one table, any number of listeners, each on a thread of its own.
/// Dropping it stops the listeners (within 20 ms); connections already accepted end when
/// their client closes them or goes quiet for a minute.
#[derive(Debug, Default)]
pub struct Portmapper {
    shared: Arc<Shared>,
    listeners: Vec<JoinHandle<()>>,
    /// Unix socket paths to remove when stopping.
    sockets: Vec<PathBuf>,
}

impl Portmapper {
    /// A portmapper with an empty table and no listener yet.
    pub fn new() -> Portmapper {
        Portmapper::default()
    }

    /// Serves registrations (and queries) on a Unix socket at `path`.
    pub fn listen_unix(&mut self, path: &Path) -> Result<()> {
        let listener = UnixListener::bind(path).with_context(|| {
            format!(
                "listening on {} (Unix socket paths are limited to 107 bytes)",
                path.display()
            )
        })?;
        listener
            .set_nonblocking(true)
            .context("making the portmapper's Unix socket non-blocking")?;
        self.sockets.push(path.to_owned());
        let shared = Arc::clone(&self.shared);
        self.spawn("portmap-unix", move || {
            accept_loop(&shared, || listener.accept().map(|(stream, _)| stream))
        })
    }

    /// Serves TCP and UDP on `addr` (usually 127.0.0.1:[`PORT`]). Sockets belong to the
    /// network namespace of the thread that binds them: call this inside
    /// [`crate::netns::NetNs::enter`] to serve a namespace's guests.
    pub fn listen_inet(&mut self, addr: SocketAddrV4) -> Result<()> {
        let udp = UdpSocket::bind(addr).with_context(|| format!("binding UDP {addr}"))?;
        udp.set_read_timeout(Some(POLL))
            .context("setting the UDP socket's timeout")?;
        let tcp = TcpListener::bind(addr).with_context(|| format!("binding TCP {addr}"))?;
        tcp.set_nonblocking(true)
            .context("making the TCP listener non-blocking")?;
        let shared = Arc::clone(&self.shared);
        self.spawn("portmap-udp", move || {
            let mut buf = [0u8; 1500];
            while !shared.stop.load(Ordering::SeqCst) {
                // A timeout comes back as an error: look at the stop flag again.
                let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                    continue;
                };
                let reply = answer(&buf[..n], &mut shared.state());
                if let Some(reply) = reply {
                    let _ = udp.send_to(&reply, peer);
                }
            }
        })?;
        let shared = Arc::clone(&self.shared);
        self.spawn("portmap-tcp", move || {
            accept_loop(&shared, || tcp.accept().map(|(stream, _)| stream))
        })
    }

    fn spawn(&mut self, name: &str, work: impl FnOnce() + Send + 'static) -> Result<()> {
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(work)
            .with_context(|| format!("starting the {name} thread"))?;
        self.listeners.push(thread);
        Ok(())
    }

    /// What is registered now.
    pub fn registrations(&self) -> Vec<Registration> {
        self.shared.state().registrations.clone()
    }

    /// Every GETPORT asked so far, in order.
    pub fn queries(&self) -> Vec<Query> {
        self.shared.state().queries.clone()
    }

    /// Stops the listeners and removes the Unix sockets (dropping does it too).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for thread in self.listeners.drain(..) {
            let _ = thread.join();
        }
        for path in self.sockets.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Portmapper {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A stream the portmapper serves: TCP or Unix.
trait Connection: Read + Write + Send + 'static {
    fn prepare(&self) -> io::Result<()>;
}

impl Connection for std::net::TcpStream {
    fn prepare(&self) -> io::Result<()> {
        self.set_nonblocking(false)?;
        self.set_read_timeout(Some(IDLE))
    }
}

impl Connection for std::os::unix::net::UnixStream {
    fn prepare(&self) -> io::Result<()> {
        self.set_nonblocking(false)?;
        self.set_read_timeout(Some(IDLE))
    }
}

/// Accepts from a non-blocking listener until told to stop; each connection is served on a
/// detached thread of its own.
fn accept_loop<S: Connection>(shared: &Arc<Shared>, mut accept: impl FnMut() -> io::Result<S>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match accept() {
            Ok(stream) => {
                let shared = Arc::clone(shared);
                let _ = std::thread::Builder::new()
                    .name("portmap-conn".to_owned())
                    .spawn(move || serve(stream, &shared));
            }
            // Nothing to accept yet (or out of descriptors): do not spin.
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Serves one connection: record-marked calls in, replies out, until EOF or garbage.
fn serve(mut stream: impl Connection, shared: &Shared) {
    if stream.prepare().is_err() {
        return;
    }
    while let Ok(Some(call)) = read_record(&mut stream) {
        let Some(reply) = answer(&call, &mut shared.state()) else {
            return;
        };
        if stream.write_all(&frame(&reply)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xdr_string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
        out.resize(out.len() + (4 - s.len() % 4) % 4, 0);
    }

    /// A portmapper call header with AUTH_SYS-like credentials, as libntirpc sends them.
    fn header(xid: u32, version: u32, procedure: u32) -> Vec<u8> {
        let mut m = Vec::new();
        for v in [xid, rpc::CALL, 2, rpc::RPCBPROG, version, procedure, 1] {
            m.extend_from_slice(&u32::to_be_bytes(v));
        }
        m.extend_from_slice(&8u32.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
        m.extend_from_slice(&[0; 8]); // AUTH_NONE verifier
        m
    }

    /// An rpcbind v4 call (SET, UNSET, GETADDR) as ganesha makes it.
    fn rpcb_call(
        xid: u32,
        procedure: u32,
        prog: u32,
        vers: u32,
        netid: &str,
        addr: &str,
    ) -> Vec<u8> {
        let mut m = header(xid, 4, procedure);
        m.extend_from_slice(&prog.to_be_bytes());
        m.extend_from_slice(&vers.to_be_bytes());
        xdr_string(&mut m, netid);
        xdr_string(&mut m, addr);
        xdr_string(&mut m, "0");
        m
    }

    /// A portmap v2 GETPORT as klibc's nfsmount makes it: AUTH_NONE credentials.
    fn getport(xid: u32, prog: u32, vers: u32, protocol: u32) -> Vec<u8> {
        let words = [
            xid,
            rpc::CALL,
            2,
            rpc::RPCBPROG,
            2,
            rpc::PROC_GETPORT,
            0,
            0,
            0,
            0,
            prog,
            vers,
            protocol,
            0,
        ];
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    fn words(reply: &[u8]) -> Vec<u32> {
        reply
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().expect("whole words")))
            .collect()
    }

    #[test]
    fn stand_in_says_yes_to_set_and_unset_and_keeps_the_table() {
        let mut state = State::default();
        let set = rpcb_call(7, rpc::PROC_SET, 100_003, 3, "tcp", "127.0.0.1.8.1");
        // xid, REPLY, accepted, AUTH_NONE verifier, SUCCESS, TRUE
        assert_eq!(
            words(&answer(&set, &mut state).expect("reply")),
            [7, 1, 0, 0, 0, 0, 1]
        );
        let set6 = rpcb_call(8, rpc::PROC_SET, 100_003, 3, "tcp6", "::ffff:127.0.0.1.8.1");
        answer(&set6, &mut state).expect("reply");
        let table = &state.registrations;
        assert_eq!(table.len(), 2);
        assert_eq!(table[0].port(), Some(2049));
        assert_eq!(table[1].port(), Some(2049));

        // UNSET with an empty netid drops the program version everywhere.
        let unset = rpcb_call(9, rpc::PROC_UNSET, 100_003, 3, "", "");
        assert_eq!(
            words(&answer(&unset, &mut state).expect("reply")),
            [9, 1, 0, 0, 0, 0, 1]
        );
        assert!(state.registrations.is_empty());

        // GETADDR is not served; other programs are refused; garbage closes the connection.
        let getaddr = rpcb_call(10, 3, 100_003, 3, "tcp", "");
        assert_eq!(
            words(&answer(&getaddr, &mut state).expect("reply")),
            [10, 1, 0, 0, 0, rpc::PROC_UNAVAIL]
        );
        let mut other = rpcb_call(11, rpc::PROC_NULL, 0, 0, "", "");
        other[12..16].copy_from_slice(&100_003u32.to_be_bytes());
        assert_eq!(
            words(&answer(&other, &mut state).expect("reply")),
            [11, 1, 0, 0, 0, rpc::PROG_UNAVAIL]
        );
        assert_eq!(answer(&[0, 0, 0, 1], &mut state), None);
        assert_eq!(answer(&set[..30], &mut state), None);
    }

    #[test]
    fn getport_answers_what_ganesha_registered_and_keeps_the_queries() {
        let mut state = State::default();
        // What ganesha registers: NFS and MOUNT v3 on TCP (and tcp6, which v2 cannot name).
        for (xid, prog, netid, addr) in [
            (1, 100_003, "tcp", "127.0.0.1.8.1"),
            (2, 100_005, "tcp", "127.0.0.1.78.80"),
            (3, 100_005, "tcp6", "::1.1.1"),
        ] {
            answer(
                &rpcb_call(xid, rpc::PROC_SET, prog, 3, netid, addr),
                &mut state,
            )
            .expect("reply");
        }
        // What klibc's nfsmount asks: MOUNT and NFS v3 over TCP.
        let reply = answer(&getport(7, 100_005, 3, rpc::IPPROTO_TCP), &mut state).expect("reply");
        // xid, REPLY, accepted, AUTH_NONE verifier, SUCCESS, port
        assert_eq!(words(&reply), [7, 1, 0, 0, 0, 0, 20048]);
        let reply = answer(&getport(8, 100_003, 3, rpc::IPPROTO_TCP), &mut state).expect("reply");
        assert_eq!(words(&reply), [8, 1, 0, 0, 0, 0, 2049]);
        // Not registered: port 0, as rpcbind answers (UDP, another version, another program).
        for (xid, prog, vers, proto) in [
            (9, 100_005, 3, rpc::IPPROTO_UDP),
            (10, 100_005, 1, rpc::IPPROTO_TCP),
            (11, 100_021, 4, rpc::IPPROTO_TCP),
        ] {
            let reply = answer(&getport(xid, prog, vers, proto), &mut state).expect("reply");
            assert_eq!(words(&reply), [xid, 1, 0, 0, 0, 0, 0]);
        }
        assert_eq!(
            state
                .queries
                .iter()
                .map(Query::to_string)
                .collect::<Vec<_>>(),
            [
                "GETPORT program 100005 version 3 protocol 6 -> 20048",
                "GETPORT program 100003 version 3 protocol 6 -> 2049",
                "GETPORT program 100005 version 3 protocol 17 -> 0",
                "GETPORT program 100005 version 1 protocol 6 -> 0",
                "GETPORT program 100021 version 4 protocol 6 -> 0",
            ]
        );
        // A v2 SET names the transport by protocol number; GETPORT finds it.
        let mut set = header(12, 2, rpc::PROC_SET);
        for w in [100_021, 4, rpc::IPPROTO_UDP, 4045] {
            set.extend_from_slice(&u32::to_be_bytes(w));
        }
        answer(&set, &mut state).expect("reply");
        let reply = answer(&getport(13, 100_021, 4, rpc::IPPROTO_UDP), &mut state).expect("reply");
        assert_eq!(words(&reply), [13, 1, 0, 0, 0, 0, 4045]);
        // A truncated GETPORT is garbage arguments, not a dropped connection.
        let short = getport(14, 100_005, 3, rpc::IPPROTO_TCP);
        let reply = answer(&short[..short.len() - 8], &mut state).expect("reply");
        assert_eq!(words(&reply), [14, 1, 0, 0, 0, rpc::GARBAGE_ARGS]);
    }

    #[test]
    fn records_are_reassembled_from_fragments() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&2u32.to_be_bytes());
        wire.extend_from_slice(b"ab");
        wire.extend_from_slice(&(rpc::LAST_FRAGMENT | 1).to_be_bytes());
        wire.extend_from_slice(b"c");
        let mut reader = wire.as_slice();
        assert_eq!(
            read_record(&mut reader).expect("reads"),
            Some(b"abc".to_vec())
        );
        assert_eq!(read_record(&mut reader).expect("clean EOF"), None);
        let mark = (rpc::LAST_FRAGMENT | (MAX_RECORD as u32 + 1)).to_be_bytes();
        let mut huge = mark.as_slice();
        assert!(read_record(&mut huge).is_err());
        assert_eq!(frame(b"xyz"), [0x80, 0, 0, 3, b'x', b'y', b'z']);
    }

    #[test]
    fn serves_registrations_on_a_unix_socket_and_getport_over_tcp_and_udp() {
        let dir = std::env::temp_dir().join(format!("testbed-portmap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let socket = dir.join("rpcbind.sock");
        let mut pm = Portmapper::new();
        pm.listen_unix(&socket).expect("unix listener");
        // Port 0: any free one; the test reads back which.
        let probe = TcpListener::bind("127.0.0.1:0").expect("probe");
        let port = probe.local_addr().expect("addr").port();
        drop(probe);
        pm.listen_inet(SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port))
            .expect("inet listeners");

        let mut unix = std::os::unix::net::UnixStream::connect(&socket).expect("connect unix");
        let set = rpcb_call(1, rpc::PROC_SET, 100_005, 3, "tcp", "127.0.0.1.78.80");
        unix.write_all(&frame(&set)).expect("send SET");
        let reply = read_record(&mut unix).expect("reply").expect("a record");
        assert_eq!(words(&reply), [1, 1, 0, 0, 0, 0, 1]);
        assert_eq!(pm.registrations().len(), 1);

        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect tcp");
        tcp.write_all(&frame(&getport(2, 100_005, 3, rpc::IPPROTO_TCP)))
            .expect("send GETPORT");
        let reply = read_record(&mut tcp).expect("reply").expect("a record");
        assert_eq!(words(&reply), [2, 1, 0, 0, 0, 0, 20048]);

        let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
        udp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        udp.send_to(
            &getport(3, 100_005, 3, rpc::IPPROTO_TCP),
            ("127.0.0.1", port),
        )
        .expect("send datagram");
        let mut buf = [0u8; 64];
        let n = udp.recv(&mut buf).expect("a datagram back");
        assert_eq!(words(&buf[..n]), [3, 1, 0, 0, 0, 0, 20048]);
        assert_eq!(pm.queries().len(), 2);

        pm.stop();
        assert!(!socket.exists(), "the socket is removed on stop");
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
