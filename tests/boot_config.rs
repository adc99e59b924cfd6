//! Configuration archives over the root (`diskless.config=`, Alpine's `apkovl=`): a node
//! boots the real kernel in QEMU from a squashfs over HTTP on 127.0.0.1 and lays a
//! cluster-wide and a per-node archive over it; another MAC gets its own through Alpine's
//! `{MAC}` URL; with a minisign key baked into the initramfs a good signature applies and a
//! tampered archive or a missing signature stops the boot with nothing applied; an archive
//! that reaches outside the root (`../etc/x`, a file through its own link) stops it too,
//! naming the entry, and so does one with a long name over its bound. Absolute paths,
//! devices and the image's own links are refused by the same code, tested on a real
//! directory in `src/archive/tests.rs`, with the hostile archives that would take PID 1's
//! memory.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Fixture, STATIC_IP, assert_fatal, fixture, record};
use testbed::archive::Tar;
use testbed::{BootLog, HttpServer, Qemu, RootSpec};
use xtask::image::initrd::{self, Compression, InitrdOptions};
use xtask::image::trust::Trust;

const MAC1: &str = "52:54:00:12:34:56";
const MAC2: &str = "52:54:00:ab:cd:ef";
/// The second node's DMI product_uuid (QEMU's `-uuid`), as firmware gives it: uppercase.
const UUID: &str = "4C4C4544-0042-3510-8054-B2C04F4E3432";

/// What the root shows of the archives' files.
const HOOK: &str = r#"echo "ROOT-MOTD=$(cat /etc/motd 2>/dev/null)"
echo "ROOT-ROLE=$(cat /etc/role 2>/dev/null)"
echo "ROOT-LOCALTIME=$(readlink /etc/localtime 2>/dev/null)"
echo "ROOT-SECRET=$(stat -c %a:%u:%Y /etc/node.secret 2>/dev/null)"
echo "ROOT-UUID-CONF=$(cat /etc/uuid.conf 2>/dev/null)"
"#;

fn bootif(mac: &str) -> String {
    format!("BOOTIF=01-{}", mac.replace(':', "-"))
}

fn cluster() -> Tar {
    Tar::new()
        .dir("etc/")
        .file("etc/motd", b"cluster\n", 0o644)
        .file("etc/role", b"worker\n", 0o644)
}

fn node(mac: &str) -> Tar {
    Tar::new()
        .file("./etc/motd", format!("node {mac}\n").as_bytes(), 0o644)
        .file("./etc/node.secret", b"s3cret\n", 0o600)
        .symlink("./etc/localtime", "/usr/share/zoneinfo/UTC")
}

fn zstd(tar: Tar) -> Vec<u8> {
    zstd::encode_all(tar.finish().as_slice(), 3).expect("compressing with zstd")
}

/// The checker root with [`HOOK`], built once for the tests running side by side.
fn root(fx: &Fixture) -> Vec<u8> {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let image = fx.squashfs_root("config", &RootSpec::default().hook(HOOK));
            std::fs::read(image).expect("reading the image")
        })
        .clone()
}

fn cmdline(server: &HttpServer, mac: &str, archives: &str) -> String {
    format!(
        "{} {STATIC_IP} root=live:{} rd.emergency=poweroff {archives}",
        bootif(mac),
        server.url_for("root.squashfs")
    )
}

