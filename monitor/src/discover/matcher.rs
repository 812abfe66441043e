//! Recognising an exec'd command line as a configured stdio server.
//!
//! Both the configured command and the exec'd argv are reduced to
//! [`Launch`]es (see [`super::launch`]). They match when an identity of one is
//! compatible with an identity of the other (the same npm package, Python
//! distribution, script path, image, or an executable a package provides) *and*
//! the server's own arguments are the configured ones (`${…}` variables match
//! anything). `node`, `python` or `sh` alone never match, and neither does a
//! package run with other arguments (another directory for server-filesystem).
use std::path::{Path, PathBuf};

use crate::glob::glob_match;

use super::Discovery;
use super::config::{Host, Scope, ServerConfig, Transport};
use super::launchers::{Ident, Launch, basename, launches, normalize_py, npm_package_in_path};

/// Which configured server an exec'd command line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigMatch {
    pub name: String,
    pub host: Host,
    pub scope: Scope,
    pub config_path: PathBuf,
    pub project: Option<PathBuf>,
}

/// One configured argument: a literal, or a glob where the config has variables.
#[derive(Clone, Debug)]
enum ArgPattern {
    Literal(String),
    Glob(String),
}

impl ArgPattern {
    fn new(arg: &str) -> Self {
        match variables_to_glob(arg) {
            Some(g) => ArgPattern::Glob(g),
            None => ArgPattern::Literal(arg.to_owned()),
        }
    }

    fn matches(&self, arg: &str) -> bool {
        match self {
            ArgPattern::Literal(l) => l == arg,
            ArgPattern::Glob(g) => glob_match(g, arg),
        }
    }
}

