//! arm64 nodes (Raspberry Pi 4/5, CM4 compute blades) in QEMU: the init cross-built for
//! `aarch64-unknown-linux-musl`, Debian's arm64 cloud kernel and its modules, an arm64
//! busybox root, on `qemu-system-aarch64 -M virt` (TCG). A squashfs over HTTPS with DHCP, and
//! an NFS root, each reach the root's init under the default name for MAC 52:54:00:12:34:56;
//! the first on a board whose RTC reads 1970, its clock set by SNTP from chronyd before the
//! handshake (the certificate is valid from today only; the cross-built ring does the TLS).
//! Two boots only: TCG emulating arm64 is the slowest thing CI runs.

mod common;
mod fetch_common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use common::MAC;
use fetch_common::{Ca, server_tls};
use testbed::kernel::Kernel;
use testbed::nfs::{Export, NfsServer};
use testbed::{Arch, BootLog, HttpServer, Nic, Qemu, RootSpec};
use xtask::image::initrd::{self, InitrdOptions};
use xtask::image::trust::Trust;

struct Arm64 {
    /// The initrd's trust anchor.
    ca: Ca,
    kernel: Kernel,
    initrd: PathBuf,
    scratch: PathBuf,
}

/// The arm64 kernel, init and initrd, built once; `None` when QEMU for arm64 is missing
/// outside CI.
fn arm64() -> Option<&'static Arm64> {
    static FIXTURE: OnceLock<Arm64> = OnceLock::new();
    if !testbed::require_qemu_for(Arch::Arm64) {
        return None;
    }
    Some(FIXTURE.get_or_init(|| {
        let kernel = testbed::kernel::ensure_for(Arch::Arm64)
            .expect("fetching Debian's arm64 cloud kernel (cargo xtask kernel --arch arm64)");
        let init = xtask::build::init_binary_for(Arch::Arm64).expect("cross-building the init");
        let scratch = testbed::scratch_dir().join(format!("arm64-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).expect("scratch");
        let initrd = scratch.join("initrd.img");
        let mut options = InitrdOptions::new(init, initrd.clone());
        options.modules_dir = Some(kernel.modules_dir.clone());
        options.arch = Some(Arch::Arm64);
        // A month old: only SNTP makes a certificate from today valid.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        options.clock_floor = Some(now - 30 * 86_400);
        let ca = Ca::new("arm64 test CA");
        options.files = Trust {
            ca_pem: Some(ca.pem.clone().into_bytes()),
            ..Trust::default()
        }
        .files()
        .expect("trust files");
        let summary = initrd::build(&options).expect("building the arm64 initrd");
        eprintln!("{summary}");
        Arm64 {
            ca,
            kernel,
            initrd,
            scratch,
        }
    }))
}

fn boot(fx: &Arm64, name: &str, append: &str, qemu_args: &[&str]) -> BootLog {
    let log = Qemu::new(&fx.kernel.vmlinuz, &fx.initrd)
        .arch(Arch::Arm64)
        .args(qemu_args)
        .name(name)
        .append(&format!("rd.emergency=poweroff {append}"))
        .nic_with(Nic::new(MAC))
        .timeout(Duration::from_secs(300))
        .run()
        .expect("running qemu-system-aarch64");
    assert!(
        !log.timed_out,
        "{}",
        log.failure_report("the boot timed out")
    );
    log
}

/// What every arm64 boot must show: the root's init ran, on an arm64 kernel, under the
/// name the default `worker-{sha1:6}` gives this MAC.
fn assert_reached_as_worker(log: &BootLog) {
    log.assert_contains("ROOT-INIT-REACHED");
    assert_eq!(
        log.value("ROOT-HOSTNAME").as_deref(),
        Some("worker-64e59a"),
        "{}",
        log.tail(30)
    );
    assert_eq!(log.value("ROOT-ARCH").as_deref(), Some("aarch64"));
}

const HOOK: &str = "echo \"ROOT-ARCH=$(uname -m)\"";

#[test]
fn arm64_squashfs_over_https_with_dhcp_and_sntp() {
    let Some(fx) = arm64() else { return };
    if !testbed::ntp::require_chrony() {
        return;
    }
    let ntp = testbed::ntp::NtpServer::start().expect("starting chronyd");
    let tree = fx.scratch.join("http.tree");
    let image = fx.scratch.join("http.squashfs");
    RootSpec::for_arch(Arch::Arm64)
        .expect("the arm64 busybox")
        .hook(HOOK)
        .build(&tree)
        .expect("the test root")
        .squashfs(&image)
        .expect("packing it");
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let leaf = fx.ca.server_valid_from(&["10.0.2.2"], today);
    let server = HttpServer::serve_files_tls(
        BTreeMap::from([(
            "root.squashfs".to_owned(),
            std::fs::read(&image).expect("image"),
        )]),
        &server_tls(&leaf, None),
    )
    .expect("image server");
    let url = server.url_for("root.squashfs");
    assert!(url.starts_with("https://"), "{url}");
    let log = boot(
        fx,
        "arm64-http",
        &format!("root=live:{url} ip=dhcp diskless.ntp=10.0.2.2:{}", ntp.port),
        &["-rtc", "base=1970-01-01"],
    );
    assert_reached_as_worker(&log);
    let record = common::record(&log);
    assert_eq!(record.image_url, Some(url));
    assert_eq!(
        record.clock,
        Some(format!(
            "set by SNTP from 10.0.2.2:{} (stratum 8)",
            ntp.port
        ))
    );
}

#[test]
fn arm64_nfs_root() {
    let Some(fx) = arm64() else { return };
    if !testbed::require_ganesha() {
        return;
    }
    let tree = fx.scratch.join("nfs.tree");
    let _ = std::fs::remove_dir_all(&tree);
    RootSpec::for_arch(Arch::Arm64)
        .expect("the arm64 busybox")
        .hook(HOOK)
        .build(&tree)
        .expect("the test root");
    let server = NfsServer::start(&[Export::read_only(&tree, "/clients")]).expect("ganesha");
    let log = boot(
        fx,
        "arm64-nfs",
        &format!(
            "root=/dev/nfs nfsroot=10.0.2.2:/clients,ro,{} ip=dhcp",
            server.v4_options()
        ),
        &[],
    );
    assert_reached_as_worker(&log);
    assert!(
        common::record(&log)
            .root
            .is_some_and(|root| root.starts_with("NFS 10.0.2.2:/clients")),
        "{}",
        log.tail(30)
    );
}
