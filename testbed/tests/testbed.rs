//! Tests of the test bed itself: the HTTP server and the root builder (its QEMU runner:
//! qemu_runner.rs).

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

use testbed::{self, Behavior, HttpServer, MachineIdFile, RootSpec, RootTree};

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
