//! Recognising MCP servers by their command line at exec (and in the start-up
//! scan). A pattern is one or more space-separated globs matched against
//! consecutive *tokens* of a command line: the program's basename, then, when
//! the program is a launcher (`npx`, `uvx`, `node`, `python`, …), its
//! non-option arguments with versions stripped. `fastmcp run` and `uvx mcp-*`
//! are two-token patterns.
use crate::glob::glob_match;

/// The patterns used unless `--no-default-patterns` is given.
pub const DEFAULT_PATTERNS: &[&str] = &[
    "@modelcontextprotocol/server-*",
    "mcp-server-*",
    "mcp_server_*",
    "*-mcp",
    "*-mcp-server",
    "mcp-remote",
    "fastmcp run",
    "uvx mcp-*",
];

/// Programs that run another program named in their arguments.
const LAUNCHERS: &[&str] = &[
    "npx", "npm", "pnpm", "pnpx", "yarn", "bunx", "bun", "deno", "node", "nodejs", "uvx", "uv",
    "pipx", "python", "python3", "fastmcp", "docker", "podman", "tsx", "ts-node",
];

/// How many tokens of a command line are looked at.
const MAX_TOKENS: usize = 8;

#[derive(Clone, Debug)]
pub struct PatternSet {
    patterns: Vec<Vec<String>>,
}

impl PatternSet {
    pub fn new<'a>(defaults: bool, extra: impl IntoIterator<Item = &'a str>) -> Self {
        let base = if defaults { DEFAULT_PATTERNS } else { &[] };
        let patterns = base
            .iter()
            .copied()
            .chain(extra)
            .map(|p| p.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|p| !p.is_empty())
            .collect();
        PatternSet { patterns }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The server name for a matching command line: the token that matched the
    /// pattern's last glob, without an npm scope; for a multi-token pattern that
    /// ends in a literal word (`fastmcp run`), the token after it when there is one.
    pub fn match_argv(&self, argv: &[String]) -> Option<String> {
        let tokens = tokens(argv);
        for pattern in &self.patterns {
            let n = pattern.len();
            if n > tokens.len() {
                continue;
            }
            for start in 0..=tokens.len() - n {
                let window = &tokens[start..start + n];
                if pattern.iter().zip(window).all(|(g, t)| glob_match(g, t)) {
                    let literal_end = n > 1 && !pattern[n - 1].contains(['*', '?']);
                    let last = match tokens.get(start + n) {
                        Some(next) if literal_end => next,
                        _ => &window[n - 1],
                    };
                    let name = last.rsplit('/').next().unwrap_or(last);
                    return Some(name.to_owned());
                }
            }
        }
        None
    }
}

