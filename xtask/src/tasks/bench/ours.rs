//! Our side: the images `cargo xtask initrd` builds by default, and our init's boots of the
//! checker root as a squashfs over HTTP (small, and padded to 256 MiB) and over NFS.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use testbed::kernel::Kernel;
use testbed::{HttpServer, NetNs, NfsServer, Nic, Qemu, RootSpec};
use xshell::{Shell, cmd};
use xtask::image::initrd::{self, Compression, InitrdOptions};
use xtask::image::trust;

use super::args::{Args, only};
use super::guest::{BOOT_TIMEOUT, BOOTIF, MAC, STATIC_IP, smp_note, with_cpus};
use super::measure::boot_n;
use super::random::write_random;
use super::results::{SizeRow, Variant};
use super::stats::MIB;

/// How our node configures its network: pxelinux's static `ip=` (`SYSAPPEND 1`, as an NFS-root
/// cluster booted by pxelinux gets it), or DHCP from QEMU's user network, as the baselines do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Net {
    Static,
    Dhcp,
}

impl Net {
    /// The label's suffix: `diskless-nfs-dhcp`.
    fn suffix(self) -> &'static str {
        match self {
            Net::Static => "",
            Net::Dhcp => "-dhcp",
        }
    }

    fn note(self) -> &'static str {
        match self {
            Net::Static => "",
            Net::Dhcp => ", ip=dhcp",
        }
    }
}

/// Our images, built once for every boot.
pub(super) struct Ours {
    /// The zstd image, the one nodes boot.
    pub initrd: PathBuf,
}

/// Builds the production image (default modules, no rescue shell; the tests add busybox)
/// with zstd and with gzip, and adds their sizes to `sizes`.
pub(super) fn build(
    kernel: &Kernel,
    init: &Path,
    out: &Path,
    sizes: &mut Vec<SizeRow>,
) -> Result<Ours> {
    let mut built = Vec::new();
    for compression in [Compression::Zstd, Compression::Gzip] {
        let path = out.join(format!("initrd-diskless-{compression}.img"));
        let mut options = InitrdOptions::new(init.to_owned(), path.clone());
        options.modules_dir = Some(kernel.modules_dir.clone());
        options.compress = compression;
        let summary =
            initrd::build(&options).with_context(|| format!("building {}", path.display()))?;
        built.push((path, summary));
    }
    for (_, summary) in &built {
        sizes.push(SizeRow {
            what: format!("diskless, {}", summary.compression),
            image: summary.image_bytes,
            cpio: summary.main_cpio_bytes,
            init: summary.init_bytes,
            modules: summary.modules.iter().map(|(_, b)| *b).sum(),
            module_count: summary.modules.len(),
        });
    }
    let (initrd, _) = built
        .into_iter()
        .next()
        .context("the zstd image was not built")?;
    Ok(Ours { initrd })
}

/// The checker root, optionally padded with `pad` bytes of seeded random data, as a squashfs
/// (also what the dracut baseline fetches).
pub(super) fn squashfs_image(out: &Path, pad: u64) -> Result<PathBuf> {
    let name = if pad == 0 {
        "root".to_owned()
    } else {
        format!("root-{}m", pad / MIB)
    };
    let tree = out.join(format!("{name}.tree"));
    let image = out.join(format!("{name}.squashfs"));
    if pad > 0 && image.is_file() {
        // Same seed, same checker: the slow pack of an earlier run is still right.
        return Ok(image);
    }
    let root = RootSpec::default().build(&tree)?;
    if pad == 0 {
        root.squashfs(&image)?;
        return Ok(image);
    }
    let pad_file = tree.join("pad.bin");
    write_random(&pad_file, pad)?;
    // mksquashfs rather than the test bed's in-process writer: zstd -15 over 256 MiB of
    // incompressible bytes takes minutes on one core for nothing. -noD stores data blocks
    // uncompressed, which random bytes would end up as anyway.
    let sh = Shell::new()?;
    let tmp = image.with_extension("squashfs.tmp");
    cmd!(
        sh,
        "mksquashfs {tree} {tmp} -noappend -all-root -comp zstd -noD -quiet"
    )
    .run()
    .context("packing the padded squashfs (apt-get install squashfs-tools)")?;
    std::fs::rename(&tmp, &image)?;
    Ok(image)
}

