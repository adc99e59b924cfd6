//! The test bed's NFS server (`testbed::nfs`): ganesha starts on private loopback
//! ports without rpcbind, answers MOUNT and NFS calls for the exports' pseudo paths, several
//! instances run at once, and a real guest kernel mounts its exports over NFSv3 and NFSv4.1
//! the way our init will (mount(2) with explicit ports, no helper, no portmapper).
//!
//! Without ganesha (`apt-get install nfs-ganesha nfs-ganesha-vfs`), root, QEMU or the test
//! kernel these tests print a loud SKIPPING banner and pass, except under `CI=true`, where they
//! fail.

#![allow(
    clippy::indexing_slicing,
    reason = "test code: an out-of-bounds index fails the test, as it should"
)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testbed::{Export, NfsServer, Qemu};
use xtask::image::cpio::Archive;
use xtask::image::kmod;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A fresh scratch directory for one test, under target/testbed-tmp.
fn scratch(name: &str) -> PathBuf {
    testbed::fresh_dir(name).expect("creating the scratch dir")
}

fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir -p");
    std::fs::write(path, contents).expect("write fixture");
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, testbed::TreeEntry> {
    testbed::tree_snapshot(dir).expect("reading the tree")
}

/// An NFS-root cluster's layout: a read-only `/clients` (the shared root) and a writable
/// `/workers` with a directory per node (named by the MAC) and a shared `home`.
struct Cluster {
    clients: PathBuf,
    workers: PathBuf,
}

const NODE_DIR: &str = "525400123456";
const HELLO: &str = "hello from the host\n";

fn cluster(base: &Path) -> Cluster {
    let clients = base.join("clients");
    let workers = base.join("workers");
    write(&clients.join("etc/hello"), HELLO);
    write(&clients.join("bin/.keep"), "");
    std::fs::create_dir_all(workers.join(NODE_DIR)).expect("node dir");
    write(&workers.join("home/user/.profile"), "# shared home\n");
    Cluster { clients, workers }
}

