//! Big images over a tap device: the checker root padded to 256 MiB and 1 GiB, fetched by
//! three fetchers in the same guest kernel over the same link, a tap device into a network
//! namespace of our own rather than QEMU's user-mode network (slirp), which is what the
//! `squashfs-256` row measures:
//!
//! ```text
//!   netns diskless-<pid>-<n>-big
//!     bigtap0 10.99.0.1/24 <- QEMU -netdev tap, guest 10.99.0.2 (static ip=)
//!     busybox httpd -p 10.99.0.1:8080 -h target/bench   (sendfile(2))
//! ```
//!
//! - ours: our initrd, `root=live:` with the image's sha256; fetch + verify from the record;
//! - curl: a rescue initramfs running `curl -o` into a tmpfs, then `sha256sum`
//!   ([`super::big_rescue`]);
//! - dracut livenet: its whole initramfs stage.

use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use testbed::kernel::Kernel;
use testbed::{NetNs, Qemu};
use xtask::image::trust;

use super::args::{Args, only};
use super::baselines;
use super::big_rescue::{self, CURL_PREFIX};
use super::guest::{BOOTIF, MAC};
use super::measure::boot_n;
use super::ours::{self, Ours};
use super::results::{BigSize, CurlRun, Variant};
use super::stats::MIB;

/// The tap device, the server's side of it, and the guest's address on it.
const TAP: &str = "bigtap0";
const SERVER_CIDR: &str = "10.99.0.1/24";
const SERVER: &str = "10.99.0.1:8080";
const GUEST_CIDR: &str = "10.99.0.2/24";
const GUEST_IP: &str = "ip=10.99.0.2::10.99.0.1:255.255.255.0";
/// A 1 GiB fetch and hash under TCG takes a minute or two; dracut's stage adds 30 s.
const BIG_TIMEOUT: Duration = Duration::from_secs(600);
/// How long busybox httpd gets to start listening.
const HTTPD_START: Duration = Duration::from_secs(10);

/// The sizes to run, with the guest's CPUs: 256 MiB and 1 GiB on one, and 1 GiB again on
/// two, where our hash runs beside the transfer (curl's `sha256sum` can only follow it).
/// Only the first with `--quick`.
fn runs(args: &Args) -> Vec<(u64, u32)> {
    if args.quick {
        vec![(256, 1)]
    } else {
        vec![(256, 1), (1024, 1), (1024, 2)]
    }
}

/// `256m`, or `1024m-smp2` for a run on two CPUs: the variants' and logs' labels.
fn run_label(pad_mib: u64, cpus: u32) -> String {
    if cpus > 1 {
        format!("{pad_mib}m-smp{cpus}")
    } else {
        format!("{pad_mib}m")
    }
}

/// Enough RAM for the image in a tmpfs and the root's overlay; dracut's systemd caps /run
/// at 20 % of RAM, but livenet downloads into /tmp on the initramfs's own root.
fn memory_mb(pad_mib: u64) -> u32 {
    if pad_mib <= 256 { 2048 } else { 4096 }
}

