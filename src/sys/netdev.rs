//! Interface flags, addresses, MTU and routes through the classic ioctls (`SIOCSIF*`,
//! `SIOCADDRT`): no crate wraps them for us, and netlink would cost more code for the same.

use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

/// A socket to send interface ioctls through.
fn inet_socket() -> io::Result<OwnedFd> {
    rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(io::Error::from)
}

/// `struct ifreq` with the `ifr_addr` / `ifr_flags` / `ifr_mtu` union member, laid out as in
/// <linux/if.h>: a 16-byte name followed by a 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    data: [u8; 24],
}

// The kernel copies these structures by size and reads fields at fixed offsets: a layout
// mistake is silent memory corruption, so the layouts are checked when compiling, for both
// architectures the init ships for (LP64: x86_64 and aarch64 agree byte for byte).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<IfReq>() == 40);
    assert!(offset_of!(IfReq, data) == 16);
    assert!(size_of::<RtEntry>() == 120);
    assert!(offset_of!(RtEntry, rt_dst) == 8);
    assert!(offset_of!(RtEntry, rt_gateway) == 24);
    assert!(offset_of!(RtEntry, rt_genmask) == 40);
    assert!(offset_of!(RtEntry, rt_flags) == 56);
    assert!(offset_of!(RtEntry, rt_metric) == 80);
    assert!(offset_of!(RtEntry, rt_dev) == 88);
    assert!(offset_of!(RtEntry, rt_irtt) == 112);
};

impl IfReq {
    fn new(iface: &str) -> io::Result<IfReq> {
        let bytes = iface.as_bytes();
        if bytes.is_empty() || bytes.len() > 15 || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {iface:?}"),
            ));
        }
        // Checked above: at most 15 bytes, so the name keeps its NUL.
        let mut name = [0u8; 16];
        for (byte, from) in name.iter_mut().zip(bytes) {
            *byte = *from;
        }
        Ok(IfReq {
            name,
            data: [0; 24],
        })
    }

    fn with_ipv4(iface: &str, addr: Ipv4Addr) -> io::Result<IfReq> {
        let mut req = IfReq::new(iface)?;
        req.data[..16].copy_from_slice(&sockaddr_in(addr));
        Ok(req)
    }
}

/// A `struct sockaddr_in` as bytes: family AF_INET (native endian), port 0, address.
fn sockaddr_in(addr: Ipv4Addr) -> [u8; 16] {
    let mut raw = [0u8; 16];
    raw[..2].copy_from_slice(&(nix::libc::AF_INET as u16).to_ne_bytes());
    raw[4..8].copy_from_slice(&addr.octets());
    raw
}