/// `--root=${workspaceFolder}/x` → `--root=*/x`; `None` without variables.
/// Covers `${input:…}`, `${env:…}`, `${VAR}`, `${VAR:-default}` and `${{ … }}`.
fn variables_to_glob(arg: &str) -> Option<String> {
    if !arg.contains("${") {
        return None;
    }
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let close = if after.starts_with('{') { "}}" } else { "}" };
        match after.find(close) {
            Some(j) => {
                out.push('*');
                rest = &after[j + close.len()..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

#[derive(Clone, Debug)]
struct ConfiguredLaunch {
    ids: Vec<Ident>,
    rest: Vec<ArgPattern>,
}

#[derive(Clone, Debug)]
struct Entry {
    /// Index of the server in the slice the matchers were built from.
    index: usize,
    info: ConfigMatch,
    launches: Vec<ConfiguredLaunch>,
}

/// Matchers for every enabled stdio server of a discovery.
#[derive(Clone, Debug, Default)]
pub struct ConfigMatchers {
    entries: Vec<Entry>,
    /// Executable names npm packages provide (`package.json` `bin`), learned
    /// from the npx caches and global installs.
    npm_bins: Vec<(String, Vec<String>)>,
    resolve_links: bool,
    /// Whether any configured server is an npm package (links are followed only then).
    has_npm: bool,
}

impl ConfigMatchers {
    /// Matchers for the enabled stdio servers among `servers`. Indices returned
    /// by [`ConfigMatchers::match_indices`] refer to this slice.
    pub fn new(servers: &[ServerConfig]) -> Self {
        let entries: Vec<Entry> = servers
            .iter()
            .enumerate()
            .filter(|(_, s)| s.transport == Transport::Stdio && !s.disabled)
            .filter_map(|(index, s)| {
                let mut argv = vec![s.command.clone()?];
                argv.extend(s.args.iter().cloned());
                let launches: Vec<ConfiguredLaunch> = launches(&argv)
                    .into_iter()
                    .map(|l| ConfiguredLaunch {
                        ids: resolve_relative(l.ids, s.cwd.as_deref()),
                        rest: l.rest.iter().map(|a| ArgPattern::new(a)).collect(),
                    })
                    .collect();
                (!launches.is_empty()).then(|| Entry {
                    index,
                    info: ConfigMatch {
                        name: s.name.clone(),
                        host: s.host,
                        scope: s.scope,
                        config_path: s.config_path.clone(),
                        project: s.project.clone(),
                    },
                    launches,
                })
            })
            .collect();
        let has_npm = entries
            .iter()
            .flat_map(|e| &e.launches)
            .flat_map(|l| &l.ids)
            .any(|i| matches!(i, Ident::Npm(_)));
        ConfigMatchers {
            entries,
            npm_bins: Vec::new(),
            resolve_links: true,
            has_npm,
        }
    }

    /// Matchers for a discovery's servers, with the executable names of their
    /// npm packages learned from the npx caches of its homes and the global
    /// node_modules directories.
    pub fn from_discovery(d: &Discovery) -> Self {
        let mut m = Self::new(&d.servers);
        let mut roots: Vec<PathBuf> = Vec::new();
        for home in &d.homes {
            if let Ok(rd) = std::fs::read_dir(home.join(".npm/_npx")) {
                roots.extend(rd.flatten().map(|e| e.path().join("node_modules")));
            }
            roots.push(home.join(".npm-global/lib/node_modules"));
            roots.push(home.join(".local/lib/node_modules"));
        }
        roots.push(PathBuf::from("/usr/lib/node_modules"));
        roots.push(PathBuf::from("/usr/local/lib/node_modules"));
        let packages: Vec<String> = m
            .entries
            .iter()
            .flat_map(|e| &e.launches)
            .flat_map(|l| &l.ids)
            .filter_map(|i| match i {
                Ident::Npm(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        for pkg in packages {
            let mut bins: Vec<String> = roots
                .iter()
                .flat_map(|r| package_bins(&r.join(&pkg).join("package.json"), &pkg))
                .collect();
            bins.sort();
            bins.dedup();
            if !bins.is_empty() && !m.npm_bins.iter().any(|(p, _)| *p == pkg) {
                m.npm_bins.push((pkg, bins));
            }
        }
        m
    }

    /// Whether to follow symlinks of exec'd scripts (`node_modules/.bin/x` →
    /// the package it belongs to). On by default; off gives pure matching.
    pub fn resolve_links(mut self, on: bool) -> Self {
        self.resolve_links = on;
        self
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The configured server an exec'd command line runs, if any: the best
    /// match (a package, path or image over an executable name), then the
    /// first in discovery order.
    pub fn match_argv(&self, argv: &[String]) -> Option<ConfigMatch> {
        let best = self.scored(argv).into_iter().max_by(|a, b| {
            // Higher score first; among equals, the earlier entry.
            a.1.cmp(&b.1).then(b.0.cmp(&a.0))
        })?;
        Some(self.entries[best.0].info.clone())
    }

    /// Every configured server (as indices into the slice given to
    /// [`ConfigMatchers::new`]) that an exec'd command line matches.
    pub fn match_indices(&self, argv: &[String]) -> Vec<usize> {
        self.scored(argv)
            .into_iter()
            .map(|(e, _)| self.entries[e].index)
            .collect()
    }

    /// (entry position, score) of every match.
    fn scored(&self, argv: &[String]) -> Vec<(usize, u8)> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        let mut exec = launches(argv);
        if exec.is_empty() {
            return Vec::new();
        }
        if self.resolve_links && self.has_npm {
            for l in &mut exec {
                add_resolved(l);
            }
        }
        let mut out = Vec::new();
        for (pos, entry) in self.entries.iter().enumerate() {
            let score = entry
                .launches
                .iter()
                .flat_map(|c| exec.iter().map(move |e| (c, e)))
                .filter(|(c, e)| rest_matches(&c.rest, &e.rest))
                .filter_map(|(c, e)| self.best_ident_score(&c.ids, &e.ids))
                .max();
            if let Some(s) = score {
                out.push((pos, s));
            }
        }
        out
    }

    fn best_ident_score(&self, configured: &[Ident], exec: &[Ident]) -> Option<u8> {
        configured
            .iter()
            .flat_map(|c| exec.iter().map(move |e| (c, e)))
            .filter_map(|(c, e)| self.compatible(c, e))
            .max()
    }

    /// How strongly a configured identity and an exec'd one name the same
    /// program (2 exact, 1 by an executable name), or `None`.
    fn compatible(&self, c: &Ident, e: &Ident) -> Option<u8> {
        use Ident::*;
        match (c, e) {
            (Npm(a), Npm(b)) if a == b => Some(2),
            (Npm(pkg), Bin(bin)) | (Bin(bin), Npm(pkg)) => {
                if self.learned_bin(pkg, bin) {
                    Some(2)
                } else if guessed_bins(pkg).iter().any(|g| g == bin) {
                    Some(1)
                } else {
                    None
                }
            }
            (Py(a), Py(b)) if a == b => Some(2),
            (Py(a), Bin(b)) | (Bin(b), Py(a)) if *a == normalize_py(b) => Some(1),
            (Bin(a), Bin(b)) if a == b => Some(1),
            (Path(a), Path(b)) => same_path(a, b),
            (Image(a), Image(b)) if a == b => Some(2),
            _ => None,
        }
    }

    fn learned_bin(&self, pkg: &str, bin: &str) -> bool {
        self.npm_bins
            .iter()
            .any(|(p, bins)| p == pkg && bins.iter().any(|b| b == bin))
    }
}

/// The server's own arguments against the configured ones.
fn rest_matches(configured: &[ArgPattern], exec: &[String]) -> bool {
    configured.len() == exec.len() && configured.iter().zip(exec).all(|(p, a)| p.matches(a))
}

/// Executable names an npm package commonly provides when its `package.json`
/// was not found: its own name, and the `mcp-…`/`mcp-server-…` forms
/// (`@modelcontextprotocol/server-filesystem` → `mcp-server-filesystem`,
/// `@playwright/mcp` → `mcp-server-playwright`).
fn guessed_bins(pkg: &str) -> Vec<String> {
    let (scope, name) = match pkg.strip_prefix('@').and_then(|p| p.split_once('/')) {
        Some((s, n)) => (Some(s), n),
        None => (None, pkg),
    };
    let mut g = vec![name.to_owned(), format!("mcp-{name}")];
    if !name.starts_with("server-") && !name.starts_with("mcp") {
        g.push(format!("mcp-server-{name}"));
    }
    if let Some(s) = scope {
        g.push(format!("{s}-{name}"));
        if name == "mcp" || name == "mcp-server" {
            g.push(format!("mcp-server-{s}"));
            g.push(format!("{s}-mcp"));
        }
    }
    g.retain(|b| b != "mcp");
    g
}

/// Paths name the same file: equal, or a relative one (with a directory part
/// or a distinctive file name) is the end of an absolute one.
fn same_path(a: &str, b: &str) -> Option<u8> {
    let weight = |rel: &str| -> u8 {
        if rel.starts_with('/') {
            2
        } else if rel.trim_start_matches("./").contains('/')
            || super::launchers::path_idents(rel)
                .iter()
                .any(|i| matches!(i, Ident::Bin(_)))
            || !is_generic_file(rel)
        {
            1
        } else {
            0
        }
    };
    let w = if a == b {
        weight(a)
    } else {
        let (abs, rel) = match (a.starts_with('/'), b.starts_with('/')) {
            (true, false) => (a, b),
            (false, true) => (b, a),
            _ => return None,
        };
        let rel_t = rel.trim_start_matches("./");
        if !abs.ends_with(&format!("/{rel_t}")) {
            return None;
        }
        weight(rel).min(1)
    };
    (w > 0).then_some(w)
}

fn is_generic_file(path: &str) -> bool {
    matches!(
        basename(path),
        "index.js"
            | "index.mjs"
            | "index.cjs"
            | "index.ts"
            | "main.py"
            | "main.js"
            | "server.py"
            | "server.js"
            | "server.ts"
            | "app.py"
            | "app.js"
            | "run.py"
            | "cli.js"
            | "cli.py"
            | "__main__.py"
    )
}

/// Makes relative configured paths absolute against the configured `cwd`.
fn resolve_relative(ids: Vec<Ident>, cwd: Option<&str>) -> Vec<Ident> {
    let Some(cwd) = cwd.filter(|c| c.starts_with('/')) else {
        return ids;
    };
    ids.into_iter()
        .map(|i| match i {
            Ident::Path(p) if !p.starts_with('/') && p.contains(['/', '.']) => Ident::Path(
                Path::new(cwd)
                    .join(p.trim_start_matches("./"))
                    .to_string_lossy()
                    .into_owned(),
            ),
            other => other,
        })
        .collect()
}

/// Adds the npm package an exec'd script belongs to when its path is a
/// symlink into a package (`node_modules/.bin/x`, `/usr/local/bin/x`). Only
/// scripts run by a JavaScript runtime are looked at: one `realpath` each.
fn add_resolved(l: &mut Launch) {
    if !matches!(
        l.via.as_deref(),
        Some("node" | "nodejs" | "bun" | "deno" | "tsx" | "ts-node")
    ) {
        return;
    }
    let mut extra = Vec::new();
    for id in &l.ids {
        if let Ident::Path(p) = id
            && p.starts_with('/')
            && let Ok(real) = std::fs::canonicalize(p)
            && let Some(pkg) = npm_package_in_path(&real.to_string_lossy())
        {
            extra.push(Ident::Npm(pkg));
        }
    }
    for e in extra {
        if !l.ids.contains(&e) {
            l.ids.push(e);
        }
    }
}

/// The executables a `package.json` declares (`bin` as a string is the
/// package's own name without scope).
fn package_bins(path: &Path, pkg: &str) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    match v.get("bin") {
        Some(serde_json::Value::String(_)) => {
            vec![pkg.rsplit('/').next().unwrap_or(pkg).to_owned()]
        }
        Some(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}
