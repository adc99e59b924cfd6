use super::*;
use crate::cmdline::ip::{AutoConf, StaticIp};
use crate::cmdline::nbd::NbdSpec;
use crate::cmdline::parse;

fn config(line: &str) -> Result<BootConfig, ConfigError> {
    BootConfig::from_params(&parse(line))
}

#[test]
fn defaults() {
    let c = config("").unwrap();
    assert_eq!(c, BootConfig::default());
    assert_eq!(c.init, "/sbin/init");
    assert_eq!(c.hostname.as_str(), "worker-{sha1:6}");
    assert_eq!((c.retry_secs, c.link_timeout_secs), (180, 10));
    assert_eq!(c.on_failure, FailurePolicy::default());
    assert!(!c.on_failure.shell);
    assert_eq!(c.on_failure.action, EmergencyAction::Reboot);
    assert_eq!(c.root, None);
}

#[test]
fn pxelinux_line_last_ip_wins_and_bootif_is_read() {
    let c = config(
        "BOOT_IMAGE=vmlinuz console=ttyS0 ip=dhcp initrd=initrd.img \
         ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0 BOOTIF=01-52-54-00-12-34-56",
    )
    .unwrap();
    let Some(IpParam::Static(StaticIp {
        client,
        prefix_len,
        autoconf,
        ..
    })) = &c.ip
    else {
        panic!("{:?}", c.ip)
    };
    assert_eq!(*client, Some("10.0.2.15".parse().unwrap()));
    assert_eq!((*prefix_len, *autoconf), (Some(24), AutoConf::Off));
    assert_eq!(c.bootif, Some(Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56])));
    assert_eq!(
        config("ip=10.0.2.15 ip=dhcp").unwrap().ip,
        Some(IpParam::Auto(AutoConf::Dhcp))
    );
}

#[test]
fn seed_003_line_is_an_nfs_root_on_the_pxelinux_address() {
    let c = config(
        "BOOT_IMAGE=vmlinuz-6.1.0-21-amd64 root=/dev/nfs nfsroot=192.168.0.254:/clients,ro \
         ip=dhcp nfsrootdebug initrd=initrd-cluster-24_10_12_23_11_02_CEST \
         ip=192.168.0.4:192.168.0.254:192.168.0.254:255.255.255.0 \
         BOOTIF=01-00-23-24-94-34-ae CPU=6PVXL",
    )
    .unwrap();
    let share = NfsShare {
        server: Some("192.168.0.254".into()),
        path: "/clients".into(),
        options: vec!["ro".into()],
    };
    assert_eq!(
        c.root,
        Some(RootSource::Nfs {
            share: Some(share),
            default_version: NfsVersion::V3,
            syntax: NfsSyntax::Kernel
        })
    );
    assert_eq!(c.bootif.map(|m| m.hex12()).as_deref(), Some("0023249434ae"));
    assert!(matches!(c.ip, Some(IpParam::Static(_))));
}

