//! Output templates: `text %proc.name text %proc.aname[2]`. A field that has no
//! value in the event renders as `<NA>`; `%%` is a literal `%`.
use super::fields::FieldRef;
use crate::event::Event;

/// A `%field` reference as written, before it is resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawField {
    pub name: String,
    pub index: Option<String>,
    /// Byte offset of the `%` in the template.
    pub offset: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Field(RawField),
}

/// Splits a template into literal text and field references.
pub fn parse(template: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = template;
    let mut base = 0;
    while let Some(i) = rest.find('%') {
        lit.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            lit.push('%');
            base += i + 2;
            rest = tail;
            continue;
        }
        let mut len = after
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .map_or(after.len(), |(j, _)| j);
        // A sentence may end right after a field: "%fd.name."
        while len > 0 && after.as_bytes()[len - 1] == b'.' {
            len -= 1;
        }
        if len == 0 || !after.starts_with(|c: char| c.is_ascii_alphabetic()) {
            lit.push('%');
            base += i + 1;
            rest = after;
            continue;
        }
        let name = &after[..len];
        let mut used = len;
        let mut index = None;
        if after[len..].starts_with('[')
            && let Some(close) = after[len..].find(']')
        {
            index = Some(after[len + 1..len + close].to_string());
            used = len + close + 1;
        }
        if !lit.is_empty() {
            out.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        out.push(Piece::Field(RawField {
            name: name.to_string(),
            index,
            offset: base + i,
        }));
        base += i + 1 + used;
        rest = &after[used..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

/// A template with its fields resolved; unknown fields (tolerated when a
/// rule is loaded in lenient mode) are `None` and render as `<NA>`.
#[derive(Debug, Default)]
pub struct Template {
    pub segs: Vec<Seg>,
}

#[derive(Debug)]
pub enum Seg {
    Lit(String),
    Field(Option<FieldRef>),
}

impl Template {
    pub fn render(&self, ev: &Event) -> String {
        let mut out = String::with_capacity(128);
        for seg in &self.segs {
            match seg {
                Seg::Lit(s) => out.push_str(s),
                Seg::Field(Some(f)) => f.get(ev).write_to(&mut out),
                Seg::Field(None) => out.push_str("<NA>"),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces() {
        let p = parse("File %fd.name opened by %proc.aname[2] (100%% sure, 5% more).");
        assert_eq!(
            p,
            vec![
                Piece::Lit("File ".into()),
                Piece::Field(RawField {
                    name: "fd.name".into(),
                    index: None,
                    offset: 5
                }),
                Piece::Lit(" opened by ".into()),
                Piece::Field(RawField {
                    name: "proc.aname".into(),
                    index: Some("2".into()),
                    offset: 24
                }),
                Piece::Lit(" (100% sure, 5% more).".into()),
            ]
        );
    }
}
