//! Any bytes as the module index the image carries: NUL-separated `modules.dep`,
//! `modules.alias`, `modules.builtin` and a list of requests (names or aliases; `!name`
//! blacklists). (The image also carries `modules.softdep`, which the init does not read.)
//! Parsing returns, never panics; `resolve` only names modules the index knows; `load_order`
//! loads each module once, no builtin and nothing blacklisted, each after its dependencies
//! (except where a hand-made cycle is cut), and reports each unknown name once.
#![no_main]

use std::collections::BTreeSet;

use diskless::cmdline::modules::normalize_name;
use diskless::kmod::index::{ModuleIndex, glob_match};
use libfuzzer_sys::fuzz_target;

/// Whether `from` reaches `to` through dependencies (`to` is on a cycle through `from`).
fn reaches(index: &ModuleIndex, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::from([from.to_owned()]);
    let mut todo = vec![from.to_owned()];
    while let Some(name) = todo.pop() {
        if name == to {
            return true;
        }
        for dep in index
            .modules
            .get(&name)
            .map(|m| m.depends.clone())
            .unwrap_or_default()
        {
            if seen.insert(dep.clone()) {
                todo.push(dep);
            }
        }
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\0');
    let (dep, alias, builtin, requests) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let Ok(index) = ModuleIndex::parse(dep, alias, builtin) else {
        return;
    };
    for (name, entry) in &index.modules {
        assert_eq!(name, &entry.name);
        assert!(!name.is_empty() && !name.contains('-'), "{entry:?}");
        assert_eq!(normalize_name(&entry.path), entry.name);
    }
    let mut wanted = Vec::new();
    let mut blacklist = Vec::new();
    for word in requests.split_whitespace() {
        match word.strip_prefix('!') {
            Some(name) => blacklist.push(name.to_owned()),
            None => wanted.push(word.to_owned()),
        }
    }
    // Names taken from the index itself, so that lookups also hit.
    wanted.extend(index.modules.keys().take(4).cloned());
    wanted.extend(
        index
            .aliases
            .iter()
            .take(2)
            .map(|(pattern, _)| pattern.clone()),
    );

    for want in &wanted {
        let found = index.resolve(want);
        let unique: BTreeSet<&String> = found.iter().collect();
        assert_eq!(unique.len(), found.len(), "{want:?} -> {found:?}");
        for name in &found {
            assert!(
                index.modules.contains_key(name)
                    || index.is_builtin(name)
                    || index.aliases.iter().any(|(_, module)| module == name),
                "{want:?} -> {name:?}, which the index does not know"
            );
        }
        for (pattern, _) in &index.aliases {
            let _ = glob_match(pattern, want);
        }
        assert!(glob_match("*", want));
    }

    let (order, unknown) = index.load_order(&wanted, &blacklist);
    let blacklisted: BTreeSet<String> = blacklist.iter().map(|b| normalize_name(b)).collect();
    let names: Vec<&str> = order.iter().map(|m| m.name.as_str()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "a module loads twice: {names:?}");
    let unique_unknown: BTreeSet<&String> = unknown.iter().collect();
    assert_eq!(unique_unknown.len(), unknown.len(), "{unknown:?}");
    for (position, entry) in order.iter().enumerate() {
        assert_eq!(index.modules.get(&entry.name), Some(*entry));
        assert!(
            !index.is_builtin(&entry.name),
            "builtin {} loaded",
            entry.name
        );
        assert!(
            !blacklisted.contains(&entry.name),
            "blacklisted {} loaded",
            entry.name
        );
        for dep in &entry.depends {
            if index.is_builtin(dep) {
                continue;
            }
            let at = names.iter().position(|n| n == dep);
            match at {
                Some(at) if at < position => {}
                // Loaded later: only when the dependency depends back on the module.
                Some(_) => assert!(
                    reaches(&index, dep, &entry.name),
                    "{dep} loads after {}: {names:?}",
                    entry.name
                ),
                None => panic!(
                    "{} loads without its dependency {dep}: {names:?}",
                    entry.name
                ),
            }
        }
    }
});