fn cluster_exports(c: &Cluster) -> Vec<Export> {
    vec![
        Export::read_only(&c.clients, "/clients"),
        Export::read_write(&c.workers, "/workers"),
    ]
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

// ---------------------------------------------------------------------------------------------
// A minimal ONC RPC client over TCP (RFC 5531), to ask the server things without a kernel.

const NFS_PROGRAM: u32 = 100_003;
const MOUNT_PROGRAM: u32 = 100_005;
const MOUNTPROC3_MNT: u32 = 1;
const MOUNTPROC3_UMNT: u32 = 3;

fn put(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_opaque(out: &mut Vec<u8>, data: &[u8]) {
    put(out, u32::try_from(data.len()).expect("short"));
    out.extend_from_slice(data);
    out.resize(out.len() + (4 - data.len() % 4) % 4, 0);
}

/// Calls `program`/`version`/`procedure` on 127.0.0.1:`port` as root (AUTH_SYS uid 0) and
/// returns `(accept_stat, results)`.
fn rpc_call(port: u16, program: u32, version: u32, procedure: u32, args: &[u8]) -> (u32, Vec<u8>) {
    let xid = 0x6469_736b; // "disk"
    let mut msg = Vec::new();
    for v in [xid, 0, 2, program, version, procedure] {
        put(&mut msg, v);
    }
    // AUTH_SYS: stamp, machine name, uid, gid, no extra groups.
    let mut cred = Vec::new();
    put(&mut cred, 1);
    put_opaque(&mut cred, b"xtask-test");
    for v in [0, 0, 0] {
        put(&mut cred, v);
    }
    put(&mut msg, 1);
    put_opaque(&mut msg, &cred);
    put(&mut msg, 0);
    put_opaque(&mut msg, &[]);
    msg.extend_from_slice(args);

    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mark = 0x8000_0000 | u32::try_from(msg.len()).expect("short");
    stream.write_all(&mark.to_be_bytes()).expect("send mark");
    stream.write_all(&msg).expect("send call");

    let mut mark = [0u8; 4];
    stream.read_exact(&mut mark).expect("reply mark");
    let mark = u32::from_be_bytes(mark);
    assert!(mark & 0x8000_0000 != 0, "single-fragment reply expected");
    let mut reply = vec![0u8; (mark & 0x7fff_ffff) as usize];
    stream.read_exact(&mut reply).expect("reply body");

    let word = |i: usize| u32::from_be_bytes(reply[i * 4..i * 4 + 4].try_into().expect("word"));
    assert_eq!(word(0), xid);
    assert_eq!(word(1), 1, "a REPLY");
    assert_eq!(word(2), 0, "MSG_ACCEPTED");
    let verf_len = word(4) as usize;
    let at = 20 + verf_len.div_ceil(4) * 4;
    let accept_stat = u32::from_be_bytes(reply[at..at + 4].try_into().expect("word"));
    (accept_stat, reply[at + 4..].to_vec())
}

/// MOUNT v3 MNT of `path`: the mountstat3 (0 = OK, 2 = NOENT, 13 = ACCES).
fn mnt(port: u16, path: &str) -> u32 {
    let mut args = Vec::new();
    put_opaque(&mut args, path.as_bytes());
    let (stat, results) = rpc_call(port, MOUNT_PROGRAM, 3, MOUNTPROC3_MNT, &args);
    assert_eq!(stat, 0, "MNT {path}: accept_stat");
    let status = u32::from_be_bytes(results[..4].try_into().expect("status"));
    if status == 0 {
        let _ = rpc_call(port, MOUNT_PROGRAM, 3, MOUNTPROC3_UMNT, &args);
    }
    status
}

// ---------------------------------------------------------------------------------------------
// The server on its own

#[test]
fn two_servers_run_at_once_on_private_ports_and_mount_paths_are_pseudo_paths() {
    if !testbed::require_ganesha() {
        return;
    }
    let base = scratch("nfs-server-two");
    let c = cluster(&base);

    let started = Instant::now();
    let a = NfsServer::start(&cluster_exports(&c)).expect("first server starts");
    let a_wall = started.elapsed();
    let other = base.join("other");
    std::fs::create_dir_all(&other).expect("other dir");
    let b = NfsServer::start(&[Export::read_write(&other, "/other")]).expect("second starts");
    eprintln!(
        "ganesha startup: {:.3} s (first, spawn to serving; {:.3} s wall with setup), {:.3} s (second)",
        a.startup_time().as_secs_f64(),
        a_wall.as_secs_f64(),
        b.startup_time().as_secs_f64()
    );

    // Four distinct ports, all serving, and private directories.
    let mut ports = vec![a.nfs_port(), a.mount_port(), b.nfs_port(), b.mount_port()];
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4, "ports must differ: {ports:?}");
    for port in &ports {
        assert!(accepts(*port), "port {port} does not accept");
    }
    assert_ne!(a.dir(), b.dir());
    assert!(a.dir().starts_with(testbed::scratch_dir()));

    // The options a guest needs.
    assert_eq!(
        a.v3_options(),
        format!(
            "vers=3,port={},mountport={},mountproto=tcp,proto=tcp",
            a.nfs_port(),
            a.mount_port()
        )
    );
    assert_eq!(a.v4_options(), format!("vers=4.1,port={}", a.nfs_port()));

    // The config on disk is the one reported, and says what we rely on.
    let on_disk = std::fs::read_to_string(a.dir().join("ganesha.conf")).expect("config file");
    assert_eq!(on_disk, a.config());
    let clients = std::fs::canonicalize(&c.clients).expect("canonical");
    for needle in [
        format!("NFS_Port = {};", a.nfs_port()),
        format!("MNT_Port = {};", a.mount_port()),
        "Bind_addr = 127.0.0.1;".to_owned(),
        "Protocols = 3, 4;".to_owned(),
        "Mount_Path_Pseudo = true;".to_owned(),
        "Graceless = true;".to_owned(),
        format!("RecoveryRoot = \"{}\";", a.dir().join("recovery").display()),
        format!(
            "Path = \"{}\";\n    Pseudo = \"/clients\";\n    Access_Type = RO;",
            clients.display()
        ),
        "Pseudo = \"/workers\";\n    Access_Type = RW;".to_owned(),
        "Squash = No_Root_Squash;".to_owned(),
        "SecType = sys;".to_owned(),
        "Transports = TCP;".to_owned(),
        "Name = VFS;".to_owned(),
    ] {
        assert!(a.config().contains(&needle), "config lacks {needle:?}");
    }
    assert_eq!(a.exports()[0].path, clients);
    // ganesha only warns about keys it does not know: none of ours may be misspelt.
    assert!(!a.log().contains("Config File"), "{}", a.log());

    // Its own pid file, not /var/run/ganesha/ganesha.pid.
    let pid = std::fs::read_to_string(a.dir().join("ganesha.pid")).expect("pid file");
    assert_eq!(pid.trim(), a.pid().to_string());

    // It speaks RPC: NULL calls to NFS v3 and v4 and MOUNT v3.
    for (port, program, version) in [
        (a.nfs_port(), NFS_PROGRAM, 3),
        (a.nfs_port(), NFS_PROGRAM, 4),
        (a.mount_port(), MOUNT_PROGRAM, 3),
    ] {
        let (stat, _) = rpc_call(port, program, version, 0, &[]);
        assert_eq!(stat, 0, "NULL to program {program} v{version} on {port}");
    }

    // Mount_Path_Pseudo: MOUNT takes the pseudo paths, and a subdirectory of an export (seed
    // 003 mounts /workers/<node> and /workers/home over v3), but not the host paths.
    assert_eq!(mnt(a.mount_port(), "/clients"), 0);
    assert_eq!(mnt(a.mount_port(), "/workers"), 0);
    assert_eq!(mnt(a.mount_port(), &format!("/workers/{NODE_DIR}")), 0);
    assert_eq!(mnt(a.mount_port(), "/workers/home"), 0);
    assert_ne!(mnt(a.mount_port(), &clients.to_string_lossy()), 0);
    assert_ne!(mnt(a.mount_port(), "/nonexistent"), 0);
    assert_ne!(mnt(a.mount_port(), "/other"), 0, "b's export is not a's");
    assert_eq!(mnt(b.mount_port(), "/other"), 0);

    // ganesha registered NFS and MOUNT v3 with the rpcbind stand-in, at the ports it serves.
    let regs = a.registrations();
    let registered = |program: u32, port: u16| {
        regs.iter()
            .any(|r| r.program == program && r.version == 3 && r.port() == Some(port))
    };
    assert!(registered(NFS_PROGRAM, a.nfs_port()), "{regs:?}");
    assert!(registered(MOUNT_PROGRAM, a.mount_port()), "{regs:?}");

    // A client that must ask (klibc's nfsmount, on port 111 of a namespace of its own in
    // `cargo xtask bench`) gets those ports from the same table with portmap v2 GETPORT.
    let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("probe a port");
    let pmap_port = probe.local_addr().expect("probed").port();
    drop(probe);
    let mut a = a;
    a.serve_portmap(std::net::SocketAddrV4::new(Ipv4Addr::LOCALHOST, pmap_port))
        .expect("portmapper listens");
    for (program, port) in [(NFS_PROGRAM, a.nfs_port()), (MOUNT_PROGRAM, a.mount_port())] {
        let mut args = Vec::new();
        for v in [program, 3, 6, 0] {
            put(&mut args, v);
        }
        let (stat, results) = rpc_call(pmap_port, 100_000, 2, 3, &args);
        assert_eq!(stat, 0, "GETPORT {program}: accept_stat");
        assert_eq!(
            results,
            u32::from(port).to_be_bytes(),
            "GETPORT {program} v3 tcp"
        );
    }
    assert_eq!(a.portmap_queries().len(), 2);

    // Stopping one leaves the other serving, and removes the stopped one's directory.
    let (b_port, b_dir) = (b.nfs_port(), b.dir().to_owned());
    let stopping = Instant::now();
    drop(b);
    eprintln!("ganesha stop: {:.3} s", stopping.elapsed().as_secs_f64());
    assert!(!accepts(b_port), "stopped server still accepts on {b_port}");
    assert!(!b_dir.exists());
    assert_eq!(mnt(a.mount_port(), "/clients"), 0);
    assert!(a.is_running(), "{}", a.log());
}

// ---------------------------------------------------------------------------------------------
// A guest kernel mounts it

/// Modules the guest loads, with their dependencies (sunrpc, nfs, lockd, ...).
const GUEST_MODULES: &[&str] = &["virtio_pci", "virtio_net", "nfsv3", "nfsv4"];
const GUEST_APPLETS: &[&str] = &[
    "sh", "mount", "umount", "modprobe", "ip", "mkdir", "cat", "grep", "sed", "sleep", "sync",
    "poweroff", "ls",
];

/// The guest's /init: network up by hand, then the mounts the seed's cluster needs, over v4.1
/// and v3, each bracketed by `/proc/uptime` stamps.
fn guest_init(server: &NfsServer) -> String {
    let v4 = format!("{},addr=10.0.2.2,clientaddr=10.0.2.15", server.v4_options());
    let v3 = format!("{},nolock,addr=10.0.2.2", server.v3_options());
    format!(
        r#"#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
[ -t 1 ] || exec </dev/console >/dev/console 2>&1
fail() {{ echo "NFSTEST-FAIL $*"; }}
stamp() {{ read up rest </proc/uptime; echo "NFSTEST-T $1 $up"; }}
for m in {modules}; do modprobe $m || fail "modprobe $m"; done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0 || fail "ip addr"
ip link set eth0 up || fail "ip link"
ip route add default via 10.0.2.2 || fail "ip route"
mkdir -p /mnt/v4ro /mnt/v4rw /mnt/v3ro /mnt/v3rw /mnt/v3home

stamp v4-start
mount -t nfs4 -o {v4} 10.0.2.2:/clients /mnt/v4ro || fail "mount v4 /clients"
stamp v4-mounted
mount -t nfs4 -o {v4} 10.0.2.2:/workers/{node} /mnt/v4rw || fail "mount v4 /workers/{node}"
stamp v4-second-mounted
echo "NFSTEST-READ v4 $(cat /mnt/v4ro/etc/hello)"
echo "written over v4 by the guest" > /mnt/v4rw/from-guest-v4 || fail "write v4"
if echo x > /mnt/v4ro/etc/not-allowed; then fail "v4 write to the RO export succeeded"; else echo "NFSTEST-RO-REFUSED v4"; fi
if mkdir /mnt/v4ro/not-allowed; then fail "v4 mkdir on the RO export succeeded"; fi

stamp v3-start
mount -t nfs -o {v3} 10.0.2.2:/clients /mnt/v3ro || fail "mount v3 /clients"
stamp v3-mounted
mount -t nfs -o {v3} 10.0.2.2:/workers /mnt/v3rw || fail "mount v3 /workers"
stamp v3-second-mounted
mount -t nfs -o {v3} 10.0.2.2:/workers/home /mnt/v3home || fail "mount v3 /workers/home"
echo "NFSTEST-READ v3 $(cat /mnt/v3ro/etc/hello)"
echo "NFSTEST-READ v3-home $(cat /mnt/v3home/user/.profile)"
echo "written over v3 by the guest" > /mnt/v3rw/{node}/from-guest-v3 || fail "write v3"
if echo x > /mnt/v3ro/etc/not-allowed; then fail "v3 write to the RO export succeeded"; else echo "NFSTEST-RO-REFUSED v3"; fi
echo "NFSTEST-SEES-V4-WRITE $(cat /mnt/v3rw/{node}/from-guest-v4)"

grep ' nfs' /proc/mounts | sed 's/^/NFSTEST-MOUNT /'
for m in /mnt/v3home /mnt/v3rw /mnt/v3ro /mnt/v4rw /mnt/v4ro; do umount $m || fail "umount $m"; done
sync
echo NFSTEST-DONE
poweroff -f
"#,
        modules = GUEST_MODULES.join(" "),
        node = NODE_DIR,
    )
}

/// A newc initrd: static busybox and its applet links, /dev/console, `init`, and the NFS and
/// virtio modules (with dependencies and a modules.dep for busybox modprobe).
fn guest_initrd(modules_dir: &Path, init: &str, out: &Path) -> kmod::Packed {
    let mut archive = Archive::new();
    for dir in ["dev", "proc", "sys", "mnt", "tmp"] {
        archive.dir(dir, 0o755).expect("dir");
    }
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static)");
    archive
        .file("bin/busybox", 0o755, busybox)
        .expect("busybox");
    for applet in GUEST_APPLETS {
        archive
            .symlink(&format!("bin/{applet}"), "busybox")
            .expect("applet link");
    }
    // The kernel asks /sbin/modprobe for modules it wants during mounts.
    archive
        .symlink("sbin/modprobe", "/bin/busybox")
        .expect("modprobe link");
    archive
        .char_device("dev/console", 0o600, 5, 1)
        .expect("console");
    archive
        .file("init", 0o755, init.as_bytes().to_vec())
        .expect("init");
    let tree = kmod::scan(modules_dir).expect("module tree scans");
    let requests: Vec<kmod::Request> = GUEST_MODULES
        .iter()
        .map(|name| kmod::Request {
            name: (*name).to_owned(),
            required: true,
        })
        .collect();
    let packed = kmod::pack(&tree, &requests, &mut archive).expect("modules pack");
    std::fs::write(out, archive.encode(0)).expect("write initrd");
    packed
}

