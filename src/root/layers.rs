//! An ordinary container image as the new root: its verified layers applied in order into
//! a tmpfs on [`NEW_ROOT`] by the one archive extractor, with OCI whiteouts, each decompressed
//! stream held to the config's `diff_id`, each blob deleted once applied (it is RAM).

use std::path::Path;

use super::error::{LayerCause, RootError};
use super::volatile;
use crate::archive::policy::{Layer, Limits};
use crate::archive::write::Confined;
use crate::archive::{self, Format};
use crate::hex;
use crate::image::oci::LayerBlob;
use crate::image::oci::manifest::digest_string;
use crate::plan::RootLayout;
use crate::rundir::NEW_ROOT;
use crate::sys;

/// What the layers made, for the log and the boot record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unpacked {
    pub entries: u64,
    pub file_bytes: u64,
}

/// Mounts a tmpfs of the layout's size (`diskless.overlay.size=`, else half of RAM) on
/// [`NEW_ROOT`], applies `layers` in order (`image` names them in errors), and, unless the
/// layout keeps an overlay's writes, makes it read-only (`diskless.overlay=none`) with the
/// volatile paths in RAM.
pub fn unpack(
    layers: &[LayerBlob],
    image: &str,
    layout: &RootLayout,
) -> Result<Unpacked, RootError> {
    let root = Path::new(NEW_ROOT);
    let size = layout.ram_size.as_deref();
    let read_only = !layout.overlay();
    let result = super::assemble::mount_tmpfs_root(size).and_then(|()| {
        // The tmpfs's size is the most the root may take; its entries follow.
        let room = sys::free_bytes(root).map_err(|source| RootError::Mount {
            what: "measuring the tmpfs on".to_owned(),
            target: root.to_path_buf(),
            source,
        })?;
        let limits = Limits::for_layers(room);
        let mut total = Unpacked::default();
        for layer in layers {
            let applied = apply(layer, image, limits);
            // Applied or not, the blob's RAM goes back.
            let _ = std::fs::remove_file(&layer.path);
            let summary = applied?;
            total.entries += u64::from(summary.entries);
            total.file_bytes += summary.file_bytes;
        }
        if read_only {
            sys::bind_mount(root, root, true).map_err(|source| RootError::Mount {
                what: "making the unpacked root read-only (diskless.overlay=none):".to_owned(),
                target: root.to_path_buf(),
                source,
            })?;
        }
        volatile::mount_volatile(root, layout.volatile(), size)?;
        Ok(total)
    });
    if result.is_err() {
        for layer in layers {
            let _ = std::fs::remove_file(&layer.path);
        }
    }
    result
}

fn apply(layer: &LayerBlob, image: &str, limits: Limits) -> Result<archive::Summary, RootError> {
    let digest = layer.descriptor.digest();
    let fail = |cause: LayerCause| RootError::Layer {
        image: image.to_owned(),
        layer: digest.clone(),
        cause,
    };
    let file = std::fs::File::open(&layer.path).map_err(|source| {
        fail(LayerCause::Open {
            path: layer.path.clone(),
            source,
        })
    })?;
    let mut sink = Confined::open(Path::new(NEW_ROOT)).map_err(|source| {
        fail(LayerCause::Open {
            path: NEW_ROOT.into(),
            source,
        })
    })?;
    let summary = archive::extract_from(
        std::io::BufReader::with_capacity(1 << 16, file),
        limits,
        &mut Layer::new(limits),
        &mut sink,
    )
    .map_err(|e| fail(e.into()))?;
    check_diff_id(&summary, layer.diff_id).map_err(|e| fail(LayerCause::DiffId(e)))?;
    log::info!(
        "applied layer {digest} ({}, {} entries, {} bytes of files; diff_id {} matches)",
        summary.format.map_or("tar", Format::name),
        summary.entries,
        summary.file_bytes,
        digest_string(&layer.diff_id)
    );
    Ok(summary)
}

/// The image config's `diff_id` is the decompressed tar's sha256: a layer that decompresses
/// to other bytes is not the layer the image was built from.
fn check_diff_id(summary: &archive::Summary, diff_id: [u8; 32]) -> Result<(), String> {
    if summary.tar_sha256 == diff_id {
        return Ok(());
    }
    Err(format!(
        "its decompressed tar has sha256 {}, the image config's rootfs.diff_ids says {}: \
         the config and the layer do not belong together (rebuild or re-push the image)",
        hex::encode(&summary.tar_sha256),
        hex::encode(&diff_id)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_must_decompress_to_its_diff_id() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        tar.append_data(&mut header, "etc/a", b"a\n\n".as_slice())
            .expect("tar");
        let tar = tar.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).expect("gzip");
        let gzip = gz.finish().expect("gzip");
        let limits = Limits::default();
        let summary = archive::extract_from(
            gzip.as_slice(),
            limits,
            &mut Layer::new(limits),
            &mut Discard,
        )
        .expect("extracts");
        let right = crate::sha256::digest(&tar);
        // The compressed blob's digest is the manifest's, not the config's.
        let blob = crate::sha256::digest(&gzip);
        assert_eq!(check_diff_id(&summary, right), Ok(()));
        let err = check_diff_id(&summary, blob).expect_err("the blob's digest is no diff_id");
        assert!(err.contains(&hex::encode(&blob)), "{err}");
        assert!(err.contains(&hex::encode(&right)), "{err}");
        assert!(err.contains("rootfs.diff_ids"), "{err}");
    }

    struct Discard;

    impl archive::Sink for Discard {
        fn create(
            &mut self,
            _path: &archive::policy::RelPath,
            _op: &archive::policy::Op,
            _meta: &archive::policy::Meta,
            contents: &mut dyn std::io::Read,
        ) -> std::io::Result<()> {
            std::io::copy(contents, &mut std::io::sink()).map(drop)
        }
        fn finish(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
