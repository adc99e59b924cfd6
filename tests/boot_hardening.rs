//! PID 1 under bad input and odd hardware, on the real kernel in QEMU: debug lines on demand,
//! a command line that is not all UTF-8, an image whose symlinks would lead a mount out of the
//! new root, a driver that the kernel refuses, and a blacklist the kernel's own requests obey.

mod common;

use std::path::{Path, PathBuf};

use common::{BOOTIF, MAC, STATIC_IP, assert_fatal, fixture};
use testbed::nfs::{Export, NfsServer};
use testbed::{HttpServer, RootSpec};
use xtask::image::initrd::{self, InitrdOptions};

/// A squashfs test root served over HTTP, and the command line that boots it.
fn serve(name: &str, tree_edit: impl FnOnce(&Path)) -> (HttpServer, String) {
    serve_spec(name, &RootSpec::default(), tree_edit)
}

fn serve_spec(name: &str, spec: &RootSpec, tree_edit: impl FnOnce(&Path)) -> (HttpServer, String) {
    let fx = fixture().expect("checked by the caller");
    let tree = fx.scratch.join(format!("{name}.tree"));
    let image = fx.scratch.join(format!("{name}.squashfs"));
    let built = spec.build(&tree).expect("building the test root");
    tree_edit(built.path());
    built.squashfs(&image).expect("packing the squashfs");
    let bytes = std::fs::read(&image).expect("reading the image");
    let server =
        HttpServer::serve_files([("root.squashfs".to_owned(), bytes)].into()).expect("http server");
    let root = format!("root=live:{}", server.url_for("root.squashfs"));
    (server, root)
}

#[test]
fn rd_debug_shows_debug_lines_on_the_console() {
    let Some(fx) = fixture() else { return };
    let spec = RootSpec::default().hook("echo \"ROOT-PRINTK=$(cat /proc/sys/kernel/printk)\"");
    let (_server, root) = serve_spec("debug", &spec, |_| {});
    // DHCP on QEMU's user network logs its packet socket at debug level.
    let quiet = fx.boot(
        "debug-off",
        &format!("{BOOTIF} ip=dhcp {root} rd.emergency=poweroff"),
        &[MAC],
    );
    let loud = fx.boot(
        "debug-on",
        &format!("{BOOTIF} ip=dhcp {root} rd.debug rd.emergency=poweroff"),
        &[MAC],
    );
    const DEBUG_LINE: &str = "diskless: dhcp: ens3: packet socket on ifindex";
    for log in [&quiet, &loud] {
        log.assert_contains("ROOT-INIT-REACHED");
    }
    // On the console itself (kernel lines, before the root's init), not only in dmesg.
    let console_debug = |log: &testbed::BootLog| {
        log.lines
            .iter()
            .any(|(_, l)| l.contains(DEBUG_LINE) && !l.contains("ROOT-DMESG"))
    };
    assert!(console_debug(&loud), "{}", loud.tail(60));
    assert!(!console_debug(&quiet), "debug lines without rd.debug");
    assert!(
        !quiet.contains(DEBUG_LINE),
        "debug lines in dmesg without rd.debug"
    );
    // The kernel's console level is back for the real system.
    let printk = |log: &testbed::BootLog| log.value("ROOT-PRINTK");
    assert!(printk(&quiet).is_some(), "{}", quiet.tail(20));
    assert_eq!(printk(&loud), printk(&quiet));
}

#[test]
fn a_byte_that_is_not_utf8_in_someone_elses_parameter_does_not_stop_the_boot() {
    let Some(fx) = fixture() else { return };
    let (_server, root) = serve("not-utf8", |_| {});
    // Firmware and boot loaders put such bytes on the line (a vendor's Latin-1 label, say).
    let mut line =
        format!("{BOOTIF} {STATIC_IP} {root} rd.emergency=poweroff vendor.label=caf").into_bytes();
    line.push(0xe9);
    line.extend_from_slice(b" asset=\xff\xfe");
    let qemu = testbed::Qemu::new(&fx.kernel.vmlinuz, &fx.initrd)
        .name("not-utf8")
        .append_bytes(&line);
    let log = fx.boot_qemu(qemu, &[MAC]);
    log.assert_contains("ROOT-INIT-REACHED");
    assert_eq!(log.value("ROOT-HOSTNAME").as_deref(), Some("worker-64e59a"));
}

