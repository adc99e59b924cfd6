//! `cargo xtask bench`'s options: which parts run and how many boots each variant gets, and
//! the command that runs some parts alone (every row's "Reproduce").

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Result, bail};

const HELP: &str = "\
cargo xtask bench: boot time, size and fetch throughput, side by side with initramfs-tools

usage: cargo xtask bench [--boots N] [--quick] [--skip WHAT]...

Boots the Debian cloud kernel in QEMU (TCG) N times per variant and writes BENCHMARKS.md and
BENCHMARKS.json (raw runs; a copy in target/bench/results.json):
  squashfs     our init, checker root as a squashfs over HTTP
  squashfs-256 the same root padded with 256 MiB of random bytes (-m 2048), over slirp
  nfs          our init, a read-only NFS root with a per-node directory
  smp2         squashfs, nfs and itools netboot again with -smp 2 (what parallelism buys)
  dhcp         squashfs and nfs again with ip=dhcp (QEMU's DHCP), as the baselines boot
  itools       initramfs-tools MODULES=netboot and MODULES=most, BOOT=nfs, same NFS root
  dracut       dracut 059 livenet (systemd), the same squashfs over HTTP
  debian       a real Debian 12 root (systemd) from kernel start to multi-user.target:
               ours and dracut livenet with its squashfs over HTTP, ours and
               initramfs-tools netboot with it as an NFS root (-m 2048; 3 boots each
               unless --boots is given)
  sizes        init binary, modules, zstd and gzip images, per-crate size (cargo-bloat)
  fetch        host-side fetch+verify of 1 GiB against curl + sha256sum, peak RSS
  big          the root padded to 256 MiB and 1 GiB over a tap device in a network
               namespace: ours, curl + sha256sum in a rescue initramfs, and dracut
               livenet, same guest and link; 1 GiB again with -smp 2 (3 boots each
               unless --boots is given)
Needs root (network namespace, /lib/modules for mkinitramfs) and installs what is missing
with scripts/install-deps.sh.

options:
  --boots N    boots per variant (default 5; debian and big: 3)
  --quick      one boot per variant, no cargo-bloat, a 256 MiB fetch, big at 256 MiB only
  --skip WHAT  leave out squashfs, squashfs-256, nfs, smp2, dhcp, itools, dracut, debian,
               bloat, fetch or big (repeatable)
  -h, --help   this text
";

#[derive(Debug, Clone)]
pub(super) struct Args {
    pub boots: usize,
    /// Boots per variant of the parts whose boots take a minute or more under TCG (the
    /// Debian root, big images): `--boots` when given, else [`LONG_BOOTS`] (1 with `--quick`).
    pub long_boots: usize,
    pub quick: bool,
    pub skip: Vec<String>,
    /// When this run began: images built since then are reused by later parts.
    pub started: SystemTime,
}

impl Args {
    pub fn runs(&self, what: &str) -> bool {
        !self.skip.iter().any(|s| s == what)
    }

    /// Whether an earlier part of this run built `path` (a baseline's image is the same for
    /// every root it boots).
    pub fn built_this_run(&self, path: &Path) -> bool {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= self.started)
    }
}

const SKIPPABLE: [&str; 11] = [
    "squashfs",
    "squashfs-256",
    "nfs",
    "smp2",
    "dhcp",
    "itools",
    "dracut",
    "debian",
    "bloat",
    "fetch",
    "big",
];

/// Boots per variant of the `debian` and `big` parts unless `--boots` is given.
const LONG_BOOTS: usize = 3;

/// The options, or `None` when `--help` printed the usage.
pub(super) fn parse(args: Vec<OsString>) -> Result<Option<Args>> {
    use lexopt::prelude::*;
    let mut parsed = Args {
        boots: 5,
        long_boots: LONG_BOOTS,
        quick: false,
        skip: Vec::new(),
        started: SystemTime::now(),
    };
    let mut boots_given = false;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("boots") => {
                parsed.boots = parser.value()?.parse()?;
                boots_given = true;
            }
            Long("quick") => parsed.quick = true,
            Long("skip") => {
                let what: String = parser.value()?.parse()?;
                if !SKIPPABLE.contains(&what.as_str()) {
                    bail!("--skip {what}: expected one of {SKIPPABLE:?}");
                }
                parsed.skip.push(what);
            }
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(None);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    if parsed.quick && !boots_given {
        parsed.boots = 1;
    }
    if parsed.quick || boots_given {
        parsed.long_boots = parsed.boots;
    }
    if parsed.boots == 0 {
        bail!("--boots must be at least 1");
    }
    Ok(Some(parsed))
}

/// The command that runs only `keep` (our images and their sizes are always built).
pub(super) fn only(keep: &[&str]) -> String {
    let mut command = "cargo xtask bench".to_owned();
    for what in SKIPPABLE.iter().filter(|w| !keep.contains(w)) {
        let _ = write!(command, " --skip {what}");
    }
    command
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn images_built_since_the_run_began_are_reused() {
        let image = std::env::temp_dir().join(format!("bench-built-{}", std::process::id()));
        std::fs::write(&image, "image").expect("writes");
        let args = |started| Args {
            boots: 1,
            long_boots: 1,
            quick: true,
            skip: Vec::new(),
            started,
        };
        let hour = Duration::from_secs(3600);
        assert!(args(SystemTime::now() - hour).built_this_run(&image));
        assert!(!args(SystemTime::now() + hour).built_this_run(&image));
        std::fs::remove_file(&image).expect("removes");
        assert!(!args(SystemTime::now() - hour).built_this_run(&image));
    }

    #[test]
    fn debian_boots_three_times_unless_told() {
        let parse = |args: &[&str]| {
            super::parse(args.iter().map(OsString::from).collect())
                .expect("parses")
                .expect("not --help")
        };
        let default = parse(&[]);
        assert_eq!((default.boots, default.long_boots), (5, 3));
        let quick = parse(&["--quick"]);
        assert_eq!((quick.boots, quick.long_boots), (1, 1));
        let given = parse(&["--boots", "2"]);
        assert_eq!((given.boots, given.long_boots), (2, 2));
        assert!(super::parse(vec!["--skip".into(), "debain".into()]).is_err());
    }

    #[test]
    fn rows_run_alone_with_every_other_part_skipped() {
        assert_eq!(
            only(&["nfs"]),
            "cargo xtask bench --skip squashfs --skip squashfs-256 --skip smp2 --skip dhcp --skip itools \
             --skip dracut --skip debian --skip bloat --skip fetch --skip big"
        );
    }
}
