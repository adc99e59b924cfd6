//! The QEMU test bed shared by the integration tests and by `cargo xtask boot`/`bench`.
//!
//! Its own crate so that the init's unit tests (`cargo test -p diskless`) never build it: it
//! depends on neither the init nor the image builder. The integration tests in the top-level
//! `tests/` are this package's test targets (`Cargo.toml`'s `[[test]]` entries), with the image
//! builder (`xtask`) and the init (`diskless`) as dev-dependencies.
//!
//! - [`qemu`]: boots a kernel + initrd (or a PXE ROM) in QEMU (TCG, no KVM), captures the serial
//!   console line by line with host timestamps, and writes it to
//!   `target/testbed-logs/<name>.log`.
//! - [`http`]: a std-only HTTP/1.1 server on 127.0.0.1 (the guest sees it as 10.0.2.2) that can
//!   be told to misbehave.
//! - [`rootfs`]: a busybox root tree whose `/sbin/init` prints facts about the booted system on
//!   the console, and a reproducible zstd squashfs of it; [`record`]: the node's boot record
//!   as that checker prints it, read with serde_json.
//! - [`nfs`]: nfs-ganesha serving host directories, registered with [`portmap`], the test bed's
//!   rpcbind stand-in; [`netns`]: network namespaces, with dnsmasq and QEMU inside.
//! - [`nbd`]: Debian's nbd-server serving files as named exports.
//! - [`kernel`]: the Debian cloud kernel the tests and the demo boot, fetched with apt.
//! - [`imports`]: a crate's module graph from its sources, for the tidy tests' import cycles
//!   and layers.
//! - [`dirs`]: where logs and scratch files go; [`skip`]: a missing prerequisite skips a test,
//!   or fails it under `CI=true`.
//!
//! The tests boot the Debian cloud kernel from [`kernel::ensure`] ([`test_kernel`]).
//! `CI=true`: a missing QEMU or kernel fails the tests instead of skipping them.

#![allow(
    clippy::indexing_slicing,
    reason = "build and test tooling: an out-of-bounds index is a failed run with a backtrace, not a node that cannot boot (the lint guards the init)"
)]

pub mod arch;
pub mod archive;
pub mod debian;
pub mod dirs;
pub mod http;
pub mod imports;
pub mod kernel;
pub mod nbd;
pub mod netns;
pub mod nfs;
pub mod ntp;
pub mod oci;
pub mod portmap;
pub mod qemu;
pub mod record;
pub mod registry;
pub mod rootfs;
pub mod skip;
pub mod token;

pub use arch::Arch;
pub use dirs::{fresh_dir, logs_dir, project_root, scratch_dir};
pub use http::{Behavior, HttpServer, RequestLog};
pub use nbd::{NbdServer, require_nbd_server};
pub use netns::{Dnsmasq, DnsmasqConfig, NetNs, TcpRelay, require_dnsmasq, require_netns};
pub use nfs::{Export, NfsServer, require_ganesha};
pub use qemu::{BootLog, Nic, Qemu, QemuError, require_qemu, require_qemu_for};
pub use record::BootRecord;
pub use rootfs::{MachineIdFile, RootSpec, RootTree, squashfs};
pub use skip::{is_ci, skip_banner, skip_or_fail};

use std::path::PathBuf;

/// The kernel the QEMU tests boot: the Debian cloud kernel from [`kernel::ensure`]
/// (fetched into `target/kernel/` on first use; `cargo xtask kernel` does it up front).
///
/// When it cannot be had, this panics under `CI=true` (a CI run must not pass by skipping)
/// and otherwise prints a loud skip message and returns `None`.
pub fn test_kernel() -> Option<kernel::Kernel> {
    match kernel::ensure() {
        Ok(kernel) => Some(kernel),
        Err(err) => {
            skip_or_fail(&format!("no kernel to boot: {err:#}"));
            None
        }
    }
}

/// The test kernel's image (see [`test_kernel`]).
pub fn test_vmlinuz() -> Option<PathBuf> {
    test_kernel().map(|kernel| kernel.vmlinuz)
}

/// The test kernel's module tree, `.../lib/modules/<version>` (see [`test_kernel`]).
pub fn test_modules_dir() -> Option<PathBuf> {
    test_kernel().map(|kernel| kernel.modules_dir)
}

/// One entry of a [`tree_snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEntry {
    Dir,
    File(Vec<u8>),
    Symlink(PathBuf),
}

/// Every entry below `dir` by relative path, with file contents and link targets: what
/// "byte-for-byte unchanged" compares (an NFS export a node must never write, for one).
pub fn tree_snapshot(
    dir: &std::path::Path,
) -> std::io::Result<std::collections::BTreeMap<PathBuf, TreeEntry>> {
    fn walk(
        base: &std::path::Path,
        dir: &std::path::Path,
        out: &mut std::collections::BTreeMap<PathBuf, TreeEntry>,
    ) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let rel = path
                .strip_prefix(base)
                .map_err(std::io::Error::other)?
                .to_path_buf();
            let kind = std::fs::symlink_metadata(&path)?.file_type();
            if kind.is_symlink() {
                out.insert(rel, TreeEntry::Symlink(std::fs::read_link(&path)?));
            } else if kind.is_dir() {
                out.insert(rel, TreeEntry::Dir);
                walk(base, &path, out)?;
            } else {
                out.insert(rel, TreeEntry::File(std::fs::read(&path)?));
            }
        }
        Ok(())
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}
