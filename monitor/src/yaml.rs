//! YAML to a small tree of nodes that remember where they came from.
//!
//! Rule files need positions for every scalar (a condition error must point at
//! the column inside the file), which generic YAML deserialisers drop. This
//! module drives `saphyr-parser`'s event stream and builds [`Node`]s with their
//! spans. It is iterative (no recursion on the input's nesting), bounds nesting
//! depth and alias expansion, so hostile input cannot blow the stack or memory.
use saphyr_parser::{Event, Parser, ScalarStyle, Span as YSpan};

/// A position in a source file: line 1-based, column 0-based (in characters),
/// `index` in characters from the start of the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub index: usize,
    pub line: usize,
    pub col: usize,
}

/// Start (inclusive) and end (exclusive) of a node in its file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: Pos,
    pub end: Pos,
}

impl From<YSpan> for Span {
    fn from(s: YSpan) -> Self {
        let p = |m: saphyr_parser::Marker| Pos {
            index: m.index(),
            line: m.line(),
            col: m.col(),
        };
        Span {
            start: p(s.start),
            end: p(s.end),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A scalar; `plain` is true for unquoted scalars (so `null`, `true` keep
    /// their YAML meaning only when unquoted).
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// A plain `~`, `null` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { value, plain: true }
            if value.is_empty() || value == "~" || value == "null" || value == "Null" || value == "NULL")
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            NodeKind::Scalar { value, plain: true } => match value.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// Looks a key up in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error or a document the loader refuses (too deep, too big).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// Nesting deeper than this is refused: rule files are three or four levels deep.
const MAX_DEPTH: usize = 64;
/// Nodes created by alias expansion, at most (guards against "billion laughs").
const MAX_ALIAS_NODES: usize = 100_000;

enum Frame {
    Seq(Vec<Node>, YSpan, usize),
    Map(Vec<(Node, Node)>, Option<Node>, YSpan, usize),
}

/// Parses a whole stream; returns the root node of every document.
///
/// One leniency, because Falco's own files rely on it (its YAML library
/// accepts it): a line holding only the `]` or `}` that closes a flow
/// collection may sit at the indentation of the key that opened it. Such a
/// line is indented a little more and the text parsed again.
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut owned: Option<String> = None;
    let mut fixes = 0;
    loop {
        let current = owned.as_deref().unwrap_or(text);
        match parse_strict(current) {
            Err(e) if fixes < 200 && e.message.contains("indentation") => {
                let Some(fixed) = indent_closing_bracket(current, e.pos.line) else {
                    return Err(e);
                };
                owned = Some(fixed);
                fixes += 1;
            }
            other => return other,
        }
    }
}

/// `text` with line `line` (1-based) indented two more spaces, if that line
/// holds only a closing bracket (and maybe a comment).
fn indent_closing_bracket(text: &str, line: usize) -> Option<String> {
    let start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let l = text[start..end].trim();
    let l = l.split('#').next().unwrap_or("").trim_end();
    if !matches!(l, "]" | "}" | "]," | "},") {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push_str(&text[..start]);
    out.push_str("  ");
    out.push_str(&text[start..]);
    Some(out)
}

fn parse_strict(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: Vec<(usize, Node)> = Vec::new();
    let mut alias_nodes = 0usize;
    let mut last: Pos;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| YamlError {
            pos: Pos {
                index: e.marker().index(),
                line: e.marker().line(),
                col: e.marker().col(),
            },
            message: e.info().to_string(),
        })?;
        last = Span::from(span).end;
        let done: Option<(Node, usize)> = match event {
            Event::Scalar(value, style, anchor, _) => Some((
                Node {
                    kind: NodeKind::Scalar {
                        value: value.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                    span: span.into(),
                },
                anchor,
            )),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        pos: Span::from(span).start,
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                    });
                }
                if matches!(event, Event::SequenceStart(..)) {
                    stack.push(Frame::Seq(Vec::new(), span, anchor));
                } else {
                    stack.push(Frame::Map(Vec::new(), None, span, anchor));
                }
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(items, start, anchor)) => Some((
                    Node {
                        kind: NodeKind::Seq(items),
                        span: Span {
                            start: Span::from(start).start,
                            end: last,
                        },
                    },
                    anchor,
                )),
                Some(Frame::Map(entries, _, start, anchor)) => Some((
                    Node {
                        kind: NodeKind::Map(entries),
                        span: Span {
                            start: Span::from(start).start,
                            end: last,
                        },
                    },
                    anchor,
                )),
                None => None,
            },
            Event::Alias(id) => {
                let node = anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone())
                    .ok_or_else(|| YamlError {
                        pos: Span::from(span).start,
                        message: "alias to an unknown anchor".into(),
                    })?;
                alias_nodes += count_nodes(&node);
                if alias_nodes > MAX_ALIAS_NODES {
                    return Err(YamlError {
                        pos: Span::from(span).start,
                        message: "aliases expand to too many nodes".into(),
                    });
                }
                Some((node, 0))
            }
            Event::DocumentEnd
            | Event::DocumentStart(_)
            | Event::StreamStart
            | Event::StreamEnd
            | Event::Nothing => None,
        };
        let Some((node, anchor)) = done else { continue };
        if anchor != 0 {
            alias_nodes += count_nodes(&node);
            if alias_nodes > MAX_ALIAS_NODES {
                return Err(YamlError {
                    pos: node.span.start,
                    message: "anchors hold too many nodes".into(),
                });
            }
            anchors.push((anchor, node.clone()));
        }
        match stack.last_mut() {
            None => docs.push(node),
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, pending, ..)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }
    Ok(docs)
}

/// Nodes in a tree, counted without recursion.
fn count_nodes(node: &Node) -> usize {
    let mut n = 0;
    let mut todo = vec![node];
    while let Some(node) = todo.pop() {
        n += 1;
        match &node.kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Seq(items) => todo.extend(items),
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    todo.push(k);
                    todo.push(v);
                }
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_of_scalars() {
        let docs = parse("- rule: a\n  condition: proc.name = x\n").unwrap();
        let NodeKind::Seq(items) = &docs[0].kind else {
            panic!()
        };
        let cond = items[0].get("condition").unwrap();
        assert_eq!(cond.as_str(), Some("proc.name = x"));
        assert_eq!((cond.span.start.line, cond.span.start.col), (2, 13));
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("- rule: a\n  condition: [x\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            s.push_str(&format!(
                "{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = c;
        }
        assert!(parse(&s).is_err());
    }

    #[test]
    fn closing_bracket_at_key_indentation_is_accepted() {
        let docs = parse("- list: a\n  items: [\n    x, y\n  ]\n- list: b\n  items: []\n").unwrap();
        let NodeKind::Seq(items) = &docs[0].kind else {
            panic!()
        };
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = "[".repeat(1000);
        assert!(parse(&s).is_err());
    }
}
