//! What the demo and the tests need on the machine, installed on first use so that the
//! README's two commands work on a fresh Debian machine.

use anyhow::{Context, Result, bail};
use std::path::Path;
use xshell::{Shell, cmd};

/// Files the demo, the tests and the bench need, and the Debian package that brings each
/// (scripts/install-deps.sh installs them all, and more).
const TOOLS: [(&str, &str); 13] = [
    ("/usr/bin/qemu-system-x86_64", "qemu-system-x86"),
    ("/usr/bin/qemu-system-aarch64", "qemu-system-arm"),
    ("/usr/bin/aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ("/usr/sbin/chronyd", "chrony"),
    ("/usr/bin/musl-gcc", "musl-tools"),
    ("/bin/busybox", "busybox-static"),
    ("/usr/bin/cpio", "cpio"),
    ("/usr/bin/unmkinitramfs", "initramfs-tools-core"),
    ("/usr/bin/file", "file"),
    ("/usr/bin/ganesha.nfsd", "nfs-ganesha"),
    ("/usr/sbin/dnsmasq", "dnsmasq-base"),
    ("/usr/lib/PXELINUX/pxelinux.0", "pxelinux"),
    ("/usr/sbin/mkinitramfs", "initramfs-tools"),
];

/// Installs the missing prerequisites with `scripts/install-deps.sh` (as root), or says
/// exactly what to run.
pub fn ensure() -> Result<()> {
    let missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .map(|(_, pkg)| *pkg)
        .collect();
    let sh = Shell::new()?;
    let targets = cmd!(sh, "rustup target list --installed")
        .quiet()
        .read()
        .unwrap_or_default();
    let musl_target = testbed::Arch::ALL
        .iter()
        .all(|arch| targets.lines().any(|t| t.trim() == arch.rust_target()));
    if missing.is_empty() && musl_target {
        return Ok(());
    }
    let script = xtask::project_root()
        .join("scripts")
        .join("install-deps.sh");
    let what = if missing.is_empty() {
        "the musl targets".to_owned()
    } else {
        missing.join(", ")
    };
    if is_root() {
        println!(
            "installing missing prerequisites ({what}) with {}",
            script.display()
        );
        cmd!(sh, "bash {script}")
            .run()
            .context("installing prerequisites")?;
        return Ok(());
    }
    bail!(
        "missing prerequisites ({what}); install them with: sudo bash {}",
        script.display()
    )
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    Path::new("/proc/self")
        .metadata()
        .is_ok_and(|m| m.uid() == 0)
}
