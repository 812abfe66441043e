//! One reader per host config format. Each takes a file path and where it came
//! from, and adds what it finds to a [`Found`]: servers, problems, and the
//! project directories it names (which lead to more config files).
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::config::{Host, Origin, Problem, Scope, ServerConfig, kind, parse_server};
use super::formats::{FormatError, parse_jsonc, parse_toml, parse_yaml};

/// Config files are small; anything bigger than this is not read.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// What reading config files produced.
#[derive(Debug, Default)]
pub struct Found {
    pub servers: Vec<ServerConfig>,
    pub problems: Vec<Problem>,
    /// Files that existed and were read.
    pub files: Vec<PathBuf>,
    /// Project or workspace directories named by the files read.
    pub projects: Vec<PathBuf>,
}

impl Found {
    fn problem(&mut self, path: &Path, host: Host, e: FormatError) {
        self.problems.push(Problem {
            path: path.to_path_buf(),
            host,
            line: e.line,
            col: e.col,
            message: e.message,
        });
    }

    fn entry_problem(&mut self, path: &Path, host: Host, message: String) {
        self.problem(
            path,
            host,
            FormatError {
                message,
                line: None,
                col: None,
            },
        );
    }

    fn add_project(&mut self, dir: PathBuf) {
        if !self.projects.contains(&dir) {
            self.projects.push(dir);
        }
    }
}

#[derive(Clone, Copy)]
enum Format {
    Jsonc,
    Yaml,
    Toml,
}

/// Reads and parses a file; a missing file is silently nothing.
fn load(path: &Path, host: Host, format: Format, found: &mut Found) -> Option<Value> {
    let text = match read_text(path) {
        Ok(Some(t)) => t,
        Ok(None) => return None,
        Err(message) => {
            found.entry_problem(path, host, message);
            return None;
        }
    };
    found.files.push(path.to_path_buf());
    let parsed = match format {
        Format::Jsonc => parse_jsonc(&text),
        Format::Yaml => parse_yaml(&text),
        Format::Toml => parse_toml(&text),
    };
    match parsed {
        Ok(v) => Some(v),
        Err(e) => {
            found.problem(path, host, e);
            None
        }
    }
}

fn read_text(path: &Path) -> Result<Option<String>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "not read: {} bytes is too big for a config",
            meta.len()
        ));
    }
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| "not UTF-8 text".to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read: {e}")),
    }
}

/// Adds the servers of a `{NAME: {…}}` object.
fn add_server_map(origin: &Origin<'_>, servers: &Value, key: &str, found: &mut Found) {
    match servers {
        Value::Object(map) => {
            for (name, v) in map {
                match parse_server(origin, name, v) {
                    Ok(s) => found.servers.push(s),
                    Err(m) => found.entry_problem(origin.config_path, origin.host, m),
                }
            }
        }
        Value::Null => {}
        other => found.entry_problem(
            origin.config_path,
            origin.host,
            format!(
                "\"{key}\" must be an object of servers, found {}",
                kind(other)
            ),
        ),
    }
}

/// Adds the servers of a `[{name, …}]` list (Continue).
fn add_server_list(origin: &Origin<'_>, servers: &Value, found: &mut Found) {
    let Value::Array(items) = servers else {
        return add_server_map(origin, servers, "mcpServers", found);
    };
    for (i, v) in items.iter().enumerate() {
        let name = match v.get("name").and_then(Value::as_str) {
            Some(n) => n.to_owned(),
            None if v.get("uses").is_some() => continue, // a hub block resolved elsewhere
            None => {
                found.entry_problem(
                    origin.config_path,
                    origin.host,
                    format!("mcpServers[{i}] has no \"name\""),
                );
                continue;
            }
        };
        match parse_server(origin, &name, v) {
            Ok(s) => found.servers.push(s),
            Err(m) => found.entry_problem(origin.config_path, origin.host, m),
        }
    }
}

/// Reads a JSONC config whose top level must be an object.
fn load_object(origin: &Origin<'_>, found: &mut Found) -> Option<Value> {
    let (path, host) = (origin.config_path, origin.host);
    let v = load(path, host, Format::Jsonc, found)?;
    expect_object(path, host, &v, found).then_some(v)
}

fn expect_object(path: &Path, host: Host, v: &Value, found: &mut Found) -> bool {
    if v.is_object() {
        return true;
    }
    found.entry_problem(
        path,
        host,
        format!("expected an object at the top level, found {}", kind(v)),
    );
    false
}

/// The common `{"mcpServers": {…}}` file (Claude Desktop, Cursor, Windsurf,
/// Gemini CLI, Claude Code's `.mcp.json`).
pub fn mcp_servers_file(
    path: &Path,
    host: Host,
    scope: Scope,
    project: Option<&Path>,
    found: &mut Found,
) {
    let origin = Origin {
        host,
        scope,
        project,
        config_path: path,
    };
    let Some(v) = load_object(&origin, found) else {
        return;
    };
    if let Some(servers) = v.get("mcpServers") {
        add_server_map(&origin, servers, "mcpServers", found);
    }
}

/// Claude Code's `~/.claude.json`: `mcpServers` (user scope) and
/// `projects[dir].mcpServers` (local scope); every project dir is remembered.
pub fn claude_code_state(path: &Path, found: &mut Found) {
    let host = Host::ClaudeCode;
    let user = Origin::user(host, path);
    let Some(v) = load_object(&user, found) else {
        return;
    };
    if let Some(servers) = v.get("mcpServers") {
        add_server_map(&user, servers, "mcpServers", found);
    }
    if let Some(projects) = v.get("projects").and_then(Value::as_object) {
        for (dir, p) in projects {
            let dir = PathBuf::from(dir);
            if let Some(servers) = p.get("mcpServers") {
                let origin = Origin {
                    host,
                    scope: Scope::Local,
                    project: Some(&dir),
                    config_path: path,
                };
                add_server_map(&origin, servers, "mcpServers", found);
            }
            found.add_project(dir);
        }
    }
}

