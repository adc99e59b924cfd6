//! A cluster booting from NFS as a configuration of our init: nodes boot the real kernel in
//! QEMU from a read-only NFS root (nfs-ganesha on 127.0.0.1), each gets its own writable
//! directory on a second export, created on first boot and named after its MAC, plus a shared
//! /home.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{BOOTIF, MAC, STATIC_IP, block, fixture};
use testbed::nfs::{Export, NfsServer};
use testbed::{BootLog, RootSpec, TreeEntry};

const OTHER_MAC: &str = "52:54:00:ab:cd:ef";

/// Lines the checker runs on the booted node: what the node sees of its storage.
const HOOK: &str = r#"
echo "ROOT-HOME=$(cat /home/hello.txt 2>/dev/null)"
n=$(cat /var/local/boots 2>/dev/null || echo 0); n=$((n+1)); echo $n > /var/local/boots
echo "ROOT-BOOTS=$n"
echo "ROOT-SSH-BEFORE=$(cat /etc/ssh/node-wrote 2>/dev/null)"
echo "written by $(hostname)" > /etc/ssh/node-wrote && echo ROOT-SSH-WRITABLE=yes
echo "ROOT-SSH-KEY=$(cat /etc/ssh/ssh_host_ed25519_key 2>/dev/null)"
if (: >/var/log/diskless-test) 2>/dev/null; then echo ROOT-VARLOG-WRITABLE=yes; else echo ROOT-VARLOG-WRITABLE=no; fi
"#;

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, TreeEntry> {
    testbed::tree_snapshot(dir).expect("reading the tree")
}

/// The cluster's two exports: `/clients` (the read-only root) and `/workers` (per-node
/// directories and the shared `home/`).
struct Cluster {
    clients: PathBuf,
    workers: PathBuf,
    server: NfsServer,
}

fn cluster(name: &str) -> Option<Cluster> {
    let fx = fixture()?;
    let base = fx.scratch.join(name);
    let _ = std::fs::remove_dir_all(&base);
    let clients = base.join("clients");
    let workers = base.join("workers");
    RootSpec::default()
        .hook(HOOK)
        .build(&clients)
        .expect("building the root tree");
    std::fs::create_dir_all(clients.join("etc/ssh")).expect("mkdir");
    std::fs::write(clients.join("etc/ssh/ssh_host_ed25519_key"), "image key\n").expect("write");
    std::fs::create_dir_all(workers.join("home")).expect("mkdir");
    std::fs::write(workers.join("home/hello.txt"), "shared home\n").expect("write");
    let server = match NfsServer::start(&[
        Export::read_only(&clients, "/clients"),
        Export::read_write(&workers, "/workers"),
    ]) {
        Ok(server) => server,
        Err(err) => {
            testbed::skip_or_fail(&format!("cannot start nfs-ganesha: {err:#}"));
            return None;
        }
    };
    Some(Cluster {
        clients,
        workers,
        server,
    })
}

impl Cluster {
    /// The cluster's command line, adapted to the test network (the server's ports added).
    fn seed_003_cmdline(&self, bootif: &str, root_options: &str) -> String {
        let v4 = self.server.v4_options();
        format!(
            "root=/dev/nfs nfsroot=10.0.2.2:/clients,ro,{root_options} ip=dhcp {bootif} {STATIC_IP} \
             diskless.hostname=worker-node-{{mac}} diskless.node=10.0.2.2:/workers,{v4} \
             diskless.mount=10.0.2.2:/workers/home,/home,{v4} diskless.persist=/etc/ssh rd.emergency=poweroff"
        )
    }
}

fn bootif(mac: &str) -> String {
    format!("BOOTIF=01-{}", mac.replace(':', "-"))
}

fn assert_reached(log: &BootLog, label: &str) {
    assert!(
        log.contains("ROOT-INIT-DONE"),
        "{}",
        log.failure_report(&format!("{label}: the root's init did not finish"))
    );
}

