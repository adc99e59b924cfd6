//! Nodes boot squashfs roots pushed to Debian's docker-registry as OCI artifacts
//! (`root=oci:`), by digest, through a pull-through cache as `diskless.mirror=`, and from
//! registries that demand logins (htpasswd's Basic, the token flow) with credentials baked
//! by `--registry-auth`; an index without this platform, a corrupt blob and a missing login
//! are FATAL with nothing mounted, named in the FATAL line. An ordinary container image (two
//! gzip tar layers, the second with whiteouts) boots unpacked into a tmpfs.

mod common;

use std::path::PathBuf;

use common::{BOOTIF, Fixture, MAC, STATIC_IP, assert_fatal, fixture, record};
use testbed::BootLog;
use testbed::oci::{self as layers, Entry, Image};
use testbed::registry::{self, Auth, Published, REPOSITORY, Registry};
use testbed::token::TokenService;
use xtask::image::initrd::{self, Compression, InitrdOptions};
use xtask::image::trust::Trust;

fn boot(fx: &Fixture, label: &str, initrd: Option<&PathBuf>, root: &str) -> BootLog {
    let append = format!("{BOOTIF} {STATIC_IP} root=oci:{root} rd.emergency=poweroff");
    match initrd {
        Some(initrd) => fx.boot_with(label, initrd, &append, &[MAC]),
        None => fx.boot(label, &append, &[MAC]),
    }
}

/// `http://10.0.2.2:<port>/diskless/root<what>`
fn root(registry: &Registry, what: &str) -> String {
    format!("{}/{REPOSITORY}{what}", registry.guest_url())
}

/// Reached the root's init with the image the manifest names.
fn assert_booted(log: &BootLog, published: &Published, from: &Registry) {
    log.assert_contains("ROOT-INIT-REACHED");
    let record = record(log);
    assert_eq!(
        record.image_manifest.as_deref(),
        Some(published.artifact.manifest.digest.as_str()),
        "{record:?}"
    );
    assert_eq!(
        record
            .image_sha256
            .map(|h| format!("sha256:{h}"))
            .as_deref(),
        Some(published.layer_digest()),
    );
    let url = record.image_url.unwrap_or_default();
    assert!(url.starts_with(&from.guest_url()), "{url}");
    assert!(log.contains("sha256 matches (the digest in the verified manifest)"));
    assert!(log.exited_cleanly(), "{}", log.outcome());
}

/// FATAL with these words, and the image never attached to a loop device.
fn assert_fatal_unmounted(log: &BootLog, label: &str, needles: &[&str]) {
    assert_fatal(log, label, needles);
    assert!(
        !log.contains("attached /run/diskless/root.squashfs"),
        "{label}: mounted unverified data"
    );
}

fn publish(fx: &Fixture, name: &str) -> Option<Published> {
    if let Some(tool) = registry::missing_tool() {
        testbed::skip_or_fail(&format!("{tool} is not installed"));
        return None;
    }
    let image = fx.squashfs_root(name, &testbed::RootSpec::default());
    let dir = fx.scratch.join(name);
    Some(
        Published::new(&dir, std::fs::read(image).expect("the root image"))
            .expect("publishing the root"),
    )
}

#[test]
fn an_artifact_boots_through_a_pull_through_cache_and_bad_pulls_are_fatal() {
    let Some(fx) = fixture() else { return };
    let Some(published) = publish(fx, "oci-cache") else {
        return;
    };
    let open = &published.registry;
    let manifest = &published.artifact.manifest.digest;
    let cache = Registry::start(
        &fx.scratch.join("oci-cache"),
        &fx.scratch.join("oci-cache").join("cache-storage"),
        &Auth::None,
        Some(&format!("http://127.0.0.1:{}", open.port)),
    )
    .expect("the pull-through cache");

    // Mirrors first: the cache fetches from the registry and serves the node.
    let log = boot(
        fx,
        "oci-cache",
        None,
        &format!(
            "{} diskless.mirror=oci:{}",
            root(open, &format!("@{manifest}")),
            cache.guest_url()
        ),
    );
    assert_booted(&log, &published, &cache);

    // An index for arm64 only: this amd64 node names both.
    let log = boot(fx, "oci-arm64-only", None, &root(open, ":arm64-only"));
    assert_fatal_unmounted(
        &log,
        "arm64 only",
        &[
            "FATAL fetch: pulling http://10.0.2.2:",
            "no manifest for this node's platform linux/amd64 (it has linux/arm64)",
        ],
    );

    // One byte of the blob flipped in the registry's storage: the layer digest refuses it.
    let data = open.blob_data(published.layer_digest());
    let mut bytes = std::fs::read(&data).expect("the blob");
    bytes[4096] ^= 0x01;
    std::fs::write(&data, bytes).expect("corrupting the blob");
    let log = boot(
        fx,
        "oci-corrupt",
        None,
        &root(open, &format!("@{manifest}")),
    );
    let hex = published.layer_digest().trim_start_matches("sha256:");
    assert_fatal_unmounted(
        &log,
        "corrupt blob",
        &[&format!(
            "expected {hex} (the digest in the verified manifest): not mounting it"
        )],
    );
}

