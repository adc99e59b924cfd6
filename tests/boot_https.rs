//! A node fetches its root image over HTTPS with the trust anchors, client certificate and
//! hash pin baked into its initramfs (`cargo xtask initrd --ca --client-cert --client-key
//! --image-sha256`), in QEMU with the real kernel, from our HTTPS server on 127.0.0.1 (the
//! guest's 10.0.2.2).

mod common;
mod fetch_common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{BOOTIF, Fixture, MAC, STATIC_IP, assert_fatal, block, fixture};
use fetch_common::{Ca, Leaf, server_tls, sha256};
use testbed::{BootLog, HttpServer, MachineIdFile, RootSpec};
use xtask::image::initrd::{self, Compression, InitrdOptions};
use xtask::image::trust::Trust;

/// The standard module set plus `trust`'s files. Uncompressed: these are built per test.
fn initrd_with(fx: &Fixture, name: &str, trust: &Trust) -> PathBuf {
    let init = xtask::build::init_binary().expect("building the musl init");
    let out = fx.scratch.join(format!("{name}.initrd"));
    let mut options = InitrdOptions::new(init, out.clone());
    options.modules_dir = Some(fx.kernel.modules_dir.clone());
    options.compress = Compression::None;
    options.files = trust.files().expect("trust files");
    initrd::build(&options).expect("building the initrd");
    out
}

fn trust(ca: &Ca, client: Option<&Leaf>) -> Trust {
    Trust {
        ca_pem: Some(ca.pem.clone().into_bytes()),
        client: client.map(|c| {
            (
                c.cert_pem.clone().into_bytes(),
                c.key_pem.clone().into_bytes(),
            )
        }),
        pin: None,
        config_key: None,
        verity_pin: None,
    }
}

fn serve(image: &[u8], tls: Option<&testbed::http::ServerTls>) -> HttpServer {
    let files = BTreeMap::from([("root.squashfs".to_owned(), image.to_vec())]);
    match tls {
        Some(tls) => HttpServer::serve_files_tls(files, tls),
        None => HttpServer::serve_files(files),
    }
    .expect("image server")
}

fn boot(fx: &Fixture, label: &str, initrd: &std::path::Path, url: &str, extra: &str) -> BootLog {
    fx.boot_with(
        label,
        initrd,
        &format!("{BOOTIF} {STATIC_IP} root=live:{url} rd.emergency=poweroff {extra}"),
        &[MAC],
    )
}

/// A FATAL line with these words (common::assert_fatal), and no image attached to a loop
/// device: nothing was mounted from what failed.
fn assert_fatal_unmounted(log: &BootLog, label: &str, needles: &[&str]) {
    assert_fatal(log, label, needles);
    assert!(
        !log.contains("attached /run/diskless/root.squashfs"),
        "{label}: mounted unverified data"
    );
}

#[test]
fn https_with_the_initramfs_ca_boots_and_an_untrusted_server_is_fatal() {
    let Some(fx) = fixture() else { return };
    let image = std::fs::read(fx.squashfs_root("https", &RootSpec::default())).expect("image");
    let ca = Ca::new("diskless test CA");
    let initrd = initrd_with(fx, "https-ca", &trust(&ca, None));

    let good = serve(&image, Some(&server_tls(&ca.server(&["10.0.2.2"]), None)));
    let url = good.url_for("root.squashfs");
    assert!(url.starts_with("https://10.0.2.2:"), "{url}");
    let log = boot(fx, "https-ok", &initrd, &url, "");
    log.assert_contains("ROOT-INIT-REACHED");
    assert_eq!(common::record(&log).image_url, Some(url));
    let dmesg = block(&log, "ROOT-DMESG: ").join("\n");
    assert!(
        dmesg.contains("https: servers must chain to /etc/diskless/ca.pem"),
        "{dmesg}"
    );
    assert!(
        dmesg.contains("no pinned hash and no diskless.sha256"),
        "an unverified image must be said plainly: {dmesg}"
    );

    let stranger = Ca::new("someone else's CA");
    let bad = serve(
        &image,
        Some(&server_tls(&stranger.server(&["10.0.2.2"]), None)),
    );
    let url = bad.url_for("root.squashfs");
    let log = boot(fx, "https-untrusted", &initrd, &url, "rd.retry=20");
    assert_fatal_unmounted(
        &log,
        "untrusted",
        &[
            &format!("diskless: FATAL fetch: fetching {url}: TLS: the server's certificate"),
            "(unknown issuer)",
        ],
    );
}

