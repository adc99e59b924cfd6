//! The module graph of a Rust crate, read from its sources: import cycles and layering, for
//! the tidy tests (`tests/tidy.rs`).
//!
//! A reference is a path in code that names a module of the crate: a `use` tree leaf (braces,
//! `self`, `super`, `crate`, `as`, globs) or an inline path (`crate::a::f()`, `super::x::Y`,
//! `child::f()`, `imported::Z`). It is resolved as rustc resolves names, as far as modules go:
//! a child module first, then the module's own `use` bindings, so `crate::Qemu` re-exported
//! by `pub use qemu::Qemu` is a reference to `qemu`, where the item is, not to the facade;
//! the re-export itself is no reference (it names the item for others, it does not use it).
//! Anything else (std, other crates, local names) is ignored, and so are comments, literals
//! and attributes. A glob binds no names: `use super::*` is one reference to the parent.
//!
//! In a folder (any module with children) the nodes are its children plus the folder's own
//! file, shown as `image (mod.rs)`: an edge A -> B is a reference from A's subtree into B's.
//! A child using an item of that file (`super::Failure`) is an edge to that node, so when the
//! file also calls the child, `fetch -> image (mod.rs) -> fetch` is a cycle: shared items
//! belong in a leaf both import, not in the file that drives its children.
//!
//! Code under `#[cfg(test)]` (a test module inline or in its file, a test-only item or `use`)
//! is left out: tests may reach up for fixtures, and they do not ship.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::Path;

/// A module path below the crate root (`[]` is the root, `["image", "fetch"]`).
type ModPath = Vec<String>;

/// One reference from a module into another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub from: ModPath,
    pub to: ModPath,
    pub file: String,
    pub line: usize,
    /// The path as written (`super::http::Transport`).
    pub text: String,
}

/// An edge of a folder's graph: its first reference, and how many there are.
#[derive(Debug, Clone)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub example: Reference,
    pub count: usize,
}

/// A strongly connected set of a folder's nodes, with every edge among them.
#[derive(Debug)]
pub struct Cycle {
    /// `crate::image (src/image/mod.rs)`.
    pub folder: String,
    pub members: Vec<String>,
    /// A shortest cycle through the first member, which it repeats at the end.
    pub shortest: Vec<String>,
    pub edges: Vec<Edge>,
}

/// A breach of a layer table ([`check_layers`]).
#[derive(Debug)]
pub enum Violation {
    /// `layers`: the layers of `edge.from` and `edge.to`.
    Upward {
        edge: Edge,
        layers: [usize; 2],
    },
    Unlisted(String),
}

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.example;
        write!(
            f,
            "{} -> {}: {}:{}: {}",
            self.from, self.to, r.file, r.line, r.text
        )?;
        match self.count {
            1 => Ok(()),
            n => write!(f, " (+{} more)", n - 1),
        }
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "cycle in {}: {}", self.folder, self.members.join(", "))?;
        writeln!(f, "  e.g. {}", self.shortest.join(" -> "))?;
        self.edges
            .iter()
            .try_for_each(|edge| writeln!(f, "  {edge}"))
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Upward {
                edge,
                layers: [from, to],
            } => {
                write!(f, "layer {from} uses layer {to}: {edge}")
            }
            Violation::Unlisted(module) => write!(f, "{module} is in no layer: place it"),
        }
    }
}

#[derive(Debug, Default)]
struct Module {
    file: String,
    children: BTreeSet<String>,
    /// `use` bindings: name -> path as written in this module.
    bindings: BTreeMap<String, ModPath>,
}

/// A folder's graph: edges by (from, to) node, with their references.
type Edges<'a> = BTreeMap<(String, String), Vec<&'a Reference>>;

/// A crate's modules and the references between them.
#[derive(Debug)]
pub struct Tree {
    modules: BTreeMap<ModPath, Module>,
    references: Vec<Reference>,
}

impl Tree {
    /// The crate rooted at `root` (`src/lib.rs`), its files given as (path, text).
    pub fn from_sources(root: &str, files: &[(&str, &str)]) -> Result<Tree, String> {
        let files: BTreeMap<&str, &str> = files.iter().copied().collect();
        Tree::build(root, &mut |path| {
            files.get(path).map(|text| text.to_string())
        })
    }

    /// The crate rooted at `base/root`; files are named relative to `base`.
    pub fn from_dir(base: &Path, root: &str) -> Result<Tree, String> {
        Tree::build(root, &mut |path| {
            std::fs::read_to_string(base.join(path)).ok()
        })
    }

