//! A real distribution on diskless nodes: Debian 12 with systemd (the test bed's
//! [`testbed::debian`] root), booted every way the init boots it, with ifupdown and with
//! systemd-networkd, checked as an admin would check a node: `systemctl is-system-running`
//! says `running`, no unit failed, the journal holds no error, and the node keeps the name,
//! machine-id and address the initramfs gave it, under the interface name its udev expects,
//! with a DHCP client in the root holding the lease.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::{BOOTIF, MAC, fixture};
use diskless::identity::{self, Mac};
use testbed::debian::{self, DebianRoot, Report};
use testbed::{BootLog, DnsmasqConfig, Export, HttpServer, NetNs, NfsServer, Qemu};

/// The name the default `worker-{sha1:6}` gives MAC; then the NFS-root cluster's
/// `worker-node-{mac}`.
const NAME: &str = "worker-64e59a";
const SEED_003_NAME: &str = "worker-node-525400123456";
/// A boot of Debian under TCG takes about a minute; a loaded machine, more.
const BOOT_TIMEOUT: Duration = Duration::from_secs(420);

fn root() -> Option<(&'static common::Fixture, &'static DebianRoot)> {
    static ROOT: OnceLock<DebianRoot> = OnceLock::new();
    let fx = fixture()?;
    let root = ROOT.get_or_init(|| {
        debian::ensure(&fx.kernel, Path::new("/bin/busybox"))
            .expect("building the Debian test root (mmdebstrap)")
    });
    Some((fx, root))
}

/// `qemu` with 2 GiB (the squashfs root lives in RAM) and the Debian boot's time bound.
fn run(qemu: Qemu) -> (BootLog, Report) {
    let log = qemu
        .memory_mb(2048)
        .timeout(BOOT_TIMEOUT)
        .run()
        .expect("running QEMU");
    assert!(
        !log.timed_out,
        "{}",
        log.failure_report("the boot timed out")
    );
    let report = Report::from_console(&log)
        .unwrap_or_else(|err| panic!("{}", log.failure_report(&format!("{err:#}"))));
    eprintln!(
        "{}: {} s from kernel start to the end of the boot ({})",
        log.log_path.display(),
        report
            .startup_secs()
            .map_or("?".to_owned(), |s| format!("{s:.1}")),
        report.analyze
    );
    (log, report)
}

/// What every clean boot shows: running, nothing failed, nothing in the journal at level
/// error, no interface udev could not rename, no lease declined.
fn assert_clean(report: &Report, label: &str) {
    assert_eq!(report.state, "running", "{label}: {report:#?}");
    assert!(
        report.failed_units.is_empty(),
        "{label}: {:?}",
        report.failed_units
    );
    assert!(
        report.journal_errors.is_empty(),
        "{label}: {:#?}",
        report.journal_errors
    );
    assert!(
        report.net_trouble.is_empty(),
        "{label}: {:#?}",
        report.net_trouble
    );
    assert_eq!(
        report.ssh, "active",
        "{label}: sshd runs with the node's own host keys"
    );
    assert!(report.ssh_key.is_some(), "{label}: no host key");
}

/// The node's identity as the initramfs set it, seen by the real system.
fn assert_identity(report: &Report, name: &str, label: &str) {
    let mac: Mac = MAC.parse().expect("mac");
    assert_eq!(report.hostname, name, "{label}");
    assert_eq!(report.etc_hostname, name, "{label}");
    assert!(
        report
            .hostnamectl
            .iter()
            .any(|l| l.trim() == format!("Static hostname: {name}")),
        "{label}: {:?}",
        report.hostnamectl
    );
    assert_eq!(report.machine_id, identity::machine_id(&mac), "{label}");
}

/// `iface` holds `address` (the initramfs's) and the root's dhclient runs on it with a lease.
fn assert_dhclient_holds(report: &Report, iface: &str, address: &str, label: &str) {
    assert_eq!(
        report.addresses.get(iface).map(Vec::as_slice),
        Some(&[address.to_owned()][..]),
        "{label}: {:?}",
        report.addresses
    );
    assert!(
        report
            .dhclient
            .iter()
            .any(|l| l.trim_end().ends_with(&format!(" {iface}"))),
        "{label}: no dhclient for {iface}: {:?}",
        report.dhclient
    );
    assert!(
        report
            .lease_files
            .iter()
            .any(|f| f.contains(&format!("dhclient.{iface}.leases"))),
        "{label}: no lease file: {:?}",
        report.lease_files
    );
}

