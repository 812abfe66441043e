//! The MCP server entries of a document: where each host keeps them, which
//! are wrapped already, and why a server is left alone.
use std::path::Path;

use serde_json::Value;

use super::document::{Doc, Node, NodeKind};
use super::targets::{Kind, Target};
use crate::discover::config::{Origin, Transport, parse_server};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// One server entry of a file.
pub(super) struct Entry<'d> {
    /// Keys from the root to the object or list holding the entry.
    pub(super) container: Vec<String>,
    /// The full path to the entry, for the value tree.
    pub(super) path: Vec<Seg>,
    pub(super) name: String,
    pub(super) node: &'d Node,
    pub(super) value: &'d Value,
}

fn value_at<'v>(v: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, s| match s {
        Seg::Key(k) => v.get(k.as_str()),
        Seg::Index(i) => v.get(*i),
    })
}

pub(super) fn value_at_mut<'v>(v: &'v mut Value, path: &[Seg]) -> Option<&'v mut Value> {
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

pub(super) fn entries<'d>(kind: Kind, doc: &'d Doc) -> Vec<Entry<'d>> {
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
pub(super) fn command_args(v: &Value) -> (Option<&str>, &[Value]) {
    let cmd = v.get("command").and_then(Value::as_str);
    let args = v
        .get("args")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    (cmd, args)
}

/// Any `mcp-monitor launch …` in front of a server, by install or by hand.
pub(super) fn is_wrapped(v: &Value, monitor: &str) -> bool {
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
pub(super) fn install_wrapped(v: &Value, monitor: &str) -> Option<usize> {
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
pub(super) fn skip_reason(t: &Target, e: &Entry<'_>, monitor: &str) -> Option<String> {
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
