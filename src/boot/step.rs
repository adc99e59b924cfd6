//! The boot's steps, named as they appear in log and FATAL lines and in the boot record.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// /proc, /sys, /dev and /run.
    EarlyMounts,
    /// The command line read and the plans made.
    Cmdline,
    /// The hardware's drivers; the root's modules start loading beside the network.
    Modules,
    /// The boot NIC found and named.
    Link,
    /// The node's host name, from its MAC, set before any packet leaves.
    Hostname,
    /// Links up, an address (static or DHCP), the root's layout settled.
    Network,
    /// The clock raised to its floor and asked of NTP, before any TLS handshake.
    Clock,
    /// The root's modules, loaded ahead, waited for.
    RootModules,
    /// The root image fetched or pulled.
    Fetch,
    /// A block device root's export attached (NBD).
    Attach,
    /// The fetched image checked before anything mounts it.
    Verify,
    /// The new root mounted.
    Mount,
    /// The shares' NFS modules waited for.
    ShareModules,
    /// The node's directory, shared mounts, persisted paths and tmpfs mounts.
    Storage,
    /// Configuration archives laid over the new root.
    ConfigArchives,
    /// Host name, hosts, machine-id, resolv.conf and time servers written into the new root;
    /// what keeps the boot NIC configured for a root on the network.
    IdentityFiles,
    SwitchRoot,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::EarlyMounts => "early-mounts",
            Step::Cmdline => "cmdline",
            Step::Modules => "modules",
            Step::Link => "link",
            Step::Hostname => "hostname",
            Step::Network => "network",
            Step::Clock => "clock",
            Step::RootModules => "root-modules",
            Step::Fetch => "fetch",
            Step::Attach => "attach",
            Step::Verify => "verify",
            Step::Mount => "mount",
            Step::ShareModules => "share-modules",
            Step::Storage => "storage",
            Step::ConfigArchives => "config-archives",
            Step::IdentityFiles => "identity-files",
            Step::SwitchRoot => "switch-root",
        }
    }
}
