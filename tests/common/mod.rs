//! Shared fixtures for the QEMU integration tests: the real Debian cloud kernel, an initrd
//! freshly built from this tree's init, and test root images from `testbed`.
//!
//! Each fixture is built once per test binary. A missing QEMU skips loudly locally and fails
//! under `CI=true` (`testbed::require_qemu`).

#![allow(
    clippy::indexing_slicing,
    reason = "test code: an out-of-bounds index fails the test, as it should"
)]
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the fixtures"
)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use diskless::kmod::index::ModuleIndex;
use testbed::kernel::Kernel;
use testbed::{BootLog, BootRecord, Nic, Qemu, RootSpec};
use xtask::image::initrd::{self, InitrdOptions};

/// The MAC of every test node; the default `worker-{sha1:6}` names it `worker-64e59a`.
pub const MAC: &str = "52:54:00:12:34:56";
pub const BOOTIF: &str = "BOOTIF=01-52-54-00-12-34-56";
/// The static line pxelinux appends with `SYSAPPEND 1` on QEMU's user network.
pub const STATIC_IP: &str = "ip=10.0.2.15:10.0.2.2:10.0.2.2:255.255.255.0";

/// virtio's block driver: in the image, but QEMU here has no virtio disk.
pub const UNUSED_DRIVER: &str = "virtio_blk";

pub struct Fixture {
    pub kernel: Kernel,
    pub initrd: PathBuf,
    pub scratch: PathBuf,
    /// The standard initrd's `modules.dep`: the dependencies of this kernel build's modules.
    pub modules: ModuleIndex,
}

/// The kernel and the standard initrd (default module set and a busybox rescue shell), or
/// `None` when QEMU is missing outside CI.
pub fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    if !testbed::require_qemu() {
        return None;
    }
    Some(FIXTURE.get_or_init(|| {
        let kernel = testbed::kernel::ensure()
            .expect("fetching the Debian cloud kernel (cargo xtask kernel)");
        let init = xtask::build::init_binary().expect("building the musl init");
        let scratch = testbed::scratch_dir().join(format!("tests-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).expect("creating the scratch directory");
        let initrd = scratch.join("initrd.img");
        let mut options = InitrdOptions::new(init, initrd.clone());
        options.modules_dir = Some(kernel.modules_dir.clone());
        options.shell = Some(PathBuf::from("/bin/busybox"));
        // A driver for hardware the test VMs do not have: it must be carried, never loaded.
        options.modules = vec![UNUSED_DRIVER.to_owned()];
        let summary = initrd::build(&options).expect("building the initrd");
        eprintln!("{summary}");
        let modules = packed_modules(&initrd, &kernel.version);
        Fixture {
            kernel,
            initrd,
            scratch,
            modules,
        }
    }))
}

impl Fixture {
    /// A squashfs test root built from `spec`, written once under `name`.
    pub fn squashfs_root(&self, name: &str, spec: &RootSpec) -> PathBuf {
        let tree = self.scratch.join(format!("{name}.tree"));
        let image = self.scratch.join(format!("{name}.squashfs"));
        spec.build(&tree)
            .expect("building the test root tree")
            .squashfs(&image)
            .expect("packing the squashfs");
        image
    }

    /// Boots the standard initrd with one virtio NIC per MAC; `console=ttyS0` is added.
    pub fn boot(&self, name: &str, append: &str, macs: &[&str]) -> BootLog {
        self.boot_with(name, &self.initrd, append, macs)
    }

    pub fn boot_with(&self, name: &str, initrd: &Path, append: &str, macs: &[&str]) -> BootLog {
        self.boot_qemu(
            Qemu::new(&self.kernel.vmlinuz, initrd)
                .name(name)
                .append(append),
            macs,
        )
    }

    /// Boots `qemu` (the caller's kernel, initrd and command line) with one virtio NIC per
    /// MAC, within the standard time.
    pub fn boot_qemu(&self, qemu: Qemu, macs: &[&str]) -> BootLog {
        let mut qemu = qemu.timeout(Duration::from_secs(120));
        for mac in macs {
            qemu = qemu.nic_with(Nic::new(mac));
        }
        let log = qemu.run().expect("running QEMU");
        assert!(
            !log.timed_out,
            "{}",
            log.failure_report("the boot timed out")
        );
        log
    }
}

/// Lines of a `ROOT-X-BEGIN` ... `ROOT-X-END` block, without their prefix.
pub fn block(log: &BootLog, prefix: &str) -> Vec<String> {
    log.prefixed(prefix)
        .iter()
        .map(|line| line.trim_end().to_owned())
        .collect()
}

/// The `modules.dep` packed into `image`, read back with the image builder's reader and
/// parsed as the init parses it.
fn packed_modules(image: &Path, kver: &str) -> ModuleIndex {
    let bytes = std::fs::read(image).expect("reading the initrd");
    let cpio = initrd::main_archive(&bytes).expect("the initrd's main archive");
    let (entries, _) = xtask::image::cpio::parse(&cpio).expect("the main archive parses");
    let path = format!("lib/modules/{kver}/modules.dep");
    let dep = entries
        .iter()
        .find(|e| e.name == path)
        .unwrap_or_else(|| panic!("{path} is not in the initrd"));
    let dep = std::str::from_utf8(&dep.data).expect("modules.dep is text");
    ModuleIndex::parse(dep, "", "").expect("modules.dep parses")
}

/// Modules the init loaded together, as one of its log lines reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleLoad {
    /// In the order they were loaded.
    pub modules: Vec<String>,
    /// `the hardware present`, `the root`, `the kernel's request fs-overlay`.
    pub reason: String,
}