#[test]
fn root_sources() {
    let live = |url: &str| {
        Some(RootSource::LiveImage {
            url: url.to_owned(),
        })
    };
    let other = |v: &str| Some(RootSource::Other(v.to_owned()));
    let nfs = |server: Option<&str>, path: &str, options: &[&str], default_version, syntax| {
        Some(RootSource::Nfs {
            share: Some(NfsShare {
                server: server.map(str::to_owned),
                path: path.to_owned(),
                options: options.iter().map(|o| (*o).to_owned()).collect(),
            }),
            default_version,
            syntax,
        })
    };
    let cases = [
        (
            "root=live:http://10.0.2.2/root.sqfs",
            live("http://10.0.2.2/root.sqfs"),
        ),
        (
            "root=live:https://images.lab/r.sqfs",
            live("https://images.lab/r.sqfs"),
        ),
        (
            "root=http://10.0.2.2:8080/r.sqfs",
            live("http://10.0.2.2:8080/r.sqfs"),
        ),
        ("root=HTTPS://h/r", live("HTTPS://h/r")),
        (
            "root=/dev/nfs",
            Some(RootSource::Nfs {
                share: None,
                default_version: NfsVersion::V3,
                syntax: NfsSyntax::Kernel,
            }),
        ),
        (
            "root=/dev/nfs nfsroot=/srv/%s,vers=4.1",
            nfs(
                None,
                "/srv/%s",
                &["vers=4.1"],
                NfsVersion::V3,
                NfsSyntax::Kernel,
            ),
        ),
        (
            "root=nfs:10.0.2.2:/srv/root",
            nfs(
                Some("10.0.2.2"),
                "/srv/root",
                &[],
                NfsVersion::V3,
                NfsSyntax::Dracut,
            ),
        ),
        (
            "root=nfs4:10.0.2.2:/nfsroot:port=20490,vers=4.1",
            nfs(
                Some("10.0.2.2"),
                "/nfsroot",
                &["port=20490", "vers=4.1"],
                NfsVersion::V4,
                NfsSyntax::Dracut,
            ),
        ),
        ("root=/dev/sda1", other("/dev/sda1")),
        ("root=live:/dev/sr0", other("live:/dev/sr0")),
        ("root=live:ftp://h/r", other("live:ftp://h/r")),
        ("root=/dev/sda1 root=live:http://h/r", live("http://h/r")),
    ];
    for (line, want) in cases {
        assert_eq!(config(line).unwrap().root, want, "{line}");
    }
}

#[test]
fn node_storage_keys() {
    let c = config(
        "root=/dev/nfs nfsroot=10.0.2.2:/clients,ro diskless.node=10.0.2.2:/workers,port=2049 \
         diskless.node.dir=node-{sha1:8} diskless.node.mount=/var/local \
         diskless.mount=10.0.2.2:/workers/home,/home diskless.mount=nas:/scratch,/scratch,ro,vers=4.1 \
         diskless.persist=/etc/ssh,/var/log diskless.overlay=tmpfs rw",
    )
    .unwrap();
    assert_eq!(c.node.as_ref().map(|n| n.path.as_str()), Some("/workers"));
    assert_eq!(c.node_dir.as_str(), "node-{sha1:8}");
    assert_eq!(c.mounts.len(), 2);
    assert_eq!(c.mounts[0].mountpoint, "/home");
    assert_eq!(c.mounts[0].share.path, "/workers/home");
    assert_eq!(c.mounts[1].share.options, ["ro", "vers=4.1"]);
    assert_eq!(c.persist, ["/etc/ssh", "/var/log"]);
    assert_eq!(c.overlay, Some(OverlayMode::Tmpfs));
    assert_eq!(c.root_rw, Some(true));
    assert_eq!(config("").unwrap().node_dir.as_str(), "{mac}");
}

#[test]
fn interface_names() {
    let c = config("").unwrap();
    assert!(c.predictable_names);
    assert!(c.pinned_names.is_empty());
    let c = config(
        "net.ifnames=0 ifname=lan0:52:54:00:12:34:56 ifname=lan1:52:54:00:12:34:57 \
         ifname=boot:52:54:00:12:34:56",
    )
    .unwrap();
    assert!(!c.predictable_names);
    let names: Vec<&str> = c.pinned_names.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["lan1", "boot"], "the last ifname= for a MAC wins");
    for (line, reason) in [
        ("net.ifnames=no", "expected 0 or 1"),
        ("net.ifnames", "expected 0 or 1"),
        ("ifname=eth1:52:54:00:12:34:56", "the kernel gives itself"),
        ("ifname=lan0", "<name>:<mac>"),
    ] {
        let err = config(line).unwrap_err();
        assert!(err.reason.contains(reason), "{line}: {err}");
    }
}

