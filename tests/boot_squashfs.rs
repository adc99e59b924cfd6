//! A diskless node boots the real Debian cloud kernel in QEMU from a squashfs image served
//! over HTTP on 127.0.0.1, with a tmpfs overlay and a MAC-derived identity.

mod common;

use common::{BOOTIF, MAC, STATIC_IP, block, fixture, record};
use diskless::identity::{self, Mac};
use sha2::{Digest, Sha256};
use testbed::{HttpServer, MachineIdFile, RootSpec};

fn sha256_hex(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).expect("reading the image");
    diskless::hex::encode(&Sha256::digest(&bytes))
}

fn live_cmdline(server: &HttpServer, extra: &str) -> String {
    format!(
        "{BOOTIF} {STATIC_IP} root=live:{} rd.emergency=poweroff {extra}",
        server.url_for("root.squashfs")
    )
}

#[test]
fn node_boots_a_squashfs_root_over_http_as_worker_64e59a() {
    let Some(fx) = fixture() else { return };
    let image = fx.squashfs_root("standard", &RootSpec::default());
    let image_sha = sha256_hex(&image);
    let image_before = std::fs::read(&image).expect("reading the image");
    let server =
        HttpServer::serve_files([("root.squashfs".to_owned(), image_before.clone())].into())
            .expect("http server");

    let log = fx.boot(
        "squashfs-standard",
        &live_cmdline(&server, &format!("diskless.sha256={image_sha}")),
        &[MAC],
    );

    // The image's own init ran, as PID 1, on the node's derived identity.
    log.assert_contains("ROOT-INIT-REACHED");
    assert_eq!(
        log.value("ROOT-SELF-PID").as_deref(),
        Some("1"),
        "{}",
        log.tail(40)
    );
    let pid1 = log.value("ROOT-PID1-CMDLINE").unwrap_or_default();
    assert!(pid1.trim().ends_with("/sbin/init"), "PID 1 is {pid1:?}");
    assert_eq!(log.value("ROOT-HOSTNAME").as_deref(), Some("worker-64e59a"));
    assert_eq!(
        log.value("ROOT-ETC-HOSTNAME").as_deref(),
        Some("worker-64e59a")
    );

    // /etc/hosts keeps the image's lines and maps the name to both loopbacks.
    let hosts = block(&log, "ROOT-HOSTS: ");
    assert!(
        hosts
            .iter()
            .any(|l| l.starts_with("127.0.0.1") && l.contains("localhost")),
        "{hosts:?}"
    );
    assert!(
        hosts.contains(&"127.0.0.1 worker-64e59a".to_owned()),
        "{hosts:?}"
    );
    assert!(hosts.contains(&"::1 worker-64e59a".to_owned()), "{hosts:?}");
    assert!(
        !hosts.iter().any(|l| l.contains("image-build-host")),
        "the image's build name must go: {hosts:?}"
    );

    // A writable /etc on an overlay of the read-only squashfs, with its upper layer in RAM.
    assert_eq!(log.value("ROOT-ETC-WRITABLE").as_deref(), Some("yes"));
    let mounts = block(&log, "ROOT-MOUNT: ");
    assert!(
        mounts.iter().any(|m| m.starts_with("overlay / overlay rw")),
        "{mounts:?}"
    );
    assert!(
        mounts
            .iter()
            .any(|m| m.starts_with("/dev/loop0 /run/diskless/lower squashfs ro")),
        "{mounts:?}"
    );
    assert!(
        mounts.iter().any(|m| m.contains("/run/diskless/rw tmpfs")),
        "{mounts:?}"
    );
    for moved in ["/dev devtmpfs", "/proc proc", "/sys sysfs", "/run tmpfs"] {
        assert!(
            mounts.iter().any(|m| m.contains(moved)),
            "{moved} was not moved into the root: {mounts:?}"
        );
    }

    // Any user of the node may read the record, never the image: its own modes (its
    // /etc/shadow, its keys) mean nothing to whoever reads the file whole.
    let readable = block(&log, "ROOT-NOBODY-READS: ");
    assert!(
        readable.iter().any(|f| f == "/run/diskless/boot.json"),
        "the check itself must work: {readable:?}"
    );
    assert!(
        !readable.iter().any(|f| f.ends_with(".squashfs")),
        "an unprivileged user reads the image: {readable:?}"
    );

    // The record under /run/diskless says what was done.
    let record = record(&log);
    assert_eq!(
        record.hostname.as_deref(),
        Some("worker-64e59a"),
        "{record:?}"
    );
    assert_eq!(record.mac.as_deref(), Some(MAC), "{record:?}");
    assert_eq!(record.interface.as_deref(), Some("ens3"), "{record:?}");
    assert_eq!(record.addresses, ["10.0.2.15/24"], "{record:?}");
    assert_eq!(record.image_sha256, Some(image_sha), "{record:?}");
    assert_eq!(
        record.image_url,
        Some(server.url_for("root.squashfs")),
        "{record:?}"
    );
    for step in ["fetch", "verify", "mount"] {
        assert!(record.step(step).is_some(), "no {step} step: {record:?}");
    }
    // The init's own memory (VmHWM), within its 16 MB budget (issue 15).
    assert!(
        record
            .peak_rss_kib
            .is_some_and(|kib| kib > 0 && kib * 1024 < 16_000_000),
        "{record:?}"
    );

    // The NIC came up through modules loaded in an order the kernel accepts: each after the
    // modules it depends on, as the image's modules.dep lists them for this kernel build
    // (which modules those are, and so the exact order, changes between Debian kernels).
    let loaded = common::assert_loaded_after_dependencies(&log, &fx.modules);
    for driver in ["virtio_pci", "virtio_net", "loop"] {
        assert!(
            loaded.iter().any(|m| m == driver),
            "{driver} not loaded: {loaded:?}"
        );
    }
    let dmesg = block(&log, "ROOT-DMESG: ").join("\n");
    // Named as the root's udev would (QEMU's i440fx puts the NIC in hotplug slot 3).
    assert!(
        dmesg.contains("eth0 is ens3 (the name the root's udev gives it)"),
        "{dmesg}"
    );
    assert!(
        dmesg.contains("boot interface ens3 (52:54:00:12:34:56)"),
        "{dmesg}"
    );
    assert!(dmesg.contains("sha256 matches"), "{dmesg}");
    // Drivers load by the hardware present (modalias), not because the image has them.
    assert!(
        !record
            .modules_loaded
            .iter()
            .any(|m| m == common::UNUSED_DRIVER),
        "{record:?}"
    );
    assert!(!dmesg.contains(common::UNUSED_DRIVER), "{dmesg}");
    assert!(
        !loaded.iter().any(|m| m == common::UNUSED_DRIVER),
        "{loaded:?}"
    );
    // The file systems the root mounts loaded beside the network, before the mount, so the
    // kernel never had to ask /sbin/modprobe (this init, started again) for them.
    common::assert_loaded_beside_the_network(&log, &["loop", "squashfs", "overlay"], &[]);

    // One fetch, and the shared image is untouched.
    let gets: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(
        std::fs::read(&image).expect("reading the image"),
        image_before
    );
    assert!(log.exited_cleanly(), "{}", log.outcome());
}

