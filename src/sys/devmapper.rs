//! Device-mapper devices through /dev/mapper/control's ioctls (<linux/dm-ioctl.h>): create,
//! load one read-only target, resume. What `dmsetup create --readonly` does, in three calls,
//! without libdevmapper (and without udev: the node is devtmpfs's `/dev/dm-<minor>`).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// `sizeof(struct dm_ioctl)`; the target specs follow it, 8-byte aligned.
const DM_IOCTL_LEN: usize = 312;
/// `sizeof(struct dm_target_spec)`.
const DM_TARGET_SPEC_LEN: usize = 40;
const DM_NAME_LEN: usize = 128;
const DM_MAX_TYPE_NAME: usize = 16;

const DM_DEV_CREATE: u8 = 3;
const DM_DEV_REMOVE: u8 = 4;
const DM_DEV_SUSPEND: u8 = 6;
const DM_TABLE_LOAD: u8 = 9;
const DM_READONLY_FLAG: u32 = 1 << 0;

/// `_IOWR(0xfd, nr, struct dm_ioctl)`.
const fn dm_ioctl_number(nr: u8) -> nix::libc::c_ulong {
    (3 << 30)
        | ((DM_IOCTL_LEN as nix::libc::c_ulong) << 16)
        | (0xfd << 8)
        | nr as nix::libc::c_ulong
}

/// One target of a table: `length` sectors of `target_type` with its parameter line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmTarget {
    pub length: u64,
    pub target_type: String,
    pub params: String,
}

/// A device-mapper device made by [`dm_create_read_only`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmDevice {
    pub name: String,
    /// `/dev/dm-<minor>`.
    pub path: PathBuf,
}

/// Copies `bytes` into `buf` at `at` (the callers size `buf` to hold them).
fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// The `struct dm_ioctl` header: version 4.0.0 (the kernel answers with its own), the
/// buffer's size, the device's name, flags; `payload` after it.
fn dm_buffer(name: &str, flags: u32, target_count: u32, payload: &[u8]) -> io::Result<Vec<u8>> {
    if name.is_empty() || name.len() >= DM_NAME_LEN || name.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("device-mapper name {name:?}"),
        ));
    }
    let mut buf = vec![0u8; DM_IOCTL_LEN + payload.len()];
    let size =
        u32::try_from(buf.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    put(&mut buf, 0, &4u32.to_ne_bytes());
    put(&mut buf, 12, &size.to_ne_bytes()); // data_size
    put(&mut buf, 16, &(DM_IOCTL_LEN as u32).to_ne_bytes()); // data_start
    put(&mut buf, 20, &target_count.to_ne_bytes());
    put(&mut buf, 28, &flags.to_ne_bytes());
    put(&mut buf, 48, name.as_bytes());
    put(&mut buf, DM_IOCTL_LEN, payload);
    Ok(buf)
}

