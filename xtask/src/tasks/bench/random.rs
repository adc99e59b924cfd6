//! Incompressible bytes that are the same every run: the padding of the big squashfs images
//! and the file the host-side fetch measurement serves.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use super::stats::MIB;

/// Seed of the padding and of the fetched file: fixed so every run serves the same bytes.
const SEED: u64 = 0x6469_736b_6c65_7373;

/// `len` bytes from a xorshift64* stream seeded with [`SEED`]: incompressible and the same
/// every run (the padded squashfs, the fetched file). Kept if the file already has that
/// length.
pub(super) fn write_random(path: &Path, len: u64) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == len) {
        return Ok(());
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = std::io::BufWriter::with_capacity(MIB as usize, file);
    let mut state = SEED;
    let mut buf = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        for chunk in buf.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            chunk.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        let n = usize::try_from(left.min(MIB)).unwrap_or(buf.len());
        writer.write_all(&buf[..n])?;
        left -= n as u64;
    }
    writer.flush()?;
    Ok(())
}
