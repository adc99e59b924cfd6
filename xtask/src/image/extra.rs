//! Files added to the image as they are: what the build-time checks of the CA bundle, the
//! client key, the configuration key and the registry logins give, and what the image
//! builder packs beside its own files.

/// A file to put into the image as is (CA bundles, pinned configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraFile {
    /// Path in the image (`etc/diskless.conf`; a leading `/` is ignored).
    pub dest: String,
    pub contents: Vec<u8>,
    /// Permission bits (0o644).
    pub mode: u32,
}
