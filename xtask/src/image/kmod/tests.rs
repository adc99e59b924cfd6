use super::*;

fn meta(name: &str, depends: &[&str]) -> ModuleMeta {
    ModuleMeta {
        name: name.to_owned(),
        path: format!("kernel/{name}.ko"),
        depends: depends.iter().map(|d| (*d).to_owned()).collect(),
        ..ModuleMeta::default()
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// virtio_net's real shape in Debian's cloud kernel, plus a builtin and a softdep.
fn index() -> Index {
    let mut libcrc = meta("libcrc32c", &[]);
    libcrc.softdep_pre = names(&["crc32c"]);
    let mut crc_generic = meta("crc32c_generic", &[]);
    crc_generic.aliases = names(&["crc32c", "crypto-crc32c"]);
    let mut overlay = meta("overlay", &[]);
    overlay.aliases = names(&["fs-overlay"]);
    Index::new(
        vec![
            meta("virtio_ring", &[]),
            meta("virtio", &["virtio_ring"]),
            meta("failover", &[]),
            meta("net_failover", &["failover"]),
            meta("virtio_net", &["virtio_ring", "virtio", "net_failover"]),
            meta(
                "virtio_pci",
                &[
                    "virtio_pci_modern_dev",
                    "virtio_pci_legacy_dev",
                    "virtio",
                    "virtio_ring",
                ],
            ),
            meta("virtio_pci_modern_dev", &[]),
            meta("virtio_pci_legacy_dev", &[]),
            meta("needs_ghost", &["ghost"]),
            meta("uses_builtin", &["af_packet"]),
            libcrc,
            crc_generic,
            overlay,
        ],
        ["af_packet".to_owned()].into(),
    )
}

fn req(name: &str, required: bool) -> Request {
    Request {
        name: name.to_owned(),
        required,
    }
}

#[test]
fn modinfo_fields_are_read_and_name_wins_over_the_file_name() {
    let section =
        b"license=GPL\0depends=virtio_ring,virtio,net-failover\0alias=virtio:d00000001v*\0\
        alias=net-pf-99\0softdep=pre: a b post: c\0softdep=pre: d\0name=virtio_net\0vermagic=6.1\0";
    let m = parse_modinfo(section, "kernel/drivers/net/virtio-net-renamed.ko.zst");
    assert_eq!(m.name, "virtio_net");
    assert_eq!(m.path, "kernel/drivers/net/virtio-net-renamed.ko");
    assert_eq!(m.depends, names(&["virtio_ring", "virtio", "net_failover"]));
    assert_eq!(m.aliases, names(&["virtio:d00000001v*", "net-pf-99"]));
    assert_eq!(
        (m.softdep_pre, m.softdep_post),
        (names(&["a", "b", "d"]), names(&["c"]))
    );
}

#[test]
fn without_name_field_the_file_name_is_normalised() {
    let table = [
        ("kernel/a/foo-bar.ko", "foo_bar", "kernel/a/foo-bar.ko"),
        ("kernel/a/foo.ko.xz", "foo", "kernel/a/foo.ko"),
        ("kernel/a/foo.ko.gz", "foo", "kernel/a/foo.ko"),
        ("updates/foo.ko", "foo", "updates/foo.ko"),
    ];
    for (rel, name, path) in table {
        let m = parse_modinfo(b"depends=\0", rel);
        assert_eq!(
            (m.name.as_str(), m.path.as_str(), m.depends.len()),
            (name, path, 0),
            "{rel}"
        );
    }
}

#[test]
fn softdep_syntax() {
    let table: &[(&str, &[&str], &[&str])] = &[
        ("pre: crc32c", &["crc32c"], &[]),
        (
            "post: vfio_iommu_type1 vfio_iommu_spapr_tce",
            &[],
            &["vfio_iommu_type1", "vfio_iommu_spapr_tce"],
        ),
        ("pre: a b post: c pre: d", &["a", "b", "d"], &["c"]),
        ("gcm", &[], &[]), // no pre:/post:, as cifs declares it; kmod ignores it
        ("", &[], &[]),
    ];
    for (value, pre, post) in table {
        let (mut p, mut q) = (Vec::new(), Vec::new());
        parse_softdep(value, &mut p, &mut q);
        assert_eq!((p, q), (names(pre), names(post)), "{value}");
    }
}

#[test]
fn closure_is_transitive_and_dependencies_load_first() {
    let r = index()
        .resolve(&[req("virtio_net", true)])
        .expect("resolves");
    let mut set = r.load_order.clone();
    set.sort();
    assert_eq!(
        set,
        names(&[
            "failover",
            "net_failover",
            "virtio",
            "virtio_net",
            "virtio_ring"
        ])
    );
    assert_loadable(&index(), &r.load_order);
}

fn assert_loadable(index: &Index, order: &[String]) {
    for (i, name) in order.iter().enumerate() {
        for dep in &index.modules[name].depends {
            if index.modules.contains_key(dep) {
                assert!(
                    order[..i].contains(dep),
                    "{dep} must load before {name} in {order:?}"
                );
            }
        }
    }
}

#[test]
fn requests_resolve_by_kind() {
    /// (requests, Ok((packed, builtin, missing)) or the error)
    type Names = &'static [&'static str];
    type Case = (
        &'static [(&'static str, bool)],
        Result<(Names, Names, Names), KmodError>,
    );
    let table: &[Case] = &[
        // builtin: satisfied, not packed
        (&[("af_packet", false)], Ok((&[], &["af_packet"], &[]))),
        (&[("af_packet", true)], Ok((&[], &["af_packet"], &[]))),
        // a default-set name the kernel lacks: skipped
        (&[("e1000e", false)], Ok((&[], &[], &["e1000e"]))),
        // the user's name the kernel lacks: error
        (
            &[("e1000e", true)],
            Err(KmodError::NotFound {
                name: "e1000e".into(),
            }),
        ),
        // dashes are underscores
        (
            &[("net-failover", true)],
            Ok((&["failover", "net_failover"], &[], &[])),
        ),
        // an exact alias
        (&[("fs-overlay", true)], Ok((&["overlay"], &[], &[]))),
        // a builtin dependency is fine, a missing one is an error naming both
        (&[("uses_builtin", true)], Ok((&["uses_builtin"], &[], &[]))),
        (
            &[("needs_ghost", false)],
            Err(KmodError::MissingDependency {
                module: "needs_ghost".into(),
                dependency: "ghost".into(),
            }),
        ),
        // softdeps come along, through aliases, when the tree has them
        (
            &[("libcrc32c", true)],
            Ok((&["crc32c_generic", "libcrc32c"], &[], &[])),
        ),
    ];
    for (requests, want) in table {
        let requests: Vec<Request> = requests.iter().map(|(n, r)| req(n, *r)).collect();
        let got = index().resolve(&requests).map(|r| {
            let mut packed = r.load_order;
            packed.sort();
            (packed, r.builtin, r.missing)
        });
        let want = want.clone().map(|(p, b, m)| (names(p), names(b), names(m)));
        assert_eq!(got, want, "{requests:?}");
    }
}

