//! Tests of the test bed's QEMU runner: tiny initrds, the squashfs checker root, a guest
//! fetching from the test HTTP server, and a PXE chain.
//!
//! They boot the Debian cloud kernel from `testbed::kernel::ensure()` (see
//! `testbed::test_kernel`). Without it (or without QEMU) they print a loud SKIPPING banner and
//! pass, except under `CI=true`, where they fail.

#![allow(
    clippy::indexing_slicing,
    reason = "test code: an out-of-bounds index fails the test, as it should"
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use testbed::{self, HttpServer, Qemu, QemuError, RootSpec};

/// A fresh scratch directory for one test, under target/testbed-tmp.
fn scratch(name: &str) -> PathBuf {
    testbed::fresh_dir(name).expect("creating the scratch dir")
}

/// Writes a newc cpio of `dir` (owned by root) with GNU cpio.
fn cpio_newc(dir: &Path, out: &Path) {
    let mut names = Vec::new();
    let mut stack = vec![PathBuf::from(".")];
    while let Some(rel) = stack.pop() {
        names.push(rel.clone());
        let abs = dir.join(&rel);
        if std::fs::symlink_metadata(&abs).expect("stat").is_dir() {
            for entry in std::fs::read_dir(&abs).expect("read_dir") {
                stack.push(rel.join(entry.expect("entry").file_name()));
            }
        }
    }
    let list: String = names.iter().map(|n| format!("{}\n", n.display())).collect();
    let mut child = Command::new("cpio")
        .args(["-o", "-H", "newc", "-R", "0:0", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(out).expect("create cpio"))
        .spawn()
        .expect("cpio runs (apt-get install cpio)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(list.as_bytes())
        .expect("feed cpio");
    assert!(child.wait().expect("cpio exits").success());
}

/// A tiny initrd: busybox at /bin/busybox, `init` as /init, `dev/console`, and `extra`
/// files (host source, path in the archive).
fn tiny_initrd(name: &str, init: &str, extra: &[(&Path, &str)]) -> PathBuf {
    let base = scratch(name);
    let dir = base.join("tree");
    for d in ["bin", "dev", "proc", "sys", "newroot"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).expect("copy busybox (busybox-static)");
    std::fs::write(dir.join("init"), init).expect("write init");
    std::fs::set_permissions(dir.join("init"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    for (src, dest) in extra {
        std::fs::copy(src, dir.join(dest)).expect("copy extra file");
    }
    // The kernel opens /dev/console for init's stdio before init runs; without the node init
    // starts with no output at all (the init scripts below also recover from that).
    let mknod = Command::new("mknod")
        .arg(dir.join("dev/console"))
        .args(["c", "5", "1"])
        .status();
    if !mknod.is_ok_and(|s| s.success()) {
        eprintln!("mknod dev/console failed (not root?); the init takes the console itself");
    }
    let out = base.join("initrd.cpio");
    cpio_newc(&dir, &out);
    out
}

/// Init preamble: mount devtmpfs, and take the console if the kernel could not give it.
const TINY_PREAMBLE: &str = "#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev
[ -t 1 ] || exec </dev/console >/dev/console 2>&1
";

fn qemu_prerequisites() -> Option<PathBuf> {
    if !testbed::require_qemu() {
        return None;
    }
    testbed::test_vmlinuz()
}

#[test]
fn qemu_smoke_boot_prints_the_marker_and_powers_off() {
    let Some(vmlinuz) = qemu_prerequisites() else {
        return;
    };
    let init = format!("{TINY_PREAMBLE}echo TESTBED-SMOKE-OK\n/bin/busybox poweroff -f\n");
    let initrd = tiny_initrd("qemu-smoke", &init, &[]);
    let timeout = Duration::from_secs(90);
    let log = Qemu::new(&vmlinuz, &initrd)
        .name("testbed-smoke")
        .timeout(timeout)
        .run()
        .expect("QEMU runs");
    log.assert_contains("TESTBED-SMOKE-OK");
    assert!(!log.timed_out, "{}", log.failure_report("timed out"));
    assert!(
        log.exited_cleanly(),
        "{}",
        log.failure_report("QEMU did not exit cleanly")
    );
    assert!(log.elapsed < timeout);
    let marker = log.time_of("TESTBED-SMOKE-OK").expect("marker time");
    eprintln!(
        "smoke boot: marker at {marker:.2} s, QEMU exited at {:.2} s (log {})",
        log.elapsed.as_secs_f64(),
        log.log_path.display()
    );
    assert!(log.log_path.is_file());
    let file = std::fs::read_to_string(&log.log_path).expect("log file");
    assert!(file.contains("TESTBED-SMOKE-OK"));
    assert!(file.starts_with("# qemu-system-x86_64 -m 1024 -nographic -monitor none -no-reboot"));
}

#[test]
fn qemu_stop_marker_and_timeout_kill_a_guest_that_never_powers_off() {
    let Some(vmlinuz) = qemu_prerequisites() else {
        return;
    };
    let init = format!("{TINY_PREAMBLE}echo TESTBED-STOP-HERE\nexec /bin/busybox sleep 1000\n");
    let initrd = tiny_initrd("qemu-stop", &init, &[]);

    let log = Qemu::new(&vmlinuz, &initrd)
        .name("testbed-stop-marker")
        .stop_at("TESTBED-STOP-HERE")
        .timeout(Duration::from_secs(90))
        .run()
        .expect("QEMU runs");
    assert_eq!(
        log.stopped_at.as_deref(),
        Some("TESTBED-STOP-HERE"),
        "{}",
        log.failure_report("no stop")
    );
    assert!(!log.timed_out);
    assert_eq!(log.exit, None);

    // The same guest against a short timeout: killed, marked, promptly.
    let timeout = Duration::from_secs(4);
    let log = Qemu::new(&vmlinuz, &initrd)
        .name("testbed-timeout")
        .timeout(timeout)
        .run()
        .expect("QEMU runs");
    assert!(log.timed_out);
    assert_eq!(log.exit, None);
    assert!(
        log.elapsed < timeout + Duration::from_secs(5),
        "took {:?}",
        log.elapsed
    );
    assert!(log.outcome().contains("TIMED OUT"));
}

#[test]
fn qemu_missing_binary_is_a_distinct_error() {
    let err = Qemu::new("/nonexistent/vmlinuz", "/nonexistent/initrd")
        .binary("qemu-system-does-not-exist")
        .run()
        .expect_err("cannot run");
    assert!(matches!(err, QemuError::NotInstalled { .. }), "{err}");
    assert!(err.to_string().contains("not installed"));
}

/// The squashfs from [`testbed::squashfs`] mounts in the test kernel, and the checker
/// reports as documented when it is reached through switch_root (as the real init will).
#[test]
fn qemu_squashfs_root_boots_into_the_checker() {
    let Some(vmlinuz) = qemu_prerequisites() else {
        return;
    };
    let Some(modules) = testbed::test_modules_dir() else {
        return;
    };
    let base = scratch("qemu-squashfs-root");
    let tree = RootSpec::default()
        .hook("echo HOOK-RAN")
        .build(base.join("root"))
        .expect("builds");
    let image = base.join("root.squashfs");
    tree.squashfs(&image).expect("packs");

    let loop_ko = modules.join("kernel/drivers/block/loop.ko");
    let squashfs_ko = modules.join("kernel/fs/squashfs/squashfs.ko");
    let init = format!(
        "{TINY_PREAMBLE}\
         /bin/busybox mount -t proc proc /proc
         /bin/busybox mount -t sysfs sysfs /sys
         /bin/busybox insmod /loop.ko
         /bin/busybox insmod /squashfs.ko
         /bin/busybox mount -t squashfs -o loop,ro /root.squashfs /newroot || echo MOUNT-FAILED
         for d in dev proc sys; do /bin/busybox mount --move /$d /newroot/$d; done
         exec /bin/busybox switch_root /newroot /sbin/init
         "
    );
    let initrd = tiny_initrd(
        "qemu-squashfs-initrd",
        &init,
        &[
            (&loop_ko, "loop.ko"),
            (&squashfs_ko, "squashfs.ko"),
            (&image, "root.squashfs"),
        ],
    );
    let log = Qemu::new(&vmlinuz, &initrd)
        .name("testbed-squashfs-root")
        .timeout(Duration::from_secs(120))
        .run()
        .expect("QEMU runs");
    log.assert_not_contains("MOUNT-FAILED");
    log.assert_contains("ROOT-INIT-DONE");
    assert!(
        log.exited_cleanly(),
        "{}",
        log.failure_report("no clean power-off")
    );

    let reached = log
        .line_starting("ROOT-INIT-REACHED ")
        .expect("reached line");
    let uptime: f64 = reached["ROOT-INIT-REACHED ".len()..]
        .parse()
        .expect("uptime number");
    assert!(uptime > 0.0);
    assert_eq!(
        log.value("ROOT-ETC-HOSTNAME").as_deref(),
        Some("image-build-host")
    );
    assert_eq!(log.value("ROOT-MACHINE-ID").as_deref(), Some(""));
    assert_eq!(log.value("ROOT-MACHINE-ID-FILE").as_deref(), Some("empty"));
    assert_eq!(
        log.value("ROOT-PREMOUNTED").as_deref(),
        Some("proc dev sys")
    );
    assert_eq!(log.value("ROOT-ETC-WRITABLE").as_deref(), Some("no"));
    assert_eq!(log.value("ROOT-SELF-PID").as_deref(), Some("1"));
    assert_eq!(log.value("ROOT-PID1").as_deref(), Some("/bin/busybox"));
    assert!(
        log.prefixed("ROOT-HOSTS: ")
            .contains(&"127.0.1.1\timage-build-host")
    );
    assert!(log.prefixed("ROOT-RESOLV: ").is_empty());
    assert!(log.prefixed("ROOT-RECORD: ").is_empty());
    assert!(
        log.prefixed("ROOT-MOUNT: ")
            .iter()
            .any(|m| m.starts_with("/dev/loop0 / squashfs ro")),
        "{}",
        log.failure_report("root is not the squashfs")
    );
    let dmesg = log.prefixed("ROOT-DMESG: ");
    assert!(
        dmesg
            .iter()
            .any(|l| l.contains("Run /init as init process")),
        "{dmesg:?}"
    );
    assert!(
        dmesg.iter().any(|l| l.contains("ROOT-INIT-KMSG")),
        "{dmesg:?}"
    );
    log.assert_contains("HOOK-RAN");
    for marker in [
        "ROOT-HOSTS-END",
        "ROOT-RESOLV-END",
        "ROOT-RECORD-END",
        "ROOT-MOUNTS-END",
    ] {
        log.assert_contains(marker);
    }
    eprintln!(
        "squashfs root: checker reached at {:.2} s host time (uptime {uptime}), done at {:.2} s",
        log.time_of("ROOT-INIT-REACHED").unwrap_or_default(),
        log.elapsed.as_secs_f64()
    );
}

/// The guest reaches a test server on the host's 127.0.0.1 as 10.0.2.2 through a
/// [`Qemu::nic`], which every network boot test relies on.
#[test]
fn qemu_guest_fetches_from_the_http_server_at_10_0_2_2() {
    let Some(vmlinuz) = qemu_prerequisites() else {
        return;
    };
    let Some(modules) = testbed::test_modules_dir() else {
        return;
    };
    let server = HttpServer::serve_files(BTreeMap::from([(
        "hello".to_owned(),
        b"hello from the host\n".to_vec(),
    )]))
    .expect("server starts");
    // The NIC's drivers and their dependencies in load order, as the image builder resolves
    // them from this kernel's own modules (they differ between Debian kernel builds).
    let tree = xtask::image::kmod::scan(&modules).expect("the kernel's module tree scans");
    let requests: Vec<xtask::image::kmod::Request> = ["virtio_pci", "virtio_net"]
        .iter()
        .map(|name| xtask::image::kmod::Request {
            name: (*name).to_owned(),
            required: true,
        })
        .collect();
    let load_order = tree
        .index
        .resolve(&requests)
        .expect("virtio_pci and virtio_net resolve")
        .load_order;
    let module_dir = scratch("qemu-http-fetch-modules");
    let paths: Vec<(PathBuf, String)> = load_order
        .iter()
        .map(|name| {
            let source = tree.source(name).expect("a resolved module has a file");
            let bytes = xtask::image::kmod::read_module(source).expect("reading the module");
            let file = module_dir.join(format!("{name}.ko"));
            std::fs::write(&file, bytes).expect("writing the module");
            (file, format!("{name}.ko"))
        })
        .collect();
    let extra: Vec<(&Path, &str)> = paths
        .iter()
        .map(|(p, n)| (p.as_path(), n.as_str()))
        .collect();
    let module_list: Vec<&str> = load_order.iter().map(String::as_str).collect();
    // slirp's network is fixed (guest 10.0.2.15/24), so no DHCP client is needed here.
    let init = format!(
        "{TINY_PREAMBLE}\
         for m in {modules}; do /bin/busybox insmod /$m.ko || echo INSMOD-FAILED $m; done
         /bin/busybox ip link set lo up
         /bin/busybox ip addr add 10.0.2.15/24 dev eth0
         /bin/busybox ip link set eth0 up
         for i in 1 2 3 4 5; do
             /bin/busybox wget -q -O /fetched {url} && break
             /bin/busybox sleep 1
         done
         /bin/busybox sed 's/^/FETCHED: /' /fetched
         /bin/busybox poweroff -f
         ",
        modules = module_list.join(" "),
        url = server.url_for("hello"),
    );
    let initrd = tiny_initrd("qemu-http-fetch", &init, &extra);
    let log = Qemu::new(&vmlinuz, &initrd)
        .name("testbed-http-fetch")
        .nic("52:54:00:12:34:56")
        .timeout(Duration::from_secs(120))
        .run()
        .expect("QEMU runs");
    log.assert_not_contains("INSMOD-FAILED");
    log.assert_contains("FETCHED: hello from the host");
    assert!(
        log.exited_cleanly(),
        "{}",
        log.failure_report("no clean power-off")
    );
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/hello" && r.status == Some(200)),
        "{requests:?}"
    );
}

/// [`Qemu::pxe`]: the NIC's iPXE ROM gets its boot file from slirp's TFTP server, and the iPXE
/// script it holds loads the kernel and initrd over HTTP from the test server.
#[test]
fn qemu_pxe_boot_chains_to_http_and_boots_the_kernel() {
    let Some(vmlinuz) = qemu_prerequisites() else {
        return;
    };
    let init = format!("{TINY_PREAMBLE}echo TESTBED-PXE-OK\n/bin/busybox poweroff -f\n");
    let initrd = tiny_initrd("qemu-pxe", &init, &[]);
    let server = HttpServer::serve_files(BTreeMap::from([
        (
            "vmlinuz".to_owned(),
            std::fs::read(&vmlinuz).expect("read kernel"),
        ),
        (
            "initrd".to_owned(),
            std::fs::read(&initrd).expect("read initrd"),
        ),
    ]))
    .expect("server starts");
    let tftp = scratch("qemu-pxe-tftp");
    let script = format!(
        "#!ipxe\n\
         echo TESTBED-IPXE-SCRIPT\n\
         kernel {} console=ttyS0 panic=-1\n\
         initrd {}\n\
         boot\n",
        server.url_for("vmlinuz"),
        server.url_for("initrd")
    );
    std::fs::write(tftp.join("boot.ipxe"), script).expect("write script");
    let log = Qemu::pxe()
        .name("testbed-pxe")
        .nic_with(testbed::Nic::new("52:54:00:12:34:56").tftp(&tftp, "boot.ipxe"))
        .timeout(Duration::from_secs(180))
        .run()
        .expect("QEMU runs");
    log.assert_contains("TESTBED-IPXE-SCRIPT");
    log.assert_contains("TESTBED-PXE-OK");
    assert!(
        log.exited_cleanly(),
        "{}",
        log.failure_report("no clean power-off")
    );
    let fetched: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert!(fetched.contains(&"/vmlinuz".to_owned()), "{fetched:?}");
    eprintln!(
        "PXE boot: marker at {:.2} s",
        log.time_of("TESTBED-PXE-OK").unwrap_or_default()
    );
}