    fn build(root: &str, read: &mut dyn FnMut(&str) -> Option<String>) -> Result<Tree, String> {
        let mut builder = Builder {
            read,
            modules: BTreeMap::new(),
            raw: Vec::new(),
            missing: Vec::new(),
        };
        if !builder.load(&[], &[(root.to_string(), dirname(root))]) {
            builder.missing.push(root.to_string());
        }
        if !builder.missing.is_empty() {
            return Err(format!(
                "module files not found: {}",
                builder.missing.join(", ")
            ));
        }
        let mut tree = Tree {
            modules: builder.modules,
            references: Vec::new(),
        };
        for (from, path, file, line) in builder.raw {
            if let Some(to) = tree.resolve(&from, &path, 0) {
                let text = path.join("::");
                tree.references.push(Reference {
                    from,
                    to,
                    file,
                    line,
                    text,
                });
            }
        }
        // Examples then come in file order, the first reference of an edge first.
        tree.references
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Ok(tree)
    }

    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    fn children(&self, module: &[String]) -> Option<&BTreeSet<String>> {
        self.modules.get(module).map(|m| &m.children)
    }

    /// The module `path`, as written in `module`, names; `None` outside the crate.
    fn resolve(&self, module: &[String], path: &[String], depth: usize) -> Option<ModPath> {
        let (first, rest) = path.split_first()?;
        // Bindings may point at each other; a loop does not compile, so it is no reference.
        if depth > 16 {
            return None;
        }
        let mut at = match first.as_str() {
            "crate" => Vec::new(),
            "self" => module.to_vec(),
            "super" => module.split_last()?.1.to_vec(),
            name if self.children(module)?.contains(name) => {
                [module, std::slice::from_ref(first)].concat()
            }
            name => {
                let bound = self.modules.get(module)?.bindings.get(name)?;
                return self.resolve(module, &[bound.as_slice(), rest].concat(), depth + 1);
            }
        };
        for (k, segment) in rest.iter().enumerate() {
            if segment == "super" {
                at.pop()?;
            } else if self.children(&at)?.contains(segment) {
                at.push(segment.clone());
            } else if let Some(bound) = self.modules.get(&at)?.bindings.get(segment) {
                let tail = rest.get(k + 1..).unwrap_or_default();
                return self.resolve(&at, &[bound.as_slice(), tail].concat(), depth + 1);
            } else if segment != "self" {
                break;
            }
        }
        Some(at)
    }

    /// The graph of the folder `folder`, and the name of the node of its own file.
    fn edges(&self, folder: &[String]) -> (Edges<'_>, String) {
        let name = folder.last().map_or("crate", String::as_str);
        let file = self
            .modules
            .get(folder)
            .map(|m| m.file.as_str())
            .unwrap_or_default();
        let own = format!("{name} ({})", file.rsplit('/').next().unwrap_or_default());
        let node = |path: &[String]| {
            let below = path.strip_prefix(folder)?;
            Some(below.first().cloned().unwrap_or_else(|| own.clone()))
        };
        let mut edges = Edges::new();
        for reference in &self.references {
            if let (Some(from), Some(to)) = (node(&reference.from), node(&reference.to)) {
                if from != to {
                    edges.entry((from, to)).or_default().push(reference);
                }
            }
        }
        (edges, own)
    }

    /// Every cycle among siblings, in every folder.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut cycles = Vec::new();
        for (folder, module) in self.modules.iter().filter(|(_, m)| !m.children.is_empty()) {
            let (edges, _) = self.edges(folder);
            let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for (from, to) in edges.keys() {
                next.entry(from).or_default().insert(to);
            }
            // Components by mutual reachability: a folder has tens of nodes at most, so this
            // is as quick as Tarjan's algorithm and plainly right.
            let reach: BTreeMap<&str, BTreeSet<&str>> = next
                .keys()
                .map(|&node| (node, reachable(&next, node)))
                .collect();
            let mut seen = BTreeSet::new();
            for (node, reached) in &reach {
                let members: Vec<&str> = (reached.iter().copied())
                    .filter(|other| reach.get(other).is_some_and(|r| r.contains(node)))
                    .collect();
                if members.len() < 2 || !seen.insert(members.clone()) {
                    continue;
                }
                let edges = (edges.iter())
                    .filter(|((from, to), _)| {
                        members.contains(&&**from) && members.contains(&&**to)
                    })
                    .filter_map(|((from, to), refs)| edge(from, to, refs))
                    .collect();
                cycles.push(Cycle {
                    folder: format!("{} ({})", display_module(folder), module.file),
                    shortest: shortest_cycle(&next, &members),
                    members: members.iter().map(ToString::to_string).collect(),
                    edges,
                });
            }
        }
        cycles
    }
}

