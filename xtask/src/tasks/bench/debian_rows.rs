//! The Debian part's rows: the root they boot, their labels, which of ours is compared with
//! which baseline, and their guests' memory. Named once, for the runner that boots them
//! (`debian`) and the writer that reports them (`report_debian`).

/// `Variant::root` of the Debian part's rows.
pub(super) const ROOT: &str = "debian-12";
/// The rows, ours first, each with the baseline it is compared with.
pub(super) const OURS_SQUASHFS: &str = "debian-diskless-squashfs";
pub(super) const DRACUT: &str = "debian-dracut-livenet";
pub(super) const OURS_NFS: &str = "debian-diskless-nfs";
pub(super) const ITOOLS: &str = "debian-itools-netboot";
pub(super) const PAIRS: [(&str, &str); 2] = [(OURS_SQUASHFS, DRACUT), (OURS_NFS, ITOOLS)];

/// The squashfs lives in RAM beside a full systemd userland (boot_debian's size).
pub(super) const MEMORY_MB: u32 = 2048;
