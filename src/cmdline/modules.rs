//! Module names as the command line gives them (`rd.driver.pre=`, `rd.driver.blacklist=`,
//! `modprobe.blacklist=`) and as modprobe compares them.

/// `virtio-net` -> `virtio_net`; `kernel/drivers/net/virtio_net.ko.zst` -> `virtio_net`.
/// As kmod's `modname_normalize`: the base name up to its first `.`, `-` as `_`.
pub fn normalize_name(name_or_path: &str) -> String {
    let base = name_or_path.rsplit('/').next().unwrap_or(name_or_path);
    let stem = base.split('.').next().unwrap_or(base);
    stem.replace('-', "_")
}
