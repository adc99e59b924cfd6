//! The image file and its sha256, kept in step: the hash covers exactly the bytes written,
//! and its state carries on across a resumed transfer.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

use crate::sha256::Sha256;

/// A sink that can be emptied to start over.
pub trait Rewind: Write {
    fn rewind_to_empty(&mut self) -> io::Result<()>;
}

impl Rewind for File {
    fn rewind_to_empty(&mut self) -> io::Result<()> {
        self.set_len(0)?;
        self.seek(SeekFrom::Start(0)).map(drop)
    }
}

impl Rewind for Vec<u8> {
    fn rewind_to_empty(&mut self) -> io::Result<()> {
        self.clear();
        Ok(())
    }
}

/// Writes through to `inner` and hashes exactly what `inner` accepted, so file and hash
/// never disagree. Its state outlives any one connection: a resumed transfer keeps hashing
/// where the cut one stopped.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Bytes written so far: where a resume continues from.
    pub fn position(&self) -> u64 {
        self.written
    }

    /// The sha256 of everything written so far (the state goes on).
    pub fn digest(&self) -> [u8; 32] {
        self.hasher.clone().finish()
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Rewind> HashingWriter<W> {
    /// Throws away everything written, for a transfer that must start over.
    pub fn restart(&mut self) -> io::Result<()> {
        self.inner.rewind_to_empty()?;
        self.hasher = Sha256::new();
        self.written = 0;
        Ok(())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        // A writer accepts at most what it was given (`Write::write`'s contract).
        self.hasher.update(buf.get(..n).unwrap_or(buf));
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_state_carries_on_and_restarts_clean() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        assert_eq!(w.position(), 6);
        w.write_all(b"world").unwrap();
        let whole = crate::sha256::digest(b"hello world");
        assert_eq!(w.digest(), whole);
        assert_eq!(w.digest(), whole, "digest does not consume the state");
        w.restart().unwrap();
        w.write_all(b"x").unwrap();
        assert_eq!(w.digest(), crate::sha256::digest(b"x"));
        assert_eq!(w.into_inner(), b"x");
    }

    /// Accepts at most 3 bytes a call: what is hashed is what was written.
    struct Trickle(Vec<u8>);
    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn short_writes_hash_only_what_was_written() {
        let mut w = HashingWriter::new(Trickle(Vec::new()));
        assert_eq!(w.write(b"abcdef").unwrap(), 3);
        assert_eq!(w.digest(), crate::sha256::digest(b"abc"));
    }
}
