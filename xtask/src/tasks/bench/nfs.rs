//! The NFS bed: the exports of a cluster booting from NFS (a read-only root, `/clients`, and a
//! writable `/workers` with a directory per node) from one ganesha in a network namespace of
//! our own, with the portmapper initramfs-tools needs, booted by our init and by
//! initramfs-tools in turn.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;

use anyhow::{Context, Result};
use testbed::kernel::Kernel;
use testbed::{Export, NetNs, NfsServer, RootSpec, portmap};

use super::args::Args;
use super::baselines;
use super::ours::{self, Net, Ours};
use super::results::{SizeRow, Variant};

/// ganesha serving some exports in a network namespace of its own, where QEMU's user network
/// shows them on 10.0.2.2.
pub(super) struct Bed {
    // Dropped in this order: the server (and its portmapper) before the namespace it runs in.
    pub server: NfsServer,
    pub ns: NetNs,
}

impl Bed {
    pub fn start(tag: &str, exports: &[Export]) -> Result<Bed> {
        // klibc's nfsmount asks the portmapper on 10.0.2.2:111 for the NFS and MOUNT ports (it
        // rejects mountport=), so the baseline needs one answering on what the guest sees as
        // 10.0.2.2:111, that is 127.0.0.1:111 of QEMU's network namespace: the one ganesha
        // registered with answers there too. A private namespace keeps port 111 off the host.
        // ganesha resolves Bind_addr with AI_ADDRCONFIG, which needs a non-loopback address in
        // the namespace: a tap gives one.
        let ns = NetNs::new(tag).context("creating a network namespace (needs root)")?;
        ns.add_tap("bench0", "192.0.2.1/24")?;
        let mut server = ns
            .enter(|| NfsServer::start(exports))?
            .context("starting nfs-ganesha in the namespace")?;
        ns.enter(|| server.serve_portmap(SocketAddrV4::new(Ipv4Addr::LOCALHOST, portmap::PORT)))?
            .context("starting the portmapper")?;
        Ok(Bed { server, ns })
    }
}

/// What the NFS part measured.
#[derive(Debug, Default)]
pub(super) struct Rows {
    pub variants: Vec<Variant>,
    /// initramfs-tools' images.
    pub sizes: Vec<SizeRow>,
    /// What the initramfs-tools baseline asked the portmapper.
    pub portmap_queries: Vec<String>,
}

/// Our NFS boots and initramfs-tools', each on the same exports of one [`Bed`].
pub(super) fn run(args: &Args, kernel: &Kernel, ours: &Ours, out: &Path) -> Result<Rows> {
    let base = out.join("nfs");
    let _ = std::fs::remove_dir_all(&base);
    let clients = base.join("clients");
    let workers = base.join("workers");
    RootSpec::default().build(&clients)?;
    // diskless.persist=/etc/ssh needs the directory in the image, as tests/boot_nfs.rs has.
    std::fs::create_dir_all(clients.join("etc/ssh"))?;
    std::fs::write(clients.join("etc/ssh/ssh_host_ed25519_key"), "image key\n")?;
    std::fs::create_dir_all(workers.join("home"))?;

    let bed = Bed::start(
        "bench",
        &[
            Export::read_only(&clients, "/clients"),
            Export::read_write(&workers, "/workers"),
        ],
    )?;
    let mut rows = Rows::default();
    for (part, cpus, net) in [
        ("nfs", 1, Net::Static),
        ("smp2", 2, Net::Static),
        ("dhcp", 1, Net::Dhcp),
    ] {
        if args.runs(part) {
            let variant = ours::nfs(args, kernel, ours, &bed.ns, &bed.server, cpus, net)?;
            rows.variants.push(variant);
        }
    }
    if args.runs("itools") {
        for (variant, size) in baselines::initramfs_tools(args, kernel, out, &bed.ns)? {
            rows.sizes.extend(size);
            rows.variants.push(variant);
        }
        rows.portmap_queries = bed
            .server
            .portmap_queries()
            .iter()
            .map(ToString::to_string)
            .collect();
    }
    Ok(rows)
}
