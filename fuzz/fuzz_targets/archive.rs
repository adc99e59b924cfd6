//! Any bytes as a whole configuration archive (plain tar, gzip or zstd by content), through
//! the real walker and policy into a recording sink. It returns, never panics; everything
//! the sink is asked to create is a relative path of plain names within the length and
//! depth bounds, no device or FIFO, a hard link only to a file created before, within the
//! entry, byte and path-byte bounds; and a file's contents are never more than its header
//! said. Both policies: plain (configuration
//! archives) and OCI layers, whose whiteouts are removals, never files.
#![no_main]

use std::collections::HashSet;
use std::io::{self, Read};

use diskless::archive::policy::{
    Layer, Limits, MAX_DEPTH, MAX_PATH, Meta, Op, Plain, RelPath,
};
use diskless::archive::{Sink, extract};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Recorder {
    layer: bool,
    files: HashSet<RelPath>,
    created: u32,
    bytes: u64,
    path_bytes: u64,
}

impl Sink for Recorder {
    fn create(
        &mut self,
        path: &RelPath,
        op: &Op,
        _meta: &Meta,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        check(path);
        self.path_bytes += path.as_bytes().len() as u64;
        // Whiteout files are actions, never created (OCI layers).
        assert!(!path.parts().last().is_some_and(|l| l.starts_with(b".wh.")) || !self.layer);
        self.created += 1;
        match op {
            Op::File { size } => {
                let mut body = Vec::new();
                contents.take(size + 1).read_to_end(&mut body)?;
                assert!(body.len() as u64 <= *size);
                self.bytes += size;
                self.files.insert(path.clone());
            }
            Op::HardLink { target } => {
                assert!(self.files.contains(target));
                self.files.insert(path.clone());
            }
            Op::Dir | Op::Symlink { .. } => {}
        }
        Ok(())
    }

    fn remove(&mut self, path: &RelPath) -> io::Result<()> {
        check(path);
        self.path_bytes += path.as_bytes().len() as u64;
        self.created += 1;
        Ok(())
    }

    fn clear(&mut self, dir: Option<&RelPath>) -> io::Result<()> {
        if let Some(dir) = dir {
            check(dir);
            self.path_bytes += dir.as_bytes().len() as u64;
        }
        self.created += 1;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn check(path: &RelPath) {
    assert!(path.as_bytes().len() <= MAX_PATH);
    assert!(path.parts().count() <= MAX_DEPTH);
    for part in path.parts() {
        assert!(!part.is_empty() && part != b"." && part != b"..");
        assert!(!part.contains(&b'/') && !part.contains(&0));
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 64,
        max_bytes: 64 * 1024,
        max_path_bytes: 16 * 1024,
    };
    for layer in [false, true] {
        let mut sink = Recorder {
            layer,
            ..Recorder::default()
        };
        let result = if layer {
            extract(data, limits, &mut Layer::new(limits), &mut sink)
        } else {
            extract(data, limits, &mut Plain::new(limits), &mut sink)
        };
        assert!(sink.created <= limits.max_entries);
        assert!(sink.bytes <= limits.max_bytes);
        assert!(sink.path_bytes <= limits.max_path_bytes);
        if let Ok(summary) = result {
            assert!(summary.entries >= sink.created);
            assert!(summary.file_bytes == sink.bytes);
        }
    }
});