#[test]
fn a_server_requiring_client_certificates_boots_only_the_node_with_the_right_one() {
    let Some(fx) = fixture() else { return };
    // The key must not outlive the initramfs: nothing in the real root may hold a copy.
    let spec = RootSpec::default().hook(
        "echo \"ROOT-KEY-COPIES=$(find / -path /proc -prune -o -path /sys -prune -o \
         -name client.key -print 2>/dev/null | wc -l)\"\n\
         echo \"ROOT-DISKLESS-ETC=$(ls /etc/diskless 2>/dev/null | wc -l)\"\n\
         echo \"ROOT-MOTD=$(cat /etc/motd 2>/dev/null)\"",
    );
    let image = std::fs::read(fx.squashfs_root("mtls", &spec)).expect("image");
    let server_ca = Ca::new("image server CA");
    let node_ca = Ca::new("node CA");
    let server = serve(
        &image,
        Some(&server_tls(
            &server_ca.server(&["10.0.2.2"]),
            Some(&node_ca),
        )),
    );
    let url = server.url_for("root.squashfs");
    let sha = fetch_common::hex(&sha256(&image));
    // A configuration archive comes through the same client: CA bundle and client certificate.
    server.add_file(
        "nodes/525400123456.tar.gz",
        testbed::archive::Tar::new()
            .file("etc/motd", b"over mutual TLS\n", 0o644)
            .gzip(),
    );

    let node = node_ca.client("worker-64e59a");
    let initrd = initrd_with(fx, "mtls-right", &trust(&server_ca, Some(&node)));
    let log = boot(
        fx,
        "mtls-right",
        &initrd,
        &url,
        &format!(
            "diskless.sha256={sha} diskless.config={}",
            server.url_for("nodes/{mac}.tar.gz")
        ),
    );
    log.assert_contains("ROOT-INIT-REACHED");
    assert_eq!(log.value("ROOT-MOTD").as_deref(), Some("over mutual TLS"));
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/nodes/525400123456.tar.gz") && r.client_cert),
        "{:?}",
        server.requests()
    );
    assert_eq!(
        log.value("ROOT-KEY-COPIES").as_deref(),
        Some("0"),
        "{}",
        log.tail(20)
    );
    assert_eq!(log.value("ROOT-DISKLESS-ETC").as_deref(), Some("0"));
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.client_cert),
        "{:?}",
        server.requests()
    );

    let initrd = initrd_with(fx, "mtls-none", &trust(&server_ca, None));
    let log = boot(fx, "mtls-none", &initrd, &url, "rd.retry=20");
    assert_fatal_unmounted(
        &log,
        "no client certificate",
        &["diskless: FATAL fetch:", "requires a client certificate"],
    );

    let impostor = Ca::new("stranger CA").client("worker-64e59a");
    let initrd = initrd_with(fx, "mtls-wrong", &trust(&server_ca, Some(&impostor)));
    let log = boot(fx, "mtls-wrong", &initrd, &url, "rd.retry=20");
    assert_fatal_unmounted(
        &log,
        "wrong client certificate",
        &[
            "diskless: FATAL fetch:",
            "refused this node's client certificate",
        ],
    );
}

#[test]
fn a_pin_in_the_initramfs_overrides_the_command_line() {
    let Some(fx) = fixture() else { return };
    let good = std::fs::read(fx.squashfs_root("pinned", &RootSpec::default())).expect("image");
    let evil = std::fs::read(fx.squashfs_root(
        "not-pinned",
        &RootSpec::default().machine_id(MachineIdFile::Uninitialized),
    ))
    .expect("image");
    let (good_sha, evil_sha) = (sha256(&good), sha256(&evil));
    assert_ne!(good_sha, evil_sha);
    let server = HttpServer::serve_files(BTreeMap::from([
        ("good.squashfs".to_owned(), good),
        ("evil.squashfs".to_owned(), evil),
    ]))
    .expect("server");
    let pinned = Trust {
        pin: Some((good_sha, Some("good.squashfs".to_owned()))),
        ..Trust::default()
    };
    let initrd = initrd_with(fx, "pinned", &pinned);
    let (good_hex, evil_hex) = (fetch_common::hex(&good_sha), fetch_common::hex(&evil_sha));

    // A wrong diskless.sha256 cannot stop the pinned image: the pin wins, with a warning.
    let log = boot(
        fx,
        "pin-wins",
        &initrd,
        &server.url_for("good.squashfs"),
        &format!("diskless.sha256={evil_hex}"),
    );
    log.assert_contains("ROOT-INIT-REACHED");
    let dmesg = block(&log, "ROOT-DMESG: ").join("\n");
    assert!(
        dmesg.contains("differs from the sha256 pinned in the initramfs"),
        "{dmesg}"
    );
    assert!(
        dmesg.contains("sha256 matches (pinned in the initramfs)"),
        "{dmesg}"
    );
    assert!(
        !dmesg.contains("INSECURE"),
        "a pinned image over HTTP is safe: {dmesg}"
    );

    // Another image with its own hash on the command line does not boot.
    let url = server.url_for("evil.squashfs");
    let log = boot(
        fx,
        "pin-refuses",
        &initrd,
        &url,
        &format!("diskless.sha256={evil_hex}"),
    );
    assert_fatal_unmounted(
        &log,
        "swapped image",
        &[
            &format!(
                "diskless: FATAL fetch: image {url} has sha256 {evil_hex}, expected {good_hex}"
            ),
            "(pinned in the initramfs: /etc/diskless/image.sha256): not mounting it",
        ],
    );
}