/// The archives the node applied, as the init logged them.
fn applied(log: &BootLog) -> Vec<String> {
    log.prefixed("diskless: applied ")
        .iter()
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn cluster_and_per_node_archives_layer_in_order_and_each_mac_gets_its_own() {
    let Some(fx) = fixture() else { return };
    let hex1 = MAC1.replace(':', "");
    let files = BTreeMap::from([
        ("root.squashfs".to_owned(), root(fx)),
        ("cluster.tar.gz".to_owned(), cluster().gzip()),
        (format!("nodes/{hex1}.tar.zst"), zstd(node(MAC1))),
        (format!("alpine/{MAC2}.tar.gz"), node(MAC2).gzip()),
        (
            format!("by-uuid/{}.tar", UUID.to_ascii_lowercase()),
            Tar::new()
                .file("etc/uuid.conf", b"from DMI\n", 0o644)
                .finish(),
        ),
    ]);
    let server = HttpServer::serve_files(files).expect("http server");

    // Cluster-wide, then the node's own by {mac}, then an optional one that is not there.
    let archives = format!(
        "diskless.config={} diskless.config={} diskless.config=?{}",
        server.url_for("cluster.tar.gz"),
        server.url_for("nodes/{mac}.tar.zst"),
        server.url_for("nodes/{mac}.extra.tar"),
    );
    let log = fx.boot("config-mac1", &cmdline(&server, MAC1, &archives), &[MAC1]);
    log.assert_contains("ROOT-INIT-REACHED");
    assert_eq!(
        log.value("ROOT-MOTD").as_deref(),
        Some(format!("node {MAC1}").as_str())
    );
    assert_eq!(log.value("ROOT-ROLE").as_deref(), Some("worker"));
    assert_eq!(
        log.value("ROOT-LOCALTIME").as_deref(),
        Some("/usr/share/zoneinfo/UTC")
    );
    // Mode, owner and time as the archive has them.
    assert_eq!(
        log.value("ROOT-SECRET").as_deref(),
        Some("600:0:1700000000")
    );
    log.assert_contains(&format!(
        "nodes/{hex1}.extra.tar: not found, and optional (?): skipped"
    ));
    // The identity files merge over what the archives laid.
    assert_eq!(log.value("ROOT-HOSTNAME").as_deref(), Some("worker-64e59a"));
    let rec = record(&log);
    let urls: Vec<&str> = rec.archives.iter().map(|a| a.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            server.url_for("cluster.tar.gz"),
            server.url_for(&format!("nodes/{hex1}.tar.zst"))
        ]
    );
    let cluster_sha = diskless::hex::encode(&sha2_of(&cluster().gzip()));
    assert_eq!(rec.archives[0].sha256, cluster_sha);
    assert!(rec.archives.iter().all(|a| a.signer.is_none()));
    log.assert_contains("INSECURE: http://10.0.2.2");

    // Another MAC, Alpine's syntax: its own archive by {MAC}, over the same cluster one;
    // and one chosen by the machine's DMI product_uuid (QEMU's -uuid).
    let archives = format!(
        "diskless.config={} apkovl={} diskless.config={}",
        server.url_for("cluster.tar.gz"),
        server.url_for("alpine/{MAC}.tar.gz"),
        server.url_for("by-uuid/{uuid}.tar"),
    );
    let qemu = Qemu::new(&fx.kernel.vmlinuz, &fx.initrd)
        .name("config-mac2")
        .append(&cmdline(&server, MAC2, &archives))
        .arg("-uuid")
        .arg(UUID);
    let log = fx.boot_qemu(qemu, &[MAC2]);
    log.assert_contains("ROOT-INIT-REACHED");
    assert_eq!(
        log.value("ROOT-MOTD").as_deref(),
        Some(format!("node {MAC2}").as_str())
    );
    assert_eq!(log.value("ROOT-ROLE").as_deref(), Some("worker"));
    assert_eq!(log.value("ROOT-UUID-CONF").as_deref(), Some("from DMI"));
    assert_eq!(record(&log).archives.len(), 3);
}