#[test]
fn names_follow_the_template_and_machine_ids_follow_the_mac() {
    let Some(fx) = fixture() else { return };
    let image = fx.squashfs_root(
        "uninitialized-id",
        &RootSpec::default().machine_id(MachineIdFile::Uninitialized),
    );
    let server = HttpServer::serve_dir(image.parent().expect("scratch dir")).expect("http server");
    let name = image
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name")
        .to_owned();
    let url = server.url_for(&name);
    let other_mac = "52:54:00:ab:cd:ef";

    let boot = |label: &str, mac: &str, extra: &str| {
        let bootif = format!("BOOTIF=01-{}", mac.replace(':', "-"));
        fx.boot(
            label,
            &format!("{bootif} {STATIC_IP} root=live:{url} rd.emergency=poweroff {extra}"),
            &[mac],
        )
    };
    let first = boot("template-mac", MAC, "diskless.hostname=worker-node-{mac}");
    let again = boot("template-default", MAC, "");
    let other = boot(
        "template-other-mac",
        other_mac,
        "diskless.hostname=worker-node-{mac}",
    );

    assert_eq!(
        first.value("ROOT-HOSTNAME").as_deref(),
        Some("worker-node-525400123456"),
        "{}",
        first.tail(30)
    );
    assert_eq!(
        first.value("ROOT-ETC-HOSTNAME").as_deref(),
        Some("worker-node-525400123456")
    );
    assert_eq!(
        again.value("ROOT-HOSTNAME").as_deref(),
        Some("worker-64e59a")
    );
    assert_eq!(
        other.value("ROOT-HOSTNAME").as_deref(),
        Some("worker-node-525400abcdef")
    );

    let id = |log: &testbed::BootLog| log.value("ROOT-MACHINE-ID").expect("machine-id printed");
    assert_eq!(
        id(&first),
        id(&again),
        "one node must keep its machine-id across boots"
    );
    assert_ne!(
        id(&first),
        id(&other),
        "two nodes must not share a machine-id"
    );
    let mac: Mac = MAC.parse().expect("mac");
    assert_eq!(
        id(&first),
        identity::machine_id(&mac),
        "the id is the documented derivation"
    );
    assert_eq!(id(&first).len(), 32);
}