#[test]
fn modules_dep_lists_all_transitive_deps_in_depmod_order() {
    let index = index();
    let r = index
        .resolve(&[req("virtio_net", true), req("virtio_pci", true)])
        .expect("resolves");
    let dep = index.modules_dep(&r.load_order);
    let line = dep
        .lines()
        .find(|l| l.starts_with("kernel/virtio_net.ko:"))
        .expect("line");
    let listed: Vec<&str> = line
        .split_once(": ")
        .expect("has deps")
        .1
        .split(' ')
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "kernel/failover.ko",
            "kernel/net_failover.ko",
            "kernel/virtio.ko",
            "kernel/virtio_ring.ko"
        ]
    );
    // Load from last to first, then the module: every dependency is already there.
    for line in dep.lines() {
        let (module, deps) = line.split_once(':').expect("colon");
        let mut order: Vec<String> = deps.split_whitespace().rev().map(name_of).collect();
        order.push(name_of(module));
        assert_loadable(&index, &order);
    }
    assert!(
        dep.contains("kernel/failover.ko:\n"),
        "a module without deps has an empty list:\n{dep}"
    );
    let mut lines: Vec<&str> = dep.lines().collect();
    lines.sort();
    assert_eq!(lines, dep.lines().collect::<Vec<_>>(), "sorted");
}

fn name_of(path: &str) -> String {
    path.trim_start_matches("kernel/")
        .trim_end_matches(".ko")
        .to_owned()
}

#[test]
fn alias_and_softdep_files_cover_packed_modules_only() {
    let index = index();
    let packed = names(&["crc32c_generic", "libcrc32c"]);
    assert_eq!(
        index.modules_alias(&packed),
        "alias crc32c crc32c_generic\nalias crypto-crc32c crc32c_generic\n"
    );
    assert_eq!(
        index.modules_softdep(&packed),
        "softdep libcrc32c pre: crc32c\n"
    );
    assert_eq!(index.modules_softdep(&names(&["virtio"])), "");
}

#[test]
fn cycles_are_reported_not_looped_on() {
    let index = Index::new(vec![meta("a", &["b"]), meta("b", &["a"])], BTreeSet::new());
    let err = index.resolve(&[req("a", true)]).expect_err("cycle");
    assert!(matches!(err, KmodError::Cycle { .. }), "{err}");
}

#[test]
fn duplicate_names_prefer_updates() {
    let mut old = meta("foo", &[]);
    old.path = "kernel/foo.ko".into();
    let mut new = meta("foo", &[]);
    new.path = "updates/foo.ko".into();
    let index = Index::new(vec![new.clone(), old.clone()], BTreeSet::new());
    assert_eq!(index.modules["foo"].path, "updates/foo.ko");
    let index = Index::new(vec![old, new], BTreeSet::new());
    assert_eq!(index.modules["foo"].path, "updates/foo.ko");
}

#[test]
fn builtin_names_come_from_paths() {
    let set = parse_builtin("kernel/net/packet/af_packet.ko\nkernel/fs/nfs_common/nfs-ssc.ko\n\n");
    assert_eq!(set, ["af_packet".to_owned(), "nfs_ssc".to_owned()].into());
}

#[test]
fn compressed_modules_decompress_by_extension() {
    let dir = std::env::temp_dir().join(format!("diskless-kmod-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let payload = b"\x7fELF pretend module".repeat(50);
    let zst = dir.join("a.ko.zst");
    std::fs::write(&zst, zstd::encode_all(payload.as_slice(), 3).expect("zstd")).expect("write");
    let gz = dir.join("b.ko.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &payload).expect("gz");
    std::fs::write(&gz, enc.finish().expect("gz")).expect("write");
    let xz = dir.join("c.ko.xz");
    let mut xz_bytes = Vec::new();
    lzma_rs::xz_compress(&mut payload.as_slice(), &mut xz_bytes).expect("xz");
    std::fs::write(&xz, xz_bytes).expect("write");
    for path in [zst, gz, xz] {
        assert_eq!(
            read_module(&path).expect("decompresses"),
            payload,
            "{}",
            path.display()
        );
    }
    let bad = dir.join("d.ko.zst");
    std::fs::write(&bad, b"not zstd").expect("write");
    let err = read_module(&bad).expect_err("corrupt");
    assert!(format!("{err:#}").contains("d.ko.zst"), "{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
