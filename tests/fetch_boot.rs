//! The fetch in a real boot (QEMU, the Debian kernel) against a misbehaving server on
//! 127.0.0.1: refusals, a cut transfer (resumed with Range), wrong bytes (fatal, nothing
//! mounted), and a dead first source with a good mirror.

mod common;
mod fetch_common;

use std::collections::BTreeMap;

use common::{BOOTIF, MAC, STATIC_IP, assert_fatal, block, fixture};
use fetch_common::{hex, sha256};
use testbed::{Behavior, BootLog, HttpServer, RootSpec};

fn serve(image: &[u8]) -> HttpServer {
    HttpServer::serve_files(BTreeMap::from([(
        "root.squashfs".to_owned(),
        image.to_vec(),
    )]))
    .expect("image server")
}

fn cmdline(url: &str, extra: &str) -> String {
    format!("{BOOTIF} {STATIC_IP} root=live:{url} rd.emergency=poweroff {extra}")
}

fn dmesg(log: &BootLog) -> String {
    block(log, "ROOT-DMESG: ").join("\n")
}

#[test]
fn refusals_then_a_cut_transfer_still_boot_and_the_cut_is_resumed() {
    let Some(fx) = fixture() else { return };
    let image = std::fs::read(fx.squashfs_root("resilient", &RootSpec::default())).expect("image");
    let sha = hex(&sha256(&image));

    // A server that is restarting: the first connections are closed unanswered.
    let server = serve(&image);
    server.set_behavior(Behavior::RefuseFirst(3));
    let log = fx.boot(
        "fetch-refused",
        &cmdline(
            &server.url_for("root.squashfs"),
            &format!("diskless.sha256={sha}"),
        ),
        &[MAC],
    );
    log.assert_contains("ROOT-INIT-REACHED");
    let text = dmesg(&log);
    assert!(text.contains("retrying in"), "{text}");
    assert!(text.contains("sha256 matches (diskless.sha256)"), "{text}");
    assert!(
        text.contains("INSECURE: fetching over plain HTTP"),
        "plain HTTP without a pin must be loud: {text}"
    );
    let refused = server
        .requests()
        .iter()
        .filter(|r| r.misbehaved.is_some())
        .count();
    assert_eq!(refused, 3, "{:?}", server.requests());

    // A transfer cut half way continues where it stopped, and the hash still matches.
    let server = serve(&image);
    let half = image.len() as u64 / 2;
    server.set_behavior_for("root.squashfs", Behavior::CutAfter(half));
    let log = fx.boot(
        "fetch-cut",
        &cmdline(
            &server.url_for("root.squashfs"),
            &format!("diskless.sha256={sha}"),
        ),
        &[MAC],
    );
    log.assert_contains("ROOT-INIT-REACHED");
    let gets: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].bytes_sent, half);
    assert_eq!(
        gets[1].range.as_deref(),
        Some(format!("bytes={half}-").as_str())
    );
    assert_eq!(gets[1].status, Some(206));
    let text = dmesg(&log);
    assert!(
        text.contains(&format!("resuming from byte {half}")),
        "{text}"
    );
    assert!(text.contains("(2 attempts, resumed once)"), "{text}");
    assert!(text.contains("sha256 matches"), "{text}");
    assert!(log.exited_cleanly(), "{}", log.outcome());
}

#[test]
fn wrong_bytes_are_fatal_and_a_dead_source_falls_over_to_the_mirror() {
    let Some(fx) = fixture() else { return };
    let image = std::fs::read(fx.squashfs_root("mirrored", &RootSpec::default())).expect("image");
    let sha = hex(&sha256(&image));

    // One flipped byte, headers all correct: the hash catches it and nothing is mounted.
    let server = serve(&image);
    server.set_behavior(Behavior::CorruptByte(image.len() as u64 / 3));
    let url = server.url_for("root.squashfs");
    let log = fx.boot(
        "fetch-corrupt",
        &cmdline(&url, &format!("diskless.sha256={sha}")),
        &[MAC],
    );
    let mut bad = image.clone();
    let at = image.len() / 3;
    bad[at] = !bad[at];
    let mismatch = format!(
        "has sha256 {}, expected {sha} (diskless.sha256): not mounting it",
        hex(&sha256(&bad))
    );
    assert_fatal(
        &log,
        "corrupt",
        &["diskless: FATAL fetch: image", &mismatch],
    );
    assert!(
        !log.contains("attached /run/diskless/root.squashfs"),
        "mounted bad data"
    );
    assert!(log.exited_cleanly(), "{}", log.outcome());

    // root= names a server that is gone; the mirror serves.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dead = format!("http://10.0.2.2:{dead_port}/root.squashfs");
    let mirror = serve(&image);
    let good = mirror.url_for("root.squashfs");
    let log = fx.boot(
        "fetch-mirror",
        &cmdline(
            &dead,
            &format!("diskless.mirror={good} diskless.sha256={sha}"),
        ),
        &[MAC],
    );
    log.assert_contains("ROOT-INIT-REACHED");
    assert_eq!(
        common::record(&log).image_url.as_deref(),
        Some(good.as_str())
    );
    let text = dmesg(&log);
    assert!(text.contains(&format!("fetching {dead}: ")), "{text}");
    assert!(text.contains(&format!("trying {good}")), "{text}");
    assert!(log.exited_cleanly(), "{}", log.outcome());
}