#[test]
fn seed_003_cluster_boots_nodes_from_one_read_only_export() {
    let Some(fx) = fixture() else { return };
    let Some(cluster) = cluster("seed003") else {
        return;
    };
    let clients_before = snapshot(&cluster.clients);
    let v3 = cluster.server.v3_options();

    let first = fx.boot(
        "nfs-seed003-first",
        &cluster.seed_003_cmdline(BOOTIF, &v3),
        &[MAC],
    );
    assert_reached(&first, "first boot");
    // The NFS stack for the v3 root (and the overlay for the volatile paths) loads beside
    // the network, then nfsv4 for the v4.1 node directory while the root mounts, each module
    // after what it depends on, as the NIC's drivers do; the kernel never has to ask
    // /sbin/modprobe for them.
    common::assert_loaded_after_dependencies(&first, &fx.modules);
    common::assert_loaded_beside_the_network(
        &first,
        &["sunrpc", "nfs", "nfsv3", "overlay"],
        &["nfsv4"],
    );
    assert_eq!(
        first.value("ROOT-HOSTNAME").as_deref(),
        Some("worker-node-525400123456")
    );
    // The root is the export, read-only; /etc, /var and /tmp take writes in RAM over it
    // (diskless.volatile's default), /etc shows the node's own name, and the export is never
    // written.
    assert_eq!(
        first.value("ROOT-ETC-HOSTNAME").as_deref(),
        Some("worker-node-525400123456")
    );
    assert_eq!(first.value("ROOT-ETC-WRITABLE").as_deref(), Some("yes"));
    let hosts = block(&first, "ROOT-HOSTS: ");
    assert!(
        hosts.contains(&"127.0.0.1 worker-node-525400123456".to_owned()),
        "{hosts:?}"
    );
    let mounts = block(&first, "ROOT-MOUNT: ").join("\n");
    assert!(mounts.contains("10.0.2.2:/clients / nfs ro,"), "{mounts}");
    for volatile in ["/etc", "/var", "/tmp"] {
        assert!(
            mounts.contains(&format!("diskless-volatile {volatile} overlay rw,")),
            "{volatile} is not writable in RAM: {mounts}"
        );
    }
    assert!(mounts.contains("vers=3"), "the root is NFSv3: {mounts}");
    assert!(
        mounts.contains("10.0.2.2:/workers/525400123456 /var/local nfs4 rw,"),
        "{mounts}"
    );
    assert!(
        mounts.contains("10.0.2.2:/workers/home /home nfs4 rw,"),
        "{mounts}"
    );
    // /home is the share; the node's first boot.
    assert_eq!(first.value("ROOT-HOME").as_deref(), Some("shared home"));
    assert_eq!(first.value("ROOT-BOOTS").as_deref(), Some("1"));
    // /etc/ssh is the node's persisted copy, seeded from the image, writable.
    assert_eq!(first.value("ROOT-SSH-KEY").as_deref(), Some("image key"));
    assert_eq!(first.value("ROOT-SSH-BEFORE").as_deref(), Some(""));
    assert_eq!(first.value("ROOT-SSH-WRITABLE").as_deref(), Some("yes"));

    // On the server: the node's directory with its hostname, hosts and cmdline.
    let node_dir = cluster.workers.join("525400123456");
    assert_eq!(
        std::fs::read_to_string(node_dir.join("hostname")).expect("hostname"),
        "worker-node-525400123456\n"
    );
    let server_hosts = std::fs::read_to_string(node_dir.join("hosts")).expect("hosts");
    assert!(
        server_hosts.contains("127.0.0.1 worker-node-525400123456"),
        "{server_hosts}"
    );
    assert!(
        server_hosts.contains("::1 worker-node-525400123456"),
        "{server_hosts}"
    );
    let cmdline = std::fs::read_to_string(node_dir.join("cmdline")).expect("cmdline");
    assert!(
        cmdline.contains("BOOTIF=01-52-54-00-12-34-56")
            && cmdline.contains("nfsroot=10.0.2.2:/clients"),
        "{cmdline}"
    );
    assert_eq!(
        std::fs::read_to_string(node_dir.join("persist/etc/ssh/node-wrote"))
            .expect("persisted file"),
        "written by worker-node-525400123456\n"
    );

    // A second node boots from the same exports into a directory of its own, with the root
    // bare (diskless.volatile=none): nothing writable but the node's paths, yet /etc shows
    // its own name (a copy in /run bind-mounted over the image's file).
    let other = fx.boot(
        "nfs-seed003-other",
        &format!(
            "{} diskless.volatile=none",
            cluster.seed_003_cmdline(&bootif(OTHER_MAC), &v3)
        ),
        &[OTHER_MAC],
    );
    assert_reached(&other, "other node");
    assert_eq!(
        other.value("ROOT-HOSTNAME").as_deref(),
        Some("worker-node-525400abcdef")
    );
    assert_eq!(
        other.value("ROOT-BOOTS").as_deref(),
        Some("1"),
        "the other node must not see the first one's files"
    );
    assert!(cluster.workers.join("525400abcdef/hostname").is_file());
    assert_eq!(other.value("ROOT-ETC-WRITABLE").as_deref(), Some("no"));
    assert_eq!(
        other.value("ROOT-ETC-HOSTNAME").as_deref(),
        Some("worker-node-525400abcdef")
    );
    assert!(
        !block(&other, "ROOT-MOUNT: ")
            .iter()
            .any(|m| m.starts_with("diskless-volatile")),
        "diskless.volatile=none"
    );

    // The first node again: its directory and persisted files as it left them.
    let again = fx.boot(
        "nfs-seed003-again",
        &cluster.seed_003_cmdline(BOOTIF, &v3),
        &[MAC],
    );
    assert_reached(&again, "second boot");
    assert_eq!(again.value("ROOT-BOOTS").as_deref(), Some("2"));
    assert_eq!(
        again.value("ROOT-SSH-BEFORE").as_deref(),
        Some("written by worker-node-525400123456")
    );
    let dmesg = block(&again, "ROOT-DMESG: ").join("\n");
    assert!(
        dmesg.contains("node directory 10.0.2.2:/workers/525400123456 found"),
        "{dmesg}"
    );
    assert!(dmesg.contains("persist /etc/ssh: keeping"), "{dmesg}");

    assert_eq!(
        snapshot(&cluster.clients),
        clients_before,
        "the /clients export must be byte-for-byte unchanged"
    );
}

