//! The three file formats hosts keep MCP configs in, all read into one
//! [`serde_json::Value`] tree: JSON with comments and trailing commas (JSONC,
//! what VS Code's settings.json and several hosts accept), YAML (Continue) and
//! TOML (Codex). Errors carry a 1-based line and column when the parser gives one.
use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

/// Why a file could not be read as its format says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    pub message: String,
    /// 1-based line and column, when known.
    pub line: Option<usize>,
    pub col: Option<usize>,
}

impl FormatError {
    fn at(message: impl Into<String>, line: usize, col: usize) -> Self {
        FormatError {
            message: message.into(),
            line: Some(line),
            col: Some(col),
        }
    }
}

/// Parses JSON that may contain `//` and `/* */` comments and trailing commas.
/// Comments and those commas become spaces, so positions in errors stay true.
pub fn parse_jsonc(text: &str) -> Result<Value, FormatError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let cleaned = strip_jsonc(text);
    serde_json::from_str(&cleaned).map_err(|e| {
        let message = strip_position(&e.to_string());
        if e.line() == 0 {
            FormatError {
                message,
                line: None,
                col: None,
            }
        } else {
            FormatError::at(message, e.line(), e.column())
        }
    })
}

/// serde_json appends " at line L column C"; the position is kept separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// JSONC → JSON of the same length and line structure.
pub fn strip_jsonc(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    // Output index of a comma that a closing bracket may turn out to make trailing.
    let mut pending_comma: Option<usize> = None;
    while i < b.len() {
        match b[i] {
            b'"' => {
                pending_comma = None;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let start = i;
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                let end = (i + 2).min(b.len());
                for c in &mut out[start..end] {
                    if *c != b'\n' {
                        *c = b' ';
                    }
                }
                i = end;
            }
            b',' => {
                // A second comma in a row is an error to leave for the parser.
                pending_comma = if pending_comma.is_some() {
                    None
                } else {
                    Some(i)
                };
                i += 1;
            }
            b'}' | b']' => {
                if let Some(c) = pending_comma.take() {
                    out[c] = b' ';
                }
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                pending_comma = None;
                i += 1;
            }
        }
    }
    // Only ASCII bytes were replaced by ASCII spaces, so this stays UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Parses TOML into a JSON tree (dates become strings).
pub fn parse_toml(text: &str) -> Result<Value, FormatError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_owned();
        match e.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                FormatError::at(message, line, col)
            }
            None => FormatError {
                message,
                line: None,
                col: None,
            },
        }
    })?;
    Ok(toml_to_json(toml::Value::Table(table)))
}

fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::Number(i.into()),
        toml::Value::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Nesting deeper than this is refused (configs are a few levels deep).
const MAX_DEPTH: usize = 64;
/// Values created by alias expansion, at most.
const MAX_ALIAS_VALUES: usize = 10_000;

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Map<String, Value>, Option<String>, usize),
}

/// Parses the first YAML document into a JSON tree. Plain scalars keep their
/// YAML meaning (null, booleans, numbers); quoted ones are strings.
pub fn parse_yaml(text: &str) -> Result<Value, FormatError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: Vec<(usize, Value)> = Vec::new();
    let mut alias_values = 0usize;
    while let Some(next) = parser.next_event() {
        let (event, span) =
            next.map_err(|e| FormatError::at(e.info(), e.marker().line(), e.marker().col() + 1))?;
        let here = |m: &str| FormatError::at(m, span.start.line(), span.start.col() + 1);
        let done: Option<(Value, usize)> = match event {
            Event::Scalar(value, style, anchor, _) => {
                Some((scalar(&value, style == ScalarStyle::Plain), anchor))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(here("nesting too deep"));
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(Vec::new(), anchor)
                } else {
                    Frame::Map(Map::new(), None, anchor)
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => Some((Value::Array(items), anchor)),
                Some(Frame::Map(map, _, anchor)) => Some((Value::Object(map), anchor)),
                None => None,
            },
            Event::Alias(id) => {
                let v = anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| here("alias to an unknown anchor"))?;
                alias_values += count_values(&v);
                if alias_values > MAX_ALIAS_VALUES {
                    return Err(here("aliases expand to too many values"));
                }
                Some((v, 0))
            }
            Event::DocumentEnd if stack.is_empty() => break,
            _ => None,
        };
        let Some((value, anchor)) = done else {
            continue;
        };
        if anchor != 0 {
            anchors.push((anchor, value.clone()));
        }
        match stack.last_mut() {
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(map, key, _)) => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                }
                None => *key = Some(key_string(&value)),
            },
            None => return Ok(value),
        }
    }
    Ok(Value::Null)
}

fn key_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn count_values(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_values).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(count_values).sum::<usize>(),
        _ => 1,
    }
}

fn scalar(value: &str, plain: bool) -> Value {
    if !plain {
        return Value::String(value.to_owned());
    }
    match value {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Ok(i) = value.parse::<i64>() {
                Value::Number(i.into())
            } else if let Some(n) = value
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && value.contains(['.', 'e', 'E']))
                .and_then(Number::from_f64)
            {
                Value::Number(n)
            } else {
                Value::String(value.to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jsonc_comments_and_trailing_commas() {
        let text = "{\n  // a comment, with a comma,\n  \"a\": [1, 2,], /* block\n */ \"b\": {\"c\": \"//not a comment, ]\",},\n}\n";
        assert_eq!(
            parse_jsonc(text).unwrap(),
            json!({"a": [1, 2], "b": {"c": "//not a comment, ]"}})
        );
        assert_eq!(strip_jsonc(text).len(), text.len());
        let err = parse_jsonc("{\n  // x\n  \"a\": 1\n  \"b\": 2\n}").unwrap_err();
        assert_eq!((err.line, err.col), (Some(4), Some(3)));
        assert!(!err.message.contains("at line"), "{}", err.message);
        assert_eq!(
            parse_jsonc("{\"s\": \"a\\\"b,}\",}").unwrap(),
            json!({"s": "a\"b,}"})
        );
    }

    #[test]
    fn toml_and_positions() {
        let v = parse_toml("[mcp_servers.x]\ncommand = \"npx\"\nargs = [\"-y\", \"p\"]\n").unwrap();
        assert_eq!(
            v,
            json!({"mcp_servers": {"x": {"command": "npx", "args": ["-y", "p"]}}})
        );
        let err = parse_toml("[a]\nb = \n").unwrap_err();
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn yaml_values_anchors_and_errors() {
        let v = parse_yaml(
            "a: &x [1, \"2\", true, null, 1.5, plain]\nb: *x\nc:\n  - name: n\n    args: ['-y']\n",
        )
        .unwrap();
        assert_eq!(v["a"], json!([1, "2", true, null, 1.5, "plain"]));
        assert_eq!(v["b"], v["a"]);
        assert_eq!(v["c"][0]["args"], json!(["-y"]));
        let err = parse_yaml("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line.is_some());
    }
}
