//! What every guest the bench boots shares: its NIC (the MAC and what pxelinux would append
//! for it), how long a boot may take, and how a guest with more vCPUs shows in a variant's
//! label and description.

use std::time::Duration;

/// The MAC of every test node (as in tests/common).
pub(super) const MAC: &str = "52:54:00:12:34:56";
pub(super) const BOOTIF: &str = "BOOTIF=01-52-54-00-12-34-56";
/// What pxelinux's `SYSAPPEND 1` gives on QEMU's user network (as in tests/common).
pub(super) const STATIC_IP: &str = "ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0";
/// A boot that has not reached the root by then has failed; TCG boots take 5-20 s.
pub(super) const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// A variant's label on `cpus` vCPUs: `diskless-nfs`, `diskless-nfs-smp2`.
pub(super) fn with_cpus(label: &str, cpus: u32) -> String {
    if cpus == 1 {
        label.to_owned()
    } else {
        format!("{label}-smp{cpus}")
    }
}

/// What a variant's description says of its vCPUs (nothing for the usual one).
pub(super) fn smp_note(cpus: u32) -> String {
    if cpus == 1 {
        String::new()
    } else {
        format!(", -smp {cpus}")
    }
}