fn ifreq_ioctl(request: nix::libc::c_ulong, req: &mut IfReq) -> io::Result<()> {
    let socket = inet_socket()?;
    // SAFETY: `req` is a live, exclusively borrowed `struct ifreq` (40 bytes, the size the
    // kernel copies for every SIOC[GS]IF* request used here), and the fd is an open socket.
    let ret = unsafe { nix::libc::ioctl(socket.as_raw_fd(), request as _, req as *mut IfReq) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sets IFF_UP on an interface (keeping its other flags).
pub fn interface_up(iface: &str) -> io::Result<()> {
    let mut req = IfReq::new(iface)?;
    ifreq_ioctl(nix::libc::SIOCGIFFLAGS, &mut req)?;
    let flags = i16::from_ne_bytes([req.data[0], req.data[1]]) | nix::libc::IFF_UP as i16;
    req.data[..2].copy_from_slice(&flags.to_ne_bytes());
    ifreq_ioctl(nix::libc::SIOCSIFFLAGS, &mut req)
}

/// Renames an interface (it must be down: the kernel refuses to rename one that is up).
pub fn rename_interface(old: &str, new: &str) -> io::Result<()> {
    let mut req = IfReq::new(old)?;
    // `ifr_newname`: the union's first 16 bytes, a NUL-terminated name checked like `old`.
    let new_name = IfReq::new(new)?.name;
    for (byte, from) in req.data.iter_mut().zip(new_name) {
        *byte = from;
    }
    ifreq_ioctl(nix::libc::SIOCSIFNAME, &mut req)
}

/// Gives an interface its IPv4 address and netmask.
pub fn set_ipv4_address(iface: &str, addr: Ipv4Addr, netmask: Ipv4Addr) -> io::Result<()> {
    ifreq_ioctl(nix::libc::SIOCSIFADDR, &mut IfReq::with_ipv4(iface, addr)?)?;
    ifreq_ioctl(
        nix::libc::SIOCSIFNETMASK,
        &mut IfReq::with_ipv4(iface, netmask)?,
    )
}

pub fn set_mtu(iface: &str, mtu: u16) -> io::Result<()> {
    let mut req = IfReq::new(iface)?;
    req.data[..4].copy_from_slice(&i32::from(mtu).to_ne_bytes());
    ifreq_ioctl(nix::libc::SIOCSIFMTU, &mut req)
}

/// `struct rtentry` from <linux/route.h> on 64-bit Linux.
#[repr(C)]
struct RtEntry {
    rt_pad1: nix::libc::c_ulong,
    rt_dst: [u8; 16],
    rt_gateway: [u8; 16],
    rt_genmask: [u8; 16],
    rt_flags: u16,
    rt_pad2: i16,
    rt_pad3: nix::libc::c_ulong,
    rt_pad4: *mut nix::libc::c_void,
    rt_metric: i16,
    rt_dev: *mut nix::libc::c_char,
    rt_mtu: nix::libc::c_ulong,
    rt_window: nix::libc::c_ulong,
    rt_irtt: u16,
}

/// Adds the default route via `gateway` on `iface`. An existing identical route is fine.
pub fn add_default_route(iface: &str, gateway: Ipv4Addr) -> io::Result<()> {
    add_route(
        iface,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Some(gateway),
    )
}

/// Adds a route to `dest/netmask` via `gateway` (on-link when `None`) on `iface`.
pub fn add_route(
    iface: &str,
    dest: Ipv4Addr,
    netmask: Ipv4Addr,
    gateway: Option<Ipv4Addr>,
) -> io::Result<()> {
    const RTF_UP: u16 = 0x0001;
    const RTF_GATEWAY: u16 = 0x0002;
    let mut dev = CString::new(iface)
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?
        .into_bytes_with_nul();
    const RTF_HOST: u16 = 0x0004;
    let mut flags = RTF_UP;
    if gateway.is_some() {
        flags |= RTF_GATEWAY;
    }
    if netmask == Ipv4Addr::BROADCAST {
        flags |= RTF_HOST;
    }
    let mask = netmask;
    let mut route = RtEntry {
        rt_pad1: 0,
        rt_dst: sockaddr_in(Ipv4Addr::from(u32::from(dest) & u32::from(mask))),
        rt_gateway: sockaddr_in(gateway.unwrap_or(Ipv4Addr::UNSPECIFIED)),
        rt_genmask: sockaddr_in(mask),
        rt_flags: flags,
        rt_pad2: 0,
        rt_pad3: 0,
        rt_pad4: std::ptr::null_mut(),
        rt_metric: 0,
        rt_dev: dev.as_mut_ptr().cast(),
        rt_mtu: 0,
        rt_window: 0,
        rt_irtt: 0,
    };
    let socket = inet_socket()?;
    // SAFETY: `route` is a fully initialised `struct rtentry` whose `rt_dev` points at `dev`,
    // a NUL-terminated buffer that outlives the call; the kernel only reads both.
    let ret = unsafe {
        nix::libc::ioctl(
            socket.as_raw_fd(),
            nix::libc::SIOCADDRT as _,
            &mut route as *mut RtEntry,
        )
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(nix::libc::EEXIST) {
            return Ok(());
        }
        return Err(err);
    }
    Ok(())
}
