//! `mcp-monitor install` and `mcp-monitor uninstall`: put the launch wrapper in
//! front of every stdio MCP server in the AI hosts' config files, and take it
//! away again.
//!
//! A server `{"command": "npx", "args": ["-y", "pkg"]}` named `fs` in Cursor
//! becomes `{"command": "/usr/bin/mcp-monitor", "args": ["launch", "--name",
//! "fs", "--host", "cursor", "--", "npx", "-y", "pkg"]}`. Files are edited in
//! place, text span by text span: only the `command` and `args` values of the
//! wrapped entries change, so key order, indentation, comments (JSONC, TOML)
//! and every other key stay as they were. Each edit is checked by parsing the
//! result and comparing it with the intended tree before anything is written.
//!
//! Before its first change a file is copied to `<file>.mcp-monitor-backup`,
//! and `<file>.mcp-monitor-backup.sha256` holds the checksum of what install
//! wrote. Uninstall restores the backup byte for byte when the file still has
//! that checksum; otherwise (the user or the host edited it since) it unwraps
//! the wrapped entries in place and keeps the other edits. Writes go to a
//! temporary file in the same directory that is renamed over the original,
//! with the original's mode and owner.
use std::fmt::Write as _;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use super::config::{Host, Origin, Transport, parse_server};
use super::formats::{FormatError, parse_jsonc, parse_toml, parse_yaml, strip_jsonc};
use super::{HomeLayout, default_homes, hosts};

/// Suffix of the copy of a config taken before install first changes it.
pub const BACKUP_SUFFIX: &str = ".mcp-monitor-backup";
/// Suffix (after [`BACKUP_SUFFIX`]) of the checksum of what install wrote.
pub const CHECKSUM_SUFFIX: &str = ".sha256";

/// Config files are small; anything bigger than this is not touched.
const MAX_FILE_BYTES: u64 = 64 << 20;

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

/// The running binary, as the command configs should run.
pub fn current_monitor() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the path of mcp-monitor")?;
    Ok(fs::canonicalize(&exe).unwrap_or(exe))
}

/// `mcp-monitor install`: prints a report per file; 1 when a file failed.
pub fn run_install(opts: InstallOptions) -> anyhow::Result<i32> {
    let reports = install(&opts)?;
    print!("{}", render(&reports, Mode::Install, opts.dry_run));
    warn_unknown_servers(&opts, &reports);
    Ok(exit_code(&reports))
}

/// `mcp-monitor uninstall`: prints a report per file; 1 when a file failed.
pub fn run_uninstall(opts: InstallOptions) -> anyhow::Result<i32> {
    let reports = uninstall(&opts)?;
    print!("{}", render(&reports, Mode::Uninstall, opts.dry_run));
    warn_unknown_servers(&opts, &reports);
    Ok(exit_code(&reports))
}

/// Says which `--server` names matched nothing.
fn warn_unknown_servers(opts: &InstallOptions, reports: &[FileReport]) {
    for name in &opts.servers {
        let seen = reports
            .iter()
            .any(|r| r.changed.contains(name) || r.skipped.iter().any(|(n, _)| n == name));
        if !seen {
            eprintln!("mcp-monitor: no server named {name:?} to change");
        }
    }
}

