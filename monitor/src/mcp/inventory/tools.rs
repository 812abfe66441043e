//! A server's tools as its `tools/list` answer declares them, cut to bounded
//! sizes: what the inventory keeps and compares.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Tools kept per server; the rest of a larger list is counted, not kept.
pub const MAX_TOOLS: usize = 512;
/// Characters of a description (or title) kept; a change further on still
/// shows through the digest of the whole text.
pub const MAX_TEXT: usize = 4096;
/// Characters of a tool name kept.
pub const MAX_NAME: usize = 256;
/// Schema properties compared one by one per tool; more are compared as a whole.
pub const MAX_PROPERTIES: usize = 128;

/// The behaviour hints a tool declares (MCP `ToolAnnotations`); `None` where
/// it declares nothing, which the specification reads as readOnlyHint false,
/// destructiveHint true, idempotentHint false, openWorldHint true.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ToolHints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destructive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_world: Option<bool>,
}

/// One tool, as kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tool {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// The description, cut to [`MAX_TEXT`] characters.
    pub description: String,
    /// Digest of the whole description.
    pub description_digest: String,
    /// Digest of the whole input schema.
    pub schema_digest: String,
    /// Digest of each property of the input schema, by name (at most
    /// [`MAX_PROPERTIES`]).
    pub properties: BTreeMap<String, String>,
    /// The schema's `required` list.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    pub hints: ToolHints,
}

/// The tools of one complete `tools/list` answer (all its pages).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ToolList {
    /// Sorted by name, unique.
    pub tools: Vec<Tool>,
    /// Tools of the answer that were not kept (past [`MAX_TOOLS`], or without
    /// a name).
    pub dropped: usize,
}

impl ToolList {
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.tools[i])
    }

    /// Adds the tools of one page; a name seen again replaces the earlier one.
    pub fn extend(&mut self, page: ToolList) {
        self.dropped += page.dropped;
        for tool in page.tools {
            match self
                .tools
                .binary_search_by(|t| t.name.as_str().cmp(&tool.name))
            {
                Ok(i) => self.tools[i] = tool,
                Err(_) if self.tools.len() >= MAX_TOOLS => self.dropped += 1,
                Err(i) => self.tools.insert(i, tool),
            }
        }
    }
}

/// The `tools` of one `tools/list` result (one page), and its `nextCursor`.
pub fn parse_page(result: &Value) -> (ToolList, Option<String>) {
    let mut list = ToolList::default();
    let cursor = result
        .get("nextCursor")
        .and_then(Value::as_str)
        .map(|c| cut(c, MAX_NAME));
    let Some(tools) = result.get("tools").and_then(Value::as_array) else {
        return (list, cursor);
    };
    let mut page = Vec::new();
    for t in tools {
        match t.get("name").and_then(Value::as_str) {
            Some(name) if page.len() < MAX_TOOLS => page.push(parse_tool(name, t)),
            _ => list.dropped += 1,
        }
    }
    list.extend(ToolList {
        tools: {
            page.sort_by(|a, b| a.name.cmp(&b.name));
            page
        },
        dropped: 0,
    });
    (list, cursor)
}

fn parse_tool(name: &str, t: &Value) -> Tool {
    fn text(v: Option<&Value>) -> &str {
        v.and_then(Value::as_str).unwrap_or_default()
    }
    let description = text(t.get("description"));
    let schema = t.get("inputSchema").unwrap_or(&Value::Null);
    let mut properties = BTreeMap::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props.iter().take(MAX_PROPERTIES) {
            properties.insert(cut(k, MAX_NAME), digest(v.to_string().as_bytes()));
        }
    }
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .take(MAX_PROPERTIES)
                .map(|s| cut(s, MAX_NAME))
                .collect()
        })
        .unwrap_or_default();
    let a = t.get("annotations");
    let hint = |k: &str| a.and_then(|a| a.get(k)).and_then(Value::as_bool);
    Tool {
        name: cut(name, MAX_NAME),
        title: cut(
            text(t.get("title").or_else(|| a.and_then(|a| a.get("title")))),
            MAX_TEXT,
        ),
        description: cut(description, MAX_TEXT),
        description_digest: digest(description.as_bytes()),
        schema_digest: digest(schema.to_string().as_bytes()),
        properties,
        required,
        hints: ToolHints {
            read_only: hint("readOnlyHint"),
            destructive: hint("destructiveHint"),
            idempotent: hint("idempotentHint"),
            open_world: hint("openWorldHint"),
        },
    }
}

/// The first `max` characters of `s`.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// A short digest (hex, 16 digits) of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}
