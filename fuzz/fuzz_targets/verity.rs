//! Any bytes as what a block device root holds at its hash offset: the first 8 bytes are the
//! offset (little-endian, the squashfs's padded size), the rest the bytes read there. The
//! parser returns, never panics; what it accepts is a superblock this init sets up (sha256,
//! 4 KiB blocks, a salt that fits, exactly offset / 4096 data blocks), which writes back to
//! the same 512 bytes' meaning, and a table line of one line.
#![no_main]

use diskless::image::verity::{MAX_SALT, SUPERBLOCK_LEN, Table, parse_superblock};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (offset_bytes, rest) = data.split_at(data.len().min(8));
    let mut offset = [0u8; 8];
    offset[..offset_bytes.len()].copy_from_slice(offset_bytes);
    let offset = u64::from_le_bytes(offset);
    match parse_superblock(rest, offset) {
        Ok(sb) => {
            assert!(rest.len() >= SUPERBLOCK_LEN && rest.starts_with(b"verity\0\0"));
            assert_eq!(sb.data_blocks, offset / 4096);
            assert!(sb.salt.len() <= MAX_SALT);
            assert_eq!(parse_superblock(&sb.to_bytes(), offset), Ok(sb.clone()));
            let table = Table::new("/dev/nbd0", offset, &sb, [0; 32]);
            assert!(!table.params().contains('\n'));
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