fn exit_code(reports: &[FileReport]) -> i32 {
    i32::from(reports.iter().any(|r| r.error.is_some()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Install,
    Uninstall,
}

/// What happened to one config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    pub path: PathBuf,
    pub host: Option<Host>,
    /// Servers wrapped (install) or unwrapped (uninstall), or that would be.
    pub changed: Vec<String>,
    /// Servers left alone, with why.
    pub skipped: Vec<(String, String)>,
    /// Remarks on the file as a whole (backup written, restored, edited since…).
    pub notes: Vec<String>,
    /// Why the file could not be handled; it was not changed.
    pub error: Option<String>,
    /// The file was (or would be, in a dry run) rewritten.
    pub rewritten: bool,
}

impl FileReport {
    /// An empty report on one file.
    fn of(t: &Target) -> Self {
        FileReport {
            path: t.path.clone(),
            host: Some(t.host),
            ..Default::default()
        }
    }
}

// ---------------------------------------------------------------------------
// Which files

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
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
struct Target {
    path: PathBuf,
    host: Host,
    kind: Kind,
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

fn selected_targets(opts: &InstallOptions) -> anyhow::Result<Vec<Target>> {
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

fn monitor_str(opts: &InstallOptions) -> anyhow::Result<&str> {
    let p = &opts.monitor_path;
    if !p.is_absolute() {
        bail!("the path of mcp-monitor must be absolute: {}", p.display());
    }
    p.to_str()
        .with_context(|| format!("the path of mcp-monitor is not UTF-8: {}", p.display()))
}

// ---------------------------------------------------------------------------
// Documents with spans

/// A value of a parsed document and where its text is (byte offsets).
#[derive(Clone, Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: NodeKind,
}

#[derive(Clone, Debug)]
enum NodeKind {
    /// Members in the order of the text. `inline`: members are separated by
    /// commas (JSON, TOML inline tables), else by newlines (TOML tables).
    Object {
        members: Vec<Member>,
        inline: bool,
    },
    Array(Vec<Node>),
    Scalar,
}

#[derive(Clone, Debug)]
struct Member {
    key: String,
    key_start: usize,
    value: Node,
}

impl Node {
    fn members(&self) -> &[Member] {
        match &self.kind {
            NodeKind::Object { members, .. } => members,
            _ => &[],
        }
    }
    /// The last member of that key (the one parsers keep).
    fn member(&self, key: &str) -> Option<&Member> {
        self.members().iter().rev().find(|m| m.key == key)
    }
    fn get(&self, key: &str) -> Option<&Node> {
        self.member(key).map(|m| &m.value)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Syntax {
    Json,
    Toml,
}

/// A parsed config: its text, the tree with spans, and its value.
struct Doc {
    syntax: Syntax,
    /// The text after a byte-order mark (offsets are into this).
    text: String,
    bom: bool,
    /// JSON: the text with comments blanked out (same offsets). TOML: the text.
    clean: String,
    root: Node,
    value: Value,
}

fn parse_doc(full: &str, syntax: Syntax) -> Result<Doc, FormatError> {
    let bom = full.starts_with('\u{feff}');
    let text = full.strip_prefix('\u{feff}').unwrap_or(full).to_owned();
    let plain = |message: String| FormatError {
        message,
        line: None,
        col: None,
    };
    match syntax {
        Syntax::Json => {
            let value = parse_jsonc(&text)?;
            let clean = strip_jsonc(&text);
            let mut p = SpanParser {
                b: clean.as_bytes(),
                text: &text,
                i: 0,
            };
            let root = p.value(0).map_err(plain)?;
            Ok(Doc {
                syntax,
                text,
                bom,
                clean,
                root,
                value,
            })
        }
        Syntax::Toml => {
            let value = parse_toml(&text)?;
            let table = toml::de::DeTable::parse(&text).map_err(|e| plain(e.to_string()))?;
            let span = table.span();
            let root = toml_table(table.get_ref(), span.start, span.end, &text);
            Ok(Doc {
                syntax,
                clean: text.clone(),
                text,
                bom,
                root,
                value,
            })
        }
    }
}

fn reparse(text: &str, syntax: Syntax) -> Result<Value, FormatError> {
    match syntax {
        Syntax::Json => parse_jsonc(text),
        Syntax::Toml => parse_toml(text),
    }
}

/// Reads the spans of JSON already known to be valid (comments blanked).
struct SpanParser<'a> {
    b: &'a [u8],
    text: &'a str,
    i: usize,
}

impl SpanParser<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn string(&mut self) -> Result<(), String> {
        if self.peek() != Some(b'"') {
            return Err(format!("expected a string at byte {}", self.i));
        }
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                _ => self.i += 1,
            }
        }
        Err("unterminated string".into())
    }

    /// The `,`-separated elements of an object or array, each read by
    /// `element`, from its opening byte to `close` (both consumed).
    fn elements<T>(
        &mut self,
        close: u8,
        mut element: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        self.i += 1;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(out);
        }
        loop {
            out.push(element(self)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => {
                    let close = close as char;
                    return Err(format!("expected ',' or '{close}' at byte {}", self.i));
                }
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, String> {
        if depth > 256 {
            return Err("nesting too deep".into());
        }
        self.ws();
        let start = self.i;
        match self.peek() {
            Some(b'{') => {
                let members = self.elements(b'}', |p| {
                    p.ws();
                    let key_start = p.i;
                    p.string()?;
                    let key: String =
                        serde_json::from_str(&p.text[key_start..p.i]).map_err(|e| e.to_string())?;
                    p.ws();
                    if p.peek() != Some(b':') {
                        return Err(format!("expected ':' at byte {}", p.i));
                    }
                    p.i += 1;
                    let value = p.value(depth + 1)?;
                    Ok(Member {
                        key,
                        key_start,
                        value,
                    })
                })?;
                Ok(Node {
                    start,
                    end: self.i,
                    kind: NodeKind::Object {
                        members,
                        inline: true,
                    },
                })
            }
            Some(b'[') => {
                let items = self.elements(b']', |p| p.value(depth + 1))?;
                Ok(Node {
                    start,
                    end: self.i,
                    kind: NodeKind::Array(items),
                })
            }
            Some(b'"') => {
                self.string()?;
                Ok(Node {
                    start,
                    end: self.i,
                    kind: NodeKind::Scalar,
                })
            }
            Some(_) => {
                while self.i < self.b.len()
                    && !matches!(self.b[self.i], b',' | b']' | b'}')
                    && !self.b[self.i].is_ascii_whitespace()
                {
                    self.i += 1;
                }
                if self.i == start {
                    return Err(format!("expected a value at byte {start}"));
                }
                Ok(Node {
                    start,
                    end: self.i,
                    kind: NodeKind::Scalar,
                })
            }
            None => Err("unexpected end of text".into()),
        }
    }
}

fn toml_table(t: &toml::de::DeTable<'_>, start: usize, end: usize, text: &str) -> Node {
    let mut members: Vec<Member> = t
        .iter()
        .map(|(k, v)| Member {
            key: k.get_ref().to_string(),
            key_start: k.span().start,
            value: toml_node(v, text),
        })
        .collect();
    members.sort_by_key(|m| m.key_start);
    Node {
        start,
        end,
        kind: NodeKind::Object {
            members,
            inline: text.get(start..).is_some_and(|s| s.starts_with('{')),
        },
    }
}

fn toml_node(v: &toml::Spanned<toml::de::DeValue<'_>>, text: &str) -> Node {
    let span = v.span();
    match v.get_ref() {
        toml::de::DeValue::Table(t) => toml_table(t, span.start, span.end, text),
        toml::de::DeValue::Array(a) => Node {
            start: span.start,
            end: span.end,
            kind: NodeKind::Array(a.iter().map(|i| toml_node(i, text)).collect()),
        },
        _ => Node {
            start: span.start,
            end: span.end,
            kind: NodeKind::Scalar,
        },
    }
}

// ---------------------------------------------------------------------------
// Server entries

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// One server entry of a file.
struct Entry<'d> {
    /// Keys from the root to the object or list holding the entry.
    container: Vec<String>,
    /// The full path to the entry, for the value tree.
    path: Vec<Seg>,
    name: String,
    node: &'d Node,
    value: &'d Value,
}

fn value_at<'v>(v: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, s| match s {
        Seg::Key(k) => v.get(k.as_str()),
        Seg::Index(i) => v.get(*i),
    })
}