#[test]
fn registries_that_demand_logins_serve_nodes_with_baked_credentials() {
    let Some(fx) = fixture() else { return };
    let Some(published) = publish(fx, "oci-auth") else {
        return;
    };
    let dir = fx.scratch.join("oci-auth");
    let storage = &published.registry.storage;
    let htpasswd = dir.join("htpasswd");
    registry::htpasswd(&htpasswd, "node", "s3cret").expect("htpasswd");
    let basic =
        Registry::start(&dir, storage, &Auth::Htpasswd(htpasswd), None).expect("htpasswd registry");
    let tokens = TokenService::start("diskless-registry").expect("token service");
    tokens.require("puller", "t0ken");
    let cert = dir.join("token.pem");
    std::fs::write(&cert, &tokens.cert_pem).expect("token certificate");
    let bearer = Registry::start(
        &dir,
        storage,
        &Auth::Token {
            realm: tokens.guest_realm(),
            service: tokens.service.clone(),
            issuer: tokens.issuer.clone(),
            cert,
        },
        None,
    )
    .expect("token registry");

    // Without a login the node says which registry wants what, and how to give it.
    let log = boot(fx, "oci-basic-no-login", None, &root(&basic, ":v1"));
    assert_fatal_unmounted(
        &log,
        "no login",
        &[
            "requires a user name and password (Basic) and this initramfs has no credentials",
            "cargo xtask initrd --registry-auth",
        ],
    );

    // One initramfs with both logins, and the manifest pinned: a tag on the command line
    // then fetches the pinned digest.
    let auth_json = serde_json::json!({"auths": {
        format!("http://10.0.2.2:{}", basic.port): {"auth": "bm9kZTpzM2NyZXQ="},
        format!("http://10.0.2.2:{}", bearer.port): {"auth": "cHVsbGVyOnQwa2Vu"},
    }})
    .to_string();
    let init = xtask::build::init_binary().expect("building the musl init");
    let with_logins = fx.scratch.join("oci-logins.initrd");
    let mut options = InitrdOptions::new(init, with_logins.clone());
    options.modules_dir = Some(fx.kernel.modules_dir.clone());
    options.compress = Compression::None;
    let manifest = &published.artifact.manifest.digest;
    let pin = diskless::hex::parse_sha256(manifest.trim_start_matches("sha256:")).expect("hex");
    options.files = Trust {
        pin: Some((pin, None)),
        ..Trust::default()
    }
    .files()
    .expect("pin");
    options.files.push(
        xtask::image::registry_auth::registry_auth_file(auth_json.as_bytes()).expect("logins"),
    );
    initrd::build(&options).expect("building the initrd");

    let log = boot(fx, "oci-basic", Some(&with_logins), &root(&basic, ":v1"));
    assert_booted(&log, &published, &basic);
    assert!(log.contains("Basic authentication with the baked credentials"));
    assert!(
        log.contains(&format!("as {manifest}")),
        "the pin names the manifest"
    );

    let log = boot(
        fx,
        "oci-token",
        Some(&with_logins),
        &root(&bearer, &format!("@{manifest}")),
    );
    assert_booted(&log, &published, &bearer);
    assert!(log.contains("bearer token from http://10.0.2.2:"));
    let asked = tokens.requests();
    assert!(
        asked.iter().any(
            |r| r.status == 200 && r.authorization.as_deref() == Some("Basic cHVsbGVyOnQwa2Vu")
        ),
        "{asked:?}"
    );
}

