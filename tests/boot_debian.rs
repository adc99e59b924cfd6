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
use sha2::{Digest, Sha256};
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
    run_for(qemu, BOOT_TIMEOUT)
}

/// [`run`] with another time bound.
fn run_for(qemu: Qemu, timeout: Duration) -> (BootLog, Report) {
    let log = qemu
        .memory_mb(2048)
        .timeout(timeout)
        .run()
        .expect("running QEMU");
    report(log)
}

/// The check's report of a boot that ended in time.
fn report(log: BootLog) -> (BootLog, Report) {
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
    /// The cluster, dnsmasq's leases lasting `lease` (`1h`, `2m`: its shortest).
    fn new(tag: &str, clients: &Path, lease: &str) -> Option<Cluster> {
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
                    .dhcp_range(&format!("192.168.77.0,static,255.255.255.0,{lease}"))
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
        run(self.qemu(fx, name, line))
    }

    fn qemu(&self, fx: &common::Fixture, name: &str, line: &str) -> Qemu {
        let qemu = Qemu::new(&fx.kernel.vmlinuz, &fx.initrd)
            .name(name)
            .append(line)
            .tap_nic(MAC, TAP);
        self.ns.qemu(qemu).expect("QEMU in the namespace")
    }

    /// dnsmasq's ACKs of `address`.
    fn acks(&self, address: &str) -> usize {
        self.dnsmasq
            .log()
            .lines()
            .filter(|l| l.contains("DHCPACK") && l.contains(address))
            .count()
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
    let Some(cluster) = Cluster::new("deb-nfs", &root.tree, "1h") else {
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
    let acks = cluster.acks(NODE_ADDRESS);
    assert!(
        acks >= 4,
        "{acks} ACKs: the root's DHCP clients did not take the lease over"
    );
}

#[test]
fn nfs_root_under_a_tmpfs_overlay_with_ifupdown() {
    let Some((fx, root)) = root() else { return };
    let server = match NfsServer::start(&[Export::read_only(&root.tree, "/clients")]) {
        Ok(server) => server,
        Err(err) => {
            testbed::skip_or_fail(&format!("cannot start nfs-ganesha: {err:#}"));
            return;
        }
    };
    let line = format!(
        "root=nfs4:10.0.2.2:/clients:port={} diskless.overlay=tmpfs ip=dhcp {BOOTIF} \
         rd.emergency=poweroff",
        server.nfs_port()
    );
    let qemu = Qemu::new(&fx.kernel.vmlinuz, &fx.initrd)
        .name("debian-nfs-overlay-ifupdown")
        .append(&line)
        .nic(MAC);
    let (_, report) = run(qemu);
    assert_clean(&report, "ifupdown");
    assert_identity(&report, NAME, "ifupdown");
    assert!(
        report.root.starts_with("overlay overlay"),
        "{}",
        report.root
    );
    assert_dhclient_holds(&report, "ens3", "10.0.2.15/24", "ifupdown");
}

/// How long the node stays up after the boot: several of dnsmasq's shortest leases (2
/// minutes, renewed every minute), and past NFS's "not responding" (3 minutes of
/// retransmissions over TCP).
const STAY_SECS: u32 = 300;

/// An NFSv4 root under a tmpfs overlay, with the image's ordinary networkd configuration
/// (`DHCP=ipv4`, nothing kept). networkd keeps an interface's configuration by itself only
/// on a root it sees as a network file system, and this one is an overlay: without the
/// initramfs's runtime file it drops the address the root runs on and asks DHCP as another
/// client. The node stays up [`STAY_SECS`] on 2-minute leases, then reads its root and
/// writes its node directory over NFS.
#[test]
fn nfs_root_under_a_tmpfs_overlay_keeps_its_server_under_networkd() {
    let Some((fx, root)) = root() else { return };
    let Some(cluster) = Cluster::new("deb-ovl", &root.tree, "2m") else {
        return;
    };
    let line = format!(
        "root=nfs4:{GATEWAY}:/clients:port={NFS_PORT} diskless.overlay=tmpfs ip=dhcp {BOOTIF} \
         diskless.node={GATEWAY}:/workers,port={NFS_PORT} rd.emergency=poweroff {} {}",
        debian::stay(STAY_SECS),
        debian::NETWORKD
    );
    // A lost server shows as this kernel line about three minutes on: no need to wait for
    // the rest.
    let lost = format!("nfs: server {GATEWAY} not responding");
    let qemu = cluster
        .qemu(fx, "debian-nfs-overlay-networkd", &line)
        .stop_at(&lost);
    let timeout = BOOT_TIMEOUT + Duration::from_secs(u64::from(STAY_SECS));
    let log = qemu
        .memory_mb(2048)
        .timeout(timeout)
        .run()
        .expect("running QEMU");
    // What DHCP saw, for a failure's reader: who asked for the node's address, and when.
    for line in cluster.dnsmasq.log().lines().filter(|l| l.contains("DHCP")) {
        eprintln!("dnsmasq: {line}");
    }
    log.assert_not_contains(&lost);
    let (_, report) = report(log);
    let label = "NFS under an overlay, networkd";
    assert_clean(&report, label);
    assert_identity(&report, NAME, label);
    assert!(
        report.root.starts_with("overlay overlay"),
        "{}",
        report.root
    );
    assert_networkd_configured(&report, "ens3", NODE_ADDRESS, label);
    assert!(
        report
            .networkd
            .iter()
            .any(|l| l.contains("Network File: /run/systemd/network/00-diskless-ens3.network")),
        "{label}: networkd did not take the initramfs's file: {:#?}",
        report.networkd
    );
    // Minutes later the root's server still answers: a file of the root read again (its
    // cache dropped), and a file written to the node's directory.
    assert_eq!(report.state_late, "running", "{label}");
    let file = std::fs::read(root.tree.join(debian::LATE_READ)).expect("reading the root's file");
    let want: String = Sha256::digest(&file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(report.late_read, want, "{label}: the late read");
    assert!(report.late_write, "{label}: the late write");
    assert!(
        cluster.workers.join("525400123456/late-write").is_file(),
        "{label}: the late write is not on the server"
    );
    // networkd renewed the init's lease as the same client, and never gave it back.
    let log = cluster.dnsmasq.log();
    assert!(cluster.declines().is_empty(), "{:#?}", cluster.declines());
    assert!(!log.contains("DHCPRELEASE"), "{log}");
    let acks = cluster.acks(NODE_ADDRESS);
    assert!(
        acks >= 4,
        "{acks} ACKs in {STAY_SECS} s of 2-minute leases: networkd did not renew"
    );
    let leases = cluster.dnsmasq.leases();
    let lease = testbed::netns::lease_for(&leases, MAC);
    assert_eq!(
        lease.as_ref().and_then(|fields| fields.get(4)).copied(),
        Some("01:52:54:00:12:34:56"),
        "networkd's client identifier is not the init's: {leases}"
    );
}
