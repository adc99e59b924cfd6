#[test]
fn kernel_messages_interleaved_on_the_console_get_their_own_lines() {
    let cases: [(&str, &[&str]); 5] = [
        (
            "ROOT-HOSTNAME=k8s-node3[    3.664486] IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready",
            &[
                "ROOT-HOSTNAME=k8s-node3",
                "[    3.664486] IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready",
            ],
        ),
        (
            "[    1.000000] Run /init as init process",
            &["[    1.000000] Run /init as init process"],
        ),
        ("ROOT-X=[1.5] not a stamp", &["ROOT-X=[1.5] not a stamp"]),
        (
            "a[12.123456] b[  7.000001] c",
            &["a", "[12.123456] b", "[  7.000001] c"],
        ),
        (
            "ROOT-DMESG: [    3.471250] diskless: x",
            &["ROOT-DMESG: [    3.471250] diskless: x"],
        ),
    ];
    for (line, parts) in cases {
        assert_eq!(split_kernel_messages(line), parts, "{line}");
    }
}

use super::*;

fn args_of(q: &Qemu) -> Vec<String> {
    q.command_args()
        .expect("valid configuration")
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn command_matches_the_baselines_plus_monitor_none_and_rng() {
    let q = Qemu::new("/k/vmlinuz", "/k/initrd.img")
        .append("ip=dhcp")
        .nic("52:54:00:12:34:56");
    assert_eq!(
        args_of(&q),
        [
            "-m",
            "1024",
            "-nographic",
            "-monitor",
            "none",
            "-no-reboot",
            "-kernel",
            "/k/vmlinuz",
            "-initrd",
            "/k/initrd.img",
            "-append",
            "console=ttyS0 panic=-1 ip=dhcp",
            "-netdev",
            "user,id=n0",
            "-device",
            "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56",
            "-device",
            "virtio-rng-pci,addr=0x1f",
        ]
    );
}

#[test]
fn cmdline_keeps_the_callers_console_and_panic() {
    let q = Qemu::new("k", "i")
        .append("console=ttyS0,115200 panic=5")
        .append("quiet");
    assert_eq!(
        q.kernel_cmdline().as_deref(),
        Some("console=ttyS0,115200 panic=5 quiet")
    );
    let q = Qemu::new("k", "i");
    assert_eq!(
        q.kernel_cmdline().as_deref(),
        Some("console=ttyS0 panic=-1")
    );
    // Another console does not stop the serial one from being added.
    let q = Qemu::new("k", "i").append("console=tty0");
    assert_eq!(
        q.kernel_cmdline().as_deref(),
        Some("console=ttyS0 panic=-1 console=tty0")
    );
}

#[test]
fn nics_are_numbered_and_take_models_and_netdev_options() {
    let q = Qemu::pxe()
        .nic_with(
            Nic::new("52:54:00:00:00:01")
                .model("e1000")
                .tftp(Path::new("/srv/a,b"), "x.ipxe"),
        )
        .nic("52:54:00:00:00:02")
        .rng(false)
        .memory_mb(512)
        .arg("-smp")
        .arg("2");
    assert_eq!(
        args_of(&q),
        [
            "-m",
            "512",
            "-nographic",
            "-monitor",
            "none",
            "-no-reboot",
            "-boot",
            "n",
            "-netdev",
            "user,id=n0,tftp=/srv/a,,b,bootfile=x.ipxe",
            "-device",
            "e1000,netdev=n0,mac=52:54:00:00:00:01",
            "-netdev",
            "user,id=n1",
            "-device",
            "virtio-net-pci,netdev=n1,mac=52:54:00:00:00:02",
            "-smp",
            "2",
        ]
    );
}

#[test]
fn no_nic_means_no_default_nic() {
    let args = args_of(&Qemu::new("k", "i"));
    let pos = args
        .iter()
        .position(|a| a == "-nic")
        .expect("-nic none present");
    assert_eq!(args[pos + 1], "none");
}

#[test]
fn contradictory_or_malformed_settings_are_config_errors() {
    let pxe_with_append = Qemu::pxe().nic("52:54:00:00:00:01").append("quiet");
    assert!(matches!(
        pxe_with_append.command_args(),
        Err(QemuError::Config { .. })
    ));
    assert!(matches!(
        Qemu::pxe().command_args(),
        Err(QemuError::Config { .. })
    ));
    let bad_mac = Qemu::new("k", "i").nic("52:54:00:00:01");
    assert!(matches!(
        bad_mac.command_args(),
        Err(QemuError::Config { .. })
    ));
    let bad_model = Qemu::new("k", "i").nic_with(Nic::new("52:54:00:00:00:01").model("e1000,x=1"));
    assert!(matches!(
        bad_model.command_args(),
        Err(QemuError::Config { .. })
    ));
}

#[test]
fn log_names_are_file_safe() {
    assert_eq!(
        sanitize_name("testbed::qemu::tests::x"),
        "testbed__qemu__tests__x"
    );
    assert_eq!(sanitize_name("../etc"), "qemu.._etc");
    assert_eq!(sanitize_name(""), "qemu");
}

fn log(lines: &[&str]) -> BootLog {
    BootLog {
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i as f64, (*l).to_owned()))
            .collect(),
        timed_out: false,
        exit: None,
        stopped_at: None,
        stderr: String::new(),
        log_path: PathBuf::from("/dev/null"),
        elapsed: Duration::ZERO,
    }
}

