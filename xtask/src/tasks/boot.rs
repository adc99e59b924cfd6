//! `cargo xtask boot`: the demo. Builds the initrd and a small root image, serves the image
//! over HTTP on 127.0.0.1, boots the Debian cloud kernel in QEMU as a diskless node, shows
//! the node come up under its derived name, and powers it off.

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use testbed::{HttpServer, Nic, Qemu, RootSpec, rootfs::CHECKER_TAG};
use xtask::image::initrd::{self, InitrdOptions};

const HELP: &str = "\
cargo xtask boot: build an initrd and boot a diskless node with it in QEMU

usage: cargo xtask boot [--arch x86_64|arm64] [--mac MAC] [--hostname TEMPLATE] [--append ARGS] [--shell]

Builds the init and the initrd (Debian cloud kernel modules), builds a small busybox root
image (squashfs), serves it over HTTP on 127.0.0.1, and boots the kernel in QEMU (TCG) with
  BOOTIF=<mac> ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0
  root=live:http://10.0.2.2:<port>/root.squashfs diskless.sha256=<its hash>
The console shows the initramfs stage (every `diskless:` line) and the image's own init
reporting the node's name, address and machine-id; then the node powers off.

options:
  --arch ARCH          x86_64 (default) or arm64: an arm64 node on qemu-system-aarch64 -M virt,
                       with the init cross-built and Debian's arm64 cloud kernel
  --mac MAC            the node's MAC (default 52:54:00:12:34:56, named worker-64e59a)
  --hostname TEMPLATE  diskless.hostname= (default worker-{sha1:6}; try worker-node-{mac})
  --append ARGS        more kernel command line arguments
  --shell              put a busybox rescue shell in the initrd and pass rd.shell=1
  -h, --help           this text
";

/// The demo root's own /sbin/init: says who it is, then powers off.
const DEMO_INIT: &str = r#"#!/bin/busybox sh
# diskless testbed checker: the demo's init (the tag lets the test bed rebuild this tree).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
read UP IDLE </proc/uptime
echo
echo "=== diskless demo: the image's own /sbin/init runs as PID $$ at ${UP} s ==="
echo "host name:  $(hostname)"
echo "address:    $(ip -4 -o addr show scope global | awk '{print $2, $4}')"
echo "machine:    $(uname -m)"
echo "machine-id: $(cat /etc/machine-id)"
echo "root:       $(grep ' / ' /proc/mounts)"
echo "/etc/hosts:"
sed 's/^/  /' /etc/hosts
echo "the initramfs stage (dmesg | grep diskless:):"
dmesg | grep 'diskless:' | sed 's/^/  /'
echo "=== boot record in /run/diskless/boot.json; powering off ==="
poweroff -f
"#;

struct Args {
    arch: testbed::Arch,
    mac: String,
    hostname: Option<String>,
    append: String,
    shell: bool,
}

fn parse(args: Vec<OsString>) -> Result<Option<Args>> {
    use lexopt::prelude::*;
    let mut parsed = Args {
        arch: testbed::Arch::X86_64,
        mac: "52:54:00:12:34:56".to_owned(),
        hostname: None,
        append: String::new(),
        shell: false,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("arch") => parsed.arch = testbed::Arch::parse(&parser.value()?.string()?)?,
            Long("mac") => parsed.mac = parser.value()?.string()?,
            Long("hostname") => parsed.hostname = Some(parser.value()?.string()?),
            Long("append") => parsed.append = parser.value()?.string()?,
            Long("shell") => parsed.shell = true,
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(Some(parsed))
}

pub fn run(args: Vec<OsString>) -> Result<()> {
    let Some(args) = parse(args)? else {
        print!("{HELP}");
        return Ok(());
    };
    let mac: diskless::identity::Mac = args
        .mac
        .parse()
        .with_context(|| format!("--mac {}", args.mac))?;
    super::prereqs::ensure()?;

    let arch = args.arch;
    let kernel = testbed::kernel::ensure_for(arch).context("fetching the Debian cloud kernel")?;
    let init = xtask::build::init_binary_for(arch)?;
    let dir = xtask::project_root()
        .join("target")
        .join(format!("demo-{}", arch.name()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let initrd_path = dir.join("initrd.img");
    let mut options = InitrdOptions::new(init, initrd_path.clone());
    options.modules_dir = Some(kernel.modules_dir.clone());
    options.arch = Some(arch);
    if args.shell {
        options.shell = Some(testbed::rootfs::busybox_for(arch)?);
    }
    let summary = initrd::build(&options)?;
    println!("{summary}");

    let spec = RootSpec {
        init: Some(DEMO_INIT.to_owned()),
        ..RootSpec::for_arch(arch)?
    };
    debug_assert!(
        DEMO_INIT
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with(CHECKER_TAG))
    );
    let image = dir.join("root.squashfs");
    spec.build(dir.join("root"))
        .context("building the demo root tree")?
        .squashfs(&image)?;
    let bytes = std::fs::read(&image).with_context(|| format!("reading {}", image.display()))?;
    let sha256 = xtask::sha256_hex(&bytes);
    println!(
        "root image: {} ({} bytes, sha256 {sha256})",
        image.display(),
        bytes.len()
    );

    let server = HttpServer::serve_files([("root.squashfs".to_owned(), bytes)].into())
        .context("starting the HTTP server")?;
    let bootif = format!("BOOTIF=01-{}", mac.to_string().replace(':', "-"));
    let mut append = format!(
        "{bootif} ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0 root=live:{} diskless.sha256={sha256}",
        server.url_for("root.squashfs")
    );
    if let Some(template) = &args.hostname {
        append.push_str(&format!(" diskless.hostname={template}"));
    }
    if args.shell {
        append.push_str(" rd.shell=1");
    }
    if !args.append.is_empty() {
        append.push(' ');
        append.push_str(&args.append);
    }
    println!("booting {} with: {append}\n", kernel.vmlinuz.display());
    let log = Qemu::new(&kernel.vmlinuz, &initrd_path)
        .arch(arch)
        .name(&format!("demo-{}", arch.name()))
        .append(&append)
        .nic_with(Nic::new(&mac.to_string()))
        .timeout(Duration::from_secs(180))
        .echo(true)
        .run()?;
    println!("\nconsole log: {}", log.log_path.display());
    if !log.contains("=== diskless demo: the image's own /sbin/init runs") {
        bail!("the node did not reach its root's init ({})", log.outcome());
    }
    if let (Some(start), Some(end)) = (
        log.time_of("Run /init as init process"),
        log.time_of("switching root to"),
    ) {
        println!(
            "initramfs stage (host clock, console lines): {:.2} s",
            end - start
        );
    }
    Ok(())
}
