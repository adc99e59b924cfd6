use super::*;

const A: &str = "b8b6b771bec4a7b7a5c8e6e8f0bac68180bb145405517011da044c2d5fec5441";
const E: &str = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

fn artifact() -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "artifactType":"application/vnd.diskless.image.v1",
        "config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:{E}","size":2}},
        "layers":[{{"mediaType":"application/vnd.diskless.squashfs","digest":"sha256:{A}","size":100000}}]}}"#
    )
}

fn index(platforms: &[(&str, &str, Option<&str>)]) -> String {
    let entries: Vec<String> = platforms
        .iter()
        .map(|(os, arch, variant)| {
            let variant = variant.map_or(String::new(), |v| format!(r#","variant":"{v}""#));
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{A}","size":7,
                "platform":{{"os":"{os}","architecture":"{arch}"{variant}}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        entries.join(",")
    )
}

#[test]
fn a_squashfs_artifact_is_a_squashfs_root() {
    let Document::Manifest(m) = parse(artifact().as_bytes()).unwrap() else {
        panic!("not a manifest")
    };
    assert_eq!(m.artifact_type.as_deref(), Some(ARTIFACT_TYPE));
    assert_eq!(m.config.size, 2);
    let RootKind::Squashfs(layer) = root_kind(&m).unwrap() else {
        panic!("not squashfs")
    };
    assert_eq!(layer.digest(), format!("sha256:{A}"));
    assert_eq!(layer.size, 100_000);
}

#[test]
fn docker_schema2_and_untyped_oci_manifests_are_layer_images() {
    let docker = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
        "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:{E}"}},
        "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9,"digest":"sha256:{A}"}},
                  {{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9,"digest":"sha256:{E}"}}]}}"#
    );
    let Document::Manifest(m) = parse(docker.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(m.media_type, DOCKER_MANIFEST);
    let RootKind::Layers(layers) = root_kind(&m).unwrap() else {
        panic!()
    };
    assert_eq!(layers.len(), 2);
    // No mediaType: the fields say it is a manifest.
    let untyped = format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"x","size":1,"digest":"sha256:{E}"}},
        "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","size":9,"digest":"sha256:{A}"}}]}}"#
    );
    assert!(matches!(
        parse(untyped.as_bytes()),
        Ok(Document::Manifest(_))
    ));
}

#[test]
fn bad_documents_say_what_is_wrong() {
    let upper = artifact().replace(A, &A.to_uppercase());
    let cases: Vec<(String, &str)> = vec![
        ("{}".to_owned(), "not a manifest"),
        // serde reads a struct from an array too: still held to schemaVersion 2.
        ("[1]".to_owned(), "schemaVersion 1"),
        (
            r#"{"schemaVersion":1,"name":"x"}"#.to_owned(),
            "schemaVersion 1",
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"text/html"}"#.to_owned(),
            "unknown manifest media type \"text/html\"",
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#
                .to_owned(),
            "without a config",
        ),
        (
            artifact().replace(&format!("sha256:{A}"), "sha512:00"),
            "this node checks sha256 only",
        ),
        (upper, "not lowercase hex"),
        (artifact().replace("100000", "-1"), "not a manifest"),
    ];
    for (text, want) in cases {
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn an_index_resolves_to_the_nodes_platform_or_names_both() {
    let amd64 = Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let arm64 = Platform {
        architecture: "arm64".into(),
        ..amd64.clone()
    };
    let text = index(&[
        ("linux", "arm64", Some("v7")),
        ("linux", "arm64", Some("v8")),
        ("linux", "amd64", None),
        ("unknown", "unknown", None),
    ]);
    let Document::Index(list) = parse(text.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(
        select(&list, &amd64)
            .unwrap()
            .platform
            .as_ref()
            .unwrap()
            .architecture,
        "amd64"
    );
    let arm = select(&list, &arm64).unwrap().platform.clone().unwrap();
    assert_eq!(arm.variant.as_deref(), Some("v8"));
    let only_arm = index(&[("linux", "arm64", None), ("linux", "s390x", None)]);
    let Document::Index(list) = parse(only_arm.as_bytes()).unwrap() else {
        panic!()
    };
    let err = select(&list, &amd64).unwrap_err();
    assert!(
        err.contains("platform linux/amd64 (it has linux/arm64, linux/s390x)"),
        "{err}"
    );
    // A Docker manifest list is an index too.
    let list = index(&[("linux", "amd64", None)]).replace(OCI_INDEX, DOCKER_LIST);
    assert!(matches!(parse(list.as_bytes()), Ok(Document::Index(_))));
    assert_eq!(node_platform().os, "linux");
}

#[test]
fn unknown_layer_types_are_refused_by_name() {
    let Document::Manifest(mut m) = parse(artifact().as_bytes()).unwrap() else {
        panic!()
    };
    m.layers[0].media_type = "application/vnd.cncf.helm.chart.content.v1.tar+gzip".into();
    let err = root_kind(&m).unwrap_err();
    assert!(err.contains("helm.chart"), "{err}");
    m.layers.clear();
    assert!(root_kind(&m).unwrap_err().contains("no layers"));
}

#[test]
fn configs_name_one_diff_id_per_layer() {
    let a = format!("sha256:{}", "a".repeat(64));
    let b = format!("sha256:{}", "b".repeat(64));
    let config = |kind: &str, ids: &[&str]| {
        serde_json::json!({"architecture": "amd64", "os": "linux",
            "rootfs": {"type": kind, "diff_ids": ids}})
        .to_string()
    };
    assert_eq!(
        diff_ids(config("layers", &[&a, &b]).as_bytes(), 2),
        Ok(vec![[0xaa; 32], [0xbb; 32]])
    );
    let cases: &[(String, usize, &str)] = &[
        (config("layers", &[&a]), 2, "names 1 layers, the manifest 2"),
        (config("other", &[&a]), 1, "rootfs.type is \"other\""),
        (config("layers", &["md5:00"]), 1, "uses \"md5\""),
        ("{}".to_owned(), 0, "not an image config"),
    ];
    for (text, layers, want) in cases {
        let err = diff_ids(text.as_bytes(), *layers).expect_err(text);
        assert!(err.contains(want), "{text}: {err}");
    }
}
