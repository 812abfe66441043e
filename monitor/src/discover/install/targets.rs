//! Which files install and uninstall work on: the options, the config files
//! of the AI hosts in the selected homes (and of the projects those configs
//! name), and what kind of document each one is.
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::document::Syntax;
use crate::discover::config::Host;
use crate::discover::{HomeLayout, default_homes, hosts};

/// What `install` and `uninstall` work on.
#[derive(Clone, Debug, Default)]
pub struct InstallOptions {
    /// Homes whose configs are changed (default: `$HOME`, or every home when
    /// run as root).
    pub homes: Vec<PathBuf>,
    /// Only these hosts (`claude-code`, `cursor`…); all when empty.
    pub hosts: Vec<String>,
    /// Only the servers of these names; all when empty.
    pub servers: Vec<String>,
    /// Print what would change and write nothing.
    pub dry_run: bool,
    /// The absolute path of the `mcp-monitor` binary the configs will run.
    pub monitor_path: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Claude Code's `~/.claude.json`: `mcpServers` and `projects.*.mcpServers`.
    ClaudeState,
    /// `{"mcpServers": {…}}` (Continue's JSON blocks may hold a list).
    McpServers,
    /// VS Code `mcp.json`: `servers`.
    VscodeMcp,
    /// VS Code `settings.json`: `mcp.servers` (or the dotted key).
    VscodeSettings,
    /// Continue YAML: not rewritten.
    Yaml,
    /// Codex `config.toml`: `[mcp_servers.NAME]`.
    CodexToml,
}

#[derive(Clone, Debug)]
pub(super) struct Target {
    pub(super) path: PathBuf,
    pub(super) host: Host,
    pub(super) kind: Kind,
}

fn homes_for(opts: &InstallOptions) -> Vec<PathBuf> {
    if !opts.homes.is_empty() {
        return opts.homes.clone();
    }
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return default_homes();
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_dir())
        .into_iter()
        .collect()
}

/// The config files of `homes` (the same ones discovery reads, but the
/// administrator's managed file), and of the projects they name.
fn targets(homes: &[PathBuf]) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    let mut add = |path: PathBuf, host: Host, kind: Kind| {
        if !out.iter().any(|t| t.path == path) {
            out.push(Target { path, host, kind });
        }
    };
    for home in homes {
        let l = HomeLayout::new(home);
        add(l.claude_code(), Host::ClaudeCode, Kind::ClaudeState);
        add(l.claude_desktop(), Host::ClaudeDesktop, Kind::McpServers);
        add(l.cursor(), Host::Cursor, Kind::McpServers);
        let mut found = hosts::Found::default();
        for dir in l.vscode_dirs() {
            add(dir.join("mcp.json"), Host::Vscode, Kind::VscodeMcp);
            add(
                dir.join("settings.json"),
                Host::Vscode,
                Kind::VscodeSettings,
            );
            hosts::workspace_folders(&dir.join("workspaceStorage"), &mut found);
        }
        hosts::workspace_folders(&l.cursor_storage(), &mut found);
        add(l.windsurf(), Host::Windsurf, Kind::McpServers);
        add(l.continue_config(), Host::Continue, Kind::Yaml);
        for f in hosts::continue_dir_files(&l.continue_dir()) {
            let kind = continue_kind(&f);
            add(f, Host::Continue, kind);
        }
        add(l.gemini(), Host::GeminiCli, Kind::McpServers);
        add(l.codex(), Host::Codex, Kind::CodexToml);
        hosts::claude_code_state(&l.claude_code(), &mut found);
        for project in &found.projects {
            add(
                project.join(".mcp.json"),
                Host::ClaudeCode,
                Kind::McpServers,
            );
            add(
                project.join(".cursor/mcp.json"),
                Host::Cursor,
                Kind::McpServers,
            );
            add(
                project.join(".vscode/mcp.json"),
                Host::Vscode,
                Kind::VscodeMcp,
            );
            add(
                project.join(".gemini/settings.json"),
                Host::GeminiCli,
                Kind::McpServers,
            );
            for f in hosts::continue_dir_files(&project.join(".continue/mcpServers")) {
                let kind = continue_kind(&f);
                add(f, Host::Continue, kind);
            }
        }
    }
    out
}

fn continue_kind(path: &Path) -> Kind {
    if path.extension().is_some_and(|e| e == "json") {
        Kind::McpServers
    } else {
        Kind::Yaml
    }
}

pub(super) fn selected_targets(opts: &InstallOptions) -> anyhow::Result<Vec<Target>> {
    const ALL: [Host; 8] = [
        Host::ClaudeCode,
        Host::ClaudeDesktop,
        Host::Cursor,
        Host::Vscode,
        Host::Windsurf,
        Host::Continue,
        Host::GeminiCli,
        Host::Codex,
    ];
    for h in &opts.hosts {
        if !ALL.iter().any(|a| a.as_str() == h) {
            let names: Vec<&str> = ALL.iter().map(|a| a.as_str()).collect();
            bail!("unknown host {h:?} (one of: {})", names.join(", "));
        }
    }
    let mut out = targets(&homes_for(opts));
    if !opts.hosts.is_empty() {
        out.retain(|t| opts.hosts.iter().any(|h| h == t.host.as_str()));
    }
    // The same file reached through two paths (a symlink) is handled once.
    let mut seen: Vec<PathBuf> = Vec::new();
    out.retain(|t| {
        let real = fs::canonicalize(&t.path).unwrap_or_else(|_| t.path.clone());
        if seen.contains(&real) {
            return false;
        }
        seen.push(real);
        true
    });
    Ok(out)
}

pub(super) fn monitor_str(opts: &InstallOptions) -> anyhow::Result<&str> {
    let p = &opts.monitor_path;
    if !p.is_absolute() {
        bail!("the path of mcp-monitor must be absolute: {}", p.display());
    }
    p.to_str()
        .with_context(|| format!("the path of mcp-monitor is not UTF-8: {}", p.display()))
}

pub(super) fn syntax_of(kind: Kind) -> Option<Syntax> {
    match kind {
        Kind::Yaml => None,
        Kind::CodexToml => Some(Syntax::Toml),
        _ => Some(Syntax::Json),
    }
}

pub(super) fn selected(opts: &InstallOptions, name: &str) -> bool {
    opts.servers.is_empty() || opts.servers.iter().any(|s| s == name)
}
