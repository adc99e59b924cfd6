//! Kernel modules for the image: which to pack, in which order they load, and the index
//! files that say so.
//!
//! Distro kernel packages may ship without `modules.dep` (Debian's runs depmod in postinst),
//! so the dependency graph comes from each module's ELF `.modinfo` section: NUL-separated
//! `key=value` strings (`name=`, `depends=a,b`, `alias=pci:v...`, `softdep=pre: x post: y`).
//!
//! The index files are written in kmod's formats, so the init and a busybox `modprobe` in
//! the rescue shell read the same data:
//! - `modules.dep`: `kernel/a.ko: kernel/dep1.ko kernel/dep2.ko`, every transitive
//!   dependency, ordered as depmod orders them: loading the list from last to first, then
//!   the module itself, satisfies every dependency;
//! - `modules.alias`: `alias <pattern> <name>`, sorted;
//! - `modules.softdep`: `softdep <name> pre: a b post: c`;
//! - `modules.builtin`: copied from the tree.
//!
//! [`Index`] and its methods are pure; [`scan`] and [`pack`] do the IO.

use super::cpio::Archive;
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Modules packed when a module tree is given, unless `--no-default-modules`: the common
/// NICs (virtual and physical), packet sockets for DHCP, and what an image, NFS or NBD root
/// needs (an NBD root: the nbd driver and dm-verity, which brings device-mapper). Each is packed only if the kernel has it; missing ones are warned about.
pub const DEFAULT_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_net",
    "e1000",
    "e1000e",
    "igb",
    "ixgbe",
    "r8169",
    "tg3",
    "af_packet",
    "loop",
    "squashfs",
    "overlay",
    "nfs",
    "nfsv3",
    "nfsv4",
    "nbd",
    "dm_mod",
    "dm_verity",
];

/// File name endings of modules, uncompressed and as distros compress them.
const MODULE_SUFFIXES: &[&str] = &[".ko", ".ko.xz", ".ko.zst", ".ko.gz"];

/// The kernel's module name rule: `-` and `_` are the same, `_` is canonical.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// What one module says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleMeta {
    /// Normalised name (`name=` when present, else from the file name).
    pub name: String,
    /// Path relative to the module directory, as stored in the image (always plain `.ko`).
    pub path: String,
    /// Hard dependencies (`depends=`), normalised names.
    pub depends: Vec<String>,
    pub aliases: Vec<String>,
    /// Optional modules to load before / after this one (`softdep=`), names or aliases.
    pub softdep_pre: Vec<String>,
    pub softdep_post: Vec<String>,
}

/// Parses a `.modinfo` section. `rel_path` is the module's path relative to the tree
/// (compressed or not); it gives the stored path and the fallback name.
pub fn parse_modinfo(section: &[u8], rel_path: &str) -> ModuleMeta {
    let stored = strip_compression(rel_path);
    let file_name = stored.rsplit('/').next().unwrap_or(stored);
    let mut meta = ModuleMeta {
        name: normalize(file_name.strip_suffix(".ko").unwrap_or(file_name)),
        path: stored.to_owned(),
        ..ModuleMeta::default()
    };
    for field in section.split(|&b| b == 0) {
        let Ok(field) = std::str::from_utf8(field) else {
            continue;
        };
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        match key {
            "name" if !value.is_empty() => meta.name = normalize(value),
            "depends" => meta.depends.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(normalize),
            ),
            "alias" if !value.is_empty() => meta.aliases.push(value.to_owned()),
            "softdep" => parse_softdep(value, &mut meta.softdep_pre, &mut meta.softdep_post),
            _ => {}
        }
    }
    meta
}

