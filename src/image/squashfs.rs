//! Validates a squashfs image before it is mounted: the superblock must be one the kernel's
//! squashfs driver accepts, and its sizes must agree with the file we fetched.
//!
//! The checks follow `squashfs_fill_super()` (fs/squashfs/super.c), so that a bad image is
//! reported with what is wrong instead of mount(2)'s bare EINVAL.

/// The fields of a squashfs 4.0 superblock we check (little-endian, 96 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    pub inodes: u32,
    pub block_size: u32,
    /// 1 gzip, 2 lzma, 3 lzo, 4 xz, 5 lz4, 6 zstd.
    pub compression: u16,
    pub bytes_used: u64,
}

/// Why a file is not a mountable squashfs; each message says what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SquashfsError {
    #[error("file is {len} bytes, too short for a squashfs superblock (96 bytes)")]
    TooShort { len: u64 },
    #[error("bad magic {found:#010x} (expected 0x73717368 \"hsqs\"): not a squashfs image")]
    BadMagic { found: u32 },
    #[error("squashfs version {major}.{minor}; the kernel mounts 4.0 only")]
    Version { major: u16, minor: u16 },
    #[error("block size {block_size} is not a power of two between 4 KiB and 1 MiB")]
    BlockSize { block_size: u32 },
    /// The superblock stores the block size twice; the kernel refuses a mismatch.
    #[error("block_log {block_log} does not match block size {block_size}")]
    BlockLog { block_size: u32, block_log: u16 },
    #[error("superblock says {bytes_used} bytes are used but the file has {file_len}: truncated")]
    Truncated { bytes_used: u64, file_len: u64 },
    #[error("unknown compression id {id}")]
    Compression { id: u16 },
    /// Known to squashfs-tools but never decompressed by the kernel (id 2, lzma).
    #[error("compression {name} (id {id}) is not supported by the kernel's squashfs driver")]
    UnsupportedCompression { id: u16, name: &'static str },
    /// A field the kernel checks for sanity has a value no valid image has.
    #[error("{field} {value} is impossible: {reason}")]
    Corrupt {
        field: &'static str,
        value: u64,
        reason: &'static str,
    },
}

const MAGIC: u32 = 0x7371_7368;
pub const SUPERBLOCK_LEN: usize = 96;
/// `SQUASHFS_METADATA_SIZE`: a metadata block's uncompressed size.
const METADATA_SIZE: u64 = 8192;

fn le_u16(head: &[u8], at: usize) -> u16 {
    let mut b = [0u8; 2];
    if let Some(src) = head.get(at..at + 2) {
        b.copy_from_slice(src);
    }
    u16::from_le_bytes(b)
}

fn le_u32(head: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = head.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    u32::from_le_bytes(b)
}

