//! Loop devices: the verified image attached read-only with one `LOOP_CONFIGURE`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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

// <linux/loop.h> uses fixed-width types only: the same layout on every architecture.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<LoopInfo64>() == 232);
    assert!(offset_of!(LoopInfo64, lo_flags) == 52);
    assert!(offset_of!(LoopInfo64, lo_file_name) == 56);
    assert!(size_of::<LoopConfig>() == 304);
    assert!(offset_of!(LoopConfig, info) == 8);
};

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
    // For people reading `losetup`: the name, cut to fit with its NUL.
    let mut file_name = [0u8; 64];
    for (byte, from) in file_name
        .iter_mut()
        .take(63)
        .zip(file.as_os_str().as_bytes())
    {
        *byte = *from;
    }
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
