//! Assembling the new root: a squashfs image in RAM loop-attached read-only, a squashfs on a
//! block device (an NBD export, under dm-verity), or an NFS export, with an overlay and a
//! tmpfs upper layer on top (the layout ORNL's Anchor boots its nodes with).
//!
//! The layout, all under /run so that it moves into the real root and stays inspectable:
//! `/run/diskless/root.squashfs` (the image), `/run/diskless/lower` (its mount),
//! `/run/diskless/rw/{upper,work}` (the tmpfs), and the overlay on [`NEW_ROOT`].

use std::path::{Path, PathBuf};

use super::error::RootError;
use super::nfs::NfsContext;
use super::volatile;
use crate::cmdline::nfs::{NfsShare, NfsVersion};
use crate::plan::{RootLayout, Writes};
use crate::rundir::{LOWER, NEW_ROOT};
use crate::sys::{self, MountOptions};

/// The overlay's tmpfs: its upper and work directories.
const RW: &str = "/run/diskless/rw";

/// Mounts the verified squashfs image as the new root as `layout` says: under a tmpfs
/// overlay, or read-only as it is with the volatile paths in RAM.
pub fn mount_image(image: &Path, layout: &RootLayout) -> Result<(), RootError> {
    let size = layout.ram_size.as_deref();
    if layout.overlay() {
        mount_squashfs(image, LOWER)?;
        return mount_overlay(size);
    }
    mount_squashfs(image, NEW_ROOT)?;
    volatile::mount_volatile(Path::new(NEW_ROOT), layout.volatile(), size)
}

/// Mounts the squashfs on the block `device` (a dm-verity device, or an NBD device as it
/// comes) as the new root as `layout` says, with `data` as the squashfs's mount options: the
/// same overlay or volatile paths as an image in RAM.
pub fn mount_block(device: &Path, data: &str, layout: &RootLayout) -> Result<(), RootError> {
    let size = layout.ram_size.as_deref();
    if layout.overlay() {
        mkdir(LOWER)?;
        mount_squashfs_device(device, LOWER, data)?;
        return mount_overlay(size);
    }
    mkdir(NEW_ROOT)?;
    mount_squashfs_device(device, NEW_ROOT, data)?;
    volatile::mount_volatile(Path::new(NEW_ROOT), layout.volatile(), size)
}

/// A tmpfs of `size` (else half of RAM) on [`NEW_ROOT`]: what an ordinary container
/// image's layers are unpacked into.
pub fn mount_tmpfs_root(size: Option<&str>) -> Result<(), RootError> {
    mkdir(NEW_ROOT)?;
    let size = overlay_size_option(size);
    sys::mount(
        "diskless-root",
        Path::new(NEW_ROOT),
        "tmpfs",
        MountOptions::default(),
        &format!("mode=0755,{size}"),
    )
    .map_err(|source| RootError::Mount {
        what: format!("mounting a tmpfs ({size}) for the image's layers on"),
        target: NEW_ROOT.into(),
        source,
    })
}

/// Mounts the NFS root `share` as `layout` says: read-only under a tmpfs overlay,
/// read-write, or read-only with the volatile paths in RAM.
pub fn mount_nfs(
    nfs: &NfsContext,
    share: &NfsShare,
    default: NfsVersion,
    layout: &RootLayout,
) -> Result<(), RootError> {
    let size = layout.ram_size.as_deref();
    match layout.writes {
        Writes::Overlay => {
            mkdir(LOWER)?;
            nfs.mount(share, default, Path::new(LOWER), true)?;
            mount_overlay(size)
        }
        Writes::ReadWrite => {
            mkdir(NEW_ROOT)?;
            nfs.mount(share, default, Path::new(NEW_ROOT), false)
        }
        Writes::ReadOnly { ref volatile } => {
            mkdir(NEW_ROOT)?;
            nfs.mount(share, default, Path::new(NEW_ROOT), true)?;
            volatile::mount_volatile(Path::new(NEW_ROOT), volatile, size)
        }
    }
}

/// The tmpfs size option for the overlay's upper layer: the admin's value, else half of RAM
/// (tmpfs only caps what writes may take; nothing is reserved up front).
fn overlay_size_option(configured: Option<&str>) -> String {
    format!("size={}", configured.unwrap_or("50%"))
}

fn mkdir(path: &str) -> Result<(), RootError> {
    std::fs::create_dir_all(path).map_err(|source| RootError::Mount {
        what: "creating".to_owned(),
        target: PathBuf::from(path),
        source,
    })
}

/// Loop-attaches the verified image read-only and mounts its squashfs on `target`.
fn mount_squashfs(image: &Path, target: &str) -> Result<(), RootError> {
    mkdir(target)?;
    let loop_device = sys::attach_loop_read_only(image).map_err(|source| RootError::Mount {
        what: "attaching a loop device to".to_owned(),
        target: image.to_path_buf(),
        source,
    })?;
    let device = &loop_device.path;
    log::info!(
        "attached {} read-only to {}",
        image.display(),
        device.display()
    );
    mount_squashfs_device(device, target, "")?;
    // The mount holds the device now; with autoclear it goes away when the mount does.
    drop(loop_device);
    Ok(())
}

/// Mounts the squashfs on `device` read-only on `target`, with `data` as its options.
fn mount_squashfs_device(device: &Path, target: &str, data: &str) -> Result<(), RootError> {
    let read_only = MountOptions {
        read_only: true,
        nodev: true,
        ..MountOptions::default()
    };
    sys::mount(
        &device.to_string_lossy(),
        Path::new(target),
        "squashfs",
        read_only,
        data,
    )
    .map_err(|source| RootError::Mount {
        what: format!("mounting squashfs from {} on", device.display()),
        target: target.into(),
        source,
    })
}

/// Puts a writable overlay with a tmpfs upper layer over the read-only root mounted at
/// [`LOWER`], on [`NEW_ROOT`].
fn mount_overlay(size: Option<&str>) -> Result<(), RootError> {
    for dir in [RW, NEW_ROOT] {
        mkdir(dir)?;
    }
    let size = overlay_size_option(size);
    sys::mount(
        "diskless-rw",
        Path::new(RW),
        "tmpfs",
        MountOptions::default(),
        &format!("mode=0755,{size}"),
    )
    .map_err(|source| RootError::Mount {
        what: format!("mounting the overlay's tmpfs ({size}) on"),
        target: RW.into(),
        source,
    })?;
    let upper = format!("{RW}/upper");
    let work = format!("{RW}/work");
    mkdir(&upper)?;
    mkdir(&work)?;
    let options = volatile::overlay_options(Path::new(LOWER), Path::new(&upper), Path::new(&work));
    sys::mount(
        "overlay",
        Path::new(NEW_ROOT),
        "overlay",
        MountOptions::default(),
        &options,
    )
    .map_err(|source| RootError::Mount {
        what: format!("mounting overlay ({options}) on"),
        target: NEW_ROOT.into(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_size_defaults_to_half_of_ram() {
        assert_eq!(overlay_size_option(None), "size=50%");
        assert_eq!(overlay_size_option(Some("2G")), "size=2G");
    }
}