fn edge(from: &str, to: &str, refs: &[&Reference]) -> Option<Edge> {
    let example = (*refs.first()?).clone();
    Some(Edge {
        from: from.into(),
        to: to.into(),
        example,
        count: refs.len(),
    })
}

fn display_module(path: &[String]) -> String {
    std::iter::once("crate")
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("::")
}

fn reachable<'a>(next: &BTreeMap<&str, BTreeSet<&'a str>>, start: &'a str) -> BTreeSet<&'a str> {
    let (mut seen, mut queue) = (BTreeSet::new(), VecDeque::from([start]));
    while let Some(node) = queue.pop_front() {
        for &to in next.get(node).into_iter().flatten() {
            if seen.insert(to) {
                queue.push_back(to);
            }
        }
    }
    seen
}

/// A shortest path from the first member back to itself, through members only.
fn shortest_cycle(next: &BTreeMap<&str, BTreeSet<&str>>, members: &[&str]) -> Vec<String> {
    let start = members.first().copied().unwrap_or_default();
    let (mut seen, mut queue) = (BTreeSet::new(), VecDeque::from([vec![start]]));
    while let Some(path) = queue.pop_front() {
        let last = path.last().copied().unwrap_or_default();
        for &to in next
            .get(last)
            .into_iter()
            .flatten()
            .filter(|to| members.contains(to))
        {
            let longer = [path.as_slice(), &[to]].concat();
            if to == start {
                return longer.iter().map(ToString::to_string).collect();
            }
            if seen.insert(to) {
                queue.push_back(longer);
            }
        }
    }
    Vec::new()
}

/// Checks the children of `folder` (`"crate"`, `"crate::image"`) against `layers`, lowest
/// first: a module may use its own layer and lower ones, never a higher one, and every child
/// must be listed. A name listed but absent is fine (a module may be on its way). The
/// folder's own file is in no layer: it declares them all.
pub fn check_layers(tree: &Tree, folder: &str, layers: &[&[&str]]) -> Vec<Violation> {
    let folder: ModPath = (folder.split("::"))
        .filter(|s| !s.is_empty() && *s != "crate")
        .map(str::to_string)
        .collect();
    let layer = |name: &str| layers.iter().position(|layer| layer.contains(&name));
    let children = tree.children(&folder).into_iter().flatten();
    let unlisted = children.filter(|child| layer(child).is_none());
    let mut violations: Vec<Violation> = unlisted
        .map(|child| Violation::Unlisted(child.clone()))
        .collect();
    for ((from, to), refs) in tree.edges(&folder).0 {
        if let (Some(low), Some(high)) = (layer(&from), layer(&to)) {
            if let Some(edge) = edge(&from, &to, &refs).filter(|_| high > low) {
                violations.push(Violation::Upward {
                    edge,
                    layers: [low, high],
                });
            }
        }
    }
    violations
}

struct Builder<'a> {
    read: &'a mut dyn FnMut(&str) -> Option<String>,
    modules: BTreeMap<ModPath, Module>,
    /// (module, path as written, file, line), resolved once every module is known.
    raw: Vec<(ModPath, ModPath, String, usize)>,
    missing: Vec<String>,
}

