//! The initramfs's own files under /run, and where the new root is assembled. /run moves
//! into the new root at switch_root, so what lies under [`STATE_DIR`] is what the real
//! system finds of the boot. A leaf: every layer may name these paths.

/// The init's state for the real system: the image, its mounts, `boot.json`, net confs.
pub const STATE_DIR: &str = "/run/diskless";
/// The fetched image, in RAM.
pub const IMAGE_PATH: &str = "/run/diskless/root.squashfs";
/// Where the read-only root (squashfs or NFS) sits below an overlay.
pub const LOWER: &str = "/run/diskless/lower";
/// The boot record, for people and tools after boot.
pub const RECORD_PATH: &str = "/run/diskless/boot.json";
/// Where the new root is assembled before switch_root.
pub const NEW_ROOT: &str = "/sysroot";
/// systemd-networkd's runtime configuration: read with the image's /etc/systemd/network and
/// /usr/lib/systemd/network, and winning over their files of the same name.
pub const NETWORKD_RUNTIME: &str = "/run/systemd/network";
/// systemd's runtime units: drop-ins there merge with the image's units.
pub const SYSTEMD_RUNTIME_UNITS: &str = "/run/systemd/system";
