//! `cargo xtask initrd`: build an initramfs image (see `xtask::initrd`).

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::PathBuf;
use xtask::initrd::{Compression, InitrdOptions};

const HELP: &str = "\
cargo xtask initrd [OPTIONS]

Builds the initramfs: [early microcode cpio] + compressed main cpio with /init,
/sbin/modprobe (-> /init), /dev/console, the repo's initramfs/ tree, kernel modules
and, optionally, a rescue shell. Same inputs give a byte-identical image; entries get
mtime $SOURCE_DATE_EPOCH (or 0).

Options:
  --output FILE         where to write the image [default: target/initrd.img]
  --init PATH           the init binary [default: build it for x86_64-unknown-linux-musl]
  --kernel              take modules from the Debian cloud kernel (cargo xtask kernel)
  --modules-dir DIR     take modules from DIR (a lib/modules/<kernel version> tree)
  --module NAME         also pack NAME and its dependencies (repeatable; must exist)
  --no-default-modules  pack only the --module names, not the default NIC/NFS/squashfs set
  --microcode PATH      CPU microcode file or directory, e.g. /lib/firmware/intel-ucode
                        (repeatable; goes uncompressed in front of the image)
  --compress ALGO       zstd (default), gzip or none
  --shell PATH          a static busybox for a rescue shell (bin/busybox, bin/sh, ...)
  -h, --help            this help
";

pub fn run(args: Vec<OsString>) -> Result<()> {
    use lexopt::prelude::*;
    let mut output: Option<PathBuf> = None;
    let mut init: Option<PathBuf> = None;
    let mut use_kernel = false;
    let mut modules_dir: Option<PathBuf> = None;
    let mut default_modules = true;
    let mut modules = Vec::new();
    let mut microcode = Vec::new();
    let mut compress = Compression::Zstd;
    let mut shell: Option<PathBuf> = None;

    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("output") | Short('o') => output = Some(parser.value()?.into()),
            Long("init") => init = Some(parser.value()?.into()),
            Long("kernel") => use_kernel = true,
            Long("modules-dir") => modules_dir = Some(parser.value()?.into()),
            Long("module") => modules.push(parser.value()?.string()?),
            Long("no-default-modules") => default_modules = false,
            Long("microcode") => microcode.push(parser.value()?.into()),
            Long("compress") => compress = parser.value()?.string()?.parse()?,
            Long("shell") => shell = Some(parser.value()?.into()),
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(());
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    if use_kernel && modules_dir.is_some() {
        bail!("--kernel and --modules-dir both name a module tree: give one");
    }
    if use_kernel {
        let kernel = xtask::kernel::ensure().context("fetching the kernel for --kernel")?;
        modules_dir = Some(kernel.modules_dir);
    }
    let init = match init {
        Some(path) => path,
        None => xtask::build::init_binary()?,
    };
    let output = output.unwrap_or_else(|| xtask::project_root().join("target").join("initrd.img"));

    let mut opts = InitrdOptions::new(init, output);
    opts.modules_dir = modules_dir;
    opts.default_modules = default_modules;
    opts.modules = modules;
    opts.microcode = microcode;
    opts.compress = compress;
    opts.shell = shell;
    opts.mtime = xtask::initrd::source_date_epoch()?;

    let summary = xtask::initrd::build(&opts)?;
    for warning in summary.warnings() {
        eprintln!("warning: {warning}");
    }
    print!("{summary}");
    Ok(())
}