/// Each case must stop before the image's init with a FATAL line naming the cause, then
/// take the emergency action (here poweroff, which ends QEMU).
#[test]
fn bad_roots_end_in_a_plain_fatal_line_and_the_emergency_action() {
    let Some(fx) = fixture() else { return };
    let image = fx.squashfs_root("fatal", &RootSpec::default());
    let real_sha = sha256_hex(&image);
    let wrong_sha = "0".repeat(64);
    let server = HttpServer::serve_files(
        [
            (
                "root.squashfs".to_owned(),
                std::fs::read(&image).expect("image"),
            ),
            (
                "notes.txt".to_owned(),
                b"this is not a file system\n".repeat(10),
            ),
        ]
        .into(),
    )
    .expect("http server");
    // A port nothing listens on: bind, note it, close.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();

    let cases: [(&str, String, &[&str]); 4] = [
        (
            "fatal-wrong-sha256",
            format!(
                "{BOOTIF} {STATIC_IP} root=live:{} diskless.sha256={wrong_sha}",
                server.url_for("root.squashfs")
            ),
            &[
                "diskless: FATAL fetch:",
                &format!("has sha256 {real_sha}, expected {wrong_sha}"),
            ],
        ),
        (
            "fatal-no-root",
            format!("{BOOTIF} {STATIC_IP}"),
            &["diskless: FATAL cmdline: no root= on the kernel command line"],
        ),
        (
            "fatal-unreachable",
            format!(
                "{BOOTIF} {STATIC_IP} root=live:http://10.0.2.2:{dead_port}/root.squashfs rd.retry=3"
            ),
            &["diskless: FATAL fetch: fetching http://10.0.2.2:"],
        ),
        (
            "fatal-not-squashfs",
            format!(
                "{BOOTIF} {STATIC_IP} root=live:{}",
                server.url_for("notes.txt")
            ),
            &[
                "diskless: FATAL verify:",
                "is not a usable squashfs image: bad magic",
            ],
        ),
    ];
    for (label, cmdline, expected) in cases {
        let log = fx.boot(label, &format!("{cmdline} rd.emergency=poweroff"), &[MAC]);
        common::assert_fatal(&log, label, expected);
        assert!(
            !log.contains("attached /run/diskless/root.squashfs"),
            "{label}: mounted unverified data"
        );
    }
}

/// `rd.shell=1`: a fatal error opens the image's busybox shell on the console; leaving it
/// goes on to the emergency action.
#[test]
fn rd_shell_opens_a_rescue_shell_on_the_console() {
    let Some(fx) = fixture() else { return };
    let log = testbed::Qemu::new(&fx.kernel.vmlinuz, &fx.initrd)
        .name("rescue-shell")
        .append(&format!(
            "{BOOTIF} {STATIC_IP} rd.shell=1 rd.emergency=poweroff"
        ))
        .nic(MAC)
        .timeout(std::time::Duration::from_secs(120))
        .type_after(
            "opening a rescue shell",
            "echo SHELL-$((6*7)) \"$(cat /etc/initrd-release | head -n1)\"\nexit\n",
        )
        .run()
        .expect("running QEMU");
    log.assert_contains("diskless: FATAL cmdline: no root=");
    // The shell ran our command (the echo of the typed line has no 42 in it).
    log.assert_contains("SHELL-42 NAME=diskless");
    log.assert_contains("diskless: rescue shell exited");
    log.assert_contains("diskless: powering off in");
    assert!(log.exited_cleanly(), "{}", log.outcome());
}
