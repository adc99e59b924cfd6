//! dm-verity over a block device root: one served file holds the squashfs, padded to 4 KiB,
//! then veritysetup's superblock and hash tree at exactly that padded size, as
//! `veritysetup format --hash-offset=S --data-blocks=S/4096 img img` writes them (format 1,
//! sha256, 4 KiB blocks, the salt in the superblock; `cargo xtask verity` writes the same).
//!
//! Pure: where the superblock is ([`hash_offset`]), what it must say ([`parse_superblock`],
//! which accepts only what this init sets up: anything else is a file made for another
//! purpose, or tampered with), and the device-mapper table line ([`Table::params`]). The
//! root hash is never read from the file: it comes from the admin (the initramfs's pin or
//! `diskless.verity=`), and it is what makes every block the kernel reads trustworthy.

use crate::hex;

/// The data and hash block size: the page size, what veritysetup uses by default.
pub const BLOCK: u64 = 4096;
/// `struct verity_sb` (cryptsetup's lib/verity/verity.c): 512 bytes, little-endian.
pub const SUPERBLOCK_LEN: usize = 512;
pub const MAGIC: &[u8; 8] = b"verity\0\0";
/// Format 1 ("normal"): each digest is sha256(salt || block); 0 is Chrome OS's (salt after).
pub const HASH_TYPE: u32 = 1;
pub const ALGORITHM: &str = "sha256";
/// The largest salt the superblock holds.
pub const MAX_SALT: usize = 256;

/// The byte offsets of `struct verity_sb`'s fields.
const VERSION_AT: usize = 8;
const HASH_TYPE_AT: usize = 12;
const UUID_AT: usize = 16;
const ALGORITHM_AT: usize = 32;
const ALGORITHM_LEN: usize = 32;
const DATA_BLOCK_SIZE_AT: usize = 64;
const HASH_BLOCK_SIZE_AT: usize = 68;
const DATA_BLOCKS_AT: usize = 72;
const SALT_SIZE_AT: usize = 80;
const SALT_AT: usize = 88;

/// A verity superblock this init sets up a device from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    pub uuid: [u8; 16],
    /// The number of 4 KiB data blocks the tree covers: the padded squashfs, `S / 4096`.
    pub data_blocks: u64,
    /// At most [`MAX_SALT`] bytes.
    pub salt: Vec<u8>,
}

/// Why the bytes at the hash offset are not a superblock this init sets up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerityError {
    #[error("{len} bytes, too short for a verity superblock (512 bytes)")]
    TooShort { len: usize },
    #[error(
        "no verity superblock (magic \"verity\\0\\0\") at byte {offset}, the squashfs's padded \
         end: append one with cargo xtask verity (or veritysetup format --hash-offset={offset})"
    )]
    BadMagic { offset: u64 },
    #[error("verity superblock version {0}; only version 1 is known")]
    Version(u32),
    #[error("verity hash type {0}; only format 1 (veritysetup's default) is set up")]
    HashType(u32),
    #[error("verity hash algorithm {0:?}; only sha256 is set up")]
    Algorithm(String),
    #[error("verity {what} block size {size}; only 4096 is set up")]
    BlockSize { what: &'static str, size: u32 },
    #[error("verity salt of {0} bytes; at most 256 fit")]
    SaltSize(u16),
    #[error(
        "the verity superblock covers {found} data blocks but the squashfs takes {expected} \
         (4 KiB each): the tree was made for another image"
    )]
    DataBlocks { found: u64, expected: u64 },
    #[error("the squashfs's bytes_used {0} is past any device this init sets up")]
    TooLarge(u64),
}

/// Where the verity superblock is: the squashfs's `bytes_used` rounded up to 4 KiB, which is
/// where mksquashfs's padding ends. `None` when that overflows.
pub fn hash_offset(bytes_used: u64) -> Option<u64> {
    bytes_used.checked_next_multiple_of(BLOCK)
}