/// `name@1.2.3` → `name`, `@scope/name@latest` → `@scope/name`.
fn strip_version(token: &str) -> &str {
    let search_from = usize::from(token.starts_with('@'));
    match token[search_from..].find('@') {
        Some(i) => &token[..search_from + i],
        None => token,
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A launcher's name with a version suffix folded (`python3.11` → `python`),
/// or `None` for a program that is not a launcher.
fn launcher_name(program: &str) -> Option<&str> {
    let trimmed = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    [trimmed, program]
        .into_iter()
        .find(|p| LAUNCHERS.contains(p))
}

/// Entry-point files and build directories that say nothing about which
/// program a path is: `node /opt/github-mcp/dist/index.js` is `github-mcp`.
const GENERIC_PATH_PARTS: &[&str] = &[
    "index.js",
    "index.mjs",
    "index.cjs",
    "index.ts",
    "main.js",
    "main.ts",
    "server.js",
    "server.ts",
    "cli.js",
    "main.py",
    "server.py",
    "__main__.py",
    "app.py",
    "dist",
    "build",
    "src",
    "lib",
    "bin",
    "out",
    "",
];

/// The name a path argument stands for: its last component that is not generic.
fn path_identity(path: &str) -> &str {
    path.rsplit('/')
        .find(|part| !GENERIC_PATH_PARTS.contains(part))
        .unwrap_or_else(|| basename(path))
}

fn tokens(argv: &[String]) -> Vec<&str> {
    let Some(first) = argv.first() else {
        return Vec::new();
    };
    let program = basename(first);
    let Some(launcher) = launcher_name(program) else {
        return vec![program];
    };
    let mut out = vec![launcher];
    for arg in &argv[1..] {
        if out.len() >= MAX_TOKENS {
            break;
        }
        if arg.starts_with('-') || arg.is_empty() {
            continue;
        }
        let t = strip_version(arg);
        out.push(if t.starts_with('@') {
            t
        } else {
            path_identity(t)
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn well_known_launches_match() {
        let set = PatternSet::new(true, []);
        let cases = [
            (
                "npx -y @modelcontextprotocol/server-filesystem /tmp",
                "server-filesystem",
            ),
            (
                "npx -y @modelcontextprotocol/server-memory@2025.1.1",
                "server-memory",
            ),
            ("uvx mcp-server-fetch", "mcp-server-fetch"),
            ("/usr/bin/python3.11 -m mcp_server_git", "mcp_server_git"),
            (
                "/home/u/.local/bin/mcp-server-git --repository .",
                "mcp-server-git",
            ),
            ("node /opt/github-mcp/index.js", "github-mcp"),
            ("npx mcp-remote https://example.invalid/sse", "mcp-remote"),
            ("fastmcp run server.py", "server.py"),
            ("uvx mcp-obsidian", "mcp-obsidian"),
            ("/usr/local/bin/slack-mcp-server", "slack-mcp-server"),
        ];
        for (cmd, want) in cases {
            let got = set.match_argv(&argv(cmd));
            if want.is_empty() {
                assert_eq!(got, None, "{cmd}");
            } else {
                assert_eq!(got.as_deref(), Some(want), "{cmd}");
            }
        }
    }

    #[test]
    fn ordinary_commands_do_not_match() {
        let set = PatternSet::new(true, []);
        for cmd in [
            "vim mcp-server-notes.md",
            "cat /tmp/github-mcp",
            "grep -r mcp-remote .",
            "npx prettier --write .",
            "ls",
            "",
        ] {
            assert_eq!(set.match_argv(&argv(cmd)), None, "{cmd}");
        }
    }

    #[test]
    fn user_patterns_and_no_defaults() {
        let set = PatternSet::new(false, ["my-tool", "python -m my_server"]);
        assert_eq!(set.match_argv(&argv("uvx mcp-server-fetch")), None);
        assert_eq!(
            set.match_argv(&argv("/opt/my-tool --x")).as_deref(),
            Some("my-tool")
        );
        // "-m" is an option and skipped, so the tokens are python, my_server.
        assert_eq!(set.match_argv(&argv("python -m my_server")), None);
        let set = PatternSet::new(false, ["python my_server"]);
        assert_eq!(
            set.match_argv(&argv("python3 -m my_server")).as_deref(),
            Some("my_server")
        );
    }

    #[test]
    fn versions_are_stripped() {
        assert_eq!(strip_version("pkg@1.2.3"), "pkg");
        assert_eq!(strip_version("@scope/pkg@latest"), "@scope/pkg");
        assert_eq!(strip_version("@scope/pkg"), "@scope/pkg");
        assert_eq!(launcher_name("python3.11"), Some("python"));
        assert_eq!(launcher_name("npx"), Some("npx"));
        assert_eq!(launcher_name("vim"), None);
        assert_eq!(path_identity("/opt/github-mcp/dist/index.js"), "github-mcp");
        assert_eq!(path_identity("build/index.js"), "index.js");
        assert_eq!(path_identity("/x/.bin/mcp-server-git"), "mcp-server-git");
    }
}
