//! An AF_PACKET datagram socket on one interface for IPv4: the DHCP client's only contact
//! with the kernel. It receives replies before the interface has an address (an AF_INET
//! socket would not see them) and sends our own IPv4/UDP packets to the broadcast MAC.
//!
//! rustix makes the calls; the one unsafe item is the `sockaddr_ll` we hand it.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::net::addr::{SocketAddrArg, SocketAddrLen, SocketAddrOpaque};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// `ETH_P_IP`, in the network byte order `sockaddr_ll` wants.
const ETH_P_IP_BE: u16 = (nix::libc::ETH_P_IP as u16).to_be();

/// A `struct sockaddr_ll` (packet(7)): which interface, which EtherType, and for sending, the
/// destination hardware address.
struct LinkAddr(nix::libc::sockaddr_ll);

impl LinkAddr {
    fn new(ifindex: u32, dest: Option<[u8; 6]>) -> io::Result<LinkAddr> {
        let index =
            i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut sll_addr = [0u8; 8];
        let mut sll_halen = 0;
        if let Some(mac) = dest {
            sll_addr[..6].copy_from_slice(&mac);
            sll_halen = 6;
        }
        Ok(LinkAddr(nix::libc::sockaddr_ll {
            sll_family: nix::libc::AF_PACKET as u16,
            sll_protocol: ETH_P_IP_BE,
            sll_ifindex: index,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen,
            sll_addr,
        }))
    }
}

// SAFETY: `with_sockaddr` passes a pointer to `self.0`, a fully initialised `sockaddr_ll`
// (AF_PACKET, the layout the kernel expects for this family), with exactly its size; `self`
// is borrowed for the whole call, so the pointer stays valid while `f` runs.
unsafe impl SocketAddrArg for LinkAddr {
    unsafe fn with_sockaddr<R>(
        &self,
        f: impl FnOnce(*const SocketAddrOpaque, SocketAddrLen) -> R,
    ) -> R {
        let len = std::mem::size_of::<nix::libc::sockaddr_ll>() as SocketAddrLen;
        f((&raw const self.0).cast(), len)
    }
}

/// A packet socket bound to one interface for IPv4 frames.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketSocket {
    /// Opens and binds the socket; `ifindex` 0 means "look `iface` up".
    pub fn open(iface: &str, ifindex: u32) -> io::Result<PacketSocket> {
        // Protocol 0 at creation: the socket receives nothing until it is bound to our
        // interface, so no frame from another interface can queue up in between.
        let fd = rustix::net::socket_with(
            AddressFamily::PACKET,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            None,
        )?;
        let ifindex = match ifindex {
            0 => rustix::net::netdevice::name_to_index(&fd, iface)?,
            given => given,
        };
        rustix::net::bind(&fd, &LinkAddr::new(ifindex, None)?)?;
        Ok(PacketSocket { fd, ifindex })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends an IPv4 packet to ff:ff:ff:ff:ff:ff; the kernel adds the Ethernet header.
    pub fn send_broadcast(&self, packet: &[u8]) -> io::Result<()> {
        let dest = LinkAddr::new(self.ifindex, Some([0xff; 6]))?;
        let sent = rustix::net::sendto(&self.fd, packet, SendFlags::empty(), &dest)?;
        if sent != packet.len() {
            return Err(io::Error::other(format!(
                "sent {sent} of {} bytes",
                packet.len()
            )));
        }
        Ok(())
    }

    /// Waits up to `timeout` for one IPv4 packet; `Ok(None)` when none came (or a signal
    /// interrupted the wait: the caller's loop checks its clock either way).
    pub fn receive(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        // A zero SO_RCVTIMEO means "wait for ever": never ask for less than 1 ms.
        let timeout = timeout.max(Duration::from_millis(1));
        rustix::net::sockopt::set_socket_timeout(
            &self.fd,
            rustix::net::sockopt::Timeout::Recv,
            Some(timeout),
        )?;
        match rustix::net::recv(&self.fd, buf, RecvFlags::empty()) {
            Ok((len, _)) => Ok(Some(len)),
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => Ok(None),
            Err(errno) => Err(errno.into()),
        }
    }
}
