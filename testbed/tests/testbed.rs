//! Tests of the test bed itself: the HTTP server, the root builder, and QEMU boots of tiny
//! initrds.
//!
//! QEMU tests boot the Debian cloud kernel from `testbed::kernel::ensure()` (see
//! `testbed::test_kernel`). Without it (or without QEMU) those tests print a loud
//! SKIPPING banner and pass, except under `CI=true`, where they fail.

#![allow(
    clippy::indexing_slicing,
    reason = "test code: an out-of-bounds index fails the test, as it should"
)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testbed::{self, Behavior, HttpServer, MachineIdFile, Qemu, QemuError, RootSpec, RootTree};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A fresh scratch directory for one test, under target/testbed-tmp.
fn scratch(name: &str) -> PathBuf {
    testbed::fresh_dir(name).expect("creating the scratch dir")
}

#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One request with a plain TcpStream. `Err` when the server sent no response at all.
fn request(
    server: &HttpServer,
    method: &str,
    path: &str,
    range: Option<&str>,
) -> Result<Response, String> {
    let mut stream = TcpStream::connect(server.addr()).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    if let Some(range) = range {
        req.push_str(&format!("Range: {range}\r\n"));
    }
    req.push_str("\r\n");
    // A refused connection may already be closed: the write or the read then fails.
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(format!("no response ({read:?}, {} bytes)", raw.len()));
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    Ok(Response {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    })
}

fn get(server: &HttpServer, path: &str) -> Response {
    request(server, "GET", path, None).expect("a response")
}

/// 1000 bytes whose values vary, so that offsets are visible in them.
fn pattern() -> Vec<u8> {
    (0..1000u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn serve_pattern() -> HttpServer {
    HttpServer::serve_files(BTreeMap::from([("img".to_owned(), pattern())])).expect("server starts")
}

// ---------------------------------------------------------------------------------------------
// HTTP server

#[test]
fn http_get_serves_the_whole_file_and_logs_the_request() {
    let server = serve_pattern();
    let r = get(&server, "/img");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("1000"));
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(r.body, pattern());
    let log = server.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str()),
        ("GET", "/img")
    );
    assert_eq!(
        (log[0].status, log[0].bytes_sent, log[0].range.clone()),
        (Some(200), 1000, None)
    );
    assert_eq!(
        server.url_for("img"),
        format!("http://10.0.2.2:{}/img", server.port())
    );
}

#[test]
fn http_head_sends_the_length_without_a_body() {
    let server = serve_pattern();
    let r = request(&server, "HEAD", "/img", None).expect("a response");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("1000"));
    assert!(r.body.is_empty());
    assert_eq!(server.requests()[0].bytes_sent, 0);
}

#[test]
fn http_ranges_give_206_with_content_range() {
    let server = serve_pattern();
    let all = pattern();

    let r = request(&server, "GET", "/img", Some("bytes=990-")).expect("a response");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 990-999/1000"));
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.body, all[990..]);

    let r = request(&server, "GET", "/img", Some("bytes=100-199")).expect("a response");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 100-199/1000"));
    assert_eq!(r.body, all[100..200]);

    let r = request(&server, "GET", "/img", Some("bytes=-5")).expect("a response");
    assert_eq!((r.status, r.body.as_slice()), (206, &all[995..]));

    let r = request(&server, "GET", "/img", Some("bytes=1000-")).expect("a response");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */1000"));

    let log = server.requests();
    assert_eq!(log[0].range.as_deref(), Some("bytes=990-"));
    assert_eq!((log[0].status, log[0].bytes_sent), (Some(206), 10));
    assert_eq!(log[3].status, Some(416));
}

