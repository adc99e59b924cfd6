//! The curl baseline of the big-image row: a small rescue initramfs, as an admin would put
//! together without any network boot tool: Debian's static busybox, `curl` and coreutils'
//! `sha256sum` with the shared libraries `ldd` names (what initramfs-tools' copy_exec does),
//! and the kernel modules of a virtio NIC. Its /init sets the address, runs `curl -o` into a
//! tmpfs, then `sha256sum`, and prints one [`CURL_PREFIX`] line with /proc/uptime before and
//! after each, then powers off.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use testbed::kernel::Kernel;
use xshell::{Shell, cmd};
use xtask::image::cpio::Archive;
use xtask::image::kmod::{self, Request};

use super::results::CurlRun;

/// The console line the rescue /init prints when it is done.
pub(super) const CURL_PREFIX: &str = "BIG-CURL: ";

/// The programs copied in with their libraries.
const PROGRAMS: [&str; 2] = ["/usr/bin/curl", "/usr/bin/sha256sum"];

/// What the virtio NIC needs on the Debian cloud kernel (all modules there).
const MODULES: [&str; 2] = ["virtio_pci", "virtio_net"];

/// The rescue /init. The URL and the address come from the kernel command line: the kernel
/// hands `NAME=value` parameters it does not know to init's environment.
const INIT: &str = r#"#!/bin/sh
# Full paths for curl and sha256sum: busybox has applets of those names.
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=90% tmpfs /run
for m in $(cat /modules.order); do insmod "/$m"; done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
ip link set lo up
ip link set eth0 up
ip addr add "$BIG_ADDR" dev eth0
now() { read -r up _ < /proc/uptime; echo "$up"; }
t0=$(now)
busybox time -v -o /run/curl.time /usr/bin/curl -sS --fail --retry 3 --retry-connrefused -o /run/big.img "$BIG_URL"
rc=$?
t1=$(now)
sum=$(/usr/bin/sha256sum /run/big.img | cut -d' ' -f1)
t2=$(now)
bytes=$(stat -c %s /run/big.img 2>/dev/null)
rss=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' /run/curl.time)
echo "BIG-CURL: rc=$rc t0=$t0 t1=$t1 t2=$t2 bytes=$bytes sha256=$sum curl_maxrss_kib=$rss"
poweroff -f
"#;

/// Reads the [`CURL_PREFIX`] line (without the prefix); `ok` only when curl succeeded and
/// fetched `bytes` bytes hashing to `sha256`.
pub(super) fn parse_curl_line(line: &str, bytes: u64, sha256: &str, log: PathBuf) -> CurlRun {
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    };
    let seconds = |key| field(key).and_then(|v| v.parse::<f64>().ok());
    let interval = |a, b| Some(((seconds(b)? - seconds(a)?) * 100.0).round() / 100.0);
    let ok = field("rc") == Some("0")
        && field("bytes").and_then(|b| b.parse::<u64>().ok()) == Some(bytes)
        && field("sha256") == Some(sha256);
    CurlRun {
        ok,
        curl_s: interval("t0", "t1"),
        sha256sum_s: interval("t1", "t2"),
        curl_maxrss_kib: field("curl_maxrss_kib").and_then(|v| v.parse().ok()),
        log,
    }
}

/// Builds `out/initrd-rescue-curl.cpio` (uncompressed: the kernel unpacks it as it is).
pub(super) fn build(kernel: &Kernel, out: &Path) -> Result<PathBuf> {
    let mut archive = Archive::new();
    for dir in ["dev", "proc", "sys", "run", "bin", "tmp"] {
        archive.dir(dir, 0o755)?;
    }
    archive.char_device("dev/console", 0o600, 5, 1)?;
    archive.file("bin/busybox", 0o755, read(Path::new("/bin/busybox"))?)?;
    archive.symlink("bin/sh", "busybox")?;
    archive.file("init", 0o755, INIT.as_bytes().to_vec())?;

    let sh = Shell::new()?;
    let mut files: BTreeSet<String> = PROGRAMS.iter().map(|p| (*p).to_owned()).collect();
    for program in PROGRAMS {
        let text = cmd!(sh, "ldd {program}")
            .quiet()
            .read()
            .with_context(|| format!("ldd {program} (apt-get install curl)"))?;
        files.extend(ldd_paths(&text));
    }
    for file in &files {
        // The file a symlink names, stored under the path the loader looks up.
        archive.file(file.trim_start_matches('/'), 0o755, read(Path::new(file))?)?;
    }

    // The same resolver as our image's (from each module's .modinfo: Debian's kernel package
    // ships no modules.dep), so both guests load the same NIC modules.
    let tree = kmod::scan(&kernel.modules_dir)?;
    let requests: Vec<Request> = MODULES
        .iter()
        .map(|name| Request {
            name: (*name).to_owned(),
            required: true,
        })
        .collect();
    let resolution = tree.index.resolve(&requests)?;
    let mut order = Vec::new();
    for name in &resolution.load_order {
        let source = tree
            .source(name)
            .with_context(|| format!("module {name} has no file"))?;
        let stored = format!("{name}.ko");
        archive.file(&stored, 0o644, kmod::read_module(source)?)?;
        order.push(stored);
    }
    archive.file("modules.order", 0o644, order.join("\n").into_bytes())?;

    let image = out.join("initrd-rescue-curl.cpio");
    std::fs::write(&image, archive.encode(0))
        .with_context(|| format!("writing {}", image.display()))?;
    Ok(image)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The absolute paths in `ldd` output: `libz.so.1 => /lib/.../libz.so.1 (0x...)` and the
/// loader's `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
fn ldd_paths(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = line.split_once("=> ").map_or(line, |(_, p)| p);
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| path.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_the_files_to_copy() {
        let text = "\tlinux-vdso.so.1 (0x00007f620c929000)\n\
                    \tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f620c804000)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f620c92b000)\n";
        assert_eq!(
            ldd_paths(text),
            [
                "/lib/x86_64-linux-gnu/libz.so.1",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
    }

    #[test]
    fn the_rescue_line_is_read_and_checked() {
        let line = "rc=0 t0=3.51 t1=12.02 t2=15.53 bytes=1024 sha256=ab curl_maxrss_kib=9120";
        let run = parse_curl_line(line, 1024, "ab", PathBuf::from("l"));
        assert!(run.ok);
        assert_eq!(run.curl_s, Some(8.51));
        assert_eq!(run.sha256sum_s, Some(3.51));
        assert_eq!(run.total_s(), Some(12.02));
        assert_eq!(run.curl_maxrss_kib, Some(9120));
        // Another hash, a short file, or curl failing is not a run that counts.
        assert!(!parse_curl_line(line, 1024, "cd", PathBuf::new()).ok);
        assert!(!parse_curl_line(line, 2048, "ab", PathBuf::new()).ok);
        let failed = "rc=22 t0=3.51 t1=3.60 t2=3.61 bytes= sha256=e3b0 curl_maxrss_kib=";
        let run = parse_curl_line(failed, 1024, "ab", PathBuf::new());
        assert!(!run.ok);
        assert_eq!(run.curl_maxrss_kib, None);
    }
}