fn sha2_of(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

#[test]
fn an_archive_reaching_outside_the_root_stops_the_boot_naming_the_entry() {
    let Some(fx) = fixture() else { return };
    let evil = Tar::new().file("../etc/x", b"evil\n", 0o644).gzip();
    let files = BTreeMap::from([
        ("root.squashfs".to_owned(), root(fx)),
        ("cluster.tar.gz".to_owned(), cluster().gzip()),
        ("evil.tar.gz".to_owned(), evil),
    ]);
    let server = HttpServer::serve_files(files).expect("http server");
    let archives = format!(
        "diskless.config={} diskless.config={}",
        server.url_for("cluster.tar.gz"),
        server.url_for("evil.tar.gz"),
    );
    let log = fx.boot("config-escape", &cmdline(&server, MAC1, &archives), &[MAC1]);
    assert_fatal(
        &log,
        "../etc/x",
        &[&format!(
            "FATAL config-archives: diskless.config={}: entry \"../etc/x\" is a '..' component: it would \
             land outside the new root: not applying it",
            server.url_for("evil.tar.gz")
        )],
    );
    // Every archive is checked before any is written: not even the good one went on.
    assert_eq!(applied(&log), Vec::<String>::new());

    // A link of the archive's own, then a file through it: the policy admits both (links
    // may point anywhere), the writer refuses to follow the link.
    let through_link = Tar::new()
        .symlink("etc/evil", "/")
        .file("etc/evil/root/x", b"evil\n", 0o644)
        .gzip();
    server.add_file("link.tar.gz", through_link);
    let archives = format!("diskless.config={}", server.url_for("link.tar.gz"));
    let log = fx.boot("config-link", &cmdline(&server, MAC1, &archives), &[MAC1]);
    assert_fatal(
        &log,
        "through a link",
        &[&format!(
            "FATAL config-archives: diskless.config={}: entry \"etc/evil/root/x\": etc/evil: is a \
             symbolic link in the new root: nothing is written through symbolic links",
            server.url_for("link.tar.gz")
        )],
    );

    // A long name of 1 MiB: refused on its header's size, before PID 1 reads it.
    let bomb = Tar::new()
        .long_name(&vec![b'a'; 1 << 20])
        .file("x", b"x\n", 0o644)
        .gzip();
    server.add_file("bomb.tar.gz", bomb);
    let archives = format!("apkovl={}", server.url_for("bomb.tar.gz"));
    let log = fx.boot("config-bomb", &cmdline(&server, MAC1, &archives), &[MAC1]);
    assert_fatal(
        &log,
        "a long name over its bound",
        &[&format!(
            "FATAL config-archives: apkovl={}: entry \"{}…\" is a GNU long name of 1048577 \
             bytes, over the bound of 4097: not applying it",
            server.url_for("bomb.tar.gz"),
            "a".repeat(64)
        )],
    );
}

/// A minisign key pair made with the real tool (no password), or `None` when it is missing.
fn minisign_key(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let (public, secret) = (dir.join("config.pub"), dir.join("config.key"));
    let _ = std::fs::remove_file(&public);
    let _ = std::fs::remove_file(&secret);
    let made = Command::new("minisign")
        .args(["-G", "-W", "-p"])
        .arg(&public)
        .arg("-s")
        .arg(&secret)
        .output();
    match made {
        Ok(out) if out.status.success() => Some((public, secret)),
        Ok(out) => panic!("minisign -G: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => {
            testbed::skip_or_fail(&format!(
                "minisign is not installed ({e}): apt-get install minisign"
            ));
            None
        }
    }
}

/// `minisign -S` over `data`: the `.minisig` text.
fn sign(secret: &Path, dir: &Path, name: &str, data: &[u8]) -> Vec<u8> {
    let file = dir.join(name);
    std::fs::write(&file, data).expect("writing the archive to sign");
    let out = Command::new("minisign")
        .arg("-S")
        .arg("-s")
        .arg(secret)
        .arg("-m")
        .arg(&file)
        .args(["-t", &format!("file:{name} expires:2099-12-31")])
        .output()
        .expect("running minisign -S");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dir.join(format!("{name}.minisig"))).expect("reading the signature")
}