#[test]
fn http_unknown_names_and_escapes_are_404() {
    let dir = scratch("http-dir");
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    std::fs::write(dir.join("sub/file"), b"in a subdirectory").expect("write");
    std::fs::write(testbed::scratch_dir().join("outside"), b"secret").expect("write");
    let server = HttpServer::serve_dir(&dir).expect("server starts");

    assert_eq!(get(&server, "/sub/file").body, b"in a subdirectory");
    assert_eq!(get(&server, "/sub/file?x=1").status, 200);
    assert_eq!(get(&server, "/missing").status, 404);
    assert_eq!(get(&server, "/sub").status, 404);
    assert_eq!(get(&server, "/../outside").status, 404);
    assert_eq!(get(&server, "/sub/../../outside").status, 404);
    assert_eq!(
        request(&server, "POST", "/sub/file", None)
            .expect("a response")
            .status,
        501
    );

    // In-memory files can be added once the port (and so the URLs) are known.
    server.add_file(
        "boot.ipxe",
        format!("#!ipxe\nkernel {}\n", server.url_for("vmlinuz")),
    );
    assert!(String::from_utf8_lossy(&get(&server, "/boot.ipxe").body).contains(":"));
}

#[test]
fn http_refuse_first_closes_k_connections_without_a_response() {
    let server = serve_pattern();
    server.set_behavior(Behavior::RefuseFirst(2));
    assert!(request(&server, "GET", "/img", None).is_err());
    assert!(request(&server, "GET", "/img", None).is_err());
    assert_eq!(get(&server, "/img").body, pattern());
    let log = server.requests();
    assert_eq!(log.len(), 3);
    assert!(
        log[..2]
            .iter()
            .all(|r| r.status.is_none() && r.misbehaved == Some(Behavior::RefuseFirst(2)))
    );
    assert_eq!(log[2].status, Some(200));
}

#[test]
fn http_cut_after_truncates_one_response_only() {
    let server = serve_pattern();
    server.set_behavior(Behavior::CutAfter(300));
    // HEAD has no body to cut and short ranges fit: neither uses the cut up.
    assert_eq!(
        request(&server, "HEAD", "/img", None)
            .expect("a response")
            .status,
        200
    );
    let r = request(&server, "GET", "/img", Some("bytes=0-99")).expect("a response");
    assert_eq!(r.body.len(), 100);

    let r = get(&server, "/img");
    assert_eq!(r.header("Content-Length"), Some("1000"));
    assert_eq!(r.body, pattern()[..300]);
    let r = get(&server, "/img");
    assert_eq!(r.body, pattern());

    let log = server.requests();
    assert_eq!(log[2].bytes_sent, 300);
    assert_eq!(log[2].misbehaved, Some(Behavior::CutAfter(300)));
    assert_eq!((log[3].bytes_sent, log[3].misbehaved), (1000, None));
}

#[test]
fn http_corrupt_byte_flips_that_offset_in_every_range_covering_it() {
    let server = serve_pattern();
    server.set_behavior(Behavior::CorruptByte(500));
    let good = pattern();

    let body = get(&server, "/img").body;
    let diffs: Vec<usize> = (0..good.len()).filter(|&i| body[i] != good[i]).collect();
    assert_eq!(diffs, [500]);
    assert_eq!(body[500], !good[500]);

    let r = request(&server, "GET", "/img", Some("bytes=498-501")).expect("a response");
    assert_eq!(r.body, [good[498], good[499], !good[500], good[501]]);
    let r = request(&server, "GET", "/img", Some("bytes=501-")).expect("a response");
    assert_eq!(r.body, good[501..]);
    // Only responses the corruption touched are marked.
    let marked: Vec<_> = server.requests().iter().map(|r| r.misbehaved).collect();
    let corrupt = Some(Behavior::CorruptByte(500));
    assert_eq!(marked, [corrupt, corrupt, None]);
}

#[test]
fn http_fail_first_and_per_path_behaviours() {
    let server = HttpServer::serve_files(BTreeMap::from([
        ("a".to_owned(), b"aaaa".to_vec()),
        ("b".to_owned(), b"bbbb".to_vec()),
    ]))
    .expect("server starts");
    server.set_behavior_for(
        "b",
        Behavior::FailFirst {
            count: 2,
            status: 503,
        },
    );
    assert_eq!(get(&server, "/a").status, 200);
    assert_eq!(get(&server, "/b").status, 503);
    assert_eq!(get(&server, "/b").status, 503);
    assert_eq!(get(&server, "/a").status, 200);
    let r = get(&server, "/b");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"bbbb"[..]));
}