fn value_at_mut<'v>(v: &'v mut Value, path: &[Seg]) -> Option<&'v mut Value> {
    path.iter().try_fold(v, |v, s| match s {
        Seg::Key(k) => v.get_mut(k.as_str()),
        Seg::Index(i) => v.get_mut(*i),
    })
}

/// The server containers of a file: their key path and node.
fn containers(kind: Kind, root: &Node) -> Vec<(Vec<String>, &Node)> {
    let mut out = Vec::new();
    let key = |k: &str| vec![k.to_owned()];
    match kind {
        Kind::ClaudeState => {
            if let Some(n) = root.get("mcpServers") {
                out.push((key("mcpServers"), n));
            }
            if let Some(projects) = root.get("projects") {
                let mut seen: Vec<&str> = Vec::new();
                for m in projects.members().iter().rev() {
                    if seen.contains(&m.key.as_str()) {
                        continue;
                    }
                    seen.push(&m.key);
                    if let Some(n) = m.value.get("mcpServers") {
                        out.push((
                            vec!["projects".into(), m.key.clone(), "mcpServers".into()],
                            n,
                        ));
                    }
                }
            }
        }
        Kind::McpServers => {
            if let Some(n) = root.get("mcpServers") {
                out.push((key("mcpServers"), n));
            }
        }
        Kind::VscodeMcp => {
            if let Some(n) = root.get("servers") {
                out.push((key("servers"), n));
            }
        }
        Kind::VscodeSettings => {
            if let Some(n) = root.get("mcp").and_then(|m| m.get("servers")) {
                out.push((vec!["mcp".into(), "servers".into()], n));
            } else if let Some(n) = root.get("mcp.servers") {
                out.push((key("mcp.servers"), n));
            }
        }
        Kind::CodexToml => {
            if let Some(n) = root.get("mcp_servers") {
                out.push((key("mcp_servers"), n));
            }
        }
        Kind::Yaml => {}
    }
    out
}

fn entries<'d>(kind: Kind, doc: &'d Doc) -> Vec<Entry<'d>> {
    let mut out = Vec::new();
    for (container, node) in containers(kind, &doc.root) {
        let base: Vec<Seg> = container.iter().cloned().map(Seg::Key).collect();
        match &node.kind {
            NodeKind::Object { members, .. } => {
                for (i, m) in members.iter().enumerate() {
                    // A repeated key: parsers keep the last.
                    if members[i + 1..].iter().any(|o| o.key == m.key) {
                        continue;
                    }
                    let mut path = base.clone();
                    path.push(Seg::Key(m.key.clone()));
                    if let Some(value) = value_at(&doc.value, &path) {
                        out.push(Entry {
                            container: container.clone(),
                            path,
                            name: m.key.clone(),
                            node: &m.value,
                            value,
                        });
                    }
                }
            }
            NodeKind::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let mut path = base.clone();
                    path.push(Seg::Index(i));
                    let Some(value) = value_at(&doc.value, &path) else {
                        continue;
                    };
                    let Some(name) = value.get("name").and_then(Value::as_str) else {
                        continue;
                    };
                    out.push(Entry {
                        container: container.clone(),
                        path,
                        name: name.to_owned(),
                        node: item,
                        value,
                    });
                }
            }
            NodeKind::Scalar => {}
        }
    }
    out
}

/// The command and arguments of an entry, when it is an object.
fn command_args(v: &Value) -> (Option<&str>, &[Value]) {
    let cmd = v.get("command").and_then(Value::as_str);
    let args = v
        .get("args")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    (cmd, args)
}

/// Any `mcp-monitor launch …` in front of a server, by install or by hand.
fn is_wrapped(v: &Value, monitor: &str) -> bool {
    let (Some(cmd), args) = command_args(v) else {
        return false;
    };
    let is_monitor = cmd == monitor
        || Path::new(cmd)
            .file_name()
            .is_some_and(|f| f == "mcp-monitor");
    is_monitor && args.first().and_then(Value::as_str) == Some("launch")
}

