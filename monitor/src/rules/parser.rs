//! Condition text to [`Expr`]: a recursive-descent parser working directly on
//! the characters (the lexing of values depends on the operator before them).
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | "(" expr ")" | check | macro
//! check   := field ["[" arg "]"] (unary_op | binary_op value)
//! value   := word | "(" [word ("," word)*] ")"
//! word    := bare | "…" | '…'
//! ```
use super::ast::{At, Check, Expr, Op, Operand, Word};

/// A syntax error: byte offset in the text, message and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
    pub expected: Option<String>,
}

/// Parentheses and `not`s nested deeper than this are refused.
const MAX_DEPTH: usize = 100;

pub fn parse(text: &str, text_id: u32) -> Result<Expr, ParseError> {
    let mut p = Parser {
        s: text,
        pos: 0,
        text_id,
        depth: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(p.err(
            0,
            "empty condition",
            "a condition such as `proc.name = bash`",
        ));
    }
    let e = p.expr()?;
    p.skip_ws();
    if !p.at_end() {
        if p.peek() == Some(')') {
            return Err(p.err(
                p.pos,
                "unbalanced parenthesis: `)` without a matching `(`",
                "`and`, `or` or the end of the condition",
            ));
        }
        return Err(p.err(
            p.pos,
            format!("unexpected `{}`", p.token_preview()),
            "`and`, `or` or the end of the condition",
        ));
    }
    Ok(e)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    text_id: u32,
    depth: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

impl<'a> Parser<'a> {
    fn at(&self, offset: usize) -> At {
        At {
            text: self.text_id,
            offset: offset as u32,
        }
    }

    fn err(&self, offset: usize, msg: impl Into<String>, expected: &str) -> ParseError {
        ParseError {
            offset,
            message: msg.into(),
            expected: Some(expected.to_string()),
        }
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn skip_ws(&mut self) {
        let rest = &self.s[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// The next few characters, for messages.
    fn token_preview(&self) -> String {
        let rest = &self.s[self.pos..];
        let end = rest
            .char_indices()
            .find(|&(i, c)| i > 0 && (c.is_whitespace() || c == '(' || c == ')'))
            .map_or(rest.len(), |(i, _)| i);
        rest[..end].chars().take(40).collect()
    }

    /// Consumes the keyword `kw` if it is next and stands alone.
    fn keyword(&mut self, kw: &str) -> bool {
        let rest = &self.s[self.pos..];
        if let Some(after) = rest.strip_prefix(kw)
            && !after.chars().next().is_some_and(is_ident_char)
        {
            self.pos += kw.len();
            return true;
        }
        false
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.and()?];
        loop {
            self.skip_ws();
            if self.keyword("or") {
                items.push(self.and()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::And(Vec::new()))
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.unary()?];
        loop {
            self.skip_ws();
            if self.keyword("and") {
                items.push(self.unary()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::And(Vec::new()))
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(
                self.pos,
                format!("condition nested deeper than {MAX_DEPTH} levels"),
                "a flatter condition",
            ));
        }
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                let e = self.expr()?;
                self.skip_ws();
                if self.peek() == Some(')') {
                    self.pos += 1;
                    Ok(e)
                } else if self.at_end() {
                    Err(self.err(
                        start,
                        "unbalanced parenthesis: this `(` is never closed",
                        "`)`",
                    ))
                } else {
                    Err(self.err(
                        self.pos,
                        format!("unexpected `{}`", self.token_preview()),
                        "`and`, `or` or `)`",
                    ))
                }
            }
            Some(c) if is_ident_start(c) => self.check_or_macro(),
            None => Err(self.err(
                self.pos,
                "unexpected end of condition",
                "a field check, a macro name, `not` or `(`",
            )),
            Some(')') => Err(self.err(
                self.pos,
                "unexpected `)`",
                "a field check, a macro name, `not` or `(`",
            )),
            Some(_) => Err(self.err(
                self.pos,
                format!("unexpected `{}`", self.token_preview()),
                "a field check, a macro name, `not` or `(`",
            )),
        }
    }

    fn ident(&mut self) -> &'a str {
        let start = self.pos;
        let rest = &self.s[start..];
        let len = rest
            .char_indices()
            .find(|&(_, c)| !is_ident_char(c))
            .map_or(rest.len(), |(i, _)| i);
        self.pos += len;
        &self.s[start..start + len]
    }

    fn check_or_macro(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        let name = self.ident();
        if matches!(name, "and" | "or") {
            return Err(self.err(
                start,
                format!("`{name}` needs something before it"),
                "a field check, a macro name, `not` or `(`",
            ));
        }
        let mut index = None;
        if self.peek() == Some('[') {
            let open = self.pos;
            let rest = &self.s[open + 1..];
            match rest.find(']') {
                Some(close) => {
                    index = Some(rest[..close].to_string());
                    self.pos = open + 1 + close + 1;
                }
                None => {
                    return Err(self.err(open, "unclosed `[` after a field name", "`]`"));
                }
            }
        }
        if self.peek() == Some('(') {
            return Err(self.err(
                start,
                format!("`{name}(…)`: field transformers are not supported"),
                "a field name",
            ));
        }
        let before_op = self.pos;
        self.skip_ws();
        let op_at = self.pos;
        let op = self.operator();
        let Some(op) = op else {
            if index.is_none() && !name.contains('.') {
                self.pos = before_op;
                return Ok(Expr::Macro(name.to_string(), self.at(start)));
            }
            return Err(self.err(
                op_at,
                if self.at_end() {
                    format!("missing operator after `{name}`")
                } else {
                    format!("unknown operator `{}`", self.token_preview())
                },
                "an operator: =, !=, <, <=, >, >=, in, intersects, contains, icontains, startswith, endswith, glob, pmatch, regex, exists",
            ));
        };
        let value = if op == Op::Exists {
            None
        } else {
            self.skip_ws();
            Some(self.operand(op)?)
        };
        Ok(Expr::Check(Check {
            field: name.to_string(),
            index,
            field_at: self.at(start),
            op,
            op_at: self.at(op_at),
            value,
        }))
    }

    fn operator(&mut self) -> Option<Op> {
        let rest = &self.s[self.pos..];
        for (sym, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if rest.starts_with(sym) {
                self.pos += sym.len();
                return Some(op);
            }
        }
        for &(word, op) in Op::WORDS {
            if self.keyword(word) {
                return Some(op);
            }
        }
        None
    }

    fn operand(&mut self, op: Op) -> Result<Operand, ParseError> {
        if self.peek() == Some('(') {
            let open = self.pos;
            self.pos += 1;
            let mut items = Vec::new();
            loop {
                self.skip_ws();
                match self.peek() {
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    None => {
                        return Err(self.err(
                            open,
                            "unbalanced parenthesis: this list is never closed",
                            "`)`",
                        ));
                    }
                    Some(',') if !items.is_empty() => {
                        self.pos += 1;
                        continue;
                    }
                    Some('(') => {
                        return Err(self.err(
                            self.pos,
                            "a list cannot contain `(`",
                            "a value, `,` or `)`",
                        ));
                    }
                    _ => items.push(self.word()?),
                }
            }
            if !op.takes_list() {
                return Err(self.err(
                    open,
                    format!("`{}` takes one value, not a list", op.as_str()),
                    "a single value (lists go with in, intersects, pmatch)",
                ));
            }
            return Ok(Operand::List {
                items,
                at: self.at(open),
                bare: false,
            });
        }
        let w = self.word()?;
        if op.takes_list() {
            // `x in list_name` without parentheses: a one-item list.
            let at = w.at;
            return Ok(Operand::List {
                items: vec![w],
                at,
                bare: true,
            });
        }
        Ok(Operand::Word(w))
    }

    fn word(&mut self) -> Result<Word, ParseError> {
        let start = self.pos;
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                let mut text = String::new();
                let mut chars = self.s[start + 1..].char_indices();
                while let Some((i, c)) = chars.next() {
                    if c == q {
                        self.pos = start + 1 + i + 1;
                        return Ok(Word {
                            text,
                            quoted: true,
                            at: self.at(start),
                        });
                    }
                    if c == '\\' {
                        match chars.next() {
                            Some((_, e @ ('"' | '\'' | '\\'))) => text.push(e),
                            Some((_, e)) => {
                                text.push('\\');
                                text.push(e);
                            }
                            None => break,
                        }
                    } else {
                        text.push(c);
                    }
                }
                Err(self.err(start, "unterminated string", &format!("a closing {q}")))
            }
            None => Err(self.err(start, "missing value", "a value after the operator")),
            Some(c) if c == ')' || c == ',' => Err(self.err(
                start,
                format!("missing value before `{c}`"),
                "a value after the operator",
            )),
            Some(_) => {
                let rest = &self.s[start..];
                let len = rest
                    .char_indices()
                    .find(|&(_, c)| c.is_whitespace() || matches!(c, '(' | ')' | ','))
                    .map_or(rest.len(), |(i, _)| i);
                self.pos += len;
                Ok(Word {
                    text: rest[..len].to_string(),
                    quoted: false,
                    at: self.at(start),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        parse(s, 0).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    fn e(s: &str) -> ParseError {
        parse(s, 0).unwrap_err()
    }

    #[test]
    fn precedence_and_canonical_form() {
        assert_eq!(p("a or b and not c").to_string(), "(a or (b and not c))");
        assert_eq!(
            p("(evt.type in (open,openat) and fd.num>=0) or proc.aname[2]=bash").to_string(),
            "((evt.type in (open, openat) and fd.num >= 0) or proc.aname[2] = bash)"
        );
        assert_eq!(
            p("proc.name exists and fd.name startswith '/a b'").to_string(),
            "(proc.name exists and fd.name startswith \"/a b\")"
        );
        assert_eq!(p("not(a)").to_string(), "not a");
        assert_eq!(p("fd.name in shells").to_string(), "fd.name in (shells)");
        assert_eq!(
            p(r#"proc.cmdline contains "say \"hi\"""#).to_string(),
            r#"proc.cmdline contains "say \"hi\"""#
        );
    }

    #[test]
    fn errors_point_at_the_offence() {
        assert_eq!(e("(a and b").offset, 0);
        assert_eq!(e("a and b)").offset, 7);
        assert_eq!(e("proc.name = ").offset, 12);
        assert_eq!(e("proc.name ~ x").offset, 10);
        assert_eq!(e("a and").offset, 5);
        assert_eq!(e("proc.name in (a, (b))").offset, 17);
        assert_eq!(e("proc.name = 'x").offset, 12);
        assert_eq!(e("proc.name = (a, b)").offset, 12);
        assert_eq!(e("").offset, 0);
        assert!(e(&"(".repeat(500)).message.contains("nested"));
    }
}
