//! The module index the image carries, in kmod's own formats so that a busybox `modprobe` in
//! a rescue shell reads it too: `modules.dep` (`path: dep dep...`, dependencies listed so that
//! loading them from last to first works, as depmod writes them), `modules.alias`
//! (`alias <glob> <module>`) and `modules.builtin` (one `kernel/.../name.ko` a line).
//!
//! Pure: the init reads the files, this module answers "what to load, in which order".
//! Module names are normalised with `-` -> `_`, as the kernel does.

use std::collections::BTreeMap;

/// One loadable module of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleEntry {
    /// Normalised name (`virtio_net`).
    pub name: String,
    /// Path relative to the module directory (`kernel/drivers/net/virtio_net.ko`).
    pub path: String,
    /// Names of the modules this one depends on (as modules.dep lists them).
    pub depends: Vec<String>,
}

/// The parsed index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleIndex {
    pub modules: BTreeMap<String, ModuleEntry>,
    /// `(glob pattern, module name)` in file order.
    pub aliases: Vec<(String, String)>,
    /// Normalised names of modules built into the kernel.
    pub builtin: Vec<String>,
}

/// A malformed line in one of the index files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {reason}")]
pub struct IndexError {
    pub file: &'static str,
    pub line: usize,
    pub reason: &'static str,
}

/// `virtio-net` -> `virtio_net`; `kernel/drivers/net/virtio_net.ko.zst` -> `virtio_net`.
pub fn normalize_name(name_or_path: &str) -> String {
    todo!("helper: {name_or_path}")
}

impl ModuleIndex {
    /// Parses the three files' contents (any may be empty).
    pub fn parse(dep: &str, alias: &str, builtin: &str) -> Result<ModuleIndex, IndexError> {
        todo!("helper: {dep} {alias} {builtin}")
    }

    /// Resolves a name or alias (`fs-overlay`, `virtio:d00000001v00001AF4`,
    /// `pci:v00008086d0000100Esv...`) to module names, the way modprobe does: an exact module
    /// name first, else every module whose alias glob matches (fnmatch `*`, `?`, `[...]`).
    pub fn resolve(&self, name_or_alias: &str) -> Vec<String> {
        todo!("helper: {name_or_alias}")
    }

    /// Whether the kernel has this module built in (then there is nothing to load).
    pub fn is_builtin(&self, name: &str) -> bool {
        todo!("helper: {name}")
    }

    /// The modules to load for `wanted`, dependencies first, each once, skipping builtins,
    /// unknown names (returned in the second list) and anything in `blacklist` (and what
    /// depends on it). Order among independent modules follows `wanted`.
    pub fn load_order(&self, wanted: &[String], blacklist: &[String]) -> (Vec<&ModuleEntry>, Vec<String>) {
        todo!("helper: {wanted:?} {blacklist:?}")
    }
}

/// fnmatch(3) without flags: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`; as kmod matches aliases.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    todo!("helper: {pattern} {text}")
}