/// VS Code's `mcp.json` (user or `.vscode/` in a workspace): `servers`, `inputs`.
pub fn vscode_mcp(path: &Path, scope: Scope, project: Option<&Path>, found: &mut Found) {
    let host = Host::Vscode;
    let origin = Origin {
        host,
        scope,
        project,
        config_path: path,
    };
    let Some(v) = load_object(&origin, found) else {
        return;
    };
    check_inputs(path, host, v.get("inputs"), found);
    if let Some(servers) = v.get("servers") {
        add_server_map(&origin, servers, "servers", found);
    }
}

/// VS Code's user `settings.json` (JSONC): the older `"mcp": {"servers": …}`.
pub fn vscode_settings(path: &Path, found: &mut Found) {
    let host = Host::Vscode;
    let origin = Origin::user(host, path);
    let Some(v) = load_object(&origin, found) else {
        return;
    };
    let mcp = v.get("mcp");
    check_inputs(path, host, mcp.and_then(|m| m.get("inputs")), found);
    if let Some(servers) = mcp
        .and_then(|m| m.get("servers"))
        .or_else(|| v.get("mcp.servers"))
    {
        add_server_map(&origin, servers, "mcp.servers", found);
    }
}

fn check_inputs(path: &Path, host: Host, inputs: Option<&Value>, found: &mut Found) {
    match inputs {
        None | Some(Value::Null) | Some(Value::Array(_)) => {}
        Some(other) => found.entry_problem(
            path,
            host,
            format!("\"inputs\" must be an array, found {}", kind(other)),
        ),
    }
}

/// The workspace folders VS Code or Cursor opened, from
/// `workspaceStorage/*/workspace.json` (`"folder": "file:///…"`).
pub fn workspace_folders(storage: &Path, found: &mut Found) {
    let Ok(dirs) = std::fs::read_dir(storage) else {
        return;
    };
    for d in dirs.flatten() {
        let path = d.path().join("workspace.json");
        let Ok(Some(text)) = read_text(&path) else {
            continue;
        };
        let Ok(v) = parse_jsonc(&text) else {
            continue;
        };
        if let Some(dir) = v
            .get("folder")
            .and_then(Value::as_str)
            .and_then(|u| u.strip_prefix("file://"))
        {
            found.add_project(PathBuf::from(percent_decode(dir)));
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(h);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Continue's `config.yaml` and its `mcpServers/*.yaml` blocks (a list of
/// servers with `name`); JSON files in that directory use the common shape.
pub fn continue_file(path: &Path, scope: Scope, project: Option<&Path>, found: &mut Found) {
    let host = Host::Continue;
    let is_json = path.extension().is_some_and(|e| e == "json");
    let format = if is_json { Format::Jsonc } else { Format::Yaml };
    let Some(v) = load(path, host, format, found) else {
        return;
    };
    if v.is_null() {
        return; // an empty file
    }
    if !expect_object(path, host, &v, found) {
        return;
    }
    let origin = Origin {
        host,
        scope,
        project,
        config_path: path,
    };
    if let Some(servers) = v.get("mcpServers") {
        add_server_list(&origin, servers, found);
    }
}

/// The YAML and JSON files of a Continue `mcpServers/` directory, sorted.
pub fn continue_dir_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension()
                        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Codex's `config.toml`: `[mcp_servers.NAME]` with `command`, `args`, `env`,
/// `env_vars`, `cwd`, or `url` with `bearer_token_env_var`, `http_headers`,
/// `env_http_headers`; `enabled = false` disables.
pub fn codex(path: &Path, found: &mut Found) {
    let host = Host::Codex;
    let Some(v) = load(path, host, Format::Toml, found) else {
        return;
    };
    let Some(servers) = v.get("mcp_servers") else {
        return;
    };
    let Some(map) = servers.as_object() else {
        return found.entry_problem(
            path,
            host,
            format!("\"mcp_servers\" must be a table, found {}", kind(servers)),
        );
    };
    let origin = Origin::user(host, path);
    for (name, entry) in map {
        let mut s = match parse_server(&origin, name, entry) {
            Ok(s) => s,
            Err(m) => {
                found.entry_problem(path, host, m);
                continue;
            }
        };
        let strings = |key: &str| -> Vec<String> {
            entry
                .get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        s.env_refs.extend(strings("env_vars"));
        s.headers
            .extend(super::config::key_names(entry.get("http_headers")));
        if let Some(h) = entry.get("env_http_headers").and_then(Value::as_object) {
            s.headers.extend(h.keys().cloned());
            s.env_refs
                .extend(h.values().filter_map(Value::as_str).map(str::to_owned));
        }
        if let Some(var) = entry.get("bearer_token_env_var").and_then(Value::as_str) {
            s.headers.push("Authorization".to_owned());
            s.env_refs.push(var.to_owned());
        }
        s.headers.sort();
        s.headers.dedup();
        s.env_refs.sort();
        s.env_refs.dedup();
        found.servers.push(s);
    }
}

/// Gemini CLI `settings.json` (user `~/.gemini/` or a project's `.gemini/`).
pub fn gemini(path: &Path, scope: Scope, project: Option<&Path>, found: &mut Found) {
    mcp_servers_file(path, Host::GeminiCli, scope, project, found);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/home/u/my%20proj"), "/home/u/my proj");
        assert_eq!(percent_decode("/a%zz"), "/a%zz");
        assert_eq!(percent_decode("/caf%C3%A9"), "/café");
    }
}
