//! The module index the image carries, in kmod's own formats so that a busybox `modprobe` in
//! a rescue shell reads it too: `modules.dep` (`path: dep dep...`, dependencies listed so that
//! loading them from last to first works, as depmod writes them), `modules.alias`
//! (`alias <glob> <module>`) and `modules.builtin` (one `kernel/.../name.ko` a line).
//!
//! Pure: the init reads the files, this module answers "what to load, in which order".
//! Module names are normalised with `-` -> `_`, as the kernel does.

use std::collections::{BTreeMap, BTreeSet};

use crate::cmdline::modules::normalize_name;

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
    /// `(glob pattern, module name)` in file order; the pattern with `-` as `_` outside
    /// `[...]`, as kmod's binary index stores it.
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

/// kmod's `alias_normalize`: `-` as `_` except inside `[...]`, so that `fs-overlay` and
/// `fs_overlay` find the same module, as with modprobe.
fn normalize_alias(alias: &str) -> String {
    let mut out = String::with_capacity(alias.len());
    let mut in_class = false;
    for c in alias.chars() {
        match c {
            '[' => in_class = true,
            ']' => in_class = false,
            _ => {}
        }
        out.push(if c == '-' && !in_class { '_' } else { c });
    }
    out
}

/// Lines that carry data: numbered from 1, trimmed, blank lines and `#` comments dropped.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(k, line)| (k + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

