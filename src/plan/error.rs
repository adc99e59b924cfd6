//! What the plans refuse: a root this init does not boot, a root path DHCP did not give,
//! an `ip=` that cannot bring the root in.

/// The root kinds this init boots, as the admin writes them: every message that lists the
/// kinds names them all.
pub const ROOT_KINDS: &str = "root=live:<url> (a squashfs image), \
     root=/dev/nfs nfsroot=<server>:<path>, root=nfs:<server>:<path>, \
     root=oci:<registry>/<repository>@sha256:<digest>, \
     root=nbd:<server>:<port|export> (a squashfs on an NBD export, under dm-verity) or root=dhcp";

/// A decision the command line (or DHCP's root path) does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no root= on the kernel command line: give {ROOT_KINDS}")]
    NoRoot,
    #[error("root={0} is not a root diskless boots: give {ROOT_KINDS}")]
    UnsupportedRoot(String),
    #[error(
        "{wanted}: the DHCP server gave no root path (option 17); set one on the server \
         (dnsmasq: dhcp-option=option:root-path,<url or server:/path>) or name the root in root="
    )]
    NoRootPath { wanted: &'static str },
    #[error("{wanted}: the DHCP root path {path:?}: {reason}")]
    BadRootPath {
        wanted: &'static str,
        path: String,
        reason: String,
    },
    #[error("ip={value}: {reason}")]
    UnsupportedIp { value: String, reason: &'static str },
}