/// `pre: a b post: c` -> pre [a, b], post [c]. Words before any `pre:`/`post:` are ignored,
/// as kmod ignores them (some modules declare `softdep=gcm`, which kmod never honours).
pub fn parse_softdep(value: &str, pre: &mut Vec<String>, post: &mut Vec<String>) {
    #[derive(Clone, Copy)]
    enum Mode {
        None,
        Pre,
        Post,
    }
    let mut mode = Mode::None;
    for word in value.split_whitespace() {
        match (word, mode) {
            ("pre:", _) => mode = Mode::Pre,
            ("post:", _) => mode = Mode::Post,
            (_, Mode::None) => {}
            (w, Mode::Pre) if !pre.iter().any(|p| p == w) => pre.push(w.to_owned()),
            (w, Mode::Post) if !post.iter().any(|p| p == w) => post.push(w.to_owned()),
            _ => {}
        }
    }
}

/// `kernel/a.ko.zst` -> `kernel/a.ko`.
fn strip_compression(path: &str) -> &str {
    [".xz", ".zst", ".gz"]
        .iter()
        .find_map(|ext| path.strip_suffix(ext))
        .unwrap_or(path)
}

/// A module name asked for, and whether its absence is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    /// Asked for by the user (`--module`): missing is an error. Default-set names are not.
    pub required: bool,
}

impl Request {
    /// The default set (optional) followed by the user's names (required).
    pub fn list(default_modules: bool, user: &[String]) -> Vec<Request> {
        let defaults = DEFAULT_MODULES
            .iter()
            .filter(|_| default_modules)
            .map(|n| Request {
                name: (*n).to_owned(),
                required: false,
            });
        defaults
            .chain(user.iter().map(|n| Request {
                name: n.clone(),
                required: true,
            }))
            .collect()
    }
}

/// Why the module set cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmodError {
    #[error("module {name:?} is neither in the module tree nor built into the kernel")]
    NotFound { name: String },
    #[error(
        "module {module} depends on {dependency}, which is neither in the module tree nor built in"
    )]
    MissingDependency { module: String, dependency: String },
    #[error("module dependency cycle: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
}

/// The outcome of resolving requests against a tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Modules to pack, every module after its hard dependencies.
    pub load_order: Vec<String>,
    /// Requested names the kernel has built in: satisfied, nothing to pack.
    pub builtin: Vec<String>,
    /// Optional requested names the kernel does not have.
    pub missing: Vec<String>,
}

/// The modules of one tree, by name, and the names built into its kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    pub modules: BTreeMap<String, ModuleMeta>,
    pub builtin: BTreeSet<String>,
}

impl Index {
    /// Builds the index; a name found twice keeps the copy under `updates/` (depmod's
    /// default search order), else the first by path.
    pub fn new(metas: Vec<ModuleMeta>, builtin: BTreeSet<String>) -> Index {
        let mut modules: BTreeMap<String, ModuleMeta> = BTreeMap::new();
        for meta in metas {
            let rank = |m: &ModuleMeta| (!m.path.starts_with("updates/"), m.path.clone());
            match modules.get(&meta.name) {
                Some(existing) if rank(existing) <= rank(&meta) => {}
                _ => {
                    modules.insert(meta.name.clone(), meta);
                }
            }
        }
        Index { modules, builtin }
    }

    /// Module names for a module name or an exact alias (`fs-overlay`, `crypto-crc32c`),
    /// as softdeps and users name them. Patterns (`pci:v*`) are the init's business.
    pub fn lookup(&self, name: &str) -> Vec<&str> {
        if let Some(m) = self.modules.get(&normalize(name)) {
            return vec![m.name.as_str()];
        }
        self.modules
            .values()
            .filter(|m| m.aliases.iter().any(|a| a == name))
            .map(|m| m.name.as_str())
            .collect()
    }

