//! The image builder: what `cargo xtask initrd` runs to make the initramfs nodes boot, and the
//! library admins' production builds run on. [`initrd::build`] packs the init, the repo's
//! `initramfs/` tree, kernel modules ([`kmod`]) and an early CPU microcode archive
//! ([`microcode`]) into [`cpio`] archives, with the files the node needs to trust its root and
//! its configuration, each checked at build time ([`trust`], [`signing`], [`registry_auth`];
//! all are [`extra::ExtraFile`]s). [`verity`] appends dm-verity's hash tree to a squashfs
//! (`cargo xtask verity`).
//!
//! It must not depend on the developer tasks (`tasks/`: bench, boot, fuzz) nor on what they
//! run (QEMU, the test bed's servers and kernels): an admin's build runs this code alone. From
//! `testbed` it takes only [`testbed::Arch`] (the architectures' names) and
//! [`testbed::project_root`] (where `initramfs/` is). The init comes in as a file; building it
//! from this checkout is `xtask::build`.

pub mod cpio;
pub mod extra;
pub mod initrd;
pub mod kmod;
pub mod microcode;
pub mod registry_auth;
pub mod signing;
pub mod trust;
pub mod verity;