impl Builder<'_> {
    /// Loads the first of `candidates` (file, folder of its children) that exists; false if
    /// none does or the file is test-only.
    fn load(&mut self, module: &[String], candidates: &[(String, String)]) -> bool {
        let found = candidates
            .iter()
            .find_map(|(file, dir)| Some((file, (self.read)(file)?, dir)));
        let Some((file, text, children)) = found else {
            return false;
        };
        let tokens = lex(&text);
        if inner_cfg_test(&tokens) {
            return false;
        }
        self.add(module, file);
        self.body(&tokens, module, file, [children, &dirname(file)]);
        true
    }

    /// One module's items. `dirs`: where child files are, where `#[path]` starts from.
    fn body(&mut self, tokens: &[Token], module: &[String], file: &str, dirs: [&str; 2]) {
        let [children, path_dir] = dirs;
        let peek = |at: usize| tokens.get(at).map(|t| &t.0);
        let (mut i, mut skip_item, mut path_attr) = (0, false, None);
        while let Some((tok, line)) = tokens.get(i) {
            let inner = peek(i + 1) == Some(&Tok::Punct('!'));
            let open = i + 1 + usize::from(inner);
            match tok {
                Tok::Punct('#') if peek(open) == Some(&Tok::Punct('[')) => {
                    let close = matching(tokens, open);
                    let attr = tokens.get(open + 1..close).unwrap_or_default();
                    skip_item |= !inner && is_cfg_test(attr);
                    if let [(Tok::Ident(key), _), _, (Tok::Str(value), _)] = attr {
                        if key == "path" {
                            path_attr = Some(value.clone());
                        }
                    }
                    i = close + 1;
                }
                _ if skip_item => (i, skip_item) = (item_end(tokens, i), false),
                Tok::Ident(word) if word == "mod" => {
                    let path_attr = path_attr.take();
                    let Some(Tok::Ident(name)) = peek(i + 1) else {
                        i += 1;
                        continue;
                    };
                    let child: ModPath = [module, std::slice::from_ref(name)].concat();
                    let child_dir = join(children, name);
                    i = if peek(i + 2) == Some(&Tok::Punct('{')) {
                        let close = matching(tokens, i + 2);
                        let inner = tokens.get(i + 3..close).unwrap_or_default();
                        if !inner_cfg_test(inner) {
                            self.add(&child, file);
                            self.body(inner, &child, file, [&child_dir, &child_dir]);
                        }
                        close + 1
                    } else {
                        let candidates = match path_attr {
                            Some(path) => {
                                vec![(join(path_dir, &path), dirname(&join(path_dir, &path)))]
                            }
                            None => vec![
                                (format!("{child_dir}.rs"), child_dir.clone()),
                                (format!("{child_dir}/mod.rs"), child_dir.clone()),
                            ],
                        };
                        let unread =
                            |b: &mut Self| candidates.iter().all(|(f, _)| (b.read)(f).is_none());
                        if !self.load(&child, &candidates) && unread(self) {
                            self.missing.push(format!("{file}: mod {name}"));
                        }
                        i + 2
                    };
                }
                Tok::Ident(word) if word == "use" => {
                    let reexport = is_pub(tokens, i);
                    let mut leaves = Vec::new();
                    i = use_tree(tokens, i + 1, Vec::new(), &mut leaves);
                    for (path, binding, line) in leaves {
                        if let (Some(name), Some(m)) = (binding, self.modules.get_mut(module)) {
                            m.bindings.insert(name, path.clone());
                        }
                        // A re-export only names the item for others; whoever uses the name
                        // is led to the module that has it.
                        if !reexport {
                            self.raw.push((module.to_vec(), path, file.into(), line));
                        }
                    }
                }
                Tok::Ident(first) if peek(i + 1) == Some(&Tok::PathSep) => {
                    let before = |k: usize| i.checked_sub(k).and_then(peek);
                    // `Foo::<T>::bar` continues a path; `pub(in super::super)` is a visibility.
                    let continuation = before(1) == Some(&Tok::PathSep);
                    let visibility = matches!(before(1), Some(Tok::Ident(w)) if w == "in")
                        && before(2) == Some(&Tok::Punct('('));
                    let mut path = vec![first.clone()];
                    while let (Some(Tok::PathSep), Some(Tok::Ident(next))) =
                        (peek(i + 1), peek(i + 2))
                    {
                        path.push(next.clone());
                        i += 2;
                    }
                    i += 1;
                    if !continuation && !visibility {
                        self.raw.push((module.to_vec(), path, file.into(), *line));
                    }
                }
                _ => i += 1,
            }
        }
    }

    /// Records `module`, written in `file`, as a child of its parent.
    fn add(&mut self, module: &[String], file: &str) {
        let entry = Module {
            file: file.into(),
            ..Module::default()
        };
        self.modules.insert(module.to_vec(), entry);
        if let Some((name, parent)) = module.split_last() {
            self.modules
                .entry(parent.to_vec())
                .or_default()
                .children
                .insert(name.clone());
        }
    }
}

/// Whether the `use` at `at` is `pub`, `pub(crate)`, `pub(super)` or `pub(in ...)`.
fn is_pub(tokens: &[Token], at: usize) -> bool {
    let ident = |k: usize, w: &str| matches!(tokens.get(k), Some((Tok::Ident(x), _)) if x == w);
    let Some(before) = at.checked_sub(1) else {
        return false;
    };
    if ident(before, "pub") {
        return true;
    }
    if !matches!(tokens.get(before), Some((Tok::Punct(')'), _))) {
        return false;
    }
    let open = (0..before)
        .rev()
        .find(|&k| matches!(tokens.get(k), Some((Tok::Punct('('), _))));
    open.and_then(|k| k.checked_sub(1))
        .is_some_and(|k| ident(k, "pub"))
}