/// systemd-networkd manages `iface` (`configured`) with a DHCPv4 lease for `address`.
fn assert_networkd_configured(report: &Report, iface: &str, address: &str, label: &str) {
    assert!(
        report.networkctl.contains(&format!("{iface} configured")),
        "{label}: {:?}",
        report.networkctl
    );
    let status = report
        .networkd
        .iter()
        .filter(|l| l.starts_with(&format!("CHECK-NETWORKD-{iface}: ")))
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(status.contains(address), "{label}: {status}");
    assert!(
        status.contains("DHCP4"),
        "{label}: no DHCPv4 lease: {status}"
    );
    assert!(
        report.dhclient.is_empty(),
        "{label}: dhclient runs too: {:?}",
        report.dhclient
    );
}

fn squashfs_line(server: &HttpServer, extra: &str) -> String {
    format!(
        "{BOOTIF} ip=dhcp root=live:{} rd.emergency=poweroff {extra}",
        server.url_for("root.squashfs")
    )
}

fn serve(root: &DebianRoot) -> HttpServer {
    let dir = root.squashfs.parent().expect("the cache directory");
    HttpServer::serve_dir(dir).expect("http server")
}

#[test]
fn squashfs_root_with_ifupdown_boots_clean_under_predictable_and_kernel_names() {
    let Some((fx, root)) = root() else { return };
    let server = serve(root);
    let qemu = |name: &str, extra: &str| {
        Qemu::new(&fx.kernel.vmlinuz, &fx.initrd)
            .name(name)
            .append(&squashfs_line(&server, extra))
            .nic(MAC)
    };

    // Predictable names: the initramfs names the NIC ens3 before it comes up, so the root's
    // udev keeps it and ifupdown's `iface ens3` takes it over with dhclient.
    let (log, first) = run(qemu("debian-squashfs-ifupdown", ""));
    assert_clean(&first, "squashfs, ifupdown");
    assert_identity(&first, NAME, "squashfs, ifupdown");
    assert_dhclient_holds(&first, "ens3", "10.0.2.15/24", "squashfs, ifupdown");
    assert!(first.root.starts_with("overlay overlay"), "{}", first.root);
    log.assert_contains("diskless: eth0 is ens3 (the name the root's udev gives it)");

    // net.ifnames=0: the kernel's eth0 stays, and `iface eth0` takes it. The same node: the
    // same machine-id. New host keys: nothing persists them on a squashfs root.
    let (_, second) = run(qemu("debian-squashfs-ifnames0", "net.ifnames=0"));
    assert_clean(&second, "net.ifnames=0");
    assert_identity(&second, NAME, "net.ifnames=0");
    assert_dhclient_holds(&second, "eth0", "10.0.2.15/24", "net.ifnames=0");
    assert_eq!(second.machine_id, first.machine_id);
    assert_ne!(
        second.ssh_key, first.ssh_key,
        "host keys are made per node at boot, not shipped in the image"
    );
}

#[test]
fn squashfs_root_with_systemd_networkd_is_configured_with_a_lease() {
    let Some((fx, root)) = root() else { return };
    let server = serve(root);
    let qemu = Qemu::new(&fx.kernel.vmlinuz, &fx.initrd)
        .name("debian-squashfs-networkd")
        .append(&squashfs_line(&server, debian::NETWORKD))
        .nic(MAC);
    let (_, report) = run(qemu);
    assert_clean(&report, "squashfs, networkd");
    assert_identity(&report, NAME, "squashfs, networkd");
    assert_networkd_configured(&report, "ens3", "10.0.2.15", "squashfs, networkd");
}

/// containerd's overlayfs snapshotter cannot put its upper layer on an overlay root; on a
/// `diskless.tmpfs=` it runs containers.
#[test]
fn containerd_runs_a_container_on_a_diskless_tmpfs() {
    let Some((fx, root)) = root() else { return };
    let server = serve(root);
    let qemu = Qemu::new(&fx.kernel.vmlinuz, &fx.initrd)
        .name("debian-containerd")
        .append(&squashfs_line(
            &server,
            &format!(
                "diskless.tmpfs=/var/lib/containerd,size=512M,mode=0711 {}",
                debian::CHECK_CONTAINERD
            ),
        ))
        .nic(MAC);
    let (_, report) = run(qemu);
    assert_clean(&report, "containerd");
    assert_eq!(report.containerd_fs, "tmpfs");
    assert!(
        report
            .containerd
            .iter()
            .any(|l| l.trim() == debian::CONTAINER_MARKER),
        "the container did not run: {:#?}",
        report.containerd
    );
}

