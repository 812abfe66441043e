//! Whether a configured server always runs the same code. A launcher that
//! fetches a package at start (`npx -y pkg`, `uvx pkg`, `docker run image`)
//! runs whatever the registry serves that day unless the version is pinned.
use serde::Serialize;

use super::launchers::{Ecosystem, Fetch, Launch};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PinStatus {
    /// An exact version, commit or digest.
    Pinned,
    /// Whatever the registry or branch serves at start.
    Unpinned,
    /// A program or script already on the machine: nothing is fetched.
    Local,
    /// A remote server (URL): its code is not on this machine.
    Remote,
}

impl PinStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PinStatus::Pinned => "pinned",
            PinStatus::Unpinned => "unpinned",
            PinStatus::Local => "local",
            PinStatus::Remote => "remote",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pinning {
    pub status: PinStatus,
    /// What was looked at and why it is (un)pinned.
    pub detail: String,
}

impl Pinning {
    fn new(status: PinStatus, detail: impl Into<String>) -> Self {
        Pinning {
            status,
            detail: detail.into(),
        }
    }
}

/// The pinning of a stdio server's launches (the first one that fetches decides).
pub fn pinning_of(launches: &[Launch]) -> Pinning {
    match launches.iter().find_map(|l| l.fetch.as_ref()) {
        Some(f) => pinning_of_fetch(f),
        None => Pinning::new(PinStatus::Local, "runs a program on this machine"),
    }
}

pub fn pinning_of_fetch(f: &Fetch) -> Pinning {
    match f.ecosystem {
        Ecosystem::Npm => npm(&f.spec),
        Ecosystem::PyPI => python(&f.spec, f.from.as_deref()),
        Ecosystem::Container => image(&f.spec),
    }
}

/// `pkg@1.2.3` pinned; `pkg`, `pkg@latest`, `pkg@^1` unpinned; git specs pinned
/// only to a full commit; local paths and tarballs local.
pub fn npm(spec: &str) -> Pinning {
    use PinStatus::*;
    if spec.starts_with('.') || spec.starts_with('/') || spec.starts_with("file:") {
        return Pinning::new(Local, format!("local package {spec}"));
    }
    if is_git_like(spec) {
        return match spec.rsplit_once('#') {
            Some((_, r)) if is_commit(r) => Pinning::new(Pinned, format!("git commit {r}")),
            Some((_, r)) => Pinning::new(Unpinned, format!("git ref {r:?} can move")),
            None => Pinning::new(Unpinned, "git repository without a commit"),
        };
    }
    if spec.starts_with("http://") || spec.starts_with("https://") {
        return Pinning::new(Unpinned, "tarball URL without integrity");
    }
    let from = usize::from(spec.starts_with('@'));
    match spec[from..].find('@') {
        None => Pinning::new(Unpinned, "no version: the latest is fetched at each start"),
        Some(i) => {
            let version = &spec[from + i + 1..];
            if is_exact_semver(version) {
                Pinning::new(Pinned, format!("version {version}"))
            } else {
                Pinning::new(Unpinned, format!("version {version:?} is a tag or a range"))
            }
        }
    }
}

fn is_git_like(spec: &str) -> bool {
    spec.starts_with("git+")
        || spec.starts_with("git:")
        || spec.starts_with("github:")
        || spec.starts_with("gitlab:")
        || spec.starts_with("bitbucket:")
        || spec.ends_with(".git")
        || spec.contains(".git#")
        // GitHub shorthand `owner/repo`.
        || (!spec.starts_with('@') && spec.matches('/').count() == 1 && !spec.contains(':'))
}