#[test]
fn nfs4_root_negotiates_4_1_and_a_tmpfs_overlay_is_writable_in_ram() {
    let Some(fx) = fixture() else { return };
    let Some(cluster) = cluster("nfs4-overlay") else {
        return;
    };
    let clients_before = snapshot(&cluster.clients);
    // NFSv4 without a minor version: mount(2) alone would take it as 4.0; the init tries
    // 4.2 (the server refuses it), then 4.1, as mount.nfs does.
    let cmdline = format!(
        "root=nfs4:10.0.2.2:/clients:port={} {BOOTIF} {STATIC_IP} diskless.overlay=tmpfs rd.emergency=poweroff",
        cluster.server.nfs_port()
    );
    let log = fx.boot("nfs4-overlay", &cmdline, &[MAC]);
    assert_reached(&log, "nfs4 overlay");
    let dmesg = block(&log, "ROOT-DMESG: ").join("\n");
    assert!(
        dmesg.contains("the server does not speak NFS 4.2; trying the next version"),
        "{dmesg}"
    );
    assert!(
        dmesg.contains("mounted NFS 4.1 10.0.2.2:/clients"),
        "{dmesg}"
    );
    assert_eq!(log.value("ROOT-HOSTNAME").as_deref(), Some("worker-64e59a"));
    assert_eq!(log.value("ROOT-ETC-WRITABLE").as_deref(), Some("yes"));
    assert_eq!(log.value("ROOT-VARLOG-WRITABLE").as_deref(), Some("yes"));
    let mounts = block(&log, "ROOT-MOUNT: ").join("\n");
    assert!(
        mounts.contains("10.0.2.2:/clients /run/diskless/lower nfs4 ro,"),
        "{mounts}"
    );
    assert!(mounts.contains("vers=4.1"), "{mounts}");
    assert!(mounts.contains("overlay / overlay rw,"), "{mounts}");
    assert_eq!(
        snapshot(&cluster.clients),
        clients_before,
        "writes must stay in RAM, not reach the export"
    );
}