#[test]
fn http_delay_holds_the_response_back() {
    let server = serve_pattern();
    server.set_behavior(Behavior::Delay(Duration::from_millis(300)));
    let start = Instant::now();
    assert_eq!(get(&server, "/img").status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn http_server_stops_on_drop() {
    let server = serve_pattern();
    let addr = server.addr();
    drop(server);
    assert!(
        TcpStream::connect(addr).is_err(),
        "port {} still accepts",
        addr.port()
    );
}

// ---------------------------------------------------------------------------------------------
// Root tree and squashfs

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn root_tree_has_busybox_applets_etc_files_and_the_checker() {
    let dir = scratch("root-tree").join("root");
    let tree = RootTree::busybox(&dir).expect("builds");
    let root = tree.path();

    assert_eq!(mode(&root.join("bin/busybox")), 0o755);
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).expect("link"),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::read_link(root.join("sbin/poweroff")).expect("link"),
        Path::new("../bin/busybox")
    );
    // Links resolve inside the tree.
    assert!(root.join("usr/bin/env").is_file());
    let init = std::fs::read_to_string(root.join("sbin/init")).expect("checker");
    assert!(init.starts_with("#!/bin/busybox sh\n"));
    assert_eq!(mode(&root.join("sbin/init")), 0o755);

    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).expect(rel);
    assert_eq!(read("etc/hostname"), "image-build-host\n");
    assert!(read("etc/hosts").contains("127.0.0.1\tlocalhost\n127.0.1.1\timage-build-host\n"));
    assert_eq!(read("etc/machine-id"), "");
    assert!(read("etc/os-release").contains("ID=diskless-testroot\n"));
    assert!(!root.join("etc/resolv.conf").exists());
    for d in ["proc", "sys", "dev", "run", "var/log", "home", "var/local"] {
        assert_eq!(mode(&root.join(d)), 0o755, "{d}");
    }
    assert_eq!(mode(&root.join("tmp")), 0o1777);
    assert_eq!(mode(&root.join("root")), 0o700);

    // The checker is valid shell for the busybox that will run it.
    let status = Command::new(root.join("bin/busybox"))
        .args(["sh", "-n"])
        .arg(root.join("sbin/init"))
        .status()
        .expect("runs busybox");
    assert!(status.success());
}

#[test]
fn root_tree_machine_id_variants_and_rebuilds() {
    let dir = scratch("root-variants").join("root");
    let fixed = "0123456789abcdef0123456789abcdef";
    for (variant, expected) in [
        (
            MachineIdFile::Uninitialized,
            Some("uninitialized\n".to_owned()),
        ),
        (
            MachineIdFile::Fixed(fixed.to_owned()),
            Some(format!("{fixed}\n")),
        ),
        (MachineIdFile::Absent, None),
    ] {
        // Building again over an earlier test root replaces it.
        let tree = RootSpec::default()
            .machine_id(variant)
            .hook("echo HOOK-LINE")
            .build(&dir)
            .expect("builds");
        assert_eq!(
            std::fs::read_to_string(tree.path().join("etc/machine-id")).ok(),
            expected
        );
        let init = std::fs::read_to_string(tree.path().join("sbin/init")).expect("checker");
        assert!(init.contains("\necho HOOK-LINE\n"));
    }
}

#[test]
fn root_tree_refuses_to_replace_a_directory_it_did_not_write() {
    let dir = scratch("root-refuse");
    std::fs::write(dir.join("precious"), b"keep me").expect("write");
    let err = RootTree::busybox(&dir).expect_err("must refuse");
    assert!(err.to_string().contains("refusing"), "{err:#}");
    assert!(dir.join("precious").exists());
}

