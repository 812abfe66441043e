//! Inlines macros and expands list names inside value lists, producing a
//! condition made only of checks, `and`, `or` and `not`. Finds undefined
//! macros and lists, cycles, and conditions that grow past the limits.
use rustc_hash::FxHashSet;

use super::{
    ast::{At, Check, Expr, Operand, Word},
    context::Ctx,
    diag::{Diagnostic, Kind},
    merge::Defs,
};

/// Nodes a rule's condition may have once macros are inlined.
const MAX_NODES: usize = 200_000;
/// Nesting of `and`/`or`/`not`/macros, at most.
const MAX_DEPTH: usize = 400;
/// Values a list may expand to.
const MAX_ITEMS: usize = 100_000;

pub struct Resolver<'a> {
    pub ctx: &'a Ctx,
    pub defs: &'a Defs,
    /// Parsed condition of each macro; `None` when it did not parse (reported).
    pub macro_asts: &'a [Option<Expr>],
    /// Text id of each item of each list.
    pub list_item_texts: &'a [Vec<u32>],
    pub used_macros: &'a mut FxHashSet<usize>,
    pub used_lists: &'a mut FxHashSet<usize>,
    pub errors: Vec<Diagnostic>,
    nodes: usize,
    stack: Vec<usize>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        ctx: &'a Ctx,
        defs: &'a Defs,
        macro_asts: &'a [Option<Expr>],
        list_item_texts: &'a [Vec<u32>],
        used_macros: &'a mut FxHashSet<usize>,
        used_lists: &'a mut FxHashSet<usize>,
    ) -> Self {
        Resolver {
            ctx,
            defs,
            macro_asts,
            list_item_texts,
            used_macros,
            used_lists,
            errors: Vec::new(),
            nodes: 0,
            stack: Vec::new(),
        }
    }

    /// The resolved condition, or `None` with the reasons in `errors`.
    pub fn resolve(&mut self, e: &Expr) -> Option<Expr> {
        self.nodes = 0;
        self.stack.clear();
        self.expr(e, 0)
    }

    fn too_complex(&mut self, at: At, what: &str) -> Option<Expr> {
        if !self.errors.iter().any(|d| d.kind == Kind::TooComplex) {
            self.errors.push(self.ctx.error_at(
                at,
                Kind::TooComplex,
                format!("condition too complex: {what}"),
                Some("a smaller condition (fewer nested macros)".into()),
            ));
        }
        None
    }

    fn expr(&mut self, e: &Expr, depth: usize) -> Option<Expr> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return self.too_complex(
                first_at(e),
                "more than 200000 nodes once macros are inlined",
            );
        }
        if depth > MAX_DEPTH {
            return self.too_complex(
                first_at(e),
                "nested more than 400 levels once macros are inlined",
            );
        }
        match e {
            Expr::And(items) | Expr::Or(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for i in items {
                    // Keep going after an error to report every problem.
                    match self.expr(i, depth + 1) {
                        Some(r) => out.push(r),
                        None => ok = false,
                    }
                    if self.nodes > MAX_NODES {
                        return None;
                    }
                }
                if !ok {
                    return None;
                }
                Some(if matches!(e, Expr::And(_)) {
                    Expr::And(out)
                } else {
                    Expr::Or(out)
                })
            }
            Expr::Not(inner) => Some(Expr::Not(Box::new(self.expr(inner, depth + 1)?))),
            Expr::Macro(name, at) => self.macro_(name, *at, depth),
            Expr::Check(c) => self.check(c),
        }
    }

    fn macro_(&mut self, name: &str, at: At, depth: usize) -> Option<Expr> {
        let Some(&idx) = self.defs.macro_idx.get(name) else {
            let (msg, expected) = if self.defs.list_idx.contains_key(name) {
                (
                    format!("`{name}` is a list, not a macro"),
                    format!("a check such as `proc.name in ({name})`"),
                )
            } else {
                (
                    format!("undefined macro `{name}`"),
                    "a macro defined in this or an earlier file, or a field check".to_string(),
                )
            };
            self.errors.push(
                self.ctx
                    .error_at(at, Kind::UndefinedMacro, msg, Some(expected)),
            );
            return None;
        };
        self.used_macros.insert(idx);
        if let Some(pos) = self.stack.iter().position(|&m| m == idx) {
            let mut path: Vec<&str> = self.stack[pos..]
                .iter()
                .map(|&m| self.defs.macros[m].name.value.as_str())
                .collect();
            path.push(name);
            self.errors.push(self.ctx.error_at(
                at,
                Kind::MacroCycle,
                format!("macro cycle: {}", path.join(" -> ")),
                Some("macros that do not refer back to themselves".into()),
            ));
            return None;
        }
        let ast = self.macro_asts.get(idx)?.as_ref()?;
        self.stack.push(idx);
        let r = self.expr(ast, depth + 1);
        self.stack.pop();
        r
    }

    fn check(&mut self, c: &Check) -> Option<Expr> {
        let value = match &c.value {
            Some(Operand::List {
                items: words,
                at,
                bare,
            }) => {
                if *bare && !words[0].quoted && !self.defs.list_idx.contains_key(&words[0].text) {
                    self.errors.push(self.ctx.error_at(
                        words[0].at,
                        Kind::UndefinedList,
                        format!("undefined list `{}`", words[0].text),
                        Some(format!(
                            "a list defined in this or an earlier file, or values in parentheses: `({})`",
                            words[0].text
                        )),
                    ));
                    return None;
                }
                let mut out = Vec::with_capacity(words.len());
                let mut stack = Vec::new();
                for w in words {
                    self.expand(w, &mut out, &mut stack)?;
                }
                Some(Operand::List {
                    items: out,
                    at: *at,
                    bare: false,
                })
            }
            other => other.clone(),
        };
        Some(Expr::Check(Check { value, ..c.clone() }))
    }

    /// Pushes `w`, or the items of the list it names (recursively).
    fn expand(&mut self, w: &Word, out: &mut Vec<Word>, stack: &mut Vec<usize>) -> Option<()> {
        let idx = if w.quoted {
            None
        } else {
            self.defs.list_idx.get(&w.text).copied()
        };
        let Some(idx) = idx else {
            if out.len() >= MAX_ITEMS {
                return self
                    .too_complex(w.at, "a list with more than 100000 values")
                    .map(|_| ());
            }
            out.push(w.clone());
            return Some(());
        };
        self.used_lists.insert(idx);
        if stack.contains(&idx) {
            self.errors.push(self.ctx.error_at(
                w.at,
                Kind::ListCycle,
                format!("list `{}` contains itself", w.text),
                Some("lists that do not refer back to themselves".into()),
            ));
            return None;
        }
        stack.push(idx);
        let list = &self.defs.lists[idx];
        for (item, &text) in list.items.iter().zip(&self.list_item_texts[idx]) {
            // Falco pastes items into the condition, so an item written with
            // quotes inside the YAML string ('"127.0.0.1"') is a quoted value.
            let (value, quoted) = unquote(&item.value);
            let word = Word {
                text: value.to_owned(),
                quoted,
                at: At { text, offset: 0 },
            };
            self.expand(&word, out, stack)?;
        }
        stack.pop();
        Some(())
    }
}

/// `"x"` or `'x'` → (`x`, true); anything else as it is.
fn unquote(item: &str) -> (&str, bool) {
    for q in ['"', '\''] {
        if let Some(inner) = item.strip_prefix(q).and_then(|r| r.strip_suffix(q))
            && item.len() >= 2
        {
            return (inner, true);
        }
    }
    (item, false)
}

fn first_at(e: &Expr) -> At {
    match e {
        Expr::And(items) | Expr::Or(items) => items.first().map(first_at).unwrap_or_default(),
        Expr::Not(e) => first_at(e),
        Expr::Macro(_, at) => *at,
        Expr::Check(c) => c.field_at,
    }
}