#[test]
fn an_ordinary_image_boots_from_its_layers_with_whiteouts() {
    let Some(fx) = fixture() else { return };
    if let Some(tool) = registry::missing_tool() {
        testbed::skip_or_fail(&format!("{tool} is not installed"));
        return;
    }
    let dir = fx.scratch.join("oci-layers");
    let tree = dir.join("tree");
    // The checker says what the layers left of /etc/gone and /opq.
    testbed::RootSpec::default()
        .hook(
            "if [ -e /etc/gone ]; then echo ROOT-GONE=present; else echo ROOT-GONE=absent; fi\n\
             echo \"ROOT-OPQ=$(ls /opq | tr '\\n' ' ')\"\n\
             echo \"ROOT-RUN-DISKLESS=$(ls /run/diskless | tr '\\n' ' ')\"\n",
        )
        .build(&tree)
        .expect("the test root");
    std::fs::write(tree.join("etc/gone"), "lower\n").expect("etc/gone");
    std::fs::create_dir_all(tree.join("opq/sub")).expect("opq");
    std::fs::write(tree.join("opq/old"), "lower\n").expect("opq/old");
    let lower = layers::entries_of(&tree).expect("the lower layer");
    let empty = |path: &str| Entry::File {
        path: path.into(),
        mode: 0o644,
        contents: Vec::new(),
    };
    let upper = vec![
        empty("etc/.wh.gone"),
        Entry::Dir {
            path: "opq".into(),
            mode: 0o755,
        },
        empty("opq/.wh..wh..opq"),
        Entry::File {
            path: "opq/new".into(),
            mode: 0o644,
            contents: b"upper\n".to_vec(),
        },
    ];
    // gzip both: skopeo compresses a plain tar layer on its way to a registry, which
    // would change the digests this test names.
    let image = Image {
        layers: vec![
            (lower, layers::Compression::Gzip),
            (upper, layers::Compression::Gzip),
        ],
        cmd: vec!["/sbin/init".into()],
        architecture: "amd64".into(),
        name: format!("{REPOSITORY}:layers"),
    };
    let built = image.build().expect("the image");
    let registry =
        Registry::start(&dir, &dir.join("storage"), &Auth::None, None).expect("the registry");
    let layout = dir.join("layout");
    let _ = std::fs::remove_dir_all(&layout);
    let blobs: Vec<&layers::Blob> = built.layers.iter().chain([&built.config]).collect();
    registry::write_layout(&layout, &blobs, &[("layers", &built.manifest)]).expect("layout");
    registry::skopeo_push(
        &layout,
        "layers",
        &format!("{}/{REPOSITORY}:layers", registry.host_addr()),
        None,
    )
    .expect("pushing the image");

    let manifest = &built.manifest.digest;
    let log = boot(
        fx,
        "oci-layers",
        None,
        &root(&registry, &format!("@{manifest}")),
    );
    log.assert_contains("ROOT-INIT-REACHED");
    assert_eq!(log.value("ROOT-HOSTNAME").as_deref(), Some("worker-64e59a"));
    // The second layer's whiteout deleted the first's file; its opaque marker hid the
    // first's /opq and kept its own.
    assert_eq!(log.value("ROOT-GONE").as_deref(), Some("absent"));
    assert_eq!(log.value("ROOT-OPQ").as_deref().map(str::trim), Some("new"));
    // The image's empty machine-id became the node's.
    assert_eq!(
        log.value("ROOT-MACHINE-ID-FILE").as_deref(),
        Some("present")
    );
    for layer in &built.layers {
        assert!(
            log.contains(&format!("applied layer {}", layer.digest)),
            "{}",
            log.tail(40)
        );
    }
    assert!(log.contains("diff_id sha256:"), "the diff_ids were checked");
    // The blobs were RAM: none is left behind (boot.json is).
    let left = log.value("ROOT-RUN-DISKLESS").unwrap_or_default();
    assert!(left.contains("boot.json"), "{left}");
    assert!(
        !left.contains("layer") && !left.contains("config"),
        "{left}"
    );
    let record = record(&log);
    assert_eq!(
        record.image_manifest.as_deref(),
        Some(manifest.as_str()),
        "{record:?}"
    );
    let described = record.root.clone().unwrap_or_default();
    assert!(described.starts_with("tmpfs of 2 layers"), "{described}");
    assert!(log.exited_cleanly(), "{}", log.outcome());
}
