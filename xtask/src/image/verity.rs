//! `cargo xtask verity`: appends dm-verity's superblock and hash tree to a squashfs image,
//! exactly as `veritysetup format --hash-offset=S --data-blocks=S/4096 img img` writes them
//! (format 1, sha256, 4 KiB blocks), where S is the squashfs's size padded to 4 KiB. One
//! served file then holds both, and a node finds the tree from the squashfs's superblock
//! (`diskless::image::verity`).
//!
//! The tree, as cryptsetup's lib/verity/verity_hash.c and the kernel's dm-verity read it:
//! level 0 holds sha256(salt || block) of every data block, 128 digests per 4 KiB hash block
//! (the last one zero-padded); each level above holds the digests of the blocks of the level
//! below, until one block is left; the root hash is sha256(salt || that block) (with a single
//! data block there are no levels and the root hash is that block's digest). On disk the
//! superblock takes the first block at S, then the levels follow from the top one down.
//!
//! Written here in Rust rather than by running veritysetup: the hash tree is a few dozen
//! lines, and the image builder then needs no cryptsetup on the admin's machine; the tests
//! hold it byte for byte to veritysetup's output where veritysetup is installed.

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use diskless::image::squashfs;
use diskless::image::verity::{BLOCK, MAGIC, MAX_SALT, SUPERBLOCK_LEN, Superblock, hash_offset};

/// Digests per hash block (4096 / 32).
const DIGESTS_PER_BLOCK: usize = 128;
const BLOCK_LEN: usize = 4096;

/// What [`append`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub root_hash: [u8; 32],
    pub salt: Vec<u8>,
    /// S: the squashfs's padded size, where the superblock is.
    pub offset: u64,
    pub data_blocks: u64,
    /// The hash tree's blocks after the superblock's.
    pub hash_blocks: u64,
    /// Zero bytes added to pad the squashfs to 4 KiB (0 for mksquashfs's images).
    pub padded: u64,
    /// Whether an earlier verity superblock and tree at S were replaced.
    pub replaced: bool,
}

/// The hash tree over `data` (whole 4 KiB blocks): the root hash and the levels' hash blocks,
/// level 0 (the data blocks' digests) first.
pub fn hash_tree(
    data: impl Read,
    data_blocks: u64,
    salt: &[u8],
) -> Result<([u8; 32], Vec<Vec<u8>>)> {
    ensure!(data_blocks > 0, "no data blocks to hash");
    let salted = Sha256::new_with_prefix(salt);
    let digest =
        |block: &[u8]| -> [u8; 32] { salted.clone().chain_update(block).finalize().into() };
    let mut reader = BufReader::with_capacity(1 << 20, data);
    let mut block = vec![0u8; BLOCK_LEN];
    let mut digests = Vec::with_capacity(usize::try_from(data_blocks).unwrap_or_default());
    for n in 0..data_blocks {
        reader
            .read_exact(&mut block)
            .with_context(|| format!("reading data block {n}"))?;
        digests.push(digest(&block));
    }
    let mut levels = Vec::new();
    while digests.len() > 1 {
        let blocks = digests.len().div_ceil(DIGESTS_PER_BLOCK);
        let mut level = vec![0u8; blocks * BLOCK_LEN];
        for (slot, d) in level.chunks_exact_mut(32).zip(&digests) {
            slot.copy_from_slice(d);
        }
        digests = level.chunks_exact(BLOCK_LEN).map(digest).collect();
        levels.push(level);
    }
    Ok((digests[0], levels))
}