fn le_u16(bytes: &[u8], at: usize) -> u16 {
    let mut b = [0u8; 2];
    if let Some(src) = bytes.get(at..at + 2) {
        b.copy_from_slice(src);
    }
    u16::from_le_bytes(b)
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    u32::from_le_bytes(b)
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        b.copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

/// Reads the superblock at `offset` (the squashfs's padded size, [`hash_offset`]) and holds
/// it to what this init sets up: version 1, format 1, sha256, 4 KiB blocks, a salt that fits,
/// and exactly `offset / 4096` data blocks (a tree over less would leave blocks unverified).
pub fn parse_superblock(bytes: &[u8], offset: u64) -> Result<Superblock, VerityError> {
    let Some(sb) = bytes.get(..SUPERBLOCK_LEN) else {
        return Err(VerityError::TooShort { len: bytes.len() });
    };
    if !sb.starts_with(MAGIC) {
        return Err(VerityError::BadMagic { offset });
    }
    let version = le_u32(sb, VERSION_AT);
    if version != 1 {
        return Err(VerityError::Version(version));
    }
    let hash_type = le_u32(sb, HASH_TYPE_AT);
    if hash_type != HASH_TYPE {
        return Err(VerityError::HashType(hash_type));
    }
    let algorithm = sb
        .get(ALGORITHM_AT..ALGORITHM_AT + ALGORITHM_LEN)
        .unwrap_or_default();
    let name_len = algorithm
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(algorithm.len());
    let name = algorithm.get(..name_len).unwrap_or_default();
    if name != ALGORITHM.as_bytes() || algorithm.iter().skip(name_len).any(|b| *b != 0) {
        return Err(VerityError::Algorithm(
            String::from_utf8_lossy(name).into_owned(),
        ));
    }
    for (what, at) in [("data", DATA_BLOCK_SIZE_AT), ("hash", HASH_BLOCK_SIZE_AT)] {
        let size = le_u32(sb, at);
        if u64::from(size) != BLOCK {
            return Err(VerityError::BlockSize { what, size });
        }
    }
    let salt_size = le_u16(sb, SALT_SIZE_AT);
    let salt = sb
        .get(SALT_AT..SALT_AT + usize::from(salt_size))
        .filter(|_| usize::from(salt_size) <= MAX_SALT)
        .ok_or(VerityError::SaltSize(salt_size))?;
    let data_blocks = le_u64(sb, DATA_BLOCKS_AT);
    let expected = offset / BLOCK;
    if data_blocks != expected {
        return Err(VerityError::DataBlocks {
            found: data_blocks,
            expected,
        });
    }
    let mut uuid = [0u8; 16];
    if let Some(src) = sb.get(UUID_AT..UUID_AT + 16) {
        uuid.copy_from_slice(src);
    }
    Ok(Superblock {
        uuid,
        data_blocks,
        salt: salt.to_vec(),
    })
}

impl Superblock {
    /// The 512 bytes veritysetup writes for this superblock (`cargo xtask verity` writes
    /// these; the tests parse them back). A salt longer than [`MAX_SALT`] is cut.
    pub fn to_bytes(&self) -> [u8; SUPERBLOCK_LEN] {
        let mut sb = [0u8; SUPERBLOCK_LEN];
        let mut put = |at: usize, bytes: &[u8]| {
            if let Some(dst) = sb.get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        };
        put(0, MAGIC);
        put(VERSION_AT, &1u32.to_le_bytes());
        put(HASH_TYPE_AT, &HASH_TYPE.to_le_bytes());
        put(UUID_AT, &self.uuid);
        put(ALGORITHM_AT, ALGORITHM.as_bytes());
        let block = u32::try_from(BLOCK).unwrap_or_default().to_le_bytes();
        put(DATA_BLOCK_SIZE_AT, &block);
        put(HASH_BLOCK_SIZE_AT, &block);
        put(DATA_BLOCKS_AT, &self.data_blocks.to_le_bytes());
        let salt = self.salt.get(..MAX_SALT).unwrap_or(&self.salt);
        let salt_size = u16::try_from(salt.len()).unwrap_or_default();
        put(SALT_SIZE_AT, &salt_size.to_le_bytes());
        put(SALT_AT, salt);
        sb
    }
}

/// The device-mapper table of a verity device over one block device holding both the data
/// and, from `offset`, the superblock and hash tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The block device (`/dev/nbd0`).
    pub device: String,
    /// The hash offset: the squashfs's padded size.
    pub offset: u64,
    pub data_blocks: u64,
    pub root_hash: [u8; 32],
    pub salt: Vec<u8>,
}

impl Table {
    pub fn new(device: &str, offset: u64, sb: &Superblock, root_hash: [u8; 32]) -> Table {
        Table {
            device: device.to_owned(),
            offset,
            data_blocks: sb.data_blocks,
            root_hash,
            salt: sb.salt.clone(),
        }
    }

    /// The device's length in 512-byte sectors: the data blocks only.
    pub fn sectors(&self) -> u64 {
        self.data_blocks.saturating_mul(BLOCK / 512)
    }