/// The index of the wrapped command in the args of an entry that install
/// wrapped (`launch --name N --host H -- CMD …`), when it is one.
fn install_wrapped(v: &Value, monitor: &str) -> Option<usize> {
    let (Some(cmd), args) = command_args(v) else {
        return None;
    };
    if cmd != monitor && Path::new(cmd).file_name()? != "mcp-monitor" {
        return None;
    }
    let s = |i: usize| args.get(i).and_then(Value::as_str);
    let shape = s(0) == Some("launch")
        && s(1) == Some("--name")
        && s(2).is_some()
        && s(3) == Some("--host")
        && s(4).is_some()
        && s(5) == Some("--")
        && s(6).is_some();
    shape.then_some(6)
}

/// Why a server is not wrapped, or `None` when it is to be.
fn skip_reason(t: &Target, e: &Entry<'_>, monitor: &str) -> Option<String> {
    let origin = Origin::user(t.host, &t.path);
    let s = match parse_server(&origin, &e.name, e.value) {
        Ok(s) => s,
        Err(m) => return Some(format!("invalid entry: {m}")),
    };
    if s.transport != Transport::Stdio {
        return Some(format!("remote ({})", s.transport.as_str()));
    }
    if is_wrapped(e.value, monitor) {
        return Some("already wrapped".into());
    }
    if !matches!(e.value.get("command"), Some(Value::String(_))) {
        return Some("no command".into());
    }
    if e.value.get("args").is_some_and(|a| !a.is_array()) {
        return Some("\"args\" is not a list".into());
    }
    if e.name.starts_with('-') {
        return Some("a name starting with '-' cannot be given to launch".into());
    }
    if let Err(m) = crate::control::validate_name(&e.name) {
        return Some(m);
    }
    None
}

// ---------------------------------------------------------------------------
// Text edits

#[derive(Clone, Debug)]
struct Edit {
    start: usize,
    end: usize,
    with: String,
}

fn apply(text: &str, mut edits: Vec<Edit>) -> Result<String, String> {
    edits.sort_by_key(|e| (e.start, e.end));
    for w in edits.windows(2) {
        if w[1].start < w[0].end {
            return Err("overlapping edits".into());
        }
    }
    let mut out = text.to_owned();
    for e in edits.iter().rev() {
        if e.end > out.len() || !out.is_char_boundary(e.start) || !out.is_char_boundary(e.end) {
            return Err("edit outside the text".into());
        }
        out.replace_range(e.start..e.end, &e.with);
    }
    Ok(out)
}

fn quote(s: &str) -> String {
    // A JSON string is also a TOML basic string.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The indentation at the start of the line holding `pos`.
fn line_indent(text: &str, pos: usize) -> &str {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..];
    let n = line.len() - line.trim_start_matches([' ', '\t']).len();
    &line[..n]
}

fn line_end(text: &str, pos: usize) -> usize {
    text[pos..].find('\n').map_or(text.len(), |i| pos + i)
}

/// The line ending of a text: CRLF when it has one, else LF.
fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// Separator between array items, after the style of the first item.
fn item_separator(clean: &str, array: &Node, first: &Node) -> String {
    let lead = &clean[array.start + 1..first.start];
    match lead.rfind('\n') {
        Some(i) if lead[i + 1..].chars().all(|c| c == ' ' || c == '\t') => {
            format!(",{}{}", newline(clean), &lead[i + 1..])
        }
        _ => ", ".into(),
    }
}

/// Edits that put `prefix` (rendered items) in front of an entry's args and
/// `monitor` as its command.
fn wrap_edits(
    doc: &Doc,
    entry: &Node,
    monitor: &str,
    prefix: &[String],
) -> Result<Vec<Edit>, String> {
    let cmd = entry.member("command").ok_or("no command")?;
    let mut edits = vec![Edit {
        start: cmd.value.start,
        end: cmd.value.end,
        with: quote(monitor),
    }];
    let mut all: Vec<String> = prefix.to_vec();
    all.push(doc.text[cmd.value.start..cmd.value.end].to_owned());
    match entry.member("args").map(|m| &m.value) {
        Some(
            array @ Node {
                kind: NodeKind::Array(items),
                ..
            },
        ) => match items.first() {
            Some(first) => {
                let sep = item_separator(&doc.clean, array, first);
                let mut with = all.join(&sep);
                with.push_str(&sep);
                edits.push(Edit {
                    start: first.start,
                    end: first.start,
                    with,
                });
            }
            None => edits.push(Edit {
                start: array.start,
                end: array.end,
                with: format!("[{}]", all.join(", ")),
            }),
        },
        Some(_) => return Err("\"args\" is not a list".into()),
        None => {
            let list = format!("[{}]", all.join(", "));
            edits.push(new_member_edit(doc, entry, cmd, "args", &list));
        }
    }
    Ok(edits)
}