/// Boots every size: its row, and the ours and dracut variants the row names.
pub(super) fn run(
    args: &Args,
    kernel: &Kernel,
    ours: &Ours,
    out: &Path,
) -> Result<(Vec<BigSize>, Vec<Variant>)> {
    let args = Args {
        boots: args.long_boots,
        ..args.clone()
    };
    let rescue = big_rescue::build(kernel, out)?;
    // Built by the dracut part of this run already, unless it was skipped.
    let (dracut, _) = baselines::dracut_image(&args, kernel, out)?;
    // Images first: packing 1 GiB takes a while and needs no namespace.
    let mut images: Vec<(u64, std::path::PathBuf)> = Vec::new();
    for (pad, _) in runs(&args) {
        if !images.iter().any(|(p, _)| *p == pad) {
            images.push((pad, ours::squashfs_image(out, pad * MIB)?));
        }
    }

    let ns = NetNs::new("big").context("creating a network namespace (needs root)")?;
    ns.add_tap(TAP, SERVER_CIDR)?;
    let _httpd = Httpd::start(&ns, out)?;

    let (mut big, mut variants) = (Vec::new(), Vec::new());
    for (pad, cpus) in runs(&args) {
        let image = images
            .iter()
            .find(|(p, _)| *p == pad)
            .map(|(_, image)| image)
            .context("image of the run")?;
        let label = run_label(pad, cpus);
        let name = image
            .file_name()
            .and_then(|n| n.to_str())
            .context("image name")?
            .to_owned();
        let url = format!("http://{SERVER}/{name}");
        let bytes = std::fs::metadata(image)?.len();
        let sha = diskless::hex::encode(&trust::sha256_of_file(image)?);
        let memory = memory_mb(pad);
        let make = |initrd: &Path, cmdline: &str, log_name: &str| {
            let qemu = Qemu::new(&kernel.vmlinuz, initrd)
                .name(log_name)
                .memory_mb(memory)
                .cpus(cpus)
                .append(cmdline)
                .tap_nic(MAC, TAP)
                .timeout(BIG_TIMEOUT);
            Ok(ns.qemu(qemu)?)
        };
        let mib = bytes as f64 / MIB as f64;
        // A variant of this size: `initrd` fetches the image, booted with `cmdline`.
        let boot_variant = |label: String, what: String, initrd: &Path, cmdline: String| {
            let mut variant = Variant::new(
                &label,
                what,
                format!("{}  # append: {cmdline}", only(&["big"])),
            );
            boot_n(&args, &mut variant, |log_name| {
                make(initrd, &cmdline, log_name)
            })?;
            anyhow::Ok(variant)
        };

        let ours_variant = boot_variant(
            format!("diskless-tap-{label}"),
            format!("ours, {mib:.0} MiB squashfs over a tap device, -m {memory} -smp {cpus}"),
            &ours.initrd,
            format!(
                "{BOOTIF} {GUEST_IP} root=live:{url} diskless.sha256={sha} rd.emergency=poweroff"
            ),
        )?;

        let cmdline = format!("BIG_URL={url} BIG_ADDR={GUEST_CIDR}");
        let mut curl = Vec::new();
        for n in 1..=args.boots {
            let log = make(&rescue, &cmdline, &format!("bench-curl-tap-{label}-{n}"))?
                .run()
                .context("running QEMU")?;
            let run = match log.prefixed(CURL_PREFIX).first() {
                Some(line) => big_rescue::parse_curl_line(line, bytes, &sha, log.log_path.clone()),
                None => CurlRun {
                    log: log.log_path.clone(),
                    ..CurlRun::default()
                },
            };
            if !run.ok {
                eprintln!(
                    "{}",
                    log.failure_report("bench: the rescue curl did not fetch the image")
                );
            }
            println!(
                "bench: curl-tap-{label} boot {n}/{}: curl {} s + sha256sum {} s{}",
                args.boots,
                run.curl_s.map_or("-".to_owned(), |s| format!("{s:.2}")),
                run.sha256sum_s
                    .map_or("-".to_owned(), |s| format!("{s:.2}")),
                if run.ok { "" } else { " (FAILED)" }
            );
            curl.push(run);
        }

        // dracut's whole stage once per size, on one CPU as the other fetchers.
        let dracut_variant = if cpus == 1 {
            Some(boot_variant(
                format!("dracut-livenet-tap-{label}"),
                format!(
                    "dracut 059 livenet + systemd, {mib:.0} MiB squashfs over a tap device, \
                     -m {memory}"
                ),
                &dracut,
                // dracut's own syntax for a static address; net.ifnames=0 keeps the name eth0.
                format!(
                    "root=live:{url} rd.live.overlay.overlayfs=1 \
                     ip=10.99.0.2::10.99.0.1:255.255.255.0::eth0:none net.ifnames=0 rd.neednet=1"
                ),
            )?)
        } else {
            None
        };

        big.push(BigSize {
            pad_mib: pad,
            image_bytes: bytes,
            memory_mb: memory,
            cpus,
            ours: ours_variant.label.clone(),
            dracut: dracut_variant.as_ref().map(|v| v.label.clone()),
            curl,
        });
        variants.push(ours_variant);
        variants.extend(dracut_variant);
    }
    Ok((big, variants))
}

/// busybox httpd in the namespace, on the tap's address; killed on drop. It sends files with
/// sendfile(2), well over 1 GB/s on this machine's loopback: far more than a TCG guest takes,
/// so the server is not what is measured. (The test bed's server listens on 127.0.0.1 only.)
struct Httpd {
    child: Child,
}

impl Httpd {
    fn start(ns: &NetNs, dir: &Path) -> Result<Httpd> {
        let child = ns
            .command("/bin/busybox")
            .args(["httpd", "-f", "-p", SERVER, "-h"])
            .arg(dir)
            .spawn()
            .context("starting busybox httpd in the namespace (apt-get install busybox-static)")?;
        let mut httpd = Httpd { child };
        let deadline = Instant::now() + HTTPD_START;
        loop {
            if ns.enter(|| TcpStream::connect(SERVER).is_ok())? {
                return Ok(httpd);
            }
            if let Some(status) = httpd.child.try_wait()? {
                bail!("busybox httpd exited ({status}) before serving on {SERVER}");
            }
            if Instant::now() > deadline {
                bail!("busybox httpd did not listen on {SERVER} within {HTTPD_START:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_memory() {
        assert_eq!(memory_mb(256), 2048);
        assert_eq!(memory_mb(1024), 4096);
        assert_eq!(run_label(1024, 1), "1024m");
        assert_eq!(run_label(1024, 2), "1024m-smp2");
    }
}
