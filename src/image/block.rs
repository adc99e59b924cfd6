//! A root image on a block device (an attached NBD export), checked before anything mounts
//! it: its squashfs superblock, then, with a root hash, dm-verity over the device, the hash
//! tree found after the padded squashfs ([`super::verity`]), and the first block read
//! through it. From then on the kernel verifies every block as it is read: a corrupted one is
//! an I/O error for its reader and a kernel line, never wrong data.
//!
//! The root hash comes from the initramfs's pin or `diskless.verity=` (the pin wins, as for
//! image hashes). Without one the squashfs is mounted from the device as it comes, with a
//! loud warning, as an unpinned HTTP image is.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::error::ImageError;
use super::squashfs;
use super::trust::{self, RootHashSource};
use super::verity::{self, Table};
use crate::hex;
use crate::sys;

/// The device-mapper name of the verified root (`/dev/mapper/diskless-root` once the real
/// root's udev has run; `/dev/dm-<n>` before).
pub const DM_NAME: &str = "diskless-root";

/// What the root's squashfs is mounted from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRoot {
    /// The verity device, or the raw device when nothing is verified.
    pub device: PathBuf,
    /// The root hash the kernel checks every block against, and who gave it.
    pub verity: Option<(String, RootHashSource)>,
}

/// Checks the squashfs on `device` (of `size` bytes; `export` names it in messages) and, with
/// a root hash from the initramfs or `cmdline` (`diskless.verity=`), puts dm-verity over it.
pub fn prepare(
    device: &Path,
    size: u64,
    export: &str,
    cmdline: Option<[u8; 32]>,
) -> Result<BlockRoot, ImageError> {
    let pin = trust::load_pin(Path::new("/"), trust::VERITY_PIN).map_err(ImageError::Pin)?;
    let (expected, conflict) = trust::expected_root_hash(pin, cmdline);
    if let Some(conflict) = conflict {
        log::warn!("{conflict}");
    }
    let head = read_at(device, 0, squashfs::SUPERBLOCK_LEN)?;
    let superblock =
        squashfs::check_superblock(&head, size).map_err(|source| ImageError::NotSquashfs {
            url: export.to_owned(),
            source,
        })?;
    let Some((root_hash, by)) = expected else {
        log::warn!(
            "INSECURE: no dm-verity root hash (diskless.verity= or cargo xtask initrd \
             --verity-roothash): the blocks of {export} are not verified; whoever can answer \
             for the NBD server can change the root"
        );
        return Ok(BlockRoot {
            device: device.to_path_buf(),
            verity: None,
        });
    };
    let hash_hex = hex::encode(&root_hash);
    let refuse = |source: verity::VerityError| ImageError::Verity {
        export: export.to_owned(),
        source,
    };
    let offset = verity::hash_offset(superblock.bytes_used)
        .ok_or(refuse(verity::VerityError::TooLarge(superblock.bytes_used)))?;
    let sb_bytes = if offset.saturating_add(verity::SUPERBLOCK_LEN as u64) <= size {
        read_at(device, offset, verity::SUPERBLOCK_LEN)?
    } else {
        Vec::new()
    };
    let sb = match verity::parse_superblock(&sb_bytes, offset) {
        Err(verity::VerityError::TooShort { .. }) => {
            return Err(refuse(verity::VerityError::BadMagic { offset }));
        }
        other => other.map_err(refuse)?,
    };
    let table = Table::new(&device.to_string_lossy(), offset, &sb, root_hash);
    let target = sys::DmTarget {
        length: table.sectors(),
        target_type: "verity".to_owned(),
        params: table.params(),
    };
    let dm =
        sys::dm_create_read_only(DM_NAME, &target).map_err(|source| ImageError::VerityDevice {
            device: device.to_path_buf(),
            source,
        })?;
    // The first read through the verity device checks the whole path from the root hash down
    // to block 0: a wrong root hash fails here, before anything mounts.
    let verified = wait_for(&dm.path).and_then(|()| read_exact_at(&dm.path, 0, 4096));
    let head = match verified {
        Ok(head) => head,
        Err(err) => {
            let _ = sys::dm_remove(DM_NAME);
            return Err(ImageError::VerityMismatch {
                export: export.to_owned(),
                root_hash: hash_hex,
                by: by.describe(),
                source: err,
            });
        }
    };
    // What was read unverified before must be what the tree vouches for.
    let checked =
        squashfs::check_superblock(&head, offset).map_err(|source| ImageError::NotSquashfs {
            url: export.to_owned(),
            source,
        })?;
    if checked.bytes_used != superblock.bytes_used {
        return Err(refuse(verity::VerityError::DataBlocks {
            found: superblock.bytes_used,
            expected: checked.bytes_used,
        }));
    }
    log::info!(
        "dm-verity: {} over {} ({} data blocks, hash tree at byte {offset}), root hash \
         {hash_hex} ({}); every block is verified as it is read",
        dm.path.display(),
        device.display(),
        sb.data_blocks,
        by.describe()
    );
    Ok(BlockRoot {
        device: dm.path,
        verity: Some((hash_hex, by)),
    })
}

fn read_at(device: &Path, offset: u64, len: usize) -> Result<Vec<u8>, ImageError> {
    read_exact_at(device, offset, len).map_err(|source| ImageError::ReadImage {
        path: device.to_path_buf(),
        source,
    })
}

fn read_exact_at(device: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut file = File::open(device)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// devtmpfs adds the node of a new device-mapper device from a kernel thread: wait briefly.
fn wait_for(path: &Path) -> io::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !path.exists() {
        if std::time::Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} did not appear", path.display()),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}