/// Inserts `key = value` (or `"key": value`) right after member `after`.
fn new_member_edit(doc: &Doc, entry: &Node, after: &Member, key: &str, value: &str) -> Edit {
    let inline = matches!(entry.kind, NodeKind::Object { inline: true, .. });
    match doc.syntax {
        Syntax::Json => {
            let before = &doc.clean[..after.key_start];
            let ws_start = before.trim_end().len();
            let ws = &before[ws_start..];
            let sep = match ws.rfind('\n') {
                Some(i) => format!("{}{}", newline(&doc.text), &ws[i + 1..]),
                None => " ".into(),
            };
            Edit {
                start: after.value.end,
                end: after.value.end,
                with: format!(",{sep}{}: {value}", quote(key)),
            }
        }
        Syntax::Toml if inline => Edit {
            start: after.value.end,
            end: after.value.end,
            with: format!(", {key} = {value}"),
        },
        Syntax::Toml => {
            let mut at = line_end(&doc.text, after.value.end);
            if doc.text[..at].ends_with('\r') {
                at -= 1;
            }
            Edit {
                start: at,
                end: at,
                with: format!(
                    "{}{}{key} = {value}",
                    newline(&doc.text),
                    line_indent(&doc.text, after.key_start)
                ),
            }
        }
    }
}

/// Removes member `m` of `entry`.
fn remove_member_edit(doc: &Doc, entry: &Node, m: &Member) -> Edit {
    let inline = matches!(entry.kind, NodeKind::Object { inline: true, .. });
    if doc.syntax == Syntax::Toml && !inline {
        let start = doc.text[..m.key_start].rfind('\n').map_or(0, |i| i + 1);
        let end = (line_end(&doc.text, m.value.end) + 1).min(doc.text.len());
        return Edit {
            start,
            end,
            with: String::new(),
        };
    }
    let members = entry.members();
    let pos = members.iter().position(|o| o.key_start == m.key_start);
    match pos {
        Some(i) if i > 0 => Edit {
            start: members[i - 1].value.end,
            end: m.value.end,
            with: String::new(),
        },
        Some(0) if members.len() > 1 => Edit {
            start: m.key_start,
            end: members[1].key_start,
            with: String::new(),
        },
        _ => Edit {
            start: m.key_start,
            end: m.value.end,
            with: String::new(),
        },
    }
}

// ---------------------------------------------------------------------------
// Files

/// A config file as read: its real path (symlinks resolved), text and metadata.
struct Loaded {
    real: PathBuf,
    bytes: Vec<u8>,
    text: String,
    meta: Metadata,
}

/// Reads a config file; `None` when there is none.
fn load(path: &Path) -> Result<Option<Loaded>, String> {
    let real = match fs::canonicalize(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    let meta = fs::metadata(&real).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("{} bytes is too big for a config", meta.len()));
    }
    let bytes = fs::read(&real).map_err(|e| format!("cannot read: {e}"))?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| "not UTF-8 text".to_owned())?;
    Ok(Some(Loaded {
        real,
        bytes,
        text,
        meta,
    }))
}

fn backup_path(real: &Path) -> PathBuf {
    let mut s = real.as_os_str().to_owned();
    s.push(BACKUP_SUFFIX);
    PathBuf::from(s)
}

fn checksum_path(real: &Path) -> PathBuf {
    let mut s = backup_path(real).into_os_string();
    s.push(CHECKSUM_SUFFIX);
    PathBuf::from(s)
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// with `meta`'s mode and owner. With `expect`, the file must still hold those
/// bytes just before it is replaced.
fn write_atomic(
    path: &Path,
    bytes: &[u8],
    meta: &Metadata,
    expect: Option<&[u8]>,
) -> anyhow::Result<()> {
    let dir = path.parent().context("a file without a directory")?;
    let name = path
        .file_name()
        .context("a file without a name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.mcp-monitor-{}.tmp", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        if (meta.uid(), meta.gid()) != {
            let m = f.metadata()?;
            (m.uid(), m.gid())
        } {
            std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()))
                .with_context(|| format!("giving {} its owner", tmp.display()))?;
        }
        f.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
            .with_context(|| format!("setting the mode of {}", tmp.display()))?;
        f.sync_all()?;
        if let Some(expect) = expect {
            let now = fs::read(path).unwrap_or_default();
            if now != expect {
                bail!("changed while being rewritten; nothing done, run again");
            }
        }
        fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn read_checksum(real: &Path) -> Option<String> {
    fs::read_to_string(checksum_path(real))
        .ok()
        .map(|s| s.trim().to_owned())
}

// ---------------------------------------------------------------------------
// Install

/// Wraps the selected servers of every selected file; see [`run_install`].
pub fn install(opts: &InstallOptions) -> anyhow::Result<Vec<FileReport>> {
    each_target(opts, install_file)
}

/// The reports of `one` run on every selected file (`None`: nothing to say).
fn each_target(
    opts: &InstallOptions,
    one: fn(&Target, &InstallOptions, &str) -> Option<FileReport>,
) -> anyhow::Result<Vec<FileReport>> {
    let monitor = monitor_str(opts)?;
    Ok(selected_targets(opts)?
        .iter()
        .filter_map(|t| one(t, opts, monitor))
        .collect())
}

fn syntax_of(kind: Kind) -> Option<Syntax> {
    match kind {
        Kind::Yaml => None,
        Kind::CodexToml => Some(Syntax::Toml),
        _ => Some(Syntax::Json),
    }
}

fn selected(opts: &InstallOptions, name: &str) -> bool {
    opts.servers.is_empty() || opts.servers.iter().any(|s| s == name)
}

/// Servers named in a YAML file (reported as not supported).
fn yaml_servers(text: &str) -> Result<Vec<String>, FormatError> {
    let v = parse_yaml(text)?;
    Ok(match v.get("mcpServers") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    })
}