#[test]
fn volatile_paths_and_tmpfs_mounts() {
    let c = config(
        "diskless.volatile=/etc,/var diskless.tmpfs=/var/lib/containerd \
         diskless.tmpfs=/var/lib/kubelet,size=2G,mode=0700",
    )
    .unwrap();
    assert_eq!(c.volatile, Some(vec!["/etc".to_owned(), "/var".to_owned()]));
    assert_eq!(
        c.tmpfs,
        [
            TmpfsMount {
                path: "/var/lib/containerd".into(),
                size: None,
                mode: 0o755
            },
            TmpfsMount {
                path: "/var/lib/kubelet".into(),
                size: Some("2G".into()),
                mode: 0o700
            },
        ]
    );
    assert_eq!(
        config("diskless.volatile=none").unwrap().volatile,
        Some(vec![])
    );
    assert_eq!(config("").unwrap().volatile, None);
    for (line, reason) in [
        ("diskless.volatile=var", "not an absolute path"),
        ("diskless.volatile=/", "not an absolute path"),
        ("diskless.tmpfs=/x,size=0", "no limit"),
        ("diskless.tmpfs=/x,mode=999", "octal mode"),
        ("diskless.tmpfs=/x,mode=-1", "octal mode"),
        ("diskless.tmpfs=/x,uid=0", "unknown option"),
        ("diskless.tmpfs=relative", "not an absolute path"),
    ] {
        let err = config(line).unwrap_err();
        assert!(err.reason.contains(reason), "{line}: {err}");
    }
}

#[test]
fn node_storage_values_are_checked() {
    let cases = [
        (
            "diskless.persist=/etc/ssh",
            "diskless.persist",
            "needs diskless.node=",
        ),
        (
            "diskless.node=workers",
            "diskless.node",
            "must start with /",
        ),
        (
            "diskless.node.mount=var/local",
            "diskless.node.mount",
            "absolute path",
        ),
        (
            "diskless.node.mount=/var/../etc",
            "diskless.node.mount",
            "absolute path",
        ),
        (
            "diskless.mount=10.0.2.2:/home",
            "diskless.mount",
            "<mountpoint>",
        ),
        ("diskless.node.dir=dhcp", "diskless.node.dir", "DHCP"),
        ("diskless.node.dir=../{mac}", "diskless.node.dir", ""),
        ("diskless.overlay=disk", "diskless.overlay", "tmpfs or none"),
        (
            "root=/dev/nfs nfsroot=clients",
            "nfsroot",
            "must start with /",
        ),
    ];
    for (line, key, reason) in cases {
        let err = config(line).unwrap_err();
        assert_eq!(err.key, key, "{line}");
        assert!(err.reason.contains(reason), "{line}: {}", err.reason);
    }
}

#[test]
fn values_are_read() {
    let c = config(
        "init=/usr/lib/systemd/systemd diskless.hostname=worker-node-{mac} \
         diskless.sha256=ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789 \
         diskless.overlay.size=50% nameserver=10.0.2.3 nameserver=[fd00::53] \
         rd.shell rd.debug=0 rd.emergency=poweroff rd.retry=60 rd.timeout=5 \
         rd.net.timeout.carrier=7 rd.driver.pre=virtio-net,,e1000 rd.driver.pre=virtio_net \
         rd.driver.blacklist=nouveau modprobe.blacklist=floppy,pcspkr quiet foo=bar",
    )
    .unwrap();
    assert_eq!(c.init, "/usr/lib/systemd/systemd");
    assert_eq!(c.hostname.as_str(), "worker-node-{mac}");
    let sha = c.image_sha256.unwrap();
    assert_eq!((sha[0], sha[1], sha[31]), (0xab, 0xcd, 0x89));
    assert_eq!(c.overlay_size.as_deref(), Some("50%"));
    let dns: Vec<IpAddr> = vec!["10.0.2.3".parse().unwrap(), "fd00::53".parse().unwrap()];
    assert_eq!(c.nameservers, dns);
    assert!(c.on_failure.shell);
    assert!(!c.debug);
    assert_eq!(c.on_failure.action, EmergencyAction::Poweroff);
    assert_eq!((c.retry_secs, c.link_timeout_secs), (60, 7));
    assert_eq!(c.driver_pre, ["virtio_net", "e1000"]);
    assert_eq!(c.driver_blacklist, ["nouveau", "floppy", "pcspkr"]);
}