/// An image whose `/var/local` is a symlink to `/`: mounted from the initramfs, the node's
/// directory would land on the initramfs's own root. Refused by name; nothing is mounted and
/// the share is not touched.
#[test]
fn a_mount_point_that_links_out_of_the_root_is_refused_by_name() {
    let Some(fx) = fixture() else { return };
    let workers = fx.scratch.join("escape-workers");
    let _ = std::fs::remove_dir_all(&workers);
    std::fs::create_dir_all(&workers).expect("mkdir");
    let server = match NfsServer::start(&[Export::read_write(&workers, "/workers")]) {
        Ok(server) => server,
        Err(err) if !testbed::is_ci() => {
            testbed::skip_or_fail(&format!("cannot start nfs-ganesha: {err:#}"));
            return;
        }
        Err(err) => panic!("starting nfs-ganesha: {err:#}"),
    };
    let (_http, root) = serve("escape", |tree| {
        std::fs::remove_dir(tree.join("var/local")).expect("rmdir");
        std::os::unix::fs::symlink("/", tree.join("var/local")).expect("symlink");
        std::fs::create_dir_all(tree.join("etc")).expect("mkdir");
        std::os::unix::fs::symlink("../../..", tree.join("etc/ssh")).expect("symlink");
    });
    let node = format!("diskless.node=10.0.2.2:/workers,{}", server.v4_options());
    let cases = [
        (
            "escape-node-mount",
            String::new(),
            "diskless: FATAL storage: diskless.node.mount=/var/local: in the new root it is / itself (through the symlink /var/local -> /); a mount there would cover the whole root",
        ),
        (
            "escape-persist",
            "diskless.node.mount=/srv/node diskless.persist=/etc/ssh".to_owned(),
            "diskless: FATAL storage: diskless.persist=/etc/ssh: in the new root it is / itself (through the symlink /etc/ssh -> ../../..)",
        ),
    ];
    for (label, extra, fatal) in cases {
        let log = fx.boot(
            label,
            &format!("{BOOTIF} {STATIC_IP} {root} {node} {extra} rd.emergency=poweroff"),
            &[MAC],
        );
        assert_fatal(&log, label, &[fatal]);
        assert!(
            !log.contains("bind-mounting") && !log.contains("on /sysroot/"),
            "{label}: something was mounted: {}",
            log.tail(30)
        );
    }
    assert!(
        std::fs::read_dir(&workers)
            .expect("reading the share")
            .next()
            .is_none(),
        "the share was written for a refused mount point"
    );
}

/// A copy of the test kernel's module tree (hard links) in which `module`'s version magic is
/// changed: the image builder reads it as usual, the kernel refuses it (its signature no
/// longer matches, or, unsigned, its version magic does not).
fn modules_with_a_broken(fx: &common::Fixture, module_file: &str) -> PathBuf {
    // The copy keeps the tree's name: the image builder takes the kernel release from it.
    let release = fx
        .kernel
        .modules_dir
        .file_name()
        .expect("a release directory");
    let parent = fx.scratch.join(format!("modules-broken-{module_file}"));
    let _ = std::fs::remove_dir_all(&parent);
    std::fs::create_dir_all(&parent).expect("mkdir");
    let copy = parent.join(release);
    let status = std::process::Command::new("cp")
        .arg("-al")
        .arg(&fx.kernel.modules_dir)
        .arg(&copy)
        .status()
        .expect("running cp");
    assert!(status.success(), "cp -al of the module tree");
    let ko = walk_find(&copy, module_file).expect("the module in the tree");
    let mut bytes = std::fs::read(&ko).expect("reading the module");
    let at = bytes
        .windows(9)
        .position(|w| w == b"vermagic=")
        .expect("a vermagic in .modinfo");
    // `vermagic=6.1…` becomes `vermagic=X.1…`: same length, same ELF, a kernel that disagrees.
    *bytes.get_mut(at + 9).expect("a version after vermagic=") = b'X';
    std::fs::remove_file(&ko).expect("unlinking the hard link");
    std::fs::write(&ko, bytes).expect("writing the broken module");
    copy
}

