//! Errors and warnings with file, line and column, and how they are shown.
use std::{fmt, sync::Arc};

use crate::yaml::{Pos, Span};

/// A rule source: a file name (or `<default>/name.yaml`) and its text.
#[derive(Clone, Debug)]
pub struct RuleSource {
    pub name: String,
    pub text: String,
}

impl RuleSource {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        RuleSource {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// A place in a rule file. `line` and `col` are 1-based; `col` counts characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// What went wrong, for programs (tests, the daemon) that need more than text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The file is not valid YAML.
    Yaml,
    /// Valid YAML with the wrong shape (a rule without a name, a bad priority…).
    Schema,
    /// The condition does not parse (unbalanced parenthesis, missing value…).
    Syntax,
    /// A field nobody knows.
    UnknownField,
    /// A Falco field that mcp-monitor does not provide.
    UnsupportedField,
    /// Operator or value does not fit the field's type.
    TypeMismatch,
    UndefinedMacro,
    UndefinedList,
    MacroCycle,
    ListCycle,
    BadRegex,
    BadCidr,
    DuplicateRule,
    /// An override of something that was never defined.
    UndefinedOverride,
    /// A condition that grows past the engine's limits once macros are inlined.
    TooComplex,
    Io,
    // Warnings.
    UnusedList,
    UnusedMacro,
    NoEventType,
    Redefinition,
    UnknownKey,
    Skipped,
}

/// One error or warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub kind: Kind,
    pub location: Location,
    pub message: String,
    /// What would have been right there, if it can be said.
    pub expected: Option<String>,
    /// The source line the location points into.
    pub line_text: Option<String>,
}

/// Warnings are diagnostics of [`Severity::Warning`].
pub type Warning = Diagnostic;

impl Diagnostic {
    /// `file:line:col: error: message` and, when colour is off and the source
    /// is known, the offending line with a caret under the column.
    pub fn render(&self, color: bool) -> String {
        let (label, paint) = match self.severity {
            Severity::Error => ("error", "\x1b[1;31m"),
            Severity::Warning => ("warning", "\x1b[1;33m"),
        };
        let (bold, reset, blue) = if color {
            ("\x1b[1m", "\x1b[0m", "\x1b[1;34m")
        } else {
            ("", "", "")
        };
        let paint = if color { paint } else { "" };
        let mut out = format!(
            "{bold}{}{reset}: {paint}{label}{reset}: {bold}{}{reset}\n",
            self.location,
            shorten(&self.message, MESSAGE_SHOWN)
        );
        if let Some(line) = &self.line_text {
            let num = self.location.line.to_string();
            let pad = " ".repeat(num.len());
            let (line, col) = excerpt(line, self.location.col);
            // Keep tabs under tabs so the caret lines up in any terminal.
            let lead: String = line
                .chars()
                .take(col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!("{blue}{num} |{reset} {line}\n"));
            out.push_str(&format!("{blue}{pad} |{reset} {lead}{paint}^{reset}\n"));
        }
        if let Some(exp) = &self.expected {
            out.push_str(&format!("  = expected: {exp}\n"));
        }
        out
    }
}

/// Characters of a message shown: one from a 200 KB line must not be 200 KB.
const MESSAGE_SHOWN: usize = 300;
/// Characters of the offending line shown on each side of the column.
const LINE_CONTEXT: usize = 60;

/// `text` cut to `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]).into(),
        None => text.into(),
    }
}

/// The part of `line` around column `col` (1-based, in characters) that is
/// shown, with ellipses where it was cut, and the column within it.
fn excerpt(line: &str, col: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= 2 * LINE_CONTEXT {
        return (line.to_owned(), col);
    }
    let at = col.saturating_sub(1).min(chars.len());
    let start = at.saturating_sub(LINE_CONTEXT);
    let end = (at + LINE_CONTEXT).min(chars.len());
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    (shown, at - start + 1 + usize::from(start > 0))
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {label}: {}", self.location, self.message)?;
        if let Some(exp) = &self.expected {
            write!(f, " (expected {exp})")?;
        }
        Ok(())
    }
}

/// A load that failed: every error found (not only the first), and the warnings.
#[derive(Clone, Debug)]
pub struct LoadError {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.first() {
            Some(first) if self.errors.len() == 1 => write!(f, "{first}"),
            Some(first) => write!(f, "{first} (and {} more errors)", self.errors.len() - 1),
            None => write!(f, "rules failed to load"),
        }
    }
}

impl std::error::Error for LoadError {}

