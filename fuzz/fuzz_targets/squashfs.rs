//! Any bytes as the head of a fetched image: the first 8 bytes are the file's length
//! (little-endian), the rest its first bytes. The check returns, never panics; it reads only
//! the 96-byte superblock; and what it accepts is a superblock the kernel would mount, no
//! longer than the file.
#![no_main]

use diskless::image::squashfs::{SUPERBLOCK_LEN, check_superblock};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (len_bytes, head) = data.split_at(data.len().min(8));
    let mut len = [0u8; 8];
    len[..len_bytes.len()].copy_from_slice(len_bytes);
    let file_len = u64::from_le_bytes(len);
    for file_len in [file_len, head.len() as u64, u64::MAX] {
        let result = check_superblock(head, file_len);
        if head.len() >= SUPERBLOCK_LEN {
            assert_eq!(check_superblock(&head[..SUPERBLOCK_LEN], file_len), result);
        }
        match result {
            Ok(sb) => {
                assert!(head.len() >= SUPERBLOCK_LEN && file_len >= SUPERBLOCK_LEN as u64);
                assert!(head.starts_with(b"hsqs"));
                assert!(sb.block_size.is_power_of_two());
                assert!((4096..=1 << 20).contains(&sb.block_size));
                assert!(matches!(sb.compression, 1 | 3..=6));
                assert!(sb.bytes_used >= SUPERBLOCK_LEN as u64 && sb.bytes_used <= file_len);
            }
            Err(error) => assert!(!error.to_string().is_empty()),
        }
    }
});