/// A cluster gateway and an NFS-root server together: dnsmasq hands out the node's address by
/// MAC and logs every DHCP message; nfs-ganesha serves the read-only root and the per-node
/// share. dnsmasq and QEMU (on a tap) run in a network namespace of the test's own; ganesha on
/// the host's 127.0.0.1, relayed into the namespace.
struct Cluster {
    workers: PathBuf,
    // Dropped in this order: relays, dnsmasq and the server before their namespace.
    _relays: Vec<testbed::TcpRelay>,
    dnsmasq: testbed::Dnsmasq,
    _server: NfsServer,
    ns: NetNs,
}

const TAP: &str = "tap0";
const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
const NODE_ADDRESS: &str = "192.168.77.50";
/// The NFS and MOUNT ports the guest uses, relayed to ganesha's on 127.0.0.1.
const NFS_PORT: u16 = 2049;
const MOUNT_PORT: u16 = 20048;

impl Cluster {
    fn new(tag: &str, clients: &Path) -> Option<Cluster> {
        let fx = fixture()?;
        if !testbed::require_dnsmasq() {
            return None;
        }
        let workers = fx.scratch.join(format!("{tag}-workers"));
        let _ = std::fs::remove_dir_all(&workers);
        std::fs::create_dir_all(workers.join("home")).expect("mkdir");
        let ns = NetNs::new(tag).expect("creating the network namespace");
        ns.add_tap(TAP, &format!("{GATEWAY}/24")).expect("the tap");
        let dnsmasq = ns
            .dnsmasq(
                &DnsmasqConfig::new()
                    .interface(TAP)
                    .dhcp_range("192.168.77.0,static,255.255.255.0,1h")
                    .dhcp_host(MAC, NODE_ADDRESS.parse().expect("ip"), None),
            )
            .expect("starting dnsmasq");
        let exports = [
            Export::read_only(clients, "/clients"),
            Export::read_write(&workers, "/workers"),
        ];
        // ganesha on the host's 127.0.0.1, as every test server; relays bring the guest's
        // connections from the namespace's tap address to it.
        let server = match NfsServer::start(&exports) {
            Ok(server) => server,
            Err(err) => {
                testbed::skip_or_fail(&format!("cannot start nfs-ganesha: {err:#}"));
                return None;
            }
        };
        let relay = |port: u16, to: u16| {
            ns.relay_tcp(
                SocketAddr::V4(SocketAddrV4::new(GATEWAY, port)),
                SocketAddr::from((Ipv4Addr::LOCALHOST, to)),
            )
            .expect("relay")
        };
        let relays = vec![
            relay(NFS_PORT, server.nfs_port()),
            relay(MOUNT_PORT, server.mount_port()),
        ];
        Some(Cluster {
            workers,
            _relays: relays,
            dnsmasq,
            _server: server,
            ns,
        })
    }

    /// The NFS-root cluster's line on this network: a read-only NFSv3 root, the node's
    /// directory and /home over NFSv4.1, /etc/ssh (and here /var/log) persisted.
    fn seed_003(&self, extra: &str) -> String {
        format!(
            "root=/dev/nfs nfsroot={GATEWAY}:/clients,ro,vers=3,port={NFS_PORT},mountport={MOUNT_PORT},mountproto=tcp,proto=tcp \
             ip=dhcp {BOOTIF} diskless.hostname=worker-node-{{mac}} \
             diskless.node={GATEWAY}:/workers,vers=4.1,port={NFS_PORT} \
             diskless.mount={GATEWAY}:/workers/home,/home,vers=4.1,port={NFS_PORT} \
             diskless.persist=/etc/ssh,/var/log rd.emergency=poweroff {extra}"
        )
    }

    fn boot(&self, fx: &common::Fixture, name: &str, line: &str) -> (BootLog, Report) {
        let qemu = Qemu::new(&fx.kernel.vmlinuz, &fx.initrd)
            .name(name)
            .append(line)
            .tap_nic(MAC, TAP);
        run(self.ns.qemu(qemu).expect("QEMU in the namespace"))
    }

