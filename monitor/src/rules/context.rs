//! What every compile step shares: the loaded files, the located texts that
//! conditions are parsed from, and the diagnostics found so far.
use super::{
    ast::At,
    diag::{Diagnostic, Kind, Location, Severity, SourceFile},
    document::Text,
};
use crate::yaml::Span;

/// A text that conditions are parsed from: one scalar, or a condition with
/// the parts later files appended to it (joined by one space).
#[derive(Debug)]
pub struct CondText {
    pub text: String,
    /// Start offset of each part in `text`, and the part.
    pub parts: Vec<(usize, Text)>,
}

#[derive(Debug, Default)]
pub struct Ctx {
    pub files: Vec<SourceFile>,
    pub texts: Vec<CondText>,
    pub diags: Vec<Diagnostic>,
}

impl Ctx {
    /// Registers a text made of `parts`; returns its id for [`At::text`].
    pub fn add_text(&mut self, parts: &[Text]) -> u32 {
        let mut text = String::new();
        let mut located = Vec::with_capacity(parts.len());
        for p in parts {
            if !text.is_empty() {
                text.push(' ');
            }
            located.push((text.len(), p.clone()));
            text.push_str(&p.value);
        }
        self.texts.push(CondText {
            text,
            parts: located,
        });
        (self.texts.len() - 1) as u32
    }

    pub fn text(&self, id: u32) -> &str {
        &self.texts[id as usize].text
    }

    /// File, line and column of a position inside a registered text.
    pub fn locate(&self, at: At) -> Location {
        let t = &self.texts[at.text as usize];
        let off = at.offset as usize;
        let i = t.parts.partition_point(|(start, _)| *start <= off).max(1) - 1;
        let (start, part) = &t.parts[i];
        self.files[part.file].location_in_scalar(part.span, &part.value, off - start)
    }

    pub fn location_of_span(&self, file: usize, span: Span) -> Location {
        self.files[file].location_of(span.start)
    }

    fn make(
        &self,
        severity: Severity,
        kind: Kind,
        loc: Location,
        msg: String,
        expected: Option<String>,
    ) -> Diagnostic {
        // Every location comes from one of our files.
        let file = self
            .files
            .iter()
            .find(|f| f.name == loc.file)
            .or(self.files.first());
        match file {
            Some(f) => f.diag(severity, kind, loc, msg, expected),
            None => Diagnostic {
                severity,
                kind,
                location: loc,
                message: msg,
                expected,
                line_text: None,
            },
        }
    }

    /// An error at a position inside a text.
    pub fn error_at(
        &self,
        at: At,
        kind: Kind,
        msg: impl Into<String>,
        expected: Option<String>,
    ) -> Diagnostic {
        self.make(Severity::Error, kind, self.locate(at), msg.into(), expected)
    }

    /// A diagnostic at the start of a scalar or node.
    pub fn diag_at_text(
        &self,
        severity: Severity,
        t: &Text,
        kind: Kind,
        msg: impl Into<String>,
        expected: Option<String>,
    ) -> Diagnostic {
        let loc = self.location_of_span(t.file, t.span);
        self.make(severity, kind, loc, msg.into(), expected)
    }

    pub fn push_error(&mut self, t: &Text, kind: Kind, msg: impl Into<String>, expected: &str) {
        let d = self.diag_at_text(Severity::Error, t, kind, msg, Some(expected.to_string()));
        self.diags.push(d);
    }

    pub fn push_warning(&mut self, t: &Text, kind: Kind, msg: impl Into<String>) {
        let d = self.diag_at_text(Severity::Warning, t, kind, msg, None);
        self.diags.push(d);
    }
}
