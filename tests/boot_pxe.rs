//! The real PXE chain: QEMU's network boot ROM gets Debian's pxelinux over slirp's TFTP,
//! pxelinux loads our kernel and initrd (TFTP too) and appends the PXE lease to the command
//! line (`SYSAPPEND 3`: `ip=<static>` and `BOOTIF=`), and the node boots its squashfs root
//! over HTTP as the NIC that PXE-booted.
//!
//! Needs QEMU (with ipxe-qemu's ROMs) and pxelinux + syslinux-common; without them the test
//! skips loudly, and under `CI=true` it fails.

mod common;
#[path = "common/netboot.rs"]
mod netboot;

use std::path::Path;
use std::time::Duration;

use common::{BOOTIF, MAC, block, fixture};
use netboot::{NET_HOOK, net_conf};
use testbed::{HttpServer, Nic, Qemu, RootSpec};

/// Debian's pxelinux (package pxelinux) and the module it loads first (syslinux-common).
const PXELINUX: &str = "/usr/lib/PXELINUX/pxelinux.0";
const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";

/// Whether pxelinux is installed; panics under `CI=true` when not, else says SKIPPING.
fn require_pxelinux() -> bool {
    let missing: Vec<&str> = [PXELINUX, LDLINUX]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let reason = format!(
        "{} missing (Debian: apt-get install pxelinux syslinux-common)",
        missing.join(", ")
    );
    testbed::skip_or_fail(&reason);
    false
}

/// pxelinux's configuration: one entry, no prompt; `SERIAL` first so pxelinux's own messages
/// reach the console the test reads.
fn pxelinux_cfg(append: &str) -> String {
    format!(
        "SERIAL 0 115200\n\
         DEFAULT diskless\n\
         PROMPT 0\n\
         TIMEOUT 1\n\
         LABEL diskless\n\
         \x20 KERNEL vmlinuz\n\
         \x20 INITRD initrd.img\n\
         \x20 APPEND {append}\n\
         \x20 SYSAPPEND 3\n"
    )
}

#[test]
fn pxelinux_chain_boots_the_node_with_its_appended_ip_and_bootif() {
    let Some(fx) = fixture() else { return };
    if !require_pxelinux() {
        return;
    }
    let image = fx.squashfs_root("pxe", &RootSpec::default().hook(NET_HOOK));
    let server = HttpServer::serve_files(
        [(
            "root.squashfs".to_owned(),
            std::fs::read(&image).expect("reading the image"),
        )]
        .into(),
    )
    .expect("http server");

    // The TFTP root: what a PXE server would hold.
    let tftp = fx.scratch.join("pxe-tftp");
    std::fs::create_dir_all(tftp.join("pxelinux.cfg")).expect("creating the TFTP root");
    for (from, to) in [
        (Path::new(PXELINUX), "pxelinux.0"),
        (Path::new(LDLINUX), "ldlinux.c32"),
        (fx.kernel.vmlinuz.as_path(), "vmlinuz"),
        (fx.initrd.as_path(), "initrd.img"),
    ] {
        std::fs::copy(from, tftp.join(to))
            .unwrap_or_else(|e| panic!("copying {} to the TFTP root: {e}", from.display()));
    }
    let append = format!(
        "root=live:{} ip=dhcp rd.emergency=poweroff console=ttyS0 panic=-1",
        server.url_for("root.squashfs")
    );
    std::fs::write(tftp.join("pxelinux.cfg/default"), pxelinux_cfg(&append))
        .expect("writing pxelinux.cfg/default");

    let qemu = Qemu::pxe()
        .name("pxe-pxelinux")
        .nic_with(Nic::new(MAC).tftp(&tftp, "pxelinux.0"))
        .timeout(Duration::from_secs(120));
    let log = netboot::run(&qemu);

    // pxelinux ran (its banner reaches the serial console through `SERIAL`), then our init.
    log.assert_contains("PXELINUX ");
    log.assert_contains("Loading vmlinuz");
    log.assert_contains("ROOT-INIT-REACHED");
    assert!(
        log.exited_cleanly(),
        "{}",
        log.failure_report("the checker did not power off cleanly")
    );

    // The command line as the node saw it: ours, then what pxelinux appended, in that order,
    // so the static `ip=` (the last one) wins over `ip=dhcp`.
    let cmdline = log
        .value("ROOT-CMDLINE")
        .unwrap_or_else(|| panic!("{}", log.failure_report("no ROOT-CMDLINE")));
    let words: Vec<&str> = cmdline.split_whitespace().collect();
    assert!(words.contains(&BOOTIF), "{cmdline}");
    let dhcp = words.iter().position(|w| *w == "ip=dhcp");
    let static_ip = words
        .iter()
        .position(|w| w.starts_with("ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0"));
    assert!(
        matches!((dhcp, static_ip), (Some(d), Some(s)) if d < s),
        "expected ip=dhcp, then pxelinux's static ip=10.0.2.15:...: {cmdline}"
    );

    // The node came up as the NIC that PXE-booted, on the address PXE got, under its name.
    assert_eq!(
        log.value("ROOT-HOSTNAME").as_deref(),
        Some("worker-64e59a"),
        "{}",
        log.tail(40)
    );
    let dmesg = block(&log, "ROOT-DMESG: ").join("\n");
    assert!(
        dmesg.contains(&format!(
            "boot interface ens3 ({MAC}), chosen with MAC {MAC} (BOOTIF)"
        )),
        "{dmesg}"
    );
    // The last ip= wins: the node took PXE's address as given and asked DHCP nothing more.
    assert!(
        !dmesg.contains("dhcp: ens3: DISCOVER"),
        "the node ran DHCP despite pxelinux's static ip=:\n{dmesg}"
    );
    let record = common::record(&log);
    assert_eq!(
        record.hostname.as_deref(),
        Some("worker-64e59a"),
        "{record:?}"
    );
    assert_eq!(record.mac.as_deref(), Some(MAC), "{record:?}");
    assert_eq!(record.addresses, ["10.0.2.15/24"], "{record:?}");
    let conf = net_conf(&log, "net-ens3.conf");
    assert_eq!(conf.get("IPV4ADDR").map(String::as_str), Some("10.0.2.15"));
    assert_eq!(
        conf.get("HOSTNAME").map(String::as_str),
        Some("worker-64e59a")
    );
    let gets = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.status == Some(200))
        .count();
    assert_eq!(gets, 1, "{:?}", server.requests());
    eprintln!(
        "PXE chain: pxelinux banner at {:.1} s, init at {:.1} s, root at {:.1} s",
        log.time_of("PXELINUX ").unwrap_or_default(),
        log.time_of("diskless: diskless ").unwrap_or_default(),
        log.time_of("ROOT-INIT-REACHED").unwrap_or_default()
    );
}