fn walk_find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if entry.file_name().to_str() == Some(name) {
            return Some(path);
        }
        if entry.file_type().ok()?.is_dir() {
            if let Some(found) = walk_find(&path, name) {
                return Some(found);
            }
        }
    }
    None
}

fn initrd_with(fx: &common::Fixture, name: &str, modules_dir: PathBuf, extra: &[&str]) -> PathBuf {
    let out = fx.scratch.join(format!("{name}.img"));
    let init = xtask::build::init_binary().expect("building the init");
    let mut options = InitrdOptions::new(init, out.clone());
    options.modules_dir = Some(modules_dir);
    options.modules = extra.iter().map(|m| (*m).to_owned()).collect();
    initrd::build(&options).expect("building the initrd");
    out
}

#[test]
fn a_driver_the_kernel_refuses_is_left_out_unless_the_boot_needs_it() {
    let Some(fx) = fixture() else { return };
    let (_server, root) = serve("broken-driver", |_| {});

    // virtio-rng (QEMU's virtio-rng-pci, present in every test VM) refused: the node boots.
    let rng = initrd_with(
        fx,
        "broken-rng",
        modules_with_a_broken(fx, "virtio-rng.ko"),
        &["virtio_rng"],
    );
    let log = fx.boot_with(
        "broken-rng",
        &rng,
        &format!("{BOOTIF} {STATIC_IP} {root} rd.emergency=poweroff"),
        &[MAC],
    );
    log.assert_contains("ROOT-INIT-REACHED");
    // The kernel's reason depends on how it checks modules (a signature, the version magic).
    let refused = log
        .lines
        .iter()
        .map(|(_, line)| line)
        .find(|line| line.contains("diskless: module virtio_rng: "))
        .cloned()
        .unwrap_or_else(|| panic!("{}", log.failure_report("no refusal of virtio_rng")));
    assert!(
        refused.trim_end().ends_with("; going on without it"),
        "{refused}"
    );
    let failed = common::record(&log).modules_failed;
    assert!(
        matches!(failed.as_slice(), [one] if one.starts_with("virtio_rng (")),
        "{failed:?}"
    );

    // The NIC's own driver refused: the link step says which driver, not only "no NIC".
    let net = initrd_with(
        fx,
        "broken-net",
        modules_with_a_broken(fx, "virtio_net.ko"),
        &[],
    );
    let log = fx.boot_with(
        "broken-net",
        &net,
        &format!("{BOOTIF} {STATIC_IP} {root} rd.timeout=2 rd.emergency=poweroff"),
        &[MAC],
    );
    assert_fatal(
        &log,
        "broken-net",
        &[
            "diskless: FATAL link: no network interface with MAC 52:54:00:12:34:56 (BOOTIF) appeared within 2 s",
            "; the driver virtio_net (",
        ],
    );
}

#[test]
fn the_kernels_own_module_requests_obey_the_blacklist() {
    let Some(fx) = fixture() else { return };
    let (_server, root) = serve("blacklist", |_| {});
    let log = fx.boot(
        "blacklist-overlay",
        &format!("{BOOTIF} {STATIC_IP} {root} rd.driver.blacklist=overlay rd.emergency=poweroff"),
        &[MAC],
    );
    assert_fatal(
        &log,
        "blacklist-overlay",
        &[
            "diskless: modprobe fs-overlay: not loaded: rd.driver.blacklist= names it",
            "diskless: FATAL mount: mounting overlay",
        ],
    );
    assert!(
        !log.contains("modprobe: loaded overlay"),
        "{}",
        log.tail(30)
    );
}
