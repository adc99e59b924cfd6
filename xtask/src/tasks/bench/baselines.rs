//! The baselines: Debian's initramfs-tools (NFS root, klibc) and dracut (livenet, squashfs
//! over HTTP), built on this machine and booted on the same kernel, root and QEMU as ours,
//! each in its stock network-boot configuration: mkinitramfs with BOOT=nfs, dracut
//! `--no-hostonly` with livenet.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use testbed::kernel::Kernel;
use testbed::{HttpServer, NetNs, Nic, Qemu};
use xshell::{Shell, cmd};

use super::args::{Args, only};
use super::guest::{BOOT_TIMEOUT, MAC, smp_note, with_cpus};
use super::measure::boot_n;
use super::ours;
use super::results::{SizeRow, Variant};

/// initramfs-tools and dracut (the baselines), curl and /usr/bin/time (the fetch comparison)
/// come from scripts/install-deps.sh, which prereqs::ensure only runs for the test bed's own
/// tools.
pub(super) fn ensure_tools() -> Result<()> {
    let have = |path: &str| Path::new(path).exists();
    // initramfs-tools-core has mkinitramfs; the hooks that make a bootable image (udev, kmod,
    // klibc-utils) come with initramfs-tools itself.
    let missing = !have("/usr/share/initramfs-tools/hooks/klibc-utils")
        || !have("/usr/bin/curl")
        || !have("/usr/bin/time")
        || !have("/usr/sbin/depmod")
        || !have("/usr/bin/dracut")
        || !have("/usr/lib/dracut/modules.d/90livenet");
    if !missing {
        return Ok(());
    }
    let script = xtask::project_root()
        .join("scripts")
        .join("install-deps.sh");
    println!(
        "bench: installing initramfs-tools, curl and time with {}",
        script.display()
    );
    let sh = Shell::new()?;
    cmd!(sh, "bash {script}")
        .run()
        .context("installing the benchmark's prerequisites (needs root)")?;
    Ok(())
}

/// initramfs-tools' command line for its NFS root: the `/clients` export of the NFS bed over
/// NFSv3 and TCP, the address by DHCP (klibc ipconfig); `rd.emergency` means nothing to it.
pub(super) const ITOOLS_CMDLINE: &str = "root=/dev/nfs nfsroot=10.0.2.2:/clients,tcp,v3 ip=dhcp";

/// initramfs-tools with MODULES=netboot and MODULES=most, BOOT=nfs, booting the NFS root that
/// the NFS bed serves in `ns`; klibc finds the ports through the portmapper there.
pub(super) fn initramfs_tools(
    args: &Args,
    kernel: &Kernel,
    out: &Path,
    ns: &NetNs,
) -> Result<Vec<(Variant, Option<SizeRow>)>> {
    let mut rows = Vec::new();
    let mut runs = vec![("netboot", 1), ("most", 1)];
    if args.runs("smp2") {
        runs.push(("netboot", 2));
    }
    for (modules, cpus) in runs {
        let (image, size) = itools_image(args, kernel, out, modules)?;
        let mut variant = Variant::new(
            &with_cpus(&format!("itools-{modules}"), cpus),
            format!(
                "initramfs-tools MODULES={modules}, BOOT=nfs, NFSv3 (klibc){}",
                smp_note(cpus)
            ),
            format!(
                "{}  # mkinitramfs MODULES={modules}; append: {ITOOLS_CMDLINE}",
                only(&["itools"])
            ),
        );
        boot_n(args, &mut variant, |name| {
            let qemu = Qemu::new(&kernel.vmlinuz, &image)
                .name(name)
                .cpus(cpus)
                .append(ITOOLS_CMDLINE)
                .nic_with(Nic::new(MAC))
                .timeout(BOOT_TIMEOUT);
            Ok(ns.qemu(qemu)?)
        })?;
        if cpus == 1 {
            rows.push((variant, Some(size)));
        } else {
            rows.push((variant, None));
        }
    }
    Ok(rows)
}

/// initramfs-tools' image with MODULES=`modules` (the configuration of [`mkinitramfs`]),
/// built unless this run built it already.
pub(super) fn itools_image(
    args: &Args,
    kernel: &Kernel,
    out: &Path,
    modules: &str,
) -> Result<(PathBuf, SizeRow)> {
    install_kernel_for_mkinitramfs(kernel)?;
    let image = out.join(format!("initrd-itools-{modules}.img"));
    let size = if args.built_this_run(&image) {
        size_row(
            format!("initramfs-tools MODULES={modules}, zstd -9"),
            &image,
        )?
    } else {
        mkinitramfs(kernel, out, modules, &image)?
    };
    Ok((image, size))
}