#[test]
fn boot_log_helpers_find_markers_values_and_blocks() {
    let log = log(&[
        "[    0.000000] Linux version 6.1",
        "ROOT-HOSTNAME=worker-64e59a",
        "ROOT-HOSTNAME-EXTRA=no",
        "ROOT-MOUNTS-BEGIN",
        "ROOT-MOUNT: proc /proc proc rw 0 0",
        "[    2.1] random: crng init done",
        "ROOT-MOUNT: sysfs /sys sysfs rw 0 0",
        "ROOT-MOUNTS-END",
        "ROOT-MACHINE-ID=",
    ]);
    assert!(log.contains("crng init"));
    assert_eq!(
        log.line_starting("ROOT-HOSTNAME"),
        Some("ROOT-HOSTNAME=worker-64e59a")
    );
    assert_eq!(log.value("ROOT-HOSTNAME").as_deref(), Some("worker-64e59a"));
    assert_eq!(log.value("ROOT-MACHINE-ID").as_deref(), Some(""));
    assert_eq!(log.value("ROOT-MISSING"), None);
    assert_eq!(
        log.prefixed("ROOT-MOUNT: "),
        ["proc /proc proc rw 0 0", "sysfs /sys sysfs rw 0 0"]
    );
    assert_eq!(log.time_of("ROOT-MOUNTS-END"), Some(7.0));
    assert_eq!(log.tail(1), "[   8.000] ROOT-MACHINE-ID=\n");
}

#[test]
fn assert_contains_shows_the_console_tail() {
    let log = log(&["first", "last line"]);
    log.assert_contains("last");
    let panic =
        std::panic::catch_unwind(|| log.assert_contains("never printed")).expect_err("must panic");
    let message = panic
        .downcast_ref::<String>()
        .expect("formatted panic message");
    assert!(message.contains("\"never printed\""), "{message}");
    assert!(message.contains("last line"), "{message}");
    assert!(message.contains("/dev/null"), "{message}");
}

#[test]
fn more_than_one_vcpu_is_asked_with_smp() {
    let one = Qemu::new("/k/vmlinuz", "/k/initrd.img");
    assert!(!args_of(&one).contains(&"-smp".to_owned()));
    let two = args_of(&Qemu::new("/k/vmlinuz", "/k/initrd.img").cpus(2));
    let at = two.iter().position(|a| a == "-smp").expect("-smp given");
    assert_eq!(two.get(at + 1).map(String::as_str), Some("2"));
}