fn format_error(e: &FormatError) -> String {
    match (e.line, e.col) {
        (Some(l), Some(c)) => format!("parse error at {l}:{c}: {}", e.message),
        (Some(l), None) => format!("parse error at line {l}: {}", e.message),
        _ => format!("parse error: {}", e.message),
    }
}

fn install_file(t: &Target, opts: &InstallOptions, monitor: &str) -> Option<FileReport> {
    let mut r = FileReport::of(t);
    let (real, bytes, text, meta) = match load(&t.path) {
        Ok(None) => return None,
        Ok(Some(l)) => (l.real, l.bytes, l.text, l.meta),
        Err(m) => {
            r.error = Some(m);
            return Some(r);
        }
    };
    let Some(syntax) = syntax_of(t.kind) else {
        let names = match yaml_servers(&text) {
            Ok(n) => n,
            Err(e) => {
                r.notes.push(format!("{}; not changed", format_error(&e)));
                return Some(r);
            }
        };
        if names.is_empty() {
            return None;
        }
        for n in names.into_iter().filter(|n| selected(opts, n)) {
            r.skipped
                .push((n, "YAML configs are not supported yet".into()));
        }
        return Some(r);
    };
    let doc = match parse_doc(&text, syntax) {
        Ok(d) => d,
        Err(e) => {
            r.error = Some(format!("{}; not changed", format_error(&e)));
            return Some(r);
        }
    };
    let list = entries(t.kind, &doc);
    if list.is_empty() {
        return None;
    }
    if !list.iter().any(|e| selected(opts, &e.name)) {
        return None;
    }
    let mut edits = Vec::new();
    let mut expected = doc.value.clone();
    for e in &list {
        if !selected(opts, &e.name) {
            continue;
        }
        if let Some(why) = skip_reason(t, e, monitor) {
            r.skipped.push((e.name.clone(), why));
            continue;
        }
        let launch = ["launch", "--name", &e.name, "--host", t.host.as_str(), "--"];
        let prefix: Vec<String> = launch.iter().map(|s| quote(s)).collect();
        match wrap_edits(&doc, e.node, monitor, &prefix) {
            Ok(mut more) => edits.append(&mut more),
            Err(m) => {
                r.skipped.push((e.name.clone(), m));
                continue;
            }
        }
        if let Some(Value::Object(obj)) = value_at_mut(&mut expected, &e.path) {
            let (cmd, args) = command_args(e.value);
            let mut new_args: Vec<Value> = launch
                .iter()
                .map(|s| Value::String((*s).to_owned()))
                .collect();
            new_args.push(Value::String(cmd.unwrap_or_default().to_owned()));
            new_args.extend(args.iter().cloned());
            obj.insert("command".into(), Value::String(monitor.to_owned()));
            obj.insert("args".into(), Value::Array(new_args));
        }
        r.changed.push(e.name.clone());
    }
    if edits.is_empty() {
        return Some(r);
    }
    let new_bytes = match edited(&doc, edits, syntax, &expected) {
        Ok(b) => b,
        Err(m) => {
            r.changed.clear();
            r.error = Some(m);
            return Some(r);
        }
    };
    r.rewritten = true;
    let backup = backup_path(&real);
    let has_backup = backup.exists();
    if opts.dry_run {
        if !has_backup {
            r.notes.push(format!("backup: {}", backup.display()));
        }
        return Some(r);
    }
    if let Err(e) = write_install(&real, &bytes, &new_bytes, &meta, has_backup) {
        r.changed.clear();
        r.rewritten = false;
        r.error = Some(format!("{e:#}"));
        return Some(r);
    }
    if !has_backup {
        r.notes.push(format!("backup: {}", backup.display()));
    }
    Some(r)
}

/// The file's new bytes after the edits, provided they read back as
/// `expected`; otherwise why the file is left as it is.
fn edited(
    doc: &Doc,
    edits: Vec<Edit>,
    syntax: Syntax,
    expected: &Value,
) -> Result<Vec<u8>, String> {
    let text = apply(&doc.text, edits).map_err(|m| format!("cannot edit: {m}; not changed"))?;
    match reparse(&text, syntax) {
        Ok(v) if v == *expected => Ok(with_bom(doc, text)),
        _ => Err("the edited file would not read back as intended; not changed".into()),
    }
}

fn with_bom(doc: &Doc, text: String) -> Vec<u8> {
    if doc.bom {
        let mut b = "\u{feff}".as_bytes().to_vec();
        b.extend_from_slice(text.as_bytes());
        b
    } else {
        text.into_bytes()
    }
}

