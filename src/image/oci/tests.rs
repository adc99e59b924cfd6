use super::*;
use crate::cmdline::oci::parse_ref;

const D: &str = "b8b6b771bec4a7b7a5c8e6e8f0bac68180bb145405517011da044c2d5fec5441";

fn sha(byte: u8) -> [u8; 32] {
    [byte; 32]
}

#[test]
fn mirrors_come_first_with_their_namespace_and_duplicates_go() {
    let image = parse_ref(&format!("http://10.0.2.2:5000/node/root@sha256:{D}")).unwrap();
    let mirrors = [
        "oci:http://10.0.2.2:5001".to_owned(),
        "https://harbor.lab/proxy".to_owned(),
        "oci:http://10.0.2.2:5000".to_owned(),
    ];
    let list = endpoints(&image, &mirrors);
    let urls: Vec<String> = list.iter().map(|e| e.blob_url("sha256:x")).collect();
    assert_eq!(
        urls,
        [
            "http://10.0.2.2:5001/v2/node/root/blobs/sha256:x",
            "https://harbor.lab/v2/proxy/node/root/blobs/sha256:x",
            "http://10.0.2.2:5000/v2/node/root/blobs/sha256:x",
        ]
    );
    assert_eq!(
        list[0].manifest_url("v1"),
        "http://10.0.2.2:5001/v2/node/root/manifests/v1"
    );
}

#[test]
fn which_digest_holds_and_what_is_said() {
    let https_digest = parse_ref(&format!("registry.lab/root@sha256:{D}")).unwrap();
    let http_digest = parse_ref(&format!("http://10.0.2.2:5000/root@sha256:{D}")).unwrap();
    let https_tag = parse_ref("registry.lab/root:v1").unwrap();
    let http_tag = parse_ref("http://10.0.2.2:5000/root:v1").unwrap();
    let d = hex::parse_sha256(D).unwrap();
    // (image, pin, diskless.sha256, expected, its source, warnings containing these)
    type Case<'a> = (
        &'a ImageRef,
        Option<[u8; 32]>,
        Option<[u8; 32]>,
        Option<[u8; 32]>,
        Option<HashSource>,
        Vec<&'a str>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            &https_digest,
            None,
            None,
            Some(d),
            Some(HashSource::Reference),
            vec![],
        ),
        (
            &http_digest,
            None,
            None,
            Some(d),
            Some(HashSource::Reference),
            vec!["INSECURE: pulling over plain HTTP (http://10.0.2.2:5000)"],
        ),
        (
            &http_digest,
            Some(d),
            None,
            Some(d),
            Some(HashSource::Pin),
            vec![],
        ),
        (
            &https_digest,
            Some(sha(1)),
            None,
            Some(sha(1)),
            Some(HashSource::Pin),
            vec!["the pin wins"],
        ),
        (&https_tag, None, None, None, None, vec!["is not pinned"]),
        (
            &http_tag,
            None,
            None,
            None,
            None,
            vec!["is not pinned", "INSECURE"],
        ),
        (
            &https_tag,
            None,
            Some(sha(2)),
            Some(sha(2)),
            Some(HashSource::Cmdline),
            vec![],
        ),
        (
            &https_tag,
            Some(sha(3)),
            None,
            Some(sha(3)),
            Some(HashSource::Pin),
            vec![],
        ),
    ];
    for (image, pin, cmdline, want, source, said) in cases {
        let list = endpoints(image, &[]);
        let (expected, warnings) = expected_manifest(image, pin, cmdline, &list);
        assert_eq!(expected.map(|e| e.sha256), want, "{image:?}");
        assert_eq!(expected.map(|e| e.source), source, "{image:?}");
        assert_eq!(
            warnings.len(),
            usize::from(!said.is_empty()),
            "{warnings:?}"
        );
        for s in said {
            assert!(warnings.iter().any(|w| w.contains(s)), "{s}: {warnings:?}");
        }
    }
}

#[test]
fn layers_wait_beside_the_image_in_ram() {
    let dest = Path::new("/run/diskless/root.squashfs");
    assert_eq!(layer_path(dest, 0), Path::new("/run/diskless/layer0.blob"));
    assert_eq!(
        layer_path(dest, 12),
        Path::new("/run/diskless/layer12.blob")
    );
}
