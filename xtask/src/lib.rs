//! Build and test tooling for diskless, usable from `cargo xtask` and from the integration
//! tests in `tests/` (which share the image builder and the QEMU test bed with the CLI).

pub mod build;
pub mod cpio;
pub mod initrd;
pub mod kernel;
pub mod kmod;
pub mod microcode;
pub mod testbed;

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Lowercase hex sha256 of `bytes` (image pins, fixtures).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    diskless::hex::encode(&sha2::Sha256::digest(bytes))
}