#[test]
fn flags_and_sizes() {
    let cases: &[(&str, bool)] = &[
        ("rd.shell", true),
        ("rd.shell=1", true),
        ("rd.shell=yes", true),
        ("rd.shell=0", false),
        ("rd.shell=no", false),
        ("rd.shell=false", false),
        ("rd.shell=", true),
        ("rd.shell=off", false),
        ("rd.shell rd.shell=0", false),
    ];
    for (line, want) in cases {
        assert_eq!(config(line).unwrap().on_failure.shell, *want, "{line}");
    }
    for size in [
        "1",
        "536870912",
        "512k",
        "512K",
        "512M",
        "512m",
        "2G",
        "2g",
        "1%",
        "100%",
    ] {
        let c = config(&format!("diskless.overlay.size={size}")).unwrap();
        assert_eq!(c.overlay_size.as_deref(), Some(size));
    }
}

#[test]
fn errors_name_key_and_value() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("ip=10.0.2.300", "ip", "10.0.2.300", "client"),
        ("ip=dchp ip=dhcp", "ip", "dchp", "autoconf"),
        ("ip", "ip", "", "empty"),
        (
            "BOOTIF=06-52-54-00-12-34-56",
            "BOOTIF",
            "06-52-54-00-12-34-56",
            "Ethernet",
        ),
        ("BOOTIF", "BOOTIF", "", "MAC"),
        ("diskless.sha256=abc", "diskless.sha256", "abc", "64 hex"),
        ("diskless.sha256", "diskless.sha256", "", "needs a value"),
        (
            "diskless.sha256=zzcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
            "diskless.sha256",
            "zzcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
            "64 hex",
        ),
        (
            "diskless.hostname=worker-{ip}",
            "diskless.hostname",
            "worker-{ip}",
            "{ip}",
        ),
        (
            "diskless.hostname=Worker",
            "diskless.hostname",
            "Worker",
            "'W'",
        ),
        (
            "diskless.overlay.size=0",
            "diskless.overlay.size",
            "0",
            "no limit",
        ),
        (
            "diskless.overlay.size=0%",
            "diskless.overlay.size",
            "0%",
            "1% to 100%",
        ),
        (
            "diskless.overlay.size=101%",
            "diskless.overlay.size",
            "101%",
            "1% to 100%",
        ),
        (
            "diskless.overlay.size=2T",
            "diskless.overlay.size",
            "2T",
            "suffix",
        ),
        (
            "diskless.overlay.size=-1",
            "diskless.overlay.size",
            "-1",
            "suffix",
        ),
        (
            "diskless.overlay.size=M",
            "diskless.overlay.size",
            "M",
            "suffix",
        ),
        ("diskless.hostnme=x", "diskless.hostnme", "x", "unknown key"),
        ("diskless.debug", "diskless.debug", "", "unknown key"),
        ("rd.shell=maybe", "rd.shell", "maybe", "expected 0, 1"),
        ("rd.shell=TRUE", "rd.shell", "TRUE", "expected 0, 1"),
        (
            "rd.emergency=shell",
            "rd.emergency",
            "shell",
            "reboot, poweroff or halt",
        ),
        ("rd.emergency", "rd.emergency", "", "needs a value"),
        ("rd.retry=0", "rd.retry", "0", "positive"),
        ("rd.retry=-5", "rd.retry", "-5", "positive"),
        (
            "rd.retry=99999999999",
            "rd.retry",
            "99999999999",
            "positive",
        ),
        ("rd.timeout=10s", "rd.timeout", "10s", "positive"),
        (
            "rd.net.timeout.carrier=",
            "rd.net.timeout.carrier",
            "",
            "needs a value",
        ),
        ("nameserver=dns.lab", "nameserver", "dns.lab", "not an IP"),
        ("root=live:http://", "root", "live:http://", "no host"),
        ("root=https:///r.sqfs", "root", "https:///r.sqfs", "no host"),
        ("init=sbin/init", "init", "sbin/init", "absolute"),
    ];
    for (line, key, value, reason) in cases {
        let err = config(line).unwrap_err();
        assert_eq!(
            (err.key.as_str(), err.value.as_str()),
            (*key, *value),
            "{line}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(reason), "{line}: {msg}");
        assert!(
            msg.starts_with(&format!("{key}={value:?}")),
            "{line}: {msg}"
        );
    }
}