/// A `use` tree's leaves: (path, name it binds, line).
type Leaves = Vec<(ModPath, Option<String>, usize)>;

/// Reads one use tree from `i` on top of `path`; returns the index after it.
fn use_tree(tokens: &[Token], mut i: usize, mut path: ModPath, out: &mut Leaves) -> usize {
    let peek = |at: usize| tokens.get(at).map(|t| &t.0);
    while let Some((tok, line)) = tokens.get(i) {
        match tok {
            // `use ::name` is another crate.
            Tok::PathSep if path.is_empty() => return item_end(tokens, i),
            Tok::Punct('*') => {
                out.push(([path.as_slice(), &["*".into()]].concat(), None, *line));
                return i + 1;
            }
            Tok::Punct('{') => loop {
                i += 1;
                match peek(i) {
                    None => return i,
                    Some(Tok::Punct('}')) => return i + 1,
                    Some(Tok::Punct(',')) => {}
                    Some(_) => i = use_tree(tokens, i, path.clone(), out) - 1,
                }
            },
            Tok::Ident(name) if peek(i + 1) == Some(&Tok::PathSep) => path.push(name.clone()),
            Tok::Ident(name) => {
                // `a::{self}` is `a`.
                if name != "self" || path.is_empty() {
                    path.push(name.clone());
                }
                let mut binding = path.last().cloned();
                if matches!(peek(i + 1), Some(Tok::Ident(word)) if word == "as") {
                    binding = match peek(i + 2) {
                        Some(Tok::Ident(alias)) if alias != "_" => Some(alias.clone()),
                        _ => None,
                    };
                    i += 2;
                }
                out.push((path, binding, *line));
                return i + 1;
            }
            Tok::PathSep => {}
            _ => return i + 1,
        }
        i += 1;
    }
    i
}

/// `#![cfg(test)]` among a body's leading inner attributes.
fn inner_cfg_test(tokens: &[Token]) -> bool {
    let mut i = 0;
    while tokens
        .get(i..i + 3)
        .is_some_and(|t| t.iter().map(|t| &t.0).eq(&INNER_ATTR))
    {
        let close = matching(tokens, i + 2);
        if is_cfg_test(tokens.get(i + 3..close).unwrap_or_default()) {
            return true;
        }
        i = close + 1;
    }
    false
}

const INNER_ATTR: [Tok; 3] = [Tok::Punct('#'), Tok::Punct('!'), Tok::Punct('[')];

fn is_cfg_test(attr: &[Token]) -> bool {
    let words = ["cfg", "(", "test", ")"];
    attr.len() == 4
        && attr.iter().zip(words).all(|((tok, _), word)| match tok {
            Tok::Ident(w) => w == word,
            Tok::Punct(c) => word.starts_with(*c),
            _ => false,
        })
}

/// The index of the bracket closing the one at `open` (or the end).
fn matching(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, (tok, _)) in tokens.iter().enumerate().skip(open) {
        match tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') if depth <= 1 => return k,
            Tok::Punct(')' | ']' | '}') => depth -= 1,
            _ => {}
        }
    }
    tokens.len()
}

/// The index after the item starting at `i`: after its `;` or its braced body.
fn item_end(tokens: &[Token], mut i: usize) -> usize {
    while let Some((tok, _)) = tokens.get(i) {
        match tok {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => return matching(tokens, i) + 1,
            Tok::Punct('(' | '[') => i = matching(tokens, i) + 1,
            _ => i += 1,
        }
    }
    i
}

fn dirname(path: &str) -> String {
    path.rsplit_once('/').map_or("", |(dir, _)| dir).to_string()
}

