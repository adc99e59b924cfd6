//! The init's one SHA-256 (images, archives, layers, machine-ids): RustCrypto's sha2, which
//! uses the CPU's SHA extensions where it has them (detected at run time) and otherwise, on
//! x86_64, sha2-asm's assembly, with the portable code built at opt-level 3 (Cargo.toml).
//! A node hashes every byte of its root image before it boots, so this is the fetch's CPU
//! cost wherever the CPU lacks SHA extensions. Measured under QEMU's TCG (`qemu64`, 8 MiB):
//! sha2 at the init's opt-level s 14 MB/s, ring 56–87 MB/s, sha2 with sha2-asm and
//! opt-level 3 100 MB/s; natively, with SHA-NI, sha2 and ring both about 1.6 GB/s.

use sha2::Digest as _;

/// A running SHA-256.
#[derive(Clone, Default)]
pub struct Sha256(sha2::Sha256);

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

impl Sha256 {
    pub fn new() -> Sha256 {
        Sha256(sha2::Sha256::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// `update`, for chaining.
    #[must_use]
    pub fn chain(mut self, bytes: &[u8]) -> Sha256 {
        self.update(bytes);
        self
    }

    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// The SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::new().chain(bytes).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex;

    /// FIPS 180-2's examples, and one that spans several blocks in pieces.
    #[test]
    fn known_answers() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hex::encode(&digest(input)), *want);
        }
        let million_a = vec![b'a'; 1_000_000];
        let mut pieces = Sha256::new();
        for chunk in million_a.chunks(4093) {
            pieces.update(chunk);
        }
        assert_eq!(
            hex::encode(&pieces.finish()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    proptest::proptest! {
        /// Any bytes, fed in any pieces, hash as ring's implementation hashes them.
        #[test]
        fn agrees_with_an_independent_implementation(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..3000),
            cut in 0usize..3000,
        ) {
            let cut = cut.min(bytes.len());
            let (head, tail) = bytes.split_at(cut);
            let mut ours = Sha256::new();
            ours.update(head);
            ours.update(tail);
            let theirs = ring::digest::digest(&ring::digest::SHA256, &bytes);
            let ours = ours.finish();
            proptest::prop_assert_eq!(ours.as_slice(), theirs.as_ref());
        }
    }
}
