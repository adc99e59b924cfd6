//! The QEMU test bed shared by the integration tests and by `cargo xtask boot`/`bench`.
//!
//! - [`qemu`]: boots a kernel + initrd (or a PXE ROM) in QEMU (TCG, no KVM), captures the serial
//!   console line by line with host timestamps, and writes it to
//!   `target/testbed-logs/<name>.log`.
//! - [`http`]: a std-only HTTP/1.1 server on 127.0.0.1 (the guest sees it as 10.0.2.2) that can
//!   be told to misbehave.
//! - [`rootfs`]: a busybox root tree whose `/sbin/init` prints facts about the booted system on
//!   the console, and a reproducible zstd squashfs of it.
//!
//! Environment used by the tests:
//! - `DISKLESS_TEST_VMLINUZ`: the kernel the QEMU tests boot ([`test_vmlinuz`]).
//! - `DISKLESS_TEST_MODULES`: that kernel's `/lib/modules/<version>` tree, for tests that load
//!   modules themselves ([`test_modules_dir`]).
//! - `CI=true`: a missing QEMU or kernel fails the tests instead of skipping them.

pub mod http;
pub mod qemu;
pub mod rootfs;

pub use http::{Behavior, HttpServer, RequestLog};
pub use qemu::{BootLog, Nic, Qemu, QemuError, require_qemu};
pub use rootfs::{MachineIdFile, RootSpec, RootTree, squashfs};

use std::path::PathBuf;

/// Where QEMU console logs go: `target/testbed-logs/`.
pub fn logs_dir() -> PathBuf {
    crate::project_root().join("target").join("testbed-logs")
}

/// Scratch space for test fixtures (trees, images, cpio archives): `target/testbed-tmp/`.
/// Kept under `target/` rather than /tmp so failed runs can be inspected next to their logs.
pub fn scratch_dir() -> PathBuf {
    crate::project_root().join("target").join("testbed-tmp")
}

/// The environment variable naming the kernel the QEMU tests boot.
pub const VMLINUZ_ENV: &str = "DISKLESS_TEST_VMLINUZ";

/// Where the development machine has the Debian cloud kernel unpacked; used when
/// [`VMLINUZ_ENV`] is not set.
pub const DEV_VMLINUZ: &str = "/tmp/k/x/boot/vmlinuz-6.1.0-56-cloud-amd64";

/// The kernel for QEMU tests: `$DISKLESS_TEST_VMLINUZ`, else [`DEV_VMLINUZ`] if it exists.
///
/// When there is none, this panics under `CI=true` (a CI run must not pass by skipping) and
/// otherwise prints a loud skip message and returns `None`.
pub fn test_vmlinuz() -> Option<PathBuf> {
    let candidate = match std::env::var_os(VMLINUZ_ENV) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(DEV_VMLINUZ),
    };
    if candidate.is_file() {
        return Some(candidate);
    }
    skip_or_fail(&format!(
        "no kernel to boot: {} does not exist (set {VMLINUZ_ENV} to a bzImage/vmlinuz)",
        candidate.display()
    ));
    None
}

/// The environment variable naming the module tree of [`VMLINUZ_ENV`]'s kernel.
pub const MODULES_ENV: &str = "DISKLESS_TEST_MODULES";

/// The module tree that goes with [`DEV_VMLINUZ`].
pub const DEV_MODULES: &str = "/tmp/k/x/lib/modules/6.1.0-56-cloud-amd64";

/// The test kernel's module tree (`.../lib/modules/<version>`): `$DISKLESS_TEST_MODULES`, else
/// [`DEV_MODULES`] when the kernel is the development one. Missing: as [`test_vmlinuz`].
pub fn test_modules_dir() -> Option<PathBuf> {
    let candidate = match std::env::var_os(MODULES_ENV) {
        Some(path) => PathBuf::from(path),
        // The development modules only match the development kernel.
        None if std::env::var_os(VMLINUZ_ENV).is_none() => PathBuf::from(DEV_MODULES),
        None => {
            skip_or_fail(&format!("{VMLINUZ_ENV} is set but {MODULES_ENV} is not"));
            return None;
        }
    };
    if candidate.join("kernel").is_dir() {
        return Some(candidate);
    }
    skip_or_fail(&format!(
        "no kernel modules: {}/kernel does not exist (set {MODULES_ENV})",
        candidate.display()
    ));
    None
}

/// Whether this is a CI run, where missing prerequisites are failures rather than skips.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Panics under CI; otherwise prints `reason` in a banner that is hard to miss in test output.
pub(crate) fn skip_or_fail(reason: &str) {
    if is_ci() {
        panic!("CI=true and a test prerequisite is missing: {reason}");
    }
    eprintln!(
        "\n\
         ********************************************************************\n\
         *** SKIPPING QEMU TEST: {reason}\n\
         *** (the test passes without running; under CI=true it would fail)\n\
         ********************************************************************\n"
    );
}
