//! The one module that talks to the kernel. Everything above it is plain data and logic; each
//! function here is a single privileged operation with the path or value in its error.
//!
//! rustix and sys-mount carry the safe wrappers; nix covers module loading. The few ioctls
//! that no crate wraps for us (loop devices, interface addresses, routes) are raw, each with
//! its SAFETY comment.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sys_mount::{Mount, MountFlags};

use crate::config::EmergencyAction;

/// Flags for [`mount`]: the few the boot uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountOptions {
    pub read_only: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

impl MountOptions {
    fn flags(self) -> MountFlags {
        let mut flags = MountFlags::empty();
        flags.set(MountFlags::RDONLY, self.read_only);
        flags.set(MountFlags::NOSUID, self.nosuid);
        flags.set(MountFlags::NODEV, self.nodev);
        flags.set(MountFlags::NOEXEC, self.noexec);
        flags
    }
}

/// mount(2) of a file system of `fstype` (never guessed) with its option string.
pub fn mount(
    source: &str,
    target: &Path,
    fstype: &str,
    options: MountOptions,
    data: &str,
) -> io::Result<()> {
    let mut builder = Mount::builder().fstype(fstype).flags(options.flags());
    if !data.is_empty() {
        builder = builder.data(data);
    }
    builder.mount(source, target).map(drop)
}

/// `mount --bind` (read-only when asked: a second remount is how the kernel does that).
pub fn bind_mount(source: &Path, target: &Path, read_only: bool) -> io::Result<()> {
    rustix::mount::mount_bind(source, target)?;
    if read_only {
        rustix::mount::mount_remount(
            target,
            rustix::mount::MountFlags::BIND | rustix::mount::MountFlags::RDONLY,
            "",
        )?;
    }
    Ok(())
}

/// `mount --move`: the mount and everything mounted below it change place.
pub fn move_mount(source: &Path, target: &Path) -> io::Result<()> {
    rustix::mount::mount_move(source, target).map_err(io::Error::from)
}

pub fn unmount(target: &Path) -> io::Result<()> {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty()).map_err(io::Error::from)
}

/// Whether `path` is the initramfs itself (rootfs is a ramfs or tmpfs). switch_root deletes
/// files only after this check, so a mistake can never wipe a real file system.
pub fn is_initramfs_root(path: &Path) -> io::Result<bool> {
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let stat = rustix::fs::statfs(path)?;
    let kind = stat.f_type;
    Ok(kind == RAMFS_MAGIC || kind == TMPFS_MAGIC)
}

/// The device a path lives on: deleting the initramfs must not cross into other mounts.
pub fn device_of(path: &Path) -> io::Result<u64> {
    let stat = rustix::fs::lstat(path)?;
    Ok(stat.st_dev)
}

/// `chroot .` after the new root was moved onto `/`.
pub fn chroot_here() -> io::Result<()> {
    rustix::process::chroot(".")?;
    std::env::set_current_dir("/")
}

/// Loads one kernel module from a file. A module that is already loaded is not an error.
pub fn load_module(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    match nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty()) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(errno) => Err(io::Error::from(errno)),
    }
}

pub fn set_hostname(name: &str) -> io::Result<()> {
    rustix::system::sethostname(name.as_bytes()).map_err(io::Error::from)
}

pub fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// Flushes and reboots, powers off or halts; returns only if the kernel refused.
pub fn power(action: EmergencyAction) -> io::Error {
    rustix::fs::sync();
    let command = match action {
        EmergencyAction::Reboot => rustix::system::RebootCommand::Restart,
        EmergencyAction::Poweroff => rustix::system::RebootCommand::PowerOff,
        EmergencyAction::Halt => rustix::system::RebootCommand::Halt,
    };
    match rustix::system::reboot(command) {
        Ok(()) => io::Error::other("reboot(2) returned"),
        Err(errno) => io::Error::from(errno),
    }
}

/// Replaces this process with `program` (argv[0] = program), keeping the environment the
/// kernel gave us. Returns only on failure.
pub fn exec(program: &Path, args: &[std::ffi::OsString]) -> io::Error {
    use std::os::unix::process::CommandExt;
    std::process::Command::new(program).args(args).exec()
}

// ---- network interfaces ----------------------------------------------------------------

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

impl IfReq {
    fn new(iface: &str) -> io::Result<IfReq> {
        let bytes = iface.as_bytes();
        if bytes.is_empty() || bytes.len() > 15 || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {iface:?}"),
            ));
        }
        let mut name = [0u8; 16];
        name[..bytes.len()].copy_from_slice(bytes);
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
    add_route(iface, Ipv4Addr::UNSPECIFIED, 0, Some(gateway))
}

