//! Any bytes as a registry's manifest or image index (they are checked against a digest
//! first, but a registry named by a tag vouches for nothing). Never panics; an index
//! resolves only to an entry of this node's platform, and a manifest is either a squashfs
//! artifact of exactly one layer or tar layers, or refused in words. The same bytes as an
//! image config: one diff_id per layer, or refused in words.
#![no_main]

use diskless::image::oci::manifest::{
    Document, RootKind, SQUASHFS_LAYER, diff_ids, node_platform, parse, root_kind, select,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(Document::Index(list)) => {
            let node = node_platform();
            match select(&list, &node) {
                Ok(chosen) => {
                    let p = chosen
                        .platform
                        .as_ref()
                        .expect("a chosen entry has a platform");
                    assert_eq!(
                        (p.os.as_str(), p.architecture.as_str()),
                        ("linux", node.architecture.as_str())
                    );
                }
                Err(why) => assert!(why.contains(&node.describe())),
            }
        }
        Ok(Document::Manifest(manifest)) => match root_kind(&manifest) {
            Ok(RootKind::Squashfs(layer)) => {
                assert_eq!(manifest.layers.len(), 1);
                assert_eq!(layer.media_type, SQUASHFS_LAYER);
            }
            Ok(RootKind::Layers(layers)) => {
                assert_eq!(layers.len(), manifest.layers.len());
                assert!(!layers.is_empty());
            }
            Err(why) => assert!(!why.is_empty()),
        },
        Err(why) => assert!(!why.is_empty()),
    }
    let layers = usize::from(data.first().copied().unwrap_or(0) % 4);
    match diff_ids(data, layers) {
        Ok(ids) => assert_eq!(ids.len(), layers),
        Err(why) => assert!(!why.is_empty()),
    }
});
