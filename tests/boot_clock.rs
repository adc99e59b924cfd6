//! Time before TLS: a node whose RTC reads 1970 (`-rtc base=1970-01-01`, a board without a
//! battery-backed clock) fetches an `https://` image. With an NTP server (chronyd on
//! 127.0.0.1, the guest's 10.0.2.2) SNTP sets the clock before the handshake; without one the
//! clock is raised to the initramfs's build time (`--clock-floor`), so a certificate issued
//! before the build passes and one issued after it fails with the clock explained.

mod common;
mod fetch_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{BOOTIF, Fixture, MAC, STATIC_IP, block, fixture};
use fetch_common::{Ca, server_tls};
use testbed::ntp::{NtpServer, require_chrony};
use testbed::{BootLog, HttpServer, Qemu, RootSpec};
use xtask::image::initrd::{self, Compression, InitrdOptions};
use xtask::image::trust::Trust;

const DAY: u64 = 86_400;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// The standard modules, `ca` as the trust anchor, and this clock floor.
fn initrd_with(fx: &Fixture, name: &str, ca: &Ca, floor: u64) -> PathBuf {
    let init = xtask::build::init_binary().expect("building the musl init");
    let out = fx.scratch.join(format!("{name}.initrd"));
    let mut options = InitrdOptions::new(init, out.clone());
    options.modules_dir = Some(fx.kernel.modules_dir.clone());
    options.compress = Compression::None;
    options.clock_floor = Some(floor);
    options.files = Trust {
        ca_pem: Some(ca.pem.clone().into_bytes()),
        ..Trust::default()
    }
    .files()
    .expect("trust files");
    initrd::build(&options).expect("building the initrd");
    out
}

fn serve_tls(image: &[u8], ca: &Ca, valid_from: u64) -> HttpServer {
    let files = BTreeMap::from([("root.squashfs".to_owned(), image.to_vec())]);
    let leaf = ca.server_valid_from(&["10.0.2.2"], valid_from);
    HttpServer::serve_files_tls(files, &server_tls(&leaf, None)).expect("image server")
}

/// Boots with the RTC at 1970-01-01, as a board without a clock battery.
fn boot_in_1970(fx: &Fixture, label: &str, initrd: &Path, append: &str) -> BootLog {
    fx.boot_qemu(
        Qemu::new(&fx.kernel.vmlinuz, initrd)
            .name(label)
            .arg("-rtc")
            .arg("base=1970-01-01")
            .append(&format!(
                "{BOOTIF} {STATIC_IP} rd.emergency=poweroff rd.retry=30 {append}"
            )),
        &[MAC],
    )
}

#[test]
fn sntp_sets_the_clock_before_the_tls_handshake() {
    let Some(fx) = fixture() else { return };
    if !require_chrony() {
        return;
    }
    let ntp = NtpServer::start().expect("starting chronyd");
    // The root has chrony: the init hands it the server.
    let tree = fx.scratch.join("sntp.tree");
    let root = RootSpec::default()
        .hook("echo \"ROOT-CHRONY=$(cat /run/chrony-dhcp/diskless.sources)\"")
        .build(&tree)
        .expect("the test root");
    let chronyd = root.path().join("usr/sbin/chronyd");
    std::fs::create_dir_all(chronyd.parent().expect("usr/sbin")).expect("usr/sbin");
    std::fs::write(&chronyd, "").expect("a stand-in chronyd");
    let image_path = fx.scratch.join("sntp.squashfs");
    root.squashfs(&image_path).expect("packing the root");
    let image = std::fs::read(&image_path).expect("image");

    // Valid from today on, and the initramfs is a month older: only a real clock passes.
    let ca = Ca::new("clock test CA");
    let server = serve_tls(&image, &ca, now());
    let initrd = initrd_with(fx, "sntp", &ca, now() - 30 * DAY);
    let url = server.url_for("root.squashfs");
    let log = boot_in_1970(
        fx,
        "clock-sntp",
        &initrd,
        &format!("root=live:{url} diskless.ntp=10.0.2.2:{}", ntp.port),
    );
    log.assert_contains("ROOT-INIT-REACHED");
    let dmesg = block(&log, "ROOT-DMESG: ").join("\n");
    assert!(
        dmesg.contains("clock raised from 1970-01-01"),
        "the RTC read 1970: {dmesg}"
    );
    let server_name = format!("10.0.2.2:{}", ntp.port);
    assert!(
        dmesg.contains(&format!("by SNTP from {server_name} (stratum 8)")),
        "{dmesg}"
    );
    assert_eq!(
        common::record(&log).clock,
        Some(format!("set by SNTP from {server_name} (stratum 8)"))
    );
    assert_eq!(
        log.value("ROOT-CHRONY").as_deref(),
        Some(format!("server 10.0.2.2 port {} iburst", ntp.port).as_str())
    );
}

#[test]
fn without_ntp_the_build_time_is_the_clock() {
    let Some(fx) = fixture() else { return };
    let image = std::fs::read(fx.squashfs_root("floor", &RootSpec::default())).expect("image");
    let ca = Ca::new("clock test CA");
    let built = now();
    // Issued after the build: a node whose clock is the build time cannot accept it...
    let later = serve_tls(&image, &ca, built + 2 * DAY);
    // ...but it accepts one issued before the build, from the mirror.
    let earlier = serve_tls(&image, &ca, built - DAY);
    let initrd = initrd_with(fx, "floor", &ca, built);
    let (later_url, earlier_url) = (
        later.url_for("root.squashfs"),
        earlier.url_for("root.squashfs"),
    );
    let log = boot_in_1970(
        fx,
        "clock-floor",
        &initrd,
        &format!("root=live:{later_url} diskless.mirror={earlier_url}"),
    );
    log.assert_contains("ROOT-INIT-REACHED");
    assert_eq!(common::record(&log).image_url, Some(earlier_url));
    let dmesg = block(&log, "ROOT-DMESG: ").join("\n");
    let floor = diskless::clock::utc(built);
    let refused = dmesg
        .lines()
        .find(|l| l.contains(&format!("fetching {later_url}: TLS:")))
        .unwrap_or_else(|| panic!("no TLS failure for {later_url}: {dmesg}"));
    for words in [
        "(not yet valid); the node's clock reads ",
        &format!("raised to this initramfs's build time ({floor}) because no NTP server was given"),
        "diskless.ntp=",
    ] {
        assert!(refused.contains(words), "{words:?} missing from: {refused}");
    }
    assert!(
        common::record(&log)
            .clock
            .is_some_and(|c| c.starts_with("raised to this initramfs's build time")),
        "{dmesg}"
    );
}