/// dracut's livenet (with systemd, the image dracut builds by default here) fetching the
/// checker squashfs over HTTP: the image of [`dracut_image`], booted with [`dracut_cmdline`].
pub(super) fn dracut(args: &Args, kernel: &Kernel, out: &Path) -> Result<(Variant, SizeRow)> {
    let (image, size) = dracut_image(args, kernel, out)?;
    let root = ours::squashfs_image(out, 0)?;
    let name = root
        .file_name()
        .and_then(|n| n.to_str())
        .context("image name")?
        .to_owned();
    let server = HttpServer::serve_dir(out).context("starting the HTTP server")?;
    let cmdline = dracut_cmdline(&server.url_for(&name));
    let mut variant = Variant::new(
        "dracut-livenet",
        "dracut 059 livenet + systemd, squashfs over HTTP (0.9 MiB image)".to_owned(),
        format!("{}  # append: {cmdline}", only(&["dracut"])),
    );
    boot_n(args, &mut variant, |log_name| {
        Ok(Qemu::new(&kernel.vmlinuz, &image)
            .name(log_name)
            .append(&cmdline)
            .nic_with(Nic::new(MAC))
            .timeout(BOOT_TIMEOUT))
    })?;
    Ok((variant, size))
}

/// dracut livenet's command line for a squashfs at `url`: the image is the root itself (no
/// LiveOS/rootfs.img inside), under an overlayfs so that the root is writable.
pub(super) fn dracut_cmdline(url: &str) -> String {
    format!("root=live:{url} rd.live.overlay.overlayfs=1 ip=dhcp rd.neednet=1")
}

/// dracut's livenet image, built unless this run built it already.
pub(super) fn dracut_image(args: &Args, kernel: &Kernel, out: &Path) -> Result<(PathBuf, SizeRow)> {
    install_kernel_for_mkinitramfs(kernel)?;
    let image = out.join("initrd-dracut-livenet.img");
    let what = "dracut livenet (systemd), zstd -15".to_owned();
    if args.built_this_run(&image) {
        return Ok((image.clone(), size_row(what, &image)?));
    }
    let sh = Shell::new()?;
    let version = &kernel.version;
    // network-legacy: with systemd installed dracut 059 picks systemd-networkd, which never
    // runs livenet's netroot hook (dracutdevs/dracut#1822); dhclient does.
    cmd!(
        sh,
        "dracut --force --no-hostonly --zstd --add 'network-legacy livenet dmsquash-live' --kver {version} {image}"
    )
    .run()
    .context("running dracut (apt-get install dracut-core dracut-network dracut-live)")?;
    let size = size_row(what, &image)?;
    Ok((image, size))
}

/// A baseline image's row in the size table.
fn size_row(what: String, image: &Path) -> Result<SizeRow> {
    Ok(SizeRow {
        what,
        image: std::fs::metadata(image)?.len(),
        cpio: uncompressed_len(&Shell::new()?, image),
        init: 0,
        modules: 0,
        module_count: 0,
    })
}

/// mkinitramfs reads modules from `/lib/modules/<kver>` and the kernel's config from /boot: the
/// test kernel's modules are copied there (and depmod run), its config and System.map to
/// /boot; the kernel package itself is never installed.
fn install_kernel_for_mkinitramfs(kernel: &Kernel) -> Result<()> {
    let sh = Shell::new()?;
    let version = &kernel.version;
    let system = PathBuf::from("/lib/modules").join(version);
    if !system.join("modules.dep").is_file() {
        let from = &kernel.modules_dir;
        std::fs::create_dir_all("/lib/modules")?;
        cmd!(sh, "cp -a {from} {system}")
            .run()
            .context("copying the kernel's modules to /lib/modules")?;
        cmd!(sh, "depmod {version}").run()?;
    }
    let boot_dir = kernel
        .vmlinuz
        .parent()
        .context("the kernel image has no directory")?;
    std::fs::create_dir_all("/boot")?;
    for file in ["config", "System.map"] {
        let name = format!("{file}-{version}");
        let src = boot_dir.join(&name);
        let dest = Path::new("/boot").join(&name);
        if src.is_file() && !dest.is_file() {
            std::fs::copy(&src, &dest).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
}

/// initramfs-tools' stock configuration for an NFS root (BOOT=nfs, busybox, zstd), with
/// MODULES=`modules` and no extra modules, hooks or scripts.
fn mkinitramfs(kernel: &Kernel, out: &Path, modules: &str, image: &Path) -> Result<SizeRow> {
    let conf = out.join(format!("itools-conf-{modules}"));
    let _ = std::fs::remove_dir_all(&conf);
    for sub in ["conf.d", "hooks", "scripts"] {
        std::fs::create_dir_all(conf.join(sub))?;
    }
    std::fs::write(conf.join("modules"), "")?;
    std::fs::write(
        conf.join("initramfs.conf"),
        format!(
            "MODULES={modules}\nBUSYBOX=auto\nKEYMAP=n\nCOMPRESS=zstd\nDEVICE=\nNFSROOT=auto\n\
             RUNSIZE=10%\nFSTYPE=auto\nBOOT=nfs\n"
        ),
    )?;
    let sh = Shell::new()?;
    let version = &kernel.version;
    cmd!(sh, "mkinitramfs -d {conf} -o {image} {version}")
        .run()
        .context("running mkinitramfs")?;
    size_row(format!("initramfs-tools MODULES={modules}, zstd -9"), image)
}

/// The size of a zstd image's cpio (0 when zstd cannot read it).
fn uncompressed_len(sh: &Shell, image: &Path) -> u64 {
    cmd!(sh, "zstd -dc {image}")
        .quiet()
        .output()
        .map(|o| o.stdout.len() as u64)
        .unwrap_or(0)
}