/// `diskless.persist=/var` with the node's directory at `/var/local`, inside it: the first
/// boot's copy of /var must not walk into the node's directory (it once did, without end),
/// and the node's directory must stay visible on top of the persisted /var.
#[test]
fn persisting_var_around_the_node_directory_boots_twice_and_stays_bounded() {
    let Some(fx) = fixture() else { return };
    let Some(cluster) = cluster("persist-var") else {
        return;
    };
    let v3 = cluster.server.v3_options();
    let v4 = cluster.server.v4_options();
    let line = format!(
        "root=/dev/nfs nfsroot=10.0.2.2:/clients,ro,{v3} ip=dhcp {BOOTIF} {STATIC_IP} \
         diskless.hostname=worker-node-{{mac}} diskless.node=10.0.2.2:/workers,{v4} \
         diskless.persist=/var rd.emergency=poweroff"
    );
    for (boot, label) in [("1", "persist-var-first"), ("2", "persist-var-again")] {
        let log = fx.boot(label, &line, &[MAC]);
        assert_reached(&log, label);
        // /var/local/boots is on the node's directory, counted across boots.
        assert_eq!(log.value("ROOT-BOOTS").as_deref(), Some(boot), "{label}");
        assert_eq!(
            log.value("ROOT-VARLOG-WRITABLE").as_deref(),
            Some("yes"),
            "{label}"
        );
    }
    // /var/local/boots landed on the node's directory itself, not in the persisted copy of
    // /var: the node's directory is on top.
    let node_dir = cluster.workers.join("525400123456");
    assert!(!node_dir.join("persist/var/local/boots").exists());
    let entries = snapshot(&node_dir).len();
    assert!(
        entries < 100,
        "{entries} entries: the first boot's copy did not stay bounded"
    );
    assert!(node_dir.join("persist/var/log/diskless-test").is_file());
    assert_eq!(
        std::fs::read_to_string(node_dir.join("boots")).expect("boots"),
        "2\n"
    );
}

#[test]
fn unreachable_servers_and_missing_exports_end_in_a_fatal_line() {
    let Some(fx) = fixture() else { return };
    let Some(cluster) = cluster("nfs-fatal") else {
        return;
    };
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let v4 = cluster.server.v4_options();
    let cases = [
        (
            "nfs-fatal-unreachable",
            format!("root=/dev/nfs nfsroot=10.0.2.2:/clients,vers=4.1,port={dead_port} rd.retry=4"),
            vec![
                "diskless: FATAL mount: mounting NFS 10.0.2.2:/clients",
                "nothing answers on the NFS port",
            ],
        ),
        (
            "nfs-fatal-missing-export",
            format!("root=nfs4:10.0.2.2:/no-such-export:{v4}"),
            vec![
                "diskless: FATAL mount: mounting NFS 10.0.2.2:/no-such-export",
                "the server does not export that path",
            ],
        ),
    ];
    for (label, root, expected) in cases {
        let log = fx.boot(
            label,
            &format!("{root} {BOOTIF} {STATIC_IP} rd.emergency=poweroff"),
            &[MAC],
        );
        common::assert_fatal(&log, label, &expected);
    }
}