fn is_commit(r: &str) -> bool {
    r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_exact_semver(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let core = v.split(['-', '+']).next().unwrap_or(v);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `pkg==1.2.3` / `pkg@1.2.3` pinned; `pkg`, `pkg>=1`, `pkg@latest` unpinned;
/// `--from git+…@<commit>` pinned, other git refs unpinned.
pub fn python(command: &str, from: Option<&str>) -> Pinning {
    use PinStatus::*;
    let spec = from.unwrap_or(command);
    if spec.starts_with('.') || spec.starts_with('/') || spec.starts_with("file:") {
        return Pinning::new(Local, format!("local project {spec}"));
    }
    let url = spec.split_once(" @ ").map_or(spec, |(_, u)| u.trim());
    if url.starts_with("git+") || url.contains("://") {
        let no_frag = url.split('#').next().unwrap_or(url);
        let after_host = no_frag.split_once("://").map_or(no_frag, |(_, r)| r);
        return match after_host.rsplit_once('@') {
            Some((_, r)) if is_commit(r) => Pinning::new(Pinned, format!("git commit {r}")),
            Some((_, r)) if url.starts_with("git+") => {
                Pinning::new(Unpinned, format!("git ref {r:?} can move"))
            }
            _ if url.starts_with("git+") => {
                Pinning::new(Unpinned, "git repository without a commit")
            }
            _ => Pinning::new(Unpinned, "archive URL without a hash"),
        };
    }
    if let Some((_, v)) = spec.split_once("===").or_else(|| spec.split_once("==")) {
        let v = v.trim();
        return if v.contains('*') {
            Pinning::new(Unpinned, format!("version {v:?} is a wildcard"))
        } else {
            Pinning::new(Pinned, format!("version {v}"))
        };
    }
    if let Some((_, v)) = spec.split_once('@') {
        let v = v.trim();
        return if v.is_empty() || v == "latest" || !v.starts_with(|c: char| c.is_ascii_digit()) {
            Pinning::new(Unpinned, format!("version {v:?} is not a version number"))
        } else {
            Pinning::new(Pinned, format!("version {v}"))
        };
    }
    if spec.contains(['<', '>', '~', '!']) {
        return Pinning::new(Unpinned, "a version range");
    }
    Pinning::new(Unpinned, "no version: the latest is fetched at each start")
}

/// `image@sha256:…` pinned; `image:tag` pinned by a tag (tags can be moved);
/// `image` and `image:latest` unpinned.
pub fn image(spec: &str) -> Pinning {
    use PinStatus::*;
    if let Some((_, digest)) = spec.split_once('@') {
        return Pinning::new(Pinned, format!("digest {digest}"));
    }
    let slash = spec.rfind('/').map_or(0, |i| i + 1);
    match spec[slash..].split_once(':') {
        Some((_, "latest")) => Pinning::new(Unpinned, "tag \"latest\" moves"),
        Some((_, tag)) => Pinning::new(
            Pinned,
            format!("tag {tag} (a tag can be moved; a digest cannot)"),
        ),
        None => Pinning::new(Unpinned, "no tag or digest: \"latest\" is pulled"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::launchers::launches;

    fn status(cmd: &str) -> PinStatus {
        let argv: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        pinning_of(&launches(&argv)).status
    }

    #[test]
    fn launchers() {
        use PinStatus::*;
        let cases = [
            (
                "npx -y @modelcontextprotocol/server-filesystem /tmp",
                Unpinned,
            ),
            (
                "npx -y @modelcontextprotocol/server-filesystem@latest /tmp",
                Unpinned,
            ),
            (
                "npx -y @modelcontextprotocol/server-filesystem@2025.8.21 /tmp",
                Pinned,
            ),
            ("npx -y mcp-remote@0.1.29 https://x.invalid", Pinned),
            ("npx -y mcp-remote@^0.1 https://x.invalid", Unpinned),
            ("npx -y github:owner/repo", Unpinned),
            (
                "npx -y github:owner/repo#0123456789abcdef0123456789abcdef01234567",
                Pinned,
            ),
            (
                "npx -y --package=@playwright/mcp@0.0.30 mcp-server-playwright",
                Pinned,
            ),
            ("uvx mcp-server-fetch", Unpinned),
            ("uvx mcp-server-fetch==2025.4.7", Pinned),
            ("uvx mcp-server-fetch@2025.4.7", Pinned),
            ("uvx mcp-server-fetch@latest", Unpinned),
            ("uvx --from git+https://github.com/o/r mcp-r", Unpinned),
            ("uvx --from git+https://github.com/o/r@main mcp-r", Unpinned),
            (
                "uvx --from git+https://github.com/o/r@0123456789abcdef0123456789abcdef01234567 mcp-r",
                Pinned,
            ),
            ("uvx --from mcp-r==1.0 mcp-r", Pinned),
            ("docker run -i --rm mcp/fetch", Unpinned),
            ("docker run -i --rm mcp/fetch:latest", Unpinned),
            (
                "docker run -i --rm ghcr.io/github/github-mcp-server:v0.9.0",
                Pinned,
            ),
            ("docker run -i --rm mcp/fetch@sha256:0123abcd", Pinned),
            ("node /srv/x/build/index.js", Local),
            ("/usr/local/bin/mcp-server-git --repository /r", Local),
            ("uv --directory /srv/w run weather.py", Local),
        ];
        for (cmd, want) in cases {
            assert_eq!(status(cmd), want, "{cmd}");
        }
        let wrapped = [
            "sh".to_owned(),
            "-c".to_owned(),
            "exec npx -y pkg@1.0.0".to_owned(),
        ];
        assert_eq!(pinning_of(&launches(&wrapped)).status, Pinned);
    }
}