fn write_install(
    real: &Path,
    old: &[u8],
    new: &[u8],
    meta: &Metadata,
    has_backup: bool,
) -> anyhow::Result<()> {
    let backup = backup_path(real);
    // The checksum stays true only while the file is exactly what install
    // wrote; a file edited since keeps a stale one, so uninstall unwraps in place.
    let still_ours = if has_backup {
        read_checksum(real).is_some_and(|c| c == sha256_hex(old))
    } else {
        write_atomic(&backup, old, meta, None)
            .with_context(|| format!("writing the backup {}", backup.display()))?;
        true
    };
    if let Err(e) = write_atomic(real, new, meta, Some(old)) {
        if !has_backup {
            let _ = fs::remove_file(&backup);
        }
        return Err(e);
    }
    if still_ours {
        let sum = format!("{}\n", sha256_hex(new));
        write_atomic(&checksum_path(real), sum.as_bytes(), meta, None)
            .context("writing the checksum next to the backup")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Uninstall

/// Undoes install in every selected file; see [`run_uninstall`].
pub fn uninstall(opts: &InstallOptions) -> anyhow::Result<Vec<FileReport>> {
    each_target(opts, uninstall_file)
}

fn uninstall_file(t: &Target, opts: &InstallOptions, monitor: &str) -> Option<FileReport> {
    let mut r = FileReport::of(t);
    let (real, bytes, text, meta) = match load(&t.path) {
        Ok(None) => {
            let backup = backup_path(&t.path);
            if backup.exists() {
                r.notes.push(format!(
                    "the file is gone; its backup is left at {}",
                    backup.display()
                ));
                return Some(r);
            }
            return None;
        }
        Ok(Some(l)) => (l.real, l.bytes, l.text, l.meta),
        Err(m) => {
            r.error = Some(m);
            return Some(r);
        }
    };
    let syntax = syntax_of(t.kind)?;
    let backup = backup_path(&real);
    let backup_bytes = fs::read(&backup).ok();
    let untouched =
        backup_bytes.is_some() && read_checksum(&real).is_some_and(|c| c == sha256_hex(&bytes));
    // The whole file is restored only when every server is to be unwrapped.
    if untouched && opts.servers.is_empty() {
        if let Ok(doc) = parse_doc(&text, syntax) {
            for e in entries(t.kind, &doc) {
                if install_wrapped(e.value, monitor).is_some() {
                    r.changed.push(e.name.clone());
                }
            }
        }
        r.rewritten = true;
        r.notes.push("restored from the backup".into());
        if opts.dry_run {
            return Some(r);
        }
        let restored = backup_bytes.unwrap_or_default();
        if let Err(e) = write_atomic(&real, &restored, &meta, Some(&bytes)) {
            r.changed.clear();
            r.rewritten = false;
            r.error = Some(format!("{e:#}"));
            return Some(r);
        }
        remove_backup(&real, &mut r);
        return Some(r);
    }
    let doc = match parse_doc(&text, syntax) {
        Ok(d) => d,
        Err(e) => {
            r.error = Some(format!("{}; not changed", format_error(&e)));
            if backup_bytes.is_some() {
                r.notes.push(format!("backup kept: {}", backup.display()));
            }
            return Some(r);
        }
    };
    let original = backup_bytes
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| parse_doc(s, syntax).ok());
    let list = entries(t.kind, &doc);
    let mut edits = Vec::new();
    let mut expected = doc.value.clone();
    let mut remaining = 0usize;
    for e in &list {
        let Some(k) = install_wrapped(e.value, monitor) else {
            if is_wrapped(e.value, monitor) && selected(opts, &e.name) {
                r.skipped
                    .push((e.name.clone(), "not wrapped by install: left as is".into()));
            }
            continue;
        };
        if !selected(opts, &e.name) {
            remaining += 1;
            continue;
        }
        match unwrap_edits(&doc, e, k, original.as_ref(), t.kind) {
            Ok((mut more, (cmd, args))) => {
                edits.append(&mut more);
                if let Some(Value::Object(obj)) = value_at_mut(&mut expected, &e.path) {
                    obj.insert("command".into(), cmd);
                    match args {
                        Some(a) => obj.insert("args".into(), a),
                        None => obj.remove("args"),
                    };
                }
                r.changed.push(e.name.clone());
            }
            Err(m) => {
                remaining += 1;
                r.skipped.push((e.name.clone(), m));
            }
        }
    }
    if edits.is_empty() && backup_bytes.is_none() {
        return (!r.skipped.is_empty()).then_some(r);
    }
    let new_bytes = match edited(&doc, edits, syntax, &expected) {
        Ok(b) => b,
        Err(m) => {
            r.changed.clear();
            r.error = Some(m);
            return Some(r);
        }
    };
    if backup_bytes.is_none() {
        r.notes
            .push("no backup from install: unwrapped in place".into());
    } else if untouched {
        r.notes.push("unwrapped in place".into());
    } else if !r.changed.is_empty() {
        r.notes
            .push("edited since install: unwrapped in place, other edits kept".into());
    }
    r.rewritten = new_bytes != bytes;
    if opts.dry_run {
        return Some(r);
    }
    if r.rewritten
        && let Err(e) = write_atomic(&real, &new_bytes, &meta, Some(&bytes))
    {
        r.changed.clear();
        r.rewritten = false;
        r.error = Some(format!("{e:#}"));
        return Some(r);
    }
    if backup_bytes.is_some() {
        if remaining == 0 {
            remove_backup(&real, &mut r);
            r.notes.push("backup removed".into());
        } else {
            if untouched {
                let sum = format!("{}\n", sha256_hex(&new_bytes));
                if let Err(e) = write_atomic(&checksum_path(&real), sum.as_bytes(), &meta, None) {
                    r.error = Some(format!("updating the checksum: {e:#}"));
                }
            }
            r.notes.push(format!(
                "backup kept ({remaining} wrapped servers remain): {}",
                backup.display()
            ));
        }
    }
    Some(r)
}

fn remove_backup(real: &Path, r: &mut FileReport) {
    let backup = backup_path(real);
    if let Err(e) = fs::remove_file(&backup)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        r.error = Some(format!("removing {}: {e}", backup.display()));
    }
    let _ = fs::remove_file(checksum_path(real));
}