    /// The closure of `requests`: hard dependencies (must exist or be built in) and soft
    /// dependencies (packed when the tree has them), sorted for loading.
    pub fn resolve(&self, requests: &[Request]) -> Result<Resolution, KmodError> {
        let mut resolution = Resolution::default();
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        let mut queue: Vec<String> = Vec::new();
        for request in requests {
            let name = normalize(&request.name);
            let found = self.lookup(&request.name);
            if !found.is_empty() {
                queue.extend(found.into_iter().map(str::to_owned));
            } else if self.builtin.contains(&name) {
                push_unique(&mut resolution.builtin, name);
            } else if request.required {
                return Err(KmodError::NotFound {
                    name: request.name.clone(),
                });
            } else {
                push_unique(&mut resolution.missing, request.name.clone());
            }
        }
        while let Some(name) = queue.pop() {
            if !wanted.insert(name.clone()) {
                continue;
            }
            let Some(meta) = self.modules.get(&name) else {
                continue;
            };
            for dep in &meta.depends {
                if self.modules.contains_key(dep) {
                    queue.push(dep.clone());
                } else if !self.builtin.contains(dep) {
                    return Err(KmodError::MissingDependency {
                        module: name,
                        dependency: dep.clone(),
                    });
                }
            }
            for soft in meta.softdep_pre.iter().chain(&meta.softdep_post) {
                queue.extend(self.lookup(soft).into_iter().map(str::to_owned));
            }
        }
        resolution.load_order = self.topological(&wanted)?;
        Ok(resolution)
    }

    /// `names` ordered so that each module comes after its hard dependencies (that are in
    /// `names`); ties broken by name, so the order is stable.
    pub fn topological(&self, names: &BTreeSet<String>) -> Result<Vec<String>, KmodError> {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            Visiting,
            Done,
        }
        fn visit(
            index: &Index,
            names: &BTreeSet<String>,
            name: &str,
            state: &mut BTreeMap<String, State>,
            path: &mut Vec<String>,
            out: &mut Vec<String>,
        ) -> Result<(), KmodError> {
            match state.get(name) {
                Some(State::Done) => return Ok(()),
                Some(State::Visiting) => {
                    let start = path.iter().position(|p| p == name).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(name.to_owned());
                    return Err(KmodError::Cycle { cycle });
                }
                None => {}
            }
            state.insert(name.to_owned(), State::Visiting);
            path.push(name.to_owned());
            if let Some(meta) = index.modules.get(name) {
                let deps: BTreeSet<&String> =
                    meta.depends.iter().filter(|d| names.contains(*d)).collect();
                for dep in deps {
                    visit(index, names, dep, state, path, out)?;
                }
            }
            path.pop();
            state.insert(name.to_owned(), State::Done);
            out.push(name.to_owned());
            Ok(())
        }
        let mut state = BTreeMap::new();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            visit(self, names, name, &mut state, &mut Vec::new(), &mut out)?;
        }
        Ok(out)
    }

    /// Every transitive hard dependency of `name`, in modules.dep order: reversed load
    /// order (the last entry loads first). `order` is a topological order of the packed set.
    pub fn dep_line(&self, name: &str, order: &[String]) -> Vec<String> {
        let rank: BTreeMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = vec![name];
        while let Some(n) = stack.pop() {
            for dep in self
                .modules
                .get(n)
                .map(|m| m.depends.as_slice())
                .unwrap_or_default()
            {
                if rank.contains_key(dep.as_str()) && seen.insert(dep.as_str()) {
                    stack.push(dep);
                }
            }
        }
        let mut deps: Vec<&str> = seen.into_iter().collect();
        deps.sort_by_key(|d| std::cmp::Reverse(rank.get(d).copied().unwrap_or(0)));
        deps.into_iter().map(str::to_owned).collect()
    }

    /// `modules.dep` for the packed modules (`load_order` from [`Index::resolve`]), one line
    /// per module, sorted by path.
    pub fn modules_dep(&self, load_order: &[String]) -> String {
        let mut lines: Vec<String> = load_order
            .iter()
            .filter_map(|name| {
                let meta = self.modules.get(name)?;
                let deps: Vec<&str> = self
                    .dep_line(name, load_order)
                    .iter()
                    .filter_map(|d| self.modules.get(d).map(|m| m.path.as_str()))
                    .collect();
                Some(if deps.is_empty() {
                    format!("{}:", meta.path)
                } else {
                    format!("{}: {}", meta.path, deps.join(" "))
                })
            })
            .collect();
        lines.sort();
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// `modules.alias`: every alias of every packed module, sorted.
    pub fn modules_alias(&self, packed: &[String]) -> String {
        let mut pairs: Vec<(&str, &str)> = packed
            .iter()
            .filter_map(|n| self.modules.get(n))
            .flat_map(|m| m.aliases.iter().map(|a| (a.as_str(), m.name.as_str())))
            .collect();
        pairs.sort();
        pairs.dedup();
        pairs
            .iter()
            .map(|(a, n)| format!("alias {a} {n}\n"))
            .collect()
    }

    /// `modules.softdep`: one line per packed module that has soft dependencies, sorted.
    pub fn modules_softdep(&self, packed: &[String]) -> String {
        let mut names: Vec<&String> = packed.iter().collect();
        names.sort();
        names
            .into_iter()
            .filter_map(|n| self.modules.get(n))
            .filter(|m| !m.softdep_pre.is_empty() || !m.softdep_post.is_empty())
            .map(|m| {
                let mut line = format!("softdep {}", m.name);
                for (label, list) in [("pre:", &m.softdep_pre), ("post:", &m.softdep_post)] {
                    if !list.is_empty() {
                        line.push_str(&format!(" {label} {}", list.join(" ")));
                    }
                }
                line.push('\n');
                line
            })
            .collect()
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Names from a `modules.builtin` (`kernel/net/packet/af_packet.ko` -> `af_packet`).
pub fn parse_builtin(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let file = l.rsplit('/').next().unwrap_or(l);
            normalize(file.strip_suffix(".ko").unwrap_or(file))
        })
        .collect()
}

