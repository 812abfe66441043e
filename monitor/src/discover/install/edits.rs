//! Text edits: byte spans replaced in a document's text, the edits that put
//! the wrapper in front of an entry or take a member out, and the check that
//! the edited text reads back as intended.
use serde_json::Value;

use super::document::{Doc, Member, Node, NodeKind, Syntax, reparse};

#[derive(Clone, Debug)]
pub(super) struct Edit {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) with: String,
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

pub(super) fn quote(s: &str) -> String {
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
pub(super) fn wrap_edits(
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
pub(super) fn remove_member_edit(doc: &Doc, entry: &Node, m: &Member) -> Edit {
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

/// The file's new bytes after the edits, provided they read back as
/// `expected`; otherwise why the file is left as it is.
pub(super) fn edited(
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