/// The new `command` and `args` (`None`: no args key) of an unwrapped entry.
type Unwrapped = (Value, Option<Value>);

/// Edits that take the wrapper off an entry: back to the backup's own text
/// when the backup has this server with the same command line, else to the
/// command and arguments after `--`.
fn unwrap_edits(
    doc: &Doc,
    e: &Entry<'_>,
    k: usize,
    original: Option<&Doc>,
    kind: Kind,
) -> Result<(Vec<Edit>, Unwrapped), String> {
    let node = e.node;
    let cmd = node.member("command").ok_or("no command")?;
    let args_m = node.member("args").ok_or("no args")?;
    let NodeKind::Array(items) = &args_m.value.kind else {
        return Err("\"args\" is not a list".into());
    };
    let (_, args) = command_args(e.value);
    let inner = &args[k..];
    if let Some(orig) = original {
        let same = entries(kind, orig)
            .into_iter()
            .find(|o| o.container == e.container && o.name == e.name);
        if let Some(o) = same {
            let (ocmd, oargs) = command_args(o.value);
            let mut line = vec![Value::String(ocmd.unwrap_or_default().to_owned())];
            line.extend(oargs.iter().cloned());
            let ocmd_m = o.node.member("command");
            if ocmd.is_some()
                && line == inner
                && let Some(ocmd_m) = ocmd_m
            {
                let mut edits = vec![Edit {
                    start: cmd.value.start,
                    end: cmd.value.end,
                    with: orig.text[ocmd_m.value.start..ocmd_m.value.end].to_owned(),
                }];
                let cmd_v = o.value.get("command").cloned().unwrap_or(Value::Null);
                let args_v = o.value.get("args").cloned();
                match o.node.member("args") {
                    Some(oa) => edits.push(Edit {
                        start: args_m.value.start,
                        end: args_m.value.end,
                        with: orig.text[oa.value.start..oa.value.end].to_owned(),
                    }),
                    None => edits.push(remove_member_edit(doc, node, args_m)),
                }
                return Ok((edits, (cmd_v, args_v)));
            }
        }
    }
    let cmd_item = items.get(k).ok_or("nothing after \"--\"")?;
    let mut edits = vec![Edit {
        start: cmd.value.start,
        end: cmd.value.end,
        with: doc.text[cmd_item.start..cmd_item.end].to_owned(),
    }];
    match items.get(k + 1) {
        Some(next) => edits.push(Edit {
            start: items[0].start,
            end: next.start,
            with: String::new(),
        }),
        None => edits.push(Edit {
            start: args_m.value.start,
            end: args_m.value.end,
            with: "[]".into(),
        }),
    }
    Ok((
        edits,
        (inner[0].clone(), Some(Value::Array(inner[1..].to_vec()))),
    ))
}

// ---------------------------------------------------------------------------
// Report

fn render(reports: &[FileReport], mode: Mode, dry_run: bool) -> String {
    let mut out = String::new();
    let verb = match (mode, dry_run) {
        (Mode::Install, false) => "wrapped",
        (Mode::Install, true) => "would wrap",
        (Mode::Uninstall, false) => "unwrapped",
        (Mode::Uninstall, true) => "would unwrap",
    };
    let mut servers = 0;
    let mut files = 0;
    for r in reports {
        let host = r.host.map_or("", Host::as_str);
        let _ = writeln!(out, "{host} {}", r.path.display());
        if !r.changed.is_empty() {
            let _ = writeln!(out, "  {verb}: {}", r.changed.join(", "));
            servers += r.changed.len();
        }
        if r.rewritten {
            files += 1;
        }
        for (name, why) in &r.skipped {
            let _ = writeln!(out, "  skipped {name}: {why}");
        }
        for n in &r.notes {
            let _ = writeln!(out, "  {n}");
        }
        if let Some(e) = &r.error {
            let _ = writeln!(out, "  error: {e}");
        }
        if r.changed.is_empty() && r.skipped.is_empty() && r.notes.is_empty() && r.error.is_none() {
            let _ = writeln!(out, "  nothing to change");
        }
    }
    if reports.is_empty() {
        let _ = writeln!(out, "no MCP server configs with servers to change");
    }
    let _ = writeln!(
        out,
        "{}{servers} server(s) {verb} in {files} file(s){}",
        if dry_run { "dry run: " } else { "" },
        if dry_run { "; nothing written" } else { "" }
    );
    out
}

/// The SHA-256 of `data` in hex, for the checksum of what install wrote.
fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