#[test]
fn mirrors_are_urls_kept_in_order() {
    let c = config(
        "root=live:http://a/r.sqfs diskless.mirror=https://b/r.sqfs \
         diskless.mirror=live:http://c:8080/r.sqfs",
    )
    .unwrap();
    assert_eq!(c.mirrors, ["https://b/r.sqfs", "http://c:8080/r.sqfs"]);
    for (line, reason) in [
        ("diskless.mirror=nfs:10.0.2.2:/srv", "http:// or https://"),
        ("diskless.mirror=/dev/sda", "http:// or https://"),
        ("diskless.mirror=http:///r", "no host"),
        ("diskless.mirror", "needs a value"),
    ] {
        let err = config(line).unwrap_err();
        assert_eq!(err.key, "diskless.mirror", "{line}");
        assert!(err.reason.contains(reason), "{line}: {err}");
    }
}

#[test]
fn ntp_servers_are_kept_in_order() {
    let c = config("diskless.ntp=10.0.2.2:12300 diskless.ntp=ntp.lab").unwrap();
    let given: Vec<String> = c.ntp.iter().map(ToString::to_string).collect();
    assert_eq!(given, ["10.0.2.2:12300", "ntp.lab"]);
    for (line, reason) in [
        ("diskless.ntp=10.0.2.2:0", "not a number from 1 to 65535"),
        ("diskless.ntp=[fd00::1]", "IPv6"),
        ("diskless.ntp", "needs a value"),
    ] {
        let err = config(line).unwrap_err();
        assert_eq!(err.key, "diskless.ntp", "{line}");
        assert!(err.reason.contains(reason), "{line}: {err}");
    }
}

#[test]
fn every_diskless_key_is_known() {
    for key in DISKLESS_KEYS {
        let err = config(key).unwrap_err();
        assert_eq!(err.reason, "needs a value", "{key} is listed but not read");
    }
}

#[test]
fn unknown_keys_and_init_arguments_are_left_alone() {
    let c = config(
        "quiet splash console=ttyS0,115200 nfsroot=x rd.neednet=1 -- diskless.bogus rd.shell",
    );
    assert_eq!(c, Ok(BootConfig::default()));
}

#[test]
fn failure_policy_follows_dracut_keys_and_survives_bad_values() {
    let cases = [
        (
            "",
            FailurePolicy {
                shell: false,
                action: EmergencyAction::Reboot,
            },
        ),
        (
            "rd.shell",
            FailurePolicy {
                shell: true,
                action: EmergencyAction::Reboot,
            },
        ),
        (
            "rd.shell=1 rd.shell=0",
            FailurePolicy {
                shell: false,
                action: EmergencyAction::Reboot,
            },
        ),
        (
            "rd.emergency=poweroff",
            FailurePolicy {
                shell: false,
                action: EmergencyAction::Poweroff,
            },
        ),
        (
            "rd.emergency=halt rd.shell=yes",
            FailurePolicy {
                shell: true,
                action: EmergencyAction::Halt,
            },
        ),
        (
            "rd.emergency=bogus",
            FailurePolicy {
                shell: false,
                action: EmergencyAction::Reboot,
            },
        ),
        (
            "rd.shell=on rd.emergency=poweroff rd.emergency=",
            FailurePolicy {
                shell: true,
                action: EmergencyAction::Poweroff,
            },
        ),
    ];
    for (line, expected) in cases {
        let (policy, _) = read(&crate::cmdline::parse(line));
        assert_eq!(policy, expected, "{line}");
    }
}

