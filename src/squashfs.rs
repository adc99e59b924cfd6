//! Validates a squashfs image before it is mounted: the superblock must be one the kernel's
//! squashfs driver accepts, and its sizes must agree with the file we fetched.

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
    #[error("superblock says {bytes_used} bytes are used but the file has {file_len}: truncated")]
    Truncated { bytes_used: u64, file_len: u64 },
    #[error("unknown compression id {id}")]
    Compression { id: u16 },
}

/// Checks the first bytes of an image (at least 96 given when the file has them) against the
/// file's total length.
pub fn check_superblock(head: &[u8], file_len: u64) -> Result<Superblock, SquashfsError> {
    todo!("helper: {head:?} {file_len}")
}