/// A loaded source file with what is needed to turn YAML positions into
/// diagnostics.
#[derive(Debug)]
pub struct SourceFile {
    pub name: Arc<str>,
    pub text: String,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(src: &RuleSource) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: src.name.as_str().into(),
            text: src.text.clone(),
            line_starts,
        }
    }

    /// The text of a 1-based line, without its end of line.
    pub fn line(&self, line: usize) -> Option<&str> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        Some(self.text[start..end].trim_end_matches(['\n', '\r']))
    }

    /// Byte offset of a YAML position (line 1-based, column 0-based in chars).
    fn byte_of(&self, pos: Pos) -> usize {
        let Some(line) = self.line(pos.line) else {
            return self.text.len();
        };
        let start = self.line_starts[pos.line - 1];
        start
            + line
                .char_indices()
                .nth(pos.col)
                .map(|(i, _)| i)
                .unwrap_or(line.len())
    }

    /// 1-based line and column of a byte offset.
    fn line_col(&self, byte: usize) -> (usize, usize) {
        let byte = byte.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= byte);
        let start = self.line_starts[line - 1];
        let col = self.text[start..byte].chars().count() + 1;
        (line, col)
    }

    pub fn location_of(&self, pos: Pos) -> Location {
        Location {
            file: self.name.clone(),
            line: pos.line.max(1),
            col: pos.col + 1,
        }
    }

    /// Where byte `offset` of a scalar's value lies in the file.
    ///
    /// YAML folds lines, strips indentation and resolves quotes, so a value is
    /// not a slice of the file. Its non-blank characters are, in order, a
    /// subsequence of the file text inside the scalar's span; walking both
    /// side by side finds the file position of any character of the value.
    pub fn location_in_scalar(&self, span: Span, value: &str, offset: usize) -> Location {
        let start = self.byte_of(span.start);
        let end = self.byte_of(span.end).max(start).min(self.text.len());
        let file = &self.text[start..end];
        let mut fchars = file.char_indices().peekable();
        // File offset just past the last matched character.
        let mut after_last = 0usize;
        let mut target: Option<usize> = None;
        for (vi, vc) in value.char_indices() {
            if vc.is_whitespace() {
                if vi >= offset {
                    target = Some(after_last);
                    break;
                }
                continue;
            }
            let mut found = None;
            for (fi, fc) in fchars.by_ref() {
                if fc == vc {
                    found = Some(fi);
                    break;
                }
            }
            let Some(fi) = found else { break };
            if vi >= offset {
                target = Some(fi);
                break;
            }
            after_last = fi + vc.len_utf8();
        }
        let at = start + target.unwrap_or(after_last);
        let (line, col) = self.line_col(at);
        Location {
            file: self.name.clone(),
            line,
            col,
        }
    }

    /// A diagnostic at `loc`, with the line's text attached.
    pub fn diag(
        &self,
        severity: Severity,
        kind: Kind,
        loc: Location,
        message: impl Into<String>,
        expected: Option<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            kind,
            line_text: self.line(loc.line).map(str::to_owned),
            location: loc,
            message: message.into(),
            expected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn positions_inside_folded_scalars() {
        let text = "- macro: m\n  condition: >\n    proc.name = a and\n      fd.name = b\n";
        let src = SourceFile::new(&RuleSource::new("f.yaml", text));
        let docs = yaml::parse(text).unwrap();
        let yaml::NodeKind::Seq(items) = &docs[0].kind else {
            panic!()
        };
        let cond = items[0].get("condition").unwrap();
        let value = cond.as_str().unwrap();
        let off = value.find("fd.name").unwrap();
        let loc = src.location_in_scalar(cond.span, value, off);
        assert_eq!((loc.line, loc.col), (4, 7));
        let loc = src.location_in_scalar(cond.span, value, 0);
        assert_eq!((loc.line, loc.col), (3, 5));
    }

    #[test]
    fn caret_under_the_column() {
        let src = SourceFile::new(&RuleSource::new("f.yaml", "a: b\n\tc: proc.nmae\n"));
        let loc = Location {
            file: "f.yaml".into(),
            line: 2,
            col: 5,
        };
        let d = src.diag(
            Severity::Error,
            Kind::UnknownField,
            loc,
            "unknown field",
            Some("a field".into()),
        );
        let r = d.render(false);
        assert_eq!(
            r,
            "f.yaml:2:5: error: unknown field\n2 | \tc: proc.nmae\n  | \t   ^\n  = expected: a field\n"
        );
    }

    #[test]
    fn a_long_line_is_shown_around_the_column_and_a_long_message_cut() {
        let line = format!("{}BAD{}", "a".repeat(100_000), "b".repeat(100_000));
        let src = SourceFile::new(&RuleSource::new("f.yaml", format!("{line}\n")));
        let loc = Location {
            file: "f.yaml".into(),
            line: 1,
            col: 100_001,
        };
        let message = format!("unknown key `{line}`");
        let d = src.diag(Severity::Error, Kind::UnknownField, loc, &message, None);
        let r = d.render(false);
        assert!(r.len() < 1000, "{} bytes", r.len());
        let lines: Vec<&str> = r.lines().collect();
        assert!(lines[0].ends_with('…'), "{}", lines[0]);
        let shown = lines[1].strip_prefix("1 | ").unwrap();
        let caret = lines[2].strip_prefix("  | ").unwrap();
        let at = caret.chars().count() - 1;
        assert_eq!(
            shown.chars().skip(at).take(3).collect::<String>(),
            "BAD",
            "the caret is under the column:\n{shown}\n{caret}"
        );
    }
}