/// Appends the superblock and hash tree to the squashfs `image` at its padded size, padding
/// it first if it is not a multiple of 4 KiB. An earlier verity superblock there is replaced;
/// any other bytes after the squashfs are refused. `salt`: `None` for 32 random bytes.
pub fn append(image: &Path, salt: Option<Vec<u8>>, uuid: Option<[u8; 16]>) -> Result<Appended> {
    let name = image.display();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .with_context(|| format!("opening {name}"))?;
    let len = file.metadata()?.len();
    let mut head = vec![0u8; squashfs::SUPERBLOCK_LEN];
    let read = file.read(&mut head)?;
    head.truncate(read);
    let sb = squashfs::check_superblock(&head, len)
        .with_context(|| format!("{name} is not a squashfs image"))?;
    let offset = hash_offset(sb.bytes_used).context("bytes_used overflows")?;
    let mut replaced = false;
    if len > offset {
        let mut magic = [0u8; 8];
        file.seek(SeekFrom::Start(offset))?;
        let got = file.read(&mut magic)?;
        if got < magic.len() || magic != *MAGIC {
            bail!(
                "{name}: {} bytes after the squashfs's padded end (byte {offset}) are not a \
                 verity superblock: refusing to overwrite them",
                len - offset
            );
        }
        replaced = true;
    }
    // Padding to 4 KiB is what mksquashfs does already; truncating drops an old tree.
    file.set_len(offset)?;
    let salt = match salt {
        Some(salt) => salt,
        None => random_bytes(32)?,
    };
    ensure!(
        salt.len() <= MAX_SALT,
        "a salt of {} bytes: at most 256",
        salt.len()
    );
    let uuid = match uuid {
        Some(uuid) => uuid,
        None => random_uuid()?,
    };
    let data_blocks = offset / BLOCK;
    file.seek(SeekFrom::Start(0))?;
    let (root_hash, levels) = hash_tree(&mut file, data_blocks, &salt)?;
    let superblock = Superblock {
        uuid,
        data_blocks,
        salt: salt.clone(),
    };
    let mut sb_block = vec![0u8; BLOCK_LEN];
    sb_block[..SUPERBLOCK_LEN].copy_from_slice(&superblock.to_bytes());
    file.seek(SeekFrom::Start(offset))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut file);
    out.write_all(&sb_block)?;
    for level in levels.iter().rev() {
        out.write_all(level)?;
    }
    out.flush()?;
    drop(out);
    file.sync_all()
        .with_context(|| format!("writing the hash tree into {name}"))?;
    let hash_blocks = levels.iter().map(|l| (l.len() / BLOCK_LEN) as u64).sum();
    Ok(Appended {
        root_hash,
        salt,
        offset,
        data_blocks,
        hash_blocks,
        padded: offset.saturating_sub(len.min(offset)),
        replaced,
    })
}

fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; n];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes)
}

/// A random (version 4) UUID, as veritysetup makes one.
fn random_uuid() -> Result<[u8; 16]> {
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&random_bytes(16)?);
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    Ok(uuid)
}

/// `12345678-1234-...` (hyphens optional) as 16 bytes.
pub fn parse_uuid(text: &str) -> Result<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let bytes = parse_hex(&hex).with_context(|| format!("UUID {text:?}"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("UUID {text:?}: expected 32 hex digits"))
}

/// Hex of any even length (a salt); `-` is the empty salt, as veritysetup takes it.
pub fn parse_hex(text: &str) -> Result<Vec<u8>> {
    if text == "-" {
        return Ok(Vec::new());
    }
    ensure!(text.len() % 2 == 0, "{text:?}: an odd number of hex digits");
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .with_context(|| format!("{text:?}: not hex"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(n: usize) -> Vec<u8> {
        (0..n * BLOCK_LEN).map(|i| (i * 31 / 7) as u8).collect()
    }

    /// The tree's shape follows cryptsetup's hash_levels(): one level per factor of 128.
    #[test]
    fn levels_grow_by_factors_of_128() {
        for (data_blocks, shape) in [
            (1usize, &[][..]),
            (2, &[1][..]),
            (128, &[1][..]),
            (129, &[2, 1][..]),
            (128 * 128 + 1, &[129, 2, 1][..]),
        ] {
            let data = blocks(data_blocks);
            let (root, levels) = hash_tree(&data[..], data_blocks as u64, b"salt").expect("tree");
            let got: Vec<usize> = levels.iter().map(|l| l.len() / BLOCK_LEN).collect();
            assert_eq!(got, shape, "{data_blocks} blocks");
            let top = levels.last().map_or(&data[..BLOCK_LEN], Vec::as_slice);
            let want: [u8; 32] = Sha256::new_with_prefix(b"salt")
                .chain_update(top)
                .finalize()
                .into();
            assert_eq!(root, want, "{data_blocks} blocks");
        }
        let short = blocks(1);
        assert!(hash_tree(&short[..], 2, b"").is_err());
    }

    #[test]
    fn a_level_zero_block_holds_the_salted_digests_then_zeros() {
        let data = blocks(3);
        let (_, levels) = hash_tree(&data[..], 3, b"ab").expect("tree");
        let level = &levels[0];
        for (n, block) in data.chunks(BLOCK_LEN).enumerate() {
            let want = Sha256::new_with_prefix(b"ab")
                .chain_update(block)
                .finalize();
            assert_eq!(&level[n * 32..n * 32 + 32], want.as_slice());
        }
        assert!(level[96..].iter().all(|b| *b == 0));
    }

    #[test]
    fn hex_and_uuids_parse_as_veritysetup_takes_them() {
        assert_eq!(parse_hex("-").expect("empty"), Vec::<u8>::new());
        assert_eq!(parse_hex("ABcd").expect("hex"), vec![0xab, 0xcd]);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        let uuid = parse_uuid("12345678-1234-1234-1234-123456789abc").expect("uuid");
        assert_eq!(uuid[0], 0x12);
        assert_eq!(uuid[15], 0xbc);
        assert!(parse_uuid("1234").is_err());
    }
}
