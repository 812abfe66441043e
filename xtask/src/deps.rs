//! `cargo xtask deps`: the import circles between the daemon's modules.
//!
//! Each file of `monitor/src` is a module (`procs/mod.rs` is `procs`); it
//! depends on the modules its `crate::…` and `super::…` paths name (the
//! longest prefix that is a module), outside its tests. A circle is a group
//! of modules that all reach each other; there should be none: data flows one
//! way through the house.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use anyhow::Context as _;

/// Prints the circles; an error if there is one.
pub fn run() -> anyhow::Result<()> {
    let circles = circles(&crate::root().join("monitor/src"))?;
    for c in &circles {
        println!("{} modules: {}", c.len(), c.join(" → "));
    }
    if circles.is_empty() {
        println!("no import circles between the modules of monitor/src");
        Ok(())
    } else {
        anyhow::bail!(
            "{} import circle(s) between modules: move what both sides need into a module of its own",
            circles.len()
        )
    }
}

/// The groups of modules under `src` that import each other.
pub fn circles(src: &Path) -> anyhow::Result<Vec<Vec<String>>> {
    let mut files = BTreeMap::new();
    collect(src, src, &mut files)?;
    let graph: BTreeMap<String, BTreeSet<String>> = files
        .iter()
        .map(|(module, text)| {
            let deps = referenced(module, text)
                .into_iter()
                .filter_map(|path| resolve(&path, &files))
                .filter(|m| m != module)
                .collect();
            (module.clone(), deps)
        })
        .collect();
    Ok(strongly_connected(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect())
}

/// Module path → source (tests cut off) of every `.rs` file under `dir`.
fn collect(src: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(src, &path, out)?;
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(src)?.with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts
            .last()
            .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
        {
            parts.pop();
        }
        let text = std::fs::read_to_string(&path)?;
        let text = match text.find("#[cfg(test)]") {
            Some(i) => text[..i].to_owned(),
            None => text,
        };
        out.insert(parts.join("::"), text);
    }
    Ok(())
}

/// The module paths `text` (of `module`) names through `crate::` and `super::`.
fn referenced(module: &str, text: &str) -> Vec<String> {
    let parent = match module.rsplit_once("::") {
        Some((p, _)) => p.to_owned(),
        None => String::new(),
    };
    let mut out = Vec::new();
    // A parent reaches its children without `crate::` or `super::`: through
    // `mod child;` and then `child::…` paths. Re-exports (`pub use child::…`)
    // are the child's API shown through the parent, not a use of it; comments
    // are not code.
    let code: String = text
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !l.starts_with("pub use ") && !l.starts_with("//")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let text = code.as_str();
    for child in declared_children(text) {
        let path = if module.is_empty() {
            child.clone()
        } else {
            format!("{module}::{child}")
        };
        let used = text.match_indices(&format!("{child}::")).any(|(i, _)| {
            !text[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        });
        if used {
            out.push(path);
        }
    }
    for (anchor, base) in [("crate::", String::new()), ("super::", parent)] {
        let mut rest = text;
        while let Some(i) = rest.find(anchor) {
            // `foo_crate::` is not `crate::`.
            let before = rest[..i].chars().next_back();
            rest = &rest[i + anchor.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            use_tree(&base, rest, &mut out);
        }
    }
    out
}

/// The modules `text` declares with `mod name;` (any visibility).
fn declared_children(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let rest = line.strip_prefix("pub ").or(Some(line))?;
            let rest = match rest.strip_prefix("pub(") {
                Some(r) => r.split_once(") ")?.1,
                None => rest,
            };
            let name = rest.strip_prefix("mod ")?.strip_suffix(';')?;
            name.chars()
                .all(|c| c.is_alphanumeric() || c == '_')
                .then(|| name.to_owned())
        })
        .collect()
}

/// Adds the paths of the use-tree at the start of `text` (`a::b`, `a::{b, c::d}`)
/// below `base`.
fn use_tree(base: &str, text: &str, out: &mut Vec<String>) {
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_owned()
        } else {
            format!("{a}::{b}")
        }
    };
    let ident_len = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    if ident_len == 0 {
        if let Some(inner) = text.strip_prefix('{') {
            for item in split_group(inner) {
                use_tree(base, item.trim_start(), out);
            }
        }
        return;
    }
    let ident = &text[..ident_len];
    if ident == "self" {
        return;
    }
    let path = join(base, ident);
    match text[ident_len..].strip_prefix("::") {
        Some(rest) => use_tree(&path, rest, out),
        None => out.push(path),
    }
}

/// The top-level items of a `{…}` group whose opening brace was consumed.
fn split_group(inner: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&inner[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// The longest prefix of `path` that is a module.
fn resolve(path: &str, modules: &BTreeMap<String, String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| modules.contains_key(m))
}

/// Tarjan's strongly connected components.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            group.sort();
            s.out.push(group);
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_trees_and_super_paths_are_followed() {
        let got = referenced(
            "procs::table",
            "use crate::{alerts::{gate::Gate, health}, config};\nuse super::scan;\nlet x = crate::paths::normalize(p);\n",
        );
        for want in [
            "alerts::gate::Gate",
            "alerts::health",
            "config",
            "procs::scan",
            "paths::normalize",
        ] {
            assert!(got.iter().any(|g| g == want), "{want} in {got:?}");
        }
    }

    #[test]
    fn a_circle_is_found() {
        let dir = std::env::temp_dir().join(format!("xtask-deps-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("lib.rs"), "pub mod a; pub mod b; pub mod c;").unwrap();
        std::fs::write(dir.join("a/mod.rs"), "use crate::b::thing;").unwrap();
        std::fs::write(
            dir.join("b.rs"),
            "use crate::a;\n#[cfg(test)]\nuse crate::c;",
        )
        .unwrap();
        std::fs::write(dir.join("c.rs"), "use crate::a;").unwrap();
        assert_eq!(circles(&dir).unwrap(), [["a", "b"]]);
        // A parent using its child through `mod`, the child using the parent.
        std::fs::write(
            dir.join("c.rs"),
            "mod d;\npub use d::thing;\n// d::thing in a comment\nfn f() { d::thing(); }\npub struct Thing;",
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("c")).unwrap();
        std::fs::write(dir.join("c/d.rs"), "use super::Thing;").unwrap();
        assert_eq!(circles(&dir).unwrap(), [vec!["a", "b"], vec!["c", "c::d"]]);
        // A re-export alone is not a use.
        std::fs::write(
            dir.join("c.rs"),
            "mod d;\npub use d::thing;\npub struct Thing;",
        )
        .unwrap();
        assert_eq!(circles(&dir).unwrap(), [["a", "b"]]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_daemon_has_no_import_circle() {
        let circles = circles(&crate::root().join("monitor/src")).unwrap();
        assert!(circles.is_empty(), "import circles: {circles:?}");
    }
}