/// The init's module loads in the order its kmsg lines report them (the checker's
/// `ROOT-DMESG:` block): `loaded modules for <reason>: a b` from PID 1 and `modprobe: loaded
/// a b for <reason>` from the kernel's requests to /sbin/modprobe.
pub fn module_loads(log: &BootLog) -> Vec<ModuleLoad> {
    let words = |list: &str| list.split_whitespace().map(str::to_owned).collect();
    block(log, "ROOT-DMESG: ")
        .iter()
        .filter_map(|line| {
            let (_, message) = line.split_once("diskless: ")?;
            if let Some(rest) = message.strip_prefix("loaded modules for ") {
                let (reason, list) = rest.split_once(": ")?;
                Some(ModuleLoad {
                    modules: words(list),
                    reason: reason.to_owned(),
                })
            } else {
                let rest = message.strip_prefix("modprobe: loaded ")?;
                let (list, reason) = rest.split_once(" for ")?;
                Some(ModuleLoad {
                    modules: words(list),
                    reason: reason.to_owned(),
                })
            }
        })
        .collect()
}

/// Asserts that each of `root` loaded on the thread that loads the root's modules beside the
/// network, then each of `shares` (what the node's shares need beyond the root), and that the
/// kernel never had to ask /sbin/modprobe for anything.
pub fn assert_loaded_beside_the_network(log: &BootLog, root: &[&str], shares: &[&str]) {
    let loads = module_loads(log);
    let ahead = |stage: &str| -> Vec<String> {
        loads
            .iter()
            .filter(|load| {
                load.reason
                    .starts_with(&format!("{stage}, beside the network"))
            })
            .flat_map(|load| load.modules.clone())
            .collect()
    };
    for (stage, modules) in [("the root", root), ("the shares", shares)] {
        let loaded = ahead(stage);
        for module in modules {
            assert!(
                loaded.iter().any(|m| m == module),
                "{module} for {stage}: {loads:?}"
            );
        }
    }
    assert!(
        !loads
            .iter()
            .any(|load| load.reason.starts_with("the kernel's request")),
        "{loads:?}"
    );
}

/// Asserts that the init loaded each module after every module it depends on, as `index`
/// (the image's modules.dep) lists them: the order the kernel accepts, whatever this kernel
/// build's dependencies are. Returns the modules in load order.
pub fn assert_loaded_after_dependencies(log: &BootLog, index: &ModuleIndex) -> Vec<String> {
    let order: Vec<String> = module_loads(log)
        .into_iter()
        .flat_map(|load| load.modules)
        .collect();
    assert!(
        !order.is_empty(),
        "{}",
        log.failure_report("the init logged no module loads")
    );
    for (i, module) in order.iter().enumerate() {
        let entry = index.modules.get(module).unwrap_or_else(|| {
            panic!("{module} was loaded but is not in the image's modules.dep: {order:?}")
        });
        for dep in &entry.depends {
            assert!(
                order[..i].contains(dep),
                "{module} was loaded before its dependency {dep} \
                 (modules.dep: {}: {:?}); load order {order:?}",
                entry.path,
                entry.depends
            );
        }
    }
    order
}

/// The node's boot record (`/run/diskless/boot.json`) as the checker printed it, parsed;
/// panics with the end of the console when there is none or it does not parse.
pub fn record(log: &BootLog) -> BootRecord {
    BootRecord::from_console(log)
        .unwrap_or_else(|err| panic!("{}", log.failure_report(&format!("{err:#}"))))
}

/// A boot that must stop before the root's init: every `needles` line on the console, then
/// the emergency action (the tests pass `rd.emergency=poweroff`, which ends QEMU).
pub fn assert_fatal(log: &BootLog, label: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            log.contains(needle),
            "{label}: missing {needle:?}\n{}",
            log.tail(30)
        );
    }
    assert!(
        !log.contains("ROOT-INIT-REACHED"),
        "{label}: reached the root's init"
    );
    assert!(
        log.contains("diskless: powering off in"),
        "{label}: no emergency countdown\n{}",
        log.tail(20)
    );
    assert!(log.exited_cleanly(), "{label}: {}", log.outcome());
}