impl ModuleIndex {
    /// Parses the three files' contents (any may be empty).
    pub fn parse(dep: &str, alias: &str, builtin: &str) -> Result<ModuleIndex, IndexError> {
        let mut index = ModuleIndex::default();
        for (line, text) in data_lines(dep) {
            let err = |reason| IndexError {
                file: "modules.dep",
                line,
                reason,
            };
            let (path, deps) = text
                .split_once(':')
                .ok_or(err("no ':' after the module path"))?;
            let path = path.trim();
            if path.is_empty() || path.contains(char::is_whitespace) {
                return Err(err("the module path is empty or has spaces"));
            }
            let name = normalize_name(path);
            if name.is_empty() {
                return Err(err("the module path has no module name"));
            }
            let entry = ModuleEntry {
                name: name.clone(),
                path: path.to_owned(),
                depends: deps.split_whitespace().map(normalize_name).collect(),
            };
            // Like kmod's lookup in the text file: the first line for a name wins.
            index.modules.entry(name).or_insert(entry);
        }
        for (line, text) in data_lines(alias) {
            let err = |reason| IndexError {
                file: "modules.alias",
                line,
                reason,
            };
            let mut words = text.split_whitespace();
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some("alias"), Some(pattern), Some(module), None) => {
                    index
                        .aliases
                        .push((normalize_alias(pattern), normalize_name(module)));
                }
                (Some("alias"), ..) => return Err(err("expected `alias <pattern> <module>`")),
                _ => return Err(err("not an `alias` line")),
            }
        }
        for (line, text) in data_lines(builtin) {
            if text.contains(char::is_whitespace) {
                return Err(IndexError {
                    file: "modules.builtin",
                    line,
                    reason: "path has spaces",
                });
            }
            let name = normalize_name(text);
            if !index.builtin.contains(&name) {
                index.builtin.push(name);
            }
        }
        Ok(index)
    }

    /// Resolves a name or alias (`fs-overlay`, `virtio:d00000001v00001AF4`,
    /// `pci:v00008086d0000100Esv...`) to module names, the way modprobe does: an exact module
    /// name first (loadable or built in), else every module whose alias glob matches (fnmatch
    /// `*`, `?`, `[...]`, both sides with `-` read as `_` outside brackets), each once, in
    /// alias-file order.
    pub fn resolve(&self, name_or_alias: &str) -> Vec<String> {
        let name = normalize_name(name_or_alias);
        // A path-like or dotted query is not a module name; only plain names are looked up.
        let plain = !name_or_alias.contains(['/', '.', ':']);
        if plain && (self.modules.contains_key(&name) || self.is_builtin(&name)) {
            return vec![name];
        }
        let wanted = normalize_alias(name_or_alias);
        let mut found: Vec<String> = Vec::new();
        for (pattern, module) in &self.aliases {
            if glob_match(pattern, &wanted) && !found.contains(module) {
                found.push(module.clone());
            }
        }
        found
    }

    /// Whether the kernel has this module built in (then there is nothing to load).
    pub fn is_builtin(&self, name: &str) -> bool {
        let name = normalize_name(name);
        self.builtin.contains(&name)
    }

    /// The modules to load for `wanted`, dependencies first, each once, skipping builtins,
    /// unknown names (returned in the second list, with dependencies that modules.dep names
    /// but does not list) and anything in `blacklist` (and what depends on it: a wanted module
    /// whose dependencies cannot all load is left out with all of them). Order among
    /// independent modules follows `wanted`; a module's own dependencies load in the order
    /// depmod intends (its list read from last to first). A dependency cycle (which depmod
    /// refuses, so only a hand-made index has one) is cut where it closes.
    pub fn load_order(
        &self,
        wanted: &[String],
        blacklist: &[String],
    ) -> (Vec<&ModuleEntry>, Vec<String>) {
        let blacklist: BTreeSet<String> = blacklist.iter().map(|b| normalize_name(b)).collect();
        let mut order = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        let mut note_unknown = |name: &str| {
            if !unknown.iter().any(|u| u == name) {
                unknown.push(name.to_owned());
            }
        };
        // Modules on the current path or in `order` already.
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for want in wanted {
            let names = self.resolve(want);
            if names.is_empty() {
                note_unknown(want);
            }
            for name in &names {
                let mut loadable = true;
                for member in self.closure(name) {
                    if self.is_builtin(member) {
                        continue;
                    }
                    if blacklist.contains(member) {
                        loadable = false;
                    } else if !self.modules.contains_key(member) {
                        note_unknown(member);
                        loadable = false;
                    }
                }
                if loadable {
                    self.postorder(name, &mut seen, &mut order);
                }
            }
        }
        (order, unknown)
    }

    /// `root` and every name it depends on, directly or not (iterative: a long or cyclic
    /// chain neither overflows PID 1's stack nor loops).
    fn closure<'a>(&'a self, root: &'a str) -> BTreeSet<&'a str> {
        let mut seen = BTreeSet::from([root]);
        let mut todo = vec![root];
        while let Some(name) = todo.pop() {
            for dep in self
                .modules
                .get(name)
                .map(|m| m.depends.as_slice())
                .unwrap_or_default()
            {
                if seen.insert(dep.as_str()) {
                    todo.push(dep);
                }
            }
        }
        seen
    }

    /// Appends `root`'s dependencies, then `root`, to `order`: a depth-first postorder that
    /// reads each dependency list from last to first and skips builtins and what is there.
    fn postorder<'a>(
        &'a self,
        root: &str,
        seen: &mut BTreeSet<&'a str>,
        order: &mut Vec<&'a ModuleEntry>,
    ) {
        let Some(entry) = self.modules.get(root) else {
            return;
        };
        if self.is_builtin(root) || !seen.insert(&entry.name) {
            return;
        }
        // Each frame: the module and how many of its dependencies (from the end) are done.
        let mut stack: Vec<(&'a ModuleEntry, usize)> = vec![(entry, 0)];
        while let Some((entry, done)) = stack.last_mut() {
            let entry: &'a ModuleEntry = entry;
            let next = entry.depends.len().checked_sub(*done + 1);
            let Some(dep) = next.and_then(|k| entry.depends.get(k)) else {
                stack.pop();
                order.push(entry);
                continue;
            };
            *done += 1;
            if self.is_builtin(dep) {
                continue;
            }
            // A seen dependency is loaded already, or on the path: a cycle, cut here.
            if let Some(dep_entry) = self.modules.get(dep) {
                if seen.insert(&dep_entry.name) {
                    stack.push((dep_entry, 0));
                }
            }
        }
    }
}

