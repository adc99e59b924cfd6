//! The image file and its sha256, kept in step: the hash covers exactly the bytes written,
//! and its state carries on across a resumed transfer.
//!
//! For the image file the hash is computed behind the transfer, once it passes its first
//! MiB, by a thread reading back what was written ([`HashingWriter::reading_back`]): the
//! receiving thread only moves bytes from the socket to tmpfs, so on one CPU the socket is
//! drained as fast as `curl -o` drains it and on several CPUs hashing runs beside TCP.
//! Reading back costs no memory (the bytes are in tmpfs already) and hashes what will be
//! mounted, not a copy of it.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

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
    hasher: Hasher,
    written: u64,
}

enum Hasher {
    /// Hashing each write as it is made. `later`: the file (a second handle) and the size
    /// past which a thread takes the hashing over.
    Inline {
        hasher: Sha256,
        later: Option<(File, u64)>,
    },
    Behind(ReadBack),
}

impl Hasher {
    fn inline() -> Hasher {
        Hasher::Inline {
            hasher: Sha256::new(),
            later: None,
        }
    }
}

impl<W: Write> HashingWriter<W> {
    /// Hashes each write as it is made, on the writing thread.
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Hasher::inline(),
            written: 0,
        }
    }

    /// Bytes written so far: where a resume continues from.
    pub fn position(&self) -> u64 {
        self.written
    }

    /// The sha256 of everything written so far (the state goes on). Behind a transfer,
    /// waits for the hashing thread to catch up; its failure (reading the file back) is
    /// the error.
    pub fn digest(&self) -> io::Result<[u8; 32]> {
        match &self.hasher {
            Hasher::Inline { hasher, .. } => Ok(hasher.clone().finish()),
            Hasher::Behind(read_back) => read_back.digest(self.written),
        }
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl HashingWriter<File> {
    /// Hashes `file` inline up to [`READ_BACK_AFTER`] bytes, then on a thread of its own
    /// that reads back what was written. If that thread cannot be started, goes on inline
    /// as [`HashingWriter::new`] does (slower, same result).
    pub fn reading_back(file: File) -> HashingWriter<File> {
        HashingWriter::reading_back_after(file, READ_BACK_AFTER)
    }

    fn reading_back_after(file: File, after: u64) -> HashingWriter<File> {
        let later = match file.try_clone() {
            Ok(handle) => Some((handle, after)),
            Err(err) => {
                log::debug!("fetch: hashing on the receiving thread ({err})");
                None
            }
        };
        HashingWriter {
            inner: file,
            hasher: Hasher::Inline {
                hasher: Sha256::new(),
                later,
            },
            written: 0,
        }
    }
}

impl<W: Rewind> HashingWriter<W> {
    /// Throws away everything written, for a transfer that must start over.
    pub fn restart(&mut self) -> io::Result<()> {
        // The hashing thread hears of it before the file shrinks under its reads.
        match &mut self.hasher {
            Hasher::Inline { hasher, .. } => *hasher = Sha256::new(),
            Hasher::Behind(read_back) => read_back.restart(),
        }
        self.written = 0;
        self.inner.rewind_to_empty()?;
        Ok(())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        match &mut self.hasher {
            Hasher::Inline { hasher, later } => {
                // A writer accepts at most what it was given (`Write::write`'s contract).
                hasher.update(buf.get(..n).unwrap_or(buf));
                if later
                    .as_ref()
                    .is_some_and(|(_, after)| self.written >= *after)
                {
                    if let Some((file, _)) = later.take() {
                        match ReadBack::start(file, hasher.clone(), self.written) {
                            Ok(read_back) => self.hasher = Hasher::Behind(read_back),
                            Err(err) => {
                                log::debug!("fetch: hashing on the receiving thread ({err})");
                            }
                        }
                    }
                }
            }
            Hasher::Behind(read_back) => read_back.written(self.written),
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Below this a thread's start costs about what it saves: small files (registry documents,
/// small images) are hashed as they are written.
const READ_BACK_AFTER: u64 = 1024 * 1024;
/// How much the hashing thread reads back at a time.
const READ_BACK_CHUNK: usize = 256 * 1024;
/// How far the writer gets ahead of a sleeping hashing thread before it wakes it.
const WAKE_AFTER: u64 = 1024 * 1024;

/// The writer's side of the hashing thread.
struct ReadBack {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// What the writer and the hashing thread tell each other.
#[derive(Default)]
struct State {
    /// Bytes in the file, as the writer last said.
    written: u64,
    /// Bumped each time the writer empties the file: what was hashed before is void.
    generation: u64,
    /// The writer waits for a digest.
    want_digest: bool,
    /// (generation, bytes hashed, digest): the hashing thread's answer.
    digest: Option<(u64, u64, [u8; 32])>,
    /// Why the hashing thread stopped (reading the file back failed, or it panicked).
    failed: Option<String>,
    /// The writer is gone: the thread ends.
    closing: bool,
    /// Where the hashing thread caught up and went to sleep; `None` while it works.
    parked_at: Option<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-changed (plain fields).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ReadBack {
    /// Takes the hashing over from `hasher`, which has hashed the file's first `hashed`
    /// bytes.
    fn start(file: File, hasher: Sha256, hashed: u64) -> io::Result<ReadBack> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                written: hashed,
                ..State::default()
            }),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let on_panic = Arc::clone(&shared);
        crate::worker::spawn(
            "hash-image".to_owned(),
            move || hash_behind(&file, &worker, hasher, hashed),
            move |message| {
                on_panic.lock().failed = Some(format!("the hashing thread panicked: {message}"));
                on_panic.changed.notify_all();
            },
        )?;
        Ok(ReadBack { shared })
    }

    fn written(&self, position: u64) {
        let mut state = self.shared.lock();
        state.written = position;
        // Woken for a batch, not for each write: fewer switches between the two threads.
        let wake = state
            .parked_at
            .is_some_and(|at| position.saturating_sub(at) >= WAKE_AFTER);
        drop(state);
        if wake {
            self.shared.changed.notify_all();
        }
    }

    fn restart(&self) {
        let mut state = self.shared.lock();
        state.written = 0;
        state.generation += 1;
        state.digest = None;
        drop(state);
        self.shared.changed.notify_all();
    }

    fn digest(&self, written: u64) -> io::Result<[u8; 32]> {
        let mut state = self.shared.lock();
        state.written = written;
        let mut asked = false;
        loop {
            if let Some(why) = &state.failed {
                return Err(io::Error::other(format!("hashing the image file: {why}")));
            }
            // The fetch asks twice for the same bytes (to compare, then to report): the
            // thread's last answer still holds then.
            if let Some((generation, hashed, digest)) = state.digest {
                if generation == state.generation && hashed == written {
                    return Ok(digest);
                }
            }
            if !asked {
                state.want_digest = true;
                self.shared.changed.notify_all();
                asked = true;
            }
            state = self.shared.wait(state);
        }
    }
}

impl Drop for ReadBack {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.changed.notify_all();
    }
}

/// The hashing thread: reads the file back up to what the writer has written, starts over
/// when the writer empties it, and answers the writer's requests for the digest. Its
/// priority is the lowest.
fn hash_behind(file: &File, shared: &Shared, mut hasher: Sha256, mut hashed: u64) {
    // Receiving goes first: on one CPU the socket is drained before the hash catches up.
    if let Err(err) = crate::sys::lower_this_threads_priority() {
        log::debug!("fetch: cannot lower the hashing thread's priority: {err}");
    }
    let mut generation = 0;
    let mut buffer = vec![0u8; READ_BACK_CHUNK];
    loop {
        let target = {
            let mut state = shared.lock();
            loop {
                if state.closing {
                    return;
                }
                if state.generation != generation {
                    generation = state.generation;
                    hasher = Sha256::new();
                    hashed = 0;
                }
                if state.written > hashed {
                    break state.written;
                }
                if state.want_digest && state.written == hashed {
                    state.digest = Some((generation, hashed, hasher.clone().finish()));
                    state.want_digest = false;
                    shared.changed.notify_all();
                }
                state.parked_at = Some(hashed);
                state = shared.wait(state);
                state.parked_at = None;
            }
        };
        let want =
            usize::try_from(target - hashed).map_or(READ_BACK_CHUNK, |n| n.min(READ_BACK_CHUNK));
        let Some(chunk) = buffer.get_mut(..want) else {
            return;
        };
        let result = file.read_at(chunk, hashed);
        // Bytes read across a restart belong to no transfer: look again before hashing.
        if shared.lock().generation != generation {
            continue;
        }
        match result {
            Ok(0) => {
                shared.lock().failed = Some(format!(
                    "the file ends at {hashed} bytes, {target} were written"
                ));
                shared.changed.notify_all();
                return;
            }
            Ok(n) => {
                hasher.update(chunk.get(..n).unwrap_or_default());
                hashed += n as u64;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => {
                shared.lock().failed = Some(format!("reading it back at {hashed} bytes: {err}"));
                shared.changed.notify_all();
                return;
            }
        }
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
        assert_eq!(w.digest().unwrap(), whole);
        assert_eq!(
            w.digest().unwrap(),
            whole,
            "digest does not consume the state"
        );
        w.restart().unwrap();
        w.write_all(b"x").unwrap();
        assert_eq!(w.digest().unwrap(), crate::sha256::digest(b"x"));
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
        assert_eq!(w.digest().unwrap(), crate::sha256::digest(b"abc"));
    }

    fn scratch_file(name: &str) -> (std::path::PathBuf, File) {
        let path =
            std::env::temp_dir().join(format!("diskless-hashing-{name}-{}", std::process::id()));
        let file = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        (path, file)
    }

    #[test]
    fn reading_back_hashes_the_file_across_resumes_and_restarts() {
        let (path, file) = scratch_file("read-back");
        let mut w = HashingWriter::reading_back_after(file, 1000);
        assert_eq!(w.digest().unwrap(), crate::sha256::digest(b""));
        w.write_all(&[7; 999]).unwrap();
        assert!(matches!(w.hasher, Hasher::Inline { .. }), "small: inline");
        w.restart().unwrap();
        let big: Vec<u8> = (0..3 * READ_BACK_CHUNK + 17).map(|i| i as u8).collect();
        w.write_all(&big[..500]).unwrap();
        w.write_all(&big[500..]).unwrap();
        assert!(
            matches!(w.hasher, Hasher::Behind(_)),
            "past 1000 bytes: a thread"
        );
        assert_eq!(w.digest().unwrap(), crate::sha256::digest(&big));
        // A resume: the state carries on.
        w.write_all(b"tail").unwrap();
        let mut whole = big.clone();
        whole.extend_from_slice(b"tail");
        assert_eq!(w.digest().unwrap(), crate::sha256::digest(&whole));
        // Starting over forgets every byte before.
        w.restart().unwrap();
        w.write_all(b"again").unwrap();
        assert_eq!(w.digest().unwrap(), crate::sha256::digest(b"again"));
        assert_eq!(std::fs::read(&path).unwrap(), b"again");
        drop(w);
        std::fs::remove_file(path).unwrap();
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(Vec<u8>),
        Restart,
        Digest,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            6 => proptest::collection::vec(any::<u8>(), 0..70_000).prop_map(Op::Write),
            1 => Just(Op::Restart),
            2 => Just(Op::Digest),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Whatever the writer does and however the threads interleave, the digest read
        /// back from the file is the digest of the bytes written since the last restart.
        #[test]
        fn reading_back_agrees_with_hashing_inline(ops in proptest::collection::vec(op(), 1..24)) {
            let (path, file) = scratch_file("agree");
            // Taken over by the thread after 100 kB: most cases hash inline, then behind.
            let mut behind = HashingWriter::reading_back_after(file, 100_000);
            let mut inline = HashingWriter::new(Vec::new());
            for op in &ops {
                match op {
                    Op::Write(bytes) => {
                        behind.write_all(bytes).unwrap();
                        inline.write_all(bytes).unwrap();
                    }
                    Op::Restart => {
                        behind.restart().unwrap();
                        inline.restart().unwrap();
                    }
                    Op::Digest => {
                        proptest::prop_assert_eq!(behind.digest().unwrap(), inline.digest().unwrap());
                    }
                }
            }
            proptest::prop_assert_eq!(behind.position(), inline.position());
            proptest::prop_assert_eq!(behind.digest().unwrap(), inline.digest().unwrap());
            drop(behind);
            std::fs::remove_file(path).unwrap();
        }
    }
}