/// A scanned `lib/modules/<kver>` directory.
#[derive(Debug, Clone)]
pub struct Tree {
    pub dir: PathBuf,
    /// The kernel release, the directory's name.
    pub kver: String,
    pub index: Index,
    /// `modules.builtin` as found (empty when the tree has none).
    pub builtin_text: String,
    /// Module name -> file on disk (maybe compressed).
    sources: BTreeMap<String, PathBuf>,
}

impl Tree {
    /// The file a module comes from (maybe compressed: read it with [`read_module`]).
    pub fn source(&self, name: &str) -> Option<&Path> {
        self.sources.get(name).map(PathBuf::as_path)
    }

    /// The architecture the modules are built for, from the ELF header of the first one;
    /// `None` for a tree without modules.
    pub fn arch(&self) -> Result<Option<testbed::Arch>> {
        let Some(path) = self.sources.values().next() else {
            return Ok(None);
        };
        let module = read_module(path)?;
        testbed::Arch::of_elf(&module).map(Some).with_context(|| {
            format!(
                "{} is not a module for an architecture diskless builds for (x86_64, arm64)",
                path.display()
            )
        })
    }
}

/// Indexes every module under `dir` (a `lib/modules/<kver>` directory) by reading its
/// `.modinfo`. Symlinks (`build`, `source`) are not followed.
pub fn scan(dir: &Path) -> Result<Tree> {
    let kver = dir
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("module directory {} has no usable name", dir.display()))?
        .to_owned();
    let looks_right = ["kernel", "modules.builtin", "modules.order"]
        .iter()
        .any(|f| dir.join(f).exists());
    if !looks_right {
        bail!(
            "{} does not look like lib/modules/<kernel version> (no kernel/, modules.builtin or modules.order)",
            dir.display()
        );
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();

    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = files.len().div_ceil(threads).max(1);
    let scanned: Vec<Result<(ModuleMeta, PathBuf)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(rel, source)| {
                            Ok((
                                modinfo_of(&read_module(source)?, rel, source)?,
                                source.clone(),
                            ))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join().unwrap_or_else(|_| {
                    vec![Err(anyhow::anyhow!("a module scanning thread panicked"))]
                })
            })
            .collect()
    });
    let mut metas = Vec::with_capacity(scanned.len());
    let mut by_path = BTreeMap::new();
    for item in scanned {
        let (meta, source) = item?;
        by_path.insert(meta.path.clone(), source);
        metas.push(meta);
    }

    let builtin_path = dir.join("modules.builtin");
    let builtin_text = match std::fs::read_to_string(&builtin_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", builtin_path.display())),
    };
    let index = Index::new(metas, parse_builtin(&builtin_text));
    let sources = index
        .modules
        .values()
        .filter_map(|m| Some((m.name.clone(), by_path.get(&m.path)?.clone())))
        .collect();
    Ok(Tree {
        dir: dir.to_owned(),
        kver,
        index,
        builtin_text,
        sources,
    })
}