/// One `struct dm_target_spec` from sector 0, its parameters NUL-terminated and padded to 8.
fn target_spec(target: &DmTarget) -> io::Result<Vec<u8>> {
    if target.target_type.len() >= DM_MAX_TYPE_NAME || target.params.contains('\0') {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let mut spec = vec![0u8; DM_TARGET_SPEC_LEN];
    put(&mut spec, 8, &target.length.to_ne_bytes());
    put(&mut spec, 24, target.target_type.as_bytes());
    spec.extend_from_slice(target.params.as_bytes());
    spec.push(0);
    while spec.len() % 8 != 0 {
        spec.push(0);
    }
    let next =
        u32::try_from(spec.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    put(&mut spec, 20, &next.to_ne_bytes());
    Ok(spec)
}

fn dm_ioctl(control: &File, nr: u8, buf: &mut [u8]) -> io::Result<()> {
    // SAFETY: `buf` is a whole `struct dm_ioctl` (and its payload) whose data_size is the
    // buffer's length: the kernel reads and writes within it only.
    let ret = unsafe {
        nix::libc::ioctl(
            control.as_raw_fd(),
            dm_ioctl_number(nr) as _,
            buf.as_mut_ptr(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Creates the device `name` with one read-only `target` and resumes it; on any failure the
/// half-made device is removed again.
pub fn dm_create_read_only(name: &str, target: &DmTarget) -> io::Result<DmDevice> {
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_CLOEXEC)
        .open("/dev/mapper/control")?;
    let mut create = dm_buffer(name, 0, 0, &[])?;
    dm_ioctl(&control, DM_DEV_CREATE, &mut create)?;
    let mut dev = [0u8; 8];
    dev.copy_from_slice(create.get(40..48).unwrap_or(&[0; 8]));
    let minor = nix::libc::minor(u64::from_ne_bytes(dev));
    let loaded = target_spec(target)
        .and_then(|spec| dm_buffer(name, DM_READONLY_FLAG, 1, &spec))
        .and_then(|mut load| dm_ioctl(&control, DM_TABLE_LOAD, &mut load))
        .and_then(|()| dm_buffer(name, 0, 0, &[]))
        .and_then(|mut resume| dm_ioctl(&control, DM_DEV_SUSPEND, &mut resume));
    if let Err(err) = loaded {
        let _ = dm_buffer(name, 0, 0, &[])
            .and_then(|mut remove| dm_ioctl(&control, DM_DEV_REMOVE, &mut remove));
        return Err(err);
    }
    Ok(DmDevice {
        name: name.to_owned(),
        path: PathBuf::from(format!("/dev/dm-{minor}")),
    })
}

/// Removes the device `name` (a verity device whose first read failed).
pub fn dm_remove(name: &str) -> io::Result<()> {
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_CLOEXEC)
        .open("/dev/mapper/control")?;
    let mut remove = dm_buffer(name, 0, 0, &[])?;
    dm_ioctl(&control, DM_DEV_REMOVE, &mut remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_are_the_headers() {
        // DM_DEV_CREATE and DM_TABLE_LOAD as <linux/dm-ioctl.h> makes them on every
        // architecture (struct dm_ioctl has one layout).
        assert_eq!(dm_ioctl_number(DM_DEV_CREATE), 0xc138_fd03);
        assert_eq!(dm_ioctl_number(DM_TABLE_LOAD), 0xc138_fd09);
        assert_eq!(dm_ioctl_number(DM_DEV_SUSPEND), 0xc138_fd06);
    }

    #[test]
    fn a_table_load_buffer() {
        let target = DmTarget {
            length: 2048,
            target_type: "verity".to_owned(),
            params: "1 /dev/nbd0 /dev/nbd0 4096 4096 256 257 sha256 ab -".to_owned(),
        };
        let spec = target_spec(&target).expect("spec");
        assert_eq!(spec.len() % 8, 0);
        assert_eq!(&spec[..8], &[0; 8]);
        assert_eq!(&spec[8..16], &2048u64.to_ne_bytes());
        assert_eq!(&spec[20..24], &(spec.len() as u32).to_ne_bytes());
        assert_eq!(&spec[24..31], b"verity\0");
        assert_eq!(&spec[40..41], b"1");
        assert!(spec[40..].ends_with(b" -\0") || spec[40..].contains(&0));
        let buf = dm_buffer("diskless-root", DM_READONLY_FLAG, 1, &spec).expect("buffer");
        assert_eq!(&buf[..12], &[4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&buf[12..16], &(buf.len() as u32).to_ne_bytes());
        assert_eq!(&buf[16..20], &312u32.to_ne_bytes());
        assert_eq!(&buf[20..24], &1u32.to_ne_bytes());
        assert_eq!(&buf[28..32], &DM_READONLY_FLAG.to_ne_bytes());
        assert_eq!(&buf[48..62], b"diskless-root\0");
        assert_eq!(&buf[312..], &spec[..]);
        for bad in ["", "a/b", &"x".repeat(128)] {
            assert!(dm_buffer(bad, 0, 0, &[]).is_err(), "{bad:?}");
        }
    }
}