/// Adds a route to `dest/prefix_len` via `gateway` (on-link when `None`) on `iface`.
pub fn add_route(
    iface: &str,
    dest: Ipv4Addr,
    prefix_len: u8,
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
    if prefix_len == 32 {
        flags |= RTF_HOST;
    }
    let mask = crate::ip::prefix_to_netmask(prefix_len);
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

// ---- loop devices ------------------------------------------------------------------------

const LOOP_CTL_GET_FREE: nix::libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: nix::libc::c_ulong = 0x4C0A;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// `struct loop_info64` from <linux/loop.h>.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

/// `struct loop_config` (Linux 5.8+): one ioctl binds the file and sets the flags, so there
/// is no window in which the device is writable.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// A configured loop device. With autoclear the kernel detaches it when the last opener
/// closes it, so this handle must stay open until the file system on it is mounted.
#[derive(Debug)]
pub struct LoopDevice {
    pub path: PathBuf,
    _open: File,
}

/// Attaches `file` read-only to a free loop device. The device detaches itself once its last
/// user (the squashfs mount, after this handle is dropped) is gone.
pub fn attach_loop_read_only(file: &Path) -> io::Result<LoopDevice> {
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_CLOEXEC)
        .open("/dev/loop-control")?;
    // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number or -1.
    let number = unsafe { nix::libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
    if number < 0 {
        return Err(io::Error::last_os_error());
    }
    let device = PathBuf::from(format!("/dev/loop{number}"));
    let backing = File::open(file)?;
    let loop_dev = open_when_present(&device)?;
    let mut file_name = [0u8; 64];
    let name = file.as_os_str().as_bytes();
    let len = name.len().min(63);
    file_name[..len].copy_from_slice(&name[..len]);
    let config = LoopConfig {
        fd: u32::try_from(backing.as_raw_fd())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        block_size: 0,
        info: LoopInfo64 {
            lo_device: 0,
            lo_inode: 0,
            lo_rdevice: 0,
            lo_offset: 0,
            lo_sizelimit: 0,
            lo_number: 0,
            lo_encrypt_type: 0,
            lo_encrypt_key_size: 0,
            lo_flags: LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR,
            lo_file_name: file_name,
            lo_crypt_name: [0; 64],
            lo_encrypt_key: [0; 32],
            lo_init: [0; 2],
        },
        reserved: [0; 8],
    };
    // SAFETY: `config` is a fully initialised `struct loop_config` that the kernel only reads;
    // `backing` stays open for the duration of the call (the kernel takes its own reference).
    let ret = unsafe {
        nix::libc::ioctl(
            loop_dev.as_raw_fd(),
            LOOP_CONFIGURE as _,
            &config as *const LoopConfig,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(LoopDevice {
        path: device,
        _open: loop_dev,
    })
}

/// devtmpfs creates a new loop node asynchronously after LOOP_CTL_GET_FREE: wait briefly.
fn open_when_present(device: &Path) -> io::Result<File> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_CLOEXEC)
            .open(device)
        {
            Err(err)
                if err.kind() == io::ErrorKind::NotFound
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Writes a whole small file (sysctl, sysfs), creating nothing.
pub fn write_existing(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(contents)
}

// ---- name resolution ----------------------------------------------------------------------

/// Looks `host` up for IPv4 only (the boot configures IPv4). Asking for A records alone
/// matters: with AF_UNSPEC, musl also asks for AAAA and fails the whole lookup when a server
/// refuses that half, as a dnsmasq without upstream servers does.
pub fn resolve_ipv4(host: &str) -> io::Result<Vec<Ipv4Addr>> {
    let c_host = CString::new(host)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in host name"))?;
    // SAFETY: an all-zero `addrinfo` is a valid "no hints" value; only the fields set below
    // are read by getaddrinfo.
    let mut hints: nix::libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = nix::libc::AF_INET;
    hints.ai_socktype = nix::libc::SOCK_STREAM;
    let mut list: *mut nix::libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `c_host` is NUL-terminated and outlives the call, `hints` is initialised, and
    // `list` receives a list we free below exactly once.
    let ret =
        unsafe { nix::libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut list) };
    if ret != 0 {
        // SAFETY: gai_strerror returns a pointer to a static NUL-terminated message.
        let message = unsafe { std::ffi::CStr::from_ptr(nix::libc::gai_strerror(ret)) };
        return Err(io::Error::other(format!(
            "{host}: {}",
            message.to_string_lossy()
        )));
    }
    let mut addrs = Vec::new();
    let mut node = list;
    while !node.is_null() {
        // SAFETY: `node` is an element of the list getaddrinfo returned, not yet freed.
        let info = unsafe { &*node };
        if info.ai_family == nix::libc::AF_INET && !info.ai_addr.is_null() {
            // SAFETY: for AF_INET entries `ai_addr` points at a `sockaddr_in`.
            let sin = unsafe { &*info.ai_addr.cast::<nix::libc::sockaddr_in>() };
            let addr = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        node = info.ai_next;
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed once.
    unsafe { nix::libc::freeaddrinfo(list) };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host}: no IPv4 address"),
        ));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_lookups_answer_for_numeric_hosts_and_fail_plainly() {
        assert_eq!(
            resolve_ipv4("127.0.0.1").expect("numeric"),
            [Ipv4Addr::LOCALHOST]
        );
        let err = resolve_ipv4("no-such-host.invalid").expect_err("invalid TLD");
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
    }
}