fn le_u64(head: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = head.get(at..at + 8) {
        b.copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

/// Checks the first bytes of an image (at least 96 given when the file has them) against the
/// file's total length.
pub fn check_superblock(head: &[u8], file_len: u64) -> Result<Superblock, SquashfsError> {
    if file_len < SUPERBLOCK_LEN as u64 {
        return Err(SquashfsError::TooShort { len: file_len });
    }
    if head.len() < SUPERBLOCK_LEN {
        return Err(SquashfsError::TooShort {
            len: head.len() as u64,
        });
    }
    let found = le_u32(head, 0);
    if found != MAGIC {
        return Err(SquashfsError::BadMagic { found });
    }
    let (major, minor) = (le_u16(head, 28), le_u16(head, 30));
    if (major, minor) != (4, 0) {
        return Err(SquashfsError::Version { major, minor });
    }
    let compression = le_u16(head, 20);
    match compression {
        1 | 3..=6 => {}
        2 => {
            return Err(SquashfsError::UnsupportedCompression {
                id: 2,
                name: "lzma",
            });
        }
        id => return Err(SquashfsError::Compression { id }),
    }
    let block_size = le_u32(head, 12);
    // 4 KiB: the page size the kernel needs at least (x86, most arm64); 1 MiB:
    // SQUASHFS_FILE_MAX_SIZE.
    if !block_size.is_power_of_two() || !(4096..=1 << 20).contains(&block_size) {
        return Err(SquashfsError::BlockSize { block_size });
    }
    let block_log = le_u16(head, 22);
    if u32::from(block_log) != block_size.trailing_zeros() {
        return Err(SquashfsError::BlockLog {
            block_size,
            block_log,
        });
    }
    let root_inode = le_u64(head, 32);
    // The low 16 bits are the offset inside an uncompressed metadata block.
    if root_inode & 0xffff > METADATA_SIZE {
        return Err(SquashfsError::Corrupt {
            field: "root inode offset",
            value: root_inode & 0xffff,
            reason: "past the end of its 8 KiB metadata block",
        });
    }
    let bytes_used = le_u64(head, 40);
    if bytes_used < SUPERBLOCK_LEN as u64 {
        return Err(SquashfsError::Corrupt {
            field: "bytes_used",
            value: bytes_used,
            reason: "smaller than the superblock itself",
        });
    }
    if bytes_used > file_len {
        return Err(SquashfsError::Truncated {
            bytes_used,
            file_len,
        });
    }
    Ok(Superblock {
        inodes: le_u32(head, 4),
        block_size,
        compression,
        bytes_used,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A superblock as `mksquashfs root img -comp zstd` writes it (128 KiB blocks, 1234 inodes,
    /// 4 MiB used), with one field changed by each case.
    fn superblock(edit: impl Fn(&mut [u8; 96])) -> [u8; 96] {
        let mut sb = [0u8; 96];
        let mut put = |at: usize, bytes: &[u8]| sb[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &MAGIC.to_le_bytes());
        put(4, &1234u32.to_le_bytes());
        put(8, &1_700_000_000u32.to_le_bytes());
        put(12, &(128u32 * 1024).to_le_bytes());
        put(16, &17u32.to_le_bytes());
        put(20, &6u16.to_le_bytes());
        put(22, &17u16.to_le_bytes());
        put(24, &0x00c0u16.to_le_bytes());
        put(26, &1u16.to_le_bytes());
        put(28, &4u16.to_le_bytes());
        put(30, &0u16.to_le_bytes());
        put(32, &((0x1_2345u64 << 16) | 0x01a0).to_le_bytes());
        put(40, &(4u64 << 20).to_le_bytes());
        edit(&mut sb);
        sb
    }

    fn set_u16(sb: &mut [u8; 96], at: usize, v: u16) {
        sb[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn set_u32(sb: &mut [u8; 96], at: usize, v: u32) {
        sb[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn set_u64(sb: &mut [u8; 96], at: usize, v: u64) {
        sb[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    const PADDED: u64 = (4 << 20) + 4096;

    #[test]
    fn accepts_a_good_superblock() {
        let sb = superblock(|_| {});
        let want = Superblock {
            inodes: 1234,
            block_size: 128 * 1024,
            compression: 6,
            bytes_used: 4 << 20,
        };
        // mksquashfs pads the file to 4 KiB; exactly bytes_used is fine too.
        assert_eq!(check_superblock(&sb, PADDED), Ok(want));
        assert_eq!(check_superblock(&sb, 4 << 20), Ok(want));
        // More than 96 bytes of head is fine.
        let mut long = sb.to_vec();
        long.extend_from_slice(&[0xff; 100]);
        assert_eq!(check_superblock(&long, PADDED), Ok(want));
    }

    #[test]
    fn rejects_what_the_kernel_rejects() {
        type Edit = fn(&mut [u8; 96]);
        let cases: &[(Edit, u64, SquashfsError)] = &[
            (
                |sb| set_u32(sb, 0, 0x7371_7368u32.swap_bytes()),
                PADDED,
                SquashfsError::BadMagic { found: 0x6873_7173 },
            ),
            (
                |sb| set_u16(sb, 28, 3),
                PADDED,
                SquashfsError::Version { major: 3, minor: 0 },
            ),
            (
                |sb| set_u16(sb, 30, 1),
                PADDED,
                SquashfsError::Version { major: 4, minor: 1 },
            ),
            (
                |sb| set_u16(sb, 20, 7),
                PADDED,
                SquashfsError::Compression { id: 7 },
            ),
            (
                |sb| set_u16(sb, 20, 0),
                PADDED,
                SquashfsError::Compression { id: 0 },
            ),
            (
                |sb| set_u16(sb, 20, 2),
                PADDED,
                SquashfsError::UnsupportedCompression {
                    id: 2,
                    name: "lzma",
                },
            ),
            (
                |sb| set_u32(sb, 12, 100_000),
                PADDED,
                SquashfsError::BlockSize {
                    block_size: 100_000,
                },
            ),
            (
                |sb| set_u32(sb, 12, 2048),
                PADDED,
                SquashfsError::BlockSize { block_size: 2048 },
            ),
            (
                |sb| set_u32(sb, 12, 2 << 20),
                PADDED,
                SquashfsError::BlockSize {
                    block_size: 2 << 20,
                },
            ),
            (
                |sb| set_u16(sb, 22, 16),
                PADDED,
                SquashfsError::BlockLog {
                    block_size: 131_072,
                    block_log: 16,
                },
            ),
            (
                |sb| set_u64(sb, 32, 8193),
                PADDED,
                SquashfsError::Corrupt {
                    field: "root inode offset",
                    value: 8193,
                    reason: "past the end of its 8 KiB metadata block",
                },
            ),
            (
                |sb| set_u64(sb, 40, 95),
                PADDED,
                SquashfsError::Corrupt {
                    field: "bytes_used",
                    value: 95,
                    reason: "smaller than the superblock itself",
                },
            ),
            (
                |_| {},
                (4 << 20) - 1,
                SquashfsError::Truncated {
                    bytes_used: 4 << 20,
                    file_len: (4 << 20) - 1,
                },
            ),
            (|_| {}, 95, SquashfsError::TooShort { len: 95 }),
        ];
        for (edit, file_len, want) in cases {
            let sb = superblock(edit);
            assert_eq!(
                check_superblock(&sb, *file_len).as_ref(),
                Err(want),
                "{want}"
            );
        }
    }

    #[test]
    fn messages_say_what_was_found() {
        let err = check_superblock(b"\x7fELF", 1 << 20);
        assert_eq!(err, Err(SquashfsError::TooShort { len: 4 }));
        let elf = [0x7f, b'E', b'L', b'F']
            .iter()
            .copied()
            .chain([0u8; 92])
            .collect::<Vec<_>>();
        let msg = check_superblock(&elf, 1 << 20).unwrap_err().to_string();
        assert_eq!(
            msg,
            "bad magic 0x464c457f (expected 0x73717368 \"hsqs\"): not a squashfs image"
        );
        let msg = check_superblock(&superblock(|_| {}), 1000)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("4194304") && msg.contains("1000") && msg.contains("truncated"),
            "{msg}"
        );
    }

    proptest::proptest! {
        /// A valid superblock is accepted exactly when the file holds the bytes it says are
        /// used; else the error names both numbers (a cut download, not a bad image).
        #[test]
        fn accepted_exactly_when_the_file_holds_bytes_used(
            bytes_used in 96..=u64::MAX / 2,
            file_len in proptest::prop_oneof![0..=4096u64, 96..=u64::MAX],
        ) {
            let sb = superblock(|sb| set_u64(sb, 40, bytes_used));
            let got = check_superblock(&sb, file_len);
            let want = if file_len < 96 {
                Err(SquashfsError::TooShort { len: file_len })
            } else if bytes_used > file_len {
                Err(SquashfsError::Truncated { bytes_used, file_len })
            } else {
                Ok(Superblock { inodes: 1234, block_size: 128 * 1024, compression: 6, bytes_used })
            };
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn never_panics_on_short_or_random_heads() {
        for len in 0..200 {
            let head: Vec<u8> = (0..len).map(|k| (k * 37 + 11) as u8).collect();
            for file_len in [0, 95, 96, len as u64, u64::MAX] {
                let _ = check_superblock(&head, file_len);
            }
        }
    }
}
