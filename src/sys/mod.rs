//! The one module that talks to the kernel. Everything above it is plain data and logic; each
//! function here is a single privileged operation with the path or value in its error.
//!
//! rustix and sys-mount carry the safe wrappers; nix covers module loading. The few ioctls
//! that no crate wraps for us (loop devices, device-mapper, interface addresses, routes) are
//! raw, each with its SAFETY comment; the nbd driver's generic netlink messages are written
//! by hand (`nbd`).

mod beneath;
mod devmapper;
mod loopdev;
mod memory;
mod nbd;
mod netdev;
mod packet;
mod resolve;
#[cfg(test)]
pub mod testing;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use sys_mount::{Mount, MountFlags};

pub use beneath::{Attributes, Beneath};
pub use devmapper::{DmDevice, DmTarget, dm_create_read_only, dm_remove};
pub use loopdev::{LoopDevice, attach_loop_read_only};
pub use memory::peak_rss_kib;
pub use nbd::{NbdDevice, nbd_connect};
pub use netdev::{
    add_default_route, add_route, interface_up, rename_interface, set_ipv4_address, set_mtu,
};
pub use packet::PacketSocket;
pub use resolve::resolve_ipv4;

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

/// `mount --bind` from what `source` holds onto what `target` holds (descriptors from
/// [`Beneath::open_path`] and [`Beneath::mount_point`]): nothing is resolved again, so a
/// link planted since cannot move the mount (open_tree and move_mount, Linux 5.2).
pub fn bind_mount_held(source: impl AsFd, target: impl AsFd) -> io::Result<()> {
    use rustix::mount::{MoveMountFlags, OpenTreeFlags};
    let tree = rustix::mount::open_tree(
        source,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )?;
    rustix::mount::move_mount(
        &tree,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )?;
    Ok(())
}

/// `mount --move` of the mount at `source` onto what `target` holds (a descriptor from
/// [`Beneath::mount_point`]): the mount and everything mounted below it change place.
pub fn move_mount_held(source: &Path, target: impl AsFd) -> io::Result<()> {
    rustix::mount::move_mount(
        rustix::fs::CWD,
        source,
        target,
        "",
        rustix::mount::MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )?;
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

/// The CPU time the calling thread has used: a step's wall time minus this is waiting.
pub fn thread_cpu_time() -> std::time::Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    std::time::Duration::new(
        u64::try_from(now.tv_sec).unwrap_or_default(),
        u32::try_from(now.tv_nsec).unwrap_or_default(),
    )
}

/// Lowers the calling thread's priority to the lowest (nice 19). Linux applies
/// `setpriority(PRIO_PROCESS, 0)` to the calling thread only, not the whole process.
pub fn lower_this_threads_priority() -> io::Result<()> {
    rustix::process::setpriority_process(None, 19).map_err(io::Error::from)
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

/// Eight random bytes that never wait for the kernel's entropy pool (`GRND_INSECURE`, Linux
/// 5.6+): early in boot, before the pool is ready, /dev/urandom and a plain getrandom(2)
/// stall for seconds (the kernel generates jitter entropy first).
pub fn random_u64_now() -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::INSECURE)?;
    Ok(u64::from_ne_bytes(bytes))
}

/// Sets the wall clock (CLOCK_REALTIME) to `since_epoch`.
pub fn set_clock(since_epoch: std::time::Duration) -> io::Result<()> {
    let secs = i64::try_from(since_epoch.as_secs())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "time out of range"))?;
    let time = rustix::time::Timespec {
        tv_sec: secs,
        tv_nsec: since_epoch.subsec_nanos().into(),
    };
    rustix::time::clock_settime(rustix::time::ClockId::Realtime, time).map_err(io::Error::from)
}

pub fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// What [`power`] does to the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Reboot,
    PowerOff,
    Halt,
}

/// Flushes and reboots, powers off or halts; returns only if the kernel refused. Only PID 1
/// may: anywhere else (a test, the modprobe helper) it refuses, so a bug cannot reboot a
/// build machine.
pub fn power(action: PowerAction) -> io::Error {
    if std::process::id() != 1 {
        return io::Error::new(
            io::ErrorKind::PermissionDenied,
            "only PID 1 powers the machine off",
        );
    }
    rustix::fs::sync();
    let command = match action {
        PowerAction::Reboot => rustix::system::RebootCommand::Restart,
        PowerAction::PowerOff => rustix::system::RebootCommand::PowerOff,
        PowerAction::Halt => rustix::system::RebootCommand::Halt,
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

/// Free bytes of the file system holding `dir`: the RAM an image in /run's tmpfs may take.
pub fn free_bytes(dir: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Writes a whole small file (sysctl, sysfs), creating nothing.
pub fn write_existing(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(contents)
}
