//! Children of AI hosts: a process that a known host (Claude Code, Claude
//! Desktop, Cursor, VS Code, Windsurf, Gemini CLI, Codex) starts with pipes on
//! its stdin and stdout is how a stdio MCP server looks. Such a child is tagged
//! as a candidate server until a configured server names it; helpers hosts are
//! known to start (git, search tools, language servers) are left alone.
use super::table::ProcInfo;

/// Process names of known AI hosts and the host each stands for.
const KNOWN_HOSTS: &[(&str, &str)] = &[
    ("claude", "claude-code"),
    ("Claude", "claude-desktop"),
    ("claude-desktop", "claude-desktop"),
    ("cursor", "cursor"),
    ("Cursor", "cursor"),
    ("code", "vscode"),
    ("code-insiders", "vscode"),
    ("codium", "vscode"),
    ("windsurf", "windsurf"),
    ("Windsurf", "windsurf"),
    ("gemini", "gemini-cli"),
    ("codex", "codex"),
];

/// Programs hosts start that are not MCP servers.
const NOT_SERVERS: &[&str] = &[
    "git",
    "rg",
    "ssh",
    "gpg",
    "gopls",
    "rust-analyzer",
    "clangd",
    "typescript-language-server",
    "tsserver",
    "pyright-langserver",
    "pylsp",
    "jdtls",
    "ps",
    "which",
];

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The host a process is, by its name or its executable's name.
pub fn host_of(p: &ProcInfo) -> Option<&'static str> {
    let names = [p.comm.as_str(), basename(&p.exepath)];
    KNOWN_HOSTS
        .iter()
        .find(|(name, _)| names.contains(name))
        .map(|(_, host)| *host)
}

/// Whether a host's child looks like a stdio MCP server: not a known helper,
/// and stdin and stdout are both pipes or sockets.
pub fn looks_like_stdio_server(p: &ProcInfo) -> bool {
    let program = p.argv.first().map_or(p.comm.as_str(), |a| basename(a));
    if NOT_SERVERS.contains(&program) || NOT_SERVERS.contains(&p.comm.as_str()) {
        return false;
    }
    [0, 1].iter().all(|fd| {
        std::fs::read_link(format!("/proc/{}/fd/{fd}", p.pid)).is_ok_and(|t| {
            let t = t.to_string_lossy();
            t.starts_with("pipe:") || t.starts_with("socket:")
        })
    })
}

/// The name a candidate server is shown under: its program's name.
pub fn candidate_name(p: &ProcInfo) -> String {
    p.argv
        .first()
        .map(|a| basename(a).to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| p.comm.clone())
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    fn info(pid: u32, comm: &str, exe: &str, argv: &[&str]) -> ProcInfo {
        ProcInfo {
            pid,
            comm: comm.into(),
            exepath: exe.into(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn hosts_by_name_or_executable() {
        assert_eq!(
            host_of(&info(1, "claude", "/usr/bin/node", &[])),
            Some("claude-code")
        );
        assert_eq!(
            host_of(&info(1, "MainThread", "/opt/Cursor/cursor", &[])),
            Some("cursor")
        );
        assert_eq!(host_of(&info(1, "bash", "/usr/bin/bash", &[])), None);
    }

    #[test]
    fn stdio_pipes_and_helpers() {
        let mut piped = Command::new("sleep")
            .arg("5")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let p = info(piped.id(), "sleep", "/usr/bin/sleep", &["sleep", "5"]);
        assert!(looks_like_stdio_server(&p));
        assert_eq!(candidate_name(&p), "sleep");
        let helper = info(
            piped.id(),
            "git",
            "/usr/bin/git",
            &["/usr/bin/git", "status"],
        );
        assert!(!looks_like_stdio_server(&helper));
        let _ = piped.kill();
        let _ = piped.wait();

        let mut plain = Command::new("sleep")
            .arg("5")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let p = info(plain.id(), "sleep", "/usr/bin/sleep", &["sleep", "5"]);
        assert!(!looks_like_stdio_server(&p));
        let _ = plain.kill();
        let _ = plain.wait();
    }
}
