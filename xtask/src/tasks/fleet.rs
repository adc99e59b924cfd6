//! `cargo xtask fleet INVENTORY`: what the boot server needs for a list of nodes (dnsmasq
//! `dhcp-host=` lines, `pxelinux.cfg/01-<mac>` entries, an iPXE script); the work is the
//! pure [`xtask::fleet`].

use anyhow::{Context, Result, bail};
use diskless::identity::HostnameTemplate;
use std::ffi::OsString;
use std::io::Read as _;
use std::path::PathBuf;

use xtask::fleet::{self, Options};

const HELP: &str = "\
cargo xtask fleet: boot-server files for an inventory of nodes

usage: cargo xtask fleet [options] INVENTORY    (INVENTORY `-` reads stdin)

The inventory has a line per node: `MAC [NAME|-] [IPv4]` (blank lines and # comments
skipped). Without a name the node is named by the template, as the init names itself;
with one, the node takes the name DHCP gives it (diskless.hostname=dhcp), which is that
name. Writes into the output directory:
  dnsmasq-hosts.conf            dhcp-host=<mac>[,<ip>],<name> per node (conf-file= it)
  pxelinux.cfg/01-<mac>         each node's pxelinux entry (SYSAPPEND 2 adds BOOTIF=)
  boot.ipxe                     one iPXE script with a label per MAC
and prints `MAC  NAME  ADDRESS` per node. Duplicate MACs, names shared by different MACs
and addresses given twice are reported on stderr as WARNING lines (the files are written;
a MAC listed twice keeps its first line).

options:
  -t, --template T   host name template (default: worker-{sha1:6}; see `cargo xtask hostname`)
  -a, --append ARGS  kernel arguments for every node (default: ip=dhcp)
      --kernel PATH  the kernel as pxelinux/iPXE fetch it (default: vmlinuz)
      --initrd PATH  the initramfs likewise (default: diskless.img)
  -o, --out DIR      output directory (default: target/fleet)
  -h, --help         this text
";

pub fn run(args: Vec<OsString>) -> Result<()> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut template = HostnameTemplate::DEFAULT.to_owned();
    let mut append = "ip=dhcp".to_owned();
    let mut kernel = "vmlinuz".to_owned();
    let mut initrd = "diskless.img".to_owned();
    let mut out = xtask::project_root().join("target").join("fleet");
    let mut inventory: Option<OsString> = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(());
            }
            Short('t') | Long("template") => template = parser.value()?.string()?,
            Short('a') | Long("append") => append = parser.value()?.string()?,
            Long("kernel") => kernel = parser.value()?.string()?,
            Long("initrd") => initrd = parser.value()?.string()?,
            Short('o') | Long("out") => out = PathBuf::from(parser.value()?),
            Value(path) if inventory.is_none() => inventory = Some(path),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let Some(inventory) = inventory else {
        bail!("no inventory given; see --help");
    };
    let text = if inventory == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the inventory from stdin")?;
        text
    } else {
        std::fs::read_to_string(&inventory)
            .with_context(|| format!("reading the inventory {}", inventory.to_string_lossy()))?
    };
    let options = Options {
        template: HostnameTemplate::parse(&template)?,
        append,
        kernel,
        initrd,
    };
    let fleet = fleet::generate(&text, &options)?;
    for (name, contents) in &fleet.files {
        let path = out.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    for node in &fleet.nodes {
        println!(
            "{}  {}  {}",
            node.mac,
            node.name,
            node.address.map_or("-".to_owned(), |a| a.to_string())
        );
    }
    println!("wrote {} files into {}", fleet.files.len(), out.display());
    for warning in &fleet.warnings {
        eprintln!("{warning}");
    }
    Ok(())
}