/// Our init fetching the checker root over HTTP: the small image, or (`big`) the one padded
/// to 256 MiB, with `-m 2048`; on `cpus` vCPUs.
pub(super) fn squashfs(
    args: &Args,
    kernel: &Kernel,
    ours: &Ours,
    out: &Path,
    big: bool,
    cpus: u32,
    net: Net,
) -> Result<Variant> {
    let pad = if big { 256 * MIB } else { 0 };
    let image = squashfs_image(out, pad)?;
    let sha = diskless::hex::encode(&trust::sha256_of_file(&image)?);
    let name = image
        .file_name()
        .and_then(|n| n.to_str())
        .context("image name")?
        .to_owned();
    let server = HttpServer::serve_dir(out).context("starting the HTTP server")?;
    let size = std::fs::metadata(&image)?.len();
    let memory = if big { 2048 } else { 1024 };
    let ip = match net {
        Net::Static => STATIC_IP,
        Net::Dhcp => "ip=dhcp",
    };
    let cmdline = format!(
        "{BOOTIF} {ip} root=live:{} diskless.sha256={sha} rd.emergency=poweroff",
        server.url_for(&name)
    );
    let part = match (big, cpus, net) {
        (true, _, _) => "squashfs-256",
        (false, _, Net::Dhcp) => "dhcp",
        (false, 1, _) => "squashfs",
        (false, _, _) => "smp2",
    };
    let label = with_cpus(
        if big {
            "diskless-squashfs-256m"
        } else {
            "diskless-squashfs"
        },
        cpus,
    );
    let mut variant = Variant::new(
        &format!("{label}{}", net.suffix()),
        format!(
            "ours, squashfs over HTTP{} ({:.1} MiB image, -m {memory}{}{})",
            // The big image's fetch measures QEMU's user-mode network; see the tap rows.
            if big { " via slirp" } else { "" },
            size as f64 / MIB as f64,
            smp_note(cpus),
            net.note()
        ),
        format!("{}  # append: {cmdline}", only(&[part])),
    );
    boot_n(args, &mut variant, |log_name| {
        Ok(Qemu::new(&kernel.vmlinuz, &ours.initrd)
            .name(log_name)
            .memory_mb(memory)
            .cpus(cpus)
            .append(&cmdline)
            .nic_with(Nic::new(MAC))
            .timeout(BOOT_TIMEOUT))
    })?;
    Ok(variant)
}

/// Our init on a read-only NFS root with a per-node directory, from `server` in `ns`
/// (the NFS bed sets both up).
pub(super) fn nfs(
    args: &Args,
    kernel: &Kernel,
    ours: &Ours,
    ns: &NetNs,
    server: &NfsServer,
    cpus: u32,
    net: Net,
) -> Result<Variant> {
    let v3 = server.v3_options();
    let v4 = server.v4_options();
    // pxelinux appends its static ip= after the config's ip=dhcp; without it DHCP stays.
    let appended = match net {
        Net::Static => STATIC_IP,
        Net::Dhcp => "",
    };
    // An NFS-root cluster's line (read-only root, the node's own directory, /home, host keys
    // kept), as tests/boot_nfs.rs adapts it to the test network.
    let cmdline = format!(
        "root=/dev/nfs nfsroot=10.0.2.2:/clients,ro,{v3} ip=dhcp {BOOTIF} {appended} \
         diskless.hostname=worker-node-{{mac}} diskless.node=10.0.2.2:/workers,{v4} \
         diskless.mount=10.0.2.2:/workers/home,/home,{v4} diskless.persist=/etc/ssh \
         rd.emergency=poweroff"
    );
    let part = match (cpus, net) {
        (_, Net::Dhcp) => "dhcp",
        (1, _) => "nfs",
        _ => "smp2",
    };
    let mut variant = Variant::new(
        &format!("{}{}", with_cpus("diskless-nfs", cpus), net.suffix()),
        format!(
            "ours, NFSv3 root + NFSv4.1 per-node dir{}{}",
            smp_note(cpus),
            net.note()
        ),
        format!("{}  # append: {cmdline}", only(&[part])),
    );
    boot_n(args, &mut variant, |name| {
        let qemu = Qemu::new(&kernel.vmlinuz, &ours.initrd)
            .name(name)
            .cpus(cpus)
            .append(&cmdline)
            .nic_with(Nic::new(MAC))
            .timeout(BOOT_TIMEOUT);
        Ok(ns.qemu(qemu)?)
    })?;
    Ok(variant)
}
