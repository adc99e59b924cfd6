//! `cargo xtask initrd`: build an initramfs image (see `xtask::image::initrd`).

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use xtask::image::initrd::{Compression, InitrdOptions};
use xtask::image::trust::Trust;

const HELP: &str = "\
cargo xtask initrd [OPTIONS]

Builds the initramfs: [early microcode cpio] + compressed main cpio with /init,
/sbin/modprobe (-> /init), /dev/console, the repo's initramfs/ tree, kernel modules
and, optionally, a rescue shell. Same inputs give a byte-identical image; entries get
mtime $SOURCE_DATE_EPOCH (or 0).

Options:
  --output FILE         where to write the image [default: target/initrd.img]
  --arch ARCH           x86_64 (default) or arm64: the init is built for it, and the init
                        and the modules must match it
  --init PATH           the init binary [default: build it for ARCH's musl target]
  --kernel              take modules from the Debian cloud kernel of ARCH (cargo xtask kernel)
  --modules-dir DIR     take modules from DIR (a lib/modules/<kernel version> tree)
  --module NAME         also pack NAME and its dependencies (repeatable; must exist)
  --no-default-modules  pack only the --module names, not the default NIC/NFS/squashfs set
  --microcode PATH      CPU microcode file or directory, e.g. /lib/firmware/intel-ucode
                        (repeatable; goes uncompressed in front of the image)
  --compress ALGO       zstd (default), gzip or none
  --shell PATH          a static busybox for a rescue shell (bin/busybox, bin/sh, ...)
  --clock-floor SECS    the node's clock is never earlier than this (seconds since 1970;
                        etc/diskless/clock-floor) [default: $SOURCE_DATE_EPOCH, else the
                        init binary's build time]
  -h, --help            this help

What the node trusts when it fetches its root image (see the README, Fetching images safely):
  --ca FILE             PEM bundle of the CAs an https image server must chain to
                        (etc/diskless/ca.pem); without it the node cannot use https
  --client-cert FILE    the node's client certificate (PEM chain) for servers that ask
  --client-key FILE     its private key (PEM; mode 0600 in the image, gone after switch_root)
  --image FILE          pin the root image: its sha256 goes into etc/diskless/image.sha256
                        and overrides diskless.sha256= and whatever URL the command line names
  --image-sha256 HEX    pin by hash instead of by file
  --verity-roothash HEX pin the dm-verity root hash of a block device root (root=nbd:;
                        cargo xtask verity prints it): etc/diskless/verity.roothash, which
                        overrides diskless.verity=
  --config-key FILE     a minisign public key (.pub): every configuration archive
                        (diskless.config=, apkovl=) must then be signed by it (<url>.minisig)
  --image-sha256 HEX    pin by hash instead of by file; for root=oci: the manifest's digest
                        (cargo xtask push prints it)
  --registry-auth FILE  registry logins for root=oci: (Docker's or podman's auth.json:
                        {\"auths\": {\"<host>\": {\"auth\": \"<base64 user:password>\"}}}; mode 0600
                        in the image, gone after switch_root), for Basic and token logins.
                        A key <host[:port]> or https://<host[:port]> is for https only; a
                        plain-http registry gets a login only where the key says http://
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
    let mut ca: Option<PathBuf> = None;
    let mut client_cert: Option<PathBuf> = None;
    let mut client_key: Option<PathBuf> = None;
    let mut pin_image: Option<PathBuf> = None;
    let mut pin_hex: Option<String> = None;
    let mut config_key: Option<PathBuf> = None;
    let mut registry_auth: Option<PathBuf> = None;
    let mut verity_hex: Option<String> = None;
    let mut clock_floor: Option<u64> = None;
    let mut arch: Option<testbed::Arch> = None;

    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("output") | Short('o') => output = Some(parser.value()?.into()),
            Long("init") => init = Some(parser.value()?.into()),
            Long("kernel") => use_kernel = true,
            Long("arch") => arch = Some(testbed::Arch::parse(&parser.value()?.string()?)?),
            Long("modules-dir") => modules_dir = Some(parser.value()?.into()),
            Long("module") => modules.push(parser.value()?.string()?),
            Long("no-default-modules") => default_modules = false,
            Long("microcode") => microcode.push(parser.value()?.into()),
            Long("compress") => compress = parser.value()?.string()?.parse()?,
            Long("shell") => shell = Some(parser.value()?.into()),
            Long("ca") => ca = Some(parser.value()?.into()),
            Long("client-cert") => client_cert = Some(parser.value()?.into()),
            Long("client-key") => client_key = Some(parser.value()?.into()),
            Long("image") => pin_image = Some(parser.value()?.into()),
            Long("image-sha256") => pin_hex = Some(parser.value()?.string()?),
            Long("config-key") => config_key = Some(parser.value()?.into()),
            Long("registry-auth") => registry_auth = Some(parser.value()?.into()),
            Long("verity-roothash") => verity_hex = Some(parser.value()?.string()?),
            Long("clock-floor") => {
                let value = parser.value()?.string()?;
                clock_floor = Some(value.parse().with_context(|| {
                    format!("--clock-floor {value:?}: expected seconds since 1970-01-01")
                })?);
            }
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
        let kernel = testbed::kernel::ensure_for(arch.unwrap_or_default())
            .context("fetching the kernel for --kernel")?;
        modules_dir = Some(kernel.modules_dir);
    }
    let mut trust = trust_options(ca, client_cert, client_key, pin_image, pin_hex)?;
    trust.config_key = config_key
        .map(|p| read(&p, "configuration key"))
        .transpose()?;
    trust.verity_pin = verity_hex
        .map(|hex| {
            diskless::hex::parse_sha256(hex.trim())
                .map_err(|e| anyhow::anyhow!("--verity-roothash {hex:?}: {e}"))
        })
        .transpose()?;
    let init = match init {
        Some(path) => path,
        None => xtask::build::init_binary_for(arch.unwrap_or_default())?,
    };
    let output = output.unwrap_or_else(|| xtask::project_root().join("target").join("initrd.img"));

    let mut opts = InitrdOptions::new(init, output);
    opts.modules_dir = modules_dir;
    opts.default_modules = default_modules;
    opts.modules = modules;
    opts.microcode = microcode;
    opts.compress = compress;
    opts.shell = shell;
    opts.files = trust.files()?;
    if let Some(path) = &registry_auth {
        let file = xtask::image::registry_auth::registry_auth_file(&read(path, "registry logins")?)
            .with_context(|| format!("--registry-auth {}", path.display()))?;
        opts.files.push(file);
    }
    opts.mtime = xtask::image::initrd::source_date_epoch()?;
    opts.clock_floor = clock_floor;
    opts.arch = arch;

    let summary = xtask::image::initrd::build(&opts)?;
    for warning in summary.warnings() {
        eprintln!("warning: {warning}");
    }
    print!("{summary}");
    if let Some((sha, name)) = &trust.pin {
        println!(
            "pinned:    sha256 {}{}",
            diskless::hex::encode(sha),
            name.as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
    }
    if let Some(root_hash) = &trust.verity_pin {
        println!("verity:    root hash {}", diskless::hex::encode(root_hash));
    }
    if trust.config_key.is_some() {
        println!("archives:  signed by the --config-key key (<url>.minisig)");
    }
    if registry_auth.is_some() {
        println!("registry:  logins from --registry-auth");
    }
    if trust.ca_pem.is_some() {
        println!(
            "https:     CA bundle{}",
            if trust.client.is_some() {
                ", client certificate and key"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))
}

fn trust_options(
    ca: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    pin_image: Option<PathBuf>,
    pin_hex: Option<String>,
) -> Result<Trust> {
    let client = match (client_cert, client_key) {
        (Some(cert), Some(key)) => Some((
            read(&cert, "client certificate")?,
            read(&key, "client key")?,
        )),
        (None, None) => None,
        _ => bail!("--client-cert and --client-key go together"),
    };
    let pin = match (pin_image, pin_hex) {
        (Some(_), Some(_)) => bail!("--image and --image-sha256 both pin the image: give one"),
        (Some(image), None) => {
            let sha = xtask::image::trust::sha256_of_file(&image)?;
            let name = image.file_name().map(|n| n.to_string_lossy().into_owned());
            Some((sha, name))
        }
        (None, Some(hex)) => Some((
            diskless::hex::parse_sha256(hex.trim())
                .map_err(|e| anyhow::anyhow!("--image-sha256 {hex:?}: {e}"))?,
            None,
        )),
        (None, None) => None,
    };
    Ok(Trust {
        ca_pem: ca.map(|p| read(&p, "CA bundle")).transpose()?,
        client,
        pin,
        config_key: None,
        verity_pin: None,
    })
}