    /// dnsmasq's log lines that say a client declined an address.
    fn declines(&self) -> Vec<String> {
        self.dnsmasq
            .log()
            .lines()
            .filter(|l| l.contains("DHCPDECLINE"))
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn read_only_nfs_root_seed_003_with_ifupdown_then_networkd() {
    let Some((fx, root)) = root() else { return };
    let Some(cluster) = Cluster::new("deb-nfs", &root.tree) else {
        return;
    };
    let node_address = format!("{NODE_ADDRESS}/24");

    let (_, first) = cluster.boot(fx, "debian-nfs-ifupdown", &cluster.seed_003(""));
    assert_clean(&first, "NFS, ifupdown");
    assert_identity(&first, SEED_003_NAME, "NFS, ifupdown");
    assert_dhclient_holds(&first, "ens3", &node_address, "NFS, ifupdown");
    assert!(
        first.root.starts_with("nfs 192.168.77.1:/clients ro,"),
        "{}",
        first.root
    );
    // The journal persists on the node's directory (diskless.persist=/var/log).
    let mid = &first.machine_id;
    assert!(
        first
            .journal_files
            .iter()
            .any(|f| f.contains(&format!("/var/log/journal/{mid}/system.journal"))),
        "{:?}",
        first.journal_files
    );
    let node_dir = cluster.workers.join("525400123456");
    assert!(
        node_dir
            .join(format!("persist/var/log/journal/{mid}/system.journal"))
            .is_file(),
        "the journal is not on the node's directory"
    );
    assert!(
        node_dir
            .join("persist/etc/ssh/ssh_host_ed25519_key")
            .is_file()
    );

    // The same node with systemd-networkd in charge: the same identity and host keys.
    let (_, second) = cluster.boot(
        fx,
        "debian-nfs-networkd",
        &cluster.seed_003(debian::NETWORKD),
    );
    assert_clean(&second, "NFS, networkd");
    assert_identity(&second, SEED_003_NAME, "NFS, networkd");
    assert_networkd_configured(&second, "ens3", NODE_ADDRESS, "NFS, networkd");
    assert!(
        second.root.starts_with("nfs 192.168.77.1:/clients ro,"),
        "{}",
        second.root
    );
    assert_eq!(second.machine_id, first.machine_id);
    assert_eq!(
        second.ssh_key, first.ssh_key,
        "diskless.persist=/etc/ssh keeps the node's host keys"
    );

    // No client on the node declined its own address (a read-only root used to make the
    // root's dhclient do that every ten seconds), and the root's clients did renew with the
    // server: more than the initramfs's one ACK.
    assert!(cluster.declines().is_empty(), "{:#?}", cluster.declines());
    let acks = cluster
        .dnsmasq
        .log()
        .lines()
        .filter(|l| l.contains("DHCPACK") && l.contains(NODE_ADDRESS))
        .count();
    assert!(
        acks >= 4,
        "{acks} ACKs: the root's DHCP clients did not take the lease over"
    );
}

#[test]
fn nfs_root_under_a_tmpfs_overlay_with_ifupdown_and_with_networkd() {
    let Some((fx, root)) = root() else { return };
    let server = match NfsServer::start(&[Export::read_only(&root.tree, "/clients")]) {
        Ok(server) => server,
        Err(err) => {
            testbed::skip_or_fail(&format!("cannot start nfs-ganesha: {err:#}"));
            return;
        }
    };
    for (label, extra) in [("ifupdown", ""), ("networkd", debian::NETWORKD)] {
        let line = format!(
            "root=nfs4:10.0.2.2:/clients:port={} diskless.overlay=tmpfs ip=dhcp {BOOTIF} \
             rd.emergency=poweroff {extra}",
            server.nfs_port()
        );
        let qemu = Qemu::new(&fx.kernel.vmlinuz, &fx.initrd)
            .name(&format!("debian-nfs-overlay-{label}"))
            .append(&line)
            .nic(MAC);
        let (_, report) = run(qemu);
        assert_clean(&report, label);
        assert_identity(&report, NAME, label);
        assert!(
            report.root.starts_with("overlay overlay"),
            "{label}: {}",
            report.root
        );
        match label {
            "ifupdown" => assert_dhclient_holds(&report, "ens3", "10.0.2.15/24", label),
            _ => assert_networkd_configured(&report, "ens3", "10.0.2.15", label),
        }
    }
}