#[test]
fn squashfs_is_zstd_root_owned_and_reproducible() {
    let base = scratch("squashfs");
    let tree = RootTree::busybox(base.join("root")).expect("builds");
    let image = base.join("root.squashfs");
    tree.squashfs(&image).expect("packs");
    // A second tree at another path, packed again: the same bytes.
    let tree2 = RootTree::busybox(base.join("other-root")).expect("builds");
    let image2 = base.join("root2.squashfs");
    tree2.squashfs(&image2).expect("packs");
    let bytes = std::fs::read(&image).expect("read");
    assert_eq!(
        bytes,
        std::fs::read(&image2).expect("read"),
        "not reproducible"
    );

    // Superblock: magic "hsqs", version 4.0, compression id 6 (zstd), 4 KiB padded.
    assert_eq!(&bytes[0..4], b"hsqs");
    assert_eq!(
        u16::from_le_bytes([bytes[20], bytes[21]]),
        6,
        "compression id"
    );
    assert_eq!(
        u16::from_le_bytes([bytes[28], bytes[29]]),
        4,
        "major version"
    );
    assert_eq!(bytes.len() % 4096, 0);
    eprintln!("test root squashfs: {} bytes", bytes.len());

    // Read it back with backhand.
    let file = std::io::BufReader::new(std::fs::File::open(&image).expect("open"));
    let fs = backhand::FilesystemReader::from_reader(file).expect("a squashfs backhand can read");
    let mut seen = BTreeMap::new();
    for node in fs.files() {
        let h = node.header;
        assert_eq!((h.uid, h.gid), (0, 0), "{}", node.fullpath.display());
        // backhand has no setter for the root directory's mtime; 0 is as reproducible.
        let mtime = if node.fullpath == Path::new("/") {
            0
        } else {
            testbed::rootfs::SQUASHFS_MTIME
        };
        assert_eq!(h.mtime, mtime, "{}", node.fullpath.display());
        seen.insert(
            node.fullpath.to_string_lossy().into_owned(),
            (h.permissions, node),
        );
    }
    assert_eq!(seen["/bin/busybox"].0, 0o755);
    assert_eq!(seen["/sbin/init"].0, 0o755);
    assert_eq!(seen["/tmp"].0, 0o1777);
    assert_eq!(seen["/root"].0, 0o700);
    // Linux rejects an empty file that points into a fragment (backhand < 0.25.5 wrote them
    // so; wcampbell0x2a/backhand#803): /etc/machine-id must carry no fragment reference.
    match &seen["/etc/machine-id"].1.inner {
        backhand::InnerNode::File(backhand::SquashfsFileReader::Basic(f)) => {
            assert_eq!((f.file_size, f.frag_index), (0, u32::MAX));
        }
        other => panic!("/etc/machine-id is not a basic file: {other:?}"),
    }
    match &seen["/bin/sh"].1.inner {
        backhand::InnerNode::Symlink(link) => assert_eq!(link.link, Path::new("busybox")),
        other => panic!("/bin/sh is not a symlink: {other:?}"),
    }

    // squashfs-tools, when installed, must agree (apt-get install squashfs-tools).
    match Command::new("unsquashfs")
        .args(["-lln"])
        .arg(&image)
        .stderr(Stdio::inherit())
        .output()
    {
        Ok(out) => {
            assert!(out.status.success(), "unsquashfs failed");
            let listing = String::from_utf8_lossy(&out.stdout);
            assert!(listing.contains("-rwxr-xr-x 0/0"), "{listing}");
            assert!(
                listing.contains("squashfs-root/bin/sh -> busybox"),
                "{listing}"
            );
            assert!(listing.contains("drwxrwxrwt 0/0"), "{listing}");
        }
        Err(e) => testbed::skip_or_fail(&format!(
            "unsquashfs not run ({e}); apt-get install squashfs-tools to cross-check"
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// QEMU

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
    let tree = xtask::kmod::scan(&modules).expect("the kernel's module tree scans");
    let requests: Vec<xtask::kmod::Request> = ["virtio_pci", "virtio_net"]
        .iter()
        .map(|name| xtask::kmod::Request {
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
            let bytes = xtask::kmod::read_module(source).expect("reading the module");
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
