//! The library behind `cargo xtask`, used by the task CLI (`tasks/`, in the binary) and by the
//! integration tests in `tests/`:
//!
//! - [`image`]: the image builder, what admins' builds run on (`cargo xtask initrd`);
//! - [`build`]: the init itself, compiled from this checkout for the image;
//! - [`fleet`]: the boot server's files (dnsmasq, pxelinux, iPXE) for an inventory of nodes;
//! - [`registry`]: publishing a squashfs root to an OCI registry (`cargo xtask push`).
//!
//! The QEMU test bed and the test kernel are the `testbed` crate.

#![allow(
    clippy::indexing_slicing,
    reason = "build and test tooling: an out-of-bounds index is a failed run with a backtrace, not a node that cannot boot (the lint guards the init)"
)]

pub mod build;
pub mod fleet;
pub mod image;
pub mod registry;

pub use testbed::project_root;

/// Lowercase hex sha256 of `bytes` (image pins, fixtures).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    diskless::hex::encode(&sha2::Sha256::digest(bytes))
}
