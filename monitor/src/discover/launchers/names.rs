//! What names and paths say about a program: file names of executables,
//! interpreters and shells, the programs too generic to identify a server,
//! npm and Python package specs, container image references, and the
//! identities implied by a script's path.
use super::idents::{Ident, Launch};

/// Programs whose name alone never identifies a server.
pub(super) const GENERIC: &[&str] = &[
    "node",
    "nodejs",
    "npm",
    "npx",
    "pnpm",
    "pnpx",
    "yarn",
    "bun",
    "bunx",
    "deno",
    "tsx",
    "ts-node",
    "uv",
    "uvx",
    "pipx",
    "pip",
    "python",
    "python3",
    "pypy3",
    "docker",
    "podman",
    "nerdctl",
    "java",
    "sh",
    "bash",
    "dash",
    "zsh",
    "ash",
    "ksh",
    "fish",
    "cmd",
    "env",
    "exec",
    "cd",
    "export",
    "source",
    ".",
    "set",
    "true",
    "false",
    "echo",
    "test",
    "[",
    "sudo",
    "su",
    "timeout",
    "nohup",
    "setsid",
    "nice",
    "stdbuf",
    "index",
    "index.js",
    "index.mjs",
    "index.cjs",
    "index.ts",
    "main",
    "main.py",
    "main.js",
    "server",
    "server.py",
    "server.js",
    "server.ts",
    "app.py",
    "app.js",
    "run.py",
    "cli.js",
    "cli.py",
    "__main__.py",
    "mcp",
    "fastmcp",
    "go",
    "cargo",
    "ruby",
    "perl",
    "php",
    "dotnet",
    "mcp-monitor",
];

pub(super) fn is_known_program(p: &str) -> bool {
    GENERIC.contains(&p) || is_python(p)
}

/// The file name of a program, without Windows suffixes.
pub(super) fn program_name(path: &str) -> &str {
    let base = basename(path);
    for suffix in [".exe", ".cmd", ".bat", ".EXE", ".CMD"] {
        if let Some(b) = base.strip_suffix(suffix) {
            return b;
        }
    }
    base
}

pub fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed)
}

pub(super) fn is_python(p: &str) -> bool {
    let rest = p
        .strip_prefix("python")
        .or_else(|| p.strip_prefix("pypy"))
        .unwrap_or("x");
    rest.chars().all(|c| c.is_ascii_digit() || c == '.')
}

pub(super) fn is_shell(p: &str) -> bool {
    matches!(p, "sh" | "bash" | "dash" | "zsh" | "ash" | "ksh")
}

/// A script run by an interpreter: its path, and what the path says about it
/// (an npm package under `node_modules/`, an executable in a `bin` directory).
pub(super) fn script(path: &str, rest: &[String], via: Option<&str>) -> Launch {
    let mut ids = vec![Ident::Path(path.to_owned())];
    ids.extend(path_idents(path));
    Launch {
        ids,
        rest: rest.to_vec(),
        fetch: None,
        via: via.map(str::to_owned),
    }
}

/// Identities implied by a path other than the path itself.
pub fn path_idents(path: &str) -> Vec<Ident> {
    let mut ids = Vec::new();
    if let Some(pkg) = npm_package_in_path(path) {
        ids.push(Ident::Npm(pkg));
    }
    let name = basename(path);
    let parent = basename(path.strip_suffix(name).unwrap_or(""));
    let has_ext = [".js", ".mjs", ".cjs", ".ts", ".mts", ".py", ".jar", ".sh"]
        .iter()
        .any(|e| name.ends_with(e));
    if (parent == ".bin" || parent == "bin" || !has_ext) && !GENERIC.contains(&name) {
        ids.push(Ident::Bin(name.to_owned()));
    }
    ids
}

/// `…/node_modules/@scope/name/dist/index.js` → `@scope/name` (the last
/// `node_modules` wins; `.bin` names no package).
pub fn npm_package_in_path(path: &str) -> Option<String> {
    let i = path.rfind("node_modules/")?;
    let mut parts = path[i + "node_modules/".len()..].split('/');
    let first = parts.next()?;
    if first.is_empty() || first == ".bin" {
        return None;
    }
    if first.starts_with('@') {
        let second = parts.next().filter(|s| !s.is_empty())?;
        Some(format!("{first}/{second}"))
    } else {
        Some(first.to_owned())
    }
}

/// `name@1.2.3` → `name`, `@scope/name@latest` → `@scope/name`; other specs
/// (git URLs, paths, tarballs) are kept whole.
pub(super) fn npm_name(spec: &str) -> &str {
    let from = usize::from(spec.starts_with('@'));
    match spec[from..].find('@') {
        Some(i) if !spec.contains("://") && !spec.contains(':') => &spec[..from + i],
        _ => spec,
    }
}

/// `pkg==1.2`, `pkg@1.2`, `pkg[extra]>=1` → `pkg`.
pub(super) fn py_name(spec: &str) -> &str {
    let end = spec
        .find(['=', '@', '<', '>', '~', '!', '[', ';', ' '])
        .unwrap_or(spec.len());
    &spec[..end]
}

/// The distribution named by a `--from` spec, when it names one
/// (`name==1.0`, `name @ git+…`); URLs and paths name none.
pub(super) fn py_dist_name(spec: &str) -> Option<&str> {
    if spec.contains("://") || spec.starts_with('.') || spec.starts_with('/') {
        return spec.split_once(" @ ").map(|(n, _)| n.trim());
    }
    Some(py_name(spec)).filter(|n| !n.is_empty())
}

/// PEP 503 normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_py(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// An image reference without tag or digest, with Docker Hub's implicit
/// prefixes removed: `docker.io/library/redis:7` → `redis`.
pub(super) fn image_name(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    let name = match no_digest[slash..].find(':') {
        Some(c) => &no_digest[..slash + c],
        None => no_digest,
    };
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    name.strip_prefix("library/").unwrap_or(name).to_owned()
}