/// Collects `(relative path, full path)` of module files.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("reading {}", path.display()))?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if MODULE_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel = rel
                    .to_str()
                    .with_context(|| format!("module path {} is not UTF-8", path.display()))?
                    .to_owned();
                out.push((rel, path));
            }
        }
    }
    Ok(())
}

/// A module file's bytes, decompressed according to its name.
pub fn read_module(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("reading module {}", path.display()))?;
    let name = path.to_string_lossy();
    let decompressed = if name.ends_with(".zst") {
        zstd::decode_all(raw.as_slice()).map_err(anyhow::Error::from)
    } else if name.ends_with(".xz") {
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut raw.as_slice(), &mut out)
            .map(|()| out)
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    } else if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map(|_| out)
            .map_err(anyhow::Error::from)
    } else {
        return Ok(raw);
    };
    decompressed.with_context(|| format!("decompressing module {}", path.display()))
}

fn modinfo_of(elf: &[u8], rel: &str, source: &Path) -> Result<ModuleMeta> {
    use object::{Object as _, ObjectSection as _};
    let file = object::File::parse(elf)
        .with_context(|| format!("parsing ELF of module {}", source.display()))?;
    let section = match file.section_by_name(".modinfo") {
        Some(s) => s
            .data()
            .with_context(|| format!("reading .modinfo of {}", source.display()))?,
        None => &[],
    };
    Ok(parse_modinfo(section, rel))
}

/// What [`pack`] put into the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    pub kver: String,
    /// `(name, uncompressed size)` in load order.
    pub modules: Vec<(String, u64)>,
    /// Requested names built into the kernel.
    pub builtin: Vec<String>,
    /// Optional requested names the kernel lacks.
    pub missing: Vec<String>,
}

/// Adds the closure of `requests` under `lib/modules/<kver>/`, decompressed, with the
/// index files.
pub fn pack(tree: &Tree, requests: &[Request], archive: &mut Archive) -> Result<Packed> {
    let resolution = tree.index.resolve(requests)?;
    let base = format!("lib/modules/{}", tree.kver);
    let mut modules = Vec::with_capacity(resolution.load_order.len());
    for name in &resolution.load_order {
        let (Some(meta), Some(source)) = (tree.index.modules.get(name), tree.sources.get(name))
        else {
            bail!("module {name} vanished from the index");
        };
        let data = read_module(source)?;
        modules.push((name.clone(), data.len() as u64));
        archive.file(&format!("{base}/{}", meta.path), 0o644, data)?;
    }
    let index = &tree.index;
    let order = &resolution.load_order;
    archive.dir(&base, 0o755)?;
    archive.file(
        &format!("{base}/modules.dep"),
        0o644,
        index.modules_dep(order).into_bytes(),
    )?;
    archive.file(
        &format!("{base}/modules.alias"),
        0o644,
        index.modules_alias(order).into_bytes(),
    )?;
    archive.file(
        &format!("{base}/modules.softdep"),
        0o644,
        index.modules_softdep(order).into_bytes(),
    )?;
    archive.file(
        &format!("{base}/modules.builtin"),
        0o644,
        tree.builtin_text.clone().into_bytes(),
    )?;
    Ok(Packed {
        kver: tree.kver.clone(),
        modules,
        builtin: resolution.builtin,
        missing: resolution.missing,
    })
}

#[cfg(test)]
mod tests;
