//! MCP discovery: the servers the AI hosts of every user are configured to
//! run, read from the hosts' own config files, and matchers that recognise
//! those servers when they start.
//!
//! - [`discover`] reads every host config under the given homes (and the
//!   project directories those configs name) into [`ServerConfig`]s, with the
//!   malformed files as [`Problem`]s.
//! - [`ConfigMatchers`] recognises an exec'd command line as one of the
//!   configured stdio servers, through `npx`/`uvx`/`docker`/shell indirections.
//! - [`config_files`] lists the files (and directories) to watch so the
//!   matchers can be rebuilt when a config changes.
//! - [`cli::run_discover`] is `mcp-monitor discover`.
pub mod cli;
pub mod config;
pub mod formats;
pub mod hosts;
pub mod install;
pub mod launchers;
pub mod matcher;
pub mod pinning;
pub mod running;
pub mod secrets;
pub mod table;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use config::{Host, Problem, Scope, ServerConfig};
pub use matcher::ConfigMatchers;

use hosts::Found;

/// Claude Code's administrator-managed servers (Linux).
pub const MANAGED_CLAUDE_CODE: &str = "/etc/claude-code/managed-mcp.json";

/// Everything discovery found.
#[derive(Debug, Default)]
pub struct Discovery {
    pub homes: Vec<PathBuf>,
    /// In the order read: per home, user configs first, then project configs.
    pub servers: Vec<ServerConfig>,
    pub problems: Vec<Problem>,
    /// Config files that existed and were read.
    pub files: Vec<PathBuf>,
    /// Every path worth watching: config files that exist or could exist, and
    /// directories whose new files are configs (Continue's `mcpServers/`).
    pub watch: Vec<PathBuf>,
}

/// The homes to look in when none are given: `/root`, every directory in
/// `/home`, and `$HOME`.
pub fn default_homes() -> Vec<PathBuf> {
    let mut homes = vec![PathBuf::from("/root")];
    if let Ok(rd) = std::fs::read_dir("/home") {
        let mut more: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        more.sort();
        homes.extend(more);
    }
    if let Some(h) = std::env::var_os("HOME").map(PathBuf::from)
        && h.is_dir()
        && !homes.contains(&h)
    {
        homes.push(h);
    }
    homes.retain(|h| h.is_dir());
    homes
}