#[test]
fn guest_kernel_mounts_ro_and_rw_exports_over_v3_and_v4() {
    if !testbed::require_qemu() || !testbed::require_ganesha() {
        return;
    }
    let Some(kernel) = testbed::test_kernel() else {
        return;
    };
    let base = scratch("nfs-server-guest");
    let c = cluster(&base);
    let clients_before = snapshot(&c.clients);
    let server = NfsServer::start(&cluster_exports(&c)).expect("server starts");
    eprintln!(
        "ganesha serving after {:.3} s on nfs {} / mount {}",
        server.startup_time().as_secs_f64(),
        server.nfs_port(),
        server.mount_port()
    );

    let initrd = base.join("initrd.cpio");
    let packed = guest_initrd(&kernel.modules_dir, &guest_init(&server), &initrd);
    eprintln!(
        "guest modules: {}",
        packed
            .modules
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );

    let log = Qemu::new(&kernel.vmlinuz, &initrd)
        .nic("52:54:00:12:34:56")
        .name("nfs-server-guest")
        .timeout(Duration::from_secs(180))
        .run()
        .expect("QEMU runs");
    let report = |what: &str| {
        format!(
            "{}\n--- ganesha log ---\n{}",
            log.failure_report(what),
            server.log()
        )
    };

    assert!(
        log.prefixed("NFSTEST-FAIL").is_empty(),
        "{}",
        report("a guest step failed")
    );
    assert!(
        log.contains("NFSTEST-DONE"),
        "{}",
        report("the guest did not finish")
    );
    assert!(log.exited_cleanly(), "{}", report("no clean power-off"));

    // Reads: the host's file over both versions, and a subdirectory export over v3.
    let hello = HELLO.trim_end();
    for needle in [
        format!("NFSTEST-READ v4 {hello}"),
        format!("NFSTEST-READ v3 {hello}"),
        "NFSTEST-READ v3-home # shared home".to_owned(),
        "NFSTEST-SEES-V4-WRITE written over v4 by the guest".to_owned(),
        "NFSTEST-RO-REFUSED v4".to_owned(),
        "NFSTEST-RO-REFUSED v3".to_owned(),
    ] {
        assert!(
            log.contains(&needle),
            "{}",
            report(&format!("no {needle:?}"))
        );
    }

    // The kernel used the versions asked for.
    let mounts = log.prefixed("NFSTEST-MOUNT ");
    let v4_mounts = mounts
        .iter()
        .filter(|m| m.contains(" nfs4 ") && m.contains("vers=4.1"))
        .count();
    let v3_mounts = mounts
        .iter()
        .filter(|m| m.contains(" nfs ") && m.contains("vers=3"))
        .count();
    assert_eq!(
        (v4_mounts, v3_mounts),
        (2, 3),
        "{}",
        report("unexpected mounts")
    );

    // Writes landed in the node's directory, as root (No_Root_Squash), and the RO export is
    // exactly as the host wrote it.
    for (name, content) in [
        ("from-guest-v4", "written over v4 by the guest\n"),
        ("from-guest-v3", "written over v3 by the guest\n"),
    ] {
        let path = c.workers.join(NODE_DIR).join(name);
        let got = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), report("missing write")));
        assert_eq!(got, content);
        let meta = std::fs::metadata(&path).expect("stat");
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{name} owner");
    }
    assert_eq!(
        snapshot(&c.clients),
        clients_before,
        "the RO export changed"
    );

    // Host timestamps of the guest's stamp lines: microseconds, where /proc/uptime has 10 ms.
    let at = |label: &str| log.time_of(&format!("NFSTEST-T {label} "));
    let span = |a: &str, b: &str| Some(at(b)? - at(a)?);
    let show = |s: Option<f64>| s.map_or("?".to_owned(), |s| format!("{s:.3}"));
    eprintln!(
        "guest mount times (s): v4.1 first {}, v4.1 second {}, v3 first {}, v3 second {}; \
         QEMU launch to poweroff {:.2} s (log {})",
        show(span("v4-start", "v4-mounted")),
        show(span("v4-mounted", "v4-second-mounted")),
        show(span("v3-start", "v3-mounted")),
        show(span("v3-mounted", "v3-second-mounted")),
        log.elapsed.as_secs_f64(),
        log.log_path.display()
    );
    assert!(
        span("v4-start", "v4-mounted").is_some(),
        "{}",
        report("no mount stamps")
    );
}