/// `dir/rel`, with `.` and `..` folded (`#[path = "../x.rs"]`).
fn join(dir: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in dir.split('/').chain(rel.split('/')) {
        match part {
            "." | "" => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => drop(parts.pop()),
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// A string literal's text, escapes left as they are (enough for `#[path]`).
    Str(String),
    Punct(char),
    PathSep,
    /// Any other literal, or a lifetime.
    Other,
}

/// A token and its line.
type Token = (Tok, usize);

/// Rust source to tokens, without comments, and literals as opaque tokens.
fn lex(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let word_end = |k: usize| (k..).find(|&k| !is_ident(at(k))).unwrap_or(k);
    let text_of = |from: usize, to: usize| chars.get(from..to).unwrap_or_default().iter().collect();
    // The index after a quoted literal opening at `k`; raw with `hashes` if `Some`.
    let literal_end = |mut k: usize, raw: Option<usize>| {
        let (quote, hashes) = (at(k), raw.unwrap_or(0));
        while k + 1 < chars.len() {
            k += 1;
            match at(k) {
                '\\' if raw.is_none() => k += 1,
                c if c == quote && (1..=hashes).all(|h| at(k + h) == '#') => return k + 1 + hashes,
                _ => {}
            }
        }
        chars.len()
    };
    let (mut i, mut tokens, mut line, mut counted) = (0, Vec::new(), 1, 0);
    while i < chars.len() {
        let start = i;
        let tok = match at(i) {
            '/' if at(i + 1) == '/' => {
                i = (i..chars.len())
                    .find(|&k| at(k) == '\n')
                    .unwrap_or(chars.len());
                None
            }
            '/' if at(i + 1) == '*' => {
                let mut depth = 0usize;
                while i < chars.len() {
                    match (at(i), at(i + 1)) {
                        ('/', '*') => (depth, i) = (depth + 1, i + 2),
                        ('*', '/') => (depth, i) = (depth.saturating_sub(1), i + 2),
                        _ => i += 1,
                    }
                    if depth == 0 {
                        break;
                    }
                }
                None
            }
            '"' => {
                i = literal_end(i, None);
                Some(Tok::Str(text_of(start + 1, i.saturating_sub(1))))
            }
            '\'' => {
                // A char literal closes after one char or an escape; a lifetime or label never.
                i = match (at(i + 1), at(i + 2)) {
                    ('\\', _) => literal_end(i, None),
                    (_, '\'') => i + 3,
                    _ => word_end(i + 1),
                };
                Some(Tok::Other)
            }
            // Numbers read as words too: no path starts with one.
            c if is_ident(c) => {
                i = word_end(i);
                let word: String = text_of(start, i);
                let hashes = (i..).take_while(|&k| at(k) == '#').count();
                Some(match word.as_str() {
                    "r" | "br" | "cr" if at(i + hashes) == '"' => {
                        i = literal_end(i + hashes, Some(hashes));
                        Tok::Other
                    }
                    "b" | "c" if at(i) == '"' || (word == "b" && at(i) == '\'') => {
                        i = literal_end(i, None);
                        Tok::Other
                    }
                    // A raw identifier, `r#type`.
                    "r" if hashes == 1 => {
                        i = word_end(i + 1);
                        Tok::Ident(text_of(start + 2, i))
                    }
                    _ => Tok::Ident(word),
                })
            }
            ':' if at(i + 1) == ':' => {
                i += 2;
                Some(Tok::PathSep)
            }
            c => {
                i += 1;
                // `$crate` in a macro is this crate: without its `$` it reads as `crate`.
                (!c.is_whitespace() && c != '$').then_some(Tok::Punct(c))
            }
        };
        if let Some(tok) = tok {
            line += chars
                .get(counted..start)
                .unwrap_or_default()
                .iter()
                .filter(|&&c| c == '\n')
                .count();
            counted = start;
            tokens.push((tok, line));
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Tree {
        Tree::from_sources("src/lib.rs", files).expect("a crate")
    }

    /// Each cycle as "members: shortest".
    fn cycles(files: &[(&str, &str)]) -> Vec<String> {
        let cycles = tree(files).cycles();
        let line = |c: &Cycle| format!("{}: {}", c.members.join(", "), c.shortest.join(" -> "));
        cycles.iter().map(line).collect()
    }

    /// `file:line: text` of every reference.
    fn references(files: &[(&str, &str)]) -> Vec<String> {
        let text = |r: &Reference| format!("{}:{}: {}", r.file, r.line, r.text);
        tree(files).references().iter().map(text).collect()
    }

    #[test]
    fn a_two_module_cycle_is_reported_with_an_example_per_edge() {
        let cycles = tree(&[
            ("src/lib.rs", "mod a;\nmod b;\n"),
            ("src/a.rs", "use crate::b::Thing;\n"),
            (
                "src/b.rs",
                "pub fn f() {\n    crate::a::g();\n    crate::a::h();\n}\n",
            ),
        ])
        .cycles();
        let report: Vec<String> = cycles.iter().map(ToString::to_string).collect();
        let expected = "cycle in crate (src/lib.rs): a, b\n  e.g. a -> b -> a\n  \
                        a -> b: src/a.rs:1: crate::b::Thing\n  \
                        b -> a: src/b.rs:2: crate::a::g (+1 more)\n";
        assert_eq!(report, [expected]);
    }

    #[test]
    fn a_three_module_cycle_in_a_folder_is_reported() {
        let found = cycles(&[
            ("src/lib.rs", "mod image;\n"),
            ("src/image/mod.rs", "mod fetch;\nmod http;\nmod sources;\n"),
            ("src/image/fetch.rs", "use super::http::Transport;\n"),
            ("src/image/http.rs", "use super::sources::{self, Source};\n"),
            (
                "src/image/sources.rs",
                "fn f() -> super::fetch::Failure {}\n",
            ),
        ]);
        assert_eq!(
            found,
            ["fetch, http, sources: fetch -> http -> sources -> fetch"]
        );
    }

    #[test]
    fn a_folder_file_that_calls_a_child_using_its_items_is_a_cycle() {
        let found = cycles(&[
            ("src/lib.rs", "mod image;\n"),
            (
                "src/image/mod.rs",
                "mod fetch;\npub struct Failure;\nfn run() { fetch::go() }\n",
            ),
            ("src/image/fetch.rs", "use super::Failure;\n"),
        ]);
        assert_eq!(
            found,
            ["fetch, image (mod.rs): fetch -> image (mod.rs) -> fetch"]
        );
    }

    /// `pub use child::X` in a folder's file names the child's item for others; it is not
    /// the folder's file using its child.
    #[test]
    fn a_reexport_is_not_a_use_of_the_child() {
        let files = [
            ("src/lib.rs", "mod image;\n"),
            (
                "src/image/mod.rs",
                "mod error;\nmod fetch;\npub use error::Failure;\npub(crate) use fetch::get;\n",
            ),
            ("src/image/error.rs", "pub struct Failure;\n"),
            (
                "src/image/fetch.rs",
                "fn f() -> super::Failure { super::error::Failure }\n",
            ),
        ];
        assert_eq!(cycles(&files), Vec::<String>::new());
        let driving = [
            ("src/lib.rs", "mod image;\n"),
            (
                "src/image/mod.rs",
                "mod fetch;\npub struct Failure;\nfn run() { fetch::go() }\n",
            ),
            ("src/image/fetch.rs", "fn go() -> super::Failure {}\n"),
        ];
        assert_eq!(cycles(&driving).len(), 1);
    }

    #[test]
    fn an_acyclic_tree_passes() {
        // `crate::Z` is c's item re-exported: a uses c, not lib.rs, which calls a.
        let found = cycles(&[
            (
                "src/lib.rs",
                "mod a;\nmod b;\nmod c;\npub use c::Z;\nfn f() { a::run() }\n",
            ),
            (
                "src/a.rs",
                "use crate::b::Y;\nuse super::c;\nfn f() -> crate::Z {}\n",
            ),
            ("src/b.rs", "use crate::c::*;\nuse std::io;\n"),
            (
                "src/c.rs",
                "pub struct Z;\nfn f() { ::a::f(); Self::g(); }\n",
            ),
        ]);
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn use_trees_and_inline_paths_resolve_to_modules() {
        let cases = [
            ("use crate::a::{b, c::{d, e}};", "a::b a::c::d a::c::e"),
            ("use crate::a::{self, b::Item as Renamed};", "a a::b"),
            (
                "use crate::{a::b, x::z as zed};\nfn f() { zed::g() }",
                "a::b x::z x::z",
            ),
            ("use super::z;", "x::z"),
            ("use super::super::a::c::*;", "a::c"),
            ("use self::super::z::Thing;", "x::z"),
            (
                "use crate::a::c as see;\nfn f() { see::e::g() }",
                "a::c a::c::e",
            ),
            (
                "fn f() -> crate::a::c::d::T { super::z::make() }",
                "a::c::d x::z",
            ),
            // A re-export leads to the module that has the item.
            ("fn f() { crate::a::Again::new() }", "a::b"),
            (
                "fn f() { Vec::<u8>::new(); crate::a::b::T::<u8>::new() }",
                "a::b",
            ),
            (
                "use std::io::{self, Read};\nuse ::a::b;\nfn f() { io::stdin() }",
                "",
            ),
            ("pub(in crate::a) fn f() {}", ""),
            ("macro_rules! m { () => { $crate::a::b::f() } }", "a::b"),
        ];
        for (source, expected) in cases {
            let tree = tree(&[
                ("src/lib.rs", "pub mod a;\npub mod x;\n"),
                ("src/a.rs", "pub mod b;\npub mod c;\npub use b::Again;\n"),
                ("src/a/b.rs", ""),
                ("src/a/c/mod.rs", "pub mod d;\npub mod e;\n"),
                ("src/a/c/d.rs", ""),
                ("src/a/c/e.rs", ""),
                ("src/x.rs", "mod y;\nmod z;\n"),
                ("src/x/y.rs", source),
                ("src/x/z.rs", ""),
            ]);
            let targets: Vec<String> = (tree.references().iter())
                .filter(|r| r.from == ["x", "y"])
                .map(|r| r.to.join("::"))
                .collect();
            assert_eq!(targets.join(" "), expected, "{source}");
        }
    }

    #[test]
    fn comments_literals_and_test_code_are_not_code() {
        let source = r###"// crate::b::Line
/// crate::b::Doc
//! crate::b::InnerDoc
/* crate::b::Block /* crate::b::Nested */ crate::b::StillBlock */
/** crate::b::DocBlock */
const S: &str = "crate::b::Str \" crate::b::Escaped";
const R: &str = r#"crate::b::Raw " crate::b::RawQuote"#;
const B: &[u8] = b"crate::b::Bytes";
const BR: &[u8] = br##"crate::b::RawBytes"##;
const C: (char, char, u8) = ('"', '\'', b'"');
#[cfg(test)]
mod tests;
#[cfg(test)]
mod inline_tests {
    use crate::b::InlineTests;
}
#[cfg(test)]
fn helper() -> crate::b::Helper { crate::b::Helper }
#[cfg(test)]
use crate::b::TestImport;
use crate::b::Real;
"###;
        let files = [
            ("src/lib.rs", "mod a;\nmod b;\n"),
            ("src/a.rs", source),
            ("src/a/tests.rs", "use crate::b::FromTests;\n"),
            ("src/b.rs", ""),
        ];
        assert_eq!(references(&files), ["src/a.rs:21: crate::b::Real"]);
        let tree = tree(&files);
        assert!(
            !tree.modules.keys().any(|m| m.len() > 1),
            "{:?}",
            tree.modules.keys()
        );
    }

    #[test]
    fn lifetimes_are_not_char_literals() {
        let source = "fn f<'a>(x: &'a str) -> &'a str {\n    let _ = ('{', '\"', '\\'', 'b');\n    \
                      crate::b::one(x)\n}\nstruct S<'b>(&'b u8, &'static str);\n\
                      fn g() -> crate::b::Two { 'outer: loop { break 'outer; } }\n";
        let files = [
            ("src/lib.rs", "mod a;\nmod b;\n"),
            ("src/a.rs", source),
            ("src/b.rs", ""),
        ];
        assert_eq!(
            references(&files),
            ["src/a.rs:3: crate::b::one", "src/a.rs:6: crate::b::Two"]
        );
    }

    #[test]
    fn path_attributes_are_followed_and_missing_files_are_errors() {
        let files = [
            (
                "src/lib.rs",
                "#[path = \"elsewhere/../other/impl.rs\"]\nmod a;\nmod b;\n",
            ),
            ("src/other/impl.rs", "use crate::b::X;\n"),
            ("src/b.rs", ""),
        ];
        assert_eq!(references(&files), ["src/other/impl.rs:1: crate::b::X"]);
        let missing = Tree::from_sources("src/lib.rs", &[("src/lib.rs", "mod gone;\n")]);
        assert_eq!(
            missing.err().as_deref(),
            Some("module files not found: src/lib.rs: mod gone")
        );
    }

    #[test]
    fn upward_imports_and_unlisted_modules_break_the_layers() {
        let tree = tree(&[
            ("src/lib.rs", "mod low;\nmod mid;\nmod high;\nmod stray;\n"),
            ("src/low.rs", "use crate::high::Up;\n"),
            ("src/mid.rs", "use crate::low::Down;\n"),
            (
                "src/high.rs",
                "use super::mid::Down;\nfn f() { crate::low::g() }\n",
            ),
            ("src/stray.rs", ""),
        ]);
        // `absent` is listed before it exists: fine.
        let layers: &[&[&str]] = &[&["low", "absent"], &["mid"], &["high"]];
        let found: Vec<String> = (check_layers(&tree, "crate", layers).iter())
            .map(ToString::to_string)
            .collect();
        let upward = "layer 0 uses layer 2: low -> high: src/low.rs:1: crate::high::Up";
        assert_eq!(found, ["stray is in no layer: place it", upward]);
    }
}