/// Where one home keeps each host's config.
#[derive(Clone, Debug)]
pub struct HomeLayout {
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME` for the current user's home when set, else `~/.config`.
    pub config_dir: PathBuf,
}

/// VS Code and its builds that share its config format.
const VSCODE_FLAVOURS: &[&str] = &["Code", "Code - Insiders", "VSCodium"];

impl HomeLayout {
    pub fn new(home: &Path) -> Self {
        let current = std::env::var_os("HOME").map(PathBuf::from);
        let xdg = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let config_dir = match (current, xdg) {
            (Some(h), Some(x)) if h == home => x,
            _ => home.join(".config"),
        };
        HomeLayout {
            home: home.to_path_buf(),
            config_dir,
        }
    }

    pub fn claude_code(&self) -> PathBuf {
        self.home.join(".claude.json")
    }
    pub fn claude_desktop(&self) -> PathBuf {
        self.config_dir.join("Claude/claude_desktop_config.json")
    }
    pub fn cursor(&self) -> PathBuf {
        self.home.join(".cursor/mcp.json")
    }
    pub fn vscode_dirs(&self) -> Vec<PathBuf> {
        VSCODE_FLAVOURS
            .iter()
            .map(|f| self.config_dir.join(f).join("User"))
            .collect()
    }
    pub fn cursor_storage(&self) -> PathBuf {
        self.config_dir.join("Cursor/User/workspaceStorage")
    }
    pub fn windsurf(&self) -> PathBuf {
        self.home.join(".codeium/windsurf/mcp_config.json")
    }
    pub fn continue_config(&self) -> PathBuf {
        self.home.join(".continue/config.yaml")
    }
    pub fn continue_dir(&self) -> PathBuf {
        self.home.join(".continue/mcpServers")
    }
    pub fn gemini(&self) -> PathBuf {
        self.home.join(".gemini/settings.json")
    }
    pub fn codex(&self) -> PathBuf {
        self.home.join(".codex/config.toml")
    }
}

/// Reads every host config under `homes`, then the project configs of every
/// project directory those configs name, then the administrator's.
pub fn discover(homes: &[PathBuf]) -> Discovery {
    let mut found = Found::default();
    let mut watch: Vec<PathBuf> = Vec::new();
    let mut read: Vec<PathBuf> = Vec::new();
    // Each file is read once, under the first (most general) role it has.
    let mut once = |path: PathBuf, watch: &mut Vec<PathBuf>| -> Option<PathBuf> {
        if !watch.contains(&path) {
            watch.push(path.clone());
        }
        if read.contains(&path) {
            return None;
        }
        read.push(path.clone());
        Some(path)
    };
    for home in homes {
        let l = HomeLayout::new(home);
        let first_project = found.projects.len();
        if let Some(p) = once(l.claude_code(), &mut watch) {
            hosts::claude_code_state(&p, &mut found);
        }
        if let Some(p) = once(l.claude_desktop(), &mut watch) {
            hosts::mcp_servers_file(&p, Host::ClaudeDesktop, Scope::User, None, &mut found);
        }
        if let Some(p) = once(l.cursor(), &mut watch) {
            hosts::mcp_servers_file(&p, Host::Cursor, Scope::User, None, &mut found);
        }
        for dir in l.vscode_dirs() {
            if let Some(p) = once(dir.join("mcp.json"), &mut watch) {
                hosts::vscode_mcp(&p, Scope::User, None, &mut found);
            }
            if let Some(p) = once(dir.join("settings.json"), &mut watch) {
                hosts::vscode_settings(&p, &mut found);
            }
            hosts::workspace_folders(&dir.join("workspaceStorage"), &mut found);
        }
        hosts::workspace_folders(&l.cursor_storage(), &mut found);
        if let Some(p) = once(l.windsurf(), &mut watch) {
            hosts::mcp_servers_file(&p, Host::Windsurf, Scope::User, None, &mut found);
        }
        if let Some(p) = once(l.continue_config(), &mut watch) {
            hosts::continue_file(&p, Scope::User, None, &mut found);
        }
        let dir = l.continue_dir();
        if !watch.contains(&dir) {
            watch.push(dir.clone());
        }
        for f in hosts::continue_dir_files(&dir) {
            if let Some(p) = once(f, &mut watch) {
                hosts::continue_file(&p, Scope::User, None, &mut found);
            }
        }
        if let Some(p) = once(l.gemini(), &mut watch) {
            hosts::gemini(&p, Scope::User, None, &mut found);
        }
        if let Some(p) = once(l.codex(), &mut watch) {
            hosts::codex(&p, &mut found);
        }
        // Projects named by this home's configs (their list may grow while
        // reading, it does not here: project files name no further projects).
        let projects: Vec<PathBuf> = found.projects[first_project..].to_vec();
        for project in &projects {
            let pr = Some(project.as_path());
            if let Some(p) = once(project.join(".mcp.json"), &mut watch) {
                hosts::mcp_servers_file(&p, Host::ClaudeCode, Scope::Project, pr, &mut found);
            }
            if let Some(p) = once(project.join(".cursor/mcp.json"), &mut watch) {
                hosts::mcp_servers_file(&p, Host::Cursor, Scope::Project, pr, &mut found);
            }
            if let Some(p) = once(project.join(".vscode/mcp.json"), &mut watch) {
                hosts::vscode_mcp(&p, Scope::Project, pr, &mut found);
            }
            if let Some(p) = once(project.join(".gemini/settings.json"), &mut watch) {
                hosts::gemini(&p, Scope::Project, pr, &mut found);
            }
            let dir = project.join(".continue/mcpServers");
            if !watch.contains(&dir) {
                watch.push(dir.clone());
            }
            for f in hosts::continue_dir_files(&dir) {
                if let Some(p) = once(f, &mut watch) {
                    hosts::continue_file(&p, Scope::Project, pr, &mut found);
                }
            }
        }
    }
    if let Some(p) = once(PathBuf::from(MANAGED_CLAUDE_CODE), &mut watch) {
        hosts::mcp_servers_file(&p, Host::ClaudeCode, Scope::Managed, None, &mut found);
    }
    Discovery {
        homes: homes.to_vec(),
        servers: found.servers,
        problems: found.problems,
        files: found.files,
        watch,
    }
}