    /// The `verity` target's parameters (the kernel's verity.rst): version 1, the same device
    /// for data and hashes, 4 KiB blocks, the hash tree one block after the superblock, sha256,
    /// the root hash and the salt (`-` for none). No optional arguments: a corrupted block is
    /// an I/O error for its reader and a kernel line, never a restart or a panic.
    pub fn params(&self) -> String {
        let hash_start = self.offset / BLOCK + 1;
        let salt = if self.salt.is_empty() {
            "-".to_owned()
        } else {
            hex::encode(&self.salt)
        };
        format!(
            "1 {dev} {dev} {BLOCK} {BLOCK} {blocks} {hash_start} {ALGORITHM} {root} {salt}",
            dev = self.device,
            blocks = self.data_blocks,
            root = hex::encode(&self.root_hash),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb(salt: &[u8]) -> Superblock {
        Superblock {
            uuid: [7; 16],
            data_blocks: 1024,
            salt: salt.to_vec(),
        }
    }

    #[test]
    fn the_hash_offset_is_the_padded_squashfs() {
        for (bytes_used, offset) in [
            (96, Some(4096)),
            (4096, Some(4096)),
            (4097, Some(8192)),
            (4 << 20, Some(4 << 20)),
            (u64::MAX, None),
        ] {
            assert_eq!(hash_offset(bytes_used), offset, "{bytes_used}");
        }
    }

    #[test]
    fn a_superblock_round_trips() {
        for salt in [&[][..], &[0xab; 32], &[1; 256]] {
            let want = sb(salt);
            let bytes = want.to_bytes();
            assert!(bytes.starts_with(b"verity\0\0\x01\0\0\0\x01\0\0\0"));
            assert_eq!(&bytes[32..39], b"sha256\0");
            assert_eq!(parse_superblock(&bytes, 1024 * 4096), Ok(want));
        }
    }

    /// Each field this init relies on, changed: the error says what was found.
    #[test]
    fn superblocks_this_init_does_not_set_up_are_refused() {
        let good = sb(&[0xab; 32]).to_bytes();
        let edit = |at: usize, bytes: &[u8]| {
            let mut sb = good;
            sb[at..at + bytes.len()].copy_from_slice(bytes);
            sb
        };
        let offset = 1024 * 4096;
        let cases: Vec<([u8; 512], &str)> = vec![
            (edit(0, b"verity\0\x01"), "no verity superblock"),
            (edit(0, b"hsqs"), "at byte 4194304"),
            (edit(8, &2u32.to_le_bytes()), "version 2"),
            (edit(12, &0u32.to_le_bytes()), "hash type 0"),
            (edit(32, b"sha1\0\0"), "\"sha1\""),
            (edit(32, b"sha2567"), "\"sha2567\""),
            (edit(39, b"x"), "\"sha256\""),
            (edit(64, &512u32.to_le_bytes()), "data block size 512"),
            (edit(68, &8192u32.to_le_bytes()), "hash block size 8192"),
            (edit(72, &1023u64.to_le_bytes()), "covers 1023 data blocks"),
            (edit(80, &257u16.to_le_bytes()), "salt of 257 bytes"),
            (edit(80, &u16::MAX.to_le_bytes()), "salt of 65535 bytes"),
        ];
        for (bytes, want) in cases {
            let err = parse_superblock(&bytes, offset)
                .expect_err(want)
                .to_string();
            assert!(err.contains(want), "{err} does not say {want}");
        }
        let err = parse_superblock(&good[..511], offset).expect_err("short");
        assert_eq!(err, VerityError::TooShort { len: 511 });
        // More bytes than the superblock (a whole block read) are fine.
        let mut block = good.to_vec();
        block.resize(4096, 0xff);
        assert!(parse_superblock(&block, offset).is_ok());
    }

    #[test]
    fn the_table_line_is_veritysetups() {
        let root = [0x11; 32];
        let table = Table::new("/dev/nbd0", 1024 * 4096, &sb(&[0xab, 0xcd]), root);
        assert_eq!(table.sectors(), 1024 * 8);
        assert_eq!(
            table.params(),
            format!(
                "1 /dev/nbd0 /dev/nbd0 4096 4096 1024 1025 sha256 {} abcd",
                "11".repeat(32)
            )
        );
        let unsalted = Table::new("/dev/nbd1", 8192, &sb(&[]), root);
        assert!(unsalted.params().ends_with(" -"), "{}", unsalted.params());
        assert!(unsalted.params().contains(" 1024 3 sha256 "));
    }
}