#[test]
fn with_a_baked_key_only_signed_archives_apply() {
    let Some(fx) = fixture() else { return };
    let dir = fx.scratch.join("minisign");
    std::fs::create_dir_all(&dir).expect("creating the key directory");
    let Some((public, secret)) = minisign_key(&dir) else {
        return;
    };
    let trust = Trust {
        config_key: Some(std::fs::read(&public).expect("reading the public key")),
        ..Trust::default()
    };
    let init = xtask::build::init_binary().expect("building the musl init");
    let initrd_path = fx.scratch.join("config-key.initrd");
    let mut options = InitrdOptions::new(init, initrd_path.clone());
    options.modules_dir = Some(fx.kernel.modules_dir.clone());
    options.compress = Compression::None;
    options.files = trust.files().expect("trust files");
    initrd::build(&options).expect("building the initrd");

    let good = cluster().gzip();
    let good_sig = sign(&secret, &dir, "cluster.tar.gz", &good);
    let mut tampered = node(MAC1).finish();
    let tampered_sig = sign(&secret, &dir, "node.tar", &tampered);
    // One byte of a file's contents changed after signing.
    let at = tampered
        .windows(5)
        .position(|w| w == b"node ")
        .expect("the motd's contents");
    tampered[at] = b'N';
    let files = BTreeMap::from([
        ("root.squashfs".to_owned(), root(fx)),
        ("cluster.tar.gz".to_owned(), good.clone()),
        ("cluster.tar.gz.minisig".to_owned(), good_sig.clone()),
        ("node.tar".to_owned(), tampered),
        ("node.tar.minisig".to_owned(), tampered_sig),
        ("unsigned.tar.gz".to_owned(), node(MAC1).gzip()),
        // The cluster's archive and its good signature, served as another node's.
        ("other-node.tar.gz".to_owned(), good.clone()),
        ("other-node.tar.gz.minisig".to_owned(), good_sig.clone()),
    ]);
    let server = HttpServer::serve_files(files).expect("http server");
    let url = |name: &str| server.url_for(name);

    let log = fx.boot_with(
        "config-signed",
        &initrd_path,
        &cmdline(
            &server,
            MAC1,
            &format!("diskless.config={}", url("cluster.tar.gz")),
        ),
        &[MAC1],
    );
    log.assert_contains("ROOT-INIT-REACHED");
    assert_eq!(log.value("ROOT-ROLE").as_deref(), Some("worker"));
    let rec = record(&log);
    let signer = rec.archives[0].signer.clone().unwrap_or_default();
    assert!(
        signer.starts_with("minisign public key ")
            && signer.ends_with("(file:cluster.tar.gz expires:2099-12-31)"),
        "{signer}"
    );
    assert!(!log.contains("INSECURE: http://10.0.2.2"));

    // A good archive first, then a tampered one: nothing is applied.
    let both = format!(
        "diskless.config={} diskless.config={}",
        url("cluster.tar.gz"),
        url("node.tar")
    );
    let log = fx.boot_with(
        "config-tampered",
        &initrd_path,
        &cmdline(&server, MAC1, &both),
        &[MAC1],
    );
    assert_fatal(
        &log,
        "tampered",
        &[&format!(
            "FATAL config-archives: diskless.config={}: {}.minisig: the signature does not match the archive",
            url("node.tar"),
            url("node.tar")
        )],
    );
    assert_eq!(applied(&log), Vec::<String>::new());

    // A good signature, over another file than the URL names.
    let log = fx.boot_with(
        "config-moved",
        &initrd_path,
        &cmdline(
            &server,
            MAC1,
            &format!("diskless.config={}", url("other-node.tar.gz")),
        ),
        &[MAC1],
    );
    assert_fatal(
        &log,
        "moved",
        &[&format!(
            "FATAL config-archives: diskless.config={}: {}.minisig: the signature is for \"cluster.tar.gz\"",
            url("other-node.tar.gz"),
            url("other-node.tar.gz")
        )],
    );
    assert_eq!(applied(&log), Vec::<String>::new());

    // No signature at all.
    let log = fx.boot_with(
        "config-unsigned",
        &initrd_path,
        &cmdline(&server, MAC1, &format!("apkovl={}", url("unsigned.tar.gz"))),
        &[MAC1],
    );
    assert_fatal(
        &log,
        "unsigned",
        &[&format!(
            "FATAL config-archives: apkovl={}: no signature at {}.minisig: the initramfs has a key",
            url("unsigned.tar.gz"),
            url("unsigned.tar.gz")
        )],
    );
    assert_eq!(applied(&log), Vec::<String>::new());
}
