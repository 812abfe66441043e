//! One configured MCP server, as read from a host's config file, and the
//! problems met while reading. Values of environment variables and headers are
//! dropped at parse time: only their names are kept.
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

/// The AI hosts whose configs are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Host {
    ClaudeCode,
    ClaudeDesktop,
    Cursor,
    Vscode,
    Windsurf,
    Continue,
    GeminiCli,
    Codex,
}

impl Host {
    /// The name shown to users and used as `mcp.host`.
    pub fn as_str(self) -> &'static str {
        match self {
            Host::ClaudeCode => "claude-code",
            Host::ClaudeDesktop => "claude-desktop",
            Host::Cursor => "cursor",
            Host::Vscode => "vscode",
            Host::Windsurf => "windsurf",
            Host::Continue => "continue",
            Host::GeminiCli => "gemini-cli",
            Host::Codex => "codex",
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a server is configured: for the user (every project), for one project
/// in the user's own host state (Claude Code's "local"), in a project's files
/// (shared with whoever checks it out), or by the administrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    User,
    Local,
    Project,
    Managed,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Local => "local",
            Scope::Project => "project",
            Scope::Managed => "managed",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Stdio,
    Http,
    Sse,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::Http => "http",
            Transport::Sse => "sse",
        }
    }
}

/// A server entry from a config file.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    pub host: Host,
    pub scope: Scope,
    /// The project directory for local and project scopes.
    pub project: Option<PathBuf>,
    pub name: String,
    pub config_path: PathBuf,
    pub transport: Transport,
    pub command: Option<String>,
    /// The arguments as configured (they may hold secrets: redact before showing).
    pub args: Vec<String>,
    pub url: Option<String>,
    pub cwd: Option<String>,
    /// Names of the environment variables the host sets (values are never kept).
    pub env: Vec<String>,
    /// Names of the HTTP headers the host sends (values are never kept).
    pub headers: Vec<String>,
    /// Names of environment variables whose values the host passes on to the
    /// server or into headers without them being in the file (Codex's
    /// `env_vars`, `bearer_token_env_var`, `env_http_headers`).
    pub env_refs: Vec<String>,
    pub disabled: bool,
}

/// A config file that could not be read, or an entry in it that makes no sense.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: PathBuf,
    pub host: Host,
    /// 1-based, when known.
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.col {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {} config: {}", self.host, self.message)
    }
}

/// Where an entry was found, handed to [`parse_server`].
#[derive(Clone, Debug)]
pub struct Origin<'a> {
    pub host: Host,
    pub scope: Scope,
    pub project: Option<&'a std::path::Path>,
    pub config_path: &'a std::path::Path,
}

impl<'a> Origin<'a> {
    /// A file of the user's own, outside any project.
    pub fn user(host: Host, config_path: &'a std::path::Path) -> Self {
        Origin {
            host,
            scope: Scope::User,
            project: None,
            config_path,
        }
    }
}

/// Reads one server entry in the shape most hosts share:
/// `{command, args, env, cwd}` for stdio, `{url | serverUrl | httpUrl, headers}`
/// for remote servers, with an optional `type`/`transport`.
pub fn parse_server(origin: &Origin<'_>, name: &str, v: &Value) -> Result<ServerConfig, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("server {name:?}: expected an object, found {}", kind(v)))?;
    let command = match obj.get("command") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(other) => {
            return Err(format!(
                "server {name:?}: \"command\" must be a non-empty string, found {}",
                kind(other)
            ));
        }
    };
    let args = match obj.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| match a {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                other => Err(format!(
                    "server {name:?}: \"args\" must hold strings, found {}",
                    kind(other)
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "server {name:?}: \"args\" must be an array, found {}",
                kind(other)
            ));
        }
    };
    let url_key = ["url", "serverUrl", "httpUrl"]
        .into_iter()
        .find(|k| obj.get(*k).is_some_and(Value::is_string));
    let url = url_key
        .and_then(|k| obj.get(k))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let declared = obj
        .get("type")
        .or_else(|| obj.get("transport"))
        .and_then(Value::as_str)
        .map(|t| t.to_ascii_lowercase());
    let transport = match declared.as_deref() {
        Some("stdio") => Transport::Stdio,
        Some("sse") => Transport::Sse,
        Some("http" | "streamable-http" | "streamablehttp" | "streamable_http") => Transport::Http,
        _ if command.is_some() => Transport::Stdio,
        _ => match (url_key, &url) {
            // Gemini CLI: `url` is SSE, `httpUrl` streamable HTTP.
            (Some("url"), Some(_)) if origin.host == Host::GeminiCli => Transport::Sse,
            (Some(_), Some(u)) if looks_like_sse(u) => Transport::Sse,
            (Some(_), Some(_)) => Transport::Http,
            _ => {
                return Err(format!(
                    "server {name:?}: neither \"command\" nor a URL (\"url\", \"serverUrl\", \"httpUrl\")"
                ));
            }
        },
    };
    if transport == Transport::Stdio && command.is_none() {
        return Err(format!("server {name:?}: stdio server without \"command\""));
    }
    if transport != Transport::Stdio && url.is_none() {
        return Err(format!(
            "server {name:?}: {} server without a URL",
            transport.as_str()
        ));
    }
    let disabled = obj.get("disabled").and_then(Value::as_bool) == Some(true)
        || obj.get("enabled").and_then(Value::as_bool) == Some(false);
    Ok(ServerConfig {
        host: origin.host,
        scope: origin.scope,
        project: origin.project.map(|p| p.to_path_buf()),
        name: name.to_owned(),
        config_path: origin.config_path.to_path_buf(),
        transport,
        command,
        args,
        url,
        cwd: obj.get("cwd").and_then(Value::as_str).map(str::to_owned),
        env: key_names(obj.get("env")),
        headers: key_names(obj.get("headers")),
        env_refs: Vec::new(),
        disabled,
    })
}

fn looks_like_sse(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.trim_end_matches('/').ends_with("/sse")
}

/// The keys of an object (the names of env vars or headers), sorted.
pub fn key_names(v: Option<&Value>) -> Vec<String> {
    let mut names: Vec<String> = v
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// "a string", "an array"… for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
