//! The image builder of diskless (`cpio`, `kmod`, `microcode`, `initrd`) and the build of the
//! init itself (`build`), usable from `cargo xtask` and from the integration tests in `tests/`.
//! The QEMU test bed and the test kernel are the `testbed` crate.

#![allow(
    clippy::indexing_slicing,
    reason = "build and test tooling: an out-of-bounds index is a failed run with a backtrace, not a node that cannot boot (the lint guards the init)"
)]

pub mod build;
pub mod cpio;
pub mod fleet;
pub mod initrd;
pub mod kmod;
pub mod microcode;
pub mod registry;
pub mod signing;
pub mod trust;

pub use testbed::project_root;

/// Lowercase hex sha256 of `bytes` (image pins, fixtures).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    diskless::hex::encode(&sha2::Sha256::digest(bytes))
}