#[test]
fn network_handover() {
    let cases: &[(&str, Result<Option<HandoverMode>, &str>)] = &[
        ("", Ok(None)),
        ("diskless.handover=keep", Ok(Some(HandoverMode::Keep))),
        ("diskless.handover=none", Ok(Some(HandoverMode::None))),
        (
            "diskless.handover=none diskless.handover=keep",
            Ok(Some(HandoverMode::Keep)),
        ),
        ("diskless.handover=yes", Err("expected keep or none")),
        ("diskless.handover=Keep", Err("expected keep or none")),
        ("diskless.handover", Err("needs a value")),
        ("diskless.handover=", Err("needs a value")),
    ];
    for (line, want) in cases {
        match (config(line), want) {
            (Ok(c), Ok(want)) => assert_eq!(c.handover, *want, "{line}"),
            (Err(err), Err(reason)) => {
                assert_eq!(err.key, "diskless.handover", "{line}");
                assert!(err.reason.contains(reason), "{line}: {err}");
            }
            (got, _) => panic!("{line}: {got:?}"),
        }
    }
}

/// dracut's `root=nbd:` and `root=/dev/nbd0 nbdroot=`, the NBD URI, `nbdroot=` alone, and
/// `diskless.verity=` where a block device root may come.
#[test]
fn nbd_roots_and_verity() {
    let nbd = |server: &str, port: u16, export: &str, options: Option<&str>| {
        Some(RootSource::Nbd(NbdSpec {
            server: server.to_owned(),
            port,
            export: export.to_owned(),
            mount_options: options.map(str::to_owned),
        }))
    };
    let hash = "5eed".repeat(16);
    let cases = [
        (
            "root=nbd:10.0.2.2:root",
            nbd("10.0.2.2", 10809, "root", None),
        ),
        (
            "root=nbd:nbd.lab:2000:squashfs",
            nbd("nbd.lab", 2000, "", None),
        ),
        (
            "root=nbd://10.0.2.2:20809/root",
            nbd("10.0.2.2", 20809, "root", None),
        ),
        (
            "root=/dev/nbd0 nbdroot=10.0.2.2:root::errors=continue",
            nbd("10.0.2.2", 10809, "root", Some("errors=continue")),
        ),
        ("nbdroot=nbd:10.0.2.2:2000", nbd("10.0.2.2", 2000, "", None)),
        (
            "nbdroot=nbd://h/x root=/dev/nbd0",
            nbd("h", 10809, "x", None),
        ),
    ];
    for (line, want) in cases {
        assert_eq!(config(line).unwrap().root, want, "{line}");
    }
    let c = config(&format!(
        "root=nbd:h:root diskless.verity={}",
        hash.to_uppercase()
    ))
    .unwrap();
    assert_eq!(
        c.verity_roothash,
        Some([0x5e, 0xed].repeat(16).try_into().unwrap())
    );
    // DHCP's root path may name an NBD root.
    assert!(config(&format!("root=dhcp diskless.verity={hash}")).is_ok());

    let errors: &[(&str, &str, &str)] = &[
        ("root=nbd:", "root", "no server"),
        ("root=nbd:h:root:ext4", "root", "an NBD root is a squashfs"),
        ("root=nbd://h:0/root", "root", "expected 1 to 65535"),
        ("root=/dev/nbd0", "root", "needs nbdroot="),
        ("nbdroot=h:70000", "nbdroot", "expected 1 to 65535"),
        (
            "root=live:http://h/r nbdroot=h:root",
            "nbdroot",
            "goes with root=/dev/nbd0",
        ),
        (
            "diskless.verity=abc root=nbd:h:x",
            "diskless.verity",
            "64 hex",
        ),
        (
            "root=live:http://h/r diskless.verity=0000000000000000000000000000000000000000000000000000000000000000",
            "diskless.verity",
            "block device root",
        ),
    ];
    for (line, key, reason) in errors {
        let err = config(line).expect_err(line);
        assert_eq!(err.key, *key, "{line}: {err}");
        assert!(err.reason.contains(reason), "{line}: {err}");
    }
}
