//! Config documents with spans: JSON, JSONC and TOML parsed into a tree that
//! knows where each key and value is in the text, beside the parsed value, so
//! edits can replace exactly the bytes of one value.
use serde_json::Value;

use crate::discover::formats::{FormatError, parse_jsonc, parse_toml, strip_jsonc};

/// A value of a parsed document and where its text is (byte offsets).
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) kind: NodeKind,
}

#[derive(Clone, Debug)]
pub(super) enum NodeKind {
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
pub(super) struct Member {
    pub(super) key: String,
    pub(super) key_start: usize,
    pub(super) value: Node,
}

impl Node {
    pub(super) fn members(&self) -> &[Member] {
        match &self.kind {
            NodeKind::Object { members, .. } => members,
            _ => &[],
        }
    }
    /// The last member of that key (the one parsers keep).
    pub(super) fn member(&self, key: &str) -> Option<&Member> {
        self.members().iter().rev().find(|m| m.key == key)
    }
    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        self.member(key).map(|m| &m.value)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Syntax {
    Json,
    Toml,
}

/// A parsed config: its text, the tree with spans, and its value.
pub(super) struct Doc {
    pub(super) syntax: Syntax,
    /// The text after a byte-order mark (offsets are into this).
    pub(super) text: String,
    pub(super) bom: bool,
    /// JSON: the text with comments blanked out (same offsets). TOML: the text.
    pub(super) clean: String,
    pub(super) root: Node,
    pub(super) value: Value,
}

pub(super) fn parse_doc(full: &str, syntax: Syntax) -> Result<Doc, FormatError> {
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

pub(super) fn reparse(text: &str, syntax: Syntax) -> Result<Value, FormatError> {
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

pub(super) fn format_error(e: &FormatError) -> String {
    match (e.line, e.col) {
        (Some(l), Some(c)) => format!("parse error at {l}:{c}: {}", e.message),
        (Some(l), None) => format!("parse error at line {l}: {}", e.message),
        _ => format!("parse error: {}", e.message),
    }
}