/// fnmatch(3) without flags: `*`, `?`, `[abc]`, `[a-z]`, `[!x]` (and `[^x]`), `\` quoting the
/// next character; as kmod matches aliases. Iterative with one backtrack point, so a pattern
/// like `*a*a*a*b` costs at most pattern × text steps, never exponential time.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    // Fast path: resolving one alias tries every line of a modules.alias with tens of
    // thousands, nearly all of which differ from the text before their first wildcard.
    let literal_end = pattern
        .bytes()
        .position(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'));
    let literal = literal_end
        .and_then(|end| pattern.get(..end))
        .unwrap_or(pattern);
    if !text.starts_with(literal) {
        return false;
    }
    if literal_end.is_none() {
        return pattern == text;
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // After a `*`: where in the pattern to resume, and the text position it has eaten up to.
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = text.get(t) {
        let step = match pattern.get(p) {
            Some('*') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match match_class(&pattern, p, c) {
                Some((true, len)) => Some(len),
                Some((false, _)) => None,
                // No closing `]`: the `[` is an ordinary character.
                None => (c == '[').then_some(1),
            },
            Some('\\') => match pattern.get(p + 1) {
                Some(&q) => (q == c).then_some(2),
                None => (c == '\\').then_some(1),
            },
            Some(&q) => (q == c).then_some(1),
            None => None,
        };
        match (step, star) {
            (Some(len), _) => {
                p += len;
                t += 1;
            }
            (None, Some((resume, eaten))) => {
                // Let the last `*` take one more character and retry from there.
                star = Some((resume, eaten + 1));
                p = resume;
                t = eaten + 1;
            }
            (None, None) => return false,
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|&q| q == '*')
}

/// Matches `c` against the bracket expression starting at `pattern[open]` (`[`): whether it
/// matches and the expression's length, or `None` when there is no closing `]`.
fn match_class(pattern: &[char], open: usize, c: char) -> Option<(bool, usize)> {
    let mut k = open + 1;
    let negate = matches!(pattern.get(k), Some('!' | '^'));
    if negate {
        k += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let mut lo = *pattern.get(k)?;
        // `]` right after `[` or `[!` is a member, not the end.
        if lo == ']' && !first {
            return Some((matched != negate, k + 1 - open));
        }
        first = false;
        if lo == '\\' {
            k += 1;
            lo = *pattern.get(k)?;
        }
        k += 1;
        let mut hi = lo;
        if pattern.get(k) == Some(&'-') && pattern.get(k + 1).is_some_and(|&n| n != ']') {
            hi = *pattern.get(k + 1)?;
            k += 2;
            if hi == '\\' {
                hi = *pattern.get(k)?;
                k += 1;
            }
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A fragment of a real modules.dep (a kernel with virtio as modules, compressed with
    /// zstd), as depmod writes it: each module's full dependency closure, to be loaded from
    /// last to first.
    const DEP: &str = "\
kernel/drivers/virtio/virtio_ring.ko.zst:
kernel/drivers/virtio/virtio.ko.zst: kernel/drivers/virtio/virtio_ring.ko.zst
kernel/net/core/failover.ko.zst:
kernel/drivers/net/net_failover.ko.zst: kernel/net/core/failover.ko.zst
kernel/drivers/net/virtio_net.ko.zst: kernel/drivers/net/net_failover.ko.zst kernel/net/core/failover.ko.zst kernel/drivers/virtio/virtio.ko.zst kernel/drivers/virtio/virtio_ring.ko.zst
kernel/drivers/virtio/virtio_pci_modern_dev.ko.zst:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko.zst:
kernel/drivers/virtio/virtio_pci.ko.zst: kernel/drivers/virtio/virtio_pci_legacy_dev.ko.zst kernel/drivers/virtio/virtio_pci_modern_dev.ko.zst kernel/drivers/virtio/virtio.ko.zst kernel/drivers/virtio/virtio_ring.ko.zst
kernel/fs/overlayfs/overlay.ko.zst:
kernel/fs/nfs/nfsv4.ko.zst: kernel/fs/nfs/nfs.ko.zst kernel/net/sunrpc/sunrpc.ko.zst
kernel/fs/nfs/nfs.ko.zst: kernel/net/sunrpc/sunrpc.ko.zst
kernel/net/sunrpc/sunrpc.ko.zst:
kernel/drivers/net/ethernet/intel/e1000/e1000.ko.zst:
";

    const ALIAS: &str = "\
# Aliases extracted from modules themselves.
alias virtio:d00000001v* virtio_net
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias fs-overlay overlay
alias nfs4 nfsv4
alias fs-nfs4 nfsv4
alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000
alias pci:v00008086d0000100Fsv*sd*bc*sc*i* e1000
";

    const BUILTIN: &str = "\
kernel/drivers/block/loop.ko
kernel/fs/squashfs/squashfs.ko
kernel/drivers/net/net-builtin-thing.ko
";

    fn index() -> ModuleIndex {
        ModuleIndex::parse(DEP, ALIAS, BUILTIN).unwrap()
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn order(wanted: &[&str], blacklist: &[&str]) -> (Vec<String>, Vec<String>) {
        let idx = index();
        let (mods, unknown) = idx.load_order(&strings(wanted), &strings(blacklist));
        (mods.into_iter().map(|m| m.name.clone()).collect(), unknown)
    }

    #[test]
    fn names_are_normalised_like_kmod() {
        let cases: &[(&str, &str)] = &[
            ("virtio-net", "virtio_net"),
            ("virtio_net", "virtio_net"),
            ("kernel/drivers/net/virtio_net.ko", "virtio_net"),
            ("kernel/drivers/net/virtio_net.ko.xz", "virtio_net"),
            ("kernel/drivers/net/virtio_net.ko.zst", "virtio_net"),
            ("kernel/drivers/net/virtio_net.ko.gz", "virtio_net"),
            ("kernel/fs/nls/nls-utf8.ko", "nls_utf8"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_name(input), *want, "{input}");
        }
    }

    #[test]
    fn parses_the_three_files() {
        let idx = index();
        let net = &idx.modules["virtio_net"];
        assert_eq!(net.path, "kernel/drivers/net/virtio_net.ko.zst");
        assert_eq!(
            net.depends,
            strings(&["net_failover", "failover", "virtio", "virtio_ring"])
        );
        assert!(idx.modules["virtio_ring"].depends.is_empty());
        assert_eq!(
            idx.aliases[2],
            ("fs_overlay".to_owned(), "overlay".to_owned())
        );
        assert_eq!(
            idx.builtin,
            strings(&["loop", "squashfs", "net_builtin_thing"])
        );
        assert_eq!(ModuleIndex::parse("", "", ""), Ok(ModuleIndex::default()));
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let cases: &[(&str, &str, &str, &str, usize)] = &[
            ("a.ko:\nkernel/b.ko kernel/c.ko\n", "", "", "modules.dep", 2),
            (": kernel/c.ko\n", "", "", "modules.dep", 1),
            ("", "# c\nalias x\n", "", "modules.alias", 2),
            ("", "alias a b c\n", "", "modules.alias", 1),
            ("", "options foo bar=1\n", "", "modules.alias", 1),
            ("", "", "\nkernel/a b.ko\n", "modules.builtin", 2),
        ];
        for (dep, alias, builtin, file, line) in cases {
            let err = ModuleIndex::parse(dep, alias, builtin).unwrap_err();
            assert_eq!((err.file, err.line), (*file, *line), "{err}");
            assert!(
                err.to_string().starts_with(&format!("{file} line {line}:")),
                "{err}"
            );
        }
    }

    #[test]
    fn resolves_names_and_aliases_like_modprobe() {
        let idx = index();
        let cases: &[(&str, &[&str])] = &[
            ("virtio_net", &["virtio_net"]),
            ("virtio-net", &["virtio_net"]),
            ("virtio:d00000001v00001AF4", &["virtio_net"]),
            (
                "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
                &["virtio_pci"],
            ),
            (
                "pci:v00008086d0000100Esv00008086sd0000001Ebc02sc00i00",
                &["e1000"],
            ),
            ("fs-overlay", &["overlay"]),
            ("fs_overlay", &["overlay"]),
            ("nfs4", &["nfsv4"]),
            ("squashfs", &["squashfs"]),
            ("virtio:d00000002v00001AF4", &[]),
            ("nope", &[]),
            ("kernel/fs/overlayfs/overlay.ko", &[]),
        ];
        for (query, want) in cases {
            assert_eq!(idx.resolve(query), strings(want), "{query}");
        }
        assert!(idx.is_builtin("squashfs"));
        assert!(idx.is_builtin("net-builtin-thing"));
        assert!(!idx.is_builtin("overlay"));
    }

    /// Wanted, blacklist, the load order, the unknown names.
    type OrderCase = (
        &'static [&'static str],
        &'static [&'static str],
        &'static [&'static str],
        &'static [&'static str],
    );

    #[test]
    fn load_order_puts_dependencies_first() {
        let cases: &[OrderCase] = &[
            (
                &["virtio_net"],
                &[],
                &[
                    "virtio_ring",
                    "virtio",
                    "failover",
                    "net_failover",
                    "virtio_net",
                ],
                &[],
            ),
            (
                &["virtio:d00000001v00001AF4", "fs-overlay"],
                &[],
                &[
                    "virtio_ring",
                    "virtio",
                    "failover",
                    "net_failover",
                    "virtio_net",
                    "overlay",
                ],
                &[],
            ),
            (
                // wanted order decides between independent modules; shared deps load once
                &["overlay", "virtio_pci", "virtio_net"],
                &[],
                &[
                    "overlay",
                    "virtio_ring",
                    "virtio",
                    "virtio_pci_modern_dev",
                    "virtio_pci_legacy_dev",
                    "virtio_pci",
                    "failover",
                    "net_failover",
                    "virtio_net",
                ],
                &[],
            ),
            (&["nfs4"], &[], &["sunrpc", "nfs", "nfsv4"], &[]),
            (&["squashfs", "loop", "overlay"], &[], &["overlay"], &[]),
            (&["nope", "overlay", "nope"], &[], &["overlay"], &["nope"]),
            // blacklisting a dependency drops what needs it, not the rest
            (
                &["virtio_net", "overlay"],
                &["net-failover"],
                &["overlay"],
                &[],
            ),
            (
                &["virtio_pci", "virtio_net"],
                &["virtio_net"],
                &[
                    "virtio_ring",
                    "virtio",
                    "virtio_pci_modern_dev",
                    "virtio_pci_legacy_dev",
                    "virtio_pci",
                ],
                &[],
            ),
            (&["e1000"], &["e1000"], &[], &[]),
        ];
        for (wanted, blacklist, want, unknown) in cases {
            assert_eq!(
                order(wanted, blacklist),
                (strings(want), strings(unknown)),
                "wanted {wanted:?}, blacklist {blacklist:?}"
            );
        }
    }

    #[test]
    fn a_cycle_or_a_missing_dependency_does_not_hang() {
        let dep = "a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\nd.ko: gone.ko\ne.ko: d.ko\n";
        let idx = ModuleIndex::parse(dep, "", "").unwrap();
        let (mods, unknown) = idx.load_order(&strings(&["a", "e"]), &[]);
        let names: Vec<_> = mods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["c", "b", "a"]);
        assert_eq!(unknown, strings(&["gone"]));
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let mut dep: String = (0..99_999)
            .map(|k| format!("m{k}.ko: m{}.ko\n", k + 1))
            .collect();
        dep.push_str("m99999.ko:\n");
        let idx = ModuleIndex::parse(&dep, "", "").unwrap();
        let (mods, unknown) = idx.load_order(&strings(&["m0"]), &[]);
        assert_eq!(mods.len(), 100_000);
        assert_eq!(
            (mods[0].name.as_str(), mods[99_999].name.as_str()),
            ("m99999", "m0")
        );
        assert!(unknown.is_empty());
        let (mods, _) = idx.load_order(&strings(&["m0"]), &strings(&["m5"]));
        assert!(mods.is_empty(), "m0 needs the blacklisted m5");
    }

    #[test]
    fn glob_match_is_fnmatch() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "anything/at:all", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("virtio:d00000001v*", "virtio:d00000001v00001AF4", true),
            ("virtio:d00000001v*", "virtio:d00000002v00001AF4", false),
            (
                "pci:v00008086d0000100Esv*sd*bc*sc*i*",
                "pci:v00008086d0000100Esv00008086sd0000001Ebc02sc00i00",
                true,
            ),
            ("[abc]x", "bx", true),
            ("[abc]x", "dx", false),
            ("[a-f]", "e", true),
            ("[a-f]", "g", false),
            ("[!a-f]", "g", true),
            ("[^a-f]", "a", false),
            ("[]]", "]", true),
            ("[!]]", "]", false),
            ("[a-]", "-", true),
            ("[", "[", true),
            ("[ab", "[ab", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("[\\]]", "]", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            (
                "*a*a*a*a*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
            (
                "usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*",
                "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00",
                true,
            ),
            ("é?", "éü", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob_match(pattern, text), *want, "{pattern:?} vs {text:?}");
        }
    }

    #[test]
    fn glob_match_is_not_exponential() {
        let pattern = "*a".repeat(200) + "b";
        let text = "a".repeat(5000);
        let start = std::time::Instant::now();
        assert!(!glob_match(&pattern, &text));
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn resolving_against_a_distro_sized_alias_file_is_quick() {
        // Fedora's modules.alias has about 30,000 lines; coldplug resolves one per device.
        let alias: String = (0..30_000)
            .map(|k| format!("alias pci:v0000{:04X}d*sv*sd*bc*sc*i* m{k}\n", k % 0x10000))
            .collect();
        let idx = ModuleIndex::parse("", &alias, "").unwrap();
        let start = std::time::Instant::now();
        for _ in 0..20 {
            let found = idx.resolve("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00");
            assert_eq!(found, strings(&["m6900"]));
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    /// Alias-like text: what module aliases are made of.
    fn alias_text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9:_*?\\[\\]!^-]{0,16}"
    }

    /// `text` as a pattern that matches it literally: every special character quoted.
    fn escaped(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Any text, quoted, matches itself and nothing else, as modprobe reads an alias
        /// with `\` before its wildcards.
        #[test]
        fn quoted_text_matches_only_itself(text in alias_text(), other in alias_text()) {
            let pattern = escaped(&text);
            prop_assert!(glob_match(&pattern, &text), "{} vs {}", pattern, text);
            prop_assert_eq!(glob_match(&pattern, &other), other == text);
        }

        /// `prefix*` matches every text that starts with the prefix, as
        /// `alias pci:v00008086d* e1000` does every Intel device.
        #[test]
        fn a_trailing_star_matches_any_rest(prefix in "[a-z0-9:]{0,10}", rest in alias_text()) {
            let pattern = format!("{}*", escaped(&prefix));
            let text = format!("{prefix}{rest}");
            prop_assert!(glob_match(&pattern, &text), "{} vs {}", pattern, text);
        }

        /// Any pattern against any text returns, never panics.
        #[test]
        fn any_pattern_returns(
            pattern in proptest::collection::vec(
                proptest::sample::select(vec!['[', ']', '!', '^', '-', '\\', '*', '?', 'a', 'b']),
                0..9,
            ),
            text in "[ab\\[\\]*?-]{0,6}",
        ) {
            let pattern: String = pattern.into_iter().collect();
            let _ = glob_match(&pattern, &text);
        }
    }
}
